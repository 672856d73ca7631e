// CourierPublisher: what Semble's API embeds to hand events to Courier without ever losing one.
//
// - `EventPublisher`: confirmed, persistent publishing to `domain_events` — one connection and one
//   confirm channel shared by all callers (streaming confirms), explicit `PublishError`s, quick
//   failure and backed-off reconnects when the broker is down.
// - `Outbox`: events written into `event_store` inside the caller's own Postgres transaction,
//   so the domain change and its event commit or roll back together; `OutboxSchema` creates the
//   table and what the relay needs.
// - `OutboxRelay`: a `Service` that publishes the outbox — claims rows with `FOR UPDATE SKIP
//   LOCKED`, publishes them in order with confirms, marks them only once confirmed; several relays
//   may run at once; wakes on `NOTIFY`, polls as a fallback, prunes after a retention period.
//
// ## Example: the API side
//
// At start-up, create the table (idempotent; the API's migration step) and run the relay next to
// the HTTP server — or leave the relay to courierd, which runs one by default:
//
// ```swift
// import CourierEvents
// import CourierPostgres
// import CourierPublisher
// import ServiceLifecycle
//
// let database = try PostgresConfiguration(url: env["DATABASE_URL"]!)
// let pool = PostgresPool(configuration: database, maximumConnections: 10)
// try await pool.withConnection { conn in try await OutboxSchema.migrate(on: conn) }
//
// let relay = OutboxRelay(configuration: RelayConfiguration(
//     database: database,
//     publisher: try PublisherConfiguration(url: env["AMQP_URL"]!, appID: "semble-api")))
// let services = ServiceGroup(services: [httpServer, relay], gracefulShutdownSignals: [.sigterm], logger: logger)
// try await services.run()
// ```
//
// Handling a request: one transaction writes the domain row and enqueues its event. If anything
// throws, both roll back; once it commits, the insert trigger's `NOTIFY courier_outbox` wakes the
// relay, which publishes the event (routing key `CardAddedToLibraryEvent`, `message_id` = the
// event's UUID) and marks it published after the broker's confirm. courierd's queue is bound to
// that routing key, and its handlers write the feed activity and the notification — once, even
// if the relay published the event twice after a crash, because they apply each message id once.
//
// ```swift
// func addCardToLibrary(cardId: String, curator: String) async throws {
//     let now = Date()
//     // The request's span (swift-distributed-tracing; e.g. Hummingbird's TracingMiddleware) is the
//     // current ServiceContext: enqueue stores its trace context, the relay's publish continues it.
//     try await withSpan("add card to library") { _ in
//         try await pool.withTransaction { conn in
//             try conn.execute(
//                 "INSERT INTO library_memberships (card_id, curator_id, added_at) VALUES ($1, $2, $3)",
//                 [cardId, curator, now])
//             try Outbox.enqueue(
//                 .outgoing(.cardAddedToLibrary(.init(cardId: cardId, curatorId: curator, addedAt: now)), occurredAt: now),
//                 in: conn)
//         }
//     }
// }
// ```
//
// For events that may be lost (best effort, no database at hand), publish directly; it returns
// once the broker confirmed, or throws a `PublishError` saying why not:
//
// ```swift
// let publisher = EventPublisher(configuration: try PublisherConfiguration(url: env["AMQP_URL"]!, appID: "semble-api"))
// try await publisher.publish(.outgoing(.collectionCreated(.init(collectionId: id, authorId: did, collectionName: name))))
// ```
