import CourierAMQP
import CourierEvents
import CourierPostgres
import CourierTesting
import Foundation
import Logging
import Synchronization
import Testing

@testable import CourierPublisher

/// A topic exchange and a durable queue of one test's own, in this run's vhost.
///
/// The vhost is shared by every suite running at the same time, and courierd-style tests bind
/// queues to `domain_events` for the real event type names: a test that published Semble events
/// there would land copies in their queues (and theirs in its own). So tests that count messages
/// publish to an exchange of their own (`PublisherConfiguration.exchange`, internal), with the
/// queue bound to `#`. Only the alternate-exchange test uses `domain_events` itself.
struct TestExchange: Sendable {
    let exchange: String
    let queue: String
    let connection: AMQPConnection
    let channel: AMQPChannel

    /// Declares the exchange and, when `bound`, the queue bound to everything on it.
    static func make(bound: Bool = true) async throws -> TestExchange {
        let connection = try await AMQPConnection.connect(url: try TestEnvironment.amqpURL())
        let channel = try await connection.openChannel()
        let exchange = TestEnvironment.uniqueName("pub_exchange")
        let queue = TestEnvironment.uniqueName("pub_queue")
        try await channel.declareExchange(exchange, type: .topic, durable: true)
        try await channel.declareQueue(queue, durable: true, arguments: ["x-queue-type": "classic"])
        if bound { try await channel.bindQueue(queue, exchange: exchange, routingKey: "#") }
        return TestExchange(exchange: exchange, queue: queue, connection: connection, channel: channel)
    }

    func bind() async throws {
        try await channel.bindQueue(queue, exchange: exchange, routingKey: "#")
    }

    /// Messages ready in the queue.
    func depth() async throws -> Int {
        Int(try await channel.declareQueuePassive(queue).messageCount)
    }

    /// Waits until the queue holds `count` messages (or `timeout`, which only turns messages that
    /// never come into a failure: see `eventually`), then a little longer to catch extras, and
    /// returns every message in it, in queue order (acknowledged).
    func messages(expecting count: Int, timeout: Duration = .seconds(180), settle: Duration = .milliseconds(500)) async throws
        -> [AMQPDelivery]
    {
        _ = try await eventually(timeout) { try await depth() >= count }
        try await Task.sleep(for: settle)
        var all: [AMQPDelivery] = []
        let available = try await depth()
        guard available > 0 else { return [] }
        let reader = try await connection.openChannel()
        try await reader.qos(prefetchCount: 1000)
        let consumer = try await reader.consume(queue: queue, noAck: true)
        var iterator = consumer.makeAsyncIterator()
        while all.count < available {
            let batch = try await iterator.nextBatch(max: 1000)
            if batch.isEmpty { break }
            all += batch
        }
        try await consumer.cancel()
        try await reader.close()
        return all
    }

    func delete() async {
        _ = try? await channel.deleteQueue(queue)
        _ = try? await channel.deleteExchange(exchange)
        await connection.close()
    }

    /// A publisher configuration for this run's vhost, publishing to this exchange.
    func publisherConfiguration(appID: String = "publisher-tests") throws -> PublisherConfiguration {
        var configuration = try PublisherConfiguration(url: try TestEnvironment.amqpURL(), appID: appID)
        configuration.exchange = exchange
        return configuration
    }
}

/// A Postgres schema of one test's own, migrated with ``OutboxSchema``, and a connection whose
/// `search_path` is that schema.
struct OutboxTestDatabase: Sendable {
    let schema: String
    let configuration: PostgresConfiguration
    let connection: PostgresConnection

