import CourierConcurrency

/// Lets the executor call back into the connection without keeping it alive.
final class IOPump: ThreadExecutorIOSource, @unchecked Sendable {
    weak var connection: AMQPConnection?
    init(connection: AMQPConnection) { self.connection = connection }

    func service(socketReady: Bool) -> ThreadExecutor.Wait {
        guard let connection else { return .idle }
        return connection.assumeIsolated { $0.pump(socketReady: socketReady) }
    }
}
