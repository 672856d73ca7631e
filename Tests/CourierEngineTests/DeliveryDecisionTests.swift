import CourierEngine
import Testing

@Suite("decide: ack, retry later, or dead-letter")
struct DeliveryDecisionTests {
    let schedule = RetrySchedule(delays: [.seconds(5), .seconds(30), .seconds(120)])
    let failure = HandlingFailure(errorClass: "Timeout", message: "statement timeout", handler: "feeds")

    @Test("success acks, whatever the attempts")
    func success() {
        for attempts in [0, 1, 7] {
            #expect(decide(.handled, failedAttempts: attempts, schedule: schedule) == .ack)
        }
    }

    @Test("a transient failure walks the retry schedule, then dead-letters as exhausted")
    func transientWalksSchedule() {
        let outcome = HandlingOutcome.transientFailure(failure)
        #expect(decide(outcome, failedAttempts: 0, schedule: schedule) == .retry(attempt: 1, delay: .seconds(5)))
        #expect(decide(outcome, failedAttempts: 1, schedule: schedule) == .retry(attempt: 2, delay: .seconds(30)))
        #expect(decide(outcome, failedAttempts: 2, schedule: schedule) == .retry(attempt: 3, delay: .seconds(120)))
        #expect(decide(outcome, failedAttempts: 3, schedule: schedule) == .deadLetter(.retriesExhausted, failure, attempts: 4))
        #expect(decide(outcome, failedAttempts: 40, schedule: schedule) == .deadLetter(.retriesExhausted, failure, attempts: 41))
        #expect(schedule.maxAttempts == 4)
    }

    @Test("a permanent failure dead-letters at once, keeping the attempt count")
    func permanent() {
        #expect(decide(.permanentFailure(failure), failedAttempts: 0, schedule: schedule) == .deadLetter(.permanentFailure, failure, attempts: 1))
        #expect(decide(.permanentFailure(failure), failedAttempts: 2, schedule: schedule) == .deadLetter(.permanentFailure, failure, attempts: 3))
    }

    @Test("a dependency that is down for everyone spends no retries")
    func dependencyDown() {
        for attempts in [0, 3, 99] {
            #expect(decide(.dependencyUnavailable(dependency: "postgres"), failedAttempts: attempts, schedule: schedule) == .requeueAndPause(dependency: "postgres"))
        }
    }

    @Test("without delays a transient failure dead-letters on the first try; negative counts read as 0")
    func edges() {
        let none = RetrySchedule(delays: [])
        #expect(decide(.transientFailure(failure), failedAttempts: 0, schedule: none) == .deadLetter(.retriesExhausted, failure, attempts: 1))
        #expect(decide(.transientFailure(failure), failedAttempts: -5, schedule: schedule) == .retry(attempt: 1, delay: .seconds(5)))
    }

    @Test("when the retry or dead-letter path fails, the message is requeued after a pause, never dropped")
    func fallbacks() {
        #expect(fallback(whenFailing: .ack) == .none)
        #expect(fallback(whenFailing: .retry(attempt: 1, delay: .seconds(5))) == .requeueAfter(.seconds(5)))
        #expect(fallback(whenFailing: .deadLetter(.permanentFailure, failure, attempts: 1), pause: .seconds(2)) == .requeueAfter(.seconds(2)))
    }
}
