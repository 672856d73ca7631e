/// Why a value could not be converted to or from Postgres text format.
///
/// Thrown by ``PostgresDecodable`` conformances; ``PostgresRow`` wraps it in a
/// ``PostgresError`` of code ``PostgresError/Code/decodingFailed`` that names the column, its
/// Postgres type and the requested Swift type. The reason never quotes the value itself.
public struct PostgresValueError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, e.g. `not an integer`.
    public var reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}
