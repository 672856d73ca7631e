import ArgumentParser

/// `courier dlq …`: the dead-letter queue of this app (`events_<app>.dlq`).
struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect, replay, purge, export and import the dead-letter queue.",
        discussion: """
            list, show and stats read the failure index in Postgres (courierd records every message it \
            parks); replay, purge and export read the queue itself, which is the truth. sync brings \
            the index in line with the queue.
            """,
        subcommands: [
            ListCommand.self, ShowCommand.self, StatsCommand.self, ReplayCommand.self, PurgeCommand.self,
            ExportCommand.self, ImportCommand.self, SyncCommand.self,
        ])
}
