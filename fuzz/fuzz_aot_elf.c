/*
 * fuzz_aot_elf.c -- libFuzzer entry point of the fuzz_aot_elf target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_aot_elf: each input
 * is a compiled object's bytes (a cache entry's object, after its checksum)
 * for the compiled tier's own loader (src/aot/elf.c): its headers are read
 * into a plan, with the input cut at a few lengths and limits, and the
 * dynamic table the plan names is checked. Nothing is mapped. Seeds:
 * objects from a cache (the entries of $CIS_HOME/cache, whose objects
 * come first).
 */
#include <stddef.h>
#include <stdint.h>

#include "aot/elf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint64_t pages[] = {4096, 16384, 65536};
  for (int i = 0; i < 3; i++) {
    cis__aot_elf_plan plan;
    int mappable = 0;
    size_t head = size < 4096 ? size : 4096; /* what a load's first read holds */
    cis_result rc = cis__aot_elf_read(data, head, size, pages[i], size - size / (i + 2), &plan,
                                      &mappable);
    if (rc == CIS_OK && plan.dyn_off <= size && plan.dyn_size <= size - plan.dyn_off)
      cis__aot_elf_dynamic(data + plan.dyn_off, (size_t)plan.dyn_size);
  }
  return 0;
}
