import CourierTesting
import Foundation
import Testing

/// courierd started while Postgres or the broker is down: it starts, says what it waits for on
/// `/health/ready` (503) while `/health/live` answers, and goes on by itself once the dependency
/// is back — no restart needed. It stops the local Postgres or broker, so `make test` runs this
/// suite on its own, after the others.
@Suite("Dependencies down at start-up", .serialized, .tags(.integration))
struct StartupDependencyTests {
    static func environment(app: String) throws -> [String: String] {
        [
            "AMQP_URL": try TestEnvironment.amqpURL(), "DATABASE_URL": try TestEnvironment.databaseURL(), "FLY_APP_NAME": app,
            "COURIER_HTTP_HOST": "127.0.0.1", "COURIER_HTTP_PORT": "0",
        ]
    }

    @Test("Postgres down at start-up: courierd waits, live but not ready, and consumes once Postgres is back")
    func postgresDown() async throws {
        let database = try TestEnvironment.databaseURL()
        await SembleFixture.createIfReachable(database)  // Semble's tables, before the outage
        try TestDatabase.stop()
        var restarted = false
        defer { if !restarted { try? TestDatabase.start() } }
        let run = try await CourierdProcessTests.run(
            environment: try Self.environment(app: TestEnvironment.uniqueName("pgdown")), stopWhen: "HTTP listening",
            timeout: .seconds(300), createSembleTables: false
        ) { output in
            let port = try #require(CourierdProcessTests.httpPort(in: output), "HTTP is up while Postgres is down: \(output)")
            #expect(try await CourierdProcessTests.get(port: port, path: "/health/live").status == 200)
            let waiting = try await CourierdProcessTests.get(port: port, path: "/health/ready")
            #expect(waiting.status == 503)
            #expect(waiting.body.contains("waiting for Postgres"), "\(waiting.body)")
            try TestDatabase.start()
            restarted = true
            #expect(await eventually { (try? await CourierdProcessTests.get(port: port, path: "/health/ready").status) == 200 }, "ready once Postgres is back")
        }
        #expect(run.status == 0, "output: \(run.output)")
        #expect(run.output.contains("cannot prepare the database; waiting for Postgres"))
        #expect(run.output.contains("Postgres is reachable; the database is ready"))
        #expect(run.output.contains("connected to RabbitMQ and Postgres; ready"))
        #expect(!run.output.contains(try CourierdProcessTests.password(of: database)), "no password in the log")
    }

    @Test("the broker down at start-up: courierd waits, live but not ready, and consumes once the broker is back")
    func brokerDown() async throws {
        let amqp = try TestEnvironment.amqpURL()
        _ = try TestBroker.rabbitmqctl(["stop_app"])
        var restarted = false
        defer { if !restarted { _ = try? TestBroker.rabbitmqctl(["start_app"]) } }
        let run = try await CourierdProcessTests.run(
            environment: try Self.environment(app: TestEnvironment.uniqueName("mqdown")), stopWhen: "HTTP listening", timeout: .seconds(300)
        ) { output in
            let port = try #require(CourierdProcessTests.httpPort(in: output), "HTTP is up while the broker is down: \(output)")
            #expect(try await CourierdProcessTests.get(port: port, path: "/health/live").status == 200)
            #expect(
                await eventually {
                    guard let ready = try? await CourierdProcessTests.get(port: port, path: "/health/ready") else { return false }
                    return ready.status == 503 && ready.body.contains("RabbitMQ")
                }, "not ready, and saying it waits for RabbitMQ")
            _ = try TestBroker.rabbitmqctl(["start_app"])
            restarted = true
            #expect(await eventually { (try? await CourierdProcessTests.get(port: port, path: "/health/ready").status) == 200 }, "ready once the broker is back")
        }
        #expect(run.status == 0, "output: \(run.output)")
        #expect(run.output.contains("consuming stopped; reconnecting"))
        #expect(run.output.contains("connected to RabbitMQ and Postgres; ready"))
        #expect(!run.output.contains(try CourierdProcessTests.password(of: amqp)), "no password in the log")
    }
}
