import CourierAMQP
import CourierEvents
import CourierPostgres
import CourierPublisher
import CourierTesting
import Foundation
import Testing

/// Every connection courierd holds is taken away in turn — the consuming one, the one for retry
/// and dead-letter copies, the outbox relay's, and every Postgres session — and the same process
/// comes back each time: an event written to the outbox is relayed and handled, a poison message
/// is parked, and `/health/ready` says ready again. Waits are on those events, with budgets a
/// loaded machine cannot overrun.
@Suite("courierd recovers every connection without a restart", .tags(.integration))
struct ConnectionRecoveryTests {
    @Test("consuming, copies, relay and Postgres connections killed in turn: one process handles and parks throughout")
    func everyConnectionRecovers() async throws {
        // A vhost and a database of its own: no other test's courierd relays these outbox rows
        // or consumes these events.
        let vhost = try TestBroker.makeVhost()
        defer { TestBroker.deleteVhost(vhost.name) }
        let database = try await OwnDatabase.make()
        defer { Task { await database.drop() } }

        let name = TestEnvironment.uniqueName("recovering")
        let app = TestEnvironment.uniqueName("recover")
        let separator = vhost.url.contains("?") ? "&" : "?"
        let environment = [
            "AMQP_URL": vhost.url + separator + "connection_name=\(name)", "DATABASE_URL": database.url, "FLY_APP_NAME": app,
            "COURIER_HTTP_PORT": "0", "COURIER_HTTP_HOST": "127.0.0.1", "COURIER_RELAY_POLL_INTERVAL": "200ms",
        ]
        let postgres = try await PostgresConnection.connect(try SembleFixture.courierdView(database.url))
        let broker = try await AMQPConnection.connect(url: vhost.url)
        let run = try await CourierdProcessTests.run(environment: environment, stopWhen: "ready", timeout: .seconds(900)) { output in
            let port = try #require(CourierdProcessTests.httpPort(in: output))
            let check = RoundTrip(postgres: postgres, broker: broker, deadLetterQueue: "events_\(app).dlq", port: port)
            try await check.run("before any kill")

            #expect(try TestBroker.closeConnections(named: name) == 1, "the consuming connection")
            try await check.run("after the consuming connection was closed")

            #expect(try TestBroker.closeConnections(named: "\(name)-publish") == 1, "the copies' connection")
            try await check.run("after the copies' connection was closed")

            #expect(try TestBroker.closeConnections(named: "\(name)-relay") == 1, "the relay's connection")
            try await check.run("after the relay's connection was closed")

            let killed = try await postgres.query(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            #expect(try killed[0].decode(Int64.self, column: 0) >= 2, "courierd's Postgres sessions")
            try await check.run("after every Postgres session was terminated")
        }
        await broker.close()
        await postgres.close()
        #expect(run.status == 0, "output: \(run.output.suffix(3000))")
        #expect(run.output.components(separatedBy: "courierd starting").count == 2, "one process from start to end")
    }

    /// One event through the outbox, the relay, the broker and the handlers; one poison message
    /// into the dead-letter queue; and readiness.
    struct RoundTrip {
        let postgres: PostgresConnection
        let broker: AMQPConnection
        let deadLetterQueue: String
        let port: Int

        func run(_ stage: String) async throws {
            let id = UUID().uuidString.lowercased()
            let run = TestEnvironment.uniqueName("r")
            let at = Date(timeIntervalSince1970: 1_795_000_000)
            let event = EventEnvelope(
                id: id, aggregateId: "card-\(run)", occurredAt: at,
                event: .cardAddedToLibrary(.init(cardId: "card-\(run)", curatorId: testDID(run), addedAt: at)))
            try await postgres.withTransaction { transaction in try Outbox.enqueue(event, in: transaction) }

            let poison = "poison-\(run)"
            let channel = try await broker.openChannel()
            try await channel.confirmSelect()
            let outcome = try await channel.publish(
                Array("{not json".utf8), exchange: "domain_events", routingKey: "CardAddedToLibraryEvent",
                properties: AMQPProperties(deliveryMode: .persistent, messageID: poison), mandatory: true)
            #expect(outcome == .acked, "\(stage): the poison message was routed")

            let handled = await eventually(.seconds(120)) {
                guard let rows = try? await postgres.query("SELECT count(*) FROM courier_inbox WHERE event_id = $1", [id]),
                    let count = try? rows[0].decode(Int64.self, column: 0)
                else { return false }
                return count >= 1
            }
            #expect(handled, "\(stage): the outbox event was relayed and handled")

            var parked = false
            _ = await eventually(.seconds(120)) {
                while let message = try? await channel.get(queue: deadLetterQueue, noAck: true) {
                    if message.properties.messageID == poison { parked = true }
                }
                return parked
            }
            #expect(parked, "\(stage): the poison message was parked")
            try await channel.close()

            let ready = await eventually(.seconds(120)) {
                (try? await CourierdProcessTests.get(port: port, path: "/health/ready"))?.status == 200
            }
            #expect(ready, "\(stage): ready again")
        }
    }
}

/// A database of its own beside the run's, named like it with more hex digits so that
/// `with-test-env.sh` removes it with the run's leftovers if the test is killed.
struct OwnDatabase {
    let name: String
    let url: String
    let admin: PostgresConnection

    static func make() async throws -> OwnDatabase {
        let runURL = try TestEnvironment.databaseURL()
        var components = try #require(URLComponents(string: runURL))
        let run = String(components.path.dropFirst())
        let name = run + UUID().uuidString.prefix(6).lowercased()
        let admin = try await PostgresConnection.connect(try PostgresConfiguration(url: runURL))
        try await admin.execute("CREATE DATABASE \"\(name)\"")
        components.path = "/" + name
        return OwnDatabase(name: name, url: try #require(components.string), admin: admin)
    }

    func drop() async {
        _ = try? await admin.execute("DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)")
        await admin.close()
    }
}
