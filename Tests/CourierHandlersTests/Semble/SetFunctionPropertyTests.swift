import CourierEvents
import CourierPostgres
import CourierTesting
import Foundation
import PropertyBased
import Testing

@testable import CourierHandlers

/// The central property: the tables are a function of the *set* of events. A random stream over
/// a small universe (4 users, 3 cards, 2 collections, 3 connections), with times within 10
/// minutes so activities merge and ties happen, each event copied 0–2 more times, shuffled and
/// applied in batches of 1–10 (each batch through both handlers, in a random order, with the
/// inbox as the runner uses it), must leave every table exactly as applying each distinct
/// event once, in order, one at a time. Then replaying the whole stream without the inbox must
/// change nothing.
@Suite("Semble handlers: the tables are a function of the set of events")
struct SetFunctionPropertyTests {
    /// One random event: its kind and the universe members it picks.
    struct Spec: Sendable, CustomStringConvertible {
        var kind: Int
        var a: Int
        var b: Int
        var c: Int
        var second: Int
        var copies: Int

        var description: String { "\(kind)/\(a)\(b)\(c)@\(second)x\(copies + 1)" }
    }

    static let specs = zip(
        Gen.int(in: 0...8), Gen.int(in: 0...3), Gen.int(in: 0...3), Gen.int(in: 0...2), Gen.int(in: 0...600), Gen.int(in: 0...2)
    ).map { Spec(kind: $0.0, a: $0.1, b: $0.2, c: $0.3, second: $0.4, copies: $0.5) }.array(of: 5...40)

    /// For the oracle: longer histories with more adds and follows (``denseKinds``) over 2 cards.
    static let denseSpecs = zip(
        Gen.int(in: 0..<denseKinds.count), Gen.int(in: 0...3), Gen.int(in: 0...3), Gen.int(in: 0...2), Gen.int(in: 0...600),
        Gen.int(in: 0...2)
    ).map { Spec(kind: $0.0, a: $0.1, b: $0.2, c: $0.3, second: $0.4, copies: $0.5) }.array(of: 20...60)

    /// A dense spec's kind → the kind of ``event(_:index:dense:)``.
    static let denseKinds = [0, 0, 0, 1, 2, 2, 2, 2, 3, 4, 5, 5, 5, 6, 7, 8]

    static let users = ["u1", "u2", "u3", "u4"]
    static let cards = ["c1", "c2", "c3"]
    static let collections = ["k1", "k2"]

    /// The event a spec stands for; `index` makes its id. A `dense` spec's kind goes through
    /// ``denseKinds``, and it uses 2 of the cards, so that one card is often added to one
    /// collection several times while someone follows it.
    static func event(_ spec: Spec, index: Int, dense: Bool = false) -> EventEnvelope {
        typealias E = SembleEvents
        let id = "e\(index)"
        let user = users[spec.a]
        let card = cards[dense ? spec.c % 2 : spec.c]
        let collection = collections[spec.b % 2]
        // A follow is its (follower, target, type); c == 2 is a second follow of the same pair
        // (a re-follow, or a duplicate). Follow ids identify nothing (semble-parity.md §4): a
        // follow's is fresh, an unfollow's the composite, except "f-shared" (a == 0, c == 2),
        // used by events of every follower and target — which must be ignored just the same.
        let followsCollection = spec.c == 0
        let target = followsCollection ? collection : users[spec.b]
        let followID: String? = spec.a == 0 && spec.c == 2 ? "f-shared" : nil
        let type: FollowTargetType = followsCollection ? .collection : .user
        // Every third add was made long before it was published (an import): addedAt is only
        // the activity's created_at.
        let addedAt = index % 3 == 0 ? spec.second - 90 * 86_400 : spec.second
        // A connection's curator, mostly the same for its creation and removal.
        let connection = "x\(spec.c)"
        let curator = spec.a == 3 ? user : users[spec.c]
        switch dense ? denseKinds[spec.kind] : spec.kind {
        case 0: return E.libraryAdd(id, card: card, by: user, at: spec.second, addedAt: addedAt)
        case 1: return E.libraryRemove(id, card: card, by: user, at: spec.second)
        case 2: return E.collectionAdd(id, card: card, to: collection, by: user, at: spec.second, addedAt: addedAt)
        case 3: return E.collectionRemove(id, card: card, from: collection, by: user, at: spec.second)
        case 4: return E.collectionCreated(id, collection: collection, by: user, name: "name \(index)", at: spec.second)
        case 5: return E.follow(id, user, follows: target, type: type, at: spec.second, followID: followID)
        case 6: return E.unfollow(id, user, unfollows: target, type: type, at: spec.second, followID: followID)
        case 7: return E.connectionCreated(id, connection: connection, by: curator, at: spec.second)
        default: return E.connectionRemoved(id, connection: connection, by: curator, at: spec.second)
        }
    }

