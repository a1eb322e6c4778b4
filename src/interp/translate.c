/*
 * This file implements the interpreter's translator: it turns a function
 * body of a validated module into the internal code that execute.c runs
 * (format in ops.def, frames in interp.h), on the function's first call.
 * Preparing a module translates nothing (interp.h), so a function that
 * is never called is never translated; the first call of one, from any
 * thread and through any path (call, call_indirect, an export, the start
 * function, another instance), translates it here under the module's lock
 * and publishes the translation with a release store.
 *
 * The translator walks a body with a compile-time model of the wasm
 * operand stack. Each entry says where its value is: in the entry's own
 * frame slot (the slot of its stack position), still in a local (a
 * local.get not yet copied), a constant not yet written anywhere, or an
 * i32 "base + constant" not yet added (V_ADD). An instruction that
 * consumes entries names their slots directly, or carries a constant as an
 * immediate, so `local.get a; i32.const 1; i32.add` is one internal
 * instruction, and a load or store takes a V_ADD as base + displacement.
 * Deferred entries are written to their slots ("materialized") only when
 * something requires it: a local.set/tee of a local that an older deferred
 * entry still reads, a block boundary (every entry is materialized on
 * block/loop/if entry, so no deferred value crosses a label), a call
 * (arguments must sit in consecutive slots), or an operation without an
 * immediate form. Inside loops a constant operand is read from a constant
 * slot that the call fills on entry, instead of being written every
 * iteration.
 *
 * Further rewrites: a local.set/tee right after the instruction that
 * produced the value retargets that instruction's destination to the local
 * instead of copying (and a returned value to the result slot); an i32
 * compare (or eqz) right before br_if/if becomes one compare-and-branch;
 * two moves in a row become one; an operand that the previous instruction
 * just produced is read from the accumulator register (ops.def) unless a
 * label lies between them; i32.wrap_i64 and extensions of constants are
 * folded; reinterpretations cost nothing.
 *
 * Control flow: branch offsets are resolved here (forward ones patched at
 * the label), a branch that carries values copies them into the target's
 * slots first, and code after an unconditional branch is skipped up to the
 * end of its block.
 *
 * Exceptions: a function with try_table or a legacy try gets a handler
 * table after its code (interp.h): one entry per try, the code range of
 * its body, the entry to try next (the enclosing try's, or a delegate's
 * target) and its catch clauses, each with the code position to resume
 * at and the frame slots that receive the exception's values and its
 * exnref. A try_table's clauses resume at landing pads emitted before its
 * body, which branch to the clause's label as br does; a legacy catch
 * resumes at its block, which holds the exception in a hidden slot below
 * the values (for rethrow) while a rethrow targets it.
 *
 * SIMD: each 0xfd instruction is one internal op (simd.def), chosen by the
 * instruction's shape; v128 operands take two slots (interp.h), so a
 * stack entry records whether it holds a v128 and slot numbers are
 * computed from the entries below it. v128 values are never deferred as
 * constants: v128.const writes its slot at once.
 *
 * The module was validated, so the translator trusts its typing, but it
 * still checks every index and read it relies on itself and reports
 * CIS_EINVALID instead of reading out of bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "interp/interp.h"
#include "runtime/gc.h"
#include "wasm/simd.h"
#include "wasm/opcodes.h"

#define NONE ((size_t)-1)

/* The layouts of the op families that the translator computes with. */
_Static_assert(CIS__IOP_bi32_ne_ss - CIS__IOP_bi32_eq_ss == 8 &&
                   CIS__IOP_bi32_ge_u_back_ai - CIS__IOP_bi32_eq_ss == 8 * 10 - 1 &&
                   CIS__IOP_bi32_eq_back_ss - CIS__IOP_bi32_eq_ss == 4,
               "compare-and-branch ops: ss si as ai, then the back edges, per compare");
_Static_assert(CIS__IOP_bi64_ne_ss - CIS__IOP_bi64_eq_ss == 8 &&
                   CIS__IOP_bi64_eq_back_ss - CIS__IOP_bi64_eq_ss == 4 &&
                   CIS__IOP_i64_ne_ss - CIS__IOP_i64_eq_ss == 4,
               "i64 compare-and-branch: eq then ne, ss si as ai, back edges at +4");
_Static_assert(CIS__IOP_bl8_ne_s - CIS__IOP_bl8_eq_s == 4 && CIS__IOP_bl32_eq_s - CIS__IOP_bl8_eq_s == 40 &&
                   CIS__IOP_bl8_eq_s_fwd - CIS__IOP_bl8_eq_s == 2 &&
                   CIS__IOP_bl32_ge_u_i_fwd - CIS__IOP_bl8_eq_s == 79,
               "load-compare-branch ops: per width, per compare, _s then _i, then both forward");
_Static_assert(CIS__IOP_bx64_ne - CIS__IOP_bx64_eq == 1 && CIS__IOP_bx64_eq_fwd - CIS__IOP_bx64_eq == 2 &&
                   CIS__IOP_bx64_ne_fwd - CIS__IOP_bx64_eq == 3,
               "indexed i64 load-compare-branch ops: eq ne, then both forward");
_Static_assert(CIS__IOP_f64_add_ld_st_then_add_si - CIS__IOP_st8_then_add_ss == 13,
               "the store-then-add ops: contiguous, _ss then _si");
_Static_assert(CIS__IOP_i32_ge_u_ai - CIS__IOP_i32_eq_ss == 4 * 10 - 1,
               "i32 compares: ss si as ai per compare");
_Static_assert(CIS__IOP_i32_add_as - CIS__IOP_i32_add_ss == 2 &&
                   CIS__IOP_i64_add_ai - CIS__IOP_i64_add_si == 2,
               "binary ops: the accumulator forms follow at +2");
_Static_assert(CIS__IOP_ld8_u_a - CIS__IOP_ld8_u == 1 && CIS__IOP_ld8_u_add - CIS__IOP_ld8_u == 2 &&
                   CIS__IOP_ldf64_add_a - CIS__IOP_ldf64 == 3 &&
                   CIS__IOP_st8_v - CIS__IOP_st8 == 1 && CIS__IOP_st64_add_v - CIS__IOP_st64 == 3,
               "memory ops: plain, accumulator, base + imm, both");
_Static_assert(CIS__IOP_f64_add_as - CIS__IOP_f64_add == 1 &&
                   CIS__IOP_f64_div_sa - CIS__IOP_f64_div == 2,
               "f64 ops: plain, _as, _sa");
_Static_assert(CIS__IOP_i32_add_ld_add - CIS__IOP_i32_add_ld == 1 &&
                   CIS__IOP_i64_add_ld_add - CIS__IOP_i64_add_ld == 1,
               "integer adds on a load: _ld, then _ld_add");
_Static_assert(CIS__IOP_f64_add_ld_add - CIS__IOP_f64_add_ld == 1 &&
                   CIS__IOP_ldf64_add - CIS__IOP_ldf64 == 2,
               "f64 ops on a load: _ld, then _ld_add");

/* Offsets within a memory op family. */
enum { M_ACC = 1, M_ADD = 2 };
/* What an op leaves in an accumulator. */
enum { ACC_NONE = 0, ACC_I = 1, ACC_D = 2 };

/* ----------------------------------------------------------- structures */

enum { V_SLOT = 0, V_LOCAL = 1, V_CONST = 2, V_ADD = 3 };

/* One entry of the compile-time operand stack. */
typedef struct vent {
  uint8_t kind;   /* V_SLOT, V_LOCAL, V_CONST or V_ADD (i32 base + bits) */
  uint8_t wide;   /* 1 for a v128 (two slots; only V_SLOT or V_LOCAL), else 0 */
  uint8_t obj;    /* 1 for a reference of any's or extern's hierarchy (which
                     may be a GC object: the stack maps name its slot) */
  uint32_t local; /* V_LOCAL: the first slot of the local holding the value;
                     V_ADD: the base slot, a local's or the entry's own */
  uint32_t slot;  /* the entry's own slot (slot_of its position) */
  uint64_t bits;  /* V_CONST: the value (i32/f32 zero-extended); V_ADD: the
                     addend */
} vent;

enum { C_FUNC = 0, C_BLOCK = 1, C_LOOP = 2, C_IF = 3, C_TRY_TABLE = 4, C_TRY = 5, C_CATCH = 6 };

/* One open control construct. */
typedef struct ctl {
  uint8_t kind;        /* C_FUNC, C_BLOCK, C_LOOP, C_IF, C_TRY_TABLE, or the
                          legacy C_TRY (its body) and C_CATCH (its catches) */
  uint32_t hid;        /* C_TRY_TABLE, C_TRY, C_CATCH: its handler entry */
  uint32_t clause;     /* C_CATCH: the clause of the catch being translated */
  uint32_t height;     /* operand height below the construct's parameters */
  uint32_t nparams;    /* block type parameters */
  uint32_t nresults;   /* block type results */
  const uint8_t *ptypes, *rtypes; /* their value types (kinds) */
  const uint32_t *pvts, *rvts; /* the same in full, or NULL (then the kinds,
                                  or rone for a single result) */
  uint32_t rone;       /* a single result's full type, when rvts is NULL */
  size_t label;        /* C_LOOP: code position of the header */
  uint32_t fwd;        /* patch list: forward branch offsets to the end */
  uint32_t back;       /* C_LOOP: patch list of back-edge fuel costs */
  size_t else_site;    /* C_IF: offset of the jump taken when false, or NONE */
  uint64_t count0;     /* C_LOOP: instruction count at the header */
} ctl;

/* A decoded instruction with its immediates. */
typedef struct ins {
  uint32_t op;         /* enum cis__op (src/wasm/opcodes.h) */
  uint32_t a, b;       /* index immediates; memarg: a = align, b = offset
                          (its low 32 bits); memory.copy: a = destination
                          memory, b = source */
  uint64_t off;        /* memarg: the offset (64-bit memories' may pass 2^32) */
  uint32_t c;          /* memory index: memarg, memory.size/grow/fill/init */
  int64_t bt;          /* block type */
  uint64_t bits;       /* constants, zero-extended */
  const uint8_t *tab;  /* br_table: first label, re-read when translating;
                          try_table: first catch clause */
  uint32_t ntab;       /* br_table: labels before the default; try_table: clauses */
} ins;

/* A branch condition taken off the stack: a plain slot, or the operands of
 * a compare (or eqz) whose code was just withdrawn to be fused (K_CMP64:
 * an i64 eq or ne, or eqz as eq 0); or a reference slot that is null
 * (K_NULL) or not (K_NONNULL). */
typedef struct cond {
  int kind;            /* K_SLOT, K_CMP, K_EQZ, K_NULL, K_NONNULL, K_CMP64, K_LDCMP or K_LDX64 */
  uint32_t cmp;        /* K_CMP, K_CMP64, K_LDCMP: compare number (CMP_*) */
  bool imm;            /* K_CMP, K_CMP64, K_LDCMP: b is an immediate */
  uint32_t a, b;       /* operands (K_LDCMP: a is the load's destination) */
  uint64_t imm64;      /* K_CMP64: the immediate */
  bool w32;            /* K_LDCMP: a 32-bit load, else 8-bit unsigned */
  uint32_t base, disp, off; /* K_LDCMP: the load's address, base + disp, and offset;
                               K_LDX64: its index, imm and offset */
  uint32_t shift;      /* K_LDX64: the index's shift */
  bool step;           /* K_CMP: the instruction before the compare is an
                          st8_add_then_add_ss (b a slot) or an
                          f64_add_ld_st_then_add_si (b an immediate) whose
                          sum is a, at step_at (ending where the compare
                          started) */
  size_t step_at;
} cond;

/* K_LDCMP: an i32 compare whose first operand an i32 load just produced,
 * both withdrawn, to be one load-compare-branch (ops.def, OP_BRLD). */
/* K_LDX64: an i64 eq or ne with a slot whose other operand an i64 load at
 * a scaled index (ld64_xi) just produced, both withdrawn (ops.def,
 * bx64_eq ...). */
enum { K_SLOT = 0, K_CMP = 1, K_EQZ = 2, K_NULL = 3, K_NONNULL = 4, K_CMP64 = 5, K_LDCMP = 6, K_LDX64 = 7 };

/* A try's handler entry (interp.h, "Handlers"), while translating. */
typedef struct hentry {
  uint32_t start, end; /* code range of its body */
  uint32_t next;       /* entry tried next: the enclosing try's, a delegate's target, or UINT32_MAX */
} hentry;

/* A catch clause of entry `entry`. */
typedef struct hclause {
  uint32_t entry;      /* its try */
  uint32_t seq;        /* the order it was met in (its try's clauses keep it) */
  uint32_t tag;        /* tag index, or CIS__IHND_ALL */
  uint32_t pad;        /* code position to resume at */
  uint32_t vslot;      /* first frame slot of the values */
  uint32_t xslot;      /* frame slot of the exnref, or CIS__IHND_NONE */
} hclause;

/* The translator's state for one module. */
typedef struct tr {
  cis_module *mod;           /* module handle, for type ids */
  void *msg;                 /* handle that gets the error messages */
  const cis__module *m;      /* decoded module */
  const void *const *optab;  /* handler word of each internal op */
  const cis__ifunc *funcs;   /* the module's function descriptors (call's callee) */

  uint32_t *code;            /* code of the function being translated */
  size_t ncode, capcode;     /* units used and allocated */

  vent *vs;                  /* compile-time operand stack */
  uint32_t nvs, capvs;       /* entries used and allocated */
  uint32_t maxh;             /* highest operand height seen */
  uint32_t defer_lo;         /* no deferred entry below this position */
  ctl *cs;                   /* control stack */
  uint32_t ncs, capcs;       /* entries used and allocated */
  uint32_t *refcnt;          /* per local: deferred reads on the stack */
  uint32_t caprc;            /* allocated refcnt entries */

  size_t *ppos;              /* patch pool: code position of each site */
  uint32_t *pnext;           /* patch pool: next site of the same list */
  uint32_t npatch, cappatch; /* pool entries used (entry 0 unused) and allocated */

  uint32_t *stub_gen;        /* br_table: stamp per label depth */
  size_t *stub_at;           /* br_table: stub position per label depth */
  uint32_t capstub, gen;     /* allocated depths; current stamp */

  size_t low;                /* lowest code unit the wasm instruction being
                                translated rewrote (a fusion takes back
                                instructions before it), for the offset map */
  size_t last_start;         /* start of the last instruction, or NONE */
  size_t last_dest;          /* position of its destination operand, or NONE */
  int last_op;               /* its op number */
  size_t last_dest_any;      /* last_dest, kept when a local.set retargeted it */
  size_t prev_start;         /* the same for the instruction before it, NONE
                                when unknown (a label, a withdrawal) */
  size_t prev_dest;          /* its last_dest_any */
  int prev_op;
  uint8_t prod[CIS__IOP_COUNT]; /* per op: the accumulator it fills (ACC_*) */
  uint32_t acc_slot;         /* slot whose value the accumulator holds after
                                the last instruction, or UINT32_MAX */
  uint8_t acc_kind;          /* which accumulator (ACC_*) */
  uint32_t prev_acc_slot;    /* the same before the last instruction */
  uint8_t prev_acc_kind;     /* which accumulator that was */

  cis_slot *init;            /* initial slots of the function being translated */
  size_t ninit, capinit;     /* entries used and allocated */
  uint64_t *kval;            /* constant of each constant slot */
  uint32_t *khash;           /* constant slot + 1 by hash of the value; 0 = free */
  uint32_t kmax, kused;      /* constant slots reserved and used */
  uint32_t capk;             /* allocated kval entries (khash has twice as many) */
  uint32_t loops;            /* loops open at the current position */

  uint32_t func;             /* function index being translated */
  uint32_t nl;               /* its parameters plus declared locals */
  uint32_t nls;              /* the slots they take (a v128 takes two) */
  uint32_t *lslot;           /* per local: its first slot */
  uint8_t *lwide;            /* per local: 1 when a v128 */
  uint8_t *lobj;             /* per local: 1 when it may hold a GC object */
  uint32_t caplocal, caplwide, caplobj; /* allocated lslot, lwide and lobj entries */
  uint8_t *zero;             /* per local slot: 1 while it still holds the zero
                                it starts with (declared locals, up to the
                                first label and their first write) */
  uint32_t capzero;          /* allocated zero entries */
  bool zero_known;           /* no label bound yet: zero[] is valid */
  uint32_t nobj;             /* operand entries with obj set */
  const uint8_t *rtypes;     /* the function's result types */
  uint32_t sbase;            /* slot of operand-stack position 0 */
  uint64_t count;            /* wasm instructions translated in it */
  bool dead;                 /* the current position is unreachable */
  uint32_t dead_nest;        /* blocks opened inside unreachable code */
  const uint8_t *p, *end;    /* body reader */
  const uint8_t *body;       /* body start, for offsets in messages */

  uint32_t *omap;            /* code position, module offset: one pair per
                                instruction that can trap or call */
  uint32_t nomap, capomap;   /* pairs used and allocated */

  uint32_t *gsite;           /* stack map: per site (a call, or a GC instruction
                                that may collect) the code position just
                                after it and its first entry in gpool */
  uint32_t nsite, capsite;   /* sites, and allocated (in pairs) */
  uint32_t *gpool;           /* the operand slots that hold references at
                                the sites, site after site */
  uint32_t npool, cappool;   /* used and allocated */
  uint32_t nlobj;            /* locals with lobj set */
  uint64_t gwork;            /* operand entries looked at for the map so far */
  bool gover;                /* that passed its bound: the function gets a map
                                without sites (no collection while it runs) */

  hentry *hnd;               /* handler entries, in the order the tries open */
  uint32_t nhnd, caphnd;     /* used and allocated */
  hclause *hcl;              /* catch clauses, in the order they are met */
  uint32_t nhcl, caphcl;     /* used and allocated */
  vent *vsave;               /* operand entries saved around a landing pad */
  uint32_t capvsave;         /* allocated */
  uint32_t *hout;            /* the encoded handler table (interp.h) */
  uint32_t nhout, caphout;   /* its units, and allocated */
} tr;

/* ---------------------------------------------------------- the op tables */

/* i32 compares in ops.def order; each has an _ss and an _si form. */
enum { CMP_EQ, CMP_NE, CMP_LT_S, CMP_LT_U, CMP_GT_S, CMP_GT_U, CMP_LE_S, CMP_LE_U, CMP_GE_S,
       CMP_GE_U, NCMP };
/* The compare that is true exactly when the given one is false. */
static const uint8_t cmp_negate[NCMP] = {CMP_NE,   CMP_EQ,   CMP_GE_S, CMP_GE_U, CMP_LE_S,
                                         CMP_LE_U, CMP_GT_S, CMP_GT_U, CMP_LT_S, CMP_LT_U};
/* The compare with its operands swapped: a < b is b > a. */
static const uint8_t cmp_mirror[NCMP] = {CMP_EQ,   CMP_NE,   CMP_GT_S, CMP_GT_U, CMP_LT_S,
                                         CMP_LT_U, CMP_GE_S, CMP_GE_U, CMP_LE_S, CMP_LE_U};

/* How a numeric wasm opcode translates. */
typedef struct numop {
  uint8_t arity; /* 1 or 2; 0 when not a plain numeric opcode */
  int16_t ss;    /* op with slot operands */
  int16_t si;    /* op with an immediate second operand, or -1 (then there is
                    an accumulator form ss+1 (_as) and ss+2 (_sa) when f64) */
  int16_t swp;   /* op with the operands swapped and the first immediate, or -1 */
  bool wide;     /* immediates are 64-bit */
  bool f64acc;   /* an f64 op with _as and _sa forms */
} numop;

#define N1(c, n) [c] = {1, CIS__IOP_##n, -1, -1, false, false}
#define N2(c, n) [c] = {2, CIS__IOP_##n, -1, -1, false, false}
#define NF(c, n) [c] = {2, CIS__IOP_##n, -1, -1, false, true}
#define NI(c, n) [c] = {2, CIS__IOP_##n##_ss, CIS__IOP_##n##_si, -1, false, false}
#define NC(c, n) [c] = {2, CIS__IOP_##n##_ss, CIS__IOP_##n##_si, CIS__IOP_##n##_si, false, false}
#define NM(c, n, mir) [c] = {2, CIS__IOP_##n##_ss, CIS__IOP_##n##_si, CIS__IOP_##mir##_si, false, false}
#define LI(c, n) [c] = {2, CIS__IOP_##n##_ss, CIS__IOP_##n##_si, -1, true, false}
#define LC(c, n) [c] = {2, CIS__IOP_##n##_ss, CIS__IOP_##n##_si, CIS__IOP_##n##_si, true, false}
#define LM(c, n, mir) [c] = {2, CIS__IOP_##n##_ss, CIS__IOP_##n##_si, CIS__IOP_##mir##_si, true, false}

