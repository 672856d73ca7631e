import Configuration
import CourierAMQP
import CourierEngine
import CourierHandlers
import CourierPostgres
import Foundation
import CourierTelemetry
import Logging
import SystemPackage

/// The settings of courierd and of the `courier` CLI (one file, one set of environment variables): a JSON file (`--config PATH`, see `config/courierd.json` and
/// `config/README.md`) overridden by environment variables. Every key has an environment name:
/// `courier.prefetch` is `COURIER_PREFETCH`, `amqp.url` is `AMQP_URL`.
///
/// | key | environment | meaning | default |
/// |---|---|---|---|
/// | `amqp.url` | `AMQP_URL` | the broker, `amqp://user:password@host:port/vhost`; a cluster's nodes as comma-separated URLs (`AMQPConfiguration`) | required |
/// | `database.url` | `DATABASE_URL` | Postgres, `postgres://user:password@host:port/db` | required |
/// | `courier.database.schema` | `COURIER_DATABASE_SCHEMA` | the schema of Courier's own tables (inbox, outbox, failure index, ledgers); Semble's stay in `public` | `courier` |
/// | `fly.app.name` | `FLY_APP_NAME` | the app; its queue is `events_<app>` | `app` |
/// | `courier.log.level` | `COURIER_LOG_LEVEL` | trace … critical | `info` |
/// | `courier.log.format` | `COURIER_LOG_FORMAT` | `json` (one object per line) or `text` | `text` on a terminal, else `json` |
/// | `courier.queue.type` | `COURIER_QUEUE_TYPE` | `quorum` or `classic` | `quorum` |
/// | `courier.delivery.limit` | `COURIER_DELIVERY_LIMIT` | quorum crash-loop guard | `10` |
/// | `courier.quorum.initial.group.size` | `COURIER_QUORUM_INITIAL_GROUP_SIZE` | replicas of the app's quorum queues when they are created (`x-quorum-initial-group-size`) | the broker's (3.10: every node) |
/// | `courier.retry.delays` | `COURIER_RETRY_DELAYS` | comma-separated, e.g. `5s,30s,2m,10m` | `5s,30s,2m,10m` |
/// | `courier.prefetch` | `COURIER_PREFETCH` | unacked deliveries in flight | `1000` |
/// | `courier.batch.size` | `COURIER_BATCH_SIZE` | deliveries per handler call | `500` |
/// | `courier.message.max.bytes` | `COURIER_MESSAGE_MAX_BYTES` | larger bodies are dead-lettered | `262144` |
/// | `courier.bindings.extra` | `COURIER_BINDINGS_EXTRA` | extra binding keys, comma-separated | none |
/// | `courier.pause.seconds` | `COURIER_PAUSE_SECONDS` | pause before requeueing / between dependency checks | `5` |
/// | `courier.http.host` | `COURIER_HTTP_HOST` | address of `/health/*` and `/metrics` | `0.0.0.0` |
/// | `courier.http.port` | `COURIER_HTTP_PORT` | their port; 0 picks a free one (logged) | `8080` |
/// | `courier.consumer.enabled` | `COURIER_CONSUMER_ENABLED` | consume `events_<app>` with Semble's handlers | `true` |
/// | `courier.relay.enabled` | `COURIER_RELAY_ENABLED` | run the outbox relay (`event_store` → `domain_events`) | `true` |
/// | `courier.relay.batch.size` | `COURIER_RELAY_BATCH_SIZE` | outbox rows claimed per transaction | `500` |
/// | `courier.relay.poll.interval` | `COURIER_RELAY_POLL_INTERVAL` | fallback poll when no NOTIFY arrives | `1s` |
/// | `courier.relay.retention` | `COURIER_RELAY_RETENTION` | published rows are pruned after this | `168h` |
/// | `courier.semble.app.url` | `COURIER_SEMBLE_APP_URL` | Semble's web app (its `APP_URL`): card and connection URLs `{app url}/profile/{did}/collections/{rkey}` name a Semble collection | `https://semble.so` |
/// | `courier.semble.collection.nsid` | `COURIER_SEMBLE_COLLECTION_NSID` | the record type in Semble's collection AT-URIs (`network.cosmik.{env}.collection` outside production) | `network.cosmik.collection` |
/// | `courier.metrics.refresh.interval` | `COURIER_METRICS_REFRESH_INTERVAL` | how often courierd refreshes the gauges of queue depths, the outbox and the failure index (100ms–1h) | `15s` |
/// | `courier.permanent.sqlstates` | `COURIER_PERMANENT_SQLSTATES` | SQLSTATE classes (`22`) or codes (`42601`) that park an event at once instead of retrying it, comma-separated; replaces the default | `22,23,54,42601,42804,42883` (`FailureClassification.Policy`) |
///
/// An invalid value stops start-up with a message naming the key; passwords are never printed.
public struct CourierConfiguration: Sendable {
    public struct Invalid: Error, CustomStringConvertible {
        public var key: String
        public var reason: String
        public init(key: String, reason: String) {
            self.key = key
            self.reason = reason
        }
        public var description: String {
            "invalid configuration: \(key) (environment \(Self.environmentName(key))): \(reason)"
        }

