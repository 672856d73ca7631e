import Foundation

/// "In order" for Semble's events: by `occurredAt`, then by event id (byte-wise, as Postgres'
/// `COLLATE "C"` compares the `*_event_id` columns), a total order on distinct events.
///
/// Every table the handlers keep is a function of the *set* of events seen, defined as if the
/// events had been applied one at a time in this order. The envelope's `occurredAt` is the one
/// clock used for all of it (also for follows and adds, whose `createdAt` / `addedAt` would be a
/// second clock): mixing two clocks in one comparison could make a follow count for an activity
/// it came after in this order.
enum EventOrder {
    /// Whether event `a` comes before event `b`.
    static func precedes(_ a: (at: Date, id: String), _ b: (at: Date, id: String)) -> Bool {
        if a.at != b.at { return a.at < b.at }
        return a.id.utf8.lexicographicallyPrecedes(b.id.utf8)
    }

    /// SQL: the follow row `f` (of `rm_follows`) was active at the event `(at, eventID)`: followed
    /// before it and not unfollowed before it. An unfollow is terminal for its follow id, so an
    /// unfollow ordered before the follow leaves an empty window.
    static func followActive(_ f: String, at: String, eventID: String) -> String {
        """
        (\(f).followed_at IS NOT NULL \
        AND (\(f).followed_at, \(f).followed_event_id) < (\(at), \(eventID)) \
        AND (\(f).unfollowed_at IS NULL OR (\(f).unfollowed_at, \(f).unfollowed_event_id) > (\(at), \(eventID))))
        """
    }

    /// SQL: `(aAt, aID)` is a value and it comes before `(bAt, bID)` or that one is NULL — the
    /// "keep the earliest" merge of the read models.
    static func earlier(_ aAt: String, _ aID: String, than bAt: String, _ bID: String) -> String {
        "(\(aAt) IS NOT NULL AND (\(bAt) IS NULL OR (\(aAt), \(aID)) < (\(bAt), \(bID))))"
    }

    /// SQL: `(aAt, aID)` is a value and it comes after `(bAt, bID)` or that one is NULL — the
    /// "keep the latest" merge of the registers.
    static func later(_ aAt: String, _ aID: String, than bAt: String, _ bID: String) -> String {
        "(\(aAt) IS NOT NULL AND (\(bAt) IS NULL OR (\(aAt), \(aID)) > (\(bAt), \(bID))))"
    }
}
