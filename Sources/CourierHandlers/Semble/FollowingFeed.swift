import CourierPostgres

/// `following_feed_items`, recomputed for what a batch touched.
///
/// The rule, as an in-order application fans out: user U has activity A in their following feed
/// iff at one of A's source events E (``FeedActivities``; `feed_activity_sources`) U had a follow
/// active on E's actor (a USER follow) or, when E is a collection add, on E's collection (a
/// COLLECTION follow). So a collection add merged into an activity fans the activity out to the
/// adder's and the collection's followers *at that add*; an unfollow later in the order takes
/// nothing back (Semble only cleans up notifications), one earlier in the order means there was
/// no follow to fan out to. The item's `created_at` is the activity's.
///
/// Recomputed (delete what should not be there, upsert what should) for:
/// - the activities the batch re-clustered or created: all their items, from their sources;
/// - each follow (follower, target type, target) whose register the batch changed: its
///   follower's items of the other activities with a source event on the follow's target after
///   the point from which the change can matter (``Facts/recordFollows(_:into:on:)``: the new
///   follow or unfollow, or the old one it replaced when that one bounded what was followed) —
///   so live traffic re-decides a few recent items, even when a long-standing follow ends; a
///   re-follow re-decides the items since the previous follow (see
///   ``EventOrder/followActive(_:at:eventID:)`` for what the register forgets).
///
/// Every access to a big table is driven by the batch's keys through an index, whatever the
/// planner estimates: `key = ANY (ARRAY(SELECT …))` is an index probe per key when the key is
/// the index's only column; the followers of a source are probed per source row with
/// `CROSS JOIN LATERAL (… OFFSET 0)`. (With `target_id = ANY` on `(target_type, target_id)`, a
/// planner without statistics — a table empty at its last ANALYZE — probes only `target_type`
/// and filters every follow of that type against the whole array; and a join of the sources
/// with a CTE of their followers can become a nested loop that rescans the sources per key.)
/// A target is looked up once per target type (USER: the actor, COLLECTION: the collection),
/// never through one `OR` join.
enum FollowingFeed {
    /// - Parameters:
    ///   - openingEventIDs: CARD_COLLECTED activities to recompute (by opening event).
    ///   - newOpeningEventIDs: more of them, made by this transaction (of (actor, card) pairs
    ///     that had no activity before it): they have no items yet, so theirs are inserted
    ///     without looking for existing ones.
    ///   - connectionIDs: the CONNECTION_CREATED activities to recompute.
    ///   - follows: the follows the batch changed, with their windows.
    static func recompute(
        openingEventIDs: [String], newOpeningEventIDs: [String], connectionIDs: [String], follows: Facts.FollowWindows,
        on db: isolated PostgresConnection
    ) throws {
        guard !openingEventIDs.isEmpty || !newOpeningEventIDs.isEmpty || !connectionIDs.isEmpty || !follows.isEmpty else { return }
        func followsSource(_ type: String) -> String {
            let target = type == "USER" ? "s.actor_id" : "s.collection_id"
            return "f.target_type = '\(type)' AND f.target_id = \(target) AND "
                + EventOrder.followActive("f", at: "s.occurred_at", eventID: "s.event_id")
        }
        func sourceInWindow(_ type: String) -> String {
            let target = type == "USER" ? "s.actor_id" : "s.collection_id"
            return "t.target_type = '\(type)' AND \(target) = t.target_id AND (s.occurred_at, s.event_id) > (t.from_at, t.from_event_id)"
        }
        try db.execute(
            prepared: """
            WITH new_ids AS MATERIALIZED (
                SELECT \(DerivedIDs.cardCollectedActivity(openingEventID: "o")) AS id FROM unnest($8::text[]) AS o
            ),
            dirty_activities AS (
                SELECT a.id, a.created_at, n.id IS NOT NULL AS is_new
                FROM feed_activities a LEFT JOIN new_ids n ON n.id = a.id
                WHERE a.id = ANY (
                    ARRAY(SELECT \(DerivedIDs.cardCollectedActivity(openingEventID: "o")) FROM unnest($1::text[]) AS o)
                    || ARRAY(SELECT \(DerivedIDs.connectionActivity(connectionID: "c")) FROM unnest($2::text[]) AS c)
                    || ARRAY(SELECT id FROM new_ids))
            ),
            dirty_sources AS (
                SELECT s.*, d.created_at, d.is_new
                FROM dirty_activities d CROSS JOIN LATERAL (
                    SELECT * FROM feed_activity_sources s WHERE s.activity_id = d.id OFFSET 0
                ) s
            ),
            wanted AS (
                SELECT f.follower_id AS user_id, s.activity_id, s.created_at, s.is_new
                FROM dirty_sources s CROSS JOIN LATERAL (
                    SELECT f.follower_id FROM rm_feed_follows f WHERE \(followsSource("USER")) OFFSET 0
                ) f
                UNION
                SELECT f.follower_id, s.activity_id, s.created_at, s.is_new
                FROM dirty_sources s CROSS JOIN LATERAL (
                    SELECT f.follower_id FROM rm_feed_follows f WHERE \(followsSource("COLLECTION")) OFFSET 0
                ) f
                WHERE s.collection_id IS NOT NULL
            ),
            touched_follows AS \(Facts.FollowWindows.sql(firstParameter: 3)),
            follow_candidates AS (
                SELECT t.follower_id AS user_id, s.activity_id
                FROM touched_follows t CROSS JOIN LATERAL (
                    SELECT s.activity_id FROM feed_activity_sources s WHERE \(sourceInWindow("USER")) OFFSET 0
                ) s
                UNION
                SELECT t.follower_id, s.activity_id
                FROM touched_follows t CROSS JOIN LATERAL (
                    SELECT s.activity_id FROM feed_activity_sources s WHERE \(sourceInWindow("COLLECTION")) OFFSET 0
                ) s
            ),
            follow_decided AS (
                SELECT c.user_id, c.activity_id, EXISTS (
                    SELECT 1 FROM feed_activity_sources s JOIN rm_feed_follows f ON f.follower_id = c.user_id AND \(followsSource("USER"))
                    WHERE s.activity_id = c.activity_id
                    UNION ALL
                    SELECT 1 FROM feed_activity_sources s JOIN rm_feed_follows f ON f.follower_id = c.user_id AND \(followsSource("COLLECTION"))
                    WHERE s.activity_id = c.activity_id
                ) AS wanted
                FROM follow_candidates c
                WHERE NOT EXISTS (SELECT 1 FROM dirty_activities d WHERE d.id = c.activity_id)
            ),
            removed_from_dirty AS (
                DELETE FROM following_feed_items fi
                WHERE fi.activity_id = ANY (ARRAY(SELECT id FROM dirty_activities WHERE NOT is_new))
                    AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.user_id = fi.user_id AND w.activity_id = fi.activity_id)
            ),
            removed_by_follows AS (
                DELETE FROM following_feed_items fi
                WHERE fi.user_id = ANY (ARRAY(SELECT user_id FROM follow_decided WHERE NOT wanted))
                    AND fi.activity_id = ANY (ARRAY(SELECT activity_id FROM follow_decided WHERE NOT wanted))
                    AND EXISTS (
                        SELECT 1 FROM follow_decided d WHERE NOT d.wanted AND d.user_id = fi.user_id AND d.activity_id = fi.activity_id)
            ),
            -- The items of activities made by this transaction: none exist yet (no arbiter check).
            inserted_new AS (
                INSERT INTO following_feed_items (user_id, activity_id, created_at)
                SELECT user_id, activity_id, created_at FROM wanted WHERE is_new
                ORDER BY 1, 2
            )
            INSERT INTO following_feed_items (user_id, activity_id, created_at)
            SELECT user_id, activity_id, created_at FROM wanted WHERE NOT is_new
            UNION ALL
            SELECT d.user_id, d.activity_id, a.created_at
            FROM follow_decided d JOIN feed_activities a ON a.id = d.activity_id
            WHERE d.wanted AND a.id = ANY (ARRAY(SELECT activity_id FROM follow_decided WHERE wanted))
            ORDER BY 1, 2
            ON CONFLICT (user_id, activity_id) DO UPDATE SET created_at = excluded.created_at
            WHERE following_feed_items.created_at IS DISTINCT FROM excluded.created_at
            """,
            [openingEventIDs, connectionIDs] + follows.bindings + [newOpeningEventIDs])
    }
}
