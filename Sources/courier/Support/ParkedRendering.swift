import CourierFailureIndex
import Foundation

/// A parked message (and its index row, when there is one) as `--json` prints it.
struct ParkedJSON: Encodable {
    var failureID: String
    var status: String?
    var eventType: String
    var messageID: String?
    var reason: String
    var errorClass: String
    var errorMessage: String
    var fingerprint: String
    var handler: String?
    var attempts: Int
    var failedAt: Date
    var originalExchange: String
    var originalRoutingKey: String
    var originalQueue: String
    var deadLetterQueue: String
    var host: String?
    var replayCount: Int
    var replayedAt: Date?
    var replayedBy: String?
    var properties: [String: FieldJSON]?
    var body: String?

    enum CodingKeys: String, CodingKey {
        case failureID = "failure_id", status, eventType = "event_type", messageID = "message_id", reason
        case errorClass = "error_class", errorMessage = "error_message", fingerprint, handler, attempts
        case failedAt = "failed_at", originalExchange = "original_exchange", originalRoutingKey = "original_routing_key"
        case originalQueue = "original_queue", deadLetterQueue = "dead_letter_queue", host, replayCount = "replay_count"
        case replayedAt = "replayed_at", replayedBy = "replayed_by", properties, body
    }

    init(_ message: ParkedMessage, entry: FailureIndex.Entry? = nil, full: Bool = false) {
        failureID = message.failureID
        status = entry?.status.rawValue
        eventType = message.eventType
        messageID = message.messageID
        reason = message.reason
        errorClass = message.errorClass
        errorMessage = message.errorMessage
        fingerprint = message.fingerprint
        handler = message.handler
        attempts = message.attempts
        failedAt = message.failedAt
        originalExchange = message.origin.exchange
        originalRoutingKey = message.origin.routingKey
        originalQueue = message.origin.queue
        deadLetterQueue = message.deadLetterQueue
        host = message.host
        replayCount = entry?.replayCount ?? message.replayCount
        replayedAt = entry?.replayedAt
        replayedBy = entry?.replayedBy
        if full {
            properties = PropertiesJSON.encode(message.properties)
            body = String(validating: message.body, as: UTF8.self) ?? Data(message.body).base64EncodedString()
        }
    }
}

extension Output {
    /// The short table of parked messages a dry-run replay and a purge's question show.
    static func parkedTable<Messages: Sequence<ParkedMessage>>(_ messages: Messages) {
        table(
            ["ID", "TYPE", "ERROR", "FAILED AT"],
            messages.map { [String($0.failureID.prefix(8)), $0.eventType, $0.errorClass, timestamp($0.failedAt)] })
    }

    /// `1 message`, `2 messages`.
    static func count(_ count: Int, _ noun: String = "message") -> String {
        "\(count) \(noun)\(count == 1 ? "" : "s")"
    }
}
