import CourierPostgres
import CourierTesting
import Foundation
import Testing

@Suite("PostgresMigrator (integration)", .tags(.integration))
struct PostgresMigratorTests {
    static let migrations = [
        PostgresMigration(version: 1, name: "create_events", sql: "CREATE TABLE events (id uuid PRIMARY KEY, body text NOT NULL);"),
        PostgresMigration(
            version: 2, name: "add_column_and_index",
            sql: """
                ALTER TABLE events ADD COLUMN received_at timestamptz NOT NULL DEFAULT now();
                CREATE INDEX events_received_at ON events (received_at);
                """),
        PostgresMigration(version: 3, name: "create_dedupe", sql: "CREATE TABLE dedupe (message_id text PRIMARY KEY);"),
    ]

    /// A fresh schema of this test's own.
    func makeSchema(on conn: PostgresConnection) async throws -> String {
        let schema = TestEnvironment.uniqueName("migrations")
        try await conn.execute("CREATE SCHEMA \(try await conn.quoteIdentifier(schema))")
        return schema
    }

    @Test("two concurrent migrators apply each migration exactly once; a second run applies nothing")
    func concurrentMigrators() async throws {
        let first = try await PostgresTestSupport.connect()
        let second = try await PostgresTestSupport.connect()
        let schema = try await makeSchema(on: first)
        let migrator = PostgresMigrator(migrations: Self.migrations.reversed(), schema: schema)

        async let a = migrator.migrate(on: first)
        async let b = migrator.migrate(on: second)
        let results = try await [a, b]
        #expect(results.contains([1, 2, 3]))
        #expect(results.contains([]))

        let rows = try await first.query(
            "SELECT version, name, checksum FROM \(schema).courier_schema_migrations ORDER BY version")
        #expect(try rows.map { try $0.decode(Int.self, column: 0) } == [1, 2, 3])
        #expect(try rows.map { try $0.decode(String.self, named: "checksum") } == Self.migrations.map(\.checksum))
        // The migrations ran in the schema (search_path), not in public.
        #expect(try await first.scalar(Bool.self, "SELECT to_regclass($1) IS NOT NULL", ["\(schema).events"]))
        #expect(try await first.scalar(Int.self, "SELECT count(*) FROM pg_indexes WHERE schemaname = $1", [schema]) == 4)

        #expect(try await migrator.migrate(on: second) == [])
        // The advisory lock was released by both.
        #expect(try await first.scalar(Int.self, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = ANY($1::int[])", [
            [Int(try #require(await first.processID)), Int(try #require(await second.processID))]
        ]) == 0)

        // New migrations are applied on top, in order.
        let more = Self.migrations + [PostgresMigration(version: 10, name: "later", sql: "ALTER TABLE dedupe ADD COLUMN seen_at timestamptz")]
        #expect(try await PostgresMigrator(migrations: more, schema: schema).migrate(on: second) == [10])
    }

    @Test("a changed applied migration is detected and nothing more is applied")
    func changedChecksum() async throws {
        let conn = try await PostgresTestSupport.connect()
        let schema = try await makeSchema(on: conn)
        let table = TestEnvironment.uniqueName("history")
        #expect(try await PostgresMigrator(migrations: Array(Self.migrations.prefix(1)), schema: schema, table: table).migrate(on: conn) == [1])

        var edited = Self.migrations
        edited[0].sql = "CREATE TABLE events (id uuid PRIMARY KEY, body text);"
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresMigrator(migrations: edited, schema: schema, table: table).migrate(on: conn)
        }
        #expect(error.code == .migrationFailed)
        #expect(error.message.contains("migration 1 (create_events) was changed"))
        #expect(try await conn.scalar(Int.self, "SELECT count(*) FROM \(schema).\(table)") == 1)
        #expect(try await conn.scalar(Bool.self, "SELECT to_regclass($1) IS NULL", ["\(schema).dedupe"]))
        // The lock was released despite the error.
        #expect(try await conn.scalar(Int.self, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()") == 0)
    }

    @Test("a failing migration is rolled back with its tracking row; earlier ones stay applied")
    func failingMigration() async throws {
        let conn = try await PostgresTestSupport.connect()
        let schema = try await makeSchema(on: conn)
        let broken = [
            Self.migrations[0],
            PostgresMigration(version: 2, name: "half_broken", sql: "CREATE TABLE half (id int); SELECT * FROM no_such_table;"),
        ]
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresMigrator(migrations: broken, schema: schema).migrate(on: conn)
        }
        #expect(error.code == .migrationFailed)
        #expect(error.sqlState == "42P01")
        #expect(error.message.contains("migration 2 (half_broken) failed"))
        #expect(try await conn.scalar(Int.self, "SELECT count(*) FROM \(schema).courier_schema_migrations") == 1)
        #expect(try await conn.scalar(Bool.self, "SELECT to_regclass($1) IS NULL", ["\(schema).half"]))
        #expect(await conn.isInTransaction == false)
    }

    @Test("migrations load from a directory of NNNN_name.sql files")
    func loadFromDirectory() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("migrations"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "CREATE TABLE b (id int);".write(to: directory.appendingPathComponent("0002_b.sql"), atomically: true, encoding: .utf8)
        try "CREATE TABLE a (id int);".write(to: directory.appendingPathComponent("0001_a.sql"), atomically: true, encoding: .utf8)
        try "notes".write(to: directory.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        let migrations = try PostgresMigration.load(fromDirectory: directory)
        #expect(migrations.map(\.version) == [1, 2])
        #expect(migrations[1].sql == "CREATE TABLE b (id int);")

        try "SELECT 1".write(to: directory.appendingPathComponent("third.sql"), atomically: true, encoding: .utf8)
        let error = try #require(throws: PostgresError.self) { try PostgresMigration.load(fromDirectory: directory) }
        #expect(error.code == .invalidMigration)
    }
}
