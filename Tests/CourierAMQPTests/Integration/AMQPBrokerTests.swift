import CourierTesting
import Foundation
import Synchronization
import Testing

@testable import CourierAMQP

/// Against the real RabbitMQ that `make test` starts, in this run's own vhost.
@Suite("AMQP against the real broker", .tags(.integration))
struct AMQPBrokerTests {
    static func connect(_ query: String = "") async throws -> AMQPConnection {
        try await AMQPConnection.connect(url: try TestEnvironment.amqpURL() + query)
    }

    static func body(_ i: Int) -> [UInt8] {
        Array(#"{"eventType":"CardAddedToLibraryEvent","aggregateId":"card-\#(i)","dateTimeOccurred":"2026-11-28T10:00:00.000Z","cardId":"card-\#(i)","curatorId":"did:plc:abc"}"#.utf8)
    }

    @Test("declare → publish with confirms → consume → ack leaves the queue empty")
    func publishConsumeAck() async throws {
        let connection = try await Self.connect()
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("roundtrip")
        let exchange = TestEnvironment.uniqueName("ex")
        try await channel.declareExchange(exchange, type: .topic, durable: false, autoDelete: true)
        try await channel.declareQueue(queue, durable: true, arguments: ["x-queue-type": "classic"])
        try await channel.bindQueue(queue, exchange: exchange, routingKey: "CardAddedToLibraryEvent")

        let publisher = try await connection.openChannel()
        try await publisher.confirmSelect()
        let count = 200
        let outcomes = try await withThrowingTaskGroup(of: AMQPPublishOutcome.self) { group in
            for i in 0..<count {
                group.addTask {
                    try await publisher.publish(
                        Self.body(i), exchange: exchange, routingKey: "CardAddedToLibraryEvent",
                        properties: AMQPProperties(
                            contentType: "application/json", deliveryMode: .persistent, messageID: "m-\(i)",
                            timestamp: 1_764_320_000, type: "CardAddedToLibraryEvent", appID: "courier-tests"))
                }
            }
            return try await group.reduce(into: [AMQPPublishOutcome]()) { $0.append($1) }
        }
        #expect(outcomes.count == count)
        #expect(outcomes.allSatisfy { $0 == .acked })
        #expect(try await channel.declareQueuePassive(queue).messageCount == UInt32(count))

        try await channel.qos(prefetchCount: 50)
        let consumer = try await channel.consume(queue: queue)
        var seen = Set<String>()
        for try await delivery in consumer {
            #expect(delivery.routingKey == "CardAddedToLibraryEvent")
            #expect(delivery.exchange == exchange)
            #expect(delivery.properties.isPersistent)
            #expect(delivery.properties.contentType == "application/json")
            #expect(delivery.properties.type == "CardAddedToLibraryEvent")
            #expect(delivery.properties.appID == "courier-tests")
            #expect(delivery.properties.timestamp == 1_764_320_000)
            if let id = delivery.properties.messageID { seen.insert(id) }
            #expect(delivery.bodyString?.contains("\"eventType\":\"CardAddedToLibraryEvent\"") == true)
            channel.ack(delivery.deliveryTag)
            if seen.count == count { break }
        }
        #expect(seen.count == count)
        try await consumer.cancel()
        // Closing the channel requeues anything unacked: an empty queue proves every ack arrived.
        try await channel.close()
        let check = try await connection.openChannel()
        #expect(try await check.declareQueuePassive(queue).messageCount == 0)
        try await check.deleteQueue(queue)
        await connection.close()
    }

    @Test("bodies of every size arrive whole: empty, one frame, and split over many frames", arguments: [0, 1, 131_064, 131_065, 1_000_003])
    func bodySizes(size: Int) async throws {
        let connection = try await Self.connect()
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("sizes")
        try await channel.declareQueue(queue, durable: false, arguments: ["x-queue-type": "classic"])
        try await channel.confirmSelect()
        let bodies = (0..<3).map { n in (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ n) } }
        for body in bodies {
            #expect(try await channel.publish(body, exchange: "", routingKey: queue) == .acked)
        }
        let consumer = try await channel.consume(queue: queue)
        var received: [[UInt8]] = []
        for try await delivery in consumer {
            received.append(delivery.body)
            channel.ack(delivery.deliveryTag)
            if received.count == bodies.count { break }
        }
        #expect(received == bodies)
        try await consumer.cancel()
        // basic.get assembles the same way.
        #expect(try await channel.publish(bodies[1], exchange: "", routingKey: queue) == .acked)
        let got = try await eventuallyGet(channel, queue)
        #expect(got?.body == bodies[1])
        _ = try await channel.deleteQueue(queue)
        await connection.close()
    }

