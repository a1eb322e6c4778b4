/*
 * sieve.c -- memory-heavy workload.
 *
 * This file implements the sieve of Eratosthenes over a 32 MiB byte array,
 * followed by a streaming pass that counts and sums the primes. It stresses
 * byte loads and stores with large strides across a memory far bigger than
 * any cache, plus long linear scans.
 */
#include "bench.h"

BENCH_SEED(32u << 20);

#define MAXN (32u << 20)

static uint8_t composite[MAXN];

BENCH_ENTRY {
  uint32_t n = (uint32_t)bench_seed();
  if (n > MAXN) n = MAXN;
  uint64_t acc = 0;
  /* Three passes with different limits: each must clear what the
   * one before left behind, so each costs a full sweep of the array. */
  for (uint32_t pass = 0; pass < 3; pass++) {
    uint32_t limit = n - pass * 1000003u;
    for (uint32_t i = 0; i < limit; i++) composite[i] = 0;
    for (uint32_t i = 2; (uint64_t)i * i < limit; i++)
      if (!composite[i])
        for (uint32_t j = i * i; j < limit; j += i) composite[j] = 1;
    uint64_t count = 0, sum = 0;
    for (uint32_t i = 2; i < limit; i++)
      if (!composite[i]) {
        count++;
        sum += i;
      }
    acc = bench_mix(bench_mix(acc, count), sum);
  }
  return bench_result(acc);
}
