import CourierAMQP
import CourierEngine
import CourierEvents
import CourierHandlers
import CourierPostgres
import CourierTesting
import Foundation
import Logging

/// A deterministic stream of Semble events shaped like real traffic: mostly library and
/// collection adds, with follows, unfollows, removals, collections and connections mixed in,
/// over a universe of users, cards and collections small enough that follows fan out and
/// collection adds merge into activities.
struct MixedEvents {
    var users = 2_000
    var cards = 20_000
    var collections = 500
    var seed: UInt64 = 0x5EB1E

    func make(_ count: Int) -> [EventEnvelope] {
        var random = SplitMix64(seed: seed)
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        var events: [EventEnvelope] = []
        events.reserveCapacity(count)
        var follows: [(id: String, follower: String, target: String, type: FollowTargetType)] = []
        var connections: [(id: String, curator: String)] = []
        for i in 0..<count {
            let at = start.addingTimeInterval(Double(i) * 0.01)
            let user = "did:plc:user\(random.next(below: users))"
            let card = "card-\(random.next(below: cards))"
            let collection = "collection-\(random.next(below: collections))"
            let id = "e2e-\(seed)-\(i)"
            let event: SembleEvent
            let aggregate: String
            switch random.next(below: 100) {
            case 0..<35:
                event = .cardAddedToLibrary(.init(cardId: card, curatorId: user, addedAt: at))
                aggregate = card
            case 35..<60:
                event = .cardAddedToCollection(.init(cardId: card, collectionId: collection, addedBy: user, addedAt: at))
                aggregate = collection
            case 60..<75:
                let target = random.next(below: 3) == 0 ? collection : "did:plc:user\(random.next(below: users))"
                let follow = (id: "follow-\(i)", follower: user, target: target, type: target.hasPrefix("collection") ? FollowTargetType.collection : .user)
                follows.append(follow)
                event = .userFollowedTarget(.init(followId: follow.id, followerId: user, targetId: target, targetType: follow.type, createdAt: at))
                aggregate = follow.id
            case 75..<78 where !follows.isEmpty:
                let follow = follows.remove(at: random.next(below: follows.count))
                event = .userUnfollowedTarget(.init(followId: follow.id, followerId: follow.follower, targetId: follow.target, targetType: follow.type))
                aggregate = follow.id
            case 78..<84:
                event = .collectionCreated(.init(collectionId: collection, authorId: user, collectionName: "Reading list \(i)"))
                aggregate = collection
            case 84..<89:
                event = .cardRemovedFromLibrary(.init(cardId: card, curatorId: user))
                aggregate = card
            case 89..<92:
                event = .cardRemovedFromCollection(.init(cardId: card, collectionId: collection, removedBy: user))
                aggregate = collection
            case 92..<98:
                let connection = (id: "connection-\(i)", curator: user)
                connections.append(connection)
                event = .connectionCreated(.init(connectionId: connection.id, curatorId: user))
                aggregate = connection.id
            default:
                if connections.isEmpty {
                    event = .cardAddedToLibrary(.init(cardId: card, curatorId: user, addedAt: at))
                    aggregate = card
                } else {
                    let connection = connections.remove(at: random.next(below: connections.count))
                    event = .connectionRemoved(.init(connectionId: connection.id, curatorId: connection.curator))
                    aggregate = connection.id
                }
            }
            events.append(EventEnvelope(id: id, aggregateId: aggregate, occurredAt: at, event: event))
        }
        return events
    }
}


/// Counts deliveries the wrapped handler settled as handled, and how many it did not.
struct CountingHandler: DeliveryHandler {
    let inner: any DeliveryHandler
    let handled: Counter
    let failures: FailureCounter
    var name: String { inner.name }
    func handle(_ deliveries: [AMQPDelivery]) async -> [HandlingOutcome] {
        let outcomes = await inner.handle(deliveries)
        for outcome in outcomes where outcome != .handled { failures.record() }
        handled.add(deliveries.count)
        return outcomes
    }
}

/// The end-to-end figures of a run.
struct EndToEndFigures {
    /// Events per second of each round, in the order run.
    var noop: [Double] = []
    var handlers: [Double] = []
    var failures = 0
    var rows: [(String, Int)] = []
}

