import CourierAMQP
import CourierEngine
import CourierPostgres
import Foundation

#if canImport(Glibc)
    import Glibc
#endif
import Logging

/// What must be true once a run has settled, read from Postgres and the broker.
struct SettleState: Sendable {
    var outboxRows = 0
    var outboxUnpublished = 0
    var pendingBundles = 0
    var inboxRows = 0
    /// Ready messages in `events_<app>` and its retry queues.
    var queued = 0
    var parked = 0
    var unrouted = 0

    func settled(expectedRows: Int, expectedInbox: Int, poison: Int) -> Bool {
        outboxRows == expectedRows && outboxUnpublished == 0 && pendingBundles == 0 && inboxRows == expectedInbox && queued == 0
            && parked >= poison && unrouted == 0
    }

    var text: String {
        "outbox \(outboxRows) rows (\(outboxUnpublished) unpublished), pending bundles \(pendingBundles), inbox \(inboxRows), "
            + "queued \(queued), parked \(parked), unrouted \(unrouted)"
    }
}

/// The checks and the table dump: the oracle side of the suite.
struct Oracle: Sendable {
    var database: PostgresConfiguration
    var amqp: AMQPConfiguration
    var topology: Topology
    var logger: Logger

    /// The app queue and its retry queues: what must be empty at the end.
    var workQueues: [String] { topology.queues.map(\.name).filter { $0 != topology.deadLetterQueue && $0 != Topology.unroutedName } }

