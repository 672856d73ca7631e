/// The open ``PostgresConnection/listen(_:bufferingPolicy:)`` streams of a connection, by channel.
struct NotificationListeners {
    typealias Continuation = AsyncStream<PostgresNotification>.Continuation

    private var streams: [String: [Int: Continuation]] = [:]
    private var nextID = 0

    var isEmpty: Bool { streams.isEmpty }

    func isListening(to channel: String) -> Bool { streams[channel] != nil }

    /// Registers a stream; returns the ID to ``remove(channel:id:)`` it with.
    mutating func add(_ continuation: Continuation, channel: String) -> Int {
        nextID += 1
        streams[channel, default: [:]][nextID] = continuation
        return nextID
    }

    /// Unregisters a stream; returns whether it was the last one on `channel`.
    /// Removing a stream that is not registered (any more) does nothing and returns `false`.
    mutating func remove(channel: String, id: Int) -> Bool {
        guard streams[channel]?.removeValue(forKey: id) != nil else { return false }
        guard streams[channel]?.isEmpty == true else { return false }
        streams[channel] = nil
        return true
    }

    /// Hands `notification` to every stream listening on its channel.
    func deliver(_ notification: PostgresNotification) {
        guard let listening = streams[notification.channel] else { return }
        for continuation in listening.values { continuation.yield(notification) }
    }

    /// Finishes and unregisters every stream.
    mutating func finishAll() {
        let all = streams.values.flatMap(\.values)
        streams = [:]
        for continuation in all { continuation.finish() }
    }
}
