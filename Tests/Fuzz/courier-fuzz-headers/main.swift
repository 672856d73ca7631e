// libFuzzer target: AMQP header tables on the wire → FailureHeaders' readers, decide, the retry
// and dead-letter builders, and the wire again. The harness is FuzzHeaders.run
// (Tests/Fuzz/Harness); `make fuzz` builds and runs this with libFuzzer, the normal build is a
// replayer of corpus files (see FuzzDriver).
import CourierFuzz

// The fuzz build links all of libFuzzer, whose `main` (unused, see FuzzDriver) names this symbol.
// Exported there only: the normal build links both fuzz executables into FuzzCorpusTests.
#if COURIER_FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
#endif
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzHeaders.run(FuzzDriver.bytes(data, size))
    return 0
}

FuzzDriver.main(name: "courier-fuzz-headers", seeds: FuzzSeeds.headers, target: testOneInput)
