import CourierAMQP
import Foundation
import Testing

@testable import CourierEngine

/// Header values from the wire are untrusted: every reader must take any value without trapping.
@Suite("Header values: untrusted input")
struct HeaderValuesTests {
    @Test("counters: integers of any width and digit strings, clamped; anything else is absent")
    func counts() {
        let max = HeaderValues.maximumCount
        #expect(HeaderValues.count(.int64(3)) == 3)
        #expect(HeaderValues.count(.uint8(7)) == 7)
        #expect(HeaderValues.count(.string("12")) == 12)
        #expect(HeaderValues.count(.int64(Int64.max)) == max)
        #expect(HeaderValues.count(.uint64(UInt64.max)) == max)
        #expect(HeaderValues.count(.string("9223372036854775807")) == max)
        #expect(HeaderValues.count(.string("99999999999999999999999999")) == max)
        #expect(HeaderValues.count(.int64(1 << 62)) == max)
        #expect(HeaderValues.count(.int64(-1)) == nil)
        #expect(HeaderValues.count(.int64(Int64.min)) == nil)
        #expect(HeaderValues.count(.string("-3")) == nil)
        #expect(HeaderValues.count(.string("+3")) == nil)
        #expect(HeaderValues.count(.string("1.5")) == nil)
        #expect(HeaderValues.count(.string("")) == nil)
        #expect(HeaderValues.count(.string(" 3")) == nil)
        #expect(HeaderValues.count(.double(1.5)) == nil)
        #expect(HeaderValues.count(.bool(true)) == nil)
        #expect(HeaderValues.count(.table([:])) == nil)
        #expect(HeaderValues.count(nil) == nil)
        #expect(HeaderValues.count(.int32(5), maximum: 4) == 4)
    }

    @Test("names: short strings without control characters")
    func names() {
        #expect(HeaderValues.name(.string("CardAddedToLibraryEvent")) == "CardAddedToLibraryEvent")
        #expect(HeaderValues.name(.bytes(Array("domain_events".utf8))) == "domain_events")
        #expect(HeaderValues.name(.string("")) == nil)
        #expect(HeaderValues.name(.string(""), allowEmpty: true) == "")
        #expect(HeaderValues.name(.string(String(repeating: "k", count: 256))) == nil)
        #expect(HeaderValues.name(.string("a\u{0}b")) == nil)
        #expect(HeaderValues.name(.string("a\nb")) == nil)
        #expect(HeaderValues.name(.bytes([0xFF, 0xFE])) == nil)
        #expect(HeaderValues.name(.int64(3)) == nil)
    }

    @Test("failure ids: UUID text only")
    func failureIDs() {
        #expect(HeaderValues.failureID(.string("0E9B3C2A-1F2D-4B8E-9C3A-5D6E7F8A9B0C")) == "0e9b3c2a-1f2d-4b8e-9c3a-5d6e7f8a9b0c")
        #expect(HeaderValues.failureID(.string("not-a-uuid")) == nil)
        #expect(HeaderValues.failureID(.string("0e9b3c2a-1f2d-4b8e-9c3a-5d6e7f8a9b0g")) == nil)
        #expect(HeaderValues.failureID(.string("0e9b3c2a11f2d-4b8e-9c3a-5d6e7f8a9b0c")) == nil)
        #expect(HeaderValues.failureID(.int64(1)) == nil)
    }

