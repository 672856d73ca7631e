import CourierAMQP
import CourierEngine
import CourierHandlers
import CourierPostgres
import CourierTesting
import Foundation
import Testing

/// courierd as an operator runs it: a real process against the real services.
@Suite("courierd process", .tags(.integration))
struct CourierdProcessTests {
    struct Run {
        var status: Int32
        var output: String
        /// The process id courierd ran as (one process from start to exit: nothing restarts it).
        var pid: Int32
    }

    /// Starts courierd with `environment`; when `stopWhen` appears in its output sends SIGTERM.
    /// `timeout` only turns a daemon that never gets there or never exits into a failure, so it
    /// is generous: a loaded machine takes many seconds to start, connect and migrate.
    /// `launched` hears the process id as soon as it runs. When `DATABASE_URL` points at a
    /// database that answers, Semble's tables are created there first, as `courier db
    /// init-semble` does for `make run` (courierd itself never creates them).
    static func run(
        environment: [String: String], arguments: [String] = [], stopWhen marker: String? = nil, timeout: Duration = .seconds(120),
        createSembleTables: Bool = true,
        beforeStopping: (String) async throws -> Void = { _ in },
        launched: (Int32) -> Void = { _ in }
    ) async throws -> Run {
        if createSembleTables, let url = environment["DATABASE_URL"] { await SembleFixture.createIfReachable(url) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestEnvironment.productPath("courierd"))
        process.arguments = arguments
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
        launched(process.processIdentifier)
        let deadline = ContinuousClock.now + timeout
        if let marker {
            while process.isRunning, !output().contains(marker), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            if process.isRunning {
                try await beforeStopping(output())
                kill(process.processIdentifier, SIGTERM)
            }
        }
        while process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning {
            process.terminate()
            Issue.record("courierd did not exit in time")
        }
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: output(), pid: process.processIdentifier)
    }

    @Test("connects to both services, declares its topology, says it is ready, and exits 0 on SIGTERM")
    func readyAndStop() async throws {
        let amqp = try TestEnvironment.amqpURL()
        let database = try TestEnvironment.databaseURL()
        let app = TestEnvironment.uniqueName("daemon")
        let run = try await Self.run(
            environment: [
                "AMQP_URL": amqp, "DATABASE_URL": database, "FLY_APP_NAME": app,
                "COURIER_HTTP_HOST": "127.0.0.1", "COURIER_HTTP_PORT": "0",
            ],
            stopWhen: "ready"
        ) { output in
            let port = try #require(Self.httpPort(in: output))
            let live = try await Self.get(port: port, path: "/health/live")
            #expect(live.status == 200)
            let ready = try await Self.get(port: port, path: "/health/ready")
            #expect(ready.status == 200, "ready once consuming: \(ready.body)")
            let metrics = try await Self.get(port: port, path: "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains("courier_"), "metrics: \(metrics.body.prefix(500))")
        }
        #expect(run.status == 0, "output: \(run.output)")
        #expect(run.output.contains("connected to RabbitMQ and Postgres; ready"))
        // A file is not a terminal: JSON lines, one object each, with the fixed keys.
        let objects = run.output.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(!objects.isEmpty && objects.allSatisfy { $0 != nil }, "every line one JSON object: \(run.output.prefix(1000))")
        #expect(objects.allSatisfy { $0?["ts"] is String && $0?["level"] is String && $0?["logger"] is String && $0?["msg"] is String })
        #expect(objects.contains { $0?["queue"] as? String == "events_\(app)" }, "the queue, as a key of its own")
        #expect(run.output.contains("courierd stopped"))
        for secret in [try Self.password(of: amqp), try Self.password(of: database)] {
            #expect(!run.output.contains(secret), "a password leaked into the log")
        }
    }

    @Test("an event nobody handles is parked in the dead-letter queue with that reason, not dropped")
    func unknownEventType() async throws {
        let amqp = try TestEnvironment.amqpURL()
        let app = TestEnvironment.uniqueName("unknown")
        let type = TestEnvironment.uniqueName("NobodyHandlesEvent")
        let environment = [
            "AMQP_URL": amqp, "DATABASE_URL": try TestEnvironment.databaseURL(), "FLY_APP_NAME": app,
            "COURIER_BINDINGS_EXTRA": type, "COURIER_HTTP_PORT": "0", "COURIER_HTTP_HOST": "127.0.0.1",
        ]
        // Start once to declare the topology, then publish while it runs.
        async let run = Self.run(environment: environment, stopWhen: "dead-lettering")
        let connection = try await AMQPConnection.connect(url: amqp)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()
        var published = false
        let deadline = ContinuousClock.now + .seconds(180)
        while !published, ContinuousClock.now < deadline {
            // Consuming means the bindings are in place (they are declared before the consumer).
            let probe = try await connection.openChannel()
            let consumers = (try? await probe.declareQueuePassive("events_\(app)"))?.consumerCount ?? 0
            if probe.isOpen { try await probe.close() }
            if consumers > 0 {
                let outcome = try await channel.publish(
                    Array("{}".utf8), exchange: "domain_events", routingKey: type,
                    properties: AMQPProperties(deliveryMode: .persistent, messageID: "lost-soul"), mandatory: true)
                #expect(outcome == .acked)
                published = true
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let result = try await run
        #expect(result.status == 0, "output: \(result.output)")
        let check = try await connection.openChannel()
        let parked = try #require(try await check.get(queue: "events_\(app).dlq", noAck: true))
        #expect(parked.properties.messageID == "lost-soul")
        #expect(parked.properties.headers?["x-courier-error-class"]?.stringValue == "UnknownEventType")
        await connection.close()
    }

    @Test("SIGTERM mid-stream: exit 0, and after a restart every event is settled exactly once")
    func sigtermMidStream() async throws {
        let amqp = try TestEnvironment.amqpURL()
        let app = TestEnvironment.uniqueName("sigterm")
        let type = TestEnvironment.uniqueName("StreamEvent")
        // One message at a time (each waits for its dead-letter confirm), so the stop lands
        // mid-stream even when a loaded test process is slow to send it: with the defaults,
        // 3000 events can all be settled first.
        let environment = [
            "AMQP_URL": amqp, "DATABASE_URL": try TestEnvironment.databaseURL(), "FLY_APP_NAME": app,
            "COURIER_BINDINGS_EXTRA": type, "COURIER_HTTP_PORT": "0", "COURIER_HTTP_HOST": "127.0.0.1",
            "COURIER_PREFETCH": "1", "COURIER_BATCH_SIZE": "1",
        ]
        // Declare the topology (as courierd will) and queue the events before it starts.
        let connection = try await AMQPConnection.connect(url: amqp)
        let topology = Topology(.init(appName: app, extraBindingKeys: [type]))
        try await topology.declare(on: connection)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()
        let total = 3000
        for i in 0..<total {
            channel.publish(
                Array("{}".utf8), exchange: "domain_events", routingKey: type,
                properties: AMQPProperties(deliveryMode: .persistent, messageID: "e-\(i)")) { _ in }
        }
        await channel.waitForConfirms()

        // Every event has no handler, so each is settled by parking it in the DLQ: a count of
        // the DLQ is a count of settlements. Stop the daemon after the first hundred.
        let first = try await Self.run(environment: environment, stopWhen: "ready") { _ in
            while try await channel.declareQueuePassive(topology.deadLetterQueue).messageCount < 100 {
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        #expect(first.status == 0, "output: \(first.output)")
        let parkedAtStop = try await channel.declareQueuePassive(topology.deadLetterQueue).messageCount
        #expect(parkedAtStop < UInt32(total), "stopped mid-stream")

        let second = try await Self.run(environment: environment, stopWhen: "ready", timeout: .seconds(240)) { _ in
            let deadline = ContinuousClock.now + .seconds(180)
            while try await channel.declareQueuePassive(topology.deadLetterQueue).messageCount < UInt32(total), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            try await Task.sleep(for: .milliseconds(300))  // anything handled twice would arrive now
        }
        #expect(second.status == 0)
        var seen: [String: Int] = [:]
        while let message = try await channel.get(queue: topology.deadLetterQueue, noAck: true) {
            seen[message.properties.messageID ?? "?", default: 0] += 1
        }
        #expect(seen.count == total, "every event settled")
        #expect(seen.values.allSatisfy { $0 == 1 }, "settled twice: \(seen.filter { $0.value > 1 }.keys.sorted().prefix(10))")
        await connection.close()
    }

    @Test("the JSON file is read and the environment overrides it")
    func configFile() async throws {
        let amqp = try TestEnvironment.amqpURL()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("courierd-\(UUID().uuidString).json")
        try Data(#"{"courier": {"prefetch": "many"}, "fly": {"app": {"name": "from-file"}}}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let run = try await Self.run(
            environment: ["AMQP_URL": amqp, "DATABASE_URL": "postgres://x@127.0.0.1/x"], arguments: ["--config", file.path])
        #expect(run.status == 78)
        #expect(run.output.contains("courier.prefetch (environment COURIER_PREFETCH)"), "the file's bad value is reported: \(run.output)")
        let overridden = try await Self.run(
            environment: ["AMQP_URL": amqp, "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_PREFETCH": "50", "COURIER_QUEUE_TYPE": "stream"],
            arguments: ["--config", file.path])
        #expect(overridden.output.contains("courier.queue.type"), "the environment's 50 replaced the file's bad value: \(overridden.output)")
        let missing = try await Self.run(environment: ["AMQP_URL": amqp], arguments: ["--config", "/nonexistent/courierd.json"])
        #expect(missing.status == 78)
        #expect(missing.output.contains("--config"))
    }

    @Test(
        "an invalid setting stops start-up with a message naming the key and its variable",
        arguments: [
            (["DATABASE_URL": "postgres://x@127.0.0.1/x"], "amqp.url (environment AMQP_URL)"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1:99999/", "DATABASE_URL": "postgres://x@127.0.0.1/x"], "amqp.url"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/"], "database.url (environment DATABASE_URL)"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "mysql://u:pw@127.0.0.1/x"], "database.url"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "FLY_APP_NAME": "a b"], "fly.app.name"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_LOG_LEVEL": "loud"], "courier.log.level"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_LOG_FORMAT": "xml"], "courier.log.format"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "OTEL_TRACES_EXPORTER": "zipkin"], "OTEL_TRACES_EXPORTER"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_DATABASE_SCHEMA": "Semble-Side"], "courier.database.schema"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_DATABASE_SCHEMA": "public"], "courier.database.schema"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_PREFETCH": "lots"], "courier.prefetch (environment COURIER_PREFETCH)"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_PREFETCH": "0"], "courier.prefetch"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_RETRY_DELAYS": "5s,soon"], "courier.retry.delays"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_QUEUE_TYPE": "stream"], "courier.queue.type"),
            (
                ["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_QUORUM_INITIAL_GROUP_SIZE": "0"],
                "courier.quorum.initial.group.size (environment COURIER_QUORUM_INITIAL_GROUP_SIZE)"
            ),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_RELAY_ENABLED": "maybe"], "courier.relay.enabled"),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_RELAY_POLL_INTERVAL": "soon"], "courier.relay.poll.interval"),
            (
                ["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_METRICS_REFRESH_INTERVAL": "often"],
                "courier.metrics.refresh.interval (environment COURIER_METRICS_REFRESH_INTERVAL)"
            ),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_METRICS_REFRESH_INTERVAL": "1ms"], "courier.metrics.refresh.interval"),
            (
                ["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_PERMANENT_SQLSTATES": "22,4260"],
                "courier.permanent.sqlstates (environment COURIER_PERMANENT_SQLSTATES)"
            ),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_PERMANENT_SQLSTATES": " , "], "courier.permanent.sqlstates"),
            (
                ["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_SEMBLE_APP_URL": "semble.so"],
                "courier.semble.app.url (environment COURIER_SEMBLE_APP_URL)"
            ),
            (["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_SEMBLE_COLLECTION_NSID": "collection"], "courier.semble.collection.nsid"),
            (
                ["AMQP_URL": "amqp://u:pw@127.0.0.1/", "DATABASE_URL": "postgres://x@127.0.0.1/x", "COURIER_RELAY_ENABLED": "false", "COURIER_CONSUMER_ENABLED": "no"],
                "courier.consumer.enabled"
            ),
        ])
    func invalidConfiguration(environment: [String: String], key: String) async throws {
        let run = try await Self.run(environment: environment)
        #expect(run.status == 78)
        #expect(run.output.contains("invalid configuration: \(key)"), "output: \(run.output)")
        #expect(!run.output.contains(":pw@"))
    }

    /// A plain HTTP/1.1 GET to 127.0.0.1 (`LocalHTTP`).
    static func get(port: Int, path: String) async throws -> (status: Int, body: String) {
        try await LocalHTTP.get(port: port, path: path)
    }

    /// The port courierd's log names (`LocalHTTP.courierdPort(inLog:)`).
    static func httpPort(in output: String) -> Int? { LocalHTTP.courierdPort(inLog: output) }

    static func password(of url: String) throws -> String {
        let components = try #require(URLComponents(string: url))
        return try #require(components.password)
    }
}

extension CourierdProcessTests {
    @Test("Semble's tables missing, or a column of another type: start-up stops with exit 78 naming the table and column; nothing is created or altered")
    func sembleSchemaMismatch() async throws {
        let vhost = try TestBroker.makeVhost()
        defer { TestBroker.deleteVhost(vhost.name) }
        let database = try await OwnDatabase.make()
        defer { Task { await database.drop() } }
        let environment = ["AMQP_URL": vhost.url, "DATABASE_URL": database.url, "COURIER_HTTP_PORT": "0", "COURIER_HTTP_HOST": "127.0.0.1"]

        let empty = try await Self.run(environment: environment, timeout: .seconds(180), createSembleTables: false)
        #expect(empty.status == 78, "output: \(empty.output)")
        #expect(empty.output.contains("table public.feed_activities: found no such table"), "\(empty.output)")
        #expect(empty.output.contains("courier db init-semble"))
        let admin = try await PostgresConnection.connect(try PostgresConfiguration(url: database.url))
        #expect(try await admin.query("SELECT 1 FROM information_schema.tables WHERE table_schema = 'public'").isEmpty,
                "courierd created none of Semble's tables")

        try await SembleTables.create(on: admin)
        try await admin.execute("ALTER TABLE notifications ALTER COLUMN created_at TYPE timestamptz")
        let wrong = try await Self.run(environment: environment, timeout: .seconds(180), createSembleTables: false)
        #expect(wrong.status == 78, "output: \(wrong.output)")
        #expect(wrong.output.contains("column public.notifications.created_at: found type timestamptz"), "\(wrong.output)")
        #expect(try await admin.query(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'notifications' AND column_name = 'created_at' AND data_type = 'timestamp with time zone'"
        ).count == 1, "left as it was")
        await admin.close()
    }
}

/// Semble's tables for the tests that run courierd against the run's database.
enum SembleFixture {
    /// `url` with courierd's `search_path` (its default schema `courier`, then Semble's `public`):
    /// what a test needs to read courierd's tables.
    static func courierdView(_ url: String) throws -> PostgresConfiguration {
        var configuration = try PostgresConfiguration(url: url)
        configuration.searchPath = ["courier", "public"]
        return configuration
    }

    /// Creates Semble's missing tables in `url`'s database; does nothing when it cannot connect
    /// (tests of a wrong or unreachable database).
    static func createIfReachable(_ url: String) async {
        guard var configuration = try? PostgresConfiguration(url: url) else { return }
        configuration.connectTimeout = .seconds(10)
        guard let connection = try? await PostgresConnection.connect(configuration) else { return }
        do {
            try await SembleTables.create(on: connection)
        } catch {
            Issue.record("could not create Semble's tables: \(error)")
        }
        await connection.close()
    }
}
