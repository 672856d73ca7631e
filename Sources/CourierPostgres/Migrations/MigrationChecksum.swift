import CourierSupport

/// The checksum recorded for each applied migration: 64-bit FNV-1a of the SQL's UTF-8 bytes, as
/// 16 lowercase hex digits. Stable across processes, platforms and Swift versions (unlike
/// `Hasher`), and enough to notice that an applied migration's file was edited.
enum MigrationChecksum {
    static func of(_ sql: String) -> String { FNV1a.hex64(sql) }
}
