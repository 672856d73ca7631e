import ArgumentParser
import CourierFailureIndex
import Foundation

/// Selection by event type, error class, fingerprint and age (combined with AND).
struct FilterOptions: ParsableArguments {
    @Option(name: .customLong("type"), help: "Event type, e.g. CardAddedToLibraryEvent (repeatable).")
    var types: [String] = []

    @Option(name: .customLong("error"), help: "Error class, e.g. InvalidField (repeatable).")
    var errorClasses: [String] = []

    @Option(name: .customLong("fingerprint"), help: "Error fingerprint, as `dlq stats` shows it (repeatable).")
    var fingerprints: [String] = []

    @Option(help: "Failed within this long (30m, 2h, 7d) or since this date (2026-11-28, 2026-11-28T10:00:00Z).")
    var since: String?

    func filter(ids: [String] = [], all: Bool = false) throws -> DeadLetterFilter {
        var sinceDate: Date?
        if let since {
            guard let date = DeadLetterFilter.parseSince(since) else {
                throw OpsError(.usage, "--since '\(since)' is neither a duration like 2h or 7d nor a date like 2026-11-28")
            }
            sinceDate = date
        }
        return DeadLetterFilter(
            ids: ids, types: types, errorClasses: errorClasses, fingerprints: fingerprints, since: sinceDate, all: all)
    }
}

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
