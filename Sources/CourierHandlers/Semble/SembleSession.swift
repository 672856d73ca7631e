import CourierPostgres

/// Settings for a handler's transaction.
enum SembleSession {
    /// Until the transaction ends (`set_config(…, true)` is `SET LOCAL`), in one round trip:
    /// - `jit = off`: the handlers' statements are short, and on tables of some size their
    ///   estimated cost passes `jit_above_cost`, where compiling them to machine code takes tens
    ///   of milliseconds — longer than running them.
    /// - `enable_seqscan = off`: every statement reaches the tables by the batch's keys. On a
    ///   table without statistics (a new deployment before autovacuum's first ANALYZE, which can
    ///   be a minute of full traffic) the planner takes `key = ANY (…)` for a large share of a
    ///   small table and scans all of it; a prepared statement keeps that generic plan while the
    ///   table grows. Measured: up to a third of the handlers' time in the end-to-end benchmark.
    static func prepare(_ transaction: isolated PostgresConnection) throws {
        try transaction.execute(prepared: "SELECT set_config('jit', 'off', true), set_config('enable_seqscan', 'off', true)")
    }
}
