import CourierEvents
import CourierPostgres
import CourierPublisher
import CourierTesting
import Foundation
import Logging
import Testing

@testable import CourierHandlers

/// The upgrade of a database the old layout's migrations (``LegacySembleSchema``) created.
@Suite("Upgrading the old database layout", .tags(.integration))
struct LegacyLayoutTests {
    @Test("the old layout's frozen outbox table is the publisher's, word for word (both IF NOT EXISTS: whichever runs first creates it)")
    func frozenOutboxTableAgrees() {
        #expect(LegacySembleSchema.eventStore == OutboxSchema.seedTable)
    }

    static let activity = "11111111-1111-4111-8111-111111111111"
    static let notification = "22222222-2222-4222-8222-222222222222"

    @Test("Courier's tables move into its schema, Semble's three get Semble's exact shape back, no row is lost, and the handlers go on")
    func upgradesTheOldLayout() async throws {
        let url = try TestEnvironment.databaseURL()
        let schema = TestEnvironment.uniqueName("legacy")
        let admin = try await PostgresConnection.connect(try PostgresConfiguration(url: url))
        try await admin.execute("CREATE SCHEMA \(schema)")
        await admin.close()

        // The old layout, as the last release left it, with rows its handlers wrote.
        var legacyConfiguration = try PostgresConfiguration(url: url)
        legacyConfiguration.searchPath = [schema]
        let legacy = try await PostgresConnection.connect(legacyConfiguration)
        _ = try await PostgresMigrator(migrations: LegacySembleSchema.migrations, schema: schema).migrate(on: legacy)
        _ = try await OutboxSchema.migrate(on: legacy, schema: schema)
        try await legacy.executeTrustedScript(
            """
            INSERT INTO feed_activities (id, actor_id, card_id, type, metadata, created_at)
                VALUES ('\(Self.activity)', 'did:plc:alice', 'card-1', 'CARD_COLLECTED', '{"cardId": "card-1"}', '2026-03-01 12:00:00');
            INSERT INTO following_feed_items VALUES ('did:plc:bob', '\(Self.activity)', '2026-03-01 12:00:00');
            INSERT INTO notifications (id, recipient_user_id, actor_user_id, type, metadata, subject)
                VALUES ('\(Self.notification)', 'did:plc:alice', 'did:plc:bob', 'USER_FOLLOWED_YOU', '{"targetType": "USER"}', '["f1"]');
            INSERT INTO courier_inbox (handler, event_id, event_type) VALUES ('feeds', 'e-1', 'CardAddedToLibraryEvent');
            INSERT INTO feed_activity_sources VALUES ('e-1', '\(Self.activity)', 'did:plc:alice', NULL, '2026-03-01 12:00:00+00');
            INSERT INTO event_store (aggregate_id, event_type, event_data, timestamp) VALUES ('card-1', 'CardAddedToLibraryEvent', '{}', now());
            """)
        await legacy.close()

        let db = SembleTestDatabase(
            schema: schema, connection: try await PostgresConnection.connect(try SembleTestDatabase.configuration(schema: schema)),
            pool: PostgresPool(configuration: try SembleTestDatabase.configuration(schema: schema), maximumConnections: 1, logger: Logger(label: "test")))
        do {
            try await db.connection.execute("CREATE SCHEMA \(db.courierSchema)")
            let logger = Logger(label: "test")
            #expect(try await LegacyLayout.upgradeIfPresent(on: db.connection, courierSchema: db.courierSchema, sembleSchema: schema, logger: logger))

            func tables(_ schema: String) async throws -> [String] {
                try await db.lines("SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1", [schema])
            }
            #expect(try await tables(schema) == ["feed_activities", "following_feed_items", "notifications"])
            #expect(
                try await tables(db.courierSchema)
                    == [
                        "courier_inbox", "courier_outbox_migrations", "event_store", "feed_activity_sources", "legacy_schema_migrations",
                        "notification_keys", "rm_card_authors", "rm_card_collects", "rm_collection_cards", "rm_collections",
                        "rm_connections", "rm_feed_connections", "rm_feed_follows", "rm_follows", "rm_library_cards", "schema_migrations",
                    ])
            // Exactly the shape Semble's migrations give the three tables (the fixture's).
            try await SembleTestDatabase.with { fresh in
                for table in ["feed_activities", "following_feed_items", "notifications"] {
                    let (upgradedColumns, freshColumns) = (
                        try await SembleSchemaTests.catalogColumns(db, schema: schema, table: table),
                        try await SembleSchemaTests.catalogColumns(fresh, schema: fresh.schema, table: table)
                    )
                    #expect(upgradedColumns == freshColumns, "\(table)")
                    let (upgradedIndexes, freshIndexes) = (
                        try await SembleSchemaTests.catalogIndexes(db, schema: schema, table: table),
                        try await SembleSchemaTests.catalogIndexes(fresh, schema: fresh.schema, table: table)
                    )
                    #expect(upgradedIndexes == freshIndexes, "\(table)")
                }
            }
            #expect(try await db.lines(
                "SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = $1 AND collation_name IS NOT NULL",
                [schema]) == [], "Semble's columns keep the database's collation")

            // Nothing lost: the rows, and each notification's natural key, now in the ledger.
            #expect(try await db.lines(
                "SELECT notification_id::text || ' ' || type || ' ' || subject || ' ' || recipient_user_id FROM notification_keys")
                == [#"\#(Self.notification) USER_FOLLOWED_YOU ["f1"] did:plc:alice"#])
            for table in ["feed_activities", "following_feed_items", "notifications", "courier_inbox", "feed_activity_sources", "event_store"] {
                #expect(try await db.scalar(Int64.self, "SELECT count(*) FROM \(table)") == 1, "\(table)")
            }
            // The moved tables are Courier's first migration: only the later ones are left to apply
            // (the third drops the read models and the ledger: Semble's own tables replace them).
            #expect(try await CourierSchema.migrate(on: db.connection, schema: db.courierSchema) == [2, 3])
            #expect(
                try await tables(db.courierSchema)
                    == [
                        "card_activity_bundles", "courier_inbox", "courier_outbox_migrations", "event_store", "legacy_schema_migrations",
                        "schema_migrations",
                    ])
            #expect(try await OutboxSchema.migrate(on: db.connection, schema: db.courierSchema) == [])

            // The handlers go on where the old layout stopped.
            try await db.applyOneByOne([SembleEvents.follow("e-2", "did:plc:carol", follows: "did:plc:alice", at: 10)])
            #expect(try await db.scalar(Int64.self, "SELECT count(*) FROM notifications WHERE recipient_user_id = 'did:plc:alice'") == 2)

            // A second start finds nothing to upgrade.
            #expect(try await !LegacyLayout.upgradeIfPresent(on: db.connection, courierSchema: db.courierSchema, sembleSchema: schema, logger: logger))
        } catch {
            try? await db.drop()
            throw error
        }
        try await db.drop()
    }

    @Test("an old layout short of its last version stops start-up with a message saying so")
    func refusesAnOlderOldLayout() async throws {
        try await SembleTestDatabase.with { db in
            // An old layout at version 3 only, in a schema of its own.
            let old = db.schema + "_old"
            try await db.connection.execute("CREATE SCHEMA \(old)")
            _ = try await PostgresMigrator(migrations: Array(LegacySembleSchema.migrations.prefix(3)), schema: old).migrate(on: db.connection)
            let error = try await #require(throws: LegacyLayout.Unsupported.self) {
                try await LegacyLayout.upgradeIfPresent(on: db.connection, courierSchema: db.courierSchema, sembleSchema: old, logger: Logger(label: "test"))
            }
            #expect(error.versions == [1, 2, 3])
            #expect(try await db.scalar(Int64.self, "SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND column_name = 'subject'", [old]) == 1,
                    "left as it was")
            try await db.connection.execute("DROP SCHEMA \(old) CASCADE")
        }
    }
}
