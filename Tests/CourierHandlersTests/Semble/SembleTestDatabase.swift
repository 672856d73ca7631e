import CourierEvents
import CourierPostgres
import CourierTesting
import Foundation
import Logging
import Testing

@testable import CourierHandlers

/// Two Postgres schemas of one test's own, in this run's database: `h_<random>` with Semble's
/// tables as Semble's migrations leave them (``SembleTables``) and `h_<random>_courier` migrated
/// with ``CourierSchema``, and a connection whose `search_path` is Courier's, then Semble's — as
/// courierd connects.
struct SembleTestDatabase: Sendable {
    let schema: String
    let connection: PostgresConnection
    /// For the bundle flusher (and anything else that takes a pool), with the same search path.
    let pool: PostgresPool
    var courierSchema: String { schema + "_courier" }
    var settings: SembleSettings { .production }

    /// The tables the handlers write (the inbox aside, whose `handled_at` is a clock reading).
    static let writtenTables = ["feed_activities", "following_feed_items", "notifications", "card_activity_bundles"]

    /// Runs `body` with a fresh database and drops it afterwards, also when `body` fails.
    static func with<T: Sendable>(_ body: (SembleTestDatabase) async throws -> T) async throws -> T {
        let database = try await make()
        let result: Result<T, any Error>
        do {
            result = .success(try await body(database))
        } catch {
            result = .failure(error)
        }
        do {
            try await database.drop()
        } catch {
            Issue.record("could not drop schema \(database.schema): \(error)")
        }
        return try result.get()
    }

    /// - Parameter courierMigrations: Courier's migrations to apply (all of them unless a test
    ///   starts from an earlier version).
    static func make(courierMigrations: [PostgresMigration] = CourierSchema.migrations) async throws -> SembleTestDatabase {
        let url = try TestEnvironment.databaseURL()
        let schema = TestEnvironment.uniqueName("h")
        let admin = try await PostgresConnection.connect(try PostgresConfiguration(url: url))
        try await admin.execute("CREATE SCHEMA \(schema)")
        try await admin.execute("CREATE SCHEMA \(schema)_courier")
        await admin.close()
        let connection = try await PostgresConnection.connect(try configuration(schema: schema))
        try await SembleTables.create(on: connection, schema: schema)
        _ = try await PostgresMigrator(migrations: courierMigrations, schema: schema + "_courier", table: CourierSchema.trackingTable)
            .migrate(on: connection)
        let pool = PostgresPool(configuration: try configuration(schema: schema), maximumConnections: 4, logger: Logger(label: "test"))
        return SembleTestDatabase(schema: schema, connection: connection, pool: pool)
    }

    /// This run's database with `search_path` set to Courier's schema of `schema`, then `schema`.
    static func configuration(schema: String) throws -> PostgresConfiguration {
        var configuration = try PostgresConfiguration(url: try TestEnvironment.databaseURL())
        configuration.searchPath = [schema + "_courier", schema]
        configuration.applicationName = "courier-handlers-tests"
        return configuration
    }

    func drop() async throws {
        await pool.close()
        await connection.close()
        let admin = try await PostgresConnection.connect(try PostgresConfiguration(url: try TestEnvironment.databaseURL()))
        try await admin.execute("DROP SCHEMA \(schema)_courier CASCADE")
        try await admin.execute("DROP SCHEMA \(schema) CASCADE")
        await admin.close()
    }

    /// Empties the tables the handlers write, to reuse the schema (Semble's state stays).
    func truncate() async throws {
        try await connection.execute("TRUNCATE \((Self.writtenTables + ["courier_inbox"]).joined(separator: ", "))")
    }

    /// Flushes every pending bundle, due or not ("as if the window had passed").
    @discardableResult
    func flushBundles() async throws -> Int {
        var flushed = 0
        while true {
            let flush = try await BundleFlusher(pool: pool, settings: settings, logger: Logger(label: "test")).flush(everything: true)
            flushed += flush.flushed
            guard flush.flushed + flush.failed > 0 else { return flushed }
        }
    }

    // MARK: Applying events

    /// Applies `events` with `handler` in one transaction, as the runner does: only the handler's
    /// types, each id once, and — `throughInbox` — claimed in `courier_inbox` first, so the ids the
    /// handler already committed are skipped. Without the inbox the handler sees everything again:
    /// that is how the tests show the SQL itself is idempotent.
    func apply(_ events: [EventEnvelope], with handler: any EventHandler, throughInbox: Bool = true) async throws {
        try await Self.apply(events, with: handler, on: connection, throughInbox: throughInbox)
    }

    static func apply(
        _ events: [EventEnvelope], with handler: any EventHandler, on connection: PostgresConnection, throughInbox: Bool = true
    ) async throws {
        var seen = Set<String>()
        let mine = events.filter { handler.eventTypes.contains($0.type) && seen.insert($0.id).inserted }
        guard !mine.isEmpty else { return }
        try await connection.withTransaction { transaction in
            let fresh = throughInbox ? try Inbox.claim(mine, handler: handler.name, on: transaction) : mine
            if !fresh.isEmpty {
                try await handler.apply(fresh, in: transaction)
            }
        }
    }

    /// Applies `events` as one batch with each of Semble's handlers.
    func applyBatch(_ events: [EventEnvelope], throughInbox: Bool = true) async throws {
        for handler in SembleHandlers.make(settings: settings) {
            try await apply(events, with: handler, throughInbox: throughInbox)
        }
    }

