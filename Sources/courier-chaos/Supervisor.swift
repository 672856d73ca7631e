import CourierTesting
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The courierd processes of a run: `slots` of them competing on one queue, each started as an
/// operator would (its own process, environment, log file), killed with SIGKILL and started again
/// by the fault injector, and stopped with SIGTERM at the end.
///
/// A process's HTTP port comes from its log ("HTTP listening …:PORT", `COURIER_HTTP_PORT=0`), its
/// readiness from `/health/ready`, its deliveries from `/metrics` — scraped just before a kill
/// and at the end, so the figures count the deliveries of processes that are gone.
actor Supervisor {
    struct Daemon {
        var slot: Int
        var generation: Int
        var process: Process
        var log: URL
        var port: Int?
    }

    let executable: URL
    let environment: [String: String]
    let logDirectory: URL
    private(set) var daemons: [Int: Daemon] = [:]
    /// Processes that ended without being told to (a crash): each makes the run fail.
    private(set) var unexpectedExits: [String] = []
    private(set) var starts = 0
    private(set) var kills = 0
    /// `courier_deliveries_total` of processes killed or stopped (last scrape of each).
    private(set) var deliveriesOfGone: Double = 0

    init(executable: URL, environment: [String: String], logDirectory: URL) {
        self.executable = executable
        self.environment = environment
        self.logDirectory = logDirectory
    }

    var liveSlots: [Int] { daemons.keys.sorted() }

    /// Starts courierd in `slot` (its log: `courierd-<slot>-<generation>.log`).
    func start(slot: Int) throws {
        let generation = (daemons[slot]?.generation ?? generationOf[slot] ?? 0) + 1
        generationOf[slot] = generation
        let log = logDirectory.appendingPathComponent("courierd-\(slot)-\(generation).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = executable
        process.environment = environment
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? handle.close()
        let pid = process.processIdentifier
        livePIDs.withLock { _ = $0.insert(pid) }
        daemons[slot] = Daemon(slot: slot, generation: generation, process: process, log: log)
        starts += 1
    }
    private var generationOf: [Int: Int] = [:]

    /// SIGKILL to the process in `slot`, after one last scrape of its metrics.
    func kill9(slot: Int) async {
        guard let daemon = daemons.removeValue(forKey: slot) else { return }
        if let port = daemon.port, let deliveries = await Self.deliveries(port: port) { deliveriesOfGone += deliveries }
        kill(daemon.process.processIdentifier, SIGKILL)
        daemon.process.waitUntilExit()
        Self.forget(daemon)
        kills += 1
    }

    /// Notes processes that exited by themselves (and forgets them).
    func reap() {
        for (slot, daemon) in daemons where !daemon.process.isRunning {
            unexpectedExits.append(
                "courierd in slot \(slot) exited by itself with status \(daemon.process.terminationStatus) (log: \(daemon.log.path))")
            daemons[slot] = nil
            Self.forget(daemon)
        }
    }

    private static func forget(_ daemon: Daemon) {
        let pid = daemon.process.processIdentifier
        livePIDs.withLock { _ = $0.remove(pid) }
    }

    /// The HTTP port of each live process, read from its log once it is there.
    func learnPorts() {
        for (slot, daemon) in daemons where daemon.port == nil {
            guard let text = try? String(contentsOf: daemon.log, encoding: .utf8) else { continue }
            daemons[slot]?.port = LocalHTTP.courierdPort(inLog: text)
        }
    }

    /// Whether every live process answers `/health/ready` with 200 (its consumer consuming and
    /// its relay working), and whether every one's consumer is consuming (the first part of the
    /// answer, "ready: consuming" or "not ready: consuming; outbox relay failing: …").
    func readiness() async -> (ready: Bool, consuming: Bool) {
        reap()
        learnPorts()
        guard !daemons.isEmpty else { return (false, false) }
        var ready = true
        var consuming = true
        for daemon in daemons.values {
            guard let port = daemon.port, let response = try? await LocalHTTP.get(port: port, path: "/health/ready") else { return (false, false) }
            if response.status != 200 { ready = false }
            if !(response.body.hasPrefix("ready: consuming") || response.body.hasPrefix("not ready: consuming")) { consuming = false }
        }
        return (ready, consuming)
    }

    func allReady() async -> Bool { await readiness().ready }

    /// What the not-ready processes say (for a timeout's message).
    func readinessReport() async -> String {
        learnPorts()
        var lines: [String] = []
        for daemon in daemons.values.sorted(by: { $0.slot < $1.slot }) {
            guard let port = daemon.port else {
                lines.append("slot \(daemon.slot): no HTTP port in its log yet (\(daemon.log.path))")
                continue
            }
            let response = try? await LocalHTTP.get(port: port, path: "/health/ready")
            lines.append("slot \(daemon.slot): \(response.map { "\($0.status) \($0.body.prefix(200))" } ?? "no answer") (\(daemon.log.path))")
        }
        return lines.joined(separator: "; ")
    }

    /// SIGTERM to every process (after a last scrape), then waits for each to exit (SIGKILL after
    /// `grace`). Returns the processes that did not exit 0.
    func stopAll(grace: Duration = .seconds(60)) async -> [String] {
        var failures: [String] = []
        reap()
        for daemon in daemons.values {
            if let port = daemon.port, let deliveries = await Self.deliveries(port: port) { deliveriesOfGone += deliveries }
            kill(daemon.process.processIdentifier, SIGTERM)
        }
        let deadline = ContinuousClock.now + grace
        for daemon in daemons.values {
            while daemon.process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
            if daemon.process.isRunning {
                kill(daemon.process.processIdentifier, SIGKILL)
                failures.append("courierd in slot \(daemon.slot) did not stop within \(grace) of SIGTERM (log: \(daemon.log.path))")
            }
            daemon.process.waitUntilExit()
            Self.forget(daemon)
            if daemon.process.terminationReason == .exit, daemon.process.terminationStatus != 0 {
                failures.append("courierd in slot \(daemon.slot) exited \(daemon.process.terminationStatus) on SIGTERM (log: \(daemon.log.path))")
            }
        }
        daemons.removeAll()
        return failures
    }

    /// Kills every process at once: the way out when the run fails.
    func killAll() {
        for daemon in daemons.values where daemon.process.isRunning {
            kill(daemon.process.processIdentifier, SIGKILL)
            daemon.process.waitUntilExit()
            Self.forget(daemon)
        }
        daemons.removeAll()
    }

    static func deliveries(port: Int) async -> Double? {
        guard let metrics = try? await LocalHTTP.get(port: port, path: "/metrics"), metrics.status == 200 else { return nil }
        var total = 0.0
        var found = false
        for line in metrics.body.split(separator: "\n") where line.hasPrefix("courier_deliveries_total") {
            if let value = line.split(separator: " ").last.flatMap({ Double($0) }) {
                total += value
                found = true
            }
        }
        return found ? total : nil
    }
}

