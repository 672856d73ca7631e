@testable import CourierPostgres
import CourierConcurrency
import CourierTesting
import Foundation
import Testing

@Suite("PostgresConnection (integration)", .tags(.integration))
struct PostgresConnectionTests {
    struct Payload: Codable, Equatable, Sendable {
        var id: Int
        var tags: [String]
    }

    @Test("a prepared statement is prepared once per session and runs again with other values, also after a rollback")
    func preparedStatements() async throws {
        let conn = try await PostgresTestSupport.connect()
        let table = TestEnvironment.uniqueName("prepared")
        try await conn.execute("CREATE TABLE \(table) (k text PRIMARY KEY, n bigint NOT NULL)")
        let insert = "INSERT INTO \(table) (k, n) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET n = EXCLUDED.n"
        for n in 0..<5 { #expect(try await conn.execute(prepared: insert, ["k\(n % 2)", n]) == 1) }
        let sum = "SELECT sum(n)::bigint FROM \(table) WHERE k = ANY($1::text[])"
        #expect(try await conn.query(prepared: sum, [["k0", "k1"]]).first?.decode(Int.self, column: 0) == 7)  // 4 + 3
        // Prepared inside a transaction that rolls back: the statement stays, the row does not.
        struct Abandon: Error {}
        await #expect(throws: Abandon.self) {
            try await conn.withTransaction { conn in
                try conn.execute(prepared: "DELETE FROM \(table) WHERE k = $1", ["k0"])
                throw Abandon()
            }
        }
        #expect(try await conn.execute(prepared: "DELETE FROM \(table) WHERE k = $1", ["k1"]) == 1)
        #expect(try await conn.query(prepared: sum, [["k0", "k1"]]).first?.decode(Int.self, column: 0) == 4)
        #expect(try await conn.preparedStatements.count == 3)
        // A failing execution reports like an unprepared one, and the session goes on.
        await #expect(throws: PostgresError.self) { try await conn.execute(prepared: insert, ["k2", Int?.none]) }
        #expect(try await conn.query(prepared: sum, [["k0"]]).first?.decode(Int.self, column: 0) == 4)
        try await conn.execute("DROP TABLE \(table)")
        await conn.close()
    }

    @Test("every encodable type round-trips through a typed column")
    func typedRoundTrips() async throws {
        let conn = try await PostgresTestSupport.connect()
        let table = TestEnvironment.uniqueName("round_trip")
        try await conn.execute(
            """
            CREATE TABLE \(table) (
                t text, sub text, i bigint, i32 integer, i64 bigint, i16 smallint, b boolean, d double precision,
                u uuid, ts timestamptz, bytes bytea, data bytea, doc jsonb, texts text[], ints bigint[],
                uuids uuid[], i64s bigint[], nothing text, optional_texts text[]
            )
            """)
        let uuid = UUID()
        let date = Date(timeIntervalSince1970: 1_714_566_600.123456)
        let text = "héllo 'wörld' \"quoted\" \\ back\\slash 🚀"
        let texts = ["plain", "with,comma", "with \"quotes\"", "back\\slash", "NULL", "", "{braces}"]
        let payload = Payload(id: 3, tags: ["a", "b"])
        let inserted = try await conn.execute(
            "INSERT INTO \(table) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
            [
                text, text.dropFirst(2), Int.max, Int32.min, Int64(-7), Int16(12), true, 3.25, uuid, date,
                [UInt8]([0, 1, 254, 255]), Data("bytes".utf8), PostgresJSON(payload), texts, [1, -2, 3],
                [uuid, uuid], [Int64.min], String?.none, ["x", nil] as [String?],
            ])
        #expect(inserted == 1)

        let row = try #require(try await conn.query("SELECT * FROM \(table)").first)
        #expect(try row.decode(String.self, named: "t") == text)
        #expect(try row.decode(String.self, named: "sub") == String(text.dropFirst(2)))
        #expect(try row.decode(Int.self, named: "i") == Int.max)
        #expect(try row.decode(Int32.self, named: "i32") == Int32.min)
        #expect(try row.decode(Int64.self, named: "i64") == -7)
        #expect(try row.decode(Int16.self, named: "i16") == 12)
        #expect(try row.decode(Bool.self, named: "b") == true)
        #expect(try row.decode(Double.self, named: "d") == 3.25)
        #expect(try row.decode(UUID.self, named: "u") == uuid)
        let decodedDate = try row.decode(Date.self, named: "ts")
        #expect(abs(decodedDate.timeIntervalSince(date)) < 0.000_001)
        #expect(try row.decode([UInt8].self, named: "bytes") == [0, 1, 254, 255])
        #expect(try row.decode(Data.self, named: "data") == Data("bytes".utf8))
        #expect(try row.decode(PostgresJSON<Payload>.self, named: "doc").value == payload)
        #expect(try row.decode([String].self, named: "texts") == texts)
        #expect(try row.decode([Int].self, named: "ints") == [1, -2, 3])
        #expect(try row.decode([UUID].self, named: "uuids") == [uuid, uuid])
        #expect(try row.decode([Int64].self, named: "i64s") == [Int64.min])
        #expect(try row.decode(String?.self, named: "nothing") == nil)
        #expect(row.isNull(column: 17))
        #expect(try row.decode([String?].self, named: "optional_texts") == ["x", nil])
        #expect(row.columns[0] == PostgresColumn(name: "t", dataType: .text))
        #expect(row.columns[9].dataType == .timestamptz)

        // timestamp without time zone and date decode as UTC; the session time zone does not matter.
        try await conn.execute("SET TIME ZONE 'America/New_York'")
        let dates = try #require(try await conn.query("SELECT $1::timestamptz, '2024-05-01 12:30:00'::timestamp, '2024-05-01'::date", [date]).first)
        #expect(abs(try dates.decode(Date.self, column: 0).timeIntervalSince(date)) < 0.000_001)
        #expect(try dates.decode(Date.self, column: 1) == Date(timeIntervalSince1970: 1_714_566_600))
        #expect(try dates.decode(Date.self, column: 2) == Date(timeIntervalSince1970: 1_714_521_600))
        try await conn.execute("DROP TABLE \(table)")
    }

