/// The chain of schema migrations the decoder applies before validating a message.
///
/// A message carries the version of its format (`x-schema-version`, absent = 1). Rather than
/// teaching the validator every historical format, each format change is one `Step` that rewrites
/// a version-n object into version n+1; the decoder runs the steps from the message's version up
/// to `currentVersion` and validates only the current format. Adding a version means appending a
/// step (and bumping `EventSchema.currentVersion` when it is the standard chain).
package struct Upcasters: Sendable {
    /// One migration: a body object of version `fromVersion` into version `fromVersion + 1`.
    package struct Step: Sendable {
        /// The version this step reads; it writes `fromVersion + 1`.
        package let fromVersion: Int
        /// What the step does, for diagnostics.
        package let summary: String
        let apply: @Sendable (inout [String: JSONValue]) throws(EventDecodingError) -> Void

        /// - Parameter apply: rewrites the object in place. It may throw an `EventDecodingError`
        ///   when an old message cannot be expressed in the new format.
        package init(
            fromVersion: Int,
            summary: String,
            apply: @escaping @Sendable (inout [String: JSONValue]) throws(EventDecodingError) -> Void
        ) {
            self.fromVersion = fromVersion
            self.summary = summary
            self.apply = apply
        }
    }

    /// The oldest version the chain starts from: 1, Semble's TypeScript API.
    package static let oldestVersion = 1

    /// The steps, in order: `steps[i]` upcasts from version `oldestVersion + i`.
    package let steps: [Step]

    /// The version every message is upcast to: `oldestVersion + steps.count`.
    package var currentVersion: Int { Self.oldestVersion + steps.count }

    /// The versions a message may carry.
    package var supportedVersions: ClosedRange<Int> { Self.oldestVersion...currentVersion }

    /// A chain of steps. The steps must be contiguous from version 1 (a programming error
    /// otherwise, checked here once rather than on every message).
    package init(steps: [Step]) {
        for (offset, step) in steps.enumerated() {
            precondition(
                step.fromVersion == Self.oldestVersion + offset,
                "upcaster step \(offset) reads version \(step.fromVersion), expected \(Self.oldestVersion + offset)"
            )
        }
        self.steps = steps
    }

    /// This chain with one more step at the end (its `fromVersion` must be `currentVersion`).
    package func appending(_ step: Step) -> Upcasters {
        Upcasters(steps: steps + [step])
    }

    /// The chain for the formats Courier knows: up to `EventSchema.currentVersion`.
    package static let standard = Upcasters(steps: [.typeScriptPayloads])

    /// Brings `object` from `version` to `currentVersion`.
    /// - Throws: `unsupportedSchemaVersion` when `version` is not in `supportedVersions`,
    ///   or whatever a step throws.
    package func upcast(_ object: inout [String: JSONValue], from version: Int) throws(EventDecodingError) {
        try checkSupported(version)
        for step in steps[(version - Self.oldestVersion)...] {
            try step.apply(&object)
        }
    }
}

extension Upcasters {
    /// Throws `unsupportedSchemaVersion` unless `version` is in `supportedVersions`.
    package func checkSupported(_ version: Int) throws(EventDecodingError) {
        guard supportedVersions.contains(version) else {
            throw EventDecodingError(
                code: .unsupportedSchemaVersion,
                field: nil,
                message: "schema version \(version) (header '\(EventSchema.versionHeader)') is not supported; "
                    + "supported versions are \(supportedVersions.lowerBound) to \(supportedVersions.upperBound)"
            )
        }
    }
}

