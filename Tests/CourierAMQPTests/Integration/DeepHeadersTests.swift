import CourierTesting
import Testing

@testable import CourierAMQP

/// A publisher can nest header tables as deep as a frame holds (~18,000 levels in 128 KiB); the
/// reading side must take that without exhausting a thread's stack.
@Suite("Deeply nested headers against the real broker", .tags(.integration))
struct DeepHeadersTests {
    @Test("a header nested deeper than Courier reads is cut at the limit, with a marker", arguments: [10, 100, 1_000, 5_000])
    func deepHeaders(depth: Int) async throws {
        var value: AMQPFieldValue = .int8(1)
        for _ in 0..<depth { value = .table(["k": value]) }
        let headers: AMQPTable = ["deep": value]
        let connection = try await AMQPConnection.connect(url: try TestEnvironment.amqpURL())
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("deep")
        try await channel.declareQueue(queue, durable: false, autoDelete: true)
        try await channel.confirmSelect()
        let outcome = try await channel.publish([1, 2, 3], exchange: "", routingKey: queue, properties: AMQPProperties(headers: headers))
        #expect(outcome == .acked)
        var received: AMQPDelivery?
        _ = try await eventually { received = try await channel.get(queue: queue, noAck: true); return received != nil }
        let message = try #require(received)
        #expect(message.body == [1, 2, 3])
        var read = try #require(message.properties.headers?["deep"])
        var levels = 0
        while case .table(let inner) = read, let next = inner["k"] {
            levels += 1
            read = next
        }
        if depth <= CDecoding.maximumDepth {
            #expect(levels == depth && read == .int8(1))
        } else {
            #expect(levels == CDecoding.maximumDepth)
            #expect(read == CDecoding.tooDeep)
        }
        await connection.close()
    }
}
