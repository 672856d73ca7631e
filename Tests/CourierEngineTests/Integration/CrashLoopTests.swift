import CourierAMQP
import CourierEngine
import CourierTesting
import Foundation
import Testing

/// A message that kills its consumer every time it is handled, with a supervisor (here: this
/// test, as systemd would) restarting the process after each crash.
@Suite("Crash loop", .tags(.integration))
struct CrashLoopTests {
    @Test("the process that crashes on one message keeps handling the others; the broker parks that message")
    func crashLoop() async throws {
        let url = try TestEnvironment.amqpURL()
        let app = TestEnvironment.uniqueName("crashy")
        let type = TestEnvironment.uniqueName("CrashEvent")
        let handledFile = FileManager.default.temporaryDirectory.appendingPathComponent("handled-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: handledFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: handledFile) }
        let environment = [
            "AMQP_URL": url, "PROBE_APP": app, "PROBE_EVENT_TYPE": type, "PROBE_CRASH_ON": "poison",
            "PROBE_HANDLED_FILE": handledFile.path, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin",
        ]
        let probe = try TestEnvironment.productPath("courier-test-consumer")

        // First run declares the topology; publish once the queue exists.
        let connection = try await AMQPConnection.connect(url: url)
        let topology = Topology(.init(appName: app, deliveryLimit: 2, retrySchedule: RetrySchedule(delays: [.milliseconds(200)]), eventTypes: [type]))
        try await topology.declare(on: connection)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()
        let good = (0..<20).map { "good-\($0)" }
        for id in good.prefix(10) + ["poison"] + good.suffix(10) {
            let outcome = try await channel.publish(
                Array("{}".utf8), exchange: Topology.exchangeName, routingKey: type,
                properties: AMQPProperties(deliveryMode: .persistent, messageID: id))
            #expect(outcome == .acked)
        }

        func handledIDs() throws -> Set<String> {
            Set(try String(contentsOf: handledFile, encoding: .utf8).split(separator: "\n").map(String.init))
        }
        // Restart after every crash, as systemd's Restart=always would, until the poison is
        // parked and everything else handled.
        var crashes = 0
        var parked: AMQPDelivery?
        for _ in 0..<12 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: probe)
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Until it crashes or has handled everything; the budget only ends a run that does
            // neither (a loaded machine can take many seconds just to start and connect).
            let deadline = ContinuousClock.now + .seconds(180)
            while process.isRunning, ContinuousClock.now < deadline, !(try handledIDs().isSuperset(of: good)) {
                try await Task.sleep(for: .milliseconds(50))
            }
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            } else {
                crashes += 1
            }
            if parked == nil { parked = try await channel.get(queue: topology.deadLetterQueue, noAck: true) }
            if parked != nil, try handledIDs().isSuperset(of: good) { break }
        }

        let message = try #require(parked, "the poison message reached the dead-letter queue")
        #expect(message.properties.messageID == "poison")
        let death = message.properties.headers?["x-death"]?.arrayValue?.first?.tableValue
        #expect(death?["reason"]?.stringValue == "delivery_limit")
        #expect(death?["queue"]?.stringValue == topology.appQueue)
        #expect(crashes >= 2 && crashes <= 4, "crashed \(crashes) times: once per delivery up to the limit")

        // Every other message was handled, whatever the crashes did to their batch.
        let handled = try handledIDs()
        #expect(handled.isSuperset(of: good), "missing: \(Set(good).subtracting(handled).sorted())")
        #expect(!handled.contains("poison"))
        await connection.close()
    }
}
