import CourierAMQP
import CourierEvents
import CourierTelemetry
import Foundation
import Testing

@testable import CourierPublisher

/// The pure parts: trace context, backoff, the confirm bookkeeping, the mark rule, properties.
@Suite("Publisher logic")
struct PublisherUnitTests {
    @Test("only propagation-looking headers travel: lower-case token keys, not x-…, printable values within 512 bytes")
    func propagationHeaders() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        #expect(MessageTrace.isPropagationHeader(key: "traceparent", value: good))
        #expect(MessageTrace.isPropagationHeader(key: "tracestate", value: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"))
        #expect(!MessageTrace.isPropagationHeader(key: "x-courier-attempts", value: "1"), "never one of Courier's headers")
        #expect(!MessageTrace.isPropagationHeader(key: "x-schema-version", value: "2"))
        #expect(!MessageTrace.isPropagationHeader(key: "TraceParent", value: good))
        #expect(!MessageTrace.isPropagationHeader(key: "", value: good))
        #expect(!MessageTrace.isPropagationHeader(key: "traceparent", value: "a\nb"))
        #expect(!MessageTrace.isPropagationHeader(key: "tracestate", value: String(repeating: "a", count: 513)))
        #expect(MessageTrace.isPropagationHeader(key: "tracestate", value: String(repeating: "a", count: 512)))
        let many = Dictionary(uniqueKeysWithValues: (0..<20).map { ("k\($0)", "v") })
        #expect(MessageTrace.sanitized(many).count == MessageTrace.maximumHeaders)
    }

    @Test("an outbox row's trace_context: a JSON object of strings; anything else gives no headers")
    func storedTraceContext() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let stored = TraceHeadersJSON.encode(["traceparent": good, "tracestate": "a=b"])
        #expect(stored == #"{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"a=b"}"#)
        #expect(TraceHeadersJSON.decode(stored) == ["traceparent": good, "tracestate": "a=b"])
        #expect(TraceHeadersJSON.encode([:]) == nil)
        #expect(TraceHeadersJSON.decode(nil) == [:])
        #expect(TraceHeadersJSON.decode("[1,2]") == [:])
        #expect(TraceHeadersJSON.decode("not json") == [:])
        #expect(TraceHeadersJSON.decode(#"{"traceparent":42,"x-courier-attempts":"9","tracestate":"a=b"}"#) == ["tracestate": "a=b"])
    }

    @Test("a confirm batch settles each message once; expiry settles only what is still open")
    func confirmBatch() async {
        let batch = ConfirmBatch(count: 3)
        batch.settle(1, .success(.acked))
        batch.settle(1, .success(.nacked))  // a second answer is ignored
        batch.expire(.timedOut)
        batch.settle(0, .success(.acked))  // too late
        let outcomes = await batch.outcomes()
        guard case .expired(.timedOut) = outcomes[0], case .confirmed(.success(.acked)) = outcomes[1],
            case .expired(.timedOut) = outcomes[2]
        else {
            Issue.record("unexpected outcomes \(outcomes)")
            return
        }
        #expect(batch.isExpired)
    }

    @Test("a confirm batch whose messages all settle resumes its waiter")
    func confirmBatchCompletes() async {
        let batch = ConfirmBatch(count: 2)
        let waiter = Task { await batch.outcomes() }
        batch.settle(0, .success(.acked))
        batch.settle(1, .failure(AMQPError(code: .connectionClosed, operation: "test")))
        let outcomes = await waiter.value
        #expect(outcomes.count == 2)
        #expect(!batch.isExpired)
    }

    @Test("messages a batch never sent because it expired are reported as certainly not published")
    func notSentAfterExpiry() async {
        let batch = ConfirmBatch(count: 2)
        batch.expire(.cancelled)
        batch.skip(1)
        let outcomes = await batch.outcomes()
        guard case .expired(.cancelled) = outcomes[0], case .notSent(.cancelled) = outcomes[1] else {
            Issue.record("unexpected outcomes \(outcomes)")
            return
        }
    }

    // Waits for the expiry itself (the time limit only turns a sweep that never fires into a
    // failure instead of a hang), and checks what the deadline decides rather than how fast the
    // sweep ran: never before the deadline, and only the batch whose deadline passed. A bound
    // on the delay measured 4.4 s on a loaded machine for a 10 ms tick.
    @Test("confirm deadlines expire a batch nobody answers", .timeLimit(.minutes(5)))
    func deadlines() async {
        let deadlines = ConfirmDeadlines(timeout: .milliseconds(100))
        let batch = ConfirmBatch(count: 1)
        let patient = ConfirmBatch(count: 1)
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(100)
        _ = deadlines.add(batch, deadline: deadline)
        let patientID = deadlines.add(patient, deadline: started + .seconds(3600))
        let outcomes = await batch.outcomes()
        #expect(ContinuousClock.now >= deadline, "expired before its deadline")
        guard case .expired(.timedOut) = outcomes[0] else {
            Issue.record("expected a timeout, got \(outcomes)")
            return
        }
        #expect(!patient.isExpired, "a batch whose deadline has not passed is left alone")
        deadlines.remove(patientID)
    }

    @Test("after a row of an aggregate fails, none of that aggregate's later rows is marked")
    func markRule() throws {
        func record(_ id: String, _ aggregate: String) -> OutboxClaim.Record {
            var record = try! OutboxClaim.Record.fake(id: id, aggregate: aggregate)
            record.aggregateId = aggregate
            return record
        }
        let records = [record("a1", "A"), record("b1", "B"), record("a2", "A"), record("b2", "B"), record("a3", "A"), record("c1", "C")]
        let failure = PublishError(code: .nacked, reason: "test")
        let results: [Result<Void, PublishError>] = [.success(()), .failure(failure), .failure(failure), .success(()), .success(()), .success(())]
        #expect(OutboxClaim.markable(records, results) == ["a1", "c1"])
    }

    @Test("messages carry persistence, identity, type, time, publisher, schema version and trace")
    func properties() {
        let envelope = Events.cardAdded()
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        var message = OutgoingMessage(envelope)
        message.traceHeaders = ["traceparent": trace]
        let properties = message.properties(appID: "semble-api")
        #expect(properties.deliveryMode == .persistent)
        #expect(properties.messageID == envelope.id)
        #expect(properties.type == "CardAddedToLibraryEvent")
        #expect(properties.timestamp == 1_795_861_730)
        #expect(properties.contentType == "application/json")
        #expect(properties.appID == "semble-api")
        #expect(properties.headers?[EventSchema.versionHeader]?.intValue == 2)
        #expect(properties.headers?["traceparent"]?.stringValue == trace)
        let untraced = OutgoingMessage(
            body: [], eventType: "T", messageID: "m", timestamp: 0, schemaVersion: 2, traceHeaders: ["traceparent": "bad\u{0}", "x-evil": "1"]
        ).properties(appID: "x")
        #expect(untraced.headers?["traceparent"] == nil)
        #expect(untraced.headers?["x-evil"] == nil)
    }

    @Test("outgoing envelopes get a fresh lower-case UUID and the specified aggregate")
    func outgoingEnvelope() {
        let follow = EventEnvelope.outgoing(
            .userFollowedTarget(.init(followId: "f-1", followerId: "did:plc:ewvi7nxzyoun6zhxrhs64oiz", targetId: "did:plc:7iza6de2dwap2sbkpav7c6c6", targetType: .user, createdAt: Date())))
        #expect(UUID(uuidString: follow.id) != nil)
        #expect(follow.id == follow.id.lowercased())
        #expect(follow.aggregateId == "f-1")
        #expect(follow.schemaVersion == EventSchema.currentVersion)
        #expect(EventEnvelope.outgoing(.cardAddedToCollection(.init(cardId: "c", collectionId: "col", addedBy: "did:plc:7iza6de2dwap2sbkpav7c6c6", addedAt: Date()))).aggregateId == "col")
        #expect(EventEnvelope.outgoing(.connectionRemoved(.init(connectionId: "k", curatorId: "did:plc:7iza6de2dwap2sbkpav7c6c6")), aggregateId: "other").aggregateId == "other")
    }

    @Test("an outbox row needs a UUID id, and stores it lower-case")
    func outboxRowIdentity() throws {
        var envelope = Events.cardAdded()
        envelope.id = envelope.id.uppercased()
        #expect(try Outbox.Row(envelope, traceContext: nil).id == envelope.id.lowercased())
        envelope.id = "not-a-uuid"
        #expect {
            try Outbox.Row(envelope, traceContext: nil)
        } throws: { error in
            (error as? OutboxError)?.code == .invalidEventID && "\(error)".contains("not-a-uuid")
        }
    }

    @Test("configurations and errors never show the password")
    func noPasswords() throws {
        let configuration = try PublisherConfiguration(url: "amqp://courier:s3cret-pw@127.0.0.1:1/vhost", appID: "api")
        #expect(!"\(configuration)".contains("s3cret-pw"))
        #expect(configuration.amqp.connectionTimeout == .seconds(5), "a dead broker must fail a publish within seconds")
        #expect(configuration.amqp.connectionName == "courier-publisher (api)")
        #expect(configuration.exchangeName == "domain_events")
        #expect {
            try PublisherConfiguration(url: "amqp://courier:s3cret-pw@host:notaport/v")
        } throws: { error in
            (error as? PublishError)?.code == .invalidConfiguration && !"\(error)".contains("s3cret-pw")
        }
    }
}

extension OutboxClaim.Record {
    /// A record not read from the database, for the pure tests.
    static func fake(id: String, aggregate: String) throws -> OutboxClaim.Record {
        OutboxClaim.Record(
            id: id, position: 0, aggregateId: aggregate,
            message: OutgoingMessage(body: [], eventType: "T", messageID: id, timestamp: 0, schemaVersion: 2))
    }
}