    private func eventuallyGet(_ channel: AMQPChannel, _ queue: String) async throws -> AMQPDelivery? {
        var delivery: AMQPDelivery?
        _ = try await eventually {
            delivery = try await channel.get(queue: queue, noAck: true)
            return delivery != nil
        }
        return delivery
    }

    @Test("acks handed over as a batch, with a gap left unacked: exactly the acked ones are settled")
    func batchAck() async throws {
        let connection = try await Self.connect()
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("batchack")
        try await channel.declareQueue(queue, durable: true, arguments: ["x-queue-type": "classic"])
        let publisher = try await connection.openChannel()
        try await publisher.confirmSelect()
        for i in 0..<30 {
            #expect(try await publisher.publish(Self.body(i), exchange: "", routingKey: queue, properties: AMQPProperties(messageID: "b-\(i)")) == .acked)
        }
        try await channel.qos(prefetchCount: 30)
        var iterator = try await channel.consume(queue: queue).makeAsyncIterator()
        var deliveries: [AMQPDelivery] = []
        while deliveries.count < 30, let delivery = try await iterator.next() { deliveries.append(delivery) }
        // Everything but deliveries 10 and 20, in two batches.
        channel.ack(deliveries[0..<10].map(\.deliveryTag))
        channel.ack(deliveries[11..<20].map(\.deliveryTag) + deliveries[21...].map(\.deliveryTag))
        channel.ack([])
        await channel.flush()
        try await Task.sleep(for: .milliseconds(200))
        // Closing the channel requeues what is unacked: exactly the two left out.
        try await channel.close()
        let check = try await connection.openChannel()
        #expect(try await check.declareQueuePassive(queue).messageCount == 2)
        var left: Set<String> = []
        while let message = try await check.get(queue: queue, noAck: true) { left.insert(message.properties.messageID ?? "?") }
        #expect(left == ["b-10", "b-20"])
        try await check.deleteQueue(queue)
        await connection.close()
    }

    @Test("nack and reject without requeue dead-letter with x-death")
    func deadLettering() async throws {
        let connection = try await Self.connect()
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("work")
        let dlx = TestEnvironment.uniqueName("dlx")
        let dlq = TestEnvironment.uniqueName("dlq")
        try await channel.declareExchange(dlx, type: .fanout, durable: false, autoDelete: true)
        try await channel.declareQueue(dlq, durable: false, autoDelete: false)
        try await channel.bindQueue(dlq, exchange: dlx, routingKey: "")
        try await channel.declareQueue(
            queue, durable: false,
            arguments: ["x-dead-letter-exchange": .string(dlx), "x-dead-letter-routing-key": .string(queue)])

        try await channel.confirmSelect()
        for i in 0..<2 {
            let outcome = try await channel.publish(
                Self.body(i), exchange: "", routingKey: queue,
                properties: AMQPProperties(deliveryMode: .persistent, messageID: "dl-\(i)"))
            #expect(outcome == .acked)
        }
        let consumer = try await channel.consume(queue: queue)
        var iterator = consumer.makeAsyncIterator()
        let first = try #require(try await iterator.next())
        let second = try #require(try await iterator.next())
        channel.nack(first.deliveryTag, requeue: false)
        channel.reject(second.deliveryTag, requeue: false)

        #expect(try await eventually { try await channel.declareQueuePassive(dlq).messageCount == 2 })
        var ids: [String] = []
        for _ in 0..<2 {
            let dead = try #require(try await channel.get(queue: dlq, noAck: true))
            ids.append(dead.properties.messageID ?? "")
            let deaths = try #require(dead.properties.headers?["x-death"]?.arrayValue)
            let death = try #require(deaths.first?.tableValue)
            #expect(death["reason"]?.stringValue == "rejected")
            #expect(death["queue"]?.stringValue == queue)
            #expect(death["count"]?.intValue == 1)
            #expect(death["routing-keys"]?.arrayValue?.first?.stringValue == queue)
            #expect(dead.properties.headers?["x-first-death-reason"]?.stringValue == "rejected")
        }
        #expect(Set(ids) == ["dl-0", "dl-1"])
        try await consumer.cancel()
        try await channel.deleteQueue(queue)
        try await channel.deleteQueue(dlq)
        await connection.close()
    }

