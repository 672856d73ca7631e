/// The `x-schema-version` header as it arrived, before anything trusts it.
///
/// Any publisher can put any value there, so the header is parsed like the body: a version is a
/// non-negative integer, carried either as an integer of the transport (AMQP `int8` … `uint64`) or
/// as a string of decimal digits — no sign, no dot, no spaces, at most
/// ``EventSchema/maximumVersionDigits`` of them, so it cannot overflow. Anything else (`"abc"`,
/// `"1.5"`, `"-1"`, a decimal or float 1.5, a bool, a table) is ``EventDecodingError/Code/unsupportedSchemaVersion``,
/// which is permanent: the message is parked, never read as "no header" (version 1) and applied.
/// The transport module maps its field values to this type (see `EventHandlerRunner`).
public enum SchemaVersionHeader: Sendable, Hashable {
    /// A signed integer of the transport.
    case integer(Int64)
    /// An unsigned integer of the transport (may exceed `Int64.max`).
    case unsignedInteger(UInt64)
    /// A string; must be decimal digits only.
    case text(String)
    /// A value of any other type, described for the error message (e.g. `a decimal`, `a bool`).
    case other(String)
}

extension EventSchema {
    /// The longest decimal-digit string accepted as a schema version: 9 digits always fit an `Int`.
    public static let maximumVersionDigits = 9

    /// The version a message carries: 1 when the header is absent, else the header's value.
    /// The value is not checked against the versions a decoder supports (``Upcasters/checkSupported(_:)``
    /// does that); a negative integer is returned as it is and rejected there.
    /// - Throws: ``EventDecodingError/Code/unsupportedSchemaVersion`` when the header is not an integer.
    package static func version(of header: SchemaVersionHeader?) throws(EventDecodingError) -> Int {
        switch header {
        case nil:
            return Upcasters.oldestVersion
        case .integer(let value)?:
            // Int is 64 bits on every platform Courier runs on; clamping keeps 32-bit ones safe.
            return Int(clamping: value)
        case .unsignedInteger(let value)?:
            guard value <= UInt64(Int.max) else { throw notAnInteger("\(value), too large") }
            return Int(value)
        case .text(let text)?:
            let utf8 = text.utf8
            guard !utf8.isEmpty, utf8.count <= maximumVersionDigits, utf8.allSatisfy({ $0 &- Ascii.zero < 10 }) else {
                throw notAnInteger("the string \(EventDecodingError.quoted(text))")
            }
            var value = 0
            for byte in utf8 { value = value * 10 + Int(byte &- Ascii.zero) }
            return value
        case .other(let description)?:
            throw notAnInteger(description)
        }
    }

    private static func notAnInteger(_ what: String) -> EventDecodingError {
        EventDecodingError(
            code: .unsupportedSchemaVersion,
            field: nil,
            message: "header '\(versionHeader)': \(what) is not a schema version (a non-negative integer, "
                + "or a string of at most \(maximumVersionDigits) decimal digits)"
        )
    }
}
