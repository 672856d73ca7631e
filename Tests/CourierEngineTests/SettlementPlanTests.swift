import CourierAMQP
import CourierEngine
import Testing

/// The engine's whole policy for a batch, without a broker: every combination of outcomes, sizes
/// and attempt counts up to three deliveries, checked against the rules one by one.
@Suite("SettlementPlanner: what happens to every delivery of a batch")
struct SettlementPlanTests {
    let planner = SettlementPlanner(
        schedule: RetrySchedule(delays: [.seconds(5), .seconds(30)]), maximumMessageBytes: 10, handlerName: "runner")

    static func delivery(
        _ tag: UInt64, bytes: Int = 1, failedAttempts: Int? = nil, redelivered: Bool = false, deliveryCount: Int64? = nil
    ) -> AMQPDelivery {
        var headers = AMQPTable()
        if let failedAttempts { headers[CourierHeader.attempts] = .int32(Int32(failedAttempts)) }
        if let deliveryCount { headers["x-delivery-count"] = .int64(deliveryCount) }
        return AMQPDelivery(
            deliveryTag: tag, redelivered: redelivered, exchange: "domain_events", routingKey: "CARD_ADDED_TO_LIBRARY",
            consumerTag: "c", properties: AMQPProperties(headers: headers), body: [UInt8](repeating: 0x7b, count: bytes))
    }

    /// What a delivery's handler said, in the exhaustive test: `missing` is an outcome it did not return.
    enum Said: CaseIterable { case handled, transient, permanent, down, missing }

    @Test("every delivery settled exactly once, by the rule for what the handler said, in order")
    func exhaustive() {
        let failure = HandlingFailure(errorClass: "Timeout", message: "t")
        var cases = 0
        for count in 1...3 {
            // Each delivery: what was said, too large or not, and how many tries failed before (0 or 2).
            let kinds = Said.allCases.count * 2 * 2
            var total = 1
            for _ in 0..<count { total *= kinds }
            for code in 0..<total {
                var rest = code
                var said: [Said] = [], large: [Bool] = [], before: [Int] = []
                for _ in 0..<count {
                    said.append(Said.allCases[rest % Said.allCases.count]); rest /= Said.allCases.count
                    large.append(rest % 2 == 1); rest /= 2
                    before.append(rest % 2 == 1 ? 2 : 0); rest /= 2
                }
                // `missing` only makes sense at the end of what the handler answered.
                let admitted = (0..<count).filter { !large[$0] }
                guard let firstMissing = admitted.firstIndex(where: { said[$0] == .missing }) ?? Optional(admitted.count),
                    admitted[firstMissing...].allSatisfy({ said[$0] == .missing })
                else { continue }
                cases += 1
                let batch = (0..<count).map { Self.delivery(UInt64($0 + 1), bytes: large[$0] ? 11 : 10, failedAttempts: before[$0]) }
                #expect(planner.admitted(batch) ?? Array(batch.indices) == admitted)
                #expect((planner.admitted(batch) == nil) == !large.contains(true), "no index list when all are admitted")
                let handled: [HandlingOutcome] = admitted.prefix(firstMissing).map { index in
                    switch said[index] {
                    case .handled: .handled
                    case .transient: .transientFailure(failure)
                    case .permanent: .permanentFailure(failure)
                    case .down: .dependencyUnavailable(dependency: "postgres-\(index)")
                    case .missing: fatalError("not answered")
                    }
                }
                let plan = planner.plan(batch, handled: handled, copyFrameMax: 0, queue: "events_app")
                check(plan, said: said, large: large, before: before, failure: failure)
            }
        }
        #expect(cases > 1_000)
    }

