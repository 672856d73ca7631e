import Foundation
import Testing

@testable import CourierHandlers

/// Pure unit tests of Courier's copy of Semble's notification and feed rules
/// (`Sources/CourierHandlers/Semble/Rules/`): no database, no broker. Expectations are Semble's
/// behaviour (semble-parity.md §3, Semble's source at 2db04a34).
///
/// This file: the root suite, the fixtures, and Semble's own tests (semble-parity.md §5) restated
/// as pure tests. `+Bundles` and `+Connections` hold scenarios Semble leaves untested.
@Suite("Semble rules")
struct SembleRulesTests {}

/// Names used across the rule tests.
enum RulesFx {
    static let settings = SembleSettings.production
    static var reuseWindow: TimeInterval { settings.activityReuseWindow.timeInterval }
    static var bundleWindow: TimeInterval { settings.bundleWindow.timeInterval }

    static let actor = "did:plc:actor"
    static let alice = "did:plc:alice"
    static let bob = "did:plc:bob"
    static let carol = "did:plc:carol"
    static let dave = "did:plc:dave"
    static let erin = "did:plc:erin"
    static let frank = "did:plc:frank"

    static let card = "11111111-1111-4111-8111-111111111111"
    static let viaCard = "22222222-2222-4222-8222-222222222222"
    static let otherCard = "33333333-3333-4333-8333-333333333333"
    static let openCollection = "c1c1c1c1-0000-4000-8000-000000000001"
    static let openCollection2 = "c2c2c2c2-0000-4000-8000-000000000002"
    static let closedCollection = "c3c3c3c3-0000-4000-8000-000000000003"
    static let pagedCollection = "c4c4c4c4-0000-4000-8000-000000000004"
    static let connection = "cccccccc-0000-4000-8000-00000000000c"

    /// 2026-03-01T12:00:00Z.
    static let t0 = Date(timeIntervalSince1970: 1_772_366_400)

    static func post(_ handleOrDID: String, _ id: String = "3kpostid", host: String = "https://bsky.app") -> String {
        "\(host)/profile/\(handleOrDID)/post/\(id)"
    }
    static func page(_ handleOrDID: String, _ rkey: String) -> String {
        "https://semble.so/profile/\(handleOrDID)/collections/\(rkey)"
    }
    static func recordURI(_ did: String, _ rkey: String, nsid: String = "network.cosmik.collection") -> String {
        "at://\(did)/\(nsid)/\(rkey)"
    }

    static func bundle(
        card: String = RulesFx.card, actor: String = RulesFx.actor, collections: [String] = [], library: Bool = true
    ) -> CardActivityBundle {
        CardActivityBundle(id: "opener", cardID: card, actorID: actor, openedAt: t0, collectionIDs: collections, hasLibraryEvent: library)
    }

    static func draft(
        _ type: NotificationType, to recipient: String, by actor: String = RulesFx.actor, card: String = RulesFx.card,
        collections: [String]? = nil
    ) -> NotificationDraft {
        NotificationDraft(type: type, recipient: recipient, actor: actor, cardID: card, collectionIDs: collections)
    }

    static func connected(_ type: NotificationType, to recipient: String, by curator: String, connection: String = RulesFx.connection)
        -> NotificationDraft
    {
        NotificationDraft(type: type, recipient: recipient, actor: curator, connectionID: connection)
    }

    /// Drafts in a fixed order, for comparing without relying on the order the rules make them
    /// in (Semble runs its bundle handlers concurrently); duplicates are kept.
    static func sorted(_ drafts: [NotificationDraft]) -> [NotificationDraft] {
        drafts.sorted { key($0) < key($1) }
    }
    private static func key(_ draft: NotificationDraft) -> String {
        [draft.type.rawValue, draft.recipient, draft.actor, draft.cardID ?? "-", (draft.collectionIDs ?? ["<absent>"]).joined(separator: ","),
         draft.connectionID ?? "-"].joined(separator: "|")
    }
}

/// The state Semble's tables hold for a test, built up by name.
struct RulesWorld {
    var state = SembleSnapshot()
    var settings = RulesFx.settings

