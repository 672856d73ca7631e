import CourierTesting
import Foundation
import Testing

/// The `courier` binary run as an operator runs it: output captured (to files — dispatch
/// sources on pipes closed under them crash libdispatch on Linux), exit status returned.
struct CLI {
    var environment: [String: String]

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var all: String { stdout + stderr }
    }

    /// For an app of its own on the test vhost and database.
    static func forApp(_ app: String) throws -> CLI {
        CLI(environment: [
            "AMQP_URL": try TestEnvironment.amqpURL(), "DATABASE_URL": try TestEnvironment.databaseURL(), "FLY_APP_NAME": app,
            "COURIER_QUEUE_TYPE": "classic",  // as OpsFixture declares them
        ])
    }

    func start(_ arguments: [String], stdin: String? = nil) throws -> (Process, URL, URL) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestEnvironment.productPath("courier"))
        process.arguments = arguments
        process.environment = environment.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"]) { a, _ in a }
        let directory = FileManager.default.temporaryDirectory
        let out = directory.appendingPathComponent("courier-\(UUID().uuidString).out")
        let err = directory.appendingPathComponent("courier-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        if let stdin {
            let input = directory.appendingPathComponent("courier-\(UUID().uuidString).in")
            try Data(stdin.utf8).write(to: input)
            process.standardInput = try FileHandle(forReadingFrom: input)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        return (process, out, err)
    }

    func run(_ arguments: [String], stdin: String? = nil, timeout: Duration = .seconds(180)) async throws -> Result {
        let (process, out, err) = try start(arguments, stdin: stdin)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            process.terminate()
            Issue.record("courier \(arguments.joined(separator: " ")) did not finish in time")
        }
        process.waitUntilExit()
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        return Result(
            status: process.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
}

/// courierd running in the background for a test.
final class Daemon: @unchecked Sendable {
    let process = Process()
    let log: URL

    init(environment: [String: String]) throws {
        log = FileManager.default.temporaryDirectory.appendingPathComponent("courierd-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: try TestEnvironment.productPath("courierd"))
        process.environment = environment.merging([
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin", "COURIER_HTTP_PORT": "0", "COURIER_HTTP_HOST": "127.0.0.1",
            "COURIER_RELAY_ENABLED": "false",
        ]) { a, _ in a }
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Creates Semble's tables with `courier db init-semble` (as `make run` does: courierd never
    /// creates them), then starts courierd and waits until it says it is ready.
    func start() async throws {
        let initialized = try await CLI(environment: process.environment ?? [:]).run(["db", "init-semble"])
        guard initialized.status == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "courier db init-semble failed: \(initialized.stdout)\(initialized.stderr)"])
        }
        try process.run()
        let ready = await eventually { !self.process.isRunning || self.output.contains("ready") }
        guard ready, process.isRunning else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "courierd did not get ready: \(output)"])
        }
    }

    /// SIGTERM; returns the exit status.
    func stop() async -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        _ = await eventually { !self.process.isRunning }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: log)
        return process.terminationStatus
    }
}
