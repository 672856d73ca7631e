import Synchronization

/// The kind of an exchange.
package struct AMQPExchangeType: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral {
    package var rawValue: String
    package init(rawValue: String) { self.rawValue = rawValue }
    package init(stringLiteral value: String) { self.rawValue = value }

    package static let direct: Self = "direct"
    package static let fanout: Self = "fanout"
    package static let topic: Self = "topic"
    package static let headers: Self = "headers"
}

/// One AMQP channel of an ``AMQPConnection``: a cheap, `Sendable` handle.
///
/// Every operation runs on the connection's own thread. Synchronous broker operations (declare,
/// bind, qos, consume, ...) are `async` and throw an ``AMQPError`` carrying the broker's reply
/// code and text when the broker refuses them — which also closes the channel, as AMQP says; open
/// a new one to go on. Acks and streaming publishes are fire-and-forget calls that never wait for
/// a task hop: they are queued to the connection thread in order.
package struct AMQPChannel: Sendable, Hashable {
    package let id: UInt16
    package let connection: AMQPConnection
    let shared: ChannelShared

    package static func == (lhs: AMQPChannel, rhs: AMQPChannel) -> Bool {
        lhs.id == rhs.id && lhs.connection === rhs.connection && lhs.shared === rhs.shared
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(ObjectIdentifier(shared))
    }

    // MARK: Exchanges

    package func declareExchange(
        _ name: String,
        type: AMQPExchangeType,
        durable: Bool = true,
        autoDelete: Bool = false,
        internal isInternal: Bool = false,
        arguments: AMQPTable = [:]
    ) async throws {
        try await connection.declareExchange(
            channel: id, name: name, type: type.rawValue, passive: false, durable: durable,
            autoDelete: autoDelete, internal: isInternal, arguments: arguments)
    }

    /// Checks the exchange exists (404 NOT_FOUND closes the channel when it does not).
    package func declareExchangePassive(_ name: String) async throws {
        try await connection.declareExchange(
            channel: id, name: name, type: "", passive: true, durable: false, autoDelete: false,
            internal: false, arguments: [:])
    }

    package func deleteExchange(_ name: String, ifUnused: Bool = false) async throws {
        try await connection.deleteExchange(channel: id, name: name, ifUnused: ifUnused)
    }

    // MARK: Queues

    /// Declares a queue; an empty name asks the broker for a generated one (returned in the info).
    @discardableResult
    package func declareQueue(
        _ name: String,
        durable: Bool = true,
        exclusive: Bool = false,
        autoDelete: Bool = false,
        arguments: AMQPTable = [:]
    ) async throws -> AMQPQueueInfo {
        try await connection.declareQueue(
            channel: id, name: name, passive: false, durable: durable, exclusive: exclusive,
            autoDelete: autoDelete, arguments: arguments)
    }

    /// The queue's depth and consumer count, without changing it (404 when it does not exist).
    package func declareQueuePassive(_ name: String) async throws -> AMQPQueueInfo {
        try await connection.declareQueue(
            channel: id, name: name, passive: true, durable: false, exclusive: false,
            autoDelete: false, arguments: [:])
    }

    /// Deletes a queue; returns how many messages it held.
    @discardableResult
    package func deleteQueue(_ name: String, ifUnused: Bool = false, ifEmpty: Bool = false) async throws -> UInt32 {
        try await connection.deleteQueue(channel: id, name: name, ifUnused: ifUnused, ifEmpty: ifEmpty)
    }

    /// Removes every ready message; returns how many.
    @discardableResult
    package func purgeQueue(_ name: String) async throws -> UInt32 {
        try await connection.purgeQueue(channel: id, name: name)
    }

    package func bindQueue(_ queue: String, exchange: String, routingKey: String, arguments: AMQPTable = [:]) async throws {
        try await connection.bindQueue(
            channel: id, queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments, bind: true)
    }

    package func unbindQueue(_ queue: String, exchange: String, routingKey: String, arguments: AMQPTable = [:]) async throws {
        try await connection.bindQueue(
            channel: id, queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments, bind: false)
    }

    // MARK: Consuming

    /// Limits unacknowledged deliveries on this channel (per consumer unless `global`).
    package func qos(prefetchCount: UInt16, global: Bool = false) async throws {
        try await connection.qos(channel: id, prefetchCount: prefetchCount, global: global)
    }

    /// Starts a consumer. With `noAck: false` (the default) every delivery must be acked,
    /// nacked or rejected.
    package func consume(
        queue: String,
        consumerTag: String = "",
        noAck: Bool = false,
        exclusive: Bool = false,
        arguments: AMQPTable = [:]
    ) async throws -> AMQPConsumer {
        try await connection.consume(
            channel: self, queue: queue, consumerTag: consumerTag, noAck: noAck, exclusive: exclusive,
            arguments: arguments)
    }

    /// Stops a consumer; its sequence ends normally once drained.
    package func cancel(consumerTag: String) async throws {
        try await connection.cancel(channel: id, consumerTag: consumerTag)
    }

    /// Fetches one message (`basic.get`), or `nil` when the queue is empty.
    package func get(queue: String, noAck: Bool = false) async throws -> AMQPDelivery? {
        try await connection.get(channel: id, queue: queue, noAck: noAck)
    }

    /// Acknowledges `deliveryTag` (and with `multiple` every earlier one). Queued in order on the
    /// connection thread; returns at once.
    package func ack(_ deliveryTag: UInt64, multiple: Bool = false) {
        connection.settleDelivery(shared: shared, PendingSettlement(kind: .ack, deliveryTag: deliveryTag, multiple: multiple))
    }

    /// Acknowledges many deliveries at once: one hand-over to the connection's thread instead of
    /// one per tag (the ledger still sends a run as one `multiple` ack where that is equivalent).
    package func ack(_ deliveryTags: [UInt64]) {
        guard !deliveryTags.isEmpty else { return }
        connection.settleDeliveries(shared: shared, deliveryTags.map { PendingSettlement(kind: .ack, deliveryTag: $0, multiple: false) })
    }

    /// Negatively acknowledges; without `requeue` the message is dead-lettered (or dropped when the
    /// queue has no dead-letter exchange).
    package func nack(_ deliveryTag: UInt64, multiple: Bool = false, requeue: Bool) {
        connection.settleDelivery(
            shared: shared, PendingSettlement(kind: .nack, deliveryTag: deliveryTag, multiple: multiple, requeue: requeue))
    }

    /// Rejects one delivery. On RabbitMQ 4.3+ only `reject` with requeue counts toward a quorum
    /// queue's delivery limit.
    package func reject(_ deliveryTag: UInt64, requeue: Bool) {
        connection.settleDelivery(shared: shared, PendingSettlement(kind: .reject, deliveryTag: deliveryTag, requeue: requeue))
    }

    /// Sends the acks, nacks and rejects queued so far, and returns once they are written to the
    /// socket (not yet processed by the broker). For the moment before a risky operation.
    package func flush() async {
        await connection.flushSettlements(channel: id)
    }

    // MARK: Publishing

    /// Puts the channel in confirm mode: from now on the broker acks or nacks every publish.
    package func confirmSelect() async throws {
        try await connection.confirmSelect(channel: id)
    }

    /// Publishes and, in confirm mode, waits for the broker's answer. Many tasks may publish on
    /// one channel at once: their publishes are in flight together (streaming confirms), not one
    /// round trip each.
    ///
    /// Returns `.acked`, `.nacked` or (mandatory, unroutable) `.returned`; `.sent` outside confirm
    /// mode. Throws when the channel or connection is gone before the answer.
    @discardableResult
    package func publish(
        _ body: [UInt8],
        exchange: String,
        routingKey: String,
        properties: AMQPProperties = AMQPProperties(),
        mandatory: Bool = false
    ) async throws -> AMQPPublishOutcome {
        try await withCheckedThrowingContinuation { continuation in
            connection.enqueuePublish(
                channel: id, shared: shared, body: body, exchange: exchange, routingKey: routingKey, properties: properties,
                mandatory: mandatory
            ) { result in continuation.resume(with: result) }
        }
    }

    /// Publishes without waiting: `onOutcome` is called on the connection thread when the broker
    /// answers (keep it short). Pair with ``waitForConfirmWindow(below:)`` to bound what is in flight.
    package func publish(
        _ body: [UInt8],
        exchange: String,
        routingKey: String,
        properties: AMQPProperties = AMQPProperties(),
        mandatory: Bool = false,
        onOutcome: @escaping @Sendable (Result<AMQPPublishOutcome, AMQPError>) -> Void
    ) {
        connection.enqueuePublish(
            channel: id, shared: shared, body: body, exchange: exchange, routingKey: routingKey, properties: properties,
            mandatory: mandatory, completion: onOutcome)
    }

    /// Publishes not yet answered: queued for the connection thread, or written and awaiting
    /// their confirm.
    package var outstandingConfirms: Int { shared.outstanding.load(ordering: .relaxed) }

    /// Returns once fewer than `limit` publishes await their confirm (at once when already so).
    package func waitForConfirmWindow(below limit: Int) async {
        await shared.waitUntilOutstanding(below: limit)
    }

    /// Returns once every publish so far has been answered (or failed).
    package func waitForConfirms() async {
        await shared.waitUntilOutstanding(below: 1)
    }

    // MARK: Lifecycle

    /// Closes the channel: its consumers end, unanswered publishes fail.
    package func close() async throws {
        try await connection.closeChannel(id)
    }

    /// True until the channel was closed by either side (or its connection died).
    package var isOpen: Bool { !shared.closed.load(ordering: .acquiring) }
}

