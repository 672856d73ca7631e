import CourierConfig
import CourierAMQP
import CourierEngine
import CourierHandlers
import CourierFailureIndex
import CourierPostgres
import CourierPublisher
import Logging
import ServiceLifecycle
import Synchronization

/// The daemon's consuming part: keeps the engine consuming
/// through broker outages (``EngineSupervisor``) until SIGTERM, with Semble's handlers behind it.
///
/// Two AMQP connections: one consumes, one publishes retry and dead-letter copies — a broker that
/// blocks publishers (resource alarm) must not also stall the consumer's acks. On SIGTERM the
/// engine stops taking deliveries, settles the batch in hand (acks flushed before the channel
/// closes), and the connections close: nothing is handled twice because of a clean stop.
struct DaemonService: Service {
    let configuration: CourierConfiguration
    let handlers: [any EventHandler]
    let notifier: SystemdNotifier
    let health: HealthState
    let logger: Logger

    func run() async throws {
        logger.info(
            "courierd starting",
            metadata: ["app": "\(configuration.appName)", "queue": "\(configuration.queueName)", "amqp": "\(configuration.amqp.redactedURL)"])
        // The database was prepared before any service started (``DatabaseSetup``).
        let postgresConfiguration = configuration.database
        // One connection per handler (they run side by side) and one for health checks.
        let pool = PostgresPool(configuration: postgresConfiguration, maximumConnections: handlers.count + 1, logger: logger)
        let router = EventHandlerRunner(
            handlers: handlers, pool: pool,
            failurePolicy: configuration.permanentSQLStates.map(FailureClassification.Policy.init) ?? .standard, logger: logger)
        // Every parked message is also recorded in the failure index (`courier dlq list`); its
        // own connection, so a burst of parking never waits for a handler's.
        let journalPool = PostgresPool(configuration: postgresConfiguration, maximumConnections: 1, logger: logger)
        let journal = FailureIndexJournal(pool: journalPool, logger: logger)

        var topologySettings = configuration.topology
        topologySettings.eventTypes = router.bindingKeys
        let topology = Topology(topologySettings)
        let amqp = configuration.amqp
        let logger = self.logger
        let health = self.health
        let supervisor = EngineSupervisor(
            topology: topology, handler: router, settings: configuration.engine, journal: journal, logger: logger
        ) {
            var publishing = amqp
            publishing.connectionName = (amqp.connectionName ?? "courierd") + "-publish"
            // The consuming connection never publishes: it may read frames the broker grew past
            // frame_max (see `AMQPConfiguration.inboundFrameHeadroom`).
            var consuming = amqp
            consuming.inboundFrameHeadroom = 64 * 1024
            let consumer = try await AMQPConnection.connect(consuming, logger: logger)
            do {
                let publisher = try await AMQPConnection.connect(publishing, logger: logger)
                health.publishingBlocked(nil)
                await publisher.observeBlocking { reason in health.publishingBlocked(reason) }
                return (consumer, publisher)
            } catch {
                await consumer.close()
                throw error
            }
        }

        let notifier = self.notifier
        let announcedReady = Atomic<Bool>(false)
        let postgresDescription = postgresConfiguration.redactedDescription
        await withTaskGroup(of: Void.self) { group in
            if let interval = notifier.watchdogInterval {
                group.addTask {
                    while !Task.isCancelled {
                        notifier.notify("WATCHDOG=1")
                        try? await Task.sleep(for: interval)
                    }
                }
            }
            // Returns once graceful shutdown cancels it, after the engine settled its batch.
            await cancelWhenGracefulShutdown {
                await supervisor.run { state in
                    health.update(state)
                    switch state {
                    case .consuming:
                        if !announcedReady.exchange(true, ordering: .relaxed) {
                            logger.info(
                                "courierd connected to RabbitMQ and Postgres; ready",
                                metadata: ["postgres": "\(postgresDescription)", "bindings": "\(topology.bindings.count)"])
                            notifier.notify("READY=1\nSTATUS=consuming \(topology.appQueue)")
                        } else {
                            notifier.notify("STATUS=consuming \(topology.appQueue)")
                        }
                    case .waiting:
                        notifier.notify("STATUS=reconnecting to RabbitMQ")
                    case .paused(let dependency):
                        notifier.notify("STATUS=paused: \(dependency) is unavailable")
                    case .connecting, .stopped:
                        break
                    }
                }
            }
            group.cancelAll()
        }
        notifier.notify("STOPPING=1")
        await pool.close()
        await journalPool.close()
        logger.info("courierd shutting down")
    }
}
