import CourierEvents
import CourierPostgres
import CourierTesting
import Foundation
import Hummingbird
import Synchronization
import Testing

/// courierd with `OTEL_TRACES_EXPORTER=otlp`: the spans of an event the API wrote into the outbox
/// with a W3C trace context reach an OTLP/HTTP receiver, in that trace.
@Suite("OTLP export", .serialized, .tags(.integration))
struct OTLPExportTests {
    /// Collects what courierd POSTs to `/v1/traces`.
    final class Receiver: Sendable {
        let bodies = Mutex<[UInt8]>([])
        let port = Mutex<Int?>(nil)
        let requests = Mutex(0)
        /// Why the server stopped, when it did: the test says so instead of only "not listening".
        let failure = Mutex<String?>(nil)

        func run() async {
            do {
                try await serve()
                failure.withLock { $0 = $0 ?? "the server returned" }
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
        }

        func serve() async throws {
            let router = Router()
            router.post("/v1/traces") { request, _ -> Response in
                let body = try await request.body.collect(upTo: 64 << 20)
                self.bodies.withLock { $0 += Array(buffer: body) }
                self.requests.withLock { $0 += 1 }
                return Response(status: .ok, headers: [.contentType: "application/x-protobuf"])
            }
            let app = Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in self.port.withLock { $0 = channel.localAddress?.port } })
            try await app.runService()
        }

        func contains(_ bytes: [UInt8]) -> Bool {
            bodies.withLock { body in
                guard body.count >= bytes.count, !bytes.isEmpty else { return false }
                return (0...(body.count - bytes.count)).contains { body[$0..<($0 + bytes.count)].elementsEqual(bytes) }
            }
        }
    }

    static func bytes(hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    @Test("an outbox row's trace continues through the relay's publish to the handler's span, exported over OTLP/HTTP")
    func exportsTheTrace() async throws {
        let receiver = Receiver()
        let server = Task { await receiver.run() }
        defer { server.cancel() }
        // Generous: with the whole suite beside it on two busy cores, starting took over 60 s once.
        let started = await eventually(.seconds(180)) { receiver.port.withLock { $0 } != nil || receiver.failure.withLock { $0 } != nil }
        try #require(started && receiver.port.withLock { $0 } != nil, "the receiver listens: \(receiver.failure.withLock { $0 } ?? "not yet")")
        let port = try #require(receiver.port.withLock { $0 })

        let vhost = try TestBroker.makeVhost()
        defer { TestBroker.deleteVhost(vhost.name) }
        let database = try await OwnDatabase.make()
        defer { Task { await database.drop() } }
        let app = TestEnvironment.uniqueName("otlp")
        let traceID = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let parentSpan = "00f067aa0ba902b7"
        let environment = [
            "AMQP_URL": vhost.url, "DATABASE_URL": database.url, "FLY_APP_NAME": app,
            "COURIER_HTTP_PORT": "0", "COURIER_HTTP_HOST": "127.0.0.1", "COURIER_RELAY_POLL_INTERVAL": "200ms",
            "OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(port)",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_SERVICE_NAME": "courierd-\(app)",
            // An API key, as a collector would want one: swift-otel logs each OTEL_* value it reads.
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer otlp-secret-\(app)", "OTEL_LOG_LEVEL": "debug",
        ]
        let postgres = try await PostgresConnection.connect(try SembleFixture.courierdView(database.url))
        let run = try await CourierdProcessTests.run(environment: environment, stopWhen: "ready", timeout: .seconds(300)) { _ in
            // What the API's outbox wrote in the request's transaction (a W3C tracer bootstrapped there).
            let id = UUID().uuidString.lowercased()
            try await postgres.execute(
                """
                INSERT INTO event_store (id, aggregate_id, event_type, event_data, timestamp, trace_context)
                VALUES ($1::uuid, 'follow-otlp', 'USER_FOLLOWED_TARGET', $2::jsonb, now(), $3::jsonb)
                """,
                [
                    id,
                    #"{"eventType":"USER_FOLLOWED_TARGET","aggregateId":"follow-otlp","dateTimeOccurred":"2026-11-28T10:15:30.000Z","followId":"follow-otlp","followerId":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","targetId":"did:plc:7iza6de2dwap2sbkpav7c6c6","targetType":"USER","createdAt":"2026-11-28T10:15:30.000Z"}"#,
                    #"{"traceparent":"00-\#(traceID)-\#(parentSpan)-01"}"#,
                ])
            // OTLP protobuf carries ids as raw bytes and names as UTF-8.
            let exported = await eventually(.seconds(120)) {
                receiver.contains(Self.bytes(hex: traceID)) && receiver.contains(Array("notifications \(EventType.userFollowedTarget.rawValue)".utf8))
                    && receiver.contains(Array("publish USER_FOLLOWED_TARGET".utf8)) && receiver.contains(Self.bytes(hex: parentSpan))
            }
            if !exported {
                let dump = FileManager.default.temporaryDirectory.appendingPathComponent("otlp-\(app).bin")
                try? Data(receiver.bodies.withLock { $0 }).write(to: dump)
                Issue.record("the relay's and the handler's spans of the trace did not all reach the receiver (\(receiver.requests.withLock { $0 }) requests, bodies in \(dump.path))")
            }
            #expect(receiver.contains(Array(id.utf8)), "with the event id as an attribute")
            #expect(receiver.contains(Array("courierd-\(app)".utf8)), "under OTEL_SERVICE_NAME")
        }
        await postgres.close()
        #expect(run.status == 0, "output: \(run.output.suffix(3000))")
        let lines = run.output.split(separator: "\n")
        let broken = lines.filter { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) == nil }
        #expect(broken.isEmpty, "swift-otel's messages too are JSON lines: \(broken.prefix(3))")
        let url = URLComponents(string: vhost.url)
        if let password = url?.password { #expect(!run.output.contains(password)) }
        #expect(run.output.contains("OTEL_EXPORTER_OTLP_TRACES_HEADERS"), "swift-otel logged the setting, through courierd's logger")
        #expect(!run.output.contains("otlp-secret-\(app)"), "but never the OTLP headers' value")
    }
}
