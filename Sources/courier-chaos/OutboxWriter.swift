import CourierEvents
import CourierPostgres
import CourierPublisher
import CourierTesting
import Foundation
import Logging

/// Writes the stream into `courier.event_store` as Semble's API would: small transactions of 1 to
/// ``batchMax`` rows (valid events through ``Outbox/enqueue(_:traceparent:schema:in:)``, poison
/// rows straight into the table), at a steady pace (`rate` rows per second; nil: as fast as Postgres takes them).
///
/// It outlives a Postgres crash: on a failed transaction it reconnects (every 250 ms, for as long
/// as `outage` allows) and asks the table whether the batch committed — a connection lost during
/// `COMMIT` leaves that unknown — then writes it again or moves on. Every row is written once.
struct OutboxWriter: Sendable {
    var database: PostgresConfiguration
    var rate: Double?
    /// Rows per transaction: 1...batchMax, chosen with the seed.
    var batchMax = 10
    var seed: UInt64
    /// How long Postgres may stay unreachable before the writer gives up (a hang made a failure).
    var outage: Duration = .seconds(600)
    var logger: Logger

    struct Progress: Sendable {
        var rows = 0
        var transactions = 0
        var reconnects = 0
        var firstWrite: ContinuousClock.Instant?
        var lastWrite: ContinuousClock.Instant?
    }

    func write(_ stream: ChaosStream, progress: @Sendable (Progress) -> Void = { _ in }) async throws -> Progress {
        var random = SplitMix64(seed: seed ^ 0x0B7B_0C0B_7B0C_0B7B)
        var state = Progress()
        var connection: PostgresConnection? = try await connect()
        let clock = ContinuousClock()
        let start = clock.now
        var next = 0
        while next < stream.items.count {
            let size = 1 + random.next(below: max(batchMax, 1))
            let batch = Array(stream.items[next..<min(next + size, stream.items.count)])
            if let rate {
                let due = start + .seconds(Double(next) / rate)
                if due > clock.now { try await Task.sleep(until: due, clock: clock) }
            }
            var attempts = 0
            while true {
                do {
                    guard let open = connection else { throw ChaosError("no connection") }
                    try await Self.insert(batch, on: open)
                    break
                } catch {
                    // A crash costs one or two attempts; a batch that keeps failing while Postgres
                    // answers is a bug of the suite, not a fault it injected.
                    attempts += 1
                    guard attempts < 20 else { throw ChaosError("the outbox writer failed 20 times on one batch: \(error)") }
                    if let open = connection { await open.close() }
                    connection = nil
                    state.reconnects += 1
                    let reconnected = try await reconnect(after: error)
                    connection = reconnected
                    if try await Self.committed(batch, on: reconnected) { break }
                }
            }
            if state.firstWrite == nil { state.firstWrite = clock.now }
            state.lastWrite = clock.now
            state.rows += batch.count
            state.transactions += 1
            next += batch.count
            if state.transactions % 200 == 0 { progress(state) }
        }
        if let connection { await connection.close() }
        progress(state)
        return state
    }

    private func connect() async throws -> PostgresConnection {
        var configuration = database
        configuration.connectTimeout = .seconds(5)
        return try await PostgresConnection.connect(configuration, logger: logger)
    }

    private func reconnect(after error: any Error) async throws -> PostgresConnection {
        let deadline = ContinuousClock.now + outage
        var last: any Error = error
        while ContinuousClock.now < deadline {
            do {
                return try await connect()
            } catch {
                last = error
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        throw ChaosError("the outbox writer could not reach Postgres for \(outage): \(last)")
    }

    /// One transaction: the batch's valid events through the outbox API, its poison rows as a
    /// careless writer would put them there.
    static func insert(_ batch: [ChaosStream.Item], on connection: PostgresConnection) async throws {
        try await connection.withTransaction { connection in
            var events: [EventEnvelope] = []
            for item in batch {
                switch item {
                case .event(let envelope): events.append(envelope)
                case .poison(let poison):
                    try connection.execute(
                        """
                        INSERT INTO courier.event_store (id, aggregate_id, event_type, event_data, version, timestamp)
                        VALUES ($1::uuid, $2, $3, $4::jsonb, $5, $6::timestamptz)
                        """,
                        [poison.id, poison.aggregateId, poison.eventType, poison.data, poison.version, poison.occurredAt])
                }
            }
            try Outbox.enqueue(events, schema: Outbox.defaultSchema, in: connection)
        }
    }

    /// Whether `batch` is in the table (all or nothing: it was one transaction).
    static func committed(_ batch: [ChaosStream.Item], on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query("SELECT count(*) FROM courier.event_store WHERE id = ANY($1::uuid[])", [batch.map(\.id)])
        return try rows[0].decode(Int64.self, column: 0) > 0
    }
}

struct ChaosError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
