import CourierAMQP
import CourierEngine
import CourierFailureIndex
import CourierPublisher
import CourierPostgres
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// Refreshes, every `courier.metrics.refresh.interval` (15 s), the gauges an operator alerts on
/// and `/metrics` cannot compute cheaply per scrape:
///
/// | metric | kind | labels |
/// |---|---|---|
/// | `courier_queue_messages` | gauge | `queue`, `role` = app, retry, dead_letter, unrouted |
/// | `courier_queue_consumers` | gauge | `queue`, `role` |
/// | `courier_outbox_backlog` | gauge | — (unpublished `event_store` rows) |
/// | `courier_outbox_oldest_age_seconds` | gauge | — (0 with no backlog) |
/// | `courier_parked_messages` | gauge | `error_class` (failure index rows still parked) |
/// | `courier_pending_bundles` | gauge | — (card-activity bundles waiting for their flush) |
/// | `courier_bundles_overdue_seconds` | gauge | — (how far past its due time the most overdue bundle is; 0 when none is) |
/// | `courier_bundles_failing` | gauge | — (bundles whose last flush failed: kept, due again after a backoff) |
/// | `courier_metrics_refresh_errors_total` | counter | `source` = broker, postgres |
/// | `courier_metrics_refreshed_timestamp_seconds` | gauge | `source` (last successful refresh) |
///
/// The broker side uses a connection of its own (`<connection name>-metrics`) and the passive
/// declares of `courier status` (``Topology/queueDepths(on:)``), one channel per queue, so
/// a missing queue (which closes its channel) does not hide the others; it reads 0. The Postgres
/// side runs three readings on one pooled connection (the outbox's is `courier status`'s own, ``OutboxStatus``), once the database is prepared (the
/// ``StartupGate``). Either side failing is logged once until it works again (never a password:
/// errors carry redacted endpoints), counted, and tried again next interval; the other side goes on.
/// A lost broker connection is opened again at the next refresh.
struct MetricsRefreshService: Service {
    let amqp: AMQPConfiguration
    let topology: Topology
    let postgres: PostgresConfiguration
    /// Courier's schema (`courier.database.schema`): where the outbox and the failure index live.
    let schema: String
    let interval: Duration
    let gate: StartupGate
    let logger: Logger

    func run() async throws {
        let refresher = MetricsRefresher(
            amqp: amqp, topology: topology,
            pool: PostgresPool(configuration: postgres, maximumConnections: 1, logger: logger),
            schema: schema, logger: logger)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await refresher.refreshBroker()
                if gate.isOpen { await refresher.refreshPostgres() }
                try? await Task.sleep(for: interval)
            }
        }
        await refresher.close()
    }
}

