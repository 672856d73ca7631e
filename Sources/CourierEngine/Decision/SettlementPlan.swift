import CourierAMQP

/// Everything the engine does with one batch, decided before anything is done: which deliveries
/// the handler sees, in which groups, and — once it answered — how each delivery is settled. A
/// value with no I/O, like postgres-nio's state machines that return actions: the engine only
/// carries out what it returns (``ConsumerEngine``), and every rule is tested without a broker
/// (`SettlementPlanTests`).
///
/// The rules, each in one place:
/// - A body over ``maximumMessageBytes`` is never parsed or handed to the handler: it is parked
///   as `MessageTooLarge` (``admitted(_:)``, ``plan(_:handled:copyFrameMax:queue:)``).
/// - A handler that answers fewer outcomes than deliveries leaves the rest failed transiently as
///   `MissingOutcome` (retried, never lost, never acked unhandled).
/// - Every other outcome goes through ``decide(_:failedAttempts:schedule:)``; a dead-letter
///   failure without a handler gets the engine's handler name.
/// - A retry whose copy could not be sent (its headers too big for a frame, or not encodable) is
///   parked instead (``parkInstead(ofRetrying:attempts:because:)``).
/// - Acks keep their order with requeues: acks decided before a requeue are sent before it.
/// - Suspected killers are handled one at a time after the rest (``handlingOrder(_:deliveryLimit:)``).
package struct SettlementPlanner: Sendable {
    package var schedule: RetrySchedule
    package var maximumMessageBytes: Int
    /// Written on a failure when the handler did not name one.
    package var handlerName: String

    package init(schedule: RetrySchedule, maximumMessageBytes: Int, handlerName: String) {
        self.schedule = schedule
        self.maximumMessageBytes = maximumMessageBytes
        self.handlerName = handlerName
    }

    /// The order a batch is handled in. Usually the whole batch at once. Deliveries redelivered
    /// often enough to have crashed a process (``isSuspect(redelivered:deliveryCount:deliveryLimit:)``)
    /// are handled one at a time after the rest, each settled and its acks on the wire before the
    /// next. Their order flips with the quorum queue's `x-delivery-count`, so the messages queued
    /// behind a killer get their turn before it on the next delivery, and only the killer's count
    /// climbs to the delivery limit and the broker parks it alone.
    package func handlingOrder(_ batch: [AMQPDelivery], deliveryLimit: Int) -> HandlingOrder {
        func suspect(_ delivery: AMQPDelivery) -> Bool {
            isSuspect(redelivered: delivery.redelivered, deliveryCount: delivery.properties.headers?["x-delivery-count"], deliveryLimit: deliveryLimit)
        }
        guard batch.contains(where: suspect) else { return HandlingOrder(together: Array(batch.indices), alone: []) }
        var suspects = batch.indices.filter { suspect(batch[$0]) }
        if let first = suspects.first, let count = batch[first].properties.headers?["x-delivery-count"]?.intValue, count % 2 == 1 {
            suspects.reverse()
        }
        return HandlingOrder(together: batch.indices.filter { !suspect(batch[$0]) }, alone: suspects)
    }

    /// The deliveries of `batch` the handler sees, as indices, in order: all but those too large;
    /// nil when that is all of them (the common case, without an index list).
    package func admitted(_ batch: [AMQPDelivery]) -> [Int]? {
        guard batch.contains(where: { $0.body.count > maximumMessageBytes }) else { return nil }
        return batch.indices.filter { batch[$0].body.count <= maximumMessageBytes }
    }

    /// How to settle `batch`, given the handler's outcomes for its ``admitted(_:)`` deliveries
    /// (in order; fewer than asked leaves the rest `MissingOutcome`).
    ///
    /// - Parameters:
    ///   - copyFrameMax: the largest header frame a retry copy may take on the publishing
    ///     connection; 0 or less means unknown (not checked).
    ///   - queue: the queue the batch came from, written as the copy's origin.
    package func plan(_ batch: [AMQPDelivery], handled: [HandlingOutcome], copyFrameMax: Int, queue: String) -> SettlementPlan {
        // The common case: every delivery admitted and handled — one ack for all, nothing to decide.
        if handled.count == batch.count, handled.allSatisfy({ if case .handled = $0 { true } else { false } }),
            !batch.contains(where: { $0.body.count > maximumMessageBytes })
        {
            return SettlementPlan(steps: [.ackAll], pausedBy: nil)
        }
        var outcomes = [HandlingOutcome?](repeating: nil, count: batch.count)
        var answers = handled.makeIterator()
        for index in batch.indices {
            if batch[index].body.count > maximumMessageBytes {
                outcomes[index] = .permanentFailure(
                    HandlingFailure(
                        errorClass: "MessageTooLarge",
                        message: "body of \(batch[index].body.count) bytes exceeds the limit of \(maximumMessageBytes)"))
            } else {
                outcomes[index] = answers.next() ?? missingOutcome
            }
        }
        var plan = SettlementPlan(steps: [], pausedBy: nil)
        var acks: [Int] = []
        var copies: [SettlementPlan.Step] = []
        for (index, delivery) in batch.enumerated() {
            let outcome = outcomes[index] ?? missingOutcome
            var action = decide(outcome, failedAttempts: FailureHeaders.failedAttempts(in: delivery.properties), schedule: schedule)
            switch action {
            case .ack:
                acks.append(index)
            case .requeueAndPause(let dependency):
                plan.pausedBy = plan.pausedBy ?? dependency
                if !acks.isEmpty { plan.steps.append(.ack(acks)) }  // settlements keep their order
                acks.removeAll()
                plan.steps.append(.requeue(index))
            case .retry(let attempt, _):
                if case .transientFailure(let failure) = outcome,
                    let problem = Self.copyProblem(
                        FailureHeaders.retry(delivery.properties, attempt: attempt, origin: FailureHeaders.origin(of: delivery, queue: queue)),
                        frameMax: copyFrameMax)
                {
                    action = parkInstead(ofRetrying: failure, attempts: attempt, because: "the retry copy cannot be sent: \(problem)")
                }
                copies.append(.copy(index, named(action)))
            case .deadLetter:
                copies.append(.copy(index, named(action)))
            }
        }
        if !acks.isEmpty { plan.steps.append(.ack(acks)) }
        plan.steps += copies
        return plan
    }

    /// A handler that answered too few outcomes: the rest are retried, never acked unhandled.
    package var missingOutcome: HandlingOutcome {
        .transientFailure(HandlingFailure(errorClass: "MissingOutcome", message: "the handler returned no outcome", handler: handlerName))
    }

    /// A parked failure names the handler that failed; the engine's own refusals (a body too
    /// large, never handed to a handler) name none.
    private func named(_ action: DeliveryAction) -> DeliveryAction {
        guard case .deadLetter(let reason, var failure, let attempts) = action else { return action }
        if failure.handler == nil, failure.errorClass != "MessageTooLarge" { failure.handler = handlerName }
        return .deadLetter(reason, failure, attempts: attempts)
    }

    /// Why a copy with these properties could not be published on a connection with `frameMax`.
    package static func copyProblem(_ properties: AMQPProperties, frameMax: Int) -> String? {
        if let problem = properties.encodingProblem { return problem }
        let size = properties.headerFrameSize
        guard frameMax > 0, size > frameMax else { return nil }
        return "its headers need a frame of \(size) bytes, over the \(frameMax) a copy may take (frame_max less the broker's headroom)"
    }

    /// What follows a retry or dead-letter copy's publish: the broker's answer (nil when the
    /// publish threw) and whether the publishing channel is still open.
    package func afterCopy(_ outcome: AMQPPublishOutcome?, publisherOpen: Bool, pause: Duration) -> CopySettlement {
        if outcome == .acked { return .ackOriginal }
        // The path is gone, not refused: leave the original unsettled (closing the consuming
        // channel returns it to the queue) and let the supervisor reconnect both.
        if outcome == nil, !publisherOpen { return .reconnect }
        return .requeueAfter(pause)
    }
}

