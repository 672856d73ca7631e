import ArgumentParser
import CourierFailureIndex
import Foundation

/// `courier dlq import FILE`: exported messages parked in this app's dead-letter queue.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Park exported messages (JSON lines) in this app's dead-letter queue.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A file from `courier dlq export`, or - for stdin.")
    var file: String

    func run() async throws {
        try await runCommand {
            let context = try await CommandContext.load(global)
            let data: Data
            if file == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let contents = FileManager.default.contents(atPath: file) else { throw OpsError(.usage, "cannot read \(file)") }
                data = contents
            }
            // An export is UTF-8 JSON; anything else is refused rather than decoded with
            // replacement characters that would change the messages it parks.
            guard let text = String(validating: data, as: UTF8.self) else {
                throw OpsError(.invalidInput, "\(file == "-" ? "stdin" : file) is not UTF-8: not a `courier dlq export` file")
            }
            let exported = try ExportedMessage.parse(lines: text)  // all or nothing: parse every line first
            let imported = try await context.withBroker {
                try await DeadLetterQueue(connection: $0, topology: context.topology).importMessages(exported)
            }
            await context.updateIndex(after: "imported") { try $1.record(imported, on: $0) }
            if global.json {
                try Output.json(["imported": imported.map(\.failureID)])
            } else {
                Output.line("imported \(Output.count(imported.count)) into \(context.topology.deadLetterQueue)")
            }
        }
    }
}
