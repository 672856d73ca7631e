import CourierPostgres
import Foundation

/// Semble's state tables filled the way a live Semble database looks, for the end-to-end
/// benchmark and the chaos suite (`courier-chaos`): the handlers read `cards`, `library_memberships`, `collections`,
/// `published_records`, `follows`, `users` and `connections` as Semble does, so the events must
/// refer to rows that are there, and those rows must be shaped like Semble's (indexes used,
/// fan-outs of realistic size).
///
/// Everything is derived from series indexes in SQL (`generate_series`, ids `md5('card' || n)::uuid`):
/// seeding is set-based, fast and deterministic — every round of the benchmark seeds the same
/// rows. ``sources`` is the single definition of the rows: ``seed(on:schema:)`` inserts from it,
/// ``catalog(on:)`` reads back from the very same SQL (needing no tables) what the event
/// generator refers to.
///
/// What is seeded (defaults):
/// - `users`: `did:plc:user<n>`, n < ``users``.
/// - `collections`: ``collections``, one in three CLOSED, authors skewed (a few users own many);
///   each published: `published_records.uri` = `at://<author>/network.cosmik.collection/<rkey>`.
/// - `cards`: ``cards``, every tenth a NOTE on the URL card before it (same author,
///   `parent_card_id`); URL cards point into a pool of ``urls`` URLs (about three holders each)
///   plus ``popularURLs`` URLs held by ~20 users each, each holder with a card of their own, never
///   two by one user. A tenth of the URLs are Bluesky posts
///   (`https://bsky.app/profile/<did>/post/<id>`, a quarter of the owners not Semble users), a twentieth
///   Semble collection pages (`<appURL>/profile/<author>/collections/<rkey>` of a seeded
///   collection). About a fifth of the cards have a `via_card_id`: the first holder's card of the
///   same URL (another author, older).
/// - `library_memberships`: each card in its author's library, the membership's record the card's
///   own `network.cosmik.card` record or, for a tenth, a Margin record (`at://<did>/at.margin.bookmark/…`).
/// - `follows`: each user follows ~20 users (four of them among 20 popular users, followed by
///   ~400 each) and 3 collections not their own; 30 % subscribed (scopes a non-empty subset of
///   CARD, CONNECTION for users, of CARD, CONNECTION, COLLECTION_SAVED for collections), the others
///   with `is_subscribed = false` and NULL scopes.
/// - `connections`: ``connections`` between two seeded cards' URLs (a tenth with a CARD source,
///   a tenth with a CARD target), half curated by the source card's author.
package struct RealisticSembleState: Sendable {
    package var users = 2_000
    package var cards = 20_000
    package var collections = 500
    package var connections = 2_000
    /// Users each user follows (1...32); a few collections more.
    package var userFollows = 20
    /// Distinct URLs of the ordinary URL cards.
    package var urls = 6_000
    /// URLs held by many users (every 25th URL card is one of them).
    package var popularURLs = 40
    /// Semble's `APP_URL`: the prefix of collection page URLs.
    package var appURL = "https://semble.so"
    /// The collection records' NSID (production's).
    package var collectionNSID = "network.cosmik.collection"

    package init() {}

    /// The tables seeded, in foreign-key order.
    package static let tables = ["users", "published_records", "collections", "cards", "library_memberships", "follows", "connections"]

    /// A user's DID from its index.
    package static func did(_ user: Int) -> String { "did:plc:user\(user)" }

    /// The rows as CTEs `s_users`, `s_collections`, `s_urls`, `s_cards`, `s_follows` and
    /// `s_connections` (no table read): prefix a `SELECT` with it. The CTE names are not Semble's
    /// table names, so that they never hide them.
    package var sources: String {
        let (userCount, cardCount, collectionCount, connectionCount, urlCount) = (users, cards, collections, connections, urls)
        let followCount = min(max(userFollows, 1), 32)
        return """
            WITH s_users AS (
                SELECT i AS n, 'did:plc:user' || i AS did FROM generate_series(0, \(userCount - 1)) AS i
            ),
            s_collections AS (
                SELECT c AS n, md5('collection' || c)::uuid AS id, a.author_n, 'did:plc:user' || a.author_n AS author,
                    c % 3 <> 2 AS open, '3kc' || lpad(c::text, 10, '0') AS rkey, md5('collection-record' || c)::uuid AS record_id,
                    timestamp '2025-09-01' + c * interval '5 hours' AS created_at
                FROM generate_series(0, \(collectionCount - 1)) AS c
                CROSS JOIN LATERAL (SELECT (((c * 7919) % 1000) * ((c * 7919) % 1000) / 500) % \(userCount) AS author_n) AS a
            ),
            s_urls AS (
                SELECT u AS n,
                    CASE
                        WHEN u % 20 < 2 THEN 'https://bsky.app/profile/'
                            || CASE WHEN u % 40 = 1 THEN 'did:plc:outsider' || u ELSE 'did:plc:user' || (u * 211) % \(userCount) END
                            || '/post/3kp' || lpad(u::text, 10, '0')
                        WHEN u % 20 = 2 THEN '\(appURL)/profile/' || c.author || '/collections/' || c.rkey
                        ELSE 'https://example' || u % 97 || '.org/' || (ARRAY['articles', 'watch', 'posts', 'papers', 'books'])[u % 5 + 1] || '/' || u
                    END AS url,
                    CASE
                        WHEN u % 20 < 2 THEN 'social'
                        WHEN u % 20 = 2 THEN 'link'
                        ELSE (ARRAY['article', 'article', 'video', 'link', 'research', 'book'])[u % 6 + 1]
                    END AS url_type
                FROM generate_series(0, \(urlCount - 1)) AS u
                LEFT JOIN s_collections AS c ON c.n = (u / 20) % \(collectionCount)
            ),
            s_holders AS (
                SELECT k, x.u, row_number() OVER (PARTITION BY x.u ORDER BY k) - 1 AS r
                FROM generate_series(0, \(cardCount - 1)) AS k
                CROSS JOIN LATERAL (SELECT CASE WHEN k % 25 = 7 THEN (k / 25) % \(popularURLs) ELSE k % \(urlCount) END AS u) AS x
                WHERE k % 10 <> 9
            ),
            s_url_cards AS (
                SELECT k, u, r, ((u * 7 + r * 613) % \(userCount))::int AS author_n FROM s_holders
            ),
            s_cards AS (
                SELECT h.k AS n, md5('card' || h.k)::uuid AS id, h.author_n, 'did:plc:user' || h.author_n AS author,
                    'URL' AS type, s.url, s.url_type,
                    jsonb_build_object('url', s.url, 'metadata', jsonb_build_object(
                        'url', s.url, 'type', s.url_type, 'title', 'Page ' || s.n,
                        'retrievedAt', to_char(timestamp '2026-01-01' + h.k * interval '10 minutes', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))) AS content_data,
                    NULL::uuid AS parent_card_id,
                    CASE WHEN h.r > 0 AND h.k % 3 = 0 THEN md5('card' || f.k)::uuid END AS via_card_id
                FROM s_url_cards AS h
                JOIN s_urls AS s ON s.n = h.u
                JOIN s_url_cards AS f ON f.u = h.u AND f.r = 0
                UNION ALL
                SELECT h.k + 1, md5('card' || (h.k + 1))::uuid, h.author_n, 'did:plc:user' || h.author_n,
                    'NOTE', NULL, NULL, jsonb_build_object('type', 'NOTE', 'text', 'A note on page ' || h.u),
                    md5('card' || h.k)::uuid, NULL
                FROM s_url_cards AS h
                WHERE h.k % 10 = 8 AND h.k + 1 < \(cardCount)
            ),
            s_follows AS (
                SELECT DISTINCT ON (follower_n, target_id, target_type) *
                FROM (
                    SELECT f AS follower_n, 'did:plc:user' || t.n AS target_id, 'USER' AS target_type, f * 64 + m AS ord,
                        (f * 31 + m * 17) % 10 < 3 AS subscribed,
                        (ARRAY['["CARD"]', '["CARD", "CONNECTION"]', '["CONNECTION"]'])[(f + m) % 3 + 1] AS scopes
                    FROM generate_series(0, \(userCount - 1)) AS f
                    CROSS JOIN generate_series(0, \(followCount - 1)) AS m
                    CROSS JOIN LATERAL (SELECT CASE WHEN m < 4 THEN (m * 5 + f % 5) % \(userCount) ELSE (f + 1 + m * 97) % \(userCount) END AS n) AS t
                    WHERE t.n <> f
                    UNION ALL
                    SELECT f, c.id::text, 'COLLECTION', f * 64 + 40 + m,
                        (f * 31 + m * 17 + 7) % 10 < 3,
                        (ARRAY['["CARD"]', '["CONNECTION"]', '["CARD", "CONNECTION"]', '["COLLECTION_SAVED"]', '["CARD", "COLLECTION_SAVED"]',
                            '["CONNECTION", "COLLECTION_SAVED"]', '["CARD", "CONNECTION", "COLLECTION_SAVED"]'])[(f + m) % 7 + 1]
                    FROM generate_series(0, \(userCount - 1)) AS f
                    CROSS JOIN generate_series(0, 2) AS m
                    JOIN s_collections AS c ON c.n = (f * 7 + m * 131) % \(collectionCount)
                    WHERE c.author_n <> f
                ) AS candidates
                ORDER BY follower_n, target_id, target_type, ord
            ),
            s_connections AS (
                SELECT x AS n, md5('connection' || x)::uuid AS id,
                    CASE WHEN x % 2 = 0 THEN a.author_n ELSE (x * 37) % \(userCount) END AS curator_n,
                    CASE WHEN x % 10 = 0 THEN 'CARD' ELSE 'URL' END AS source_type,
                    CASE WHEN x % 10 = 0 THEN a.id::text ELSE a.url END AS source_value,
                    CASE WHEN x % 10 = 0 THEN NULL ELSE jsonb_build_object('url', a.url, 'type', a.url_type) END AS source_url_metadata,
                    CASE WHEN x % 10 = 5 THEN 'CARD' ELSE 'URL' END AS target_type,
                    CASE WHEN x % 10 = 5 THEN b.id::text ELSE b.url END AS target_value,
                    CASE WHEN x % 10 = 5 THEN NULL ELSE jsonb_build_object('url', b.url, 'type', b.url_type) END AS target_url_metadata,
                    (ARRAY['related', 'supports', 'opposes', 'addresses', 'helpful', 'explainer', 'leads_to'])[x % 7 + 1] AS connection_type,
                    CASE WHEN x % 4 = 0 THEN 'Connection note ' || x END AS note
                FROM generate_series(0, \(connectionCount - 1)) AS x
                CROSS JOIN LATERAL (SELECT (x * 7919) % \(cardCount) AS k1, (x * 104729 + 5) % \(cardCount) AS k2) AS k
                JOIN s_cards AS a ON a.n = k.k1 - (k.k1 % 10 = 9)::int
                JOIN s_cards AS b ON b.n = k.k2 - (k.k2 % 10 = 9)::int
                WHERE a.url <> b.url
            )

            """
    }

    /// Fills Semble's (empty) tables in `schema` in one transaction, then `ANALYZE`s them.
    /// Returns the rows of each of ``tables``.
    package func seed(on connection: isolated PostgresConnection, schema: String) async throws -> [(table: String, rows: Int)] {
        let quoted = try connection.quoteIdentifier(schema)
        let sources = sources
        let nsid = collectionNSID
        try await connection.withTransaction { connection in
            try connection.execute("SET LOCAL search_path TO \(quoted)")
            // JIT-compiling these one-off statements costs seconds and saves nothing.
            try connection.execute("SET LOCAL jit = off")
            // The rows once (temporary tables, dropped at COMMIT), then every insert from them.
            try connection.executeTrustedScript(
                ["users", "collections", "cards", "follows", "connections"].map {
                    "CREATE TEMPORARY TABLE seed_\($0) ON COMMIT DROP AS \(sources) SELECT * FROM s_\($0);"
                }.joined(separator: "\n"))
            try connection.executeTrustedScript(
                """
                INSERT INTO users (id, handle, linked_at, last_login_at)
                SELECT did, 'user' || n || '.bsky.social', timestamp '2025-06-01' + n * interval '37 minutes',
                    timestamp '2026-10-01' + n * interval '3 minutes'
                FROM seed_users ORDER BY n;

                -- In uri order, which fills its two uri indexes faster.
                INSERT INTO published_records (id, uri, cid, recorded_at)
                SELECT id, uri, cid, recorded_at FROM (
                    SELECT record_id AS id, 'at://' || author || '/\(nsid)/' || rkey AS uri, 'bafyrei' || md5('cid' || record_id) AS cid,
                        created_at AS recorded_at
                    FROM seed_collections
                    UNION ALL
                    SELECT md5('card-record' || n)::uuid, 'at://' || author || '/network.cosmik.card/3kk' || lpad(n::text, 10, '0'),
                        'bafyrei' || md5('cid-card' || n), timestamp '2026-01-01' + n * interval '10 minutes'
                    FROM seed_cards
                    UNION ALL
                    SELECT md5('margin-record' || n)::uuid, 'at://' || author || '/at.margin.bookmark/3km' || lpad(n::text, 10, '0'),
                        'bafyrei' || md5('cid-margin' || n), timestamp '2026-01-01' + n * interval '10 minutes'
                    FROM seed_cards WHERE type = 'URL' AND n % 10 = 4
                    UNION ALL
                    SELECT md5('connection-record' || c.n)::uuid,
                        'at://did:plc:user' || c.curator_n || '/network.cosmik.connection/3kx' || lpad(c.n::text, 10, '0'),
                        'bafyrei' || md5('cid-connection' || c.n), timestamp '2026-06-01' + c.n * interval '7 minutes'
                    FROM seed_connections AS c
                ) AS records
                ORDER BY uri;

                INSERT INTO collections (id, author_id, name, description, access_type, card_count, created_at, updated_at, published_record_id)
                SELECT id, author, 'Collection ' || n, CASE WHEN n % 2 = 0 THEN 'Things worth reading, ' || n END,
                    CASE WHEN open THEN 'OPEN' ELSE 'CLOSED' END, 0, created_at, created_at, record_id
                FROM seed_collections ORDER BY n;

                INSERT INTO cards (id, author_id, type, content_data, url, url_type, parent_card_id, via_card_id, published_record_id,
                    library_count, created_at, updated_at)
                SELECT id, author, type, content_data, url, url_type, parent_card_id, via_card_id, md5('card-record' || n)::uuid,
                    1, timestamp '2026-01-01' + n * interval '10 minutes', timestamp '2026-01-01' + n * interval '10 minutes'
                FROM seed_cards ORDER BY n;

                INSERT INTO library_memberships (card_id, user_id, added_at, published_record_id)
                SELECT id, author, timestamp '2026-01-01' + n * interval '10 minutes',
                    CASE WHEN type = 'URL' AND n % 10 = 4 THEN md5('margin-record' || n)::uuid ELSE md5('card-record' || n)::uuid END
                FROM seed_cards ORDER BY n;

                INSERT INTO follows (follower_id, target_id, target_type, published_record_id, created_at, is_subscribed, subscribed_at,
                    subscription_scopes)
                SELECT 'did:plc:user' || follower_n, target_id, target_type, NULL, timestamp '2026-02-01' + ord * interval '11 seconds',
                    subscribed, CASE WHEN subscribed THEN timestamp '2026-03-01' + ord * interval '11 seconds' END,
                    CASE WHEN subscribed THEN scopes::jsonb END
                FROM seed_follows ORDER BY follower_n, ord;

                INSERT INTO connections (id, curator_id, source_type, source_value, source_url_metadata, target_type, target_value,
                    target_url_metadata, connection_type, note, published_record_id, created_at, updated_at)
                SELECT id, 'did:plc:user' || curator_n, source_type, source_value, source_url_metadata, target_type, target_value,
                    target_url_metadata, connection_type, note, md5('connection-record' || n)::uuid,
                    timestamp '2026-06-01' + n * interval '7 minutes', timestamp '2026-06-01' + n * interval '7 minutes'
                FROM seed_connections ORDER BY n;
                """)
        }
        try connection.execute("ANALYZE " + Self.tables.map { "\(quoted).\($0)" }.joined(separator: ", "))
        return try Self.tables.map { table in
            (table, Int(try connection.query("SELECT count(*) FROM \(quoted).\(table)")[0].decode(Int64.self, column: 0)))
        }
    }

    /// A few figures of the seeded state in `schema` that say whether it is realistic, as
    /// `name=value` pairs.
    package func shape(on connection: isolated PostgresConnection, schema: String) async throws -> String {
        let quoted = try connection.quoteIdentifier(schema)
        let appURL = appURL
        let row = try await connection.withTransaction { connection in
            try connection.execute("SET LOCAL jit = off")
            return try connection.query(
            """
            SELECT
                (SELECT count(*) FROM \(quoted).cards WHERE type = 'NOTE'),
                (SELECT count(*) FROM \(quoted).cards WHERE via_card_id IS NOT NULL),
                (SELECT count(*) FROM (SELECT url FROM \(quoted).cards WHERE type = 'URL' GROUP BY url HAVING count(*) > 1) AS shared),
                (SELECT max(holders) FROM (SELECT count(*) AS holders FROM \(quoted).cards WHERE type = 'URL' GROUP BY url) AS per_url),
                (SELECT count(*) FROM \(quoted).library_memberships AS m JOIN \(quoted).published_records AS r ON r.id = m.published_record_id
                    WHERE r.uri LIKE '%/at.margin.%'),
                (SELECT count(*) FROM \(quoted).cards WHERE url LIKE 'https://bsky.app/profile/%/post/%'),
                (SELECT count(*) FROM \(quoted).cards AS c JOIN (
                    SELECT '\(appURL)/profile/' || k.author_id || '/collections/' || split_part(r.uri, '/', 5) AS page
                    FROM \(quoted).collections AS k JOIN \(quoted).published_records AS r ON r.id = k.published_record_id
                    ) AS pages ON c.url = pages.page),
                (SELECT count(*) FROM \(quoted).collections WHERE access_type = 'CLOSED'),
                (SELECT count(*) FROM \(quoted).follows WHERE is_subscribed),
                (SELECT count(*) FROM \(quoted).follows WHERE target_type = 'COLLECTION'),
                (SELECT max(followers) FROM (SELECT count(*) AS followers FROM \(quoted).follows GROUP BY target_id, target_type) AS per_target),
                (SELECT count(*) FROM \(quoted).connections WHERE source_type = 'URL' AND target_type = 'URL')
            """)[0]
        }
        let names = [
            "notes", "via", "shared_urls", "max_holders", "margin_memberships", "bsky_post_cards", "collection_page_cards", "closed_collections",
            "subscribed_follows", "collection_follows", "max_followers", "url_url_connections",
        ]
        return try names.enumerated().map { "\($1)=\(try row.decode(Int64.self, column: $0))" }.joined(separator: " ")
    }

    /// What the event generator refers to, read from ``sources`` (no table needed: any connection).
    package func catalog(on connection: isolated PostgresConnection) async throws -> SembleStateCatalog {
        let sources = sources
        let users = users
        return try await connection.withTransaction { connection in
            try connection.execute("SET LOCAL jit = off")
            return try Self.catalog(users: users, sources: sources, on: connection)
        }
    }

    private static func catalog(users: Int, sources: String, on connection: isolated PostgresConnection) throws -> SembleStateCatalog {
        var catalog = SembleStateCatalog(users: users)
        for row in try connection.query(sources + "SELECT id::text, author_n, type = 'URL' FROM s_cards ORDER BY n") {
            catalog.cards.append(.init(id: try row.decode(column: 0), author: try row.decode(column: 1), isURL: try row.decode(column: 2)))
        }
        for row in try connection.query(sources + "SELECT id::text, author_n, open FROM s_collections ORDER BY n") {
            catalog.collections.append(.init(id: try row.decode(column: 0), author: try row.decode(column: 1), open: try row.decode(column: 2)))
        }
        for row in try connection.query(sources + "SELECT id::text, curator_n FROM s_connections ORDER BY n") {
            catalog.connections.append(.init(id: try row.decode(column: 0), curator: try row.decode(column: 1)))
        }
        for row in try connection.query(sources + "SELECT follower_n, target_id, target_type = 'COLLECTION' FROM s_follows ORDER BY follower_n, ord") {
            catalog.follows.append(
                .init(follower: try row.decode(column: 0), target: try row.decode(column: 1), toCollection: try row.decode(column: 2)))
        }
        catalog.index()
        return catalog
    }
}

