/*
 * fuzz_aot_image.c -- libFuzzer entry point of the fuzz_aot_image target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_aot_image: each
 * input is the image of memory 0 a cache entry keeps beside it
 * (src/aot/cache.c, images: the memory's initial contents, then a
 * trailer), written to a memory file and checked as the first instance of
 * a fixed module would check it (cis__aot_check_image_fd): its length and
 * trailer, then its bytes against the module's data segments. The check
 * is differential: an input it accepts must be exactly the image the
 * module's segments make, else the harness aborts. Seed: that image
 * (fuzz/aot_image/).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aot/aot_ops.h"
#include "wasm/module.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* (module (memory 1) (data (i32.const 16) "hello") (data (i32.const 1000)
 * "world!") (data "xyz")): an image of one page, the trailer after it. */
static const uint8_t MOD[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, /* magic, version */
    0x05, 0x03, 0x01, 0x00, 0x01,                   /* memory, min 1 page */
    0x0b, 0x1c, 0x03,                               /* data: three segments */
    0x00, 0x41, 0x10, 0x0b, 0x05, 'h', 'e', 'l', 'l', 'o',
    0x00, 0x41, 0xe8, 0x07, 0x0b, 0x06, 'w', 'o', 'r', 'l', 'd', '!',
    0x01, 0x03, 'x', 'y', 'z'};
enum { PAGE = 65536, TRL = 64 };
static const uint8_t KEY[32] = {0x11, 0x22, 0x33}; /* the entry's name the trailer must hold */

/* Whether the input is the image of MOD, byte for byte. */
static int is_the_image(const uint8_t *d, size_t n) {
  if (n != PAGE + TRL) return 0;
  for (size_t i = 0; i < PAGE; i++) {
    uint8_t want = i >= 16 && i < 21 ? (uint8_t)"hello"[i - 16] : i >= 1000 && i < 1006 ? (uint8_t)"world!"[i - 1000] : 0;
    if (d[i] != want) return 0;
  }
  const uint8_t *t = d + PAGE;
  uint64_t start, len;
  memcpy(&start, t + 40, 8);
  memcpy(&len, t + 48, 8);
  return !memcmp(t, "CISIMG01", 8) && !memcmp(t + 8, KEY, 32) && start == 0 && len == PAGE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static cis__module *m;
  if (!m) {
    cis__diag d;
    memset(&d, 0, sizeof d);
    if (cis__module_decode(MOD, sizeof MOD, &m, &d) != CIS_OK) abort();
  }
  int fd = memfd_create("fuzz-image", MFD_CLOEXEC);
  if (fd < 0) return 0;
  fchmod(fd, 0600); /* as the cache writes it: a memory file is 0777 */
  size_t done = 0;
  while (done < size) {
    ssize_t w = write(fd, data + done, size - done);
    if (w <= 0) break;
    done += (size_t)w;
  }
  if (done == size && cis__aot_check_image_fd(fd, m, KEY) == CIS_OK && !is_the_image(data, size))
    abort(); /* an image accepted that is not the module's */
  close(fd);
  return 0;
}
