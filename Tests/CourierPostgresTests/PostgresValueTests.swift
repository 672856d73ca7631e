@testable import CourierPostgres
import Foundation
import Testing

@Suite("Postgres values (no I/O)")
struct PostgresValueTests {
    @Test("array literals quote every element and escape quotes and backslashes")
    func arrayLiteralEncoding() {
        #expect(PostgresArrayLiteral.encode([]) == "{}")
        #expect(PostgresArrayLiteral.encode(["a", "b c"]) == #"{"a","b c"}"#)
        #expect(PostgresArrayLiteral.encode(["say \"hi\""]) == #"{"say \"hi\""}"#)
        #expect(PostgresArrayLiteral.encode(["C:\\dir\\"]) == #"{"C:\\dir\\"}"#)
        #expect(PostgresArrayLiteral.encode(["a,b", "{x}", ""]) == #"{"a,b","{x}",""}"#)
        #expect(PostgresArrayLiteral.encode(["NULL", nil]) == #"{"NULL",NULL}"#)
    }

    @Test("array literals decode what the server prints and round-trip any strings")
    func arrayLiteralDecoding() throws {
        #expect(try PostgresArrayLiteral.decode("{}") == [])
        #expect(try PostgresArrayLiteral.decode("{1,2,3}") == ["1", "2", "3"])
        #expect(try PostgresArrayLiteral.decode(#"{a,"b c",NULL,"NULL",null}"#) == ["a", "b c", nil, "NULL", nil])
        #expect(try PostgresArrayLiteral.decode(#"{"say \"hi\"","back\\slash"}"#) == [#"say "hi""#, #"back\slash"#])
        #expect(try PostgresArrayLiteral.decode("[0:1]={x,y}") == ["x", "y"])
        let tricky: [String?] = ["", " padded ", "a,b", "{}", "\"", "\\", "NULL", nil, "ünï©ødé", "'); DROP TABLE x; --"]
        #expect(try PostgresArrayLiteral.decode(PostgresArrayLiteral.encode(tricky)) == tricky)
        for malformed in ["", "1,2", "{1,2", #"{"a}"#, "{{1},{2}}", "{a,}"] {
            #expect(throws: PostgresValueError.self) { try PostgresArrayLiteral.decode(malformed) }
        }
    }

    @Test("arrays of encodables become literals; [UInt8] and Data become bytea")
    func encodables() throws {
        #expect(try [1, 2, 3].postgresText() == "{\"1\",\"2\",\"3\"}")
        #expect(try ["x", nil].postgresText() == #"{"x",NULL}"#)
        #expect(try [UInt8]([0x00, 0xAB, 0xFF]).postgresText() == #"\x00abff"#)
        #expect(Data([0x01, 0x10]).postgresText() == #"\x0110"#)
        #expect(try Optional<Int>.none.postgresText() == nil)
        #expect(true.postgresText() == "true")
        #expect(Double.infinity.postgresText() == "Infinity")
        #expect(Double.nan.postgresText() == "NaN")
        let uuid = UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!
        #expect(uuid.postgresText() == "e621e1f8-c36c-495a-93fc-0c247a3e6e5f")
        #expect(try [uuid].postgresText() == #"{"e621e1f8-c36c-495a-93fc-0c247a3e6e5f"}"#)
    }

    @Test("decodables parse the server's text forms")
    func decodables() throws {
        #expect(try Bool(postgresText: "t") == true)
        #expect(try Bool(postgresText: "f") == false)
        #expect(throws: PostgresValueError.self) { try Bool(postgresText: "yes") }
        #expect(try Int(postgresText: "-42") == -42)
        #expect(throws: PostgresValueError.self) { try Int(postgresText: "4.2") }
        #expect(try Double(postgresText: "-Infinity") == -.infinity)
        #expect(try [UInt8](postgresText: #"\x00abFF"#) == [0x00, 0xAB, 0xFF])
        #expect(throws: PostgresValueError.self) { try Data(postgresText: #"\001"#) }
        #expect(try [Int](postgresText: "{1,2,3}") == [1, 2, 3])
        #expect(try [Int?](postgresText: "{1,NULL}") == [1, nil])
        #expect(throws: PostgresValueError.self) { try [Int](postgresText: "{1,NULL}") }
        #expect(Int?.postgresNull == .some(nil))
        #expect(Int.postgresNull == nil)
    }

