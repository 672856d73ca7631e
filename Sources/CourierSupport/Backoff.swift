/// How long to wait before the next try — a reconnect, a relay pass, a publisher's connect:
/// exponential from `initial` to `maximum`, with "full jitter" (a uniformly random wait up to the
/// current bound) so that many clients that lost the same broker or database — consumers, and
/// every API instance's publisher — do not all come back in the same instant. A value type; the
/// random number is passed in, so it is tested without I/O. The one backoff of the package.
///
/// The defaults (250 ms doubling to 2 s) put a consumer back within about 2 s of the broker
/// accepting connections again, however long the outage: a bound that kept growing (30 s before)
/// left consumers waiting 10–20 s on a broker that was long back. Capped at 2 s with jitter, a
/// thousand consumers still try about 1,000 connects a second between them at worst — what a
/// RabbitMQ node takes in its stride.
package struct Backoff: Sendable, Equatable {
    package var initial: Duration
    package var maximum: Duration
    /// Failures since the last success.
    package private(set) var failures = 0

    package init(initial: Duration = .milliseconds(250), maximum: Duration = .seconds(2)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The upper bound of the next wait: initial × 2^failures, capped.
    package var bound: Duration {
        var bound = initial
        for _ in 0..<min(failures, 30) where bound < maximum { bound *= 2 }
        return min(bound, maximum)
    }

    /// Records a failure and returns the wait before the next try: `unit` (0..<1) of the bound,
    /// never less than a tenth of `initial`.
    package mutating func nextDelay(unit: Double) -> Duration {
        let bound = self.bound
        failures += 1
        let fraction = min(max(unit, 0), 1)
        return max(bound * fraction, initial / 10)
    }

    /// A connection that worked for a while: start again from `initial`.
    package mutating func reset() { failures = 0 }

    /// For a caller that counts failures itself: the wait after `failures` consecutive failures
    /// (1 is the first; 0 or less waits nothing), `unit` (0..<1) of that failure's bound, never
    /// less than a tenth of `initial`.
    package func delay(afterFailures failures: Int, unit: Double) -> Duration {
        guard failures > 0 else { return .zero }
        var backoff = self
        backoff.failures = failures - 1
        return backoff.nextDelay(unit: unit)
    }
}
