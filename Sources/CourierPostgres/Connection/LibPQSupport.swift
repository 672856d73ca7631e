import CLibPQ
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A live `PGconn` and the context its notice receiver points at.
///
/// Not `Sendable`: it is only ever used on its connection's executor thread, and the actor's
/// `isolated deinit` finishes it there.
struct LibPQHandle {
    let pointer: OpaquePointer
    private let notices: Unmanaged<NoticeLogger>

    /// Takes ownership of `pointer` and routes its notices and warnings to `logger`.
    init(_ pointer: OpaquePointer, logger: Logger) {
        self.pointer = pointer
        notices = Unmanaged.passRetained(NoticeLogger(logger: logger))
        PQsetNoticeReceiver(pointer, { context, result in
            guard let context, let result else { return }
            Unmanaged<NoticeLogger>.fromOpaque(context).takeUnretainedValue().log(result)
        }, notices.toOpaque())
    }

    /// Closes the connection (`PQfinish`) and frees everything. Call exactly once.
    func finish() {
        PQfinish(pointer)
        notices.release()
    }
}

/// Logs the server's notices (`NOTICE: relation already exists, skipping`...) at debug level
/// instead of libpq's default of printing them to standard error.
final class NoticeLogger: Sendable {
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func log(_ result: OpaquePointer) {
        let message = resultField(result, .primaryMessage) ?? "notice"
        var metadata: Logger.Metadata = [:]
        if let severity = resultField(result, .severity) { metadata["postgres.severity"] = "\(severity)" }
        if let sqlState = resultField(result, .sqlState) { metadata["postgres.sqlstate"] = "\(sqlState)" }
        logger.debug("\(message)", metadata: metadata)
    }
}

/// The diagnostic fields of an error or notice result. libpq defines them as character macros
/// (`#define PG_DIAG_SQLSTATE 'C'`), which Swift does not import.
enum DiagnosticField: UInt8 {
    case severity = 0x53  // 'S', PG_DIAG_SEVERITY
    case sqlState = 0x43  // 'C', PG_DIAG_SQLSTATE
    case primaryMessage = 0x4D  // 'M', PG_DIAG_MESSAGE_PRIMARY
    case detail = 0x44  // 'D', PG_DIAG_MESSAGE_DETAIL
    case hint = 0x48  // 'H', PG_DIAG_MESSAGE_HINT
}

/// A diagnostic field of a result, if present.
func resultField(_ result: OpaquePointer, _ field: DiagnosticField) -> String? {
    PQresultErrorField(result, Int32(field.rawValue)).map { String(cString: $0) }
}

/// libpq's last error message for `connection`, trimmed.
func connectionErrorMessage(_ connection: OpaquePointer) -> String {
    PQerrorMessage(connection).map { String(cString: $0).trimmingWhitespace() } ?? "unknown libpq error"
}

/// Calls `body` with NUL-terminated C copies of `strings` (`nil` stays a null pointer), valid
/// only during the call.
func withCStringArray<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) throws -> R) rethrows -> R {
    let copies = strings.map { $0.map { strdup($0)! } }
    defer { copies.forEach { free($0) } }
    return try body(copies.map { $0.map { UnsafePointer($0) } })
}

/// Reads everything the server has sent so far, without blocking (`PQconsumeInput` while the
/// socket stays readable); returns `false` once the session is gone.
///
/// One `PQconsumeInput` is not enough to notice a terminated session: the first read returns the
/// server's farewell `FATAL` message, and only the next one sees the end of the stream.
func consumeAvailableInput(_ connection: OpaquePointer) -> Bool {
    for _ in 0..<64 {  // bounded: a busy channel may keep the socket readable
        guard PQconsumeInput(connection) != 0, PQstatus(connection) == CONNECTION_OK else { return false }
        var socket = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
        guard socket.fd >= 0, poll(&socket, 1, 0) > 0 else { break }
    }
    return true
}
