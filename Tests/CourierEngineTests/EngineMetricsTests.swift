import CourierAMQP
import Testing

@testable import CourierEngine

@Suite("Engine metrics")
struct EngineMetricsTests {
    static func delivery(_ routingKey: String, exchange: String = "domain_events", originalRoutingKey: AMQPFieldValue? = nil) -> AMQPDelivery {
        AMQPDelivery(
            deliveryTag: 1, redelivered: false, exchange: exchange, routingKey: routingKey, consumerTag: "c",
            properties: AMQPProperties(headers: originalRoutingKey.map { [CourierHeader.originalRoutingKey: $0] }), body: [])
    }

    @Test("counts per event type, by runs, with unknown routing keys folded into 'other'")
    func countsByRuns() {
        let metrics = EngineMetrics(topology: Topology(.init(appName: "m", eventTypes: ["A", "B"])))
        // Strings built at run time, so equal keys do not share storage: equality, not identity.
        let keys = ["A", "A", "B", "A", "zz", String("A".map { $0 }), "B", "yy"]
        #expect(metrics.counts(keys.map { Self.delivery($0) }) == ["A": 4, "B": 2, "other": 2])
        #expect(metrics.counts([AMQPDelivery]()) == [:])
        #expect(metrics.counts([Self.delivery("B")]) == ["B": 1])
    }

    @Test("a retry copy, routed by the app queue's name, counts under the type its original-routing-key header names")
    func retryCopiesCountUnderTheirType() {
        let metrics = EngineMetrics(topology: Topology(.init(appName: "m", eventTypes: ["A", "B"])))
        let retried = Self.delivery("events_m", exchange: "", originalRoutingKey: .string("B"))
        #expect(metrics.label(of: retried) == "B")
        #expect(metrics.counts([Self.delivery("A"), retried, retried, Self.delivery("A")]) == ["A": 2, "B": 2])
        // The header is not looked at when the routing key is a known type (it is the original).
        #expect(metrics.label(of: Self.delivery("A", originalRoutingKey: .string("B"))) == "A")
    }

    @Test("an original-routing-key header that is not a known type, or not a name at all, still counts as 'other'")
    func garbageHeadersStayBounded() {
        let metrics = EngineMetrics(topology: Topology(.init(appName: "m", eventTypes: ["A", "B"])))
        let garbage: [AMQPFieldValue?] = [
            .string("NotAType"), .string(String(repeating: "r", count: 300)), .string("A\u{0}"), .int64(7), .string(""), nil,
        ]
        let deliveries = garbage.map { Self.delivery("events_m", exchange: "", originalRoutingKey: $0) }
        for delivery in deliveries { #expect(metrics.label(of: delivery) == "other") }
        #expect(metrics.counts(deliveries) == ["other": garbage.count])
        #expect(metrics.counts(deliveries + [Self.delivery("A")]).keys.sorted() == ["A", "other"])
    }
}
