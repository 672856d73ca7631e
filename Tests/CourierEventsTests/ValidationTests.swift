import CourierTesting
import Foundation
import Testing
@testable import CourierEvents

/// One field of one sample, for cases generated from the sample table.
struct FieldCase: Sendable, CustomTestStringConvertible {
    var sample: Sample
    var field: String
    var raw: String = ""
    var testDescription: String { "\(sample.type.rawValue).\(field)" + (raw.isEmpty ? "" : " = \(raw)") }
}

@Suite("Field validation")
struct ValidationTests {
    static let missingCases = samples.flatMap { sample in sample.requiredKeys.map { FieldCase(sample: sample, field: $0) } }

    @Test("each required field of each type, missing → missingField naming it", arguments: missingCases)
    func missingField(_ c: FieldCase) {
        let error = decodingError(c.sample.body.removing(c.field).bytes)
        #expect(error?.code == .missingField)
        #expect(error?.errorClass == "MissingField")
        #expect(error?.field == c.field)
        #expect(error?.message.contains("'\(c.field)'") == true)
    }

    @Test("the cases cover every field of the specification table")
    func caseCount() {
        // 9 types × 3 common fields + 3+4+2+3+3+5+4+2+2 own fields.
        #expect(Self.missingCases.count == 27 + 28)
    }

    static let wrongTypeCases = samples.flatMap { sample in
        sample.requiredKeys.filter { $0 != "eventType" }.flatMap { field in
            ["42", "null", "true", "[]", "{}", "-1.5e3"].map { FieldCase(sample: sample, field: field, raw: $0) }
        }
    }

    @Test("a field of the wrong JSON type → invalidField naming it and what was expected", arguments: wrongTypeCases)
    func wrongType(_ c: FieldCase) {
        let error = decodingError(c.sample.body.setting(c.field, raw: c.raw).bytes)
        #expect(error?.code == .invalidField)
        #expect(error?.errorClass == "InvalidField")
        #expect(error?.field == c.field)
        #expect(error?.message.hasPrefix("field '\(c.field)': expected ") == true)
    }

    @Test("wrong-type messages say what was found")
    func wrongTypeMessage() {
        let error = decodingError(sample(.cardAddedToLibrary).body.setting("cardId", raw: "null").bytes)
        #expect(error?.message == "field 'cardId': expected a non-empty id string, got null")
        let number = decodingError(sample(.cardAddedToLibrary).body.setting("addedAt", raw: "1795856400000").bytes)
        #expect(number?.message == "field 'addedAt': expected an ISO-8601 date string, got a number")
    }

    static let blankIdCases = samples.flatMap { sample in
        sample.idKeys.flatMap { field in
            ["", " ", "\t\n ", "\u{00A0}", "\u{2003}\u{3000}"].map { FieldCase(sample: sample, field: field, raw: $0) }
        }
    }

    @Test("an empty or whitespace-only id → invalidField", arguments: blankIdCases)
    func blankId(_ c: FieldCase) {
        let error = decodingError(c.sample.body.setting(c.field, string: c.raw).bytes)
        #expect(error?.code == .invalidField)
        #expect(error?.field == c.field)
    }

    @Test("ids are kept exactly as sent, including inner and surrounding spaces")
    func idsKeptVerbatim() throws {
        let envelope = try decode(sample(.connectionCreated).body.setting("connectionId", string: " conn 5 ").bytes)
        #expect(envelope.event == .connectionCreated(ConnectionCreated(connectionId: " conn 5 ", curatorId: curator)))
    }

    @Test("the first problem in table order is reported")
    func firstProblemWins() {
        let body = sample(.cardAddedToCollection).body.removing("addedBy").setting("collectionId", raw: "7")
        #expect(decodingError(body.bytes)?.field == "collectionId")
        let common = sample(.cardAddedToCollection).body.removing("cardId").removing("dateTimeOccurred")
        #expect(decodingError(common.bytes)?.field == "dateTimeOccurred")
    }

    @Test("bodies that are not JSON → malformedJSON", arguments: [
        "", "not json", "{", "{\"eventType\": }", "{\"a\":1,}", "{\"a\":1} trailing", "{'a':1}", "\u{FEFF}",
    ])
    func malformed(_ text: String) {
        let error = decodingError(Array(text.utf8))
        #expect(error?.code == .malformedJSON)
        #expect(error?.errorClass == "MalformedJSON")
        #expect(error?.field == nil)
    }

    @Test("bodies that are not valid UTF-8 → malformedJSON", arguments: [
        [0xFF], [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D], [0x7B, 0x80, 0x7D],
        [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D],
    ] as [[UInt8]])
    func invalidUTF8(_ bytes: [UInt8]) {
        #expect(decodingError(bytes)?.code == .malformedJSON)
    }

    @Test("JSON that is not an object → notAnObject", arguments: ["[]", "[{\"eventType\":\"CardAddedToLibraryEvent\"}]", "\"x\"", "42", "null", "true"])
    func notAnObject(_ text: String) {
        let error = decodingError(Array(text.utf8), routingKey: "CardAddedToLibraryEvent")
        #expect(error?.code == .notAnObject)
        #expect(error?.errorClass == "NotAnObject")
    }

