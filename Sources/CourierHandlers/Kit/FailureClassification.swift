import CourierEngine
import CourierPostgres

/// Thrown by a handler that can never apply an event as it is (it breaks a rule of the domain):
/// the event is dead-lettered at once instead of retried.
package struct HandlerRejection: Error, Sendable, CustomStringConvertible {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// What a failed handler transaction means for the events in it — a pure function of the
/// error (and of a ``Policy``), so the mapping is unit-tested without a database.
///
/// The question is whether retrying can help. A lost connection is nobody's fault (pause); an
/// error the same input will always cause is the event's (park it at once, instead of after the
/// whole retry schedule); anything else may pass on a later try (retry).
///
/// | error | outcome |
/// |---|---|
/// | connection failed or lost; SQLSTATE 08… (connection), 57P01–57P03 (shutdown, cannot connect now) — whatever the policy | dependency unavailable: requeue and pause, no retry spent |
/// | ``HandlerRejection`` | permanent: dead-letter |
/// | `PostgresError.encodingFailed`: a parameter that cannot be sent (NUL in text), found before anything reaches the server | permanent |
/// | a SQLSTATE the ``Policy`` lists (by default 22… data exception, 23… integrity violation, 54… program limit exceeded, 42601 syntax error, 42804 datatype mismatch, 42883 undefined function) | permanent |
/// | anything else (40001 serialization, 40P01 deadlock, 53… resources, 42P01/42703 undefined table/column — a schema not migrated yet, 42501 insufficient privilege — a grant to fix, …) | transient: retry later |
package enum FailureClassification {
    package static let postgresDependency = "postgres"

    /// Which server errors are permanent: SQLSTATE classes (2 characters, `22`) or codes
    /// (5 characters, `42601`). Everything not listed is transient (connection errors are
    /// always "dependency unavailable", listed or not).
    ///
    /// | entry | default | why |
    /// |---|---|---|
    /// | `22` data exception | permanent | a value the column cannot hold (22001 too long, 22003 out of range, 22021 bad encoding, 22P02 bad syntax) |
    /// | `23` integrity constraint violation | permanent | the same rows violate the same constraint again |
    /// | `54` program limit exceeded | permanent | 54000 index row too large, 54001 statement too complex: the input is too big |
    /// | `42601` syntax error, `42804` datatype mismatch, `42883` undefined function | permanent | the statement cannot run as written |
    /// | `42P01` undefined table, `42703` undefined column | transient | a schema not migrated yet: retries pass once it is |
    /// | `42501` insufficient privilege | transient | an operator fixes a grant |
    ///
    /// courierd reads the list from `courier.permanent.sqlstates` (`COURIER_PERMANENT_SQLSTATES`),
    /// which replaces the default.
    package struct Policy: Sendable, Hashable {
        /// The permanent classes (2 characters) and codes (5 characters), upper case.
        package var permanentSQLStates: Set<String>

        /// Entries that are not 2 or 5 characters are ignored; letters are upper-cased.
        package init(permanentSQLStates: some Sequence<String>) {
            self.permanentSQLStates = Set(permanentSQLStates.map { $0.uppercased() }.filter { $0.count == 2 || $0.count == 5 })
        }

        /// The default: see the table above.
        package static let standard = Policy(permanentSQLStates: standardPermanentSQLStates)
        /// The entries of ``standard``.
        package static let standardPermanentSQLStates = ["22", "23", "54", "42601", "42804", "42883"]

        /// Whether a server error of this SQLSTATE is permanent: its code or its class is listed.
        package func isPermanent(sqlState: String) -> Bool {
            permanentSQLStates.contains(sqlState) || permanentSQLStates.contains(String(sqlState.prefix(2)))
        }
    }

    package static func outcome(for error: any Error, handler: String, policy: Policy = .standard) -> HandlingOutcome {
        if let rejection = error as? HandlerRejection {
            return .permanentFailure(HandlingFailure(errorClass: "HandlerRejection", message: rejection.message, handler: handler))
        }
        guard let error = error as? PostgresError else {
            return .transientFailure(HandlingFailure(errorClass: String(describing: type(of: error)), message: "\(error)", handler: handler))
        }
        if isConnectionFailure(error) { return .dependencyUnavailable(dependency: postgresDependency) }
        let failure = HandlingFailure(
            errorClass: "PostgresError." + (error.sqlState.map { "\(error.code).\($0)" } ?? "\(error.code)"),
            message: error.message, handler: handler)
        if error.code == .encodingFailed { return .permanentFailure(failure) }
        if let state = error.sqlState, policy.isPermanent(sqlState: state) { return .permanentFailure(failure) }
        return .transientFailure(failure)
    }

    /// Postgres itself is unreachable (for every message, not because of this one).
    package static func isConnectionFailure(_ error: PostgresError) -> Bool {
        if error.code == .connectionFailed || error.code == .connectionClosed { return true }
        guard let state = error.sqlState else { return false }
        return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
    }
}
