/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns its last answer.
/// For tests that wait on something another thread or process does (no fixed sleeps).
///
/// The budget is only there so that an event that never comes fails the test instead of
/// hanging it: a passing wait returns as soon as the condition holds, so the budget costs
/// nothing and is generous on purpose. The suite must pass on a machine whose cores are busy
/// with other work (`stress-ng --cpu 2`, load average ~8), where a reconnect or a broker-side
/// close that takes 100 ms when idle has taken over 10 s, and a first connect of a supervisor
/// with the whole suite running in parallel over 60 s. Do not pass a shorter budget to
/// assert that something is quick; assert what caused it instead.
package func eventually(
    _ timeout: Duration = .seconds(180), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
