import CourierEvents
import Foundation

/// The specification executed the obvious way, in memory: events one at a time, in order, each
/// doing what `semble-events.md` says (insert on add with "do nothing if it exists", delete on
/// removal, fan out to whoever follows *now*). An independent oracle for the handlers'
/// set-based recomputation.
///
/// It agrees with the handlers on well-formed histories (``wellFormed(_:)``): where the two
/// deliberately differ — an unfollow ordered before its follow (the handlers: terminal), a
/// `CollectionCreated` ordered after the collection's adds (the handlers: the author is told once
/// known) — the naive way depends on the arrival order, which is what the handlers must not do.
struct NaiveSemble {
    struct Follow {
        var follower: String
        var target: String
        var type: FollowTargetType
        var active: Bool
    }

    struct Activity {
        var type: String
        var actor: String
        var subject: String  // the card or the connection
        var at: Int
        var collectionIDs: [String]
    }

    struct NotificationKey: Hashable {
        var type: String
        var subject: [String]
        var recipient: String
    }

    var follows: [String: Follow] = [:]
    var collectionAuthors: [String: String] = [:]
    var cardAuthors: [String: String] = [:]
    var activities: [Activity] = []
    var items: Set<[Int]> = []  // [user index in `users`, activity index]
    var users: [String] = []
    var notifications: [NotificationKey: (actor: String, at: Int, metadata: String)] = [:]

