import Testing

@testable import CourierAMQP

@Suite("Wire sizes: what a publish needs, computed without encoding")
struct WireSizeTests {
    @Test(
        "a table's size is what librabbitmq encodes, byte for byte",
        arguments: [
            AMQPFieldValue.bool(true), .int8(-8), .uint8(200), .int16(-1234), .uint16(65000), .int32(-2), .uint32(4),
            .int64(Int64.min), .uint64(UInt64.max), .float(1.5), .double(2.5), .decimal(scale: 2, value: 12345),
            .string(""), .string("héllo ✓"), .bytes([0, 1, 2, 255]), .timestamp(1_764_000_000), .void, .array([]),
            .array([1, "two", .bool(true)]), .table([:]), .table(["nested": .table(["deeper": .array([.table(["k": "v"])])])]),
            FieldTableTests.xDeath, .string(String(repeating: "x", count: 70_000)),
        ])
    func tableSize(value: AMQPFieldValue) throws {
        let table: AMQPTable = ["value": value, "traceparent": "00-abc-def-01", "x-courier-attempts": 3]
        #expect(table.wireSize == (try WireTableCodec.encode(table)).count)
    }

    @Test("the header frame grows with every property set, and the check names what cannot be sent")
    func headerFrame() {
        let empty = AMQPProperties()
        #expect(empty.headerFrameSize == 22)
        let full = AMQPProperties(
            contentType: "application/json", headers: ["k": "v"], deliveryMode: .persistent, priority: 1,
            messageID: "m-1", timestamp: 1)
        // The 22 of an empty header frame, two short strings, the table (4 + key 1+1 + type 1 + 4+1),
        // delivery mode, priority and the timestamp.
        #expect(full.headerFrameSize == 22 + (1 + 16) + (1 + 3) + 12 + 1 + 1 + 8)
        #expect(AMQPConnection.encodingProblem(exchange: "", routingKey: "q", properties: full, frameMax: 131_072) == nil)

        let big = AMQPProperties(headers: ["big": .string(String(repeating: "x", count: 131_100))])
        let problem = AMQPConnection.encodingProblem(exchange: "", routingKey: "q", properties: big, frameMax: 131_072)
        #expect(problem?.contains("frame_max is 131072") == true)

        let longID = AMQPProperties(messageID: String(repeating: "m", count: 256))
        #expect(AMQPConnection.encodingProblem(exchange: "", routingKey: "q", properties: longID, frameMax: 131_072)?.contains("message_id") == true)
        let longKey = AMQPProperties(headers: [String(repeating: "k", count: 300): 1])
        #expect(AMQPConnection.encodingProblem(exchange: "", routingKey: "q", properties: longKey, frameMax: 131_072) != nil)
        #expect(
            AMQPConnection.encodingProblem(exchange: "", routingKey: String(repeating: "r", count: 256), properties: empty, frameMax: 131_072)?
                .contains("routing key") == true)
    }
}
