/// Semble's handlers, as courierd runs them. Between them they take all nine event types
/// (the notifications handler alone takes every one; the feeds handler five).
public enum SembleHandlers {
    public static let all: [any EventHandler] = [FeedsHandler(), NotificationsHandler()]
}
