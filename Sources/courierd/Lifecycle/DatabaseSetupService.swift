import CourierConfig
import CourierEngine
import CourierHandlers
import CourierPostgres
import CourierSupport
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Opens once, when the database is ready for courierd (``DatabaseSetupService``).
final class StartupGate: Sendable {
    private let isOpenFlag = Atomic<Bool>(false)
    var isOpen: Bool { isOpenFlag.load(ordering: .acquiring) }
    func open() { isOpenFlag.store(true, ordering: .releasing) }
}

/// Prepares the database (``DatabaseSetup``: Courier's schema, the upgrade of an old layout, the
/// check of Semble's tables, the migrations) as a service, so that courierd starts — serving
/// `/health/live`, answering `/health/ready` with 503 and the reason — while Postgres is
/// unreachable, and goes on when it is back. It tries again every 250 ms, growing to 2 s, logs
/// the first failure and the recovery (never a password), then opens the gate the relay, the
/// flusher and the consumer wait at (``GatedService``).
///
/// Only what restarting cannot fix stops start-up, with exit 78: Semble's tables not having what
/// Courier needs, or a database of the old layout short of its last version.
struct DatabaseSetupService: Service {
    let configuration: CourierConfiguration
    let postgres: PostgresConfiguration
    let gate: StartupGate
    let health: HealthState
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        var backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(2))
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await DatabaseSetup.prepare(configuration, postgres: postgres, logger: logger)
                if failing { logger.info("Postgres is reachable; the database is ready", metadata: ["postgres": "\(postgres.redactedDescription)"]) }
                health.database(waiting: nil)
                _ = notifier.notify("STATUS=database ready; connecting to RabbitMQ")
                gate.open()
                return
            } catch let mismatch as DatabaseSetup.Mismatch {
                logger.critical("\(mismatch)")
                exit(78)
            } catch let unsupported as LegacyLayout.Unsupported {
                logger.critical("\(unsupported)")
                exit(78)
            } catch {
                let reason = "\(error)"
                if !failing {
                    logger.warning(
                        "cannot prepare the database; waiting for Postgres (the relay and the consumer start once it is ready)",
                        metadata: ["postgres": "\(postgres.redactedDescription)", "error": "\(reason)"])
                    failing = true
                }
                health.database(waiting: reason)
                _ = notifier.notify("STATUS=waiting for Postgres")
                try? await Task.sleep(for: backoff.nextDelay(unit: Double.random(in: 0..<1)))
            }
        }
    }
}

/// A service that starts once the gate opens (and not at all if courierd stops first).
struct GatedService: Service {
    let gate: StartupGate
    let inner: any Service

    func run() async throws {
        while !gate.isOpen {
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
        try await inner.run()
    }
}
