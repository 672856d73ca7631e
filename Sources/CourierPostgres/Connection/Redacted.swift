import Foundation

/// A value that must never be printed: its description, debug description and mirror are all
/// `<redacted>`, so neither `print`, string interpolation, `String(reflecting:)` nor `dump` can
/// leak it through the types that store it.
struct Redacted<Value: Sendable>: Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    let value: Value

    init(_ value: Value) { self.value = value }

    var description: String { "<redacted>" }
    var debugDescription: String { "<redacted>" }
    var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// Removes secrets from text that may quote them, such as libpq's error messages.
///
/// libpq's messages do not normally contain the password, but its connection-string parser
/// quotes the offending token of a malformed string, and that token may be the password. This is
/// the last line of defence: every error and log message built from libpq text goes through it.
enum SecretScrubber {
    static let mask = "********"

    /// `text` with every occurrence of each secret (longest first) replaced by ``mask``.
    static func scrub(_ text: String, secrets: [String]) -> String {
        var result = text
        for secret in Set(secrets).filter({ !$0.isEmpty }).sorted(by: { $0.count > $1.count }) {
            result = result.replacing(secret, with: mask)
        }
        return result
    }

    /// The password-like parts of a connection string, found leniently so that this works even on
    /// strings libpq refuses to parse: the password of a URL's user info, a `password=` URL query
    /// parameter, and a `password = value` conninfo pair. Both raw and decoded forms are returned.
    static func passwordCandidates(in conninfo: String) -> [String] {
        var candidates: [String] = []
        func add(_ raw: Substring) {
            candidates.append(String(raw))
            if let decoded = String(raw).removingPercentEncoding { candidates.append(decoded) }
        }
        if let schemeEnd = conninfo.range(of: "://") {
            let rest = conninfo[schemeEnd.upperBound...]
            if let at = rest.lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") {
                add(rest[rest.index(after: colon)..<at])
            }
            if let query = rest.firstIndex(of: "?") {
                for pair in rest[rest.index(after: query)...].split(separator: "&") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    if parts.count == 2, parts[0].lowercased() == "password" { add(parts[1]) }
                }
            }
        } else {
            candidates += conninfoPasswords(in: conninfo)
        }
        return candidates
    }

    /// Values of `password` pairs in a `key = value` string, quoted (`'...'`, with `\` escapes)
    /// or bare; both the raw and unescaped forms of quoted values.
    private static func conninfoPasswords(in conninfo: String) -> [String] {
        var results: [String] = []
        var rest = Substring(conninfo)
        while let keyword = rest.range(of: "password") {
            var index = keyword.upperBound
            rest = rest[index...]
            while index < rest.endIndex, rest[index].isWhitespace { index = rest.index(after: index) }
            guard index < rest.endIndex, rest[index] == "=" else { continue }
            index = rest.index(after: index)
            while index < rest.endIndex, rest[index].isWhitespace { index = rest.index(after: index) }
            guard index < rest.endIndex else { break }
            if rest[index] == "'" {
                var raw = "", unescaped = ""
                var cursor = rest.index(after: index)
                while cursor < rest.endIndex, rest[cursor] != "'" {
                    if rest[cursor] == "\\", rest.index(after: cursor) < rest.endIndex {
                        raw.append(rest[cursor])
                        cursor = rest.index(after: cursor)
                    }
                    raw.append(rest[cursor])
                    unescaped.append(rest[cursor])
                    cursor = rest.index(after: cursor)
                }
                results += [raw, unescaped]
                rest = rest[cursor...]
            } else {
                let end = rest[index...].firstIndex(where: \.isWhitespace) ?? rest.endIndex
                results.append(String(rest[index..<end]))
                rest = rest[end...]
            }
        }
        return results
    }
}
