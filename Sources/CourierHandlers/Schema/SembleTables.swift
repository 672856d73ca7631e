import CourierPostgres

/// Semble's own tables — `feed_activities`, `following_feed_items`, `notifications` and the state
/// they are derived from — exactly as Semble's drizzle migrations 0000–0031 leave them
/// (`semble:src/shared/infrastructure/database/migrations`, `meta/0031_snapshot.json`; summarized
/// in `semble-parity.md` §1): columns, types, defaults, keys, indexes and foreign keys, every time
/// a `timestamp` without time zone holding UTC.
///
/// **Semble owns them.** courierd never creates, alters, re-collates or drops them on a database
/// where they exist: it reads and writes rows only, and checks at start-up that what it uses is
/// there with a compatible type (``requirements``, ``verify(on:schema:)``). ``create(on:schema:)``
/// is for a database without them — `make run`, `make test`, a demo — through
/// `courier db init-semble`; it makes the tables that are missing and nothing else.
///
/// The other tables of Semble's schema (sessions, API keys, cursors…) are not here: no event
/// handling touches them.
package enum SembleTables {
    /// The schema drizzle creates Semble's tables in.
    package static let defaultSchema = "public"

    /// The tables, in an order in which each one's foreign keys point to tables before it.
    package static let names = [
        "users", "published_records", "cards", "collections", "collection_collaborators", "collection_cards",
        "library_memberships", "connections", "follows", "feed_activities", "following_feed_items", "notifications",
    ]

    /// Each table's DDL (table, foreign keys, indexes), unqualified: run with `search_path` set to
    /// Semble's schema.
    static let definitions: [String: String] = {
        var result: [String: String] = [:]
        var current: String?
        for line in ddl.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("CREATE TABLE ") {
                current = String(line.dropFirst("CREATE TABLE ".count).prefix { $0 != " " })
            }
            if let current { result[current, default: ""] += line + "\n" }
        }
        return result
    }()

    /// The DDL of all of them, written from Semble's migrations (index and constraint names are
    /// Semble's).
    package static let ddl = """
        CREATE TABLE users (
            id text PRIMARY KEY,
            handle text,
            linked_at timestamp NOT NULL,
            last_login_at timestamp NOT NULL
        );

        CREATE TABLE published_records (
            id uuid PRIMARY KEY,
            uri text NOT NULL,
            cid text NOT NULL,
            recorded_at timestamp NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX uri_cid_unique_idx ON published_records USING btree (uri, cid);
        CREATE INDEX published_records_uri_idx ON published_records USING btree (uri);

        CREATE TABLE cards (
            id uuid PRIMARY KEY,
            author_id text NOT NULL,
            type text NOT NULL,
            content_data jsonb NOT NULL,
            url text,
            url_type text,
            parent_card_id uuid,
            via_card_id uuid,
            published_record_id uuid,
            library_count integer NOT NULL DEFAULT 0,
            created_at timestamp NOT NULL DEFAULT now(),
            updated_at timestamp NOT NULL DEFAULT now()
        );
        ALTER TABLE cards ADD CONSTRAINT cards_parent_card_id_cards_id_fk FOREIGN KEY (parent_card_id) REFERENCES cards (id) ON DELETE no action ON UPDATE no action;
        ALTER TABLE cards ADD CONSTRAINT cards_via_card_id_cards_id_fk FOREIGN KEY (via_card_id) REFERENCES cards (id) ON DELETE no action ON UPDATE no action;
        ALTER TABLE cards ADD CONSTRAINT cards_published_record_id_published_records_id_fk FOREIGN KEY (published_record_id) REFERENCES published_records (id) ON DELETE no action ON UPDATE no action;
        CREATE INDEX cards_author_url_idx ON cards USING btree (author_id, url);
        CREATE INDEX cards_author_id_idx ON cards USING btree (author_id);
        CREATE INDEX idx_cards_type_updated_at ON cards USING btree (type, updated_at DESC NULLS LAST);
        CREATE INDEX idx_cards_url_type ON cards USING btree (url, type);
        CREATE INDEX idx_cards_url_type_filter ON cards USING btree (url_type);
        CREATE INDEX idx_cards_parent_type ON cards USING btree (parent_card_id, type) WHERE type = 'NOTE';
        CREATE INDEX idx_cards_created_at ON cards USING btree (created_at);
        CREATE INDEX idx_cards_author_created_at ON cards USING btree (author_id, created_at);
        CREATE INDEX idx_cards_created_at_url_type ON cards USING btree (created_at, url_type);
        CREATE INDEX idx_cards_published_record_id ON cards USING btree (published_record_id) WHERE published_record_id IS NOT NULL;

        CREATE TABLE collections (
            id uuid PRIMARY KEY,
            author_id text NOT NULL,
            name text NOT NULL,
            description text,
            access_type text NOT NULL,
            card_count integer NOT NULL DEFAULT 0,
            created_at timestamp NOT NULL DEFAULT now(),
            updated_at timestamp NOT NULL DEFAULT now(),
            published_record_id uuid
        );
        ALTER TABLE collections ADD CONSTRAINT collections_published_record_id_published_records_id_fk FOREIGN KEY (published_record_id) REFERENCES published_records (id) ON DELETE no action ON UPDATE no action;
        CREATE INDEX collections_author_id_idx ON collections USING btree (author_id);
        CREATE INDEX collections_author_updated_at_idx ON collections USING btree (author_id, updated_at);
        CREATE INDEX idx_collections_created_at ON collections USING btree (created_at);
        CREATE INDEX idx_collections_author_created_at ON collections USING btree (author_id, created_at);
        CREATE INDEX idx_collections_created_at_access_type ON collections USING btree (created_at, access_type);
        CREATE INDEX idx_collections_published_record_id ON collections USING btree (published_record_id) WHERE published_record_id IS NOT NULL;

        CREATE TABLE collection_collaborators (
            id uuid PRIMARY KEY,
            collection_id uuid NOT NULL,
            collaborator_id text NOT NULL
        );
        ALTER TABLE collection_collaborators ADD CONSTRAINT collection_collaborators_collection_id_collections_id_fk FOREIGN KEY (collection_id) REFERENCES collections (id) ON DELETE cascade ON UPDATE no action;

        CREATE TABLE collection_cards (
            id uuid PRIMARY KEY,
            collection_id uuid NOT NULL,
            card_id uuid NOT NULL,
            added_by text NOT NULL,
            added_at timestamp NOT NULL DEFAULT now(),
            via_card_id uuid,
            published_record_id uuid
        );
        ALTER TABLE collection_cards ADD CONSTRAINT collection_cards_collection_id_collections_id_fk FOREIGN KEY (collection_id) REFERENCES collections (id) ON DELETE cascade ON UPDATE no action;
        ALTER TABLE collection_cards ADD CONSTRAINT collection_cards_card_id_cards_id_fk FOREIGN KEY (card_id) REFERENCES cards (id) ON DELETE cascade ON UPDATE no action;
        ALTER TABLE collection_cards ADD CONSTRAINT collection_cards_via_card_id_cards_id_fk FOREIGN KEY (via_card_id) REFERENCES cards (id) ON DELETE no action ON UPDATE no action;
        ALTER TABLE collection_cards ADD CONSTRAINT collection_cards_published_record_id_published_records_id_fk FOREIGN KEY (published_record_id) REFERENCES published_records (id) ON DELETE no action ON UPDATE no action;
        CREATE INDEX collection_cards_card_id_idx ON collection_cards USING btree (card_id);
        CREATE INDEX collection_cards_collection_id_idx ON collection_cards USING btree (collection_id);
        CREATE INDEX idx_collection_cards_collection_added ON collection_cards USING btree (collection_id, added_at DESC NULLS LAST);
        CREATE INDEX idx_collection_cards_card_collection ON collection_cards USING btree (card_id);
        CREATE INDEX idx_collection_cards_added_by_added_at ON collection_cards USING btree (added_by, added_at DESC NULLS LAST);
        CREATE INDEX idx_collection_cards_published_record_id ON collection_cards USING btree (published_record_id) WHERE published_record_id IS NOT NULL;

        CREATE TABLE library_memberships (
            card_id uuid NOT NULL,
            user_id text NOT NULL,
            added_at timestamp NOT NULL DEFAULT now(),
            published_record_id uuid,
            CONSTRAINT library_memberships_card_id_user_id_pk PRIMARY KEY (card_id, user_id)
        );
        ALTER TABLE library_memberships ADD CONSTRAINT library_memberships_card_id_cards_id_fk FOREIGN KEY (card_id) REFERENCES cards (id) ON DELETE cascade ON UPDATE no action;
        ALTER TABLE library_memberships ADD CONSTRAINT library_memberships_published_record_id_published_records_id_fk FOREIGN KEY (published_record_id) REFERENCES published_records (id) ON DELETE no action ON UPDATE no action;
        CREATE INDEX idx_user_cards ON library_memberships USING btree (user_id);
        CREATE INDEX idx_card_users ON library_memberships USING btree (card_id);
        CREATE INDEX idx_library_memberships_user_type_covering ON library_memberships USING btree (user_id, added_at DESC NULLS LAST);
        CREATE INDEX idx_library_memberships_published_record_id ON library_memberships USING btree (published_record_id) WHERE published_record_id IS NOT NULL;

        CREATE TABLE connections (
            id uuid PRIMARY KEY,
            curator_id text NOT NULL,
            source_type text NOT NULL,
            source_value text NOT NULL,
            source_url_metadata jsonb,
            target_type text NOT NULL,
            target_value text NOT NULL,
            target_url_metadata jsonb,
            connection_type text,
            note text,
            published_record_id uuid,
            created_at timestamp NOT NULL DEFAULT now(),
            updated_at timestamp NOT NULL DEFAULT now()
        );
        ALTER TABLE connections ADD CONSTRAINT connections_published_record_id_published_records_id_fk FOREIGN KEY (published_record_id) REFERENCES published_records (id) ON DELETE no action ON UPDATE no action;
        CREATE INDEX connections_curator_id_idx ON connections USING btree (curator_id);
        CREATE INDEX connections_source_idx ON connections USING btree (source_type, source_value);
        CREATE INDEX connections_target_idx ON connections USING btree (target_type, target_value);
        CREATE INDEX connections_created_at_idx ON connections USING btree (created_at DESC NULLS LAST);
        CREATE INDEX connections_curator_created_at_idx ON connections USING btree (curator_id, created_at DESC NULLS LAST);
        CREATE INDEX idx_connections_created_at_connection_type ON connections USING btree (created_at, connection_type);
        CREATE INDEX connections_curator_claim_idx ON connections USING btree (curator_id, source_value, target_value, connection_type);
        CREATE INDEX idx_connections_published_record_id ON connections USING btree (published_record_id) WHERE published_record_id IS NOT NULL;

        CREATE TABLE follows (
            follower_id text NOT NULL,
            target_id text NOT NULL,
            target_type text NOT NULL,
            published_record_id uuid,
            created_at timestamp NOT NULL DEFAULT now(),
            is_subscribed boolean NOT NULL DEFAULT false,
            subscribed_at timestamp,
            subscription_scopes jsonb,
            CONSTRAINT follows_follower_id_target_id_target_type_pk PRIMARY KEY (follower_id, target_id, target_type)
        );
        ALTER TABLE follows ADD CONSTRAINT follows_published_record_id_published_records_id_fk FOREIGN KEY (published_record_id) REFERENCES published_records (id) ON DELETE no action ON UPDATE no action;
        CREATE INDEX idx_follows_follower ON follows USING btree (follower_id);
        CREATE INDEX idx_follows_target_created_at ON follows USING btree (target_id, target_type, created_at DESC NULLS LAST);
        CREATE INDEX idx_follows_created_at ON follows USING btree (created_at);
        CREATE INDEX idx_follows_follower_created_at ON follows USING btree (follower_id, created_at);
        CREATE INDEX idx_follows_follower_subscribed ON follows USING btree (follower_id, is_subscribed, subscribed_at);
        CREATE INDEX idx_follows_published_record_id ON follows USING btree (published_record_id) WHERE published_record_id IS NOT NULL;

        CREATE TABLE feed_activities (
            id uuid PRIMARY KEY,
            actor_id text NOT NULL,
            card_id text,
            connection_id text,
            type text NOT NULL,
            metadata jsonb NOT NULL,
            url_type text,
            source text,
            created_at timestamp NOT NULL DEFAULT now()
        );
        CREATE INDEX feed_activities_type_idx ON feed_activities USING btree (type);
        CREATE INDEX feed_activities_url_type_idx ON feed_activities USING btree (url_type);
        CREATE INDEX feed_activities_created_at_idx ON feed_activities USING btree (created_at DESC NULLS LAST);
        CREATE INDEX feed_activities_type_created_at_idx ON feed_activities USING btree (type, created_at DESC NULLS LAST);
        CREATE INDEX feed_activities_url_type_created_at_idx ON feed_activities USING btree (url_type, created_at DESC NULLS LAST);
        CREATE INDEX feed_activities_type_url_type_created_at_idx ON feed_activities USING btree (type, url_type, created_at DESC NULLS LAST);
        CREATE INDEX feed_activities_dedup_idx ON feed_activities USING btree (actor_id, card_id, created_at DESC NULLS LAST);
        CREATE INDEX feed_activities_card_id_idx ON feed_activities USING btree (card_id);
        CREATE INDEX feed_activities_connection_id_idx ON feed_activities USING btree (connection_id);
        CREATE INDEX feed_activities_source_idx ON feed_activities USING btree (source);

        CREATE TABLE following_feed_items (
            user_id text NOT NULL,
            activity_id uuid NOT NULL,
            created_at timestamp NOT NULL,
            CONSTRAINT following_feed_items_user_id_activity_id_pk PRIMARY KEY (user_id, activity_id)
        );
        ALTER TABLE following_feed_items ADD CONSTRAINT following_feed_items_activity_id_feed_activities_id_fk FOREIGN KEY (activity_id) REFERENCES feed_activities (id) ON DELETE cascade ON UPDATE no action;
        CREATE INDEX idx_following_feed_user_time ON following_feed_items USING btree (user_id, created_at DESC NULLS LAST);

        CREATE TABLE notifications (
            id uuid PRIMARY KEY,
            recipient_user_id text NOT NULL,
            actor_user_id text NOT NULL,
            type text NOT NULL,
            metadata jsonb NOT NULL,
            read boolean NOT NULL DEFAULT false,
            created_at timestamp NOT NULL DEFAULT now(),
            updated_at timestamp NOT NULL DEFAULT now()
        );
        CREATE INDEX notifications_recipient_idx ON notifications USING btree (recipient_user_id);
        CREATE INDEX notifications_recipient_created_at_idx ON notifications USING btree (recipient_user_id, created_at DESC NULLS LAST);
        CREATE INDEX notifications_recipient_unread_partial_idx ON notifications USING btree (recipient_user_id) WHERE read = false;
        CREATE INDEX notifications_actor_idx ON notifications USING btree (actor_user_id);
        CREATE INDEX notifications_metadata_card_id_idx ON notifications USING btree ((metadata->>'cardId'));
        """
}