static const numop numops[CIS__OP_COUNT] = {
    N1(CIS__OP_I32_EQZ, i32_eqz),
    NC(CIS__OP_I32_EQ, i32_eq), NC(CIS__OP_I32_NE, i32_ne),
    NM(CIS__OP_I32_LT_S, i32_lt_s, i32_gt_s), NM(CIS__OP_I32_LT_U, i32_lt_u, i32_gt_u),
    NM(CIS__OP_I32_GT_S, i32_gt_s, i32_lt_s), NM(CIS__OP_I32_GT_U, i32_gt_u, i32_lt_u),
    NM(CIS__OP_I32_LE_S, i32_le_s, i32_ge_s), NM(CIS__OP_I32_LE_U, i32_le_u, i32_ge_u),
    NM(CIS__OP_I32_GE_S, i32_ge_s, i32_le_s), NM(CIS__OP_I32_GE_U, i32_ge_u, i32_le_u),
    N1(CIS__OP_I64_EQZ, i64_eqz),
    LC(CIS__OP_I64_EQ, i64_eq), LC(CIS__OP_I64_NE, i64_ne),
    LM(CIS__OP_I64_LT_S, i64_lt_s, i64_gt_s), LM(CIS__OP_I64_LT_U, i64_lt_u, i64_gt_u),
    LM(CIS__OP_I64_GT_S, i64_gt_s, i64_lt_s), LM(CIS__OP_I64_GT_U, i64_gt_u, i64_lt_u),
    LM(CIS__OP_I64_LE_S, i64_le_s, i64_ge_s), LM(CIS__OP_I64_LE_U, i64_le_u, i64_ge_u),
    LM(CIS__OP_I64_GE_S, i64_ge_s, i64_le_s), LM(CIS__OP_I64_GE_U, i64_ge_u, i64_le_u),
    N2(CIS__OP_F32_EQ, f32_eq), N2(CIS__OP_F32_NE, f32_ne), N2(CIS__OP_F32_LT, f32_lt), N2(CIS__OP_F32_GT, f32_gt), N2(CIS__OP_F32_LE, f32_le),
    N2(CIS__OP_F32_GE, f32_ge),
    N2(CIS__OP_F64_EQ, f64_eq), N2(CIS__OP_F64_NE, f64_ne), N2(CIS__OP_F64_LT, f64_lt), N2(CIS__OP_F64_GT, f64_gt), N2(CIS__OP_F64_LE, f64_le),
    N2(CIS__OP_F64_GE, f64_ge),
    N1(CIS__OP_I32_CLZ, i32_clz), N1(CIS__OP_I32_CTZ, i32_ctz), N1(CIS__OP_I32_POPCNT, i32_popcnt),
    NC(CIS__OP_I32_ADD, i32_add), NI(CIS__OP_I32_SUB, i32_sub), NC(CIS__OP_I32_MUL, i32_mul),
    NI(CIS__OP_I32_DIV_S, i32_div_s), NI(CIS__OP_I32_DIV_U, i32_div_u), NI(CIS__OP_I32_REM_S, i32_rem_s), NI(CIS__OP_I32_REM_U, i32_rem_u),
    NC(CIS__OP_I32_AND, i32_and), NC(CIS__OP_I32_OR, i32_or), NC(CIS__OP_I32_XOR, i32_xor),
    NI(CIS__OP_I32_SHL, i32_shl), NI(CIS__OP_I32_SHR_S, i32_shr_s), NI(CIS__OP_I32_SHR_U, i32_shr_u), NI(CIS__OP_I32_ROTL, i32_rotl),
    NI(CIS__OP_I32_ROTR, i32_rotr),
    N1(CIS__OP_I64_CLZ, i64_clz), N1(CIS__OP_I64_CTZ, i64_ctz), N1(CIS__OP_I64_POPCNT, i64_popcnt),
    LC(CIS__OP_I64_ADD, i64_add), LI(CIS__OP_I64_SUB, i64_sub), LC(CIS__OP_I64_MUL, i64_mul),
    LI(CIS__OP_I64_DIV_S, i64_div_s), LI(CIS__OP_I64_DIV_U, i64_div_u), LI(CIS__OP_I64_REM_S, i64_rem_s), LI(CIS__OP_I64_REM_U, i64_rem_u),
    LC(CIS__OP_I64_AND, i64_and), LC(CIS__OP_I64_OR, i64_or), LC(CIS__OP_I64_XOR, i64_xor),
    LI(CIS__OP_I64_SHL, i64_shl), LI(CIS__OP_I64_SHR_S, i64_shr_s), LI(CIS__OP_I64_SHR_U, i64_shr_u), LI(CIS__OP_I64_ROTL, i64_rotl),
    LI(CIS__OP_I64_ROTR, i64_rotr),
    N1(CIS__OP_F32_ABS, f32_abs), N1(CIS__OP_F32_NEG, f32_neg), N1(CIS__OP_F32_CEIL, f32_ceil), N1(CIS__OP_F32_FLOOR, f32_floor),
    N1(CIS__OP_F32_TRUNC, f32_trunc), N1(CIS__OP_F32_NEAREST, f32_nearest), N1(CIS__OP_F32_SQRT, f32_sqrt),
    N2(CIS__OP_F32_ADD, f32_add), N2(CIS__OP_F32_SUB, f32_sub), N2(CIS__OP_F32_MUL, f32_mul), N2(CIS__OP_F32_DIV, f32_div),
    N2(CIS__OP_F32_MIN, f32_min), N2(CIS__OP_F32_MAX, f32_max), N2(CIS__OP_F32_COPYSIGN, f32_copysign),
    N1(CIS__OP_F64_ABS, f64_abs), N1(CIS__OP_F64_NEG, f64_neg), N1(CIS__OP_F64_CEIL, f64_ceil), N1(CIS__OP_F64_FLOOR, f64_floor),
    N1(CIS__OP_F64_TRUNC, f64_trunc), N1(CIS__OP_F64_NEAREST, f64_nearest), N1(CIS__OP_F64_SQRT, f64_sqrt),
    NF(CIS__OP_F64_ADD, f64_add), NF(CIS__OP_F64_SUB, f64_sub), NF(CIS__OP_F64_MUL, f64_mul), NF(CIS__OP_F64_DIV, f64_div),
    N2(CIS__OP_F64_MIN, f64_min), N2(CIS__OP_F64_MAX, f64_max), N2(CIS__OP_F64_COPYSIGN, f64_copysign),
    N1(CIS__OP_I32_TRUNC_F32_S, i32_trunc_f32_s), N1(CIS__OP_I32_TRUNC_F32_U, i32_trunc_f32_u), N1(CIS__OP_I32_TRUNC_F64_S, i32_trunc_f64_s),
    N1(CIS__OP_I32_TRUNC_F64_U, i32_trunc_f64_u),
    N1(CIS__OP_I64_TRUNC_F32_S, i64_trunc_f32_s), N1(CIS__OP_I64_TRUNC_F32_U, i64_trunc_f32_u), N1(CIS__OP_I64_TRUNC_F64_S, i64_trunc_f64_s),
    N1(CIS__OP_I64_TRUNC_F64_U, i64_trunc_f64_u),
    N1(CIS__OP_F32_CONVERT_I32_S, f32_convert_i32_s), N1(CIS__OP_F32_CONVERT_I32_U, f32_convert_i32_u), N1(CIS__OP_F32_CONVERT_I64_S, f32_convert_i64_s),
    N1(CIS__OP_F32_CONVERT_I64_U, f32_convert_i64_u), N1(CIS__OP_F32_DEMOTE_F64, f32_demote_f64),
    N1(CIS__OP_F64_CONVERT_I32_S, f64_convert_i32_s), N1(CIS__OP_F64_CONVERT_I32_U, f64_convert_i32_u), N1(CIS__OP_F64_CONVERT_I64_S, f64_convert_i64_s),
    N1(CIS__OP_F64_CONVERT_I64_U, f64_convert_i64_u), N1(CIS__OP_F64_PROMOTE_F32, f64_promote_f32),
    N1(CIS__OP_I32_EXTEND8_S, i32_extend8_s), N1(CIS__OP_I32_EXTEND16_S, i32_extend16_s),
    N1(CIS__OP_I64_EXTEND8_S, i64_extend8_s), N1(CIS__OP_I64_EXTEND16_S, i64_extend16_s), N1(CIS__OP_I64_EXTEND32_S, i64_extend32_s),
};

/* The saturating truncations, I32_TRUNC_SAT_F32_S .. I64_TRUNC_SAT_F64_U. */
_Static_assert(CIS__OP_I64_TRUNC_SAT_F64_U - CIS__OP_I32_TRUNC_SAT_F32_S == 7,
               "the opcode table lists the saturating truncations in encoding order");
static const int16_t satops[8] = {
    CIS__IOP_i32_trunc_sat_f32_s, CIS__IOP_i32_trunc_sat_f32_u, CIS__IOP_i32_trunc_sat_f64_s,
    CIS__IOP_i32_trunc_sat_f64_u, CIS__IOP_i64_trunc_sat_f32_s, CIS__IOP_i64_trunc_sat_f32_u,
    CIS__IOP_i64_trunc_sat_f64_s, CIS__IOP_i64_trunc_sat_f64_u,
};

/* Loads and stores, I32_LOAD .. I64_STORE32 in table order (the plain op
 * of each family). */
_Static_assert(CIS__OP_I64_STORE32 - CIS__OP_I32_LOAD == 0x3e - 0x28 &&
                   CIS__OP_I64_LOAD32_U - CIS__OP_I32_LOAD == 0x35 - 0x28,
               "the opcode table lists loads then stores in encoding order");
static const int16_t memops[CIS__OP_I64_STORE32 - CIS__OP_I32_LOAD + 1] = {
    CIS__IOP_ld32_u,   CIS__IOP_ld64,     CIS__IOP_ld32_u,   CIS__IOP_ldf64,    /* i32 i64 f32 f64 */
    CIS__IOP_ld8_s32,  CIS__IOP_ld8_u,    CIS__IOP_ld16_s32, CIS__IOP_ld16_u,   /* i32 narrow */
    CIS__IOP_ld8_s64,  CIS__IOP_ld8_u,    CIS__IOP_ld16_s64, CIS__IOP_ld16_u,   /* i64 narrow */
    CIS__IOP_ld32_s64, CIS__IOP_ld32_u,
    CIS__IOP_st32,     CIS__IOP_st64,     CIS__IOP_st32,     CIS__IOP_st64,     /* i32 i64 f32 f64 */
    CIS__IOP_st8,      CIS__IOP_st16,     CIS__IOP_st8,      CIS__IOP_st16,     CIS__IOP_st32,
};

/* The SIMD instructions (simd.def): op and operand shape per 0xfd code. */
enum {
  SH_NONE, SH_V, SH_VV, SH_VVV, SH_VS, SH_VT, SH_SPL, SH_EXT, SH_REP,
  SH_LD1, SH_LD2, SH_LD4, SH_LD8, SH_LD16, SH_ST,
  SH_LDL1, SH_LDL2, SH_LDL4, SH_LDL8, SH_STL1, SH_STL2, SH_STL4, SH_STL8,
  SH_CONST, SH_SHUF,
};
typedef struct simdop {
  int16_t iop;   /* internal op */
  uint8_t shape; /* SH_*; SH_NONE where no instruction has the code */
  uint8_t lanes; /* lane count of a lane-indexed instruction */
} simdop;
static const simdop simdops[CIS__OP_COUNT] = {
#define SIMD(id, name, shape, lanes) [CIS__OP_##id] = {CIS__IOP_##name, SH_##shape, lanes},
#include "wasm/simd.def"
#undef SIMD
};

/* Whether the CPU has SSSE3 (pshufb), for shuffle and swizzle: asked once. */
static bool cpu_ssse3(void) {
#if CIS_SIMD_SSSE3
  static atomic_int known; /* 0 unknown, 1 no, 2 yes */
  int k = atomic_load_explicit(&known, memory_order_relaxed);
  if (!k) {
    __builtin_cpu_init();
    k = __builtin_cpu_supports("ssse3") ? 2 : 1;
    atomic_store_explicit(&known, k, memory_order_relaxed);
  }
  return k == 2;
#else
  return false;
#endif
}

/* ------------------------------------------------------------- helpers */

/* Slots that n values of the given types take (a v128 takes two). */
static uint32_t type_slots(const uint8_t *types, uint32_t n) {
  uint32_t s = n;
  for (uint32_t i = 0; i < n; i++) s += types[i] == CIS__V128;
  return s;
}

static cis_result bad(tr *t, const char *what) {
  size_t off = t->p && t->body ? (size_t)(t->p - t->body) : 0;
  return cis__fail(t->msg, CIS_EINVALID, "function %u: %s (body offset 0x%zx)", t->func, what,
                   off);
}

static cis_result oom(tr *t) {
  return cis__fail(t->msg, CIS_ENOMEM, "out of memory translating function %u", t->func);
}

/* Grows an array to hold at least `need` elements. */
static bool grow(void **arr, uint32_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return true;
  size_t ncap = *cap ? (size_t)*cap * 2 : 16;
  while (ncap < need) ncap *= 2;
  if (ncap > UINT32_MAX) {
    if (need > UINT32_MAX) return false;
    ncap = UINT32_MAX;
  }
  void *n = realloc(*arr, ncap * elem);
  if (!n) return false;
  *arr = n;
  *cap = (uint32_t)ncap;
  return true;
}

/* Makes room for n more code units. Every instruction reserves its worst
 * case first, so the emitters below never fail. */
static cis_result reserve(tr *t, size_t n) {
  if (t->ncode + n <= t->capcode) return CIS_OK;
  size_t ncap = t->capcode ? t->capcode * 2 : 4096;
  while (ncap < t->ncode + n) ncap *= 2;
  uint32_t *c = realloc(t->code, ncap * sizeof *c);
  if (!c) return oom(t);
  t->code = c;
  t->capcode = ncap;
  return CIS_OK;
}

/* Makes room for n more operand-stack entries. */
static cis_result reserve_vs(tr *t, size_t n) {
  if (!grow((void **)&t->vs, &t->capvs, (size_t)t->nvs + n, sizeof *t->vs)) return oom(t);
  return CIS_OK;
}

/* The slot of operand-stack position pos (pos <= nvs): each entry below
 * takes one slot, or two for a v128 (interp.h). */
static inline uint32_t slot_of(const tr *t, uint32_t pos) {
  if (pos == 0) return t->sbase;
  const vent *e = &t->vs[pos - 1];
  return e->slot + 1 + e->wide;
}

/* The local an entry reads, or UINT32_MAX: deferred reads of a local
 * are counted so that a write to it can find them. */
static inline uint32_t reads_local(const tr *t, const vent *e) {
  if (e->kind == V_LOCAL || (e->kind == V_ADD && e->local < t->nls)) return e->local;
  return UINT32_MAX;
}

static inline void put(tr *t, uint32_t u) { t->code[t->ncode++] = u; }

static inline void put64(tr *t, uint64_t v) {
  put(t, (uint32_t)v);
  put(t, (uint32_t)(v >> 32));
}

/* Writes op id's handler word at code position at. */
static void put_head(tr *t, size_t at, int id) {
  uint64_t w = (uint64_t)(uintptr_t)t->optab[id];
  t->code[at] = (uint32_t)w;
  t->code[at + 1] = (uint32_t)(w >> 32);
}

static inline bool is_add_si(int id) { return id == CIS__IOP_i32_add_si || id == CIS__IOP_i32_add_ai; }

/* Joins the last two instructions when both are i32.adds of constants
 * (the _si or _ai form, which keeps its operand's slot), nothing between
 * nor after them: one i32_add2_si, the second's units moved up over its
 * handler word. Done as the next instruction starts, so that the fusions
 * that take a single add (a move of its sum, a mask, a store's step)
 * still see it until then. */
static void join_adds(tr *t) {
  /* (not where a try's code range may already end after them) */
  if (!is_add_si(t->last_op) || !is_add_si(t->prev_op) || t->prev_start == NONE || t->last_start == NONE ||
      t->last_start != t->prev_start + CIS__IHEAD + 3 || t->ncode != t->last_start + CIS__IHEAD + 3 || t->nhnd)
    return;
  uint32_t *u = &t->code[t->last_start];
  memmove(u, u + CIS__IHEAD, 3 * sizeof *u);
  t->ncode -= CIS__IHEAD;
  if (t->ncode < t->low) t->low = t->ncode; /* the next instruction starts here */
  put_head(t, t->prev_start, CIS__IOP_i32_add2_si);
  t->last_start = t->prev_start;
  if (t->last_dest != NONE) t->last_dest = t->last_start + CIS__IHEAD + 3;
  t->last_dest_any = t->last_start + CIS__IHEAD + 3;
  t->last_op = CIS__IOP_i32_add2_si;
  t->prev_start = t->prev_dest = NONE;
  t->prev_op = -1;
}

/* Starts an instruction without a destination. */
static void op(tr *t, int id) {
  join_adds(t);
  t->prev_start = t->last_start;
  t->prev_dest = t->last_dest_any;
  t->prev_op = t->last_op;
  t->last_start = t->ncode;
  t->last_dest = t->last_dest_any = NONE;
  t->last_op = id;
  t->prev_acc_slot = t->acc_slot;
  t->prev_acc_kind = t->acc_kind;
  t->acc_slot = UINT32_MAX;
  t->acc_kind = ACC_NONE;
  put_head(t, t->ncode, id);
  t->ncode += CIS__IHEAD;
}

/* Starts an instruction whose destination d is its first operand. */
static void op_d(tr *t, int id, uint32_t d) {
  op(t, id);
  t->last_dest = t->last_dest_any = t->ncode;
  if (t->prod[id]) {
    t->acc_slot = d;
    t->acc_kind = t->prod[id];
  }
  put(t, d);
}

/* True when the value of slot s is in accumulator kind right now. */
static inline bool in_acc(const tr *t, uint32_t s, uint8_t kind) {
  return t->acc_kind == kind && t->acc_slot == s;
}

/* Fills the table of what each op leaves in an accumulator; it must agree
 * with the OUT_* uses in execute.c. */
