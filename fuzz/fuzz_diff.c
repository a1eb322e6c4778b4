/*
 * fuzz_diff.c -- libFuzzer entry point of the fuzz_diff target: the
 * interpreter against the compiled tier on the same modules.
 *
 * This file implements a generator of valid modules and the check that
 * both engines agree on them. An input is two parts: its first two bytes
 * (little-endian) are the length of the part that makes the module, the
 * rest chooses the calls and their arguments, so that a mutation of the
 * calls alone finds the module compiled in the cache already.
 *
 * The generator makes well-typed code by construction, one expression or
 * statement at a time (choices read from the bytes, 0 when they run out,
 * which is always a leaf): up to five functions of i32, i64, f32, f64 and
 * v128 parameters and up to two results, and maybe a host function
 * import, with scalar and SIMD arithmetic, conversions, loads and stores,
 * locals, globals, blocks, ifs, loops that end (a counter local of their
 * own runs each down from 1..4, some taking a parameter), blocks and ifs
 * that take a parameter or give two results, br, br_if, br_table and return, calls,
 * call_indirect, call_ref and their tail calls (to later functions, so
 * they end; a call_indirect through a computed index may miss or
 * recurse), table.size, get, set, grow, fill, copy and init, elem.drop,
 * throw, try_table with catch, catch_ref, catch_all and catch_all_ref,
 * throw_ref, the legacy try with catch, catch_all, rethrow and delegate,
 * select, memory.grow, fill and copy, and maybe a second memory (of 32- or
 * 64-bit addresses) that loads, stores, size, grow, fill and copy reach;
 * in a third of the modules GC: a list of struct nodes (and of a final
 * subtype's) in a local, new ones made, walked and set, kept from call to
 * call in a global and a table of nodes (set, get, fill, copy) and as an
 * externref in a global (extern.convert_any and back, beside i31s and
 * arrays made externrefs), an array of i32
 * made (new, new_default, new_fixed), read, set, filled and copied, an
 * i8 array read signed and unsigned, a struct of packed i8 and i16
 * fields (and a v128 one with SIMD) made, set and read, i31 round trips,
 * ref.test, ref.cast,
 * br_on_cast, ref.eq and ref.is_null, whose numbers flow on (a null, an
 * index past the end or a failed cast traps alike on both);
 * each function stores its locals to memory 0
 * at its end, so that what it computed is compared. Every float operation whose NaN result the spec leaves
 * nondeterministic (arithmetic, rounding, min/max, promotion and
 * demotion, in both scalar and SIMD forms) is followed by code that
 * replaces a NaN by the canonical positive NaN, so memory, globals and
 * results hold the same bits on every correct engine.
 *
 * The module is loaded on an engine "interp" and an engine "aot" under the
 * same limits; both must accept it (the generator makes only valid
 * modules: a refusal is a bug of the one or the other). Each call is then
 * made on both with the same arguments, and the two must return the same
 * code (the same trap) and results (a NaN equals a NaN), and leave the
 * same memories and globals. Fuel, deadline and call-stack exhaustion
 * count only as "stopped" (the engines count them differently): the
 * calls end there. A disagreement aborts with both sides.
 *
 * Both engines collect GC's garbage at every allocation where they may
 * (CIS_GC_STRESS=1, unless set otherwise), so that a root one of them
 * misses shows as a use after free or a difference.
 *
 * The compiled tier's cache is a temporary folder (CIS_AOT_CACHE, unless
 * set already), emptied every 2,000 modules and removed at exit.
 * CIS_FUZZ_DIFF_DUMP=PATH writes each module made to PATH (to read a
 * finding with wasm-objdump or wasm2wat).
 */

#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cis/cis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------------------- the input */

typedef struct rd {
  const uint8_t *p; /* the bytes */
  size_t n, i;      /* their count, the next one */
} rd;

static uint8_t rd_u8(rd *r) { return r->i < r->n ? r->p[r->i++] : 0; }

static uint64_t rd_bytes(rd *r, unsigned n) {
  uint64_t v = 0;
  for (unsigned k = 0; k < n; k++) v |= (uint64_t)rd_u8(r) << (8 * k);
  return v;
}

/* A choice among n (one byte, two above 256): 0 once the bytes are used
 * up. */
static unsigned rd_below(rd *r, unsigned n) {
  if (!n) return 0;
  return (unsigned)(n > 256 ? rd_bytes(r, 2) : rd_u8(r)) % n;
}

/* ------------------------------------------------------- wasm bytes */

typedef struct buf {
  uint8_t *p;    /* the bytes */
  size_t n, cap; /* used, allocated */
  bool oom;      /* an allocation failed: the content is cut */
} buf;

static void put(buf *b, uint8_t v) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p, b->cap = cap;
  }
  b->p[b->n++] = v;
}

static void put_n(buf *b, const void *v, size_t n) {
  for (size_t i = 0; i < n; i++) put(b, ((const uint8_t *)v)[i]);
}

static void put_uleb(buf *b, uint64_t v) {
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    put(b, byte | (v ? 0x80 : 0));
  } while (v);
}

static void put_sleb(buf *b, int64_t v) {
  for (;;) {
    uint8_t byte = v & 0x7f;
    v >>= 7; /* arithmetic on every compiler cis supports */
    bool done = (v == 0 && !(byte & 0x40)) || (v == -1 && (byte & 0x40));
    put(b, byte | (done ? 0 : 0x80));
    if (done) return;
  }
}

static void put_le(buf *b, uint64_t v, unsigned n) {
  for (unsigned k = 0; k < n; k++) put(b, (uint8_t)(v >> (8 * k)));
}

static void put_name(buf *b, const char *s) {
  put_uleb(b, strlen(s));
  put_n(b, s, strlen(s));
}

/* Section id with content c (emptied for the next section). */
static void section(buf *m, uint8_t id, buf *c) {
  put(m, id);
  put_uleb(m, c->n);
  put_n(m, c->p, c->n);
  c->n = 0;
}

/* ------------------------------------------------------- types, ops */

enum { I32, I64, F32, F64, V128, NTY, NONE = NTY };
static const uint8_t TYCODE[NTY] = {0x7f, 0x7e, 0x7d, 0x7c, 0x7b};
static const cis_valtype VALTYPE[NTY] = {CIS_I32, CIS_I64, CIS_F32, CIS_F64, CIS_V128};

/* How a result's NaN is made canonical (none: the operation is exact). */
enum { C_NO, C_F32, C_F64, C_F32X4, C_F64X2 };

typedef struct op {
  uint8_t pfx;     /* 0: one byte; 0xfc, 0xfd: that prefix and a LEB code */
  uint16_t code;   /* the opcode (after the prefix) */
  uint8_t r;       /* result type */
  uint8_t a[3];    /* operand types, NONE past the last */
  uint8_t canon;   /* C_* */
  uint8_t lanes;   /* a lane immediate below this, 0 for none */
} op;

static op ops[600];
static unsigned nops;
/* Indices into ops by result type: [0] without SIMD, [1] all. */
static uint16_t by_result[2][NTY][600];
static unsigned nby[2][NTY];

static void add(uint8_t pfx, unsigned lo, unsigned hi, uint8_t r, uint8_t a, uint8_t b, uint8_t c,
                uint8_t canon, uint8_t lanes) {
  for (unsigned k = lo; k <= hi; k++) {
    op *o = &ops[nops];
    *o = (op){.pfx = pfx, .code = (uint16_t)k, .r = r, .a = {a, b, c}, .canon = canon, .lanes = lanes};
    if (pfx != 0xfd) by_result[0][r][nby[0][r]++] = (uint16_t)nops;
    by_result[1][r][nby[1][r]++] = (uint16_t)nops++;
  }
}

/* The numeric and SIMD instructions with plain operands, by the spec's
 * opcode tables. Relaxed SIMD is left out: its results may differ. */
static void init_ops(void) {
  const uint8_t N = NONE, V = V128;
  /* i32 */
  add(0, 0x45, 0x45, I32, I32, N, N, 0, 0);
  add(0, 0x46, 0x4f, I32, I32, I32, N, 0, 0);
  add(0, 0x50, 0x50, I32, I64, N, N, 0, 0);
  add(0, 0x51, 0x5a, I32, I64, I64, N, 0, 0);
  add(0, 0x5b, 0x60, I32, F32, F32, N, 0, 0);
  add(0, 0x61, 0x66, I32, F64, F64, N, 0, 0);
  add(0, 0x67, 0x69, I32, I32, N, N, 0, 0);
  add(0, 0x6a, 0x78, I32, I32, I32, N, 0, 0);
  add(0, 0xa7, 0xa7, I32, I64, N, N, 0, 0);
  add(0, 0xa8, 0xa9, I32, F32, N, N, 0, 0);
  add(0, 0xaa, 0xab, I32, F64, N, N, 0, 0);
  add(0, 0xbc, 0xbc, I32, F32, N, N, 0, 0);
  add(0, 0xc0, 0xc1, I32, I32, N, N, 0, 0);
  add(0xfc, 0, 1, I32, F32, N, N, 0, 0);
  add(0xfc, 2, 3, I32, F64, N, N, 0, 0);
  /* i64 */
  add(0, 0x79, 0x7b, I64, I64, N, N, 0, 0);
  add(0, 0x7c, 0x8a, I64, I64, I64, N, 0, 0);
  add(0, 0xac, 0xad, I64, I32, N, N, 0, 0);
  add(0, 0xae, 0xaf, I64, F32, N, N, 0, 0);
  add(0, 0xb0, 0xb1, I64, F64, N, N, 0, 0);
  add(0, 0xbd, 0xbd, I64, F64, N, N, 0, 0);
  add(0, 0xc2, 0xc4, I64, I64, N, N, 0, 0);
  add(0xfc, 4, 5, I64, F32, N, N, 0, 0);
  add(0xfc, 6, 7, I64, F64, N, N, 0, 0);
  /* f32 */
  add(0, 0x8b, 0x8c, F32, F32, N, N, 0, 0);
  add(0, 0x8d, 0x91, F32, F32, N, N, C_F32, 0);
  add(0, 0x92, 0x97, F32, F32, F32, N, C_F32, 0);
  add(0, 0x98, 0x98, F32, F32, F32, N, 0, 0);
  add(0, 0xb2, 0xb3, F32, I32, N, N, 0, 0);
  add(0, 0xb4, 0xb5, F32, I64, N, N, 0, 0);
  add(0, 0xb6, 0xb6, F32, F64, N, N, C_F32, 0);
  add(0, 0xbe, 0xbe, F32, I32, N, N, 0, 0);
  /* f64 */
  add(0, 0x99, 0x9a, F64, F64, N, N, 0, 0);
  add(0, 0x9b, 0x9f, F64, F64, N, N, C_F64, 0);
  add(0, 0xa0, 0xa5, F64, F64, F64, N, C_F64, 0);
  add(0, 0xa6, 0xa6, F64, F64, F64, N, 0, 0);
  add(0, 0xb7, 0xb8, F64, I32, N, N, 0, 0);
  add(0, 0xb9, 0xba, F64, I64, N, N, 0, 0);
  add(0, 0xbb, 0xbb, F64, F32, N, N, C_F64, 0);
  add(0, 0xbf, 0xbf, F64, I64, N, N, 0, 0);
  /* v128: splats, lanes */
  add(0xfd, 15, 17, V, I32, N, N, 0, 0);
  add(0xfd, 18, 18, V, I64, N, N, 0, 0);
  add(0xfd, 19, 19, V, F32, N, N, 0, 0);
  add(0xfd, 20, 20, V, F64, N, N, 0, 0);
  add(0xfd, 21, 22, I32, V, N, N, 0, 16);
  add(0xfd, 24, 25, I32, V, N, N, 0, 8);
  add(0xfd, 27, 27, I32, V, N, N, 0, 4);
  add(0xfd, 29, 29, I64, V, N, N, 0, 2);
  add(0xfd, 31, 31, F32, V, N, N, 0, 4);
  add(0xfd, 33, 33, F64, V, N, N, 0, 2);
  add(0xfd, 23, 23, V, V, I32, N, 0, 16);
  add(0xfd, 26, 26, V, V, I32, N, 0, 8);
  add(0xfd, 28, 28, V, V, I32, N, 0, 4);
  add(0xfd, 30, 30, V, V, I64, N, 0, 2);
  add(0xfd, 32, 32, V, V, F32, N, 0, 4);
  add(0xfd, 34, 34, V, V, F64, N, 0, 2);
  /* v128 (v128, v128) */
  add(0xfd, 14, 14, V, V, V, N, 0, 0);
  add(0xfd, 35, 76, V, V, V, N, 0, 0);
  add(0xfd, 78, 81, V, V, V, N, 0, 0);
  add(0xfd, 101, 102, V, V, V, N, 0, 0);
  add(0xfd, 110, 115, V, V, V, N, 0, 0);
  add(0xfd, 118, 121, V, V, V, N, 0, 0);
  add(0xfd, 123, 123, V, V, V, N, 0, 0);
  add(0xfd, 130, 130, V, V, V, N, 0, 0);
  add(0xfd, 133, 134, V, V, V, N, 0, 0);
  add(0xfd, 142, 147, V, V, V, N, 0, 0);
  add(0xfd, 149, 153, V, V, V, N, 0, 0);
  add(0xfd, 155, 159, V, V, V, N, 0, 0);
  add(0xfd, 174, 174, V, V, V, N, 0, 0);
  add(0xfd, 177, 177, V, V, V, N, 0, 0);
  add(0xfd, 181, 186, V, V, V, N, 0, 0);
  add(0xfd, 188, 191, V, V, V, N, 0, 0);
  add(0xfd, 206, 206, V, V, V, N, 0, 0);
  add(0xfd, 209, 209, V, V, V, N, 0, 0);
  add(0xfd, 213, 223, V, V, V, N, 0, 0);
  add(0xfd, 228, 233, V, V, V, N, C_F32X4, 0);
  add(0xfd, 234, 235, V, V, V, N, 0, 0);
  add(0xfd, 240, 245, V, V, V, N, C_F64X2, 0);
  add(0xfd, 246, 247, V, V, V, N, 0, 0);
  /* v128 (v128) */
  add(0xfd, 77, 77, V, V, N, N, 0, 0);
  add(0xfd, 94, 94, V, V, N, N, C_F32X4, 0);
  add(0xfd, 95, 95, V, V, N, N, C_F64X2, 0);
  add(0xfd, 96, 98, V, V, N, N, 0, 0);
  add(0xfd, 103, 106, V, V, N, N, C_F32X4, 0);
  add(0xfd, 116, 117, V, V, N, N, C_F64X2, 0);
  add(0xfd, 122, 122, V, V, N, N, C_F64X2, 0);
  add(0xfd, 124, 129, V, V, N, N, 0, 0);
  add(0xfd, 135, 138, V, V, N, N, 0, 0);
  add(0xfd, 148, 148, V, V, N, N, C_F64X2, 0);
  add(0xfd, 160, 161, V, V, N, N, 0, 0);
  add(0xfd, 167, 170, V, V, N, N, 0, 0);
  add(0xfd, 192, 193, V, V, N, N, 0, 0);
  add(0xfd, 199, 202, V, V, N, N, 0, 0);
  add(0xfd, 224, 225, V, V, N, N, 0, 0);
  add(0xfd, 227, 227, V, V, N, N, C_F32X4, 0);
  add(0xfd, 236, 237, V, V, N, N, 0, 0);
  add(0xfd, 239, 239, V, V, N, N, C_F64X2, 0);
  add(0xfd, 248, 255, V, V, N, N, 0, 0);
  /* bitselect, shifts, tests */
  add(0xfd, 82, 82, V, V, V, V, 0, 0);
  add(0xfd, 107, 109, V, V, I32, N, 0, 0);
  add(0xfd, 139, 141, V, V, I32, N, 0, 0);
  add(0xfd, 171, 173, V, V, I32, N, 0, 0);
  add(0xfd, 203, 205, V, V, I32, N, 0, 0);
  add(0xfd, 83, 83, I32, V, N, N, 0, 0);
  add(0xfd, 99, 100, I32, V, N, N, 0, 0);
  add(0xfd, 131, 132, I32, V, N, N, 0, 0);
  add(0xfd, 163, 164, I32, V, N, N, 0, 0);
  add(0xfd, 195, 196, I32, V, N, N, 0, 0);
}

