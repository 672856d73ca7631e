import CourierPostgres
import Foundation

/// `feed_activities` and `feed_activity_sources`, recomputed for the keys a batch touched.
///
/// - CARD_COLLECTED: per (actor, card) touched, every collect of the pair — those the handler
///   applied before, which are the sources of the pair's activities (`feed_activity_sources`, one
///   query for the batch), and the batch's own — is clustered by ``ActivityClustering``, and
///   written back: activities upserted by their derived id, sources re-pointed, and the pair's
///   activities the clustering no longer makes (a late earlier collect re-opened the cluster)
///   deleted — their feed items and sources go with them (`ON DELETE CASCADE`). An activity's
///   `created_at` is its opening collect's `addedAt` (kept in `feed_activity_sources.added_at`
///   for later batches), as Semble writes it; the clustering itself is on `occurredAt`.
/// - CONNECTION_CREATED: one per connection whose creation is known, named after the connection,
///   at its earliest creation (its `occurredAt`: the event has no time of its own). A removal does not delete it: Semble cleans up notifications only.
enum FeedActivities {
    /// Re-clusters the (actor, card) pairs of `collects` with the batch's collects added, and
    /// writes their activities.
    /// - Returns: the opening event ids of the pairs' activities, i.e. every activity of the
    ///   pairs now: their following-feed items are to be recomputed. `new`: those of pairs that
    ///   had no activity before (made by this transaction, so without feed items yet); `existing`:
    ///   the others.
    static func recomputeCardCollected(
        _ batch: SembleBatch.Collects, on db: isolated PostgresConnection
    ) throws -> (existing: [String], new: [String]) {
        guard !batch.isEmpty else { return ([], []) }
        let actorIDs = batch.actorIDs
        let cardIDs = batch.cardIDs
        // Every collect the handler applied is the source of exactly one activity of its pair.
        // Per pair an index lookup of its activities, then of their sources (`LATERAL … OFFSET 0`
        // keeps the planner from turning the joins into scans of whole tables when its estimates
        // are off).
        let rows = try db.query(
            prepared: """
            SELECT s.event_id, a.actor_id, a.card_id, s.collection_id, s.occurred_at, coalesce(s.added_at, s.occurred_at)
            FROM (SELECT DISTINCT actor_id, card_id FROM unnest($1::text[], $2::text[]) AS p(actor_id, card_id)) p
            CROSS JOIN LATERAL (
                SELECT a.id, a.actor_id, a.card_id FROM feed_activities a
                WHERE a.actor_id = p.actor_id AND a.card_id = p.card_id AND a.type = 'CARD_COLLECTED' OFFSET 0
            ) a
            CROSS JOIN LATERAL (
                SELECT s.event_id, s.collection_id, s.occurred_at, s.added_at FROM feed_activity_sources s
                WHERE s.activity_id = a.id OFFSET 0
            ) s
            """,
            [actorIDs, cardIDs])
        var collects = try rows.map { row in
            ActivityClustering.Collect(
                eventID: try row.decode(String.self, column: 0), actorID: try row.decode(String.self, column: 1),
                cardID: try row.decode(String.self, column: 2), collectionID: try row.decode(String?.self, column: 3),
                occurredAt: try row.decode(Date.self, column: 4), addedAt: try row.decode(Date.self, column: 5))
        }
        // The batch's collects, but for one the handler already has (an event applied again
        // without the inbox): its first copy is kept. Ids compared by bytes, as Postgres does;
        // times rounded to the microsecond as Postgres stores them, so the clustering sees what
        // it would see had the collect been read back.
        var known = Set(collects.map { Array($0.eventID.utf8) })
        for index in batch.eventIDs.indices where known.insert(Array(batch.eventIDs[index].utf8)).inserted {
            collects.append(
                ActivityClustering.Collect(
                    eventID: batch.eventIDs[index], actorID: batch.actorIDs[index], cardID: batch.cardIDs[index],
                    collectionID: batch.collectionIDs[index],
                    occurredAt: try PostgresTimestamp.parse(PostgresTimestamp.format(batch.occurredAt[index])),
                    addedAt: try PostgresTimestamp.parse(PostgresTimestamp.format(batch.addedAt[index]))))
        }
        // The pairs that had activities: only those can have one the clustering no longer makes,
        // or activities with feed items. (Compared by bytes, as Postgres does.)
        var hadActivities = (actorIDs: [String](), cardIDs: [String]())
        var pairsWithActivities = Set<[UInt8]>()
        for collect in collects.prefix(rows.count) {
            hadActivities.actorIDs.append(collect.actorID)
            hadActivities.cardIDs.append(collect.cardID)
            pairsWithActivities.insert(Self.pairKey(collect.actorID, collect.cardID))
        }
        let activities = ActivityClustering.activities(from: collects)
        try write(activities, on: db)
        var openings = (existing: [String](), new: [String]())
        for activity in activities {
            if pairsWithActivities.contains(Self.pairKey(activity.actorID, activity.cardID)) {
                openings.existing.append(activity.openingEventID)
            } else {
                openings.new.append(activity.openingEventID)
            }
        }
        guard !hadActivities.actorIDs.isEmpty else { return openings }
        try db.execute(
            prepared: """
            DELETE FROM feed_activities
            WHERE id = ANY (ARRAY(
                SELECT a.id FROM unnest($1::text[], $2::text[]) AS p(actor_id, card_id)
                CROSS JOIN LATERAL (
                    SELECT a.id FROM feed_activities a
                    WHERE a.actor_id = p.actor_id AND a.card_id = p.card_id AND a.type = 'CARD_COLLECTED' OFFSET 0
                ) a))
                AND id <> ALL (ARRAY(SELECT \(DerivedIDs.cardCollectedActivity(openingEventID: "o")) FROM unnest($3::text[]) AS o))
            """,
            [hadActivities.actorIDs, hadActivities.cardIDs, openings.existing])
        return openings
    }

