import Tracing

/// The spans Courier starts and the attributes it sets on them (names follow OpenTelemetry's
/// messaging conventions where one exists; Courier's own are under `courier.`).
///
/// | span | kind | where | parent |
/// |---|---|---|---|
/// | `publish <event type>` | producer | ``EventPublisher`` and the outbox relay, from publish to the broker's confirm | the caller's context; for the relay, the trace context the outbox row stored |
/// | `<handler> <event type>` | consumer | courierd, one per (event, handler), from the start of the handler's transaction to its outcome | the message's `traceparent` (a retry or a replay carries the original's, so every attempt joins the first publish's trace) |
/// | `decode` | consumer | courierd, a message that does not decode | the message's trace context |
package enum CourierSpan {
    package enum Attribute {
        package static let eventID = "courier.event.id"
        package static let eventType = "courier.event.type"
        package static let handler = "courier.handler"
        /// 1 for the first delivery, n + 1 after n failed attempts (`x-courier-attempts`).
        package static let attempt = "courier.attempt"
        /// How many times the message was replayed from the dead-letter queue (`x-courier-replay-count`).
        package static let replayCount = "courier.replay_count"
        /// `handled` (applied now, or before: the inbox already had it), `transient_failure`,
        /// `permanent_failure`, `dependency_unavailable`; for publish spans `confirmed` or `failed`.
        package static let outcome = "courier.outcome"
        package static let errorClass = "courier.error.class"
        package static let messagingSystem = "messaging.system"
        package static let destination = "messaging.destination.name"
        package static let routingKey = "messaging.rabbitmq.destination.routing_key"
        package static let messageID = "messaging.message.id"
        package static let operation = "messaging.operation.type"
    }

    /// Sets the attributes every Courier span shares.
    package static func describe(_ span: any Span, eventID: String?, eventType: String?) {
        span.attributes[Attribute.messagingSystem] = "rabbitmq"
        if let eventID {
            span.attributes[Attribute.eventID] = eventID
            span.attributes[Attribute.messageID] = eventID
        }
        if let eventType { span.attributes[Attribute.eventType] = eventType }
    }
}
