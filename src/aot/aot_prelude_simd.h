/*
 * This file implements the v128 helpers of the generated code, pasted
 * after aot_rt.h, src/wasm/numeric.h, aot_prelude.h and src/wasm/simd.h
 * into the files of modules that use v128 (the others are compiled
 * without these hundreds of lines of vector code and their headers):
 * v128 values from slots, v128 globals, the checked stores and lane
 * accesses, and the byte shuffles. codegen.c pastes it verbatim; it is
 * never compiled into libcis.
 */

/* A function that uses v128 is written twice by the code generator, for
 * the architecture's base (SSE2) and for x86-64-v2 (SSSE3, SSE4.1:
 * pshufb, pmulld, pmovsx, roundps, pminsb and the like), with AOT_V2
 * defined to 1 or 0 around each, and the function's own name calls the
 * one the CPU runs, by the context's cpu_v2 (set by the loader, which
 * asks the CPU once): the object stays portable, and the SIMD code gets
 * what the CPU has. Not an ifunc: its relocation and libgcc's CPU-model
 * constructor need the system's dynamic loader, and cis maps objects
 * itself. Not target_clones: in its clones a CPU test stays a load and a
 * branch inside the loops, where AOT_V2 is a constant. The lane
 * functions' semantics do not depend on it. */
#ifndef AOT_SIMD_TWO /* -DAOT_SIMD_TWO=0 (CIS_AOT_CFLAGS): the base alone, for tests */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define AOT_SIMD_TWO 1
#else
#define AOT_SIMD_TWO 0
#endif
#endif
#define AOT_V2_FN __attribute__((target("arch=x86-64-v2")))

/* A v128 is the vector type of src/wasm/simd.h, pasted before this
 * text with all the lane functions both engines share, which the
 * generated code calls by the names of simd.def. In slots (arguments and results
 * through the runtime, cis_slot) it is two: the low 8 bytes first. */
static inline v128 v128_of(uint64_t lo, uint64_t hi) { return (v128){lo, hi}; }
static inline v128 gget128(void *const g) {
  v128 v; memcpy(&v, (char *)g + AOT_OFF_GVAL, 16); return v;
}
static inline void gset128(void *const g, v128 v) { memcpy((char *)g + AOT_OFF_GVAL, &v, 16); }

/* v128.store (vst128u: covered by a check group's check), and the lane
 * loads and stores: n bytes at byte offset at of the vector, checked as
 * every access (aot_ea). */
static inline void vst128(cis_aot_ctx *c, uint32_t fi, uint8_t *m, uint64_t ms, uint32_t a,
                          uint32_t off, v128 v) {
  v_store(m + aot_ea(c, fi, ms, a, off, 16), v);
}
static inline void vst128u(uint8_t *m, uint32_t a, uint32_t off, v128 v) {
  v_store(m + AOT_EAU(a, off), v);
}
static inline v128 vld_lane(cis_aot_ctx *c, uint32_t fi, uint8_t *m, uint64_t ms, uint32_t a,
                            uint32_t off, v128 v, uint32_t at, uint32_t n) {
  memcpy((uint8_t *)&v + at, m + aot_ea(c, fi, ms, a, off, n), n);
  return v;
}
static inline void vst_lane(cis_aot_ctx *c, uint32_t fi, uint8_t *m, uint64_t ms, uint32_t a,
                            uint32_t off, v128 v, uint32_t at, uint32_t n) {
  memcpy(m + aot_ea(c, fi, ms, a, off, n), (uint8_t *)&v + at, n);
}

/* i8x16.shuffle and i8x16.swizzle. SSE2 has no byte shuffle, and gcc
 * lowers one (even of constant lanes) to a byte-by-byte copy through
 * memory, slower than the interpreter. So, in a function's x86-64-v2
 * body (AOT_V2), gcc's shuffle builtin on the constant lanes, which it
 * lowers to an inline pshufb or better, and simd.h's pshufb swizzle;
 * in the base body, as the interpreter does, simd.h's out-of-line pshufb
 * where the CPU has SSSE3 (ssse3: the context's cpu_ssse3, which the
 * loader sets: the object asks the CPU nothing, whose libgcc part is a
 * constructor; m: the two masks of i8x16_shuffle_masks, made when the C
 * is generated), else the lane loop. */
