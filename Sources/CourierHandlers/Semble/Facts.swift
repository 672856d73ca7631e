import CourierPostgres
import Foundation

/// The read models (`rm_*`): what the events establish, each row merged by a rule that ignores
/// order and copies — keep the earliest, keep the latest, or insert once (see ``EventOrder``).
/// Writing a fact twice is a no-op; writing facts in any order gives the same rows.
///
/// Each handler writes the facts it needs itself, in its own transaction and in tables of its
/// own (``SembleSchema/factsPerHandler``), so each is correct whether or not the other has run
/// (or failed), and the two, which the runner runs concurrently, never write the same rows: one
/// never waits for the other's commit, and they cannot deadlock. (The feeds handler's follows and
/// connections are `rm_feed_follows` and `rm_feed_connections`: ``Tables``.) Every statement still
/// writes its rows in key order, so that two instances of one handler would lock in one order.
///
/// Each batch first merges its own events per key (`DISTINCT ON`), because one
/// `INSERT … ON CONFLICT DO UPDATE` may not touch a row twice.
enum Facts {
    /// The tables of the facts both handlers need, each keeping its own copy.
    struct Tables: Sendable {
        var follows: String
        var connections: String

        /// The notifications handler's.
        static let notifications = Tables(follows: "rm_follows", connections: "rm_connections")
        /// The feeds handler's.
        static let feeds = Tables(follows: "rm_feed_follows", connections: "rm_feed_connections")
    }

    /// `rm_card_collects`: every library add and collection add, once.
    static func recordCollects(_ collects: SembleBatch.Collects, on db: isolated PostgresConnection) throws {
        guard !collects.isEmpty else { return }
        try db.execute(
            prepared: """
            INSERT INTO rm_card_collects (event_id, actor_id, card_id, collection_id, occurred_at)
            SELECT event_id, actor_id, card_id, collection_id, occurred_at
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
                AS t(event_id, actor_id, card_id, collection_id, occurred_at)
            ORDER BY event_id COLLATE "C"
            ON CONFLICT (event_id) DO NOTHING
            """,
            collects.bindings)
    }

    /// `rm_library_cards`: per (card, curator), the latest add and the latest removal.
    static func recordLibraryChanges(_ changes: SembleBatch.LibraryChanges, on db: isolated PostgresConnection) throws {
        guard !changes.isEmpty else { return }
        try db.execute(
            prepared: """
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::timestamptz[], $5::text[])
                    AS t(card_id, curator_id, is_add, at, event_id)
            ),
            latest AS (
                SELECT DISTINCT ON (card_id, curator_id, is_add) card_id, curator_id, is_add, at, event_id
                FROM input ORDER BY card_id, curator_id, is_add, at DESC, event_id COLLATE "C" DESC
            ),
            merged AS (
                SELECT coalesce(a.card_id, r.card_id) AS card_id, coalesce(a.curator_id, r.curator_id) AS curator_id,
                    a.at AS added_at, a.event_id AS added_event_id, r.at AS removed_at, r.event_id AS removed_event_id
                FROM (SELECT * FROM latest WHERE is_add) a
                FULL JOIN (SELECT * FROM latest WHERE NOT is_add) r ON r.card_id = a.card_id AND r.curator_id = a.curator_id
            )
            INSERT INTO rm_library_cards AS l (card_id, curator_id, added_at, added_event_id, removed_at, removed_event_id)
            SELECT card_id, curator_id, added_at, added_event_id, removed_at, removed_event_id FROM merged
            ORDER BY card_id, curator_id
            ON CONFLICT (card_id, curator_id) DO UPDATE SET
                \(keep(["added_at", "added_event_id"], from: "l", when: laterAdd("l"))),
                \(keep(["removed_at", "removed_event_id"], from: "l", when: laterRemoval("l")))
            WHERE \(laterAdd("l")) OR \(laterRemoval("l"))
            """,
            changes.bindings)
    }

