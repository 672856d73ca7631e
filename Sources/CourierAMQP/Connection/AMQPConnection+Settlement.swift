import CRabbitMQ
import CourierConcurrency
import Foundation
import Logging
import Synchronization

// Acks, nacks and rejects: queued from any thread, sent by the connection's thread in order,
// runs of acks coalesced.
extension AMQPConnection {
    // MARK: Settlements (queued to the thread, in order)

    /// Queues an ack, nack or reject. No closure and no task hop: the settlement goes into the
    /// channel's list, and the thread sends the list — in order, acks coalesced — before it next
    /// reads or sleeps.
    nonisolated func settleDelivery(shared: ChannelShared, _ settlement: PendingSettlement) {
        shared.settlements.withLock { $0.append(settlement) }
        executor.requestService()
    }

    nonisolated func settleDeliveries(shared: ChannelShared, _ settlements: [PendingSettlement]) {
        shared.settlements.withLock { $0.append(contentsOf: settlements) }
        executor.requestService()
    }

    /// Sends what the application settled on `channel`: runs of acks through the ledger (one
    /// `multiple` ack where it is equivalent), nacks and rejects as they are, in the order given.
    func flushSettlements(channel: UInt16) {
        guard let state = channels[channel] else { return }
        let pending = state.shared.settlements.withLock { list -> [PendingSettlement] in
            defer { list.removeAll(keepingCapacity: true) }
            return list
        }
        guard !pending.isEmpty else { return }
        var acks: [(tag: UInt64, multiple: Bool)] = []
        func sendAcks() -> Bool {
            defer { acks.removeAll(keepingCapacity: true) }
            guard !acks.isEmpty else { return true }
            for frame in state.ledger.frames(for: acks) {
                guard send(amqp_basic_ack(self.state, channel, frame.tag, flag(frame.multiple)), "basic.ack") else { return false }
            }
            return true
        }
        for settlement in pending {
            switch settlement.kind {
            case .ack:
                acks.append((settlement.deliveryTag, settlement.multiple))
            case .nack, .reject:
                guard sendAcks(), self.state != nil else { return }
                state.ledger.settle(settlement.deliveryTag, multiple: settlement.multiple)
                let status =
                    settlement.kind == .nack
                    ? amqp_basic_nack(self.state, channel, settlement.deliveryTag, flag(settlement.multiple), flag(settlement.requeue))
                    : amqp_basic_reject(self.state, channel, settlement.deliveryTag, flag(settlement.requeue))
                guard send(status, "basic.\(settlement.kind)") else { return }
            }
        }
        _ = sendAcks()
    }

    func flushAllSettlements() {
        for id in channels.keys { flushSettlements(channel: id) }
    }

    /// True when a fire-and-forget send went out; otherwise the connection is torn down.
    func send(_ status: Int32, _ operation: String) -> Bool {
        guard status == AMQP_STATUS_OK.rawValue else {
            connectionFailed(socketError(status, operation: operation))
            return false
        }
        return true
    }
}
