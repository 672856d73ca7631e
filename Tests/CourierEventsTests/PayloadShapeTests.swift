import CourierTesting
import Foundation
import Testing
@testable import CourierEvents

// Semble's two payload shapes (reference/semble-parity.md §2) and the checks Semble's consumer
// applies to actors. §2a: `EventMapper.toSerialized`, flat strings with `eventType`. §2b: the
// "Option 4" publisher, `JSON.stringify({...event, aggregateId})` routed by class name: `eventName`
// instead of `eventType`, fields as serialized value objects.

/// How a publisher writes one field's value `S`.
enum Wrap: Sendable {
    /// `"S"`: every field in §2a; dates, `targetId` and `collectionName` in §2b too.
    case plain
    /// `{"props":{"value":{"value":S}}}`: a CardId, CollectionId or ConnectionId (a ValueObject around a UniqueEntityID).
    case entityId
    /// `{"props":{"value":S}}`: a CuratorId, DID or FollowTargetType.
    case valueObject
    /// `{"value":S}`: a UniqueEntityID (followId).
    case identifier

    func raw(_ value: String) -> String {
        switch self {
        case .plain: jsonString(value)
        case .entityId: #"{"props":{"value":{"value":\#(jsonString(value))}}}"#
        case .valueObject: #"{"props":{"value":\#(jsonString(value))}}"#
        case .identifier: #"{"value":\#(jsonString(value))}"#
        }
    }
}

/// One event of §2 in both shapes, and what it must decode to.
struct ShapeCase: Sendable, CustomTestStringConvertible {
    var label: String
    var type: EventType
    /// Semble's `EventNames` string: `eventType` (and the BullMQ job name) in §2a, `eventName` in §2b.
    var eventName: String
    var aggregateId: String
    /// The event's own fields in the specification's order, and how §2b writes each.
    var fields: [(name: String, value: String, wrap: Wrap)]
    var expected: SembleEvent

    var testDescription: String { label }

    /// §2a, in `EventMapper`'s key order.
    var flat: Body {
        Body(members: [
            .init(key: "eventType", raw: jsonString(eventName)),
            .init(key: "aggregateId", raw: jsonString(aggregateId)),
            .init(key: "dateTimeOccurred", raw: jsonString(shapeOccurred)),
        ] + fields.map { .init(key: $0.name, raw: jsonString($0.value)) })
    }

    /// §2b, in tsc's key order: constructor fields, `eventName`, `dateTimeOccurred`, `aggregateId`.
    var option4: Body {
        Body(members: fields.map { .init(key: $0.name, raw: $0.wrap.raw($0.value)) } + [
            .init(key: "eventName", raw: jsonString(eventName)),
            .init(key: "dateTimeOccurred", raw: jsonString(shapeOccurred)),
            .init(key: "aggregateId", raw: jsonString(aggregateId)),
        ])
    }

    /// The routing key of §2b: the event's class name.
    var className: String { type.rawValue }

    /// The fields §2b writes as value objects.
    var wrappedFields: [String] { fields.filter { $0.wrap != .plain }.map(\.name) }
}

let alice = "did:plc:7iza6de2dwap2sbkpav7c6c6"
let bob = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
let cardA = "0c6f1a7e-3b1d-4f8e-9a2c-5d4e3f2a1b0c"
let collectionC1 = "9b2e4d6f-8a1c-4e3b-b5d7-1f2e3d4c5b6a"
let connectionX1 = "4f3e2d1c-0b9a-4877-8665-5a4b3c2d1e0f"
let followF1 = "d3b07384-d9a0-4c9f-8b6e-1a2b3c4d5e6f"
/// What Semble's follows repository makes the id of a follow it loads: `{follower}:{target}:{type}`.
let unfollowUser = "\(bob):\(alice):USER"
let unfollowCollection = "\(bob):\(collectionC1):COLLECTION"
let shapeOccurred = "2026-03-01T12:00:00.003Z"
let shapeOccurredDate = Date(timeIntervalSince1970: 1_772_366_400.003)
let shapeAdded = "2026-03-01T12:00:00.000Z"
let shapeAddedDate = Date(timeIntervalSince1970: 1_772_366_400)

