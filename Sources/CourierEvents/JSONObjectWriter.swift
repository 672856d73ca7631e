#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Appends the members of one flat JSON object to a byte buffer.
struct JSONObjectWriter {
    private var bytes: [UInt8] = [0x7B]  // {

    init() {
        bytes.reserveCapacity(320)
    }

    mutating func string(_ key: String, _ value: String) {
        writeKey(key)
        Self.writeString(value, into: &bytes)
    }

    mutating func date(_ key: String, _ value: Date) {
        writeKey(key)
        bytes.append(Ascii.quote)
        EventTimestamp.write(microseconds: EventTimestamp.microseconds(of: value), into: &bytes)
        bytes.append(Ascii.quote)
    }

    mutating func finish() -> [UInt8] {
        bytes.append(Ascii.closeBrace)
        return bytes
    }

    private mutating func writeKey(_ key: String) {
        if bytes.count > 1 { bytes.append(Ascii.comma) }
        Self.writeString(key, into: &bytes)
        bytes.append(Ascii.colon)
    }

    /// A JSON string literal: `"` and `\` escaped, control characters as `\n`, `\r`, `\t`, `\b`,
    /// `\f` or `\u00XX`; everything else as its UTF-8 bytes (a Swift `String` is valid Unicode).
    static func writeString(_ value: String, into out: inout [UInt8]) {
        out.append(Ascii.quote)
        for byte in value.utf8 {
            switch byte {
            case Ascii.quote: out.append(Ascii.backslash); out.append(Ascii.quote)
            case Ascii.backslash: out.append(Ascii.backslash); out.append(Ascii.backslash)
            case Ascii.lineFeed: out.append(Ascii.backslash); out.append(Ascii.n)
            case Ascii.carriageReturn: out.append(Ascii.backslash); out.append(Ascii.r)
            case Ascii.tab: out.append(Ascii.backslash); out.append(Ascii.t)
            case 0x08: out.append(Ascii.backslash); out.append(Ascii.b)
            case 0x0C: out.append(Ascii.backslash); out.append(Ascii.f)
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [Ascii.backslash, Ascii.u, Ascii.zero, Ascii.zero])
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(Ascii.quote)
    }
}
