/// The chain of schema migrations the decoder applies before validating a message.
///
/// A message carries the version of its format (`x-schema-version`, absent = 1). Rather than
/// teaching the validator every historical format, each format change is one `Step` that rewrites
/// a version-n object into version n+1; the decoder runs the steps from the message's version up
/// to `currentVersion` and validates only the current format. Adding a version means appending a
/// step (and bumping `EventSchema.currentVersion` when it is the standard chain).
public struct Upcasters: Sendable {
    /// One migration: a body object of version `fromVersion` into version `fromVersion + 1`.
    public struct Step: Sendable {
        /// The version this step reads; it writes `fromVersion + 1`.
        public let fromVersion: Int
        /// What the step does, for diagnostics.
        public let summary: String
        let apply: @Sendable (inout [String: JSONValue]) throws(EventDecodingError) -> Void

        /// - Parameter apply: rewrites the object in place. It may throw an `EventDecodingError`
        ///   when an old message cannot be expressed in the new format.
        public init(
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
    public static let oldestVersion = 1

    /// The steps, in order: `steps[i]` upcasts from version `oldestVersion + i`.
    public let steps: [Step]

    /// The version every message is upcast to: `oldestVersion + steps.count`.
    public var currentVersion: Int { Self.oldestVersion + steps.count }

    /// The versions a message may carry.
    public var supportedVersions: ClosedRange<Int> { Self.oldestVersion...currentVersion }

    /// A chain of steps. The steps must be contiguous from version 1 (a programming error
    /// otherwise, checked here once rather than on every message).
    public init(steps: [Step]) {
        for (offset, step) in steps.enumerated() {
            precondition(
                step.fromVersion == Self.oldestVersion + offset,
                "upcaster step \(offset) reads version \(step.fromVersion), expected \(Self.oldestVersion + offset)"
            )
        }
        self.steps = steps
    }

    /// This chain with one more step at the end (its `fromVersion` must be `currentVersion`).
    public func appending(_ step: Step) -> Upcasters {
        Upcasters(steps: steps + [step])
    }

    /// The chain for the formats Courier knows: up to `EventSchema.currentVersion`.
    public static let standard = Upcasters(steps: [.legacyEventTypeNames])

    /// Brings `object` from `version` to `currentVersion`.
    /// - Throws: `unsupportedSchemaVersion` when `version` is not in `supportedVersions`,
    ///   or whatever a step throws.
    public func upcast(_ object: inout [String: JSONValue], from version: Int) throws(EventDecodingError) {
        try checkSupported(version)
        for step in steps[(version - Self.oldestVersion)...] {
            try step.apply(&object)
        }
    }
}

extension Upcasters {
    /// Throws `unsupportedSchemaVersion` unless `version` is in `supportedVersions`.
    public func checkSupported(_ version: Int) throws(EventDecodingError) {
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
    /// Version 1 → 2: Semble's TypeScript API may name the follow events by their legacy names
    /// (`USER_FOLLOWED_TARGET`, `USER_UNFOLLOWED_TARGET`) in `eventType`; version 2 uses canonical
    /// names only, so the validator never has to know about aliases in bodies.
    public static let legacyEventTypeNames = Upcasters.Step(
        fromVersion: 1,
        summary: "rewrite legacy eventType names to canonical names"
    ) { object in
        if case .string(let name)? = object["eventType"], let type = EventType(legacyAlias: name) {
            object["eventType"] = .string(type.rawValue)
        }
    }
}
