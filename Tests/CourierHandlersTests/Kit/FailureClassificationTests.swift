import CourierEngine
import CourierPostgres
import Testing

@testable import CourierHandlers

@Suite("Failure classification")
struct FailureClassificationTests {
    static func postgres(_ code: PostgresError.Code, _ state: String?) -> PostgresError {
        PostgresError(code: code, message: "boom", sqlState: state)
    }

    @Test(
        "Postgres errors: unreachable pauses, bad data dead-letters, the rest retries",
        arguments: [
            (postgres(.connectionFailed, nil), "dependency"),
            (postgres(.connectionClosed, nil), "dependency"),
            (postgres(.queryFailed, "08006"), "dependency"),
            (postgres(.queryFailed, "57P01"), "dependency"),
            (postgres(.queryFailed, "57P03"), "dependency"),
            (postgres(.queryFailed, "23505"), "permanent"),
            (postgres(.queryFailed, "22P02"), "permanent"),
            (postgres(.queryFailed, "40001"), "transient"),
            (postgres(.queryFailed, "40P01"), "transient"),
            (postgres(.queryFailed, "42P01"), "transient"),
            (postgres(.queryFailed, "53300"), "transient"),
            (postgres(.transactionFailed, nil), "transient"),
        ])
    func postgresErrors(error: PostgresError, expected: String) {
        #expect(Self.kind(FailureClassification.outcome(for: error, handler: "feeds")) == expected)
    }

    @Test("the failure names the handler and the SQLSTATE")
    func failureNames() {
        let outcome = FailureClassification.outcome(for: Self.postgres(.queryFailed, "23505"), handler: "feeds")
        #expect(outcome == .permanentFailure(HandlingFailure(errorClass: "PostgresError.queryFailed.23505", message: "boom", handler: "feeds")))
    }

    @Test("a handler's rejection is permanent; an unknown error is transient")
    func otherErrors() {
        struct Odd: Error {}
        #expect(Self.kind(FailureClassification.outcome(for: HandlerRejection("no"), handler: "h")) == "permanent")
        #expect(Self.kind(FailureClassification.outcome(for: Odd(), handler: "h")) == "transient")
    }

    @Test("of two handlers' outcomes the graver decides")
    func worse() {
        let transient = HandlingOutcome.transientFailure(HandlingFailure(errorClass: "t", message: ""))
        let permanent = HandlingOutcome.permanentFailure(HandlingFailure(errorClass: "p", message: ""))
        let down = HandlingOutcome.dependencyUnavailable(dependency: "postgres")
        #expect(EventHandlerRunner.worse(.handled, transient) == transient)
        #expect(EventHandlerRunner.worse(transient, .handled) == transient)
        #expect(EventHandlerRunner.worse(transient, permanent) == permanent)
        #expect(EventHandlerRunner.worse(permanent, transient) == permanent)
        #expect(EventHandlerRunner.worse(permanent, down) == down)
        #expect(EventHandlerRunner.worse(.handled, .handled) == .handled)
    }

    static func kind(_ outcome: HandlingOutcome) -> String {
        switch outcome {
        case .handled: "handled"
        case .transientFailure: "transient"
        case .permanentFailure: "permanent"
        case .dependencyUnavailable: "dependency"
        }
    }
}
