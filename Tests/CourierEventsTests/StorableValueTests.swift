import Foundation
import Testing
@testable import CourierEvents

/// Values Postgres would reject deterministically are rejected by the codec instead, as
/// `InvalidField` naming the field, so they are parked at once rather than retried.
@Suite("Values Postgres cannot hold")
struct StorableValueTests {
    /// Ids checked only as ids. The actors Semble holds as a `CuratorId` are DIDs and fail that
    /// check first (see `actorBounds`); `followerId` is checked as an id before its prefix.
    static let idCases = samples.flatMap { sample in
        sample.idKeys.filter { !curatorIdKeys.contains($0) }.map { FieldCase(sample: sample, field: $0) }
    }

    @Test("an id holding NUL → invalidField naming it", arguments: idCases)
    func nulInID(_ c: FieldCase) {
        let error = decodingError(c.sample.body.setting(c.field, string: "card\u{0}1").bytes)
        #expect(error?.code == .invalidField)
        #expect(error?.errorClass == "InvalidField")
        #expect(error?.field == c.field)
        #expect(error?.message == "field '\(c.field)': contains the control character U+0000 at byte 4; ids may not hold any")
    }

    @Test("an id longer than 512 bytes → invalidField naming it", arguments: idCases)
    func longID(_ c: FieldCase) {
        let error = decodingError(c.sample.body.setting(c.field, string: String(repeating: "a", count: 10_000)).bytes)
        #expect(error?.code == .invalidField)
        #expect(error?.field == c.field)
        #expect(error?.message == "field '\(c.field)': an id of 10000 bytes; ids are at most 512 bytes (UTF-8)")
    }

    static let actorCases = samples.flatMap { sample in
        sample.fields.map(\.name).filter(curatorIdKeys.contains).map { FieldCase(sample: sample, field: $0) }
    }

    @Test("an actor DID holding NUL or too long → invalidField naming it", arguments: actorCases)
    func actorBounds(_ c: FieldCase) {
        let nul = decodingError(c.sample.body.setting(c.field, string: "did:plc:abc\u{0}1").bytes)
        #expect(nul?.code == .invalidField)
        #expect(nul?.field == c.field)
        #expect(nul?.message.contains("did:plc:[A-Za-z0-9]+") == true, "not a DID, whatever else")
        // A well-formed DID is still an id: the bound applies.
        let long = decodingError(c.sample.body.setting(c.field, string: "did:plc:" + String(repeating: "a", count: 9_992)).bytes)
        #expect(long?.field == c.field)
        #expect(long?.message == "field '\(c.field)': an id of 10000 bytes; ids are at most 512 bytes (UTF-8)")
    }

    @Test("the id bound counts UTF-8 bytes: 512 pass, 513 do not, multi-byte characters count each byte")
    func idBound() throws {
        #expect(EventSchema.maximumIDBytes == 512)
        let body = sample(.cardAddedToLibrary).body
        let exact = String(repeating: "\"", count: 512)
        guard case .cardAddedToLibrary(let event) = try decode(body.setting("cardId", string: exact).bytes).event else {
            Issue.record("not a CardAddedToLibrary")
            return
        }
        #expect(event.cardId == exact, "kept as sent")
        #expect(decodingError(body.setting("cardId", string: exact + "a").bytes)?.field == "cardId")
        // "é" is two bytes: 256 of them are 512 bytes, 257 are 514.
        #expect(decodingError(body.setting("cardId", string: String(repeating: "é", count: 256)).bytes) == nil)
        #expect(decodingError(body.setting("cardId", string: String(repeating: "é", count: 257)).bytes)?.message.contains("514 bytes") == true)
    }

    @Test("an id with any other control character → invalidField; DEL and non-ASCII are fine",
          arguments: ["a\u{1}b", "a\u{1F}b", "tab\tinside", "new\nline", "cr\r"])
    func controlInID(_ raw: String) {
        let error = decodingError(sample(.connectionCreated).body.setting("connectionId", string: raw).bytes)
        #expect(error?.code == .invalidField)
        #expect(error?.field == "connectionId")
        #expect(error?.message.contains("control character U+00") == true)
    }

    @Test("ids may hold DEL, quotes, backslashes and any non-ASCII character")
    func unusualButStorableIDs() {
        for id in ["a\u{7F}b", "q\"uote\\", "did:plc:ünï—✨", "at://did:plc:x/app.bsky.feed.post/3k"] {
            #expect(decodingError(sample(.connectionCreated).body.setting("connectionId", string: id).bytes) == nil, "\(id)")
        }
    }

    @Test("free text: NUL → invalidField naming it; other control characters and length are fine")
    func freeText() throws {
        let body = sample(.collectionCreated).body
        let error = decodingError(body.setting("collectionName", string: "Read\u{0}ing").bytes)
        #expect(error?.code == .invalidField)
        #expect(error?.field == "collectionName")
        #expect(error?.message == "field 'collectionName': contains NUL (U+0000) at byte 4, which Postgres text cannot hold")
        let long = String(repeating: "name\t\n", count: 2_000)
        guard case .collectionCreated(let event) = try decode(body.setting("collectionName", string: long).bytes).event else {
            Issue.record("not a CollectionCreated")
            return
        }
        #expect(event.collectionName == long)
    }

    @Test("aggregateId is an id too")
    func aggregateID() {
        let error = decodingError(sample(.connectionRemoved).body.setting("aggregateId", string: "x\u{0}").bytes)
        #expect(error?.field == "aggregateId")
        #expect(error?.code == .invalidField)
    }

    @Test("the AMQP message_id is an id: NUL or over 512 bytes → invalidField naming message_id; a blank one is derived")
    func messageID() throws {
        let body = sample(.connectionCreated).body.bytes
        #expect(decodingError(body, messageId: "m\u{0}1")?.field == "message_id")
        #expect(decodingError(body, messageId: "m\u{0}1")?.code == .invalidField)
        #expect(decodingError(body, messageId: String(repeating: "m", count: 513))?.field == "message_id")
        #expect(try decode(body, messageId: "  m-1\t").id == "m-1", "surrounding whitespace is trimmed, not rejected")
        #expect(try decode(body, messageId: " \t ").id.count == 36, "blank: the derived UUID")
    }

    @Test("the body's fields are checked before the message_id")
    func fieldsFirst() {
        let body = sample(.connectionCreated).body.setting("curatorId", string: "c\u{0}")
        #expect(decodingError(body.bytes, messageId: "m\u{0}")?.field == "curatorId")
    }
}
