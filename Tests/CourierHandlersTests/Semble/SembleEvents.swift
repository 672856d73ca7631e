import CourierEvents
import Foundation

/// Event builders for the tests. Times are seconds after ``t0``; an event's id is given (it
/// breaks ties between equal times, byte-wise). `aggregateId` is what the specification says.
enum SembleEvents {
    /// 2026-01-01T00:00:00Z.
    static let t0 = Date(timeIntervalSince1970: 1_767_225_600)

    static func at(_ seconds: Int) -> Date { t0.addingTimeInterval(TimeInterval(seconds)) }

    /// `addedAt` (seconds, like `at`) defaults to the envelope's time.
    static func libraryAdd(_ id: String, card: String, by curator: String, at seconds: Int, addedAt: Int? = nil) -> EventEnvelope {
        EventEnvelope(
            id: id, aggregateId: card, occurredAt: at(seconds),
            event: .cardAddedToLibrary(CardAddedToLibrary(cardId: card, curatorId: curator, addedAt: at(addedAt ?? seconds))))
    }

    static func libraryRemove(_ id: String, card: String, by curator: String, at seconds: Int) -> EventEnvelope {
        EventEnvelope(
            id: id, aggregateId: card, occurredAt: at(seconds),
            event: .cardRemovedFromLibrary(CardRemovedFromLibrary(cardId: card, curatorId: curator)))
    }

    static func collectionAdd(
        _ id: String, card: String, to collection: String, by member: String, at seconds: Int, addedAt: Int? = nil
    ) -> EventEnvelope {
        EventEnvelope(
            id: id, aggregateId: collection, occurredAt: at(seconds),
            event: .cardAddedToCollection(
                CardAddedToCollection(cardId: card, collectionId: collection, addedBy: member, addedAt: at(addedAt ?? seconds))))
    }

    static func collectionRemove(_ id: String, card: String, from collection: String, by member: String, at seconds: Int) -> EventEnvelope {
        EventEnvelope(
            id: id, aggregateId: collection, occurredAt: at(seconds),
            event: .cardRemovedFromCollection(CardRemovedFromCollection(cardId: card, collectionId: collection, removedBy: member)))
    }

    static func collectionCreated(_ id: String, collection: String, by author: String, name: String = "a collection", at seconds: Int)
        -> EventEnvelope
    {
        EventEnvelope(
            id: id, aggregateId: collection, occurredAt: at(seconds),
            event: .collectionCreated(CollectionCreated(collectionId: collection, authorId: author, collectionName: name)))
    }

    /// `followID`: by default a fresh one (from the event id), as Semble's follow events carry a
    /// new UUID stored nowhere (semble-parity.md §4).
    static func follow(
        _ id: String, _ follower: String, follows target: String, type: FollowTargetType = .user, at seconds: Int,
        followID: String? = nil
    ) -> EventEnvelope {
        let followID = followID ?? "uuid-\(id)"
        return EventEnvelope(
            id: id, aggregateId: followID, occurredAt: at(seconds),
            event: .userFollowedTarget(
                UserFollowedTarget(followId: followID, followerId: follower, targetId: target, targetType: type, createdAt: at(seconds))))
    }

    /// `followID`: by default Semble's, the composite `"<follower>:<target>:<TYPE>"`.
    static func unfollow(
        _ id: String, _ follower: String, unfollows target: String, type: FollowTargetType = .user, at seconds: Int,
        followID: String? = nil
    ) -> EventEnvelope {
        let followID = followID ?? "\(follower):\(target):\(type.rawValue)"
        return EventEnvelope(
            id: id, aggregateId: followID, occurredAt: at(seconds),
            event: .userUnfollowedTarget(UserUnfollowedTarget(followId: followID, followerId: follower, targetId: target, targetType: type)))
    }

    static func connectionCreated(_ id: String, connection: String, by curator: String, at seconds: Int) -> EventEnvelope {
        EventEnvelope(
            id: id, aggregateId: connection, occurredAt: at(seconds),
            event: .connectionCreated(ConnectionCreated(connectionId: connection, curatorId: curator)))
    }

    static func connectionRemoved(_ id: String, connection: String, by curator: String, at seconds: Int) -> EventEnvelope {
        EventEnvelope(
            id: id, aggregateId: connection, occurredAt: at(seconds),
            event: .connectionRemoved(ConnectionRemoved(connectionId: connection, curatorId: curator)))
    }

    /// `events` sorted "in order": by `occurredAt`, then id byte-wise.
    static func inOrder(_ events: [EventEnvelope]) -> [EventEnvelope] {
        events.sorted { a, b in
            a.occurredAt != b.occurredAt ? a.occurredAt < b.occurredAt : a.id.utf8.lexicographicallyPrecedes(b.id.utf8)
        }
    }
}
