import ArgumentParser
import CourierFailureIndex
import Foundation
import Synchronization

/// `courier dlq replay`: parked messages back to this app's queue, each confirmed before its parked copy goes.
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
            let handlers = await installStopHandlers(stop)
            defer { handlers.cancel() }

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
                        failed: summary.failed.map { ["failure_id": $0.message.failureID, "reason": "\($0.reason)"] },
                        otherQueue: summary.foreign.map(\.failureID), parkedAgain: summary.parkedAgain.map(\.failureID), interrupted: summary.interrupted, seconds: seconds))
            } else {
                let verb = dryRun ? "would replay" : "replayed"
                Output.line(
                    "\(verb) \(Output.count(summary.replayed.count)) to \(context.topology.appQueue)"
                        + " (examined \(summary.examined) in \(context.topology.deadLetterQueue), \(String(format: "%.1f", seconds)) s)")
                if dryRun, !summary.replayed.isEmpty {
                    Output.parkedTable(summary.replayed)
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
                            "\(Output.count(summary.parkedAgain.count, "replayed message")) failed again and \(summary.parkedAgain.count == 1 ? "is" : "are") parked anew: `courier dlq list --since 5m`"))
                }
                if summary.interrupted { Output.line("interrupted: the rest is still parked") }
            }
            if summary.interrupted { throw ExitCode(OpsError.Code.interrupted.exitStatus) }
            if !summary.failed.isEmpty { throw ExitCode(OpsError.Code.incomplete.exitStatus) }
        }
    }
}
