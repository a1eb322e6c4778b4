/*
 * fuzz_decode.c -- libFuzzer entry point of the fuzz_decode target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_decode: each input goes
 * to cis_fuzz_decode (fuzz/harness.c), which the regression tests under
 * tests/fuzz/ call as well.
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cis_fuzz_decode(data, size);
  return 0;
}
