import CourierSupport
import Testing

@Suite("Backoff")
struct BackoffTests {
    @Test("the bound doubles from the initial wait up to the maximum")
    func growth() {
        var b = Backoff(initial: .milliseconds(500), maximum: .seconds(30))
        var bounds: [Duration] = []
        for _ in 0..<10 {
            bounds.append(b.bound)
            _ = b.nextDelay(unit: 0.5)
        }
        #expect(bounds.prefix(8) == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30), .seconds(30)])
        #expect(b.failures == 10)
    }

    @Test("full jitter: the wait is the given fraction of the bound, never below a tenth of the initial wait")
    func jitter() {
        var b = Backoff(initial: .seconds(1), maximum: .seconds(60))
        #expect(b.nextDelay(unit: 0.5) == .milliseconds(500))
        #expect(b.nextDelay(unit: 0.25) == .milliseconds(500))  // bound 2 s
        #expect(b.nextDelay(unit: 0) == .milliseconds(100))
        #expect(b.nextDelay(unit: 7) == .seconds(8), "out-of-range randomness is clamped")
    }

    @Test("reset starts again from the initial wait")
    func reset() {
        var b = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        for _ in 0..<5 { _ = b.nextDelay(unit: 1) }
        b.reset()
        #expect(b.failures == 0)
        #expect(b.bound == .milliseconds(200))
    }

    @Test("counted by the caller: the nth failure's wait is the same as the nth nextDelay; none before the first")
    func counted() {
        let b = Backoff(initial: .milliseconds(500), maximum: .seconds(5))
        #expect(b.delay(afterFailures: 0, unit: 0.9) == .zero)
        #expect(b.delay(afterFailures: -3, unit: 0.9) == .zero)
        var walked = b
        for failures in 1...12 {
            let unit = Double(failures % 5) / 5
            #expect(b.delay(afterFailures: failures, unit: unit) == walked.nextDelay(unit: unit), "\(failures)")
        }
        #expect(b.delay(afterFailures: 1000, unit: 1) == .seconds(5))
        #expect(b.delay(afterFailures: 1, unit: 0) == .milliseconds(50))
    }
}
