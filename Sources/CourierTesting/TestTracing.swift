import InMemoryTracing
import Tracing

/// The in-memory tracer of the test process: bootstrapped into `InstrumentationSystem` the
/// first time it is used (bootstrapping is once per process, and every test target runs in one).
///
/// Tests that check spans filter ``finishedSpans(inTrace:)`` by their own trace id: other tests
/// running meanwhile add spans of their own. Injections and extractions are not recorded (the
/// suite would keep every one).
package enum TestTracing {
    package static let tracer: InMemoryTracer = {
        let tracer = InMemoryTracer(recordInjections: false, recordExtractions: false)
        InstrumentationSystem.bootstrap(tracer)
        return tracer
    }()

    /// The finished spans of one trace.
    package static func finishedSpans(inTrace traceID: String) -> [FinishedInMemorySpan] {
        tracer.finishedSpans.filter { $0.traceID == traceID }
    }
}
