import CourierAMQP
import CourierEvents

/// The event decoder under fuzzing: one input is one delivery as courierd decodes it
/// (`EventHandlerRunner.decode` in CourierHandlers, whose arguments are rebuilt here).
///
/// Input layout: four bytes choose the delivery's routing key, its AMQP `type` property, its
/// `x-schema-version` header and its `message_id` among realistic values (every known wire name,
/// so each event's decoding is reached, and unknown, blank and hostile ones); the rest is the body.
///
/// The decoder must return an envelope or throw `EventDecodingError`, never trap. Beyond that it
/// checks what the decoder documents: an envelope is in the current schema version, has an id,
/// agrees with a routing key naming a known type, and survives `decode(encode(e)) == e`.
package enum FuzzEvents {
    /// Routing keys and `type` properties: absent, blank, every wire name, near misses.
    package static let names: [String?] =
        [nil, ""] + EventType.allWireNames.map { $0 } + ["UnknownEvent", "cardaddedtolibraryevent", " CardAddedToLibraryEvent", "events_app"]

    /// `x-schema-version` headers: absent, the supported versions in the types other clients use,
    /// and unsupported, negative, huge and unreadable ones.
    package static let schemaVersions: [AMQPFieldValue?] = [
        nil, .int64(1), .int64(2), .int32(2), .uint8(1), .string("2"), .int64(3), .int64(0), .int64(-1),
        .int64(.max), .int64(.min), .uint64(.max), .string("two"), .double(2), .bool(true),
    ]

    /// `message_id` properties: absent, blank, plain, padded.
    package static let messageIDs: [String?] = [nil, "", " \t\n", "msg-1", "  msg-1\n", "b3c1d9a0-6b1e-4f7e-9a43-5c1c2f0e8d11"]

    /// The four selector bytes for a delivery with these properties (the seed generator's inverse
    /// of the first bytes `run` reads).
    package static func prefix(routingKey: String?, type: String? = nil, schemaVersion: AMQPFieldValue? = nil, messageID: String? = nil) -> [UInt8] {
        [
            UInt8(names.firstIndex(of: routingKey)!), UInt8(names.firstIndex(of: type)!),
            UInt8(schemaVersions.firstIndex(of: schemaVersion)!), UInt8(messageIDs.firstIndex(of: messageID)!),
        ]
    }

    static let decoder = EventDecoder()
    static let encoder = EventEncoder()

    /// Decodes one fuzzer input. Add further decoding entry points here.
    package static func run(_ bytes: [UInt8]) {
        var input = FuzzInput(bytes)
        let routingKey = input.choose(names)
        let typeProperty = input.choose(names)
        let versionHeader = input.choose(schemaVersions)
        let messageID = input.choose(messageIDs)
        let body = input.rest()
        // As EventHandlerRunner.decode reads the header.
        let schemaVersion = versionHeader?.intValue.map { Int(clamping: $0) }

        let envelope: EventEnvelope
        do throws(EventDecodingError) {
            envelope = try decoder.decode(
                body: body, messageId: messageID, routingKey: routingKey, typeProperty: typeProperty, schemaVersion: schemaVersion)
        } catch {
            fuzzCheck(!error.message.isEmpty && !error.errorClass.isEmpty, "a decoding error without class or message: \(error)")
            return
        }

        fuzzCheck(envelope.schemaVersion == decoder.upcasters.currentVersion, "envelope in version \(envelope.schemaVersion)")
        fuzzCheck(!envelope.id.isEmpty, "envelope without an id")
        if let routingKey, let routed = EventType(wireName: routingKey) {
            fuzzCheck(envelope.type == routed, "routing key \(routingKey) decoded as \(envelope.type)")
        }
        // Deterministic: a redelivery of the same bytes decodes to the same envelope, same id.
        let again = try? decoder.decode(
            body: body, messageId: messageID, routingKey: routingKey, typeProperty: typeProperty, schemaVersion: schemaVersion)
        fuzzCheck(again == envelope, "decoding the same delivery twice differs")

        // What Courier publishes itself decodes back to the same envelope (EventEncoder's promise).
        let encoded = encoder.encode(envelope)
        do throws(EventDecodingError) {
            let decoded = try decoder.decode(
                body: encoded, messageId: envelope.id, routingKey: envelope.type.rawValue, typeProperty: envelope.type.rawValue,
                schemaVersion: EventSchema.currentVersion)
            fuzzCheck(decoded == envelope, "decode(encode(e)) != e: \(envelope) became \(decoded)")
        } catch {
            fuzzCheck(false, "Courier's own encoding of \(envelope) does not decode: \(error)")
        }
    }
}
