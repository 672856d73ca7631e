import CourierPostgres

/// How an ``OutboxRelay`` reads the outbox and publishes it.
///
/// | key | meaning | default |
/// |---|---|---|
/// | ``database`` | the Postgres holding `event_store` (its `search_path` finds the table) | — |
/// | ``publisher`` | the broker and publishing settings (see ``PublisherConfiguration``) | — |
/// | ``batchSize`` | rows claimed, published and marked per transaction | 500 |
/// | ``concurrentBatches`` | batches in progress at once, each in its own transaction on its own connection (one is claimed and marked while another waits for its confirms) | 2 |
/// | ``pollInterval`` | how often to look when no `NOTIFY` came (the fallback; notifications wake it at once) | 1 s |
/// | ``retention`` | published rows older than this are deleted | 7 days |
/// | ``pruneInterval`` | how often pruning runs | 10 min |
/// | ``pruneBatchSize`` | rows deleted per statement while pruning | 10,000 |
/// | ``retryDelay`` | the pause after a failed pass (broker or database down, nack...); doubles per failure | 0.5 s |
/// | ``maxRetryDelay`` | the longest such pause | 15 s |
/// | ``migrate`` | apply ``OutboxSchema`` at start (idempotent, advisory-locked) | true |
///
/// A `retention` of zero or less disables pruning.
public struct RelayConfiguration: Sendable {
    public var database: PostgresConfiguration
    public var publisher: PublisherConfiguration
    public var batchSize: Int = 500
    public var concurrentBatches: Int = 2
    public var pollInterval: Duration = .seconds(1)
    public var retention: Duration = .seconds(7 * 24 * 3600)
    public var pruneInterval: Duration = .seconds(600)
    public var pruneBatchSize: Int = 10_000
    public var retryDelay: Duration = .milliseconds(500)
    public var maxRetryDelay: Duration = .seconds(15)
    public var migrate: Bool = true

    public init(database: PostgresConfiguration, publisher: PublisherConfiguration) {
        self.database = database
        self.publisher = publisher
        if self.database.applicationName == nil { self.database.applicationName = "courier-outbox-relay" }
    }

    /// From a `postgres://` URL and an `amqp://` URL.
    /// - Throws: `PostgresError` or ``PublishError`` with code `invalidConfiguration`.
    public init(databaseURL: String, amqpURL: String, appID: String = "courier-outbox-relay") throws {
        self.init(
            database: try PostgresConfiguration(url: databaseURL),
            publisher: try PublisherConfiguration(url: amqpURL, appID: appID))
    }
}
