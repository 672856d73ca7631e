// courier-bench: Courier's performance figures, measured against plain librabbitmq in the same run.
//
//   courier-bench [--messages N] [--rounds R] [--scenario NAME]...   (--help for every option)
//
// Broker: $COURIER_TEST_AMQP_URL (what `make bench` provides: a vhost of its own), else $AMQP_URL;
// database (end-to-end scenario): $COURIER_TEST_DATABASE_URL, else $DATABASE_URL.
// Each scenario runs R rounds, alternating which side goes first, on a fresh durable classic
// queue, with persistent ~300-byte JSON messages; the table shows the best round of each side.
// The end-to-end scenario too: R rounds of the no-op drain and of Semble's handlers (each on a
// fresh quorum queue and a fresh schema), every round's figure printed.
// Build with `-c release` (`make bench` does).

import ArgumentParser
import CourierAMQP
import CourierEngine
import Foundation
import Logging
import Synchronization

/// What a run measures, from the command line (``Arguments``).
struct Options {
    var messages = 50_000
    /// Rounds per scenario (the best of each side is shown): on a shared 2-core machine one round
    /// can run 15% slower than the next, for the raw loops as much as for Courier.
    var rounds = 3
    /// Messages in the backlog the memory scenario drains (0 skips it).
    var backlog = 1_000_000
    var scenarios: Set<String> = []
    /// Run only one side (for profiling one of them): "raw" or "courier".
    var side: String?
    /// Mixed Semble events in the end-to-end scenario, and the engine's batch size there.
    var events = 100_000
    var batch = 500
    /// Users each seeded user follows in the end-to-end scenario's state.
    var follows = 20
    /// Competing consumers (engines, each with its handlers' connections) in the end-to-end scenario; one run per value.
    var consumers = [1]
}

