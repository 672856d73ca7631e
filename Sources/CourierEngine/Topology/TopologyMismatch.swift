import CourierAMQP

/// A queue or exchange that already exists with other settings than courierd wants.
///
/// RabbitMQ refuses such a declare with 406 PRECONDITION_FAILED and names the first differing
/// argument in its reply text. Start-up stops with this error: falling back silently to whatever
/// exists would, for instance, lose dead-lettering or the delivery limit.
package struct TopologyMismatch: Error, Sendable, Equatable, CustomStringConvertible {
    package var kind: String
    package var name: String
    package var argument: String?
    package var wanted: String?
    package var existing: String?
    /// The broker's words, for anything the parse did not catch.
    package var brokerText: String

    package var description: String {
        var text = "\(kind) '\(name)' already exists with different settings"
        if let argument {
            text += ": \(argument) is \(existing.map { "'\($0)'" } ?? "unset") on the broker, courierd wants \(wanted.map { "'\($0)'" } ?? "it unset")"
        }
        text += ". Delete it (after moving its messages) or change the configuration to match. Broker said: \(brokerText)"
        return text
    }

    /// Parses RabbitMQ's text, e.g.
    /// `PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'events_app' in vhost '/':
    /// received 'classic' but current is 'quorum'`.
    package init?(replyText: String) {
        guard let argRange = replyText.range(of: "inequivalent arg '") else { return nil }
        let afterArg = replyText[argRange.upperBound...]
        guard let argEnd = afterArg.firstIndex(of: "'") else { return nil }
        argument = String(afterArg[..<argEnd])
        let rest = afterArg[argEnd...]
        guard let forRange = rest.range(of: "for ") else { return nil }
        let afterFor = rest[forRange.upperBound...]
        guard let space = afterFor.firstIndex(of: " ") else { return nil }
        kind = String(afterFor[..<space])
        let afterKind = afterFor[afterFor.index(after: space)...]
        guard afterKind.first == "'", let nameEnd = afterKind.dropFirst().firstIndex(of: "'") else { return nil }
        name = String(afterKind[afterKind.index(after: afterKind.startIndex)..<nameEnd])
        // "received 'classic' but current is 'quorum'", or for typed values
        // "received the value '10' of type 'long' but current is none".
        wanted = Self.quoted(after: "received the value ", in: replyText) ?? Self.quoted(after: "received ", in: replyText)
        existing = Self.quoted(after: "current is the value ", in: replyText) ?? Self.quoted(after: "current is ", in: replyText)
        brokerText = replyText
    }

    package init(kind: String, name: String, brokerText: String) {
        self.kind = kind
        self.name = name
        self.brokerText = brokerText
    }

    private static func quoted(after marker: String, in text: String) -> String? {
        guard let range = text.range(of: marker + "'") else { return nil }
        let rest = text[range.upperBound...]
        guard let end = rest.firstIndex(of: "'") else { return nil }
        return String(rest[..<end])
    }
}
