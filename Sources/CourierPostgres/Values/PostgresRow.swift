/// A result column: its name and type.
public struct PostgresColumn: Hashable, Sendable {
    /// The column's name (`AS` alias or source column name).
    public let name: String
    /// The column's type.
    public let dataType: PostgresDataType
}

/// One row of a query result, copied out of libpq so it can be kept and sent anywhere.
///
/// Read columns with typed access by position or by name:
/// ```swift
/// let id = try row.decode(Int.self, column: 0)
/// let email = try row.decode(String?.self, named: "email")   // NULL decodes to nil
/// ```
/// Decoding failures are ``PostgresError``s of code ``PostgresError/Code/decodingFailed`` that
/// name the column, its Postgres type and the Swift type asked for — never the value.
public struct PostgresRow: Sendable {
    /// The shape shared by every row of a result.
    final class Layout: Sendable {
        let columns: [PostgresColumn]
        /// The first column of each name.
        let indexByName: [String: Int]
        /// The statement, for error messages (already truncated).
        let query: String

        init(columns: [PostgresColumn], query: String) {
            self.columns = columns
            self.indexByName = Dictionary(
                columns.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
            self.query = PostgresError.truncated(query)
        }
    }

    let layout: Layout
    /// The text of each column, `nil` for NULL.
    let values: [String?]

    /// The result's columns, in order.
    public var columns: [PostgresColumn] { layout.columns }

    /// The number of columns.
    public var count: Int { values.count }

    /// The column at `index` decoded as `type`.
    /// - Throws: ``PostgresError/Code/decodingFailed`` if there is no such column, the value is NULL
    ///   and `type` is not optional, or the text is not a valid `type`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, column index: Int) throws -> T {
        guard values.indices.contains(index) else {
            throw decodingError("there is no column \(index); the row has \(values.count)")
        }
        let column = layout.columns[index]
        let what = "column \(index) \"\(column.name)\" (\(column.dataType)) as \(T.self)"
        guard let text = values[index] else {
            guard let null = T.postgresNull else { throw decodingError("cannot decode \(what): the value is NULL") }
            return null
        }
        do {
            return try T(postgresText: text)
        } catch {
            throw decodingError("cannot decode \(what): \(error)")
        }
    }

    /// The first column called `name` decoded as `type`.
    /// - Throws: ``PostgresError/Code/decodingFailed`` as ``decode(_:column:)``, or if no column has
    ///   that name.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, named name: String) throws -> T {
        guard let index = layout.indexByName[name] else {
            let names = layout.columns.map(\.name).joined(separator: ", ")
            throw decodingError("there is no column named \"\(name)\"; the columns are: \(names)")
        }
        return try decode(type, column: index)
    }

    /// Whether the column at `index` is NULL (`false` if there is no such column).
    public func isNull(column index: Int) -> Bool {
        values.indices.contains(index) && values[index] == nil
    }

    private func decodingError(_ message: String) -> PostgresError {
        PostgresError(code: .decodingFailed, message: message, query: layout.query)
    }
}
