#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads typed, validated fields out of an upcast body object, with errors that name the field.
struct FieldReader {
    let object: [String: JSONValue]

    /// Any string (may be empty): free text such as a collection name.
    func string(_ name: String, expected: String = "a string") throws(EventDecodingError) -> String {
        guard let value = object[name] else { throw .missingField(name) }
        guard case .string(let string) = value else {
            throw .invalidField(name, "expected \(expected), got \(value.typeDescription)")
        }
        return string
    }

    /// An identifier: a string that is neither empty nor only whitespace.
    func id(_ name: String) throws(EventDecodingError) -> String {
        let value = try string(name, expected: "a non-empty id string")
        guard !Self.isBlank(value) else {
            throw .invalidField(name, "expected a non-empty id, got \(EventDecodingError.quoted(value))")
        }
        return value
    }

    /// An RFC 3339 date-time (see `EventTimestamp`).
    func date(_ name: String) throws(EventDecodingError) -> Date {
        let text = try string(name, expected: "an ISO-8601 date string")
        do throws(EventTimestamp.ParseError) {
            return EventTimestamp.date(fromMicroseconds: try EventTimestamp.parseMicroseconds(text))
        } catch {
            throw .invalidField(name, "not an ISO-8601 date: \(EventDecodingError.quoted(text)) (\(error.reason))")
        }
    }

    /// `USER` or `COLLECTION`, exactly.
    func targetType(_ name: String) throws(EventDecodingError) -> FollowTargetType {
        let text = try string(name, expected: "\"USER\" or \"COLLECTION\"")
        guard let type = FollowTargetType(rawValue: text) else {
            throw .invalidField(name, "expected \"USER\" or \"COLLECTION\", got \(EventDecodingError.quoted(text))")
        }
        return type
    }

    /// The typed event, its fields read in the order of the specification's table.
    func event(of type: EventType) throws(EventDecodingError) -> SembleEvent {
        switch type {
        case .cardAddedToLibrary:
            .cardAddedToLibrary(CardAddedToLibrary(
                cardId: try id("cardId"), curatorId: try id("curatorId"), addedAt: try date("addedAt")))
        case .cardAddedToCollection:
            .cardAddedToCollection(CardAddedToCollection(
                cardId: try id("cardId"), collectionId: try id("collectionId"),
                addedBy: try id("addedBy"), addedAt: try date("addedAt")))
        case .cardRemovedFromLibrary:
            .cardRemovedFromLibrary(CardRemovedFromLibrary(cardId: try id("cardId"), curatorId: try id("curatorId")))
        case .cardRemovedFromCollection:
            .cardRemovedFromCollection(CardRemovedFromCollection(
                cardId: try id("cardId"), collectionId: try id("collectionId"), removedBy: try id("removedBy")))
        case .collectionCreated:
            .collectionCreated(CollectionCreated(
                collectionId: try id("collectionId"), authorId: try id("authorId"),
                collectionName: try string("collectionName")))
        case .userFollowedTarget:
            .userFollowedTarget(UserFollowedTarget(
                followId: try id("followId"), followerId: try id("followerId"), targetId: try id("targetId"),
                targetType: try targetType("targetType"), createdAt: try date("createdAt")))
        case .userUnfollowedTarget:
            .userUnfollowedTarget(UserUnfollowedTarget(
                followId: try id("followId"), followerId: try id("followerId"), targetId: try id("targetId"),
                targetType: try targetType("targetType")))
        case .connectionCreated:
            .connectionCreated(ConnectionCreated(connectionId: try id("connectionId"), curatorId: try id("curatorId")))
        case .connectionRemoved:
            .connectionRemoved(ConnectionRemoved(connectionId: try id("connectionId"), curatorId: try id("curatorId")))
        }
    }

    /// Empty or only whitespace. The first byte settles the common case.
    static func isBlank(_ value: String) -> Bool {
        guard let first = value.utf8.first else { return true }
        if first < 0x80, first != Ascii.space, !(0x09...0x0D).contains(first) { return false }
        return value.unicodeScalars.allSatisfy(\.properties.isWhitespace)
    }
}
