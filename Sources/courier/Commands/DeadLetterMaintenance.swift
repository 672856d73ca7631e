import ArgumentParser
import CourierAMQP
import CourierFailureIndex
import CourierPostgres
import Foundation
import Synchronization

/// Which messages a replay or purge takes: ids, or filters, or `--all` — never nothing said.
struct SelectionOptions: ParsableArguments {
    @Argument(help: "Failure ids (or their first 8+ characters).")
    var ids: [String] = []

    @OptionGroup var filters: FilterOptions

    @Flag(help: "Every message in the dead-letter queue (with the filters, every one they match).")
    var all = false

    func filter(command: String) throws -> DeadLetterFilter {
        let filter = try filters.filter(ids: ids, all: all)
        guard !filter.selectsNothing else {
            throw OpsError(.usage, "say which messages to \(command): failure ids, --type, --error, --fingerprint, --since, or --all")
        }
        return filter
    }
}

// MARK: replay

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Send parked messages back to their original queue (only), confirmed before the parked copy is removed.",
        discussion: """
            A replayed message goes to this app's queue through the default exchange — never through \
            domain_events, so no other app sees it again — without its x-death, delivery counters and \
            attempt header, with x-courier-replayed-at, -replay-count, -replayed-by and -replayed-from. \
            Ctrl-C stops after the message in hand; a killed replay loses nothing (the broker returns \
            what was not acked) and duplicates at most the message in flight, which the handlers' \
            inbox applies once.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: SelectionOptions

    @Flag(help: "Show what would be replayed; change nothing.")
    var dryRun = false

    @Option(help: "At most N messages per second (e.g. 50).")
    var rate: Double?

    @Option(help: "Who is replaying, for the lineage header (default: user@host).")
    var by: String?

    struct Report: Encodable {
        var dryRun: Bool
        var queue: String
        var examined: Int
        var replayed: [String]
        var failed: [[String: String]]
        var otherQueue: [String]
        var parkedAgain: [String]
        var interrupted: Bool
        var seconds: Double
        enum CodingKeys: String, CodingKey {
            case dryRun = "dry_run", queue, examined, replayed, failed, otherQueue = "other_queue", parkedAgain = "parked_again", interrupted, seconds
        }
    }

    func run() async throws {
        try await runCommand {
            let context = try await CommandContext.load(global)
            let filter = try selection.filter(command: "replay")
            if let rate, rate <= 0 { throw OpsError(.usage, "--rate must be more than 0") }
            let stop = StopSignal()
            let handlers = installStopHandlers(stop)
            defer { handlers.forEach { $0.cancel() } }

            let showProgress = !global.json
            let lastShown = Mutex<ContinuousClock.Instant>(.now)
            let options = DeadLetterQueue.ReplayOptions(dryRun: dryRun, rate: rate, by: by ?? CommandContext.operatorName)
            let summary = try await context.withBroker { connection in
                try await DeadLetterQueue(connection: connection, topology: context.topology).replay(
                    filter, options: options, stop: stop
                ) { progress in
                    guard showProgress else { return }
                    // A progress line for long runs: redrawn on a terminal, every 5 s otherwise.
                    let every: Duration = Output.stderrIsTerminal ? .milliseconds(200) : .seconds(5)
                    let due = lastShown.withLock { last in
                        guard ContinuousClock.now - last >= every else { return false }
                        last = .now
                        return true
                    }
                    guard due, progress.elapsed >= .seconds(1) else { return }
                    let seconds = Output.seconds(progress.elapsed)
                    let text = "replayed \(progress.replayed), failed \(progress.failed), examined \(progress.examined) — \(Int(Double(progress.replayed) / max(seconds, 0.001)))/s"
                    if Output.stderrIsTerminal {
                        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
                    } else {
                        Output.note(text)
                    }
                }
            }
            if showProgress, Output.stderrIsTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }

            // The index follows the queue; if Postgres is away, `dlq sync` catches up later.
            if !dryRun, !summary.replayed.isEmpty {
                let ids = summary.replayed.map(\.failureID)
                await context.updateIndex(after: "replayed") { try $1.markReplayed(ids, by: options.by, on: $0) }
            }

            let seconds = Output.seconds(summary.elapsed)
            if global.json {
                try Output.json(
                    Report(
                        dryRun: dryRun, queue: context.topology.appQueue, examined: summary.examined,
                        replayed: summary.replayed.map(\.failureID),
                        failed: summary.failed.map { ["failure_id": $0.message.failureID, "reason": $0.reason] },
                        otherQueue: summary.foreign.map(\.failureID), parkedAgain: summary.parkedAgain.map(\.failureID), interrupted: summary.interrupted, seconds: seconds))
            } else {
                let verb = dryRun ? "would replay" : "replayed"
                Output.line(
                    "\(verb) \(summary.replayed.count) message\(summary.replayed.count == 1 ? "" : "s") to \(context.topology.appQueue)"
                        + " (examined \(summary.examined) in \(context.topology.deadLetterQueue), \(String(format: "%.1f", seconds)) s)")
                if dryRun, !summary.replayed.isEmpty {
                    Output.table(
                        ["ID", "TYPE", "ERROR", "FAILED AT"],
                        summary.replayed.map { [String($0.failureID.prefix(8)), $0.eventType, $0.errorClass, Output.timestamp($0.failedAt)] })
                }
                for (message, reason) in summary.failed {
                    Output.line(Output.red("not replayed: \(message.failureID): \(reason) (still parked)"))
                }
                if !summary.foreign.isEmpty {
                    Output.line(
                        "left \(summary.foreign.count) parked that came from another queue (\(Set(summary.foreign.map(\.origin.queue)).sorted().joined(separator: ", "))), not \(context.topology.appQueue)")
                }
                if !summary.parkedAgain.isEmpty {
                    Output.line(
                        Output.red(
                            "\(summary.parkedAgain.count) replayed message\(summary.parkedAgain.count == 1 ? "" : "s") failed again and \(summary.parkedAgain.count == 1 ? "is" : "are") parked anew: `courier dlq list --since 5m`"))
                }
                if summary.interrupted { Output.line("interrupted: the rest is still parked") }
            }
            if summary.interrupted { throw ExitCode(OpsError.Code.interrupted.exitStatus) }
            if !summary.failed.isEmpty { throw ExitCode(OpsError.Code.incomplete.exitStatus) }
        }
    }
}

// MARK: purge

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
            let handlers = installStopHandlers(stop)
            defer { handlers.forEach { $0.cancel() } }
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
                            .usage, "refusing to purge \(matching.count) message\(matching.count == 1 ? "" : "s") without --yes (stdin is not a terminal to ask on)")
                    }
                    Output.table(
                        ["ID", "TYPE", "ERROR", "FAILED AT"],
                        matching.prefix(20).map { [String($0.failureID.prefix(8)), $0.eventType, $0.errorClass, Output.timestamp($0.failedAt)] })
                    if matching.count > 20 { Output.line(Output.dim("… and \(matching.count - 20) more")) }
                    FileHandle.standardError.write(
                        Data("Purge \(matching.count) message\(matching.count == 1 ? "" : "s") from \(queue.name)? This cannot be undone. Type 'yes': ".utf8))
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
                Output.line("purged \(removed.count) message\(removed.count == 1 ? "" : "s") from \(queueName)")
            }
            if stop.isStopped { throw ExitCode(OpsError.Code.interrupted.exitStatus) }
        }
    }
}

// MARK: export / import

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
                Output.note("exported \(messages.count) message\(messages.count == 1 ? "" : "s") to \(output)")
            } else {
                FileHandle.standardOutput.write(Data(text.utf8))
                Output.note("exported \(messages.count) message\(messages.count == 1 ? "" : "s")")
            }
        }
    }
}

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
                Output.line("imported \(imported.count) message\(imported.count == 1 ? "" : "s") into \(context.topology.deadLetterQueue)")
            }
        }
    }
}

// MARK: sync

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
