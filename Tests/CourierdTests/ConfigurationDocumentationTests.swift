import Foundation
import Testing

/// config/README.md is the one table of courierd's settings: it must name every key the
/// configuration reads, and no key it does not.
@Suite("The configuration's documentation")
struct ConfigurationDocumentationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func matches(_ pattern: String, in text: String) throws -> Set<String> {
        let regex = try NSRegularExpression(pattern: pattern)
        return Set(
            regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
                Range($0.range(at: 1), in: text).map { String(text[$0]) }
            })
    }

    @Test("config/README.md lists exactly the keys CourierConfiguration reads, each with its environment name")
    func tableMatchesCode() throws {
        let source = try String(contentsOf: Self.root.appending(path: "Sources/CourierConfig/CourierConfiguration.swift"), encoding: .utf8)
        let readme = try String(contentsOf: Self.root.appending(path: "config/README.md"), encoding: .utf8)
        let read = try Self.matches(#"\b(?:values\.\w+|duration)\("([a-z][a-z0-9]*(?:\.[a-z0-9]+)+)""#, in: source)
        #expect(read.count >= 25, "the pattern finds the keys: \(read.sorted())")
        let documented = try Self.matches(#"(?m)^\| `([a-z][a-z0-9]*(?:\.[a-z0-9]+)+)` \|"#, in: readme)
        #expect(read.subtracting(documented).isEmpty, "read but not documented: \(read.subtracting(documented).sorted())")
        #expect(documented.subtracting(read).isEmpty, "documented but never read: \(documented.subtracting(read).sorted())")
        for key in read {
            let environment = key.uppercased().replacingOccurrences(of: ".", with: "_")
            #expect(readme.contains("| `\(key)` | `\(environment)` |"), "\(key) is documented with \(environment)")
        }
    }
}