    mutating func users(_ dids: String...) { state.users.formUnion(dids) }

    mutating func card(_ id: String, by author: String, url: String? = nil, via: String? = nil) {
        state.cards[id] = .init(authorID: author, viaCardID: via, url: url)
    }

    /// A collection; with `rkey`, its published record `at://{author}/{nsid}/{rkey}` (so its
    /// page is `{app}/profile/{author}/collections/{rkey}`).
    mutating func collection(_ id: String, by author: String, open: Bool = true, rkey: String? = nil) {
        state.collections[id] = .init(authorID: author, isOpen: open)
        if let rkey { state.collectionByURI[RulesFx.recordURI(author, rkey, nsid: settings.collectionNSID)] = id }
    }

    mutating func subscribe(_ follower: String, to target: String, _ targetType: String, scope: String) {
        state.subscribers[.init(targetID: target, targetType: targetType, scope: scope), default: []].append(follower)
    }

    mutating func connect(
        _ id: String = RulesFx.connection, by curator: String, source: String, target: String, sourceType: String = "URL",
        targetType: String = "URL"
    ) {
        state.connections[id] = .init(curatorID: curator, sourceType: sourceType, sourceValue: source, targetType: targetType, targetValue: target)
    }

    mutating func hold(_ url: String, by holders: String...) { state.libraryHolders[url, default: []] += holders }

    func notifications(_ bundle: CardActivityBundle) -> [NotificationDraft] {
        RulesFx.sorted(BundleRules.notifications(for: bundle, in: state, settings: settings))
    }

    func recipients(_ bundle: CardActivityBundle) -> Set<String> {
        BundleRules.specificRecipients(of: bundle, in: state, settings: settings)
    }

    func connectionNotifications(_ id: String = RulesFx.connection) -> [NotificationDraft] {
        RulesFx.sorted(ConnectionRules.notifications(connectionID: id, in: state, settings: settings))
    }
}

extension SembleRulesTests {
    /// semble:src/modules/notifications/tests/application/BundleRecipientResolver.test.ts
    @Suite("Semble's BundleRecipientResolver tests")
    struct ResolverScenarios {
        typealias Fx = RulesFx
        static let viaCurator = "did:plc:viacardcurator"
        static let bskyAuthor = "did:plc:bskyauthor"
        static let openAuthor = "did:plc:openauthor"
        static let closedAuthor = "did:plc:closedauthor"

        @Test("a card with a via card: the via card's curator is a specific recipient")
        func viaCardCurator() {
            var world = RulesWorld()
            world.card(Fx.viaCard, by: Self.viaCurator)
            world.card(Fx.card, by: Fx.actor, via: Fx.viaCard)
            #expect(world.recipients(Fx.bundle()) == [Self.viaCurator])
        }

        @Test("OPEN collection authors are in, CLOSED ones out")
        func openAndClosedCollections() {
            var world = RulesWorld()
            world.card(Fx.card, by: Fx.actor)
            world.collection(Fx.openCollection, by: Self.openAuthor)
            world.collection(Fx.closedCollection, by: Self.closedAuthor, open: false)
            let recipients = world.recipients(Fx.bundle(collections: [Fx.openCollection, Fx.closedCollection]))
            #expect(recipients.contains(Self.openAuthor))
            #expect(!recipients.contains(Self.closedAuthor))
            #expect(recipients == [Self.openAuthor])
        }

        @Test("a Bluesky post URL whose author is a user: the post's author is in")
        func blueskyPostAuthor() {
            var world = RulesWorld()
            world.users(Self.bskyAuthor)
            world.card(Fx.card, by: Fx.actor, url: "https://bsky.app/profile/\(Self.bskyAuthor)/post/abc123")
            #expect(world.recipients(Fx.bundle()) == [Self.bskyAuthor])
        }

