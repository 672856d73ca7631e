import CourierEvents

/// The notifications of a flushed ``CardActivityBundle``: Semble's four bundle handlers
/// (semble:src/modules/notifications/application/bundleHandlers/), each independent, reading the
/// state as it is at flush time (``SembleSnapshot``):
/// - **via card**: the card has a `via_card_id` → USER_ADDED_YOUR_CARD to that card's author;
/// - **URL mention**: no via card, the card's URL names a Bluesky post or a Semble collection
///   (``MentionedEntity``) whose author is a Semble user → USER_ADDED_YOUR_BSKY_POST /
///   USER_ADDED_YOUR_COLLECTION to them;
/// - **collection contribution**: each OPEN collection of the bundle (CLOSED ones notify nobody)
///   → USER_ADDED_TO_YOUR_COLLECTION to its author, metadata naming that one collection;
/// - **subscription**: with the resolver's recipients and the actor excluded, each recipient at
///   most once, in precedence order: the CARD-scope subscribers of each bundle collection →
///   USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION (every bundle collection in the metadata); when the
///   bundle has the library add and the card's URL is a Semble collection's page, that
///   collection's COLLECTION_SAVED subscribers (not its author) → USER_ADDED_SUBSCRIBED_COLLECTION;
///   the actor's CARD-scope subscribers → SUBSCRIBED_USER_ADDED_CARD. Plain followers get nothing.
///
/// Every draft then goes through ``NotificationDraft/accepted`` (nobody is notified of their own
/// action). Metadata: `cardId` as the event sent it, `collectionIds` only when the bundle has some.
enum BundleRules {
    static func notifications(for bundle: CardActivityBundle, in state: SembleSnapshot, settings: SembleSettings) -> [NotificationDraft] {
        let collectionIDs = bundle.collectionIDs.isEmpty ? nil : bundle.collectionIDs
        func draft(_ type: NotificationType, to recipient: String, collections: [String]? = collectionIDs) -> NotificationDraft {
            NotificationDraft(type: type, recipient: recipient, actor: bundle.actorID, cardID: bundle.cardID, collectionIDs: collections)
        }
        var drafts: [NotificationDraft] = []
        let card = state.card(bundle.cardID)

        // Via card.
        if let card, let via = card.viaCardID, let viaCard = state.cards[via], viaCard.authorID != bundle.actorID {
            drafts.append(draft(.userAddedYourCard, to: viaCard.authorID))
        }
        // URL mention.
        if let card, card.viaCardID == nil, let url = card.url, let mention = mentionedAuthor(url: url, in: state, settings: settings),
            mention.recipient != bundle.actorID, SembleIdentifiers.hasDIDPrefix(mention.recipient), state.users.contains(mention.recipient)
        {
            drafts.append(draft(mention.type, to: mention.recipient))
        }
        // Collection contribution.
        for collectionID in bundle.collectionIDs {
            guard let collection = state.collection(collectionID), collection.isOpen, collection.authorID != bundle.actorID else { continue }
            drafts.append(draft(.userAddedToYourCollection, to: collection.authorID, collections: [collectionID]))
        }
        // Subscriptions.
        var excluded = specificRecipients(of: bundle, in: state, settings: settings)
        excluded.insert(bundle.actorID)
        var handled: Set<String> = []
        func notify(_ subscribers: [String], _ type: NotificationType, collections: [String]?, alsoExcluding extra: String? = nil) {
            for recipient in subscribers where !excluded.contains(recipient) && recipient != extra && handled.insert(recipient).inserted {
                drafts.append(draft(type, to: recipient, collections: collections))
            }
        }
        for collectionID in bundle.collectionIDs {
            notify(state.subscribers(of: collectionID, "COLLECTION", scope: "CARD"), .userAddedCardToSubscribedCollection, collections: bundle.collectionIDs)
        }
        if bundle.hasLibraryEvent, let url = card?.url, let saved = state.collection(pagedAt: url, settings: settings) {
            notify(
                state.subscribers(of: saved.id, "COLLECTION", scope: "COLLECTION_SAVED"), .userAddedSubscribedCollection, collections: collectionIDs,
                alsoExcluding: saved.authorID)
        }
        notify(state.subscribers(of: bundle.actorID, "USER", scope: "CARD"), .subscribedUserAddedCard, collections: collectionIDs)

        return drafts.compactMap(\.accepted)
    }

