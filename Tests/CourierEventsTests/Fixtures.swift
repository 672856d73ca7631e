import CourierTesting
import Foundation
import Testing
@testable import CourierEvents

/// 2026-11-28T10:15:30.123Z, as JavaScript's `toISOString()` writes it.
let occurredText = "2026-11-28T10:15:30.123Z"
let occurredDate = Date(timeIntervalSince1970: 1_795_860_930.123)
/// 2026-11-28T09:00:00.000Z
let addedText = "2026-11-28T09:00:00.000Z"
let addedDate = Date(timeIntervalSince1970: 1_795_856_400)

/// A JSON object body built member by member (values are raw JSON), so tests can drop or replace one.
struct Body: Sendable {
    var members: [Member]

    struct Member: Sendable {
        var key: String
        var raw: String
    }

    var bytes: [UInt8] { Array(text.utf8) }
    var text: String { "{" + members.map { "\"\($0.key)\":\($0.raw)" }.joined(separator: ",") + "}" }

    func removing(_ key: String) -> Body {
        Body(members: members.filter { $0.key != key })
    }

    /// Replaces the member's raw JSON value (or appends it).
    func setting(_ key: String, raw: String) -> Body {
        var copy = self
        if let index = copy.members.firstIndex(where: { $0.key == key }) {
            copy.members[index].raw = raw
        } else {
            copy.members.append(Member(key: key, raw: raw))
        }
        return copy
    }

    func setting(_ key: String, string: String) -> Body { setting(key, raw: jsonString(string)) }
}


/// One valid message of one event type, as Semble's TypeScript API would send it, and the typed
/// value it must decode to. `fields` lists the event's own fields in the specification's order.
struct Sample: Sendable, CustomTestStringConvertible {
    var type: EventType
    var aggregateId: String
    var fields: [(name: String, value: String)]
    var expected: SembleEvent

    var testDescription: String { type.rawValue }

    var body: Body {
        Body(members: [
            .init(key: "eventType", raw: jsonString(type.rawValue)),
            .init(key: "aggregateId", raw: jsonString(aggregateId)),
            .init(key: "dateTimeOccurred", raw: jsonString(occurredText)),
        ] + fields.map { .init(key: $0.name, raw: jsonString($0.value)) })
    }

    /// Every required member: the three common ones, then the event's own.
    var requiredKeys: [String] { ["eventType", "aggregateId", "dateTimeOccurred"] + fields.map(\.name) }

    /// The fields that hold identifiers (must not be blank).
    var idKeys: [String] {
        ["aggregateId"] + fields.map(\.name).filter { $0.hasSuffix("Id") || $0 == "addedBy" || $0 == "removedBy" }
    }

    var expectedEnvelope: EventEnvelope {
        EventEnvelope(id: "msg-1", aggregateId: aggregateId, occurredAt: occurredDate, schemaVersion: 2, event: expected)
    }
}

/// The fields Semble holds as a `CuratorId`: DIDs matching `did:plc:[A-Za-z0-9]+` or `did:web:[A-Za-z0-9.%-]+`.
let curatorIdKeys: Set<String> = ["curatorId", "addedBy", "removedBy", "authorId"]

let cardId = "card-7f9c2b1e"
let collectionId = "coll-3a51d0c4"
let curator = "did:plc:curator4ayzbq2c7"
let follower = "did:plc:follower7r3w5q"
let author = "did:plc:author2kq9x"

let samples: [Sample] = [
    Sample(
        type: .cardAddedToLibrary, aggregateId: cardId,
        fields: [("cardId", cardId), ("curatorId", curator), ("addedAt", addedText)],
        expected: .cardAddedToLibrary(CardAddedToLibrary(cardId: cardId, curatorId: curator, addedAt: addedDate))
    ),
    Sample(
        type: .cardAddedToCollection, aggregateId: collectionId,
        fields: [("cardId", cardId), ("collectionId", collectionId), ("addedBy", curator), ("addedAt", addedText)],
        expected: .cardAddedToCollection(CardAddedToCollection(
            cardId: cardId, collectionId: collectionId, addedBy: curator, addedAt: addedDate))
    ),
    Sample(
        type: .cardRemovedFromLibrary, aggregateId: cardId,
        fields: [("cardId", cardId), ("curatorId", curator)],
        expected: .cardRemovedFromLibrary(CardRemovedFromLibrary(cardId: cardId, curatorId: curator))
    ),
    Sample(
        type: .cardRemovedFromCollection, aggregateId: collectionId,
        fields: [("cardId", cardId), ("collectionId", collectionId), ("removedBy", curator)],
        expected: .cardRemovedFromCollection(CardRemovedFromCollection(
            cardId: cardId, collectionId: collectionId, removedBy: curator))
    ),
    Sample(
        type: .collectionCreated, aggregateId: collectionId,
        fields: [("collectionId", collectionId), ("authorId", author), ("collectionName", "Reading — 2026 ✨")],
        expected: .collectionCreated(CollectionCreated(
            collectionId: collectionId, authorId: author, collectionName: "Reading — 2026 ✨"))
    ),
    Sample(
        type: .userFollowedTarget, aggregateId: "follow-91",
        fields: [("followId", "follow-91"), ("followerId", follower), ("targetId", curator),
                 ("targetType", "USER"), ("createdAt", addedText)],
        expected: .userFollowedTarget(UserFollowedTarget(
            followId: "follow-91", followerId: follower, targetId: curator, targetType: .user, createdAt: addedDate))
    ),
    Sample(
        type: .userUnfollowedTarget, aggregateId: "follow-92",
        fields: [("followId", "follow-92"), ("followerId", follower), ("targetId", collectionId),
                 ("targetType", "COLLECTION")],
        expected: .userUnfollowedTarget(UserUnfollowedTarget(
            followId: "follow-92", followerId: follower, targetId: collectionId, targetType: .collection))
    ),
    Sample(
        type: .connectionCreated, aggregateId: "conn-5",
        fields: [("connectionId", "conn-5"), ("curatorId", curator)],
        expected: .connectionCreated(ConnectionCreated(connectionId: "conn-5", curatorId: curator))
    ),
    Sample(
        type: .connectionRemoved, aggregateId: "conn-6",
        fields: [("connectionId", "conn-6"), ("curatorId", curator)],
        expected: .connectionRemoved(ConnectionRemoved(connectionId: "conn-6", curatorId: curator))
    ),
]

func sample(_ type: EventType) -> Sample {
    samples.first { $0.type == type }!
}

/// Decodes like courierd would, with the given overrides.
func decode(
    _ body: [UInt8],
    messageId: String? = "msg-1",
    routingKey: String? = nil,
    typeProperty: String? = nil,
    schemaVersion: Int? = nil,
    decoder: EventDecoder = EventDecoder()
) throws(EventDecodingError) -> EventEnvelope {
    try decoder.decode(
        body: body, messageId: messageId, routingKey: routingKey, typeProperty: typeProperty,
        schemaVersion: schemaVersion
    )
}

/// The error decoding throws, or nil when it succeeds.
func decodingError(
    _ body: [UInt8],
    messageId: String? = "msg-1",
    routingKey: String? = nil,
    typeProperty: String? = nil,
    schemaVersion: Int? = nil,
    decoder: EventDecoder = EventDecoder()
) -> EventDecodingError? {
    do {
        _ = try decode(body, messageId: messageId, routingKey: routingKey, typeProperty: typeProperty,
                       schemaVersion: schemaVersion, decoder: decoder)
        return nil
    } catch {
        return error
    }
}
