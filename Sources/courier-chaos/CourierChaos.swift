// courier-chaos: Courier's own chaos suite (`make chaos`).
//
//   courier-chaos clean --events N --seed S --dump FILE
//   courier-chaos chaos --events N --seed S --expect FILE [--consumers 3] [--rate 400] [--broker single|cluster]
//
// Both run against the vhost and database `deploy/local/with-test-env.sh` provides
// (COURIER_TEST_AMQP_URL, COURIER_TEST_DATABASE_URL; the chaos run also COURIER_SERVICES_SCRIPT):
// Semble's tables seeded with a realistic state, courierd processes started from the build
// directory, the same generated stream written to the outbox in small transactions. `clean` runs
// one courierd and no faults and dumps the final tables (the oracle); `chaos` runs several
// courierd while it kills them (kill -9), restarts the broker and crashes Postgres, waits until
// everything settled, checks that nothing is left and that the DLQ holds exactly the poison, and
// compares its dump with the clean one. Exit status 0 only when every check holds.
import ArgumentParser
import CourierAMQP
import CourierEngine
import CourierEvents
import CourierHandlers
import CourierPostgres
import CourierWorkloads
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

@main
struct CourierChaos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "courier-chaos",
        abstract: "Courier's chaos suite: the outbox, competing courierd processes, kills, broker restarts and a Postgres crash, against a clean run.",
        subcommands: [Clean.self, Chaos.self, Compare.self])
}

struct CommonOptions: ParsableArguments {
    @Option(help: "Valid events written to the outbox.")
    var events = 3000

    @Option(help: "Poison rows written among them (default: one per 1,000 events, at least 3).")
    var poison: Int?

    @Option(help: "The seed of the state, the stream and the faults.")
    var seed: UInt64 = 1

    @Option(help: "Where logs and dumps go (a directory per mode inside).")
    var workDir = ".local/chaos"

    @Option(help: "The courierd executable (default: the one next to this executable).")
    var courierd: String?

    @Option(help: "FLY_APP_NAME of the courierd processes (their queue is events_<app>).")
    var app = "chaos"

    @Option(help: "Seconds the run may take to settle once every event is written: only turns a hang into a failure.")
    var settleTimeout = 3600.0

    @Option(help: "Seconds with nothing queued, unpublished or pending and no change before an unsettled run is declared failed.")
    var quietTimeout = 60.0

    @Option(help: "courierd's COURIER_PREFETCH (unacknowledged deliveries per process). 100, not courierd's default 1000: the suite runs the debug build, about six times slower, and in-flight work is what every fault returns to the queue (see the README).")
    var prefetch = 100

    @Option(help: "Most outbox rows per transaction (each transaction writes 1...this many; default: 10 in a chaos run, 100 in the clean run, whose grouping cannot change its result).")
    var batchMax: Int?

    var poisonCount: Int { poison ?? max(3, events / 1000) }
}

struct Clean: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The oracle: the stream through one courierd without faults; dumps the normalized final tables to --dump.")

    @OptionGroup var common: CommonOptions

    @Option(help: "The dump file to write.")
    var dump: String

    func run() async throws {
        var run = try ChaosRun(common: common, mode: "clean", consumers: 1)
        try await run.execute(rate: nil, faults: nil, dumpTo: URL(fileURLWithPath: dump), expect: nil)
    }
}

