/// An error from the AMQP layer: what failed, why, and what the broker or library said.
///
/// Never contains a password: endpoints are always described with ``AMQPConfiguration/redactedURL``.
public struct AMQPError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The URL or an option could not be understood.
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// TCP/TLS connect or the AMQP handshake failed.
        public static let connectionFailed = Code("connectionFailed")
        /// The broker refused the credentials or the vhost (403 ACCESS_REFUSED, 530 NOT_ALLOWED).
        public static let accessRefused = Code("accessRefused")
        /// The connection is gone: closed by us, by the broker, or by the network.
        public static let connectionClosed = Code("connectionClosed")
        /// No heartbeat or other traffic from the broker within twice the interval.
        public static let heartbeatTimeout = Code("heartbeatTimeout")
        /// The broker closed the channel (404 NOT_FOUND, 406 PRECONDITION_FAILED, 403 ...);
        /// ``AMQPError/replyCode`` says which.
        public static let channelClosed = Code("channelClosed")
        /// The broker cancelled our consumer (queue deleted, node restart, `consumer_timeout`).
        public static let consumerCancelled = Code("consumerCancelled")
        /// The operation did not complete in time.
        public static let timeout = Code("timeout")
        /// The library reported a protocol or socket error not covered above.
        public static let protocolError = Code("protocolError")
        /// Too many channels open on this connection.
        public static let noChannelAvailable = Code("noChannelAvailable")
        /// A publish that cannot be encoded: its content header would not fit the negotiated frame
        /// size, or a short string (exchange, routing key, a property, a header name) is longer
        /// than 255 bytes. Only that publish fails; the connection and channel stay usable.
        public static let unencodable = Code("unencodable")
        /// A confirm-mode operation was used on a channel not in confirm mode, or similar misuse.
        public static let invalidState = Code("invalidState")
    }

    public var code: Code
    /// The operation that failed, e.g. `queue.declare 'events_app'`.
    public var operation: String
    /// The broker's reply code (404, 406, 403, 320, ...) when the broker closed something.
    public var replyCode: UInt16?
    /// The broker's reply text, e.g. `PRECONDITION_FAILED - inequivalent arg 'x-queue-type' ...`.
    public var replyText: String?
    /// librabbitmq's status text, when the library reported the failure.
    public var libraryStatus: String?
    /// The endpoint, without its password.
    public var endpoint: String?

    public init(
        code: Code,
        operation: String,
        replyCode: UInt16? = nil,
        replyText: String? = nil,
        libraryStatus: String? = nil,
        endpoint: String? = nil
    ) {
        self.code = code
        self.operation = operation
        self.replyCode = replyCode
        self.replyText = replyText
        self.libraryStatus = libraryStatus
        self.endpoint = endpoint
    }

    public var description: String {
        var text = "AMQP \(code): \(operation) failed"
        if let replyCode { text += " — broker replied \(replyCode)" }
        if let replyText { text += (replyCode == nil ? " — " : " ") + replyText }
        if let libraryStatus { text += " (\(libraryStatus))" }
        if let endpoint { text += " [\(endpoint)]" }
        return text
    }
}
