import CourierPostgres
import Testing

@testable import CourierHandlers

@Suite("Semble's schema")
struct SembleSchemaTests {
    @Test("every id and type name compares by bytes; only human text and bookkeeping keep the database's collation")
    func idsCompareByBytes() async throws {
        try await SembleTestDatabase.with { db in
            let loose = try await db.lines(
                """
                SELECT table_name || '.' || column_name FROM information_schema.columns
                WHERE table_schema = $1 AND data_type = 'text' AND collation_name IS DISTINCT FROM 'C'
                """, [db.schema])
            #expect(
                loose == [
                    "courier_schema_migrations.checksum", "courier_schema_migrations.name",
                    "feed_activities.source", "feed_activities.url_type", "rm_collections.name",
                ])
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
}
