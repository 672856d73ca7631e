import CourierConcurrency
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

private actor Counter {
    let executor: ThreadExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    var value = 0
    var threads = Set<UInt>()

    init(executor: ThreadExecutor) { self.executor = executor }

    func increment() {
        value += 1
        threads.insert(UInt(pthread_self()))
    }

    nonisolated func incrementFast() {
        executor.execute { [self] in
            self.assumeIsolated { $0.increment() }
        }
    }
}

/// An I/O source over a pipe: counts the bytes that arrive while the executor sleeps.
private final class PipeSource: ThreadExecutorIOSource, @unchecked Sendable {
    let readFD: Int32
    let received = Atomic<Int>(0)
    init(readFD: Int32) { self.readFD = readFD }

    func service(socketReady: Bool) -> ThreadExecutor.Wait {
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let n = read(readFD, &buffer, buffer.count)
            if n <= 0 { break }
            received.add(n, ordering: .relaxed)
        }
        return ThreadExecutor.Wait(fileDescriptor: readFD, timeoutMilliseconds: -1)
    }
}

@Suite("ThreadExecutor")
struct ThreadExecutorTests {
    @Test("an actor's isolated work runs serially on the one dedicated thread")
    func actorRunsOnDedicatedThread() async throws {
        let counter = Counter(executor: ThreadExecutor(name: "test-counter"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { for _ in 0..<500 { await counter.increment() } }
            }
            try await group.waitForAll()
        }
        #expect(await counter.value == 4000)
        let threads = await counter.threads
        #expect(threads.count == 1)
        #expect(threads.first != UInt(pthread_self()))
    }

    @Test("closures submitted with execute may assume the actor's isolation and keep their order")
    func executeAssumesIsolation() async throws {
        let counter = Counter(executor: ThreadExecutor(name: "test-fast"))
        for _ in 0..<1000 { counter.incrementFast() }
        await counter.increment()  // runs after the 1000 closures: the queue is FIFO
        #expect(await counter.value == 1001)
    }

    @Test("an I/O source is serviced when its descriptor becomes readable while the thread sleeps")
    func ioSourceWakesOnInput() async throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        defer { close(fds[0]); close(fds[1]) }
        let executor = ThreadExecutor(name: "test-io")
        let source = PipeSource(readFD: fds[0])
        executor.setIOSource(source)
        try await Task.sleep(for: .milliseconds(50))  // the thread is now asleep in poll
        _ = write(fds[1], "hello", 5)
        // Budgets that only turn a wake-up that never comes into a failure (generous: a busy
        // machine can leave a ready thread unscheduled for seconds).
        let deadline = ContinuousClock.now + .seconds(180)
        while source.received.load(ordering: .relaxed) < 5, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(source.received.load(ordering: .relaxed) == 5)
        executor.shutdown()
        let stopDeadline = ContinuousClock.now + .seconds(180)
        while !executor.isFinished, ContinuousClock.now < stopDeadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(executor.isFinished)
    }
}
