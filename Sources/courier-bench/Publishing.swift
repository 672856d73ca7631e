import CourierAMQP
import CourierEngine
import CourierEvents
import CourierPostgres
import CourierPublisher
import Foundation
import Logging

// The publisher library's figures (issue 5):
//
// - `directPublish`: many tasks publishing through one `EventPublisher` (one connection, one
//   confirm channel, each task awaiting its own confirm), against librabbitmq's plain
//   streaming-confirm loop in the same run sending the very same messages.
// - `relayThroughput`: rows written with `Outbox.enqueue` first, then the time `OutboxRelay` takes
//   to publish them all (claim, publish with confirms, mark) from table to broker.

/// What `directPublish` measured.
struct DirectPublishFigures {
    /// raw: librabbitmq's loop sending the same messages (same body, the same properties with
    /// message-id, timestamp, app-id and the `x-schema-version` header, to `domain_events`,
    /// mandatory) with as many in flight as there are tasks; courier: the tasks through
    /// `EventPublisher`. Best round of each; the target is a ratio ≥ 0.90.
    var row: Row
    /// For reference: the raw loop as the `publish` scenario runs it — the same body but only
    /// content-type, delivery-mode and type, to the default exchange — at the same window. The
    /// difference to `row.raw` is what the broker spends on the properties a Semble event must carry.
    var rawMinimalProperties: Double
}