/// The end-to-end figure: `count` mixed events published to `domain_events` (persistent,
/// confirmed, routed by type to the app queue), then consumed through the engine with Semble's
/// real handlers, effects committed in Postgres — against the same events drained with a no-op
/// handler in the same run. `rounds` rounds, alternating which side goes first (like the other
/// scenarios); each side gets a fresh app queue (quorum, as courierd declares it) every round,
/// and the handlers a fresh schema. Every round must leave the same rows.
func endToEnd(
    _ configuration: AMQPConfiguration, databaseURL: String, count: Int, rounds: Int, settings: ConsumerEngine.Settings, courierIndexes: Bool
) async throws
    -> EndToEndFigures
{
    var logger = Logger(label: "bench")
    logger.logLevel = .warning
    let events = MixedEvents().make(count)
    let encoder = EventEncoder()
    let bodies = events.map { encoder.encode($0) }
    let bindingKeys = EventType.allWireNames

    func fill(_ topology: Topology) async throws {
        let connection = try await AMQPConnection.connect(configuration)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()
        let failures = FailureCounter()
        for (event, body) in zip(events, bodies) {
            await channel.waitForConfirmWindow(below: 1000)
            let properties = AMQPProperties(
                contentType: "application/json", headers: [EventSchema.versionHeader: .int32(Int32(EventSchema.currentVersion))],
                deliveryMode: .persistent, messageID: event.id, type: event.type.rawValue)
            channel.publish(body, exchange: Topology.exchangeName, routingKey: event.type.rawValue, properties: properties) { result in
                if case .success(.acked) = result { return }
                failures.record()
            }
        }
        await channel.waitForConfirms()
        await connection.close()
        if failures.count > 0 { throw BenchError("\(failures.count) publishes were not acked") }
    }

    func drain(_ topology: Topology, _ handler: any DeliveryHandler, failures: FailureCounter) async throws -> Duration {
        let counter = Counter(target: count)
        return try await engineDrain(
            configuration, topology: topology, handler: CountingHandler(inner: handler, handled: counter, failures: failures), until: counter,
            settings: settings)
    }

    func topology() -> Topology {
        Topology(.init(appName: "bench_e2e_\(UUID().uuidString.prefix(8).lowercased())", eventTypes: bindingKeys))
    }
    let admin = try await AMQPConnection.connect(configuration)
    defer { Task { await admin.close() } }
    let adminDatabase = try await PostgresConnection.connect(try PostgresConfiguration(url: databaseURL), logger: logger)

    // The no-op side: the same events, the same queue type, nothing written.
    func noopRound() async throws -> Double {
        let noopTopology = topology()
        try await noopTopology.declare(on: admin)
        try await fill(noopTopology)
        let noop = try await drain(noopTopology, NoopHandler(handled: Counter(target: .max)), failures: FailureCounter())
        try await deleteQueues(of: noopTopology, on: admin)
        return rate(count, noop)
    }

    // The real side: a fresh schema, migrated as courierd does.
    func handlersRound() async throws -> (rate: Double, failures: Int, rows: [(String, Int)]) {
        // Semble's tables as Semble's migrations leave them (every index of theirs: 10 on
        // feed_activities, 5 on notifications), Courier's in a schema of their own, as courierd runs.
        let schema = "bench_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await adminDatabase.execute("CREATE SCHEMA \(schema)")
        _ = try await adminDatabase.execute("CREATE SCHEMA \(schema)_courier")
        var schemaConfiguration = try PostgresConfiguration(url: databaseURL)
        schemaConfiguration.searchPath = [schema + "_courier", schema]
        let migrating = try await PostgresConnection.connect(schemaConfiguration, logger: logger)
        try await SembleTables.create(on: migrating, schema: schema)
        if courierIndexes { try await SembleTables.createOptionalIndexes(on: migrating, schema: schema) }
        try await CourierSchema.migrate(on: migrating, schema: schema + "_courier", logger: logger)
        await migrating.close()
        let pool = PostgresPool(configuration: schemaConfiguration, maximumConnections: SembleHandlers.all.count + 1, logger: logger)
        let runner = EventHandlerRunner(handlers: SembleHandlers.all, pool: pool, logger: logger)

        let realTopology = topology()
        try await realTopology.declare(on: admin)
        try await fill(realTopology)
        let failures = FailureCounter()
        let real = try await drain(realTopology, runner, failures: failures)
        try await deleteQueues(of: realTopology, on: admin)

        var rows: [(String, Int)] = []
        try await pool.withConnection { connection in
            for table in ["courier_inbox", "feed_activities", "following_feed_items", "notifications"] {
                let count = try await connection.query("SELECT count(*) FROM \(table)")
                rows.append((table, Int(try count[0].decode(Int64.self, column: 0))))
            }
        }
        await pool.close()
        _ = try await adminDatabase.execute("DROP SCHEMA \(schema)_courier CASCADE")
        _ = try await adminDatabase.execute("DROP SCHEMA \(schema) CASCADE")
        return (rate(count, real), failures.count, rows)
    }

    var figures = EndToEndFigures()
    for round in 0..<rounds {
        for noopFirst in round % 2 == 0 ? [true, false] : [false, true] {
            if noopFirst {
                let r = try await noopRound()
                figures.noop.append(r)
                FileHandle.standardError.write(Data("  e2e round \(round + 1) no-op   : \(Int(r)) events/s\n".utf8))
            } else {
                let r = try await handlersRound()
                if !figures.rows.isEmpty, figures.rows.map(\.1) != r.rows.map(\.1) {
                    throw BenchError("round \(round + 1) left other rows than round 1: \(r.rows) vs \(figures.rows)")
                }
                figures.handlers.append(r.rate)
                figures.failures += r.failures
                figures.rows = r.rows
                FileHandle.standardError.write(Data("  e2e round \(round + 1) handlers: \(Int(r.rate)) events/s\n".utf8))
            }
        }
    }
    await adminDatabase.close()
    return figures
}

func deleteQueues(of topology: Topology, on connection: AMQPConnection) async throws {
    let channel = try await connection.openChannel()
    for queue in topology.queues where queue.name != Topology.unroutedName {
        _ = try? await channel.deleteQueue(queue.name)
    }
    try await channel.close()
}
