/// Writes an envelope as the body Courier publishes: one flat JSON object in the current schema
/// version's format (the caller sets the `x-schema-version` header to `EventSchema.currentVersion`,
/// `message_id` to `envelope.id`, `type` and the routing key to `envelope.type.rawValue`).
///
/// Key order is fixed — `eventType`, `aggregateId`, `dateTimeOccurred`, then the event's fields in
/// the order of the specification's table — so equal envelopes give identical bytes. Dates are UTC
/// with three fraction digits when they are whole milliseconds (exactly `toISOString()`), six
/// otherwise (see `EventTimestamp`). The envelope's `id` and `schemaVersion` are not in the body.
/// `decode(encode(e))` (with `messageId: e.id`) equals `e` for every envelope the decoder produces.
public struct EventEncoder: Sendable {
    public init() {}

    public func encode(_ envelope: EventEnvelope) -> [UInt8] {
        var writer = JSONObjectWriter()
        writer.string("eventType", envelope.type.rawValue)
        writer.string("aggregateId", envelope.aggregateId)
        writer.date("dateTimeOccurred", envelope.occurredAt)
        switch envelope.event {
        case .cardAddedToLibrary(let e):
            writer.string("cardId", e.cardId)
            writer.string("curatorId", e.curatorId)
            writer.date("addedAt", e.addedAt)
        case .cardAddedToCollection(let e):
            writer.string("cardId", e.cardId)
            writer.string("collectionId", e.collectionId)
            writer.string("addedBy", e.addedBy)
            writer.date("addedAt", e.addedAt)
        case .cardRemovedFromLibrary(let e):
            writer.string("cardId", e.cardId)
            writer.string("curatorId", e.curatorId)
        case .cardRemovedFromCollection(let e):
            writer.string("cardId", e.cardId)
            writer.string("collectionId", e.collectionId)
            writer.string("removedBy", e.removedBy)
        case .collectionCreated(let e):
            writer.string("collectionId", e.collectionId)
            writer.string("authorId", e.authorId)
            writer.string("collectionName", e.collectionName)
        case .userFollowedTarget(let e):
            writer.string("followId", e.followId)
            writer.string("followerId", e.followerId)
            writer.string("targetId", e.targetId)
            writer.string("targetType", e.targetType.rawValue)
            writer.date("createdAt", e.createdAt)
        case .userUnfollowedTarget(let e):
            writer.string("followId", e.followId)
            writer.string("followerId", e.followerId)
            writer.string("targetId", e.targetId)
            writer.string("targetType", e.targetType.rawValue)
        case .connectionCreated(let e):
            writer.string("connectionId", e.connectionId)
            writer.string("curatorId", e.curatorId)
        case .connectionRemoved(let e):
            writer.string("connectionId", e.connectionId)
            writer.string("curatorId", e.curatorId)
        }
        return writer.finish()
    }
}
