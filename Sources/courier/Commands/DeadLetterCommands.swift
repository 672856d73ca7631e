import ArgumentParser
import CourierAMQP
import CourierEngine
import CourierFailureIndex
import CourierPostgres
import Foundation

/// `courier dlq …`: the dead-letter queue of this app (`events_<app>.dlq`).
struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect, replay, purge, export and import the dead-letter queue.",
        discussion: """
            list, show and stats read the failure index in Postgres (courierd records every message it \
            parks); replay, purge and export read the queue itself, which is the truth. sync brings \
            the index in line with the queue.
            """,
        subcommands: [
            ListCommand.self, ShowCommand.self, StatsCommand.self, ReplayCommand.self, PurgeCommand.self,
            ExportCommand.self, ImportCommand.self, SyncCommand.self,
        ])
}

/// Selection by event type, error class, fingerprint and age (combined with AND).
struct FilterOptions: ParsableArguments {
    @Option(name: .customLong("type"), help: "Event type, e.g. CardAddedToLibraryEvent (repeatable).")
    var types: [String] = []

    @Option(name: .customLong("error"), help: "Error class, e.g. InvalidField (repeatable).")
    var errorClasses: [String] = []

    @Option(name: .customLong("fingerprint"), help: "Error fingerprint, as `dlq stats` shows it (repeatable).")
    var fingerprints: [String] = []

    @Option(help: "Failed within this long (30m, 2h, 7d) or since this date (2026-11-28, 2026-11-28T10:00:00Z).")
    var since: String?

    func filter(ids: [String] = [], all: Bool = false) throws -> DeadLetterFilter {
        var sinceDate: Date?
        if let since {
            guard let date = DeadLetterFilter.parseSince(since) else {
                throw OpsError(.usage, "--since '\(since)' is neither a duration like 2h or 7d nor a date like 2026-11-28")
            }
            sinceDate = date
        }
        return DeadLetterFilter(
            ids: ids, types: types, errorClasses: errorClasses, fingerprints: fingerprints, since: sinceDate, all: all)
    }
}

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

// MARK: list

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Parked messages from the failure index, newest first.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions

    @Option(help: "parked (default), replayed, purged, gone, or all.")
    var status = "parked"

    @Option(help: "At most this many rows.")
    var limit = 50

    func run() async throws {
        try await runCommand {
            let context = try await CommandContext.load(global)
            let statuses = try parseStatuses(status)
            guard limit > 0 else { throw OpsError(.usage, "--limit must be at least 1") }
            let filter = try filters.filter()
            let limit = self.limit
            let entries = try await context.withIndex { try $1.list(filter, statuses: statuses, limit: limit, on: $0) }
            if global.json {
                try Output.json(entries.map { ParkedJSON($0.message, entry: $0) })
                return
            }
            if entries.isEmpty {
                Output.line("no \(status == "all" ? "" : status + " ")messages in the failure index of \(context.topology.deadLetterQueue) match")
                return
            }
            Output.table(
                ["ID", "TYPE", "ERROR", "ATTEMPTS", "FAILED AT", "AGE"] + (status == "parked" ? [] : ["STATUS"]),
                entries.map { entry in
                    let m = entry.message
                    return [
                        String(m.failureID.prefix(8)), m.eventType, m.errorClass, "\(m.attempts)", Output.timestamp(m.failedAt),
                        Output.age(since: m.failedAt),
                    ] + (status == "parked" ? [] : [entry.status.rawValue])
                })
            if entries.count == limit { Output.note(Output.dim("(first \(limit); --limit N for more)")) }
        }
    }
}

func parseStatuses(_ text: String) throws -> [FailureIndex.Status] {
    if text == "all" { return FailureIndex.Status.allCases }
    return try text.split(separator: ",").map { part in
        guard let status = FailureIndex.Status(rawValue: String(part)) else {
            throw OpsError(.usage, "--status '\(part)' is not parked, replayed, purged, gone or all")
        }
        return status
    }
}

// MARK: show

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

// MARK: stats

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Parked messages counted by fingerprint, error class and event type.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions

    struct Report: Encodable {
        var deadLetterQueue: String
        var queueMessages: Int?
        var index: FailureIndex.Stats
        enum CodingKeys: String, CodingKey {
            case deadLetterQueue = "dead_letter_queue", queueMessages = "queue_messages", index
        }
    }

    func run() async throws {
        try await runCommand {
            let context = try await CommandContext.load(global)
            let filter = try filters.filter()
            let stats = try await context.withIndex { try $1.stats(filter, on: $0) }
            // The queue's own count, to show when the index has drifted from it.
            let depth = try? await context.withBroker {
                Int(try await DeadLetterQueue(connection: $0, topology: context.topology).requireQueue(context.topology.deadLetterQueue).messageCount)
            }
            if global.json {
                try Output.json(Report(deadLetterQueue: context.topology.deadLetterQueue, queueMessages: depth, index: stats))
                return
            }
            Output.line(
                Output.bold("\(stats.total) parked") + " in the failure index of \(context.topology.deadLetterQueue)"
                    + (depth.map { "; the queue holds \($0)" } ?? "; the queue's depth is unknown (broker unreachable)"))
            if let depth, depth != stats.total, filter == DeadLetterFilter() {
                Output.line(Output.red("the index and the queue differ: run `courier dlq sync`"))
            }
            if let oldest = stats.oldest, let newest = stats.newest {
                Output.line("oldest \(Output.timestamp(oldest)) (\(Output.age(since: oldest)) ago), newest \(Output.timestamp(newest)) (\(Output.age(since: newest)) ago)")
            }
            guard stats.total > 0 else { return }
            Output.line()
            Output.table(
                ["FINGERPRINT", "COUNT", "ERROR", "OLDEST", "NEWEST", "MESSAGE"],
                stats.byFingerprint.map {
                    [$0.key, "\($0.count)", $0.errorClass ?? "", Output.age(since: $0.oldest), Output.age(since: $0.newest),
                     Output.truncated($0.sampleMessage ?? "", 60)]
                })
            Output.line()
            Output.table(["ERROR CLASS", "COUNT"], stats.byErrorClass.map { [$0.key, "\($0.count)"] })
            Output.line()
            Output.table(["EVENT TYPE", "COUNT"], stats.byEventType.map { [$0.key, "\($0.count)"] })
        }
    }
}
