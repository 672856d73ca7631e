import Foundation
import Testing
@testable import CourierEvents

@Suite("SHA-256")
struct SHA256Tests {
    @Test("NIST vectors", arguments: [
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func vectors(_ message: String, _ digest: String) {
        #expect(hex(SHA256.hash(Array(message.utf8))) == digest)
    }

    @Test("NIST vector: one million 'a'")
    func millionA() {
        let digest = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        #expect(hex(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000))) == digest)
        // Fed in uneven pieces, the same.
        var hasher = SHA256()
        var remaining = 1_000_000
        var piece = 1
        while remaining > 0 {
            let count = min(piece, remaining)
            hasher.update([UInt8](repeating: 0x61, count: count))
            remaining -= count
            piece = piece * 3 % 257 + 1
        }
        #expect(hex(hasher.finalize()) == digest)
    }

    @Test("padding boundaries: incremental equals one-shot for lengths around a block", arguments: [55, 56, 57, 63, 64, 65, 119, 120, 128])
    func boundaries(_ length: Int) {
        let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var hasher = SHA256()
        for byte in message { hasher.update(CollectionOfOne(byte)) }
        #expect(hasher.finalize() == SHA256.hash(message))
    }

    func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

@Suite("Event identity")
struct IdentityTests {
    let body = sample(.cardAddedToLibrary).body.bytes

    @Test("message_id is the id when it is not blank; it is trimmed", arguments: [
        ("0f9e2c7a-1b2d-4e5f-8a9b-0c1d2e3f4a5b", "0f9e2c7a-1b2d-4e5f-8a9b-0c1d2e3f4a5b"),
        ("  abc \n", "abc"),
        ("x", "x"),
    ])
    func messageId(_ messageId: String, _ id: String) throws {
        #expect(try decode(body, messageId: messageId).id == id)
        #expect(EventIdentity.resolve(messageId: messageId, body: body, routingKey: "r") == id)
    }

    @Test("a missing or blank message_id → the derived id", arguments: [nil, "", "   ", "\t\n"] as [String?])
    func derivedWhenBlank(_ messageId: String?) throws {
        let envelope = try decode(body, messageId: messageId, routingKey: "CardAddedToLibraryEvent")
        #expect(envelope.id == EventIdentity.derived(body: body, routingKey: "CardAddedToLibraryEvent"))
    }

    @Test("known answer: SHA-256(routingKey ‖ 0x00 ‖ body), truncated, UUIDv8 bits")
    func knownAnswer() {
        // sha256("CardAddedToLibraryEvent\0{}") = 71708e59 ce34 8481 f2bf fbc55b251f22 2a66…
        // → version nibble 8 at byte 6 (84 → 84), variant 10xx at byte 8 (f2 → b2).
        let id = EventIdentity.derived(body: Array("{}".utf8), routingKey: "CardAddedToLibraryEvent")
        #expect(id == Self.expectedKnownAnswer)
    }

    /// Computed independently (Python hashlib).
    static let expectedKnownAnswer = "71708e59-ce34-8481-b2bf-fbc55b251f22"

    @Test("the derived id is a lower-case RFC 9562 UUIDv8", arguments: samples)
    func format(_ sample: Sample) {
        let id = EventIdentity.derived(body: sample.body.bytes, routingKey: sample.type.rawValue)
        let characters = Array(id)
        #expect(characters.count == 36)
        #expect([8, 13, 18, 23].allSatisfy { characters[$0] == "-" })
        #expect(characters.enumerated().allSatisfy { [8, 13, 18, 23].contains($0.offset) || "0123456789abcdef".contains($0.element) })
        #expect(characters[14] == "8")
        #expect("89ab".contains(characters[19]))
        #expect(UUID(uuidString: id) != nil)
    }

    @Test("same bytes → same id; one byte different → different id")
    func determinism() {
        let a = EventIdentity.derived(body: body, routingKey: "CardAddedToLibraryEvent")
        #expect(EventIdentity.derived(body: Array(body), routingKey: "CardAddedToLibraryEvent") == a)
        var ids: Set<String> = [a]
        for index in body.indices {
            var changed = body
            changed[index] ^= 0x01
            ids.insert(EventIdentity.derived(body: changed, routingKey: "CardAddedToLibraryEvent"))
        }
        #expect(ids.count == body.count + 1)
        #expect(EventIdentity.derived(body: body + [0x20], routingKey: "CardAddedToLibraryEvent") != a)
    }

    @Test("the routing key is part of the identity, separated from the body")
    func routingKeyMatters() {
        let a = EventIdentity.derived(body: body, routingKey: "CardAddedToLibraryEvent")
        #expect(EventIdentity.derived(body: body, routingKey: "USER_FOLLOWED_TARGET") != a)
        #expect(EventIdentity.derived(body: body, routingKey: nil) == EventIdentity.derived(body: body, routingKey: ""))
        #expect(EventIdentity.derived(body: body, routingKey: nil) != a)
        // "ab" + "c" and "a" + "bc" must not collide.
        #expect(EventIdentity.derived(body: Array("c".utf8), routingKey: "ab")
            != EventIdentity.derived(body: Array("bc".utf8), routingKey: "a"))
    }

    @Test("redelivery of a message without message_id decodes to an equal envelope")
    func redelivery() throws {
        let first = try decode(body, messageId: nil, routingKey: "CardAddedToLibraryEvent")
        let second = try decode(body, messageId: nil, routingKey: "CardAddedToLibraryEvent")
        #expect(first == second)
    }
}
