import CourierConfig
import CourierAMQP
import CourierEngine
import CourierHandlers
import CourierPostgres
import CourierPublisher
import CourierTelemetry
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// The daemon's entry point: reads the configuration, then runs its services in one
/// `ServiceGroup`, which starts them in order and shuts them down in reverse on SIGTERM/SIGINT.
///
///     courierd [--config PATH]
@main
enum Courierd {
    static func main() async {
        let configuration: CourierConfiguration
        do {
            configuration = try await CourierConfiguration.load(
                environment: ProcessInfo.processInfo.environment,
                configFile: try configFile(in: Array(CommandLine.arguments.dropFirst())))
        } catch {
            FileHandle.standardError.write(Data("courierd: \(error)\n".utf8))
            exit(78)  // EX_CONFIG: systemd and operators can tell a bad config from a crash
        }

        // JSON lines unless on a terminal (courier.log.format), each line about an event with its
        // id, type and trace id (Logger.MetadataProvider.courierEvent).
        (configuration.logFormat ?? .automatic).bootstrap(level: configuration.logLevel)
        let logger = Logger(label: "courierd")

        let tracing: (any Service)?
        do {
            tracing = try TracingSetup.bootstrap(environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("courierd: \(error)\n".utf8))
            exit(78)
        }

        let postgres = configuration.database

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let health = HealthState()
        let http = HealthServer.make(
            host: configuration.httpHost, port: configuration.httpPort, health: health, registry: registry, logger: logger)
        // Started in order, stopped in reverse, one after the other: on SIGTERM the consumer
        // stops first (nothing more is taken from the queue while the rest shuts down), then the
        // relay, while the health endpoints still answer.
        // The database first (Courier's schema, the upgrade of an old layout, the check of Semble's
        // tables, the migrations), as a service: with Postgres unreachable courierd still starts,
        // serves its health endpoints and waits; the relay, the flusher and the consumer start
        // once the database is ready.
        let gate = StartupGate()
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        // First, so it stops last and exports the spans the other services ended while stopping.
        if let tracing { services.append(.init(service: tracing)) }
        services += [
            .init(service: http),
            .init(
                service: DatabaseSetupService(
                    configuration: configuration, postgres: postgres, gate: gate, health: health, notifier: SystemdNotifier(), logger: logger),
                successTerminationBehavior: .ignore),
        ]
        // The gauges of queue depths, the outbox and the failure index, refreshed on an interval
        // (its broker half runs while Postgres is still awaited). Stopped after the consumer and
        // the relay, so the last depths of a shutdown are still read.
        var metricsSettings = configuration.topology
        metricsSettings.eventTypes = []
        services.append(
            .init(
                service: MetricsRefreshService(
                    amqp: configuration.amqp, topology: Topology(metricsSettings), postgres: postgres,
                    schema: configuration.databaseSchema, interval: configuration.metricsRefreshInterval, gate: gate,
                    logger: Logger(label: "courierd.metrics"))))
        if let relay = configuration.relay {
            // Named apart from the consuming (`courierd`) and copies' (`courierd-publish`)
            // connections, so an operator can tell them apart in `rabbitmqctl list_connections`.
            var relayAMQP = configuration.amqp
            relayAMQP.connectionName = (configuration.amqp.connectionName ?? "courierd") + "-relay"
            var publisher = PublisherConfiguration(amqp: relayAMQP, appID: "courierd-relay")
            // The consumer's reconnect cap (2 s): with the library's defaults (5 s for the
            // publisher, 15 s for a failed pass) the chaos suite saw the relay publish again 13 s
            // after the consumer was back from a broker restart, the outbox backlog growing meanwhile.
            publisher.maxReconnectDelay = .seconds(2)
            var settings = RelayConfiguration(database: postgres, publisher: publisher)
            settings.maxRetryDelay = .seconds(2)
            settings.batchSize = relay.batchSize
            settings.pollInterval = relay.pollInterval
            settings.retention = relay.retention
            services.append(
                .init(
                    service: GatedService(
                        gate: gate,
                        inner: OutboxRelay(
                            configuration: settings, logger: Logger(label: "courierd.relay"),
                            onTrouble: { trouble in health.relay(trouble: trouble) }))))
        }
        if configuration.consumerEnabled {
            // Started before the consumer, stopped after it: bundles the last batches opened are
            // still flushed when due while the consumer stops (what is left waits in Postgres).
            let flushPool = PostgresPool(configuration: postgres, maximumConnections: 1, logger: logger)
            services.append(
                .init(
                    service: GatedService(
                        gate: gate,
                        inner: BundleFlushService(
                            flusher: BundleFlusher(pool: flushPool, settings: configuration.semble, logger: Logger(label: "courierd.bundles")),
                            pool: flushPool,
                            pause: configuration.engine.pause, logger: Logger(label: "courierd.bundles")))))
            services.append(
                .init(
                    service: GatedService(
                        gate: gate,
                        inner: DaemonService(
                            configuration: configuration, handlers: SembleHandlers.make(settings: configuration.semble),
                            notifier: SystemdNotifier(), health: health, logger: logger))))
        } else {
            health.consumerDisabled()
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            ))
        do {
            try await group.run()
            logger.info("courierd stopped")
        } catch {
            logger.error("courierd failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }

    /// `--config PATH` or `--config=PATH`; anything else is an error naming it.
    static func configFile(in arguments: [String]) throws -> String? {
        var iterator = arguments.makeIterator()
        var path: String?
        while let argument = iterator.next() {
            if argument == "--config" {
                guard let value = iterator.next() else {
                    throw CourierConfiguration.Invalid(key: "--config", reason: "needs a path")
                }
                path = value
            } else if argument.hasPrefix("--config=") {
                path = String(argument.dropFirst("--config=".count))
            } else {
                throw CourierConfiguration.Invalid(key: argument, reason: "unknown argument (usage: courierd [--config PATH])")
            }
        }
        return path
    }
}
