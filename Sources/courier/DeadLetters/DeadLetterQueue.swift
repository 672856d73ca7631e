import CourierAMQP
import CourierEngine
import CourierFailureIndex
import Foundation
import Synchronization

/// Set by SIGINT/SIGTERM: long operations stop taking messages, settle the one in hand and
/// return what they did.
final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    init() {}
    func stop() { flag.store(true, ordering: .relaxed) }
    var isStopped: Bool { flag.load(ordering: .relaxed) }
}

/// One pass over a dead-letter queue: reads every message with `basic.get` and manual ack,
/// holding each unacknowledged until the caller says ``remove(_:)`` (ack: it is gone from the
/// queue) or ``keep(_:)``. ``finish()`` returns the kept ones to the queue.
///
/// Nothing can be lost: a message is only acked after the caller has done with it whatever had
/// to be done first (a replay copy confirmed by the broker); if the process dies, the broker
/// returns every unacknowledged message to the queue.
final class DeadLetterPass {
    let queue: String
    let channel: AMQPChannel
    let settleGrace: Duration
    private var held: [UInt64] = []
    private(set) var examined = 0

    init(channel: AMQPChannel, queue: String, settleGrace: Duration) {
        self.channel = channel
        self.queue = queue
        self.settleGrace = settleGrace
    }

    /// The next message, or nil at the end of the queue.
    func next() async throws -> (message: ParkedMessage, delivery: AMQPDelivery)? {
        guard let delivery = try await channel.get(queue: queue, noAck: false) else { return nil }
        examined += 1
        return (ParkedMessage(delivery: delivery, deadLetterQueue: queue), delivery)
    }

    func remove(_ delivery: AMQPDelivery) { channel.ack(delivery.deliveryTag) }
    func keep(_ delivery: AMQPDelivery) { held.append(delivery.deliveryTag) }

    /// Returns the kept messages to the queue (in their order) and closes the channel, after a
    /// grace for the broker to apply the acks (a quorum queue may see a close before acks still
    /// on their way, and would hand those messages out again).
    func finish() async {
        guard channel.isOpen else { return }
        for tag in held { channel.nack(tag, requeue: true) }
        held.removeAll()
        await channel.flush()
        try? await Task.sleep(for: settleGrace)
        try? await channel.close()
    }
}

/// The operations of `courier dlq` on the broker, for one app's dead-letter queue.
struct DeadLetterQueue: Sendable {
    let connection: AMQPConnection
    let topology: Topology
    var settleGrace: Duration = .milliseconds(250)

    init(connection: AMQPConnection, topology: Topology) {
        self.connection = connection
        self.topology = topology
    }

    var name: String { topology.deadLetterQueue }

    func pass() async throws -> DeadLetterPass {
        try await requireQueue(name)
        return DeadLetterPass(channel: try await connection.openChannel(), queue: name, settleGrace: settleGrace)
    }

    /// Messages and consumers of a queue; throws ``OpsError/Code/notFound`` when it does not exist.
    @discardableResult
    func requireQueue(_ queue: String) async throws -> AMQPQueueInfo {
        let channel = try await connection.openChannel()
        do {
            let info = try await channel.declareQueuePassive(queue)
            try? await channel.close()
            return info
        } catch {
            throw OpsError(
                .notFound,
                "queue \(queue) does not exist on the broker: run `courier topology declare` or start courierd (\(error))")
        }
    }

    /// Every message in the queue (that `filter` matches, when given), the queue left as it was.
    func browse(_ filter: DeadLetterFilter? = nil, stop: StopSignal? = nil) async throws -> [ParkedMessage] {
        try await sweep(filter ?? DeadLetterFilter(all: true), removing: false, stop: stop)
    }

