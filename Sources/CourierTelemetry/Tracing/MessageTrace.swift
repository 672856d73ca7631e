import CourierAMQP
import Tracing

/// The trace context a Semble event travels with: from the API's transaction into the outbox row,
/// from the row (or a direct publish) into the message's headers, and from the headers into the
/// spans of the handlers that apply it.
///
/// Propagation goes through swift-distributed-tracing's `InstrumentationSystem`: with swift-otel
/// bootstrapped that is W3C `traceparent`/`tracestate`; with no tracer bootstrapped nothing is
/// injected or extracted, and the relay forwards the headers an outbox row stored unchanged.
///
/// Everything read from a message is untrusted: only string values within
/// ``maximumValueBytes`` of printable ASCII, under keys that look like propagation fields
/// (``isPropagationHeader(key:value:)``), ever reach an instrument or a log line. A malformed
/// trace header is ignored, never an error: the event is handled as an untraced one.
package enum MessageTrace {
    /// At most this many propagation headers are taken from one carrier.
    package static let maximumHeaders = 8
    /// W3C `tracestate` may be 512 characters; nothing longer is a propagation field.
    package static let maximumValueBytes = 512
    package static let maximumKeyBytes = 64

    /// A key an instrument may have injected (lower-case letters, digits, `-`, `_`, `.`; not
    /// `x-…`, so never one of Courier's own headers or the schema version) with a value of
    /// printable ASCII within ``maximumValueBytes``.
    package static func isPropagationHeader(key: String, value: String) -> Bool {
        let keyBytes = key.utf8
        guard !keyBytes.isEmpty, keyBytes.count <= maximumKeyBytes, !key.hasPrefix("x-") else { return false }
        guard keyBytes.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 95 || $0 == 46 })
        else { return false }
        let valueBytes = value.utf8
        return valueBytes.count <= maximumValueBytes && valueBytes.allSatisfy { (0x20...0x7E).contains($0) }
    }

    /// The headers the current instrument injects for `context` (empty when none is bootstrapped
    /// or the context holds no trace).
    package static func headers(injecting context: ServiceContext) -> [String: String] {
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: HeaderInjector())
        return carrier.filter { isPropagationHeader(key: $0.key, value: $0.value) }
    }

    /// The propagation headers of a stored carrier (an outbox row's `trace_context`), those that
    /// pass ``isPropagationHeader(key:value:)``, at most ``maximumHeaders``.
    package static func sanitized(_ carrier: [String: String]) -> [String: String] {
        var kept: [String: String] = [:]
        for key in carrier.keys.sorted() where kept.count < maximumHeaders {
            if let value = carrier[key], isPropagationHeader(key: key, value: value) { kept[key] = value }
        }
        return kept
    }

    /// A top-level context holding what the instrument extracts from `carrier`.
    package static func context(extracting carrier: [String: String]) -> ServiceContext {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(sanitized(carrier), into: &context, using: DictionaryExtractor())
        return context
    }

    /// A top-level context holding what the instrument extracts from a message's headers.
    package static func context(extracting headers: AMQPTable?) -> ServiceContext {
        var context = ServiceContext.topLevel
        guard let headers else { return context }
        InstrumentationSystem.instrument.extract(headers, into: &context, using: AMQPHeadersExtractor())
        return context
    }
}

/// Writes propagation fields into a `[String: String]` (message headers, an outbox row's
/// `trace_context`).
package struct HeaderInjector: Injector {
    package init() {}
    package func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

/// Reads propagation fields from a `[String: String]`.
package struct DictionaryExtractor: Extractor {
    package init() {}
    package func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

/// Reads propagation fields from a message's headers: a string (or UTF-8 bytes) value that passes
/// ``MessageTrace/isPropagationHeader(key:value:)``, else nothing.
package struct AMQPHeadersExtractor: Extractor {
    package init() {}
    package func extract(key: String, from carrier: AMQPTable) -> String? {
        guard let value = carrier[key]?.stringValue, MessageTrace.isPropagationHeader(key: key, value: value) else { return nil }
        return value
    }
}
