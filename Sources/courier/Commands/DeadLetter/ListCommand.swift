import ArgumentParser
import CourierFailureIndex

/// `courier dlq list`: rows of the failure index, newest first (`--status`, filters, `--limit`).
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Parked messages from the failure index, newest first.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: FilterOptions

    @Option(help: "parked (default), replayed, purged, gone, or all.")
    var status = "parked"

    @Option(help: "At most this many rows.")
    var limit = 50

    func run() async throws {
        try await runCommand {
            let context = try await CommandContext.load(global)
            let statuses = try parseStatuses(status)
            guard limit > 0 else { throw OpsError(.usage, "--limit must be at least 1") }
            let filter = try filters.filter()
            let limit = self.limit
            let entries = try await context.withIndex { try $1.list(filter, statuses: statuses, limit: limit, on: $0) }
            if global.json {
                try Output.json(entries.map { ParkedJSON($0.message, entry: $0) })
                return
            }
            if entries.isEmpty {
                Output.line("no \(status == "all" ? "" : status + " ")messages in the failure index of \(context.topology.deadLetterQueue) match")
                return
            }
            Output.table(
                ["ID", "TYPE", "ERROR", "ATTEMPTS", "FAILED AT", "AGE"] + (status == "parked" ? [] : ["STATUS"]),
                entries.map { entry in
                    let m = entry.message
                    return [
                        String(m.failureID.prefix(8)), m.eventType, m.errorClass, "\(m.attempts)", Output.timestamp(m.failedAt),
                        Output.age(since: m.failedAt),
                    ] + (status == "parked" ? [] : [entry.status.rawValue])
                })
            if entries.count == limit { Output.note(Output.dim("(first \(limit); --limit N for more)")) }
        }
    }
}

func parseStatuses(_ text: String) throws -> [FailureIndex.Status] {
    if text == "all" { return FailureIndex.Status.allCases }
    return try text.split(separator: ",").map { part in
        guard let status = FailureIndex.Status(rawValue: String(part)) else {
            throw OpsError(.usage, "--status '\(part)' is not parked, replayed, purged, gone or all")
        }
        return status
    }
}
