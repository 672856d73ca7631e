import CourierEvents
import Testing

@testable import CourierHandlers

/// What each of the nine event types does to Semble's tables, spelled out: each case applies
/// its events one at a time (the last one is the event under test) with both handlers, then
/// reads every activity, feed item and notification.
@Suite("Semble handlers: the effect of each event type")
struct EventEffectsTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var events: [EventEnvelope]
        var activities: [String]
        var feedItems: [String]
        var notifications: [String]
        var testDescription: String { name }
    }

    typealias E = SembleEvents

    static let followedYouU1 = #"USER_FOLLOWED_YOU to u1 by u2 @0 {"targetType": "USER"}"#
    static let u3AuthorOfK1 = E.collectionCreated("e-k1", collection: "k1", by: "u3", at: 0)

    static let cases: [Case] = [
        Case(
            name: "CardAddedToLibrary: an activity for the curator's followers; the card's author is told",
            events: [
                E.follow("e-f1", "u2", follows: "u1", at: 0),
                E.libraryAdd("e-a1", card: "c1", by: "u3", at: 1),
                E.libraryAdd("e-a2", card: "c1", by: "u1", at: 10),
            ],
            activities: [
                #"CARD_COLLECTED u1 c1 @10 {"cardId": "c1", "collectionIds": []}"#,
                #"CARD_COLLECTED u3 c1 @1 {"cardId": "c1", "collectionIds": []}"#,
            ],
            feedItems: ["u2 <- CARD_COLLECTED u1 c1 @10"],
            notifications: [
                followedYouU1,
                #"USER_ADDED_YOUR_CARD to u3 by u1 @10 {"cardId": "c1", "curatorId": "u1"}"#,
            ]),
        Case(
            name: "CardAddedToCollection: fan-out to the actor's and the collection's followers; author and subscribers told",
            events: [
                u3AuthorOfK1,
                E.follow("e-f1", "u2", follows: "u1", at: 0),
                E.follow("e-f2", "u4", follows: "k1", type: .collection, at: 2),
                E.collectionAdd("e-c1", card: "c1", to: "k1", by: "u1", at: 10),
            ],
            activities: [#"CARD_COLLECTED u1 c1 @10 {"cardId": "c1", "collectionIds": ["k1"]}"#],
            feedItems: ["u2 <- CARD_COLLECTED u1 c1 @10", "u4 <- CARD_COLLECTED u1 c1 @10"],
            notifications: [
                followedYouU1,
                #"USER_FOLLOWED_YOUR_COLLECTION to u3 by u4 @2 {"targetId": "k1", "targetType": "COLLECTION"}"#,
                #"USER_ADDED_TO_YOUR_COLLECTION to u3 by u1 @10 {"cardId": "c1", "collectionId": "k1"}"#,
                #"USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION to u4 by u1 @10 {"cardId": "c1", "collectionId": "k1"}"#,
            ]),
        Case(
            name: "CardRemovedFromLibrary: deletes the notification of the add; the activity stays",
            events: [
                E.follow("e-f1", "u2", follows: "u1", at: 0),
                E.libraryAdd("e-a1", card: "c1", by: "u3", at: 1),
                E.libraryAdd("e-a2", card: "c1", by: "u1", at: 10),
                E.libraryRemove("e-r1", card: "c1", by: "u1", at: 20),
            ],
            activities: [
                #"CARD_COLLECTED u1 c1 @10 {"cardId": "c1", "collectionIds": []}"#,
                #"CARD_COLLECTED u3 c1 @1 {"cardId": "c1", "collectionIds": []}"#,
            ],
            feedItems: ["u2 <- CARD_COLLECTED u1 c1 @10"],
            notifications: [followedYouU1]),
        Case(
            name: "CardRemovedFromCollection: deletes the add's notifications; the activity stays",
            events: [
                u3AuthorOfK1,
                E.follow("e-f2", "u4", follows: "k1", type: .collection, at: 2),
                E.collectionAdd("e-c1", card: "c1", to: "k1", by: "u1", at: 10),
                E.collectionRemove("e-r1", card: "c1", from: "k1", by: "u3", at: 20),
            ],
            activities: [#"CARD_COLLECTED u1 c1 @10 {"cardId": "c1", "collectionIds": ["k1"]}"#],
            feedItems: ["u4 <- CARD_COLLECTED u1 c1 @10"],
            notifications: [
                #"USER_FOLLOWED_YOUR_COLLECTION to u3 by u4 @2 {"targetId": "k1", "targetType": "COLLECTION"}"#
            ]),
        Case(
            name: "CollectionCreated: read model only, but it makes the notifications that waited for the author",
            events: [
                E.follow("e-f2", "u4", follows: "k1", type: .collection, at: 2),
                E.collectionAdd("e-c1", card: "c1", to: "k1", by: "u1", at: 10),
                u3AuthorOfK1,
            ],
            activities: [#"CARD_COLLECTED u1 c1 @10 {"cardId": "c1", "collectionIds": ["k1"]}"#],
            feedItems: ["u4 <- CARD_COLLECTED u1 c1 @10"],
            notifications: [
                #"USER_FOLLOWED_YOUR_COLLECTION to u3 by u4 @2 {"targetId": "k1", "targetType": "COLLECTION"}"#,
                #"USER_ADDED_TO_YOUR_COLLECTION to u3 by u1 @10 {"cardId": "c1", "collectionId": "k1"}"#,
                #"USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION to u4 by u1 @10 {"cardId": "c1", "collectionId": "k1"}"#,
            ]),
        Case(
            name: "CollectionCreated alone: nothing in Semble's tables",
            events: [u3AuthorOfK1],
            activities: [], feedItems: [], notifications: []),
        Case(
            name: "UserFollowedTarget (user), arriving after an activity it precedes: the follower gets it",
            events: [
                E.libraryAdd("e-a1", card: "c1", by: "u1", at: 10),
                E.follow("e-f1", "u2", follows: "u1", at: 0),
            ],
            activities: [#"CARD_COLLECTED u1 c1 @10 {"cardId": "c1", "collectionIds": []}"#],
            feedItems: ["u2 <- CARD_COLLECTED u1 c1 @10"],
            notifications: [followedYouU1]),
        Case(
            name: "UserFollowedTarget (user) after the activity: not in the feed, only the notification",
            events: [
                E.libraryAdd("e-a1", card: "c1", by: "u1", at: 10),
                E.follow("e-f1", "u2", follows: "u1", at: 20),
            ],
            activities: [#"CARD_COLLECTED u1 c1 @10 {"cardId": "c1", "collectionIds": []}"#],
            feedItems: [],
            notifications: [#"USER_FOLLOWED_YOU to u1 by u2 @20 {"targetType": "USER"}"#]),
        Case(
            name: "UserFollowedTarget (collection): the collection's author is told",
            events: [u3AuthorOfK1, E.follow("e-f2", "u4", follows: "k1", type: .collection, at: 2)],
            activities: [], feedItems: [],
            notifications: [
                #"USER_FOLLOWED_YOUR_COLLECTION to u3 by u4 @2 {"targetId": "k1", "targetType": "COLLECTION"}"#
            ]),
        Case(
            name: "UserUnfollowedTarget: deletes the follow's notification; the feed keeps what it had",
            events: [
                E.follow("e-f1", "u2", follows: "u1", at: 0),
                E.libraryAdd("e-a1", card: "c1", by: "u1", at: 10),
                E.unfollow("e-u1", "u2", unfollows: "u1", at: 20),
                E.libraryAdd("e-a2", card: "c2", by: "u1", at: 30),
            ],
            activities: [
                #"CARD_COLLECTED u1 c1 @10 {"cardId": "c1", "collectionIds": []}"#,
                #"CARD_COLLECTED u1 c2 @30 {"cardId": "c2", "collectionIds": []}"#,
            ],
            feedItems: ["u2 <- CARD_COLLECTED u1 c1 @10"],
            notifications: []),
        Case(
            name: "ConnectionCreated: an activity and a notification for the curator's followers",
            events: [
                E.follow("e-f1", "u2", follows: "u1", at: 0),
                E.connectionCreated("e-x1", connection: "x1", by: "u1", at: 10),
            ],
            activities: [#"CONNECTION_CREATED u1 x1 @10 {"connectionId": "x1"}"#],
            feedItems: ["u2 <- CONNECTION_CREATED u1 x1 @10"],
            notifications: [followedYouU1, #"SUBSCRIBED_USER_MADE_CONNECTION to u2 by u1 @10 {"connectionId": "x1"}"#]),
        Case(
            name: "ConnectionRemoved: deletes the notifications; the activity stays",
            events: [
                E.follow("e-f1", "u2", follows: "u1", at: 0),
                E.connectionCreated("e-x1", connection: "x1", by: "u1", at: 10),
                E.connectionRemoved("e-x2", connection: "x1", by: "u1", at: 20),
            ],
            activities: [#"CONNECTION_CREATED u1 x1 @10 {"connectionId": "x1"}"#],
            feedItems: ["u2 <- CONNECTION_CREATED u1 x1 @10"],
            notifications: [followedYouU1]),
    ]

    @Test(arguments: cases)
    func effect(of testCase: Case) async throws {
        try await SembleTestDatabase.with { database in
            try await database.applyOneByOne(testCase.events)
            #expect(try await database.activities() == testCase.activities.sorted())
            #expect(try await database.feedItems() == testCase.feedItems.sorted())
            #expect(try await database.notifications() == testCase.notifications.sorted())
        }
    }

    @Test("every event type is handled; CollectionCreated by the notifications handler only")
    func coverage() {
        let handled = SembleHandlers.all.reduce(into: Set<EventType>()) { $0.formUnion($1.eventTypes) }
        #expect(handled == Set(EventType.allCases))
        #expect(Set(SembleHandlers.all.map(\.name)) == ["feeds", "notifications"])
        #expect(!FeedsHandler().eventTypes.contains(.collectionCreated))
    }
}
