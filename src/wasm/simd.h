/*
 * This file implements the lane operations of WebAssembly's fixed-width
 * SIMD (v128), once for both engines: one static inline function per
 * operation, on 16-byte values, with the spec's exact semantics. The
 * interpreter's handlers (interp/execute.c) call them with the two frame
 * slots that hold a v128, by the rows of simd.def; the compiled tier
 * pastes this text into the C it generates for a module that uses v128
 * (src/aot/embed.cmake) and calls them by the same rows; the tests call
 * them directly. So it must stay self-contained: C library and compiler
 * headers only, and numeric.h, whose text the compiled tier pastes
 * before this one.
 *
 * How they are written. Most are plain GCC/clang vector extensions
 * (`a + b` on a vector type), which the compiler turns into the one SSE
 * instruction that does the job on x86-64 and into NEON or scalar code
 * elsewhere. Where the extensions have no operator and SSE2 has the exact
 * instruction (saturating add/sub, unsigned average, pack with
 * saturation, madd, movemask, sqrt), the SSE2 intrinsic is used under
 * __SSE2__ with a per-lane fallback beside it. Builds default to x86-64-v1
 * (SSE2 only; no -march in CMakeLists.txt), so what needs SSE4.1 or SSSE3
 * (roundps, pshufb, packusdw, pminsb, pmulld) is left to the compiler's
 * SSE2 sequence or done per lane: the rounding ops (ceil, floor, trunc,
 * nearest), shuffle and swizzle, the float-to-int truncations.
 *
 * NaNs. Arithmetic goes through the hardware, whose NaN results are the
 * arithmetic NaNs the spec allows (a canonical NaN in gives a canonical
 * one out). min and max are not the SSE instructions (which are neither
 * symmetric with NaN nor order -0 below +0): they pick by comparison and
 * produce a + b for any NaN lane, which quiets it. pmin and pmax are the
 * spec's pure selections, bits unchanged.
 */
#ifndef CIS_WASM_SIMD_H
#define CIS_WASM_SIMD_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Already there when pasted into generated code, whose compiler could
 * not find it. */
#ifndef CIS_WASM_NUMERIC_H
#include "wasm/numeric.h"
#endif

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <tmmintrin.h> /* pshufb, in functions built for SSSE3 only */
#define CIS_SIMD_SSSE3 1
#else
#define CIS_SIMD_SSSE3 0
#endif

/* The vector types. A v128 is carried as v128 and reinterpreted by casts
 * (a cast between vector types of one size keeps the bits). */
typedef uint64_t v128 __attribute__((vector_size(16)));
typedef int8_t vi8 __attribute__((vector_size(16)));
typedef uint8_t vu8 __attribute__((vector_size(16)));
typedef int16_t vi16 __attribute__((vector_size(16)));
typedef uint16_t vu16 __attribute__((vector_size(16)));
typedef int32_t vi32 __attribute__((vector_size(16)));
typedef uint32_t vu32 __attribute__((vector_size(16)));
typedef int64_t vi64 __attribute__((vector_size(16)));
typedef uint64_t vu64 __attribute__((vector_size(16)));
typedef float vf32 __attribute__((vector_size(16)));
typedef double vf64 __attribute__((vector_size(16)));
/* Half vectors, for the widening ops. */
typedef int8_t hi8 __attribute__((vector_size(8)));
typedef uint8_t hu8 __attribute__((vector_size(8)));
typedef int16_t hi16 __attribute__((vector_size(8)));
typedef uint16_t hu16 __attribute__((vector_size(8)));
typedef int32_t hi32 __attribute__((vector_size(8)));
typedef uint32_t hu32 __attribute__((vector_size(8)));
typedef float hf32 __attribute__((vector_size(8)));

/* Forced inline: each op is a few vector instructions, which a call
 * would double. Except where CIS_SIMD_CALLS is defined (the fuzz build's
 * executor, at -O0): there clang's always-inliner analysed the
 * executor's one large function again for each of its hundreds of call
 * sites, some two minutes of the build. */
#ifdef CIS_SIMD_CALLS
#define SIMD_INLINE static inline
#else
#define SIMD_INLINE static inline __attribute__((always_inline))
#endif

/* --------------------------------------------------------- load, store */

SIMD_INLINE v128 v_load(const void *p) {
  v128 v;
  memcpy(&v, p, sizeof v);
  return v;
}
SIMD_INLINE void v_store(void *p, v128 v) { memcpy(p, &v, sizeof v); }

/* Bit select: lanes of a where m is set, of b elsewhere. */
#define VSEL(T, m, a, b) ((T)(((v128)(m) & (v128)(a)) | (~(v128)(m) & (v128)(b))))

/* ------------------------------------------------------------- bitwise */

SIMD_INLINE v128 v128_not(v128 a) { return ~a; }
SIMD_INLINE v128 v128_and(v128 a, v128 b) { return a & b; }
SIMD_INLINE v128 v128_andnot(v128 a, v128 b) { return a & ~b; }
SIMD_INLINE v128 v128_or(v128 a, v128 b) { return a | b; }
SIMD_INLINE v128 v128_xor(v128 a, v128 b) { return a ^ b; }
SIMD_INLINE v128 v128_bitselect(v128 a, v128 b, v128 c) { return (a & c) | (b & ~c); }
SIMD_INLINE uint32_t v128_any_true(v128 a) { return (a[0] | a[1]) != 0; }

/* -------------------------------------------------------- shuffles */

/* Lanes of a (indices 0..15) and b (16..31) by the 16 index bytes at idx
 * (validated < 32). */
