/*
 * This file implements the interpreter's executor: the loop that runs the
 * internal code translate.c produces (formats in ops.def and interp.h).
 *
 * Dispatch is direct threading with labels as values: each instruction
 * starts with its handler's address (two code units), and every handler
 * ends by jumping to the next one. With CIS_INTERP_SWITCH the same handlers
 * become the cases of a switch on the op number kept there instead.
 *
 * Calls between functions of the same instance stay inside this loop: a
 * call pushes a return record and continues at the callee's first
 * instruction, so wasm recursion never grows the C stack. Calls to host
 * functions and to other instances go through cis__exec_call, which bounds
 * that (rarer) C recursion. Before such a call the executor hands the free
 * part of the value stack to the callee by moving ex->sp up past its frame
 * and ex->stack_end down to its return records, and restores both after.
 * A callee not translated yet (its code still NULL) is translated on the
 * spot, before it is entered; the warm path reads the callee's code first,
 * with acquire order (a plain load on x86), and tests it for NULL.
 *
 * Memory 0's base never moves (runtime.h), so only its size is cached,
 * and reloaded after everything that can grow it: memory.grow and calls
 * that leave the loop. The other memories (multi-memory) are reached
 * through the instance's table by one out-of-line op, memx, so that
 * memory 0's handlers stay as they were; a 64-bit memory (memory64),
 * memory 0 included, by memx64, its i64 address plus a 64-bit offset
 * checked for wrapping. The bulk and table operations read an address,
 * index or length operand as the memory's or table's type has it (ADDR).
 *
 * Values flow through frame slots, and a handler that produces a value
 * also leaves it in one of two C variables, iacc and dacc, that the
 * compiler keeps in registers. The _as/_ai/_a/_v variants read it from
 * there, which removes a store-to-load round trip from most dependency
 * chains; the translator only selects them where the producer is the
 * instruction executed just before.
 *
 * Numeric semantics follow the spec exactly: the operations that are pure
 * bit manipulations (neg, abs, copysign, loads, stores, reinterpret) never
 * pass a value through a floating-point register operation, so NaN
 * payloads survive; arithmetic relies on IEEE 754 hardware, whose NaN
 * results are the arithmetic NaNs the spec allows. The operations whose
 * meaning differs from C's and the SIMD lanes are the compiled tier's
 * too (wasm/numeric.h, wasm/simd.h); segments and tables are the
 * runtime's (runtime.h).
 */
#include <math.h>
#include <string.h>

#include "interp/interp.h"
#include "runtime/gc.h"
#include "wasm/numeric.h"
#include "wasm/opcodes.h"
#include "wasm/simd.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the interpreter keeps wasm values in little-endian slots"
#endif

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#endif

/* ------------------------------------------------------------ helpers */

static inline uint64_t imm64(const uint32_t *p) { return (uint64_t)p[0] | ((uint64_t)p[1] << 32); }
/* call's callee descriptor, a pointer in two code units (ops.def, 'p'). */
static inline const cis__ifunc *callee_at(const uint32_t *p) {
  const cis__ifunc *f;
  memcpy(&f, p, sizeof f);
  return f;
}

/* " (0x1a2)": where in the module the code of f at pc came from (after:
 * pc is a return address), as wasmtime and wasm-objdump count offsets;
 * "" when the offset map does not say. */
static void fmt_offset(char *buf, size_t n, const cis_instance *inst, const cis__ifunc *f, const uint32_t *pc,
                       bool after) {
  uint32_t off;
  const uint32_t *code = cis__interp_code(f);
  buf[0] = '\0';
  if (code && pc >= code && pc <= code + f->ncode &&
      cis__interp_wasm_offset(inst->m, f, (size_t)(pc - code), after, &off))
    snprintf(buf, n, " (0x%x)", (unsigned)off);
}

/* Sets the trap message on the top-level instance and returns rc, in the
 * runtime's wording: "integer divide by zero in function 3 ("name")".
 * When f was called from this loop, a wasm backtrace follows, innermost
 * first, read from the return records rec .. base (names from the name
 * section), each frame with the module offset of its instruction (the
 * one that trapped, then each call), as many frames as the message
 * holds. pc is where f trapped (for CIS_TRAP_STACK: where its caller
 * called it). */
static cis_result trap(cis__exec *ex, cis_instance *inst, const cis__ifunc *f, const uint32_t *pc, cis_result rc,
                       const cis__iret *rec, const cis__iret *base) {
  char fn[192], at[32], msg[CIS_ERRMSG_MAX];
  cis__fmt_func(fn, sizeof fn, inst->funcs[f->index]);
  at[0] = '\0';
  /* A call that found no stack left traps at the callee's entry, before
   * any instruction of it: no offset then (pc is still the caller's). */
  if (rc != CIS_TRAP_STACK) fmt_offset(at, sizeof at, inst, f, pc, false);
  int n = snprintf(msg, sizeof msg, "%s in %s%s", cis_strerror(rc), fn, at);
  if (rec < base && n > 0 && (size_t)n < sizeof msg) {
    size_t used = (size_t)n;
    n = snprintf(msg + used, sizeof msg - used, "\nwasm backtrace:\n  0: %s%s", fn, at);
    for (unsigned i = 1; n > 0 && (used += (size_t)n) < sizeof msg && rec < base; rec++, i++) {
      cis__fmt_func(fn, sizeof fn, inst->funcs[rec->fn->index]);
      fmt_offset(at, sizeof at, inst, rec->fn, rec->pc, true);
      n = snprintf(msg + used, sizeof msg - used, "\n  %u: %s%s", i, fn, at);
    }
  }
  return cis__fail(ex->top, rc, "%s", msg);
}

/* The slow path of the tick counter. */
static cis_result tick_slow(cis__exec *ex, int64_t *ticks) {
  ex->ticks = *ticks;
  cis_result rc = cis__exec_check(ex);
  *ticks = ex->ticks;
  return rc;
}

/* ------------------------------------------------------------ dispatch */

/* An instruction starts with its handler word, HEAD units wide: the
 * handler's address with direct threading, the op number with the switch. */
#define HEAD 2
/* Operand unit k (1-based, as numbered in ops.def's layouts). */
#define P(k) pc[HEAD - 1 + (k)]
/* Steps past an instruction of n units counting the handler word as one. */
#define ADV(n) (pc += HEAD - 1 + (n))

#if !CIS_INTERP_SWITCH
#define CASE(name) L_##name:
#define NEXT()                                  \
  do {                                          \
    const void *next_;                          \
    memcpy(&next_, pc, sizeof next_);           \
    goto *next_;                                \
  } while (0)
#else
#define CASE(name) case CIS__IOP_##name:
#define NEXT() goto dispatch
#endif

/* Operand k of the current instruction as a frame slot. */
#define SL(k) fp[P(k)]
/* Operand k as an address, index or length of a memory or table: an i64
 * when w (a 64-bit one), else an i32. */
#define ADDR(w, k) ((w) ? SL(k).u64 : (uint64_t)SL(k).u32)
/* A grow's answer r (the old size, or -1) as the i64 or i32 of w. */
#define GROWN(w, r) ((w) ? (uint64_t)(r) : (uint32_t)(int32_t)(r))

#define TRAP(code)  \
  do {              \
    rc = (code);    \
    goto trapped;   \
  } while (0)

#define TICK(cost)                                 \
  do {                                             \
    ticks -= (int64_t)(cost);                      \
    if (UNLIKELY(ticks < 0)) {                     \
      rc = tick_slow(ex, &ticks);                  \
      if (rc != CIS_OK) goto leave;                \
    }                                              \
  } while (0)

/* Conditional branches: the offset is at unit k (relative to that unit),
 * a back edge's fuel cost at unit k+1. Jumps add the offset as a pointer
 * difference, so that the constant folds into the address computation. */
#define BR_IF(c, k)                                       \
  do {                                                    \
    if (c) {                                              \
      pc += (ptrdiff_t)(int32_t)P(k) + ((k) + HEAD - 1);  \
      NEXT();                                             \
    }                                                     \
    ADV((k) + 1);                                         \
    NEXT();                                               \
  } while (0)
/* A back edge taken, its offset at unit k and its fuel at k+1: the jump
 * is made before the fuel is charged, and a tick that runs out goes to
 * tick_back, which dispatches at the target itself. No path joins the
 * taken one, so gcc aligns no label on it (the padding nops it ran). */
#define JUMP_BACK(k)                                      \
  do {                                                    \
    int64_t cost_ = (int64_t)P((k) + 1);                  \
    pc += (ptrdiff_t)(int32_t)P(k) + ((k) + HEAD - 1);    \
    ticks -= cost_;                                       \
    if (UNLIKELY(ticks < 0)) goto tick_back;              \
    NEXT();                                               \
  } while (0)
/* As BR_IF_BACK with a fuel unit at k+1 in either form; BACK: charged. */
#define BR_IF_SLOT(c, k, BACK)                            \
  do {                                                    \
    if (c) {                                              \
      if (BACK) JUMP_BACK(k);                             \
      pc += (ptrdiff_t)(int32_t)P(k) + ((k) + HEAD - 1);  \
      NEXT();                                             \
    }                                                     \
    ADV((k) + 2);                                         \
    NEXT();                                               \
  } while (0)
#define BR_IF_BACK(c, k) BR_IF_SLOT(c, k, 1)

/* Results. i32 results are stored zero-extended, so both halves of a slot
 * are always defined. Integer producers also leave the value in iacc, f64
 * producers in dacc (ops.def, "The accumulators"). */
#define OUT_I32(EXPR)                   \
  do {                                  \
    uint64_t r_ = (uint32_t)(EXPR);     \
    SL(1).u64 = r_;                     \
    iacc = r_;                          \
  } while (0)
#define OUT_I64(EXPR)                   \
  do {                                  \
    uint64_t r_ = (uint64_t)(EXPR);     \
    SL(1).u64 = r_;                     \
    iacc = r_;                          \
  } while (0)
#define OUT_F64(EXPR)                   \
  do {                                  \
    double r_ = (EXPR);                 \
    SL(1).u64 = f64_bits(r_);           \
    dacc = r_;                          \
  } while (0)

/* A binary op in its four forms: operand a from a slot or the accumulator,
 * b from a slot or an immediate. CHECK may trap. */
#define I32_BIN4(name, CHECK, EXPR)                           \
  CASE(name##_ss) {                                           \
    uint32_t a = SL(2).u32, b = SL(3).u32;                    \
    CHECK;                                                    \
    OUT_I32(EXPR);                                            \
    ADV(4);                                                   \
    NEXT();                                                   \
  }                                                           \
  CASE(name##_si) {                                           \
    uint32_t a = SL(2).u32, b = P(3);                         \
    CHECK;                                                    \
    OUT_I32(EXPR);                                            \
    ADV(4);                                                   \
    NEXT();                                                   \
  }                                                           \
  CASE(name##_as) {                                           \
    uint32_t a = (uint32_t)iacc, b = SL(3).u32;               \
    CHECK;                                                    \
    OUT_I32(EXPR);                                            \
    ADV(4);                                                   \
    NEXT();                                                   \
  }                                                           \
  CASE(name##_ai) {                                           \
    uint32_t a = (uint32_t)iacc, b = P(3);                    \
    CHECK;                                                    \
    OUT_I32(EXPR);                                            \
    ADV(4);                                                   \
    NEXT();                                                   \
  }