/// The rows of §2b's table (with real-looking values), plus a COLLECTION follow and unfollow.
let shapeCases: [ShapeCase] = [
    ShapeCase(
        label: "CardAddedToLibraryEvent", type: .cardAddedToLibrary, eventName: "CardAddedToLibraryEvent", aggregateId: cardA,
        fields: [("cardId", cardA, .entityId), ("curatorId", alice, .valueObject), ("addedAt", shapeAdded, .plain)],
        expected: .cardAddedToLibrary(CardAddedToLibrary(cardId: cardA, curatorId: alice, addedAt: shapeAddedDate))),
    ShapeCase(
        label: "CardAddedToCollectionEvent", type: .cardAddedToCollection, eventName: "CardAddedToCollectionEvent",
        aggregateId: collectionC1,
        fields: [("cardId", cardA, .entityId), ("collectionId", collectionC1, .entityId), ("addedBy", alice, .valueObject),
                 ("addedAt", shapeAdded, .plain)],
        expected: .cardAddedToCollection(CardAddedToCollection(
            cardId: cardA, collectionId: collectionC1, addedBy: alice, addedAt: shapeAddedDate))),
    ShapeCase(
        label: "CardRemovedFromLibraryEvent", type: .cardRemovedFromLibrary, eventName: "CardRemovedFromLibraryEvent",
        aggregateId: cardA,
        fields: [("cardId", cardA, .entityId), ("curatorId", alice, .valueObject)],
        expected: .cardRemovedFromLibrary(CardRemovedFromLibrary(cardId: cardA, curatorId: alice))),
    ShapeCase(
        label: "CardRemovedFromCollectionEvent", type: .cardRemovedFromCollection, eventName: "CardRemovedFromCollectionEvent",
        aggregateId: collectionC1,
        fields: [("cardId", cardA, .entityId), ("collectionId", collectionC1, .entityId), ("removedBy", alice, .valueObject)],
        expected: .cardRemovedFromCollection(CardRemovedFromCollection(cardId: cardA, collectionId: collectionC1, removedBy: alice))),
    ShapeCase(
        label: "CollectionCreatedEvent", type: .collectionCreated, eventName: "CollectionCreatedEvent", aggregateId: collectionC1,
        fields: [("collectionId", collectionC1, .entityId), ("authorId", alice, .valueObject), ("collectionName", "Reading list", .plain)],
        expected: .collectionCreated(CollectionCreated(collectionId: collectionC1, authorId: alice, collectionName: "Reading list"))),
    ShapeCase(
        label: "UserFollowedTargetEvent (USER)", type: .userFollowedTarget, eventName: "USER_FOLLOWED_TARGET", aggregateId: followF1,
        fields: [("followId", followF1, .identifier), ("followerId", bob, .valueObject), ("targetId", alice, .plain),
                 ("targetType", "USER", .valueObject), ("createdAt", shapeAdded, .plain)],
        expected: .userFollowedTarget(UserFollowedTarget(
            followId: followF1, followerId: bob, targetId: alice, targetType: .user, createdAt: shapeAddedDate))),
    ShapeCase(
        label: "UserFollowedTargetEvent (COLLECTION)", type: .userFollowedTarget, eventName: "USER_FOLLOWED_TARGET",
        aggregateId: followF1,
        fields: [("followId", followF1, .identifier), ("followerId", bob, .valueObject), ("targetId", collectionC1, .plain),
                 ("targetType", "COLLECTION", .valueObject), ("createdAt", shapeAdded, .plain)],
        expected: .userFollowedTarget(UserFollowedTarget(
            followId: followF1, followerId: bob, targetId: collectionC1, targetType: .collection, createdAt: shapeAddedDate))),
    ShapeCase(
        label: "UserUnfollowedTargetEvent (USER)", type: .userUnfollowedTarget, eventName: "USER_UNFOLLOWED_TARGET",
        aggregateId: unfollowUser,
        fields: [("followId", unfollowUser, .identifier), ("followerId", bob, .valueObject), ("targetId", alice, .plain),
                 ("targetType", "USER", .valueObject)],
        expected: .userUnfollowedTarget(UserUnfollowedTarget(
            followId: unfollowUser, followerId: bob, targetId: alice, targetType: .user))),
    ShapeCase(
        label: "UserUnfollowedTargetEvent (COLLECTION)", type: .userUnfollowedTarget, eventName: "USER_UNFOLLOWED_TARGET",
        aggregateId: unfollowCollection,
        fields: [("followId", unfollowCollection, .identifier), ("followerId", bob, .valueObject),
                 ("targetId", collectionC1, .plain), ("targetType", "COLLECTION", .valueObject)],
        expected: .userUnfollowedTarget(UserUnfollowedTarget(
            followId: unfollowCollection, followerId: bob, targetId: collectionC1, targetType: .collection))),
    ShapeCase(
        label: "ConnectionCreatedEvent", type: .connectionCreated, eventName: "ConnectionCreatedEvent", aggregateId: connectionX1,
        fields: [("connectionId", connectionX1, .entityId), ("curatorId", alice, .valueObject)],
        expected: .connectionCreated(ConnectionCreated(connectionId: connectionX1, curatorId: alice))),
    ShapeCase(
        label: "ConnectionRemovedEvent", type: .connectionRemoved, eventName: "ConnectionRemovedEvent", aggregateId: connectionX1,
        fields: [("connectionId", connectionX1, .entityId), ("curatorId", alice, .valueObject)],
        expected: .connectionRemoved(ConnectionRemoved(connectionId: connectionX1, curatorId: alice))),
]

