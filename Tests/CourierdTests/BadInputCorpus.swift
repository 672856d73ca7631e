import CourierAMQP
import CourierEngine
import CourierEvents
import CourierTesting
import Foundation

/// Issue 12's bad-input corpus: hostile bodies, properties and headers, each as a publisher would
/// send it, with what courierd must do with it. ``BadInputCorpusTests`` publishes every case with
/// a valid event on either side (in one burst, so they share batches) to a courierd process and
/// checks the outcome of each.
struct BadInputCase: Sendable, CustomStringConvertible {
    enum Part: String, Sendable, CaseIterable {
        case body, property, header
    }

    enum Expectation: Sendable, Equatable {
        /// Parked once in the app's dead-letter queue with this `x-courier-error-class`.
        case parked(String)
        /// Handled like any valid event: the hostile part is ignored (or is only data).
        case handled
    }

    /// Unique within the corpus; travels in the ``BadInputCorpus/caseHeader`` header.
    var name: String
    var part: Part
    var routingKey: String
    var body: [UInt8]
    var properties: AMQPProperties
    var expected: Expectation
    /// A header this case expects to be left out of its parked copy (and named in
    /// `x-courier-removed-headers`): the copy would not fit a frame with it.
    var removedHeader: String? = nil
    /// A header nested deeper than courierd reads (64 levels): on the parked copy it is cut there,
    /// with a marker in place of the rest.
    var cutHeader: String? = nil

    var description: String { name }

    /// The event id its inbox rows carry when it is handled: the `message_id` trimmed, or the id
    /// derived from the body and routing key.
    var eventID: String { EventIdentity.resolve(messageId: properties.messageID, body: body, routingKey: routingKey) }
}

/// The cases, built for one run (`run` makes every id unique in the shared database).
struct BadInputCorpus {
    /// Names the case on every message the corpus publishes, so a parked copy can be matched with
    /// its case whatever its `message_id`.
    static let caseHeader = "x-corpus-case"
    static let cardType = EventType.cardAddedToLibrary.rawValue
    static let followType = EventType.userFollowedTarget.rawValue

    let run: String
    /// A routing key the app queue is bound to (`COURIER_BINDINGS_EXTRA`) but no event is named.
    let unknownKey: String

    init(run: String) {
        self.run = run
        self.unknownKey = "CorpusUnknown_\(run)"
    }

