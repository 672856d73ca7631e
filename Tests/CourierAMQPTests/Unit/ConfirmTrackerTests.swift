import Testing

@testable import CourierAMQP

@Suite("ConfirmTracker: publisher-confirm bookkeeping")
struct ConfirmTrackerTests {
    private func tracker(publishing count: Int, mandatory: Bool = false) -> ConfirmTracker<Int> {
        var t = ConfirmTracker<Int>()
        for i in 1...count {
            let seq = t.published(token: i, mandatory: mandatory, exchange: "x", routingKey: "k\(i)", messageID: "m\(i)")
            #expect(seq == UInt64(i))
        }
        return t
    }

    @Test("a single ack settles exactly its own publish")
    func single() {
        var t = tracker(publishing: 3)
        let settled = t.settle(tag: 1, multiple: false, acked: true)
        #expect(settled.map(\.token) == [1])
        #expect(settled.first?.outcome == .acked)
        #expect(t.outstanding == 2)
    }

    @Test("multiple=true settles every outstanding publish up to the tag")
    func multiple() {
        var t = tracker(publishing: 10)
        #expect(t.settle(tag: 4, multiple: true, acked: true).map(\.token) == [1, 2, 3, 4])
        #expect(t.settle(tag: 9, multiple: true, acked: false).map(\.outcome) == Array(repeating: .nacked, count: 5))
        #expect(t.outstanding == 1)
        #expect(t.settle(tag: 10, multiple: false, acked: true).map(\.token) == [10])
        #expect(t.outstanding == 0)
    }

    @Test("an out-of-order single ack is taken from the middle")
    func outOfOrder() {
        var t = tracker(publishing: 3)
        #expect(t.settle(tag: 2, multiple: false, acked: true).map(\.token) == [2])
        #expect(t.settle(tag: 3, multiple: true, acked: true).map(\.token) == [1, 3])
        #expect(t.outstanding == 0)
    }

    @Test("a return is matched by message id and settles as returned on its ack")
    func returned() {
        var t = tracker(publishing: 3, mandatory: true)
        let message = AMQPReturnedMessage(
            replyCode: 312, replyText: "NO_ROUTE", exchange: "x", routingKey: "k2",
            properties: AMQPProperties(messageID: "m2"), body: [])
        let matched = t.returned(message)
        #expect(matched)
        let settled = t.settle(tag: 3, multiple: true, acked: true)
        #expect(settled.map(\.outcome) == [.acked, .returned(message), .acked])
    }

    @Test("without message ids a return matches the oldest mandatory publish with its routing key")
    func returnedByRoute() {
        var t = ConfirmTracker<Int>()
        _ = t.published(token: 1, mandatory: false, exchange: "x", routingKey: "k", messageID: nil)
        _ = t.published(token: 2, mandatory: true, exchange: "x", routingKey: "k", messageID: nil)
        _ = t.published(token: 3, mandatory: true, exchange: "x", routingKey: "k", messageID: nil)
        let message = AMQPReturnedMessage(replyCode: 312, replyText: "NO_ROUTE", exchange: "x", routingKey: "k", properties: .init(), body: [])
        let matched = t.returned(message)
        #expect(matched)
        let outcomes = t.settle(tag: 3, multiple: true, acked: true).map(\.outcome)
        #expect(outcomes == [.acked, .returned(message), .acked])
        let matchedAgain = t.returned(message)
        #expect(!matchedAgain, "nothing outstanding is left to match")
    }

    @Test("drain hands back every outstanding publish, to fail them")
    func drain() {
        var t = tracker(publishing: 5)
        _ = t.settle(tag: 2, multiple: true, acked: true)
        #expect(t.drain() == [3, 4, 5])
        #expect(t.outstanding == 0)
        #expect(t.nextSequence == 6, "sequence numbers never reset on a channel")
    }

    @Test("long streams stay compact and correct")
    func longStream() {
        var t = ConfirmTracker<Int>()
        var settled = 0
        for i in 1...10_000 {
            _ = t.published(token: i, mandatory: false, exchange: "", routingKey: "", messageID: nil)
            if i % 100 == 0 { settled += t.settle(tag: UInt64(i), multiple: true, acked: true).count }
        }
        #expect(settled == 10_000)
        #expect(t.outstanding == 0)
    }
}
