import Foundation

/// How to reach a RabbitMQ broker. Built from an AMQP URI, as RabbitMQ documents them:
///
///     amqp://user:password@host:5672/vhost?heartbeat=30&connection_name=courierd
///     amqps://user:password@host:5671/vhost?cacertfile=/etc/ssl/ca.pem&certfile=...&keyfile=...
///
/// Path and user info are percent-decoded (`%2F` is `/`). An absent path or a lone `/` means the
/// default vhost `/` (an empty vhost name is never valid in RabbitMQ).
///
/// **Several nodes of one cluster**: URLs separated by commas, each starting with the scheme —
///
///     amqp://user:password@rabbit-1:5672/semble,amqp://rabbit-2:5672,amqp://rabbit-3
///
/// The first gives the user, password, vhost and options; each further URL names another node (its
/// host and port; user info or a vhost there must be the first's, and the scheme the same).
/// ``AMQPConnection/connect(_:logger:)`` tries the nodes from a random one on, moving to the next
/// when one cannot be reached, so many clients do not all pick the first.
///
/// Query keys (all optional):
/// | key | meaning | default |
/// |---|---|---|
/// | `heartbeat` | heartbeat interval in seconds, 0 disables | 30 |
/// | `connection_timeout` | TCP/TLS connect timeout in milliseconds | 10000 |
/// | `channel_max` | highest channel number to negotiate | 2047 |
/// | `frame_max` | largest frame in bytes | 131072 |
/// | `connection_name` | the name shown by `rabbitmqctl list_connections name` | none |
/// | `cacertfile` | PEM CA bundle to verify the broker (amqps) | system default |
/// | `certfile`, `keyfile` | PEM client certificate and key (amqps) | none |
/// | `verify` | `verify_peer` or `verify_none` (amqps) | `verify_peer` |
/// | `server_name_indication` | `disable` to skip hostname verification (amqps) | on |
///
/// The password is never part of ``description``, ``redactedURL``, a mirror or an error.
public struct AMQPConfiguration: Sendable, Hashable {
    public struct TLS: Sendable, Hashable {
        public var caCertificatePath: String?
        public var certificatePath: String?
        public var keyPath: String?
        public var verifyPeer: Bool = true
        public var verifyHostname: Bool = true

        public init(
            caCertificatePath: String? = nil,
            certificatePath: String? = nil,
            keyPath: String? = nil,
            verifyPeer: Bool = true,
            verifyHostname: Bool = true
        ) {
            self.caCertificatePath = caCertificatePath
            self.certificatePath = certificatePath
            self.keyPath = keyPath
            self.verifyPeer = verifyPeer
            self.verifyHostname = verifyHostname
        }
    }

    /// One node: where to open the TCP (or TLS) connection.
    public struct Node: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// The node a connection opens to (the first of ``nodes`` unless ``connectionOrder(start:)`` chose another).
    public var host: String
    public var port: Int
    /// Every node of the cluster, as listed; one for a single URL.
    public var nodes: [Node]
    public var user: String
    /// Kept out of every description; see the type's documentation.
    public var password: String
    public var vhost: String
    /// `nil` for plain `amqp://`.
    public var tls: TLS?
    /// Seconds; 0 disables heartbeats.
    public var heartbeat: Int = 30
    public var connectionTimeout: Duration = .seconds(10)
    public var channelMax: Int = 2047
    public var frameMax: Int = 131_072
    /// Shown in the management UI and `rabbitmqctl list_connections name`.
    public var connectionName: String?
    /// Bytes beyond the negotiated `frame_max` that incoming frames may have. The broker adds
    /// headers to messages it holds (`x-delivery-count` on every delivery from a quorum queue,
    /// `x-death` when it dead-letters), and it sends the grown content header even when that is
    /// larger than `frame_max`; librabbitmq would reject such a frame as invalid and drop the
    /// connection, every time the message came round. With a headroom the connection reads
    /// them. Only for connections that never publish bodies larger than `frame_max` (librabbitmq
    /// cuts bodies into frames of the raised size): publishes with larger bodies fail on such a
    /// connection. 0 (the default) for connections that publish; courierd's consuming connection
    /// and the CLI's reading connection set it.
    public var inboundFrameHeadroom: Int = 0
    /// How long a synchronous broker operation (declare, bind, ...) may take.
    public var rpcTimeout: Duration = .seconds(30)

