import CourierAMQP
import CourierEvents
import CourierSupport
import Logging
import ServiceLifecycle
import Synchronization
import Tracing

/// Publishes Semble events to `domain_events` and returns once the broker has confirmed them.
///
/// One publisher holds **one connection and one confirm-mode channel**, shared by every caller:
/// concurrent publishes are in flight together (streaming confirms, up to
/// ``PublisherConfiguration/maxInFlight``), each caller resuming when the broker answers for its
/// own message — not one round trip per message. Create one per process and share it.
///
/// Every message is published with routing key = the event type, `mandatory`, and the properties
/// a good Semble publisher sets: `delivery_mode` 2 (persistent), `message_id` = the envelope's id,
/// `type` = the event type, `timestamp` = when it occurred (seconds), `content_type`
/// `application/json`, `app_id` (``PublisherConfiguration/appID``), and the headers
/// `x-schema-version` (the envelope's schema version) and the trace context of the caller
/// (`traceparent`/`tracestate` with swift-otel bootstrapped: each publish is a producer span,
/// `publish <event type>`, a child of the caller's span).
///
/// **Failures are quick and explicit** (``PublishError``): a nack, an unroutable message, a
/// missing exchange, a lost connection, no confirm within ``PublisherConfiguration/confirmTimeout``.
/// The publisher connects on first use (or ``connect()``); when the connection is lost, the next
/// publish reconnects. A failed connect makes the publisher wait
/// ``PublisherConfiguration/reconnectDelay`` (doubling up to
/// ``PublisherConfiguration/maxReconnectDelay``) before it tries again; publishes in that window
/// fail at once with ``PublishError/Code/connectionFailed`` — a dead broker costs callers an error
/// within seconds, never a hang, and is not hammered.
///
/// Publishing directly after a database commit can still lose an event if the process dies in
/// between; for events that must never be lost, write them with ``Outbox`` in the same transaction
/// as the change and let ``OutboxRelay`` publish them.
///
/// As a swift-service-lifecycle `Service`, ``run()`` connects (without failing when the broker is
/// down), waits for graceful shutdown, lets the confirms in flight arrive, and closes.
public final class EventPublisher: Service, Sendable {
    public let configuration: PublisherConfiguration
    let logger: Logger
    private let state = Mutex(State())
    private let deadlines: ConfirmDeadlines
    private let encoder = EventEncoder()
    private let backoff: Backoff

    private struct State: ~Copyable {
        var connection: AMQPConnection?
        var channel: AMQPChannel?
        /// The connect in progress, which concurrent publishes share.
        var connecting: Task<AMQPChannel, any Error>?
        /// Connect attempts that failed in a row.
        var failures = 0
        /// No new connect attempt before this.
        var retryAt: ContinuousClock.Instant?
        var lastFailure: PublishError?
        var isShutDown = false
        /// Set while the broker blocks publishing (resource alarm): explains a timeout.
        var blockedReason: String?
    }

