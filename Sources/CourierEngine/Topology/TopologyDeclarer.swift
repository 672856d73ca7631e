import CourierAMQP

extension Topology {
    /// Declares every exchange, queue and binding (idempotent). A queue or exchange that exists
    /// with other arguments stops this with a ``TopologyMismatch`` naming it and the argument;
    /// other broker refusals are rethrown as they are.
    ///
    /// Uses a channel of its own, since a refused declare closes the channel it was made on.
    public func declare(on connection: AMQPConnection) async throws {
        let channel = try await connection.openChannel()
        do {
            for exchange in exchanges {
                try await mapMismatch(kind: "exchange", name: exchange.name) {
                    try await channel.declareExchange(exchange.name, type: exchange.type, durable: true, arguments: exchange.arguments)
                }
            }
            for queue in queues {
                try await mapMismatch(kind: "queue", name: queue.name) {
                    try await channel.declareQueue(queue.name, durable: true, arguments: queue.arguments)
                }
            }
            for binding in bindings {
                try await channel.bindQueue(binding.queue, exchange: binding.exchange, routingKey: binding.routingKey)
            }
            try await channel.close()
        } catch {
            if channel.isOpen { try? await channel.close() }
            throw error
        }
    }

    private func mapMismatch(kind: String, name: String, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as AMQPError where error.replyCode == 406 {
            throw TopologyMismatch(replyText: error.replyText ?? "")
                ?? TopologyMismatch(kind: kind, name: name, brokerText: error.replyText ?? "\(error)")
        }
    }
}