    @Test("a mandatory publish to an unbound routing key comes back as returned (312 NO_ROUTE)")
    func mandatoryReturn() async throws {
        let connection = try await Self.connect()
        let channel = try await connection.openChannel()
        let exchange = TestEnvironment.uniqueName("topic")
        try await channel.declareExchange(exchange, type: .topic, durable: false, autoDelete: false)
        try await channel.confirmSelect()
        let outcome = try await channel.publish(
            Self.body(1), exchange: exchange, routingKey: "NobodyListensEvent",
            properties: AMQPProperties(messageID: "lost-1"), mandatory: true)
        guard case .returned(let returned) = outcome else {
            Issue.record("expected .returned, got \(outcome)")
            return
        }
        #expect(returned.replyCode == 312)
        #expect(returned.replyText == "NO_ROUTE")
        #expect(returned.routingKey == "NobodyListensEvent")
        #expect(returned.properties.messageID == "lost-1")
        #expect(returned.body == Self.body(1))
        // Without mandatory the same publish is simply acked (and dropped by the broker).
        #expect(try await channel.publish(Self.body(2), exchange: exchange, routingKey: "NobodyListensEvent") == .acked)
        try await channel.deleteExchange(exchange)
        await connection.close()
    }

    @Test("headers of every type survive a trip through the broker")
    func headersThroughBroker() async throws {
        let connection = try await Self.connect()
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("headers")
        try await channel.declareQueue(queue, durable: false, autoDelete: true)
        let headers: AMQPTable = [
            "bool": true, "i8": .int8(-3), "u8": .uint8(250), "i16": .int16(-300), "u16": .uint16(60000),
            "i32": .int32(-70000), "u32": .uint32(3_000_000_000), "i64": .int64(-5_000_000_000),
            "f32": .float(0.5), "f64": .double(3.25), "decimal": .decimal(scale: 3, value: 123_456),
            "text": "trace ✓", "bytes": .bytes([0, 159, 146, 150]), "time": .timestamp(1_764_320_000),
            "void": .void,
            "x-death": FieldTableTests.xDeath,
            "nested": .table(["list": .array([1, .table(["deep": "yes"])])]),
        ]
        try await channel.confirmSelect()
        #expect(try await channel.publish([1, 2, 3], exchange: "", routingKey: queue, properties: AMQPProperties(headers: headers)) == .acked)
        let got = try #require(try await channel.get(queue: queue, noAck: true))
        #expect(got.body == [1, 2, 3])
        let received = try #require(got.properties.headers)
        for (key, value) in headers {
            #expect(received[key] == value, "header \(key)")
        }
        await connection.close()
    }

    @Test("an idle connection stays alive past twice the heartbeat interval")
    func heartbeat() async throws {
        let connection = try await Self.connect("?heartbeat=1")
        #expect(await connection.heartbeat == 1)
        let channel = try await connection.openChannel()
        try await Task.sleep(for: .seconds(3.5))
        #expect(await connection.isOpen)
        let queue = TestEnvironment.uniqueName("alive")
        let info = try await channel.declareQueue(queue, durable: false, autoDelete: true)
        #expect(info.name == queue)
        await connection.close()
    }

    @Test("a refused operation says which, with the broker's code; the connection lives on")
    func brokerErrors() async throws {
        let connection = try await Self.connect()
        let channel = try await connection.openChannel()
        let missing = TestEnvironment.uniqueName("missing")
        await #expect {
            try await channel.declareQueuePassive(missing)
        } throws: { error in
            let error = error as? AMQPError
            return error?.code == .channelClosed && error?.replyCode == 404 && error?.operation.contains(missing) == true
                && error?.replyText?.contains("NOT_FOUND") == true
        }
        #expect(!channel.isOpen)
        await #expect(throws: AMQPError.self) { try await channel.declareQueue("anything") }