struct Chaos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The stream through several courierd while faults are injected; compares the final tables with --expect.")

    @OptionGroup var common: CommonOptions

    @Option(help: "The clean run's dump to compare with.")
    var expect: String

    @Option(help: "courierd processes competing on the queue.")
    var consumers = 3

    @Option(help: "Outbox rows written per second while the faults happen.")
    var rate = 400.0

    @Option(help: "The broker fault: single (restart the local node) or cluster (stop or kill -9 one node of the local three-node cluster, courierd on all three; needs COURIER_WITH_CLUSTER=1, as make chaos CHAOS_BROKER=cluster sets).")
    var broker = "single"

    @Option(help: "Seconds between faults: min,max.")
    var faultPause = "1,5"

    @Flag(help: "Keep this run's dump (deleted when it matches).")
    var keepDump = false

    func validate() throws {
        guard consumers >= 1 else { throw ValidationError("--consumers must be at least 1") }
        guard rate > 0 else { throw ValidationError("--rate must be positive") }
        guard BrokerMode(rawValue: broker) != nil else { throw ValidationError("--broker is single or cluster") }
        guard Self.range(faultPause) != nil else { throw ValidationError("--fault-pause is MIN,MAX seconds") }
    }

    static func range(_ text: String) -> ClosedRange<Double>? {
        let parts = text.split(separator: ",").compactMap { Double($0) }
        guard parts.count == 2, parts[0] >= 0, parts[0] <= parts[1] else { return nil }
        return parts[0]...parts[1]
    }

    func run() async throws {
        let mode = BrokerMode(rawValue: broker)!
        var run = try ChaosRun(common: common, mode: "chaos", consumers: consumers, cluster: mode == .cluster)
        let services = try run.servicesScript()
        let brokerFault: any BrokerFault
        switch mode {
        case .single: brokerFault = SingleNodeBroker(services: services)
        case .cluster:
            let environment = ProcessInfo.processInfo.environment
            guard let script = environment["COURIER_CLUSTER_SCRIPT"] else {
                throw ValidationError("COURIER_CLUSTER_SCRIPT is not set: run it with COURIER_WITH_CLUSTER=1 (make chaos CHAOS_BROKER=cluster does)")
            }
            brokerFault = try ClusterNodeBroker(
                script: ServicesScript(path: script, log: services.log), clusterURL: run.amqpURL, environment: environment)
        }
        let plan = FaultPlan(broker: brokerFault, services: services, pause: Self.range(faultPause)!)
        try await run.execute(
            rate: rate, faults: plan, dumpTo: run.directory.appendingPathComponent("chaos.dump"), expect: URL(fileURLWithPath: expect),
            keepDump: keepDump)
    }
}

struct Compare: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Compares two dumps (what a chaos run does at its end); exit 1 when they differ.")

    @Argument(help: "The expected dump (the clean run's).")
    var expected: String
    @Argument(help: "The dump to check.")
    var actual: String

    func run() async throws {
        let comparison = try Oracle.compare(expected: URL(fileURLWithPath: expected), actual: URL(fileURLWithPath: actual))
        print(comparison.report(expected: expected, actual: actual))
        if !comparison.equal { throw ExitCode.failure }
    }
}

struct FaultPlan {
    var broker: any BrokerFault
    var services: ServicesScript
    var pause: ClosedRange<Double>
}

struct RunLog: Sendable {
    var mode: String
    var started: ContinuousClock.Instant

    func callAsFunction(_ text: String) {
        let elapsed = String(format: "%7.1f", (ContinuousClock.now - started).seconds)
        FileHandle.standardOutput.write(Data("[\(mode) +\(elapsed)s] \(text)\n".utf8))
    }
}

/// The processes to kill if the suite itself is interrupted (SIGINT, SIGTERM).
let livePIDs = Mutex<Set<Int32>>([])

/// One run, clean or chaos: set-up, writing (and faults), settling, checks, dump, figures.
struct ChaosRun {
    var common: CommonOptions
    var mode: String
    var consumers: Int
    var amqpURL: String
    var databaseURL: String
    var directory: URL
    let clock = ContinuousClock()
    let started: ContinuousClock.Instant

    /// `cluster`: courierd and the checks use the local cluster (`COURIER_TEST_CLUSTER_AMQP_URL`).
    init(common: CommonOptions, mode: String, consumers: Int, cluster: Bool = false) throws {
        self.common = common
        self.mode = mode
        self.consumers = consumers
        let environment = ProcessInfo.processInfo.environment
        let amqpVariable = cluster ? "COURIER_TEST_CLUSTER_AMQP_URL" : "COURIER_TEST_AMQP_URL"
        guard let amqp = environment[amqpVariable], let database = environment["COURIER_TEST_DATABASE_URL"] else {
            throw ValidationError(
                "\(amqpVariable) and COURIER_TEST_DATABASE_URL are not set: run it through deploy/local/with-test-env.sh\(cluster ? " with COURIER_WITH_CLUSTER=1" : "") (make chaos does)")
        }
        amqpURL = amqp
        databaseURL = database
        directory = URL(fileURLWithPath: common.workDir).appendingPathComponent(mode)
        started = clock.now
    }

