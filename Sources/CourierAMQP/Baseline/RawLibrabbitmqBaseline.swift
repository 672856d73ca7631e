import CRabbitMQ
import CourierConcurrency
import Foundation

/// Plain loops over librabbitmq's C calls, with no Courier machinery: the yardstick
/// `courier-bench` measures ``AMQPConnection`` against in the same run.
///
/// They live here because this module is the only one allowed to import librabbitmq. Each loop
/// runs on a thread of its own (never on the cooperative pool) and is as lean as a hand-written
/// C consumer or publisher would be.
package enum RawLibrabbitmqBaseline {
    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    /// Publishes `count` persistent copies of `body` to `queue` (default exchange) with streaming
    /// confirms, at most `window` unconfirmed at a time. Returns when all are confirmed.
    package static func publishWithConfirms(
        _ configuration: AMQPConfiguration, queue: String, body: [UInt8], count: Int, window: Int
    ) async throws -> Duration {
        try await onOwnThread {
            let conn = try open(configuration)
            defer { close(conn) }
            _ = amqp_confirm_select(conn, 1)
            try checkReply(conn, "confirm.select")

            let arena = CArena()
            var properties = arena.properties(
                AMQPProperties(contentType: "application/json", deliveryMode: .persistent, type: "CardAddedToLibraryEvent"))
            let routingKey = arena.bytes(queue)
            var settled = [Bool](repeating: false, count: count + 1)
            var lowestUnsettled: UInt64 = 1
            var settledCount = 0

            func readConfirm(block: Bool) throws {
                var frame = amqp_frame_t()
                var timeout = timeval(tv_sec: block ? 5 : 0, tv_usec: 0)
                let status = amqp_simple_wait_frame_noblock(conn, &frame, &timeout)
                if status == AMQP_STATUS_TIMEOUT.rawValue {
                    if block { throw Failure(description: "no confirm within 5 s") }
                    return
                }
                guard status == AMQP_STATUS_OK.rawValue else { throw Failure(description: CDecoding.statusText(status)) }
                guard frame.frame_type == AMQP_FRAME_METHOD, let decoded = frame.payload.method.decoded else { return }
                let id = frame.payload.method.id
                guard id == courier_method_basic_ack || id == courier_method_basic_nack else { return }
                let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee  // nack shares the prefix
                let tag = ack.delivery_tag
                let upTo = ack.multiple != 0 ? lowestUnsettled : tag
                for t in upTo...tag where !settled[Int(t)] {
                    settled[Int(t)] = true
                    settledCount += 1
                }
                while lowestUnsettled <= UInt64(count), settled[Int(lowestUnsettled)] { lowestUnsettled += 1 }
            }

            let start = ContinuousClock.now
            try body.withUnsafeBytes { raw in
                let payload = amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress))
                for published in 1...count {
                    let status = amqp_basic_publish(conn, 1, amqp_empty_bytes, routingKey, 0, 0, &properties, payload)
                    guard status == AMQP_STATUS_OK.rawValue else { throw Failure(description: CDecoding.statusText(status)) }
                    while published - settledCount >= window { try readConfirm(block: true) }
                    amqp_maybe_release_buffers(conn)
                }
            }
            while settledCount < count { try readConfirm(block: true) }
            return ContinuousClock.now - start
        }
    }

    /// Publishes `messages` — each with its own body and properties — to `exchange` with
    /// `routingKey` (`mandatory` as given), streaming confirms as above: at most `window`
    /// unconfirmed at a time. Returns when all are confirmed; a returned (unroutable) message is an
    /// error. What a publisher of real events sends (message ids, headers...): the yardstick for a
    /// library that sends them.
    package static func publishWithConfirms(
        _ configuration: AMQPConfiguration, exchange: String, routingKey: String, mandatory: Bool,
        messages: [(body: [UInt8], properties: AMQPProperties)], window: Int
    ) async throws -> Duration {
        try await onOwnThread {
            let conn = try open(configuration)
            defer { close(conn) }
            _ = amqp_confirm_select(conn, 1)
            try checkReply(conn, "confirm.select")

            let count = messages.count
            let arena = CArena()
            var settled = [Bool](repeating: false, count: count + 1)
            var lowestUnsettled: UInt64 = 1
            var settledCount = 0

            func readConfirm() throws {
                var frame = amqp_frame_t()
                var timeout = timeval(tv_sec: 5, tv_usec: 0)
                let status = amqp_simple_wait_frame_noblock(conn, &frame, &timeout)
                if status == AMQP_STATUS_TIMEOUT.rawValue { throw Failure(description: "no confirm within 5 s") }
                guard status == AMQP_STATUS_OK.rawValue else { throw Failure(description: CDecoding.statusText(status)) }
                guard frame.frame_type == AMQP_FRAME_METHOD, let decoded = frame.payload.method.decoded else { return }
                let id = frame.payload.method.id
                if id == courier_method_basic_return { throw Failure(description: "a message was returned (unroutable)") }
                guard id == courier_method_basic_ack || id == courier_method_basic_nack else { return }
                let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee  // nack shares the prefix
                let tag = ack.delivery_tag
                let upTo = ack.multiple != 0 ? lowestUnsettled : tag
                for t in upTo...tag where !settled[Int(t)] {
                    settled[Int(t)] = true
                    settledCount += 1
                }
                while lowestUnsettled <= UInt64(count), settled[Int(lowestUnsettled)] { lowestUnsettled += 1 }
            }

            let start = ContinuousClock.now
            for (index, message) in messages.enumerated() {
                var properties = arena.properties(message.properties)
                let status = message.body.withUnsafeBytes { raw in
                    amqp_basic_publish(
                        conn, 1, arena.bytes(exchange), arena.bytes(routingKey), mandatory ? 1 : 0, 0, &properties,
                        amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress)))
                }
                arena.recycle()
                guard status == AMQP_STATUS_OK.rawValue else { throw Failure(description: CDecoding.statusText(status)) }
                while index + 1 - settledCount >= window { try readConfirm() }
                amqp_maybe_release_buffers(conn)
            }
            while settledCount < count { try readConfirm() }
            return ContinuousClock.now - start
        }
    }

    /// Consumes `count` messages from `queue` with manual acks: prefetch `prefetch`, acking each
    /// message when `ackEvery` is 1, else one `multiple` ack per `ackEvery` messages.
    package static func consume(
        _ configuration: AMQPConfiguration, queue: String, count: Int, prefetch: UInt16, ackEvery: Int
    ) async throws -> Duration {
        try await onOwnThread {
            let conn = try open(configuration)
            defer { close(conn) }
            _ = amqp_basic_qos(conn, 1, 0, prefetch, 0)
            try checkReply(conn, "basic.qos")
            let arena = CArena()
            _ = amqp_basic_consume(conn, 1, arena.bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table)
            try checkReply(conn, "basic.consume")

            let start = ContinuousClock.now
            var lastTag: UInt64 = 0
            for received in 1...count {
                amqp_maybe_release_buffers(conn)
                var envelope = amqp_envelope_t()
                let reply = amqp_consume_message(conn, &envelope, nil, 0)
                guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
                    throw Failure(description: "consume failed: \(CDecoding.statusText(reply.library_error))")
                }
                lastTag = envelope.delivery_tag
                if ackEvery == 1 {
                    _ = amqp_basic_ack(conn, 1, lastTag, 0)
                } else if received % ackEvery == 0 {
                    _ = amqp_basic_ack(conn, 1, lastTag, 1)
                }
                amqp_destroy_envelope(&envelope)
            }
            if ackEvery > 1, count % ackEvery != 0 { _ = amqp_basic_ack(conn, 1, lastTag, 1) }
            return ContinuousClock.now - start
        }
    }

    // MARK: Plumbing

    private static func open(_ configuration: AMQPConfiguration) throws -> amqp_connection_state_t {
        guard let conn = amqp_new_connection(), let socket = amqp_tcp_socket_new(conn) else {
            throw Failure(description: "cannot allocate a connection")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        let status = amqp_socket_open_noblock(socket, configuration.host, Int32(configuration.port), &timeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            amqp_destroy_connection(conn)
            throw Failure(description: "cannot connect: \(CDecoding.statusText(status))")
        }
        var properties = amqp_empty_table
        let reply = courier_amqp_login_plain(
            conn, configuration.vhost, 0, Int32(configuration.frameMax), Int32(configuration.heartbeat), &properties,
            configuration.user, configuration.password)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            amqp_destroy_connection(conn)
            throw Failure(description: "login failed")
        }
        _ = amqp_channel_open(conn, 1)
        try checkReply(conn, "channel.open")
        return conn
    }

    private static func close(_ conn: amqp_connection_state_t) {
        _ = amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS)
        _ = amqp_connection_close(conn, AMQP_REPLY_SUCCESS)
        amqp_destroy_connection(conn)
    }

    private static func checkReply(_ conn: amqp_connection_state_t, _ operation: String) throws {
        let reply = amqp_get_rpc_reply(conn)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            throw AMQPConnection.error(from: reply, operation: operation, endpoint: "")
        }
    }

    private static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let executor = ThreadExecutor(name: "raw-baseline")
        defer { executor.shutdown() }
        return try await withCheckedThrowingContinuation { continuation in
            executor.execute { continuation.resume(with: Result { try body() }) }
        }
    }
}
