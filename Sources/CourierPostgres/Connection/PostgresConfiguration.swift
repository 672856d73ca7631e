import CLibPQ

/// Where and how to connect to Postgres.
///
/// Create one from a URL or a libpq `key=value` connection string; libpq itself validates it
/// (`PQconninfoParse`), so every libpq keyword works:
///
/// ```swift
/// let config = try PostgresConfiguration(url: "postgres://courier:secret@db:5432/courier?sslmode=require")
/// let same = try PostgresConfiguration(conninfo: "host=db port=5432 dbname=courier user=courier password=secret sslmode=require")
/// ```
///
/// Keys most often used:
/// - `host`, `port`: the server (a host name, an IP address, or a Unix-socket directory).
/// - `dbname`, `user`, `password`: the database and the credentials.
/// - `sslmode`: TLS, see ``TLSMode``; with `sslrootcert`, `sslcert`, `sslkey` for certificates.
/// - `application_name`: shown in `pg_stat_activity`; see ``applicationName``.
/// - `connect_timeout`: seconds to wait for a connection; see ``connectTimeout``.
///
/// ``applicationName``, ``connectTimeout`` and ``tlsMode`` start with the values found in the
/// string and, when changed, override them. The password is kept out of every description,
/// debug description and mirror of this value; log ``redactedDescription`` instead.
public struct PostgresConfiguration: Sendable {
    /// libpq's `sslmode`: whether and how strictly to use TLS.
    public enum TLSMode: String, Sendable, CaseIterable {
        /// Never use TLS.
        case disable
        /// Try without TLS first, then with TLS.
        case allow
        /// Try TLS first, then without (libpq's default).
        case prefer
        /// Require TLS, without checking the server's certificate.
        case require
        /// Require TLS and a server certificate signed by a trusted CA.
        case verifyCA = "verify-ca"
        /// Require TLS, a trusted certificate, and a host name matching it.
        case verifyFull = "verify-full"
    }

    /// The connect timeout used when the string sets none: libpq's own default is to wait forever.
    public static let defaultConnectTimeout: Duration = .seconds(10)

    /// The server host(s), as given (`host`), if any.
    public let host: String?
    /// The server port(s), as given (`port`), if any.
    public let port: String?
    /// The database name (`dbname`), if any.
    public let database: String?
    /// The user name (`user`), if any.
    public let user: String?
    /// The name the server shows for this client in `pg_stat_activity` (`application_name`).
    public var applicationName: String?
    /// How long to wait for a connection (`connect_timeout`), rounded up to whole seconds;
    /// `nil` waits forever. Defaults to ``defaultConnectTimeout``.
    public var connectTimeout: Duration?
    /// TLS (`sslmode`); `nil` leaves libpq's default, ``TLSMode/prefer``.
    public var tlsMode: TLSMode?
    /// The schemas unqualified table names are looked up in, in order (the session's
    /// `search_path`, set when connecting, so every connection of a pool and every reconnection has
    /// it); `nil` keeps the server's. Courier puts its own schema first and Semble's (`public`)
    /// after it: Courier's tables and Semble's are then both found by their plain names.
    /// Each name must be a plain identifier (see ``isPlainIdentifier(_:)``).
    public var searchPath: [String]? {
        didSet {
            if let searchPath {
                precondition(searchPath.allSatisfy(Self.isPlainIdentifier), "search_path schemas must be plain identifiers: \(searchPath)")
            }
        }
    }
    /// The libpq `options` of the string as given (command-line options for the server).
    private let serverOptions: String?

    /// The string as given, password included. Never printed.
    private let conninfo: Redacted<String>
    /// Text that must be removed from any message derived from libpq's.
    private let secrets: Redacted<[String]>

