import CourierAMQP
import CourierPostgres
import Foundation
import Logging
import ServiceLifecycle

/// The daemon's entry point: reads the configuration, then runs its services in one
/// `ServiceGroup`, which starts them in order and shuts them down in reverse on SIGTERM/SIGINT.
@main
enum Courierd {
    static func main() async {
        let configuration: DaemonConfiguration
        do {
            configuration = try DaemonConfiguration(environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("courierd: \(error)\n".utf8))
            exit(78)  // EX_CONFIG: systemd and operators can tell a bad config from a crash
        }

        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "courierd")

        let connectivity = ConnectivityService(configuration: configuration, logger: logger)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: connectivity)],
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
}
