import CourierAMQP
import CourierEngine
import CourierFailureIndex
import CourierPostgres
import CourierTesting
import Foundation

@testable import courier

/// An app of its own on the test vhost (its queues, its dead-letter queue) and the failure
/// index in the test database: messages are parked exactly as courierd parks them.
struct OpsFixture {
    let amqp: AMQPConnection
    let postgres: PostgresConnection
    let topology: Topology

    /// Bound to `bindingKeys` only — by default a key of its own, so events other tests publish
    /// to `domain_events` never land in its queue.
    static func make(app: String = TestEnvironment.uniqueName("ops"), bindingKeys: [String]? = nil) async throws -> OpsFixture {
        let amqp = try await AMQPConnection.connect(url: try TestEnvironment.amqpURL())
        // Classic queues: a test declares several apps at once, and dozens of quorum queues born
        // together load the broker's log enough to slow the other suites' retry timings.
        let topology = Topology(.init(appName: app, queueType: .classic, eventTypes: bindingKeys ?? ["test.\(app)"]))
        try await topology.declare(on: amqp)
        let postgres = try await PostgresConnection.connect(try courierdView(try TestEnvironment.databaseURL()))
        try await postgres.createSchemaIfNeeded("courier")
        try await FailureIndexSchema.migrate(on: postgres, schema: "courier", logger: .init(label: "test"))
        return OpsFixture(amqp: amqp, postgres: postgres, topology: topology)
    }

    /// `url` with courierd's and `courier`'s `search_path` (their default schema `courier`, then
    /// Semble's `public`).
    static func courierdView(_ url: String) throws -> PostgresConfiguration {
        var configuration = try PostgresConfiguration(url: url)
        configuration.searchPath = ["courier", "public"]
        return configuration
    }

    var queue: DeadLetterQueue { DeadLetterQueue(connection: amqp, topology: topology) }
    var index: FailureIndex { FailureIndex(deadLetterQueue: topology.deadLetterQueue) }

    func close() async {
        await amqp.close()
        await postgres.close()
    }

    /// Parks `count` messages as the engine does (dead-letter exchange, failure headers,
    /// confirmed) and records them in the index. Message ids `<prefix>-<n>`.
    @discardableResult
    func park(
        _ count: Int, prefix: String, type: String = "CardAddedToLibraryEvent", errorClass: String = "InvalidField",
        body: (Int) -> [UInt8] = { Array(#"{"n":\#($0)}"#.utf8) }
    ) async throws -> [ParkedMessage] {
        let channel = try await amqp.openChannel()
        try await channel.confirmSelect()
        var parked: [ParkedMessage] = []
        for n in 0..<count {
            let failureID = UUID().uuidString.lowercased()
            let failure = HandlingFailure(errorClass: errorClass, message: "\(errorClass) in message \(n)", handler: "feeds")
            let properties = FailureHeaders.deadLetter(
                AMQPProperties(contentType: "application/json", deliveryMode: .persistent, messageID: "\(prefix)-\(n)", type: type),
                reason: .permanentFailure, failure: failure, attempts: 1,
                origin: MessageOrigin(exchange: "domain_events", routingKey: type, queue: topology.appQueue), failedAt: Date(),
                host: "test", failureID: failureID)
            let outcome = try await channel.publish(
                body(n), exchange: Topology.deadLetterExchangeName, routingKey: topology.appQueue, properties: properties, mandatory: true)
            guard outcome == .acked else { throw OpsError(.incomplete, "park: \(outcome)") }
            parked.append(
                ParkedMessage(properties: properties, body: body(n), deadLetterQueue: topology.deadLetterQueue, fallbackRoutingKey: topology.appQueue))
        }
        try await channel.close()
        let index = self.index
        let records = parked
        try await postgres.withTransaction { try index.record(records, on: $0) }
        return parked
    }

    func depth(_ queue: String) async throws -> Int {
        let channel = try await amqp.openChannel()
        let info = try await channel.declareQueuePassive(queue)
        try await channel.close()
        return Int(info.messageCount)
    }

    /// Takes every message out of `queue` (acked: gone).
    func drain(_ queue: String) async throws -> [AMQPDelivery] {
        let channel = try await amqp.openChannel()
        var taken: [AMQPDelivery] = []
        while let delivery = try await channel.get(queue: queue, noAck: true) { taken.append(delivery) }
        try await channel.close()
        return taken
    }
}
