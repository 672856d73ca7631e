import CourierPostgres
import Foundation

/// Writes to Semble's `notifications`: the drafts of Semble's rules as rows, and Semble's
/// clean-ups (semble:src/modules/notifications/application/eventHandlers/*Cleanup*, the unfollow
/// and connection-removed handlers), each a set-based statement over a batch.
enum NotificationStore {
    /// Inserts the drafts: a random UUID each (as Semble; the inbox and the bundle table make each
    /// write happen once), `read = false`, `created_at = updated_at` = the database's clock.
    static func insert(_ drafts: [NotificationDraft], on db: isolated PostgresConnection) throws {
        guard !drafts.isEmpty else { return }
        try db.execute(
            prepared: """
            INSERT INTO notifications (id, recipient_user_id, actor_user_id, type, metadata, read, created_at, updated_at)
            SELECT id, recipient, actor, type,
                jsonb_strip_nulls(jsonb_build_object(
                    'cardId', card_id, 'collectionIds', to_jsonb(collection_ids::text[]), 'connectionId', connection_id,
                    'targetType', target_type, 'targetId', target_id)),
                false, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
            FROM unnest($1::text[]::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
                AS t(id, recipient, actor, type, card_id, collection_ids, connection_id, target_type, target_id)
            """,
            [
                drafts.map { _ in UUID().uuidString.lowercased() }, drafts.map(\.recipient), drafts.map(\.actor), drafts.map(\.type.rawValue),
                drafts.map(\.cardID), drafts.map { $0.collectionIDs.map { PostgresArrayLiteral.encode($0) } }, drafts.map(\.connectionID),
                drafts.map(\.targetType), drafts.map(\.targetID),
            ])
    }

    /// One of Semble's deletions of notifications.
    enum Cleanup: Sendable, Hashable {
        /// CardRemovedFromLibrary: every notification by the curator about the card.
        case libraryRemoval(actorID: String, cardID: String)
        /// CardRemovedFromCollection: USER_ADDED_TO_YOUR_COLLECTION and
        /// USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION about the card naming the collection, by anyone.
        case collectionRemoval(cardID: String, collectionID: String)
        /// UserUnfollowedTarget of a user: the follower's notifications to them with `targetType` USER.
        case userUnfollow(actorID: String, targetID: String)
        /// UserUnfollowedTarget of a collection: the follower's notifications with `targetType`
        /// COLLECTION and that `targetId`.
        case collectionUnfollow(actorID: String, targetID: String)
        /// ConnectionRemoved: the curator's notifications about the connection.
        case connectionRemoval(actorID: String, connectionID: String)

        static let collectionScopedTypes: Set<NotificationType> = [.userAddedToYourCollection, .userAddedCardToSubscribedCollection]

        /// The kinds, each one `DELETE` over the batch's keys (`k`).
        enum Kind: CaseIterable {
            case libraryRemoval, collectionRemoval, userUnfollow, collectionUnfollow, connectionRemoval

            var keyColumns: String {
                switch self {
                case .libraryRemoval: "actor_id, card_id"
                case .collectionRemoval: "card_id, collection_id"
                case .userUnfollow, .collectionUnfollow: "actor_id, target_id"
                case .connectionRemoval: "actor_id, connection_id"
                }
            }

            var condition: String {
                switch self {
                case .libraryRemoval:
                    "n.metadata->>'cardId' = k.card_id AND n.actor_user_id = k.actor_id"
                case .collectionRemoval:
                    """
                    n.metadata->>'cardId' = k.card_id
                        AND n.type IN ('USER_ADDED_TO_YOUR_COLLECTION', 'USER_ADDED_CARD_TO_SUBSCRIBED_COLLECTION')
                        AND jsonb_typeof(n.metadata->'collectionIds') = 'array'
                        AND n.metadata->'collectionIds' @> jsonb_build_array(k.collection_id)
                    """
                case .userUnfollow:
                    "n.actor_user_id = k.actor_id AND n.recipient_user_id = k.target_id AND n.metadata->>'targetType' = 'USER'"
                case .collectionUnfollow:
                    "n.actor_user_id = k.actor_id AND n.metadata->>'targetType' = 'COLLECTION' AND n.metadata->>'targetId' = k.target_id"
                case .connectionRemoval:
                    "n.actor_user_id = k.actor_id AND n.metadata->>'connectionId' = k.connection_id"
                }
            }
        }

        var kind: Kind {
            switch self {
            case .libraryRemoval: .libraryRemoval
            case .collectionRemoval: .collectionRemoval
            case .userUnfollow: .userUnfollow
            case .collectionUnfollow: .collectionUnfollow
            case .connectionRemoval: .connectionRemoval
            }
        }

        /// The two keys, in the order of ``Kind/keyColumns``.
        var keys: (String, String) {
            switch self {
            case .libraryRemoval(let actor, let card): (actor, card)
            case .collectionRemoval(let card, let collection): (card, collection)
            case .userUnfollow(let actor, let target), .collectionUnfollow(let actor, let target): (actor, target)
            case .connectionRemoval(let actor, let connection): (actor, connection)
            }
        }

        /// Whether the clean-up deletes `draft` (one made earlier in the same batch).
        func deletes(_ draft: NotificationDraft) -> Bool {
            func same(_ a: String?, _ b: String) -> Bool { a.map { $0.utf8.elementsEqual(b.utf8) } ?? false }
            switch self {
            case .libraryRemoval(let actor, let card):
                return same(draft.actor, actor) && same(draft.cardID, card)
            case .collectionRemoval(let card, let collection):
                return Self.collectionScopedTypes.contains(draft.type) && same(draft.cardID, card)
                    && (draft.collectionIDs ?? []).contains { $0.utf8.elementsEqual(collection.utf8) }
            case .userUnfollow(let actor, let target):
                return same(draft.actor, actor) && same(draft.targetType, "USER") && same(draft.recipient, target)
            case .collectionUnfollow(let actor, let target):
                return same(draft.actor, actor) && same(draft.targetType, "COLLECTION") && same(draft.targetID, target)
            case .connectionRemoval(let actor, let connection):
                return same(draft.actor, actor) && same(draft.connectionID, connection)
            }
        }
    }

    /// Runs the clean-ups on the rows already there: one statement per kind, through Semble's
    /// indexes on `actor_user_id` and `metadata->>'cardId'`.
    static func delete(_ cleanups: [Cleanup], on db: isolated PostgresConnection) throws {
        let byKind = Dictionary(grouping: cleanups, by: \.kind)
        for kind in Cleanup.Kind.allCases {
            guard let found = byKind[kind] else { continue }
            try db.execute(
                prepared: """
                DELETE FROM notifications n
                USING (SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) AS k(\(kind.keyColumns))) k
                WHERE \(kind.condition)
                """,
                [found.map(\.keys.0), found.map(\.keys.1)])
        }
    }
}
