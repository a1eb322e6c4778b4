/*
 * strings.c -- string workload.
 *
 * This file implements string building and searching: it writes a large
 * text of generated words and decimal numbers into a buffer (byte copies,
 * integer-to-text conversion), then counts the occurrences of several
 * patterns with Boyer-Moore-Horspool and tallies word lengths with a
 * byte-at-a-time scanner. It stresses byte loads and stores, small
 * data-dependent loops and table lookups.
 */
#include "bench.h"

BENCH_SEED(2024);

#define TEXT_MAX (6u << 20)

static char text[TEXT_MAX + 64];

static const char *const syllables[16] = {"ka", "lo", "mi", "ne", "ru", "sa", "to", "vi",
                                          "qua", "zen", "tor", "fi", "dra", "pe", "ol", "xu"};

static uint32_t copy(char *dst, const char *src) {
  uint32_t n = 0;
  while (src[n]) {
    dst[n] = src[n];
    n++;
  }
  return n;
}

static uint32_t utoa(char *dst, uint64_t v) {
  char tmp[24];
  uint32_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (uint32_t i = 0; i < n; i++) dst[i] = tmp[n - 1 - i];
  return n;
}

static uint32_t build(uint64_t *s) {
  uint32_t len = 0;
  while (len < TEXT_MAX) {
    uint64_t r = bench_rand(s);
    if ((r & 15) == 0) {
      len += utoa(text + len, r >> 44);
    } else {
      uint32_t nsyl = 1 + (uint32_t)((r >> 4) & 3);
      for (uint32_t k = 0; k < nsyl; k++) len += copy(text + len, syllables[(r >> (8 + 4 * k)) & 15]);
    }
    text[len++] = (r >> 30) % 11 == 0 ? '\n' : ' ';
  }
  return len;
}

/* Boyer-Moore-Horspool: the number of (possibly overlapping) matches. */
static uint32_t count(const char *hay, uint32_t n, const char *pat) {
  uint32_t m = 0, skip[256];
  while (pat[m]) m++;
  for (uint32_t i = 0; i < 256; i++) skip[i] = m;
  for (uint32_t i = 0; i + 1 < m; i++) skip[(uint8_t)pat[i]] = m - 1 - i;
  uint32_t hits = 0;
  for (uint32_t at = 0; at + m <= n;) {
    uint8_t last = (uint8_t)hay[at + m - 1];
    if (last == (uint8_t)pat[m - 1]) {
      uint32_t k = 0;
      while (k + 1 < m && hay[at + k] == pat[k]) k++;
      if (k + 1 >= m) hits++;
    }
    at += skip[last];
  }
  return hits;
}

BENCH_ENTRY {
  static const char *const patterns[] = {"zen", "katoru", "quazenfi", "9 ka", "olxu\n",
                                         "dradra", "mine", "vivivi", "123", "e l"};
  uint64_t s = bench_seed();
  uint64_t acc = 0;
  for (int round = 0; round < 3; round++) {
    uint32_t n = build(&s);
    for (uint32_t p = 0; p < sizeof patterns / sizeof *patterns; p++)
      acc = bench_mix(acc, count(text, n, patterns[p]));
    /* Word-length histogram: one pass, one branch per byte. */
    uint32_t hist[32] = {0}, w = 0;
    for (uint32_t i = 0; i < n; i++) {
      if (text[i] == ' ' || text[i] == '\n') {
        hist[w & 31]++;
        w = 0;
      } else {
        w++;
      }
    }
    for (int i = 0; i < 32; i++) acc = bench_mix(acc, hist[i]);
  }
  return bench_result(acc);
}
