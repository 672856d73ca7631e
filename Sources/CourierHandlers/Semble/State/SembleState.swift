import CourierEvents
import CourierPostgres
import Foundation

/// Reads of Semble's tables, for a whole batch at once (one statement per kind of row, whatever
/// the batch's size), into a ``SembleSnapshot`` or the feed rules' inputs. Every read goes through
/// an index of Semble's own (semble-parity.md §1): by primary key, `follows (target_id,
/// target_type, …)`, `cards (url, type)`, `published_records (uri)`, `library_memberships
/// (card_id, user_id)`, `feed_activities_dedup_idx (actor_id, card_id, created_at)`. Lookups are
/// per key inside `CROSS JOIN LATERAL (… OFFSET 0)` or `= ANY (…)` on a key that leads its index,
/// so a planner without statistics still probes the index. Ids that are not UUIDs are never sent
/// to a `uuid` column: they find nothing, as in Semble.
enum SembleState {
    /// Cards by id, and the cards they came via (`via_card_id`).
    static func readCards(_ ids: [String], into snapshot: inout SembleSnapshot, on db: isolated PostgresConnection) throws {
        let ids = unique(ids.compactMap(SembleIdentifiers.canonicalUUID)).filter { snapshot.cards[$0] == nil }
        guard !ids.isEmpty else { return }
        let rows = try db.query(
            prepared: """
            WITH wanted AS (SELECT c.id, c.author_id, c.via_card_id, c.url FROM cards c WHERE c.id = ANY ($1::text[]::uuid[]))
            SELECT id::text, author_id, via_card_id::text, url FROM wanted
            UNION ALL
            SELECT v.id::text, v.author_id, v.via_card_id::text, v.url FROM cards v
            WHERE v.id = ANY (ARRAY(SELECT via_card_id FROM wanted WHERE via_card_id IS NOT NULL))
            """,
            [ids])
        for row in rows {
            snapshot.cards[try row.decode(String.self, column: 0)] = SembleSnapshot.Card(
                authorID: try row.decode(String.self, column: 1), viaCardID: try row.decode(String?.self, column: 2),
                url: try row.decode(String?.self, column: 3))
        }
    }

    /// Collections by id and by the AT-URI of their published record (Semble's
    /// `resolveCollectionId`: the first collection published at that URI).
    static func readCollections(
        ids: [String], uris: [String], into snapshot: inout SembleSnapshot, on db: isolated PostgresConnection
    ) throws {
        let ids = unique(ids.compactMap(SembleIdentifiers.canonicalUUID)).filter { snapshot.collections[$0] == nil }
        let uris = unique(uris).filter { snapshot.collectionByURI[$0] == nil }
        guard !ids.isEmpty || !uris.isEmpty else { return }
        let rows = try db.query(
            prepared: """
            SELECT c.id::text, c.author_id, c.access_type = 'OPEN', NULL::text
            FROM collections c WHERE c.id = ANY ($1::text[]::uuid[])
            UNION ALL
            SELECT c.id::text, c.author_id, c.access_type = 'OPEN', u.uri
            FROM unnest($2::text[]) AS u(uri) CROSS JOIN LATERAL (
                SELECT c.id, c.author_id, c.access_type FROM published_records p JOIN collections c ON c.published_record_id = p.id
                WHERE p.uri = u.uri LIMIT 1
            ) c
            """,
            [ids, uris])
        for row in rows {
            let id = try row.decode(String.self, column: 0)
            snapshot.collections[id] = SembleSnapshot.Collection(
                authorID: try row.decode(String.self, column: 1), isOpen: try row.decode(Bool.self, column: 2))
            if let uri = try row.decode(String?.self, column: 3) { snapshot.collectionByURI[uri] = id }
        }
    }

    /// Which of `dids` are Semble users.
    static func readUsers(_ dids: [String], into snapshot: inout SembleSnapshot, on db: isolated PostgresConnection) throws {
        let dids = unique(dids)
        guard !dids.isEmpty else { return }
        let rows = try db.query(prepared: "SELECT id FROM users WHERE id = ANY ($1::text[])", [dids])
        for row in rows { snapshot.users.insert(try row.decode(String.self, column: 0)) }
    }

