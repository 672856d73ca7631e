import CourierAMQP

/// How many messages and consumers one queue of a ``Topology`` has, read with a passive declare
/// (never creating anything): `courier status` prints these, courierd's metrics refresher turns
/// them into gauges.
package struct QueueDepth: Sendable, Codable, Equatable {
    package var queue: String
    /// `app`, `retry`, `dead-letter`, `unrouted`.
    package var role: String
    package var exists: Bool
    package var messages: Int
    package var consumers: Int

    package init(queue: String, role: String, exists: Bool, messages: Int, consumers: Int) {
        self.queue = queue
        self.role = role
        self.exists = exists
        self.messages = messages
        self.consumers = consumers
    }
}

extension Topology {
    /// Depths of the app queue, each retry queue, the dead-letter queue and the unrouted queue,
    /// one channel per queue (a missing queue closes its channel without hiding the others; it
    /// reads as not existing).
    package func queueDepths(on connection: AMQPConnection) async throws -> [QueueDepth] {
        var roles: [(String, String)] = [(appQueue, "app")]
        for delay in settings.retrySchedule.delays { roles.append((retryQueue(for: delay), "retry")) }
        roles.append((deadLetterQueue, "dead-letter"))
        roles.append((Topology.unroutedName, "unrouted"))
        var depths: [QueueDepth] = []
        for (queue, role) in roles {
            if let info = try await Self.passiveQueue(queue, on: connection) {
                depths.append(
                    QueueDepth(queue: queue, role: role, exists: true, messages: Int(info.messageCount), consumers: Int(info.consumerCount)))
            } else {
                depths.append(QueueDepth(queue: queue, role: role, exists: false, messages: 0, consumers: 0))
            }
        }
        return depths
    }

    private static func passiveQueue(_ name: String, on connection: AMQPConnection) async throws -> AMQPQueueInfo? {
        let channel = try await connection.openChannel()
        do {
            let info = try await channel.declareQueuePassive(name)
            try? await channel.close()
            return info
        } catch {
            guard (error as? AMQPError)?.replyCode == 404 else { throw error }
            return nil
        }
    }
}
