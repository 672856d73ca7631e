import CourierEngine
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// What `/health/ready` reports: ready means connected to both services with the consumer
/// registered and consuming — not merely connected, since "connected but not consuming" is the
/// failure operators most often miss.
final class HealthState: Sendable {
    private let state = Mutex<EngineSupervisor.State>(.connecting(attempt: 1))

    func update(_ new: EngineSupervisor.State) { state.withLock { $0 = new } }

    var isReady: Bool { state.withLock { $0 == .consuming } }

    var summary: String {
        switch state.withLock({ $0 }) {
        case .consuming: "consuming"
        case .connecting(let attempt): "connecting (attempt \(attempt))"
        case .waiting: "waiting to reconnect"
        case .stopped: "stopped"
        }
    }
}

/// The HTTP side of courierd: `/health/live`, `/health/ready` and `/metrics` (Prometheus text).
enum HealthServer {
    static func make(
        host: String, port: Int, health: HealthState, registry: PrometheusCollectorRegistry, logger: Logger
    ) -> some Service {
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
            Response(
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