/// The seeded rows the benchmark's events refer to; users, cards, collections and connections by
/// their index in ``RealisticSembleState``'s series (user n is `did:plc:user<n>`).
package struct SembleStateCatalog: Sendable {
    package struct Card: Sendable {
        package var id: String
        package var author: Int
        package var isURL: Bool
    }
    package struct Collection: Sendable {
        package var id: String
        package var author: Int
        package var open: Bool
    }
    package struct Connection: Sendable {
        package var id: String
        package var curator: Int
    }
    /// A row of `follows`: a user or a collection (its id) followed by user `follower`.
    package struct Follow: Sendable {
        package var follower: Int
        package var target: String
        package var toCollection: Bool

        package init(follower: Int, target: String, toCollection: Bool) {
            self.follower = follower
            self.target = target
            self.toCollection = toCollection
        }
    }

    package var users: Int
    package var cards: [Card] = []
    package var collections: [Collection] = []
    package var connections: [Connection] = []
    package var follows: [Follow] = []
    /// Per user, the indexes of their URL cards, and of their collections.
    package var urlCardsByAuthor: [[Int]] = []
    package var collectionsByAuthor: [[Int]] = []
    /// The indexes of the OPEN collections.
    package var openCollections: [Int] = []

    package init(users: Int) { self.users = users }

    package mutating func index() {
        urlCardsByAuthor = Array(repeating: [], count: users)
        for (i, card) in cards.enumerated() where card.isURL { urlCardsByAuthor[card.author].append(i) }
        collectionsByAuthor = Array(repeating: [], count: users)
        for (i, collection) in collections.enumerated() { collectionsByAuthor[collection.author].append(i) }
        openCollections = collections.indices.filter { collections[$0].open }
    }

    package func did(_ user: Int) -> String { RealisticSembleState.did(user) }

    /// A collection `actor` may add to: mostly one of their own, else another author's OPEN one.
    /// `pick(n)` draws from `0..<n`.
    package func randomCollection(for actor: Int, _ pick: (Int) -> Int) -> Int {
        let own = collectionsByAuthor[actor]
        if !own.isEmpty, pick(10) < 6 { return own[pick(own.count)] }
        return openCollections[pick(openCollections.count)]
    }

    /// A follow for a generated event: half a pair already in `follows` (Semble publishes after
    /// inserting the row), half a new one — a third of those of a collection, the rest of another
    /// user. `pick(n)` draws from `0..<n`.
    package func randomFollow(_ pick: (Int) -> Int) -> Follow {
        if pick(2) == 0 { return follows[pick(follows.count)] }
        let follower = pick(users)
        if pick(3) == 0 { return Follow(follower: follower, target: collections[pick(collections.count)].id, toCollection: true) }
        return Follow(follower: follower, target: did((follower + 1 + pick(users - 1)) % users), toCollection: false)
    }
}
