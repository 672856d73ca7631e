import CourierAMQP
import CourierEngine
import CourierTesting
import Foundation
import Logging
import Synchronization
import Testing

/// A slow handler that records how many of its calls overlap and which deliveries it saw.
final class OverlapRecorder: DeliveryHandler, Sendable {
    let name = "overlap"
    private struct State {
        var running = 0
        var mostRunning = 0
        var handled: [String] = []
        var batches: [[UInt64]] = []
    }
    private let state = Mutex(State())
    let pause: Duration

    init(pause: Duration) { self.pause = pause }

    var mostRunning: Int { state.withLock { $0.mostRunning } }
    var handled: [String] { state.withLock { $0.handled } }
    var batches: [[UInt64]] { state.withLock { $0.batches } }

    func handle(_ deliveries: [AMQPDelivery]) async -> [HandlingOutcome] {
        state.withLock {
            $0.running += 1
            $0.mostRunning = max($0.mostRunning, $0.running)
            $0.batches.append(deliveries.map(\.deliveryTag))
        }
        try? await Task.sleep(for: pause)
        state.withLock {
            $0.running -= 1
            $0.handled += deliveries.map { $0.properties.messageID ?? "?" }
        }
        return Array(repeating: .handled, count: deliveries.count)
    }
}

@Suite("ConsumerEngine hands over the next batch while one is handled")
struct BatchOverlapTests {
    @Test("two batches overlap, never three; each delivery is handled once and acked")
    func overlapByOne() async throws {
        let url = try TestEnvironment.amqpURL()
        let consuming = try await AMQPConnection.connect(url: url)
        let publishing = try await AMQPConnection.connect(url: url)
        let eventType = TestEnvironment.uniqueName("OverlapEvent")
        let topology = Topology(.init(appName: TestEnvironment.uniqueName("overlap"), eventTypes: [eventType]))
        try await topology.declare(on: consuming)

        let total = 600
        let channel = try await publishing.openChannel()
        try await channel.confirmSelect()
        for i in 0..<total {
            channel.publish(
                Array("{}".utf8), exchange: Topology.exchangeName, routingKey: eventType,
                properties: AMQPProperties(deliveryMode: .persistent, messageID: "overlap-\(i)")
            ) { _ in }
        }
        await channel.waitForConfirms()

        let handler = OverlapRecorder(pause: .milliseconds(50))
        var settings = ConsumerEngine.Settings()
        settings.prefetch = 200
        settings.batchSize = 50
        let engine = ConsumerEngine(topology: topology, handler: handler, settings: settings, logger: Logger(label: "test"))
        let task = Task { try await engine.run(consuming: consuming, publishing: publishing) }
        #expect(await eventually(.seconds(20)) { handler.handled.count >= total })
        // The last batch is acked without waiting for a message that never comes: closing the
        // connection under the running engine (no clean stop) returns nothing to the queue.
        try await Task.sleep(for: .milliseconds(500))
        await consuming.close()
        task.cancel()
        _ = await task.result

        #expect(handler.mostRunning == 2, "the next batch is handed over while one is handled, and no more")
        #expect(handler.handled.count == total)
        #expect(Set(handler.handled).count == total, "each delivery handled once")
        #expect(handler.batches.allSatisfy { $0.count <= 50 })
        #expect(try await channel.declareQueuePassive(topology.appQueue).messageCount == 0, "all acked: nothing came back on close")
        try await channel.close()
        await publishing.close()
    }
}
