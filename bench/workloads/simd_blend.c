/*
 * simd_blend.c -- SIMD workload: alpha blending of 8-bit images.
 *
 * This file implements out = (a * alpha + b * (255 - alpha) + 128) >> 8 per
 * byte over 256 KiB images, repeated with the output fed back as the next
 * round's first image. Plain C that the compilers vectorise (u8 to u16
 * widening, 16-bit multiplies and adds, narrowing back to bytes): clang
 * -msimd128 for wasm, gcc -O2 (SSE2) natively.
 */
#include "bench.h"

BENCH_SEED(3000);

#define N (256u << 10)

static uint8_t img_a[N], img_b[N], alpha[N], out[N];

BENCH_ENTRY {
  uint64_t s = bench_seed() | 1;
  uint32_t rounds = (uint32_t)bench_seed();
  for (uint32_t i = 0; i < N; i++) {
    uint64_t r = bench_rand(&s);
    img_a[i] = (uint8_t)r;
    img_b[i] = (uint8_t)(r >> 8);
    alpha[i] = (uint8_t)(r >> 16);
  }
  uint64_t acc = 0;
  for (uint32_t r = 0; r < rounds; r++) {
    for (uint32_t i = 0; i < N; i++) {
      uint16_t al = alpha[i];
      out[i] = (uint8_t)((img_a[i] * al + img_b[i] * (uint16_t)(255 - al) + 128) >> 8);
    }
    for (uint32_t i = 0; i < N; i++) img_a[i] = out[i];
    acc = bench_mix(acc, out[r % N] | (uint64_t)out[(r * 7919u) % N] << 8);
  }
  uint64_t sum = 0;
  for (uint32_t i = 0; i < N; i++) sum += out[i];
  return bench_result(bench_mix(acc, sum));
}
