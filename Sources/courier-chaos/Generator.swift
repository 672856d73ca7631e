import CourierEvents
import CourierTesting
import CourierWorkloads
import Foundation

/// The chaos suite's event stream: a deterministic function of (seed, count) over the rows of a
/// ``RealisticSembleState`` sized for the count, so the clean run and the chaos run write exactly
/// the same events (ids included) and the poison.
///
/// **Order-free by construction.** Semble's rules depend on the order events are handled in (a
/// card add reuses the actor's activity on the card within 2 minutes; adds of one (card, actor)
/// join a pending bundle within 3 s; clean-ups delete what exists when they run). Competing
/// consumers, redeliveries and restarts reorder events, so the stream avoids every rule that could
/// tell: each (card, actor) is added once (to the library *or* to one collection), each follow
/// (follower, target, type) once, each connection and collection created once, and nothing is
/// removed. Semble's state tables (which courierd only reads) never change during a run. Then the
/// final tables are a function of the *set* of events, which is what lets a clean run be the oracle.
///
/// Mix: about half library adds (mostly a card by its author, one in 20 a card not in `cards`),
/// a fifth collection adds (a URL card by its author, to one of their collections or another
/// author's OPEN one), 15 % follows (half a seeded `follows` row, half a pair `follows` does not
/// hold), connections and collections created. `occurredAt` = `addedAt` = start + 10 ms per event.
struct ChaosStream: Sendable {
    /// One outbox row to write: a valid event (through `Outbox.enqueue`) or a poison row (written
    /// straight into `event_store`).
    enum Item: Sendable {
        case event(EventEnvelope)
        case poison(Poison)

        var id: String {
            switch self {
            case .event(let envelope): envelope.id
            case .poison(let poison): poison.id
            }
        }
    }

    /// A row the handlers must refuse for good, so courierd parks it in `events_<app>.dlq`.
    struct Poison: Sendable {
        var id: String
        var aggregateId: String
        var eventType: String
        var data: String
        var version: Int
        var occurredAt: Date
        /// What makes it poison (for the report).
        var kind: String
    }

    var items: [Item]
    var events: Int
    var poison: [Poison]
    /// (handler, event) pairs the inbox must hold at the end: each valid event once per handler
    /// that takes its type.
    var expectedInboxRows: Int
    var mix: [EventType: Int]

    /// The state the events refer to, sized for `events` (both runs seed the same).
    static func state(events: Int) -> RealisticSembleState {
        var state = RealisticSembleState()
        // Enough distinct (card, author) pairs, connections and collections for the unique adds
        // and creations of a long stream (defaults: the benchmark's state).
        state.cards = max(20_000, events / 2)
        state.urls = max(6_000, state.cards * 3 / 10)
        state.connections = max(2_000, events / 15)
        state.collections = max(500, events / 100)
        return state
    }