    public init(
        host: String = "127.0.0.1",
        port: Int? = nil,
        user: String = "guest",
        password: String = "guest",
        vhost: String = "/",
        tls: TLS? = nil
    ) {
        self.host = host
        self.port = port ?? (tls == nil ? 5672 : 5671)
        self.nodes = [Node(host: host, port: self.port)]
        self.user = user
        self.password = password
        self.vhost = vhost
        self.tls = tls
    }

    /// Parses an `amqp://` or `amqps://` URI. Errors name the part that is wrong and never
    /// repeat the password.
    public init(url list: String) throws(AMQPError) {
        let urls = Self.splitNodes(list)
        try self.init(single: urls[0])
        for (index, further) in urls.enumerated().dropFirst() {
            let node = try AMQPConfiguration(single: further)
            func invalid(_ why: String) -> AMQPError {
                AMQPError(code: .invalidConfiguration, operation: "parse AMQP URL", replyText: "node \(index + 1) of the list: \(why)")
            }
            guard (node.tls == nil) == (tls == nil) else { throw invalid("every node takes the first one's scheme") }
            if further.contains("@"), node.user != user || node.password != password {
                throw invalid("user info differs from the first node's (give it once, in the first URL)")
            }
            if node.vhost != "/" || further.split(separator: "?", maxSplits: 1).count > 1, node.vhost != vhost {
                throw invalid("vhost differs from the first node's (give it once, in the first URL)")
            }
            nodes.append(Node(host: node.host, port: node.port))
        }
    }

    /// `list` cut before each `,amqp://` or `,amqps://` (so a comma elsewhere — in a password —
    /// stays where it is).
    static func splitNodes(_ list: String) -> [String] {
        var urls: [String] = []
        var current = Substring(list)
        while let comma = current.ranges(of: ",").first(where: { range in
            let next = current[range.upperBound...].lowercased()
            return next.hasPrefix("amqp://") || next.hasPrefix("amqps://")
        }) {
            urls.append(String(current[..<comma.lowerBound]))
            current = current[comma.upperBound...]
        }
        urls.append(String(current))
        return urls
    }

    /// The configurations to try, one per node, from `start` on (wrapping round): ``host`` and
    /// ``port`` set to that node.
    public func connectionOrder(start: Int) -> [AMQPConfiguration] {
        guard !nodes.isEmpty else { return [self] }
        return (0..<nodes.count).map { offset in
            var configuration = self
            let node = nodes[(start + offset) % nodes.count]
            configuration.host = node.host
            configuration.port = node.port
            return configuration
        }
    }

