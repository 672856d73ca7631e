import CourierAMQP

/// How an ``EventPublisher`` reaches the broker and how long it waits.
///
/// | key | meaning | default |
/// |---|---|---|
/// | ``amqp`` | the broker: `amqp://user:password@host:port/vhost` or `amqps://…` (see `AMQPConfiguration`) | — |
/// | ``appID`` | the AMQP `app_id` property of every message: who published it | `courier-publisher` |
/// | ``confirmTimeout`` | how long a publish waits for the broker's confirm before ``PublishError/Code/timedOut`` | 30 s |
/// | ``maxInFlight`` | the confirm window: publishes awaiting their confirm on the shared channel before new ones wait | 1000 |
/// | ``reconnectDelay`` | the pause after a failed connect before the next attempt; doubles per failure | 0.5 s |
/// | ``maxReconnectDelay`` | the longest such pause | 5 s |
///
/// With ``init(url:appID:)`` the connect timeout is 5 s unless the URL says otherwise
/// (`connection_timeout`, in milliseconds): a publish to a dead broker fails within seconds
/// instead of AMQPConfiguration's 10 s. While the publisher waits between connect attempts,
/// publishes fail at once (``PublishError/Code/connectionFailed``) rather than queue up behind a
/// dead broker or hammer it.
///
/// The password never appears in ``description``, logs or errors.
public struct PublisherConfiguration: Sendable, CustomStringConvertible {
    /// The broker. Its `connectionName` defaults to `courier-publisher (<appID>)`.
    public var amqp: AMQPConfiguration
    public var appID: String
    public var confirmTimeout: Duration = .seconds(30)
    public var maxInFlight: Int = 1000
    public var reconnectDelay: Duration = .milliseconds(500)
    public var maxReconnectDelay: Duration = .seconds(5)
    /// Where events go. Always `domain_events` in production: it is internal so that tests can
    /// publish to an exchange of their own in a vhost other tests share.
    var exchange: String = "domain_events"

    public init(amqp: AMQPConfiguration, appID: String = "courier-publisher") {
        self.amqp = amqp
        self.appID = appID
        if self.amqp.connectionName == nil { self.amqp.connectionName = "courier-publisher (\(appID))" }
    }

    /// Parses the broker URL (see `AMQPConfiguration(url:)`).
    /// - Throws: ``PublishError`` with ``PublishError/Code/invalidConfiguration`` naming what is
    ///   wrong (never the password).
    public init(url: String, appID: String = "courier-publisher") throws(PublishError) {
        let amqp: AMQPConfiguration
        do {
            amqp = try AMQPConfiguration(url: url)
        } catch {
            throw PublishError(code: .invalidConfiguration, reason: error.replyText ?? "invalid AMQP URL", underlying: error)
        }
        self.init(amqp: amqp, appID: appID)
        if !url.contains("connection_timeout=") { self.amqp.connectionTimeout = .seconds(5) }
    }

    /// The exchange events are published to (`domain_events`).
    public var exchangeName: String { exchange }

    public var description: String {
        "PublisherConfiguration(\(amqp.redactedURL), appID: \(appID), exchange: \(exchange), confirmTimeout: \(confirmTimeout), maxInFlight: \(maxInFlight))"
    }
}
