/*
 * bench.h -- shared helpers for the benchmark workloads.
 *
 * This file implements the small freestanding toolkit every workload uses:
 * fixed-width integer types, a seed the compiler cannot see through, a
 * xorshift generator and a checksum mixer. Workloads are built twice, for
 * wasm32 without any libc and natively with gcc, so nothing here may call
 * a library function.
 */
#ifndef CIS_BENCH_H
#define CIS_BENCH_H

#include <stdint.h>

/* Exported entry point of every workload. The wasm build also names it on
 * the linker command line; the attribute keeps it visible natively. */
#define BENCH_ENTRY __attribute__((visibility("default"))) long long run(void)

/* The seed is read through a volatile so that neither compiler can fold a
 * whole workload into a constant at build time. Each workload defines it
 * once with BENCH_SEED. */
#define BENCH_SEED(value) static volatile uint32_t bench_seed_ = (value)
#define bench_seed() ((uint64_t)bench_seed_)

/* xorshift64*: cheap, full-period, and identical on every engine. */
static inline uint64_t bench_rand(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* Folds a value into a running checksum so every result influences the
 * final number. */
static inline uint64_t bench_mix(uint64_t acc, uint64_t v) {
  acc ^= v + 0x9E3779B97F4A7C15ull + (acc << 6) + (acc >> 2);
  return acc;
}

/* Checksums are returned non-negative so that engines which print an i64
 * as signed and those which print it as unsigned show the same digits. */
static inline long long bench_result(uint64_t acc) {
  return (long long)(acc & 0x7FFFFFFFFFFFFFFFull);
}

#endif /* CIS_BENCH_H */
