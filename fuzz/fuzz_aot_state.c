/*
 * fuzz_aot_state.c -- libFuzzer entry point of the fuzz_aot_state target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_aot_state: each
 * input is the content of a state file of the compile cache as `cis
 * cache list` reads it (src/aot/cache.c): a compile's lock file (its
 * state line: phase, process, start, units done of the total) and a
 * refusal record (KEY.refused: the bounds and the message), each parsed
 * from the same bytes, whole and at the sizes the listing reads. Seeds:
 * fuzz/aot_state/.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "aot/aot.h"
#include "cis/cis_aot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cis_cache_compile c;
  memset(&c, 0, sizeof c);
  size_t lock = size < 128 ? size : 128; /* a lock file's read */
  if (cis__aot_lock_line((const char *)data, lock, &c) &&
      (c.pid <= 0 || c.units_done > c.units || !memchr(c.state, 0, sizeof c.state)))
    __builtin_trap();
  uint64_t mem, cpu;
  char why[256];
  size_t rec = size < 512 ? size : 512; /* a refusal record's read */
  if (cis__aot_refusal_parse((const char *)data, rec, &mem, &cpu, why, sizeof why) &&
      !memchr(why, 0, sizeof why))
    __builtin_trap();
  cis__aot_refusal_parse((const char *)data, size, &mem, &cpu, why, 1);
  return 0;
}
