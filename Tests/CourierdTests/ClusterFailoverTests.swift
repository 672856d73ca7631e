import CourierAMQP
import CourierEngine
import CourierEvents
import CourierPostgres
import CourierPublisher
import CourierTesting
import Foundation
import Testing

/// courierd on the local three-node RabbitMQ cluster (`deploy/local/cluster.sh`) while nodes go
/// down: the node a courierd is connected to, and the quorum leader of `events_<app>`. Run by
/// `make test-cluster` (`COURIER_WITH_CLUSTER=1`), on its own: it stops cluster nodes.
///
/// The events are follows of one user, each by another follower: every one must end as exactly
/// one `USER_FOLLOWED_YOU` notification and one inbox row, whatever the failover did. The
/// figures (how long until both courierd consume again) are printed, not asserted: the machine
/// may be busy; the test waits on the state, with the suite's standard budget.
@Suite("RabbitMQ cluster failover", .serialized, .tags(.integration))
struct ClusterFailoverTests {
    /// One test's app, follows and checks.
    struct Scenario {
        let app = TestEnvironment.uniqueName("cluster")
        let run = TestEnvironment.uniqueName("c")
        var followed: String { testDID("carol", run) }
        func follower(_ n: Int) -> String { testDID("f", run, "n\(n)") }
        var queue: String { "events_\(app)" }

        /// `run`'s random hex suffix: the first group of every event id of this scenario.
        var idPrefix: String { String(run.suffix(8)) }

        /// Follow `n`, with the id `<idPrefix>-0000-4000-8000-<n>`: the same event every time it
        /// is made, and found in the inbox by its prefix.
        func follow(_ n: Int) -> EventEnvelope {
            let event = SembleEvent.userFollowedTarget(.init(followId: "\(run)-\(n)", followerId: follower(n), targetId: followed, targetType: .user, createdAt: Date()))
            var envelope = EventEnvelope.outgoing(event)
            envelope.id = "\(idPrefix)-0000-4000-8000-" + String(format: "%012d", n)
            return envelope
        }

        /// courierd's environment; `name` becomes its connections' name (`name`, `name-publish`,
        /// `name-relay`), by which the test finds the node it is connected to.
        func environment(name: String) throws -> [String: String] {
            let urls = try TestCluster.amqpURL()
            let first = urls.prefix { $0 != "," }
            return [
                "AMQP_URL": "\(first)?connection_name=\(name)\(urls.dropFirst(first.count))", "DATABASE_URL": try TestEnvironment.databaseURL(),
                "FLY_APP_NAME": app, "COURIER_HTTP_HOST": "127.0.0.1", "COURIER_HTTP_PORT": "0",
            ]
        }

        /// `messages`, `consumers`, `leader` and online members of the app queue, as the cluster sees it.
        func queueState(avoiding node: Int? = nil) throws -> (messages: Int, consumers: Int, leader: String, online: Int)? {
            let listing = try TestCluster.rabbitmqctl(
                ["list_queues", "-q", "--no-table-headers", "-p", try TestCluster.vhost(), "name", "messages", "consumers", "leader", "online"], avoiding: node)
            for line in listing.split(separator: "\n") {
                let columns = line.split(separator: "\t").map(String.init)
                guard columns.count >= 5, columns[0] == queue else { continue }
                return (Int(columns[1]) ?? -1, Int(columns[2]) ?? -1, columns[3], columns[4].split(separator: ",").count)
            }
            return nil
        }

        /// The node number that `daemon`'s consuming connection is on.
        func node(of daemon: String, avoiding node: Int? = nil) throws -> Int? {
            // The connection's pid names its node: `<courier-…-2@localhost.1796470614.2763.0>`.
            let listing = try TestCluster.rabbitmqctl(["list_connections", "-q", "--no-table-headers", "pid", "vhost", "client_properties"], avoiding: node)
            for line in listing.split(separator: "\n") where line.contains("connection_name\",\"\(daemon)\"") {
                let columns = line.split(separator: "\t").map(String.init)
                guard columns.count >= 2, columns[1] == (try TestCluster.vhost()) else { continue }
                let pid = columns[0].dropFirst()
                guard let host = pid.range(of: "@localhost") else { continue }
                return try TestCluster.node(named: String(pid[..<host.upperBound]))
            }
            return nil
        }

