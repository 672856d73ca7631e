import CRabbitMQ
import CourierConcurrency
import Foundation
import Logging
import Synchronization

/// One connection to RabbitMQ, over librabbitmq.
///
/// An actor on its own ``ThreadExecutor``: every C call for this connection happens on one
/// dedicated thread, so librabbitmq is never used from two threads and its blocking calls never
/// run on Swift's cooperative pool. Between operations the thread reads frames without blocking
/// — deliveries, publisher confirms, returns, heartbeats, closes — and sleeps in `poll(2)` on the
/// socket and its wake-up pipe, so an ack or a publish queued from any task is sent at once.
public actor AMQPConnection {
    public nonisolated let configuration: AMQPConfiguration
    nonisolated let executor: ThreadExecutor
    let logger: Logger

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// The connection's thread as a task executor. A consuming loop run under
    /// `withTaskExecutorPreference(connection.taskExecutor)` receives deliveries and sends acks
    /// without a thread hop; keep such a loop light (hand heavy work to other tasks), since the
    /// same thread also reads the socket and answers heartbeats.
    public nonisolated var taskExecutor: any TaskExecutor { executor }

    private var state: amqp_connection_state_t?
    private var failure: AMQPError?
    private var channels: [UInt16: ChannelState] = [:]
    private let arena = CArena()
    private var interner = StringInterner()
    private var heartbeatSeconds: Int = 0
    private var negotiatedChannelMax: Int = 0
    private let negotiatedFrameMax = Atomic<Int>(0)
    private var closeWaiters: [Int: CheckedContinuation<AMQPError?, Never>] = [:]
    private var nextCloseWaiter = 0
    /// Deliveries read in the current pass, handed to their consumers together when it ends.
    private var staged: [(buffer: DeliveryBuffer, deliveries: [AMQPDelivery])] = []
    private var holdingSince: ContinuousClock.Instant?
    static let handOverWindow: Duration = .microseconds(500)
    /// True while the broker has blocked publishing (`connection.blocked`, resource alarm).
    public private(set) var isBlocked = false
    /// The broker's reason for the block (e.g. "low on memory"), while blocked.
    public private(set) var blockedReason: String?
    private var blockedObserver: (@Sendable (_ blockedReason: String?) -> Void)?

    /// Hears every `connection.blocked` (with the broker's reason) and `connection.unblocked`
    /// (nil) from now on; called on the connection's thread, so it must be quick.
    /// Publishes on a blocked connection are not lost: they wait in the socket until the alarm
    /// clears, and their confirms arrive then.
    public func observeBlocking(_ observer: @escaping @Sendable (_ blockedReason: String?) -> Void) {
        blockedObserver = observer
        if isBlocked { observer(blockedReason ?? "blocked") }
    }

    final class ChannelState {
        let shared = ChannelShared()
        var confirming = false
        var confirms = ConfirmTracker<@Sendable (Result<AMQPPublishOutcome, AMQPError>) -> Void>()
        var consumers: [String: (buffer: DeliveryBuffer, noAck: Bool)] = [:]
        var ledger = DeliveryTagLedger()
        /// Set while the channel is being forgotten: its remaining content frames are dropped.
        var closing = false
        /// The channel's `basic.qos` prefetch count (0: unlimited).
        var prefetch = 0
        /// The message whose frames are arriving on this channel, if any.
        var assembly: ContentAssembly?
        /// A `basic.get` waiting for its message's frames; or, when the frames were read before
        /// it got to wait (the read loop runs between any two jobs), the outcome kept for it.
        var pendingGet: CheckedContinuation<AMQPDelivery, any Error>?
        var getOutcome: Result<AMQPDelivery, AMQPError>?

        func settleGet(_ outcome: Result<AMQPDelivery, AMQPError>) {
            if let waiter = pendingGet {
                pendingGet = nil
                waiter.resume(with: outcome)
            } else {
                getOutcome = outcome
            }
        }
    }

    private init(configuration: AMQPConfiguration, logger: Logger) {
        self.configuration = configuration
        self.executor = ThreadExecutor(name: "amqp-\(configuration.host)")
        var logger = logger
        logger[metadataKey: "amqp"] = "\(configuration.redactedURL)"
        self.logger = logger
    }

    // Runs on the connection's thread, so the C state is freed where it was used.
    isolated deinit {
        if let state { amqp_destroy_connection(state) }
        executor.shutdown()
    }

    /// Connects and logs in. Throws ``AMQPError`` with `connectionFailed`, `accessRefused` or
    /// `invalidConfiguration`; the password never appears in it.
    ///
    /// With several nodes (``AMQPConfiguration/nodes``) it tries them from a random one on and
    /// takes the first it reaches; a node that refuses the login (or any error but "cannot reach")
    /// ends the attempt, as the next node of the same cluster would refuse it too.
    public static func connect(
        _ configuration: AMQPConfiguration,
        logger: Logger = Logger(label: "courier.amqp")
    ) async throws -> AMQPConnection {
        try await connect(configuration, startingAt: Int.random(in: 0..<max(configuration.nodes.count, 1)), logger: logger)
    }

    /// ``connect(_:logger:)`` trying the nodes from `start` on (tests choose the order).
    static func connect(_ configuration: AMQPConfiguration, startingAt start: Int, logger: Logger) async throws -> AMQPConnection {
        let order = configuration.connectionOrder(start: start)
        var unreachable: [AMQPError] = []
        for node in order {
            let connection = AMQPConnection(configuration: node, logger: logger)
            do {
                try await connection.open()
                return connection
            } catch {
                guard order.count > 1, error.code == .connectionFailed else { throw error }
                unreachable.append(error)
            }
        }
        throw AMQPError(
            code: .connectionFailed, operation: "connect",
            replyText: "no node of the cluster could be reached: " + unreachable.map(\.description).joined(separator: "; "),
            endpoint: configuration.redactedURL)
    }

    /// Connects to `url` (see ``AMQPConfiguration/init(url:)``).
    public static func connect(url: String, logger: Logger = Logger(label: "courier.amqp")) async throws -> AMQPConnection {
        try await connect(try AMQPConfiguration(url: url), logger: logger)
    }

    /// The negotiated heartbeat interval in seconds (0: none).
    public var heartbeat: Int { heartbeatSeconds }

    /// The largest frame the broker accepts on this connection (`frame_max`, negotiated at login;
    /// 0 before). A message's properties must fit one frame: see ``AMQPProperties/headerFrameSize``.
    public nonisolated var maximumFrameSize: Int { negotiatedFrameMax.load(ordering: .relaxed) }

    /// True until the connection was closed by either side or failed.
    public var isOpen: Bool { state != nil && failure == nil }

    /// Suspends until the connection closes or fails; returns the failure (`nil` after ``close()``).
    /// Cancelling the waiting task ends the wait early, returning nil.
    public func waitUntilClosed() async -> AMQPError? {
        if state == nil { return failure }
        let id = nextCloseWaiter
        nextCloseWaiter += 1
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // A task cancelled before it got here has already run `onCancel`, whose hop may
                // have found nothing to end: it must not wait at all. (It did: a supervisor
                // cancelled just after reconnecting hung in its engine's group forever, with
                // both connections open — the benchmark's reconnect scenario.) A cancellation
                // after this point finds the waiter: its hop runs after this job.
                if Task.isCancelled {
                    continuation.resume(returning: nil)
                } else {
                    closeWaiters[id] = continuation
                }
            }
        } onCancel: {
            Task { await self.endCloseWait(id) }
        }
    }

    private func endCloseWait(_ id: Int) {
        closeWaiters.removeValue(forKey: id)?.resume(returning: nil)
    }

    // MARK: Opening and closing

    private func open() throws(AMQPError) {
        let config = configuration
        let endpoint = config.redactedURL
        func fail(_ text: String, status: Int32? = nil, code: AMQPError.Code = .connectionFailed) -> AMQPError {
            AMQPError(
                code: code, operation: "connect", replyText: text,
                libraryStatus: status.map(CDecoding.statusText), endpoint: endpoint)
        }
        guard let conn = amqp_new_connection() else { throw fail("amqp_new_connection failed") }
        var ok = false
        defer { if !ok { amqp_destroy_connection(conn) } }

        let socket: OpaquePointer?
        if let tls = config.tls {
            socket = amqp_ssl_socket_new(conn)
            guard let socket else { throw fail("could not create a TLS socket") }
            if let ca = tls.caCertificatePath {
                let status = amqp_ssl_socket_set_cacert(socket, ca)
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw fail("cannot load CA certificates from \(ca)", status: status, code: .invalidConfiguration)
                }
            }
            if let cert = tls.certificatePath, let key = tls.keyPath {
                let status = amqp_ssl_socket_set_key(socket, cert, key)
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw fail("cannot load client certificate \(cert) / key \(key)", status: status, code: .invalidConfiguration)
                }
            }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
        } else {
            socket = amqp_tcp_socket_new(conn)
            guard socket != nil else { throw fail("could not create a TCP socket") }
        }

        var connectTimeout = timeval(config.connectionTimeout)
        let openStatus = amqp_socket_open_noblock(socket, config.host, Int32(config.port), &connectTimeout)
        guard openStatus == AMQP_STATUS_OK.rawValue else {
            let tlsFailed = [AMQP_STATUS_SSL_ERROR, AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED, AMQP_STATUS_SSL_PEER_VERIFY_FAILED,
                AMQP_STATUS_SSL_CONNECTION_FAILED].contains { $0.rawValue == openStatus }
            throw fail(
                tlsFailed ? "TLS handshake with \(config.host):\(config.port) failed" : "cannot reach \(config.host):\(config.port)",
                status: openStatus)
        }
        var handshakeTimeout = timeval(config.connectionTimeout)
        amqp_set_handshake_timeout(conn, &handshakeTimeout)
        var rpcTimeout = timeval(config.rpcTimeout)
        amqp_set_rpc_timeout(conn, &rpcTimeout)

        var properties: AMQPTable = [
            "product": "Courier",
            "platform": "Swift",
            "capabilities": .table([
                "publisher_confirms": true,
                "consumer_cancel_notify": true,
                "basic.nack": true,
                "connection.blocked": true,
                "exchange_exchange_bindings": true,
                "authentication_failure_close": true,
            ]),
        ]
        if let name = config.connectionName { properties["connection_name"] = .string(name) }
        var cProperties = arena.table(properties)
        defer { arena.recycle() }
        let reply = courier_amqp_login_plain(
            conn, config.vhost, Int32(config.channelMax), Int32(config.frameMax), Int32(config.heartbeat),
            &cProperties, config.user, config.password)
        if reply.reply_type != AMQP_RESPONSE_NORMAL {
            var error = Self.error(from: reply, operation: "login to vhost '\(config.vhost)'", endpoint: endpoint)
            if error.code == .connectionClosed || error.replyCode == 403 || error.replyCode == 530 {
                // RabbitMQ closes the socket on bad credentials (authentication_failure_close).
                if error.replyCode == 403 || error.replyCode == 530 || reply.library_error == AMQP_STATUS_SOCKET_CLOSED.rawValue
                    || reply.library_error == AMQP_STATUS_CONNECTION_CLOSED.rawValue
                {
                    error.code = .accessRefused
                    if error.replyText == nil { error.replyText = "login refused for user '\(config.user)'" }
                }
            }
            if error.code != .accessRefused { error.code = .connectionFailed }
            throw error
        }
        let frameMax = Int(amqp_get_frame_max(conn))
        if config.inboundFrameHeadroom > 0, frameMax > 0 {
            // librabbitmq checks incoming frames against its frame_max: raise that alone. What
            // we send is still checked against the negotiated value (`encodingProblem`).
            let raised = Int32(clamping: frameMax + config.inboundFrameHeadroom)
            guard amqp_tune_connection(conn, amqp_get_channel_max(conn), raised, amqp_get_heartbeat(conn)) == AMQP_STATUS_OK.rawValue else {
                throw fail("could not raise the inbound frame limit")
            }
        }
        negotiatedFrameMax.store(frameMax, ordering: .relaxed)
        ok = true
        state = conn
        heartbeatSeconds = Int(amqp_get_heartbeat(conn))
        negotiatedChannelMax = Int(amqp_get_channel_max(conn))
        if negotiatedChannelMax == 0 { negotiatedChannelMax = 65535 }
        executor.setIOSource(IOPump(connection: self))
        logger.info(
            "AMQP connected",
            metadata: ["heartbeat": "\(heartbeatSeconds)", "channel_max": "\(negotiatedChannelMax)"])
    }

    /// Closes the connection cleanly (`connection.close`): consumers end, unanswered publishes
    /// fail with `connectionClosed`. Safe to call twice.
    public func close() {
        guard state != nil else { return }
        flushAllSettlements()
        if let conn = state, failure == nil {
            let reply = amqp_connection_close(conn, AMQP_REPLY_SUCCESS)
            if reply.reply_type != AMQP_RESPONSE_NORMAL {
                logger.debug("connection.close did not complete cleanly")
            }
        }
        tearDown(AMQPError(code: .connectionClosed, operation: "close", replyText: "closed by client"), reportAsFailure: false)
        logger.info("AMQP connection closed")
    }

    /// Ends everything that depends on the connection and frees the C state.
    private func tearDown(_ error: AMQPError, reportAsFailure: Bool) {
        guard let conn = state else { return }
        handOverStagedDeliveries()
        if reportAsFailure { failure = error }
        state = nil
        executor.setIOSource(nil)
        amqp_destroy_connection(conn)
        for channel in channels.values { fail(channel, with: error) }
        channels.removeAll()
        let waiters = closeWaiters.values
        closeWaiters = [:]
        for waiter in waiters { waiter.resume(returning: reportAsFailure ? error : nil) }
    }

    /// Forgets a channel that we or the broker closed. Frames librabbitmq queued for it before
    /// the close (deliveries that raced it) are dealt with first — its content discarded, as the
    /// broker requeues those deliveries — so none is taken for a later channel that reuses the
    /// number.
    private func forget(channel id: UInt16, with error: AMQPError) {
        guard let channel = channels[id], !channel.closing else { return }
        channel.closing = true
        drainQueuedFrames()
        channels[id] = nil
        fail(channel, with: error)
    }

    private func fail(_ channel: ChannelState, with error: AMQPError) {
        channel.shared.markClosed()
        let tokens = channel.confirms.drain()
        for token in tokens { token(.failure(error)) }
        if !tokens.isEmpty { channel.shared.settled(tokens.count) }
        for consumer in channel.consumers.values { consumer.buffer.finish(error) }
        channel.consumers.removeAll()
        if case .get = channel.assembly?.origin { channel.settleGet(.failure(error)) }
        channel.assembly = nil
    }

    private func connectionFailed(_ error: AMQPError) {
        guard state != nil else { return }
        logger.warning("AMQP connection lost", metadata: ["error": "\(error)"])
        tearDown(error, reportAsFailure: true)
    }

    // MARK: Channels

    /// Opens a new channel.
    public func openChannel() throws -> AMQPChannel {
        let conn = try live("channel.open")
        let limit = min(negotiatedChannelMax, 65535)
        guard let id = (1...limit).lazy.map({ UInt16($0) }).first(where: { channels[$0] == nil }) else {
            throw AMQPError(code: .noChannelAvailable, operation: "channel.open", endpoint: configuration.redactedURL)
        }
        _ = amqp_channel_open(conn, id)
        try check("channel.open", channel: id)
        let channel = ChannelState()
        channels[id] = channel
        return AMQPChannel(id: id, connection: self, shared: channel.shared)
    }

    func closeChannel(_ id: UInt16) throws {
        flushSettlements(channel: id)
        guard channels[id] != nil, let conn = state else { return }
        let reply = amqp_channel_close(conn, id, AMQP_REPLY_SUCCESS)
        // A failed reply is read before anything else touches librabbitmq's buffers it points into.
        var failure: AMQPError?
        do { try check(reply, "channel.close", channel: id) } catch { failure = error }
        forget(channel: id, with: AMQPError(code: .channelClosed, operation: "channel.close", replyText: "closed by client"))
        if let failure { throw failure }
    }

    // MARK: Synchronous broker operations

    func declareExchange(
        channel: UInt16, name: String, type: String, passive: Bool, durable: Bool, autoDelete: Bool, internal isInternal: Bool,
        arguments: AMQPTable
    ) throws {
        let operation = passive ? "exchange.declare passive '\(name)'" : "exchange.declare '\(name)'"
        let conn = try live(operation, channel: channel)
        defer { arena.recycle() }
        _ = amqp_exchange_declare(
            conn, channel, arena.bytes(name), arena.bytes(type), flag(passive), flag(durable), flag(autoDelete),
            flag(isInternal), arena.table(arguments))
        try check(operation, channel: channel)
    }

    func deleteExchange(channel: UInt16, name: String, ifUnused: Bool) throws {
        let operation = "exchange.delete '\(name)'"
        let conn = try live(operation, channel: channel)
        defer { arena.recycle() }
        _ = amqp_exchange_delete(conn, channel, arena.bytes(name), flag(ifUnused))
        try check(operation, channel: channel)
    }

    func declareQueue(
        channel: UInt16, name: String, passive: Bool, durable: Bool, exclusive: Bool, autoDelete: Bool,
        arguments: AMQPTable
    ) throws -> AMQPQueueInfo {
        let operation = passive ? "queue.declare passive '\(name)'" : "queue.declare '\(name)'"
        let conn = try live(operation, channel: channel)
        defer { arena.recycle() }
        let ok = amqp_queue_declare(
            conn, channel, arena.bytes(name), flag(passive), flag(durable), flag(exclusive), flag(autoDelete),
            arena.table(arguments))
        try check(operation, channel: channel)
        guard let ok else { throw AMQPError(code: .protocolError, operation: operation, replyText: "no declare-ok") }
        return AMQPQueueInfo(
            name: CDecoding.string(ok.pointee.queue), messageCount: ok.pointee.message_count,
            consumerCount: ok.pointee.consumer_count)
    }

    func deleteQueue(channel: UInt16, name: String, ifUnused: Bool, ifEmpty: Bool) throws -> UInt32 {
        let operation = "queue.delete '\(name)'"
        let conn = try live(operation, channel: channel)
        defer { arena.recycle() }
        let ok = amqp_queue_delete(conn, channel, arena.bytes(name), flag(ifUnused), flag(ifEmpty))
        try check(operation, channel: channel)
        return ok?.pointee.message_count ?? 0
    }

    func purgeQueue(channel: UInt16, name: String) throws -> UInt32 {
        let operation = "queue.purge '\(name)'"
        let conn = try live(operation, channel: channel)
        defer { arena.recycle() }
        let ok = amqp_queue_purge(conn, channel, arena.bytes(name))
        try check(operation, channel: channel)
        return ok?.pointee.message_count ?? 0
    }

    func bindQueue(
        channel: UInt16, queue: String, exchange: String, routingKey: String, arguments: AMQPTable, bind: Bool
    ) throws {
        let operation = "\(bind ? "queue.bind" : "queue.unbind") '\(queue)' to '\(exchange)' with '\(routingKey)'"
        let conn = try live(operation, channel: channel)
        defer { arena.recycle() }
        if bind {
            _ = amqp_queue_bind(
                conn, channel, arena.bytes(queue), arena.bytes(exchange), arena.bytes(routingKey), arena.table(arguments))
        } else {
            _ = amqp_queue_unbind(
                conn, channel, arena.bytes(queue), arena.bytes(exchange), arena.bytes(routingKey), arena.table(arguments))
        }
        try check(operation, channel: channel)
    }

    func qos(channel: UInt16, prefetchCount: UInt16, global: Bool) throws {
        let operation = "basic.qos \(prefetchCount)"
        let conn = try live(operation, channel: channel)
        _ = amqp_basic_qos(conn, channel, 0, prefetchCount, flag(global))
        try check(operation, channel: channel)
        channels[channel]?.prefetch = Int(prefetchCount)
    }

    func confirmSelect(channel: UInt16) throws {
        let operation = "confirm.select"
        let conn = try live(operation, channel: channel)
        guard let state = channels[channel], !state.confirming else { return }
        _ = amqp_confirm_select(conn, channel)
        try check(operation, channel: channel)
        state.confirming = true
    }

    func consume(
        channel: AMQPChannel, queue: String, consumerTag: String, noAck: Bool, exclusive: Bool, arguments: AMQPTable
    ) throws -> AMQPConsumer {
        let operation = "basic.consume '\(queue)'"
        let conn = try live(operation, channel: channel.id)
        defer { arena.recycle() }
        let ok = amqp_basic_consume(
            conn, channel.id, arena.bytes(queue), arena.bytes(consumerTag), 0, flag(noAck), flag(exclusive),
            arena.table(arguments))
        try check(operation, channel: channel.id)
        guard let ok, let state = channels[channel.id] else {
            throw AMQPError(code: .protocolError, operation: operation, replyText: "no consume-ok")
        }
        let tag = CDecoding.string(ok.pointee.consumer_tag)
        let buffer = DeliveryBuffer()
        state.consumers[tag] = (buffer, noAck)
        return AMQPConsumer(consumerTag: tag, channel: channel, buffer: buffer)
    }

    func cancel(channel: UInt16, consumerTag: String) throws {
        let operation = "basic.cancel '\(consumerTag)'"
        flushSettlements(channel: channel)
        let conn = try live(operation, channel: channel)
        defer { arena.recycle() }
        _ = amqp_basic_cancel(conn, channel, arena.bytes(consumerTag))
        try check(operation, channel: channel)
        // Deliveries that raced the cancel are still in librabbitmq's queue: hand them over first.
        drainQueuedFrames()
        channels[channel]?.consumers.removeValue(forKey: consumerTag)?.buffer.finish()
    }

    func get(channel: UInt16, queue: String, noAck: Bool) async throws -> AMQPDelivery? {
        let operation = "basic.get '\(queue)'"
        let conn = try live(operation, channel: channel)
        let reply = amqp_basic_get(conn, channel, arena.bytes(queue), flag(noAck))
        arena.recycle()
        try check(reply, operation, channel: channel)
        guard reply.reply.id == courier_method_basic_get_ok, let decoded = reply.reply.decoded,
            let state = channels[channel]
        else { return nil }
        let ok = decoded.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        state.ledger.delivered(ok.delivery_tag, settled: noAck)
        state.assembly = ContentAssembly(
            origin: .get(
                deliveryTag: ok.delivery_tag, redelivered: ok.redelivered != 0, exchange: CDecoding.string(ok.exchange),
                routingKey: CDecoding.string(ok.routing_key), messageCount: ok.message_count))
        // The header and body frames follow; the read loop completes the message.
        return try await withCheckedThrowingContinuation { continuation in
            if let outcome = state.getOutcome {
                state.getOutcome = nil
                continuation.resume(with: outcome)
            } else {
                state.pendingGet = continuation
            }
        }
    }

    // MARK: Fire-and-forget operations (queued to the thread, in order)

    /// Queues an ack, nack or reject. No closure and no task hop: the settlement goes into the
    /// channel's list, and the thread sends the list — in order, acks coalesced — before it next
    /// reads or sleeps.
    nonisolated func settleDelivery(shared: ChannelShared, _ settlement: PendingSettlement) {
        shared.settlements.withLock { $0.append(settlement) }
        executor.requestService()
    }

    nonisolated func settleDeliveries(shared: ChannelShared, _ settlements: [PendingSettlement]) {
        shared.settlements.withLock { $0.append(contentsOf: settlements) }
        executor.requestService()
    }

    /// Sends what the application settled on `channel`: runs of acks through the ledger (one
    /// `multiple` ack where it is equivalent), nacks and rejects as they are, in the order given.
    private func flushSettlements(channel: UInt16) {
        guard let state = channels[channel] else { return }
        let pending = state.shared.settlements.withLock { list -> [PendingSettlement] in
            defer { list.removeAll(keepingCapacity: true) }
            return list
        }
        guard !pending.isEmpty else { return }
        var acks: [(tag: UInt64, multiple: Bool)] = []
        func sendAcks() -> Bool {
            defer { acks.removeAll(keepingCapacity: true) }
            guard !acks.isEmpty else { return true }
            for frame in state.ledger.frames(for: acks) {
                guard send(amqp_basic_ack(self.state, channel, frame.tag, flag(frame.multiple)), "basic.ack") else { return false }
            }
            return true
        }
        for settlement in pending {
            switch settlement.kind {
            case .ack:
                acks.append((settlement.deliveryTag, settlement.multiple))
            case .nack, .reject:
                guard sendAcks(), self.state != nil else { return }
                state.ledger.settle(settlement.deliveryTag, multiple: settlement.multiple)
                let status =
                    settlement.kind == .nack
                    ? amqp_basic_nack(self.state, channel, settlement.deliveryTag, flag(settlement.multiple), flag(settlement.requeue))
                    : amqp_basic_reject(self.state, channel, settlement.deliveryTag, flag(settlement.requeue))
                guard send(status, "basic.\(settlement.kind)") else { return }
            }
        }
        _ = sendAcks()
    }

    func flushSettlementsNow(channel: UInt16) {
        flushSettlements(channel: channel)
    }

    private func flushAllSettlements() {
        for id in channels.keys { flushSettlements(channel: id) }
    }

    /// True when a fire-and-forget send went out; otherwise the connection is torn down.
    private func send(_ status: Int32, _ operation: String) -> Bool {
        guard status == AMQP_STATUS_OK.rawValue else {
            connectionFailed(socketError(status, operation: operation))
            return false
        }
        return true
    }

    nonisolated func enqueuePublish(
        channel: UInt16, shared: ChannelShared, body: [UInt8], exchange: String, routingKey: String, properties: AMQPProperties,
        mandatory: Bool, completion: @escaping @Sendable (Result<AMQPPublishOutcome, AMQPError>) -> Void
    ) {
        // Counted from now, so a window or `waitForConfirms` also covers publishes still queued.
        shared.outstanding.add(1, ordering: .relaxed)
        executor.execute { [self] in
            self.assumeIsolated { connection in
                connection.sendPublish(
                    channel: channel, shared: shared, body: body, exchange: exchange, routingKey: routingKey, properties: properties,
                    mandatory: mandatory, completion: completion)
            }
        }
    }

    private func sendPublish(
        channel: UInt16, shared: ChannelShared, body: [UInt8], exchange: String, routingKey: String, properties: AMQPProperties,
        mandatory: Bool, completion: @escaping @Sendable (Result<AMQPPublishOutcome, AMQPError>) -> Void
    ) {
        let operation = "basic.publish to '\(exchange)' with '\(routingKey)'"
        guard let conn = state, let channelState = channels[channel] else {
            completion(.failure(closedError(operation, channel: channel)))
            shared.settled(1)
            return
        }
        // librabbitmq sends the method frame before it encodes the header frame: a publish that
        // cannot be encoded would leave the connection half-way through a message. Refuse it
        // here, alone, and keep the connection.
        let frameMax = negotiatedFrameMax.load(ordering: .relaxed)
        if let problem = Self.encodingProblem(exchange: exchange, routingKey: routingKey, properties: properties, frameMax: frameMax)
            ?? (configuration.inboundFrameHeadroom > 0 && body.count > frameMax - 8
                ? "a body of \(body.count) bytes on a connection set up for reading (inbound frame headroom)" : nil)
        {
            completion(.failure(AMQPError(code: .unencodable, operation: operation, replyText: problem)))
            channelState.shared.settled(1)
            return
        }
        var cProperties = arena.properties(properties)
        let exchangeBytes = arena.bytes(exchange)
        let routingKeyBytes = arena.bytes(routingKey)
        let status = body.withUnsafeBytes { raw in
            amqp_basic_publish(
                conn, channel, exchangeBytes, routingKeyBytes, flag(mandatory), 0, &cProperties,
                amqp_bytes_t(len: raw.count, bytes: raw.count == 0 ? nil : UnsafeMutableRawPointer(mutating: raw.baseAddress)))
        }
        arena.recycle()
        guard status == AMQP_STATUS_OK.rawValue else {
            let error = socketError(status, operation: operation)
            completion(.failure(error))
            channelState.shared.settled(1)
            connectionFailed(error)
            return
        }
        if channelState.confirming {
            _ = channelState.confirms.published(
                token: completion, mandatory: mandatory, exchange: exchange, routingKey: routingKey,
                messageID: properties.messageID)
        } else {
            completion(.success(.sent))
            channelState.shared.settled(1)
        }
    }

    /// Why a publish cannot be encoded, or nil. A pure function, unit-tested.
    static func encodingProblem(exchange: String, routingKey: String, properties: AMQPProperties, frameMax: Int) -> String? {
        if exchange.utf8.count > 255 { return "the exchange name is \(exchange.utf8.count) bytes; at most 255" }
        if routingKey.utf8.count > 255 { return "the routing key is \(routingKey.utf8.count) bytes; at most 255" }
        if let problem = properties.encodingProblem { return problem }
        let size = properties.headerFrameSize
        if frameMax > 0, size > frameMax {
            return "the properties need a content header frame of \(size) bytes; the connection's frame_max is \(frameMax)"
        }
        return nil
    }

    // MARK: Reading frames (called by the executor between jobs)

    /// Reads what the socket has, without blocking; says what to wait for next.
    fileprivate func pump(socketReady: Bool) -> ThreadExecutor.Wait {
        flushAllSettlements()
        guard let conn = state else { return .idle }
        let budget = 512
        var handled = 0
        var zero = timeval(tv_sec: 0, tv_usec: 0)
        var frame = amqp_frame_t()
        // One read from the socket per readiness; otherwise only what librabbitmq has buffered.
        // (A call into the library after a timeout also lets it send and check heartbeats.)
        var mayRead = socketReady
        while handled < budget {
            if amqp_data_in_buffer(conn) == 0, amqp_frames_enqueued(conn) == 0 {
                guard mayRead else { break }
                mayRead = false
            }
            let status = amqp_simple_wait_frame_noblock(conn, &frame, &zero)
            if status == AMQP_STATUS_TIMEOUT.rawValue { break }
            guard status == AMQP_STATUS_OK.rawValue else {
                connectionFailed(socketError(status, operation: "read frame"))
                return .idle
            }
            handle(frame)
            handled += 1
            if state == nil { return .idle }
            amqp_maybe_release_buffers(conn)
        }
        if handled == budget {
            handOverStagedDeliveries()
            return .again
        }
        if !staged.isEmpty {
            // More deliveries are usually right behind these: hold them up to a millisecond so
            // the consumer wakes once per burst rather than once per read — unless a channel's
            // prefetch is used up, when nothing more can come until the consumer acks.
            let now = ContinuousClock.now
            let since = holdingSince ?? now
            if holdingSince == nil { holdingSince = now }
            if now - since >= Self.handOverWindow || staged.contains(where: { $0.deliveries.count >= 256 })
                || channels.values.contains(where: { $0.prefetch > 0 && $0.ledger.unsettledCount >= $0.prefetch })
            {
                handOverStagedDeliveries()
            } else {
                return ThreadExecutor.Wait(fileDescriptor: amqp_get_sockfd(conn), timeoutMilliseconds: 1)
            }
        }
        // Come back well within the heartbeat interval so librabbitmq can send and check them.
        let timeout: Int32 = heartbeatSeconds > 0 ? Int32(heartbeatSeconds * 1000 / 2) : -1
        return ThreadExecutor.Wait(fileDescriptor: amqp_get_sockfd(conn), timeoutMilliseconds: timeout)
    }

    /// Hands over frames librabbitmq queued while a synchronous operation waited for its reply.
    private func drainQueuedFrames() {
        guard let conn = state else { return }
        var zero = timeval(tv_sec: 0, tv_usec: 0)
        var frame = amqp_frame_t()
        while state != nil, amqp_frames_enqueued(conn) != 0 {
            let status = amqp_simple_wait_frame_noblock(conn, &frame, &zero)
            guard status == AMQP_STATUS_OK.rawValue else { break }
            handle(frame)
        }
        handOverStagedDeliveries()
    }

    private func stage(_ delivery: AMQPDelivery, for buffer: DeliveryBuffer) {
        if let index = staged.firstIndex(where: { $0.buffer === buffer }) {
            staged[index].deliveries.append(delivery)
        } else {
            staged.append((buffer, [delivery]))
        }
    }

    private func handOverStagedDeliveries() {
        holdingSince = nil
        guard !staged.isEmpty else { return }
        let batches = staged
        staged = []
        for batch in batches { batch.buffer.append(contentsOf: batch.deliveries) }
    }

    private func handle(_ frame: amqp_frame_t) {
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_HEADER:
            guard let state = channels[frame.channel], !state.closing else { return }  // closed: the broker requeues it
            guard var assembly = state.assembly, let decoded = frame.payload.properties.decoded else {
                return protocolViolation("a content header with no message", channel: frame.channel)
            }
            state.assembly = nil  // the local copy is now the only one: filling it copies nothing
            let properties = CDecoding.properties(
                decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee, interner: &interner)
            advance(&assembly, assembly.header(properties, bodySize: frame.payload.properties.body_size), channel: frame.channel)
            return
        case AMQP_FRAME_BODY:
            guard let state = channels[frame.channel], !state.closing else { return }
            guard var assembly = state.assembly else {
                return protocolViolation("a body frame with no message", channel: frame.channel)
            }
            // Without this the body would be shared with the stored copy, and the first append
            // would copy its buffer (a second allocation per message).
            state.assembly = nil
            let fragment = frame.payload.body_fragment
            let step = assembly.bodyFragment(UnsafeRawBufferPointer(start: fragment.bytes, count: fragment.len))
            advance(&assembly, step, channel: frame.channel)
            return
        case AMQP_FRAME_METHOD:
            break
        default:
            return
        }
        let channel = frame.channel
        let method = frame.payload.method
        guard let decoded = method.decoded else { return }
        if method.id != courier_method_basic_deliver {
            handOverStagedDeliveries()  // a cancel or close must not overtake deliveries before it
        }
        switch method.id {
        case courier_method_basic_deliver:
            let deliver = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            begin(
                .delivery(
                    deliveryTag: deliver.delivery_tag, redelivered: deliver.redelivered != 0,
                    exchange: interner.string(deliver.exchange, .exchange),
                    routingKey: interner.string(deliver.routing_key, .routingKey),
                    consumerTag: interner.string(deliver.consumer_tag, .consumerTag)),
                channel: channel)

        case courier_method_basic_ack, courier_method_basic_nack:
            let acked = method.id == courier_method_basic_ack
            let tag: UInt64
            let multiple: Bool
            if acked {
                let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                (tag, multiple) = (ack.delivery_tag, ack.multiple != 0)
            } else {
                let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
                (tag, multiple) = (nack.delivery_tag, nack.multiple != 0)
            }
            guard let state = channels[channel] else { return }
            let settled = state.confirms.settle(tag: tag, multiple: multiple, acked: acked)
            for (token, outcome) in settled { token(.success(outcome)) }
            // After the callbacks: whoever waits for the window sees their effects.
            if !settled.isEmpty { state.shared.settled(settled.count) }

        case courier_method_basic_return:
            let ret = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            begin(
                .returned(
                    replyCode: ret.reply_code, replyText: CDecoding.string(ret.reply_text),
                    exchange: CDecoding.string(ret.exchange), routingKey: CDecoding.string(ret.routing_key)),
                channel: channel)

        case courier_method_basic_cancel:
            let cancel = decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            let consumerTag = CDecoding.string(cancel.consumer_tag)
            logger.warning("the broker cancelled consumer \(consumerTag)")
            channels[channel]?.consumers.removeValue(forKey: consumerTag)?.buffer.finish(
                AMQPError(
                    code: .consumerCancelled, operation: "consume",
                    replyText: "the broker cancelled consumer '\(consumerTag)' (queue deleted, node restart, or consumer_timeout)",
                    endpoint: configuration.redactedURL))

        case courier_method_channel_close:
            let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let error = AMQPError(
                code: .channelClosed, operation: "channel \(channel)", replyCode: close.reply_code,
                replyText: CDecoding.string(close.reply_text), endpoint: configuration.redactedURL)
            acknowledgeChannelClose(channel)
            forget(channel: channel, with: error)
            logger.warning("the broker closed channel \(channel)", metadata: ["error": "\(error)"])

        case courier_method_connection_close:
            let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let error = AMQPError(
                code: .connectionClosed, operation: "connection", replyCode: close.reply_code,
                replyText: CDecoding.string(close.reply_text), endpoint: configuration.redactedURL)
            acknowledgeConnectionClose()
            connectionFailed(error)

        case courier_method_connection_blocked:
            let blocked = decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            let reason = CDecoding.string(blocked.reason)
            isBlocked = true
            blockedReason = reason.isEmpty ? "blocked" : reason
            logger.warning("the broker blocked publishing on this connection (resource alarm)", metadata: ["reason": "\(reason)"])
            blockedObserver?(blockedReason)

        case courier_method_connection_unblocked:
            isBlocked = false
            blockedReason = nil
            logger.info("the broker unblocked publishing")
            blockedObserver?(nil)

        default:
            logger.debug("ignored method \(method.id) on channel \(channel)")
        }
    }

    // MARK: Messages from frames

    private func begin(_ origin: ContentAssembly.Origin, channel: UInt16) {
        guard let state = channels[channel], !state.closing else { return }
        guard state.assembly == nil else {
            return protocolViolation("a new message before the previous one was complete", channel: channel)
        }
        state.assembly = ContentAssembly(origin: origin)
    }

    private func advance(_ assembly: inout ContentAssembly, _ step: ContentAssembly.Step, channel: UInt16) {
        switch step {
        case .needMore:
            channels[channel]?.assembly = assembly
        case .protocolViolation(let what):
            protocolViolation(what, channel: channel)
        case .complete:
            channels[channel]?.assembly = nil
            complete(assembly, channel: channel)
        }
    }

    private func complete(_ message: ContentAssembly, channel: UInt16) {
        guard let state = channels[channel] else { return }
        let properties = message.properties ?? AMQPProperties()
        switch message.origin {
        case .delivery(let tag, let redelivered, let exchange, let routingKey, let consumerTag):
            let delivery = AMQPDelivery(
                deliveryTag: tag, redelivered: redelivered, exchange: exchange, routingKey: routingKey,
                consumerTag: consumerTag, properties: properties, body: message.body)
            if let consumer = state.consumers[consumerTag], !consumer.buffer.isFinished {
                state.ledger.delivered(tag, settled: consumer.noAck)
                stage(delivery, for: consumer.buffer)
            } else {
                state.ledger.delivered(tag, settled: false)
                // Raced a cancel: give it back to the queue rather than hold it unacked.
                _ = send(amqp_basic_reject(self.state, channel, tag, flag(true)), "basic.reject")
            }
        case .returned(let code, let text, let exchange, let routingKey):
            let returned = AMQPReturnedMessage(
                replyCode: code, replyText: text, exchange: exchange, routingKey: routingKey, properties: properties,
                body: message.body)
            if !state.confirms.returned(returned) {
                logger.warning(
                    "message returned by the broker",
                    metadata: ["exchange": "\(exchange)", "routing_key": "\(routingKey)", "reply": "\(code) \(text)"])
            }
        case .get(let tag, let redelivered, let exchange, let routingKey, let count):
            let delivery = AMQPDelivery(
                deliveryTag: tag, redelivered: redelivered, exchange: exchange, routingKey: routingKey, consumerTag: "",
                properties: properties, body: message.body, messageCount: count)
            state.settleGet(.success(delivery))
        }
    }

    private func protocolViolation(_ what: String, channel: UInt16) {
        connectionFailed(
            AMQPError(
                code: .protocolError, operation: "read message on channel \(channel)", replyText: what,
                endpoint: configuration.redactedURL))
    }

    // MARK: Errors

    private func live(_ operation: String, channel: UInt16? = nil) throws(AMQPError) -> amqp_connection_state_t {
        guard let conn = state else { throw closedError(operation, channel: nil) }
        if let channel, channels[channel] == nil { throw closedError(operation, channel: channel) }
        return conn
    }

    private func closedError(_ operation: String, channel: UInt16?) -> AMQPError {
        if state == nil {
            var error = failure ?? AMQPError(code: .connectionClosed, operation: operation, replyText: "the connection is closed")
            error.operation = operation
            error.endpoint = configuration.redactedURL
            return error
        }
        return AMQPError(
            code: .channelClosed, operation: operation, replyText: "channel \(channel ?? 0) is closed",
            endpoint: configuration.redactedURL)
    }

    private func check(_ operation: String, channel: UInt16) throws(AMQPError) {
        guard let conn = state else { throw closedError(operation, channel: nil) }
        try check(amqp_get_rpc_reply(conn), operation, channel: channel)
    }

    /// Turns a failed RPC reply into an error, doing what AMQP requires: a broker-closed channel is
    /// acknowledged and forgotten; a broker-closed or broken connection is torn down.
    private func check(_ reply: amqp_rpc_reply_t, _ operation: String, channel: UInt16) throws(AMQPError) {
        guard reply.reply_type != AMQP_RESPONSE_NORMAL else { return }
        let error = Self.error(from: reply, operation: operation, endpoint: configuration.redactedURL)
        if reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, reply.reply.id == courier_method_channel_close {
            acknowledgeChannelClose(channel)
            forget(channel: channel, with: error)
        } else if reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, reply.reply.id == courier_method_connection_close {
            acknowledgeConnectionClose()
            connectionFailed(error)
        } else {
            connectionFailed(error)
        }
        throw error
    }

    static func error(from reply: amqp_rpc_reply_t, operation: String, endpoint: String) -> AMQPError {
        switch reply.reply_type {
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == courier_method_channel_close, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                return AMQPError(
                    code: .channelClosed, operation: operation, replyCode: close.reply_code,
                    replyText: CDecoding.string(close.reply_text), endpoint: endpoint)
            }
            if reply.reply.id == courier_method_connection_close, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                let code: AMQPError.Code = close.reply_code == 403 || close.reply_code == 530 ? .accessRefused : .connectionClosed
                return AMQPError(
                    code: code, operation: operation, replyCode: close.reply_code,
                    replyText: CDecoding.string(close.reply_text), endpoint: endpoint)
            }
            return AMQPError(
                code: .protocolError, operation: operation, replyText: "unexpected method \(reply.reply.id)",
                endpoint: endpoint)
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return socketError(reply.library_error, operation: operation, endpoint: endpoint)
        default:
            return AMQPError(code: .protocolError, operation: operation, replyText: "no reply", endpoint: endpoint)
        }
    }

    private func socketError(_ status: Int32, operation: String) -> AMQPError {
        Self.socketError(status, operation: operation, endpoint: configuration.redactedURL)
    }

    static func socketError(_ status: Int32, operation: String, endpoint: String) -> AMQPError {
        let code: AMQPError.Code
        switch status {
        case AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue: code = .heartbeatTimeout
        case AMQP_STATUS_TIMEOUT.rawValue: code = .timeout
        case AMQP_STATUS_CONNECTION_CLOSED.rawValue, AMQP_STATUS_SOCKET_CLOSED.rawValue, AMQP_STATUS_SOCKET_ERROR.rawValue:
            code = .connectionClosed
        default: code = .protocolError
        }
        return AMQPError(code: code, operation: operation, libraryStatus: CDecoding.statusText(status), endpoint: endpoint)
    }

    private func acknowledgeChannelClose(_ channel: UInt16) {
        guard let conn = state else { return }
        var ok = amqp_channel_close_ok_t(dummy: 0)
        _ = amqp_send_method(conn, channel, courier_method_channel_close_ok, &ok)
    }

    private func acknowledgeConnectionClose() {
        guard let conn = state else { return }
        var ok = amqp_connection_close_ok_t(dummy: 0)
        _ = amqp_send_method(conn, 0, courier_method_connection_close_ok, &ok)
    }
}

/// Lets the executor call back into the connection without keeping it alive.
private final class IOPump: ThreadExecutorIOSource, @unchecked Sendable {
    weak var connection: AMQPConnection?
    init(connection: AMQPConnection) { self.connection = connection }

    func service(socketReady: Bool) -> ThreadExecutor.Wait {
        guard let connection else { return .idle }
        return connection.assumeIsolated { $0.pump(socketReady: socketReady) }
    }
}

@inline(__always) private func flag(_ value: Bool) -> amqp_boolean_t { value ? 1 : 0 }

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