    /// One pass: the messages `filter` (and `only`, failure ids) select are collected, and acked
    /// away when `removing`; everything else goes back to the queue.
    private func sweep(
        _ filter: DeadLetterFilter, only: Set<String>? = nil, removing: Bool, stop: StopSignal?
    ) async throws -> [ParkedMessage] {
        let pass = try await pass()
        var selected: [ParkedMessage] = []
        do {
            while stop?.isStopped != true, let (message, delivery) = try await pass.next() {
                if filter.matches(message), only?.contains(message.failureID) ?? true {
                    selected.append(message)
                    if removing {
                        pass.remove(delivery)
                        continue
                    }
                }
                pass.keep(delivery)
            }
        } catch {
            await pass.finish()
            throw error
        }
        await pass.finish()
        return selected
    }

    // MARK: Replay

    struct ReplayOptions: Sendable {
        /// Only counts what would be replayed; the queue is left as it was.
        var dryRun = false
        /// At most this many messages per second (nil: as fast as the broker confirms).
        var rate: Double?
        /// Written in `x-courier-replayed-by`.
        var by: String
        init(dryRun: Bool = false, rate: Double? = nil, by: String) {
            self.dryRun = dryRun
            self.rate = rate
            self.by = by
        }
    }

    struct ReplayProgress: Sendable {
        var examined: Int
        var replayed: Int
        var failed: Int
        var elapsed: Duration
    }

    /// What became of the copy a replay published of one parked message. Only a copy the broker
    /// confirmed lets the parked message go; any other outcome keeps it parked, and its
    /// description is the reason `dlq replay` prints.
    enum CopyOutcome: Sendable, Equatable, CustomStringConvertible {
        case confirmed
        case nacked
        case returned(replyText: String)
        /// Written to the socket without a confirmation (the channel was not in confirm mode).
        case unconfirmed
        case publishFailed(String)

        init(_ outcome: AMQPPublishOutcome) {
            switch outcome {
            case .acked: self = .confirmed
            case .nacked: self = .nacked
            case .returned(let returned): self = .returned(replyText: returned.replyText)
            case .sent: self = .unconfirmed
            }
        }

        var description: String {
            switch self {
            case .confirmed: "confirmed"
            case .nacked: "the broker refused the copy (nack)"
            case .returned(let replyText): "the broker returned the copy: \(replyText)"
            case .unconfirmed: "not confirmed"
            case .publishFailed(let error): "publishing the copy failed: \(error)"
            }
        }
    }

    struct ReplaySummary: Sendable {
        /// Replayed (or, in a dry run, would be).
        var replayed: [ParkedMessage] = []
        /// Matched but not replayed, with why (the broker did not confirm the copy, …).
        var failed: [(message: ParkedMessage, reason: CopyOutcome)] = []
        /// Matched, but parked from another queue than this app's (left in place).
        var foreign: [ParkedMessage] = []
        /// Replayed by this pass, failed again and parked anew while it ran (left in place: a
        /// pass never replays a message twice — the cause is not fixed yet).
        var parkedAgain: [ParkedMessage] = []
        var examined = 0
        var interrupted = false
        var elapsed: Duration = .zero
    }

