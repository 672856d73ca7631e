import CourierAMQP
import CourierEngine
import Foundation
import Testing

@testable import CourierFailureIndex
@testable import courier

/// Headers of parked messages are the publisher's: read through ``WireValue``, what is out of
/// type or range is absent, and nothing from them traps, overflows or chooses a key.
@Suite("Untrusted headers of parked messages")
struct UntrustedHeaderTests {
    static let huge: Int64 = 1 << 62

    @Test(
        "counts: integers of any width and digit strings, clamped to 0…maximumCount; anything else is absent",
        arguments: [
            (AMQPFieldValue.int64(3), 3), (.int8(2), 2), (.uint32(7), 7), (.string("12"), 12), (.int64(0), 0),
            (.int64(huge), WireValue.maximumCount), (.int64(.max), WireValue.maximumCount),
            (.uint64(.max), WireValue.maximumCount), (.string("9223372036854775807"), WireValue.maximumCount),
            (.string("99999999999999999999999999"), WireValue.maximumCount),
        ] as [(AMQPFieldValue, Int)])
    func counts(value: AMQPFieldValue, expected: Int) {
        #expect(WireValue.count(value) == expected)
    }

    @Test(
        "a count of the wrong type or sign is absent",
        arguments: [
            AMQPFieldValue.int64(-1), .int64(.min), .int8(-5), .string("-3"), .string("+3"), .string(" 3"), .string("1.5"),
            .string(""), .string("3\u{0}"), .double(2.0), .decimal(scale: 1, value: 15), .bool(true), .bytes([0x33]), .void,
            .array([.int64(1)]), .timestamp(5),
        ])
    func notCounts(value: AMQPFieldValue) {
        #expect(WireValue.count(value) == nil)
    }

    @Test("a failure id is taken from the header only when it is a UUID")
    func failureIDs() {
        #expect(WireValue.failureID("9fbf4c25-8243-4950-86b5-7a0abaabf628") == "9fbf4c25-8243-4950-86b5-7a0abaabf628")
        #expect(WireValue.failureID("9FBF4C25-8243-4950-86B5-7A0ABAABF628") != nil)
        for bad: AMQPFieldValue in [
            "", "9fbf4c25", "9fbf4c25-8243-4950-86b5-7a0abaabf62g", "9fbf4c25-8243-4950-86b5-7a0abaabf628 ",
            "9fbf4c25_8243_4950_86b5_7a0abaabf628", "9fbf4c25-8243-4950-86b5-7a0abaabf62\u{0}", "%", .int64(1),
            .string(String(repeating: "a", count: 10_000)),
        ] {
            #expect(WireValue.failureID(bad) == nil, "\(bad)")
        }
    }

    @Test("names: at most 255 bytes, no control characters; the empty default exchange is a name")
    func names() {
        #expect(WireValue.name("") == "")
        #expect(WireValue.name("events_app") == "events_app")
        #expect(WireValue.name(.string(String(repeating: "q", count: 255))) != nil)
        #expect(WireValue.name(.string(String(repeating: "q", count: 256))) == nil)
        #expect(WireValue.name("events\u{0}app") == nil)
        #expect(WireValue.name("events\u{1B}[2Japp") == nil)
        #expect(WireValue.name(.bytes([0xFF, 0xFE])) == nil, "not UTF-8")
        #expect(WireValue.name(.int64(1)) == nil)
    }

    @Test("timestamps past the year 9999 are absent; replay counts are clamped before they are incremented")
    func datesAndIncrements() {
        #expect(WireValue.date(.timestamp(1_795_000_000)) == Date(timeIntervalSince1970: 1_795_000_000))
        #expect(WireValue.date(.timestamp(WireValue.latestTimestamp + 1)) == nil)
        #expect(WireValue.date(.timestamp(.max)) == nil)
        #expect(WireValue.date(.int64(1_795_000_000)) == nil, "only an AMQP timestamp is a time")
        #expect(WireValue.incremented(0) == 1)
        #expect(WireValue.incremented(.max) == WireValue.maximumCount + 1)
        #expect(WireValue.incremented(.min) == 1)
    }

