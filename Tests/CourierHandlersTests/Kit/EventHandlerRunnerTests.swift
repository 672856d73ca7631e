import CourierAMQP
import CourierEngine
import CourierEvents
import CourierPostgres
import CourierTesting
import Foundation
import Logging
import Synchronization
import Testing

@testable import CourierHandlers

/// The runner against the real Postgres, with handlers of the test's own that write one row per
/// event into `effects` (no unique key: a second application would show as a second row) and
/// fail on the events they are told to.
@Suite("EventHandlerRunner against the real Postgres", .tags(.integration))
struct EventHandlerRunnerTests {
    final class Log: Sendable {
        let applied = Mutex<[String]>([])
        /// Event ids to fail on, and whether as a transient failure or a rejection.
        let failing = Mutex<[String: Bool]>([:])
    }

    struct TestHandler: EventHandler {
        struct Transient: Error {}
        let name: String
        let eventTypes: Set<EventType>
        let log = Log()

        func apply(_ events: [EventEnvelope], in transaction: isolated PostgresConnection) async throws {
            log.applied.withLock { $0 += events.map(\.id) }
            _ = try transaction.execute("INSERT INTO effects (handler, event_id) SELECT $1, unnest($2::text[])", [name, events.map(\.id)])
            let failing = log.failing.withLock { $0 }
            if let poison = events.first(where: { failing[$0.id] != nil }) {
                if failing[poison.id] == true { throw HandlerRejection("event \(poison.id) breaks a rule") }
                throw Transient()
            }
        }
    }

    /// A schema of the test's own with Semble's tables and Courier's (one schema is enough here),
    /// plus the `effects` table.
    struct Database {
        let schema: String
        let pool: PostgresPool

        static func make() async throws -> Database {
            let url = try TestEnvironment.databaseURL()
            let schema = TestEnvironment.uniqueName("runner")
            let admin = try await PostgresConnection.connect(try PostgresConfiguration(url: url))
            _ = try await admin.execute("CREATE SCHEMA \(schema)")
            await admin.close()
            let configuration = try PostgresConfiguration(url: url + (url.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)")
            let migrating = try await PostgresConnection.connect(configuration)
            try await SembleTables.create(on: migrating, schema: schema)
            _ = try await CourierSchema.migrate(on: migrating, schema: schema)
            _ = try await migrating.execute("CREATE TABLE effects (handler text NOT NULL, event_id text NOT NULL)")
            await migrating.close()
            return Database(schema: schema, pool: PostgresPool(configuration: configuration, maximumConnections: 4, logger: Logger(label: "test")))
        }

        /// Rows in `effects` per event id, for one handler.
        func effects(_ handler: String) async throws -> [String: Int] {
            try await pool.withConnection { connection in
                let rows = try await connection.query("SELECT event_id, count(*) FROM effects WHERE handler = $1 GROUP BY event_id", [handler])
                return Dictionary(uniqueKeysWithValues: try rows.map { (try $0.decode(String.self, column: 0), Int(try $0.decode(Int64.self, column: 1))) })
            }
        }

        func drop() async throws {
            await pool.close()
            let admin = try await PostgresConnection.connect(try PostgresConfiguration(url: try TestEnvironment.databaseURL()))
            _ = try await admin.execute("DROP SCHEMA \(schema) CASCADE")
            await admin.close()
        }
    }

    static let occurred = Date(timeIntervalSince1970: 1_795_000_000)

    static func event(_ n: Int, _ type: EventType = .cardAddedToLibrary) -> EventEnvelope {
        let at = occurred.addingTimeInterval(Double(n))
        let event: SembleEvent =
            switch type {
            case .collectionCreated: .collectionCreated(.init(collectionId: "col-\(n)", authorId: "did:plc:a", collectionName: "c"))
            default: .cardAddedToLibrary(.init(cardId: "card-\(n)", curatorId: "did:plc:u\(n % 3)", addedAt: at))
            }
        return EventEnvelope(id: "event-\(n)", aggregateId: "agg-\(n)", occurredAt: at, event: event)
    }

    static func delivery(_ envelope: EventEnvelope, tag: UInt64 = 1, messageID: Bool = true) -> AMQPDelivery {
        AMQPDelivery(
            deliveryTag: tag, redelivered: false, exchange: "domain_events", routingKey: envelope.type.rawValue, consumerTag: "test",
            properties: AMQPProperties(
                contentType: "application/json", headers: [EventSchema.versionHeader: .int32(Int32(EventSchema.currentVersion))],
                deliveryMode: .persistent, messageID: messageID ? envelope.id : nil, type: envelope.type.rawValue),
            body: EventEncoder().encode(envelope))
    }

    static func raw(_ body: String, routingKey: String) -> AMQPDelivery {
        AMQPDelivery(
            deliveryTag: 1, redelivered: false, exchange: "domain_events", routingKey: routingKey, consumerTag: "test",
            properties: AMQPProperties(), body: Array(body.utf8))
    }

