import Foundation

/// Groups card collects into CARD_COLLECTED activities: a pure function of the *set* of collects.
///
/// Semble's rule, applied to the collects of one (actor, card) in ``EventOrder``:
/// - a library add always opens a new activity;
/// - a collection add joins the latest activity of that (actor, card) if that one started at
///   most ``mergeWindow`` before it (its collection joins the activity's `collectionIds`), and
///   opens a new activity otherwise.
///
/// Because the input is sorted first, the result does not depend on the order the collects
/// arrived in — which is what lets the feeds handler re-cluster an (actor, card) from
/// its collects whenever a collect of it arrives, late or not, and get the activities an
/// in-order application would have made. An activity is named after its opening event
/// (``DerivedIDs/cardCollectedActivity(openingEventID:)``), so re-clustering finds the same rows.
enum ActivityClustering {
    /// How long after an activity starts a collection add still joins it (inclusive).
    static let mergeWindow: TimeInterval = 120

    /// One library add (`collectionID` nil) or collection add.
    struct Collect: Sendable, Hashable {
        var eventID: String
        var actorID: String
        var cardID: String
        var collectionID: String?
        /// The envelope's time: its place in ``EventOrder`` and in the merge window.
        var occurredAt: Date
        /// The event's own `addedAt`: the `created_at` Semble writes for the activity it opens
        /// (semble-parity.md §3.1), which may be long before `occurredAt` (an import).
        var addedAt: Date

        /// `addedAt` defaults to `occurredAt`.
        init(eventID: String, actorID: String, cardID: String, collectionID: String?, occurredAt: Date, addedAt: Date? = nil) {
            self.eventID = eventID
            self.actorID = actorID
            self.cardID = cardID
            self.collectionID = collectionID
            self.occurredAt = occurredAt
            self.addedAt = addedAt ?? occurredAt
        }
    }

    /// One CARD_COLLECTED activity.
    struct Activity: Sendable, Hashable {
        /// The event that opened it: names the activity.
        var openingEventID: String
        var actorID: String
        var cardID: String
        /// The opening event's `occurredAt`: where the merge window starts.
        var openedAt: Date
        /// The opening event's `addedAt`: the activity's `created_at`, as Semble writes it (and
        /// its feed items'). Only written, never compared: the clustering and the order stay on
        /// `occurredAt` (``EventOrder``).
        var createdAt: Date
        /// The collections added to it, sorted byte-wise, each once (metadata `collectionIds`).
        var collectionIDs: [String]
        /// Every event it is made of, in order, the opening one first (`feed_activity_sources`).
        var sourceEvents: [Collect]
    }

    /// The activities made by `collects` (any order, any mix of actors and cards), sorted by
    /// actor, card and then in order.
    static func activities(from collects: some Sequence<Collect>) -> [Activity] {
        let byPair = Dictionary(grouping: collects) { PairKey(actorID: Array($0.actorID.utf8), cardID: Array($0.cardID.utf8)) }
        return byPair.keys.sorted().flatMap { pair in
            cluster(byPair[pair, default: []])
        }
    }

    /// The activities of one (actor, card).
    private static func cluster(_ collects: [Collect]) -> [Activity] {
        let ordered = collects.sorted { EventOrder.precedes(($0.occurredAt, $0.eventID), ($1.occurredAt, $1.eventID)) }
        var activities: [Activity] = []
        for collect in ordered {
            if let collectionID = collect.collectionID, var latest = activities.last,
                collect.occurredAt.timeIntervalSince(latest.openedAt) <= mergeWindow
            {
                if !latest.collectionIDs.contains(where: { $0.utf8.elementsEqual(collectionID.utf8) }) {
                    latest.collectionIDs.append(collectionID)
                    latest.collectionIDs.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                }
                latest.sourceEvents.append(collect)
                activities[activities.count - 1] = latest
            } else {
                activities.append(
                    Activity(
                        openingEventID: collect.eventID, actorID: collect.actorID, cardID: collect.cardID,
                        openedAt: collect.occurredAt, createdAt: collect.addedAt, collectionIDs: collect.collectionID.map { [$0] } ?? [],
                        sourceEvents: [collect]))
            }
        }
        return activities
    }

    /// An (actor, card) by bytes, as Postgres compares text (Swift's `String` equality would
    /// also equate canonically equivalent spellings, which Postgres keeps apart).
    private struct PairKey: Hashable, Comparable {
        var actorID: [UInt8]
        var cardID: [UInt8]

        static func < (a: PairKey, b: PairKey) -> Bool {
            if a.actorID != b.actorID { return a.actorID.lexicographicallyPrecedes(b.actorID) }
            return a.cardID.lexicographicallyPrecedes(b.cardID)
        }
    }
}
