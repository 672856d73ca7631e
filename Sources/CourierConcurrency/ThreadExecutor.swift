#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// A serial executor that owns one OS thread.
///
/// The C libraries Courier wraps (librabbitmq, libpq) are not thread-safe and make blocking calls.
/// Each connection therefore lives in an actor whose `unownedExecutor` is one of these: every
/// isolated method runs on the dedicated thread, so blocking never touches Swift's cooperative pool
/// and the C state is never used from two threads.
///
/// Between batches of work the thread asks its ``ThreadExecutorIOSource`` (if any) to do
/// non-blocking I/O, then sleeps in `poll(2)` on the source's socket *and* a self-pipe that
/// `enqueue` writes to. New work therefore wakes the thread at once — acks, publishes and
/// shutdown are never starved by a wait for network input — and network input wakes it too.
package final class ThreadExecutor: SerialExecutor, TaskExecutor {
    /// What the thread should wait for once its queue is empty.
    package struct Wait: Sendable, Equatable {
        /// A file descriptor to wait on for readability, or -1.
        package var fileDescriptor: Int32
        /// The longest sleep in milliseconds; -1 means until woken.
        package var timeoutMilliseconds: Int32

        package init(fileDescriptor: Int32 = -1, timeoutMilliseconds: Int32 = -1) {
            self.fileDescriptor = fileDescriptor
            self.timeoutMilliseconds = timeoutMilliseconds
        }

        /// Do not sleep: there is more I/O work to do right away.
        package static let again = Wait(fileDescriptor: -1, timeoutMilliseconds: 0)
        /// Sleep until new work is enqueued.
        package static let idle = Wait()
    }

    private enum Work: Sendable {
        case job(UnownedJob)
        case closure(@Sendable () -> Void)
    }

    private struct State: ~Copyable {
        var queue: [Work] = []
        var sleeping = false
        var serviceRequested = false
        var stopRequested = false
        var ioSource: (any ThreadExecutorIOSource)?
    }

    /// The thread's name, as shown by `top -H` and in crash reports.
    package let name: String
    private let state = Mutex(State())
    /// A non-blocking self-pipe: `enqueue` writes a byte to wake the thread out of `poll(2)`.
    private let wakeReadFD: Int32
    private let wakeWriteFD: Int32
    private let threadID = Atomic<UInt>(0)
    private let finished = Atomic<Bool>(false)

    /// Starts a new thread named `name` (Linux keeps at most 15 characters of it).
    package init(name: String) {
        self.name = name
        var fds: [Int32] = [-1, -1]
        let rc = pipe(&fds)
        precondition(rc == 0, "pipe failed: \(errno)")
        for fd in fds {
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        self.wakeReadFD = fds[0]
        self.wakeWriteFD = fds[1]
        // The thread keeps the executor alive until `shutdown()` lets it finish.
        let thread = Thread { [self] in self.run() }
        thread.name = name
        thread.start()
    }

    deinit {
        close(wakeReadFD)
        close(wakeWriteFD)
    }

    // MARK: SerialExecutor

    package func enqueue(_ job: consuming ExecutorJob) {
        submit(.job(UnownedJob(job)))
    }

    package func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// As a task executor, the thread can also run a task's nonisolated code: a loop that
    /// consumes deliveries and acks them then stays on the connection's thread instead of
    /// bouncing between it and the cooperative pool (`withTaskExecutorPreference`).
    package func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    package func checkIsolated() {
        precondition(isCurrentThread, "not on the '\(name)' executor thread")
    }

    /// True when called from this executor's thread.
    package var isCurrentThread: Bool {
        Self.currentThreadID() == threadID.load(ordering: .acquiring)
    }

    // MARK: Closures and I/O

    /// Runs `body` on the executor thread, after the work already queued.
    ///
    /// This is the low-latency path for fire-and-forget operations (an ack, a publish) that must
    /// not wait for a task hop. `body` may use `assumeIsolated` on an actor that runs here.
    package func execute(_ body: @escaping @Sendable () -> Void) {
        submit(.closure(body))
    }

    /// Installs (or removes, with `nil`) the I/O source polled between batches of work.
    /// The executor keeps a strong reference until it is replaced or the executor shuts down.
    package func setIOSource(_ source: (any ThreadExecutorIOSource)?) {
        state.withLock { $0.ioSource = source }
        wake()
    }

    /// Makes the thread call its I/O source's `service` soon — right after the work it is running,
    /// or at once when it sleeps. For state the source keeps in its own lock-protected lists
    /// (queued acks): cheaper than a closure, and no wake-up when the thread is busy anyway.
    package func requestService() {
        let mustWake = state.withLock { state -> Bool in
            state.serviceRequested = true
            if state.sleeping {
                state.sleeping = false
                return true
            }
            return false
        }
        if mustWake { wake() }
    }

    /// Asks the thread to finish: queued work still runs, then the thread exits and releases the
    /// executor. Call it when nothing can enqueue work any more — typically from the `deinit` of
    /// the actor that runs here — since work submitted after the thread has exited never runs.
    package func shutdown() {
        state.withLock {
            $0.stopRequested = true
            $0.ioSource = nil
        }
        wake()
    }

    /// True once the thread has exited after ``shutdown()``.
    package var isFinished: Bool { finished.load(ordering: .acquiring) }

    private func submit(_ work: Work) {
        let mustWake = state.withLock { state -> Bool in
            state.queue.append(work)
            if state.sleeping {
                state.sleeping = false
                return true
            }
            return false
        }
        if mustWake { wake() }
    }

    private static func currentThreadID() -> UInt {
        UInt(pthread_self())
    }

    private func wake() {
        var one: UInt8 = 1
        _ = write(wakeWriteFD, &one, 1)  // when the pipe is full the thread is already woken
    }

    // MARK: The thread

    private func run() {
        threadID.store(Self.currentThreadID(), ordering: .releasing)
        var batch: [Work] = []
        batch.reserveCapacity(64)
        var socketReady = false
        while true {
            let (source, stop) = state.withLock { state -> ((any ThreadExecutorIOSource)?, Bool) in
                swap(&batch, &state.queue)
                state.serviceRequested = false  // service() below runs after this point
                return (state.ioSource, state.stopRequested)
            }
            for work in batch {
                switch work {
                case .job(let job):
                    job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
                case .closure(let body): body()
                }
            }
            let ranWork = !batch.isEmpty
            batch.removeAll(keepingCapacity: true)
            if stop && !ranWork { break }

            let wait = source?.service(socketReady: socketReady) ?? .idle
            socketReady = false
            if wait.timeoutMilliseconds == 0 {
                socketReady = true
                continue
            }

            let sleep = state.withLock { state -> Bool in
                guard state.queue.isEmpty, !state.serviceRequested, !state.stopRequested else { return false }
                state.sleeping = true
                return true
            }
            guard sleep else { continue }
            var fds = [pollfd(fd: wakeReadFD, events: Int16(POLLIN), revents: 0)]
            if wait.fileDescriptor >= 0 {
                fds.append(pollfd(fd: wait.fileDescriptor, events: Int16(POLLIN), revents: 0))
            }
            let ready = poll(&fds, nfds_t(fds.count), wait.timeoutMilliseconds)
            state.withLock { $0.sleeping = false }
            // Readable, or the timeout passed (time for the source's housekeeping, e.g. heartbeats).
            socketReady = fds.count > 1 && (ready == 0 || fds[1].revents != 0)
            if fds[0].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 64)
                while read(wakeReadFD, &drain, drain.count) > 0 {}
            }
        }
        finished.store(true, ordering: .releasing)
    }
}

/// Non-blocking I/O done on a ``ThreadExecutor``'s thread between batches of work.
package protocol ThreadExecutorIOSource: AnyObject, Sendable {
    /// Called on the executor thread whenever its queue has been drained: handle what is already
    /// buffered, read from the socket only when `socketReady` (it was readable, or the wait's
    /// timeout passed), and say what to wait for next. Return ``ThreadExecutor/Wait/again`` to be
    /// called again, with `socketReady`, before sleeping.
    ///
    /// Reading only on readiness saves a failed `recv` and a zero-timeout `poll` per wake-up.
    func service(socketReady: Bool) -> ThreadExecutor.Wait
}