        /// Every one of the `written` events has its notification and the queue is empty; with
        /// `more`, events written after those may have theirs too (the writer still runs).
        func settled(_ written: Int, more: Bool = false, on database: PostgresConnection) async throws -> Bool {
            let notified = try await database.query(
                "SELECT count(DISTINCT actor_user_id) FROM notifications WHERE recipient_user_id = $1 AND type = 'USER_FOLLOWED_YOU'", [followed])
            let count = try notified[0].decode(Int64.self, column: 0)
            if more { return count >= written }
            guard count == written else { return false }
            return try queueState()?.messages == 0
        }

        func assertExactlyOnce(_ written: Int, on database: PostgresConnection) async throws {
            let notified = try await database.query(
                "SELECT count(*), count(DISTINCT actor_user_id) FROM notifications WHERE recipient_user_id = $1", [followed])
            #expect(try notified[0].decode(Int64.self, column: 0) == written, "one notification per follow, none twice")
            #expect(try notified[0].decode(Int64.self, column: 1) == written, "every follower notified about")
            let inbox = try await database.query("SELECT handler, count(*) FROM courier_inbox WHERE event_id LIKE $1 GROUP BY handler", ["\(idPrefix)-%"])
            #expect(try inbox.map { [try $0.decode(String.self, column: 0), "\(try $0.decode(Int64.self, column: 1))"] } == [["notifications", "\(written)"]], "every event in the inbox once, by the one handler of follows")
            let unpublished = try await database.query(
                "SELECT count(*) FROM event_store WHERE NOT processed AND event_data->>'targetId' = $1", [followed])
            #expect(try unpublished[0].decode(Int64.self, column: 0) == 0, "the outbox is empty")
            let state = try #require(try queueState())
            #expect(state.messages == 0, "the queue is drained")
            let parked = try TestCluster.rabbitmqctl(["list_queues", "-q", "--no-table-headers", "-p", try TestCluster.vhost(), "name", "messages"])
            #expect(parked.split(separator: "\n").contains { $0.hasPrefix("\(queue).dlq\t") && $0.hasSuffix("\t0") }, "nothing parked: \(parked)")
        }
    }