/// The command line, parsed by swift-argument-parser (only parsed: `run()` below does the work):
/// `--help` lists it, a bad value is named.
struct Arguments: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "courier-bench",
        abstract: "Courier's performance figures, measured against plain librabbitmq in the same run.",
        discussion: """
            Scenarios: publish, consume-100, consume-1000, engine, consume-100-thread, consume-1000-thread \
            (Courier against the raw loop); backlog, e2e, publisher, relay, reconnect. Without --scenario: \
            publish, consume-100, consume-1000, engine, and backlog, e2e, publisher, relay, reconnect. \
            Broker: $COURIER_TEST_AMQP_URL, else $AMQP_URL; database (e2e): $COURIER_TEST_DATABASE_URL, \
            else $DATABASE_URL.
            """)

    @Option(help: "Messages per round.")
    var messages = Options().messages

    @Option(help: "Rounds per scenario (the best of each side is shown).")
    var rounds = Options().rounds

    @Option(name: .customLong("scenario"), help: "A scenario to run (repeatable; default: all but the -thread ones).")
    var scenarioNames: [String] = []

    @Option(help: "Run only one side, for profiling: raw or courier.")
    var side: String?

    @Option(help: "Messages in the backlog the memory scenario drains (0 skips it).")
    var backlog = Options().backlog

    @Option(help: "Mixed Semble events in the end-to-end scenario.")
    var events = Options().events

    @Option(help: "The engine's batch size in the end-to-end scenario.")
    var batch = Options().batch

    @Option(help: "Users each seeded user follows in the end-to-end scenario (1 to 32).")
    var follows = Options().follows

    @Option(name: .customLong("consumers"), help: "Competing consumers in the end-to-end scenario, one run per value, like 1,2,3 (1 to 8 each).")
    var consumerCounts = "1"

    func validate() throws {
        guard messages > 0 else { throw ValidationError("--messages takes a positive number") }
        guard rounds > 0 else { throw ValidationError("--rounds takes a positive number") }
        guard backlog >= 0 else { throw ValidationError("--backlog takes a number ≥ 0") }
        guard events > 0 else { throw ValidationError("--events takes a positive number") }
        guard batch > 0 else { throw ValidationError("--batch takes a positive number") }
        guard (1...32).contains(follows) else { throw ValidationError("--follows takes 1 to 32") }
        guard consumers != nil else { throw ValidationError("--consumers takes a list of counts from 1 to 8, like 1,2,3") }
        if let side, side != "raw", side != "courier" { throw ValidationError("--side takes raw or courier") }
    }

    /// `1,2,3` as counts, each 1 to 8; nil when it is not such a list.
    var consumers: [Int]? {
        let values = consumerCounts.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 8 }) else { return nil }
        return values.compactMap { $0 }
    }

    var options: Options {
        Options(
            messages: messages, rounds: rounds, backlog: backlog, scenarios: Set(scenarioNames), side: side, events: events,
            batch: batch, follows: follows, consumers: consumers ?? [1])
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// ~300 bytes of JSON, shaped like a Semble event.
let sampleBody: [UInt8] = Array(
    """
    {"eventType":"CardAddedToLibraryEvent","aggregateId":"3f1c2a9e-8b7d-4c6e-9a21-5d4f0b7e6c13","dateTimeOccurred":"2026-11-28T10:15:30.123Z","cardId":"3f1c2a9e-8b7d-4c6e-9a21-5d4f0b7e6c13","curatorId":"did:plc:7iza6de2dwap2sbkpav7c6c6","addedAt":"2026-11-28T10:15:30.123Z","schemaVersion":1}
    """.utf8)

struct Row {
    var scenario: String
    var raw: Double
    var courier: Double
    /// Client CPU time (user + system, all threads) per message, in microseconds, best round.
    var rawCPU: Double
    var courierCPU: Double
    var ratio: Double { courier / raw }
}

/// CPU time this process has used so far (all threads), in microseconds.
func processCPUMicroseconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func micros(_ t: timeval) -> Double { Double(t.tv_sec) * 1e6 + Double(t.tv_usec) }
    return micros(usage.ru_utime) + micros(usage.ru_stime)
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func rate(_ count: Int, _ duration: Duration) -> Double {
    Double(count) / seconds(duration)
}

/// Our publisher: streaming confirms with a bounded window, through ``AMQPChannel``.
func courierPublish(_ connection: AMQPConnection, queue: String, count: Int, window: Int) async throws -> Duration {
    let channel = try await connection.openChannel()
    try await channel.confirmSelect()
    let properties = AMQPProperties(contentType: "application/json", deliveryMode: .persistent, type: "CardAddedToLibraryEvent")
    let failures = FailureCounter()
    let start = ContinuousClock.now
    for _ in 0..<count {
        await channel.waitForConfirmWindow(below: window)
        channel.publish(sampleBody, exchange: "", routingKey: queue, properties: properties) { result in
            if case .success(.acked) = result { return }
            failures.record()
        }
    }
    await channel.waitForConfirms()
    let elapsed = ContinuousClock.now - start
    try await channel.close()
    if failures.count > 0 { throw BenchError("\(failures.count) publishes were not acked") }
    return elapsed
}

/// Our consumer: manual acks through ``AMQPConsumer``.
func courierConsume(_ connection: AMQPConnection, queue: String, count: Int, prefetch: UInt16, ackEvery: Int) async throws -> Duration {
    let channel = try await connection.openChannel()
    try await channel.qos(prefetchCount: prefetch)
    let consumer = try await channel.consume(queue: queue)
    var iterator = consumer.makeAsyncIterator()
    let start = ContinuousClock.now
    var received = 0
    var lastTag: UInt64 = 0
    while received < count {
        guard let delivery = try await iterator.next() else { throw BenchError("consumer ended early") }
        received += 1
        lastTag = delivery.deliveryTag
        if ackEvery == 1 {
            channel.ack(lastTag)
        } else if received % ackEvery == 0 {
            channel.ack(lastTag, multiple: true)
        }
    }
    if ackEvery > 1, count % ackEvery != 0 { channel.ack(lastTag, multiple: true) }
    let elapsed = ContinuousClock.now - start
    try await consumer.cancel()
    try await channel.close()
    return elapsed
}

/// A handler that does nothing: the engine's own cost, end to end.
struct NoopHandler: DeliveryHandler {
    let name = "noop"
    let handled: Counter
    func handle(_ deliveries: [AMQPDelivery]) async -> [HandlingOutcome] {
        handled.add(deliveries.count)
        return Array(repeating: .handled, count: deliveries.count)
    }
}

final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    private let target: Int
    private let reached = Mutex<CheckedContinuation<Void, Never>?>(nil)
    init(target: Int) { self.target = target }
    func add(_ n: Int) {
        if value.add(n, ordering: .relaxed).newValue >= target {
            reached.withLock { $0.take() }?.resume()
        }
    }
    func wait() async {
        await withCheckedContinuation { continuation in
            let done = reached.withLock { slot -> Bool in
                if value.load(ordering: .relaxed) >= target { return true }
                slot = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }
}

/// The whole consuming engine with a no-op handler: `count` events already in the app queue.
func engineConsume(_ configuration: AMQPConfiguration, topology: Topology, count: Int) async throws -> Duration {
    let counter = Counter(target: count)
    var settings = ConsumerEngine.Settings()
    settings.prefetch = 1000
    settings.batchSize = 100
    return try await engineDrain(configuration, topology: topology, handler: NoopHandler(handled: counter), until: counter, settings: settings)
}

/// Runs the engine with `handler` until `counter` reaches its target; the time that took.
func engineDrain(
    _ configuration: AMQPConfiguration, topology: Topology, handler: any DeliveryHandler, until counter: Counter, settings: ConsumerEngine.Settings
) async throws -> Duration {
    try await engineDrain(configuration, topology: topology, handlers: [handler], until: counter, settings: settings)
}

/// Runs one engine per handler — competing consumers of one queue, each on connections of its
/// own — until `counter` reaches its target; the time that took.
func engineDrain(
    _ configuration: AMQPConfiguration, topology: Topology, handlers: [any DeliveryHandler], until counter: Counter,
    settings: ConsumerEngine.Settings
) async throws -> Duration {
    var logger = Logger(label: "bench")
    logger.logLevel = .warning
    var connections: [(consuming: AMQPConnection, publishing: AMQPConnection)] = []
    for _ in handlers {
        connections.append((try await AMQPConnection.connect(configuration), try await AMQPConnection.connect(configuration)))
    }
    let engines = handlers.map { ConsumerEngine(topology: topology, handler: $0, settings: settings, logger: logger) }
    let start = ContinuousClock.now
    let tasks = zip(engines, connections).map { engine, connection in
        Task { try await engine.run(consuming: connection.consuming, publishing: connection.publishing) }
    }
    await counter.wait()
    let elapsed = ContinuousClock.now - start
    for task in tasks {
        task.cancel()
        _ = await task.result
    }
    for connection in connections {
        await connection.consuming.close()
        await connection.publishing.close()
    }
    return elapsed
}

/// Resident memory of this process in MB (`VmRSS` in /proc/self/status).
func residentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    else { return 0 }
    return kb / 1024
}

/// Fills a queue with `count` messages, then drains it through the engine with a no-op handler,
/// sampling RSS every 100 ms while it drains. Returns (drain rate, RSS samples).
func backlogDrain(_ configuration: AMQPConfiguration, connection: AMQPConnection, count: Int) async throws -> (rate: Double, rss: [Double]) {
    try await withFreshQueue(connection) { topology in
        let filler = try await AMQPConnection.connect(configuration)
        _ = try await courierPublish(filler, queue: topology.appQueue, count: count, window: 2000)
        await filler.close()
        let samples = Mutex<[Double]>([residentMegabytes()])
        let sampler = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                let rss = residentMegabytes()
                samples.withLock { $0.append(rss) }
            }
        }
        let elapsed = try await engineConsume(configuration, topology: topology, count: count)
        sampler.cancel()
        _ = await sampler.value
        return (rate(count, elapsed), samples.withLock { $0 })
    }
}

