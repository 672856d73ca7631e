import CourierAMQP
import Foundation
import Testing

@testable import CourierEngine

@Suite("Failure headers")
struct FailureHeadersTests {
    let original = AMQPProperties(
        contentType: "application/json", headers: ["traceparent": "00-abc-def-01", "x-courier-attempts": 2],
        deliveryMode: .persistent, messageID: "m-1", timestamp: 1_764_000_000, type: "CardAddedToLibraryEvent",
        appID: "semble-api")
    let origin = MessageOrigin(exchange: "domain_events", routingKey: "CardAddedToLibraryEvent", queue: "events_app")

    @Test("a dead-letter copy keeps every original property and header and adds all failure headers")
    func deadLetter() throws {
        let failure = HandlingFailure(errorClass: "InvalidField", message: "cardId is empty", handler: "feeds")
        let p = FailureHeaders.deadLetter(
            original, reason: .permanentFailure, failure: failure, attempts: 3, origin: origin,
            failedAt: Date(timeIntervalSince1970: 1_764_000_123), host: "worker-1", failureID: "f-1")
        #expect(p.contentType == original.contentType)
        #expect(p.messageID == "m-1")
        #expect(p.type == original.type)
        #expect(p.appID == "semble-api")
        #expect(p.timestamp == original.timestamp)
        #expect(p.isPersistent)
        let h = try #require(p.headers)
        #expect(h["traceparent"] == "00-abc-def-01")
        #expect(h[CourierHeader.attempts]?.intValue == 3)
        #expect(h[CourierHeader.reason]?.stringValue == "permanent-failure")
        #expect(h[CourierHeader.errorClass]?.stringValue == "InvalidField")
        #expect(h[CourierHeader.errorMessage]?.stringValue == "cardId is empty")
        #expect(h[CourierHeader.errorFingerprint]?.stringValue == FailureHeaders.fingerprint(failure))
        #expect(h[CourierHeader.failedAt] == .timestamp(1_764_000_123))
        #expect(h[CourierHeader.handler]?.stringValue == "feeds")
        #expect(h[CourierHeader.originalExchange]?.stringValue == "domain_events")
        #expect(h[CourierHeader.originalRoutingKey]?.stringValue == "CardAddedToLibraryEvent")
        #expect(h[CourierHeader.originalQueue]?.stringValue == "events_app")
        #expect(h[CourierHeader.host]?.stringValue == "worker-1")
        #expect(h[CourierHeader.failureID]?.stringValue == "f-1")
    }

    @Test("the attempt header is read back, and a retry copy carries the next value")
    func attempts() {
        #expect(FailureHeaders.failedAttempts(in: original) == 2)
        #expect(FailureHeaders.failedAttempts(in: AMQPProperties()) == 0)
        #expect(FailureHeaders.failedAttempts(in: AMQPProperties(headers: [CourierHeader.attempts: "junk"])) == 0)
        #expect(FailureHeaders.failedAttempts(in: AMQPProperties(headers: [CourierHeader.attempts: .int32(4)])) == 4)
        let retry = FailureHeaders.retry(original, attempt: 3, origin: origin)
        #expect(FailureHeaders.failedAttempts(in: retry) == 3)
        #expect(retry.headers?["traceparent"] == "00-abc-def-01")
    }

    @Test("a retry copy remembers where the event was first published, so every attempt sees the same routing key")
    func retryOrigin() {
        let first = AMQPDelivery(
            deliveryTag: 1, redelivered: false, exchange: "domain_events", routingKey: "CardAddedToLibraryEvent",
            consumerTag: "c", properties: AMQPProperties(), body: [])
        #expect(FailureHeaders.origin(of: first, queue: "events_app") == origin)
        let copy = FailureHeaders.retry(first.properties, attempt: 1, origin: FailureHeaders.origin(of: first, queue: "events_app"))
        // Back from the retry queue: through the default exchange, routed by the queue's name.
        let second = AMQPDelivery(
            deliveryTag: 2, redelivered: false, exchange: "", routingKey: "events_app", consumerTag: "c", properties: copy, body: [])
        #expect(FailureHeaders.origin(of: second, queue: "events_app") == origin)
        #expect(FailureHeaders.originalRoutingKey(of: second) == "CardAddedToLibraryEvent")
        // A later retry keeps the first origin rather than the retry queue's route.
        let again = FailureHeaders.retry(
            copy, attempt: 2, origin: MessageOrigin(exchange: "", routingKey: "events_app", queue: "events_app"))
        #expect(again.headers?[CourierHeader.originalRoutingKey]?.stringValue == "CardAddedToLibraryEvent")
        #expect(again.headers?[CourierHeader.originalExchange]?.stringValue == "domain_events")
    }

    @Test("long messages are cut on a character boundary")
    func bounded() {
        let long = String(repeating: "é", count: 2000)
        let cut = FailureHeaders.bounded(long)
        #expect(cut.utf8.count <= FailureHeaders.maximumMessageBytes)
        #expect(cut.hasSuffix("…"))
        #expect(FailureHeaders.bounded("short") == "short")
    }

    @Test("fingerprints group the same failure across messages and separate different ones")
    func fingerprints() {
        func fp(_ message: String, _ errorClass: String = "NotFound", _ handler: String? = "notifications") -> String {
            FailureHeaders.fingerprint(HandlingFailure(errorClass: errorClass, message: message, handler: handler))
        }
        #expect(fp("card 3f1c2a9e-8b7d-4c6e-9a21-5d4f0b7e6c13 not found") == fp("card 11111111-2222-3333-4444-555555555555 not found"))
        #expect(fp("user did:plc:7iza6de2dwap2sbkpav7c6c6 missing") == fp("user did:plc:abcdef missing"))
        #expect(fp("retry 3 of 5") == fp("retry 4 of 5"))
        #expect(fp("card x not found") != fp("collection x not found"))
        #expect(fp("same", "A") != fp("same", "B"))
        #expect(fp("same", "A", "feeds") != fp("same", "A", "notifications"))
        #expect(fp("stable").count == 16)
        #expect(fp("stable") == "\(fp("stable"))")
    }
}
