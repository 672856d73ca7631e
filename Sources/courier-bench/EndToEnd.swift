import CourierAMQP
import CourierEngine
import CourierEvents
import CourierHandlers
import CourierPostgres
import CourierTesting
import CourierWorkloads
import Foundation
import Logging

/// A deterministic stream of Semble events over the rows of ``RealisticSembleState`` (its
/// ``SembleStateCatalog``), shaped like real traffic: mostly library and collection adds, with
/// follows, unfollows, removals, collections and connections mixed in.
///
/// - Library adds: a seeded card (a NOTE one time in ten) by its author; one in 40 a card that is
///   not in `cards` (deleted since). Four URL cards in ten are then added by the same actor to a
///   collection (sometimes two) 10 ms–1 s later — a bundle — or, one time in ten, 3–4 s later
///   (past the bundle window, within the feed's); and some adds go collection first, library
///   10–200 ms later, as Semble's AddUrlToLibrary publishes them.
/// - Collection adds: one of the actor's URL cards, to one of the actor's collections or to
///   another author's OPEN collection; never to another's CLOSED one.
/// - Follows: half of them of a pair in `follows` (Semble publishes after inserting the row), half
///   of a new pair (the handlers read `follows`, they do not write it); a fresh UUID followId.
///   Unfollows: of a pair followed earlier in the stream or of a seeded one, followId
///   `<follower>:<target>:<type>` as Semble's repository makes it.
/// - Removals: mostly of adds made earlier in the stream, by the same actor.
/// - Connections: seeded ones by their curators; removals mostly of ones created in the stream.
///
/// `occurredAt` = `addedAt` = start + 10 ms per event.
struct MixedEvents {
    let state: SembleStateCatalog
    var seed: UInt64 = 0x5EB1E

    /// An add placed at a later position of the stream.
    private enum Planned {
        case library(card: String, actor: Int)
        case collection(card: String, collection: Int, actor: Int)
    }