    /// Writes follows into the outbox, 1–5 per transaction, until ``stop()``; ``written`` counts
    /// the committed ones.
    actor Writer {
        private(set) var written = 0
        private var stopped = false
        let scenario: Scenario

        init(_ scenario: Scenario) { self.scenario = scenario }

        func stop() { stopped = true }

        func run(on database: PostgresConnection) async throws {
            var size = 1
            while !stopped {
                let first = written
                try await database.withTransaction { transaction in
                    for n in first..<(first + size) { try Outbox.enqueue(scenario.follow(n), in: transaction) }
                }
                written += size
                size = size % 5 + 1
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    static func connect() async throws -> PostgresConnection {
        let database = try await SembleEndToEndTests.connect(try TestEnvironment.databaseURL())
        _ = try await OutboxSchema.migrate(on: database, schema: Outbox.defaultSchema)
        return database
    }

    /// Waits until both daemons answer ready and the queue has both their consumers; returns how
    /// long that took from `since`.
    static func bothConsuming(_ daemons: [Daemon], _ scenario: Scenario, since: ContinuousClock.Instant) async throws -> Duration? {
        let ok = await eventually {
            for daemon in daemons where !(await daemon.isReady()) { return false }
            return (try? scenario.queueState())?.consumers == daemons.count
        }
        return ok ? ContinuousClock.now - since : nil
    }

    /// Waits until node `node` is back in the cluster and every member of the queue is online,
    /// so that stopping the next node never leaves the queue without a majority.
    static func fullyBack(_ node: Int, _ scenario: Scenario) async throws {
        try TestCluster.start(node)
        let members = try TestCluster.nodes().count
        #expect(await eventually { (try? scenario.queueState())?.online == members }, "node \(node)'s queue member online again")
    }

    static func seconds(_ duration: Duration?) -> String {
        guard let duration else { return "never" }
        return String(format: "%.1f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    @Test("events flowing, two courierd: the node each one consumes through stops, then the queue's leader; nothing is lost or applied twice and both consume again on another node")
    func failoverWhileFlowing() async throws {
        let scenario = Scenario()
        await SembleFixture.createIfReachable(try TestEnvironment.databaseURL())
        let database = try await Self.connect()
        let writing = try await Self.connect()
        defer { Task { await database.close(); await writing.close() } }
        let daemons = [
            try Daemon(name: "\(scenario.app)-a", environment: try scenario.environment(name: "\(scenario.app)-a")),
            try Daemon(name: "\(scenario.app)-b", environment: try scenario.environment(name: "\(scenario.app)-b")),
        ]
        let started = try #require(try await Self.bothConsuming(daemons, scenario, since: .now), "both courierd consume")
        print("cluster: both courierd consuming \(Self.seconds(started)) after they started")

        let writer = Writer(scenario)
        let writes = Task { try await writer.run(on: writing) }
        var figures: [String] = []

        // 1. The node each courierd consumes through, one at a time (two of three down would
        //    leave the queue without a majority).
        for daemon in daemons {
            let node = try #require(try scenario.node(of: daemon.name), "\(daemon.name)'s consumer connection is on a node")
            let before = await writer.written
            let stopping = ContinuousClock.now
            try TestCluster.stop(node)
            let stopped = ContinuousClock.now - stopping
            let back = try await Self.bothConsuming(daemons, scenario, since: stopping)
            let moved = try scenario.node(of: daemon.name, avoiding: node)
            #expect(moved != nil && moved != node, "\(daemon.name) consumes through another node (was \(node), now \(moved.map(String.init) ?? "none"))")
            #expect(back != nil, "both consume again after node \(node) stopped")
            #expect(await eventually { await writer.written > before + 20 }, "the outbox keeps being written")
            figures.append("node \(node) (\(daemon.name.suffix(1))'s) stopped in \(Self.seconds(stopped)): both consuming again \(Self.seconds(back)) after the stop began")
            try await Self.fullyBack(node, scenario)
        }

        // 2. The quorum leader of events_<app>.
        let leaderName = try #require(try scenario.queueState()?.leader)
        let leader = try #require(try TestCluster.node(named: leaderName), "the leader \(leaderName) is one of ours")
        let stopping = ContinuousClock.now
        try TestCluster.stop(leader)
        let back = try await Self.bothConsuming(daemons, scenario, since: stopping)
        let newLeader = try scenario.queueState(avoiding: leader)?.leader
        #expect(newLeader != nil && newLeader != leaderName, "another node leads the queue (\(newLeader ?? "none"))")
        #expect(back != nil, "both consume again after the leader stopped")
        let during = await writer.written
        #expect(await eventually { (try? await scenario.settled(during, more: true, on: database)) == true }, "what was written before is handled while the old leader is down")
        figures.append("leader node \(leader) stopped: both consuming again \(Self.seconds(back)) after the stop began")
        try await Self.fullyBack(leader, scenario)

        await writer.stop()
        try await writes.value
        let written = await writer.written
        let settling = ContinuousClock.now
        #expect(await eventually { (try? await scenario.settled(written, on: database)) == true }, "all \(written) follows handled")
        figures.append("\(written) events; settled \(Self.seconds(ContinuousClock.now - settling)) after the last was written")
        try await scenario.assertExactlyOnce(written, on: database)
        for daemon in daemons {
            #expect(await daemon.stop() == 0, "\(daemon.name) exits 0: \(daemon.output.suffix(2000))")
            #expect(!daemon.output.contains(try CourierdProcessTests.password(of: try TestEnvironment.databaseURL())), "no password in the log")
        }
        print("cluster failover figures:\n  " + figures.joined(separator: "\n  "))
    }

    @Test("the initial group size places that many replicas; a queue that exists with another size is used as it is, with a notice")
    func initialGroupSize() async throws {
        let scenario = Scenario()
        let connection = try await AMQPConnection.connect(url: try TestCluster.amqpURL())
        let sized = Topology(.init(appName: scenario.app, eventTypes: EventType.allWireNames, quorumInitialGroupSize: 2))
        #expect(try await sized.declare(on: connection).isEmpty)
        let members = try TestCluster.rabbitmqctl(["list_queues", "-q", "--no-table-headers", "-p", try TestCluster.vhost(), "name", "members"])
        let line = try #require(members.split(separator: "\n").first { $0.hasPrefix("\(scenario.queue)\t") })
        #expect(line.split(separator: "@").count - 1 == 2, "two replicas: \(line)")
        #expect(try await sized.declare(on: connection).isEmpty, "declaring again with the same size is a no-op")

        let unsized = Topology(.init(appName: scenario.app, eventTypes: EventType.allWireNames))
        let notices = try await unsized.declare(on: connection)
        #expect(notices.count == 2 + RetrySchedule.standard.delays.count, "one notice per queue of the app: \(notices)")
        #expect(notices.first?.contains("exists with initial group size 2") == true, "\(notices)")
        let grown = Topology(.init(appName: scenario.app, eventTypes: EventType.allWireNames, quorumInitialGroupSize: 3))
        #expect(try await grown.declare(on: connection).count == notices.count)
        await connection.close()
    }

    @Test("the quorum leader stops with messages at rest: the queue keeps every one and courierd drains them from the other nodes")
    func queueKeepsMessages() async throws {
        let scenario = Scenario()
        await SembleFixture.createIfReachable(try TestEnvironment.databaseURL())
        let database = try await Self.connect()
        defer { Task { await database.close() } }
        let connection = try await AMQPConnection.connect(url: try TestCluster.amqpURL())
        try await Topology(.init(appName: scenario.app, eventTypes: EventType.allWireNames)).declare(on: connection)
        await connection.close()
        let publisher = EventPublisher(configuration: PublisherConfiguration(amqp: try AMQPConfiguration(url: try TestCluster.amqpURL()), appID: "cluster-test"))
        let count = 300
        for n in 0..<count { try await publisher.publish(scenario.follow(n)) }
        await publisher.shutdown()
        #expect(await eventually { (try? scenario.queueState())?.messages == count }, "all \(count) confirmed messages are in the queue")

        let leaderName = try #require(try scenario.queueState()?.leader)
        let leader = try #require(try TestCluster.node(named: leaderName))
        try TestCluster.stop(leader)
        var restarted = false
        defer { if !restarted { try? TestCluster.start(leader) } }
        #expect(
            await eventually {
                guard let state = try? scenario.queueState(avoiding: leader) else { return false }
                return state.leader != leaderName && state.messages == count
            }, "another node leads the queue, with every message")

        // The old leader is still down: courierd's node list passes over it.
        let daemon = try Daemon(name: "\(scenario.app)-a", environment: try scenario.environment(name: "\(scenario.app)-a"))
        #expect(await eventually { (try? await scenario.settled(count, on: database)) == true }, "all \(count) handled from the remaining nodes")
        try TestCluster.start(leader)
        restarted = true
        try await scenario.assertExactlyOnce(count, on: database)
        #expect(await daemon.stop() == 0, "exits 0: \(daemon.output.suffix(2000))")
    }
}
