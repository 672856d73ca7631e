import CourierTesting
import Foundation
import Synchronization
import Testing

@testable import CourierAMQP

/// A task that is cancelled — before it starts waiting, or while it waits — never hangs on a
/// connection: supervisors cancel their engines at any moment (a shutdown just after a reconnect).
@Suite("Cancelling waits on a connection", .tags(.integration))
struct CancellationTests {
    @Test("waitUntilClosed in a task cancelled before, at or during the wait returns, 120 times in a row")
    func waitUntilClosedEndsOnCancel() async throws {
        let connection = try await AMQPConnection.connect(url: try TestEnvironment.amqpURL())
        for round in 0..<120 {
            let task = Task { await connection.waitUntilClosed() }
            if round % 3 == 0 { task.cancel() }  // probably before the wait starts
            if round % 3 == 1 { await Task.yield(); task.cancel() }
            if round % 3 == 2 { try await Task.sleep(for: .milliseconds(1)); task.cancel() }
            let ended = await eventually { task.isCancelled }
            #expect(ended)
            let returned = Mutex(false)
            let watcher = Task {
                _ = await task.value
                returned.withLock { $0 = true }
            }
            let done = await eventually { returned.withLock { $0 } }
            #expect(done, "round \(round): the wait did not end after its task was cancelled")
            guard done else {
                watcher.cancel()
                await connection.close()
                return
            }
        }
        #expect(await connection.isOpen)
        await connection.close()
    }

    @Test("a task group whose child waits for the close ends when the group is cancelled at once, 120 times")
    func groupCancelledAtOnce() async throws {
        let connection = try await AMQPConnection.connect(url: try TestEnvironment.amqpURL())
        for round in 0..<120 {
            let done = Mutex(false)
            let task = Task {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { _ = await connection.waitUntilClosed() }
                    group.addTask {}
                    await group.next()
                    group.cancelAll()
                }
                done.withLock { $0 = true }
            }
            if round % 2 == 0 { task.cancel() }
            let ended = await eventually { done.withLock { $0 } }
            #expect(ended, "round \(round)")
            guard ended else { return }
        }
        await connection.close()
    }
}