    func servicesScript() throws -> ServicesScript {
        guard let path = ProcessInfo.processInfo.environment["COURIER_SERVICES_SCRIPT"] else {
            throw ValidationError("COURIER_SERVICES_SCRIPT is not set: run it through deploy/local/with-test-env.sh (make chaos does)")
        }
        return ServicesScript(path: path, log: directory.appendingPathComponent("services.log"))
    }

    /// A line of the run's output, `[mode +seconds] text`; a value, so escaping closures (the
    /// writer's progress, the injector) can say things too.
    var say: RunLog { RunLog(mode: mode, started: started) }

    var courierdURL: URL {
        if let path = common.courierd { return URL(fileURLWithPath: path) }
        let me = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        return me.deletingLastPathComponent().appendingPathComponent("courierd")
    }

    mutating func execute(rate: Double?, faults: FaultPlan?, dumpTo dumpFile: URL, expect: URL?, keepDump: Bool = false) async throws {
        var logger = Logger(label: "courier-chaos")
        logger.logLevel = .warning
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("services.log").path, contents: nil)
        guard FileManager.default.isExecutableFile(atPath: courierdURL.path) else {
            throw ValidationError("no courierd at \(courierdURL.path) (build it first, or pass --courierd)")
        }
        let database = try PostgresConfiguration(url: databaseURL)
        let amqp = try AMQPConfiguration(url: amqpURL)
        say("broker \(amqp.redactedURL), database \(database.redactedDescription), courierd \(courierdURL.path), logs in \(directory.path)")
        installSignalHandlers()

        // Semble's tables with a realistic state, and the stream over it.
        let state = ChaosStream.state(events: common.events)
        let admin = try await PostgresConnection.connect(database, logger: logger)
        _ = try await SembleTables.create(on: admin)
        let seeded = try await state.seed(on: admin, schema: "public")
        let catalog = try await state.catalog(on: admin)
        await admin.close()
        let stream = ChaosStream.make(
            events: common.events, poison: common.poisonCount, seed: common.seed, catalog: catalog,
            handledBy: SembleHandlers.all.map(\.eventTypes))
        say("seeded " + seeded.map { "\($0.table) \($0.rows)" }.joined(separator: ", "))
        say(
            "stream: \(stream.events) events (" + stream.mix.sorted { $0.value > $1.value }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
                + "), \(stream.poison.count) poison, \(stream.expectedInboxRows) inbox rows expected")

        var environment: [String: String] = [
            "AMQP_URL": amqpURL, "DATABASE_URL": databaseURL, "FLY_APP_NAME": common.app,
            "COURIER_HTTP_HOST": "127.0.0.1", "COURIER_HTTP_PORT": "0", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        ]
        if let level = ProcessInfo.processInfo.environment["COURIER_LOG_LEVEL"] { environment["COURIER_LOG_LEVEL"] = level }
        environment["COURIER_PREFETCH"] = String(common.prefetch)
        let supervisor = Supervisor(executable: courierdURL, environment: environment, logDirectory: directory)
        let topology = Topology(.init(appName: common.app, eventTypes: EventType.allWireNames))
        let oracle = Oracle(database: database, amqp: amqp, topology: topology, logger: logger)
        var figures = Figures(mode: mode)
        figures.events = stream.events
        figures.poison = stream.poison.count
        figures.consumers = consumers

