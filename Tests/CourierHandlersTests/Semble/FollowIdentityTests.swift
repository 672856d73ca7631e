import CourierEvents
import CourierPostgres
import CourierTesting
import Foundation
import Testing

@testable import CourierHandlers

/// A follow is (follower, target type, target), never a `followId` (semble-parity.md §4): a
/// follow event's id is a fresh UUID stored nowhere, an unfollow's the composite
/// `"<follower>:<target>:<TYPE>"`. And Semble's time fields (§3.1): a CARD_COLLECTED activity is
/// written at its opening add's `addedAt`.
@Suite("Semble handlers: follows by (follower, target type, target); addedAt")
struct FollowIdentityTests {
    typealias E = SembleEvents

    static let bob = "did:plc:bob"
    static let alice = "did:plc:alice"
    static let carol = "did:plc:carol"

    @Test("an unfollow carrying Semble's composite followId ends the follow its follow event (a fresh UUID) began")
    func compositeUnfollowEndsTheFollow() async throws {
        let events = [
            E.collectionCreated("e-k1", collection: "k1", by: Self.carol, at: 0),
            E.follow("e-f1", Self.bob, follows: Self.alice, at: 1, followID: "6f1c6b0e-8a43-4c8e-9a1f-2f7d3c1e5b10"),
            E.follow("e-f2", Self.bob, follows: "k1", type: .collection, at: 2, followID: "0b7e2c1d-3f4a-4b5c-8d6e-7f8091a2b3c4"),
            E.libraryAdd("e-a1", card: "c1", by: Self.alice, at: 10),
            E.unfollow("e-u1", Self.bob, unfollows: Self.alice, at: 20, followID: "did:plc:bob:did:plc:alice:USER"),
            E.unfollow("e-u2", Self.bob, unfollows: "k1", type: .collection, at: 21, followID: "did:plc:bob:k1:COLLECTION"),
            E.libraryAdd("e-a2", card: "c2", by: Self.alice, at: 30),
            E.collectionAdd("e-c1", card: "c3", to: "k1", by: Self.carol, at: 40),
            E.connectionCreated("e-x1", connection: "x1", by: Self.alice, at: 50),
        ]
        // Before the unfollows: both notifications.
        try await SembleTestDatabase.with { database in
            try await database.applyOneByOne(Array(events.prefix(4)))
            #expect(
                try await database.notifications() == [
                    #"USER_FOLLOWED_YOU to did:plc:alice by did:plc:bob @1 {"targetType": "USER"}"#,
                    #"USER_FOLLOWED_YOUR_COLLECTION to did:plc:carol by did:plc:bob @2 {"targetId": "k1", "targetType": "COLLECTION"}"#,
                ])
        }
        try await ReplayAndOrderTests.expectOrderIndependent(events.reversed()) { database async throws in
            // The follow notifications are gone; nothing after the unfollows reached bob.
            #expect(try await database.notifications() == [])
            #expect(try await database.feedItems() == ["did:plc:bob <- CARD_COLLECTED did:plc:alice c1 @10"])
            #expect(
                try await database.lines("SELECT format('%s %s %s %s', follower_id, target_type, target_id, active) FROM rm_follows")
                    == ["did:plc:bob COLLECTION k1 f", "did:plc:bob USER did:plc:alice f"])
            #expect(try await database.lines("SELECT target_id || ' ' || active FROM rm_feed_follows") == ["did:plc:alice false", "k1 false"])
        }
    }

    @Test("follow, unfollow, follow again: active again, notified again (at the re-follow), fan-out again")
    func refollow() async throws {
        let events = [
            E.follow("e-f1", "u2", follows: "u1", at: 0),
            E.unfollow("e-u1", "u2", unfollows: "u1", at: 10),
            E.follow("e-f2", "u2", follows: "u1", at: 20),
            E.connectionCreated("e-x1", connection: "x1", by: "u1", at: 30),
            E.libraryAdd("e-a1", card: "c1", by: "u1", at: 40),
        ]
        try await SembleTestDatabase.with { database in
            try await database.applyOneByOne(Array(events.prefix(1)))
            #expect(try await database.notifications() == [#"USER_FOLLOWED_YOU to u1 by u2 @0 {"targetType": "USER"}"#])
            try await database.applyOneByOne([events[1]])
            #expect(try await database.notifications() == [])
            try await database.applyOneByOne([events[2]])
            #expect(try await database.notifications() == [#"USER_FOLLOWED_YOU to u1 by u2 @20 {"targetType": "USER"}"#])
        }
        try await ReplayAndOrderTests.expectOrderIndependent([events[4], events[2], events[3], events[0], events[1]]) { database async throws in
            #expect(
                try await database.notifications() == [
                    #"SUBSCRIBED_USER_MADE_CONNECTION to u2 by u1 @30 {"connectionId": "x1"}"#,
                    #"USER_FOLLOWED_YOU to u1 by u2 @20 {"targetType": "USER"}"#,
                ])
            #expect(try await database.feedItems() == ["u2 <- CARD_COLLECTED u1 c1 @40", "u2 <- CONNECTION_CREATED u1 x1 @30"])
            #expect(try await database.lines("SELECT active::text FROM rm_follows") == ["true"])
        }
    }

    @Test("the register's approximation: a re-follow forgets the earlier episode, whatever the arrival order")
    func refollowForgetsEarlierEpisode() async throws {
        try await ReplayAndOrderTests.expectOrderIndependent([
            E.follow("e-f2", "u2", follows: "u1", at: 30),  // the re-follow first: the episode below never counts
            E.libraryAdd("e-a1", card: "c1", by: "u1", at: 10),
            E.follow("e-f1", "u2", follows: "u1", at: 0),
            E.unfollow("e-u1", "u2", unfollows: "u1", at: 20),
            E.libraryAdd("e-a2", card: "c2", by: "u1", at: 40),
        ]) { database async throws in
            // c1 was added while u2 followed (0–20), but the register keeps only the follow at 30:
            // the item an in-order application made at 10 is taken back at 30 (EventOrder.followActive).
            #expect(try await database.feedItems() == ["u2 <- CARD_COLLECTED u1 c2 @40"])
            #expect(try await database.notifications() == [#"USER_FOLLOWED_YOU to u1 by u2 @30 {"targetType": "USER"}"#])
        }
    }

    @Test("two follow events of one (follower, target, type) with different followIds are one follow; one unfollow ends it")
    func duplicateFollowsAreOneFollow() async throws {
        try await ReplayAndOrderTests.expectOrderIndependent([
            E.follow("e-f2", "u2", follows: "k1", type: .collection, at: 5, followID: "uuid-b"),
            E.collectionCreated("e-k1", collection: "k1", by: "u3", at: 0),
            E.follow("e-f1", "u2", follows: "k1", type: .collection, at: 1, followID: "uuid-a"),
            E.collectionAdd("e-c1", card: "c1", to: "k1", by: "u1", at: 10),
        ]) { database async throws in
            // One notification (at the later follow: the register keeps the latest), one item,
            // one subscription notification — not one per followId.
            #expect(
                try await database.notifications() == [
                    #"USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION to u2 by u1 @10 {"cardId": "c1", "collectionId": "k1"}"#,
                    #"USER_ADDED_TO_YOUR_COLLECTION to u3 by u1 @10 {"cardId": "c1", "collectionId": "k1"}"#,
                    #"USER_FOLLOWED_YOUR_COLLECTION to u3 by u2 @5 {"targetId": "k1", "targetType": "COLLECTION"}"#,
                ])
            #expect(try await database.feedItems() == ["u2 <- CARD_COLLECTED u1 c1 @10"])
            #expect(try await database.scalar(Int64.self, "SELECT count(*) FROM rm_follows") == 1)
            #expect(try await database.scalar(Int64.self, "SELECT count(*) FROM rm_feed_follows") == 1)

            try await database.applyOneByOne([
                E.unfollow("e-u1", "u2", unfollows: "k1", type: .collection, at: 20),
                E.collectionAdd("e-c2", card: "c2", to: "k1", by: "u1", at: 30),
            ])
            #expect(
                try await database.notifications().filter { $0.contains("to u2") || $0.hasPrefix("USER_FOLLOWED") } == [
                    #"USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION to u2 by u1 @10 {"cardId": "c1", "collectionId": "k1"}"#
                ])
            #expect(try await database.feedItems() == ["u2 <- CARD_COLLECTED u1 c1 @10"])
        }
    }

    @Test("a CARD_COLLECTED activity and its feed items carry the opening add's addedAt, months before it was published")
    func historicalAddedAt() async throws {
        let ninetyDays = 90 * 86_400
        try await SembleTestDatabase.with { database in
            try await database.applyOneByOne([
                E.follow("e-f1", "u2", follows: "u1", at: 0),
                // Opens an activity, until the earlier library add below arrives.
                E.collectionAdd("e-c1", card: "c1", to: "k1", by: "u1", at: 100, addedAt: 100 - ninetyDays),
                E.libraryAdd("e-a1", card: "c1", by: "u1", at: 50, addedAt: 50 - ninetyDays),
                E.connectionCreated("e-x1", connection: "x1", by: "u1", at: 60),
            ])
            // Clustered on the envelope's time (e-c1 50 s after e-a1 joins it), written at e-a1's addedAt.
            #expect(
                try await database.activities() == [
                    #"CARD_COLLECTED u1 c1 @\#(50 - ninetyDays) {"cardId": "c1", "collectionIds": ["k1"]}"#,
                    #"CONNECTION_CREATED u1 x1 @60 {"connectionId": "x1"}"#,
                ])
            #expect(
                try await database.feedItems() == [
                    "u2 <- CARD_COLLECTED u1 c1 @\(50 - ninetyDays)", "u2 <- CONNECTION_CREATED u1 x1 @60",
                ])
            // A later batch re-clusters the pair from the stored sources: their addedAt comes back.
            try await database.applyOneByOne([E.collectionAdd("e-c2", card: "c1", to: "k2", by: "u1", at: 70)])
            #expect(
                try await database.activities().first == #"CARD_COLLECTED u1 c1 @\#(50 - ninetyDays) {"cardId": "c1", "collectionIds": ["k1", "k2"]}"#)
            #expect(try await database.feedItems().first == "u2 <- CARD_COLLECTED u1 c1 @\(50 - ninetyDays)")
            let t0 = Int(SembleEvents.t0.timeIntervalSince1970)
            #expect(
                try await database.lines(
                    "SELECT format('%s %s', event_id, (extract(epoch FROM coalesce(added_at, occurred_at)) - \(t0))::bigint) FROM feed_activity_sources")
                    == ["e-a1 \(50 - ninetyDays)", "e-c1 \(100 - ninetyDays)", "e-c2 70", "e-x1 60"])
            // Written as UTC into the timestamp-without-time-zone column.
            #expect(
                try await database.lines("SELECT to_char(created_at, 'YYYY-MM-DD HH24:MI:SS') FROM feed_activities WHERE type = 'CARD_COLLECTED'")
                    == ["2025-10-03 00:00:50"])
        }
    }

    @Test("migration 2 merges version 1's follow rows per (follower, target type, target), re-keys the ledger, and the handlers go on")
    func migrationTwo() async throws {
        // Semble's tables and Courier's at version 1 only.
        let db = try await SembleTestDatabase.make(courierMigrations: [CourierSchema.migrations[0]])
        let connection = db.connection
        do {
            let notification = "22222222-2222-4222-8222-222222222222"
            // Version 1's rows: bob's follow of alice (a UUID followId) and its unfollow (the
            // composite) as two rows; carol's two follows of k1 under two followIds.
            for table in ["rm_follows", "rm_feed_follows"] {
                try await connection.executeTrustedScript(
                    """
                    INSERT INTO \(db.courierSchema).\(table) VALUES
                        ('uuid-1', 'did:plc:bob', 'USER', 'did:plc:alice', '2026-01-01 00:00:00+00', 'e-1', NULL, NULL),
                        ('did:plc:bob:did:plc:alice:USER', 'did:plc:bob', 'USER', 'did:plc:alice', NULL, NULL, '2026-01-01 00:00:10+00', 'e-2'),
                        ('uuid-3', 'did:plc:carol', 'COLLECTION', 'k1', '2026-01-01 00:00:00+00', 'e-3', NULL, NULL),
                        ('uuid-4', 'did:plc:carol', 'COLLECTION', 'k1', '2026-01-01 00:00:05+00', 'e-4', NULL, NULL);
                    """)
            }
            try await connection.executeTrustedScript(
                """
                INSERT INTO \(db.courierSchema).notification_keys VALUES ('\(notification)', 'USER_FOLLOWED_YOU', '["uuid-1"]', 'did:plc:alice');
                INSERT INTO \(db.schema).notifications (id, recipient_user_id, actor_user_id, type, metadata)
                    VALUES ('\(notification)', 'did:plc:alice', 'did:plc:bob', 'USER_FOLLOWED_YOU', '{"followId": "uuid-1"}');
                INSERT INTO \(db.courierSchema).feed_activity_sources VALUES
                    ('e-9', '11111111-1111-4111-8111-111111111111', 'did:plc:alice', NULL, '2026-01-01 00:00:20+00');
                """)

            #expect(try await CourierSchema.migrate(on: connection, schema: db.courierSchema) == [2])
            for table in ["rm_follows", "rm_feed_follows"] {
                #expect(
                    try await db.lines(
                        """
                        SELECT format('%s %s %s %s/%s %s/%s %s', follower_id, target_type, target_id, to_char(followed_at, 'SS'),
                            followed_event_id, to_char(unfollowed_at, 'SS'), unfollowed_event_id, active)
                        FROM \(table)
                        """) == ["did:plc:bob USER did:plc:alice 00/e-1 10/e-2 f", "did:plc:carol COLLECTION k1 05/e-4 / t"], "\(table)")
            }
            #expect(
                try await db.lines("SELECT subject FROM notification_keys") == [#"["did:plc:bob", "USER", "did:plc:alice"]"#])
            #expect(try await db.lines("SELECT event_id || ' ' || coalesce(added_at::text, 'NULL') FROM feed_activity_sources") == ["e-9 NULL"])

            // The old notification is found by its triple: bob's re-follow replaces it with Semble's.
            try await db.applyOneByOne([E.follow("e-5", "did:plc:bob", follows: "did:plc:alice", at: 20)])
            #expect(
                try await db.notifications() == [#"USER_FOLLOWED_YOU to did:plc:alice by did:plc:bob @20 {"targetType": "USER"}"#])
            #expect(try await db.scalar(Int64.self, "SELECT count(*) FROM notification_keys") == 1)
        } catch {
            try? await db.drop()
            throw error
        }
        try await db.drop()
    }
}
