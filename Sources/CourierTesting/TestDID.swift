/// A `did:plc:` DID for tests, made of `parts` with everything but ASCII letters and digits
/// dropped. Courier's decoder checks actors as Semble does (`did:plc:[A-Za-z0-9]+`), so a
/// per-run name such as `alice` + `r_1a2b3c4d` (`TestEnvironment.uniqueName`) must become
/// `did:plc:alicer1a2b3c4d` before it is an actor of an event that is decoded.
package func testDID(_ parts: String...) -> String {
    let kept = parts.joined().unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }
    precondition(!kept.isEmpty, "a DID needs at least one letter or digit")
    return "did:plc:" + String(String.UnicodeScalarView(kept))
}
