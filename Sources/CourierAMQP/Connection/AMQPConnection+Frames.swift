import CRabbitMQ
import CourierConcurrency
import Foundation
import Logging
import Synchronization

// What the connection's thread reads between jobs: frames, assembled into deliveries, returns
// and `basic.get` replies, and the broker's confirms, cancels, closes and blocks.
//
// Not (yet) a value-type state machine returning actions (issue 17): the decisions in here that
// are worth testing without I/O already are pure and tested (ContentAssembly's steps,
// ConfirmTracker, DeliveryTagLedger, encodingProblem); what is left is glue over librabbitmq's
// frames, whose decoded payloads live in its buffers only until the next read. A machine would
// need those copied into Swift events first and the per-channel state (consumers, pending get,
// confirms, ledger), which the operations also change, moved into it: a rewrite of the hot path
// the benchmark measures, not a move.
extension AMQPConnection {
    // MARK: Reading frames (called by the executor between jobs)

    /// Reads what the socket has, without blocking; says what to wait for next.
    func pump(socketReady: Bool) -> ThreadExecutor.Wait {
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
    func drainQueuedFrames() {
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

    func handOverStagedDeliveries() {
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
}