    /// `rm_collection_cards`: per (collection, card), the latest add (and its adder) and the
    /// latest removal.
    static func recordCollectionChanges(_ changes: SembleBatch.CollectionChanges, on db: isolated PostgresConnection) throws {
        guard !changes.isEmpty else { return }
        try db.execute(
            prepared: """
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::timestamptz[], $6::text[])
                    AS t(collection_id, card_id, member_id, is_add, at, event_id)
            ),
            latest AS (
                SELECT DISTINCT ON (collection_id, card_id, is_add) collection_id, card_id, member_id, is_add, at, event_id
                FROM input ORDER BY collection_id, card_id, is_add, at DESC, event_id COLLATE "C" DESC
            ),
            merged AS (
                SELECT coalesce(a.collection_id, r.collection_id) AS collection_id, coalesce(a.card_id, r.card_id) AS card_id,
                    a.member_id AS added_by, a.at AS added_at, a.event_id AS added_event_id,
                    r.at AS removed_at, r.event_id AS removed_event_id
                FROM (SELECT * FROM latest WHERE is_add) a
                FULL JOIN (SELECT * FROM latest WHERE NOT is_add) r
                    ON r.collection_id = a.collection_id AND r.card_id = a.card_id
            )
            INSERT INTO rm_collection_cards AS c
                (collection_id, card_id, added_by, added_at, added_event_id, removed_at, removed_event_id)
            SELECT collection_id, card_id, added_by, added_at, added_event_id, removed_at, removed_event_id FROM merged
            ORDER BY collection_id, card_id
            ON CONFLICT (collection_id, card_id) DO UPDATE SET
                \(keep(["added_by", "added_at", "added_event_id"], from: "c", when: laterAdd("c"))),
                \(keep(["removed_at", "removed_event_id"], from: "c", when: laterRemoval("c")))
            WHERE \(laterAdd("c")) OR \(laterRemoval("c"))
            """,
            changes.bindings)
    }

    /// `rm_card_authors`: a card's author is the curator of its earliest library add.
    /// - Returns: the cards whose author was set or changed by this batch: their
    ///   USER_ADDED_YOUR_CARD notifications must be recomputed. (Only the notifications
    ///   handler writes this table, under its lock, so the change is seen exactly once.)
    static func recordCardAuthors(_ libraryAdds: SembleBatch.Collects, on db: isolated PostgresConnection) throws -> [String] {
        guard !libraryAdds.isEmpty else { return [] }
        let rows = try db.query(
            prepared: """
            WITH earliest AS (
                SELECT DISTINCT ON (card_id) card_id, actor_id, occurred_at, event_id
                FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS t(card_id, actor_id, occurred_at, event_id)
                ORDER BY card_id, occurred_at, event_id COLLATE "C"
            )
            INSERT INTO rm_card_authors AS a (card_id, author_id, added_at, event_id)
            SELECT card_id, actor_id, occurred_at, event_id FROM earliest ORDER BY card_id
            ON CONFLICT (card_id) DO UPDATE SET
                author_id = excluded.author_id, added_at = excluded.added_at, event_id = excluded.event_id
            WHERE (excluded.added_at, excluded.event_id) < (a.added_at, a.event_id)
            RETURNING card_id
            """,
            [libraryAdds.cardIDs, libraryAdds.actorIDs, libraryAdds.occurredAt, libraryAdds.eventIDs])
        return try rows.map { try $0.decode(String.self, column: 0) }
    }

    /// `rm_collections`: the earliest `CollectionCreated` of a collection wins.
    /// - Returns: the collections whose author was set or changed by this batch: the
    ///   notifications that wait for (or name) the author must be recomputed. (Only the
    ///   notifications handler writes this table.)
    static func recordCollections(_ creations: SembleBatch.CollectionCreations, on db: isolated PostgresConnection) throws -> [String] {
        guard !creations.isEmpty else { return [] }
        let rows = try db.query(
            prepared: """
            WITH earliest AS (
                SELECT DISTINCT ON (collection_id) collection_id, author_id, name, created_at, event_id
                FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])
                    AS t(collection_id, author_id, name, created_at, event_id)
                ORDER BY collection_id, created_at, event_id COLLATE "C"
            )
            INSERT INTO rm_collections AS k (collection_id, author_id, name, created_at, event_id)
            SELECT collection_id, author_id, name, created_at, event_id FROM earliest ORDER BY collection_id
            ON CONFLICT (collection_id) DO UPDATE SET
                author_id = excluded.author_id, name = excluded.name,
                created_at = excluded.created_at, event_id = excluded.event_id
            WHERE (excluded.created_at, excluded.event_id) < (k.created_at, k.event_id)
            RETURNING collection_id
            """,
            creations.bindings)
        return try rows.map { try $0.decode(String.self, column: 0) }
    }

