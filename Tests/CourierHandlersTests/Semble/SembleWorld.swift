import CourierPostgres
import Foundation

/// Semble's state for a test — the rows Semble's API would have written before publishing its
/// events (users, cards in libraries, collections with their published records, follows with
/// their subscriptions, connections) — inserted into the test's Semble schema. Cards,
/// collections and connections are named in tests and stored under ``uuid(_:)`` of the name.
extension SembleTestDatabase {
    /// A fixed UUID for a name (FNV-1a, spread with SplitMix64), lower case as Postgres prints it.
    static func uuid(_ name: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        func mix(_ value: UInt64) -> UInt64 {
            var z = value &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let hex = String(format: "%016llx%016llx", mix(hash), mix(hash ^ 0xFFFF))
        let chars = Array(hex)
        func part(_ range: Range<Int>) -> String { String(chars[range]) }
        return "\(part(0..<8))-\(part(8..<12))-4\(part(13..<16))-a\(part(17..<20))-\(part(20..<32))"
    }

    func users(_ dids: String...) async throws {
        for did in dids {
            try await connection.execute(
                "INSERT INTO users (id, handle, linked_at, last_login_at) VALUES ($1, $1, now(), now()) ON CONFLICT DO NOTHING", [did])
        }
    }

    /// A card of `author` (a URL card when `url` is set, else a note), in `author`'s library (and
    /// in `alsoHeldBy`'s: Semble keeps one card per holder of a URL, but tests may share one).
    /// `margin`: the author's library membership was published as a Margin record.
    func card(
        _ name: String, by author: String, url: String? = nil, urlType: String = "article", via: String? = nil, margin: Bool = false,
        createdSecondsAgo: Int = 60
    ) async throws {
        let id = Self.uuid(name)
        if let url {
            try await connection.execute(
                """
                INSERT INTO cards (id, author_id, type, content_data, url, url_type, via_card_id, created_at, updated_at)
                VALUES ($1::uuid, $2, 'URL', jsonb_build_object('url', $3::text, 'metadata', jsonb_build_object('url', $3::text, 'type', $4::text)),
                    $3, $4, $5::uuid, now() - make_interval(secs => $6), now())
                """,
                [id, author, url, urlType, via.map(Self.uuid), Double(createdSecondsAgo)])
        } else {
            try await connection.execute(
                """
                INSERT INTO cards (id, author_id, type, content_data, via_card_id, created_at, updated_at)
                VALUES ($1::uuid, $2, 'NOTE', '{"text": "a note"}', $3::uuid, now() - make_interval(secs => $4), now())
                """,
                [id, author, via.map(Self.uuid), Double(createdSecondsAgo)])
        }
        try await hold(name, by: author, margin: margin)
    }

    /// `holder` has the card `name` in their library.
    func hold(_ name: String, by holder: String, margin: Bool = false) async throws {
        var record: String? = nil
        if margin {
            record = Self.uuid("record:\(name):\(holder)")
            try await connection.execute(
                "INSERT INTO published_records (id, uri, cid) VALUES ($1::uuid, $2, 'cid')",
                [record, "at://\(holder)/at.margin.bookmark/\(name)"])
        }
        try await connection.execute(
            "INSERT INTO library_memberships (card_id, user_id, published_record_id) VALUES ($1::uuid, $2, $3::uuid)",
            [Self.uuid(name), holder, record])
    }

    /// A collection of `author`, published at `at://{author}/network.cosmik.collection/{rkey}`
    /// (rkey: the name).
    func collection(_ name: String, by author: String, open: Bool = true) async throws {
        let record = Self.uuid("record:\(name)")
        try await connection.execute(
            "INSERT INTO published_records (id, uri, cid) VALUES ($1::uuid, $2, 'cid')", [record, "at://\(author)/network.cosmik.collection/\(name)"])
        try await connection.execute(
            "INSERT INTO collections (id, author_id, name, access_type, published_record_id) VALUES ($1::uuid, $2, $3, $4, $5::uuid)",
            [Self.uuid(name), author, name, open ? "OPEN" : "CLOSED", record])
    }

    /// `follower` follows the user `did`; subscribed for `scopes` when given.
    func follow(_ follower: String, user did: String, scopes: [String]? = nil) async throws {
        try await follow(follower, target: did, type: "USER", scopes: scopes)
    }

    /// `follower` follows the collection `name`; subscribed for `scopes` when given.
    func follow(_ follower: String, collection name: String, scopes: [String]? = nil) async throws {
        try await follow(follower, target: Self.uuid(name), type: "COLLECTION", scopes: scopes)
    }

    private func follow(_ follower: String, target: String, type: String, scopes: [String]?) async throws {
        try await connection.execute(
            """
            INSERT INTO follows (follower_id, target_id, target_type, is_subscribed, subscribed_at, subscription_scopes)
            VALUES ($1, $2, $3, $4, CASE WHEN $4 THEN now() END, CASE WHEN $4 THEN to_jsonb($5::text[]) END)
            """,
            [follower, target, type, scopes != nil, PostgresArrayLiteral.encode(scopes ?? [])])
    }

    /// A connection of `curator` from `source` to `target` (URLs, or `card:<name>` for a card end).
    func connection(_ name: String, by curator: String, from source: String, to target: String) async throws {
        func end(_ value: String) -> (String, String) {
            value.hasPrefix("card:") ? ("CARD", Self.uuid(String(value.dropFirst(5)))) : ("URL", value)
        }
        let (sourceType, sourceValue) = end(source)
        let (targetType, targetValue) = end(target)
        try await connection.execute(
            """
            INSERT INTO connections (id, curator_id, source_type, source_value, target_type, target_value)
            VALUES ($1::uuid, $2, $3, $4, $5, $6)
            """,
            [Self.uuid(name), curator, sourceType, sourceValue, targetType, targetValue])
    }
}
