/*
 * fuzz_run.c -- libFuzzer entry point of the fuzz_run target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_run: each input goes
 * to cis_fuzz_run (fuzz/harness.c), which the regression tests under
 * tests/fuzz/ call as well.
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cis_fuzz_run(data, size);
  return 0;
}
