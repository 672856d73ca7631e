import Logging

/// Applies ``PostgresMigration``s to a schema, each exactly once, safely from several processes.
///
/// ``migrate(on:)``:
/// 1. takes a session advisory lock derived from the schema and table names, so concurrent
///    migrators (several replicas starting at once) run one after the other;
/// 2. creates the tracking table `schema.table` if needed (`version`, `name`, `checksum`,
///    `applied_at`);
/// 3. fails if an applied migration's SQL changed since (its checksum differs);
/// 4. applies each missing migration in version order, each in its own transaction together with
///    its tracking row, with `search_path` set to the schema (so unqualified names land there);
/// 5. releases the lock, also when a step failed.
///
/// The schema must exist. Migration SQL may hold several statements but must not manage
/// transactions itself.
package struct PostgresMigrator: Sendable {
    /// The migrations to apply (validated and ordered when migrating).
    package var migrations: [PostgresMigration]
    /// The schema migrations run in and the tracking table lives in.
    package var schema: String
    /// The tracking table's name.
    package var table: String
    private let logger: Logger

    package init(
        migrations: [PostgresMigration],
        schema: String = "public",
        table: String = "courier_schema_migrations",
        logger: Logger = Logger(label: "courier.postgres.migrations")
    ) {
        self.migrations = migrations
        self.schema = schema
        self.table = table
        self.logger = logger
    }

    /// Applies the migrations not yet applied and returns their versions, in order (empty when
    /// the schema is up to date). Runs on `connection`'s thread.
    /// - Throws: ``PostgresError/Code/invalidMigration`` for invalid migrations;
    ///   ``PostgresError/Code/migrationFailed`` if an applied migration changed or one fails (it is
    ///   rolled back; those before it stay applied); connection errors as they are.
    package func migrate(on connection: isolated PostgresConnection) async throws -> [Int] {
        let ordered = try PostgresMigration.ordered(migrations)
        let quotedSchema = try connection.quoteIdentifier(schema)
        let trackingTable = "\(quotedSchema).\(try connection.quoteIdentifier(table))"
        let lockKey = "courier.migrations:\(schema).\(table)"

        try connection.execute("SELECT pg_advisory_lock(hashtext($1))", [lockKey])
        defer {
            do {
                try connection.execute("SELECT pg_advisory_unlock(hashtext($1))", [lockKey])
            } catch {
                // The lock is a session lock: it ends with the session if this fails.
                logger.warning("could not release the migration lock", metadata: ["postgres.error": "\(error)"])
            }
        }

        try connection.execute(Self.createTrackingTableSQL(trackingTable))
        let applied = try appliedChecksums(in: trackingTable, on: connection)
        try verify(ordered, against: applied)

        var appliedNow: [Int] = []
        for migration in ordered where applied[migration.version] == nil {
            logger.info("applying migration", metadata: ["migration": "\(migration.version)_\(migration.name)"])
            do {
                try await connection.withTransaction { connection in
                    try connection.execute("SET LOCAL search_path TO \(quotedSchema)")
                    try connection.executeScript(migration.sql)
                    try connection.execute(
                        "INSERT INTO \(trackingTable) (version, name, checksum) VALUES ($1, $2, $3)",
                        [migration.version, migration.name, migration.checksum])
                }
            } catch {
                throw Self.failure(of: migration, error)
            }
            appliedNow.append(migration.version)
        }
        return appliedNow
    }

    /// `CREATE TABLE IF NOT EXISTS` of a tracking table (`qualifiedName` already quoted): for
    /// an upgrade that moves tables a migration made and records that migration as applied.
    package static func createTrackingTableSQL(_ qualifiedName: String) -> String {
        """
        CREATE TABLE IF NOT EXISTS \(qualifiedName) (
            version bigint PRIMARY KEY,
            name text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    }

    /// Checksums of the applied migrations, by version.
    private func appliedChecksums(
        in trackingTable: String, on connection: isolated PostgresConnection
    ) throws -> [Int: String] {
        var checksums: [Int: String] = [:]
        for row in try connection.query("SELECT version, checksum FROM \(trackingTable)") {
            checksums[try row.decode(Int.self, column: 0)] = try row.decode(String.self, column: 1)
        }
        return checksums
    }

    /// Fails if an applied migration's SQL changed; warns about applied versions not known here.
    private func verify(_ migrations: [PostgresMigration], against applied: [Int: String]) throws {
        for migration in migrations {
            guard let recorded = applied[migration.version], recorded != migration.checksum else { continue }
            throw PostgresError(
                code: .migrationFailed,
                message: "migration \(migration.version) (\(migration.name)) was changed after it was applied: "
                    + "its checksum is \(migration.checksum) but \(recorded) was recorded in \(schema).\(table); "
                    + "add a new migration instead of editing an applied one")
        }
        let known = Set(migrations.map(\.version))
        let unknown = applied.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            logger.warning("the database has migrations this program does not know", metadata: ["versions": "\(unknown)"])
        }
    }

    /// `error` as a ``PostgresError/Code/migrationFailed`` naming the migration, keeping the
    /// server's diagnostics.
    private static func failure(of migration: PostgresMigration, _ error: any Error) -> PostgresError {
        let prefix = "migration \(migration.version) (\(migration.name)) failed and was rolled back"
        guard var failure = error as? PostgresError else {
            return PostgresError(code: .migrationFailed, message: "\(prefix): \(error)", query: migration.sql)
        }
        failure.code = .migrationFailed
        failure.message = "\(prefix): \(failure.message)"
        return failure
    }
}

extension PostgresConnection {
    /// `CREATE SCHEMA IF NOT EXISTS name`, safe when several processes start at once: the
    /// statement alone is not (two of them can both find the schema missing, and the second fails
    /// with a duplicate key in `pg_namespace`), so it runs under a transaction-level advisory lock.
    package func createSchemaIfNeeded(_ name: String) async throws {
        let quoted = try quoteIdentifier(name)
        try await withTransaction { connection in
            try connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", ["courier.create-schema:\(name)"])
            try connection.execute("CREATE SCHEMA IF NOT EXISTS \(quoted)")
        }
    }
}