    /// Sends each matching message back to **its original queue only** — by the default
    /// exchange with the queue's name, never through `domain_events`, which would fan it out to
    /// every other app — and acks the parked copy once the broker confirmed the new one. See
    /// ``ReplayCopy`` for what the copy carries.
    ///
    /// Interrupted (``StopSignal``, Ctrl-C) it settles the message in hand and returns; killed,
    /// the broker returns every unacknowledged message: at most the one in flight is duplicated,
    /// and its event id makes the handlers apply it once.
    func replay(
        _ filter: DeadLetterFilter, options: ReplayOptions, stop: StopSignal? = nil,
        progress: (@Sendable (ReplayProgress) -> Void)? = nil
    ) async throws -> ReplaySummary {
        let target = topology.appQueue
        try await requireQueue(target)
        let publisher = try await connection.openChannel()
        try await publisher.confirmSelect()
        let pass = try await pass()
        let started = ContinuousClock.now
        let interval = options.rate.map { Duration.seconds(1.0 / max($0, 0.001)) }
        var nextSend = started
        var summary = ReplaySummary()
        var replayedIDs: Set<String> = []
        do {
            while true {
                if stop?.isStopped == true {
                    summary.interrupted = true
                    break
                }
                guard let (message, delivery) = try await pass.next() else { break }
                guard filter.matches(message) else {
                    pass.keep(delivery)
                    continue
                }
                guard message.origin.queue == target else {
                    pass.keep(delivery)
                    summary.foreign.append(message)
                    continue
                }
                if let from = message.replayedFrom, replayedIDs.contains(from) {
                    pass.keep(delivery)
                    summary.parkedAgain.append(message)
                    continue
                }
                if options.dryRun {
                    pass.keep(delivery)
                    summary.replayed.append(message)
                    continue
                }
                if let interval {
                    let now = ContinuousClock.now
                    if nextSend > now { try? await Task.sleep(until: nextSend, clock: .continuous) }
                    nextSend = max(nextSend, now) + interval
                }
                let properties = ReplayCopy.properties(of: message, replayedAt: Date(), by: options.by)
                let outcome: CopyOutcome
                do {
                    outcome = CopyOutcome(
                        try await publisher.publish(delivery.body, exchange: "", routingKey: target, properties: properties, mandatory: true))
                } catch {
                    outcome = .publishFailed("\(error)")
                }
                if outcome == .confirmed {
                    pass.remove(delivery)
                    summary.replayed.append(message)
                    replayedIDs.insert(message.failureID)
                } else {
                    pass.keep(delivery)
                    summary.failed.append((message, outcome))
                }
                progress?(
                    ReplayProgress(
                        examined: pass.examined, replayed: summary.replayed.count, failed: summary.failed.count,
                        elapsed: ContinuousClock.now - started))
            }
        } catch {
            await pass.finish()
            try? await publisher.close()
            throw error
        }
        summary.examined = pass.examined
        await pass.finish()
        try? await publisher.close()
        summary.elapsed = ContinuousClock.now - started
        return summary
    }

    // MARK: Purge

    /// Removes the matching messages — and when `only` is given, only those of them whose
    /// failure id is in it (what the operator confirmed) — and returns them.
    func purge(_ filter: DeadLetterFilter, only: Set<String>? = nil, stop: StopSignal? = nil) async throws -> [ParkedMessage] {
        try await sweep(filter, only: only, removing: true, stop: stop)
    }

    // MARK: Import

    /// Publishes exported messages into this app's dead-letter queue (confirmed, persistent), as
    /// parked messages of this app: their original queue becomes this app's queue, so a replay
    /// here sends them to it. Returns them as parked, for the failure index.
    func importMessages(_ messages: [ExportedMessage]) async throws -> [ParkedMessage] {
        try await requireQueue(name)
        let publisher = try await connection.openChannel()
        try await publisher.confirmSelect()
        var imported: [ParkedMessage] = []
        for exported in messages {
            var properties = exported.amqpProperties
            var headers = properties.headers ?? AMQPTable()
            headers[CourierHeader.originalQueue] = .string(topology.appQueue)
            properties.headers = headers
            properties.deliveryMode = .persistent
            let body = try exported.bodyBytes()
            let outcome = try await publisher.publish(body, exchange: "", routingKey: name, properties: properties, mandatory: true)
            guard outcome == .acked else {
                try? await publisher.close()
                throw OpsError(
                    .incomplete,
                    "the broker did not confirm message \(imported.count + 1) (\(exported.failureID)): \(outcome); \(imported.count) imported before it")
            }
            imported.append(
                ParkedMessage(properties: properties, body: body, deadLetterQueue: name, fallbackRoutingKey: exported.routingKey))
        }
        try? await publisher.close()
        return imported
    }
}
