/// Why a message could not be decoded into an `EventEnvelope`.
///
/// Every decoding error is permanent: the same bytes will fail the same way, so the engine should
/// dead-letter rather than retry. `errorClass` is the stable name written as the
/// `x-courier-error-class` header; `message` is for humans and names the offending field.
package struct EventDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure: a closed set of stable names (like postgres-nio's `PSQLError.Code`),
    /// as a struct rather than an enum so that adding a code later is not a breaking change.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case malformedJSON = "MalformedJSON"
            case notAnObject = "NotAnObject"
            case missingField = "MissingField"
            case invalidField = "InvalidField"
            case unknownEventType = "UnknownEventType"
            case eventTypeMismatch = "EventTypeMismatch"
            case unsupportedSchemaVersion = "UnsupportedSchemaVersion"
        }

        let base: Base

        private init(_ base: Base) { self.base = base }

        /// The body is not JSON (syntax error, invalid UTF-8, nesting too deep).
        package static let malformedJSON = Code(.malformedJSON)
        /// The body is JSON but not an object.
        package static let notAnObject = Code(.notAnObject)
        /// A required field is absent.
        package static let missingField = Code(.missingField)
        /// A field has the wrong JSON type, is blank, or is not a valid value (date, targetType, an
        /// actor's DID, a serialized value object of no accepted shape).
        package static let invalidField = Code(.invalidField)
        /// The event type (body, `type` property or routing key) names no known event.
        package static let unknownEventType = Code(.unknownEventType)
        /// Two sources of the event type name different known events: the body's type and the
        /// routing key (or `type` property), or, in schema version 1, `eventType` and `eventName`.
        package static let eventTypeMismatch = Code(.eventTypeMismatch)
        /// The `x-schema-version` header names a version this decoder cannot upcast from.
        package static let unsupportedSchemaVersion = Code(.unsupportedSchemaVersion)

        /// The stable name, e.g. `MissingField`.
        package var description: String { base.rawValue }
    }

    package var code: Code
    /// The field at fault, when there is one (e.g. `addedAt`, `eventType`).
    package var field: String?
    /// A human-readable explanation; names the field when there is one,
    /// e.g. `field 'addedAt': not an ISO-8601 date: "yesterday"`.
    package var message: String

    /// The value of the `x-courier-error-class` header, e.g. `MissingField`.
    package var errorClass: String { code.description }

    package init(code: Code, field: String? = nil, message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    package var description: String { "\(code): \(message)" }
}

extension EventDecodingError {
    static func missingField(_ field: String) -> EventDecodingError {
        EventDecodingError(code: .missingField, field: field, message: "field '\(field)': required but missing")
    }

    static func invalidField(_ field: String, _ detail: String) -> EventDecodingError {
        EventDecodingError(code: .invalidField, field: field, message: "field '\(field)': \(detail)")
    }

    static func unknownEventType(_ name: String, source: String, field: String = "eventType") -> EventDecodingError {
        EventDecodingError(
            code: .unknownEventType,
            field: field,
            message: "field '\(field)': unknown event type \(quoted(name)) (from \(source))"
        )
    }

    /// A value quoted for an error message: JSON-style escapes, cut after 64 characters so a
    /// hostile message cannot blow up a header.
    static func quoted(_ value: String) -> String {
        var out = "\""
        var count = 0
        for scalar in value.unicodeScalars {
            if count == 64 {
                out += "…"
                break
            }
            count += 1
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