    public init(configuration: PublisherConfiguration, logger: Logger = Logger(label: "courier.publisher")) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "amqp"] = "\(configuration.amqp.redactedURL)"
        self.logger = logger
        self.deadlines = ConfirmDeadlines(timeout: configuration.confirmTimeout)
        self.backoff = Backoff(initial: configuration.reconnectDelay, maximum: configuration.maxReconnectDelay)
    }

    /// A publisher to `exchange` instead of `domain_events`: for tests, which share a vhost.
    convenience init(configuration: PublisherConfiguration, exchange: String, logger: Logger = Logger(label: "courier.publisher")) {
        var configuration = configuration
        configuration.exchange = exchange
        self.init(configuration: configuration, logger: logger)
    }

    private var endpoint: String { configuration.amqp.redactedURL }

    // MARK: Publishing

    /// Publishes one event and returns once the broker has confirmed it.
    ///
    /// - Parameters:
    ///   - envelope: the event; its `id` becomes the `message_id` (use a UUID: see
    ///     ``CourierEvents/EventEnvelope/outgoing(_:aggregateId:occurredAt:)``).
    ///   - context: the parent of the publish span (by default the current task's
    ///     `ServiceContext`), whose trace the message's handlers join.
    /// - Throws: ``PublishError`` (see its codes; ``PublishError/mayHaveBeenPublished`` tells
    ///   whether a retry may duplicate the message).
    public func publish(_ envelope: EventEnvelope, context: ServiceContext? = nil) async throws(PublishError) {
        let parent = context ?? ServiceContext.current ?? .topLevel
        try await send([OutgoingMessage(envelope, encoder: encoder)], parents: [parent])[0].get()
    }

    /// Publishes several events in this order, all in flight together, and returns each one's
    /// outcome in the same order once the broker has answered for all of them.
    public func publish(
        _ envelopes: [EventEnvelope], context: ServiceContext? = nil
    ) async -> [Result<Void, PublishError>] {
        let parent = context ?? ServiceContext.current ?? .topLevel
        return await send(
            envelopes.map { OutgoingMessage($0, encoder: encoder) }, parents: Array(repeating: parent, count: envelopes.count))
    }

    /// Connects now rather than on the first publish (a failure here is retried on first use).
    public func connect() async throws(PublishError) {
        _ = try await channel()
    }

    /// ``send(_:)`` with a publish span per message, a child of its parent in `parents`
    /// (``PublishSpans``).
    func send(_ messages: [OutgoingMessage], parents: [ServiceContext]) async -> [Result<Void, PublishError>] {
        var messages = messages
        let spans = PublishSpans.start(&messages, parents: parents, exchange: configuration.exchange)
        let results = await send(messages)
        spans.end(results)
        return results
    }

    /// Sends `messages` on the shared channel in this order — so the broker receives them in this
    /// order — and waits for the broker's answer to each (or the confirm timeout).
    func send(_ messages: [OutgoingMessage]) async -> [Result<Void, PublishError>] {
        guard !messages.isEmpty else { return [] }
        let channel: AMQPChannel
        do {
            channel = try await self.channel()
        } catch {
            return messages.map { .failure(error.about($0)) }
        }
        let exchange = configuration.exchange
        let appID = configuration.appID
        let window = configuration.maxInFlight
        let batch = ConfirmBatch(count: messages.count)
        let watch = deadlines.add(batch, deadline: .now + configuration.confirmTimeout)
        let outcomes = await withTaskCancellationHandler {
            for (index, message) in messages.enumerated() {
                if channel.outstandingConfirms >= window { await channel.waitForConfirmWindow(below: window) }
                if batch.isExpired {
                    batch.skip(index)
                    continue
                }
                channel.publish(
                    message.body, exchange: exchange, routingKey: message.eventType,
                    properties: message.properties(appID: appID), mandatory: true
                ) { result in batch.settle(index, result) }
            }
            return await batch.outcomes()
        } onCancel: {
            batch.expire(.cancelled)
        }
        deadlines.remove(watch)
        return zip(messages, outcomes).map { message, outcome in
            interpret(outcome, exchange: exchange).mapError { $0.about(message) }
        }
    }

    private func interpret(_ outcome: ConfirmBatch.Outcome, exchange: String) -> Result<Void, PublishError> {
        func failure(_ code: PublishError.Code, _ reason: String, replyCode: UInt16? = nil, sent: Bool? = nil) -> Result<Void, PublishError> {
            .failure(
                PublishError(
                    code: code, reason: reason, exchange: exchange, endpoint: endpoint, replyCode: replyCode,
                    mayHaveBeenPublished: sent))
        }
        switch outcome {
        case .confirmed(.success(.acked)), .confirmed(.success(.sent)):
            return .success(())
        case .confirmed(.success(.nacked)):
            return failure(.nacked, "the broker nacked the message (an internal error, or a full queue that rejects publishes)")
        case .confirmed(.success(.returned(let returned))):
            return failure(
                .unroutable,
                "no queue is bound for routing key '\(returned.routingKey)' and the exchange has no alternate exchange; "
                    + "the broker returned the message (\(returned.replyCode) \(returned.replyText))",
                replyCode: returned.replyCode)
        case .confirmed(.failure(let error)):
            return .failure(PublishError.inFlight(error, exchange: exchange, endpoint: endpoint))
        case .expired(.cancelled):
            return failure(.cancelled, "the task was cancelled before the broker confirmed; the message may or may not have been published")
        case .expired(let code):
            var reason = "no confirm within \(configuration.confirmTimeout); the message may or may not have been published"
            if let blocked = state.withLock({ $0.blockedReason }) { reason += " (the broker is blocking publishers: \(blocked))" }
            return failure(code, reason)
        case .notSent(let code):
            return failure(code, code == .cancelled ? "the task was cancelled; the message was not sent" : "the batch timed out before this message was sent", sent: false)
        }
    }

    // MARK: Connection

    /// The shared open channel: at once when there is one; otherwise joins the connect in
    /// progress or starts one — unless the last attempt failed too recently.
    private func channel() async throws(PublishError) -> AMQPChannel {
        enum Step {
            case ready(AMQPChannel)
            case fail(PublishError)
            case wait(Task<AMQPChannel, any Error>)
        }
        let step = state.withLock { state -> Step in
            if state.isShutDown { return .fail(shutDownError) }
            if let channel = state.channel, channel.isOpen { return .ready(channel) }
            if let task = state.connecting { return .wait(task) }
            let now = ContinuousClock.now
            if let retryAt = state.retryAt, now < retryAt, var failure = state.lastFailure {
                failure.reason += "; next connect attempt in \(Self.rounded(retryAt - now))"
                return .fail(failure)
            }
            let reusable = state.connection
            let task = Task<AMQPChannel, any Error> { try await self.establish(reusing: reusable) }
            state.connecting = task
            return .wait(task)
        }
        switch step {
        case .ready(let channel):
            return channel
        case .fail(let error):
            throw error
        case .wait(let task):
            do {
                return try await task.value
            } catch let error as PublishError {
                throw error
            } catch {
                throw PublishError(code: .connectionFailed, reason: "\(error)", endpoint: endpoint)
            }
        }
    }

    /// Opens a confirm-mode channel, on `connection` while it is open, else on a new connection.
    /// Runs once per attempt, however many publishes wait for it; records the outcome.
    private func establish(reusing existing: AMQPConnection?) async throws(PublishError) -> AMQPChannel {
        var connection: AMQPConnection? = nil
        if let existing, await existing.isOpen { connection = existing }
        do {
            if connection == nil {
                let fresh = try await AMQPConnection.connect(configuration.amqp, logger: logger)
                await fresh.observeBlocking { [weak self] reason in
                    self?.state.withLock { $0.blockedReason = reason }
                }
                connection = fresh
            }
            let channel = try await connection!.openChannel()
            try await channel.confirmSelect()
            let (failures, shutDown) = state.withLock { state -> (Int, Bool) in
                let failures = state.failures
                state.connection = connection
                state.channel = channel
                state.connecting = nil
                state.failures = 0
                state.retryAt = nil
                state.lastFailure = nil
                return (failures, state.isShutDown)
            }
            if shutDown {
                await connection?.close()
                throw shutDownError
            }
            if failures > 0 {
                logger.info("publisher reconnected to the broker", metadata: ["failed_attempts": "\(failures)"])
            } else {
                logger.debug("publisher connected")
            }
            return channel
        } catch let error as AMQPError {
            let failure = PublishError.connecting(error, endpoint: endpoint)
            let failures = state.withLock { state -> Int in
                state.failures += 1
                state.retryAt = .now + backoff.delay(afterFailures: state.failures, unit: Double.random(in: 0..<1))
                state.lastFailure = failure
                state.connecting = nil
                if connection == nil { state.connection = nil }
                return state.failures
            }
            if failures == 1 {
                logger.warning(
                    "publisher cannot reach the broker; publishes fail until it is back",
                    metadata: ["error": "\(failure)"])
            } else {
                logger.debug("publisher connect attempt failed", metadata: ["attempt": "\(failures)", "error": "\(failure)"])
            }
            throw failure
        } catch let error as PublishError {
            throw error
        } catch {
            state.withLock { $0.connecting = nil }
            throw PublishError(code: .connectionFailed, reason: "\(error)", endpoint: endpoint)
        }
    }

    private var shutDownError: PublishError {
        PublishError(code: .shutDown, reason: "the publisher was shut down", exchange: configuration.exchange, endpoint: endpoint)
    }

    private static func rounded(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return milliseconds >= 1000 ? "\(Double(milliseconds / 100) / 10) s" : "\(milliseconds) ms"
    }

    // MARK: Lifecycle

    /// Runs as a service: connects (a broker that is down is only logged; publishes will retry),
    /// waits for graceful shutdown or cancellation, then ``shutdown()``.
    public func run() async throws {
        do {
            try await connect()
        } catch {
            // Logged by establish; publishing retries.
        }
        do {
            try await gracefulShutdown()
        } catch {
            // Cancelled: shut down all the same.
        }
        await shutdown()
    }

    /// Stops accepting publishes (they fail with ``PublishError/Code/shutDown``), waits up to
    /// ``PublisherConfiguration/confirmTimeout`` for the confirms in flight, and closes the
    /// connection. Safe to call twice.
    public func shutdown() async {
        let connecting = state.withLock { state -> Task<AMQPChannel, any Error>? in
            state.isShutDown = true
            return state.connecting
        }
        _ = await connecting?.result
        let (connection, channel) = state.withLock { state in
            defer {
                state.connection = nil
                state.channel = nil
            }
            return (state.connection, state.channel)
        }
        if let channel {
            let deadline = ContinuousClock.now + configuration.confirmTimeout
            while channel.outstandingConfirms > 0, channel.isOpen, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        await connection?.close()
    }
}
