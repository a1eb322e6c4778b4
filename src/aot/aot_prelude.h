/*
 * This file implements the helpers every generated translation unit
 * starts with (after aot_rt.h and src/wasm/numeric.h): bounds-checked
 * memory access, globals, the integer and conversion operations that
 * trap (by the bounds of numeric.h), the tick counter and the function
 * entry. The numeric operations that do not trap are numeric.h's, the
 * interpreter's very functions. codegen.c pastes it verbatim; it is never
 * compiled into libcis. A module that uses v128 gets src/wasm/simd.h and
 * aot_prelude_simd.h after it.
 *
 * The generated file defines AOT_T_* (the trap codes of errors.def) and
 * the AOT_OFF_* offsets before this text.
 *
 * Numeric semantics follow the spec exactly, as numeric.h says: bit
 * manipulations (neg, abs, copysign, loads, stores, reinterpret) never
 * pass a value through a floating-point operation, so NaN payloads
 * survive. cc is run without -ffast-math.
 */
#include <string.h>

/* The object imports nothing (cache.c loads only objects it maps
 * itself), but gcc may call memset, memcpy or memmove for a block it
 * clears or copies: these bind those calls inside the object. The flags
 * keep gcc from making loops into calls (-fno-tree-loop-distribute-patterns),
 * these loops included; volatile keeps it from seeing them as such. Weak:
 * each unit of a module compiled in units has them, the link keeps one. */
#define AOT_OWN_LIBC __attribute__((weak, visibility("hidden")))
AOT_OWN_LIBC void *memset(void *d, int v, size_t n) {
  for (size_t i = 0; i < n; i++) ((volatile unsigned char *)d)[i] = (unsigned char)v;
  return d;
}
AOT_OWN_LIBC void *memmove(void *d, const void *s, size_t n) {
  volatile unsigned char *to = d;
  const unsigned char *from = s;
  if (to < from)
    for (size_t i = 0; i < n; i++) to[i] = from[i];
  else
    for (size_t i = n; i-- > 0;) to[i] = from[i];
  return d;
}
AOT_OWN_LIBC void *memcpy(void *restrict d, const void *restrict s, size_t n) {
  return memmove(d, s, n);
}

#define AOT_LIKELY(x) __builtin_expect(!!(x), 1)
#define AOT_UNLIKELY(x) __builtin_expect(!!(x), 0)

__attribute__((noreturn, cold, noinline)) static void aot_trap(cis_aot_ctx *c, int32_t code,
                                                             uint32_t fi) {
  c->api->trap(c, code, fi);
  __builtin_unreachable();
}

/* ---------------------------------------------------------- memory */

/* The effective address of an access of n bytes at a + off, or a trap.
 * Both are u32, so the sum cannot wrap in 64 bits. ms is the memory's
 * size as the function last read it: it only grows (memory.grow, or a
 * call that grows it), and the generated code reads it again after each
 * of those, so a stale value can only refuse, never allow. */
static inline uint64_t aot_ea(cis_aot_ctx *c, uint32_t fi, uint64_t ms, uint32_t a, uint32_t off,
                              uint32_t n) {
  uint64_t e = (uint64_t)a + off;
  if (AOT_UNLIKELY(e + n > ms)) aot_trap(c, AOT_T_MEM_OOB, fi);
  return e;
}
#define AOT_LD(name, T, n)                                                          \
  static inline T name(cis_aot_ctx *c, uint32_t fi, uint8_t *m, uint64_t ms, uint32_t a, \
                       uint32_t off) {                                              \
    T v;                                                                            \
    memcpy(&v, m + aot_ea(c, fi, ms, a, off, n), n);                                \
    return v;                                                                       \
  }
#define AOT_ST(name, T, n)                                                          \
  static inline void name(cis_aot_ctx *c, uint32_t fi, uint8_t *m, uint64_t ms, uint32_t a, \
                          uint32_t off, T v) {                                      \
    memcpy(m + aot_ea(c, fi, ms, a, off, n), &v, n);                                \
  }
AOT_LD(ld8, uint8_t, 1)
AOT_LD(ld16, uint16_t, 2)
AOT_LD(ld32, uint32_t, 4)
AOT_LD(ld64, uint64_t, 8)
AOT_ST(st8, uint8_t, 1)
AOT_ST(st16, uint16_t, 2)
AOT_ST(st32, uint32_t, 4)
AOT_ST(st64, uint64_t, 8)

