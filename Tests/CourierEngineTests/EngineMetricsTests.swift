import Testing

@testable import CourierEngine

@Suite("Engine metrics")
struct EngineMetricsTests {
    @Test("counts per event type, by runs, with unknown routing keys folded into 'other'")
    func countsByRuns() {
        let metrics = EngineMetrics(topology: Topology(.init(appName: "m", eventTypes: ["A", "B"])))
        // Strings built at run time, so equal keys do not share storage: equality, not identity.
        let keys = ["A", "A", "B", "A", "zz", String("A".map { $0 }), "B", "yy"]
        #expect(metrics.counts(keys) == ["A": 4, "B": 2, "other": 2])
        #expect(metrics.counts([String]()) == [:])
        #expect(metrics.counts(["B"]) == ["B": 1])
    }
}
