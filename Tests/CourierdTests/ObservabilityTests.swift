import CourierTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What deploy/observability/ relies on, in one place: the files, and every metric courierd
/// exports (checked against a running courierd's `/metrics` by ``MetricsRefreshTests``).
enum Observability {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let directory = repository.appendingPathComponent("deploy/observability")
    static let dashboard = directory.appendingPathComponent("grafana-dashboard.json")
    static let rules = directory.appendingPathComponent("prometheus-alerts.yml")

    /// Every metric courierd exports (the README's "Metrics" table lists the same).
    static let exportedMetrics: Set<String> = [
        "courier_deliveries_total", "courier_outcomes_total", "courier_handling_duration_seconds", "courier_in_flight",
        "courier_last_delivery_timestamp_seconds", "courier_reconnects_total", "courier_publishing_blocked", "courier_ready",
        "courier_queue_messages", "courier_queue_consumers", "courier_outbox_backlog", "courier_outbox_oldest_age_seconds",
        "courier_parked_messages", "courier_metrics_refresh_errors_total", "courier_metrics_refreshed_timestamp_seconds",
        "courier_pending_bundles", "courier_bundles_overdue_seconds", "courier_bundles_failing",
    ]

    /// Series Prometheus itself adds to every scrape target.
    static let prometheusSeries: Set<String> = ["up"]

