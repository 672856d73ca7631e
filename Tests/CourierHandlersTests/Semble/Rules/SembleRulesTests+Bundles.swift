import Foundation
import Testing

@testable import CourierHandlers

/// Scenarios for the bundle rules (semble-parity.md §3.2, "Bundling") that Semble's own tests
/// leave out, and the URL parser's edges.
extension SembleRulesTests {
    @Suite("Bundle notifications")
    struct BundleScenarios {
        typealias Fx = RulesFx

        // MARK: Via card and URL mention

        @Test("via card wins over the URL mention: the via author is notified, the post's author only as a subscriber")
        func viaCardWins() {
            var world = RulesWorld()
            world.users(Fx.alice, Fx.bob)
            world.card(Fx.viaCard, by: Fx.bob)
            world.card(Fx.card, by: Fx.actor, url: Fx.post(Fx.alice), via: Fx.viaCard)
            world.subscribe(Fx.alice, to: Fx.actor, "USER", scope: "CARD")
            world.subscribe(Fx.bob, to: Fx.actor, "USER", scope: "CARD")
            #expect(
                world.notifications(Fx.bundle()) == [
                    Fx.draft(.subscribedUserAddedCard, to: Fx.alice),
                    Fx.draft(.userAddedYourCard, to: Fx.bob),
                ])
        }

        @Test("the via card's author needs no users row")
        func viaAuthorNotAUser() {
            var world = RulesWorld()
            world.card(Fx.viaCard, by: Fx.bob)
            world.card(Fx.card, by: Fx.actor, via: Fx.viaCard)
            #expect(world.notifications(Fx.bundle()) == [Fx.draft(.userAddedYourCard, to: Fx.bob)])
        }

        @Test("the actor's own via card: nothing")
        func ownViaCard() {
            var world = RulesWorld()
            world.card(Fx.viaCard, by: Fx.actor)
            world.card(Fx.card, by: Fx.actor, via: Fx.viaCard)
            #expect(world.notifications(Fx.bundle()).isEmpty)
        }

        @Test("a via card that is gone: nothing, and no falling back to the URL")
        func viaCardGone() {
            var world = RulesWorld()
            world.users(Fx.alice)
            world.card(Fx.card, by: Fx.actor, url: Fx.post(Fx.alice), via: Fx.viaCard)
            #expect(world.notifications(Fx.bundle()).isEmpty)
            #expect(world.recipients(Fx.bundle()).isEmpty)
        }