    private init(single url: String) throws(AMQPError) {
        func invalid(_ why: String) -> AMQPError {
            AMQPError(code: .invalidConfiguration, operation: "parse AMQP URL", replyText: why)
        }
        guard let schemeEnd = url.range(of: "://") else {
            throw invalid("expected amqp://user:password@host:port/vhost")
        }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let isTLS: Bool
        switch scheme {
        case "amqp": isTLS = false
        case "amqps": isTLS = true
        default: throw invalid("unsupported scheme '\(scheme)' (use amqp or amqps)")
        }
        var rest = url[schemeEnd.upperBound...]

        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var path: Substring? = nil
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var authority = rest
        var user = "guest"
        var password = "guest"
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                guard let u = String(userInfo[..<colon]).removingPercentEncoding,
                    let p = String(userInfo[userInfo.index(after: colon)...]).removingPercentEncoding
                else { throw invalid("user info is not valid percent-encoding") }
                user = u
                password = p
            } else {
                guard let u = String(userInfo).removingPercentEncoding else {
                    throw invalid("user name is not valid percent-encoding")
                }
                user = u
            }
        }

        var host: String
        var portText: Substring? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw invalid("unterminated IPv6 address") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw invalid("unexpected text after IPv6 address")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            portText = authority[authority.index(after: colon)...]
        } else {
            host = String(authority)
        }
        if host.isEmpty { host = "127.0.0.1" }

        var port = isTLS ? 5671 : 5672
        if let portText, !portText.isEmpty {
            guard let p = Int(portText), (1...65535).contains(p) else {
                throw invalid("port '\(portText)' is not a number from 1 to 65535")
            }
            port = p
        }

        var vhost = "/"
        if let path, !path.isEmpty {
            guard let decoded = String(path).removingPercentEncoding else {
                throw invalid("vhost is not valid percent-encoding")
            }
            if decoded.isEmpty { throw invalid("empty vhost") }
            vhost = decoded
        }

        self.init(host: host, port: port, user: user, password: password, vhost: vhost, tls: isTLS ? TLS() : nil)

        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let key = String(parts[0])
            guard let value = (parts.count > 1 ? String(parts[1]) : "").removingPercentEncoding else {
                throw invalid("query value for '\(key)' is not valid percent-encoding")
            }
            func integer(_ range: ClosedRange<Int>) throws(AMQPError) -> Int {
                guard let n = Int(value), range.contains(n) else {
                    throw invalid("'\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(value)'")
                }
                return n
            }
            func requireTLS() throws(AMQPError) {
                if tls == nil { throw invalid("'\(key)' needs an amqps:// URL") }
            }
            switch key {
            case "heartbeat": heartbeat = try integer(0...65535)
            case "connection_timeout": connectionTimeout = .milliseconds(try integer(1...3_600_000))
            case "channel_max": channelMax = try integer(1...65535)
            case "frame_max": frameMax = try integer(4096...Int(Int32.max))
            case "connection_name": connectionName = value
            case "cacertfile":
                try requireTLS()
                tls?.caCertificatePath = value
            case "certfile":
                try requireTLS()
                tls?.certificatePath = value
            case "keyfile":
                try requireTLS()
                tls?.keyPath = value
            case "verify":
                try requireTLS()
                switch value {
                case "verify_peer": tls?.verifyPeer = true
                case "verify_none": tls?.verifyPeer = false
                default: throw invalid("'verify' must be verify_peer or verify_none, got '\(value)'")
                }
            case "server_name_indication":
                try requireTLS()
                tls?.verifyHostname = value != "disable"
            case "auth_mechanism":
                guard value.uppercased() == "PLAIN" else {
                    throw invalid("only the PLAIN auth_mechanism is supported, got '\(value)'")
                }
            default:
                throw invalid("unknown query parameter '\(key)'")
            }
        }
        if let tls, (tls.certificatePath == nil) != (tls.keyPath == nil) {
            throw invalid("certfile and keyfile go together")
        }
    }

    /// The URL with the password replaced by `***`: safe for logs and errors.
    public var redactedURL: String {
        let scheme = tls == nil ? "amqp" : "amqps"
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let vhostPart = vhost.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? vhost
        let single = "\(scheme)://\(user):***@\(hostPart):\(port)/\(vhostPart)"
        let others = nodes.filter { $0 != Node(host: host, port: port) }
        return others.isEmpty ? single : single + " (cluster: " + nodes.map(\.description).joined(separator: ", ") + ")"
    }
}

extension AMQPConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { redactedURL }
    public var debugDescription: String { "AMQPConfiguration(\(redactedURL))" }
    public var customMirror: Mirror {
        Mirror(self, children: ["url": redactedURL, "heartbeat": heartbeat, "connectionName": connectionName as Any])
    }
}