extension SembleTables {
    /// A column Courier reads or writes, with the type it needs (`udt_name`: `text`, `uuid`,
    /// `jsonb`, `timestamp`, `bool`) and whether it must accept NULL (Courier writes NULL there).
    package struct Column: Sendable, Hashable {
        package var table: String
        package var name: String
        package var type: String
        package var mustBeNullable: Bool

        init(_ table: String, _ name: String, _ type: String, nullable: Bool = false) {
            self.table = table
            self.name = name
            self.type = type
            self.mustBeNullable = nullable
        }
    }

    /// What Courier's statements need of Semble's tables: the columns, and the unique keys its
    /// `ON CONFLICT` clauses name (a unique index on exactly those columns).
    package static let requirements: (columns: [Column], uniqueKeys: [(table: String, columns: Set<String>)]) = (
        columns: [
            Column("feed_activities", "id", "uuid"), Column("feed_activities", "actor_id", "text"),
            Column("feed_activities", "card_id", "text", nullable: true),
            Column("feed_activities", "connection_id", "text", nullable: true),
            Column("feed_activities", "type", "text"), Column("feed_activities", "metadata", "jsonb"),
            Column("feed_activities", "created_at", "timestamp"),
            Column("following_feed_items", "user_id", "text"), Column("following_feed_items", "activity_id", "uuid"),
            Column("following_feed_items", "created_at", "timestamp"),
            Column("notifications", "id", "uuid"), Column("notifications", "recipient_user_id", "text"),
            Column("notifications", "actor_user_id", "text"), Column("notifications", "type", "text"),
            Column("notifications", "metadata", "jsonb"), Column("notifications", "read", "bool"),
            Column("notifications", "created_at", "timestamp"), Column("notifications", "updated_at", "timestamp"),
            Column("feed_activities", "url_type", "text", nullable: true), Column("feed_activities", "source", "text", nullable: true),
            // Semble's state, read as Semble's handlers read it.
            Column("cards", "id", "uuid"), Column("cards", "author_id", "text"), Column("cards", "type", "text"),
            Column("cards", "content_data", "jsonb"), Column("cards", "url", "text", nullable: true),
            Column("cards", "via_card_id", "uuid", nullable: true), Column("cards", "created_at", "timestamp"),
            Column("library_memberships", "card_id", "uuid"), Column("library_memberships", "user_id", "text"),
            Column("library_memberships", "published_record_id", "uuid", nullable: true),
            Column("published_records", "id", "uuid"), Column("published_records", "uri", "text"),
            Column("collections", "id", "uuid"), Column("collections", "author_id", "text"), Column("collections", "access_type", "text"),
            Column("collections", "published_record_id", "uuid", nullable: true),
            Column("follows", "follower_id", "text"), Column("follows", "target_id", "text"), Column("follows", "target_type", "text"),
            Column("follows", "is_subscribed", "bool"), Column("follows", "subscription_scopes", "jsonb", nullable: true),
            Column("users", "id", "text"),
            Column("connections", "id", "uuid"), Column("connections", "curator_id", "text"), Column("connections", "source_type", "text"),
            Column("connections", "source_value", "text"), Column("connections", "target_type", "text"),
            Column("connections", "target_value", "text"),
        ],
        uniqueKeys: [
            ("feed_activities", ["id"]), ("following_feed_items", ["user_id", "activity_id"]), ("notifications", ["id"]),
        ])

