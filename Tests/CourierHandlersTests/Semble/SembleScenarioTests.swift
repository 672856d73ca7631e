import CourierEvents
import CourierPostgres
import CourierTesting
import Foundation
import Testing

@testable import CourierHandlers

/// Semble's rules, scenario by scenario, against Semble's table shape in a real Postgres: the
/// state Semble's API leaves (``SembleWorld``), events applied as the runner applies them, pending
/// bundles flushed as courierd's flusher does. The scenarios of Semble's own tests
/// (semble-parity.md §5: the bundle recipient resolver, subscription bundles, connection dedup)
/// and the follows run twice: straight into the handlers, and through the real broker and the
/// engine (``Delivery``). Ids: DIDs `did:plc:<name>`; cards, collections and connections by
/// name (stored as ``SembleTestDatabase/uuid(_:)``).
@Suite("Semble's rules, scenario by scenario", .serialized, .tags(.integration))
struct SembleScenarioTests {
    static let alice = "did:plc:alice", bob = "did:plc:bob", carol = "did:plc:carol", dave = "did:plc:dave", erin = "did:plc:erin"
    static func id(_ name: String) -> String { SembleTestDatabase.uuid(name) }
    typealias E = SembleEvents

    // MARK: Card adds: bundles and their four handlers

    @Test("a via card notifies the via card's author once per bundle; a plain follower gets a feed item, no notification", arguments: Delivery.allCases)
    func viaCard(delivery: Delivery) async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob, carol) = (Self.alice, Self.bob, Self.carol)
            try await db.users(alice, bob, carol)
            try await db.card("original", by: alice, url: "https://example.com/a")
            try await db.card("copy", by: bob, url: "https://example.com/a", via: "original")
            try await db.collection("reading", by: bob)
            try await db.follow(carol, user: bob)  // not subscribed
            try await db.deliver([
                E.collectionAdd("e1", card: Self.id("copy"), to: Self.id("reading"), by: bob, at: 10),
                E.libraryAdd("e2", card: Self.id("copy"), by: bob, at: 10),
            ], delivery)
            #expect(try await db.notifications().isEmpty, "nothing before the bundle is flushed")
            #expect(try await db.flushBundles() == 1)
            let copy = Self.id("copy"), reading = Self.id("reading")
            #expect(
                try await db.notifications() == [
                    "USER_ADDED_YOUR_CARD to \(alice) by \(bob) {\"cardId\": \"\(copy)\", \"collectionIds\": [\"\(reading)\"]}"
                ])
            #expect(
                try await db.activities() == [
                    "CARD_COLLECTED \(bob) \(copy) @10 {\"cardId\": \"\(copy)\", \"collectionIds\": [\"\(reading)\"]} url_type=article"
                ])
            #expect(try await db.feedItems() == ["\(carol) <- CARD_COLLECTED \(bob) \(copy) @10"])
            #expect(try await db.flushBundles() == 0, "a bundle is flushed once")
        }
    }

    @Test("contribution to an OPEN collection notifies its author; to a CLOSED one nobody; subscribers once each, by precedence", arguments: Delivery.allCases)
    func contributionsAndSubscriptions(delivery: Delivery) async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob, carol, dave, erin) = (Self.alice, Self.bob, Self.carol, Self.dave, Self.erin)
            try await db.users(alice, bob, carol, dave, erin)
            try await db.card("c", by: bob, url: "https://example.com/c")
            try await db.collection("open", by: alice)
            try await db.collection("closed", by: erin, open: false)
            // carol: CARD subscriber of the open collection and of bob → the collection one only.
            try await db.follow(carol, collection: "open", scopes: ["CARD"])
            try await db.follow(carol, user: bob, scopes: ["CARD", "CONNECTION"])
            // dave: CARD subscriber of bob only; erin (CLOSED author): CARD subscriber of bob, not excluded.
            try await db.follow(dave, user: bob, scopes: ["CARD"])
            try await db.follow(erin, user: bob, scopes: ["CARD"])
            // alice, the open collection's author, subscribed to bob: excluded (she gets the contribution).
            try await db.follow(alice, user: bob, scopes: ["CARD"])
            let c = Self.id("c"), open = Self.id("open"), closed = Self.id("closed")
            try await db.deliver([
                E.libraryAdd("e1", card: c, by: bob, at: 10),
                E.collectionAdd("e2", card: c, to: open, by: bob, at: 11),
                E.collectionAdd("e3", card: c, to: closed, by: bob, at: 12),
            ], delivery)
            try await db.flushBundles()
            let both = "[\"\(open)\", \"\(closed)\"]"
            #expect(
                try await db.notifications() == [
                    "SUBSCRIBED_USER_ADDED_CARD to \(dave) by \(bob) {\"cardId\": \"\(c)\", \"collectionIds\": \(both)}",
                    "SUBSCRIBED_USER_ADDED_CARD to \(erin) by \(bob) {\"cardId\": \"\(c)\", \"collectionIds\": \(both)}",
                    "USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION to \(carol) by \(bob) {\"cardId\": \"\(c)\", \"collectionIds\": \(both)}",
                    "USER_ADDED_TO_YOUR_COLLECTION to \(alice) by \(bob) {\"cardId\": \"\(c)\", \"collectionIds\": [\"\(open)\"]}",
                ])
            #expect(try await db.activities().count == 1, "one activity: the library add and both collection adds within 2 minutes")
        }
    }

    @Test("URL mentions: a Bluesky post's author who is a user, a Semble collection page's author; handles and non-users get nothing", arguments: Delivery.allCases)
    func urlMentions(delivery: Delivery) async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob, carol) = (Self.alice, Self.bob, Self.carol)
            try await db.users(alice, bob)  // carol is not a Semble user
            try await db.collection("alices-list", by: alice)
            try await db.follow(carol, collection: "alices-list", scopes: ["COLLECTION_SAVED"])
            try await db.card("post", by: bob, url: "https://bsky.app/profile/\(alice)/post/3kabc")
            try await db.card("blacksky", by: bob, url: "https://blacksky.community/profile/\(carol)/post/3kdef")
            try await db.card("handle", by: bob, url: "https://bsky.app/profile/alice.bsky.social/post/3kghi")
            try await db.card("page", by: bob, url: "https://semble.so/profile/\(alice)/collections/alices-list")
            try await db.deliver(["post", "blacksky", "handle", "page"].enumerated().map { index, name in
                E.libraryAdd("e\(index)", card: Self.id(name), by: bob, at: 10 + index * 10)
            }, delivery)
            try await db.flushBundles()
            let post = Self.id("post"), page = Self.id("page")
            #expect(
                try await db.notifications() == [
                    "USER_ADDED_SUBSCRIBED_COLLECTION to \(carol) by \(bob) {\"cardId\": \"\(page)\"}",
                    "USER_ADDED_YOUR_BSKY_POST to \(alice) by \(bob) {\"cardId\": \"\(post)\"}",
                    "USER_ADDED_YOUR_COLLECTION to \(alice) by \(bob) {\"cardId\": \"\(page)\"}",
                ])
        }
    }

    @Test("nobody is notified of their own doing: own via card, own collection, own post, subscribed to oneself")
    func selfActions() async throws {
        try await SembleTestDatabase.with { db in
            let bob = Self.bob
            try await db.users(bob)
            try await db.card("mine", by: bob, url: "https://bsky.app/profile/\(bob)/post/1")
            try await db.card("again", by: bob, url: "https://example.com/x", via: "mine")
            try await db.collection("own", by: bob)
            try await db.follow(bob, user: bob, scopes: ["CARD"])
            try await db.follow(bob, collection: "own", scopes: ["CARD"])
            try await db.applyBatch([
                E.libraryAdd("e1", card: Self.id("mine"), by: bob, at: 10),
                E.libraryAdd("e2", card: Self.id("again"), by: bob, at: 20),
                E.collectionAdd("e3", card: Self.id("again"), to: Self.id("own"), by: bob, at: 21),
                E.follow("e4", bob, follows: bob, at: 30),
                E.follow("e5", bob, follows: Self.id("own"), type: .collection, at: 31),
            ])
            try await db.flushBundles()
            #expect(try await db.notifications().isEmpty)
        }
    }

    @Test("bundling is on event time: an add 3 s after the opener joins, one 4 s after opens a new bundle; both notify")
    func bundleWindow() async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob) = (Self.alice, Self.bob)
            try await db.users(alice, bob)
            try await db.card("c", by: bob, url: "https://example.com/c")
            try await db.collection("a", by: alice)
            try await db.collection("b", by: alice)
            try await db.collection("late", by: alice)
            let c = Self.id("c")
            try await db.applyBatch([
                E.libraryAdd("e1", card: c, by: bob, at: 100),
                E.collectionAdd("e2", card: c, to: Self.id("a"), by: bob, at: 103),
            ])
            // A backlog: the next adds arrive later, in another batch; their times decide.
            try await db.applyBatch([
                E.collectionAdd("e3", card: c, to: Self.id("b"), by: bob, at: 101),
                E.collectionAdd("e4", card: c, to: Self.id("late"), by: bob, at: 104),
            ])
            #expect(
                try await db.lines("SELECT bundle_id || ' ' || collection_ids::text FROM card_activity_bundles") == [
                    "e1 {\(Self.id("a")),\(Self.id("b"))}", "e4 {\(Self.id("late"))}",
                ])
            #expect(try await db.flushBundles() == 2)
            #expect(try await db.notifications().count == 3, "one contribution per collection, from two bundles")
        }
    }

    @Test("a library removal within the window drops the bundle: nothing is notified; after it, deletes the curator's notifications about the card")
    func libraryRemoval() async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob, carol) = (Self.alice, Self.bob, Self.carol)
            try await db.users(alice, bob, carol)
            try await db.card("c", by: bob, url: "https://example.com/c")
            try await db.collection("open", by: alice)
            try await db.follow(carol, user: bob, scopes: ["CARD"])
            let c = Self.id("c"), open = Self.id("open")
            try await db.applyBatch([E.libraryAdd("e1", card: c, by: bob, at: 10), E.collectionAdd("e2", card: c, to: open, by: bob, at: 10)])
            try await db.applyBatch([E.libraryRemove("e3", card: c, by: bob, at: 11)])
            #expect(try await db.flushBundles() == 0)
            #expect(try await db.notifications().isEmpty)

            try await db.applyBatch([E.libraryAdd("e4", card: c, by: bob, at: 20), E.collectionAdd("e5", card: c, to: open, by: bob, at: 20)])
            try await db.flushBundles()
            #expect(try await db.notifications().count == 2)
            let feedBefore = try await db.activities()
            try await db.applyBatch([E.libraryRemove("e6", card: c, by: bob, at: 30)])
            #expect(try await db.notifications().isEmpty, "every notification by bob about the card, any type, any recipient")
            #expect(try await db.activities() == feedBefore, "no feed row is deleted")
        }
    }

    @Test("a collection removal deletes the collection-scoped notifications naming it, by anyone; the subscribed-user one stays")
    func collectionRemoval() async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob, carol, dave) = (Self.alice, Self.bob, Self.carol, Self.dave)
            try await db.users(alice, bob, carol, dave)
            try await db.card("c", by: bob, url: "https://example.com/c")
            try await db.collection("open", by: alice)
            try await db.follow(carol, collection: "open", scopes: ["CARD"])
            try await db.follow(dave, user: bob, scopes: ["CARD"])
            let c = Self.id("c"), open = Self.id("open")
            try await db.applyBatch([E.libraryAdd("e1", card: c, by: bob, at: 10), E.collectionAdd("e2", card: c, to: open, by: bob, at: 10)])
            try await db.flushBundles()
            #expect(try await db.notifications().count == 3)
            // Removed by alice (the author), not bob: Semble's clean-up does not look at the actor.
            try await db.applyBatch([E.collectionRemove("e3", card: c, from: open, by: alice, at: 20)])
            #expect(try await db.notifications() == ["SUBSCRIBED_USER_ADDED_CARD to \(dave) by \(bob) {\"cardId\": \"\(c)\", \"collectionIds\": [\"\(open)\"]}"])
        }
    }

    // MARK: Feed

    @Test("the 2-minute window: a collection add 1 min after a library add merges; a library add 3 min after makes a second activity")
    func activityWindow() async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob, carol) = (Self.alice, Self.bob, Self.carol)
            try await db.users(alice, bob, carol)
            try await db.card("c", by: bob, url: "https://example.com/c", urlType: "video", margin: true)
            try await db.collection("k1", by: bob)
            try await db.collection("k2", by: bob)
            try await db.follow(carol, collection: "k2")
            let c = Self.id("c"), k1 = Self.id("k1"), k2 = Self.id("k2")
            try await db.applyOneByOne([
                E.libraryAdd("e1", card: c, by: bob, at: 0),
                E.collectionAdd("e2", card: c, to: k1, by: bob, at: 60),
                E.collectionAdd("e3", card: c, to: k1, by: bob, at: 61),
                E.libraryAdd("e4", card: c, by: bob, at: 180),
                E.collectionAdd("e5", card: c, to: k2, by: bob, at: 200),
            ])
            #expect(
                try await db.activities() == [
                    "CARD_COLLECTED \(bob) \(c) @0 {\"cardId\": \"\(c)\", \"collectionIds\": [\"\(k1)\"]} url_type=video source=margin",
                    "CARD_COLLECTED \(bob) \(c) @180 {\"cardId\": \"\(c)\", \"collectionIds\": [\"\(k2)\"]} url_type=video source=margin",
                ])
            #expect(try await db.feedItems() == ["\(carol) <- CARD_COLLECTED \(bob) \(c) @180"], "k2's follower, for the add to k2")
        }
    }

    @Test("a collection add published before its library add gives one activity, in either arrival order")
    func collectionBeforeLibrary() async throws {
        for order in [[0, 1], [1, 0]] {
            try await SembleTestDatabase.with { db in
                try await db.users(Self.bob)
                try await db.card("c", by: Self.bob, url: "https://example.com/c")
                try await db.collection("k", by: Self.bob)
                let c = Self.id("c"), k = Self.id("k")
                let events = [
                    E.collectionAdd("e1", card: c, to: k, by: Self.bob, at: 10),
                    E.libraryAdd("e2", card: c, by: Self.bob, at: 10),
                ]
                try await db.applyOneByOne(order.map { events[$0] })
                let activities = try await db.activities()
                #expect(activities.count == 1)
                #expect(activities.first?.contains("\"collectionIds\": [\"\(k)\"]") == true, "\(activities)")
            }
        }
    }

    @Test("a historical import (addedAt months back) never merges, and the activity keeps the record's time")
    func historicalImport() async throws {
        try await SembleTestDatabase.with { db in
            try await db.users(Self.bob)
            try await db.card("c", by: Self.bob, url: "https://example.com/c")
            let c = Self.id("c")
            try await db.applyOneByOne([
                E.libraryAdd("e1", card: c, by: Self.bob, at: 1000, addedAt: -90 * 86400),
                E.libraryAdd("e2", card: c, by: Self.bob, at: 1001, addedAt: -90 * 86400),
            ])
            #expect(try await db.activities().map { $0.contains("@-7776000") } == [true, true])
        }
    }

    @Test("connections: an activity fanned out to the curator's followers; follows, unfollows and removals change no feed row")
    func connectionFeed() async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob) = (Self.alice, Self.bob)
            try await db.users(alice, bob)
            try await db.follow(alice, user: bob)
            try await db.connection("x", by: bob, from: "https://a.example", to: "https://b.example")
            let x = Self.id("x")
            try await db.applyBatch([E.connectionCreated("e1", connection: x, by: bob, at: 5)])
            #expect(try await db.activities() == ["CONNECTION_CREATED \(bob) \(x) @5 {\"connectionId\": \"\(x)\"}"])
            #expect(try await db.feedItems() == ["\(alice) <- CONNECTION_CREATED \(bob) \(x) @5"])
            try await db.applyBatch([
                E.unfollow("e2", alice, unfollows: bob, at: 6), E.connectionRemoved("e3", connection: x, by: bob, at: 7),
                E.collectionCreated("e4", collection: Self.id("k"), by: bob, at: 8),
            ])
            #expect(try await db.feedItems() == ["\(alice) <- CONNECTION_CREATED \(bob) \(x) @5"])
        }
    }

    // MARK: Follows

    @Test("follows notify the user or the collection's author; an unfollow deletes it; in one batch, the order decides", arguments: Delivery.allCases)
    func follows(delivery: Delivery) async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob, carol) = (Self.alice, Self.bob, Self.carol)
            try await db.collection("k", by: alice)
            let k = Self.id("k")
            try await db.deliver([
                E.follow("e1", bob, follows: alice, at: 1),
                E.follow("e2", bob, follows: k, type: .collection, at: 2),
                E.follow("e3", carol, follows: Self.id("nowhere"), type: .collection, at: 3),
            ], delivery)
            #expect(
                try await db.notifications() == [
                    "USER_FOLLOWED_YOU to \(alice) by \(bob) {\"targetType\": \"USER\"}",
                    "USER_FOLLOWED_YOUR_COLLECTION to \(alice) by \(bob) {\"targetId\": \"\(k)\", \"targetType\": \"COLLECTION\"}",
                ])
            try await db.deliver([E.unfollow("e4", bob, unfollows: k, type: .collection, at: 4)], delivery)
            #expect(try await db.notifications() == ["USER_FOLLOWED_YOU to \(alice) by \(bob) {\"targetType\": \"USER\"}"])
            // Within one batch: follow then unfollow leaves nothing; unfollow then follow leaves the follow's.
            try await db.deliver([
                E.follow("e5", carol, follows: alice, at: 5), E.unfollow("e6", carol, unfollows: alice, at: 6),
                E.unfollow("e7", bob, unfollows: alice, at: 7), E.follow("e8", bob, follows: alice, at: 8),
            ], delivery)
            #expect(try await db.notifications() == ["USER_FOLLOWED_YOU to \(alice) by \(bob) {\"targetType\": \"USER\"}"])
        }
    }

    // MARK: Connections (Semble's ConnectionCreatedEventHandler.dedup tests, and more)

    @Test("a library holder who also subscribes to the curator's connections gets one USER_CONNECTED_YOUR_URL and nothing else", arguments: Delivery.allCases)
    func connectionDedup(delivery: Delivery) async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob) = (Self.alice, Self.bob)
            try await db.users(alice, bob)
            try await db.card("held", by: bob, url: "https://a.example")
            try await db.follow(bob, user: alice, scopes: ["CONNECTION"])
            try await db.connection("x", by: alice, from: "https://a.example", to: "https://b.example")
            let x = Self.id("x")
            try await db.deliver([E.connectionCreated("e1", connection: x, by: alice, at: 1)], delivery)
            #expect(try await db.notifications() == ["USER_CONNECTED_YOUR_URL to \(bob) by \(alice) {\"connectionId\": \"\(x)\"}"])
        }
    }

    @Test("no library holders, one CONNECTION subscriber: SUBSCRIBED_USER_MADE_CONNECTION by the curator; a CARD end: nothing at all", arguments: Delivery.allCases)
    func connectionSubscriber(delivery: Delivery) async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob) = (Self.alice, Self.bob)
            try await db.users(alice, bob)
            try await db.follow(bob, user: alice, scopes: ["CONNECTION"])
            try await db.card("c", by: alice)
            try await db.connection("x", by: alice, from: "https://a.example", to: "https://b.example")
            try await db.connection("y", by: alice, from: "https://a.example", to: "card:c")
            try await db.deliver([
                E.connectionCreated("e1", connection: Self.id("x"), by: alice, at: 1),
                E.connectionCreated("e2", connection: Self.id("y"), by: alice, at: 2),
                E.connectionCreated("e3", connection: Self.id("missing"), by: alice, at: 3),
            ], delivery)
            #expect(try await db.notifications() == ["SUBSCRIBED_USER_MADE_CONNECTION to \(bob) by \(alice) {\"connectionId\": \"\(Self.id("x"))\"}"])
        }
    }

    @Test("connection owners: a post's author, a collection's author (two sides, two notifications); its CONNECTION subscribers; removal deletes", arguments: Delivery.allCases)
    func connectionOwners(delivery: Delivery) async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob, carol, dave) = (Self.alice, Self.bob, Self.carol, Self.dave)
            try await db.users(alice, bob, carol, dave)
            try await db.collection("list", by: bob)
            try await db.follow(carol, collection: "list", scopes: ["CONNECTION"])
            try await db.follow(dave, user: alice, scopes: ["CONNECTION"])
            try await db.follow(carol, user: alice, scopes: ["CONNECTION"])
            try await db.connection(
                "x", by: alice, from: "https://bsky.app/profile/\(bob)/post/1", to: "https://semble.so/profile/\(bob)/collections/list")
            let x = Self.id("x")
            try await db.deliver([E.connectionCreated("e1", connection: x, by: alice, at: 1)], delivery)
            let metadata = "{\"connectionId\": \"\(x)\"}"
            #expect(
                try await db.notifications() == [
                    "SUBSCRIBED_USER_MADE_CONNECTION to \(dave) by \(alice) \(metadata)",
                    "USER_CONNECTED_SUBSCRIBED_COLLECTION to \(carol) by \(alice) \(metadata)",
                    "USER_CONNECTED_YOUR_COLLECTION to \(bob) by \(alice) \(metadata)",
                    "USER_CONNECTED_YOUR_POST to \(bob) by \(alice) \(metadata)",
                ])
            try await db.deliver([E.connectionRemoved("e2", connection: x, by: alice, at: 2)], delivery)
            #expect(try await db.notifications().isEmpty)
        }
    }

    // MARK: Exactly once

    @Test("a redelivered or replayed event changes nothing; a bundle survives between transactions (a crash) and is flushed once")
    func exactlyOnce() async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob) = (Self.alice, Self.bob)
            try await db.users(alice, bob)
            try await db.card("original", by: alice, url: "https://example.com/a")
            try await db.card("copy", by: bob, url: "https://example.com/a", via: "original")
            try await db.follow(alice, user: bob)
            let events = [E.libraryAdd("e1", card: Self.id("copy"), by: bob, at: 10), E.follow("e2", bob, follows: alice, at: 11)]
            try await db.applyBatch(events)
            let before = try await db.snapshot()
            try await db.applyBatch(events)
            try await db.applyOneByOne(events)
            #expect(try await db.snapshot() == before)
            // Two flushers at once (two courierd): the bundle's notification is written once.
            async let first = BundleFlusher(pool: db.pool, logger: .init(label: "a")).flush(everything: true)
            async let second = BundleFlusher(pool: db.pool, logger: .init(label: "b")).flush(everything: true)
            let flushed = try await first.flushed + second.flushed
            #expect(flushed == 1)
            #expect(try await db.notifications().filter { $0.hasPrefix("USER_ADDED_YOUR_CARD") }.count == 1)
        }
    }

    @Test("a bundle a batch holds is left for the next flush: the batch's join is never lost, nothing is flushed twice")
    func flushSkipsHeldBundles() async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob) = (Self.alice, Self.bob)
            try await db.users(alice, bob)
            try await db.card("c", by: bob, url: "https://example.com/c")
            try await db.collection("k", by: alice)
            let c = Self.id("c")
            try await db.applyBatch([E.libraryAdd("e1", card: c, by: bob, at: 10)])
            // A batch of the notifications handler is joining the bundle (it holds its row) while
            // a flush runs: the flush skips it; once the batch commits the next flush has the join.
            let flushedMeanwhile = try await db.connection.withTransaction { transaction in
                let held = try BundleStore.pending(cardIDs: [c], actorIDs: [bob], on: transaction)
                #expect(held.map(\.id) == ["e1"])
                return try await BundleFlusher(pool: db.pool, logger: .init(label: "t")).flush(everything: true).flushed
            }
            #expect(flushedMeanwhile == 0)
            try await db.applyBatch([E.collectionAdd("e2", card: c, to: Self.id("k"), by: bob, at: 11)])
            #expect(try await db.flushBundles() == 1)
            #expect(try await db.notifications() == [
                "USER_ADDED_TO_YOUR_COLLECTION to \(alice) by \(bob) {\"cardId\": \"\(c)\", \"collectionIds\": [\"\(Self.id("k"))\"]}"
            ])
        }
    }

    @Test("a bundle whose flush fails is kept with its error and tried again later; the others are flushed meanwhile")
    func poisonBundle() async throws {
        try await SembleTestDatabase.with { db in
            let (alice, bob, carol) = (Self.alice, Self.bob, Self.carol)
            try await db.users(alice, bob, carol)
            try await db.collection("ka", by: alice)
            try await db.collection("kc", by: carol)
            try await db.card("c", by: bob, url: "https://example.com/c")
            // Postgres refuses any notification to carol (a stand-in for whatever a bundle could
            // hit that the others do not).
            try await db.connection.executeTrustedScript(
                """
                CREATE FUNCTION \(db.schema).refuse_carol() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.recipient_user_id = '\(carol)' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
                CREATE TRIGGER refuse_carol BEFORE INSERT ON \(db.schema).notifications FOR EACH ROW EXECUTE FUNCTION \(db.schema).refuse_carol();
                """)
            let c = Self.id("c")
            try await db.applyBatch([
                E.collectionAdd("e1", card: c, to: Self.id("ka"), by: bob, at: 10),
                E.collectionAdd("e2", card: c, to: Self.id("kc"), by: bob, at: 100),
            ])
            let flush = try await BundleFlusher(pool: db.pool, logger: .init(label: "t")).flush(everything: true)
            #expect(flush.flushed == 1 && flush.failed == 1)
            #expect(try await db.notifications().count == 1, "alice's went out")
            #expect(
                try await db.lines("SELECT bundle_id || ' ' || attempts || ' ' || (last_error LIKE '%refused%') FROM card_activity_bundles")
                    == ["e2 1 true"])
            #expect(try await db.scalar(Bool.self, "SELECT due_at > clock_timestamp() FROM card_activity_bundles"), "not due again at once")
            try await db.connection.execute("DROP TRIGGER refuse_carol ON \(db.schema).notifications")
            #expect(try await db.flushBundles() == 1)
            #expect(try await db.notifications().count == 2)
        }
    }

    @Test("a bundle is due 3 s after it opened, on the database's clock; the flusher leaves it until then")
    func dueTime() async throws {
        try await SembleTestDatabase.with { db in
            try await db.users(Self.bob)
            try await db.card("c", by: Self.bob, url: "https://example.com/c")
            try await db.applyBatch([E.libraryAdd("e1", card: Self.id("c"), by: Self.bob, at: 10)])
            let flush = try await BundleFlusher(pool: db.pool, logger: .init(label: "t")).flush()
            #expect(flush.flushed == 0)
            let next = try #require(flush.nextDue)
            #expect(next > .zero && next <= .seconds(3))
            #expect(try await db.scalar(Bool.self, "SELECT due_at - clock_timestamp() <= interval '3 s' FROM card_activity_bundles"))
        }
    }
}
