import CourierAMQP
import Foundation

/// One message the engine parked in the dead-letter queue: what the failure index records.
package struct DeadLetterRecord: Sendable, Equatable {
    /// The UUID in the parked copy's `x-courier-failure-id` header.
    package var failureID: String
    package var reason: DeadLetterReason
    /// With the handler filled in, as written in the headers (the message not yet bounded).
    package var failure: HandlingFailure
    package var fingerprint: String
    package var attempts: Int
    package var failedAt: Date
    package var origin: MessageOrigin
    /// The queue it was parked in (`events_<app>.dlq`).
    package var deadLetterQueue: String
    /// The parked copy's properties, failure headers included, and every header the message came
    /// with — also those left out of the parked copy to fit a frame (``FailureHeaders/fitting(_:frameMax:)``).
    package var properties: AMQPProperties
    package var body: [UInt8]

    package init(
        failureID: String, reason: DeadLetterReason, failure: HandlingFailure, fingerprint: String, attempts: Int,
        failedAt: Date, origin: MessageOrigin, deadLetterQueue: String, properties: AMQPProperties, body: [UInt8]
    ) {
        self.failureID = failureID
        self.reason = reason
        self.failure = failure
        self.fingerprint = fingerprint
        self.attempts = attempts
        self.failedAt = failedAt
        self.origin = origin
        self.deadLetterQueue = deadLetterQueue
        self.properties = properties
        self.body = body
    }
}

/// Told about every message the engine parked, after the broker confirmed the parked copy and the
/// original was acked — so the queue always holds what the journal has heard of (the queue is
/// the truth; the journal is an index of it for querying history without draining the queue).
///
/// A journal must not throw or block for long: when it cannot write (its database is down), it
/// logs and carries on; `courier dlq sync` re-indexes from the queue.
package protocol DeadLetterJournal: Sendable {
    func record(_ record: DeadLetterRecord) async
}