    /// `rm_follows` (or the feeds handler's copy, `table`): per follow — (follower, target type,
    /// target), never the event's `followId`, which Semble stores nowhere (semble-parity.md §4) —
    /// a last-writer-wins register: the latest follow and the latest unfollow. Active now iff the
    /// follow is the later, so follow, unfollow, follow again is active; for "active at an event"
    /// and what the register approximates see ``EventOrder/followActive(_:at:eventID:)``.
    /// - Returns: per follow whose register this batch changed, the point in ``EventOrder`` from
    ///   which on "active at an event" may have changed (the follower's feed items and
    ///   subscription notifications to recompute): the earliest of the old follow (when the follow
    ///   moved; the new one when there was none), the old unfollow when the unfollow moved and the
    ///   old one ended the old follow (else the new one). Nothing changes before it. Follows whose
    ///   register did not change need no recompute. (Read and written in one statement: the old
    ///   row is the statement's snapshot, which is the row it replaces, as one handler's
    ///   transactions are serialized by its advisory lock, ``Inbox``.)
    static func recordFollows(
        _ changes: SembleBatch.FollowChanges, into table: String, on db: isolated PostgresConnection
    ) throws -> FollowWindows {
        guard !changes.isEmpty else { return FollowWindows() }
        let followLater = EventOrder.later("excluded.followed_at", "excluded.followed_event_id", than: "r.followed_at", "r.followed_event_id")
        let unfollowLater = EventOrder.later(
            "excluded.unfollowed_at", "excluded.unfollowed_event_id", than: "r.unfollowed_at", "r.unfollowed_event_id")
        let followMoved = "(w.followed_at, w.followed_event_id) IS DISTINCT FROM (o.followed_at, o.followed_event_id)"
        let unfollowMoved = "(w.unfollowed_at, w.unfollowed_event_id) IS DISTINCT FROM (o.unfollowed_at, o.unfollowed_event_id)"
        let oldEnded = "(o.unfollowed_at, o.unfollowed_event_id) > (o.followed_at, o.followed_event_id)"
        let rows = try db.query(
            prepared: """
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::timestamptz[], $6::text[])
                    AS t(follower_id, target_type, target_id, is_follow, at, event_id)
            ),
            latest AS (
                SELECT DISTINCT ON (follower_id, target_type, target_id, is_follow) * FROM input
                ORDER BY follower_id, target_type, target_id, is_follow, at DESC, event_id COLLATE "C" DESC
            ),
            merged AS (
                SELECT coalesce(f.follower_id, u.follower_id) AS follower_id, coalesce(f.target_type, u.target_type) AS target_type,
                    coalesce(f.target_id, u.target_id) AS target_id,
                    f.at AS followed_at, f.event_id AS followed_event_id, u.at AS unfollowed_at, u.event_id AS unfollowed_event_id
                FROM (SELECT * FROM latest WHERE is_follow) f
                FULL JOIN (SELECT * FROM latest WHERE NOT is_follow) u
                    ON u.follower_id = f.follower_id AND u.target_type = f.target_type AND u.target_id = f.target_id
            ),
            old AS (
                SELECT r.* FROM merged m CROSS JOIN LATERAL (
                    SELECT r.follower_id, r.target_type, r.target_id, r.followed_at, r.followed_event_id,
                        r.unfollowed_at, r.unfollowed_event_id
                    FROM \(table) r
                    WHERE r.follower_id = m.follower_id AND r.target_type = m.target_type AND r.target_id = m.target_id
                    OFFSET 0
                ) r
            ),
            written AS (
                INSERT INTO \(table) AS r
                    (follower_id, target_type, target_id, followed_at, followed_event_id, unfollowed_at, unfollowed_event_id)
                SELECT follower_id, target_type, target_id, followed_at, followed_event_id, unfollowed_at, unfollowed_event_id
                FROM merged ORDER BY follower_id, target_type, target_id
                ON CONFLICT (follower_id, target_type, target_id) DO UPDATE SET
                    \(keep(["followed_at", "followed_event_id"], from: "r", when: followLater)),
                    \(keep(["unfollowed_at", "unfollowed_event_id"], from: "r", when: unfollowLater))
                WHERE \(followLater) OR \(unfollowLater)
                RETURNING r.follower_id, r.target_type, r.target_id, r.followed_at, r.followed_event_id,
                    r.unfollowed_at, r.unfollowed_event_id
            )
            SELECT w.follower_id, w.target_type, w.target_id, x.at, x.event_id
            FROM written w
            LEFT JOIN old o ON o.follower_id = w.follower_id AND o.target_type = w.target_type AND o.target_id = w.target_id
            CROSS JOIN LATERAL (
                SELECT v.at, v.event_id FROM (VALUES
                    (CASE WHEN \(followMoved) THEN coalesce(o.followed_at, w.followed_at) END,
                        CASE WHEN \(followMoved) THEN coalesce(o.followed_event_id, w.followed_event_id) END),
                    (CASE WHEN \(unfollowMoved) THEN CASE WHEN \(oldEnded) THEN o.unfollowed_at ELSE w.unfollowed_at END END,
                        CASE WHEN \(unfollowMoved) THEN CASE WHEN \(oldEnded) THEN o.unfollowed_event_id ELSE w.unfollowed_event_id END END)
                ) v(at, event_id)
                WHERE v.at IS NOT NULL
                ORDER BY v.at, v.event_id COLLATE "C"
                LIMIT 1
            ) x
            ORDER BY 1, 2, 3
            """,
            changes.bindings)
        var windows = FollowWindows()
        for row in rows {
            windows.followerIDs.append(try row.decode(String.self, column: 0))
            windows.targetTypes.append(try row.decode(String.self, column: 1))
            windows.targetIDs.append(try row.decode(String.self, column: 2))
            windows.fromAt.append(try row.decode(Date.self, column: 3))
            windows.fromEventIDs.append(try row.decode(String.self, column: 4))
        }
        return windows
    }

