import Logging

/// A bounded set of ``PostgresConnection``s shared by many tasks.
///
/// Connections open lazily, up to ``maximumConnections``. ``withConnection(_:)`` leases one
/// exclusively for the duration of its body; when all are in use, callers wait in FIFO order
/// (suspended, never spinning) and a released connection goes straight to the first waiter.
/// A connection that broke, or whose session was lost while idle, is discarded and replaced by a
/// new one on demand. A transaction left open by a body is rolled back before reuse.
///
/// ```swift
/// let pool = PostgresPool(configuration: config, maximumConnections: 8, logger: logger)
/// let count = try await pool.withConnection { conn in
///     try await conn.query("SELECT count(*) FROM events").first!.decode(Int.self, column: 0)
/// }
/// ```
public actor PostgresPool {
    /// How many connections are open, idle or waited for.
    public struct Statistics: Sendable, Equatable {
        /// Connections open or being opened (leased plus idle).
        public var open: Int
        /// Open connections not leased.
        public var idle: Int
        /// Tasks waiting for a connection.
        public var waiting: Int
    }

    /// What a waiter is given when capacity frees up.
    private enum Grant: Sendable {
        /// A healthy connection released by its previous user.
        case connection(PostgresConnection)
        /// Room to open a new connection (a broken one was discarded or a connect failed).
        case openSlot
    }

    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Grant, any Error>
    }

    /// Where connections point.
    public nonisolated let configuration: PostgresConfiguration
    /// The most connections open at once.
    public nonisolated let maximumConnections: Int
    private let logger: Logger

    private var idle: [PostgresConnection] = []
    /// Connections open or being opened, leased or idle; never above `maximumConnections`.
    private var openCount = 0
    private var waiters: [Waiter] = []
    private var nextWaiterID = 0
    private var isClosed = false

    /// Creates a pool; no connection opens until one is needed.
    /// - Parameter maximumConnections: at least 1.
    public init(
        configuration: PostgresConfiguration,
        maximumConnections: Int = 10,
        logger: Logger = Logger(label: "courier.postgres.pool")
    ) {
        precondition(maximumConnections > 0, "a pool needs at least one connection")
        self.configuration = configuration
        self.maximumConnections = maximumConnections
        self.logger = logger
    }

    /// Current usage.
    public var statistics: Statistics {
        Statistics(open: openCount, idle: idle.count, waiting: waiters.count)
    }

    /// Leases a connection for the duration of `body`, waiting if all are in use.
    ///
    /// The connection is returned to the pool when `body` returns or throws; do not keep it.
    /// - Throws: what `body` throws; ``PostgresError/Code/connectionFailed`` if a new connection
    ///   cannot be opened; ``PostgresError/Code/connectionClosed`` once the pool is closed;
    ///   `CancellationError` if the task is cancelled while waiting.
    @discardableResult
    public nonisolated(nonsending) func withConnection<T: Sendable>(
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await acquire()
        let result: Result<T, any Error>
        do {
            result = .success(try await body(connection))
        } catch {
            result = .failure(error)
        }
        await release(connection)
        return try result.get()
    }

    /// Leases a connection and runs `body` in a transaction on it
    /// (see ``PostgresConnection/withTransaction(_:)``).
    @discardableResult
    public nonisolated(nonsending) func withTransaction<T: Sendable>(
        _ body: (isolated PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { connection in try await connection.withTransaction(body) }
    }

    /// Closes the pool: waiters fail, idle connections close now and leased ones when released.
    /// Later leases fail with ``PostgresError/Code/connectionClosed``.
    public func close() async {
        isClosed = true
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter.continuation.resume(throwing: closedError) }
        let connections = idle
        idle = []
        openCount -= connections.count
        for connection in connections { await connection.close() }
    }

    // MARK: Leasing

    private func acquire() async throws -> PostgresConnection {
        while true {
            guard !isClosed else { throw closedError }
            if let connection = idle.popLast() {
                if await connection.isHealthy { return connection }
                logger.notice("discarding a broken idle connection")
                openCount -= 1
                await connection.close()
                continue
            }
            if openCount < maximumConnections {
                openCount += 1
                return try await openConnection()
            }
            switch try await waitForGrant() {
            case .connection(let connection): return connection
            case .openSlot: return try await openConnection()
            }
        }
    }

    /// Opens a connection in a slot already counted in `openCount`; frees the slot on failure.
    private func openConnection() async throws -> PostgresConnection {
        do {
            return try await PostgresConnection.connect(configuration, logger: logger)
        } catch {
            openCount -= 1
            grantOpenSlotIfPossible()
            throw error
        }
    }

    private func release(_ connection: PostgresConnection) async {
        let reusable = await connection.prepareForReuse()
        guard reusable, !isClosed else {
            if !reusable { logger.notice("discarding a broken connection") }
            openCount -= 1
            await connection.close()
            grantOpenSlotIfPossible()
            return
        }
        if waiters.isEmpty {
            idle.append(connection)
        } else {
            waiters.removeFirst().continuation.resume(returning: .connection(connection))
        }
    }

    /// Lets the first waiter open a connection if there is room.
    private func grantOpenSlotIfPossible() {
        guard !waiters.isEmpty, openCount < maximumConnections, !isClosed else { return }
        openCount += 1
        waiters.removeFirst().continuation.resume(returning: .openSlot)
    }

    private func waitForGrant() async throws -> Grant {
        let id = nextWaiterID
        nextWaiterID += 1
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiters.append(Waiter(id: id, continuation: continuation))
                }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func cancelWaiter(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(throwing: CancellationError())
    }

    private var closedError: PostgresError {
        PostgresError(
            code: .connectionClosed, message: "the pool is closed", connection: configuration.redactedDescription)
    }
}