static void init_prod(uint8_t *prod) {
  memset(prod, ACC_NONE, CIS__IOP_COUNT);
#define OP(name, fmt)
#define OP_BIN(n) \
  prod[CIS__IOP_##n##_ss] = prod[CIS__IOP_##n##_si] = prod[CIS__IOP_##n##_as] = \
      prod[CIS__IOP_##n##_ai] = ACC_I;
#define OP_BIN64(n) OP_BIN(n)
#define OP_FBIN(n) prod[CIS__IOP_##n] = prod[CIS__IOP_##n##_as] = prod[CIS__IOP_##n##_sa] = ACC_D;
#define OP_FLD(n) prod[CIS__IOP_##n##_ld] = prod[CIS__IOP_##n##_ld_add] = ACC_D;
#define OP_LOAD(n) \
  prod[CIS__IOP_##n] = prod[CIS__IOP_##n##_a] = prod[CIS__IOP_##n##_add] = \
      prod[CIS__IOP_##n##_add_a] = ACC_I;
#define OP_LDX(n) prod[CIS__IOP_##n##_x] = prod[CIS__IOP_##n##_xi] = ACC_I;
#define OP_ILD(n) prod[CIS__IOP_##n##_ld] = prod[CIS__IOP_##n##_ld_add] = ACC_I;
#define OP_STORE(n)
#define OP_BRCMP(n)
#define OP_BRCMP64(n)
#include "interp/ops.def"
#undef OP
#undef OP_BIN
#undef OP_BIN64
#undef OP_FBIN
#undef OP_FLD
#undef OP_LOAD
#undef OP_LDX
#undef OP_ILD
#undef OP_STORE
#undef OP_BRCMP
#undef OP_BRCMP64
  for (int k = 0; k < 4; k++) prod[CIS__IOP_ldf64 + k] = ACC_D;
  prod[CIS__IOP_ldf64_x] = prod[CIS__IOP_ldf64_xi] = ACC_D;
  static const int16_t ints[] = {
      CIS__IOP_global_get, CIS__IOP_i32_shl_add, CIS__IOP_i32_add_ld_x, CIS__IOP_i32_add_and, CIS__IOP_i32_eqz, CIS__IOP_i32_clz, CIS__IOP_i32_ctz,
      CIS__IOP_i32_popcnt, CIS__IOP_i32_extend8_s, CIS__IOP_i32_extend16_s, CIS__IOP_i64_eqz,
      CIS__IOP_i64_clz, CIS__IOP_i64_ctz, CIS__IOP_i64_popcnt, CIS__IOP_i64_extend8_s,
      CIS__IOP_i64_extend16_s, CIS__IOP_i64_extend32_s, CIS__IOP_i64_extend_i32_u,
      CIS__IOP_f32_eq, CIS__IOP_f32_ne, CIS__IOP_f32_lt, CIS__IOP_f32_gt, CIS__IOP_f32_le,
      CIS__IOP_f32_ge, CIS__IOP_f64_eq, CIS__IOP_f64_ne, CIS__IOP_f64_lt, CIS__IOP_f64_gt,
      CIS__IOP_f64_le, CIS__IOP_f64_ge,
  };
  static const int16_t f64s[] = {
      CIS__IOP_f64_sqrt, CIS__IOP_f64_min, CIS__IOP_f64_max, CIS__IOP_f64_convert_i32_s,
      CIS__IOP_f64_convert_i32_u, CIS__IOP_f64_convert_i64_s, CIS__IOP_f64_convert_i64_u,
      CIS__IOP_f64_promote_f32,
  };
  for (size_t i = 0; i < CIS_ARRAY_LEN(ints); i++) prod[ints[i]] = ACC_I;
  for (int k = 0; k < 6; k++) prod[CIS__IOP_i32_shl_xor + k] = prod[CIS__IOP_i64_shl_xor + k] = ACC_I;
  prod[CIS__IOP_i32_add_eqz] = prod[CIS__IOP_i64_add_eqz] = ACC_I;
  prod[CIS__IOP_i32_add_si_mov] = prod[CIS__IOP_i64_add_si_mov] = prod[CIS__IOP_i32_add2_si] = ACC_I;
  prod[CIS__IOP_i64_mul_shr_u] = ACC_I;
  for (size_t i = 0; i < CIS_ARRAY_LEN(f64s); i++) prod[f64s[i]] = ACC_D;
}

/* d = s; a move right after another move joins it as mov2, and one of
 * the sum that an i32.add (i64.add) of a constant just wrote joins the
 * add as i32_add_si_mov (i64_add_si_mov), the sum then in both slots. */
static void emit_mov(tr *t, uint32_t d, uint32_t s) {
  int lo = t->last_op;
  bool w = lo == CIS__IOP_i64_add_si || lo == CIS__IOP_i64_add_ai;
  if ((w || lo == CIS__IOP_i32_add_si || lo == CIS__IOP_i32_add_ai) && t->last_start != NONE &&
      t->last_start + CIS__IHEAD + (w ? 4 : 3) == t->ncode && t->code[t->last_start + CIS__IHEAD] == s && d != s) {
    put_head(t, t->last_start, w ? CIS__IOP_i64_add_si_mov : CIS__IOP_i32_add_si_mov);
    t->last_op = w ? CIS__IOP_i64_add_si_mov : CIS__IOP_i32_add_si_mov;
    t->last_dest = t->last_dest_any = t->ncode;
    t->acc_slot = d;
    t->acc_kind = ACC_I;
    put(t, d);
    return;
  }
  if (t->last_op == CIS__IOP_mov && t->last_start + CIS__IHEAD + 2 == t->ncode) {
    put_head(t, t->last_start, CIS__IOP_mov2);
    t->last_op = CIS__IOP_mov2;
    t->last_dest = t->last_dest_any = t->ncode;
    put(t, d);
    put(t, s);
    return;
  }
  op_d(t, CIS__IOP_mov, d);
  put(t, s);
}

/* The stores that take the i32.add right after them: the store, its
 * "_then_add_ss" op (ops.def; _si follows it). */
static const int16_t store_adds[][2] = {
    {CIS__IOP_st8, CIS__IOP_st8_then_add_ss},
    {CIS__IOP_st8_add, CIS__IOP_st8_add_then_add_ss},
    {CIS__IOP_st32, CIS__IOP_st32_then_add_ss},
    {CIS__IOP_st32_add_v, CIS__IOP_st32_add_v_then_add_ss},
    {CIS__IOP_st64_add, CIS__IOP_st64_add_then_add_ss},
    {CIS__IOP_stf64_v, CIS__IOP_stf64_v_then_add_ss},
    {CIS__IOP_f64_add_ld_st, CIS__IOP_f64_add_ld_st_then_add_ss},
};
static bool fuse_store_add(tr *t, uint32_t sa, uint32_t b, bool imm, uint32_t d);

/* Takes the add back out of the last instruction, a "_then_add" op: the
 * store alone again, the accumulators as the store left them. */
static void unfuse_store_add(tr *t) {
  size_t i = 0;
  while (store_adds[i][1] != t->last_op && store_adds[i][1] + 1 != t->last_op) i++;
  put_head(t, t->last_start, store_adds[i][0]);
  t->last_op = store_adds[i][0];
  t->ncode = t->last_dest;
  if (t->ncode < t->low) t->low = t->ncode;
  t->last_dest = t->last_dest_any = NONE;
  t->acc_slot = UINT32_MAX;
  t->acc_kind = ACC_NONE;
}

/* d = base + imm (i32). */
static void emit_add(tr *t, uint32_t d, uint32_t base, uint32_t imm) {
  if (imm == 0) {
    if (d != base) emit_mov(t, d, base);
    return;
  }
  if (fuse_store_add(t, base, imm, true, d)) return;
  op_d(t, in_acc(t, base, ACC_I) ? CIS__IOP_i32_add_ai : CIS__IOP_i32_add_si, d);
  put(t, base);
  put(t, imm);
}

/* Forgets the last instruction: a label was bound after it, so it can no
 * longer be rewritten, and the accumulators are unknown there. */
static void barrier(tr *t) {
  t->zero_known = false; /* a label may be reached with any local values */
  t->prev_start = t->prev_dest = NONE;
  t->prev_op = -1;
  t->last_start = NONE;
  t->last_dest = t->last_dest_any = NONE;
  t->last_op = -1;
  t->acc_slot = t->prev_acc_slot = UINT32_MAX;
  t->acc_kind = t->prev_acc_kind = ACC_NONE;
}

/* Takes back the last instruction (its code is gone); the accumulators are
 * again what the one before left. */
static void withdraw(tr *t) {
  t->ncode = t->last_start;
  if (t->ncode < t->low) t->low = t->ncode;
  t->prev_start = t->prev_dest = NONE;
  t->prev_op = -1;
  t->last_start = NONE;
  t->last_dest = t->last_dest_any = NONE;
  t->last_op = -1;
  t->acc_slot = t->prev_acc_slot;
  t->acc_kind = t->prev_acc_kind;
  t->prev_acc_slot = UINT32_MAX;
  t->prev_acc_kind = ACC_NONE;
}

static void emit_const(tr *t, uint32_t d, uint64_t bits) {
  if (bits <= UINT32_MAX) {
    op_d(t, CIS__IOP_const32, d);
    put(t, (uint32_t)bits);
  } else {
    op_d(t, CIS__IOP_const64, d);
    put64(t, bits);
  }
}

/* Adds a code position to a patch list. */
static cis_result patch_add(tr *t, uint32_t *list, size_t pos) {
  if (t->npatch == 0) t->npatch = 1; /* entry 0 ends lists */
  uint32_t cap = t->cappatch;
  if (!grow((void **)&t->ppos, &cap, (size_t)t->npatch + 1, sizeof *t->ppos)) return oom(t);
  uint32_t cap2 = t->cappatch;
  if (!grow((void **)&t->pnext, &cap2, (size_t)t->npatch + 1, sizeof *t->pnext)) return oom(t);
  t->cappatch = cap < cap2 ? cap : cap2;
  t->ppos[t->npatch] = pos;
  t->pnext[t->npatch] = *list;
  *list = t->npatch++;
  return CIS_OK;
}

/* Points the branch offset at `site` to the current position. */
static cis_result bind(tr *t, size_t site) {
  size_t d = t->ncode - site;
  if (d > INT32_MAX)
    return cis__fail(t->msg, CIS_ETOOBIG, "function %u: code too large to translate", t->func);
  t->code[site] = (uint32_t)d;
  return CIS_OK;
}

static cis_result bind_list(tr *t, uint32_t list) {
  for (uint32_t i = list; i; i = t->pnext[i]) {
    cis_result rc = bind(t, t->ppos[i]);
    if (rc != CIS_OK) return rc;
  }
  return CIS_OK;
}

/* -------------------------------------------------- the operand stack */

static void push_entry(tr *t, vent e) {
  uint32_t p = t->nvs;
  e.slot = slot_of(t, p);
  t->vs[t->nvs++] = e;
  uint32_t top = e.slot + 1 + e.wide - t->sbase;
  if (top > t->maxh) t->maxh = top;
  uint32_t l = reads_local(t, &e);
  if (l != UINT32_MAX) t->refcnt[l]++;
  if (e.kind != V_SLOT && p < t->defer_lo) t->defer_lo = p;
  t->nobj += e.obj;
}

/* Pushes a value that an instruction writes into its slot; returns the slot. */
static uint32_t push_slot(tr *t) {
  vent e = {.kind = V_SLOT};
  push_entry(t, e);
  return slot_of(t, t->nvs - 1);
}

/* The same for a value of type vt (full, or its kind when that says
 * all): a v128 takes two slots; a reference that may be a GC object is
 * marked for the stack maps. */
static uint32_t push_typed(tr *t, uint32_t vt) {
  vent e = {.kind = V_SLOT, .wide = vt == CIS__V128, .obj = cis__gc_vt_obj(t->m, vt)};
  push_entry(t, e);
  return slot_of(t, t->nvs - 1);
}

/* Full type i of a list of value types: vts[i], or the kind types[i] when
 * vts is NULL (every type its kind). */
static inline uint32_t vt_at(const uint8_t *types, const uint32_t *vts, uint32_t i) {
  return vts ? vts[i] : types[i];
}

static void push_const(tr *t, uint64_t bits) {
  vent e = {.kind = V_CONST, .bits = bits};
  push_entry(t, e);
}

static inline void pop(tr *t, uint32_t n) {
  while (n-- && t->nvs) {
    vent *e = &t->vs[--t->nvs];
    uint32_t l = reads_local(t, e);
    if (l != UINT32_MAX) t->refcnt[l]--;
    t->nobj -= e->obj;
  }
  if (t->defer_lo > t->nvs) t->defer_lo = t->nvs;
}

/* Writes entry p into slot d (its value, wherever it is now). */
static void emit_value(tr *t, uint32_t d, const vent *e, uint32_t p) {
  if (e->wide) { /* a v128: in a local or its slot */
    uint32_t s = e->kind == V_LOCAL ? e->local : slot_of(t, p);
    if (s != d) {
      op_d(t, CIS__IOP_mov128, d);
      put(t, s);
    }
    return;
  }
  switch (e->kind) {
  case V_LOCAL:
    if (e->local != d) emit_mov(t, d, e->local);
    break;
  case V_CONST:
    emit_const(t, d, e->bits);
    break;
  case V_ADD:
    emit_add(t, d, e->local, (uint32_t)e->bits);
    break;
  default:
    if (slot_of(t, p) != d) emit_mov(t, d, slot_of(t, p));
    break;
  }
}

/* Writes entry p into its own slot. */
static void materialize(tr *t, uint32_t p) {
  vent *e = &t->vs[p];
  if (e->kind == V_SLOT) return;
  uint32_t l = reads_local(t, e);
  emit_value(t, slot_of(t, p), e, p);
  if (l != UINT32_MAX) t->refcnt[l]--;
  e->kind = V_SLOT;
}

/* The constant slot holding bits, allocating it on first use; UINT32_MAX
 * when all reserved slots are taken. */
static uint32_t const_slot(tr *t, uint64_t bits) {
  if (!t->kmax) return UINT32_MAX;
  uint32_t mask = 2 * t->kmax - 1; /* khash has 2*kmax entries, a power of two */
  uint64_t h = bits * 0x9E3779B97F4A7C15ull;
  for (uint32_t i = (uint32_t)(h >> 40) & mask;; i = (i + 1) & mask) {
    uint32_t k = t->khash[i];
    if (k == 0) {
      if (t->kused == t->kmax) return UINT32_MAX;
      t->kval[t->kused] = bits;
      t->khash[i] = ++t->kused;
      return t->nls + t->kused - 1;
    }
    if (t->kval[k - 1] == bits) return t->nls + k - 1;
  }
}

/* Materializes every entry: done on entering a block, so that no deferred
 * read crosses a label. */
static void materialize_all(tr *t) {
  for (uint32_t p = t->defer_lo; p < t->nvs; p++) materialize(t, p);
  t->defer_lo = t->nvs;
}

/* The slot to read entry p from. Inside a loop a constant is read from its
 * constant slot; elsewhere, and for a deferred add, the value is
 * materialized. */
static uint32_t use(tr *t, uint32_t p) {
  vent *e = &t->vs[p];
  if (e->kind == V_CONST && t->loops) {
    uint32_t k = const_slot(t, e->bits);
    if (k != UINT32_MAX) return k;
  }
  if (e->kind == V_CONST || e->kind == V_ADD) materialize(t, p);
  return e->kind == V_LOCAL ? e->local : slot_of(t, p);
}

/* Code units the worst-case materialization of n entries needs. */
static size_t mat_units(uint32_t n) { return (size_t)n * (CIS__IHEAD + 3); }

/* ----------------------------------------------------------- stack maps */

/* Operand entries the map of one function may look at beyond four per
 * unit of its code (map_site). */
#define GC_MAP_WORK (1u << 20)

/* Records a stack map site here, just after an instruction that can lead
 * to a collection while this frame lives (a call, a GC instruction that
 * allocates): the operand slots below position `below` (the call's
 * arguments, the instruction's operands) that hold a reference of any's
 * or extern's hierarchy. Only entries in their own slots count: a
 * deferred one's value is a local's (mapped all its life) or a constant
 * (null). Every site is recorded, so that a frame stopped anywhere else
 * is known to be unmapped; the operands are looked at only while some
 * entry may hold an object (t->nobj), which code without GC never has. */
static cis_result map_site(tr *t, uint32_t below) {
  if (t->ncode > UINT32_MAX)
    return cis__fail(t->msg, CIS_ETOOBIG, "function %u: code too large to translate", t->func);
  if (!grow((void **)&t->gsite, &t->capsite, 2 * ((size_t)t->nsite + 1), sizeof *t->gsite)) return oom(t);
  t->gsite[2 * t->nsite] = (uint32_t)t->ncode;
  t->gsite[2 * t->nsite + 1] = t->npool;
  t->nsite++;
  if (!t->nobj || t->gover) return CIS_OK;
  /* deep stacks under many calls would make the map (and its making)
   * quadratic in the body: past a bound linear in the code, the function
   * gives up its sites */
  t->gwork += below;
  if (t->gwork > GC_MAP_WORK + 4 * (uint64_t)t->ncode) {
    t->gover = true;
    return CIS_OK;
  }
  for (uint32_t p = 0; p < below; p++) {
    const vent *e = &t->vs[p];
    if (!e->obj || e->kind != V_SLOT) continue;
    if (!grow((void **)&t->gpool, &t->cappool, (size_t)t->npool + 1, sizeof *t->gpool)) return oom(t);
    t->gpool[t->npool++] = e->slot;
  }
  return CIS_OK;
}

/* -------------------------------------------------------- value moves */

/* Frame slot entry p is read from, or NONE when it is computed. */
static size_t src_slot(const tr *t, uint32_t p) {
  const vent *e = &t->vs[p];
  if (e->kind == V_LOCAL) return e->local;
  if (e->kind == V_SLOT) return slot_of(t, p);
  if (e->kind == V_ADD) return e->local;
  return NONE;
}

/* Before copying the top n entries to slots dst.., materializes deferred
 * locals that an earlier copy would overwrite (only a return, whose
 * targets are the first slots of the frame, can have such a clash). */
static void prepare_moves(tr *t, uint32_t dst, uint32_t n) {
  uint32_t base = t->nvs - n;
  size_t written = dst; /* the copies before entry k write [dst, written) */
  for (uint32_t k = 0; k < n; k++) {
    const vent *e = &t->vs[base + k];
    size_t s = src_slot(t, base + k);
    if (e->kind != V_SLOT && s != NONE && s + e->wide >= dst && s < written) {
      for (uint32_t j = 0; j < n; j++) materialize(t, base + j);
      return;
    }
    written += 1 + e->wide;
  }
}

/* Copies the top n entries to slots dst .. dst+n-1, lowest first; the
 * entries stay as they are (a conditional branch falls through with
 * them). Sources sit at or above their targets, so ascending order never
 * overwrites a value still to be copied. */
static void emit_moves(tr *t, uint32_t dst, uint32_t n) {
  uint32_t base = t->nvs - n;
  for (uint32_t k = 0; k < n; k++) {
    emit_value(t, dst, &t->vs[base + k], base + k);
    dst += 1 + t->vs[base + k].wide;
  }
}

/* True when the top n entries already sit in consecutive slots from dst. */
static bool in_place(const tr *t, uint32_t dst, uint32_t n) {
  uint32_t base = t->nvs - n;
  for (uint32_t k = 0; k < n; k++) {
    if (t->vs[base + k].kind != V_SLOT || slot_of(t, base + k) != dst) return false;
    dst += 1 + t->vs[base + k].wide;
  }
  return true;
}

/* ------------------------------------------------------------ branches */

static uint32_t label_arity(const ctl *c) {
  return c->kind == C_LOOP ? c->nparams : c->nresults;
}

/* Puts the offset unit (and for a loop the cost unit) of a branch to c
 * and registers it for patching. */
static cis_result put_target(tr *t, ctl *c) {
  if (c->kind == C_LOOP) {
    size_t back = t->ncode - c->label;
    if (back > INT32_MAX)
      return cis__fail(t->msg, CIS_ETOOBIG, "function %u: code too large to translate", t->func);
    put(t, (uint32_t)-(int32_t)back);
    cis_result rc = patch_add(t, &c->back, t->ncode);
    put(t, 0);
    return rc;
  }
  cis_result rc = patch_add(t, &c->fwd, t->ncode);
  put(t, 0);
  return rc;
}

/* Copies the function's results to the frame's first slots and returns.
 * A single result that the last instruction just computed is written
 * there directly: nothing runs between it and the return. */
static void emit_return(tr *t) {
  uint32_t n = t->cs[0].nresults;
  if (n == 1 && t->vs[t->nvs - 1].kind == V_SLOT && t->last_dest != NONE &&
      t->code[t->last_dest] == slot_of(t, t->nvs - 1)) {
    t->code[t->last_dest] = 0;
  } else {
    prepare_moves(t, 0, n);
    emit_moves(t, 0, n);
  }
  op(t, CIS__IOP_return);
}

/* An unconditional branch to c, values included. */
static cis_result emit_br(tr *t, ctl *c) {
  if (c->kind == C_FUNC) {
    emit_return(t);
    return CIS_OK;
  }
  uint32_t n = label_arity(c);
  emit_moves(t, slot_of(t, c->height), n);
  op(t, c->kind == C_LOOP ? CIS__IOP_br_back : CIS__IOP_br);
  return put_target(t, c);
}

/* Takes the last two instructions back (a load and its consumer, fused
 * by the caller); the accumulators are unknown until the fused op sets
 * them. */
static void take_back_pair(tr *t) {
  t->ncode = t->prev_start;
  if (t->ncode < t->low) t->low = t->ncode;
  t->last_start = t->last_dest = t->last_dest_any = t->prev_start = t->prev_dest = NONE;
  t->last_op = t->prev_op = -1;
  t->acc_slot = t->prev_acc_slot = UINT32_MAX;
  t->acc_kind = t->prev_acc_kind = ACC_NONE;
}

/* With c a compare (K_CMP) that the last instruction computed: when the
 * instruction before it is an i32.load or i32.load8_u whose destination
 * (a stack slot, or a local a local.tee retargeted it to) is one of the
 * compare's operands, takes both back and makes c a K_LDCMP, the load's
 * value as a (the compare mirrored when it was b). The load's operands
 * were written before it and nothing between, so the fused op reads them
 * as the load would, and it writes the destination as the load did. Code
 * that the caller emits before the branch (block values written to their
 * slots) reads no local the load writes: deferred reads of it on the
 * stack keep the load where it was. */
static bool take_load(tr *t, cond *c) {
  int lo = t->prev_op;
  bool w32;
  if (lo >= CIS__IOP_ld32_u && lo <= CIS__IOP_ld32_u_add_a) w32 = true;
  else if (lo >= CIS__IOP_ld8_u && lo <= CIS__IOP_ld8_u_add_a) w32 = false;
  else return false;
  if (t->prev_dest == NONE || t->prev_start == NONE) return false;
  uint32_t d = t->code[t->prev_dest];
  if (d < t->nls && t->refcnt[d]) return false;
  if (c->a == d && (c->imm || c->b != d)) {
    /* a is the load */
  } else if (!c->imm && c->b == d && c->a != d) {
    c->b = c->a;
    c->a = d;
    c->cmp = cmp_mirror[c->cmp];
  } else {
    return false;
  }
  const uint32_t *u = &t->code[t->prev_dest + 1];
  bool add = (lo - (w32 ? CIS__IOP_ld32_u : CIS__IOP_ld8_u)) >= M_ADD;
  c->kind = K_LDCMP;
  c->w32 = w32;
  c->base = u[0];
  c->disp = add ? u[1] : 0;
  c->off = add ? u[2] : u[1];
  take_back_pair(t);
  return true;
}

/* When the instruction before the i64 eq or ne of c (slots, not yet
 * withdrawn) is an ld64_xi that produced one of its operands into a slot
 * no deferred read names, takes both back and makes c a K_LDX64, as
 * take_load does for the i32 loads. */
static bool take_loadx64(tr *t, cond *c) {
  if (t->prev_op != CIS__IOP_ld64_xi || t->prev_dest == NONE || t->prev_start == NONE || c->imm) return false;
  uint32_t d = t->code[t->prev_dest];
  if (d < t->nls && t->refcnt[d]) return false;
  if (c->b == d && c->a != d) { /* eq and ne are symmetric */
    c->b = c->a;
    c->a = d;
  } else if (c->a != d || c->b == d) {
    return false;
  }
  const uint32_t *u = &t->code[t->prev_dest + 1]; /* idx, k, imm, offset */
  c->kind = K_LDX64;
  c->base = u[0];
  c->shift = u[1];
  c->disp = u[2];
  c->off = u[3];
  take_back_pair(t);
  return true;
}

/* Takes the branch condition off the stack. When the value was produced
 * by the instruction just emitted and that was an i32 compare or eqz, the
 * instruction is withdrawn and its operands kept, to be fused into the
 * branch. */
static void take_cond(tr *t, cond *c) {
  uint32_t p = t->nvs - 1;
  const vent *e = &t->vs[p];
  int lo = t->last_op;
  c->step = false;
  if (e->kind == V_SLOT && t->last_dest != NONE && t->code[t->last_dest] == slot_of(t, p)) {
    if (lo >= CIS__IOP_i32_eq_ss && lo <= CIS__IOP_i32_ge_u_ai) {
      c->kind = K_CMP; /* any of ss si as ai: the operand units are the same */
      c->cmp = (uint32_t)(lo - CIS__IOP_i32_eq_ss) / 4;
      c->imm = (lo - CIS__IOP_i32_eq_ss) % 2 == 1;
      c->a = t->code[t->last_start + CIS__IHEAD + 1]; /* after the destination */
      c->b = t->code[t->last_start + CIS__IHEAD + 2];
      if (take_load(t, c)) {
        pop(t, 1);
        return;
      }
      if (((t->prev_op == CIS__IOP_st8_add_then_add_ss && !c->imm && c->b != c->a) ||
           (t->prev_op == CIS__IOP_f64_add_ld_st_then_add_si && c->imm)) &&
          t->prev_start != NONE && t->prev_dest != NONE && t->code[t->prev_dest] == c->a) {
        c->step = true;
        c->step_at = t->prev_start;
      }
      withdraw(t);
      pop(t, 1);
      return;
    }
    if (lo == CIS__IOP_i32_eqz) {
      c->kind = K_EQZ;
      c->a = t->code[t->last_start + CIS__IHEAD + 1];
      withdraw(t);
      pop(t, 1);
      return;
    }
    if ((lo >= CIS__IOP_i64_eq_ss && lo <= CIS__IOP_i64_ne_ai) || lo == CIS__IOP_i64_eqz) {
      const uint32_t *u = &t->code[t->last_start + CIS__IHEAD + 1]; /* after the destination */
      c->kind = K_CMP64;
      c->cmp = lo == CIS__IOP_i64_eqz ? CMP_EQ : (uint32_t)(lo - CIS__IOP_i64_eq_ss) / 4;
      c->imm = lo == CIS__IOP_i64_eqz || (lo - CIS__IOP_i64_eq_ss) % 2 == 1;
      c->a = u[0];
      c->b = c->imm ? 0 : u[1];
      c->imm64 = lo == CIS__IOP_i64_eqz ? 0 : c->imm ? (uint64_t)u[1] | (uint64_t)u[2] << 32 : 0;
      if (take_loadx64(t, c)) {
        pop(t, 1);
        return;
      }
      withdraw(t);
      pop(t, 1);
      return;
    }
  }
  c->kind = K_SLOT;
  c->a = use(t, p);
  pop(t, 1);
}

/* Emits a jump taken when the condition is `when`, to a back edge when
 * back. Returns the position of its offset unit; the cost unit follows. */
static size_t emit_cond_jump(tr *t, const cond *c, bool when, bool back) {
  switch (c->kind) {
  case K_CMP: {
    uint32_t k = when ? c->cmp : cmp_negate[c->cmp];
    uint32_t a = c->a, b = c->b;
    bool acc = in_acc(t, a, ACC_I);
    /* the store before it takes the branch (nothing emitted between):
     * sieve's crossing loop (< a slot), matmul's inner loop (!= an
     * immediate); both stores' forms are 7 units */
    int joined = !c->step || !back || t->ncode != c->step_at + CIS__IHEAD + 7 ? -1
                 : !c->imm && k == CMP_LT_U                                 ? CIS__IOP_st8_add_then_add_ss_lt_u_back
                 : c->imm && k == CMP_NE                                     ? CIS__IOP_f64_add_ld_st_then_add_si_ne_back
                                                                             : -1;
    if (joined >= 0) {
      put_head(t, c->step_at, joined);
      t->prev_start = t->prev_dest = t->last_dest = t->last_dest_any = NONE;
      t->prev_op = -1;
      t->last_start = c->step_at;
      t->last_op = joined;
      t->acc_slot = t->prev_acc_slot = UINT32_MAX;
      t->acc_kind = t->prev_acc_kind = ACC_NONE;
      put(t, b);
      size_t site = t->ncode;
      put(t, 0);
      put(t, 0);
      return site;
    }
    if (!acc && !c->imm && in_acc(t, b, ACC_I)) { /* b < a, with b from the accumulator */
      k = cmp_mirror[k];
      a = c->b;
      b = c->a;
      acc = true;
    }
    op(t, CIS__IOP_bi32_eq_ss + (int)k * 8 + (back ? 4 : 0) + (acc ? 2 : 0) + (c->imm ? 1 : 0));
    put(t, a);
    put(t, b);
    break;
  }
  case K_CMP64: { /* eq or ne: the negation swaps them, the mirror is the same */
    bool eq = (c->cmp == CMP_EQ) == when;
    uint32_t a = c->a, b = c->b;
    bool acc = in_acc(t, a, ACC_I);
    if (!acc && !c->imm && in_acc(t, b, ACC_I)) {
      a = c->b;
      b = c->a;
      acc = true;
    }
    op(t, CIS__IOP_bi64_eq_ss + (eq ? 0 : 8) + (back ? 4 : 0) + (acc ? 2 : 0) + (c->imm ? 1 : 0));
    put(t, a);
    if (c->imm) put64(t, c->imm64);
    else put(t, b);
    break;
  }
  case K_LDCMP: { /* the cost unit is there forward too (0, not read) */
    uint32_t k = when ? c->cmp : cmp_negate[c->cmp];
    op(t, CIS__IOP_bl8_eq_s + (c->w32 ? 40 : 0) + (int)k * 4 + (back ? 0 : 2) + (c->imm ? 1 : 0));
    put(t, c->a);
    put(t, c->base);
    put(t, c->disp);
    put(t, c->off);
    put(t, c->b);
    t->acc_slot = c->a; /* the loaded value, on the fall-through */
    t->acc_kind = ACC_I;
    size_t site = t->ncode;
    put(t, 0);
    put(t, 0);
    return site;
  }
  case K_LDX64: { /* eq or ne, as K_CMP64; the cost unit as K_LDCMP's */
    bool eq = (c->cmp == CMP_EQ) == when;
    op(t, CIS__IOP_bx64_eq + (eq ? 0 : 1) + (back ? 0 : 2));
    put(t, c->a);
    put(t, c->base);
    put(t, c->shift);
    put(t, c->disp);
    put(t, c->off);
    put(t, c->b);
    t->acc_slot = c->a;
    t->acc_kind = ACC_I;
    size_t site = t->ncode;
    put(t, 0);
    put(t, 0);
    return site;
  }
  case K_NULL: case K_NONNULL: /* never a back edge (br_cond) */
    op(t, (c->kind == K_NULL) == when ? CIS__IOP_br_null : CIS__IOP_br_nonnull);
    put(t, c->a);
    break;
  case K_EQZ:
  default: {
    bool acc = in_acc(t, c->a, ACC_I);
    bool jump_if_true = c->kind == K_EQZ ? !when : when;
    int id = jump_if_true ? (back ? CIS__IOP_br_if_back : CIS__IOP_br_if)
                          : (back ? CIS__IOP_br_unless_back : CIS__IOP_br_unless);
    if (acc) id = jump_if_true ? (back ? CIS__IOP_br_if_back_a : CIS__IOP_br_if_a)
                               : (back ? CIS__IOP_br_unless_back_a : CIS__IOP_br_unless_a);
    op(t, id);
    put(t, c->a);
    break;
  }
  }
  size_t site = t->ncode;
  put(t, 0);
  if (back) put(t, 0);
  return site;
}

/* A conditional branch to c on cd: a single conditional jump when the
 * values need no copying (and, for a null test, c is no loop), else a
 * jump over [copies; br]. */
static cis_result br_cond(tr *t, ctl *c, const cond *pcd) {
  cond cd = *pcd;
  uint32_t n = label_arity(c);
  bool ref_test = cd.kind == K_NULL || cd.kind == K_NONNULL;
  if (c->kind != C_FUNC && !(ref_test && c->kind == C_LOOP) && in_place(t, slot_of(t, c->height), n)) {
    size_t site = emit_cond_jump(t, &cd, true, c->kind == C_LOOP);
    if (c->kind == C_LOOP) {
      size_t back = site - c->label;
      if (back > INT32_MAX)
        return cis__fail(t->msg, CIS_ETOOBIG, "function %u: code too large to translate",
                         t->func);
      t->code[site] = (uint32_t)-(int32_t)back;
      return patch_add(t, &c->back, site + 1);
    }
    return patch_add(t, &c->fwd, site);
  }
  if (c->kind == C_FUNC) prepare_moves(t, 0, n);
  size_t skip = emit_cond_jump(t, &cd, false, false);
  cis_result rc = emit_br(t, c);
  if (rc != CIS_OK) return rc;
  rc = bind(t, skip);
  barrier(t);
  return rc;
}

/* br_if to c. */
static cis_result emit_br_if(tr *t, ctl *c) {
  cond cd;
  take_cond(t, &cd);
  return br_cond(t, c, &cd);
}

/* br_on_null (null: the reference dropped, the branch taken; else it
 * stays) and br_on_non_null (non-null: the branch takes it as its last
 * value; else it is dropped) to c. The reference is tested in its slot. */
static cis_result emit_br_on(tr *t, ctl *c, bool on_null) {
  uint32_t p = t->nvs - 1;
  materialize(t, p);
  vent e = t->vs[p];
  cond cd = {.kind = on_null ? K_NULL : K_NONNULL, .a = slot_of(t, p)};
  if (!on_null) {
    cis_result rc = br_cond(t, c, &cd);
    pop(t, 1);
    return rc;
  }
  pop(t, 1);
  cis_result rc = br_cond(t, c, &cd);
  push_entry(t, e);
  return rc;
}

/* br_table: targets whose values need copying, loops (whose back edge
 * charges fuel) and returns go through a stub emitted after the table;
 * one stub per distinct target. */
static cis_result emit_br_table(tr *t, const ins *in) {
  cis_result rc = CIS_OK;
  uint32_t idx = use(t, t->nvs - 1);
  pop(t, 1);
  ctl *def = &t->cs[t->ncs - 1 - in->a];
  uint32_t n = label_arity(def);
  if (n > t->nvs) return bad(t, "br_table operands missing");
  for (uint32_t p = t->nvs - n; p < t->nvs; p++) materialize(t, p);
  op(t, CIS__IOP_br_table);
  put(t, idx);
  put(t, in->ntab);
  size_t sites = t->ncode;
  for (uint32_t i = 0; i <= in->ntab; i++) put(t, 0);
  if (++t->gen == 0) { /* stamps wrapped: forget every old one */
    memset(t->stub_gen, 0, (size_t)t->capstub * sizeof *t->stub_gen);
    t->gen = 1;
  }
  const uint8_t *q = in->tab;
  for (uint32_t i = 0; i <= in->ntab; i++) {
    uint32_t depth = in->a;
    if (i < in->ntab && !cis__read_u32(&q, t->end, &depth)) return bad(t, "br_table truncated");
    if (depth >= t->ncs) return bad(t, "br_table label out of range");
    ctl *c = &t->cs[t->ncs - 1 - depth];
    if (label_arity(c) != n) return bad(t, "br_table arity mismatch");
    if (c->kind != C_FUNC && c->kind != C_LOOP && in_place(t, slot_of(t, c->height), n)) {
      CIS_TRY(patch_add(t, &c->fwd, sites + i));
      continue;
    }
    if (t->stub_gen[depth] != t->gen) {
      CIS_TRY(reserve(t, 16 + 2 * mat_units(n)));
      t->stub_gen[depth] = t->gen;
      t->stub_at[depth] = t->ncode;
      CIS_TRY(emit_br(t, c));
    }
    t->code[sites + i] = (uint32_t)(t->stub_at[depth] - (sites + i));
  }
fail:
  return rc;
}

/* -------------------------------------------------------------- locals */

/* local.set / local.tee x. Older deferred reads of x are materialized
 * first; the value is then moved in, or the instruction that just produced
 * it is retargeted to write x directly. */
static void set_local(tr *t, uint32_t x, bool tee) {
  uint32_t p = t->nvs - 1;
  vent e = t->vs[p];
  if (e.kind == V_LOCAL && e.local == x) { /* x = x */
    if (!tee) pop(t, 1);
    return;
  }
  if (t->zero_known && t->zero[x]) {
    if (e.kind == V_CONST && e.bits == 0) { /* x = 0 where x is still 0 */
      if (!tee) pop(t, 1);
      return;
    }
    t->zero[x] = 0;
  }
  uint32_t left = t->refcnt[x] - (reads_local(t, &e) == x ? 1 : 0);
  for (uint32_t q = p; left && q-- > t->defer_lo;) {
    if (reads_local(t, &t->vs[q]) == x) {
      materialize(t, q);
      left--;
    }
  }
  if (e.kind == V_SLOT && t->last_dest != NONE && t->code[t->last_dest] == slot_of(t, p)) {
    t->code[t->last_dest] = x;
    if (t->acc_slot == slot_of(t, p)) t->acc_slot = x; /* the value now lives in x */
  } else {
    emit_value(t, x, &e, p);
  }
  /* The value no longer lives in slot p: never retarget again. */
  t->last_dest = NONE;
  pop(t, 1);
  if (tee) {
    if (e.kind == V_CONST) {
      push_const(t, e.bits);
    } else {
      vent l = {.kind = V_LOCAL, .wide = e.wide, .obj = e.obj, .local = x};
      push_entry(t, l);
    }
  }
}

/* ------------------------------------------------------------ numerics */

static void unop(tr *t, int id) {
  uint32_t p = t->nvs - 1;
  uint32_t a = use(t, p);
  pop(t, 1);
  uint32_t d = push_slot(t);
  op_d(t, id, d);
  put(t, a);
}

/* i32.add or i32.sub of a constant: the sum stays deferred (V_ADD), so
 * that a load or store can take it as base + displacement. A base in a
 * stack slot stays in the slot of the entry's position. False when the
 * operands do not qualify. */
static bool defer_add(tr *t, uint32_t wasm_op) {
  uint32_t pb = t->nvs - 1, pa = t->nvs - 2;
  const vent *a = &t->vs[pa], *b = &t->vs[pb];
  vent x, r = {.kind = V_ADD};
  uint32_t c;
  if (b->kind == V_CONST && a->kind != V_CONST) {
    x = *a;
    c = wasm_op == CIS__OP_I32_ADD ? (uint32_t)b->bits : (uint32_t)-(uint32_t)b->bits;
  } else if (wasm_op == CIS__OP_I32_ADD && a->kind == V_CONST &&
             (b->kind == V_LOCAL || (b->kind == V_ADD && b->local < t->nl))) {
    x = *b; /* a local-based value may change position */
    c = (uint32_t)a->bits;
  } else {
    return false;
  }
  r.local = x.kind == V_SLOT ? slot_of(t, pa) : x.local;
  r.bits = x.kind == V_ADD ? (uint32_t)(x.bits + c) : c;
  pop(t, 2);
  push_entry(t, r);
  return true;
}

/* The f64 op ss (add, sub, mul or div) of the slots sa and sb, when the
 * last instruction is an f64.load whose result is sb, still in its own
 * operand slot (so nothing else reads it): the load is taken back and
 * the op reads memory itself at the load's address (ops.def, OP_FLD),
 * at the load's code position, which keeps the load's offset for a trap.
 * When the load produced sa instead, add and mul take it as their second
 * operand. False when the code does not have that shape. */
static bool fuse_f64_load(tr *t, int ss, uint32_t pa, uint32_t sa, uint32_t sb, uint32_t d) {
  int ld = t->last_op;
  if (ld < CIS__IOP_ldf64 || ld > CIS__IOP_ldf64_add_a || t->last_dest == NONE) return false;
  uint32_t dest = t->code[t->last_dest];
  uint32_t pb = pa + 1;
  if (t->vs[pb].kind == V_SLOT && sb == slot_of(t, pb) && dest == sb) {
    /* a op load */
  } else if ((ss == CIS__IOP_f64_add || ss == CIS__IOP_f64_mul) && t->vs[pa].kind == V_SLOT &&
             sa == slot_of(t, pa) && dest == sa) {
    sa = sb; /* load op b = b op load */
  } else {
    return false;
  }
  bool add = ld >= CIS__IOP_ldf64_add;
  uint32_t addr[3]; /* address (or base, imm), offset */
  size_t n = add ? 3 : 2;
  memcpy(addr, &t->code[t->last_dest + 1], n * sizeof *addr);
  withdraw(t);
  int id = ss == CIS__IOP_f64_add ? CIS__IOP_f64_add_ld
         : ss == CIS__IOP_f64_sub ? CIS__IOP_f64_sub_ld
         : ss == CIS__IOP_f64_mul ? CIS__IOP_f64_mul_ld
                                  : CIS__IOP_f64_div_ld;
  op_d(t, id + (add ? 1 : 0), d);
  put(t, sa);
  for (size_t k = 0; k < n; k++) put(t, addr[k]);
  return true;
}

/* True when entry p is an i32 that the last instruction just wrote to
 * p's own slot by one of the handlers that write i32 results
 * zero-extended (OUT_I32, or a narrow unsigned or 32-bit load): an
 * i64.extend_i32_u of it is the slot as it is. */
static bool zero_extended(const tr *t, uint32_t p) {
  int lo = t->last_op;
  if (t->last_dest == NONE || t->vs[p].kind != V_SLOT || t->code[t->last_dest] != slot_of(t, p)) return false;
  return (lo >= CIS__IOP_i32_eqz && lo <= CIS__IOP_i32_rotr_ai) ||
         (lo >= CIS__IOP_ld8_u && lo <= CIS__IOP_ld32_u_add_a) ||
         lo == CIS__IOP_ld8_u_x || lo == CIS__IOP_ld8_u_xi || lo == CIS__IOP_ld32_u_x || lo == CIS__IOP_ld32_u_xi ||
         (lo >= CIS__IOP_st8_then_add_ss && lo <= CIS__IOP_f64_add_ld_st_then_add_si);
}

/* True when entry p is an i64 that the last instruction just wrote to
 * p's own slot and that is below 2^32 by its op: a shr_u by 32 or more,
 * an and with a mask of the low 32 bits or fewer. An i32.wrap_i64 of it
 * is the slot as it is (a hash's bucket: (h * k) >> 44). */
static bool below_2_32(const tr *t, uint32_t p) {
  int lo = t->last_op;
  if (t->last_dest == NONE || t->vs[p].kind != V_SLOT || t->code[t->last_dest] != slot_of(t, p)) return false;
  const uint32_t *u = &t->code[t->last_dest + 2]; /* the 64-bit immediate, low unit first */
  if (lo == CIS__IOP_i64_shr_u_si || lo == CIS__IOP_i64_shr_u_ai) return (u[0] & 63) >= 32;
  if (lo == CIS__IOP_i64_mul_shr_u) return (u[2] & 63) >= 32; /* x, imm (2 units), k */
  if (lo == CIS__IOP_i64_and_si || lo == CIS__IOP_i64_and_ai) return u[1] == 0;
  return false;
}

/* True when the last instruction wrote its result to slot s of operand
 * entry p and only that entry holds it (its own slot, not a local's): the
 * instruction may then be taken back and merged into its consumer. */
static bool last_feeds(const tr *t, uint32_t p, uint32_t s) {
  return t->last_dest != NONE && t->vs[p].kind == V_SLOT && s == slot_of(t, p) && t->code[t->last_dest] == s;
}

/* i32.add of the slots sa, sb (entries pa, pa + 1) into d, when the last
 * instruction is an i32.shl by a constant that computed one of them:
 * both become i32_shl_add, d = (x << k) + base, at the shift's place. */
static bool fuse_shl_add(tr *t, uint32_t pa, uint32_t sa, uint32_t sb, uint32_t d) {
  if (t->last_op != CIS__IOP_i32_shl_si && t->last_op != CIS__IOP_i32_shl_ai) return false;
  uint32_t base;
  if (last_feeds(t, pa + 1, sb)) base = sa;
  else if (last_feeds(t, pa, sa)) base = sb;
  else return false;
  uint32_t x = t->code[t->last_dest + 1], k = t->code[t->last_dest + 2] & 31;
  withdraw(t);
  op_d(t, CIS__IOP_i32_shl_add, d);
  put(t, x);
  put(t, base);
  put(t, k);
  return true;
}

/* i32.xor or i32.or (i64) of the slots sa, sb (entries pa, pa + 1) into
 * d, when the last instruction is a shl, shr_u or rotl by a constant that
 * computed one of them: both become one op, d = (x SH k) OP other, at the
 * shift's place (ops.def, i32_shl_xor ...). */
static bool fuse_shift_bitop(tr *t, int ss, uint32_t pa, uint32_t sa, uint32_t sb, uint32_t d) {
  bool w = ss == CIS__IOP_i64_xor_ss || ss == CIS__IOP_i64_or_ss;
  const int shifts[3] = {w ? CIS__IOP_i64_shl_si : CIS__IOP_i32_shl_si,
                         w ? CIS__IOP_i64_shr_u_si : CIS__IOP_i32_shr_u_si,
                         w ? CIS__IOP_i64_rotl_si : CIS__IOP_i32_rotl_si};
  int sh = 0;
  while (sh < 3 && t->last_op != shifts[sh] && t->last_op != shifts[sh] + 2) sh++; /* _si, _ai */
  if (sh == 3) return false;
  uint32_t other;
  if (last_feeds(t, pa + 1, sb)) other = sa;
  else if (last_feeds(t, pa, sa)) other = sb;
  else return false;
  uint32_t x = t->code[t->last_dest + 1], k = t->code[t->last_dest + 2] & (w ? 63 : 31);
  withdraw(t);
  int id = ss == CIS__IOP_i32_xor_ss ? CIS__IOP_i32_shl_xor
         : ss == CIS__IOP_i32_or_ss  ? CIS__IOP_i32_shl_or
         : ss == CIS__IOP_i64_xor_ss ? CIS__IOP_i64_shl_xor
                                     : CIS__IOP_i64_shl_or;
  op_d(t, id + sh, d);
  put(t, x);
  put(t, other);
  put(t, k);
  return true;
}

/* i32.add (i64.add) of the slots sa, sb (entries pa, pa + 1) into d, when
 * the last instruction is an i32.eqz that computed one of them (for i64,
 * through an i64.extend_i32_u that cost nothing): one op, d = other +
 * (x == 0), at the eqz's place. */
static bool fuse_eqz_add(tr *t, int ss, uint32_t pa, uint32_t sa, uint32_t sb, uint32_t d) {
  if (t->last_op != CIS__IOP_i32_eqz) return false;
  uint32_t other;
  if (last_feeds(t, pa + 1, sb)) other = sa;
  else if (last_feeds(t, pa, sa)) other = sb;
  else return false;
  uint32_t x = t->code[t->last_dest + 1];
  withdraw(t);
  op_d(t, ss == CIS__IOP_i32_add_ss ? CIS__IOP_i32_add_eqz : CIS__IOP_i64_add_eqz, d);
  put(t, x);
  put(t, other);
  return true;
}

/* A load of family id (its plain op) at the address entry at position
 * p into d (its operands up to the offset, which the caller puts), when the last instruction computed that address as a
 * scaled index: i32_shl_add (or i32.add, a shift of 0) into e's own slot,
 * or, for a deferred base + imm (V_ADD) in e's own slot, i32.shl by a
 * constant. The shift, the add and the load become one _x or _xi op
 * (ops.def, OP_LDX) at the place of the first, so that a trap finds the
 * load's module offset there (translate_func maps from the lowest unit
 * the instruction rewrote). */
static bool fuse_index_load(tr *t, int id, uint32_t p, uint32_t d) {
  int x;
  switch (id) {
  case CIS__IOP_ld8_u: x = CIS__IOP_ld8_u_x; break;
  case CIS__IOP_ld32_u: x = CIS__IOP_ld32_u_x; break;
  case CIS__IOP_ld64: x = CIS__IOP_ld64_x; break;
  case CIS__IOP_ldf64: x = CIS__IOP_ldf64_x; break;
  default: return false;
  }
  const vent *e = &t->vs[p];
  int lo = t->last_op;
  if (t->last_dest == NONE) return false;
  uint32_t u[3]; /* idx, then base and k (_x) or k and imm (_xi) */
  if (e->kind == V_ADD) {
    if ((lo != CIS__IOP_i32_shl_si && lo != CIS__IOP_i32_shl_ai) || e->local != slot_of(t, p) ||
        t->code[t->last_dest] != e->local)
      return false;
    u[0] = t->code[t->last_dest + 1];
    u[1] = t->code[t->last_dest + 2] & 31;
    u[2] = (uint32_t)e->bits;
    x += 1;
  } else {
    uint32_t s = slot_of(t, p);
    if (!last_feeds(t, p, s)) return false;
    if (lo == CIS__IOP_i32_shl_add) {
      memcpy(u, &t->code[t->last_dest + 1], sizeof u);
    } else if (lo == CIS__IOP_i32_add_ss || lo == CIS__IOP_i32_add_as) {
      u[0] = t->code[t->last_dest + 1];
      u[1] = t->code[t->last_dest + 2];
      u[2] = 0;
    } else if (lo >= CIS__IOP_st8_then_add_ss && lo <= CIS__IOP_f64_add_ld_st_then_add_si &&
               (lo - CIS__IOP_st8_then_add_ss) % 2 == 0) {
      /* a store took the add: it gives it back, the load takes it */
      u[0] = t->code[t->last_dest + 1];
      u[1] = t->code[t->last_dest + 2];
      u[2] = 0;
      unfuse_store_add(t);
      op_d(t, x, d);
      for (int k = 0; k < 3; k++) put(t, u[k]);
      return true;
    } else {
      return false;
    }
  }
  withdraw(t);
  op_d(t, x, d);
  for (int k = 0; k < 3; k++) put(t, u[k]); /* the caller puts the offset */
  return true;
}

/* i32.add (i64.add) of the slots sa, sb (entries pa, pa + 1) into d,
 * when the last instruction is an i32.load (i64.load) that computed one
 * of them into its own slot: the load is taken back and the add reads
 * memory itself (ops.def, OP_ILD; i32_add_ld_x for an i32 load at a
 * scaled index, ld32_u_x), at the load's place (its module offset for a
 * trap), as fuse_f64_load does for f64. */
static bool fuse_int_load(tr *t, int ss, uint32_t pa, uint32_t sa, uint32_t sb, uint32_t d) {
  int ld = ss == CIS__IOP_i32_add_ss ? CIS__IOP_ld32_u : CIS__IOP_ld64, lo = t->last_op;
  bool idx = ss == CIS__IOP_i32_add_ss && lo == CIS__IOP_ld32_u_x;
  if (!idx && (lo < ld || lo > ld + M_ADD + M_ACC)) return false;
  uint32_t other;
  if (last_feeds(t, pa + 1, sb)) other = sa;
  else if (last_feeds(t, pa, sa)) other = sb;
  else return false;
  bool add = !idx && lo >= ld + M_ADD;
  uint32_t addr[4]; /* address (or base, imm; or idx, base, k), offset */
  size_t n = idx ? 4 : add ? 3 : 2;
  memcpy(addr, &t->code[t->last_dest + 1], n * sizeof *addr);
  withdraw(t);
  int id = ss == CIS__IOP_i32_add_ss ? CIS__IOP_i32_add_ld : CIS__IOP_i64_add_ld;
  op_d(t, idx ? CIS__IOP_i32_add_ld_x : id + (add ? 1 : 0), d);
  put(t, other);
  for (size_t k = 0; k < n; k++) put(t, addr[k]);
  return true;
}

/* i32.add of sa and b (a slot, or an immediate when imm) into d, right
 * after a store whose form has a "_then_add" op (ops.def): the store's
 * instruction becomes that op and takes the add's units after its own, so
 * that a trap keeps the store's place and module offset. */
static bool fuse_store_add(tr *t, uint32_t sa, uint32_t b, bool imm, uint32_t d) {
  if (t->last_start == NONE) return false;
  size_t i = 0;
  while (i < CIS_ARRAY_LEN(store_adds) && store_adds[i][0] != t->last_op) i++;
  if (i == CIS_ARRAY_LEN(store_adds)) return false;
  int id = store_adds[i][1] + (imm ? 1 : 0);
  put_head(t, t->last_start, id);
  t->last_op = id;
  t->last_dest = t->last_dest_any = t->ncode;
  t->acc_slot = d;
  t->acc_kind = ACC_I;
  put(t, d);
  put(t, sa);
  put(t, b);
  return true;
}

/* f64.store (i64.store) of v at address a + off, when the last
 * instruction is the f64_add_ld (i64_add_ld) that computed v from the
 * value at that same address: it becomes f64_add_ld_st (i64_add_ld_st)
 * in place (the store adds no code, so a trap, which only the load can
 * raise, keeps the load's module offset). The accumulators as a store
 * leaves them. */
static bool fuse_add_store(tr *t, uint32_t a, uint32_t v, uint32_t off) {
  int lo = t->last_op;
  if ((lo != CIS__IOP_f64_add_ld && lo != CIS__IOP_i64_add_ld) || t->last_start == NONE || t->last_dest == NONE)
    return false;
  const uint32_t *u = &t->code[t->last_dest]; /* d, other, address, offset */
  if (u[0] != v || u[2] != a || u[3] != off || v == a) return false;
  int id = lo == CIS__IOP_f64_add_ld ? CIS__IOP_f64_add_ld_st : CIS__IOP_i64_add_ld_st;
  put_head(t, t->last_start, id);
  t->prev_start = t->prev_dest = NONE;
  t->prev_op = -1;
  t->last_op = id;
  t->last_dest = t->last_dest_any = NONE;
  t->prev_acc_slot = t->acc_slot = UINT32_MAX;
  t->prev_acc_kind = t->acc_kind = ACC_NONE;
  return true;
}

/* A binary op. The first operand is read from the integer accumulator
 * (the _as/_ai forms, ops.def) when the instruction just emitted left it
 * there; for f64 either operand may come from the f64 accumulator. */
static void binop(tr *t, const numop *n) {
  uint32_t pb = t->nvs - 1, pa = t->nvs - 2;
  const vent *a = &t->vs[pa], *b = &t->vs[pb];
  uint32_t d = slot_of(t, pa);
  if (n->si >= 0 && b->kind == V_CONST) {
    uint64_t imm = b->bits;
    uint32_t sa = use(t, pa);
    if (n->ss == CIS__IOP_i32_add_ss && fuse_store_add(t, sa, (uint32_t)imm, true, d)) {
      pop(t, 2);
      push_slot(t);
      return;
    }
    /* (x + imm) & mask, the add just emitted into this operand's own
     * slot: one op at the add's place */
    if (n->ss == CIS__IOP_i32_and_ss && (t->last_op == CIS__IOP_i32_add_si || t->last_op == CIS__IOP_i32_add_ai) &&
        last_feeds(t, pa, sa)) {
      uint32_t x = t->code[t->last_dest + 1], k = t->code[t->last_dest + 2];
      withdraw(t);
      op_d(t, CIS__IOP_i32_add_and, d);
      put(t, x);
      put(t, k);
      put(t, (uint32_t)imm);
      pop(t, 2);
      push_slot(t);
      return;
    }
    /* (x * imm) >> k, the multiply just emitted into this operand's own
     * slot: one op at the multiply's place */
    if (n->ss == CIS__IOP_i64_shr_u_ss && (t->last_op == CIS__IOP_i64_mul_si || t->last_op == CIS__IOP_i64_mul_ai) &&
        last_feeds(t, pa, sa)) {
      uint32_t x = t->code[t->last_dest + 1];
      uint64_t m = (uint64_t)t->code[t->last_dest + 2] | (uint64_t)t->code[t->last_dest + 3] << 32;
      withdraw(t);
      op_d(t, CIS__IOP_i64_mul_shr_u, d);
      put(t, x);
      put64(t, m);
      put(t, (uint32_t)imm & 63);
      pop(t, 2);
      push_slot(t);
      return;
    }
    op_d(t, n->si + (in_acc(t, sa, ACC_I) ? 2 : 0), d);
    put(t, sa);
    if (n->wide) put64(t, imm);
    else put(t, (uint32_t)imm);
  } else if (n->swp >= 0 && a->kind == V_CONST) {
    uint64_t imm = a->bits;
    uint32_t sb = use(t, pb);
    op_d(t, n->swp + (in_acc(t, sb, ACC_I) ? 2 : 0), d);
    put(t, sb);
    if (n->wide) put64(t, imm);
    else put(t, (uint32_t)imm);
  } else {
    uint32_t sa = use(t, pa);
    uint32_t sb = use(t, pb);
    if (n->f64acc && fuse_f64_load(t, n->ss, pa, sa, sb, d)) {
      pop(t, 2);
      push_slot(t);
      return;
    }
    /* The integer fusions with the instruction just emitted, tried in
     * turn: the first that takes it leaves one op for both. */
    bool add32 = n->ss == CIS__IOP_i32_add_ss, add = add32 || n->ss == CIS__IOP_i64_add_ss;
    bool bitop = n->ss == CIS__IOP_i32_xor_ss || n->ss == CIS__IOP_i32_or_ss || n->ss == CIS__IOP_i64_xor_ss ||
                 n->ss == CIS__IOP_i64_or_ss;
    if ((add && fuse_int_load(t, n->ss, pa, sa, sb, d)) || (add32 && fuse_shl_add(t, pa, sa, sb, d)) ||
        (add && fuse_eqz_add(t, n->ss, pa, sa, sb, d)) || (add32 && fuse_store_add(t, sa, sb, false, d)) ||
        (bitop && fuse_shift_bitop(t, n->ss, pa, sa, sb, d))) {
      pop(t, 2);
      push_slot(t);
      return;
    }
    int id = n->ss;
    if (n->si >= 0) {
      if (in_acc(t, sa, ACC_I)) {
        id += 2;
      } else if (n->swp >= 0 && in_acc(t, sb, ACC_I)) { /* swapped: b from the accumulator */
        id = n->swp + 1;
        uint32_t tmp = sa;
        sa = sb;
        sb = tmp;
      }
    } else if (n->f64acc) {
      if (in_acc(t, sa, ACC_D)) id += 1;
      else if (in_acc(t, sb, ACC_D)) id += 2;
    }
    op_d(t, id, d);
    put(t, sa);
    put(t, sb);
  }
  pop(t, 2);
  push_slot(t);
}

/* ------------------------------------------------------------- decoding */

static bool rd_u32(tr *t, uint32_t *v) { return cis__read_u32(&t->p, t->end, v); }

static bool rd_byte(tr *t, uint8_t *b) {
  if (t->p >= t->end) return false;
  *b = *t->p++;
  return true;
}

/* Reads one instruction and its immediates, by the immediate kind of its
 * row in the opcode table (src/wasm/opcodes.def). False when the bytes do
 * not form one (the validator should have refused them). */
static bool read_ins(tr *t, ins *in) {
  enum cis__op o;
  uint8_t r;
  if (cis__op_read(&t->p, t->end, &o) != CIS__OPREAD_OK) return false;
  in->op = o;
  switch (cis__op_info(o)->imm) {
  case CIS__IMM_NONE:
    return true;
  case CIS__IMM_BLOCK:
    return cis__read_blocktype(&t->p, t->end, &in->bt);
  case CIS__IMM_LABEL: case CIS__IMM_FUNC: case CIS__IMM_LOCAL: case CIS__IMM_GLOBAL:
  case CIS__IMM_TABLE: case CIS__IMM_DATA: case CIS__IMM_ELEM: case CIS__IMM_TYPE: case CIS__IMM_TAG:
    return rd_u32(t, &in->a);
  case CIS__IMM_TRY_TABLE: { /* the clauses are read again when translating */
    cis__catch c;
    if (!cis__read_blocktype(&t->p, t->end, &in->bt) || !rd_u32(t, &in->ntab)) return false;
    in->tab = t->p;
    for (uint32_t i = 0; i < in->ntab; i++)
      if (!cis__read_catch(&t->p, t->end, &c)) return false;
    return true;
  }
  case CIS__IMM_BR_TABLE: {
    uint32_t n, x;
    if (!rd_u32(t, &n)) return false;
    in->ntab = n;
    in->tab = t->p;
    for (uint32_t i = 0; i < n; i++)
      if (!rd_u32(t, &x)) return false;
    return rd_u32(t, &in->a);
  }
  case CIS__IMM_CALL_INDIRECT: case CIS__IMM_TABLE_INIT: case CIS__IMM_TABLE_COPY:
  case CIS__IMM_TYPE_FIELD: case CIS__IMM_TYPE_FIXED: case CIS__IMM_TYPE_DATA: case CIS__IMM_TYPE_ELEM:
  case CIS__IMM_TYPE_TYPE:
    return rd_u32(t, &in->a) && rd_u32(t, &in->b);
  case CIS__IMM_CAST: { /* flags in c, the label in a, the heap types in off (first) and b */
    uint32_t h1;
    if (!rd_byte(t, &r) || !rd_u32(t, &in->a) || !cis__read_heaptype(&t->p, t->end, &h1) ||
        !cis__read_heaptype(&t->p, t->end, &in->b))
      return false;
    in->c = r;
    in->off = h1;
    return true;
  }
  case CIS__IMM_MEMARG: case CIS__IMM_MEMARG_LANE: {
    cis__memarg ma;
    r = 0;
    if (!cis__read_memarg(&t->p, t->end, &ma)) return false;
    if (cis__op_info(o)->imm == CIS__IMM_MEMARG_LANE && !rd_byte(t, &r)) return false;
    in->a = ma.align;
    in->b = (uint32_t)ma.offset;
    in->off = ma.offset;
    in->c = ma.mem;
    in->bits = r;
    return true;
  }
  case CIS__IMM_LANE:
    if (!rd_byte(t, &r)) return false;
    in->bits = r;
    return true;
  case CIS__IMM_MEMIDX:
    return rd_u32(t, &in->c);
  case CIS__IMM_HEAPTYPE: /* ref.test, ref.cast: the heap type (as a nullable reference) in b */
    return cis__read_heaptype(&t->p, t->end, &in->b);
  case CIS__IMM_MEMORY_COPY:
    return rd_u32(t, &in->a) && rd_u32(t, &in->b);
  case CIS__IMM_MEMORY_INIT:
    return rd_u32(t, &in->a) && rd_u32(t, &in->c);
  case CIS__IMM_SELECT_T: {
    uint32_t n, vt;
    if (!rd_u32(t, &n)) return false;
    for (uint32_t i = 0; i < n; i++)
      if (cis__read_valtype(&t->p, t->end, true, &vt)) return false;
    return true;
  }
  case CIS__IMM_I32: {
    int32_t v;
    if (!cis__read_s32(&t->p, t->end, &v)) return false;
    in->bits = (uint32_t)v;
    return true;
  }
  case CIS__IMM_I64: {
    int64_t v;
    if (!cis__read_s64(&t->p, t->end, &v)) return false;
    in->bits = (uint64_t)v;
    return true;
  }
  case CIS__IMM_F32: case CIS__IMM_F64: {
    unsigned n = cis__op_info(o)->imm == CIS__IMM_F32 ? 4 : 8;
    if ((size_t)(t->end - t->p) < n) return false;
    in->bits = 0;
    for (unsigned i = 0; i < n; i++) in->bits |= (uint64_t)t->p[i] << (8 * i);
    t->p += n;
    return true;
  }
  case CIS__IMM_V128: case CIS__IMM_SHUFFLE:
    if ((size_t)(t->end - t->p) < 16) return false;
    in->tab = t->p;
    t->p += 16;
    return true;
  default:
    return false;
  }
}

/* ---------------------------------------------------------- structure */

static cis_result push_ctl(tr *t, uint8_t kind, int64_t bt) {
  cis__blocktype b;
  if (!cis__blocktype_get(t->m, bt, &b)) return bad(t, "unknown block type");
  if (b.nparams > t->nvs) return bad(t, "block parameters missing");
  if (!grow((void **)&t->cs, &t->capcs, (size_t)t->ncs + 1, sizeof *t->cs)) return oom(t);
  ctl *c = &t->cs[t->ncs++];
  memset(c, 0, sizeof *c);
  c->kind = kind;
  c->height = t->nvs - b.nparams;
  c->nparams = b.nparams;
  c->nresults = b.nresults;
  c->ptypes = b.params;
  c->rtypes = b.results;
  c->pvts = b.vparams;
  c->rvts = b.vresults;
  c->rone = b.one;
  c->label = NONE;
  c->else_site = NONE;
  return CIS_OK;
}

/* Leaves the operand stack of construct c at its height plus its
 * parameters (after else) or results (after end), all in their slots. */
static cis_result reset_stack(tr *t, const ctl *c, bool params) {
  uint32_t n = params ? c->nparams : c->nresults;
  pop(t, t->nvs - c->height);
  cis_result rc = reserve_vs(t, n);
  if (rc != CIS_OK) return rc;
  for (uint32_t i = 0; i < n; i++)
    push_typed(t, params ? vt_at(c->ptypes, c->pvts, i) : c->rvts ? c->rvts[i] : c->rone ? c->rone : c->rtypes[i]);
  return CIS_OK;
}

static cis_result do_else(tr *t) {
  ctl *c = &t->cs[t->ncs - 1];
  cis_result rc = CIS_OK;
  if (c->kind != C_IF || c->else_site == NONE) return bad(t, "else without if");
  if (!t->dead) {
    if (t->nvs < c->height + c->nresults) return bad(t, "if results missing");
    emit_moves(t, slot_of(t, c->height), c->nresults);
    op(t, CIS__IOP_br);
    CIS_TRY(put_target(t, c));
  }
  CIS_TRY(bind(t, c->else_site));
  c->else_site = NONE;
  barrier(t);
  t->dead = false;
  return reset_stack(t, c, true);
fail:
  return rc;
}

static cis_result do_end(tr *t) {
  ctl *c = &t->cs[t->ncs - 1];
  cis_result rc = CIS_OK;
  bool reach = !t->dead;
  if (c->kind == C_TRY || c->kind == C_TRY_TABLE) t->hnd[c->hid].end = (uint32_t)t->ncode;
  if (!t->dead && t->nvs < c->height + c->nresults) return bad(t, "block results missing");
  if (c->kind == C_FUNC) {
    if (!t->dead) emit_return(t);
    t->ncs--;
    return CIS_OK;
  }
  if (!t->dead) emit_moves(t, slot_of(t, c->height), c->nresults);
  if (c->kind == C_IF && c->else_site != NONE) { /* no else: false skips here */
    CIS_TRY(bind(t, c->else_site));
    reach = true;
  }
  if (c->fwd) {
    CIS_TRY(bind_list(t, c->fwd));
    reach = true;
  }
  if (c->kind == C_LOOP) {
    t->loops--;
    uint64_t cost = t->count - c->count0;
    if (cost == 0) cost = 1;
    if (cost > UINT32_MAX) cost = UINT32_MAX;
    for (uint32_t i = c->back; i; i = t->pnext[i]) t->code[t->ppos[i]] = (uint32_t)cost;
  }
  barrier(t);
  CIS_TRY(reset_stack(t, c, false));
  t->ncs--;
  t->dead = !reach;
fail:
  return rc;
}

/* ---------------------------------------------------------- exceptions */

/* The handler entry that an exception raised inside construct `from`
 * (an index into the control stack) reaches first: that of the
 * innermost try body at or below it, or CIS__IHND_NONE (the caller). */
static uint32_t handler_at(const tr *t, uint32_t from) {
  for (uint32_t i = from + 1; i-- > 0;)
    if (t->cs[i].kind == C_TRY || t->cs[i].kind == C_TRY_TABLE) return t->cs[i].hid;
  return CIS__IHND_NONE;
}

/* Opens the handler entry of a try whose body starts here (before its
 * construct is pushed): its next entry is the enclosing try's. */
static cis_result open_handler(tr *t, uint32_t *hid) {
  if (t->ncode > UINT32_MAX - 1)
    return cis__fail(t->msg, CIS_ETOOBIG, "function %u: code too large to translate", t->func);
  if (!grow((void **)&t->hnd, &t->caphnd, (size_t)t->nhnd + 1, sizeof *t->hnd)) return oom(t);
  t->hnd[t->nhnd] = (hentry){.start = (uint32_t)t->ncode, .end = (uint32_t)t->ncode,
                             .next = handler_at(t, t->ncs - 1)};
  *hid = t->nhnd++;
  return CIS_OK;
}

/* Adds a catch clause of entry hid that resumes at code position pad. */
static cis_result add_clause(tr *t, uint32_t hid, uint32_t tag, size_t pad, uint32_t vslot, uint32_t xslot,
                             uint32_t *idx) {
  if (!grow((void **)&t->hcl, &t->caphcl, (size_t)t->nhcl + 1, sizeof *t->hcl)) return oom(t);
  t->hcl[t->nhcl] = (hclause){.entry = hid, .seq = t->nhcl, .tag = tag, .pad = (uint32_t)pad,
                              .vslot = vslot, .xslot = xslot};
  if (idx) *idx = t->nhcl;
  t->nhcl++;
  return CIS_OK;
}

/* The tag immediate x: its parameter types in *types (in full: *vts, or
 * NULL), their count in *n. */
static cis_result tag_params(tr *t, uint32_t x, const uint8_t **types, const uint32_t **vts, uint32_t *n) {
  if (x >= t->m->ntags || t->m->tag_type[x] >= t->m->ntypes) return bad(t, "unknown tag");
  const cis__functype *ft = &t->m->types[t->m->tag_type[x]];
  *types = ft->types;
  *vts = ft->vts;
  *n = ft->nparams;
  return CIS_OK;
}

/* A try_table clause's landing pad, here: a branch to c that takes the n
 * values (types) and, with ref, the exnref, which the unwinder puts where
 * a br to c finds its operands. The operand stack (all in slots: the
 * try_table materialized it) is put back as it was. *vslot and *xslot
 * (CIS__IHND_NONE without ref) get the slots. */
static cis_result emit_pad(tr *t, ctl *c, const uint8_t *types, const uint32_t *vts, uint32_t n, bool ref,
                           uint32_t *vslot, uint32_t *xslot) {
  uint32_t nvs = t->nvs, keep = nvs - c->height, defer_lo = t->defer_lo, nobj = t->nobj;
  if (!grow((void **)&t->vsave, &t->capvsave, (size_t)keep + 1, sizeof *t->vsave)) return oom(t);
  memcpy(t->vsave, t->vs + c->height, (size_t)keep * sizeof *t->vs);
  pop(t, keep);
  cis_result rc = reserve_vs(t, (size_t)n + 1);
  if (rc != CIS_OK) return rc;
  *vslot = slot_of(t, t->nvs);
  for (uint32_t i = 0; i < n; i++) push_typed(t, vt_at(types, vts, i));
  *xslot = ref ? slot_of(t, t->nvs) : CIS__IHND_NONE;
  if (ref) push_typed(t, CIS__EXNREF);
  barrier(t);
  rc = emit_br(t, c);
  pop(t, n + ref);
  memcpy(t->vs + c->height, t->vsave, (size_t)keep * sizeof *t->vs);
  t->nvs = nvs;
  t->defer_lo = defer_lo;
  t->nobj = nobj;
  return rc;
}

/* try_table: a jump over one landing pad per clause, then the body,
 * whose range the handler entry covers. */
static cis_result do_try_table(tr *t, const ins *in) {
  cis_result rc = CIS_OK;
  materialize_all(t);
  op(t, CIS__IOP_br);
  size_t over = t->ncode;
  put(t, 0);
  uint32_t hid;
  CIS_TRY(open_handler(t, &hid));
  const uint8_t *q = in->tab;
  for (uint32_t k = 0; k < in->ntab; k++) {
    cis__catch cc;
    const uint8_t *types = NULL;
    const uint32_t *vts = NULL;
    uint32_t n = 0, tag = CIS__IHND_ALL, vslot = 0, xslot = 0; /* set by emit_pad */
    if (!cis__read_catch(&q, t->end, &cc)) return bad(t, "malformed catch clause");
    if (cc.label >= t->ncs) return bad(t, "catch label out of range");
    if (cc.kind <= CIS__CATCH_REF) {
      CIS_TRY(tag_params(t, cc.tag, &types, &vts, &n));
      tag = cc.tag;
    }
    ctl *target = &t->cs[t->ncs - 1 - cc.label];
    bool ref = cc.kind == CIS__CATCH_REF || cc.kind == CIS__CATCH_ALL_REF;
    if (label_arity(target) != n + ref) return bad(t, "catch arity mismatch");
    CIS_TRY(reserve(t, 16 + 2 * mat_units(n + 1)));
    size_t pad = t->ncode;
    CIS_TRY(emit_pad(t, target, types, vts, n, ref, &vslot, &xslot));
    CIS_TRY(add_clause(t, hid, tag, pad, vslot, xslot, NULL));
  }
  CIS_TRY(bind(t, over));
  barrier(t);
  t->hnd[hid].start = t->hnd[hid].end = (uint32_t)t->ncode;
  CIS_TRY(push_ctl(t, C_TRY_TABLE, in->bt));
  t->cs[t->ncs - 1].hid = hid;
fail:
  return rc;
}

/* A legacy catch or catch_all: the try's body (or the catch before) ends
 * as an if's then-arm does, and the catch's block starts with the hidden
 * exnref slot (for rethrow) and the tag's values on the stack. */
static cis_result do_catch(tr *t, const ins *in) {
  ctl *c = &t->cs[t->ncs - 1];
  cis_result rc = CIS_OK;
  const uint8_t *types = NULL;
  const uint32_t *vts = NULL;
  uint32_t n = 0, tag = CIS__IHND_ALL;
  if (c->kind != C_TRY && c->kind != C_CATCH) return bad(t, "catch without try");
  if (in->op == CIS__OP_CATCH) {
    CIS_TRY(tag_params(t, in->a, &types, &vts, &n));
    tag = in->a;
  }
  if (c->kind == C_TRY) t->hnd[c->hid].end = (uint32_t)t->ncode;
  if (!t->dead) {
    if (t->nvs < c->height + c->nresults) return bad(t, "try results missing");
    emit_moves(t, slot_of(t, c->height), c->nresults);
    op(t, CIS__IOP_br);
    CIS_TRY(put_target(t, c));
  }
  barrier(t);
  t->dead = false;
  c->kind = C_CATCH;
  pop(t, t->nvs - c->height);
  CIS_TRY(reserve_vs(t, (size_t)n + 1));
  push_typed(t, CIS__EXNREF);
  uint32_t vslot = slot_of(t, t->nvs);
  for (uint32_t i = 0; i < n; i++) push_typed(t, vt_at(types, vts, i));
  /* The exnref slot is filled only if a rethrow needs it (do_rethrow). */
  CIS_TRY(add_clause(t, c->hid, tag, t->ncode, vslot, CIS__IHND_NONE, &c->clause));
fail:
  return rc;
}

/* rethrow of the exception the catch at label depth x took. */
static cis_result do_rethrow(tr *t, uint32_t x) {
  if (x >= t->ncs) return bad(t, "rethrow label out of range");
  ctl *c = &t->cs[t->ncs - 1 - x];
  if (c->kind != C_CATCH) return bad(t, "rethrow outside a catch");
  uint32_t xs = slot_of(t, c->height);
  t->hcl[c->clause].xslot = xs;
  op(t, CIS__IOP_throw_ref);
  put(t, xs);
  t->dead = true;
  return CIS_OK;
}

/* Before an exnref in slot s is stored where it may outlive the call (a
 * global or table of kind `kind`). */
static void keep_exn(tr *t, uint8_t kind, uint32_t s) {
  if (kind != CIS__EXNREF) return;
  op(t, CIS__IOP_exn_keep);
  put(t, s);
}

/* The handler table (interp.h) into t->hout: clauses grouped by entry in
 * the order they were met. */
static int clause_cmp(const void *a, const void *b) {
  const hclause *x = a, *y = b;
  if (x->entry != y->entry) return x->entry < y->entry ? -1 : 1;
  return (x->seq > y->seq) - (x->seq < y->seq);
}

static cis_result encode_handlers(tr *t) {
  t->nhout = 0;
  if (!t->nhnd) return CIS_OK;
  size_t units = CIS__IHND_HEAD + (size_t)t->nhnd * CIS__IHND_ENTRY + (size_t)t->nhcl * CIS__IHND_CLAUSE;
  if (units > UINT32_MAX) return cis__fail(t->msg, CIS_ETOOBIG, "function %u: too many handlers", t->func);
  if (!grow((void **)&t->hout, &t->caphout, units, sizeof *t->hout)) return oom(t);
  if (t->nhcl) qsort(t->hcl, t->nhcl, sizeof *t->hcl, clause_cmp);
  uint32_t *u = t->hout;
  u[0] = t->nhnd;
  u[1] = t->nhcl;
  uint32_t *e = u + CIS__IHND_HEAD, *c = e + (size_t)t->nhnd * CIS__IHND_ENTRY;
  for (uint32_t i = 0, k = 0; i < t->nhnd; i++, e += CIS__IHND_ENTRY) {
    e[0] = t->hnd[i].start;
    e[1] = t->hnd[i].end;
    e[2] = t->hnd[i].next;
    e[3] = k;
    while (k < t->nhcl && t->hcl[k].entry == i) k++;
    e[4] = k - e[3];
  }
  for (uint32_t k = 0; k < t->nhcl; k++, c += CIS__IHND_CLAUSE) {
    c[0] = t->hcl[k].tag;
    c[1] = t->hcl[k].pad;
    c[2] = t->hcl[k].vslot;
    c[3] = t->hcl[k].xslot;
  }
  t->nhout = (uint32_t)units;
  return CIS_OK;
}

/* ------------------------------------------------------ one instruction */

#define NEED(n)                                                   \
  do {                                                            \
    if (t->nvs < (uint32_t)(n)) return bad(t, "operand missing"); \
  } while (0)

/* Checks that the entry k below the top is (wide) or is not a v128. */
#define NEEDV(k, w)                                                          \
  do {                                                                       \
    if (t->nvs < (uint32_t)(k) + 1) return bad(t, "operand missing");        \
    if (t->vs[t->nvs - 1 - (k)].wide != (w)) return bad(t, "operand type mismatch"); \
  } while (0)

static cis_result need_memory(tr *t, uint32_t i) {
  return i < t->m->nmemories ? CIS_OK : bad(t, "unknown memory");
}

/* A load or store of a memory other than 0 (multi-memory) or of a 64-bit
 * memory (memory64, memory 0 too): one memx or memx64 op (ops.def),
 * which names the memory and the wasm instruction; the operands
 * (address, then a value or vector) and the result are those of the
 * instruction's signature. Memory 0 of 32 bits keeps its own handlers. */
static cis_result translate_memx(tr *t, const ins *in) {
  const char *sig = cis__op_info(in->op)->sig;
  uint32_t npop = (uint32_t)(strchr(sig, ':') - sig);
  uint8_t rt = cis__sig_valtype(sig[npop + 1]);
  cis_result rc = CIS_OK;
  CIS_TRY(need_memory(t, in->c));
  if (npop < 1 || npop > 2) return bad(t, "not a load or store");
  NEEDV(0, sig[npop - 1] == 'v');
  if (npop == 2) NEEDV(1, 0);
  uint32_t v = npop == 2 ? use(t, t->nvs - 1) : 0, a = use(t, t->nvs - npop);
  bool is64 = t->m->memories[in->c].is64;
  int id = is64 ? CIS__IOP_memx64 : CIS__IOP_memx;
  if (rt) {
    pop(t, npop);
    op_d(t, id, push_typed(t, rt));
  } else {
    op(t, id);
    put(t, 0); /* no destination */
  }
  put(t, a);
  put(t, v);
  put(t, (uint32_t)in->off);
  if (is64) put(t, (uint32_t)(in->off >> 32));
  put(t, in->c);
  put(t, in->op);
  put(t, (uint32_t)in->bits);
  if (!rt) pop(t, npop);
fail:
  return rc;
}

static cis_result need_table(tr *t, uint32_t i) {
  return i < t->m->ntables ? CIS_OK : bad(t, "unknown table");
}

/* Translates the 0xfc-prefixed instructions. */
static cis_result translate_fc(tr *t, const ins *in) {
  const cis__module *m = t->m;
  uint32_t o = in->op;
  cis_result rc = CIS_OK;
  if (o >= CIS__OP_I32_TRUNC_SAT_F32_S && o <= CIS__OP_I64_TRUNC_SAT_F64_U) {
    NEED(1);
    unop(t, satops[o - CIS__OP_I32_TRUNC_SAT_F32_S]);
    return CIS_OK;
  }
  switch (o) {
  case CIS__OP_MEMORY_INIT: { /* memory.init */
    NEED(3);
    CIS_TRY(need_memory(t, in->c));
    if (in->a >= m->ndatas) return bad(t, "unknown data segment");
    uint32_t n = use(t, t->nvs - 1), s = use(t, t->nvs - 2), d = use(t, t->nvs - 3);
    op(t, CIS__IOP_memory_init);
    put(t, in->a);
    put(t, in->c);
    put(t, d);
    put(t, s);
    put(t, n);
    pop(t, 3);
    break;
  }
  case CIS__OP_DATA_DROP: /* data.drop */
    if (in->a >= m->ndatas) return bad(t, "unknown data segment");
    op(t, CIS__IOP_data_drop);
    put(t, in->a);
    break;
  case CIS__OP_MEMORY_COPY: case CIS__OP_MEMORY_FILL: { /* memory.copy, memory.fill */
    NEED(3);
    bool copy = o == CIS__OP_MEMORY_COPY;
    uint32_t dm = copy ? in->a : in->c;
    CIS_TRY(need_memory(t, dm));
    if (copy) CIS_TRY(need_memory(t, in->b));
    uint32_t n = use(t, t->nvs - 1), s = use(t, t->nvs - 2), d = use(t, t->nvs - 3);
    op(t, copy ? CIS__IOP_memory_copy : CIS__IOP_memory_fill);
    put(t, d);
    put(t, s);
    put(t, n);
    put(t, dm);
    if (copy) put(t, in->b);
    pop(t, 3);
    break;
  }
  case CIS__OP_TABLE_INIT: { /* table.init seg table */
    NEED(3);
    if (in->a >= m->nelems) return bad(t, "unknown element segment");
    CIS_TRY(need_table(t, in->b));
    uint32_t n = use(t, t->nvs - 1), s = use(t, t->nvs - 2), d = use(t, t->nvs - 3);
    op(t, CIS__IOP_table_init);
    put(t, in->a);
    put(t, in->b);
    put(t, d);
    put(t, s);
    put(t, n);
    pop(t, 3);
    break;
  }
  case CIS__OP_ELEM_DROP: /* elem.drop */
    if (in->a >= m->nelems) return bad(t, "unknown element segment");
    op(t, CIS__IOP_elem_drop);
    put(t, in->a);
    break;
  case CIS__OP_TABLE_COPY: { /* table.copy dst src */
    NEED(3);
    CIS_TRY(need_table(t, in->a));
    CIS_TRY(need_table(t, in->b));
    uint32_t n = use(t, t->nvs - 1), s = use(t, t->nvs - 2), d = use(t, t->nvs - 3);
    op(t, CIS__IOP_table_copy);
    put(t, in->a);
    put(t, in->b);
    put(t, d);
    put(t, s);
    put(t, n);
    pop(t, 3);
    break;
  }
  case CIS__OP_TABLE_GROW: { /* table.grow */
    NEED(2);
    CIS_TRY(need_table(t, in->a));
    uint32_t n = use(t, t->nvs - 1), v = use(t, t->nvs - 2);
    uint32_t d = slot_of(t, t->nvs - 2);
    keep_exn(t, m->tables[in->a].elem, v);
    op_d(t, CIS__IOP_table_grow, d);
    put(t, in->a);
    put(t, v);
    put(t, n);
    pop(t, 2);
    push_slot(t);
    break;
  }
  case CIS__OP_TABLE_SIZE: /* table.size */
    CIS_TRY(need_table(t, in->a));
    op_d(t, CIS__IOP_table_size, push_slot(t));
    put(t, in->a);
    break;
  case CIS__OP_TABLE_FILL: { /* table.fill */
    NEED(3);
    CIS_TRY(need_table(t, in->a));
    uint32_t n = use(t, t->nvs - 1), v = use(t, t->nvs - 2), i = use(t, t->nvs - 3);
    keep_exn(t, m->tables[in->a].elem, v);
    op(t, CIS__IOP_table_fill);
    put(t, in->a);
    put(t, i);
    put(t, v);
    put(t, n);
    pop(t, 3);
    break;
  }
  default:
    return bad(t, "unknown 0xfc instruction");
  }
fail:
  return rc;
}

/* Puts a 16-byte immediate as four units. */
static void put16(tr *t, const uint8_t *b) {
  for (int k = 0; k < 4; k++) {
    uint32_t u;
    memcpy(&u, b + 4 * k, 4);
    put(t, u);
  }
}

/* Translates the 0xfd-prefixed (SIMD) instructions by their shape. */
static cis_result translate_fd(tr *t, const ins *in) {
  const simdop *so = &simdops[in->op];
  int id = so->iop;
  if ((id == CIS__IOP_i8x16_swizzle || id == CIS__IOP_i8x16_relaxed_swizzle) && cpu_ssse3())
    id = CIS__IOP_i8x16_swizzle_ssse3;
  if (id == CIS__IOP_i8x16_shuffle && cpu_ssse3()) id = CIS__IOP_i8x16_shuffle_ssse3;
  cis_result rc = CIS_OK;
  if ((so->shape == SH_EXT || so->shape == SH_REP || so->shape >= SH_LDL1) &&
      so->shape <= SH_STL8 && in->bits >= so->lanes)
    return bad(t, "invalid lane index");
  if (so->shape >= SH_LD1 && so->shape <= SH_STL8) {
    CIS_TRY(need_memory(t, in->c));
    if (in->c || t->m->memories[in->c].is64) return translate_memx(t, in);
  }
  switch (so->shape) {
  case SH_V: case SH_VT: case SH_SPL: case SH_EXT: { /* one operand */
    bool vin = so->shape != SH_SPL;
    NEEDV(0, vin);
    uint32_t a = use(t, t->nvs - 1);
    pop(t, 1);
    bool vout = so->shape == SH_V || so->shape == SH_SPL;
    op_d(t, id, push_typed(t, vout ? CIS__V128 : CIS__I64));
    put(t, a);
    if (so->shape == SH_EXT) put(t, (uint32_t)in->bits);
    break;
  }
  case SH_VV: case SH_VS: case SH_REP: case SH_SHUF: { /* two operands */
    NEEDV(0, so->shape != SH_VS && so->shape != SH_REP);
    NEEDV(1, 1);
    uint32_t b = use(t, t->nvs - 1), a = use(t, t->nvs - 2);
    if (so->shape == SH_SHUF)
      for (int k = 0; k < 16; k++)
        if (in->tab[k] >= 32) return bad(t, "invalid lane index");
    pop(t, 2);
    op_d(t, id, push_typed(t, CIS__V128));
    put(t, a);
    put(t, b);
    if (so->shape == SH_REP) put(t, (uint32_t)in->bits);
    if (so->shape == SH_SHUF) {
      uint8_t m[32];
      i8x16_shuffle_masks(in->tab, m);
      put16(t, m);
      put16(t, m + 16);
    }
    break;
  }
  case SH_VVV: {
    NEEDV(0, 1);
    NEEDV(1, 1);
    NEEDV(2, 1);
    uint32_t c = use(t, t->nvs - 1), b = use(t, t->nvs - 2), a = use(t, t->nvs - 3);
    pop(t, 3);
    op_d(t, id, push_typed(t, CIS__V128));
    put(t, a);
    put(t, b);
    put(t, c);
    break;
  }
  case SH_LD1: case SH_LD2: case SH_LD4: case SH_LD8: case SH_LD16: {
    NEEDV(0, 0);
    uint32_t a = use(t, t->nvs - 1);
    pop(t, 1);
    op_d(t, id, push_typed(t, CIS__V128));
    put(t, a);
    put(t, in->b);
    break;
  }
  case SH_LDL1: case SH_LDL2: case SH_LDL4: case SH_LDL8: {
    NEEDV(0, 1);
    NEEDV(1, 0);
    uint32_t v = use(t, t->nvs - 1), a = use(t, t->nvs - 2);
    pop(t, 2);
    op_d(t, id, push_typed(t, CIS__V128));
    put(t, a);
    put(t, v);
    put(t, in->b);
    put(t, (uint32_t)in->bits);
    break;
  }
  case SH_ST: case SH_STL1: case SH_STL2: case SH_STL4: case SH_STL8: {
    NEEDV(0, 1);
    NEEDV(1, 0);
    uint32_t v = use(t, t->nvs - 1), a = use(t, t->nvs - 2);
    op(t, id);
    put(t, a);
    put(t, v);
    put(t, in->b);
    if (so->shape != SH_ST) put(t, (uint32_t)in->bits);
    pop(t, 2);
    break;
  }
  case SH_CONST:
    op_d(t, id, push_typed(t, CIS__V128));
    put16(t, in->tab);
    break;
  default:
    return bad(t, "unknown 0xfd instruction");
  }
fail:
  return rc;
}

/* Translates one reachable instruction. */
/* ------------------------------------------------------------- GC (3.0) */

/* The layout of struct or array type x, into *out. */
static cis_result gc_layout(tr *t, uint32_t x, uint8_t comp, const cis__gclayout **out) {
  if (x >= t->m->ntypes || t->m->types[x].comp != comp) return bad(t, "not a struct or array type");
  *out = cis__gc_layout(t->mod, x);
  return *out ? CIS_OK : oom(t);
}

/* A cast's target, heap type vt (as a nullable reference): its abstract
 * kind (a type index: its composite's) and canonical id (UINT32_MAX for
 * an abstract one). */
static cis_result cast_target(tr *t, uint32_t vt, uint32_t *kind, uint32_t *id) {
  *id = UINT32_MAX;
  *kind = cis__vt_kind(vt);
  if (!cis__vt_has_idx(vt)) return CIS_OK;
  uint32_t x = cis__vt_idx(vt);
  if (x >= t->m->ntypes) return bad(t, "unknown type");
  *kind = cis__comp_kind(t->m->types[x].comp);
  *id = t->mod->type_ids[x];
  return CIS_OK;
}

/* Emits the gc op for wasm op op_ on the operands from slot base on. */
static void emit_gc(tr *t, uint32_t op_, uint32_t base, uint32_t a, uint32_t b, const cis__gclayout *la,
                    const cis__gclayout *lb) {
  op(t, CIS__IOP_gc);
  put(t, base);
  put(t, op_);
  put(t, a);
  put(t, b);
  put64(t, (uint64_t)(uintptr_t)la);
  put64(t, (uint64_t)(uintptr_t)lb);
  barrier(t);
}

/* GC's instructions: each is one gc op on its operands in consecutive
 * slots; br_on_cast tests a copy of the reference and branches as br_if
 * does on the answer. */
static cis_result translate_gc(tr *t, const ins *in) {
  cis_result rc = CIS_OK;
  uint32_t op_ = in->op, d;
  const cis__gclayout *la = NULL, *lb = NULL;
  switch (op_) {
  case CIS__OP_REF_TEST: case CIS__OP_REF_TEST_NULL: case CIS__OP_REF_CAST: case CIS__OP_REF_CAST_NULL: {
    uint32_t kind, id;
    NEED(1);
    CIS_TRY(cast_target(t, in->b, &kind, &id));
    bool nullable = op_ == CIS__OP_REF_TEST_NULL || op_ == CIS__OP_REF_CAST_NULL;
    materialize(t, t->nvs - 1);
    emit_gc(t, op_, slot_of(t, t->nvs - 1), kind | (nullable ? CIS__GC_NULLABLE : 0), id, NULL, NULL);
    if (op_ == CIS__OP_REF_TEST || op_ == CIS__OP_REF_TEST_NULL) { /* an i32 now */
      t->nobj -= t->vs[t->nvs - 1].obj;
      t->vs[t->nvs - 1].obj = 0;
    }
    return CIS_OK; /* ref.test's answer, or ref.cast's reference, in the same slot */
  }
  case CIS__OP_BR_ON_CAST: case CIS__OP_BR_ON_CAST_FAIL: {
    uint32_t kind, id;
    if (in->a >= t->ncs) return bad(t, "branch label out of range");
    ctl *c = &t->cs[t->ncs - 1 - in->a];
    if (label_arity(c) == 0) return bad(t, "br_on_cast to a label without values");
    NEED(label_arity(c));
    CIS_TRY(cast_target(t, in->b, &kind, &id));
    materialize(t, t->nvs - 1);
    uint32_t s = slot_of(t, t->nvs - 1);
    d = push_slot(t); /* the answer, above the reference, which stays */
    emit_mov(t, d, s);
    kind |= (in->c & 2 ? CIS__GC_NULLABLE : 0) | (op_ == CIS__OP_BR_ON_CAST_FAIL ? CIS__GC_NEGATE : 0);
    emit_gc(t, op_, d, kind, id, NULL, NULL);
    cond cd = {.kind = K_SLOT, .a = d};
    pop(t, 1);
    return br_cond(t, c, &cd);
  }
  default: break;
  }
  /* the operands, and the result's type in full (0: none) */
  uint32_t n = 0, res = CIS__ANYREF;
  const cis__functype *ft = in->a < t->m->ntypes ? &t->m->types[in->a] : NULL;
  switch (op_) {
  case CIS__OP_STRUCT_NEW: case CIS__OP_STRUCT_NEW_DEFAULT:
    CIS_TRY(gc_layout(t, in->a, CIS__COMP_STRUCT, &la));
    n = op_ == CIS__OP_STRUCT_NEW ? ft->nparams : 0;
    break;
  case CIS__OP_STRUCT_GET: case CIS__OP_STRUCT_GET_S: case CIS__OP_STRUCT_GET_U: case CIS__OP_STRUCT_SET:
    CIS_TRY(gc_layout(t, in->a, CIS__COMP_STRUCT, &la));
    if (in->b >= la->nfields) return bad(t, "unknown field");
    n = op_ == CIS__OP_STRUCT_SET ? 2 : 1;
    res = op_ == CIS__OP_STRUCT_SET ? 0 : vt_at(ft->types, ft->vts, in->b);
    break;
  case CIS__OP_ARRAY_NEW: case CIS__OP_ARRAY_NEW_DEFAULT: case CIS__OP_ARRAY_NEW_FIXED:
  case CIS__OP_ARRAY_NEW_DATA: case CIS__OP_ARRAY_NEW_ELEM:
    CIS_TRY(gc_layout(t, in->a, CIS__COMP_ARRAY, &la));
    n = op_ == CIS__OP_ARRAY_NEW_DEFAULT ? 1 : op_ == CIS__OP_ARRAY_NEW_FIXED ? in->b : 2;
    if (op_ == CIS__OP_ARRAY_NEW_DATA && in->b >= t->m->ndatas) return bad(t, "unknown data segment");
    if (op_ == CIS__OP_ARRAY_NEW_ELEM && in->b >= t->m->nelems) return bad(t, "unknown element segment");
    break;
  case CIS__OP_ARRAY_GET: case CIS__OP_ARRAY_GET_S: case CIS__OP_ARRAY_GET_U: case CIS__OP_ARRAY_SET:
  case CIS__OP_ARRAY_FILL: case CIS__OP_ARRAY_INIT_DATA: case CIS__OP_ARRAY_INIT_ELEM:
    CIS_TRY(gc_layout(t, in->a, CIS__COMP_ARRAY, &la));
    n = op_ == CIS__OP_ARRAY_SET ? 3 : op_ == CIS__OP_ARRAY_FILL || op_ >= CIS__OP_ARRAY_INIT_DATA ? 4 : 2;
    res = n == 2 ? vt_at(ft->types, ft->vts, 0) : 0;
    if (op_ == CIS__OP_ARRAY_INIT_DATA && in->b >= t->m->ndatas) return bad(t, "unknown data segment");
    if (op_ == CIS__OP_ARRAY_INIT_ELEM && in->b >= t->m->nelems) return bad(t, "unknown element segment");
    break;
  case CIS__OP_ARRAY_COPY:
    CIS_TRY(gc_layout(t, in->a, CIS__COMP_ARRAY, &la));
    CIS_TRY(gc_layout(t, in->b, CIS__COMP_ARRAY, &lb));
    n = 5;
    res = 0;
    break;
  case CIS__OP_ARRAY_LEN: case CIS__OP_I31_GET_S: case CIS__OP_I31_GET_U:
    n = 1;
    res = CIS__I32;
    break;
  default: /* ref.i31, any.convert_extern, extern.convert_any */
    n = 1;
    break;
  }
  NEED(n);
  uint32_t base = t->nvs - n;
  for (uint32_t p = base; p < t->nvs; p++) materialize(t, p);
  uint32_t a = op_ >= CIS__OP_STRUCT_GET && op_ <= CIS__OP_STRUCT_SET ? in->b
               : op_ == CIS__OP_ARRAY_NEW_FIXED || op_ == CIS__OP_ARRAY_NEW_DATA || op_ == CIS__OP_ARRAY_NEW_ELEM ||
                         op_ == CIS__OP_ARRAY_INIT_DATA || op_ == CIS__OP_ARRAY_INIT_ELEM
                   ? in->b
                   : 0;
  emit_gc(t, op_, slot_of(t, base), a, 0, la, lb);
  if (cis__gc_op_collects(op_)) CIS_TRY(map_site(t, base));
  pop(t, n);
  if (res) push_typed(t, res); /* a packed field's is an i32 */
fail:
  return rc;
}

static cis_result translate_ins(tr *t, const ins *in) {
  const cis__module *m = t->m;
  cis_result rc = CIS_OK;
  uint32_t op_ = in->op;

  if (numops[op_].arity) {
    const numop *n = &numops[op_];
    NEED(n->arity);
    if (n->arity == 1) unop(t, n->ss);
    else if (!((op_ == CIS__OP_I32_ADD || op_ == CIS__OP_I32_SUB) && defer_add(t, op_))) binop(t, n);
    return CIS_OK;
  }
  if (op_ >= CIS__OP_I32_LOAD && op_ <= CIS__OP_I64_STORE32) {
    CIS_TRY(need_memory(t, in->c));
    if (in->c || m->memories[in->c].is64) return translate_memx(t, in);
    int id = memops[op_ - CIS__OP_I32_LOAD]; /* family: +M_ACC, +M_ADD (ops.def) */
    if (op_ <= CIS__OP_I64_LOAD32_U) { /* load: [op][d][addr][offset] or [op][d][base][imm][offset] */
      NEED(1);
      const vent *e = &t->vs[t->nvs - 1];
      if (fuse_index_load(t, id, t->nvs - 1, slot_of(t, t->nvs - 1))) {
        pop(t, 1);
        push_slot(t);
      } else if (e->kind == V_ADD) {
        uint32_t base = e->local, imm = (uint32_t)e->bits;
        id += M_ADD + (in_acc(t, base, ACC_I) ? M_ACC : 0);
        pop(t, 1);
        op_d(t, id, push_slot(t));
        put(t, base);
        put(t, imm);
      } else {
        uint32_t a = use(t, t->nvs - 1);
        id += in_acc(t, a, ACC_I) ? M_ACC : 0;
        pop(t, 1);
        op_d(t, id, push_slot(t));
        put(t, a);
      }
      put(t, in->b);
    } else { /* store: [op][addr][value][offset] or [op][base][value][imm][offset] */
      NEED(2);
      const vent *e = &t->vs[t->nvs - 2];
      uint32_t v = use(t, t->nvs - 1);
      bool add = e->kind == V_ADD;
      uint32_t a = add ? e->local : use(t, t->nvs - 2);
      if (in_acc(t, v, ACC_I)) { /* value from the integer accumulator */
        if (id == CIS__IOP_st64 && !add && fuse_add_store(t, a, v, in->b)) {
          pop(t, 2);
          return CIS_OK;
        }
        id += M_ACC + (add ? M_ADD : 0);
      } else if (id == CIS__IOP_st64 && in_acc(t, v, ACC_D)) { /* an f64 just computed */
        if (!add && fuse_add_store(t, a, v, in->b)) {
          pop(t, 2);
          return CIS_OK;
        }
        id = add ? CIS__IOP_stf64_add_v : CIS__IOP_stf64_v;
      } else {
        id += add ? M_ADD : 0;
      }
      op(t, id);
      put(t, a);
      put(t, v);
      if (add) put(t, (uint32_t)e->bits);
      put(t, in->b);
      pop(t, 2);
    }
    return CIS_OK;
  }

  switch (op_) {
  case CIS__OP_UNREACHABLE: /* unreachable */
    op(t, CIS__IOP_unreachable);
    t->dead = true;
    break;
  case CIS__OP_NOP: /* nop */
    break;
  case CIS__OP_BLOCK: /* block */
    materialize_all(t);
    CIS_TRY(push_ctl(t, C_BLOCK, in->bt));
    break;
  case CIS__OP_LOOP: { /* loop */
    materialize_all(t);
    CIS_TRY(push_ctl(t, C_LOOP, in->bt));
    ctl *c = &t->cs[t->ncs - 1];
    c->label = t->ncode;
    c->count0 = t->count;
    t->loops++;
    barrier(t);
    break;
  }
  case CIS__OP_IF: { /* if */
    NEED(1);
    cond cd;
    take_cond(t, &cd);
    materialize_all(t);
    size_t site = emit_cond_jump(t, &cd, false, false);
    CIS_TRY(push_ctl(t, C_IF, in->bt));
    t->cs[t->ncs - 1].else_site = site;
    break;
  }
  case CIS__OP_ELSE: /* else */
    return do_else(t);
  case CIS__OP_TRY_TABLE: /* try_table */
    return do_try_table(t, in);
  case CIS__OP_TRY: { /* try (legacy) */
    uint32_t hid;
    materialize_all(t);
    CIS_TRY(open_handler(t, &hid));
    CIS_TRY(push_ctl(t, C_TRY, in->bt));
    t->cs[t->ncs - 1].hid = hid;
    break;
  }
  case CIS__OP_CATCH: case CIS__OP_CATCH_ALL: /* catch, catch_all (legacy) */
    return do_catch(t, in);
  case CIS__OP_DELEGATE: { /* delegate (legacy): ends the try; its exceptions go to label x outside it */
    ctl *c = &t->cs[t->ncs - 1];
    if (c->kind != C_TRY || t->ncs < 2 || in->a > t->ncs - 2) return bad(t, "delegate without try");
    t->hnd[c->hid].next = handler_at(t, t->ncs - 2 - in->a);
    return do_end(t);
  }
  case CIS__OP_RETHROW: /* rethrow (legacy) */
    return do_rethrow(t, in->a);
  case CIS__OP_THROW: { /* throw: the tag's values in consecutive slots, as a call's arguments */
    const uint8_t *types = NULL;
    const uint32_t *vts = NULL;
    uint32_t n = 0; /* set by tag_params */
    CIS_TRY(tag_params(t, in->a, &types, &vts, &n));
    NEED(n);
    uint32_t base = t->nvs - n;
    for (uint32_t p = base; p < t->nvs; p++) materialize(t, p);
    op(t, CIS__IOP_throw);
    put(t, in->a);
    put(t, slot_of(t, base));
    t->dead = true;
    break;
  }
  case CIS__OP_THROW_REF: { /* throw_ref */
    NEED(1);
    uint32_t s = use(t, t->nvs - 1);
    op(t, CIS__IOP_throw_ref);
    put(t, s);
    t->dead = true;
    break;
  }
  case CIS__OP_END: /* end */
    return do_end(t);
  case CIS__OP_BR: /* br */
    if (in->a >= t->ncs) return bad(t, "branch label out of range");
    NEED(label_arity(&t->cs[t->ncs - 1 - in->a]));
    CIS_TRY(emit_br(t, &t->cs[t->ncs - 1 - in->a]));
    t->dead = true;
    break;
  case CIS__OP_BR_IF: /* br_if */
    if (in->a >= t->ncs) return bad(t, "branch label out of range");
    NEED(1 + label_arity(&t->cs[t->ncs - 1 - in->a]));
    return emit_br_if(t, &t->cs[t->ncs - 1 - in->a]);
  case CIS__OP_BR_TABLE: /* br_table */
    NEED(1);
    if (in->a >= t->ncs) return bad(t, "branch label out of range");
    CIS_TRY(emit_br_table(t, in));
    t->dead = true;
    break;
  case CIS__OP_RETURN: /* return */
    NEED(t->cs[0].nresults);
    emit_return(t);
    t->dead = true;
    break;
  case CIS__OP_CALL: case CIS__OP_CALL_INDIRECT: /* call, call_indirect, call_ref */
  case CIS__OP_RETURN_CALL: case CIS__OP_RETURN_CALL_INDIRECT: case CIS__OP_CALL_REF:
  case CIS__OP_RETURN_CALL_REF: {
    /* A tail call puts its arguments in place as a call does; the
     * executor moves them to the frame's base and runs the callee in
     * this frame. */
    bool tail = op_ == CIS__OP_RETURN_CALL || op_ == CIS__OP_RETURN_CALL_INDIRECT || op_ == CIS__OP_RETURN_CALL_REF;
    bool direct = op_ == CIS__OP_CALL || op_ == CIS__OP_RETURN_CALL;
    bool by_ref = op_ == CIS__OP_CALL_REF || op_ == CIS__OP_RETURN_CALL_REF;
    uint32_t extra = direct ? 0 : 1;
    const cis__functype *ft;
    if (direct) {
      if (in->a >= m->nfuncs || m->func_type[in->a] >= m->ntypes)
        return bad(t, "unknown function");
      ft = cis__module_func_type(m, in->a);
    } else {
      if (in->a >= m->ntypes) return bad(t, "unknown type");
      if (!by_ref) CIS_TRY(need_table(t, in->b));
      ft = &m->types[in->a];
    }
    NEED((size_t)ft->nparams + extra);
    if (!direct && !by_ref && m->tables[in->b].limits.is64) unop(t, CIS__IOP_table_index64);
    uint32_t elem = extra ? use(t, t->nvs - 1) : 0;
    uint32_t base = t->nvs - extra - ft->nparams;
    for (uint32_t p = base; p < base + ft->nparams; p++) materialize(t, p);
    if (direct) {
      bool imported = in->a < m->nfunc_imports;
      op(t, tail ? (imported ? CIS__IOP_return_call_import : CIS__IOP_return_call)
                 : (imported ? CIS__IOP_call_import : CIS__IOP_call));
      put(t, imported ? in->a : in->a - m->nfunc_imports);
    } else if (by_ref) {
      op(t, tail ? CIS__IOP_return_call_ref : CIS__IOP_call_ref);
      put(t, elem);
    } else {
      op(t, tail ? CIS__IOP_return_call_indirect : CIS__IOP_call_indirect);
      put(t, t->mod->type_ids[in->a]);
      put(t, in->b);
      put(t, elem);
    }
    put(t, slot_of(t, base));
    /* a call within the module names its callee's descriptor too, which
     * spares the executor an index computation per call */
    if (direct && !tail && in->a >= m->nfunc_imports)
      put64(t, (uint64_t)(uintptr_t)&t->funcs[in->a - m->nfunc_imports]);
    if (tail) { /* the frame is gone while the callee runs */
      t->dead = true;
      break;
    }
    CIS_TRY(map_site(t, base));
    pop(t, ft->nparams + extra);
    CIS_TRY(reserve_vs(t, ft->nresults));
    for (uint32_t i = 0; i < ft->nresults; i++) push_typed(t, vt_at(ft->types, ft->vts, ft->nparams + i));
    break;
  }
  case CIS__OP_DROP: /* drop */
    NEED(1);
    pop(t, 1);
    break;
  case CIS__OP_SELECT: case CIS__OP_SELECT_T: { /* select */
    NEED(3);
    uint32_t c = use(t, t->nvs - 1), b = use(t, t->nvs - 2), a = use(t, t->nvs - 3);
    uint32_t d = slot_of(t, t->nvs - 3);
    uint8_t wide = t->vs[t->nvs - 3].wide, obj = t->vs[t->nvs - 3].obj;
    op_d(t, wide ? CIS__IOP_select128 : CIS__IOP_select, d);
    put(t, a);
    put(t, b);
    put(t, c);
    pop(t, 3);
    vent r = {.kind = V_SLOT, .wide = wide, .obj = obj};
    push_entry(t, r);
    break;
  }
  case CIS__OP_LOCAL_GET: { /* local.get */
    if (in->a >= t->nl) return bad(t, "unknown local");
    vent e = {.kind = V_LOCAL, .wide = t->lwide[in->a], .obj = t->lobj[in->a], .local = t->lslot[in->a]};
    push_entry(t, e);
    break;
  }
  case CIS__OP_LOCAL_SET: case CIS__OP_LOCAL_TEE: /* local.set, local.tee */
    if (in->a >= t->nl) return bad(t, "unknown local");
    NEED(1);
    if (t->vs[t->nvs - 1].wide != t->lwide[in->a]) return bad(t, "local type mismatch");
    set_local(t, t->lslot[in->a], op_ == CIS__OP_LOCAL_TEE);
    break;
  case CIS__OP_GLOBAL_GET: /* global.get */
    if (in->a >= m->nglobals) return bad(t, "unknown global");
    if (m->globals[in->a].type.type == CIS__V128) op_d(t, CIS__IOP_global_get128, push_typed(t, CIS__V128));
    else op_d(t, CIS__IOP_global_get, push_typed(t, m->globals[in->a].type.vt));
    put(t, in->a);
    break;
  case CIS__OP_GLOBAL_SET: { /* global.set */
    if (in->a >= m->nglobals) return bad(t, "unknown global");
    NEED(1);
    uint8_t wide = t->vs[t->nvs - 1].wide;
    if (wide != (m->globals[in->a].type.type == CIS__V128)) return bad(t, "global type mismatch");
    uint32_t s = use(t, t->nvs - 1);
    keep_exn(t, m->globals[in->a].type.type, s);
    op(t, wide ? CIS__IOP_global_set128 : CIS__IOP_global_set);
    put(t, in->a);
    put(t, s);
    pop(t, 1);
    break;
  }
  case CIS__OP_TABLE_GET: { /* table.get */
    CIS_TRY(need_table(t, in->a));
    NEED(1);
    uint32_t i = use(t, t->nvs - 1);
    pop(t, 1);
    op_d(t, CIS__IOP_table_get, push_typed(t, m->tables[in->a].vt));
    put(t, in->a);
    put(t, i);
    break;
  }
  case CIS__OP_TABLE_SET: { /* table.set */
    CIS_TRY(need_table(t, in->a));
    NEED(2);
    uint32_t v = use(t, t->nvs - 1), i = use(t, t->nvs - 2);
    keep_exn(t, m->tables[in->a].elem, v);
    op(t, CIS__IOP_table_set);
    put(t, in->a);
    put(t, i);
    put(t, v);
    pop(t, 2);
    break;
  }
  case CIS__OP_MEMORY_SIZE: /* memory.size */
    CIS_TRY(need_memory(t, in->c));
    op_d(t, CIS__IOP_memory_size, push_slot(t));
    put(t, in->c);
    break;
  case CIS__OP_MEMORY_GROW: { /* memory.grow */
    CIS_TRY(need_memory(t, in->c));
    NEED(1);
    uint32_t s = use(t, t->nvs - 1);
    pop(t, 1);
    op_d(t, CIS__IOP_memory_grow, push_slot(t));
    put(t, s);
    put(t, in->c);
    break;
  }
  case CIS__OP_I32_CONST: case CIS__OP_I64_CONST: case CIS__OP_F32_CONST:
  case CIS__OP_F64_CONST:
    push_const(t, in->bits);
    break;
  case CIS__OP_I32_WRAP_I64: /* i32.wrap_i64: keep the slot zero-extended */
  case CIS__OP_I64_EXTEND_I32_U: /* i64.extend_i32_u */
    NEED(1);
    if (t->vs[t->nvs - 1].kind == V_CONST) t->vs[t->nvs - 1].bits &= 0xffffffffu;
    else if (!zero_extended(t, t->nvs - 1) && !(op_ == CIS__OP_I32_WRAP_I64 && below_2_32(t, t->nvs - 1)))
      unop(t, CIS__IOP_i64_extend_i32_u);
    break;
  case CIS__OP_I64_EXTEND_I32_S: /* i64.extend_i32_s */
    NEED(1);
    if (t->vs[t->nvs - 1].kind == V_CONST)
      t->vs[t->nvs - 1].bits = (uint64_t)(int64_t)(int32_t)(uint32_t)t->vs[t->nvs - 1].bits;
    else unop(t, CIS__IOP_i64_extend32_s);
    break;
  case CIS__OP_I32_REINTERPRET_F32: case CIS__OP_I64_REINTERPRET_F64:
  case CIS__OP_F32_REINTERPRET_I32: case CIS__OP_F64_REINTERPRET_I64: /* same bits */
    NEED(1);
    break;
  case CIS__OP_REF_NULL: /* ref.null */
    push_const(t, 0);
    break;
  case CIS__OP_REF_IS_NULL: /* ref.is_null */
    NEED(1);
    unop(t, CIS__IOP_i64_eqz);
    break;
  case CIS__OP_REF_EQ: /* ref.eq: the same reference (only null ones exist yet) */
    NEED(2);
    binop(t, &numops[CIS__OP_I64_EQ]);
    break;
  case CIS__OP_REF_FUNC: /* ref.func */
    if (in->a >= m->nfuncs) return bad(t, "unknown function");
    op_d(t, CIS__IOP_ref_func, push_slot(t));
    put(t, in->a);
    break;
  case CIS__OP_REF_AS_NON_NULL: { /* ref.as_non_null: the value stays */
    NEED(1);
    uint32_t s = use(t, t->nvs - 1);
    op(t, CIS__IOP_ref_as_non_null);
    put(t, s);
    break;
  }
  case CIS__OP_BR_ON_NULL: case CIS__OP_BR_ON_NON_NULL: /* br_on_null, br_on_non_null */
    if (in->a >= t->ncs) return bad(t, "branch label out of range");
    NEED(1 + label_arity(&t->cs[t->ncs - 1 - in->a]) - (op_ == CIS__OP_BR_ON_NON_NULL));
    if (op_ == CIS__OP_BR_ON_NON_NULL && label_arity(&t->cs[t->ncs - 1 - in->a]) == 0)
      return bad(t, "br_on_non_null to a label without values");
    return emit_br_on(t, &t->cs[t->ncs - 1 - in->a], op_ == CIS__OP_BR_ON_NULL);
  default:
    if (cis__op_is_gc((enum cis__op)op_)) return translate_gc(t, in);
    if (simdops[op_].shape != SH_NONE) return translate_fd(t, in);
    if (cis__op_info((enum cis__op)op_)->prefix == CIS__PREFIX_FC) return translate_fc(t, in);
    return bad(t, "unknown or unsupported instruction");
  }
fail:
  return rc;
}

/* Worst-case code units one instruction can emit, before br_table stubs. */
static size_t worst_units(const tr *t, const ins *in) {
  size_t n = 48 + 2 * mat_units(t->nvs);
  if (in->op == CIS__OP_BR_TABLE) n += (size_t)in->ntab + 1;
  return n;
}

/* ----------------------------------------------------------- functions */

/* Gives the br_table stub bookkeeping an entry per open construct; new
 * entries carry no stamp. */
static cis_result stub_room(tr *t) {
  if (t->ncs <= t->capstub) return CIS_OK;
  size_t ncap = t->capstub ? (size_t)t->capstub * 2 : 16;
  while (ncap < t->ncs) ncap *= 2;
  uint32_t *g = realloc(t->stub_gen, ncap * sizeof *g);
  if (!g) return oom(t);
  t->stub_gen = g;
  size_t *a = realloc(t->stub_at, ncap * sizeof *a);
  if (!a) return oom(t);
  t->stub_at = a;
  memset(g + t->capstub, 0, (ncap - t->capstub) * sizeof *g);
  t->capstub = (uint32_t)ncap;
  return CIS_OK;
}

/* Counts the constants that code inside loops may read (an upper bound of
 * the constant slots the function needs), in one pass over the body. */
static cis_result count_loop_consts(tr *t, uint32_t *out) {
  uint32_t n = 0, depth = 0, ndepth = 0;
  uint32_t *loopdepth = NULL; /* per open construct: 1 when it is a loop */
  uint32_t cap = 0, loops = 0;
  ins in;
  const uint8_t *save = t->p;
  cis_result rc = CIS_OK;
  depth = 1;
  while (depth > 0) {
    if (!read_ins(t, &in)) break; /* translation proper reports it */
    if (in.op == CIS__OP_BLOCK || in.op == CIS__OP_LOOP || in.op == CIS__OP_IF || in.op == CIS__OP_TRY ||
        in.op == CIS__OP_TRY_TABLE) {
      if (!grow((void **)&loopdepth, &cap, (size_t)ndepth + 1, sizeof *loopdepth)) {
        rc = oom(t);
        break;
      }
      loopdepth[ndepth++] = in.op == CIS__OP_LOOP;
      loops += in.op == CIS__OP_LOOP;
      depth++;
    } else if (in.op == CIS__OP_END || in.op == CIS__OP_DELEGATE) {
      depth--;
      if (ndepth) loops -= loopdepth[--ndepth];
    } else if (loops && ((in.op >= CIS__OP_I32_CONST && in.op <= CIS__OP_F64_CONST) ||
                         in.op == CIS__OP_REF_NULL)) {
      n++;
    }
  }
  free(loopdepth);
  t->p = save;
  *out = n > 4096 ? 4096 : n; /* beyond that, constants are written inline */
  return rc;
}

/* Reserves the constant slots and their lookup table for one function. */
static cis_result setup_consts(tr *t) {
  uint32_t n = 0;
  cis_result rc = count_loop_consts(t, &n);
  if (rc != CIS_OK) return rc;
  uint32_t kmax = 1;
  while (kmax < n) kmax *= 2; /* a power of two, so the table masks */
  if (n == 0) kmax = 0;
  if (kmax > t->capk) {
    uint64_t *kv = realloc(t->kval, (size_t)kmax * sizeof *kv);
    if (!kv) return oom(t);
    t->kval = kv;
    uint32_t *kh = realloc(t->khash, (size_t)kmax * 2 * sizeof *kh);
    if (!kh) return oom(t);
    t->khash = kh;
    t->capk = kmax;
  }
  if (kmax) memset(t->khash, 0, (size_t)kmax * 2 * sizeof *t->khash);
  t->kmax = kmax;
  t->kused = 0;
  return CIS_OK;
}

/* Appends a function's initial slots (zeroed declared locals, then its
 * constants) to the pool; returns their position there in *at. */
static cis_result add_init(tr *t, uint32_t nzero, size_t *at) {
  size_t n = (size_t)nzero + t->kused;
  if (t->ninit + n > t->capinit) {
    size_t ncap = t->capinit ? t->capinit * 2 : 256;
    while (ncap < t->ninit + n) ncap *= 2;
    cis_slot *ni = realloc(t->init, ncap * sizeof *ni);
    if (!ni) return oom(t);
    t->init = ni;
    t->capinit = ncap;
  }
  *at = t->ninit;
  if (nzero) memset(t->init + t->ninit, 0, (size_t)nzero * sizeof *t->init);
  for (uint32_t k = 0; k < t->kused; k++) t->init[t->ninit + nzero + k].u64 = t->kval[k];
  t->ninit += n;
  return CIS_OK;
}

/* Gives each parameter and declared local of the function its first
 * slot (t->lslot, t->lwide, t->nls): in order, two slots for a v128. */
static cis_result layout_locals(tr *t, const cis__functype *ft, const cis__code *body) {
  if (!grow((void **)&t->lslot, &t->caplocal, (size_t)t->nl + 1, sizeof *t->lslot) ||
      !grow((void **)&t->lwide, &t->caplwide, (size_t)t->nl + 1, sizeof *t->lwide) ||
      !grow((void **)&t->lobj, &t->caplobj, (size_t)t->nl + 1, sizeof *t->lobj))
    return oom(t);
  uint32_t n = 0, slot = 0;
  t->nlobj = 0;
  for (uint32_t i = 0; i < ft->nparams; i++, n++) {
    t->lslot[n] = slot;
    t->lwide[n] = ft->types[i] == CIS__V128;
    t->lobj[n] = cis__gc_vt_obj(t->m, vt_at(ft->types, ft->vts, i));
    t->nlobj += t->lobj[n];
    slot += 1 + t->lwide[n];
  }
  const uint8_t *q = body->locals, *end = body->body;
  for (uint32_t g = 0; g < body->nlocal_groups; g++) {
    uint32_t cnt, vt;
    if (!cis__read_u32(&q, end, &cnt) || cnt > t->nl - n || cis__read_valtype(&q, end, true, &vt))
      return bad(t, "malformed locals");
    uint8_t wide = vt == CIS__V128, obj = cis__gc_vt_obj(t->m, vt);
    for (uint32_t k = 0; k < cnt; k++, n++) {
      t->lslot[n] = slot;
      t->lwide[n] = wide;
      t->lobj[n] = obj;
      slot += 1 + wide;
    }
    t->nlobj += obj ? cnt : 0;
  }
  if (n != t->nl) return bad(t, "malformed locals");
  t->nls = slot;
  return CIS_OK;
}

/* Translates defined function i into t->code and t->init (both from 0),
 * and fills the sizes in *f (ninit, nslots, cost, need, ncode). */
/* ------------------------------------------------------ the offset map */

/* Whether a trap's backtrace can point at op: it can trap, or it calls
 * (a frame of the backtrace then resumes after it). Only these get an
 * entry in the offset map, which keeps it small. */
static bool traps_or_calls(uint32_t op) {
  uint8_t imm = cis__op_info((enum cis__op)op)->imm;
  if (imm == CIS__IMM_MEMARG || imm == CIS__IMM_MEMARG_LANE) return true; /* loads and stores */
  switch (op) {
  case CIS__OP_UNREACHABLE: case CIS__OP_CALL: case CIS__OP_CALL_INDIRECT: case CIS__OP_RETURN_CALL:
  case CIS__OP_RETURN_CALL_INDIRECT: case CIS__OP_CALL_REF: case CIS__OP_RETURN_CALL_REF:
  case CIS__OP_REF_AS_NON_NULL:
  case CIS__OP_TABLE_GET: case CIS__OP_TABLE_SET:
  case CIS__OP_I32_DIV_S: case CIS__OP_I32_DIV_U: case CIS__OP_I32_REM_S: case CIS__OP_I32_REM_U:
  case CIS__OP_I64_DIV_S: case CIS__OP_I64_DIV_U: case CIS__OP_I64_REM_S: case CIS__OP_I64_REM_U:
  case CIS__OP_I32_TRUNC_F32_S: case CIS__OP_I32_TRUNC_F32_U: case CIS__OP_I32_TRUNC_F64_S:
  case CIS__OP_I32_TRUNC_F64_U: case CIS__OP_I64_TRUNC_F32_S: case CIS__OP_I64_TRUNC_F32_U:
  case CIS__OP_I64_TRUNC_F64_S: case CIS__OP_I64_TRUNC_F64_U:
  case CIS__OP_MEMORY_INIT: case CIS__OP_MEMORY_COPY: case CIS__OP_MEMORY_FILL:
  case CIS__OP_TABLE_INIT: case CIS__OP_TABLE_COPY: case CIS__OP_TABLE_FILL:
    return true;
  default:
    return cis__op_is_gc((enum cis__op)op);
  }
}

/* Records that the code from position pos on (this instruction's, its
 * operand moves first) comes from the wasm instruction at `at`. */
static cis_result map_offset(tr *t, size_t pos, const uint8_t *at) {
  /* positions must grow: code an entry started at was rewritten by this
   * instruction, which now owns it */
  while (t->nomap && t->omap[2 * (t->nomap - 1)] >= pos) t->nomap--;
  if (!grow((void **)&t->omap, &t->capomap, 2 * ((size_t)t->nomap + 1), sizeof *t->omap)) return oom(t);
  t->omap[2 * t->nomap] = (uint32_t)pos;
  t->omap[2 * t->nomap + 1] = (uint32_t)(at - t->m->bytes);
  t->nomap++;
  return CIS_OK;
}

static size_t uleb_put(uint8_t *out, uint64_t v) {
  size_t n = 0;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    if (out) out[n] = (uint8_t)(b | (v ? 0x80 : 0));
    n++;
  } while (v);
  return n;
}

/* Encodes the map as the translation keeps it, after the code: per entry
 * the code position's distance from the previous one (the first from -1,
 * so never 0) and the offset's from the previous one (the first from the
 * body's start), LEB128 each, then a 0 byte. Both grow: the translator
 * walks the body in order. Returns the bytes written (out NULL: needed). */
static size_t encode_map(const tr *t, uint8_t *out) {
  size_t n = 0;
  uint64_t pos = (uint64_t)-1, off = (uint64_t)(t->body - t->m->bytes);
  for (uint32_t k = 0; k < t->nomap; k++) {
    n += uleb_put(out ? out + n : NULL, t->omap[2 * k] - pos);
    n += uleb_put(out ? out + n : NULL, t->omap[2 * k + 1] - off);
    pos = t->omap[2 * k];
    off = t->omap[2 * k + 1];
  }
  if (out) out[n] = 0;
  return n + 1;
}

bool cis__interp_wasm_offset(const cis__module *m, const cis__ifunc *f, size_t pos, bool after, uint32_t *off) {
  const uint32_t *code = cis__interp_code(f);
  if (!code || f->index < m->nfunc_imports || f->index - m->nfunc_imports >= m->ncodes) return false;
  const uint8_t *p = (const uint8_t *)(code + f->ncode + f->nhnd + f->ngcmap);
  uint64_t cpos = (uint64_t)-1, coff = (uint64_t)(m->codes[f->index - m->nfunc_imports].body - m->bytes);
  bool found = false;
  for (;;) {
    uint64_t d[2];
    for (int k = 0; k < 2; k++) {
      d[k] = 0;
      for (unsigned sh = 0;; sh += 7) {
        uint8_t b = *p++;
        if (sh < 64) d[k] |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80)) break;
      }
      if (k == 0 && d[0] == 0) return found; /* the end */
    }
    cpos += d[0];
    coff += d[1];
    /* A trap is at its instruction; a caller's frame resumes after its call. */
    if (after ? cpos >= pos : cpos > pos) return found;
    *off = (uint32_t)coff;
    found = true;
  }
}

/* Encodes the stack map into out (NULL: only counts) and returns its
 * units; 0 when no slot of the function ever holds a reference of any's
 * or extern's hierarchy (no map needed). Layout: the sites' count (0 when
 * the map gave up its sites, map_site), the reference locals' count,
 * their slots, the sites' code positions (ascending: the order they were
 * emitted in), their first operand slot in the list below, one more (the
 * list's end), then the list of operand slots. */
static size_t encode_gcmap(const tr *t, uint32_t *out) {
  if (!t->nlobj && !t->npool && !t->gover) return 0;
  uint32_t ns = t->gover ? 0 : t->nsite, np = t->gover ? 0 : t->npool;
  size_t n = 3 + (size_t)t->nlobj + 2 * (size_t)ns + np;
  if (!out) return n;
  *out++ = ns;
  *out++ = t->nlobj;
  for (uint32_t i = 0; i < t->nl; i++)
    if (t->lobj[i]) *out++ = t->lslot[i];
  for (uint32_t k = 0; k < ns; k++) *out++ = t->gsite[2 * k];
  for (uint32_t k = 0; k < ns; k++) *out++ = t->gsite[2 * k + 1];
  *out++ = np;
  if (np) memcpy(out, t->gpool, (size_t)np * sizeof *out);
  return n;
}

bool cis__interp_gc_slots(const cis__ifunc *f, size_t pos, const uint32_t **loc, uint32_t *nloc,
                          const uint32_t **ops, uint32_t *nops) {
  const uint32_t *g = f->gcmap;
  uint32_t ns = g[0];
  *nloc = g[1];
  *loc = g + 2;
  const uint32_t *keys = g + 2 + g[1], *first = keys + ns, *list = first + ns + 1;
  uint32_t lo = 0, hi = ns;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (keys[mid] < pos) lo = mid + 1;
    else hi = mid;
  }
  if (lo == ns || keys[lo] != pos) return false;
  *ops = list + first[lo];
  *nops = first[lo + 1] - first[lo];
  return true;
}

