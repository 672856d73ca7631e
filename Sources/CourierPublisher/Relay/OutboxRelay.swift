import CourierPostgres
import CourierSupport
import CourierTelemetry
import Logging
import ServiceLifecycle
import Synchronization

/// Publishes what ``Outbox`` wrote: a swift-service-lifecycle `Service` that runs until graceful
/// shutdown (or cancellation), inside courierd or on its own.
///
/// **A pass** is one transaction: claim up to ``RelayConfiguration/batchSize`` unpublished rows in
/// `position` order (`FOR UPDATE SKIP LOCKED`, so several relays share the work without waiting on
/// each other), publish them in that order on one confirm channel with streaming confirms, mark
/// the confirmed ones `processed = true, published_at = now()`, commit. A row is marked only after
/// the broker's confirm, so nothing is lost: a relay that dies between publishing and committing
/// leaves its rows unmarked, and they are published again — a second copy with the same
/// `message_id`, which Courier's handlers apply once.
///
/// **Lanes.** ``RelayConfiguration/concurrentBatches`` passes run side by side, each on its own
/// Postgres connection, sharing one publisher channel: one lane claims and marks while another
/// waits for the broker's confirms. To each other they are just several relays.
///
/// **Order per aggregate.** A row is published only when no earlier unpublished row of its
/// aggregate lies outside the claim (held by another relay or lane); it waits for a later pass,
/// tried again after a few milliseconds. After a row fails, no later row of its aggregate in the
/// pass is marked (see ``OutboxClaim``).
///
/// **Waking.** The relay listens on `courier_outbox` (the insert trigger's `NOTIFY`, delivered at
/// commit) on a connection of its own and passes at once; it also polls every
/// ``RelayConfiguration/pollInterval`` in case a notification was missed (listener reconnecting),
/// and while a backlog remains it passes again without waiting.
///
/// **Failures.** A nack, an unroutable row or the broker down leaves the rows unpublished; the
/// relay logs it once (a warning at the first failure, then debug while it lasts, then info)
/// and tries again after ``RelayConfiguration/retryDelay`` (doubling up to
/// ``RelayConfiguration/maxRetryDelay``). A broker outage just grows the backlog; the relay drains
/// it when the broker is back. A database outage is retried the same way.
///
/// **Retention.** Every ``RelayConfiguration/pruneInterval`` it deletes rows published more than
/// ``RelayConfiguration/retention`` ago (by `published_at`; rows marked by other tools without
/// one are left alone).
public final class OutboxRelay: Service, Sendable {
    public let configuration: RelayConfiguration
    let publisher: EventPublisher
    private let ownsPublisher: Bool
    let hooks: RelayHooks
    let logger: Logger
    private let backoff: Backoff
    /// The pause before claiming again when every claimed row waited for an earlier one.
    static let orderRetry: Duration = .milliseconds(20)

    /// A relay with a publisher of its own (closed when the relay stops).
    ///
    /// - Parameter onTrouble: hears why the relay cannot publish or reach Postgres when an outage
    ///   begins (the error text, without passwords), and nil once a pass works again: for
    ///   readiness reports. Called from the relay's tasks; keep it quick.
    public convenience init(
        configuration: RelayConfiguration, logger: Logger = Logger(label: "courier.outbox.relay"),
        onTrouble: @escaping @Sendable (String?) -> Void = { _ in }
    ) {
        var hooks = RelayHooks()
        hooks.onTrouble = onTrouble
        self.init(configuration: configuration, publisher: nil, hooks: hooks, logger: logger)
    }

    /// A relay publishing through `publisher`, which it shares with others and does not close.
    /// `configuration.publisher` is not used.
    public convenience init(
        configuration: RelayConfiguration, publisher: EventPublisher, logger: Logger = Logger(label: "courier.outbox.relay")
    ) {
        self.init(configuration: configuration, publisher: publisher, hooks: RelayHooks(), logger: logger)
    }

    init(configuration: RelayConfiguration, publisher: EventPublisher?, hooks: RelayHooks, logger: Logger) {
        self.configuration = configuration
        self.publisher = publisher ?? EventPublisher(configuration: configuration.publisher, logger: logger)
        self.ownsPublisher = publisher == nil
        self.hooks = hooks
        self.logger = logger
        self.backoff = Backoff(initial: configuration.retryDelay, maximum: configuration.maxRetryDelay)
    }