        public static func environmentName(_ key: String) -> String {
            key.uppercased().replacingOccurrences(of: ".", with: "_")
        }
    }

    public var amqp: AMQPConfiguration
    public var databaseURL: String
    /// `courier.database.schema`: where Courier's own tables live (a plain identifier, not
    /// `public`: Semble's tables are there, and Courier never adds tables beside them).
    public var databaseSchema: String
    public var logLevel: Logger.Level
    /// `courier.log.format`; nil: ``LogFormat/automatic`` (text on a terminal, else JSON).
    public var logFormat: LogFormat?
    public var topology: Topology.Settings
    public var engine: ConsumerEngine.Settings
    public var httpHost: String
    public var httpPort: Int
    public var consumerEnabled: Bool
    public var relay: Relay?
    /// `courier.permanent.sqlstates`: the database errors that are permanent, as SQLSTATE classes
    /// (2 characters) and codes (5), upper case; nil when unset (the handlers' default,
    /// `FailureClassification.Policy.standard`, which this module does not know).
    public var permanentSQLStates: [String]?
    /// `courier.semble.*`: what Semble's rules take from Semble's environment.
    public var semble: SembleSettings
    /// `courier.metrics.refresh.interval`: how often the queue-depth, outbox and failure-index
    /// gauges are refreshed (passive declares and two queries each time, not one per scrape).
    public var metricsRefreshInterval: Duration

    /// The outbox relay's settings (nil when `courier.relay.enabled` is false).
    public struct Relay: Sendable {
        public var batchSize: Int
        public var pollInterval: Duration
        public var retention: Duration
    }

    public var appName: String { topology.appName }
    public var queueName: String { "events_\(topology.appName)" }

