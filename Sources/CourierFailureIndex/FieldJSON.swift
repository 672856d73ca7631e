import CourierAMQP
import Foundation

/// A JSON value, for the headers and properties of parked messages: stored in the failure index
/// (jsonb), printed by `courier dlq show --json` and carried by `dlq export` / `import`.
///
/// AMQP values map to natural JSON where nothing is lost — strings, integers, booleans, tables
/// as objects, arrays — and to a one-key object where JSON has no type of its own:
/// `{"$timestamp": 1764000000}`, `{"$bytes": "<base64>"}`, `{"$decimal": "12.5"}`. Reading them
/// back gives the same AMQP value, except that every integer comes back as a 64-bit one. A float
/// that JSON cannot write (NaN, ±infinity) is `{"$double": "nan"}` (`"inf"`, `"-inf"`).
package enum FieldJSON: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([FieldJSON])
    case object([String: FieldJSON])

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([FieldJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: FieldJSON].self))
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    package var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    // MARK: AMQP ⇄ JSON

    package init(_ value: AMQPFieldValue) {
        switch value {
        case .bool(let v): self = .bool(v)
        case .int8(let v): self = .int(Int64(v))
        case .uint8(let v): self = .int(Int64(v))
        case .int16(let v): self = .int(Int64(v))
        case .uint16(let v): self = .int(Int64(v))
        case .int32(let v): self = .int(Int64(v))
        case .uint32(let v): self = .int(Int64(v))
        case .int64(let v): self = .int(v)
        case .uint64(let v): self = v <= UInt64(Int64.max) ? .int(Int64(v)) : .string(String(v))
        case .float(let v): self = FieldJSON(double: Double(v))
        case .double(let v): self = FieldJSON(double: v)
        case .decimal(let scale, let value):
            var digits = String(value)
            if scale > 0 {
                while digits.count <= Int(scale) { digits = "0" + digits }
                digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -Int(scale)))
            }
            self = .object(["$decimal": .string(digits)])
        case .string(let v): self = .string(v)
        case .bytes(let v): self = .object(["$bytes": .string(Data(v).base64EncodedString())])
        case .timestamp(let v): self = .object(["$timestamp": .int(Int64(clamping: v))])
        case .table(let table): self = FieldJSON(table)
        case .array(let values): self = .array(values.map(FieldJSON.init))
        case .void: self = .null
        }
    }

    /// A finite double as itself; NaN and infinities, which JSON has no number for (the encoder
    /// would throw, and the whole message could not be indexed or exported), as `$double`.
    init(double value: Double) {
        if value.isFinite {
            self = .double(value)
        } else {
            self = .object(["$double": .string(value.isNaN ? "nan" : value < 0 ? "-inf" : "inf")])
        }
    }

    package init(_ table: AMQPTable) {
        var object: [String: FieldJSON] = [:]
        for (key, value) in table { object[key] = FieldJSON(value) }
        self = .object(object)
    }

    /// The AMQP value this JSON stands for (see the type's documentation for the mapping).
    package var amqpValue: AMQPFieldValue {
        switch self {
        case .null: return .void
        case .bool(let v): return .bool(v)
        case .int(let v): return .int64(v)
        case .double(let v): return .double(v)
        case .string(let v): return .string(v)
        case .array(let values): return .array(values.map(\.amqpValue))
        case .object(let object):
            if object.count == 1, let (key, value) = object.first {
                switch (key, value) {
                case ("$timestamp", .int(let seconds)) where seconds >= 0: return .timestamp(UInt64(seconds))
                case ("$double", .string("nan")): return .double(.nan)
                case ("$double", .string("inf")): return .double(.infinity)
                case ("$double", .string("-inf")): return .double(-.infinity)
                case ("$bytes", .string(let base64)):
                    if let data = Data(base64Encoded: base64) { return .bytes(Array(data)) }
                case ("$decimal", .string(let text)):
                    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
                    let scale = parts.count == 2 ? parts[1].count : 0
                    if parts.count <= 2, scale <= 255, let value = UInt32(parts.joined()) {
                        return .decimal(scale: UInt8(scale), value: value)
                    }
                default: break
                }
            }
            return .table(amqpTable)
        }
    }

    /// This value as a `jsonb` column can hold it: Postgres rejects `\u0000` in a jsonb string
    /// (and key), so every NUL is written as the six characters `\u0000` (``IndexText``).
    /// Nothing is cut: a header that fit in an AMQP frame fits in jsonb.
    package var postgresSafe: FieldJSON {
        func escaped(_ text: String) -> String { text.utf8.contains(0) ? IndexText.safe(text, maxBytes: .max) : text }
        switch self {
        case .string(let text): return .string(escaped(text))
        case .array(let values): return .array(values.map(\.postgresSafe))
        case .object(let object):
            var safe: [String: FieldJSON] = [:]
            for (key, value) in object { safe[escaped(key)] = value.postgresSafe }
            return .object(safe)
        case .null, .bool, .int, .double: return self
        }
    }

    /// An object as an AMQP table, its keys sorted (JSON objects have no order); empty otherwise.
    package var amqpTable: AMQPTable {
        guard case .object(let object) = self else { return AMQPTable() }
        return AMQPTable(object.keys.sorted().map { (key: $0, value: object[$0]!.amqpValue) })
    }
}

/// The basic properties of a parked message as JSON (`content_type`, `message_id`, …, `headers`).
package enum PropertiesJSON {
    package static func encode(_ properties: AMQPProperties) -> [String: FieldJSON] {
        var object: [String: FieldJSON] = [:]
        func put(_ key: String, _ value: String?) { if let value { object[key] = .string(value) } }
        put("content_type", properties.contentType)
        put("content_encoding", properties.contentEncoding)
        if let mode = properties.deliveryMode { object["delivery_mode"] = .int(Int64(mode.rawValue)) }
        if let priority = properties.priority { object["priority"] = .int(Int64(priority)) }
        put("correlation_id", properties.correlationID)
        put("reply_to", properties.replyTo)
        put("expiration", properties.expiration)
        put("message_id", properties.messageID)
        if let timestamp = properties.timestamp { object["timestamp"] = .int(Int64(clamping: timestamp)) }
        put("type", properties.type)
        put("user_id", properties.userID)
        put("app_id", properties.appID)
        put("cluster_id", properties.clusterID)
        if let headers = properties.headers { object["headers"] = FieldJSON(headers) }
        return object
    }

    package static func decode(_ object: [String: FieldJSON]) -> AMQPProperties {
        func string(_ key: String) -> String? { object[key]?.stringValue }
        func int(_ key: String) -> Int64? {
            if case .int(let value)? = object[key] { return value }
            return nil
        }
        var properties = AMQPProperties()
        properties.contentType = string("content_type")
        properties.contentEncoding = string("content_encoding")
        properties.deliveryMode = int("delivery_mode").flatMap { UInt8(exactly: $0) }.flatMap(AMQPProperties.DeliveryMode.init(rawValue:))
        properties.priority = int("priority").flatMap { UInt8(exactly: $0) }
        properties.correlationID = string("correlation_id")
        properties.replyTo = string("reply_to")
        properties.expiration = string("expiration")
        properties.messageID = string("message_id")
        properties.timestamp = int("timestamp").flatMap { UInt64(exactly: $0) }
        properties.type = string("type")
        properties.userID = string("user_id")
        properties.appID = string("app_id")
        properties.clusterID = string("cluster_id")
        if let headers = object["headers"] { properties.headers = headers.amqpTable }
        return properties
    }
}
