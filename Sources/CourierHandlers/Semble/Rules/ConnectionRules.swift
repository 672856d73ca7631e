import CourierEvents

/// The notifications of a created connection, as Semble's `ConnectionCreatedEventHandler`
/// (semble:src/modules/notifications/application/eventHandlers/ConnectionCreatedEventHandler.ts)
/// makes them from the `connections` row as it is when handled. Nothing unless the row exists and
/// both ends are URLs. Then:
/// 1. for the source, then the target URL: when it names a Bluesky post or a Semble collection
///    whose author is a Semble user other than the curator → USER_CONNECTED_YOUR_POST /
///    USER_CONNECTED_YOUR_COLLECTION to them (the same owner can get two); they are "owners";
/// 2. everyone holding a URL card with exactly either URL in their library, but the curator and
///    the owners → one USER_CONNECTED_YOUR_URL each;
/// 3. excluding the curator, the owners and those holders: for each end that is a Semble
///    collection's page, its CONNECTION-scope subscribers (not its author) →
///    USER_CONNECTED_SUBSCRIBED_COLLECTION; then the curator's CONNECTION-scope subscribers →
///    SUBSCRIBED_USER_MADE_CONNECTION — each recipient at most once.
/// The actor is the row's curator; metadata `{"connectionId"}` as the event sent it.
enum ConnectionRules {
    static func notifications(connectionID: String, in state: SembleSnapshot, settings: SembleSettings) -> [NotificationDraft] {
        guard let connection = state.urlConnection(connectionID) else { return [] }
        let curator = connection.curatorID
        let urls = [connection.sourceValue, connection.targetValue]
        func draft(_ type: NotificationType, to recipient: String) -> NotificationDraft {
            NotificationDraft(type: type, recipient: recipient, actor: curator, connectionID: connectionID)
        }
        var drafts: [NotificationDraft] = []
        var owners: Set<String> = []
        for url in urls {
            guard let owner = BundleRules.mentionedAuthor(url: url, in: state, settings: settings),
                SembleIdentifiers.hasDIDPrefix(owner.recipient), state.users.contains(owner.recipient), owner.recipient != curator,
                SembleIdentifiers.curatorDID(owner.recipient) != nil
            else { continue }
            drafts.append(draft(owner.type == .userAddedYourBskyPost ? .userConnectedYourPost : .userConnectedYourCollection, to: owner.recipient))
            owners.insert(owner.recipient)
        }
        var holders: [String] = []
        var seen: Set<String> = []
        for url in urls {
            for holder in state.libraryHolders[url] ?? [] where holder != curator && !owners.contains(holder) && seen.insert(holder).inserted {
                holders.append(holder)
            }
        }
        drafts += holders.map { draft(.userConnectedYourURL, to: $0) }

        var handled = owners.union(holders)
        handled.insert(curator)
        for url in urls {
            guard let collection = state.collection(pagedAt: url, settings: settings) else { continue }
            for recipient in state.subscribers(of: collection.id, "COLLECTION", scope: "CONNECTION")
            where recipient != collection.authorID && handled.insert(recipient).inserted {
                drafts.append(draft(.userConnectedSubscribedCollection, to: recipient))
            }
        }
        for recipient in state.subscribers(of: curator, "USER", scope: "CONNECTION") where handled.insert(recipient).inserted {
            drafts.append(draft(.subscribedUserMadeConnection, to: recipient))
        }
        return drafts.compactMap(\.accepted)
    }

    // MARK: What to read

    /// With the connections read: their URLs (for the holders and the mentions), the collection
    /// AT-URIs they name.
    static func urls(of connectionIDs: [String], in state: SembleSnapshot, settings: SembleSettings) -> (urls: [String], uris: [String]) {
        var urls: [String] = []
        var uris: [String] = []
        for id in connectionIDs {
            guard let connection = state.urlConnection(id) else { continue }
            for url in [connection.sourceValue, connection.targetValue] {
                urls.append(url)
                if let uri = MentionedEntity.parse(url, appURL: settings.appURL)?.collectionURI(nsid: settings.collectionNSID) {
                    uris.append(uri)
                }
            }
        }
        return (urls, uris)
    }

    /// With the connections and collections read: the DIDs whose `users` row matters, and the
    /// subscriptions to read.
    static func usersAndSubscriptionsToRead(
        of connectionIDs: [String], in state: SembleSnapshot, settings: SembleSettings
    ) -> (users: [String], subscriptions: [SembleSnapshot.Subscription]) {
        var users: [String] = []
        var subscriptions: [SembleSnapshot.Subscription] = []
        for id in connectionIDs {
            guard let connection = state.urlConnection(id) else { continue }
            for url in [connection.sourceValue, connection.targetValue] {
                if let owner = BundleRules.mentionedAuthor(url: url, in: state, settings: settings) { users.append(owner.recipient) }
                if let collection = state.collection(pagedAt: url, settings: settings) {
                    subscriptions.append(.init(targetID: collection.id, targetType: "COLLECTION", scope: "CONNECTION"))
                }
            }
            subscriptions.append(.init(targetID: connection.curatorID, targetType: "USER", scope: "CONNECTION"))
        }
        return (users, subscriptions)
    }
}
