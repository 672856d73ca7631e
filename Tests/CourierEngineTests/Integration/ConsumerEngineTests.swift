import CourierAMQP
import CourierEngine
import CourierSupport
import CourierTesting
import Foundation
import Logging
import Synchronization
import Testing

/// A handler scripted per message id: how many times to fail, and how.
final class ScriptedHandler: DeliveryHandler, @unchecked Sendable {
    enum Script: Sendable { case succeed, failTransiently(times: Int), failPermanently, dependencyDownUntilReleased }

    let name = "scripted"
    private let lock = NSLock()
    private var scripts: [String: Script] = [:]
    private var seenAttempts: [String: [Int]] = [:]
    private var handledIDs: [String] = []
    private var dependencyDown = false
    private var checks = 0
    /// Time spent per batch, to make stops land mid-stream.
    var slowdown: Duration {
        get { lock.withLock { _slowdown } }
        set { lock.withLock { _slowdown = newValue } }
    }
    private var _slowdown: Duration = .zero

    func script(_ id: String, _ script: Script) { lock.withLock { scripts[id] = script } }
    func setDependencyDown(_ down: Bool) { lock.withLock { dependencyDown = down } }
    var handled: [String] { lock.withLock { handledIDs } }
    /// How often the engine asked whether the dependency is back (once per pause while paused).
    var dependencyChecks: Int { lock.withLock { checks } }
    func attempts(_ id: String) -> [Int] { lock.withLock { seenAttempts[id] ?? [] } }

    func handle(_ deliveries: [AMQPDelivery]) async -> [HandlingOutcome] {
        let pause = slowdown
        if pause > .zero { try? await Task.sleep(for: pause) }
        return lock.withLock {
            deliveries.map { delivery in
                let id = delivery.properties.messageID ?? "?"
                let attempt = FailureHeaders.failedAttempts(in: delivery.properties)
                seenAttempts[id, default: []].append(attempt)
                let failure = HandlingFailure(errorClass: "ScriptedFailure", message: "scripted failure for \(id)")
                switch scripts[id] ?? .succeed {
                case .succeed:
                    handledIDs.append(id)
                    return .handled
                case .failTransiently(let times):
                    if attempt < times { return .transientFailure(failure) }
                    handledIDs.append(id)
                    return .handled
                case .failPermanently:
                    return .permanentFailure(failure)
                case .dependencyDownUntilReleased:
                    if dependencyDown { return .dependencyUnavailable(dependency: "postgres") }
                    handledIDs.append(id)
                    return .handled
                }
            }
        }
    }

    func unavailableDependency() async -> String? {
        lock.withLock {
            checks += 1
            return dependencyDown ? "postgres" : nil
        }
    }
}

@Suite("ConsumerEngine against the real broker", .tags(.integration))
struct ConsumerEngineTests {
    struct Fixture {
        var consuming: AMQPConnection
        var publishing: AMQPConnection
        var topology: Topology
        var handler: ScriptedHandler
        var engine: Task<Void, any Error>
        var eventType: String

