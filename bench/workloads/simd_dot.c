/*
 * simd_dot.c -- SIMD workload: integer dot products.
 *
 * This file implements a loop of i16 dot products (i32 sums) over two 4096
 * element vectors, one element changed between rounds so that no round can
 * be folded into another. Plain C that the compilers vectorise: clang
 * --target=wasm32 -O2 -msimd128 into v128 loads, extending multiplies and
 * i32x4 adds; gcc -O2 into SSE2 natively (bench/run.sh builds simd_*
 * workloads with -msimd128 for wasm). Integer sums, so the checksum is the
 * same whatever order the lanes are added in.
 */
#include "bench.h"

BENCH_SEED(400000);

#define N 4096

static int16_t a[N], b[N];

BENCH_ENTRY {
  uint64_t s = bench_seed() | 1;
  uint32_t rounds = (uint32_t)bench_seed();
  for (int i = 0; i < N; i++) {
    a[i] = (int16_t)bench_rand(&s);
    b[i] = (int16_t)bench_rand(&s);
  }
  uint64_t acc = 0;
  for (uint32_t r = 0; r < rounds; r++) {
    int32_t d = 0;
    for (int i = 0; i < N; i++) d += a[i] * b[i];
    acc = bench_mix(acc, (uint32_t)d);
    a[r % N] = (int16_t)(a[r % N] + (int16_t)d);
  }
  return bench_result(acc);
}
