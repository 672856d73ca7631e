import CourierPostgres
import CourierTesting
import Foundation
import Logging
import Testing

@testable import CourierHandlers

@Suite("Semble's schema and Courier's", .tags(.integration))
struct SembleSchemaTests {
    @Test("Courier's own tables compare ids by bytes; only human text and bookkeeping keep the database's collation")
    func idsCompareByBytes() async throws {
        try await SembleTestDatabase.with { db in
            let loose = try await db.lines(
                """
                SELECT table_name || '.' || column_name FROM information_schema.columns
                WHERE table_schema = $1 AND data_type = 'text' AND collation_name IS DISTINCT FROM 'C'
                """, [db.courierSchema])
            #expect(loose == ["card_activity_bundles.last_error", "schema_migrations.checksum", "schema_migrations.name"])
        }
    }

    @Test("a handler transaction plans for keys: no JIT, no sequential scans")
    func sessionSettings() async throws {
        try await SembleTestDatabase.with { db in
            let settings = try await db.connection.withTransaction { transaction in
                try SembleSession.prepare(transaction)
                return try transaction.query("SELECT current_setting('jit'), current_setting('enable_seqscan')")
                    .map { [try $0.decode(String.self, column: 0), try $0.decode(String.self, column: 1)] }
            }
            #expect(settings == [["off", "off"]])
            // SET LOCAL: the connection's own settings are back after the transaction.
            #expect(try await db.scalar(String.self, "SELECT current_setting('enable_seqscan')") == "on")
        }
    }

    // MARK: The fixture against semble-parity.md §1

    /// §1's facts, written from the parity file (not from the fixture's SQL): per table, every
    /// column as `name type [NN] [=default]`, in order.
    static let columns: [String: [String]] = [
        "feed_activities": [
            "id uuid NN", "actor_id text NN", "card_id text", "connection_id text", "type text NN", "metadata jsonb NN",
            "url_type text", "source text", "created_at timestamp NN =now()",
        ],
        "following_feed_items": ["user_id text NN", "activity_id uuid NN", "created_at timestamp NN"],
        "notifications": [
            "id uuid NN", "recipient_user_id text NN", "actor_user_id text NN", "type text NN", "metadata jsonb NN",
            "read bool NN =false", "created_at timestamp NN =now()", "updated_at timestamp NN =now()",
        ],
        "follows": [
            "follower_id text NN", "target_id text NN", "target_type text NN", "published_record_id uuid",
            "created_at timestamp NN =now()", "is_subscribed bool NN =false", "subscribed_at timestamp", "subscription_scopes jsonb",
        ],
        "collections": [
            "id uuid NN", "author_id text NN", "name text NN", "description text", "access_type text NN", "card_count int4 NN =0",
            "created_at timestamp NN =now()", "updated_at timestamp NN =now()", "published_record_id uuid",
        ],
        "collection_cards": [
            "id uuid NN", "collection_id uuid NN", "card_id uuid NN", "added_by text NN", "added_at timestamp NN =now()",
            "via_card_id uuid", "published_record_id uuid",
        ],
        "cards": [
            "id uuid NN", "author_id text NN", "type text NN", "content_data jsonb NN", "url text", "url_type text",
            "parent_card_id uuid", "via_card_id uuid", "published_record_id uuid", "library_count int4 NN =0",
            "created_at timestamp NN =now()", "updated_at timestamp NN =now()",
        ],
        "library_memberships": ["card_id uuid NN", "user_id text NN", "added_at timestamp NN =now()", "published_record_id uuid"],
        "connections": [
            "id uuid NN", "curator_id text NN", "source_type text NN", "source_value text NN", "source_url_metadata jsonb",
            "target_type text NN", "target_value text NN", "target_url_metadata jsonb", "connection_type text", "note text",
            "published_record_id uuid", "created_at timestamp NN =now()", "updated_at timestamp NN =now()",
        ],
        "users": ["id text NN", "handle text", "linked_at timestamp NN", "last_login_at timestamp NN"],
        "published_records": ["id uuid NN", "uri text NN", "cid text NN", "recorded_at timestamp NN =now()"],
        "collection_collaborators": ["id uuid NN", "collection_id uuid NN", "collaborator_id text NN"],
    ]

    /// §1's keys and indexes: per table, the primary key's columns and every other index as
    /// `(columns) [WHERE …]`, `↓` = DESC NULLS LAST; `UNIQUE` where unique.
    static let indexes: [String: [String]] = [
        "feed_activities": [
            "PK (id)", "(type)", "(url_type)", "(created_at↓)", "(type, created_at↓)", "(url_type, created_at↓)",
            "(type, url_type, created_at↓)", "(actor_id, card_id, created_at↓)", "(card_id)", "(connection_id)", "(source)",
        ],
        "following_feed_items": ["PK (user_id, activity_id)", "(user_id, created_at↓)"],
        "notifications": [
            "PK (id)", "(recipient_user_id)", "(recipient_user_id, created_at↓)", "(recipient_user_id) WHERE (read = false)",
            "(actor_user_id)", "(((metadata ->> 'cardId'::text)))",
        ],
        "follows": [
            "PK (follower_id, target_id, target_type)", "(follower_id)", "(target_id, target_type, created_at↓)", "(created_at)",
            "(follower_id, created_at)", "(follower_id, is_subscribed, subscribed_at)",
            "(published_record_id) WHERE (published_record_id IS NOT NULL)",
        ],
        "library_memberships": [
            "PK (card_id, user_id)", "(user_id)", "(card_id)", "(user_id, added_at↓)",
            "(published_record_id) WHERE (published_record_id IS NOT NULL)",
        ],
        "published_records": ["PK (id)", "UNIQUE (uri, cid)", "(uri)"],
    ]

