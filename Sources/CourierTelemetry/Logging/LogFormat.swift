import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How courierd writes its log lines to standard error (`courier.log.format`,
/// `COURIER_LOG_FORMAT`).
///
/// - `json`: one JSON object per line (``JSONLogHandler``) — what journald, Fly's log shipping
///   and any log pipeline parse without a regex.
/// - `text`: swift-log's `StreamLogHandler` lines, for a person at a terminal.
///
/// Unset, it is `text` when standard error is a terminal and `json` otherwise (under systemd,
/// on Fly, in a container, redirected to a file).
package enum LogFormat: String, Sendable, CaseIterable {
    case json
    case text

    /// `text` on a terminal, `json` otherwise.
    package static var automatic: LogFormat { isatty(STDERR_FILENO) == 1 ? .text : .json }

    /// A handler writing to standard error in this format.
    package func handler(label: String, level: Logger.Level, metadataProvider: Logger.MetadataProvider?) -> any LogHandler {
        switch self {
        case .json:
            var handler = JSONLogHandler(label: label, output: .standardError, metadataProvider: metadataProvider)
            handler.logLevel = level
            return handler
        case .text:
            var handler = StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
            handler.logLevel = level
            return handler
        }
    }

    /// Bootstraps swift-log with this format, `level`, and the event metadata of
    /// ``Logging/Logger/MetadataProvider/courierEvent`` on every line.
    package func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap({ label, provider in
            self.handler(label: label, level: level, metadataProvider: provider)
        }, metadataProvider: .courierEvent)
    }
}
