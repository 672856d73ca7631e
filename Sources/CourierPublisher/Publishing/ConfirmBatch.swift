import CourierAMQP
import Synchronization

/// The outcomes of a group of publishes sent together on one channel, and the one task that
/// waits for all of them.
///
/// The channel calls ``settle(_:_:)`` on the connection's thread as confirms arrive (in any
/// order); a deadline sweep or a cancellation calls ``expire(_:)``, which settles whatever is
/// still open. Whichever comes first wins for each message; later answers are ignored. The
/// waiter resumes exactly once, when nothing is open any more.
final class ConfirmBatch: Sendable {
    enum Outcome: Sendable {
        case confirmed(Result<AMQPPublishOutcome, AMQPError>)
        /// No answer: ``PublishError/Code/timedOut`` or ``PublishError/Code/cancelled``.
        case expired(PublishError.Code)
        /// Never handed to the channel (the batch expired first).
        case notSent(PublishError.Code)
    }

    private struct State: ~Copyable {
        var outcomes: [Outcome?]
        var open: Int
        var expired: PublishError.Code?
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(outcomes: Array(repeating: nil, count: count), open: count))
    }

    /// Records the broker's answer for message `index`. Called on the connection thread: quick.
    func settle(_ index: Int, _ result: Result<AMQPPublishOutcome, AMQPError>) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.outcomes[index] == nil else { return nil }
            state.outcomes[index] = .confirmed(result)
            state.open -= 1
            return state.open == 0 ? state.waiter.take() : nil
        }
        waiter?.resume()
    }

    /// Records that message `index` was not sent because the batch had already expired (so it
    /// is certainly not published, unlike the messages the expiry caught in flight).
    func skip(_ index: Int) {
        state.withLock { state in
            switch state.outcomes[index] {
            case nil:
                state.outcomes[index] = .notSent(state.expired ?? .timedOut)
                state.open -= 1
            case .expired(let code)?:
                state.outcomes[index] = .notSent(code)
            default:
                break
            }
        }
    }

    /// Settles every open message with `code`; the waiter resumes.
    func expire(_ code: PublishError.Code) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.expired == nil, state.open > 0 else { return nil }
            state.expired = code
            for index in state.outcomes.indices where state.outcomes[index] == nil {
                state.outcomes[index] = .expired(code)
            }
            state.open = 0
            return state.waiter.take()
        }
        waiter?.resume()
    }

    /// True once the batch expired: the sender stops handing further messages to the channel.
    var isExpired: Bool { state.withLock { $0.expired != nil } }

    /// Waits until every message has an outcome, and returns them in order.
    func outcomes() async -> [Outcome] {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if state.open == 0 { return true }
                state.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
        return state.withLock { state in state.outcomes.map { $0 ?? .expired(.timedOut) } }
    }
}

/// The confirm deadlines of a publisher's batches, enforced by one sweeping task that runs only
/// while some batch is waiting — not one timer task per publish.
final class ConfirmDeadlines: Sendable {
    private struct Entry {
        var deadline: ContinuousClock.Instant
        var batch: ConfirmBatch
    }

    private struct State: ~Copyable {
        var entries: [Int: Entry] = [:]
        var nextID = 0
        var sweeping = false
    }

    private let state = Mutex(State())
    /// How often the sweep looks: a twentieth of the timeout, between 10 ms and 500 ms.
    private let tick: Duration

    init(timeout: Duration) {
        tick = min(max(timeout / 20, .milliseconds(10)), .milliseconds(500))
    }

    /// Watches `batch` until ``remove(_:)``; past `deadline` it expires with `timedOut`.
    func add(_ batch: ConfirmBatch, deadline: ContinuousClock.Instant) -> Int {
        let (id, startSweep) = state.withLock { state -> (Int, Bool) in
            let id = state.nextID
            state.nextID += 1
            state.entries[id] = Entry(deadline: deadline, batch: batch)
            if state.sweeping { return (id, false) }
            state.sweeping = true
            return (id, true)
        }
        if startSweep { Task { await self.sweep() } }
        return id
    }

    func remove(_ id: Int) {
        state.withLock { _ = $0.entries.removeValue(forKey: id) }
    }

    private func sweep() async {
        while true {
            try? await Task.sleep(for: tick)
            let now = ContinuousClock.now
            let (expired, more) = state.withLock { state -> ([ConfirmBatch], Bool) in
                var expired: [ConfirmBatch] = []
                for (id, entry) in state.entries where entry.deadline <= now {
                    expired.append(entry.batch)
                    state.entries[id] = nil
                }
                if state.entries.isEmpty {
                    state.sweeping = false
                    return (expired, false)
                }
                return (expired, true)
            }
            for batch in expired { batch.expire(.timedOut) }
            if !more { return }
        }
    }
}
