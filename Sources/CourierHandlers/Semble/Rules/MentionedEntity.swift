import CourierEvents

/// What a card's or a connection's URL names, as Semble's `NotificationUrlParser`
/// (semble:src/modules/notifications/application/services/NotificationUrlParser.ts) reads it:
/// - `https://bsky.app/profile/{h}/post/{id}` or `https://blacksky.community/profile/{h}/post/{id}`:
///   a Bluesky post of `{h}`;
/// - `{app url}/profile/{h}/collections/{rkey}`: a Semble collection of `{h}`, whose record is
///   `at://{did}/{collection NSID}/{rkey}`.
///
/// Semble's patterns are anchored regular expressions whose parts are `([^/]+)`: the whole URL,
/// byte for byte (no normalisation), each part non-empty and free of `/` — so a query string
/// without `/` stays part of the last one (`…/post/3kabc?ref=share` is post `3kabc?ref=share`).
/// `{h}` is a DID or a handle; Semble resolves a handle over the network. Courier does not (no
/// network lookups in a handler): a handle resolves to nothing, so those URLs notify nobody.
enum MentionedEntity: Hashable, Sendable {
    case blueskyPost(handleOrDID: String, postID: String)
    case sembleCollection(handleOrDID: String, rkey: String)

    /// The entity `url` names, or nil (Semble's `extractMentionedEntityFromUrl`: Bluesky, then
    /// Blacksky, then the Semble collection pattern).
    static func parse(_ url: String, appURL: String) -> MentionedEntity? {
        for host in ["https://bsky.app/profile/", "https://blacksky.community/profile/"] {
            if let parts = parts(of: url, after: host), parts.count == 3, parts[1] == "post" {
                return .blueskyPost(handleOrDID: parts[0], postID: parts[2])
            }
        }
        if let parts = parts(of: url, after: appURL + "/profile/"), parts.count == 3, parts[1] == "collections" {
            return .sembleCollection(handleOrDID: parts[0], rkey: parts[2])
        }
        return nil
    }

    /// The `/`-separated parts of what follows `prefix` in `url` (compared byte for byte), each
    /// non-empty; nil when `url` does not start with `prefix` or a part is empty.
    private static func parts(of url: String, after prefix: String) -> [String]? {
        let bytes = Array(url.utf8)
        let head = Array(prefix.utf8)
        guard bytes.count > head.count, bytes.starts(with: head) else { return nil }
        let parts = bytes[head.count...].split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        return parts.map { String(decoding: $0, as: UTF8.self) }
    }

    /// The DID `{h}` names without a network lookup: `{h}` itself when it is a DID Semble accepts
    /// (`DIDOrHandle.create`: trimmed, then semble:src/modules/atproto/domain/DID.ts, the full
    /// `did:(plc:[a-zA-Z0-9]+|web:[a-zA-Z0-9.%-]+)` pattern), nil for a handle (Semble would
    /// resolve it over the network) or anything else.
    static func did(of handleOrDID: String) -> String? {
        SembleIdentifiers.curatorDID(handleOrDID)
    }

    /// The DID of the author `{h}`.
    var authorDID: String? {
        switch self {
        case .blueskyPost(let handleOrDID, _), .sembleCollection(let handleOrDID, _): Self.did(of: handleOrDID)
        }
    }

    /// The AT-URI of the Semble collection's record (nil for a post, or when `{h}` is a handle).
    func collectionURI(nsid: String) -> String? {
        guard case .sembleCollection(_, let rkey) = self, let did = authorDID else { return nil }
        return "at://\(did)/\(nsid)/\(rkey)"
    }
}
