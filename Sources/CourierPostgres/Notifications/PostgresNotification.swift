/// A notification sent with `NOTIFY` or `pg_notify` and received by ``PostgresConnection/listen(_:bufferingPolicy:)``.
public struct PostgresNotification: Sendable, Hashable {
    /// The channel it was sent on.
    public var channel: String
    /// The payload; empty when none was given.
    public var payload: String
    /// The server process ID of the sending session (``PostgresConnection/processID``).
    public var processID: Int32

    public init(channel: String, payload: String, processID: Int32) {
        self.channel = channel
        self.payload = payload
        self.processID = processID
    }
}
