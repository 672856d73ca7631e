import CourierAMQP
import CourierEngine
import CourierEvents
import CourierFailureIndex
import CourierPostgres
import CourierTesting
import Foundation
import Testing

@testable import courier

/// `courier` and courierd as an operator runs them, against the real broker and database.
@Suite("courier CLI", .timeLimit(.minutes(10)), .tags(.integration))
struct CourierCLITests {
    @Test("a poison event shows in list, show and stats; once its cause is fixed, replay while courierd runs handles it once and empties the queue")
    func poisonStory() async throws {
        let app = TestEnvironment.uniqueName("story")
        let run = TestEnvironment.uniqueName("r")
        // A vhost of its own: courierd processes of other tests are bound to the same Semble
        // event types and would get (and park) this poison event too, and theirs would land here.
        let vhost = try TestBroker.makeVhost()
        defer { TestBroker.deleteVhost(vhost.name) }
        var cli = try CLI.forApp(app)
        cli.environment["AMQP_URL"] = vhost.url
        let database = try TestEnvironment.databaseURL()
        let daemon = try Daemon(environment: cli.environment)
        try await daemon.start()
        let postgres = try await PostgresConnection.connect(try OpsFixture.courierdView(database))
        let card = "card-\(run)"
        let constraint = "poison_\(run)"
        // The cause: a rule in the feeds handler's table that this card breaks (a permanent
        // failure, SQLSTATE 23514), while every other card goes through.
        try await postgres.execute("ALTER TABLE feed_activities ADD CONSTRAINT \(constraint) CHECK (card_id IS DISTINCT FROM '\(card)')")

        let at = Date(timeIntervalSince1970: 1_795_000_000)
        let alice = testDID("alice", run)  // a DID the decoder accepts: did:plc:[A-Za-z0-9]+
        let event = EventEnvelope(
            id: "\(run)-poison", aggregateId: card, occurredAt: at,
            event: .cardAddedToLibrary(.init(cardId: card, curatorId: alice, addedAt: at)))
        let published = try await cli.run(["publish", "--type", "CardAddedToLibraryEvent", "--message-id", event.id, "--data",
            #"{"cardId":"\#(card)","curatorId":"\#(alice)","addedAt":"2026-11-18T07:06:40Z"}"#])
        #expect(published.status == 0, "\(published.all)")

        // Parked, and indexed.
        var listed = CLI.Result(status: -1, stdout: "", stderr: "")
        let parked = try await eventually {
            listed = try await cli.run(["dlq", "list", "--json"])
            return listed.stdout.contains(event.id)
        }
        #expect(parked, "\(listed.all)\n\(daemon.output)")
        let entries = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]] ?? []
        let entry = try #require(entries.first { $0["message_id"] as? String == event.id })
        let failureID = try #require(entry["failure_id"] as? String)
        #expect(entry["error_class"] as? String == "CheckViolation" || (entry["error_message"] as? String ?? "").contains(constraint))
        #expect(entry["handler"] as? String == "feeds")

        let table = try await cli.run(["dlq", "list"])
        #expect(table.stdout.contains(String(failureID.prefix(8))))
        #expect(table.stdout.contains("CardAddedToLibraryEvent"))
        let show = try await cli.run(["dlq", "show", String(failureID.prefix(8))])
        #expect(show.status == 0)
        for expected in [failureID, constraint, "x-courier-failure-id", "\"cardId\" : \"\(card)\"", "feeds"] {
            #expect(show.stdout.contains(expected), "show lacks \(expected): \(show.stdout)")
        }
        let stats = try await cli.run(["dlq", "stats", "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
        #expect(report?["queue_messages"] as? Int == 1)
        #expect((report?["index"] as? [String: Any])?["total"] as? Int == 1)

        // Replaying before the fix parks it again — and the pass does not loop on it.
        let early = try await cli.run(["dlq", "replay", failureID])
        #expect(early.status == 0)
        #expect(try await eventually { (try await cli.run(["dlq", "stats", "--json"])).stdout.contains("\"queue_messages\" : 1") })

        // The fix, then the replay, with courierd running.
        try await postgres.execute("ALTER TABLE feed_activities DROP CONSTRAINT \(constraint)")
        let replay = try await cli.run(["dlq", "replay", "--type", "CardAddedToLibraryEvent"])
        #expect(replay.status == 0, "\(replay.all)")
        #expect(replay.stdout.contains("replayed 1 message"), "\(replay.stdout)")
        let handled = try await eventually {
            let rows = try await postgres.query("SELECT count(*) FROM courier_inbox WHERE event_id = $1 AND handler = 'feeds'", [event.id])
            return try rows[0].decode(Int.self, column: 0) == 1
        }
        #expect(handled, "\(daemon.output)")
        try await Task.sleep(for: .milliseconds(500))  // a second application would land now
        let activities = try await postgres.query("SELECT count(*) FROM feed_activities WHERE card_id = $1", [card])
        #expect(try activities[0].decode(Int.self, column: 0) == 1, "handled once")
        let status = try await cli.run(["status", "--json"])
        let queues = (try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["queues"] as? [[String: Any]] ?? []
        #expect(queues.first { $0["role"] as? String == "dead-letter" }?["messages"] as? Int == 0, "\(status.all)")
        #expect(queues.first { $0["role"] as? String == "app" }?["consumers"] as? Int == 1)
        let history = try await cli.run(["dlq", "list", "--status", "replayed", "--json"])
        #expect(history.stdout.contains(event.id))
        #expect(await daemon.stop() == 0)
        await postgres.close()
    }

    @Test("a replay killed with SIGKILL loses nothing and duplicates at most the message in flight")
    func killedReplay() async throws {
        let f = try await OpsFixture.make()
        let parked = try await f.park(40, prefix: "kill")
        let cli = try CLI.forApp(f.topology.settings.appName)
        // 1 a second: 40 s for all, so the kill lands mid-replay even when a loaded machine
        // takes many seconds to see the first ones arrive (at 20/s the replay finished first).
        let (process, out, err) = try cli.start(["dlq", "replay", "--all", "--rate", "1"])
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        #expect(try await eventually { try await f.depth(f.topology.appQueue) >= 3 })
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)

        let all = Set(parked.compactMap(\.messageID))
        // The broker returns what the killed replay held unacknowledged.
        #expect(try await eventually {
            try await f.depth(f.topology.appQueue) + f.depth(f.topology.deadLetterQueue) >= 40
        })
        let stillParked = try await f.queue.browse().compactMap(\.messageID)
        let replayedSoFar = try await f.depth(f.topology.appQueue)
        #expect(Set(stillParked).count == stillParked.count)
        #expect(replayedSoFar + stillParked.count <= 41, "at most the message in flight twice")

        // Finishing the replay brings every message to the app queue.
        let rest = try await cli.run(["dlq", "replay", "--all"])
        #expect(rest.status == 0, "\(rest.all)")
        // (Only this test's messages: other tests publish the same event types to domain_events.)
        let delivered = try await f.drain(f.topology.appQueue).compactMap(\.properties.messageID).filter { $0.hasPrefix("kill-") }
        #expect(Set(delivered) == all, "nothing lost")
        #expect(delivered.count <= 41)
        #expect(try await f.depth(f.topology.deadLetterQueue) == 0)
        await f.close()
    }

