import CourierAMQP
import CourierFailureIndex
import Foundation

/// One line of `courier dlq export` (JSON lines): a parked message, complete enough to be
/// imported into another environment's dead-letter queue with `courier dlq import`.
///
/// ```json
/// {"failure_id":"…","event_type":"CardAddedToLibraryEvent","error_class":"InvalidField",
///  "routing_key":"CardAddedToLibraryEvent","properties":{"message_id":"…","headers":{…}},"body":"{…}"}
/// ```
/// `body` is the body as text when it is UTF-8, else `body_base64`. The broker's per-delivery
/// counter `x-delivery-count` is not exported (it describes this queue's deliveries, not the
/// message).
struct ExportedMessage: Sendable, Codable, Equatable {
    var failureID: String
    var eventType: String
    var errorClass: String
    var deadLetterQueue: String
    /// The routing key it was first published with.
    var routingKey: String
    var properties: [String: FieldJSON]
    var body: String?
    var bodyBase64: String?

    enum CodingKeys: String, CodingKey {
        case failureID = "failure_id"
        case eventType = "event_type"
        case errorClass = "error_class"
        case deadLetterQueue = "dead_letter_queue"
        case routingKey = "routing_key"
        case properties, body
        case bodyBase64 = "body_base64"
    }

    init(_ message: ParkedMessage) {
        failureID = message.failureID
        eventType = message.eventType
        errorClass = message.errorClass
        deadLetterQueue = message.deadLetterQueue
        routingKey = message.origin.routingKey
        var properties = message.properties
        properties.headers?["x-delivery-count"] = nil
        self.properties = PropertiesJSON.encode(properties)
        if let text = String(validating: message.body, as: UTF8.self) {
            body = text
        } else {
            bodyBase64 = Data(message.body).base64EncodedString()
        }
    }

    var amqpProperties: AMQPProperties { PropertiesJSON.decode(properties) }

    func bodyBytes() throws -> [UInt8] {
        if let body { return Array(body.utf8) }
        if let bodyBase64, let data = Data(base64Encoded: bodyBase64) { return Array(data) }
        throw OpsError(.invalidInput, "message \(failureID) has neither body nor a valid body_base64")
    }

    /// One line, keys sorted.
    func jsonLine() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Parses JSON lines (blank lines skipped); an unreadable line is an error naming its number.
    static func parse(lines text: String) throws -> [ExportedMessage] {
        var messages: [ExportedMessage] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            do {
                messages.append(try JSONDecoder().decode(ExportedMessage.self, from: Data(trimmed.utf8)))
            } catch {
                throw OpsError(.invalidInput, "line \(number + 1) is not an exported message: \(error)")
            }
        }
        return messages
    }
}
