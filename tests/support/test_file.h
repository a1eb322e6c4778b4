/*
 * This file implements, for the test suites, reading a whole file into
 * memory: the one reader every suite used to write for itself (fixtures,
 * manifests, captured output). It reads until end of file rather than
 * trusting a size taken first, so it also serves pipes and /proc files.
 * No cmocka here: a caller that cannot go on without the file fails its
 * test itself, with the path in the message.
 */
#ifndef CIS_TEST_FILE_H
#define CIS_TEST_FILE_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The bytes of path, malloc'd with a NUL after them (so text can be used
 * as a string), their count in *len (0 on failure); NULL with errno set when the file
 * cannot be read whole (EIO for a read error, ENOMEM for no memory). */
static inline uint8_t *cis_test_file_read(const char *path, size_t *len) {
  *len = 0; /* also on failure: callers that go on find no bytes */
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  uint8_t *b = malloc(cap + 1);
  while (b) {
    if (n == cap) {
      uint8_t *nb = realloc(b, cap * 2 + 1);
      if (!nb) {
        free(b);
        b = NULL;
        break;
      }
      b = nb;
      cap *= 2;
    }
    size_t got = fread(b + n, 1, cap - n, f);
    if (got == 0) break;
    n += got;
  }
  int err = ferror(f);
  fclose(f);
  if (!b || err) {
    free(b);
    errno = err ? EIO : ENOMEM;
    return NULL;
  }
  b[n] = 0;
  *len = n;
  return b;
}

/* The same for dir/name followed by suffix (e.g. ".wasm", or ""). */
static inline uint8_t *cis_test_file_read_in(const char *dir, const char *name, const char *suffix, size_t *len) {
  char path[4096];
  int k = snprintf(path, sizeof path, "%s/%s%s", dir, name, suffix);
  if (k < 0 || (size_t)k >= sizeof path) {
    *len = 0;
    errno = ENAMETOOLONG;
    return NULL;
  }
  return cis_test_file_read(path, len);
}

#endif