    static func make(events count: Int, poison poisonCount: Int, seed: UInt64, catalog state: SembleStateCatalog, handledBy handlers: [Set<EventType>])
        -> ChaosStream
    {
        var random = SplitMix64(seed: seed ^ 0xC4A0_5C4A_05C4_A05C)
        func pick(below bound: Int) -> Int { random.next(below: bound) }
        func uuid() -> String { Self.uuid(&random) }
        let start = Date(timeIntervalSince1970: 1_795_000_000)

        var usedPairs = Set<String>()  // "card|actor": added once, to the library or one collection
        var usedFollows = Set<String>()
        var connectionOrder = Array(state.connections.indices)
        var collectionOrder = Array(state.collections.indices)
        connectionOrder.shuffle(using: &random)
        collectionOrder.shuffle(using: &random)
        let urlCards = state.cards.indices.filter { state.cards[$0].isURL }

        func collection(for actor: Int) -> Int { state.randomCollection(for: actor) { pick(below: $0) } }

        var valid: [EventEnvelope] = []
        valid.reserveCapacity(count)
        var mix: [EventType: Int] = [:]
        for i in 0..<count {
            let at = start.addingTimeInterval(Double(i) * 0.01)
            let id = uuid()
            func emit(_ event: SembleEvent, _ aggregate: String) {
                valid.append(EventEnvelope(id: id, aggregateId: aggregate, occurredAt: at, schemaVersion: EventSchema.currentVersion, event: event))
                mix[event.type, default: 0] += 1
            }
            func libraryAdd() {
                var card: String? = nil
                var actor = 0
                if pick(below: 20) > 0 {
                    for _ in 0..<8 {
                        let k = pick(below: state.cards.count)
                        // Mostly the card's author; sometimes another user adding it.
                        let who = pick(below: 5) > 0 ? state.cards[k].author : pick(below: state.users)
                        if usedPairs.insert("\(state.cards[k].id)|\(who)").inserted {
                            card = state.cards[k].id
                            actor = who
                            break
                        }
                    }
                }
                if card == nil {  // a card not in `cards` (deleted since): a fresh id, so a fresh pair
                    card = uuid()
                    actor = pick(below: state.users)
                }
                emit(.cardAddedToLibrary(.init(cardId: card!, curatorId: state.did(actor), addedAt: at)), card!)
            }
            func collectionAdd() {
                for _ in 0..<8 {
                    let k = urlCards[pick(below: urlCards.count)]
                    let actor = state.cards[k].author
                    if usedPairs.insert("\(state.cards[k].id)|\(actor)").inserted {
                        let c = state.collections[collection(for: actor)].id
                        emit(.cardAddedToCollection(.init(cardId: state.cards[k].id, collectionId: c, addedBy: state.did(actor), addedAt: at)), c)
                        return
                    }
                }
                libraryAdd()
            }
            func follow() {
                for _ in 0..<8 {
                    let follow = state.randomFollow { pick(below: $0) }
                    guard usedFollows.insert("\(follow.follower)|\(follow.target)|\(follow.toCollection)").inserted else { continue }
                    let followId = uuid()
                    emit(
                        .userFollowedTarget(.init(
                            followId: followId, followerId: state.did(follow.follower), targetId: follow.target,
                            targetType: follow.toCollection ? .collection : .user, createdAt: at)),
                        followId)
                    return
                }
                libraryAdd()
            }

            switch pick(below: 100) {
            case 0..<50: libraryAdd()
            case 50..<70: collectionAdd()
            case 70..<85: follow()
            case 85..<95:
                if let x = connectionOrder.popLast() {
                    let connection = state.connections[x]
                    emit(.connectionCreated(.init(connectionId: connection.id, curatorId: state.did(connection.curator))), connection.id)
                } else {
                    libraryAdd()
                }
            default:
                if let c = collectionOrder.popLast() {
                    let collection = state.collections[c]
                    emit(
                        .collectionCreated(.init(collectionId: collection.id, authorId: state.did(collection.author), collectionName: "Collection \(c)")),
                        collection.id)
                } else {
                    libraryAdd()
                }
            }
        }

        // The poison: spread over the stream, each refused for good by the handlers' codec.
        let encoder = EventEncoder()
        var poison: [Poison] = []
        var items: [Item] = []
        items.reserveCapacity(count + poisonCount)
        var poisonAt: [Int: Int] = [:]
        for p in 0..<poisonCount {
            let slot = count / max(poisonCount, 1)
            poisonAt[min(count, p * slot + pick(below: max(slot, 1))), default: 0] += 1
        }
        for i in 0...count {
            for _ in 0..<(poisonAt[i] ?? 0) {
                let base = valid.isEmpty ? nil : valid[min(i, valid.count - 1)]
                let card = uuid()
                let envelope = EventEnvelope(
                    id: uuid(), aggregateId: card, occurredAt: base?.occurredAt ?? start, schemaVersion: EventSchema.currentVersion,
                    event: .cardAddedToLibrary(.init(cardId: card, curatorId: state.did(pick(below: state.users)), addedAt: base?.occurredAt ?? start)))
                var body = (try? JSONSerialization.jsonObject(with: Data(encoder.encode(envelope)))) as? [String: Any] ?? [:]
                var version = EventSchema.currentVersion
                let kind: String
                switch poison.count % 3 {
                case 0:
                    body["addedAt"] = "yesterday"
                    kind = "InvalidField addedAt"
                case 1:
                    body["curatorId"] = "not-a-did"
                    kind = "InvalidField curatorId"
                default:
                    version = 99
                    kind = "UnsupportedSchemaVersion 99"
                }
                let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                let row = Poison(
                    id: envelope.id, aggregateId: card, eventType: envelope.type.rawValue, data: data, version: version,
                    occurredAt: envelope.occurredAt, kind: kind)
                poison.append(row)
                items.append(.poison(row))
            }
            if i < count { items.append(.event(valid[i])) }
        }
        let expected = valid.reduce(0) { total, event in total + handlers.filter { $0.contains(event.type) }.count }
        return ChaosStream(items: items, events: count, poison: poison, expectedInboxRows: expected, mix: mix)
    }

    /// A version-4 UUID from the generator (lower-case, as `Outbox` stores ids).
    static func uuid(_ random: inout SplitMix64) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        for half in 0..<2 {
            var word = random.next()
            for b in 0..<8 {
                bytes[half * 8 + b] = UInt8(truncatingIfNeeded: word)
                word >>= 8
            }
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        let h = Array(hex)
        return [h[0..<8], h[8..<12], h[12..<16], h[16..<20], h[20..<32]].map { String($0) }.joined(separator: "-")
    }
}
