import Foundation
import Logging

/// Wraps a handler and replaces every occurrence of the given secrets in a line's message and
/// metadata with `***` before it is written.
///
/// For loggers handed to code that logs what it was configured with: swift-otel logs each
/// `OTEL_*` variable it read, `OTEL_EXPORTER_OTLP_HEADERS` (typically an API key) included,
/// and courierd gives it a logger that masks those values.
package struct SecretMaskingLogHandler: LogHandler {
    package var inner: any LogHandler
    /// Non-empty strings to mask; the longest are replaced first.
    package let secrets: [String]

    package init(inner: any LogHandler, secrets: [String]) {
        self.inner = inner
        self.secrets = secrets.filter { !$0.isEmpty }.sorted { $0.utf8.count > $1.utf8.count }
    }

    /// Kept here, not in `inner`, so that it is masked too (callers set it through the subscript).
    package var metadata: Logger.Metadata = [:]

    package var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    package var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var event = event
        event.message = Logger.Message(stringLiteral: mask("\(event.message)"))
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        event.metadata = merged.isEmpty ? nil : merged.mapValues(mask)
        if let error = event.error {
            event.error = nil
            var metadata = event.metadata ?? [:]
            metadata["error"] = .string(mask("\(error)"))
            event.metadata = metadata
        }
        inner.log(event: event)
    }

    func mask(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let string): .string(mask(string))
        case .stringConvertible(let convertible): .string(mask(convertible.description))
        case .array(let values): .array(values.map(mask))
        case .dictionary(let nested): .dictionary(nested.mapValues(mask))
        }
    }

    func mask(_ text: String) -> String {
        var text = text
        for secret in secrets where text.contains(secret) {
            text = text.replacingOccurrences(of: secret, with: "***")
        }
        return text
    }
}
