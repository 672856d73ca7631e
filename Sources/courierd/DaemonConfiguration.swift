import CourierAMQP
import Foundation
import Logging

/// courierd's settings, read from the environment.
///
/// | variable | meaning | default |
/// |---|---|---|
/// | `AMQP_URL` | the broker, `amqp://user:password@host:port/vhost` | required |
/// | `DATABASE_URL` | Postgres, `postgres://user:password@host:port/database` | required |
/// | `FLY_APP_NAME` | the app whose queue `events_<app>` this daemon consumes | `app` |
/// | `COURIER_LOG_LEVEL` | trace, debug, info, notice, warning, error, critical | `info` |
///
/// An invalid value stops start-up with a message naming the variable; passwords are never printed.
struct DaemonConfiguration: Sendable {
    struct Invalid: Error, CustomStringConvertible {
        var key: String
        var reason: String
        var description: String { "invalid configuration: \(key): \(reason)" }
    }

    var amqp: AMQPConfiguration
    var databaseURL: String
    var appName: String
    var logLevel: Logger.Level

    /// The app's queue name.
    var queueName: String { "events_\(appName)" }

    init(environment: [String: String]) throws {
        func required(_ key: String) throws -> String {
            guard let value = environment[key], !value.isEmpty else {
                throw Invalid(key: key, reason: "is not set")
            }
            return value
        }
        do {
            var amqp = try AMQPConfiguration(url: try required("AMQP_URL"))
            if amqp.connectionName == nil { amqp.connectionName = "courierd" }
            self.amqp = amqp
        } catch let error as AMQPError {
            throw Invalid(key: "AMQP_URL", reason: error.replyText ?? "\(error)")
        }
        databaseURL = try required("DATABASE_URL")

        let app = environment["FLY_APP_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? "app"
        guard app.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), app.count <= 200 else {
            throw Invalid(key: "FLY_APP_NAME", reason: "use letters, digits, '-' and '_' only (got '\(app)')")
        }
        appName = app

        let level = environment["COURIER_LOG_LEVEL"].flatMap { $0.isEmpty ? nil : $0 } ?? "info"
        guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
            throw Invalid(
                key: "COURIER_LOG_LEVEL",
                reason: "'\(level)' is not one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        logLevel = parsed
    }
}