func shapeCase(_ label: String) -> ShapeCase {
    shapeCases.first { $0.label == label }!
}

/// Asserts that `envelope` carries `c`'s event, aggregate and time in the current version (the id aside).
func expectDecoded(_ envelope: EventEnvelope, as c: ShapeCase, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(envelope.event == c.expected, sourceLocation: sourceLocation)
    #expect(envelope.aggregateId == c.aggregateId, sourceLocation: sourceLocation)
    #expect(envelope.occurredAt == shapeOccurredDate, sourceLocation: sourceLocation)
    #expect(envelope.schemaVersion == EventSchema.currentVersion, sourceLocation: sourceLocation)
}

@Suite("Semble's two payload shapes")
struct PayloadShapeTests {
    @Test("§2a and §2b of each event decode to the same envelope; only the derived id differs", arguments: shapeCases)
    func bothShapes(_ c: ShapeCase) throws {
        // As each publisher sends it: no message_id, no type property, no version header.
        let flat = try decode(c.flat.bytes, messageId: nil, routingKey: c.eventName)
        let option4 = try decode(c.option4.bytes, messageId: nil, routingKey: c.className)
        expectDecoded(flat, as: c)
        expectDecoded(option4, as: c)
        #expect(flat.id == EventIdentity.derived(body: c.flat.bytes, routingKey: c.eventName))
        #expect(option4.id == EventIdentity.derived(body: c.option4.bytes, routingKey: c.className))
        #expect(flat.id != option4.id)
        var sameId = option4
        sameId.id = flat.id
        #expect(sameId == flat)

        // With a message_id, the two are equal outright; the type may come from the body alone.
        #expect(try decode(c.option4.bytes) == decode(c.flat.bytes))
        #expect(try decode(c.option4.bytes, routingKey: nil) == decode(c.flat.bytes, routingKey: c.className))
    }

    @Test("the v1 → v2 step makes the §2b object into the §2a object, canonical names", arguments: shapeCases)
    func upcastObjectsEqual(_ c: ShapeCase) throws {
        guard case .object(var fromFlat) = try JSONValue.parse(c.flat.bytes),
              case .object(var fromOption4) = try JSONValue.parse(c.option4.bytes)
        else { Issue.record("not objects"); return }
        #expect(fromOption4 != fromFlat)
        try Upcasters.standard.upcast(&fromFlat, from: 1)
        try Upcasters.standard.upcast(&fromOption4, from: 1)
        #expect(fromOption4 == fromFlat)
        #expect(fromOption4["eventType"] == .string(c.type.rawValue))
        #expect(fromOption4["eventName"] == nil)
        #expect(fromOption4.values.allSatisfy { if case .string = $0 { true } else { false } })
    }

    /// Reorderings of a body's members: reversed, every rotation, older esbuild's order
    /// (`eventName`, `dateTimeOccurred` first) and seeded shuffles.
    static func permutations(of body: Body, seed: UInt64) -> [Body] {
        let members = body.members
        var orders: [[Body.Member]] = [members.reversed()]
        for shift in 1..<members.count {
            orders.append(Array(members[shift...] + members[..<shift]))
        }
        let first: Set = ["eventName", "eventType", "dateTimeOccurred"]
        orders.append(members.filter { first.contains($0.key) } + members.filter { !first.contains($0.key) })
        var generator = SplitMix64(seed: seed)
        for _ in 0..<8 {
            var shuffled = members
            for index in stride(from: shuffled.count - 1, to: 0, by: -1) {
                shuffled.swapAt(index, Int(generator.next() % UInt64(index + 1)))
            }
            orders.append(shuffled)
        }
        return orders.map { Body(members: $0) }
    }

