import CourierAMQP
import CourierEvents
import CourierPostgres
import CourierTesting
import Foundation
import Testing

@testable import CourierPublisher

/// docs/ARCHITECTURE.md's SQL for an API without Courier's library (Semble's TypeScript API), run as
/// it is written there: what it enqueues is published by the relay and decodes to the event.
@Suite("The outbox from SQL", .tags(.integration))
struct OutboxSQLSnippetTests {
    /// The statement between docs/ARCHITECTURE.md's `outbox-sql:begin` and `outbox-sql:end` markers.
    static func readmeSnippet() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("docs").appendingPathComponent("ARCHITECTURE.md"), encoding: .utf8)
        let begin = try #require(readme.range(of: "<!-- outbox-sql:begin -->"))
        let end = try #require(readme.range(of: "<!-- outbox-sql:end -->"))
        let block = readme[begin.upperBound..<end.lowerBound]
        let lines = block.split(separator: "\n").filter { !$0.hasPrefix("```") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        return lines.joined(separator: "\n")
    }

    @Test("the architecture document's INSERT, in the API's transaction with Semble's EventMapper body, is relayed once and decodes to the event; no NOTIFY needed")
    func readmeSnippetIsRelayed() async throws {
        let snippet = try Self.readmeSnippet()
        #expect(snippet.contains("INSERT INTO courier.event_store"), "the document names Courier's default schema")
        let database = try await OutboxTestDatabase.make()
        let exchange = try await TestExchange.make()
        // The test's own schema stands in for `courier`.
        let statement = snippet.replacingOccurrences(of: "courier.event_store", with: "\(database.schema).event_store")

        let id = UUID().uuidString.lowercased()
        let card = UUID().uuidString.lowercased()
        let body = #"{"eventType":"CardAddedToLibraryEvent","aggregateId":"\#(card)","dateTimeOccurred":"2026-03-01T12:00:00.003Z","cardId":"\#(card)","curatorId":"did:plc:7iza6de2dwap2sbkpav7c6c6","addedAt":"2026-03-01T12:00:00.000Z"}"#
        try await database.connection.withTransaction { conn in
            try conn.execute("CREATE TABLE library_memberships_\(database.schema) (card_id text)")
            try conn.execute("INSERT INTO library_memberships_\(database.schema) VALUES ($1)", [card])
            try conn.execute(statement, [id, card, "CardAddedToLibraryEvent", body, "2026-03-01T12:00:00.003Z"])
        }

        let relay = OutboxRelay(configuration: try testRelayConfiguration(database: database, exchange: exchange), logger: quietLogger)
        let messages = try await whileRunning([relay]) {
            #expect(await eventually { (try? await database.unpublishedCount()) == 0 })
            return try await exchange.messages(expecting: 1)
        }
        #expect(messages.map(\.properties.messageID) == [id])
        #expect(messages.map(\.routingKey) == ["CardAddedToLibraryEvent"])
        let envelope = try decode(messages[0])
        #expect(envelope.id == id)
        #expect(envelope.aggregateId == card)
        #expect(envelope.event == .cardAddedToLibrary(.init(
            cardId: card, curatorId: "did:plc:7iza6de2dwap2sbkpav7c6c6", addedAt: Date(timeIntervalSince1970: 1_772_366_400))))
        await database.drop()
        await exchange.delete()
    }
}
