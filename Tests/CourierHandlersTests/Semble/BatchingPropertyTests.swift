import CourierEvents
import CourierPostgres
import CourierTesting
import Foundation
import Testing

@testable import CourierHandlers

/// Properties of the handlers over random worlds and random streams.
///
/// Semble's rules are **not** order-free in general, and Courier keeps them as they are: a
/// clean-up (library or collection removal, unfollow, connection removal) deletes only what
/// exists when it is handled, so a removal arriving before its add deletes nothing; the 2-minute
/// activity window and the 3-second bundle compare an event with the ones handled before it; and
/// every rule reads Semble's state (follows, subscriptions, cards, collections, users, library
/// holders) as it is when the event is handled or the bundle flushed. So:
/// 1. for any stream, in a given arrival order, the tables do not depend on how the stream is cut
///    into batches, nor on redeliveries and replays: batched exactly equals one event at a time;
/// 2. where the rules are order-free — adds, follows and connection creations, no clean-ups, each
///    (card, actor)'s adds within a second of each other — any arrival order and any batching give
///    the same tables (up to the order of `collectionIds`, which is arrival order).
@Suite("Semble handlers: batching, redelivery and arrival order", .serialized, .tags(.integration))
struct BatchingPropertyTests {
    /// A random Semble world: users (one DID not a user), URL and note cards (via cards, Bluesky
    /// post and Semble collection page URLs, Margin memberships), OPEN and CLOSED collections,
    /// follows (some subscribed, random scopes), connections (URL ends, one CARD end).
    struct World {
        var users: [String]
        var cards: [String]
        var collections: [String]
        var connections: [String]
        /// The curator of each connection (a removal names it).
        var curators: [String]

        static func make(on db: SembleTestDatabase, random: inout SplitMix64) async throws -> World {
            let dids = (0..<6).map { "did:plc:u\($0)" }
            for did in dids.dropLast() { try await db.users(did) }
            func pick<T>(_ items: [T]) -> T { items[random.next(below: items.count)] }
            let collections = (0..<3).map { "k\($0)" }
            for (index, name) in collections.enumerated() {
                try await db.collection(name, by: pick(dids), open: index != 2)
            }
            let urls = [
                "https://example.com/a", "https://example.com/b", "https://bsky.app/profile/\(dids[1])/post/p1",
                "https://bsky.app/profile/\(dids[5])/post/p2", "https://semble.so/profile/\(dids[0])/collections/k0",
                "https://semble.so/profile/\(dids[2])/collections/k9",
            ]
            var cards: [String] = []
            for index in 0..<8 {
                let name = "card\(index)"
                let author = pick(dids)
                let via = index > 2 && random.next(below: 3) == 0 ? pick(cards) : nil
                if index == 7 {
                    try await db.card(name, by: author, via: via)
                } else {
                    try await db.card(name, by: author, url: pick(urls), urlType: pick(["article", "video", "link"]), via: via, margin: random.next(below: 4) == 0)
                }
                cards.append(name)
            }
            // The collection k0's page URL names k0 only if its author is dids[0]; either way is a case.
            let scopes = [["CARD"], ["CONNECTION"], ["COLLECTION_SAVED"], ["CARD", "CONNECTION", "COLLECTION_SAVED"]]
            var followed: Set<String> = []
            for _ in 0..<18 {
                let follower = pick(dids)
                let subscribed = random.next(below: 2) == 0 ? pick(scopes) : nil
                if random.next(below: 3) == 0 {
                    let collection = pick(collections)
                    guard followed.insert("\(follower) C \(collection)").inserted else { continue }
                    try await db.follow(follower, collection: collection, scopes: subscribed)
                } else {
                    let target = pick(dids)
                    guard followed.insert("\(follower) U \(target)").inserted else { continue }
                    try await db.follow(follower, user: target, scopes: subscribed)
                }
            }
            var connections: [String] = []
            var curators: [String] = []
            for index in 0..<4 {
                let name = "x\(index)"
                let curator = pick(dids)
                try await db.connection(name, by: curator, from: pick(urls), to: index == 3 ? "card:card0" : pick(urls))
                connections.append(name)
                curators.append(curator)
            }
            return World(users: dids, cards: cards, collections: collections, connections: connections, curators: curators)
        }