    @Test("each event is applied once per handler; a redelivered batch changes nothing")
    func redelivery() async throws {
        let database = try await Database.make()
        let all = TestHandler(name: "all", eventTypes: Set(EventType.allCases))
        let library = TestHandler(name: "library", eventTypes: [.cardAddedToLibrary])
        let runner = EventHandlerRunner(handlers: [all, library], pool: database.pool, logger: Logger(label: "test"))
        let events = (0..<10).map { Self.event($0, $0 % 3 == 0 ? .collectionCreated : .cardAddedToLibrary) }
        let deliveries = events.map { Self.delivery($0) }

        #expect(await runner.handle(deliveries) == Array(repeating: .handled, count: 10))
        #expect(await runner.handle(deliveries) == Array(repeating: .handled, count: 10))
        #expect(try await database.effects("all") == Dictionary(uniqueKeysWithValues: events.map { ($0.id, 1) }))
        let libraryIDs = events.filter { $0.type == .cardAddedToLibrary }.map(\.id)
        #expect(try await database.effects("library") == Dictionary(uniqueKeysWithValues: libraryIDs.map { ($0, 1) }))
        #expect(all.log.applied.withLock { $0 } == events.map(\.id), "the second time the inbox kept the handler from running")
        try await database.drop()
    }

    @Test("when one handler fails, the retry runs only that handler")
    func handlerIsolation() async throws {
        let database = try await Database.make()
        let steady = TestHandler(name: "steady", eventTypes: [.cardAddedToLibrary])
        let flaky = TestHandler(name: "flaky", eventTypes: [.cardAddedToLibrary])
        let runner = EventHandlerRunner(handlers: [steady, flaky], pool: database.pool, logger: Logger(label: "test"))
        let events = (0..<5).map { Self.event($0) }
        flaky.log.failing.withLock { $0 = ["event-2": false] }

        let first = await runner.handle(events.map { Self.delivery($0) })
        #expect(first[2] == .transientFailure(HandlingFailure(errorClass: "Transient", message: "Transient()", handler: "flaky")))
        #expect(first.enumerated().allSatisfy { $0.offset == 2 || $0.element == .handled })
        #expect(try await database.effects("steady").keys.sorted() == events.map(\.id).sorted())
        #expect(try await database.effects("flaky")["event-2"] == nil, "rolled back")

        // The retry: the flaky handler recovered.
        flaky.log.failing.withLock { $0 = [:] }
        let steadyCalls = steady.log.applied.withLock { $0.count }
        #expect(await runner.handle([Self.delivery(events[2])]) == [.handled])
        #expect(steady.log.applied.withLock { $0.count } == steadyCalls, "the handler that committed did not run again")
        #expect(try await database.effects("flaky") == Dictionary(uniqueKeysWithValues: events.map { ($0.id, 1) }))
        #expect(try await database.effects("steady") == Dictionary(uniqueKeysWithValues: events.map { ($0.id, 1) }))
        try await database.drop()
    }

    @Test("an event without a message id keeps its identity on its retry, which comes back by the default exchange")
    func retryKeepsIdentity() async throws {
        let database = try await Database.make()
        let steady = TestHandler(name: "steady", eventTypes: [.cardAddedToLibrary])
        let flaky = TestHandler(name: "flaky", eventTypes: [.cardAddedToLibrary])
        let runner = EventHandlerRunner(handlers: [steady, flaky], pool: database.pool, logger: Logger(label: "test"))
        let first = Self.delivery(Self.event(7), messageID: false)
        flaky.log.failing.withLock { $0 = [EventIdentity.derived(body: first.body, routingKey: first.routingKey): false] }
        #expect(await runner.handle([first]) != [.handled])
        flaky.log.failing.withLock { $0 = [:] }

        // What the engine publishes to the retry queue, as the retry queue dead-letters it back:
        // through the default exchange, with the app queue's name as routing key.
        let copy = FailureHeaders.retry(first.properties, attempt: 1, origin: FailureHeaders.origin(of: first, queue: "events_app"))
        let retry = AMQPDelivery(
            deliveryTag: 2, redelivered: false, exchange: "", routingKey: "events_app", consumerTag: "test", properties: copy, body: first.body)
        #expect(await runner.handle([retry]) == [.handled])
        #expect(steady.log.applied.withLock { $0.count } == 1, "the handler that had committed did not apply it again")
        #expect(try await database.effects("steady").values.sorted() == [1])
        #expect(try await database.effects("flaky").values.sorted() == [1])
        try await database.drop()
    }

