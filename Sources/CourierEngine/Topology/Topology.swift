import CourierAMQP

/// Everything courierd declares on the broker, as plain values computed from its settings.
///
/// ```
/// domain_events (topic) ──binding per event type──▶ events_<app> (quorum)
///   │ alternate-exchange                              │ dead-letter (delivery limit)
///   ▼                                                 ▼
/// domain_events.unrouted (fanout) ─▶ queue      domain_events.dlx (direct) ─▶ events_<app>.dlq
///
/// events_<app>.retry.<delay> (TTL) ──dead-letter via the default exchange──▶ events_<app> only
/// ```
package struct Topology: Sendable, Equatable {
    package struct Exchange: Sendable, Equatable {
        package var name: String
        package var type: AMQPExchangeType
        package var arguments: AMQPTable
    }

    package struct Queue: Sendable, Equatable {
        package var name: String
        package var arguments: AMQPTable
    }

    package struct Binding: Sendable, Equatable {
        package var queue: String
        package var exchange: String
        package var routingKey: String
    }

    package enum QueueType: String, Sendable, Equatable {
        case quorum, classic
    }

    package struct Settings: Sendable, Equatable {
        /// From `FLY_APP_NAME`; the queue is `events_<app>`.
        package var appName: String
        package var queueType: QueueType
        /// Quorum queues only: deliveries after which the broker dead-letters a message that
        /// keeps killing the process (a crash-loop guard, not the retry count).
        package var deliveryLimit: Int
        package var retrySchedule: RetrySchedule
        /// The event types that have a handler: one binding each, by exact name.
        package var eventTypes: [String]
        /// Extra binding keys (topic patterns such as `Card*.#` are allowed here on purpose).
        package var extraBindingKeys: [String]
        /// Quorum queues only: on how many cluster nodes the app's queues (`events_<app>`, its
        /// retry queues and DLQ) get replicas when they are created (`x-quorum-initial-group-size`).
        /// nil leaves it to the broker: RabbitMQ 3.10 places a replica on every node of the cluster
        /// (measured on the local three-node cluster). It only matters at creation; see
        /// ``declare(on:)`` for a queue that exists with another value.
        package var quorumInitialGroupSize: Int?

        package init(
            appName: String = "app",
            queueType: QueueType = .quorum,
            deliveryLimit: Int = 10,
            retrySchedule: RetrySchedule = .standard,
            eventTypes: [String] = [],
            extraBindingKeys: [String] = [],
            quorumInitialGroupSize: Int? = nil
        ) {
            self.appName = appName
            self.queueType = queueType
            self.deliveryLimit = deliveryLimit
            self.retrySchedule = retrySchedule
            self.eventTypes = eventTypes
            self.extraBindingKeys = extraBindingKeys
            self.quorumInitialGroupSize = quorumInitialGroupSize
        }
    }

    package static let exchangeName = "domain_events"
    package static let unroutedName = "domain_events.unrouted"
    package static let deadLetterExchangeName = "domain_events.dlx"
    static let initialGroupSizeArgument = "x-quorum-initial-group-size"

    package var settings: Settings
    package var exchanges: [Exchange]
    package var queues: [Queue]
    package var bindings: [Binding]

    package var appQueue: String { "events_\(settings.appName)" }
    package var deadLetterQueue: String { "\(appQueue).dlq" }

    /// The retry queue for `delay`, e.g. `events_app.retry.30s`.
    package func retryQueue(for delay: Duration) -> String { "\(appQueue).retry.\(Self.label(delay))" }

    package init(_ settings: Settings) {
        self.settings = settings
        let appQueue = "events_\(settings.appName)"
        let quorum = settings.queueType == .quorum

        /// The arguments of a queue this app owns (not the shared unrouted queue).
        func queueArguments(deadLetterExchange: String? = nil, deadLetterRoutingKey: String? = nil) -> AMQPTable {
            var arguments: AMQPTable = ["x-queue-type": .string(settings.queueType.rawValue)]
            if quorum, let size = settings.quorumInitialGroupSize {
                arguments[Self.initialGroupSizeArgument] = .int64(Int64(size))
            }
            if let deadLetterExchange {
                arguments["x-dead-letter-exchange"] = .string(deadLetterExchange)
                if let deadLetterRoutingKey { arguments["x-dead-letter-routing-key"] = .string(deadLetterRoutingKey) }
                if quorum {
                    // Dead-lettering itself must not lose messages (needs reject-publish overflow).
                    arguments["x-dead-letter-strategy"] = "at-least-once"
                    arguments["x-overflow"] = "reject-publish"
                }
            }
            return arguments
        }

        exchanges = [
            Exchange(name: Self.exchangeName, type: .topic, arguments: ["alternate-exchange": .string(Self.unroutedName)]),
            Exchange(name: Self.unroutedName, type: .fanout, arguments: [:]),
            Exchange(name: Self.deadLetterExchangeName, type: .direct, arguments: [:]),
        ]

        var app = queueArguments(deadLetterExchange: Self.deadLetterExchangeName, deadLetterRoutingKey: appQueue)
        if quorum { app["x-delivery-limit"] = .int64(Int64(settings.deliveryLimit)) }
        queues = [
            Queue(name: appQueue, arguments: app),
            Queue(name: "\(appQueue).dlq", arguments: queueArguments()),
            // Shared by every app, so its arguments must not depend on one app's settings.
            Queue(name: Self.unroutedName, arguments: ["x-queue-type": "quorum"]),
        ]
        for delay in settings.retrySchedule.delays {
            var retry = queueArguments(deadLetterExchange: "", deadLetterRoutingKey: appQueue)
            retry["x-message-ttl"] = .int64(Int64(Self.milliseconds(delay)))
            queues.append(Queue(name: "\(appQueue).retry.\(Self.label(delay))", arguments: retry))
        }

        var keys: [String] = []
        for key in settings.eventTypes + settings.extraBindingKeys where !keys.contains(key) { keys.append(key) }
        bindings =
            keys.map { Binding(queue: appQueue, exchange: Self.exchangeName, routingKey: $0) } + [
                Binding(queue: "\(appQueue).dlq", exchange: Self.deadLetterExchangeName, routingKey: appQueue),
                Binding(queue: Self.unroutedName, exchange: Self.unroutedName, routingKey: ""),
            ]
    }

    /// `5s`, `30s`, `2m`, `10m`, `1h`, `1500ms`: the shortest exact form.
    static func label(_ delay: Duration) -> String {
        let ms = milliseconds(delay)
        if ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
