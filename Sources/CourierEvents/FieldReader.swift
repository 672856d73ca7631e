#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension EventSchema {
    /// The longest id an event may carry, in UTF-8 bytes (`message_id` included).
    ///
    /// Ids are keys of btree indexes, whose entries Postgres caps at about 2,700 bytes (a third
    /// of a page; `54000` "index row size exceeds maximum" beyond). The widest entry is a pending
    /// bundle's `(card_id, actor_id)` in Courier's schema (two ids, ≈ 1,000 bytes); Semble's own
    /// indexes take one id each (`metadata->>'cardId'`, `actor_user_id`, `follows (target_id, …)`).
    /// 512 bytes leaves room, and keeps ids far from anything a real id needs. Ids may not contain
    /// control characters (U+0000–U+001F): nothing Semble makes has them, and Postgres text
    /// cannot hold U+0000.
    package static let maximumIDBytes = 512
}

/// Reads typed, validated fields out of an upcast body object, with errors that name the field.
///
/// **Values Postgres cannot hold are rejected here**, as `InvalidField` naming the field, so a
/// hostile value is parked at once instead of failing a transaction: no text field may contain
/// NUL (U+0000; Postgres `text` cannot hold it), and ids — index keys — are at most
/// ``EventSchema/maximumIDBytes`` UTF-8 bytes with no control character. Free text
/// (`collectionName`) is not indexed and has no bound of its own beyond the message size limit
/// (`courier.message.max.bytes`). The checks scan the UTF-8 bytes in place: they run for every
/// field of every event.
struct FieldReader {
    let object: [String: JSONValue]

    /// Any string (may be empty), as it is: for values a stricter reader parses (dates, enums).
    func string(_ name: String, expected: String = "a string") throws(EventDecodingError) -> String {
        guard let value = object[name] else { throw .missingField(name) }
        guard case .string(let string) = value else {
            throw .invalidField(name, "expected \(expected), got \(value.typeDescription)")
        }
        return string
    }

    /// Free text (may be empty) such as a collection name: anything but NUL.
    func text(_ name: String) throws(EventDecodingError) -> String {
        let value = try string(name)
        if let offset = value.utf8.firstIndex(of: 0) {
            throw .invalidField(name, "contains NUL (U+0000) at byte \(value.utf8.distance(from: value.utf8.startIndex, to: offset)), which Postgres text cannot hold")
        }
        return value
    }

    /// An identifier: a string that is neither empty nor only whitespace, at most
    /// ``EventSchema/maximumIDBytes`` bytes, without control characters.
    func id(_ name: String) throws(EventDecodingError) -> String {
        let value = try string(name, expected: "a non-empty id string")
        guard !Self.isBlank(value) else {
            throw .invalidField(name, "expected a non-empty id, got \(EventDecodingError.quoted(value))")
        }
        try Self.checkID(value, field: name)
        return value
    }

    /// Throws `invalidField` naming `field` when `value` is longer than
    /// ``EventSchema/maximumIDBytes`` or holds a control character (U+0000–U+001F).
    static func checkID(_ value: String, field: String) throws(EventDecodingError) {
        let utf8 = value.utf8
        guard utf8.count <= EventSchema.maximumIDBytes else {
            throw .invalidField(field, "an id of \(utf8.count) bytes; ids are at most \(EventSchema.maximumIDBytes) bytes (UTF-8)")
        }
        var offset = 0
        for byte in utf8 {
            if byte < 0x20 {
                let hex = String(byte, radix: 16, uppercase: true)
                throw .invalidField(
                    field, "contains the control character U+00\(byte < 0x10 ? "0" : "")\(hex) at byte \(offset); ids may not hold any")
            }
            offset += 1
        }
    }

    // MARK: Actors: DIDs, checked as Semble checks them
    //
    // Semble's consumer (`EventMapper.fromSerialized`, semble:src/shared/infrastructure/events/
    // EventMapper.ts) builds the actor of each event through a value object that validates it, and
    // fails the job otherwise. Courier applies exactly those checks, no more, so that it rejects
    // what Semble rejects and accepts what Semble accepts (beyond Courier's own id bounds, which
    // apply to every id: at most `maximumIDBytes`, no control character):
    // - `curatorId`, `addedBy`, `removedBy`, `authorId`: `CuratorId.create`
    //   (semble:src/modules/cards/domain/value-objects/CuratorId.ts) trims the string (JavaScript
    //   `trim()`), refuses it empty, and matches `/^did:(plc:[a-zA-Z0-9]+|web:[a-zA-Z0-9.%-]+)$/`;
    //   the trimmed value is what it keeps, so Courier keeps that too.
    // - `followerId`: `DID.create` (semble:src/modules/user/domain/value-objects/DID.ts) only
    //   requires the prefix `did:plc:` or `did:web:`, and keeps the value as it is.
    // - `targetId` (a DID for a USER follow, a collection id otherwise) is a plain string there:
    //   not checked. Nor are card, collection, connection and follow ids (not even as UUIDs).

