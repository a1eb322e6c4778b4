/*
 * This file implements the unit tests of the interpreter's SIMD lane
 * operations (src/wasm/simd.h), called directly: the cases where the
 * spec's semantics differ from what one host instruction or a naive C
 * expression gives (NaN and signed zeros in min/max, ties in nearest,
 * saturation in truncations, narrowing and q15mulr, out-of-range swizzle
 * indices, shift counts past the lane width, wrapping in dot and abs).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wasm/simd.h"

static v128 f32s(float a, float b, float c, float d) { return (v128)(vf32){a, b, c, d}; }
static uint32_t f32bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static v128 bytes(const uint8_t b[16]) { return v_load(b); }

static void f32x4_min_max_order_signed_zeros_and_propagate_nan(void **state) {
  (void)state;
  float nan = NAN;
  vu32 mn = (vu32)f32x4_min(f32s(-0.0f, 0.0f, 1.0f, nan), f32s(0.0f, -0.0f, nan, 2.0f));
  assert_int_equal(mn[0], f32bits(-0.0f));
  assert_int_equal(mn[1], f32bits(-0.0f));
  assert_int_equal(mn[2] & 0x7fc00000u, 0x7fc00000u); /* a quiet NaN */
  assert_int_equal(mn[3] & 0x7fc00000u, 0x7fc00000u);
  vu32 mx = (vu32)f32x4_max(f32s(-0.0f, 0.0f, 3.0f, -1.0f), f32s(0.0f, -0.0f, 2.0f, -2.0f));
  assert_int_equal(mx[0], f32bits(0.0f));
  assert_int_equal(mx[1], f32bits(0.0f));
  assert_int_equal(mx[2], f32bits(3.0f));
  assert_int_equal(mx[3], f32bits(-1.0f));
  /* A signalling NaN comes out quiet (an arithmetic NaN). */
  vu32 snan = {0x7f800001u, 0, 0, 0};
  vu32 r = (vu32)f32x4_min((v128)snan, f32s(1, 1, 1, 1));
  assert_int_equal(r[0] & 0x7fc00000u, 0x7fc00000u);
  /* pmin/pmax are selections: pmin(NaN, 1) is the first operand's bits. */
  vu32 p = (vu32)f32x4_pmin((v128)snan, f32s(1, 1, 1, 1));
  assert_int_equal(p[0], 0x7f800001u);
}

static void f64x2_min_of_signed_zeros_is_negative(void **state) {
  (void)state;
  vu64 r = (vu64)f64x2_min((v128)(vf64){0.0, -0.0}, (v128)(vf64){-0.0, 0.0});
  assert_true(r[0] == 0x8000000000000000ull && r[1] == 0x8000000000000000ull);
}

static void f32x4_nearest_rounds_ties_to_even(void **state) {
  (void)state;
  vf32 r = (vf32)f32x4_nearest(f32s(2.5f, 3.5f, -0.5f, -1.5f));
  assert_true(r[0] == 2.0f && r[1] == 4.0f && r[3] == -2.0f);
  assert_int_equal(f32bits(r[2]), f32bits(-0.0f));
}

static void trunc_sat_saturates_and_maps_nan_to_zero(void **state) {
  (void)state;
  vi32 s = (vi32)i32x4_trunc_sat_f32x4_s(f32s(NAN, 3e9f, -3e9f, -1.9f));
  assert_true(s[0] == 0 && s[1] == INT32_MAX && s[2] == INT32_MIN && s[3] == -1);
  vu32 u = (vu32)i32x4_trunc_sat_f32x4_u(f32s(-1.0f, 5e9f, 4294967040.0f, 1.9f));
  assert_true(u[0] == 0 && u[1] == UINT32_MAX && u[2] == 4294967040u && u[3] == 1);
  vi32 z = (vi32)i32x4_trunc_sat_f64x2_s_zero((v128)(vf64){-1e10, 2147483647.9});
  assert_true(z[0] == INT32_MIN && z[1] == INT32_MAX && z[2] == 0 && z[3] == 0);
}

