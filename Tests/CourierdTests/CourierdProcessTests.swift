import CourierTesting
import Foundation
import Testing

/// courierd as an operator runs it: a real process against the real services.
@Suite("courierd process")
struct CourierdProcessTests {
    struct Run {
        var status: Int32
        var output: String
    }

    /// Starts courierd with `environment`; when `stopWhen` appears in its output sends SIGTERM.
    static func run(environment: [String: String], stopWhen marker: String? = nil, timeout: Duration = .seconds(30)) async throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestEnvironment.productPath("courierd"))
        process.environment = environment.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"]) { a, _ in a }
        // Output goes to a file, not a Pipe with a readabilityHandler: dispatch sources on pipe
        // descriptors closed under them crash libdispatch's event loop on Linux.
        let logURL = FileManager.default.temporaryDirectory.appendingPathComponent("courierd-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: logURL) }
        let logHandle = try FileHandle(forWritingTo: logURL)
        defer { try? logHandle.close() }
        process.standardOutput = logHandle
        process.standardError = logHandle
        func output() -> String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

        try process.run()
        let deadline = ContinuousClock.now + timeout
        if let marker {
            while process.isRunning, !output().contains(marker), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        }
        while process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning {
            process.terminate()
            Issue.record("courierd did not exit in time")
        }
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: output())
    }

    @Test("connects to both services, says it is ready, and exits 0 on SIGTERM")
    func readyAndStop() async throws {
        let amqp = try TestEnvironment.amqpURL()
        let database = try TestEnvironment.databaseURL()
        let run = try await Self.run(
            environment: ["AMQP_URL": amqp, "DATABASE_URL": database, "FLY_APP_NAME": "tests"], stopWhen: "ready")
        #expect(run.status == 0, "output: \(run.output)")
        #expect(run.output.contains("connected to RabbitMQ and Postgres; ready"))
        #expect(run.output.contains("queue=events_tests"))
        #expect(run.output.contains("courierd stopped"))
        for secret in [try Self.password(of: amqp), try Self.password(of: database)] {
            #expect(!run.output.contains(secret), "a password leaked into the log")
        }
    }

    @Test(
        "an invalid setting stops start-up with a message naming the variable",
        arguments: [
            (["DATABASE_URL": "postgres://x@127.0.0.1/x"], "AMQP_URL"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1:99999/", "DATABASE_URL": "postgres://x@127.0.0.1/x"], "AMQP_URL"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/"], "DATABASE_URL"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "FLY_APP_NAME": "a b"], "FLY_APP_NAME"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_LOG_LEVEL": "loud"], "COURIER_LOG_LEVEL"),
        ])
    func invalidConfiguration(environment: [String: String], key: String) async throws {
        let run = try await Self.run(environment: environment)
        #expect(run.status == 78)
        #expect(run.output.contains("invalid configuration: \(key)"), "output: \(run.output)")
        #expect(!run.output.contains(":pw@"))
    }

    static func password(of url: String) throws -> String {
        let components = try #require(URLComponents(string: url))
        return try #require(components.password)
    }
}