static cis_result translate_func(tr *t, uint32_t i, cis__ifunc *f) {
  const cis__module *m = t->m;
  const cis__code *body = &m->codes[i];
  uint32_t fidx = m->nfunc_imports + i;
  cis_result rc = CIS_OK;
  ins in;

  t->func = fidx;
  t->p = t->body = NULL;
  t->ncode = 0;
  t->ninit = 0;
  if (m->func_type[fidx] >= m->ntypes) return bad(t, "unknown type");
  const cis__functype *ft = cis__module_func_type(m, fidx);
  if ((uint64_t)ft->nparams + body->nlocals > CIS__MAX_LOCALS + (uint64_t)CIS__MAX_PARAMS)
    return cis__fail(t->msg, CIS_ETOOBIG, "function %u: too many locals", fidx);
  t->nl = ft->nparams + body->nlocals;
  CIS_TRY(layout_locals(t, ft, body));
  if (!grow((void **)&t->refcnt, &t->caprc, (size_t)t->nls + 1, sizeof *t->refcnt)) return oom(t);
  memset(t->refcnt, 0, ((size_t)t->nls + 1) * sizeof *t->refcnt);
  t->nvs = t->maxh = t->defer_lo = t->nobj = 0;
  t->nsite = t->npool = 0;
  t->gwork = 0;
  t->gover = false;
  t->ncs = 0;
  t->npatch = 1;
  t->count = 0;
  t->dead = false;
  t->dead_nest = 0;
  t->loops = 0;
  t->body = body->body;
  t->p = body->body;
  t->end = body->body + body->body_len;
  barrier(t);
  /* Declared locals start at zero: until the first label, a write of zero
   * to one not yet written is dropped. */
  if (!grow((void **)&t->zero, &t->capzero, (size_t)t->nls + 1, sizeof *t->zero)) return oom(t);
  memset(t->zero, 0, (size_t)t->nls);
  for (uint32_t k = ft->nparams; k < t->nl; k++)
    if (!t->lwide[k]) t->zero[t->lslot[k]] = 1;
  t->zero_known = true;
  CIS_TRY(setup_consts(t));
  t->sbase = t->nls + t->kmax;
  CIS_TRY(reserve_vs(t, 16));
  if (!grow((void **)&t->cs, &t->capcs, 16, sizeof *t->cs)) return oom(t);
  memset(&t->cs[0], 0, sizeof t->cs[0]);
  t->cs[0].kind = C_FUNC;
  t->cs[0].nresults = ft->nresults;
  t->cs[0].rtypes = ft->types + ft->nparams;
  t->cs[0].rvts = ft->vts ? ft->vts + ft->nparams : NULL;
  t->cs[0].label = t->cs[0].else_site = NONE;
  t->ncs = 1;

  t->nomap = 0;
  t->nhnd = t->nhcl = 0;
  while (t->ncs > 0) {
    const uint8_t *at = t->p; /* where the instruction starts, for the offset map */
    if (!read_ins(t, &in)) return bad(t, "malformed instruction");
    if (t->dead) { /* skip to the else/catch/end of the current construct */
      bool arm = in.op == CIS__OP_ELSE || in.op == CIS__OP_CATCH || in.op == CIS__OP_CATCH_ALL;
      bool close = in.op == CIS__OP_END || in.op == CIS__OP_DELEGATE;
      if (in.op == CIS__OP_BLOCK || in.op == CIS__OP_LOOP || in.op == CIS__OP_IF || in.op == CIS__OP_TRY ||
          in.op == CIS__OP_TRY_TABLE) {
        t->dead_nest++;
        continue;
      }
      if (arm && t->dead_nest) continue;
      if (close && t->dead_nest) {
        t->dead_nest--;
        continue;
      }
      if (!arm && !close) continue;
    }
    t->count++;
    CIS_TRY(reserve(t, worst_units(t, &in)));
    CIS_TRY(reserve_vs(t, 2));
    if (in.op == CIS__OP_BR_TABLE) CIS_TRY(stub_room(t));
    t->low = t->ncode;
    CIS_TRY(translate_ins(t, &in));
    if (t->ncode > t->low && traps_or_calls(in.op)) CIS_TRY(map_offset(t, t->low, at));
  }
  if (t->p != t->end) return bad(t, "code after the end of the function");
  CIS_TRY(encode_handlers(t));

  uint32_t npslots = type_slots(ft->types, ft->nparams);
  uint32_t nrslots = type_slots(ft->types + ft->nparams, ft->nresults);
  uint64_t nslots = (uint64_t)t->sbase + t->maxh;
  if (nslots < nrslots) nslots = nrslots;
  if (nslots > UINT32_MAX / 2)
    return cis__fail(t->msg, CIS_ETOOBIG, "function %u: frame too large", fidx);
  size_t ngc = encode_gcmap(t, NULL);
  if (ngc > UINT32_MAX) return cis__fail(t->msg, CIS_ETOOBIG, "function %u: stack map too large", fidx);
  size_t at = 0;
  CIS_TRY(add_init(t, t->nls - npslots, &at));
  f->ngcmap = (uint32_t)ngc;
  f->ncode = t->ncode;
  f->ninit = t->nls - npslots + t->kused;
  f->index = fidx;
  f->nparams = npslots;
  f->nresults = nrslots;
  f->nslots = (uint32_t)nslots;
  f->cost = t->count > UINT32_MAX ? UINT32_MAX : (uint32_t)t->count;
  f->need = (size_t)nslots * sizeof(cis_slot) + sizeof(cis__iret);
fail:
  return rc;
}