SIMD_INLINE v128 i8x16_shuffle(v128 a, v128 b, const uint8_t *idx) {
  uint8_t ab[32], r[16];
  memcpy(ab, &a, 16);
  memcpy(ab + 16, &b, 16);
  for (int i = 0; i < 16; i++) r[i] = ab[idx[i] & 31];
  return v_load(r);
}
/* Lanes of a by the lanes of s; an index past 15 gives 0. */
SIMD_INLINE v128 i8x16_swizzle(v128 a, v128 s) {
  uint8_t x[16], i8[16], r[16];
  memcpy(x, &a, 16);
  memcpy(i8, &s, 16);
  for (int i = 0; i < 16; i++) r[i] = i8[i] < 16 ? x[i8[i]] : 0;
  return v_load(r);
}

/* A shuffle as two pshufb masks, made once when translating: m[0..15]
 * picks the lanes that come from a, m[16..31] those from b, and 0x80
 * (past 15) stands for "from the other one". */
static inline void i8x16_shuffle_masks(const uint8_t *idx, uint8_t m[32]) {
  for (int i = 0; i < 16; i++) {
    uint8_t k = idx[i] & 31;
    m[i] = k < 16 ? k : 0x80;
    m[16 + i] = k < 16 ? 0x80 : (uint8_t)(k - 16);
  }
}
/* i8x16.shuffle by its masks, per lane (no pshufb before SSSE3). */
SIMD_INLINE v128 i8x16_shuffle_m(v128 a, v128 b, const uint8_t *m) {
  uint8_t x[16], y[16], r[16];
  memcpy(x, &a, 16);
  memcpy(y, &b, 16);
  for (int i = 0; i < 16; i++) r[i] = m[i] < 16 ? x[m[i]] : y[m[16 + i] & 15];
  return v_load(r);
}
#if CIS_SIMD_SSSE3
/* The same with pshufb, for CPUs that have it (the translator asks
 * __builtin_cpu_supports once): out of line, since only these functions
 * may use SSSE3. */
__attribute__((target("ssse3"), unused)) static v128 i8x16_shuffle_ssse3(v128 a, v128 b,
                                                                        const uint8_t *m) {
  __m128i ma = _mm_loadu_si128((const __m128i *)(const void *)m);
  __m128i mb = _mm_loadu_si128((const __m128i *)(const void *)(m + 16));
  return (v128)_mm_or_si128(_mm_shuffle_epi8((__m128i)a, ma), _mm_shuffle_epi8((__m128i)b, mb));
}
/* Indices past 15 saturate to 0x80 and above, which pshufb maps to 0. */
__attribute__((target("ssse3"), unused)) static v128 i8x16_swizzle_ssse3(v128 a, v128 s) {
  __m128i k = _mm_adds_epu8((__m128i)s, _mm_set1_epi8(0x70));
  return (v128)_mm_shuffle_epi8((__m128i)a, k);
}
#endif

/* -------------------------------------------------- splat, lanes */

SIMD_INLINE v128 i8x16_splat(uint64_t x) { return (v128)((vu8){0} + (uint8_t)x); }
SIMD_INLINE v128 i16x8_splat(uint64_t x) { return (v128)((vu16){0} + (uint16_t)x); }
SIMD_INLINE v128 i32x4_splat(uint64_t x) { return (v128)((vu32){0} + (uint32_t)x); }
SIMD_INLINE v128 i64x2_splat(uint64_t x) { return (v128){x, x}; }
/* Lane extraction: the lane index was validated; i32 results zero-extended. */
SIMD_INLINE uint64_t i8x16_extract_lane_s(v128 a, uint32_t l) {
  return (uint32_t)(int32_t)((vi8)a)[l & 15];
}
SIMD_INLINE uint64_t i8x16_extract_lane_u(v128 a, uint32_t l) { return ((vu8)a)[l & 15]; }
SIMD_INLINE uint64_t i16x8_extract_lane_s(v128 a, uint32_t l) {
  return (uint32_t)(int32_t)((vi16)a)[l & 7];
}
SIMD_INLINE uint64_t i16x8_extract_lane_u(v128 a, uint32_t l) { return ((vu16)a)[l & 7]; }
SIMD_INLINE uint64_t i32x4_extract_lane(v128 a, uint32_t l) { return ((vu32)a)[l & 3]; }
SIMD_INLINE uint64_t i64x2_extract_lane(v128 a, uint32_t l) { return a[l & 1]; }
SIMD_INLINE v128 i8x16_replace_lane(v128 a, uint64_t x, uint32_t l) {
  vu8 v = (vu8)a;
  v[l & 15] = (uint8_t)x;
  return (v128)v;
}
SIMD_INLINE v128 i16x8_replace_lane(v128 a, uint64_t x, uint32_t l) {
  vu16 v = (vu16)a;
  v[l & 7] = (uint16_t)x;
  return (v128)v;
}
SIMD_INLINE v128 i32x4_replace_lane(v128 a, uint64_t x, uint32_t l) {
  vu32 v = (vu32)a;
  v[l & 3] = (uint32_t)x;
  return (v128)v;
}
SIMD_INLINE v128 i64x2_replace_lane(v128 a, uint64_t x, uint32_t l) {
  a[l & 1] = x;
  return a;
}

/* The float lanes move as bits. */
SIMD_INLINE v128 f32x4_splat(uint64_t x) { return i32x4_splat(x); }
SIMD_INLINE v128 f64x2_splat(uint64_t x) { return i64x2_splat(x); }
SIMD_INLINE uint64_t f32x4_extract_lane(v128 a, uint32_t l) { return i32x4_extract_lane(a, l); }
SIMD_INLINE uint64_t f64x2_extract_lane(v128 a, uint32_t l) { return i64x2_extract_lane(a, l); }
SIMD_INLINE v128 f32x4_replace_lane(v128 a, uint64_t x, uint32_t l) {
  return i32x4_replace_lane(a, x, l);
}
SIMD_INLINE v128 f64x2_replace_lane(v128 a, uint64_t x, uint32_t l) {
  return i64x2_replace_lane(a, x, l);
}

/* --------------------------------------------------- integer compares */

#define V_CMP(name, T, OP) \
  SIMD_INLINE v128 name(v128 a, v128 b) { return (v128)((T)a OP(T) b); }