#define I64_BIN4(name, CHECK, EXPR)                           \
  CASE(name##_ss) {                                           \
    uint64_t a = SL(2).u64, b = SL(3).u64;                    \
    CHECK;                                                    \
    OUT_I64(EXPR);                                            \
    ADV(4);                                                   \
    NEXT();                                                   \
  }                                                           \
  CASE(name##_si) {                                           \
    uint64_t a = SL(2).u64, b = imm64(&P(3));                 \
    CHECK;                                                    \
    OUT_I64(EXPR);                                            \
    ADV(5);                                                   \
    NEXT();                                                   \
  }                                                           \
  CASE(name##_as) {                                           \
    uint64_t a = iacc, b = SL(3).u64;                         \
    CHECK;                                                    \
    OUT_I64(EXPR);                                            \
    ADV(4);                                                   \
    NEXT();                                                   \
  }                                                           \
  CASE(name##_ai) {                                           \
    uint64_t a = iacc, b = imm64(&P(3));                      \
    CHECK;                                                    \
    OUT_I64(EXPR);                                            \
    ADV(5);                                                   \
    NEXT();                                                   \
  }
#define NOCHECK (void)0
#define I32_BIN(name, EXPR) I32_BIN4(name, NOCHECK, EXPR)
/* A division's trap, by numeric.h's reason (NUM_DIV_*). */
#define DIV_CHECK(why)                                                                       \
  do {                                                                                       \
    int why_ = (why);                                                                        \
    if (UNLIKELY(why_)) TRAP(why_ == NUM_DIV_ZERO ? CIS_TRAP_DIV_ZERO : CIS_TRAP_INT_OVERFLOW); \
  } while (0)
#define I32_DIV(name, CHECK, EXPR) I32_BIN4(name, CHECK, EXPR)
#define I64_BIN(name, EXPR) I64_BIN4(name, NOCHECK, EXPR)
#define I64_DIV(name, CHECK, EXPR) I64_BIN4(name, CHECK, EXPR)

/* A shift or rotate by a constant fused into xor or or (ops.def): both
 * slots read before the destination is written. */
#define SH_BIT(name, T, W, OUT, SH, BOP)                         \
  CASE(name) {                                                \
    T x = SL(2).W, o = SL(3).W;                               \
    uint32_t k = P(4);                                        \
    OUT((SH) BOP o);                                          \
    ADV(5);                                                   \
    NEXT();                                                   \
  }
/* Unary ops: UN_I produces an integer (iacc), UN_F64 an f64 (dacc), UN
 * neither (its result is rarely the next instruction's operand). */
#define UN(name, EXPR)                                        \
  CASE(name) {                                                \
    cis_slot a = SL(2);                                       \
    SL(1).u64 = (uint64_t)(EXPR);                             \
    ADV(3);                                                   \
    NEXT();                                                   \
  }
#define UN_I(name, EXPR)                                      \
  CASE(name) {                                                \
    cis_slot a = SL(2);                                       \
    OUT_I64(EXPR);                                            \
    ADV(3);                                                   \
    NEXT();                                                   \
  }
#define UN_F64(name, EXPR)                                    \
  CASE(name) {                                                \
    cis_slot a = SL(2);                                       \
    OUT_F64(EXPR);                                            \
    ADV(3);                                                   \
    NEXT();                                                   \
  }
#define F32_BIN(name, EXPR)                                   \
  CASE(name) {                                                \
    float a = SL(2).f32, b = SL(3).f32;                       \
    SL(1).u64 = f32_bits(EXPR);                               \
    ADV(4);                                                   \
    NEXT();                                                   \
  }
/* f64 arithmetic: name, name_as (a from dacc), name_sa (b from dacc). */
#define F64_BIN3(name, EXPR)                                  \
  CASE(name) {                                                \
    double a = SL(2).f64, b = SL(3).f64;                      \
    OUT_F64(EXPR);                                            \
    ADV(4);                                                   \
    NEXT();                                                   \
  }                                                           \
  CASE(name##_as) {                                           \
    double a = dacc, b = SL(3).f64;                           \
    OUT_F64(EXPR);                                            \
    ADV(4);                                                   \
    NEXT();                                                   \
  }                                                           \
  CASE(name##_sa) {                                           \
    double a = SL(2).f64, b = dacc;                           \
    OUT_F64(EXPR);                                            \
    ADV(4);                                                   \
    NEXT();                                                   \
  }
/* f64 arithmetic on a value read from memory (ops.def, OP_FLD): the
 * operands are read before the destination is written, which may be one
 * of them. */
#define F64_LD_AT(EA, EXPR, N)                                \
  {                                                           \
    uint64_t ea = (EA);                                       \
    if (UNLIKELY(ea + sizeof(double) > msize)) goto mem_oob;  \
    double a = SL(2).f64, b;                                  \
    memcpy(&b, mbase + ea, sizeof b);                         \
    OUT_F64(EXPR);                                            \
    ADV(N);                                                   \
    NEXT();                                                   \
  }
