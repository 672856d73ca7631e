import CourierAMQP
import CourierSupport
import Logging

/// Keeps the engine consuming through broker restarts, dropped connections, closed channels and
/// consumer cancellations: connect, declare the topology, consume; when that ends with an error,
/// log it once, wait (``Backoff``) and start over. Returns when its task is cancelled
/// (graceful shutdown), after the engine settled the batch in hand.
package struct EngineSupervisor: Sendable {
    package typealias Connect = @Sendable () async throws -> (consuming: AMQPConnection, publishing: AMQPConnection)

    package let topology: Topology
    package let handler: any DeliveryHandler
    package let settings: ConsumerEngine.Settings
    package let connect: Connect
    package let journal: (any DeadLetterJournal)?
    /// Reset once consuming starts (connected, topology declared), so the next outage starts
    /// from the initial wait again.
    package var backoff: Backoff
    let logger: Logger

    package init(
        topology: Topology, handler: any DeliveryHandler, settings: ConsumerEngine.Settings,
        journal: (any DeadLetterJournal)? = nil, backoff: Backoff = Backoff(), logger: Logger,
        connect: @escaping Connect
    ) {
        self.journal = journal
        self.topology = topology
        self.handler = handler
        self.settings = settings
        self.backoff = backoff
        self.logger = logger
        self.connect = connect
    }

    /// Runs until cancelled. `onState` hears every change (for readiness and metrics).
    package func run(onState: @escaping @Sendable (State) -> Void = { _ in }) async {
        var backoff = self.backoff
        while !Task.isCancelled {
            onState(.connecting(attempt: backoff.failures + 1))
            let failure: (any Error)?
            var connections: (consuming: AMQPConnection, publishing: AMQPConnection)?
            do {
                let (consuming, publishing) = try await connect()
                connections = (consuming, publishing)
                for notice in try await topology.declare(on: consuming) {
                    logger.warning("\(notice)", metadata: ["queue": "\(topology.appQueue)"])
                }
                onState(.consuming)
                if backoff.failures > 0 {
                    logger.info("reconnected; consuming again", metadata: ["queue": "\(topology.appQueue)"])
                    EngineMetrics.reconnected()
                }
                backoff.reset()
                let engine = ConsumerEngine(
                    topology: topology, handler: handler, settings: settings, journal: journal, logger: logger,
                    onPause: { dependency in onState(dependency.map { .paused(dependency: $0) } ?? .consuming) })
                try await engine.run(consuming: consuming, publishing: publishing)
                failure = nil
            } catch {
                failure = error
            }
            if let connections {
                await connections.consuming.close()  // after the engine flushed its acks
                await connections.publishing.close()
            }
            if Task.isCancelled { break }
            let delay = backoff.nextDelay(unit: Double.random(in: 0..<1))
            onState(.waiting(until: ContinuousClock.now + delay))
            logger.warning(
                "consuming stopped; reconnecting",
                metadata: [
                    "error": "\(failure.map { "\($0)" } ?? "the consumer ended")",
                    "attempt": "\(backoff.failures)", "retry_in_ms": "\(Topology.milliseconds(delay))",
                ])
            do {
                try await Task.sleep(for: delay)
            } catch {
                break
            }
        }
        onState(.stopped)
    }

    package enum State: Sendable, Equatable {
        case connecting(attempt: Int)
        case consuming
        /// Connected, but consuming is paused until `dependency` (e.g. Postgres) is back.
        case paused(dependency: String)
        case waiting(until: ContinuousClock.Instant)
        case stopped
    }
}
