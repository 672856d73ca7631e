import CourierPostgres
import Testing

@Suite("PostgresMigration ordering and validation (no I/O)")
struct PostgresMigrationTests {
    @Test("files are ordered by numeric version, not by name")
    func ordering() throws {
        let migrations = try PostgresMigration.migrations(fromFiles: [
            ("10_add_index.sql", "CREATE INDEX ..."),
            ("0002_add_column.sql", "ALTER TABLE ..."),
            ("0001_create-events.sql", "CREATE TABLE ..."),
        ])
        #expect(migrations.map(\.version) == [1, 2, 10])
        #expect(migrations.map(\.name) == ["create-events", "add_column", "add_index"])
        #expect(migrations[0].sql == "CREATE TABLE ...")
    }

    @Test("file names are parsed as NNNN_name.sql")
    func fileNames() throws {
        #expect(try PostgresMigration.parseFileName("0042_create_events.sql") == (42, "create_events"))
        #expect(try PostgresMigration.parseFileName("7_x.sql") == (7, "x"))
    }

    @Test(
        "badly named files are rejected with a message naming them",
        arguments: [
            "create_events.sql", "0001.sql", "0001_.sql", "0001_create events.sql", "00a1_x.sql", "0000_zero.sql",
            "0001_x.txt.sql.bak", "-001_x.sql", "99999999999999999999_x.sql", "0001_ünï.sql",
        ])
    func badNames(fileName: String) throws {
        let error = try #require(throws: PostgresError.self) {
            try PostgresMigration.migrations(fromFiles: [(fileName, "SELECT 1")])
        }
        #expect(error.code == .invalidMigration)
        #expect(error.message.contains(fileName))
    }

    @Test("duplicate versions are rejected, naming both migrations")
    func duplicates() throws {
        let error = try #require(throws: PostgresError.self) {
            try PostgresMigration.migrations(fromFiles: [("0001_a.sql", ""), ("01_b.sql", ""), ("0002_c.sql", "")])
        }
        #expect(error.code == .invalidMigration)
        #expect(error.message.contains("duplicate migration version 1"))
        #expect(error.message.contains("'a'") && error.message.contains("'b'"))
    }

    @Test("non-positive versions are rejected")
    func nonPositive() throws {
        for version in [0, -3] {
            let error = try #require(throws: PostgresError.self) {
                try PostgresMigration.ordered([PostgresMigration(version: version, name: "bad", sql: "")])
            }
            #expect(error.code == .invalidMigration)
        }
    }

    @Test("checksums are stable, 16 hex digits, and change with the SQL")
    func checksums() {
        let migration = PostgresMigration(version: 1, name: "a", sql: "CREATE TABLE t (id int)")
        #expect(migration.checksum.count == 16)
        #expect(migration.checksum == PostgresMigration(version: 9, name: "b", sql: "CREATE TABLE t (id int)").checksum)
        #expect(migration.checksum != PostgresMigration(version: 1, name: "a", sql: "CREATE TABLE t (id bigint)").checksum)
        #expect(PostgresMigration(version: 1, name: "a", sql: "").checksum == "cbf29ce484222325")  // FNV-1a offset basis
    }
}
