import Testing

@testable import CourierAMQP

@Suite("DeliveryTagLedger: coalescing acks without changing their meaning")
struct DeliveryTagLedgerTests {
    private func ledger(delivered tags: ClosedRange<UInt64>) -> DeliveryTagLedger {
        var l = DeliveryTagLedger()
        for tag in tags { l.delivered(tag, settled: false) }
        return l
    }

    private func pairs(_ frames: [(tag: UInt64, multiple: Bool)]) -> [String] {
        frames.map { "\($0.tag)\($0.multiple ? "+" : "")" }
    }

    @Test("acks covering the whole unsettled prefix become one multiple ack")
    func contiguous() {
        var l = ledger(delivered: 1...5)
        let frames = l.frames(for: [(1, false), (2, false), (3, false)])
        #expect(pairs(frames) == ["3+"])
        #expect(l.unsettledCount == 2)
    }

    @Test("an ack above a delivery still in flight is sent on its own")
    func gap() {
        var l = ledger(delivered: 1...5)
        let frames = l.frames(for: [(1, false), (2, false), (4, false)])
        #expect(pairs(frames) == ["2+", "4"])
        // When 3 is acked later, only 3 goes out — 4 was already acked.
        #expect(pairs(l.frames(for: [(3, false)])) == ["3+"])
        #expect(l.unsettledCount == 1)
    }

    @Test("out-of-order acks in one batch still coalesce")
    func outOfOrder() {
        var l = ledger(delivered: 1...4)
        #expect(pairs(l.frames(for: [(3, false), (1, false), (2, false)])) == ["3+"])
    }

    @Test("a nack or reject settles its tag without being folded into an ack")
    func nackBreaksNothing() {
        var l = ledger(delivered: 1...4)
        l.settle(2, multiple: false)  // rejected, sent on its own
        #expect(pairs(l.frames(for: [(1, false), (3, false)])) == ["3+"])
        #expect(l.unsettledCount == 1)
    }

    @Test("an application multiple ack stays a multiple ack")
    func applicationMultiple() {
        var l = ledger(delivered: 1...10)
        #expect(pairs(l.frames(for: [(7, true)])) == ["7+"])
        #expect(pairs(l.frames(for: [(9, false)])) == ["9"])
        #expect(l.unsettledCount == 2)
    }

    @Test("auto-acked deliveries and skipped tags never hold the prefix back")
    func autoAckAndGaps() {
        var l = DeliveryTagLedger()
        l.delivered(1, settled: false)
        l.delivered(2, settled: true)  // no-ack consumer on the same channel
        l.delivered(5, settled: false)  // 3 and 4 went elsewhere (e.g. basic.get no-ack)
        #expect(pairs(l.frames(for: [(1, false), (5, false)])) == ["5+"])
        #expect(l.unsettledCount == 0)
    }

    @Test("a tag the ledger never saw is passed through unchanged")
    func unknown() {
        var l = ledger(delivered: 1...2)
        #expect(pairs(l.frames(for: [(99, false), (1, false)])) == ["1+", "99"])
    }

    @Test("a long stream acked one by one stays small and exact")
    func longStream() {
        var l = DeliveryTagLedger()
        var sentFrames = 0
        for tag in UInt64(1)...100_000 {
            l.delivered(tag, settled: false)
            if tag % 50 == 0 {
                let batch = ((tag - 49)...tag).map { (tag: $0, multiple: false) }
                sentFrames += l.frames(for: batch).count
            }
        }
        #expect(sentFrames == 2000)
        #expect(l.unsettledCount == 0)
    }
}