V_CMP(i8x16_eq, vi8, ==) V_CMP(i8x16_ne, vi8, !=)
V_CMP(i8x16_lt_s, vi8, <) V_CMP(i8x16_lt_u, vu8, <) V_CMP(i8x16_gt_s, vi8, >)
V_CMP(i8x16_gt_u, vu8, >) V_CMP(i8x16_le_s, vi8, <=) V_CMP(i8x16_le_u, vu8, <=)
V_CMP(i8x16_ge_s, vi8, >=) V_CMP(i8x16_ge_u, vu8, >=)
V_CMP(i16x8_eq, vi16, ==) V_CMP(i16x8_ne, vi16, !=)
V_CMP(i16x8_lt_s, vi16, <) V_CMP(i16x8_lt_u, vu16, <) V_CMP(i16x8_gt_s, vi16, >)
V_CMP(i16x8_gt_u, vu16, >) V_CMP(i16x8_le_s, vi16, <=) V_CMP(i16x8_le_u, vu16, <=)
V_CMP(i16x8_ge_s, vi16, >=) V_CMP(i16x8_ge_u, vu16, >=)
V_CMP(i32x4_eq, vi32, ==) V_CMP(i32x4_ne, vi32, !=)
V_CMP(i32x4_lt_s, vi32, <) V_CMP(i32x4_lt_u, vu32, <) V_CMP(i32x4_gt_s, vi32, >)
V_CMP(i32x4_gt_u, vu32, >) V_CMP(i32x4_le_s, vi32, <=) V_CMP(i32x4_le_u, vu32, <=)
V_CMP(i32x4_ge_s, vi32, >=) V_CMP(i32x4_ge_u, vu32, >=)
V_CMP(i64x2_eq, vi64, ==) V_CMP(i64x2_ne, vi64, !=)
V_CMP(i64x2_lt_s, vi64, <) V_CMP(i64x2_gt_s, vi64, >)
V_CMP(i64x2_le_s, vi64, <=) V_CMP(i64x2_ge_s, vi64, >=)
/* Float compares: false on NaN, except ne. */
V_CMP(f32x4_eq, vf32, ==) V_CMP(f32x4_ne, vf32, !=) V_CMP(f32x4_lt, vf32, <)
V_CMP(f32x4_gt, vf32, >) V_CMP(f32x4_le, vf32, <=) V_CMP(f32x4_ge, vf32, >=)
V_CMP(f64x2_eq, vf64, ==) V_CMP(f64x2_ne, vf64, !=) V_CMP(f64x2_lt, vf64, <)
V_CMP(f64x2_gt, vf64, >) V_CMP(f64x2_le, vf64, <=) V_CMP(f64x2_ge, vf64, >=)
#undef V_CMP

/* ------------------------------------------------ integer arithmetic */

/* Wrapping arithmetic is done on unsigned lanes (no signed overflow). */
#define V_BIN(name, T, EXPR) \
  SIMD_INLINE v128 name(v128 a_, v128 b_) { T a = (T)a_, b = (T)b_; return (v128)(EXPR); }
#define V_UN(name, T, EXPR) \
  SIMD_INLINE v128 name(v128 a_) { T a = (T)a_; return (v128)(EXPR); }

V_BIN(i8x16_add, vu8, a + b) V_BIN(i8x16_sub, vu8, a - b)
V_BIN(i16x8_add, vu16, a + b) V_BIN(i16x8_sub, vu16, a - b) V_BIN(i16x8_mul, vu16, a * b)
V_BIN(i32x4_add, vu32, a + b) V_BIN(i32x4_sub, vu32, a - b) V_BIN(i32x4_mul, vu32, a * b)
V_BIN(i64x2_add, vu64, a + b) V_BIN(i64x2_sub, vu64, a - b) V_BIN(i64x2_mul, vu64, a * b)
V_UN(i8x16_neg, vu8, -a) V_UN(i16x8_neg, vu16, -a) V_UN(i32x4_neg, vu32, -a)
V_UN(i64x2_neg, vu64, -a)
/* abs: the most negative value stays as it is. */
V_UN(i8x16_abs, vu8, (a ^ (vu8)((vi8)a >> 7)) - (vu8)((vi8)a >> 7))
V_UN(i16x8_abs, vu16, (a ^ (vu16)((vi16)a >> 15)) - (vu16)((vi16)a >> 15))
V_UN(i32x4_abs, vu32, (a ^ (vu32)((vi32)a >> 31)) - (vu32)((vi32)a >> 31))
V_UN(i64x2_abs, vu64, (a ^ (vu64)((vi64)a >> 63)) - (vu64)((vi64)a >> 63))
/* min and max select by a compare (pminsb and friends are SSE4.1). */
V_BIN(i8x16_min_s, vi8, VSEL(vi8, a < b, a, b)) V_BIN(i8x16_max_s, vi8, VSEL(vi8, a > b, a, b))
V_BIN(i16x8_min_u, vu16, VSEL(vu16, a < b, a, b)) V_BIN(i16x8_max_u, vu16, VSEL(vu16, a > b, a, b))
V_BIN(i32x4_min_s, vi32, VSEL(vi32, a < b, a, b)) V_BIN(i32x4_max_s, vi32, VSEL(vi32, a > b, a, b))
V_BIN(i32x4_min_u, vu32, VSEL(vu32, a < b, a, b)) V_BIN(i32x4_max_u, vu32, VSEL(vu32, a > b, a, b))
/* Rounding average without overflow: (a | b) - ((a ^ b) >> 1). */
V_BIN(i8x16_avgr_u, vu8, (a | b) - ((a ^ b) >> 1))
V_BIN(i16x8_avgr_u, vu16, (a | b) - ((a ^ b) >> 1))

