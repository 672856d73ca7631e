import CourierEvents

/// Semble's notification types (semble:src/modules/notifications/domain/value-objects/NotificationType.ts).
enum NotificationType: String, CaseIterable, Sendable {
    case userAddedYourCard = "USER_ADDED_YOUR_CARD"
    case userAddedYourBskyPost = "USER_ADDED_YOUR_BSKY_POST"
    case userAddedYourCollection = "USER_ADDED_YOUR_COLLECTION"
    case userAddedToYourCollection = "USER_ADDED_TO_YOUR_COLLECTION"
    case userAddedCardToSubscribedCollection = "USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION"
    case userAddedSubscribedCollection = "USER_ADDED_SUBSCRIBED_COLLECTION"
    case subscribedUserAddedCard = "SUBSCRIBED_USER_ADDED_CARD"
    case userFollowedYou = "USER_FOLLOWED_YOU"
    case userFollowedYourCollection = "USER_FOLLOWED_YOUR_COLLECTION"
    case userConnectedYourURL = "USER_CONNECTED_YOUR_URL"
    case userConnectedYourPost = "USER_CONNECTED_YOUR_POST"
    case userConnectedYourCollection = "USER_CONNECTED_YOUR_COLLECTION"
    case userConnectedSubscribedCollection = "USER_CONNECTED_SUBSCRIBED_COLLECTION"
    case subscribedUserMadeConnection = "SUBSCRIBED_USER_MADE_CONNECTION"
}

/// A notification one of Semble's rules makes: a row of `notifications` but its id, `read` and
/// times. The metadata keys are Semble's (semble-parity.md §3.2); a nil value is an absent key.
struct NotificationDraft: Hashable, Sendable {
    var type: NotificationType
    var recipient: String
    var actor: String
    var cardID: String? = nil
    /// `collectionIds`; nil when the key is absent (never empty when present, except as Semble writes it).
    var collectionIDs: [String]? = nil
    var connectionID: String? = nil
    /// `targetType` and `targetId` of the follow notifications.
    var targetType: String? = nil
    var targetID: String? = nil

    /// The draft as Semble writes it, or nil when Semble's `CreateNotificationUseCase` /
    /// `NotificationService` refuses it: recipient and actor must be DIDs as a `CuratorId` takes
    /// them (trimmed; the trimmed values are stored), and nobody is notified of their own action.
    var accepted: NotificationDraft? {
        guard let recipient = SembleIdentifiers.curatorDID(recipient), let actor = SembleIdentifiers.curatorDID(actor),
            recipient != actor
        else { return nil }
        var draft = self
        draft.recipient = recipient
        draft.actor = actor
        return draft
    }
}
