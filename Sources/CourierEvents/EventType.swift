/// The nine kinds of domain event Semble raises.
///
/// The raw value is the canonical name: the routing key on `domain_events`, the AMQP `type`
/// property and the body's `eventType` as Courier writes them. Semble's own code names the two
/// follow events `USER_FOLLOWED_TARGET` / `USER_UNFOLLOWED_TARGET`; those legacy names are accepted
/// as aliases wherever a name comes from outside (routing key, `type` property, and the body of a
/// schema-version-1 message), so the app queue must bind them as well.
public enum EventType: String, CaseIterable, Sendable, Hashable {
    case cardAddedToLibrary = "CardAddedToLibraryEvent"
    case cardAddedToCollection = "CardAddedToCollectionEvent"
    case cardRemovedFromLibrary = "CardRemovedFromLibraryEvent"
    case cardRemovedFromCollection = "CardRemovedFromCollectionEvent"
    case collectionCreated = "CollectionCreatedEvent"
    case userFollowedTarget = "UserFollowedTargetEvent"
    case userUnfollowedTarget = "UserUnfollowedTargetEvent"
    case connectionCreated = "ConnectionCreatedEvent"
    case connectionRemoved = "ConnectionRemovedEvent"

    /// Canonical name or a legacy alias ("USER_FOLLOWED_TARGET", "USER_UNFOLLOWED_TARGET"); nil when unknown.
    ///
    /// Matching is exact (case-sensitive, no trimming): routing keys are exact on a topic exchange too.
    public init?(wireName: String) {
        if let canonical = EventType(rawValue: wireName) {
            self = canonical
        } else if let legacy = EventType(legacyAlias: wireName) {
            self = legacy
        } else {
            return nil
        }
    }

    /// The type a legacy alias stands for; nil for canonical names and unknown names.
    public init?(legacyAlias: String) {
        switch legacyAlias {
        case "USER_FOLLOWED_TARGET": self = .userFollowedTarget
        case "USER_UNFOLLOWED_TARGET": self = .userUnfollowedTarget
        default: return nil
        }
    }

    /// The canonical name (same as `rawValue`).
    public var wireName: String { rawValue }

    /// The legacy names of this type, e.g. `["USER_FOLLOWED_TARGET"]`; empty for most types.
    /// The app queue binds these too, so messages routed with them are not unroutable.
    public var legacyAliases: [String] {
        switch self {
        case .userFollowedTarget: ["USER_FOLLOWED_TARGET"]
        case .userUnfollowedTarget: ["USER_UNFOLLOWED_TARGET"]
        default: []
        }
    }

    /// Every name a message may carry: the nine canonical names and the legacy aliases, sorted.
    /// These are exactly the binding keys the app queue needs.
    public static var allWireNames: [String] {
        allCases.flatMap { [$0.rawValue] + $0.legacyAliases }.sorted()
    }
}

/// What a follow event's `targetType` names: a user or a collection.
public enum FollowTargetType: String, Sendable, Hashable, CaseIterable {
    case user = "USER"
    case collection = "COLLECTION"
}