#if defined(__SSE2__)
#define XI(v) ((__m128i)(v))
SIMD_INLINE v128 i8x16_min_u(v128 a, v128 b) { return (v128)_mm_min_epu8(XI(a), XI(b)); }
SIMD_INLINE v128 i8x16_max_u(v128 a, v128 b) { return (v128)_mm_max_epu8(XI(a), XI(b)); }
SIMD_INLINE v128 i16x8_min_s(v128 a, v128 b) { return (v128)_mm_min_epi16(XI(a), XI(b)); }
SIMD_INLINE v128 i16x8_max_s(v128 a, v128 b) { return (v128)_mm_max_epi16(XI(a), XI(b)); }
SIMD_INLINE v128 i8x16_add_sat_s(v128 a, v128 b) { return (v128)_mm_adds_epi8(XI(a), XI(b)); }
SIMD_INLINE v128 i8x16_add_sat_u(v128 a, v128 b) { return (v128)_mm_adds_epu8(XI(a), XI(b)); }
SIMD_INLINE v128 i8x16_sub_sat_s(v128 a, v128 b) { return (v128)_mm_subs_epi8(XI(a), XI(b)); }
SIMD_INLINE v128 i8x16_sub_sat_u(v128 a, v128 b) { return (v128)_mm_subs_epu8(XI(a), XI(b)); }
SIMD_INLINE v128 i16x8_add_sat_s(v128 a, v128 b) { return (v128)_mm_adds_epi16(XI(a), XI(b)); }
SIMD_INLINE v128 i16x8_add_sat_u(v128 a, v128 b) { return (v128)_mm_adds_epu16(XI(a), XI(b)); }
SIMD_INLINE v128 i16x8_sub_sat_s(v128 a, v128 b) { return (v128)_mm_subs_epi16(XI(a), XI(b)); }
SIMD_INLINE v128 i16x8_sub_sat_u(v128 a, v128 b) { return (v128)_mm_subs_epu16(XI(a), XI(b)); }
SIMD_INLINE v128 i8x16_narrow_i16x8_s(v128 a, v128 b) {
  return (v128)_mm_packs_epi16(XI(a), XI(b));
}
SIMD_INLINE v128 i8x16_narrow_i16x8_u(v128 a, v128 b) {
  return (v128)_mm_packus_epi16(XI(a), XI(b));
}
SIMD_INLINE v128 i16x8_narrow_i32x4_s(v128 a, v128 b) {
  return (v128)_mm_packs_epi32(XI(a), XI(b));
}
/* Lanes: (a0*b0 + a1*b1, ...), wrapping: pmaddwd exactly. */
SIMD_INLINE v128 i32x4_dot_i16x8_s(v128 a, v128 b) { return (v128)_mm_madd_epi16(XI(a), XI(b)); }
SIMD_INLINE uint32_t i8x16_bitmask(v128 a) { return (uint32_t)_mm_movemask_epi8(XI(a)); }
SIMD_INLINE uint32_t i16x8_bitmask(v128 a) {
  return (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(XI(a), _mm_setzero_si128())) & 0xff;
}
SIMD_INLINE uint32_t i32x4_bitmask(v128 a) { return (uint32_t)_mm_movemask_ps((__m128)a); }
SIMD_INLINE uint32_t i64x2_bitmask(v128 a) { return (uint32_t)_mm_movemask_pd((__m128d)a); }
SIMD_INLINE v128 f32x4_sqrt(v128 a) { return (v128)_mm_sqrt_ps((__m128)a); }
SIMD_INLINE v128 f64x2_sqrt(v128 a) { return (v128)_mm_sqrt_pd((__m128d)a); }
#undef XI
#else
/* Per-lane forms of the SSE2 instructions above. */
#define V_LANES(name, T, N, EXPR)                  \
  SIMD_INLINE v128 name(v128 a_, v128 b_) {         \
    T a = (T)a_, b = (T)b_, r = {0};               \
    for (int i = 0; i < N; i++) r[i] = (EXPR);     \
    return (v128)r;                                \
  }
