/// What Semble's handlers read from Semble's tables to decide a notification, for a set of bundles
/// or connections, read when they are handled (as Semble reads it then, not as of the event).
/// Keys are canonical UUIDs (``CourierEvents/SembleIdentifiers/canonicalUUID(_:)``) and the
/// strings stored in Semble's tables. A key missing is a row missing.
struct SembleSnapshot: Sendable {
    struct Card: Sendable, Hashable {
        var authorID: String
        /// `via_card_id`, canonical.
        var viaCardID: String?
        var url: String?
    }

    struct Collection: Sendable, Hashable {
        var authorID: String
        /// `access_type = 'OPEN'`.
        var isOpen: Bool
    }

    struct Connection: Sendable, Hashable {
        var curatorID: String
        var sourceType: String
        var sourceValue: String
        var targetType: String
        var targetValue: String
    }

    /// "The followers of `targetID` (`targetType`) subscribed for `scope`" (`follows` rows with
    /// `is_subscribed` and `subscription_scopes @> [scope]`).
    struct Subscription: Sendable, Hashable {
        var targetID: String
        var targetType: String
        var scope: String
    }

    var cards: [String: Card] = [:]
    var collections: [String: Collection] = [:]
    /// A collection by the AT-URI of its published record (Semble's `resolveCollectionId`).
    var collectionByURI: [String: String] = [:]
    /// Which of the DIDs asked about are Semble users (`users.id`).
    var users: Set<String> = []
    /// Subscribers (follower ids passing `DID.create`), by subscription asked about.
    var subscribers: [Subscription: [String]] = [:]
    var connections: [String: Connection] = [:]
    /// The holders of a URL card with exactly this URL in their library (first 1000, newest card first).
    var libraryHolders: [String: [String]] = [:]

    func card(_ id: String) -> Card? {
        SembleIdentifiers.canonicalUUID(id).flatMap { cards[$0] }
    }

    func collection(_ id: String) -> Collection? {
        SembleIdentifiers.canonicalUUID(id).flatMap { collections[$0] }
    }

    /// The connection `id`, when it exists and both its ends are URLs (the only ones Semble's
    /// `ConnectionCreatedEventHandler` notifies about).
    func urlConnection(_ id: String) -> Connection? {
        guard let key = SembleIdentifiers.canonicalUUID(id), let connection = connections[key],
            connection.sourceType == "URL", connection.targetType == "URL"
        else { return nil }
        return connection
    }

    func subscribers(of targetID: String, _ targetType: String, scope: String) -> [String] {
        subscribers[Subscription(targetID: targetID, targetType: targetType, scope: scope)] ?? []
    }

    /// The Semble collection `url` is the page of, with its author (Semble's `CollectionUrlResolver`:
    /// no `users` check); nil when it is not one or the collection is unknown.
    func collection(pagedAt url: String, settings: SembleSettings) -> (id: String, authorID: String)? {
        guard let uri = MentionedEntity.parse(url, appURL: settings.appURL)?.collectionURI(nsid: settings.collectionNSID),
            let id = collectionByURI[uri], let collection = collections[id]
        else { return nil }
        return (id, collection.authorID)
    }
}

import CourierEvents
