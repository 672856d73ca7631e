import CourierAMQP
import CourierEngine
import Foundation
import Testing

@testable import CourierFailureIndex
@testable import courier

/// A parked message as courierd writes it, for the pure tests.
func parkedFixture(
    id: String = "9fbf4c25-8243-4950-86b5-7a0abaabf628", type: String = "CardAddedToLibraryEvent", errorClass: String = "InvalidField",
    failedAt: Date = Date(timeIntervalSince1970: 1_795_000_000), extraHeaders: AMQPTable = [:]
) -> ParkedMessage {
    let failure = HandlingFailure(errorClass: errorClass, message: "field 'curatorId': expected a non-empty id", handler: "feeds")
    var original = AMQPProperties(
        contentType: "application/json", headers: ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
        deliveryMode: .persistent, messageID: "m-1", type: type)
    for (key, value) in extraHeaders { original.headers?[key] = value }
    let properties = FailureHeaders.deadLetter(
        original, reason: .permanentFailure, failure: failure, attempts: 1,
        origin: MessageOrigin(exchange: "domain_events", routingKey: type, queue: "events_app"), failedAt: failedAt, host: "vm",
        failureID: id)
    return ParkedMessage(properties: properties, body: Array("{}".utf8), deadLetterQueue: "events_app.dlq", fallbackRoutingKey: "events_app")
}

@Suite("Dead-letter filter")
struct DeadLetterFilterTests {
    @Test("an empty filter selects nothing unless --all: no command replays or purges everything by accident")
    func empty() {
        #expect(DeadLetterFilter().selectsNothing)
        #expect(!DeadLetterFilter().matches(parkedFixture()))
        #expect(DeadLetterFilter(all: true).matches(parkedFixture()))
    }

    @Test("ids match exactly or by a prefix of 8 characters or more, in any case")
    func ids() {
        let message = parkedFixture()
        #expect(DeadLetterFilter(ids: ["9fbf4c25-8243-4950-86b5-7a0abaabf628"]).matches(message))
        #expect(DeadLetterFilter(ids: ["9FBF4C25"]).matches(message))
        #expect(!DeadLetterFilter(ids: ["9fbf4c2"]).matches(message), "7 characters is too short to be a prefix")
        #expect(!DeadLetterFilter(ids: ["00000000"]).matches(message))
    }

    @Test("criteria combine with AND")
    func and() {
        let message = parkedFixture(failedAt: Date(timeIntervalSince1970: 1_795_000_000))
        #expect(DeadLetterFilter(types: ["CardAddedToLibraryEvent"], errorClasses: ["InvalidField"]).matches(message))
        #expect(!DeadLetterFilter(types: ["CardAddedToLibraryEvent"], errorClasses: ["MalformedJSON"]).matches(message))
        #expect(DeadLetterFilter(fingerprints: [message.fingerprint]).matches(message))
        #expect(!DeadLetterFilter(fingerprints: ["0000000000000000"]).matches(message))
        #expect(DeadLetterFilter(since: Date(timeIntervalSince1970: 1_794_999_999)).matches(message))
        #expect(!DeadLetterFilter(since: Date(timeIntervalSince1970: 1_795_000_001)).matches(message))
    }

    @Test("--since takes durations and dates", arguments: [
        ("90s", -90.0), ("30m", -1800.0), ("2h", -7200.0), ("7d", -604_800.0),
    ])
    func since(text: String, offset: Double) throws {
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        #expect(DeadLetterFilter.parseSince(text, now: now) == now.addingTimeInterval(offset))
    }

    @Test("--since dates, and what is neither")
    func sinceDates() {
        #expect(DeadLetterFilter.parseSince("2026-11-28T10:00:00Z") == Date(timeIntervalSince1970: 1_795_860_000))
        #expect(DeadLetterFilter.parseSince("2026-11-28") == Date(timeIntervalSince1970: 1_795_824_000))
        #expect(DeadLetterFilter.parseSince("yesterday") == nil)
        #expect(DeadLetterFilter.parseSince("-2h") == nil)
    }
}

@Suite("Parked messages")
struct ParkedMessageTests {
    @Test("read from courierd's failure headers")
    func fromCourierHeaders() {
        let message = parkedFixture()
        #expect(message.failureID == "9fbf4c25-8243-4950-86b5-7a0abaabf628")
        #expect(message.eventType == "CardAddedToLibraryEvent")
        #expect(message.reason == "permanent-failure")
        #expect(message.errorClass == "InvalidField")
        #expect(message.handler == "feeds")
        #expect(message.attempts == 1)
        #expect(message.failedAt == Date(timeIntervalSince1970: 1_795_000_000))
        #expect(message.origin == MessageOrigin(exchange: "domain_events", routingKey: "CardAddedToLibraryEvent", queue: "events_app"))
        #expect(message.messageID == "m-1")
    }