final class FailureCounter: Sendable {
    private let value = Atomic<Int>(0)
    func record() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// A fresh app queue (durable, classic) declared through Courier's topology, so the engine can
/// consume it; the raw loops use the same queue. Its retry and dead-letter queues stay empty and
/// go with the benchmark's vhost.
func withFreshQueue<T>(_ connection: AMQPConnection, _ body: (Topology) async throws -> T) async throws -> T {
    let topology = Topology(.init(appName: "bench_\(UUID().uuidString.prefix(8).lowercased())", queueType: .classic))
    try await topology.declare(on: connection)
    let channel = try await connection.openChannel()
    do {
        let result = try await body(topology)
        try await channel.deleteQueue(topology.appQueue)
        try await channel.close()
        return result
    } catch {
        _ = try? await channel.deleteQueue(topology.appQueue)
        throw error
    }
}

func run() async throws {
    let options = Arguments.parseOrExit().options
    let environment = ProcessInfo.processInfo.environment
    guard let url = environment["COURIER_TEST_AMQP_URL"] ?? environment["AMQP_URL"] else {
        throw BenchError("set COURIER_TEST_AMQP_URL or AMQP_URL (make bench does)")
    }
    let configuration = try AMQPConfiguration(url: url)
    let connection = try await AMQPConnection.connect(configuration)
    let n = options.messages
    let window = 1000
    print("courier-bench: \(n) persistent \(sampleBody.count)-byte messages per round, \(options.rounds) rounds, broker \(configuration.redactedURL)")
    // The memory scenario first, while the heap holds nothing the other scenarios left behind
    // (malloc keeps what they freed; after them RSS starts 25–40 MB higher, whatever the engine does).
    var backlogFigures: (rate: Double, rss: [Double])?
    if options.backlog > 0, options.scenarios.isEmpty || options.scenarios.contains("backlog") {
        FileHandle.standardError.write(Data("  backlog: filling \(options.backlog) messages, then draining through the engine\n".utf8))
        backlogFigures = try await backlogDrain(configuration, connection: connection, count: options.backlog)
    }

    typealias Side = (Topology) async throws -> Duration
    let scenarios: [(key: String, name: String, fill: Bool, raw: Side, courier: Side)] = [
        (
            "publish", "publish, streaming confirms (window \(window))", false,
            { try await RawLibrabbitmqBaseline.publishWithConfirms(configuration, queue: $0.appQueue, body: sampleBody, count: n, window: window) },
            { try await courierPublish(connection, queue: $0.appQueue, count: n, window: window) }
        ),
        (
            "consume-100", "consume, prefetch 100, ack each", true,
            { try await RawLibrabbitmqBaseline.consume(configuration, queue: $0.appQueue, count: n, prefetch: 100, ackEvery: 1) },
            { try await courierConsume(connection, queue: $0.appQueue, count: n, prefetch: 100, ackEvery: 1) }
        ),
        (
            "consume-1000", "consume, prefetch 1000, multiple ack per 100", true,
            { try await RawLibrabbitmqBaseline.consume(configuration, queue: $0.appQueue, count: n, prefetch: 1000, ackEvery: 100) },
            { try await courierConsume(connection, queue: $0.appQueue, count: n, prefetch: 1000, ackEvery: 100) }
        ),
        (
            "engine", "engine, no-op handler (prefetch 1000, batch 100)", true,
            { try await RawLibrabbitmqBaseline.consume(configuration, queue: $0.appQueue, count: n, prefetch: 1000, ackEvery: 100) },
            { try await engineConsume(configuration, topology: $0, count: n) }
        ),
        // The same two with Courier's loop on the connection's own thread (task executor preference).
        (
            "consume-100-thread", "consume, prefetch 100, ack each — on conn. thread", true,
            { try await RawLibrabbitmqBaseline.consume(configuration, queue: $0.appQueue, count: n, prefetch: 100, ackEvery: 1) },
            { topology in
                try await withTaskExecutorPreference(connection.taskExecutor) {
                    try await courierConsume(connection, queue: topology.appQueue, count: n, prefetch: 100, ackEvery: 1)
                }
            }
        ),
        (
            "consume-1000-thread", "consume, prefetch 1000, ack/100 — on conn. thread", true,
            { try await RawLibrabbitmqBaseline.consume(configuration, queue: $0.appQueue, count: n, prefetch: 1000, ackEvery: 100) },
            { topology in
                try await withTaskExecutorPreference(connection.taskExecutor) {
                    try await courierConsume(connection, queue: topology.appQueue, count: n, prefetch: 1000, ackEvery: 100)
                }
            }
        ),
    ]

    var rows: [Row] = []
    // By default the three scenarios the targets are set for; the `-thread` variants on request.
    let selected = options.scenarios.isEmpty ? ["publish", "consume-100", "consume-1000", "engine"] : options.scenarios
    for scenario in scenarios where selected.contains(scenario.key) {
        var best = (raw: 0.0, courier: 0.0)
        var cpu = (raw: Double.infinity, courier: Double.infinity)
        for round in 0..<options.rounds {
            let order = round % 2 == 0 ? [true, false] : [false, true]
            for isRaw in order where options.side == nil || options.side == (isRaw ? "raw" : "courier") {
                let (elapsed, cpuMicros) = try await withFreshQueue(connection) { topology in
                    if scenario.fill { _ = try await courierPublish(connection, queue: topology.appQueue, count: n, window: window) }
                    if options.side != nil {  // profiling one side: say when the measured part starts
                        FileHandle.standardError.write(Data("  \(scenario.key) round \(round + 1): measuring\n".utf8))
                    }
                    let cpuBefore = processCPUMicroseconds()
                    let elapsed = try await (isRaw ? scenario.raw : scenario.courier)(topology)
                    return (elapsed, processCPUMicroseconds() - cpuBefore)
                }
                let r = rate(n, elapsed)
                let perMessage = cpuMicros / Double(n)
                if isRaw {
                    best.raw = max(best.raw, r)
                    cpu.raw = min(cpu.raw, perMessage)
                } else {
                    best.courier = max(best.courier, r)
                    cpu.courier = min(cpu.courier, perMessage)
                }
                FileHandle.standardError.write(
                    Data("  \(scenario.key) round \(round + 1) \(isRaw ? "raw    " : "courier"): \(Int(r)) msg/s\n".utf8))
            }
        }
        rows.append(Row(scenario: scenario.name, raw: best.raw, courier: best.courier, rawCPU: cpu.raw, courierCPU: cpu.courier))
    }
    // The publisher library: direct publishing through EventPublisher, and the outbox relay.
    var publisherFigures: DirectPublishFigures?
    if options.scenarios.isEmpty || options.scenarios.contains("publisher") {
        FileHandle.standardError.write(Data("  publisher: \(n) events from 64 tasks through one EventPublisher\n".utf8))
        let figures = try await directPublish(configuration, count: n, tasks: 64, rounds: options.rounds)
        rows.append(figures.row)
        publisherFigures = figures
    }
    var relayFigures: RelayFigures?
    if options.scenarios.isEmpty || options.scenarios.contains("relay") {
        guard let databaseURL = environment["COURIER_TEST_DATABASE_URL"] ?? environment["DATABASE_URL"] else {
            throw BenchError("the relay scenario needs COURIER_TEST_DATABASE_URL or DATABASE_URL (make bench sets it)")
        }
        FileHandle.standardError.write(Data("  relay: \(n) outbox rows, then the relay from table to broker\n".utf8))
        relayFigures = try await relayThroughput(configuration, databaseURL: databaseURL, count: n)
    }
    var endToEndFigures: [(consumers: Int, figures: EndToEndFigures)] = []
    var endToEndSettings = ConsumerEngine.Settings()
    endToEndSettings.batchSize = options.batch
    endToEndSettings.prefetch = UInt16(clamping: max(1000, 2 * options.batch))
    if options.scenarios.isEmpty || options.scenarios.contains("e2e") {
        guard let databaseURL = environment["COURIER_TEST_DATABASE_URL"] ?? environment["DATABASE_URL"] else {
            throw BenchError("the e2e scenario needs COURIER_TEST_DATABASE_URL or DATABASE_URL (make bench sets it)")
        }
        FileHandle.standardError.write(
            Data("  e2e: \(options.events) mixed events, \(options.rounds) rounds of a no-op drain and of Semble's handlers\n".utf8))
        for consumers in options.consumers {
            if options.consumers != [1] { FileHandle.standardError.write(Data("  e2e with \(consumers) competing consumer(s)\n".utf8)) }
            endToEndFigures.append((
                consumers,
                try await endToEnd(
                    configuration, databaseURL: databaseURL, count: options.events, rounds: options.rounds, settings: endToEndSettings,
                    follows: options.follows, consumers: consumers)
            ))
        }
    }
    await connection.close()
    // Last: it stops and starts the broker.
    var reconnectFigures: [(invoked: Duration, returned: Duration)] = []
    if options.scenarios.isEmpty || options.scenarios.contains("reconnect") {
        FileHandle.standardError.write(Data("  reconnect: \(options.rounds) broker outages of 8 s under a consuming engine\n".utf8))
        reconnectFigures = try await reconnectAfterOutage(configuration, outage: .seconds(8), rounds: options.rounds)
    }

    func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
        let padding = String(repeating: " ", count: max(0, width - s.count))
        return right ? padding + s : s + padding
    }
    func number(_ x: Double) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.maximumFractionDigits = 0
        return formatter.string(from: NSNumber(value: x)) ?? "\(Int(x))"
    }
    print()
    print(
        pad("scenario", 50) + pad("raw C msg/s", 14, right: true) + pad("courier msg/s", 16, right: true)
            + pad("ratio", 8, right: true) + "  target     " + pad("CPU µs/msg raw", 16, right: true)
            + pad("courier", 9, right: true))
    for row in rows {
        print(
            pad(row.scenario, 50) + pad(number(row.raw), 14, right: true) + pad(number(row.courier), 16, right: true)
                + pad(String(format: "%.2f", row.ratio), 8, right: true) + "  ≥ 0.90 " + (row.ratio >= 0.9 ? "ok    " : "MISSED")
                + pad(String(format: "%.1f", row.rawCPU), 16, right: true) + pad(String(format: "%.1f", row.courierCPU), 9, right: true))
    }
    print("(best of \(options.rounds) rounds each; CPU is the benchmark process's user + system time per message)")
    if let publisherFigures {
        print(
            "(publish via EventPublisher: both sides send the same events — message-id, timestamp, app-id, x-schema-version — "
                + "to domain_events, mandatory, 64 in flight; the raw loop with content-type, delivery-mode and type only makes "
                + "\(number(publisherFigures.rawMinimalProperties)) msg/s at that window)")
    }
    if let relay = relayFigures {
        print()
        print(
            "outbox relay: \(number(Double(n))) rows from event_store to the broker at \(number(relay.relayRate)) events/s "
                + "(batches of \(relay.batchSize), \(relay.concurrentBatches) at once, \(String(format: "%.1f", relay.relayCPUMicroseconds)) µs CPU/event); "
                + "target ≥ 5,000 events/s: " + (relay.relayRate >= 5_000 ? "ok" : "MISSED")
                + "; enqueued beforehand at \(number(relay.enqueueRate)) events/s (1,000 per transaction)")
    }
    if let backlogFigures {
        let rss = backlogFigures.rss
        let drainSamples = rss.dropFirst()
        let low = drainSamples.min() ?? 0
        let high = drainSamples.max() ?? 0
        print()
        print(
            "backlog of \(number(Double(options.backlog))) drained through the engine at \(number(backlogFigures.rate)) msg/s; "
                + "RSS before \(String(format: "%.1f", rss.first ?? 0)) MB, while draining \(String(format: "%.1f", low))–\(String(format: "%.1f", high)) MB "
                + "(\(drainSamples.count) samples), target flat and < 64 MB: " + (high < 64 && high - low < 16 ? "ok" : "MISSED"))
    }
    for (consumers, e2e) in endToEndFigures {
        print()
        print(
            "end to end: \(number(Double(options.events))) mixed events published to domain_events, consumed with Semble's handlers, "
                + "committed in Postgres (quorum queue, prefetch \(endToEndSettings.prefetch), batch \(endToEndSettings.batchSize); "
                + "Semble's tables with Semble's indexes and realistic state, \(options.follows) follows per user, bundles flushed inside the rate"
                + (consumers == 1 ? "" : "; \(consumers) competing consumers, each with its own connections") + "):")
        let handlers = e2e.handlers.max() ?? 0
        let noop = e2e.noop.max() ?? 0
        print(
            "  \(number(handlers)) events/s; no-op handler on the same events \(number(noop)) events/s; ratio "
                + String(format: "%.2f", handlers / noop) + "; target ≥ 10,000 events/s: " + (handlers >= 10_000 ? "ok" : "MISSED"))
        print(
            "  (best of \(e2e.handlers.count) rounds; every round with the handlers: "
                + e2e.handlers.map { number($0) }.joined(separator: ", ") + " events/s; no-op: "
                + e2e.noop.map { number($0) }.joined(separator: ", ") + ")")
        print("  not handled: \(e2e.failures); rows: " + e2e.rows.map { "\($0.0) \(number(Double($0.1)))" }.joined(separator: ", "))
    }
    if !reconnectFigures.isEmpty {
        let afterAccepting = reconnectFigures.map { seconds($0.returned) }
        print()
        print(
            "broker restart → consuming: after an 8 s outage, consuming again "
                + afterAccepting.map { String(format: "%.2f s", $0) }.joined(separator: ", ")
                + " after the broker accepted connections (start_app returned); "
                + reconnectFigures.map { String(format: "%.2f s", seconds($0.invoked)) }.joined(separator: ", ")
                + " after start_app was run (the broker's own start included); target ≤ 2 s: " + ((afterAccepting.max() ?? 0) <= 2 ? "ok" : "MISSED"))
    }
}

do {
    try await run()
} catch {
    FileHandle.standardError.write(Data("courier-bench: \(error)\n".utf8))
    exit(1)
}
