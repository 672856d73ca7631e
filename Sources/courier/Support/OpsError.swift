/// An operation of `courier` that could not be done, with the code a script can act on.
///
/// Like ``CourierPostgres/PostgresError``: a struct with a ``Code`` and the context, never a
/// password (connection URLs are printed redacted by the modules that own them).
struct OpsError: Error, Sendable, CustomStringConvertible {
    struct Code: Sendable, Hashable, CustomStringConvertible {
        let name: String
        /// The process exit status `courier` uses for this code.
        let exitStatus: Int32
        init(_ name: String, exitStatus: Int32) {
            self.name = name
            self.exitStatus = exitStatus
        }
        var description: String { name }

        /// A command line or setting that cannot be used (also: a purge without confirmation).
        static let usage = Code("usage", exitStatus: 2)
        /// The broker or the database could not be reached.
        static let unavailable = Code("unavailable", exitStatus: 3)
        /// No message or failure with that id.
        static let notFound = Code("notFound", exitStatus: 4)
        /// Some of the work was not done (e.g. a replay the broker did not confirm); the rest was.
        static let incomplete = Code("incomplete", exitStatus: 1)
        /// What exists differs from what the configuration wants (`topology verify`).
        static let drift = Code("drift", exitStatus: 1)
        /// Stopped by SIGINT/SIGTERM after settling the message in hand.
        static let interrupted = Code("interrupted", exitStatus: 130)
        /// An input file line that is not an exported message.
        static let invalidInput = Code("invalidInput", exitStatus: 2)
    }

    var code: Code
    var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { message }
}
