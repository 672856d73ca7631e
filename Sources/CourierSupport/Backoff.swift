/// How long to wait before the next reconnect: exponential from `initial` to `maximum`, with
/// "full jitter" (a uniformly random wait up to the current bound) so that many consumers that
/// lost the same broker do not all come back in the same instant. A value type; the random
/// number is passed in, so it is tested without I/O.
///
/// The defaults (250 ms doubling to 2 s) put a consumer back within about 2 s of the broker
/// accepting connections again, however long the outage: a bound that kept growing (30 s before)
/// left consumers waiting 10–20 s on a broker that was long back. Capped at 2 s with jitter, a
/// thousand consumers still try about 1,000 connects a second between them at worst — what a
/// RabbitMQ node takes in its stride.
public struct ReconnectBackoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration
    /// Failures since the last success.
    public private(set) var failures = 0

    public init(initial: Duration = .milliseconds(250), maximum: Duration = .seconds(2)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The upper bound of the next wait: initial × 2^failures, capped.
    public var bound: Duration {
        var bound = initial
        for _ in 0..<min(failures, 30) where bound < maximum { bound *= 2 }
        return min(bound, maximum)
    }

    /// Records a failure and returns the wait before the next try: `unit` (0..<1) of the bound,
    /// never less than a tenth of `initial`.
    public mutating func nextDelay(unit: Double) -> Duration {
        let bound = self.bound
        failures += 1
        let fraction = min(max(unit, 0), 1)
        return max(bound * fraction, initial / 10)
    }

    /// A connection that worked for a while: start again from `initial`.
    public mutating func reset() { failures = 0 }
}
