import CourierAMQP
import CourierSupport
import Foundation

/// The headers Courier writes, in one place. Documented in docs/ARCHITECTURE.md ("The failure headers").
package enum CourierHeader {
    /// How many tries of this message have failed so far (0 or absent on the first delivery).
    /// Courier counts attempts itself: broker counters differ between RabbitMQ versions.
    package static let attempts = "x-courier-attempts"
    /// On a dead-lettered message: `permanent-failure` or `retries-exhausted`.
    package static let reason = "x-courier-reason"
    package static let errorClass = "x-courier-error-class"
    /// The error text, at most ``FailureHeaders/maximumMessageBytes`` bytes of UTF-8.
    package static let errorMessage = "x-courier-error-message"
    /// A stable fingerprint of the error: class, handler and message with ids and numbers
    /// blanked, so the same failure on different messages groups together.
    package static let errorFingerprint = "x-courier-error-fingerprint"
    /// When it failed: an AMQP timestamp (seconds since 1970).
    package static let failedAt = "x-courier-failed-at"
    package static let handler = "x-courier-handler"
    package static let originalExchange = "x-courier-original-exchange"
    package static let originalRoutingKey = "x-courier-original-routing-key"
    package static let originalQueue = "x-courier-original-queue"
    /// The host that handled it (`FLY_MACHINE_ID` / hostname).
    package static let host = "x-courier-host"
    /// On a parked copy that would not have fitted one frame: the names of the original headers
    /// left out of it (largest first), comma-separated. The failure index keeps them all.
    package static let removedHeaders = "x-courier-removed-headers"
    /// A UUID naming this parking of the message: the key of the failure index in Postgres and
    /// what `courier dlq show|replay ID` finds the message by.
    package static let failureID = "x-courier-failure-id"

    // Lineage, written by `courier dlq replay` on the copy it sends back to the original queue.
    /// When it was replayed (an AMQP timestamp).
    package static let replayedAt = "x-courier-replayed-at"
    /// How many times this message has been replayed, this time included.
    package static let replayCount = "x-courier-replay-count"
    /// Who replayed it (`user@host`, or what `--by` said).
    package static let replayedBy = "x-courier-replayed-by"
    /// The failure id of the parking it was replayed from.
    package static let replayedFrom = "x-courier-replayed-from"

    /// Written at parking time and meaningless on a message that is handled again: `courier dlq
    /// replay` strips these (and the broker's `x-death` family) from the copy it sends back.
    package static let failureHeaders: [String] = [
        attempts, reason, errorClass, errorMessage, errorFingerprint, failedAt, handler, host, failureID,
    ]
}

/// Where a message was consumed from, for the failure headers and for replay.
package struct MessageOrigin: Sendable, Equatable {
    package var exchange: String
    package var routingKey: String
    package var queue: String

    package init(exchange: String, routingKey: String, queue: String) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.queue = queue
    }
}

