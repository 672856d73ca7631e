import CRabbitMQ
import CourierConcurrency
import Foundation
import Logging
import Synchronization

// From librabbitmq's replies and statuses to AMQPError, and what AMQP requires when the broker
// closes a channel or the connection.
extension AMQPConnection {
    // MARK: Errors

    func live(_ operation: String, channel: UInt16? = nil) throws(AMQPError) -> amqp_connection_state_t {
        guard let conn = state else { throw closedError(operation, channel: nil) }
        if let channel, channels[channel] == nil { throw closedError(operation, channel: channel) }
        return conn
    }

    func closedError(_ operation: String, channel: UInt16?) -> AMQPError {
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

    func check(_ operation: String, channel: UInt16) throws(AMQPError) {
        guard let conn = state else { throw closedError(operation, channel: nil) }
        try check(amqp_get_rpc_reply(conn), operation, channel: channel)
    }

    /// Turns a failed RPC reply into an error, doing what AMQP requires: a broker-closed channel is
    /// acknowledged and forgotten; a broker-closed or broken connection is torn down.
    func check(_ reply: amqp_rpc_reply_t, _ operation: String, channel: UInt16) throws(AMQPError) {
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

    func socketError(_ status: Int32, operation: String) -> AMQPError {
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

    func acknowledgeChannelClose(_ channel: UInt16) {
        guard let conn = state else { return }
        var ok = amqp_channel_close_ok_t(dummy: 0)
        _ = amqp_send_method(conn, channel, courier_method_channel_close_ok, &ok)
    }

    func acknowledgeConnectionClose() {
        guard let conn = state else { return }
        var ok = amqp_connection_close_ok_t(dummy: 0)
        _ = amqp_send_method(conn, 0, courier_method_connection_close_ok, &ok)
    }
}
