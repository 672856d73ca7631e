import CourierAMQP
import Foundation
import Testing

@testable import CourierFailureIndex

/// ``IndexText``: every text the failure index writes.
@Suite("Text for the failure index")
struct IndexTextTests {
    @Test("NUL becomes the six characters \\u0000; other text is unchanged")
    func nul() {
        #expect(IndexText.safe("a\u{0}b") == #"a\u0000b"#)
        #expect(IndexText.safe("\u{0}\u{0}") == #"\u0000\u0000"#)
        #expect(IndexText.safe("déjà vu 🐛\t\n") == "déjà vu 🐛\t\n")
        #expect(IndexText.safe(nil as String?) == nil)
        #expect(!IndexText.safe("a\u{0}b").utf8.contains(0))
    }

    @Test("a long value is cut on a scalar boundary, within the bound, with a marker saying how many bytes are missing")
    func truncation() throws {
        let long = String(repeating: "x", count: 100_000)
        let cut = IndexText.safe(long, maxBytes: 1024)
        #expect(cut.utf8.count <= 1024)
        #expect(cut.hasPrefix(String(repeating: "x", count: 900)))
        let kept = cut.prefix { $0 == "x" }.count
        #expect(cut.hasSuffix("…[truncated \(100_000 - kept) bytes]"), "\(cut.suffix(40))")

        // Multi-byte scalars are never split: the result is the prefix of whole scalars.
        let emoji = String(repeating: "🐛é", count: 10_000)
        let cutEmoji = IndexText.safe(emoji, maxBytes: 1000)
        #expect(cutEmoji.utf8.count <= 1000)
        let body = try #require(cutEmoji.components(separatedBy: "…[truncated ").first)
        #expect(emoji.hasPrefix(body))
        #expect(IndexText.safe(String(repeating: "y", count: 1024), maxBytes: 1024).utf8.count == 1024, "at the bound: as is")
    }

    @Test("the NUL escape counts toward the bound")
    func escapeThenBound() {
        let nuls = String(repeating: "\u{0}", count: 1000)
        let safe = IndexText.safe(nuls, maxBytes: 256)
        #expect(safe.utf8.count <= 256)
        #expect(safe.hasPrefix(#"\u0000\u0000"#))
        #expect(safe.hasSuffix(" bytes]"))
    }

    @Test("headers for jsonb: NUL escaped in strings and keys, nested; NaN and infinities survive as $double")
    func json() throws {
        let table: AMQPTable = [
            "a\u{0}": "v\u{0}", "nested": .table(["list": .array(["x\u{0}y", .int64(1)])]), "nan": .double(.nan),
            "inf": .float(.infinity), "bin": .bytes([0xFF, 0x00]),
        ]
        let safe = FieldJSON(table).postgresSafe
        func holdsNUL(_ value: FieldJSON) -> Bool {
            switch value {
            case .string(let text): text.utf8.contains(0)
            case .array(let values): values.contains(where: holdsNUL)
            case .object(let object): object.contains { $0.key.utf8.contains(0) || holdsNUL($0.value) }
            default: false
            }
        }
        #expect(holdsNUL(FieldJSON(table)))
        #expect(!holdsNUL(safe))
        _ = try JSONEncoder().encode(safe)  // NaN would make the encoder throw
        guard case .object(let object) = safe else { Issue.record("not an object"); return }
        #expect(object[#"a\u0000"#] == .string(#"v\u0000"#))
        guard case .double(let nan) = FieldJSON(AMQPFieldValue.double(.nan)).amqpValue else { Issue.record("NaN lost"); return }
        #expect(nan.isNaN)
        #expect(FieldJSON(AMQPFieldValue.double(-.infinity)).amqpValue == .double(-.infinity))
        #expect(FieldJSON(AMQPFieldValue.bytes([0xFF, 0x00])).amqpValue == .bytes([0xFF, 0x00]), "invalid UTF-8 is kept, as base64")
    }
}