static inline v128 aot_shuffle(uint32_t ssse3, v128 a, v128 b, const uint8_t *m) {
#if CIS_SIMD_SSSE3
  if (AOT_LIKELY(ssse3)) return i8x16_shuffle_ssse3(a, b, m);
#else
  (void)ssse3;
#endif
  return i8x16_shuffle_m(a, b, m);
}
static inline v128 aot_swizzle(uint32_t ssse3, v128 a, v128 s) {
#if CIS_SIMD_SSSE3
  if (AOT_LIKELY(ssse3)) return i8x16_swizzle_ssse3(a, s);
#else
  (void)ssse3;
#endif
  return i8x16_swizzle(a, s);
}
#if AOT_SIMD_TWO && CIS_SIMD_SSSE3
#define AOT_SHUFFLE(a, b, m, ...)                                                 \
  (AOT_V2 ? (v128)__builtin_shuffle((vu8)(a), (vu8)(b), (vu8){__VA_ARGS__})        \
          : aot_shuffle(c->cpu_ssse3, (a), (b), (m)))
#define AOT_SWIZZLE(a, s)                                                         \
  (AOT_V2 ? i8x16_swizzle_ssse3((a), (s)) : aot_swizzle(c->cpu_ssse3, (a), (s)))
#else
#define AOT_SHUFFLE(a, b, m, ...) aot_shuffle(c->cpu_ssse3, (a), (b), (m))
#define AOT_SWIZZLE(a, s) aot_swizzle(c->cpu_ssse3, (a), (s))
#endif

/* i16 lanes widened to i32 lanes, and their products. gcc 12 lowers
 * simd.h's __builtin_convertvector of a half vector (the widening loads
 * and extends) through two quarter-size extensions and a merge, and an
 * i32x4.mul to pmulld (SSE4.1, slow) or a pmuludq emulation (SSE2). The
 * code generator emits these instead for i32x4.extend_*_i16x8_*,
 * v128.load16x4_* and i32x4.extmul_*_i16x8_*, and for an i32x4.mul
 * whose two operands it saw widened alike from the i16 lanes of x and
 * y (clang's code for a sum of i16 products): interleaving x with itself
 * (or zero) and shifting is the widening; the signed products are
 * pmaddwd of the lanes each beside a zero (a * b + 0 * 0, at most 2^30);
 * for the unsigned ones pmullw and pmulhuw give the low and high 16 bits,
 * interleaved they are the 32-bit products (below 2^32), exact.
 * hi: the high 4 lanes of x, else the low 4; s: signed. */
