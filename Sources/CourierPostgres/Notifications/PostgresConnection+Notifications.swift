import CLibPQ
import CourierConcurrency

extension PostgresConnection {
    /// Starts listening on `channel` (`LISTEN`) and returns the notifications sent to it.
    ///
    /// Notifications are read as soon as they arrive: while anything listens, the connection's
    /// thread sleeps on its socket between statements. Several streams may listen on the same
    /// channel; when the last one terminates (the consuming task ends or is cancelled) the
    /// connection sends `UNLISTEN`. Streams finish when the connection closes or breaks.
    ///
    /// Listen on a dedicated connection, not one leased from a pool.
    /// - Parameter channel: the channel name, case-sensitive; it is quoted for you.
    package func listen(
        _ channel: String,
        bufferingPolicy: AsyncStream<PostgresNotification>.Continuation.BufferingPolicy = .unbounded
    ) throws -> AsyncStream<PostgresNotification> {
        if !listeners.isListening(to: channel) {
            try execute("LISTEN \(try quoteIdentifier(channel))")
        }
        let (stream, continuation) = AsyncStream.makeStream(of: PostgresNotification.self, bufferingPolicy: bufferingPolicy)
        let id = listeners.add(continuation, channel: channel)
        let executor = self.executor
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            executor.execute { [weak self] in self?.assumeIsolated { $0.stopListening(channel: channel, id: id) } }
        }
        if notificationSource == nil {
            let source = NotificationSource(connection: self)
            notificationSource = source
            executor.setIOSource(source)
        }
        return stream
    }

    /// Sends a notification (`SELECT pg_notify($1, $2)`); it is delivered when the transaction
    /// commits (at once outside a transaction).
    package func notify(channel: String, payload: String = "") throws {
        try execute("SELECT pg_notify($1, $2)", [channel, payload])
    }

    /// Removes one stream; the last one on a channel also `UNLISTEN`s.
    private func stopListening(channel: String, id: Int) {
        guard listeners.remove(channel: channel, id: id) else { return }
        if listeners.isEmpty { removeNotificationSource() }
        guard handle != nil else { return }
        do {
            try execute("UNLISTEN \(try quoteIdentifier(channel))")
        } catch {
            logger.warning("UNLISTEN failed", metadata: ["postgres.error": "\(error)"])
        }
    }

    /// Finishes every stream and stops watching the socket (on close, on a broken session, or
    /// before a pooled connection is reused). The server-side `LISTEN`s are left as they are.
    func stopNotifications() {
        listeners.finishAll()
        removeNotificationSource()
    }

    private func removeNotificationSource() {
        guard notificationSource != nil else { return }
        notificationSource = nil
        executor.setIOSource(nil)
    }

    /// The executor's I/O callback: reads without blocking, delivers, and says what to wait for.
    func serviceNotifications() -> ThreadExecutor.Wait {
        guard let pointer = handle?.pointer, !listeners.isEmpty else { return .idle }
        guard consumeAvailableInput(pointer) else {
            connectionBroke()
            return .idle
        }
        deliverNotifications()
        let socket = PQsocket(pointer)
        return socket >= 0 ? ThreadExecutor.Wait(fileDescriptor: socket, timeoutMilliseconds: -1) : .idle
    }

    /// Hands every notification libpq has buffered to the listening streams.
    func deliverNotifications() {
        guard let pointer = handle?.pointer else { return }
        while let notification = PQnotifies(pointer) {
            let received = PostgresNotification(
                channel: String(cString: notification.pointee.relname),
                payload: String(cString: notification.pointee.extra),
                processID: notification.pointee.be_pid)
            PQfreemem(notification)
            listeners.deliver(received)
        }
    }
}
