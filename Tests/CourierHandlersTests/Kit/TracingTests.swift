import CourierAMQP
import CourierEngine
import CourierEvents
import CourierPostgres
import CourierPublisher
import CourierTelemetry
import CourierTesting
import Foundation
import InMemoryTracing
import Logging
import Testing
import Tracing

@testable import CourierHandlers

/// One trace from the API's transaction to each handler's span, with the in-memory tracer
/// (``TestTracing``), the real broker and the real Postgres.
@Suite("Tracing from the outbox to the handlers", .tags(.integration))
struct TracingTests {
    typealias A = CourierSpan.Attribute

    func string(_ span: FinishedInMemorySpan, _ key: String) -> String? {
        if case .string(let value) = span.attributes[key]?.toSpanAttribute() { return value }
        return nil
    }

    func int(_ span: FinishedInMemorySpan, _ key: String) -> Int64? {
        if case .int64(let value) = span.attributes[key]?.toSpanAttribute() { return value }
        return nil
    }

    @Test("a story written through the outbox is one trace: the transaction, the relay's publish, both handlers' spans")
    func outboxToHandlers() async throws {
        let tracer = TestTracing.tracer
        try await SembleTestDatabase.with { db in
            try await OutboxSchema.migrate(on: db.connection, schema: db.courierSchema)
            let added = SembleEvents.libraryAdd(UUID().uuidString.lowercased(), card: "card-trace", by: "did:plc:alice", at: 1)
            let followed = SembleEvents.follow(UUID().uuidString.lowercased(), "did:plc:bob", follows: "did:plc:alice", at: 2)

            // The API: one request span, one transaction writing both events.
            let request = tracer.startSpan("POST /library")
            let traceID = try #require(request.context.inMemorySpanContext?.traceID)
            try await ServiceContext.withValue(request.context) {
                try await db.pool.withTransaction { connection in
                    try Outbox.enqueue([added, followed], schema: db.courierSchema, in: connection)
                }
            }
            request.end()
            let stored = try await db.connection.query(
                "SELECT trace_context::text FROM \(db.courierSchema).event_store WHERE id = $1::uuid", [added.id])
            let context = try #require(try stored.first?.decode(String?.self, column: 0))
            #expect(context.contains(traceID), "the row stores the transaction's trace context: \(context)")

            // courierd: the relay publishes, the engine consumes with Semble's handlers.
            let url = try TestEnvironment.amqpURL()
            let consuming = try await AMQPConnection.connect(url: url)
            let publishing = try await AMQPConnection.connect(url: url)
            let topology = Topology(.init(appName: TestEnvironment.uniqueName("traced"), eventTypes: EventType.allWireNames))
            try await topology.declare(on: consuming)
            var relayConfiguration = RelayConfiguration(
                database: try SembleTestDatabase.configuration(schema: db.schema),
                publisher: PublisherConfiguration(amqp: try AMQPConfiguration(url: url), appID: "tracing-tests"))
            relayConfiguration.pollInterval = .milliseconds(200)
            let relay = OutboxRelay(configuration: relayConfiguration, logger: Logger(label: "test"))
            let runner = EventHandlerRunner(handlers: SembleHandlers.make(settings: db.settings), pool: db.pool, logger: Logger(label: "test"))
            let engine = ConsumerEngine(topology: topology, handler: runner, logger: Logger(label: "test"))
            let relayTask = Task { try await relay.run() }
            let engineTask = Task { try await engine.run(consuming: consuming, publishing: publishing) }
            let wanted: Set<String> = [
                "feeds CardAddedToLibraryEvent", "notifications CardAddedToLibraryEvent", "notifications \(followed.type.rawValue)",
            ]
            let complete = await eventually {
                let names = Set(TestTracing.finishedSpans(inTrace: traceID).map(\.operationName))
                return names.isSuperset(of: wanted)
            }
            relayTask.cancel()
            engineTask.cancel()
            _ = await relayTask.result
            _ = await engineTask.result
            let cleanup = try await consuming.openChannel()
            for queue in topology.queues where queue.name != Topology.unroutedName { _ = try? await cleanup.deleteQueue(queue.name) }
            await consuming.close()
            await publishing.close()

            let spans = TestTracing.finishedSpans(inTrace: traceID)
            #expect(complete, "spans of the trace: \(spans.map(\.operationName))")
            let requestSpanID = request.context.inMemorySpanContext?.spanID
            for event in [added, followed] {
                let publishes = spans.filter { $0.operationName == "publish \(event.type.rawValue)" && string($0, A.eventID) == event.id }
                let publish = try #require(publishes.first, "the relay's publish of \(event.type.rawValue) joins the trace")
                #expect(publish.kind == .producer)
                #expect(publish.spanContext.parentSpanID == requestSpanID, "a child of the request's span")
                #expect(string(publish, A.outcome) == "confirmed")
                let handlerSpans = spans.filter { $0.kind == .consumer && string($0, A.eventID) == event.id }
                let expectedHandlers: Set<String> = event.type == .cardAddedToLibrary ? ["feeds", "notifications"] : ["notifications"]
                #expect(Set(handlerSpans.compactMap { string($0, A.handler) }) == expectedHandlers)
                for span in handlerSpans {
                    #expect(
                        publishes.contains { $0.spanContext.spanID == span.spanContext.parentSpanID },
                        "\(span.operationName) is a child of the publish")
                    #expect(string(span, A.outcome) == "handled")
                    #expect(string(span, A.eventType) == event.type.rawValue)
                    #expect(int(span, A.attempt) == 1)
                    #expect(span.errors.isEmpty)
                }
            }
        }
    }

    @Test("a retried or replayed copy joins the original's trace; hostile trace headers and bodies start no trace and break nothing")
    func retriesAndHostileHeaders() async throws {
        let tracer = TestTracing.tracer
        try await SembleTestDatabase.with { db in
            let runner = EventHandlerRunner(handlers: SembleHandlers.make(settings: db.settings), pool: db.pool, logger: Logger(label: "test"))
            let original = tracer.startSpan("publish USER_FOLLOWED_TARGET", ofKind: .producer)
            original.end()
            let traceID = try #require(original.context.inMemorySpanContext?.traceID)
            let spanID = try #require(original.context.inMemorySpanContext?.spanID)
            let event = SembleEvents.follow(UUID().uuidString.lowercased(), "did:plc:carol", follows: "did:plc:dave", at: 3)
            func delivery(_ body: [UInt8], headers: AMQPTable, messageID: String) -> AMQPDelivery {
                var all = headers
                all[EventSchema.versionHeader] = .int32(Int32(EventSchema.currentVersion))
                return AMQPDelivery(
                    deliveryTag: 1, redelivered: false, exchange: "", routingKey: "events_app.retry.5s", consumerTag: "test",
                    properties: AMQPProperties(
                        contentType: "application/json", headers: all, deliveryMode: .persistent, messageID: messageID, type: event.type.rawValue),
                    body: body)
            }
            // Third attempt of a message replayed once: the retry copy kept the original's trace headers.
            let retried = delivery(
                EventEncoder().encode(event),
                headers: [
                    InMemoryTracer.traceIDKey: .string(traceID), InMemoryTracer.spanIDKey: .string(spanID),
                    CourierHeader.attempts: .int64(2), CourierHeader.replayCount: .int32(1),
                    CourierHeader.originalRoutingKey: .string(event.type.rawValue),
                ], messageID: event.id)
            let garbage = delivery(
                Array("{not json".utf8),
                headers: [InMemoryTracer.traceIDKey: .string(traceID), InMemoryTracer.spanIDKey: .string(spanID)], messageID: "garbage-\(UUID())")
            let hostileID = "hostile-\(UUID())"
            let hostile = delivery(
                Array("{}".utf8),
                headers: [
                    InMemoryTracer.traceIDKey: .string(String(repeating: "7", count: 100_000)), InMemoryTracer.spanIDKey: .int64(42),
                    "traceparent": .bytes([0xFF, 0xFE, 0x00]), "tracestate": .table(["a": .bool(true)]),
                ], messageID: hostileID)
            let outcomes = await runner.handle([retried, garbage, hostile])
            #expect(outcomes[0] == .handled)
            guard case .permanentFailure = outcomes[1], case .permanentFailure = outcomes[2] else {
                Issue.record("malformed bodies are permanent failures: \(outcomes)")
                return
            }

            let spans = TestTracing.finishedSpans(inTrace: traceID)
            let handled = try #require(spans.first { string($0, A.eventID) == event.id }, "\(spans.map(\.operationName))")
            #expect(handled.operationName == "notifications \(event.type.rawValue)", "named by the original routing key's type")
            #expect(handled.spanContext.parentSpanID == spanID)
            #expect(int(handled, A.attempt) == 3)
            #expect(int(handled, A.replayCount) == 1)
            let decode = try #require(spans.first { $0.operationName == "decode" })
            #expect(string(decode, A.outcome) == "permanent_failure")
            #expect(decode.errors.count == 1)
            #expect(decode.status?.code == .error)
            let hostileSpan = try #require(tracer.finishedSpans.first { string($0, A.eventID) == hostileID })
            #expect(hostileSpan.traceID != traceID && hostileSpan.traceID.utf8.count < 100, "an oversized trace id is not taken")
        }
    }
}