/* Loads and stores: opcode, prefix, value type, natural alignment (log2). */
typedef struct memop {
  uint8_t pfx;   /* 0 or 0xfd */
  uint8_t code;  /* opcode */
  uint8_t t;     /* the value loaded or stored */
  uint8_t align; /* natural alignment, log2 */
} memop;

static const memop LOADS[] = {
    {0, 0x28, I32, 2},    {0, 0x29, I64, 3},    {0, 0x2a, F32, 2},    {0, 0x2b, F64, 3},
    {0, 0x2c, I32, 0},    {0, 0x2d, I32, 0},    {0, 0x2e, I32, 1},    {0, 0x2f, I32, 1},
    {0, 0x30, I64, 0},    {0, 0x31, I64, 0},    {0, 0x32, I64, 1},    {0, 0x33, I64, 1},
    {0, 0x34, I64, 2},    {0, 0x35, I64, 2},    {0xfd, 0, V128, 4},   {0xfd, 1, V128, 3},
    {0xfd, 2, V128, 3},   {0xfd, 3, V128, 3},   {0xfd, 4, V128, 3},   {0xfd, 5, V128, 3},
    {0xfd, 6, V128, 3},   {0xfd, 7, V128, 0},   {0xfd, 8, V128, 1},   {0xfd, 9, V128, 2},
    {0xfd, 10, V128, 3},  {0xfd, 92, V128, 2},  {0xfd, 93, V128, 3},
};
static const memop STORES[] = {
    {0, 0x36, I32, 2}, {0, 0x37, I64, 3}, {0, 0x38, F32, 2}, {0, 0x39, F64, 3},
    {0, 0x3a, I32, 0}, {0, 0x3b, I32, 1}, {0, 0x3c, I64, 0}, {0, 0x3d, I64, 1},
    {0, 0x3e, I64, 2}, {0xfd, 11, V128, 4},
};
#define COUNT(a) (sizeof(a) / sizeof *(a))

/* ------------------------------------------------------- the generator */

enum {
  MAXF = 5,        /* functions */
  MAXP = 3,        /* parameters of a function */
  NUSER = 2,       /* locals of each type a function may read and set */
  MAXLOOP = 3,     /* loops nested in one function (each its counter) */
  MAXDEPTH = 7,    /* nesting of expressions and statements */
  BUDGET = 160,    /* nodes of one function: the compile dominates */
  MAXLAB = 64,     /* labels in scope */
  NGLOBALS = NTY,  /* one mutable global of each type (i64 for v128 without SIMD) */
  MEM_MAX = 4,     /* the memory's maximum when it has one (pages) */
  SPILL_AT = 0xfe00, /* where each function stores its locals at its end */
  SPILL_SIZE = NUSER * (4 + 8 + 4 + 8 + 16), /* bytes a function stores there */
};

typedef struct sig {
  uint8_t np;      /* parameters */
  uint8_t p[MAXP]; /* their types */
  uint8_t r;       /* result type, NONE for none */
  uint8_t r2;      /* a second result's (multi-value), NONE for none */
} sig;

typedef struct label {
  uint8_t r;  /* what a branch to it carries, NONE for nothing */
  uint8_t r2; /* and a second value (a function's label only), or NONE */
  bool loop;  /* a loop: generated branches never target one */
} label;

enum { IMPORT = MAXF }; /* the host function's place in gen.s */

typedef struct gen {
  rd *in;              /* the choices */
  buf *c;              /* the current function's code */
  sig s[MAXF + 1];     /* every function's signature, then the import's */
  unsigned nf, f;      /* functions, the current one */
  unsigned ni;         /* imported functions: 0, or 1 (env.h, index 0) */
  bool simd;           /* v128 in this module: SIMD's prelude makes a compile slower */
  unsigned nty;        /* the value types used: NTY, or NTY - 1 without SIMD */
  label lab[MAXLAB];   /* labels in scope, the function's own first */
  unsigned nlab;       /* their count */
  unsigned loops;      /* loops around the current point */
  unsigned depth;      /* nesting of the current point */
  unsigned budget;     /* nodes left in this function */
  unsigned mem1;       /* a second memory: 0 for none, else its address bits (32 or 64) */
  unsigned bt;         /* the first block type after the functions' own (bt_param) */
  bool gc;             /* GC's types and instructions in this module (gc_expr) */
} gen;

/* Block types after the functions' own: (param pa) (result r) for each
 * pa and r (NONE included), then (result a b) for each pair, then
 * (result i32 exnref). */
static unsigned bt_param(const gen *g, unsigned pa, unsigned r) {
  return g->bt + pa * (g->nty + 1) + (r == NONE ? g->nty : r);
}
static unsigned bt_pair(const gen *g, unsigned a, unsigned b) {
  return g->bt + g->nty * (g->nty + 1) + a * g->nty + b;
}
static unsigned bt_exn(const gen *g) { return g->bt + g->nty * (g->nty + 1) + g->nty * g->nty; }

/* GC's types after the block types: a node (sub (struct (mut i32)
 * (mut i64) (mut (ref null node)))), its final subtype node2 with a
 * (mut f32) more, an array of (mut i32), one of (mut i8), and a pack
 * (struct (mut i8) (mut i16)), with a (mut v128) more in a module with
 * SIMD. */
enum { GT_NODE, GT_NODE2, GT_ARR, GT_ARR8, GT_PACK, GT_N };
static unsigned gt(const gen *g, unsigned k) { return bt_exn(g) + 1 + k; }

/* Local indices: the parameters, NUSER of each type, three temporaries
 * (f32, f64, v128) for making NaNs canonical, then one loop counter a
 * nesting level. */
static unsigned user_local(const gen *g, unsigned t, unsigned k) { return g->s[g->f].np + NUSER * t + k; }
static unsigned temp_local(const gen *g, unsigned which) { return g->s[g->f].np + NUSER * NTY + which; }
static unsigned counter_local(const gen *g, unsigned level) { return temp_local(g, 3) + level; }
/* With GC: a (ref null node), a (ref null arr) and a (ref null pack)
 * after the counters. */
static unsigned node_local(const gen *g) { return counter_local(g, MAXLOOP); }
static unsigned arr_local(const gen *g) { return counter_local(g, MAXLOOP) + 1; }
static unsigned pack_local(const gen *g) { return counter_local(g, MAXLOOP) + 2; }

/* With GC, after the numbers' globals: a (mut (ref null node)) and a
 * (mut externref), which keep objects from call to call; and a table 1
 * of 4 (ref null node). */
enum { G_NODE = NGLOBALS, G_EXT, NGC_GLOBALS = 2, GC_TABLE_SIZE = 4 };

static void emit(gen *g, uint8_t b) { put(g->c, b); }
static void emit_u(gen *g, uint64_t v) { put_uleb(g->c, v); }

static void emit_op(gen *g, uint8_t pfx, unsigned code) {
  if (pfx) {
    emit(g, pfx);
    emit_u(g, code);
  } else {
    emit(g, (uint8_t)code);
  }
}

static void emit_blocktype(gen *g, unsigned t) { emit(g, t == NONE ? 0x40 : TYCODE[t]); }

static void push_label2(gen *g, unsigned r, unsigned r2, bool loop) {
  if (g->nlab < MAXLAB) g->lab[g->nlab] = (label){.r = (uint8_t)r, .r2 = (uint8_t)r2, .loop = loop};
  g->nlab++;
}

static void push_label(gen *g, unsigned r, bool loop) { push_label2(g, r, NONE, loop); }

static void pop_label(gen *g) { g->nlab--; }

/* Values worth trying first: edges of each type, NaNs (quiet, signalling,
 * negative), infinities, signed zeros, the limits of truncation. */
static const uint32_t I32S[] = {0, 1, 0xffffffff, 0x80000000, 0x7fffffff, 0x7f, 0x80, 0xff, 0x100,
                                0xffff, 0x10000, 31, 32, 0xfff0, 0xfffc, 0xffff8000};
static const uint64_t I64S[] = {0, 1, UINT64_MAX, 0x8000000000000000ull, 0x7fffffffffffffffull,
                                0xffffffffull, 0x100000000ull, 63, 64, 0x80000000ull,
                                0xffffffff80000000ull, 0xfff0};
static const uint32_t F32S[] = {0, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000,
                                0x7fc00000, 0xffc00000, 0x7fa00000, 0x7f7fffff, 1, 0x4f000000,
                                0xcf000000, 0x4f800000, 0x3f000000, 0x3fc00000, 0x40200000,
                                0xbfc00000, 0x5f000000, 0xdf000000, 0x7fc00001};
