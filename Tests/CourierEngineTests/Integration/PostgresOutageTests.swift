import CourierAMQP
import CourierEngine
import CourierPostgres
import CourierTesting
import Foundation
import Logging
import Testing

/// A handler that writes each event's id to Postgres, and says so when Postgres is unreachable.
struct PostgresWritingHandler: DeliveryHandler {
    let name = "postgres-writer"
    let pool: PostgresPool
    let table: String

    func handle(_ deliveries: [AMQPDelivery]) async -> [HandlingOutcome] {
        let ids = deliveries.map { $0.properties.messageID ?? "?" }
        do {
            try await pool.withConnection { connection in
                _ = try await connection.execute(
                    "INSERT INTO \(table) (id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", [ids])
            }
            return Array(repeating: .handled, count: deliveries.count)
        } catch let error as PostgresError where error.code == .connectionFailed || error.code == .connectionClosed {
            return Array(repeating: .dependencyUnavailable(dependency: "postgres"), count: deliveries.count)
        } catch {
            let failure = HandlingFailure(errorClass: "PostgresError", message: "\(error)", handler: name)
            return Array(repeating: .transientFailure(failure), count: deliveries.count)
        }
    }

    func unavailableDependency() async -> String? {
        do {
            try await pool.withConnection { _ = try await $0.query("SELECT 1") }
            return nil
        } catch {
            return "postgres"
        }
    }
}

/// Stops the local Postgres cluster under a consuming engine. It takes the database away from
/// every test, so `make test` runs this suite on its own, after the others.
@Suite("Postgres outage", .tags(.integration))
struct PostgresOutageTests {
    @Test("a Postgres outage dead-letters nothing; consuming resumes when it is back")
    func outage() async throws {
        let amqpURL = try TestEnvironment.amqpURL()
        let pool = PostgresPool(
            configuration: try PostgresConfiguration(url: try TestEnvironment.databaseURL()), maximumConnections: 2,
            logger: Logger(label: "test"))
        let table = TestEnvironment.uniqueName("handled")
        try await pool.withConnection { _ = try await $0.execute("CREATE TABLE \(table) (id text PRIMARY KEY)") }

        let eventType = TestEnvironment.uniqueName("OutageEvent")
        // Retries faster than the outage lasts: if the outage spent retries, it would dead-letter.
        let topology = Topology(
            .init(appName: TestEnvironment.uniqueName("pgout"), retrySchedule: RetrySchedule(delays: [.milliseconds(100)]), eventTypes: [eventType]))
        var settings = ConsumerEngine.Settings()
        settings.pause = .milliseconds(300)
        let supervisor = EngineSupervisor(
            topology: topology, handler: PostgresWritingHandler(pool: pool, table: table), settings: settings,
            logger: Logger(label: "test")
        ) {
            (try await AMQPConnection.connect(url: amqpURL), try await AMQPConnection.connect(url: amqpURL))
        }
        let states = StateLog()
        let task = Task { await supervisor.run { states.append($0) } }
        #expect(await eventually { states.consumingCount >= 1 })

        let publisher = try await AMQPConnection.connect(url: amqpURL)
        let channel = try await publisher.openChannel()
        try await channel.confirmSelect()
        func publish(_ range: Range<Int>) async {
            for i in range {
                channel.publish(
                    Array("{}".utf8), exchange: Topology.exchangeName, routingKey: eventType,
                    properties: AMQPProperties(deliveryMode: .persistent, messageID: "pg-\(i)")
                ) { outcome in
                    if case .success(.acked) = outcome { return }
                    Issue.record("publish of pg-\(i) was not acked: \(outcome)")
                }
            }
            await channel.waitForConfirms()
        }
        func count() async -> Int {
            (try? await pool.withConnection { try await $0.query("SELECT count(*) FROM \(table)").first?.decode(Int.self, column: 0) }) ?? -1
        }

        await publish(0..<100)
        #expect(await eventually { await count() == 100 })

        try TestDatabase.stop()
        await publish(100..<200)  // arrive while Postgres is down
        try await Task.sleep(for: .seconds(3))  // many retry periods long
        try TestDatabase.start()

        #expect(await eventually { await count() == 200 }, "every event applied after the outage")
        let dead = try await channel.declareQueuePassive(topology.deadLetterQueue).messageCount
        #expect(dead == 0, "the outage dead-lettered \(dead) events")
        task.cancel()
        await task.value
        await publisher.close()
        await pool.close()
    }
}
