import CourierTelemetry
import Foundation
import Logging
import Testing

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    /// Collects lines written by a handler.
    final class Sink: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [[UInt8]] = []
        func append(_ line: [UInt8]) { lock.withLock { lines.append(line) } }
        var all: [[UInt8]] { lock.withLock { lines } }
    }

    func logger(_ sink: Sink, provider: Logger.MetadataProvider? = nil) -> Logger {
        Logger(label: "courierd.test") { label in
            var handler = JSONLogHandler(label: label, output: .custom({ sink.append($0) }), metadataProvider: provider)
            handler.logLevel = .debug
            return handler
        }
    }

    func object(_ line: [UInt8]) throws -> [String: Any] {
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(line.dropLast().contains(UInt8(ascii: "\n")) == false, "one line per entry")
        let parsed = try JSONSerialization.jsonObject(with: Data(line))
        return try #require(parsed as? [String: Any])
    }

    @Test("a line is one JSON object with ts, level, logger, msg first and the metadata flattened")
    func shape() throws {
        let sink = Sink()
        var log = logger(sink)
        log[metadataKey: "amqp"] = ["host": "localhost", "port": "5672"]
        log.warning("dead-lettering", metadata: ["error_class": "EventDecodingError", "ids": ["a", "b"], "msg": "shadow"])
        let line = try #require(sink.all.first)
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.hasPrefix(#"{"ts":""#))
        let fields = try object(line)
        #expect(fields["level"] as? String == "warning")
        #expect(fields["logger"] as? String == "courierd.test")
        #expect(fields["msg"] as? String == "dead-lettering")
        #expect(fields["error_class"] as? String == "EventDecodingError")
        #expect(fields["amqp.host"] as? String == "localhost")
        #expect(fields["amqp.port"] as? String == "5672")
        #expect(fields["ids"] as? [String] == ["a", "b"])
        #expect(fields["meta.msg"] as? String == "shadow", "a metadata key never replaces a fixed one")
        let ts = try #require(fields["ts"] as? String)
        #expect(ts.count == 24 && ts.hasSuffix("Z"), "\(ts)")
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = try #require(formatter.date(from: ts))
        #expect(abs(date.timeIntervalSinceNow) < 3600)
    }

    @Test("strings from the wire cannot break the line or forge a field")
    func hostileStrings() throws {
        let sink = Sink()
        let hostile = "id\n{\"level\":\"critical\"}\u{0}\u{1b}[31m\"\\ é 🚀"
        logger(sink).info("handler failed: \(hostile)", metadata: ["event_id": "\(hostile)"])
        let line = try #require(sink.all.first)
        let fields = try object(line)
        #expect(fields["level"] as? String == "info")
        #expect(fields["event_id"] as? String == hostile, "the value round-trips exactly")
        #expect(fields["msg"] as? String == "handler failed: \(hostile)")
    }

    @Test("the event's id, type and trace id come from the task's context through the metadata provider")
    func eventMetadata() throws {
        let sink = Sink()
        let log = logger(sink, provider: .courierEvent)
        let event = EventLogContext(
            eventID: "e-1\nforged", eventType: "USER_FOLLOWED_TARGET",
            traceID: EventLogContext.traceID(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        event.withValue { log.info("inside") }
        log.info("outside")
        let inside = try object(sink.all[0])
        #expect(inside["event_id"] as? String == "e-1?forged", "control characters replaced")
        #expect(inside["event_type"] as? String == "USER_FOLLOWED_TARGET")
        #expect(inside["trace_id"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
        let outside = try object(sink.all[1])
        #expect(outside["event_id"] == nil && outside["trace_id"] == nil)
    }

    @Test("secrets are masked in the message, in the call's metadata and in metadata set on the logger")
    func masking() throws {
        let sink = Sink()
        var log = Logger(label: "courierd.otel") { label in
            var inner = JSONLogHandler(label: label, output: .custom({ sink.append($0) }))
            inner.logLevel = .debug
            return SecretMaskingLogHandler(inner: inner, secrets: ["Bearer s3cr3t", "s3cr3t", ""])
        }
        log[metadataKey: "environment_value"] = "authorization=Bearer s3cr3t"
        log.info("read OTEL_EXPORTER_OTLP_HEADERS=Bearer s3cr3t", metadata: ["nested": ["value": "x s3cr3t y"], "list": ["s3cr3t"]])
        let line = String(decoding: try #require(sink.all.first), as: UTF8.self)
        #expect(!line.contains("s3cr3t"), "\(line)")
        let fields = try object(try #require(sink.all.first))
        #expect(fields["environment_value"] as? String == "authorization=***")
        #expect(fields["msg"] as? String == "read OTEL_EXPORTER_OTLP_HEADERS=***")
        #expect(fields["nested.value"] as? String == "x *** y")
    }

    @Test("only a valid W3C traceparent yields a trace id")
    func traceIDs() {
        #expect(EventLogContext.traceID(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == "4bf92f3577b34da6a3ce929d0e0e4736")
        for bad in ["", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            String(repeating: "0", count: 10_000)]
        {
            #expect(EventLogContext.traceID(traceparent: bad) == nil, "\(bad.prefix(60))")
        }
        #expect(EventLogContext.traceID(traceparent: nil) == nil)
    }
}