    @Test("timestamps format as ISO 8601 UTC with microseconds and parse every server style")
    func timestamps() throws {
        let date = Date(timeIntervalSince1970: 1_714_566_600.25)  // 2024-05-01 12:30:00.25 UTC
        #expect(PostgresTimestamp.format(date) == "2024-05-01T12:30:00.250000Z")
        #expect(PostgresTimestamp.format(Date(timeIntervalSince1970: -1.5)) == "1969-12-31T23:59:58.500000Z")
        for text in [
            "2024-05-01 12:30:00.25+00", "2024-05-01 14:30:00.25+02", "2024-05-01 07:00:00.25-05:30",
            "2024-05-01T12:30:00.250000Z", "2024-05-01 12:30:00.250000", "2024-05-01 14:30:00.25+0200",
        ] {
            #expect(try PostgresTimestamp.parse(text) == date, "\(text)")
        }
        #expect(try PostgresTimestamp.parse("2024-05-01") == Date(timeIntervalSince1970: 1_714_521_600))
        #expect(try PostgresTimestamp.parse("1900-02-28 00:00:00+00") == Date(timeIntervalSince1970: -2_203_977_600))
        #expect(try PostgresTimestamp.parse("infinity") == .distantFuture)
        let caesar = try PostgresTimestamp.parse("0044-03-15 12:00:00+00 BC")
        #expect(PostgresTimestamp.format(caesar) == "0044-03-15T12:00:00.000000Z BC")
        for malformed in ["", "2024-13-01", "2024-05-01 25", "yesterday", "2024-05-01 12:30:00+"] {
            #expect(throws: PostgresValueError.self) { try PostgresTimestamp.parse(malformed) }
        }
    }

    @Test("decoding errors name the column, its type and the Swift type, never the value")
    func rowDecodingErrors() throws {
        let layout = PostgresRow.Layout(
            columns: [PostgresColumn(name: "secret_code", dataType: .text), PostgresColumn(name: "n", dataType: .int4)],
            query: "SELECT secret_code, n FROM t")
        let row = PostgresRow(layout: layout, values: ["hunter2", nil])
        #expect(try row.decode(String.self, named: "secret_code") == "hunter2")
        #expect(try row.decode(Int?.self, column: 1) == nil)
        let wrongType = try #require(throws: PostgresError.self) { try row.decode(Int.self, column: 0) }
        #expect(wrongType.code == .decodingFailed)
        #expect(wrongType.message.contains("\"secret_code\""))
        #expect(wrongType.message.contains("text"))
        #expect(wrongType.message.contains("Int"))
        #expect(!wrongType.description.contains("hunter2"))
        let null = try #require(throws: PostgresError.self) { try row.decode(Int.self, named: "n") }
        #expect(null.message.contains("NULL"))
        let missing = try #require(throws: PostgresError.self) { try row.decode(Int.self, named: "nope") }
        #expect(missing.message.contains("nope"))
        #expect(throws: PostgresError.self) { try row.decode(Int.self, column: 7) }
    }

    @Test("JSON values encode with sorted keys and decode back")
    func json() throws {
        struct Event: Codable, Equatable, Sendable { var id: Int; var kind: String }
        let value = PostgresJSON(Event(id: 7, kind: "a/b"))
        #expect(try value.postgresText() == #"{"id":7,"kind":"a/b"}"#)
        #expect(try PostgresJSON<Event>(postgresText: #"{"kind": "a/b", "id": 7}"#) == value)
    }
}