#define F64_LD(name, EXPR)                                                                  \
  CASE(name##_ld) F64_LD_AT((uint64_t)SL(3).u32 + P(4), EXPR, 5)                            \
  CASE(name##_ld_add) F64_LD_AT((uint64_t)(uint32_t)(SL(3).u32 + P(4)) + P(5), EXPR, 6)
/* An integer add of a value read from memory (ops.def, OP_ILD), read
 * and bounds checked as the load would. */
#define I_LD_AT(EA, T, OUT, N)                                \
  {                                                           \
    uint64_t ea = (EA);                                       \
    if (UNLIKELY(ea + sizeof(T) > msize)) goto mem_oob;       \
    T b;                                                      \
    memcpy(&b, mbase + ea, sizeof b);                         \
    OUT(SL(2).u64 + b);                                       \
    ADV(N);                                                   \
    NEXT();                                                   \
  }
#define I_LD(name, T, OUT)                                                                  \
  CASE(name##_ld) I_LD_AT((uint64_t)SL(3).u32 + P(4), T, OUT, 5)                            \
  CASE(name##_ld_add) I_LD_AT((uint64_t)(uint32_t)(SL(3).u32 + P(4)) + P(5), T, OUT, 6)
#define F64_BIN(name, EXPR)                                   \
  CASE(name) {                                                \
    double a = SL(2).f64, b = SL(3).f64;                      \
    OUT_F64(EXPR);                                            \
    ADV(4);                                                   \
    NEXT();                                                   \
  }
#define F32_CMP(name, OP)                                     \
  CASE(name) {                                                \
    float a = SL(2).f32, b = SL(3).f32;                       \
    OUT_I32(a OP b);                                          \
    ADV(4);                                                   \
    NEXT();                                                   \
  }
#define F64_CMP(name, OP)                                     \
  CASE(name) {                                                \
    double a = SL(2).f64, b = SL(3).f64;                      \
    OUT_I32(a OP b);                                          \
    ADV(4);                                                   \
    NEXT();                                                   \
  }
/* Compare and branch: the four operand forms, forward and back edge. */
#define BR_CMP(name, T, OP)                                                      \
  CASE(bi32_##name##_ss) BR_IF((T)SL(1).u32 OP (T)SL(2).u32, 3);                 \
  CASE(bi32_##name##_si) BR_IF((T)SL(1).u32 OP (T)P(2), 3);                      \
  CASE(bi32_##name##_as) BR_IF((T)(uint32_t)iacc OP (T)SL(2).u32, 3);            \
  CASE(bi32_##name##_ai) BR_IF((T)(uint32_t)iacc OP (T)P(2), 3);                 \
  CASE(bi32_##name##_back_ss) BR_IF_BACK((T)SL(1).u32 OP (T)SL(2).u32, 3);       \
  CASE(bi32_##name##_back_si) BR_IF_BACK((T)SL(1).u32 OP (T)P(2), 3);            \
  CASE(bi32_##name##_back_as) BR_IF_BACK((T)(uint32_t)iacc OP (T)SL(2).u32, 3);  \
  CASE(bi32_##name##_back_ai) BR_IF_BACK((T)(uint32_t)iacc OP (T)P(2), 3);
/* The same for i64 (eq and ne): a 64-bit immediate takes two units. */
#define BR_CMP64(name, OP)                                                       \
  CASE(bi64_##name##_ss) BR_IF(SL(1).u64 OP SL(2).u64, 3);                       \
  CASE(bi64_##name##_si) BR_IF(SL(1).u64 OP imm64(&P(2)), 4);                    \
  CASE(bi64_##name##_as) BR_IF(iacc OP SL(2).u64, 3);                            \
  CASE(bi64_##name##_ai) BR_IF(iacc OP imm64(&P(2)), 4);                         \
  CASE(bi64_##name##_back_ss) BR_IF_BACK(SL(1).u64 OP SL(2).u64, 3);             \
  CASE(bi64_##name##_back_si) BR_IF_BACK(SL(1).u64 OP imm64(&P(2)), 4);          \
  CASE(bi64_##name##_back_as) BR_IF_BACK(iacc OP SL(2).u64, 3);                  \
  CASE(bi64_##name##_back_ai) BR_IF_BACK(iacc OP imm64(&P(2)), 4);
/* A load fused into a compare-and-branch (ops.def, OP_BRLD): the value
 * kept in its slot and iacc, compared with B, a taken back edge charging
 * its fuel (BACK; a forward branch has none to charge). */
#define BR_LD_AT(W, T, OP, B, BACK)                                             \
  {                                                                             \
    uint64_t ea = (uint64_t)(uint32_t)(SL(2).u32 + P(3)) + P(4);                \
    if (UNLIKELY(ea + sizeof(W) > msize)) goto mem_oob;                         \
    W v;                                                                        \
    memcpy(&v, mbase + ea, sizeof v);                                           \
    SL(1).u64 = v;                                                              \
    iacc = v;                                                                   \
    BR_IF_SLOT((T)(uint32_t)v OP(T)(B), 6, BACK);                               \
  }
#define BR_LD(name, T, OP)                                                      \
  CASE(bl8_##name##_s) BR_LD_AT(uint8_t, T, OP, SL(5).u32, 1)                   \
  CASE(bl8_##name##_i) BR_LD_AT(uint8_t, T, OP, P(5), 1)                        \
  CASE(bl8_##name##_s_fwd) BR_LD_AT(uint8_t, T, OP, SL(5).u32, 0)               \
  CASE(bl8_##name##_i_fwd) BR_LD_AT(uint8_t, T, OP, P(5), 0)                    \
  CASE(bl32_##name##_s) BR_LD_AT(uint32_t, T, OP, SL(5).u32, 1)                 \
  CASE(bl32_##name##_i) BR_LD_AT(uint32_t, T, OP, P(5), 1)                      \
  CASE(bl32_##name##_s_fwd) BR_LD_AT(uint32_t, T, OP, SL(5).u32, 0)             \
  CASE(bl32_##name##_i_fwd) BR_LD_AT(uint32_t, T, OP, P(5), 0)
/* An i64 load at a scaled index fused into an i64 eq or ne with a slot
 * (ops.def, bx64_eq ...), laid out as BR_LD_AT's with the index's shift
 * one unit more. The empty asm hides that iacc is the loaded value: else
 * gcc loads the slot into iacc's register (equal on one path) and pays a
 * move back on the other. */
#define BRX64_AT(OP, BACK)                                                      \
  {                                                                             \
    uint64_t ea = (uint64_t)(uint32_t)((SL(2).u32 << P(3)) + P(4)) + P(5);      \
    if (UNLIKELY(ea + 8 > msize)) goto mem_oob;                                 \
    uint64_t v;                                                                 \
    memcpy(&v, mbase + ea, sizeof v);                                           \
    SL(1).u64 = v;                                                              \
    iacc = v;                                                                   \
    __asm__("" : "+r"(iacc));                                                   \
    BR_IF_SLOT(iacc OP SL(6).u64, 7, BACK);                                     \
  }
/* Loads: the effective address is 33 bits wide, checked whole; in the
 * _add forms the base + imm part wraps at 32 bits as i32.add did. OUT
 * names the accumulator the value goes to. */
#define LOAD_AT(EA, T, CONV, OUT, N)                          \
  {                                                           \
    uint64_t ea = (EA);                                       \
    if (UNLIKELY(ea + sizeof(T) > msize)) goto mem_oob; \
    T v;                                                      \
    memcpy(&v, mbase + ea, sizeof v);                         \
    OUT(CONV);                                                \
    ADV(N);                                                   \
    NEXT();                                                   \
  }
#define LOAD(name, T, CONV, OUT)                                                        \
  CASE(name) LOAD_AT((uint64_t)SL(2).u32 + P(3), T, CONV, OUT, 4)                       \
  CASE(name##_a) LOAD_AT((uint64_t)(uint32_t)iacc + P(3), T, CONV, OUT, 4)              \
  CASE(name##_add) LOAD_AT((uint64_t)(uint32_t)(SL(2).u32 + P(3)) + P(4), T, CONV, OUT, 5) \
  CASE(name##_add_a) LOAD_AT((uint64_t)(uint32_t)((uint32_t)iacc + P(3)) + P(4), T, CONV, OUT, 5)
/* The scaled-index forms (ops.def, OP_LDX). */
#define LOADX(name, T, CONV, OUT)                                                            \
  CASE(name##_x) LOAD_AT((uint64_t)(uint32_t)((SL(2).u32 << P(4)) + SL(3).u32) + P(5), T, CONV, OUT, 6) \
  CASE(name##_xi) LOAD_AT((uint64_t)(uint32_t)((SL(2).u32 << P(3)) + P(4)) + P(5), T, CONV, OUT, 6)
#define STORE_AT(EA, T, VAL, N)                               \
  {                                                           \
    uint64_t ea = (EA);                                       \
    if (UNLIKELY(ea + sizeof(T) > msize)) goto mem_oob; \
    T v = (T)(VAL);                                           \
    memcpy(mbase + ea, &v, sizeof v);                         \
    ADV(N);                                                   \
    NEXT();                                                   \
  }
#define STORE(name, T)                                                                  \
  CASE(name) STORE_AT((uint64_t)SL(1).u32 + P(3), T, SL(2).u64, 4)                      \
  CASE(name##_v) STORE_AT((uint64_t)SL(1).u32 + P(3), T, iacc, 4)                       \
  CASE(name##_add) STORE_AT((uint64_t)(uint32_t)(SL(1).u32 + P(3)) + P(4), T, SL(2).u64, 5) \
  CASE(name##_add_v) STORE_AT((uint64_t)(uint32_t)(SL(1).u32 + P(3)) + P(4), T, iacc, 5)
/* A store, then the i32.add whose destination is unit K (ops.def, the
 * "_then_add" ops): both forms of the add. */
#define STORE_ADD_AT(EA, T, VAL, K, B)                        \
  {                                                           \
    uint64_t ea = (EA);                                       \
    if (UNLIKELY(ea + sizeof(T) > msize)) goto mem_oob;       \
    T v = (T)(VAL);                                           \
    memcpy(mbase + ea, &v, sizeof v);                         \
    uint64_t r_ = (uint32_t)(SL((K) + 1).u32 + (B));          \
    SL(K).u64 = r_;                                           \
    iacc = r_;                                                \
    ADV((K) + 3);                                             \
    NEXT();                                                   \
  }
#define STORE_ADD(name, EA, T, VAL, K)                                    \
  CASE(name##_then_add_ss) STORE_ADD_AT(EA, T, VAL, K, SL((K) + 2).u32)  \
  CASE(name##_then_add_si) STORE_ADD_AT(EA, T, VAL, K, P((K) + 2))
/* The trapping float-to-int truncations, by the rows of WASM_TRUNCS
 * (wasm/numeric.h): NaN is an invalid conversion, a value whose integer
 * part does not fit an overflow. */
#define TRUNC(R, F, S, FT, IT, UT, LO, HI, MIN, MAX)          \
  CASE(R##_trunc_##F##_##S) {                                 \
    FT x = SL(2).F;                                           \
    int f_ = WASM_TRUNC_FAULT(x, LO, HI);                     \
    if (UNLIKELY(f_))                                         \
      TRAP(f_ == WASM_TRUNC_NAN ? CIS_TRAP_CONVERSION : CIS_TRAP_INT_OVERFLOW); \
    SL(1).u64 = (UT)(IT)x;                                    \
    ADV(3);                                                   \
    NEXT();                                                   \
  }
/* The saturating ones. */
#define TRUNC_SAT(R, F, S, FT, IT, UT, LO, HI, MIN, MAX) \
  UN(R##_trunc_sat_##F##_##S, R##_sat_##F##_##S(a.F))

/* SIMD handlers, by the shapes of simd.def. A v128 operand is read from
 * its two slots into a vector register and the result stored back: every
 * read happens before the write, so a destination may overlap a source. */
#define VL(k) v_load(&SL(k))
#define VOUT(k, EXPR)             \
  do {                            \
    v128 r_ = (EXPR);             \
    v_store(&SL(k), r_);          \
  } while (0)
#define H_V(name) CASE(name) { VOUT(1, name(VL(2))); ADV(3); NEXT(); }
#define H_VV(name) CASE(name) { VOUT(1, name(VL(2), VL(3))); ADV(4); NEXT(); }
#define H_VVV(name) CASE(name) { VOUT(1, name(VL(2), VL(3), VL(4))); ADV(5); NEXT(); }
#define H_VS(name) CASE(name) { VOUT(1, name(VL(2), SL(3).u32)); ADV(4); NEXT(); }
#define H_VT(name) CASE(name) { SL(1).u64 = name(VL(2)); ADV(3); NEXT(); }
#define H_SPL(name) CASE(name) { VOUT(1, name(SL(2).u64)); ADV(3); NEXT(); }
#define H_EXT(name) CASE(name) { SL(1).u64 = name(VL(2), P(3)); ADV(4); NEXT(); }
#define H_REP(name) CASE(name) { VOUT(1, name(VL(2), SL(3).u64, P(4))); ADV(5); NEXT(); }
/* Loads and stores: the effective address is 33 bits, checked whole. */
#define H_LDN(name, N)                                          \
  CASE(name) {                                                  \
    uint64_t ea = (uint64_t)SL(2).u32 + P(3);                   \
    if (UNLIKELY(ea + (N) > msize)) goto mem_oob;     \
    VOUT(1, name(mbase + ea));                                  \
    ADV(4);                                                     \
    NEXT();                                                     \
  }
#define H_LD1(name) H_LDN(name, 1)
#define H_LD2(name) H_LDN(name, 2)
#define H_LD4(name) H_LDN(name, 4)
#define H_LD8(name) H_LDN(name, 8)
#define H_LD16(name) H_LDN(name, 16)
#define H_ST(name)                                              \
  CASE(name) {                                                  \
    uint64_t ea = (uint64_t)SL(1).u32 + P(3);                   \
    if (UNLIKELY(ea + 16 > msize)) goto mem_oob;      \
    v_store(mbase + ea, VL(2));                                 \
    ADV(4);                                                     \
    NEXT();                                                     \
  }
/* Lane loads and stores move N bytes between memory and lane P(5) (P(4)). */
#define H_LDLN(name, N)                                         \
  CASE(name) {                                                  \
    uint64_t ea = (uint64_t)SL(2).u32 + P(4);                   \
    if (UNLIKELY(ea + (N) > msize)) goto mem_oob;     \
    v128 v_ = VL(3);                                            \
    memcpy((uint8_t *)&v_ + (P(5) & (16 / (N) - 1)) * (N), mbase + ea, (N)); \
    v_store(&SL(1), v_);                                        \
    ADV(6);                                                     \
    NEXT();                                                     \
  }
#define H_STLN(name, N)                                         \
  CASE(name) {                                                  \
    uint64_t ea = (uint64_t)SL(1).u32 + P(3);                   \
    if (UNLIKELY(ea + (N) > msize)) goto mem_oob;     \
    v128 v_ = VL(2);                                            \
    memcpy(mbase + ea, (uint8_t *)&v_ + (P(4) & (16 / (N) - 1)) * (N), (N)); \
    ADV(5);                                                     \
    NEXT();                                                     \
  }
#define H_LDL1(name) H_LDLN(name, 1)
#define H_LDL2(name) H_LDLN(name, 2)
#define H_LDL4(name) H_LDLN(name, 4)
#define H_LDL8(name) H_LDLN(name, 8)
#define H_STL1(name) H_STLN(name, 1)
#define H_STL2(name) H_STLN(name, 2)
#define H_STL4(name) H_STLN(name, 4)
#define H_STL8(name) H_STLN(name, 8)
/* Loads and stores of a memory other than memory 0 (multi-memory) or of
 * a 64-bit memory, by their wasm opcode op, out of line: memory 0 keeps
 * its base and size in the loop's registers and its handlers above, every
 * other memory is reached here through the instance's table. ea is the
 * effective address (any 64-bit value, checked whole without wrapping), d
 * the destination slots (loads), v the value or vector slots (stores,
 * lane ops), lane a lane index. Returns CIS_OK or CIS_TRAP_MEM_OOB, having
 * written nothing then. */
__attribute__((noinline)) static cis_result memx(cis_memory *mem, uint32_t op, uint64_t ea, cis_slot *d,
                                                 const cis_slot *v, uint32_t lane) {
  uint8_t *const b = mem->base;
#define MX_AT(N)                                    \
  do {                                              \
    if (UNLIKELY(!cis__in_bounds(ea, (N), mem->size))) return CIS_TRAP_MEM_OOB; \
  } while (0)
#define MX_LOAD(id, T, CONV)           \
  case CIS__OP_##id: {                 \
    T x;                               \
    MX_AT(sizeof x);                   \
    memcpy(&x, b + ea, sizeof x);      \
    d->u64 = (CONV);                   \
    return CIS_OK;                     \
  }
#define MX_STORE(id, T)                \
  case CIS__OP_##id: {                 \
    T x = (T)v->u64;                   \
    MX_AT(sizeof x);                   \
    memcpy(b + ea, &x, sizeof x);      \
    return CIS_OK;                     \
  }
#define MX_LD(id, name, N) case CIS__OP_##id: MX_AT(N); v_store(d, name(b + ea)); return CIS_OK;
#define MX_LDL(id, N)                                                         \
  case CIS__OP_##id: {                                                        \
    MX_AT(N);                                                                 \
    v128 v_ = v_load(v);                                                      \
    memcpy((uint8_t *)&v_ + (lane & (16 / (N) - 1)) * (N), b + ea, (N));      \
    v_store(d, v_);                                                           \
    return CIS_OK;                                                            \
  }
#define MX_STL(id, N)                                                         \
  case CIS__OP_##id: {                                                        \
    MX_AT(N);                                                                 \
    v128 v_ = v_load(v);                                                      \
    memcpy(b + ea, (uint8_t *)&v_ + (lane & (16 / (N) - 1)) * (N), (N));      \
    return CIS_OK;                                                            \
  }
  switch (op) {
    MX_LOAD(I32_LOAD, uint32_t, x) MX_LOAD(I64_LOAD, uint64_t, x)
    MX_LOAD(F32_LOAD, uint32_t, x) MX_LOAD(F64_LOAD, uint64_t, x)
    MX_LOAD(I32_LOAD8_S, int8_t, (uint32_t)(int32_t)x) MX_LOAD(I32_LOAD8_U, uint8_t, x)
    MX_LOAD(I32_LOAD16_S, int16_t, (uint32_t)(int32_t)x) MX_LOAD(I32_LOAD16_U, uint16_t, x)
    MX_LOAD(I64_LOAD8_S, int8_t, (uint64_t)(int64_t)x) MX_LOAD(I64_LOAD8_U, uint8_t, x)
    MX_LOAD(I64_LOAD16_S, int16_t, (uint64_t)(int64_t)x) MX_LOAD(I64_LOAD16_U, uint16_t, x)
    MX_LOAD(I64_LOAD32_S, int32_t, (uint64_t)(int64_t)x) MX_LOAD(I64_LOAD32_U, uint32_t, x)
    MX_STORE(I32_STORE, uint32_t) MX_STORE(I64_STORE, uint64_t)
    MX_STORE(F32_STORE, uint32_t) MX_STORE(F64_STORE, uint64_t)
    MX_STORE(I32_STORE8, uint8_t) MX_STORE(I32_STORE16, uint16_t)
    MX_STORE(I64_STORE8, uint8_t) MX_STORE(I64_STORE16, uint16_t) MX_STORE(I64_STORE32, uint32_t)
#define SIMD(id, name, shape, lanes) MX_##shape(id, name)
#define MX_V(id, name)
#define MX_VV(id, name)
#define MX_VVV(id, name)
#define MX_VS(id, name)
#define MX_VT(id, name)
#define MX_SPL(id, name)
#define MX_EXT(id, name)
#define MX_REP(id, name)
#define MX_CONST(id, name)
#define MX_SHUF(id, name)
#define MX_LD1(id, name) MX_LD(id, name, 1)
#define MX_LD2(id, name) MX_LD(id, name, 2)
#define MX_LD4(id, name) MX_LD(id, name, 4)
#define MX_LD8(id, name) MX_LD(id, name, 8)
#define MX_LD16(id, name) MX_LD(id, name, 16)
#define MX_ST(id, name) case CIS__OP_##id: MX_AT(16); v_store(b + ea, v_load(v)); return CIS_OK;
#define MX_LDL1(id, name) MX_LDL(id, 1)
#define MX_LDL2(id, name) MX_LDL(id, 2)
#define MX_LDL4(id, name) MX_LDL(id, 4)
#define MX_LDL8(id, name) MX_LDL(id, 8)
#define MX_STL1(id, name) MX_STL(id, 1)
#define MX_STL2(id, name) MX_STL(id, 2)
#define MX_STL4(id, name) MX_STL(id, 4)
#define MX_STL8(id, name) MX_STL(id, 8)
#include "wasm/simd.def"
#undef SIMD
  default: break;
  }
  return CIS_TRAP_MEM_OOB; /* not a load or store: the translator emits none such */
}

#define H_CONST(name) CASE(name) { memcpy(&SL(1), &P(2), 16); ADV(6); NEXT(); }
#define H_SHUF(name)                                                         \
  CASE(name) {                                                               \
    VOUT(1, i8x16_shuffle_m(VL(2), VL(3), (const uint8_t *)&P(4)));          \
    ADV(12);                                                                 \
    NEXT();                                                                  \
  }

/* call_indirect's callee, g: element SL(3) of table P(2), of type P(1). */
#define INDIRECT_CALLEE()                                                      \
  do {                                                                         \
    cis_table *t_ = inst->tables[P(2)];                                        \
    uint32_t i_ = SL(3).u32;                                                   \
    if (UNLIKELY(i_ >= t_->size)) TRAP(CIS_TRAP_UNDEF_ELEM);                   \
    g = t_->elems[i_];                                                         \
    if (UNLIKELY(!g)) TRAP(CIS_TRAP_UNINIT_ELEM);                              \
    if (UNLIKELY(g->type_id != P(1)) && !cis__canon_id_sub(g->type_id, P(1)))  \
      TRAP(CIS_TRAP_SIG_MISMATCH);                                             \
  } while (0)
/* npc: nf's first instruction, nf translated on its first call. */
/* The callee comes back through a variable of its own: nf's address
 * taken kept nf in memory, reloaded at each use on the call path. */
#define CALLEE_CODE()                                                          \
  do {                                                                         \
    npc = cis__interp_code(nf);                                                \
    if (UNLIKELY(!npc)) {                                                      \
      const cis__ifunc *rf_;                                                   \
      ex->ticks = ticks;                                                       \
      rc = cis__interp_resolve(ic, (uint32_t)(nf - funcs), ex->top, &rf_);     \
      if (rc != CIS_OK) goto leave;                                            \
      nf = rf_;                                                                \
      npc = cis__interp_code(nf);                                              \
    }                                                                          \
  } while (0)
/* Fills the slots after nf's parameters in frame f from nf->init, read
 * into locals first: the stores into the frame could alias nf's fields. */
#define CALLEE_INIT(f)                                                         \
  do {                                                                         \
    const cis_slot *src_ = nf->init, *end_ = src_ + nf->ninit;                \
    cis_slot *dst_ = (f) + nf->nparams;                                        \
    while (src_ != end_) *dst_++ = *src_++;                                    \
  } while (0)
/* Calls g (host or another instance) with its arguments at args, through
 * the runtime, the loop's state written back and read again around it.
 * An exception that comes back goes on unwinding at on_exn. */
#define CALL_OUT(on_exn)                                                       \
  do {                                                                         \
    TICK(1);                                                                   \
    ex->ticks = ticks;                                                         \
    ex->depth = depth0 + (uint32_t)(rec_base - rec);                           \
    ex->sp = fp + cur->nslots;                                                 \
    ex->stack_end = (cis_slot *)(void *)rec;                                   \
    rc = cis__exec_call(ex, inst, g, args);                                    \
    ticks = ex->ticks;                                                         \
    ex->depth = depth0;                                                        \
    ex->sp = sp0;                                                              \
    ex->stack_end = end0;                                                      \
    msize = mem ? mem->size : 0;                                               \
    if (UNLIKELY(rc != CIS_OK)) {                                              \
      if (rc == CIS_EXCEPTION && ex->exn) goto on_exn;                         \
      goto leave;                                                              \
    }                                                                          \
  } while (0)
/* The loop's state after exn_unwind: at the handler, or out of the loop. */
#define UNWOUND(l)                                                             \
  do {                                                                         \
    cur = (l).cur;                                                             \
    fp = (l).fp;                                                               \
    rec = (l).rec;                                                             \
    if (!(l).pc) goto uncaught;                                                \
    pc = (l).pc;                                                               \
    NEXT();                                                                    \
  } while (0)

/* The loop's entry (iact, on ex->frames: the innermost while the loop
 * runs) learns where the current frame stopped, at end (just after the
 * instruction; NULL: the frame is gone), for a collection inside it. */
#define STOPPED(end)                                                           \
  do {                                                                         \
    iact *a_ = (iact *)(void *)ex->frames;                                     \
    a_->cur = cur;                                                             \
    a_->pc = (end);                                                            \
    a_->fp = fp;                                                               \
    a_->rec = rec;                                                             \
  } while (0)

/* Back to the caller's frame, or out of the loop from its first frame. */
#define RETURN()                                                               \
  do {                                                                         \
    if (UNLIKELY(rec == rec_base)) goto done;                                  \
    pc = rec->pc;                                                              \
    fp = rec->fp;                                                              \
    cur = rec->fn;                                                             \
    rec++;                                                                     \
    NEXT();                                                                    \
  } while (0)

/* One entry into the loop (cis__interp_run), for a collection inside the
 * call (runtime.h, cis__frames): where its current frame stopped last,
 * at a GC instruction or at a call that leaves the loop (the only places
 * a collection can reach while the loop runs); the frames below it are
 * read from its return records. A call inside the loop leaves the
 * caller's position in its return record and needs nothing here. */
typedef struct iact {
  cis__frames base;           /* first: linked on ex->frames */
  const cis__ifunc *cur;      /* the stopped frame's function; NULL before any
                                 stop (then nothing can be mapped) */
  const uint32_t *pc;         /* just after the instruction it stopped at; NULL
                                 when a tail call left the loop (the frame is
                                 gone while the callee runs) */
  cis_slot *fp;               /* its frame */
  const cis__iret *rec;       /* the return records of the frames below it */
  const cis__iret *rec_base;  /* their end: the entry's first frame's */
} iact;

/* Marks the slots of frame fp of f, stopped just before pc, that f's stack
 * map names there; false when it names none (the place is unmapped). */
static bool frame_roots(const cis__ifunc *f, const uint32_t *pc, const cis_slot *fp, cis__gcmark *m) {
  if (!f->gcmap) return true; /* no slot of f ever holds an object */
  const uint32_t *loc, *ops;
  uint32_t nloc, nops;
  if (!cis__interp_gc_slots(f, (size_t)(pc - cis__interp_code(f)), &loc, &nloc, &ops, &nops)) return false;
  for (uint32_t k = 0; k < nloc; k++) cis__gc_mark(m, fp[loc[k]].u64);
  for (uint32_t k = 0; k < nops; k++) cis__gc_mark(m, fp[ops[k]].u64);
  return true;
}

/* The roots of entry fr (an iact): its stopped frame, then each frame
 * its return records resume. */
static bool interp_roots(const cis__frames *fr, cis__gcmark *m) {
  const iact *a = (const iact *)(const void *)fr;
  if (!a->cur) return false;
  if (a->pc && !frame_roots(a->cur, a->pc, a->fp, m)) return false;
  for (const cis__iret *r = a->rec; r < a->rec_base; r++)
    if (!frame_roots(r->fn, r->pc, r->fp, m)) return false;
  return true;
}

/* throw: a new exception of tag with the values at vals, in flight in
 * ex->exn; or the error that kept it from being made. */
__attribute__((noinline, cold)) static cis_result exn_throw(cis__exec *ex, cis_tag *tag, const cis_slot *vals) {
  cis__exn *e;
  cis_result rc = cis__exn_new(ex, tag, &e);
  if (rc != CIS_OK) return rc;
  if (e->nslots) memcpy(e->vals, vals, (size_t)e->nslots * sizeof *vals);
  ex->exn = e;
  return CIS_OK;
}

/* Where exn_unwind leaves the loop: the handler's code, frame and
 * function, with the return records left; pc NULL when
 * no frame of this loop catches the exception. */
typedef struct exn_land {
  const uint32_t *pc;    /* the handler, or NULL */
  cis_slot *fp;          /* its frame (the loop's first frame when NULL) */
  const cis__ifunc *cur; /* its function */
  cis__iret *rec;        /* the return records left */
} exn_land;

/* Unwinds ex->exn, in flight at pc of cur (a return address when back is
 * 1: the call is the unit before it), through the frames of this loop:
 * in each, the innermost handler entry whose range holds the position,
 * then along their next ones (interp.h, "Handlers"); a frame without a
 * match returns to its caller. A match gets the exception's values and
 * exnref in its slots. Out of line and cold, so that the loop's
 * registers stay its fast paths'. */
__attribute__((noinline, cold)) static exn_land exn_unwind(cis__exec *ex, cis_instance *inst, const cis__ifunc *cur,
                                                           const uint32_t *pc, uint32_t back, cis_slot *fp,
                                                           cis__iret *rec, const cis__iret *base) {
  exn_land l = {.pc = NULL};
  for (;;) {
    const uint32_t *code = cis__interp_code(cur), *h = cur->hnd;
    if (h) {
      uint32_t pos = (uint32_t)(pc - code) - back, ne = h[0], i = ne;
      const uint32_t *ents = h + CIS__IHND_HEAD, *cls = ents + (size_t)ne * CIS__IHND_ENTRY;
      while (i-- > 0 && !(ents[(size_t)i * CIS__IHND_ENTRY] <= pos && pos < ents[(size_t)i * CIS__IHND_ENTRY + 1])) {}
      for (; i != CIS__IHND_NONE; i = ents[(size_t)i * CIS__IHND_ENTRY + 2]) {
        const uint32_t *en = ents + (size_t)i * CIS__IHND_ENTRY;
        for (uint32_t k = 0; k < en[4]; k++) {
          const uint32_t *c = cls + (size_t)(en[3] + k) * CIS__IHND_CLAUSE;
          cis__exn *e = ex->exn;
          if (c[0] != CIS__IHND_ALL && inst->tags[c[0]] != e->tag) continue;
          ex->exn = NULL;
          if (c[0] != CIS__IHND_ALL && e->nslots) memcpy(fp + c[2], e->vals, (size_t)e->nslots * sizeof *fp);
          if (c[3] != CIS__IHND_NONE) fp[c[3]].externref = e;
          cis__exn_caught(ex, e, c[3] != CIS__IHND_NONE);
          l.pc = code + c[1];
          l.fp = fp;
          l.cur = cur;
          l.rec = rec;
          return l;
        }
      }
    }
    if (rec == base) break;
    pc = rec->pc;
    fp = rec->fp;
    cur = rec->fn;
    rec++;
    back = 1;
  }
  l.fp = fp;
  l.cur = cur;
  l.rec = rec;
  return l;
}

/* An access's out-of-bounds code, from a call gcc cannot see into: as
 * a constant set at each access's trap, it was moved above the bounds
 * check, onto the path every load and store takes. */
__attribute__((noinline, cold)) static cis_result mem_oob_code(void) { return CIS_TRAP_MEM_OOB; }

/* The return record address at or below which the loop's calls are at
 * the depth limit: a call made with rec at rec_base - k records (depth
 * depth0 + k) traps when depth0 + k >= max_depth. 0 (never) when the
 * stack could not hold that many records anyway. */
static uintptr_t deep_mark(const cis__iret *rec_base, uint32_t depth0, uint32_t max_depth) {
  uint64_t k = depth0 >= max_depth ? 0 : (uint64_t)(max_depth - depth0);
  uintptr_t base = (uintptr_t)rec_base;
  if (k > base / sizeof *rec_base) return 0;
  return base - (uintptr_t)(k * sizeof *rec_base);
}

/* The one loop. With table != NULL it only reports the handler words. */
_Static_assert(sizeof(void *) == HEAD * sizeof(uint32_t), "a handler word is two code units");
/* The static table of label addresses belongs to one copy of the function:
 * it must never be inlined or cloned. */
#if defined(__clang__)
#define RUN_ATTRS __attribute__((noinline, hot))
#elif defined(__GNUC__)
#define RUN_ATTRS __attribute__((noinline, noclone, hot))
#else
#define RUN_ATTRS
#endif

RUN_ATTRS static cis_result
run(cis__exec *ex, cis_instance *inst, const cis__ifunc *cur, cis_slot *fp,
    const void *const **table) {
#if !CIS_INTERP_SWITCH
  static const void *const handlers[] = {
#define OP(name, fmt) &&L_##name,
#include "interp/ops.def"
#undef OP
  };
#else
  static const void *const handlers[] = {
#define OP(name, fmt) (const void *)(uintptr_t)CIS__IOP_##name,
#include "interp/ops.def"
#undef OP
  };
#endif
  if (table) {
    *table = handlers;
    return CIS_OK;
  }

  cis__icode *const ic = inst->module->engine_data;
  const cis__ifunc *const funcs = ic->funcs;
  cis_global **const globals = inst->globals;
  cis_memory *const mem = inst->m->nmemories ? inst->memories[0] : NULL;
  /* Memory 0's base, read by every load and store: held in a register of
   * its own on x86-64 with gcc, whose allocator otherwise gave it up (a
   * reload from the stack per access) as the loop's other handlers grew. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !CIS_INTERP_SWITCH
  register uint8_t *const mbase __asm__("r15") = mem ? mem->base : NULL;
#else
  uint8_t *const mbase = mem ? mem->base : NULL;
#endif
  uint64_t msize = mem ? mem->size : 0;
  const uint32_t *pc = cis__interp_code(cur);
  cis__iret *rec = (cis__iret *)(void *)ex->stack_end;
  cis__iret *const rec_base = rec;
  int64_t ticks = ex->ticks;
  /* The call depth is depth0 plus the return records pushed since entry
   * (rec_base - rec), so it is never counted apart: a call within the
   * loop is at the depth limit when rec is at rec_deep or below. */
  const uint32_t depth0 = ex->depth;
  const uintptr_t rec_deep = deep_mark(rec_base, depth0, ex->max_depth);
  cis_slot *const sp0 = ex->sp, *const end0 = ex->stack_end;
  cis_result rc = CIS_OK;
  const cis__ifunc *nf;  /* callee of a call within the instance */
  const uint32_t *npc;   /* its first instruction */
  cis_slot *nfp;         /* its frame */
  cis_func *g;           /* callee of a call that leaves the loop */
  cis_slot *args;        /* its arguments and results */
  uint64_t iacc = 0;     /* the integer accumulator (ops.def) */
  double dacc = 0;       /* the f64 accumulator */

#if !CIS_INTERP_SWITCH
  NEXT();
#else
dispatch:
  switch (*pc) {
#endif

  /* ------------------------------------------------------- control */
  CASE(unreachable) TRAP(CIS_TRAP_UNREACHABLE);
  CASE(br) {
    pc += (ptrdiff_t)(int32_t)P(1) + (1 + HEAD - 1);
    NEXT();
  }
  CASE(br_back) JUMP_BACK(1);
  CASE(br_if) BR_IF(SL(1).u32 != 0, 2);
  CASE(br_if_back) BR_IF_BACK(SL(1).u32 != 0, 2);
  CASE(br_unless) BR_IF(SL(1).u32 == 0, 2);
  CASE(br_unless_back) BR_IF_BACK(SL(1).u32 == 0, 2);
  CASE(br_if_a) BR_IF((uint32_t)iacc != 0, 2);
  CASE(br_if_back_a) BR_IF_BACK((uint32_t)iacc != 0, 2);
  CASE(br_unless_a) BR_IF((uint32_t)iacc == 0, 2);
  CASE(br_unless_back_a) BR_IF_BACK((uint32_t)iacc == 0, 2);
  CASE(br_table) {
    uint32_t i = SL(1).u32, n = P(2);
    if (i > n) i = n;
    pc += (ptrdiff_t)(int32_t)P(3 + i) + (3 + i + HEAD - 1);
    NEXT();
  }
  CASE(return) RETURN();
  CASE(call) {
    nf = callee_at(&P(3));
    nfp = fp + P(2);
    ADV(5);
    goto enter;
  }
  CASE(call_import) {
    g = inst->funcs[P(1)];
    args = fp + P(2);
    ADV(3);
    goto leave_loop;
  }
  CASE(call_indirect) {
    INDIRECT_CALLEE();
    args = fp + P(4);
    ADV(5);
    if (LIKELY(g->inst == inst && g->kind == CIS__FUNC_WASM)) {
      nf = &funcs[g->index - ic->nimports];
      nfp = args;
      goto enter;
    }
    goto leave_loop;
  }
  /* Tail calls: the callee runs in this frame, its arguments moved to the
   * frame's base, and returns to this function's caller. No return
   * record and no depth: a loop of tail calls runs in constant space. */
  CASE(return_call) {
    nf = &funcs[P(1)];
    args = fp + P(2);
    goto tail_enter;
  }
  CASE(return_call_import) {
    g = inst->funcs[P(1)];
    args = fp + P(2);
    goto tail_leave_loop;
  }
  CASE(return_call_indirect) {
    INDIRECT_CALLEE();
    args = fp + P(4);
    if (LIKELY(g->inst == inst && g->kind == CIS__FUNC_WASM)) {
      nf = &funcs[g->index - ic->nimports];
      goto tail_enter;
    }
    goto tail_leave_loop;
  }
  /* call_ref: the callee is a reference, its type checked statically. */
  CASE(call_ref) {
    g = SL(1).funcref;
    if (UNLIKELY(!g)) TRAP(CIS_TRAP_NULL_FUNC);
    args = fp + P(2);
    ADV(3);
    if (LIKELY(g->inst == inst && g->kind == CIS__FUNC_WASM)) {
      nf = &funcs[g->index - ic->nimports];
      nfp = args;
      goto enter;
    }
    goto leave_loop;
  }
  CASE(return_call_ref) {
    g = SL(1).funcref;
    if (UNLIKELY(!g)) TRAP(CIS_TRAP_NULL_FUNC);
    args = fp + P(2);
    if (LIKELY(g->inst == inst && g->kind == CIS__FUNC_WASM)) {
      nf = &funcs[g->index - ic->nimports];
      goto tail_enter;
    }
    goto tail_leave_loop;
  }
  CASE(br_null) BR_IF(SL(1).u64 == 0, 2);
  CASE(br_nonnull) BR_IF(SL(1).u64 != 0, 2);
  CASE(throw) {
    ex->ticks = ticks;
    rc = exn_throw(ex, inst->tags[P(1)], fp + P(2));
    if (UNLIKELY(rc != CIS_OK)) goto leave;
    goto unwind;
  }
  CASE(throw_ref) {
    cis__exn *e = SL(1).externref;
    if (UNLIKELY(!e)) TRAP(CIS_TRAP_NULL_REF);
    ex->exn = e;
    goto unwind;
  }
  CASE(exn_keep) {
    cis__exn_keep(ex, SL(1).externref);
    ADV(2);
    NEXT();
  }

  BR_CMP(eq, uint32_t, ==)
  BR_CMP(ne, uint32_t, !=)
  BR_CMP(lt_s, int32_t, <)
  BR_CMP(lt_u, uint32_t, <)
  BR_CMP(gt_s, int32_t, >)
  BR_CMP(gt_u, uint32_t, >)
  BR_CMP(le_s, int32_t, <=)
  BR_CMP(le_u, uint32_t, <=)
  BR_CMP(ge_s, int32_t, >=)
  BR_CMP(ge_u, uint32_t, >=)
  BR_CMP64(eq, ==)
  BR_CMP64(ne, !=)
  BR_LD(eq, uint32_t, ==)
  BR_LD(ne, uint32_t, !=)
  BR_LD(lt_s, int32_t, <)
  BR_LD(lt_u, uint32_t, <)
  BR_LD(gt_s, int32_t, >)
  BR_LD(gt_u, uint32_t, >)
  BR_LD(le_s, int32_t, <=)
  BR_LD(le_u, uint32_t, <=)
  BR_LD(ge_s, int32_t, >=)
  BR_LD(ge_u, uint32_t, >=)
  CASE(bx64_eq) BRX64_AT(==, 1)
  CASE(bx64_ne) BRX64_AT(!=, 1)
  CASE(bx64_eq_fwd) BRX64_AT(==, 0)
  CASE(bx64_ne_fwd) BRX64_AT(!=, 0)

  /* ------------------------------------------- moves and variables */
  CASE(mov) {
    SL(1) = SL(2);
    ADV(3);
    NEXT();
  }
  CASE(mov2) {
    SL(1) = SL(2);
    SL(3) = SL(4);
    ADV(5);
    NEXT();
  }
  CASE(const32) {
    SL(1).u64 = P(2);
    ADV(3);
    NEXT();
  }
  CASE(const64) {
    SL(1).u64 = imm64(&P(2));
    ADV(4);
    NEXT();
  }
  CASE(select) {
    /* Both operands read first, so that gcc picks one with a conditional
     * move: its branch (one arm out of line, a jump back) cost an
     * instruction more and a miss on data-dependent conditions. */
    uint64_t a = SL(2).u64, b = SL(3).u64;
    SL(1).u64 = SL(4).u32 ? a : b;
    ADV(5);
    NEXT();
  }
  CASE(global_get) {
    iacc = globals[P(2)]->val.u64;
    SL(1).u64 = iacc;
    ADV(3);
    NEXT();
  }
  CASE(global_set) {
    globals[P(1)]->val = SL(2);
    ADV(3);
    NEXT();
  }

  /* --------------------------------------------------------- memory */
  LOAD(ld8_u, uint8_t, v, OUT_I64)
  LOAD(ld16_u, uint16_t, v, OUT_I64)
  LOAD(ld32_u, uint32_t, v, OUT_I64)
  LOAD(ld64, uint64_t, v, OUT_I64)
  LOAD(ld8_s32, int8_t, (uint32_t)(int32_t)v, OUT_I64)
  LOAD(ld16_s32, int16_t, (uint32_t)(int32_t)v, OUT_I64)
  LOAD(ld8_s64, int8_t, (uint64_t)(int64_t)v, OUT_I64)
  LOAD(ld16_s64, int16_t, (uint64_t)(int64_t)v, OUT_I64)
  LOAD(ld32_s64, int32_t, (uint64_t)(int64_t)v, OUT_I64)
  LOAD(ldf64, double, v, OUT_F64)
  LOADX(ld8_u, uint8_t, v, OUT_I64)
  LOADX(ld32_u, uint32_t, v, OUT_I64)
  LOADX(ld64, uint64_t, v, OUT_I64)
  LOADX(ldf64, double, v, OUT_F64)
  STORE(st8, uint8_t)
  STORE(st16, uint16_t)
  STORE(st32, uint32_t)
  STORE(st64, uint64_t)
  CASE(stf64_v) {
    uint64_t ea = (uint64_t)SL(1).u32 + P(3);
    if (UNLIKELY(ea + 8 > msize)) goto mem_oob;
    double v = dacc;
    memcpy(mbase + ea, &v, sizeof v);
    ADV(4);
    NEXT();
  }
  CASE(stf64_add_v) {
    uint64_t ea = (uint64_t)(uint32_t)(SL(1).u32 + P(3)) + P(4);
    if (UNLIKELY(ea + 8 > msize)) goto mem_oob;
    double v = dacc;
    memcpy(mbase + ea, &v, sizeof v);
    ADV(5);
    NEXT();
  }
  /* a store, then i32.add (ops.def: "_then_add") */
  STORE_ADD(st8, (uint64_t)SL(1).u32 + P(3), uint8_t, SL(2).u64, 4)
  STORE_ADD(st8_add, (uint64_t)(uint32_t)(SL(1).u32 + P(3)) + P(4), uint8_t, SL(2).u64, 5)
  STORE_ADD(st32, (uint64_t)SL(1).u32 + P(3), uint32_t, SL(2).u64, 4)
  STORE_ADD(st32_add_v, (uint64_t)(uint32_t)(SL(1).u32 + P(3)) + P(4), uint32_t, iacc, 5)
  STORE_ADD(st64_add, (uint64_t)(uint32_t)(SL(1).u32 + P(3)) + P(4), uint64_t, SL(2).u64, 5)
  STORE_ADD(stf64_v, (uint64_t)SL(1).u32 + P(3), double, dacc, 4)
  /* f64.load, f64.add, f64.store to one address (ops.def, f64_add_ld_st):
   * the load's bounds check is the store's */
#define F64_ADD_ST_AT(TAIL)                                   \
  {                                                           \
    uint64_t ea = (uint64_t)SL(3).u32 + P(4);                 \
    if (UNLIKELY(ea + sizeof(double) > msize)) goto mem_oob;  \
    double a = SL(2).f64, b;                                  \
    memcpy(&b, mbase + ea, sizeof b);                         \
    double r = a + b;                                         \
    SL(1).u64 = f64_bits(r);                                  \
    memcpy(mbase + ea, &r, sizeof r);                         \
    TAIL                                                      \
  }
#define F64_ADD_ST_ADD(B)                                     \
  uint64_t s_ = (uint32_t)(SL(6).u32 + (B));                  \
  SL(5).u64 = s_;                                             \
  iacc = s_;                                                  \
  ADV(8);                                                     \
  NEXT();
  CASE(st8_add_then_add_ss_lt_u_back) {
    uint64_t ea = (uint64_t)(uint32_t)(SL(1).u32 + P(3)) + P(4);
    if (UNLIKELY(ea + 1 > msize)) goto mem_oob;
    uint8_t v = (uint8_t)SL(2).u64;
    memcpy(mbase + ea, &v, sizeof v);
    /* no accumulator after it, as the op below */
    uint64_t r_ = (uint32_t)(SL(6).u32 + SL(7).u32);
    __asm__("" : "+r"(r_)); /* else gcc copies the sum to zero-extend it again */
    SL(5).u64 = r_;
    BR_IF_BACK((uint32_t)r_ < SL(8).u32, 9);
  }
  CASE(f64_add_ld_st) F64_ADD_ST_AT(ADV(5); NEXT();)
  CASE(f64_add_ld_st_then_add_ss) F64_ADD_ST_AT(F64_ADD_ST_ADD(SL(7).u32))
  CASE(f64_add_ld_st_then_add_si) F64_ADD_ST_AT(F64_ADD_ST_ADD(P(7)))
  /* no accumulator after it: the translator knows none at either end */
  CASE(f64_add_ld_st_then_add_si_ne_back) F64_ADD_ST_AT({
    uint64_t s_ = (uint32_t)(SL(6).u32 + P(7));
    __asm__("" : "+r"(s_)); /* else gcc copies the sum to zero-extend it again */
    SL(5).u64 = s_;
    BR_IF_BACK((uint32_t)s_ != P(8), 9);
  })
  /* the same as f64_add_ld_st for i64 */
  CASE(i64_add_ld_st) {
    uint64_t ea = (uint64_t)SL(3).u32 + P(4);
    if (UNLIKELY(ea + sizeof(uint64_t) > msize)) goto mem_oob;
    uint64_t b;
    memcpy(&b, mbase + ea, sizeof b);
    uint64_t r = SL(2).u64 + b;
    SL(1).u64 = r;
    memcpy(mbase + ea, &r, sizeof r);
    ADV(5);
    NEXT();
  }
  CASE(memx) {
    rc = memx(inst->memories[P(5)], P(6), (uint64_t)SL(2).u32 + P(4), &SL(1), &SL(3), P(7));
    if (UNLIKELY(rc != CIS_OK)) goto trapped;
    ADV(8);
    NEXT();
  }
  CASE(memx64) {
    uint64_t ea;
    rc = __builtin_add_overflow(SL(2).u64, imm64(&P(4)), &ea)
             ? CIS_TRAP_MEM_OOB
             : memx(inst->memories[P(6)], P(7), ea, &SL(1), &SL(3), P(8));
    if (UNLIKELY(rc != CIS_OK)) goto trapped;
    ADV(9);
    NEXT();
  }
  CASE(memory_size) {
    SL(1).u64 = inst->memories[P(2)]->size / CIS__PAGE_SIZE;
    ADV(3);
    NEXT();
  }
  CASE(memory_grow) {
    cis_memory *gm = inst->memories[P(3)];
    int64_t r = cis__memory_grow(gm, ADDR(gm->is64, 2));
    msize = mem->size;
    SL(1).u64 = GROWN(gm->is64, r);
    ADV(4);
    NEXT();
  }
  CASE(memory_init) {
    rc = cis__memory_init(inst, P(1), P(2), ADDR(inst->memories[P(2)]->is64, 3), SL(4).u32, SL(5).u32);
    if (UNLIKELY(rc != CIS_OK)) goto trapped;
    ADV(6);
    NEXT();
  }
  CASE(data_drop) {
    cis__data_drop(inst, P(1));
    ADV(2);
    NEXT();
  }
  CASE(memory_copy) {
    cis_memory *dm = inst->memories[P(4)], *sm = inst->memories[P(5)];
    rc = cis__memory_copy(dm, sm, ADDR(dm->is64, 1), ADDR(sm->is64, 2), ADDR(dm->is64 && sm->is64, 3));
    if (UNLIKELY(rc != CIS_OK)) goto trapped;
    ADV(6);
    NEXT();
  }
  CASE(memory_fill) {
    cis_memory *fm = inst->memories[P(4)];
    rc = cis__memory_fill(fm, ADDR(fm->is64, 1), (uint8_t)SL(2).u32, ADDR(fm->is64, 3));
    if (UNLIKELY(rc != CIS_OK)) goto trapped;
    ADV(5);
    NEXT();
  }

  /* ---------------------------------------------- references, tables */
  CASE(ref_func) {
    SL(1).u64 = (uint64_t)(uintptr_t)inst->funcs[P(2)];
    ADV(3);
    NEXT();
  }
  CASE(ref_as_non_null) {
    if (UNLIKELY(!SL(1).u64)) TRAP(CIS_TRAP_NULL_REF);
    ADV(2);
    NEXT();
  }
  CASE(table_index64) {
    SL(1).u64 = SL(2).u64 > UINT32_MAX ? UINT32_MAX : SL(2).u64;
    ADV(3);
    NEXT();
  }
  CASE(table_get) {
    void *v;
    cis_table *tt = inst->tables[P(2)];
    if (UNLIKELY(cis__table_get(tt, ADDR(tt->is64, 3), &v) != CIS_OK)) TRAP(CIS_TRAP_TABLE_OOB);
    SL(1).u64 = (uint64_t)(uintptr_t)v;
    ADV(4);
    NEXT();
  }
  CASE(table_set) {
    cis_table *tt = inst->tables[P(1)];
    if (UNLIKELY(cis__table_set(tt, ADDR(tt->is64, 2), (void *)(uintptr_t)SL(3).u64) != CIS_OK))
      TRAP(CIS_TRAP_TABLE_OOB);
    ADV(4);
    NEXT();
  }
  CASE(table_size) {
    SL(1).u64 = inst->tables[P(2)]->size;
    ADV(3);
    NEXT();
  }
  CASE(table_grow) {
    cis_table *tt = inst->tables[P(2)];
    int64_t r = cis__table_grow(tt, ADDR(tt->is64, 4), (void *)(uintptr_t)SL(3).u64);
    SL(1).u64 = GROWN(tt->is64, r);
    ADV(5);
    NEXT();
  }
  CASE(table_fill) {
    cis_table *tt = inst->tables[P(1)];
    rc = cis__table_fill(tt, ADDR(tt->is64, 2), (void *)(uintptr_t)SL(3).u64, ADDR(tt->is64, 4));
    if (UNLIKELY(rc != CIS_OK)) goto trapped;
    ADV(5);
    NEXT();
  }
  CASE(table_copy) {
    bool d64 = inst->tables[P(1)]->is64, s64 = inst->tables[P(2)]->is64;
    rc = cis__table_copy(inst, P(1), P(2), ADDR(d64, 3), ADDR(s64, 4), ADDR(d64 && s64, 5));
    if (UNLIKELY(rc != CIS_OK)) goto trapped;
    ADV(6);
    NEXT();
  }
  CASE(table_init) {
    rc = cis__table_init(inst, P(1), P(2), ADDR(inst->tables[P(2)]->is64, 3), SL(4).u32, SL(5).u32);
    if (UNLIKELY(rc != CIS_OK)) goto trapped;
    ADV(6);
    NEXT();
  }
  CASE(elem_drop) {
    cis__elem_drop(inst, P(1));
    ADV(2);
    NEXT();
  }

  /* ------------------------------------------------------ GC (3.0) */
  CASE(gc) {
    /* an allocation may collect: the frames' stack maps say what they
     * hold, this one's up to this instruction's operands (cis__gc_op adds
     * those it stores) */
    STOPPED(pc + HEAD - 1 + 9);
    rc = cis__gc_op(ex, inst, P(2), P(3), P(4), (const cis__gclayout *)(uintptr_t)imm64(&P(5)),
                    (const cis__gclayout *)(uintptr_t)imm64(&P(7)), fp + P(1));
    if (UNLIKELY(rc != CIS_OK)) {
      if (rc == CIS_EMEMLIMIT || rc == CIS_ENOMEM) goto leave; /* the message is set */
      goto trapped;
    }
    ADV(9);
    NEXT();
  }

  /* ------------------------------------------------------------ i32 */
  UN_I(i32_eqz, a.u32 == 0)
  UN_I(i32_clz, clz32(a.u32))
  UN_I(i32_ctz, ctz32(a.u32))
  UN_I(i32_popcnt, (uint32_t)__builtin_popcount(a.u32))
  UN_I(i32_extend8_s, (uint32_t)(int32_t)(int8_t)a.u32)
  UN_I(i32_extend16_s, (uint32_t)(int32_t)(int16_t)a.u32)
  I32_BIN(i32_eq, a == b)
  I32_BIN(i32_ne, a != b)
  I32_BIN(i32_lt_s, (int32_t)a < (int32_t)b)
  I32_BIN(i32_lt_u, a < b)
  I32_BIN(i32_gt_s, (int32_t)a > (int32_t)b)
  I32_BIN(i32_gt_u, a > b)
  I32_BIN(i32_le_s, (int32_t)a <= (int32_t)b)
  I32_BIN(i32_le_u, a <= b)
  I32_BIN(i32_ge_s, (int32_t)a >= (int32_t)b)
  I32_BIN(i32_ge_u, a >= b)
  I32_BIN(i32_add, a + b)
  I32_BIN(i32_sub, a - b)
  I32_BIN(i32_mul, a * b)
  I_LD(i32_add, uint32_t, OUT_I32)
  CASE(i32_add_ld_x) I_LD_AT((uint64_t)(uint32_t)((SL(3).u32 << P(5)) + SL(4).u32) + P(6), uint32_t, OUT_I32, 7)
  I32_DIV(i32_div_s, DIV_CHECK(i32_div_s_traps(a, b)), i32_quot_s(a, b))
  I32_DIV(i32_div_u, DIV_CHECK(div_u_traps(b)), a / b)
  I32_DIV(i32_rem_s, DIV_CHECK(div_u_traps(b)), i32_rest_s(a, b))
  I32_DIV(i32_rem_u, DIV_CHECK(div_u_traps(b)), a % b)
  I32_BIN(i32_and, a & b)
  CASE(i32_add_and) {
    OUT_I32((SL(2).u32 + P(3)) & P(4));
    ADV(5);
    NEXT();
  }
  CASE(i32_add2_si) {
    SL(1).u64 = (uint32_t)(SL(2).u32 + P(3));
    uint64_t r_ = (uint32_t)(SL(5).u32 + P(6));
    SL(4).u64 = r_;
    iacc = r_;
    ADV(7);
    NEXT();
  }
  CASE(i32_add_si_mov) {
    uint64_t r_ = (uint32_t)(SL(2).u32 + P(3));
    SL(1).u64 = r_;
    SL(4).u64 = r_;
    iacc = r_;
    ADV(5);
    NEXT();
  }
  I32_BIN(i32_or, a | b)
  I32_BIN(i32_xor, a ^ b)
  CASE(i32_shl_add) {
    OUT_I32((SL(2).u32 << P(4)) + SL(3).u32);
    ADV(5);
    NEXT();
  }
  /* ops.def: a shift by a constant into xor or or (k already masked) */
  SH_BIT(i32_shl_xor, uint32_t, u32, OUT_I32, x << k, ^)
  SH_BIT(i32_shr_u_xor, uint32_t, u32, OUT_I32, x >> k, ^)
  SH_BIT(i32_rotl_xor, uint32_t, u32, OUT_I32, rotl32(x, k), ^)
  SH_BIT(i32_shl_or, uint32_t, u32, OUT_I32, x << k, |)
  SH_BIT(i32_shr_u_or, uint32_t, u32, OUT_I32, x >> k, |)
  SH_BIT(i32_rotl_or, uint32_t, u32, OUT_I32, rotl32(x, k), |)
  CASE(i32_add_eqz) {
    OUT_I32(SL(3).u32 + (SL(2).u32 == 0));
    ADV(4);
    NEXT();
  }
  I32_BIN(i32_shl, a << (b & 31))
  I32_BIN(i32_shr_s, (int32_t)a >> (b & 31))
  I32_BIN(i32_shr_u, a >> (b & 31))
  I32_BIN(i32_rotl, rotl32(a, b))
  I32_BIN(i32_rotr, rotr32(a, b))

  /* ------------------------------------------------------------ i64 */
  UN_I(i64_eqz, a.u64 == 0)
  UN_I(i64_clz, clz64(a.u64))
  UN_I(i64_ctz, ctz64(a.u64))
  UN_I(i64_popcnt, (uint64_t)__builtin_popcountll(a.u64))
  UN_I(i64_extend8_s, (uint64_t)(int64_t)(int8_t)a.u64)
  UN_I(i64_extend16_s, (uint64_t)(int64_t)(int16_t)a.u64)
  UN_I(i64_extend32_s, (uint64_t)(int64_t)(int32_t)a.u64)
  UN_I(i64_extend_i32_u, a.u32)
  I64_BIN(i64_eq, a == b)
  I64_BIN(i64_ne, a != b)
  I64_BIN(i64_lt_s, (int64_t)a < (int64_t)b)
  I64_BIN(i64_lt_u, a < b)
  I64_BIN(i64_gt_s, (int64_t)a > (int64_t)b)
  I64_BIN(i64_gt_u, a > b)
  I64_BIN(i64_le_s, (int64_t)a <= (int64_t)b)
  I64_BIN(i64_le_u, a <= b)
  I64_BIN(i64_ge_s, (int64_t)a >= (int64_t)b)
  I64_BIN(i64_ge_u, a >= b)
  I64_BIN(i64_add, a + b)
  I64_BIN(i64_sub, a - b)
  I64_BIN(i64_mul, a * b)
  I_LD(i64_add, uint64_t, OUT_I64)
  I64_DIV(i64_div_s, DIV_CHECK(i64_div_s_traps(a, b)), i64_quot_s(a, b))
  I64_DIV(i64_div_u, DIV_CHECK(div_u_traps(b)), a / b)
  I64_DIV(i64_rem_s, DIV_CHECK(div_u_traps(b)), i64_rest_s(a, b))
  I64_DIV(i64_rem_u, DIV_CHECK(div_u_traps(b)), a % b)
  I64_BIN(i64_and, a & b)
  I64_BIN(i64_or, a | b)
  I64_BIN(i64_xor, a ^ b)
  I64_BIN(i64_shl, a << (b & 63))
  I64_BIN(i64_shr_s, (int64_t)a >> (b & 63))
  I64_BIN(i64_shr_u, a >> (b & 63))
  I64_BIN(i64_rotl, rotl64(a, b))
  I64_BIN(i64_rotr, rotr64(a, b))
  SH_BIT(i64_shl_xor, uint64_t, u64, OUT_I64, x << k, ^)
  SH_BIT(i64_shr_u_xor, uint64_t, u64, OUT_I64, x >> k, ^)
  SH_BIT(i64_rotl_xor, uint64_t, u64, OUT_I64, rotl64(x, k), ^)
  SH_BIT(i64_shl_or, uint64_t, u64, OUT_I64, x << k, |)
  SH_BIT(i64_shr_u_or, uint64_t, u64, OUT_I64, x >> k, |)
  SH_BIT(i64_rotl_or, uint64_t, u64, OUT_I64, rotl64(x, k), |)
  CASE(i64_add_eqz) {
    OUT_I64(SL(3).u64 + (SL(2).u32 == 0));
    ADV(4);
    NEXT();
  }
  CASE(i64_mul_shr_u) {
    OUT_I64((SL(2).u64 * imm64(&P(3))) >> (P(5) & 63));
    ADV(6);
    NEXT();
  }
  CASE(i64_add_si_mov) {
    uint64_t r_ = SL(2).u64 + imm64(&P(3));
    SL(1).u64 = r_;
    SL(5).u64 = r_;
    iacc = r_;
    ADV(6);
    NEXT();
  }

  /* ------------------------------------------------------------ f32 */
  F32_CMP(f32_eq, ==)
  F32_CMP(f32_ne, !=)
  F32_CMP(f32_lt, <)
  F32_CMP(f32_gt, >)
  F32_CMP(f32_le, <=)
  F32_CMP(f32_ge, >=)
  UN(f32_abs, a.u32 & 0x7fffffffu)
  UN(f32_neg, a.u32 ^ 0x80000000u)
  UN(f32_ceil, f32_bits(q32(a.f32, ceilf(a.f32))))
  UN(f32_floor, f32_bits(q32(a.f32, floorf(a.f32))))
  UN(f32_trunc, f32_bits(q32(a.f32, truncf(a.f32))))
  UN(f32_nearest, f32_bits(q32(a.f32, rintf(a.f32))))
  UN(f32_sqrt, f32_bits(sqrtf(a.f32)))
  F32_BIN(f32_add, a + b)
  F32_BIN(f32_sub, a - b)
  F32_BIN(f32_mul, a * b)
  F32_BIN(f32_div, a / b)
  F32_BIN(f32_min, fmin32(a, b))
  F32_BIN(f32_max, fmax32(a, b))
  CASE(f32_copysign) {
    uint32_t a = SL(2).u32, b = SL(3).u32;
    SL(1).u64 = (a & 0x7fffffffu) | (b & 0x80000000u);
    ADV(4);
    NEXT();
  }

  /* ------------------------------------------------------------ f64 */
  F64_CMP(f64_eq, ==)
  F64_CMP(f64_ne, !=)
  F64_CMP(f64_lt, <)
  F64_CMP(f64_gt, >)
  F64_CMP(f64_le, <=)
  F64_CMP(f64_ge, >=)
  UN(f64_abs, a.u64 & 0x7fffffffffffffffull)
  UN(f64_neg, a.u64 ^ 0x8000000000000000ull)
  UN(f64_ceil, f64_bits(q64(a.f64, ceil(a.f64))))
  UN(f64_floor, f64_bits(q64(a.f64, floor(a.f64))))
  UN(f64_trunc, f64_bits(q64(a.f64, trunc(a.f64))))
  UN(f64_nearest, f64_bits(q64(a.f64, rint(a.f64))))
  UN_F64(f64_sqrt, sqrt(a.f64))
  F64_BIN3(f64_add, a + b)
  F64_BIN3(f64_sub, a - b)
  F64_BIN3(f64_mul, a * b)
  F64_BIN3(f64_div, a / b)
  F64_LD(f64_add, a + b)
  F64_LD(f64_sub, a - b)
  F64_LD(f64_mul, a * b)
  F64_LD(f64_div, a / b)
  F64_BIN(f64_min, fmin64(a, b))
  F64_BIN(f64_max, fmax64(a, b))
  CASE(f64_copysign) {
    uint64_t a = SL(2).u64, b = SL(3).u64;
    SL(1).u64 = (a & 0x7fffffffffffffffull) | (b & 0x8000000000000000ull);
    ADV(4);
    NEXT();
  }

  /* ---------------------------------------------------- conversions */
  WASM_TRUNCS(TRUNC)
  WASM_TRUNCS(TRUNC_SAT)
  UN(f32_convert_i32_s, f32_bits((float)a.i32))
  UN(f32_convert_i32_u, f32_bits((float)a.u32))
  UN(f32_convert_i64_s, f32_bits((float)a.i64))
  UN(f32_convert_i64_u, f32_bits((float)a.u64))
  UN_F64(f64_convert_i32_s, (double)a.i32)
  UN_F64(f64_convert_i32_u, (double)a.u32)
  UN_F64(f64_convert_i64_s, (double)a.i64)
  UN_F64(f64_convert_i64_u, (double)a.u64)
  UN(f32_demote_f64, f32_bits((float)a.f64))
  UN_F64(f64_promote_f32, (double)a.f32)

  /* ----------------------------------------------------------- v128 */
  CASE(mov128) {
    v_store(&SL(1), VL(2));
    ADV(3);
    NEXT();
  }
  CASE(select128) {
    v128 v = SL(4).u32 ? VL(2) : VL(3);
    v_store(&SL(1), v);
    ADV(5);
    NEXT();
  }
  CASE(global_get128) {
    v_store(&SL(1), v_load(globals[P(2)]->v128));
    ADV(3);
    NEXT();
  }
  CASE(global_set128) {
    v_store(globals[P(1)]->v128, VL(2));
    ADV(3);
    NEXT();
  }
#define SIMD(id, name, shape, lanes) H_##shape(name)
#include "wasm/simd.def"
#undef SIMD
  CASE(i8x16_shuffle_ssse3) {
#if CIS_SIMD_SSSE3
    VOUT(1, i8x16_shuffle_ssse3(VL(2), VL(3), (const uint8_t *)&P(4)));
#else
    VOUT(1, i8x16_shuffle_m(VL(2), VL(3), (const uint8_t *)&P(4)));
#endif
    ADV(12);
    NEXT();
  }
  CASE(i8x16_swizzle_ssse3) {
#if CIS_SIMD_SSSE3
    VOUT(1, i8x16_swizzle_ssse3(VL(2), VL(3)));
#else
    VOUT(1, i8x16_swizzle(VL(2), VL(3)));
#endif
    ADV(4);
    NEXT();
  }

#if CIS_INTERP_SWITCH
  default:
    rc = cis__fail(ex->top, CIS_ESTATE, "corrupt interpreter code in function %u", cur->index);
    goto leave;
  }
#endif

  /* ------------------------------------------- calls and the way out */
enter:
  /* nf's frame at nfp, resuming at pc afterwards. */
  CALLEE_CODE();
  if (UNLIKELY((size_t)((char *)rec - (char *)nfp) < nf->need || (uintptr_t)rec <= rec_deep)) {
    cur = nf;
    TRAP(CIS_TRAP_STACK);
  }
  TICK(nf->cost);
  --rec;
  rec->pc = pc;
  rec->fp = fp;
  rec->fn = cur;
  /* cur before the init copy: nf is not live across its loop */
  cur = nf;
  CALLEE_INIT(nfp);
  fp = nfp;
  pc = npc;
  NEXT();

tail_enter:
  /* nf in this frame, its arguments at args. */
  CALLEE_CODE();
  if (UNLIKELY((size_t)((char *)rec - (char *)fp) < nf->need)) {
    cur = nf;
    TRAP(CIS_TRAP_STACK);
  }
  TICK(nf->cost);
  memmove(fp, args, (size_t)nf->nparams * sizeof *fp);
  CALLEE_INIT(fp);
  cur = nf;
  pc = npc;
  NEXT();

tail_leave_loop:
  /* As leave_loop, then the results (where the arguments were) go to the
   * frame's base, which returns them: the callee's results are this
   * function's by validation. */
  STOPPED(NULL);
  CALL_OUT(unwind_tail);
  memmove(fp, args, (size_t)cur->nresults * sizeof *fp);
  RETURN();

leave_loop:
  /* g (host or another instance) with its arguments at args, which are
   * its own (copied, or pinned for a host function): no root of this
   * frame's from there up. */
  STOPPED(pc);
  CALL_OUT(unwind_call);
  NEXT();

unwind_tail:
  /* The frame that tail-called out is gone: the exception goes on at
   * its caller's call. */
  if (rec == rec_base) goto uncaught;
  pc = rec->pc;
  fp = rec->fp;
  cur = rec->fn;
  rec++;
unwind_call: { /* pc is a return address: the call is the unit before it */
  exn_land l = exn_unwind(ex, inst, cur, pc, 1, fp, rec, rec_base);
  UNWOUND(l);
}
unwind: { /* pc is the instruction that threw */
  exn_land l = exn_unwind(ex, inst, cur, pc, 0, fp, rec, rec_base);
  UNWOUND(l);
}
uncaught:
  rc = CIS_EXCEPTION;
  goto leave;

tick_back: /* a back edge's fuel ran out (JUMP_BACK): pc is its target */
  rc = tick_slow(ex, &ticks);
  if (rc != CIS_OK) goto leave;
  NEXT();

mem_oob:
  rc = mem_oob_code();
trapped:
  ex->ticks = ticks;
  return trap(ex, inst, cur, pc, rc, rec, rec_base);
leave:
  ex->ticks = ticks;
  return rc;
done:
  ex->ticks = ticks;
  return CIS_OK;
}

cis_result cis__interp_run(cis__exec *ex, cis_instance *inst, const cis__ifunc *f, cis_slot *fp) {
  iact a = {.base = {.prev = ex->frames, .roots = interp_roots},
            .rec = (const cis__iret *)(void *)ex->stack_end,
            .rec_base = (const cis__iret *)(void *)ex->stack_end};
  ex->frames = &a.base;
  cis_result rc = run(ex, inst, f, fp, NULL);
  ex->frames = a.base.prev;
  return rc;
}

const void *const *cis__interp_handlers(void) {
  const void *const *t = NULL;
  run(NULL, NULL, NULL, NULL, &t);
  return t;
}
