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
            (postgres(.queryFailed, "08P01"), "dependency"),
            (postgres(.queryFailed, "57P02"), "dependency"),
            (postgres(.queryFailed, "23505"), "permanent"),
            (postgres(.queryFailed, "23503"), "permanent"),
            (postgres(.queryFailed, "22P02"), "permanent"),
            (postgres(.queryFailed, "22001"), "permanent"),
            (postgres(.queryFailed, "22003"), "permanent"),
            (postgres(.queryFailed, "22021"), "permanent"),
            (postgres(.queryFailed, "54000"), "permanent"),
            (postgres(.queryFailed, "54001"), "permanent"),
            (postgres(.queryFailed, "42601"), "permanent"),
            (postgres(.queryFailed, "42804"), "permanent"),
            (postgres(.queryFailed, "42883"), "permanent"),
            (postgres(.encodingFailed, nil), "permanent"),
            (postgres(.queryFailed, "42P01"), "transient"),
            (postgres(.queryFailed, "42703"), "transient"),
            (postgres(.queryFailed, "42501"), "transient"),
            (postgres(.queryFailed, "40001"), "transient"),
            (postgres(.queryFailed, "40P01"), "transient"),
            (postgres(.queryFailed, "53300"), "transient"),
            (postgres(.queryFailed, "57014"), "transient"),
            (postgres(.queryFailed, "XX000"), "transient"),
            (postgres(.decodingFailed, nil), "transient"),
            (postgres(.transactionFailed, nil), "transient"),
        ])
    func postgresErrors(error: PostgresError, expected: String) {
        #expect(Self.kind(FailureClassification.outcome(for: error, handler: "feeds")) == expected)
    }

    @Test("a policy replaces the permanent list: codes and classes, any case; connection errors stay dependency-unavailable")
    func policy() {
        let policy = FailureClassification.Policy(permanentSQLStates: ["42p01", "40", "08", "bad", ""])
        #expect(policy.permanentSQLStates == ["42P01", "40", "08"], "upper-cased; not 2 or 5 characters: ignored")
        func kind(_ error: PostgresError) -> String { Self.kind(FailureClassification.outcome(for: error, handler: "h", policy: policy)) }
        #expect(kind(Self.postgres(.queryFailed, "42P01")) == "permanent")
        #expect(kind(Self.postgres(.queryFailed, "42703")) == "transient", "a code, not its class")
        #expect(kind(Self.postgres(.queryFailed, "40001")) == "permanent", "a class covers its codes")
        #expect(kind(Self.postgres(.queryFailed, "23505")) == "transient", "the default is replaced, not extended")
        #expect(kind(Self.postgres(.queryFailed, "08006")) == "dependency", "listed or not")
        #expect(kind(Self.postgres(.encodingFailed, nil)) == "permanent", "client-side, whatever the policy")
        #expect(FailureClassification.Policy.standard.permanentSQLStates == ["22", "23", "54", "42601", "42804", "42883"])
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