#define CLAMP(x, lo, hi) ((x) < (lo) ? (lo) : (x) > (hi) ? (hi) : (x))
V_BIN(i8x16_min_u, vu8, VSEL(vu8, a < b, a, b)) V_BIN(i8x16_max_u, vu8, VSEL(vu8, a > b, a, b))
V_BIN(i16x8_min_s, vi16, VSEL(vi16, a < b, a, b)) V_BIN(i16x8_max_s, vi16, VSEL(vi16, a > b, a, b))
V_LANES(i8x16_add_sat_s, vi8, 16, CLAMP(a[i] + b[i], -128, 127))
V_LANES(i8x16_add_sat_u, vu8, 16, CLAMP(a[i] + b[i], 0, 255))
V_LANES(i8x16_sub_sat_s, vi8, 16, CLAMP(a[i] - b[i], -128, 127))
V_LANES(i8x16_sub_sat_u, vu8, 16, CLAMP(a[i] - b[i], 0, 255))
V_LANES(i16x8_add_sat_s, vi16, 8, CLAMP(a[i] + b[i], -32768, 32767))
V_LANES(i16x8_add_sat_u, vu16, 8, CLAMP(a[i] + b[i], 0, 65535))
V_LANES(i16x8_sub_sat_s, vi16, 8, CLAMP(a[i] - b[i], -32768, 32767))
V_LANES(i16x8_sub_sat_u, vu16, 8, CLAMP(a[i] - b[i], 0, 65535))
SIMD_INLINE v128 i8x16_narrow_i16x8_s(v128 a_, v128 b_) {
  vi16 a = (vi16)a_, b = (vi16)b_;
  vi8 r = {0};
  for (int i = 0; i < 8; i++) r[i] = (int8_t)CLAMP(a[i], -128, 127);
  for (int i = 0; i < 8; i++) r[8 + i] = (int8_t)CLAMP(b[i], -128, 127);
  return (v128)r;
}
SIMD_INLINE v128 i8x16_narrow_i16x8_u(v128 a_, v128 b_) {
  vi16 a = (vi16)a_, b = (vi16)b_;
  vu8 r = {0};
  for (int i = 0; i < 8; i++) r[i] = (uint8_t)CLAMP(a[i], 0, 255);
  for (int i = 0; i < 8; i++) r[8 + i] = (uint8_t)CLAMP(b[i], 0, 255);
  return (v128)r;
}
SIMD_INLINE v128 i16x8_narrow_i32x4_s(v128 a_, v128 b_) {
  vi32 a = (vi32)a_, b = (vi32)b_;
  vi16 r = {0};
  for (int i = 0; i < 4; i++) r[i] = (int16_t)CLAMP(a[i], -32768, 32767);
  for (int i = 0; i < 4; i++) r[4 + i] = (int16_t)CLAMP(b[i], -32768, 32767);
  return (v128)r;
}
SIMD_INLINE v128 i32x4_dot_i16x8_s(v128 a_, v128 b_) {
  vi16 a = (vi16)a_, b = (vi16)b_;
  vu32 r = {0};
  for (int i = 0; i < 4; i++)
    r[i] = (uint32_t)(a[2 * i] * b[2 * i]) + (uint32_t)(a[2 * i + 1] * b[2 * i + 1]);
  return (v128)r;
}
SIMD_INLINE uint32_t i8x16_bitmask(v128 a_) {
  vu8 a = (vu8)a_;
  uint32_t m = 0;
  for (int i = 0; i < 16; i++) m |= (uint32_t)(a[i] >> 7) << i;
  return m;
}
SIMD_INLINE uint32_t i16x8_bitmask(v128 a_) {
  vu16 a = (vu16)a_;
  uint32_t m = 0;
  for (int i = 0; i < 8; i++) m |= (uint32_t)(a[i] >> 15) << i;
  return m;
}
SIMD_INLINE uint32_t i32x4_bitmask(v128 a_) {
  vu32 a = (vu32)a_;
  uint32_t m = 0;
  for (int i = 0; i < 4; i++) m |= (a[i] >> 31) << i;
  return m;
}
SIMD_INLINE uint32_t i64x2_bitmask(v128 a) {
  return (uint32_t)(a[0] >> 63) | (uint32_t)(a[1] >> 63) << 1;
}
SIMD_INLINE v128 f32x4_sqrt(v128 a_) {
  vf32 a = (vf32)a_;
  for (int i = 0; i < 4; i++) a[i] = sqrtf(a[i]);
  return (v128)a;
}
SIMD_INLINE v128 f64x2_sqrt(v128 a_) {
  vf64 a = (vf64)a_;
  for (int i = 0; i < 2; i++) a[i] = sqrt(a[i]);
  return (v128)a;
}
#undef V_LANES
#undef CLAMP
#endif

/* i32 lanes to u16 with unsigned saturation (packusdw is SSE4.1): clamp
 * by compares, then pack the low halves. */
SIMD_INLINE v128 i16x8_narrow_i32x4_u(v128 a_, v128 b_) {
  vi32 a = (vi32)a_, b = (vi32)b_, z = {0}, m = z + 65535;
  a = VSEL(vi32, a < z, z, a);
  a = VSEL(vi32, a > m, m, a);
  b = VSEL(vi32, b < z, z, b);
  b = VSEL(vi32, b > m, m, b);
  vu16 r = {0};
  for (int i = 0; i < 4; i++) {
    r[i] = (uint16_t)a[i];
    r[4 + i] = (uint16_t)b[i];
  }
  return (v128)r;
}

/* Q15 rounding multiply: (a * b + 0x4000) >> 15 per lane in i32, then a
 * saturating pack (only -32768 * -32768 overflows). */
SIMD_INLINE v128 i16x8_q15mulr_sat_s(v128 a_, v128 b_) {
  vi16 a = (vi16)a_, b = (vi16)b_;
  vi32 lo = {0}, hi = {0};
  for (int i = 0; i < 4; i++) {
    lo[i] = (a[i] * b[i] + 0x4000) >> 15;
    hi[i] = (a[4 + i] * b[4 + i] + 0x4000) >> 15;
  }
  return i16x8_narrow_i32x4_s((v128)lo, (v128)hi);
}

SIMD_INLINE uint32_t i8x16_all_true(v128 a) {
  vu8 z = {0};
  return i8x16_bitmask((v128)((vu8)a == z)) == 0;
}
SIMD_INLINE uint32_t i16x8_all_true(v128 a) {
  vu16 z = {0};
  return i8x16_bitmask((v128)((vu16)a == z)) == 0;
}
SIMD_INLINE uint32_t i32x4_all_true(v128 a) {
  vu32 z = {0};
  return i8x16_bitmask((v128)((vu32)a == z)) == 0;
}
SIMD_INLINE uint32_t i64x2_all_true(v128 a) { return a[0] != 0 && a[1] != 0; }

/* Bit count per byte (SWAR; pshufb's nibble table needs SSSE3). */
SIMD_INLINE v128 i8x16_popcnt(v128 a_) {
  vu8 a = (vu8)a_;
  a = a - ((a >> 1) & 0x55);
  a = (a & 0x33) + ((a >> 2) & 0x33);
  return (v128)((a + (a >> 4)) & 0x0f);
}

/* Shifts: the count is taken modulo the lane width. */
#define V_SHIFT(name, T, W, OP) \
  SIMD_INLINE v128 name(v128 a, uint32_t n) { return (v128)((T)a OP(int)(n & (W - 1))); }
V_SHIFT(i8x16_shl, vu8, 8, <<) V_SHIFT(i8x16_shr_s, vi8, 8, >>) V_SHIFT(i8x16_shr_u, vu8, 8, >>)
V_SHIFT(i16x8_shl, vu16, 16, <<) V_SHIFT(i16x8_shr_s, vi16, 16, >>)
V_SHIFT(i16x8_shr_u, vu16, 16, >>)
V_SHIFT(i32x4_shl, vu32, 32, <<) V_SHIFT(i32x4_shr_s, vi32, 32, >>)
V_SHIFT(i32x4_shr_u, vu32, 32, >>)
V_SHIFT(i64x2_shl, vu64, 64, <<) V_SHIFT(i64x2_shr_s, vi64, 64, >>)
V_SHIFT(i64x2_shr_u, vu64, 64, >>)
#undef V_SHIFT

