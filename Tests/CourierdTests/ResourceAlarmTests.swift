import CourierAMQP
import CourierEngine
import CourierTesting
import Foundation
import Testing

/// A broker resource alarm (here a memory alarm, forced by lowering the node's watermark) blocks
/// every publishing connection on the node, so `make test` runs this suite on its own.
@Suite("Resource alarm", .tags(.integration))
struct ResourceAlarmTests {
    /// The node's default (RabbitMQ 3.10), restored whatever happens.
    static let normalWatermark = "0.4"

    @Test("publishing blocked by a memory alarm: reported, nothing lost or doubled, all parked once it clears")
    func memoryAlarm() async throws {
        let amqp = try TestEnvironment.amqpURL()
        let app = TestEnvironment.uniqueName("alarm")
        let type = TestEnvironment.uniqueName("AlarmEvent")
        let environment = [
            "AMQP_URL": amqp, "DATABASE_URL": try TestEnvironment.databaseURL(), "FLY_APP_NAME": app,
            "COURIER_BINDINGS_EXTRA": type, "COURIER_HTTP_PORT": "0", "COURIER_HTTP_HOST": "127.0.0.1",
        ]
        // Queue the events before the alarm (the alarm would block this publisher too). Nobody
        // handles the type, so courierd must publish each to the dead-letter exchange: that is
        // the publish the alarm blocks.
        let connection = try await AMQPConnection.connect(url: amqp)
        let topology = Topology(.init(appName: app, extraBindingKeys: [type]))
        try await topology.declare(on: connection)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()
        let total = 20
        for i in 0..<total {
            let outcome = try await channel.publish(
                Array("{}".utf8), exchange: "domain_events", routingKey: type,
                properties: AMQPProperties(deliveryMode: .persistent, messageID: "alarm-\(i)"), mandatory: true)
            #expect(outcome == .acked)
        }

        _ = try TestBroker.rabbitmqctl(["set_vm_memory_high_watermark", "0.00001"])
        var restored = false
        func restore() throws {
            if !restored { _ = try TestBroker.rabbitmqctl(["set_vm_memory_high_watermark", Self.normalWatermark]) }
            restored = true
        }
        do {
            let run = try await CourierdProcessTests.run(environment: environment, stopWhen: "ready", timeout: .seconds(60)) { output in
                let port = try #require(CourierdProcessTests.httpPort(in: output))
                // Blocked: reported on /health/ready and as a gauge, still ready (acks flow).
                var body = ""
                let deadline = ContinuousClock.now + .seconds(20)
                while !body.contains("publishing blocked"), ContinuousClock.now < deadline {
                    body = try await CourierdProcessTests.get(port: port, path: "/health/ready").body
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(body.contains("publishing blocked"), "ready says: \(body)")
                let ready = try await CourierdProcessTests.get(port: port, path: "/health/ready")
                #expect(ready.status == 200, "a blocked publisher does not make courierd unready: \(ready.body)")
                #expect(try await CourierdProcessTests.get(port: port, path: "/metrics").body.contains("courier_publishing_blocked 1"))

                // Nothing parked while blocked, and nothing gone: every event is still in the
                // app queue, unacked.
                try await Task.sleep(for: .seconds(1))
                let probe = try await connection.openChannel()
                #expect(try await probe.declareQueuePassive(topology.deadLetterQueue).messageCount == 0)
                #expect(try await probe.declareQueuePassive(topology.appQueue).messageCount == 0, "all delivered to courierd")

                try restore()
                let parkedBy = ContinuousClock.now + .seconds(20)
                while try await probe.declareQueuePassive(topology.deadLetterQueue).messageCount < UInt32(total), ContinuousClock.now < parkedBy {
                    try await Task.sleep(for: .milliseconds(100))
                }
                var unblocked = ""
                let unblockedBy = ContinuousClock.now + .seconds(10)
                repeat {
                    unblocked = try await CourierdProcessTests.get(port: port, path: "/health/ready").body
                    if !unblocked.contains("blocked") { break }
                    try await Task.sleep(for: .milliseconds(100))
                } while ContinuousClock.now < unblockedBy
                #expect(!unblocked.contains("blocked"), "after the alarm: \(unblocked)")
                #expect(try await CourierdProcessTests.get(port: port, path: "/metrics").body.contains("courier_publishing_blocked 0"))
                try await probe.close()
            }
            #expect(run.status == 0, "output: \(run.output)")
            #expect(run.output.contains("blocked publishing"), "the block is logged")
        } catch {
            try restore()
            throw error
        }
        try restore()

        var seen: [String: Int] = [:]
        while let message = try await channel.get(queue: topology.deadLetterQueue, noAck: true) {
            seen[message.properties.messageID ?? "?", default: 0] += 1
        }
        #expect(seen.count == total, "every event parked once the alarm cleared: \(seen.keys.sorted())")
        #expect(seen.values.allSatisfy { $0 == 1 }, "parked twice: \(seen.filter { $0.value > 1 })")
        #expect(try await channel.declareQueuePassive(topology.appQueue).messageCount == 0)
        await connection.close()
    }
}
