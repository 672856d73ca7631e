import CourierEvents
import CourierPostgres
import CourierTelemetry
import Foundation
import Tracing

/// The transactional outbox: events written into `event_store` in the caller's own transaction,
/// so the domain change and its event commit — or roll back — together. ``OutboxRelay`` publishes
/// them afterwards; nothing the API accepted is lost when the broker is down or the process dies.
///
/// ```swift
/// try await pool.withTransaction { conn in
///     try conn.execute("INSERT INTO library_cards (card_id, curator_id) VALUES ($1, $2)", [cardId, curator])
///     try Outbox.enqueue(.outgoing(.cardAddedToLibrary(.init(cardId: cardId, curatorId: curator, addedAt: now))), in: conn)
/// }
/// ```
///
/// Each event becomes one row: `id` = the envelope's id (it must be a UUID, stored lower-case: the
/// relay publishes it as the `message_id`), `aggregate_id`, `event_type`, `event_data` = the JSON
/// body `EventEncoder` writes (as `jsonb`), `version` = the schema version, `timestamp` = when it
/// occurred, `trace_context` = the trace context of the transaction when a tracer is bootstrapped. The table is in Courier's
/// schema (`schema`, by default ``defaultSchema``, `courier`; nil: found through the connection's
/// `search_path`); create it with ``OutboxSchema``. Its insert trigger sends
/// `NOTIFY courier_outbox`, which Postgres delivers only at commit — the relay wakes exactly when
/// there is something committed to publish, and a rolled-back transaction wakes nobody.
///
/// Events of one aggregate are published in the order they were enqueued (their `position`). Two
/// concurrent transactions writing events of the *same* aggregate are ordered by insertion, not by
/// commit; domain code normally serializes them anyway by updating the aggregate's own row.
public enum Outbox {
    /// The `NOTIFY` channel the insert trigger signals and the relay listens on.
    public static let notificationChannel = "courier_outbox"

    /// The schema of `event_store` unless told otherwise: courierd's default
    /// `courier.database.schema`.
    public static let defaultSchema = "courier"

    /// `schema.event_store`, or `event_store` for nil.
    static func table(in schema: String?) throws(OutboxError) -> String {
        guard let schema else { return "event_store" }
        guard PostgresConfiguration.isPlainIdentifier(schema) else {
            throw OutboxError(code: .invalidSchema, message: "'\(schema)' is not a plain schema name ([a-z_][a-z0-9_]*, at most 63)")
        }
        return "\(schema).event_store"
    }

    /// Rows per `INSERT` statement of a batch: large enough to make round trips rare, small enough
    /// to keep one statement's parameters a few megabytes.
    static let rowsPerStatement = 2_000

    /// Writes one event into `event_store` within the open transaction of `transaction`.
    ///
    /// - Parameters:
    ///   - context: the trace context of the transaction (by default the current task's
    ///     `ServiceContext`): what the bootstrapped instrument injects for it (W3C `traceparent` and
    ///     `tracestate` with swift-otel) is stored in the row's `trace_context`, and the relay
    ///     continues that trace when it publishes the row. Nothing is stored without a tracer.
    ///   - schema: the schema of `event_store` (Courier's); nil uses the connection's `search_path`.
    ///   - transaction: a connection inside `withTransaction` (this call is synchronous on it).
    /// - Throws: ``OutboxError`` — ``OutboxError/Code/notInTransaction``,
    ///   ``OutboxError/Code/invalidEventID``, ``OutboxError/Code/databaseFailed``. Throwing inside
    ///   `withTransaction` rolls the whole transaction back.
    public static func enqueue(
        _ envelope: EventEnvelope,
        context: ServiceContext? = nil,
        schema: String? = defaultSchema,
        in transaction: isolated PostgresConnection
    ) throws(OutboxError) {
        try requireTransaction(transaction)
        let table = try table(in: schema)
        let row = try Row(envelope, traceContext: Self.traceContext(context))
        do {
            try transaction.execute(
                """
                INSERT INTO \(table) (id, aggregate_id, event_type, event_data, version, timestamp, trace_context)
                VALUES ($1::uuid, $2, $3, $4::jsonb, $5, $6::timestamptz, $7::jsonb)
                """,
                [row.id, row.aggregateId, row.eventType, row.data, row.version, row.occurredAt, row.traceContext])
        } catch {
            throw failure(error, eventID: row.id, eventType: row.eventType)
        }
    }