        /// `count` events of every kind, times moving on by 0–90 s (the windows are crossed both
        /// ways); clean-ups mostly undo something the stream did shortly before (so that a batch
        /// often holds both).
        func stream(_ count: Int, random: inout SplitMix64, cleanUps: Bool = true) -> [EventEnvelope] {
            func pick<T>(_ items: [T]) -> T { items[random.next(below: items.count)] }
            func id(_ name: String) -> String { SembleTestDatabase.uuid(name) }
            var events: [EventEnvelope] = []
            var seconds = 0
            typealias Add = (card: String, actor: String, collection: String?)
            typealias Follow = (follower: String, target: String, type: FollowTargetType)
            var added: [Add] = []
            var followed: [Follow] = []
            /// Whether a clean-up undoes one of the last things done (three times in four).
            func recent(_ n: Int) -> Bool { random.next(below: 4) != 0 && n > 0 }
            for index in 0..<count {
                seconds += pick([0, 0, 1, 2, 5, 30, 90])
                let e = "e\(index)"
                let (user, card, collection) = (pick(users), id(pick(cards)), id(pick(collections)))
                switch random.next(below: cleanUps ? 12 : 7) {
                case 0, 1:
                    added.append((card, user, nil))
                    events.append(SembleEvents.libraryAdd(e, card: card, by: user, at: seconds))
                case 2, 3:
                    added.append((card, user, collection))
                    events.append(SembleEvents.collectionAdd(e, card: card, to: collection, by: user, at: seconds))
                case 4:
                    let target = pick(users)
                    followed.append((user, target, .user))
                    events.append(SembleEvents.follow(e, user, follows: target, at: seconds))
                case 5:
                    followed.append((user, collection, .collection))
                    events.append(SembleEvents.follow(e, user, follows: collection, type: .collection, at: seconds))
                case 6:
                    events.append(SembleEvents.connectionCreated(e, connection: id(pick(connections)), by: user, at: seconds))
                case 7:
                    let undo = recent(added.count) ? added[added.count - 1 - random.next(below: min(3, added.count))] : Add(card, user, nil)
                    events.append(SembleEvents.libraryRemove(e, card: undo.card, by: undo.actor, at: seconds))
                case 8:
                    let withCollection = added.filter { $0.collection != nil }
                    let undo = recent(withCollection.count) ? withCollection[withCollection.count - 1] : Add(card, user, collection)
                    events.append(SembleEvents.collectionRemove(e, card: undo.card, from: undo.collection ?? collection, by: user, at: seconds))
                case 9:
                    let undo = recent(followed.count) ? followed[followed.count - 1 - random.next(below: min(3, followed.count))] : Follow(user, pick(users), .user)
                    events.append(SembleEvents.unfollow(e, undo.follower, unfollows: undo.target, type: undo.type, at: seconds))
                case 10:
                    let k = random.next(below: connections.count)
                    events.append(SembleEvents.connectionRemoved(e, connection: id(connections[k]), by: curators[k], at: seconds))
                default: events.append(SembleEvents.collectionCreated(e, collection: collection, by: user, at: seconds))
                }
            }
            return events
        }
    }

    /// Cuts `events` into random batches, each sometimes followed by a redelivery of an earlier
    /// batch (skipped by the inbox), and applies them.
    static func applyInRandomBatches(_ events: [EventEnvelope], on db: SembleTestDatabase, random: inout SplitMix64) async throws {
        var start = 0
        var batches: [[EventEnvelope]] = []
        while start < events.count {
            let size = 1 + random.next(below: 12)
            let batch = Array(events[start..<min(start + size, events.count)])
            try await db.applyBatch(batch)
            batches.append(batch)
            if random.next(below: 3) == 0 {
                try await db.applyBatch(batches[random.next(below: batches.count)])
            }
            start += size
        }
    }