    /// Semble's `BundleRecipientResolver`: who gets a specific notification of the bundle — the via
    /// card's author (when the card has a via card), else the author the URL names (a post's only
    /// if a Semble user; a collection's without that check), and the authors of the bundle's OPEN
    /// collections (also when the card is gone).
    static func specificRecipients(of bundle: CardActivityBundle, in state: SembleSnapshot, settings: SembleSettings) -> Set<String> {
        var recipients: Set<String> = []
        if let card = state.card(bundle.cardID) {
            if let via = card.viaCardID {
                if let viaCard = state.cards[via] { recipients.insert(viaCard.authorID) }
            } else if let url = card.url, let mention = mentionedAuthor(url: url, in: state, settings: settings) {
                if mention.type == .userAddedYourCollection || state.users.contains(mention.recipient) {
                    recipients.insert(mention.recipient)
                }
            }
        }
        for collectionID in bundle.collectionIDs {
            if let collection = state.collection(collectionID), collection.isOpen { recipients.insert(collection.authorID) }
        }
        return recipients
    }

    /// The author `url` names: a Bluesky post's DID, or the author of the Semble collection whose
    /// page it is (when the collection is known); nil for anything else, a handle included.
    static func mentionedAuthor(url: String, in state: SembleSnapshot, settings: SembleSettings) -> (recipient: String, type: NotificationType)? {
        switch MentionedEntity.parse(url, appURL: settings.appURL) {
        case .blueskyPost(let handleOrDID, _):
            return MentionedEntity.did(of: handleOrDID).map { ($0, .userAddedYourBskyPost) }
        case .sembleCollection:
            return state.collection(pagedAt: url, settings: settings).map { ($0.authorID, .userAddedYourCollection) }
        case nil:
            return nil
        }
    }

    // MARK: What to read

    /// The cards to read: the bundles' (and then their via cards: ``SembleState`` reads both).
    static func cardIDs(of bundles: [CardActivityBundle]) -> [String] {
        bundles.compactMap { SembleIdentifiers.canonicalUUID($0.cardID) }
    }

    /// With the cards read: the collections to read, by id and by the AT-URI a card's URL names.
    static func collectionsToRead(for bundles: [CardActivityBundle], in state: SembleSnapshot, settings: SembleSettings) -> (ids: [String], uris: [String]) {
        var ids: [String] = []
        var uris: [String] = []
        for bundle in bundles {
            ids += bundle.collectionIDs.compactMap(SembleIdentifiers.canonicalUUID)
            if let url = state.card(bundle.cardID)?.url,
                let uri = MentionedEntity.parse(url, appURL: settings.appURL)?.collectionURI(nsid: settings.collectionNSID)
            {
                uris.append(uri)
            }
        }
        return (ids, uris)
    }

    /// With the cards and collections read: the DIDs whose `users` row matters and the
    /// subscriptions to read.
    static func usersAndSubscriptionsToRead(
        for bundles: [CardActivityBundle], in state: SembleSnapshot, settings: SembleSettings
    ) -> (users: [String], subscriptions: [SembleSnapshot.Subscription]) {
        var users: [String] = []
        var subscriptions: [SembleSnapshot.Subscription] = []
        for bundle in bundles {
            let card = state.card(bundle.cardID)
            if let url = card?.url, let mention = mentionedAuthor(url: url, in: state, settings: settings) {
                users.append(mention.recipient)
            }
            for collectionID in bundle.collectionIDs {
                subscriptions.append(.init(targetID: collectionID, targetType: "COLLECTION", scope: "CARD"))
            }
            if bundle.hasLibraryEvent, let url = card?.url, let saved = state.collection(pagedAt: url, settings: settings) {
                subscriptions.append(.init(targetID: saved.id, targetType: "COLLECTION", scope: "COLLECTION_SAVED"))
            }
            subscriptions.append(.init(targetID: bundle.actorID, targetType: "USER", scope: "CARD"))
        }
        return (users, subscriptions)
    }
}
