// libFuzzer target: Semble event bodies and their delivery properties → EventDecoder.
// The harness is FuzzEvents.run (Tests/Fuzz/Harness); `make fuzz` builds and runs this with
// libFuzzer, the normal build is a replayer of corpus files (see FuzzDriver).
import CourierFuzz

// The fuzz build links all of libFuzzer, whose `main` (unused, see FuzzDriver) names this symbol.
// Exported there only: the normal build links both fuzz executables into FuzzCorpusTests.
#if COURIER_FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
#endif
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzEvents.run(FuzzDriver.bytes(data, size))
    return 0
}

FuzzDriver.main(name: "courier-fuzz-events", seeds: FuzzSeeds.events, target: testOneInput)
