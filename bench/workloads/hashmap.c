/*
 * hashmap.c -- hash-map workload.
 *
 * This file implements an open-addressing hash map with linear probing and
 * 64-bit keys, used as a counter: insert-or-increment over a stream of
 * generated keys (with repeats), then lookups of which half miss, then
 * removal of a share of the keys by backward-shift deletion. It stresses
 * 64-bit multiply-and-shift hashing, data-dependent branches and random
 * memory accesses.
 */
#include "bench.h"

BENCH_SEED(777);

#define BITS 20
#define CAP (1u << BITS)       /* slots; 16 MiB of keys and values */
#define KEYSPACE 700000u       /* distinct keys drawn from; load <= 0.67 */
#define INSERTS 6000000u
#define LOOKUPS 6000000u

static uint64_t keys[CAP]; /* 0 marks an empty slot */
static uint64_t vals[CAP];

static inline uint32_t slot_of(uint64_t k) {
  return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> (64 - BITS));
}

/* Keys are a bijective scramble of small integers, never 0. */
static inline uint64_t key_of(uint64_t i) {
  uint64_t x = (i + 1) * 0xD6E8FEB86659FD93ull;
  x ^= x >> 32;
  return x | 1;
}

static void add(uint64_t k, uint64_t by) {
  uint32_t i = slot_of(k);
  while (keys[i] && keys[i] != k) i = (i + 1) & (CAP - 1);
  keys[i] = k;
  vals[i] += by;
}

static uint64_t *find(uint64_t k) {
  for (uint32_t i = slot_of(k);; i = (i + 1) & (CAP - 1)) {
    if (keys[i] == k) return &vals[i];
    if (!keys[i]) return 0;
  }
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static int del(uint64_t k) {
  uint32_t i = slot_of(k);
  while (keys[i] != k) {
    if (!keys[i]) return 0;
    i = (i + 1) & (CAP - 1);
  }
  for (uint32_t j = i;;) {
    j = (j + 1) & (CAP - 1);
    if (!keys[j]) break;
    uint32_t home = slot_of(keys[j]);
    /* Move keys[j] into the hole at i unless its home lies cyclically in
     * (i, j], where it would no longer be found. */
    if (((j - home) & (CAP - 1)) >= ((j - i) & (CAP - 1))) {
      keys[i] = keys[j];
      vals[i] = vals[j];
      i = j;
    }
  }
  keys[i] = 0;
  vals[i] = 0;
  return 1;
}

BENCH_ENTRY {
  uint64_t s = bench_seed();
  uint64_t acc = 0;
  for (uint32_t i = 0; i < CAP; i++) keys[i] = vals[i] = 0;

  for (uint32_t n = 0; n < INSERTS; n++) {
    uint64_t r = bench_rand(&s);
    add(key_of(r % KEYSPACE), (r >> 40) & 7);
  }
  uint64_t found = 0, total = 0;
  for (uint32_t n = 0; n < LOOKUPS; n++) {
    uint64_t *v = find(key_of(bench_rand(&s) % (2 * KEYSPACE)));
    if (v) {
      found++;
      total += *v;
    }
  }
  acc = bench_mix(bench_mix(acc, found), total);

  uint64_t removed = 0;
  for (uint32_t i = 0; i < KEYSPACE; i += 3) removed += (uint64_t)del(key_of(i));
  /* Every surviving key must still be reachable after the deletions. */
  uint64_t live = 0, sum = 0;
  for (uint32_t i = 0; i < KEYSPACE; i++) {
    uint64_t *v = find(key_of(i));
    if (v) {
      live++;
      sum += *v ^ i;
    }
  }
  acc = bench_mix(bench_mix(bench_mix(acc, removed), live), sum);
  return bench_result(acc);
}
