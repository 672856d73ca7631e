import Foundation

/// Which parked messages a command acts on. Pure: evaluated on ``ParkedMessage``s read from the
/// queue (for replay, purge and export: the queue is the truth), and turned into SQL for the
/// failure index (for list and stats).
///
/// Criteria combine with AND; an empty filter matches nothing unless ``all`` is set, so a
/// mistyped command never replays or purges the whole queue.
package struct DeadLetterFilter: Sendable, Equatable {
    /// Failure ids, or unique prefixes of at least 8 characters.
    package var ids: [String] = []
    /// Event types (exact).
    package var types: [String] = []
    package var errorClasses: [String] = []
    package var fingerprints: [String] = []
    /// Failed at or after.
    package var since: Date?
    /// Match everything the other criteria allow, even when there are none.
    package var all = false

    package init(
        ids: [String] = [], types: [String] = [], errorClasses: [String] = [], fingerprints: [String] = [],
        since: Date? = nil, all: Bool = false
    ) {
        self.ids = ids
        self.types = types
        self.errorClasses = errorClasses
        self.fingerprints = fingerprints
        self.since = since
        self.all = all
    }

    /// No criterion and not `all`: matches nothing.
    package var selectsNothing: Bool {
        !all && ids.isEmpty && types.isEmpty && errorClasses.isEmpty && fingerprints.isEmpty && since == nil
    }

    package func matches(_ message: ParkedMessage) -> Bool {
        if selectsNothing { return false }
        if !ids.isEmpty, !ids.contains(where: { Self.id($0, matches: message.failureID) }) { return false }
        if !types.isEmpty, !types.contains(message.eventType) { return false }
        if !errorClasses.isEmpty, !errorClasses.contains(message.errorClass) { return false }
        if !fingerprints.isEmpty, !fingerprints.contains(message.fingerprint) { return false }
        if let since, message.failedAt < since { return false }
        return true
    }

    /// Exact, or a prefix of at least 8 characters (ids are UUIDs; case does not matter).
    package static func id(_ given: String, matches id: String) -> Bool {
        let given = given.lowercased()
        return given == id.lowercased() || (given.count >= 8 && id.lowercased().hasPrefix(given))
    }

    /// `2h`, `30m`, `7d`, `90s` ago from `now`, or an ISO 8601 date/time (`2026-11-28`,
    /// `2026-11-28T10:00:00Z`). Nil when it is neither, or reaches back beyond ~3,000 years.
    package static func parseSince(_ text: String, now: Date = Date()) -> Date? {
        let units: [(String, Double)] = [("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604_800)]
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            // At most ~3,000 years back: a larger (or non-finite) span would be a date Postgres
            // cannot take and the timestamp encoder cannot convert.
            if let n = Double(text.dropLast(suffix.count)), n >= 0, n * seconds <= 1e11 { return now.addingTimeInterval(-n * seconds) }
        }
        let full = ISO8601DateFormatter()
        if let date = full.date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        return day.date(from: text)
    }
}
