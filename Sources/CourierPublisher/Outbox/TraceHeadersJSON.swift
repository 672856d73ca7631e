import CourierTelemetry
import Foundation

/// The trace context an outbox row stores in `trace_context`: the propagation headers as one flat
/// JSON object of strings (`{"traceparent":"00-…","tracestate":"…"}`).
enum TraceHeadersJSON {
    /// nil for no headers.
    static func encode(_ headers: [String: String]) -> String? {
        guard !headers.isEmpty,
            let data = try? JSONSerialization.data(withJSONObject: headers, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// The string members of a stored object that are propagation headers
    /// (``MessageTrace/sanitized(_:)``); anything else in the column — another writer's JSON, a
    /// non-object — gives no headers rather than an error: the row is published untraced.
    static func decode(_ text: String?) -> [String: String] {
        guard let text, let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return [:] }
        var headers: [String: String] = [:]
        for (key, value) in object {
            if let string = value as? String { headers[key] = string }
        }
        return MessageTrace.sanitized(headers)
    }
}