    @Test("a parameter holding SQL is stored literally and never executed")
    func injectionIsInert() async throws {
        let conn = try await PostgresTestSupport.connect()
        let table = TestEnvironment.uniqueName("injection")
        try await conn.execute("CREATE TABLE \(table) (value text)")
        let hostile = "'); DROP TABLE \(table); --"
        try await conn.execute("INSERT INTO \(table) (value) VALUES ($1)", [hostile])
        #expect(try await conn.scalar(String.self, "SELECT value FROM \(table)") == hostile)
        #expect(try await conn.scalar(Bool.self, "SELECT to_regclass($1) IS NOT NULL", [table]))
        try await conn.execute("DROP TABLE \(table)")
    }

    @Test("a transaction whose body throws is rolled back and the original error rethrown")
    func transactionRollsBack() async throws {
        struct Boom: Error {}
        let conn = try await PostgresTestSupport.connect()
        let table = TestEnvironment.uniqueName("tx")
        try await conn.execute("CREATE TABLE \(table) (id int PRIMARY KEY)")
        await #expect(throws: Boom.self) {
            try await conn.withTransaction { conn in
                try conn.execute("INSERT INTO \(table) VALUES (1), (2)")
                throw Boom()
            }
        }
        #expect(try await conn.scalar(Int.self, "SELECT count(*) FROM \(table)") == 0)
        #expect(await conn.isInTransaction == false)

