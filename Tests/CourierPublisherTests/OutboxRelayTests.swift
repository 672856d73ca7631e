import CourierAMQP
import CourierEvents
import CourierPostgres
import CourierTesting
import Foundation
import Synchronization
import Testing

@testable import CourierPublisher

/// The outbox and the relay against the real Postgres and broker: each test with a schema of its
/// own (migrated with ``OutboxSchema``) and an exchange and queue of its own.
@Suite("Outbox and relay", .tags(.integration))
struct OutboxRelayTests {
    struct Rollback: Error {}

    @Test("a rolled-back transaction publishes nothing; a committed one is published exactly once")
    func rollbackAndCommit() async throws {
        let database = try await OutboxTestDatabase.make()
        let exchange = try await TestExchange.make()
        try await database.connection.execute("CREATE TABLE cards (id text PRIMARY KEY)")

        let rolledBack = Events.cardAdded(card: "card-rolled-back")
        await #expect(throws: Rollback.self) {
            try await database.connection.withTransaction { conn in
                try conn.execute("INSERT INTO cards (id) VALUES ($1)", ["card-rolled-back"])
                try Outbox.enqueue(rolledBack, schema: nil, in: conn)
                throw Rollback()
            }
        }
        let committed = Events.cardAdded(card: "card-committed")
        try await database.connection.withTransaction { conn in
            try conn.execute("INSERT INTO cards (id) VALUES ($1)", ["card-committed"])
            try Outbox.enqueue(committed, schema: nil, in: conn)
        }
        #expect(try await database.count() == 1, "the rolled-back event never reached event_store")