static void tr_free(tr *t) {
  if (!t) return;
  free(t->lslot);
  free(t->lwide);
  free(t->zero);
  free(t->lobj);
  free(t->gsite);
  free(t->gpool);
  free(t->code);
  free(t->vs);
  free(t->cs);
  free(t->refcnt);
  free(t->ppos);
  free(t->pnext);
  free(t->stub_gen);
  free(t->stub_at);
  free(t->init);
  free(t->kval);
  free(t->khash);
  free(t->omap);
  free(t->hnd);
  free(t->hcl);
  free(t->vsave);
  free(t->hout);
  free(t);
}

/* ------------------------------------------------------- lazy translation */

/* The test hook (cis__interp_fail_translations): true when this
 * allocation is to fail. */
static bool injected_failure(cis__icode *ic) {
  unsigned left = atomic_load(&ic->fail_next);
  while (left && !atomic_compare_exchange_weak(&ic->fail_next, &left, left - 1)) {}
  return left != 0;
}

/* Publishes the translation in t into f (f->code NULL, the lock held):
 * one block holds the initial slots then the code; f's other fields are
 * written first, code last with release order. False when out of memory
 * (or when the test hook says so); f is left untouched then. */
static bool publish(cis__icode *ic, const tr *t, const cis__ifunc *d, cis__ifunc *f) {
  if (injected_failure(ic)) return false;
  size_t nmap = encode_map(t, NULL);
  size_t size = (size_t)d->ninit * sizeof(cis_slot) + (d->ncode + t->nhout + d->ngcmap) * sizeof(uint32_t) + nmap;
  cis_slot *init = malloc(size);
  if (!init) return false;
  uint32_t *code = (uint32_t *)(void *)(init + d->ninit);
  if (d->ninit) memcpy(init, t->init, (size_t)d->ninit * sizeof *init);
  memcpy(code, t->code, d->ncode * sizeof *code);
  if (t->nhout) memcpy(code + d->ncode, t->hout, t->nhout * sizeof *code); /* the handlers follow the code */
  uint32_t *gcmap = code + d->ncode + t->nhout; /* then the stack map */
  encode_gcmap(t, d->ngcmap ? gcmap : NULL);
  encode_map(t, (uint8_t *)(gcmap + d->ngcmap)); /* then the offset map */
  f->hnd = t->nhout ? code + d->ncode : NULL;
  f->nhnd = t->nhout;
  f->gcmap = d->ngcmap ? gcmap : NULL;
  f->ngcmap = d->ngcmap;
  f->block = init;
  f->init = init; /* never NULL, even with nothing to copy: the copy adds ninit to it */
  f->ninit = d->ninit;
  f->nslots = d->nslots;
  f->cost = d->cost;
  f->need = d->need;
  f->ncode = d->ncode;
  atomic_store_explicit(&f->code, code, memory_order_release);
  return true;
}

