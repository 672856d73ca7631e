import CourierEvents
import CourierPostgres
import Foundation

/// Semble's notifications (semble:src/modules/notifications/application/), as its handlers make
/// them — reading Semble's tables as they are when an event is handled — in delivery order:
/// - **card adds** (library, collection) join or open the pending bundle of their (card, actor)
///   (``BundleBook``, kept in ``BundleStore``); the bundle's notifications are made when it is
///   flushed (``BundleFlusher``, ``BundleRules``);
/// - **CardRemovedFromLibrary** drops the (card, curator)'s pending bundle and deletes every
///   notification by the curator about the card; **CardRemovedFromCollection** deletes the
///   collection-scoped notifications about the card naming the collection
///   (``NotificationStore/Cleanup``);
/// - **UserFollowedTarget**: USER_FOLLOWED_YOU to the user followed, or
///   USER_FOLLOWED_YOUR_COLLECTION to the author of the collection followed (when it exists);
///   **UserUnfollowedTarget** deletes what the follow made (by follower and target);
/// - **ConnectionCreated** (``ConnectionRules``); **ConnectionRemoved** deletes the curator's
///   notifications about the connection;
/// - **CollectionCreated** changes nothing.
/// A clean-up also deletes what an earlier event of the same batch made, never what a later one
/// makes — as one event at a time. About ten statements per batch, whatever its size.
package struct NotificationsHandler: EventHandler {
    package let name = "notifications"
    package let eventTypes: Set<EventType> = Set(EventType.allCases)
    let settings: SembleSettings

    package init(settings: SembleSettings = .production) {
        self.settings = settings
    }

    package func apply(_ events: [EventEnvelope], in transaction: isolated PostgresConnection) async throws {
        try SembleSession.prepare(transaction)
        // What the batch reads: its (card, actor) pairs' pending bundles, the collections it
        // follows, the connections it creates.
        var pairs: (cards: [String], actors: [String]) = ([], [])
        var followedCollections: [String] = []
        var createdConnections: [String] = []
        for envelope in events {
            switch envelope.event {
            case .cardAddedToLibrary(let event): pairs.cards.append(event.cardId); pairs.actors.append(event.curatorId)
            case .cardAddedToCollection(let event): pairs.cards.append(event.cardId); pairs.actors.append(event.addedBy)
            case .cardRemovedFromLibrary(let event): pairs.cards.append(event.cardId); pairs.actors.append(event.curatorId)
            case .userFollowedTarget(let event) where event.targetType == .collection: followedCollections.append(event.targetId)
            case .connectionCreated(let event): createdConnections.append(event.connectionId)
            default: break
            }
        }
        var book = BundleBook(
            pending: try BundleStore.pending(cardIDs: pairs.cards, actorIDs: pairs.actors, on: transaction),
            window: settings.bundleWindow.timeInterval)
        var state = SembleSnapshot()
        try SembleState.readCollections(ids: followedCollections, uris: [], into: &state, on: transaction)
        try Self.readConnectionState(createdConnections, into: &state, settings: settings, on: transaction)

        // One event at a time.
        var drafts: [NotificationDraft] = []
        var cleanups: [NotificationStore.Cleanup] = []
        func clean(_ cleanup: NotificationStore.Cleanup) {
            cleanups.append(cleanup)
            drafts.removeAll { cleanup.deletes($0) }
        }
        for envelope in events {
            switch envelope.event {
            case .cardAddedToLibrary(let event):
                book.add(CardAdd(eventID: envelope.id, cardID: event.cardId, actorID: event.curatorId, collectionID: nil, occurredAt: envelope.occurredAt))
            case .cardAddedToCollection(let event):
                book.add(
                    CardAdd(
                        eventID: envelope.id, cardID: event.cardId, actorID: event.addedBy, collectionID: event.collectionId,
                        occurredAt: envelope.occurredAt))
            case .cardRemovedFromLibrary(let event):
                book.removeFromLibrary(cardID: event.cardId, actorID: event.curatorId)
                clean(.libraryRemoval(actorID: event.curatorId, cardID: event.cardId))
            case .cardRemovedFromCollection(let event):
                clean(.collectionRemoval(cardID: event.cardId, collectionID: event.collectionId))
            case .userFollowedTarget(let event):
                if let draft = Self.followNotification(event, in: state) { drafts.append(draft) }
            case .userUnfollowedTarget(let event):
                switch event.targetType {
                case .user: clean(.userUnfollow(actorID: event.followerId, targetID: event.targetId))
                case .collection: clean(.collectionUnfollow(actorID: event.followerId, targetID: event.targetId))
                }
            case .connectionCreated(let event):
                drafts += ConnectionRules.notifications(connectionID: event.connectionId, in: state, settings: settings)
            case .connectionRemoved(let event):
                clean(.connectionRemoval(actorID: event.curatorId, connectionID: event.connectionId))
            case .collectionCreated:
                break
            }
        }
        try NotificationStore.delete(cleanups, on: transaction)
        try BundleStore.write(book, window: settings.bundleWindow, on: transaction)
        try NotificationStore.insert(drafts, on: transaction)
    }

    /// Semble's `UserFollowedTargetEventHandler`: a user follow notifies the user followed (a DID
    /// Semble's `CuratorId` takes); a collection follow notifies the collection's author (nothing
    /// when the collection does not exist); never the follower themself.
    static func followNotification(_ event: UserFollowedTarget, in state: SembleSnapshot) -> NotificationDraft? {
        switch event.targetType {
        case .user:
            return NotificationDraft(type: .userFollowedYou, recipient: event.targetId, actor: event.followerId, targetType: "USER").accepted
        case .collection:
            guard let collection = state.collection(event.targetId) else { return nil }
            return NotificationDraft(
                type: .userFollowedYourCollection, recipient: collection.authorID, actor: event.followerId, targetType: "COLLECTION",
                targetID: event.targetId
            ).accepted
        }
    }

    /// Everything ``ConnectionRules`` reads for these connections.
    static func readConnectionState(
        _ connectionIDs: [String], into state: inout SembleSnapshot, settings: SembleSettings, on db: isolated PostgresConnection
    ) throws {
        guard !connectionIDs.isEmpty else { return }
        try SembleState.readConnections(connectionIDs, into: &state, on: db)
        let (urls, uris) = ConnectionRules.urls(of: connectionIDs, in: state, settings: settings)
        try SembleState.readCollections(ids: [], uris: uris, into: &state, on: db)
        try SembleState.readLibraryHolders(urls, into: &state, on: db)
        let (users, subscriptions) = ConnectionRules.usersAndSubscriptionsToRead(of: connectionIDs, in: state, settings: settings)
        try SembleState.readUsers(users, into: &state, on: db)
        try SembleState.readSubscribers(subscriptions, into: &state, on: db)
    }
}
