import CourierAMQP
import CourierTelemetry
import Foundation
import Logging

/// Consumes the app queue and carries out, for each delivery, what ``decide(_:failedAttempts:schedule:)``
/// says: ack; publish a copy to a retry queue, then ack; publish to the dead-letter exchange with
/// the failure headers, then ack; or requeue and pause while a dependency is down.
///
/// Copies are published on a separate connection with publisher confirms, and the original is
/// acked only after the broker confirmed the copy — so a crash in between can duplicate a
/// message, never lose one. When the copy cannot be published, the original is requeued after a
/// pause, never dropped and never spun on.
public struct ConsumerEngine: Sendable {
    public struct Settings: Sendable {
        /// Unacknowledged deliveries the broker may send ahead (`basic.qos`).
        public var prefetch: UInt16 = 200
        /// The most deliveries handed to the handler at once.
        public var batchSize: Int = 100
        /// Larger bodies are dead-lettered unparsed.
        public var maximumMessageBytes: Int = 256 * 1024
        /// How long to wait before requeueing when a retry or dead-letter publish failed, and
        /// between dependency checks while paused.
        public var pause: Duration = .seconds(5)
        /// After the last acks of a stop, how long to let the broker apply them before the channel
        /// closes. Closing returns every unsettled delivery to the queue, and a quorum queue may
        /// see the close before acks still in its pipeline — which would hand those deliveries
        /// to someone else a second time.
        public var settleGrace: Duration = .milliseconds(250)
        /// Written on dead-lettered messages (`x-courier-host`).
        public var host: String = ProcessInfo.processInfo.environment["FLY_MACHINE_ID"] ?? ProcessInfo.processInfo.hostName

        public init() {}
    }

    public let topology: Topology
    public let handler: any DeliveryHandler
    public let settings: Settings
    /// Hears of every parked message (the failure index); nil records nothing beyond the queue.
    public let journal: (any DeadLetterJournal)?
    /// Hears the dependency when consuming pauses for one (``HandlingOutcome/dependencyUnavailable(dependency:)``)
    /// and nil when it resumes: for readiness reports.
    let onPause: @Sendable (String?) -> Void
    let logger: Logger
    let metrics: EngineMetrics

    public init(
        topology: Topology, handler: any DeliveryHandler, settings: Settings = Settings(),
        journal: (any DeadLetterJournal)? = nil, logger: Logger, onPause: @escaping @Sendable (String?) -> Void = { _ in }
    ) {
        self.topology = topology
        self.handler = handler
        self.settings = settings
        self.journal = journal
        self.onPause = onPause
        self.logger = logger
        self.metrics = EngineMetrics(topology: topology)
    }

    /// Consumes until the consumer ends (cancelled by the broker, the channel or connection
    /// closed: that error is thrown) or the task is cancelled (returns normally after settling the
    /// batch in hand). Deliveries not yet settled go back to the queue when the channel closes.
    ///
    /// The publishing connection is watched too: when it is lost (or its channel closed), `run`
    /// ends with ``PublishingLost`` — the copies' path is gone, so consuming on would only
    /// requeue every failure — and the supervisor re-establishes both connections.
    public func run(consuming: AMQPConnection, publishing: AMQPConnection) async throws {
        let publisher = try await publishing.openChannel()
        try await publisher.confirmSelect()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.consumeUntilStopped(consuming: consuming, publisher: publisher) }
            group.addTask {
                let failure = await publishing.waitUntilClosed()
                if Task.isCancelled { return }
                throw PublishingLost(cause: failure.map { "\($0)" } ?? "the publishing connection closed")
            }
            // Whichever ends first ends both: consuming stopped (cancelled, or an error), or the
            // publishing connection went away.
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// The publishing connection or its channel went away while consuming.
    public struct PublishingLost: Error, CustomStringConvertible {
        public var cause: String
        public var description: String { "the connection for retry and dead-letter copies was lost: \(cause)" }
    }

    private func consumeUntilStopped(consuming: AMQPConnection, publisher: AMQPChannel) async throws {
        while !Task.isCancelled {
            let channel = try await consuming.openChannel()
            try await channel.qos(prefetchCount: settings.prefetch)
            let consumer = try await channel.consume(queue: topology.appQueue)
            logger.info("consuming", metadata: ["queue": "\(topology.appQueue)", "prefetch": "\(settings.prefetch)"])
            let paused = try await consume(consumer, on: channel, publisher: publisher)
            await stop(consumer, on: channel)
            guard let dependency = paused else { return }
            onPause(dependency)
            try await waitUntilAvailable(dependency)
            onPause(nil)
        }
    }

