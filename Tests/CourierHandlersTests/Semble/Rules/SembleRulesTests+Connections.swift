import Foundation
import Testing

@testable import CourierHandlers

/// Scenarios Semble leaves untested: the connection rules (semble-parity.md §3.2
/// "ConnectionCreated"), the bundling of adds (``BundleBook``) and the feed plan beyond the
/// repository's window cases.
extension SembleRulesTests {
    @Suite("Connection notifications")
    struct ConnectionScenarios {
        typealias Fx = RulesFx
        static let curator = "did:plc:curator"
        static let article = "https://example.com/article"
        static let other = "https://example.com/other"

        @Test("a post URL whose author is a user: USER_CONNECTED_YOUR_POST; as a holder of it they get nothing more")
        func postOwner() {
            var world = RulesWorld()
            world.users(Fx.alice)
            world.connect(by: Self.curator, source: Fx.post(Fx.alice), target: Self.article)
            world.hold(Fx.post(Fx.alice), by: Fx.alice)
            world.subscribe(Fx.alice, to: Self.curator, "USER", scope: "CONNECTION")
            #expect(world.connectionNotifications() == [Fx.connected(.userConnectedYourPost, to: Fx.alice, by: Self.curator)])
        }

        @Test("the target side, and a Blacksky post, count as well")
        func postOwnerOnTarget() {
            var world = RulesWorld()
            world.users(Fx.alice)
            world.connect(by: Self.curator, source: Self.article, target: Fx.post(Fx.alice, host: "https://blacksky.community"))
            #expect(world.connectionNotifications() == [Fx.connected(.userConnectedYourPost, to: Fx.alice, by: Self.curator)])
        }

        @Test("a post whose author is not a user: no owner notification, so holding the URL they get USER_CONNECTED_YOUR_URL")
        func postOwnerNotAUser() {
            var world = RulesWorld()
            world.connect(by: Self.curator, source: Fx.post(Fx.alice), target: Self.article)
            world.hold(Fx.post(Fx.alice), by: Fx.alice)
            #expect(world.connectionNotifications() == [Fx.connected(.userConnectedYourURL, to: Fx.alice, by: Self.curator)])
        }

        @Test("connecting one's own post: no owner notification")
        func ownPost() {
            var world = RulesWorld()
            world.users(Self.curator)
            world.connect(by: Self.curator, source: Fx.post(Self.curator), target: Self.article)
            world.hold(Fx.post(Self.curator), by: Self.curator)
            #expect(world.connectionNotifications().isEmpty)
        }

        @Test("a handle in the post URL: nothing for the owner (no resolution)")
        func postByHandle() {
            var world = RulesWorld()
            world.users(Fx.alice)
            world.connect(by: Self.curator, source: Fx.post("alice.bsky.social"), target: Self.article)
            #expect(world.connectionNotifications().isEmpty)
        }

        @Test("the same owner on both sides gets two USER_CONNECTED_YOUR_POST")
        func sameOwnerBothSides() {
            var world = RulesWorld()
            world.users(Fx.alice)
            world.connect(by: Self.curator, source: Fx.post(Fx.alice, "3kone"), target: Fx.post(Fx.alice, "3ktwo"))
            world.hold(Fx.post(Fx.alice, "3kone"), by: Fx.alice)
            #expect(
                world.connectionNotifications() == [
                    Fx.connected(.userConnectedYourPost, to: Fx.alice, by: Self.curator),
                    Fx.connected(.userConnectedYourPost, to: Fx.alice, by: Self.curator),
                ])
        }

        @Test("a Semble collection's page: USER_CONNECTED_YOUR_COLLECTION to its author when a user")
        func collectionOwner() {
            var world = RulesWorld()
            world.users(Fx.alice)
            world.collection(Fx.pagedCollection, by: Fx.alice, rkey: "3kcoll")
            world.connect(by: Self.curator, source: Self.article, target: Fx.page(Fx.alice, "3kcoll"))
            #expect(world.connectionNotifications() == [Fx.connected(.userConnectedYourCollection, to: Fx.alice, by: Self.curator)])
        }

