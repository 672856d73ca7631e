import CourierPostgres
import Logging

/// The upgrade of a database the old layout (``LegacySembleSchema``) created: Courier's tables
/// beside Semble's, Semble's three tables created by Courier with a `subject` column, a unique
/// index and byte-order collations of its own.
///
/// In one transaction (so a failure leaves the old layout whole, and courierd can simply start
/// again), under an advisory lock (several replicas may start at once):
/// 1. Courier's tables move into Courier's schema (`ALTER TABLE … SET SCHEMA`: rows, indexes and
///    sequences go with them, nothing is copied) — the inbox, the read models,
///    `feed_activity_sources` (its foreign key into `feed_activities` is dropped), the outbox
///    (`event_store`, its trigger function and its tracking table) and the failure index;
/// 2. the ledger `notification_keys` is filled from `notifications.subject`, then `subject` is
///    dropped (with its unique index);
/// 3. Semble's three tables get back the shape Semble's migrations give them (``SembleTables``):
///    the database's default collation, Courier's extra indexes dropped, Semble's indexes and
///    constraint names;
/// 4. the old tracking table is kept, renamed, in Courier's schema (`legacy_schema_migrations`),
///    and ``CourierSchema``'s first migration — whose tables the moved ones are — is recorded
///    as applied.
///
/// Only a database at the old layout's last version (7) is upgraded; any other state of it stops
/// start-up with a message saying so.
package enum LegacyLayout {
    /// Courier's tables of the old layout's migrations 2–7 that move as they are.
    static let handlerTables = [
        "courier_inbox", "rm_card_collects", "rm_card_authors", "rm_library_cards", "rm_collection_cards", "rm_collections",
        "rm_follows", "rm_connections", "feed_activity_sources", "rm_feed_follows", "rm_feed_connections",
    ]
    /// Moved when present: the outbox's and the failure index's tables.
    static let otherCourierTables = ["event_store", "courier_outbox_migrations", "courier_failures", "courier_failure_index_migrations"]
    /// The old layout's tracking table.
    static let trackingTable = "courier_schema_migrations"

    /// Whether `sembleSchema` holds the old layout.
    package static func isPresent(on connection: isolated PostgresConnection, sembleSchema: String) throws -> Bool {
        try connection.query("SELECT to_regclass($1) IS NOT NULL", ["\(try connection.quoteIdentifier(sembleSchema)).\(trackingTable)"])
            .first?.decode(Bool.self, column: 0) ?? false
    }

    /// Upgrades the old layout in `sembleSchema` when it is there. Returns whether it did.
    /// - Throws: `LegacyLayout.Unsupported` when the old layout is not at version 7;
    ///   Postgres errors as they are (the transaction is rolled back).
    @discardableResult
    package static func upgradeIfPresent(
        on connection: isolated PostgresConnection, courierSchema: String, sembleSchema: String, logger: Logger
    ) async throws -> Bool {
        guard try isPresent(on: connection, sembleSchema: sembleSchema) else { return false }
        let semble = try connection.quoteIdentifier(sembleSchema)
        let courier = try connection.quoteIdentifier(courierSchema)
        return try await connection.withTransaction { db in
            try db.execute("SELECT pg_advisory_xact_lock(hashtext('courier.legacy-layout-upgrade'))")
            // Another replica may have upgraded it while this one waited for the lock.
            guard try isPresent(on: db, sembleSchema: sembleSchema) else { return false }
            let versions = try db.query("SELECT version FROM \(semble).\(trackingTable) ORDER BY version").map { try $0.decode(Int.self, column: 0) }
            guard versions == Array(1...7) else {
                throw Unsupported(versions: versions)
            }
            logger.notice(
                "upgrading the old database layout: moving Courier's tables into their own schema, giving Semble's tables back Semble's shape",
                metadata: ["courier_schema": "\(courierSchema)", "semble_schema": "\(sembleSchema)"])
            var script = ["CREATE SCHEMA IF NOT EXISTS \(courier);"]
            for table in handlerTables {
                script.append("ALTER TABLE \(semble).\(table) SET SCHEMA \(courier);")
            }
            script.append("ALTER TABLE \(courier).feed_activity_sources DROP CONSTRAINT IF EXISTS feed_activity_sources_activity_id_fkey;")
            for table in otherCourierTables {
                script.append("ALTER TABLE IF EXISTS \(semble).\(table) SET SCHEMA \(courier);")
            }
            script.append(
                """
                DO $$ BEGIN
                    IF to_regprocedure('\(semble).courier_outbox_notify()') IS NOT NULL THEN
                        ALTER FUNCTION \(semble).courier_outbox_notify() SET SCHEMA \(courier);
                    END IF;
                END $$;
                """)
            // The ledger, from the notifications' natural keys, before the key column goes.
            script.append("SET LOCAL search_path TO \(courier);")
            script.append(CourierSchema.notificationKeys)
            script.append(
                """
                INSERT INTO \(courier).notification_keys (notification_id, type, subject, recipient_user_id)
                SELECT id, type, subject, recipient_user_id FROM \(semble).notifications;
                ALTER TABLE \(semble).notifications DROP COLUMN subject;
                """)
            // Semble's shape: default collations, Semble's indexes (and only those), Semble's names.
            script.append(
                """
                ALTER TABLE \(semble).feed_activities ALTER COLUMN actor_id TYPE text COLLATE "default",
                    ALTER COLUMN card_id TYPE text COLLATE "default", ALTER COLUMN connection_id TYPE text COLLATE "default",
                    ALTER COLUMN type TYPE text COLLATE "default";
                ALTER TABLE \(semble).following_feed_items ALTER COLUMN user_id TYPE text COLLATE "default";
                ALTER TABLE \(semble).notifications ALTER COLUMN recipient_user_id TYPE text COLLATE "default",
                    ALTER COLUMN actor_user_id TYPE text COLLATE "default", ALTER COLUMN type TYPE text COLLATE "default";
                DROP INDEX \(semble).feed_activities_actor_card_created_idx;
                DROP INDEX \(semble).following_feed_items_activity_idx;
                DROP INDEX \(semble).following_feed_items_user_created_idx;
                DROP INDEX \(semble).notifications_recipient_created_idx;
                ALTER TABLE \(semble).following_feed_items RENAME CONSTRAINT following_feed_items_pkey TO following_feed_items_user_id_activity_id_pk;
                ALTER TABLE \(semble).following_feed_items
                    RENAME CONSTRAINT following_feed_items_activity_id_fkey TO following_feed_items_activity_id_feed_activities_id_fk;
                SET LOCAL search_path TO \(semble);
                """)
            for table in ["feed_activities", "following_feed_items", "notifications"] {
                let indexes = (SembleTables.definitions[table] ?? "").split(separator: "\n").filter { $0.hasPrefix("CREATE INDEX ") }
                script.append(indexes.joined(separator: "\n"))
            }
            // The record of what was applied.
            let tracking = "\(courier).\(CourierSchema.trackingTable)"
            script.append(
                """
                ALTER TABLE \(semble).\(trackingTable) SET SCHEMA \(courier);
                ALTER TABLE \(courier).\(trackingTable) RENAME TO legacy_schema_migrations;
                \(PostgresMigrator.createTrackingTableSQL(tracking));
                """)
            try db.executeTrustedScript(script.joined(separator: "\n"))
            let first = CourierSchema.migrations[0]
            try db.execute("INSERT INTO \(tracking) (version, name, checksum) VALUES ($1, $2, $3)", [first.version, first.name, first.checksum])
            return true
        }
    }

    /// The old layout is at a version this program cannot upgrade from.
    package struct Unsupported: Error, CustomStringConvertible {
        package var versions: [Int]
        package var description: String {
            "the database has Courier's old layout at versions \(versions) (public.courier_schema_migrations); "
                + "only the old layout's last version, 7, is upgraded: start the last release of the old layout once first"
        }
    }
}