    static func make(migrate: Bool = true) async throws -> OutboxTestDatabase {
        let url = try TestEnvironment.databaseURL()
        let schema = TestEnvironment.uniqueName("outbox")
        let admin = try await PostgresConnection.connect(try PostgresConfiguration(url: url))
        try await admin.execute("CREATE SCHEMA \(schema)")
        await admin.close()
        var configuration = try PostgresConfiguration(
            url: url + (url.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)")
        configuration.applicationName = "courier-publisher-tests"
        let connection = try await PostgresConnection.connect(configuration)
        if migrate { try await OutboxSchema.migrate(on: connection) }
        return OutboxTestDatabase(schema: schema, configuration: configuration, connection: connection)
    }

    func drop() async {
        await connection.close()
        guard let admin = try? await PostgresConnection.connect(try PostgresConfiguration(url: try TestEnvironment.databaseURL()))
        else { return }
        _ = try? await admin.execute("DROP SCHEMA \(schema) CASCADE")
        await admin.close()
    }

    func unpublishedCount() async throws -> Int {
        try await connection.query("SELECT count(*) FROM event_store WHERE NOT processed").first!.decode(Int.self, column: 0)
    }

    func count() async throws -> Int {
        try await connection.query("SELECT count(*) FROM event_store").first!.decode(Int.self, column: 0)
    }

    /// True once a backend connected as `application` has run its `LISTEN` and gone idle: the
    /// LISTEN is committed, so every NOTIFY from now on reaches it.
    func isListening(application: String) async throws -> Bool {
        try await connection.query(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle' AND query ILIKE 'LISTEN %'",
            [application]
        ).first!.decode(Int.self, column: 0) > 0
    }

    /// Enqueues `envelopes` in one committed transaction.
    func enqueue(_ envelopes: [EventEnvelope]) async throws {
        try await connection.withTransaction { conn in try Outbox.enqueue(envelopes, schema: schema, in: conn) }
    }
}

/// A relay for tests: fast polling and retries, against `database`, publishing to `exchange`.
func testRelayConfiguration(database: OutboxTestDatabase, exchange: TestExchange, batchSize: Int = 100) throws -> RelayConfiguration {
    var configuration = RelayConfiguration(database: database.configuration, publisher: try exchange.publisherConfiguration(appID: "relay-tests"))
    configuration.batchSize = batchSize
    configuration.pollInterval = .milliseconds(200)
    configuration.retryDelay = .milliseconds(100)
    configuration.maxRetryDelay = .seconds(1)
    configuration.publisher.reconnectDelay = .milliseconds(100)
    configuration.publisher.maxReconnectDelay = .seconds(1)
    return configuration
}

/// Runs each relay in a task until `body` returns, then cancels them (a pass cut short leaves its
/// rows unmarked, to be published again — as after a crash).
func whileRunning<T: Sendable>(_ relays: [OutboxRelay], _ body: () async throws -> T) async throws -> T {
    let tasks = relays.map { relay in Task { try await relay.run() } }
    let result: Result<T, any Error>
    do {
        result = .success(try await body())
    } catch {
        result = .failure(error)
    }
    for task in tasks { task.cancel() }
    for task in tasks { _ = await task.result }
    return try result.get()
}

/// Semble events for tests, each with a fresh UUID.
enum Events {
    static let start = Date(timeIntervalSince1970: 1_795_861_730.123)

    static func cardAdded(card: String = "card-\(UUID().uuidString.prefix(8))", curator: String = "did:plc:tester", at: Date = start)
        -> EventEnvelope
    {
        .outgoing(.cardAddedToLibrary(.init(cardId: card, curatorId: curator, addedAt: at)), occurredAt: at)
    }

    /// The `index`-th event of `aggregate` (a collection), recognisable in the body by its name.
    static func numbered(aggregate: String, index: Int) -> EventEnvelope {
        .outgoing(
            .collectionCreated(.init(collectionId: aggregate, authorId: "did:plc:author", collectionName: "\(index)")),
            occurredAt: start.addingTimeInterval(Double(index)))
    }
}

/// Decodes a delivered Semble event the way courierd does.
func decode(_ delivery: AMQPDelivery) throws -> EventEnvelope {
    try EventDecoder().decode(
        body: delivery.body, messageId: delivery.properties.messageID, routingKey: delivery.routingKey,
        typeProperty: delivery.properties.type,
        schemaVersion: delivery.properties.headers?[EventSchema.versionHeader]?.intValue.map { Int($0) })
}

let quietLogger: Logger = {
    var logger = Logger(label: "publisher-tests")
    logger.logLevel = .warning
    return logger
}()

/// A thread-safe counter.
final class Tally: Sendable {
    private let value = Mutex(0)
    func add(_ n: Int) { value.withLock { $0 += n } }
    var count: Int { value.withLock { $0 } }
}
