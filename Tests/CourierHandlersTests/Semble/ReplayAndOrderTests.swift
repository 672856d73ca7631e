import CourierEvents
import Testing

@testable import CourierHandlers

/// Redelivery, replay and arrival out of order: the tables are a function of the set of events.
@Suite("Semble handlers: replay and out-of-order arrival")
struct ReplayAndOrderTests {
    typealias E = SembleEvents

    /// A day in Semble: every event type, merges, follows on users and collections, removals.
    static let scenario: [EventEnvelope] = [
        E.collectionCreated("e01", collection: "k1", by: "u1", at: 0),
        E.follow("e02", "u2", follows: "u1", at: 1),
        E.follow("e03", "u3", follows: "k1", type: .collection, at: 2),
        E.libraryAdd("e04", card: "c1", by: "u1", at: 10),
        E.collectionAdd("e05", card: "c1", to: "k1", by: "u1", at: 20),
        E.libraryAdd("e06", card: "c1", by: "u2", at: 30),
        E.collectionAdd("e07", card: "c2", to: "k1", by: "u2", at: 40),
        E.connectionCreated("e08", connection: "x1", by: "u1", at: 50),
        E.unfollow("e09", "u2", unfollows: "u1", at: 60),
        E.libraryRemove("e10", card: "c1", by: "u2", at: 70),
        E.collectionRemove("e11", card: "c2", from: "k1", by: "u1", at: 80),
        E.connectionCreated("e12", connection: "x2", by: "u1", at: 90),
        E.connectionRemoved("e13", connection: "x2", by: "u1", at: 100),
        E.follow("e14", "u4", follows: "u2", at: 110),
        E.libraryAdd("e15", card: "c2", by: "u2", at: 300),
    ]

    @Test("applying the same events again without the inbox changes nothing: the SQL itself is idempotent")
    func replayWithoutInbox() async throws {
        try await SembleTestDatabase.with { database in
            try await database.applyOneByOne(Self.scenario)
            let first = try await database.snapshot()
            #expect(first.rowCount > 30)

            try await database.applyOneByOne(Self.scenario, throughInbox: false)  // redelivered one by one
            try await database.applyBatch(Self.scenario, throughInbox: false)  // replayed as one batch
            try await database.applyBatch(Self.scenario.reversed(), throughInbox: false)
            try await database.applyBatch(Self.scenario + Self.scenario, throughInbox: false)  // copies within a batch
            let again = try await database.snapshot()
            #expect(again == first, "\(first.difference(to: again))")
        }
    }

    @Test("through the inbox, a redelivered event does not reach the handler")
    func replayThroughInbox() async throws {
        try await SembleTestDatabase.with { database in
            try await database.applyBatch(Self.scenario)
            let first = try await database.snapshot()
            try await database.applyBatch(Self.scenario)
            #expect(try await database.snapshot() == first)
            let inbox = try await database.lines("SELECT handler || ' ' || count(*) FROM courier_inbox GROUP BY handler")
            #expect(inbox == ["feeds 11", "notifications 15"])
        }
    }

    @Test("one event at a time in order, in reverse, in one batch: the same tables")
    func orderAndBatching() async throws {
        try await SembleTestDatabase.with { inOrder in
            try await SembleTestDatabase.with { other in
                try await inOrder.applyOneByOne(Self.scenario)
                let expected = try await inOrder.snapshot()

                try await other.applyOneByOne(Self.scenario.reversed())
                let reversed = try await other.snapshot()
                #expect(reversed == expected, "\(expected.difference(to: reversed))")

                try await other.truncate()
                try await other.applyBatch(Self.scenario.reversed())
                let batched = try await other.snapshot()
                #expect(batched == expected, "\(expected.difference(to: batched))")
            }
        }
    }

    /// Applies `arrival` one at a time in that order in one schema and in order in another,
    /// checks both give the same tables, and returns the arrival schema for further checks.
    static func expectOrderIndependent(
        _ arrival: [EventEnvelope], _ check: (SembleTestDatabase) async throws -> Void
    ) async throws {
        try await SembleTestDatabase.with { database in
            try await SembleTestDatabase.with { reference in
                try await database.applyOneByOne(arrival)
                try await reference.applyOneByOne(E.inOrder(arrival))
                let actual = try await database.snapshot()
                let expected = try await reference.snapshot()
                #expect(actual == expected, "\(expected.difference(to: actual))")
                try await check(database)
            }
        }
    }

