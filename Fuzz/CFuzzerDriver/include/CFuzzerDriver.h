#ifndef SPILLWAY_C_FUZZER_DRIVER_H
#define SPILLWAY_C_FUZZER_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, -fsanitize=fuzzer), called from the fuzzer's own main:
/// SwiftPM gives every executable a renamed Swift entry point, so libFuzzer's main cannot be used.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
