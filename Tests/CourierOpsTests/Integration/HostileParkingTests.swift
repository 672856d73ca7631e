import CourierAMQP
import CourierEngine
import CourierFailureIndex
import CourierPostgres
import CourierTesting
import Foundation
import Logging
import Synchronization
import Testing

@testable import courier

/// Issue 12: the failure index records every parking, whatever a publisher put in its headers —
/// against the real broker and database, as courierd and `courier` write it.
@Suite("Hostile values in parked messages", .timeLimit(.minutes(10)), .tags(.integration))
struct HostileParkingTests {
    /// A parked message as courierd writes it, with `change` applied to its properties after.
    static func parkedProperties(
        _ f: OpsFixture, messageID: String, failureID: String = UUID().uuidString.lowercased(),
        _ change: (inout AMQPProperties, inout AMQPTable) -> Void = { _, _ in }
    ) -> AMQPProperties {
        var properties = FailureHeaders.deadLetter(
            AMQPProperties(contentType: "application/json", deliveryMode: .persistent, messageID: messageID, type: "CardAddedToLibraryEvent"),
            reason: .permanentFailure, failure: HandlingFailure(errorClass: "InvalidField", message: "bad", handler: "feeds"), attempts: 1,
            origin: MessageOrigin(exchange: "domain_events", routingKey: "CardAddedToLibraryEvent", queue: f.topology.appQueue),
            failedAt: Date(), host: "test", failureID: failureID)
        var headers = properties.headers ?? AMQPTable()
        change(&properties, &headers)
        properties.headers = headers
        return properties
    }

    /// Publishes straight into the dead-letter queue (confirmed): parked, but not indexed.
    static func parkUnindexed(_ f: OpsFixture, _ messages: [(body: [UInt8], properties: AMQPProperties)]) async throws {
        let channel = try await f.amqp.openChannel()
        try await channel.confirmSelect()
        for message in messages {
            let outcome = try await channel.publish(
                message.body, exchange: "", routingKey: f.topology.deadLetterQueue, properties: message.properties, mandatory: true)
            #expect(outcome == .acked, "\(outcome)")
        }
        try await channel.close()
    }

