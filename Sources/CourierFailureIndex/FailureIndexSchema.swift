import CourierPostgres
import Logging

/// The failure index's table, `courier_failures` (in Courier's schema): one row per parking of a message in a
/// dead-letter queue, written by courierd when it parks one (and by `courier dlq sync` /
/// `import`), updated by `courier dlq replay` / `purge`. Its own tracking table, so it migrates
/// independently of Semble's schema; courierd and `courier` both migrate it on start.
package enum FailureIndexSchema {
    package static let trackingTable = "courier_failure_index_migrations"

    /// `attempts` and `replay_count` are `integer`: every count the index writes is clamped to
    /// ``WireValue/maximumCount`` first (headers are the publisher's), so a wider column — and
    /// the table rewrite its migration would take at deploy — buys nothing.
    package static let migrations: [PostgresMigration] = [
        PostgresMigration(
            version: 1, name: "courier_failures",
            sql: """
                CREATE TABLE IF NOT EXISTS courier_failures (
                    failure_id           text NOT NULL,
                    -- parked: in the dead-letter queue; replayed / purged: by `courier dlq`;
                    -- gone: no longer in the queue, removed by something else (seen by `dlq sync`).
                    status               text NOT NULL DEFAULT 'parked'
                                         CHECK (status IN ('parked', 'replayed', 'purged', 'gone')),
                    event_type           text NOT NULL,
                    message_id           text,
                    reason               text NOT NULL,
                    error_class          text NOT NULL,
                    error_message        text NOT NULL,
                    fingerprint          text NOT NULL,
                    handler              text,
                    attempts             integer NOT NULL,
                    failed_at            timestamptz NOT NULL,
                    original_exchange    text NOT NULL,
                    original_routing_key text NOT NULL,
                    original_queue       text NOT NULL,
                    dead_letter_queue    text NOT NULL,
                    host                 text,
                    properties           jsonb NOT NULL,
                    body                 bytea NOT NULL,
                    recorded_at          timestamptz NOT NULL DEFAULT now(),
                    replay_count         integer NOT NULL DEFAULT 0,
                    replayed_at          timestamptz,
                    replayed_by          text,
                    settled_at           timestamptz,
                    -- Per queue: an export imported into another app's queue of the same database
                    -- is a parking of its own there.
                    PRIMARY KEY (dead_letter_queue, failure_id)
                );
                CREATE INDEX IF NOT EXISTS courier_failures_status_idx
                    ON courier_failures (dead_letter_queue, status, failed_at);
                CREATE INDEX IF NOT EXISTS courier_failures_fingerprint_idx ON courier_failures (fingerprint);
                """)
    ]

    /// Applies what is missing, in `schema` (Courier's; it must exist); safe from several
    /// processes at once.
    @discardableResult
    package static func migrate(on connection: isolated PostgresConnection, schema: String, logger: Logger) async throws -> [Int] {
        try await PostgresMigrator(migrations: migrations, schema: schema, table: trackingTable, logger: logger).migrate(on: connection)
    }
}
