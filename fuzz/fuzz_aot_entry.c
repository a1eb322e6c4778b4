/*
 * fuzz_aot_entry.c -- libFuzzer entry point of the fuzz_aot_entry target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_aot_entry: each
 * input is a compile cache entry (src/aot/cache.c: object, zeros, module
 * bytes, key text, compiler's line, trailer), written to a memory file and
 * checked as a load of the module bytes the input's own trailer points at
 * would check it, then as `cis cache list` does (cis__aot_check_entry_fd).
 * Nothing is mapped or run. So every part a load parses is reached: the
 * lengths and layout, the key text, the compiler's line "cc PATH IDENT"
 * (whose PATH is stat'ed), the checksum. Seeds: the entries of the compile
 * caches found, which this machine's key text matches.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aot/aot_ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { TRL_SIZE = 160, T_MLEN = 128, T_TLEN = 136, T_CLEN = 148 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = memfd_create("fuzz-entry", MFD_CLOEXEC);
  if (fd < 0) return 0;
  /* A memory file is made writable by all (0777), which a load refuses
   * (cache.c, trust): as a cache entry is written, this user's alone. */
  fchmod(fd, 0600);
  size_t done = 0;
  while (done < size) {
    ssize_t w = write(fd, data + done, size - done);
    if (w <= 0) break;
    done += (size_t)w;
  }
  /* The module a load would be for: the bytes where the trailer says the
   * module is, when those lengths fit the input; else none. */
  const uint8_t *mod = NULL;
  size_t mlen = 0;
  if (done == size && size > TRL_SIZE) {
    const uint8_t *trl = data + size - TRL_SIZE;
    uint64_t ml;
    uint32_t tl, cl;
    memcpy(&ml, trl + T_MLEN, 8);
    memcpy(&tl, trl + T_TLEN, 4);
    memcpy(&cl, trl + T_CLEN, 4);
    uint64_t tail = (uint64_t)TRL_SIZE + tl + cl;
    if (ml <= size && tail <= size - ml) {
      mod = data + size - tail - ml;
      mlen = (size_t)ml;
    }
  }
  if (done == size) cis__aot_check_entry_fd(fd, mod ? mod : (const uint8_t *)"", mlen);
  close(fd);
  return 0;
}
