/// Exponential backoff: `initial` after the first failure, doubling per further failure up to
/// `maximum`. No jitter: the publisher and the relay are single clients of one broker and one
/// database, so there is no herd to spread out.
struct Backoff: Sendable {
    var initial: Duration
    var maximum: Duration

    /// The pause after `failures` consecutive failures (1 is the first).
    func delay(afterFailures failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        var delay = initial
        for _ in 1..<min(failures, 32) {
            delay = delay * 2
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }
}
