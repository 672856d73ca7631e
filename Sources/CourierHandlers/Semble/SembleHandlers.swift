/// Semble's handlers, as courierd runs them: between them all nine event types (the
/// notifications handler takes every one; the feeds handler the three that make activities).
/// Bundles of card activity that the notifications handler opens are flushed by a
/// ``BundleFlusher`` running beside them.
package enum SembleHandlers {
    package static func make(settings: SembleSettings = .production) -> [any EventHandler] {
        [FeedsHandler(settings: settings), NotificationsHandler(settings: settings)]
    }

    /// With production settings: for what does not depend on them (the binding keys).
    package static let all: [any EventHandler] = make()
}
