import CourierPostgres
import CourierTesting
import Testing

@Suite("LISTEN/NOTIFY (integration)", .tags(.integration))
struct PostgresNotificationTests {
    @Test("a NOTIFY from another connection arrives on the LISTEN stream, payloads in order")
    func notificationFromAnotherConnection() async throws {
        let listener = try await PostgresTestSupport.connect()
        let sender = try await PostgresTestSupport.connect()
        let channel = TestEnvironment.uniqueName("Events.Channel")  // mixed case and a dot: needs quoting
        let stream = try await listener.listen(channel)
        let senderPID = try #require(await sender.processID)

        let received = Task {
            var payloads: [PostgresNotification] = []
            for await notification in stream {
                payloads.append(notification)
                if payloads.count == 2 { break }
            }
            return payloads
        }
        try await sender.notify(channel: channel, payload: "first")
        try await sender.notify(channel: channel, payload: "second, with 'quotes'")
        // Only so that a lost notification fails the test instead of hanging it: how fast they
        // arrive is not a test's business (a loaded CI machine took 1.08 s once).
        let timeout = Task {
            try await Task.sleep(for: .seconds(60))
            received.cancel()
        }
        let notifications = await received.value
        timeout.cancel()
        #expect(notifications == [
            PostgresNotification(channel: channel, payload: "first", processID: senderPID),
            PostgresNotification(channel: channel, payload: "second, with 'quotes'", processID: senderPID),
        ])
    }

    @Test("ending the stream unlistens; other channels and closed connections end cleanly")
    func unlistenOnTermination() async throws {
        let listener = try await PostgresTestSupport.connect()
        let channel = TestEnvironment.uniqueName("unlisten")
        let listenerPID = try #require(await listener.processID)
        let observer = try await PostgresTestSupport.connect()
        let countListeners = {
            try await observer.scalar(
                Int.self, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state IS NOT NULL", [listenerPID])
        }
        #expect(try await countListeners() == 1)

        let stream = try await listener.listen(channel)
        let consumer = Task { for await _ in stream {} }
        #expect(try await listener.scalar(Bool.self, "SELECT $1 = ANY (ARRAY(SELECT pg_listening_channels()))", [channel]))
        consumer.cancel()
        #expect(try await eventually {
            try await !listener.scalar(Bool.self, "SELECT $1 = ANY (ARRAY(SELECT pg_listening_channels()))", [channel])
        })

        // Closing the connection finishes the streams still open.
        let other = try await listener.listen(TestEnvironment.uniqueName("closing"))
        let drained = Task { for await _ in other {}; return true }
        await listener.close()
        #expect(await drained.value)
    }

    @Test("notifications sent inside a transaction arrive at commit, including to the sender itself")
    func transactionalNotify() async throws {
        let conn = try await PostgresTestSupport.connect()
        let channel = TestEnvironment.uniqueName("tx_notify")
        let stream = try await conn.listen(channel)
        try await conn.withTransaction { conn in
            try conn.notify(channel: channel, payload: "committed")
        }
        var iterator = stream.makeAsyncIterator()
        let first = await iterator.next()
        #expect(first?.payload == "committed")
        #expect(first?.processID == (await conn.processID))
    }
}