/* A fresh translator state for ic's module. NULL when out of memory. */
static tr *tr_new(cis__icode *ic) {
  tr *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->mod = ic->mod;
  t->m = ic->mod->m;
  t->optab = cis__interp_handlers();
  t->funcs = ic->funcs;
  init_prod(t->prod);
  barrier(t);
  return t;
}

cis_result cis__interp_resolve(cis__icode *ic, uint32_t i, void *msgh, const cis__ifunc **out) {
  cis_result rc = CIS_OK;
  *out = NULL;
  if (i >= ic->nfuncs) return cis__fail(msgh, CIS_EINVALID, "function %u out of range", i);
  cis__ifunc *f = &ic->funcs[i];
  pthread_mutex_lock(&ic->lock);
  if (atomic_load_explicit(&f->code, memory_order_relaxed)) goto done; /* another thread was first */
  if (!ic->scratch && (injected_failure(ic) || !(ic->scratch = tr_new(ic)))) {
    rc = cis__fail(msgh, CIS_ENOMEM, "out of memory translating function %u", f->index);
    goto done;
  }
  tr *t = ic->scratch;
  t->msg = msgh;
  cis__ifunc d;
  memset(&d, 0, sizeof d);
  rc = translate_func(t, i, &d);
  t->msg = NULL;
  if (rc != CIS_OK) goto done;
  if (!publish(ic, t, &d, f)) {
    rc = cis__fail(msgh, CIS_ENOMEM, "out of memory translating function %u", f->index);
    goto done;
  }
  atomic_fetch_add(&ic->ntranslated, 1);
done:
  pthread_mutex_unlock(&ic->lock);
  if (rc == CIS_OK) *out = f;
  return rc;
}

