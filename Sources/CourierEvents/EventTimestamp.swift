import CourierSupport
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// ISO-8601 / RFC 3339 timestamps, parsed and written by hand (no `DateFormatter`: this runs for
/// every date of every event).
///
/// **Accepted:** `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` — what JavaScript's `toISOString()`
/// writes (`2026-11-28T10:15:30.123Z`), without a fraction, with any number of fraction digits
/// (kept to the microsecond, truncated beyond), with a numeric offset. `T` and `Z` may be lower
/// case (RFC 3339 allows it). Years 0000…9999 only, and the instant must be in that range in UTC.
///
/// **Rejected:** date-only or time-only text, a missing time zone, a space instead of `T`, basic
/// format (`20261128T…`, `+0200`), a comma as decimal mark, out-of-range fields (month 13, day 31
/// in April, 29 February of a common year, hour 24, minute or second 60 — leap seconds included,
/// since `Date` cannot hold them), expanded years.
///
/// **Precision:** instants are whole microseconds since the Unix epoch (`Int64`). A `Date` is made
/// as `Date(timeIntervalSince1970: Double(µs) / 1_000_000)` — the same `Date` as the literal
/// `Date(timeIntervalSince1970: 1795861730.123)` — and `microseconds(of:)` inverts it exactly, so
/// any date the decoder produced (and any date written as a millisecond or microsecond literal)
/// survives encode → decode unchanged. Other dates are rounded to the nearest microsecond.
public enum EventTimestamp {
    /// Why a timestamp was rejected.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// Microseconds since 1970-01-01T00:00:00Z of 0000-01-01T00:00:00Z.
    public static let minMicroseconds: Int64 = -62_167_219_200_000_000
    /// Microseconds since 1970-01-01T00:00:00Z of 9999-12-31T23:59:59.999999Z.
    public static let maxMicroseconds: Int64 = 253_402_300_799_999_999

    /// Parses a timestamp into a `Date`; nil when it is not a valid RFC 3339 date-time.
    public static func parse(_ text: String) -> Date? {
        guard let micros = try? parseMicroseconds(text) else { return nil }
        return date(fromMicroseconds: micros)
    }

