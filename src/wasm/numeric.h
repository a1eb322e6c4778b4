/*
 * This file implements WebAssembly's scalar numeric operations whose
 * meaning differs from C's, once for both engines: bit casts, clz, ctz
 * and rotations, min and max, quieting the result of a rounding, and the
 * float-to-int truncations with their bounds (the trapping ones and the
 * saturating ones). The interpreter includes it (interp/execute.c); the
 * compiled tier pastes its text into every generated translation unit
 * after aot_rt.h (src/aot/embed.cmake), and the generated code calls these
 * functions by name (codegen.c, numeric_expr). The SIMD lanes (simd.h)
 * use the saturating truncations.
 *
 * So it must stay plain C17 with GCC builtins that includes nothing but
 * the C library (cc compiles the generated file outside the source tree)
 * and names no cis type; its names must not be ones generated code uses
 * for its own variables (<t><p>, L<n>) or functions (w<n>).
 *
 * Numeric semantics follow the spec exactly: bit manipulations never pass
 * a value through a floating-point operation, so NaN payloads survive;
 * arithmetic relies on IEEE 754 hardware, whose NaN results are the
 * arithmetic NaNs the spec allows. A NaN test is x != x, which is isnan
 * without <math.h> (neither engine is built with -ffast-math).
 */
#ifndef CIS_WASM_NUMERIC_H
#define CIS_WASM_NUMERIC_H

#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------- bit casts */