cis_result cis__interp_prepare(cis_module *mod, cis__icode **out) {
  const cis__module *m = mod->m;
  *out = NULL;
  if (m->ncodes != m->nfuncs - m->nfunc_imports)
    return cis__fail(mod, CIS_EINVALID, "function and code counts differ");
  cis__icode *ic = calloc(1, sizeof *ic);
  if (!ic) return cis__fail(mod, CIS_ENOMEM, "out of memory preparing the module");
  ic->mod = mod;
  ic->nimports = m->nfunc_imports;
  ic->nfuncs = m->ncodes;
  atomic_init(&ic->ntranslated, 0);
  atomic_init(&ic->fail_next, 0);
  if (pthread_mutex_init(&ic->lock, NULL) != 0) {
    free(ic);
    return cis__fail(mod, CIS_ENOMEM, "cannot create the translation lock");
  }
  ic->funcs = calloc((size_t)ic->nfuncs + 1, sizeof *ic->funcs);
  if (!ic->funcs) {
    cis__interp_free(ic);
    return cis__fail(mod, CIS_ENOMEM, "out of memory preparing the module");
  }
  for (uint32_t i = 0; i < ic->nfuncs; i++) {
    cis__ifunc *f = &ic->funcs[i];
    uint32_t fidx = ic->nimports + i;
    const cis__functype *ft = m->func_type[fidx] < m->ntypes ? cis__module_func_type(m, fidx) : NULL;
    atomic_init(&f->code, NULL);
    f->index = fidx;
    f->nparams = ft ? type_slots(ft->types, ft->nparams) : 0;
    f->nresults = ft ? type_slots(ft->types + ft->nparams, ft->nresults) : 0;
  }
  *out = ic;
  return CIS_OK;
}

