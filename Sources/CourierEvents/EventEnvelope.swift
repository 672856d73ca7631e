#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A decoded message: the typed event plus what every event carries.
///
/// Two deliveries of the same message decode to equal envelopes (same `id`), which is what makes
/// idempotent handling possible even for publishers that set no `message_id`.
public struct EventEnvelope: Sendable, Hashable {
    /// The event's identity: the AMQP `message_id` when present and not blank (trimmed), else
    /// `EventIdentity.derived(body:routingKey:)` — deterministic, so a redelivery gets the same id.
    public var id: String
    /// The aggregate the event belongs to (required, non-blank; not cross-checked against the fields).
    public var aggregateId: String
    /// `dateTimeOccurred`: when the change happened in Semble.
    public var occurredAt: Date
    /// The schema version of the event *after* upcasting, i.e. the decoder's current version
    /// (`EventSchema.currentVersion` with the standard upcasters), not the version on the wire.
    public var schemaVersion: Int
    /// The typed event.
    public var event: SembleEvent

    /// The event's type.
    public var type: EventType { event.type }

    public init(
        id: String,
        aggregateId: String,
        occurredAt: Date,
        schemaVersion: Int = EventSchema.currentVersion,
        event: SembleEvent
    ) {
        self.id = id
        self.aggregateId = aggregateId
        self.occurredAt = occurredAt
        self.schemaVersion = schemaVersion
        self.event = event
    }
}

/// The versioning of the wire format.
public enum EventSchema {
    /// The version Courier's own publisher writes and the decoder upcasts everything to.
    ///
    /// - 1: Semble's TypeScript publishers (no version header): `eventType` may be a legacy alias;
    ///   or, from the "Option 4" publisher, no `eventType` but `eventName`, and fields as
    ///   serialized value objects (`{"props":{"value":…}}`). See `Upcasters.Step.typeScriptPayloads`.
    /// - 2: flat strings, canonical event type names in `eventType` only.
    public static let currentVersion: Int = 2
    /// The AMQP header that carries the version; absent means 1.
    public static let versionHeader = "x-schema-version"
}
