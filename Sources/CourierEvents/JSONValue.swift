/// A JSON value: what the decoder parses a body into before upcasting and validation.
///
/// Upcasting steps work on `[String: JSONValue]` (the body's top-level object) so that a schema
/// change can rename, move or rewrite fields without knowing the typed events.
package enum JSONValue: Sendable, Hashable {
    case string(String)
    /// Every JSON number, as a `Double` (the events carry no numbers; this only has to be faithful
    /// enough for upcasting steps and for error messages).
    case number(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses one JSON document (RFC 8259, strict) from UTF-8 bytes.
    ///
    /// Accepts exactly one value surrounded by optional whitespace (a leading UTF-8 byte order
    /// mark is skipped). Rejects trailing data, trailing commas, leading zeros, control characters
    /// and invalid escapes in strings, lone surrogates, invalid UTF-8, and nesting deeper than
    /// `JSONParser.maxDepth`. Duplicate keys are accepted; the last one wins.
    package static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try JSONParser.parse(bytes)
    }

    /// The name of this value's JSON type, for error messages ("a string", "null"…).
    package var typeDescription: String {
        switch self {
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// Why a body is not JSON: the byte offset where parsing stopped and what was wrong there.
package struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Byte offset into the input.
    package var offset: Int
    package var reason: String

    package init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    package var description: String { "\(reason) at byte \(offset)" }
}
