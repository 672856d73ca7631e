/// Which delivery tags of one channel are still unsettled, so that acks queued together can go
/// out as one frame — a value-type state machine with no I/O.
///
/// Delivery tags count up from 1 on a channel, across all its consumers and `basic.get`s. When a
/// batch of acks leaves every tag up to some `T` settled, one `basic.ack(T, multiple: true)` says
/// exactly what the separate acks would have said: the broker acknowledges its unacked deliveries
/// up to `T`, and those are precisely the ones in the batch. Acks above a gap (a delivery still
/// being handled) are sent one by one. Fewer frames means fewer syscalls here and less work for
/// the broker; the meaning is unchanged.
struct DeliveryTagLedger {
    /// The tag of `settled[head]`.
    private var base: UInt64 = 1
    private var settled: [Bool] = []
    private var head = 0

    /// Unsettled deliveries the ledger knows of.
    var unsettledCount: Int { settled[head...].lazy.filter { !$0 }.count }

    /// Records a delivery. Tags the channel skipped are treated as settled.
    mutating func delivered(_ tag: UInt64, settled isSettled: Bool) {
        let next = base + UInt64(settled.count - head)
        guard tag >= next else { return }  // not newer than what we know: ignore
        if head == settled.count {
            // Nothing outstanding: restart at this tag.
            settled.removeAll(keepingCapacity: true)
            head = 0
            base = tag
        } else {
            for _ in next..<tag { settled.append(true) }
        }
        settled.append(isSettled)
        compact()
    }

    /// Marks a nack or reject that is sent right away.
    mutating func settle(_ tag: UInt64, multiple: Bool) {
        mark(tag, multiple: multiple)
        compact()
    }

    /// The frames to send for `acks`, queued in this order: at most one `multiple` ack for the
    /// settled prefix, then single acks for the rest, in their order.
    mutating func frames(for acks: [(tag: UInt64, multiple: Bool)]) -> [(tag: UInt64, multiple: Bool)] {
        var unknown: Set<UInt64> = []
        for ack in acks where !mark(ack.tag, multiple: ack.multiple) { unknown.insert(ack.tag) }
        // The end of the settled prefix, before compaction forgets it.
        var index = head
        while index < settled.count, settled[index] { index += 1 }
        let prefixEnd = base + UInt64(index - head)  // first tag not known settled
        var frames: [(tag: UInt64, multiple: Bool)] = []
        let covered = acks.filter { $0.tag < prefixEnd && !unknown.contains($0.tag) }.map(\.tag).max()
        if let covered { frames.append((covered, true)) }
        for ack in acks where ack.tag >= prefixEnd || unknown.contains(ack.tag) {
            frames.append(ack)
        }
        compact()
        return frames
    }

    /// Marks `tag` (and with `multiple` every earlier one) settled; false when the ledger does not
    /// know the tag.
    @discardableResult
    private mutating func mark(_ tag: UInt64, multiple: Bool) -> Bool {
        guard tag >= base, tag < base + UInt64(settled.count - head) else { return false }
        let index = head + Int(tag - base)
        if multiple {
            for i in head...index { settled[i] = true }
        } else {
            settled[index] = true
        }
        return true
    }

    private mutating func compact() {
        while head < settled.count, settled[head] {
            head += 1
            base += 1
        }
        if head == settled.count {
            settled.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 4096, head * 2 > settled.count {
            settled.removeFirst(head)
            head = 0
        }
    }
}