/// An ack, nack or reject on its way to the connection thread.
struct PendingSettlement: Sendable {
    enum Kind: Sendable { case ack, nack, reject }
    var kind: Kind
    var deliveryTag: UInt64
    var multiple = false
    var requeue = false
}

/// The part of a channel's state that other threads may read: in-flight publish count and
/// window waiters. Everything else lives on the connection's thread.
final class ChannelShared: Sendable {
    let outstanding = Atomic<Int>(0)
    /// Acks, nacks and rejects the application made, in order, waiting for the connection thread.
    let settlements = Mutex<[PendingSettlement]>([])
    let closed = Atomic<Bool>(false)
    private let waiters = Mutex<[(limit: Int, continuation: CheckedContinuation<Void, Never>)]>([])

    func waitUntilOutstanding(below limit: Int) async {
        if outstanding.load(ordering: .acquiring) < limit { return }
        await withCheckedContinuation { continuation in
            let ready = waiters.withLock { list -> Bool in
                if outstanding.load(ordering: .acquiring) < limit || closed.load(ordering: .acquiring) { return true }
                list.append((limit, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Called on the connection thread after publishes settle.
    func settled(_ count: Int) {
        let now = outstanding.subtract(count, ordering: .acquiringAndReleasing).newValue
        let ready = waiters.withLock { list -> [CheckedContinuation<Void, Never>] in
            guard !list.isEmpty else { return [] }
            var ready: [CheckedContinuation<Void, Never>] = []
            list.removeAll { waiter in
                if now < waiter.limit || closed.load(ordering: .acquiring) {
                    ready.append(waiter.continuation)
                    return true
                }
                return false
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    func markClosed() {
        closed.store(true, ordering: .releasing)
        settled(0)
    }
}
