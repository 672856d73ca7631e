import Synchronization

/// The deliveries of one consumer (`basic.consume`), as an async sequence.
///
/// The connection's thread appends deliveries as frames arrive; the consuming task takes them in
/// batches — one lock per batch, not per message — so a fast consumer costs little more than the
/// raw C loop. Memory is bounded by the channel's prefetch (`basic.qos`): the broker sends no more
/// than that many unacknowledged messages.
///
/// The sequence ends with an ``AMQPError`` when the broker cancels the consumer (code
/// ``AMQPError/Code/consumerCancelled``), the channel or the connection closes; it ends normally
/// after ``AMQPChannel/cancel(consumerTag:)``.
package struct AMQPConsumer: AsyncSequence, Sendable {
    package typealias Element = AMQPDelivery

    package let consumerTag: String
    package let channel: AMQPChannel
    let buffer: DeliveryBuffer

    package func makeAsyncIterator() -> Iterator { Iterator(buffer: buffer) }

    /// Stops this consumer; deliveries already received stay in the sequence.
    package func cancel() async throws {
        try await channel.cancel(consumerTag: consumerTag)
    }

    package struct Iterator: AsyncIteratorProtocol {
        let buffer: DeliveryBuffer
        private var local: [AMQPDelivery] = []
        private var index = 0

        init(buffer: DeliveryBuffer) { self.buffer = buffer }

        package mutating func next() async throws -> AMQPDelivery? {
            if index == local.count {
                local = try await buffer.take()
                index = 0
                if local.isEmpty { return nil }
            }
            defer { index += 1 }
            return local[index]
        }

        /// Up to `max` deliveries: what is already here, or waits for at least one. Empty at the end.
        package mutating func nextBatch(max: Int) async throws -> [AMQPDelivery] {
            if index == local.count {
                local = try await buffer.take()
                index = 0
            } else if local.count - index < max {
                // A remainder smaller than a batch is topped up with what arrived meanwhile, so
                // a steady stream gives full batches, not 500, 200, 500, 200, … (a handler pays
                // per batch: a transaction, its statements, a commit).
                let more = buffer.takeAvailable()
                if !more.isEmpty {
                    local.removeSubrange(..<index)
                    index = 0
                    local.append(contentsOf: more)
                }
            }
            let end = Swift.min(local.count, index + max)
            defer { index = end }
            return Array(local[index..<end])
        }
    }
}

/// A single-consumer hand-off from the connection thread to one task.
final class DeliveryBuffer: Sendable {
    private struct State: ~Copyable {
        var items: [AMQPDelivery] = []
        var waiter: CheckedContinuation<[AMQPDelivery], any Error>?
        var finished = false
        var failure: AMQPError?
    }

    private let state = Mutex(State())

    /// Called on the connection thread with the deliveries one read pass produced: one lock and
    /// at most one wake-up of the consuming task per pass, however many messages it carried.
    func append(contentsOf deliveries: [AMQPDelivery]) {
        guard !deliveries.isEmpty else { return }
        let waiter = state.withLock { state -> CheckedContinuation<[AMQPDelivery], any Error>? in
            guard !state.finished else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            if state.items.isEmpty {
                state.items = deliveries  // hand the array over whole: no per-element copies
            } else {
                state.items.append(contentsOf: deliveries)
            }
            return nil
        }
        waiter?.resume(returning: deliveries)
    }

    /// Ends the sequence once the buffered deliveries are taken: normally, or with `error`.
    func finish(_ error: AMQPError? = nil) {
        let waiter = state.withLock { state -> CheckedContinuation<[AMQPDelivery], any Error>? in
            guard !state.finished else { return nil }
            state.finished = true
            state.failure = error
            defer { state.waiter = nil }
            return state.waiter
        }
        if let waiter {
            if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: []) }
        }
    }

    var isFinished: Bool { state.withLock { $0.finished } }

    /// Everything buffered, or waits for the next delivery; `[]` at a normal end.
    func take() async throws -> [AMQPDelivery] {
        if let ready = try takeIfReady() { return ready }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[AMQPDelivery], any Error>) in
                let result = state.withLock { state -> Result<[AMQPDelivery], any Error>? in
                    if !state.items.isEmpty {
                        defer { state.items = [] }
                        return .success(state.items)
                    }
                    if state.finished {
                        if let failure = state.failure { return .failure(failure) }
                        return .success([])
                    }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiter = continuation
                    return nil
                }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<[AMQPDelivery], any Error>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Whatever is buffered now, without waiting: `[]` when nothing is (an end or a failure is
    /// left for ``take()`` to report).
    func takeAvailable() -> [AMQPDelivery] {
        state.withLock { state -> [AMQPDelivery] in
            var taken: [AMQPDelivery] = []
            swap(&taken, &state.items)
            return taken
        }
    }

    private func takeIfReady() throws -> [AMQPDelivery]? {
        try state.withLock { state -> [AMQPDelivery]? in
            if !state.items.isEmpty {
                var taken: [AMQPDelivery] = []
                taken.reserveCapacity(state.items.count)
                swap(&taken, &state.items)
                return taken
            }
            if state.finished {
                if let failure = state.failure { throw failure }
                return []
            }
            return nil
        }
    }
}
