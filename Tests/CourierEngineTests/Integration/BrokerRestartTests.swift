import CourierAMQP
import CourierEngine
import CourierSupport
import CourierTesting
import Foundation
import Logging
import Testing

/// Restarts the local RabbitMQ node under a consuming supervisor. It stops the broker for every
/// test, so `make test` runs this suite on its own, after the others (see the Makefile).
@Suite("Broker restart", .serialized, .tags(.integration))
struct BrokerRestartTests {
    @Test("a broker restart mid-stream is survived with nothing lost")
    func restartMidStream() async throws {
        let url = try TestEnvironment.amqpURL()
        let eventType = TestEnvironment.uniqueName("RestartEvent")
        let topology = Topology(.init(appName: TestEnvironment.uniqueName("restart"), eventTypes: [eventType]))
        let handler = ScriptedHandler()
        handler.slowdown = .milliseconds(50)
        var settings = ConsumerEngine.Settings()
        settings.prefetch = 20
        settings.batchSize = 10
        let supervisor = EngineSupervisor(
            topology: topology, handler: handler, settings: settings,
            backoff: Backoff(initial: .milliseconds(200), maximum: .seconds(2)), logger: Logger(label: "test")
        ) {
            (try await AMQPConnection.connect(url: url), try await AMQPConnection.connect(url: url))
        }
        let states = StateLog()
        let task = Task { await supervisor.run { states.append($0) } }
        #expect(await eventually { states.consumingCount >= 1 })

        let total = 300
        do {
            let publisher = try await AMQPConnection.connect(url: url)
            let channel = try await publisher.openChannel()
            try await channel.confirmSelect()
            for i in 0..<total {
                channel.publish(
                    Array("{}".utf8), exchange: Topology.exchangeName, routingKey: eventType,
                    properties: AMQPProperties(deliveryMode: .persistent, messageID: "r-\(i)")) { _ in }
            }
            await channel.waitForConfirms()
            await publisher.close()
        }
        #expect(await eventually { handler.handled.count >= 30 })
        // Slow the handler right down while rabbitmqctl works: on a loaded machine stop_app has
        // taken longer than handling all the rest, and the restart must land mid-stream.
        handler.slowdown = .seconds(2)

        _ = try TestBroker.rabbitmqctl(["stop_app"])
        let handledWhileDown = Set(handler.handled).count
        handler.slowdown = .zero
        _ = try TestBroker.rabbitmqctl(["start_app"])
        let restarted = ContinuousClock.now
        _ = try TestBroker.rabbitmqctl(["await_startup"])
        #expect(await eventually { states.consumingCount >= 2 })
        let backAfter = ContinuousClock.now - restarted
        print("broker restart: consuming again \(backAfter) after start_app")
        #expect(handledWhileDown < total, "the restart landed mid-stream")
        #expect(await eventually { Set(handler.handled).count == total }, "nothing lost")
        task.cancel()
        await task.value
    }

    @Test("with courierd's reconnect settings, an outage of several seconds ends in consuming again soon after the broker is back")
    func reconnectAfterOutage() async throws {
        let url = try TestEnvironment.amqpURL()
        let eventType = TestEnvironment.uniqueName("OutageEvent")
        let topology = Topology(.init(appName: TestEnvironment.uniqueName("outage"), eventTypes: [eventType]))
        let handler = ScriptedHandler()
        // courierd's own backoff (DaemonService uses the default).
        let supervisor = EngineSupervisor(topology: topology, handler: handler, settings: ConsumerEngine.Settings(), logger: Logger(label: "test")) {
            (try await AMQPConnection.connect(url: url), try await AMQPConnection.connect(url: url))
        }
        let states = StateLog()
        let task = Task { await supervisor.run { states.append($0) } }
        #expect(await eventually { states.consumingCount >= 1 })

        _ = try TestBroker.rabbitmqctl(["stop_app"])
        // An outage like the one measured outside (7.7 s): long enough for the backoff to grow.
        // (A scenario's length, not an assertion on time: nothing below waits on a clock.)
        try await Task.sleep(for: .seconds(8))
        _ = try TestBroker.rabbitmqctl(["start_app"])  // returns once the node accepts connections
        let accepting = ContinuousClock.now
        #expect(await eventually { states.consumingCount >= 2 })
        print("broker outage of 8 s: consuming again \(ContinuousClock.now - accepting) after start_app")

        // And it consumes: an event published now is handled.
        let publisher = try await AMQPConnection.connect(url: url)
        let channel = try await publisher.openChannel()
        try await channel.confirmSelect()
        channel.publish(
            Array("{}".utf8), exchange: Topology.exchangeName, routingKey: eventType,
            properties: AMQPProperties(deliveryMode: .persistent, messageID: "after-outage")) { _ in }
        await channel.waitForConfirms()
        await publisher.close()
        #expect(await eventually { handler.handled.contains("after-outage") })
        task.cancel()
        await task.value
    }
}
