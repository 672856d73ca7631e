import CourierAMQP
import CourierEngine
import CourierEvents
import CourierPostgres
import CourierTelemetry
import Logging
import Tracing

/// The engine's ``DeliveryHandler`` for Semble: decodes each delivery, hands every
/// ``EventHandler`` the events of its types, and answers one outcome per delivery.
///
/// For each handler, a batch is one transaction on a connection of its own (handlers run
/// concurrently): take the handler's advisory lock (several courierd instances never interleave
/// one handler's recomputations), claim the events in the inbox (`courier_inbox`, primary key
/// `(handler, event_id)`; the ids already there were applied before and are skipped), apply the
/// rest, commit. Effects and inbox rows commit together, so a redelivered or replayed event
/// changes nothing, and a handler that committed is not run again when another handler of the
/// same event failed and the event is retried.
///
/// Isolation: when a batch fails, it is split in halves and each half tried again, down to
/// single events, so one poison event costs about 2·log₂(n) extra transactions and its
/// neighbours commit. Postgres unreachable is not the events' fault: every event of the batch
/// is answered "dependency unavailable" (the engine requeues and pauses, spending no retries).
///
/// A delivery that does not decode (malformed JSON, unknown type, a missing or invalid field —
/// NUL in a string, an id too long for an index — an unsupported or garbage schema version) is a
/// permanent failure whose message names the field. A database error is classified by
/// ``FailureClassification`` with the runner's policy.
///
/// Tracing (with a tracer bootstrapped): each delivery's trace context is extracted from its
/// headers, and each (event, handler) gets a consumer span `<handler> <event type>`, its child,
/// from the start of the handler's transaction to the event's outcome (``CourierSpan``); a
/// delivery that does not decode gets a `decode` span holding the error.
package struct EventHandlerRunner: DeliveryHandler {
    package let name = "semble"
    package let handlers: [any EventHandler]
    package let pool: PostgresPool
    let decoder: EventDecoder
    /// Which database errors park an event at once rather than retry it.
    let failurePolicy: FailureClassification.Policy
    let logger: Logger

    package init(
        handlers: [any EventHandler], pool: PostgresPool, decoder: EventDecoder = EventDecoder(),
        failurePolicy: FailureClassification.Policy = .standard, logger: Logger
    ) {
        self.handlers = handlers
        self.pool = pool
        self.decoder = decoder
        self.failurePolicy = failurePolicy
        self.logger = logger
    }

    /// The routing keys the app queue is bound to: every wire name (legacy aliases included) of
    /// the event types some handler takes.
    package var bindingKeys: [String] { Self.bindingKeys(of: handlers) }

    /// The binding keys of `handlers` (what `courier topology` compares with the broker).
    package static func bindingKeys(of handlers: [any EventHandler]) -> [String] {
        let types = Set(handlers.flatMap(\.eventTypes))
        return types.flatMap { [$0.rawValue] + $0.legacyAliases }.sorted()
    }

    package func handle(_ deliveries: [AMQPDelivery]) async -> [HandlingOutcome] {
        var outcomes = [HandlingOutcome](repeating: .handled, count: deliveries.count)
        var events: [(index: Int, event: EventEnvelope)] = []
        events.reserveCapacity(deliveries.count)
        let tracing = HandlerSpans(deliveries)
        for (index, delivery) in deliveries.enumerated() {
            do {
                events.append((index, try decode(delivery)))
            } catch {
                let failure = HandlingFailure(errorClass: error.errorClass, message: error.message, handler: "decoder")
                outcomes[index] = .permanentFailure(failure)
                tracing?.decodeFailed(index, routingKey: FailureHeaders.originalRoutingKey(of: delivery), failure: failure)
            }
        }
        guard !events.isEmpty else { return outcomes }

        let results = await withTaskGroup(of: [(Int, HandlingOutcome)].self) { group in
            for handler in handlers {
                let mine = events.filter { handler.eventTypes.contains($0.event.type) }
                guard !mine.isEmpty else { continue }
                group.addTask { await self.run(handler, mine, deliveries: deliveries, tracing: tracing) }
            }
            var failures: [(Int, HandlingOutcome)] = []
            for await result in group { failures += result }
            return failures
        }
        for (index, outcome) in results {
            outcomes[index] = Self.worse(outcomes[index], outcome)
        }
        return outcomes
    }

    package func unavailableDependency() async -> String? {
        do {
            try await pool.withConnection { _ = try await $0.query("SELECT 1") }
            return nil
        } catch {
            return FailureClassification.postgresDependency
        }
    }

    func decode(_ delivery: AMQPDelivery) throws(EventDecodingError) -> EventEnvelope {
        try decoder.decode(
            // A retried or replayed copy arrives through the default exchange; its type and
            // identity come from the routing key of the first publish, kept in a header.
            body: delivery.body, messageId: delivery.properties.messageID, routingKey: FailureHeaders.originalRoutingKey(of: delivery),
            typeProperty: delivery.properties.type,
            schemaVersionHeader: SchemaVersionHeader(of: delivery))
    }

    /// Applies `events` with `handler`; returns the outcomes of the events that failed (by
    /// delivery index), nothing when all committed.
    func run(
        _ handler: any EventHandler, _ events: [(index: Int, event: EventEnvelope)], deliveries: [AMQPDelivery] = [],
        tracing: HandlerSpans? = nil
    ) async -> [(Int, HandlingOutcome)] {
        // The same event twice in one batch is applied once; its copies share the outcome.
        var first: [String: Int] = [:]
        var unique: [(index: Int, event: EventEnvelope)] = []
        var copies: [(index: Int, of: Int)] = []
        for item in events {
            if let original = first[item.event.id] {
                copies.append((item.index, original))
            } else {
                first[item.event.id] = item.index
                unique.append(item)
            }
        }
        let spans = tracing?.start(handler.name, unique)
        var failed = await isolate(handler, unique[...], deliveries: deliveries)
        let byIndex = Dictionary(failed, uniquingKeysWith: { a, _ in a })
        spans?.end(byIndex)
        for copy in copies {
            if let outcome = byIndex[copy.of] { failed.append((copy.index, outcome)) }
        }
        return failed
    }

    /// Applies the events in one transaction; if that fails, halves and retries each half.
    private func isolate(
        _ handler: any EventHandler, _ events: ArraySlice<(index: Int, event: EventEnvelope)>, deliveries: [AMQPDelivery]
    ) async -> [(Int, HandlingOutcome)] {
        let error: any Error
        do {
            try await apply(handler, events.map(\.event))
            return []
        } catch let caught {
            error = caught
        }
        let outcome = FailureClassification.outcome(for: error, handler: handler.name, policy: failurePolicy)
        if case .dependencyUnavailable = outcome {
            return events.map { ($0.index, outcome) }
        }
        guard events.count > 1 else {
            if let only = events.first {
                let type = only.event.type.rawValue
                let event = only.index < deliveries.count
                    ? EventLogContext(delivery: deliveries[only.index], eventType: type, eventID: only.event.id)
                    : EventLogContext(eventID: only.event.id, eventType: type, traceID: nil)
                event.withValue {
                    logger.warning("handler failed", metadata: ["handler": "\(handler.name)", "error": "\(error)"])
                }
            }
            return events.map { ($0.index, outcome) }
        }
        let middle = events.startIndex + events.count / 2
        let left = await isolate(handler, events[..<middle], deliveries: deliveries)
        if left.contains(where: { if case .dependencyUnavailable = $0.1 { true } else { false } }) {
            // Postgres went away meanwhile: the rest is not at fault either.
            return left + events[middle...].map { ($0.index, HandlingOutcome.dependencyUnavailable(dependency: FailureClassification.postgresDependency)) }
        }
        return left + (await isolate(handler, events[middle...], deliveries: deliveries))
    }

    /// One transaction: the handler's lock, the inbox claim, the handler's writes.
    func apply(_ handler: any EventHandler, _ events: [EventEnvelope]) async throws {
        try await pool.withTransaction { connection in
            try Inbox.lock(handler: handler.name, on: connection)
            let fresh = try Inbox.claim(events, handler: handler.name, on: connection)
            if !fresh.isEmpty {
                try await handler.apply(fresh, in: connection)
            }
        }
    }

    /// Of two outcomes for one delivery (two handlers), the one that decides its fate: a
    /// dependency down beats a permanent failure, which beats a transient one, which beats success.
    static func worse(_ a: HandlingOutcome, _ b: HandlingOutcome) -> HandlingOutcome {
        func rank(_ outcome: HandlingOutcome) -> Int {
            switch outcome {
            case .handled: 0
            case .transientFailure: 1
            case .permanentFailure: 2
            case .dependencyUnavailable: 3
            }
        }
        return rank(b) > rank(a) ? b : a
    }
}
