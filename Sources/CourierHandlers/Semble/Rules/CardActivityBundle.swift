import Foundation

/// The card activity of one actor on one card within a few seconds — library add and collection
/// adds — that Semble notifies about once (semble:src/modules/notifications/application/sagas/
/// CardActivityBundlingSaga.ts). Courier keeps pending bundles in Postgres
/// (``BundleStore``) and flushes them when due (``BundleFlusher``).
struct CardActivityBundle: Sendable, Hashable {
    /// The id of the event that opened it.
    var id: String
    var cardID: String
    var actorID: String
    /// The opening event's `dateTimeOccurred`: the window is anchored there.
    var openedAt: Date
    /// The collections added to, each once, in the order the adds were handled.
    var collectionIDs: [String]
    var hasLibraryEvent: Bool
}

/// One add, for bundling.
struct CardAdd: Sendable, Hashable {
    var eventID: String
    var cardID: String
    var actorID: String
    /// nil for a library add.
    var collectionID: String?
    var occurredAt: Date
}

/// Semble's bundling, on event time (semble-parity.md §3.3): an add joins the pending bundle of
/// its (card, actor) whose opening add occurred at most `window` before it — the latest such
/// bundle —, else it opens a new one. A library removal of the (card, actor) drops its pending
/// bundles (Semble's `cancelPending`): nothing was notified yet.
struct BundleBook: Sendable {
    /// The pending bundles, as read plus as changed.
    private(set) var bundles: [String: CardActivityBundle] = [:]
    /// The ids of the bundles read from the table (the others are new).
    let stored: Set<String>
    private(set) var changed: Set<String> = []
    private(set) var dropped: Set<String> = []
    private var byKey: [CardActorKey: [String]] = [:]
    let window: TimeInterval

    init(pending: [CardActivityBundle], window: TimeInterval) {
        self.window = window
        stored = Set(pending.map(\.id))
        for bundle in pending { insert(bundle) }
    }

    private mutating func insert(_ bundle: CardActivityBundle) {
        bundles[bundle.id] = bundle
        byKey[CardActorKey(cardID: bundle.cardID, actorID: bundle.actorID), default: []].append(bundle.id)
    }

    mutating func add(_ add: CardAdd) {
        let key = CardActorKey(cardID: add.cardID, actorID: add.actorID)
        let joinable = (byKey[key] ?? []).compactMap { bundles[$0] }
            .filter { add.occurredAt.timeIntervalSince($0.openedAt) <= window }
            .max { a, b in a.openedAt != b.openedAt ? a.openedAt < b.openedAt : a.id.utf8.lexicographicallyPrecedes(b.id.utf8) }
        var bundle =
            joinable
            ?? CardActivityBundle(
                id: add.eventID, cardID: add.cardID, actorID: add.actorID, openedAt: add.occurredAt, collectionIDs: [],
                hasLibraryEvent: false)
        if joinable == nil { insert(bundle) }
        if let collectionID = add.collectionID {
            if !bundle.collectionIDs.contains(where: { $0.utf8.elementsEqual(collectionID.utf8) }) {
                bundle.collectionIDs.append(collectionID)
            }
        } else {
            bundle.hasLibraryEvent = true
        }
        bundles[bundle.id] = bundle
        changed.insert(bundle.id)
    }

    /// A library removal: the (card, actor)'s pending bundles are dropped.
    mutating func removeFromLibrary(cardID: String, actorID: String) {
        let key = CardActorKey(cardID: cardID, actorID: actorID)
        for id in byKey[key] ?? [] {
            bundles[id] = nil
            changed.remove(id)
            if stored.contains(id) { dropped.insert(id) }
        }
        byKey[key] = nil
    }

    /// The bundles to write: new or changed.
    var written: [CardActivityBundle] {
        changed.compactMap { bundles[$0] }.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
    }
}