        @Test("a via card and a Bluesky URL: the via curator is in, the post's author out")
        func viaCardBeatsURL() {
            var world = RulesWorld()
            world.users(Self.bskyAuthor, Self.viaCurator)
            world.card(Fx.viaCard, by: Self.viaCurator)
            world.card(Fx.card, by: Fx.actor, url: "https://bsky.app/profile/\(Self.bskyAuthor)/post/abc123", via: Fx.viaCard)
            let recipients = world.recipients(Fx.bundle())
            #expect(recipients.contains(Self.viaCurator))
            #expect(!recipients.contains(Self.bskyAuthor))
        }
    }

    /// semble:src/modules/notifications/tests/application/SubscriptionBundleHandler.test.ts
    @Suite("Semble's SubscriptionBundleHandler tests")
    struct SubscriptionScenarios {
        typealias Fx = RulesFx
        static let subscriber = "did:plc:subscriber"
        static let bskyAuthor = "did:plc:bskyauthor"

        @Test("a user-CARD subscriber who is a specific recipient gets no SUBSCRIBED_USER_ADDED_CARD")
        func excludedSubscriber() {
            var world = RulesWorld()
            world.users(Self.bskyAuthor)
            world.card(Fx.card, by: Fx.actor, url: Fx.post(Self.bskyAuthor))
            world.subscribe(Self.bskyAuthor, to: Fx.actor, "USER", scope: "CARD")
            #expect(world.recipients(Fx.bundle()).contains(Self.bskyAuthor))
            // Only the URL mention's notification reaches them.
            #expect(world.notifications(Fx.bundle()) == [Fx.draft(.userAddedYourBskyPost, to: Self.bskyAuthor)])
        }

        @Test("a user-CARD subscriber outside the exclusion set gets one SUBSCRIBED_USER_ADDED_CARD")
        func plainSubscriber() {
            var world = RulesWorld()  // the card is not found, as in Semble's test
            world.subscribe(Self.subscriber, to: Fx.actor, "USER", scope: "CARD")
            #expect(world.recipients(Fx.bundle()).isEmpty)
            #expect(world.notifications(Fx.bundle()) == [Fx.draft(.subscribedUserAddedCard, to: Self.subscriber)])
        }

        @Test("the actor subscribed to themselves, empty exclusion set: nothing")
        func actorSubscribedToSelf() {
            var world = RulesWorld()
            world.subscribe(Fx.actor, to: Fx.actor, "USER", scope: "CARD")
            #expect(world.notifications(Fx.bundle()).isEmpty)
        }
    }

    /// semble:src/modules/notifications/tests/application/ConnectionCreatedEventHandler.dedup.test.ts
    @Suite("Semble's ConnectionCreatedEventHandler.dedup tests")
    struct ConnectionDedupScenarios {
        typealias Fx = RulesFx
        static let curator = "did:plc:curator"
        static let holderAndSubscriber = "did:plc:libusersubscriber"
        static let source = "https://example.com/source"
        static let target = "https://example.com/target"

        @Test("a source-URL holder who also subscribes to the curator's connections: one USER_CONNECTED_YOUR_URL only")
        func holderIsSubscriber() {
            var world = RulesWorld()
            world.connect(by: Self.curator, source: Self.source, target: Self.target)
            world.hold(Self.source, by: Self.holderAndSubscriber)
            world.subscribe(Self.holderAndSubscriber, to: Self.curator, "USER", scope: "CONNECTION")
            #expect(world.connectionNotifications() == [Fx.connected(.userConnectedYourURL, to: Self.holderAndSubscriber, by: Self.curator)])
        }

