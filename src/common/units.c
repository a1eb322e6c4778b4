/*
 * This file implements the one reader of numbers, sizes and durations
 * written as text (cis_parse_u64, cis_parse_size, cis_parse_duration_ms):
 * every `cis` flag and every skill manifest read them alike
 * (docs/cli.md, "Values").
 *
 *   integer   decimal or 0x hex, no sign, no spaces: 42, 0x2a
 *   size      an integer with an optional unit: B, KiB, MiB, GiB, TiB
 *             (powers of 1024) or KB, MB, GB, TB (powers of 1000); a
 *             decimal fraction is allowed before a unit if the result is a
 *             whole number of bytes (1.5KiB = 1536); no unit = bytes
 *   duration  a decimal number with an optional fraction and unit: ms, s,
 *             m, h (1.5s, 500ms, 2m); no unit = milliseconds; the result
 *             must be a whole number of milliseconds
 *
 * Anything else (junk, a sign, an unknown unit, a value past 2^64-1) is
 * refused. Arithmetic is done in integers, so 0.1s is exactly 100 ms.
 */
#include <string.h>

#include "common/internal.h"

static int digit_of(char c, int base) {
  int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;
  return d < base ? d : -1;
}

bool cis_parse_u64(const char *s, uint64_t *out) {
  if (!s || !out) return false;
  int base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
  }
  if (digit_of(*s, base) < 0) return false; /* a digit first: no space, no sign */
  uint64_t v = 0;
  for (; *s; s++) {
    int d = digit_of(*s, base);
    if (d < 0 || __builtin_mul_overflow(v, (uint64_t)base, &v) || __builtin_add_overflow(v, (uint64_t)d, &v))
      return false;
  }
  *out = v;
  return true;
}

/* A unit suffix and what one of it is worth in the base unit. */
typedef struct unit {
  const char *name; /* as written after the number */
  uint64_t scale;   /* base units per one */
} unit;

static const unit size_units[] = {
    {"B", 1},
    {"KiB", 1ull << 10},
    {"MiB", 1ull << 20},
    {"GiB", 1ull << 30},
    {"TiB", 1ull << 40},
    {"KB", 1000ull},
    {"MB", 1000000ull},
    {"GB", 1000000000ull},
    {"TB", 1000000000000ull},
};

static const unit duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60000},
    {"h", 3600000},
};

/* Reads "DIGITS[.DIGITS]UNIT" with unit from `units` (none = scale 1) into
 * whole base units. Returns false on junk, an unknown unit, a result that
 * is not whole, or overflow. Hex (0x) is taken only without a fraction or
 * unit, as a plain integer. */
static bool parse_scaled(const char *s, const unit *units, size_t nunits, uint64_t *out) {
  if (!s || !*s) return false;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) return cis_parse_u64(s, out);
  if (*s < '0' || *s > '9') return false; /* no sign, no space, no ".5" */
  uint64_t whole = 0;
  while (*s >= '0' && *s <= '9') {
    if (__builtin_mul_overflow(whole, 10, &whole) ||
        __builtin_add_overflow(whole, (uint64_t)(*s - '0'), &whole))
      return false;
    s++;
  }
  uint64_t frac = 0, frac_div = 1; /* the fraction is frac / frac_div */
  if (*s == '.') {
    s++;
    if (*s < '0' || *s > '9') return false; /* "1." is a typo */
    while (*s >= '0' && *s <= '9') {
      if (frac_div >= 1000000000000000000ull) return false; /* 18 digits is plenty */
      frac = frac * 10 + (uint64_t)(*s - '0');
      frac_div *= 10;
      s++;
    }
  }
  uint64_t scale = 1;
  if (*s) {
    const unit *u = NULL;
    for (size_t i = 0; i < nunits; i++)
      if (!strcmp(s, units[i].name)) u = &units[i];
    if (!u) return false;
    scale = u->scale;
  }
  uint64_t v;
  if (__builtin_mul_overflow(whole, scale, &v)) return false;
  if (frac) {
    /* frac / frac_div * scale is whole when frac is a multiple of
     * frac_div / gcd(frac_div, scale); computed that way nothing overflows
     * (the added part is below scale). */
    uint64_t a = frac_div, b = scale;
    while (b) {
      uint64_t t = a % b;
      a = b;
      b = t;
    }
    uint64_t den = frac_div / a; /* a = gcd */
    if (frac % den) return false; /* not a whole number of base units */
    if (__builtin_add_overflow(v, frac / den * (scale / a), &v)) return false;
  }
  *out = v;
  return true;
}

bool cis_parse_size(const char *s, uint64_t *bytes) {
  return bytes && parse_scaled(s, size_units, sizeof size_units / sizeof size_units[0], bytes);
}

bool cis_parse_duration_ms(const char *s, uint64_t *ms) {
  return ms && parse_scaled(s, duration_units, sizeof duration_units / sizeof duration_units[0], ms);
}