        let relay = OutboxRelay(configuration: try testRelayConfiguration(database: database, exchange: exchange), logger: quietLogger)
        let messages = try await whileRunning([relay]) {
            #expect(await eventually { (try? await database.unpublishedCount()) == 0 })
            // Several more passes, to show a published row is not published again.
            try await Task.sleep(for: .seconds(1))
            return try await exchange.messages(expecting: 1)
        }
        #expect(messages.map(\.properties.messageID) == [committed.id])
        #expect(try decode(messages[0]) == committed)
        let row = try #require(
            try await database.connection.query("SELECT processed, published_at IS NOT NULL FROM event_store").first)
        #expect(try row.decode(Bool.self, column: 0) && row.decode(Bool.self, column: 1))
        await database.drop()
        await exchange.delete()
    }

    @Test("enqueue refuses to run outside a transaction, and ids that are not UUIDs")
    func enqueueGuards() async throws {
        let database = try await OutboxTestDatabase.make()
        await #expect {
            try await database.connection.withTransaction { conn in
                var envelope = Events.cardAdded()
                envelope.id = "e2e-1"
                try Outbox.enqueue(envelope, schema: nil, in: conn)
            }
        } throws: { error in
            (error as? OutboxError)?.code == .invalidEventID
        }
        let connection = database.connection
        let outside = await #expect(throws: OutboxError.self) {
            try await Self.enqueueOutsideTransaction(Events.cardAdded(), on: connection)
        }
        #expect(outside?.code == .notInTransaction)
        #expect(try await database.count() == 0)
        await database.drop()
    }

    private static func enqueueOutsideTransaction(_ envelope: EventEnvelope, on connection: isolated PostgresConnection) throws {
        try Outbox.enqueue(envelope, schema: nil, in: connection)
    }

    /// The relay dies after the broker confirmed and before the rows were marked (simulated: the
    /// hook throws there, so the pass rolls back exactly as a crash would). The next pass publishes
    /// the event again: the queue holds two copies with the **same** `message_id`. That is the
    /// at-least-once half of the guarantee; the other half lives in CourierHandlers, whose inbox
    /// (keyed by message id) applies an event once however many copies arrive — which is why this
    /// test checks the ids and does not run the handlers (that would pull them into this module).
    @Test("killed between publish and mark: published twice with the same message id, then marked")
    func crashBetweenPublishAndMark() async throws {
        let database = try await OutboxTestDatabase.make()
        let exchange = try await TestExchange.make()
        let event = Events.cardAdded()
        try await database.enqueue([event])

        let crashes = Mutex(0)
        let hooks = RelayHooks { ids in
            try crashes.withLock { count in
                guard count == 0, !ids.isEmpty else { return }
                count += 1
                struct SimulatedCrash: Error {}
                throw SimulatedCrash()
            }
        }
        let relay = OutboxRelay(
            configuration: try testRelayConfiguration(database: database, exchange: exchange), publisher: nil, hooks: hooks,
            logger: quietLogger)
        let messages = try await whileRunning([relay]) {
            #expect(await eventually { (try? await database.unpublishedCount()) == 0 })
            return try await exchange.messages(expecting: 2)
        }
        #expect(crashes.withLock { $0 } == 1)
        #expect(messages.count == 2)
        #expect(messages.map(\.properties.messageID) == [event.id, event.id], "the same identity both times")
        #expect(try messages.map(decode) == [event, event])
        await database.drop()
        await exchange.delete()
    }

    @Test("two relays at once: every row published once, each aggregate's events in order")
    func twoRelays() async throws {
        let database = try await OutboxTestDatabase.make()
        let exchange = try await TestExchange.make()
        let aggregates = (0..<40).map { "collection-\($0)-\(UUID().uuidString.prefix(6))" }
        let perAggregate = 10
        // Interleaved across aggregates, in several transactions, as concurrent API requests would.
        var all: [EventEnvelope] = []
        for index in 0..<perAggregate {
            for aggregate in aggregates.shuffled() { all.append(Events.numbered(aggregate: aggregate, index: index)) }
        }
        for chunk in stride(from: 0, to: all.count, by: 37) {
            try await database.enqueue(Array(all[chunk..<min(chunk + 37, all.count)]))
        }

        let marked = [Tally(), Tally()]
        let relays = try (0..<2).map { index in
            OutboxRelay(
                configuration: try testRelayConfiguration(database: database, exchange: exchange, batchSize: 16), publisher: nil,
                hooks: RelayHooks { ids in marked[index].add(ids.count) }, logger: quietLogger)
        }
        let messages = try await whileRunning(relays) {
            #expect(await eventually { (try? await database.unpublishedCount()) == 0 })
            return try await exchange.messages(expecting: all.count)
        }
        #expect(messages.count == all.count)
        #expect(Set(messages.compactMap(\.properties.messageID)) == Set(all.map(\.id)))
        let shares = marked.map(\.count)
        #expect(shares.reduce(0, +) == all.count)
        #expect(shares.allSatisfy { $0 > 0 }, "both relays did part of the work: \(shares)")
        var seen: [String: [Int]] = [:]
        for message in messages {
            let envelope = try decode(message)
            guard case .collectionCreated(let created) = envelope.event else { continue }
            seen[envelope.aggregateId, default: []].append(Int(created.collectionName)!)
        }
        for aggregate in aggregates {
            #expect(seen[aggregate] == Array(0..<perAggregate), "order of \(aggregate)")
        }
        await database.drop()
        await exchange.delete()
    }

    @Test("one hot aggregate, two relays: its events go out in order, without waiting for polls")
    func hotAggregate() async throws {
        let database = try await OutboxTestDatabase.make()
        let exchange = try await TestExchange.make()
        let events = (0..<400).map { Events.numbered(aggregate: "col-hot", index: $0) }
        try await database.enqueue(events)
        // A row held back that waited for a poll would wait 10 minutes; the bound is far below
        // that and generous on purpose (the 400 rows take well under a second when the machine
        // is idle, far longer beside other work).
        let relays = try (0..<2).map { _ in
            var configuration = try testRelayConfiguration(database: database, exchange: exchange, batchSize: 25)
            configuration.pollInterval = .seconds(600)
            return OutboxRelay(configuration: configuration, logger: quietLogger)
        }
        let started = ContinuousClock.now
        let messages = try await whileRunning(relays) {
            #expect(await eventually(.seconds(120)) { (try? await database.unpublishedCount()) == 0 })
            return try await exchange.messages(expecting: events.count)
        }
        #expect(ContinuousClock.now - started < .seconds(180), "rows held back for order are retried without waiting for a poll")
        #expect(messages.compactMap(\.properties.messageID) == events.map(\.id), "in order, each once")
        await database.drop()
        await exchange.delete()
    }

    @Test("a commit wakes the relay through NOTIFY, long before its poll")
    func notifyWakesRelay() async throws {
        let database = try await OutboxTestDatabase.make()
        let exchange = try await TestExchange.make()
        var configuration = try testRelayConfiguration(database: database, exchange: exchange)
        configuration.pollInterval = .seconds(600)
        // Its own application name, to find its LISTEN among the other tests' relays.
        let application = TestEnvironment.uniqueName("notify-relay")
        configuration.database.applicationName = application
        let relay = OutboxRelay(configuration: configuration, logger: quietLogger)
        try await whileRunning([relay]) {
            #expect(try await eventually { try await database.isListening(application: application) }, "the relay listens")
            let started = ContinuousClock.now
            try await database.enqueue([Events.cardAdded()])
            #expect(await eventually { (try? await exchange.depth()) == 1 })
            // Only the NOTIFY can publish it sooner than the 10-minute poll; the bound is far
            // below the poll and generous on purpose (a loaded machine is slow, not 10 min slow).
            #expect(ContinuousClock.now - started < .seconds(60))
        }
        await database.drop()
        await exchange.delete()
    }

    @Test("unroutable rows stay unpublished, and go out once a queue is bound — nothing lost")
    func unroutableStaysInOutbox() async throws {
        let database = try await OutboxTestDatabase.make()
        let exchange = try await TestExchange.make(bound: false)
        let events = (0..<3).map { Events.numbered(aggregate: "col-unroutable", index: $0) }
        try await database.enqueue(events)
        let relay = OutboxRelay(configuration: try testRelayConfiguration(database: database, exchange: exchange), logger: quietLogger)
        let messages = try await whileRunning([relay]) {
            try await Task.sleep(for: .seconds(1))
            #expect(try await database.unpublishedCount() == 3)
            try await exchange.bind()
            #expect(await eventually { (try? await database.unpublishedCount()) == 0 })
            return try await exchange.messages(expecting: 3)
        }
        #expect(messages.compactMap(\.properties.messageID) == events.map(\.id))
        await database.drop()
        await exchange.delete()
    }

    @Test("rows written by another publisher (Semble's API) are relayed as they are, with their version")
    func foreignRows() async throws {
        let database = try await OutboxTestDatabase.make()
        let exchange = try await TestExchange.make()
        let id = UUID().uuidString.lowercased()
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        try await database.connection.execute(
            """
            INSERT INTO event_store (id, aggregate_id, event_type, event_data, timestamp, traceparent)
            VALUES ($1::uuid, 'follow-1', 'USER_FOLLOWED_TARGET', $2::jsonb, '2026-11-28T10:15:30Z', $3)
            """,
            [
                id,
                #"{"eventType":"USER_FOLLOWED_TARGET","aggregateId":"follow-1","dateTimeOccurred":"2026-11-28T10:15:30.000Z","followId":"follow-1","followerId":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","targetId":"did:plc:7iza6de2dwap2sbkpav7c6c6","targetType":"USER","createdAt":"2026-11-28T10:15:30.000Z"}"#,
                trace,
            ])
        let relay = OutboxRelay(configuration: try testRelayConfiguration(database: database, exchange: exchange), logger: quietLogger)
        let messages = try await whileRunning([relay]) {
            try await exchange.messages(expecting: 1)
        }
        let message = try #require(messages.first)
        #expect(message.properties.messageID == id)
        #expect(message.routingKey == "USER_FOLLOWED_TARGET")
        #expect(message.properties.headers?[EventSchema.versionHeader]?.intValue == 1, "the row's version: the seed's default")
        #expect(message.properties.headers?["traceparent"]?.stringValue == trace)
        #expect(message.properties.timestamp == 1_795_860_930)
        let envelope = try decode(message)
        #expect(envelope.type == .userFollowedTarget)
        #expect(envelope.id == id)
        await database.drop()
        await exchange.delete()
    }

    @Test("published rows older than the retention are pruned; recent and unpublished ones stay")
    func retention() async throws {
        let database = try await OutboxTestDatabase.make()
        let exchange = try await TestExchange.make()
        let old = (0..<5).map { _ in Events.cardAdded() }
        let recent = Events.cardAdded()
        try await database.enqueue(old + [recent])
        try await database.connection.execute(
            "UPDATE event_store SET processed = true, published_at = now() - interval '2 hours' WHERE id = ANY($1::uuid[])",
            [old.map(\.id)])
        try await database.connection.execute(
            "UPDATE event_store SET processed = true, published_at = now() - interval '10 minutes' WHERE id = $1::uuid", [recent.id])
        // Marked by some other tool, without published_at: not ours to delete.
        let legacy = Events.cardAdded()
        try await database.enqueue([legacy])
        try await database.connection.execute("UPDATE event_store SET processed = true WHERE id = $1::uuid", [legacy.id])
        let unpublished = Events.cardAdded()
        try await database.enqueue([unpublished])

        var configuration = try testRelayConfiguration(database: database, exchange: exchange)
        configuration.retention = .seconds(3600)
        configuration.pruneBatchSize = 2
        let relay = OutboxRelay(configuration: configuration, logger: quietLogger)
        try await whileRunning([relay]) {
            #expect(await eventually { (try? await database.count()) == 3 })
            #expect(await eventually { (try? await database.unpublishedCount()) == 0 })
        }
        let left = try await database.connection.query("SELECT id::text FROM event_store").map { try $0.decode(String.self, column: 0) }
        #expect(Set(left) == [recent.id, legacy.id, unpublished.id])
        await database.drop()
        await exchange.delete()
    }

    @Test("the schema migrates over Semble's seed table, twice without harm, and a batch keeps its order")
    func schemaOverSeedTable() async throws {
        let database = try await OutboxTestDatabase.make(migrate: false)
        // Semble's seed (and CourierHandlers' SembleSchema) created the table first, with a row.
        try await database.connection.execute(
            """
            CREATE TABLE event_store (
                id uuid PRIMARY KEY DEFAULT gen_random_uuid(), aggregate_id varchar(255) NOT NULL,
                event_type varchar(255) NOT NULL, event_data jsonb NOT NULL, version integer NOT NULL DEFAULT 1,
                timestamp timestamptz NOT NULL, processed boolean NOT NULL DEFAULT false, created_at timestamptz DEFAULT now())
            """)
        try await database.connection.execute(
            "INSERT INTO event_store (aggregate_id, event_type, event_data, timestamp) VALUES ('a', 'CollectionCreatedEvent', '{}', now())")
        #expect(try await OutboxSchema.migrate(on: database.connection) == [1, 2])
        #expect(try await OutboxSchema.migrate(on: database.connection) == [])
        let columns = try await database.connection.query(
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'event_store'",
            [database.schema]
        ).map { try $0.decode(String.self, column: 0) }
        #expect(Set(columns).isSuperset(of: ["position", "published_at", "traceparent", "trace_context", "processed", "event_data"]))
        #expect(try await database.connection.query("SELECT position FROM event_store").first?.decode(Int64?.self, column: 0) != nil)

        let batch = (0..<4500).map { Events.numbered(aggregate: "col-order", index: $0) }
        try await database.enqueue(batch)
        let stored = try await database.connection.query(
            "SELECT id::text FROM event_store WHERE aggregate_id = 'col-order' ORDER BY position"
        ).map { try $0.decode(String.self, column: 0) }
        #expect(stored == batch.map(\.id), "position follows the batch order across statements")
        await database.drop()
    }
}
