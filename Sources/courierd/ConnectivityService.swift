import CourierAMQP
import CourierPostgres
import Logging
import ServiceLifecycle

/// Connects to RabbitMQ and Postgres, says so, and holds both connections until shutdown.
///
/// The consuming engine builds on this; for now it proves the daemon can reach both.
struct ConnectivityService: Service {
    let configuration: DaemonConfiguration
    let logger: Logger

    func run() async throws {
        logger.info(
            "courierd starting",
            metadata: ["app": "\(configuration.appName)", "queue": "\(configuration.queueName)", "amqp": "\(configuration.amqp.redactedURL)"])
        let amqp = try await AMQPConnection.connect(configuration.amqp, logger: logger)
        let postgresConfiguration = try PostgresConfiguration(url: configuration.databaseURL)
        let postgres: PostgresConnection
        do {
            postgres = try await PostgresConnection.connect(postgresConfiguration, logger: logger)
        } catch {
            await amqp.close()
            throw error
        }
        let version = try await postgres.query("SELECT current_setting('server_version')").first?.decode(String.self, column: 0) ?? "?"
        logger.info(
            "courierd connected to RabbitMQ and Postgres; ready",
            metadata: ["postgres": "\(postgresConfiguration.redactedDescription)", "postgres_version": "\(version)"])

        // Stay up until SIGTERM/SIGINT, or until the broker connection dies.
        enum Ending { case shutdown, connectionLost }
        let ending = await withTaskGroup(of: Ending.self) { group in
            group.addTask {
                try? await gracefulShutdown()
                return .shutdown
            }
            group.addTask {
                _ = await amqp.waitUntilClosed()
                return .connectionLost
            }
            let first = await group.next() ?? .shutdown
            logger.info("courierd shutting down")
            await amqp.close()  // also ends the waiter above
            group.cancelAll()
            return first
        }
        await postgres.close()
        let lost = ending == .connectionLost
        if lost {
            throw AMQPError(code: .connectionClosed, operation: "hold connection", replyText: "the broker connection was lost")
        }
    }
}
