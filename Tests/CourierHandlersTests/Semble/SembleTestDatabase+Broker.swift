import CourierAMQP
import CourierEngine
import CourierEvents
import CourierPostgres
import CourierTesting
import Foundation
import Logging
import Testing

@testable import CourierHandlers

/// How a scenario's events reach the handlers.
enum Delivery: String, Sendable, CaseIterable, CustomTestStringConvertible {
    /// Straight into the handlers, one batch (as the runner hands them over).
    case direct
    /// Published to `domain_events` on the test's broker, routed to an app queue of the test's
    /// own and consumed by the engine with Semble's handlers behind the runner, as courierd does.
    case broker

    var testDescription: String { rawValue }
}

extension SembleTestDatabase {
    /// Delivers `events` (distinct ids) the chosen way; returns once each is applied.
    func deliver(_ events: [EventEnvelope], _ delivery: Delivery) async throws {
        switch delivery {
        case .direct: try await applyBatch(events)
        case .broker: try await deliverThroughBroker(events)
        }
    }

    /// Publishes `events` to `domain_events` (persistent, confirmed, routed by type, Courier's
    /// encoding) and consumes them with the engine and ``SembleHandlers`` until every handler has every event
    /// of its types in its inbox.
    func deliverThroughBroker(_ events: [EventEnvelope]) async throws {
        let url = try TestEnvironment.amqpURL()
        let consuming = try await AMQPConnection.connect(url: url)
        let publishing = try await AMQPConnection.connect(url: url)
        let topology = Topology(.init(appName: TestEnvironment.uniqueName("scenario"), eventTypes: EventType.allWireNames))
        try await topology.declare(on: consuming)
        let channel = try await publishing.openChannel()
        try await channel.confirmSelect()
        for event in events {
            let outcome = try await channel.publish(
                EventEncoder().encode(event), exchange: Topology.exchangeName, routingKey: event.type.rawValue,
                properties: AMQPProperties(
                    contentType: "application/json", headers: [EventSchema.versionHeader: .int32(Int32(EventSchema.currentVersion))],
                    deliveryMode: .persistent, messageID: event.id, type: event.type.rawValue),
                mandatory: true)
            #expect(outcome == .acked)
        }
        try await channel.close()
        let handlers = SembleHandlers.make(settings: settings)
        let runner = EventHandlerRunner(handlers: handlers, pool: pool, logger: Logger(label: "test"))
        let engine = ConsumerEngine(topology: topology, handler: runner, logger: Logger(label: "test"))
        let task = Task { try await engine.run(consuming: consuming, publishing: publishing) }
        // Every handler commits in its own transaction, in any order: wait for each one to have
        // every event of its types in its inbox, not only the one that takes every type.
        let expected = handlers.map { handler in
            (handler.name, Array(Set(events.filter { handler.eventTypes.contains($0.type) }.map(\.id))))
        }
        let applied = await eventually {
            for (name, ids) in expected where !ids.isEmpty {
                let rows = try? await connection.query(
                    "SELECT count(*) FROM courier_inbox WHERE handler = $1 AND event_id = ANY ($2::text[])", [name, ids])
                guard (try? rows?.first?.decode(Int64.self, column: 0)) == Int64(ids.count) else { return false }
            }
            return true
        }
        #expect(applied, "every event reached the handlers through the broker")
        task.cancel()
        _ = await task.result
        let cleanup = try await consuming.openChannel()
        for queue in topology.queues where queue.name != Topology.unroutedName {
            _ = try? await cleanup.deleteQueue(queue.name)
        }
        try? await cleanup.close()
        await consuming.close()
        await publishing.close()
    }
}
