import CourierEvents
import CourierPostgres
import Foundation

/// Semble's feeds (semble:src/modules/feeds/): CARD_COLLECTED and CONNECTION_CREATED activities
/// in `feed_activities`, fanned out into the followers' `following_feed_items`.
///
/// A batch, in delivery order, as Semble's handler applied one event at a time (``FeedRules``):
/// 1. reads the newest activity of each (actor, card) it adds, and the cards' facts;
/// 2. reuses or makes activities; writes the new ones and the changed `collectionIds`;
/// 3. makes a CONNECTION_CREATED activity per connection created (no dedup, `connections` not
///    read: Semble's `created_at` is the event's `dateTimeOccurred`);
/// 4. fans every activity touched out to the followers Semble's `follows` holds *now* — the
///    actor's and, for a collection add, that collection's (follower ids starting `did:plc:` or
///    `did:web:`; the actor is not left out) — inserting what is missing.
/// Nothing else touches the feed: removals, follows and unfollows change no feed row (Semble
/// deletes none and back-fills none). About six statements per batch, whatever its size.
package struct FeedsHandler: EventHandler {
    package let name = "feeds"
    package let eventTypes: Set<EventType> = [.cardAddedToLibrary, .cardAddedToCollection, .connectionCreated]
    let settings: SembleSettings

    package init(settings: SembleSettings = .production) {
        self.settings = settings
    }

    package func apply(_ events: [EventEnvelope], in transaction: isolated PostgresConnection) async throws {
        try SembleSession.prepare(transaction)
        var adds: [FeedRules.Add] = []
        var connections: [(envelope: EventEnvelope, connectionID: String, curatorID: String)] = []
        for envelope in events {
            switch envelope.event {
            case .cardAddedToLibrary(let event):
                adds.append(.init(actorID: event.curatorId, cardID: event.cardId, collectionID: nil, occurredAt: envelope.occurredAt, addedAt: event.addedAt))
            case .cardAddedToCollection(let event):
                adds.append(
                    .init(actorID: event.addedBy, cardID: event.cardId, collectionID: event.collectionId, occurredAt: envelope.occurredAt, addedAt: event.addedAt))
            case .connectionCreated(let event):
                connections.append((envelope, event.connectionId, event.curatorId))
            default:
                continue
            }
        }

        var activities: [FeedRow] = []
        var fanOuts: [FeedRules.FanOut] = []
        if !adds.isEmpty {
            let newest = try SembleState.newestActivities(actorIDs: adds.map(\.actorID), cardIDs: adds.map(\.cardID), on: transaction)
            let facts = try SembleState.cardFacts(actorIDs: adds.map(\.actorID), cardIDs: adds.map(\.cardID), on: transaction)
            let plan = FeedRules.plan(adds, newest: newest, facts: facts, window: settings.activityReuseWindow.timeInterval, newID: Self.newID)
            activities += plan.inserts.map { activity in
                FeedRow(
                    id: activity.id, actorID: activity.actorID, cardID: activity.cardID, connectionID: nil, type: "CARD_COLLECTED",
                    collectionIDs: activity.collectionIDs, urlType: activity.urlType, source: activity.source, createdAt: activity.createdAt)
            }
            try Self.updateCollections(plan.updates, on: transaction)
            fanOuts += plan.fanOuts
        }
        for connection in connections {
            let id = Self.newID()
            activities.append(
                FeedRow(
                    id: id, actorID: connection.curatorID, cardID: nil, connectionID: connection.connectionID, type: "CONNECTION_CREATED",
                    collectionIDs: nil, urlType: nil, source: nil, createdAt: connection.envelope.occurredAt))
            fanOuts.append(FeedRules.FanOut(activityID: id, createdAt: connection.envelope.occurredAt, actorID: connection.curatorID, collectionID: nil))
        }
        try Self.insert(activities, on: transaction)
        try Self.fanOut(fanOuts, on: transaction)
    }

    /// A random UUID, as Semble gives every activity (exactly-once comes from the inbox).
    static func newID() -> String { UUID().uuidString.lowercased() }

    /// A row of `feed_activities` to insert.
    struct FeedRow {
        var id: String
        var actorID: String
        var cardID: String?
        var connectionID: String?
        var type: String
        var collectionIDs: [String]?
        var urlType: String?
        var source: String?
        var createdAt: Date
    }

    static func insert(_ rows: [FeedRow], on db: isolated PostgresConnection) throws {
        guard !rows.isEmpty else { return }
        try db.execute(
            prepared: """
            INSERT INTO feed_activities (id, actor_id, card_id, connection_id, type, metadata, url_type, source, created_at)
            SELECT id, actor_id, card_id, connection_id, type,
                CASE type
                    WHEN 'CARD_COLLECTED' THEN jsonb_strip_nulls(jsonb_build_object('cardId', card_id, 'collectionIds', to_jsonb(collection_ids::text[])))
                    ELSE jsonb_build_object('connectionId', connection_id)
                END,
                url_type, source, created_at AT TIME ZONE 'UTC'
            FROM unnest($1::text[]::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[])
                AS t(id, actor_id, card_id, connection_id, type, collection_ids, url_type, source, created_at)
            """,
            [
                rows.map(\.id), rows.map(\.actorID), rows.map(\.cardID), rows.map(\.connectionID), rows.map(\.type),
                rows.map { $0.collectionIDs.map { PostgresArrayLiteral.encode($0) } }, rows.map(\.urlType), rows.map(\.source),
                rows.map(\.createdAt),
            ])
    }

    /// Semble's `updateActivity` of a merge: the activity's `collectionIds`, the rest of its
    /// metadata kept.
    static func updateCollections(_ updates: [String: [String]], on db: isolated PostgresConnection) throws {
        guard !updates.isEmpty else { return }
        let ids = updates.keys.sorted()
        try db.execute(
            prepared: """
            UPDATE feed_activities a SET metadata = jsonb_set(a.metadata, '{collectionIds}', to_jsonb(u.collection_ids::text[]))
            FROM unnest($1::text[]::uuid[], $2::text[]) AS u(id, collection_ids)
            WHERE a.id = u.id
            """,
            [ids, ids.map { PostgresArrayLiteral.encode(updates[$0] ?? []) }])
    }

    /// Semble's `fanOutActivityToFollowers`: an item per follower not already holding the activity.
    /// Each (activity, followed target) is looked up once per batch: a library add and the
    /// collection adds of one bundle fan the same activity out to the same actor's followers,
    /// which `ON CONFLICT DO NOTHING` would only skip one probe at a time.
    static func fanOut(_ fanOuts: [FeedRules.FanOut], on db: isolated PostgresConnection) throws {
        guard !fanOuts.isEmpty else { return }
        struct Target: Hashable {
            var activityID: String
            var targetID: String
            var targetType: String
        }
        var seen: Set<Target> = []
        var targets: [(target: Target, createdAt: Date)] = []
        for fanOut in fanOuts {
            var wanted = [Target(activityID: fanOut.activityID, targetID: fanOut.actorID, targetType: "USER")]
            if let collection = fanOut.collectionID {
                wanted.append(Target(activityID: fanOut.activityID, targetID: collection, targetType: "COLLECTION"))
            }
            for target in wanted where seen.insert(target).inserted {
                targets.append((target, fanOut.createdAt))
            }
        }
        try db.execute(
            prepared: """
            INSERT INTO following_feed_items (user_id, activity_id, created_at)
            SELECT DISTINCT f.follower_id, t.activity_id, t.created_at AT TIME ZONE 'UTC'
            FROM unnest($1::text[]::uuid[], $2::timestamptz[], $3::text[], $4::text[]) AS t(activity_id, created_at, target_id, target_type)
            CROSS JOIN LATERAL (
                SELECT f.follower_id FROM follows f WHERE f.target_id = t.target_id AND f.target_type = t.target_type OFFSET 0
            ) f
            WHERE left(f.follower_id, 8) IN ('did:plc:', 'did:web:')
            ORDER BY 1, 2
            ON CONFLICT (user_id, activity_id) DO NOTHING
            """,
            [targets.map(\.target.activityID), targets.map(\.createdAt), targets.map(\.target.targetID), targets.map(\.target.targetType)])
    }
}
