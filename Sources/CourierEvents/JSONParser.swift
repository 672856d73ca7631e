/// A strict RFC 8259 parser over UTF-8 bytes.
///
/// Hand-written because decoding is on the hot path (every delivery): it walks the bytes once,
/// builds strings without escapes straight from the buffer, and never goes through `Any`.
/// Recursion is bounded by `maxDepth`, so no input can exhaust the stack.
struct JSONParser {
    /// The deepest nesting of arrays and objects accepted.
    static let maxDepth = 256

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0

    private init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    static func parse(_ input: [UInt8]) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = input.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(bytes: buffer)
            do throws(JSONParseError) {
                return .success(try parser.parseDocument())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    // MARK: Structure

    private mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            index = 3
        }
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard index == bytes.count else { throw fail("unexpected data after the JSON value") }
        return value
    }

    private mutating func parseValue() throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw fail("unexpected end of input, expected a value") }
        switch bytes[index] {
        case Ascii.openBrace: return try parseObject()
        case Ascii.openBracket: return try parseArray()
        case Ascii.quote: return .string(try parseString())
        case Ascii.t: try expectLiteral("true"); return .bool(true)
        case Ascii.f: try expectLiteral("false"); return .bool(false)
        case Ascii.n: try expectLiteral("null"); return .null
        case Ascii.minus, Ascii.zero...Ascii.nine: return .number(try parseNumber())
        default: throw fail("unexpected character \(describe(bytes[index])), expected a value")
        }
    }

    private mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enterContainer()
        index += 1  // {
        skipWhitespace()
        var object: [String: JSONValue] = [:]
        if index < bytes.count, bytes[index] == Ascii.closeBrace {
            index += 1
            depth -= 1
            return .object(object)
        }
        while true {
            guard index < bytes.count else { throw fail("unterminated object") }
            guard bytes[index] == Ascii.quote else { throw fail("expected a string key, found \(describe(bytes[index]))") }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == Ascii.colon else { throw fail("expected ':' after an object key") }
            index += 1
            skipWhitespace()
            object[key] = try parseValue()
            skipWhitespace()
            guard index < bytes.count else { throw fail("unterminated object") }
            switch bytes[index] {
            case Ascii.comma:
                index += 1
                skipWhitespace()
            case Ascii.closeBrace:
                index += 1
                depth -= 1
                return .object(object)
            default:
                throw fail("expected ',' or '}' in an object, found \(describe(bytes[index]))")
            }
        }
    }

    private mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enterContainer()
        index += 1  // [
        skipWhitespace()
        var array: [JSONValue] = []
        if index < bytes.count, bytes[index] == Ascii.closeBracket {
            index += 1
            depth -= 1
            return .array(array)
        }
        while true {
            array.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw fail("unterminated array") }
            switch bytes[index] {
            case Ascii.comma:
                index += 1
                skipWhitespace()
                if index < bytes.count, bytes[index] == Ascii.closeBracket { throw fail("trailing comma in an array") }
            case Ascii.closeBracket:
                index += 1
                depth -= 1
                return .array(array)
            default:
                throw fail("expected ',' or ']' in an array, found \(describe(bytes[index]))")
            }
        }
    }

    private mutating func enterContainer() throws(JSONParseError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth) levels") }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw fail("invalid literal, expected '\(literal)'") }
        let matches = literal.withUTF8Buffer { expected in
            for offset in 0..<count where bytes[index + offset] != expected[offset] { return false }
            return true
        }
        guard matches else { throw fail("invalid literal, expected '\(literal)'") }
        index += count
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case Ascii.space, Ascii.tab, Ascii.lineFeed, Ascii.carriageReturn: index += 1
            default: return
            }
        }
    }

    // MARK: Numbers

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func parseNumber() throws(JSONParseError) -> Double {
        let start = index
        var negative = false
        if bytes[index] == Ascii.minus {
            negative = true
            index += 1
        }
        guard index < bytes.count, isDigit(bytes[index]) else { throw fail("expected a digit in a number") }
        var integer: UInt64 = 0
        var integerDigits = 0
        if bytes[index] == Ascii.zero {
            index += 1
            if index < bytes.count, isDigit(bytes[index]) { throw fail("leading zero in a number") }
        } else {
            while index < bytes.count, isDigit(bytes[index]) {
                integer = integer &* 10 &+ UInt64(bytes[index] &- Ascii.zero)
                integerDigits += 1
                index += 1
            }
        }
        var isInteger = true
        if index < bytes.count, bytes[index] == Ascii.dot {
            isInteger = false
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail("expected a digit after '.' in a number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == Ascii.e || bytes[index] == Ascii.upperE {
            isInteger = false
            index += 1
            if index < bytes.count, bytes[index] == Ascii.plus || bytes[index] == Ascii.minus { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail("expected a digit in a number's exponent") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        // Integers of up to 15 digits are exact in a Double: no need for the general conversion.
        if isInteger, integerDigits <= 15 {
            return negative ? -Double(integer) : Double(integer)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(text) else { throw fail("number out of range", at: start) }
        return value
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte &- Ascii.zero < 10 }

    // MARK: Strings

    /// Parses a string starting at its opening quote. The common case — no escapes — makes the
    /// `String` straight from the input bytes.
    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1  // "
        let start = index
        var ascii = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte == Ascii.quote {
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if ascii { return String(decoding: raw, as: UTF8.self) }
                guard let string = String(validating: raw, as: UTF8.self) else {
                    throw fail("invalid UTF-8 in a string", at: start)
                }
                return string
            }
            if byte == Ascii.backslash { return try parseEscapedString(from: start) }
            if byte < 0x20 { throw fail("unescaped control character \(describe(byte)) in a string") }
            if byte >= 0x80 { ascii = false }
            index += 1
        }
        throw fail("unterminated string", at: start - 1)
    }

    /// The slow path: a string with escapes, decoded into a scratch buffer.
    private mutating func parseEscapedString(from start: Int) throws(JSONParseError) -> String {
        var scratch: [UInt8] = []
        scratch.reserveCapacity(index - start + 16)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case Ascii.quote:
                index += 1
                guard let string = String(validating: scratch, as: UTF8.self) else {
                    throw fail("invalid UTF-8 in a string", at: start)
                }
                return string
            case Ascii.backslash:
                try parseEscape(into: &scratch)
            case 0..<0x20:
                throw fail("unescaped control character \(describe(byte)) in a string")
            default:
                scratch.append(byte)
                index += 1
            }
        }
        throw fail("unterminated string", at: start - 1)
    }

    private mutating func parseEscape(into scratch: inout [UInt8]) throws(JSONParseError) {
        index += 1  // backslash
        guard index < bytes.count else { throw fail("unterminated escape sequence") }
        let escape = bytes[index]
        index += 1
        switch escape {
        case Ascii.quote: scratch.append(Ascii.quote)
        case Ascii.backslash: scratch.append(Ascii.backslash)
        case Ascii.slash: scratch.append(Ascii.slash)
        case Ascii.b: scratch.append(0x08)
        case Ascii.f: scratch.append(0x0C)
        case Ascii.n: scratch.append(Ascii.lineFeed)
        case Ascii.r: scratch.append(Ascii.carriageReturn)
        case Ascii.t: scratch.append(Ascii.tab)
        case Ascii.u:
            let first = try parseHex4()
            var scalarValue = UInt32(first)
            switch first {
            case 0xD800...0xDBFF:
                guard bytes.count - index >= 6, bytes[index] == Ascii.backslash, bytes[index + 1] == Ascii.u else {
                    throw fail("lone high surrogate \\u\(hex(first)) in a string")
                }
                index += 2
                let second = try parseHex4()
                guard (0xDC00...0xDFFF).contains(second) else {
                    throw fail("high surrogate \\u\(hex(first)) not followed by a low surrogate")
                }
                scalarValue = 0x10000 + ((UInt32(first) - 0xD800) << 10) + (UInt32(second) - 0xDC00)
            case 0xDC00...0xDFFF:
                throw fail("lone low surrogate \\u\(hex(first)) in a string")
            default:
                break
            }
            appendUTF8(scalarValue, to: &scratch)
        default:
            throw fail("invalid escape sequence \\\(describe(escape)) in a string", at: index - 2)
        }
    }

    /// Appends a scalar value (never a surrogate here) as UTF-8.
    private func appendUTF8(_ value: UInt32, to scratch: inout [UInt8]) {
        switch value {
        case 0..<0x80:
            scratch.append(UInt8(truncatingIfNeeded: value))
        case 0x80..<0x800:
            scratch.append(0xC0 | UInt8(truncatingIfNeeded: value >> 6))
            scratch.append(0x80 | UInt8(truncatingIfNeeded: value & 0x3F))
        case 0x800..<0x10000:
            scratch.append(0xE0 | UInt8(truncatingIfNeeded: value >> 12))
            scratch.append(0x80 | UInt8(truncatingIfNeeded: (value >> 6) & 0x3F))
            scratch.append(0x80 | UInt8(truncatingIfNeeded: value & 0x3F))
        default:
            scratch.append(0xF0 | UInt8(truncatingIfNeeded: value >> 18))
            scratch.append(0x80 | UInt8(truncatingIfNeeded: (value >> 12) & 0x3F))
            scratch.append(0x80 | UInt8(truncatingIfNeeded: (value >> 6) & 0x3F))
            scratch.append(0x80 | UInt8(truncatingIfNeeded: value & 0x3F))
        }
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt16 {
        guard bytes.count - index >= 4 else { throw fail("incomplete \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case Ascii.zero...Ascii.nine: digit = byte - Ascii.zero
            case Ascii.a...Ascii.lowerF: digit = byte - Ascii.a + 10
            case Ascii.upperA...Ascii.upperF: digit = byte - Ascii.upperA + 10
            default: throw fail("invalid hex digit \(describe(byte)) in a \\u escape")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    // MARK: Errors

    private func fail(_ reason: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? index, reason: reason)
    }

    private func describe(_ byte: UInt8) -> String {
        if byte >= 0x20, byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "0x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16, uppercase: true)
    }

    private func hex(_ value: UInt16) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }
}

/// The ASCII bytes the parsers look for.
enum Ascii {
    static let tab: UInt8 = 0x09
    static let lineFeed: UInt8 = 0x0A
    static let carriageReturn: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22
    static let plus: UInt8 = 0x2B
    static let comma: UInt8 = 0x2C
    static let minus: UInt8 = 0x2D
    static let dot: UInt8 = 0x2E
    static let slash: UInt8 = 0x2F
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39
    static let colon: UInt8 = 0x3A
    static let upperA: UInt8 = 0x41
    static let upperE: UInt8 = 0x45
    static let upperF: UInt8 = 0x46
    static let upperT: UInt8 = 0x54
    static let upperZ: UInt8 = 0x5A
    static let openBracket: UInt8 = 0x5B
    static let backslash: UInt8 = 0x5C
    static let closeBracket: UInt8 = 0x5D
    static let a: UInt8 = 0x61
    static let b: UInt8 = 0x62
    static let e: UInt8 = 0x65
    static let f: UInt8 = 0x66
    static let lowerF: UInt8 = 0x66
    static let n: UInt8 = 0x6E
    static let r: UInt8 = 0x72
    static let t: UInt8 = 0x74
    static let u: UInt8 = 0x75
    static let lowerZ: UInt8 = 0x7A
    static let openBrace: UInt8 = 0x7B
    static let closeBrace: UInt8 = 0x7D
}
