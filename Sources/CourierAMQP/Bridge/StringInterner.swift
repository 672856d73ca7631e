import CRabbitMQ

#if canImport(Glibc)
import Glibc
#endif

/// Reuses the `String` made for a field last time when the bytes are the same.
///
/// A stream of deliveries repeats the same consumer tag, exchange, routing keys, content type and
/// event type in every message; making each anew costs an allocation per field per message.
/// One slot per field remembers the last value, so a homogeneous stream allocates nothing for
/// them. Confined to its connection's thread.
struct StringInterner {
    enum Field: Int, CaseIterable {
        case consumerTag, exchange, routingKey, contentType, contentEncoding, type, appID, userID
    }

    private var slots = [String](repeating: "", count: Field.allCases.count)

    mutating func string(_ bytes: amqp_bytes_t, _ field: Field) -> String {
        guard bytes.len > 0, let base = bytes.bytes else { return "" }
        return string(UnsafeRawBufferPointer(start: base, count: bytes.len), field)
    }

    mutating func string(_ raw: UnsafeRawBufferPointer, _ field: Field) -> String {
        let slot = slots[field.rawValue]
        if slot.utf8.count == raw.count, !raw.isEmpty {
            // memcmp over the slot's contiguous UTF-8: a generic walk over `utf8` cost 2% of a
            // consuming run's CPU by itself.
            let same = slot.utf8.withContiguousStorageIfAvailable { stored in
                memcmp(stored.baseAddress!, raw.baseAddress!, raw.count) == 0
            }
            if same ?? slot.utf8.elementsEqual(raw) { return slot }
        } else if raw.isEmpty, slot.isEmpty {
            return slot
        }
        let made = String(decoding: raw, as: UTF8.self)
        slots[field.rawValue] = made
        return made
    }
}