/// One refresh of each source (``MetricsRefreshService``); an actor, as it keeps the broker
/// connection and what it reported last between refreshes.
actor MetricsRefresher {
    enum Source: String { case broker, postgres }

    /// Error classes reported one by one; the rest of the parked messages count under `other`,
    /// so imported or hostile error classes cannot grow the label set without end.
    static let maximumErrorClasses = 50

    let amqp: AMQPConfiguration
    let topology: Topology
    let pool: PostgresPool
    let schema: String
    let logger: Logger
    private var connection: AMQPConnection?
    private var failing: Set<Source> = []
    private var reportedClasses: Set<String> = []

    init(amqp: AMQPConfiguration, topology: Topology, pool: PostgresPool, schema: String, logger: Logger) {
        var amqp = amqp
        amqp.connectionName = (amqp.connectionName ?? "courierd") + "-metrics"
        self.amqp = amqp
        self.topology = topology
        self.pool = pool
        self.schema = schema
        self.logger = logger
        for source in [Source.broker, .postgres] {
            // Present from the start, so increase() sees the first error.
            Counter(label: "courier_metrics_refresh_errors_total", dimensions: [("source", source.rawValue)]).increment(by: 0)
            // 0 until the first success: "never refreshed" is as stale as it gets (CourierMetricsStale).
            Gauge(label: "courier_metrics_refreshed_timestamp_seconds", dimensions: [("source", source.rawValue)]).record(0)
        }
    }

    /// `dead-letter` (as `courier status` prints it) is `dead_letter` here: Prometheus label
    /// values are conventionally snake_case.
    static func role(_ inspectionRole: String) -> String { inspectionRole.replacingOccurrences(of: "-", with: "_") }

    func refreshBroker() async {
        let started = ContinuousClock.now
        do {
            let connection = try await openConnection()
            let depths = try await topology.queueDepths(on: connection)
            for depth in depths {
                let dimensions = [("queue", depth.queue), ("role", Self.role(depth.role))]
                Gauge(label: "courier_queue_messages", dimensions: dimensions).record(depth.messages)
                Gauge(label: "courier_queue_consumers", dimensions: dimensions).record(depth.consumers)
            }
            succeeded(.broker, took: ContinuousClock.now - started)
        } catch {
            if let connection { await connection.close() }
            connection = nil
            failed(.broker, error)
        }
    }

    func refreshPostgres() async {
        // The bundle flusher's health: a bundle minutes past due means it is not flushing.
        let bundlesSQL = """
            SELECT count(*)::bigint, COALESCE(GREATEST(extract(epoch FROM now() - min(due_at)), 0), 0)::float8,
                   count(*) FILTER (WHERE attempts > 0)::bigint
            FROM \(schema).card_activity_bundles
            """
        let index = FailureIndex(deadLetterQueue: topology.deadLetterQueue)
        let started = ContinuousClock.now
        do {
            let (backlog, age, parked, bundles) = try await pool.withConnection { connection in
                // The same reading as `courier status` (the pool's search_path finds Courier's schema).
                let outbox = try await OutboxStatus.read(on: connection)
                // The same grouping as `courier dlq stats`.
                let classes = try await index.parkedByErrorClass(on: connection)
                let pending = try await connection.query(prepared: bundlesSQL)
                return (
                    outbox?.unpublished ?? 0, outbox?.ageSeconds ?? 0,
                    classes.map { ($0.key, $0.count) },
                    (
                        try pending.first?.decode(Int.self, column: 0) ?? 0, try pending.first?.decode(Double.self, column: 1) ?? 0,
                        try pending.first?.decode(Int.self, column: 2) ?? 0
                    )
                )
            }
            Gauge(label: "courier_outbox_backlog").record(backlog)
            Gauge(label: "courier_outbox_oldest_age_seconds").record(age)
            Gauge(label: "courier_pending_bundles").record(bundles.0)
            Gauge(label: "courier_bundles_overdue_seconds").record(bundles.1)
            Gauge(label: "courier_bundles_failing").record(bundles.2)
            var counts: [String: Int] = [:]
            for (index, (errorClass, count)) in parked.enumerated() {
                counts[index < Self.maximumErrorClasses ? errorClass : "other", default: 0] += count
            }
            // A class no longer parked (replayed, purged) reads 0 rather than its last count.
            for errorClass in reportedClasses.union(counts.keys) {
                Gauge(label: "courier_parked_messages", dimensions: [("error_class", errorClass)]).record(counts[errorClass] ?? 0)
            }
            reportedClasses.formUnion(counts.keys)
            succeeded(.postgres, took: ContinuousClock.now - started)
        } catch {
            failed(.postgres, error)
        }
    }

    func close() async {
        if let connection { await connection.close() }
        connection = nil
        await pool.close()
    }

    private func openConnection() async throws -> AMQPConnection {
        if let connection, await connection.isOpen { return connection }
        if let connection { await connection.close() }
        connection = nil
        let fresh = try await AMQPConnection.connect(amqp, logger: logger)
        connection = fresh
        return fresh
    }

    private func succeeded(_ source: Source, took: Duration) {
        logger.debug("metrics refreshed", metadata: ["source": "\(source.rawValue)", "took": "\(took)"])
        Gauge(label: "courier_metrics_refreshed_timestamp_seconds", dimensions: [("source", source.rawValue)])
            .record(Date().timeIntervalSince1970)
        if failing.remove(source) != nil {
            logger.info("metrics refresh works again", metadata: ["source": "\(source.rawValue)"])
        }
    }

    private func failed(_ source: Source, _ error: any Error) {
        Counter(label: "courier_metrics_refresh_errors_total", dimensions: [("source", source.rawValue)]).increment()
        if failing.insert(source).inserted {
            logger.warning(
                "metrics refresh failed; the gauges keep their last values and it is tried again every interval",
                metadata: ["source": "\(source.rawValue)", "error": "\(error)"])
        }
    }
}
