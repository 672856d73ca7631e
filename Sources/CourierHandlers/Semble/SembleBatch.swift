import CourierEvents
import CourierPostgres
import Foundation

/// One batch of events split by kind into columns, ready to bind as Postgres arrays: the
/// handlers write a batch with a few `unnest($1::text[], ...)` statements, never one per event.
///
/// Every event is placed by its ``EventOrder`` key, `(occurredAt, id)`.
struct SembleBatch {
    /// Library adds (`collectionIDs` element nil) and collection adds.
    struct Collects {
        var eventIDs: [String] = []
        var actorIDs: [String] = []
        var cardIDs: [String] = []
        var collectionIDs: [String?] = []
        var occurredAt: [Date] = []
        /// The events' `addedAt`: only the activities' `created_at` (``ActivityClustering``).
        var addedAt: [Date] = []

        var isEmpty: Bool { eventIDs.isEmpty }
        var bindings: [any PostgresEncodable] { [eventIDs, actorIDs, cardIDs, collectionIDs, occurredAt] }

        /// Only the library adds.
        var libraryAdds: Collects {
            var adds = Collects()
            for index in eventIDs.indices where collectionIDs[index] == nil {
                adds.eventIDs.append(eventIDs[index])
                adds.actorIDs.append(actorIDs[index])
                adds.cardIDs.append(cardIDs[index])
                adds.collectionIDs.append(nil)
                adds.occurredAt.append(occurredAt[index])
                adds.addedAt.append(addedAt[index])
            }
            return adds
        }
    }

    /// Adds and removals of a card in a library (`CardAddedToLibrary`, `CardRemovedFromLibrary`).
    struct LibraryChanges {
        var cardIDs: [String] = []
        var curatorIDs: [String] = []
        var isAdd: [Bool] = []
        var occurredAt: [Date] = []
        var eventIDs: [String] = []

        var isEmpty: Bool { eventIDs.isEmpty }
        var bindings: [any PostgresEncodable] { [cardIDs, curatorIDs, isAdd, occurredAt, eventIDs] }
    }

    /// Adds and removals of a card in a collection; `memberIDs` is `addedBy` or `removedBy`.
    struct CollectionChanges {
        var collectionIDs: [String] = []
        var cardIDs: [String] = []
        var memberIDs: [String] = []
        var isAdd: [Bool] = []
        var occurredAt: [Date] = []
        var eventIDs: [String] = []

        var isEmpty: Bool { eventIDs.isEmpty }
        var bindings: [any PostgresEncodable] { [collectionIDs, cardIDs, memberIDs, isAdd, occurredAt, eventIDs] }
    }

    /// `CollectionCreated` events.
    struct CollectionCreations {
        var collectionIDs: [String] = []
        var authorIDs: [String] = []
        var names: [String] = []
        var occurredAt: [Date] = []
        var eventIDs: [String] = []

        var isEmpty: Bool { eventIDs.isEmpty }
        var bindings: [any PostgresEncodable] { [collectionIDs, authorIDs, names, occurredAt, eventIDs] }
    }

    /// Follows and unfollows, by (follower, target type, target): the event's `followId` is not
    /// kept, it identifies nothing (semble-parity.md §4).
    struct FollowChanges {
        var followerIDs: [String] = []
        var targetTypes: [String] = []
        var targetIDs: [String] = []
        var isFollow: [Bool] = []
        var occurredAt: [Date] = []
        var eventIDs: [String] = []

        var isEmpty: Bool { eventIDs.isEmpty }
        var bindings: [any PostgresEncodable] { [followerIDs, targetTypes, targetIDs, isFollow, occurredAt, eventIDs] }
    }

    /// Connections created and removed.
    struct ConnectionChanges {
        var connectionIDs: [String] = []
        var curatorIDs: [String] = []
        var isCreation: [Bool] = []
        var occurredAt: [Date] = []
        var eventIDs: [String] = []

        var isEmpty: Bool { eventIDs.isEmpty }
        var bindings: [any PostgresEncodable] { [connectionIDs, curatorIDs, isCreation, occurredAt, eventIDs] }
    }

    var collects = Collects()
    var libraryChanges = LibraryChanges()
    var collectionChanges = CollectionChanges()
    var collectionCreations = CollectionCreations()
    var followChanges = FollowChanges()
    var connectionChanges = ConnectionChanges()

