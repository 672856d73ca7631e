import CourierPostgres

/// The notifications, as functions of the read models, recomputed for the subjects a batch
/// touched — one statement per family:
///
/// ```
/// WITH scope AS (the subjects to recompute, for every recipient or for one),
///      targets AS (the notifications those subjects should have),
///      gone AS (the scope's notifications, found in the ledger, that are not targets),
///      removed AS (DELETE them from the ledger and from notifications),
///      keyed AS (INSERT the targets' keys into the ledger)
/// INSERT the targets ON CONFLICT (id) DO UPDATE what changed
/// ```
///
/// A notification is identified by its natural key `(type, subject, recipient)` (id derived from
/// it, ``DerivedIDs``), so recomputing never duplicates one — a second copy is a conflict on
/// Semble's primary key — and an existing row keeps its `read`
/// flag; `actor`, `metadata` and `created_at` are updated only if an earlier event changed them
/// (`updated_at` is then set to the new `created_at`, which is what an in-order application
/// would have written). Every time is an event's `occurredAt`, never `now()`.
///
/// "The add" of a card that is in a library or collection is the earliest add since the latest
/// removal: what an in-order application, whose inserts do nothing once the row exists,
/// notified about.
enum NotificationRules {
    /// USER_ADDED_YOUR_CARD: for each card in a curator's library whose author (its earliest
    /// curator) is someone else, to the author, by the curator, at the add.
    /// - Parameters:
    ///   - cardIDs, curatorIDs: the (card, curator) pairs the batch added or removed.
    ///   - authorChangedCardIDs: cards whose author the batch set or changed: every curator's.
    static func cardAdds(
        cardIDs: [String], curatorIDs: [String], authorChangedCardIDs: [String], on db: isolated PostgresConnection
    ) throws {
        guard !cardIDs.isEmpty || !authorChangedCardIDs.isEmpty else { return }
        let subject = DerivedIDs.subject("s.card_id", "s.curator_id")
        try db.execute(
            prepared: """
            WITH pairs AS (
                SELECT DISTINCT card_id, curator_id FROM (
                    SELECT card_id, curator_id FROM unnest($1::text[], $2::text[]) AS p(card_id, curator_id)
                    UNION ALL
                    SELECT l.card_id, l.curator_id FROM rm_library_cards l WHERE l.card_id = ANY ($3::text[])
                ) p
            ),
            scope AS (
                SELECT \(subject) AS subject, NULL::text AS recipient FROM pairs s
            ),
            authors AS (
                SELECT card_id, author_id FROM rm_card_authors WHERE card_id = ANY (ARRAY(SELECT DISTINCT card_id FROM pairs))
            ),
            targets AS (
                SELECT 'USER_ADDED_YOUR_CARD'::text AS type, a.author_id AS recipient, s.curator_id AS actor,
                    first_add.occurred_at AS at, \(subject) AS subject,
                    jsonb_build_object('cardId', s.card_id, 'curatorId', s.curator_id) AS metadata
                FROM pairs s
                JOIN authors a ON a.card_id = s.card_id AND a.author_id <> s.curator_id
                CROSS JOIN LATERAL (
                    SELECT * FROM rm_library_cards l
                    WHERE l.card_id = s.card_id AND l.curator_id = s.curator_id AND l.present OFFSET 0
                ) l
                CROSS JOIN LATERAL (
                    SELECT c.occurred_at FROM rm_card_collects c
                    WHERE c.actor_id = s.curator_id AND c.card_id = s.card_id AND c.collection_id IS NULL
                        AND (l.removed_at IS NULL OR (c.occurred_at, c.event_id) > (l.removed_at, l.removed_event_id))
                    ORDER BY c.occurred_at, c.event_id
                    LIMIT 1
                ) first_add
            ),
            \(replace(types: ["USER_ADDED_YOUR_CARD"]))
            """,
            [cardIDs, curatorIDs, authorChangedCardIDs])
    }

