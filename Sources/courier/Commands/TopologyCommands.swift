import ArgumentParser
import Foundation

/// `courier topology show | declare | verify`: what exists on the broker against what the
/// configuration (and the handlers' event types) want.
struct TopologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology", abstract: "Compare, declare or verify the exchanges, queues and bindings courierd uses.",
        subcommands: [Show.self, Declare.self, Verify.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Everything the configuration wants, and what the broker has.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await runCommand {
                let context = try await CommandContext.load(global)
                let items = try await context.withBroker { try await BrokerInspection(connection: $0, topology: context.topology).compare() }
                if global.json {
                    try Output.json(items)
                    return
                }
                Output.table(
                    ["KIND", "NAME", "STATE", "WANTED"],
                    items.map { item in
                        let state =
                            switch item.state {
                            case .ok: Output.green("ok")
                            case .missing, .differs: Output.red(item.state.rawValue)
                            case .notCheckable: Output.dim(item.state.rawValue)
                            }
                        return [item.kind, item.name, state, item.wanted + (item.state == .differs ? " — \(item.detail ?? "")" : "")]
                    })
            }
        }
    }

    struct Declare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Declare everything (idempotent), as courierd does at start.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await runCommand {
                let context = try await CommandContext.load(global)
                try await context.withBroker { connection in
                    do {
                        try await BrokerInspection(connection: connection, topology: context.topology).declare()
                    } catch {
                        throw OpsError(.drift, "\(error)")
                    }
                }
                let t = context.topology
                if global.json {
                    try Output.json(["exchanges": t.exchanges.count, "queues": t.queues.count, "bindings": t.bindings.count])
                } else {
                    Output.line("declared \(t.exchanges.count) exchanges, \(t.queues.count) queues, \(t.bindings.count) bindings")
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Exit 1 and list the differences when the broker lacks something or has other arguments.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await runCommand {
                let context = try await CommandContext.load(global)
                let differences = try await context.withBroker { try await BrokerInspection(connection: $0, topology: context.topology).verify() }
                if global.json {
                    try Output.json(differences)
                } else if differences.isEmpty {
                    Output.line("the broker has every exchange and queue the configuration wants, with its arguments (bindings are not checkable over AMQP)")
                } else {
                    for difference in differences { Output.line(Output.red(difference.description)) }
                }
                if !differences.isEmpty { throw ExitCode(OpsError.Code.drift.exitStatus) }
            }
        }
    }
}
