import CourierAMQP
import CourierEngine
import CourierEvents
import CourierPostgres
import CourierTesting
import Foundation
import Logging
import Testing

@testable import CourierHandlers

/// Failures the same input always causes are permanent (parked at once), against the real
/// Postgres and through the real runner: values the codec refuses before Postgres sees them,
/// errors Postgres itself reports for the input, and a client-side encoding failure.
@Suite("Deterministic failures are permanent", .tags(.integration))
struct DeterministicFailureTests {
    typealias Kit = EventHandlerRunnerTests

    /// Runs one statement per event, chosen by the test from the event (nil: just record it).
    struct SQLHandler: EventHandler {
        let name: String
        let eventTypes: Set<EventType> = [.cardAddedToLibrary]
        let statement: @Sendable (EventEnvelope) -> (String, [any PostgresEncodable])?

        func apply(_ events: [EventEnvelope], in transaction: isolated PostgresConnection) async throws {
            for event in events {
                _ = try transaction.execute("INSERT INTO effects (handler, event_id) VALUES ($1, $2)", [name, event.id])
                if let (sql, bindings) = statement(event) { _ = try transaction.execute(sql, bindings) }
            }
        }
    }

    /// A body of Semble's API (schema version 1, no message id) with `cardId` as given.
    static func card(_ cardId: String, header: AMQPFieldValue? = nil) -> AMQPDelivery {
        var body = #"{"eventType":"CardAddedToLibraryEvent","aggregateId":"a","dateTimeOccurred":"2026-11-28T10:00:00Z","#
        body += #""cardId":"# + jsonString(cardId) + #","curatorId":"did:plc:x","addedAt":"2026-11-28T10:00:00Z"}"#
        var delivery = Kit.raw(body, routingKey: "CardAddedToLibraryEvent")
        if let header { delivery.properties.headers = [EventSchema.versionHeader: header] }
        return delivery
    }

    static func failure(_ outcome: HandlingOutcome) -> HandlingFailure? {
        if case .permanentFailure(let failure) = outcome { return failure }
        return nil
    }

    @Test("a 10,000-character id, a NUL in an id and a garbage schema version are parked at once by the codec, naming the field; neighbours commit")
    func rejectedByTheCodec() async throws {
        let database = try await Kit.Database.make()
        let handler = Kit.TestHandler(name: "h", eventTypes: Set(EventType.allCases))
        let runner = EventHandlerRunner(handlers: [handler] + SembleHandlers.all, pool: database.pool, logger: Logger(label: "test"))
        let good = [Kit.event(1), Kit.event(2), Kit.event(3)]
        let outcomes = await runner.handle([
            Kit.delivery(good[0]),
            Self.card(String(repeating: "c", count: 10_000)),
            Kit.delivery(good[1]),
            Self.card("card\u{0}1"),
            Self.card("card-2", header: .string("abc")),
            Self.card("card-3", header: .decimal(scale: 1, value: 15)),
            Kit.delivery(good[2]),
        ])
        #expect(outcomes[0] == .handled && outcomes[2] == .handled && outcomes[6] == .handled, "\(outcomes)")
        let long = Self.failure(outcomes[1]), nul = Self.failure(outcomes[3])
        let text = Self.failure(outcomes[4]), decimal = Self.failure(outcomes[5])
        #expect(long?.errorClass == "InvalidField")
        #expect(long?.message == "field 'cardId': an id of 10000 bytes; ids are at most 512 bytes (UTF-8)")
        #expect(nul?.errorClass == "InvalidField")
        #expect(nul?.message.hasPrefix("field 'cardId': contains the control character U+0000") == true, "\(nul?.message ?? "")")
        #expect(text?.errorClass == "UnsupportedSchemaVersion")
        #expect(text?.message.contains("\"abc\"") == true)
        #expect(decimal?.errorClass == "UnsupportedSchemaVersion")
        #expect(try await database.effects("h") == Dictionary(uniqueKeysWithValues: good.map { ($0.id, 1) }))
        try await database.drop()
    }

