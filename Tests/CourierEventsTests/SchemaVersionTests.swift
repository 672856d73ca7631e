import Foundation
import Testing
@testable import CourierEvents

@Suite("Schema versions and upcasting")
struct SchemaVersionTests {
    @Test("the standard chain ends at EventSchema.currentVersion = 2")
    func standardChain() {
        #expect(EventSchema.currentVersion == 2)
        #expect(EventSchema.versionHeader == "x-schema-version")
        #expect(Upcasters.standard.currentVersion == EventSchema.currentVersion)
        #expect(Upcasters.standard.supportedVersions == 1...2)
        #expect(EventDecoder().upcasters.steps.map(\.fromVersion) == [1])
    }

    @Test("supported versions decode to the current version", arguments: [nil, 1, 2] as [Int?])
    func supported(_ version: Int?) throws {
        let sample = sample(.cardAddedToLibrary)
        let envelope = try decode(sample.body.bytes, schemaVersion: version)
        #expect(envelope == sample.expectedEnvelope)
        #expect(envelope.schemaVersion == 2)
    }

    @Test("other versions → unsupportedSchemaVersion, saying what is supported", arguments: [3, 0, -1, 99, Int.max, Int.min])
    func unsupported(_ version: Int) {
        let error = decodingError(sample(.cardAddedToLibrary).body.bytes, schemaVersion: version)
        #expect(error?.code == .unsupportedSchemaVersion)
        #expect(error?.errorClass == "UnsupportedSchemaVersion")
        #expect(error?.message.contains("\(version)") == true)
        #expect(error?.message.contains("1 to 2") == true)
    }

    @Test("an unsupported version is reported even when the body is not JSON")
    func unsupportedBeforeParsing() {
        #expect(decodingError(Array("garbage".utf8), schemaVersion: 3)?.code == .unsupportedSchemaVersion)
    }

    @Test("the v1 → v2 step rewrites legacy names and leaves a flat body alone")
    func legacyStep() throws {
        var object: [String: JSONValue] = [
            "eventType": .string("USER_UNFOLLOWED_TARGET"), "followId": .string("f"), "n": .number(1),
        ]
        try Upcasters.standard.upcast(&object, from: 1)
        #expect(object == ["eventType": .string("UserUnfollowedTargetEvent"), "followId": .string("f"), "n": .number(1)])

        var canonical: [String: JSONValue] = ["eventType": .string("CardAddedToLibraryEvent")]
        try Upcasters.standard.upcast(&canonical, from: 1)
        #expect(canonical == ["eventType": .string("CardAddedToLibraryEvent")])

        var atCurrent: [String: JSONValue] = ["eventType": .string("USER_FOLLOWED_TARGET")]
        try Upcasters.standard.upcast(&atCurrent, from: 2)
        #expect(atCurrent == ["eventType": .string("USER_FOLLOWED_TARGET")])  // no step runs at the current version
    }

    // MARK: A hypothetical version 3, registered only here

    /// Hypothetical v2 → v3: in version 2 the follow events called the follower `follower`; version 3
    /// renames it `followerId`. It matches on the canonical name, so it only works if the v1 → v2 step
    /// ran before it.
    static let renameFollower = Upcasters.Step(fromVersion: 2, summary: "rename follower → followerId") { object in
        guard case .string(let type)? = object["eventType"], type.hasPrefix("User"), type.hasSuffix("TargetEvent"),
              let value = object.removeValue(forKey: "follower")
        else { return }
        object["followerId"] = value
    }

    static let v3 = EventDecoder(upcasters: Upcasters.standard.appending(renameFollower))

    @Test("an appended step extends the chain to version 3")
    func extraStepChain() throws {
        #expect(Self.v3.upcasters.currentVersion == 3)
        #expect(Self.v3.upcasters.supportedVersions == 1...3)

        let sample = sample(.userFollowedTarget)
        var expected = sample.expectedEnvelope
        expected.schemaVersion = 3
        let oldShape = sample.body.removing("followerId").setting("follower", string: follower)

        // Version 3: already in the current shape, no step runs.
        #expect(try decode(sample.body.bytes, schemaVersion: 3, decoder: Self.v3) == expected)
        // Version 2: only the new step runs.
        #expect(try decode(oldShape.bytes, schemaVersion: 2, decoder: Self.v3) == expected)
        // Version 1 with a legacy name: both steps, in order.
        let legacy = oldShape.setting("eventType", string: "USER_FOLLOWED_TARGET")
        #expect(try decode(legacy.bytes, decoder: Self.v3) == expected)
        #expect(try decode(legacy.bytes, schemaVersion: 1, decoder: Self.v3) == expected)
        // Without the step, the old shape is missing a field.
        #expect(decodingError(oldShape.bytes, schemaVersion: 2)?.field == "followerId")
        // Version 3 is the newest now; 4 is not supported.
        let error = decodingError(sample.body.bytes, schemaVersion: 4, decoder: Self.v3)
        #expect(error?.code == .unsupportedSchemaVersion)
        #expect(error?.message.contains("1 to 3") == true)
    }