#if defined(__SSE2__)
static inline __attribute__((always_inline)) v128 aot_wide16_v1(v128 x, int hi, int s) {
  __m128i v = (__m128i)x;
  if (s)
    return (v128)_mm_srai_epi32(hi ? _mm_unpackhi_epi16(v, v) : _mm_unpacklo_epi16(v, v), 16);
  __m128i z = _mm_setzero_si128();
  return (v128)(hi ? _mm_unpackhi_epi16(v, z) : _mm_unpacklo_epi16(v, z));
}
static inline __attribute__((always_inline)) v128 aot_mul16_v1(v128 x, v128 y, int hi, int s) {
  __m128i a = (__m128i)x, b = (__m128i)y;
  if (s) {
    /* Each i16 beside a zero: pmaddwd's a * b + 0 * 0 is the product. */
    __m128i z = _mm_setzero_si128();
    return (v128)_mm_madd_epi16(hi ? _mm_unpackhi_epi16(a, z) : _mm_unpacklo_epi16(a, z),
                                hi ? _mm_unpackhi_epi16(b, z) : _mm_unpacklo_epi16(b, z));
  }
  __m128i lo = _mm_mullo_epi16(a, b);
  __m128i h = s ? _mm_mulhi_epi16(a, b) : _mm_mulhi_epu16(a, b);
  return (v128)(hi ? _mm_unpackhi_epi16(lo, h) : _mm_unpacklo_epi16(lo, h));
}
#else
static inline v128 aot_wide16_v1(v128 x, int hi, int s) {
  return s ? (hi ? i32x4_extend_high_i16x8_s(x) : i32x4_extend_low_i16x8_s(x))
           : (hi ? i32x4_extend_high_i16x8_u(x) : i32x4_extend_low_i16x8_u(x));
}
static inline v128 aot_mul16_v1(v128 x, v128 y, int hi, int s) {
  return s ? (hi ? i32x4_extmul_high_i16x8_s(x, y) : i32x4_extmul_low_i16x8_s(x, y))
           : (hi ? i32x4_extmul_high_i16x8_u(x, y) : i32x4_extmul_low_i16x8_u(x, y));
}
#endif
/* In the x86-64-v2 body the low lanes are widened by pmovsxwd and
 * pmovzxwd (SSE4.1), which gcc folds with the 8-byte load before them:
 * simd_dot's movq and unpack of each operand become one instruction.
 * Built for that body's target, so that gcc inlines them there. */
#if AOT_SIMD_TWO
#include <smmintrin.h>
AOT_V2_FN __attribute__((unused)) static inline v128 aot_wide16_v2(v128 x, int hi, int s) {
  __m128i v = (__m128i)x;
  if (!hi) return (v128)(s ? _mm_cvtepi16_epi32(v) : _mm_cvtepu16_epi32(v));
  return (v128)(s ? _mm_srai_epi32(_mm_unpackhi_epi16(v, v), 16)
                  : _mm_unpackhi_epi16(v, _mm_setzero_si128()));
}
AOT_V2_FN __attribute__((unused)) static inline v128 aot_mul16_v2(v128 x, v128 y, int hi, int s) {
  __m128i a = (__m128i)x, b = (__m128i)y, z = _mm_setzero_si128();
  if (s && !hi) return (v128)_mm_madd_epi16(_mm_cvtepu16_epi32(a), _mm_cvtepu16_epi32(b));
  if (s) return (v128)_mm_madd_epi16(_mm_unpackhi_epi16(a, z), _mm_unpackhi_epi16(b, z));
  __m128i lo = _mm_mullo_epi16(a, b), h = _mm_mulhi_epu16(a, b);
  return (v128)(hi ? _mm_unpackhi_epi16(lo, h) : _mm_unpacklo_epi16(lo, h));
}
#define aot_wide16(x, hi, s) (AOT_V2 ? aot_wide16_v2((x), (hi), (s)) : aot_wide16_v1((x), (hi), (s)))
#define aot_mul16(x, y, hi, s)                                                   \
  (AOT_V2 ? aot_mul16_v2((x), (y), (hi), (s)) : aot_mul16_v1((x), (y), (hi), (s)))
#else
#define aot_wide16 aot_wide16_v1
#define aot_mul16 aot_mul16_v1
#endif

/* i8x16.shuffle with one operand known to be zero (a v128.const 0, or a
 * local only ever assigned one: clang keeps the zero of its byte
 * widenings in a local). Every lane taken from that operand is zero,
 * whatever its index, which gcc's shuffle builtin cannot know: it built
 * clang's {16, 1, 17, 3, ...} (x's low bytes beside zeros) as two pshufb
 * and a blend. The code generator matches the zero-extending interleaves
 * and the half moves (aot_zip0, SSE2: one instruction in both bodies);
 * any other such shuffle is one pshufb of the other operand in the
 * x86-64-v2 body, 0x80 in its zero lanes (AOT_SHUFFLE0). k: AOT_Z_*. */
