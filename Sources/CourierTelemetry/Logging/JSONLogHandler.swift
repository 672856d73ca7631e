import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A swift-log handler that writes one JSON object per line:
///
/// ```json
/// {"ts":"2026-12-05T15:04:05.123Z","level":"warning","logger":"courierd","msg":"dead-lettering","error_class":"EventDecodingError","event_id":"…","trace_id":"…"}
/// ```
///
/// - `ts` (UTC, milliseconds), `level` (swift-log's names: trace … critical), `logger` (the
///   label) and `msg` come first, always, with these names; then the metadata — the logger's,
///   the metadata provider's (the event's id, type and trace id), the call's, later ones winning
///   — sorted by key.
/// - Nested metadata is flattened: `["amqp": ["host": "x"]]` becomes `"amqp.host":"x"`; a list
///   becomes a JSON array of strings. A metadata key equal to one of the four fixed keys is
///   written as `meta.<key>`, so the fixed keys keep their meaning.
/// - Strings are escaped as JSON requires (control characters as `\uXXXX`), so a value from the
///   wire cannot break a line in two or forge a field.
/// - Each line is written with one `write(2)` (repeated only for what a short write left), so
///   lines from several threads do not interleave: a pipe guarantees it up to `PIPE_BUF` (4 KiB),
///   and journald and files take a whole write at once in practice.
package struct JSONLogHandler: LogHandler {
    /// Where lines go: standard error, or a closure (tests).
    package enum Output: Sendable {
        case standardError
        case custom(@Sendable ([UInt8]) -> Void)
    }

    package var metadata: Logger.Metadata = [:]
    package var logLevel: Logger.Level = .info
    package var metadataProvider: Logger.MetadataProvider?
    package let label: String
    let output: Output

    package init(label: String, output: Output = .standardError, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.output = output
        self.metadataProvider = metadataProvider
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        if let error = event.error, merged["error"] == nil { merged["error"] = .string("\(error)") }
        let line = Self.line(
            timestamp: Self.now(), level: event.level, label: label, message: "\(event.message)", metadata: merged)
        switch output {
        case .standardError:
            line.withUnsafeBufferPointer { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0, errno == EINTR {
                        continue
                    } else {
                        return
                    }
                }
            }
        case .custom(let sink):
            sink(line)
        }
    }

    static let fixedKeys: Set<String> = ["ts", "level", "logger", "msg"]

    /// One line, newline included.
    static func line(
        timestamp: (seconds: Int, milliseconds: Int), level: Logger.Level, label: String, message: String, metadata: Logger.Metadata
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + message.utf8.count)
        out.append(contentsOf: #"{"ts":""#.utf8)
        appendTimestamp(timestamp, to: &out)
        out.append(contentsOf: #"","level":""#.utf8)
        out.append(contentsOf: level.rawValue.utf8)
        out.append(contentsOf: #"","logger":"#.utf8)
        appendString(label, to: &out)
        out.append(contentsOf: #","msg":"#.utf8)
        appendString(message, to: &out)
        var flat: [(String, Logger.Metadata.Value)] = []
        flatten(metadata, prefix: "", into: &flat)
        flat.sort { $0.0 < $1.0 }
        for (key, value) in flat {
            out.append(UInt8(ascii: ","))
            appendString(fixedKeys.contains(key) ? "meta.\(key)" : key, to: &out)
            out.append(UInt8(ascii: ":"))
            appendValue(value, to: &out)
        }
        out.append(contentsOf: "}\n".utf8)
        return out
    }

    private static func flatten(_ metadata: Logger.Metadata, prefix: String, into flat: inout [(String, Logger.Metadata.Value)]) {
        for (key, value) in metadata {
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            if case .dictionary(let nested) = value, !nested.isEmpty {
                flatten(nested, prefix: name, into: &flat)
            } else {
                flat.append((name, value))
            }
        }
    }

    private static func appendValue(_ value: Logger.Metadata.Value, to out: inout [UInt8]) {
        switch value {
        case .string(let string): appendString(string, to: &out)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                appendValue(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .dictionary(let nested):
            // Only an empty dictionary gets here (others are flattened).
            appendString(nested.isEmpty ? "" : "\(nested)", to: &out)
        }
    }

    static func appendString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): out.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): out.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): out.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20, 0x7F:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Seconds since the epoch and milliseconds.
    static func now() -> (seconds: Int, milliseconds: Int) {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return (Int(spec.tv_sec), Int(spec.tv_nsec) / 1_000_000)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    static func appendTimestamp(_ time: (seconds: Int, milliseconds: Int), to out: inout [UInt8]) {
        var seconds = time_t(time.seconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var value = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8((value / divisor) % 10))
                value %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        out.append(UInt8(ascii: "."))
        digits(time.milliseconds, 3)
        out.append(UInt8(ascii: "Z"))
    }
}
