import CourierAMQP

extension Topology {
    /// Declares every exchange, queue and binding (idempotent). A queue or exchange that exists
    /// with other arguments stops this with a ``TopologyMismatch`` naming it and the argument;
    /// other broker refusals are rethrown as they are.
    ///
    /// One difference is accepted: a quorum queue created with another initial group size
    /// (`Settings.quorumInitialGroupSize`, or none). That number only decides where the replicas
    /// went at creation — RabbitMQ changes membership with `rabbitmq-queues grow`/`shrink`, never
    /// on a redeclare — so the queue is used as it is and the returned notice says so.
    ///
    /// Uses a channel of its own, since a refused declare closes the channel it was made on.
    /// - Returns: notices for the log (empty when everything matched).
    @discardableResult
    package func declare(on connection: AMQPConnection) async throws -> [String] {
        var channel = try await connection.openChannel()
        var notices: [String] = []
        do {
            for exchange in exchanges {
                try await mapMismatch(kind: "exchange", name: exchange.name) {
                    try await channel.declareExchange(exchange.name, type: exchange.type, durable: true, arguments: exchange.arguments)
                }
            }
            for queue in queues {
                do {
                    try await mapMismatch(kind: "queue", name: queue.name) {
                        try await channel.declareQueue(queue.name, durable: true, arguments: queue.arguments)
                    }
                } catch let mismatch as TopologyMismatch where mismatch.argument == Self.initialGroupSizeArgument {
                    channel = try await connection.openChannel()
                    _ = try await channel.declareQueuePassive(queue.name)
                    notices.append(
                        "queue '\(queue.name)' exists with initial group size \(mismatch.existing ?? "unset (the broker's default)"), "
                            + "not \(mismatch.wanted ?? "unset"); it is used as it is (the setting applies to queues created from now on; "
                            + "change replicas with rabbitmq-queues grow/shrink)")
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
        return notices
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