void cis__interp_free(cis__icode *ic) {
  if (!ic) return;
  for (uint32_t i = 0; ic->funcs && i < ic->nfuncs; i++) free(ic->funcs[i].block);
  free(ic->funcs);
  tr_free(ic->scratch);
  pthread_mutex_destroy(&ic->lock);
  free(ic);
}

/* mod's code when the interpreter prepared it, else NULL. */
static cis__icode *icode_of(const cis_module *mod) {
  if (!mod || !mod->engine || mod->engine->ops != &cis__interp_ops) return NULL;
  return mod->engine_data;
}

bool cis__interp_is_translated(const cis_module *mod, uint32_t fidx) {
  const cis__icode *ic = icode_of(mod);
  if (!ic || fidx < ic->nimports || fidx - ic->nimports >= ic->nfuncs) return false;
  return cis__interp_code(&ic->funcs[fidx - ic->nimports]) != NULL;
}

uint32_t cis__interp_translated_count(const cis_module *mod) {
  cis__icode *ic = icode_of(mod);
  return ic ? atomic_load(&ic->ntranslated) : 0;
}

cis_result cis__interp_translate_all(cis_module *mod) {
  cis__icode *ic = icode_of(mod);
  if (!ic) return CIS_EINVAL;
  for (uint32_t i = 0; i < ic->nfuncs; i++) {
    const cis__ifunc *f;
    cis_result rc = cis__interp_resolve(ic, i, mod, &f);
    if (rc != CIS_OK) return rc;
  }
  return CIS_OK;
}

void cis__interp_fail_translations(cis_module *mod, unsigned n) {
  cis__icode *ic = icode_of(mod);
  if (ic) atomic_store(&ic->fail_next, n);
}
