/*
 * fuzz_run.c -- libFuzzer entry point of the fuzz_run target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_run: each input goes
 * to cis_fuzz_run (fuzz/harness.c), which the regression tests under
 * tests/fuzz/ call as well.
 */
#include <stdlib.h>

#include "harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A GC collection at every allocation that may have one (unless
 * CIS_GC_STRESS is set otherwise): a root the engine misses frees an
 * object still in use, which the sanitizers report. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  setenv("CIS_GC_STRESS", "1", 0);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cis_fuzz_run(data, size);
  return 0;
}
