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

    /// Claims the actor's isolation synchronously, as `IOPump` does for a connection.
    nonisolated func incrementAssumingIsolation() {
        assumeIsolated { $0.increment() }
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

/// What the closures of a test did, readable from the test's task.
private final class Log: Sendable {
    let entries = Mutex<[Int]>([])
    func append(_ entry: Int) { entries.withLock { $0.append(entry) } }
    var all: [Int] { entries.withLock { $0 } }
}

/// Holds the executor's thread in a job until the test opens it, so that work piles up behind it.
private final class Gate: Sendable {
    private let isOpen = Atomic<Bool>(false)
    func open() { isOpen.store(true, ordering: .releasing) }
    func wait() {
        while !isOpen.load(ordering: .acquiring) { usleep(1_000) }
    }
}

/// Waits (generously: a busy machine can leave a ready thread unscheduled for seconds) until the
/// executor's thread has exited.
private func waitUntilFinished(_ executor: ThreadExecutor) async throws {
    let deadline = ContinuousClock.now + .seconds(180)
    while !executor.isFinished, ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(5))
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

    @Test("shutdown with work queued: every job queued before it runs, in order, then the thread exits")
    func shutdownRunsQueuedWork() async throws {
        let executor = ThreadExecutor(name: "test-drain")
        let gate = Gate()
        let log = Log()
        executor.execute {
            gate.wait()  // the thread is busy here while the rest is queued and shutdown is asked
            log.append(0)
        }
        for index in 1...1000 { executor.execute { log.append(index) } }
        executor.shutdown()
        #expect(!executor.isFinished)
        gate.open()
        try await waitUntilFinished(executor)
        #expect(executor.isFinished)
        #expect(log.all == Array(0...1000))
    }

    @Test("work a job queues while the executor shuts down still runs")
    func workQueuedDuringShutdownRuns() async throws {
        let executor = ThreadExecutor(name: "test-chain")
        let gate = Gate()
        let log = Log()
        executor.execute {
            gate.wait()
            log.append(1)
            // Queued from the thread itself, after shutdown was asked: the thread only exits
            // after a pass that ran nothing, so this runs too.
            executor.execute {
                log.append(2)
                executor.execute { log.append(3) }
            }
        }
        executor.shutdown()
        gate.open()
        try await waitUntilFinished(executor)
        #expect(executor.isFinished)
        #expect(log.all == [1, 2, 3])
    }

    @Test("work submitted after the thread exited never runs, and submitting it neither blocks nor crashes")
    func workAfterShutdownIsDropped() async throws {
        let executor = ThreadExecutor(name: "test-late")
        executor.shutdown()
        try await waitUntilFinished(executor)
        #expect(executor.isFinished)
        let log = Log()
        for index in 0..<1000 { executor.execute { log.append(index) } }
        executor.requestService()
        executor.setIOSource(nil)
        executor.shutdown()  // a second shutdown is harmless
        try await Task.sleep(for: .milliseconds(100))
        #expect(log.all.isEmpty)
    }

    @Test("checkIsolated passes on the executor's thread; isCurrentThread tells the threads apart")
    func checkIsolatedOnThread() async throws {
        let executor = ThreadExecutor(name: "test-iso")
        let onThread = await withCheckedContinuation { continuation in
            executor.execute {
                executor.checkIsolated()  // does not trap here
                continuation.resume(returning: executor.isCurrentThread)
            }
        }
        #expect(onThread)
        #expect(!executor.isCurrentThread)
        executor.shutdown()
        try await waitUntilFinished(executor)
    }

    @Test("checkIsolated called off the executor's thread stops the process")
    func checkIsolatedOffThreadTraps() async {
        await #expect(processExitsWith: .failure) {
            let executor = ThreadExecutor(name: "test-off")
            executor.checkIsolated()
        }
    }

    @Test("assumeIsolated on an actor of the executor, called off its thread, stops the process")
    func assumeIsolatedOffThreadTraps() async {
        await #expect(processExitsWith: .failure) {
            let counter = Counter(executor: ThreadExecutor(name: "test-off-actor"))
            counter.incrementAssumingIsolation()
        }
    }
}