    /// The subscribers of each subscription: `follows` of the target subscribed with the scope,
    /// the follower passing Semble's `DID.create` (`did:plc:` or `did:web:`).
    static func readSubscribers(
        _ subscriptions: [SembleSnapshot.Subscription], into snapshot: inout SembleSnapshot, on db: isolated PostgresConnection
    ) throws {
        let wanted = unique(subscriptions).filter { snapshot.subscribers[$0] == nil }
        guard !wanted.isEmpty else { return }
        let rows = try db.query(
            prepared: """
            SELECT k.i, f.follower_id
            FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(target_id, target_type, scope, i)
            CROSS JOIN LATERAL (
                SELECT f.follower_id FROM follows f
                WHERE f.target_id = k.target_id AND f.target_type = k.target_type AND f.is_subscribed
                    AND f.subscription_scopes @> jsonb_build_array(k.scope)
                    AND left(f.follower_id, 8) IN ('did:plc:', 'did:web:')
                OFFSET 0
            ) f
            ORDER BY k.i, f.follower_id
            """,
            [wanted.map(\.targetID), wanted.map(\.targetType), wanted.map(\.scope)])
        for subscription in wanted { snapshot.subscribers[subscription] = [] }
        for row in rows {
            let index = Int(try row.decode(Int64.self, column: 0)) - 1
            snapshot.subscribers[wanted[index], default: []].append(try row.decode(String.self, column: 1))
        }
    }

    /// Connections by id.
    static func readConnections(_ ids: [String], into snapshot: inout SembleSnapshot, on db: isolated PostgresConnection) throws {
        let ids = unique(ids.compactMap(SembleIdentifiers.canonicalUUID)).filter { snapshot.connections[$0] == nil }
        guard !ids.isEmpty else { return }
        let rows = try db.query(
            prepared: """
            SELECT id::text, curator_id, source_type, source_value, target_type, target_value
            FROM connections WHERE id = ANY ($1::text[]::uuid[])
            """,
            [ids])
        for row in rows {
            snapshot.connections[try row.decode(String.self, column: 0)] = SembleSnapshot.Connection(
                curatorID: try row.decode(String.self, column: 1), sourceType: try row.decode(String.self, column: 2),
                sourceValue: try row.decode(String.self, column: 3), targetType: try row.decode(String.self, column: 4),
                targetValue: try row.decode(String.self, column: 5))
        }
    }

    /// The holders of a URL card with exactly each URL (Semble's `getLibrariesForUrl`: library
    /// memberships of URL cards with that URL, newest card first, the first 1000).
    static func readLibraryHolders(_ urls: [String], into snapshot: inout SembleSnapshot, on db: isolated PostgresConnection) throws {
        let urls = unique(urls).filter { snapshot.libraryHolders[$0] == nil }
        guard !urls.isEmpty else { return }
        let rows = try db.query(
            prepared: """
            SELECT u.i, h.user_id
            FROM unnest($1::text[]) WITH ORDINALITY AS u(url, i)
            CROSS JOIN LATERAL (
                SELECT m.user_id FROM cards c JOIN library_memberships m ON m.card_id = c.id
                WHERE c.url = u.url AND c.type = 'URL'
                ORDER BY c.created_at DESC
                LIMIT 1000
            ) h
            ORDER BY u.i
            """,
            [urls])
        for url in urls { snapshot.libraryHolders[url] = [] }
        for row in rows {
            snapshot.libraryHolders[urls[Int(try row.decode(Int64.self, column: 0)) - 1], default: []].append(try row.decode(String.self, column: 1))
        }
    }

    // MARK: The feed's reads