    /// Writes several events, in this order, within the open transaction of `transaction`: a few
    /// set-based statements (`unnest`) rather than one round trip per event.
    /// Every row stores the trace context of `context`, as ``enqueue(_:context:schema:in:)``.
    /// Throws as ``enqueue(_:context:schema:in:)``; nothing is written unless all are.
    public static func enqueue(
        _ envelopes: [EventEnvelope],
        context: ServiceContext? = nil,
        schema: String? = defaultSchema,
        in transaction: isolated PostgresConnection
    ) throws(OutboxError) {
        guard !envelopes.isEmpty else { return }
        try requireTransaction(transaction)
        let table = try table(in: schema)
        var rows: [Row] = []
        rows.reserveCapacity(envelopes.count)
        let traceContext = Self.traceContext(context)
        for envelope in envelopes { rows.append(try Row(envelope, traceContext: traceContext)) }
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(start + rowsPerStatement, rows.count)]
            start = chunk.endIndex
            do {
                try transaction.execute(
                    """
                    INSERT INTO \(table) (id, aggregate_id, event_type, event_data, version, timestamp, trace_context)
                    SELECT id, aggregate_id, event_type, event_data::jsonb, version, occurred_at, trace_context::jsonb
                    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::timestamptz[], $7::text[])
                        WITH ORDINALITY AS t(id, aggregate_id, event_type, event_data, version, occurred_at, trace_context, n)
                    ORDER BY n
                    """,
                    [
                        chunk.map(\.id), chunk.map(\.aggregateId), chunk.map(\.eventType), chunk.map(\.data),
                        chunk.map(\.version), chunk.map(\.occurredAt), chunk.map(\.traceContext),
                    ])
            } catch {
                throw failure(error, eventID: chunk.count == 1 ? chunk.first?.id : nil, eventType: nil)
            }
        }
    }

    /// One `event_store` row, as parameters.
    struct Row {
        var id: String
        var aggregateId: String
        var eventType: String
        var data: String
        var version: Int
        var occurredAt: Date
        /// The propagation headers, as a JSON object (nil: none).
        var traceContext: String?

        init(_ envelope: EventEnvelope, traceContext: String?) throws(OutboxError) {
            guard let uuid = UUID(uuidString: envelope.id) else {
                throw OutboxError(
                    code: .invalidEventID,
                    message: "the event id '\(envelope.id)' is not a UUID; create outbox events with EventEnvelope.outgoing(...)",
                    eventID: envelope.id, eventType: envelope.type.rawValue)
            }
            id = uuid.uuidString.lowercased()
            aggregateId = envelope.aggregateId
            eventType = envelope.type.rawValue
            data = String(decoding: EventEncoder().encode(envelope), as: UTF8.self)
            version = envelope.schemaVersion
            occurredAt = envelope.occurredAt
            self.traceContext = traceContext
        }
    }

    /// What the instrument injects for `context` (default: the current task's), as the JSON
    /// object stored in `trace_context`; nil when it injects nothing.
    static func traceContext(_ context: ServiceContext?) -> String? {
        let headers = MessageTrace.headers(injecting: context ?? ServiceContext.current ?? .topLevel)
        return TraceHeadersJSON.encode(headers)
    }

    private static func requireTransaction(_ connection: isolated PostgresConnection) throws(OutboxError) {
        guard connection.isInTransaction else {
            throw OutboxError(
                code: .notInTransaction,
                message: "enqueue must run inside the transaction that makes the change (withTransaction)")
        }
    }

    private static func failure(_ error: any Error, eventID: String?, eventType: String?) -> OutboxError {
        let postgres = error as? PostgresError
        return OutboxError(
            code: .databaseFailed, message: postgres == nil ? "could not insert into event_store: \(error)" : "could not insert into event_store",
            eventID: eventID, eventType: eventType,
            underlying: postgres)
    }
}
