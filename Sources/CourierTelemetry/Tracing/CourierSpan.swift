import Tracing

/// The spans Courier starts and the attributes it sets on them (names follow OpenTelemetry's
/// messaging conventions where one exists; Courier's own are under `courier.`).
///
/// | span | kind | where | parent |
/// |---|---|---|---|
/// | `publish <event type>` | producer | ``EventPublisher`` and the outbox relay, from publish to the broker's confirm | the caller's context; for the relay, the trace context the outbox row stored |
/// | `<handler> <event type>` | consumer | courierd, one per (event, handler), from the start of the handler's transaction to its outcome | the message's `traceparent` (a retry or a replay carries the original's, so every attempt joins the first publish's trace) |
/// | `decode` | consumer | courierd, a message that does not decode | the message's trace context |
public enum CourierSpan {
    public enum Attribute {
        public static let eventID = "courier.event.id"
        public static let eventType = "courier.event.type"
        public static let handler = "courier.handler"
        /// 1 for the first delivery, n + 1 after n failed attempts (`x-courier-attempts`).
        public static let attempt = "courier.attempt"
        /// How many times the message was replayed from the dead-letter queue (`x-courier-replay-count`).
        public static let replayCount = "courier.replay_count"
        /// `handled` (applied now, or before: the inbox already had it), `transient_failure`,
        /// `permanent_failure`, `dependency_unavailable`; for publish spans `confirmed` or `failed`.
        public static let outcome = "courier.outcome"
        public static let errorClass = "courier.error.class"
        public static let messagingSystem = "messaging.system"
        public static let destination = "messaging.destination.name"
        public static let routingKey = "messaging.rabbitmq.destination.routing_key"
        public static let messageID = "messaging.message.id"
        public static let operation = "messaging.operation.type"
    }

    /// Sets the attributes every Courier span shares.
    public static func describe(_ span: any Span, eventID: String?, eventType: String?) {
        span.attributes[Attribute.messagingSystem] = "rabbitmq"
        if let eventID {
            span.attributes[Attribute.eventID] = eventID
            span.attributes[Attribute.messageID] = eventID
        }
        if let eventType { span.attributes[Attribute.eventType] = eventType }
    }
}