/// What ``SettlementPlanner/plan(_:handled:copyFrameMax:queue:)`` decided for a batch.
package struct SettlementPlan: Sendable, Equatable {
    package enum Step: Sendable, Equatable {
        /// Ack every delivery of the batch at once: the common case, without an index list.
        case ackAll
        /// Ack these deliveries (indices into the batch) at once.
        case ack([Int])
        /// `nack` with requeue: a dependency every message needs is down.
        case requeue(Int)
        /// Publish a confirmed copy — `.retry` to its retry queue, `.deadLetter` to the
        /// dead-letter exchange — then ack the original (``SettlementPlanner/afterCopy(_:publisherOpen:pause:)``).
        case copy(Int, DeliveryAction)
    }

    /// In order. Acks and requeues are sent as listed; copies are published together after them.
    package var steps: [Step]
    /// The first dependency reported down: consuming pauses until it is back.
    package var pausedBy: String?
}

/// Which deliveries of a batch (indices) are handled together, and which alone after them, in order.
package struct HandlingOrder: Sendable, Equatable {
    package var together: [Int]
    package var alone: [Int]

    package init(together: [Int], alone: [Int]) {
        self.together = together
        self.alone = alone
    }
}

/// What to do with the original once its copy's publish has an answer.
package enum CopySettlement: Sendable, Equatable {
    /// The broker confirmed the copy: ack the original.
    case ackOriginal
    /// The copy was refused or not confirmed: requeue the original after the pause, so a broken
    /// path never turns into a hot loop, and never drop it.
    case requeueAfter(Duration)
    /// The publishing channel or connection is gone: leave the original unsettled and reconnect.
    case reconnect
}
