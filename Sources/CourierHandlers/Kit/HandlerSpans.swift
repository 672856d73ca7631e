import CourierAMQP
import CourierEngine
import CourierEvents
import CourierTelemetry
import Tracing

/// The consumer spans of one batch (``EventHandlerRunner``): nil when no tracer is bootstrapped,
/// so an untraced courierd does no tracing work per delivery.
///
/// Each delivery's parent context is extracted once from its headers — a retry copy or a replay
/// from the dead-letter queue keeps the original's `traceparent`, so every attempt's spans join
/// the trace of the first publish, with `courier.attempt` and `courier.replay_count` telling them
/// apart.
struct HandlerSpans: Sendable {
    let tracer: any Tracer
    let deliveries: [AMQPDelivery]
    let parents: [ServiceContext]

    init?(_ deliveries: [AMQPDelivery]) {
        let tracer = InstrumentationSystem.tracer
        guard !(tracer is NoOpTracer) else { return nil }
        self.tracer = tracer
        self.deliveries = deliveries
        parents = deliveries.map { MessageTrace.context(extracting: $0.properties.headers) }
    }

    private func start(_ name: String, index: Int, eventID: String?, eventType: String) -> any Span {
        let span = tracer.startSpan(name, context: parents[index], ofKind: .consumer)
        CourierSpan.describe(span, eventID: eventID, eventType: eventType)
        let properties = deliveries[index].properties
        span.attributes[CourierSpan.Attribute.attempt] = FailureHeaders.failedAttempts(in: properties) + 1
        if let replays = properties.headers?[CourierHeader.replayCount]?.intValue, replays > 0, replays < 1_000_000 {
            span.attributes[CourierSpan.Attribute.replayCount] = Int(replays)
        }
        span.attributes[CourierSpan.Attribute.operation] = "process"
        return span
    }

    /// A `decode` span for a delivery that did not decode, ended at once with the failure.
    func decodeFailed(_ index: Int, routingKey: String, failure: HandlingFailure) {
        let span = start("decode", index: index, eventID: deliveries[index].properties.messageID, eventType: routingKey)
        Self.finish(span, .permanentFailure(failure))
    }

    /// One span per event of `events` for `handler`.
    func start(_ handler: String, _ events: [(index: Int, event: EventEnvelope)]) -> Started {
        Started(
            spans: events.map { item in
                let span = start("\(handler) \(item.event.type.rawValue)", index: item.index, eventID: item.event.id, eventType: item.event.type.rawValue)
                span.attributes[CourierSpan.Attribute.handler] = handler
                return (item.index, span)
            })
    }

    struct Started {
        let spans: [(index: Int, span: any Span)]

        /// Ends each span: `handled`, or the failure of its delivery in `failures`.
        func end(_ failures: [Int: HandlingOutcome]) {
            for (index, span) in spans { HandlerSpans.finish(span, failures[index] ?? .handled) }
        }
    }

    static func finish(_ span: any Span, _ outcome: HandlingOutcome) {
        switch outcome {
        case .handled:
            span.attributes[CourierSpan.Attribute.outcome] = "handled"
        case .transientFailure(let failure), .permanentFailure(let failure):
            let permanent = if case .permanentFailure = outcome { true } else { false }
            span.attributes[CourierSpan.Attribute.outcome] = permanent ? "permanent_failure" : "transient_failure"
            span.attributes[CourierSpan.Attribute.errorClass] = failure.errorClass
            span.recordError(HandlingError(failure: failure))
            span.setStatus(SpanStatus(code: .error, message: failure.errorClass))
        case .dependencyUnavailable(let dependency):
            span.attributes[CourierSpan.Attribute.outcome] = "dependency_unavailable"
            span.setStatus(SpanStatus(code: .error, message: "\(dependency) unavailable"))
        }
        span.end()
    }

    /// A handling failure as the error a span records.
    struct HandlingError: Error, CustomStringConvertible {
        let failure: HandlingFailure
        var description: String { "\(failure.errorClass): \(failure.message)" }
    }
}
