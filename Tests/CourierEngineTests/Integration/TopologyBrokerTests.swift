import CourierAMQP
import CourierEngine
import CourierTesting
import Testing

/// The topology on the real broker, in this run's vhost. The exchange names are fixed by the
/// design (`domain_events`…), so these tests use app names of their own and never delete the
/// shared exchanges another test may be using.
@Suite("Topology on the real broker", .tags(.integration))
struct TopologyBrokerTests {
    @Test("declaring twice succeeds and leaves the app, DLQ, unrouted and retry queues in place")
    func declareIdempotent() async throws {
        let connection = try await AMQPConnection.connect(url: try TestEnvironment.amqpURL())
        let app = TestEnvironment.uniqueName("topo")
        let topology = Topology(.init(appName: app, eventTypes: ["CardAddedToLibraryEvent"]))
        try await topology.declare(on: connection)
        try await topology.declare(on: connection)
        let channel = try await connection.openChannel()
        for queue in topology.queues {
            _ = try await channel.declareQueuePassive(queue.name)
        }
        #expect(topology.queues.map(\.name).contains("events_\(app).retry.10m"))
        await connection.close()
    }

    @Test("an event with no binding lands in domain_events.unrouted instead of vanishing")
    func unrouted() async throws {
        let connection = try await AMQPConnection.connect(url: try TestEnvironment.amqpURL())
        let topology = Topology(.init(appName: TestEnvironment.uniqueName("unrouted"), eventTypes: ["CardAddedToLibraryEvent"]))
        try await topology.declare(on: connection)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()
        let type = TestEnvironment.uniqueName("NobodyHandlesThisEvent")
        let outcome = try await channel.publish(
            Array("{}".utf8), exchange: Topology.exchangeName, routingKey: type,
            properties: AMQPProperties(messageID: type), mandatory: true)
        #expect(outcome == .acked, "the alternate exchange routes it, so nothing is returned")
        // Other tests' unrouted messages may share the queue: hold them unacked while looking,
        // then give them back.
        var found = false
        var others: [UInt64] = []
        for _ in 0..<50 {
            guard let message = try await channel.get(queue: Topology.unroutedName, noAck: false) else { break }
            if message.properties.messageID == type {
                found = true
                #expect(message.routingKey == type)
                channel.ack(message.deliveryTag)
                break
            }
            others.append(message.deliveryTag)
        }
        for tag in others { channel.reject(tag, requeue: true) }
        #expect(found)
        await connection.close()
    }

    @Test("a queue that exists with other arguments stops start-up with a message naming it and the argument")
    func conflictingArguments() async throws {
        let connection = try await AMQPConnection.connect(url: try TestEnvironment.amqpURL())
        let app = TestEnvironment.uniqueName("conflict")
        let setup = try await connection.openChannel()
        try await setup.declareQueue("events_\(app)", durable: true, arguments: ["x-queue-type": "classic"])
        let topology = Topology(.init(appName: app, queueType: .quorum))
        await #expect {
            try await topology.declare(on: connection)
        } throws: { error in
            guard let mismatch = error as? TopologyMismatch else { return false }
            return mismatch.name == "events_\(app)" && mismatch.argument != nil
                && mismatch.description.contains("events_\(app)")
        }
        #expect(await connection.isOpen, "a refused declare costs a channel, not the connection")
        try await setup.deleteQueue("events_\(app)")
        await connection.close()
    }
}