    /// USER_ADDED_TO_YOUR_COLLECTION — for each card in a collection, to the collection's author
    /// (once known), by the earliest adder since the latest removal who is not the author;
    /// USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION — to each user who followed the collection at one
    /// of those adds, by the earliest such adder who is not the user, unless the user is the author.
    /// - Parameters:
    ///   - collectionIDs, cardIDs: the (collection, card) pairs the batch added or removed.
    ///   - authorChangedCollectionIDs: collections whose author the batch set or changed.
    ///   - follows: the follows the batch changed, each with its window
    ///     (``Facts/recordFollows(_:into:on:)``); for a collection follow, its follower's
    ///     notifications about the adds after the window's start.
    static func collectionAdds(
        collectionIDs: [String], cardIDs: [String], authorChangedCollectionIDs: [String], follows: Facts.FollowWindows,
        on db: isolated PostgresConnection
    ) throws {
        guard !collectionIDs.isEmpty || !authorChangedCollectionIDs.isEmpty || !follows.isEmpty else { return }
        try db.execute(
            prepared: """
            WITH pair_scope AS (
                SELECT collection_id, card_id, NULL::text AS recipient
                FROM unnest($1::text[], $2::text[]) AS p(collection_id, card_id)
                UNION
                SELECT cc.collection_id, cc.card_id, NULL
                FROM (SELECT DISTINCT c FROM unnest($3::text[]) AS c) k CROSS JOIN LATERAL (
                    SELECT * FROM rm_collection_cards cc WHERE cc.collection_id = k.c OFFSET 0
                ) cc
                UNION
                SELECT c.collection_id, c.card_id, f.follower_id
                FROM \(Facts.FollowWindows.sql(firstParameter: 4)) f CROSS JOIN LATERAL (
                    SELECT c.collection_id, c.card_id FROM rm_card_collects c
                    WHERE c.collection_id = f.target_id AND (c.occurred_at, c.event_id) > (f.from_at, f.from_event_id)
                    OFFSET 0
                ) c
                WHERE f.target_type = 'COLLECTION'
            ),
            scope AS (
                SELECT \(DerivedIDs.subject("collection_id", "card_id")) AS subject, recipient FROM pair_scope
            ),
            pairs AS (
                SELECT DISTINCT collection_id, card_id FROM pair_scope
            ),
            runs AS (
                SELECT c.collection_id, c.card_id, c.actor_id, c.occurred_at, c.event_id
                FROM pairs p
                CROSS JOIN LATERAL (
                    SELECT * FROM rm_collection_cards cc
                    WHERE cc.collection_id = p.collection_id AND cc.card_id = p.card_id AND cc.present OFFSET 0
                ) cc
                CROSS JOIN LATERAL (
                    SELECT * FROM rm_card_collects c
                    WHERE c.collection_id = p.collection_id AND c.card_id = p.card_id
                        AND (cc.removed_at IS NULL OR (c.occurred_at, c.event_id) > (cc.removed_at, cc.removed_event_id))
                    OFFSET 0
                ) c
            ),
            authors AS (
                SELECT k.collection_id, k.author_id FROM (SELECT DISTINCT collection_id FROM runs) r
                CROSS JOIN LATERAL (SELECT * FROM rm_collections k WHERE k.collection_id = r.collection_id OFFSET 0) k
            ),
            owner AS (
                SELECT DISTINCT ON (r.collection_id, r.card_id)
                    'USER_ADDED_TO_YOUR_COLLECTION'::text AS type, k.author_id AS recipient, r.actor_id AS actor,
                    r.occurred_at AS at, r.collection_id, r.card_id
                FROM runs r JOIN authors k ON k.collection_id = r.collection_id AND k.author_id <> r.actor_id
                ORDER BY r.collection_id, r.card_id, r.occurred_at, r.event_id
            ),
            subscribers AS (
                SELECT DISTINCT ON (r.collection_id, r.card_id, f.follower_id)
                    'USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION'::text AS type, f.follower_id AS recipient, r.actor_id AS actor,
                    r.occurred_at AS at, r.collection_id, r.card_id
                FROM runs r CROSS JOIN LATERAL \(followers(
                    type: "COLLECTION", of: "r.collection_id", except: "r.actor_id", at: "r.occurred_at", eventID: "r.event_id")) f
                LEFT JOIN authors k ON k.collection_id = r.collection_id
                WHERE k.author_id IS DISTINCT FROM f.follower_id
                ORDER BY r.collection_id, r.card_id, f.follower_id, r.occurred_at, r.event_id
            ),
            targets AS (
                SELECT t.type, t.recipient, t.actor, t.at, \(DerivedIDs.subject("t.collection_id", "t.card_id")) AS subject,
                    jsonb_build_object('collectionId', t.collection_id, 'cardId', t.card_id) AS metadata
                FROM (SELECT * FROM owner UNION ALL SELECT * FROM subscribers) t
                WHERE EXISTS (
                    SELECT 1 FROM pair_scope s
                    WHERE s.collection_id = t.collection_id AND s.card_id = t.card_id AND (s.recipient IS NULL OR s.recipient = t.recipient))
            ),
            \(replace(types: ["USER_ADDED_TO_YOUR_COLLECTION", "USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION"]))
            """,
            [collectionIDs, cardIDs, authorChangedCollectionIDs] + follows.bindings)
    }