    /// Stops cleanly: `basic.cancel` (sent after the acks queued so far, so no new deliveries
    /// come), a grace for the broker to apply the acks, then `channel.close`, which returns
    /// whatever is still unsettled to the queue. Runs to the end even when the task is cancelled.
    private func stop(_ consumer: AMQPConsumer, on channel: AMQPChannel) async {
        guard channel.isOpen else { return }
        let grace = settings.settleGrace
        await Task.detached {
            try? await consumer.cancel()
            try? await Task.sleep(for: grace)
            try? await channel.close()
        }.value
    }

    /// Returns the dependency that paused consuming, or nil when the task was cancelled.
    private func consume(_ consumer: AMQPConsumer, on channel: AMQPChannel, publisher: AMQPChannel) async throws -> String? {
        var iterator = consumer.makeAsyncIterator()
        while !Task.isCancelled {
            let batch: [AMQPDelivery]
            do {
                batch = try await iterator.nextBatch(max: settings.batchSize)
            } catch is CancellationError {
                return nil
            }
            if batch.isEmpty { return nil }
            if let dependency = try await process(batch, channel: channel, publisher: publisher) {
                return dependency
            }
        }
        return nil
    }

    /// Handles one batch and settles every delivery in it. Returns the dependency that is down
    /// when the handler reported one.
    ///
    /// Messages redelivered often enough to have crashed a process (``isSuspect(redelivered:deliveryCount:deliveryLimit:)``)
    /// are handled one at a time, each settled and its ack on the wire before the next, after the
    /// rest of the batch. The order flips with the quorum queue's `x-delivery-count`: the messages
    /// queued behind a killer get their turn before it on the next delivery, so only the killer's
    /// count climbs to the delivery limit and the broker parks it alone.
    private func process(_ batch: [AMQPDelivery], channel: AMQPChannel, publisher: AMQPChannel) async throws -> String? {
        let limit = topology.settings.deliveryLimit
        func suspect(_ delivery: AMQPDelivery) -> Bool {
            isSuspect(redelivered: delivery.redelivered, deliveryCount: delivery.properties.headers?["x-delivery-count"], deliveryLimit: limit)
        }
        guard batch.contains(where: suspect) else {
            return try await handle(batch, channel: channel, publisher: publisher)  // the common case: no copies
        }
        let fresh = batch.filter { !suspect($0) }
        var suspects = batch.filter(suspect)
        if let count = suspects.first?.properties.headers?["x-delivery-count"]?.intValue, count % 2 == 1 {
            suspects.reverse()
        }
        if !fresh.isEmpty, let paused = try await handle(fresh, channel: channel, publisher: publisher) {
            return paused
        }
        for suspect in suspects {
            await channel.flush()
            if let paused = try await handle([suspect], channel: channel, publisher: publisher) { return paused }
        }
        return nil
    }

    private func handle(_ batch: [AMQPDelivery], channel: AMQPChannel, publisher: AMQPChannel) async throws -> String? {
        let received = metrics.received(batch)
        let limit = settings.maximumMessageBytes
        if !batch.contains(where: { $0.body.count > limit }) {
            // The common case: the whole batch goes to the handler, without copying it; when it
            // handled every delivery, all are acked at once — no decision per message needed.
            let handled = await run(batch)
            if handled.count == batch.count, handled.allSatisfy({ if case .handled = $0 { true } else { false } }) {
                var tags: [UInt64] = []
                tags.reserveCapacity(batch.count)
                for delivery in batch { tags.append(delivery.deliveryTag) }
                channel.ack(tags)
                metrics.settled(counts: received, .acked)
                return nil
            }
            let outcomes = batch.indices.map { $0 < handled.count ? handled[$0] : missingOutcome }
            return try await settle(batch, outcomes: outcomes, channel: channel, publisher: publisher)
        }
        // Too large: dead-lettered without being parsed or handed to the handler.
        var outcomes = [HandlingOutcome?](repeating: nil, count: batch.count)
        var eligible: [AMQPDelivery] = []
        var eligibleIndex: [Int] = []
        for (index, delivery) in batch.enumerated() {
            if delivery.body.count > limit {
                outcomes[index] = .permanentFailure(
                    HandlingFailure(
                        errorClass: "MessageTooLarge",
                        message: "body of \(delivery.body.count) bytes exceeds the limit of \(limit)"))
            } else {
                eligible.append(delivery)
                eligibleIndex.append(index)
            }
        }
        if !eligible.isEmpty {
            let handled = await run(eligible)
            for (position, index) in eligibleIndex.enumerated() {
                outcomes[index] = position < handled.count ? handled[position] : missingOutcome
            }
        }
        return try await settle(batch, outcomes: outcomes.map { $0 ?? missingOutcome }, channel: channel, publisher: publisher)
    }

