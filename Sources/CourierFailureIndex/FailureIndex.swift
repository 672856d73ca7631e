import CourierAMQP
import CourierEngine
import CourierPostgres
import Foundation

/// Queries and updates of the failure index (``FailureIndexSchema``) for one dead-letter queue.
/// Every method runs on the connection's own thread (`isolated`), one statement each.
package struct FailureIndex: Sendable {
    package enum Status: String, Sendable, CaseIterable, Codable {
        case parked, replayed, purged, gone
    }

    /// A row: the parked message and what has happened to it since.
    package struct Entry: Sendable {
        package var message: ParkedMessage
        package var status: Status
        package var recordedAt: Date
        package var replayCount: Int
        package var replayedAt: Date?
        package var replayedBy: String?
        package var settledAt: Date?
    }

    package struct Group: Sendable, Codable, Equatable {
        package var key: String
        package var errorClass: String?
        package var sampleMessage: String?
        package var count: Int
        package var oldest: Date
        package var newest: Date
    }

    package struct Stats: Sendable, Codable {
        package var total: Int
        package var oldest: Date?
        package var newest: Date?
        package var byFingerprint: [Group]
        package var byErrorClass: [Group]
        package var byEventType: [Group]
    }

    package let deadLetterQueue: String

    package init(deadLetterQueue: String) {
        self.deadLetterQueue = deadLetterQueue
    }

    // MARK: Writing

    /// What ``recordEach(_:on:)`` did.
    package struct Recorded: Sendable {
        /// Rows new or revived.
        package var written = 0
        /// Messages whose row could not be written, with why (``summary(of:)``).
        package var failed: [(failureID: String, error: String)] = []
    }

    /// Records parked messages; a failure id already there is left as it is (a message read
    /// again), unless it was marked gone — then it is parked again (it came back, e.g. imported).
    /// Returns how many rows were new or revived; throws the first row that could not be written.
    @discardableResult
    package func record(_ messages: [ParkedMessage], on connection: isolated PostgresConnection) throws -> Int {
        var written = 0
        for message in messages { written += try insert(message, on: connection) }
        return written
    }

    /// Like ``record(_:on:)``, but a row the server refuses does not stop the others: in a
    /// transaction each row has a savepoint of its own, and the refused ones are returned —
    /// `courier dlq sync` indexes everything it can and names the rest. Errors of the connection
    /// itself still throw.
    package func recordEach(_ messages: [ParkedMessage], on connection: isolated PostgresConnection) throws -> Recorded {
        var recorded = Recorded()
        let savepoints = connection.isInTransaction
        for message in messages {
            if savepoints { try connection.execute("SAVEPOINT courier_failure_row") }
            do {
                recorded.written += try insert(message, on: connection)
            } catch let error as PostgresError where error.code == .queryFailed || error.code == .encodingFailed {
                if savepoints { try connection.execute("ROLLBACK TO SAVEPOINT courier_failure_row") }
                recorded.failed.append((message.failureID, Self.summary(of: error)))
                continue
            }
            if savepoints { try connection.execute("RELEASE SAVEPOINT courier_failure_row") }
        }
        return recorded
    }

    /// One row. Every value a publisher could have chosen is made storable first: text through
    /// ``IndexText`` (NUL escaped, long values cut and marked), headers' NULs escaped for jsonb,
    /// counters clamped to ``WireValue/maximumCount`` (their columns are `integer`: the clamp is
    /// what keeps them in range, whoever built the ``ParkedMessage``). The body is `bytea`, as is.
    private func insert(_ message: ParkedMessage, on connection: isolated PostgresConnection) throws -> Int {
        let properties = PostgresJSON(FieldJSON.object(PropertiesJSON.encode(message.properties)).postgresSafe)
        func text(_ value: String) -> String { IndexText.safe(value) }
        func key(_ value: String) -> String { IndexText.safe(value, maxBytes: IndexText.maximumKeyBytes) }
        func count(_ value: Int) -> Int { min(max(value, 0), WireValue.maximumCount) }
        return try connection.execute(
            """
            INSERT INTO courier_failures (
                failure_id, event_type, message_id, reason, error_class, error_message, fingerprint, handler,
                attempts, failed_at, original_exchange, original_routing_key, original_queue, dead_letter_queue,
                host, properties, body, replay_count)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb, $17::bytea, $18)
            ON CONFLICT (dead_letter_queue, failure_id) DO UPDATE SET status = 'parked', settled_at = NULL
                WHERE courier_failures.status IN ('gone', 'purged')
            """,
            [
                key(message.failureID), text(message.eventType), IndexText.safe(message.messageID), text(message.reason),
                text(message.errorClass), text(message.errorMessage), key(message.fingerprint), IndexText.safe(message.handler),
                count(message.attempts), Self.storable(message.failedAt), text(message.origin.exchange),
                text(message.origin.routingKey), text(message.origin.queue), key(deadLetterQueue), IndexText.safe(message.host),
                properties, Data(message.body), count(message.replayCount),
            ])
    }

    /// What went wrong writing a row, for a log line or the operator: the error's kind, message
    /// and SQLSTATE. Not the server's `detail`, which can quote the failing row — the message's
    /// headers and body, kilobytes of a publisher's data.
    package static func summary(of error: any Error) -> String {
        guard let error = error as? PostgresError else {
            // Other errors (an encoder's, say) may quote the whole value: publisher text, possibly
            // 100 KB of it. Their kind and a short start are enough for the log.
            let text = "\(type(of: error)): \(error)"
            return text.utf8.count <= 300 ? text : String(decoding: text.utf8.prefix(300), as: UTF8.self) + "…"
        }
        return "\(error.code): \(error.message)" + (error.sqlState.map { " (SQLSTATE \($0))" } ?? "")
    }

    /// A date `timestamptz` holds: within 1970 … 9999 (a ``ParkedMessage`` read from headers
    /// already is; one built otherwise is kept in range here).
    static func storable(_ date: Date) -> Date {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite else { return Date(timeIntervalSince1970: 0) }
        return Date(timeIntervalSince1970: min(max(seconds, 0), TimeInterval(WireValue.latestTimestamp)))
    }

    package func markReplayed(_ ids: [String], by: String, at date: Date = Date(), on connection: isolated PostgresConnection) throws {
        guard !ids.isEmpty else { return }
        try connection.execute(
            """
            UPDATE courier_failures
               SET status = 'replayed', replay_count = LEAST(replay_count, $5) + 1, replayed_at = $2, replayed_by = $3,
                   settled_at = $2
             WHERE failure_id = ANY($1::text[]) AND dead_letter_queue = $4
            """, [ids, date, IndexText.safe(by), deadLetterQueue, WireValue.maximumCount])
    }

    package func markPurged(_ ids: [String], at date: Date = Date(), on connection: isolated PostgresConnection) throws {
        guard !ids.isEmpty else { return }
        try connection.execute(
            """
            UPDATE courier_failures SET status = 'purged', settled_at = $2
             WHERE failure_id = ANY($1::text[]) AND dead_letter_queue = $3
            """, [ids, date, deadLetterQueue])
    }

    /// Rows still `parked` that were recorded before `before` but whose message is not among
    /// `present` (a full read of the queue) become `gone`. Returns how many.
    @discardableResult
    package func markGone(
        notIn present: [String], recordedBefore before: Date, on connection: isolated PostgresConnection
    ) throws -> Int {
        try connection.execute(
            """
            UPDATE courier_failures SET status = 'gone', settled_at = now()
             WHERE dead_letter_queue = $1 AND status = 'parked' AND recorded_at < $2 AND NOT (failure_id = ANY($3::text[]))
            """, [deadLetterQueue, before, present])
    }

    // MARK: Reading

    /// Newest first.
    package func list(
        _ filter: DeadLetterFilter, statuses: [Status] = [.parked], limit: Int, on connection: isolated PostgresConnection
    ) throws -> [Entry] {
        var (clause, bindings) = whereClause(filter, statuses: statuses)
        bindings.append(limit)
        let rows = try connection.query(
            "SELECT \(Self.columns) FROM courier_failures WHERE \(clause) ORDER BY failed_at DESC, failure_id LIMIT $\(bindings.count)",
            bindings)
        return try rows.map(entry)
    }

    /// The rows whose id is `id` or starts with it (8 characters at least), any status.
    package func find(_ id: String, on connection: isolated PostgresConnection) throws -> [Entry] {
        let (clause, bindings) = whereClause(DeadLetterFilter(ids: [id]), statuses: Status.allCases)
        return try connection.query(
            "SELECT \(Self.columns) FROM courier_failures WHERE \(clause) ORDER BY failed_at DESC LIMIT 10", bindings
        ).map(entry)
    }

    /// How many rows the filter selects (parked ones by default).
    package func count(_ filter: DeadLetterFilter, statuses: [Status] = [.parked], on connection: isolated PostgresConnection) throws -> Int {
        let (clause, bindings) = whereClause(filter, statuses: statuses)
        return try connection.query("SELECT count(*)::bigint FROM courier_failures WHERE \(clause)", bindings).first?.decode(Int.self, column: 0) ?? 0
    }

    package func stats(_ filter: DeadLetterFilter, statuses: [Status] = [.parked], on connection: isolated PostgresConnection) throws -> Stats {
        let (clause, bindings) = whereClause(filter, statuses: statuses)
        let totals = try connection.query(
            "SELECT count(*)::bigint, min(failed_at), max(failed_at) FROM courier_failures WHERE \(clause)", bindings)
        return Stats(
            total: try totals.first?.decode(Int.self, column: 0) ?? 0,
            oldest: try totals.first?.decode(Date?.self, column: 1),
            newest: try totals.first?.decode(Date?.self, column: 2),
            byFingerprint: try groups("fingerprint", withClass: true, filter, statuses: statuses, on: connection),
            byErrorClass: try groups("error_class", withClass: false, filter, statuses: statuses, on: connection),
            byEventType: try groups("event_type", withClass: false, filter, statuses: statuses, on: connection))
    }

    /// The parked rows per error class, most first: what courierd's `courier_parked_messages`
    /// gauge shows (one query, not the whole of ``stats(_:statuses:on:)``).
    package func parkedByErrorClass(on connection: isolated PostgresConnection) throws -> [Group] {
        try groups("error_class", withClass: false, DeadLetterFilter(), statuses: [.parked], on: connection)
    }

    /// The rows the filter selects, grouped by `key` (a column name of ours), most first.
    private func groups(
        _ key: String, withClass: Bool, _ filter: DeadLetterFilter, statuses: [Status], on connection: isolated PostgresConnection
    ) throws -> [Group] {
        let (clause, bindings) = whereClause(filter, statuses: statuses)
        let extra = withClass ? ", min(error_class), min(error_message)" : ""
        return try connection.query(
            """
            SELECT \(key), count(*)::bigint, min(failed_at), max(failed_at)\(extra)
              FROM courier_failures WHERE \(clause)
             GROUP BY \(key) ORDER BY count(*) DESC, \(key)
            """, bindings
        ).map { row in
            Group(
                key: try row.decode(String.self, column: 0),
                errorClass: withClass ? try row.decode(String.self, column: 4) : nil,
                sampleMessage: withClass ? try row.decode(String.self, column: 5) : nil,
                count: try row.decode(Int.self, column: 1),
                oldest: try row.decode(Date.self, column: 2),
                newest: try row.decode(Date.self, column: 3))
        }
    }

    // MARK: SQL

    static let columns = """
        failure_id, event_type, message_id, reason, error_class, error_message, fingerprint, handler, attempts, failed_at,
        original_exchange, original_routing_key, original_queue, dead_letter_queue, host, properties, body, status,
        recorded_at, replay_count, replayed_at, replayed_by, settled_at
        """

    /// The filter as SQL on this queue's rows (an empty filter: every row of these statuses).
    func whereClause(_ filter: DeadLetterFilter, statuses: [Status]) -> (String, [any PostgresEncodable]) {
        var conditions = ["dead_letter_queue = $1", "status = ANY($2::text[])"]
        var bindings: [any PostgresEncodable] = [deadLetterQueue, statuses.map(\.rawValue)]
        func add(_ condition: (String) -> String, _ value: any PostgresEncodable) {
            bindings.append(value)
            conditions.append(condition("$\(bindings.count)"))
        }
        if !filter.ids.isEmpty {
            let patterns = filter.ids.map { id -> String in
                let escaped = id.lowercased().replacingOccurrences(of: "\\", with: "\\\\")
                    .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
                return id.count >= 8 ? escaped + "%" : escaped
            }
            add({ "lower(failure_id) LIKE ANY(\($0)::text[])" }, patterns)
        }
        if !filter.types.isEmpty { add({ "event_type = ANY(\($0)::text[])" }, filter.types) }
        if !filter.errorClasses.isEmpty { add({ "error_class = ANY(\($0)::text[])" }, filter.errorClasses) }
        if !filter.fingerprints.isEmpty { add({ "fingerprint = ANY(\($0)::text[])" }, filter.fingerprints) }
        if let since = filter.since { add({ "failed_at >= \($0)" }, since) }
        return (conditions.joined(separator: " AND "), bindings)
    }

    func entry(_ row: PostgresRow) throws -> Entry {
        let propertiesJSON = try row.decode(PostgresJSON<FieldJSON>.self, column: 15).value
        var properties = AMQPProperties()
        if case .object(let object) = propertiesJSON { properties = PropertiesJSON.decode(object) }
        let message = ParkedMessage(
            failureID: try row.decode(String.self, column: 0),
            eventType: try row.decode(String.self, column: 1),
            messageID: try row.decode(String?.self, column: 2),
            reason: try row.decode(String.self, column: 3),
            errorClass: try row.decode(String.self, column: 4),
            errorMessage: try row.decode(String.self, column: 5),
            fingerprint: try row.decode(String.self, column: 6),
            handler: try row.decode(String?.self, column: 7),
            attempts: try row.decode(Int.self, column: 8),
            failedAt: try row.decode(Date.self, column: 9),
            origin: MessageOrigin(
                exchange: try row.decode(String.self, column: 10),
                routingKey: try row.decode(String.self, column: 11),
                queue: try row.decode(String.self, column: 12)),
            deadLetterQueue: try row.decode(String.self, column: 13),
            host: try row.decode(String?.self, column: 14),
            replayCount: try row.decode(Int.self, column: 19),
            properties: properties,
            body: Array(try row.decode(Data.self, column: 16)))
        return Entry(
            message: message,
            status: Status(rawValue: try row.decode(String.self, column: 17)) ?? .parked,
            recordedAt: try row.decode(Date.self, column: 18),
            replayCount: try row.decode(Int.self, column: 19),
            replayedAt: try row.decode(Date?.self, column: 20),
            replayedBy: try row.decode(String?.self, column: 21),
            settledAt: try row.decode(Date?.self, column: 22))
    }
}
