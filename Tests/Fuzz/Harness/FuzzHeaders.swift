import CourierAMQP
import CourierEngine
import Foundation

/// Header parsing and the failure-header builders under fuzzing: one input is one delivery's
/// headers on the wire, taken through what the consumer engine does with a delivery that was
/// not simply handled (`ConsumerEngine.settle` / `publishCopy`), then through the wire again as
/// the next delivery of the copy would be.
///
/// Input layout:
///
///     [0] outcome: low 2 bits handled / transient / permanent / dependency down; the higher
///         bits pick the error class, the handler and a default message
///     [1] retry schedule   [2] exchange / routing key / queue   [3] other properties (bits)
///     [4...7] failedAt (seconds, big-endian)   [8...] field table: 4-byte length, then entries
///     [after the table] the failure's message (UTF-8, repaired)
///
/// A table that does not decode is a typed error and the end of it; a short input has no headers.
package enum FuzzHeaders {
    /// Retry schedules: the standard one, none (every transient failure is final), one delay.
    package static let schedules: [RetrySchedule] = [.standard, RetrySchedule(delays: []), RetrySchedule(delays: [.milliseconds(200)])]

    /// Where the delivery came in: an original publish, a retry copy back through the default
    /// exchange, a legacy alias, blanks.
    package static let arrivals: [(exchange: String, routingKey: String, queue: String)] = [
        ("domain_events", "CardAddedToLibraryEvent", "events_app"),
        ("", "events_app", "events_app"),
        ("domain_events", "USER_FOLLOWED_TARGET", "events_app"),
        ("", "", ""),
        ("domain_events", "ConnectionRemovedEvent", "events_feeds"),
    ]

    static let errorClasses = ["InvalidField", "PostgresError.queryFailed", "MessageTooLarge", "", "Timeout"]
    static let handlers: [String?] = [nil, "feeds", "notifications", ""]
    static let defaultMessages = [
        "field 'cardId': required but missing",
        "duplicate key value violates unique constraint \"feed_items_pkey\" (id 3f6c2a9e-1b7d-4c1e-9d2a-7e5b8c0f1a23, did:plc:abc123)",
        "",
    ]

    /// The four selector bytes and the time for an input (the seed generator's inverse of what
    /// `run` reads before the table).
    package static func prefix(outcome: UInt8 = 1, schedule: UInt8 = 0, arrival: UInt8 = 0, properties: UInt8 = 0, failedAt: UInt32 = 1_764_000_123) -> [UInt8] {
        [outcome, schedule, arrival, properties] + withUnsafeBytes(of: failedAt.bigEndian, Array.init)
    }

    /// Runs one fuzzer input. Add further header readers and builders here.
    package static func run(_ bytes: [UInt8]) {
        var input = FuzzInput(bytes)
        let outcomeByte = input.byte()
        let schedule = input.choose(schedules)
        let arrival = input.choose(arrivals)
        let propertyByte = input.byte()
        let failedAt = Date(timeIntervalSince1970: TimeInterval(input.uint32()) + TimeInterval(propertyByte >> 4) / 16)

        // The table: its own length prefix says where it ends; what follows is the message.
        var headers: AMQPTable?
        var message = defaultMessages[Int(outcomeByte >> 4) % defaultMessages.count]
        if input.position + 4 <= input.bytes.count {
            let length = Int(input.uint32())
            input.position -= 4
            let table = input.take(4 + length)
            do throws(AMQPError) {
                headers = try WireTableCodec.decode(table)
            } catch {
                return  // not a table: a typed error is all that is asked of the codec
            }
            let extra = input.rest()
            if !extra.isEmpty { message = String(decoding: extra, as: UTF8.self) }
        }

        var properties = AMQPProperties(headers: headers)
        switch propertyByte & 0x3 {
        case 1: properties.deliveryMode = .transient
        case 2: properties.deliveryMode = .persistent
        default: break
        }
        if propertyByte & 0x4 != 0 { properties.messageID = "msg-1" }
        if propertyByte & 0x8 != 0 { properties.type = arrival.routingKey }
        if propertyByte & 0x10 != 0 { properties.contentType = "application/json" }
        let delivery = AMQPDelivery(
            deliveryTag: 1, redelivered: propertyByte & 0x20 != 0, exchange: arrival.exchange, routingKey: arrival.routingKey,
            consumerTag: "fuzz", properties: properties, body: [])

        // Every value through the untrusted-input readers: in range, or absent.
        for (_, value) in headers ?? AMQPTable() {
            if let count = HeaderValues.count(value) { fuzzCheck((0...HeaderValues.maximumCount).contains(count), "count \(count)") }
            if let name = HeaderValues.name(value, allowEmpty: true) { fuzzCheck(name.utf8.count <= 255, "name of \(name.utf8.count) bytes") }
            if let id = HeaderValues.failureID(value) { fuzzCheck(id.utf8.count == 36, "failure id \(id)") }
        }
        // The sizes the publish check relies on are librabbitmq's own.
        if let headers {
            do throws(AMQPError) {
                let encoded = try WireTableCodec.encode(headers)
                fuzzCheck(encoded.count == headers.wireSize, "wireSize \(headers.wireSize) != encoded \(encoded.count)")
            } catch {
                fuzzCheck(false, "a decoded table does not encode again: \(error)")
            }
        }

        // The readers.
        let origin = FailureHeaders.origin(of: delivery, queue: arrival.queue)
        let routingKey = FailureHeaders.originalRoutingKey(of: delivery)
        fuzzCheck(routingKey == origin.routingKey, "originalRoutingKey \(routingKey) != origin \(origin.routingKey)")
        let failedAttempts = FailureHeaders.failedAttempts(in: properties)
        fuzzCheck(failedAttempts >= 0, "negative failed attempts \(failedAttempts)")

        // The decision, as the engine takes it.
        let failure = HandlingFailure(
            errorClass: errorClasses[Int(outcomeByte >> 2) % errorClasses.count], message: message,
            handler: handlers[Int(outcomeByte >> 5) % handlers.count])
        let outcome: HandlingOutcome =
            switch outcomeByte & 0x3 {
            case 0: .handled
            case 1: .transientFailure(failure)
            case 2: .permanentFailure(failure)
            default: .dependencyUnavailable(dependency: "postgres")
            }
        let action = decide(outcome, failedAttempts: failedAttempts, schedule: schedule)

        // The copy the engine publishes, then that copy as the broker hands it back.
        switch action {
        case .ack:
            fuzzCheck(outcome == .handled, "ack for \(outcome)")
        case .requeueAndPause:
            fuzzCheck(outcome == .dependencyUnavailable(dependency: "postgres"), "requeue for \(outcome)")
        case .retry(let attempt, let delay):
            fuzzCheck(attempt >= 1 && attempt < schedule.maxAttempts, "retry attempt \(attempt) with \(schedule.maxAttempts) tries")
            fuzzCheck(schedule.delays.contains(delay), "retry delay \(delay) not in the schedule")
            let copy = FailureHeaders.retry(properties, attempt: attempt, origin: origin)
            let next = redelivered(copy, queue: arrival.queue)
            let readBack = FailureHeaders.failedAttempts(in: next.properties)
            fuzzCheck(readBack == attempt, "the retry copy's next delivery reads back attempt \(readBack), not \(attempt)")
            fuzzCheck(
                FailureHeaders.originalRoutingKey(of: next) == origin.routingKey,
                "a retry copy's next delivery sees routing key \(FailureHeaders.originalRoutingKey(of: next)), not \(origin.routingKey)")
            checkKept(properties, in: copy)
        case .deadLetter(let reason, let failure, let attempts):
            fuzzCheck(attempts >= 1, "dead-lettered after \(attempts) attempts")
            let failureID = "3f6c2a9e-1b7d-4c1e-9d2a-7e5b8c0f1a23"
            let copy = FailureHeaders.deadLetter(
                properties, reason: reason, failure: failure, attempts: attempts, origin: origin, failedAt: failedAt,
                host: "worker-1", failureID: failureID)
            let parked = redelivered(copy, queue: arrival.queue).properties
            let h = parked.headers ?? AMQPTable()
            let readBack = FailureHeaders.failedAttempts(in: parked)
            // Counters read from a header are clamped (HeaderValues.maximumCount).
            fuzzCheck(readBack == min(attempts, HeaderValues.maximumCount), "the dead-letter copy reads back \(readBack) attempts, not \(attempts)")
            let written: [(String, String?)] = [
                (CourierHeader.reason, reason.rawValue), (CourierHeader.errorClass, failure.errorClass),
                (CourierHeader.errorMessage, FailureHeaders.bounded(failure.message)), (CourierHeader.handler, failure.handler),
                (CourierHeader.originalExchange, origin.exchange), (CourierHeader.originalRoutingKey, origin.routingKey),
                (CourierHeader.originalQueue, origin.queue), (CourierHeader.host, "worker-1"), (CourierHeader.failureID, failureID),
            ]
            for (key, expected) in written {
                let actual = h[key]?.stringValue
                fuzzCheck(actual == expected, "the dead-letter copy's \(key) reads back as \(actual.debugDescription), not \(expected.debugDescription)")
            }
            let message = h[CourierHeader.errorMessage]?.stringValue ?? ""
            fuzzCheck(message.utf8.count <= FailureHeaders.maximumMessageBytes, "error message of \(message.utf8.count) bytes")
            let fingerprint = h[CourierHeader.errorFingerprint]?.stringValue ?? ""
            fuzzCheck(fingerprint.utf8.count == 16 && fingerprint.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }, "fingerprint \(fingerprint)")
            fuzzCheck(h[CourierHeader.failedAt] == .timestamp(UInt64(max(0, failedAt.timeIntervalSince1970))), "failed-at \(String(describing: h[CourierHeader.failedAt]))")
            fuzzCheck(parked.deliveryMode == (properties.deliveryMode ?? .persistent), "delivery mode")
            checkKept(properties, in: copy)

            // Made to fit a frame chosen by the input: Courier's headers stay, the rest shrinks.
            let frameMax = 4096 + Int(propertyByte) * 512
            let (fitted, removed) = FailureHeaders.fitting(copy, frameMax: frameMax)
            let foreign = (fitted.headers ?? AMQPTable()).entries.filter { !ours.contains($0.key) }
            fuzzCheck(fitted.headerFrameSize <= frameMax || foreign.isEmpty, "fitted to \(fitted.headerFrameSize) > \(frameMax)")
            for key in ours where copy.headers?[key] != nil {
                fuzzCheck(fitted.headers?[key] == copy.headers?[key] || key == CourierHeader.removedHeaders, "fitting changed \(key)")
            }
            // Compared on the wire: `==` is false for a NaN header against itself (the fuzzer found one).
            let unchanged = sameHeadersOnTheWire(fitted, copy)
            fuzzCheck(removed.isEmpty == unchanged, "removed \(removed.count) headers yet the copy \(unchanged ? "is" : "is not") unchanged")
        }
    }

    /// Whether two property sets carry the same header bytes (absent headers: both absent).
    static func sameHeadersOnTheWire(_ a: AMQPProperties, _ b: AMQPProperties) -> Bool {
        func bytes(_ properties: AMQPProperties) -> [UInt8]? {
            guard let headers = properties.headers else { return nil }
            do throws(AMQPError) { return try WireTableCodec.encode(headers) } catch { return [] }
        }
        return bytes(a) == bytes(b)
    }

        /// `properties` as the next delivery sees them: the headers through the wire and back, the
    /// delivery routed from `queue` through the default exchange.
    static func redelivered(_ properties: AMQPProperties, queue: String) -> AMQPDelivery {
        var back = properties
        if let headers = properties.headers {
            do throws(AMQPError) {
                back.headers = try WireTableCodec.decode(WireTableCodec.encode(headers))
            } catch {
                fuzzCheck(false, "headers Courier built do not survive the wire: \(error)")
            }
        }
        return AMQPDelivery(
            deliveryTag: 2, redelivered: false, exchange: "", routingKey: queue, consumerTag: "fuzz", properties: back, body: [])
    }

    /// A copy keeps every property and every header the original carried (Courier's own aside).
    static let ours = Set(
        CourierHeader.failureHeaders + [
            CourierHeader.originalExchange, CourierHeader.originalRoutingKey, CourierHeader.originalQueue, CourierHeader.removedHeaders,
        ])

    static func checkKept(_ original: AMQPProperties, in copy: AMQPProperties) {
        fuzzCheck(copy.messageID == original.messageID && copy.type == original.type && copy.contentType == original.contentType, "a property was lost")
        for (key, _) in original.headers ?? AMQPTable() where !ours.contains(key) {
            fuzzCheck(copy.headers?.keys.contains(key) == true, "header \(key) was lost")
        }
    }
}
