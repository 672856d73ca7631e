import Foundation

/// "In order" for Semble's events: by `occurredAt`, then by event id (byte-wise, as Postgres'
/// `COLLATE "C"` compares the `*_event_id` columns), a total order on distinct events.
///
/// Every table the handlers keep is a function of the *set* of events seen, defined as if the
/// events had been applied one at a time in this order. The envelope's `occurredAt` is the one
/// clock used for all of it (also for follows and adds, whose `createdAt` / `addedAt` would be a
/// second clock): mixing two clocks in one comparison could make a follow count for an activity
/// it came after in this order. (`addedAt` is only *written*: it is the `created_at` Semble
/// gives a CARD_COLLECTED activity, ``ActivityClustering``.)
enum EventOrder {
    /// Whether event `a` comes before event `b`.
    static func precedes(_ a: (at: Date, id: String), _ b: (at: Date, id: String)) -> Bool {
        if a.at != b.at { return a.at < b.at }
        return a.id.utf8.lexicographicallyPrecedes(b.id.utf8)
    }

    /// SQL: the follow `f` (a row of `rm_follows` / `rm_feed_follows`: one register per
    /// (follower, target type, target) holding the latest follow F and the latest unfollow U) was
    /// active at the event E = `(at, eventID)`: F comes before E, and U does not come between F
    /// and E. Active *now* (after every event) is F after U (`active`), which is exact.
    ///
    /// At an earlier E it is exact while F and U tell the story, i.e. for E after F, when the
    /// triple's events alternate follow, unfollow, follow… (what Semble emits: re-following an
    /// existing follow raises no event, nor does unfollowing a missing one). What the register has
    /// forgotten is approximated:
    /// - an earlier episode before a re-follow (follow, unfollow, …, follow F): an E before F
    ///   counts as not followed, even inside that episode — so a re-follow takes back the earlier
    ///   episode's fan-out (feed items, subscription notifications), where Semble, which fans out
    ///   to who follows at handling time, would keep it;
    /// - two follows with no unfollow between (a second follow event of a follow that exists):
    ///   the follow counts from the later one;
    /// - two unfollows after F: the follow counts until the later one.
    ///
    /// Because F and U only move later, a change of the register changes this for no E before
    /// the old F (when F moved), the old U (when U moved and came after the old F), or the new
    /// values: ``Facts/recordFollows(_:into:on:)`` returns that point as the window to recompute.
    static func followActive(_ f: String, at: String, eventID: String) -> String {
        """
        (\(f).followed_at IS NOT NULL \
        AND (\(f).followed_at, \(f).followed_event_id) < (\(at), \(eventID)) \
        AND (\(f).unfollowed_at IS NULL \
        OR (\(f).unfollowed_at, \(f).unfollowed_event_id) < (\(f).followed_at, \(f).followed_event_id) \
        OR (\(f).unfollowed_at, \(f).unfollowed_event_id) > (\(at), \(eventID))))
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
