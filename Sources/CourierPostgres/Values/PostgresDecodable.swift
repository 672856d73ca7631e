import Foundation

/// A Swift type that can be read from a result column.
///
/// Results arrive in Postgres text format. Conformances ship for `String`, the integer types,
/// `Bool` (`t`/`f`), `Double`, `Float`, `UUID`, `Date` (timestamptz, timestamp, date), `Data`
/// and `[UInt8]` (bytea in hex format), ``PostgresJSON``, `Optional` (NULL decodes to `nil`) and
/// arrays of any of these (`text[]`, `int8[]`, `uuid[]`...).
public protocol PostgresDecodable: Sendable {
    /// Decodes a non-NULL value from its text form.
    /// - Throws: ``PostgresValueError`` (or any error) when the text is not a valid value.
    init(postgresText text: String) throws

    /// The value SQL NULL decodes to, or `nil` if NULL is an error for this type (the default).
    /// `Optional` returns `.some(nil)`.
    static var postgresNull: Self? { get }

    /// Decodes an array of this type. Defaults to parsing a one-dimensional array literal
    /// (``PostgresArrayLiteral``); `UInt8` decodes its arrays from `bytea` instead.
    static func postgresArray(fromText text: String) throws -> [Self]
}

extension PostgresDecodable {
    public static var postgresNull: Self? { nil }

    public static func postgresArray(fromText text: String) throws -> [Self] {
        try PostgresArrayLiteral.decode(text).map { element in
            guard let element else {
                guard let null = postgresNull else { throw PostgresValueError("the array contains NULL") }
                return null
            }
            return try Self(postgresText: element)
        }
    }
}

/// Conformance for types that parse from their Postgres text with `init?(_ description:)`.
public protocol PostgresLosslessStringDecodable: PostgresDecodable, LosslessStringConvertible {}

extension PostgresLosslessStringDecodable {
    public init(postgresText text: String) throws {
        guard let value = Self(text) else { throw PostgresValueError("not a valid \(Self.self)") }
        self = value
    }
}

extension String: PostgresDecodable {
    public init(postgresText text: String) { self = text }
}

extension Int: PostgresLosslessStringDecodable {}
extension Int16: PostgresLosslessStringDecodable {}
extension Int32: PostgresLosslessStringDecodable {}
extension Int64: PostgresLosslessStringDecodable {}

extension UInt8: PostgresLosslessStringDecodable {
    /// `[UInt8]` is binary data: it decodes from `bytea`, not from a `smallint[]`.
    public static func postgresArray(fromText text: String) throws -> [UInt8] {
        try PostgresBytea.decode(text)
    }
}

extension Bool: PostgresDecodable {
    /// Accepts the server's `t` and `f` (and `true` / `false`).
    public init(postgresText text: String) throws {
        switch text {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw PostgresValueError("not a boolean (expected t or f)")
        }
    }
}

extension Double: PostgresDecodable {
    /// Accepts the server's `NaN`, `Infinity` and `-Infinity` as well as plain numbers.
    public init(postgresText text: String) throws {
        switch text {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(text) else { throw PostgresValueError("not a floating-point number") }
            self = value
        }
    }
}

extension Float: PostgresDecodable {
    public init(postgresText text: String) throws { self = Float(try Double(postgresText: text)) }
}

extension UUID: PostgresDecodable {
    public init(postgresText text: String) throws {
        guard let uuid = UUID(uuidString: text) else { throw PostgresValueError("not a UUID") }
        self = uuid
    }
}

extension Date: PostgresDecodable {
    /// Parses `timestamptz`, `timestamp` (as UTC) and `date` text (see ``PostgresTimestamp``).
    public init(postgresText text: String) throws { self = try PostgresTimestamp.parse(text) }
}

extension Data: PostgresDecodable {
    /// Decodes `bytea` in hex format (`\x0a1b…`), the server's default `bytea_output`.
    public init(postgresText text: String) throws { self = Data(try PostgresBytea.decode(text)) }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresText text: String) throws { self = .some(try Wrapped(postgresText: text)) }

    /// NULL decodes to `nil`.
    public static var postgresNull: Self? { .some(nil) }
}

extension Array: PostgresDecodable where Element: PostgresDecodable {
    /// Delegates to `Element.postgresArray(fromText:)`: an array literal, or `bytea` for `[UInt8]`.
    public init(postgresText text: String) throws { self = try Element.postgresArray(fromText: text) }
}