    @Test("Ctrl-C stops a replay after the message in hand: exit 130, a summary, the rest still parked")
    func interruptedByCtrlC() async throws {
        let f = try await OpsFixture.make()
        let parked = try await f.park(30, prefix: "int")
        let cli = try CLI.forApp(f.topology.settings.appName)
        // Slow enough (30 s for all 30) that the SIGINT sent once 3 are replayed lands mid-replay
        // even when a busy machine is slow to notice them and to send it (beside stress-ng, at
        // 5/s the replay finished first).
        let (process, out, err) = try cli.start(["dlq", "replay", "--all", "--rate", "1"])
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        #expect(try await eventually { try await f.depth(f.topology.appQueue) >= 3 })
        kill(process.processIdentifier, SIGINT)
        _ = await eventually { !process.isRunning }
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        let summary = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        #expect(summary.contains("interrupted"), "\(summary)")
        let replayed = try await eventually { try await f.depth(f.topology.appQueue) >= 3 } ? try await f.drain(f.topology.appQueue) : []
        let left = try await f.queue.browse()
        #expect(replayed.count + left.count == 30, "nothing lost, nothing doubled")
        #expect(Set(replayed.compactMap(\.properties.messageID)).union(left.compactMap(\.messageID)) == Set(parked.compactMap(\.messageID)))
        #expect(left.count > 0, "stopped before the end")
        await f.close()
    }