static const uint64_t F64S[] = {0, 0x8000000000000000ull, 0x3ff0000000000000ull,
                                0xbff0000000000000ull, 0x7ff0000000000000ull,
                                0xfff0000000000000ull, 0x7ff8000000000000ull,
                                0xfff8000000000000ull, 0x7ff4000000000000ull, 1,
                                0x41e0000000000000ull, 0xc1e0000000000000ull,
                                0x41f0000000000000ull, 0x3fe0000000000000ull,
                                0x3ff8000000000000ull, 0x4004000000000000ull,
                                0x43e0000000000000ull, 0xc3e0000000000000ull,
                                0x41dfffffffc00000ull, 0x7fefffffffffffffull};

/* The bits of a value of type t (the low 8 of a v128 in *lo, its high 8
 * in *hi): half the time one of the values above. */
static void value_bits(rd *r, unsigned t, uint64_t *lo, uint64_t *hi) {
  bool pick = !(rd_u8(r) & 1);
  unsigned k = rd_u8(r);
  *hi = 0;
  switch (t) {
  case I32: *lo = pick ? I32S[k % COUNT(I32S)] : (uint32_t)rd_bytes(r, 4); break;
  case I64: *lo = pick ? I64S[k % COUNT(I64S)] : rd_bytes(r, 8); break;
  case F32: *lo = pick ? F32S[k % COUNT(F32S)] : (uint32_t)rd_bytes(r, 4); break;
  case F64: *lo = pick ? F64S[k % COUNT(F64S)] : rd_bytes(r, 8); break;
  default:
    if (pick) { /* a splat of a float or an int of the lists */
      uint64_t v = (k & 1) ? F32S[k % COUNT(F32S)] * 0x100000001ull : F64S[k % COUNT(F64S)];
      *lo = *hi = v;
    } else {
      *lo = rd_bytes(r, 8);
      *hi = rd_bytes(r, 8);
    }
  }
}

static void emit_const(gen *g, unsigned t) {
  uint64_t lo, hi;
  value_bits(g->in, t, &lo, &hi);
  switch (t) {
  case I32: emit(g, 0x41); put_sleb(g->c, (int32_t)(uint32_t)lo); break;
  case I64: emit(g, 0x42); put_sleb(g->c, (int64_t)lo); break;
  case F32: emit(g, 0x43); put_le(g->c, lo, 4); break;
  case F64: emit(g, 0x44); put_le(g->c, lo, 8); break;
  default:
    emit_op(g, 0xfd, 12);
    put_le(g->c, lo, 8);
    put_le(g->c, hi, 8);
  }
}

static void emit_i32(gen *g, int32_t v) {
  emit(g, 0x41);
  put_sleb(g->c, v);
}

/* A local of type t: a parameter of that type or one of the NUSER. */
static unsigned pick_local(gen *g, unsigned t) {
  const sig *s = &g->s[g->f];
  unsigned cand[MAXP + NUSER], n = 0;
  for (unsigned i = 0; i < s->np; i++)
    if (s->p[i] == t) cand[n++] = i;
  for (unsigned k = 0; k < NUSER; k++) cand[n++] = user_local(g, t, k);
  return cand[rd_below(g->in, n)];
}

static void leaf(gen *g, unsigned t) {
  switch (rd_below(g->in, 3)) {
  case 0: emit_const(g, t); break;
  case 1: emit(g, 0x20); emit_u(g, pick_local(g, t)); break;
  default: emit(g, 0x23); emit_u(g, t); break; /* global t is of type t */
  }
}

static void expr(gen *g, unsigned t);
static void stmts(gen *g, unsigned max);

/* Replaces a NaN on top of the stack by the canonical positive one. */
static void canonical(gen *g, unsigned how) {
  if (how == C_NO) return;
  bool vec = how == C_F32X4 || how == C_F64X2;
  unsigned tmp = temp_local(g, vec ? 2 : how == C_F64);
  emit(g, 0x22); /* local.tee */
  emit_u(g, tmp);
  switch (how) {
  case C_F32: emit(g, 0x43); put_le(g->c, 0x7fc00000, 4); break;
  case C_F64: emit(g, 0x44); put_le(g->c, 0x7ff8000000000000ull, 8); break;
  case C_F32X4:
    emit_op(g, 0xfd, 12);
    put_le(g->c, 0x7fc000007fc00000ull, 8);
    put_le(g->c, 0x7fc000007fc00000ull, 8);
    break;
  default:
    emit_op(g, 0xfd, 12);
    put_le(g->c, 0x7ff8000000000000ull, 8);
    put_le(g->c, 0x7ff8000000000000ull, 8);
  }
  emit(g, 0x20);
  emit_u(g, tmp);
  emit(g, 0x20);
  emit_u(g, tmp);
  /* x == x is false exactly for a NaN */
  switch (how) {
  case C_F32: emit(g, 0x5b); break;
  case C_F64: emit(g, 0x61); break;
  case C_F32X4: emit_op(g, 0xfd, 65); break;
  default: emit_op(g, 0xfd, 71); break;
  }
  if (vec) emit_op(g, 0xfd, 82); /* bitselect: x where it equals itself */
  else emit(g, 0x1b);            /* select: x if x == x */
}

/* An address: a small constant (around the first page's end too), an
 * expression masked to a range, an i32 local plus a constant (as the
 * compiled tier's check groups take them: several in a block share one
 * bounds check), or any expression. */
static void address(gen *g) {
  static const int32_t NEAR[] = {0, 1, 2, 4, 8, 12, 16, 24, 32, 60, 64, -1, -4, -16, 0xfff0, 0x7fffffff};
  switch (rd_below(g->in, 6)) {
  case 4: case 5:
    emit(g, 0x20), emit_u(g, pick_local(g, I32));
    emit_i32(g, NEAR[rd_below(g->in, COUNT(NEAR))]);
    emit(g, 0x6a);
    break;
  case 0: emit_i32(g, (int32_t)(rd_bytes(g->in, 2) % 0x10100)); break;
  case 1: emit_i32(g, (int32_t)(0x10000 - 1 - rd_below(g->in, 24))); break;
  case 2:
    expr(g, I32);
    emit_i32(g, (int32_t)(0xff << (4 * rd_below(g->in, 3))) | 0xff);
    emit(g, 0x71);
    break;
  default: expr(g, I32); break;
  }
}

static void memarg(gen *g, unsigned natural) {
  emit_u(g, rd_below(g->in, natural + 1));
  unsigned k = rd_below(g->in, 16);
  emit_u(g, k < 11 ? 0 : k < 14 ? rd_u8(g->in) : k < 15 ? 0xffff : 0xfffffff0u);
}

/* An address in memory mem (0, or 1: the second, maybe of 64 bits, where
 * it is mostly one of address()'s widened, sometimes far past 4 GiB). */
static void mem_address(gen *g, unsigned mem) {
  static const uint64_t FAR[] = {0xffffffffull, 0x100000000ull, 0x10000fff0ull, UINT64_MAX - 3,
                                 0x8000000000000000ull};
  if (!mem || g->mem1 == 32) {
    address(g);
    return;
  }
  switch (rd_below(g->in, 8)) {
  case 0: emit(g, 0x42), put_sleb(g->c, (int64_t)FAR[rd_below(g->in, COUNT(FAR))]); break;
  case 1: expr(g, I64); break;
  default: address(g), emit(g, 0xad); break; /* i64.extend_i32_u */
  }
}

/* A memarg for memory mem: memory 0's as memarg(); the second's names it,
 * and a 64-bit one's offset may pass 4 GiB. */
static void memarg_mem(gen *g, unsigned natural, unsigned mem) {
  if (!mem) {
    memarg(g, natural);
    return;
  }
  emit_u(g, rd_below(g->in, natural + 1) | 0x40), emit_u(g, 1);
  unsigned k = rd_below(g->in, 16);
  emit_u(g, k < 11 ? 0 : k < 14 ? rd_u8(g->in) : k < 15 ? 0xfffffff0u : g->mem1 == 64 ? 0x100000000ull : 0xffff);
}

/* Which memory an access goes to: the second a quarter of the time. */
static unsigned pick_mem(gen *g) { return g->mem1 && rd_below(g->in, 4) == 0; }

/* memory.size or memory.grow (by 0..2 pages) of the second memory, as
 * an i32 or i64 (t). */
static void mem1_size_grow(gen *g, unsigned t) {
  bool wide = g->mem1 == 64;
  if (rd_u8(g->in) & 1) {
    emit(g, 0x3f), emit_u(g, 1);
  } else {
    if (wide) emit(g, 0x42), put_sleb(g->c, (int64_t)rd_below(g->in, 3));
    else emit_i32(g, (int32_t)rd_below(g->in, 3));
    emit(g, 0x40), emit_u(g, 1);
  }
  if (wide && t == I32) emit(g, 0xa7);  /* i32.wrap_i64 */
  if (!wide && t == I64) emit(g, 0xad); /* i64.extend_i32_u */
}

/* A length for a bulk operation of memory 1: 0..0x1ff, of its address type. */
static void mem1_length(gen *g) {
  if (g->mem1 == 64) emit(g, 0x42), put_sleb(g->c, (int64_t)rd_below(g->in, 0x200));
  else expr(g, I32), emit_i32(g, 0x1ff), emit(g, 0x71);
}

/* memory.fill of the second memory, or memory.copy within it or (both of
 * 32 bits) between it and memory 0 either way. */
static void mem1_bulk(gen *g) {
  if (rd_u8(g->in) & 1) {
    mem_address(g, 1);
    expr(g, I32);
    mem1_length(g);
    emit(g, 0xfc), emit_u(g, 11), emit_u(g, 1);
    return;
  }
  unsigned d = 1, src = 1;
  if (g->mem1 == 32) d = rd_u8(g->in) & 1, src = rd_u8(g->in) & 1;
  mem_address(g, d);
  mem_address(g, src);
  mem1_length(g);
  emit(g, 0xfc), emit_u(g, 10), emit_u(g, d), emit_u(g, src);
}

static void emit_op_imm(gen *g, const op *o) {
  emit_op(g, o->pfx, o->code);
  if (o->lanes) emit(g, (uint8_t)rd_below(g->in, o->lanes));
}

/* Whether s returns r first, then r2 (any second one when r2 < 0). */
static bool returns(const sig *s, unsigned r, int r2) { return s->r == r && (r2 < 0 || s->r2 == r2); }

/* A function j > the current one that returns r, r2 (any with any), or
 * -1: calls go forward only, so they end. */
static int forward_callee(gen *g, unsigned r, int r2, bool any) {
  unsigned cand[MAXF], n = 0;
  for (unsigned j = g->f + 1; j < g->nf; j++)
    if (any || returns(&g->s[j], r, r2)) cand[n++] = j;
  return n ? (int)cand[rd_below(g->in, n)] : -1;
}

static void args_of(gen *g, unsigned j) {
  for (unsigned i = 0; i < g->s[j].np; i++) expr(g, g->s[j].p[i]);
}

/* The function index of j (a defined function, or IMPORT). */
static unsigned func_index(const gen *g, unsigned j) { return j == IMPORT ? 0 : j + g->ni; }

/* A callee that returns r, r2 (any with any): the import, a quarter of
 * the time when it has one, else forward_callee's. */
static int callee(gen *g, unsigned r, int r2, bool any) {
  if (g->ni && (any || returns(&g->s[IMPORT], r, r2)) && rd_below(g->in, 4) == 0) return IMPORT;
  return forward_callee(g, r, r2, any);
}

static void table_index(gen *g, unsigned j);

/* A call of j with its arguments: direct, or for a defined function
 * through the table or a reference (ref.func, call_ref: the table's
 * segment declares every defined function). */
static void call(gen *g, unsigned j) {
  args_of(g, j);
  unsigned k = j == IMPORT ? 0 : rd_below(g->in, 4);
  if (k < 2) {
    emit(g, 0x10), emit_u(g, func_index(g, j));
  } else if (k == 2) {
    table_index(g, j);
    emit(g, 0x11), emit_u(g, j), emit_u(g, 0);
  } else {
    emit(g, 0xd2), emit_u(g, func_index(g, j));
    emit(g, 0x14), emit_u(g, j);
  }
}

/* The table index of a call_indirect to type j: mostly j itself (a
 * forward call), sometimes another element (a type mismatch, the null
 * element past the functions, or a recursion) or any value. */