    @Test("parked by the broker (delivery limit): described from x-death, with an id that is the same on every read")
    func fromXDeath() {
        let death: AMQPTable = [
            "count": .int64(10), "reason": "delivery_limit", "queue": "events_app", "time": .timestamp(1_795_000_100),
            "exchange": "domain_events", "routing-keys": .array(["UserFollowedTargetEvent"]),
        ]
        let properties = AMQPProperties(
            headers: ["x-death": .array([.table(death)]), "x-first-death-reason": "delivery_limit"], deliveryMode: .persistent)
        let body = Array(#"{"eventType":"UserFollowedTargetEvent"}"#.utf8)
        let a = ParkedMessage(properties: properties, body: body, deadLetterQueue: "events_app.dlq", fallbackRoutingKey: "events_app")
        let b = ParkedMessage(properties: properties, body: body, deadLetterQueue: "events_app.dlq", fallbackRoutingKey: "events_app")
        #expect(a.failureID == b.failureID)
        #expect(a.failureID.count == 36)
        #expect(a.errorClass == "DeliveryLimitExceeded")
        #expect(a.reason == "delivery-limit")
        #expect(a.attempts == 10)
        #expect(a.eventType == "UserFollowedTargetEvent")
        #expect(a.origin == MessageOrigin(exchange: "domain_events", routingKey: "UserFollowedTargetEvent", queue: "events_app"))
        #expect(a.failedAt == Date(timeIntervalSince1970: 1_795_000_100))
        let other = ParkedMessage(properties: properties, body: Array("{}".utf8), deadLetterQueue: "events_app.dlq", fallbackRoutingKey: "x")
        #expect(other.failureID != a.failureID)
    }
}

@Suite("Replay copy")
struct ReplayCopyTests {
    @Test("strips x-death, delivery counters, the attempt and failure headers; keeps the origin and the rest; adds lineage")
    func properties() throws {
        let message = parkedFixture(extraHeaders: [
            "x-death": .array([.table(["count": 1, "queue": "events_app"])]), "x-delivery-count": 3,
            "x-first-death-queue": "events_app", "x-last-death-reason": "rejected",
        ])
        let at = Date(timeIntervalSince1970: 1_795_000_500)
        let copy = ReplayCopy.properties(of: message, replayedAt: at, by: "ops@host")
        let headers = try #require(copy.headers)
        for stripped in ["x-death", "x-delivery-count", "x-first-death-queue", "x-last-death-reason"] + CourierHeader.failureHeaders {
            #expect(headers[stripped] == nil, "\(stripped) is stripped")
        }
        #expect(headers["traceparent"] == message.properties.headers?["traceparent"])
        #expect(headers[CourierHeader.originalRoutingKey]?.stringValue == "CardAddedToLibraryEvent")
        #expect(headers[CourierHeader.originalQueue]?.stringValue == "events_app")
        #expect(headers[CourierHeader.replayedAt] == .timestamp(1_795_000_500))
        #expect(headers[CourierHeader.replayCount]?.intValue == 1)
        #expect(headers[CourierHeader.replayedBy]?.stringValue == "ops@host")
        #expect(headers[CourierHeader.replayedFrom]?.stringValue == message.failureID)
        #expect(copy.messageID == "m-1")
        #expect(copy.type == "CardAddedToLibraryEvent")
        #expect(copy.isPersistent)
        #expect(FailureHeaders.failedAttempts(in: copy) == 0, "a replay starts with a fresh retry budget")

        // Parked again after that replay, and replayed again: the count goes on.
        var again = message
        again.properties.headers?[CourierHeader.replayCount] = 1
        let reparked = ParkedMessage(properties: again.properties, body: again.body, deadLetterQueue: "events_app.dlq", fallbackRoutingKey: "events_app")
        #expect(ReplayCopy.properties(of: reparked, replayedAt: at, by: "x").headers?[CourierHeader.replayCount]?.intValue == 2)
    }
}

@Suite("Export format")
struct ExportFormatTests {
    @Test("AMQP values survive JSON: timestamps, bytes, decimals, nested tables and arrays")
    func fieldJSON() throws {
        let table: AMQPTable = [
            "s": "text", "i": .int64(-5), "b": true, "d": .double(1.5), "t": .timestamp(1_795_000_000), "bytes": .bytes([0, 1, 255]),
            "dec": .decimal(scale: 2, value: 1250), "nested": .table(["a": .array(["x", .int64(2)])]), "void": .void,
        ]
        let data = try JSONEncoder().encode(FieldJSON(table))
        let back = try JSONDecoder().decode(FieldJSON.self, from: data).amqpTable
        for (key, value) in table { #expect(back[key] == value, "\(key)") }
    }

    @Test("an exported line is read back as the same message; a bad line is named")
    func lines() throws {
        let message = parkedFixture()
        let line = try ExportedMessage(message).jsonLine()
        let parsed = try ExportedMessage.parse(lines: line + "\n\n")
        #expect(parsed == [ExportedMessage(message)])
        #expect(sameProperties(parsed[0].amqpProperties, message.properties))
        #expect(try parsed[0].bodyBytes() == message.body)
        let binary = ParkedMessage(
            properties: message.properties, body: [0xFF, 0xFE, 0x00], deadLetterQueue: "events_app.dlq", fallbackRoutingKey: "x")
        #expect(try ExportedMessage.parse(lines: try ExportedMessage(binary).jsonLine())[0].bodyBytes() == [0xFF, 0xFE, 0x00])
        #expect(throws: OpsError.self) { try ExportedMessage.parse(lines: line + "\n{not json}\n") }
        do {
            _ = try ExportedMessage.parse(lines: line + "\n{not json}\n")
        } catch let error as OpsError {
            #expect(error.message.hasPrefix("line 2 "))
            #expect(error.code == .invalidInput)
        }
    }
}

/// Equal properties, headers compared as a set of keys and values (JSON keeps no order).
func sameProperties(_ a: AMQPProperties, _ b: AMQPProperties) -> Bool {
    var (a, b) = (a, b)
    let headers = (a.headers.map(FieldJSON.init), b.headers.map(FieldJSON.init))
    (a.headers, b.headers) = (nil, nil)
    return a == b && headers.0 == headers.1
}