/// Builds the properties of the copies Courier publishes: to a retry queue, or to the dead-letter
/// exchange. Everything the original carried is kept; Courier's own headers are added or replaced.
package enum FailureHeaders {
    package static let maximumMessageBytes = 1024
    /// Room left in a copy's header frame for what the broker adds while it holds the copy:
    /// `x-delivery-count` (quorum queues, on every delivery), `x-death` and the
    /// `x-first-death-*`/`x-last-death-*` headers (when a retry queue's TTL sends it back). A copy
    /// filled to `frame_max` would come back larger than a frame, which clients reject.
    package static let brokerHeadroom = 4096

    /// Where a delivery first came from. A retry copy reaches the app queue again through the
    /// default exchange with the queue's name as routing key, so the event's own exchange and
    /// routing key travel in the `x-courier-original-*` headers from its first retry on; a
    /// delivery without them is an original.
    package static func origin(of delivery: AMQPDelivery, queue: String) -> MessageOrigin {
        let headers = delivery.properties.headers
        return MessageOrigin(
            exchange: HeaderValues.name(headers?[CourierHeader.originalExchange], allowEmpty: true) ?? delivery.exchange,
            routingKey: originalRoutingKey(of: delivery),
            queue: queue)
    }

    /// The routing key the event was published with (see ``origin(of:queue:)``): what its type
    /// and, without a `message_id`, its identity are derived from, on every attempt alike. A
    /// header that is not a valid routing key is ignored.
    package static func originalRoutingKey(of delivery: AMQPDelivery) -> String {
        HeaderValues.name(delivery.properties.headers?[CourierHeader.originalRoutingKey]) ?? delivery.routingKey
    }

    /// The properties for a retry copy: the original's, with the attempt header set and the
    /// origin recorded (a valid one from an earlier attempt is kept, so it always names the first
    /// publish; one that is not a valid name is replaced).
    package static func retry(_ original: AMQPProperties, attempt: Int, origin: MessageOrigin) -> AMQPProperties {
        var properties = original
        var headers = properties.headers ?? AMQPTable()
        let exchange = HeaderValues.name(headers[CourierHeader.originalExchange], allowEmpty: true) ?? origin.exchange
        let routingKey = HeaderValues.name(headers[CourierHeader.originalRoutingKey]) ?? origin.routingKey
        let queue = HeaderValues.name(headers[CourierHeader.originalQueue]) ?? origin.queue
        // Every copy of these keys goes (a publisher may repeat a key); Courier's values are set once.
        headers.removeAll(keys: [
            CourierHeader.attempts, CourierHeader.originalExchange, CourierHeader.originalRoutingKey, CourierHeader.originalQueue,
        ])
        headers[CourierHeader.attempts] = .int64(Int64(clamping: attempt))
        headers[CourierHeader.originalExchange] = .string(exchange)
        headers[CourierHeader.originalRoutingKey] = .string(routingKey)
        headers[CourierHeader.originalQueue] = .string(queue)
        properties.headers = headers
        return properties
    }

    /// The properties for the dead-letter copy: the original's plus every failure header.
    package static func deadLetter(
        _ original: AMQPProperties,
        reason: DeadLetterReason,
        failure: HandlingFailure,
        attempts: Int,
        origin: MessageOrigin,
        failedAt: Date,
        host: String,
        failureID: String
    ) -> AMQPProperties {
        var properties = original
        var headers = properties.headers ?? AMQPTable()
        // A publisher may have sent any of these, even twice: only Courier's values stay.
        headers.removeAll(keys: ownHeaders)
        headers[CourierHeader.attempts] = .int64(Int64(clamping: attempts))
        headers[CourierHeader.reason] = .string(reason.rawValue)
        headers[CourierHeader.errorClass] = .string(failure.errorClass)
        headers[CourierHeader.errorMessage] = .string(bounded(failure.message))
        headers[CourierHeader.errorFingerprint] = .string(fingerprint(failure))
        headers[CourierHeader.failedAt] = .timestamp(UInt64(max(0, failedAt.timeIntervalSince1970)))
        headers[CourierHeader.handler] = failure.handler.map(AMQPFieldValue.string) ?? nil
        headers[CourierHeader.originalExchange] = .string(origin.exchange)
        headers[CourierHeader.originalRoutingKey] = .string(origin.routingKey)
        headers[CourierHeader.originalQueue] = .string(origin.queue)
        headers[CourierHeader.host] = .string(host)
        headers[CourierHeader.failureID] = .string(failureID)
        properties.headers = headers
        if properties.deliveryMode == nil { properties.deliveryMode = .persistent }
        return properties
    }

    /// The attempts already failed, from a delivery's headers: 0 when absent or not a
    /// non-negative integer, at most ``HeaderValues/maximumCount``.
    package static func failedAttempts(in properties: AMQPProperties) -> Int {
        HeaderValues.count(properties.headers?[CourierHeader.attempts]) ?? 0
    }

    /// Headers Courier writes on a copy itself: never left out by ``fitting(_:frameMax:)``.
    static let ownHeaders: Set<String> = Set(CourierHeader.failureHeaders + [
        CourierHeader.originalExchange, CourierHeader.originalRoutingKey, CourierHeader.originalQueue,
        CourierHeader.removedHeaders,
    ])

    /// Properties made to fit one content-header frame of `frameMax` bytes: when they do not,
    /// the largest headers that Courier did not write are left out, largest first, until they
    /// do, and ``CourierHeader/removedHeaders`` names them. The body and every other property
    /// stay as they are. Returns the properties unchanged (and no names) when they fit.
    ///
    /// For a parked copy whose original headers were close to the frame limit: the failure
    /// headers would push it over, and a copy that cannot be published cannot be parked.
    package static func fitting(_ properties: AMQPProperties, frameMax: Int) -> (properties: AMQPProperties, removed: [String]) {
        var size = properties.headerFrameSize
        guard size > frameMax, let headers = properties.headers else { return (properties, []) }
        let candidates = headers.entries.enumerated()
            .filter { !ownHeaders.contains($0.element.key) }
            .map { (index: $0.offset, key: $0.element.key, size: 1 + $0.element.key.utf8.count + $0.element.value.wireSize) }
            .sorted { $0.size > $1.size }
        var removed: [(index: Int, key: String)] = []
        var note = RemovedNote()
        for candidate in candidates {
            if size + note.wireSize <= frameMax { break }
            size -= candidate.size
            removed.append((candidate.index, candidate.key))
            note.add(candidate.key)
        }
        guard !removed.isEmpty else { return (properties, []) }
        let gone = Set(removed.map(\.index))
        var kept = AMQPTable(headers.entries.enumerated().filter { !gone.contains($0.offset) }.map(\.element))
        kept[CourierHeader.removedHeaders] = .string(note.text)
        var result = properties
        result.headers = kept
        return (result, removed.map(\.key))
    }

    /// The value of ``CourierHeader/removedHeaders``: names, comma-separated, at most
    /// ``maximumMessageBytes`` of them, then how many more.
    struct RemovedNote {
        private(set) var names: [String] = []
        private var listed = 0
        private var more = 0

        mutating func add(_ name: String) {
            if listed + name.utf8.count + 2 <= FailureHeaders.maximumMessageBytes {
                names.append(name)
                listed += name.utf8.count + 2
            } else {
                more += 1
            }
        }

        var text: String { names.joined(separator: ", ") + (more > 0 ? " and \(more) more" : "") }

        /// What the header adds to the frame: its name, type, length and text.
        var wireSize: Int { 1 + CourierHeader.removedHeaders.utf8.count + 1 + 4 + listed + 24 }
    }

    /// The message cut to ``maximumMessageBytes`` of UTF-8, on a character boundary, marked `…`.
    package static func bounded(_ message: String) -> String {
        guard message.utf8.count > maximumMessageBytes else { return message }
        var result = ""
        var used = 0
        for character in message {
            let size = character.utf8.count
            if used + size > maximumMessageBytes - 3 { break }
            result.append(character)
            used += size
        }
        return result + "…"
    }

    /// A stable 16-hex-digit fingerprint of a failure: its class, its handler, and its message
    /// with UUIDs, DIDs, hex ids and numbers blanked. The same cause on different messages gives
    /// the same fingerprint; FNV-1a 64, so it is the same on every host and every run.
    package static func fingerprint(_ failure: HandlingFailure) -> String {
        FNV1a.hex64([failure.errorClass, failure.handler ?? "", normalized(failure.message)].joined(separator: "\u{1F}"))
    }

    /// The message with the parts that vary per message replaced by placeholders.
    static func normalized(_ message: String) -> String {
        var text = message
        let patterns: [(String, String)] = [
            ("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<uuid>"),
            ("did:[a-z]+:[A-Za-z0-9._:%-]+", "<did>"),
            ("\\b[0-9a-fA-F]{16,}\\b", "<hex>"),
            ("[0-9]+", "<n>"),
        ]
        for (pattern, placeholder) in patterns {
            text = text.replacingOccurrences(of: pattern, with: placeholder, options: .regularExpression)
        }
        return text
    }
}