    @Test("error descriptions carry the class and the message")
    func errorDescription() {
        let error = decodingError(sample(.cardAddedToLibrary).body.setting("addedAt", string: "yesterday").bytes)
        #expect(error?.message.hasPrefix(#"field 'addedAt': not an ISO-8601 date: "yesterday""#) == true)
        #expect(error?.description.hasPrefix("InvalidField: field 'addedAt'") == true)
        #expect(EventDecodingError.Code.unsupportedSchemaVersion.description == "UnsupportedSchemaVersion")
    }

    @Test("hostile values are quoted and cut in messages")
    func quotedValues() {
        let long = String(repeating: "x", count: 500) + "\"\n\u{01}"
        let error = decodingError(sample(.cardAddedToLibrary).body.setting("addedAt", raw: jsonString(long)).bytes)
        #expect(error?.code == .invalidField)
        #expect((error?.message.count ?? 1000) < 200)
        #expect(EventDecodingError.quoted("a\"b\\\n\u{01}") == #""a\"b\\\n\u0001""#)
    }
}

@Suite("Dates")
struct DateTests {
    @Test("accepted timestamps and their instant in microseconds since the epoch", arguments: [
        ("2026-11-28T10:15:30.123Z", 1_795_860_930_123_000),
        ("2026-11-28T10:15:30Z", 1_795_860_930_000_000),
        ("2026-11-28T10:15:30.1Z", 1_795_860_930_100_000),
        ("2026-11-28T10:15:30.123456Z", 1_795_860_930_123_456),
        ("2026-11-28T10:15:30.1234567Z", 1_795_860_930_123_456),
        ("2026-11-28T10:15:30.123456999999999999Z", 1_795_860_930_123_456),
        ("2026-11-28T12:15:30.123+02:00", 1_795_860_930_123_000),
        ("2026-11-28T05:45:30-04:30", 1_795_860_930_000_000),
        ("2026-11-28t10:15:30z", 1_795_860_930_000_000),
        ("2026-11-28T10:15:30-00:00", 1_795_860_930_000_000),
        ("1970-01-01T00:00:00.000Z", 0),
        ("1969-12-31T23:59:59.999999Z", -1),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000_000),
        ("2000-02-29T23:59:59.5Z", 951_868_799_500_000),
        ("2026-01-01T00:30:00+01:00", 1_767_223_800_000_000),
        ("1900-03-01T00:00:00Z", -2_203_891_200_000_000),
        ("0001-01-01T00:00:00Z", -62_135_596_800_000_000),
        ("0000-01-01T00:00:00Z", -62_167_219_200_000_000),
        ("9999-12-31T23:59:59.999999Z", 253_402_300_799_999_999),
    ] as [(String, Int64)])
    func goodDate(_ text: String, _ micros: Int64) throws {
        #expect(try EventTimestamp.parseMicroseconds(text) == micros)
        let envelope = try decode(sample(.cardAddedToLibrary).body.setting("dateTimeOccurred", string: text).bytes)
        #expect(envelope.occurredAt == EventTimestamp.date(fromMicroseconds: micros))
        #expect(EventTimestamp.microseconds(of: envelope.occurredAt) == micros)
    }

    @Test("a toISOString() date equals the millisecond literal")
    func literalEquality() throws {
        #expect(EventTimestamp.parse("2026-11-28T10:15:30.123Z") == Date(timeIntervalSince1970: 1_795_860_930.123))
        #expect(EventTimestamp.parse("2026-11-28T10:15:30.123456Z") == Date(timeIntervalSince1970: 1_795_860_930.123456))
        #expect(EventTimestamp.parse("2001-01-01T00:00:00Z") == Date(timeIntervalSinceReferenceDate: 0))
    }

    @Test("rejected timestamps → invalidField naming the field", arguments: [
        "yesterday", "", "2026-11-28", "10:15:30Z", "2026-11-28T10:15:30", "2026-11-28T10:15:30.123",
        "2026-11-28 10:15:30Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-11-00T00:00:00Z",
        "2026-11-31T00:00:00Z", "2026-04-31T00:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2026-11-28T25:00:00Z", "2026-11-28T24:00:00Z", "2026-11-28T10:60:00Z", "2026-11-28T10:15:60Z",
        "2026-11-28T10:15:30.Z", "2026-11-28T10:15:30,123Z", "2026-11-28T10:15:30+0200", "2026-11-28T10:15:30+02",
        "2026-11-28T10:15:30+24:00", "2026-11-28T10:15:30+02:60", "2026-11-28T10:15:30ZZ", "2026-11-28T10:15:30Z ",
        " 2026-11-28T10:15:30Z", "20261128T101530Z", "+002026-11-28T10:15:30.000Z", "2026-11-28T10:15Z",
        "2026-1-28T10:15:30Z", "2026-11-28T1:15:30Z", "２０２６-11-28T10:15:30Z", "2026-11-28T10:15:30UTC",
        "2026-11-28T10:15:30+02:00:00", "0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01",
        "2026-11-28T10:15:30.123-", "-2026-11-28T10:15:30Z",
    ])
    func badDate(_ text: String) {
        #expect(throws: EventTimestamp.ParseError.self) { try EventTimestamp.parseMicroseconds(text) }
        #expect(EventTimestamp.parse(text) == nil)
        for field in ["dateTimeOccurred", "addedAt"] {
            let error = decodingError(sample(.cardAddedToLibrary).body.setting(field, string: text).bytes)
            #expect(error?.code == .invalidField)
            #expect(error?.field == field)
            #expect(error?.message.hasPrefix("field '\(field)': not an ISO-8601 date: ") == true)
        }
    }

    @Test("range errors say which part is out of range")
    func rangeReasons() {
        #expect(throws: EventTimestamp.ParseError(reason: "month 13 is out of range")) {
            try EventTimestamp.parseMicroseconds("2026-13-01T00:00:00Z")
        }
        #expect(throws: EventTimestamp.ParseError(reason: "hour 25 is out of range")) {
            try EventTimestamp.parseMicroseconds("2026-11-28T25:00:00Z")
        }
    }

    @Test("formatting is toISOString() for whole milliseconds, six digits otherwise", arguments: [
        (1_795_860_930_123_000, "2026-11-28T10:15:30.123Z"),
        (1_795_860_930_000_000, "2026-11-28T10:15:30.000Z"),
        (1_795_860_930_123_456, "2026-11-28T10:15:30.123456Z"),
        (1_795_860_930_000_001, "2026-11-28T10:15:30.000001Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999999Z"),
        (-62_167_219_200_000_000, "0000-01-01T00:00:00.000Z"),
        (253_402_300_799_999_999, "9999-12-31T23:59:59.999999Z"),
    ] as [(Int64, String)])
    func format(_ micros: Int64, _ text: String) throws {
        #expect(EventTimestamp.format(EventTimestamp.date(fromMicroseconds: micros)) == text)
        #expect(try EventTimestamp.parseMicroseconds(text) == micros)
    }

    @Test("microseconds(of:) inverts date(fromMicroseconds:) exactly wherever a Date can hold microseconds")
    func microsecondRoundTrip() {
        // A Date is a Double of seconds since 2001: finer than a microsecond for about ±136 years (1865…2137).
        var generator = SplitMix64(seed: 0xC0FFEE)
        let low = try! EventTimestamp.parseMicroseconds("1900-01-01T00:00:00Z")
        let high = try! EventTimestamp.parseMicroseconds("2100-01-01T00:00:00Z")
        for _ in 0..<20_000 {
            let micros = low + Int64(generator.next() % UInt64(high - low))
            #expect(EventTimestamp.microseconds(of: EventTimestamp.date(fromMicroseconds: micros)) == micros)
        }
        // The recent past and near future, densely.
        for micros in stride(from: Int64(1_700_000_000_000_000), to: 1_700_000_000_200_000, by: 7) {
            if EventTimestamp.microseconds(of: EventTimestamp.date(fromMicroseconds: micros)) != micros {
                Issue.record("\(micros) does not round-trip")
                break
            }
        }
    }

    @Test("over the whole range, a decoded date re-encodes to text that decodes to the same Date")
    func decodedDatesAreStable() {
        var generator = SplitMix64(seed: 0xBEEF)
        let span = UInt64(EventTimestamp.maxMicroseconds - EventTimestamp.minMicroseconds)
        for _ in 0..<20_000 {
            let micros = EventTimestamp.minMicroseconds + Int64(generator.next() % span)
            let date = EventTimestamp.date(fromMicroseconds: micros)
            let reparsed = EventTimestamp.parse(EventTimestamp.format(date))
            #expect(reparsed == date, "\(micros)")
            #expect(abs(EventTimestamp.microseconds(of: date) - micros) < 64)
        }
    }

    @Test("dates that are not whole microseconds, or absurd, are clamped or rounded without crashing")
    func oddDates() {
        #expect(EventTimestamp.microseconds(of: Date(timeIntervalSince1970: 0.0000004)) == 0)
        #expect(EventTimestamp.microseconds(of: Date(timeIntervalSince1970: 0.0000006)) == 1)
        #expect(EventTimestamp.microseconds(of: Date(timeIntervalSinceReferenceDate: .nan)) == 0)
        #expect(EventTimestamp.microseconds(of: .distantFuture) <= EventTimestamp.maxMicroseconds)
        #expect(EventTimestamp.format(Date(timeIntervalSinceReferenceDate: .infinity)) == "1970-01-01T00:00:00.000Z")
        #expect(EventTimestamp.format(Date(timeIntervalSinceReferenceDate: -.infinity)) == "1970-01-01T00:00:00.000Z")
        #expect(EventTimestamp.format(Date(timeIntervalSince1970: 1e300)) == "9999-12-31T23:59:59.999999Z")
        #expect(EventTimestamp.format(Date(timeIntervalSince1970: -1e300)) == "0000-01-01T00:00:00.000Z")
    }
}
