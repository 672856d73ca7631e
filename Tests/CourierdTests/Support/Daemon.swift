import CourierTesting
import Foundation

/// A courierd process a test holds on to while it does other things — several at once, each
/// asked for its readiness and stopped at the end — where ``CourierdProcessTests/run`` runs one
/// from start to exit.
final class Daemon {
    let name: String
    private let process = Process()
    private let logURL: URL
    private var port: Int?

    /// Starts courierd with `environment` (plus `PATH`). Output goes to a file, as in
    /// ``CourierdProcessTests/run``.
    init(name: String, environment: [String: String]) throws {
        self.name = name
        process.executableURL = URL(fileURLWithPath: try TestEnvironment.productPath("courierd"))
        process.environment = environment.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"]) { a, _ in a }
        logURL = FileManager.default.temporaryDirectory.appendingPathComponent("courierd-\(name)-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        defer { try? log.close() }
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: logURL)
    }

    var output: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }
    var isRunning: Bool { process.isRunning }

    /// `/health/ready` answers 200 (false while the HTTP port is not known yet or on any error).
    func isReady() async -> Bool {
        if port == nil { port = CourierdProcessTests.httpPort(in: output) }
        guard let port else { return false }
        return (try? await CourierdProcessTests.get(port: port, path: "/health/ready").status) == 200
    }

    /// SIGTERM, then waits for the exit; returns the exit status (nil if it never exited).
    func stop() async -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        let exited = await eventually { !process.isRunning }
        guard exited else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