    mutating func apply(_ envelope: EventEnvelope) {
        let at = Int(envelope.occurredAt.timeIntervalSince(SembleEvents.t0))
        switch envelope.event {
        case .cardAddedToLibrary(let add):
            if cardAuthors[add.cardId] == nil { cardAuthors[add.cardId] = add.curatorId }
            activities.append(Activity(type: "CARD_COLLECTED", actor: add.curatorId, subject: add.cardId, at: at, collectionIDs: []))
            fanOut(activities.count - 1, to: followers(of: add.curatorId, .user))
            if let author = cardAuthors[add.cardId], author != add.curatorId {
                notify("USER_ADDED_YOUR_CARD", [add.cardId, add.curatorId], to: author, by: add.curatorId, at: at,
                       #"{"cardId": "\#(add.cardId)", "curatorId": "\#(add.curatorId)"}"#)
            }
        case .cardRemovedFromLibrary(let removal):
            remove(["USER_ADDED_YOUR_CARD"], [removal.cardId, removal.curatorId])
        case .cardAddedToCollection(let add):
            let latest = activities.indices.last { activities[$0].type == "CARD_COLLECTED" && activities[$0].actor == add.addedBy && activities[$0].subject == add.cardId }
            let index: Int
            if let latest, at - activities[latest].at <= 120 {
                index = latest
                if !activities[index].collectionIDs.contains(add.collectionId) {
                    activities[index].collectionIDs = (activities[index].collectionIDs + [add.collectionId]).sorted()
                }
            } else {
                activities.append(Activity(type: "CARD_COLLECTED", actor: add.addedBy, subject: add.cardId, at: at, collectionIDs: [add.collectionId]))
                index = activities.count - 1
            }
            fanOut(index, to: followers(of: add.addedBy, .user) + followers(of: add.collectionId, .collection))
            let author = collectionAuthors[add.collectionId]
            let metadata = #"{"cardId": "\#(add.cardId)", "collectionId": "\#(add.collectionId)"}"#
            if let author, author != add.addedBy {
                notify("USER_ADDED_TO_YOUR_COLLECTION", [add.collectionId, add.cardId], to: author, by: add.addedBy, at: at, metadata)
            }
            for follower in followers(of: add.collectionId, .collection) where follower != add.addedBy && follower != author {
                notify("USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION", [add.collectionId, add.cardId], to: follower, by: add.addedBy, at: at, metadata)
            }
        case .cardRemovedFromCollection(let removal):
            remove(["USER_ADDED_TO_YOUR_COLLECTION", "USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION"], [removal.collectionId, removal.cardId])
        case .collectionCreated(let creation):
            if collectionAuthors[creation.collectionId] == nil { collectionAuthors[creation.collectionId] = creation.authorId }
        case .userFollowedTarget(let follow):
            guard follows[follow.followId] == nil else { return }
            follows[follow.followId] = Follow(follower: follow.followerId, target: follow.targetId, type: follow.targetType, active: true)
            let metadata = #"{"followId": "\#(follow.followId)", "targetId": "\#(follow.targetId)", "targetType": "\#(follow.targetType.rawValue)"}"#
            switch follow.targetType {
            case .user where follow.targetId != follow.followerId:
                notify("USER_FOLLOWED_YOU", [follow.followId], to: follow.targetId, by: follow.followerId, at: at, metadata)
            case .collection:
                if let author = collectionAuthors[follow.targetId], author != follow.followerId {
                    notify("USER_FOLLOWED_YOUR_COLLECTION", [follow.followId], to: author, by: follow.followerId, at: at, metadata)
                }
            default:
                break
            }
        case .userUnfollowedTarget(let unfollow):
            follows[unfollow.followId, default: Follow(follower: unfollow.followerId, target: unfollow.targetId, type: unfollow.targetType, active: false)]
                .active = false
            remove(["USER_FOLLOWED_YOU", "USER_FOLLOWED_YOUR_COLLECTION"], [unfollow.followId])
        case .connectionCreated(let creation):
            activities.append(Activity(type: "CONNECTION_CREATED", actor: creation.curatorId, subject: creation.connectionId, at: at, collectionIDs: []))
            let followers = followers(of: creation.curatorId, .user)
            fanOut(activities.count - 1, to: followers)
            for follower in followers where follower != creation.curatorId {
                notify("SUBSCRIBED_USER_MADE_CONNECTION", [creation.connectionId], to: follower, by: creation.curatorId, at: at,
                       #"{"connectionId": "\#(creation.connectionId)"}"#)
            }
        case .connectionRemoved(let removal):
            remove(["SUBSCRIBED_USER_MADE_CONNECTION"], [removal.connectionId])
        }
    }

    private func followers(of target: String, _ type: FollowTargetType) -> [String] {
        Array(Set(follows.values.filter { $0.active && $0.target == target && $0.type == type }.map(\.follower)))
    }

    private mutating func fanOut(_ activity: Int, to followers: [String]) {
        for follower in followers {
            if !users.contains(follower) { users.append(follower) }
            items.insert([users.firstIndex(of: follower) ?? -1, activity])
        }
    }

    private mutating func notify(_ type: String, _ subject: [String], to recipient: String, by actor: String, at: Int, _ metadata: String) {
        let key = NotificationKey(type: type, subject: subject, recipient: recipient)
        if notifications[key] == nil { notifications[key] = (actor, at, metadata) }
    }

    private mutating func remove(_ types: [String], _ subject: [String]) {
        notifications = notifications.filter { !(types.contains($0.key.type) && $0.key.subject == subject) }
    }

    // MARK: The tables, as SembleTestDatabase prints them

    var activityLines: [String] {
        activities.map { activity in
            let metadata =
                activity.type == "CARD_COLLECTED"
                ? #"{"cardId": "\#(activity.subject)", "collectionIds": [\#(activity.collectionIDs.map { "\"\($0)\"" }.joined(separator: ", "))]}"#
                : #"{"connectionId": "\#(activity.subject)"}"#
            return "\(activity.type) \(activity.actor) \(activity.subject) @\(activity.at) \(metadata)"
        }.sorted()
    }

    var feedItemLines: [String] {
        items.map { item in
            let activity = activities[item[1]]
            return "\(users[item[0]]) <- \(activity.type) \(activity.actor) \(activity.subject) @\(activity.at)"
        }.sorted()
    }

    var notificationLines: [String] {
        notifications.map { key, value in "\(key.type) to \(key.recipient) by \(value.actor) @\(value.at) \(value.metadata)" }.sorted()
    }

    /// `events` restricted to what the naive way and the handlers agree on: at most one follow
    /// and one unfollow per follow id, the unfollow after the follow and saying the same follower
    /// and target; at most one creation and one removal per connection, the removal after the
    /// creation; one `CollectionCreated` per collection, before everything else. (Times move;
    /// nothing else changes.)
    static func wellFormed(_ events: [EventEnvelope]) -> [EventEnvelope] {
        var kept: [EventEnvelope] = []
        var seen = Set<String>()
        var firstFollow: [String: [String]] = [:]
        for envelope in events {
            if case .userFollowedTarget(let follow) = envelope.event, firstFollow[follow.followId] == nil {
                firstFollow[follow.followId] = [follow.followerId, follow.targetId, follow.targetType.rawValue]
            }
        }
        var followedAt: [String: Date] = [:]
        var createdAt: [String: Date] = [:]
        for var envelope in events {
            switch envelope.event {
            case .collectionCreated(let creation):
                guard seen.insert("collection \(creation.collectionId)").inserted else { continue }
                envelope.occurredAt = SembleEvents.at(-1)
            case .userFollowedTarget(let follow):
                guard seen.insert("follow \(follow.followId)").inserted else { continue }
                followedAt[follow.followId] = envelope.occurredAt
            case .userUnfollowedTarget(let unfollow):
                let says = [unfollow.followerId, unfollow.targetId, unfollow.targetType.rawValue]
                guard firstFollow[unfollow.followId].map({ $0 == says }) ?? true else { continue }
                guard seen.insert("unfollow \(unfollow.followId)").inserted else { continue }
            case .connectionCreated(let creation):
                guard seen.insert("create \(creation.connectionId)").inserted else { continue }
                createdAt[creation.connectionId] = envelope.occurredAt
            case .connectionRemoved(let removal):
                guard seen.insert("remove \(removal.connectionId)").inserted else { continue }
            default:
                break
            }
            kept.append(envelope)
        }
        // Second pass, now that every follow's and creation's time is known.
        return kept.map { envelope in
            var envelope = envelope
            switch envelope.event {
            case .userUnfollowedTarget(let unfollow):
                if let followed = followedAt[unfollow.followId], envelope.occurredAt <= followed {
                    envelope.occurredAt = followed.addingTimeInterval(1)
                }
            case .connectionRemoved(let removal):
                if let created = createdAt[removal.connectionId], envelope.occurredAt <= created {
                    envelope.occurredAt = created.addingTimeInterval(1)
                }
            default:
                break
            }
            return envelope
        }
    }
}