    /// An (actor, card) by bytes, unambiguous (the actor's length first).
    private static func pairKey(_ actorID: String, _ cardID: String) -> [UInt8] {
        var key = Array(String(actorID.utf8.count).utf8) + [0]
        key += actorID.utf8
        key += cardID.utf8
        return key
    }

    /// Upserts the activities (keeping rows that did not change untouched) and points each of
    /// their source events at them.
    private static func write(_ activities: [ActivityClustering.Activity], on db: isolated PostgresConnection) throws {
        guard !activities.isEmpty else { return }
        // Each activity's collections as one array literal, turned into the JSON array in SQL.
        let collectionIDs = activities.map { PostgresArrayLiteral.encode($0.collectionIDs) }
        try db.execute(
            prepared: """
            INSERT INTO feed_activities (id, actor_id, card_id, connection_id, type, metadata, created_at)
            SELECT \(DerivedIDs.cardCollectedActivity(openingEventID: "opening")), actor_id, card_id, NULL, 'CARD_COLLECTED',
                jsonb_build_object('cardId', card_id, 'collectionIds', to_jsonb(collection_ids::text[])),
                created_at AT TIME ZONE 'UTC'
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
                AS t(opening, actor_id, card_id, collection_ids, created_at)
            ORDER BY 1
            ON CONFLICT (id) DO UPDATE SET
                actor_id = excluded.actor_id, card_id = excluded.card_id, metadata = excluded.metadata, created_at = excluded.created_at
            WHERE (feed_activities.actor_id, feed_activities.card_id, feed_activities.metadata, feed_activities.created_at)
                IS DISTINCT FROM (excluded.actor_id, excluded.card_id, excluded.metadata, excluded.created_at)
            """,
            [
                activities.map(\.openingEventID), activities.map(\.actorID), activities.map(\.cardID), collectionIDs,
                activities.map(\.createdAt),
            ])

        let sources = activities.flatMap { activity in activity.sourceEvents.map { (activity.openingEventID, $0) } }
        try db.execute(
            prepared: """
            INSERT INTO feed_activity_sources (event_id, activity_id, actor_id, collection_id, occurred_at, added_at)
            SELECT event_id, \(DerivedIDs.cardCollectedActivity(openingEventID: "opening")), actor_id, collection_id, occurred_at, added_at
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[])
                AS t(event_id, opening, actor_id, collection_id, occurred_at, added_at)
            ORDER BY event_id COLLATE "C"
            ON CONFLICT (event_id) DO UPDATE SET activity_id = excluded.activity_id
            WHERE feed_activity_sources.activity_id <> excluded.activity_id
            """,
            [
                sources.map(\.1.eventID), sources.map(\.0), sources.map(\.1.actorID), sources.map(\.1.collectionID),
                sources.map(\.1.occurredAt), sources.map(\.1.addedAt),
            ])
    }

    /// Writes the CONNECTION_CREATED activity (and its one source, the earliest creation) of
    /// each connection whose creation is known.
    static func recomputeConnectionCreated(connectionIDs: [String], on db: isolated PostgresConnection) throws {
        guard !connectionIDs.isEmpty else { return }
        let activityID = DerivedIDs.connectionActivity(connectionID: "c.connection_id")
        try db.execute(
            prepared: """
            INSERT INTO feed_activities (id, actor_id, card_id, connection_id, type, metadata, created_at)
            SELECT \(activityID), c.curator_id, NULL, c.connection_id, 'CONNECTION_CREATED',
                jsonb_build_object('connectionId', c.connection_id), c.created_at AT TIME ZONE 'UTC'
            FROM rm_feed_connections c
            WHERE c.connection_id = ANY ($1::text[]) AND c.created_at IS NOT NULL
            ORDER BY 1
            ON CONFLICT (id) DO UPDATE SET
                actor_id = excluded.actor_id, metadata = excluded.metadata, created_at = excluded.created_at
            WHERE (feed_activities.actor_id, feed_activities.metadata, feed_activities.created_at)
                IS DISTINCT FROM (excluded.actor_id, excluded.metadata, excluded.created_at)
            """,
            [connectionIDs])
        try db.execute(
            prepared: """
            WITH c AS (
                SELECT \(activityID) AS activity_id, c.curator_id, c.created_at, c.created_event_id
                FROM rm_feed_connections c
                WHERE c.connection_id = ANY ($1::text[]) AND c.created_at IS NOT NULL
            ),
            superseded AS (
                DELETE FROM feed_activity_sources s USING c
                WHERE s.activity_id = ANY (ARRAY(SELECT activity_id FROM c))
                    AND s.activity_id = c.activity_id AND s.event_id <> c.created_event_id
            )
            INSERT INTO feed_activity_sources (event_id, activity_id, actor_id, collection_id, occurred_at)
            SELECT created_event_id, activity_id, curator_id, NULL, created_at FROM c
            ORDER BY created_event_id
            ON CONFLICT (event_id) DO UPDATE SET
                activity_id = excluded.activity_id, actor_id = excluded.actor_id, occurred_at = excluded.occurred_at
            WHERE (feed_activity_sources.activity_id, feed_activity_sources.actor_id, feed_activity_sources.occurred_at)
                IS DISTINCT FROM (excluded.activity_id, excluded.actor_id, excluded.occurred_at)
            """,
            [connectionIDs])
    }
}
