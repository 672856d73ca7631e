import CourierAMQP

/// Reading header values of a delivery: untrusted input.
///
/// A publisher may put anything in any header — Courier's own `x-courier-*` ones and the broker's
/// `x-death`/`x-delivery-count` included — so every value the engine, the handlers or the ops
/// tools act on is read through here: a value of the wrong type, out of range or malformed counts
/// as absent (counters are clamped), and never reaches arithmetic, SQL or routing as it came.
package enum HeaderValues {
    /// The most tries Courier will believe a message had. Far above any retry schedule, far below
    /// where adding to it could overflow; a larger value is read as this one.
    package static let maximumCount = 1_000_000

    /// A non-negative counter, clamped to `0...maximum`: any AMQP integer type, or a string of at
    /// most 18 decimal digits (some clients send numbers as text; a longer one is clamped). Negative values, other types,
    /// signs, dots, spaces and empty strings are nil.
    package static func count(_ value: AMQPFieldValue?, maximum: Int = maximumCount) -> Int? {
        guard let value else { return nil }
        let parsed: Int64?
        switch value {
        case .int8(let v): parsed = Int64(v)
        case .uint8(let v): parsed = Int64(v)
        case .int16(let v): parsed = Int64(v)
        case .uint16(let v): parsed = Int64(v)
        case .int32(let v): parsed = Int64(v)
        case .uint32(let v): parsed = Int64(v)
        case .int64(let v): parsed = v
        case .uint64(let v): parsed = Int64(clamping: v)
        case .string(let text): parsed = digits(text)
        default: parsed = nil
        }
        guard let parsed, parsed >= 0 else { return nil }
        return Int(min(parsed, Int64(max(0, maximum))))
    }

    /// An exchange, routing key or queue name: text of at most 255 bytes of UTF-8 (an AMQP short
    /// string) without control characters (no broker would have routed it). `allowEmpty` admits
    /// "" (the default exchange).
    package static func name(_ value: AMQPFieldValue?, allowEmpty: Bool = false) -> String? {
        guard let text = value?.stringValue else { return nil }
        let bytes = text.utf8
        guard bytes.count <= 255, allowEmpty || !bytes.isEmpty else { return nil }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return nil }
        return text
    }

    /// A failure id as Courier writes them: a UUID in its 36-character text form (any case);
    /// returned lower-cased.
    package static func failureID(_ value: AMQPFieldValue?) -> String? {
        guard let text = value?.stringValue, text.utf8.count == 36 else { return nil }
        for (index, byte) in text.utf8.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard byte == UInt8(ascii: "-") else { return nil }
            } else {
                guard isHexDigit(byte) else { return nil }
            }
        }
        return text.lowercased()
    }

    /// Text of at most `maximumBytes` of UTF-8 without NUL, or nil.
    package static func text(_ value: AMQPFieldValue?, maximumBytes: Int = 1024) -> String? {
        guard let text = value?.stringValue, text.utf8.count <= maximumBytes, !text.utf8.contains(0) else { return nil }
        return text
    }

    private static func digits<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 18 else {
            // Longer digit strings are huge, not malformed: clamp them like a huge integer.
            return bytes.count > 18 && bytes.allSatisfy(isDecimalDigit) ? Int64.max : nil
        }
        var value: Int64 = 0
        for byte in bytes {
            guard isDecimalDigit(byte) else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))  // 18 digits cannot overflow
        }
        return value
    }

    private static func digits(_ text: String) -> Int64? { digits(text.utf8) }

    private static func isDecimalDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    package static func isHexDigit(_ byte: UInt8) -> Bool {
        isDecimalDigit(byte) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46)
    }
}
