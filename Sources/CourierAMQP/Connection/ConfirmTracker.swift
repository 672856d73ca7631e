/// The publisher-confirm bookkeeping of one channel, as a value-type state machine with no I/O.
///
/// librabbitmq 0.11 has no confirm helper: after `confirm.select`, publish sequence numbers count
/// from 1 per channel, and the broker answers with `basic.ack` / `basic.nack` frames whose
/// `multiple` flag settles every outstanding number up to the tag. A `basic.return` (mandatory and
/// unroutable) carries no sequence number; it arrives *before* the ack of the message it returns,
/// so it is matched to the oldest outstanding mandatory publish with the same message id (or,
/// without one, the same exchange and routing key), and that publish settles as `.returned`.
struct ConfirmTracker<Token> {
    struct Pending {
        var sequence: UInt64
        var token: Token
        var mandatory: Bool
        var exchange: String
        var routingKey: String
        var messageID: String?
        var returned: AMQPReturnedMessage?
    }

    /// The sequence number the next publish will get.
    private(set) var nextSequence: UInt64 = 1
    /// Outstanding publishes in sequence order (the broker settles mostly in order).
    private var pending: [Pending] = []
    private var head = 0

    var outstanding: Int { pending.count - head }

    /// Records a publish that was just written; returns its sequence number.
    mutating func published(
        token: Token,
        mandatory: Bool,
        exchange: String,
        routingKey: String,
        messageID: String?
    ) -> UInt64 {
        let sequence = nextSequence
        nextSequence += 1
        pending.append(
            Pending(
                sequence: sequence,
                token: token,
                mandatory: mandatory,
                exchange: exchange,
                routingKey: routingKey,
                messageID: messageID,
                returned: nil
            ))
        return sequence
    }

    /// Records a `basic.return`; the publish it matches settles as `.returned` on its ack.
    /// Returns false when no outstanding mandatory publish matches (a return we cannot place).
    @discardableResult
    mutating func returned(_ message: AMQPReturnedMessage) -> Bool {
        for index in head..<pending.count where pending[index].mandatory && pending[index].returned == nil {
            let p = pending[index]
            let matches: Bool
            if let id = message.properties.messageID, p.messageID != nil {
                matches = p.messageID == id
            } else {
                matches = p.exchange == message.exchange && p.routingKey == message.routingKey
            }
            if matches {
                pending[index].returned = message
                return true
            }
        }
        return false
    }

    /// Settles the publishes a `basic.ack` / `basic.nack` names: `tag` alone, or with `multiple`
    /// every outstanding one up to and including it. Returns them with their outcome, in order.
    mutating func settle(tag: UInt64, multiple: Bool, acked: Bool) -> [(token: Token, outcome: AMQPPublishOutcome)] {
        var settled: [(token: Token, outcome: AMQPPublishOutcome)] = []
        func outcome(_ p: Pending) -> AMQPPublishOutcome {
            if !acked { return .nacked }
            if let returned = p.returned { return .returned(returned) }
            return .acked
        }
        if multiple {
            while head < pending.count, pending[head].sequence <= tag {
                settled.append((pending[head].token, outcome(pending[head])))
                head += 1
            }
        } else if head < pending.count, pending[head].sequence == tag {
            settled.append((pending[head].token, outcome(pending[head])))
            head += 1
        } else if let index = pending[head...].firstIndex(where: { $0.sequence == tag }) {
            // Out of order (rare): take it from the middle.
            settled.append((pending[index].token, outcome(pending[index])))
            pending.remove(at: index)
        }
        compact()
        return settled
    }

    /// Everything still outstanding, removed: for failing them when the channel or connection dies.
    mutating func drain() -> [Token] {
        let tokens = pending[head...].map(\.token)
        pending.removeAll()
        head = 0
        return tokens
    }

    private mutating func compact() {
        if head == pending.count {
            pending.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024, head * 2 > pending.count {
            pending.removeFirst(head)
            head = 0
        }
    }
}
