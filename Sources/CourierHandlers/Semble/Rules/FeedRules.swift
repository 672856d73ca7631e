import Foundation

/// Semble's feed rules for card adds (semble:src/modules/feeds/domain/services/FeedService.ts,
/// …/application/useCases/commands/AddActivityToFeedUseCase.ts), applied to a batch of adds in
/// delivery order, as one add at a time would:
/// - the newest CARD_COLLECTED activity of the (actor, card) — by `created_at` — is reused when it
///   was created at most the reuse window before the add's `dateTimeOccurred` (Semble: before its
///   worker's clock; semble-parity.md §3.3): a collection add merges its collection into the
///   activity's `collectionIds` (existing ones first, each once), a library add changes nothing;
/// - otherwise a new activity: metadata `{"cardId"}` (a library add) or `{"cardId","collectionIds":[c]}`,
///   `url_type` and `source` from the card (``CardFacts``), `created_at` = the add's `addedAt`;
/// - either way the activity is fanned out (``FanOut``) to the actor's followers and, for a
///   collection add, to this add's collection's followers.
enum FeedRules {
    /// One library add (`collectionID` nil) or collection add.
    struct Add: Sendable, Hashable {
        var actorID: String
        var cardID: String
        var collectionID: String?
        var occurredAt: Date
        var addedAt: Date
    }

    /// A CARD_COLLECTED row of `feed_activities`, as far as the rules care.
    struct Activity: Sendable, Hashable {
        var id: String
        var actorID: String
        var cardID: String
        var createdAt: Date
        /// `metadata.collectionIds`; nil when absent.
        var collectionIDs: [String]?
        var urlType: String?
        var source: String?
    }

    /// What Semble reads of the card for a new activity: `url_type` (the URL card's
    /// `content_data.metadata.type`) and `source` (`margin` when the actor's library membership
    /// was published as a Margin record). Both nil when the card is missing.
    struct CardFacts: Sendable, Hashable {
        var urlType: String?
        var source: String?
    }

    /// An activity to put in the following feeds of the actor's followers and, when
    /// `collectionID` is set, that collection's.
    struct FanOut: Sendable, Hashable {
        var activityID: String
        var createdAt: Date
        var actorID: String
        var collectionID: String?
    }

    struct Plan: Sendable {
        /// New activities, in the order made.
        var inserts: [Activity] = []
        /// Existing activities whose `collectionIds` changed: the new list.
        var updates: [String: [String]] = [:]
        var fanOuts: [FanOut] = []
    }

    /// - Parameters:
    ///   - adds: in delivery order.
    ///   - newest: the newest existing CARD_COLLECTED activity of each (actor, card) of `adds`.
    ///   - facts: per (actor, card), the card facts (missing: both nil).
    ///   - newID: makes the id of a new activity (Semble: a random UUID).
    static func plan(
        _ adds: [Add], newest: [CardActorKey: Activity], facts: [CardActorKey: CardFacts], window: TimeInterval, newID: () -> String
    ) -> Plan {
        var plan = Plan()
        var newest = newest
        var insertIndex: [String: Int] = [:]
        for add in adds {
            let key = CardActorKey(cardID: add.cardID, actorID: add.actorID)
            var activity: Activity
            if var recent = newest[key], recent.createdAt >= add.occurredAt.addingTimeInterval(-window) {
                if let collectionID = add.collectionID {
                    var ids = recent.collectionIDs ?? []
                    if !ids.contains(where: { $0.utf8.elementsEqual(collectionID.utf8) }) { ids.append(collectionID) }
                    recent.collectionIDs = ids
                    if let index = insertIndex[recent.id] {
                        plan.inserts[index] = recent
                    } else {
                        plan.updates[recent.id] = ids
                    }
                    newest[key] = recent
                }
                activity = recent
            } else {
                let fact = facts[key] ?? CardFacts()
                activity = Activity(
                    id: newID(), actorID: add.actorID, cardID: add.cardID, createdAt: add.addedAt,
                    collectionIDs: add.collectionID.map { [$0] }, urlType: fact.urlType, source: fact.source)
                insertIndex[activity.id] = plan.inserts.count
                plan.inserts.append(activity)
                // The newest by created_at (an import's addedAt may be older than what is there;
                // on a tie, the later made).
                if newest[key].map({ $0.createdAt <= activity.createdAt }) ?? true {
                    newest[key] = activity
                }
            }
            plan.fanOuts.append(FanOut(activityID: activity.id, createdAt: activity.createdAt, actorID: add.actorID, collectionID: add.collectionID))
        }
        return plan
    }
}