        @Test("a Bluesky post of a user: USER_ADDED_YOUR_BSKY_POST, with the bundle's collections when it has some")
        func blueskyPost() {
            var world = RulesWorld()
            world.users(Fx.alice)
            world.card(Fx.card, by: Fx.actor, url: Fx.post(Fx.alice))
            world.collection(Fx.closedCollection, by: Fx.carol, open: false)
            #expect(world.notifications(Fx.bundle()) == [Fx.draft(.userAddedYourBskyPost, to: Fx.alice)])
            #expect(
                world.notifications(Fx.bundle(collections: [Fx.closedCollection])) == [
                    Fx.draft(.userAddedYourBskyPost, to: Fx.alice, collections: [Fx.closedCollection])
                ])
        }

        @Test("a Bluesky post whose author is not a user: no mention, and the author is not excluded from subscriptions")
        func blueskyPostOfNonUser() {
            var world = RulesWorld()
            world.card(Fx.card, by: Fx.actor, url: Fx.post(Fx.alice))
            #expect(world.notifications(Fx.bundle()).isEmpty)
            #expect(world.recipients(Fx.bundle()).isEmpty)
            world.subscribe(Fx.alice, to: Fx.actor, "USER", scope: "CARD")
            #expect(world.notifications(Fx.bundle()) == [Fx.draft(.subscribedUserAddedCard, to: Fx.alice)])
        }

        @Test("the actor's own Bluesky post: nothing")
        func ownPost() {
            var world = RulesWorld()
            world.users(Fx.actor)
            world.card(Fx.card, by: Fx.actor, url: Fx.post(Fx.actor))
            #expect(world.notifications(Fx.bundle()).isEmpty)
        }

        @Test("a Blacksky post URL is a Bluesky post")
        func blackskyPost() {
            var world = RulesWorld()
            world.users(Fx.alice)
            world.card(Fx.card, by: Fx.actor, url: Fx.post(Fx.alice, host: "https://blacksky.community"))
            #expect(world.notifications(Fx.bundle()) == [Fx.draft(.userAddedYourBskyPost, to: Fx.alice)])
            #expect(world.recipients(Fx.bundle()) == [Fx.alice])
        }

        @Test("a handle in the URL: nothing (Courier resolves no handles), and nobody excluded")
        func handleInURL() {
            var world = RulesWorld()
            world.users(Fx.alice)
            world.card(Fx.card, by: Fx.actor, url: Fx.post("alice.bsky.social"))
            #expect(world.notifications(Fx.bundle()).isEmpty)
            #expect(world.recipients(Fx.bundle()).isEmpty)

            var page = RulesWorld()
            page.users(Fx.alice)
            page.collection(Fx.pagedCollection, by: Fx.alice, rkey: "3kcoll")
            page.card(Fx.card, by: Fx.actor, url: Fx.page("alice.bsky.social", "3kcoll"))
            page.subscribe(Fx.bob, to: Fx.pagedCollection, "COLLECTION", scope: "COLLECTION_SAVED")
            #expect(page.notifications(Fx.bundle()).isEmpty)
        }

        @Test("a Semble collection's page: USER_ADDED_YOUR_COLLECTION to its author, with the bundle's collections")
        func collectionPage() {
            var world = RulesWorld()
            world.users(Fx.alice, Fx.bob)
            world.collection(Fx.pagedCollection, by: Fx.alice, rkey: "3kcoll")
            world.collection(Fx.openCollection, by: Fx.bob)
            world.card(Fx.card, by: Fx.actor, url: Fx.page(Fx.alice, "3kcoll"))
            #expect(world.notifications(Fx.bundle()) == [Fx.draft(.userAddedYourCollection, to: Fx.alice)])
            #expect(
                world.notifications(Fx.bundle(collections: [Fx.openCollection], library: false)) == [
                    Fx.draft(.userAddedToYourCollection, to: Fx.bob, collections: [Fx.openCollection]),
                    Fx.draft(.userAddedYourCollection, to: Fx.alice, collections: [Fx.openCollection]),
                ])
        }

        @Test("a collection page whose author is not a user: no mention, but the author is still excluded from subscriptions")
        func collectionPageOfNonUser() {
            var world = RulesWorld()
            world.collection(Fx.pagedCollection, by: Fx.alice, rkey: "3kcoll")
            world.card(Fx.card, by: Fx.actor, url: Fx.page(Fx.alice, "3kcoll"))
            world.subscribe(Fx.alice, to: Fx.actor, "USER", scope: "CARD")
            world.subscribe(Fx.bob, to: Fx.actor, "USER", scope: "CARD")
            #expect(world.recipients(Fx.bundle()) == [Fx.alice])
            #expect(world.notifications(Fx.bundle()) == [Fx.draft(.subscribedUserAddedCard, to: Fx.bob)])
        }

        @Test("a collection page names the record at://{did}/{settings' NSID}/{rkey}; another NSID or an unknown record: nothing")
        func collectionPageRecord() {
            var world = RulesWorld()
            world.users(Fx.alice)
            world.collection(Fx.pagedCollection, by: Fx.alice, rkey: "3kcoll")
            world.card(Fx.card, by: Fx.actor, url: Fx.page(Fx.alice, "3kother"))
            #expect(world.notifications(Fx.bundle()).isEmpty)

            world.card(Fx.card, by: Fx.actor, url: Fx.page(Fx.alice, "3kcoll"))
            world.settings = SembleSettings(appURL: "https://semble.so", collectionNSID: "network.cosmik.dev.collection")
            #expect(world.notifications(Fx.bundle()).isEmpty)
            world.state.collectionByURI[Fx.recordURI(Fx.alice, "3kcoll", nsid: "network.cosmik.dev.collection")] = Fx.pagedCollection
            #expect(world.notifications(Fx.bundle()) == [Fx.draft(.userAddedYourCollection, to: Fx.alice)])
        }

        @Test("the collection named by the page's DID is looked up with the DID as Semble's DIDOrHandle takes it")
        func collectionPageWithMalformedDID() {
            // Semble: DIDOrHandle.create("did:plc:al_ice") fails (atproto DID regex), so the page
            // resolves to nothing, even if a published record had that URI.
            var world = RulesWorld()
            world.users(Fx.alice)
            world.collection(Fx.pagedCollection, by: Fx.alice)
            world.state.collectionByURI[Fx.recordURI("did:plc:al_ice", "3kcoll")] = Fx.pagedCollection
            world.card(Fx.card, by: Fx.actor, url: Fx.page("did:plc:al_ice", "3kcoll"))
            #expect(world.notifications(Fx.bundle()).isEmpty)
            #expect(world.recipients(Fx.bundle()).isEmpty)
        }

        // MARK: Collection contribution

        @Test("a CLOSED collection: no contribution notification, and its author is not excluded from subscriptions")
        func closedCollection() {
            var world = RulesWorld()
            world.card(Fx.card, by: Fx.actor)
            world.collection(Fx.closedCollection, by: Fx.bob, open: false)
            world.collection(Fx.openCollection, by: Fx.carol)
            world.subscribe(Fx.bob, to: Fx.closedCollection, "COLLECTION", scope: "CARD")
            world.subscribe(Fx.carol, to: Fx.openCollection, "COLLECTION", scope: "CARD")
            let bundle = Fx.bundle(collections: [Fx.closedCollection, Fx.openCollection])
            #expect(world.recipients(bundle) == [Fx.carol])
            #expect(
                world.notifications(bundle) == [
                    Fx.draft(.userAddedCardToSubscribedCollection, to: Fx.bob, collections: [Fx.closedCollection, Fx.openCollection]),
                    Fx.draft(.userAddedToYourCollection, to: Fx.carol, collections: [Fx.openCollection]),
                ])
        }

        @Test("a CLOSED collection's author subscribed to the actor gets SUBSCRIBED_USER_ADDED_CARD")
        func closedCollectionAuthorSubscribedToActor() {
            var world = RulesWorld()
            world.card(Fx.card, by: Fx.actor)
            world.collection(Fx.closedCollection, by: Fx.bob, open: false)
            world.subscribe(Fx.bob, to: Fx.actor, "USER", scope: "CARD")
            #expect(
                world.notifications(Fx.bundle(collections: [Fx.closedCollection])) == [
                    Fx.draft(.subscribedUserAddedCard, to: Fx.bob, collections: [Fx.closedCollection])
                ])
        }

        @Test("adding to one's own OPEN collection: nothing")
        func ownCollection() {
            var world = RulesWorld()
            world.card(Fx.card, by: Fx.actor)
            world.collection(Fx.openCollection, by: Fx.actor)
            #expect(world.notifications(Fx.bundle(collections: [Fx.openCollection])).isEmpty)
        }

        @Test("the card row gone: OPEN collection authors are still notified and still excluded")
        func cardGone() {
            var world = RulesWorld()
            world.collection(Fx.openCollection, by: Fx.bob)
            world.subscribe(Fx.bob, to: Fx.actor, "USER", scope: "CARD")
            world.subscribe(Fx.bob, to: Fx.openCollection, "COLLECTION", scope: "CARD")
            let bundle = Fx.bundle(collections: [Fx.openCollection])
            #expect(world.recipients(bundle) == [Fx.bob])
            #expect(world.notifications(bundle) == [Fx.draft(.userAddedToYourCollection, to: Fx.bob, collections: [Fx.openCollection])])
        }

        @Test("a collection id that is not in the table: no contribution notification, its CARD subscribers still notified")
        func unknownCollection() {
            var world = RulesWorld()
            world.card(Fx.card, by: Fx.actor)
            world.subscribe(Fx.bob, to: Fx.openCollection, "COLLECTION", scope: "CARD")
            #expect(
                world.notifications(Fx.bundle(collections: [Fx.openCollection])) == [
                    Fx.draft(.userAddedCardToSubscribedCollection, to: Fx.bob, collections: [Fx.openCollection])
                ])
        }

        // MARK: Subscriptions

        @Test("subscribed to the collection (CARD) and to the actor (CARD): exactly one notification, the collection one")
        func collectionBeatsUser() {
            var world = RulesWorld()
            world.card(Fx.card, by: Fx.actor)
            world.collection(Fx.closedCollection, by: Fx.carol, open: false)
            world.collection(Fx.openCollection2, by: Fx.actor)
            world.subscribe(Fx.bob, to: Fx.actor, "USER", scope: "CARD")
            world.subscribe(Fx.bob, to: Fx.openCollection2, "COLLECTION", scope: "CARD")
            world.subscribe(Fx.bob, to: Fx.closedCollection, "COLLECTION", scope: "CARD")
            #expect(
                world.notifications(Fx.bundle(collections: [Fx.closedCollection, Fx.openCollection2])) == [
                    Fx.draft(.userAddedCardToSubscribedCollection, to: Fx.bob, collections: [Fx.closedCollection, Fx.openCollection2])
                ])
        }

        @Test("only subscriptions of the right scope count; plain follows and CONNECTION scopes get nothing for a card")
        func scopes() {
            var world = RulesWorld()
            world.card(Fx.card, by: Fx.actor)
            world.collection(Fx.openCollection, by: Fx.actor)
            world.subscribe(Fx.bob, to: Fx.actor, "USER", scope: "CONNECTION")
            world.subscribe(Fx.carol, to: Fx.openCollection, "COLLECTION", scope: "CONNECTION")
            world.subscribe(Fx.dave, to: Fx.openCollection, "COLLECTION", scope: "COLLECTION_SAVED")
            world.subscribe(Fx.erin, to: Fx.actor, "COLLECTION", scope: "CARD")
            #expect(world.notifications(Fx.bundle(collections: [Fx.openCollection])).isEmpty)
        }

        @Test("COLLECTION_SAVED: only with the library add, to the paged collection's subscribers but its author")
        func collectionSaved() {
            var world = RulesWorld()
            world.users(Fx.alice)
            world.collection(Fx.pagedCollection, by: Fx.alice, rkey: "3kcoll")
            world.card(Fx.card, by: Fx.actor, url: Fx.page(Fx.alice, "3kcoll"))
            world.collection(Fx.closedCollection, by: Fx.actor, open: false)
            world.subscribe(Fx.alice, to: Fx.pagedCollection, "COLLECTION", scope: "COLLECTION_SAVED")
            world.subscribe(Fx.bob, to: Fx.pagedCollection, "COLLECTION", scope: "COLLECTION_SAVED")
            world.subscribe(Fx.carol, to: Fx.pagedCollection, "COLLECTION", scope: "CARD")
            #expect(
                world.notifications(Fx.bundle()) == [
                    Fx.draft(.userAddedSubscribedCollection, to: Fx.bob),
                    Fx.draft(.userAddedYourCollection, to: Fx.alice),
                ])
            #expect(
                world.notifications(Fx.bundle(collections: [Fx.closedCollection], library: false)) == [
                    Fx.draft(.userAddedYourCollection, to: Fx.alice, collections: [Fx.closedCollection])
                ])
            #expect(
                world.notifications(Fx.bundle(collections: [Fx.closedCollection], library: true)) == [
                    Fx.draft(.userAddedSubscribedCollection, to: Fx.bob, collections: [Fx.closedCollection]),
                    Fx.draft(.userAddedYourCollection, to: Fx.alice, collections: [Fx.closedCollection]),
                ])
        }

        @Test("COLLECTION_SAVED needs no users row for the collection's author")
        func collectionSavedAuthorNotAUser() {
            var world = RulesWorld()
            world.collection(Fx.pagedCollection, by: Fx.alice, rkey: "3kcoll")
            world.card(Fx.card, by: Fx.actor, url: Fx.page(Fx.alice, "3kcoll"))
            world.subscribe(Fx.bob, to: Fx.pagedCollection, "COLLECTION", scope: "COLLECTION_SAVED")
            #expect(world.notifications(Fx.bundle()) == [Fx.draft(.userAddedSubscribedCollection, to: Fx.bob)])
        }

        @Test("precedence: collection CARD > COLLECTION_SAVED > user CARD, each recipient once")
        func precedence() {
            var world = RulesWorld()
            world.collection(Fx.pagedCollection, by: Fx.alice, rkey: "3kcoll")
            world.card(Fx.card, by: Fx.actor, url: Fx.page(Fx.alice, "3kcoll"))
            world.collection(Fx.closedCollection, by: Fx.frank, open: false)
            for who in [Fx.bob, Fx.carol, Fx.dave] { world.subscribe(who, to: Fx.actor, "USER", scope: "CARD") }
            for who in [Fx.bob, Fx.carol] { world.subscribe(who, to: Fx.pagedCollection, "COLLECTION", scope: "COLLECTION_SAVED") }
            world.subscribe(Fx.bob, to: Fx.closedCollection, "COLLECTION", scope: "CARD")
            let collections = [Fx.closedCollection]
            #expect(
                world.notifications(Fx.bundle(collections: collections)) == [
                    Fx.draft(.subscribedUserAddedCard, to: Fx.dave, collections: collections),
                    Fx.draft(.userAddedCardToSubscribedCollection, to: Fx.bob, collections: collections),
                    Fx.draft(.userAddedSubscribedCollection, to: Fx.carol, collections: collections),
                ])
        }

        @Test("COLLECTION_SAVED leaves out the collection's author only there: with a via card they still get SUBSCRIBED_USER_ADDED_CARD")
        func collectionSavedAuthorKeepsUserCard() {
            var world = RulesWorld()
            world.collection(Fx.pagedCollection, by: Fx.alice, rkey: "3kcoll")
            world.card(Fx.viaCard, by: Fx.bob)
            world.card(Fx.card, by: Fx.actor, url: Fx.page(Fx.alice, "3kcoll"), via: Fx.viaCard)
            world.subscribe(Fx.alice, to: Fx.pagedCollection, "COLLECTION", scope: "COLLECTION_SAVED")
            world.subscribe(Fx.alice, to: Fx.actor, "USER", scope: "CARD")
            #expect(world.recipients(Fx.bundle()) == [Fx.bob])
            #expect(
                world.notifications(Fx.bundle()) == [
                    Fx.draft(.subscribedUserAddedCard, to: Fx.alice),
                    Fx.draft(.userAddedYourCard, to: Fx.bob),
                ])
        }

        @Test("a subscriber listed twice, or subscribed to two of the bundle's collections: once")
        func duplicateSubscriber() {
            var world = RulesWorld()
            world.card(Fx.card, by: Fx.actor)
            world.subscribe(Fx.bob, to: Fx.actor, "USER", scope: "CARD")
            world.subscribe(Fx.bob, to: Fx.actor, "USER", scope: "CARD")
            world.subscribe(Fx.carol, to: Fx.openCollection, "COLLECTION", scope: "CARD")
            world.subscribe(Fx.carol, to: Fx.openCollection2, "COLLECTION", scope: "CARD")
            let collections = [Fx.openCollection, Fx.openCollection2]
            #expect(
                world.notifications(Fx.bundle(collections: collections)) == [
                    Fx.draft(.subscribedUserAddedCard, to: Fx.bob, collections: collections),
                    Fx.draft(.userAddedCardToSubscribedCollection, to: Fx.carol, collections: collections),
                ])
        }

        @Test("the metadata's cardId is the bundle's as the event sent it; the card is found whatever the case")
        func cardIDAsSent() {
            var world = RulesWorld()
            world.card(Fx.viaCard, by: Fx.bob)
            world.card(Fx.card, by: Fx.actor, via: Fx.viaCard)
            let upper = Fx.card.uppercased()
            #expect(world.notifications(Fx.bundle(card: upper)) == [Fx.draft(.userAddedYourCard, to: Fx.bob, card: upper)])
        }
    }

    /// semble:src/modules/notifications/application/services/NotificationUrlParser.ts
    @Suite("URL parser")
    struct URLParserScenarios {
        typealias Fx = RulesFx
        static let app = "https://semble.so"

        @Test("Bluesky and Blacksky post URLs, and Semble collection pages")
        func matches() {
            #expect(MentionedEntity.parse(Fx.post(Fx.alice, "3kabc"), appURL: Self.app) == .blueskyPost(handleOrDID: Fx.alice, postID: "3kabc"))
            #expect(
                MentionedEntity.parse("https://blacksky.community/profile/alice.bsky.social/post/3kabc", appURL: Self.app)
                    == .blueskyPost(handleOrDID: "alice.bsky.social", postID: "3kabc"))
            #expect(MentionedEntity.parse(Fx.page(Fx.alice, "3kcoll"), appURL: Self.app) == .sembleCollection(handleOrDID: Fx.alice, rkey: "3kcoll"))
            #expect(
                MentionedEntity.parse("https://staging.semble.so/profile/did:web:example.com/collections/r", appURL: "https://staging.semble.so")
                    == .sembleCollection(handleOrDID: "did:web:example.com", rkey: "r"))
        }

        @Test("the collection's AT-URI: at://{did}/{nsid}/{rkey}; none for a handle or a post")
        func collectionURI() {
            let nsid = "network.cosmik.collection"
            #expect(MentionedEntity.sembleCollection(handleOrDID: Fx.alice, rkey: "3kcoll").collectionURI(nsid: nsid) == "at://did:plc:alice/\(nsid)/3kcoll")
            #expect(MentionedEntity.sembleCollection(handleOrDID: "alice.bsky.social", rkey: "3kcoll").collectionURI(nsid: nsid) == nil)
            #expect(MentionedEntity.blueskyPost(handleOrDID: Fx.alice, postID: "3k").collectionURI(nsid: nsid) == nil)
        }

        @Test(
            "no match: trailing slash, empty part, extra or missing part, other words, other hosts, other schemes, case",
            arguments: [
                "https://bsky.app/profile/did:plc:alice/post/3kabc/",
                "https://semble.so/profile/did:plc:alice/collections/3kcoll/",
                "https://bsky.app/profile//post/3kabc",
                "https://bsky.app/profile/did:plc:alice/post/",
                "https://bsky.app/profile/did:plc:alice/post",
                "https://semble.so/profile//collections/3kcoll",
                "https://semble.so/profile/did:plc:alice/collections/",
                "https://bsky.app/profile/",
                "https://bsky.app/profile/did:plc:alice/post/3kabc/extra",
                "https://bsky.app/profile/did:plc:alice/posts/3kabc",
                "https://bsky.app/profile/did:plc:alice/collections/3kabc",
                "https://semble.so/profile/did:plc:alice/post/3kabc",
                "https://semble.so/profile/did:plc:alice/collection/3kcoll",
                "https://staging.semble.so/profile/did:plc:alice/collections/3kcoll",
                "http://semble.so/profile/did:plc:alice/collections/3kcoll",
                "https://semble.so.evil.example/profile/did:plc:alice/collections/3kcoll",
                "https://semble.social/profile/did:plc:alice/collections/3kcoll",
                "https://www.bsky.app/profile/did:plc:alice/post/3kabc",
                "http://bsky.app/profile/did:plc:alice/post/3kabc",
                "https://BSKY.app/profile/did:plc:alice/post/3kabc",
                "https://bsky.app/Profile/did:plc:alice/post/3kabc",
                "https://bsky.app/profile/did:plc:alice/post/3kabc?u=/x",
                " https://bsky.app/profile/did:plc:alice/post/3kabc",
                "",
            ])
        func noMatch(_ url: String) {
            #expect(MentionedEntity.parse(url, appURL: Self.app) == nil)
        }

        @Test("a query string or fragment without a slash stays in the last part, as Semble's ([^/]+)$ takes it")
        func queryInLastPart() {
            #expect(
                MentionedEntity.parse("https://bsky.app/profile/did:plc:alice/post/3kabc?ref=share", appURL: Self.app)
                    == .blueskyPost(handleOrDID: Fx.alice, postID: "3kabc?ref=share"))
            #expect(
                MentionedEntity.parse("https://semble.so/profile/did:plc:alice/collections/3kcoll#top", appURL: Self.app)
                    == .sembleCollection(handleOrDID: Fx.alice, rkey: "3kcoll#top"))
        }

        @Test("a Bluesky post URL with a query string still notifies the post's author")
        func queryStillNotifies() {
            var world = RulesWorld()
            world.users(Fx.alice)
            world.card(Fx.card, by: Fx.actor, url: Fx.post(Fx.alice) + "?ref=share")
            #expect(world.notifications(Fx.bundle()) == [Fx.draft(.userAddedYourBskyPost, to: Fx.alice)])
        }

        @Test("the app URL is taken literally: a different app host matches its own pages only")
        func appURLLiteral() {
            #expect(MentionedEntity.parse(Fx.page(Fx.alice, "r"), appURL: "https://staging.semble.so") == nil)
            #expect(MentionedEntity.parse("https://semblexso/profile/did:plc:alice/collections/r", appURL: "https://semble.so") == nil)
        }

        @Test("the DID a part names: a DID as is (trimmed), nothing for a handle or another DID method")
        func didOf() {
            #expect(MentionedEntity.did(of: Fx.alice) == Fx.alice)
            #expect(MentionedEntity.did(of: "did:web:example.com") == "did:web:example.com")
            #expect(MentionedEntity.did(of: " \(Fx.alice)\t") == Fx.alice)
            #expect(MentionedEntity.did(of: "alice.bsky.social") == nil)
            #expect(MentionedEntity.did(of: "did:key:z6Mkabc") == nil)
            #expect(MentionedEntity.did(of: "") == nil)
        }

        @Test(
            "a DID Semble's DIDOrHandle refuses (atproto DID regex) names nobody",
            arguments: ["did:plc:al_ice", "did:plc:al.ice", "did:plc:", "did:web:", "did:web:example.com:u:alice", "did:web:ex/ample"])
        func didOfMalformed(_ value: String) {
            #expect(MentionedEntity.did(of: value) == nil)
        }
    }
}
