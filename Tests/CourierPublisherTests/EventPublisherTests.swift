import CourierAMQP
import CourierEvents
import CourierTesting
import CourierTelemetry
import Foundation
import InMemoryTracing
import Synchronization
import Testing
import Tracing

@testable import CourierPublisher

/// ``EventPublisher`` against the real broker, in this run's vhost.
@Suite("EventPublisher on the real broker", .tags(.integration))
struct EventPublisherTests {
    @Test("a confirmed publish carries every property and decodes to the same event")
    func publishWithProperties() async throws {
        let exchange = try await TestExchange.make()
        let publisher = EventPublisher(configuration: try exchange.publisherConfiguration(appID: "semble-api"), logger: quietLogger)
        let envelope = Events.cardAdded()
        // The API's request span: the publish is its child, and the message carries the publish
        // span's context (the in-memory tracer's propagation fields).
        let tracer = TestTracing.tracer
        let request = tracer.startSpan("POST /cards")
        try await ServiceContext.withValue(request.context) {
            try await publisher.publish(envelope)
        }
        request.end()
        let traceID = try #require(request.context.inMemorySpanContext?.traceID)
        let untraced = Events.cardAdded()
        try await publisher.publish(untraced)

        let messages = try await exchange.messages(expecting: 2)
        #expect(messages.count == 2)
        let message = try #require(messages.first { $0.properties.messageID == envelope.id })
        #expect(message.routingKey == "CardAddedToLibraryEvent")
        #expect(message.properties.deliveryMode == .persistent)
        #expect(message.properties.type == "CardAddedToLibraryEvent")
        #expect(message.properties.timestamp == 1_795_861_730)
        #expect(message.properties.contentType == "application/json")
        #expect(message.properties.appID == "semble-api")
        #expect(message.properties.headers?[EventSchema.versionHeader]?.intValue == 2)
        #expect(message.properties.headers?[InMemoryTracer.traceIDKey]?.stringValue == traceID)
        #expect(try decode(message) == envelope)
        let spans = TestTracing.finishedSpans(inTrace: traceID)
        let publish = try #require(spans.first { $0.operationName == "publish CardAddedToLibraryEvent" })
        #expect(publish.kind == .producer)
        #expect(publish.spanContext.parentSpanID == request.context.inMemorySpanContext?.spanID)
        #expect(message.properties.headers?[InMemoryTracer.spanIDKey]?.stringValue == publish.spanContext.spanID, "the handlers' parent")
        #expect(publish.attributes[CourierSpan.Attribute.eventID]?.toSpanAttribute() == .string(envelope.id))
        #expect(publish.attributes[CourierSpan.Attribute.outcome]?.toSpanAttribute() == .string("confirmed"))
        let other = try #require(messages.first { $0.properties.messageID == untraced.id })
        let otherTrace = other.properties.headers?[InMemoryTracer.traceIDKey]?.stringValue
        #expect(otherTrace != nil && otherTrace != traceID, "outside a span, a publish starts a trace of its own")
        #expect(other.properties.headers?["traceparent"] == nil)

        await publisher.shutdown()
        await exchange.delete()
    }

    @Test("50 tasks × 100 events on one publisher: every one confirmed, each once")
    func manyConcurrentPublishers() async throws {
        let exchange = try await TestExchange.make()
        let publisher = EventPublisher(configuration: try exchange.publisherConfiguration(), logger: quietLogger)
        let published = try await withThrowingTaskGroup(of: [String].self) { group in
            for task in 0..<50 {
                group.addTask {
                    var ids: [String] = []
                    for i in 0..<100 {
                        let envelope = Events.cardAdded(card: "card-\(task)-\(i)")
                        try await publisher.publish(envelope)
                        ids.append(envelope.id)
                    }
                    return ids
                }
            }
            var all: [String] = []
            for try await ids in group { all += ids }
            return all
        }
        #expect(published.count == 5000)
        let messages = try await exchange.messages(expecting: 5000)
        #expect(messages.count == 5000)
        #expect(Set(messages.compactMap(\.properties.messageID)) == Set(published))
        await publisher.shutdown()
        await exchange.delete()
    }

