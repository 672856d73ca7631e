/// The text form of one-dimensional Postgres arrays: `{"a","b c",NULL}`.
///
/// Encoding quotes every element and escapes `"` and `\`, so commas, braces, spaces, quotes and
/// the string `"NULL"` survive as data; only a `nil` element becomes an unquoted `NULL`. The
/// result works with casts such as `unnest($1::text[])`.
public enum PostgresArrayLiteral {
    /// `{"e1","e2",NULL}` for the given elements (`nil` is SQL NULL).
    ///
    /// Works on UTF-8 bytes: `"` and `\` are ASCII and never part of another character's bytes,
    /// so each one is escaped wherever it is (also when a combining mark follows it), and the rest
    /// is copied as it is — without walking the text character by character.
    public static func encode(_ elements: some Sequence<String?>) -> String {
        var literal: [UInt8] = [UInt8(ascii: "{")]
        literal.reserveCapacity(elements.underestimatedCount * 24 + 2)
        var first = true
        for element in elements {
            if !first { literal.append(UInt8(ascii: ",")) }
            first = false
            guard let element else {
                literal.append(contentsOf: "NULL".utf8)
                continue
            }
            literal.append(UInt8(ascii: "\""))
            for byte in element.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { literal.append(UInt8(ascii: "\\")) }
                literal.append(byte)
            }
            literal.append(UInt8(ascii: "\""))
        }
        literal.append(UInt8(ascii: "}"))
        return String(decoding: literal, as: UTF8.self)
    }

    /// The elements of a one-dimensional array literal as the server prints it; `nil` for NULL.
    ///
    /// Accepts quoted and unquoted elements, backslash escapes, whitespace around elements and the
    /// `[lower:upper]=` prefix of arrays whose lower bound is not 1.
    /// - Throws: ``PostgresValueError`` for malformed or multidimensional literals.
    public static func decode(_ literal: String) throws -> [String?] {
        var characters = Substring(literal)
        if characters.first == "[", let equals = characters.firstIndex(of: "=") {
            characters = characters[characters.index(after: equals)...]
        }
        guard characters.first == "{", characters.last == "}" else {
            throw PostgresValueError("an array literal must be enclosed in braces")
        }
        let body = characters.dropFirst().dropLast()
        if body.allSatisfy(\.isWhitespace) { return [] }

        var elements: [String?] = []
        var index = body.startIndex
        while true {
            while index < body.endIndex, body[index].isWhitespace { index = body.index(after: index) }
            guard index < body.endIndex else { throw PostgresValueError("an array element is missing") }
            var text = ""
            var quoted = false
            switch body[index] {
            case "{":
                throw PostgresValueError("multidimensional arrays are not supported")
            case "\"":
                quoted = true
                index = body.index(after: index)
                while true {
                    guard index < body.endIndex else { throw PostgresValueError("unterminated quoted array element") }
                    let character = body[index]
                    index = body.index(after: index)
                    if character == "\"" { break }
                    if character == "\\" {
                        guard index < body.endIndex else { throw PostgresValueError("dangling escape in array literal") }
                        text.append(body[index])
                        index = body.index(after: index)
                    } else {
                        text.append(character)
                    }
                }
            default:
                while index < body.endIndex, body[index] != "," {
                    if body[index] == "\\", body.index(after: index) < body.endIndex {
                        index = body.index(after: index)
                    } else if body[index] == "\"" || body[index] == "{" || body[index] == "}" {
                        throw PostgresValueError("unexpected \(body[index]) in array element")
                    }
                    text.append(body[index])
                    index = body.index(after: index)
                }
                text = text.trimmingWhitespace()
            }
            elements.append(!quoted && text.uppercased() == "NULL" ? nil : text)
            while index < body.endIndex, body[index].isWhitespace { index = body.index(after: index) }
            guard index < body.endIndex else { return elements }
            guard body[index] == "," else { throw PostgresValueError("expected , between array elements") }
            index = body.index(after: index)
        }
    }
}
