import CourierAMQP
import CourierTelemetry
import Foundation
import Logging

/// Consumes the app queue and carries out, for each batch, the plan ``SettlementPlanner`` returns
/// (every rule lives there, without I/O): ack; publish a copy to a retry queue, then ack; publish
/// to the dead-letter exchange with the failure headers, then ack; or requeue and pause while a
/// dependency is down.
///
/// Copies are published on a separate connection with publisher confirms, and the original is
/// acked only after the broker confirmed the copy — so a crash in between can duplicate a
/// message, never lose one. When the copy cannot be published, the original is requeued after a
/// pause, never dropped and never spun on.
package struct ConsumerEngine: Sendable {
    package struct Settings: Sendable {
        /// Unacknowledged deliveries the broker may send ahead (`basic.qos`); `courier.prefetch`.
        /// About a second of handling: every fault returns what is in flight, and a quorum
        /// queue counts each return against the delivery limit (config/README.md).
        package var prefetch: UInt16 = 1000
        /// The most deliveries handed to the handler at once; `courier.batch.size`. One
        /// transaction per handler per batch: 500 gave ~40% more events/s than 200.
        package var batchSize: Int = 500
        /// Larger bodies are dead-lettered unparsed.
        package var maximumMessageBytes: Int = 256 * 1024
        /// How long to wait before requeueing when a retry or dead-letter publish failed, and
        /// between dependency checks while paused.
        package var pause: Duration = .seconds(5)
        /// After the last acks of a stop, how long to let the broker apply them before the channel
        /// closes. Closing returns every unsettled delivery to the queue, and a quorum queue may
        /// see the close before acks still in its pipeline — which would hand those deliveries
        /// to someone else a second time.
        package var settleGrace: Duration = .milliseconds(250)
        /// Written on dead-lettered messages (`x-courier-host`).
        package var host: String = ProcessInfo.processInfo.environment["FLY_MACHINE_ID"] ?? ProcessInfo.processInfo.hostName

        package init() {}
    }

    package let topology: Topology
    package let handler: any DeliveryHandler
    package let settings: Settings
    /// Hears of every parked message (the failure index); nil records nothing beyond the queue.
    package let journal: (any DeadLetterJournal)?
    /// Hears the dependency when consuming pauses for one (``HandlingOutcome/dependencyUnavailable(dependency:)``)
    /// and nil when it resumes: for readiness reports.
    let onPause: @Sendable (String?) -> Void
    let logger: Logger
    let metrics: EngineMetrics

    package init(
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
    package func run(consuming: AMQPConnection, publishing: AMQPConnection) async throws {
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
    package struct PublishingLost: Error, CustomStringConvertible {
        package var cause: String
        package var description: String { "the connection for retry and dead-letter copies was lost: \(cause)" }
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

    /// The rules the engine follows for a batch; it only carries out what they return.
    var planner: SettlementPlanner {
        SettlementPlanner(schedule: topology.settings.retrySchedule, maximumMessageBytes: settings.maximumMessageBytes, handlerName: handler.name)
    }

    /// Handles one batch in the planner's order (``SettlementPlanner/handlingOrder(_:deliveryLimit:)``:
    /// suspected killers alone, after the rest, each settled and its acks on the wire before the
    /// next) and settles every delivery in it. Returns the dependency that is down when the
    /// handler reported one.
    private func process(_ batch: [AMQPDelivery], channel: AMQPChannel, publisher: AMQPChannel) async throws -> String? {
        let planner = self.planner
        let order = planner.handlingOrder(batch, deliveryLimit: topology.settings.deliveryLimit)
        guard !order.alone.isEmpty else {
            return try await handle(batch, planner: planner, channel: channel, publisher: publisher)  // the common case
        }
        if !order.together.isEmpty,
            let paused = try await handle(order.together.map { batch[$0] }, planner: planner, channel: channel, publisher: publisher)
        {
            return paused
        }
        for index in order.alone {
            await channel.flush()
            if let paused = try await handle([batch[index]], planner: planner, channel: channel, publisher: publisher) { return paused }
        }
        return nil
    }

    /// Hands what the planner admits to the handler, then carries out the plan.
    private func handle(_ batch: [AMQPDelivery], planner: SettlementPlanner, channel: AMQPChannel, publisher: AMQPChannel) async throws -> String? {
        let received = metrics.received(batch)
        let handled: [HandlingOutcome]
        if let admitted = planner.admitted(batch) {
            handled = admitted.isEmpty ? [] : await run(admitted.map { batch[$0] })
        } else {
            handled = await run(batch)  // the common case, without copying the batch
        }
        // What a copy may take: the publishing connection's frame, less what the broker adds.
        let copyFrameMax = publisher.connection.maximumFrameSize - FailureHeaders.brokerHeadroom
        let plan = planner.plan(batch, handled: handled, copyFrameMax: copyFrameMax, queue: topology.appQueue)
        return try await execute(plan, batch: batch, received: received, planner: planner, channel: channel, publisher: publisher)
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

    /// Carries out a plan: acks and requeues in order, then the copies, published together (each
    /// waits for its own confirm: streaming confirms). Returns the dependency that paused.
    private func execute(
        _ plan: SettlementPlan, batch: [AMQPDelivery], received: [String: Int], planner: SettlementPlanner,
        channel: AMQPChannel, publisher: AMQPChannel
    ) async throws -> String? {
        var copies: [(AMQPDelivery, DeliveryAction)] = []
        for step in plan.steps {
            switch step {
            case .ackAll:
                var tags: [UInt64] = []
                tags.reserveCapacity(batch.count)
                for delivery in batch { tags.append(delivery.deliveryTag) }
                channel.ack(tags)
                metrics.settled(counts: received, .acked)
            case .ack(let indices):
                channel.ack(indices.map { batch[$0].deliveryTag })
                metrics.settled(indices.map { batch[$0] }, .acked)
            case .requeue(let index):
                channel.nack(batch[index].deliveryTag, requeue: true)
                metrics.settled(batch[index], .requeued)
            case .copy(let index, let action):
                copies.append((batch[index], action))
            }
        }
        if !copies.isEmpty {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (delivery, action) in copies {
                    group.addTask {
                        try await self.publishCopy(of: delivery, action: action, planner: planner, channel: channel, publisher: publisher)
                    }
                }
                try await group.waitForAll()
            }
        }
        if let pausedBy = plan.pausedBy {
            logger.warning("pausing: a dependency is down for every message", metadata: ["dependency": "\(pausedBy)"])
        }
        return plan.pausedBy
    }

    /// Publishes the retry or dead-letter copy the plan asked for, waits for its confirm, then
    /// settles the original as ``SettlementPlanner/afterCopy(_:publisherOpen:pause:)`` says.
    ///
    /// A parked copy leaves its largest foreign headers out to fit the publishing connection's
    /// frame (``FailureHeaders/fitting(_:frameMax:)``); the failure index keeps the message as it
    /// came. Throws ``PublishingLost`` when the publisher's channel or connection is gone.
    private func publishCopy(
        of delivery: AMQPDelivery, action: DeliveryAction, planner: SettlementPlanner, channel: AMQPChannel, publisher: AMQPChannel
    ) async throws {
        let origin = FailureHeaders.origin(of: delivery, queue: topology.appQueue)
        let exchange: String
        let routingKey: String
        let properties: AMQPProperties
        var record: DeadLetterRecord?
        switch action {
        case .retry(let attempt, let delay):
            exchange = ""
            routingKey = topology.retryQueue(for: delay)
            properties = FailureHeaders.retry(delivery.properties, attempt: attempt, origin: origin)
        case .deadLetter(let reason, let failure, let attempts):
            exchange = Topology.deadLetterExchangeName
            routingKey = topology.appQueue
            let failureID = UUID().uuidString.lowercased()
            let failedAt = Date()
            let complete = FailureHeaders.deadLetter(
                delivery.properties, reason: reason, failure: failure, attempts: attempts,
                origin: origin, failedAt: failedAt, host: settings.host, failureID: failureID)
            let frameMax = publisher.connection.maximumFrameSize - FailureHeaders.brokerHeadroom
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
        case .ack, .requeueAndPause:
            return  // not copies: the plan never asks for these here
        }
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
        switch planner.afterCopy(outcome, publisherOpen: publisher.isOpen, pause: settings.pause) {
        case .ackOriginal:
            channel.ack(delivery.deliveryTag)
            if case .retry = action { metrics.settled(delivery, .retried) } else { metrics.settled(delivery, .deadLettered) }
            if let record, let journal { await journal.record(record) }
        case .reconnect:
            throw PublishingLost(cause: failure.map { "\($0)" } ?? "the publishing channel closed")
        case .requeueAfter(let pause):
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
