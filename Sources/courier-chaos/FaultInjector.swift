import CourierTesting
import Foundation
import Synchronization

/// What the fault injector can do to the broker. `single` restarts the project-local node
/// (`services.sh stop-rabbitmq`, then `services.sh up`); `cluster` stops (or kills -9) one node of
/// the local three-node cluster and starts it again (`deploy/local/cluster.sh`), courierd running
/// against all three.
protocol BrokerFault: Sendable {
    /// For the log and the figures: "broker restart", "cluster node restart".
    var name: String { get }
    /// Takes (part of) the broker down; says what it stopped.
    func stop(random: inout SplitMix64) async throws -> String
    /// Brings back what ``stop(random:)`` stopped; returns once it is fully started, with a note
    /// for the fault's description (empty when there is nothing to say).
    func start() async throws -> String
    /// The URL whose login says the stopped part is back; nil: the run's own URL.
    func answersURL() async -> String?
}

extension BrokerFault {
    func answersURL() async -> String? { nil }
}

enum BrokerMode: String, CaseIterable, Sendable {
    case single, cluster
}

/// `deploy/local/services.sh`, the script that starts and stops the worktree's own services
/// (`COURIER_SERVICES_SCRIPT`, exported by `with-test-env.sh`). Its output goes to a log file:
/// it prints URLs only with the password masked, but nothing of it belongs in the run's output.
struct ServicesScript: Sendable {
    var path: String
    var log: URL

