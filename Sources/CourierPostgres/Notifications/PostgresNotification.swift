/// A notification sent with `NOTIFY` or `pg_notify` and received by ``PostgresConnection/listen(_:bufferingPolicy:)``.
package struct PostgresNotification: Sendable, Hashable {
    /// The channel it was sent on.
    package var channel: String
    /// The payload; empty when none was given.
    package var payload: String
    /// The server process ID of the sending session (``PostgresConnection/processID``).
    package var processID: Int32

    package init(channel: String, payload: String, processID: Int32) {
        self.channel = channel
        self.payload = payload
        self.processID = processID
    }
}