static void narrow_saturates_signed_input(void **state) {
  (void)state;
  vi16 a = {300, -300, 127, -128, 255, 0, -1, 1};
  vi8 s = (vi8)i8x16_narrow_i16x8_s((v128)a, (v128)a);
  vu8 u = (vu8)i8x16_narrow_i16x8_u((v128)a, (v128)a);
  int8_t ws[8] = {127, -128, 127, -128, 127, 0, -1, 1};
  uint8_t wu[8] = {255, 0, 127, 0, 255, 0, 0, 1};
  for (int i = 0; i < 16; i++) {
    assert_int_equal(s[i], ws[i % 8]);
    assert_int_equal(u[i], wu[i % 8]);
  }
  vi32 b = {70000, -5, 65535, 40000};
  vu16 n = (vu16)i16x8_narrow_i32x4_u((v128)b, (v128)b);
  assert_true(n[0] == 65535 && n[1] == 0 && n[2] == 65535 && n[3] == 40000 && n[4] == 65535);
  vi16 ns = (vi16)i16x8_narrow_i32x4_s((v128)b, (v128)b);
  assert_true(ns[0] == 32767 && ns[1] == -5 && ns[3] == 32767);
}

static void q15mulr_rounds_and_saturates(void **state) {
  (void)state;
  vi16 a = {-32768, 16384, -16384, 1, 32767, -32768, 3, 0};
  vi16 b = {-32768, 16384, 16384, 16384, 32767, 32767, -16384, 5};
  vi16 r = (vi16)i16x8_q15mulr_sat_s((v128)a, (v128)b);
  /* (a*b + 0x4000) >> 15, arithmetic; only -32768*-32768 saturates. */
  int16_t want[8] = {32767, 8192, -8192, 1, 32766, -32767, -1, 0};
  for (int i = 0; i < 8; i++) assert_int_equal(r[i], want[i]);
}