static inline float f32_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline double f64_of(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline uint64_t f64_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* --------------------------------------------------------- integers */

static inline uint32_t clz32(uint32_t a) { return a ? (uint32_t)__builtin_clz(a) : 32; }
static inline uint32_t ctz32(uint32_t a) { return a ? (uint32_t)__builtin_ctz(a) : 32; }
static inline uint64_t clz64(uint64_t a) { return a ? (uint64_t)__builtin_clzll(a) : 64; }
static inline uint64_t ctz64(uint64_t a) { return a ? (uint64_t)__builtin_ctzll(a) : 64; }
/* The counts are taken modulo the width; the masks keep C's shifts defined. */
static inline uint32_t rotl32(uint32_t a, uint32_t b) {
  b &= 31; return (a << b) | (a >> ((32 - b) & 31));
}
static inline uint32_t rotr32(uint32_t a, uint32_t b) {
  b &= 31; return (a >> b) | (a << ((32 - b) & 31));
}
static inline uint64_t rotl64(uint64_t a, uint64_t b) {
  b &= 63; return (a << b) | (a >> ((64 - b) & 63));
}
static inline uint64_t rotr64(uint64_t a, uint64_t b) {
  b &= 63; return (a >> b) | (a << ((64 - b) & 63));
}

/* Integer division: whether it traps, and why (NUM_DIV_ZERO, or
 * NUM_DIV_OVERFLOW for the one signed quotient that does not fit,
 * INT_MIN / -1); then the quotient or remainder of operands that do not
 * trap. INT_MIN % -1 is 0 in wasm but undefined in C: rem_s never
 * divides by -1. Each engine turns the reason into its trap. */
enum { NUM_DIV_OK, NUM_DIV_ZERO, NUM_DIV_OVERFLOW };
static inline int i32_div_s_traps(uint32_t a, uint32_t b) {
  return b == 0 ? NUM_DIV_ZERO : a == 0x80000000u && b == 0xffffffffu ? NUM_DIV_OVERFLOW : NUM_DIV_OK;
}
static inline int i64_div_s_traps(uint64_t a, uint64_t b) {
  return b == 0 ? NUM_DIV_ZERO : a == 0x8000000000000000ull && b == ~0ull ? NUM_DIV_OVERFLOW : NUM_DIV_OK;
}
static inline int div_u_traps(uint64_t b) { return b == 0 ? NUM_DIV_ZERO : NUM_DIV_OK; }
static inline uint32_t i32_quot_s(uint32_t a, uint32_t b) { return (uint32_t)((int32_t)a / (int32_t)b); }
static inline uint64_t i64_quot_s(uint64_t a, uint64_t b) { return (uint64_t)((int64_t)a / (int64_t)b); }
static inline uint32_t i32_rest_s(uint32_t a, uint32_t b) {
  return b == 0xffffffffu ? 0 : (uint32_t)((int32_t)a % (int32_t)b);
}
static inline uint64_t i64_rest_s(uint64_t a, uint64_t b) {
  return b == ~0ull ? 0 : (uint64_t)((int64_t)a % (int64_t)b);
}

/* ----------------------------------------------------------- floats */

/* min/max: NaN if either is NaN, and -0 < +0. The sum of a NaN and
 * anything is a quiet NaN (canonical when the NaN input was). */
static inline float fmin32(float a, float b) {
  if (a != a || b != b) return a + b;
  if (a == b) return (f32_bits(a) >> 31) ? a : b;
  return a < b ? a : b;
}
static inline float fmax32(float a, float b) {
  if (a != a || b != b) return a + b;
  if (a == b) return (f32_bits(a) >> 31) ? b : a;
  return a > b ? a : b;
}
static inline double fmin64(double a, double b) {
  if (a != a || b != b) return a + b;
  if (a == b) return (f64_bits(a) >> 63) ? a : b;
  return a < b ? a : b;
}
static inline double fmax64(double a, double b) {
  if (a != a || b != b) return a + b;
  if (a == b) return (f64_bits(a) >> 63) ? b : a;
  return a > b ? a : b;
}

/* ceil, floor, trunc and nearest of x, whose result is r: the C library
 * and the compiler's builtins may return a signalling NaN as it came;
 * wasm wants it quiet (an arithmetic NaN), which adding gives. */
static inline float q32(float x, float r) { return x != x ? x + x : r; }
static inline double q64(double x, double r) { return x != x ? x + x : r; }

/* ----------------------------------------------------- truncations */

/* The float-to-int truncations, one row each:
 *
 *   X(R, F, S, FT, IT, UT, LO, HI, MIN, MAX)
 *
 * from float type F (C type FT) to integer type R, signed or unsigned by
 * S; IT is the C type of the exact result, UT the unsigned type that
 * carries it. LO and HI are the exclusive bounds of the values whose
 * integer part fits (both exactly representable in FT); MIN and MAX are
 * the saturated results. A row's trapping form is R_trunc_F_S (which each
 * engine writes around WASM_TRUNC_FAULT, to trap its own way), its
 * saturating one R_sat_F_S (below). */
#define WASM_TRUNCS(X)                                                                      \
  X(i32, f32, s, float, int32_t, uint32_t, -2147483904.0f, 2147483648.0f, INT32_MIN, INT32_MAX) \
  X(i32, f32, u, float, uint32_t, uint32_t, -1.0f, 4294967296.0f, 0, UINT32_MAX)               \
  X(i32, f64, s, double, int32_t, uint32_t, -2147483649.0, 2147483648.0, INT32_MIN, INT32_MAX)  \
  X(i32, f64, u, double, uint32_t, uint32_t, -1.0, 4294967296.0, 0, UINT32_MAX)                \
  X(i64, f32, s, float, int64_t, uint64_t, -9223373136366403584.0f, 9223372036854775808.0f,    \
    INT64_MIN, INT64_MAX)                                                                   \
  X(i64, f32, u, float, uint64_t, uint64_t, -1.0f, 18446744073709551616.0f, 0, UINT64_MAX)     \
  X(i64, f64, s, double, int64_t, uint64_t, -9223372036854777856.0, 9223372036854775808.0,     \
    INT64_MIN, INT64_MAX)                                                                   \
  X(i64, f64, u, double, uint64_t, uint64_t, -1.0, 18446744073709551616.0, 0, UINT64_MAX)

/* Why the trapping truncation of x traps, with bounds LO and HI: 0 when
 * it does not, WASM_TRUNC_NAN (an invalid conversion) or WASM_TRUNC_RANGE
 * (an integer overflow). */
#define WASM_TRUNC_NAN 1
#define WASM_TRUNC_RANGE 2
#define WASM_TRUNC_FAULT(x, LO, HI) \
  ((x) != (x) ? WASM_TRUNC_NAN : !((x) > (LO) && (x) < (HI)) ? WASM_TRUNC_RANGE : 0)

/* Saturating truncations: NaN is 0, out of range clamps. */
#define WASM_SAT_FN(R, F, S, FT, IT, UT, LO, HI, MIN, MAX) \
  static inline UT R##_sat_##F##_##S(FT x) {               \
    if (x != x) return 0;                                  \
    if (!(x > (LO))) return (UT)(MIN);                     \
    if (!(x < (HI))) return (UT)(MAX);                     \
    return (UT)(IT)x;                                      \
  }
WASM_TRUNCS(WASM_SAT_FN)
#undef WASM_SAT_FN

#endif /* CIS_WASM_NUMERIC_H */
