import Testing

@testable import CourierAMQP

@Suite("AMQP field tables: round trips through librabbitmq's wire codec")
struct FieldTableTests {
    static let xDeath: AMQPFieldValue = .array([
        .table([
            "count": .int64(3),
            "reason": "rejected",
            "queue": "events_app",
            "time": .timestamp(1_764_000_000),
            "exchange": "domain_events",
            "routing-keys": .array(["CardAddedToLibraryEvent"]),
        ]),
        .table(["count": .int64(1), "reason": "expired", "queue": "events_app.retry.5s"]),
    ])

    @Test(
        "every field type survives encode → decode",
        arguments: [
            AMQPFieldValue.bool(true), .bool(false), .int8(-8), .uint8(200), .int16(-1234), .uint16(65000),
            .int32(-2_000_000_000), .uint32(4_000_000_000), .int64(Int64.min), .uint64(UInt64.max),
            .float(1.5), .double(-2.25e300), .decimal(scale: 2, value: 12345), .string(""), .string("héllo ✓"),
            .bytes([0, 1, 2, 255]), .timestamp(1_764_000_000), .void, .array([]), .array([1, "two", .bool(true)]),
            .table([:]), .table(["nested": .table(["deeper": .array([.table(["k": "v"])])])]), xDeath,
        ])
    func roundTrip(value: AMQPFieldValue) throws {
        let table: AMQPTable = ["value": value]
        let decoded = try WireTableCodec.decode(try WireTableCodec.encode(table))
        #expect(decoded == table)
    }

    @Test("order and duplicates of keys are kept as on the wire")
    func order() throws {
        let table = AMQPTable([("z", 1), ("a", 2), ("m", "three")])
        let decoded = try WireTableCodec.decode(try WireTableCodec.encode(table))
        #expect(decoded.keys == ["z", "a", "m"])
    }

    @Test("a large table is encoded whatever its size")
    func large() throws {
        var table = AMQPTable()
        for i in 0..<2000 { table["key-\(i)"] = .string(String(repeating: "x", count: 50)) }
        let decoded = try WireTableCodec.decode(try WireTableCodec.encode(table))
        #expect(decoded.count == 2000)
        #expect(decoded == table)
    }

    @Test("subscript replaces in place, appends, and removes with nil")
    func subscripts() {
        var table: AMQPTable = ["a": 1, "b": 2]
        table["a"] = "one"
        table["c"] = 3
        table["b"] = nil
        #expect(table.keys == ["a", "c"])
        #expect(table["a"] == "one")
        #expect(table["c"]?.intValue == 3)
        #expect(table["missing"] == nil)
    }

    @Test("accessors read x-death the way RabbitMQ writes it")
    func accessors() {
        let deaths = Self.xDeath.arrayValue ?? []
        #expect(deaths.count == 2)
        #expect(deaths.first?.tableValue?["count"]?.intValue == 3)
        #expect(deaths.first?.tableValue?["reason"]?.stringValue == "rejected")
        #expect(AMQPFieldValue.uint8(7).intValue == 7)
        #expect(AMQPFieldValue.bytes(Array("abc".utf8)).stringValue == "abc")
    }
}
