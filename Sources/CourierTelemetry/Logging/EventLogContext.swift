import CourierAMQP
import Logging
import Tracing
import W3CTraceContext

/// Which event a piece of work is about: put in the task's `ServiceContext` while courierd works
/// on one event, and added to every log line written meanwhile by
/// ``Logging/Logger/MetadataProvider/courierEvent`` as `event_id`, `event_type` and `trace_id`.
///
/// The values come from the wire: each is cut to 255 bytes and has its control characters
/// replaced, so a message id cannot forge a log line in the text format.
package struct EventLogContext: Sendable, Equatable {
    package var eventID: String?
    package var eventType: String?
    /// The W3C trace id (32 lower-case hex digits) of the message's `traceparent`, when it has a
    /// valid one — whether or not courierd exports spans, so logs and the API's traces meet.
    package var traceID: String?

    package init(eventID: String?, eventType: String?, traceID: String?) {
        self.eventID = eventID.map(Self.clean)
        self.eventType = eventType.map(Self.clean)
        self.traceID = traceID.map(Self.clean)
    }

    /// For a delivery: its `message_id` (or `eventID`, the decoded event's), the event type
    /// given, the trace id of its `traceparent`.
    package init(delivery: AMQPDelivery, eventType: String, eventID: String? = nil) {
        self.init(
            eventID: eventID ?? delivery.properties.messageID, eventType: eventType,
            traceID: Self.traceID(traceparent: delivery.properties.headers?["traceparent"]?.stringValue))
    }

    /// The trace id of a `traceparent` value, when it is a valid W3C one.
    package static func traceID(traceparent: String?) -> String? {
        guard let traceparent, traceparent.utf8.count <= MessageTrace.maximumValueBytes,
            let context = try? W3CTraceContext.TraceContext(traceParentHeaderValue: traceparent)
        else { return nil }
        return context.traceID.description
    }

    static func clean(_ value: String) -> String {
        var scalars = String.UnicodeScalarView()
        var bytes = 0
        for scalar in value.unicodeScalars {
            let width = String(scalar).utf8.count
            if bytes + width > 255 { break }
            bytes += width
            scalars.append(scalar.properties.generalCategory == .control ? "?" : scalar)
        }
        return String(scalars)
    }

    /// Runs `body` with this event in the task's context (the trace context already there kept):
    /// what it logs carries the event's id, type and trace id.
    package func withValue<T>(_ body: () throws -> T) rethrows -> T {
        var context = ServiceContext.current ?? .topLevel
        context.courierEvent = self
        return try ServiceContext.withValue(context) { try body() }
    }
}

private enum EventLogContextKey: ServiceContextKey {
    typealias Value = EventLogContext
    static var nameOverride: String? { "courier-event" }
}

extension ServiceContext {
    /// The event the current work is about (see ``EventLogContext``).
    package var courierEvent: EventLogContext? {
        get { self[EventLogContextKey.self] }
        set { self[EventLogContextKey.self] = newValue }
    }
}

extension Logger.MetadataProvider {
    /// `event_id`, `event_type` and `trace_id` of the event the current task works on.
    package static let courierEvent = Logger.MetadataProvider {
        guard let event = ServiceContext.current?.courierEvent else { return [:] }
        var metadata: Logger.Metadata = [:]
        if let id = event.eventID { metadata["event_id"] = .string(id) }
        if let type = event.eventType { metadata["event_type"] = .string(type) }
        if let trace = event.traceID { metadata["trace_id"] = .string(trace) }
        return metadata
    }
}
