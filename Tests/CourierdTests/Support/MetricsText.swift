import Foundation

/// The samples of a Prometheus text exposition (`/metrics`): enough of the format for tests —
/// one sample per line, `name{label="value",…} number`, comments skipped.
struct MetricsText {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    let samples: [Sample]

    init(_ text: String) {
        samples = text.split(separator: "\n").compactMap { Self.sample(String($0)) }
    }

    /// Every metric name with a sample; histogram series (`_bucket`, `_sum`, `_count`) under the
    /// histogram's own name as well.
    var names: Set<String> {
        var names = Set(samples.map(\.name))
        for name in names {
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
                names.insert(String(name.dropLast(suffix.count)))
            }
        }
        return names
    }

    /// The value of the one sample of `name` whose labels include `labels`; nil when there is none.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { sample in sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value } }?.value
    }

    func all(_ name: String) -> [Sample] { samples.filter { $0.name == name } }

    static func sample(_ line: String) -> Sample? {
        let line = line.trimmingCharacters(in: .whitespaces)
        guard !line.isEmpty, !line.hasPrefix("#"), let space = line.lastIndex(of: " "),
            let value = Double(line[line.index(after: space)...])
        else { return nil }
        let series = line[..<space].trimmingCharacters(in: .whitespaces)
        guard let brace = series.firstIndex(of: "{") else { return Sample(name: series, labels: [:], value: value) }
        var labels: [String: String] = [:]
        var rest = series[series.index(after: brace)...]
        while let equals = rest.firstIndex(of: "=") {
            let key = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: ", "))
            var cursor = rest.index(after: equals)
            guard cursor < rest.endIndex, rest[cursor] == "\"" else { break }
            cursor = rest.index(after: cursor)
            var text = ""
            while cursor < rest.endIndex, rest[cursor] != "\"" {
                if rest[cursor] == "\\", rest.index(after: cursor) < rest.endIndex {
                    cursor = rest.index(after: cursor)
                    text.append(rest[cursor] == "n" ? "\n" : rest[cursor])
                } else {
                    text.append(rest[cursor])
                }
                cursor = rest.index(after: cursor)
            }
            labels[key] = text
            rest = cursor < rest.endIndex ? rest[rest.index(after: cursor)...] : rest[rest.endIndex...]
        }
        return Sample(name: String(series[..<brace]), labels: labels, value: value)
    }
}
