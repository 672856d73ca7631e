import CourierSupport
import Foundation

/// Conversions between `Date` and the text forms of `timestamptz`, `timestamp` and `date`.
///
/// Dates are sent as ISO 8601 in UTC with microseconds (Postgres' precision), e.g.
/// `2024-05-01T12:30:00.250000Z`. Parsing accepts what the server prints with `DateStyle=ISO`
/// (`2024-05-01 14:30:00.25+02`, `2024-05-01 12:30:00`, `2024-05-01`), ISO 8601 with `T` and
/// `Z`, a ` BC` suffix and `±infinity`. Values without an offset (`timestamp`, `date`) are UTC.
/// Calendar arithmetic is the proleptic Gregorian one Postgres uses, done without `Calendar`.
public enum PostgresTimestamp {
    /// `yyyy-MM-ddTHH:mm:ss.ffffffZ` in UTC, rounded to the microsecond.
    public static func format(_ date: Date) -> String {
        if date == .distantFuture { return "infinity" }
        if date == .distantPast { return "-infinity" }
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let (days, microsOfDay) = floorDivide(micros, 86_400_000_000)
        let (year, month, day) = CivilDate.date(fromDays: days)
        let seconds = microsOfDay / 1_000_000
        let era = year <= 0 ? " BC" : ""
        return "\(pad(year <= 0 ? 1 - year : year, 4))-\(pad(month, 2))-\(pad(day, 2))"
            + "T\(pad(seconds / 3600, 2)):\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2))"
            + ".\(pad(microsOfDay % 1_000_000, 6))Z\(era)"
    }

    /// Parses a timestamp, timestamp with time zone or date as printed by the server.
    /// - Throws: ``PostgresValueError`` when the text is not such a value.
    public static func parse(_ text: String) throws -> Date {
        switch text {
        case "infinity": return .distantFuture
        case "-infinity": return .distantPast
        default: break
        }
        var scanner = Scanner(text)
        var year = try scanner.number(minDigits: 4, maxDigits: 9)
        try scanner.expect("-")
        let month = try scanner.number(digits: 2)
        try scanner.expect("-")
        let day = try scanner.number(digits: 2)
        var secondsOfDay: Int64 = 0
        var micros: Int64 = 0
        var offsetSeconds: Int64 = 0
        if scanner.consume(" ") || scanner.consume("T") {
            let hour = try scanner.number(digits: 2)
            try scanner.expect(":")
            let minute = try scanner.number(digits: 2)
            try scanner.expect(":")
            let second = try scanner.number(digits: 2)
            guard hour <= 24, minute < 60, second <= 60 else { throw invalid }
            secondsOfDay = hour * 3600 + minute * 60 + second
            if scanner.consume(".") {
                let digits = scanner.digits()
                guard !digits.isEmpty else { throw invalid }
                micros = (0..<6).reduce(0) { value, position in
                    value * 10 + (position < digits.count ? Int64(digits[position] - UInt8(ascii: "0")) : 0)
                }
            }
            if scanner.consume("Z") {
                offsetSeconds = 0
            } else if let sign = scanner.consumeSign() {
                let hours = try scanner.number(digits: 2)
                var minutes: Int64 = 0
                var seconds: Int64 = 0
                if scanner.consume(":") {
                    minutes = try scanner.number(digits: 2)
                    if scanner.consume(":") { seconds = try scanner.number(digits: 2) }
                } else if scanner.peekDigit {
                    minutes = try scanner.number(digits: 2)
                }
                offsetSeconds = sign * (hours * 3600 + minutes * 60 + seconds)
            }
        }
        if scanner.consume(" BC") { year = 1 - year }
        guard scanner.isAtEnd, (1...12).contains(month), (1...31).contains(day) else { throw invalid }
        let seconds = CivilDate.days(year: year, month: month, day: day) * 86_400 + secondsOfDay - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000)
    }

    private static let invalid = PostgresValueError("not a timestamp, timestamptz or date")

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = a >= 0 ? a / b : -((-a + b - 1) / b)
        return (quotient, a - quotient * b)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// A minimal cursor over the UTF-8 of a timestamp.
    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(_ text: String) { bytes = Array(text.utf8) }

        var isAtEnd: Bool { index == bytes.count }
        var peekDigit: Bool { index < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) }

        mutating func consume(_ literal: String) -> Bool {
            let literalBytes = Array(literal.utf8)
            guard bytes[index...].starts(with: literalBytes) else { return false }
            index += literalBytes.count
            return true
        }

        mutating func expect(_ literal: String) throws {
            guard consume(literal) else { throw PostgresTimestamp.invalid }
        }

        mutating func consumeSign() -> Int64? {
            if consume("+") { return 1 }
            if consume("-") { return -1 }
            return nil
        }

        mutating func digits() -> [UInt8] {
            let start = index
            while peekDigit { index += 1 }
            return Array(bytes[start..<index])
        }

        /// Reads between `minDigits` and `maxDigits` digits (stopping after `maxDigits`).
        mutating func number(minDigits: Int, maxDigits: Int) throws -> Int64 {
            let start = index
            while index - start < maxDigits, peekDigit { index += 1 }
            let digits = bytes[start..<index]
            guard (minDigits...maxDigits).contains(digits.count) else { throw PostgresTimestamp.invalid }
            return digits.reduce(0) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
        }

        mutating func number(digits count: Int) throws -> Int64 {
            try number(minDigits: count, maxDigits: count)
        }
    }
}
