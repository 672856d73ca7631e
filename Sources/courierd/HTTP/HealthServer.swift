import CourierEngine
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization

/// What `/health/ready` reports: ready means connected to both services with the consumer
/// registered and consuming — not merely connected, since "connected but not consuming" is the
/// failure operators most often miss.
///
/// A broker resource alarm (`connection.blocked` on the publishing connection) does not make
/// courierd unready: handled messages are still acked on the consuming connection, and retry or
/// dead-letter copies wait, unlost, until the alarm clears. It is reported in the body and as the
/// gauge `courier_publishing_blocked` (1 while blocked), because it is what an operator must see.
final class HealthState: Sendable {
    private let state = Mutex<(engine: EngineSupervisor.State, publishingBlocked: String?)>((.connecting(attempt: 1), nil))
    private let blockedGauge = Gauge(label: "courier_publishing_blocked")
    /// `courier_ready`: 1 while `/health/ready` would answer 200 — set at every scrape of
    /// `/metrics` (``exportReadiness()``), so it is never older than the scrape.
    private let readyGauge = Gauge(label: "courier_ready")

    init() {
        blockedGauge.record(0)
        readyGauge.record(0)
    }

    /// Sets `courier_ready` from ``isReady``.
    func exportReadiness() { readyGauge.record(isReady ? 1 : 0) }

    func update(_ new: EngineSupervisor.State) { state.withLock { $0.engine = new } }

    /// The broker's reason while it blocks the publishing connection, nil once it unblocks (or
    /// a new publishing connection replaces it).
    func publishingBlocked(_ reason: String?) {
        state.withLock { $0.publishingBlocked = reason }
        blockedGauge.record(reason == nil ? 0 : 1)
    }

    private let relayTrouble = Mutex<String?>(nil)

    /// Why the outbox relay cannot work (nil once it works again): courierd is not ready meanwhile.
    func relay(trouble: String?) { relayTrouble.withLock { $0 = trouble } }

    private let relayOnly = Atomic<Bool>(false)

    /// Why the database is not ready yet (nil once it is): nothing but the HTTP side runs meanwhile.
    private let databaseWait = Mutex<String?>("preparing the database")

    /// The database is not ready (`reason`), or is (nil) — ``DatabaseSetupService``.
    func database(waiting reason: String?) { databaseWait.withLock { $0 = reason } }

    /// `courier.consumer.enabled` is false: courierd runs the outbox relay alone, and is ready
    /// as soon as it serves.
    func consumerDisabled() { relayOnly.store(true, ordering: .relaxed) }

    var isReady: Bool {
        guard databaseWait.withLock({ $0 }) == nil, relayTrouble.withLock({ $0 }) == nil else { return false }
        return relayOnly.load(ordering: .relaxed) || state.withLock { $0.engine == .consuming }
    }

    var summary: String {
        if let waiting = databaseWait.withLock({ $0 }) {
            return "waiting for Postgres: \(waiting)"
        }
        var parts: [String] = []
        if relayOnly.load(ordering: .relaxed) {
            parts.append("outbox relay only (consumer disabled)")
        } else {
            let (engine, blocked) = state.withLock { ($0.engine, $0.publishingBlocked) }
            switch engine {
            case .consuming: parts.append("consuming")
            case .paused(let dependency): parts.append("paused: \(dependency) is unavailable; messages wait in the queue")
            case .connecting(let attempt): parts.append("connecting to RabbitMQ (attempt \(attempt))")
            case .waiting: parts.append("waiting to reconnect to RabbitMQ")
            case .stopped: parts.append("stopped")
            }
            if let blocked { parts.append("publishing blocked by the broker (\(blocked)): retries and dead-letters wait") }
        }
        if let trouble = relayTrouble.withLock({ $0 }) { parts.append("outbox relay failing: \(trouble)") }
        return parts.joined(separator: "; ")
    }
}

/// The HTTP side of courierd: `/health/live`, `/health/ready` and `/metrics` (Prometheus text).
enum HealthServer {
    static func make(
        host: String, port: Int, health: HealthState, registry: PrometheusCollectorRegistry, logger: Logger
    ) -> some Service {
        application(host: host, port: port, health: health, registry: registry, logger: logger)
    }

    /// The application itself, which HummingbirdTesting drives in process (`HealthEndpointTests`).
    static func application(
        host: String, port: Int, health: HealthState, registry: PrometheusCollectorRegistry, logger: Logger
    ) -> some ApplicationProtocol & Service {
        let router = Router()
        router.get("health/live") { _, _ in
            "alive\n"
        }
        router.get("health/ready") { _, _ -> Response in
            let ready = health.isReady
            return Response(
                status: ready ? .ok : .serviceUnavailable,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: (ready ? "ready: " : "not ready: ") + health.summary + "\n")))
        }
        router.get("metrics") { _, _ -> Response in
            health.exportReadiness()
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "courierd"),
            onServerRunning: { channel in
                logger.info("HTTP listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
            },
            logger: logger)
    }
}