    /// A valid `CardAddedToLibraryEvent` body (schema version 2) for `id`.
    func cardBody(_ id: String) -> String {
        cardJSON(cardId: #""card-\#(id)""#, curatorId: #""\#(testDID("curator", id))""#)
    }

    /// A card body with raw JSON for its fields (`nil` leaves a field out).
    func cardJSON(
        eventType: String? = #""CardAddedToLibraryEvent""#, aggregateId: String? = nil, cardId: String?, curatorId: String?,
        addedAt: String? = #""2026-03-01T12:00:00.000Z""#, dateTimeOccurred: String? = #""2026-03-01T12:00:00.000Z""#,
        extra: String? = nil
    ) -> String {
        var fields: [String] = []
        if let eventType { fields.append(#""eventType":\#(eventType)"#) }
        if let aggregate = aggregateId ?? cardId { fields.append(#""aggregateId":\#(aggregate)"#) }
        if let dateTimeOccurred { fields.append(#""dateTimeOccurred":\#(dateTimeOccurred)"#) }
        if let cardId { fields.append(#""cardId":\#(cardId)"#) }
        if let curatorId { fields.append(#""curatorId":\#(curatorId)"#) }
        if let addedAt { fields.append(#""addedAt":\#(addedAt)"#) }
        if let extra { fields.append(extra) }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// The properties every corpus message starts from: what Courier's own publisher sends.
    func properties(_ name: String, messageID: String?, type: String? = cardType, headers: AMQPTable = [:]) -> AMQPProperties {
        var table = headers
        table[Self.caseHeader] = .string(name)
        if table[EventSchema.versionHeader] == nil { table[EventSchema.versionHeader] = .int32(2) }
        return AMQPProperties(
            contentType: "application/json", headers: table, deliveryMode: .persistent, messageID: messageID, type: type)
    }

    /// A case with a body and standard properties; `change` adjusts the properties.
    func make(
        _ name: String, _ part: BadInputCase.Part, _ expected: BadInputCase.Expectation, body: [UInt8],
        routingKey: String = cardType, type: String? = cardType, removedHeader: String? = nil,
        _ change: (inout AMQPProperties, inout AMQPTable) -> Void = { _, _ in }
    ) -> BadInputCase {
        var properties = properties(name, messageID: "\(run)-\(name)", type: type)
        var headers = properties.headers ?? [:]
        change(&properties, &headers)
        properties.headers = headers
        return BadInputCase(
            name: name, part: part, routingKey: routingKey, body: body, properties: properties, expected: expected,
            removedHeader: removedHeader)
    }

    /// A valid card event whose effect is counted in the inbox: the neighbours.
    func neighbour(_ index: Int) -> BadInputCase {
        let name = "neighbour-\(index)"
        return make(name, .body, .handled, body: Array(cardBody("\(run)-\(name)").utf8))
    }

    func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

    // MARK: The cases

    var bodyCases: [BadInputCase] {
        let id = { (name: String) in "\(self.run)-\(name)" }
        let valid = { (name: String) in self.utf8(self.cardBody(id(name))) }
        var truncated = valid("truncated")
        truncated.removeLast(17)
        var invalidUTF8 = utf8(#"{"eventType":"CardAddedToLibraryEvent","aggregateId":"a"#)
        invalidUTF8 += [0xC3, 0x28, 0xFF, 0xFE]
        invalidUTF8 += utf8(#"","dateTimeOccurred":"2026-03-01T12:00:00.000Z","cardId":"c","curatorId":"did:plc:x","addedAt":"2026-03-01T12:00:00.000Z"}"#)
        let deep = utf8(String(repeating: "[", count: 100_000))
        let deepInField = utf8(
            cardJSON(cardId: #""card-\#(id("deep-field"))""#, curatorId: #""did:plc:x""#,
                     extra: #""extra":"# + String(repeating: "{\"a\":", count: 20_000) + "1" + String(repeating: "}", count: 20_000)))
        let padding = String(repeating: "p", count: 300 * 1024)
        let tooLarge = utf8(cardJSON(cardId: #""card-\#(id("300kib"))""#, curatorId: #""did:plc:x""#, extra: #""padding":"\#(padding)""#))
        let huge = [UInt8](repeating: UInt8(ascii: " "), count: 10 * 1024 * 1024) + valid("10mib")
        let injection = #"x'); DROP TABLE courier_inbox; --"#
        let injectionID = "\(injection)\(run)"
        return [
            make("malformed-json", .body, .parked("MalformedJSON"), body: utf8(#"{"eventType": "CardAddedToLibraryEvent", cardId: }"#)),
            make("truncated-json", .body, .parked("MalformedJSON"), body: truncated),
            make("deep-array-100k", .body, .parked("MalformedJSON"), body: deep),
            make("deep-object-in-field-20k", .body, .parked("MalformedJSON"), body: deepInField),
            make("invalid-utf8", .body, .parked("MalformedJSON"), body: invalidUTF8),
            make("empty-body", .body, .parked("MalformedJSON"), body: []),
            make("trailing-garbage", .body, .parked("MalformedJSON"), body: valid("trailing-garbage") + utf8("}{")),
            make("json-array", .body, .parked("NotAnObject"), body: utf8("[\(cardBody(id("json-array")))]")),
            make("json-number", .body, .parked("NotAnObject"), body: utf8("42")),
            make("json-string", .body, .parked("NotAnObject"), body: utf8(#""CardAddedToLibraryEvent""#)),
            make("json-null", .body, .parked("NotAnObject"), body: utf8("null")),
            make("body-300kib", .body, .parked("MessageTooLarge"), body: tooLarge),
            make("body-10mib", .body, .parked("MessageTooLarge"), body: huge),
            make("card-id-number", .body, .parked("InvalidField"), body: utf8(cardJSON(cardId: "42", curatorId: #""did:plc:x""#))),
            make("card-id-object", .body, .parked("InvalidField"),
                 body: utf8(cardJSON(aggregateId: #""a""#, cardId: #"{"id":"x"}"#, curatorId: #""did:plc:x""#))),
            make("event-type-number", .body, .parked("InvalidField"),
                 body: utf8(cardJSON(eventType: "7", cardId: #""card-\#(id("event-type-number"))""#, curatorId: #""did:plc:x""#))),
            make("card-id-blank", .body, .parked("InvalidField"), body: utf8(cardJSON(aggregateId: #""a""#, cardId: #""   ""#, curatorId: #""did:plc:x""#))),
            make("missing-curator", .body, .parked("MissingField"), body: utf8(cardJSON(cardId: #""card-\#(id("missing-curator"))""#, curatorId: nil))),
            make("missing-added-at", .body, .parked("MissingField"),
                 body: utf8(cardJSON(cardId: #""card-\#(id("missing-added-at"))""#, curatorId: #""did:plc:x""#, addedAt: nil))),
            make("missing-occurred", .body, .parked("MissingField"),
                 body: utf8(cardJSON(cardId: #""card-\#(id("missing-occurred"))""#, curatorId: #""did:plc:x""#, dateTimeOccurred: nil))),
            make("bad-date-word", .body, .parked("InvalidField"),
                 body: utf8(cardJSON(cardId: #""card-\#(id("bad-date-word"))""#, curatorId: #""did:plc:x""#, addedAt: #""yesterday""#))),
            make("bad-date-feb-30", .body, .parked("InvalidField"),
                 body: utf8(cardJSON(cardId: #""card-\#(id("bad-date-feb-30"))""#, curatorId: #""did:plc:x""#, addedAt: #""2026-02-30T00:00:00Z""#))),
            make("bad-date-year-99999", .body, .parked("InvalidField"),
                 body: utf8(cardJSON(cardId: #""card-\#(id("bad-date-year"))""#, curatorId: #""did:plc:x""#, addedAt: #""99999-01-01T00:00:00Z""#))),
            make("bad-date-number", .body, .parked("InvalidField"),
                 body: utf8(cardJSON(cardId: #""card-\#(id("bad-date-number"))""#, curatorId: #""did:plc:x""#, addedAt: "1772366400000"))),
            make("id-10000-chars", .body, .parked("InvalidField"),
                 body: utf8(cardJSON(cardId: "\"" + String(repeating: "k", count: 10_000) + "\"", curatorId: #""did:plc:x""#))),
            make("id-nul-escape", .body, .parked("InvalidField"), body: utf8(cardJSON(cardId: #""card\u0000\#(run)""#, curatorId: #""did:plc:x""#))),
            make("id-control-escape", .body, .parked("InvalidField"), body: utf8(cardJSON(cardId: #""card\u001b[2J\#(run)""#, curatorId: #""did:plc:x""#))),
            make("collection-name-nul", .body, .parked("InvalidField"),
                 body: utf8(#"{"eventType":"CollectionCreatedEvent","aggregateId":"col-\#(run)","dateTimeOccurred":"2026-03-01T12:00:00Z","collectionId":"col-\#(run)","authorId":"did:plc:a","collectionName":"a\u0000b"}"#),
                 routingKey: EventType.collectionCreated.rawValue, type: EventType.collectionCreated.rawValue),
            make("unknown-event-type-in-body", .body, .parked("UnknownEventType"),
                 body: utf8(cardJSON(eventType: #""\#(unknownKey)""#, cardId: #""c""#, curatorId: #""did:plc:x""#)), routingKey: unknownKey, type: nil),
            make("unknown-routing-key-only", .body, .parked("UnknownEventType"),
                 body: utf8(cardJSON(eventType: nil, cardId: #""c""#, curatorId: #""did:plc:x""#)), routingKey: unknownKey, type: nil),
            make("legacy-alias-in-v2-body", .body, .parked("UnknownEventType"),
                 body: utf8(cardJSON(eventType: #""USER_FOLLOWED_TARGET""#, cardId: #""c""#, curatorId: #""did:plc:x""#)), routingKey: unknownKey, type: nil),
            make("body-type-mismatches-routing-key", .body, .parked("EventTypeMismatch"), body: valid("mismatch"), routingKey: Self.followType, type: nil),
            // Injection text that is a valid id is data: handled, stored literally. (Not in the
            // curator: actors are DIDs, `did:plc:[A-Za-z0-9]+`, so the decoder refuses it there.)
            make("sql-injection-ids", .body, .handled,
                 body: utf8(cardJSON(cardId: #""\#(injectionID)""#, curatorId: #""\#(testDID("curator", run))""#))) { p, _ in
                p.messageID = "\(injection)-msg-\(run)"
            },
            // A body from the routing key the queue is bound to but no handler knows: its
            // eventType decides, and it is a card event.
            make("unknown-routing-key-valid-body", .body, .handled, body: valid("unknown-key-valid-body"), routingKey: unknownKey, type: nil),
        ]
    }

    /// The literal `cardId` of the `sql-injection-ids` case, as ``BadInputCorpusTests`` finds it in `feed_activities`.
    var injectionCardID: String { #"x'); DROP TABLE courier_inbox; --"# + run }

    var propertyCases: [BadInputCase] {
        let valid = { (name: String) in self.utf8(self.cardBody("\(self.run)-\(name)")) }
        let id255 = "\(run)-" + String(repeating: "m", count: 255 - run.utf8.count - 1)
        let failing = { (name: String) in
            self.utf8(self.cardJSON(cardId: #""card-\#(self.run)-\#(name)""#, curatorId: #""did:plc:x""#, addedAt: #""not a date""#))
        }
        return [
            make("message-id-255-bytes", .property, .handled, body: valid("message-id-255")) { p, _ in p.messageID = id255 },
            make("message-id-nul", .property, .parked("InvalidField"), body: valid("message-id-nul")) { p, _ in p.messageID = "\(run)-a\u{0}b" },
            make("message-id-control", .property, .parked("InvalidField"), body: valid("message-id-control")) { p, _ in p.messageID = "\(run)-\u{1B}[2J\u{7}" },
            make("message-id-absent", .property, .handled, body: valid("message-id-absent")) { p, _ in p.messageID = nil },
            make("message-id-blank", .property, .handled, body: valid("message-id-blank")) { p, _ in p.messageID = "   " },
            make("content-type-garbage", .property, .handled, body: valid("content-type")) { p, _ in
                p.contentType = "\u{1}garbage/\u{7F}; charset=\"'; DROP"
                p.contentEncoding = "gzip-but-not-really"
            },
            make("timestamp-max", .property, .handled, body: valid("timestamp-max")) { p, _ in p.timestamp = .max },
            make("timestamp-max-failing", .property, .parked("InvalidField"), body: failing("timestamp-max-f")) { p, _ in p.timestamp = .max },
            make("priority-255", .property, .handled, body: valid("priority-255")) { p, _ in p.priority = 255 },
            make("every-short-string-255", .property, .handled, body: valid("short-strings")) { p, _ in
                let long = String(repeating: "z", count: 255)
                (p.correlationID, p.replyTo, p.appID, p.clusterID) = (long, long, long, long)
            },
            make("every-short-string-255-failing", .property, .parked("InvalidField"), body: failing("short-strings-f")) { p, _ in
                let long = String(repeating: "\u{7F}", count: 255)
                (p.correlationID, p.replyTo, p.appID, p.clusterID, p.contentType) = (long, long, long, long, long)
            },
            make("type-mismatches-routing-key-body-wins", .property, .handled, body: valid("type-mismatch-body")) { p, _ in
                p.type = Self.followType
            },
            make("type-mismatches-routing-key-no-body-type", .property, .parked("EventTypeMismatch"),
                 body: utf8(cardJSON(eventType: nil, cardId: #""card-\#(run)-tm""#, curatorId: #""did:plc:x""#)), type: Self.followType),
            make("type-unknown-no-body-type", .property, .parked("UnknownEventType"),
                 body: utf8(cardJSON(eventType: nil, cardId: #""card-\#(run)-tu""#, curatorId: #""did:plc:x""#)), type: "NoSuchEvent\u{0}"),
        ]
    }

    var headerCases: [BadInputCase] {
        let valid = { (name: String) in self.utf8(self.cardBody("\(self.run)-\(name)")) }
        // A body that fails permanently, for the headers only a failing message reads.
        let failing = { (name: String) in
            self.utf8(self.cardJSON(cardId: #""card-\#(self.run)-\#(name)""#, curatorId: #""did:plc:x""#, addedAt: #""not a date""#))
        }
        var deepTable: AMQPFieldValue = .string("bottom")
        for level in 0..<BadInputCorpus.headerTableDepth { deepTable = .table(["l\(level % 10)": deepTable]) }
        var many: [(key: String, value: AMQPFieldValue)] = []
        for i in 0..<3000 { many.append((key: String(format: "x-h-%04d", i), value: .string("v"))) }
        let manyHeaders = many
        let big = AMQPFieldValue.string(String(repeating: "b", count: 128_000))
        return [
            make("attempts-int64-max", .header, .parked("InvalidField"), body: failing("attempts-max")) { _, h in
                h[CourierHeader.attempts] = .int64(.max)
            },
            make("attempts-int64-max-string", .header, .parked("InvalidField"), body: failing("attempts-max-s")) { _, h in
                h[CourierHeader.attempts] = .string("9223372036854775807")
            },
            make("attempts-huge-digits", .header, .parked("InvalidField"), body: failing("attempts-digits")) { _, h in
                h[CourierHeader.attempts] = .string(String(repeating: "9", count: 400))
            },
            make("attempts-2^62", .header, .parked("InvalidField"), body: failing("attempts-2-62")) { _, h in h[CourierHeader.attempts] = .int64(1 << 62) },
            make("attempts-uint64-max", .header, .parked("InvalidField"), body: failing("attempts-u64")) { _, h in h[CourierHeader.attempts] = .uint64(.max) },
            make("attempts-minus-1", .header, .parked("InvalidField"), body: failing("attempts-neg")) { _, h in h[CourierHeader.attempts] = .int64(-1) },
            make("attempts-abc", .header, .parked("InvalidField"), body: failing("attempts-abc")) { _, h in h[CourierHeader.attempts] = "abc" },
            make("attempts-table", .header, .parked("InvalidField"), body: failing("attempts-table")) { _, h in
                h[CourierHeader.attempts] = .table(["n": .int64(.max)])
            },
            make("attempts-int64-max-valid-body", .header, .handled, body: valid("attempts-max-ok")) { _, h in h[CourierHeader.attempts] = .int64(.max) },
            make("schema-version-abc", .header, .parked("UnsupportedSchemaVersion"), body: valid("sv-abc")) { _, h in h[EventSchema.versionHeader] = "abc" },
            make("schema-version-1.5-string", .header, .parked("UnsupportedSchemaVersion"), body: valid("sv-15s")) { _, h in
                h[EventSchema.versionHeader] = "1.5"
            },
            make("schema-version-double-1.5", .header, .parked("UnsupportedSchemaVersion"), body: valid("sv-15d")) { _, h in
                h[EventSchema.versionHeader] = .double(1.5)
            },
            make("schema-version-decimal", .header, .parked("UnsupportedSchemaVersion"), body: valid("sv-dec")) { _, h in
                h[EventSchema.versionHeader] = .decimal(scale: 1, value: 15)
            },
            make("schema-version-minus-1", .header, .parked("UnsupportedSchemaVersion"), body: valid("sv-neg")) { _, h in
                h[EventSchema.versionHeader] = .int32(-1)
            },
            make("schema-version-999", .header, .parked("UnsupportedSchemaVersion"), body: valid("sv-999")) { _, h in
                h[EventSchema.versionHeader] = .int32(999)
            },
            // (A uint64 does not survive RabbitMQ: UInt64.max arrives as the signed long -1.)
            make("schema-version-int64-max", .header, .parked("UnsupportedSchemaVersion"), body: valid("sv-i64")) { _, h in
                h[EventSchema.versionHeader] = .int64(.max)
            },
            make("schema-version-bool", .header, .parked("UnsupportedSchemaVersion"), body: valid("sv-bool")) { _, h in
                h[EventSchema.versionHeader] = .bool(true)
            },
            make("schema-version-2-string", .header, .handled, body: valid("sv-2s")) { _, h in h[EventSchema.versionHeader] = "2" },
            make("original-routing-key-300-bytes", .header, .handled, body: valid("ork-300")) { _, h in
                h[CourierHeader.originalRoutingKey] = .string(String(repeating: "r", count: 300))
            },
            make("original-routing-key-nul", .header, .handled, body: valid("ork-nul")) { _, h in
                h[CourierHeader.originalRoutingKey] = .string("UserFollowedTargetEvent\u{0}")
            },
            make("original-routing-key-int", .header, .handled, body: valid("ork-int")) { _, h in h[CourierHeader.originalRoutingKey] = .int64(7) },
            // A forged but well-formed key is believed (it is how a retried copy carries its
            // type), so a card body under a follow key is a mismatch.
            make("original-routing-key-other-type", .header, .parked("EventTypeMismatch"), body: valid("ork-other")) { _, h in
                h[CourierHeader.originalRoutingKey] = .string(Self.followType)
            },
            make("original-exchange-and-queue-garbage", .header, .parked("InvalidField"), body: failing("oex")) { _, h in
                h[CourierHeader.originalExchange] = .bytes([0xFF, 0x00, 0xFE])
                h[CourierHeader.originalQueue] = .string(String(repeating: "q", count: 1000))
            },
            make("failure-id-garbage", .header, .parked("InvalidField"), body: failing("fid")) { _, h in
                h[CourierHeader.failureID] = "'; DROP TABLE courier_failures; --\u{0}"
            },
            make("failure-id-garbage-valid-body", .header, .handled, body: valid("fid-ok")) { _, h in h[CourierHeader.failureID] = .int64(-1) },
            make("error-class-forged", .header, .parked("InvalidField"), body: failing("ecf")) { _, h in
                h[CourierHeader.errorClass] = "Forged\u{0}Class"
                h[CourierHeader.reason] = .table([:])
            },
            make("x-death-garbage", .header, .parked("InvalidField"), body: failing("xdeath")) { _, h in
                h["x-death"] = .array([.string("not a table"), .table(["count": "abc", "time": .int64(-1), "queue": .int64(1)])])
            },
            make("x-death-garbage-valid-body", .header, .handled, body: valid("xdeath-ok")) { _, h in h["x-death"] = .string("dead?") },
            make("x-delivery-count-string", .header, .handled, body: valid("xdc")) { _, h in h["x-delivery-count"] = "many" },
            make("x-delivery-count-string-failing", .header, .parked("InvalidField"), body: failing("xdc-f")) { _, h in
                h["x-delivery-count"] = "many"
            },
            make("replay-count-int64-max", .header, .parked("InvalidField"), body: failing("replay")) { _, h in
                h[CourierHeader.replayCount] = .int64(.max)
                h[CourierHeader.replayedFrom] = "not-a-uuid\u{0}"
                h[CourierHeader.replayedAt] = .timestamp(.max)
            },
            make("headers-128kb", .header, .parked("InvalidField"), body: failing("big-headers"), removedHeader: "x-big") { _, h in
                h["x-big"] = big
                h["x-small"] = "kept"
            },
            make("headers-128kb-valid-body", .header, .handled, body: valid("big-headers-ok")) { _, h in h["x-big"] = big },
            {
                var deep = make("header-table-depth-\(BadInputCorpus.headerTableDepth)", .header, .parked("InvalidField"), body: failing("deep-table")) { _, h in
                    h["x-deep"] = deepTable
                }
                deep.cutHeader = "x-deep"
                return deep
            }(),
            make("headers-3000-small", .header, .parked("InvalidField"), body: failing("many-headers")) { _, h in
                for entry in manyHeaders { h[entry.key] = entry.value }
            },
            make("header-name-control-chars", .header, .parked("InvalidField"), body: failing("header-name")) { _, h in
                h["x-\u{1B}[31mred\u{7}"] = "\u{0}"
                h["x-utf8-bytes"] = .bytes([0xC3, 0x28])
            },
        ]
    }

    /// How deep the nested header table of the `header-table-depth-N` case is. courierd reads
    /// header tables 64 levels deep and puts a marker in place of the rest (a frame holds ~18,000
    /// levels; reading, copying and indexing recurse per level), so the parked copy and its index
    /// row carry the first 64 levels. (At 500+ levels the index row used to be missing:
    /// Foundation's JSONEncoder gives up at about 510.)
    static let headerTableDepth = 2_000

    var all: [BadInputCase] { bodyCases + propertyCases + headerCases }
}