        @Test("library holders of either URL, but the curator and the owners: USER_CONNECTED_YOUR_URL once each")
        func holders() {
            var world = RulesWorld()
            world.users(Fx.alice)
            world.connect(by: Self.curator, source: Self.article, target: Fx.post(Fx.alice))
            world.hold(Self.article, by: Fx.bob, Self.curator, Fx.carol, Fx.alice)
            world.hold(Fx.post(Fx.alice), by: Fx.bob, Fx.dave, Fx.alice, Self.curator)
            #expect(
                world.connectionNotifications() == [
                    Fx.connected(.userConnectedYourPost, to: Fx.alice, by: Self.curator),
                    Fx.connected(.userConnectedYourURL, to: Fx.bob, by: Self.curator),
                    Fx.connected(.userConnectedYourURL, to: Fx.carol, by: Self.curator),
                    Fx.connected(.userConnectedYourURL, to: Fx.dave, by: Self.curator),
                ])
        }

        @Test("a holder whose id is not a DID gets nothing, and is still left out of the subscription notifications")
        func holderNotADID() {
            var world = RulesWorld()
            world.connect(by: Self.curator, source: Self.article, target: Self.other)
            world.hold(Self.article, by: "did:plc:bo_b")
            world.subscribe("did:plc:bo_b", to: Self.curator, "USER", scope: "CONNECTION")
            #expect(world.connectionNotifications().isEmpty)
        }

        @Test("a collection's CONNECTION subscribers get USER_CONNECTED_SUBSCRIBED_COLLECTION, not its author nor those already notified")
        func collectionSubscribers() {
            var world = RulesWorld()
            world.users(Fx.alice)
            world.collection(Fx.pagedCollection, by: Fx.alice, rkey: "3kcoll")
            world.connect(by: Self.curator, source: Fx.page(Fx.alice, "3kcoll"), target: Self.article)
            world.hold(Self.article, by: Fx.bob)
            for who in [Fx.alice, Fx.bob, Fx.carol, Self.curator] {
                world.subscribe(who, to: Fx.pagedCollection, "COLLECTION", scope: "CONNECTION")
            }
            for who in [Fx.alice, Fx.bob, Fx.carol, Fx.dave] { world.subscribe(who, to: Self.curator, "USER", scope: "CONNECTION") }
            world.subscribe(Fx.erin, to: Fx.pagedCollection, "COLLECTION", scope: "CARD")
            world.subscribe(Fx.frank, to: Self.curator, "USER", scope: "CARD")
            #expect(
                world.connectionNotifications() == [
                    Fx.connected(.subscribedUserMadeConnection, to: Fx.dave, by: Self.curator),
                    Fx.connected(.userConnectedSubscribedCollection, to: Fx.carol, by: Self.curator),
                    Fx.connected(.userConnectedYourCollection, to: Fx.alice, by: Self.curator),
                    Fx.connected(.userConnectedYourURL, to: Fx.bob, by: Self.curator),
                ])
        }

        @Test("a collection author who is not a user is left out of its collection's pass only: as the curator's subscriber they are notified")
        func collectionAuthorNotAUser() {
            var world = RulesWorld()
            world.collection(Fx.pagedCollection, by: Fx.alice, rkey: "3kcoll")
            world.connect(by: Self.curator, source: Self.article, target: Fx.page(Fx.alice, "3kcoll"))
            world.subscribe(Fx.alice, to: Fx.pagedCollection, "COLLECTION", scope: "CONNECTION")
            world.subscribe(Fx.alice, to: Self.curator, "USER", scope: "CONNECTION")
            #expect(world.connectionNotifications() == [Fx.connected(.subscribedUserMadeConnection, to: Fx.alice, by: Self.curator)])
        }

        @Test("both sides pages of Semble collections: each collection's subscribers, each recipient once")
        func twoCollections() {
            var world = RulesWorld()
            world.collection(Fx.pagedCollection, by: Fx.alice, rkey: "3kone")
            world.collection(Fx.openCollection, by: Fx.bob, rkey: "3ktwo")
            world.connect(by: Self.curator, source: Fx.page(Fx.alice, "3kone"), target: Fx.page(Fx.bob, "3ktwo"))
            world.subscribe(Fx.carol, to: Fx.pagedCollection, "COLLECTION", scope: "CONNECTION")
            world.subscribe(Fx.carol, to: Fx.openCollection, "COLLECTION", scope: "CONNECTION")
            world.subscribe(Fx.dave, to: Fx.openCollection, "COLLECTION", scope: "CONNECTION")
            #expect(
                world.connectionNotifications() == [
                    Fx.connected(.userConnectedSubscribedCollection, to: Fx.carol, by: Self.curator),
                    Fx.connected(.userConnectedSubscribedCollection, to: Fx.dave, by: Self.curator),
                ])
        }

        @Test("the curator's CONNECTION subscribers: SUBSCRIBED_USER_MADE_CONNECTION, never the curator")
        func curatorSubscribers() {
            var world = RulesWorld()
            world.connect(by: Self.curator, source: Self.article, target: Self.other)
            world.subscribe(Fx.bob, to: Self.curator, "USER", scope: "CONNECTION")
            world.subscribe(Self.curator, to: Self.curator, "USER", scope: "CONNECTION")
            world.subscribe(Fx.bob, to: Self.curator, "USER", scope: "CONNECTION")
            #expect(world.connectionNotifications() == [Fx.connected(.subscribedUserMadeConnection, to: Fx.bob, by: Self.curator)])
        }

        @Test("a CARD endpoint on either side: nothing at all", arguments: [("CARD", "URL"), ("URL", "CARD"), ("CARD", "CARD")])
        func cardEndpoint(sourceType: String, targetType: String) {
            var world = RulesWorld()
            world.users(Fx.alice)
            let source = sourceType == "URL" ? Fx.post(Fx.alice) : Fx.card
            let target = targetType == "URL" ? Self.article : Fx.otherCard
            world.connect(by: Self.curator, source: source, target: target, sourceType: sourceType, targetType: targetType)
            world.hold(Self.article, by: Fx.bob)
            world.hold(Fx.post(Fx.alice), by: Fx.bob)
            world.subscribe(Fx.carol, to: Self.curator, "USER", scope: "CONNECTION")
            #expect(world.connectionNotifications().isEmpty)
        }

        @Test("a connection not in the table, or an id that is no UUID: nothing")
        func missingConnection() {
            var world = RulesWorld()
            world.connect(by: Self.curator, source: Self.article, target: Self.other)
            world.subscribe(Fx.bob, to: Self.curator, "USER", scope: "CONNECTION")
            #expect(world.connectionNotifications("dddddddd-0000-4000-8000-00000000000d").isEmpty)
            #expect(world.connectionNotifications("conn-1").isEmpty)
        }

        @Test("the connection is found whatever the id's case; the metadata keeps the id as the event sent it")
        func connectionIDAsSent() {
            var world = RulesWorld()
            world.connect(by: Self.curator, source: Self.article, target: Self.other)
            world.subscribe(Fx.bob, to: Self.curator, "USER", scope: "CONNECTION")
            let upper = Fx.connection.uppercased()
            #expect(
                world.connectionNotifications(upper) == [
                    Fx.connected(.subscribedUserMadeConnection, to: Fx.bob, by: Self.curator, connection: upper)
                ])
        }
    }

    @Suite("Bundling adds")
    struct BundleBookScenarios {
        typealias Fx = RulesFx

        static func add(
            _ eventID: String, at offset: TimeInterval, collection: String? = nil, card: String = Fx.card, actor: String = Fx.actor
        ) -> CardAdd {
            CardAdd(eventID: eventID, cardID: card, actorID: actor, collectionID: collection, occurredAt: Fx.t0.addingTimeInterval(offset))
        }

        static func book(_ pending: [CardActivityBundle] = []) -> BundleBook {
            BundleBook(pending: pending, window: Fx.bundleWindow)
        }

        @Test("an add 3.0 s after the opener joins; 3.001 s after opens a new bundle")
        func windowEdge() {
            var book = Self.book()
            book.add(Self.add("e1", at: 0))
            book.add(Self.add("e2", at: 3.0, collection: Fx.openCollection))
            book.add(Self.add("e3", at: 3.001, collection: Fx.openCollection2))
            #expect(
                book.written == [
                    CardActivityBundle(
                        id: "e1", cardID: Fx.card, actorID: Fx.actor, openedAt: Fx.t0, collectionIDs: [Fx.openCollection], hasLibraryEvent: true),
                    CardActivityBundle(
                        id: "e3", cardID: Fx.card, actorID: Fx.actor, openedAt: Fx.t0.addingTimeInterval(3.001), collectionIDs: [Fx.openCollection2],
                        hasLibraryEvent: false),
                ])
        }

        @Test("an add timestamped before the opener joins it")
        func earlierJoins() {
            var book = Self.book()
            book.add(Self.add("e1", at: 0, collection: Fx.openCollection))
            book.add(Self.add("e2", at: -10))
            #expect(
                book.written == [
                    CardActivityBundle(
                        id: "e1", cardID: Fx.card, actorID: Fx.actor, openedAt: Fx.t0, collectionIDs: [Fx.openCollection], hasLibraryEvent: true)
                ])
        }

        @Test("collection ids are kept once, in the order the adds joined")
        func collectionOrder() {
            var book = Self.book()
            book.add(Self.add("e1", at: 0, collection: Fx.openCollection2))
            book.add(Self.add("e2", at: 1, collection: Fx.openCollection))
            book.add(Self.add("e3", at: 2, collection: Fx.openCollection2))
            book.add(Self.add("e4", at: 0.5, collection: Fx.closedCollection))
            #expect(book.written.map(\.collectionIDs) == [[Fx.openCollection2, Fx.openCollection, Fx.closedCollection]])
            #expect(book.written.map(\.hasLibraryEvent) == [false])
        }

        @Test("another actor or another card: a bundle of its own")
        func keyedByCardAndActor() {
            var book = Self.book()
            book.add(Self.add("e1", at: 0))
            book.add(Self.add("e2", at: 1, actor: Fx.bob))
            book.add(Self.add("e3", at: 1, card: Fx.otherCard))
            #expect(book.written.map(\.id) == ["e1", "e2", "e3"])
        }

        @Test("a pending bundle read from the table is joined and written; an untouched one is not")
        func storedBundles() {
            let stored = CardActivityBundle(
                id: "s1", cardID: Fx.card, actorID: Fx.actor, openedAt: Fx.t0, collectionIDs: [Fx.openCollection], hasLibraryEvent: false)
            let untouched = CardActivityBundle(
                id: "s2", cardID: Fx.otherCard, actorID: Fx.actor, openedAt: Fx.t0, collectionIDs: [], hasLibraryEvent: true)
            var book = Self.book([stored, untouched])
            book.add(Self.add("e1", at: 2.5, collection: Fx.openCollection))
            book.add(Self.add("e2", at: 2.9))
            var joined = stored
            joined.hasLibraryEvent = true
            #expect(book.written == [joined])
            #expect(book.dropped.isEmpty)
        }

        @Test("a library removal drops the (card, actor)'s pending bundles, stored or new, and nothing else")
        func removal() {
            let stored = CardActivityBundle(
                id: "s1", cardID: Fx.card, actorID: Fx.actor, openedAt: Fx.t0, collectionIDs: [Fx.openCollection], hasLibraryEvent: false)
            var book = Self.book([stored])
            book.add(Self.add("e1", at: 10))
            book.add(Self.add("e2", at: 1, actor: Fx.bob))
            book.removeFromLibrary(cardID: Fx.card, actorID: Fx.actor)
            #expect(book.written.map(\.id) == ["e2"])
            #expect(book.dropped == ["s1"])
            #expect(book.bundles.keys.sorted() == ["e2"])

            book.add(Self.add("e3", at: 11, collection: Fx.openCollection2))
            #expect(book.written.map(\.id) == ["e2", "e3"])
            #expect(book.bundles["e3"]?.collectionIDs == [Fx.openCollection2])
        }
    }

    @Suite("Feed plan")
    struct FeedPlanScenarios {
        typealias Fx = RulesFx
        typealias Window = SembleRulesTests.FeedWindowScenarios

        @Test("a new activity: created at addedAt, collectionIds only for a collection add, url_type and source from the card")
        func newActivities() {
            let facts: [CardActorKey: FeedRules.CardFacts] = [Window.key(): .init(urlType: "video", source: "margin")]
            var made = 0
            let plan = FeedRules.plan(
                [Window.add(at: 0, addedAt: -3600), Window.add(card: Fx.otherCard, collection: Fx.openCollection, at: 1)], newest: [:], facts: facts,
                window: Fx.reuseWindow
            ) {
                made += 1
                return "new-\(made)"
            }
            #expect(
                plan.inserts == [
                    .init(
                        id: "new-1", actorID: Fx.actor, cardID: Fx.card, createdAt: Fx.t0.addingTimeInterval(-3600), collectionIDs: nil, urlType: "video",
                        source: "margin"),
                    .init(
                        id: "new-2", actorID: Fx.actor, cardID: Fx.otherCard, createdAt: Fx.t0.addingTimeInterval(1), collectionIDs: [Fx.openCollection],
                        urlType: nil, source: nil),
                ])
            #expect(
                plan.fanOuts == [
                    .init(activityID: "new-1", createdAt: Fx.t0.addingTimeInterval(-3600), actorID: Fx.actor, collectionID: nil),
                    .init(activityID: "new-2", createdAt: Fx.t0.addingTimeInterval(1), actorID: Fx.actor, collectionID: Fx.openCollection),
                ])
        }

        @Test("collection adds then the library add, in one batch: one activity; each add fans out with its own collection")
        func oneActivityPerBurst() {
            let plan = Window.plan(
                [Window.add(collection: Fx.openCollection, at: 0), Window.add(collection: Fx.openCollection2, at: 0.1), Window.add(at: 0.2)], newest: [:])
            #expect(plan.inserts.map(\.collectionIDs) == [[Fx.openCollection, Fx.openCollection2]])
            #expect(plan.updates.isEmpty)
            #expect(plan.fanOuts.map(\.collectionID) == [Fx.openCollection, Fx.openCollection2, nil])
            #expect(Set(plan.fanOuts.map(\.activityID)) == ["new-1"])
        }

        @Test("the window's edge: created exactly 2 minutes before the add is reused, a millisecond more is not")
        func windowEdge() {
            let reused = Window.plan([Window.add()], newest: [Window.key(): Window.existing(secondsAgo: 120)])
            #expect(reused.inserts.isEmpty)
            let fresh = Window.plan([Window.add()], newest: [Window.key(): Window.existing(secondsAgo: 120.001)])
            #expect(fresh.inserts.map(\.id) == ["new-1"])
        }

        @Test("historical imports never merge: each makes its own activity")
        func historicalImports() {
            let plan = Window.plan(
                [Window.add(collection: Fx.openCollection, at: 0, addedAt: -86_400), Window.add(collection: Fx.openCollection2, at: 1, addedAt: -86_400)],
                newest: [:])
            #expect(plan.inserts.map(\.id) == ["new-1", "new-2"])
            #expect(plan.inserts.map(\.collectionIDs) == [[Fx.openCollection], [Fx.openCollection2]])
        }

        @Test("a library add reusing an activity writes nothing")
        func libraryAddReuses() {
            let plan = Window.plan([Window.add(at: 5)], newest: [Window.key(): Window.existing(secondsAgo: 1, collections: nil)])
            #expect(plan.inserts.isEmpty)
            #expect(plan.updates.isEmpty)
            #expect(plan.fanOuts.map(\.activityID) == [Window.existingID])
        }
    }
}
