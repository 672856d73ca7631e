import CourierAMQP

/// What a handler made of one delivery.
package enum HandlingOutcome: Sendable, Equatable {
    /// The effect is committed: ack.
    case handled
    /// It failed, but may succeed later (a timeout, a lock, a brief outage of something it needs
    /// for this message only): retry after a delay.
    case transientFailure(HandlingFailure)
    /// It can never succeed as it is (unparseable body, unknown type, invalid fields, the handler
    /// says so, too large): dead-letter now.
    case permanentFailure(HandlingFailure)
    /// Something every message needs is down (Postgres unreachable): this message is not at
    /// fault, so it must not spend its retries. Requeue it and pause consuming.
    case dependencyUnavailable(dependency: String)
}

/// Why handling failed, as it will be written on a dead-lettered message.
package struct HandlingFailure: Sendable, Equatable {
    /// A stable name for the kind of error, e.g. `InvalidField`, `PostgresError.queryFailed`.
    package var errorClass: String
    /// The error's text (bounded when written out).
    package var message: String
    /// The handler that failed, when one did.
    package var handler: String?

    package init(errorClass: String, message: String, handler: String? = nil) {
        self.errorClass = errorClass
        self.message = message
        self.handler = handler
    }
}

/// Why a message goes to the dead-letter queue.
package enum DeadLetterReason: String, Sendable, Equatable {
    /// A permanent failure: no retry could help.
    case permanentFailure = "permanent-failure"
    /// Transient failures, one per delay of the retry schedule and one more.
    case retriesExhausted = "retries-exhausted"
}

/// What to do with a delivery. The engine carries it out; this type only decides.
package enum DeliveryAction: Sendable, Equatable {
    /// Acknowledge.
    case ack
    /// Publish a copy to the retry queue for `delay` with the attempt header set to `attempt`
    /// (confirmed), then ack the original.
    case retry(attempt: Int, delay: Duration)
    /// Publish to the dead-letter exchange with the failure headers (confirmed), then ack.
    case deadLetter(DeadLetterReason, HandlingFailure, attempts: Int)
    /// `nack` with requeue and pause consuming until the dependency is back.
    case requeueAndPause(dependency: String)
}

/// The broker-side retry delays: one durable queue per delay whose TTL dead-letters back to the
/// app queue. A message is tried once, then once after each delay.
package struct RetrySchedule: Sendable, Equatable {
    package var delays: [Duration]

    package init(delays: [Duration]) {
        self.delays = delays
    }

    /// 5 s, 30 s, 2 min, 10 min: five tries over about 13 minutes.
    package static let standard = RetrySchedule(delays: [.seconds(5), .seconds(30), .seconds(120), .seconds(600)])

    /// How many times a message is handled at most.
    package var maxAttempts: Int { delays.count + 1 }
}

/// The decision "ack, retry later, or dead-letter?" — a pure function of the outcome, the
/// attempts already made (from our own attempt header, never the broker's counters) and the
/// schedule.
///
/// - Parameter failedAttempts: how many earlier tries of this message failed (0 on the first).
///   It comes from a header, so from the wire: any value is taken, negative as 0, and none can
///   make the count overflow.
package func decide(_ outcome: HandlingOutcome, failedAttempts: Int, schedule: RetrySchedule) -> DeliveryAction {
    let failedAttempts = min(max(0, failedAttempts), Int.max - 1)
    switch outcome {
    case .handled:
        return .ack
    case .dependencyUnavailable(let dependency):
        return .requeueAndPause(dependency: dependency)
    case .permanentFailure(let failure):
        return .deadLetter(.permanentFailure, failure, attempts: failedAttempts + 1)
    case .transientFailure(let failure):
        let attempts = failedAttempts + 1
        guard attempts < schedule.maxAttempts else {
            return .deadLetter(.retriesExhausted, failure, attempts: attempts)
        }
        return .retry(attempt: attempts, delay: schedule.delays[attempts - 1])
    }
}

/// A retry whose copy cannot be published — its headers would not fit one frame, so it could
/// never come back — parks the message now instead, saying why, with the failure that asked for
/// the retry. (The parked copy can leave headers out to fit: see ``FailureHeaders/fitting(_:frameMax:)``.)
package func parkInstead(ofRetrying failure: HandlingFailure, attempts: Int, because problem: String) -> DeliveryAction {
    .deadLetter(
        .permanentFailure,
        HandlingFailure(
            errorClass: "RetryCopyTooLarge",
            message: "\(problem); the failure to retry was \(failure.errorClass): \(failure.message)",
            handler: failure.handler),
        attempts: attempts)
}

/// Whether a delivery may be what crashed a process before it, so that it is handled alone
/// (settled before the next) rather than in a batch whose other messages it would take down with
/// it again.
///
/// Every fault returns a process's unsettled deliveries — a kill, a broker or Postgres outage, a
/// deploy — and a quorum queue counts each return in `x-delivery-count`. Taking every redelivery
/// for a suspect sent all of them through the one-at-a-time path after each fault, far slower than
/// in batches, so the next fault found more of them still in flight. A killer message shows itself
/// by being returned again and again, so a delivery is a suspect from half the delivery limit on:
/// its batch-mates reach that count with it, and from there the one-at-a-time order (which flips
/// with the count) leaves only the killer's count climbing to the limit.
///
/// A redelivery without a usable count (a classic queue, or a header that is not a number) is a
/// suspect, as before.
package func isSuspect(redelivered: Bool, deliveryCount: AMQPFieldValue?, deliveryLimit: Int) -> Bool {
    guard redelivered else { return false }
    guard let count = deliveryCount?.intValue else { return true }
    return count >= Int64(max(1, deliveryLimit / 2))
}
