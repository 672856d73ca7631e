import CourierAMQP
import CourierEngine
import CourierPostgres
import Logging
import ServiceLifecycle

/// The daemon's one long-running part: connects, declares the topology, consumes until SIGTERM.
///
/// Two AMQP connections: one consumes, one publishes retry and dead-letter copies — a broker that
/// blocks publishers (resource alarm) must not also stall the consumer's acks. On SIGTERM the
/// engine stops taking deliveries, settles the batch in hand (acks flushed before the channel
/// closes), and the connections close: nothing is handled twice because of a clean stop.
struct DaemonService: Service {
    let configuration: CourierdConfiguration
    let router: EventRouter
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        logger.info(
            "courierd starting",
            metadata: ["app": "\(configuration.appName)", "queue": "\(configuration.queueName)", "amqp": "\(configuration.amqp.redactedURL)"])
        let postgresConfiguration = try PostgresConfiguration(url: configuration.databaseURL)
        let postgres = try await PostgresConnection.connect(postgresConfiguration, logger: logger)
        defer { Task { await postgres.close() } }
        let consuming = try await AMQPConnection.connect(configuration.amqp, logger: logger)
        var publishingConfiguration = configuration.amqp
        publishingConfiguration.connectionName = (configuration.amqp.connectionName ?? "courierd") + "-publish"
        let publishing: AMQPConnection
        do {
            publishing = try await AMQPConnection.connect(publishingConfiguration, logger: logger)
        } catch {
            await consuming.close()
            throw error
        }

        var topologySettings = configuration.topology
        topologySettings.eventTypes = router.eventTypes
        let topology = Topology(topologySettings)
        do {
            try await topology.declare(on: consuming)
        } catch {
            await consuming.close()
            await publishing.close()
            throw error
        }

        let engine = ConsumerEngine(topology: topology, handler: router, settings: configuration.engine, logger: logger)
        logger.info(
            "courierd connected to RabbitMQ and Postgres; ready",
            metadata: [
                "postgres": "\(postgresConfiguration.redactedDescription)", "bindings": "\(topology.bindings.count)",
            ])
        notifier.notify("READY=1\nSTATUS=consuming \(topology.appQueue)")

        let failure: (any Error)?
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let interval = notifier.watchdogInterval {
                    group.addTask {
                        while !Task.isCancelled {
                            notifier.notify("WATCHDOG=1")
                            try await Task.sleep(for: interval)
                        }
                    }
                }
                // Returns normally once graceful shutdown cancels it, after settling its batch.
                try await cancelWhenGracefulShutdown {
                    try await engine.run(consuming: consuming, publishing: publishing)
                }
                group.cancelAll()
            }
            failure = nil
        } catch {
            failure = error
        }
        notifier.notify("STOPPING=1")
        logger.info("courierd shutting down")
        await consuming.close()
        await publishing.close()
        if let failure { throw failure }
    }
}