    @Test("shuffled, duplicated and batched, the stream leaves the tables of the distinct events applied once, in order")
    func setFunction() async throws {
        let shuffled = try await SembleTestDatabase.make()
        let reference = try await SembleTestDatabase.make()
        await propertyCheck(count: 40, input: Self.specs, Gen.int(in: 0...Int(Int32.max))) { specs, seed in
            try await shuffled.truncate()
            try await reference.truncate()
            let events = specs.enumerated().map { Self.event($1, index: $0) }
            var random = SplitMix64(seed: UInt64(seed))
            var stream = zip(specs, events).flatMap { spec, event in Array(repeating: event, count: spec.copies + 1) }
            stream.shuffle(using: &random)

            var rest = stream[...]
            while !rest.isEmpty {
                let batch = Array(rest.prefix(Int.random(in: 1...10, using: &random)))
                rest = rest.dropFirst(batch.count)
                let handlers = Bool.random(using: &random) ? SembleHandlers.all : SembleHandlers.all.reversed()
                for handler in handlers {
                    try await shuffled.apply(batch, with: handler)
                }
            }
            try await reference.applyOneByOne(SembleEvents.inOrder(events))

            let actual = try await shuffled.snapshot()
            let expected = try await reference.snapshot()
            #expect(
                actual == expected,
                "arrival: \(stream.map(\.id)); differences (- in order, + shuffled):\n\(expected.difference(to: actual))")

            try await shuffled.applyBatch(stream, throughInbox: false)
            let replayed = try await shuffled.snapshot()
            #expect(replayed == actual, "replay without the inbox changed:\n\(actual.difference(to: replayed))")
        }
        try await shuffled.drop()
        try await reference.drop()
    }

    @Test("for well-formed histories, shuffled and duplicated, the tables are what the specification done naively in order gives")
    func naiveOracle() async throws {
        let database = try await SembleTestDatabase.make()
        await propertyCheck(count: 40, input: Self.denseSpecs, Gen.int(in: 0...Int(Int32.max))) { specs, seed in
            try await database.truncate()
            let events = NaiveSemble.wellFormed(specs.enumerated().map { Self.event($1, index: $0, dense: true) })
            var model = NaiveSemble()
            for event in SembleEvents.inOrder(events) { model.apply(event) }

            var random = SplitMix64(seed: UInt64(seed))
            var stream = events.flatMap { Array(repeating: $0, count: Int.random(in: 1...2, using: &random)) }
            stream.shuffle(using: &random)
            var rest = stream[...]
            while !rest.isEmpty {
                let batch = Array(rest.prefix(Int.random(in: 1...10, using: &random)))
                rest = rest.dropFirst(batch.count)
                try await database.applyBatch(batch)
            }
            let arrival = "arrival: \(stream.map(\.id))"
            #expect(try await database.activities() == model.activityLines, "\(arrival)")
            #expect(try await database.feedItems() == model.feedItemLines, "\(arrival)")
            #expect(try await database.notifications() == model.notificationLines, "\(arrival)")
        }
        try await database.drop()
    }

    @Test("the two handlers running concurrently, as the runner runs them, neither deadlock nor diverge")
    func concurrentHandlers() async throws {
        let concurrent = try await SembleTestDatabase.make()
        let reference = try await SembleTestDatabase.make()
        let second = try await PostgresConnection.connect(try SembleTestDatabase.configuration(schema: concurrent.schema))
        await propertyCheck(count: 10, input: Self.specs, Gen.int(in: 0...Int(Int32.max))) { specs, seed in
            try await concurrent.truncate()
            try await reference.truncate()
            let events = specs.enumerated().map { Self.event($1, index: $0) }
            var random = SplitMix64(seed: UInt64(seed))
            var batches: [[EventEnvelope]] = []
            var rest = events.shuffled(using: &random)[...]
            while !rest.isEmpty {
                let size = Int.random(in: 1...5, using: &random)
                batches.append(Array(rest.prefix(size)))
                rest = rest.dropFirst(size)
            }
            // Each handler on a connection of its own, its batches one after the other, the two
            // handlers at the same time.
            let allBatches = batches
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (handler, connection) in zip(SembleHandlers.all, [concurrent.connection, second]) {
                    group.addTask {
                        for batch in allBatches {
                            try await SembleTestDatabase.apply(batch, with: handler, on: connection)
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await reference.applyOneByOne(SembleEvents.inOrder(events))
            let actual = try await concurrent.snapshot()
            let expected = try await reference.snapshot()
            #expect(actual == expected, "differences (- in order, + concurrent):\n\(expected.difference(to: actual))")
        }
        await second.close()
        try await concurrent.drop()
        try await reference.drop()
    }
}