    /// The metric names in PromQL (or any text): identifiers starting `courier_`, plus `up`;
    /// a histogram's `_bucket`, `_sum` and `_count` series under the histogram's name.
    static func metricNames(in text: String) -> Set<String> {
        var names: Set<String> = []
        var current = ""
        func flush() {
            if current.hasPrefix("courier_") || current == "up" {
                var name = current
                for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) && name.hasPrefix("courier_handling_duration_seconds") {
                    name = String(name.dropLast(suffix.count))
                }
                names.insert(name)
            }
            current = ""
        }
        for character in text {
            if character.isASCII, character.isLetter || character.isNumber || character == "_" || character == ":" {
                current.append(character)
            } else {
                flush()
            }
        }
        flush()
        return names
    }

    /// The `expr` of every target of every panel of the dashboard.
    static func dashboardExpressions() throws -> [String] {
        let root = try JSONSerialization.jsonObject(with: try Data(contentsOf: dashboard)) as? [String: Any] ?? [:]
        let panels = root["panels"] as? [[String: Any]] ?? []
        return panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
    }

    /// Where `make test` puts Debian's prometheus (deploy/local/prometheus.sh), or
    /// `COURIER_TEST_PROMETHEUS`; nil when neither exists.
    static var prometheusBinary: String? {
        let candidates: [String?] = [
            ProcessInfo.processInfo.environment["COURIER_TEST_PROMETHEUS"],
            repository.appendingPathComponent(".local/prometheus/usr/bin/prometheus").path,
        ]
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

@Suite("deploy/observability: the dashboard and the alerting rules")
struct ObservabilityFileTests {
    @Test("the Grafana dashboard parses, has panels with a datasource and PromQL targets, and uses only metrics courierd exports")
    func dashboard() throws {
        let data = try Data(contentsOf: Observability.dashboard)
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect((root["schemaVersion"] as? Int ?? 0) >= 36)
        #expect(root["title"] as? String == "Courier")
        let variables = (root["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        #expect(variables.contains { $0["name"] as? String == "datasource" && $0["type"] as? String == "datasource" && $0["query"] as? String == "prometheus" })
        let panels = try #require(root["panels"] as? [[String: Any]])
        let graphs = panels.filter { $0["type"] as? String != "row" }
        #expect(graphs.count >= 15)
        var used: Set<String> = []
        var ids: Set<Int> = []
        for panel in graphs {
            let title = panel["title"] as? String ?? "?"
            #expect(!title.isEmpty)
            if let id = panel["id"] as? Int { #expect(ids.insert(id).inserted, "panel ids are unique: \(title)") }
            #expect(((panel["datasource"] as? [String: Any])?["uid"] as? String) == "${datasource}", "\(title) uses the datasource variable")
            let grid = panel["gridPos"] as? [String: Int] ?? [:]
            #expect((grid["w"] ?? 0) > 0 && (grid["h"] ?? 0) > 0 && (grid["x"] ?? 0) + (grid["w"] ?? 0) <= 24, "\(title) has a place on the grid")
            let targets = try #require(panel["targets"] as? [[String: Any]], "\(title) has targets")
            #expect(!targets.isEmpty, "\(title) has targets")
            for target in targets {
                let expr = try #require(target["expr"] as? String, "\(title): every target has an expr")
                let names = Observability.metricNames(in: expr)
                #expect(!names.isEmpty, "\(title): '\(expr)' reads a metric")
                used.formUnion(names)
            }
        }
        let unknown = used.subtracting(Observability.exportedMetrics.union(Observability.prometheusSeries))
        #expect(unknown.isEmpty, "the dashboard reads metrics courierd does not export: \(unknown.sorted())")
        // Every exported metric is on the dashboard.
        #expect(Observability.exportedMetrics.subtracting(used).isEmpty, "not on the dashboard: \(Observability.exportedMetrics.subtracting(used).sorted())")
    }

    @Test("every alert has a summary, a description and a runbook naming a courier command, over metrics courierd exports")
    func alertRules() throws {
        let text = try String(contentsOf: Observability.rules, encoding: .utf8)
        let content = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }.joined(separator: "\n")
        let unknown = Observability.metricNames(in: content).subtracting(Observability.exportedMetrics.union(Observability.prometheusSeries))
        #expect(unknown.isEmpty, "the rules name metrics courierd does not export: \(unknown.sorted())")
        let alerts = content.components(separatedBy: "- alert: ").dropFirst()
        #expect(alerts.count >= 10)
        let commands = ["courier status", "courier dlq ", "courier topology "]
        var names: [String] = []
        for alert in alerts {
            let name = String(alert.prefix { !$0.isWhitespace })
            names.append(name)
            for key in ["expr:", "summary:", "description:", "runbook:", "severity:"] {
                #expect(alert.contains(key), "\(name) has \(key)")
            }
            let runbook = alert.split(separator: "\n").first { $0.contains("runbook:") } ?? ""
            #expect(commands.contains { runbook.contains($0) }, "\(name)'s runbook names a courier command: \(runbook)")
        }
        for wanted in [
            "CourierDown", "CourierNotReady", "CourierDeadLetterQueueNotEmpty", "CourierDeadLetterQueueGrowing", "CourierOutboxStale",
            "CourierRetryRateHigh", "CourierNoDeliveries", "CourierPublishingBlocked", "CourierMetricsRefreshFailing", "CourierMetricsStale",
        ] {
            #expect(names.contains(wanted), "alert \(wanted)")
        }
        #expect(Set(names).count == names.count, "alert names are unique")
    }

    @Test("the metric names are found in PromQL, histogram series under the histogram's name")
    func promQLNames() {
        #expect(
            Observability.metricNames(in: #"histogram_quantile(0.9, sum by (le) (rate(courier_handling_duration_seconds_bucket{job=~"$job"}[5m])))"#)
                == ["courier_handling_duration_seconds"])
        #expect(Observability.metricNames(in: "up == 0 and on () courier_ready{role=\"app\"}") == ["up", "courier_ready"])
    }
}

/// A real Prometheus (Debian's, unpacked by deploy/local/prometheus.sh) scrapes a running
/// courierd and loads the alerting rules.
@Suite("Prometheus scrapes courierd and loads the alerting rules", .tags(.integration))
struct PrometheusScrapeTests {
    @Test(
        "courier_ready from this courierd is queryable, every alerting rule is loaded healthy, every dashboard query evaluates",
        .enabled(if: Observability.prometheusBinary != nil, "no prometheus binary: run deploy/local/prometheus.sh up (make test does)"))
    func scrape() async throws {
        let binary = try #require(Observability.prometheusBinary)
        await SembleFixture.createIfReachable(try TestEnvironment.databaseURL())
        let daemon = try Daemon(
            name: "prometheus",
            environment: [
                "AMQP_URL": try TestEnvironment.amqpURL(), "DATABASE_URL": try TestEnvironment.databaseURL(),
                "FLY_APP_NAME": TestEnvironment.uniqueName("prom"), "COURIER_HTTP_HOST": "127.0.0.1", "COURIER_HTTP_PORT": "0",
                "COURIER_RELAY_ENABLED": "false", "COURIER_METRICS_REFRESH_INTERVAL": "500ms",
            ])
        #expect(await eventually { await daemon.isReady() }, "courierd is ready: \(daemon.output.suffix(2000))")
        let courierdPort = try #require(LocalHTTP.courierdPort(inLog: daemon.output))

        let work = FileManager.default.temporaryDirectory.appendingPathComponent("courier-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let config = """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files:
              - \(Observability.rules.path)
            scrape_configs:
              - job_name: courierd
                static_configs:
                  - targets: ["127.0.0.1:\(courierdPort)"]
            """
        let configFile = work.appendingPathComponent("prometheus.yml")
        try config.write(to: configFile, atomically: true, encoding: .utf8)
        let port = try Self.freePort()
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: binary)
        prometheus.arguments = [
            "--config.file=\(configFile.path)", "--storage.tsdb.path=\(work.appendingPathComponent("data").path)",
            "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
        ]
        let logURL = work.appendingPathComponent("prometheus.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        prometheus.standardOutput = log
        prometheus.standardError = log
        try prometheus.run()
        // Stopped however the test ends (a failed #require throws past the SIGTERM below).
        defer {
            if prometheus.isRunning {
                kill(prometheus.processIdentifier, SIGKILL)
                prometheus.waitUntilExit()
            }
        }
        func prometheusLog() -> String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

        var answer = ""
        let sampled = await eventually {
            guard let response = try? await LocalHTTP.get(port: port, path: "/api/v1/query?query=courier_ready"), response.status == 200 else {
                return false
            }
            answer = Self.dechunked(response.body)
            return answer.contains(#""instance":"127.0.0.1:\#(courierdPort)""#) && answer.contains(#""job":"courierd""#)
                && answer.contains(#","1"]"#)
        }
        #expect(sampled, "Prometheus holds courier_ready = 1 from this courierd: \(answer) \(prometheusLog().suffix(2000))")

        let alerts = try String(contentsOf: Observability.rules, encoding: .utf8).components(separatedBy: "- alert: ").count - 1
        var rules = ""
        let loaded = await eventually {
            guard let response = try? await LocalHTTP.get(port: port, path: "/api/v1/rules"), response.status == 200 else { return false }
            rules = Self.dechunked(response.body)
            // Healthy once each rule has been evaluated without error.
            return rules.components(separatedBy: #""health":"ok""#).count - 1 == alerts
        }
        #expect(loaded, "all \(alerts) alerting rules loaded and evaluated healthy: \(rules.prefix(3000)) \(prometheusLog().suffix(2000))")
        #expect(!rules.contains(#""health":"err""#))

        // Every dashboard query parses and evaluates (Grafana's variables given values).
        for expr in try Observability.dashboardExpressions() {
            let query = expr.replacingOccurrences(of: "$__rate_interval", with: "1m").replacingOccurrences(of: "$job", with: ".*")
            let encoded = try #require(query.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
            let response = try await LocalHTTP.get(port: port, path: "/api/v1/query?query=\(encoded)")
            #expect(response.status == 200 && Self.dechunked(response.body).contains(#""status":"success""#), "\(expr): \(response.body.prefix(500))")
        }

        kill(prometheus.processIdentifier, SIGTERM)
        let exited = await eventually(.seconds(60)) { !prometheus.isRunning }
        if !exited { kill(prometheus.processIdentifier, SIGKILL) }
        prometheus.waitUntilExit()
        try? log.close()
        #expect(await daemon.stop() == 0)
    }

    struct PortFailure: Error, CustomStringConvertible { var description: String }

    /// A port nothing listens on now (bound to 0, read back, closed).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PortFailure(description: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw PortFailure(description: "bind() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The body of an HTTP/1.1 answer sent with `Transfer-Encoding: chunked` (Go's server does
    /// for bodies it did not size up front); any other body as it is.
    static func dechunked(_ body: String) -> String {
        var bytes = Array(body.utf8)[...]
        var result: [UInt8] = []
        while let lineEnd = bytes.firstIndex(of: UInt8(ascii: "\r")) {
            guard let size = Int(String(decoding: bytes[bytes.startIndex..<lineEnd], as: UTF8.self), radix: 16) else { return body }
            if size == 0 { return String(decoding: result, as: UTF8.self) }
            let start = lineEnd + 2
            guard start + size <= bytes.endIndex else { return body }
            result.append(contentsOf: bytes[start..<start + size])
            bytes = bytes[min(start + size + 2, bytes.endIndex)...]
        }
        return result.isEmpty ? body : String(decoding: result, as: UTF8.self)
    }
}
