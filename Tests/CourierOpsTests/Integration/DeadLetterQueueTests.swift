import CourierAMQP
import CourierEngine
import CourierPostgres
import CourierTesting
import Foundation
import Testing

@testable import CourierFailureIndex
@testable import courier

/// The dead-letter operations against the real broker and the real failure index.
@Suite("Dead-letter queue operations", .timeLimit(.minutes(10)), .tags(.integration))
struct DeadLetterQueueTests {
    @Test("purge with filters removes only what matched; the rest stays parked, and the index says which")
    func purgeWithFilters() async throws {
        let f = try await OpsFixture.make()
        let invalid = try await f.park(3, prefix: "keep", errorClass: "InvalidField")
        let malformed = try await f.park(2, prefix: "drop", type: "UserFollowedTargetEvent", errorClass: "MalformedJSON")
        let removed = try await f.queue.purge(DeadLetterFilter(errorClasses: ["MalformedJSON"]))
        #expect(Set(removed.map(\.failureID)) == Set(malformed.map(\.failureID)))
        let left = try await f.queue.browse()
        #expect(Set(left.map(\.failureID)) == Set(invalid.map(\.failureID)), "browsing leaves the queue as it was")
        #expect(try await eventually { try await f.depth(f.topology.deadLetterQueue) == 3 })

        let index = f.index
        try await f.postgres.withTransaction { try index.markPurged(removed.map(\.failureID), on: $0) }
        let parked = try await f.postgres.withTransaction { try index.list(DeadLetterFilter(), limit: 50, on: $0) }
        #expect(Set(parked.map(\.message.failureID)) == Set(invalid.map(\.failureID)))
        let purged = try await f.postgres.withTransaction { try index.list(DeadLetterFilter(), statuses: [.purged], limit: 50, on: $0) }
        #expect(Set(purged.map(\.message.failureID)) == Set(malformed.map(\.failureID)))
        // A filter that matches nothing removes nothing.
        #expect(try await f.queue.purge(DeadLetterFilter(types: ["NoSuchEvent"])).isEmpty)
        #expect(try await f.queue.purge(DeadLetterFilter()).isEmpty, "an empty filter selects nothing")
        #expect(try await f.queue.browse().count == 3)
        await f.close()
    }

    @Test("a replay goes to this app's queue only — never through domain_events to another app bound to the same event")
    func replayOnlyToItsQueue() async throws {
        let shared = ["test.shared.\(UUID().uuidString)"]
        let a = try await OpsFixture.make(bindingKeys: shared)
        let b = try await OpsFixture.make(bindingKeys: shared)  // bound to the same events as a
        let parked = try await a.park(2, prefix: "only-a")
        let summary = try await a.queue.replay(DeadLetterFilter(all: true), options: .init(by: "test@host"))
        #expect(Set(summary.replayed.map(\.failureID)) == Set(parked.map(\.failureID)))
        #expect(summary.failed.isEmpty)
        #expect(try await eventually { try await a.depth(a.topology.appQueue) == 2 })
        #expect(try await a.depth(a.topology.deadLetterQueue) == 0)
        #expect(try await b.depth(b.topology.appQueue) == 0, "another app never sees a replay")

        let copies = try await a.drain(a.topology.appQueue)
        #expect(Set(copies.compactMap(\.properties.messageID)) == ["only-a-0", "only-a-1"])
        for copy in copies {
            let headers = try #require(copy.properties.headers)
            #expect(copy.exchange == "", "by the default exchange")
            #expect(copy.routingKey == a.topology.appQueue)
            #expect(headers[CourierHeader.attempts] == nil)
            #expect(headers[CourierHeader.failureID] == nil)
            #expect(headers[CourierHeader.replayedBy]?.stringValue == "test@host")
            #expect(headers[CourierHeader.replayCount]?.intValue == 1)
            #expect(headers[CourierHeader.originalRoutingKey]?.stringValue == "CardAddedToLibraryEvent")
            #expect(parked.map(\.failureID).contains(headers[CourierHeader.replayedFrom]?.stringValue ?? ""))
        }
        await a.close()
        await b.close()
    }

    @Test("a dry run and a selective replay leave everything else parked")
    func selectiveReplay() async throws {
        let f = try await OpsFixture.make()
        let follows = try await f.park(2, prefix: "follow", type: "UserFollowedTargetEvent")
        try await f.park(3, prefix: "card")
        let dry = try await f.queue.replay(DeadLetterFilter(types: ["UserFollowedTargetEvent"]), options: .init(dryRun: true, by: "t"))
        #expect(dry.replayed.count == 2)
        #expect(try await f.queue.browse().count == 5, "a dry run changes nothing")
        #expect(try await f.depth(f.topology.appQueue) == 0)

        let one = try await f.queue.replay(DeadLetterFilter(ids: [String(follows[0].failureID.prefix(8))]), options: .init(by: "t"))
        #expect(one.replayed.map(\.failureID) == [follows[0].failureID])
        #expect(one.examined == 5)
        let left = try await f.queue.browse()
        #expect(left.count == 4)
        #expect(!left.map(\.failureID).contains(follows[0].failureID))
        await f.close()
    }

