import CRabbitMQ

/// Scratch memory for building librabbitmq arguments (strings, tables, properties) from Swift
/// values. It owns an `amqp_pool_t`: everything allocated lives until ``recycle()``, so pointers
/// handed to a C call stay valid for exactly that call — `amqp_cstring_bytes` on a Swift string
/// would dangle at once.
///
/// Confined to its connection's thread, like the connection itself.
final class CArena {
    private let pool: UnsafeMutablePointer<amqp_pool_t>

    init(pageSize: Int = 16 * 1024) {
        pool = .allocate(capacity: 1)
        init_amqp_pool(pool, pageSize)
    }

    deinit {
        empty_amqp_pool(pool)
        pool.deallocate()
    }

    /// Frees everything allocated since the last recycle (keeps the pages for reuse).
    func recycle() { recycle_amqp_pool(pool) }

    func raw(count: Int) -> UnsafeMutableRawPointer {
        guard count > 0 else { return UnsafeMutableRawPointer(bitPattern: 0x1)! }  // never read
        guard let memory = amqp_pool_alloc(pool, count) else { fatalError("librabbitmq pool allocation failed") }
        return memory
    }

    func bytes<C: Collection<UInt8>>(_ source: C) -> amqp_bytes_t {
        let count = source.count
        if count == 0 { return amqp_empty_bytes }
        let memory = raw(count: count)
        let buffer = UnsafeMutableRawBufferPointer(start: memory, count: count)
        buffer.copyBytes(from: source)
        return amqp_bytes_t(len: count, bytes: memory)
    }

    func bytes(_ string: String) -> amqp_bytes_t { bytes(string.utf8) }

    func array<T>(of type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        raw(count: max(count, 1) * MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: max(count, 1))
    }

    // MARK: Tables

    func table(_ table: AMQPTable?) -> amqp_table_t {
        guard let table, !table.isEmpty else { return amqp_empty_table }
        let entries = array(of: amqp_table_entry_t.self, count: table.count)
        for (index, entry) in table.entries.enumerated() {
            entries[index] = amqp_table_entry_t(key: bytes(entry.key), value: fieldValue(entry.value))
        }
        return amqp_table_t(num_entries: Int32(table.count), entries: entries)
    }

    func fieldValue(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        func kind(_ k: amqp_field_value_kind_t) -> UInt8 { UInt8(k.rawValue) }
        switch value {
        case .bool(let v):
            field.kind = kind(AMQP_FIELD_KIND_BOOLEAN)
            field.value.boolean = v ? 1 : 0
        case .int8(let v):
            field.kind = kind(AMQP_FIELD_KIND_I8)
            field.value.i8 = v
        case .uint8(let v):
            field.kind = kind(AMQP_FIELD_KIND_U8)
            field.value.u8 = v
        case .int16(let v):
            field.kind = kind(AMQP_FIELD_KIND_I16)
            field.value.i16 = v
        case .uint16(let v):
            field.kind = kind(AMQP_FIELD_KIND_U16)
            field.value.u16 = v
        case .int32(let v):
            field.kind = kind(AMQP_FIELD_KIND_I32)
            field.value.i32 = v
        case .uint32(let v):
            field.kind = kind(AMQP_FIELD_KIND_U32)
            field.value.u32 = v
        case .int64(let v):
            field.kind = kind(AMQP_FIELD_KIND_I64)
            field.value.i64 = v
        case .uint64(let v):
            field.kind = kind(AMQP_FIELD_KIND_U64)
            field.value.u64 = v
        case .float(let v):
            field.kind = kind(AMQP_FIELD_KIND_F32)
            field.value.f32 = v
        case .double(let v):
            field.kind = kind(AMQP_FIELD_KIND_F64)
            field.value.f64 = v
        case .decimal(let scale, let v):
            field.kind = kind(AMQP_FIELD_KIND_DECIMAL)
            field.value.decimal = amqp_decimal_t(decimals: scale, value: v)
        case .string(let s):
            field.kind = kind(AMQP_FIELD_KIND_UTF8)
            field.value.bytes = bytes(s)
        case .bytes(let b):
            field.kind = kind(AMQP_FIELD_KIND_BYTES)
            field.value.bytes = bytes(b)
        case .timestamp(let t):
            field.kind = kind(AMQP_FIELD_KIND_TIMESTAMP)
            field.value.u64 = t
        case .table(let t):
            field.kind = kind(AMQP_FIELD_KIND_TABLE)
            field.value.table = table(t)
        case .array(let items):
            field.kind = kind(AMQP_FIELD_KIND_ARRAY)
            let entries = array(of: amqp_field_value_t.self, count: items.count)
            for (index, item) in items.enumerated() { entries[index] = fieldValue(item) }
            field.value.array = amqp_array_t(num_entries: Int32(items.count), entries: entries)
        case .void:
            field.kind = kind(AMQP_FIELD_KIND_VOID)
        }
        return field
    }

    // MARK: Properties

    func properties(_ p: AMQPProperties) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags: UInt32 = 0
        func set(_ value: String?, _ flag: Int32, _ target: inout amqp_bytes_t) {
            guard let value else { return }
            target = bytes(value)
            flags |= UInt32(flag)
        }
        set(p.contentType, AMQP_BASIC_CONTENT_TYPE_FLAG, &c.content_type)
        set(p.contentEncoding, AMQP_BASIC_CONTENT_ENCODING_FLAG, &c.content_encoding)
        if let headers = p.headers {
            c.headers = table(headers)
            flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
        }
        if let mode = p.deliveryMode {
            c.delivery_mode = mode.rawValue
            flags |= UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
        }
        if let priority = p.priority {
            c.priority = priority
            flags |= UInt32(AMQP_BASIC_PRIORITY_FLAG)
        }
        set(p.correlationID, AMQP_BASIC_CORRELATION_ID_FLAG, &c.correlation_id)
        set(p.replyTo, AMQP_BASIC_REPLY_TO_FLAG, &c.reply_to)
        set(p.expiration, AMQP_BASIC_EXPIRATION_FLAG, &c.expiration)
        set(p.messageID, AMQP_BASIC_MESSAGE_ID_FLAG, &c.message_id)
        if let timestamp = p.timestamp {
            c.timestamp = timestamp
            flags |= UInt32(AMQP_BASIC_TIMESTAMP_FLAG)
        }
        set(p.type, AMQP_BASIC_TYPE_FLAG, &c.type)
        set(p.userID, AMQP_BASIC_USER_ID_FLAG, &c.user_id)
        set(p.appID, AMQP_BASIC_APP_ID_FLAG, &c.app_id)
        set(p.clusterID, AMQP_BASIC_CLUSTER_ID_FLAG, &c.cluster_id)
        c._flags = flags
        return c
    }
}
