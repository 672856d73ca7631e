import Foundation

#if COURIER_FUZZING
import CLibFuzzer
#endif

/// The entry point of a fuzz executable, the same code in both builds.
///
/// **Fuzz build** (`make fuzz`: `-DCOURIER_FUZZING -sanitize=fuzzer,address`): hands the process's
/// arguments and the target to libFuzzer's driver (`LLVMFuzzerRunDriver`), so every libFuzzer
/// flag works (`-max_total_time=60 CORPUS_DIR`, `-runs=0 crash-…`). libFuzzer's own `main` is
/// linked but never runs: SwiftPM links every executable with `--defsym main=<module>_main`, the
/// entry point swiftc emits for `main.swift` (with `-parse-as-library` there is none and the link
/// fails; and under it, top-level code is rejected even in an inactive `#if`). So the top-level code
/// of each `main.swift` runs in both builds and calls the driver here.
///
/// **Normal build** (`swift build`): a corpus replayer. Each argument is a file or a directory
/// (read recursively) of inputs, each run once through the target; flags starting with `-` are
/// ignored, so a libFuzzer command line replays too. A trap names the input on standard error
/// first. `--write-seeds DIR` writes the generated seed corpus (`FuzzSeeds`) into DIR.
package enum FuzzDriver {
    /// The target: one input in, 0 out (libFuzzer's `LLVMFuzzerTestOneInput` signature).
    package typealias Target = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

    /// Runs `target` as described above and exits.
    package static func main(name: String, seeds: () -> [FuzzSeed], target: Target) -> Never {
        #if COURIER_FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, target))
        #else
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--write-seeds", arguments.count == 2 {
            let directory = URL(fileURLWithPath: arguments[1], isDirectory: true)
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                for seed in seeds() {
                    try Data(seed.bytes).write(to: directory.appendingPathComponent(seed.name))
                }
            } catch {
                fail("\(name): \(error)")
            }
            exit(0)
        }
        arguments.removeAll { $0.hasPrefix("-") }
        guard !arguments.isEmpty else {
            fail(
                """
                usage: \(name) FILE|DIR...        run each input once (the corpus replayer of the normal build)
                       \(name) --write-seeds DIR  write the generated seed corpus
                The fuzzer itself is the build of `make fuzz` (.build-fuzz/debug/\(name)).
                """)
        }
        var count = 0
        for path in arguments {
            let files: [String]
            do {
                files = try inputs(at: path)
            } catch {
                fail("\(name): \(path): \(error)")
            }
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { fail("\(name): cannot read \(file)") }
                FileHandle.standardError.write(Data("\(name): running \(file)\n".utf8))
                replay(Array(data), through: target)
                count += 1
            }
        }
        FileHandle.standardError.write(Data("\(name): \(count) input(s) ran without a crash\n".utf8))
        exit(0)
        #endif
    }

    /// The bytes libFuzzer hands over, as an array (empty for a null pointer).
    package static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// Runs one input through `target` the way libFuzzer would.
    package static func replay(_ input: [UInt8], through target: Target) {
        _ = input.withUnsafeBufferPointer { target($0.baseAddress, $0.count) }
    }

    /// The files at `path`: itself, or the regular files under it (sorted, hidden ones skipped).
    static func inputs(at path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CocoaError(.fileNoSuchFile)
        }
        guard isDirectory.boolValue else { return [path] }
        var files: [String] = []
        for relative in try FileManager.default.subpathsOfDirectory(atPath: path).sorted() {
            let full = (path as NSString).appendingPathComponent(relative)
            let name = (relative as NSString).lastPathComponent
            var isSubdirectory: ObjCBool = false
            if !name.hasPrefix("."), FileManager.default.fileExists(atPath: full, isDirectory: &isSubdirectory), !isSubdirectory.boolValue {
                files.append(full)
            }
        }
        return files
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(2)
    }
}

/// One file of a seed corpus: its name in `Tests/Fuzz/Corpus/<target>/` and its bytes.
package struct FuzzSeed: Sendable, Equatable {
    package var name: String
    package var bytes: [UInt8]

    package init(_ name: String, _ bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
}