    /// Applies `events` one at a time, in the given order, with each of Semble's handlers.
    func applyOneByOne(_ events: [EventEnvelope], throughInbox: Bool = true) async throws {
        for event in events {
            try await applyBatch([event], throughInbox: throughInbox)
        }
    }

    // MARK: Reading

    /// What the handlers wrote, without what is random or a clock reading (ids, notification
    /// times): activities by their fields, feed items by their activity's fields, notifications,
    /// pending bundles — each table's rows as sorted text. Two runs that made the same rows with
    /// other random ids compare equal.
    func snapshot() async throws -> Snapshot {
        let activity = "concat_ws(' ', a.type, a.actor_id, a.card_id, a.connection_id, a.metadata::text, a.url_type, a.source, a.created_at::text)"
        let queries = [
            "feed_activities": "SELECT \(activity) FROM feed_activities a",
            "following_feed_items": "SELECT fi.user_id || ' <- ' || \(activity) || ' @' || fi.created_at::text FROM following_feed_items fi JOIN feed_activities a ON a.id = fi.activity_id",
            "notifications": "SELECT concat_ws(' ', type, 'to', recipient_user_id, 'by', actor_user_id, metadata::text, read::text) FROM notifications",
            "card_activity_bundles": "SELECT concat_ws(' ', bundle_id, card_id, actor_id, opened_at::text, collection_ids::text, has_library_event::text) FROM card_activity_bundles",
        ]
        var tables: [String: [String]] = [:]
        for (table, sql) in queries {
            tables[table] = try await lines(sql)
        }
        return Snapshot(tables: tables)
    }

    /// The activities, one line each: `CARD_COLLECTED u1 c1 @10 {"cardId": …} url_type=article`
    /// (seconds after ``SembleEvents/t0``; the card or the connection; `url_type=` and `source=`
    /// only when set).
    func activities() async throws -> [String] {
        try await lines(
            """
            SELECT concat_ws(' ', type, actor_id, coalesce(card_id, connection_id), '@' || \(seconds("created_at")), metadata::text,
                'url_type=' || url_type, 'source=' || source)
            FROM feed_activities ORDER BY 1
            """)
    }

    /// The feed items, one line each: `u2 <- CARD_COLLECTED u1 c1 @10` (the item's own time).
    func feedItems() async throws -> [String] {
        try await lines(
            """
            SELECT format('%s <- %s %s %s @%s', fi.user_id, a.type, a.actor_id, coalesce(a.card_id, a.connection_id),
                \(seconds("fi.created_at")))
            FROM following_feed_items fi JOIN feed_activities a ON a.id = fi.activity_id ORDER BY 1
            """)
    }

    /// The notifications, one line each: `USER_ADDED_YOUR_CARD to did:plc:a by did:plc:b {"cardId": …}`
    /// (their time is the database's clock when written, as Semble's is its worker's).
    func notifications() async throws -> [String] {
        try await lines(
            """
            SELECT format('%s to %s by %s %s', type, recipient_user_id, actor_user_id, metadata::text)
            FROM notifications ORDER BY 1
            """)
    }

    /// The first column of each row, sorted in Swift (byte-wise, whatever the database's collation).
    func lines(_ sql: String, _ bindings: [any PostgresEncodable] = []) async throws -> [String] {
        try await connection.query(sql, bindings).map { try $0.decode(String.self, column: 0) }.sorted()
    }

    func scalar<T: PostgresDecodable>(_ type: T.Type, _ sql: String, _ bindings: [any PostgresEncodable] = []) async throws -> T {
        let rows = try await connection.query(sql, bindings)
        guard rows.count == 1 else {
            throw PostgresError(code: .queryFailed, message: "expected one row, got \(rows.count)", query: sql)
        }
        return try rows[0].decode(T.self, column: 0)
    }

    /// SQL: seconds from ``SembleEvents/t0`` to a `timestamp` (UTC) column, as an integer.
    private func seconds(_ column: String) -> String {
        "(extract(epoch FROM \(column)) - \(Int(SembleEvents.t0.timeIntervalSince1970)))::bigint"
    }
}

/// The rows of every table, comparable; a failing comparison prints only the differences.
struct Snapshot: Equatable, CustomStringConvertible {
    var tables: [String: [String]]

    var rowCount: Int { tables.values.map(\.count).reduce(0, +) }

    /// Short, so that a failed comparison prints ``difference(to:)`` (in its comment), not two dumps.
    var description: String { "\(rowCount) rows" }

    /// Every row, table by table.
    var dump: String {
        tables.keys.sorted().map { table in
            "\(table):\n" + (tables[table] ?? []).map { "  \($0)" }.joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// The rows only in `self` (`-`) or only in `other` (`+`), per table.
    func difference(to other: Snapshot) -> String {
        Set(tables.keys).union(other.tables.keys).sorted().compactMap { table in
            let mine = tables[table] ?? []
            let theirs = other.tables[table] ?? []
            guard mine != theirs else { return nil }
            let removed = mine.filter { !theirs.contains($0) }.map { "  - \($0)" }
            let added = theirs.filter { !mine.contains($0) }.map { "  + \($0)" }
            return "\(table):\n" + (removed + added).joined(separator: "\n")
        }.joined(separator: "\n")
    }
}
