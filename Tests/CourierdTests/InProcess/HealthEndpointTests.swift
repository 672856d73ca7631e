import CourierEngine
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import Prometheus
import Testing

@testable import courierd

/// `/health/live`, `/health/ready` and `/metrics` in process, through HummingbirdTesting's router
/// client: every state courierd can be in, without a broker, a database or a port. The process
/// tests (`CourierdProcessTests`) check the same endpoints on a running courierd.
@Suite("Health endpoints, in process")
struct HealthEndpointTests {
    static func application(_ health: HealthState, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) -> some ApplicationProtocol {
        HealthServer.application(host: "127.0.0.1", port: 0, health: health, registry: registry, logger: Logger(label: "test"))
    }

    static func get(_ path: String, from health: HealthState, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) async throws -> (HTTPResponse.Status, String) {
        try await application(health, registry: registry).test(.router) { client in
            try await client.execute(uri: path, method: .get) { response in
                (response.status, String(buffer: response.body))
            }
        }
    }

    @Test("live answers whatever the state; ready is 503 until the database is prepared and the consumer consumes")
    func readiness() async throws {
        let health = HealthState()
        #expect(try await Self.get("/health/live", from: health) == (.ok, "alive\n"))
        var (status, body) = try await Self.get("/health/ready", from: health)
        #expect(status == .serviceUnavailable && body == "not ready: waiting for Postgres: preparing the database\n")

        health.database(waiting: nil)
        (status, body) = try await Self.get("/health/ready", from: health)
        #expect(status == .serviceUnavailable && body.contains("connecting to RabbitMQ (attempt 1)"), "\(body)")

        health.update(.consuming)
        (status, body) = try await Self.get("/health/ready", from: health)
        #expect(status == .ok && body == "ready: consuming\n")

        health.publishingBlocked("memory alarm")
        (status, body) = try await Self.get("/health/ready", from: health)
        #expect(status == .ok && body.contains("publishing blocked by the broker (memory alarm)"), "blocked is reported, not unready: \(body)")
        health.publishingBlocked(nil)

        health.update(.paused(dependency: "postgres"))
        (status, body) = try await Self.get("/health/ready", from: health)
        #expect(status == .serviceUnavailable && body.contains("paused: postgres is unavailable"), "\(body)")

        health.update(.consuming)
        health.relay(trouble: "event_store is missing")
        (status, body) = try await Self.get("/health/ready", from: health)
        #expect(status == .serviceUnavailable && body.contains("outbox relay failing: event_store is missing"), "\(body)")
    }

    @Test("with the consumer disabled, the relay alone makes courierd ready")
    func relayOnly() async throws {
        let health = HealthState()
        health.consumerDisabled()
        health.database(waiting: nil)
        let (status, body) = try await Self.get("/health/ready", from: health)
        #expect(status == .ok && body == "ready: outbox relay only (consumer disabled)\n")
    }

    @Test("/metrics is the registry's Prometheus text")
    func metrics() async throws {
        let registry = PrometheusCollectorRegistry()
        registry.makeGauge(name: "courier_test_gauge").set(Double(42))
        let (status, body) = try await Self.get("/metrics", from: HealthState(), registry: registry)
        #expect(status == .ok)
        #expect(body.contains("courier_test_gauge 42"), "\(body)")
    }
}
