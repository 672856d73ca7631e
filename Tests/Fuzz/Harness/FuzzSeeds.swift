import CourierAMQP
import CourierEngine
import CourierEvents

/// The seed corpora, generated: `Tests/Fuzz/Corpus/<target>/` holds exactly these files
/// (`courier-fuzz-<target> --write-seeds DIR` writes them; FuzzCorpusTests checks they match).
/// Inputs that once crashed are committed next to them under names starting with `crash-`.
package enum FuzzSeeds {
    // MARK: Events

    /// Semble's nine events as its TypeScript API sends them (the bodies of
    /// Tests/CourierEventsTests/Fixtures.swift), and malformed ones.
    package static func events() -> [FuzzSeed] {
        var seeds: [FuzzSeed] = []
        func add(_ name: String, _ prefix: [UInt8], _ body: String) {
            seeds.append(FuzzSeed("\(name).bin", prefix + Array(body.utf8)))
        }
        for (type, fields) in samples {
            // As Semble publishes: routing key = type, no type property, no version, no message_id.
            add("valid-\(type.rawValue)", FuzzEvents.prefix(routingKey: type.rawValue), body(type.rawValue, fields))
        }
        let library = samples[0]
        let follow = samples[5]
        let v2 = AMQPFieldValue.int64(2)
        add("v2-with-message-id", FuzzEvents.prefix(routingKey: library.type.rawValue, type: library.type.rawValue, schemaVersion: v2, messageID: "msg-1"),
            body(library.type.rawValue, library.fields))
        add("v1-legacy-alias", FuzzEvents.prefix(routingKey: "USER_FOLLOWED_TARGET"), body("USER_FOLLOWED_TARGET", follow.fields))
        add("v2-legacy-alias-rejected", FuzzEvents.prefix(routingKey: "USER_FOLLOWED_TARGET", schemaVersion: v2), body("USER_FOLLOWED_TARGET", follow.fields))
        add("type-from-property", FuzzEvents.prefix(routingKey: nil, type: "UserFollowedTargetEvent", messageID: "  msg-1\n"),
            body(nil, follow.fields))
        add("type-from-routing-key", FuzzEvents.prefix(routingKey: "CardAddedToLibraryEvent"), body(nil, library.fields))
        add("routing-key-mismatch", FuzzEvents.prefix(routingKey: "ConnectionRemovedEvent"), body(library.type.rawValue, library.fields))
        add("unknown-type", FuzzEvents.prefix(routingKey: "UnknownEvent"), body("UnknownEvent", library.fields))
        add("unsupported-version", FuzzEvents.prefix(routingKey: nil, schemaVersion: .int64(3)), body(library.type.rawValue, library.fields))
        add("version-as-string", FuzzEvents.prefix(routingKey: nil, schemaVersion: .string("2")), body(library.type.rawValue, library.fields))
        add("bad-date", FuzzEvents.prefix(routingKey: nil), body(library.type.rawValue, [("cardId", cardId), ("curatorId", curator), ("addedAt", "yesterday")]))
        add("microsecond-date", FuzzEvents.prefix(routingKey: nil),
            body(library.type.rawValue, [("cardId", cardId), ("curatorId", curator), ("addedAt", "2026-11-28T09:00:00.123456Z")]))
        add("offset-date", FuzzEvents.prefix(routingKey: nil),
            body(library.type.rawValue, [("cardId", cardId), ("curatorId", curator), ("addedAt", "2026-11-28T10:00:00+01:00")]))
        add("blank-id", FuzzEvents.prefix(routingKey: nil), body(library.type.rawValue, [("cardId", " "), ("curatorId", curator), ("addedAt", addedText)]))
        add("bad-target-type", FuzzEvents.prefix(routingKey: nil),
            body("UserFollowedTargetEvent", [("followId", "f"), ("followerId", follower), ("targetId", "b"), ("targetType", "GROUP"), ("createdAt", addedText)]))
        add("escapes-and-unicode", FuzzEvents.prefix(routingKey: nil),
            body("CollectionCreatedEvent", [("collectionId", collectionId), ("authorId", #"did:plc:\u0061uthor"#),
                                            ("collectionName", #"Reading \"—\" 2026 ✨ \u2028 😀 \\ \u0001 \/"#)]))
        add("surrogate-escapes", FuzzEvents.prefix(routingKey: nil),
            #"{"eventType":"CollectionCreatedEvent","aggregateId":"c","dateTimeOccurred":"2026-11-28T10:15:30.123Z","collectionId":"c","authorId":"did:plc:a","collectionName":"\ud83d\ude00 \ud800 \u0000"}"#)
        // Actors are DIDs, checked as Semble checks them.
        add("actor-not-a-did", FuzzEvents.prefix(routingKey: library.type.rawValue),
            body(library.type.rawValue, [("cardId", cardId), ("curatorId", "u1"), ("addedAt", addedText)]))
        add("actor-did-web-padded", FuzzEvents.prefix(routingKey: library.type.rawValue),
            body(library.type.rawValue, [("cardId", cardId), ("curatorId", #" did:web:example.com%3A8080\n"#), ("addedAt", addedText)]))
        add("follower-prefix-only", FuzzEvents.prefix(routingKey: "USER_UNFOLLOWED_TARGET"),
            body("USER_UNFOLLOWED_TARGET", [("followId", "\(follower):\(curator):USER"), ("followerId", "did:web:"), ("targetId", "anything"), ("targetType", "USER")]))
        add("extra-fields", FuzzEvents.prefix(routingKey: nil),
            String(body(library.type.rawValue, library.fields).dropLast()) + #","futureField":{"nested":[1,2,{"x":null}]},"count":3.5e2,"flag":true}"#)
        add("duplicate-keys", FuzzEvents.prefix(routingKey: nil),
            String(body(library.type.rawValue, library.fields).dropLast()) + #","cardId":"card-other","eventType":"ConnectionCreatedEvent"}"#)
        add("wrong-field-type", FuzzEvents.prefix(routingKey: nil),
            body(library.type.rawValue, library.fields).replacingOccurrences(of: "\"\(cardId)\"", with: "42"))
        add("truncated", FuzzEvents.prefix(routingKey: library.type.rawValue), String(body(library.type.rawValue, library.fields).prefix(60)))
        add("not-an-object", FuzzEvents.prefix(routingKey: library.type.rawValue), #"["CardAddedToLibraryEvent", 1, 2.5e-3, null, true]"#)
        add("deep-nesting", FuzzEvents.prefix(routingKey: nil), String(repeating: "[", count: 600) + String(repeating: "]", count: 600))
        add("empty-body", FuzzEvents.prefix(routingKey: library.type.rawValue), "")
        add("numbers", FuzzEvents.prefix(routingKey: nil), #"{"a":-0,"b":1e400,"c":-1.5E-400,"d":123456789012345678901234567890,"e":0.1}"#)
        // The "Option 4" publisher: the event object itself, routed by class name, no eventType.
        for (type, fields) in samples {
            add("option4-\(type.rawValue)", FuzzEvents.prefix(routingKey: type.rawValue), option4Body(type, fields))
        }
        let option4Library = option4Body(library.type, library.fields)
        add("option4-no-routing-key", FuzzEvents.prefix(routingKey: nil), option4Library)
        add("option4-routing-key-mismatch", FuzzEvents.prefix(routingKey: "CardRemovedFromLibraryEvent"), option4Library)
        add("option4-event-name-mismatch", FuzzEvents.prefix(routingKey: nil),
            String(option4Library.dropLast()) + #","eventType":"ConnectionCreatedEvent"}"#)
        add("option4-unknown-event-name", FuzzEvents.prefix(routingKey: library.type.rawValue),
            option4Library.replacingOccurrences(of: #""eventName":"CardAddedToLibraryEvent""#, with: #""eventName":"CardAdded""#))
        add("option4-malformed-value-object", FuzzEvents.prefix(routingKey: library.type.rawValue),
            option4Library.replacingOccurrences(of: #"{"props":{"value":{"value":"\#(cardId)"}}}"#, with: #"{"props":{"value":{"value":"\#(cardId)"},"extra":1}}"#))
        add("option4-in-version-2", FuzzEvents.prefix(routingKey: library.type.rawValue, schemaVersion: .int64(2)), option4Library)
        seeds.append(FuzzSeed("invalid-utf8.bin", FuzzEvents.prefix(routingKey: nil) + Array(#"{"eventType":""#.utf8) + [0xC3, 0x28, 0xFF] + Array(#""}"#.utf8)))
        return seeds
    }

    static let occurredText = "2026-11-28T10:15:30.123Z"
    static let addedText = "2026-11-28T09:00:00.000Z"
    static let cardId = "card-7f9c2b1e"
    static let collectionId = "coll-3a51d0c4"
    static let curator = "did:plc:curator4ayzbq2c7"
    static let follower = "did:plc:follower7r3w5q"
    static let author = "did:plc:author2kq9x"

    /// The valid messages of Fixtures.swift: type, then the event's fields in the specification's order.
    static let samples: [(type: EventType, fields: [(String, String)])] = [
        (.cardAddedToLibrary, [("cardId", cardId), ("curatorId", curator), ("addedAt", addedText)]),
        (.cardAddedToCollection, [("cardId", cardId), ("collectionId", collectionId), ("addedBy", curator), ("addedAt", addedText)]),
        (.cardRemovedFromLibrary, [("cardId", cardId), ("curatorId", curator)]),
        (.cardRemovedFromCollection, [("cardId", cardId), ("collectionId", collectionId), ("removedBy", curator)]),
        (.collectionCreated, [("collectionId", collectionId), ("authorId", author), ("collectionName", "Reading — 2026 ✨")]),
        (.userFollowedTarget, [("followId", "follow-91"), ("followerId", follower), ("targetId", curator), ("targetType", "USER"), ("createdAt", addedText)]),
        (.userUnfollowedTarget, [("followId", "follow-92"), ("followerId", follower), ("targetId", collectionId), ("targetType", "COLLECTION")]),
        (.connectionCreated, [("connectionId", "conn-5"), ("curatorId", curator)]),
        (.connectionRemoved, [("connectionId", "conn-6"), ("curatorId", curator)]),
    ]

    /// A body as Semble writes it: `eventType` (unless nil), `aggregateId` (the first field's
    /// value), `dateTimeOccurred`, then `fields`. Values are written as JSON strings without escaping.
    static func body(_ eventType: String?, _ fields: [(String, String)]) -> String {
        var members: [(String, String)] = []
        if let eventType { members.append(("eventType", eventType)) }
        members.append(("aggregateId", fields.first?.1 ?? "aggregate"))
        members.append(("dateTimeOccurred", occurredText))
        members += fields
        return "{" + members.map { "\"\($0.0)\":\"\($0.1)\"" }.joined(separator: ",") + "}"
    }

    /// A body as the "Option 4" publisher writes it: `JSON.stringify({...event, aggregateId})`, the
    /// ids as serialized value objects, `eventName` (the legacy name for follows) instead of `eventType`.
    static func option4Body(_ type: EventType, _ fields: [(String, String)]) -> String {
        func wrapped(_ name: String, _ value: String) -> String {
            switch name {
            case "cardId", "collectionId", "connectionId": #"{"props":{"value":{"value":"\#(value)"}}}"#
            case "curatorId", "addedBy", "removedBy", "authorId", "followerId", "targetType": #"{"props":{"value":"\#(value)"}}"#
            case "followId": #"{"value":"\#(value)"}"#
            default: #""\#(value)""#
            }
        }
        let eventName = type.legacyAliases.first ?? type.rawValue
        let members = fields.map { "\"\($0.0)\":" + wrapped($0.0, $0.1) }
            + [#""eventName":"\#(eventName)""#, #""dateTimeOccurred":"\#(occurredText)""#, #""aggregateId":"\#(fields.first?.1 ?? "aggregate")""#]
        return "{" + members.joined(separator: ",") + "}"
    }

    // MARK: Headers

    /// Realistic header sets on the wire (`WireTableCodec.encode`) behind the selector bytes of
    /// `FuzzHeaders.run`: Courier's attempt header in every type and range, the broker's `x-death`,
    /// retry copies, an earlier parking with replay lineage, nested tables, every field type.
    package static func headers() -> [FuzzSeed] {
        var seeds: [FuzzSeed] = []
        func add(_ name: String, _ prefix: [UInt8], _ table: AMQPTable?, message: String = "") {
            var bytes = prefix
            if let table {
                bytes += try! WireTableCodec.encode(table)
                bytes += Array(message.utf8)
            }
            seeds.append(FuzzSeed("\(name).bin", bytes))
        }
        let transient = FuzzHeaders.prefix(outcome: 1)
        let traceparent: (String, AMQPFieldValue) = ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        func table(_ entries: (String, AMQPFieldValue)...) -> AMQPTable { AMQPTable(entries.map { (key: $0.0, value: $0.1) }) }

        add("no-headers", transient, nil)
        add("empty-table", transient, AMQPTable())
        add("handled", FuzzHeaders.prefix(outcome: 0), table(traceparent))
        add("dependency-unavailable", FuzzHeaders.prefix(outcome: 3), table(traceparent))
        add("permanent-failure", FuzzHeaders.prefix(outcome: 2 | 1 << 5, properties: 0x1E), table(traceparent), message: "field 'addedAt': not an ISO-8601 date: \"yesterday\"")

        // x-courier-attempts: each integer width, as text, at and past every bound.
        let attempts: [(String, AMQPFieldValue)] = [
            ("int64-2", .int64(2)), ("int32-4", .int32(4)), ("int8-1", .int8(1)), ("uint8-3", .uint8(3)), ("int16-1", .int16(1)),
            ("uint16-2", .uint16(2)), ("uint32-1", .uint32(1)), ("uint64-2", .uint64(2)), ("string-3", "3"), ("string-junk", "junk"),
            ("string-plus", "+2"), ("zero", .int64(0)), ("negative", .int64(-5)), ("int32-min", .int32(.min)),
            ("last-retry", .int64(4)), ("exhausted", .int64(5)), ("huge", .int64(1_000_000_000_000)), ("int64-max", .int64(.max)), ("int32-max", .int32(.max)),
            ("uint32-max", .uint32(.max)), ("uint64-max", .uint64(.max)), ("int64-min", .int64(.min)), ("string-huge", "99999999999999999999"),
            ("double", .double(2)), ("bool", .bool(true)),
        ]
        for (name, value) in attempts {
            add("attempts-\(name)", transient, table(traceparent, (CourierHeader.attempts, value)))
        }
        // Courier's own retry copy, coming back through the default exchange.
        let retryCopy: AMQPTable = [
            "traceparent": traceparent.1, CourierHeader.attempts: .int64(1),
            CourierHeader.originalExchange: "domain_events", CourierHeader.originalRoutingKey: "CardAddedToLibraryEvent",
            CourierHeader.originalQueue: "events_app",
        ]
        add("retry-copy", FuzzHeaders.prefix(outcome: 1, arrival: 1, properties: 0x0E), retryCopy)
        add("retry-copy-permanent", FuzzHeaders.prefix(outcome: 2, arrival: 1), retryCopy, message: String(repeating: "é — ✨ 😀 ", count: 120))
        add("original-routing-key-bytes", FuzzHeaders.prefix(outcome: 1, arrival: 1),
            [CourierHeader.attempts: .int64(1), CourierHeader.originalRoutingKey: .bytes(Array("UserFollowedTargetEvent".utf8))])
        add("original-routing-key-not-a-string", FuzzHeaders.prefix(outcome: 1, arrival: 1),
            [CourierHeader.attempts: .int64(1), CourierHeader.originalRoutingKey: .int64(7)])

        // What RabbitMQ adds when a message dies: x-death (an array of tables) and friends.
        let death: AMQPFieldValue = .table([
            "count": .int64(3), "reason": "delivery_limit", "queue": "events_app", "time": .timestamp(1_764_000_000),
            "exchange": "domain_events", "routing-keys": .array(["CardAddedToLibraryEvent"]),
        ])
        let expired: AMQPFieldValue = .table([
            "count": .int64(1), "reason": "expired", "queue": "events_app.retry.5000", "time": .timestamp(1_764_000_005),
            "exchange": "", "routing-keys": .array(["events_app.retry.5000"]), "original-expiration": "5000",
        ])
        add("x-death", FuzzHeaders.prefix(outcome: 1, arrival: 1), table(
            traceparent, (CourierHeader.attempts, .int64(2)), ("x-death", .array([expired, death])),
            ("x-first-death-reason", "expired"), ("x-first-death-queue", "events_app.retry.5000"), ("x-first-death-exchange", ""),
            ("x-last-death-reason", "delivery_limit"), ("x-delivery-count", .int64(3))
        ))

        // A message parked before, replayed by `courier dlq replay`: every header Courier writes.
        add("replayed-parking", FuzzHeaders.prefix(outcome: 2 | 2 << 5, arrival: 0, properties: 0x16), table(
            (CourierHeader.attempts, .int64(5)), (CourierHeader.reason, "retries-exhausted"),
            (CourierHeader.errorClass, "PostgresError.queryFailed"), (CourierHeader.errorMessage, "deadlock detected"),
            (CourierHeader.errorFingerprint, "9c1d7e0b2a4f6e83"), (CourierHeader.failedAt, .timestamp(1_764_000_123)),
            (CourierHeader.handler, "feeds"), (CourierHeader.originalExchange, "domain_events"),
            (CourierHeader.originalRoutingKey, "CardAddedToCollectionEvent"), (CourierHeader.originalQueue, "events_app"),
            (CourierHeader.host, "worker-1"), (CourierHeader.failureID, "3f6c2a9e-1b7d-4c1e-9d2a-7e5b8c0f1a23"),
            (CourierHeader.replayedAt, .timestamp(1_764_086_400)), (CourierHeader.replayCount, .int64(1)),
            (CourierHeader.replayedBy, "ops@laptop"), (CourierHeader.replayedFrom, "3f6c2a9e-1b7d-4c1e-9d2a-7e5b8c0f1a23")
        ))

        // Nested tables and every field type another client might send.
        add("nested-and-every-type", FuzzHeaders.prefix(outcome: 1, schedule: 2), table(
            traceparent,
            ("baggage", .table(["tenant": "semble", "deep": .table(["deeper": .table(["deepest": .array([.int8(-1), .table([:]), .array([])])])])])),
            ("bool", .bool(false)), ("i8", .int8(-8)), ("u8", .uint8(8)), ("i16", .int16(-16)), ("u16", .uint16(16)),
            ("i32", .int32(-32)), ("u32", .uint32(32)), ("i64", .int64(-64)), ("u64", .uint64(64)),
            ("f32", .float(1.5)), ("f64", .double(-2.25)), ("decimal", .decimal(scale: 2, value: 12345)),
            ("bytes", .bytes([0, 1, 0xFF])), ("timestamp", .timestamp(1_764_000_000)), ("void", .void),
            (CourierHeader.attempts, "1")
        ))
        add("long-message", FuzzHeaders.prefix(outcome: 1, schedule: 1), table(traceparent),
            message: String(repeating: "x", count: 1020) + "😀é" + String(repeating: "9", count: 40))
        return seeds
    }
}