static void table_index(gen *g, unsigned j) {
  unsigned k = rd_below(g->in, 16);
  if (k < 13) emit_i32(g, (int32_t)j);
  else if (k < 15) emit_i32(g, (int32_t)rd_below(g->in, g->nf + 2));
  else expr(g, I32);
}

/* A reference to push into the table: a function, or null. */
static void func_ref(gen *g) {
  if (rd_u8(g->in) & 1) emit(g, 0xd2), emit_u(g, func_index(g, rd_below(g->in, g->nf)));
  else emit(g, 0xd0), emit(g, 0x70);
}

/* A short length (0..7) for the table's bulk operations, or any value. */
static void table_length(gen *g) {
  if (rd_below(g->in, 4)) emit_i32(g, (int32_t)rd_below(g->in, 8));
  else expr(g, I32);
}

/* table.fill, table.copy, table.init from the passive segment, or its
 * elem.drop: later calls through the table find what they left. */
static void table_bulk(gen *g) {
  switch (rd_below(g->in, 4)) {
  case 0:
    table_index(g, rd_below(g->in, g->nf + 1));
    func_ref(g);
    table_length(g);
    emit(g, 0xfc), emit_u(g, 17), emit_u(g, 0);
    break;
  case 1:
    table_index(g, rd_below(g->in, g->nf + 1));
    table_index(g, rd_below(g->in, g->nf + 1));
    table_length(g);
    emit(g, 0xfc), emit_u(g, 14), emit_u(g, 0), emit_u(g, 0);
    break;
  case 2:
    table_index(g, rd_below(g->in, g->nf + 1));
    emit_i32(g, (int32_t)rd_below(g->in, g->nf + 1));
    table_length(g);
    emit(g, 0xfc), emit_u(g, 12), emit_u(g, 1), emit_u(g, 0);
    break;
  default: emit(g, 0xfc), emit_u(g, 13), emit_u(g, 1); break;
  }
}

/* A counted loop: its counter (local of its nesting level) runs down
 * from 1..4; r is its result (NONE or a type). A third of them take a
 * parameter, which each iteration stores and the branch back passes
 * anew. */
static void counted_loop(gen *g, unsigned r) {
  unsigned c = counter_local(g, g->loops);
  unsigned pa = rd_below(g->in, 3) == 0 ? rd_below(g->in, g->nty) : NONE;
  if (pa != NONE) expr(g, pa); /* before the counter: its loops are of this level */
  emit_i32(g, 1 + (int32_t)rd_below(g->in, 4));
  emit(g, 0x21);
  emit_u(g, c);
  emit(g, 0x03);
  if (pa == NONE) emit_blocktype(g, r);
  else put_sleb(g->c, bt_param(g, pa, r));
  push_label(g, NONE, true);
  g->loops++;
  if (pa != NONE) emit(g, 0x21), emit_u(g, pick_local(g, pa));
  stmts(g, 3);
  if (r != NONE) expr(g, r);
  if (pa != NONE) expr(g, pa); /* the next iteration's parameter */
  emit(g, 0x20), emit_u(g, c);
  emit_i32(g, 1);
  emit(g, 0x6b); /* i32.sub */
  emit(g, 0x22), emit_u(g, c);
  emit(g, 0x0d), emit_u(g, 0); /* br_if to the loop, with its parameter if any */
  if (pa != NONE) emit(g, 0x1a); /* not taken: the parameter is left */
  g->loops--;
  pop_label(g);
  emit(g, 0x0b);
}

/* try_table (result i32) with a catch of the tag (value to the block
 * around it), or a catch_all to a block whose fallback follows. */
static void try_expr(gen *g) {
  if (rd_u8(g->in) & 1) {
    emit(g, 0x02), emit(g, 0x7f); /* $h (result i32) */
    push_label(g, I32, false);
    emit(g, 0x1f), emit(g, 0x7f);  /* try_table (result i32) */
    emit_u(g, 1), emit(g, 0x00), emit_u(g, 0), emit_u(g, 0); /* (catch tag0 $h) */
    push_label(g, I32, false);
    stmts(g, 3);
    expr(g, I32);
    pop_label(g);
    emit(g, 0x0b);
    pop_label(g);
    emit(g, 0x0b);
  } else {
    emit(g, 0x02), emit(g, 0x7f); /* $out (result i32) */
    push_label(g, I32, false);
    emit(g, 0x02), emit(g, 0x40); /* $all */
    push_label(g, NONE, false);
    emit(g, 0x1f), emit(g, 0x7f); /* try_table (result i32) (catch_all $all) */
    emit_u(g, 1), emit(g, 0x02), emit_u(g, 0);
    push_label(g, I32, false);
    stmts(g, 3);
    expr(g, I32);
    pop_label(g);
    emit(g, 0x0b);
    emit(g, 0x0c), emit_u(g, 1); /* br $out with the value */
    pop_label(g);
    emit(g, 0x0b);
    expr(g, I32); /* caught: the fallback */
    pop_label(g);
    emit(g, 0x0b);
  }
}

/* A legacy catch's or catch_all's code in a try of result t: the
 * payload (an i32: payload) stored, or the result itself when t is
 * i32; sometimes a rethrow of what was caught. */
static void catch_body(gen *g, unsigned t, bool payload) {
  bool keep = payload && t == I32 && (rd_u8(g->in) & 1);
  if (payload && !keep) emit(g, 0x21), emit_u(g, pick_local(g, I32));
  stmts(g, 2);
  if (rd_below(g->in, 4) == 0) emit(g, 0x09), emit_u(g, 0); /* rethrow: the try's label */
  else if (t != NONE && !keep) expr(g, t);
}

/* The legacy try (result t): catch of the tag, catch_all, both, or a
 * delegate to an enclosing label. */
static void legacy_try(gen *g, unsigned t) {
  emit(g, 0x06), emit_blocktype(g, t);
  push_label(g, t, false);
  stmts(g, 3);
  if (t != NONE) expr(g, t);
  unsigned k = rd_below(g->in, 4);
  if (k == 3) {
    pop_label(g);
    emit(g, 0x18), emit_u(g, rd_below(g->in, g->nlab < MAXLAB ? g->nlab : MAXLAB));
    return;
  }
  if (k != 1) emit(g, 0x07), emit_u(g, 0), catch_body(g, t, true);
  if (k != 0) emit(g, 0x19), catch_body(g, t, false);
  pop_label(g);
  emit(g, 0x0b);
}

/* Statements in a try_table whose catch_ref (the tag: its i32 and the
 * exnref) or catch_all_ref (the exnref) leaves to a block after which
 * the exception is thrown again (throw_ref) or dropped. */
static void exn_ref(gen *g) {
  bool tag = rd_u8(g->in) & 1;
  emit(g, 0x02), emit(g, 0x40); /* $out */
  push_label(g, NONE, false);
  emit(g, 0x02); /* $h: what the catch gives */
  if (tag) put_sleb(g->c, bt_exn(g));
  else emit(g, 0x69);
  push_label(g, NONE, true); /* no generated branch carries an exnref */
  emit(g, 0x1f), emit(g, 0x40), emit_u(g, 1);
  if (tag) emit(g, 0x01), emit_u(g, 0), emit_u(g, 0); /* catch_ref tag0 $h */
  else emit(g, 0x03), emit_u(g, 0);                   /* catch_all_ref $h */
  push_label(g, NONE, false);
  stmts(g, 4);
  pop_label(g);
  emit(g, 0x0b);
  emit(g, 0x0c), emit_u(g, 1); /* nothing thrown: br $out */
  pop_label(g);
  emit(g, 0x0b);
  if (rd_below(g->in, 3) == 0) emit(g, 0x0a); /* throw_ref */
  else emit(g, 0x1a);
  if (tag) emit(g, 0x21), emit_u(g, pick_local(g, I32));
  pop_label(g);
  emit(g, 0x0b);
}

/* The code of a block or if arm that takes a pa and gives a t: the
 * parameter is the result when the types agree (statements leave it
 * below them), else it is stored. */
static void param_body(gen *g, unsigned pa, unsigned t) {
  if (pa == t && (rd_u8(g->in) & 1)) {
    stmts(g, 3);
    return;
  }
  emit(g, 0x21), emit_u(g, pick_local(g, pa));
  stmts(g, 3);
  expr(g, t);
}

/* A block or an if of type (param pa) (result t). */
static void param_block(gen *g, unsigned t) {
  unsigned pa = rd_below(g->in, g->nty);
  bool is_if = rd_u8(g->in) & 1;
  expr(g, pa);
  if (is_if) expr(g, I32);
  emit(g, is_if ? 0x04 : 0x02), put_sleb(g->c, bt_param(g, pa, t));
  push_label(g, t, false);
  param_body(g, pa, t);
  if (is_if) emit(g, 0x05), param_body(g, pa, t);
  pop_label(g);
  emit(g, 0x0b);
}

/* A block of results t and r2, the second stored. */
static void pair_block(gen *g, unsigned t) {
  unsigned r2 = rd_below(g->in, g->nty);
  emit(g, 0x02), put_sleb(g->c, bt_pair(g, t, r2));
  push_label2(g, t, r2, false);
  stmts(g, 3);
  expr(g, t);
  expr(g, r2);
  pop_label(g);
  emit(g, 0x0b);
  emit(g, 0x21), emit_u(g, pick_local(g, r2));
}

/* ------------------------------------------------------- GC */

static void operation(gen *g, unsigned t);

static void emit_gc(gen *g, unsigned code) { emit(g, 0xfb), emit_u(g, code); }
/* A heap type immediate: a type index is an s33. */
static void emit_ht(gen *g, unsigned x) { put_sleb(g->c, x); }

/* An index into the node's array local: small (0..15), or any i32. */
static void arr_index(gen *g) {
  if (rd_below(g->in, 4)) emit_i32(g, (int32_t)rd_below(g->in, 16));
  else expr(g, I32);
}

/* An i32 length 0..15. */
static void arr_length(gen *g) { expr(g, I32), emit_i32(g, 15), emit(g, 0x71); }

/* A value of GC's made into a t (I32, I64 or F32), which may trap (a
 * null, an index past the end, a failed cast); else an operation. */
