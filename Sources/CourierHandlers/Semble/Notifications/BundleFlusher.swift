import CourierPostgres
import Foundation
import Logging

/// Flushes the card-activity bundles that are due: in one transaction, deletes them from
/// ``BundleStore``'s table, reads Semble's state as it is now (``SembleState``), and writes the
/// notifications of Semble's four bundle handlers (``BundleRules``). A bundle is flushed once: its
/// row and its notifications commit together, and a bundle a batch is joining or dropping is
/// locked by that batch (``BundleStore``) and left for the next flush.
///
/// When a flush fails for a reason of its own (not Postgres unreachable), its bundles are flushed
/// one by one, and the one that fails is kept with its error and tried again later (after 1 s,
/// doubling up to 5 minutes): a poison bundle delays nobody else's notifications and is never
/// dropped. courierd runs this in a loop (`BundleFlushService`); tests call ``flush(everything:)``.
package struct BundleFlusher: Sendable {
    let pool: PostgresPool
    let settings: SembleSettings
    let logger: Logger
    /// Bundles per transaction.
    package var batchSize = 500

    package init(pool: PostgresPool, settings: SembleSettings = .production, logger: Logger) {
        self.pool = pool
        self.settings = settings
        self.logger = logger
    }

    package struct Flush: Sendable, Hashable {
        /// Bundles flushed.
        package var flushed: Int
        /// Bundles kept after failing (to be tried again later).
        package var failed: Int
        /// How long until the next pending bundle is due (zero when one is due now; nil when none is pending).
        package var nextDue: Duration?
    }

    /// Flushes up to ``batchSize`` bundles that are due — every pending one, due or not, with
    /// `everything` (tests, benchmarks: "as if the window had passed").
    package func flush(everything: Bool = false) async throws -> Flush {
        let due = try await pool.withConnection { connection in
            try await connection.query(
                prepared: """
                SELECT bundle_id FROM card_activity_bundles
                WHERE $1 OR due_at <= clock_timestamp() ORDER BY due_at, bundle_id LIMIT $2
                """,
                [everything, batchSize]
            ).map { try $0.decode(String.self, column: 0) }
        }
        var result = Flush(flushed: 0, failed: 0, nextDue: nil)
        if !due.isEmpty {
            do {
                result.flushed = try await flush(due)
            } catch let error where !Self.isUnavailable(error) {
                guard due.count > 1 else {
                    try await keep(due[0], failing: error)
                    result.failed = 1
                    return try await withNextDue(result)
                }
                for id in due {
                    do {
                        result.flushed += try await flush([id])
                    } catch let error where !Self.isUnavailable(error) {
                        try await keep(id, failing: error)
                        result.failed += 1
                    }
                }
            }
        }
        return try await withNextDue(result)
    }

    private func withNextDue(_ result: Flush) async throws -> Flush {
        var result = result
        let seconds = try await pool.withConnection { connection in
            try await connection.query(
                prepared: "SELECT greatest(extract(epoch FROM min(due_at) - clock_timestamp()), 0)::float8 FROM card_activity_bundles"
            ).first?.decode(Double?.self, column: 0)
        }
        result.nextDue = seconds.map { .milliseconds(Int64(($0 * 1000).rounded(.up))) }
        return result
    }

    /// Flushes these bundles (those still pending) in one transaction; returns how many.
    func flush(_ ids: [String]) async throws -> Int {
        let settings = self.settings
        return try await pool.withTransaction { db in
            try SembleSession.prepare(db)
            // Those still pending and not held by a batch joining or dropping them (that one
            // commits first; the next flush takes them).
            let bundles = try db.query(
                prepared: """
                DELETE FROM card_activity_bundles WHERE bundle_id = ANY (ARRAY(
                    SELECT bundle_id FROM card_activity_bundles WHERE bundle_id = ANY ($1::text[])
                    ORDER BY bundle_id FOR UPDATE SKIP LOCKED))
                RETURNING \(BundleStore.columns), due_at
                """,
                [ids]
            ).map { (bundle: try BundleStore.bundle($0), due: try $0.decode(Date.self, column: 6)) }
            // In the order they fell due.
            .sorted { $0.due != $1.due ? $0.due < $1.due : $0.bundle.id.utf8.lexicographicallyPrecedes($1.bundle.id.utf8) }
            .map(\.bundle)
            guard !bundles.isEmpty else { return 0 }
            let state = try Self.read(for: bundles, settings: settings, on: db)
            let drafts = bundles.flatMap { BundleRules.notifications(for: $0, in: state, settings: settings) }
            try NotificationStore.insert(drafts, on: db)
            return bundles.count
        }
    }

    /// Everything ``BundleRules`` reads for these bundles, in three rounds (cards and their via
    /// cards; collections by id and by page URL; users and subscribers).
    static func read(for bundles: [CardActivityBundle], settings: SembleSettings, on db: isolated PostgresConnection) throws -> SembleSnapshot {
        var state = SembleSnapshot()
        try SembleState.readCards(BundleRules.cardIDs(of: bundles), into: &state, on: db)
        let collections = BundleRules.collectionsToRead(for: bundles, in: state, settings: settings)
        try SembleState.readCollections(ids: collections.ids, uris: collections.uris, into: &state, on: db)
        let (users, subscriptions) = BundleRules.usersAndSubscriptionsToRead(for: bundles, in: state, settings: settings)
        try SembleState.readUsers(users, into: &state, on: db)
        try SembleState.readSubscribers(subscriptions, into: &state, on: db)
        return state
    }

    /// Keeps a bundle whose flush failed, with the error, due again after a backoff.
    private func keep(_ id: String, failing error: any Error) async throws {
        logger.error("flushing a card-activity bundle failed; it is kept and tried again later", metadata: ["bundle_id": "\(id)", "error": "\(error)"])
        _ = try await pool.withConnection { connection in
            try await connection.execute(
                prepared: """
                UPDATE card_activity_bundles SET attempts = attempts + 1, last_error = $2,
                    due_at = clock_timestamp() + make_interval(secs => least(power(2, attempts), 300))
                WHERE bundle_id = $1
                """,
                [id, String("\(error)".prefix(2000))])
        }
    }

    /// Postgres is unreachable: not the bundles' fault.
    static func isUnavailable(_ error: any Error) -> Bool {
        guard let error = error as? PostgresError else { return false }
        return FailureClassification.isConnectionFailure(error)
    }
}