/// Direct publishing with confirms from `tasks` concurrent tasks through one `EventPublisher`,
/// against `RawLibrabbitmqBaseline.publishWithConfirms(_:exchange:routingKey:mandatory:messages:window:)`
/// with the same messages and `tasks` of them in flight — the same depth of pipeline the tasks
/// give the publisher, so the ratio is the cost of the library (encoding each event, a confirm
/// per caller, the hops between the callers' tasks and the connection's thread). Sides alternate.
func directPublish(_ configuration: AMQPConfiguration, count: Int, tasks: Int = 64, rounds: Int = 2) async throws -> DirectPublishFigures {
    let setup = try await AMQPConnection.connect(configuration)
    // courierd's topology with a classic app queue bound to the one event type published.
    let topology = Topology(
        .init(appName: "bench_pub_\(UUID().uuidString.prefix(8).lowercased())", queueType: .classic, eventTypes: ["CardAddedToLibraryEvent"]))
    try await topology.declare(on: setup)
    let channel = try await setup.openChannel()
    let appID = "courier-bench"
    let at = Date(timeIntervalSince1970: 1_795_861_730.123)
    let envelopes = (0..<count).map { i in
        EventEnvelope.outgoing(
            .cardAddedToLibrary(.init(cardId: "card-\(i)", curatorId: "did:plc:7iza6de2dwap2sbkpav7c6c6", addedAt: at)), occurredAt: at)
    }
    // What EventPublisher sends for each envelope (no trace context here).
    let encoder = EventEncoder()
    let messages = envelopes.map { envelope in
        (
            body: encoder.encode(envelope),
            properties: AMQPProperties(
                contentType: "application/json",
                headers: [EventSchema.versionHeader: .int32(Int32(envelope.schemaVersion))], deliveryMode: .persistent,
                messageID: envelope.id, timestamp: UInt64(envelope.occurredAt.timeIntervalSince1970), type: envelope.type.rawValue,
                appID: appID)
        )
    }
    var logger = Logger(label: "bench")
    logger.logLevel = .warning

    func courier() async throws -> (rate: Double, cpu: Double) {
        var publisherConfiguration = PublisherConfiguration(amqp: configuration, appID: appID)
        publisherConfiguration.amqp.connectionName = "courier-bench publisher"
        let publisher = EventPublisher(configuration: publisherConfiguration, logger: logger)
        try await publisher.connect()
        let cpu = processCPUMicroseconds()
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var index = task
                    while index < count {
                        try await publisher.publish(envelopes[index])
                        index += tasks
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - start
        let used = processCPUMicroseconds() - cpu
        await publisher.shutdown()
        return (rate(count, elapsed), used / Double(count))
    }

    func raw() async throws -> (rate: Double, cpu: Double) {
        let cpu = processCPUMicroseconds()
        let elapsed = try await RawLibrabbitmqBaseline.publishWithConfirms(
            configuration, exchange: Topology.exchangeName, routingKey: "CardAddedToLibraryEvent", mandatory: true,
            messages: messages, window: tasks)
        return (rate(count, elapsed), (processCPUMicroseconds() - cpu) / Double(count))
    }

    var best = (raw: 0.0, courier: 0.0, rawCPU: Double.infinity, courierCPU: Double.infinity)
    for round in 0..<rounds {
        for isRaw in (round % 2 == 0 ? [true, false] : [false, true]) {
            try await channel.purgeQueue(topology.appQueue)
            let result = try await isRaw ? raw() : courier()
            if isRaw {
                best.raw = max(best.raw, result.rate)
                best.rawCPU = min(best.rawCPU, result.cpu)
            } else {
                best.courier = max(best.courier, result.rate)
                best.courierCPU = min(best.courierCPU, result.cpu)
            }
            FileHandle.standardError.write(
                Data("  publisher round \(round + 1) \(isRaw ? "raw    " : "courier"): \(Int(result.rate)) msg/s\n".utf8))
        }
    }
    try await channel.purgeQueue(topology.appQueue)
    let minimal = try await RawLibrabbitmqBaseline.publishWithConfirms(
        configuration, queue: topology.appQueue, body: messages[0].body, count: count, window: tasks)
    try await channel.deleteQueue(topology.appQueue)
    await setup.close()
    return DirectPublishFigures(
        row: Row(
            scenario: "publish, \(tasks) tasks via EventPublisher", raw: best.raw, courier: best.courier, rawCPU: best.rawCPU,
            courierCPU: best.courierCPU),
        rawMinimalProperties: rate(count, minimal))
}

/// What `relayThroughput` measured.
struct RelayFigures {
    /// Events per second `Outbox.enqueue` wrote, 1,000 per transaction (not timed against a target).
    var enqueueRate: Double
    /// Events per second from table to broker: relay start to the last row marked published.
    var relayRate: Double
    /// This process's CPU per relayed event, in microseconds.
    var relayCPUMicroseconds: Double
    var batchSize: Int
    var concurrentBatches: Int
}

/// The relay from table to broker: `count` rows enqueued with `Outbox.enqueue` (1,000 per
/// transaction) into a fresh schema of `databaseURL` first, then one `OutboxRelay` with its
/// default settings started and timed until every row is marked published — each confirmed into
/// a durable classic queue bound to `domain_events` the way courierd binds its app queue. The
/// events are spread over 2,000 aggregates (several each), as the API would write them.
func relayThroughput(_ configuration: AMQPConfiguration, databaseURL: String, count: Int) async throws -> RelayFigures {
    var logger = Logger(label: "bench")
    logger.logLevel = .warning
    let setup = try await AMQPConnection.connect(configuration)
    let topology = Topology(
        .init(appName: "bench_relay_\(UUID().uuidString.prefix(8).lowercased())", queueType: .classic, eventTypes: EventType.allWireNames))
    try await topology.declare(on: setup)
    let channel = try await setup.openChannel()

    let schema = "bench_outbox_\(UUID().uuidString.prefix(8).lowercased())"
    let admin = try await PostgresConnection.connect(try PostgresConfiguration(url: databaseURL))
    try await admin.execute("CREATE SCHEMA \(schema)")
    let database = try PostgresConfiguration(
        url: databaseURL + (databaseURL.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)")
    let connection = try await PostgresConnection.connect(database)

    func cleanUp() async {
        await connection.close()
        _ = try? await admin.execute("DROP SCHEMA \(schema) CASCADE")
        await admin.close()
        _ = try? await channel.deleteQueue(topology.appQueue)
        await setup.close()
    }

    do {
        try await OutboxSchema.migrate(on: connection, logger: logger)
        let at = Date(timeIntervalSince1970: 1_795_861_730.123)
        let envelopes = (0..<count).map { i in
            EventEnvelope.outgoing(
                .cardAddedToLibrary(.init(cardId: "card-\(i % 2000)", curatorId: "did:plc:user\(i % 997)", addedAt: at)),
                occurredAt: at.addingTimeInterval(Double(i) / 1000))
        }
        let enqueueStart = ContinuousClock.now
        for start in stride(from: 0, to: count, by: 1000) {
            let chunk = Array(envelopes[start..<min(start + 1000, count)])
            try await connection.withTransaction { conn in try Outbox.enqueue(chunk, schema: schema, in: conn) }
        }
        let enqueueRate = rate(count, ContinuousClock.now - enqueueStart)

        var relayConfiguration = RelayConfiguration(
            database: database, publisher: PublisherConfiguration(amqp: configuration, appID: "courier-bench"))
        relayConfiguration.migrate = false
        let relay = OutboxRelay(configuration: relayConfiguration, logger: logger)
        let cpu = processCPUMicroseconds()
        let start = ContinuousClock.now
        let task = Task { try await relay.run() }
        while try await connection.query("SELECT count(*) FROM event_store WHERE NOT processed").first!.decode(Int.self, column: 0) > 0 {
            try await Task.sleep(for: .milliseconds(5))
        }
        let elapsed = ContinuousClock.now - start
        let used = processCPUMicroseconds() - cpu
        task.cancel()
        _ = await task.result

        let depth = try await channel.declareQueuePassive(topology.appQueue).messageCount
        guard depth == count else { throw BenchError("the relay left \(depth) messages in the queue, expected \(count)") }
        await cleanUp()
        return RelayFigures(
            enqueueRate: enqueueRate, relayRate: rate(count, elapsed), relayCPUMicroseconds: used / Double(count),
            batchSize: relayConfiguration.batchSize, concurrentBatches: relayConfiguration.concurrentBatches)
    } catch {
        await cleanUp()
        throw error
    }
}
