import Testing

@testable import CourierAMQP

@Suite("StringInterner")
struct StringInternerTests {
    private func bytes(_ text: String, _ body: (UnsafeRawBufferPointer) -> Void) {
        Array(text.utf8).withUnsafeBytes(body)
    }

    @Test("same bytes give the same text; new bytes replace the slot; fields do not mix")
    func interning() {
        var interner = StringInterner()
        var seen: [String] = []
        for text in ["application/json", "application/json", "text/plain", "application/json", ""] {
            bytes(text) { seen.append(interner.string($0, .contentType)) }
        }
        #expect(seen == ["application/json", "application/json", "text/plain", "application/json", ""])
        bytes("CardAddedToLibraryEvent") { #expect(interner.string($0, .type) == "CardAddedToLibraryEvent") }
        bytes("application/json") { #expect(interner.string($0, .type) == "application/json") }
        bytes("héllo ✓") { #expect(interner.string($0, .routingKey) == "héllo ✓") }
        // Same length, other bytes: never the remembered text.
        bytes("events_aaa") { #expect(interner.string($0, .routingKey) == "events_aaa") }
        bytes("events_aab") { #expect(interner.string($0, .routingKey) == "events_aab") }
        bytes("events_aab") { #expect(interner.string($0, .routingKey) == "events_aab") }
    }
}
