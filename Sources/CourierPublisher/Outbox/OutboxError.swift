import CourierPostgres

/// Why an event could not be written to the outbox. Thrown inside the caller's transaction, so
/// it rolls back with the domain change: nothing half-written.
public struct OutboxError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The envelope's id is not a UUID. Outbox events need one (it is the row's key and the
        /// message id): create envelopes with `EventEnvelope.outgoing(_:aggregateId:occurredAt:)`.
        public static let invalidEventID = Code("invalidEventID")
        /// The connection has no open transaction: the event would commit on its own, apart from
        /// the change it describes. Call it inside `withTransaction`.
        public static let notInTransaction = Code("notInTransaction")
        /// The database refused the insert (``OutboxError/underlying`` says why: a missing
        /// `event_store` table — run ``OutboxSchema`` — a duplicate id, a lost connection...).
        public static let databaseFailed = Code("databaseFailed")
        /// The schema given for the outbox is not a plain identifier (`[a-z_][a-z0-9_]*`).
        public static let invalidSchema = Code("invalidSchema")
    }

    public var code: Code
    public var message: String
    /// The event concerned, when one is.
    public var eventID: String?
    public var eventType: String?
    /// The database error, when one caused this (free of passwords).
    public var underlying: PostgresError?

    public init(code: Code, message: String, eventID: String? = nil, eventType: String? = nil, underlying: PostgresError? = nil) {
        self.code = code
        self.message = message
        self.eventID = eventID
        self.eventType = eventType
        self.underlying = underlying
    }

    public var description: String {
        var text = "outbox \(code)"
        if let eventType { text += " \(eventType)" }
        if let eventID { text += " (id \(eventID))" }
        text += ": \(message)"
        if let underlying { text += " — \(underlying)" }
        return text
    }
}
