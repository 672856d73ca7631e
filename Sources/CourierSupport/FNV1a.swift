/// 64-bit FNV-1a of a text's UTF-8 bytes, as 16 lower-case hex digits: stable across processes,
/// platforms and Swift versions (unlike `Hasher`). Migration checksums and failure fingerprints
/// are written with it, so its output must never change.
package enum FNV1a {
    package static func hex64(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