    /// Parses a `postgres://` or `postgresql://` URL.
    /// - Throws: ``PostgresError/Code/invalidConfiguration`` if it is not such a URL or libpq
    ///   rejects it.
    public init(url: String) throws {
        guard let schemeEnd = url.range(of: "://") else {
            throw Self.invalid("not a URL: expected postgres:// or postgresql://")
        }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw Self.invalid("unsupported URL scheme '\(scheme)': expected postgres:// or postgresql://")
        }
        try self.init(parsing: url)
    }

    /// Parses a libpq `key=value` connection string, e.g. `host=localhost dbname=courier`.
    /// - Throws: ``PostgresError/Code/invalidConfiguration`` if libpq rejects it.
    public init(conninfo: String) throws {
        if conninfo.contains("://") {
            throw Self.invalid("expected key=value pairs, got a URL: use init(url:)")
        }
        try self.init(parsing: conninfo)
    }

    /// Parses either a URL (when the string contains `://`) or a `key=value` connection string.
    public init(_ connectionString: String) throws {
        if connectionString.contains("://") {
            try self.init(url: connectionString)
        } else {
            try self.init(conninfo: connectionString)
        }
    }

    private init(parsing text: String) throws {
        let options = try Self.parse(text)
        host = options["host"] ?? options["hostaddr"]
        port = options["port"]
        database = options["dbname"]
        user = options["user"]
        applicationName = options["application_name"]
        serverOptions = options["options"]
        if let timeout = options["connect_timeout"] {
            guard let seconds = Int(timeout.trimmingWhitespace()) else {
                throw Self.invalid("connect_timeout must be a whole number of seconds")
            }
            connectTimeout = seconds > 0 ? .seconds(seconds) : nil
        } else {
            connectTimeout = Self.defaultConnectTimeout
        }
        if let mode = options["sslmode"] {
            guard let tls = TLSMode(rawValue: mode) else {
                let known = TLSMode.allCases.map(\.rawValue).joined(separator: ", ")
                throw Self.invalid("invalid sslmode '\(mode)': expected one of \(known)")
            }
            tlsMode = tls
        }
        conninfo = Redacted(text)
        secrets = Redacted(
            SecretScrubber.passwordCandidates(in: text) + [options["password"]].compactMap { $0 })
    }

    /// `host=… port=… dbname=… user=…`: where this points, safe to log. Never the password.
    public var redactedDescription: String {
        let pairs = [("host", host), ("port", port), ("dbname", database), ("user", user)]
            .compactMap { key, value in value.map { "\(key)=\($0)" } }
        return pairs.isEmpty ? "(libpq defaults)" : pairs.joined(separator: " ")
    }

    /// The keyword/value pairs for `PQconnectdbParams` with `expand_dbname = 1`: the string as
    /// given first, then the overrides (libpq uses the last value of a repeated keyword).
    /// `client_encoding` is always UTF-8: Swift strings are sent and read as UTF-8.
    var connectParameters: [(keyword: String, value: String)] {
        var parameters = [(keyword: "dbname", value: conninfo.value)]
        if let applicationName { parameters.append(("application_name", applicationName)) }
        if let connectTimeout {
            let (seconds, fraction) = connectTimeout.components
            parameters.append(("connect_timeout", String(seconds + (fraction > 0 ? 1 : 0))))
        }
        if let tlsMode { parameters.append(("sslmode", tlsMode.rawValue)) }
        if let searchPath, !searchPath.isEmpty {
            // Appended to the string's own options: the server takes the last `-c` of a setting.
            let setting = "-c search_path=" + searchPath.joined(separator: ",")
            parameters.append(("options", [serverOptions, setting].compactMap { $0 }.joined(separator: " ")))
        }
        parameters.append(("client_encoding", "UTF8"))
        return parameters
    }

    /// A schema name usable unquoted anywhere, also inside libpq's `options`: a lower-case letter
    /// or `_`, then lower-case letters, digits and `_`, at most 63 bytes (Postgres' limit).
    public static func isPlainIdentifier(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 63, first == 0x5F || (0x61...0x7A).contains(first) else { return false }
        return bytes.allSatisfy { $0 == 0x5F || (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) }
    }

    /// `message` without any trace of this configuration's password.
    func scrub(_ message: String) -> String {
        SecretScrubber.scrub(message, secrets: secrets.value)
    }

    /// Validates `text` with `PQconninfoParse` and returns the keywords it sets.
    private static func parse(_ text: String) throws -> [String: String] {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(text, &errorMessage) else {
            let reason = errorMessage.map { String(cString: $0).trimmingWhitespace() } ?? "out of memory"
            if let errorMessage { PQfreemem(errorMessage) }
            let safe = SecretScrubber.scrub(reason, secrets: SecretScrubber.passwordCandidates(in: text))
            throw invalid("invalid connection string: \(safe)")
        }
        defer { PQconninfoFree(options) }
        var values: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                values[String(cString: keyword)] = String(cString: value)
            }
            option += 1
        }
        return values
    }

    private static func invalid(_ message: String) -> PostgresError {
        PostgresError(code: .invalidConfiguration, message: message)
    }
}

extension PostgresConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The redacted description plus the settings; never the password.
    public var description: String {
        var settings = [redactedDescription]
        if let tlsMode { settings.append("sslmode=\(tlsMode.rawValue)") }
        if let applicationName { settings.append("application_name=\(applicationName)") }
        if let connectTimeout { settings.append("connect_timeout=\(connectTimeout)") }
        if let searchPath { settings.append("search_path=\(searchPath.joined(separator: ","))") }
        return "PostgresConfiguration(\(settings.joined(separator: ", ")))"
    }

    public var debugDescription: String { description }

    /// Only the non-secret fields, so `dump` and debuggers never see the password.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host as Any, "port": port as Any, "database": database as Any,
                "user": user as Any, "applicationName": applicationName as Any,
                "connectTimeout": connectTimeout as Any, "tlsMode": tlsMode as Any,
            ],
            displayStyle: .struct)
    }
}
