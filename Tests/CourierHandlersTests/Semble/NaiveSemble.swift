import CourierEvents
import Foundation

/// The specification executed the obvious way, in memory: events one at a time, in order, each
/// doing what `semble-events.md` says (insert on add with "do nothing if it exists", delete on
/// removal, fan out to whoever follows *now*). An independent oracle for the handlers'
/// set-based recomputation.
///
/// A follow is its (follower, target, target type), as in Semble's `follows` table: the events'
/// `followId`s are ignored (semble-parity.md §4).
///
/// It agrees with the handlers on well-formed histories (``wellFormed(_:)``): where the two
/// deliberately differ — a `CollectionCreated` ordered after the collection's adds (the handlers:
/// the author is told once known) — the naive way depends on the arrival order, which is what the
/// handlers must not do; where the handlers' follow register approximates (a re-follow forgets
/// the earlier episode, ``EventOrder/followActive(_:at:eventID:)``), the histories are left out.
struct NaiveSemble {
    struct FollowKey: Hashable {
        var follower: String
        var target: String
        var type: FollowTargetType
    }

    struct Activity {
        var type: String
        var actor: String
        var subject: String  // the card or the connection
        var openedAt: Int  // the opening event's occurredAt: the merge window
        var at: Int  // created_at: the opening add's addedAt, a connection's occurredAt
        var collectionIDs: [String]
    }

    struct NotificationKey: Hashable {
        var type: String
        var subject: [String]
        var recipient: String
    }

    var follows: [FollowKey: Bool] = [:]  // active
    var collectionAuthors: [String: String] = [:]
    var cardAuthors: [String: String] = [:]
    var activities: [Activity] = []
    var items: Set<[Int]> = []  // [user index in `users`, activity index]
    var users: [String] = []
    var notifications: [NotificationKey: (actor: String, at: Int, metadata: String)] = [:]

    mutating func apply(_ envelope: EventEnvelope) {
        let at = Int(envelope.occurredAt.timeIntervalSince(SembleEvents.t0))
        func seconds(_ date: Date) -> Int { Int(date.timeIntervalSince(SembleEvents.t0)) }
        switch envelope.event {
        case .cardAddedToLibrary(let add):
            if cardAuthors[add.cardId] == nil { cardAuthors[add.cardId] = add.curatorId }
            activities.append(
                Activity(type: "CARD_COLLECTED", actor: add.curatorId, subject: add.cardId, openedAt: at, at: seconds(add.addedAt), collectionIDs: []))
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
            if let latest, at - activities[latest].openedAt <= 120 {
                index = latest
                if !activities[index].collectionIDs.contains(add.collectionId) {
                    activities[index].collectionIDs = (activities[index].collectionIDs + [add.collectionId]).sorted()
                }
            } else {
                activities.append(
                    Activity(
                        type: "CARD_COLLECTED", actor: add.addedBy, subject: add.cardId, openedAt: at, at: seconds(add.addedAt),
                        collectionIDs: [add.collectionId]))
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
            let key = FollowKey(follower: follow.followerId, target: follow.targetId, type: follow.targetType)
            guard follows[key] != true else { return }  // already following: the row exists
            follows[key] = true
            let subject = [follow.followerId, follow.targetType.rawValue, follow.targetId]
            switch follow.targetType {
            case .user where follow.targetId != follow.followerId:
                notify("USER_FOLLOWED_YOU", subject, to: follow.targetId, by: follow.followerId, at: at, #"{"targetType": "USER"}"#)
            case .collection:
                if let author = collectionAuthors[follow.targetId], author != follow.followerId {
                    notify("USER_FOLLOWED_YOUR_COLLECTION", subject, to: author, by: follow.followerId, at: at,
                           #"{"targetId": "\#(follow.targetId)", "targetType": "COLLECTION"}"#)
                }
            default:
                break
            }
        case .userUnfollowedTarget(let unfollow):
            follows[FollowKey(follower: unfollow.followerId, target: unfollow.targetId, type: unfollow.targetType)] = false
            remove(["USER_FOLLOWED_YOU", "USER_FOLLOWED_YOUR_COLLECTION"], [unfollow.followerId, unfollow.targetType.rawValue, unfollow.targetId])
        case .connectionCreated(let creation):
            activities.append(
                Activity(type: "CONNECTION_CREATED", actor: creation.curatorId, subject: creation.connectionId, openedAt: at, at: at, collectionIDs: []))
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
        Array(Set(follows.filter { $0.value && $0.key.target == target && $0.key.type == type }.map(\.key.follower)))
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

    /// `events` restricted to what the naive way and the handlers agree on: per follow (follower,
    /// target, type) at most one follow and one unfollow, the unfollow after the follow (a
    /// re-follow is where the handlers' register forgets the earlier episode); at most one
    /// creation and one removal per connection, the removal after the creation; one
    /// `CollectionCreated` per collection, before everything else. (Times move; nothing else
    /// changes. The `followId`s are whatever they are: nobody reads them.)
    static func wellFormed(_ events: [EventEnvelope]) -> [EventEnvelope] {
        var kept: [EventEnvelope] = []
        var seen = Set<String>()
        var followedAt: [String: Date] = [:]
        var createdAt: [String: Date] = [:]
        func key(_ follower: String, _ target: String, _ type: FollowTargetType) -> String { "\(follower) \(target) \(type.rawValue)" }
        for var envelope in events {
            switch envelope.event {
            case .collectionCreated(let creation):
                guard seen.insert("collection \(creation.collectionId)").inserted else { continue }
                envelope.occurredAt = SembleEvents.at(-1)
            case .userFollowedTarget(let follow):
                let follow = key(follow.followerId, follow.targetId, follow.targetType)
                guard seen.insert("follow \(follow)").inserted else { continue }
                followedAt[follow] = envelope.occurredAt
            case .userUnfollowedTarget(let unfollow):
                guard seen.insert("unfollow \(key(unfollow.followerId, unfollow.targetId, unfollow.targetType))").inserted else { continue }
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
                if let followed = followedAt[key(unfollow.followerId, unfollow.targetId, unfollow.targetType)],
                    envelope.occurredAt <= followed
                {
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