/* Check groups (codegen.c, grp_close): the accesses of a basic block
 * whose addresses are one local plus constants are written twice, each
 * with its own check (aot_ea) and, behind one check of the extent of
 * them all, without (AOT_EAU, ld*u, st*u). */
#define AOT_EAU(a, off) ((uint64_t)(a) + (off))
#define AOT_LDU(name, T, n)                                                   \
  static inline T name(uint8_t *m, uint32_t a, uint32_t off) {               \
    T v;                                                                      \
    memcpy(&v, m + AOT_EAU(a, off), n);                                       \
    return v;                                                                 \
  }
#define AOT_STU(name, T, n)                                                   \
  static inline void name(uint8_t *m, uint32_t a, uint32_t off, T v) {       \
    memcpy(m + AOT_EAU(a, off), &v, n);                                       \
  }
AOT_LDU(ld8u, uint8_t, 1)
AOT_LDU(ld16u, uint16_t, 2)
AOT_LDU(ld32u, uint32_t, 4)
AOT_LDU(ld64u, uint64_t, 8)
AOT_STU(st8u, uint8_t, 1)
AOT_STU(st16u, uint16_t, 2)
AOT_STU(st32u, uint32_t, 4)
AOT_STU(st64u, uint64_t, 8)

/* Loads and stores at a pointer already checked: by its own sum for the
 * memories of aot_prelude_mem.h, or by the one check at the entry of a
 * loop's copy (codegen.c, lp_close). */
#define AOT_LDP(name, T, n)                                                   \
  static inline T name(const uint8_t *p) {                                    \
    T v;                                                                      \
    memcpy(&v, p, n);                                                         \
    return v;                                                                 \
  }
#define AOT_STP(name, T, n)                                                   \
  static inline void name(uint8_t *p, T v) { memcpy(p, &v, n); }
AOT_LDP(ldp8, uint8_t, 1)
AOT_LDP(ldp16, uint16_t, 2)
AOT_LDP(ldp32, uint32_t, 4)
AOT_LDP(ldp64, uint64_t, 8)
AOT_STP(stp8, uint8_t, 1)
AOT_STP(stp16, uint16_t, 2)
AOT_STP(stp32, uint32_t, 4)
AOT_STP(stp64, uint64_t, 8)

/* Before the loop of such a copy: its iterations touch no byte another
 * touches through another address (the entry check), so the compiler may
 * run them as SIMD lanes without its own runtime alias test, which gcc
 * does not make at -O2. */
#if defined(__clang__)
#define AOT_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define AOT_IVDEP _Pragma("GCC ivdep")
#else
#define AOT_IVDEP
#endif

/* ---------------------------------------------------------- globals */

/* A global's value, through memcpy: a global is written as 64 bits (the
 * high half of an i32 kept zero) and read at its own width, and the two
 * must not be taken for unrelated objects (type-based aliasing let GCC
 * read a global before the write just above it). */
static inline uint32_t gget32(void *const g) {
  uint32_t v; memcpy(&v, (char *)g + AOT_OFF_GVAL, 4); return v;
}
static inline uint64_t gget64(void *const g) {
  uint64_t v; memcpy(&v, (char *)g + AOT_OFF_GVAL, 8); return v;
}
static inline void *ggetp(void *const g) {
  void *v; memcpy(&v, (char *)g + AOT_OFF_GVAL, sizeof v); return v;
}
static inline void gset64(void *const g, uint64_t v) { memcpy((char *)g + AOT_OFF_GVAL, &v, 8); }
static inline void gsetp(void *const g, void *v) { memcpy((char *)g + AOT_OFF_GVAL, &v, sizeof v); }

/* --------------------------------------------------------------- GC */

/* GC's objects (src/runtime/gc.h), read through the AOT_OFF_O* offsets of
 * an object's header and the AOT_OFF_L* ones of its type's layout, never
 * a copy of how gc.c lays them out: field k of struct o (trap when o is
 * null), and element i of array o (null and bounds trap). */
