/// The checksum recorded for each applied migration: 64-bit FNV-1a of the SQL's UTF-8 bytes, as
/// 16 lowercase hex digits. Stable across processes, platforms and Swift versions (unlike
/// `Hasher`), and enough to notice that an applied migration's file was edited.
enum MigrationChecksum {
    static func of(_ sql: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
