import CourierEngine
import CourierPostgres

/// Thrown by a handler that can never apply an event as it is (it breaks a rule of the domain):
/// the event is dead-lettered at once instead of retried.
public struct HandlerRejection: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What a failed handler transaction means for the events in it — a pure function of the
/// error, so the mapping is unit-tested without a database.
///
/// | error | outcome |
/// |---|---|
/// | connection failed or lost; SQLSTATE 08… (connection), 57P01–57P03 (shutdown, cannot connect now) | dependency unavailable: requeue and pause, no retry spent |
/// | SQLSTATE 22… (data exception), 23… (integrity violation); ``HandlerRejection`` | permanent: dead-letter |
/// | anything else (40001 serialization, 40P01 deadlock, 53… resources, 42… a schema not migrated yet, …) | transient: retry later |
public enum FailureClassification {
    public static let postgresDependency = "postgres"

    public static func outcome(for error: any Error, handler: String) -> HandlingOutcome {
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
        switch error.sqlState?.prefix(2) {
        case "22", "23": return .permanentFailure(failure)
        default: return .transientFailure(failure)
        }
    }

    /// Postgres itself is unreachable (for every message, not because of this one).
    public static func isConnectionFailure(_ error: PostgresError) -> Bool {
        if error.code == .connectionFailed || error.code == .connectionClosed { return true }
        guard let state = error.sqlState else { return false }
        return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
    }
}
