#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Turns a delivered message (body and the AMQP properties that matter) into a typed
/// `EventEnvelope`, or says precisely why it cannot.
///
/// The steps, in order: check the schema version; parse the body (strict JSON, must be an object);
/// upcast it to the current version; resolve the event type; validate the common fields
/// (`aggregateId`, `dateTimeOccurred`) and then the event's fields in the order of the
/// specification's table, then the AMQP `message_id` — the first problem found is the one
/// reported. Unknown extra fields are ignored so that publishers can add fields before Courier
/// knows them.
///
/// **Values Postgres cannot hold are rejected here**, as `InvalidField` naming the field, rather
/// than failing in the database (see ``FieldReader``): no string may contain NUL, and ids
/// (`message_id` included) are at most ``EventSchema/maximumIDBytes`` bytes without control characters.
///
/// **Event type.** The body's `eventType` is authoritative. When it is absent, the AMQP `type`
/// property is used, then the routing key (both may be legacy aliases). Whenever the routing key
/// names a known type that differs from the resolved one, the message is rejected as
/// `eventTypeMismatch`: it was routed to handlers of another event. In the body, legacy aliases are
/// accepted in version 1 only (the upcaster rewrites them); a version-2 body must use canonical names.
/// A version-1 body may name its type in `eventName` instead (Semble's event classes, serialized
/// whole by the "Option 4" publisher): the upcaster makes it the `eventType`, after checking that
/// an `eventType` beside it names the same type. Since every source present must agree, the order
/// only decides which source an error names.
///
/// **Payload shapes.** A version-1 body may hold its ids as serialized value objects; the upcaster
/// unwraps them (`Upcasters.Step.typeScriptPayloads`), so both of Semble's shapes of an event
/// decode to the same envelope. A version-2 body is flat strings only.
///
/// **Actors are DIDs**, checked exactly as Semble's `EventMapper.fromSerialized` checks them (see
/// ``FieldReader``): `curatorId`, `addedBy`, `removedBy` and `authorId` as its `CuratorId` does,
/// `followerId` as its `DID` does; `targetId` and the ids of cards, collections, connections and
/// follows are not checked beyond being ids.
package struct EventDecoder: Sendable {
    /// The migration chain; its `currentVersion` is the version of every decoded envelope.
    package let upcasters: Upcasters

    package init(upcasters: Upcasters = .standard) {
        self.upcasters = upcasters
    }

    /// Decodes one message whose `x-schema-version` header is still untrusted (see
    /// ``SchemaVersionHeader``): a header that is not a non-negative integer is
    /// `unsupportedSchemaVersion`, never read as absent.
    package func decode(
        body: [UInt8],
        messageId: String?,
        routingKey: String?,
        typeProperty: String?,
        schemaVersionHeader: SchemaVersionHeader?
    ) throws(EventDecodingError) -> EventEnvelope {
        try decode(
            body: body, messageId: messageId, routingKey: routingKey, typeProperty: typeProperty,
            schemaVersion: try EventSchema.version(of: schemaVersionHeader))
    }

    /// Decodes one message.
    ///
    /// - Parameters:
    ///   - body: the raw message body.
    ///   - messageId: the AMQP `message_id` property; when blank, the id is derived from the bytes.
    ///   - routingKey: the delivery's routing key.
    ///   - typeProperty: the AMQP `type` property.
    ///   - schemaVersion: the `x-schema-version` header value if present (nil → version 1, the
    ///     format of Semble's TypeScript API).
    /// - Throws: `EventDecodingError`; all of its cases are permanent (dead-letter, do not retry).
    package func decode(
        body: [UInt8],
        messageId: String?,
        routingKey: String?,
        typeProperty: String?,
        schemaVersion: Int?
    ) throws(EventDecodingError) -> EventEnvelope {
        let version = schemaVersion ?? Upcasters.oldestVersion
        // Checked before parsing: a body from the future cannot be judged by today's rules.
        try upcasters.checkSupported(version)

        let parsed: JSONValue
        do throws(JSONParseError) {
            parsed = try JSONParser.parse(body)
        } catch {
            throw EventDecodingError(code: .malformedJSON, message: "the body is not valid JSON: \(error)")
        }
        var object: [String: JSONValue]
        switch parsed {
        case .object(let members):
            object = members
        default:
            throw EventDecodingError(
                code: .notAnObject,
                message: "the body is \(parsed.typeDescription), expected a JSON object"
            )
        }

        // Only to name the source in errors: an `eventType` the upcaster added came from `eventName`.
        let bodyNamedEventType = object["eventType"] != nil
        try upcasters.upcast(&object, from: version)

        let type = try resolveType(
            object["eventType"], fromEventName: !bodyNamedEventType && object["eventType"] != nil,
            routingKey: routingKey, typeProperty: typeProperty)
        let fields = FieldReader(object: object)
        let aggregateId = try fields.id("aggregateId")
        let occurredAt = try fields.date("dateTimeOccurred")
        let event = try fields.event(of: type)
        // A derived id (no message_id) is a UUID and always passes.
        let id = EventIdentity.resolve(messageId: messageId, body: body, routingKey: routingKey)
        try FieldReader.checkID(id, field: "message_id")
        return EventEnvelope(
            id: id,
            aggregateId: aggregateId,
            occurredAt: occurredAt,
            schemaVersion: upcasters.currentVersion,
            event: event
        )
    }

    /// - Parameter fromEventName: the body's `eventType` was written by the upcaster from `eventName`.
    private func resolveType(
        _ bodyValue: JSONValue?,
        fromEventName: Bool,
        routingKey: String?,
        typeProperty: String?
    ) throws(EventDecodingError) -> EventType {
        let routingKey = routingKey.flatMap { $0.isEmpty ? nil : $0 }
        let typeProperty = typeProperty.flatMap { $0.isEmpty ? nil : $0 }
        let routed = routingKey.flatMap(EventType.init(wireName:))

        let resolved: EventType
        let source: String
        switch bodyValue {
        case .string(let name)?:
            guard let type = EventType(rawValue: name) else {
                if EventType(legacyAlias: name) != nil {
                    throw EventDecodingError(
                        code: .unknownEventType,
                        field: "eventType",
                        message: "field 'eventType': the legacy name \(EventDecodingError.quoted(name)) is only "
                            + "accepted in schema version 1 (no '\(EventSchema.versionHeader)' header)"
                    )
                }
                throw .unknownEventType(name, source: "the body")
            }
            (resolved, source) = fromEventName ? (type, "the body's eventName") : (type, "the body's eventType")
        case nil:
            if let typeProperty {
                guard let type = EventType(wireName: typeProperty) else {
                    throw .unknownEventType(typeProperty, source: "the AMQP type property")
                }
                (resolved, source) = (type, "the AMQP type property")
            } else if let routingKey {
                guard let routed else { throw .unknownEventType(routingKey, source: "the routing key") }
                return routed
            } else {
                throw .missingField("eventType")
            }
        case let other?:
            throw .invalidField("eventType", "expected a string, got \(other.typeDescription)")
        }

        if let routed, routed != resolved {
            let field = fromEventName ? "eventName" : "eventType"
            throw EventDecodingError(
                code: .eventTypeMismatch,
                field: field,
                message: "field '\(field)': \(source) says \(resolved.rawValue) but the routing key "
                    + "\(EventDecodingError.quoted(routingKey ?? "")) says \(routed.rawValue)"
            )
        }
        return resolved
    }
}
