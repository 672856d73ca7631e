import CourierPostgres
import CourierTesting
import Synchronization
import Testing

/// Counts the leases in use at once and the most seen.
private final class Usage: Sendable {
    private let state = Mutex((active: 0, peak: 0))

    var peak: Int { state.withLock { $0.peak } }

    func begin() {
        state.withLock {
            $0.active += 1
            $0.peak = max($0.peak, $0.active)
        }
    }

    func end() { state.withLock { $0.active -= 1 } }
}

@Suite("PostgresPool (integration)", .tags(.integration))
struct PostgresPoolTests {
    @Test("more concurrent users than connections all complete, never above the maximum")
    func moreUsersThanConnections() async throws {
        let pool = PostgresPool(configuration: try PostgresTestSupport.configuration(), maximumConnections: 3)
        let table = TestEnvironment.uniqueName("pool")
        try await pool.withConnection { try await $0.execute("CREATE TABLE \(table) (worker int, pid int)") }
        let usage = Usage()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<20 {
                group.addTask {
                    try await pool.withConnection { conn in
                        usage.begin()
                        try await conn.execute(
                            "INSERT INTO \(table) SELECT $1, pg_backend_pid() FROM pg_sleep(0.02)", [worker])
                        usage.end()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(usage.peak <= 3)
        let counts = try await pool.withTransaction { conn in
            try conn.scalar([Int].self, "SELECT ARRAY[count(*), count(DISTINCT pid)] FROM \(table)")
        }
        #expect(counts[0] == 20)
        #expect(counts[1] <= 3)
        let statistics = await pool.statistics
        #expect(statistics.open <= 3 && statistics.waiting == 0 && statistics.idle == statistics.open)
        try await pool.withConnection { try await $0.execute("DROP TABLE \(table)") }
        await pool.close()
        #expect(await pool.statistics.open == 0)
        let closed = try await #require(throws: PostgresError.self) { try await pool.withConnection { _ in } }
        #expect(closed.code == .connectionClosed)
    }

    @Test("a connection killed with pg_terminate_backend is replaced")
    func killedConnectionIsReplaced() async throws {
        let pool = PostgresPool(configuration: try PostgresTestSupport.configuration(), maximumConnections: 1)
        let killer = try await PostgresTestSupport.connect()
        let firstPID = try await pool.withConnection { try #require(await $0.processID) }
        #expect(try await killer.scalar(Bool.self, "SELECT pg_terminate_backend($1, 5000)", [firstPID]))

        let secondPID = try await pool.withConnection { conn in
            try await conn.scalar(Int32.self, "SELECT pg_backend_pid()")
        }
        #expect(secondPID != firstPID)

        // Killed while leased: the user sees connectionClosed, the next lease gets a fresh one.
        let error = try await #require(throws: PostgresError.self) {
            try await pool.withConnection { conn in
                _ = try await killer.scalar(Bool.self, "SELECT pg_terminate_backend($1, 5000)", [secondPID])
                return try await conn.query("SELECT 1")
            }
        }
        #expect(error.code == .connectionClosed)
        let thirdPID = try await pool.withConnection { try await $0.scalar(Int32.self, "SELECT pg_backend_pid()") }
        #expect(thirdPID != secondPID)
        #expect(await pool.statistics.open == 1)
        await pool.close()
    }

    @Test("a transaction left open by a lease is rolled back before reuse")
    func leaseResetsTransaction() async throws {
        let pool = PostgresPool(configuration: try PostgresTestSupport.configuration(), maximumConnections: 1)
        let table = TestEnvironment.uniqueName("leftover")
        try await pool.withConnection { try await $0.execute("CREATE TABLE \(table) (id int)") }
        try await pool.withConnection { conn in
            try await conn.execute("BEGIN")
            try await conn.execute("INSERT INTO \(table) VALUES (1)")
        }
        try await pool.withConnection { conn in
            #expect(await conn.isInTransaction == false)
            #expect(try await conn.scalar(Int.self, "SELECT count(*) FROM \(table)") == 0)
            try await conn.execute("DROP TABLE \(table)")
        }
        await pool.close()
    }

    @Test("a cancelled waiter leaves the queue and others still get connections")
    func cancelledWaiter() async throws {
        let pool = PostgresPool(configuration: try PostgresTestSupport.configuration(), maximumConnections: 1)
        let release = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await pool.withConnection { _ in for await _ in release.stream { break } }
        }
        #expect(await eventually { await pool.statistics.open == 1 })
        let waiter = Task { try await pool.withConnection { _ in 1 } }
        #expect(await eventually { await pool.statistics.waiting == 1 })
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(await pool.statistics.waiting == 0)
        release.continuation.yield()
        try await holder.value
        #expect(try await pool.withConnection { _ in 2 } == 2)
        await pool.close()
    }
}
