import CRabbitMQ
import CourierConcurrency
import Foundation
import Logging
import Synchronization

// Channels and the broker operations: the synchronous ones (declare, bind, consume, get...)
// and publishing, queued to the connection's thread.
extension AMQPConnection {
    // MARK: Channels

    /// Opens a new channel.
    package func openChannel() throws -> AMQPChannel {
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

    // MARK: Publishing (queued to the thread, in order)

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
}
