import CLibPQ

extension PostgresConnection {
    /// Runs `body` in a transaction: `BEGIN`, then `COMMIT` if `body` returns, `ROLLBACK` if it
    /// throws (the original error is rethrown; a failing rollback is only logged).
    ///
    /// `body` runs isolated to this connection, so its statements need no `await`:
    /// ```swift
    /// try await conn.withTransaction { conn in
    ///     try conn.execute("UPDATE accounts SET balance = balance - $1 WHERE id = $2", [amount, from])
    ///     try conn.execute("UPDATE accounts SET balance = balance + $1 WHERE id = $2", [amount, to])
    /// }
    /// ```
    /// - Throws: ``PostgresError/Code/transactionFailed`` if a transaction is already open
    ///   (transactions do not nest) or if the server rolled back at `COMMIT` because a statement
    ///   in the transaction had failed and its error was caught.
    @discardableResult
    public nonisolated(nonsending) func withTransaction<T: Sendable>(
        _ body: (isolated PostgresConnection) async throws -> T
    ) async throws -> T {
        try await begin()
        let value: T
        do {
            value = try await body(self)
        } catch {
            await rollBack()
            throw error
        }
        try await commit()
        return value
    }

    private func begin() throws {
        guard !isInTransaction else {
            throw error(.transactionFailed, "a transaction is already open; withTransaction does not nest")
        }
        try execute("BEGIN")
    }

    private func commit() throws {
        guard try run("COMMIT", []).commandTag == "COMMIT" else {
            throw error(
                .transactionFailed,
                "the transaction was rolled back at COMMIT because a statement in it failed", query: "COMMIT")
        }
    }

    /// Rolls back the open transaction, if any, logging (not throwing) a failure.
    func rollBack() {
        guard isInTransaction else { return }
        do {
            try execute("ROLLBACK")
        } catch {
            logger.warning("rollback failed", metadata: ["postgres.error": "\(error)"])
        }
    }
}