    @Test("key order does not matter, in either shape; each distinct body has its own derived id", arguments: shapeCases)
    func keyOrder(_ c: ShapeCase) throws {
        var ids: [String: String] = [:]  // body text → derived id
        for (body, routingKey) in Self.permutations(of: c.flat, seed: 1).map({ ($0, c.eventName) })
            + Self.permutations(of: c.option4, seed: 2).map({ ($0, c.className) }) {
            let envelope = try decode(body.bytes, messageId: nil, routingKey: routingKey)
            expectDecoded(envelope, as: c)
            ids[body.text] = envelope.id
        }
        #expect(ids.count > 2 * c.fields.count)
        #expect(Set(ids.values).count == ids.count)
    }

    @Test("a version-2 body is flat: a value object there is refused as not a string", arguments: shapeCases)
    func version2IsFlat(_ c: ShapeCase) throws {
        let field = try #require(c.wrappedFields.first)
        let raw = c.option4.members.first { $0.key == field }!.raw
        let body = c.flat.setting("eventType", string: c.type.rawValue).setting(field, raw: raw)
        #expect(try decode(body.bytes, schemaVersion: 1).event == c.expected)
        let error = decodingError(body.bytes, schemaVersion: 2)
        #expect(error?.code == .invalidField)
        #expect(error?.field == field)
        #expect(error?.message.hasSuffix("got an object") == true)
    }
}

// MARK: Malformed value objects

struct MalformedCase: Sendable, CustomTestStringConvertible {
    var shape: ShapeCase
    var field: String
    var raw: String
    var testDescription: String { "\(shape.label).\(field) = \(raw)" }
}

@Suite("Serialized value objects: exactly three shapes")
struct ValueObjectShapeTests {
    /// Objects that are none of {props:{value:S}}, {props:{value:{value:S}}}, {value:S}.
    static let malformed = [
        #"{}"#,
        #"{"props":{}}"#,
        #"{"props":"x"}"#,
        #"{"props":null}"#,
        #"{"props":{"value":null}}"#,
        #"{"props":{"value":42}}"#,
        #"{"props":{"value":["x"]}}"#,
        #"{"props":{"value":{"value":7}}}"#,
        #"{"props":{"value":{}}}"#,
        #"{"props":{"value":"x"},"extra":1}"#,
        #"{"props":{"value":"x","extra":1}}"#,
        #"{"props":{"value":{"value":"x","extra":1}}}"#,
        #"{"props":{"value":{"props":{"value":"x"}}}}"#,
        #"{"props":{"value":{"value":{"value":"x"}}}}"#,
        #"{"value":{"value":"x"}}"#,
        #"{"value":null}"#,
        #"{"value":"x","props":{"value":"x"}}"#,
        #"{"Value":"x"}"#,
        #"{"props":{"Value":"x"}}"#,
    ]

    static let cases = shapeCases.flatMap { shape in
        shape.wrappedFields.flatMap { field in malformed.map { MalformedCase(shape: shape, field: field, raw: $0) } }
    }

    @Test("anything else is refused, naming the field and the accepted shapes", arguments: cases)
    func refused(_ c: MalformedCase) {
        let body = c.shape.option4.setting(c.field, raw: c.raw)
        let error = decodingError(body.bytes, messageId: nil, routingKey: c.shape.className)
        #expect(error?.code == .invalidField)
        #expect(error?.field == c.field)
        #expect(error?.message.hasPrefix("field '\(c.field)': expected a string or a serialized value object") == true)
        #expect(error?.message.contains(#"{"props":{"value":S}}, {"props":{"value":{"value":S}}} or {"value":S}"#) == true)
    }

