import CourierAMQP
import CourierEngine
import CourierEvents
import CourierPostgres
import CourierTesting
import Foundation
import Synchronization
import Testing

/// Issue 12: the project's own bad-input corpus (``BadInputCorpus``) against a real courierd.
/// Every hostile message is published between two valid events, all in one burst, so they share
/// batches; then, for each, what courierd did with it is checked in the dead-letter queue, the
/// failure index and the inbox — and that one process did all of it.
@Suite("Bad-input corpus against courierd", .timeLimit(.minutes(10)), .tags(.integration))
struct BadInputCorpusTests {
    /// How long courierd may take to settle the whole burst (two 10 MiB copies among them) on a
    /// loaded machine. A wait for an event, not a pace: it ends as soon as everything is settled.
    static let settleBudget: Duration = .seconds(240)

    @Test("every hostile body, property and header is parked once with its class, or handled as data; its neighbours are handled once; courierd never restarts")
    func corpus() async throws {
        let vhost = try TestBroker.makeVhost()
        defer { TestBroker.deleteVhost(vhost.name) }
        let database = try TestEnvironment.databaseURL()
        let app = TestEnvironment.uniqueName("corpus")
        let corpus = BadInputCorpus(run: TestEnvironment.uniqueName("bic"))
        let cases = corpus.all
        #expect(Set(cases.map(\.name)).count == cases.count, "case names are unique")

        // Neighbour, case, neighbour, case, …, neighbour.
        var burst: [BadInputCase] = []
        var neighbours: [BadInputCase] = []
        for (index, badCase) in cases.enumerated() {
            neighbours.append(corpus.neighbour(index))
            burst += [neighbours.last!, badCase]
        }
        neighbours.append(corpus.neighbour(cases.count))
        burst.append(neighbours.last!)
        let parked = cases.filter { if case .parked = $0.expected { true } else { false } }
        let handled = neighbours + cases.filter { $0.expected == .handled }
        let handledIDs = handled.map(\.eventID)
        #expect(Set(handledIDs).count == handledIDs.count, "every handled event has an id of its own")

        let appQueue = "events_\(app)"
        let deadLetterQueue = "\(appQueue).dlq"
        let environment = [
            "AMQP_URL": vhost.url, "DATABASE_URL": database, "FLY_APP_NAME": app,
            "COURIER_HTTP_PORT": "0", "COURIER_HTTP_HOST": "127.0.0.1",
            // The relay would publish the other tests' outbox rows into this vhost.
            "COURIER_RELAY_ENABLED": "false",
            "COURIER_BINDINGS_EXTRA": corpus.unknownKey,
            // Nothing here should be retried; if something is, it must not take 13 minutes.
            "COURIER_RETRY_DELAYS": "1s,1s",
        ]
        let postgres = try await PostgresConnection.connect(try SembleFixture.courierdView(database))
        let connection = try await AMQPConnection.connect(url: vhost.url)
        let pid = Mutex<Int32>(0)

        func inboxRows() async throws -> Int64 {
            let rows = try await postgres.query("SELECT count(*) FROM courier_inbox WHERE event_id = ANY($1)", [handledIDs])
            return try rows[0].decode(Int64.self, column: 0)
        }
        func indexRows() async throws -> Int64 {
            let rows = try await postgres.query("SELECT count(*) FROM courier_failures WHERE dead_letter_queue = $1", [deadLetterQueue])
            return try rows[0].decode(Int64.self, column: 0)
        }

        let result = try await CourierdProcessTests.run(
            environment: environment, stopWhen: "ready", timeout: Self.settleBudget + .seconds(120)
        ) { _ in
            let probe = try await connection.openChannel()
            let consuming = try await eventually(.seconds(60)) {
                ((try? await probe.declareQueuePassive(appQueue))?.consumerCount ?? 0) > 0
            }
            try #require(consuming, "courierd consumes \(appQueue)")

            // One burst: every publish in flight together, then every confirm.
            let channel = try await connection.openChannel()
            try await channel.confirmSelect()
            let outcomes = PublishOutcomes()
            for message in burst {
                let name = message.name
                channel.publish(message.body, exchange: "domain_events", routingKey: message.routingKey, properties: message.properties, mandatory: true) {
                    result in
                    let text = switch result {
                    case .success(.acked): "acked"
                    case .success(let other): "\(other)"
                    case .failure(let error): "failed: \(error)"
                    }
                    outcomes.value.withLock { $0[name] = text }
                }
            }
            await channel.waitForConfirms()
            let notAcked = outcomes.value.withLock { $0.filter { $0.value != "acked" } }
            #expect(outcomes.value.withLock(\.count) == burst.count)
            #expect(notAcked.isEmpty, "the broker took every message: \(notAcked)")

            // Settled: every handled event in the inbox (two handlers take card events), every
            // parked one in the queue and in the index.
            let settled = try await eventually(Self.settleBudget) {
                let inbox = try await inboxRows()
                let depth = try await probe.declareQueuePassive(deadLetterQueue).messageCount
                let indexed = try await indexRows()
                return inbox >= 2 * Int64(handled.count) && Int(depth) >= parked.count && indexed >= parked.count
            }
            let depth = try await probe.declareQueuePassive(deadLetterQueue).messageCount
            let (inbox, indexed) = (try await inboxRows(), try await indexRows())
            #expect(settled, "inbox \(inbox)/\(2 * handled.count), dead-letter queue \(depth)/\(parked.count), index \(indexed)/\(parked.count)")
            let current = pid.withLock { $0 }
            #expect(current > 0 && kill(current, 0) == 0, "the courierd that started is the one running")
        } launched: { value in
            pid.withLock { $0 = value }
        }

        // One process throughout: it answered our SIGTERM with exit 0, never reconnected,
        // paused or failed to index a parking.
        // courierd's log is kept in a file when something is wrong with the run (it holds every
        // hostile value courierd logged: too much for a test report).
        let logFile = FileManager.default.temporaryDirectory.appendingPathComponent("bad-input-corpus-\(app).log")
        let alarms = [
            "consuming stopped; reconnecting", "courierd failed", "pausing", "not recorded in the failure index", "Fatal error", "fatal error",
        ].map { (line: $0, found: Self.lines(of: result.output, containing: $0)) }
        if result.status != 0 || alarms.contains(where: { !$0.found.isEmpty }) {
            try Data(result.output.utf8).write(to: logFile)
        }
        let expectedPID = pid.withLock { $0 }
        #expect(result.pid == expectedPID)
        #expect(result.status == 0, "courierd exited \(result.status); its log: \(logFile.path)")
        for alarm in alarms {
            #expect(alarm.found.isEmpty, "courierd logged '\(alarm.line)': \(alarm.found.prefix(2000)) (log: \(logFile.path))")
        }
        let starts = result.output.components(separatedBy: "connected to RabbitMQ and Postgres; ready").count - 1
        #expect(starts == 1, "started once, not \(starts) times")
        let stopped = result.output.contains("courierd stopped")
        #expect(stopped)
        // Its log is a file, so JSON lines (COURIER_LOG_FORMAT unset): each one object, however
        // hostile the values it logged, and each parking names the event's type.
        let lines = result.output.split(separator: "\n")
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let broken = lines.filter { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) == nil }
        #expect(broken.isEmpty, "lines that are not one JSON object: \(broken.prefix(3).map { $0.prefix(300) })")
        let parkings = objects.filter { $0["msg"] as? String == "dead-lettering" }
        #expect(parkings.count >= parked.count, "a line per parking: \(parkings.count) for \(parked.count)")
        #expect(parkings.allSatisfy { $0["event_type"] is String && $0["failure_id"] is String && $0["ts"] is String && $0["level"] as? String == "warning" })