        // A failed statement inside the body also rolls everything back and surfaces its error.
        let error = await #expect(throws: PostgresError.self) {
            try await conn.withTransaction { conn in
                try conn.execute("INSERT INTO \(table) VALUES (1)")
                try conn.execute("INSERT INTO \(table) VALUES (1)")
            }
        }
        #expect(error?.code == .queryFailed)
        #expect(error?.sqlState == "23505")
        #expect(error?.detail?.contains("already exists") == true)

        // A caught failure cannot be committed by accident.
        let swallowed = await #expect(throws: PostgresError.self) {
            try await conn.withTransaction { conn in
                try conn.execute("INSERT INTO \(table) VALUES (5)")
                _ = try? conn.execute("SELECT * FROM no_such_table_\(UUID().uuidString.prefix(6))")
            }
        }
        #expect(swallowed?.code == .transactionFailed)

        let committed = try await conn.withTransaction { conn in
            try conn.execute("INSERT INTO \(table) VALUES (3), (4)")
        }
        #expect(committed == 2)
        #expect(try await conn.scalar(Int.self, "SELECT count(*) FROM \(table)") == 2)
        try await conn.execute("DROP TABLE \(table)")
    }

    @Test("unnest($1::text[]) inserts a batch of 1000 rows in one statement")
    func setBasedInsert() async throws {
        let conn = try await PostgresTestSupport.connect()
        let table = TestEnvironment.uniqueName("batch")
        try await conn.execute("CREATE TABLE \(table) (id uuid PRIMARY KEY, n bigint NOT NULL, body text)")
        let ids = (0..<1000).map { _ in UUID() }
        let numbers = Array(0..<1000)
        let bodies: [String?] = numbers.map { $0 % 100 == 0 ? nil : "row \($0), \"quoted\" \\ {x}" }
        let inserted = try await conn.execute(
            "INSERT INTO \(table) (id, n, body) SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[])",
            [ids, numbers, bodies])
        #expect(inserted == 1000)
        let rows = try await conn.query("SELECT id, n, body FROM \(table) ORDER BY n")
        #expect(rows.count == 1000)
        #expect(try rows.map { try $0.decode(UUID.self, column: 0) } == ids)
        #expect(try rows.map { try $0.decode(String?.self, column: 2) } == bodies)
        try await conn.execute("DROP TABLE \(table)")
    }

    @Test("server errors carry SQLSTATE, message, hint and the SQL, but not the parameters")
    func serverErrors() async throws {
        let conn = try await PostgresTestSupport.connect()
        let error = try await #require(throws: PostgresError.self) {
            try await conn.query("SELECT $1::int + no_such_column", ["parameter-value-123"])
        }
        #expect(error.code == .queryFailed)
        #expect(error.sqlState == "42703")
        #expect(error.message.contains("no_such_column"))
        #expect(error.query == "SELECT $1::int + no_such_column")
        #expect(!error.description.contains("parameter-value-123"))
        #expect(error.connection == conn.configuration.redactedDescription)
        // The connection is still usable afterwards.
        #expect(try await conn.scalar(Int.self, "SELECT 1") == 1)

        let nul = try await #require(throws: PostgresError.self) { try await conn.query("SELECT $1", ["a\u{0}b"]) }
        #expect(nul.code == .encodingFailed)
        let copy = try await #require(throws: PostgresError.self) { try await conn.query("COPY (SELECT 1) TO STDOUT") }
        #expect(copy.code == .queryFailed)
        #expect(try await conn.scalar(Int.self, "SELECT 2") == 2)
    }

    @Test("a terminated session fails with connectionClosed and is reported unhealthy")
    func brokenConnection() async throws {
        let conn = try await PostgresTestSupport.connect()
        #expect(await conn.isHealthy)
        let error = try await #require(throws: PostgresError.self) {
            try await conn.query("SELECT pg_terminate_backend(pg_backend_pid())")
        }
        #expect(error.code == .connectionClosed)
        #expect(await conn.isHealthy == false)
        let again = try await #require(throws: PostgresError.self) { try await conn.query("SELECT 1") }
        #expect(again.code == .connectionClosed)

        // Killed from elsewhere while idle: noticed without a statement.
        let victim = try await PostgresTestSupport.connect()
        let pid = try #require(await victim.processID)
        let killer = try await PostgresTestSupport.connect()
        #expect(try await killer.scalar(Bool.self, "SELECT pg_terminate_backend($1, 5000)", [pid]))
        #expect(await eventually { await victim.isHealthy == false })
        await killer.close()
        await #expect(throws: PostgresError.self) { try await killer.query("SELECT 1") }
    }

    @Test("a wrong password fails with connectionFailed and the password appears nowhere")
    func wrongPassword() async throws {
        var components = try #require(URLComponents(string: try TestEnvironment.databaseURL()))
        let wrong = "wrong-\(UUID().uuidString)"
        components.password = wrong
        let configuration = try PostgresConfiguration(url: try #require(components.string))
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresConnection.connect(configuration)
        }
        #expect(error.code == .connectionFailed)
        #expect(error.message.contains("password authentication failed"))
        #expect(!error.description.contains(wrong))
        #expect(!String(reflecting: error).contains(wrong))
        #expect(error.connection == configuration.redactedDescription)
    }

    @Test("a released connection closes and its thread ends")
    func threadEndsOnRelease() async throws {
        weak var weakConnection: PostgresConnection?
        let executor: ThreadExecutor
        do {
            let conn = try await PostgresTestSupport.connect()
            weakConnection = conn
            executor = conn.executor
            _ = try await conn.listen(TestEnvironment.uniqueName("released"))  // with an I/O source installed
            #expect(try await conn.scalar(Int.self, "SELECT 1") == 1)
        }
        #expect(await eventually { weakConnection == nil && executor.isFinished })
    }
}