/* ------------------------------------------------ widening, narrowing */

/* The low or high 8 bytes of a as a half vector. */
#define HALF(T, a, hi)                         \
  ({                                           \
    T h_;                                      \
    memcpy(&h_, (const char *)&(a) + ((hi) ? 8 : 0), 8); \
    h_;                                        \
  })
#define V_EXT(name, H, W, hi) \
  SIMD_INLINE v128 name(v128 a) { return (v128)__builtin_convertvector(HALF(H, a, hi), W); }
V_EXT(i16x8_extend_low_i8x16_s, hi8, vi16, 0) V_EXT(i16x8_extend_high_i8x16_s, hi8, vi16, 1)
V_EXT(i16x8_extend_low_i8x16_u, hu8, vu16, 0) V_EXT(i16x8_extend_high_i8x16_u, hu8, vu16, 1)
V_EXT(i32x4_extend_low_i16x8_s, hi16, vi32, 0) V_EXT(i32x4_extend_high_i16x8_s, hi16, vi32, 1)
V_EXT(i32x4_extend_low_i16x8_u, hu16, vu32, 0) V_EXT(i32x4_extend_high_i16x8_u, hu16, vu32, 1)
V_EXT(i64x2_extend_low_i32x4_s, hi32, vi64, 0) V_EXT(i64x2_extend_high_i32x4_s, hi32, vi64, 1)
V_EXT(i64x2_extend_low_i32x4_u, hu32, vu64, 0) V_EXT(i64x2_extend_high_i32x4_u, hu32, vu64, 1)
#undef V_EXT
/* Extended multiplication: extend both halves, multiply in the wide lanes
 * (unsigned lanes: the product of two extended values cannot overflow
 * the signed ones except i64 from i32, where wrapping is the answer). */
#define V_EXTMUL(name, H, W, UW, hi)                                       \
  SIMD_INLINE v128 name(v128 a, v128 b) {                                  \
    return (v128)((UW)__builtin_convertvector(HALF(H, a, hi), W) *         \
                  (UW)__builtin_convertvector(HALF(H, b, hi), W));         \
  }
V_EXTMUL(i16x8_extmul_low_i8x16_s, hi8, vi16, vu16, 0)
V_EXTMUL(i16x8_extmul_high_i8x16_s, hi8, vi16, vu16, 1)
V_EXTMUL(i16x8_extmul_low_i8x16_u, hu8, vu16, vu16, 0)
V_EXTMUL(i16x8_extmul_high_i8x16_u, hu8, vu16, vu16, 1)
V_EXTMUL(i32x4_extmul_low_i16x8_s, hi16, vi32, vu32, 0)
V_EXTMUL(i32x4_extmul_high_i16x8_s, hi16, vi32, vu32, 1)
V_EXTMUL(i32x4_extmul_low_i16x8_u, hu16, vu32, vu32, 0)
V_EXTMUL(i32x4_extmul_high_i16x8_u, hu16, vu32, vu32, 1)
V_EXTMUL(i64x2_extmul_low_i32x4_s, hi32, vi64, vu64, 0)
V_EXTMUL(i64x2_extmul_high_i32x4_s, hi32, vi64, vu64, 1)
V_EXTMUL(i64x2_extmul_low_i32x4_u, hu32, vu64, vu64, 0)
V_EXTMUL(i64x2_extmul_high_i32x4_u, hu32, vu64, vu64, 1)
#undef V_EXTMUL
/* Pairwise sums: the odd lane (arithmetic or logical shift of the wide
 * lane) plus the even one (shifted up and back down). */
V_UN(i16x8_extadd_pairwise_i8x16_s, vi16, (vi16)((vu16)((a << 8) >> 8) + (vu16)(a >> 8)))
V_UN(i16x8_extadd_pairwise_i8x16_u, vu16, (a & 0xff) + (a >> 8))
V_UN(i32x4_extadd_pairwise_i16x8_s, vi32, (vi32)((vu32)((a << 16) >> 16) + (vu32)(a >> 16)))
V_UN(i32x4_extadd_pairwise_i16x8_u, vu32, (a & 0xffff) + (a >> 16))

/* ---------------------------------------------------- floating point */

V_BIN(f32x4_add, vf32, a + b) V_BIN(f32x4_sub, vf32, a - b) V_BIN(f32x4_mul, vf32, a * b)
V_BIN(f32x4_div, vf32, a / b)
V_BIN(f64x2_add, vf64, a + b) V_BIN(f64x2_sub, vf64, a - b) V_BIN(f64x2_mul, vf64, a * b)
V_BIN(f64x2_div, vf64, a / b)
V_UN(f32x4_abs, vu32, a & 0x7fffffffu) V_UN(f32x4_neg, vu32, a ^ 0x80000000u)
V_UN(f64x2_abs, vu64, a & 0x7fffffffffffffffull) V_UN(f64x2_neg, vu64, a ^ 0x8000000000000000ull)
/* pmin: b < a ? b : a; pmax: a < b ? b : a (bits kept, NaN not special). */
V_BIN(f32x4_pmin, vf32, VSEL(vf32, b < a, b, a)) V_BIN(f32x4_pmax, vf32, VSEL(vf32, a < b, b, a))
V_BIN(f64x2_pmin, vf64, VSEL(vf64, b < a, b, a)) V_BIN(f64x2_pmax, vf64, VSEL(vf64, a < b, b, a))
/* min: the smaller; equal values OR their signs (-0 wins); a NaN lane
 * gives a + b, a quiet NaN. max: the same with AND (+0 wins). */
