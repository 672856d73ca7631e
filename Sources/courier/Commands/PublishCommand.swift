import ArgumentParser
import CourierEvents
import CourierPublisher
import Foundation

/// `courier publish --type T --data JSON`: one Semble event through the publisher library
/// (persistent, confirmed), validated by the same decoder courierd uses first.
struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish one event to domain_events, for operators and demos.",
        discussion: """
            --data holds the event's fields, e.g. \
            '{"cardId":"card-1","curatorId":"did:plc:alice"}'. eventType comes from --type; \
            dateTimeOccurred defaults to now and aggregateId to the event's first id field \
            (cardId, collectionId, followId, connectionId).
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "The event type, e.g. CardAddedToLibraryEvent.")
    var type: String

    @Option(help: "The event's fields as a JSON object.")
    var data: String

    @Option(help: "The message id (default: a new UUID).")
    var messageID: String?

    func run() async throws {
        try await runCommand {
            let context = try await CommandContext.load(global)
            guard EventType(rawValue: type) != nil else {
                throw OpsError(.usage, "--type '\(type)' is not one of \(EventType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else {
                throw OpsError(.usage, "--data is not a JSON object")
            }
            var fields = object
            fields["eventType"] = type
            if fields["dateTimeOccurred"] == nil {
                let formatter = ISO8601DateFormatter()
                formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                fields["dateTimeOccurred"] = formatter.string(from: Date())
            }
            if fields["aggregateId"] == nil {
                fields["aggregateId"] = ["cardId", "collectionId", "followId", "connectionId"].lazy.compactMap { fields[$0] as? String }.first
            }
            let body = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
            var envelope: EventEnvelope
            do {
                envelope = try EventDecoder().decode(
                    body: Array(body), messageId: nil, routingKey: type, typeProperty: nil, schemaVersion: EventSchema.currentVersion)
            } catch {
                throw OpsError(.usage, "--data is not a valid \(type): \(error)")
            }
            envelope.id = messageID ?? UUID().uuidString.lowercased()
            let publisher = EventPublisher(
                configuration: PublisherConfiguration(amqp: context.configuration.amqp, appID: "courier-cli"), logger: context.logger)
            do {
                try await publisher.publish(envelope)
            } catch {
                await publisher.shutdown()
                throw OpsError((error as? PublishError)?.mayHaveBeenPublished == true ? .incomplete : .unavailable, "not published: \(error)")
            }
            await publisher.shutdown()
            if global.json {
                try Output.json(["message_id": envelope.id, "event_type": type, "aggregate_id": envelope.aggregateId])
            } else {
                Output.line("published \(type) \(envelope.id) (confirmed by the broker)")
            }
        }
    }
}
