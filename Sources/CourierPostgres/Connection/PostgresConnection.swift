import CLibPQ
import CourierConcurrency
import Logging

/// One connection to Postgres, running on a thread of its own.
///
/// libpq is not thread-safe and blocks, so every connection owns a ``ThreadExecutor``: all of its
/// isolated methods run on that dedicated thread and never block Swift's cooperative pool.
/// Statements are synchronous on that thread; from outside the actor they are simply awaited:
///
/// ```swift
/// let conn = try await PostgresConnection.connect(try PostgresConfiguration(url: url), logger: logger)
/// try await conn.execute("INSERT INTO users (id, email) VALUES ($1, $2)", [id, email])
/// let rows = try await conn.query("SELECT email FROM users WHERE id = $1", [id])
/// let email = try rows.first?.decode(String.self, column: 0)
/// ```
///
/// A connection runs one statement at a time but, being an actor, interleaves callers at `await`s:
/// give each task its own connection, usually by leasing one from a ``PostgresPool``.
///
/// A connection whose server session ended (network failure, `pg_terminate_backend`...) fails
/// every statement with ``PostgresError/Code/connectionClosed``; ``isHealthy`` detects it
/// without a round trip. Dropping the last reference closes the connection and ends its thread.
public actor PostgresConnection {
    /// Where this connection points.
    public nonisolated let configuration: PostgresConfiguration
    let logger: Logger
    nonisolated let executor: ThreadExecutor

    /// The libpq connection, `nil` once closed.
    var handle: LibPQHandle?
    /// The streams returned by ``listen(_:bufferingPolicy:)``, by channel.
    var listeners = NotificationListeners()
    /// Installed on the executor while anything listens.
    var notificationSource: NotificationSource?
    /// The statements prepared in this session (``query(prepared:_:)``): SQL text → statement name.
    var preparedStatements: [String: String] = [:]

    /// Runs this actor on its own thread.
    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        executor.asUnownedSerialExecutor()
    }

    private init(configuration: PostgresConfiguration, logger: Logger) {
        self.configuration = configuration
        self.executor = ThreadExecutor(name: "courier-pg")
        var logger = logger
        logger[metadataKey: "postgres.connection"] = "\(configuration.redactedDescription)"
        self.logger = logger
    }

    /// Opens a connection. The blocking connect runs on the new connection's own thread.
    /// - Throws: ``PostgresError/Code/connectionFailed`` with libpq's reason (never the password).
    public static func connect(
        _ configuration: PostgresConfiguration,
        logger: Logger = Logger(label: "courier.postgres")
    ) async throws -> PostgresConnection {
        let connection = PostgresConnection(configuration: configuration, logger: logger)
        try await connection.open()
        return connection
    }

    // Runs on the connection's thread (after the work queued there), so libpq is freed where it was used.
    isolated deinit {
        listeners.finishAll()
        if let handle {
            executor.setIOSource(nil)
            handle.finish()
        }
        executor.shutdown()
    }

    private func open() throws {
        let parameters = configuration.connectParameters
        let pointer = withCStringArray(parameters.map(\.keyword) + [nil]) { keywords in
            withCStringArray(parameters.map(\.value) + [nil]) { values in
                PQconnectdbParams(keywords, values, 1)
            }
        }
        guard let pointer else {
            throw error(.connectionFailed, "libpq could not allocate a connection")
        }
        guard PQstatus(pointer) == CONNECTION_OK else {
            let message = connectionErrorMessage(pointer)
            PQfinish(pointer)
            throw error(.connectionFailed, message)
        }
        handle = LibPQHandle(pointer, logger: logger)
        // Timestamps are parsed in ISO style; the server's default, but a client may change it.
        if let dateStyle = PQparameterStatus(pointer, "DateStyle"), !String(cString: dateStyle).hasPrefix("ISO") {
            try execute("SET DateStyle TO ISO")
        }
        logger.debug("connected", metadata: ["postgres.pid": "\(PQbackendPID(pointer))"])
    }

    /// Closes the connection. Listening streams finish; later statements fail with
    /// ``PostgresError/Code/connectionClosed``. Closing twice does nothing.
    public func close() {
        guard let handle else { return }
        stopNotifications()
        handle.finish()
        self.handle = nil
        logger.debug("closed")
    }

    /// Whether the connection is open and its session alive.
    ///
    /// Reads whatever the server sent without blocking, so a session that was terminated or lost
    /// while idle is noticed here without a round trip.
    public var isHealthy: Bool {
        guard let pointer = handle?.pointer else { return false }
        guard consumeAvailableInput(pointer) else {
            connectionBroke()
            return false
        }
        deliverNotifications()
        return true
    }

    /// Whether a transaction block is open (possibly failed and awaiting `ROLLBACK`).
    public var isInTransaction: Bool {
        guard let pointer = handle?.pointer else { return false }
        let status = PQtransactionStatus(pointer)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    /// The process ID of the server session, as in `pg_stat_activity.pid`; `nil` once closed.
    public var processID: Int32? {
        handle.map { PQbackendPID($0.pointer) }
    }

    /// `identifier` quoted for SQL (`PQescapeIdentifier`): `"my ""table"""`. Use it for names
    /// that cannot be parameters, such as channel, table and schema names.
    public func quoteIdentifier(_ identifier: String) throws -> String {
        let pointer = try livePointer(for: nil)
        guard let quoted = PQescapeIdentifier(pointer, identifier, identifier.utf8.count) else {
            throw error(.encodingFailed, "cannot quote identifier: \(connectionErrorMessage(pointer))")
        }
        defer { PQfreemem(quoted) }
        return String(cString: quoted)
    }

    /// The open `PGconn`, or ``PostgresError/Code/connectionClosed`` naming `sql`.
    func livePointer(for sql: String?) throws -> OpaquePointer {
        guard let pointer = handle?.pointer else {
            throw error(.connectionClosed, "the connection is closed", query: sql)
        }
        return pointer
    }

    /// Called once the session is known to be gone: streams finish, nothing polls the socket.
    func connectionBroke() {
        guard notificationSource != nil || !listeners.isEmpty else { return }
        logger.warning("connection lost while listening for notifications")
        stopNotifications()
    }

    /// An error about this connection; libpq's text is scrubbed of the password.
    func error(
        _ code: PostgresError.Code, _ message: String, sqlState: String? = nil, detail: String? = nil,
        hint: String? = nil, query: String? = nil
    ) -> PostgresError {
        PostgresError(
            code: code, message: configuration.scrub(message), sqlState: sqlState,
            detail: detail.map(configuration.scrub), hint: hint, query: query,
            connection: configuration.redactedDescription)
    }
}
