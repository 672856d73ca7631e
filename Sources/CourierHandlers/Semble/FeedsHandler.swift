import CourierEvents
import CourierPostgres

/// Semble's feeds: CARD_COLLECTED and CONNECTION_CREATED activities in `feed_activities`, and
/// their fan-out into the followers' `following_feed_items`.
///
/// The tables are a function of the set of events seen, equal to applying each event once in
/// ``EventOrder``: whatever the arrival order, the duplicates or the replays. A batch
///  1. records its facts (follows, connection creations) — idempotent upserts;
///  2. re-clusters the (actor, card) pairs it collected into, from their activities' sources and
///     the batch's collects (``FeedActivities``);
///  3. writes the CONNECTION_CREATED activities of the connections it created;
///  4. recomputes the feed items of those activities and of the follows it changed
///     (``FollowingFeed``).
/// About ten statements per batch, whatever its size.
public struct FeedsHandler: EventHandler {
    public let name = "feeds"
    public let eventTypes: Set<EventType> = [
        .cardAddedToLibrary, .cardAddedToCollection, .connectionCreated, .userFollowedTarget, .userUnfollowedTarget,
    ]

    public init() {}

    public func apply(_ events: [EventEnvelope], in transaction: isolated PostgresConnection) async throws {
        let batch = SembleBatch(events, types: eventTypes)
        try SembleSession.prepare(transaction)
        // Facts, in its own tables (see Facts). The collects need none: they are the sources of
        // the activities (FeedActivities).
        let follows = try Facts.recordFollows(batch.followChanges, into: Facts.Tables.feeds.follows, on: transaction)
        try Facts.recordConnections(batch.connectionChanges, into: Facts.Tables.feeds.connections, on: transaction)

        // Keys are passed as they come, duplicates included: SQL dedupes them, comparing bytes
        // (Swift's String equality would merge canonically equivalent ids Postgres keeps apart).
        let openings = try FeedActivities.recomputeCardCollected(batch.collects, on: transaction)
        let connections = batch.connectionChanges.connectionIDs
        try FeedActivities.recomputeConnectionCreated(connectionIDs: connections, on: transaction)
        try FollowingFeed.recompute(
            openingEventIDs: openings.existing, newOpeningEventIDs: openings.new, connectionIDs: connections,
            follows: follows, on: transaction)
    }
}
