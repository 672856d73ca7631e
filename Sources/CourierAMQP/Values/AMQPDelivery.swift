/// A message delivered to a consumer (`basic.deliver`) or fetched with `basic.get`.
///
/// Everything is copied out of librabbitmq's buffers, so a delivery outlives the frame it came in.
public struct AMQPDelivery: Sendable {
    /// The channel-scoped tag to ack, nack or reject this delivery with.
    public var deliveryTag: UInt64
    /// True when the broker delivered this message before (to this or another consumer).
    public var redelivered: Bool
    public var exchange: String
    public var routingKey: String
    /// The consumer it was delivered to; empty for `basic.get`.
    public var consumerTag: String
    public var properties: AMQPProperties
    public var body: [UInt8]
    /// For `basic.get`: how many messages were left in the queue.
    public var messageCount: UInt32?

    public init(
        deliveryTag: UInt64,
        redelivered: Bool,
        exchange: String,
        routingKey: String,
        consumerTag: String,
        properties: AMQPProperties,
        body: [UInt8],
        messageCount: UInt32? = nil
    ) {
        self.deliveryTag = deliveryTag
        self.redelivered = redelivered
        self.exchange = exchange
        self.routingKey = routingKey
        self.consumerTag = consumerTag
        self.properties = properties
        self.body = body
        self.messageCount = messageCount
    }

    /// The body as UTF-8 text, if it is valid UTF-8.
    public var bodyString: String? { String(validating: body, as: UTF8.self) }
}

/// A message returned by the broker (`basic.return`): published with `mandatory` and routed nowhere.
public struct AMQPReturnedMessage: Sendable, Hashable {
    public var replyCode: UInt16
    public var replyText: String
    public var exchange: String
    public var routingKey: String
    public var properties: AMQPProperties
    public var body: [UInt8]
}

/// What the broker said about one published message once the channel is in confirm mode.
public enum AMQPPublishOutcome: Sendable, Hashable {
    /// The broker took responsibility for the message (for persistent messages in durable queues:
    /// written to disk).
    case acked
    /// The broker could not take the message (internal error, `x-overflow = reject-publish`, ...).
    case nacked
    /// `mandatory` and unroutable: the broker returned the message (then acked the publish).
    case returned(AMQPReturnedMessage)
    /// The channel is not in confirm mode: the message was written to the socket, nothing more.
    case sent
}

/// Counts reported by `queue.declare` (active or passive).
public struct AMQPQueueInfo: Sendable, Hashable {
    public var name: String
    public var messageCount: UInt32
    public var consumerCount: UInt32
}
