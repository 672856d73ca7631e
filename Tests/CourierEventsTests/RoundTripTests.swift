import Foundation
import Testing
@testable import CourierEvents

@Suite("Encoding and round trips")
struct RoundTripTests {
    let encoder = EventEncoder()

    func roundTrip(_ envelope: EventEnvelope) throws -> EventEnvelope {
        try decode(encoder.encode(envelope), messageId: envelope.id, routingKey: envelope.type.rawValue,
                   typeProperty: envelope.type.rawValue, schemaVersion: EventSchema.currentVersion)
    }

    @Test("decode(encode(e)) == e for each of the nine types", arguments: samples)
    func roundTripSample(_ sample: Sample) throws {
        let envelope = sample.expectedEnvelope
        #expect(try roundTrip(envelope) == envelope)
        // And the decoded form of Semble's message re-encodes to the same envelope.
        let decoded = try decode(sample.body.bytes, routingKey: sample.type.rawValue)
        #expect(try roundTrip(decoded) == decoded)
    }

    @Test("encoding is deterministic and in the specification's field order, dates as toISOString()")
    func golden() {
        let bytes = encoder.encode(sample(.cardAddedToCollection).expectedEnvelope)
        let expected = #"{"eventType":"CardAddedToCollectionEvent","aggregateId":"coll-3a51d0c4","#
            + #""dateTimeOccurred":"2026-11-28T10:15:30.123Z","cardId":"card-7f9c2b1e","collectionId":"coll-3a51d0c4","#
            + #""addedBy":"did:plc:curator4ayzbq2c7","addedAt":"2026-11-28T09:00:00.000Z"}"#
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
        #expect(encoder.encode(sample(.cardAddedToCollection).expectedEnvelope) == bytes)
    }

    @Test("the encoded body matches Semble's sample field for field", arguments: samples)
    func sameAsSemble(_ sample: Sample) throws {
        let ours = try JSONValue.parse(encoder.encode(sample.expectedEnvelope))
        let theirs = try JSONValue.parse(sample.body.bytes)
        #expect(ours == theirs)
    }

    @Test("strings are escaped: quotes, backslash, control characters; Unicode passes through", arguments: [
        "plain", "", "say \"hi\"", "back\\slash", "line\nbreak\r\ttab", "\u{1}\u{8}\u{C}\u{1F}\u{7F}",
        "é — ✨ 😀 \u{2028}\u{2029}", "</script>", "\\u0041",
    ])
    func escaping(_ name: String) throws {
        let envelope = EventEnvelope(
            id: "m", aggregateId: "c", occurredAt: occurredDate,
            event: .collectionCreated(CollectionCreated(collectionId: "c\"\\", authorId: author, collectionName: name))
        )
        let bytes = encoder.encode(envelope)
        #expect(!bytes.contains { $0 < 0x20 })
        #expect(try roundTrip(envelope) == envelope)
        // Foundation agrees that it is JSON and reads the same string.
        let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        #expect(object?["collectionName"] as? String == name)
    }

    @Test("NUL is written escaped, but the decoder refuses it: Postgres text cannot hold it")
    func nulIsWrittenButNotRead() {
        let envelope = EventEnvelope(
            id: "m", aggregateId: "c", occurredAt: occurredDate,
            event: .collectionCreated(CollectionCreated(collectionId: "c", authorId: author, collectionName: "a\u{0}b")))
        let bytes = encoder.encode(envelope)
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""a\u0000b""#))
        #expect(throws: EventDecodingError.invalidField("collectionName", "contains NUL (U+0000) at byte 1, which Postgres text cannot hold")) {
            try roundTrip(envelope)
        }
    }

    @Test("control characters use the short escapes where JSON has them")
    func shortEscapes() {
        var out: [UInt8] = []
        JSONObjectWriter.writeString("\"\\\n\r\t\u{8}\u{C}\u{1}\u{1F}", into: &out)
        #expect(String(decoding: out, as: UTF8.self) == #""\"\\\n\r\t\b\f\u0001\u001f""#)
    }

    @Test("millisecond and microsecond dates survive exactly", arguments: [
        1_795_860_930.123, 1_795_860_930.999, 1_795_860_930.000001, 1_795_860_930.123456, 0, -0.001,
        951_868_799.5, 4_102_444_800.001, -2_203_891_200.999999, 253_402_300_799.999,
    ] as [Double])
    func dates(_ seconds: Double) throws {
        let date = Date(timeIntervalSince1970: seconds)
        let envelope = EventEnvelope(
            id: "m", aggregateId: "card", occurredAt: date,
            event: .cardAddedToLibrary(CardAddedToLibrary(cardId: "card", curatorId: curator, addedAt: date))
        )
        #expect(try roundTrip(envelope) == envelope)
    }

    @Test("Date() is kept to the microsecond")
    func now() throws {
        let date = Date()
        let envelope = EventEnvelope(
            id: "m", aggregateId: "f", occurredAt: date,
            event: .userFollowedTarget(UserFollowedTarget(followId: "f", followerId: follower, targetId: curator, targetType: .user, createdAt: date))
        )
        let decoded = try roundTrip(envelope)
        #expect(abs(decoded.occurredAt.timeIntervalSince(date)) < 0.000_001)
        // Once canonical, stable.
        #expect(try roundTrip(decoded) == decoded)
    }

    @Test("the encoder writes the current format, whatever the envelope's version says")
    func currentFormat() throws {
        var envelope = sample(.userUnfollowedTarget).expectedEnvelope
        envelope.schemaVersion = 1
        let decoded = try roundTrip(envelope)
        #expect(decoded.schemaVersion == EventSchema.currentVersion)
        #expect(String(decoding: encoder.encode(envelope), as: UTF8.self).contains("\"UserUnfollowedTargetEvent\""))
    }
}