static inline uint8_t *aot_field(cis_aot_ctx *c, void *o, uint32_t k, uint32_t fi) {
  if (AOT_UNLIKELY(!o)) aot_trap(c, AOT_T_NULL_STRUCT, fi);
  const uint8_t *l;
  uint32_t off;
  memcpy(&l, (uint8_t *)o + AOT_OFF_OLAY, sizeof l);
  memcpy(&off, l + AOT_OFF_LFIELDS + (uint64_t)k * AOT_SZ_LFIELD + AOT_OFF_FOFF, 4);
  return (uint8_t *)o + AOT_OFF_ODATA + off;
}
static inline uint32_t aot_alen(cis_aot_ctx *c, void *o, uint32_t fi) {
  uint32_t n;
  if (AOT_UNLIKELY(!o)) aot_trap(c, AOT_T_NULL_ARRAY, fi);
  memcpy(&n, (uint8_t *)o + AOT_OFF_OLEN, 4);
  return n;
}
static inline uint8_t *aot_elem(cis_aot_ctx *c, void *o, uint32_t i, uint32_t fi) {
  const uint8_t *l;
  uint32_t size;
  if (AOT_UNLIKELY(i >= aot_alen(c, o, fi))) aot_trap(c, AOT_T_ARRAY_OOB, fi);
  memcpy(&l, (uint8_t *)o + AOT_OFF_OLAY, sizeof l);
  memcpy(&size, l + AOT_OFF_LSIZE, 4);
  return (uint8_t *)o + AOT_OFF_ODATA + (uint64_t)i * size;
}

/* --------------------------------------------------------- integers */

/* A division's trap, by numeric.h's reason (NUM_DIV_*). */
static inline void aot_div_check(cis_aot_ctx *c, uint32_t fi, int why) {
  if (AOT_UNLIKELY(why)) aot_trap(c, why == NUM_DIV_ZERO ? AOT_T_DIV_ZERO : AOT_T_INT_OVERFLOW, fi);
}
static inline uint32_t i32_div_s(cis_aot_ctx *c, uint32_t fi, uint32_t a, uint32_t b) {
  aot_div_check(c, fi, i32_div_s_traps(a, b));
  return i32_quot_s(a, b);
}
static inline uint32_t i32_div_u(cis_aot_ctx *c, uint32_t fi, uint32_t a, uint32_t b) {
  aot_div_check(c, fi, div_u_traps(b));
  return a / b;
}
static inline uint32_t i32_rem_s(cis_aot_ctx *c, uint32_t fi, uint32_t a, uint32_t b) {
  aot_div_check(c, fi, div_u_traps(b));
  return i32_rest_s(a, b);
}
static inline uint32_t i32_rem_u(cis_aot_ctx *c, uint32_t fi, uint32_t a, uint32_t b) {
  aot_div_check(c, fi, div_u_traps(b));
  return a % b;
}
static inline uint64_t i64_div_s(cis_aot_ctx *c, uint32_t fi, uint64_t a, uint64_t b) {
  aot_div_check(c, fi, i64_div_s_traps(a, b));
  return i64_quot_s(a, b);
}
static inline uint64_t i64_div_u(cis_aot_ctx *c, uint32_t fi, uint64_t a, uint64_t b) {
  aot_div_check(c, fi, div_u_traps(b));
  return a / b;
}
static inline uint64_t i64_rem_s(cis_aot_ctx *c, uint32_t fi, uint64_t a, uint64_t b) {
  aot_div_check(c, fi, div_u_traps(b));
  return i64_rest_s(a, b);
}
static inline uint64_t i64_rem_u(cis_aot_ctx *c, uint32_t fi, uint64_t a, uint64_t b) {
  aot_div_check(c, fi, div_u_traps(b));
  return a % b;
}
/* ----------------------------------------------------------- floats */

/* f64.promote_f32 behind an optimisation barrier: GCC folds
 * demote(promote(x)) into x, which keeps a signalling NaN signalling
 * (and mangled its payload in a test), where wasm quiets it. */
#if defined(__x86_64__)
#define AOT_OPAQUE(v) __asm__("" : "+x"(v))
#elif defined(__aarch64__)
#define AOT_OPAQUE(v) __asm__("" : "+w"(v))
#else
#define AOT_OPAQUE(v)                \
  do {                               \
    volatile __typeof__(v) t_ = (v); \
    (v) = t_;                        \
  } while (0)
#endif
static inline double f64_promote(float x) {
  double d = (double)x;
  AOT_OPAQUE(d);
  return d;
}

/* ceil, floor, trunc and nearest (rint) where GCC does not expand them:
 * without SSE4.1 it writes their SSE2 sequence only in blocks it
 * optimises for speed, and in a block it deems cold it calls libm, which
 * an object cis loads cannot link (its loader refuses a relocation: the
 * module would not load). Declared under these assembler names, those
 * calls come here. Exact for every input: |x| of 2^23 (2^52) or more, an
 * infinity or a NaN is returned as it came (integral already; q32 and
 * q64 quiet a NaN), any other goes through an integer, exact below that
 * bound, or for nearest through the addition of the bound, which rounds
 * to even; the sign goes back on (-0 for a zero of a negative x). */
