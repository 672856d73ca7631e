/// An AMQP field table: ordered key/value pairs, as they travel on the wire.
///
/// Order is kept so a table read from a message and published again is byte-for-byte the same;
/// lookups by key return the first match (keys are unique in tables RabbitMQ produces).
package struct AMQPTable: Sendable, Hashable {
    package private(set) var entries: [(key: String, value: AMQPFieldValue)]

    package init() { entries = [] }

    package init(_ entries: [(key: String, value: AMQPFieldValue)]) {
        self.entries = entries
    }

    package var isEmpty: Bool { entries.isEmpty }
    package var count: Int { entries.count }
    package var keys: [String] { entries.map(\.key) }

    /// Reads, replaces (keeping the position), appends, or with `nil` removes the entry for `key`.
    package subscript(key: String) -> AMQPFieldValue? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue {
                    entries[index].value = newValue
                } else {
                    entries.remove(at: index)
                }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    /// Removes every entry whose key is in `keys` — every occurrence: a table read from the wire
    /// may repeat a key, and the subscript only sees the first.
    package mutating func removeAll(keys: Set<String>) {
        entries.removeAll { keys.contains($0.key) }
    }

    package static func == (lhs: AMQPTable, rhs: AMQPTable) -> Bool {
        lhs.entries.count == rhs.entries.count
            && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(entries.count)
        for entry in entries {
            hasher.combine(entry.key)
            hasher.combine(entry.value)
        }
    }
}

extension AMQPTable: ExpressibleByDictionaryLiteral {
    package init(dictionaryLiteral elements: (String, AMQPFieldValue)...) {
        self.entries = elements.map { (key: $0.0, value: $0.1) }
    }
}

extension AMQPTable: Sequence {
    package func makeIterator() -> IndexingIterator<[(key: String, value: AMQPFieldValue)]> {
        entries.makeIterator()
    }
}

extension AMQPTable: CustomStringConvertible {
    package var description: String {
        "{" + entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
    }
}
