/// How many bytes values take in AMQP 0-9-1's encoding, computed without encoding them.
///
/// A message's properties travel in one content-header frame, which must fit the frame size the
/// connection negotiated (`frame_max`, 128 KiB by default). librabbitmq only finds out that they
/// do not once it has already sent the `basic.publish` method frame, and the connection is then
/// unusable. So ``AMQPConnection`` checks a publish with these sizes first and fails that one
/// publish (``AMQPError/Code/frameTooLarge``), and the engine uses them to shrink a retry or
/// dead-letter copy that would not fit. Sizes follow librabbitmq's encoder (`amqp_table.c`): the
/// unit tests compare them with its output byte for byte.
extension AMQPFieldValue {
    /// The encoded size: the type octet and the value.
    package var wireSize: Int {
        1 + payloadSize
    }

    private var payloadSize: Int {
        switch self {
        case .bool, .int8, .uint8: 1
        case .int16, .uint16: 2
        case .int32, .uint32, .float: 4
        case .int64, .uint64, .double, .timestamp: 8
        case .decimal: 5
        case .string(let s): 4 + s.utf8.count
        case .bytes(let b): 4 + b.count
        case .table(let t): t.wireSize
        case .array(let items): items.reduce(4) { $0 + $1.wireSize }
        case .void: 0
        }
    }
}

extension AMQPTable {
    /// The encoded size, its 4-byte length prefix included.
    package var wireSize: Int {
        entries.reduce(4) { $0 + 1 + $1.key.utf8.count + $1.value.wireSize }
    }

    /// The first key, at any depth, longer than a short string can hold (255 bytes): such a
    /// table cannot be encoded.
    var unencodableKey: String? {
        for (key, value) in entries {
            if key.utf8.count > 255 { return key }
            if let nested = value.unencodableKey { return nested }
        }
        return nil
    }
}

extension AMQPFieldValue {
    fileprivate var unencodableKey: String? {
        switch self {
        case .table(let t): t.unencodableKey
        case .array(let items): items.lazy.compactMap(\.unencodableKey).first
        default: nil
        }
    }
}

extension AMQPProperties {
    /// The size of the content-header frame that carries these properties: the frame's 8 bytes
    /// of envelope, class id, weight, body size, the property flags and every property set.
    package var headerFrameSize: Int {
        var size = 8 + 2 + 2 + 8 + 2
        for property in Self.shortStringProperties {
            if let text = self[keyPath: property.path] { size += 1 + text.utf8.count }
        }
        if let headers { size += headers.wireSize }
        if deliveryMode != nil { size += 1 }
        if priority != nil { size += 1 }
        if timestamp != nil { size += 8 }
        return size
    }

    /// Why these properties cannot be encoded at all, or nil: a short-string property or a
    /// header name longer than 255 bytes.
    package var encodingProblem: String? {
        for property in Self.shortStringProperties {
            if let text = self[keyPath: property.path], text.utf8.count > 255 {
                return "the \(property.name) property is \(text.utf8.count) bytes; a short string holds at most 255"
            }
        }
        if let key = headers?.unencodableKey {
            return "a header name of \(key.utf8.count) bytes; a short string holds at most 255"
        }
        return nil
    }

    /// The short-string properties, by their AMQP names.
    private static let shortStringProperties: [(name: String, path: KeyPath<AMQPProperties, String?> & Sendable)] = [
        ("content_type", \.contentType), ("content_encoding", \.contentEncoding), ("correlation_id", \.correlationID),
        ("reply_to", \.replyTo), ("expiration", \.expiration), ("message_id", \.messageID), ("type", \.type),
        ("user_id", \.userID), ("app_id", \.appID), ("cluster_id", \.clusterID),
    ]
}