    /// Semble's tables do not have what Courier needs: start-up stops (exit 78) with this.
    package struct Mismatch: Error, CustomStringConvertible, Sendable {
        package var schema: String
        package var table: String
        package var column: String?
        /// What was found, e.g. "does not exist", "timestamp with time zone", "NOT NULL".
        package var found: String
        package var expected: String

        package var description: String {
            let place = column.map { "column \(schema).\(table).\($0)" } ?? "table \(schema).\(table)"
            return "Semble's schema does not match: \(place): found \(found), Courier needs \(expected). "
                + "courierd never creates or alters Semble's tables: point database.url at Semble's database, "
                + "or for a standalone run create them with `courier db init-semble`"
        }
    }

    /// The tables of ``names`` present in `schema`.
    package static func existing(on connection: isolated PostgresConnection, schema: String) throws -> Set<String> {
        Set(try connection.query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 AND table_name = ANY ($2::text[])",
            [schema, names]
        ).map { try $0.decode(String.self, column: 0) })
    }

    /// Creates the tables of ``names`` missing from `schema` (which must exist), exactly as
    /// Semble's migrations leave them, in one transaction, then ``verify(on:schema:)``s them
    /// all. Tables already there are left as they are. Returns the tables created.
    @discardableResult
    package static func create(on connection: isolated PostgresConnection, schema: String = defaultSchema) async throws -> [String] {
        let quoted = try connection.quoteIdentifier(schema)
        let created = try await connection.withTransaction { connection in
            // One creator at a time (two test processes, or `make run` twice).
            try connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", ["courier.semble-tables:\(schema)"])
            let present = try existing(on: connection, schema: schema)
            let missing = names.filter { !present.contains($0) }
            try connection.execute("SET LOCAL search_path TO \(quoted)")
            for table in missing {
                try connection.executeTrustedScript(definitions[table] ?? "")
            }
            return missing
        }
        try verify(on: connection, schema: schema)
        return created
    }

    /// Checks that every column and unique key of ``requirements`` is in `schema`.
    /// - Throws: ``Mismatch`` naming the first table or column that is missing or different.
    package static func verify(on connection: isolated PostgresConnection, schema: String = defaultSchema) throws {
        let tables = Array(Set(requirements.columns.map(\.table))).sorted()
        // Per table and column: its `udt_name` (what is compared), how to name it in a message,
        // and whether it takes NULL.
        var found: [String: [String: (type: String, described: String, nullable: Bool)]] = [:]
        for row in try connection.query(
            """
            SELECT table_name::text, column_name::text, udt_name::text, data_type::text, is_nullable = 'YES'
            FROM information_schema.columns WHERE table_schema = $1 AND table_name = ANY ($2::text[])
            """, [schema, tables])
        {
            let type = try row.decode(String.self, column: 2)
            let dataType = try row.decode(String.self, column: 3)
            found[try row.decode(String.self, column: 0), default: [:]][try row.decode(String.self, column: 1)] =
                (type, type == dataType ? type : "\(type) (\(dataType))", try row.decode(Bool.self, column: 4))
        }
        for column in requirements.columns {
            guard let columns = found[column.table] else {
                throw Mismatch(schema: schema, table: column.table, found: "no such table", expected: "Semble's \(column.table)")
            }
            guard let actual = columns[column.name] else {
                throw Mismatch(schema: schema, table: column.table, column: column.name, found: "no such column", expected: column.type)
            }
            guard actual.type == column.type else {
                throw Mismatch(schema: schema, table: column.table, column: column.name, found: "type \(actual.described)", expected: "type \(column.type)")
            }
            if column.mustBeNullable, !actual.nullable {
                throw Mismatch(schema: schema, table: column.table, column: column.name, found: "NOT NULL", expected: "a nullable column")
            }
        }
        var uniqueKeys: [String: [Set<String>]] = [:]
        for row in try connection.query(
            """
            SELECT t.relname::text, array_agg(a.attname::text)
            FROM pg_index i
            JOIN pg_class t ON t.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            CROSS JOIN LATERAL unnest(i.indkey) AS k(attnum)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
            WHERE n.nspname = $1 AND t.relname = ANY ($2::text[]) AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
            GROUP BY i.indexrelid, t.relname
            """, [schema, tables])
        {
            uniqueKeys[try row.decode(String.self, column: 0), default: []].append(Set(try row.decode([String].self, column: 1)))
        }
        for key in requirements.uniqueKeys where !(uniqueKeys[key.table] ?? []).contains(key.columns) {
            throw Mismatch(
                schema: schema, table: key.table, found: "no unique key on (\(key.columns.sorted().joined(separator: ", ")))",
                expected: "that key (its primary key in Semble's schema)")
        }
    }
}
