/// A (card, actor) pair — what Semble locks, bundles and reuses activities by — compared by
/// bytes, as Postgres compares the text columns (Swift's `String` equality would also equate
/// canonically equivalent spellings that Postgres keeps apart).
struct CardActorKey: Hashable, Sendable {
    var cardID: [UInt8]
    var actorID: [UInt8]

    init(cardID: String, actorID: String) {
        self.cardID = Array(cardID.utf8)
        self.actorID = Array(actorID.utf8)
    }
}
