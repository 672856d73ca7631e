import CourierEvents
import CourierPostgres

/// Semble's notifications (``NotificationRules``), kept as a function of the set of events seen:
/// equal to applying each event once in ``EventOrder``, whatever the arrival order, the
/// duplicates or the replays. A removal or unfollow deletes exactly what its add or follow made,
/// and does nothing when it comes first (a follow is its (follower, target type, target), so a
/// later follow of it makes it again); a `CollectionCreated` arriving after the adds and follows
/// of its collection makes the notifications that were waiting for the author; an earlier library
/// add arriving late moves the card's authorship and its notifications.
///
/// It takes all nine event types (`CollectionCreated` only feeds the read model). A batch
/// records its facts, then recomputes the notifications of what it touched: about a dozen
/// statements, whatever its size.
public struct NotificationsHandler: EventHandler {
    public let name = "notifications"
    public let eventTypes: Set<EventType> = Set(EventType.allCases)

    public init() {}

    public func apply(_ events: [EventEnvelope], in transaction: isolated PostgresConnection) async throws {
        let batch = SembleBatch(events, types: eventTypes)
        try SembleSession.prepare(transaction)
        // Facts (its own tables; see Facts).
        try Facts.recordCollects(batch.collects, on: transaction)
        try Facts.recordLibraryChanges(batch.libraryChanges, on: transaction)
        try Facts.recordCollectionChanges(batch.collectionChanges, on: transaction)
        let authorChangedCards = try Facts.recordCardAuthors(batch.collects.libraryAdds, on: transaction)
        let authorChangedCollections = try Facts.recordCollections(batch.collectionCreations, on: transaction)
        let follows = try Facts.recordFollows(batch.followChanges, into: Facts.Tables.notifications.follows, on: transaction)
        try Facts.recordConnections(batch.connectionChanges, into: Facts.Tables.notifications.connections, on: transaction)

        // Keys are passed as they come, duplicates included: SQL dedupes them, comparing bytes.
        try NotificationRules.cardAdds(
            cardIDs: batch.libraryChanges.cardIDs, curatorIDs: batch.libraryChanges.curatorIDs,
            authorChangedCardIDs: authorChangedCards, on: transaction)
        try NotificationRules.collectionAdds(
            collectionIDs: batch.collectionChanges.collectionIDs, cardIDs: batch.collectionChanges.cardIDs,
            authorChangedCollectionIDs: authorChangedCollections, follows: follows, on: transaction)
        try NotificationRules.follows(follows: follows, authorChangedCollectionIDs: authorChangedCollections, on: transaction)
        try NotificationRules.connections(
            connectionIDs: batch.connectionChanges.connectionIDs, follows: follows, on: transaction)
    }
}
