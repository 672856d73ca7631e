import Foundation

/// One schema change, applied once by ``PostgresMigrator``.
///
/// Migrations usually live in a directory as `NNNN_name.sql` files (`0001_create_events.sql`,
/// `0002_add_dedupe_index.sql`...): the number is the version, applied in numeric order.
/// Never edit a migration once it has been applied anywhere: the migrator records each one's
/// ``checksum`` and refuses to run when an applied migration's SQL changed.
public struct PostgresMigration: Sendable, Hashable {
    /// The version: positive, unique, and the order of application.
    public var version: Int
    /// A short descriptive name, e.g. `create_events`.
    public var name: String
    /// The SQL to run; may hold several statements.
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// The stable checksum of ``sql`` recorded when the migration is applied.
    public var checksum: String { MigrationChecksum.of(sql) }

    /// Reads every `*.sql` file of `directory` as a migration and returns them ordered and
    /// validated (see ``ordered(_:)``). Files not ending in `.sql` (a README...) are ignored.
    /// - Throws: ``PostgresError/Code/invalidMigration`` for a badly named file or invalid versions;
    ///   file system errors as they are.
    public static func load(fromDirectory directory: URL) throws -> [PostgresMigration] {
        let fileNames = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        let files = try fileNames.filter { $0.hasSuffix(".sql") }.map { fileName in
            (fileName: fileName, sql: try String(contentsOf: directory.appendingPathComponent(fileName), encoding: .utf8))
        }
        return try migrations(fromFiles: files)
    }

    /// Migrations from `(file name, SQL)` pairs, ordered and validated: the I/O-free part of
    /// ``load(fromDirectory:)``.
    /// - Throws: ``PostgresError/Code/invalidMigration`` naming the offending file or version.
    public static func migrations(fromFiles files: [(fileName: String, sql: String)]) throws -> [PostgresMigration] {
        try ordered(files.map { file in
            let (version, name) = try parseFileName(file.fileName)
            return PostgresMigration(version: version, name: name, sql: file.sql)
        })
    }

    /// The version and name of a `NNNN_name.sql` file: one or more digits, an underscore, a name
    /// of letters, digits, `_` and `-`, and `.sql`.
    /// - Throws: ``PostgresError/Code/invalidMigration`` if the name does not have that form or the
    ///   version is not positive.
    public static func parseFileName(_ fileName: String) throws -> (version: Int, name: String) {
        func invalid(_ reason: String) -> PostgresError {
            PostgresError(
                code: .invalidMigration,
                message: "bad migration file name '\(fileName)': \(reason); expected NNNN_name.sql, e.g. 0001_create_events.sql")
        }
        guard fileName.hasSuffix(".sql") else { throw invalid("it does not end in .sql") }
        let stem = fileName.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_") else { throw invalid("there is no _ after the version") }
        let digits = stem[..<underscore]
        let name = stem[stem.index(after: underscore)...]
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else {
            throw invalid("the version is not a number")
        }
        guard let version = Int(digits) else { throw invalid("the version is too large") }
        guard version > 0 else { throw invalid("the version must be positive") }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        guard !name.isEmpty, name.allSatisfy(allowed.contains) else {
            throw invalid("the name must be letters, digits, _ or -")
        }
        return (version, String(name))
    }

    /// `migrations` sorted by version, after checking that versions are positive and unique.
    /// - Throws: ``PostgresError/Code/invalidMigration`` naming the offending versions.
    public static func ordered(_ migrations: [PostgresMigration]) throws -> [PostgresMigration] {
        if let bad = migrations.first(where: { $0.version <= 0 }) {
            throw PostgresError(
                code: .invalidMigration,
                message: "migration '\(bad.name)' has version \(bad.version); versions must be positive")
        }
        let sorted = migrations.sorted { $0.version < $1.version }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.version == next.version {
            throw PostgresError(
                code: .invalidMigration,
                message: "duplicate migration version \(next.version): '\(previous.name)' and '\(next.name)'")
        }
        return sorted
    }
}
