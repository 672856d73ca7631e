import CRabbitMQ

/// Copies librabbitmq's decoded structures into Swift values. The C memory belongs to the
/// connection's pools and is released soon after, so nothing here keeps a pointer.
enum CDecoding {
    static func string(_ bytes: amqp_bytes_t) -> String {
        guard bytes.len > 0, let base = bytes.bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: base, count: bytes.len), as: UTF8.self)
    }

    static func byteArray(_ bytes: amqp_bytes_t) -> [UInt8] {
        guard bytes.len > 0, let base = bytes.bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: bytes.len))
    }

    /// How deep tables and arrays in a header are read. A publisher can nest them as deep as a
    /// frame holds (~18,000 levels in 128 KiB); reading, copying and freeing such a value recurse
    /// once per level, and would exhaust a thread's stack. What lies deeper is replaced by
    /// ``tooDeep``. No header RabbitMQ or Courier writes comes near this.
    static let maximumDepth = 64
    /// What stands in for a table or array nested deeper than ``maximumDepth``.
    static let tooDeep = AMQPFieldValue.string("<nested deeper than \(maximumDepth) levels: left out by Courier>")

    /// A table key. Keys that are not UTF-8 are repaired (U+FFFD), which can make them longer
    /// than the 255 bytes a key may have on the wire; such a key is cut back to 255 bytes on a
    /// character boundary, so every table read can be written again (found by fuzzing).
    static func key(_ bytes: amqp_bytes_t) -> String {
        let text = string(bytes)
        guard text.utf8.count > 255 else { return text }
        var result = ""
        var used = 0
        for character in text {
            let size = character.utf8.count
            if used + size > 255 { break }
            result.append(character)
            used += size
        }
        return result
    }

    static func table(_ table: amqp_table_t, depth: Int = 0) -> AMQPTable {
        guard table.num_entries > 0, let entries = table.entries else { return AMQPTable() }
        var result: [(key: String, value: AMQPFieldValue)] = []
        result.reserveCapacity(Int(table.num_entries))
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            result.append((key(entry.key), fieldValue(entry.value, depth: depth + 1)))
        }
        return AMQPTable(result)
    }

    static func fieldValue(_ field: amqp_field_value_t, depth: Int = 0) -> AMQPFieldValue {
        let v = field.value
        if depth > maximumDepth, [AMQP_FIELD_KIND_TABLE.rawValue, AMQP_FIELD_KIND_ARRAY.rawValue].contains(UInt32(field.kind)) {
            return tooDeep
        }
        switch UInt32(field.kind) {
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: return .bool(v.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: return .int8(v.i8)
        case AMQP_FIELD_KIND_U8.rawValue: return .uint8(v.u8)
        case AMQP_FIELD_KIND_I16.rawValue: return .int16(v.i16)
        case AMQP_FIELD_KIND_U16.rawValue: return .uint16(v.u16)
        case AMQP_FIELD_KIND_I32.rawValue: return .int32(v.i32)
        case AMQP_FIELD_KIND_U32.rawValue: return .uint32(v.u32)
        case AMQP_FIELD_KIND_I64.rawValue: return .int64(v.i64)
        case AMQP_FIELD_KIND_U64.rawValue: return .uint64(v.u64)
        case AMQP_FIELD_KIND_F32.rawValue: return .float(v.f32)
        case AMQP_FIELD_KIND_F64.rawValue: return .double(v.f64)
        case AMQP_FIELD_KIND_DECIMAL.rawValue: return .decimal(scale: v.decimal.decimals, value: v.decimal.value)
        case AMQP_FIELD_KIND_UTF8.rawValue:
            let raw = byteArray(v.bytes)
            if let text = String(validating: raw, as: UTF8.self) { return .string(text) }
            return .bytes(raw)
        case AMQP_FIELD_KIND_BYTES.rawValue: return .bytes(byteArray(v.bytes))
        case AMQP_FIELD_KIND_TIMESTAMP.rawValue: return .timestamp(v.u64)
        case AMQP_FIELD_KIND_TABLE.rawValue: return .table(table(v.table, depth: depth))
        case AMQP_FIELD_KIND_ARRAY.rawValue:
            guard v.array.num_entries > 0, let entries = v.array.entries else { return .array([]) }
            return .array((0..<Int(v.array.num_entries)).map { fieldValue(entries[$0], depth: depth + 1) })
        default: return .void
        }
    }

    /// Properties, with the fields that repeat from message to message taken from `interner`.
    static func properties(_ c: amqp_basic_properties_t, interner: inout StringInterner) -> AMQPProperties {
        let flags = c._flags
        func has(_ flag: Int32) -> Bool { flags & UInt32(flag) != 0 }
        func text(_ flag: Int32, _ bytes: amqp_bytes_t) -> String? { has(flag) ? string(bytes) : nil }
        func interned(_ flag: Int32, _ bytes: amqp_bytes_t, _ field: StringInterner.Field) -> String? {
            has(flag) ? interner.string(bytes, field) : nil
        }
        var p = AMQPProperties()
        p.contentType = interned(AMQP_BASIC_CONTENT_TYPE_FLAG, c.content_type, .contentType)
        p.contentEncoding = interned(AMQP_BASIC_CONTENT_ENCODING_FLAG, c.content_encoding, .contentEncoding)
        if has(AMQP_BASIC_HEADERS_FLAG) { p.headers = table(c.headers) }
        if has(AMQP_BASIC_DELIVERY_MODE_FLAG) { p.deliveryMode = AMQPProperties.DeliveryMode(rawValue: c.delivery_mode) }
        if has(AMQP_BASIC_PRIORITY_FLAG) { p.priority = c.priority }
        p.correlationID = text(AMQP_BASIC_CORRELATION_ID_FLAG, c.correlation_id)
        p.replyTo = text(AMQP_BASIC_REPLY_TO_FLAG, c.reply_to)
        p.expiration = text(AMQP_BASIC_EXPIRATION_FLAG, c.expiration)
        p.messageID = text(AMQP_BASIC_MESSAGE_ID_FLAG, c.message_id)
        if has(AMQP_BASIC_TIMESTAMP_FLAG) { p.timestamp = c.timestamp }
        p.type = interned(AMQP_BASIC_TYPE_FLAG, c.type, .type)
        p.userID = interned(AMQP_BASIC_USER_ID_FLAG, c.user_id, .userID)
        p.appID = interned(AMQP_BASIC_APP_ID_FLAG, c.app_id, .appID)
        p.clusterID = text(AMQP_BASIC_CLUSTER_ID_FLAG, c.cluster_id)
        return p
    }

    /// librabbitmq's text for a status code (`amqp_error_string2`).
    static func statusText(_ status: Int32) -> String {
        guard let text = amqp_error_string2(status) else { return "status \(status)" }
        return String(cString: text)
    }
}