    @Test("cut into any batches, with redeliveries, a stream leaves exactly the tables of one event at a time", arguments: [1, 2, 3, 4, 5])
    func batchingDoesNotMatter(seed: UInt64) async throws {
        try await SembleTestDatabase.with { db in
            var random = SplitMix64(seed: seed)
            let world = try await World.make(on: db, random: &random)
            let events = world.stream(80, random: &random)
            try await db.applyOneByOne(events)
            try await db.flushBundles()
            let oneByOne = try await db.snapshot()
            #expect(oneByOne.rowCount > 10, "the stream makes rows: \(oneByOne.dump)")

            try await db.truncate()
            try await Self.applyInRandomBatches(events, on: db, random: &random)
            try await db.flushBundles()
            let batched = try await db.snapshot()
            #expect(batched == oneByOne, "\(batched.difference(to: oneByOne))")
        }
    }

    /// The tables with `collectionIds` sorted (their order is the arrival order).
    static func orderFreeSnapshot(_ db: SembleTestDatabase) async throws -> Snapshot {
        func metadata(_ column: String) -> String {
            """
            (\(column) - 'collectionIds') || coalesce(jsonb_build_object('collectionIds',
                (SELECT jsonb_agg(x ORDER BY x) FROM jsonb_array_elements_text(\(column)->'collectionIds') x)), '{}')
            """
        }
        let activity = "concat_ws(' ', a.type, a.actor_id, a.card_id, a.connection_id, \(metadata("a.metadata"))::text, a.url_type, a.source, a.created_at::text)"
        return Snapshot(tables: [
            "feed_activities": try await db.lines("SELECT \(activity) FROM feed_activities a"),
            "following_feed_items": try await db.lines(
                "SELECT fi.user_id || ' <- ' || \(activity) FROM following_feed_items fi JOIN feed_activities a ON a.id = fi.activity_id"),
            "notifications": try await db.lines(
                "SELECT concat_ws(' ', type, recipient_user_id, actor_user_id, \(metadata("metadata"))::text) FROM notifications"),
        ])
    }

    @Test("adds, follows and connections without clean-ups, each card's adds within a second: any arrival order, the same tables", arguments: [11, 12, 13])
    func orderFreeWhereTheRulesAre(seed: UInt64) async throws {
        try await SembleTestDatabase.with { db in
            var random = SplitMix64(seed: seed)
            let world = try await World.make(on: db, random: &random)
            // Each (card, actor)'s adds at one time (the same addedAt, as one API call gives them);
            // different pairs far apart.
            var events: [EventEnvelope] = []
            var slots: [String: Int] = [:]
            func slot(_ key: String) -> Int {
                if let slot = slots[key] { return slot }
                slots[key] = slots.count + 1
                return slots.count
            }
            for (index, event) in world.stream(60, random: &random, cleanUps: false).enumerated() {
                let pairSeconds: Int
                switch event.event {
                case .cardAddedToLibrary(let add): pairSeconds = slot(add.cardId + " " + add.curatorId) * 300
                case .cardAddedToCollection(let add): pairSeconds = slot(add.cardId + " " + add.addedBy) * 300
                default: pairSeconds = index
                }
                let at = SembleEvents.at(pairSeconds)
                var moved = event
                moved.occurredAt = at
                switch event.event {
                case .cardAddedToLibrary(var add): add.addedAt = at; moved.event = .cardAddedToLibrary(add)
                case .cardAddedToCollection(var add): add.addedAt = at; moved.event = .cardAddedToCollection(add)
                default: break
                }
                events.append(moved)
            }
            try await db.applyOneByOne(events)
            try await db.flushBundles()
            let inOrder = try await Self.orderFreeSnapshot(db)
            #expect(inOrder.rowCount > 10)
            for _ in 0..<2 {
                try await db.truncate()
                var shuffled = events
                shuffled.shuffle(using: &random)
                try await Self.applyInRandomBatches(shuffled, on: db, random: &random)
                try await db.flushBundles()
                let other = try await Self.orderFreeSnapshot(db)
                #expect(other == inOrder, "\(other.difference(to: inOrder))")
            }
        }
    }
}
