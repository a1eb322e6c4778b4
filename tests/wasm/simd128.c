/*
 * This file is a small C program compiled with clang -msimd128: what a
 * toolchain emits for SIMD code (v128 locals, loads and stores, lane
 * operations, shuffles), for the validator to accept as `cis validate`.
 */
#include <stdint.h>
#include <wasm_simd128.h>

__attribute__((export_name("dot"))) int32_t dot(const int32_t *a, const int32_t *b, int32_t n) {
  v128_t acc = wasm_i32x4_splat(0);
  int32_t i = 0;
  for (; i + 4 <= n; i += 4)
    acc = wasm_i32x4_add(acc, wasm_i32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  int32_t s = wasm_i32x4_extract_lane(acc, 0) + wasm_i32x4_extract_lane(acc, 1) +
              wasm_i32x4_extract_lane(acc, 2) + wasm_i32x4_extract_lane(acc, 3);
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

__attribute__((export_name("reverse_bytes"))) void reverse_bytes(uint8_t *p) {
  v128_t v = wasm_v128_load(p);
  v = wasm_i8x16_shuffle(v, v, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  wasm_v128_store(p, v);
}

__attribute__((export_name("scale"))) void scale(float *p, float k, int32_t n) {
  for (int32_t i = 0; i + 4 <= n; i += 4)
    wasm_v128_store(p + i, wasm_f32x4_mul(wasm_v128_load(p + i), wasm_f32x4_splat(k)));
}

__attribute__((export_name("any_zero"))) int32_t any_zero(const uint8_t *p) {
  v128_t v = wasm_v128_load(p);
  return !wasm_i8x16_all_true(v) + (int32_t)wasm_i8x16_bitmask(wasm_i8x16_eq(v, wasm_i8x16_splat(0)));
}