    /// USER_FOLLOWED_YOU — for each currently active user follow, to the followed user;
    /// USER_FOLLOWED_YOUR_COLLECTION — for each currently active collection follow, to the
    /// collection's author once known. Never to the follower themself; by the follower, at the
    /// latest follow. The subject is the follow, (follower, target type, target) — never a
    /// `followId` (semble-parity.md §4) — so an unfollow (a later unfollow event of the triple)
    /// removes it and a re-follow brings it back. Metadata as Semble writes it (§3.2):
    /// `{"targetType":"USER"}`, `{"targetType":"COLLECTION","targetId":<collection>}`.
    /// - Parameters:
    ///   - follows: the follows the batch changed (their windows do not matter here).
    ///   - authorChangedCollectionIDs: collections whose author the batch set or changed: all
    ///     their follows.
    static func follows(follows: Facts.FollowWindows, authorChangedCollectionIDs: [String], on db: isolated PostgresConnection) throws {
        guard !follows.isEmpty || !authorChangedCollectionIDs.isEmpty else { return }
        let subject = DerivedIDs.subject("f.follower_id", "f.target_type", "f.target_id")
        try db.execute(
            prepared: """
            WITH touched AS (
                SELECT f.* FROM unnest($1::text[], $2::text[], $3::text[]) AS t(follower_id, target_type, target_id)
                CROSS JOIN LATERAL (
                    SELECT * FROM rm_follows f
                    WHERE f.follower_id = t.follower_id AND f.target_type = t.target_type AND f.target_id = t.target_id OFFSET 0
                ) f
                UNION
                SELECT f.* FROM (SELECT DISTINCT c FROM unnest($4::text[]) AS c) k CROSS JOIN LATERAL (
                    SELECT * FROM rm_follows f WHERE f.target_type = 'COLLECTION' AND f.target_id = k.c OFFSET 0
                ) f
            ),
            scope AS (
                SELECT \(subject) AS subject, NULL::text AS recipient FROM touched f
            ),
            targets AS (
                SELECT
                    CASE f.target_type WHEN 'USER' THEN 'USER_FOLLOWED_YOU' ELSE 'USER_FOLLOWED_YOUR_COLLECTION' END AS type,
                    CASE f.target_type WHEN 'USER' THEN f.target_id ELSE k.author_id END AS recipient,
                    f.follower_id AS actor, f.followed_at AS at, \(subject) AS subject,
                    CASE f.target_type
                        WHEN 'USER' THEN jsonb_build_object('targetType', 'USER')
                        ELSE jsonb_build_object('targetType', 'COLLECTION', 'targetId', f.target_id)
                    END AS metadata
                FROM touched f
                LEFT JOIN LATERAL (
                    SELECT k.author_id FROM rm_collections k
                    WHERE f.target_type = 'COLLECTION' AND k.collection_id = f.target_id OFFSET 0
                ) k ON true
                WHERE f.active AND CASE f.target_type WHEN 'USER' THEN f.target_id ELSE k.author_id END <> f.follower_id
            ),
            \(replace(types: ["USER_FOLLOWED_YOU", "USER_FOLLOWED_YOUR_COLLECTION"]))
            """,
            [follows.followerIDs, follows.targetTypes, follows.targetIDs, authorChangedCollectionIDs])
    }

    /// SUBSCRIBED_USER_MADE_CONNECTION — for each connection created and not removed, to each
    /// user who followed the curator at its creation (not the curator), by the curator, then.
    /// - Parameters:
    ///   - connectionIDs: the connections the batch created or removed.
    ///   - follows: the follows the batch changed, each with its window; for a user follow, its
    ///     follower's notifications about the connections made after the window's start.
    static func connections(connectionIDs: [String], follows: Facts.FollowWindows, on db: isolated PostgresConnection) throws {
        guard !connectionIDs.isEmpty || !follows.isEmpty else { return }
        try db.execute(
            prepared: """
            WITH connection_scope AS (
                SELECT c AS connection_id, NULL::text AS recipient FROM unnest($1::text[]) AS c
                UNION
                SELECT c.connection_id, f.follower_id
                FROM \(Facts.FollowWindows.sql(firstParameter: 2)) f CROSS JOIN LATERAL (
                    SELECT c.connection_id FROM rm_connections c
                    WHERE c.curator_id = f.target_id AND c.created_at IS NOT NULL
                        AND (c.created_at, c.created_event_id) > (f.from_at, f.from_event_id)
                    OFFSET 0
                ) c
                WHERE f.target_type = 'USER'
            ),
            scope AS (
                SELECT \(DerivedIDs.subject("connection_id")) AS subject, recipient FROM connection_scope
            ),
            connections AS (
                SELECT * FROM rm_connections
                WHERE connection_id = ANY (ARRAY(SELECT DISTINCT connection_id FROM connection_scope))
                    AND created_at IS NOT NULL AND removed_at IS NULL
            ),
            targets AS (
                SELECT DISTINCT ON (c.connection_id, f.follower_id)
                    'SUBSCRIBED_USER_MADE_CONNECTION'::text AS type, f.follower_id AS recipient, c.curator_id AS actor,
                    c.created_at AS at, \(DerivedIDs.subject("c.connection_id")) AS subject,
                    jsonb_build_object('connectionId', c.connection_id) AS metadata
                FROM connections c CROSS JOIN LATERAL \(followers(
                    type: "USER", of: "c.curator_id", except: "c.curator_id", at: "c.created_at", eventID: "c.created_event_id")) f
                WHERE EXISTS (
                    SELECT 1 FROM connection_scope s
                    WHERE s.connection_id = c.connection_id AND (s.recipient IS NULL OR s.recipient = f.follower_id))
                ORDER BY c.connection_id, f.follower_id
            ),
            \(replace(types: ["SUBSCRIBED_USER_MADE_CONNECTION"]))
            """,
            [connectionIDs] + follows.bindings)
    }