static void swizzle_index_past_15_gives_zero(void **state) {
  (void)state;
  uint8_t x[16], idx[16] = {0, 15, 16, 255, 128, 1, 31, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  for (int i = 0; i < 16; i++) x[i] = (uint8_t)(0xa0 + i);
  vu8 r = (vu8)i8x16_swizzle(bytes(x), bytes(idx));
  assert_int_equal(r[0], 0xa0);
  assert_int_equal(r[1], 0xaf);
  assert_int_equal(r[2], 0);
  assert_int_equal(r[3], 0);
  assert_int_equal(r[4], 0);
  assert_int_equal(r[5], 0xa1);
  assert_int_equal(r[6], 0);
  uint8_t sidx[16] = {31, 0, 16, 15, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22};
  uint8_t y[16];
  for (int i = 0; i < 16; i++) y[i] = (uint8_t)(0xb0 + i);
  vu8 s = (vu8)i8x16_shuffle(bytes(x), bytes(y), sidx);
  assert_true(s[0] == 0xbf && s[1] == 0xa0 && s[2] == 0xb0 && s[3] == 0xaf && s[5] == 0xb1);
}

/* The translated forms of shuffle and swizzle (pshufb masks, and pshufb
 * itself where the CPU has SSSE3) agree with the lane-by-lane reference. */
static void shuffle_masks_and_pshufb_agree_with_the_reference(void **state) {
  (void)state;
  uint8_t x[16], y[16], idx[16], m[32], sel[16];
  uint64_t s = 88172645463325252ull;
  for (int i = 0; i < 16; i++) {
    x[i] = (uint8_t)(0x40 + i);
    y[i] = (uint8_t)(0x80 + i);
  }
  __builtin_cpu_init();
  for (int round = 0; round < 200; round++) {
    for (int i = 0; i < 16; i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      idx[i] = (uint8_t)(s % 32);
      sel[i] = (uint8_t)(s >> 8); /* any byte: past 15 gives 0 */
    }
    v128 want = i8x16_shuffle(bytes(x), bytes(y), idx);
    i8x16_shuffle_masks(idx, m);
    v128 got = i8x16_shuffle_m(bytes(x), bytes(y), m);
    assert_memory_equal(&got, &want, 16);
    v128 sw = i8x16_swizzle(bytes(x), bytes(sel));
#if CIS_SIMD_SSSE3
    if (__builtin_cpu_supports("ssse3")) {
      got = i8x16_shuffle_ssse3(bytes(x), bytes(y), m);
      assert_memory_equal(&got, &want, 16);
      got = i8x16_swizzle_ssse3(bytes(x), bytes(sel));
      assert_memory_equal(&got, &sw, 16);
    }
#endif
    for (int i = 0; i < 16; i++) assert_int_equal(((vu8)sw)[i], sel[i] < 16 ? x[sel[i]] : 0);
  }
}

static void popcnt_counts_every_byte_value(void **state) {
  (void)state;
  for (int base = 0; base < 256; base += 16) {
    uint8_t x[16];
    for (int i = 0; i < 16; i++) x[i] = (uint8_t)(base + i);
    vu8 r = (vu8)i8x16_popcnt(bytes(x));
    for (int i = 0; i < 16; i++) assert_int_equal(r[i], __builtin_popcount(x[i]));
  }
}

static void extmul_widens_before_multiplying(void **state) {
  (void)state;
  vi8 a = {-128, 127, -1, 5, 0, 0, 0, 0, -128, 2, 3, 4, 5, 6, 7, 8};
  vi16 lo = (vi16)i16x8_extmul_low_i8x16_s((v128)a, (v128)a);
  assert_true(lo[0] == 16384 && lo[1] == 16129 && lo[2] == 1 && lo[3] == 25);
  vu16 ulo = (vu16)i16x8_extmul_low_i8x16_u((v128)a, (v128)a);
  assert_true(ulo[0] == 16384 && ulo[2] == 65025);
  vi16 hi = (vi16)i16x8_extmul_high_i8x16_s((v128)a, (v128)a);
  assert_true(hi[0] == 16384 && hi[7] == 64);
  vi32 w = {INT32_MIN, -1, INT32_MIN, 3};
  vi64 h = (vi64)i64x2_extmul_high_i32x4_s((v128)w, (v128)w);
  assert_true(h[0] == (int64_t)1 << 62 && h[1] == 9);
  vu64 hu = (vu64)i64x2_extmul_low_i32x4_u((v128)w, (v128)w);
  assert_true(hu[1] == 0xfffffffe00000001ull);
}

static void dot_wraps_the_one_overflowing_pair(void **state) {
  (void)state;
  vi16 a = {-32768, -32768, 1, 2, 3, 4, -5, 6};
  vi16 b = {-32768, -32768, 1, 2, 3, 4, 5, 6};
  vi32 r = (vi32)i32x4_dot_i16x8_s((v128)a, (v128)b);
  assert_true(r[0] == INT32_MIN && r[1] == 5 && r[2] == 25 && r[3] == 11);
}

static void shift_counts_wrap_at_the_lane_width(void **state) {
  (void)state;
  vu8 a = (vu8)i8x16_splat(0x81);
  vu8 l = (vu8)i8x16_shl((v128)a, 9); /* by 1 */
  vi8 r = (vi8)i8x16_shr_s((v128)a, 15); /* by 7 */
  vu8 u = (vu8)i8x16_shr_u((v128)a, 8); /* by 0 */
  assert_true(l[3] == 0x02 && r[3] == -1 && u[3] == 0x81);
  vi64 s = (vi64)i64x2_shr_s((v128)(vi64){INT64_MIN, 4}, 65);
  assert_true(s[0] == INT64_MIN / 2 && s[1] == 2);
  vu16 h = (vu16)i16x8_shl(i16x8_splat(1), 16 + 15);
  assert_int_equal(h[0], 0x8000);
}

static void any_all_true_and_bitmask(void **state) {
  (void)state;
  v128 z = {0, 0}, one = {0, (uint64_t)1 << 63};
  assert_int_equal(v128_any_true(z), 0);
  assert_int_equal(v128_any_true(one), 1);
  assert_int_equal(i8x16_all_true(one), 0);
  assert_int_equal(i8x16_all_true(i8x16_splat(1)), 1);
  assert_int_equal(i16x8_all_true(i8x16_replace_lane(i8x16_splat(1), 0, 3)), 1); /* lane 1 = 0x0100 */
  assert_int_equal(i16x8_all_true(i16x8_replace_lane(i16x8_splat(1), 0, 7)), 0);
  assert_int_equal(i32x4_all_true(i32x4_replace_lane(i32x4_splat(7), 0, 2)), 0);
  assert_int_equal(i64x2_all_true((v128){1, (uint64_t)1 << 40}), 1);
  assert_int_equal(i8x16_bitmask(one), 0x8000);
  assert_int_equal(i16x8_bitmask((v128)(vi16){-1, 1, -1, 0, 0, 0, 0, -32768}), 0x85);
  assert_int_equal(i32x4_bitmask((v128)(vi32){0, -1, 0, -5}), 0xa);
  assert_int_equal(i64x2_bitmask((v128)(vi64){-1, 0}), 1);
}

static void abs_keeps_the_most_negative_lane_and_sat_add_clamps(void **state) {
  (void)state;
  vi8 a = (vi8)i8x16_abs(i8x16_splat(0x80));
  assert_int_equal(a[0], -128);
  vi32 b = (vi32)i32x4_abs((v128)(vi32){INT32_MIN, -3, 3, 0});
  assert_true(b[0] == INT32_MIN && b[1] == 3 && b[2] == 3);
  vi8 s = (vi8)i8x16_add_sat_s(i8x16_splat(100), i8x16_splat(100));
  vu8 u = (vu8)i8x16_sub_sat_u(i8x16_splat(3), i8x16_splat(5));
  vi16 t = (vi16)i16x8_sub_sat_s(i16x8_splat(0x8000), i16x8_splat(1));
  assert_true(s[0] == 127 && u[0] == 0 && t[0] == -32768);
  vu8 avg = (vu8)i8x16_avgr_u(i8x16_splat(255), i8x16_splat(254));
  assert_int_equal(avg[0], 255);
  vu8 mn = (vu8)i8x16_min_u(i8x16_splat(200), i8x16_splat(100));
  vi8 ms = (vi8)i8x16_min_s(i8x16_splat(200), i8x16_splat(100));
  assert_true(mn[0] == 100 && ms[0] == -56);
}

static void extadd_pairwise_extends_each_lane(void **state) {
  (void)state;
  vi8 a = {-128, -128, 127, 127, -1, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0};
  vi16 s = (vi16)i16x8_extadd_pairwise_i8x16_s((v128)a);
  vu16 u = (vu16)i16x8_extadd_pairwise_i8x16_u((v128)a);
  assert_true(s[0] == -256 && s[1] == 254 && s[2] == 0 && s[3] == 5);
  assert_true(u[0] == 256 && u[1] == 254 && u[2] == 256);
  vi16 b = {-32768, -32768, 32767, 1, 0, 0, 0, 0};
  vi32 s2 = (vi32)i32x4_extadd_pairwise_i16x8_s((v128)b);
  vu32 u2 = (vu32)i32x4_extadd_pairwise_i16x8_u((v128)b);
  assert_true(s2[0] == -65536 && s2[1] == 32768 && u2[0] == 65536);
}

static void conversions_round_and_extend_exactly(void **state) {
  (void)state;
  vf32 c = (vf32)f32x4_convert_i32x4_u((v128)(vu32){UINT32_MAX, 16777217u, 1, 0});
  assert_true(c[0] == 4294967296.0f && c[1] == 16777216.0f && c[2] == 1.0f);
  vf64 d = (vf64)f64x2_convert_low_i32x4_u((v128)(vu32){UINT32_MAX, 2, 9, 9});
  assert_true(d[0] == 4294967295.0 && d[1] == 2.0);
  vf32 m = (vf32)f32x4_demote_f64x2_zero((v128)(vf64){1e300, 0.5});
  assert_true(isinf(m[0]) && m[1] == 0.5f && m[2] == 0.0f && m[3] == 0.0f);
  vi64 e = (vi64)i64x2_extend_high_i32x4_s((v128)(vi32){0, 0, -7, 7});
  assert_true(e[0] == -7 && e[1] == 7);
  vu16 lu = (vu16)v128_load8x8_u((const uint8_t[8]){255, 1, 2, 3, 4, 5, 6, 0x80});
  vi16 ls = (vi16)v128_load8x8_s((const uint8_t[8]){255, 1, 2, 3, 4, 5, 6, 0x80});
  assert_true(lu[0] == 255 && lu[7] == 0x80 && ls[0] == -1 && ls[7] == -128);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(f32x4_min_max_order_signed_zeros_and_propagate_nan),
      cmocka_unit_test(f64x2_min_of_signed_zeros_is_negative),
      cmocka_unit_test(f32x4_nearest_rounds_ties_to_even),
      cmocka_unit_test(trunc_sat_saturates_and_maps_nan_to_zero),
      cmocka_unit_test(narrow_saturates_signed_input),
      cmocka_unit_test(q15mulr_rounds_and_saturates),
      cmocka_unit_test(swizzle_index_past_15_gives_zero),
      cmocka_unit_test(shuffle_masks_and_pshufb_agree_with_the_reference),
      cmocka_unit_test(popcnt_counts_every_byte_value),
      cmocka_unit_test(extmul_widens_before_multiplying),
      cmocka_unit_test(dot_wraps_the_one_overflowing_pair),
      cmocka_unit_test(shift_counts_wrap_at_the_lane_width),
      cmocka_unit_test(any_all_true_and_bitmask),
      cmocka_unit_test(abs_keeps_the_most_negative_lane_and_sat_add_clamps),
      cmocka_unit_test(extadd_pairwise_extends_each_lane),
      cmocka_unit_test(conversions_round_and_extend_exactly),
  };
  return cmocka_run_group_tests_name("simd_lanes", tests, NULL, NULL);
}
