import ArgumentParser
import CourierAMQP
import CourierFailureIndex
import Foundation

/// `courier dlq show ID`: one parked message in full, from the index or else from the queue.
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "One parked message: every property and header, the body pretty-printed.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Failure id, or its first 8 characters or more.")
    var id: String

    func run() async throws {
        try await runCommand {
            let context = try await CommandContext.load(global)
            let id = self.id
            let entries = try await context.withIndex { try $1.find(id, on: $0) }
            var message: ParkedMessage
            var entry: FailureIndex.Entry?
            if entries.count > 1 {
                throw OpsError(
                    .usage, "'\(id)' matches \(entries.count) failures: \(entries.map(\.message.failureID).joined(separator: ", ")); give more of the id")
            } else if let found = entries.first {
                (message, entry) = (found.message, found)
                // The queue's copy, when it is still there, has the broker's headers (x-death, …) too.
            } else {
                // Not indexed (parked while Postgres was down, or by the broker): look in the queue.
                let found = try await context.withBroker {
                    try await DeadLetterQueue(connection: $0, topology: context.topology).browse(DeadLetterFilter(ids: [id]))
                }
                guard found.count == 1 else {
                    if found.isEmpty { throw OpsError(.notFound, "no failure \(id) in the index or in \(context.topology.deadLetterQueue)") }
                    throw OpsError(.usage, "'\(id)' matches \(found.count) messages in the queue; give more of the id")
                }
                message = found[0]
            }
            if global.json {
                try Output.json(ParkedJSON(message, entry: entry, full: true))
                return
            }
            render(message, entry: entry)
        }
    }

    func render(_ m: ParkedMessage, entry: FailureIndex.Entry?) {
        func field(_ name: String, _ value: String?) {
            guard let value, !value.isEmpty else { return }
            let name = Output.printable(name)  // header names and values are the publisher's
            let label = name.count < 22 ? name.padding(toLength: 22, withPad: " ", startingAt: 0) : name + " "
            Output.line("  " + Output.bold(label) + Output.printable(value))
        }
        Output.line(Output.bold("Failure \(Output.printable(m.failureID))"))
        field("status", entry?.status.rawValue ?? "in the queue, not indexed (run `courier dlq sync`)")
        field("reason", m.reason)
        field("error class", m.errorClass)
        field("error", m.errorMessage)
        field("fingerprint", m.fingerprint)
        field("handler", m.handler)
        field("attempts", "\(m.attempts)")
        field("failed at", "\(Output.timestamp(m.failedAt)) (\(Output.age(since: m.failedAt)) ago)")
        field("host", m.host)
        if let entry, let replayedAt = entry.replayedAt {
            field("replayed", "\(entry.replayCount)× in all — last \(Output.timestamp(replayedAt)) by \(entry.replayedBy ?? "?")")
        } else if m.replayCount > 0 {
            field("replayed before", "\(m.replayCount)×")
        }
        Output.line()
        Output.line(Output.bold("Origin"))
        field("exchange", m.origin.exchange.isEmpty ? "(default)" : m.origin.exchange)
        field("routing key", m.origin.routingKey)
        field("queue", m.origin.queue)
        field("dead-letter queue", m.deadLetterQueue)
        Output.line()
        Output.line(Output.bold("Properties"))
        let p = m.properties
        field("message_id", p.messageID)
        field("type", p.type)
        field("content_type", p.contentType)
        field("content_encoding", p.contentEncoding)
        field("delivery_mode", p.deliveryMode.map { $0 == .persistent ? "2 (persistent)" : "1 (transient)" })
        field("timestamp", p.timestamp.map { Output.timestamp(seconds: $0) })
        field("app_id", p.appID)
        field("correlation_id", p.correlationID)
        field("user_id", p.userID)
        field("priority", p.priority.map(String.init))
        field("expiration", p.expiration)
        field("reply_to", p.replyTo)
        Output.line()
        Output.line(Output.bold("Headers"))
        for (key, value) in (p.headers ?? AMQPTable()).entries.sorted(by: { $0.key < $1.key }) {
            field(key, Self.describe(value))
        }
        Output.line()
        Output.line(Output.bold("Body") + Output.dim(" (\(m.body.count) bytes)"))
        Output.line(Self.pretty(m.body))
    }

    static func describe(_ value: AMQPFieldValue) -> String {
        switch value {
        case .string(let s): s
        case .timestamp(let t): "\(Output.timestamp(seconds: t)) (timestamp)"
        case .array(let items): "[" + items.map(describe).joined(separator: ", ") + "]"
        case .table(let table): "{" + table.entries.map { "\($0.key): \(describe($0.value))" }.joined(separator: ", ") + "}"
        default: value.description
        }
    }

    /// Indented JSON when the body is JSON; the text as it is, or a hex dump of the first bytes.
    static func pretty(_ body: [UInt8]) -> String {
        if let object = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]),
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        {
            return String(decoding: data, as: UTF8.self)
        }
        if let text = String(validating: body, as: UTF8.self) { return Output.printable(text, keepingNewlines: true) }
        return body.prefix(256).map { String(format: "%02x", $0) }.joined(separator: " ") + (body.count > 256 ? " …" : "")
    }
}
