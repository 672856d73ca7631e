import CourierAMQP
import CourierEngine
import CourierTesting
import Foundation
import Logging
import Synchronization

/// "broker restart → consuming": the time from the broker accepting connections again
/// (`rabbitmqctl start_app` returned) to the engine consuming again, after an outage of `outage`,
/// under an ``EngineSupervisor`` with courierd's reconnect settings (its default backoff). Stops
/// the project-local broker (`make bench` points `rabbitmqctl` at it), so it runs last.
/// Returns per round (from `start_app` invoked, from `start_app` returned): the first includes the
/// broker's own start, the second may be 0 when the engine was back before `rabbitmqctl` returned.
func reconnectAfterOutage(_ configuration: AMQPConfiguration, outage: Duration, rounds: Int) async throws -> [(invoked: Duration, returned: Duration)] {
    let logger = {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        return logger
    }()
    var figures: [(invoked: Duration, returned: Duration)] = []
    for _ in 0..<rounds {
        let topology = Topology(.init(appName: "bench_reconnect_\(UUID().uuidString.prefix(8).lowercased())", eventTypes: ["BenchReconnectEvent"]))
        let consuming = StateCount()
        let supervisor = EngineSupervisor(
            topology: topology, handler: NoopHandler(handled: Counter(target: .max)), settings: ConsumerEngine.Settings(), logger: logger
        ) {
            (try await AMQPConnection.connect(configuration, logger: logger), try await AMQPConnection.connect(configuration, logger: logger))
        }
        let task = Task {
            await supervisor.run { state in
                if state == .consuming { consuming.value.add(1, ordering: .relaxed) }
            }
        }
        func waitFor(_ count: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(180)
            while consuming.value.load(ordering: .relaxed) < count {
                guard ContinuousClock.now < deadline else { throw BenchError("the engine did not consume again within 180 s") }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        try await waitFor(1)
        _ = try TestBroker.rabbitmqctl(["stop_app"])
        try await Task.sleep(for: outage)
        let invoked = ContinuousClock.now
        _ = try TestBroker.rabbitmqctl(["start_app"])
        let returned = ContinuousClock.now
        try await waitFor(2)
        let now = ContinuousClock.now
        figures.append((now - invoked, max(now - returned, .zero)))
        task.cancel()
        await task.value
        // Deleting quorum queues before the node has fully started has left its quorum
        // subsystem refusing every later queue declare (541 INTERNAL_ERROR) until the next restart.
        _ = try TestBroker.rabbitmqctl(["await_startup"])
        let admin = try await AMQPConnection.connect(configuration, logger: logger)
        try await deleteQueues(of: topology, on: admin)
        await admin.close()
    }
    return figures
}

/// How many times the supervisor reported `.consuming`.
final class StateCount: Sendable {
    let value = Atomic<Int>(0)
}
