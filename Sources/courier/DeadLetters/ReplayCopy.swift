import CourierAMQP
import CourierEngine
import CourierFailureIndex
import Foundation

/// What `courier dlq replay` sends back to the original queue for a parked message. Pure.
///
/// The copy is the message as it was first published: the broker's delivery counters and
/// `x-death` history and Courier's attempt and failure headers are stripped — stale, and the
/// attempt count would send it straight back to the dead-letter queue — while the
/// `x-courier-original-*` headers stay, so the event keeps its type and identity (a replay of an
/// event that was partly applied changes nothing that was). Lineage is added: when, how many
/// times, by whom, and from which parking.
enum ReplayCopy {
    /// Headers the broker writes about deliveries and deaths.
    static let brokerHeaders: Set<String> = [
        "x-death", "x-delivery-count", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
        "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason",
    ]

    static func properties(of message: ParkedMessage, replayedAt: Date, by: String) -> AMQPProperties {
        var properties = message.properties
        var headers = AMQPTable()
        let stripped = brokerHeaders.union(CourierHeader.failureHeaders)
        for (key, value) in properties.headers ?? AMQPTable() where !stripped.contains(key) {
            headers[key] = value
        }
        headers[CourierHeader.originalExchange] = .string(message.origin.exchange)
        headers[CourierHeader.originalRoutingKey] = .string(message.origin.routingKey)
        headers[CourierHeader.originalQueue] = .string(message.origin.queue)
        headers[CourierHeader.replayedAt] = .timestamp(UInt64(max(0, replayedAt.timeIntervalSince1970)))
        // The count came from a header: clamped before the increment (see WireValue).
        headers[CourierHeader.replayCount] = .int64(Int64(WireValue.incremented(message.replayCount)))
        headers[CourierHeader.replayedBy] = .string(by)
        headers[CourierHeader.replayedFrom] = .string(message.failureID)
        properties.headers = headers
        properties.deliveryMode = .persistent
        return properties
    }
}