static void gc_expr(gen *g, unsigned t) {
  const unsigned n = node_local(g), a = arr_local(g);
  if (t == I64) { /* the node's i64 */
    emit(g, 0x20), emit_u(g, n);
    emit_gc(g, 2), emit_u(g, gt(g, GT_NODE)), emit_u(g, 1);
    return;
  }
  if (t == F32) { /* a node2's f32, through a cast that may fail */
    emit(g, 0x20), emit_u(g, n);
    emit_gc(g, 22), emit_ht(g, gt(g, GT_NODE2)); /* ref.cast (ref node2) */
    emit_gc(g, 2), emit_u(g, gt(g, GT_NODE2)), emit_u(g, 3);
    return;
  }
  if (t == V128 && g->simd && rd_u8(g->in) & 1) { /* the pack's v128 */
    emit(g, 0x20), emit_u(g, pack_local(g));
    emit_gc(g, 2), emit_u(g, gt(g, GT_PACK)), emit_u(g, 2);
    return;
  }
  if (t != I32) {
    operation(g, t);
    return;
  }
  switch (rd_below(g->in, 13)) {
  case 9: /* a packed field of the pack, signed or not */
    emit(g, 0x20), emit_u(g, pack_local(g));
    emit_gc(g, 3 + (rd_u8(g->in) & 1)), emit_u(g, gt(g, GT_PACK)), emit_u(g, rd_u8(g->in) & 1);
    break;
  case 10: /* is the global's externref a node2 (an any again)? */
    emit(g, 0x23), emit_u(g, G_EXT);
    emit_gc(g, 26); /* any.convert_extern */
    emit_gc(g, 20 + (rd_u8(g->in) & 1)), emit_ht(g, gt(g, GT_NODE2));
    break;
  case 11: /* a node of table 1: null or not */
    emit_i32(g, (int32_t)rd_below(g->in, GC_TABLE_SIZE + 1)); /* 4: out of bounds */
    emit(g, 0x25), emit_u(g, 1);
    emit(g, 0xd1);
    break;
  case 12: /* the global node's i32 (a null traps) */
    emit(g, 0x23), emit_u(g, G_NODE);
    emit_gc(g, 2), emit_u(g, gt(g, GT_NODE)), emit_u(g, 0);
    break;
  case 0: /* the node's i32 */
    emit(g, 0x20), emit_u(g, n);
    emit_gc(g, 2), emit_u(g, gt(g, GT_NODE)), emit_u(g, 0);
    break;
  case 1: emit(g, 0x20), emit_u(g, a), emit_gc(g, 15); break; /* array.len */
  case 2: /* array.get */
    emit(g, 0x20), emit_u(g, a);
    arr_index(g);
    emit_gc(g, 11), emit_u(g, gt(g, GT_ARR));
    break;
  case 3: /* an i31 round trip, signed or not */
    expr(g, I32);
    emit_gc(g, 28), emit_gc(g, 29 + (rd_u8(g->in) & 1));
    break;
  case 4: /* ref.test (ref node2) or (ref null node2) */
    emit(g, 0x20), emit_u(g, n);
    emit_gc(g, 20 + (rd_u8(g->in) & 1)), emit_ht(g, gt(g, GT_NODE2));
    break;
  case 5: /* ref.eq of the node and the next */
    emit(g, 0x20), emit_u(g, n);
    emit(g, 0x20), emit_u(g, n);
    emit_gc(g, 2), emit_u(g, gt(g, GT_NODE)), emit_u(g, 2);
    emit(g, 0xd3);
    break;
  case 6: emit(g, 0x20), emit_u(g, n), emit(g, 0xd1); break; /* ref.is_null */
  case 7: /* a byte of a fresh i8 array, signed or not */
    expr(g, I32), arr_length(g);
    emit_gc(g, 6), emit_u(g, gt(g, GT_ARR8));
    arr_index(g);
    emit_gc(g, 12 + (rd_u8(g->in) & 1)), emit_u(g, gt(g, GT_ARR8));
    break;
  default: { /* br_on_cast the node to node2 (else a new one), its f32's bits */
    emit(g, 0x02), emit(g, 0x64), emit_ht(g, gt(g, GT_NODE2)); /* (result (ref node2)) */
    push_label(g, NONE, true); /* no generated branch carries a reference */
    emit(g, 0x20), emit_u(g, n);
    emit_gc(g, 24), emit(g, 0x01), emit_u(g, 0), emit_ht(g, gt(g, GT_NODE)), emit_ht(g, gt(g, GT_NODE2));
    emit(g, 0x1a);
    expr(g, I32), expr(g, I64), emit(g, 0x20), emit_u(g, n), expr(g, F32);
    emit_gc(g, 0), emit_u(g, gt(g, GT_NODE2));
    pop_label(g);
    emit(g, 0x0b);
    emit_gc(g, 2), emit_u(g, gt(g, GT_NODE2)), emit_u(g, 3);
    emit(g, 0xbc); /* i32.reinterpret_f32 */
    break;
  }
  }
}

/* A statement of GC's: a new node on the list or a step along it, a field
 * set, a new array, an element set, fill or copy. */
static void gc_stmt(gen *g) {
  const unsigned n = node_local(g), a = arr_local(g), pk = pack_local(g);
  switch (rd_below(g->in, 15)) {
  case 8: /* the list to the global, or from it */
    if (rd_u8(g->in) & 1) emit(g, 0x20), emit_u(g, n), emit(g, 0x24), emit_u(g, G_NODE);
    else emit(g, 0x23), emit_u(g, G_NODE), emit(g, 0x21), emit_u(g, n);
    break;
  case 9: /* the list to table 1, or from it */
    emit_i32(g, (int32_t)rd_below(g->in, GC_TABLE_SIZE + 1));
    if (rd_u8(g->in) & 1) {
      emit(g, 0x20), emit_u(g, n), emit(g, 0x26), emit_u(g, 1);
    } else {
      emit(g, 0x25), emit_u(g, 1), emit(g, 0x21), emit_u(g, n);
    }
    break;
  case 10: /* the list made an externref into the global, or back (a cast
            * that fails when the global holds no node) */
    if (rd_u8(g->in) & 1) {
      emit(g, 0x20), emit_u(g, n), emit_gc(g, 27), emit(g, 0x24), emit_u(g, G_EXT);
    } else {
      emit(g, 0x23), emit_u(g, G_EXT), emit_gc(g, 26);
      emit_gc(g, 23), emit_ht(g, gt(g, GT_NODE)); /* ref.cast (ref null node) */
      emit(g, 0x21), emit_u(g, n);
    }
    break;
  case 11: /* an i31 or an array into the extern global */
    if (rd_u8(g->in) & 1) expr(g, I32), emit_gc(g, 28);
    else emit(g, 0x20), emit_u(g, a);
    emit_gc(g, 27), emit(g, 0x24), emit_u(g, G_EXT);
    break;
  case 12: /* a new pack, of values or of zeros */
    if (rd_u8(g->in) & 1) {
      expr(g, I32), expr(g, I32);
      if (g->simd) expr(g, V128);
      emit_gc(g, 0), emit_u(g, gt(g, GT_PACK));
    } else {
      emit_gc(g, 1), emit_u(g, gt(g, GT_PACK));
    }
    emit(g, 0x21), emit_u(g, pk);
    break;
  case 13: { /* a field of the pack set (a number wraps to 8 or 16 bits) */
    unsigned fld = rd_below(g->in, 2 + g->simd);
    emit(g, 0x20), emit_u(g, pk), expr(g, fld == 2 ? V128 : I32);
    emit_gc(g, 5), emit_u(g, gt(g, GT_PACK)), emit_u(g, fld);
    break;
  }
  case 14: /* table 1 filled with the list, or copied within */
    if (rd_u8(g->in) & 1) {
      emit_i32(g, (int32_t)rd_below(g->in, 3)), emit(g, 0x20), emit_u(g, n), emit_i32(g, (int32_t)rd_below(g->in, 3));
      emit(g, 0xfc), emit_u(g, 17), emit_u(g, 1); /* table.fill 1 */
    } else {
      emit_i32(g, (int32_t)rd_below(g->in, 3)), emit_i32(g, (int32_t)rd_below(g->in, 3)), emit_i32(g, (int32_t)rd_below(g->in, 3));
      emit(g, 0xfc), emit_u(g, 14), emit_u(g, 1), emit_u(g, 1); /* table.copy 1 1 */
    }
    break;
  case 0: case 1: { /* a node or a node2 before the list's head */
    bool two = rd_u8(g->in) & 1;
    expr(g, I32), expr(g, I64), emit(g, 0x20), emit_u(g, n);
    if (two) expr(g, F32);
    emit_gc(g, 0), emit_u(g, gt(g, two ? GT_NODE2 : GT_NODE));
    emit(g, 0x21), emit_u(g, n);
    break;
  }
  case 2: /* along the list */
    emit(g, 0x20), emit_u(g, n);
    emit_gc(g, 2), emit_u(g, gt(g, GT_NODE)), emit_u(g, 2);
    emit(g, 0x21), emit_u(g, n);
    break;
  case 3: /* the node's i32 */
    emit(g, 0x20), emit_u(g, n), expr(g, I32);
    emit_gc(g, 5), emit_u(g, gt(g, GT_NODE)), emit_u(g, 0);
    break;
  case 4: /* a new array: of a value, of zeros, or of three */
    switch (rd_below(g->in, 3)) {
    case 0: expr(g, I32), arr_length(g), emit_gc(g, 6), emit_u(g, gt(g, GT_ARR)); break;
    case 1: arr_length(g), emit_gc(g, 7), emit_u(g, gt(g, GT_ARR)); break;
    default: expr(g, I32), expr(g, I32), expr(g, I32), emit_gc(g, 8), emit_u(g, gt(g, GT_ARR)), emit_u(g, 3);
    }
    emit(g, 0x21), emit_u(g, a);
    break;
  case 5: /* array.set */
    emit(g, 0x20), emit_u(g, a), arr_index(g), expr(g, I32);
    emit_gc(g, 14), emit_u(g, gt(g, GT_ARR));
    break;
  case 6: /* array.fill */
    emit(g, 0x20), emit_u(g, a), arr_index(g), expr(g, I32), arr_length(g);
    emit_gc(g, 16), emit_u(g, gt(g, GT_ARR));
    break;
  default: /* array.copy within it */
    emit(g, 0x20), emit_u(g, a), arr_index(g), emit(g, 0x20), emit_u(g, a), arr_index(g), arr_length(g);
    emit_gc(g, 17), emit_u(g, gt(g, GT_ARR)), emit_u(g, gt(g, GT_ARR));
    break;
  }
}

/* A numeric or SIMD operation with result t, its operands, and its NaN
 * made canonical. */
static void operation(gen *g, unsigned t) {
  const op *o = &ops[by_result[g->simd][t][rd_below(g->in, nby[g->simd][t])]];
  for (unsigned i = 0; i < 3 && o->a[i] != NONE; i++) expr(g, o->a[i]);
  emit_op_imm(g, o);
  canonical(g, o->canon);
}

/* An expression of type t, pushing exactly one value. */
static void expr(gen *g, unsigned t) {
  if (g->budget) g->budget--;
  if (g->depth >= MAXDEPTH || !g->budget) {
    leaf(g, t);
    return;
  }
  g->depth++;
  unsigned k = rd_below(g->in, 24);
  switch (k) {
  case 0: case 1: case 2: leaf(g, t); break;
  case 16: param_block(g, t); break;
  case 17: pair_block(g, t); break;
  case 20:
    if (g->gc) gc_expr(g, t);
    else operation(g, t);
    break;
  case 18: legacy_try(g, t); break;
  case 19:
    if (t == I32 && (rd_u8(g->in) & 1)) { /* table.grow by 0..7: the old size or -1 */
      func_ref(g);
      expr(g, I32), emit_i32(g, 7), emit(g, 0x71);
      emit(g, 0xfc), emit_u(g, 15), emit_u(g, 0);
    } else if (g->mem1 && (t == I32 || t == I64)) {
      mem1_size_grow(g, t);
    } else {
      operation(g, t);
    }
    break;
  case 3: case 4: case 5: case 6: case 7: operation(g, t); break;
  case 8: { /* a load */
    unsigned cand[COUNT(LOADS)], n = 0;
    for (unsigned i = 0; i < COUNT(LOADS); i++)
      if (LOADS[i].t == t) cand[n++] = i;
    if (!n) { /* f32 / f64 / i32 / i64 all have loads; v128 too */
      leaf(g, t);
      break;
    }
    const memop *m = &LOADS[cand[rd_below(g->in, n)]];
    unsigned mem = pick_mem(g);
    mem_address(g, mem);
    emit_op(g, m->pfx, m->code);
    memarg_mem(g, m->align, mem);
    break;
  }
  case 9: /* select, untyped or typed */
    expr(g, t), expr(g, t), expr(g, I32);
    if (rd_u8(g->in) & 1) emit(g, 0x1b);
    else emit(g, 0x1c), emit_u(g, 1), emit(g, TYCODE[t]);
    break;
  case 10: /* block (result t) */
    emit(g, 0x02), emit_blocktype(g, t);
    push_label(g, t, false);
    stmts(g, 3);
    expr(g, t);
    pop_label(g);
    emit(g, 0x0b);
    break;
  case 11: /* if (result t) */
    expr(g, I32);
    emit(g, 0x04), emit_blocktype(g, t);
    push_label(g, t, false);
    stmts(g, 2);
    expr(g, t);
    emit(g, 0x05);
    stmts(g, 2);
    expr(g, t);
    pop_label(g);
    emit(g, 0x0b);
    break;
  case 12:
    if (g->loops < MAXLOOP) counted_loop(g, t);
    else leaf(g, t);
    break;
  case 13: { /* a call of a function whose (first) result is t */
    int j = callee(g, t, -1, false);
    if (j < 0) {
      leaf(g, t);
      break;
    }
    call(g, (unsigned)j);
    if (g->s[j].r2 != NONE) emit(g, 0x21), emit_u(g, pick_local(g, g->s[j].r2));
    break;
  }
  case 14: /* local.tee */
    expr(g, t);
    emit(g, 0x22), emit_u(g, pick_local(g, t));
    break;
  case 15:
    if (t == I32) {
      switch (rd_below(g->in, 5)) {
      case 0: emit(g, 0x3f), emit(g, 0); break; /* memory.size */
      case 3: emit(g, 0xfc), emit_u(g, 16), emit_u(g, 0); break; /* table.size */
      case 4: /* whether an element is null (or a trap past the table) */
        table_index(g, rd_below(g->in, g->nf + 1));
        emit(g, 0x25), emit_u(g, 0), emit(g, 0xd1);
        break;
      case 1: /* memory.grow by 0..2 pages, or by a masked value */
        if (rd_u8(g->in) & 1) emit_i32(g, (int32_t)rd_below(g->in, 3));
        else expr(g, I32), emit_i32(g, 3), emit(g, 0x71);
        emit(g, 0x40), emit(g, 0);
        break;
      default: try_expr(g); break;
      }
    } else if (t == V128) { /* a shuffle, or a lane load */
      if (rd_u8(g->in) & 1) {
        expr(g, V128), expr(g, V128);
        emit_op(g, 0xfd, 13);
        for (unsigned i = 0; i < 16; i++) emit(g, (uint8_t)rd_below(g->in, 32));
      } else {
        unsigned w = rd_below(g->in, 4); /* 8, 16, 32, 64 bits */
        address(g);
        expr(g, V128);
        emit_op(g, 0xfd, 84 + w);
        memarg(g, w);
        emit(g, (uint8_t)rd_below(g->in, 16u >> w));
      }
    } else {
      leaf(g, t);
    }
    break;
  default: operation(g, t); break; /* again: the most common node */
  }
  g->depth--;
}

