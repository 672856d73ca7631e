extension PostgresConnection {
    /// Makes a returned connection fit for its next user: rolls back a transaction left open,
    /// stops listening, and reports whether the session is still healthy.
    func prepareForReuse() -> Bool {
        guard isHealthy else { return false }
        rollBack()
        if !listeners.isEmpty || notificationSource != nil {
            stopNotifications()
            do {
                try execute("UNLISTEN *")
            } catch {
                return false
            }
        }
        return isHealthy && !isInTransaction
    }
}
