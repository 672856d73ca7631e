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
package struct ParkedMessage: Sendable, Equatable {
    package var failureID: String
    package var eventType: String
    package var messageID: String?
    /// `permanent-failure`, `retries-exhausted`, or for the broker's own `delivery-limit`,
    /// `rejected`, `expired`, `maxlen`.
    package var reason: String
    package var errorClass: String
    package var errorMessage: String
    package var fingerprint: String
    package var handler: String?
    package var attempts: Int
    package var failedAt: Date
    package var origin: MessageOrigin
    package var deadLetterQueue: String
    package var host: String?
    /// Replays before this parking (`x-courier-replay-count`).
    package var replayCount: Int
    /// The parking it was last replayed from, if it was (`x-courier-replayed-from`): a replay pass
    /// does not take again what it replayed itself and courierd parked anew.
    package var replayedFrom: String? { WireValue.failureID(properties.headers?[CourierHeader.replayedFrom]) }
    package var properties: AMQPProperties
    package var body: [UInt8]

    package init(
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
    package init(record: DeadLetterRecord) {
        self.init(
            properties: record.properties, body: record.body, deadLetterQueue: record.deadLetterQueue,
            fallbackRoutingKey: record.origin.routingKey)
    }

    /// A message read from `deadLetterQueue`.
    package init(delivery: AMQPDelivery, deadLetterQueue: String) {
        self.init(
            properties: delivery.properties, body: delivery.body, deadLetterQueue: deadLetterQueue,
            fallbackRoutingKey: delivery.routingKey)
    }

    /// Every header is read through ``WireValue``: a value of the wrong type or out of range is
    /// taken as absent, and the fallback is what a message without that header gets.
    package init(properties: AMQPProperties, body: [UInt8], deadLetterQueue: String, fallbackRoutingKey: String) {
        let headers = properties.headers ?? AMQPTable()
        func string(_ key: String) -> String? { WireValue.text(headers[key]) }
        // The broker's newest death comes first in x-death.
        let death = WireValue.newestDeath(headers["x-death"])
        let deathQueue = WireValue.name(death?["queue"])
        let deathReason = WireValue.name(death?["reason"])
        let deathTimestamp = WireValue.date(death?["time"])
        let deathRoutingKey = WireValue.name(death?["routing-keys"]?.arrayValue?.first)

        self.deadLetterQueue = deadLetterQueue
        self.properties = properties
        self.body = body
        messageID = properties.messageID
        host = string(CourierHeader.host)
        handler = string(CourierHeader.handler)
        replayCount = WireValue.count(headers[CourierHeader.replayCount]) ?? 0
        origin = MessageOrigin(
            exchange: WireValue.name(headers[CourierHeader.originalExchange]) ?? WireValue.name(death?["exchange"]) ?? "",
            routingKey: WireValue.name(headers[CourierHeader.originalRoutingKey]) ?? deathRoutingKey ?? fallbackRoutingKey,
            queue: WireValue.name(headers[CourierHeader.originalQueue]) ?? deathQueue ?? Self.ownerQueue(of: deadLetterQueue))
        eventType = properties.type.flatMap { $0.isEmpty ? nil : $0 } ?? origin.routingKey

        if let courierReason = string(CourierHeader.reason) {
            reason = courierReason
            errorClass = string(CourierHeader.errorClass) ?? "Unknown"
            errorMessage = string(CourierHeader.errorMessage) ?? ""
            fingerprint =
                WireValue.fingerprint(headers[CourierHeader.errorFingerprint])
                ?? FailureHeaders.fingerprint(HandlingFailure(errorClass: errorClass, message: errorMessage, handler: handler))
            attempts = WireValue.count(headers[CourierHeader.attempts]) ?? 0
            failedAt = WireValue.date(headers[CourierHeader.failedAt]) ?? deathTimestamp ?? Date(timeIntervalSince1970: 0)
        } else {
            // Parked by the broker, not by courierd.
            let brokerReason = deathReason ?? WireValue.name(headers["x-first-death-reason"]) ?? "unknown"
            reason = brokerReason.replacingOccurrences(of: "_", with: "-")
            let count = WireValue.count(death?["count"]) ?? WireValue.count(headers["x-delivery-count"]) ?? 0
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
            attempts = count
            failedAt = deathTimestamp ?? Date(timeIntervalSince1970: 0)
        }
        // Only a UUID is taken from the header; otherwise the id broker-parked messages get,
        // derived from the message and its death, the same on every read of the queue.
        let deathTime: UInt64? = if case .timestamp(let t)? = death?["time"] { t } else { nil }
        failureID =
            WireValue.failureID(headers[CourierHeader.failureID])
            ?? EventIdentity.derived(
                body: body,
                routingKey: "parked:\(deathQueue ?? "-"):\(deathTime ?? 0):\(properties.messageID ?? "-"):\(origin.routingKey)")
    }

    /// `events_app.dlq` → `events_app`.
    package static func ownerQueue(of deadLetterQueue: String) -> String {
        deadLetterQueue.hasSuffix(".dlq") ? String(deadLetterQueue.dropLast(4)) : deadLetterQueue
    }
}
