import CourierAMQP
import Foundation
import Metrics

/// What the engine reports through swift-metrics (courierd exports it in Prometheus format):
///
/// | metric | kind | labels |
/// |---|---|---|
/// | `courier_deliveries_total` | counter | `event_type` |
/// | `courier_outcomes_total` | counter | `event_type`, `outcome` = acked, retried, dead_lettered, requeued |
/// | `courier_handling_duration_seconds` | histogram | — (one sample per batch handed to the handler) |
/// | `courier_in_flight` | gauge | — (deliveries being handled now) |
/// | `courier_last_delivery_timestamp_seconds` | gauge | — (age = now − value) |
/// | `courier_reconnects_total` | counter | — |
///
/// `event_type` is the routing key when it is one the queue is bound for, else `other`, so a
/// stream of strange routing keys cannot grow the label set without end.
struct EngineMetrics: Sendable {
    let knownTypes: Set<String>
    let handlingDuration = Metrics.Timer(label: "courier_handling_duration_seconds", preferredDisplayUnit: .seconds)
    let inFlight = Gauge(label: "courier_in_flight")
    let lastDelivery = Gauge(label: "courier_last_delivery_timestamp_seconds")

    init(topology: Topology) {
        knownTypes = Set(topology.settings.eventTypes + topology.settings.extraBindingKeys)
    }

    func label(_ routingKey: String) -> String { knownTypes.contains(routingKey) ? routingKey : "other" }

    /// Counts the batch's deliveries; returns the counts per label, which are also the acked
    /// counts when the whole batch is acked (the common case: counted once, not twice).
    @discardableResult
    func received(_ batch: [AMQPDelivery]) -> [String: Int] {
        let counts = counts(batch.lazy.map(\.routingKey))
        for (type, count) in counts {
            Counter(label: "courier_deliveries_total", dimensions: [("event_type", type)]).increment(by: count)
        }
        lastDelivery.record(Date().timeIntervalSince1970)
        return counts
    }

    /// Counts per label. Batches mostly hold runs of one event type, and routing keys are
    /// interned (equal keys share storage, so comparing them is a pointer check): keys are
    /// hashed once per run, not once per message — this runs for every delivery.
    func counts<Keys: Sequence<String>>(_ keys: Keys) -> [String: Int] {
        var counts: [String: Int] = [:]
        var run: (key: String, count: Int)?
        for key in keys {
            if let current = run, current.key == key {
                run!.count += 1
            } else {
                if let current = run { counts[label(current.key), default: 0] += current.count }
                run = (key, 1)
            }
        }
        if let current = run { counts[label(current.key), default: 0] += current.count }
        return counts
    }

    enum Outcome: String { case acked, retried, deadLettered = "dead_lettered", requeued }

    func settled(_ routingKey: String, _ outcome: Outcome) {
        settled([routingKey], outcome)
    }

    /// One increment per event type for a whole batch: the hot path, so no per-message lookups.
    func settled(_ routingKeys: [String], _ outcome: Outcome) {
        guard !routingKeys.isEmpty else { return }
        settled(counts: counts(routingKeys), outcome)
    }

    /// Counts already made per label (see ``received(_:)``).
    func settled(counts: [String: Int], _ outcome: Outcome) {
        for (type, count) in counts {
            Counter(label: "courier_outcomes_total", dimensions: [("event_type", type), ("outcome", outcome.rawValue)])
                .increment(by: count)
        }
    }

    static func reconnected() {
        Counter(label: "courier_reconnects_total").increment()
    }
}