    @Test("a removal arriving before its addition: no error; the later of the two wins")
    func removalBeforeAddition() async throws {
        try await Self.expectOrderIndependent([
            E.libraryAdd("e1", card: "c1", by: "u1", at: 0),
            E.libraryRemove("e2", card: "c1", by: "u2", at: 20),  // removes the add below, which arrives after it
            E.libraryAdd("e3", card: "c1", by: "u2", at: 10),
            E.collectionRemove("e4", card: "c1", from: "k1", by: "u3", at: 5),  // before the add it arrives before
            E.collectionCreated("e5", collection: "k1", by: "u1", at: 0),
            E.collectionAdd("e6", card: "c1", to: "k1", by: "u3", at: 30),
        ]) { database async throws in
            #expect(
                try await database.notifications() == [
                    #"USER_ADDED_TO_YOUR_COLLECTION to u1 by u3 @30 {"cardId": "c1", "collectionId": "k1"}"#
                ])
            #expect(
                try await database.lines("SELECT format('%s %s %s', card_id, curator_id, present) FROM rm_library_cards")
                    == ["c1 u1 t", "c1 u2 f"])
        }
    }

    @Test("an unfollow arriving before its follow: the follow is over; it still counted while it lasted")
    func unfollowBeforeFollow() async throws {
        try await Self.expectOrderIndependent([
            E.unfollow("e1", "u2", unfollows: "u1", at: 20),
            E.libraryAdd("e2", card: "c1", by: "u1", at: 10),
            E.libraryAdd("e3", card: "c2", by: "u1", at: 30),
            E.follow("e4", "u2", follows: "u1", at: 0),
        ]) { database async throws in
            #expect(try await database.notifications() == [])
            #expect(try await database.feedItems() == ["u2 <- CARD_COLLECTED u1 c1 @10"])
        }
    }

    @Test("following a collection before its CollectionCreated arrives: the author is told once known")
    func followBeforeCollectionCreated() async throws {
        try await SembleTestDatabase.with { database in
            try await database.applyOneByOne([
                E.follow("e2", "u2", follows: "k1", type: .collection, at: 10),
                E.collectionAdd("e3", card: "c1", to: "k1", by: "u3", at: 20),
            ])
            // No author yet: only the subscriber hears of the add.
            #expect(
                try await database.notifications() == [
                    #"USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION to u2 by u3 @20 {"cardId": "c1", "collectionId": "k1"}"#
                ])
            try await database.applyOneByOne([E.collectionCreated("e1", collection: "k1", by: "u1", at: 0)])
            #expect(
                try await database.notifications() == [
                    #"USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION to u2 by u3 @20 {"cardId": "c1", "collectionId": "k1"}"#,
                    #"USER_ADDED_TO_YOUR_COLLECTION to u1 by u3 @20 {"cardId": "c1", "collectionId": "k1"}"#,
                    #"USER_FOLLOWED_YOUR_COLLECTION to u1 by u2 @10 {"targetId": "k1", "targetType": "COLLECTION"}"#,
                ])
        }
    }

    @Test("a late, earlier library add makes its curator the card's author, and moves the notifications")
    func lateEarlierAddChangesAuthor() async throws {
        try await SembleTestDatabase.with { database in
            try await database.applyOneByOne([
                E.libraryAdd("e2", card: "c1", by: "u2", at: 20),
                E.libraryAdd("e3", card: "c1", by: "u3", at: 30),
            ])
            #expect(
                try await database.notifications() == [
                    #"USER_ADDED_YOUR_CARD to u2 by u3 @30 {"cardId": "c1", "curatorId": "u3"}"#
                ])
            try await database.applyOneByOne([E.libraryAdd("e1", card: "c1", by: "u1", at: 10)])
            #expect(
                try await database.notifications() == [
                    #"USER_ADDED_YOUR_CARD to u1 by u2 @20 {"cardId": "c1", "curatorId": "u2"}"#,
                    #"USER_ADDED_YOUR_CARD to u1 by u3 @30 {"cardId": "c1", "curatorId": "u3"}"#,
                ])
            #expect(try await database.lines("SELECT card_id || ' ' || author_id FROM rm_card_authors") == ["c1 u1"])
        }
    }

    @Test("a late, earlier collect re-clusters the activities: the stale one goes, with its feed items")
    func lateCollectReclusters() async throws {
        try await Self.expectOrderIndependent([
            E.follow("e0", "u2", follows: "u1", at: 0),
            E.collectionAdd("e2", card: "c1", to: "k1", by: "u1", at: 100),  // opens, until e1 arrives
            E.libraryAdd("e1", card: "c1", by: "u1", at: 10),  // opens; e2 joins it
        ]) { database async throws in
            #expect(try await database.activities() == [#"CARD_COLLECTED u1 c1 @10 {"cardId": "c1", "collectionIds": ["k1"]}"#])
            #expect(try await database.feedItems() == ["u2 <- CARD_COLLECTED u1 c1 @10"])
        }
    }

    @Test("a late, earlier duplicate of a creation moves the connection's time; the earliest CollectionCreated wins")
    func earliestCreationWins() async throws {
        try await Self.expectOrderIndependent([
            E.follow("e0", "u2", follows: "u1", at: 0),
            E.connectionCreated("e2", connection: "x1", by: "u1", at: 20),
            E.connectionCreated("e1", connection: "x1", by: "u1", at: 10),
            E.collectionCreated("e4", collection: "k1", by: "u3", name: "late", at: 5),
            E.collectionCreated("e3", collection: "k1", by: "u4", name: "early", at: 5),
        ]) { database async throws in
            #expect(try await database.activities() == [#"CONNECTION_CREATED u1 x1 @10 {"connectionId": "x1"}"#])
            #expect(try await database.feedItems() == ["u2 <- CONNECTION_CREATED u1 x1 @10"])
            #expect(try await database.lines("SELECT author_id || ' ' || name FROM rm_collections") == ["u4 early"])
        }
    }
}
