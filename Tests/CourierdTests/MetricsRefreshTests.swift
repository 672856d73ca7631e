import CourierAMQP
import CourierEvents
import CourierPostgres
import CourierPublisher
import CourierTesting
import Foundation
import Testing

/// The gauges `MetricsRefreshService` refreshes, read from a running courierd's `/metrics`: the
/// dead-letter queue's depth once a malformed message is parked, the failure index by error
/// class, the outbox backlog and age with the relay off, readiness — and the broker half coming
/// back by itself after its connection is closed under it; a deleted queue reads 0 without hiding
/// the others. Every wait polls `/metrics`.
@Suite("courierd refreshes the queue, outbox and failure-index gauges", .tags(.integration))
struct MetricsRefreshTests {
    @Test("DLQ depth, parked by error class, outbox backlog and age, ready; the metrics connection reconnects by itself")
    func gaugesFollowTheBrokerAndTheDatabase() async throws {
        // A vhost and a database of their own: another test's courierd would relay these outbox
        // rows, and its queue would get a copy of the malformed message.
        let vhost = try TestBroker.makeVhost()
        defer { TestBroker.deleteVhost(vhost.name) }
        let database = try await OwnDatabase.make()
        await SembleFixture.createIfReachable(database.url)
        let amqp = vhost.url
        let app = TestEnvironment.uniqueName("metrics")
        let name = TestEnvironment.uniqueName("metricsconn")
        let separator = amqp.contains("?") ? "&" : "?"
        let daemon = try Daemon(
            name: "metrics",
            environment: [
                "AMQP_URL": amqp + separator + "connection_name=\(name)", "DATABASE_URL": database.url, "FLY_APP_NAME": app,
                "COURIER_HTTP_HOST": "127.0.0.1", "COURIER_HTTP_PORT": "0",
                "COURIER_RELAY_ENABLED": "false", "COURIER_METRICS_REFRESH_INTERVAL": "200ms",
            ])
        let postgres = try await PostgresConnection.connect(try SembleFixture.courierdView(database.url))
        let broker = try await AMQPConnection.connect(url: amqp)
        do {
            #expect(await eventually { await daemon.isReady() }, "courierd is ready: \(daemon.output.suffix(2000))")
            let port = try #require(LocalHTTP.courierdPort(inLog: daemon.output))
            func metrics() async -> MetricsText {
                MetricsText((try? await LocalHTTP.get(port: port, path: "/metrics"))?.body ?? "")
            }

            // Three outbox rows an hour old, which nothing publishes (the relay is off).
            let occurred = Date().addingTimeInterval(-3600)
            try await postgres.withTransaction { transaction in
                for index in 0..<3 {
                    let run = "\(app)-\(index)"
                    let event = EventEnvelope(
                        id: UUID().uuidString.lowercased(), aggregateId: "card-\(run)", occurredAt: occurred,
                        event: .cardAddedToLibrary(.init(cardId: "card-\(run)", curatorId: testDID(run), addedAt: occurred)))
                    try Outbox.enqueue(event, in: transaction)
                }
            }
            // Two pending card-activity bundles not due for years (the flusher leaves them), one of
            // them with a failed flush behind it.
            try await postgres.execute(
                """
                INSERT INTO card_activity_bundles (bundle_id, card_id, actor_id, opened_at, due_at, attempts, last_error) VALUES
                    ($1 || '-a', 'card-a', 'did:plc:a', now(), now() + interval '10 years', 0, NULL),
                    ($1 || '-b', 'card-b', 'did:plc:b', now(), now() + interval '10 years', 3, 'test: a failed flush')
                """, [app])
            // A malformed message: parked at once.
            let channel = try await broker.openChannel()
            try await channel.confirmSelect()
            let outcome = try await channel.publish(
                Array("{not json".utf8), exchange: "domain_events", routingKey: "CardAddedToLibraryEvent",
                properties: AMQPProperties(deliveryMode: .persistent, messageID: "poison-\(app)"), mandatory: true)
            #expect(outcome == .acked)
            try await channel.close()

            var errorClass: String?
            _ = await eventually {
                let rows = try? await postgres.query("SELECT error_class FROM courier_failures WHERE status = 'parked'")
                errorClass = try? rows?.first?.decode(String.self, column: 0)
                return errorClass != nil
            }
            let parkedClass = try #require(errorClass, "the malformed message reached the failure index: \(daemon.output.suffix(2000))")

            let dlq = "events_\(app).dlq"
            var last = MetricsText("")
            let seen = await eventually {
                last = await metrics()
                return last.value("courier_queue_messages", ["queue": dlq, "role": "dead_letter"]) == 1
                    && last.value("courier_parked_messages", ["error_class": parkedClass]) == 1
                    && last.value("courier_outbox_backlog") == 3
                    && (last.value("courier_outbox_oldest_age_seconds") ?? 0) >= 3500
                    && last.value("courier_ready") == 1
                    && last.value("courier_pending_bundles") == 2 && last.value("courier_bundles_failing") == 1
            }
            #expect(last.value("courier_bundles_overdue_seconds") == 0, "none is due yet")
            #expect(seen, "the gauges show the parked message and the outbox: \(last.samples.filter { $0.name.hasPrefix("courier_") })")
            #expect(last.value("courier_queue_consumers", ["queue": "events_\(app)", "role": "app"]) == 1)
            #expect(last.value("courier_queue_messages", ["queue": "events_\(app)", "role": "app"]) == 0)
            #expect(last.value("courier_queue_messages", ["queue": "domain_events.unrouted", "role": "unrouted"]) != nil)
            #expect(
                Set(last.all("courier_queue_messages").filter { $0.labels["role"] == "retry" }.map { $0.labels["queue"] ?? "" })
                    == ["events_\(app).retry.5s", "events_\(app).retry.30s", "events_\(app).retry.2m", "events_\(app).retry.10m"])
            #expect(last.value("courier_metrics_refresh_errors_total", ["source": "postgres"]) == 0)
            #expect(last.value("courier_metrics_refreshed_timestamp_seconds", ["source": "postgres"]) ?? 0 > 0)
            #expect(last.value("courier_reconnects_total") == 0, "present before any reconnect")
            // Every metric deploy/observability/ relies on is exported (list: ``Observability``).
            let missing = Observability.exportedMetrics.subtracting(last.names)
            #expect(missing.isEmpty, "courierd exports every metric the dashboard and the alerts use; missing: \(missing.sorted())")
            #expect(
                Observability.metricNames(in: last.names.joined(separator: " ")).subtracting(Observability.exportedMetrics).isEmpty,
                "and no other: the list in ObservabilityTests.swift and the README's table are complete")
            // The retried or parked delivery counts under its type, not `other`.
            #expect(last.value("courier_outcomes_total", ["event_type": "CardAddedToLibraryEvent", "outcome": "dead_lettered"]) == 1)