        @Test("no holders, one CONNECTION subscriber: one SUBSCRIBED_USER_MADE_CONNECTION, actor = curator")
        func subscriberOnly() {
            var world = RulesWorld()
            world.connect(by: Self.curator, source: Self.source, target: Self.target)
            world.subscribe("did:plc:subscriberonly", to: Self.curator, "USER", scope: "CONNECTION")
            #expect(
                world.connectionNotifications() == [Fx.connected(.subscribedUserMadeConnection, to: "did:plc:subscriberonly", by: Self.curator)])
        }
    }

    /// semble:src/modules/notifications/tests/application/CreateNotificationUseCase.test.ts — the
    /// rules of it a draft goes through (``NotificationDraft/accepted``) and the metadata shapes.
    @Suite("Semble's CreateNotificationUseCase rules")
    struct CreateNotificationScenarios {
        typealias Fx = RulesFx

        @Test(
            "a recipient that is not a DID CuratorId takes: no notification",
            arguments: ["alice", "", "   ", "did:key:z6Mkabc", "did:plc:", "did:plc:ali_ce", "did:web:", "did:web:a/b", "DID:plc:alice"])
        func badRecipient(_ recipient: String) {
            #expect(NotificationDraft(type: .userAddedYourCard, recipient: recipient, actor: Fx.actor, cardID: Fx.card).accepted == nil)
        }

        @Test("an actor that is not a DID: no notification", arguments: ["actor", "", "did:plc:act-or", "did:foo:bar"])
        func badActor(_ actor: String) {
            #expect(NotificationDraft(type: .userAddedYourCard, recipient: Fx.alice, actor: actor, cardID: Fx.card).accepted == nil)
        }

        @Test("recipient == actor (also once trimmed): no notification, whatever the type", arguments: NotificationType.allCases)
        func ownAction(_ type: NotificationType) {
            #expect(NotificationDraft(type: type, recipient: Fx.alice, actor: Fx.alice).accepted == nil)
            #expect(NotificationDraft(type: type, recipient: " \(Fx.alice)\n", actor: Fx.alice).accepted == nil)
        }

        @Test("a valid draft is kept, recipient and actor trimmed as CuratorId keeps them")
        func accepted() {
            let draft = NotificationDraft(
                type: .userAddedYourCard, recipient: "\t\(Fx.alice) ", actor: "\u{00A0}\(Fx.actor)", cardID: Fx.card, collectionIDs: [Fx.openCollection])
            #expect(draft.accepted == Fx.draft(.userAddedYourCard, to: Fx.alice, collections: [Fx.openCollection]))
            let web = NotificationDraft(type: .userFollowedYou, recipient: "did:web:example.com", actor: Fx.actor, targetType: "USER")
            #expect(web.accepted == web)
        }

        @Test("a via card whose author is not a DID: no USER_ADDED_YOUR_CARD")
        func viaAuthorNotADID() {
            var world = RulesWorld()
            world.card(Fx.viaCard, by: "alice.bsky.social")
            world.card(Fx.card, by: Fx.actor, via: Fx.viaCard)
            #expect(world.notifications(Fx.bundle()).isEmpty)
        }

        @Test("an actor that is not a DID: nothing at all, however many would be notified")
        func actorNotADID() {
            var world = RulesWorld()
            world.card(Fx.viaCard, by: Fx.bob)
            world.card(Fx.card, by: "actor", via: Fx.viaCard)
            world.collection(Fx.openCollection, by: Fx.carol)
            world.subscribe(Fx.dave, to: "actor", "USER", scope: "CARD")
            world.subscribe(Fx.erin, to: Fx.openCollection, "COLLECTION", scope: "CARD")
            #expect(world.notifications(Fx.bundle(actor: "actor", collections: [Fx.openCollection])).isEmpty)
        }

        @Test("USER_ADDED_TO_YOUR_COLLECTION names only its own collection")
        func toYourCollectionNamesOne() {
            var world = RulesWorld()
            world.card(Fx.card, by: Fx.actor)
            world.collection(Fx.openCollection, by: Fx.bob)
            world.collection(Fx.openCollection2, by: Fx.carol)
            #expect(
                world.notifications(Fx.bundle(collections: [Fx.openCollection, Fx.openCollection2])) == [
                    Fx.draft(.userAddedToYourCollection, to: Fx.bob, collections: [Fx.openCollection]),
                    Fx.draft(.userAddedToYourCollection, to: Fx.carol, collections: [Fx.openCollection2]),
                ])
        }

        @Test("USER_ADDED_YOUR_CARD without collections has no collectionIds key; with them, all of the bundle's")
        func withAndWithoutCollections() {
            var world = RulesWorld()
            world.card(Fx.viaCard, by: Fx.bob)
            world.card(Fx.card, by: Fx.actor, via: Fx.viaCard)
            world.collection(Fx.closedCollection, by: Fx.actor, open: false)
            world.collection(Fx.openCollection, by: Fx.actor)
            #expect(world.notifications(Fx.bundle()) == [Fx.draft(.userAddedYourCard, to: Fx.bob, collections: nil)])
            #expect(
                world.notifications(Fx.bundle(collections: [Fx.closedCollection, Fx.openCollection], library: false)) == [
                    Fx.draft(.userAddedYourCard, to: Fx.bob, collections: [Fx.closedCollection, Fx.openCollection])
                ])
        }

        @Test("no dedup across types: the via card's author who also owns the OPEN collection gets both")
        func twoTypesTwoRows() {
            var world = RulesWorld()
            world.card(Fx.viaCard, by: Fx.bob)
            world.card(Fx.card, by: Fx.actor, via: Fx.viaCard)
            world.collection(Fx.openCollection, by: Fx.bob)
            #expect(
                world.notifications(Fx.bundle(collections: [Fx.openCollection])) == [
                    Fx.draft(.userAddedToYourCollection, to: Fx.bob, collections: [Fx.openCollection]),
                    Fx.draft(.userAddedYourCard, to: Fx.bob, collections: [Fx.openCollection]),
                ])
        }

        @Test("two cards: a row each")
        func twoCards() {
            var world = RulesWorld()
            world.card(Fx.viaCard, by: Fx.bob)
            world.card(Fx.card, by: Fx.actor, via: Fx.viaCard)
            world.card(Fx.otherCard, by: Fx.actor, via: Fx.viaCard)
            let drafts = world.notifications(Fx.bundle(card: Fx.card)) + world.notifications(Fx.bundle(card: Fx.otherCard))
            #expect(drafts == [Fx.draft(.userAddedYourCard, to: Fx.bob), Fx.draft(.userAddedYourCard, to: Fx.bob, card: Fx.otherCard)])
        }
    }

    /// semble:src/modules/feeds/tests/infrastructure/DrizzleFeedRepository.integration.test.ts — the
    /// window and merge cases, as ``FeedRules/plan(_:newest:facts:window:newID:)`` applies them
    /// (Courier's "now" is the add's `dateTimeOccurred`).
    @Suite("Semble's feed repository window and merge tests")
    struct FeedWindowScenarios {
        typealias Fx = RulesFx
        static let existingID = "aaaaaaaa-0000-4000-8000-000000000001"

        static func key(_ actor: String = Fx.actor, _ card: String = Fx.card) -> CardActorKey {
            CardActorKey(cardID: card, actorID: actor)
        }
        static func existing(
            id: String = existingID, actor: String = Fx.actor, card: String = Fx.card, secondsAgo: TimeInterval, collections: [String]? = [Fx.openCollection]
        ) -> FeedRules.Activity {
            FeedRules.Activity(
                id: id, actorID: actor, cardID: card, createdAt: Fx.t0.addingTimeInterval(-secondsAgo), collectionIDs: collections, urlType: "article",
                source: nil)
        }
        static func add(
            actor: String = Fx.actor, card: String = Fx.card, collection: String? = nil, at offset: TimeInterval = 0, addedAt: TimeInterval? = nil
        ) -> FeedRules.Add {
            FeedRules.Add(
                actorID: actor, cardID: card, collectionID: collection, occurredAt: Fx.t0.addingTimeInterval(offset),
                addedAt: Fx.t0.addingTimeInterval(addedAt ?? offset))
        }
        static func plan(_ adds: [FeedRules.Add], newest: [CardActorKey: FeedRules.Activity], window: TimeInterval = Fx.reuseWindow)
            -> FeedRules.Plan
        {
            var made = 0
            return FeedRules.plan(adds, newest: newest, facts: [:], window: window) {
                made += 1
                return "new-\(made)"
            }
        }

        @Test("an activity 1 minute old is found and reused")
        func oneMinuteOld() {
            let old = Self.existing(secondsAgo: 60)
            let plan = Self.plan([Self.add()], newest: [Self.key(): old])
            #expect(plan.inserts.isEmpty)
            #expect(plan.updates.isEmpty)
            #expect(plan.fanOuts == [.init(activityID: Self.existingID, createdAt: old.createdAt, actorID: Fx.actor, collectionID: nil)])
        }

        @Test("an activity 3 minutes old is not: a new activity")
        func threeMinutesOld() {
            let plan = Self.plan([Self.add()], newest: [Self.key(): Self.existing(secondsAgo: 180)])
            #expect(plan.inserts.map(\.id) == ["new-1"])
            #expect(plan.inserts.first?.createdAt == Fx.t0)
            #expect(plan.updates.isEmpty)
            #expect(plan.fanOuts.map(\.activityID) == ["new-1"])
        }

        @Test("another actor's or another card's recent activity is not reused")
        func otherActorOrCard() {
            let otherActor = Self.existing(actor: Fx.bob, secondsAgo: 60)
            let otherCard = Self.existing(id: "aaaaaaaa-0000-4000-8000-000000000002", card: Fx.otherCard, secondsAgo: 60)
            let plan = Self.plan(
                [Self.add(collection: Fx.openCollection2)], newest: [Self.key(Fx.bob, Fx.card): otherActor, Self.key(Fx.actor, Fx.otherCard): otherCard])
            #expect(plan.inserts.count == 1)
            #expect(plan.inserts.first?.actorID == Fx.actor)
            #expect(plan.inserts.first?.cardID == Fx.card)
            #expect(plan.inserts.first?.collectionIDs == [Fx.openCollection2])
            #expect(plan.updates.isEmpty)
        }

        @Test("two candidates, 2 and 1 minutes old, window 3 minutes: the newer is used")
        func newerOfTwo() {
            // The 2-minute-old one is in the table; the 1-minute-old one is made in the batch by
            // an add handled late (an import: addedAt 1 minute ago, occurred 3 minutes later).
            let older = Self.existing(secondsAgo: 120, collections: [Fx.openCollection])
            let plan = Self.plan(
                [Self.add(collection: Fx.closedCollection, at: 121, addedAt: -60), Self.add(collection: Fx.openCollection2, at: 0)],
                newest: [Self.key(): older], window: 180)
            #expect(plan.inserts.map(\.id) == ["new-1"])
            #expect(plan.inserts.first?.collectionIDs == [Fx.closedCollection, Fx.openCollection2])
            #expect(plan.updates.isEmpty)
            #expect(plan.fanOuts.map(\.activityID) == ["new-1", "new-1"])
        }

        @Test("two candidates, the table's newer than the batch's: the table's is used")
        func newerOfTwoInTable() {
            // An import makes an activity older than the table's newest; a later add within the
            // window of both goes to the table's.
            let newer = Self.existing(secondsAgo: 30, collections: nil)
            let plan = Self.plan(
                [Self.add(at: 200, addedAt: -100), Self.add(collection: Fx.openCollection, at: 10)], newest: [Self.key(): newer])
            #expect(plan.inserts.map(\.id) == ["new-1"])
            #expect(plan.inserts.first?.collectionIDs == nil)
            #expect(plan.updates == [Self.existingID: [Fx.openCollection]])
            #expect(plan.fanOuts.map(\.activityID) == ["new-1", Self.existingID])
        }

        @Test("merging a new collection: [old, new]")
        func mergeNew() {
            let plan = Self.plan([Self.add(collection: Fx.openCollection2)], newest: [Self.key(): Self.existing(secondsAgo: 10)])
            #expect(plan.inserts.isEmpty)
            #expect(plan.updates == [Self.existingID: [Fx.openCollection, Fx.openCollection2]])
            #expect(
                plan.fanOuts == [
                    .init(activityID: Self.existingID, createdAt: Fx.t0.addingTimeInterval(-10), actorID: Fx.actor, collectionID: Fx.openCollection2)
                ])
        }

        @Test("merging the same collection: one entry")
        func mergeSame() {
            let plan = Self.plan([Self.add(collection: Fx.openCollection)], newest: [Self.key(): Self.existing(secondsAgo: 10)])
            #expect(plan.inserts.isEmpty)
            #expect((plan.updates[Self.existingID] ?? [Fx.openCollection]) == [Fx.openCollection])
        }
    }
}