/* A label to branch to (not a loop), by its index in g->lab; the
 * function's own is always one. */
static unsigned pick_label(gen *g) {
  unsigned n = g->nlab < MAXLAB ? g->nlab : MAXLAB;
  for (unsigned tries = 0; tries < 4; tries++) {
    unsigned i = rd_below(g->in, n);
    if (!g->lab[i].loop) return i;
  }
  return 0;
}

/* The values a branch to label l carries. */
static void label_values(gen *g, const label *l) {
  if (l->r != NONE) expr(g, l->r);
  if (l->r2 != NONE) expr(g, l->r2);
}

static void branch(gen *g) {
  unsigned i = pick_label(g), d = g->nlab - 1 - i;
  const label *l = &g->lab[i];
  switch (rd_below(g->in, 4)) {
  case 0: case 1: /* br_if, the values dropped when not taken */
    label_values(g, l);
    expr(g, I32);
    emit(g, 0x0d), emit_u(g, d);
    if (l->r != NONE) emit(g, 0x1a);
    if (l->r2 != NONE) emit(g, 0x1a);
    break;
  case 2: { /* br_table over labels of the same types */
    unsigned targets[5], n = 1 + rd_below(g->in, 4);
    for (unsigned k = 0; k < n; k++) {
      unsigned j = pick_label(g);
      targets[k] = g->lab[j].r == l->r && g->lab[j].r2 == l->r2 ? g->nlab - 1 - j : d;
    }
    label_values(g, l);
    expr(g, I32);
    emit(g, 0x0e), emit_u(g, n - 1);
    for (unsigned k = 0; k < n; k++) emit_u(g, targets[k]);
    break;
  }
  default: /* br: what follows is dead code, which must validate too */
    label_values(g, l);
    emit(g, 0x0c), emit_u(g, d);
    break;
  }
}

/* return, return_call or return_call_indirect. */
static void leave(gen *g) {
  unsigned r = g->s[g->f].r, r2 = g->s[g->f].r2, k = rd_below(g->in, 4);
  int j = k == 1 ? callee(g, r, (int)r2, false) : k ? forward_callee(g, r, (int)r2, false) : -1;
  if (j < 0) {
    label_values(g, &g->lab[0]);
    emit(g, 0x0f);
  } else if (k == 1) { /* the import too: a tail call of a host function */
    args_of(g, (unsigned)j);
    emit(g, 0x12), emit_u(g, func_index(g, (unsigned)j));
  } else if (k == 2) {
    args_of(g, (unsigned)j);
    table_index(g, (unsigned)j);
    emit(g, 0x13), emit_u(g, (unsigned)j), emit_u(g, 0);
  } else { /* return_call_ref */
    args_of(g, (unsigned)j);
    emit(g, 0xd2), emit_u(g, func_index(g, (unsigned)j));
    emit(g, 0x15), emit_u(g, (unsigned)j);
  }
}

/* A statement: leaves the stack as it found it (or ends the block). */
static void stmt(gen *g) {
  if (g->budget) g->budget--;
  if (g->depth >= MAXDEPTH || !g->budget) return;
  g->depth++;
  unsigned k = rd_below(g->in, 24);
  switch (k) {
  case 0: emit(g, 0x01); break; /* nop */
  case 19: legacy_try(g, NONE); break;
  case 20: exn_ref(g); break;
  case 21: table_bulk(g); break;
  case 22:
    if (g->mem1) mem1_bulk(g);
    break;
  case 1: case 2: { /* local.set */
    unsigned t = rd_below(g->in, g->nty);
    expr(g, t);
    emit(g, 0x21), emit_u(g, pick_local(g, t));
    break;
  }
  case 3: { /* global.set */
    unsigned t = rd_below(g->in, g->nty);
    expr(g, t);
    emit(g, 0x24), emit_u(g, t);
    break;
  }
  case 4: case 5: { /* a store, or a lane store */
    if (g->simd && rd_below(g->in, 8) == 0) {
      unsigned w = rd_below(g->in, 4);
      address(g);
      expr(g, V128);
      emit_op(g, 0xfd, 88 + w);
      memarg(g, w);
      emit(g, (uint8_t)rd_below(g->in, 16u >> w));
      break;
    }
    const memop *m = &STORES[rd_below(g->in, COUNT(STORES) - !g->simd)]; /* v128.store last */
    unsigned mem = pick_mem(g);
    mem_address(g, mem);
    expr(g, m->t);
    emit_op(g, m->pfx, m->code);
    memarg_mem(g, m->align, mem);
    break;
  }
  case 6: /* drop */
    expr(g, rd_below(g->in, g->nty));
    emit(g, 0x1a);
    break;
  case 7: /* block */
    emit(g, 0x02), emit(g, 0x40);
    push_label(g, NONE, false);
    stmts(g, 4);
    pop_label(g);
    emit(g, 0x0b);
    break;
  case 8: /* if, with or without else */
    expr(g, I32);
    emit(g, 0x04), emit(g, 0x40);
    push_label(g, NONE, false);
    stmts(g, 3);
    if (rd_u8(g->in) & 1) emit(g, 0x05), stmts(g, 3);
    pop_label(g);
    emit(g, 0x0b);
    break;
  case 9:
    if (g->loops < MAXLOOP) counted_loop(g, NONE);
    break;
  case 10: case 11: branch(g); break;
  case 12: { /* a call, its result dropped */
    int j = callee(g, NONE, -1, true);
    if (j < 0) break;
    call(g, (unsigned)j);
    if (g->s[j].r != NONE) emit(g, 0x1a);
    if (g->s[j].r2 != NONE) emit(g, 0x1a);
    break;
  }
  case 13: /* throw the tag */
    expr(g, I32);
    emit(g, 0x08), emit_u(g, 0);
    break;
  case 14:
    if (rd_below(g->in, 3) == 0) leave(g);
    break;
  case 15: /* memory.fill, memory.copy: short lengths, or any */
    address(g);
    if (rd_u8(g->in) & 1) {
      expr(g, I32);
      expr(g, I32), emit_i32(g, 0x1ff), emit(g, 0x71);
      emit(g, 0xfc), emit_u(g, 11), emit(g, 0);
    } else {
      address(g);
      expr(g, I32), emit_i32(g, 0x1ff), emit(g, 0x71);
      emit(g, 0xfc), emit_u(g, 10), emit(g, 0), emit(g, 0);
    }
    break;
  case 18: /* table.set of a function or null: later call_indirects
             * find another type, a null, or (rarely) recurse */
    table_index(g, rd_below(g->in, g->nf + 1));
    if (rd_u8(g->in) & 1) emit(g, 0xd2), emit_u(g, func_index(g, rd_below(g->in, g->nf)));
    else emit(g, 0xd0), emit(g, 0x70);
    emit(g, 0x26), emit_u(g, 0);
    break;
  case 16: /* a try_table catching all, around statements */
    emit(g, 0x02), emit(g, 0x40);
    push_label(g, NONE, false);
    emit(g, 0x1f), emit(g, 0x40);
    emit_u(g, 1), emit(g, 0x02), emit_u(g, 0);
    push_label(g, NONE, false);
    stmts(g, 4);
    pop_label(g);
    emit(g, 0x0b);
    pop_label(g);
    emit(g, 0x0b);
    break;
  case 23:
    if (g->gc) {
      gc_stmt(g);
      break;
    }
    /* fall through */
  default: { /* local.set of an operation: the most common statement */
    unsigned t = rd_below(g->in, g->nty);
    expr(g, t);
    emit(g, 0x21), emit_u(g, user_local(g, t, rd_below(g->in, NUSER)));
    break;
  }
  }
  g->depth--;
}

static void stmts(gen *g, unsigned max) {
  for (unsigned n = rd_below(g->in, max + 1); n; n--) stmt(g);
}

/* The type of global t, and of the locals of type t's slots: i64 for
 * v128 in a module without SIMD (never read as v128 there). */
static unsigned global_type(const gen *g, unsigned t) { return t < g->nty ? t : I64; }

/* Stores the function's NUSER locals of each type at its place from
 * SPILL_AT. */
static void spill_locals(gen *g) {
  static const uint8_t STORE[NTY] = {0x36, 0x37, 0x38, 0x39, 0}; /* v128.store apart */
  static const uint8_t SIZE[NTY] = {4, 8, 4, 8, 16};
  unsigned at = SPILL_AT + g->f * SPILL_SIZE;
  for (unsigned t = 0; t < NTY; t++)
    for (unsigned k = 0; k < NUSER; k++, at += SIZE[t]) {
      unsigned lt = global_type(g, t);
      emit_i32(g, (int32_t)at);
      emit(g, 0x20), emit_u(g, user_local(g, t, k));
      if (lt == V128) emit_op(g, 0xfd, 11);
      else emit(g, STORE[lt]);
      emit_u(g, 0), emit_u(g, 0); /* align 1, offset 0 */
    }
}

/* One function's body (locals and code) into out. */
static void body(gen *g, unsigned f, buf *out) {
  buf code = {0};
  g->c = &code;
  g->f = f;
  g->nlab = 0;
  g->loops = 0;
  g->depth = 0;
  g->budget = BUDGET;
  push_label(g, g->s[f].r, false);
  g->lab[0].r2 = g->s[f].r2;
  /* The code in a block, then its locals stored to memory: what it
   * computed is compared even when no result or store shows it. Two
   * results make the block's type that of [] -> results (a type of
   * its own after the import's). */
  emit(g, 0x02);
  if (g->s[f].r2 == NONE) emit_blocktype(g, g->s[f].r);
  else put_sleb(g->c, g->nf + 2 + f);
  push_label(g, g->s[f].r, false);
  g->lab[1].r2 = g->s[f].r2;
  stmts(g, 6);
  label_values(g, &g->lab[1]);
  pop_label(g);
  emit(g, 0x0b);
  spill_locals(g);
  emit(g, 0x0b);
  pop_label(g);
  buf b = {0};
  /* groups: the user locals, three temporaries, counters, and with GC a
   * node, an array and a pack (node_local, arr_local, pack_local) */
  put_uleb(&b, NTY + 3 + 1 + 3 * g->gc);
  for (unsigned t = 0; t < NTY; t++) put_uleb(&b, NUSER), put(&b, TYCODE[global_type(g, t)]);
  put_uleb(&b, 1), put(&b, TYCODE[F32]);
  put_uleb(&b, 1), put(&b, TYCODE[F64]);
  put_uleb(&b, 1), put(&b, TYCODE[global_type(g, V128)]);
  put_uleb(&b, MAXLOOP), put(&b, TYCODE[I32]);
  if (g->gc) {
    put_uleb(&b, 1), put(&b, 0x63), put_sleb(&b, gt(g, GT_NODE));
    put_uleb(&b, 1), put(&b, 0x63), put_sleb(&b, gt(g, GT_ARR));
    put_uleb(&b, 1), put(&b, 0x63), put_sleb(&b, gt(g, GT_PACK));
  }
  put_n(&b, code.p, code.n);
  put_uleb(out, b.n);
  put_n(out, b.p, b.n);
  out->oom |= code.oom || b.oom;
  free(code.p);
  free(b.p);
}

/* The type of s (without its parameters unless params) into c. */
static void func_type(buf *c, const sig *s, bool params) {
  put(c, 0x60);
  put_uleb(c, params ? s->np : 0);
  for (unsigned i = 0; params && i < s->np; i++) put(c, TYCODE[s->p[i]]);
  put_uleb(c, (s->r != NONE) + (s->r2 != NONE));
  if (s->r != NONE) put(c, TYCODE[s->r]);
  if (s->r2 != NONE) put(c, TYCODE[s->r2]);
}