    func state() async throws -> SettleState {
        var state = SettleState()
        let connection = try await PostgresConnection.connect(database, logger: logger)
        do {
            let row = try await connection.query(
                """
                SELECT (SELECT count(*) FROM courier.event_store), (SELECT count(*) FROM courier.event_store WHERE NOT processed),
                    (SELECT count(*) FROM courier.card_activity_bundles), (SELECT count(*) FROM courier.courier_inbox)
                """)[0]
            state.outboxRows = Int(try row.decode(Int64.self, column: 0))
            state.outboxUnpublished = Int(try row.decode(Int64.self, column: 1))
            state.pendingBundles = Int(try row.decode(Int64.self, column: 2))
            state.inboxRows = Int(try row.decode(Int64.self, column: 3))
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
        let broker = try await AMQPConnection.connect(amqp, logger: logger)
        do {
            let channel = try await broker.openChannel()
            for queue in workQueues { state.queued += Int(try await channel.declareQueuePassive(queue).messageCount) }
            state.parked = Int(try await channel.declareQueuePassive(topology.deadLetterQueue).messageCount)
            state.unrouted = Int(try await channel.declareQueuePassive(Topology.unroutedName).messageCount)
        } catch {
            await broker.close()
            throw error
        }
        await broker.close()
        return state
    }

    /// Every message of `queue`, taken off it (the end of a run): message id → copies, and
    /// message id → why it was parked (Courier's error class, or the broker's `x-death` reason,
    /// `delivery_limit` when the quorum queue gave up on it).
    func drain(_ queue: String) async throws -> (copies: [String: Int], reasons: [String: String]) {
        let broker = try await AMQPConnection.connect(amqp, logger: logger)
        var copies: [String: Int] = [:]
        var reasons: [String: String] = [:]
        do {
            let channel = try await broker.openChannel()
            let total = Int(try await channel.declareQueuePassive(queue).messageCount)
            if total > 0 {
                try await channel.qos(prefetchCount: 2000)
                let consumer = try await channel.consume(queue: queue, noAck: true)
                var iterator = consumer.makeAsyncIterator()
                var seen = 0
                while seen < total {
                    let batch = try await iterator.nextBatch(max: 2000)
                    if batch.isEmpty { break }
                    for delivery in batch {
                        let id = delivery.properties.messageID ?? "(no message id)"
                        copies[id, default: 0] += 1
                        let headers = delivery.properties.headers
                        if let courier = headers?["x-courier-error-class"]?.stringValue {
                            reasons[id] = courier
                        } else if case .array(let deaths)? = headers?["x-death"], case .table(let death)? = deaths.first {
                            reasons[id] = "x-death " + (death["reason"]?.stringValue ?? "?")
                                + (headers?["x-delivery-count"]?.intValue.map { ", x-delivery-count \($0)" } ?? "")
                        }
                    }
                    seen += batch.count
                }
                try? await consumer.cancel()
            }
        } catch {
            await broker.close()
            throw error
        }
        await broker.close()
        return (copies, reasons)
    }

    /// The normalized tables, one line per row, sorted bytewise: every column of Semble's tables
    /// that courierd writes and that a run determines — not the random UUID ids (a feed item names
    /// its activity by the activity's columns instead), not the database-clock timestamps of
    /// notifications and the inbox — and Courier's inbox. Lines are `table<TAB>columns…`.
    static let dumpQuery = """
        SELECT line FROM (
            SELECT concat_ws(E'\\t', 'feed_activities', a.actor_id, coalesce(a.card_id, '-'), coalesce(a.connection_id, '-'), a.type,
                a.metadata::text, coalesce(a.url_type, '-'), coalesce(a.source, '-'), to_char(a.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.US')) AS line
            FROM public.feed_activities AS a
            UNION ALL
            SELECT concat_ws(E'\\t', 'following_feed_items', i.user_id, a.actor_id, coalesce(a.card_id, '-'), coalesce(a.connection_id, '-'), a.type,
                to_char(a.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.US'), to_char(i.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.US'))
            FROM public.following_feed_items AS i JOIN public.feed_activities AS a ON a.id = i.activity_id
            UNION ALL
            SELECT concat_ws(E'\\t', 'notifications', n.recipient_user_id, n.actor_user_id, n.type, n.metadata::text, n.read::text)
            FROM public.notifications AS n
            UNION ALL
            SELECT concat_ws(E'\\t', 'courier_inbox', b.handler, b.event_id, b.event_type)
            FROM courier.courier_inbox AS b
        ) AS dump
        ORDER BY line COLLATE "C"
        """

    /// Writes the dump to `file` (through a cursor: a 100,000-event run dumps millions of rows).
    /// Returns the rows per table.
    func dump(to file: URL) async throws -> [String: Int] {
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        let connection = try await PostgresConnection.connect(database, logger: logger)
        var counts: [String: Int] = [:]
        do {
            try await connection.withTransaction { connection in
                try connection.execute("SET LOCAL work_mem = '64MB'")
                try connection.execute("SET LOCAL jit = off")
                try connection.execute("DECLARE chaos_dump NO SCROLL CURSOR FOR " + Self.dumpQuery)
                while true {
                    let rows = try connection.query("FETCH FORWARD 20000 FROM chaos_dump")
                    if rows.isEmpty { break }
                    var chunk = ""
                    for row in rows {
                        let line: String = try row.decode(column: 0)
                        counts[String(line.prefix { $0 != "\t" }), default: 0] += 1
                        chunk += line
                        chunk += "\n"
                    }
                    handle.write(Data(chunk.utf8))
                }
            }
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
        return counts
    }

    struct Comparison {
        var expected: [String: Int] = [:]
        var actual: [String: Int] = [:]
        var missing = 0
        var extra = 0
        var firstMissing: [String] = []
        var firstExtra: [String] = []
        var equal: Bool { missing == 0 && extra == 0 }

        /// The counts per table, and the first differing rows.
        func report(expected expectedPath: String, actual actualPath: String) -> String {
            let tables = Set(expected.keys).union(actual.keys).sorted()
            if equal {
                return "the final tables equal the clean run's: " + tables.map { "\($0) \(actual[$0] ?? 0)" }.joined(separator: ", ")
            }
            var text = "the final tables differ from the clean run's (\(missing) rows missing, \(extra) rows extra)\n"
            for table in tables { text += "  \(table): clean \(expected[table] ?? 0), this run \(actual[table] ?? 0)\n" }
            if !firstMissing.isEmpty { text += "  first rows only in the clean run:\n" + firstMissing.map { "    \($0)\n" }.joined() }
            if !firstExtra.isEmpty { text += "  first rows only in this run:\n" + firstExtra.map { "    \($0)\n" }.joined() }
            return text + "  (dumps: \(expectedPath), \(actualPath))"
        }
    }

    /// Compares two sorted dumps line by line (a merge, streaming both files).
    static func compare(expected: URL, actual: URL, show: Int = 10) throws -> Comparison {
        var result = Comparison()
        let left = try LineReader(expected)
        let right = try LineReader(actual)
        var a = left.next()
        var b = right.next()
        // Lines are sorted, so the table changes rarely: its name is made only when it does.
        var tableBytes: [[UInt8]] = [[], []]
        var tableNames = ["", ""]
        func table(_ line: [UInt8], _ side: Int) -> String {
            let end = line.firstIndex(of: 9) ?? line.count
            if end != tableBytes[side].count || !line[..<end].elementsEqual(tableBytes[side]) {
                tableBytes[side] = Array(line[..<end])
                tableNames[side] = String(decoding: tableBytes[side], as: UTF8.self)
            }
            return tableNames[side]
        }
        while a != nil || b != nil {
            if let x = a, let y = b, x == y {
                result.expected[table(x, 0), default: 0] += 1
                result.actual[table(y, 1), default: 0] += 1
                a = left.next()
                b = right.next()
            } else if let x = a, b == nil || x.lexicographicallyPrecedes(b!) {
                result.expected[table(x, 0), default: 0] += 1
                result.missing += 1
                if result.firstMissing.count < show { result.firstMissing.append(String(decoding: x, as: UTF8.self)) }
                a = left.next()
            } else if let y = b {
                result.actual[table(y, 1), default: 0] += 1
                result.extra += 1
                if result.firstExtra.count < show { result.firstExtra.append(String(decoding: y, as: UTF8.self)) }
                b = right.next()
            }
        }
        return result
    }
}

/// Lines of a file as bytes, read in 1 MiB chunks.
final class LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var finished = false

    init(_ url: URL) throws { handle = try FileHandle(forReadingFrom: url) }
    deinit { try? handle.close() }

    func next() -> [UInt8]? {
        while true {
            let found: Int? = buffer.withUnsafeBufferPointer { bytes in
                guard position < bytes.count, let base = bytes.baseAddress else { return nil }
                guard let hit = memchr(base + position, 10, bytes.count - position) else { return nil }
                return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            }
            if let newline = found {
                let line = Array(buffer[position..<newline])
                position = newline + 1
                return line
            }
            if finished {
                guard position < buffer.count else { return nil }
                let line = Array(buffer[position...])
                position = buffer.count
                return line
            }
            buffer.removeFirst(position)
            position = 0
            let data = handle.readData(ofLength: 1 << 20)
            if data.isEmpty { finished = true } else { buffer.append(contentsOf: data) }
        }
    }
}
