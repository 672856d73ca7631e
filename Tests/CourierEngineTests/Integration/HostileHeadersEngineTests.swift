import CourierAMQP
import CourierEngine
import CourierSupport
import CourierTesting
import Foundation
import Logging
import Testing

/// Headers a publisher sets are untrusted, and the paths that park or retry a message must
/// survive any of them: the engine runs under its supervisor here, as in courierd, against the
/// real broker, and every wait is on an event (generous budgets, for a loaded machine).
@Suite("Hostile headers and lost publishing connections, against the real broker", .tags(.integration))
struct HostileHeadersEngineTests {
    struct Fixture {
        var url: String
        var name: String
        var topology: Topology
        var handler: ScriptedHandler
        var states: StateLog
        var task: Task<Void, Never>
        var admin: AMQPConnection
        var eventType: String
        let seen = ParkedMessages()

        func publish(_ id: String, headers: AMQPTable? = nil, body: [UInt8] = Array("{}".utf8)) async throws {
            let channel = try await admin.openChannel()
            try await channel.confirmSelect()
            let outcome = try await channel.publish(
                body, exchange: Topology.exchangeName, routingKey: eventType,
                properties: AMQPProperties(contentType: "application/json", headers: headers, deliveryMode: .persistent, messageID: id))
            #expect(outcome == .acked)
            try await channel.close()
        }

        /// Waits for the message `id` in the dead-letter queue; everything taken from it is kept
        /// in `seen`, so messages parked in another order are found too.
        func parked(_ id: String) async throws -> AMQPDelivery? {
            let channel = try await admin.openChannel()
            defer { Task { try? await channel.close() } }
            _ = try await eventually {
                while let message = try await channel.get(queue: topology.deadLetterQueue, noAck: true) {
                    seen.add(message)
                }
                return seen[id] != nil
            }
            return seen[id]
        }

        func stop() async {
            task.cancel()
            await task.value
            await admin.close()
        }
    }

    static func start() async throws -> Fixture {
        let url = try TestEnvironment.amqpURL()
        let name = TestEnvironment.uniqueName("hostile")
        let separator = url.contains("?") ? "&" : "?"
        let eventType = TestEnvironment.uniqueName("HostileEvent")
        let topology = Topology(
            .init(
                appName: TestEnvironment.uniqueName("hostile"), retrySchedule: RetrySchedule(delays: [.milliseconds(200)]),
                eventTypes: [eventType]))
        let handler = ScriptedHandler()
        var settings = ConsumerEngine.Settings()
        settings.pause = .milliseconds(200)
        let supervisor = EngineSupervisor(
            topology: topology, handler: handler, settings: settings,
            backoff: Backoff(initial: .milliseconds(100), maximum: .seconds(1)), logger: Logger(label: "test")
        ) {
            // As courierd connects: the consuming connection reads frames the broker grew.
            var consuming = try AMQPConfiguration(url: url + separator + "connection_name=\(name)")
            consuming.inboundFrameHeadroom = 64 * 1024
            return (try await AMQPConnection.connect(consuming),
                    try await AMQPConnection.connect(url: url + separator + "connection_name=\(name)-publish"))
        }
        let states = StateLog()
        let task = Task { await supervisor.run { states.append($0) } }
        #expect(await eventually { states.consumingCount >= 1 })
        return Fixture(
            url: url, name: name, topology: topology, handler: handler, states: states, task: task,
            admin: try await AMQPConnection.connect(url: url), eventType: eventType)
    }

    @Test("headers that fit a frame but not with the failure headers: parked without the largest, and the path survives")
    func oversizedCopies() async throws {
        let f = try await Self.start()
        // ~130 KB of headers: the message fits the 128 KiB frame, its parked copy would not.
        let big: AMQPTable = [
            "blob": .string(String(repeating: "b", count: 100_000)), "blob-2": .string(String(repeating: "c", count: 30_500)),
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ]
        let body = Array(#"{"kept":"byte for byte"}"#.utf8)
        f.handler.script("big-permanent", .failPermanently)
        f.handler.script("big-transient", .failTransiently(times: 5))
        f.handler.script("plain-permanent", .failPermanently)
        f.handler.script("huge-attempts", .failTransiently(times: .max))
        try await f.publish("big-permanent", headers: big, body: body)
        try await f.publish("big-transient", headers: big, body: body)

        let permanent = try #require(try await f.parked("big-permanent"))
        #expect(permanent.body == body)
        let headers = try #require(permanent.properties.headers)
        #expect(headers[CourierHeader.removedHeaders]?.stringValue == "blob")
        #expect(headers["blob"] == nil)
        #expect(headers["blob-2"] != nil && headers["traceparent"] != nil)
        #expect(headers[CourierHeader.errorClass]?.stringValue == "ScriptedFailure")

        // Its retry copy could never be sent: parked at once, saying why.
        let transient = try #require(try await f.parked("big-transient"))
        #expect(transient.body == body)
        #expect(transient.properties.headers?[CourierHeader.errorClass]?.stringValue == "RetryCopyTooLarge")
        #expect(transient.properties.headers?[CourierHeader.reason]?.stringValue == "permanent-failure")
        #expect(f.handler.attempts("big-transient") == [0])

        // The copies' path still works for ordinary messages, on the same connections.
        try await f.publish("plain-permanent")
        let plain = try #require(try await f.parked("plain-permanent"))
        #expect(plain.properties.headers?[CourierHeader.errorClass]?.stringValue == "ScriptedFailure")

        // An attempts header near Int64.max: exhausted at once, the count clamped, no trap.
        try await f.publish("huge-attempts", headers: [CourierHeader.attempts: .int64(Int64.max)])
        let huge = try #require(try await f.parked("huge-attempts"))
        #expect(huge.properties.headers?[CourierHeader.reason]?.stringValue == "retries-exhausted")
        #expect(huge.properties.headers?[CourierHeader.attempts]?.intValue == Int64(HeaderValues.maximumCount + 1))
        #expect(f.states.consumingCount == 1, "no reconnect was needed: \(f.states.all)")
        await f.stop()
    }

    @Test("the publishing connection killed by the broker: the supervisor re-establishes it and parking works again")
    func publishingConnectionKilled() async throws {
        let f = try await Self.start()
        f.handler.script("before", .failPermanently)
        try await f.publish("before")
        #expect(try await f.parked("before") != nil)

        #expect(try TestBroker.closeConnections(named: "\(f.name)-publish") == 1)
        #expect(await eventually { f.states.consumingCount >= 2 }, "reconnected: \(f.states.all)")

        f.handler.script("after", .failPermanently)
        f.handler.script("retried", .failTransiently(times: 1))
        try await f.publish("after")
        try await f.publish("retried")
        #expect(try await f.parked("after") != nil)
        #expect(await eventually { f.handler.handled.contains("retried") })
        #expect(f.handler.attempts("retried") == [0, 1])
        await f.stop()
    }
}

final class ParkedMessages: @unchecked Sendable {
    private let lock = NSLock()
    private var byID: [String: AMQPDelivery] = [:]
    func add(_ message: AMQPDelivery) { lock.withLock { byID[message.properties.messageID ?? "?"] = message } }
    subscript(id: String) -> AMQPDelivery? { lock.withLock { byID[id] } }
}
