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

    @Test("never crashes on arbitrary bytes")
    func fuzz() {
        var generator = SplitMix64(seed: 42)
        let base = sample(.userFollowedTarget).body.bytes
        let alphabet = Array(#"{}[]":,\u0 1e-.tfn"#.utf8) + [0x00, 0x1F, 0x80, 0xC3, 0xED, 0xFF]
        for _ in 0..<3_000 {
            var bytes = base
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
        }
    }
}