        let other = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("typed")
        try await other.declareQueue(queue, durable: true, arguments: ["x-queue-type": "quorum"])
        await #expect {
            try await other.declareQueue(queue, durable: true, arguments: ["x-queue-type": "classic"])
        } throws: { error in
            let error = error as? AMQPError
            return error?.replyCode == 406 && error?.replyText?.contains("PRECONDITION_FAILED") == true
                && error?.replyText?.contains("x-queue-type") == true
        }
        #expect(await connection.isOpen)
        let cleanup = try await connection.openChannel()
        try await cleanup.deleteQueue(queue)
        await connection.close()
    }

    @Test("a wrong password is refused with an error that does not contain it")
    func wrongPassword() async throws {
        var configuration = try AMQPConfiguration(url: try TestEnvironment.amqpURL())
        let wrong = "definitely-wrong-\(UUID().uuidString)"
        configuration.password = wrong
        do {
            _ = try await AMQPConnection.connect(configuration)
            Issue.record("login with a wrong password succeeded")
        } catch let error as AMQPError {
            #expect(error.code == .accessRefused)
            #expect(!error.description.contains(wrong))
            #expect(error.description.contains("***"))
        }
    }

    @Test("a consumer whose queue is deleted ends with consumerCancelled")
    func consumerCancelledByBroker() async throws {
        let connection = try await Self.connect()
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("doomed")
        try await channel.declareQueue(queue, durable: false)
        let consumer = try await channel.consume(queue: queue)
        let admin = try await connection.openChannel()
        try await admin.deleteQueue(queue)
        await #expect {
            for try await _ in consumer {}
        } throws: { error in
            (error as? AMQPError)?.code == .consumerCancelled
        }
        #expect(channel.isOpen, "a broker-side cancel leaves the channel usable")
        await connection.close()
    }

    @Test("streaming publishes with a bounded window are all confirmed")
    func streamingWindow() async throws {
        let connection = try await Self.connect()
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("stream")
        try await channel.declareQueue(queue, durable: true)
        try await channel.confirmSelect()
        let acked = Atomic<Int>(0)
        let maxSeen = Atomic<Int>(0)
        let total = 5000
        for i in 0..<total {
            await channel.waitForConfirmWindow(below: 500)
            _ = maxSeen.max(channel.outstandingConfirms, ordering: .relaxed)
            channel.publish(Self.body(i), exchange: "", routingKey: queue, properties: AMQPProperties(deliveryMode: .persistent)) { result in
                if case .success(.acked) = result { acked.add(1, ordering: .relaxed) }
            }
        }
        await channel.waitForConfirms()
        #expect(acked.load(ordering: .relaxed) == total)
        #expect(maxSeen.load(ordering: .relaxed) <= 500)
        #expect(try await channel.declareQueuePassive(queue).messageCount == UInt32(total))
        #expect(try await channel.purgeQueue(queue) == UInt32(total))
        try await channel.deleteQueue(queue)
        await connection.close()
    }

    @Test("after close, operations fail with connectionClosed and publishes do not hang")
    func closed() async throws {
        let connection = try await Self.connect()
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()
        await connection.close()
        #expect(await connection.isOpen == false)
        await #expect {
            try await channel.publish([1], exchange: "", routingKey: "x")
        } throws: { error in
            (error as? AMQPError)?.code == .connectionClosed
        }
        await #expect(throws: AMQPError.self) { try await connection.openChannel() }
    }

    @Test("closing a channel while deliveries stream in does not confuse the channel that reuses its number")
    func closeMidStream() async throws {
        let connection = try await Self.connect()
        let setup = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("midstream")
        try await setup.declareQueue(queue, durable: false)
        try await setup.confirmSelect()
        for i in 0..<2000 { setup.publish(Self.body(i), exchange: "", routingKey: queue) { _ in } }
        await setup.waitForConfirms()

        for _ in 0..<5 {
            let channel = try await connection.openChannel()
            try await channel.qos(prefetchCount: 1000)
            let consumer = try await channel.consume(queue: queue)
            var iterator = consumer.makeAsyncIterator()
            _ = try await iterator.next()
            try await channel.close()  // hundreds of deliveries are still on their way
        }
        #expect(await connection.isOpen)

        let last = try await connection.openChannel()
        try await last.qos(prefetchCount: 500)
        let consumer = try await last.consume(queue: queue)
        var count = 0
        for try await delivery in consumer {
            last.ack(delivery.deliveryTag)
            count += 1
            if count == 2000 { break }
        }
        #expect(count == 2000, "every message is still there: unacked ones went back on close")
        try await last.close()
        #expect(try await setup.declareQueuePassive(queue).messageCount == 0)
        await connection.close()
    }

    @Test("amqps: the same operations over librabbitmq's TLS socket, verifying the broker's certificate")
    func tls() async throws {
        let url = try TestEnvironment.amqpsURL()
        let configuration = try AMQPConfiguration(url: url)
        #expect(configuration.tls?.verifyPeer == true)
        #expect(configuration.tls?.caCertificatePath != nil)
        let connection = try await AMQPConnection.connect(configuration)
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("tls")
        try await channel.declareQueue(queue, durable: false, autoDelete: true)
        try await channel.confirmSelect()
        #expect(try await channel.publish(Self.body(7), exchange: "", routingKey: queue) == .acked)
        let got = try #require(try await channel.get(queue: queue, noAck: true))
        #expect(got.body == Self.body(7))
        await connection.close()
    }

    @Test("amqps: a broker certificate from an unknown CA is refused")
    func tlsUntrusted() async throws {
        var configuration = try AMQPConfiguration(url: try TestEnvironment.amqpsURL())
        configuration.tls?.caCertificatePath = nil  // the system's CAs do not know the local one
        await #expect {
            _ = try await AMQPConnection.connect(configuration)
        } throws: { error in
            let error = error as? AMQPError
            return error?.code == .connectionFailed && error?.libraryStatus?.contains("verification failed") == true
                && error?.replyText?.contains("TLS handshake") == true
        }
    }

    @Test("nothing unreachable hangs: connecting to a closed port fails fast")
    func unreachable() async throws {
        let start = ContinuousClock.now
        await #expect {
            _ = try await AMQPConnection.connect(url: "amqp://u:p@127.0.0.1:1/?connection_timeout=2000")
        } throws: { error in
            (error as? AMQPError)?.code == .connectionFailed
        }
        // Refused at once when idle; the bound only tells "fails" from "hangs", so it is generous
        // (a fresh-clone run beside stress-ng, with builds on the same two cores, took 43 s).
        #expect(ContinuousClock.now - start < .seconds(150))
    }
}

