import CourierConfig
import CourierHandlers
import CourierFailureIndex
import CourierPostgres
import CourierPublisher
import Logging

/// What courierd does to the database before anything else starts (safe from several instances
/// at once: each step takes an advisory lock):
/// 1. creates Courier's schema (`courier.database.schema`) if needed;
/// 2. upgrades a database of Courier's old layout (``LegacyLayout``);
/// 3. with the consumer enabled, checks that Semble's tables have every table, column and key
///    the handlers use (``SembleTables/verify(on:schema:)``) — never creating or altering them;
///    a mismatch stops start-up (exit 78) naming the table and column;
/// 4. applies Courier's own migrations in its schema: the outbox, the handlers' tables, the
///    failure index.
enum DatabaseSetup {
    /// Semble's tables are not what Courier needs: a configuration problem (exit 78).
    struct Mismatch: Error, CustomStringConvertible {
        let underlying: SembleTables.Mismatch
        var description: String { underlying.description }
    }

    static func prepare(_ configuration: CourierConfiguration, postgres: PostgresConfiguration, logger: Logger) async throws {
        let connection = try await PostgresConnection.connect(postgres, logger: logger)
        do {
            try await prepare(configuration, on: connection, logger: logger)
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
    }

    private static func prepare(_ configuration: CourierConfiguration, on connection: PostgresConnection, logger: Logger) async throws {
        let schema = configuration.databaseSchema
        let semble = SembleTables.defaultSchema
        try await connection.createSchemaIfNeeded(schema)
        if try await LegacyLayout.upgradeIfPresent(on: connection, courierSchema: schema, sembleSchema: semble, logger: logger) {
            logger.notice("the old database layout was upgraded", metadata: ["courier_schema": "\(schema)"])
        }
        if configuration.consumerEnabled {
            do {
                try await SembleTables.verify(on: connection, schema: semble)
            } catch let mismatch as SembleTables.Mismatch {
                throw Mismatch(underlying: mismatch)
            }
        }
        let outbox = try await OutboxSchema.migrate(on: connection, schema: schema, logger: logger)
        let handlers = try await CourierSchema.migrate(on: connection, schema: schema, logger: logger)
        let failureIndex = try await FailureIndexSchema.migrate(on: connection, schema: schema, logger: logger)
        if !(outbox + handlers + failureIndex).isEmpty {
            logger.info(
                "database migrated",
                metadata: [
                    "schema": "\(schema)", "outbox_versions": "\(outbox)", "handler_versions": "\(handlers)",
                    "failure_index_versions": "\(failureIndex)",
                ])
        }
    }
}
