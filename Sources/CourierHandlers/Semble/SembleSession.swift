import CourierPostgres

/// Settings for a handler's transaction.
enum SembleSession {
    /// `SET LOCAL jit = off` (until the transaction ends): the handlers' statements are short, and
    /// on tables of some size their estimated cost passes `jit_above_cost`, where compiling them
    /// to machine code takes tens of milliseconds — longer than running them.
    static func prepare(_ transaction: isolated PostgresConnection) throws {
        try transaction.execute(prepared: "SET LOCAL jit = off")
    }
}