    /// Relays until graceful shutdown or cancellation; the passes in progress finish (their
    /// confirmed rows are marked) before it returns. Never throws for a broker or database
    /// outage: it waits them out.
    public func run() async throws {
        let lanes = (0..<max(1, configuration.concurrentBatches)).map { _ in WakeSignal() }
        let streak = FailureStreak(logger: logger, onTrouble: hooks.onTrouble)
        await withTaskCancellationOrGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.listen(lanes) }
                await withDiscardingTaskGroup { workers in
                    for (index, wake) in lanes.enumerated() {
                        workers.addTask { await self.work(wake, lane: index, streak: streak) }
                    }
                }
                group.cancelAll()
            }
        } onCancelOrGracefulShutdown: {
            for wake in lanes { wake.stop() }
        }
        if ownsPublisher { await publisher.shutdown() }
        logger.info("outbox relay stopped")
    }

    // MARK: The loop

    /// One lane: passes in a loop on a connection of its own. Lanes run side by side (like
    /// several relays: `SKIP LOCKED` and the ordering rule keep them apart), so one claims and
    /// marks while another waits for the broker's confirms; they share the publisher's channel.
    private func work(_ wake: WakeSignal, lane: Int, streak: FailureStreak) async {
        var connection: PostgresConnection?
        var failures = 0
        var migrated = !configuration.migrate
        var nextPrune = ContinuousClock.now
        while !wake.isStopped {
            do {
                let conn: PostgresConnection
                if let connection {
                    conn = connection
                } else {
                    conn = try await PostgresConnection.connect(configuration.database, logger: logger)
                    connection = conn
                }
                if !migrated {
                    try await OutboxSchema.migrate(on: conn, logger: logger)
                    migrated = true
                }
                if lane == 0, configuration.retention > .zero, ContinuousClock.now >= nextPrune {
                    try await prune(on: conn, wake: wake)
                    nextPrune = .now + configuration.pruneInterval
                }
                let pass = try await self.pass(on: conn)
                if let failure = pass.failure {
                    failures += 1
                    streak.failed(lane: lane, "cannot publish outbox rows; they stay unpublished and are retried", error: "\(failure)")
                    await wake.wait(timeout: backoff.delay(afterFailures: failures, unit: Double.random(in: 0..<1)), wakeOnNotify: false)
                    continue
                }
                failures = 0
                streak.succeeded(lane: lane)
                if pass.published > 0 { continue }  // a backlog: the next batch at once
                // Rows held back for order are freed within a pass of the relay holding their
                // predecessors: look again shortly rather than at the next poll.
                await wake.wait(timeout: pass.waiting > 0 ? min(configuration.pollInterval, Self.orderRetry) : configuration.pollInterval)
            } catch {
                failures += 1
                streak.failed(lane: lane, "outbox relay pass failed; retrying", error: "\(error)")
                if let current = connection, await !current.isHealthy {
                    await current.close()
                    connection = nil
                }
                await wake.wait(timeout: backoff.delay(afterFailures: failures, unit: Double.random(in: 0..<1)), wakeOnNotify: false)
            }
        }
        await connection?.close()
    }

    /// What one pass did.
    struct Pass: Sendable {
        var published = 0
        /// Rows claimed but left for later: an earlier row of their aggregate is being published
        /// by another relay or lane.
        var waiting = 0
        /// The first publish failure, if any row failed.
        var failure: PublishError?
    }

    /// One transaction: claim, publish in order with streaming confirms, mark the confirmed rows.
    func pass(on connection: PostgresConnection) async throws -> Pass {
        let publisher = self.publisher
        let hooks = self.hooks
        let batchSize = configuration.batchSize
        return try await connection.withTransaction { conn in
            let claimed = try conn.query(OutboxClaim.claimSQL, [batchSize]).map(OutboxClaim.Record.init)
            let records = claimed.filter(\.publishable)
            let waiting = claimed.count - records.count
            guard !records.isEmpty else { return Pass(waiting: waiting) }
            // Each row's publish continues the trace its enqueueing transaction stored.
            let results = await publisher.send(
                records.map(\.message), parents: records.map { MessageTrace.context(extracting: $0.message.traceHeaders) })
            let ids = OutboxClaim.markable(records, results)
            try hooks.afterConfirms?(ids)
            if !ids.isEmpty { try conn.execute(OutboxClaim.markSQL, [ids]) }
            var failure: PublishError?
            for case .failure(let error) in results {
                failure = error
                break
            }
            return Pass(published: ids.count, waiting: waiting, failure: failure)
        }
    }

    /// Deletes rows published longer ago than the retention, a batch at a time.
    private func prune(on connection: PostgresConnection, wake: WakeSignal) async throws {
        let seconds = Double(configuration.retention.components.seconds)
            + Double(configuration.retention.components.attoseconds) / 1e18
        var total = 0
        while !wake.isStopped {
            let deleted = try await connection.execute(OutboxClaim.pruneSQL, [seconds, configuration.pruneBatchSize])
            total += deleted
            if deleted < configuration.pruneBatchSize { break }
        }
        if total > 0 { logger.info("pruned published outbox rows", metadata: ["rows": "\(total)"]) }
    }

    // MARK: Notifications

    /// Listens for `courier_outbox` on a connection of its own and wakes the lanes; reconnects
    /// with backoff when the connection is lost (the poll covers the gap).
    private func listen(_ lanes: [WakeSignal]) async {
        func wake() { for lane in lanes { lane.notify() } }
        var failures = 0
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(configuration.database, logger: logger)
                let notifications = try await connection.listen(Outbox.notificationChannel, bufferingPolicy: .bufferingNewest(1))
                if failures > 0 { logger.info("listening for outbox notifications again") }
                failures = 0
                wake()  // rows committed while nobody listened
                for await _ in notifications { wake() }
                await connection.close()
                if Task.isCancelled { return }
                logger.debug("outbox notification connection ended; listening again")
            } catch {
                failures += 1
                if failures == 1 {
                    logger.warning(
                        "cannot listen for outbox notifications; polling meanwhile",
                        metadata: ["error": "\(error)", "poll_interval": "\(configuration.pollInterval)"])
                }
            }
            try? await Task.sleep(for: backoff.delay(afterFailures: max(failures, 1), unit: Double.random(in: 0..<1)))
        }
    }
}