    @Test("a huge attempts header parks a failing message at once instead of trapping")
    func hugeAttempts() {
        let failure = HandlingFailure(errorClass: "X", message: "m")
        for value: AMQPFieldValue in [.int64(Int64.max), .string("9223372036854775807"), .int64(1 << 62), .uint64(UInt64.max)] {
            let attempts = FailureHeaders.failedAttempts(in: AMQPProperties(headers: [CourierHeader.attempts: value]))
            #expect(attempts == HeaderValues.maximumCount)
            let action = decide(.transientFailure(failure), failedAttempts: attempts, schedule: .standard)
            #expect(action == .deadLetter(.retriesExhausted, failure, attempts: HeaderValues.maximumCount + 1))
            let copy = FailureHeaders.retry(AMQPProperties(), attempt: attempts, origin: MessageOrigin(exchange: "", routingKey: "k", queue: "q"))
            #expect(FailureHeaders.failedAttempts(in: copy) == attempts)
        }
        // decide itself takes any Int.
        #expect(decide(.permanentFailure(failure), failedAttempts: Int.max, schedule: .standard) == .deadLetter(.permanentFailure, failure, attempts: Int.max))
        #expect(decide(.transientFailure(failure), failedAttempts: Int.min, schedule: .standard) == .retry(attempt: 1, delay: .seconds(5)))
    }

    @Test("forged origin headers that are not names are ignored, and a retry copy rewrites them")
    func forgedOrigin() {
        let delivery = AMQPDelivery(
            deliveryTag: 1, redelivered: false, exchange: "domain_events", routingKey: "CardAddedToLibraryEvent",
            consumerTag: "c",
            properties: AMQPProperties(headers: [
                CourierHeader.originalRoutingKey: .string(String(repeating: "r", count: 300)),
                CourierHeader.originalExchange: .int64(5),
            ]), body: [])
        let origin = FailureHeaders.origin(of: delivery, queue: "events_app")
        #expect(origin == MessageOrigin(exchange: "domain_events", routingKey: "CardAddedToLibraryEvent", queue: "events_app"))
        #expect(FailureHeaders.originalRoutingKey(of: delivery) == "CardAddedToLibraryEvent")
        let retry = FailureHeaders.retry(delivery.properties, attempt: 1, origin: origin)
        #expect(retry.headers?[CourierHeader.originalRoutingKey]?.stringValue == "CardAddedToLibraryEvent")
        #expect(retry.headers?[CourierHeader.originalExchange]?.stringValue == "domain_events")
    }
}

@Suite("Repeated keys from the wire")
struct RepeatedHeaderTests {
    @Test("a publisher's repeated Courier headers never survive into a copy beside Courier's own")
    func repeatedKeys() throws {
        let forged = AMQPTable([
            (CourierHeader.handler, "forged-1"), (CourierHeader.handler, "forged-2"),
            (CourierHeader.attempts, 1), (CourierHeader.attempts, 7), ("traceparent", "00-a-b-01"),
        ])
        let origin = MessageOrigin(exchange: "domain_events", routingKey: "CardAddedToLibraryEvent", queue: "events_app")
        let parked = FailureHeaders.deadLetter(
            AMQPProperties(headers: forged), reason: .permanentFailure,
            failure: HandlingFailure(errorClass: "X", message: "m", handler: nil), attempts: 2, origin: origin,
            failedAt: Date(timeIntervalSince1970: 0), host: "h", failureID: "0e9b3c2a-1f2d-4b8e-9c3a-5d6e7f8a9b0c")
        let headers = try #require(parked.headers)
        #expect(!headers.keys.contains(CourierHeader.handler))
        #expect(headers.keys.filter { $0 == CourierHeader.attempts }.count == 1)
        #expect(headers[CourierHeader.attempts] == .int64(2))
        #expect(headers["traceparent"] == "00-a-b-01")

        let retry = FailureHeaders.retry(AMQPProperties(headers: forged), attempt: 3, origin: origin)
        #expect(retry.headers?.keys.filter { $0 == CourierHeader.attempts }.count == 1)
        #expect(FailureHeaders.failedAttempts(in: retry) == 3)
    }
}

@Suite("Copies that would not fit one frame")
struct FittingTests {
    let failure = HandlingFailure(errorClass: "InvalidField", message: "cardId is empty", handler: "feeds")

