/// What Semble's handlers take from Semble's environment, and the two windows of its rules.
///
/// | key | environment | meaning | default |
/// |---|---|---|---|
/// | `courier.semble.app.url` | `COURIER_SEMBLE_APP_URL` | Semble's web app (Semble's `APP_URL`): a card whose URL is `{app url}/profile/{did}/collections/{rkey}` names a Semble collection | `https://semble.so` |
/// | `courier.semble.collection.nsid` | `COURIER_SEMBLE_COLLECTION_NSID` | the record type of Semble's collections, in their AT-URIs (`network.cosmik.{env}.collection` outside production) | `network.cosmik.collection` |
///
/// (Read by `CourierConfiguration`, which checks them.)
package struct SembleSettings: Sendable, Hashable {
    /// Semble's web app, without a trailing `/`.
    package var appURL: String
    /// The NSID of Semble's collection records.
    package var collectionNSID: String
    /// A CARD_COLLECTED activity of the same (actor, card) created at most this long before an
    /// add's `dateTimeOccurred` takes the add in (Semble: 2 minutes before its worker's clock).
    package var activityReuseWindow: Duration
    /// An add joins the pending bundle of its (card, actor) whose opening add occurred at most this
    /// long before it (Semble: 3 s after the bundle opened, on its worker's clock); the bundle is
    /// flushed this long after it opened (on the database's clock).
    package var bundleWindow: Duration

    package static let production = SembleSettings(
        appURL: "https://semble.so", collectionNSID: "network.cosmik.collection",
        activityReuseWindow: .seconds(120), bundleWindow: .seconds(3))

    package init(appURL: String, collectionNSID: String, activityReuseWindow: Duration = .seconds(120), bundleWindow: Duration = .seconds(3)) {
        self.appURL = appURL
        self.collectionNSID = collectionNSID
        self.activityReuseWindow = activityReuseWindow
        self.bundleWindow = bundleWindow
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
