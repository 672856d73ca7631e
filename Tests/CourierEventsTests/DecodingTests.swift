import Foundation
import Testing
@testable import CourierEvents

@Suite("Decoding the nine event types")
struct DecodingTests {
    @Test("a valid message of each type decodes to the expected value", arguments: samples)
    func validSample(_ sample: Sample) throws {
        let envelope = try decode(sample.body.bytes, routingKey: sample.type.rawValue, typeProperty: sample.type.rawValue)
        #expect(envelope == sample.expectedEnvelope)
        #expect(envelope.type == sample.type)
        #expect(envelope.schemaVersion == EventSchema.currentVersion)
    }

    @Test("the routing key and type property are optional when the body names the type", arguments: samples)
    func bodyAlone(_ sample: Sample) throws {
        #expect(try decode(sample.body.bytes) == sample.expectedEnvelope)
    }

    @Test("unknown extra fields are ignored", arguments: samples)
    func extraFields(_ sample: Sample) throws {
        let body = sample.body
            .setting("futureField", raw: #"{"nested":[1,2,{"x":null}]}"#)
            .setting("urlType", string: "ARTICLE")
            .setting("count", raw: "3.5e2")
        #expect(try decode(body.bytes) == sample.expectedEnvelope)
    }

    @Test("whitespace and key order do not matter")
    func layout() throws {
        let text = """
            {
              "addedAt" : "2026-11-28T09:00:00.000Z",
              "curatorId": "\(curator)", "cardId":"\(cardId)",
              "dateTimeOccurred":"2026-11-28T10:15:30.123Z",\t"aggregateId":"\(cardId)",
              "eventType": "CardAddedToLibraryEvent"
            }\r\n
            """
        #expect(try decode(Array(text.utf8)) == sample(.cardAddedToLibrary).expectedEnvelope)
    }

    @Test("a collection name may be empty or contain escapes")
    func collectionName() throws {
        let base = sample(.collectionCreated).body
        let empty = try decode(base.setting("collectionName", string: "").bytes)
        guard case .collectionCreated(let created) = empty.event else { Issue.record("wrong event"); return }
        #expect(created.collectionName == "")
        let escaped = try decode(base.setting("collectionName", raw: #""a \"b\"\n\u00e9\ud83d\ude00""#).bytes)
        guard case .collectionCreated(let created2) = escaped.event else { Issue.record("wrong event"); return }
        #expect(created2.collectionName == "a \"b\"\né😀")
    }

    @Test("duplicate keys: the last one wins")
    func duplicateKeys() throws {
        let text = sample(.connectionCreated).body.text.dropLast() + #","connectionId":"conn-last"}"#
        let envelope = try decode(Array(text.utf8))
        #expect(envelope.event == .connectionCreated(ConnectionCreated(connectionId: "conn-last", curatorId: curator)))
    }

    @Test("targetType is USER or COLLECTION, exactly", arguments: ["user", "Collection", "", "GROUP", " USER"])
    func badTargetType(_ value: String) {
        let error = decodingError(sample(.userFollowedTarget).body.setting("targetType", string: value).bytes)
        #expect(error?.code == .invalidField)
        #expect(error?.field == "targetType")
        #expect(error?.message.contains("USER") == true)
    }
}

@Suite("Event type resolution")
struct EventTypeResolutionTests {
    @Test("legacy names in the body of a version-1 message", arguments: [
        ("USER_FOLLOWED_TARGET", EventType.userFollowedTarget),
        ("USER_UNFOLLOWED_TARGET", EventType.userUnfollowedTarget),
    ])
    func legacyInBody(_ name: String, _ type: EventType) throws {
        let sample = sample(type)
        let body = sample.body.setting("eventType", string: name)
        #expect(try decode(body.bytes) == sample.expectedEnvelope)
        #expect(try decode(body.bytes, schemaVersion: 1) == sample.expectedEnvelope)
        // Semble's publisher routes with the same name it writes.
        #expect(try decode(body.bytes, routingKey: name, typeProperty: name) == sample.expectedEnvelope)
        #expect(try decode(body.bytes, routingKey: type.rawValue) == sample.expectedEnvelope)
    }

    @Test("legacy names in the body of a version-2 message are rejected", arguments: ["USER_FOLLOWED_TARGET", "USER_UNFOLLOWED_TARGET"])
    func legacyInVersion2Body(_ name: String) {
        let body = sample(.userFollowedTarget).body.setting("eventType", string: name)
        let error = decodingError(body.bytes, schemaVersion: 2)
        #expect(error?.code == .unknownEventType)
        #expect(error?.field == "eventType")
        #expect(error?.message.contains("schema version 1") == true)
    }

    @Test("without eventType in the body, the routing key decides (aliases too)", arguments: [
        ("UserFollowedTargetEvent", EventType.userFollowedTarget),
        ("USER_FOLLOWED_TARGET", .userFollowedTarget),
        ("USER_UNFOLLOWED_TARGET", .userUnfollowedTarget),
        ("ConnectionRemovedEvent", .connectionRemoved),
    ])
    func routingKeyFallback(_ routingKey: String, _ type: EventType) throws {
        let sample = sample(type)
        let body = sample.body.removing("eventType")
        #expect(try decode(body.bytes, routingKey: routingKey) == sample.expectedEnvelope)
        #expect(try decode(body.bytes, routingKey: routingKey, typeProperty: "") == sample.expectedEnvelope)
    }

    @Test("without eventType in the body, the type property comes before the routing key")
    func typePropertyFallback() throws {
        let sample = sample(.userUnfollowedTarget)
        let body = sample.body.removing("eventType")
        #expect(try decode(body.bytes, typeProperty: "USER_UNFOLLOWED_TARGET") == sample.expectedEnvelope)
        #expect(try decode(body.bytes, routingKey: "some.other.key", typeProperty: "UserUnfollowedTargetEvent")
            == sample.expectedEnvelope)
        let mismatch = decodingError(body.bytes, routingKey: "ConnectionCreatedEvent", typeProperty: "UserUnfollowedTargetEvent")
        #expect(mismatch?.code == .eventTypeMismatch)
        let unknown = decodingError(body.bytes, routingKey: "UserUnfollowedTargetEvent", typeProperty: "Nope")
        #expect(unknown?.code == .unknownEventType)
        #expect(unknown?.message.contains("type property") == true)
    }

    @Test("no event type anywhere → missingField eventType")
    func noTypeAnywhere() {
        let error = decodingError(sample(.connectionCreated).body.removing("eventType").bytes, routingKey: "", typeProperty: nil)
        #expect(error?.code == .missingField)
        #expect(error?.field == "eventType")
    }

    @Test("unknown event type names", arguments: [
        "CardAddedEvent", "cardAddedToLibraryEvent", "CardAddedToLibrary", "", "user_followed_target", "*Event",
    ])
    func unknownType(_ name: String) {
        let inBody = decodingError(sample(.cardAddedToLibrary).body.setting("eventType", string: name).bytes)
        #expect(inBody?.code == .unknownEventType)
        #expect(inBody?.errorClass == "UnknownEventType")
        #expect(inBody?.field == "eventType")
        if !name.isEmpty {
            let inRoutingKey = decodingError(sample(.cardAddedToLibrary).body.removing("eventType").bytes, routingKey: name)
            #expect(inRoutingKey?.code == .unknownEventType)
            #expect(inRoutingKey?.message.contains("routing key") == true)
        }
    }

    @Test("body and routing key naming different known types → eventTypeMismatch", arguments: [
        ("CardAddedToLibraryEvent", "CardAddedToCollectionEvent"),
        ("UserFollowedTargetEvent", "USER_UNFOLLOWED_TARGET"),
        ("ConnectionCreatedEvent", "ConnectionRemovedEvent"),
    ])
    func mismatch(_ bodyType: String, _ routingKey: String) {
        let sample = sample(EventType(wireName: bodyType)!)
        let error = decodingError(sample.body.bytes, routingKey: routingKey)
        #expect(error?.code == .eventTypeMismatch)
        #expect(error?.errorClass == "EventTypeMismatch")
        #expect(error?.field == "eventType")
        #expect(error?.message.contains(bodyType) == true)
    }

    @Test("a routing key that names no known type does not conflict with the body")
    func unknownRoutingKeyIgnored() throws {
        let sample = sample(.connectionCreated)
        #expect(try decode(sample.body.bytes, routingKey: "legacy.events.connection") == sample.expectedEnvelope)
    }

    @Test("the same type under its alias is no mismatch")
    func aliasIsNoMismatch() throws {
        let sample = sample(.userFollowedTarget)
        #expect(try decode(sample.body.bytes, routingKey: "USER_FOLLOWED_TARGET") == sample.expectedEnvelope)
    }

    @Test("eventType of the wrong JSON type", arguments: ["42", "null", "true", "[\"CardAddedToLibraryEvent\"]", "{}"])
    func eventTypeWrongType(_ raw: String) {
        let error = decodingError(sample(.cardAddedToLibrary).body.setting("eventType", raw: raw).bytes,
                                  routingKey: "CardAddedToLibraryEvent")
        #expect(error?.code == .invalidField)
        #expect(error?.field == "eventType")
    }
}

@Suite("EventType names")
struct EventTypeNameTests {
    @Test("canonical names and aliases resolve; nothing else does")
    func wireNames() {
        for type in EventType.allCases {
            #expect(EventType(wireName: type.rawValue) == type)
            for alias in type.legacyAliases { #expect(EventType(wireName: alias) == type) }
        }
        #expect(EventType(wireName: "USER_FOLLOWED_TARGET") == .userFollowedTarget)
        #expect(EventType(wireName: "USER_UNFOLLOWED_TARGET") == .userUnfollowedTarget)
        #expect(EventType(wireName: "CardAddedToLibraryEvent ") == nil)
        #expect(EventType(wireName: "") == nil)
        #expect(EventType(legacyAlias: "UserFollowedTargetEvent") == nil)
    }

    @Test("allWireNames: nine canonical names and two aliases, sorted")
    func allWireNames() {
        let names = EventType.allWireNames
        #expect(names.count == 11)
        #expect(names == names.sorted())
        #expect(Set(names) == Set(EventType.allCases.map(\.rawValue) + ["USER_FOLLOWED_TARGET", "USER_UNFOLLOWED_TARGET"]))
        #expect(EventType.userFollowedTarget.legacyAliases == ["USER_FOLLOWED_TARGET"])
        #expect(EventType.cardAddedToLibrary.legacyAliases.isEmpty)
    }

    @Test("SembleEvent.type matches each sample", arguments: samples)
    func eventType(_ sample: Sample) {
        #expect(sample.expected.type == sample.type)
    }
}