    func run(_ arguments: [String]) async throws {
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        handle.write(Data("\n$ \(URL(fileURLWithPath: path).lastPathComponent) \(arguments.joined(separator: " "))  [\(Date())]\n".utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        while process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        try? handle.close()
        guard process.terminationStatus == 0 else {
            throw ChaosError("\(URL(fileURLWithPath: path).lastPathComponent) \(arguments.joined(separator: " ")) exited \(process.terminationStatus) (see \(log.path))")
        }
    }

    /// `services.sh up`, tried up to three times: on a loaded machine it can give up on a
    /// RabbitMQ node whose VM has not appeared yet right after launching it, and find it running
    /// the next time. Returns the attempts it took (the fault's description says when > 1).
    @discardableResult
    func up() async throws -> Int {
        var attempt = 1
        while true {
            do {
                try await run(["up"])
                return attempt
            } catch {
                guard attempt < 3 else { throw error }
                attempt += 1
                try await Task.sleep(for: .seconds(2))
            }
        }
    }
}

struct SingleNodeBroker: BrokerFault {
    var services: ServicesScript
    var name: String { "broker restart" }

    func stop(random: inout SplitMix64) async throws -> String {
        try await services.run(["stop-rabbitmq"])
        return "the node stopped"
    }

    func start() async throws -> String {
        let attempts = try await services.up()
        return attempts > 1 ? " (services.sh up needed \(attempts) attempts)" : ""
    }
}

/// One node of the local three-node cluster stopped — cleanly (`cluster.sh stop-node`) or with
/// `kill -9` (`kill-node`), at random — and started again (`start-node`), while courierd runs
/// against all three (`COURIER_TEST_CLUSTER_AMQP_URL`, made by `with-test-env.sh` with
/// `COURIER_WITH_CLUSTER=1`). The fault is over when that node accepts a login again.
actor ClusterNodeBroker: BrokerFault {
    let script: ServicesScript
    /// The run's cluster URL list; the first URL carries credentials, vhost and options.
    let clusterURL: String
    let ports: [Int]
    private var stopped: Int?

    nonisolated var name: String { "cluster node restart" }

    init(script: ServicesScript, clusterURL: String, environment: [String: String]) throws {
        self.script = script
        self.clusterURL = clusterURL
        let size = Int(environment["COURIER_CLUSTER_SIZE"] ?? "") ?? 3
        ports = try (1...size).map { node in
            guard let port = environment["COURIER_CLUSTER_PORT_\(node)"].flatMap(Int.init) else {
                throw ChaosError("COURIER_CLUSTER_PORT_\(node) is not set: run the chaos run with COURIER_WITH_CLUSTER=1 (make chaos CHAOS_BROKER=cluster)")
            }
            return port
        }
    }

    func stop(random: inout SplitMix64) async throws -> String {
        let node = 1 + random.next(below: ports.count)
        let crash = random.next(below: 2) == 0
        try await script.run([crash ? "kill-node" : "stop-node", "\(node)"])
        stopped = node
        return crash ? "node \(node) killed (-9)" : "node \(node) stopped"
    }

    func start() async throws -> String {
        guard let node = stopped else { return "" }
        try await script.run(["start-node", "\(node)"])
        return ""
    }

    /// The first URL of the list, pointed at the stopped node's port.
    func answersURL() async -> String? {
        guard let node = stopped else { return nil }
        let first = String(clusterURL.prefix { $0 != "," })
        guard let range = first.range(of: ":\(ports[0])/") else { return nil }
        return first.replacingCharacters(in: range, with: ":\(ports[node - 1])/")
    }
}

/// The faults of a run, chosen with the run's seed: kill -9 of a courierd (restarted after a
/// short random delay), a broker restart, a Postgres crash (`stop-postgres immediate`).
enum Fault: String, CaseIterable, Sendable {
    case kill, broker, postgres

    var label: String {
        switch self {
        case .kill: "kills"
        case .broker: "broker restarts"
        case .postgres: "Postgres stops"
        }
    }
}

struct FaultRecord: Sendable {
    var fault: Fault
    var detail: String
    /// From the end of the fault (the process started again; the broker or Postgres answering
    /// again) to every live courierd ready.
    var toReady: Duration
    /// From the end of the fault to every live courierd's consumer consuming (its relay may still
    /// be reconnecting: `/health/ready` says "consuming; outbox relay failing").
    var toConsuming: Duration
    var over: ContinuousClock.Instant
}

extension Duration {
    var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }

    var chaosText: String { String(format: "%.1f s", seconds) }
}

/// Injects faults while the events are written, one at a time, each followed by the wait until
/// every live courierd is ready again (that wait is the "time to consuming again" figure). Stops
/// once the writer is done and each kind of fault happened at least once (the first three are the
/// three kinds in a random order, so even a short run has all of them while events flow).
struct FaultInjector: Sendable {
    var supervisor: Supervisor
    var broker: any BrokerFault
    var services: ServicesScript
    var seed: UInt64
    /// Seconds between the end of one fault's recovery and the next fault.
    var pause: ClosedRange<Double> = 1...5
    /// A courierd killed stays dead this long (seconds) before it is started again.
    var killDelay: ClosedRange<Double> = 0.2...3
    var brokerDown: ClosedRange<Double> = 1...4
    var postgresDown: ClosedRange<Double> = 1...3
    /// Only turns a recovery that never comes into a failure.
    var readyTimeout: Duration = .seconds(600)
    /// Whether the broker accepts connections (an AMQP login), and Postgres (a connection).
    /// `brokerAnswers(url)`: a login to `url`, or to the run's URL when nil.
    var brokerAnswers: @Sendable (String?) async -> Bool
    var postgresAnswers: @Sendable () async -> Bool