    @Test("a message with hostile Courier headers parses: counters clamped, bad ids and names fall back, fingerprint recomputed")
    func hostileCourierHeaders() {
        let message = parkedFixture(extraHeaders: [:])
        var headers = message.properties.headers ?? AMQPTable()
        headers[CourierHeader.attempts] = .string("9223372036854775807")
        headers[CourierHeader.replayCount] = .int64(.max)
        headers[CourierHeader.failureID] = "not-a-uuid\u{0}"
        headers[CourierHeader.originalQueue] = .string(String(repeating: "q", count: 100_000))
        headers[CourierHeader.originalRoutingKey] = .int64(5)
        headers[CourierHeader.failedAt] = .timestamp(.max)
        headers[CourierHeader.errorFingerprint] = "'; DROP TABLE courier_failures; --"
        headers[CourierHeader.replayedFrom] = "../../etc"
        var properties = message.properties
        properties.headers = headers
        let parsed = ParkedMessage(properties: properties, body: message.body, deadLetterQueue: "events_app.dlq", fallbackRoutingKey: "events_app")
        #expect(parsed.attempts == WireValue.maximumCount)
        #expect(parsed.replayCount == WireValue.maximumCount)
        #expect(WireValue.isUUID(parsed.failureID), "the derived id: \(parsed.failureID)")
        #expect(parsed.origin.queue == "events_app", "the dead-letter queue's owner")
        #expect(parsed.origin.routingKey == "events_app", "the routing key it was delivered with")
        #expect(parsed.failedAt == Date(timeIntervalSince1970: 0))
        #expect(parsed.fingerprint.utf8.count == 16 && parsed.fingerprint != "'; DROP TABLE courier_failures; --")
        #expect(parsed.replayedFrom == nil)
        // The same message read twice gets the same derived id.
        let again = ParkedMessage(properties: properties, body: message.body, deadLetterQueue: "events_app.dlq", fallbackRoutingKey: "events_app")
        #expect(again.failureID == parsed.failureID)

        let copy = ReplayCopy.properties(of: parsed, replayedAt: Date(timeIntervalSince1970: 1_795_000_000), by: "t")
        #expect(copy.headers?[CourierHeader.replayCount] == .int64(Int64(WireValue.maximumCount + 1)))
    }

    @Test("a broker-parked message with absurd x-death counts and times parses; negative ones are absent")
    func hostileDeath() {
        func parked(_ death: AMQPTable, deliveryCount: AMQPFieldValue? = nil) -> ParkedMessage {
            var headers: AMQPTable = ["x-death": .array([.table(death)])]
            if let deliveryCount { headers["x-delivery-count"] = deliveryCount }
            return ParkedMessage(
                properties: AMQPProperties(headers: headers, messageID: "m"), body: [1], deadLetterQueue: "events_app.dlq",
                fallbackRoutingKey: "events_app")
        }
        let absurd = parked(["count": .int64(.max), "reason": "delivery_limit", "queue": "events_app", "time": .timestamp(.max)])
        #expect(absurd.attempts == WireValue.maximumCount)
        #expect(absurd.errorClass == "DeliveryLimitExceeded")
        #expect(absurd.failedAt == Date(timeIntervalSince1970: 0))
        #expect(WireValue.isUUID(absurd.failureID))
        let negative = parked(["count": .int64(-7), "reason": "rejected"], deliveryCount: .int64(-1))
        #expect(negative.attempts == 0)
        let wrongShape = ParkedMessage(
            properties: AMQPProperties(headers: ["x-death": .string("x"), "x-delivery-count": .string("3")]), body: [],
            deadLetterQueue: "events_app.dlq", fallbackRoutingKey: "events_app")
        #expect(wrongShape.attempts == 3)
        #expect(wrongShape.reason == "unknown")
    }
}