#define AOT_ROUND(T, UT, IT, BITS, OF, BIG, NAME, LIB, ADJ)      \
  T LIB(T) __asm__("aot_" #LIB);                                 \
  __attribute__((used)) static T NAME(T x) __asm__("aot_" #LIB); \
  static T NAME(T x) {                                           \
    const UT sign = (UT)1 << (sizeof(UT) * 8 - 1);               \
    UT b = BITS(x);                                              \
    if ((b & ~sign) >= BIG) return x;                            \
    T t = (T)(IT)x, a = OF(b & ~sign);                           \
    ADJ;                                                         \
    (void)a;                                                     \
    return OF(BITS(t) | (b & sign));                             \
  }
#define AOT_ROUND32(NAME, LIB, ADJ) \
  AOT_ROUND(float, uint32_t, int32_t, f32_bits, f32_of, 0x4b000000u, NAME, LIB, ADJ)
#define AOT_ROUND64(NAME, LIB, ADJ)                                                          \
  AOT_ROUND(double, uint64_t, int64_t, f64_bits, f64_of, 0x4330000000000000ull, NAME, LIB, ADJ)
AOT_ROUND32(aot_floor32, floorf, if (t > x) t -= 1)
AOT_ROUND32(aot_ceil32, ceilf, if (t < x) t += 1)
AOT_ROUND32(aot_trunc32, truncf, )
AOT_ROUND32(aot_rint32, rintf, t = (a + 8388608.0f) - 8388608.0f)
AOT_ROUND64(aot_floor64, floor, if (t > x) t -= 1)
AOT_ROUND64(aot_ceil64, ceil, if (t < x) t += 1)
AOT_ROUND64(aot_trunc64, trunc, )
AOT_ROUND64(aot_rint64, rint, t = (a + 4503599627370496.0) - 4503599627370496.0)
#undef AOT_ROUND32
#undef AOT_ROUND64
#undef AOT_ROUND

/* Trapping truncations, by the rows of WASM_TRUNCS (numeric.h): NaN is an
 * invalid conversion; a value whose integer part does not fit is an
 * overflow. */
#define AOT_TRUNC(R, F, S, FT, IT, UT, LO, HI, MIN, MAX)                      \
  static inline UT R##_trunc_##F##_##S(cis_aot_ctx *c, uint32_t fi, FT x) {   \
    int f_ = WASM_TRUNC_FAULT(x, LO, HI);                                      \
    if (AOT_UNLIKELY(f_))                                                      \
      aot_trap(c, f_ == WASM_TRUNC_NAN ? AOT_T_CONVERSION : AOT_T_INT_OVERFLOW, fi); \
    return (UT)(IT)x;                                                          \
  }
WASM_TRUNCS(AOT_TRUNC)

/* The call's state compiled code touches at every call: the call depth
 * (*c->depth, against c->max_depth) and the tick counter (*c->ticks,
 * decremented at loop headers and function entries, codegen.c's
 * scan_body telling which). In memory, both
 * made a chain of stores and reloads through every call (the callee read
 * what its caller had just written), which cost fib more than the calls
 * themselves.
 *
 * The depth travels as an argument, dr_, of every compiled function: the
 * depth room of the caller (c->max_depth less the caller's depth). The
 * callee takes one from its copy on entry, and below zero is the trap;
 * its own callees get its copy. Nothing is given back at the exit, and
 * where the room is not live (a leaf, after its check) it takes no
 * register. The entry from the runtime (eN) computes it from *c->depth
 * (AOT_DR0).
 *
 * The tick counter, AOT_REGS choosing:
 * - AOT_REGS 1 (gcc on x86-64 and aarch64): in a register reserved for
 *   the whole file (a GCC global register variable), aot_tk, callee-saved
 *   in the platform's ABI, so it flows through the direct calls
 *   untouched. A loop kept it in a register before too (below), so the
 *   reservation costs the loops nothing. The entry from the runtime (eN)
 *   saves the register's value (the runtime's own, callee-saved), loads
 *   the counter into it, and at its return writes the counter back and
 *   restores the register; a trap leaves by the long jump to
 *   cis__aot_enter, whose receiver restores every callee-saved register
 *   (aot.c), and ends the call, so the count it had not written back is
 *   moot.
 * - AOT_REGS 0 (any other compiler or architecture): in a local of each
 *   function, tk_, between calls (a wasm store through a char pointer may
 *   alias the counter, which made every loop iteration load and store
 *   it), written back before every direct call and at the exit, read
 *   again after a call.
 *
 * A call out of compiled code (an import; call_indirect to anything but
 * this instance's compiled code) writes both back first (AOT_SYNC_OUT)
 * and reads the counter after (AOT_SYNC_IN), and the tick slow path
 * writes and reads the counter: the runtime sees them exact. Nothing else
 * writes either during a call (a cancel or a deadline is seen by the slow
 * path), so the bound holds: a loop reaches the slow path within one
 * tick quantum of iterations. */
#ifndef AOT_REGS
#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__aarch64__))
#define AOT_REGS 1
#else
#define AOT_REGS 0
#endif
#endif
/* The entry's and the loop's checks as `asm inline`: gcc weighs the asm
 * as the smallest for its inlining, where it counts a plain asm's lines,
 * the out-of-line slow paths' too, so that a small function (a leaf of
 * fib's recursion, inlined into itself by wasm2c's gcc) looked too big
 * to inline. */
#if defined(__GNUC__) && __GNUC__ >= 9
#define AOT_ASM_CHECKS __asm__ inline volatile
#else
#define AOT_ASM_CHECKS __asm__ volatile
#endif
#if AOT_REGS && defined(__x86_64__)
register int64_t aot_tk __asm__("r15");
#elif AOT_REGS
register int64_t aot_tk __asm__("x28");
#endif
#if AOT_REGS && defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__)
/* One sub and the sign flag: from C, gcc computed the decrement of a
 * register variable in another register, moved it back and tested it. */
#define AOT_DEC_NEG(r)                                                         \
  __extension__({                                                              \
    int n_;                                                                    \
    __asm__("subq $1, %0" : "+r"(r), "=@ccs"(n_));                             \
    n_;                                                                        \
  })
/* The stack pointer below the limit: one compare, without the frame
 * pointer __builtin_frame_address makes a function set up. */
#define AOT_SP_BELOW(lim)                                                      \
  __extension__({                                                              \
    int b_;                                                                    \
    __asm__("cmpq %1, %%rsp" : "=@ccb"(b_) : "rm"(lim));                       \
    b_;                                                                        \
  })
#elif AOT_REGS
/* A gcc without flag outputs (before 6), or aarch64. */
#define AOT_DEC_NEG(r) (--(r) < 0)
#if defined(__x86_64__)
#define AOT_SP_ASM "mov %%rsp, %0"
#else
#define AOT_SP_ASM "mov %0, sp"
#endif
#define AOT_SP_BELOW(lim)                                                      \
  __extension__({                                                              \
    uintptr_t s_;                                                              \
    __asm__(AOT_SP_ASM : "=r"(s_));                                            \
    s_ < (lim);                                                                \
  })
#else
#define AOT_DEC_NEG(r) (--(r) < 0)
#define AOT_SP_BELOW(lim) ((uintptr_t)__builtin_frame_address(0) < (lim))
#endif
#define AOT_DR0(c) ((int64_t)(c)->max_depth - (int64_t)*(c)->depth)
#if AOT_REGS
#define AOT_TK aot_tk
#define AOT_FN_STATE
#define AOT_SYNC_OUT(c)                                                        \
  (*(c)->ticks = aot_tk, *(c)->depth = (uint32_t)((int64_t)(c)->max_depth - dr_))
#define AOT_SYNC_IN(c) (aot_tk = *(c)->ticks)
#define AOT_DIRECT_OUT(c) ((void)0)
#define AOT_DIRECT_IN(c) ((void)0)
#define AOT_LEAVE(c) ((void)0)
#define AOT_ENTRY_IN(c)                                                        \
  const int64_t tk0_ = aot_tk;                                                 \
  aot_tk = *(c)->ticks
#define AOT_ENTRY_OUT(c) (*(c)->ticks = aot_tk, aot_tk = tk0_)
#else
#define AOT_TK tk_
#define AOT_FN_STATE                                                           \
  int64_t *const tkp_ = c->ticks;                                              \
  int64_t tk_ = *tkp_;
#define AOT_SYNC_OUT(c)                                                        \
  (*tkp_ = tk_, *(c)->depth = (uint32_t)((int64_t)(c)->max_depth - dr_))
#define AOT_SYNC_IN(c) (tk_ = *tkp_)
#define AOT_DIRECT_OUT(c) (*tkp_ = tk_)
#define AOT_DIRECT_IN(c) (tk_ = *tkp_)
#define AOT_LEAVE(c) (*tkp_ = tk_)
#define AOT_ENTRY_IN(c) ((void)0)
#define AOT_ENTRY_OUT(c) ((void)0)
#endif
#if AOT_REGS && defined(__x86_64__)
/* A loop's tick slow path calls the runtime through aot_tick_tramp, which
 * keeps every register but the flags (c in rdi, the function in rax;
 * loops and entries reach it through aot_tick_entry, below, which loads
 * the function and writes the counter back and reads it again).
 * Called from C, the slow path clobbered the caller-saved registers in
 * the middle of every loop, so gcc kept a loop's values in the five
 * callee-saved ones left (r15 is the counter) and moved them to and from
 * the stack between neighbouring loops (sort's partition: some 18
 * instructions of moves per pass, bench/NOTES.md). The asm steps over
 * the red zone, where the code around it may keep data. Local to each
 * file (each unit has its own), in a section placed after the functions:
 * before them (.text.unlikely) it moved them, and fib ran 20% slower on
 * the same instructions. */
__asm__(".pushsection .text.aot_tramp,\"ax\",@progbits\n"
        ".p2align 4\n"
        ".type aot_tick_tramp, @function\n"
        "aot_tick_tramp:\n"
        "\tpush %rbp\n\tmov %rsp, %rbp\n"
        "\tpush %rax\n\tpush %rcx\n\tpush %rdx\n\tpush %rsi\n\tpush %rdi\n"
        "\tpush %r8\n\tpush %r9\n\tpush %r10\n\tpush %r11\n"
        "\tand $-16, %rsp\n\tsub $256, %rsp\n"
        "\tmovaps %xmm0, 0(%rsp)\n\tmovaps %xmm1, 16(%rsp)\n\tmovaps %xmm2, 32(%rsp)\n"
        "\tmovaps %xmm3, 48(%rsp)\n\tmovaps %xmm4, 64(%rsp)\n\tmovaps %xmm5, 80(%rsp)\n"
        "\tmovaps %xmm6, 96(%rsp)\n\tmovaps %xmm7, 112(%rsp)\n\tmovaps %xmm8, 128(%rsp)\n"
        "\tmovaps %xmm9, 144(%rsp)\n\tmovaps %xmm10, 160(%rsp)\n\tmovaps %xmm11, 176(%rsp)\n"
        "\tmovaps %xmm12, 192(%rsp)\n\tmovaps %xmm13, 208(%rsp)\n\tmovaps %xmm14, 224(%rsp)\n"
        "\tmovaps %xmm15, 240(%rsp)\n"
        "\tcall *%rax\n"
        "\tmovaps 0(%rsp), %xmm0\n\tmovaps 16(%rsp), %xmm1\n\tmovaps 32(%rsp), %xmm2\n"
        "\tmovaps 48(%rsp), %xmm3\n\tmovaps 64(%rsp), %xmm4\n\tmovaps 80(%rsp), %xmm5\n"
        "\tmovaps 96(%rsp), %xmm6\n\tmovaps 112(%rsp), %xmm7\n\tmovaps 128(%rsp), %xmm8\n"
        "\tmovaps 144(%rsp), %xmm9\n\tmovaps 160(%rsp), %xmm10\n\tmovaps 176(%rsp), %xmm11\n"
        "\tmovaps 192(%rsp), %xmm12\n\tmovaps 208(%rsp), %xmm13\n\tmovaps 224(%rsp), %xmm14\n"
        "\tmovaps 240(%rsp), %xmm15\n"
        "\tlea -72(%rbp), %rsp\n"
        "\tpop %r11\n\tpop %r10\n\tpop %r9\n\tpop %r8\n"
        "\tpop %rdi\n\tpop %rsi\n\tpop %rdx\n\tpop %rcx\n\tpop %rax\n"
        "\tpop %rbp\n\tret\n"
        ".size aot_tick_tramp, .-aot_tick_tramp\n"
        ".popsection\n");
/* Through aot_tick_entry (below), which also writes the counter back
 * and reads it again, as a function's entry does. */
#define AOT_TICK_LOOP(c)                                                       \
  AOT_ASM_CHECKS("lea -128(%%rsp), %%rsp\n\tcall aot_tick_entry\n\t"         \
                   "lea 128(%%rsp), %%rsp"                                     \
                   : "+r"(aot_tk)                                              \
                   : "D"(c)                                                    \
                   : "memory", "cc")
#endif
/* The entry's tick where the entry checks are C (everywhere but x86-64
 * with gcc, which has AOT_ENTER_ASM): no value of the function is live
 * yet, so a plain call, whose clobbers cost nothing there. */
#define AOT_TICK_SLOW(c)                                                       \
  do {                                                                         \
    *(c)->ticks = AOT_TK;                                                      \
    (c)->api->tick(c);                                                         \
    AOT_TK = *(c)->ticks;                                                      \
  } while (0)
#ifndef AOT_TICK_LOOP
#define AOT_TICK_LOOP(c) AOT_TICK_SLOW(c)
#endif
#if AOT_REGS && defined(__x86_64__)
/* Every function entry: the call depth, the native stack (where the
 * function is no small leaf), then a tick, in one asm whose slow paths
 * are out of line. Written in C, the checks' slow paths (a call, or the
 * trap naming the function) used the arguments, so gcc moved them to
 * callee-saved registers before the first check, and so saved those at
 * the entry: a call that returns at once (a leaf of fib) ran a full
 * prologue and epilogue, where native code runs none. Here the asm
 * alone reaches the slow paths, the room is compared (dr_ > 0) and
 * decremented in C after it, and gcc places the prologue where the
 * function first needs it. Each entry's own slow paths are a few bytes
 * in the trampolines' section: the tick steps over the red zone and
 * calls aot_tick_entry, which keeps every register (c in rdi); the trap
 * loads the function's index and jumps to aot_trap_stack, which never
 * returns (the runtime's long jump). Their offsets into the context are
 * text in the file-level asm, checked against the structures here. */
#define AOT_OFF_TICKS 16
#define AOT_OFF_API 88
#define AOT_OFF_TRAP 0
#define AOT_OFF_TICK 8
_Static_assert(__builtin_offsetof(cis_aot_ctx, ticks) == AOT_OFF_TICKS &&
                   __builtin_offsetof(cis_aot_ctx, api) == AOT_OFF_API &&
                   __builtin_offsetof(cis_aot_api, trap) == AOT_OFF_TRAP &&
                   __builtin_offsetof(cis_aot_api, tick) == AOT_OFF_TICK,
               "the entry's slow paths read these offsets");
#define AOT_STR_(x) #x
#define AOT_STR(x) AOT_STR_(x)
__asm__(".pushsection .text.aot_tramp,\"ax\",@progbits\n"
        ".p2align 4\n"
        ".type aot_tick_entry, @function\n"
        "aot_tick_entry:\n"
        "\tpush %rax\n"
        "\tmov " AOT_STR(AOT_OFF_TICKS) "(%rdi), %rax\n"
        "\tmov %r15, (%rax)\n"
        "\tmov " AOT_STR(AOT_OFF_API) "(%rdi), %rax\n"
        "\tmov " AOT_STR(AOT_OFF_TICK) "(%rax), %rax\n"
        "\tcall aot_tick_tramp\n"
        "\tmov " AOT_STR(AOT_OFF_TICKS) "(%rdi), %rax\n"
        "\tmov (%rax), %r15\n"
        "\tpop %rax\n"
        "\tret\n"
        ".size aot_tick_entry, .-aot_tick_entry\n"
        ".type aot_trap_stack, @function\n"
        "aot_trap_stack:\n"
        "\tand $-16, %rsp\n"
        "\tmov $" AOT_STR(AOT_T_STACK) ", %esi\n"
        "\tmov " AOT_STR(AOT_OFF_API) "(%rdi), %rax\n"
        "\tcall *" AOT_STR(AOT_OFF_TRAP) "(%rax)\n"
        "\tud2\n"
        ".size aot_trap_stack, .-aot_trap_stack\n"
        ".popsection\n");
#define AOT_ENTER_ASM(c, fi, SP, TK)                                           \
  do {                                                                         \
    AOT_ASM_CHECKS("cmpq $0, %[dr]\n\t"                                        \
                     "jle 3f\n\t" SP TK                                       \
                     "1:\n"                                                    \
                     ".pushsection .text.aot_tramp,\"ax\",@progbits\n"         \
                     "2:\n\t"                                                  \
                     "lea -128(%%rsp), %%rsp\n\t"                              \
                     "call aot_tick_entry\n\t"                                 \
                     "lea 128(%%rsp), %%rsp\n\t"                               \
                     "jmp 1b\n"                                                \
                     "3:\n\t"                                                  \
                     "mov %[fn], %%edx\n\t"                                    \
                     "jmp aot_trap_stack\n"                                    \
                     ".popsection"                                             \
                     : [tk] "+r"(aot_tk)                                       \
                     : [dr] "r"(dr_), "D"(c),                                  \
                       [lim] "i"(__builtin_offsetof(cis_aot_ctx, cstack_limit)), \
                       [fn] "i"((uint32_t)(fi))                                \
                     : "memory", "cc");                                        \
    dr_--;                                                                     \
  } while (0)
#define AOT_ENTER_SP "cmpq %c[lim](%%rdi), %%rsp\n\tjb 3f\n\t"
#define AOT_ENTER_TK "subq $1, %[tk]\n\tjs 2f\n"
#define AOT_ENTER(c, fi) AOT_ENTER_ASM(c, fi, AOT_ENTER_SP, AOT_ENTER_TK)
#define AOT_ENTER_LEAF(c, fi) AOT_ENTER_ASM(c, fi, "", AOT_ENTER_TK)
#define AOT_ENTER_UNTICKED(c, fi) AOT_ENTER_ASM(c, fi, AOT_ENTER_SP, "")
#define AOT_ENTER_LEAF_UNTICKED(c, fi) AOT_ENTER_ASM(c, fi, "", "")
#else
/* Every function entry: the call depth, the native stack, then a tick. */
#define AOT_ENTER(c, fi)                                                       \
  do {                                                                         \
    if (AOT_UNLIKELY(--dr_ < 0 || AOT_SP_BELOW((c)->cstack_limit)))            \
      aot_trap((c), AOT_T_STACK, (fi));                                        \
    if (AOT_UNLIKELY(AOT_DEC_NEG(AOT_TK))) AOT_TICK_SLOW(c);                   \
  } while (0)
/* The entry of a function that calls no compiled code and has a small
 * frame (codegen.c, LEAF_SLOTS): no check of the native stack. Its frame
 * lies within the margin the runtime keeps below the limit (runtime/
 * exec.c: a quarter of the stack, from 64 to 256 KB, at most half),
 * which its caller checked; what it calls goes through the runtime,
 * which checks the stack itself. */
#define AOT_ENTER_LEAF(c, fi)                                                  \
  do {                                                                         \
    if (AOT_UNLIKELY(--dr_ < 0)) aot_trap((c), AOT_T_STACK, (fi));             \
    if (AOT_UNLIKELY(AOT_DEC_NEG(AOT_TK))) AOT_TICK_SLOW(c);                   \
  } while (0)
#define AOT_ENTER_UNTICKED(c, fi)                                              \
  do {                                                                         \
    if (AOT_UNLIKELY(--dr_ < 0 || AOT_SP_BELOW((c)->cstack_limit)))            \
      aot_trap((c), AOT_T_STACK, (fi));                                        \
  } while (0)
#define AOT_ENTER_LEAF_UNTICKED(c, fi)                                         \
  do {                                                                         \
    if (AOT_UNLIKELY(--dr_ < 0)) aot_trap((c), AOT_T_STACK, (fi));             \
  } while (0)
#endif
/* The _UNTICKED entries (codegen.c, scan_body) are those of functions
 * whose every call lies inside a loop of theirs and that run few
 * instructions outside their loops: the loops' ticks bound them. */
/* Memory 0's size in bytes. It is never below the module's declared
 * minimum (AOT_MS_MIN, from the generated file; an imported memory is
 * at least its import's), which gcc is told: it then drops the checks it
 * can prove from that. Without it, gcc had learnt a lower bound from a
 * check at a constant address, and lost it where the generator drops
 * such checks (codegen.c, value ranges; sha256 +7%, bench/NOTES.md). */
static inline uint64_t aot_ms(cis_aot_ctx *c) {
  uint64_t ms = c->mem_size ? *c->mem_size : 0;
  if (ms < AOT_MS_MIN) __builtin_unreachable();
  return ms;
}
/* After anything that may grow memory 0 (a call, memory.grow). */
#define AOT_RELOAD() (MS = aot_ms(c))
/* Every loop header. */
#define AOT_TICK(c)                                                            \
  do {                                                                         \
    if (AOT_UNLIKELY(AOT_DEC_NEG(AOT_TK))) AOT_TICK_LOOP(c);                   \
  } while (0)

