import CourierPostgres
import Foundation

/// The pending card-activity bundles (``CardActivityBundle``), in Courier's schema:
/// `card_activity_bundles` (``CourierSchema``). Written by the notifications handler in the
/// transaction of its inbox rows, flushed and deleted by ``BundleFlusher`` in one transaction with
/// the notifications it makes — so, unlike Semble's Redis bucket and in-process timer, a crash
/// loses no bundle and no bundle is flushed twice. The two meet only on bundle rows, which both
/// lock in id order (the handler waits for a flush in progress, the flusher skips a bundle a batch
/// holds): flushing never stalls consuming.
enum BundleStore {
    static let columns = "bundle_id, card_id, actor_id, opened_at, collection_ids, has_library_event"

    /// The pending bundles of these (card, actor) pairs, locked (`FOR UPDATE`, in id order) until
    /// the batch commits: a flush in progress is waited for (its bundles are then gone, and an add
    /// opens a new one), and no flush takes a bundle this batch is joining or dropping.
    static func pending(cardIDs: [String], actorIDs: [String], on db: isolated PostgresConnection) throws -> [CardActivityBundle] {
        guard !cardIDs.isEmpty else { return [] }
        let rows = try db.query(
            prepared: """
            SELECT \(columns) FROM card_activity_bundles
            WHERE bundle_id = ANY (ARRAY(
                SELECT b.bundle_id
                FROM (SELECT DISTINCT card_id, actor_id FROM unnest($1::text[], $2::text[]) AS p(card_id, actor_id)) p
                CROSS JOIN LATERAL (
                    SELECT b.bundle_id FROM card_activity_bundles b WHERE b.card_id = p.card_id AND b.actor_id = p.actor_id OFFSET 0
                ) b))
            ORDER BY bundle_id
            FOR UPDATE
            """,
            [cardIDs, actorIDs])
        return try rows.map(bundle)
    }

    static func bundle(_ row: PostgresRow) throws -> CardActivityBundle {
        CardActivityBundle(
            id: try row.decode(String.self, column: 0), cardID: try row.decode(String.self, column: 1),
            actorID: try row.decode(String.self, column: 2), openedAt: try row.decode(Date.self, column: 3),
            collectionIDs: try row.decode([String].self, column: 4), hasLibraryEvent: try row.decode(Bool.self, column: 5))
    }

    /// Writes what the batch did to the bundles: drops the dropped, inserts the new (due
    /// `window` from now, on the database's clock) and updates the joined.
    static func write(_ book: BundleBook, window: Duration, on db: isolated PostgresConnection) throws {
        if !book.dropped.isEmpty {
            try db.execute(prepared: "DELETE FROM card_activity_bundles WHERE bundle_id = ANY ($1::text[])", [book.dropped.sorted()])
        }
        let written = book.written
        guard !written.isEmpty else { return }
        try db.execute(
            prepared: """
            INSERT INTO card_activity_bundles AS b
                (bundle_id, card_id, actor_id, opened_at, due_at, collection_ids, has_library_event)
            SELECT bundle_id, card_id, actor_id, opened_at, now() + make_interval(secs => $7), collection_ids::text[], has_library_event
            FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::boolean[])
                AS t(bundle_id, card_id, actor_id, opened_at, collection_ids, has_library_event)
            ORDER BY bundle_id
            ON CONFLICT (bundle_id) DO UPDATE SET
                collection_ids = excluded.collection_ids, has_library_event = excluded.has_library_event
            """,
            [
                written.map(\.id), written.map(\.cardID), written.map(\.actorID), written.map(\.openedAt),
                written.map { PostgresArrayLiteral.encode($0.collectionIDs) }, written.map(\.hasLibraryEvent), window.timeInterval,
            ])
    }
}
