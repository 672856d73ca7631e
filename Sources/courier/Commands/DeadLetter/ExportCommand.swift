import ArgumentParser
import Foundation

/// `courier dlq export`: parked messages as JSON lines; the queue is left as it was.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write parked messages as JSON lines (the queue is left as it was).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: SelectionOptions

    @Option(name: .shortAndLong, help: "Write to this file instead of stdout.")
    var output: String?

    func run() async throws {
        try await runCommand {
            let context = try await CommandContext.load(global)
            let filter = try selection.filters.filter(ids: selection.ids, all: true)  // exporting takes nothing away
            let messages = try await context.withBroker {
                try await DeadLetterQueue(connection: $0, topology: context.topology).browse(filter)
            }
            let text = try messages.map { try ExportedMessage($0).jsonLine() + "\n" }.joined()
            if let output {
                do {
                    try Data(text.utf8).write(to: URL(fileURLWithPath: output))
                } catch {
                    throw OpsError(.usage, "cannot write \(output): \(error.localizedDescription)")
                }
                Output.note("exported \(Output.count(messages.count)) to \(output)")
            } else {
                FileHandle.standardOutput.write(Data(text.utf8))
                Output.note("exported \(Output.count(messages.count))")
            }
        }
    }
}
