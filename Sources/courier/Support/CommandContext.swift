import ArgumentParser
import CourierAMQP
import CourierConfig
import CourierEngine
import CourierHandlers
import CourierFailureIndex
import CourierPostgres
import Foundation
import Logging
import UnixSignals

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "courierd's configuration file (the environment overrides it, as for courierd).")
    var config: String?

    @Flag(name: .long, help: "Print JSON for scripts instead of tables.")
    var json = false
}

/// What a command needs, made from the same configuration and environment as courierd: the
/// settings, the topology courierd declares, and connections opened on first use.
struct CommandContext {
    let configuration: CourierConfiguration
    let topology: Topology
    let logger: Logger

    static func load(_ options: GlobalOptions) async throws -> CommandContext {
        let configuration: CourierConfiguration
        do {
            configuration = try await CourierConfiguration.load(
                environment: ProcessInfo.processInfo.environment, configFile: options.config)
        } catch {
            throw OpsError(.usage, "\(error)")
        }
        var settings = configuration.topology
        settings.eventTypes = EventHandlerRunner.bindingKeys(of: SembleHandlers.all)
        var logger = Logger(label: "courier")
        logger.logLevel = .error
        return CommandContext(configuration: configuration, topology: Topology(settings), logger: logger)
    }

    func amqp() async throws -> AMQPConnection {
        var amqp = configuration.amqp
        amqp.connectionName = "courier-cli"
        do {
            return try await AMQPConnection.connect(amqp, logger: logger)
        } catch {
            throw OpsError(.unavailable, "cannot reach RabbitMQ at \(amqp.redactedURL): \(error)")
        }
    }

    /// A connection to courierd's database with courierd's `search_path` (Courier's schema, then
    /// Semble's), not migrated.
    func database() async throws -> PostgresConnection {
        let postgresConfiguration = configuration.database
        do {
            return try await PostgresConnection.connect(postgresConfiguration, logger: logger)
        } catch {
            throw OpsError(.unavailable, "cannot reach Postgres at \(postgresConfiguration.redactedDescription): \(error)")
        }
    }

    /// A connection with the failure index migrated (in Courier's schema, created if needed).
    func postgres() async throws -> PostgresConnection {
        let connection = try await database()
        let schema = configuration.databaseSchema
        try await connection.createSchemaIfNeeded(schema)
        try await FailureIndexSchema.migrate(on: connection, schema: schema, logger: logger)
        return connection
    }

    var index: FailureIndex { FailureIndex(deadLetterQueue: topology.deadLetterQueue) }

    /// Runs `body` on a new broker connection, closed afterwards also when `body` throws.
    func withBroker<T: Sendable>(_ body: (AMQPConnection) async throws -> T) async throws -> T {
        let connection = try await amqp()
        do {
            let value = try await body(connection)
            await connection.close()
            return value
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Runs `body` in one transaction on the failure index (migrated first).
    func withIndex<T: Sendable>(_ body: @Sendable (isolated PostgresConnection, FailureIndex) throws -> T) async throws -> T {
        let postgres = try await postgres()
        let index = self.index
        do {
            let value = try await postgres.withTransaction { try body($0, index) }
            await postgres.close()
            return value
        } catch {
            await postgres.close()
            throw error
        }
    }

    /// After the queue was changed (the truth), brings the index along; when Postgres cannot,
    /// says so and how to catch up, without failing the command.
    func updateIndex(after done: String, _ body: @Sendable (isolated PostgresConnection, FailureIndex) throws -> Void) async {
        do {
            try await withIndex(body)
        } catch {
            Output.error("\(done), but the failure index was not updated (\(error)); run `courier dlq sync` later")
        }
    }

    /// `user@host`, for the replay lineage header.
    static var operatorName: String {
        let environment = ProcessInfo.processInfo.environment
        let user = environment["USER"] ?? environment["LOGNAME"] ?? "unknown"
        return "\(user)@\(ProcessInfo.processInfo.hostName)"
    }
}

/// Runs a command body, turning failures into a message on stderr and the exit status their
/// ``OpsError/Code`` names (2 usage, 3 unreachable, 4 not found, 1 incomplete or drift, 130
/// interrupted). Errors never carry a password: URLs are printed redacted.
func runCommand(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as OpsError {
        Output.error(error.message)
        throw ExitCode(error.code.exitStatus)
    } catch let error as ExitCode {
        throw error
    } catch {
        Output.error("\(error)")
        throw ExitCode(1)
    }
}

/// SIGINT and SIGTERM set `signal` (the default action — dying mid-message — is replaced for
/// the command's duration). A second Ctrl-C still stops at once. The handlers are installed
/// when this returns; cancel the task when the command is done.
func installStopHandlers(_ signal: StopSignal) async -> Task<Void, Never> {
    let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
    return Task {
        for await _ in signals {
            if signal.isStopped { exit(130) }
            signal.stop()
            Output.note("stopping after the message in hand (Ctrl-C again to stop at once)…")
        }
    }
}