/// Logs an outage once, however many lanes see it: a warning when the first lane fails, debug
/// while any lane keeps failing, info when none fails any more.
final class FailureStreak: Sendable {
    private struct State {
        var failingLanes: Set<Int> = []
        var failedPasses = 0
    }

    private let state = Mutex(State())
    private let logger: Logger
    private let onTrouble: @Sendable (String?) -> Void

    init(logger: Logger, onTrouble: (@Sendable (String?) -> Void)? = nil) {
        self.logger = logger
        self.onTrouble = onTrouble ?? { _ in }
    }

    func failed(lane: Int, _ message: Logger.Message, error: String) {
        let (first, passes) = state.withLock { state -> (Bool, Int) in
            let first = state.failingLanes.isEmpty
            state.failingLanes.insert(lane)
            state.failedPasses += 1
            return (first, state.failedPasses)
        }
        if first {
            logger.warning(message, metadata: ["error": "\(error)"])
            onTrouble(error)
        } else {
            logger.debug(message, metadata: ["error": "\(error)", "failed_passes": "\(passes)"])
        }
    }

    /// A pass of `lane` went through without a failure.
    func succeeded(lane: Int) {
        let recovered = state.withLock { state -> Int? in
            guard state.failingLanes.remove(lane) != nil, state.failingLanes.isEmpty else { return nil }
            defer { state.failedPasses = 0 }
            return state.failedPasses
        }
        if let recovered {
            logger.info("outbox relay is working again", metadata: ["failed_passes": "\(recovered)"])
            onTrouble(nil)
        }
    }
}

/// Testing seams of the relay.
struct RelayHooks: Sendable {
    /// Called in each pass after the broker confirmed its rows and before they are marked, with
    /// the ids about to be marked. Throwing rolls the pass back, as a crash at that moment would.
    var afterConfirms: (@Sendable ([String]) throws -> Void)?
    /// See ``OutboxRelay/init(configuration:logger:onTrouble:)``.
    var onTrouble: (@Sendable (String?) -> Void)?
}