    func check(_ plan: SettlementPlan, said: [Said], large: [Bool], before: [Int], failure: HandlingFailure) {
        let context = Comment(rawValue: "said \(said), large \(large), before \(before): \(plan)")
        var settled: [Int] = []
        var sawCopy = false
        for step in plan.steps {
            switch step {
            case .ackAll:
                #expect(plan.steps == [.ackAll], context)
                settled += said.indices
                for index in said.indices { #expect(!large[index] && said[index] == .handled, context) }
            case .ack(let indices):
                #expect(!sawCopy && !indices.isEmpty, context)
                settled += indices
                for index in indices { #expect(!large[index] && said[index] == .handled, context) }
            case .requeue(let index):
                #expect(!sawCopy, context)
                settled.append(index)
                #expect(!large[index] && said[index] == .down, context)
            case .copy(let index, let action):
                sawCopy = true
                settled.append(index)
                let attempts = before[index] + 1
                if large[index] {
                    guard case .deadLetter(.permanentFailure, let parked, attempts) = action else {
                        Issue.record("too large must be parked: \(action)", sourceLocation: #_sourceLocation); continue
                    }
                    #expect(parked.errorClass == "MessageTooLarge" && parked.handler == nil, context)
                    continue
                }
                let named = HandlingFailure(errorClass: failure.errorClass, message: failure.message, handler: "runner")
                let missing = HandlingFailure(errorClass: "MissingOutcome", message: "the handler returned no outcome", handler: "runner")
                switch said[index] {
                case .permanent: #expect(action == .deadLetter(.permanentFailure, named, attempts: attempts), context)
                case .transient where attempts < 3: #expect(action == .retry(attempt: attempts, delay: attempts == 1 ? .seconds(5) : .seconds(30)), context)
                case .transient: #expect(action == .deadLetter(.retriesExhausted, named, attempts: attempts), context)
                case .missing where attempts < 3: #expect(action == .retry(attempt: attempts, delay: .seconds(5)), context)
                case .missing: #expect(action == .deadLetter(.retriesExhausted, missing, attempts: attempts), context)
                case .handled, .down: Issue.record("copied although \(said[index])", sourceLocation: #_sourceLocation)
                }
            }
        }
        // Each delivery exactly once; acks and requeues in the deliveries' order.
        #expect(settled.sorted() == Array(said.indices), context)
        var order: [Int] = []
        for step in plan.steps {
            if case .ack(let indices) = step { order += indices }
            if case .ackAll = step { order += said.indices }
            if case .requeue(let index) = step { order.append(index) }
        }
        #expect(order == order.sorted(), "acks and requeues keep the deliveries' order: \(context)")
        let firstDown = said.indices.first { !large[$0] && said[$0] == .down }
        #expect(plan.pausedBy == firstDown.map { "postgres-\($0)" }, context)
        if !large.contains(true), said.allSatisfy({ $0 == .handled }) {
            #expect(plan.steps == [.ackAll], "all handled: one ack for the batch")
        }
    }

    @Test("a retry whose copy could not fit a frame is parked now, saying why, with the failure it was for")
    func retryTooLargeIsParked() {
        var delivery = Self.delivery(1)
        delivery.properties.headers?["x-big"] = .string(String(repeating: "h", count: 5_000))
        let failure = HandlingFailure(errorClass: "Timeout", message: "slow", handler: "feeds")
        let fits = planner.plan([delivery], handled: [.transientFailure(failure)], copyFrameMax: 100_000, queue: "q")
        #expect(fits.steps == [.copy(0, .retry(attempt: 1, delay: .seconds(5)))])
        let plan = planner.plan([delivery], handled: [.transientFailure(failure)], copyFrameMax: 4_096, queue: "q")
        guard case .copy(0, .deadLetter(.permanentFailure, let parked, attempts: 1)) = plan.steps.first else {
            Issue.record("not parked: \(plan)")
            return
        }
        #expect(parked.errorClass == "RetryCopyTooLarge" && parked.handler == "feeds")
        #expect(parked.message.contains("the failure to retry was Timeout: slow"))
    }

    @Test("acks decided before a requeue are sent before it; the first dependency down pauses")
    func ordering() {
        let batch = (1...4).map { Self.delivery(UInt64($0)) }
        let plan = planner.plan(
            batch, handled: [.handled, .dependencyUnavailable(dependency: "postgres"), .handled, .dependencyUnavailable(dependency: "redis")],
            copyFrameMax: 0, queue: "q")
        #expect(plan.steps == [.ack([0]), .requeue(1), .ack([2]), .requeue(3)])
        #expect(plan.pausedBy == "postgres")
    }

    @Test("suspected killers are handled alone after the rest, in an order that flips with the delivery count")
    func handlingOrder() {
        let fresh = Self.delivery(1), plain = Self.delivery(2, redelivered: true, deliveryCount: 1)
        let even = [Self.delivery(3, redelivered: true, deliveryCount: 6), Self.delivery(4, redelivered: true, deliveryCount: 6)]
        let odd = [Self.delivery(3, redelivered: true, deliveryCount: 7), Self.delivery(4, redelivered: true, deliveryCount: 7)]
        #expect(planner.handlingOrder([fresh, plain], deliveryLimit: 10) == HandlingOrder(together: [0, 1], alone: []))
        #expect(planner.handlingOrder([fresh] + even + [plain], deliveryLimit: 10) == HandlingOrder(together: [0, 3], alone: [1, 2]))
        #expect(planner.handlingOrder([fresh] + odd + [plain], deliveryLimit: 10) == HandlingOrder(together: [0, 3], alone: [2, 1]))
        #expect(planner.handlingOrder(even, deliveryLimit: 10) == HandlingOrder(together: [], alone: [0, 1]))
        let classic = Self.delivery(5, redelivered: true)
        #expect(planner.handlingOrder([classic], deliveryLimit: 10) == HandlingOrder(together: [], alone: [0]), "no count: a suspect")
    }

    @Test("after a copy: confirmed acks the original; refused or unconfirmed requeues after the pause; a lost path reconnects")
    func afterCopy() {
        #expect(planner.afterCopy(.acked, publisherOpen: true, pause: .seconds(5)) == .ackOriginal)
        #expect(planner.afterCopy(.acked, publisherOpen: false, pause: .seconds(5)) == .ackOriginal)
        #expect(planner.afterCopy(.nacked, publisherOpen: true, pause: .seconds(2)) == .requeueAfter(.seconds(2)))
        #expect(planner.afterCopy(nil, publisherOpen: true, pause: .seconds(5)) == .requeueAfter(.seconds(5)), "threw, path still there")
        #expect(planner.afterCopy(nil, publisherOpen: false, pause: .seconds(5)) == .reconnect)
    }
}
