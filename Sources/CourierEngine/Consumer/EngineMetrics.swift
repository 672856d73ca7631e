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
/// stream of strange routing keys cannot grow the label set without end. A retry copy comes
/// back through the default exchange routed by the app queue's name: for a routing key that is
/// not a known type, the `x-courier-original-routing-key` header (``FailureHeaders/originalRoutingKey(of:)``)
/// names the type instead — looked at only then, so the common case costs no header lookup —
/// and a value there that is not a known type is `other` too.
///
/// courierd adds the gauges of its metrics refresher (queue depths, outbox, failure index,
/// readiness; `MetricsRefreshService`) and `courier_publishing_blocked`; the README's "Metrics"
/// table lists them all.
struct EngineMetrics: Sendable {
    let knownTypes: Set<String>
    let handlingDuration = Metrics.Timer(label: "courier_handling_duration_seconds", preferredDisplayUnit: .seconds)
    let inFlight = Gauge(label: "courier_in_flight")
    let lastDelivery = Gauge(label: "courier_last_delivery_timestamp_seconds")

    init(topology: Topology) {
        knownTypes = Set(topology.settings.eventTypes + topology.settings.extraBindingKeys)
        // Present from the start (at 0), so an alert on increase() sees the first reconnect.
        Counter(label: "courier_reconnects_total").increment(by: 0)
    }

    func label(_ routingKey: String) -> String { knownTypes.contains(routingKey) ? routingKey : "other" }

    /// The label of one delivery: its routing key when known, else the original routing key a
    /// retry copy carries (folded into `other` unless that is a known type).
    func label(of delivery: AMQPDelivery) -> String {
        knownTypes.contains(delivery.routingKey) ? delivery.routingKey : label(FailureHeaders.originalRoutingKey(of: delivery))
    }

    /// Counts the batch's deliveries; returns the counts per label, which are also the acked
    /// counts when the whole batch is acked (the common case: counted once, not twice).
    @discardableResult
    func received(_ batch: [AMQPDelivery]) -> [String: Int] {
        let counts = counts(batch)
        for (type, count) in counts {
            Counter(label: "courier_deliveries_total", dimensions: [("event_type", type)]).increment(by: count)
        }
        lastDelivery.record(Date().timeIntervalSince1970)
        return counts
    }

    /// Counts per label. Batches mostly hold runs of one event type, and routing keys are
    /// interned (equal keys share storage, so comparing them is a pointer check): keys are
    /// hashed once per run, not once per message — this runs for every delivery. A delivery
    /// whose routing key is not a known type (a retry copy, routed by the queue's name) is
    /// labelled on its own, from its original-routing-key header.
    func counts<Deliveries: Sequence<AMQPDelivery>>(_ deliveries: Deliveries) -> [String: Int] {
        var counts: [String: Int] = [:]
        var run: (key: String, count: Int)?
        for delivery in deliveries {
            let key = delivery.routingKey
            if let current = run, current.key == key {
                run!.count += 1
                continue
            }
            if let current = run { counts[current.key, default: 0] += current.count }
            if knownTypes.contains(key) {
                run = (key, 1)
            } else {
                run = nil
                counts[label(FailureHeaders.originalRoutingKey(of: delivery)), default: 0] += 1
            }
        }
        if let current = run { counts[current.key, default: 0] += current.count }
        return counts
    }

    enum Outcome: String { case acked, retried, deadLettered = "dead_lettered", requeued }

    func settled(_ delivery: AMQPDelivery, _ outcome: Outcome) {
        settled(counts: [label(of: delivery): 1], outcome)
    }

    /// One increment per event type for a whole batch: the hot path, so no per-message lookups.
    func settled(_ deliveries: [AMQPDelivery], _ outcome: Outcome) {
        guard !deliveries.isEmpty else { return }
        settled(counts: counts(deliveries), outcome)
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