    @Test("no queue bound and no alternate exchange: the publish fails as unroutable")
    func unroutableOnBareExchange() async throws {
        let exchange = try await TestExchange.make(bound: false)
        let publisher = EventPublisher(configuration: try exchange.publisherConfiguration(), logger: quietLogger)
        let envelope = Events.cardAdded()
        let error = await #expect(throws: PublishError.self) {
            try await publisher.publish(envelope)
        }
        #expect(error?.code == .unroutable)
        #expect(error?.replyCode == 312)
        #expect(error?.messageID == envelope.id)
        #expect(error?.eventType == "CardAddedToLibraryEvent")
        #expect(error?.mayHaveBeenPublished == false)
        // The channel survives a return: the next publish, once routable, is confirmed.
        try await exchange.bind()
        try await publisher.publish(Events.cardAdded())
        await publisher.shutdown()
        await exchange.delete()
    }

    @Test("with courierd's topology, an event nobody binds is acked and kept in domain_events.unrouted")
    func alternateExchangeKeepsIt() async throws {
        let connection = try await AMQPConnection.connect(url: try TestEnvironment.amqpURL())
        let channel = try await connection.openChannel()
        // Exactly as courierd's Topology declares them (equivalent declarations are no-ops).
        try await channel.declareExchange("domain_events.unrouted", type: .fanout, durable: true)
        try await channel.declareExchange(
            "domain_events", type: .topic, durable: true, arguments: ["alternate-exchange": "domain_events.unrouted"])
        try await channel.declareQueue("domain_events.unrouted", durable: true, arguments: ["x-queue-type": "quorum"])
        try await channel.bindQueue("domain_events.unrouted", exchange: "domain_events.unrouted", routingKey: "")

        let publisher = EventPublisher(configuration: try PublisherConfiguration(url: try TestEnvironment.amqpURL()), logger: quietLogger)
        #expect(publisher.configuration.exchangeName == "domain_events")
        // Every real event type may be bound by another suite's queue in this shared vhost, so the
        // event goes out under a type name no queue binds.
        let eventType = TestEnvironment.uniqueName("NobodyBindsThisEvent")
        let id = UUID().uuidString.lowercased()
        let results = await publisher.send([
            OutgoingMessage(body: Array("{}".utf8), eventType: eventType, messageID: id, timestamp: 0, schemaVersion: 2)
        ])
        #expect(throws: Never.self) { try results[0].get() }

        var found = false
        var others: [UInt64] = []
        for _ in 0..<200 {
            guard let message = try await channel.get(queue: "domain_events.unrouted", noAck: false) else { break }
            if message.properties.messageID == id {
                found = true
                #expect(message.routingKey == eventType)
                channel.ack(message.deliveryTag)
                break
            }
            others.append(message.deliveryTag)
        }
        for tag in others { channel.reject(tag, requeue: true) }
        #expect(found, "the alternate exchange kept the event")
        await publisher.shutdown()
        await connection.close()
    }

    @Test("a missing exchange is reported as such, and the publisher recovers once it exists")
    func missingExchange() async throws {
        let exchange = try await TestExchange.make()
        var configuration = try exchange.publisherConfiguration()
        configuration.exchange = TestEnvironment.uniqueName("no_such_exchange")
        let publisher = EventPublisher(configuration: configuration, logger: quietLogger)
        let error = await #expect(throws: PublishError.self) {
            try await publisher.publish(Events.cardAdded())
        }
        #expect(error?.code == .exchangeNotFound)
        #expect(error?.replyCode == 404)
        try await exchange.channel.declareExchange(configuration.exchange, type: .topic, durable: true)
        try await exchange.channel.bindQueue(exchange.queue, exchange: configuration.exchange, routingKey: "#")
        try await publisher.publish(Events.cardAdded())
        _ = try await exchange.channel.deleteExchange(configuration.exchange)
        await publisher.shutdown()
        await exchange.delete()
    }

    @Test("no broker on the port: an error within seconds, then at once while backing off — never a hang")
    func deadBrokerFailsFast() async throws {
        var configuration = try PublisherConfiguration(url: "amqp://courier:s3cret-pw@127.0.0.1:1/%2F")
        // A backoff window no slow machine outlasts between the two publishes (the maximum
        // caps the first delay too).
        configuration.reconnectDelay = .seconds(600)
        configuration.maxReconnectDelay = .seconds(600)
        let publisher = EventPublisher(configuration: configuration, logger: quietLogger)
        let started = ContinuousClock.now
        let first = await #expect(throws: PublishError.self) {
            try await publisher.publish(Events.cardAdded())
        }
        // Refused at once when idle; the bound only tells "an error" from "a hang", so it is
        // generous (a loaded machine is slow to schedule, never 30 s slow to refuse).
        // (A fresh-clone run with stress-ng beside the whole suite took 44 s here.)
        #expect(ContinuousClock.now - started < .seconds(150))
        #expect(first?.code == .connectionFailed)
        #expect(first?.mayHaveBeenPublished == false)
        #expect(!"\(first.map { "\($0)" } ?? "")".contains("s3cret-pw"))

        // No new connect attempt while backing off: the error says so (what a stopwatch showed
        // before, and a busy machine overran), and it comes at once, not after the delay.
        let again = ContinuousClock.now
        let second = await #expect(throws: PublishError.self) {
            try await publisher.publish(Events.cardAdded())
        }
        #expect(ContinuousClock.now - again < .seconds(30), "not waiting out the reconnect delay")
        #expect(second?.code == .connectionFailed)
        #expect(second?.reason.contains("next connect attempt") == true, "backing off: no new connect attempt")
        await publisher.shutdown()
    }

    @Test("a connection closed by the broker fails what is in flight, and the next publish reconnects")
    func reconnectsAfterConnectionClosed() async throws {
        let exchange = try await TestExchange.make()
        var configuration = try exchange.publisherConfiguration()
        let name = TestEnvironment.uniqueName("publisher-conn")
        configuration.amqp.connectionName = name
        configuration.reconnectDelay = .milliseconds(50)
        let publisher = EventPublisher(configuration: configuration, logger: quietLogger)
        try await publisher.publish(Events.cardAdded())
        #expect(try TestBroker.closeConnections(named: name) == 1)
        // The close reaches the client asynchronously; a publish racing it fails as connectionLost
        // (or channel closed) and the one after reconnects.
        var succeeded = false
        for _ in 0..<50 {
            do {
                try await publisher.publish(Events.cardAdded())
                succeeded = true
                break
            } catch {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(succeeded)
        #expect(await eventually { (try? await exchange.depth()) ?? 0 >= 2 })
        await publisher.shutdown()
        await exchange.delete()
    }

    @Test("after shutdown, publishing fails with shutDown and sends nothing")
    func shutdownRefuses() async throws {
        let exchange = try await TestExchange.make()
        let publisher = EventPublisher(configuration: try exchange.publisherConfiguration(), logger: quietLogger)
        try await publisher.publish(Events.cardAdded())
        await publisher.shutdown()
        let error = await #expect(throws: PublishError.self) {
            try await publisher.publish(Events.cardAdded())
        }
        #expect(error?.code == .shutDown)
        #expect(try await exchange.depth() == 1)
        await exchange.delete()
    }

    @Test("a batch publish answers each event in order")
    func batchPublish() async throws {
        let exchange = try await TestExchange.make()
        let publisher = EventPublisher(configuration: try exchange.publisherConfiguration(), logger: quietLogger)
        let envelopes = (0..<20).map { Events.numbered(aggregate: "col-batch", index: $0) }
        let results = await publisher.publish(envelopes)
        #expect(results.count == 20)
        #expect(results.allSatisfy { (try? $0.get()) != nil })
        let messages = try await exchange.messages(expecting: 20)
        #expect(messages.compactMap(\.properties.messageID) == envelopes.map(\.id), "one channel keeps the order")
        await publisher.shutdown()
        await exchange.delete()
    }
}