    /// The catalog of `schema`'s table `table` in the notation of ``columns``, sorted.
    static func catalogColumns(_ db: SembleTestDatabase, schema: String, table: String) async throws -> [String] {
        try await db.lines(
            """
            SELECT a.attname || ' ' || t.typname || CASE WHEN a.attnotnull THEN ' NN' ELSE '' END
                || coalesce(' =' || pg_get_expr(d.adbin, d.adrelid), '')
            FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = ($1 || '.' || $2)::regclass AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """, [schema, table])
    }

    /// The indexes of `schema`'s table `table` in the notation of ``indexes``, sorted.
    static func catalogIndexes(_ db: SembleTestDatabase, schema: String, table: String) async throws -> [String] {
        try await db.lines(
            """
            SELECT CASE WHEN i.indisprimary THEN 'PK ' WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END
                || regexp_replace(regexp_replace(substring(pg_get_indexdef(i.indexrelid) FROM ' USING btree (.*)$'),
                    ' DESC NULLS LAST', '↓', 'g'), ' DESC', ' DESC NULLS FIRST', 'g')
            FROM pg_index i WHERE i.indrelid = ($1 || '.' || $2)::regclass
            """, [schema, table]).sorted()
    }

    @Test("the standalone fixture has §1's columns, types, defaults, keys and indexes (10 on feed_activities, 5 on notifications)")
    func fixtureMatchesParity() async throws {
        try await SembleTestDatabase.with { db in
            #expect(try await db.lines(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", [db.schema])
                == SembleTables.names.sorted())
            for (table, expected) in Self.columns.sorted(by: { $0.key < $1.key }) {
                #expect(try await Self.catalogColumns(db, schema: db.schema, table: table) == expected.sorted(), "\(table)")
            }
            for (table, expected) in Self.indexes.sorted(by: { $0.key < $1.key }) {
                #expect(try await Self.catalogIndexes(db, schema: db.schema, table: table) == expected.sorted(), "\(table)")
            }
            // Every time is a timestamp without time zone; notifications has no unique key but its id.
            #expect(try await db.lines(
                "SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = $1 AND data_type = 'timestamp with time zone'",
                [db.schema]) == [])
            let foreignKeys = try await db.lines(
                """
                SELECT conrelid::regclass::text || ' -> ' || confrelid::regclass::text || ' ' || confdeltype::text
                FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
                WHERE n.nspname = $1 AND contype = 'f' AND conrelid::regclass::text LIKE '%following_feed_items'
                """, [db.schema])
            #expect(foreignKeys.count == 1 && foreignKeys[0].hasSuffix("feed_activities c"), "\(foreignKeys)")
        }
    }

    @Test("start-up's check names the table and column that do not match, and what it found")
    func verifyNamesTheMismatch() async throws {
        try await SembleTestDatabase.with { db in
            try await SembleTables.verify(on: db.connection, schema: db.schema)
            try await db.connection.execute("ALTER TABLE \(db.schema).notifications ALTER COLUMN created_at TYPE timestamptz")
            let wrongType = try await #require(throws: SembleTables.Mismatch.self) {
                try await SembleTables.verify(on: db.connection, schema: db.schema)
            }
            #expect(wrongType.table == "notifications" && wrongType.column == "created_at")
            #expect(wrongType.description.contains("timestamp with time zone"), "\(wrongType)")

            try await db.connection.execute("ALTER TABLE \(db.schema).feed_activities ALTER COLUMN card_id SET NOT NULL")
            try await db.connection.execute("ALTER TABLE \(db.schema).notifications ALTER COLUMN created_at TYPE timestamp")
            let notNull = try await #require(throws: SembleTables.Mismatch.self) {
                try await SembleTables.verify(on: db.connection, schema: db.schema)
            }
            #expect(notNull.table == "feed_activities" && notNull.column == "card_id" && notNull.found == "NOT NULL")

            try await db.connection.execute("ALTER TABLE \(db.schema).feed_activities ALTER COLUMN card_id DROP NOT NULL")
            try await db.connection.execute("ALTER TABLE \(db.schema).following_feed_items DROP CONSTRAINT following_feed_items_user_id_activity_id_pk")
            let noKey = try await #require(throws: SembleTables.Mismatch.self) {
                try await SembleTables.verify(on: db.connection, schema: db.schema)
            }
            #expect(noKey.table == "following_feed_items" && noKey.description.contains("activity_id, user_id"), "\(noKey)")

            try await db.connection.execute("DROP TABLE \(db.schema).notifications")
            let missing = try await #require(throws: SembleTables.Mismatch.self) {
                try await SembleTables.verify(on: db.connection, schema: db.schema)
            }
            #expect(missing.table == "notifications" && missing.column == nil && missing.found == "no such table")
        }
    }

    @Test("creating Semble's tables again leaves the existing ones as they are, rows included")
    func createIsIdempotent() async throws {
        try await SembleTestDatabase.with { db in
            try await db.connection.execute(
                "INSERT INTO users (id, linked_at, last_login_at) VALUES ('did:plc:alice', now(), now())")
            #expect(try await SembleTables.create(on: db.connection, schema: db.schema) == [])
            #expect(try await db.scalar(Int64.self, "SELECT count(*) FROM users") == 1)
        }
    }
}
