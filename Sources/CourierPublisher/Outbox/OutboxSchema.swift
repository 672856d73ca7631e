import CourierPostgres
import Logging

/// The outbox's schema, as migrations of this module's own, tracked in
/// `courier_outbox_migrations` — so the API, which embeds only this library, can create what it
/// needs without Courier's handler migrations.
///
/// Every statement is `IF NOT EXISTS`, so it works whether `event_store` came from Semble's seed or
/// from the handlers' schema first, or not at all yet:
///
/// - `event_store` exactly as Semble's seed defines it (`id uuid` primary key, `aggregate_id`,
///   `event_type`, `event_data jsonb`, `version`, `timestamp`, `processed`, `created_at`) with the
///   seed's two indexes;
/// - `position bigint GENERATED ALWAYS AS IDENTITY`: insertion order, by which the relay keeps
///   each aggregate's events in order (`timestamp` can tie or go backwards; `created_at` is the
///   transaction's start). Rows that existed before get positions in the table's physical order;
/// - `published_at timestamptz`: when the relay had the broker's confirm; retention prunes by it;
/// - `traceparent text`: a W3C trace context a writer put there (migration 1; Courier's outbox
///   writes `trace_context` since migration 2, the relay still forwards this one when that is null);
/// - `trace_context jsonb` (migration 2): the propagation headers of the enqueueing transaction's
///   trace (`traceparent`, `tracestate`), which the relay continues when it publishes the row;
/// - the relay's indexes: unpublished rows by position (the claim), unpublished rows by aggregate
///   and position (the ordering check), published rows by `published_at` (pruning);
/// - an insert trigger (per statement) that runs `pg_notify('courier_outbox', '')`: delivered at
///   commit only, for rows written by any writer, including Semble's TypeScript API.
public enum OutboxSchema {
    /// The table that records which of these migrations ran.
    public static let trackingTable = "courier_outbox_migrations"

    public static let migrations: [PostgresMigration] = [
        PostgresMigration(version: 1, name: "event_store_outbox", sql: eventStore),
        PostgresMigration(version: 2, name: "event_store_trace_context", sql: traceContext),
    ]

    /// Applies the migrations not yet applied, in `schema` — created if missing — (nil: the
    /// connection's `current_schema()`, i.e. the first existing schema of its `search_path`). An
    /// API embedding the outbox passes Courier's schema (``Outbox/defaultSchema``, `courier`).
    /// Safe to call from several processes at once (the migrator takes an advisory lock).
    /// Returns the versions applied.
    @discardableResult
    public static func migrate(
        on connection: isolated PostgresConnection,
        schema: String? = nil,
        logger: Logger = Logger(label: "courier.outbox.migrations")
    ) async throws -> [Int] {
        let target: String
        if let schema {
            try await connection.createSchemaIfNeeded(schema)
            target = schema
        } else {
            guard let current = try connection.query("SELECT current_schema()").first?.decode(String?.self, column: 0) else {
                throw PostgresError(code: .migrationFailed, message: "the connection has no current schema (empty search_path?)")
            }
            target = current
        }
        return try await PostgresMigrator(migrations: migrations, schema: target, table: trackingTable, logger: logger)
            .migrate(on: connection)
    }

    /// The outbox table exactly as Semble's seed defines it, with its two indexes — idempotent, so
    /// whichever of the API's migrations and courierd's (`LegacySembleSchema` froze the same text
    /// in its own migration) runs first creates it.
    public static let seedTable = """
        CREATE TABLE IF NOT EXISTS event_store (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            aggregate_id varchar(255) NOT NULL,
            event_type varchar(255) NOT NULL,
            event_data jsonb NOT NULL,
            version integer NOT NULL DEFAULT 1,
            timestamp timestamptz NOT NULL,
            processed boolean NOT NULL DEFAULT false,
            created_at timestamptz DEFAULT now()
        );
        CREATE INDEX IF NOT EXISTS event_store_unprocessed_idx ON event_store (processed, timestamp) WHERE NOT processed;
        CREATE INDEX IF NOT EXISTS event_store_aggregate_version_idx ON event_store (aggregate_id, version);
        """

    /// Migration 2: the whole trace context of the enqueueing transaction, not only `traceparent`.
    static let traceContext = "ALTER TABLE event_store ADD COLUMN IF NOT EXISTS trace_context jsonb;"

    static let eventStore = seedTable + "\n\n" + """
        ALTER TABLE event_store ADD COLUMN IF NOT EXISTS position bigint GENERATED ALWAYS AS IDENTITY;
        ALTER TABLE event_store ADD COLUMN IF NOT EXISTS published_at timestamptz;
        ALTER TABLE event_store ADD COLUMN IF NOT EXISTS traceparent text;

        CREATE INDEX IF NOT EXISTS event_store_relay_claim_idx ON event_store (position) WHERE NOT processed;
        CREATE INDEX IF NOT EXISTS event_store_relay_aggregate_idx ON event_store (aggregate_id, position) WHERE NOT processed;
        CREATE INDEX IF NOT EXISTS event_store_published_at_idx ON event_store (published_at) WHERE published_at IS NOT NULL;

        CREATE OR REPLACE FUNCTION courier_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('courier_outbox', '');
            RETURN NULL;
        END
        $$;
        DROP TRIGGER IF EXISTS event_store_courier_outbox_notify ON event_store;
        CREATE TRIGGER event_store_courier_outbox_notify
            AFTER INSERT ON event_store FOR EACH STATEMENT EXECUTE FUNCTION courier_outbox_notify();
        """
}