    func make(_ count: Int) -> [EventEnvelope] {
        var random = SplitMix64(seed: seed)
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        var events: [EventEnvelope] = []
        events.reserveCapacity(count)
        var planned: [Int: [Planned]] = [:]
        // What the stream added, followed and created so far (for removals, unfollows).
        var libraryAdds: [(card: String, actor: Int)] = []
        var collectionAdds: [(card: String, collection: Int, actor: Int)] = []
        var follows: [SembleStateCatalog.Follow] = []
        var connectionsCreated: [Int] = []

        func pick(below bound: Int) -> Int { random.next(below: bound) }
        /// Removes and returns a random element (order of the rest does not matter).
        func takeRandom<T>(_ list: inout [T]) -> T {
            list.swapAt(pick(below: list.count), list.count - 1)
            return list.removeLast()
        }
        func uuid() -> String {
            let hex = [random.next(), random.next()].map {
                let digits = String($0, radix: 16)
                return String(repeating: "0", count: 16 - digits.count) + digits
            }.joined()
            var chars = Array(hex)
            chars[12] = "4"
            chars[16] = Array("89ab")[Int(chars[16].hexDigitValue ?? 0) % 4]
            let s = String(chars)
            func part(_ a: Int, _ b: Int) -> Substring { s.dropFirst(a).prefix(b - a) }
            return [part(0, 8), part(8, 12), part(12, 16), part(16, 20), part(20, 32)].joined(separator: "-")
        }
        /// One of `user`'s URL cards, if any.
        func urlCard(of user: Int) -> Int? {
            let cards = state.urlCardsByAuthor[user]
            return cards.isEmpty ? nil : cards[pick(below: cards.count)]
        }
        func collection(for actor: Int) -> Int { state.randomCollection(for: actor) { pick(below: $0) } }

        for i in 0..<count {
            let at = start.addingTimeInterval(Double(i) * 0.01)
            func emit(_ event: SembleEvent, _ aggregate: String) {
                events.append(EventEnvelope(id: "e2e-\(seed)-\(i)", aggregateId: aggregate, occurredAt: at, event: event))
            }
            func libraryAdd(_ card: String, _ actor: Int) {
                libraryAdds.append((card, actor))
                emit(.cardAddedToLibrary(.init(cardId: card, curatorId: state.did(actor), addedAt: at)), card)
            }
            func collectionAdd(_ card: String, _ collection: Int, _ actor: Int) {
                collectionAdds.append((card, collection, actor))
                let id = state.collections[collection].id
                emit(.cardAddedToCollection(.init(cardId: card, collectionId: id, addedBy: state.did(actor), addedAt: at)), id)
            }
            func plan(_ add: Planned, at position: Int) { planned[position, default: []].append(add) }

            if var due = planned.removeValue(forKey: i) {
                let add = due.removeFirst()
                if !due.isEmpty { planned[i + 1] = due + (planned[i + 1] ?? []) }
                switch add {
                case .library(let card, let actor): libraryAdd(card, actor)
                case .collection(let card, let collection, let actor): collectionAdd(card, collection, actor)
                }
                continue
            }
            switch pick(below: 100) {
            case 0..<33:
                if pick(below: 40) == 0 {
                    libraryAdd(uuid(), pick(below: state.users))
                    break
                }
                let k = pick(below: state.cards.count)
                let card = state.cards[k]
                libraryAdd(card.id, card.author)
                if card.isURL, pick(below: 10) < 4 {
                    var delay = pick(below: 10) == 0 ? 300 + pick(below: 100) : 1 + pick(below: 100)
                    let first = collection(for: card.author)
                    plan(.collection(card: card.id, collection: first, actor: card.author), at: i + delay)
                    if pick(below: 4) == 0 {
                        let second = collection(for: card.author)
                        delay += 1 + pick(below: 50)
                        if second != first { plan(.collection(card: card.id, collection: second, actor: card.author), at: i + delay) }
                    }
                }
            case 33..<38:
                // A URL added with a collection: the collection event first, then the library one.
                let actor = pick(below: state.users)
                if let k = urlCard(of: actor) {
                    collectionAdd(state.cards[k].id, collection(for: actor), actor)
                    plan(.library(card: state.cards[k].id, actor: actor), at: i + 1 + pick(below: 20))
                } else {
                    libraryAdd(uuid(), actor)
                }
            case 38..<50:
                let c = pick(below: state.collections.count)
                let author = state.collections[c].author
                var actor = author
                if state.collections[c].open, pick(below: 2) == 0 {
                    let other = pick(below: state.users)
                    if urlCard(of: other) != nil { actor = other }
                }
                let card = urlCard(of: actor).map { state.cards[$0].id } ?? uuid()
                collectionAdd(card, c, actor)
            case 50..<70:
                let follow = state.randomFollow { pick(below: $0) }
                follows.append(follow)
                let followId = uuid()
                emit(
                    .userFollowedTarget(.init(
                        followId: followId, followerId: state.did(follow.follower), targetId: follow.target,
                        targetType: follow.toCollection ? .collection : .user, createdAt: at)),
                    followId)
            case 70..<74:
                let follow = !follows.isEmpty && pick(below: 2) == 0 ? takeRandom(&follows) : state.follows[pick(below: state.follows.count)]
                let type: FollowTargetType = follow.toCollection ? .collection : .user
                let followId = "\(state.did(follow.follower)):\(follow.target):\(type.rawValue)"
                emit(.userUnfollowedTarget(.init(followId: followId, followerId: state.did(follow.follower), targetId: follow.target, targetType: type)), followId)
            case 74..<81:
                let c = pick(below: state.collections.count)
                let collection = state.collections[c]
                emit(.collectionCreated(.init(collectionId: collection.id, authorId: state.did(collection.author), collectionName: "Collection \(c)")), collection.id)
            case 81..<87:
                let removal: (card: String, actor: Int)
                if !libraryAdds.isEmpty, pick(below: 3) > 0 {
                    removal = takeRandom(&libraryAdds)
                } else {
                    let card = state.cards[pick(below: state.cards.count)]
                    removal = (card.id, card.author)
                }
                emit(.cardRemovedFromLibrary(.init(cardId: removal.card, curatorId: state.did(removal.actor))), removal.card)
            case 87..<91:
                let removal: (card: String, collection: Int, actor: Int)
                if !collectionAdds.isEmpty, pick(below: 4) > 0 {
                    removal = takeRandom(&collectionAdds)
                } else {
                    let c = pick(below: state.collections.count)
                    let author = state.collections[c].author
                    removal = (urlCard(of: author).map { state.cards[$0].id } ?? uuid(), c, author)
                }
                let id = state.collections[removal.collection].id
                emit(.cardRemovedFromCollection(.init(cardId: removal.card, collectionId: id, removedBy: state.did(removal.actor))), id)
            case 91..<98:
                let x = pick(below: state.connections.count)
                connectionsCreated.append(x)
                let connection = state.connections[x]
                emit(.connectionCreated(.init(connectionId: connection.id, curatorId: state.did(connection.curator))), connection.id)
            default:
                let x = !connectionsCreated.isEmpty && pick(below: 4) > 0 ? takeRandom(&connectionsCreated) : pick(below: state.connections.count)
                let connection = state.connections[x]
                emit(.connectionRemoved(.init(connectionId: connection.id, curatorId: state.did(connection.curator))), connection.id)
            }
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
/// and the handlers a fresh schema, Semble's state tables seeded with ``RealisticSembleState``
/// (timed apart, not in the rate), which the events refer to. Every round must leave the same rows.
func endToEnd(
    _ configuration: AMQPConfiguration, databaseURL: String, count: Int, rounds: Int, settings: ConsumerEngine.Settings, follows: Int,
    consumers: Int = 1
) async throws
    -> EndToEndFigures
{
    var logger = Logger(label: "bench")
    logger.logLevel = .warning
    let adminDatabase = try await PostgresConnection.connect(try PostgresConfiguration(url: databaseURL), logger: logger)
    // Every handlers round seeds the same Semble state; the events refer to its rows.
    var state = RealisticSembleState()
    state.userFollows = follows
    let catalog = try await state.catalog(on: adminDatabase)
    let events = MixedEvents(state: catalog).make(count)
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
    var shapeShown = false

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
        // Semble's state tables as a live Semble has them (not counted in the rate).
        let seedingStart = ContinuousClock.now
        let seeded = try await state.seed(on: migrating, schema: schema)
        let seeding = ContinuousClock.now - seedingStart
        let expected = [
            "users": catalog.users, "collections": catalog.collections.count, "cards": catalog.cards.count,
            "follows": catalog.follows.count, "connections": catalog.connections.count,
        ]
        for (table, rows) in seeded where expected[table].map({ $0 != rows }) ?? false {
            throw BenchError("seeding left \(rows) rows in \(table), the events were made for \(expected[table] ?? 0)")
        }
        FileHandle.standardError.write(Data(
            ("  e2e seeding: " + String(format: "%.2f s (", seconds(seeding)) + seeded.map { "\($0.table) \($0.rows)" }.joined(separator: ", ") + ")\n").utf8))
        if !shapeShown {
            shapeShown = true
            FileHandle.standardError.write(Data("  e2e state: \(try await state.shape(on: migrating, schema: schema))\n".utf8))
        }
        try await CourierSchema.migrate(on: migrating, schema: schema + "_courier", logger: logger)
        await migrating.close()
        // Per consumer (as one courierd each): the handlers' connections, one for health checks,
        // one for the bundle flusher.
        let pools = (0..<consumers).map { _ in
            PostgresPool(configuration: schemaConfiguration, maximumConnections: SembleHandlers.all.count + 2, logger: logger)
        }
        let pool = pools[0]
        let runners = pools.map { EventHandlerRunner(handlers: SembleHandlers.all, pool: $0, logger: logger) }
        let flushers = pools.map { BundleFlusher(pool: $0, logger: logger) }

        let realTopology = topology()
        try await realTopology.declare(on: admin)
        try await fill(realTopology)
        let failures = FailureCounter()
        // The flushers run beside the consumers, as courierd's does (bundles fall due 3 s after
        // they open); what is still pending when the queue is drained is flushed then, inside the rate.
        let flushing = flushers.map { flusher in
            Task {
                while !Task.isCancelled {
                    let next = (try? await flusher.flush())?.nextDue ?? .milliseconds(500)
                    try? await Task.sleep(for: min(max(next, .milliseconds(20)), .milliseconds(500)))
                }
            }
        }
        let counter = Counter(target: count)
        var real = try await engineDrain(
            configuration, topology: realTopology,
            handlers: runners.map { CountingHandler(inner: $0, handled: counter, failures: failures) }, until: counter, settings: settings)
        for task in flushing {
            task.cancel()
            _ = await task.value
        }
        let clock = ContinuousClock()
        let start = clock.now
        while try await flushers[0].flush(everything: true).flushed > 0 {}
        real += clock.now - start
        try await deleteQueues(of: realTopology, on: admin)

        var rows: [(String, Int)] = []
        try await pool.withConnection { connection in
            for table in ["courier_inbox", "feed_activities", "following_feed_items", "notifications"] {
                let count = try await connection.query("SELECT count(*) FROM \(table)")
                rows.append((table, Int(try count[0].decode(Int64.self, column: 0))))
            }
        }
        for pool in pools { await pool.close() }
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
                // The inbox and the feed are a function of the stream and the state. The
                // notifications are too, but for one race Semble has as well: a card removed from
                // a collection while its bundle is pending keeps the bundle's notifications (the
                // clean-up runs before the flush writes them), removed after the flush loses them
                // — wall-clock time decides, so their count may differ by a few between rounds.
                // With competing consumers the arrival order differs from round to round, and
                // Semble's rules depend on it (windows, clean-ups): only the inbox — every event
                // handled once per handler — is then the same.
                let exact = { (rows: [(String, Int)]) in
                    rows.filter { consumers == 1 ? $0.0 != "notifications" : $0.0 == "courier_inbox" }.map(\.1)
                }
                if !figures.rows.isEmpty, exact(figures.rows) != exact(r.rows) {
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
