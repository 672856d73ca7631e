import CourierAMQP
import CourierEvents
import CourierTelemetry
import Foundation

/// One message on its way to the broker: what ``EventPublisher`` publishes directly and what
/// ``OutboxRelay`` publishes from an `event_store` row. Both end up with the same properties.
struct OutgoingMessage: Sendable {
    /// The JSON body.
    var body: [UInt8]
    /// The event type: the routing key and the `type` property.
    var eventType: String
    /// The event's identity: the `message_id` property.
    var messageID: String
    /// When the event occurred: the `timestamp` property, in whole seconds since the epoch.
    var timestamp: UInt64
    /// The `x-schema-version` header.
    var schemaVersion: Int
    /// The trace propagation headers (`traceparent`, `tracestate`): what the outbox row stored,
    /// replaced by the publish span's own when a tracer is bootstrapped (``PublishSpans``).
    var traceHeaders: [String: String]

    init(
        body: [UInt8], eventType: String, messageID: String, timestamp: UInt64, schemaVersion: Int, traceHeaders: [String: String] = [:]
    ) {
        self.body = body
        self.eventType = eventType
        self.messageID = messageID
        self.timestamp = timestamp
        self.schemaVersion = schemaVersion
        self.traceHeaders = MessageTrace.sanitized(traceHeaders)
    }

    init(_ envelope: EventEnvelope, encoder: EventEncoder = EventEncoder()) {
        self.init(
            body: encoder.encode(envelope), eventType: envelope.type.rawValue, messageID: envelope.id,
            timestamp: Self.seconds(envelope.occurredAt), schemaVersion: envelope.schemaVersion)
    }

    static func seconds(_ date: Date) -> UInt64 {
        let seconds = date.timeIntervalSince1970
        return seconds > 0 ? UInt64(seconds) : 0
    }

    /// Persistent JSON with the event's identity, type, time, publisher, schema version and trace.
    func properties(appID: String) -> AMQPProperties {
        var headers: AMQPTable = [EventSchema.versionHeader: .int32(Int32(clamping: schemaVersion))]
        for key in traceHeaders.keys.sorted() { headers[key] = .string(traceHeaders[key]!) }
        return AMQPProperties(
            contentType: "application/json", headers: headers, deliveryMode: .persistent, messageID: messageID,
            timestamp: timestamp, type: eventType, appID: appID)
    }
}