    /// The handler on `deliveries`, timed and counted in flight.
    private func run(_ deliveries: [AMQPDelivery]) async -> [HandlingOutcome] {
        metrics.inFlight.record(deliveries.count)
        let started = ContinuousClock.now
        let handled = await handler.handle(deliveries)
        metrics.handlingDuration.record(duration: ContinuousClock.now - started)
        metrics.inFlight.record(0)
        return handled
    }

    private var missingOutcome: HandlingOutcome {
        .transientFailure(HandlingFailure(errorClass: "MissingOutcome", message: "the handler returned no outcome", handler: handler.name))
    }

    /// Carries out the decision for each delivery of a batch with at least one that was not simply
    /// handled. Returns the dependency that is down when the handler reported one.
    private func settle(
        _ batch: [AMQPDelivery], outcomes: [HandlingOutcome], channel: AMQPChannel, publisher: AMQPChannel
    ) async throws -> String? {
        var pausedBy: String?
        var acked: [AMQPDelivery] = []
        var ackTags: [UInt64] = []
        acked.reserveCapacity(batch.count)
        ackTags.reserveCapacity(batch.count)
        var copies: [(AMQPDelivery, DeliveryAction, HandlingOutcome)] = []
        for (delivery, outcome) in zip(batch, outcomes) {
            let action = decide(outcome, failedAttempts: FailureHeaders.failedAttempts(in: delivery.properties), schedule: topology.settings.retrySchedule)
            switch action {
            case .ack:
                ackTags.append(delivery.deliveryTag)
                acked.append(delivery)
            case .requeueAndPause(let dependency):
                pausedBy = pausedBy ?? dependency
                channel.ack(ackTags)  // settlements keep their order
                ackTags.removeAll(keepingCapacity: true)
                channel.nack(delivery.deliveryTag, requeue: true)
                metrics.settled(delivery, .requeued)
            case .retry, .deadLetter:
                copies.append((delivery, action, outcome))
            }
        }
        channel.ack(ackTags)
        metrics.settled(acked, .acked)
        if !copies.isEmpty {
            // Each copy waits for its own confirm; they are published together (streaming confirms).
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (delivery, action, outcome) in copies {
                    group.addTask {
                        try await self.publishCopy(of: delivery, action: action, outcome: outcome, channel: channel, publisher: publisher)
                    }
                }
                try await group.waitForAll()
            }
        }
        if let pausedBy {
            logger.warning("pausing: a dependency is down for every message", metadata: ["dependency": "\(pausedBy)"])
        }
        return pausedBy
    }

    /// Publishes the retry or dead-letter copy, waits for its confirm, then acks the original;
    /// if the copy is not confirmed, requeues the original after a pause.
    ///
    /// A copy is made to fit the publishing connection's frame first: a retry copy that cannot
    /// is parked instead (``parkInstead(ofRetrying:attempts:because:)``), a parked copy leaves
    /// its largest foreign headers out (``FailureHeaders/fitting(_:frameMax:)``); the failure
    /// index keeps the message as it came. Throws ``PublishingLost`` when the publish failed
    /// because the publisher's channel or connection is gone: the engine then restarts.
    private func publishCopy(
        of delivery: AMQPDelivery, action: DeliveryAction, outcome: HandlingOutcome, channel: AMQPChannel, publisher: AMQPChannel
    ) async throws {
        // What a copy may take: the publishing connection's frame, less what the broker adds.
        let frameMax = publisher.connection.maximumFrameSize - FailureHeaders.brokerHeadroom
        var action = action
        let exchange: String
        let routingKey: String
        var properties: AMQPProperties
        let origin = FailureHeaders.origin(of: delivery, queue: topology.appQueue)
        var record: DeadLetterRecord?
        if case .retry(let attempt, let delay) = action {
            properties = FailureHeaders.retry(delivery.properties, attempt: attempt, origin: origin)
            if let problem = Self.copyProblem(properties, frameMax: frameMax), case .transientFailure(let failure) = outcome {
                action = parkInstead(ofRetrying: failure, attempts: attempt, because: "the retry copy cannot be sent: \(problem)")
            } else {
                exchange = ""
                routingKey = topology.retryQueue(for: delay)
                return try await send(
                    delivery, action: action, exchange: exchange, routingKey: routingKey, properties: properties, record: nil,
                    channel: channel, publisher: publisher)
            }
        }
        switch action {
        case .deadLetter(let reason, var failure, let attempts):
            if failure.handler == nil, failure.errorClass != "MessageTooLarge" { failure.handler = handler.name }
            exchange = Topology.deadLetterExchangeName
            routingKey = topology.appQueue
            let failureID = UUID().uuidString.lowercased()
            let failedAt = Date()
            let complete = FailureHeaders.deadLetter(
                delivery.properties, reason: reason, failure: failure, attempts: attempts,
                origin: origin, failedAt: failedAt, host: settings.host, failureID: failureID)
            let (fitted, removed) = FailureHeaders.fitting(complete, frameMax: frameMax)
            properties = fitted
            // The index keeps every header, those left out of the parked copy included.
            record = DeadLetterRecord(
                failureID: failureID, reason: reason, failure: failure, fingerprint: FailureHeaders.fingerprint(failure),
                attempts: attempts, failedAt: failedAt, origin: origin, deadLetterQueue: topology.deadLetterQueue,
                properties: complete, body: delivery.body)
            var metadata: Logger.Metadata = [
                "reason": "\(reason.rawValue)", "error_class": "\(failure.errorClass)",
                "routing_key": "\(origin.routingKey)", "message_id": "\(delivery.properties.messageID ?? "-")",
                "failure_id": "\(failureID)",
            ]
            if !removed.isEmpty { metadata["removed_headers"] = "\(removed.count)" }
            // The event's id, type and trace id come with the line (Logger.MetadataProvider.courierEvent).
            EventLogContext(delivery: delivery, eventType: origin.routingKey).withValue {
                logger.warning("dead-lettering", metadata: metadata)
            }
        case .retry, .ack, .requeueAndPause:
            return
        }
        try await send(
            delivery, action: action, exchange: exchange, routingKey: routingKey, properties: properties, record: record,
            channel: channel, publisher: publisher)
    }

    /// Why a copy with these properties could not be published on a connection with `frameMax`.
    static func copyProblem(_ properties: AMQPProperties, frameMax: Int) -> String? {
        if let problem = properties.encodingProblem { return problem }
        let size = properties.headerFrameSize
        guard frameMax > 0, size > frameMax else { return nil }
        return "its headers need a frame of \(size) bytes, over the \(frameMax) a copy may take (frame_max less the broker's headroom)"
    }

    private func send(
        _ delivery: AMQPDelivery, action: DeliveryAction, exchange: String, routingKey: String, properties: AMQPProperties,
        record: DeadLetterRecord?, channel: AMQPChannel, publisher: AMQPChannel
    ) async throws {
        let outcome: AMQPPublishOutcome?
        var failure: (any Error)?
        do {
            outcome = try await publisher.publish(
                delivery.body, exchange: exchange, routingKey: routingKey, properties: properties, mandatory: true)
        } catch {
            logger.error("could not publish a retry/dead-letter copy", metadata: ["error": "\(error)"])
            outcome = nil
            failure = error
        }
        if outcome == .acked {
            channel.ack(delivery.deliveryTag)
            if case .retry = action { metrics.settled(delivery, .retried) } else { metrics.settled(delivery, .deadLettered) }
            if let record, let journal { await journal.record(record) }
            return
        }
        if let failure, !publisher.isOpen {
            // The path is gone, not refused: leave the original unsettled (closing the consuming
            // channel returns it to the queue) and let the supervisor reconnect both.
            throw PublishingLost(cause: "\(failure)")
        }
        if case .requeueAfter(let pause) = fallback(whenFailing: action, pause: settings.pause) {
            logger.error(
                "the \(exchange.isEmpty ? "retry" : "dead-letter") path is unavailable; requeueing after a pause",
                metadata: ["routing_key": "\(routingKey)", "outcome": "\(outcome.map { "\($0)" } ?? "error")"])
            try? await Task.sleep(for: pause)
            channel.nack(delivery.deliveryTag, requeue: true)
            metrics.settled(delivery, .requeued)
        }
    }

    private func waitUntilAvailable(_ dependency: String) async throws {
        var down: String? = dependency
        while let name = down {
            try await Task.sleep(for: settings.pause)
            down = await handler.unavailableDependency()
            if down == nil { logger.info("dependency is back; resuming", metadata: ["dependency": "\(name)"]) }
        }
    }
}
