import CourierEvents
import Foundation

extension EventEnvelope {
    /// A new event raised by this process, with a fresh identity: a random UUID, lower-case.
    ///
    /// Use it for every event you publish or enqueue. The id becomes the message's `message_id`
    /// and the `event_store` row's primary key (``Outbox`` requires a UUID), and it is what lets the
    /// handlers apply each event once however many times the relay publishes it.
    ///
    /// - Parameters:
    ///   - aggregateId: the aggregate the event belongs to; by default the one Semble's
    ///     specification names for the type (the card, the collection, the follow, the connection).
    ///   - occurredAt: when the change happened; now by default.
    public static func outgoing(_ event: SembleEvent, aggregateId: String? = nil, occurredAt: Date = Date()) -> EventEnvelope {
        EventEnvelope(
            id: UUID().uuidString.lowercased(), aggregateId: aggregateId ?? event.specifiedAggregateId, occurredAt: occurredAt,
            schemaVersion: EventSchema.currentVersion, event: event)
    }
}

extension SembleEvent {
    /// The aggregate of the event per Semble's specification ("aggregateId is" column).
    var specifiedAggregateId: String {
        switch self {
        case .cardAddedToLibrary(let e): e.cardId
        case .cardAddedToCollection(let e): e.collectionId
        case .cardRemovedFromLibrary(let e): e.cardId
        case .cardRemovedFromCollection(let e): e.collectionId
        case .collectionCreated(let e): e.collectionId
        case .userFollowedTarget(let e): e.followId
        case .userUnfollowedTarget(let e): e.followId
        case .connectionCreated(let e): e.connectionId
        case .connectionRemoved(let e): e.connectionId
        }
    }
}