enum {
  AOT_Z_LO8, AOT_Z_HI8, AOT_Z_LO16, AOT_Z_HI16, AOT_Z_LO32, AOT_Z_HI32, AOT_Z_LO64, AOT_Z_HI64
};
#if defined(__SSE2__)
static inline __attribute__((always_inline)) v128 aot_zip0(v128 x, int k) {
  __m128i v = (__m128i)x, z = _mm_setzero_si128();
  switch (k) {
  case AOT_Z_LO8: return (v128)_mm_unpacklo_epi8(v, z);
  case AOT_Z_HI8: return (v128)_mm_unpackhi_epi8(v, z);
  case AOT_Z_LO16: return (v128)_mm_unpacklo_epi16(v, z);
  case AOT_Z_HI16: return (v128)_mm_unpackhi_epi16(v, z);
  case AOT_Z_LO32: return (v128)_mm_unpacklo_epi32(v, z);
  case AOT_Z_HI32: return (v128)_mm_unpackhi_epi32(v, z);
  case AOT_Z_LO64: return (v128)_mm_move_epi64(v);
  default: return (v128)_mm_unpackhi_epi64(v, z);
  }
}
#else
static inline v128 aot_zip0(v128 x, int k) {
  /* Lanes of w bytes from x's low or high half, each beside a zero lane. */
  uint8_t s[16], r[16] = {0};
  memcpy(s, &x, 16);
  unsigned w = 1u << (k / 2), from = (k & 1) ? 8 : 0;
  for (unsigned j = 0; j < 8 / w; j++) memcpy(r + 2 * j * w, s + from + j * w, w);
  return v_load(r);
}
#endif
/* The unsigned lt and gt of i8, i16 and i32 lanes, as signed ones of
 * the lanes plus their sign bit (bytes: a < b unsigned is a + 0x80 <
 * b + 0x80 signed). SSE2 and SSE4.1 have no unsigned comparison, so gcc
 * makes the vector extension's a saturating subtraction or a max, a
 * comparison and a not; the sign bit added is one add, which gcc folds
 * into an add of a constant before it (clang's x - '0' of a range check)
 * and hoists out of a loop for an operand the loop does not change. The
 * code generator emits these for i8x16/i16x8/i32x4.lt_u and gt_u. */
#define AOT_CMP_U(name, U, S, bit)                                                \
  static inline __attribute__((unused)) v128 aot_##name(v128 a, v128 b) {          \
    U f = (U){0} + (bit);                                                         \
    return (v128)((S)((U)a + f) < (S)((U)b + f));                                 \
  }
AOT_CMP_U(i8x16_lt_u, vu8, vi8, 0x80)
AOT_CMP_U(i16x8_lt_u, vu16, vi16, 0x8000)
AOT_CMP_U(i32x4_lt_u, vu32, vi32, 0x80000000u)
#define aot_i8x16_gt_u(a, b) aot_i8x16_lt_u((b), (a))
#define aot_i16x8_gt_u(a, b) aot_i16x8_lt_u((b), (a))
#define aot_i32x4_gt_u(a, b) aot_i32x4_lt_u((b), (a))

/* x in bytes 0 to 3: an i32x4.splat whose other lanes nothing reads
 * (the code generator's low4). movd; gcc adds a movq to v128_of(x, 0). */
#if defined(__SSE2__)
#define aot_low4(x) ((v128)_mm_cvtsi32_si128((int)(x)))
#else
#define aot_low4(x) v128_of((x), 0)
#endif

/* Bytes 4q to 4q+3 of x, each four times: a comparison's mask spread to
 * i32 lanes (the shuffle of clang's count of the lanes it set, which the
 * code generator rewrites, gen_spread in codegen.c). In the base body two
 * interleaves of x with itself (SSE2), where the general shuffle is a
 * call; in the x86-64-v2 body the general shuffle, one pshufb. */
