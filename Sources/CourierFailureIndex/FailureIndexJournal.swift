import CourierEngine
import CourierPostgres
import Logging

/// courierd's ``CourierEngine/DeadLetterJournal``: records every parked message in the failure
/// index. When Postgres cannot take it, the parking still stands (the message is in the queue)
/// and a warning says how to re-index: `courier dlq sync`. Every value of the message is made
/// storable before the insert (``FailureIndex/record(_:on:)``), so this is for Postgres being
/// away or refusing for a reason of its own, not for what a publisher sent.
package struct FailureIndexJournal: DeadLetterJournal {
    let pool: PostgresPool
    let logger: Logger

    package init(pool: PostgresPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    package func record(_ record: DeadLetterRecord) async {
        let message = ParkedMessage(record: record)
        let index = FailureIndex(deadLetterQueue: record.deadLetterQueue)
        do {
            try await pool.withConnection { connection in
                try await connection.withTransaction { try index.record([message], on: $0) }
            }
        } catch {
            // The id is the engine's own UUID; the error is summarised (no row data, no password).
            logger.warning(
                "parked message not recorded in the failure index; `courier dlq sync` will index it",
                metadata: [
                    "failure_id": "\(record.failureID)", "dead_letter_queue": "\(record.deadLetterQueue)",
                    "error": "\(FailureIndex.summary(of: error))",
                ])
        }
    }
}
