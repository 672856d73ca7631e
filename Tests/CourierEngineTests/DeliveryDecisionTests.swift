import CourierAMQP
import CourierEngine
import Testing

@Suite("decide: ack, retry later, or dead-letter")
struct DeliveryDecisionTests {
    let schedule = RetrySchedule(delays: [.seconds(5), .seconds(30), .seconds(120)])
    let failure = HandlingFailure(errorClass: "Timeout", message: "statement timeout", handler: "feeds")

    @Test("a redelivery is handled alone from half the delivery limit on; without a usable count, always")
    func suspects() {
        #expect(!isSuspect(redelivered: false, deliveryCount: nil, deliveryLimit: 10), "a first delivery never")
        #expect(!isSuspect(redelivered: false, deliveryCount: .int64(9), deliveryLimit: 10), "not redelivered: the header is not the broker's")
        for count in 1...4 { #expect(!isSuspect(redelivered: true, deliveryCount: .int64(Int64(count)), deliveryLimit: 10), "\(count)") }
        for count in [5, 9, 10, 1_000] { #expect(isSuspect(redelivered: true, deliveryCount: .int64(Int64(count)), deliveryLimit: 10), "\(count)") }
        #expect(isSuspect(redelivered: true, deliveryCount: .int64(1), deliveryLimit: 2), "a limit of 2: from the first return")
        #expect(isSuspect(redelivered: true, deliveryCount: .int64(1), deliveryLimit: 1))
        #expect(isSuspect(redelivered: true, deliveryCount: nil, deliveryLimit: 10), "a classic queue has no count")
        #expect(isSuspect(redelivered: true, deliveryCount: .string("many"), deliveryLimit: 10), "a count that is not a number")
        #expect(!isSuspect(redelivered: true, deliveryCount: .int64(-3), deliveryLimit: 10))
    }

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
}