    /// Splits `events` into columns, keeping only the types in `types` (a handler's own).
    init(_ events: [EventEnvelope], types: Set<EventType>) {
        for envelope in events where types.contains(envelope.type) {
            add(envelope)
        }
    }

    private mutating func add(_ envelope: EventEnvelope) {
        let at = envelope.occurredAt
        let id = envelope.id
        switch envelope.event {
        case .cardAddedToLibrary(let event):
            addCollect(id, actor: event.curatorId, card: event.cardId, collection: nil, at: at, addedAt: event.addedAt)
            libraryChange(card: event.cardId, curator: event.curatorId, isAdd: true, at: at, id: id)
        case .cardRemovedFromLibrary(let event):
            libraryChange(card: event.cardId, curator: event.curatorId, isAdd: false, at: at, id: id)
        case .cardAddedToCollection(let event):
            addCollect(id, actor: event.addedBy, card: event.cardId, collection: event.collectionId, at: at, addedAt: event.addedAt)
            collectionChange(collection: event.collectionId, card: event.cardId, member: event.addedBy, isAdd: true, at: at, id: id)
        case .cardRemovedFromCollection(let event):
            collectionChange(collection: event.collectionId, card: event.cardId, member: event.removedBy, isAdd: false, at: at, id: id)
        case .collectionCreated(let event):
            collectionCreations.collectionIDs.append(event.collectionId)
            collectionCreations.authorIDs.append(event.authorId)
            collectionCreations.names.append(event.collectionName)
            collectionCreations.occurredAt.append(at)
            collectionCreations.eventIDs.append(id)
        case .userFollowedTarget(let event):
            followChange(follower: event.followerId, target: event.targetId, type: event.targetType, isFollow: true, at: at, id: id)
        case .userUnfollowedTarget(let event):
            followChange(follower: event.followerId, target: event.targetId, type: event.targetType, isFollow: false, at: at, id: id)
        case .connectionCreated(let event):
            connectionChange(event.connectionId, curator: event.curatorId, isCreation: true, at: at, id: id)
        case .connectionRemoved(let event):
            connectionChange(event.connectionId, curator: event.curatorId, isCreation: false, at: at, id: id)
        }
    }

    private mutating func addCollect(_ id: String, actor: String, card: String, collection: String?, at: Date, addedAt: Date) {
        collects.eventIDs.append(id)
        collects.actorIDs.append(actor)
        collects.cardIDs.append(card)
        collects.collectionIDs.append(collection)
        collects.occurredAt.append(at)
        collects.addedAt.append(addedAt)
    }

    private mutating func libraryChange(card: String, curator: String, isAdd: Bool, at: Date, id: String) {
        libraryChanges.cardIDs.append(card)
        libraryChanges.curatorIDs.append(curator)
        libraryChanges.isAdd.append(isAdd)
        libraryChanges.occurredAt.append(at)
        libraryChanges.eventIDs.append(id)
    }

    private mutating func collectionChange(collection: String, card: String, member: String, isAdd: Bool, at: Date, id: String) {
        collectionChanges.collectionIDs.append(collection)
        collectionChanges.cardIDs.append(card)
        collectionChanges.memberIDs.append(member)
        collectionChanges.isAdd.append(isAdd)
        collectionChanges.occurredAt.append(at)
        collectionChanges.eventIDs.append(id)
    }

    private mutating func followChange(
        follower: String, target: String, type: FollowTargetType, isFollow: Bool, at: Date, id: String
    ) {
        followChanges.followerIDs.append(follower)
        followChanges.targetTypes.append(type.rawValue)
        followChanges.targetIDs.append(target)
        followChanges.isFollow.append(isFollow)
        followChanges.occurredAt.append(at)
        followChanges.eventIDs.append(id)
    }

    private mutating func connectionChange(_ connectionID: String, curator: String, isCreation: Bool, at: Date, id: String) {
        connectionChanges.connectionIDs.append(connectionID)
        connectionChanges.curatorIDs.append(curator)
        connectionChanges.isCreation.append(isCreation)
        connectionChanges.occurredAt.append(at)
        connectionChanges.eventIDs.append(id)
    }
}
