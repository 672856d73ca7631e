import CourierPostgres
import CourierTesting
import Foundation
import Logging

/// Helpers shared by the integration tests. Every test uses names of its own
/// (`TestEnvironment.uniqueName`): the suites run in parallel in one database.
enum PostgresTestSupport {
    /// This run's database; throws (failing the test) when `COURIER_TEST_DATABASE_URL` is missing.
    static func configuration() throws -> PostgresConfiguration {
        var configuration = try PostgresConfiguration(url: try TestEnvironment.databaseURL())
        configuration.applicationName = "courier-postgres-tests"
        return configuration
    }

    static func connect() async throws -> PostgresConnection {
        try await PostgresConnection.connect(try configuration(), logger: logger)
    }

    static let logger = Logger(label: "courier.postgres.tests")
}

extension PostgresConnection {
    /// The single value of a one-row, one-column query.
    func scalar<T: PostgresDecodable>(
        _ type: T.Type, _ sql: String, _ bindings: [any PostgresEncodable] = []
    ) throws -> T {
        let rows = try query(sql, bindings)
        guard rows.count == 1 else {
            throw PostgresError(code: .queryFailed, message: "expected one row, got \(rows.count)", query: sql)
        }
        return try rows[0].decode(T.self, column: 0)
    }
}
