#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// One struct per event type, with exactly the fields of the specification's table (beyond the
// three common ones, which live on `EventEnvelope`). Ids are kept as the strings Semble sends
// (UUIDs, DIDs, AT-URIs…): Courier never interprets them, it only compares and stores them. The
// decoder checks the actors' DIDs as Semble does (see `FieldReader`): `curatorId`, `addedBy`,
// `removedBy` and `authorId` match `did:plc:[A-Za-z0-9]+` or `did:web:[A-Za-z0-9.%-]+`,
// `followerId` starts with `did:plc:` or `did:web:`.

/// A card was added to a user's library. `aggregateId` is the card.
public struct CardAddedToLibrary: Sendable, Hashable {
    public var cardId: String
    /// The DID of the user who added it.
    public var curatorId: String
    public var addedAt: Date

    public init(cardId: String, curatorId: String, addedAt: Date) {
        self.cardId = cardId
        self.curatorId = curatorId
        self.addedAt = addedAt
    }
}

/// A card was added to a collection. `aggregateId` is the collection.
public struct CardAddedToCollection: Sendable, Hashable {
    public var cardId: String
    public var collectionId: String
    /// The DID of the user who added it.
    public var addedBy: String
    public var addedAt: Date

    public init(cardId: String, collectionId: String, addedBy: String, addedAt: Date) {
        self.cardId = cardId
        self.collectionId = collectionId
        self.addedBy = addedBy
        self.addedAt = addedAt
    }
}

/// A card was removed from a user's library. `aggregateId` is the card.
public struct CardRemovedFromLibrary: Sendable, Hashable {
    public var cardId: String
    public var curatorId: String

    public init(cardId: String, curatorId: String) {
        self.cardId = cardId
        self.curatorId = curatorId
    }
}

/// A card was removed from a collection. `aggregateId` is the collection.
public struct CardRemovedFromCollection: Sendable, Hashable {
    public var cardId: String
    public var collectionId: String
    public var removedBy: String

    public init(cardId: String, collectionId: String, removedBy: String) {
        self.cardId = cardId
        self.collectionId = collectionId
        self.removedBy = removedBy
    }
}

/// A collection was created. `aggregateId` is the collection.
public struct CollectionCreated: Sendable, Hashable {
    public var collectionId: String
    public var authorId: String
    /// Free text: may be empty (only ids are required to be non-blank).
    public var collectionName: String

    public init(collectionId: String, authorId: String, collectionName: String) {
        self.collectionId = collectionId
        self.authorId = authorId
        self.collectionName = collectionName
    }
}

/// A user followed a user or a collection. `aggregateId` is the follow.
public struct UserFollowedTarget: Sendable, Hashable {
    public var followId: String
    public var followerId: String
    public var targetId: String
    public var targetType: FollowTargetType
    public var createdAt: Date

    public init(followId: String, followerId: String, targetId: String, targetType: FollowTargetType, createdAt: Date) {
        self.followId = followId
        self.followerId = followerId
        self.targetId = targetId
        self.targetType = targetType
        self.createdAt = createdAt
    }
}

/// A user stopped following a user or a collection. `aggregateId` is the follow.
public struct UserUnfollowedTarget: Sendable, Hashable {
    public var followId: String
    public var followerId: String
    public var targetId: String
    public var targetType: FollowTargetType

    public init(followId: String, followerId: String, targetId: String, targetType: FollowTargetType) {
        self.followId = followId
        self.followerId = followerId
        self.targetId = targetId
        self.targetType = targetType
    }
}

/// A curator connected cards. `aggregateId` is the connection.
public struct ConnectionCreated: Sendable, Hashable {
    public var connectionId: String
    public var curatorId: String

    public init(connectionId: String, curatorId: String) {
        self.connectionId = connectionId
        self.curatorId = curatorId
    }
}

/// A connection was removed. `aggregateId` is the connection.
public struct ConnectionRemoved: Sendable, Hashable {
    public var connectionId: String
    public var curatorId: String

    public init(connectionId: String, curatorId: String) {
        self.connectionId = connectionId
        self.curatorId = curatorId
    }
}

/// One of Semble's domain events, typed: what a handler switches over.
public enum SembleEvent: Sendable, Hashable {
    case cardAddedToLibrary(CardAddedToLibrary)
    case cardAddedToCollection(CardAddedToCollection)
    case cardRemovedFromLibrary(CardRemovedFromLibrary)
    case cardRemovedFromCollection(CardRemovedFromCollection)
    case collectionCreated(CollectionCreated)
    case userFollowedTarget(UserFollowedTarget)
    case userUnfollowedTarget(UserUnfollowedTarget)
    case connectionCreated(ConnectionCreated)
    case connectionRemoved(ConnectionRemoved)

    /// The event's type (its canonical name is the routing key).
    public var type: EventType {
        switch self {
        case .cardAddedToLibrary: .cardAddedToLibrary
        case .cardAddedToCollection: .cardAddedToCollection
        case .cardRemovedFromLibrary: .cardRemovedFromLibrary
        case .cardRemovedFromCollection: .cardRemovedFromCollection
        case .collectionCreated: .collectionCreated
        case .userFollowedTarget: .userFollowedTarget
        case .userUnfollowedTarget: .userUnfollowedTarget
        case .connectionCreated: .connectionCreated
        case .connectionRemoved: .connectionRemoved
        }
    }
}
