import ArgumentParser
import Foundation

/// `courier dlq sync`: the failure index brought in line with the queue.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Bring the failure index in line with the queue: index what is parked but unknown, mark gone what is not there.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runCommand {
            let context = try await CommandContext.load(global)
            let started = Date()
            let messages = try await context.withBroker { try await DeadLetterQueue(connection: $0, topology: context.topology).browse() }
            // A row Postgres refuses does not keep the others out of the index: it is named, and
            // the command exits 1 (incomplete).
            let (recorded, gone) = try await context.withIndex { connection, index in
                let recorded = try index.recordEach(messages, on: connection)
                let gone = try index.markGone(notIn: messages.map(\.failureID), recordedBefore: started, on: connection)
                return (recorded, gone)
            }
            struct Report: Encodable {
                var inQueue: Int
                var indexed: Int
                var markedGone: Int
                var notIndexed: [[String: String]]
                enum CodingKeys: String, CodingKey {
                    case inQueue = "in_queue", indexed, markedGone = "marked_gone", notIndexed = "not_indexed"
                }
            }
            if global.json {
                try Output.json(
                    Report(
                        inQueue: messages.count, indexed: recorded.written, markedGone: gone,
                        notIndexed: recorded.failed.map { ["failure_id": $0.failureID, "error": $0.error] }))
            } else {
                Output.line("\(context.topology.deadLetterQueue) holds \(messages.count); indexed \(recorded.written) new, marked \(gone) gone")
                for (failureID, error) in recorded.failed {
                    Output.line(Output.red("not indexed: \(failureID): \(error)"))
                }
            }
            if !recorded.failed.isEmpty { throw ExitCode(OpsError.Code.incomplete.exitStatus) }
        }
    }
}
