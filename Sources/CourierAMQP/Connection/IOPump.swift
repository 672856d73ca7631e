import CourierConcurrency

/// Lets the executor call back into the connection without keeping it alive.
///
/// Sendable as it stands (no `@unchecked`): its only state is a `weak let` to an actor.
final class IOPump: ThreadExecutorIOSource {
    /// Weak: the executor keeps its source alive, and the connection must be free to go away.
    weak let connection: AMQPConnection?
    init(connection: AMQPConnection) { self.connection = connection }

    func service(socketReady: Bool) -> ThreadExecutor.Wait {
        guard let connection else { return .idle }
        return connection.assumeIsolated { $0.pump(socketReady: socketReady) }
    }
}
