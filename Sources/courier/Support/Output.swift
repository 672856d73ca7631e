import CourierFailureIndex
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where `courier` writes: results to stdout (tables for people, `--json` for scripts),
/// progress and errors to stderr. Colour only when stdout is a terminal and `NO_COLOR` is unset.
enum Output {
    static let isTerminal = isatty(STDOUT_FILENO) == 1
    static let stderrIsTerminal = isatty(STDERR_FILENO) == 1
    static let useColour = isTerminal && ProcessInfo.processInfo.environment["NO_COLOR"] == nil

    static func line(_ text: String = "") {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data(("courier: " + text + "\n").utf8))
    }

    static func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func bold(_ text: String) -> String { useColour ? "\u{1B}[1m\(text)\u{1B}[0m" : text }
    static func red(_ text: String) -> String { useColour ? "\u{1B}[31m\(text)\u{1B}[0m" : text }
    static func green(_ text: String) -> String { useColour ? "\u{1B}[32m\(text)\u{1B}[0m" : text }
    static func dim(_ text: String) -> String { useColour ? "\u{1B}[2m\(text)\u{1B}[0m" : text }

    /// An aligned table; `headers` in bold on a terminal.
    static func table(_ headers: [String], _ rows: [[String]]) {
        var widths = headers.map(\.count)
        let rows = rows.map { $0.map { printable($0) } }
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func render(_ cells: [String], style: (String) -> String = { $0 }) -> String {
            cells.enumerated().map { index, cell in
                let padded = index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                return style(padded)
            }.joined(separator: "  ")
        }
        line(render(headers, style: bold))
        for row in rows { line(render(row)) }
    }

    /// One JSON document on stdout: keys sorted, dates in ISO 8601.
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        line(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func timestamp(_ date: Date) -> String { date.formatted(.iso8601) }

    /// An AMQP timestamp from a message: as a date when it is one (up to year 9999), else the
    /// number as sent.
    static func timestamp(seconds: UInt64) -> String {
        WireValue.date(.timestamp(seconds)).map(timestamp) ?? "\(seconds) (out of range)"
    }

    /// Text from a message made harmless on a terminal: control characters (ESC sequences could
    /// rewrite the operator's screen, NUL and CR hide what follows) shown as `\u{1B}`, `\0`, …
    /// Newlines are kept when `keepingNewlines` (a body shown as text).
    static func printable(_ text: String, keepingNewlines: Bool = false) -> String {
        func escaped(_ scalar: Unicode.Scalar) -> Bool { isControl(scalar) && !(keepingNewlines && scalar == "\n") }
        guard text.unicodeScalars.contains(where: escaped) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            if escaped(scalar) {
                result += scalar.value == 0 ? "\\0" : "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control && scalar != "\t"
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// `42s`, `17m`, `3h12m`, `5d`. (Clamped before the conversion: a date from a header can be
    /// anything, and `Int(_:)` of a huge or non-finite interval traps.)
    static func age(since date: Date, now: Date = Date()) -> String {
        let interval = now.timeIntervalSince(date)
        let seconds = interval.isFinite ? Int(min(max(0, interval), 1e15)) : 0
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m" }
        if seconds < 86400 { return "\(seconds / 3600)h\(seconds % 3600 / 60)m" }
        return "\(seconds / 86400)d"
    }

    static func truncated(_ text: String, _ length: Int) -> String {
        text.count <= length ? text : String(text.prefix(length - 1)) + "…"
    }
}