        func publish(_ id: String, body: [UInt8]? = nil) async throws {
            let channel = try await publishing.openChannel()
            try await channel.confirmSelect()
            let outcome = try await channel.publish(
                body ?? Array(#"{"eventType":"\#(eventType)","aggregateId":"\#(id)"}"#.utf8), exchange: Topology.exchangeName,
                routingKey: eventType,
                properties: AMQPProperties(contentType: "application/json", deliveryMode: .persistent, messageID: id, type: eventType))
            #expect(outcome == .acked)
            try await channel.close()
        }

        /// Waits for `count` dead-lettered messages. The default budget only turns a message that
        /// never comes into a failure (see `eventually`); a short one checks that none comes.
        func deadLettered(count: Int, timeout: Duration = .seconds(180)) async throws -> [AMQPDelivery] {
            let channel = try await publishing.openChannel()
            var found: [AMQPDelivery] = []
            let deadline = ContinuousClock.now + timeout
            while found.count < count, ContinuousClock.now < deadline {
                if let message = try await channel.get(queue: topology.deadLetterQueue, noAck: true) {
                    found.append(message)
                } else {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            try await channel.close()
            return found
        }

        func depth(_ queue: String) async throws -> UInt32 {
            let channel = try await publishing.openChannel()
            defer { Task { try? await channel.close() } }
            return try await channel.declareQueuePassive(queue).messageCount
        }

        /// Stops the engine and closes its consuming connection (which requeues anything unacked);
        /// the publishing connection stays for inspection until `close()`.
        func stopEngine() async {
            engine.cancel()
            _ = await engine.result
            await consuming.close()
        }

        func stop() async {
            await stopEngine()
            await publishing.close()
        }
    }

    static func start(delays: [Duration] = [.milliseconds(300), .milliseconds(300), .milliseconds(300)], maxBytes: Int = 256 * 1024) async throws -> Fixture {
        let url = try TestEnvironment.amqpURL()
        let consuming = try await AMQPConnection.connect(url: url)
        let publishing = try await AMQPConnection.connect(url: url)
        let eventType = TestEnvironment.uniqueName("TestEvent")
        let topology = Topology(
            .init(appName: TestEnvironment.uniqueName("engine"), retrySchedule: RetrySchedule(delays: delays), eventTypes: [eventType]))
        try await topology.declare(on: consuming)
        let handler = ScriptedHandler()
        var settings = ConsumerEngine.Settings()
        // Smaller than production's 1000 / 500, so that a stream spans many batches (a stop
        // mid-stream has work left for the restart).
        settings.prefetch = 200
        settings.batchSize = 100
        settings.maximumMessageBytes = maxBytes
        settings.pause = .milliseconds(200)
        settings.host = "test-host"
        let engine = ConsumerEngine(topology: topology, handler: handler, settings: settings, logger: Logger(label: "test"))
        let task = Task { try await engine.run(consuming: consuming, publishing: publishing) }
        return Fixture(consuming: consuming, publishing: publishing, topology: topology, handler: handler, engine: task, eventType: eventType)
    }

    @Test("success: every event is handled once and acked")
    func success() async throws {
        let f = try await Self.start()
        for i in 0..<50 { try await f.publish("ok-\(i)") }
        #expect(await eventually { f.handler.handled.count == 50 })
        #expect(Set(f.handler.handled).count == 50)
        await f.stopEngine()
        #expect(try await f.depth(f.topology.appQueue) == 0, "all acked: nothing came back on close")
        await f.stop()
    }

    @Test("a transient failure is retried after the delay with the attempt header growing, then succeeds")
    func transientThenSuccess() async throws {
        let f = try await Self.start()
        f.handler.script("flaky", .failTransiently(times: 2))
        try await f.publish("flaky")
        #expect(await eventually { f.handler.handled.contains("flaky") })
        #expect(f.handler.attempts("flaky") == [0, 1, 2])
        let dead = try await f.deadLettered(count: 1, timeout: .milliseconds(500))
        #expect(dead.isEmpty)
        await f.stop()
    }

    @Test("a permanent failure reaches the dead-letter queue within seconds, with every failure header")
    func permanent() async throws {
        let f = try await Self.start()
        f.handler.script("poison", .failPermanently)
        try await f.publish("poison")
        let dead = try await f.deadLettered(count: 1)
        let message = try #require(dead.first)
        let h = try #require(message.properties.headers)
        #expect(message.properties.messageID == "poison")
        #expect(message.properties.type == f.eventType)
        #expect(message.properties.contentType == "application/json")
        #expect(h[CourierHeader.reason]?.stringValue == "permanent-failure")
        #expect(h[CourierHeader.errorClass]?.stringValue == "ScriptedFailure")
        #expect(h[CourierHeader.errorMessage]?.stringValue == "scripted failure for poison")
        #expect(h[CourierHeader.errorFingerprint]?.stringValue?.count == 16)
        #expect(h[CourierHeader.attempts]?.intValue == 1)
        #expect(h[CourierHeader.handler]?.stringValue == "scripted")
        #expect(h[CourierHeader.originalExchange]?.stringValue == Topology.exchangeName)
        #expect(h[CourierHeader.originalRoutingKey]?.stringValue == f.eventType)
        #expect(h[CourierHeader.originalQueue]?.stringValue == f.topology.appQueue)
        #expect(h[CourierHeader.host]?.stringValue == "test-host")
        if case .timestamp(let at) = h[CourierHeader.failedAt] {
            #expect(abs(Double(at) - Date().timeIntervalSince1970) < 60)
        } else {
            Issue.record("no failed-at timestamp")
        }
        #expect(f.handler.attempts("poison") == [0], "never retried")
        await f.stop()
    }

    @Test("exhausted retries reach the dead-letter queue too")
    func exhausted() async throws {
        let f = try await Self.start(delays: [.milliseconds(200), .milliseconds(200)])
        f.handler.script("doomed", .failTransiently(times: 99))
        try await f.publish("doomed")
        let dead = try await f.deadLettered(count: 1)
        let message = try #require(dead.first)
        #expect(message.properties.headers?[CourierHeader.reason]?.stringValue == "retries-exhausted")
        #expect(message.properties.headers?[CourierHeader.attempts]?.intValue == 3)
        #expect(f.handler.attempts("doomed") == [0, 1, 2])
        await f.stop()
    }

    @Test("a message over the size limit is dead-lettered unparsed; the next one is handled")
    func tooLarge() async throws {
        let f = try await Self.start(maxBytes: 1024)
        try await f.publish("huge", body: [UInt8](repeating: UInt8(ascii: "x"), count: 4096))
        try await f.publish("small")
        let dead = try await f.deadLettered(count: 1)
        #expect(dead.first?.properties.headers?[CourierHeader.errorClass]?.stringValue == "MessageTooLarge")
        #expect(dead.first?.body.count == 4096)
        #expect(await eventually { f.handler.handled.contains("small") })
        #expect(f.handler.attempts("huge").isEmpty, "the handler never saw it")
        await f.stop()
    }

    @Test("stopping mid-stream settles the batch in hand: after a restart nothing is handled twice")
    func cleanStopMidStream() async throws {
        let f = try await Self.start()
        f.handler.slowdown = .milliseconds(100)
        let total = 1000
        let channel = try await f.publishing.openChannel()
        try await channel.confirmSelect()
        for i in 0..<total {
            channel.publish(
                Array("{}".utf8), exchange: Topology.exchangeName, routingKey: f.eventType,
                properties: AMQPProperties(deliveryMode: .persistent, messageID: "stream-\(i)")
            ) { _ in }
        }
        await channel.waitForConfirms()
        #expect(await eventually { f.handler.handled.count >= 50 })
        await f.stopEngine()  // mid-stream: like SIGTERM
        let handledBeforeStop = f.handler.handled.count
        #expect(handledBeforeStop < total, "stopped before the end, so the restart has work to do")

        // A new engine on a new connection picks up where the first stopped. What the stop put
        // back is redelivered in batches (returned once, it is no suspect: `isSuspect` starts at
        // half the delivery limit); drop the artificial slowness so the rest drains quickly.
        f.handler.slowdown = .zero
        let consuming = try await AMQPConnection.connect(url: try TestEnvironment.amqpURL())
        let engine = ConsumerEngine(topology: f.topology, handler: f.handler, logger: Logger(label: "test"))
        let task = Task { try await engine.run(consuming: consuming, publishing: f.publishing) }
        #expect(await eventually { Set(f.handler.handled).count == total })
        let handled = f.handler.handled
        #expect(handled.count == total, "\(handled.count - Set(handled).count) events were handled twice; \(handledBeforeStop) before the stop; twice: \(Dictionary(grouping: handled, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted().prefix(40))")
        task.cancel()
        _ = await task.result
        await consuming.close()
        await f.stop()
    }

    @Test("while a dependency is down nothing is dead-lettered; consuming resumes when it is back")
    func dependencyOutage() async throws {
        let f = try await Self.start(delays: [.milliseconds(100)])
        f.handler.setDependencyDown(true)
        for i in 0..<5 {
            f.handler.script("dep-\(i)", .dependencyDownUntilReleased)
            try await f.publish("dep-\(i)")
        }
        // Several pause periods of the paused engine (each ends with a check): longer than the
        // whole retry schedule. Counted, not slept, so a slow machine cannot cut them short.
        #expect(await eventually { f.handler.dependencyChecks >= 5 })
        #expect(f.handler.handled.isEmpty)
        #expect(try await f.deadLettered(count: 1, timeout: .milliseconds(200)).isEmpty)
        f.handler.setDependencyDown(false)
        #expect(await eventually { Set(f.handler.handled).count == 5 })
        #expect(try await f.deadLettered(count: 1, timeout: .milliseconds(300)).isEmpty)
        await f.stop()
    }

    @Test("connections killed by the broker mid-stream: the supervisor reconnects and nothing is lost")
    func brokerKillsConnections() async throws {
        let url = try TestEnvironment.amqpURL()
        let name = TestEnvironment.uniqueName("supervised")
        let separator = url.contains("?") ? "&" : "?"
        let eventType = TestEnvironment.uniqueName("SupervisedEvent")
        let topology = Topology(
            .init(appName: TestEnvironment.uniqueName("sup"), retrySchedule: RetrySchedule(delays: [.milliseconds(200)]), eventTypes: [eventType]))
        let handler = ScriptedHandler()
        handler.slowdown = .milliseconds(100)  // ~100 events/s: the kill lands mid-stream
        var settings = ConsumerEngine.Settings()
        settings.prefetch = 50
        settings.batchSize = 10
        let supervisor = EngineSupervisor(
            topology: topology, handler: handler, settings: settings,
            backoff: Backoff(initial: .milliseconds(100), maximum: .seconds(1)), logger: Logger(label: "test")
        ) {
            (try await AMQPConnection.connect(url: url + separator + "connection_name=\(name)"),
             try await AMQPConnection.connect(url: url + separator + "connection_name=\(name)-publish"))
        }
        let states = StateLog()
        let task = Task { await supervisor.run { states.append($0) } }
        #expect(await eventually { states.consumingCount >= 1 })

        let publisher = try await AMQPConnection.connect(url: url)
        let channel = try await publisher.openChannel()
        try await channel.confirmSelect()
        let total = 600  // ~6 s of work: rabbitmqctl is slow on a loaded machine, the kill must still land mid-stream
        for i in 0..<total {
            channel.publish(
                Array("{}".utf8), exchange: Topology.exchangeName, routingKey: eventType,
                properties: AMQPProperties(deliveryMode: .persistent, messageID: "sup-\(i)")) { _ in }
        }
        await channel.waitForConfirms()
        #expect(await eventually { handler.handled.count >= 30 })
        let closed = try TestBroker.closeConnections(named: name)
        #expect(closed == 1, "the consuming connection was found and closed by the broker")
        #expect(await eventually { Set(handler.handled).count == total })
        #expect(await eventually { states.consumingCount >= 2 }, "consuming again after the reconnect: \(states.all)")
        task.cancel()
        await task.value
        #expect(states.last == .stopped)
        await publisher.close()
    }
}

final class StateLog: @unchecked Sendable {
    private let lock = NSLock()
    private var states: [EngineSupervisor.State] = []
    func append(_ state: EngineSupervisor.State) { lock.withLock { states.append(state) } }
    var consumingCount: Int { lock.withLock { states.filter { $0 == .consuming }.count } }
    var last: EngineSupervisor.State? { lock.withLock { states.last } }
    var all: [EngineSupervisor.State] { lock.withLock { states } }
}

@Suite("Supervisor: the broker cancels the consumer", .tags(.integration))
struct SupervisorCancelTests {
    @Test("deleting the app queue cancels the consumer; the supervisor re-declares and consumes again")
    func consumerCancelledByBroker() async throws {
        let url = try TestEnvironment.amqpURL()
        let eventType = TestEnvironment.uniqueName("CancelEvent")
        let topology = Topology(.init(appName: TestEnvironment.uniqueName("cancel"), eventTypes: [eventType]))
        let handler = ScriptedHandler()
        let supervisor = EngineSupervisor(
            topology: topology, handler: handler, settings: ConsumerEngine.Settings(),
            backoff: Backoff(initial: .milliseconds(100), maximum: .seconds(1)), logger: Logger(label: "test")
        ) {
            (try await AMQPConnection.connect(url: url), try await AMQPConnection.connect(url: url))
        }
        let states = StateLog()
        let task = Task { await supervisor.run { states.append($0) } }
        #expect(await eventually { states.consumingCount >= 1 })

        let admin = try await AMQPConnection.connect(url: url)
        let channel = try await admin.openChannel()
        try await channel.deleteQueue(topology.appQueue)
        #expect(await eventually { states.consumingCount >= 2 }, "re-subscribed: \(states.all)")

        try await channel.confirmSelect()
        let outcome = try await channel.publish(
            Array("{}".utf8), exchange: Topology.exchangeName, routingKey: eventType,
            properties: AMQPProperties(deliveryMode: .persistent, messageID: "after-cancel"))
        #expect(outcome == .acked)
        #expect(await eventually { handler.handled.contains("after-cancel") })
        task.cancel()
        await task.value
        await admin.close()
    }
}
