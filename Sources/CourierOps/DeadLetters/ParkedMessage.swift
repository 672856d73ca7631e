import CourierAMQP
import CourierEngine
import CourierEvents
import Foundation

/// A message in the dead-letter queue, read from its headers: what failed, where it came from,
/// and the message itself. Pure: built from a delivery or a journal record, no I/O.
///
/// Messages courierd parked carry the `x-courier-*` failure headers. Messages the broker parked
/// itself (a quorum queue's delivery limit: the process handling it kept dying) carry only the
/// broker's `x-death`; their failure is described from it, and their id is derived from the
/// message and its death, so it is the same every time the queue is read.
public struct ParkedMessage: Sendable, Equatable {
    public var failureID: String
    public var eventType: String
    public var messageID: String?
    /// `permanent-failure`, `retries-exhausted`, or for the broker's own `delivery-limit`,
    /// `rejected`, `expired`, `maxlen`.
    public var reason: String
    public var errorClass: String
    public var errorMessage: String
    public var fingerprint: String
    public var handler: String?
    public var attempts: Int
    public var failedAt: Date
    public var origin: MessageOrigin
    public var deadLetterQueue: String
    public var host: String?
    /// Replays before this parking (`x-courier-replay-count`).
    public var replayCount: Int
    /// The parking it was last replayed from, if it was (`x-courier-replayed-from`): a replay pass
    /// does not take again what it replayed itself and courierd parked anew.
    public var replayedFrom: String? { properties.headers?[CourierHeader.replayedFrom]?.stringValue }
    public var properties: AMQPProperties
    public var body: [UInt8]

    public init(
        failureID: String, eventType: String, messageID: String?, reason: String, errorClass: String,
        errorMessage: String, fingerprint: String, handler: String?, attempts: Int, failedAt: Date,
        origin: MessageOrigin, deadLetterQueue: String, host: String?, replayCount: Int,
        properties: AMQPProperties, body: [UInt8]
    ) {
        self.failureID = failureID
        self.eventType = eventType
        self.messageID = messageID
        self.reason = reason
        self.errorClass = errorClass
        self.errorMessage = errorMessage
        self.fingerprint = fingerprint
        self.handler = handler
        self.attempts = attempts
        self.failedAt = failedAt
        self.origin = origin
        self.deadLetterQueue = deadLetterQueue
        self.host = host
        self.replayCount = replayCount
        self.properties = properties
        self.body = body
    }

    /// What the engine told its journal.
    public init(record: DeadLetterRecord) {
        self.init(
            properties: record.properties, body: record.body, deadLetterQueue: record.deadLetterQueue,
            fallbackRoutingKey: record.origin.routingKey)
    }

    /// A message read from `deadLetterQueue`.
    public init(delivery: AMQPDelivery, deadLetterQueue: String) {
        self.init(
            properties: delivery.properties, body: delivery.body, deadLetterQueue: deadLetterQueue,
            fallbackRoutingKey: delivery.routingKey)
    }

    public init(properties: AMQPProperties, body: [UInt8], deadLetterQueue: String, fallbackRoutingKey: String) {
        let headers = properties.headers ?? AMQPTable()
        func string(_ key: String) -> String? { headers[key]?.stringValue }
        // The broker's newest death comes first in x-death.
        let death = headers["x-death"]?.arrayValue?.first?.tableValue
        let deathQueue = death?["queue"]?.stringValue
        let deathReason = death?["reason"]?.stringValue
        let deathTime: UInt64? = {
            if case .timestamp(let t)? = death?["time"] { return t }
            return nil
        }()
        let deathRoutingKey = death?["routing-keys"]?.arrayValue?.first?.stringValue

        self.deadLetterQueue = deadLetterQueue
        self.properties = properties
        self.body = body
        messageID = properties.messageID
        host = string(CourierHeader.host)
        handler = string(CourierHeader.handler)
        replayCount = Int(clamping: headers[CourierHeader.replayCount]?.intValue ?? 0)
        origin = MessageOrigin(
            exchange: string(CourierHeader.originalExchange) ?? death?["exchange"]?.stringValue ?? "",
            routingKey: string(CourierHeader.originalRoutingKey) ?? deathRoutingKey ?? fallbackRoutingKey,
            queue: string(CourierHeader.originalQueue) ?? deathQueue ?? Self.ownerQueue(of: deadLetterQueue))
        eventType = properties.type.flatMap { $0.isEmpty ? nil : $0 } ?? origin.routingKey

        if let courierReason = string(CourierHeader.reason) {
            reason = courierReason
            errorClass = string(CourierHeader.errorClass) ?? "Unknown"
            errorMessage = string(CourierHeader.errorMessage) ?? ""
            fingerprint =
                string(CourierHeader.errorFingerprint)
                ?? FailureHeaders.fingerprint(HandlingFailure(errorClass: errorClass, message: errorMessage, handler: handler))
            attempts = Int(clamping: headers[CourierHeader.attempts]?.intValue ?? 0)
            if case .timestamp(let t)? = headers[CourierHeader.failedAt] {
                failedAt = Date(timeIntervalSince1970: TimeInterval(t))
            } else {
                failedAt = deathTime.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? Date(timeIntervalSince1970: 0)
            }
        } else {
            // Parked by the broker, not by courierd.
            let brokerReason = deathReason ?? string("x-first-death-reason") ?? "unknown"
            reason = brokerReason.replacingOccurrences(of: "_", with: "-")
            let count = death?["count"]?.intValue ?? headers["x-delivery-count"]?.intValue ?? 0
            switch brokerReason {
            case "delivery_limit":
                errorClass = "DeliveryLimitExceeded"
                errorMessage = "the broker parked it after its delivery limit: the process handling it kept stopping before settling it"
            case "rejected":
                errorClass = "Rejected"
                errorMessage = "rejected without requeue by a consumer other than courierd"
            case "expired":
                errorClass = "Expired"
                errorMessage = "its TTL expired in \(deathQueue ?? "a queue")"
            case "maxlen":
                errorClass = "QueueFull"
                errorMessage = "dropped from the head of a full queue"
            default:
                errorClass = "DeadLettered"
                errorMessage = "dead-lettered by the broker (\(brokerReason))"
            }
            fingerprint = FailureHeaders.fingerprint(HandlingFailure(errorClass: errorClass, message: errorMessage))
            attempts = Int(clamping: count)
            failedAt = deathTime.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? Date(timeIntervalSince1970: 0)
        }
        failureID =
            string(CourierHeader.failureID)
            ?? EventIdentity.derived(
                body: body,
                routingKey: "parked:\(deathQueue ?? "-"):\(deathTime ?? 0):\(properties.messageID ?? "-"):\(origin.routingKey)")
    }

    /// `events_app.dlq` → `events_app`.
    public static func ownerQueue(of deadLetterQueue: String) -> String {
        deadLetterQueue.hasSuffix(".dlq") ? String(deadLetterQueue.dropLast(4)) : deadLetterQueue
    }
}
