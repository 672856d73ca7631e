import CourierAMQP
import Foundation

/// Header values of a parked message, read as the untrusted input they are. Pure.
///
/// Anything a publisher sends can end up on a parked message — Courier's own `x-courier-*`
/// headers included (a publisher can set them, and a message the broker parked by its delivery
/// limit carries the original's headers unchanged) — so every value `courier dlq` and the
/// failure index read is checked here: the wrong type, or a value out of range, is *absent*, and
/// the caller falls back as it does for a message that never had the header. Nothing read here
/// can make arithmetic trap, a Postgres column overflow, or a key or a route be chosen by the
/// publisher. The raw headers stay in the message's properties, untouched, for `dlq show`.
///
/// (Courier's engine reads the same headers in `FailureHeaders`; the two should share one parser
/// in CourierEngine. Until they do, this one is the ops side's.)
public enum WireValue {
    /// The largest count kept from a header (attempts, replays, the broker's death and delivery
    /// counts): far above any retry schedule or replay history a person would run (the engine's
    /// schedules are a handful of attempts), far below where `+ 1` or a Postgres `integer`
    /// (2³¹ − 1) could overflow. A larger number is clamped to it, so the index still says
    /// "a very large count"; the exact value stays in the headers.
    public static let maximumCount = 1_000_000

    /// The latest time a header's timestamp may name: 9999-12-31T23:59:59Z. Later ones are
    /// absent — Postgres `timestamptz` and date formatting both have limits, and no parking
    /// happens in the year 10000.
    public static let latestTimestamp: UInt64 = 253_402_300_799

    /// The longest exchange, queue or routing key AMQP can carry (a short string).
    public static let maximumNameBytes = 255

    /// A non-negative count: an integer of any width, or a string of decimal digits only (other
    /// clients send numbers as text). Negative, fractional, signed or non-numeric text, and
    /// other types are absent (nil); above ``maximumCount`` it is clamped to it.
    public static func count(_ value: AMQPFieldValue?) -> Int? {
        guard let value else { return nil }
        switch value {
        case .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64:
            guard let number = value.intValue, number >= 0 else { return nil }
            return Int(min(number, Int64(maximumCount)))
        case .uint64(let number):
            return Int(min(number, UInt64(maximumCount)))
        case .string(let text):
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
            // All digits: only its size can be wrong, and a number too long for Int64 is huge.
            return Int(min(Int64(text) ?? Int64.max, Int64(maximumCount)))
        default:
            return nil
        }
    }

    /// Text: a string, or bytes that are valid UTF-8. Anything else is absent.
    public static func text(_ value: AMQPFieldValue?) -> String? {
        value?.stringValue
    }

    /// An exchange, queue or routing key: text of at most ``maximumNameBytes`` bytes without NUL
    /// or other control characters (no broker would have routed it). Empty is allowed — the
    /// default exchange's name.
    public static func name(_ value: AMQPFieldValue?) -> String? {
        guard let text = text(value), text.utf8.count <= maximumNameBytes,
            !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { return nil }
        return text
    }

    /// A failure id: a UUID in its 36-character text form (any case). It is the failure index's
    /// key and what `dlq show|replay ID` match, so nothing else is taken from a header.
    public static func failureID(_ value: AMQPFieldValue?) -> String? {
        guard let text = text(value), isUUID(text) else { return nil }
        return text
    }

    public static func isUUID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard byte == UInt8(ascii: "-") else { return false }
            } else {
                guard isHexDigit(byte) else { return false }
            }
        }
        return true
    }

    /// An error fingerprint: 16 hex digits, as `FailureHeaders.fingerprint` writes them; the
    /// failure index groups by it, so anything else is absent (and computed again).
    public static func fingerprint(_ value: AMQPFieldValue?) -> String? {
        guard let text = text(value), text.utf8.count == 16, text.utf8.allSatisfy(isHexDigit) else { return nil }
        return text
    }

    /// An AMQP timestamp up to ``latestTimestamp``, as a date; anything else is absent.
    public static func date(_ value: AMQPFieldValue?) -> Date? {
        guard case .timestamp(let seconds)? = value, seconds <= latestTimestamp else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// The newest entry of the broker's `x-death` (it writes the newest first), if the header is
    /// an array whose first element is a table.
    public static func newestDeath(_ value: AMQPFieldValue?) -> AMQPTable? {
        value?.arrayValue?.first?.tableValue
    }

    /// `count + 1` for a count read from the wire or the index: clamped to `0...maximumCount`
    /// first, so it can neither trap nor grow without bound.
    public static func incremented(_ count: Int) -> Int {
        min(max(count, 0), maximumCount) + 1
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}