    /// The newest CARD_COLLECTED activity of each (actor, card) (Semble's
    /// `findRecentCardCollectedActivity` before its time check), through `feed_activities_dedup_idx`.
    static func newestActivities(
        actorIDs: [String], cardIDs: [String], on db: isolated PostgresConnection
    ) throws -> [CardActorKey: FeedRules.Activity] {
        guard !actorIDs.isEmpty else { return [:] }
        let rows = try db.query(
            prepared: """
            SELECT a.id::text, p.actor_id, p.card_id, a.created_at AT TIME ZONE 'UTC',
                CASE WHEN jsonb_typeof(a.metadata->'collectionIds') = 'array'
                    THEN ARRAY(SELECT jsonb_array_elements_text(a.metadata->'collectionIds')) END,
                a.url_type, a.source
            FROM (SELECT DISTINCT actor_id, card_id FROM unnest($1::text[], $2::text[]) AS p(actor_id, card_id)) p
            CROSS JOIN LATERAL (
                SELECT a.* FROM feed_activities a
                WHERE a.actor_id = p.actor_id AND a.card_id = p.card_id AND a.type = 'CARD_COLLECTED'
                ORDER BY a.created_at DESC
                LIMIT 1
            ) a
            """,
            [actorIDs, cardIDs])
        var newest: [CardActorKey: FeedRules.Activity] = [:]
        for row in rows {
            let activity = FeedRules.Activity(
                id: try row.decode(String.self, column: 0), actorID: try row.decode(String.self, column: 1),
                cardID: try row.decode(String.self, column: 2), createdAt: try row.decode(Date.self, column: 3),
                collectionIDs: try row.decode([String]?.self, column: 4), urlType: try row.decode(String?.self, column: 5),
                source: try row.decode(String?.self, column: 6))
            newest[CardActorKey(cardID: activity.cardID, actorID: activity.actorID)] = activity
        }
        return newest
    }

    /// Per (actor, card), what a new activity takes from the card: `url_type` (a URL card's
    /// `content_data.metadata.type`) and `source` (`margin` when the actor's library membership
    /// of the card was published as a record whose URI contains `/at.margin.`).
    static func cardFacts(actorIDs: [String], cardIDs: [String], on db: isolated PostgresConnection) throws -> [CardActorKey: FeedRules.CardFacts] {
        var actors: [String] = []
        var cards: [String] = []
        var canonical: [String] = []
        for (actor, card) in zip(actorIDs, cardIDs) {
            guard let uuid = SembleIdentifiers.canonicalUUID(card) else { continue }
            actors.append(actor)
            cards.append(card)
            canonical.append(uuid)
        }
        guard !actors.isEmpty else { return [:] }
        let rows = try db.query(
            prepared: """
            SELECT p.actor_id, p.card_id,
                CASE WHEN c.type = 'URL' AND jsonb_typeof(c.content_data->'metadata'->'type') = 'string'
                    THEN c.content_data->'metadata'->>'type' END,
                CASE WHEN EXISTS (
                    SELECT 1 FROM library_memberships m JOIN published_records r ON r.id = m.published_record_id
                    WHERE m.card_id = c.id AND m.user_id = p.actor_id AND strpos(r.uri, '/at.margin.') > 0
                ) THEN 'margin' END
            FROM (SELECT DISTINCT * FROM unnest($1::text[], $2::text[], $3::text[]) AS p(actor_id, card_id, uuid)) p
            JOIN cards c ON c.id = p.uuid::uuid
            """,
            [actors, cards, canonical])
        var facts: [CardActorKey: FeedRules.CardFacts] = [:]
        for row in rows {
            facts[CardActorKey(cardID: try row.decode(String.self, column: 1), actorID: try row.decode(String.self, column: 0))] =
                FeedRules.CardFacts(urlType: try row.decode(String?.self, column: 2), source: try row.decode(String?.self, column: 3))
        }
        return facts
    }

    /// `values` each once, in first-seen order (by bytes).
    static func unique<T: Hashable>(_ values: [T]) -> [T] {
        var seen: Set<T> = []
        return values.filter { seen.insert($0).inserted }
    }
}