/* Makes a module from r: nf functions exported as f0..., a memory "m"
 * and maybe a second "m1", globals g0..g4 (i32, i64, f32, f64, v128;
 * mutable), a table of every function and a null element (growable by
 * 8), a passive segment of every function, a tag (param i32), a data
 * segment. */
static bool make_module(rd *r, gen *g, buf *m) {
  *g = (gen){.in = r};
  g->simd = rd_u8(r) & 1;
  g->nty = g->simd ? NTY : NTY - 1;
  g->nf = 1 + rd_below(r, MAXF);
  g->ni = rd_u8(r) & 1;
  static const unsigned MEM1[4] = {0, 0, 32, 64};
  g->mem1 = MEM1[rd_below(r, 4)];
  g->gc = rd_below(r, 3) == 0;
  for (unsigned f = 0; f <= MAXF; f++) {
    if (f == g->nf) f = IMPORT; /* the import's signature, used or not */
    sig *s = &g->s[f];
    s->np = (uint8_t)rd_below(r, MAXP + 1);
    for (unsigned i = 0; i < s->np; i++) s->p[i] = (uint8_t)rd_below(r, g->nty);
    unsigned k = rd_below(r, g->nty + 1);
    s->r = (uint8_t)(k == g->nty ? NONE : k);
    k = rd_below(r, 4 * g->nty); /* a quarter of the functions with a result have two */
    s->r2 = (uint8_t)(s->r != NONE && f != IMPORT && k < g->nty ? k : NONE);
  }
  buf c = {0};
  static const uint8_t head[] = {0, 'a', 's', 'm', 1, 0, 0, 0};
  put_n(m, head, sizeof head);
  /* types: one a function, the tag's, the import's, then each
   * function's results alone (the type of its body's block), then the
   * block types (bt_param) */
  g->bt = 2 * g->nf + 2;
  put_uleb(&c, bt_exn(g) + 1 + (g->gc ? GT_N : 0));
  for (unsigned f = 0; f <= MAXF; f++) {
    if (f == g->nf) { /* the tag's (param i32) between */
      put(&c, 0x60), put_uleb(&c, 1), put(&c, 0x7f), put_uleb(&c, 0);
      f = IMPORT;
    }
    func_type(&c, &g->s[f], true);
  }
  for (unsigned f = 0; f < g->nf; f++) func_type(&c, &g->s[f], false);
  for (unsigned pa = 0; pa < g->nty; pa++)
    for (unsigned rt = 0; rt <= g->nty; rt++) {
      put(&c, 0x60), put_uleb(&c, 1), put(&c, TYCODE[pa]);
      if (rt == g->nty) put_uleb(&c, 0);
      else put_uleb(&c, 1), put(&c, TYCODE[rt]);
    }
  for (unsigned a = 0; a < g->nty; a++)
    for (unsigned b = 0; b < g->nty; b++) put(&c, 0x60), put_uleb(&c, 0), put_uleb(&c, 2), put(&c, TYCODE[a]), put(&c, TYCODE[b]);
  put(&c, 0x60), put_uleb(&c, 0), put_uleb(&c, 2), put(&c, 0x7f), put(&c, 0x69); /* bt_exn */
  if (g->gc) { /* gt's: node (open), node2 (final, under node), arr, arr8, pack */
    for (unsigned two = 0; two < 2; two++) {
      if (two) put(&c, 0x4f), put_uleb(&c, 1), put_uleb(&c, gt(g, GT_NODE));
      else put(&c, 0x50), put_uleb(&c, 0);
      put(&c, 0x5f), put_uleb(&c, 3 + two);
      put(&c, 0x7f), put(&c, 1), put(&c, 0x7e), put(&c, 1);
      put(&c, 0x63), put_sleb(&c, gt(g, GT_NODE)), put(&c, 1);
      if (two) put(&c, 0x7d), put(&c, 1);
    }
    put(&c, 0x5e), put(&c, 0x7f), put(&c, 1);
    put(&c, 0x5e), put(&c, 0x78), put(&c, 1);
    put(&c, 0x5f), put_uleb(&c, 2 + g->simd), put(&c, 0x78), put(&c, 1), put(&c, 0x77), put(&c, 1);
    if (g->simd) put(&c, 0x7b), put(&c, 1);
  }
  section(m, 1, &c);
  if (g->ni) {
    put_uleb(&c, 1), put_name(&c, "env"), put_name(&c, "h"), put(&c, 0), put_uleb(&c, g->nf + 1);
    section(m, 2, &c);
  }
  put_uleb(&c, g->nf);
  for (unsigned f = 0; f < g->nf; f++) put_uleb(&c, f);
  section(m, 3, &c);
  /* table: the functions, then a null element; it may grow by 8 */
  put_uleb(&c, 1 + g->gc), put(&c, 0x70), put(&c, 0x01), put_uleb(&c, g->nf + 1), put_uleb(&c, g->nf + 9);
  if (g->gc) /* table 1: GC_TABLE_SIZE (ref null node) */
    put(&c, 0x63), put_sleb(&c, gt(g, GT_NODE)), put(&c, 0x00), put_uleb(&c, GC_TABLE_SIZE);
  section(m, 4, &c);
  /* memory: one page, a maximum or the engine's cap; the second the
   * same, of its address bits */
  put_uleb(&c, 1 + (g->mem1 != 0));
  for (unsigned k = 0; k <= (g->mem1 != 0); k++) {
    bool has_max = rd_u8(r) & 1;
    put(&c, (uint8_t)(has_max | (k && g->mem1 == 64 ? 0x04 : 0))), put_uleb(&c, 1);
    if (has_max) put_uleb(&c, 1 + rd_below(r, MEM_MAX));
  }
  section(m, 5, &c);
  put_uleb(&c, 1), put(&c, 0), put_uleb(&c, g->nf); /* the tag: the last type */
  section(m, 13, &c);
  /* globals: one of each type, mutable, a constant first */
  put_uleb(&c, NGLOBALS + (g->gc ? NGC_GLOBALS : 0));
  buf *saved = g->c;
  for (unsigned t = 0; t < NGLOBALS; t++) {
    put(&c, TYCODE[global_type(g, t)]), put(&c, 1);
    g->c = &c;
    emit_const(g, global_type(g, t));
    put(&c, 0x0b);
  }
  g->c = saved;
  if (g->gc) { /* G_NODE, G_EXT: null */
    put(&c, 0x63), put_sleb(&c, gt(g, GT_NODE)), put(&c, 1), put(&c, 0xd0), put_sleb(&c, gt(g, GT_NODE)), put(&c, 0x0b);
    put(&c, 0x6f), put(&c, 1), put(&c, 0xd0), put(&c, 0x6f), put(&c, 0x0b);
  }
  section(m, 6, &c);
  put_uleb(&c, g->nf + 1 + NGLOBALS + (g->mem1 != 0));
  char name[16];
  for (unsigned f = 0; f < g->nf; f++) {
    snprintf(name, sizeof name, "f%u", f);
    put_name(&c, name), put(&c, 0), put_uleb(&c, f + g->ni);
  }
  put_name(&c, "m"), put(&c, 2), put_uleb(&c, 0);
  if (g->mem1) put_name(&c, "m1"), put(&c, 2), put_uleb(&c, 1);
  for (unsigned t = 0; t < NGLOBALS; t++) {
    snprintf(name, sizeof name, "g%u", t);
    put_name(&c, name), put(&c, 3), put_uleb(&c, t);
  }
  section(m, 7, &c);
  /* elements: the active segment from 0, then a passive one (table.init) */
  put_uleb(&c, 2), put(&c, 0), put(&c, 0x41), put_sleb(&c, 0), put(&c, 0x0b);
  put_uleb(&c, g->nf);
  for (unsigned f = 0; f < g->nf; f++) put_uleb(&c, f + g->ni);
  put(&c, 1), put(&c, 0x00), put_uleb(&c, g->nf);
  for (unsigned f = 0; f < g->nf; f++) put_uleb(&c, f + g->ni);
  section(m, 9, &c);
  put_uleb(&c, g->nf);
  for (unsigned f = 0; f < g->nf; f++) body(g, f, &c);
  section(m, 10, &c);
  /* data: up to 64 bytes of the input somewhere in the first 1 KiB of
   * each memory (the second's offset an i64 when it is of 64 bits) */
  put_uleb(&c, 1 + (g->mem1 != 0));
  for (unsigned k = 0; k <= (g->mem1 != 0); k++) {
    unsigned at = rd_below(r, 256) * 4, len = rd_below(r, 65);
    if (k) put(&c, 2), put_uleb(&c, 1);
    else put(&c, 0);
    if (k && g->mem1 == 64) put(&c, 0x42), put_sleb(&c, at);
    else put(&c, 0x41), put_sleb(&c, at);
    put(&c, 0x0b);
    put_uleb(&c, len);
    for (unsigned i = 0; i < len; i++) put(&c, rd_u8(r));
  }
  section(m, 11, &c);
  bool ok = !c.oom && !m->oom;
  free(c.p);
  return ok;
}

/* ------------------------------------------------------- the two engines */

enum {
  FUEL = 2000000,   /* both engines; the compiled one's unit is coarser */
  TIMEOUT_MS = 1000, /* a backstop: no generated loop runs long */
  MAX_MEMORY = 1u << 20,
  MAX_CALLS = 16, /* calls an input makes (each on both engines) */
  PRUNE_EVERY = 2000,
};

static char cache_dir[64]; /* the temporary cache this process made, or "" */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag;
  if (ftw->level > 0) remove(p); /* the folder itself stays */
  return 0;
}