    func parked(_ original: AMQPProperties) -> AMQPProperties {
        FailureHeaders.deadLetter(
            original, reason: .permanentFailure, failure: failure, attempts: 1,
            origin: MessageOrigin(exchange: "domain_events", routingKey: "CardAddedToLibraryEvent", queue: "events_app"),
            failedAt: Date(timeIntervalSince1970: 1_764_000_000), host: "h", failureID: "0e9b3c2a-1f2d-4b8e-9c3a-5d6e7f8a9b0c")
    }

    @Test("a copy that fits is left alone")
    func fits() {
        let copy = parked(AMQPProperties(headers: ["traceparent": "00-a-b-01"], messageID: "m"))
        let (fitted, removed) = FailureHeaders.fitting(copy, frameMax: 131_072)
        #expect(fitted == copy)
        #expect(removed.isEmpty)
    }

    @Test("the largest foreign headers go first, Courier's stay, the rest of the message is untouched")
    func shrinks() throws {
        let original = AMQPProperties(
            contentType: "application/json",
            headers: [
                "small": "s", "big": .string(String(repeating: "b", count: 100_000)),
                "medium": .string(String(repeating: "m", count: 30_000)), "traceparent": "00-a-b-01",
            ],
            deliveryMode: .persistent, messageID: "m-1", type: "CardAddedToLibraryEvent")
        #expect(original.headerFrameSize < 131_072)
        let copy = parked(original)
        let frameMax = copy.headerFrameSize - 10  // just over: one header must go
        let (fitted, removed) = FailureHeaders.fitting(copy, frameMax: frameMax)
        #expect(removed == ["big"])
        #expect(fitted.headerFrameSize <= frameMax)
        let headers = try #require(fitted.headers)
        #expect(headers["big"] == nil)
        #expect(headers["medium"] != nil && headers["small"] == "s" && headers["traceparent"] == "00-a-b-01")
        #expect(headers[CourierHeader.removedHeaders]?.stringValue == "big")
        for name in CourierHeader.failureHeaders where name != CourierHeader.handler || failure.handler != nil {
            #expect(headers[name] == copy.headers?[name], "\(name) kept")
        }
        #expect(fitted.messageID == "m-1" && fitted.contentType == "application/json" && fitted.type == original.type)

        // Much tighter: the large ones go, the small ones fit and stay.
        let (tight, all) = FailureHeaders.fitting(copy, frameMax: 4096)
        #expect(all == ["big", "medium"])
        #expect(tight.headers?["traceparent"] == "00-a-b-01")
        #expect(tight.headerFrameSize <= 4096)
    }

    @Test("thousands of small headers: the note is bounded and counts the rest")
    func manyHeaders() throws {
        var headers = AMQPTable()
        for i in 0..<5000 { headers["header-\(i)"] = .string(String(repeating: "v", count: 20)) }
        let copy = parked(AMQPProperties(headers: headers))
        let (fitted, removed) = FailureHeaders.fitting(copy, frameMax: 8192)
        #expect(fitted.headerFrameSize <= 8192)
        #expect(removed.count > 4000)
        let note = try #require(fitted.headers?[CourierHeader.removedHeaders]?.stringValue)
        #expect(note.utf8.count < 1100)
        #expect(note.hasSuffix("more"))
    }

    @Test("a retry that cannot be sent parks the message with the failure it was retrying")
    func parkInsteadOfRetry() {
        let transient = HandlingFailure(errorClass: "PostgresError.queryFailed.40001", message: "serialization", handler: "feeds")
        let action = parkInstead(ofRetrying: transient, attempts: 2, because: "too big")
        guard case .deadLetter(.permanentFailure, let failure, attempts: 2) = action else {
            Issue.record("expected a dead-letter, got \(action)")
            return
        }
        #expect(failure.errorClass == "RetryCopyTooLarge")
        #expect(failure.message.contains("too big") && failure.message.contains("40001"))
        #expect(failure.handler == "feeds")
    }
}
