/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns its last answer.
/// For tests that wait on something another thread or process does (no fixed sleeps).
public func eventually(
    _ timeout: Duration = .seconds(10), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