        do {
            for slot in 1...consumers { try await supervisor.start(slot: slot) }
            try await waitReady(supervisor, what: "the first start")
            say("\(consumers) courierd ready")

            // The tap: a copy of everything the relays publish, to count duplicate publishes.
            let tap = "chaos_tap"
            let broker = try await AMQPConnection.connect(amqp, logger: logger)
            let channel = try await broker.openChannel()
            try await channel.declareQueue(tap, durable: true, arguments: ["x-queue-type": "classic"])
            try await channel.bindQueue(tap, exchange: Topology.exchangeName, routingKey: "#")
            await broker.close()

            // Writing (and the faults, meanwhile).
            let writer = OutboxWriter(
                database: database, rate: rate, batchMax: common.batchMax ?? (faults == nil ? 100 : 10), seed: common.seed, logger: logger)
            let done = Mutex(false)
            let total = stream.items.count
            let sayProgress: @Sendable (OutboxWriter.Progress) -> Void = { [say] progress in
                if progress.rows == total || progress.transactions % 2000 == 0 { say("written \(progress.rows)/\(total) rows") }
            }
            let writing = Task { () throws -> OutboxWriter.Progress in
                defer { done.withLock { $0 = true } }
                return try await writer.write(stream, progress: sayProgress)
            }
            var records: [FaultRecord] = []
            if let faults {
                let quiet = logger
                let injector = FaultInjector(
                    supervisor: supervisor, broker: faults.broker, services: faults.services, seed: common.seed, pause: faults.pause,
                    brokerAnswers: { url in
                        let target = url.flatMap { try? AMQPConfiguration(url: $0) } ?? amqp
                        guard let connection = try? await AMQPConnection.connect(target, logger: quiet) else { return false }
                        await connection.close()
                        return true
                    },
                    postgresAnswers: {
                        var probe = database
                        probe.connectTimeout = .seconds(2)
                        guard let connection = try? await PostgresConnection.connect(probe, logger: quiet) else { return false }
                        await connection.close()
                        return true
                    })
                do {
                    records = try await injector.run(writingDone: { done.withLock { $0 } }, say: say.callAsFunction)
                } catch {
                    writing.cancel()
                    // Whatever the injector left down comes back before the failure is reported.
                    _ = try? await faults.services.up()
                    throw error
                }
            }
            let progress = try await writing.value
            let lastWrite = progress.lastWrite ?? clock.now
            // Settling starts when the last event is written and the last fault is over (a short
            // run may write everything before each kind of fault happened once).
            let settleFrom = max(lastWrite, records.last.map { $0.over + $0.toReady } ?? lastWrite)
            figures.transactions = progress.transactions
            figures.writerReconnects = progress.reconnects
            figures.writing = lastWrite - (progress.firstWrite ?? lastWrite)
            say("all \(progress.rows) rows written in \(figures.writing.chaosText) (\(progress.transactions) transactions)"
                + (settleFrom > lastWrite ? ", the faults over \((settleFrom - lastWrite).chaosText) after the last write" : "") + "; settling")

            // Settling: poll until every check holds.
            let deadline = settleFrom + .seconds(common.settleTimeout)
            var last = SettleState()
            var lastSaid = clock.now
            // Nothing queued, nothing unpublished or pending, and nothing changing: what is not
            // there by now never will be (e.g. events parked instead of handled).
            var quietSince: ContinuousClock.Instant? = nil
            var quietState = SettleState()
            var settled = false
            while true {
                await supervisor.reap()
                let unexpected = await supervisor.unexpectedExits
                if !unexpected.isEmpty { throw ChaosError(unexpected.joined(separator: "\n")) }
                if let now = try? await oracle.state() {
                    last = now
                    if now.settled(expectedRows: stream.items.count, expectedInbox: stream.expectedInboxRows, poison: stream.poison.count) {
                        settled = true
                        break
                    }
                    if now.queued == 0, now.outboxUnpublished == 0, now.pendingBundles == 0, now.outboxRows == stream.items.count {
                        if quietSince == nil || quietState.text != now.text { (quietSince, quietState) = (clock.now, now) }
                    } else {
                        quietSince = nil
                    }
                    if let quiet = quietSince, clock.now - quiet > .seconds(common.quietTimeout) {
                        say("nothing left to handle for \(Int(common.quietTimeout)) s, and still: \(now.text) (expected \(stream.expectedInboxRows) inbox rows, \(stream.poison.count) parked)")
                        break
                    }
                }
                guard clock.now < deadline else {
                    throw ChaosError(
                        "not settled \(common.settleTimeout) s after the last event was written and the last fault over: \(last.text) "
                            + "(expected \(stream.items.count) outbox rows, \(stream.expectedInboxRows) inbox rows, \(stream.poison.count) parked)")
                }
                if clock.now - lastSaid > .seconds(15) {
                    say("settling: \(last.text)")
                    lastSaid = clock.now
                }
                try await Task.sleep(for: .milliseconds(500))
            }
            figures.settle = clock.now - settleFrom
            figures.firstWriteToSettled = clock.now - (progress.firstWrite ?? lastWrite)
            if settled {
                say("settled \(figures.settle.chaosText) after the last write: \(last.text)")
            } else {
                say("not settled, but quiet: checking what is wrong")
            }

            // Stop every courierd (SIGTERM: unacked deliveries go back), then what is left.
            let stopFailures = await supervisor.stopAll()
            figures.deliveries = await supervisor.deliveriesOfGone
            figures.kills = await supervisor.kills
            figures.restarts = await supervisor.starts - consumers
            figures.faults = records
            var failures = stopFailures
            let final = try await oracle.state()
            figures.inboxRows = final.inboxRows
            if !final.settled(expectedRows: stream.items.count, expectedInbox: stream.expectedInboxRows, poison: stream.poison.count) {
                failures.append("after stopping courierd: \(final.text)")
            }
            if final.queued != 0 { failures.append("\(final.queued) messages left in \(oracle.workQueues.joined(separator: ", "))") }

            // The DLQ: exactly the poison.
            let (parked, reasons) = try await oracle.drain(topology.deadLetterQueue)
            figures.parkedCopies = parked.values.reduce(0, +)
            figures.parkedIDs = parked.count
            let poisonIDs = Set(stream.poison.map(\.id))
            let parkedIDs = Set(parked.keys)
            if parkedIDs != poisonIDs {
                let missing = poisonIDs.subtracting(parkedIDs).sorted()
                let extra = parkedIDs.subtracting(poisonIDs).sorted()
                var why: [String: Int] = [:]
                for id in extra { why[reasons[id] ?? "no reason header", default: 0] += 1 }
                failures.append(
                    "the DLQ does not hold exactly the poison: \(missing.count) poison ids missing \(missing.prefix(5)), \(extra.count) other ids "
                        + "(\(why.sorted { $0.value > $1.value }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))), e.g. \(extra.prefix(5))")
            }
            // The tap: every row published at least once; copies beyond one are duplicates the inbox absorbed.
            let published = try await oracle.drain(tap).copies
            figures.published = published.values.reduce(0, +)
            figures.distinctPublished = published.count
            let unpublished = Set(stream.items.map(\.id)).subtracting(published.keys)
            if !unpublished.isEmpty { failures.append("\(unpublished.count) outbox rows never reached the exchange: \(unpublished.sorted().prefix(5))") }

            // The tables.
            let counts = try await oracle.dump(to: dumpFile)
            say("dumped " + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + " to \(dumpFile.path)")
            if let expect {
                let comparison = try Oracle.compare(expected: expect, actual: dumpFile)
                if comparison.equal {
                    say(comparison.report(expected: expect.path, actual: dumpFile.path))
                    if !keepDump { try? FileManager.default.removeItem(at: dumpFile) }
                } else {
                    failures.append(comparison.report(expected: expect.path, actual: dumpFile.path))
                }
            }
            figures.wall = clock.now - started
            say("figures:")
            for line in figures.lines() { FileHandle.standardOutput.write(Data("  \(line)\n".utf8)) }
            for record in records {
                FileHandle.standardOutput.write(Data(
                    "    \(record.detail): consuming after \(record.toConsuming.chaosText), ready after \(record.toReady.chaosText)\n".utf8))
            }
            if !failures.isEmpty {
                throw ChaosError("FAILED:\n" + failures.map { "- \($0)" }.joined(separator: "\n"))
            }
            say("PASSED")
        } catch {
            await supervisor.killAll()
            say("\(error)")
            throw ExitCode.failure
        }
    }

    func waitReady(_ supervisor: Supervisor, what: String, timeout: Duration = .seconds(600)) async throws {
        let deadline = clock.now + timeout
        while !(await supervisor.allReady()) {
            let unexpected = await supervisor.unexpectedExits
            if !unexpected.isEmpty { throw ChaosError(unexpected.joined(separator: "\n")) }
            guard clock.now < deadline else {
                throw ChaosError("courierd not ready \(timeout) after \(what): \(await supervisor.readinessReport())")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// SIGINT/SIGTERM: kill the courierd processes this run started, then exit.
    func installSignalHandlers() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                for pid in livePIDs.withLock({ $0 }) { kill(pid, SIGKILL) }
                FileHandle.standardError.write(
                    Data("courier-chaos: interrupted; courierd processes killed (if the broker or Postgres was down: services.sh up)\n".utf8))
                exit(130)
            }
            source.resume()
            signalSources.append(source)
        }
    }
}

/// Kept alive for the whole run (set up once, from the main task, before anything else runs).
nonisolated(unsafe) var signalSources: [any DispatchSourceSignal] = []
