import CourierPostgres

/// The SQL of one relay pass, and the rule deciding which published rows may be marked.
enum OutboxClaim {
    /// Claims up to `$1` unpublished rows in position order, skipping rows another relay holds,
    /// and says of each whether it may be published now (`publishable`): not when its aggregate
    /// has an *earlier* unpublished row outside this claim — a row another relay (or lane) holds
    /// and is publishing — so each aggregate's events reach the broker in order however many
    /// relays run. Rows that may not be published yet stay locked by this transaction until it
    /// ends, then are free again for a later pass.
    ///
    /// Columns: id, position, aggregate_id, event_type, event_data (text), version, timestamp
    /// (whole seconds since the epoch), trace context (a JSON object of propagation headers: the
    /// row's `trace_context`, else its `traceparent` alone), publishable.
    static let claimSQL = """
        WITH claimed AS (
            SELECT id, position, aggregate_id, event_type, event_data, version, timestamp, traceparent, trace_context
            FROM event_store
            WHERE NOT processed
            ORDER BY position
            LIMIT $1
            FOR UPDATE SKIP LOCKED
        )
        SELECT c.id::text, c.position, c.aggregate_id, c.event_type, c.event_data::text, c.version,
               floor(extract(epoch FROM c.timestamp))::bigint,
               CASE WHEN c.trace_context IS NOT NULL THEN c.trace_context::text
                    WHEN c.traceparent IS NOT NULL THEN jsonb_build_object('traceparent', c.traceparent)::text END,
               NOT EXISTS (
                   SELECT 1 FROM event_store earlier
                   WHERE earlier.aggregate_id = c.aggregate_id
                     AND NOT earlier.processed
                     AND earlier.position < c.position
                     AND NOT EXISTS (SELECT 1 FROM claimed mine WHERE mine.id = earlier.id)
               )
        FROM claimed c
        ORDER BY c.position
        """

    /// Marks rows published, by id, once the broker confirmed them.
    static let markSQL = "UPDATE event_store SET processed = true, published_at = now() WHERE id = ANY($1::uuid[])"

    /// Deletes up to `$2` rows published more than `$1` seconds ago.
    static let pruneSQL = """
        DELETE FROM event_store WHERE id IN (
            SELECT id FROM event_store
            WHERE processed AND published_at < now() - make_interval(secs => $1::double precision)
            ORDER BY published_at
            LIMIT $2
        )
        """

    /// One claimed row.
    struct Record: Sendable {
        var id: String
        var position: Int64
        var aggregateId: String
        var message: OutgoingMessage
        /// False when an earlier row of the aggregate is being published elsewhere: wait.
        var publishable: Bool

        init(id: String, position: Int64, aggregateId: String, message: OutgoingMessage, publishable: Bool = true) {
            self.id = id
            self.position = position
            self.aggregateId = aggregateId
            self.message = message
            self.publishable = publishable
        }

        init(_ row: PostgresRow) throws {
            id = try row.decode(String.self, column: 0)
            position = try row.decode(Int64.self, column: 1)
            aggregateId = try row.decode(String.self, column: 2)
            let seconds = try row.decode(Int64.self, column: 6)
            message = OutgoingMessage(
                body: Array(try row.decode(String.self, column: 4).utf8), eventType: try row.decode(String.self, column: 3),
                messageID: id, timestamp: seconds > 0 ? UInt64(seconds) : 0, schemaVersion: try row.decode(Int.self, column: 5),
                traceHeaders: TraceHeadersJSON.decode(try row.decode(String?.self, column: 7)))
            publishable = try row.decode(Bool.self, column: 8)
        }
    }

    /// The ids of the rows to mark published: those confirmed, except that after a row of an
    /// aggregate failed, none of that aggregate's later rows is marked — they are published again
    /// with it on the next pass, so the last copy the broker received of each event of the
    /// aggregate still comes in order (duplicates carry the same message id).
    static func markable(_ records: [Record], _ results: [Result<Void, PublishError>]) -> [String] {
        var failed = Set<String>()
        var ids: [String] = []
        ids.reserveCapacity(records.count)
        for (record, result) in zip(records, results) {
            switch result {
            case .success where !failed.contains(record.aggregateId):
                ids.append(record.id)
            case .success:
                break
            case .failure:
                failed.insert(record.aggregateId)
            }
        }
        return ids
    }
}
