import CourierAMQP
import CourierEngine
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
/// Counters, names and failure ids are read by the engine's ``HeaderValues`` — one parser for the
/// daemon and the CLI; what only the ops side reads (fingerprints, dates, `x-death`) is here.
package enum WireValue {
    /// The largest count kept from a header (attempts, replays, the broker's death and delivery
    /// counts): far above any retry schedule or replay history a person would run (the engine's
    /// schedules are a handful of attempts), far below where `+ 1` or a Postgres `integer`
    /// (2³¹ − 1) could overflow. A larger number is clamped to it, so the index still says
    /// "a very large count"; the exact value stays in the headers.
    package static let maximumCount = HeaderValues.maximumCount

    /// The latest time a header's timestamp may name: 9999-12-31T23:59:59Z. Later ones are
    /// absent — Postgres `timestamptz` and date formatting both have limits, and no parking
    /// happens in the year 10000.
    package static let latestTimestamp: UInt64 = 253_402_300_799

    /// The longest exchange, queue or routing key AMQP can carry (a short string).
    package static let maximumNameBytes = 255

    /// A non-negative count: an integer of any width, or a string of decimal digits only (other
    /// clients send numbers as text). Negative, fractional, signed or non-numeric text, and
    /// other types are absent (nil); above ``maximumCount`` it is clamped to it.
    package static func count(_ value: AMQPFieldValue?) -> Int? {
        HeaderValues.count(value)
    }

    /// Text: a string, or bytes that are valid UTF-8. Anything else is absent.
    package static func text(_ value: AMQPFieldValue?) -> String? {
        value?.stringValue
    }

    /// An exchange, queue or routing key: text of at most ``maximumNameBytes`` bytes without NUL
    /// or other control characters (no broker would have routed it). Empty is allowed — the
    /// default exchange's name.
    package static func name(_ value: AMQPFieldValue?) -> String? {
        HeaderValues.name(value, allowEmpty: true)
    }

    /// A failure id: a UUID in its 36-character text form (any case; returned lower-cased, as
    /// Courier writes them). It is the failure index's key and what `dlq show|replay ID` match,
    /// so nothing else is taken from a header.
    package static func failureID(_ value: AMQPFieldValue?) -> String? {
        HeaderValues.failureID(value)
    }

    package static func isUUID(_ text: String) -> Bool {
        HeaderValues.failureID(.string(text)) != nil
    }

    /// An error fingerprint: 16 hex digits, as `FailureHeaders.fingerprint` writes them; the
    /// failure index groups by it, so anything else is absent (and computed again).
    package static func fingerprint(_ value: AMQPFieldValue?) -> String? {
        guard let text = text(value), text.utf8.count == 16, text.utf8.allSatisfy(isHexDigit) else { return nil }
        return text
    }

    /// An AMQP timestamp up to ``latestTimestamp``, as a date; anything else is absent.
    package static func date(_ value: AMQPFieldValue?) -> Date? {
        guard case .timestamp(let seconds)? = value, seconds <= latestTimestamp else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// The newest entry of the broker's `x-death` (it writes the newest first), if the header is
    /// an array whose first element is a table.
    package static func newestDeath(_ value: AMQPFieldValue?) -> AMQPTable? {
        value?.arrayValue?.first?.tableValue
    }

    /// `count + 1` for a count read from the wire or the index: clamped to `0...maximumCount`
    /// first, so it can neither trap nor grow without bound.
    package static func incremented(_ count: Int) -> Int {
        min(max(count, 0), maximumCount) + 1
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        HeaderValues.isHexDigit(byte)
    }
}
