import CourierAMQP

/// What the engine runs for the deliveries of the app queue.
///
/// Handlers receive batches (up to the engine's batch size) so they can apply many events in one
/// transaction, and answer with one outcome per delivery, in order. The engine acks only after
/// `handle` returns, so an outcome of `.handled` must mean the effect is committed.
package protocol DeliveryHandler: Sendable {
    /// Written on dead-lettered messages when the handler itself does not name one.
    var name: String { get }

    /// One outcome per delivery, in the same order. Never throws: a failure is an outcome.
    func handle(_ deliveries: [AMQPDelivery]) async -> [HandlingOutcome]

    /// The first dependency that is down for every message (e.g. "postgres"), or nil when all
    /// are reachable. Asked while consuming is paused, to know when to resume.
    func unavailableDependency() async -> String?
}

extension DeliveryHandler {
    package func unavailableDependency() async -> String? { nil }
}
