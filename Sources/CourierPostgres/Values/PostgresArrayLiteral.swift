/// The text form of one-dimensional Postgres arrays: `{"a","b c",NULL}`.
///
/// Encoding quotes every element and escapes `"` and `\`, so commas, braces, spaces, quotes and
/// the string `"NULL"` survive as data; only a `nil` element becomes an unquoted `NULL`. The
/// result works with casts such as `unnest($1::text[])`.
public enum PostgresArrayLiteral {
    /// `{"e1","e2",NULL}` for the given elements (`nil` is SQL NULL).
    public static func encode(_ elements: some Sequence<String?>) -> String {
        var literal = "{"
        var first = true
        for element in elements {
            if !first { literal.append(",") }
            first = false
            guard let element else {
                literal.append("NULL")
                continue
            }
            literal.append("\"")
            for character in element {
                if character == "\"" || character == "\\" { literal.append("\\") }
                literal.append(character)
            }
            literal.append("\"")
        }
        literal.append("}")
        return literal
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
