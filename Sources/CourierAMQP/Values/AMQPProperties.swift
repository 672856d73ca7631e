/// The basic properties of a message. `nil` means "not set" (the flag is absent on the wire).
package struct AMQPProperties: Sendable, Hashable {
    package enum DeliveryMode: UInt8, Sendable {
        case transient = 1
        case persistent = 2
    }

    package var contentType: String?
    package var contentEncoding: String?
    package var headers: AMQPTable?
    package var deliveryMode: DeliveryMode?
    package var priority: UInt8?
    package var correlationID: String?
    package var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string (AMQP says so).
    package var expiration: String?
    package var messageID: String?
    /// Seconds since the Unix epoch.
    package var timestamp: UInt64?
    package var type: String?
    package var userID: String?
    package var appID: String?
    package var clusterID: String?

    package init(
        contentType: String? = nil,
        contentEncoding: String? = nil,
        headers: AMQPTable? = nil,
        deliveryMode: DeliveryMode? = nil,
        priority: UInt8? = nil,
        correlationID: String? = nil,
        replyTo: String? = nil,
        expiration: String? = nil,
        messageID: String? = nil,
        timestamp: UInt64? = nil,
        type: String? = nil,
        userID: String? = nil,
        appID: String? = nil,
        clusterID: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
        self.clusterID = clusterID
    }

    /// `delivery_mode = 2`: the broker writes the message to disk in a durable queue.
    package var isPersistent: Bool { deliveryMode == .persistent }
}
