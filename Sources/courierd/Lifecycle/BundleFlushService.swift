import CourierHandlers
import CourierPostgres
import Logging
import ServiceLifecycle

/// Flushes the card-activity bundles the notifications handler opens when they fall due (3 s
/// after they opened, Semble's window), for as long as courierd consumes. Several courierd
/// processes may run it at once: a bundle is flushed by one of them, once (``BundleFlusher``).
///
/// It sleeps until the next bundle is due (at most ``idle``), and right away while a whole batch
/// was due. With Postgres unreachable it logs once and tries again every `pause`; pending bundles
/// wait in their table meanwhile, nothing is lost.
struct BundleFlushService: Service {
    let flusher: BundleFlusher
    /// The flusher's pool, closed when the service stops.
    let pool: PostgresPool
    let pause: Duration
    let logger: Logger
    /// The longest sleep: a bundle opened by another process is flushed at most this late.
    var idle: Duration = .milliseconds(500)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                let sleep: Duration
                do {
                    let flush = try await flusher.flush()
                    if failing {
                        logger.info("flushing card-activity bundles again")
                        failing = false
                    }
                    if flush.flushed + flush.failed >= flusher.batchSize {
                        continue
                    }
                    sleep = min(max(flush.nextDue ?? idle, .milliseconds(20)), idle)
                } catch {
                    if !failing {
                        logger.warning("cannot flush card-activity bundles; trying again", metadata: ["error": "\(error)"])
                        failing = true
                    }
                    sleep = pause
                }
                try? await Task.sleep(for: sleep)
            }
        }
        await pool.close()
    }
}
