import CourierTesting
import Foundation
import Testing
@testable import CourierEvents

struct JSONCase: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var expected: JSONValue?

    init(_ text: String, _ expected: JSONValue? = nil) {
        name = text
        bytes = Array(text.utf8)
        self.expected = expected
    }

    init(_ name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }

    var testDescription: String { name.debugDescription }
}

@Suite("JSON parser")
struct JSONParserTests {
    @Test("accepted documents and their values", arguments: [
        JSONCase("{}", .object([:])),
        JSONCase("[]", .array([])),
        JSONCase(" \t\r\n{ } \n", .object([:])),
        JSONCase(#""""#, .string("")),
        JSONCase("0", .number(0)),
        JSONCase("-0", .number(-0.0)),
        JSONCase("123456789012345", .number(123_456_789_012_345)),
        JSONCase("12345678901234567890", .number(1.2345678901234567e19)),
        JSONCase("-12.5e-1", .number(-1.25)),
        JSONCase("1E+2", .number(100)),
        JSONCase("0.5", .number(0.5)),
        JSONCase("1e400", .number(.infinity)),
        JSONCase("true", .bool(true)),
        JSONCase("false", .bool(false)),
        JSONCase("null", .null),
        JSONCase(#"{"a" : [1, 2, {"b": null}], "c": {"d": true}}"#,
                 .object(["a": .array([.number(1), .number(2), .object(["b": .null])]), "c": .object(["d": .bool(true)])])),
        JSONCase(#""\"\\\/\b\f\n\r\t""#, .string("\"\\/\u{8}\u{C}\n\r\t")),
        JSONCase(#""\u0041\u00e9\u00E9\u20ac\ud83d\ude00\uD83D\uDE00""#, .string("Aéé€😀😀")),
        JSONCase(#""\u0000""#, .string("\u{0}")),
        JSONCase(#""prefix\nsuffix é""#, .string("prefix\nsuffix é")),
        JSONCase("\"é — ✨ 😀\"", .string("é — ✨ 😀")),
        JSONCase("\u{FEFF}{\"a\":1}", .object(["a": .number(1)])),
        JSONCase(#"{"a":1,"a":2}"#, .object(["a": .number(2)])),
        JSONCase(#"{"":""}"#, .object(["": .string("")])),
        JSONCase(String(repeating: "[", count: 200) + String(repeating: "]", count: 200), nil),
    ])
    func accepted(_ c: JSONCase) throws {
        let value = try JSONValue.parse(c.bytes)
        if let expected = c.expected { #expect(value == expected) }
    }

    @Test("rejected documents", arguments: [
        JSONCase(""), JSONCase("   "), JSONCase("\u{FEFF}"), JSONCase("{"), JSONCase("}"), JSONCase("["), JSONCase("[1"),
        JSONCase(#"{"a"}"#), JSONCase(#"{"a":}"#), JSONCase(#"{"a" 1}"#), JSONCase(#"{"a":1,}"#), JSONCase("[1,]"),
        JSONCase("[,1]"), JSONCase("[1 2]"), JSONCase(#"{"a":1 "b":2}"#), JSONCase("{'a':1}"), JSONCase("{a:1}"),
        JSONCase(#"{1:1}"#), JSONCase(#"{"a":1}x"#), JSONCase(#"{"a":1}{}"#), JSONCase("[] []"),
        JSONCase(#""abc"#), JSONCase(#""abc\"#), JSONCase(#""\x""#), JSONCase(#""\'""#), JSONCase(#""\u12""#),
        JSONCase(#""\u12G4""#), JSONCase(#""\U0041""#), JSONCase(#""\ud800""#), JSONCase(#""\udc00""#),
        JSONCase(#""\ud800\u0041""#), JSONCase(#""\ud800\ud800""#), JSONCase(#""\ud800x""#), JSONCase(#""\ude00\ud83d""#),
        JSONCase("\"a\u{1}b\""), JSONCase("\"tab\there\""), JSONCase("\"new\nline\""), JSONCase("\"\u{0}\""),
        JSONCase("01"), JSONCase("-01"), JSONCase("00"), JSONCase("1."), JSONCase(".5"), JSONCase("-"), JSONCase("1e"),
        JSONCase("1e+"), JSONCase("+1"), JSONCase("0x10"), JSONCase("NaN"), JSONCase("Infinity"), JSONCase("-Infinity"),
        JSONCase("tru"), JSONCase("nul"), JSONCase("True"), JSONCase("nulll"), JSONCase("undefined"),
        JSONCase("[1,2]]"), JSONCase("{\"a\":[}"), JSONCase("\u{00A0}{}"), JSONCase("{}\u{0}"),
        JSONCase(String(repeating: "[", count: 300) + String(repeating: "]", count: 300)),
        JSONCase(String(repeating: "{\"a\":", count: 100_000)),
        JSONCase("invalid byte", bytes: [0x22, 0xFF, 0x22]),
        JSONCase("overlong NUL", bytes: [0x22, 0xC0, 0x80, 0x22]),
        JSONCase("truncated sequence", bytes: [0x22, 0xE2, 0x82, 0x22]),
        JSONCase("encoded surrogate", bytes: [0x22, 0xED, 0xA0, 0x80, 0x22]),
        JSONCase("beyond U+10FFFF", bytes: [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22]),
        JSONCase("invalid byte after an escape", bytes: [0x22, 0x5C, 0x6E, 0xFE, 0x22]),
        JSONCase("non-ASCII outside strings", bytes: [0x7B, 0xC3, 0xA9, 0x7D]),
        JSONCase("UTF-16", bytes: [0xFF, 0xFE, 0x7B, 0x00, 0x7D, 0x00]),
    ])
    func rejected(_ c: JSONCase) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(c.bytes) }
        #expect(decodingError(c.bytes)?.code == .malformedJSON)
    }

    @Test("errors say where and what")
    func errorDetails() {
        #expect(throws: JSONParseError(offset: 1, reason: "unterminated string")) { try JSONValue.parse(Array(#"["abc"#.utf8)) }
        #expect(throws: JSONParseError(offset: 1, reason: "leading zero in a number")) { try JSONValue.parse(Array("01".utf8)) }
        do {
            _ = try JSONValue.parse(Array(#"{"a":1,}"#.utf8))
            Issue.record("accepted a trailing comma")
        } catch {
            #expect(error.offset == 7)
        }
    }

    @Test("agrees with JSONSerialization on every sample body", arguments: samples)
    func agreesWithFoundation(_ sample: Sample) throws {
        let ours = try JSONValue.parse(sample.body.bytes)
        let theirs = try JSONSerialization.jsonObject(with: Data(sample.body.bytes)) as? [String: String]
        guard case .object(let members) = ours else { Issue.record("not an object"); return }
        #expect(members.count == theirs?.count)
        for (key, value) in members { #expect(value == .string(theirs?[key] ?? "—")) }
    }

    /// Documents mutated from valid ones: a sample body, and one with every other kind of value.
    static let fuzzBases: [[UInt8]] = [
        sample(.userFollowedTarget).body.bytes,
        Array(#"{"a":[1,-2.5e3,0.125,true,false,null,{"b":"\u00e9\n\ud83d\ude00"}],"c":{"":[]},"d":"x\"y\\z"}"#.utf8),
    ]

    @Test("on arbitrary bytes, accepts and rejects what JSONSerialization does, with the same values; never crashes")
    func fuzz() {
        var generator = SplitMix64(seed: 42)
        let alphabet = Array(#"{}[]":,\u0 1e-.tfn"#.utf8) + [0x00, 0x1F, 0x80, 0xC3, 0xED, 0xFF]
        var accepted = 0
        var rejected = 0
        var mismatches = 0
        for round in 0..<6_000 {
            var bytes = Self.fuzzBases[round % Self.fuzzBases.count]
            for _ in 0..<Int(generator.next() % 4 + 1) {
                let index = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 3 {
                case 0: bytes[index] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                case 1: bytes.remove(at: index)
                default: bytes.insert(alphabet[Int(generator.next() % UInt64(alphabet.count))], at: index)
                }
                if bytes.isEmpty { bytes = [0x7B] }
            }
            _ = decodingError(bytes, messageId: nil, routingKey: "USER_FOLLOWED_TARGET")

            let ours = try? JSONValue.parse(bytes)
            let theirs = FoundationJSON.parse(bytes)
            if ours == nil { rejected += 1 } else { accepted += 1 }
            guard ours != theirs, FoundationJSON.knownDifference(bytes, ours: ours, theirs: theirs) == nil else { continue }
            mismatches += 1
            if mismatches <= 10 {
                Issue.record(
                    """
                    differs from JSONSerialization on \(String(decoding: bytes, as: UTF8.self).debugDescription):
                    ours:   \(ours.map { "\($0)" } ?? "rejected")
                    theirs: \(theirs.map { "\($0)" } ?? "rejected")
                    """)
            }
        }
        #expect(mismatches == 0)
        // Both outcomes are exercised, so the comparison means something either way.
        #expect(accepted > 500)
        #expect(rejected > 500)
    }
}

/// Foundation's reading of the same bytes, as a ``JSONValue``: the oracle of the fuzz test.
enum FoundationJSON {
    /// JSONSerialization's value for `bytes` (top-level scalars allowed, as ours allows them), or
    /// nil when it rejects them.
    static func parse(_ bytes: [UInt8]) -> JSONValue? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else { return nil }
        return value(object)
    }

    static func value(_ object: Any) -> JSONValue? {
        switch object {
        case is NSNull:
            return .null
        case let string as String:
            return .string(string)
        case let number as NSNumber:
            // Booleans come back as NSNumber too; their type encoding tells them from 0 and 1.
            if String(cString: number.objCType) == "c" { return .bool(number.boolValue) }
            return .number(number.doubleValue)
        case let array as [Any]:
            var values: [JSONValue] = []
            for element in array {
                guard let value = value(element) else { return nil }
                values.append(value)
            }
            return .array(values)
        case let dictionary as [String: Any]:
            var members: [String: JSONValue] = [:]
            for (key, element) in dictionary {
                guard let value = value(element) else { return nil }
                members[key] = value
            }
            return .object(members)
        default:
            return nil
        }
    }

    /// Why our parser may legitimately differ from Foundation on `bytes`, or nil. The deliberate
    /// differences (every other input must give the same outcome and the same value):
    ///
    /// - **Trailing commas** (`[1,]`, `{"a":1,}`): swift-corelibs-foundation's JSONSerialization
    ///   accepts them (as Apple's does); RFC 8259 does not, and neither does our parser. Such an
    ///   input counts as agreeing when, without its trailing commas, we accept it with Foundation's value.
    /// - **Numbers beyond Double's range** (`1e400`): we read them as ±infinity (a number is
    ///   only informative in events), Foundation rejects them.
    ///
    /// Differences that need no exception, because both sides agree: duplicate keys (the last
    /// wins in both), top-level scalars (asked of Foundation with `.fragmentsAllowed`), lone
    /// surrogates, invalid UTF-8 and control characters (both reject), number precision (both
    /// round to the nearest Double; the mutations cannot make integers beyond 2^53, where
    /// Foundation would keep an Int64 or a Decimal).
    static func knownDifference(_ bytes: [UInt8], ours: JSONValue?, theirs: JSONValue?) -> String? {
        if ours == nil, let theirs, let stripped = withoutTrailingCommas(bytes), (try? JSONValue.parse(stripped)) == theirs {
            return "trailing comma"
        }
        if theirs == nil, let ours, ours.containsNonFiniteNumber {
            return "number beyond Double's range"
        }
        return nil
    }

    /// `bytes` without the commas that close an array or object (`,` then whitespace then `]` or
    /// `}`, outside strings); nil when there is none.
    static func withoutTrailingCommas(_ bytes: [UInt8]) -> [UInt8]? {
        var output: [UInt8] = []
        var inString = false
        var escaped = false
        var removed = false
        for (index, byte) in bytes.enumerated() {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: ",") {
                let next = bytes[(index + 1)...].first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
                if next == UInt8(ascii: "]") || next == UInt8(ascii: "}") {
                    removed = true
                    continue
                }
            }
            output.append(byte)
        }
        return removed ? output : nil
    }
}

extension JSONValue {
    var containsNonFiniteNumber: Bool {
        switch self {
        case .number(let number): !number.isFinite
        case .array(let values): values.contains { $0.containsNonFiniteNumber }
        case .object(let members): members.values.contains { $0.containsNonFiniteNumber }
        case .string, .bool, .null: false
        }
    }
}
