/// A message delivered to a consumer (`basic.deliver`) or fetched with `basic.get`.
///
/// Everything is copied out of librabbitmq's buffers, so a delivery outlives the frame it came in.
package struct AMQPDelivery: Sendable {
    /// The channel-scoped tag to ack, nack or reject this delivery with.
    package var deliveryTag: UInt64
    /// True when the broker delivered this message before (to this or another consumer).
    package var redelivered: Bool
    package var exchange: String
    package var routingKey: String
    /// The consumer it was delivered to; empty for `basic.get`.
    package var consumerTag: String
    package var properties: AMQPProperties
    package var body: [UInt8]
    /// For `basic.get`: how many messages were left in the queue.
    package var messageCount: UInt32?

    package init(
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
    package var bodyString: String? { String(validating: body, as: UTF8.self) }
}

/// A message returned by the broker (`basic.return`): published with `mandatory` and routed nowhere.
package struct AMQPReturnedMessage: Sendable, Hashable {
    package var replyCode: UInt16
    package var replyText: String
    package var exchange: String
    package var routingKey: String
    package var properties: AMQPProperties
    package var body: [UInt8]
}

/// What the broker said about one published message once the channel is in confirm mode.
package enum AMQPPublishOutcome: Sendable, Hashable {
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
package struct AMQPQueueInfo: Sendable, Hashable {
    package var name: String
    package var messageCount: UInt32
    package var consumerCount: UInt32
}