    @Test("one poison event in a batch: its neighbours commit, only it is dead-lettered")
    func batchIsolation() async throws {
        let database = try await Database.make()
        let handler = TestHandler(name: "strict", eventTypes: [.cardAddedToLibrary])
        let runner = EventHandlerRunner(handlers: [handler], pool: database.pool, logger: Logger(label: "test"))
        let events = (0..<20).map { Self.event($0) }
        handler.log.failing.withLock { $0 = ["event-7": true] }

        let outcomes = await runner.handle(events.map { Self.delivery($0) })
        #expect(outcomes[7] == .permanentFailure(HandlingFailure(errorClass: "HandlerRejection", message: "event event-7 breaks a rule", handler: "strict")))
        #expect(outcomes.enumerated().allSatisfy { $0.offset == 7 || $0.element == .handled })
        var expected = Dictionary(uniqueKeysWithValues: events.map { ($0.id, 1) })
        expected["event-7"] = nil
        #expect(try await database.effects("strict") == expected)
        // Bisection, not one transaction per event: 20 events, one poison.
        #expect(handler.log.applied.withLock { $0.count } < 20 * 3)
        try await database.drop()
    }

    @Test("a body that does not decode is a permanent failure naming the field; its neighbours are handled")
    func undecodable() async throws {
        let database = try await Database.make()
        let handler = TestHandler(name: "h", eventTypes: Set(EventType.allCases))
        let runner = EventHandlerRunner(handlers: [handler], pool: database.pool, logger: Logger(label: "test"))
        let good = Self.event(1)
        let outcomes = await runner.handle([
            Self.raw("not json", routingKey: "CardAddedToLibraryEvent"),
            Self.delivery(good),
            Self.raw(#"{"eventType":"CardAddedToLibraryEvent","aggregateId":"a","dateTimeOccurred":"2026-11-28T10:00:00Z","curatorId":"did:plc:x","addedAt":"2026-11-28T10:00:00Z"}"#, routingKey: "CardAddedToLibraryEvent"),
            Self.raw("{}", routingKey: "NoSuchEvent"),
        ])
        #expect(outcomes[1] == .handled)
        guard case .permanentFailure(let malformed) = outcomes[0], case .permanentFailure(let missing) = outcomes[2],
            case .permanentFailure(let unknown) = outcomes[3]
        else {
            Issue.record("expected permanent failures: \(outcomes)")
            return
        }
        #expect(malformed.errorClass == "MalformedJSON")
        #expect(missing.errorClass == "MissingField")
        #expect(missing.message.contains("cardId"), "the message names the field: \(missing.message)")
        #expect(unknown.errorClass == "UnknownEventType")
        #expect(try await database.effects("h") == [good.id: 1])
        try await database.drop()
    }

    @Test("the same event twice in a batch, or without a message id in two batches, is applied once")
    func duplicates() async throws {
        let database = try await Database.make()
        let handler = TestHandler(name: "h", eventTypes: [.cardAddedToLibrary])
        let runner = EventHandlerRunner(handlers: [handler], pool: database.pool, logger: Logger(label: "test"))
        let event = Self.event(1)
        #expect(await runner.handle([Self.delivery(event), Self.delivery(event), Self.delivery(Self.event(2))]) == [.handled, .handled, .handled])
        #expect(try await database.effects("h") == ["event-1": 1, "event-2": 1])

        // No message_id: the identity is derived from the body, the same on every delivery.
        let anonymous = Self.event(3)
        #expect(await runner.handle([Self.delivery(anonymous, messageID: false)]) == [.handled])
        #expect(await runner.handle([Self.delivery(anonymous, messageID: false)]) == [.handled])
        let effects = try await database.effects("h")
        #expect(effects.count == 3)
        #expect(effects.values.allSatisfy { $0 == 1 })
        #expect(effects.keys.contains(EventIdentity.derived(body: EventEncoder().encode(anonymous), routingKey: anonymous.type.rawValue)))
        try await database.drop()
    }

    @Test("Postgres unreachable: every event is 'dependency unavailable', and the runner says so")
    func postgresDown() async throws {
        let configuration = try PostgresConfiguration(url: "postgres://courier:secret@127.0.0.1:1/none?connect_timeout=2")
        let pool = PostgresPool(configuration: configuration, maximumConnections: 2, logger: Logger(label: "test"))
        let runner = EventHandlerRunner(handlers: [TestHandler(name: "h", eventTypes: [.cardAddedToLibrary])], pool: pool, logger: Logger(label: "test"))
        let outcomes = await runner.handle((0..<3).map { Self.delivery(Self.event($0)) })
        #expect(outcomes == Array(repeating: .dependencyUnavailable(dependency: "postgres"), count: 3))
        #expect(await runner.unavailableDependency() == "postgres")
        await pool.close()
    }

    @Test("the app queue is bound to every handled type, legacy names included")
    func bindingKeys() async throws {
        let pool = PostgresPool(configuration: try PostgresConfiguration(url: "postgres://x@127.0.0.1:1/x"), maximumConnections: 1, logger: Logger(label: "test"))
        let runner = EventHandlerRunner(
            handlers: [TestHandler(name: "a", eventTypes: [.userFollowedTarget, .cardAddedToLibrary]), TestHandler(name: "b", eventTypes: [.cardAddedToLibrary])],
            pool: pool, logger: Logger(label: "test"))
        #expect(runner.bindingKeys == ["CardAddedToLibraryEvent", "USER_FOLLOWED_TARGET", "UserFollowedTargetEvent"])
        await pool.close()
    }
}
