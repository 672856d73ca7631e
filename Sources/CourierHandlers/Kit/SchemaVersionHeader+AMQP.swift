import CourierAMQP
import CourierEvents

extension SchemaVersionHeader {
    /// The `x-schema-version` header of a delivery, untrusted: nil when absent. Only AMQP
    /// integers and strings can be versions; every other type (float, decimal, bool, bytes,
    /// timestamp, table, array, void) is kept as ``SchemaVersionHeader/other(_:)`` so that the
    /// decoder rejects it rather than reading it as absent.
    init?(of delivery: AMQPDelivery) {
        guard let value = delivery.properties.headers?[EventSchema.versionHeader] else { return nil }
        self.init(value)
    }

    init(_ value: AMQPFieldValue) {
        switch value {
        case .int8(let v): self = .integer(Int64(v))
        case .int16(let v): self = .integer(Int64(v))
        case .int32(let v): self = .integer(Int64(v))
        case .int64(let v): self = .integer(v)
        case .uint8(let v): self = .unsignedInteger(UInt64(v))
        case .uint16(let v): self = .unsignedInteger(UInt64(v))
        case .uint32(let v): self = .unsignedInteger(UInt64(v))
        case .uint64(let v): self = .unsignedInteger(v)
        case .string(let s): self = .text(s)
        case .float(let v): self = .other("the float \(v)")
        case .double(let v): self = .other("the double \(v)")
        case .decimal(let scale, let v): self = .other("a decimal (\(v) scaled by 10^-\(scale))")
        case .bool(let v): self = .other("the bool \(v)")
        case .bytes(let b): self = .other("a byte array of \(b.count) bytes")
        case .timestamp: self = .other("a timestamp")
        case .table: self = .other("a table")
        case .array: self = .other("an array")
        case .void: self = .other("a void value")
        }
    }
}
