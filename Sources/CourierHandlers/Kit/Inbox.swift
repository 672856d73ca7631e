import CourierEvents
import CourierPostgres

/// The inbox: `courier_inbox(handler, event_id, event_type, handled_at)`, primary key
/// `(handler, event_id)` (created by ``SembleSchema``). A row means "this handler's effect of
/// this event is committed"; it is written in the handler's own transaction.
enum Inbox {
    /// Serializes one handler's transactions across courierd instances (a transaction-scoped
    /// advisory lock, released at commit or rollback).
    static func lock(handler: String, on connection: isolated PostgresConnection) throws {
        try connection.execute(prepared: "SELECT pg_advisory_xact_lock(hashtext($1))", ["courier.handler:" + handler])
    }

    /// Records the events for `handler` and returns those not recorded before, in order. The
    /// ones already there (redelivered, replayed) are skipped: the handler applied them.
    static func claim(_ events: [EventEnvelope], handler: String, on connection: isolated PostgresConnection) throws -> [EventEnvelope] {
        guard !events.isEmpty else { return [] }
        let rows = try connection.query(
            prepared: """
            INSERT INTO courier_inbox (handler, event_id, event_type)
            SELECT $1, id, type FROM unnest($2::text[], $3::text[]) AS claimed(id, type)
            ON CONFLICT (handler, event_id) DO NOTHING
            RETURNING event_id
            """,
            [handler, events.map(\.id), events.map(\.type.rawValue)])
        let claimed = Set(try rows.map { try $0.decode(String.self, column: 0) })
        return claimed.count == events.count ? events : events.filter { claimed.contains($0.id) }
    }
}