            // Its broker connection closed under it: the next refreshes open another one.
            #expect(try TestBroker.closeConnections(named: "\(name)-metrics") == 1, "the metrics connection")
            let closedAt = Date().timeIntervalSince1970
            let back = await eventually {
                let now = await metrics()
                return (now.value("courier_metrics_refreshed_timestamp_seconds", ["source": "broker"]) ?? 0) > closedAt + 0.5
            }
            #expect(back, "the broker gauges are refreshed again after the connection was closed: \(daemon.output.suffix(2000))")

            // A missing queue reads 0 and does not hide the others: the DLQ (holding the parked
            // message) deleted, an event no queue binds published (kept in the unrouted queue).
            // The close above fails the refresh it interrupts, when it lands in one (more likely on
            // a busy machine): count from here.
            let errorsBefore = await metrics().value("courier_metrics_refresh_errors_total", ["source": "broker"]) ?? 0
            let admin = try await broker.openChannel()
            try await admin.confirmSelect()
            #expect(try await admin.deleteQueue(dlq) == 1)
            let unrouted = try await admin.publish(
                Array("{}".utf8), exchange: "domain_events", routingKey: "NoQueueBindsThis\(app)",
                properties: AMQPProperties(deliveryMode: .persistent), mandatory: true)
            #expect(unrouted == .acked)
            try await admin.close()
            let refreshed = await eventually {
                last = await metrics()
                return last.value("courier_queue_messages", ["queue": dlq, "role": "dead_letter"]) == 0
                    && last.value("courier_queue_messages", ["queue": "domain_events.unrouted", "role": "unrouted"]) == 1
            }
            #expect(refreshed, "the deleted DLQ reads 0, the unrouted queue 1: \(last.all("courier_queue_messages"))")
            #expect(last.value("courier_queue_messages", ["queue": "events_\(app).retry.5s", "role": "retry"]) == 0)
            #expect(last.value("courier_metrics_refresh_errors_total", ["source": "broker"]) == errorsBefore, "a missing queue is not a failed refresh")

