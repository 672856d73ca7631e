import Configuration
import CourierAMQP
import CourierEngine
import CourierHandlers
import CourierPostgres
import CourierPublisher
import Foundation
import CourierTelemetry
import Logging
import SystemPackage

/// The settings of courierd and of the `courier` CLI (one file, one set of environment variables):
/// a JSON file (`--config PATH`, see `config/courierd.json`) overridden by environment variables.
/// Every key has an environment name: `courier.prefetch` is `COURIER_PREFETCH`, `amqp.url` is
/// `AMQP_URL`.
///
/// **The keys, their meaning and their defaults are documented once, in `config/README.md`**
/// (`ConfigurationDocumentationTests` checks that it lists every key read here, and nothing
/// else). The defaults themselves live in the settings types that use them
/// (`ConsumerEngine.Settings`, `Topology.Settings`, `RelayConfiguration`, …), not here.
///
/// Everything is parsed here, once, at load: an invalid value stops start-up with a message
/// naming the key (courierd exits 78); passwords are never printed.
package struct CourierConfiguration: Sendable {
    package struct Invalid: Error, CustomStringConvertible {
        package var key: String
        package var reason: String
        package init(key: String, reason: String) {
            self.key = key
            self.reason = reason
        }
        package var description: String {
            "invalid configuration: \(key) (environment \(Self.environmentName(key))): \(reason)"
        }

        package static func environmentName(_ key: String) -> String {
            key.uppercased().replacingOccurrences(of: ".", with: "_")
        }
    }

    package var amqp: AMQPConfiguration
    /// `database.url`, parsed once at load (a malformed URL stops start-up naming the key), with
    /// courierd's `search_path`: Courier's schema first, then Semble's, so both sets of tables
    /// are found by their plain names.
    package var database: PostgresConfiguration
    /// `courier.database.schema`: where Courier's own tables live (a plain identifier, not
    /// `public`: Semble's tables are there, and Courier never adds tables beside them).
    package var databaseSchema: String
    package var logLevel: Logger.Level
    /// `courier.log.format`; nil: ``LogFormat/automatic`` (text on a terminal, else JSON).
    package var logFormat: LogFormat?
    package var topology: Topology.Settings
    package var engine: ConsumerEngine.Settings
    package var httpHost: String
    package var httpPort: Int
    package var consumerEnabled: Bool
    package var relay: Relay?
    /// `courier.permanent.sqlstates`: the database errors that are permanent, as SQLSTATE classes
    /// (2 characters) and codes (5), upper case; nil when unset (the handlers' default,
    /// `FailureClassification.Policy.standard`, which this module does not know).
    package var permanentSQLStates: [String]?
    /// `courier.semble.*`: what Semble's rules take from Semble's environment.
    package var semble: SembleSettings
    /// `courier.metrics.refresh.interval`: how often the queue-depth, outbox and failure-index
    /// gauges are refreshed (passive declares and two queries each time, not one per scrape).
    package var metricsRefreshInterval: Duration

    /// The outbox relay's settings (nil when `courier.relay.enabled` is false).
    package struct Relay: Sendable {
        package var batchSize: Int
        package var pollInterval: Duration
        package var retention: Duration
    }

    package var appName: String { topology.appName }
    package var queueName: String { "events_\(topology.appName)" }

    /// Reads the environment, then the file at `configFile` (when given) for what the
    /// environment leaves unset.
    package static func load(environment: [String: String], configFile: String?) async throws -> CourierConfiguration {
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

    package init(reader: ConfigReader) throws {
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
        let databaseURL = try values.required("database.url")
        databaseSchema = values.string("courier.database.schema") ?? "courier"
        guard PostgresConfiguration.isPlainIdentifier(databaseSchema) else {
            throw Invalid(
                key: "courier.database.schema",
                reason: "'\(databaseSchema)' is not a plain schema name (a lower-case letter or '_', then lower-case letters, digits or '_'; at most 63)")
        }
        guard databaseSchema != "public" else {
            throw Invalid(key: "courier.database.schema", reason: "'public' holds Semble's tables; Courier's own need a schema of their own")
        }
        do {
            database = try PostgresConfiguration(url: databaseURL)
        } catch {
            // PostgresError's text names the URL's problem, never its password.
            throw Invalid(key: "database.url", reason: "\(error)")
        }
        database.searchPath = [databaseSchema, SembleTables.defaultSchema]

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
        // The defaults are those of the settings types themselves, one home each.
        let defaults = (topology: Topology.Settings(), engine: ConsumerEngine.Settings())
        let delays = try values.string("courier.retry.delays").map { try Self.durations($0, key: "courier.retry.delays") }
            ?? defaults.topology.retrySchedule.delays
        let extra = (values.string("courier.bindings.extra") ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        topology = Topology.Settings(
            appName: app,
            queueType: queueType,
            deliveryLimit: try values.int("courier.delivery.limit", default: defaults.topology.deliveryLimit, range: 1...1000),
            retrySchedule: RetrySchedule(delays: delays),
            eventTypes: [],
            extraBindingKeys: extra,
            quorumInitialGroupSize: try values.optionalInt("courier.quorum.initial.group.size", range: 1...255))

        var engine = defaults.engine
        engine.prefetch = UInt16(try values.int("courier.prefetch", default: Int(engine.prefetch), range: 1...65535))
        engine.batchSize = try values.int("courier.batch.size", default: engine.batchSize, range: 1...10_000)
        engine.maximumMessageBytes = try values.int("courier.message.max.bytes", default: engine.maximumMessageBytes, range: 1...134_217_728)
        if let seconds = try values.optionalInt("courier.pause.seconds", range: 1...3600) { engine.pause = .seconds(seconds) }
        self.engine = engine
        httpHost = values.string("courier.http.host") ?? "0.0.0.0"
        httpPort = try values.int("courier.http.port", default: 8080, range: 0...65535)
        consumerEnabled = try values.bool("courier.consumer.enabled", default: true)
        if try values.bool("courier.relay.enabled", default: true) {
            func duration(_ key: String, _ fallback: Duration) throws -> Duration {
                guard let text = values.string(key) else { return fallback }
                let parsed = try Self.durations(text, key: key)
                guard parsed.count == 1 else { throw Invalid(key: key, reason: "takes one duration, like 1s or 168h") }
                return parsed[0]
            }
            let standard = RelayConfiguration(database: database, publisher: PublisherConfiguration(amqp: amqp))
            relay = Relay(
                batchSize: try values.int("courier.relay.batch.size", default: standard.batchSize, range: 1...10_000),
                pollInterval: try duration("courier.relay.poll.interval", standard.pollInterval),
                retention: try duration("courier.relay.retention", standard.retention))
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
    package static func sqlStates(_ text: String, key: String) throws -> [String] {
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
    package static func durations(_ text: String, key: String) throws -> [Duration] {
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