    @Test("the message says what is wrong", arguments: [
        (#"{"props":{"value":"x"},"extra":1}"#, #"the object has the keys ["extra", "props"]"#),
        (#"{"props":{"value":{"value":7}}}"#, "its props.value.value is a number"),
        (#"{"props":{"value":null}}"#, "its props.value is null"),
        (#"{"props":{"value":{"value":"x","y":2}}}"#, #"props.value has the keys ["value", "y"]"#),
        (#"{"value":{"value":"x"}}"#, "its value is an object"),
        (#"{"props":[]}"#, "its props is an array"),
    ])
    func detail(_ raw: String, _ detail: String) {
        let c = shapeCase("CardAddedToLibraryEvent")
        let error = decodingError(c.option4.setting("cardId", raw: raw).bytes, routingKey: c.className)
        #expect(error?.message.hasSuffix(detail) == true, "\(error?.message ?? "decoded")")
    }

    @Test("every accepted shape is accepted in every wrapped field", arguments: shapeCases)
    func anyShapeAnyField(_ c: ShapeCase) throws {
        for field in c.wrappedFields + ["targetId"] where c.fields.contains(where: { $0.name == field }) {
            let value = c.fields.first { $0.name == field }!.value
            for wrap in [Wrap.plain, .entityId, .valueObject, .identifier] {
                let envelope = try decode(c.option4.setting(field, raw: wrap.raw(value)).bytes, routingKey: c.className)
                expectDecoded(envelope, as: c)
            }
        }
    }

    @Test("only the events' value fields are unwrapped: not aggregateId, dates or collectionName")
    func otherFieldsStayStrict() {
        let c = shapeCase("CollectionCreatedEvent")
        for field in ["aggregateId", "dateTimeOccurred", "collectionName"] {
            let error = decodingError(c.option4.setting(field, raw: Wrap.valueObject.raw("x")).bytes, routingKey: c.className)
            #expect(error?.code == .invalidField, "\(field)")
            #expect(error?.field == field)
            #expect(error?.message.hasSuffix("got an object") == true)
        }
    }

    @Test("an unwrapped value is validated like a plain one")
    func unwrappedValuesValidated() {
        let c = shapeCase("CardAddedToCollectionEvent")
        let blank = decodingError(c.option4.setting("cardId", raw: Wrap.entityId.raw(" ")).bytes, routingKey: c.className)
        #expect(blank?.field == "cardId")
        #expect(blank?.message.contains("non-empty") == true)
        let notDID = decodingError(c.option4.setting("addedBy", raw: Wrap.valueObject.raw("u1")).bytes, routingKey: c.className)
        #expect(notDID?.field == "addedBy")
        #expect(notDID?.message.contains("did:plc:[A-Za-z0-9]+") == true)
        let follow = shapeCase("UserFollowedTargetEvent (USER)")
        let badType = decodingError(follow.option4.setting("targetType", raw: Wrap.valueObject.raw("GROUP")).bytes, routingKey: follow.className)
        #expect(badType?.field == "targetType")
        #expect(badType?.code == .invalidField)
    }
}

// MARK: Where the type comes from

@Suite("eventName, eventType and the routing key")
struct EventNameTests {
    @Test("eventName alone names the type, legacy follow names included", arguments: shapeCases)
    func eventNameAlone(_ c: ShapeCase) throws {
        expectDecoded(try decode(c.option4.bytes, routingKey: nil), as: c)
        expectDecoded(try decode(c.option4.bytes, routingKey: ""), as: c)
        // The routing key by either name of the type agrees.
        for name in [c.type.rawValue] + c.type.legacyAliases {
            expectDecoded(try decode(c.option4.bytes, routingKey: name, typeProperty: name), as: c)
        }
    }

    @Test("eventName and eventType naming the same type agree, whichever names they use", arguments: [
        ("USER_FOLLOWED_TARGET", "USER_FOLLOWED_TARGET"), ("USER_FOLLOWED_TARGET", "UserFollowedTargetEvent"),
        ("UserFollowedTargetEvent", "USER_FOLLOWED_TARGET"), ("UserFollowedTargetEvent", "UserFollowedTargetEvent"),
    ])
    func agree(_ eventName: String, _ eventType: String) throws {
        let c = shapeCase("UserFollowedTargetEvent (USER)")
        let body = c.option4.setting("eventName", string: eventName).setting("eventType", string: eventType)
        expectDecoded(try decode(body.bytes, routingKey: c.className), as: c)
        expectDecoded(try decode(c.flat.setting("eventName", string: eventName).bytes), as: c)
    }

    @Test("eventName and eventType naming different types → eventTypeMismatch on eventName", arguments: [
        ("USER_FOLLOWED_TARGET", "UserUnfollowedTargetEvent"),
        ("CardAddedToLibraryEvent", "CardAddedToCollectionEvent"),
        ("ConnectionRemovedEvent", "USER_UNFOLLOWED_TARGET"),
    ])
    func disagree(_ eventName: String, _ eventType: String) {
        let c = shapeCase("UserFollowedTargetEvent (USER)")
        let body = c.option4.setting("eventName", string: eventName).setting("eventType", string: eventType)
        let error = decodingError(body.bytes, routingKey: nil)
        #expect(error?.code == .eventTypeMismatch)
        #expect(error?.field == "eventName")
        #expect(error?.message.contains(EventType(wireName: eventName)!.rawValue) == true)
        #expect(error?.message.contains(EventType(wireName: eventType)!.rawValue) == true)
    }

    @Test("eventName and a routing key naming different types → eventTypeMismatch on eventName", arguments: [
        ("USER_FOLLOWED_TARGET", "UserUnfollowedTargetEvent"),
        ("USER_FOLLOWED_TARGET", "USER_UNFOLLOWED_TARGET"),
        ("CardAddedToLibraryEvent", "CardRemovedFromLibraryEvent"),
    ])
    func disagreeWithRoutingKey(_ eventName: String, _ routingKey: String) {
        let c = shapeCase("CardAddedToLibraryEvent")
        let error = decodingError(c.option4.setting("eventName", string: eventName).bytes, routingKey: routingKey)
        #expect(error?.code == .eventTypeMismatch)
        #expect(error?.field == "eventName")
        #expect(error?.message.contains("the body's eventName says \(EventType(wireName: eventName)!.rawValue)") == true)
        #expect(error?.message.contains("routing key") == true)
    }

    @Test("an unknown eventName → unknownEventType on eventName, even beside a good eventType",
          arguments: ["UserFollowedTarget", "user_followed_target", "", "CardAddedEvent"])
    func unknownEventName(_ name: String) {
        let c = shapeCase("CardAddedToLibraryEvent")
        for body in [c.option4.setting("eventName", string: name), c.flat.setting("eventName", string: name)] {
            let error = decodingError(body.bytes, routingKey: c.className)
            #expect(error?.code == .unknownEventType)
            #expect(error?.field == "eventName")
            #expect(error?.message.contains("eventName") == true)
        }
    }

    @Test("an eventName that is not a string → invalidField on eventName", arguments: ["42", "null", "{}", #"["CardAddedToLibraryEvent"]"#])
    func eventNameWrongType(_ raw: String) {
        let c = shapeCase("CardAddedToLibraryEvent")
        let error = decodingError(c.option4.setting("eventName", raw: raw).bytes, routingKey: c.className)
        #expect(error?.code == .invalidField)
        #expect(error?.field == "eventName")
    }

    @Test("in version 2, eventName is an unknown member: ignored, it names nothing")
    func eventNameInVersion2() throws {
        let c = shapeCase("ConnectionCreatedEvent")
        let flatV2 = c.flat.setting("eventType", string: c.type.rawValue)
        let ignored = flatV2.setting("eventName", string: "ConnectionRemovedEvent")
        #expect(try decode(ignored.bytes, schemaVersion: 2).event == c.expected)
        let error = decodingError(flatV2.removing("eventType").setting("eventName", string: c.type.rawValue).bytes, routingKey: nil, schemaVersion: 2)
        #expect(error?.code == .missingField)
        #expect(error?.field == "eventType")
    }
}

// MARK: DIDs as Semble checks them

struct ActorCase: Sendable, CustomTestStringConvertible {
    var shape: ShapeCase
    var field: String
    var testDescription: String { "\(shape.label).\(field)" }
}

/// The actor a decoded event carries in `field`.
func actor(_ event: SembleEvent, _ field: String) -> String? {
    switch (event, field) {
    case (.cardAddedToLibrary(let e), "curatorId"): e.curatorId
    case (.cardAddedToCollection(let e), "addedBy"): e.addedBy
    case (.cardRemovedFromLibrary(let e), "curatorId"): e.curatorId
    case (.cardRemovedFromCollection(let e), "removedBy"): e.removedBy
    case (.collectionCreated(let e), "authorId"): e.authorId
    case (.userFollowedTarget(let e), "followerId"): e.followerId
    case (.userFollowedTarget(let e), "targetId"): e.targetId
    case (.userUnfollowedTarget(let e), "followerId"): e.followerId
    case (.userUnfollowedTarget(let e), "targetId"): e.targetId
    case (.connectionCreated(let e), "curatorId"): e.curatorId
    case (.connectionRemoved(let e), "curatorId"): e.curatorId
    default: nil
    }
}

@Suite("Actor DIDs, checked as Semble's EventMapper.fromSerialized checks them")
struct DIDValidationTests {
    /// Every CuratorId field of every type (seven).
    static let curatorCases = shapeCases.filter { !$0.label.hasSuffix("(COLLECTION)") }.flatMap { shape in
        shape.fields.map(\.name).filter(curatorIdKeys.contains).map { ActorCase(shape: shape, field: $0) }
    }
    static let followerCases = [
        ActorCase(shape: shapeCase("UserFollowedTargetEvent (USER)"), field: "followerId"),
        ActorCase(shape: shapeCase("UserUnfollowedTargetEvent (USER)"), field: "followerId"),
    ]

    @Test("the cases cover the seven CuratorId fields")
    func coverage() {
        #expect(Self.curatorCases.count == 7)
        #expect(Set(Self.curatorCases.map(\.field)) == curatorIdKeys)
    }

    /// `/^did:(plc:[a-zA-Z0-9]+|web:[a-zA-Z0-9.%-]+)$/` after JavaScript's `trim()`; the trimmed value is kept.
    static let validCurators: [(String, String)] = [
        (alice, alice),
        ("did:plc:ABCxyz0189", "did:plc:ABCxyz0189"),
        ("did:web:example.com", "did:web:example.com"),
        ("did:web:semble.so", "did:web:semble.so"),
        ("did:web:localhost%3A8080", "did:web:localhost%3A8080"),
        ("did:web:my-pds.example-host.org", "did:web:my-pds.example-host.org"),
        ("did:web:-.%", "did:web:-.%"),
        ("  \(alice)\n", alice),
        ("\u{00A0}\u{FEFF}did:web:example.com\u{3000}", "did:web:example.com"),
        ("\t\u{2028}\(alice)\r\u{000B}", alice),
    ]

    static let invalidCurators = [
        "u1", "a", "did:a", "did", "did:", "did:plc:", "did:web:", "did:plc:abc-def", "did:plc:abc.def", "did:plc:abc_def",
        "did:plc:abc:def", "did:web:example.com:user:alice", "did:web:example.com/path", "did:web:exa mple.com",
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "DID:plc:abc", "did:PLC:abc", "did:plc:abc def",
        "did:plc:ａｂｃ", "did:plc:ünï", "did:plc:abc\u{0085}", "\u{200B}did:plc:abc", "at://did:plc:abc", "did:plc:abc/",
        "did:plc:abc\u{0}", "  ", "",
    ]

    @Test("CuratorId fields accept did:plc / did:web DIDs, trimmed", arguments: curatorCases, validCurators)
    func validCurator(_ c: ActorCase, _ value: (String, String)) throws {
        for (body, routingKey) in [(c.shape.flat, c.shape.eventName), (c.shape.option4, c.shape.className)] {
            let raw = body.members.first { $0.key == c.field }!.raw
            let wrapped = raw.hasPrefix("{") ? Wrap.valueObject.raw(value.0) : jsonString(value.0)
            let envelope = try decode(body.setting(c.field, raw: wrapped).bytes, routingKey: routingKey)
            #expect(actor(envelope.event, c.field) == value.1)
        }
    }

    @Test("CuratorId fields refuse anything else, naming the field and the pattern", arguments: curatorCases, invalidCurators)
    func invalidCurator(_ c: ActorCase, _ value: String) {
        for (body, routingKey) in [(c.shape.flat, c.shape.eventName), (c.shape.option4, c.shape.className)] {
            let raw = body.members.first { $0.key == c.field }!.raw
            let wrapped = raw.hasPrefix("{") ? Wrap.valueObject.raw(value) : jsonString(value)
            let error = decodingError(body.setting(c.field, raw: wrapped).bytes, routingKey: routingKey)
            #expect(error?.code == .invalidField)
            #expect(error?.field == c.field)
            #expect(error?.message.hasPrefix(
                "field '\(c.field)': expected a DID matching did:plc:[A-Za-z0-9]+ or did:web:[A-Za-z0-9.%-]+ (Semble's CuratorId), got ") == true)
        }
    }

    /// Semble's `DID.create`: the prefix only, no trimming.
    static let validFollowers = [
        alice, bob, "did:web:example.com", "did:plc:", "did:web:", "did:plc:with-hyphen_and.dots",
        "did:web:example.com:user:alice", "did:plc:ünï ✨",
    ]
    static let invalidFollowers = [
        "u1", "a", "did:a", "did", "did:plc", "did:pl:abc", "did:webx:abc", "DID:plc:abc", "did:PLC:abc",
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", " \(alice)", "\u{00A0}\(alice)", "at://\(alice)",
    ]

    @Test("followerId needs the prefix did:plc: or did:web:, and is kept as sent", arguments: followerCases, validFollowers)
    func validFollower(_ c: ActorCase, _ value: String) throws {
        for (body, routingKey) in [(c.shape.flat, c.shape.eventName), (c.shape.option4, c.shape.className)] {
            let raw = body.members.first { $0.key == c.field }!.raw
            let wrapped = raw.hasPrefix("{") ? Wrap.valueObject.raw(value) : jsonString(value)
            #expect(actor(try decode(body.setting(c.field, raw: wrapped).bytes, routingKey: routingKey).event, c.field) == value)
        }
    }

    @Test("followerId without the prefix is refused, naming the field", arguments: followerCases, invalidFollowers)
    func invalidFollower(_ c: ActorCase, _ value: String) {
        for (body, routingKey) in [(c.shape.flat, c.shape.eventName), (c.shape.option4, c.shape.className)] {
            let raw = body.members.first { $0.key == c.field }!.raw
            let wrapped = raw.hasPrefix("{") ? Wrap.valueObject.raw(value) : jsonString(value)
            let error = decodingError(body.setting(c.field, raw: wrapped).bytes, routingKey: routingKey)
            #expect(error?.code == .invalidField)
            #expect(error?.field == c.field)
            #expect(error?.message.hasPrefix("field 'followerId': expected a DID starting with 'did:plc:' or 'did:web:'") == true)
        }
    }

    @Test("targetId is not checked as a DID, even for a USER follow (Semble keeps it a plain string)", arguments: [
        "u1", "not a DID", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", collectionC1, " did:plc:x ", "handle.bsky.social",
    ])
    func targetIdUnchecked(_ value: String) throws {
        for label in ["UserFollowedTargetEvent (USER)", "UserUnfollowedTargetEvent (USER)"] {
            let c = shapeCase(label)
            let envelope = try decode(c.option4.setting("targetId", string: value).bytes, routingKey: c.className)
            #expect(actor(envelope.event, "targetId") == value)
        }
    }

    @Test("follow ids are not UUIDs and are not checked as such")
    func followIdsAreFree() throws {
        for followId in [unfollowUser, unfollowCollection, "not-a-uuid", "F1"] {
            let c = shapeCase("UserUnfollowedTargetEvent (USER)")
            let body = c.option4.setting("followId", raw: Wrap.identifier.raw(followId)).setting("aggregateId", string: followId)
            let envelope = try decode(body.bytes, routingKey: c.className)
            guard case .userUnfollowedTarget(let event) = envelope.event else { Issue.record("wrong event"); return }
            #expect(event.followId == followId)
            #expect(envelope.aggregateId == followId)
        }
    }

    @Test("Semble's pattern, directly")
    func pattern() {
        #expect(FieldReader.isCuratorDID(alice))
        #expect(FieldReader.isCuratorDID("did:web:a"))
        #expect(!FieldReader.isCuratorDID("did:plc:"))
        #expect(!FieldReader.isCuratorDID("did:plc:a\n"), "JavaScript's $ does not match before a final newline without /m")
        #expect(FieldReader.trimmedAsJavaScript(" \u{2029}x y\u{205F}") == "x y")
        #expect(FieldReader.trimmedAsJavaScript("\u{0085}x") == "\u{0085}x")
        #expect(FieldReader.trimmedAsJavaScript("\u{200B}") == "\u{200B}")
        #expect(FieldReader.trimmedAsJavaScript(" \t ") == "")
    }
}

// MARK: Identity of messages without message_id

@Suite("Derived ids of Semble's messages")
struct ShapeIdentityTests {
    @Test("two unfollows of the same pair at different times have different ids; a redelivery keeps its id")
    func unfollowsDoNotCollapse() throws {
        let c = shapeCase("UserUnfollowedTargetEvent (USER)")
        for (body, routingKey) in [(c.option4, c.className), (c.flat, c.eventName)] {
            let first = body
            let second = body.setting("dateTimeOccurred", string: "2026-03-02T08:30:00.000Z")
            let a = try decode(first.bytes, messageId: nil, routingKey: routingKey)
            let b = try decode(second.bytes, messageId: nil, routingKey: routingKey)
            // The same follow, the same followId and aggregate: only the time differs…
            #expect(a.event == b.event)
            #expect(a.aggregateId == b.aggregateId)
            #expect(a.occurredAt != b.occurredAt)
            // …and so do the ids, so the second unfollow is not taken for a redelivery of the first.
            #expect(a.id != b.id)
            // A redelivery of either is the same message.
            #expect(try decode(first.bytes, messageId: nil, routingKey: routingKey).id == a.id)
            #expect(try decode(second.bytes, messageId: nil, routingKey: routingKey).id == b.id)
        }
    }

    @Test("the derived id of each shape is stable across redeliveries", arguments: shapeCases)
    func stable(_ c: ShapeCase) throws {
        for (body, routingKey) in [(c.option4, c.className), (c.flat, c.eventName)] {
            let first = try decode(body.bytes, messageId: nil, routingKey: routingKey)
            let again = try decode(Array(body.bytes), messageId: "", routingKey: routingKey)
            #expect(first == again)
        }
    }
}