        // Every parked copy, read once courierd is gone (nothing can add one now).
        let check = try await connection.openChannel()
        var copies: [String: [AMQPDelivery]] = [:]
        var strays: [AMQPDelivery] = []
        while let message = try await check.get(queue: deadLetterQueue, noAck: true) {
            if let name = message.properties.headers?[BadInputCorpus.caseHeader]?.stringValue {
                copies[name, default: []].append(message)
            } else {
                strays.append(message)
            }
        }
        #expect(strays.isEmpty, "parked copies without their case header: \(strays.map { $0.properties.messageID ?? "-" })")
        let appDepth = try await check.declareQueuePassive(appQueue).messageCount
        #expect(appDepth == 0, "nothing left in \(appQueue)")

        for badCase in cases {
            let found = copies[badCase.name] ?? []
            switch badCase.expected {
            case .handled:
                #expect(found.isEmpty, "\(badCase.name): parked, expected handled; class \(found.first.map(Self.errorClass) ?? "-")")
                try await Self.expectHandledOnce(badCase, on: postgres)
            case .parked(let errorClass):
                #expect(found.count == 1, "\(badCase.name): parked \(found.count) times, expected once")
                guard let copy = found.first else { continue }
                #expect(Self.errorClass(of: copy) == errorClass, "\(badCase.name): \(Self.errorClass(of: copy)), expected \(errorClass) — \(Self.errorMessage(of: copy))")
                let sameBody = copy.body == badCase.body
                #expect(sameBody, "\(badCase.name): the parked body is not the published one (\(copy.body.count) vs \(badCase.body.count) bytes)")
                let sameID = copy.properties.messageID == badCase.properties.messageID
                #expect(sameID, "\(badCase.name): message_id changed")
                #expect(copy.properties.timestamp == badCase.properties.timestamp && copy.properties.type == badCase.properties.type)
                let attempts = HeaderValues.count(copy.properties.headers?[CourierHeader.attempts], maximum: .max)
                #expect(attempts.map { (1...HeaderValues.maximumCount + 1).contains($0) } == true, "\(badCase.name): x-courier-attempts \(String(describing: attempts))")
                if let removed = badCase.removedHeader {
                    #expect(copy.properties.headers?[removed] == nil, "\(badCase.name): \(removed) kept on the parked copy")
                    let note = copy.properties.headers?[CourierHeader.removedHeaders]?.stringValue ?? ""
                    #expect(note.contains(removed), "\(badCase.name): x-courier-removed-headers is '\(note)'")
                } else if let cut = badCase.cutHeader {
                    var value = copy.properties.headers?[cut]
                    var levels = 0
                    while case .table(let table)? = value, table.count == 1 {
                        value = table.entries[0].value
                        levels += 1
                    }
                    #expect(levels == 64, "\(badCase.name): \(cut) read \(levels) levels deep")
                    #expect(value == .string("<nested deeper than 64 levels: left out by Courier>"), "\(badCase.name): \(String(describing: value))")
                } else {
                    #expect(copy.properties.headers?[CourierHeader.removedHeaders] == nil, "\(badCase.name): headers removed from a copy that fitted")
                    let (kept, sent) = (Self.foreignHeaders(copy.properties.headers), Self.foreignHeaders(badCase.properties.headers))
                    let same = Self.sorted(kept) == Self.sorted(sent)
                    #expect(same, "\(badCase.name): the publisher's headers changed on the parked copy: \(Self.difference(kept, sent))")
                }
                try await Self.expectIndexed(badCase, copy: copy, errorClass: errorClass, deadLetterQueue: deadLetterQueue, on: postgres)
            }
        }
        for neighbour in neighbours {
            #expect(copies[neighbour.name] == nil, "\(neighbour.name) was parked: \(copies[neighbour.name].flatMap(\.first).map(Self.errorMessage) ?? "")")
            try await Self.expectHandledOnce(neighbour, on: postgres)
        }
        #expect(Set(copies.keys).isSubset(of: Set(burst.map(\.name))))