SIMD_INLINE v128 f32x4_min(v128 a_, v128 b_) {
  vf32 a = (vf32)a_, b = (vf32)b_;
  vu32 nan = (vu32)((a != a) | (b != b));
  vu32 lt = (vu32)(a < b), gt = (vu32)(b < a);
  vu32 r = ((vu32)a & lt) | ((vu32)b & gt) | (((vu32)a | (vu32)b) & ~lt & ~gt);
  return (v128)VSEL(vu32, nan, (vu32)(a + b), r);
}
SIMD_INLINE v128 f32x4_max(v128 a_, v128 b_) {
  vf32 a = (vf32)a_, b = (vf32)b_;
  vu32 nan = (vu32)((a != a) | (b != b));
  vu32 gt = (vu32)(a > b), lt = (vu32)(b > a);
  vu32 r = ((vu32)a & gt) | ((vu32)b & lt) | (((vu32)a & (vu32)b) & ~lt & ~gt);
  return (v128)VSEL(vu32, nan, (vu32)(a + b), r);
}
SIMD_INLINE v128 f64x2_min(v128 a_, v128 b_) {
  vf64 a = (vf64)a_, b = (vf64)b_;
  vu64 nan = (vu64)((a != a) | (b != b));
  vu64 lt = (vu64)(a < b), gt = (vu64)(b < a);
  vu64 r = ((vu64)a & lt) | ((vu64)b & gt) | (((vu64)a | (vu64)b) & ~lt & ~gt);
  return (v128)VSEL(vu64, nan, (vu64)(a + b), r);
}
SIMD_INLINE v128 f64x2_max(v128 a_, v128 b_) {
  vf64 a = (vf64)a_, b = (vf64)b_;
  vu64 nan = (vu64)((a != a) | (b != b));
  vu64 gt = (vu64)(a > b), lt = (vu64)(b > a);
  vu64 r = ((vu64)a & gt) | ((vu64)b & lt) | (((vu64)a & (vu64)b) & ~lt & ~gt);
  return (v128)VSEL(vu64, nan, (vu64)(a + b), r);
}
/* Rounding, per lane: a NaN comes back quiet (x + x), as for the scalar
 * ops; roundps is SSE4.1. */
#define V_ROUND(name, T, N, FN)                                \
  SIMD_INLINE v128 name(v128 a_) {                             \
    T a = (T)a_;                                               \
    for (int i = 0; i < N; i++) a[i] = a[i] != a[i] ? a[i] + a[i] : FN(a[i]); \
    return (v128)a;                                            \
  }
V_ROUND(f32x4_ceil, vf32, 4, ceilf) V_ROUND(f32x4_floor, vf32, 4, floorf)
V_ROUND(f32x4_trunc, vf32, 4, truncf) V_ROUND(f32x4_nearest, vf32, 4, rintf)
V_ROUND(f64x2_ceil, vf64, 2, ceil) V_ROUND(f64x2_floor, vf64, 2, floor)
V_ROUND(f64x2_trunc, vf64, 2, trunc) V_ROUND(f64x2_nearest, vf64, 2, rint)
#undef V_ROUND

/* ------------------------------------------------------- conversions */

/* Saturating float-to-int truncation per lane, by numeric.h's scalar
 * ones (an f32 lane widens to f64 exactly). */
SIMD_INLINE v128 i32x4_trunc_sat_f32x4_s(v128 a_) {
  vf32 a = (vf32)a_;
  vi32 r = {0};
  for (int i = 0; i < 4; i++) r[i] = (int32_t)i32_sat_f64_s(a[i]);
  return (v128)r;
}
SIMD_INLINE v128 i32x4_trunc_sat_f32x4_u(v128 a_) {
  vf32 a = (vf32)a_;
  vu32 r = {0};
  for (int i = 0; i < 4; i++) r[i] = i32_sat_f64_u(a[i]);
  return (v128)r;
}
SIMD_INLINE v128 i32x4_trunc_sat_f64x2_s_zero(v128 a_) {
  vf64 a = (vf64)a_;
  vi32 r = {(int32_t)i32_sat_f64_s(a[0]), (int32_t)i32_sat_f64_s(a[1]), 0, 0};
  return (v128)r;
}
SIMD_INLINE v128 i32x4_trunc_sat_f64x2_u_zero(v128 a_) {
  vf64 a = (vf64)a_;
  vu32 r = {i32_sat_f64_u(a[0]), i32_sat_f64_u(a[1]), 0, 0};
  return (v128)r;
}
V_UN(f32x4_convert_i32x4_s, vi32, __builtin_convertvector(a, vf32))
V_UN(f32x4_convert_i32x4_u, vu32, __builtin_convertvector(a, vf32))
SIMD_INLINE v128 f64x2_convert_low_i32x4_s(v128 a) {
  return (v128)__builtin_convertvector(HALF(hi32, a, 0), vf64);
}
SIMD_INLINE v128 f64x2_convert_low_i32x4_u(v128 a) {
  return (v128)__builtin_convertvector(HALF(hu32, a, 0), vf64);
}
SIMD_INLINE v128 f32x4_demote_f64x2_zero(v128 a_) {
  vf64 a = (vf64)a_;
  vf32 r = {(float)a[0], (float)a[1], 0, 0};
  return (v128)r;
}
SIMD_INLINE v128 f64x2_promote_low_f32x4(v128 a) {
  return (v128)__builtin_convertvector(HALF(hf32, a, 0), vf64);
}

/* ------------------------------------------------------------- loads */

/* Each takes the address of the bytes it reads (bounds already checked). */
SIMD_INLINE v128 v128_load(const uint8_t *p) { return v_load(p); }
#define V_LDEXT(name, H, W)                       \
  SIMD_INLINE v128 name(const uint8_t *p) {       \
    H h;                                          \
    memcpy(&h, p, 8);                             \
    return (v128)__builtin_convertvector(h, W);   \
  }
