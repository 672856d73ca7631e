/// A message being put together from its frames on one channel: the method that announced it
/// (`basic.deliver`, `basic.return`, `basic.get-ok`), then a header frame with the properties and
/// body size, then body frames until the size is reached.
///
/// The connection feeds frames in as they arrive, without ever blocking for the next one, and
/// copies each fragment straight into the final `[UInt8]` — no intermediate C message.
struct ContentAssembly {
    enum Origin {
        case delivery(deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String, consumerTag: String)
        case returned(replyCode: UInt16, replyText: String, exchange: String, routingKey: String)
        case get(deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String, messageCount: UInt32)
    }

    enum Step: Equatable {
        case needMore
        case complete
        /// The frames did not follow the protocol (e.g. a body before the header).
        case protocolViolation(String)
    }

    let origin: Origin
    private(set) var properties: AMQPProperties?
    private(set) var body: [UInt8] = []
    private var expectedSize = 0

    init(origin: Origin) { self.origin = origin }

    /// The header frame: properties and the body's total size.
    mutating func header(_ properties: AMQPProperties, bodySize: UInt64) -> Step {
        guard self.properties == nil else { return .protocolViolation("a second content header") }
        guard bodySize <= UInt64(Int.max) else { return .protocolViolation("body size \(bodySize)") }
        self.properties = properties
        expectedSize = Int(bodySize)
        body.reserveCapacity(expectedSize)
        return expectedSize == 0 ? .complete : .needMore
    }

    /// One body frame's bytes.
    mutating func bodyFragment(_ fragment: UnsafeRawBufferPointer) -> Step {
        guard properties != nil else { return .protocolViolation("a body frame before the content header") }
        guard body.count + fragment.count <= expectedSize else {
            return .protocolViolation("body longer than the announced \(expectedSize) bytes")
        }
        body.append(contentsOf: fragment)
        return body.count == expectedSize ? .complete : .needMore
    }
}