    /// SQL, a subquery for `CROSS JOIN LATERAL`: the `follower_id`s of the follows of `type`
    /// on `target` that were active at the event `(at, eventID)`, but `except` — probed per row
    /// through `(target_type, target_id)` (see ``replace(types:)`` for why per row).
    private static func followers(type: String, of target: String, except: String, at: String, eventID: String) -> String {
        """
        (SELECT f.follower_id FROM rm_follows f
        WHERE f.target_type = '\(type)' AND f.target_id = \(target) AND f.follower_id <> \(except)
            AND \(EventOrder.followActive("f", at: at, eventID: eventID))
        OFFSET 0)
        """
    }

    /// The tail every family shares, after its `scope(subject, recipient)` and
    /// `targets(type, recipient, actor, at, subject, metadata)` CTEs: delete the notifications of
    /// `types` in scope (a NULL recipient: every recipient) that are not targets, upsert the targets.
    /// Semble's `notifications` has no column for the natural key (and must not get one): the
    /// ledger `notification_keys` in Courier's schema holds it, written in the same statement, and
    /// is how a subject's notifications are found.
    /// (The id is a function of the natural key, so "not a target" is "id not among the targets'":
    /// an array built once, checked only against the few notifications the scope finds by index.)
    ///
    /// Every statement reaches the big tables from the batch's keys through an index, whatever the
    /// planner estimates for the CTEs: `key = ANY (ARRAY(SELECT …))` (an index probe per key) when
    /// the key is an index's only or first column, else `CROSS JOIN LATERAL (… OFFSET 0)` per key
    /// (`OFFSET 0` keeps the subquery a per-row index lookup instead of letting the planner turn
    /// it into a join over a whole table). A follow's target is the second column of
    /// `(target_type, target_id)`: with `= ANY` there, a planner without statistics probes only
    /// `target_type` and filters every follow of that type against the whole array; so the
    /// followers of a run or a connection are probed per row, inside the lateral.
    private static func replace(types: [String]) -> String {
        let typeList = types.map { "'\($0)'" }.joined(separator: ", ")
        let id = DerivedIDs.notification(type: "t.type", recipient: "t.recipient", subject: "t.subject")
        return """
            gone AS (
                SELECT x.notification_id FROM (SELECT DISTINCT subject FROM scope) k CROSS JOIN LATERAL (
                    SELECT x.notification_id, x.recipient_user_id FROM notification_keys x
                    WHERE x.subject = k.subject AND x.type IN (\(typeList)) OFFSET 0
                ) x
                WHERE EXISTS (
                        SELECT 1 FROM scope s WHERE s.subject = k.subject AND (s.recipient IS NULL OR s.recipient = x.recipient_user_id))
                    AND x.notification_id <> ALL (ARRAY(SELECT \(id) FROM targets t))
            ),
            removed_keys AS (
                DELETE FROM notification_keys WHERE notification_id = ANY (ARRAY(SELECT notification_id FROM gone))
            ),
            removed AS (
                DELETE FROM notifications WHERE id = ANY (ARRAY(SELECT notification_id FROM gone))
            ),
            keyed AS (
                INSERT INTO notification_keys (notification_id, type, subject, recipient_user_id)
                SELECT \(id), t.type, t.subject, t.recipient FROM targets t
                ORDER BY 1
                ON CONFLICT (notification_id) DO NOTHING
            )
            INSERT INTO notifications (id, recipient_user_id, actor_user_id, type, metadata, read, created_at, updated_at)
            SELECT \(id), t.recipient, t.actor, t.type, t.metadata, false,
                t.at AT TIME ZONE 'UTC', t.at AT TIME ZONE 'UTC'
            FROM targets t
            ORDER BY 1
            ON CONFLICT (id) DO UPDATE SET
                actor_user_id = excluded.actor_user_id, metadata = excluded.metadata,
                created_at = excluded.created_at, updated_at = excluded.updated_at
            WHERE (notifications.actor_user_id, notifications.metadata, notifications.created_at)
                IS DISTINCT FROM (excluded.actor_user_id, excluded.metadata, excluded.created_at)
            """
    }
}
