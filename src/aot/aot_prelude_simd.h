/*
 * This file implements the v128 helpers of the generated code, pasted
 * after aot_rt.h, aot_prelude.h and src/interp/simd.h into the files of
 * modules that use v128 (the others are compiled without these three
 * hundred lines of vector code and their headers): v128 values from
 * slots, v128 globals, the checked stores and lane accesses, and
 * i8x16.shuffle. codegen.c pastes it verbatim; it is never compiled into
 * libcis.
 */

/* A v128 is the vector type of src/interp/simd.h, pasted before this
 * text with all the interpreter's lane functions, which the generated
 * code calls by the names of simd.def. In slots (arguments and results
 * through the runtime, cis_slot) it is two: the low 8 bytes first. */
static inline v128 v128_of(uint64_t lo, uint64_t hi) { return (v128){lo, hi}; }
static inline v128 gget128(void *const g) {
  v128 v; memcpy(&v, (char *)g + AOT_OFF_GVAL, 16); return v;
}
static inline void gset128(void *const g, v128 v) { memcpy((char *)g + AOT_OFF_GVAL, &v, 16); }

/* v128.store, and the lane loads and stores: n bytes at byte offset at of
 * the vector, checked as every access (aot_ea). */
static inline void vst128(cis_aot_ctx *c, uint32_t fi, uint8_t *m, uint64_t ms, uint32_t a,
                          uint32_t off, v128 v) {
  v_store(m + aot_ea(c, fi, ms, a, off, 16), v);
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

/* i8x16.shuffle with its 16 constant lane indices (< 32, validated): the
 * compiler's shuffle builtin picks the instructions for that one
 * pattern; the lane function of simd.h is the fallback. */
#if defined(__clang__)
#define AOT_SHUFFLE(a, b, ...) ((v128)__builtin_shufflevector((vu8)(a), (vu8)(b), __VA_ARGS__))
#elif defined(__GNUC__)
#define AOT_SHUFFLE(a, b, ...) ((v128)__builtin_shuffle((vu8)(a), (vu8)(b), (vu8){__VA_ARGS__}))
#else
#define AOT_SHUFFLE(a, b, ...) i8x16_shuffle((a), (b), (const uint8_t[16]){__VA_ARGS__})
#endif
