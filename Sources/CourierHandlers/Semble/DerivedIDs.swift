/// Deterministic ids and natural keys, as SQL expressions.
///
/// A derived row's id is a function of what the row *is*, never random: the MD5 of a name read
/// as a UUID (`md5(name)::uuid`). So recomputing a row, or applying its events again, finds the
/// same row instead of making a second one. Names are JSON arrays (`jsonb_build_array(...)`),
/// which cannot be ambiguous whatever characters the ids hold (DIDs and AT-URIs contain `:`
/// and `/`).
enum DerivedIDs {
    /// A CARD_COLLECTED activity: named after the event that opened it.
    static func cardCollectedActivity(openingEventID: String) -> String {
        "md5(jsonb_build_array('CARD_COLLECTED', (\(openingEventID))::text)::text)::uuid"
    }

    /// A CONNECTION_CREATED activity: one per connection.
    static func connectionActivity(connectionID: String) -> String {
        "md5(jsonb_build_array('CONNECTION_CREATED', (\(connectionID))::text)::text)::uuid"
    }

    /// A notification's subject (`notification_keys.subject`): the ids it is about, as a JSON array.
    static func subject(_ ids: String...) -> String {
        "jsonb_build_array(\(ids.map { "(\($0))::text" }.joined(separator: ", ")))::text"
    }

    /// A notification: named after its natural key `(type, recipient, subject)`, which the ledger
    /// `notification_keys` holds (Semble's `notifications` has no column for it).
    static func notification(type: String, recipient: String, subject: String) -> String {
        "md5(jsonb_build_array('notification', (\(type))::text, (\(recipient))::text, (\(subject))::text)::text)::uuid"
    }
}
