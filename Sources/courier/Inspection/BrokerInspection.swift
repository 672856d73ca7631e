import CourierAMQP
import CourierEngine

/// What exists on the broker compared with what the configuration wants (`courier topology` and
/// `courier status`). AMQP 0-9-1 can tell whether an exchange or queue exists (a passive
/// declare) and whether an existing one has the wanted arguments (declaring it again with them
/// is refused when they differ); it cannot list bindings, so those are declared, not verified.
struct BrokerInspection: Sendable {
    let connection: AMQPConnection
    let topology: Topology

    init(connection: AMQPConnection, topology: Topology) {
        self.connection = connection
        self.topology = topology
    }

    /// Depths of the app queue, each retry queue, the dead-letter queue and the unrouted queue
    /// (``Topology/queueDepths(on:)``, as courierd's metrics read them).
    func queueDepths() async throws -> [QueueDepth] {
        try await topology.queueDepths(on: connection)
    }

    struct Difference: Sendable, Codable, Equatable, CustomStringConvertible {
        /// `exchange`, `queue`.
        var kind: String
        var name: String
        var problem: Problem
        var detail: String
        var description: String { "\(kind) \(name): \(problem == .missing ? "missing" : detail)" }

        enum Problem: String, Sendable, Codable {
            case missing
            /// It exists with other arguments.
            case arguments
        }
    }

    struct Item: Sendable, Codable, Equatable {
        var kind: String
        var name: String
        /// Exchange type, queue arguments or binding, as wanted.
        var wanted: String
        var state: State
        var detail: String?

        /// What the broker has of it (in `--json`, the raw value).
        enum State: String, Sendable, Codable {
            case ok, missing, differs
            /// A binding: AMQP cannot list them.
            case notCheckable = "not checkable"
        }
    }

    /// Every exchange, queue and binding the configuration wants, each with what the broker has.
    func compare() async throws -> [Item] {
        var items: [Item] = []
        for exchange in topology.exchanges {
            let wanted = "\(exchange.type.rawValue)\(exchange.arguments.isEmpty ? "" : " \(exchange.arguments)")"
            let state = try await check(kind: "exchange", name: exchange.name) { channel, passive in
                if passive {
                    try await channel.declareExchangePassive(exchange.name)
                } else {
                    try await channel.declareExchange(exchange.name, type: exchange.type, durable: true, arguments: exchange.arguments)
                }
            }
            items.append(Item(kind: "exchange", name: exchange.name, wanted: wanted, state: state.0, detail: state.1))
        }
        for queue in topology.queues {
            let state = try await check(kind: "queue", name: queue.name) { channel, passive in
                if passive {
                    _ = try await channel.declareQueuePassive(queue.name)
                } else {
                    _ = try await channel.declareQueue(queue.name, durable: true, arguments: queue.arguments)
                }
            }
            items.append(Item(kind: "queue", name: queue.name, wanted: "\(queue.arguments)", state: state.0, detail: state.1))
        }
        for binding in topology.bindings {
            items.append(
                Item(
                    kind: "binding", name: "\(binding.exchange) → \(binding.queue)", wanted: binding.routingKey.isEmpty ? "(all)" : binding.routingKey,
                    state: .notCheckable, detail: "AMQP cannot list bindings; `courier topology declare` binds idempotently"))
        }
        return items
    }

    /// The differences only (empty: the broker has everything, with the wanted arguments).
    func verify() async throws -> [Difference] {
        try await compare().compactMap { item in
            switch item.state {
            case .missing: Difference(kind: item.kind, name: item.name, problem: .missing, detail: "does not exist")
            case .differs: Difference(kind: item.kind, name: item.name, problem: .arguments, detail: item.detail ?? "")
            case .ok, .notCheckable: nil
            }
        }
    }

    /// Declares everything (idempotent); fails naming the first conflict.
    func declare() async throws {
        try await topology.declare(on: connection)
    }

    // MARK: Helpers

    /// Passive declare first (never creates anything); only when it exists, the declare with the
    /// wanted arguments, which the broker refuses when they differ.
    private func check(
        kind: String, name: String, _ declare: @Sendable (AMQPChannel, _ passive: Bool) async throws -> Void
    ) async throws -> (Item.State, String?) {
        let channel = try await connection.openChannel()
        do {
            try await declare(channel, true)
        } catch {
            guard Self.isNotFound(error) else { throw error }
            return (.missing, nil)
        }
        do {
            try await declare(channel, false)
            try? await channel.close()
            return (.ok, nil)
        } catch {
            guard let amqp = error as? AMQPError, amqp.replyCode == 406 else { throw error }
            let text = amqp.replyText ?? "\(error)"
            guard let mismatch = TopologyMismatch(replyText: text), let argument = mismatch.argument else { return (.differs, text) }
            return (.differs, "\(argument) is \(mismatch.existing.map { "'\($0)'" } ?? "unset") on the broker, the configuration wants \(mismatch.wanted.map { "'\($0)'" } ?? "it unset")")
        }
    }

    static func isNotFound(_ error: any Error) -> Bool {
        (error as? AMQPError)?.replyCode == 404
    }
}
