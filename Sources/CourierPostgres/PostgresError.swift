/// An error from CourierPostgres, with enough context to act on and nothing secret.
///
/// Every error carries a ``Code`` for programmatic handling and a human-readable ``message``.
/// Errors reported by the server also carry its ``sqlState`` (e.g. `23505` for a unique
/// violation), ``detail`` and ``hint``. The ``query`` is the SQL text, truncated to
/// ``maximumQueryLength`` characters; parameter values are never included. ``connection`` is the
/// configuration's ``PostgresConfiguration/redactedDescription``: host, port, database and user,
/// never the password.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. Compare with the static members: `error.code == .queryFailed`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable identifier such as `"queryFailed"`.
        public let rawValue: String

        private init(_ rawValue: String) { self.rawValue = rawValue }

        /// The connection could not be established (bad host, wrong credentials, timeout...).
        public static let connectionFailed = Code("connectionFailed")
        /// The connection is closed or broke while in use; it cannot be used any more.
        public static let connectionClosed = Code("connectionClosed")
        /// The server rejected a statement. ``PostgresError/sqlState`` says why.
        public static let queryFailed = Code("queryFailed")
        /// A transaction could not be started or committed as requested.
        public static let transactionFailed = Code("transactionFailed")
        /// A parameter could not be sent to the server (e.g. a string holding a NUL byte).
        public static let encodingFailed = Code("encodingFailed")
        /// A column could not be decoded as the requested Swift type.
        public static let decodingFailed = Code("decodingFailed")
        /// A connection string or URL is malformed or has unsupported values.
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// A set of migrations is malformed: bad file names, duplicate or non-positive versions.
        public static let invalidMigration = Code("invalidMigration")
        /// Applying migrations failed, or an applied migration was changed afterwards.
        public static let migrationFailed = Code("migrationFailed")

        public var description: String { rawValue }
    }

    /// The longest SQL text kept in ``query``.
    public static let maximumQueryLength = 200

    /// What kind of failure this is.
    public var code: Code
    /// The primary, human-readable message.
    public var message: String
    /// The five-character SQLSTATE reported by the server, if any.
    public var sqlState: String?
    /// The server's optional secondary message.
    public var detail: String?
    /// The server's optional suggestion on what to do.
    public var hint: String?
    /// The SQL text that failed, truncated to ``maximumQueryLength`` characters. Never parameters.
    public private(set) var query: String?
    /// Where the connection points (``PostgresConfiguration/redactedDescription``).
    public var connection: String?

    /// Creates an error. `query` is truncated to ``maximumQueryLength`` characters.
    public init(
        code: Code,
        message: String,
        sqlState: String? = nil,
        detail: String? = nil,
        hint: String? = nil,
        query: String? = nil,
        connection: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.query = query.map(Self.truncated)
        self.connection = connection
    }

    /// `PostgresError.queryFailed: message (SQLSTATE 42P01); detail: ...; hint: ...; query: ...; connection: ...`
    public var description: String {
        var text = "PostgresError.\(code): \(message)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let detail { text += "; detail: \(detail)" }
        if let hint { text += "; hint: \(hint)" }
        if let query { text += "; query: \(query)" }
        if let connection { text += "; connection: \(connection)" }
        return text
    }

    static func truncated(_ sql: String) -> String {
        let trimmed = sql.trimmingWhitespace()
        guard trimmed.count > maximumQueryLength else { return trimmed }
        return trimmed.prefix(maximumQueryLength) + "…"
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and newlines.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let first = firstIndex(where: { !isSpace($0) }),
            let last = lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(self[first...last])
    }
}
