import Foundation

/// A Swift value that can be sent as a query parameter.
///
/// Parameters travel in Postgres text format, typed by the statement (`$1::uuid`, a column in an
/// `INSERT`...) the same way a quoted literal would be — but never spliced into the SQL, so they
/// cannot inject any. Conformances ship for `String`, `Substring`, the integer types, `Bool`,
/// `Double`, `Float`, `UUID`, `Date` (timestamptz), `Data` and `[UInt8]` (bytea),
/// ``PostgresJSON``, `Optional` (`nil` is NULL) and arrays of any of these (a Postgres array
/// literal, so `unnest($1::text[])` takes a whole batch in one statement).
public protocol PostgresEncodable: Sendable {
    /// This value in Postgres text format, or `nil` for SQL NULL.
    /// - Throws: when the value cannot be represented (e.g. JSON encoding failed).
    func postgresText() throws -> String?

    /// The text of an array of this type. Defaults to a one-dimensional array literal
    /// (``PostgresArrayLiteral``); `UInt8` sends its arrays as `bytea` instead.
    static func postgresArrayText(_ elements: [Self]) throws -> String
}

/// A type that can be both sent as a parameter and read from a column.
public typealias PostgresCodable = PostgresEncodable & PostgresDecodable

extension PostgresEncodable {
    public static func postgresArrayText(_ elements: [Self]) throws -> String {
        PostgresArrayLiteral.encode(try elements.map { try $0.postgresText() })
    }
}

/// Conformance for types whose `description` already is their Postgres text form.
public protocol PostgresDescriptionEncodable: PostgresEncodable, CustomStringConvertible {}

extension PostgresDescriptionEncodable {
    public func postgresText() -> String? { description }
}

extension String: PostgresDescriptionEncodable {}
extension Substring: PostgresDescriptionEncodable {}
extension Int: PostgresDescriptionEncodable {}
extension Int16: PostgresDescriptionEncodable {}
extension Int32: PostgresDescriptionEncodable {}
extension Int64: PostgresDescriptionEncodable {}

extension UInt8: PostgresDescriptionEncodable {
    /// `[UInt8]` is binary data: it is sent as `bytea`, not as a `smallint[]`.
    public static func postgresArrayText(_ elements: [UInt8]) -> String { PostgresBytea.encode(elements) }
}

extension Bool: PostgresEncodable {
    public func postgresText() -> String? { self ? "true" : "false" }
}

extension Double: PostgresEncodable {
    /// Postgres spells the special values `NaN`, `Infinity` and `-Infinity`.
    public func postgresText() -> String? {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return description
    }
}

extension Float: PostgresEncodable {
    public func postgresText() -> String? { Double(self).postgresText() }
}

extension UUID: PostgresEncodable {
    public func postgresText() -> String? { uuidString.lowercased() }
}

extension Date: PostgresEncodable {
    /// ISO 8601 in UTC with microseconds, for `timestamptz` (see ``PostgresTimestamp``).
    public func postgresText() -> String? { PostgresTimestamp.format(self) }
}

extension Data: PostgresEncodable {
    /// `bytea` in hex format.
    public func postgresText() -> String? { PostgresBytea.encode(self) }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    /// `nil` is SQL NULL.
    public func postgresText() throws -> String? {
        guard let self else { return nil }
        return try self.postgresText()
    }
}

extension Array: PostgresEncodable where Element: PostgresEncodable {
    /// Delegates to `Element.postgresArrayText`: an array literal, or `bytea` for `[UInt8]`.
    public func postgresText() throws -> String? { try Element.postgresArrayText(self) }
}