        // Injection text is data: stored as it came.
        let injected = try await postgres.query(
            "SELECT card_id FROM feed_activities WHERE card_id = $1", [corpus.injectionCardID])
        #expect(try injected.map { try $0.decode(String.self, column: 0) } == [corpus.injectionCardID])
        let inboxStill = try await postgres.query("SELECT count(*) FROM courier_inbox")
        #expect(try inboxStill[0].decode(Int64.self, column: 0) > 0, "courier_inbox is still there")

        await connection.close()
        await postgres.close()
    }

    @Test("an expiration that is not a number is refused by the broker at publish: no corpus case can carry one")
    func invalidExpirationNeverArrives() async throws {
        let vhost = try TestBroker.makeVhost()
        defer { TestBroker.deleteVhost(vhost.name) }
        let connection = try await AMQPConnection.connect(url: vhost.url)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()
        _ = try await channel.declareQueue("expiration_probe")
        await #expect(throws: (any Error).self) {
            try await channel.publish(Array("{}".utf8), exchange: "", routingKey: "expiration_probe", properties: AMQPProperties(expiration: "abc"))
        }
        #expect(!channel.isOpen, "the broker closes the channel (PRECONDITION_FAILED)")
        await connection.close()
    }

    // MARK: Checks

    /// The broker's answer to each publish of the burst, by case name.
    final class PublishOutcomes: Sendable {
        let value = Mutex<[String: String]>([:])
    }

    /// Applied by both handlers of card events, once each, and never parked.
    static func expectHandledOnce(_ handledCase: BadInputCase, on postgres: PostgresConnection) async throws {
        let rows = try await postgres.query(
            "SELECT handler, count(*) FROM courier_inbox WHERE event_id = $1 GROUP BY handler ORDER BY handler", [handledCase.eventID])
        let handlers = try rows.map { "\(try $0.decode(String.self, column: 0))×\(try $0.decode(Int64.self, column: 1))" }
        #expect(handlers == ["feeds×1", "notifications×1"], "\(handledCase.name) (event id \(handledCase.eventID.prefix(80))): inbox \(handlers)")
    }

    /// A row in the failure index under the copy's failure id, with the class and the body.
    static func expectIndexed(
        _ parkedCase: BadInputCase, copy: AMQPDelivery, errorClass: String, deadLetterQueue: String, on postgres: PostgresConnection
    ) async throws {
        let failureID = HeaderValues.failureID(copy.properties.headers?[CourierHeader.failureID])
        guard let failureID else {
            Issue.record("\(parkedCase.name): the parked copy has no valid x-courier-failure-id")
            return
        }
        #expect(failureID != parkedCase.properties.headers?[CourierHeader.failureID]?.stringValue, "\(parkedCase.name): the forged failure id was kept")
        let rows = try await postgres.query(
            "SELECT error_class, body, status, attempts FROM courier_failures WHERE dead_letter_queue = $1 AND failure_id = $2",
            [deadLetterQueue, failureID])
        #expect(rows.count == 1, "\(parkedCase.name): \(rows.count) index rows for failure \(failureID)")
        guard let row = rows.first else { return }
        #expect(try row.decode(String.self, column: 0) == errorClass, "\(parkedCase.name): index class")
        let sameBody = try row.decode(Data.self, column: 1) == Data(parkedCase.body)
        #expect(sameBody, "\(parkedCase.name): the index holds another body")
        #expect(try row.decode(String.self, column: 2) == "parked")
    }

    /// The headers the publisher set, without Courier's own (which parking writes).
    static func foreignHeaders(_ headers: AMQPTable?) -> AMQPTable {
        let own = Set(CourierHeader.failureHeaders + [
            CourierHeader.originalExchange, CourierHeader.originalRoutingKey, CourierHeader.originalQueue, CourierHeader.removedHeaders,
            // A quorum queue sets it on every delivery (0 on the first), whatever the publisher sent.
            "x-delivery-count",
        ])
        return AMQPTable((headers?.entries ?? []).filter { !own.contains($0.key) })
    }

    /// A table with its keys in order, nested tables too: a parked copy comes back with its
    /// headers sorted by name (RabbitMQ re-encodes them), which AMQP allows.
    static func sorted(_ table: AMQPTable) -> AMQPTable {
        func sortedValue(_ value: AMQPFieldValue) -> AMQPFieldValue {
            switch value {
            case .table(let nested): .table(sorted(nested))
            case .array(let values): .array(values.map(sortedValue))
            default: value
            }
        }
        return AMQPTable(table.entries.map { (key: $0.key, value: sortedValue($0.value)) }.sorted { $0.key < $1.key })
    }

    /// The header names whose values differ (or are missing on one side), briefly.
    static func difference(_ kept: AMQPTable, _ sent: AMQPTable) -> String {
        let names = Set(kept.keys).union(sent.keys).filter { kept[$0] != sent[$0] }.sorted()
        return names.prefix(10).map { name in
            "\(name.debugDescription): sent \(String(describing: sent[name]).prefix(120)), parked \(String(describing: kept[name]).prefix(120))"
        }.joined(separator: "; ")
    }

    static func errorClass(of copy: AMQPDelivery) -> String {
        copy.properties.headers?[CourierHeader.errorClass]?.stringValue ?? "(none)"
    }

    static func errorMessage(of copy: AMQPDelivery) -> String {
        copy.properties.headers?[CourierHeader.errorMessage]?.stringValue ?? "(none)"
    }

    static func lines(of output: String, containing text: String) -> String {
        output.split(separator: "\n").filter { $0.contains(text) }.prefix(5).joined(separator: "\n")
    }
}
