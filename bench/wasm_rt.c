/*
 * wasm_rt.c -- the few C runtime functions the wasm workloads may need.
 *
 * This file implements memset, memcpy, memmove and memcmp for the wasm32
 * builds, which link no libc. Compilers may turn a clearing or copying loop
 * into a call to one of these even in freestanding code; natively the
 * system libc provides them instead. The linker drops whichever are unused.
 */
#include <stddef.h>

void *memset(void *dst, int c, size_t n) {
  unsigned char *d = dst;
  while (n--) *d++ = (unsigned char)c;
  return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (; n; n--, x++, y++)
    if (*x != *y) return *x - *y;
  return 0;
}
