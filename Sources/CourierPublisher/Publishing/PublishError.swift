import CourierAMQP

/// Why an event was not (or not certainly) published.
///
/// Every error says what happened (``code``), to which event (``eventType``, ``messageID``), where
/// (``exchange``, ``endpoint`` — the broker URL with its password replaced by `***`), and what the
/// broker or library said (``replyCode``, ``reason``). It never contains a password.
///
/// Two kinds of failure matter to a caller:
/// - **Not published** (``mayHaveBeenPublished`` is false): the broker refused the message
///   (``Code/nacked``, ``Code/unroutable``, ``Code/exchangeNotFound``...) or it was never sent
///   (``Code/connectionFailed``, ``Code/shutDown``). Retrying later is safe and necessary.
/// - **Outcome unknown** (``Code/connectionLost``, ``Code/timedOut``, ``Code/cancelled``): the
///   message was written to the socket but no confirm came back; the broker may have it. Retrying
///   is still right: the retry carries the same `message_id`, and Courier's handlers apply each
///   message id once.
///
/// The transactional outbox (``Outbox``, ``OutboxRelay``) does exactly this for you.
public struct PublishError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The broker answered `basic.nack`: it could not take the message (an internal error, or a
        /// queue with `x-overflow = reject-publish` that is full).
        public static let nacked = Code("nacked")
        /// `mandatory` and routed nowhere: no queue is bound for the event type and the exchange
        /// has no alternate exchange (courierd declares one, `domain_events.unrouted`, which makes
        /// this impossible in production). The broker returned the message (312 NO_ROUTE).
        public static let unroutable = Code("unroutable")
        /// The exchange does not exist (404 NOT_FOUND): courierd has not declared its topology yet.
        public static let exchangeNotFound = Code("exchangeNotFound")
        /// Could not connect: the broker is down or unreachable, or the handshake failed. While the
        /// publisher backs off between attempts, publishes fail at once with this code.
        public static let connectionFailed = Code("connectionFailed")
        /// The broker refused the credentials, the vhost, or the permission to publish (403).
        public static let accessRefused = Code("accessRefused")
        /// The connection or channel went away after the message was sent and before its confirm:
        /// the broker may or may not have it.
        public static let connectionLost = Code("connectionLost")
        /// The broker closed the channel for another reason (its reply code says which).
        public static let channelClosed = Code("channelClosed")
        /// No confirm within ``PublisherConfiguration/confirmTimeout`` (a blocked or overloaded
        /// broker): the broker may or may not have it.
        public static let timedOut = Code("timedOut")
        /// The publishing task was cancelled while it waited for the confirm: the broker may or
        /// may not have it.
        public static let cancelled = Code("cancelled")
        /// The publisher was shut down; nothing was sent.
        public static let shutDown = Code("shutDown")
        /// The AMQP URL or an option is invalid.
        public static let invalidConfiguration = Code("invalidConfiguration")
    }

    public var code: Code
    /// A sentence saying what happened, e.g. `no confirm within 30 s`.
    public var reason: String
    /// The event type (routing key) of the event concerned, when there is one.
    public var eventType: String?
    /// The `message_id` of the event concerned, when there is one.
    public var messageID: String?
    /// The exchange published to.
    public var exchange: String?
    /// The broker, as `amqp://user:***@host:port/vhost`.
    public var endpoint: String?
    /// The broker's reply code (312 NO_ROUTE, 404 NOT_FOUND, 320 CONNECTION_FORCED...), if any.
    public var replyCode: UInt16?
    /// The AMQP layer's error, when one caused this (already free of passwords).
    public var underlying: AMQPError?
    /// True when the message was sent but not confirmed: the broker may have it, so a retry may
    /// produce a second copy with the same `message_id` (harmless for Courier's handlers). False
    /// when the message was certainly not taken (refused, or never sent).
    public var mayHaveBeenPublished: Bool

    public init(
        code: Code,
        reason: String,
        eventType: String? = nil,
        messageID: String? = nil,
        exchange: String? = nil,
        endpoint: String? = nil,
        replyCode: UInt16? = nil,
        underlying: AMQPError? = nil,
        mayHaveBeenPublished: Bool? = nil
    ) {
        self.code = code
        self.reason = reason
        self.eventType = eventType
        self.messageID = messageID
        self.exchange = exchange
        self.endpoint = endpoint
        self.replyCode = replyCode
        self.underlying = underlying
        self.mayHaveBeenPublished = mayHaveBeenPublished ?? (code == .connectionLost || code == .timedOut || code == .cancelled)
    }

    public var description: String {
        var text = "publish \(code)"
        if let eventType { text += " \(eventType)" }
        if let messageID { text += " (message-id \(messageID))" }
        if let exchange { text += " to '\(exchange)'" }
        text += ": \(reason)"
        if let replyCode { text += " [broker \(replyCode)]" }
        if let endpoint { text += " [\(endpoint)]" }
        return text
    }

    /// This error about one particular message.
    func about(_ message: OutgoingMessage) -> PublishError {
        var copy = self
        copy.eventType = message.eventType
        copy.messageID = message.messageID
        return copy
    }
}

extension PublishError {
    /// Classifies an AMQP failure that happened while connecting.
    static func connecting(_ error: AMQPError, endpoint: String) -> PublishError {
        let code: Code
        switch error.code {
        case .accessRefused: code = .accessRefused
        case .invalidConfiguration: code = .invalidConfiguration
        default: code = .connectionFailed
        }
        return PublishError(
            code: code, reason: error.replyText ?? error.libraryStatus ?? "\(error.code)", endpoint: endpoint,
            replyCode: error.replyCode, underlying: error)
    }

    /// Classifies an AMQP failure reported for a message that was handed to the channel.
    static func inFlight(_ error: AMQPError, exchange: String, endpoint: String) -> PublishError {
        let code: Code
        var reason: String
        switch (error.code, error.replyCode) {
        case (.channelClosed, 404?):
            code = .exchangeNotFound
            reason = "the exchange does not exist (has courierd declared its topology?)"
        case (.channelClosed, 403?), (.accessRefused, _):
            code = .accessRefused
            reason = "the broker refused access"
        case (.channelClosed, _):
            code = .channelClosed
            reason = "the broker closed the channel"
        default:
            code = .connectionLost
            reason = "the connection was lost before the broker confirmed; the message may or may not have been published"
        }
        if let text = error.replyText { reason += " (\(text))" }
        return PublishError(
            code: code, reason: reason, exchange: exchange, endpoint: endpoint, replyCode: error.replyCode,
            underlying: error)
    }
}