    /// Runs `start` while polling `answers` every 100 ms; returns when `start` has finished, with
    /// the moment the service first answered (the fault is over for the clients then:
    /// `services.sh up` goes on for seconds after that, checking users and writing its env file)
    /// and, watched from that moment on while `start` still runs, when every live courierd was
    /// consuming and ready — so those figures are not inflated by the script's own tail.
    func restoring(_ start: @escaping @Sendable () async throws -> String, answers: @Sendable () async -> Bool) async throws -> Restored {
        let clock = ContinuousClock()
        let starting = Task { try await start() }
        let deadline = clock.now + readyTimeout
        var back: ContinuousClock.Instant? = nil
        while back == nil {
            if await answers() { back = clock.now; break }
            guard clock.now < deadline else {
                starting.cancel()
                throw ChaosError("the service did not answer within \(readyTimeout) of being started again")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let finished = Mutex(false)
        let watching = Task {
            let result = try await starting.value
            finished.withLock { $0 = true }
            return result
        }
        var consuming: ContinuousClock.Instant? = nil
        var ready: ContinuousClock.Instant? = nil
        while !finished.withLock({ $0 }), ready == nil {
            let state = await supervisor.readiness()
            if state.consuming, consuming == nil { consuming = clock.now }
            if state.ready { ready = clock.now }
            try await Task.sleep(for: .milliseconds(100))
        }
        let note = try await watching.value
        return Restored(back: back!, note: note, consuming: consuming, ready: ready)
    }

    struct Restored {
        var back: ContinuousClock.Instant
        var note: String
        var consuming: ContinuousClock.Instant?
        var ready: ContinuousClock.Instant?
    }

    func run(writingDone: @escaping @Sendable () async -> Bool, say: @Sendable (String) -> Void) async throws -> [FaultRecord] {
        var random = SplitMix64(seed: seed ^ 0xFA17_FA17_FA17_FA17)
        func between(_ range: ClosedRange<Double>) -> Duration {
            .milliseconds(Int((range.lowerBound + (range.upperBound - range.lowerBound) * Double(random.next(below: 1_000_001)) / 1e6) * 1000))
        }
        var required = Fault.allCases.shuffled(using: &random)
        var records: [FaultRecord] = []
        let clock = ContinuousClock()
        while true {
            if required.isEmpty, await writingDone() { break }
            try await Task.sleep(for: between(pause))
            let fault: Fault
            if let next = required.popLast() {
                fault = next
            } else {
                let roll = random.next(below: 100)
                fault = roll < 76 ? .kill : roll < 88 ? .broker : .postgres
            }
            let detail: String
            let over: ContinuousClock.Instant
            var seen: (consuming: ContinuousClock.Instant?, ready: ContinuousClock.Instant?) = (nil, nil)
            switch fault {
            case .kill:
                let live = await supervisor.liveSlots
                guard !live.isEmpty else { continue }
                let slot = live[random.next(below: live.count)]
                let delay = between(killDelay)
                await supervisor.kill9(slot: slot)
                try await Task.sleep(for: delay)
                try await supervisor.start(slot: slot)
                over = clock.now
                detail = "kill -9 of courierd \(slot), started again after \(delay.chaosText)"
            case .broker:
                let down = between(brokerDown)
                let what = try await broker.stop(random: &random)
                try await Task.sleep(for: down)
                let broker = broker
                let probe = await broker.answersURL()
                let restored = try await restoring({ try await broker.start() }, answers: { await brokerAnswers(probe) })
                over = restored.back
                seen = (restored.consuming, restored.ready)
                detail = "\(broker.name): \(what), down \(down.chaosText) before being started again\(restored.note)"
            case .postgres:
                let down = between(postgresDown)
                try await services.run(["stop-postgres", "immediate"])
                try await Task.sleep(for: down)
                let services = services
                let restored = try await restoring(
                    {
                        let attempts = try await services.up()
                        return attempts > 1 ? " (services.sh up needed \(attempts) attempts)" : ""
                    }, answers: postgresAnswers)
                over = restored.back
                seen = (restored.consuming, restored.ready)
                detail = "Postgres stopped (immediate), down \(down.chaosText) before being started again\(restored.note)"
            }
            let deadline = over + readyTimeout
            var consuming: Duration? = seen.consuming.map { $0 - over }
            while seen.ready == nil {
                let state = await supervisor.readiness()
                if state.consuming, consuming == nil { consuming = clock.now - over }
                if state.ready { break }
                guard clock.now < deadline else {
                    throw ChaosError("after \(detail): not every courierd was ready within \(readyTimeout): \(await supervisor.readinessReport())")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let readyAt = seen.ready ?? clock.now
            let record = FaultRecord(fault: fault, detail: detail, toReady: readyAt - over, toConsuming: consuming ?? readyAt - over, over: over)
            records.append(record)
            say("fault \(records.count): \(detail); every courierd consuming \(record.toConsuming.chaosText), ready \(record.toReady.chaosText) later")
        }
        return records
    }
}