    /// An actor that Semble holds as a `CuratorId`: a `did:plc:` or `did:web:` DID after trimming
    /// surrounding whitespace as JavaScript does; returns the trimmed DID.
    func curatorDID(_ name: String) throws(EventDecodingError) -> String {
        let raw = try string(name, expected: "a DID string")
        let value = Self.trimmedAsJavaScript(raw)
        guard Self.isCuratorDID(value) else {
            throw .invalidField(
                name,
                "expected a DID matching did:plc:[A-Za-z0-9]+ or did:web:[A-Za-z0-9.%-]+ "
                    + "(Semble's CuratorId), got \(EventDecodingError.quoted(raw))")
        }
        try Self.checkID(value, field: name)
        return value
    }

    /// An actor that Semble holds as a `DID`: an id starting with `did:plc:` or `did:web:`, kept as sent.
    func prefixedDID(_ name: String) throws(EventDecodingError) -> String {
        let value = try id(name)
        guard value.utf8.starts(with: "did:plc:".utf8) || value.utf8.starts(with: "did:web:".utf8) else {
            throw .invalidField(
                name, "expected a DID starting with 'did:plc:' or 'did:web:' (Semble's DID), got \(EventDecodingError.quoted(value))")
        }
        return value
    }

    /// `/^did:(plc:[a-zA-Z0-9]+|web:[a-zA-Z0-9.%-]+)$/`, Semble's `DID_REGEX` (ASCII classes; in
    /// JavaScript `$` without the `m` flag matches only at the very end).
    static func isCuratorDID(_ value: String) -> Bool {
        let utf8 = value.utf8
        let isAlphanumeric: (UInt8) -> Bool = { byte in
            (Ascii.zero...Ascii.nine).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
        }
        if utf8.starts(with: "did:plc:".utf8) {
            let rest = utf8.dropFirst(8)
            return !rest.isEmpty && rest.allSatisfy(isAlphanumeric)
        }
        if utf8.starts(with: "did:web:".utf8) {
            let rest = utf8.dropFirst(8)
            return !rest.isEmpty && rest.allSatisfy { isAlphanumeric($0) || $0 == Ascii.dot || $0 == 0x25 || $0 == Ascii.minus }
        }
        return false
    }

    /// `value` without the leading and trailing characters JavaScript's `String.prototype.trim`
    /// removes: WhiteSpace (TAB, VT, FF, U+FEFF and the `Zs` category, space and NBSP included)
    /// and LineTerminator (LF, CR, U+2028, U+2029). U+0085 is not among them.
    static func trimmedAsJavaScript(_ value: String) -> String {
        func isSpace(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.value {
            case 0x09...0x0D, 0xFEFF, 0x2028, 0x2029: true
            default: scalar.properties.generalCategory == .spaceSeparator
            }
        }
        return EventIdentity.trimmed(value, removing: isSpace) ?? ""
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
                cardId: try id("cardId"), curatorId: try curatorDID("curatorId"), addedAt: try date("addedAt")))
        case .cardAddedToCollection:
            .cardAddedToCollection(CardAddedToCollection(
                cardId: try id("cardId"), collectionId: try id("collectionId"),
                addedBy: try curatorDID("addedBy"), addedAt: try date("addedAt")))
        case .cardRemovedFromLibrary:
            .cardRemovedFromLibrary(CardRemovedFromLibrary(cardId: try id("cardId"), curatorId: try curatorDID("curatorId")))
        case .cardRemovedFromCollection:
            .cardRemovedFromCollection(CardRemovedFromCollection(
                cardId: try id("cardId"), collectionId: try id("collectionId"), removedBy: try curatorDID("removedBy")))
        case .collectionCreated:
            .collectionCreated(CollectionCreated(
                collectionId: try id("collectionId"), authorId: try curatorDID("authorId"),
                collectionName: try text("collectionName")))
        case .userFollowedTarget:
            .userFollowedTarget(UserFollowedTarget(
                followId: try id("followId"), followerId: try prefixedDID("followerId"), targetId: try id("targetId"),
                targetType: try targetType("targetType"), createdAt: try date("createdAt")))
        case .userUnfollowedTarget:
            .userUnfollowedTarget(UserUnfollowedTarget(
                followId: try id("followId"), followerId: try prefixedDID("followerId"), targetId: try id("targetId"),
                targetType: try targetType("targetType")))
        case .connectionCreated:
            .connectionCreated(ConnectionCreated(connectionId: try id("connectionId"), curatorId: try curatorDID("curatorId")))
        case .connectionRemoved:
            .connectionRemoved(ConnectionRemoved(connectionId: try id("connectionId"), curatorId: try curatorDID("curatorId")))
        }
    }

    /// Empty or only whitespace. The first byte settles the common case.
    static func isBlank(_ value: String) -> Bool {
        guard let first = value.utf8.first else { return true }
        if first < 0x80, first != Ascii.space, !(0x09...0x0D).contains(first) { return false }
        return value.unicodeScalars.allSatisfy(\.properties.isWhitespace)
    }
}
