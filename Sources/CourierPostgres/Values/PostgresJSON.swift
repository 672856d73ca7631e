import Foundation

/// A `Codable` value stored in a `json` or `jsonb` column.
///
/// ```swift
/// try conn.execute("INSERT INTO events (body) VALUES ($1::jsonb)", [PostgresJSON(event)])
/// let event = try row.decode(PostgresJSON<Event>.self, column: 0).value
/// ```
public struct PostgresJSON<Value: Codable & Sendable>: PostgresCodable {
    /// The wrapped value.
    public var value: Value

    public init(_ value: Value) { self.value = value }

    /// The value encoded with `JSONEncoder`.
    public func postgresText() throws -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// The value decoded with `JSONDecoder`.
    public init(postgresText text: String) throws {
        value = try JSONDecoder().decode(Value.self, from: Data(text.utf8))
    }
}

extension PostgresJSON: Equatable where Value: Equatable {}
extension PostgresJSON: Hashable where Value: Hashable {}
