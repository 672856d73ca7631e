import Testing

@testable import CourierAMQP

@Suite("AMQPConsumer batches: what the connection thread handed over, in full batches")
struct ConsumerBatchTests {
    private func deliveries(_ tags: ClosedRange<UInt64>) -> [AMQPDelivery] {
        tags.map {
            AMQPDelivery(
                deliveryTag: $0, redelivered: false, exchange: "", routingKey: "q", consumerTag: "c", properties: AMQPProperties(), body: [])
        }
    }

    @Test("a remainder smaller than a batch is topped up with what arrived meanwhile")
    func topUp() async throws {
        let buffer = DeliveryBuffer()
        var iterator = AMQPConsumer.Iterator(buffer: buffer)
        buffer.append(contentsOf: deliveries(1...700))
        #expect(try await iterator.nextBatch(max: 500).map(\.deliveryTag) == Array(1...500))
        buffer.append(contentsOf: deliveries(701...1000))
        // 200 left of the first hand-over, 300 arrived since: one full batch, in order.
        #expect(try await iterator.nextBatch(max: 500).map(\.deliveryTag) == Array(501...1000))
    }

    @Test("without new arrivals the remainder comes as it is; an empty batch at the end")
    func remainder() async throws {
        let buffer = DeliveryBuffer()
        var iterator = AMQPConsumer.Iterator(buffer: buffer)
        buffer.append(contentsOf: deliveries(1...7))
        #expect(try await iterator.nextBatch(max: 5).count == 5)
        #expect(try await iterator.nextBatch(max: 5).map(\.deliveryTag) == [6, 7])
        buffer.finish()
        #expect(try await iterator.nextBatch(max: 5).isEmpty, "the end")
    }
}
