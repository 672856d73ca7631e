import CourierEvents
import CourierPostgres

/// One of Semble's handlers (feeds, notifications): applies decoded events to Postgres.
///
/// The runner (``EventHandlerRunner``) calls ``apply(_:in:)`` inside a transaction of the
/// handler's own, after claiming the events in the inbox (`courier_inbox`, keyed by
/// `(handler name, event id)`) in that same transaction. So:
/// - `apply` sees only events of its ``eventTypes`` that this handler has never committed
///   (redeliveries, replays and duplicates within a batch are filtered out before it);
/// - its writes and the inbox rows commit or roll back together — the effect happens once;
/// - handlers are isolated: each has its own transaction and inbox rows, so when one fails and
///   the event is retried, the handlers that already committed skip it.
///
/// `apply` must be deterministic and set-based (one batch = a few statements, not one per
/// event), and must not commit or roll back itself. Throwing rolls back the whole batch; the
/// runner then splits it in halves and tries each again, down to single events, to find the one
/// at fault (about 2·log₂(n) extra transactions for one poison event).
package protocol EventHandler: Sendable {
    /// Stable: recorded in the inbox with each event id. Renaming a handler re-applies events.
    var name: String { get }
    /// The event types this handler reacts to.
    var eventTypes: Set<EventType> { get }
    /// Applies `events` (in delivery order, each id at most once) inside the open transaction.
    func apply(_ events: [EventEnvelope], in transaction: isolated PostgresConnection) async throws
}