@Suite("AMQP consuming on the connection's own thread", .tags(.integration))
struct AMQPTaskExecutorTests {
    @Test("a consume-and-ack loop under the connection's task executor runs on that thread and acks everything")
    func consumeOnConnectionThread() async throws {
        let connection = try await AMQPBrokerTests.connect()
        let channel = try await connection.openChannel()
        let queue = TestEnvironment.uniqueName("onthread")
        try await channel.declareQueue(queue, durable: false)
        try await channel.confirmSelect()
        for i in 0..<300 {
            channel.publish(AMQPBrokerTests.body(i), exchange: "", routingKey: queue) { _ in }
        }
        await channel.waitForConfirms()
        let consumerChannel = try await connection.openChannel()
        try await consumerChannel.qos(prefetchCount: 50)
        let received = try await withTaskExecutorPreference(connection.taskExecutor) {
            let consumer = try await consumerChannel.consume(queue: queue)
            var count = 0
            for try await delivery in consumer {
                #expect(connection.executor.isCurrentThread)
                consumerChannel.ack(delivery.deliveryTag)
                count += 1
                if count == 300 { break }
            }
            try await consumer.cancel()
            return count
        }
        #expect(received == 300)
        try await consumerChannel.close()  // unacked messages would return to the queue here
        #expect(try await channel.declareQueuePassive(queue).messageCount == 0)
        try await channel.deleteQueue(queue)
        await connection.close()
    }
}

@Suite("AMQP against a list of nodes", .tags(.integration))
struct AMQPNodeListTests {
    @Test("a node that cannot be reached is passed over for the next one, in either order")
    func failover() async throws {
        let url = try TestEnvironment.amqpURL()
        // The real node first (it gives the credentials and vhost), then one nothing listens on.
        let configuration = try AMQPConfiguration(url: url + ",amqp://127.0.0.1:1")
        #expect(configuration.nodes.count == 2)
        for start in [1, 0] {
            let connection = try await AMQPConnection.connect(configuration, startingAt: start, logger: .init(label: "test"))
            #expect(await connection.isOpen)
            let channel = try await connection.openChannel()
            _ = try await channel.declareQueue(TestEnvironment.uniqueName("node-list"), exclusive: true)
            await connection.close()
        }
    }

    @Test("no node reachable: one error naming every node tried, without the password")
    func noneReachable() async throws {
        let configuration = try AMQPConfiguration(url: "amqp://u:pw-secret@127.0.0.1:1/v,amqp://127.0.0.1:2")
        do {
            _ = try await AMQPConnection.connect(configuration)
            Issue.record("connected to nothing")
        } catch let error as AMQPError {
            #expect(error.code == .connectionFailed)
            #expect("\(error)".contains("127.0.0.1:1") && "\(error)".contains("127.0.0.1:2"), "\(error)")
            #expect(!"\(error)".contains("pw-secret"))
        }
    }
}
