import Foundation
import Testing

@testable import CourierHandlers

/// The pure clustering of collects into CARD_COLLECTED activities (no database).
@Suite("ActivityClustering")
struct ActivityClusteringTests {
    typealias Collect = ActivityClustering.Collect

    static func library(_ id: String, _ actor: String = "u1", _ card: String = "c1", at seconds: Int) -> Collect {
        Collect(eventID: id, actorID: actor, cardID: card, collectionID: nil, occurredAt: SembleEvents.at(seconds))
    }

    static func collection(_ id: String, _ collection: String, _ actor: String = "u1", _ card: String = "c1", at seconds: Int) -> Collect {
        Collect(eventID: id, actorID: actor, cardID: card, collectionID: collection, occurredAt: SembleEvents.at(seconds))
    }

    /// Each activity as `opening@seconds[collections](sources)`.
    static func summary(_ activities: [ActivityClustering.Activity]) -> [String] {
        activities.map { activity in
            let seconds = Int(activity.createdAt.timeIntervalSince(SembleEvents.t0))
            return "\(activity.actorID)/\(activity.cardID) \(activity.openingEventID)@\(seconds)"
                + "[\(activity.collectionIDs.joined(separator: ","))]"
                + "(\(activity.sourceEvents.map(\.eventID).joined(separator: ",")))"
        }
    }

    @Test("a library add always opens a new activity, even right after another")
    func libraryAddsOpen() {
        let activities = ActivityClustering.activities(from: [Self.library("a", at: 0), Self.library("b", at: 1)])
        #expect(Self.summary(activities) == ["u1/c1 a@0[](a)", "u1/c1 b@1[](b)"])
    }

    @Test("a collection add joins the latest activity started at most 2 minutes before (inclusive)")
    func mergeWindow() {
        let activities = ActivityClustering.activities(from: [
            Self.library("a", at: 0),
            Self.collection("b", "k1", at: 120),  // 120 s after the start: joins
            Self.collection("c", "k2", at: 121),  // 121 s: opens a new one
            Self.collection("d", "k1", at: 241),  // 120 s after c: joins c's
            Self.collection("e", "k3", at: 242),  // 121 s after c: opens
        ])
        #expect(
            Self.summary(activities) == [
                "u1/c1 a@0[k1](a,b)", "u1/c1 c@121[k1,k2](c,d)", "u1/c1 e@242[k3](e)",
            ])
    }

    @Test("the window is measured from the activity's start, not from its last add")
    func windowFromStart() {
        let activities = ActivityClustering.activities(from: [
            Self.collection("a", "k1", at: 0), Self.collection("b", "k2", at: 100), Self.collection("c", "k3", at: 150),
        ])
        #expect(Self.summary(activities) == ["u1/c1 a@0[k1,k2](a,b)", "u1/c1 c@150[k3](c)"])
    }

    @Test("a collection add with no activity before it opens one; a library add after it opens another")
    func collectionAddFirst() {
        let activities = ActivityClustering.activities(from: [Self.collection("a", "k1", at: 0), Self.library("b", at: 10)])
        #expect(Self.summary(activities) == ["u1/c1 a@0[k1](a)", "u1/c1 b@10[](b)"])
    }

    @Test("collectionIds are sorted byte-wise, each once")
    func collectionIDsSortedUnique() {
        let activities = ActivityClustering.activities(from: [
            Self.library("a", at: 0), Self.collection("b", "kb", at: 1), Self.collection("c", "kB", at: 2),
            Self.collection("d", "ka", at: 3), Self.collection("e", "kb", at: 4),
        ])
        #expect(activities.map(\.collectionIDs) == [["kB", "ka", "kb"]])
        #expect(activities.first?.sourceEvents.count == 5)
    }

    @Test("only the same actor and card merge")
    func samePairOnly() {
        let activities = ActivityClustering.activities(from: [
            Self.library("a", "u1", "c1", at: 0), Self.collection("b", "k1", "u2", "c1", at: 10),
            Self.collection("c", "k1", "u1", "c2", at: 10),
        ])
        #expect(Self.summary(activities) == ["u1/c1 a@0[](a)", "u1/c2 c@10[k1](c)", "u2/c1 b@10[k1](b)"])
    }

    @Test("equal times are ordered by event id, byte-wise")
    func tiesByEventID() {
        // "B" < "a" byte-wise: B opens, a joins it.
        let activities = ActivityClustering.activities(from: [Self.collection("a", "k1", at: 5), Self.collection("B", "k2", at: 5)])
        #expect(Self.summary(activities) == ["u1/c1 B@5[k1,k2](B,a)"])
        let library = ActivityClustering.activities(from: [Self.library("a", at: 5), Self.collection("B", "k2", at: 5)])
        #expect(Self.summary(library) == ["u1/c1 B@5[k2](B)", "u1/c1 a@5[](a)"])
    }

    @Test("the result depends only on the set of collects: every order gives the same")
    func orderIndependent() {
        let collects = [
            Self.library("a", at: 0), Self.collection("b", "k1", at: 60), Self.collection("c", "k2", at: 130),
            Self.library("d", at: 140), Self.collection("e", "k1", at: 200), Self.collection("f", "k1", "u2", at: 5),
            Self.collection("g", "k2", at: 200),
        ]
        let expected = ActivityClustering.activities(from: collects)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            #expect(ActivityClustering.activities(from: collects.shuffled(using: &generator)) == expected)
        }
        #expect(
            Self.summary(expected) == [
                "u1/c1 a@0[k1](a,b)", "u1/c1 c@130[k2](c)", "u1/c1 d@140[k1,k2](d,e,g)", "u2/c1 f@5[k1](f)",
            ])
    }

    @Test("no collects, no activities")
    func empty() {
        #expect(ActivityClustering.activities(from: []).isEmpty)
    }
}
