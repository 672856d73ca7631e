import CourierFuzz
import CourierTesting
import Foundation
import Testing

/// The committed seed corpus of every fuzz target, replayed through the target's harness: an input
/// that once crashed, committed under `Tests/Fuzz/Corpus/<target>/`, stays a regression test here.
///
/// Each input runs in the normal build of the fuzz executable (its corpus replayer), one process
/// per input, so an input that traps fails its own test instead of ending the test run.
@Suite("Fuzz corpus")
struct FuzzCorpusTests {
    static let targets = ["courier-fuzz-events", "courier-fuzz-headers"]

    /// Tests/Fuzz/Corpus, found from this file.
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Corpus")

    struct Input: Sendable, CustomTestStringConvertible {
        var target: String
        var file: String
        var testDescription: String { "\(target)/\(file)" }
    }

    static func files(of target: String) -> [String] {
        let directory = corpus.appendingPathComponent(target).path
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    static let inputs: [Input] = targets.flatMap { target in files(of: target).map { Input(target: target, file: $0) } }

    // Tagged integration (not run by `make unit`): one process per input, 97 of them.
    @Test("every corpus input runs through its target without a crash", .tags(.integration), arguments: inputs)
    func replay(_ input: Input) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestEnvironment.productPath(input.target))
        process.arguments = [Self.corpus.appendingPathComponent(input.target).appendingPathComponent(input.file).path]
        var environment = ProcessInfo.processInfo.environment
        // A trap prints where it happened: the crashed thread's frames only, so it takes a moment.
        environment["SWIFT_BACKTRACE"] = "enable=yes,interactive=no,threads=crashed,registers=none,images=none,limit=16,top=0"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(
            process.terminationReason == .exit && process.terminationStatus == 0,
            """
            \(input.testDescription) failed in the harness (\(process.terminationReason == .exit ? "exit" : "signal") \(process.terminationStatus)):
            \(text.suffix(6000))
            """)
    }

    @Test("the committed seeds are the generated ones (plus crash inputs kept as regressions)", arguments: targets)
    func seedsUpToDate(_ target: String) throws {
        let seeds = target == "courier-fuzz-events" ? FuzzSeeds.events() : FuzzSeeds.headers()
        let directory = Self.corpus.appendingPathComponent(target)
        for seed in seeds {
            let committed = FileManager.default.contents(atPath: directory.appendingPathComponent(seed.name).path)
            #expect(
                committed.map(Array.init) == seed.bytes,
                "\(target)/\(seed.name) differs from FuzzSeeds: run `swift run \(target) --write-seeds Tests/Fuzz/Corpus/\(target)`")
        }
        let generated = Set(seeds.map(\.name))
        for file in Self.files(of: target) where !generated.contains(file) {
            #expect(file.hasPrefix("crash-"), "\(target)/\(file) is neither a generated seed nor a crash-* regression input")
        }
        #expect(Set(seeds.map(\.name)).count == seeds.count, "two seeds share a name")
    }
}
