import Synchronization

/// What the relay's loop sleeps on: woken by a `NOTIFY` (``notify()``), by shutdown (``stop()``),
/// or by its timeout. A notification that arrives while the loop is busy is remembered, so the
/// next wait returns at once and nothing committed is left waiting for the poll.
final class WakeSignal: Sendable {
    private struct State: ~Copyable {
        var pending = false
        var stopped = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Which wait the waiter is, so a late timer does not wake a later wait.
        var generation = 0
        var wakeOnNotify = true
    }

    private let state = Mutex(State())

    var isStopped: Bool { state.withLock { $0.stopped } }

    func notify() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.pending = true
            guard state.wakeOnNotify else { return nil }
            return state.waiter.take()
        }
        waiter?.resume()
    }

    func stop() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopped = true
            return state.waiter.take()
        }
        waiter?.resume()
    }

    /// Returns after `timeout`, at a notification (unless `wakeOnNotify` is false: a backoff
    /// after a failure is not cut short by new rows), or at ``stop()``.
    func wait(timeout: Duration, wakeOnNotify: Bool = true) async {
        let generation = state.withLock { state -> Int? in
            if state.stopped { return nil }
            if wakeOnNotify, state.pending {
                state.pending = false
                return nil
            }
            state.generation += 1
            return state.generation
        }
        guard let generation else { return }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.fire(generation)
        }
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.stopped || state.generation != generation || (wakeOnNotify && state.pending) { return true }
                state.waiter = continuation
                state.wakeOnNotify = wakeOnNotify
                return false
            }
            if resumeNow { continuation.resume() }
        }
        timer.cancel()
        state.withLock { state in
            state.generation += 1
            state.wakeOnNotify = true
            if wakeOnNotify { state.pending = false }
        }
    }

    private func fire(_ generation: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.generation == generation else { return nil }
            state.generation += 1
            return state.waiter.take()
        }
        waiter?.resume()
    }
}