    @Test("the longest ids the codec accepts fit the widest index: a pending bundle's (card, actor), and its id")
    func boundFitsTheIndexes() async throws {
        let database = try await Kit.Database.make()
        // Every other character is a quote or a backslash (they double in an array's text form);
        // the rest is pseudo-random so that Postgres cannot compress the key below the limit.
        var random = SplitMix64(seed: 12)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/._-~!@#$%^&*()+=[]{};,<>?|é✨")
        func id() -> String {
            var out = ""
            while out.utf8.count < EventSchema.maximumIDBytes {
                let next: Character = out.utf8.count % 2 == 0 ? (random.next(below: 2) == 0 ? "\"" : "\\") : alphabet[random.next(below: alphabet.count)]
                if out.utf8.count + String(next).utf8.count > EventSchema.maximumIDBytes { break }
                out.append(next)
            }
            return out
        }
        let (bundle, card, actor, collection) = (id(), id(), id(), id())
        #expect(card.utf8.count >= EventSchema.maximumIDBytes - 3)
        let inserted = try await database.pool.withConnection { connection in
            try await connection.execute(
                """
                INSERT INTO card_activity_bundles (bundle_id, card_id, actor_id, opened_at, due_at, collection_ids)
                VALUES ($1, $2, $3, now(), now(), ARRAY[$4::text])
                """, [bundle, card, actor, collection])
        }
        #expect(inserted == 1)
        try await database.drop()
    }

    @Test("errors Postgres reports for the input (54000 index row too large, 22P02, 22012) and a NUL sent as a parameter are permanent; a missing table is transient")
    func reportedByPostgres() async throws {
        let database = try await Kit.Database.make()
        _ = try await database.pool.withConnection { try await $0.execute("CREATE TABLE wide (k text PRIMARY KEY)") }
        let statements: [String: (String, [any PostgresEncodable])] = [
            // ~9,600 bytes of distinct md5 digests: pglz cannot shrink them under the btree limit.
            "event-1": ("INSERT INTO wide SELECT string_agg(md5($1 || i::text), '') FROM generate_series(1, 300) i", ["x"]),
            "event-2": ("SELECT $1::int", ["abc"]),
            "event-3": ("SELECT 1 / $1::int", [0]),
            "event-4": ("INSERT INTO wide VALUES ($1)", ["nul\u{0}inside"]),
            "event-5": ("SELECT * FROM not_migrated_yet", []),
        ]
        let handler = SQLHandler(name: "sql") { statements[$0.id] }
        let runner = EventHandlerRunner(handlers: [handler], pool: database.pool, logger: Logger(label: "test"))
        let events = (0..<7).map { Kit.event($0) }
        let outcomes = await runner.handle(events.map { Kit.delivery($0) })

        #expect(outcomes[0] == .handled && outcomes[6] == .handled, "\(outcomes)")
        #expect(Self.failure(outcomes[1])?.errorClass == "PostgresError.queryFailed.54000", "\(outcomes[1])")
        #expect(Self.failure(outcomes[2])?.errorClass == "PostgresError.queryFailed.22P02", "\(outcomes[2])")
        #expect(Self.failure(outcomes[3])?.errorClass == "PostgresError.queryFailed.22012", "\(outcomes[3])")
        #expect(Self.failure(outcomes[4])?.errorClass == "PostgresError.encodingFailed", "\(outcomes[4])")
        #expect(Self.failure(outcomes[4])?.message.contains("NUL") == true)
        guard case .transientFailure(let missing) = outcomes[5] else {
            Issue.record("a table not migrated yet must be retried: \(outcomes[5])")
            return
        }
        #expect(missing.errorClass == "PostgresError.queryFailed.42P01")
        #expect(try await database.effects("sql") == ["event-0": 1, "event-6": 1], "the neighbours committed")

        // An operator who lists 42P01 makes the same failure permanent.
        let strict = EventHandlerRunner(
            handlers: [handler], pool: database.pool,
            failurePolicy: FailureClassification.Policy(permanentSQLStates: FailureClassification.Policy.standardPermanentSQLStates + ["42P01"]),
            logger: Logger(label: "test"))
        #expect(Self.failure(await strict.handle([Kit.delivery(events[5])])[0])?.errorClass == "PostgresError.queryFailed.42P01")
        try await database.drop()
    }
}
