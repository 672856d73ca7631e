// libFuzzer's driver, as the fuzz build links it (`-sanitize=fuzzer`). Only the harness imports
// this module, and only under COURIER_FUZZING: the normal build neither calls nor links it.
#ifndef COURIER_CLIBFUZZER_SHIM_H
#define COURIER_CLIBFUZZER_SHIM_H

#include <stddef.h>
#include <stdint.h>

// Runs libFuzzer with the process's arguments and `callback` as the target (LLVM >= 11). Used
// instead of libFuzzer's own `main`, because SwiftPM gives every executable target an entry point
// of its own (see Tests/Fuzz/Harness/FuzzDriver.swift).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
