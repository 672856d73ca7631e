import CourierAMQP
import CourierEngine

/// Sends each delivery to the handler registered for its event type (the routing key, or the
/// `type` property), preserving the batch order of outcomes. An event type nobody handles is a
/// permanent failure: it goes to the dead-letter queue with that reason, never silently dropped.
struct EventRouter: DeliveryHandler {
    let name = "router"
    let handlers: [String: any DeliveryHandler]

    /// The event types that have a handler: the app queue is bound to exactly these.
    var eventTypes: [String] { handlers.keys.sorted() }

    func handle(_ deliveries: [AMQPDelivery]) async -> [HandlingOutcome] {
        var outcomes = [HandlingOutcome?](repeating: nil, count: deliveries.count)
        var groups: [String: [Int]] = [:]
        for (index, delivery) in deliveries.enumerated() {
            let type = handlers[delivery.routingKey] != nil ? delivery.routingKey : (delivery.properties.type ?? delivery.routingKey)
            if handlers[type] != nil {
                groups[type, default: []].append(index)
            } else {
                outcomes[index] = .permanentFailure(
                    HandlingFailure(errorClass: "UnknownEventType", message: "no handler for event type '\(type)'", handler: name))
            }
        }
        for (type, indices) in groups {
            guard let handler = handlers[type] else { continue }
            let results = await handler.handle(indices.map { deliveries[$0] })
            for (position, index) in indices.enumerated() {
                outcomes[index] =
                    position < results.count
                    ? results[position]
                    : .transientFailure(HandlingFailure(errorClass: "MissingOutcome", message: "no outcome returned", handler: handler.name))
            }
        }
        return outcomes.map { $0 ?? .handled }
    }

    func unavailableDependency() async -> String? {
        for handler in handlers.values {
            if let down = await handler.unavailableDependency() { return down }
        }
        return nil
    }
}