    @Test("an interrupted replay loses nothing: what was replayed is in the queue, the rest still parked")
    func interruptedReplay() async throws {
        let f = try await OpsFixture.make()
        let parked = try await f.park(20, prefix: "slow")
        // Stopped once the replay reports 5 replayed (as Ctrl-C would land mid-replay), not after
        // a sleep that a slow machine could spend before the first copy is sent.
        let stop = StopSignal()
        let summary = try await f.queue.replay(DeadLetterFilter(all: true), options: .init(rate: 20, by: "t"), stop: stop) { progress in
            if progress.replayed >= 5 { stop.stop() }
        }
        #expect(summary.interrupted)
        #expect(summary.replayed.count == 5, "stops after the message in hand: replayed \(summary.replayed.count)")
        let replayedIDs = Set(summary.replayed.compactMap(\.messageID))
        #expect(try await eventually { try await f.depth(f.topology.appQueue) == summary.replayed.count })
        let inQueue = try await f.drain(f.topology.appQueue).compactMap(\.properties.messageID)
        let stillParked = try await f.queue.browse().compactMap(\.messageID)
        #expect(Set(inQueue) == replayedIDs)
        #expect(Set(inQueue).union(stillParked) == Set(parked.compactMap(\.messageID)), "nothing lost")
        #expect(inQueue.count + stillParked.count == 20, "nothing doubled")
        await f.close()
    }

    @Test("export then import round-trips, binary bodies included, and the index knows the imported messages")
    func exportImport() async throws {
        let source = try await OpsFixture.make()
        try await source.park(2, prefix: "text", type: "UserFollowedTargetEvent")
        try await source.park(1, prefix: "binary", body: { _ in [0x00, 0xFF, 0x10] })
        let exported = try await source.queue.browse().map(ExportedMessage.init).sorted { $0.failureID < $1.failureID }
        let lines = try exported.map { try $0.jsonLine() }.joined(separator: "\n")

        let target = try await OpsFixture.make()
        let imported = try await target.queue.importMessages(try ExportedMessage.parse(lines: lines))
        #expect(imported.count == 3)
        let index = target.index
        try await target.postgres.withTransaction { try index.record(imported, on: $0) }
        let again = try await target.queue.browse().map(ExportedMessage.init).sorted { $0.failureID < $1.failureID }
        #expect(again.map(\.failureID) == exported.map(\.failureID))
        #expect(again.map(\.body) == exported.map(\.body))
        #expect(again.map(\.bodyBase64) == exported.map(\.bodyBase64))
        // Imported into another app: it now belongs to that app's queue (replay goes there).
        for message in try await target.queue.browse() { #expect(message.origin.queue == target.topology.appQueue) }
        var withoutQueue = again.map(\.properties)
        var originalWithoutQueue = exported.map(\.properties)
        for i in withoutQueue.indices {
            if case .object(var headers)? = withoutQueue[i]["headers"] {
                headers[CourierHeader.originalQueue] = nil
                withoutQueue[i]["headers"] = .object(headers)
            }
            if case .object(var headers)? = originalWithoutQueue[i]["headers"] {
                headers[CourierHeader.originalQueue] = nil
                originalWithoutQueue[i]["headers"] = .object(headers)
            }
        }
        #expect(withoutQueue == originalWithoutQueue, "every property and header survives")
        let listed = try await target.postgres.withTransaction { try index.list(DeadLetterFilter(), limit: 10, on: $0) }
        #expect(Set(listed.map(\.message.failureID)) == Set(exported.map(\.failureID)))
        await source.close()
        await target.close()
    }

    @Test("the failure index answers list filters, id prefixes and stats by fingerprint, error class and type")
    func index() async throws {
        let f = try await OpsFixture.make()
        let invalid = try await f.park(3, prefix: "i", errorClass: "InvalidField")
        try await f.park(1, prefix: "m", type: "UserFollowedTargetEvent", errorClass: "MalformedJSON")
        let index = f.index
        let stats = try await f.postgres.withTransaction { try index.stats(DeadLetterFilter(), on: $0) }
        #expect(stats.total == 4)
        #expect(stats.byErrorClass.map(\.key) == ["InvalidField", "MalformedJSON"])
        #expect(stats.byErrorClass.map(\.count) == [3, 1])
        #expect(stats.byEventType.map(\.key) == ["CardAddedToLibraryEvent", "UserFollowedTargetEvent"])
        #expect(stats.byFingerprint.first?.count == 3, "messages differing only in numbers share a fingerprint")
        #expect(stats.byFingerprint.first?.key == invalid[0].fingerprint)

        let byType = try await f.postgres.withTransaction {
            try index.list(DeadLetterFilter(types: ["UserFollowedTargetEvent"]), limit: 10, on: $0)
        }
        #expect(byType.map(\.message.messageID) == ["m-0"])
        let found = try await f.postgres.withTransaction { try index.find(String(invalid[1].failureID.prefix(8)), on: $0) }
        #expect(found.map(\.message.failureID) == [invalid[1].failureID])
        #expect(found.first?.message.body == invalid[1].body)
        #expect(sameProperties(try #require(found.first?.message.properties), invalid[1].properties), "properties and headers are kept whole")

        // A message no longer in the queue is marked gone by a sync; one in the queue is not.
        let started = Date()
        _ = try await f.queue.purge(DeadLetterFilter(ids: [invalid[0].failureID]))
        let present = try await f.queue.browse().map(\.failureID)
        let gone = try await f.postgres.withTransaction { try index.markGone(notIn: present, recordedBefore: started, on: $0) }
        #expect(gone == 1)
        let left = try await f.postgres.withTransaction { try index.list(DeadLetterFilter(), limit: 10, on: $0) }
        #expect(left.count == 3)
        await f.close()
    }
}
