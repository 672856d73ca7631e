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

    /// Waits until `condition` holds or `timeout` passes; returns whether it held.
    static func eventually(
        timeout: Duration = .seconds(5), _ condition: () async throws -> Bool
    ) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return try await condition()
    }
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
