import ServiceLifecycle
import ServiceLifecycleTestKit
import CourierTesting
import Synchronization
import Testing

@testable import courierd

/// courierd's services that wait for the database (`GatedService`) under swift-service-lifecycle's
/// graceful shutdown, in process (ServiceLifecycleTestKit): a stop while waiting never starts the
/// inner service; once the gate opens, the inner service runs and gets the shutdown itself.
@Suite("Gated services and graceful shutdown, in process")
struct GatedServiceTests {
    /// Runs until graceful shutdown; counts its starts and clean stops.
    final class Probe: Service, Sendable {
        let started = Atomic<Int>(0)
        let stopped = Atomic<Int>(0)
        func run() async throws {
            started.add(1, ordering: .relaxed)
            try? await gracefulShutdown()
            stopped.add(1, ordering: .relaxed)
        }
    }

    @Test("stopped while the gate is closed: returns, and never starts what it guards")
    func stopBeforeTheGateOpens() async throws {
        let probe = Probe()
        let gate = StartupGate()
        try await testGracefulShutdown { trigger in
            let service = Task { try await GatedService(gate: gate, inner: probe).run() }
            trigger.triggerGracefulShutdown()
            try await service.value
        }
        #expect(probe.started.load(ordering: .relaxed) == 0)
    }

    @Test("once the gate opens the guarded service runs, and a graceful shutdown stops it cleanly")
    func runsOnceOpen() async throws {
        let probe = Probe()
        let gate = StartupGate()
        try await testGracefulShutdown { trigger in
            let service = Task { try await GatedService(gate: gate, inner: probe).run() }
            gate.open()
            let started = await eventually(.seconds(30)) { probe.started.load(ordering: .relaxed) == 1 }
            #expect(started)
            trigger.triggerGracefulShutdown()
            try await service.value
        }
        #expect(probe.started.load(ordering: .relaxed) == 1)
        #expect(probe.stopped.load(ordering: .relaxed) == 1)
    }
}