    @Test("a step that throws rejects the message with its error")
    func throwingStep() {
        let strict = Upcasters.standard.appending(Upcasters.Step(fromVersion: 2, summary: "refuse") { object throws(EventDecodingError) in
            if object["legacyOnly"] != nil {
                throw EventDecodingError(code: .invalidField, field: "legacyOnly", message: "field 'legacyOnly': cannot be upcast")
            }
        })
        let body = sample(.connectionCreated).body.setting("legacyOnly", raw: "true")
        let error = decodingError(body.bytes, schemaVersion: 2, decoder: EventDecoder(upcasters: strict))
        #expect(error?.field == "legacyOnly")
        #expect(decodingError(body.bytes, schemaVersion: 3, decoder: EventDecoder(upcasters: strict)) == nil)
    }
}

/// The `x-schema-version` header is untrusted input: only a non-negative integer is a version.
@Suite("The schema version header")
struct SchemaVersionHeaderTests {
    @Test("absent is version 1; integers and digit strings are read as they are", arguments: [
        (nil, 1), (.integer(2), 2), (.unsignedInteger(1), 1), (.text("2"), 2), (.text("02"), 2), (.text("0"), 0),
        (.integer(-1), -1), (.integer(Int64.max), Int.max), (.text("999999999"), 999_999_999),
    ] as [(SchemaVersionHeader?, Int)])
    func accepted(_ header: SchemaVersionHeader?, _ version: Int) throws {
        #expect(try EventSchema.version(of: header) == version)
    }

    @Test("anything else → unsupportedSchemaVersion naming the header", arguments: [
        .text("abc"), .text("1.5"), .text("-1"), .text("+1"), .text(" 1"), .text("1 "), .text(""), .text("1e0"),
        .text("0x1"), .text("1\u{0}"), .text("١"), .text("1234567890"), .text(String(repeating: "9", count: 40)),
        .unsignedInteger(UInt64.max), .other("the double 1.5"), .other("a decimal (15 scaled by 10^-1)"), .other("the bool true"),
    ] as [SchemaVersionHeader])
    func rejected(_ header: SchemaVersionHeader) {
        do {
            let version = try EventSchema.version(of: header)
            Issue.record("read as version \(version)")
        } catch {
            #expect(error.code == .unsupportedSchemaVersion)
            #expect(error.errorClass == "UnsupportedSchemaVersion")
            #expect(error.message.hasPrefix("header 'x-schema-version': "))
        }
    }

    @Test("through the decoder: garbage is rejected before the body is read; negative and too-new versions too")
    func decoder() throws {
        let body = sample(.cardAddedToLibrary).body.bytes
        func decode(_ header: SchemaVersionHeader?) throws(EventDecodingError) -> EventEnvelope {
            try EventDecoder().decode(body: body, messageId: "msg-1", routingKey: nil, typeProperty: nil, schemaVersionHeader: header)
        }
        #expect(try decode(nil) == sample(.cardAddedToLibrary).expectedEnvelope)
        #expect(try decode(.text("2")) == sample(.cardAddedToLibrary).expectedEnvelope)
        for header: SchemaVersionHeader in [.text("abc"), .text("1.5"), .other("a decimal"), .integer(-1), .integer(0), .integer(3), .unsignedInteger(.max)] {
            #expect(throws: EventDecodingError.self, "\(header)") { try decode(header) }
            do { _ = try decode(header) } catch { #expect(error.code == .unsupportedSchemaVersion, "\(header)") }
        }
        #expect(throws: EventDecodingError.self) {
            try EventDecoder().decode(body: Array("garbage".utf8), messageId: nil, routingKey: nil, typeProperty: nil, schemaVersionHeader: .text("x"))
        }
    }
}