    /// Parses a timestamp into microseconds since the Unix epoch, saying why when it cannot.
    public static func parseMicroseconds(_ text: String) throws(ParseError) -> Int64 {
        var text = text
        let result: Result<Int64, ParseError> = text.withUTF8 { bytes in
            do throws(ParseError) {
                return .success(try parseMicroseconds(utf8: bytes))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The `Date` of a number of microseconds since the Unix epoch.
    public static func date(fromMicroseconds micros: Int64) -> Date {
        Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }

    /// The whole microseconds since the Unix epoch of `date`: exact for every date made by
    /// `date(fromMicroseconds:)`, the nearest microsecond otherwise; clamped to years 0000…9999
    /// (a non-finite date becomes the epoch).
    public static func microseconds(of date: Date) -> Int64 {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite else { return 0 }
        let scaled = (seconds * 1_000_000).rounded()
        guard scaled > Double(minMicroseconds) else { return minMicroseconds }
        guard scaled < Double(maxMicroseconds) else { return maxMicroseconds }
        let nearest = Int64(scaled)
        for candidate in [nearest, nearest - 1, nearest + 1] where Self.date(fromMicroseconds: candidate) == date {
            return candidate
        }
        return nearest
    }

    /// Formats like `toISOString()`, in UTC: three fraction digits when the date is a whole
    /// millisecond (`2026-11-28T10:15:30.123Z`), six otherwise (`…30.123456Z`).
    public static func format(_ date: Date) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(27)
        write(microseconds: microseconds(of: date), into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Writing

    static func write(microseconds micros: Int64, into out: inout [UInt8]) {
        let clamped = min(max(micros, minMicroseconds), maxMicroseconds)
        let (seconds, fraction) = floorDivMod(clamped, 1_000_000)
        let (days, secondOfDay) = floorDivMod(seconds, 86_400)
        let (year, month, day) = CivilDate.date(fromDays: days)
        writeDigits(year, count: 4, into: &out)
        out.append(Ascii.minus)
        writeDigits(month, count: 2, into: &out)
        out.append(Ascii.minus)
        writeDigits(day, count: 2, into: &out)
        out.append(Ascii.upperT)
        writeDigits(secondOfDay / 3600, count: 2, into: &out)
        out.append(Ascii.colon)
        writeDigits(secondOfDay / 60 % 60, count: 2, into: &out)
        out.append(Ascii.colon)
        writeDigits(secondOfDay % 60, count: 2, into: &out)
        out.append(Ascii.dot)
        if fraction % 1000 == 0 {
            writeDigits(fraction / 1000, count: 3, into: &out)
        } else {
            writeDigits(fraction, count: 6, into: &out)
        }
        out.append(Ascii.upperZ)
    }

    private static func writeDigits(_ value: Int64, count: Int, into out: inout [UInt8]) {
        var divisor: Int64 = 1
        for _ in 1..<count { divisor *= 10 }
        var remaining = value
        while divisor > 0 {
            out.append(Ascii.zero + UInt8(truncatingIfNeeded: remaining / divisor))
            remaining %= divisor
            divisor /= 10
        }
    }

    // MARK: Parsing

    static func parseMicroseconds(utf8 s: UnsafeBufferPointer<UInt8>) throws(ParseError) -> Int64 {
        // Fixed part: YYYY-MM-DDTHH:MM:SS (19 bytes), then fraction and zone.
        guard s.count >= 20 else { throw ParseError(reason: "too short for a date-time with a time zone") }
        let year = try digits(s, 0, 4, "year")
        try expect(s, 4, Ascii.minus, "'-' after the year")
        let month = try digits(s, 5, 2, "month")
        try expect(s, 7, Ascii.minus, "'-' after the month")
        let day = try digits(s, 8, 2, "day")
        guard s[10] == Ascii.upperT || s[10] == Ascii.t else { throw ParseError(reason: "expected 'T' between date and time") }
        let hour = try digits(s, 11, 2, "hour")
        try expect(s, 13, Ascii.colon, "':' after the hour")
        let minute = try digits(s, 14, 2, "minute")
        try expect(s, 16, Ascii.colon, "':' after the minute")
        let second = try digits(s, 17, 2, "second")

        guard (1...12).contains(month) else { throw ParseError(reason: "month \(month) is out of range") }
        guard (1...daysIn(month: month, year: year)).contains(day) else {
            throw ParseError(reason: "day \(day) is out of range for \(year)-\(month < 10 ? "0" : "")\(month)")
        }
        guard hour < 24 else { throw ParseError(reason: "hour \(hour) is out of range") }
        guard minute < 60 else { throw ParseError(reason: "minute \(minute) is out of range") }
        guard second < 60 else { throw ParseError(reason: "second \(second) is out of range") }

        var index = 19
        var fraction: Int64 = 0
        if s[index] == Ascii.dot {
            index += 1
            var count = 0
            while index < s.count, s[index] &- Ascii.zero < 10 {
                if count < 6 { fraction = fraction * 10 + Int64(s[index] - Ascii.zero) }
                count += 1
                index += 1
            }
            guard count > 0 else { throw ParseError(reason: "expected digits after '.'") }
            for _ in min(count, 6)..<6 { fraction *= 10 }
        }

        guard index < s.count else { throw ParseError(reason: "missing time zone ('Z' or ±HH:MM)") }
        var offsetSeconds: Int64 = 0
        switch s[index] {
        case Ascii.upperZ, Ascii.lowerZ:
            index += 1
        case Ascii.plus, Ascii.minus:
            let sign: Int64 = s[index] == Ascii.minus ? -1 : 1
            guard s.count - index == 6 else { throw ParseError(reason: "time zone offset must be ±HH:MM") }
            let offsetHour = try digits(s, index + 1, 2, "offset hour")
            try expect(s, index + 3, Ascii.colon, "':' in the time zone offset")
            let offsetMinute = try digits(s, index + 4, 2, "offset minute")
            guard offsetHour < 24, offsetMinute < 60 else { throw ParseError(reason: "time zone offset is out of range") }
            offsetSeconds = sign * (offsetHour * 3600 + offsetMinute * 60)
            index += 6
        default:
            throw ParseError(reason: "missing time zone ('Z' or ±HH:MM)")
        }
        guard index == s.count else { throw ParseError(reason: "unexpected text after the time zone") }

        let days = CivilDate.days(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        let micros = seconds * 1_000_000 + fraction
        guard micros >= minMicroseconds, micros <= maxMicroseconds else {
            throw ParseError(reason: "instant is outside the years 0000...9999 in UTC")
        }
        return micros
    }

    private static func digits(
        _ s: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int, _ what: String
    ) throws(ParseError) -> Int64 {
        var value: Int64 = 0
        for index in start..<(start + count) {
            let digit = s[index] &- Ascii.zero
            guard digit < 10 else { throw ParseError(reason: "expected \(count) digits for the \(what)") }
            value = value * 10 + Int64(digit)
        }
        return value
    }

    private static func expect(_ s: UnsafeBufferPointer<UInt8>, _ index: Int, _ byte: UInt8, _ what: String) throws(ParseError) {
        guard s[index] == byte else { throw ParseError(reason: "expected \(what)") }
    }

    // MARK: Calendar (proleptic Gregorian; Howard Hinnant's algorithms)

    static func isLeap(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    private static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b
        let r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }
}