    @Test("purge asks first (and refuses without a terminal), then removes only what matched; export and import round-trip")
    func purgeExportImport() async throws {
        let f = try await OpsFixture.make()
        try await f.park(2, prefix: "keep", errorClass: "InvalidField")
        try await f.park(2, prefix: "drop", type: "UserFollowedTargetEvent", errorClass: "MalformedJSON")
        let cli = try CLI.forApp(f.topology.settings.appName)

        let refused = try await cli.run(["dlq", "purge", "--error", "MalformedJSON"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("without --yes"))
        #expect(try await f.queue.browse().count == 4, "nothing purged")
        #expect(try await cli.run(["dlq", "purge"]).status == 2, "no selection, no purge")

        let purged = try await cli.run(["dlq", "purge", "--error", "MalformedJSON", "--yes", "--json"])
        #expect(purged.status == 0, "\(purged.all)")
        let left = try await f.queue.browse()
        #expect(Set(left.compactMap(\.messageID)) == ["keep-0", "keep-1"])
        let list = try await cli.run(["dlq", "list", "--json"])
        #expect(list.stdout.contains("keep-0") && !list.stdout.contains("drop-0"))

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dlq-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try await cli.run(["dlq", "export", "--output", file.path]).status == 0)
        let first = try String(contentsOf: file, encoding: .utf8)
        #expect(first.split(separator: "\n").count == 2)
        #expect(try await cli.run(["dlq", "purge", "--all", "--yes"]).status == 0)
        #expect(try await f.queue.browse().isEmpty)
        let imported = try await cli.run(["dlq", "import", file.path])
        #expect(imported.status == 0, "\(imported.all)")
        let again = try await cli.run(["dlq", "export"])
        func sorted(_ text: String) -> [Substring] { text.split(separator: "\n").sorted() }
        #expect(sorted(again.stdout) == sorted(first), "export → purge → import → export gives the same lines")
        #expect(try await cli.run(["dlq", "import", "-"], stdin: "{not json}\n").status == 2)
        await f.close()
    }

    @Test("topology verify names what is missing (exit 1) until declare creates it; show and status work for scripts")
    func topology() async throws {
        let cli = try CLI.forApp(TestEnvironment.uniqueName("topo"))
        let before = try await cli.run(["topology", "verify"])
        #expect(before.status == 1)
        #expect(before.stdout.contains("queue events_topo_") && before.stdout.contains("missing"))
        #expect(try await cli.run(["topology", "declare"]).status == 0)
        let after = try await cli.run(["topology", "verify", "--json"])
        #expect(after.status == 0, "\(after.all)")
        #expect(after.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]" || after.stdout.contains("[]"))
        let show = try await cli.run(["topology", "show"])
        #expect(show.stdout.contains("domain_events") && show.stdout.contains("CardAddedToLibraryEvent"))
    }

    @Test("a bad setting stops it with the key named; an unreachable broker is exit 3; no password is ever printed")
    func errors() async throws {
        var cli = try CLI.forApp("errs")
        cli.environment["AMQP_URL"] = nil
        let missing = try await cli.run(["status"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("amqp.url"))

        cli.environment["AMQP_URL"] = "amqp://courier:s3cret-pa55@127.0.0.1:1/%2F"
        cli.environment["DATABASE_URL"] = "postgres://courier:s3cret-pa55@127.0.0.1:1/none"
        let unreachable = try await cli.run(["dlq", "replay", "--all"])
        #expect(unreachable.status == 3, "\(unreachable.all)")
        let status = try await cli.run(["status"])
        #expect(status.status == 3)
        for result in [missing, unreachable, status] { #expect(!result.all.contains("s3cret-pa55")) }

        let notFound = try await CLI.forApp(TestEnvironment.uniqueName("nf")).run(["dlq", "show", "00000000-0000-0000-0000-000000000000"])
        #expect(notFound.status == 4, "\(notFound.all)")
    }
}