    /// Per follow (follower, target type, target) whose register a batch changed, the point
    /// `(from_at, from_event_id)` from which on it may follow at different events than before
    /// (``recordFollows(_:into:on:)``): the recomputes of the feed and of the notifications look
    /// at the target's events after it, for that follower.
    struct FollowWindows: Sendable {
        var followerIDs: [String] = []
        var targetTypes: [String] = []
        var targetIDs: [String] = []
        var fromAt: [Date] = []
        var fromEventIDs: [String] = []

        var isEmpty: Bool { followerIDs.isEmpty }
        /// The columns ``sql(firstParameter:)`` reads: follower, target type, target, time, event id.
        var bindings: [any PostgresEncodable] { [followerIDs, targetTypes, targetIDs, fromAt, fromEventIDs] }

        /// SQL, a subquery `(follower_id, target_type, target_id, from_at, from_event_id)`, one
        /// row per follow. Reads ``bindings`` as `$n`…`$n+4`.
        static func sql(firstParameter n: Int) -> String {
            """
            (SELECT * FROM unnest($\(n)::text[], $\(n + 1)::text[], $\(n + 2)::text[], $\(n + 3)::timestamptz[], $\(n + 4)::text[])
                AS t(follower_id, target_type, target_id, from_at, from_event_id))
            """
        }
    }

    /// `rm_connections` (or the feeds handler's copy, `table`): the earliest creation and the
    /// earliest removal of each connection.
    static func recordConnections(_ changes: SembleBatch.ConnectionChanges, into table: String, on db: isolated PostgresConnection) throws {
        guard !changes.isEmpty else { return }
        let createdEarlier = EventOrder.earlier("excluded.created_at", "excluded.created_event_id", than: "r.created_at", "r.created_event_id")
        let removedEarlier = EventOrder.earlier("excluded.removed_at", "excluded.removed_event_id", than: "r.removed_at", "r.removed_event_id")
        // The curator: from the earliest creation, else the earliest removal.
        let describes = "(\(createdEarlier) OR (r.created_at IS NULL AND excluded.created_at IS NULL AND \(removedEarlier)))"
        try db.execute(
            prepared: """
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::timestamptz[], $5::text[])
                    AS t(connection_id, curator_id, is_creation, at, event_id)
            ),
            earliest AS (
                SELECT DISTINCT ON (connection_id, is_creation) * FROM input
                ORDER BY connection_id, is_creation, at, event_id COLLATE "C"
            ),
            merged AS (
                SELECT coalesce(c.connection_id, x.connection_id) AS connection_id, coalesce(c.curator_id, x.curator_id) AS curator_id,
                    c.at AS created_at, c.event_id AS created_event_id, x.at AS removed_at, x.event_id AS removed_event_id
                FROM (SELECT * FROM earliest WHERE is_creation) c
                FULL JOIN (SELECT * FROM earliest WHERE NOT is_creation) x ON x.connection_id = c.connection_id
            )
            INSERT INTO \(table) AS r (connection_id, curator_id, created_at, created_event_id, removed_at, removed_event_id)
            SELECT connection_id, curator_id, created_at, created_event_id, removed_at, removed_event_id
            FROM merged ORDER BY connection_id
            ON CONFLICT (connection_id) DO UPDATE SET
                \(keep(["curator_id"], from: "r", when: describes)),
                \(keep(["created_at", "created_event_id"], from: "r", when: createdEarlier)),
                \(keep(["removed_at", "removed_event_id"], from: "r", when: removedEarlier))
            WHERE \(createdEarlier) OR \(removedEarlier)
            """,
            changes.bindings)
    }

    // MARK: SQL pieces

    /// `column = CASE WHEN condition THEN excluded.column ELSE row.column END` for each column:
    /// the new value replaces the stored one only when it wins the merge.
    private static func keep(_ columns: [String], from row: String, when condition: String) -> String {
        columns.map { "\($0) = CASE WHEN \(condition) THEN excluded.\($0) ELSE \(row).\($0) END" }
            .joined(separator: ",\n    ")
    }

    private static func laterAdd(_ row: String) -> String {
        EventOrder.later("excluded.added_at", "excluded.added_event_id", than: "\(row).added_at", "\(row).added_event_id")
    }

    private static func laterRemoval(_ row: String) -> String {
        EventOrder.later("excluded.removed_at", "excluded.removed_event_id", than: "\(row).removed_at", "\(row).removed_event_id")
    }
}