V_LDEXT(v128_load8x8_s, hi8, vi16) V_LDEXT(v128_load8x8_u, hu8, vu16)
V_LDEXT(v128_load16x4_s, hi16, vi32) V_LDEXT(v128_load16x4_u, hu16, vu32)
V_LDEXT(v128_load32x2_s, hi32, vi64) V_LDEXT(v128_load32x2_u, hu32, vu64)
#undef V_LDEXT
SIMD_INLINE v128 v128_load8_splat(const uint8_t *p) { return i8x16_splat(*p); }
SIMD_INLINE v128 v128_load16_splat(const uint8_t *p) {
  uint16_t x;
  memcpy(&x, p, 2);
  return i16x8_splat(x);
}
SIMD_INLINE v128 v128_load32_splat(const uint8_t *p) {
  uint32_t x;
  memcpy(&x, p, 4);
  return i32x4_splat(x);
}
SIMD_INLINE v128 v128_load64_splat(const uint8_t *p) {
  uint64_t x;
  memcpy(&x, p, 8);
  return i64x2_splat(x);
}
SIMD_INLINE v128 v128_load32_zero(const uint8_t *p) {
  uint32_t x;
  memcpy(&x, p, 4);
  return (v128){x, 0};
}
SIMD_INLINE v128 v128_load64_zero(const uint8_t *p) {
  uint64_t x;
  memcpy(&x, p, 8);
  return (v128){x, 0};
}

/* ------------------------------------------------------- relaxed SIMD */

/* Wasm 3.0's relaxed instructions allow several results; cis gives one,
 * the same on both engines and every CPU: the non-relaxed counterpart
 * where there is one (swizzle, trunc_sat, bitselect, min, max,
 * q15mulr_sat), a multiply and an add rounded apart for madd and nmadd
 * (no fused multiply-add: the product goes through memory, so no
 * compiler contracts the two, whatever -ffp-contract), and dot products
 * of signed bytes by signed bytes, wrapping in the 16-bit sums. */
SIMD_INLINE v128 i8x16_relaxed_swizzle(v128 a, v128 s) { return i8x16_swizzle(a, s); }
SIMD_INLINE v128 i32x4_relaxed_trunc_f32x4_s(v128 a) { return i32x4_trunc_sat_f32x4_s(a); }
SIMD_INLINE v128 i32x4_relaxed_trunc_f32x4_u(v128 a) { return i32x4_trunc_sat_f32x4_u(a); }
SIMD_INLINE v128 i32x4_relaxed_trunc_f64x2_s_zero(v128 a) { return i32x4_trunc_sat_f64x2_s_zero(a); }
SIMD_INLINE v128 i32x4_relaxed_trunc_f64x2_u_zero(v128 a) { return i32x4_trunc_sat_f64x2_u_zero(a); }
#define RELAXED_MADD(name, T, neg)                                             \
  SIMD_INLINE v128 name(v128 a, v128 b, v128 c) {                             \
    T p = (T)a * (T)b;                                                         \
    __asm__("" : "+m"(p));                                                     \
    return (v128)(neg ? (T)c - p : p + (T)c);                                  \
  }
RELAXED_MADD(f32x4_relaxed_madd, vf32, 0) RELAXED_MADD(f32x4_relaxed_nmadd, vf32, 1)
RELAXED_MADD(f64x2_relaxed_madd, vf64, 0) RELAXED_MADD(f64x2_relaxed_nmadd, vf64, 1)
#undef RELAXED_MADD
SIMD_INLINE v128 i8x16_relaxed_laneselect(v128 a, v128 b, v128 m) { return v128_bitselect(a, b, m); }
SIMD_INLINE v128 i16x8_relaxed_laneselect(v128 a, v128 b, v128 m) { return v128_bitselect(a, b, m); }
SIMD_INLINE v128 i32x4_relaxed_laneselect(v128 a, v128 b, v128 m) { return v128_bitselect(a, b, m); }
SIMD_INLINE v128 i64x2_relaxed_laneselect(v128 a, v128 b, v128 m) { return v128_bitselect(a, b, m); }
SIMD_INLINE v128 f32x4_relaxed_min(v128 a, v128 b) { return f32x4_min(a, b); }
SIMD_INLINE v128 f32x4_relaxed_max(v128 a, v128 b) { return f32x4_max(a, b); }
SIMD_INLINE v128 f64x2_relaxed_min(v128 a, v128 b) { return f64x2_min(a, b); }
SIMD_INLINE v128 f64x2_relaxed_max(v128 a, v128 b) { return f64x2_max(a, b); }
SIMD_INLINE v128 i16x8_relaxed_q15mulr_s(v128 a, v128 b) { return i16x8_q15mulr_sat_s(a, b); }
/* Lane i: a[2i] * b[2i] + a[2i+1] * b[2i+1], in 16 bits. */
SIMD_INLINE v128 i16x8_relaxed_dot_i8x16_i7x16_s(v128 a_, v128 b_) {
  vi8 a = (vi8)a_, b = (vi8)b_;
  vu16 r = {0};
  for (int i = 0; i < 8; i++) r[i] = (uint16_t)(a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1]);
  return (v128)r;
}
/* Lane i: the two 16-bit sums of lanes 2i and 2i+1 above, widened, plus c[i]. */
SIMD_INLINE v128 i32x4_relaxed_dot_i8x16_i7x16_add_s(v128 a, v128 b, v128 c_) {
  vi16 d = (vi16)i16x8_relaxed_dot_i8x16_i7x16_s(a, b);
  vu32 c = (vu32)c_, r = {0};
  for (int i = 0; i < 4; i++) r[i] = (uint32_t)(int32_t)d[2 * i] + (uint32_t)(int32_t)d[2 * i + 1] + c[i];
  return (v128)r;
}

#undef V_BIN
#undef V_UN
#undef HALF

#endif /* CIS_WASM_SIMD_H */