            let output = daemon.output
            #expect(output.components(separatedBy: "metrics refresh failed").count <= 2, "logged once per outage: \(output.suffix(3000))")
            if let password = URLComponents(string: amqp)?.password, password.count >= 4 {
                #expect(!output.contains(password), "no password in the log")
            }
        } catch {
            Issue.record("\(error)")
        }
        await broker.close()
        await postgres.close()
        #expect(await daemon.stop() == 0, "exits 0 on SIGTERM: \(daemon.output.suffix(2000))")
        await database.drop()
    }

    @Test("an unreachable broker: each failed refresh counted, logged once, never with the password; Postgres still refreshed")
    func unreachableBroker() async throws {
        let database = try TestEnvironment.databaseURL()
        await SembleFixture.createIfReachable(database)
        // The run's credentials, on a port nothing listens on: refused at once, every interval.
        var amqp = try #require(URLComponents(string: try TestEnvironment.amqpURL()))
        amqp.port = try PrometheusScrapeTests.freePort()
        let password = amqp.password ?? ""
        let daemon = try Daemon(
            name: "metrics-nobroker",
            environment: [
                "AMQP_URL": try #require(amqp.string), "DATABASE_URL": database, "FLY_APP_NAME": TestEnvironment.uniqueName("nobroker"),
                "COURIER_HTTP_HOST": "127.0.0.1", "COURIER_HTTP_PORT": "0",
                "COURIER_RELAY_ENABLED": "false", "COURIER_METRICS_REFRESH_INTERVAL": "100ms",
            ])
        var last = MetricsText("")
        let counted = await eventually {
            guard let port = LocalHTTP.courierdPort(inLog: daemon.output),
                let body = try? await LocalHTTP.get(port: port, path: "/metrics").body
            else { return false }
            last = MetricsText(body)
            return (last.value("courier_metrics_refresh_errors_total", ["source": "broker"]) ?? 0) >= 5
                && (last.value("courier_metrics_refreshed_timestamp_seconds", ["source": "postgres"]) ?? 0) > 0
        }
        #expect(counted, "failed broker refreshes are counted, Postgres is refreshed: \(last.samples.filter { $0.name.hasPrefix("courier_metrics") })")
        #expect(last.value("courier_metrics_refreshed_timestamp_seconds", ["source": "broker"]) == 0, "never refreshed reads 0")
        #expect(last.value("courier_ready") == 0)
        let output = daemon.output
        #expect(output.components(separatedBy: "metrics refresh failed").count == 2, "logged once for the outage: \(output.suffix(3000))")
        if password.count >= 4 { #expect(!output.contains(password), "no password in the log") }
        #expect(await daemon.stop() == 0, "exits 0 on SIGTERM while the broker is unreachable: \(daemon.output.suffix(2000))")
    }
}
