import Foundation

/// One value in an AMQP field table or array, covering every type RabbitMQ sends.
///
/// RabbitMQ's own headers use several of these: `x-death` is an array of tables whose `count` is a
/// `long` and whose `time` is a `timestamp`; `x-delivery-count` is a `long`.
package enum AMQPFieldValue: Sendable, Hashable {
    case bool(Bool)
    case int8(Int8)
    case uint8(UInt8)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case float(Float)
    case double(Double)
    /// A decimal: `value / 10^scale`.
    case decimal(scale: UInt8, value: UInt32)
    /// A long string (`S`): UTF-8 text.
    case string(String)
    /// A byte array (`x`), or a long string that is not valid UTF-8.
    case bytes([UInt8])
    /// Seconds since the Unix epoch.
    case timestamp(UInt64)
    case table(AMQPTable)
    case array([AMQPFieldValue])
    case void
}

extension AMQPFieldValue {
    /// The value as a signed integer, whatever its width (headers from other clients vary).
    package var intValue: Int64? {
        switch self {
        case .int8(let v): Int64(v)
        case .uint8(let v): Int64(v)
        case .int16(let v): Int64(v)
        case .uint16(let v): Int64(v)
        case .int32(let v): Int64(v)
        case .uint32(let v): Int64(v)
        case .int64(let v): v
        case .uint64(let v): v <= UInt64(Int64.max) ? Int64(v) : nil
        case .string(let s): Int64(s)
        default: nil
        }
    }

    /// The value as text: strings, and UTF-8 byte arrays.
    package var stringValue: String? {
        switch self {
        case .string(let s): s
        case .bytes(let b): String(validating: b, as: UTF8.self)
        default: nil
        }
    }

    package var tableValue: AMQPTable? {
        if case .table(let t) = self { return t }
        return nil
    }

    package var arrayValue: [AMQPFieldValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    package var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
}

extension AMQPFieldValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral
{
    package init(stringLiteral value: String) { self = .string(value) }
    /// Integer literals become `long` (`l`), the type RabbitMQ expects for `x-message-ttl`,
    /// `x-delivery-limit` and friends.
    package init(integerLiteral value: Int64) { self = .int64(value) }
    package init(booleanLiteral value: Bool) { self = .bool(value) }
    package init(floatLiteral value: Double) { self = .double(value) }
    package init(arrayLiteral elements: AMQPFieldValue...) { self = .array(elements) }
}

extension AMQPFieldValue: CustomStringConvertible {
    package var description: String {
        switch self {
        case .bool(let v): "\(v)"
        case .int8(let v): "\(v)"
        case .uint8(let v): "\(v)"
        case .int16(let v): "\(v)"
        case .uint16(let v): "\(v)"
        case .int32(let v): "\(v)"
        case .uint32(let v): "\(v)"
        case .int64(let v): "\(v)"
        case .uint64(let v): "\(v)"
        case .float(let v): "\(v)"
        case .double(let v): "\(v)"
        case .decimal(let scale, let value): "decimal(\(value)e-\(scale))"
        case .string(let s): "\"\(s)\""
        case .bytes(let b): "<\(b.count) bytes>"
        case .timestamp(let t): "timestamp(\(t))"
        case .table(let t): t.description
        case .array(let a): "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .void: "void"
        }
    }
}
