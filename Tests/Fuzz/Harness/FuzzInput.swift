/// The fuzzer's bytes, read front to back: a few bytes choose among realistic options, the rest is
/// the payload under test. Reading past the end gives zeros, so every input is usable and a short
/// input simply takes the first option everywhere.
package struct FuzzInput {
    package let bytes: [UInt8]
    package var position = 0

    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The next byte (0 past the end).
    package mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    /// One of `options`, chosen by the next byte.
    package mutating func choose<T>(_ options: [T]) -> T {
        options[Int(byte()) % options.count]
    }

    /// The next four bytes, big-endian.
    package mutating func uint32() -> UInt32 {
        (0..<4).reduce(0) { value, _ in value << 8 | UInt32(byte()) }
    }

    /// Everything not read yet.
    package mutating func rest() -> [UInt8] {
        defer { position = bytes.count }
        return position < bytes.count ? Array(bytes[position...]) : []
    }

    /// The next `count` bytes (fewer at the end).
    package mutating func take(_ count: Int) -> [UInt8] {
        let end = min(bytes.count, position + max(0, count))
        defer { position = max(position, end) }
        return position < end ? Array(bytes[position..<end]) : []
    }
}

/// A broken invariant: the harness stops the process the way libFuzzer records as a crash
/// (and the corpus replayer as a failure), naming what did not hold.
package func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("fuzz invariant: \(message())") }
}
