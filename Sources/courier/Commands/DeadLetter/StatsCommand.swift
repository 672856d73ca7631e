import ArgumentParser
import CourierFailureIndex

/// `courier dlq stats`: the index counted by fingerprint, error class and event type, beside the queue's depth.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Parked messages counted by fingerprint, error class and event type.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions

    struct Report: Encodable {
        var deadLetterQueue: String
        var queueMessages: Int?
        var index: FailureIndex.Stats
        enum CodingKeys: String, CodingKey {
            case deadLetterQueue = "dead_letter_queue", queueMessages = "queue_messages", index
        }
    }

    func run() async throws {
        try await runCommand {
            let context = try await CommandContext.load(global)
            let filter = try filters.filter()
            let stats = try await context.withIndex { try $1.stats(filter, on: $0) }
            // The queue's own count, to show when the index has drifted from it.
            let depth = try? await context.withBroker {
                Int(try await DeadLetterQueue(connection: $0, topology: context.topology).requireQueue(context.topology.deadLetterQueue).messageCount)
            }
            if global.json {
                try Output.json(Report(deadLetterQueue: context.topology.deadLetterQueue, queueMessages: depth, index: stats))
                return
            }
            Output.line(
                Output.bold("\(stats.total) parked") + " in the failure index of \(context.topology.deadLetterQueue)"
                    + (depth.map { "; the queue holds \($0)" } ?? "; the queue's depth is unknown (broker unreachable)"))
            if let depth, depth != stats.total, filter == DeadLetterFilter() {
                Output.line(Output.red("the index and the queue differ: run `courier dlq sync`"))
            }
            if let oldest = stats.oldest, let newest = stats.newest {
                Output.line("oldest \(Output.timestamp(oldest)) (\(Output.age(since: oldest)) ago), newest \(Output.timestamp(newest)) (\(Output.age(since: newest)) ago)")
            }
            guard stats.total > 0 else { return }
            Output.line()
            Output.table(
                ["FINGERPRINT", "COUNT", "ERROR", "OLDEST", "NEWEST", "MESSAGE"],
                stats.byFingerprint.map {
                    [$0.key, "\($0.count)", $0.errorClass ?? "", Output.age(since: $0.oldest), Output.age(since: $0.newest),
                     Output.truncated($0.sampleMessage ?? "", 60)]
                })
            Output.line()
            Output.table(["ERROR CLASS", "COUNT"], stats.byErrorClass.map { [$0.key, "\($0.count)"] })
            Output.line()
            Output.table(["EVENT TYPE", "COUNT"], stats.byEventType.map { [$0.key, "\($0.count)"] })
        }
    }
}
