import CourierAMQP
import CourierEvents
import CourierTesting
import Foundation
import Testing

@testable import CourierPublisher

/// Stops the local RabbitMQ node (`rabbitmqctl stop_app` / `start_app`), so `make test` runs this
/// suite on its own, after the others, like BrokerRestartTests. Its tests run one at a time.
@Suite("Publisher broker outage", .serialized, .tags(.integration))
struct PublisherOutageTests {
    @Test("broker down while events are enqueued: the backlog grows, and all are published when it returns")
    func outageBacklog() async throws {
        let database = try await OutboxTestDatabase.make()
        let exchange = try await TestExchange.make()
        let relay = OutboxRelay(configuration: try testRelayConfiguration(database: database, exchange: exchange), logger: quietLogger)
        let before = (0..<20).map { Events.numbered(aggregate: "col-outage", index: $0) }
        let during = (20..<60).map { Events.numbered(aggregate: "col-outage", index: $0) }
        let messages = try await whileRunning([relay]) {
            try await database.enqueue(before)
            #expect(await eventually { (try? await database.unpublishedCount()) == 0 })

            _ = try TestBroker.rabbitmqctl(["stop_app"])
            do {
                // The API keeps accepting: its transactions only need Postgres.
                for chunk in stride(from: 0, to: during.count, by: 10) {
                    try await database.enqueue(Array(during[chunk..<chunk + 10]))
                }
                try await Task.sleep(for: .seconds(2))
                #expect(try await database.unpublishedCount() == during.count, "nothing is marked while the broker is down")
            } catch {
                _ = try? TestBroker.rabbitmqctl(["start_app"])
                throw error
            }
            _ = try TestBroker.rabbitmqctl(["start_app"])
            _ = try TestBroker.rabbitmqctl(["await_startup"])
            #expect(await eventually { (try? await database.unpublishedCount()) == 0 }, "the backlog drained")
            // The test's own connection went down with the node.
            let reader = try await TestExchange.reconnected(exchange)
            return try await reader.messages(expecting: before.count + during.count)
        }
        let ids = messages.compactMap(\.properties.messageID)
        #expect(Set(ids) == Set((before + during).map(\.id)), "every event arrived")
        // At least once: a publish cut off by the stop may have been delivered and then sent again.
        var firstSeen: [String: Int] = [:]
        for (position, id) in ids.enumerated() where firstSeen[id] == nil { firstSeen[id] = position }
        let firstArrivals = (before + during).compactMap { firstSeen[$0.id] }
        #expect(firstArrivals == firstArrivals.sorted(), "the aggregate's events first arrived in order")
        let cleanup = try await TestExchange.reconnected(exchange)
        await database.drop()
        await cleanup.delete()
    }

    @Test("direct publish while the broker is stopped: an error within seconds, and publishing resumes after")
    func publishToStoppedBroker() async throws {
        let exchange = try await TestExchange.make()
        var configuration = try exchange.publisherConfiguration()
        configuration.reconnectDelay = .milliseconds(200)
        configuration.maxReconnectDelay = .seconds(1)
        let publisher = EventPublisher(configuration: configuration, logger: quietLogger)
        try await publisher.publish(Events.cardAdded())

        _ = try TestBroker.rabbitmqctl(["stop_app"])
        let started = ContinuousClock.now
        let error: PublishError?
        do {
            error = await #expect(throws: PublishError.self) {
                try await publisher.publish(Events.cardAdded())
            }
        }
        let elapsed = ContinuousClock.now - started
        _ = try TestBroker.rabbitmqctl(["start_app"])
        _ = try TestBroker.rabbitmqctl(["await_startup"])
        #expect(elapsed < .seconds(6), "an error, not a hang (took \(elapsed))")
        #expect([PublishError.Code.connectionFailed, .connectionLost].contains(error?.code))

        var resumed = false
        for _ in 0..<100 where !resumed {
            do {
                try await publisher.publish(Events.cardAdded())
                resumed = true
            } catch {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        #expect(resumed, "the publisher reconnected on its own")
        await publisher.shutdown()
        let cleanup = try await TestExchange.reconnected(exchange)
        await cleanup.delete()
    }
}

extension TestExchange {
    /// The same exchange and queue on a new connection (after the node restarted).
    static func reconnected(_ old: TestExchange) async throws -> TestExchange {
        let connection = try await AMQPConnection.connect(url: try TestEnvironment.amqpURL())
        let channel = try await connection.openChannel()
        return TestExchange(exchange: old.exchange, queue: old.queue, connection: connection, channel: channel)
    }
}
