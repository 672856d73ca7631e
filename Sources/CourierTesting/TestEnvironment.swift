import Foundation

/// What `make test` hands the test suites: a RabbitMQ vhost and a Postgres database created for
/// this run alone (see `deploy/local/with-test-env.sh`), so concurrent runs never collide.
///
/// Integration tests fail — they never skip — when these are missing: a green run must mean the
/// real broker and database were exercised.
package enum TestEnvironment {
    package struct Missing: Error, CustomStringConvertible {
        package var variable: String
        package var description: String {
            "\(variable) is not set: integration tests need the project's local RabbitMQ and Postgres. Run them with `make test`."
        }
    }

    /// `amqp://user:password@host:port/vhost` for this run's own vhost.
    package static func amqpURL() throws -> String { try value("COURIER_TEST_AMQP_URL") }

    /// The same vhost over TLS: `amqps://…@localhost:port/vhost?cacertfile=…` (the local CA).
    package static func amqpsURL() throws -> String { try value("COURIER_TEST_AMQPS_URL") }

    /// `postgres://user:password@host:port/database` for this run's own database.
    package static func databaseURL() throws -> String { try value("COURIER_TEST_DATABASE_URL") }

    /// A name no other test of this run (or any other run) uses: `prefix` plus a random suffix.
    package static func uniqueName(_ prefix: String) -> String {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        return "\(prefix)_\(suffix)"
    }

    static func value(_ variable: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
            throw Missing(variable: variable)
        }
        return value
    }
}

extension TestEnvironment {
    /// The path of an executable product built beside the test bundle (e.g. `courierd`).
    package static func productPath(_ name: String) throws -> String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        // On Linux the tests run from `.build/<triple>/debug/<package>PackageTests.xctest`.
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw Missing(variable: "the built product '\(name)' next to \(testBinary.path)")
    }
}