extension Upcasters.Step {
    /// Version 1 → 2: everything Semble's TypeScript publishers may send becomes Courier's flat,
    /// canonical format, so that the validator (`FieldReader`) and Courier's own version-2 bodies
    /// (`EventEncoder`) know only one shape and stay strict.
    ///
    /// Semble has two publishers, both without a version header (so version 1):
    /// - its `EventMapper` (BullMQ): flat strings with `eventType`, where the follow events use the
    ///   legacy names `USER_FOLLOWED_TARGET` / `USER_UNFOLLOWED_TARGET`;
    /// - the "Option 4" publisher, `JSON.stringify({...event, aggregateId})` routed by class name:
    ///   no `eventType` but the event class's `eventName` (the same strings as above), and the
    ///   fields as serialized value objects (see ``unwrapValueObject(_:field:)``).
    ///
    /// The step therefore, in this order:
    /// 1. rewrites a legacy `eventType` to its canonical name;
    /// 2. turns `eventName` into `eventType`: when the body has no `eventType` it becomes the
    ///    (canonical) `eventType`; when it has one naming a known type, both must name the same type
    ///    (`eventTypeMismatch` on `eventName` otherwise). `eventName` must be a string naming a known
    ///    type (`invalidField` / `unknownEventType` otherwise) and is removed;
    /// 3. unwraps the value objects of ``valueObjectFields`` into their strings. A member by one of
    ///    those names that is an object of no accepted shape is rejected (`invalidField` naming it),
    ///    even in an event type that does not read it: no publisher of Semble's writes one.
    ///
    /// Why here and not in `FieldReader`: value objects and `eventName` are facts of the TypeScript
    /// publishers, i.e. of version 1. In version 2 — what Courier publishes — a field is a plain
    /// string and `eventName` is an unknown member (ignored), so a version-2 body carrying a value
    /// object is rejected as "expected a … string, got an object".
    /// Both shapes of one event decode to the same envelope; only a derived id differs, since it is
    /// taken from the bytes as they arrived (`EventIdentity`).
    package static let typeScriptPayloads = Upcasters.Step(
        fromVersion: 1,
        summary: "rewrite legacy eventType names, eventName → eventType, unwrap serialized value objects"
    ) { object throws(EventDecodingError) in
        if case .string(let name)? = object["eventType"], let type = EventType(legacyAlias: name) {
            object["eventType"] = .string(type.rawValue)
        }
        if let eventName = object.removeValue(forKey: "eventName") {
            guard case .string(let name) = eventName else {
                throw .invalidField("eventName", "expected an event type name string, got \(eventName.typeDescription)")
            }
            guard let named = EventType(wireName: name) else {
                throw .unknownEventType(name, source: "the body's eventName", field: "eventName")
            }
            switch object["eventType"] {
            case nil:
                object["eventType"] = .string(named.rawValue)
            case .string(let typeName)?:
                // An unknown eventType is reported by the decoder, as for any body.
                if let stated = EventType(rawValue: typeName), stated != named {
                    throw EventDecodingError(
                        code: .eventTypeMismatch,
                        field: "eventName",
                        message: "field 'eventName': the body's eventName says \(named.rawValue) "
                            + "(\(EventDecodingError.quoted(name))) but its eventType says \(stated.rawValue)"
                    )
                }
            case .some:
                break  // not a string: the decoder reports it
            }
        }
        for field in valueObjectFields {
            if case .object(let members)? = object[field] {
                object[field] = .string(try unwrapValueObject(members, field: field))
            }
        }
    }

    /// The fields that Semble's event classes hold as value objects (CardId, CollectionId,
    /// ConnectionId, CuratorId, DID, FollowTargetType, UniqueEntityID), and `targetId`, a plain
    /// string in Semble but accepted in the same shapes. Dates, `collectionName` and the
    /// common `aggregateId` are plain strings in both publishers' bodies and are not unwrapped.
    package static let valueObjectFields: [String] = [
        "cardId", "collectionId", "connectionId", "curatorId", "addedBy", "removedBy", "authorId",
        "followId", "followerId", "targetId", "targetType",
    ]

    /// The string inside one serialized value object. `JSON.stringify` writes a `ValueObject`
    /// (`semble:src/shared/domain/ValueObject.ts`) as `{"props":{…}}` and an `Identifier` /
    /// `UniqueEntityID` as `{"value":…}`, so exactly three shapes are accepted, S a string:
    /// `{"props":{"value":S}}` (CuratorId, DID, FollowTargetType), `{"props":{"value":{"value":S}}}`
    /// (CardId, CollectionId, ConnectionId) and `{"value":S}` (a followId). Anything else — an
    /// extra key, other nesting, a leaf that is not a string — throws `invalidField` naming the
    /// field, the accepted shapes and what was wrong.
    static func unwrapValueObject(_ members: [String: JSONValue], field: String) throws(EventDecodingError) -> String {
        func reject(_ problem: String) -> EventDecodingError {
            .invalidField(
                field,
                "expected a string or a serialized value object {\"props\":{\"value\":S}}, "
                    + "{\"props\":{\"value\":{\"value\":S}}} or {\"value\":S} with S a string; \(problem)")
        }
        func only(_ key: String, in members: [String: JSONValue], at path: String) throws(EventDecodingError) -> JSONValue {
            guard members.count == 1, let value = members[key] else {
                let keys = members.keys.sorted().map { EventDecodingError.quoted($0) }
                throw reject("\(path) has the keys [\(keys.prefix(8).joined(separator: ", "))\(keys.count > 8 ? ", …" : "")]")
            }
            return value
        }

        if members.count == 1, let value = members["value"] {
            // An Identifier: {"value":S}.
            guard case .string(let string) = value else { throw reject("its value is \(value.typeDescription)") }
            return string
        }
        // A ValueObject: {"props":{"value":S}} or {"props":{"value":{"value":S}}}.
        let props = try only("props", in: members, at: "the object")
        guard case .object(let propsMembers) = props else { throw reject("its props is \(props.typeDescription)") }
        let value = try only("value", in: propsMembers, at: "props")
        switch value {
        case .string(let string):
            return string
        case .object(let identifier):
            let inner = try only("value", in: identifier, at: "props.value")
            guard case .string(let string) = inner else { throw reject("its props.value.value is \(inner.typeDescription)") }
            return string
        default:
            throw reject("its props.value is \(value.typeDescription)")
        }
    }
}
