/*
 * simd_bytes.c -- SIMD workload: byte search.
 *
 * This file implements counting the bytes equal to each of several values
 * in a 1 MiB buffer, and the bytes in a range (a character class), the
 * inner loops of a tokenizer or a memchr. Plain C that the compilers
 * vectorise into i8x16 compares and lane-wise sums: clang -msimd128 for
 * wasm, gcc -O2 (SSE2) natively.
 */
#include "bench.h"

BENCH_SEED(640);

#define N (1u << 20)

static uint8_t buf[N];

BENCH_ENTRY {
  uint64_t s = bench_seed() | 1;
  uint32_t rounds = (uint32_t)bench_seed();
  for (uint32_t i = 0; i < N; i += 8) {
    uint64_t r = bench_rand(&s);
    for (int k = 0; k < 8; k++) buf[i + k] = (uint8_t)(32 + ((r >> (8 * k)) & 0xff) % 96);
  }
  uint64_t acc = 0;
  for (uint32_t r = 0; r < rounds; r++) {
    uint8_t c = (uint8_t)(32 + r % 96);
    uint32_t eq = 0, digits = 0;
    for (uint32_t i = 0; i < N; i++) eq += buf[i] == c;
    for (uint32_t i = 0; i < N; i++) digits += (uint8_t)(buf[i] - '0') < 10;
    acc = bench_mix(bench_mix(acc, eq), digits);
    buf[(r * 40503u) % N] = c;
  }
  return bench_result(acc);
}
