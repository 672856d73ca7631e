import CourierConcurrency

/// The I/O source a listening connection installs on its executor.
///
/// Between jobs the executor thread calls ``service()``, which reads what the server sent without
/// blocking, delivers notifications, and asks the thread to sleep in `poll(2)` on the
/// connection's socket: a notification wakes the thread at once, with no polling loop.
final class NotificationSource: ThreadExecutorIOSource {
    /// Weak: the executor keeps its source alive, and the connection must be free to go away.
    private weak let connection: PostgresConnection?

    init(connection: PostgresConnection) { self.connection = connection }

    func service(socketReady: Bool) -> ThreadExecutor.Wait {
        // libpq's PQconsumeInput is cheap when nothing is pending; notifications are rare, so the
        // readiness hint is not needed here.
        // Runs on the connection's executor thread, between jobs: the actor's isolation holds.
        connection?.assumeIsolated { $0.serviceNotifications() } ?? .idle
    }
}
