import ArgumentParser
import CourierFailureIndex
import Foundation

/// `courier dlq purge`: parked messages removed for good, after the operator confirmed what matched.
struct PurgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge", abstract: "Delete parked messages for good (asks first unless --yes).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: SelectionOptions

    @Flag(name: .shortAndLong, help: "Do not ask for confirmation.")
    var yes = false

    func run() async throws {
        try await runCommand {
            let context = try await CommandContext.load(global)
            let filter = try selection.filter(command: "purge")
            let stop = StopSignal()
            let handlers = await installStopHandlers(stop)
            defer { handlers.cancel() }
            let yes = self.yes
            let json = global.json
            let queueName = context.topology.deadLetterQueue
            let removed: [ParkedMessage]? = try await context.withBroker { connection in
                let queue = DeadLetterQueue(connection: connection, topology: context.topology)
                var only: Set<String>?
                if !yes {
                    // Show what matches, ask, and then remove only what was shown (a message
                    // parked in the meantime is not purged unseen).
                    let matching = try await queue.browse(filter, stop: stop)
                    if matching.isEmpty {
                        if json { try Output.json(["purged": [String]()]) } else { Output.line("nothing in \(queue.name) matches") }
                        return nil
                    }
                    guard isatty(STDIN_FILENO) == 1 else {
                        throw OpsError(
                            .usage, "refusing to purge \(Output.count(matching.count)) without --yes (stdin is not a terminal to ask on)")
                    }
                    Output.parkedTable(matching.prefix(20))
                    if matching.count > 20 { Output.line(Output.dim("… and \(matching.count - 20) more")) }
                    FileHandle.standardError.write(
                        Data("Purge \(Output.count(matching.count)) from \(queue.name)? This cannot be undone. Type 'yes': ".utf8))
                    guard readLine()?.trimmingCharacters(in: .whitespaces).lowercased() == "yes" else {
                        Output.line("nothing purged")
                        return nil
                    }
                    only = Set(matching.map(\.failureID))
                }
                return try await queue.purge(filter, only: only, stop: stop)
            }
            guard let removed else { return }
            let ids = removed.map(\.failureID)
            await context.updateIndex(after: "purged") { try $1.markPurged(ids, on: $0) }
            if global.json {
                try Output.json(["purged": removed.map(\.failureID)])
            } else {
                Output.line("purged \(Output.count(removed.count)) from \(queueName)")
            }
            if stop.isStopped { throw ExitCode(OpsError.Code.interrupted.exitStatus) }
        }
    }
}
