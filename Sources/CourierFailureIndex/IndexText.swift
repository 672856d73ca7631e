/// Text as the failure index can store it, whatever a publisher put in it. Pure.
///
/// A Postgres `text` value cannot hold NUL (libpq refuses the parameter), a `jsonb` string
/// cannot either (`\u0000` is rejected), and a btree index entry holds a few kilobytes at most
/// (SQLSTATE 54000). Every text the index writes goes through ``safe(_:maxBytes:)``, so a
/// parking is recorded whatever its values: the operator sees NUL as the six characters
/// `\u0000` and a long value cut with a marker saying how much is missing. The message itself,
/// in the queue, is never changed — this is only how the index shows it.
///
/// Swift strings are always valid Unicode: invalid UTF-8 from the wire never reaches here as
/// text. AMQP long strings that are not UTF-8 are decoded as bytes and stored as
/// `{"$bytes": base64}` (``FieldJSON``), losslessly.
package enum IndexText {
    /// The default bound of a text column: far above what any of Courier's own values need
    /// (error messages are cut at 1 KiB by the engine), small enough to keep a row cheap.
    package static let maximumBytes = 8 * 1024
    /// The bound of the text columns that are part of an index (failure id, dead-letter queue,
    /// fingerprint): well under the ~2.7 KB a btree entry can hold.
    package static let maximumKeyBytes = 1024
    /// What a NUL becomes.
    package static let nulEscape = "\\u0000"

    /// `text` with each NUL written as `\u0000`, then — when longer than `maxBytes` bytes of
    /// UTF-8 — cut on a Unicode scalar boundary and marked `…[truncated N bytes]` (N: the bytes
    /// of the escaped text left out). The result is at most `maxBytes` bytes (at least 64).
    package static func safe(_ text: String, maxBytes: Int = maximumBytes) -> String {
        var escaped = text
        if text.utf8.contains(0) { escaped = text.replacingOccurrences(of: "\u{0}", with: nulEscape) }
        let total = escaped.utf8.count
        let bound = max(maxBytes, 64)
        guard total > bound else { return escaped }
        // Room for the longest marker: "…[truncated 9223372036854775807 bytes]" is 41 bytes.
        let utf8 = escaped.utf8
        var end = utf8.index(utf8.startIndex, offsetBy: bound - 48)
        while end > utf8.startIndex, UTF8.isContinuation(utf8[end]) { end = utf8.index(before: end) }
        let kept = String(decoding: utf8[..<end], as: UTF8.self)  // `end` starts a scalar: nothing replaced
        return kept + "…[truncated \(total - kept.utf8.count) bytes]"
    }

    package static func safe(_ text: String?, maxBytes: Int = maximumBytes) -> String? {
        text.map { safe($0, maxBytes: maxBytes) }
    }
}
