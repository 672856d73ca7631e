/// Semble's checks on identifiers, as its value objects make them — for the decoder (an event's
/// actors) and for the handlers (recipients read from Semble's tables, DIDs named in URLs).
///
/// - `CuratorId.create` (semble:src/modules/cards/domain/value-objects/CuratorId.ts): trims the
///   string as JavaScript's `trim()` does, refuses it empty and matches
///   `/^did:(plc:[a-zA-Z0-9]+|web:[a-zA-Z0-9.%-]+)$/`; keeps the trimmed value. Every notification's
///   recipient and actor go through it (`CreateNotificationUseCase`, `NotificationService`).
/// - `DID.create` (semble:src/modules/user/domain/value-objects/DID.ts): only the prefix
///   `did:plc:` or `did:web:`; keeps the value as it is. Followers read from `follows` go through it.
/// - Card, collection and connection ids are UUIDs in Semble's tables; an id that is not one
///   finds nothing there (Semble's query fails, its handler gives up), so Courier looks up only
///   canonical UUIDs (``canonicalUUID(_:)``).
public enum SembleIdentifiers {
    /// The DID `value` is as a `CuratorId`, trimmed; nil when Semble refuses it.
    public static func curatorDID(_ value: String) -> String? {
        let trimmed = FieldReader.trimmedAsJavaScript(value)
        return FieldReader.isCuratorDID(trimmed) ? trimmed : nil
    }

    /// `value` trimmed as JavaScript's `String.prototype.trim` trims.
    public static func trimmedAsJavaScript(_ value: String) -> String {
        FieldReader.trimmedAsJavaScript(value)
    }

    /// Whether `value` passes Semble's `DID.create`: starts with `did:plc:` or `did:web:`.
    public static func hasDIDPrefix(_ value: String) -> Bool {
        value.utf8.starts(with: "did:plc:".utf8) || value.utf8.starts(with: "did:web:".utf8)
    }

    /// `value` as Postgres prints a `uuid` (lower case, 8-4-4-4-12) when it is a UUID written that
    /// way (either case); nil otherwise.
    public static func canonicalUUID(_ value: String) -> String? {
        let utf8 = Array(value.utf8)
        guard utf8.count == 36 else { return nil }
        var lowered = [UInt8]()
        lowered.reserveCapacity(36)
        for (index, byte) in utf8.enumerated() {
            switch index {
            case 8, 13, 18, 23:
                guard byte == UInt8(ascii: "-") else { return nil }
                lowered.append(byte)
            default:
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): lowered.append(byte)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): lowered.append(byte + 0x20)
                default: return nil
                }
            }
        }
        return String(decoding: lowered, as: UTF8.self)
    }
}
