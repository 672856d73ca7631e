import CourierTelemetry
import Tracing

/// The producer spans of one send: `publish <event type>`, one per message, a child of the
/// message's parent context (the caller's, or the trace context its outbox row stored), from the
/// publish to the broker's answer. Each message's propagation headers become its span's, so the
/// handlers' spans are children of the publish.
///
/// With no tracer bootstrapped nothing is started and the headers stay as they came — the relay
/// then forwards the outbox row's trace context unchanged.
struct PublishSpans {
    private var spans: [any Span] = []

    static func start(_ messages: inout [OutgoingMessage], parents: [ServiceContext], exchange: String) -> PublishSpans {
        let tracer = InstrumentationSystem.tracer
        guard !(tracer is NoOpTracer) else { return PublishSpans() }
        var result = PublishSpans()
        result.spans.reserveCapacity(messages.count)
        for index in messages.indices {
            let parent = index < parents.count ? parents[index] : .topLevel
            let span = tracer.startSpan("publish \(messages[index].eventType)", context: parent, ofKind: .producer)
            CourierSpan.describe(span, eventID: messages[index].messageID, eventType: messages[index].eventType)
            span.attributes[CourierSpan.Attribute.destination] = exchange
            span.attributes[CourierSpan.Attribute.routingKey] = messages[index].eventType
            span.attributes[CourierSpan.Attribute.operation] = "publish"
            messages[index].traceHeaders.merge(MessageTrace.headers(injecting: span.context)) { _, new in new }
            result.spans.append(span)
        }
        return result
    }

    /// Ends each span with its message's outcome: `confirmed`, or `failed` with the error recorded.
    func end(_ results: [Result<Void, PublishError>]) {
        for (span, result) in zip(spans, results) {
            switch result {
            case .success:
                span.attributes[CourierSpan.Attribute.outcome] = "confirmed"
            case .failure(let error):
                span.attributes[CourierSpan.Attribute.outcome] = "failed"
                span.attributes[CourierSpan.Attribute.errorClass] = "\(error.code)"
                span.recordError(error)
                span.setStatus(SpanStatus(code: .error, message: "\(error.code)"))
            }
            span.end()
        }
    }
}