    @Test("absurd counters, NUL, invalid UTF-8, 100 KB values and bad ids: `dlq sync` indexes all, list and show work, replay does not trap")
    func everyHostileParkingIsIndexed() async throws {
        let f = try await OpsFixture.make()
        let huge = Int64(1) << 62
        let cases: [(String, (inout AMQPProperties, inout AMQPTable) -> Void)] = [
            ("attempts-2^62", { _, h in h[CourierHeader.attempts] = .int64(huge) }),
            ("attempts-max", { _, h in h[CourierHeader.attempts] = .int64(.max) }),
            ("attempts-max-text", { _, h in h[CourierHeader.attempts] = .string("9223372036854775807") }),
            ("attempts-negative", { _, h in h[CourierHeader.attempts] = .int64(-3) }),
            ("nul-message-id", { p, _ in p.messageID = "nul\u{0}id" }),
            ("nul-header", { _, h in h["x-note"] = "a\u{0}b"; h["x-\u{0}key"] = "v" }),
            ("nul-error-class", { _, h in h[CourierHeader.errorClass] = "Bad\u{0}Class"; h[CourierHeader.handler] = "h\u{0}" }),
            ("invalid-utf8", { _, h in h["x-binary"] = .bytes([0xFF, 0xFE, 0x00]); h[CourierHeader.host] = .bytes([0xC3, 0x28]) }),
            ("big-header", { _, h in h["x-big"] = .string(String(repeating: "b", count: 100_000)) }),
            ("big-error-message", { _, h in h[CourierHeader.errorMessage] = .string(String(repeating: "e", count: 100_000)) }),
            ("terminal-escape", { _, h in h["x-term"] = "\u{1B}[2J\u{1B}]0;pwned\u{07}" }),
            ("replay-count-max", { _, h in h[CourierHeader.replayCount] = .int64(.max) }),
            ("bad-failure-id", { _, h in h[CourierHeader.failureID] = "'; DROP TABLE courier_failures; --\u{0}" }),
            ("timestamp-max", { _, h in h[CourierHeader.failedAt] = .timestamp(.max) }),
            // (A NaN double is not here: RabbitMQ closes the connection on it, 541 — it never arrives.)
            ("broker-parked-absurd-death", { p, h in
                h = [
                    "x-death": .array([
                        .table([
                            "count": .int64(.max), "reason": "delivery_limit", "queue": .string(f.topology.appQueue),
                            "time": .timestamp(.max), "exchange": "domain_events", "routing-keys": .array(["CardAddedToLibraryEvent"]),
                        ])
                    ]),
                    "x-delivery-count": .int64(-1),
                ]
            }),
        ]
        let messages = cases.map { name, change in
            (body: Array(#"{"case":"\#(name)"}"#.utf8), properties: Self.parkedProperties(f, messageID: name, change))
        }
        try await Self.parkUnindexed(f, messages)
        let inQueue = try await f.queue.browse()
        #expect(inQueue.count == cases.count)
        let ids = Set(inQueue.map(\.failureID))
        #expect(ids.count == cases.count, "every parking has an id of its own")
        #expect(ids.allSatisfy(WireValue.isUUID))

        // The index knew none of them; sync indexes every one.
        let cli = try CLI.forApp(f.topology.settings.appName)
        let sync = try await cli.run(["dlq", "sync", "--json"])
        #expect(sync.status == 0, "\(sync.all)")
        let report = try JSONSerialization.jsonObject(with: Data(sync.stdout.utf8)) as? [String: Any]
        #expect(report?["indexed"] as? Int == cases.count, "\(sync.all)")
        #expect((report?["not_indexed"] as? [Any])?.isEmpty == true, "\(sync.all)")

        let listed = try await cli.run(["dlq", "list", "--json", "--limit", "100"])
        #expect(listed.status == 0, "\(listed.all)")
        let rows = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(Set(rows.compactMap { $0["failure_id"] as? String }) == ids, "\(listed.all)")
        func row(_ body: String) -> [String: Any]? {
            let id = inQueue.first { String(decoding: $0.body, as: UTF8.self).contains("\"\(body)\"") }?.failureID
            return rows.first { $0["failure_id"] as? String == id }
        }
        for name in ["attempts-2^62", "attempts-max", "attempts-max-text", "broker-parked-absurd-death"] {
            #expect(row(name)?["attempts"] as? Int == WireValue.maximumCount, "\(name)")
        }
        #expect(row("attempts-negative")?["attempts"] as? Int == 0)
        #expect(row("replay-count-max")?["replay_count"] as? Int == WireValue.maximumCount)
        #expect(row("nul-message-id")?["message_id"] as? String == #"nul\u0000id"#)
        #expect(row("nul-error-class")?["error_class"] as? String == #"Bad\u0000Class"#)
        let message = try #require(row("big-error-message")?["error_message"] as? String)
        #expect(message.utf8.count <= IndexText.maximumBytes && message.contains("…[truncated "))
        #expect(row("broker-parked-absurd-death")?["error_class"] as? String == "DeliveryLimitExceeded")

        // show, from the index, for the worst of them; nothing reaches the terminal raw.
        for name in ["nul-header", "big-header", "terminal-escape", "invalid-utf8", "timestamp-max"] {
            let id = try #require(row(name)?["failure_id"] as? String)
            let show = try await cli.run(["dlq", "show", id])
            #expect(show.status == 0, "\(name): \(show.all)")
            #expect(show.stdout.contains(id))
            #expect(!show.stdout.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{0}" }, "\(name)")
            let json = try await cli.run(["dlq", "show", id, "--json"])
            #expect(json.status == 0, "\(name): \(json.all)")
        }

        // Replaying them all traps nowhere; the copies carry a bounded replay count.
        let summary = try await f.queue.replay(DeadLetterFilter(all: true), options: .init(by: "test"))
        #expect(summary.failed.isEmpty, "\(summary.failed.map(\.reason))")
        #expect(summary.replayed.count == cases.count)
        #expect(try await eventually { try await f.depth(f.topology.appQueue) == cases.count })
        for copy in try await f.drain(f.topology.appQueue) {
            let count = try #require(copy.properties.headers?[CourierHeader.replayCount]?.intValue)
            #expect((1...Int64(WireValue.maximumCount + 1)).contains(count))
        }
        await f.close()
    }

    @Test("courierd's journal records a hostile parking; when Postgres refuses, it warns with the failure id and `dlq sync` indexes it")
    func journalThenSync() async throws {
        let f = try await OpsFixture.make()
        let database = try TestEnvironment.databaseURL()
        let logs = CapturedLogs()
        func record(_ id: String, _ messageID: String) -> DeadLetterRecord {
            let properties = Self.parkedProperties(f, messageID: messageID, failureID: id) { _, h in
                h[CourierHeader.attempts] = .int64(Int64(1) << 62)
                h["x-note"] = "a\u{0}b"
            }
            return DeadLetterRecord(
                failureID: id, reason: .permanentFailure, failure: HandlingFailure(errorClass: "InvalidField", message: "bad"),
                fingerprint: "0123456789abcdef", attempts: .max, failedAt: Date(),
                origin: MessageOrigin(exchange: "domain_events", routingKey: "CardAddedToLibraryEvent", queue: f.topology.appQueue),
                deadLetterQueue: f.topology.deadLetterQueue, properties: properties, body: Array(messageID.utf8))
        }

        // Postgres reachable: recorded, counters clamped, NUL escaped.
        let recorded = record(UUID().uuidString.lowercased(), "journal\u{0}ok")
        let pool = PostgresPool(configuration: try OpsFixture.courierdView(database), maximumConnections: 1)
        await FailureIndexJournal(pool: pool, logger: logs.logger).record(recorded)
        await pool.close()
        let index = f.index
        let found = try await f.postgres.withTransaction { try index.find(recorded.failureID, on: $0) }
        #expect(found.count == 1)
        #expect(found.first?.message.attempts == WireValue.maximumCount)
        #expect(found.first?.message.messageID == #"journal\u0000ok"#)
        #expect(logs.lines.isEmpty, "\(logs.lines)")

        // Postgres refusing (a database that does not exist): the parking stands, a warning
        // names it, and no password is in it.
        let missed = record(UUID().uuidString.lowercased(), "journal-missed")
        try await Self.parkUnindexed(f, [(missed.body, missed.properties)])
        var broken = try #require(URLComponents(string: database))
        broken.path = "/courier_no_such_database_\(UUID().uuidString.prefix(8))"
        let brokenPool = PostgresPool(configuration: try PostgresConfiguration(url: try #require(broken.string)), maximumConnections: 1)
        await FailureIndexJournal(pool: brokenPool, logger: logs.logger).record(missed)
        await brokenPool.close()
        let warning = try #require(logs.lines.first, "no warning logged")
        #expect(warning.contains(missed.failureID), "\(warning)")
        #expect(warning.contains("dlq sync"), "\(warning)")
        if let password = broken.password, !password.isEmpty { #expect(!warning.contains(password), "a password in the log") }
        #expect(try await f.postgres.withTransaction { try index.find(missed.failureID, on: $0) }.isEmpty)

        // `courier dlq sync` picks it up.
        let sync = try await CLI.forApp(f.topology.settings.appName).run(["dlq", "sync", "--json"])
        #expect(sync.status == 0, "\(sync.all)")
        let synced = try await f.postgres.withTransaction { try index.find(missed.failureID, on: $0) }
        #expect(synced.count == 1, "\(sync.all)")
        #expect(synced.first?.message.attempts == WireValue.maximumCount)
        await f.close()
    }

    @Test("recordEach writes every row it can and names the ones the server refuses, in a transaction or not")
    func recordEachKeepsGoing() async throws {
        let f = try await OpsFixture.make()
        // Every value of a ParkedMessage is made storable, so the refusal comes from a rule of
        // this test's own, for one event type only (other tests' rows pass it).
        let refusedType = TestEnvironment.uniqueName("Refused")
        let constraint = TestEnvironment.uniqueName("refuse")
        try await f.postgres.execute(
            "ALTER TABLE courier_failures ADD CONSTRAINT \(constraint) CHECK (event_type IS DISTINCT FROM '\(refusedType)')")
        let index = f.index
        for inTransaction in [true, false] {
            let messages = [
                parkedFixture(id: UUID().uuidString.lowercased()),
                parkedFixture(id: UUID().uuidString.lowercased(), type: refusedType),
                parkedFixture(id: UUID().uuidString.lowercased()),
            ]
            let result =
                inTransaction
                ? try await f.postgres.withTransaction { try index.recordEach(messages, on: $0) }
                : try await outsideTransaction(f.postgres) { try index.recordEach(messages, on: $0) }
            #expect(result.written == 2, "in a transaction: \(inTransaction)")
            #expect(result.failed.map(\.failureID) == [messages[1].failureID])
            #expect(result.failed.first?.error.contains("23514") == true, "\(result.failed)")
            for (n, message) in messages.enumerated() {
                let rows = try await f.postgres.withTransaction { try index.find(message.failureID, on: $0) }
                #expect(rows.count == (n == 1 ? 0 : 1))
            }
        }
        try await f.postgres.execute("ALTER TABLE courier_failures DROP CONSTRAINT \(constraint)")
        await f.close()
    }
}

/// Runs `body` on the connection without a transaction (each statement commits on its own).
func outsideTransaction<T: Sendable>(
    _ connection: isolated PostgresConnection, _ body: @Sendable (isolated PostgresConnection) throws -> T
) throws -> T {
    try body(connection)
}

/// Log lines at warning and above, as text (label, message, metadata).
final class CapturedLogs: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }

    var logger: Logger {
        let storage = self
        return Logger(label: "test.journal") { _ in Handler(sink: storage) }
    }

    fileprivate func append(_ line: String) { storage.withLock { $0.append(line) } }

    struct Handler: LogHandler {
        let sink: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            guard event.level >= .warning else { return }
            let fields = metadata.merging(event.metadata ?? [:]) { $1 }.map { "\($0)=\($1)" }.sorted().joined(separator: " ")
            sink.append("\(event.level) \(event.message) \(fields)")
        }
    }
}
