import CRabbitMQ
import CourierConcurrency
import Foundation
import Logging
import Synchronization

// The actor's state, opening and closing are here; the rest is split by concern, one extension
// per file: AMQPConnection+Operations (channels, declare/bind/consume/get, publishing),
// +Settlement (acks, nacks, rejects), +Frames (what the thread reads between jobs), +Errors
// (librabbitmq's replies and statuses as AMQPError); IOPump.swift is how the executor calls in.

/// One connection to RabbitMQ, over librabbitmq.
///
/// An actor on its own ``ThreadExecutor``: every C call for this connection happens on one
/// dedicated thread, so librabbitmq is never used from two threads and its blocking calls never
/// run on Swift's cooperative pool. Between operations the thread reads frames without blocking
/// — deliveries, publisher confirms, returns, heartbeats, closes — and sleeps in `poll(2)` on the
/// socket and its wake-up pipe, so an ack or a publish queued from any task is sent at once.
package actor AMQPConnection {
    package nonisolated let configuration: AMQPConfiguration
    nonisolated let executor: ThreadExecutor
    let logger: Logger

    package nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// The connection's thread as a task executor. A consuming loop run under
    /// `withTaskExecutorPreference(connection.taskExecutor)` receives deliveries and sends acks
    /// without a thread hop; keep such a loop light (hand heavy work to other tasks), since the
    /// same thread also reads the socket and answers heartbeats.
    package nonisolated var taskExecutor: any TaskExecutor { executor }

    var state: amqp_connection_state_t?
    var failure: AMQPError?
    var channels: [UInt16: ChannelState] = [:]
    let arena = CArena()
    var interner = StringInterner()
    var heartbeatSeconds: Int = 0
    var negotiatedChannelMax: Int = 0
    let negotiatedFrameMax = Atomic<Int>(0)
    private var closeWaiters: [Int: CheckedContinuation<AMQPError?, Never>] = [:]
    private var nextCloseWaiter = 0
    /// Deliveries read in the current pass, handed to their consumers together when it ends.
    var staged: [(buffer: DeliveryBuffer, deliveries: [AMQPDelivery])] = []
    var holdingSince: ContinuousClock.Instant?
    static let handOverWindow: Duration = .microseconds(500)
    /// True while the broker has blocked publishing (`connection.blocked`, resource alarm).
    package internal(set) var isBlocked = false
    /// The broker's reason for the block (e.g. "low on memory"), while blocked.
    package internal(set) var blockedReason: String?
    var blockedObserver: (@Sendable (_ blockedReason: String?) -> Void)?

    /// Hears every `connection.blocked` (with the broker's reason) and `connection.unblocked`
    /// (nil) from now on; called on the connection's thread, so it must be quick.
    /// Publishes on a blocked connection are not lost: they wait in the socket until the alarm
    /// clears, and their confirms arrive then.
    package func observeBlocking(_ observer: @escaping @Sendable (_ blockedReason: String?) -> Void) {
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
    package static func connect(
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
    package static func connect(url: String, logger: Logger = Logger(label: "courier.amqp")) async throws -> AMQPConnection {
        try await connect(try AMQPConfiguration(url: url), logger: logger)
    }

    /// The negotiated heartbeat interval in seconds (0: none).
    package var heartbeat: Int { heartbeatSeconds }

    /// The largest frame the broker accepts on this connection (`frame_max`, negotiated at login;
    /// 0 before). A message's properties must fit one frame: see ``AMQPProperties/headerFrameSize``.
    package nonisolated var maximumFrameSize: Int { negotiatedFrameMax.load(ordering: .relaxed) }

    /// True until the connection was closed by either side or failed.
    package var isOpen: Bool { state != nil && failure == nil }

    /// Suspends until the connection closes or fails; returns the failure (`nil` after ``close()``).
    /// Cancelling the waiting task ends the wait early, returning nil.
    package func waitUntilClosed() async -> AMQPError? {
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
    package func close() {
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
    func forget(channel id: UInt16, with error: AMQPError) {
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

    func connectionFailed(_ error: AMQPError) {
        guard state != nil else { return }
        logger.warning("AMQP connection lost", metadata: ["error": "\(error)"])
        tearDown(error, reportAsFailure: true)
    }
}

@inline(__always) func flag(_ value: Bool) -> amqp_boolean_t { value ? 1 : 0 }

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
