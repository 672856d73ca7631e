import CourierPostgres
import Foundation

/// The outbox's backlog (`event_store` rows the relay has not published yet): what `courier
/// status` prints and courierd's metrics refresher reports.
package struct OutboxStatus: Sendable, Codable, Equatable {
    package var unpublished: Int
    /// When the oldest unpublished event happened (its `timestamp`), nil with no backlog.
    package var oldestUnpublished: Date?
    package var ageSeconds: Double? {
        oldestUnpublished.map { max(0, Date().timeIntervalSince($0)) }
    }

    /// Nil when the outbox table does not exist yet (no courierd or publisher has migrated it).
    package static func read(on connection: isolated PostgresConnection) throws -> OutboxStatus? {
        let exists = try connection.query("SELECT to_regclass('event_store') IS NOT NULL")
        guard try exists.first?.decode(Bool.self, column: 0) == true else { return nil }
        let rows = try connection.query("SELECT count(*)::bigint, min(timestamp) FROM event_store WHERE NOT processed")
        return OutboxStatus(
            unpublished: try rows.first?.decode(Int.self, column: 0) ?? 0,
            oldestUnpublished: try rows.first?.decode(Date?.self, column: 1))
    }
}
