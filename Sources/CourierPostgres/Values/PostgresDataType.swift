/// A Postgres type, identified by its OID as reported for each result column.
///
/// Only used to describe columns (and name them in decoding errors): values travel in text format,
/// so decoding never depends on the type.
public struct PostgresDataType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The type's OID in `pg_type`.
    public let rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let bool = Self(rawValue: 16)
    public static let bytea = Self(rawValue: 17)
    public static let name = Self(rawValue: 19)
    public static let int8 = Self(rawValue: 20)
    public static let int2 = Self(rawValue: 21)
    public static let int4 = Self(rawValue: 23)
    public static let text = Self(rawValue: 25)
    public static let oid = Self(rawValue: 26)
    public static let json = Self(rawValue: 114)
    public static let float4 = Self(rawValue: 700)
    public static let float8 = Self(rawValue: 701)
    public static let boolArray = Self(rawValue: 1000)
    public static let int2Array = Self(rawValue: 1005)
    public static let int4Array = Self(rawValue: 1007)
    public static let textArray = Self(rawValue: 1009)
    public static let varcharArray = Self(rawValue: 1015)
    public static let int8Array = Self(rawValue: 1016)
    public static let bpchar = Self(rawValue: 1042)
    public static let varchar = Self(rawValue: 1043)
    public static let date = Self(rawValue: 1082)
    public static let timestamp = Self(rawValue: 1114)
    public static let timestampArray = Self(rawValue: 1115)
    public static let timestamptz = Self(rawValue: 1184)
    public static let timestamptzArray = Self(rawValue: 1185)
    public static let numeric = Self(rawValue: 1700)
    public static let uuid = Self(rawValue: 2950)
    public static let uuidArray = Self(rawValue: 2951)
    public static let jsonb = Self(rawValue: 3802)

    private static let names: [UInt32: String] = [
        16: "bool", 17: "bytea", 19: "name", 20: "int8", 21: "int2", 23: "int4", 25: "text",
        26: "oid", 114: "json", 700: "float4", 701: "float8", 1000: "bool[]", 1005: "int2[]",
        1007: "int4[]", 1009: "text[]", 1015: "varchar[]", 1016: "int8[]", 1042: "bpchar",
        1043: "varchar", 1082: "date", 1114: "timestamp", 1115: "timestamp[]",
        1184: "timestamptz", 1185: "timestamptz[]", 1700: "numeric", 2950: "uuid",
        2951: "uuid[]", 3802: "jsonb",
    ]

    /// The type's name for the common built-in types, `oid <n>` otherwise.
    public var description: String { Self.names[rawValue] ?? "oid \(rawValue)" }
}
