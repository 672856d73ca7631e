/// The W3C trace context of the current task, carried into every message published from it.
///
/// Set it around the work that raises events (typically from the incoming request's
/// `traceparent` header); ``EventPublisher/publish(_:traceparent:)`` and
/// ``Outbox/enqueue(_:traceparent:in:)`` read it as their default and put it in the message's
/// `traceparent` header (the outbox stores it in `event_store.traceparent` for the relay):
///
/// ```swift
/// try await TraceContext.$traceparent.withValue(request.headers["traceparent"]) {
///     try await publisher.publish(envelope)
/// }
/// ```
///
/// A value that is not a valid version-00 `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`, ids not
/// all zeros) is ignored, as the W3C specification requires of receivers: no header is sent.
/// It is a task-local rather than a tracing dependency to keep this library's footprint small.
public enum TraceContext {
    @TaskLocal public static var traceparent: String?

    /// `value` when it is a well-formed `traceparent`, else nil.
    public static func validated(_ value: String?) -> String? {
        guard let value else { return nil }
        let bytes = Array(value.utf8)
        guard bytes.count == 55, bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-")
        else { return nil }
        func hex(_ range: Range<Int>) -> Bool {
            bytes[range].allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
        }
        func zeros(_ range: Range<Int>) -> Bool { bytes[range].allSatisfy { $0 == UInt8(ascii: "0") } }
        guard hex(0..<2), hex(3..<35), hex(36..<52), hex(53..<55) else { return nil }
        guard bytes[0..<2].elementsEqual("00".utf8), !zeros(3..<35), !zeros(36..<52) else { return nil }
        return value
    }
}