    /// Reads the environment, then the file at `configFile` (when given) for what the
    /// environment leaves unset.
    public static func load(environment: [String: String], configFile: String?) async throws -> CourierConfiguration {
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(
                environmentVariables: environment,
                secretsSpecifier: .specific(["AMQP_URL", "DATABASE_URL"]))
        ]
        if let configFile {
            do {
                providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(configFile)))
            } catch {
                throw Invalid(key: "--config", reason: "cannot read \(configFile): \(error)")
            }
        }
        return try CourierConfiguration(reader: ConfigReader(providers: providers))
    }

    public init(reader: ConfigReader) throws {
        let values = Values(reader: reader)

        let amqpURL = try values.required("amqp.url")
        do {
            var amqp = try AMQPConfiguration(url: amqpURL)
            if amqp.connectionName == nil { amqp.connectionName = "courierd" }
            self.amqp = amqp
        } catch {
            // A typed throw: `error` is the AMQPError, whose text never contains the password.
            throw Invalid(key: "amqp.url", reason: error.replyText ?? "\(error)")
        }
        databaseURL = try values.required("database.url")
        databaseSchema = values.string("courier.database.schema") ?? "courier"
        guard PostgresConfiguration.isPlainIdentifier(databaseSchema) else {
            throw Invalid(
                key: "courier.database.schema",
                reason: "'\(databaseSchema)' is not a plain schema name (a lower-case letter or '_', then lower-case letters, digits or '_'; at most 63)")
        }
        guard databaseSchema != "public" else {
            throw Invalid(key: "courier.database.schema", reason: "'public' holds Semble's tables; Courier's own need a schema of their own")
        }

        let app = values.string("fly.app.name") ?? "app"
        guard !app.isEmpty, app.count <= 200, app.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw Invalid(key: "fly.app.name", reason: "use letters, digits, '-' and '_' only (got '\(app)')")
        }

        let level = values.string("courier.log.level") ?? "info"
        guard let parsedLevel = Logger.Level(rawValue: level.lowercased()) else {
            throw Invalid(key: "courier.log.level", reason: "'\(level)' is not one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        logLevel = parsedLevel
        if let format = values.string("courier.log.format"), !format.isEmpty {
            guard let parsed = LogFormat(rawValue: format.lowercased()) else {
                throw Invalid(key: "courier.log.format", reason: "'\(format)' is not json or text")
            }
            logFormat = parsed
        } else {
            logFormat = nil
        }

        let queueTypeText = values.string("courier.queue.type") ?? "quorum"
        guard let queueType = Topology.QueueType(rawValue: queueTypeText) else {
            throw Invalid(key: "courier.queue.type", reason: "'\(queueTypeText)' is not quorum or classic")
        }
        let delays = try Self.durations(values.string("courier.retry.delays") ?? "5s,30s,2m,10m", key: "courier.retry.delays")
        let extra = (values.string("courier.bindings.extra") ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        topology = Topology.Settings(
            appName: app,
            queueType: queueType,
            deliveryLimit: try values.int("courier.delivery.limit", default: 10, range: 1...1000),
            retrySchedule: RetrySchedule(delays: delays),
            eventTypes: [],
            extraBindingKeys: extra,
            quorumInitialGroupSize: try values.optionalInt("courier.quorum.initial.group.size", range: 1...255))

        var engine = ConsumerEngine.Settings()
        engine.prefetch = UInt16(try values.int("courier.prefetch", default: 1000, range: 1...65535))
        engine.batchSize = try values.int("courier.batch.size", default: 500, range: 1...10_000)
        engine.maximumMessageBytes = try values.int("courier.message.max.bytes", default: 262_144, range: 1...134_217_728)
        engine.pause = .seconds(try values.int("courier.pause.seconds", default: 5, range: 1...3600))
        self.engine = engine
        httpHost = values.string("courier.http.host") ?? "0.0.0.0"
        httpPort = try values.int("courier.http.port", default: 8080, range: 0...65535)
        consumerEnabled = try values.bool("courier.consumer.enabled", default: true)
        if try values.bool("courier.relay.enabled", default: true) {
            func duration(_ key: String, _ fallback: String) throws -> Duration {
                let parsed = try Self.durations(values.string(key) ?? fallback, key: key)
                guard parsed.count == 1 else { throw Invalid(key: key, reason: "takes one duration, like 1s or 168h") }
                return parsed[0]
            }
            relay = Relay(
                batchSize: try values.int("courier.relay.batch.size", default: 500, range: 1...10_000),
                pollInterval: try duration("courier.relay.poll.interval", "1s"),
                retention: try duration("courier.relay.retention", "168h"))
        } else {
            relay = nil
        }
        permanentSQLStates = try values.string("courier.permanent.sqlstates").map {
            try Self.sqlStates($0, key: "courier.permanent.sqlstates")
        }
        var semble = SembleSettings.production
        if let url = values.string("courier.semble.app.url") {
            var trimmed = url.trimmingCharacters(in: .whitespaces)
            while trimmed.hasSuffix("/") { trimmed.removeLast() }
            guard trimmed.hasPrefix("https://") || trimmed.hasPrefix("http://"), trimmed.count > "https://".count,
                !trimmed.contains(where: { $0.isWhitespace })
            else {
                throw Invalid(key: "courier.semble.app.url", reason: "'\(url)' is not an http(s) URL like https://semble.so")
            }
            semble.appURL = trimmed
        }
        if let nsid = values.string("courier.semble.collection.nsid") {
            let parts = nsid.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count >= 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } }) else {
                throw Invalid(key: "courier.semble.collection.nsid", reason: "'\(nsid)' is not an NSID like network.cosmik.collection")
            }
            semble.collectionNSID = nsid
        }
        self.semble = semble
        let refresh = try Self.durations(values.string("courier.metrics.refresh.interval") ?? "15s", key: "courier.metrics.refresh.interval")
        guard refresh.count == 1, let interval = refresh.first, interval >= .milliseconds(100), interval <= .seconds(3600) else {
            throw Invalid(key: "courier.metrics.refresh.interval", reason: "takes one duration from 100ms to 1h, like 15s")
        }
        metricsRefreshInterval = interval
        guard consumerEnabled || relay != nil else {
            throw Invalid(key: "courier.consumer.enabled", reason: "false, and so is courier.relay.enabled: courierd would have nothing to do")
        }
    }

    /// `22,23,42601`: SQLSTATE classes (2 characters) and codes (5), digits and letters, upper-cased.
    public static func sqlStates(_ text: String, key: String) throws -> [String] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw Invalid(key: key, reason: "lists no SQLSTATE; leave it unset for the default") }
        for item in items {
            guard item.count == 2 || item.count == 5, item.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) }) else {
                throw Invalid(key: key, reason: "'\(item)' is not a SQLSTATE class (2 characters, like 22) or code (5, like 42601)")
            }
        }
        return items
    }

    /// `5s,30s,2m,10m` (units ms, s, m, h).
    public static func durations(_ text: String, key: String) throws -> [Duration] {
        try text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { item in
            let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
            for (suffix, factor) in units where item.hasSuffix(suffix) {
                let number = item.dropLast(suffix.count)
                if let n = Int64(number), n > 0, !(suffix == "m" && item.hasSuffix("ms")) {
                    return .milliseconds(n * factor)
                }
            }
            throw Invalid(key: key, reason: "'\(item)' is not a duration like 500ms, 5s, 2m or 1h")
        }
    }

    /// Reads values by key, turning a present-but-wrong value into an error that names the key.
    struct Values {
        let reader: ConfigReader

        func string(_ key: String) -> String? {
            reader.string(forKey: ConfigKey(key))
        }

        func required(_ key: String) throws -> String {
            guard let value = string(key), !value.isEmpty else { throw Invalid(key: key, reason: "is not set") }
            return value
        }

        func bool(_ key: String, default fallback: Bool) throws -> Bool {
            if let text = string(key) {
                switch text.trimmingCharacters(in: .whitespaces).lowercased() {
                case "true", "yes", "1", "on": return true
                case "false", "no", "0", "off": return false
                default: throw Invalid(key: key, reason: "'\(text)' is not true or false")
                }
            }
            return reader.bool(forKey: ConfigKey(key)) ?? fallback
        }

        func int(_ key: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
            try optionalInt(key, range: range) ?? fallback
        }

        /// nil when the key is not set.
        func optionalInt(_ key: String, range: ClosedRange<Int>) throws -> Int? {
            let value: Int
            if let text = string(key) {
                guard let parsed = Int(text.trimmingCharacters(in: .whitespaces)) else {
                    throw Invalid(key: key, reason: "'\(text)' is not a whole number")
                }
                value = parsed
            } else if let number = reader.int(forKey: ConfigKey(key)) {
                value = number
            } else {
                return nil
            }
            guard range.contains(value) else {
                throw Invalid(key: key, reason: "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
            }
            return value
        }
    }
}
