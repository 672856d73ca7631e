/// An event's identity, which handlers use to apply each event at most once.
///
/// A good publisher sets `message_id`; Semble's TypeScript API does not. For those messages the
/// identity is derived from the bytes themselves, so that a redelivery — same routing key, same
/// body — yields the same id, and any change to either yields a different one.
public enum EventIdentity {
    /// The id of a message: `messageId` trimmed of whitespace when that leaves something, else
    /// `derived(body:routingKey:)`.
    public static func resolve(messageId: String?, body: [UInt8], routingKey: String?) -> String {
        if let messageId, let trimmed = trimmedNonBlank(messageId) { return trimmed }
        return derived(body: body, routingKey: routingKey)
    }

    /// A deterministic UUID-formatted id: SHA-256 over the routing key's UTF-8 bytes, one 0x00
    /// byte, and the body; the first 128 bits, with the version nibble set to 8 and the RFC 9562
    /// variant bits (`10`) — an RFC 9562 UUIDv8 ("custom": a name-based UUID like v5, but with
    /// SHA-256 instead of SHA-1). Lower-case, `xxxxxxxx-xxxx-8xxx-yxxx-xxxxxxxxxxxx`.
    /// A nil routing key hashes like an empty one.
    public static func derived(body: [UInt8], routingKey: String?) -> String {
        var hasher = SHA256()
        hasher.update((routingKey ?? "").utf8)
        hasher.update(CollectionOfOne(UInt8(0)))
        hasher.update(body)
        var bytes = hasher.finalize()
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return uuidString(bytes[0..<16])
    }

    static func uuidString(_ bytes: ArraySlice<UInt8>) -> String {
        let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (position, byte) in bytes.enumerated() {
            if position == 4 || position == 6 || position == 8 || position == 10 { out.append(Ascii.minus) }
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `value` without leading and trailing whitespace, or nil when nothing else is left.
    static func trimmedNonBlank(_ value: String) -> String? {
        trimmed(value, removing: \.properties.isWhitespace)
    }

    /// `value` without the leading and trailing scalars `isSpace` says to remove, or nil when
    /// nothing else is left; `value` itself (no copy) when there are none.
    static func trimmed(_ value: String, removing isSpace: (Unicode.Scalar) -> Bool) -> String? {
        let scalars = value.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }),
              let last = scalars.lastIndex(where: { !isSpace($0) })
        else { return nil }
        if first == scalars.startIndex, last == scalars.index(before: scalars.endIndex) { return value }
        return String(scalars[first...last])
    }
}