static void remove_cache(void) {
  if (!cache_dir[0]) return;
  nftw(cache_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  rmdir(cache_dir);
}

/* A cache of the compiled tier in a folder of its own, unless one is set. */
static void init_once(void) {
  static bool done;
  if (done) return;
  done = true;
  init_ops();
  /* A collection at every allocation that may have one: a root either
   * engine misses frees an object still in use (docs/engine.md). */
  setenv("CIS_GC_STRESS", "1", 0);
  const char *set = getenv("CIS_AOT_CACHE");
  if (set && *set) return;
  const char *tmp = getenv("TMPDIR");
  snprintf(cache_dir, sizeof cache_dir, "%s/cis-fuzz-diff-XXXXXX",
           tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
  if (!mkdtemp(cache_dir)) {
    perror("fuzz_diff: mkdtemp");
    abort();
  }
  setenv("CIS_AOT_CACHE", cache_dir, 1);
  atexit(remove_cache);
}

static cis_engine *new_engine(const char *name) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = name;
  cfg.limits.fuel = FUEL;
  cfg.limits.timeout_ms = TIMEOUT_MS;
  cfg.limits.max_memory_bytes = MAX_MEMORY;
  cis_engine *e = NULL;
  if (cis_engine_new(&cfg, &e) != CIS_OK) {
    fprintf(stderr, "fuzz_diff: no engine %s\n", name);
    abort();
  }
  return e;
}

typedef struct side {
  const char *name;    /* "interp" or "aot" */
  cis_engine *e;       /* its engine */
  cis_module *m;       /* the module loaded on it */
  cis_func *host;      /* env.h when the module imports it */
  cis_imports *im;     /* the imports holding it */
  cis_instance *inst;  /* its instance */
} side;

static void side_free(side *s) {
  if (s->inst) cis_instance_free(s->inst);
  if (s->im) cis_imports_free(s->im);
  if (s->host) cis_func_free(s->host);
  if (s->m) cis_module_free(s->m);
  if (s->e) cis_engine_free(s->e);
}

/* env.h: a hash of its arguments' bits as its result (a NaN's too),
 * or, for one hash in 16, a failure (CIS_TRAP_HOST); by other bits of
 * the hash it also grows memory 0 by a page and sets global g0 (i32),
 * which compiled code must see after the call. The signature is the
 * user pointer. */
static cis_result host_fn(cis_call *call, const cis_slot *args, cis_slot *results) {
  const sig *s = cis_call_user(call);
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (unsigned i = 0, slot = 0; i < s->np; i++) {
    bool narrow = s->p[i] == I32 || s->p[i] == F32; /* the slot's high half is not the value's */
    for (unsigned k = 0; k < (s->p[i] == V128 ? 2u : 1u); k++, slot++)
      h = (h ^ (narrow ? args[slot].u32 : args[slot].u64)) * 0x100000001b3ull;
  }
  h ^= h >> 29;
  if (h >> 60 == 0xf) return cis_call_fail(call, CIS_TRAP_HOST, "env.h failed");
  cis_instance *inst = cis_call_instance(call);
  cis_extern g0;
  if ((h >> 56 & 0xf) == 1) (void)cis_memory_grow(cis_instance_memory(inst), 1);
  if ((h >> 52 & 0x3) == 1 && cis_instance_export(inst, "g0", 2, &g0) == CIS_OK)
    (void)cis_global_set(g0.of.global, (cis_val){.type = CIS_I32, .of.u32 = (uint32_t)h});
  if (s->r != NONE) results[0].u64 = s->r == I32 || s->r == F32 ? (uint32_t)h : h;
  if (s->r == V128) results[1].u64 = h * 3;
  return CIS_OK;
}

/* Links env.h, made on the side's engine, when the module imports it. */
static void link_host(side *sd, const gen *g) {
  static const char CH[NTY] = {'i', 'I', 'f', 'F', 'v'};
  if (!g->ni) return;
  const sig *s = &g->s[IMPORT];
  char text[MAXP + 4], *p = text;
  *p++ = '(';
  for (unsigned i = 0; i < s->np; i++) *p++ = CH[s->p[i]];
  *p++ = ')';
  if (s->r != NONE) *p++ = CH[s->r];
  *p = 0;
  cis_host_func_def def = {.module = "env", .name = "h", .signature = text, .fn = host_fn, .user = (void *)s};
  if (cis_func_new_host(sd->e, &def, &sd->host) != CIS_OK || cis_imports_new(sd->e, &sd->im) != CIS_OK ||
      cis_imports_add_func(sd->im, "env", 3, "h", 1, sd->host) != CIS_OK)
    abort();
}

static void print_val(unsigned t, const cis_val *v) {
  switch (t) {
  case I32: fprintf(stderr, "i32 0x%08x", v->of.u32); break;
  case I64: fprintf(stderr, "i64 0x%016llx", (unsigned long long)v->of.u64); break;
  case F32: fprintf(stderr, "f32 0x%08x (%g)", v->of.u32, (double)v->of.f32); break;
  case F64: fprintf(stderr, "f64 0x%016llx (%g)", (unsigned long long)v->of.u64, v->of.f64); break;
  default:
    fprintf(stderr, "v128 ");
    for (unsigned i = 0; i < 16; i++) fprintf(stderr, "%02x", v->v128[i]);
  }
}

/* Values equal as the spec lets two engines differ: bits, but any NaN
 * equals any NaN of its width (the generator makes NaNs canonical where
 * they are nondeterministic; this is for arguments passed through). */
static bool same_val(unsigned t, const cis_val *a, const cis_val *b) {
  switch (t) {
  case I32: return a->of.u32 == b->of.u32;
  case I64: return a->of.u64 == b->of.u64;
  case F32: return a->of.u32 == b->of.u32 || (a->of.f32 != a->of.f32 && b->of.f32 != b->of.f32);
  case F64: return a->of.u64 == b->of.u64 || (a->of.f64 != a->of.f64 && b->of.f64 != b->of.f64);
  default: return !memcmp(a->v128, b->v128, 16);
  }
}

static bool stopped(cis_result r) {
  return r == CIS_EFUEL || r == CIS_ETIMEOUT || r == CIS_TRAP_STACK;
}

/* What a mismatch reports before it aborts. */
static void mismatch(const char *what, const side *a, const side *b, const char *fn,
                     const cis_val *args, unsigned nargs, const uint8_t *types) {
  fprintf(stderr, "\nfuzz_diff: MISMATCH (%s)", what);
  if (fn) {
    fprintf(stderr, " in the call %s(", fn);
    for (unsigned i = 0; i < nargs; i++) {
      if (i) fprintf(stderr, ", ");
      print_val(types[i], &args[i]);
    }
    fprintf(stderr, ")");
  }
  fprintf(stderr, "\n  %s: %s\n  %s: %s\n", a->name, a->inst ? cis_errmsg(a->inst) : cis_errmsg(a->e),
          b->name, b->inst ? cis_errmsg(b->inst) : cis_errmsg(b->e));
}

/* Memory ma of a and mb of b (named what) must be equal. */
static void compare_memory(const char *what, cis_memory *ma, cis_memory *mb, side *a, side *b, const char *fn,
                           const cis_val *args, unsigned nargs, const uint8_t *types) {
  uint64_t na = cis_memory_size(ma), nb = cis_memory_size(mb);
  if (na != nb) {
    mismatch(what, a, b, fn, args, nargs, types);
    fprintf(stderr, "  %s: %llu bytes, %s: %llu bytes\n", a->name, (unsigned long long)na, b->name,
            (unsigned long long)nb);
    abort();
  }
  const uint8_t *pa = cis_memory_data(ma), *pb = cis_memory_data(mb);
  if (memcmp(pa, pb, na)) {
    uint64_t i = 0;
    while (pa[i] == pb[i]) i++;
    mismatch(what, a, b, fn, args, nargs, types);
    fprintf(stderr, "  first difference at %llu:", (unsigned long long)i);
    for (uint64_t k = i; k < i + 16 && k < na; k++) fprintf(stderr, " %02x/%02x", pa[k], pb[k]);
    fprintf(stderr, " (%s/%s)\n", a->name, b->name);
    abort();
  }
}

/* The memories and the five globals of the two instances must be equal. */
static void compare_state(const gen *g, side *a, side *b, const char *fn, const cis_val *args,
                          unsigned nargs, const uint8_t *types) {
  compare_memory("memory 0", cis_instance_memory(a->inst), cis_instance_memory(b->inst), a, b, fn, args, nargs,
                 types);
  if (g->mem1) {
    cis_extern xa, xb;
    if (cis_instance_export(a->inst, "m1", 2, &xa) != CIS_OK || cis_instance_export(b->inst, "m1", 2, &xb) != CIS_OK)
      abort();
    compare_memory("memory 1", xa.of.memory, xb.of.memory, a, b, fn, args, nargs, types);
  }
  for (unsigned t = 0; t < NGLOBALS; t++) {
    char name[4] = {'g', (char)('0' + t), 0};
    cis_extern xa, xb;
    if (cis_instance_export(a->inst, name, 2, &xa) != CIS_OK ||
        cis_instance_export(b->inst, name, 2, &xb) != CIS_OK)
      abort();
    cis_val va = cis_global_get(xa.of.global), vb = cis_global_get(xb.of.global);
    unsigned gt = global_type(g, t);
    if (!same_val(gt, &va, &vb)) {
      mismatch("global", a, b, fn, args, nargs, types);
      fprintf(stderr, "  g%u: %s ", t, a->name);
      print_val(gt, &va);
      fprintf(stderr, ", %s ", b->name);
      print_val(gt, &vb);
      fprintf(stderr, "\n");
      abort();
    }
  }
}

/* Makes the same call on both sides and compares everything it did.
 * Returns false when a side stopped (the instances' states may differ
 * from there). */
static bool call_both(side *a, side *b, const gen *g, rd *r) {
  unsigned f = rd_below(r, g->nf);
  const sig *s = &g->s[f];
  char fn[4] = {'f', (char)('0' + f), 0};
  cis_val args[MAXP];
  for (unsigned i = 0; i < s->np; i++) {
    uint64_t lo, hi;
    value_bits(r, s->p[i], &lo, &hi);
    args[i] = (cis_val){.type = VALTYPE[s->p[i]], .of.u64 = lo};
    memcpy(args[i].v128, &lo, 8);
    memcpy(args[i].v128 + 8, &hi, 8);
  }
  cis_val ra[2] = {{.type = CIS_I32}}, rb[2] = {{.type = CIS_I32}};
  unsigned nr = (s->r != NONE) + (s->r2 != NONE);
  const uint8_t rt[2] = {s->r, s->r2};
  cis_func *fa = cis_instance_func(a->inst, fn), *fb = cis_instance_func(b->inst, fn);
  if (!fa || !fb) abort();
  cis_result ca = cis_func_call(a->inst, fa, args, s->np, ra, nr);
  cis_result cb = cis_func_call(b->inst, fb, args, s->np, rb, nr);
  if (stopped(ca) || stopped(cb)) return false;
  if (ca != cb) {
    mismatch("result code", a, b, fn, args, s->np, s->p);
    fprintf(stderr, "  %s: %s, %s: %s\n", a->name, cis_errname(ca), b->name, cis_errname(cb));
    abort();
  }
  for (unsigned i = 0; ca == CIS_OK && i < nr; i++)
    if (!same_val(rt[i], &ra[i], &rb[i])) {
      mismatch("result", a, b, fn, args, s->np, s->p);
      fprintf(stderr, "  result %u: %s ", i, a->name);
      print_val(rt[i], &ra[i]);
      fprintf(stderr, ", %s ", b->name);
      print_val(rt[i], &rb[i]);
      fprintf(stderr, "\n");
      abort();
    }
  compare_state(g, a, b, fn, args, s->np, s->p);
  return true;
}

/* Whether the last compile on e ended in the C compiler's own crash (GCC
 * writes "during GIMPLE pass" or "during RTL pass" before an internal
 * compiler error): not a fault of cis, but the code generator may have
 * to write the construct another way, as it does for the i64x2
 * comparisons GCC 12 crashed on (aot_prelude_simd.h). */
static bool ice(const cis_engine *e) {
  const char *m = cis_errmsg(e);
  return strstr(m, "the C compiler") && (strstr(m, "during GIMPLE pass") || strstr(m, "during RTL pass") ||
                                         strstr(m, "internal compiler error"));
}

static void dump(const buf *m) {
  const char *path = getenv("CIS_FUZZ_DIFF_DUMP");
  if (!path || !*path) return;
  FILE *f = fopen(path, "wb");
  if (!f) return;
  fwrite(m->p, 1, m->n, f);
  fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_once();
  if (size < 2) return 0;
  size_t split = (size_t)data[0] | (size_t)data[1] << 8;
  if (split > size - 2) split = size - 2;
  rd mr = {.p = data + 2, .n = split}, cr = {.p = data + 2 + split, .n = size - 2 - split};
  gen g;
  buf mod = {0};
  if (!make_module(&mr, &g, &mod)) {
    free(mod.p);
    return 0;
  }
  dump(&mod);
  static unsigned made;
  if (cache_dir[0] && ++made % PRUNE_EVERY == 0) {
    remove_cache(); /* the folder too: mkdtemp's name is free again */
    if (mkdir(cache_dir, 0700) != 0) abort();
  }

  side a = {.name = "interp", .e = new_engine("interp")}, b = {.name = "aot", .e = new_engine("aot")};
  cis_result ra = cis_module_new(a.e, mod.p, mod.n, &a.m);
  if (ra != CIS_OK) {
    fprintf(stderr, "fuzz_diff: the interpreter refuses a generated module: %s: %s\n", cis_errname(ra),
            cis_errmsg(a.e));
    abort();
  }
  cis_result rb = cis_module_new(b.e, mod.p, mod.n, &b.m);
  if (rb != CIS_OK && ice(b.e)) { /* a fault of the compiler, not of cis: noted, skipped */
    fprintf(stderr, "fuzz_diff: the C compiler crashed on a generated module (skipped): %.300s\n",
            cis_errmsg(b.e));
    side_free(&a);
    side_free(&b);
    free(mod.p);
    return 0;
  }
  if (rb != CIS_OK) {
    fprintf(stderr, "fuzz_diff: the compiled tier refuses a generated module: %s: %s\n", cis_errname(rb),
            cis_errmsg(b.e));
    abort();
  }
  link_host(&a, &g);
  link_host(&b, &g);
  ra = cis_instance_new(a.m, a.im, NULL, &a.inst);
  rb = cis_instance_new(b.m, b.im, NULL, &b.inst);
  if (ra != rb) {
    mismatch("instantiation", &a, &b, NULL, NULL, 0, NULL);
    fprintf(stderr, "  %s: %s, %s: %s\n", a.name, cis_errname(ra), b.name, cis_errname(rb));
    abort();
  }
  if (ra == CIS_OK) {
    compare_state(&g, &a, &b, NULL, NULL, 0, NULL);
    for (unsigned k = 0; k < MAX_CALLS && call_both(&a, &b, &g, &cr); k++) {
    }
  }
  side_free(&a);
  side_free(&b);
  free(mod.p);
  return 0;
}
