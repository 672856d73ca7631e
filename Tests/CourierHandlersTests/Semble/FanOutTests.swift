import CourierEvents
import Testing

@testable import CourierHandlers

/// The 2-minute merge as stored, the fan-out to followers of the actor and of the collection,
/// and who is never told about their own doing.
@Suite("Semble handlers: merging and fan-out")
struct FanOutTests {
    typealias E = SembleEvents

    @Test("collection adds within 2 minutes of an activity's start join it; each add fans out to the followers of that moment")
    func mergeAndFanOut() async throws {
        try await SembleTestDatabase.with { database in
            try await database.applyOneByOne([
                E.follow("e-f1", "u2", follows: "u1", at: -10),
                E.libraryAdd("e-1", card: "c1", by: "u1", at: 0),
                E.follow("e-f2", "u3", follows: "k1", type: .collection, at: 60),
                E.collectionAdd("e-2", card: "c1", to: "k1", by: "u1", at: 120),  // joins e-1's activity
                E.collectionAdd("e-3", card: "c1", to: "k2", by: "u1", at: 121),  // too late: a new activity
                E.follow("e-f3", "u4", follows: "k2", type: .collection, at: 150),
                E.collectionAdd("e-4", card: "c1", to: "k1", by: "u1", at: 200),  // joins e-3's
                E.collectionAdd("e-5", card: "c1", to: "k1", by: "u2", at: 201),  // another actor: its own
            ])
            #expect(
                try await database.activities() == [
                    #"CARD_COLLECTED u1 c1 @0 {"cardId": "c1", "collectionIds": ["k1"]}"#,
                    #"CARD_COLLECTED u1 c1 @121 {"cardId": "c1", "collectionIds": ["k1", "k2"]}"#,
                    #"CARD_COLLECTED u2 c1 @201 {"cardId": "c1", "collectionIds": ["k1"]}"#,
                ])
            // u2 follows the actor; u3 followed k1 before e-2 and e-4 (both k1); u4 followed k2
            // after e-3, its only k2 add, so the second activity never reached it.
            #expect(
                try await database.feedItems() == [
                    "u2 <- CARD_COLLECTED u1 c1 @0", "u2 <- CARD_COLLECTED u1 c1 @121",
                    "u3 <- CARD_COLLECTED u1 c1 @0", "u3 <- CARD_COLLECTED u1 c1 @121", "u3 <- CARD_COLLECTED u2 c1 @201",
                ])
            // The sources: which event is in which activity.
            #expect(
                try await database.lines(
                    """
                    SELECT format('%s in %s', s.event_id, a.metadata::text || ' @' || to_char(a.created_at, 'MI:SS'))
                    FROM feed_activity_sources s JOIN feed_activities a ON a.id = s.activity_id
                    """) == [
                        #"e-1 in {"cardId": "c1", "collectionIds": ["k1"]} @00:00"#,
                        #"e-2 in {"cardId": "c1", "collectionIds": ["k1"]} @00:00"#,
                        #"e-3 in {"cardId": "c1", "collectionIds": ["k1", "k2"]} @02:01"#,
                        #"e-4 in {"cardId": "c1", "collectionIds": ["k1", "k2"]} @02:01"#,
                        #"e-5 in {"cardId": "c1", "collectionIds": ["k1"]} @03:21"#,
                    ])
        }
    }

    @Test("an activity's id is derived from its opening event, a notification's from its natural key (a follow's: the triple)")
    func derivedIDs() async throws {
        try await SembleTestDatabase.with { database in
            try await database.applyOneByOne([
                E.libraryAdd("e-1", card: "c1", by: "u1", at: 0),
                E.collectionAdd("e-2", card: "c1", to: "k1", by: "u1", at: 10),
                E.connectionCreated("e-3", connection: "x1", by: "u1", at: 20),
                E.follow("e-4", "u2", follows: "u1", at: 30),
            ])
            let activityIDs = try await database.lines("SELECT id::text FROM feed_activities")
            let expected = try await database.lines(
                """
                SELECT md5('["CARD_COLLECTED", "e-1"]')::uuid::text
                UNION ALL SELECT md5('["CONNECTION_CREATED", "x1"]')::uuid::text
                """)
            #expect(activityIDs == expected)
            let notification = try await database.lines("SELECT n.id::text || ' ' || k.subject FROM notifications n JOIN notification_keys k ON k.notification_id = n.id")
            let expectedNotification = try await database.lines(
                #"SELECT md5('["notification", "USER_FOLLOWED_YOU", "u1", "[\"u2\", \"USER\", \"u1\"]"]')::uuid::text || ' ["u2", "USER", "u1"]'"#)
            #expect(notification == expectedNotification)
        }
    }

    @Test("nobody is told about their own doing")
    func selfExclusions() async throws {
        try await SembleTestDatabase.with { database in
            try await database.applyOneByOne([
                E.collectionCreated("e-k1", collection: "k1", by: "u1", at: 0),
                E.follow("e-f1", "u1", follows: "u1", at: 1),  // a self-follow
                E.follow("e-f2", "u1", follows: "k1", type: .collection, at: 2),  // the author follows their own collection
                E.follow("e-f3", "u2", follows: "k1", type: .collection, at: 3),
                E.libraryAdd("e-a1", card: "c1", by: "u1", at: 10),
                E.libraryRemove("e-a2", card: "c1", by: "u1", at: 11),
                E.libraryAdd("e-a3", card: "c1", by: "u1", at: 12),  // the author adds their card again
                E.collectionAdd("e-c1", card: "c1", to: "k1", by: "u1", at: 20),  // the author adds to their own collection
                E.collectionAdd("e-c2", card: "c2", to: "k1", by: "u2", at: 30),  // a subscriber adds
                E.connectionCreated("e-x1", connection: "x1", by: "u1", at: 40),  // u1 follows u1
            ])
            #expect(
                try await database.notifications() == [
                    #"USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION to u2 by u1 @20 {"cardId": "c1", "collectionId": "k1"}"#,
                    #"USER_ADDED_TO_YOUR_COLLECTION to u1 by u2 @30 {"cardId": "c2", "collectionId": "k1"}"#,
                    #"USER_FOLLOWED_YOUR_COLLECTION to u1 by u2 @3 {"targetId": "k1", "targetType": "COLLECTION"}"#,
                ])
            // Feeds exclude nobody: the self-follow and the adder's own collection follow fan out.
            // (e-c1 joined the activity e-a3 opened 8 s before.)
            #expect(
                try await database.feedItems() == [
                    "u1 <- CARD_COLLECTED u1 c1 @10", "u1 <- CARD_COLLECTED u1 c1 @12", "u1 <- CARD_COLLECTED u2 c2 @30",
                    "u1 <- CONNECTION_CREATED u1 x1 @40", "u2 <- CARD_COLLECTED u1 c1 @12", "u2 <- CARD_COLLECTED u2 c2 @30",
                ])
        }
    }

    @Test("a subscriber is told once per card, about the earliest add since the last removal, by whoever was not them")
    func subscriberToldOnce() async throws {
        try await SembleTestDatabase.with { database in
            try await database.applyOneByOne([
                E.collectionCreated("e-k1", collection: "k1", by: "u1", at: 0),
                E.follow("e-f2", "u2", follows: "k1", type: .collection, at: 1),
                E.follow("e-f3", "u3", follows: "k1", type: .collection, at: 1),
                E.collectionAdd("e-c1", card: "c1", to: "k1", by: "u2", at: 10),  // u3 told; u2 is the adder
                E.collectionAdd("e-c2", card: "c1", to: "k1", by: "u3", at: 20),  // u2 told now, by u3
                E.collectionAdd("e-c3", card: "c1", to: "k1", by: "u4", at: 30),  // nobody new
            ])
            #expect(
                try await database.notifications().filter { $0.hasPrefix("USER_ADDED") } == [
                    #"USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION to u2 by u3 @20 {"cardId": "c1", "collectionId": "k1"}"#,
                    #"USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION to u3 by u2 @10 {"cardId": "c1", "collectionId": "k1"}"#,
                    #"USER_ADDED_TO_YOUR_COLLECTION to u1 by u2 @10 {"cardId": "c1", "collectionId": "k1"}"#,
                ])
        }
    }
}
