import CRabbitMQ

/// AMQP field tables to and from their wire encoding, through librabbitmq's own codec.
///
/// Lets tests prove that every ``AMQPFieldValue`` survives the exact bytes the broker sees, and
/// lets tools store headers (e.g. `x-death`) in their wire form.
package enum WireTableCodec {
    /// The wire bytes of `table`, starting with its 4-byte length as AMQP frames carry it.
    package static func encode(_ table: AMQPTable) throws(AMQPError) -> [UInt8] {
        if let key = table.unencodableKey {
            // librabbitmq would write the key's length in one byte and corrupt the table.
            throw AMQPError(code: .unencodable, operation: "encode table", replyText: "a key of \(key.utf8.count) bytes; at most 255")
        }
        let arena = CArena()
        var cTable = arena.table(table)
        var capacity = 4096
        while true {
            var buffer = [UInt8](repeating: 0, count: capacity)
            var offset = 0
            let status = buffer.withUnsafeMutableBytes { raw in
                amqp_encode_table(amqp_bytes_t(len: raw.count, bytes: raw.baseAddress), &cTable, &offset)
            }
            if status == AMQP_STATUS_OK.rawValue {
                return Array(buffer[..<offset])
            }
            guard status == AMQP_STATUS_TABLE_TOO_BIG.rawValue, capacity < 64 << 20 else {
                throw AMQPError(code: .protocolError, operation: "encode table", libraryStatus: CDecoding.statusText(status))
            }
            capacity *= 4
        }
    }

    /// Decodes what ``encode(_:)`` produced.
    package static func decode(_ bytes: [UInt8]) throws(AMQPError) -> AMQPTable {
        var pool = amqp_pool_t()
        init_amqp_pool(&pool, 4096)
        defer { empty_amqp_pool(&pool) }
        var table = amqp_table_t()
        var offset = 0
        var copy = bytes
        let status = copy.withUnsafeMutableBytes { raw in
            amqp_decode_table(amqp_bytes_t(len: raw.count, bytes: raw.baseAddress), &pool, &table, &offset)
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(code: .protocolError, operation: "decode table", libraryStatus: CDecoding.statusText(status))
        }
        return CDecoding.table(table)
    }
}