#if defined(__SSE2__)
static inline __attribute__((always_inline)) v128 aot_spread8_v1(v128 x, int q) {
  __m128i v = (__m128i)x;
  v = (q & 2) ? _mm_unpackhi_epi8(v, v) : _mm_unpacklo_epi8(v, v);
  return (v128)((q & 1) ? _mm_unpackhi_epi16(v, v) : _mm_unpacklo_epi16(v, v));
}
#define AOT_SPREAD8(x, q, general) (AOT_V2 ? (general) : aot_spread8_v1((x), (q)))
#else
#define AOT_SPREAD8(x, q, general) (general)
#endif
#if AOT_SIMD_TWO && CIS_SIMD_SSSE3
/* Built for the x86-64-v2 body's own target, so that gcc inlines it
 * there (a target("ssse3") function is not inlined into another arch). */
AOT_V2_FN __attribute__((unused)) static inline v128 aot_pshufb0(v128 x, v128 m) {
  return (v128)_mm_shuffle_epi8((__m128i)x, (__m128i)m);
}
#define AOT_SHUFFLE0(x, m, other) (AOT_V2 ? aot_pshufb0((x), (m)) : (other))
#else
#define AOT_SHUFFLE0(x, m, other) (other)
#endif

/* The v128 variables of a function with a try (codegen.c, var_ctype).
 * GCC 12 lowers a vector operation the target lacks (an i64x2 multiply,
 * an arithmetic i64x2 shift, ...) lane by lane, and crashes doing so
 * (an internal error in tree_vec_extract, pass veclower2) on values that
 * live across the try's __builtin_setjmp. A compile that crashed is made
 * again with AOT_TRY_SAFE (cache.c, compile_units), which keeps them in
 * memory: the lowering then works on loaded copies. Only such compiles
 * pay for it. */
#ifdef AOT_TRY_SAFE
#define AOT_TV volatile v128
#else
#define AOT_TV v128
#endif

/* The i64x2 comparisons in the base body, a lane at a time: SSE2 has no
 * 64-bit lane compare (pcmpeqq is SSE4.1, pcmpgtq SSE4.2), and GCC 12 at
 * -O2, lowering one in a function with a try (__builtin_setjmp) where
 * its operand comes around a loop, crashes (internal compiler error in
 * tree_vec_extract, pass veclower2), so the module would not compile.
 * The x86-64-v2 body keeps simd.h's. */
#define AOT_CMP64(name, OP)                                               \
  __attribute__((unused)) static inline v128 aot_##name(v128 a_, v128 b_) { \
    vi64 a = (vi64)a_, b = (vi64)b_, r;                                   \
    r[0] = a[0] OP b[0] ? -1 : 0;                                         \
    r[1] = a[1] OP b[1] ? -1 : 0;                                         \
    return (v128)r;                                                       \
  }
AOT_CMP64(i64x2_eq, ==) AOT_CMP64(i64x2_ne, !=) AOT_CMP64(i64x2_lt_s, <)
AOT_CMP64(i64x2_gt_s, >) AOT_CMP64(i64x2_le_s, <=) AOT_CMP64(i64x2_ge_s, >=)
#undef AOT_CMP64
#define i64x2_eq(a, b) (AOT_V2 ? i64x2_eq((a), (b)) : aot_i64x2_eq((a), (b)))
#define i64x2_ne(a, b) (AOT_V2 ? i64x2_ne((a), (b)) : aot_i64x2_ne((a), (b)))
#define i64x2_lt_s(a, b) (AOT_V2 ? i64x2_lt_s((a), (b)) : aot_i64x2_lt_s((a), (b)))
#define i64x2_gt_s(a, b) (AOT_V2 ? i64x2_gt_s((a), (b)) : aot_i64x2_gt_s((a), (b)))
#define i64x2_le_s(a, b) (AOT_V2 ? i64x2_le_s((a), (b)) : aot_i64x2_le_s((a), (b)))
#define i64x2_ge_s(a, b) (AOT_V2 ? i64x2_ge_s((a), (b)) : aot_i64x2_ge_s((a), (b)))
