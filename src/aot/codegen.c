/*
 * This file implements the compiled tier's code generator: one C
 * translation unit from a validated module. Each defined function becomes
 * a C function over the context of aot_rt.h, with the wasm parameters as
 * C parameters and its results as the C return value (a struct for more
 * than one). The generated file also holds one entry per function, which
 * takes arguments and results as 64-bit slots, and the table the loader
 * looks up (cis_aot_object).
 *
 * The operand stack is resolved at generation time, as the validator did:
 * stack position p of type t is the C variable <t><p> (i, l, f, d, r, v
 * for i32, i64, f32, f64, references and v128), locals are L<n>. Blocks are labels
 * and gotos; a branch copies its values to the target's positions first.
 * The C compiler then allocates registers as for hand-written code. Code
 * after an unconditional branch is skipped up to the end or else of its
 * block, since nothing can reach it.
 *
 * Instructions are named by CIS__OP_* of src/wasm/opcodes.def, never by
 * their encoding; the table's SIG column types the plain numeric ones,
 * and their C meaning is one expression each (numeric_expr). The SIMD
 * instructions are calls of the lane functions both engines share
 * (src/wasm/simd.h, pasted into the generated file), chosen by the rows
 * of src/wasm/simd.def (gen_simd). A v128 is a C vector value; through
 * the runtime (slots) it takes two, the low half first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aot/aot.h"
#include "runtime/gc.h"
#include "wasm/opcodes.h"
#include "wasm/simd.h"

/* The prelude (embed.cmake): aot_rt.h, wasm/numeric.h and aot_prelude.h;
 * from cis__aot_prelude_mem_at on the memory part (aot_prelude_mem.h),
 * pasted only for modules with several memories or a 64-bit one; then
 * from cis__aot_prelude_simd_at on the SIMD part (wasm/simd.h and
 * aot_prelude_simd.h), pasted only for modules that use v128 (it adds
 * half to the compile time of a small module). */
extern const char cis__aot_prelude_text[];
extern const unsigned long cis__aot_prelude_mem_at;
extern const unsigned long cis__aot_prelude_simd_at;

/* ----------------------------------------------------------- buffers */

void cis__aot_buf_printf(cis__aot_buf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (int tries = 0; tries < 2; tries++) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = true;
      return;
    }
    if ((size_t)n < room) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len <= (size_t)n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
}

static void buf_append(cis__aot_buf *b, const char *s, size_t n) {
  if (b->oom || !n) return;
  if (b->cap - b->len <= n) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len <= n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

void cis__aot_buf_free(cis__aot_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------- types */

enum { TC_I32, TC_I64, TC_F32, TC_F64, TC_REF, TC_V128, TC_N };

static int tclass(uint8_t t) {
  switch (t) {
  case CIS__I32: return TC_I32;
  case CIS__I64: return TC_I64;
  case CIS__F32: return TC_F32;
  case CIS__F64: return TC_F64;
  case CIS__V128: return TC_V128;
  default: return cis__vt_is_ref(t) ? TC_REF : -1; /* every reference, GC's too: one pointer */
  }
}

static const char *const CTYPE[TC_N] = {"uint32_t", "uint64_t", "float", "double", "void *",
                                        "v128"};
static const char VARC[TC_N] = {'i', 'l', 'f', 'd', 'r', 'v'};
/* A zero initialiser of each class (a vector takes braces). */
static const char *const ZERO[TC_N] = {"0", "0", "0", "0", "0", "{0}"};

/* The C type and zero of value type t. check_types refuses a module with
 * any other type before a line is written, so the fallback is never
 * written; it names no C type, so a file holding it could not compile. */
static const char *ctype(uint8_t t) {
  int tc = tclass(t);
  return tc < 0 ? "cis_invalid_type" : CTYPE[tc];
}
static const char *czero(uint8_t t) {
  int tc = tclass(t);
  return tc < 0 ? "cis_invalid_type" : ZERO[tc];
}

/* A struct or array field's storage type as the value type it is read
 * as: the packed ones are i32. */
static uint8_t unpacked(uint8_t st) { return st == CIS__I8 || st == CIS__I16 ? CIS__I32 : st; }

/* Slots a value of type t takes through the runtime: two for a v128. */
static uint32_t nslots(uint8_t t) { return tclass(t) == TC_V128 ? 2 : 1; }

/* x (a scalar) as a 64-bit slot, and back. */
static void pack(char *out, size_t n, uint8_t t, const char *x) {
  switch (tclass(t)) {
  case TC_I32: snprintf(out, n, "(uint64_t)%s", x); break;
  case TC_I64: snprintf(out, n, "%s", x); break;
  case TC_F32: snprintf(out, n, "(uint64_t)f32_bits(%s)", x); break;
  case TC_F64: snprintf(out, n, "f64_bits(%s)", x); break;
  default: snprintf(out, n, "(uint64_t)(uintptr_t)%s", x); break;
  }
}
static void unpack(char *out, size_t n, uint8_t t, const char *x) {
  switch (tclass(t)) {
  case TC_I32: snprintf(out, n, "(uint32_t)%s", x); break;
  case TC_I64: snprintf(out, n, "%s", x); break;
  case TC_F32: snprintf(out, n, "f32_of((uint32_t)%s)", x); break;
  case TC_F64: snprintf(out, n, "f64_of(%s)", x); break;
  default: snprintf(out, n, "(void *)(uintptr_t)%s", x); break;
  }
}

/* The value of type t in slots arr[k] (and arr[k + 1] for a v128). */
static void slot_in(char *out, size_t n, uint8_t t, const char *arr, uint32_t k) {
  if (tclass(t) == TC_V128) {
    snprintf(out, n, "v128_of(%s[%u], %s[%u])", arr, k, arr, k + 1);
  } else {
    char in[32];
    snprintf(in, sizeof in, "%s[%u]", arr, k);
    unpack(out, n, t, in);
  }
}

/* Writes the statements storing x (an lvalue of type t) in slots arr[k]
 * (and arr[k + 1] for a v128, low half first). */
static void slot_out(cis__aot_buf *o, uint8_t t, const char *arr, uint32_t k, const char *x) {
  if (tclass(t) == TC_V128) {
    cis__aot_buf_printf(o, "%s[%u] = %s[0];\n%s[%u] = %s[1];\n", arr, k, x, arr, k + 1, x);
  } else {
    char v[96];
    pack(v, sizeof v, t, x);
    cis__aot_buf_printf(o, "%s[%u] = %s;\n", arr, k, v);
  }
}

/* -------------------------------------------------------- generator */

/* K_TRY is a legacy try's body, K_CATCH its catch blocks. */
enum { K_FUNC, K_BLOCK, K_LOOP, K_IF, K_TRY_TABLE, K_TRY, K_CATCH };

typedef struct ctl {
  uint8_t kind;           /* K_* */
  bool unreachable;       /* the rest of the block cannot be reached */
  bool has_else;          /* an if whose else was seen */
  bool rethrown;          /* K_CATCH: a rethrow names it (its exnref is kept) */
  uint32_t label;         /* L<label>_top / _end / _else / _c<k> (catch k) */
  uint32_t outer, inner;  /* the try (gen.ntry's numbering, 0 none) around
                             the block, and inside it: its own for a try body */
  uint32_t tid;           /* K_TRY_TABLE, K_TRY, K_CATCH: its try's number */
  uint32_t ncatch;        /* K_TRY, K_CATCH: catches so far */
  uint32_t height;        /* stack height below the block's parameters */
  uint32_t pslot;         /* K_IF of a function with a frame of references:
                             the slot + 1 of its first saved parameter (P) */
  uint32_t nparams, nresults;
  const uint8_t *params, *results; /* value types */
} ctl;

/* An i32x4 value widened from i16 lanes, remembered per stack position
 * so that an i32x4.mul of two alike becomes aot_mul16 (aot_prelude_simd.h):
 * XK_ON set, XK_HI the high lanes, XK_S signed. Positions from XK_MAX up
 * are not tracked. */
enum { XK_ON = 1, XK_HI = 2, XK_S = 4, XK_MAX = 64 };

/* A check group (grp_add): memory accesses of one basic block at one
 * i32 local plus constants, checked once for their whole extent. */
enum { GRP_MAX = 32 };
#define AF_CONST UINT32_MAX
typedef struct grp {
  uint32_t loc;           /* the local + 1 of the members' addresses; 0: none open */
  uint32_t lgen;          /* the local's generation (gen.lgen) the members' addresses read */
  size_t at;              /* body offset of the first member's check, where the group starts */
  uint32_t n;             /* members */
  size_t end;             /* body offset after the instruction of the last member */
  uint32_t nend;          /* members when end was taken */
  uint32_t k[GRP_MAX], off[GRP_MAX], size[GRP_MAX]; /* each member's constant, offset, size */
  size_t ck[GRP_MAX], cklen[GRP_MAX]; /* each member's own check: body offset, length */
} grp;

/* A loop-level check (lp_plan): a loop whose body is straight-line code
 * stepping an i32 local (the induction variable) by a constant, whose
 * accesses are at that local plus a loop-invariant local plus constants,
 * gets a copy without checks or ticks, run when one check at its entry
 * covers every access of every iteration (lp_close). A key is one
 * (invariant local, induction) pair the accesses are at. */
enum { LP_MAX = 16, LP_BODY_MAX = 4096 };
typedef struct lacc {
  uint32_t key;           /* index in lplan's keys */
  uint32_t k, off, size;  /* the address's constant (i32, wrapping), offset, bytes */
  bool store;
  size_t at, len;         /* body offset and length of the checked call's text */
} lacc;
typedef struct lplan {
  bool on;                /* the loop being generated has a plan */
  uint32_t label;         /* its label */
  uint32_t iv;            /* the induction variable's local */
  uint32_t step;          /* added to it per iteration (i32, not 0; 0 when sinv) */
  uint32_t sinv;          /* lt: the invariant local + 1 added per iteration, 0: step */
  uint32_t tinv, target;  /* the loop goes on while iv at an iteration's start != the
                             invariant local tinv - 1 (0: none) plus target; lt: while
                             iv at an iteration's end < it (unsigned) */
  bool lt;                /* the lt form, run in chunks of the ticks left (lp_close) */
  int64_t spread;         /* sinv: the widest store key's extent, at most the step */
  uint32_t nkey, kinv[LP_MAX]; /* per key: the invariant local + 1, 0 none */
  bool kiv[LP_MAX];       /* per key: the address adds the induction variable */
  uint32_t nacc, seen;    /* accesses of the body; those generated so far */
  lacc acc[LP_MAX];
  size_t at, top, brif;   /* body offsets: the loop's start, after its tick, its br_if */
  /* The generator's state where the body starts, which the second pass
   * over it (the checked loop) starts from again (lp_restore). */
  const uint8_t *p0;      /* the body's first instruction */
  uint32_t sp;            /* the stack's height */
  uint32_t nw, w[LP_MAX], wgen[LP_MAX]; /* the locals the body writes, their generations */
  uint32_t aloc[XK_MAX], ak[XK_MAX], agen[XK_MAX]; /* gen's address forms */
  uint8_t xk[XK_MAX], zk[XK_MAX], mk[XK_MAX], ok[XK_MAX], uk[XK_MAX], lk[XK_MAX];
  uint64_t umax[XK_MAX];
  uint8_t uexact[XK_MAX];
} lplan;

typedef struct gen {
  const cis__module *m;
  cis__aot_buf *out;      /* the translation unit */
  cis__aot_buf body;      /* the current function's statements */
  cis__aot_buf decls;     /* its extra declarations */
  char *msg;              /* error message */
  size_t cap;
  uint32_t fi;            /* current function (module index) */
  uint8_t *ltypes;        /* types of its locals, params first */
  uint32_t *lgen;         /* per local: local.set/tee of it so far in the body */
  uint32_t nlocals;       /* params + declared locals */
  uint8_t *stk;           /* type of each stack position */
  uint32_t sp, stk_cap;
  uint8_t *used;          /* TC_N flags per stack position: variable declared */
  uint32_t used_cap;      /* positions in used */
  ctl *ctls;
  uint32_t nctl, ctl_cap;
  uint32_t next_label;
  uint32_t skip;          /* nesting inside skipped (unreachable) code */
  bool v128;              /* the module uses v128: paste the SIMD prelude */
  bool fn_v128;           /* the current function does */
  bool calls;             /* the current function calls compiled code (call, call_indirect) */
  bool tail_calls;        /* it makes C tail calls (return_call*): gcc must keep sibling calls */
  uint8_t xk[XK_MAX];     /* per stack position: v<pos> is X<pos>'s i16 lanes widened (XK_*) */
  uint8_t zk[XK_MAX];     /* per stack position: v<pos> is known to be zero */
  uint8_t *zloc;          /* per local: a v128 local only ever assigned v128.const 0 */
  uint32_t aloc[XK_MAX];  /* per stack position: the i32 value is L<aloc - 1> + ak (wrapping);
                             AF_CONST: ak alone; 0: not known */
  uint32_t ak[XK_MAX];    /* per stack position: the constant of aloc */
  uint32_t agen[XK_MAX];  /* per stack position: the generation of aloc's local it read */
  /* Value ranges (rng_*): per stack position an upper bound of the
   * value as unsigned (RNG_ANY: none known), and whether it is exactly
   * that constant; per local the bound every value it holds keeps. */
  uint64_t umax[XK_MAX];
  uint8_t uexact[XK_MAX];
  uint64_t *lmax;         /* per local: the bound assumed in this pass */
  uint64_t *lseen;        /* per local: the largest bound stored in this pass */
  grp grp;                /* the check group open, if any */
  lplan lp;               /* the loop-level check of the loop being generated */
  uint64_t xdecl;         /* positions whose X<pos> the function declared */
  /* clang counts the lanes a comparison sets as a shuffle spreading the
   * bytes of its mask to i32 lanes, an and with i32x4 1s, and an
   * i32x4.add (gen_spread below). */
  uint8_t mk[XK_MAX];     /* per stack position: each byte of v<pos> is 0x00 or 0xff */
  uint8_t ok[XK_MAX];     /* per stack position: v<pos> is i32x4 1s */
  uint8_t uk[XK_MAX];     /* per stack position: UK_* of v<pos> and U<pos> */
  uint8_t *oloc;          /* per local: holds i32x4 1s here (oloc_at) */
  uint64_t udecl;         /* positions whose U<pos> the function declared */
  uint8_t lk[XK_MAX];     /* per stack position: W<pos> has v<pos>'s bytes 0 to 3 (low4) */
  uint64_t wdecl;         /* positions whose W<pos> the function declared */
  uint32_t unit;          /* the unit of the current function (plan_units) */
  const uint32_t *unit_of;/* per defined function: its unit */
  uint8_t *shared;        /* per defined function: called directly from another unit */
  uint32_t *rs;           /* per type: the type whose struct R its results are (result_shapes) */
  /* Exceptions: a function with a try links a handler (cis_aot_hnd H_)
   * and lands at X_land, whose catch clauses (land) are tried by the try
   * the function was in, then along try_next. */
  bool has_try;           /* the current function has a try or try_table */
  bool entry_tick;        /* its entry ticks (scan_body) */
  uint32_t ntry, try_cap; /* its tries, numbered from 1 */
  uint32_t *try_next;     /* per try: where an exception it does not catch goes */
  uint32_t xslots;        /* most value slots of a tag it catches */
  cis__aot_buf land;      /* its catch clauses, in the order they are tried */
  /* Tail calls out of a function with a try (gcc makes no sibling call
   * from a function that takes __builtin_setjmp): its body, wN_b, leaves
   * the callee and the arguments in a struct TCN of wN, a wrapper
   * without a handler, which makes the call (tramp_call). */
  uint32_t ntramp;        /* tail calls made so */
  uint32_t tramp_slots;   /* most argument slots of one */
  cis__aot_buf tramp;     /* the wrapper's case of each */
  /* References that may be objects (of any's or extern's hierarchy: a
   * collection inside the call must see them) are kept, in a function
   * that holds any, in the slots of a frame on its C stack (S_, a
   * cis_aot_roots linked from the call) instead of C variables; the
   * function is generated twice, the second time with the slots. */
  bool objs;              /* the module may hold objects (module_objs) */
  bool holds;             /* the current function holds one (a first pass saw it) */
  bool collects;          /* it has a point that may collect (collect_point) */
  uint32_t across;        /* the stack positions below this are live across one */
  bool shadow;            /* its references are in S_ (the second pass) */
  uint8_t *lobj;          /* per local: of any's or extern's hierarchy */
  uint32_t *lslot;        /* per local: its slot + 1 in S_, 0 a C variable */
  uint32_t *rslot;        /* per stack position: the slot + 1 of r<pos> */
  uint32_t nrslot;        /* positions in rslot */
  uint32_t nslot;         /* slots of S_ so far */
  /* A tail call out of such a function without a try leaves the block
   * where S_ lives for a label T<k> after it, where gcc sees S_ dead and
   * makes the call a jump. */
  uint32_t ntail;         /* tail calls made so */
  cis__aot_buf tails;     /* their labels and calls */
} gen;

/* UK_SPREAD: v<pos> is a shuffle of masks (mk), and U<pos> the same
 * shuffle with each i32 lane its first byte four times (0 or -1); UK_NEG:
 * v<pos> is such a shuffle anded with i32x4 1s, which is -U<pos>. */
enum { UK_SPREAD = 1, UK_NEG = 2 };

#define E(...) cis__aot_buf_printf(&g->body, __VA_ARGS__)
#define TRY(x)                     \
  do {                             \
    cis_result r_ = (x);           \
    if (r_ != CIS_OK) return r_;   \
  } while (0)

static cis_result fail(gen *g, cis_result rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cis_result fail(gen *g, cis_result rc, const char *fmt, ...) {
  if (g->msg && g->cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->msg, g->cap, fmt, ap);
    va_end(ap);
  }
  return rc;
}

static bool grow(void **p, uint32_t *cap, uint32_t need, size_t size) {
  if (need <= *cap) return true;
  uint32_t n = *cap ? *cap : 16;
  while (n < need) n *= 2;
  void *q = realloc(*p, (size_t)n * size);
  if (!q) return false;
  *p = q;
  *cap = n;
  return true;
}

/* May a value of kind t (a reference's: the engines' one byte) be an
 * object? Of any's or extern's hierarchy; in a module with GC a function
 * reference's kind may also be a struct's or array's type index's. */
static bool kind_obj(const gen *g, uint8_t t) {
  uint8_t top = cis__kind_top(t);
  return top == CIS__ANYREF || top == CIS__EXTERNREF || (t == CIS__FUNCREF && g->m->uses_gc);
}

/* The same of full value type vt of module m: exact, by its type index. */
static bool vt_obj(const cis__module *m, uint32_t vt) {
  if (!cis__vt_is_ref(vt)) return false;
  if (cis__vt_has_idx(vt)) return cis__vt_idx(vt) < m->ntypes && !cis__is_functype(&m->types[cis__vt_idx(vt)]);
  uint8_t top = cis__kind_top(cis__vt_kind(vt));
  return top == CIS__ANYREF || top == CIS__EXTERNREF;
}

/* The variable of stack position pos as type t, marked used: a slot of
 * S_ for a reference of a function that keeps them there. */
static const char *var(gen *g, uint32_t pos, uint8_t t, char buf[24]) {
  int tc = tclass(t);
  if (tc == TC_V128) g->v128 = g->fn_v128 = true;
  if (pos < g->used_cap) g->used[pos * TC_N + tc] = 1;
  if (tc == TC_REF && g->objs && kind_obj(g, t)) g->holds = true;
  if (tc == TC_REF && g->shadow && pos < g->nrslot && g->rslot[pos])
    snprintf(buf, 24, "S_.s[%u]", g->rslot[pos] - 1);
  else
    snprintf(buf, 24, "%c%u", VARC[tc], pos);
  return buf;
}

/* The variable of local k. */
static const char *lvar(const gen *g, uint32_t k, char buf[24]) {
  if (g->shadow && g->lslot[k]) snprintf(buf, 24, "S_.s[%u]", g->lslot[k] - 1);
  else snprintf(buf, 24, "L%u", k);
  return buf;
}

/* The instruction about to be written, whose n operands are the top of
 * the stack, may collect (a call, or an allocation): the references a
 * frame holds across it must be in S_. Its operands are the callee's
 * (which keeps them itself) or the runtime's (cis__gc_op's roots). */
static void collect_point(gen *g, uint32_t n) {
  g->collects = true;
  if (g->sp - n > g->across) g->across = g->sp - n;
}

/* Room in g->used for the stack positions below n. */
static cis_result reserve_used(gen *g, uint32_t n) {
  uint32_t old = g->used_cap;
  if (n > g->used_cap) {
    uint32_t cap = g->used_cap;
    if (!grow((void **)&g->used, &cap, n, TC_N)) return CIS_ENOMEM;
    memset(g->used + (size_t)old * TC_N, 0, (size_t)(cap - old) * TC_N);
    g->used_cap = cap;
  }
  return CIS_OK;
}

static cis_result push(gen *g, uint8_t t) {
  if (!grow((void **)&g->stk, &g->stk_cap, g->sp + 1, 1)) return CIS_ENOMEM;
  TRY(reserve_used(g, g->sp + 1));
  g->stk[g->sp++] = t;
  return CIS_OK;
}

/* Top stack position's variable (offset k below the top: 0 is the top). */
static const char *top(gen *g, uint32_t k, char buf[24]) {
  uint32_t pos = g->sp - 1 - k;
  return var(g, pos, g->stk[pos], buf);
}

/* -------------------------------------------------------- immediates */

static bool rd_u32(const uint8_t **p, const uint8_t *end, uint32_t *v) {
  return cis__read_u32(p, end, v);
}

static bool rd_byte(const uint8_t **p, const uint8_t *end, uint8_t *v) {
  if (*p >= end) return false;
  *v = *(*p)++;
  return true;
}

/* Skips the immediates of kind imm. */
static bool skip_imm(const uint8_t **p, const uint8_t *end, int imm) {
  cis__memarg ma;
  uint32_t a, n;
  int64_t s;
  uint8_t b;
  switch (imm) {
  case CIS__IMM_NONE: return true;
  case CIS__IMM_BLOCK: return cis__read_blocktype(p, end, &s);
  case CIS__IMM_TYPE:
  case CIS__IMM_LABEL:
  case CIS__IMM_FUNC:
  case CIS__IMM_LOCAL:
  case CIS__IMM_GLOBAL:
  case CIS__IMM_TABLE:
  case CIS__IMM_DATA:
  case CIS__IMM_ELEM:
  case CIS__IMM_TAG: return rd_u32(p, end, &a);
  case CIS__IMM_TRY_TABLE: {
    cis__catch k;
    if (!cis__read_blocktype(p, end, &s) || !rd_u32(p, end, &n)) return false;
    for (uint32_t i = 0; i < n; i++)
      if (!cis__read_catch(p, end, &k)) return false;
    return true;
  }
  case CIS__IMM_BR_TABLE:
    if (!rd_u32(p, end, &n)) return false;
    for (uint64_t i = 0; i <= n; i++)
      if (!rd_u32(p, end, &a)) return false;
    return true;
  case CIS__IMM_CALL_INDIRECT:
  case CIS__IMM_TABLE_INIT:
  case CIS__IMM_TABLE_COPY: return rd_u32(p, end, &a) && rd_u32(p, end, &a);
  case CIS__IMM_MEMARG: return cis__read_memarg(p, end, &ma);
  case CIS__IMM_MEMIDX: return rd_u32(p, end, &a);
  case CIS__IMM_HEAPTYPE: return cis__read_heaptype(p, end, &a);
  case CIS__IMM_I32: return cis__read_s32(p, end, (int32_t *)&a);
  case CIS__IMM_I64: return cis__read_s64(p, end, &s);
  case CIS__IMM_F32:
    if (end - *p < 4) return false;
    *p += 4;
    return true;
  case CIS__IMM_F64:
    if (end - *p < 8) return false;
    *p += 8;
    return true;
  case CIS__IMM_SELECT_T:
    if (!rd_u32(p, end, &n)) return false;
    for (uint32_t i = 0; i < n; i++)
      if (cis__read_valtype(p, end, true, &a)) return false;
    return true;
  case CIS__IMM_MEMORY_INIT:
  case CIS__IMM_MEMORY_COPY: return rd_u32(p, end, &a) && rd_u32(p, end, &a);
  case CIS__IMM_V128:
  case CIS__IMM_SHUFFLE:
    if (end - *p < 16) return false;
    *p += 16;
    return true;
  case CIS__IMM_LANE: return rd_byte(p, end, &b);
  case CIS__IMM_MEMARG_LANE: return cis__read_memarg(p, end, &ma) && rd_byte(p, end, &b);
  case CIS__IMM_TYPE_FIELD:
  case CIS__IMM_TYPE_FIXED:
  case CIS__IMM_TYPE_DATA:
  case CIS__IMM_TYPE_ELEM:
  case CIS__IMM_TYPE_TYPE: return rd_u32(p, end, &a) && rd_u32(p, end, &a);
  case CIS__IMM_CAST:
    return rd_byte(p, end, &b) && rd_u32(p, end, &a) && cis__read_heaptype(p, end, &a) &&
           cis__read_heaptype(p, end, &a);
  default: return false;
  }
}

/* ------------------------------------------------------ numeric ops */

/* The C expression of a plain numeric instruction over operands $a, $b;
 * $f is the function index (for traps). NULL when op is not one. */
static const char *numeric_expr(enum cis__op op) {
  switch (op) {
  case CIS__OP_I32_EQZ: return "$a == 0";
  case CIS__OP_I32_EQ: return "$a == $b";
  case CIS__OP_I32_NE: return "$a != $b";
  case CIS__OP_I32_LT_S: return "(int32_t)$a < (int32_t)$b";
  case CIS__OP_I32_LT_U: return "$a < $b";
  case CIS__OP_I32_GT_S: return "(int32_t)$a > (int32_t)$b";
  case CIS__OP_I32_GT_U: return "$a > $b";
  case CIS__OP_I32_LE_S: return "(int32_t)$a <= (int32_t)$b";
  case CIS__OP_I32_LE_U: return "$a <= $b";
  case CIS__OP_I32_GE_S: return "(int32_t)$a >= (int32_t)$b";
  case CIS__OP_I32_GE_U: return "$a >= $b";
  case CIS__OP_I64_EQZ: return "$a == 0";
  case CIS__OP_I64_EQ: return "$a == $b";
  case CIS__OP_I64_NE: return "$a != $b";
  case CIS__OP_I64_LT_S: return "(int64_t)$a < (int64_t)$b";
  case CIS__OP_I64_LT_U: return "$a < $b";
  case CIS__OP_I64_GT_S: return "(int64_t)$a > (int64_t)$b";
  case CIS__OP_I64_GT_U: return "$a > $b";
  case CIS__OP_I64_LE_S: return "(int64_t)$a <= (int64_t)$b";
  case CIS__OP_I64_LE_U: return "$a <= $b";
  case CIS__OP_I64_GE_S: return "(int64_t)$a >= (int64_t)$b";
  case CIS__OP_I64_GE_U: return "$a >= $b";
  case CIS__OP_F32_EQ:
  case CIS__OP_F64_EQ: return "$a == $b";
  case CIS__OP_F32_NE:
  case CIS__OP_F64_NE: return "$a != $b";
  case CIS__OP_F32_LT:
  case CIS__OP_F64_LT: return "$a < $b";
  case CIS__OP_F32_GT:
  case CIS__OP_F64_GT: return "$a > $b";
  case CIS__OP_F32_LE:
  case CIS__OP_F64_LE: return "$a <= $b";
  case CIS__OP_F32_GE:
  case CIS__OP_F64_GE: return "$a >= $b";
  case CIS__OP_I32_CLZ: return "clz32($a)";
  case CIS__OP_I32_CTZ: return "ctz32($a)";
  case CIS__OP_I32_POPCNT: return "(uint32_t)__builtin_popcount($a)";
  case CIS__OP_I32_ADD:
  case CIS__OP_I64_ADD: return "$a + $b";
  case CIS__OP_I32_SUB:
  case CIS__OP_I64_SUB: return "$a - $b";
  case CIS__OP_I32_MUL:
  case CIS__OP_I64_MUL: return "$a * $b";
  case CIS__OP_I32_DIV_S: return "i32_div_s(c, $f, $a, $b)";
  case CIS__OP_I32_DIV_U: return "i32_div_u(c, $f, $a, $b)";
  case CIS__OP_I32_REM_S: return "i32_rem_s(c, $f, $a, $b)";
  case CIS__OP_I32_REM_U: return "i32_rem_u(c, $f, $a, $b)";
  case CIS__OP_I32_AND:
  case CIS__OP_I64_AND: return "$a & $b";
  case CIS__OP_I32_OR:
  case CIS__OP_I64_OR: return "$a | $b";
  case CIS__OP_I32_XOR:
  case CIS__OP_I64_XOR: return "$a ^ $b";
  case CIS__OP_I32_SHL: return "$a << ($b & 31)";
  case CIS__OP_I32_SHR_S: return "(uint32_t)((int32_t)$a >> ($b & 31))";
  case CIS__OP_I32_SHR_U: return "$a >> ($b & 31)";
  case CIS__OP_I32_ROTL: return "rotl32($a, $b)";
  case CIS__OP_I32_ROTR: return "rotr32($a, $b)";
  case CIS__OP_I64_CLZ: return "clz64($a)";
  case CIS__OP_I64_CTZ: return "ctz64($a)";
  case CIS__OP_I64_POPCNT: return "(uint64_t)__builtin_popcountll($a)";
  case CIS__OP_I64_DIV_S: return "i64_div_s(c, $f, $a, $b)";
  case CIS__OP_I64_DIV_U: return "i64_div_u(c, $f, $a, $b)";
  case CIS__OP_I64_REM_S: return "i64_rem_s(c, $f, $a, $b)";
  case CIS__OP_I64_REM_U: return "i64_rem_u(c, $f, $a, $b)";
  case CIS__OP_I64_SHL: return "$a << ($b & 63)";
  case CIS__OP_I64_SHR_S: return "(uint64_t)((int64_t)$a >> ($b & 63))";
  case CIS__OP_I64_SHR_U: return "$a >> ($b & 63)";
  case CIS__OP_I64_ROTL: return "rotl64($a, $b)";
  case CIS__OP_I64_ROTR: return "rotr64($a, $b)";
  case CIS__OP_F32_ABS: return "f32_of(f32_bits($a) & 0x7fffffffu)";
  case CIS__OP_F32_NEG: return "f32_of(f32_bits($a) ^ 0x80000000u)";
  case CIS__OP_F32_CEIL: return "q32($a, __builtin_ceilf($a))";
  case CIS__OP_F32_FLOOR: return "q32($a, __builtin_floorf($a))";
  case CIS__OP_F32_TRUNC: return "q32($a, __builtin_truncf($a))";
  case CIS__OP_F32_NEAREST: return "q32($a, __builtin_rintf($a))";
  case CIS__OP_F32_SQRT: return "__builtin_sqrtf($a)";
  case CIS__OP_F32_ADD:
  case CIS__OP_F64_ADD: return "$a + $b";
  case CIS__OP_F32_SUB:
  case CIS__OP_F64_SUB: return "$a - $b";
  case CIS__OP_F32_MUL:
  case CIS__OP_F64_MUL: return "$a * $b";
  case CIS__OP_F32_DIV:
  case CIS__OP_F64_DIV: return "$a / $b";
  case CIS__OP_F32_MIN: return "fmin32($a, $b)";
  case CIS__OP_F32_MAX: return "fmax32($a, $b)";
  case CIS__OP_F32_COPYSIGN:
    return "f32_of((f32_bits($a) & 0x7fffffffu) | (f32_bits($b) & 0x80000000u))";
  case CIS__OP_F64_ABS: return "f64_of(f64_bits($a) & 0x7fffffffffffffffull)";
  case CIS__OP_F64_NEG: return "f64_of(f64_bits($a) ^ 0x8000000000000000ull)";
  case CIS__OP_F64_CEIL: return "q64($a, __builtin_ceil($a))";
  case CIS__OP_F64_FLOOR: return "q64($a, __builtin_floor($a))";
  case CIS__OP_F64_TRUNC: return "q64($a, __builtin_trunc($a))";
  case CIS__OP_F64_NEAREST: return "q64($a, __builtin_rint($a))";
  case CIS__OP_F64_SQRT: return "__builtin_sqrt($a)";
  case CIS__OP_F64_MIN: return "fmin64($a, $b)";
  case CIS__OP_F64_MAX: return "fmax64($a, $b)";
  case CIS__OP_F64_COPYSIGN:
    return "f64_of((f64_bits($a) & 0x7fffffffffffffffull) | (f64_bits($b) & "
           "0x8000000000000000ull))";
  case CIS__OP_I32_WRAP_I64: return "(uint32_t)$a";
  case CIS__OP_I32_TRUNC_F32_S: return "i32_trunc_f32_s(c, $f, $a)";
  case CIS__OP_I32_TRUNC_F32_U: return "i32_trunc_f32_u(c, $f, $a)";
  case CIS__OP_I32_TRUNC_F64_S: return "i32_trunc_f64_s(c, $f, $a)";
  case CIS__OP_I32_TRUNC_F64_U: return "i32_trunc_f64_u(c, $f, $a)";
  case CIS__OP_I64_EXTEND_I32_S: return "(uint64_t)(int64_t)(int32_t)$a";
  case CIS__OP_I64_EXTEND_I32_U: return "(uint64_t)$a";
  case CIS__OP_I64_TRUNC_F32_S: return "i64_trunc_f32_s(c, $f, $a)";
  case CIS__OP_I64_TRUNC_F32_U: return "i64_trunc_f32_u(c, $f, $a)";
  case CIS__OP_I64_TRUNC_F64_S: return "i64_trunc_f64_s(c, $f, $a)";
  case CIS__OP_I64_TRUNC_F64_U: return "i64_trunc_f64_u(c, $f, $a)";
  case CIS__OP_F32_CONVERT_I32_S: return "(float)(int32_t)$a";
  case CIS__OP_F32_CONVERT_I32_U: return "(float)$a";
  case CIS__OP_F32_CONVERT_I64_S: return "(float)(int64_t)$a";
  case CIS__OP_F32_CONVERT_I64_U: return "(float)$a";
  case CIS__OP_F32_DEMOTE_F64: return "(float)$a";
  case CIS__OP_F64_CONVERT_I32_S: return "(double)(int32_t)$a";
  case CIS__OP_F64_CONVERT_I32_U: return "(double)$a";
  case CIS__OP_F64_CONVERT_I64_S: return "(double)(int64_t)$a";
  case CIS__OP_F64_CONVERT_I64_U: return "(double)$a";
  case CIS__OP_F64_PROMOTE_F32: return "f64_promote($a)";
  case CIS__OP_I32_REINTERPRET_F32: return "f32_bits($a)";
  case CIS__OP_I64_REINTERPRET_F64: return "f64_bits($a)";
  case CIS__OP_F32_REINTERPRET_I32: return "f32_of($a)";
  case CIS__OP_F64_REINTERPRET_I64: return "f64_of($a)";
  case CIS__OP_I32_EXTEND8_S: return "(uint32_t)(int32_t)(int8_t)$a";
  case CIS__OP_I32_EXTEND16_S: return "(uint32_t)(int32_t)(int16_t)$a";
  case CIS__OP_I64_EXTEND8_S: return "(uint64_t)(int64_t)(int8_t)$a";
  case CIS__OP_I64_EXTEND16_S: return "(uint64_t)(int64_t)(int16_t)$a";
  case CIS__OP_I64_EXTEND32_S: return "(uint64_t)(int64_t)(int32_t)$a";
  case CIS__OP_I32_TRUNC_SAT_F32_S: return "i32_sat_f32_s($a)";
  case CIS__OP_I32_TRUNC_SAT_F32_U: return "i32_sat_f32_u($a)";
  case CIS__OP_I32_TRUNC_SAT_F64_S: return "i32_sat_f64_s($a)";
  case CIS__OP_I32_TRUNC_SAT_F64_U: return "i32_sat_f64_u($a)";
  case CIS__OP_I64_TRUNC_SAT_F32_S: return "i64_sat_f32_s($a)";
  case CIS__OP_I64_TRUNC_SAT_F32_U: return "i64_sat_f32_u($a)";
  case CIS__OP_I64_TRUNC_SAT_F64_S: return "i64_sat_f64_s($a)";
  case CIS__OP_I64_TRUNC_SAT_F64_U: return "i64_sat_f64_u($a)";
  default: return NULL;
  }
}

/* Writes dst = tmpl with $a, $b, $f replaced. */
static void emit_expr(gen *g, const char *dst, const char *tmpl, const char *a, const char *b) {
  E("%s = ", dst);
  for (const char *s = tmpl; *s; s++) {
    if (s[0] == '$' && s[1]) {
      s++;
      if (*s == 'a') E("%s", a);
      else if (*s == 'b') E("%s", b ? b : "0");
      else if (*s == 'f') E("%u", g->fi);
      continue;
    }
    buf_append(&g->body, s, 1);
  }
  E(";\n");
}

/* Memory access: the helper and the types of a load or store. */
static bool mem_op(enum cis__op op, const char **helper, const char **conv, uint8_t *vt,
                   bool *store) {
  *store = false;
  *conv = "%s";
  switch (op) {
  case CIS__OP_I32_LOAD: *helper = "ld32"; *vt = CIS__I32; return true;
  case CIS__OP_I64_LOAD: *helper = "ld64"; *vt = CIS__I64; return true;
  case CIS__OP_F32_LOAD: *helper = "ld32"; *conv = "f32_of(%s)"; *vt = CIS__F32; return true;
  case CIS__OP_F64_LOAD: *helper = "ld64"; *conv = "f64_of(%s)"; *vt = CIS__F64; return true;
  case CIS__OP_I32_LOAD8_S: *helper = "ld8"; *conv = "(uint32_t)(int32_t)(int8_t)%s"; *vt = CIS__I32; return true;
  case CIS__OP_I32_LOAD8_U: *helper = "ld8"; *conv = "(uint32_t)%s"; *vt = CIS__I32; return true;
  case CIS__OP_I32_LOAD16_S: *helper = "ld16"; *conv = "(uint32_t)(int32_t)(int16_t)%s"; *vt = CIS__I32; return true;
  case CIS__OP_I32_LOAD16_U: *helper = "ld16"; *conv = "(uint32_t)%s"; *vt = CIS__I32; return true;
  case CIS__OP_I64_LOAD8_S: *helper = "ld8"; *conv = "(uint64_t)(int64_t)(int8_t)%s"; *vt = CIS__I64; return true;
  case CIS__OP_I64_LOAD8_U: *helper = "ld8"; *conv = "(uint64_t)%s"; *vt = CIS__I64; return true;
  case CIS__OP_I64_LOAD16_S: *helper = "ld16"; *conv = "(uint64_t)(int64_t)(int16_t)%s"; *vt = CIS__I64; return true;
  case CIS__OP_I64_LOAD16_U: *helper = "ld16"; *conv = "(uint64_t)%s"; *vt = CIS__I64; return true;
  case CIS__OP_I64_LOAD32_S: *helper = "ld32"; *conv = "(uint64_t)(int64_t)(int32_t)%s"; *vt = CIS__I64; return true;
  case CIS__OP_I64_LOAD32_U: *helper = "ld32"; *conv = "(uint64_t)%s"; *vt = CIS__I64; return true;
  default: break;
  }
  *store = true;
  switch (op) {
  case CIS__OP_I32_STORE: *helper = "st32"; *vt = CIS__I32; return true;
  case CIS__OP_I64_STORE: *helper = "st64"; *vt = CIS__I64; return true;
  case CIS__OP_F32_STORE: *helper = "st32"; *conv = "f32_bits(%s)"; *vt = CIS__F32; return true;
  case CIS__OP_F64_STORE: *helper = "st64"; *conv = "f64_bits(%s)"; *vt = CIS__F64; return true;
  case CIS__OP_I32_STORE8: *helper = "st8"; *conv = "(uint8_t)%s"; *vt = CIS__I32; return true;
  case CIS__OP_I32_STORE16: *helper = "st16"; *conv = "(uint16_t)%s"; *vt = CIS__I32; return true;
  case CIS__OP_I64_STORE8: *helper = "st8"; *conv = "(uint8_t)%s"; *vt = CIS__I64; return true;
  case CIS__OP_I64_STORE16: *helper = "st16"; *conv = "(uint16_t)%s"; *vt = CIS__I64; return true;
  case CIS__OP_I64_STORE32: *helper = "st32"; *conv = "(uint32_t)%s"; *vt = CIS__I64; return true;
  default: return false;
  }
}

/* Whether memory mi is memory 0 of 32-bit addresses: its accesses read
 * M and MS, lean on its guard region and join check groups (aot_prelude.h).
 * The others, memories 1 and up and a 64-bit memory 0, are checked at
 * each access by a sum that cannot wrap (aot_prelude_mem.h). */
static bool mem_plain(const cis__module *m, uint32_t mi) { return mi == 0 && !m->memories[0].is64; }

/* Whether the C of m needs aot_prelude_mem.h: a memory that is not plain. */
static bool mem_part(const cis__module *m) {
  return m->nmemories > 1 || (m->nmemories == 1 && m->memories[0].is64);
}

/* Memory mi's current size in bytes, as C. */
static const char *mem_size_c(uint32_t mi, char buf[32]) {
  if (!mi) return "MS";
  snprintf(buf, 32, "AOT_MSZ(%u)", mi);
  return buf;
}

/* The checked pointer, as C, to an access of size bytes at address
 * variable a plus off in memory mi, which is not plain (mem_plain). */
static void mem_ptr(uint32_t fi, char *out, size_t n, uint32_t mi, const char *a, uint64_t off,
                    uint32_t size) {
  char ms[32];
  const char *sz = mem_size_c(mi, ms);
  if (mi) snprintf(out, n, "AOT_MB(%u) + aot_eax(c, %u, %s, %s, 0x%llxull, %u)", mi, fi, sz, a,
                   (unsigned long long)off, size);
  else snprintf(out, n, "M + aot_eax(c, %u, %s, %s, 0x%llxull, %u)", fi, sz, a,
                (unsigned long long)off, size);
}

/* ------------------------------------------------------ check groups */

/* Closes the open check group. Each member was written with its own
 * check, so the body from the first member to the end of the last one's
 * instruction is the block as if there were no group. With several
 * members, that text is written twice, behind one check of their whole
 * extent, from the lowest constant (as a signed i32) to the end of the
 * farthest access: if L + kmin (wrapped to 32 bits) plus that extent is
 * within the memory, no member's address wrapped (a memory is at most
 * 2^32 bytes) and every member is in bounds, so the first copy, without
 * the members' checks, does what the second would; otherwise the
 * second, unchanged, runs, and each access traps or not at its own
 * place. The members' addresses are of the value L has where the group
 * starts, though L may be set within it (grp_add), and nothing in the
 * group changes the memory's size (addr_before), so the one check holds
 * for the whole copy. What follows the last member is written once,
 * after both: gcc merged the copies' values of a loop's exit test before
 * branching on it, a setne and a test more per iteration. */
static void grp_close(gen *g) {
  grp *q = &g->grp;
  uint32_t loc = q->loc;
  q->loc = 0;
  if (!loc || q->n == 1 || g->body.oom) return;
  int64_t kmin = INT64_MAX, ext = 0;
  for (uint32_t i = 0; i < q->n; i++)
    if ((int32_t)q->k[i] < kmin) kmin = (int32_t)q->k[i];
  for (uint32_t i = 0; i < q->n; i++) {
    int64_t e = (int32_t)q->k[i] - kmin + q->off[i] + q->size[i];
    if (e > ext) ext = e;
  }
  cis__aot_buf t = {0}, tail = {0};
  buf_append(&tail, g->body.p + q->end, g->body.len - q->end);
  g->body.len = q->end;
  /* Against the size less the extent, which gcc keeps in a register
   * across a loop (one compare and a branch, no lea), but in functions
   * that use v128: there gcc kept one such bound per extent alive around
   * the groups' loops and chose worse induction variables (simd_dot 7%,
   * simd_bytes 12% more instructions). aot_ea keeps the address plus the
   * width everywhere: the same form there made sha256 4-5% slower
   * (bench/NOTES.md). */
  if (g->fn_v128)
    cis__aot_buf_printf(&t, "if (AOT_LIKELY((uint64_t)(uint32_t)(L%u + 0x%xu) + %lluull <= MS)) {\n",
                        loc - 1, (uint32_t)kmin, (unsigned long long)ext);
  else
    cis__aot_buf_printf(&t, "if (AOT_LIKELY((int64_t)(uint32_t)(L%u + 0x%xu) <= (int64_t)MS - %lld)) {\n",
                        loc - 1, (uint32_t)kmin, (long long)ext);
  size_t from = q->at;
  for (uint32_t i = 0; i < q->n; i++) {
    buf_append(&t, g->body.p + from, q->ck[i] - from);
    from = q->ck[i] + q->cklen[i];
  }
  buf_append(&t, g->body.p + from, g->body.len - from);
  cis__aot_buf_printf(&t, "} else {\n");
  buf_append(&t, g->body.p + q->at, g->body.len - q->at);
  cis__aot_buf_printf(&t, "}\n");
  g->body.len = q->at;
  buf_append(&g->body, t.p ? t.p : "", t.len);
  buf_append(&g->body, tail.p ? tail.p : "", tail.len);
  if (t.oom || tail.oom) g->body.oom = true;
  cis__aot_buf_free(&t);
  cis__aot_buf_free(&tail);
}

/* Whether the access of size bytes at the address in stack position pos
 * (variable avar) plus off joins a check group (true: its own check is
 * written here, and the caller writes the access unchecked) or is
 * checked by the caller. A group takes the accesses at one value of a
 * local plus constants, loads and stores, and ends where the memory's
 * size may change or control flow joins or leaves (addr_before). */
static bool grp_add(gen *g, uint32_t pos, const char *avar, uint32_t off, uint32_t size) {
  uint32_t loc = pos < XK_MAX ? g->aloc[pos] : 0;
  grp *q = &g->grp;
  if (!loc || loc == AF_CONST) {
    grp_close(g);
    return false;
  }
  uint32_t lgen = g->agen[pos];
  if (q->loc && (q->loc != loc || q->lgen != lgen || q->n == GRP_MAX)) grp_close(g);
  if (!q->loc) {
    /* The group's check reads the local where the group starts: the
     * address must be of its value there, not of one it had before. */
    if (lgen != g->lgen[loc - 1]) return false;
    q->loc = loc;
    q->lgen = lgen;
    q->at = g->body.len;
    q->n = q->nend = 0;
  }
  q->k[q->n] = g->ak[pos];
  q->off[q->n] = off;
  q->size[q->n] = size;
  q->ck[q->n] = g->body.len;
  E("(void)aot_ea(c, %u, MS, %s, %uu, %u);\n", g->fi, avar, off, size);
  q->cklen[q->n] = g->body.len - q->ck[q->n];
  q->n++;
  return true;
}

/* ------------------------------------------------- loop-level checks */

/* An i32 value of a loop body as lp_walk sees it: LF_AFF the invariant
 * local inv - 1 (0: none) plus, when iv, the induction variable's value
 * at the iteration's start, plus k (wrapping); LF_NE that form != the
 * invariant local binv - 1 (0: none) plus b; LF_LT that form < it
 * (unsigned); LF_NONE anything else. */
enum { LF_NONE, LF_AFF, LF_NE, LF_LT, LF_STACK = 32 };
typedef struct lform {
  uint8_t kind;
  bool iv;
  uint32_t inv, k, binv, b;
} lform;

/* The locals a loop body writes and their forms so far in an iteration. */
typedef struct lwalk {
  uint32_t nw, w[LP_MAX];
  lform wf[LP_MAX];
  lform cond;             /* the operand of the br_if that ends the body */
} lwalk;

/* The form of local x: its form in the iteration if the body writes it,
 * else the local itself (invariant). */
static lform lp_local(const gen *g, const lwalk *w, uint32_t x) {
  lform f = {.kind = LF_NONE};
  if (g->ltypes[x] != CIS__I32) return f;
  for (uint32_t i = 0; i < w->nw; i++)
    if (w->w[i] == x) return w->wf[i];
  f.kind = LF_AFF;
  f.inv = x + 1;
  return f;
}

/* Records an access at form a in pl, under its key. */
static bool lp_access(lplan *pl, lform a, uint32_t off, uint32_t size, bool store) {
  if (pl->nacc == LP_MAX) return false;
  uint32_t key = 0;
  while (key < pl->nkey && (pl->kinv[key] != a.inv || pl->kiv[key] != a.iv)) key++;
  if (key == pl->nkey) {
    pl->kinv[key] = a.inv;
    pl->kiv[key] = a.iv;
    pl->nkey++;
  }
  pl->acc[pl->nacc++] = (lacc){.key = key, .k = a.k, .off = off, .size = size, .store = store};
  return true;
}

/* Walks a loop body from p (after the block type): true when it is
 * straight-line code that cannot trap but at its accesses of memory 0
 * (locals, constants, numeric operations that do not trap, loads and
 * stores) and ends in br_if 0 and the loop's end. collect: gathers the
 * locals written into w; else w holds them, and pl gets the accesses,
 * each at an address of a known form. */
static bool lp_walk(const gen *g, const uint8_t *p, const uint8_t *end, lwalk *w, lplan *pl,
                    bool collect) {
  lform st[LF_STACK];
  uint32_t sp = 0;
  const uint8_t *start = p;
  for (;;) {
    enum cis__op op;
    if (p - start > LP_BODY_MAX || cis__op_read(&p, end, &op) != CIS__OPREAD_OK) return false;
    const cis__opinfo *info = cis__op_info(op);
    const char *h, *conv, *tmpl = numeric_expr(op);
    uint8_t vt;
    bool store;
    uint32_t x;
    int32_t v;
    lform a, b, r = {.kind = LF_NONE};
    if (sp + 1 >= LF_STACK) return false;
    switch (op) {
    case CIS__OP_LOCAL_GET:
      if (!rd_u32(&p, end, &x) || x >= g->nlocals || tclass(g->ltypes[x]) > TC_F64) return false;
      st[sp++] = lp_local(g, w, x);
      continue;
    case CIS__OP_LOCAL_SET:
    case CIS__OP_LOCAL_TEE: {
      if (!rd_u32(&p, end, &x) || x >= g->nlocals || tclass(g->ltypes[x]) > TC_F64 || !sp)
        return false;
      uint32_t i = 0;
      while (i < w->nw && w->w[i] != x) i++;
      if (i == w->nw) {
        if (!collect || w->nw == LP_MAX) return false;
        w->w[w->nw++] = x;
      }
      w->wf[i] = g->ltypes[x] == CIS__I32 ? st[sp - 1] : r;
      if (op == CIS__OP_LOCAL_SET) sp--;
      continue;
    }
    case CIS__OP_I32_CONST:
      if (!cis__read_s32(&p, end, &v)) return false;
      st[sp++] = (lform){.kind = LF_AFF, .k = (uint32_t)v};
      continue;
    case CIS__OP_I32_ADD:
    case CIS__OP_I32_SUB:
    case CIS__OP_I32_NE:
      if (sp < 2) return false;
      b = st[--sp];
      a = st[--sp];
      if (op == CIS__OP_I32_NE && !a.iv && b.iv) r = a, a = b, b = r;
      r.kind = LF_NONE;
      if (a.kind != LF_AFF || b.kind != LF_AFF) {
      } else if (op == CIS__OP_I32_NE) {
        if (a.iv && !b.iv) r = a, r.kind = LF_NE, r.binv = b.inv, r.b = b.k;
      } else if (op == CIS__OP_I32_SUB) {
        if (!b.iv && !b.inv) r = a, r.k -= b.k;
      } else if (!(a.iv && b.iv) && !(a.inv && b.inv)) {
        r = (lform){.kind = LF_AFF, .iv = a.iv || b.iv, .inv = a.inv | b.inv, .k = a.k + b.k};
      }
      st[sp++] = r;
      continue;
    case CIS__OP_I32_LT_U:
    case CIS__OP_I32_GT_U:
      if (sp < 2) return false;
      b = st[--sp];
      a = st[--sp];
      if (op == CIS__OP_I32_GT_U) r = a, a = b, b = r;
      r.kind = LF_NONE;
      if (a.kind == LF_AFF && b.kind == LF_AFF && a.iv && !b.iv)
        r = a, r.kind = LF_LT, r.binv = b.inv, r.b = b.k;
      st[sp++] = r;
      continue;
    case CIS__OP_BR_IF: {
      enum cis__op nx;
      if (!rd_u32(&p, end, &x) || x || sp != 1) return false;
      w->cond = st[0];
      return cis__op_read(&p, end, &nx) == CIS__OPREAD_OK && nx == CIS__OP_END;
    }
    case CIS__OP_DROP:
      if (!sp) return false;
      sp--;
      continue;
    case CIS__OP_I64_CONST:
    case CIS__OP_F32_CONST:
    case CIS__OP_F64_CONST:
      if (!skip_imm(&p, end, info->imm)) return false;
      st[sp++] = r;
      continue;
    default: break;
    }
    if (info->imm == CIS__IMM_MEMARG && mem_op(op, &h, &conv, &vt, &store)) {
      cis__memarg ma;
      if (!cis__read_memarg(&p, end, &ma) || ma.mem || sp < 1u + store) return false;
      sp -= store;
      a = st[--sp];
      if (!collect && (a.kind != LF_AFF || !lp_access(pl, a, (uint32_t)ma.offset,
                                                      (uint32_t)atoi(h + 2) / 8, store)))
        return false;
      if (!store) st[sp++] = r;
      continue;
    }
    if (!tmpl || strstr(tmpl, "$f") || info->imm != CIS__IMM_NONE || info->sig[0] == '*')
      return false;
    const char *colon = strchr(info->sig, ':');
    uint32_t npop = (uint32_t)(colon - info->sig);
    if (sp < npop) return false;
    sp -= npop;
    if (colon[1]) st[sp++] = r;
  }
}

/* The lowest constant (as a signed i32) of key's accesses, and the end
 * of the farthest one, from the key's base. */
static void lp_extent(const lplan *pl, uint32_t key, int64_t *lo, int64_t *hi) {
  *lo = INT64_MAX;
  *hi = INT64_MIN;
  for (uint32_t i = 0; i < pl->nacc; i++) {
    const lacc *a = &pl->acc[i];
    if (a->key != key) continue;
    if ((int32_t)a->k < *lo) *lo = (int32_t)a->k;
    if ((int64_t)(int32_t)a->k + a->off + a->size > *hi) *hi = (int64_t)(int32_t)a->k + a->off + a->size;
  }
}

/* Whether the iterations of pl's loop may run as SIMD lanes once the
 * entry check holds: a store is at the induction variable, and the
 * accesses at the key of a store lie within one step of each other, so
 * that two iterations never touch the same byte through that key (other
 * keys the entry check keeps apart). */
static bool lp_safe(lplan *pl) {
  uint64_t step = (int32_t)pl->step < 0 ? 0u - (uint64_t)(int64_t)(int32_t)pl->step : pl->step;
  pl->spread = 0;
  for (uint32_t i = 0; i < pl->nacc; i++) {
    const lacc *a = &pl->acc[i];
    if (!a->store) continue;
    if (!pl->kiv[a->key]) return false;
    int64_t lo, hi;
    lp_extent(pl, a->key, &lo, &hi);
    if (hi - lo > pl->spread) pl->spread = hi - lo;
    if (!pl->sinv && (uint64_t)(hi - lo) > step) return false; /* a step in a local: at entry */
  }
  return pl->nacc > 0;
}

/* Plans the loop-level check of the loop whose body starts at p (after
 * its block type bt) into g->lp, off: false when it takes none. The
 * induction variable is a local the body writes whose value at the end
 * of the body is its value at the start plus a constant, and the br_if
 * tests it, at its new value plus a constant, against an invariant local
 * plus a constant (!=), or against zero (the value itself); or (lt) the
 * step is a positive constant or an invariant local, and the br_if tests
 * the new value unsigned < an invariant local plus a constant. */
static bool lp_plan(gen *g, const uint8_t *p, const uint8_t *end, const cis__blocktype *bt) {
  lplan *pl = &g->lp;
  lwalk w = {.nw = 0};
  if (bt->nparams || bt->nresults || !g->m->nmemories || !mem_plain(g->m, 0) ||
      !lp_walk(g, p, end, &w, pl, true))
    return false;
  for (uint32_t c = 0; c < w.nw; c++) {
    if (g->ltypes[w.w[c]] != CIS__I32) continue;
    lwalk t = {.nw = w.nw};
    memcpy(t.w, w.w, sizeof t.w);
    t.wf[c] = (lform){.kind = LF_AFF, .iv = true};
    memset(pl, 0, sizeof *pl);
    if (!lp_walk(g, p, end, &t, pl, false)) continue;
    lform e = t.wf[c], k = t.cond;
    if (k.kind == LF_AFF) k.kind = LF_NE, k.binv = k.b = 0;
    if (e.kind != LF_AFF || !e.iv || !k.iv) continue;
    if (k.kind == LF_LT) {
      /* iv's new value < a bound, iv stepped up by a constant or by an
       * invariant local (a count of iterations at entry: lp_close). */
      if (k.inv != e.inv || k.k != e.k || (e.inv ? e.k != 0 : !e.k || (int32_t)e.k < 0)) continue;
      pl->lt = true;
      pl->sinv = e.inv;
      pl->target = k.b;
    } else {
      if (e.inv || !e.k || e.k == 0x80000000u || k.kind != LF_NE || k.inv) continue;
      pl->target = k.b - k.k;
    }
    pl->nw = w.nw;
    memcpy(pl->w, w.w, sizeof pl->w);
    pl->iv = w.w[c];
    pl->step = e.k;
    pl->tinv = k.binv;
    if (lp_safe(pl)) return true;
  }
  memset(pl, 0, sizeof *pl);
  return false;
}

/* At a load or store of memory 0 in a planned loop: records where the
 * checked call (text call, written in the body from offset from) is, to
 * be replaced in the copy. */
static void lp_note(gen *g, size_t from, const char *call, uint32_t size, bool store) {
  lplan *pl = &g->lp;
  uint32_t i = pl->seen++;
  const char *s = g->body.oom ? NULL : strstr(g->body.p + from, call);
  if (i >= pl->nacc || !s || pl->acc[i].size != size || pl->acc[i].store != store) {
    pl->seen = UINT32_MAX; /* not the walk's accesses: no copy */
    return;
  }
  pl->acc[i].at = (size_t)(s - g->body.p);
  pl->acc[i].len = strlen(call);
}

/* Ends the first pass over a planned loop: replaces its text, from where
 * it starts, with its copy without checks and ticks behind one check at
 * its entry, then the checked loop's header (lp_restore writes the rest). With the induction variable
 * at v0 there, and the step s, the body runs n times, n the least with
 * v0 + (n - 1) * s == target (wrapping), if any; an access at key
 * base + k is at base + j * s + k in iteration j (0 to n - 1), computed
 * in 64 bits; if the lowest and highest of those over the loop lie
 * within the memory, none wrapped, and each is the address the checked
 * loop computes, in bounds. So the copy runs when n is known, the tick
 * counter holds n ticks (then charged at once: it would not have reached
 * the slow path), every key's range is in bounds and a key with a store
 * overlaps no other: no access traps, and no iteration reads what
 * another writes through another key (lp_safe: nor through the same),
 * so gcc may run them as SIMD lanes (AOT_IVDEP). Otherwise the checked
 * loop runs, the text the loop has without a plan. */
static void lp_close(gen *g) {
  lplan *pl = &g->lp;
  uint32_t L = pl->label;
  pl->on = false;
  if (pl->seen != pl->nacc || g->body.oom) {
    g->body.len = pl->at;
    E("L%u_top:;\nAOT_TICK(c);\n", L);
    return;
  }
  int64_t s = (int32_t)pl->step, as = s < 0 ? -s : s;
  cis__aot_buf t = {0};
  char tv[24] = "";
  if (pl->tinv) snprintf(tv, sizeof tv, "L%u + ", pl->tinv - 1);
  char sx[32];
  snprintf(sx, sizeof sx, "(int64_t)QZ%u_", L);
  if (!pl->lt) {
    snprintf(sx, sizeof sx, "%lld", (long long)s);
    cis__aot_buf_printf(&t, "{\n");
  } else {
    /* The lt form: the body runs N times, N the least n >= 1 with
     * V + n * Z >= T (V the iv at entry, Z the step, T the bound, in 64
     * bits), when V + N * Z does not wrap 2^32 (else the checked loop
     * runs). It runs in chunks of the ticks left: after each, the checked
     * loop's tick takes the slow path, refunds the iteration it charged
     * (the chunk charges it) and comes back here (QR: from there). */
    cis__aot_buf_printf(&g->decls, "int QR%u_;\n", L);
    cis__aot_buf_printf(&t, "QR%u_ = 0;\nL%u_cp:;\n{\n", L, L);
    cis__aot_buf_printf(&t, "const uint64_t QV%u_ = L%u, QT%u_ = (uint32_t)(%s0x%xu);\n", L,
                        pl->iv, L, tv, pl->target);
    if (pl->sinv) cis__aot_buf_printf(&t, "const uint64_t QZ%u_ = L%u;\n", L, pl->sinv - 1);
    else cis__aot_buf_printf(&t, "const uint64_t QZ%u_ = %lluu;\n", L, (unsigned long long)s);
    cis__aot_buf_printf(&t,
                        "const uint64_t N%u_ = QZ%u_ - 1 >= 0x7fffffffu ? 0 : QT%u_ > QV%u_ + QZ%u_ "
                        "? (QT%u_ - QV%u_ + QZ%u_ - 1) / QZ%u_ : 1;\n"
                        "const int64_t S%u_ = ((int64_t)N%u_ - 1) * (int64_t)QZ%u_;\n"
                        "const int64_t QK%u_ = (int64_t)N%u_ < AOT_TK ? (int64_t)N%u_ : AOT_TK;\n",
                        L, L, L, L, L, L, L, L, L, L, L, L, L, L, L);
  }
  if (!pl->lt) {
    if (s > 0)
      cis__aot_buf_printf(&t, "const uint32_t D%u_ = %s0x%xu - L%u;\n", L, tv, pl->target, pl->iv);
    else
      cis__aot_buf_printf(&t, "const uint32_t D%u_ = L%u - (%s0x%xu);\n", L, pl->iv, tv, pl->target);
    cis__aot_buf_printf(&t,
                        "const uint64_t N%u_ = D%u_ %% %lldu ? 0 : (uint64_t)(D%u_ / %lldu) + 1;\n"
                        "const int64_t S%u_ = ((int64_t)N%u_ - 1) * %lld;\n",
                        L, L, (long long)as, L, (long long)as, L, L, (long long)s);
  }
  for (uint32_t i = 0; i < pl->nkey; i++) {
    int64_t lo, hi;
    lp_extent(pl, i, &lo, &hi);
    char inv[24] = "0", iv[24] = "", slo[24] = "", shi[24] = "";
      if (pl->kinv[i]) snprintf(inv, sizeof inv, "(int64_t)L%u", pl->kinv[i] - 1);
    if (pl->kiv[i]) {
      snprintf(iv, sizeof iv, " + (int64_t)L%u", pl->iv);
      snprintf(s < 0 && !pl->lt ? slo : shi, sizeof slo, " + S%u_", L);
    }
    cis__aot_buf_printf(&t,
                        "const int64_t B%u_%u = %s%s;\n"
                        "const int64_t LO%u_%u = B%u_%u%s + %lld, HI%u_%u = B%u_%u%s + %lld;\n",
                        L, i, inv, iv, L, i, L, i, slo, (long long)lo, L, i, L, i, shi,
                        (long long)hi);
  }
  if (!pl->lt) cis__aot_buf_printf(&t, "if (N%u_ && AOT_TK >= (int64_t)N%u_", L, L);
  else
    cis__aot_buf_printf(&t, "if (N%u_ && QK%u_ > 0 && QV%u_ + N%u_ * QZ%u_ <= 0xffffffffu", L, L, L,
                        L, L);
  if (pl->sinv && pl->spread)
    cis__aot_buf_printf(&t, " && QZ%u_ >= %lldu", L, (long long)pl->spread);
  for (uint32_t i = 0; i < pl->nkey; i++)
    cis__aot_buf_printf(&t, " && LO%u_%u >= 0 && HI%u_%u <= (int64_t)MS", L, i, L, i);
  for (uint32_t i = 0; i < pl->nkey; i++)
    for (uint32_t j = i + 1; j < pl->nkey; j++) {
      bool st = false;
      for (uint32_t a = 0; a < pl->nacc; a++)
        if (pl->acc[a].store && (pl->acc[a].key == i || pl->acc[a].key == j)) st = true;
      if (st)
        cis__aot_buf_printf(&t, " && (HI%u_%u <= LO%u_%u || HI%u_%u <= LO%u_%u)", L, i, L, j, L, j,
                            L, i);
    }
  if (!pl->lt)
    cis__aot_buf_printf(&t, ") {\nAOT_TK -= (int64_t)N%u_;\nAOT_IVDEP\n"
                            "for (uint64_t j%u_ = 0; j%u_ < N%u_; j%u_++) {\n", L, L, L, L, L);
  else
    cis__aot_buf_printf(&t, ") {\nAOT_TK -= QK%u_;\nAOT_IVDEP\n"
                            "for (uint64_t j%u_ = 0; j%u_ < (uint64_t)QK%u_; j%u_++) {\n", L, L,
                        L, L, L);
  size_t from = pl->top;
  for (uint32_t i = 0; i < pl->nacc; i++) {
    const lacc *a = &pl->acc[i];
    buf_append(&t, g->body.p + from, a->at - from);
    char jx[96] = "";
    if (pl->kiv[a->key]) snprintf(jx, sizeof jx, " + (int64_t)j%u_ * %s", L, sx);
    cis__aot_buf_printf(&t, "%sp%u(M + B%u_%u%s + %lld%s", a->store ? "st" : "ld", a->size * 8, L,
                        a->key, jx, (long long)(int32_t)a->k + a->off, a->store ? ", " : ")");
    from = a->at + a->len;
  }
  buf_append(&t, g->body.p + from, pl->brif - from);
  if (!pl->lt)
    cis__aot_buf_printf(&t, "}\ngoto L%u_end;\n}\n}\nL%u_top:;\nAOT_TICK(c);\n", L, L);
  else
    cis__aot_buf_printf(&t,
                        "}\nif ((uint64_t)QK%u_ == N%u_) goto L%u_end;\ngoto L%u_top;\n}\n}\n"
                        "if (QR%u_) {\nAOT_TK--;\ngoto L%u_bd;\n}\n"
                        "L%u_top:;\nif (AOT_UNLIKELY(AOT_DEC_NEG(AOT_TK))) {\nAOT_TICK_LOOP(c);\n"
                        "AOT_TK++;\nQR%u_ = 1;\ngoto L%u_cp;\n}\nL%u_bd:;\n",
                        L, L, L, L, L, L, L, L, L, L);
  g->body.len = pl->at;
  buf_append(&g->body, t.p ? t.p : "", t.len);
  if (t.oom) g->body.oom = true;
  cis__aot_buf_free(&t);
}

/* At the header of a planned loop (label, body offset at before its
 * label, p its first instruction): the first pass over its body writes
 * the copy's text, without check groups (lp_note). */
/* Copies what the generator knows of the stack's values (the address
 * forms, the lane kinds) into the plan (save), or back. */
static void lp_known(gen *g, lplan *pl, bool save) {
#define LP_KNOWN(f) (save ? memcpy(pl->f, g->f, sizeof pl->f) : memcpy(g->f, pl->f, sizeof pl->f))
  LP_KNOWN(aloc), LP_KNOWN(ak), LP_KNOWN(agen), LP_KNOWN(xk), LP_KNOWN(zk);
  LP_KNOWN(mk), LP_KNOWN(ok), LP_KNOWN(uk), LP_KNOWN(lk);
  LP_KNOWN(umax), LP_KNOWN(uexact);
#undef LP_KNOWN
}

static void lp_open(gen *g, uint32_t label, size_t at, const uint8_t *p) {
  lplan *pl = &g->lp;
  pl->on = true;
  pl->label = label;
  pl->at = at;
  pl->top = g->body.len;
  pl->p0 = p;
  pl->sp = g->sp;
  for (uint32_t i = 0; i < pl->nw; i++) pl->wgen[i] = g->lgen[pl->w[i]];
  lp_known(g, pl, true);
}

/* At the end of the first pass over a planned loop: the copy replaces
 * its text (lp_close), and the generator goes back to the body's start
 * for the second pass, the checked loop, written as without a plan
 * (check groups included). Returns where the body starts. */
static const uint8_t *lp_restore(gen *g) {
  lplan *pl = &g->lp;
  lp_close(g);
  g->sp = pl->sp;
  for (uint32_t i = 0; i < pl->nw; i++) g->lgen[pl->w[i]] = pl->wgen[i];
  lp_known(g, pl, false);
  g->grp.loc = 0;
  return pl->p0;
}

/* ------------------------------------------------------------ control */

static cis_result push_ctl(gen *g, uint8_t kind, const cis__blocktype *bt) {
  if (!grow((void **)&g->ctls, &g->ctl_cap, g->nctl + 1, sizeof *g->ctls)) return CIS_ENOMEM;
  ctl *f = &g->ctls[g->nctl++];
  memset(f, 0, sizeof *f);
  f->kind = kind;
  f->label = g->next_label++;
  f->outer = f->inner = g->nctl > 1 ? f[-1].inner : 0;
  f->height = g->sp - bt->nparams;
  f->nparams = bt->nparams;
  f->nresults = bt->nresults;
  f->params = bt->params;
  f->results = bt->results;
  return CIS_OK;
}

/* The try a branch to f continues in (its handler's cur). */
static uint32_t label_try(const ctl *f) { return f->kind == K_LOOP ? f->inner : f->outer; }

/* The variable where if f saves its parameter k for the else-branch. */
static const char *pvar(const ctl *f, uint32_t k, char buf[24]) {
  if (f->pslot && tclass(f->params[k]) == TC_REF) snprintf(buf, 24, "S_.s[%u]", f->pslot - 1 + k);
  else snprintf(buf, 24, "P%u_%u", f->label, k);
  return buf;
}

/* Copies the values a branch to f carries to f's positions, then jumps. */
static void branch(gen *g, const ctl *f) {
  bool loop = f->kind == K_LOOP;
  uint32_t n = loop ? f->nparams : f->nresults;
  const uint8_t *ts = loop ? f->params : f->results;
  if (g->has_try && label_try(f) != g->ctls[g->nctl - 1].inner)
    E("H_.cur = %u;\n", label_try(f));
  for (uint32_t k = 0; k < n; k++) {
    uint32_t from = g->sp - n + k, to = f->height + k;
    if (from == to) continue;
    char a[24], b[24];
    E("%s = %s;\n", var(g, to, ts[k], a), var(g, from, ts[k], b));
  }
  E("goto L%u_%s;\n", f->label, loop ? "top" : "end");
}

/* Resets the stack to f's height plus types ts (n of them). */
static cis_result reset_to(gen *g, const ctl *f, const uint8_t *ts, uint32_t n) {
  g->sp = f->height;
  for (uint32_t k = 0; k < n; k++) TRY(push(g, ts[k]));
  return CIS_OK;
}

/* Pops n call arguments of type ft into a slot array a_ (room for
 * max(params, results)), for a call through the runtime. */
static void pack_args(gen *g, const cis__functype *ft) {
  collect_point(g, ft->nparams);
  uint32_t np = 0, nr = 0;
  for (uint32_t k = 0; k < ft->nparams; k++) np += nslots(ft->types[k]);
  for (uint32_t k = 0; k < ft->nresults; k++) nr += nslots(ft->types[ft->nparams + k]);
  uint32_t n = np > nr ? np : nr;
  E("{\nuint64_t a_[%u];\n", n ? n : 1);
  for (uint32_t k = 0, s = 0; k < ft->nparams; k++) {
    char v[24];
    slot_out(&g->body, ft->types[k], "a_", s, var(g, g->sp - ft->nparams + k, ft->types[k], v));
    s += nslots(ft->types[k]);
  }
}

/* After a call through the runtime: results from a_ onto the stack. */
static cis_result unpack_results(gen *g, const cis__functype *ft) {
  g->sp -= ft->nparams;
  for (uint32_t k = 0, s = 0; k < ft->nresults; k++) {
    uint8_t t = ft->types[ft->nparams + k];
    TRY(push(g, t));
    char v[24], x[64];
    slot_in(x, sizeof x, t, "a_", s);
    s += nslots(t);
    E("%s = %s;\n", top(g, 0, v), x);
  }
  E("}\n");
  return CIS_OK;
}

/* Pops ft's arguments into args as the C text ", a, b" (also returned;
 * "" when none). */
static const char *call_args(gen *g, const cis__functype *ft, cis__aot_buf *args) {
  for (uint32_t k = 0; k < ft->nparams; k++) {
    char v[24];
    cis__aot_buf_printf(args, ", %s", var(g, g->sp - ft->nparams + k, ft->types[k], v));
  }
  g->sp -= ft->nparams;
  return args->p ? args->p : "";
}

/* A direct C call of fn (a C expression of the function) of type ft. */
static cis_result direct_call(gen *g, const char *fn, const cis__functype *ft, uint32_t ti) {
  collect_point(g, ft->nparams);
  cis__aot_buf args = {0};
  const char *al = call_args(g, ft, &args);
  if (ft->nresults == 0) {
    E("%s(c, dr_%s);\n", fn, al);
  } else if (ft->nresults == 1) {
    cis_result rc = push(g, ft->types[ft->nparams]);
    if (rc != CIS_OK) {
      cis__aot_buf_free(&args);
      return rc;
    }
    char v[24];
    E("%s = %s(c, dr_%s);\n", top(g, 0, v), fn, al);
  } else {
    E("{\nstruct R%u r_ = %s(c, dr_%s);\n", g->rs[ti], fn, al);
    for (uint32_t k = 0; k < ft->nresults; k++) {
      cis_result rc = push(g, ft->types[ft->nparams + k]);
      if (rc != CIS_OK) {
        cis__aot_buf_free(&args);
        return rc;
      }
      char v[24];
      E("%s = r_.r%u;\n", top(g, 0, v), k);
    }
    E("}\n");
  }
  bool oom = args.oom;
  cis__aot_buf_free(&args);
  return oom ? CIS_ENOMEM : CIS_OK;
}

/* Opens a block whose a_[0] is the answer of the cast of 0xFB sub-opcode
 * code on reference ref (C text): ref.test's or br_on_cast's (1 or 0);
 * ref.cast traps on a no instead. ka and kb: cast_target's. */
static void cast_open(gen *g, uint32_t code, const char *ref, const char *ka, const char *kb) {
  E("{\nuint64_t a_[1] = {(uint64_t)(uintptr_t)%s};\n", ref);
  E("c->api->gc(c, 0x%xu, %s, %s, 0xffffffffu, 0xffffffffu, a_, %u);\n", code, ka, kb, g->fi);
}

/* Opens a block holding g_, call_indirect's callee: element iv of table
 * tab, of type ti, or the trap. A 64-bit table's index is compared whole
 * with the size. A function of another type than ti may still be of a
 * subtype when ti is open to them (declared without final): the runtime
 * then answers, as for ref.test (a type closed to subtypes, every type of
 * a 2.0 module, costs nothing more). */
static void indirect_callee(gen *g, uint32_t tab, uint32_t ti, const char *iv) {
  E("{\nchar *t_ = (char *)c->tables[%u];\n%s x_ = %s;\n", tab,
    ctype(cis__table_addr_type(g->m, tab)), iv);
  E("if (AOT_UNLIKELY(x_ >= *(uint32_t *)(t_ + AOT_OFF_TSIZE))) aot_trap(c, "
    "AOT_T_UNDEF_ELEM, %u);\n", g->fi);
  E("char *g_ = (*(char ***)(t_ + AOT_OFF_TELEMS))[x_];\n");
  E("if (AOT_UNLIKELY(!g_)) aot_trap(c, AOT_T_UNINIT_ELEM, %u);\n", g->fi);
  if (!g->m->types[ti].open) {
    E("if (AOT_UNLIKELY(*(uint32_t *)(g_ + AOT_OFF_FTYPE) != c->type_ids[%u])) aot_trap(c, "
      "AOT_T_SIG_MISMATCH, %u);\n", ti, g->fi);
    return;
  }
  char ka[24], kb[48];
  snprintf(ka, sizeof ka, "0x%xu", CIS__FUNCREF);
  snprintf(kb, sizeof kb, "c->type_ids[%u]", ti);
  E("if (AOT_UNLIKELY(*(uint32_t *)(g_ + AOT_OFF_FTYPE) != c->type_ids[%u])) ", ti);
  cast_open(g, cis__op_info(CIS__OP_REF_TEST)->code, "g_", ka, kb);
  E("if (!a_[0]) aot_trap(c, AOT_T_SIG_MISMATCH, %u);\n}\n", g->fi);
}

/* A tail call of the function itself from a function with a try: gcc
 * makes no sibling call from a function that takes __builtin_setjmp, so
 * the call is a jump back to the start of the body (X_top), with the
 * arguments in the parameters and the other locals zero again, counted
 * as an entry (a tick; the depth room is the same as a callee's would
 * be): a tail-call loop through a try runs in constant native stack. */
static void self_tail(gen *g, const cis__functype *ft) {
  char l[24];
  for (uint32_t k = 0; k < ft->nparams; k++) {
    char v[24];
    E("%s = %s;\n", lvar(g, k, l), var(g, g->sp - ft->nparams + k, ft->types[k], v));
  }
  g->sp -= ft->nparams;
  for (uint32_t k = ft->nparams; k < g->nlocals; k++) {
    lvar(g, k, l);
    E("memset(&%s, 0, sizeof %s);\n", l, l);
  }
  E("H_.cur = 0;\nAOT_TICK(c);\ngoto X_top;\n");
}

/* A tail call of fn (type ft, ti) from a function with a try: the body
 * puts the callee and its arguments in *tc_ and leaves (X_tail, which
 * unlinks the handler); the wrapper wN makes the call as tail_call would,
 * from a frame without a handler, so gcc makes it a jump. */
static cis_result tramp_call(gen *g, const char *fn, const cis__functype *ft, uint32_t ti) {
  uint32_t k = ++g->ntramp, s = 0;
  cis__aot_buf *w = &g->tramp;
  cis__aot_buf args = {0};
  for (uint32_t j = 0; j < ft->nparams; j++) {
    char v[24], x[64];
    slot_out(&g->body, ft->types[j], "tc_->a", s, var(g, g->sp - ft->nparams + j, ft->types[j], v));
    slot_in(x, sizeof x, ft->types[j], "tc_.a", s);
    cis__aot_buf_printf(&args, ", %s", x);
    s += nslots(ft->types[j]);
  }
  g->sp -= ft->nparams;
  if (s > g->tramp_slots) g->tramp_slots = s;
  E("tc_->fn = (void *)%s;\ntc_->site = %u;\ngoto X_tail;\n", fn, k);
  const char *al = args.p ? args.p : "";
  if (ft->nresults == 0)
    cis__aot_buf_printf(w, "case %u: ((FT%u)tc_.fn)(c, dr_ + 1%s); return;\n", k, ti, al);
  else
    cis__aot_buf_printf(w, "case %u: return ((FT%u)tc_.fn)(c, dr_ + 1%s);\n", k, ti, al);
  bool oom = args.oom;
  cis__aot_buf_free(&args);
  return oom ? CIS_ENOMEM : CIS_OK;
}

/* A tail call through the runtime (an import, another instance's
 * function), which returns here: the frame is gone for the callee's
 * exceptions, which no try of this function may catch. */
static void tail_out(gen *g) {
  if (g->has_try) E("H_.cur = 0;\n");
}

/* A tail call of fn (a C expression of a compiled function of this
 * instance) of type ft, as a C tail call: the callee gets this
 * function's own depth room (dr_ + 1: its entry takes one again, so a
 * chain of tail calls keeps its depth), and gcc turns the call into a
 * jump (-foptimize-sibling-calls, on at -O2 and named for the -O1 of big
 * functions), so the chain keeps its native stack too: the callee's
 * results are the caller's (validated), of the same C type even as a
 * struct (result_shapes). */
static cis_result tramp_call(gen *g, const char *fn, const cis__functype *ft, uint32_t ti);
static cis_result shadow_tail(gen *g, const char *fn, const cis__functype *ft, uint32_t ti);
static const char *var_ctype(const gen *g, int tc);

static cis_result tail_call(gen *g, const char *fn, const cis__functype *ft, uint32_t ti) {
  if (g->has_try) return tramp_call(g, fn, ft, ti);
  if (g->shadow) return shadow_tail(g, fn, ft, ti);
  cis__aot_buf args = {0};
  const char *al = call_args(g, ft, &args);
  E("AOT_LEAVE(c);\n");
  if (ft->nresults == 0) E("%s(c, dr_ + 1%s);\nreturn;\n", fn, al);
  else E("return %s(c, dr_ + 1%s);\n", fn, al);
  bool oom = args.oom;
  cis__aot_buf_free(&args);
  return oom ? CIS_ENOMEM : CIS_OK;
}

/* A tail call of fn (type ft) from a function that keeps references in
 * S_ (and has no try): the arguments go to variables T<k>_<j> declared
 * before the block where S_ lives, the frame is unlinked, and the call is
 * made at label T<k> after the block (g->tails), where S_ is out of
 * scope: gcc makes no sibling call while a local whose address escaped
 * may be live. A callee that is not a function's name (fn: wN) is
 * computed in the block, into T<k>_f. */
static cis_result shadow_tail(gen *g, const char *fn, const cis__functype *ft, uint32_t ti) {
  uint32_t k = ++g->ntail;
  cis__aot_buf *t = &g->tails;
  cis__aot_buf_printf(t, "T%u:;\n%s", k, ft->nresults ? "return " : "");
  if (fn[0] == 'w') {
    cis__aot_buf_printf(t, "%s(c, dr_ + 1", fn);
  } else {
    cis__aot_buf_printf(&g->decls, "void *T%u_f;\n", k);
    E("T%u_f = (void *)%s;\n", k, fn);
    cis__aot_buf_printf(t, "((FT%u)T%u_f)(c, dr_ + 1", ti, k);
  }
  for (uint32_t j = 0; j < ft->nparams; j++) {
    char v[24];
    uint8_t ty = ft->types[j];
    cis__aot_buf_printf(&g->decls, "%s T%u_%u;\n", var_ctype(g, tclass(ty)), k, j);
    E("T%u_%u = %s;\n", k, j, var(g, g->sp - ft->nparams + j, ty, v));
    cis__aot_buf_printf(t, ", T%u_%u", k, j);
  }
  g->sp -= ft->nparams;
  cis__aot_buf_printf(t, ");\n%s", ft->nresults ? "" : "return;\n");
  E("*c->roots = S_.h.prev;\nAOT_LEAVE(c);\ngoto T%u;\n", k);
  return t->oom ? CIS_ENOMEM : CIS_OK;
}

/* The C expression reading global idx as its type. */
static void global_ref(char *out, size_t n, uint8_t t, uint32_t idx) {
  switch (tclass(t)) {
  case TC_I32: snprintf(out, n, "gget32(c->globals[%u])", idx); break;
  case TC_I64: snprintf(out, n, "gget64(c->globals[%u])", idx); break;
  case TC_F32: snprintf(out, n, "f32_of(gget32(c->globals[%u]))", idx); break;
  case TC_F64: snprintf(out, n, "f64_of(gget64(c->globals[%u]))", idx); break;
  case TC_V128: snprintf(out, n, "gget128(c->globals[%u])", idx); break;
  default: snprintf(out, n, "ggetp(c->globals[%u])", idx); break;
  }
}

#define BAD() return fail(g, CIS_EINVALID, "function %u: body does not decode", g->fi)
#define RD32(v) \
  if (!rd_u32(&p, end, &(v))) BAD()
/* A memarg, of a memory the module has. */
#define RDMEMARG(ma)                                                         \
  do {                                                                       \
    if (!cis__read_memarg(&p, end, &(ma)) || (ma).mem >= m->nmemories) BAD(); \
  } while (0)
/* A memory index the module has. */
#define RDMEM(v)                       \
  do {                                 \
    RD32(v);                           \
    if ((v) >= m->nmemories) BAD();    \
  } while (0)

/* ------------------------------------------------------------- SIMD */

/* The 0xFD instructions, from the rows of src/wasm/simd.def: the lane
 * function of src/wasm/simd.h (pasted into every generated file) and
 * the shape, which says how it is called. One table and one set of lane
 * functions serve both engines. */
enum { S_V, S_VV, S_VVV, S_VS, S_VT, S_SPL, S_EXT, S_REP, S_LD, S_ST, S_LDL, S_STL, S_CONST,
       S_SHUF };
#define SHAPE_V S_V, 0
#define SHAPE_VV S_VV, 0
#define SHAPE_VVV S_VVV, 0
#define SHAPE_VS S_VS, 0
#define SHAPE_VT S_VT, 0
#define SHAPE_SPL S_SPL, 0
#define SHAPE_EXT S_EXT, 0
#define SHAPE_REP S_REP, 0
#define SHAPE_LD1 S_LD, 1
#define SHAPE_LD2 S_LD, 2
#define SHAPE_LD4 S_LD, 4
#define SHAPE_LD8 S_LD, 8
#define SHAPE_LD16 S_LD, 16
#define SHAPE_ST S_ST, 16
#define SHAPE_LDL1 S_LDL, 1
#define SHAPE_LDL2 S_LDL, 2
#define SHAPE_LDL4 S_LDL, 4
#define SHAPE_LDL8 S_LDL, 8
#define SHAPE_STL1 S_STL, 1
#define SHAPE_STL2 S_STL, 2
#define SHAPE_STL4 S_STL, 4
#define SHAPE_STL8 S_STL, 8
#define SHAPE_CONST S_CONST, 0
#define SHAPE_SHUF S_SHUF, 0
typedef struct simd_row {
  enum cis__op op;        /* CIS__OP_* */
  const char *fn;         /* lane function (simd.h) */
  uint8_t shape;          /* S_* */
  uint8_t n;              /* bytes a memory access moves */
} simd_row;
#define SIMD(id, name, shape, lanes) {CIS__OP_##id, #name, SHAPE_##shape},
static const simd_row SIMD_ROWS[] = {
#include "wasm/simd.def"
};
#undef SIMD

static const simd_row *simd_row_of(enum cis__op op) {
  for (size_t i = 0; i < CIS_ARRAY_LEN(SIMD_ROWS); i++)
    if (SIMD_ROWS[i].op == op) return &SIMD_ROWS[i];
  return NULL;
}

/* The C type of a variable of type tc in the current function: a v128
 * of a function with a try is AOT_TV (aot_prelude_simd.h), a v128 kept
 * in memory when the compile is made again after GCC crashed on it. */
static const char *var_ctype(const gen *g, int tc) {
  if (tc < 0) return "cis_invalid_type";
  return tc == TC_V128 && g->has_try ? "AOT_TV" : CTYPE[tc];
}

/* X<pos>, the i16 lanes v<pos> was widened from, declared once per
 * function. */
static const char *xvar(gen *g, uint32_t pos, char buf[24]) {
  if (!(g->xdecl >> pos & 1)) {
    cis__aot_buf_printf(&g->decls, "%s X%u;\n", var_ctype(g, TC_V128), pos);
    g->xdecl |= 1ull << pos;
  }
  snprintf(buf, 24, "X%u", pos);
  return buf;
}

/* Before the loop at p (its block type first): forgets what the locals
 * hold (oloc) for those the loop assigns anything but i32x4 1s, which
 * its back edges bring to its header. The others hold at the header
 * what they held at its entry. A scan of the loop's body, only while a
 * local is known to hold something, so not in code without it. */
static void oloc_loop(gen *g, const uint8_t *p, const uint8_t *end) {
  static const uint8_t o[16] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0};
  if (!memchr(g->oloc, 1, g->nlocals)) return;
  uint32_t depth = 1;
  bool ones = false; /* the instruction before pushed i32x4 1s */
  if (!skip_imm(&p, end, cis__op_info(CIS__OP_LOOP)->imm)) depth = 0, p = end;
  while (p < end && depth) {
    enum cis__op op;
    if (cis__op_read(&p, end, &op) != CIS__OPREAD_OK) break;
    uint32_t x;
    if (op == CIS__OP_LOCAL_SET || op == CIS__OP_LOCAL_TEE) {
      if (!rd_u32(&p, end, &x)) break;
      if (x < g->nlocals && !ones) g->oloc[x] = 0;
      ones = false;
      continue;
    }
    if (op == CIS__OP_V128_CONST) {
      if (end - p < 16) break;
      ones = !memcmp(p, o, 16);
      p += 16;
      continue;
    }
    ones = false;
    if (op == CIS__OP_BLOCK || op == CIS__OP_LOOP || op == CIS__OP_IF) depth++;
    if (op == CIS__OP_END) depth--;
    if (!skip_imm(&p, end, cis__op_info(op)->imm)) break;
  }
  /* A body that does not decode: nothing is known. */
  if (depth) memset(g->oloc, 0, g->nlocals);
}

/* Before instruction op (immediates at p): forgets what the locals hold
 * (oloc) where op is a label, which another path joins. Only local.set
 * and local.tee write a local. An if's else starts again from the if; a
 * block's or an if's end joins the branches to it; a loop's header its
 * back edges (oloc_loop). A loop's end is no label. */
static void oloc_at(gen *g, enum cis__op op, const uint8_t *p, const uint8_t *end) {
  bool loop_end = op == CIS__OP_END && g->nctl && g->ctls[g->nctl - 1].kind == K_LOOP;
  if (op == CIS__OP_LOOP) oloc_loop(g, p, end);
  else if (op == CIS__OP_ELSE || (op == CIS__OP_END && !loop_end)) memset(g->oloc, 0, g->nlocals);
}

/* Before instruction op: forgets the widened values (xk) and the known
 * zeros (zk) it may overwrite. A SIMD instruction sets its result's entry itself
 * (gen_simd); the plain ones of an address computation push one value,
 * at sp (a get, a constant) or at sp - 2 (an i32 operation, whose operands
 * there are no v128); local.set and local.tee write no stack
 * variable; anything else forgets them all: control flow merges values
 * at its labels, select writes in place. What the locals hold (oloc)
 * is forgotten at the labels only (oloc_at). */
static void simd_track(gen *g, enum cis__op op, const uint8_t *p, const uint8_t *end) {
  uint32_t from = 0;
  switch (op) {
  case CIS__OP_NOP:
  case CIS__OP_LOCAL_SET:
  case CIS__OP_LOCAL_TEE: return;
  case CIS__OP_LOCAL_GET:
  case CIS__OP_I32_CONST:
  case CIS__OP_I64_CONST: from = g->sp; break;
  case CIS__OP_I32_ADD:
  case CIS__OP_I32_SUB:
  case CIS__OP_I32_MUL:
  case CIS__OP_I32_AND:
  case CIS__OP_I32_OR:
  case CIS__OP_I32_XOR:
  case CIS__OP_I32_SHL:
  case CIS__OP_I32_SHR_S:
  case CIS__OP_I32_SHR_U: from = g->sp >= 2 ? g->sp - 2 : 0; break;
  default:
    if (simd_row_of(op)) return;
    oloc_at(g, op, p, end);
    break;
  }
  for (uint32_t k = from; k < XK_MAX; k++)
    g->xk[k] = g->zk[k] = g->mk[k] = g->ok[k] = g->uk[k] = g->lk[k] = 0;
}

/* U<pos> (UK_*), declared once per function. */
static const char *uvar(gen *g, uint32_t pos, char buf[24]) {
  if (!(g->udecl >> pos & 1)) {
    cis__aot_buf_printf(&g->decls, "%s U%u;\n", var_ctype(g, TC_V128), pos);
    g->udecl |= 1ull << pos;
  }
  snprintf(buf, 24, "U%u", pos);
  return buf;
}

/* W<pos> (lk), declared once per function. */
static const char *wvar(gen *g, uint32_t pos, char buf[24]) {
  if (!(g->wdecl >> pos & 1)) {
    cis__aot_buf_printf(&g->decls, "%s W%u;\n", var_ctype(g, TC_V128), pos);
    g->wdecl |= 1ull << pos;
  }
  snprintf(buf, 24, "W%u", pos);
  return buf;
}

/* Whether bytes 0 to 3 of op's result are a function of bytes 0 to 3 of
 * its operands alone (byte lanes, and bitwise operations), so that op on
 * values that agree with the operands there agrees with the result there
 * (low4). */
static bool low4_op(enum cis__op op) {
  switch (op) {
  case CIS__OP_I8X16_ADD:
  case CIS__OP_I8X16_SUB:
  case CIS__OP_I8X16_EQ:
  case CIS__OP_I8X16_NE:
  case CIS__OP_I8X16_LT_S:
  case CIS__OP_I8X16_LT_U:
  case CIS__OP_I8X16_GT_S:
  case CIS__OP_I8X16_GT_U:
  case CIS__OP_I8X16_LE_S:
  case CIS__OP_I8X16_LE_U:
  case CIS__OP_I8X16_GE_S:
  case CIS__OP_I8X16_GE_U:
  case CIS__OP_V128_AND:
  case CIS__OP_V128_ANDNOT:
  case CIS__OP_V128_OR:
  case CIS__OP_V128_XOR: return true;
  default: return false;
  }
}

/* Whether op's result is a mask: each lane all ones or all zeros (the
 * comparisons, in their opcode order), whatever its operands. */
static bool mask_op(enum cis__op op) {
  _Static_assert(CIS__OP_F64X2_GE - CIS__OP_I8X16_EQ == 41, "i8x16.eq to f64x2.ge in a row");
  _Static_assert(CIS__OP_I64X2_GE_S - CIS__OP_I64X2_EQ == 5, "i64x2.eq to i64x2.ge_s in a row");
  return (op >= CIS__OP_I8X16_EQ && op <= CIS__OP_F64X2_GE) ||
         (op >= CIS__OP_I64X2_EQ && op <= CIS__OP_I64X2_GE_S);
}

/* Whether op is an unsigned lt or gt of integer lanes the prelude has
 * as a signed one (aot_i8x16_lt_u, ...). */
static bool cmp_u(enum cis__op op) {
  switch (op) {
  case CIS__OP_I8X16_LT_U:
  case CIS__OP_I8X16_GT_U:
  case CIS__OP_I16X8_LT_U:
  case CIS__OP_I16X8_GT_U:
  case CIS__OP_I32X4_LT_U:
  case CIS__OP_I32X4_GT_U: return true;
  default: return false;
  }
}

/* The XK_* of a widening of i16 lanes to i32 (an extend or a load), or 0. */
static uint8_t widen16_kind(enum cis__op op) {
  switch (op) {
  case CIS__OP_V128_LOAD16X4_S:
  case CIS__OP_I32X4_EXTEND_LOW_I16X8_S: return XK_ON | XK_S;
  case CIS__OP_V128_LOAD16X4_U:
  case CIS__OP_I32X4_EXTEND_LOW_I16X8_U: return XK_ON;
  case CIS__OP_I32X4_EXTEND_HIGH_I16X8_S: return XK_ON | XK_HI | XK_S;
  case CIS__OP_I32X4_EXTEND_HIGH_I16X8_U: return XK_ON | XK_HI;
  case CIS__OP_I32X4_EXTMUL_LOW_I16X8_S: return XK_ON | XK_S;
  case CIS__OP_I32X4_EXTMUL_HIGH_I16X8_S: return XK_ON | XK_HI | XK_S;
  case CIS__OP_I32X4_EXTMUL_LOW_I16X8_U: return XK_ON;
  case CIS__OP_I32X4_EXTMUL_HIGH_I16X8_U: return XK_ON | XK_HI;
  default: return 0;
  }
}

/* Opens a C block with m_, the two pshufb masks of aot_shuffle for
 * lanes imm (simd.h's i8x16_shuffle_masks, made here once): 0x80 selects
 * nothing from that operand. */
static void shuffle_masks(gen *g, const uint8_t imm[16]) {
  uint8_t m[32];
  i8x16_shuffle_masks(imm, m);
  E("{\nstatic const uint8_t m_[32] = {");
  for (int k = 0; k < 32; k++) E("%s%u", k ? ", " : "", m[k]);
  E("};\n");
}

/* i8x16.shuffle (lanes imm) of a and b into d when the operands its i32
 * lanes start from are masks (ma, mb): U<pos> is the shuffle with each i32
 * lane its first byte four times, 0 or -1, so that the shuffle anded with
 * i32x4 1s is -U<pos> (clang's count of the lanes a comparison set,
 * below). Written before d, which may be a's variable. */
static void gen_spread(gen *g, uint32_t pos, bool ma, bool mb, const uint8_t imm[16],
                       const char *a, const char *b, const char *wa, const char *wb) {
  uint8_t spread[16];
  for (int k = 0; k < 16; k++) {
    spread[k] = imm[k & ~3] & 31u;
    if (!(spread[k] < 16 ? ma : mb)) return;
    /* An operand read beyond its bytes 0 to 3 is taken whole. */
    if ((spread[k] & 15) >= 4) *(spread[k] < 16 ? &wa : &wb) = NULL;
  }
  /* Else its low4 value where it has one: clang's i32x4.splat of the
   * four bytes a step loads is then not needed. */
  if (wa) a = wa;
  if (wb) b = wb;
  /* Four bytes in a row of one operand: AOT_SPREAD8 of its quarter. */
  bool row = (spread[0] & 3) == 0;
  for (int j = 1; j < 4; j++) row = row && spread[4 * j] == spread[0] + j;
  char u[24];
  uvar(g, pos, u);
  shuffle_masks(g, spread);
  if (row) E("%s = AOT_SPREAD8(%s, %u, ", u, spread[0] < 16 ? a : b, (spread[0] & 15u) / 4);
  else E("%s = (", u);
  E("AOT_SHUFFLE(%s, %s, m_", a, b);
  for (int k = 0; k < 16; k++) E(", %u", spread[k]);
  E("));\n}\n");
  g->uk[pos] = UK_SPREAD;
}

/* The AOT_Z_* (aot_prelude_simd.h) whose lanes are sel (the byte of
 * the other operand, or -1 for zero), or -1: lanes of w bytes from one
 * half, each followed by a zero lane. */
static int zip0_kind(const int8_t sel[16]) {
  for (int k = 0; k < 8; k++) {
    int w = 1 << (k / 2), from = (k & 1) ? 8 : 0;
    bool ok = true;
    for (int i = 0; i < 16 && ok; i++) {
      int lane = i / w;
      ok = sel[i] == ((lane & 1) ? -1 : from + (lane / 2) * w + i % w);
    }
    if (ok) return k;
  }
  return -1;
}

/* i8x16.shuffle (lanes imm) of a and b into d, when a (za) or b (zb) is
 * known zero and other is the one that is not: the lanes read from a zero
 * operand are zero, whatever their index. Returns false when it wrote
 * nothing (every lane from other: the general case is as good). */
static bool gen_shuffle0(gen *g, const char *d, const char *other, bool za, bool zb,
                         const uint8_t imm[16], const char *a, const char *b) {
  int8_t sel[16];
  bool zero = true, all = true;
  for (int k = 0; k < 16; k++) {
    uint8_t l = imm[k] & 31u;
    sel[k] = (l < 16 ? za : zb) ? -1 : (int8_t)(l & 15);
    if (sel[k] >= 0) zero = false;
    else all = false;
  }
  if (all) return false;
  if (zero) {
    E("%s = v128_of(0, 0);\n", d);
    if (g->sp - 1 < XK_MAX) g->zk[g->sp - 1] = 1;
    return true;
  }
  int kind = zip0_kind(sel);
  if (kind >= 0) {
    E("%s = aot_zip0(%s, %d);\n", d, other, kind);
    return true;
  }
  /* One pshufb of the other operand in the x86-64-v2 body; the general
   * shuffle in the base body. */
  uint8_t pm[16];
  for (int k = 0; k < 16; k++) pm[k] = sel[k] < 0 ? 0x80 : (uint8_t)sel[k];
  uint64_t lo, hi;
  memcpy(&lo, pm, 8);
  memcpy(&hi, pm + 8, 8);
  shuffle_masks(g, imm);
  E("%s = AOT_SHUFFLE0(%s, v128_of(0x%llxull, 0x%llxull), AOT_SHUFFLE(%s, %s, m_", d, other,
    (unsigned long long)lo, (unsigned long long)hi, a, b);
  for (int k = 0; k < 16; k++) E(", %u", imm[k] & 31u);
  E("));\n}\n");
  return true;
}

/* Generates one SIMD instruction of row r (its immediates at *pp): the
 * operands and the result type come from the opcode table's SIG column,
 * the call from the shape. Memory accesses are checked by aot_ea like the
 * scalar ones and trap with the same code. */
static cis_result gen_simd(gen *g, const simd_row *r, const cis__opinfo *info, const uint8_t **pp,
                           const uint8_t *end) {
  const cis__module *m = g->m;
  const uint8_t *p = *pp;
  const char *colon = strchr(info->sig, ':');
  uint32_t npop = (uint32_t)(colon - info->sig);
  if (npop > 3 || g->sp < npop) BAD();
  char x[3][24], d[24] = "";
  cis__memarg mem_arg = {.mem = 0};
  uint8_t lane = 0, imm[16];
  bool memarg = info->imm == CIS__IMM_MEMARG || info->imm == CIS__IMM_MEMARG_LANE;
  if (memarg) RDMEMARG(mem_arg);
  /* A plain memory's offset is below 2^32 (the validator's). */
  const uint32_t off = (uint32_t)mem_arg.offset;
  const bool plain = mem_plain(m, mem_arg.mem);
  /* An access's address is of its memory's address type. */
  for (uint32_t k = 0; k < npop; k++)
    var(g, g->sp - npop + k,
        memarg && k == 0 ? cis__mem_addr_type(m, mem_arg.mem) : cis__sig_valtype(info->sig[k]),
        x[k]);
  if (info->imm == CIS__IMM_LANE || info->imm == CIS__IMM_MEMARG_LANE)
    if (!rd_byte(&p, end, &lane)) BAD();
  if (info->imm == CIS__IMM_V128 || info->imm == CIS__IMM_SHUFFLE) {
    if (end - p < 16) BAD();
    memcpy(imm, p, 16);
    p += 16;
  }
  *pp = p;
  /* The operands' widenings, read before the result replaces them. */
  uint32_t base = g->sp - npop;
  uint8_t ka = base < XK_MAX ? g->xk[base] : 0;
  uint8_t kb = base + 1 < XK_MAX ? g->xk[base + 1] : 0;
  bool za = base < XK_MAX && g->zk[base], zb = base + 1 < XK_MAX && g->zk[base + 1];
  bool cmp = (base < XK_MAX && g->mk[base]) || (base + 1 < XK_MAX && g->mk[base + 1]);
  bool ma = za || (base < XK_MAX && g->mk[base]);
  bool mb = zb || (base + 1 < XK_MAX && g->mk[base + 1]);
  bool oa = base < XK_MAX && g->ok[base], ob = base + 1 < XK_MAX && g->ok[base + 1];
  uint8_t ua = base < XK_MAX ? g->uk[base] : 0, ub = base + 1 < XK_MAX ? g->uk[base + 1] : 0;
  char wa[24] = "", wb[24] = "";
  if (base < XK_MAX && g->lk[base]) wvar(g, base, wa);
  if (base + 1 < XK_MAX && g->lk[base + 1]) wvar(g, base + 1, wb);
  g->sp -= npop;
  bool result = colon[1] != 0;
  if (result) {
    TRY(push(g, cis__sig_valtype(colon[1])));
    top(g, 0, d);
    if (base < XK_MAX)
      g->xk[base] = g->zk[base] = g->mk[base] = g->ok[base] = g->uk[base] = g->lk[base] = 0;
  }
  /* Masks: the comparisons, and the bitwise operations of masks. */
  bool mask = mask_op(r->op) || (r->op == CIS__OP_V128_NOT && ma) ||
              ((r->op == CIS__OP_V128_AND || r->op == CIS__OP_V128_OR ||
                r->op == CIS__OP_V128_XOR || r->op == CIS__OP_V128_ANDNOT) &&
               ma && mb);
  if (mask && base < XK_MAX) g->mk[base] = 1;
  uint8_t wk = widen16_kind(r->op);
  int whi = !!(wk & XK_HI), ws = !!(wk & XK_S);
  char xa[24], xb[24];
  char s1[96], s2[160];
  /* low4: an i32x4.splat's scalar alone, and the byte-lane operations of
   * such values, written before d, which may be an operand's variable. */
  if (r->op == CIS__OP_I32X4_SPLAT && base < XK_MAX) {
    E("%s = aot_low4(%s);\n", wvar(g, base, xa), x[0]);
    g->lk[base] = 1;
  } else if (low4_op(r->op) && (wa[0] || wb[0]) && npop == 2) {
    E("%s = %s%s(%s, %s);\n", wvar(g, base, xa), cmp_u(r->op) ? "aot_" : "", r->fn,
      wa[0] ? wa : x[0], wb[0] ? wb : x[1]);
    g->lk[base] = 1;
  }
  switch (r->shape) {
  case S_V:
  case S_VT:
    if (wk && base < XK_MAX) {
      /* Remembered for an i32x4.mul of two such (aot_mul16). */
      E("%s = %s;\n%s = aot_wide16(%s, %d, %d);\n", xvar(g, base, xa), x[0], d, xa, whi, ws);
      g->xk[base] = wk;
    } else if (wk) {
      E("%s = aot_wide16(%s, %d, %d);\n", d, x[0], whi, ws);
    } else {
      E("%s = %s(%s);\n", d, r->fn, x[0]);
    }
    break;
  case S_VV:
    if (r->op == CIS__OP_I32X4_ADD && (ua == UK_NEG || ub == UK_NEG)) {
      /* gen_spread: adding -U is subtracting U. */
      E("%s = i32x4_sub(%s, %s);\n", d, ub == UK_NEG ? x[0] : x[1],
        uvar(g, ub == UK_NEG ? base + 1 : base, xa));
      break;
    }
    if (r->op == CIS__OP_V128_AND && ((ua == UK_SPREAD && ob) || (oa && ub == UK_SPREAD))) {
      /* gen_spread: U moves with the value to its new position. */
      E("%s = v128_and(%s, %s);\n", d, x[0], x[1]);
      if (ub == UK_SPREAD) E("%s = %s;\n", uvar(g, base, xa), uvar(g, base + 1, xb));
      g->uk[base] = UK_NEG;
      break;
    }
    if (r->op == CIS__OP_I32X4_MUL && ka && ka == kb) {
      E("%s = aot_mul16(%s, %s, %d, %d);\n", d, xvar(g, base, xa), xvar(g, base + 1, xb),
        !!(ka & XK_HI), !!(ka & XK_S));
      break;
    }
    if (wk) {
      E("%s = aot_mul16(%s, %s, %d, %d);\n", d, x[0], x[1], whi, ws);
      break;
    }
    /* fall through */
  case S_VS:
    /* swizzle: pshufb where the CPU has it; the unsigned lt and gt as
     * signed ones (aot_prelude_simd.h). */
    if (r->op == CIS__OP_I8X16_SWIZZLE || r->op == CIS__OP_I8X16_RELAXED_SWIZZLE)
      snprintf(s1, sizeof s1, "AOT_SWIZZLE");
    else snprintf(s1, sizeof s1, "%s%s", cmp_u(r->op) ? "aot_" : "", r->fn);
    E("%s = %s(%s, %s);\n", d, s1, x[0], x[1]);
    break;
  case S_VVV: E("%s = %s(%s, %s, %s);\n", d, r->fn, x[0], x[1], x[2]); break;
  case S_SPL:
    pack(s1, sizeof s1, cis__sig_valtype(info->sig[0]), x[0]);
    E("%s = %s(%s);\n", d, r->fn, s1);
    break;
  case S_EXT:
    snprintf(s1, sizeof s1, "%s(%s, %u)", r->fn, x[0], lane);
    unpack(s2, sizeof s2, cis__sig_valtype(colon[1]), s1);
    E("%s = %s;\n", d, s2);
    break;
  case S_REP:
    pack(s1, sizeof s1, cis__sig_valtype(info->sig[1]), x[1]);
    E("%s = %s(%s, %s, %u);\n", d, r->fn, x[0], s1, lane);
    break;
  case S_LD:
    /* The address: checked here, or by the check group it joins. */
    if (!plain)
      mem_ptr(g->fi, s2, sizeof s2, mem_arg.mem, x[0], mem_arg.offset, r->n);
    else if (grp_add(g, base, x[0], off, r->n))
      snprintf(s2, sizeof s2, "M + AOT_EAU(%s, %uu)", x[0], off);
    else
      snprintf(s2, sizeof s2, "M + aot_ea(c, %u, MS, %s, %uu, %u)", g->fi, x[0], off, r->n);
    if (wk) {
      /* The 8 bytes as they are, then widened (aot_wide16). */
      snprintf(s1, sizeof s1, "X%u", base);
      if (base < XK_MAX) xvar(g, base, xa);
      else E("{\nv128 %s;\n", s1);
      E("%s = v128_load64_zero(%s);\n%s = aot_wide16(%s, 0, %d);\n", s1, s2, d, s1, ws);
      if (base < XK_MAX) g->xk[base] = wk;
      else E("}\n");
      break;
    }
    E("%s = %s(%s);\n", d, r->fn, s2);
    break;
  case S_ST:
    if (!plain) {
      mem_ptr(g->fi, s2, sizeof s2, mem_arg.mem, x[0], mem_arg.offset, 16);
      E("v_store(%s, %s);\n", s2, x[1]);
    } else if (grp_add(g, base, x[0], off, 16))
      E("vst128u(M, %s, %uu, %s);\n", x[0], off, x[1]);
    else
      E("vst128(c, %u, M, MS, %s, %uu, %s);\n", g->fi, x[0], off, x[1]);
    break;
  case S_LDL:
  case S_STL: {
    /* The lane's byte offset in the vector (the index was validated). */
    uint32_t at = (lane & (16 / r->n - 1)) * r->n;
    if (!plain) {
      mem_ptr(g->fi, s2, sizeof s2, mem_arg.mem, x[0], mem_arg.offset, r->n);
      if (r->shape == S_LDL)
        E("%s = %s;\nmemcpy((uint8_t *)&%s + %u, %s, %u);\n", d, x[1], d, at, s2, r->n);
      else
        E("memcpy(%s, (uint8_t *)&%s + %u, %u);\n", s2, x[1], at, r->n);
    } else if (r->shape == S_LDL)
      E("%s = vld_lane(c, %u, M, MS, %s, %uu, %s, %u, %u);\n", d, g->fi, x[0], off, x[1], at,
        r->n);
    else
      E("vst_lane(c, %u, M, MS, %s, %uu, %s, %u, %u);\n", g->fi, x[0], off, x[1], at, r->n);
    break;
  }
  case S_CONST: {
    uint64_t lo, hi;
    memcpy(&lo, imm, 8);
    memcpy(&hi, imm + 8, 8);
    E("%s = v128_of(0x%llxull, 0x%llxull);\n", d, (unsigned long long)lo,
      (unsigned long long)hi);
    if (!lo && !hi && base < XK_MAX) g->zk[base] = 1;
    if (lo == 0x100000001ull && hi == lo && base < XK_MAX) g->ok[base] = 1;
    break;
  }
  case S_SHUF: {
    /* A comparison's lanes: maybe counted (gen_spread). */
    if (base + 1 < XK_MAX && cmp)
      gen_spread(g, base, ma, mb, imm, x[0], x[1], wa[0] ? wa : NULL, wb[0] ? wb : NULL);
    if ((za || zb) && gen_shuffle0(g, d, za ? x[1] : x[0], za, zb, imm, x[0], x[1])) break;
    /* The lanes, and the two masks of aot_shuffle. */
    shuffle_masks(g, imm);
    E("%s = AOT_SHUFFLE(%s, %s, m_", d, x[0], x[1]);
    for (int k = 0; k < 16; k++) E(", %u", imm[k] & 31u);
    E(");\n}\n");
    break;
  }
  default: BAD();
  }
  return CIS_OK;
}

/* Before instruction op (immediates at p): closes the check group unless
 * op is one that may lie between its members (straight-line code that
 * changes neither the memory's size nor the group's local: locals,
 * constants, global.set, arithmetic, traps included, lane operations;
 * the loads and stores decide for themselves, grp_add), and
 * returns what op writes in the address forms (aloc, ak, agen): 0
 * nothing, 1 the top position (*loc, *k, *lg), 2 any position. local.set
 * and local.tee start a new generation of that local: the forms read
 * before stay those of the value they read, and may still join the group
 * open at it, which was checked for that value. */
static int addr_before(gen *g, enum cis__op op, const cis__opinfo *info, const uint8_t *p,
                       const uint8_t *end, uint32_t *loc, uint32_t *k, uint32_t *lg) {
  *loc = *k = *lg = 0;
  uint32_t x;
  int32_t v;
  switch (op) {
  case CIS__OP_NOP:
  case CIS__OP_DROP:
  case CIS__OP_GLOBAL_SET: return 0;
  case CIS__OP_LOCAL_GET:
    if (rd_u32(&p, end, &x) && x < g->nlocals && g->ltypes[x] == CIS__I32)
      *loc = x + 1, *lg = g->lgen[x];
    return 1;
  case CIS__OP_LOCAL_SET:
    if (rd_u32(&p, end, &x) && x < g->nlocals) g->lgen[x]++;
    return 0;
  case CIS__OP_LOCAL_TEE:
    /* The value left is the local's new value. */
    if (!rd_u32(&p, end, &x) || x >= g->nlocals) return 1;
    g->lgen[x]++;
    if (g->ltypes[x] == CIS__I32) *loc = x + 1, *lg = g->lgen[x];
    return 1;
  case CIS__OP_SELECT:
  case CIS__OP_SELECT_T:
  case CIS__OP_GLOBAL_GET:
  case CIS__OP_I64_CONST:
  case CIS__OP_F32_CONST:
  case CIS__OP_F64_CONST: return 1;
  case CIS__OP_I32_CONST:
    if (cis__read_s32(&p, end, &v)) *loc = AF_CONST, *k = (uint32_t)v;
    return 1;
  case CIS__OP_I32_ADD:
    if (g->sp >= 2 && g->sp - 1 < XK_MAX) {
      uint32_t la = g->aloc[g->sp - 2], lb = g->aloc[g->sp - 1];
      if (la && lb && (la == AF_CONST || lb == AF_CONST)) {
        *loc = la == AF_CONST ? lb : la;
        *k = g->ak[g->sp - 2] + g->ak[g->sp - 1];
        *lg = la == AF_CONST ? g->agen[g->sp - 1] : g->agen[g->sp - 2];
      }
    }
    return 1;
  default: break;
  }
  if (info->sig[0] == '*') {
    grp_close(g);
    return 2;
  }
  const simd_row *r = simd_row_of(op);
  const char *tmpl = numeric_expr(op);
  const char *h, *conv;
  uint8_t vt;
  bool store;
  bool keep = r ? r->shape != S_LDL && r->shape != S_STL
                : (info->imm == CIS__IMM_MEMARG && mem_op(op, &h, &conv, &vt, &store)) ||
                      tmpl != NULL;
  if (!keep) grp_close(g);
  return strchr(info->sig, ':')[1] ? 1 : 0;
}

/* After the instruction: what addr_before said it writes; where the
 * open check group's text ends. */
static void addr_after(gen *g, int writes, uint32_t loc, uint32_t k, uint32_t lg) {
  /* The instruction that added a member ends the group's text so far. */
  if (g->grp.loc && g->grp.nend != g->grp.n) g->grp.end = g->body.len, g->grp.nend = g->grp.n;
  if (writes == 2) {
    memset(g->aloc, 0, sizeof g->aloc);
  } else if (writes == 1 && g->sp >= 1 && g->sp - 1 < XK_MAX) {
    g->aloc[g->sp - 1] = loc;
    g->ak[g->sp - 1] = k;
    g->agen[g->sp - 1] = lg;
  }
}

/* --------------------------------------------------- value ranges */

/* An access whose address is known to stay below the memory's declared
 * minimum less its offset and width needs no check: a memory never
 * shrinks, and an imported one is at least its import's minimum
 * (instance.c, limits_match). Such addresses are masked or shifted
 * indices (hashmap's slot, (i + 1) & mask, times 8 plus its array), bytes
 * loaded with load8_u, and locals whose every store is so bounded.
 * Ranges are of the value as unsigned: an upper bound per stack position
 * (what branches bring in is not merged: every control instruction
 * forgets them all), and per local the bound of what the function stores
 * in it, found by generating the function again until no store exceeds
 * what the pass assumed (gen_ranges). */
#define RNG_ANY UINT64_MAX
#define RNG_PASSES 4
#define RNG_LOCALS 4096u /* more: a generated function, not tracked */

static uint64_t rng_at(const gen *g, uint32_t pos) { return pos < XK_MAX ? g->umax[pos] : RNG_ANY; }

static uint64_t rng_i32(uint64_t v) { return v > UINT32_MAX ? RNG_ANY : v; }

/* A store to local x of a value of bound v. */
static void rng_store(gen *g, uint32_t x, uint64_t v) {
  if (x < g->nlocals && v > g->lseen[x]) g->lseen[x] = v;
}

/* The bound of the value the instruction leaves on top (RNG_ANY if none
 * is known); *exact when it is that constant. Before the instruction. */
static uint64_t rng_before(gen *g, enum cis__op op, const uint8_t *p, const uint8_t *end,
                           bool *exact) {
  *exact = false;
  uint32_t x;
  int32_t v32;
  int64_t v64;
  uint64_t a = g->sp >= 2 ? rng_at(g, g->sp - 2) : RNG_ANY;
  uint64_t b = g->sp >= 1 ? rng_at(g, g->sp - 1) : RNG_ANY;
  bool bk = g->sp >= 1 && g->sp - 1 < XK_MAX && g->uexact[g->sp - 1];
  switch (op) {
  case CIS__OP_LOCAL_GET:
    return rd_u32(&p, end, &x) && x < g->nlocals ? g->lmax[x] : RNG_ANY;
  case CIS__OP_LOCAL_SET:
  case CIS__OP_LOCAL_TEE:
    if (rd_u32(&p, end, &x)) rng_store(g, x, b);
    return b;
  case CIS__OP_I32_CONST:
    if (!cis__read_s32(&p, end, &v32)) return RNG_ANY;
    *exact = true;
    return (uint32_t)v32;
  case CIS__OP_I64_CONST:
    if (!cis__read_s64(&p, end, &v64)) return RNG_ANY;
    *exact = true;
    return (uint64_t)v64;
  case CIS__OP_SELECT:
  case CIS__OP_SELECT_T: {
    uint64_t c = g->sp >= 3 ? rng_at(g, g->sp - 3) : RNG_ANY;
    return c > a ? c : a;
  }
  case CIS__OP_I32_AND:
  case CIS__OP_I64_AND: return a < b ? a : b;
  case CIS__OP_I32_ADD: return a <= UINT32_MAX && b <= UINT32_MAX ? rng_i32(a + b) : RNG_ANY;
  case CIS__OP_I64_ADD: return a < (1ull << 62) && b < (1ull << 62) ? a + b : RNG_ANY;
  case CIS__OP_I32_MUL: return a <= UINT32_MAX && b <= UINT32_MAX ? rng_i32(a * b) : RNG_ANY;
  case CIS__OP_I32_SHL: /* a count below 32 is its own count mod 32 */
    return a <= UINT32_MAX && b < 32 ? rng_i32(a << b) : RNG_ANY;
  case CIS__OP_I64_SHL:
    return b < 64 && a < (1ull << 32) && b < 32 ? a << b : RNG_ANY;
  case CIS__OP_I32_SHR_U:
    a = a > UINT32_MAX ? UINT32_MAX : a;
    return bk ? a >> (b & 31) : a;
  case CIS__OP_I64_SHR_U: return bk ? a >> (b & 63) : a;
  case CIS__OP_I32_DIV_U:
  case CIS__OP_I64_DIV_U: return a;
  case CIS__OP_I32_REM_U:
  case CIS__OP_I64_REM_U: return a < b ? a : b; /* below the divisor, or a trap */
  case CIS__OP_I32_WRAP_I64: return rng_i32(b);
  case CIS__OP_I64_EXTEND_I32_U: return b > UINT32_MAX ? UINT32_MAX : b;
  case CIS__OP_I32_LOAD8_U:
  case CIS__OP_I64_LOAD8_U: return 0xff;
  case CIS__OP_I32_LOAD16_U:
  case CIS__OP_I64_LOAD16_U: return 0xffff;
  case CIS__OP_I64_LOAD32_U: return UINT32_MAX;
  default: return RNG_ANY;
  }
}

/* After the instruction: writes as addr_before said. */
static void rng_after(gen *g, int writes, uint64_t v, bool exact) {
  if (writes == 2) {
    for (uint32_t i = 0; i < XK_MAX; i++) g->umax[i] = RNG_ANY;
    memset(g->uexact, 0, sizeof g->uexact);
  } else if (writes == 1 && g->sp >= 1 && g->sp - 1 < XK_MAX) {
    g->umax[g->sp - 1] = v;
    g->uexact[g->sp - 1] = exact;
  }
}

/* Whether an access of size bytes at offset off from stack position
 * pos's address stays within memory 0's declared minimum. */
static bool rng_in_bounds(const gen *g, uint32_t pos, uint32_t off, uint32_t size) {
  const cis__module *m = g->m;
  if (!m->nmemories || m->memories[0].is64) return false;
  uint64_t a = rng_at(g, pos);
  return a <= UINT32_MAX && a + off + size <= m->memories[0].min * (uint64_t)CIS__PAGE_SIZE;
}

/* Marks in g->zloc the v128 locals (not parameters) whose every
 * local.set and local.tee takes a v128.const 0 just pushed: they are
 * zero throughout (locals start at zero), which a shuffle with one can
 * use (gen_shuffle0). A conservative pass over the whole body, reachable
 * or not. */
static cis_result zero_locals(gen *g, const cis__code *code, const cis__functype *ft) {
  free(g->zloc);
  free(g->oloc);
  g->zloc = calloc(g->nlocals ? g->nlocals : 1, 1);
  g->oloc = calloc(g->nlocals ? g->nlocals : 1, 1);
  if (!g->zloc || !g->oloc) return CIS_ENOMEM;
  bool any = false;
  for (uint32_t k = ft->nparams; k < g->nlocals; k++)
    if (tclass(g->ltypes[k]) == TC_V128) g->zloc[k] = 1, any = true;
  if (!any) return CIS_OK;
  const uint8_t *p = code->body, *end = code->body + code->body_len;
  bool zero = false; /* the instruction before pushed v128.const 0 */
  while (p < end) {
    enum cis__op op;
    if (cis__op_read(&p, end, &op) != CIS__OPREAD_OK) BAD();
    const cis__opinfo *info = cis__op_info(op);
    if (op == CIS__OP_LOCAL_SET || op == CIS__OP_LOCAL_TEE) {
      uint32_t x;
      RD32(x);
      if (x < g->nlocals && !zero) g->zloc[x] = 0;
      zero = false;
      continue;
    }
    if (op == CIS__OP_V128_CONST) {
      static const uint8_t z[16];
      if (end - p < 16) BAD();
      zero = !memcmp(p, z, 16);
      p += 16;
      continue;
    }
    if (!skip_imm(&p, end, info->imm)) BAD();
    zero = false;
  }
  return CIS_OK;
}

/* ------------------------------------------------------- exceptions */

/* The function's next try opens here (try_table or the legacy try): its
 * block, numbered in the handler's cur while its body runs. An exception
 * it does not catch goes to the try around it (or where a delegate says). */
static cis_result open_try(gen *g, uint8_t kind, const cis__blocktype *bt) {
  TRY(push_ctl(g, kind, bt));
  uint32_t tid = ++g->ntry;
  if (!grow((void **)&g->try_next, &g->try_cap, tid + 1, sizeof *g->try_next)) return CIS_ENOMEM;
  ctl *f = &g->ctls[g->nctl - 1];
  g->try_next[tid] = f->outer;
  f->inner = f->tid = tid;
  E("H_.cur = %u;\n", tid);
  return CIS_OK;
}

/* Before reference v goes into table x: an exnref may outlive the call. */
static void keep_exn(gen *g, uint32_t x, const char *v) {
  if (x < g->m->ntables && g->m->tables[x].elem == CIS__EXNREF) E("c->api->exn_keep(c, %s);\n", v);
}

/* Tag x's value types (*ts, *n), or false when there is no such tag. */
static bool tag_params(gen *g, uint32_t x, const uint8_t **ts, uint32_t *n) {
  const cis__module *m = g->m;
  if (x >= m->ntags || m->tag_type[x] >= m->ntypes) return false;
  const cis__functype *ft = &m->types[m->tag_type[x]];
  uint32_t slots = 0;
  for (uint32_t k = 0; k < ft->nparams; k++) slots += nslots(ft->types[k]);
  if (slots > g->xslots) g->xslots = slots;
  *ts = ft->types;
  *n = ft->nparams;
  return true;
}

/* A catch clause of try tid, into the landing (g->land): when the
 * exception xe_ carries tag (UINT32_MAX: any; its n values of types ts),
 * the values go to the stack positions from `at` and, with xv, the exnref
 * to C variable xv; then the function goes on in try cur at label go.
 * as_value: the C expression saying whether the code keeps the exnref. */
static cis_result land_clause(gen *g, uint32_t tid, uint32_t tag, const char *as_value,
                              uint32_t at, const uint8_t *ts, uint32_t n, const char *xv,
                              uint32_t cur, const char *go) {
  cis__aot_buf *o = &g->land;
  cis__aot_buf_printf(o, "if (xk_ == %u && c->api->catch_(c, xe_, %uu, xs_, %s)) {\n", tid, tag,
                      as_value);
  for (uint32_t k = 0, s = 0; k < n; k++) {
    char v[24], x[64];
    slot_in(x, sizeof x, ts[k], "xs_", s);
    s += nslots(ts[k]);
    cis__aot_buf_printf(o, "%s = %s;\n", var(g, at + k, ts[k], v), x);
  }
  if (xv) cis__aot_buf_printf(o, "%s = xe_;\n", xv);
  cis__aot_buf_printf(o, "H_.cur = %u;\ngoto %s;\n}\n", cur, go);
  return CIS_OK;
}

/* try_table's clauses (read from *pp), each a branch to a label outside
 * the try_table, then its body. */
static cis_result gen_try_table(gen *g, const uint8_t **pp, const uint8_t *end) {
  const uint8_t *p = *pp;
  int64_t s;
  cis__blocktype bt;
  uint32_t n;
  if (!cis__read_blocktype(&p, end, &s) || !cis__blocktype_get(g->m, s, &bt) || !rd_u32(&p, end, &n))
    BAD();
  const uint8_t *clauses = p;
  uint32_t parent = g->nctl - 1;
  TRY(open_try(g, K_TRY_TABLE, &bt));
  uint32_t tid = g->ntry;
  for (uint32_t i = 0; i < n; i++) {
    cis__catch k;
    const uint8_t *ts = NULL;
    uint32_t nv = 0;
    if (!cis__read_catch(&clauses, end, &k) || k.label > parent) BAD();
    bool all = k.kind == CIS__CATCH_ALL || k.kind == CIS__CATCH_ALL_REF;
    bool ref = k.kind == CIS__CATCH_REF || k.kind == CIS__CATCH_ALL_REF;
    if (!all && !tag_params(g, k.tag, &ts, &nv)) BAD();
    const ctl *t = &g->ctls[parent - k.label];
    char go[32], xv[24];
    snprintf(go, sizeof go, "L%u_%s", t->label, t->kind == K_LOOP ? "top" : "end");
    /* The label's positions may lie above any the body pushed yet: their
     * variables are declared from g->used. */
    TRY(reserve_used(g, t->height + nv + 1));
    TRY(land_clause(g, tid, all ? UINT32_MAX : k.tag, ref ? "1" : "0", t->height, ts, nv,
                    ref ? var(g, t->height + nv, CIS__EXNREF, xv) : NULL, label_try(t), go));
  }
  *pp = clauses;
  return CIS_OK;
}

/* A legacy catch or catch_all of the try (or catch) f: the block before
 * it ends, and the catch's starts with the tag's values on the stack;
 * the exnref is kept in E<label> for a rethrow. */
static cis_result gen_catch(gen *g, ctl *f, enum cis__op op, const uint8_t **pp, const uint8_t *end) {
  uint32_t tag = UINT32_MAX, nv = 0;
  const uint8_t *ts = NULL;
  if (f->kind != K_TRY && f->kind != K_CATCH) BAD();
  if (op == CIS__OP_CATCH && (!rd_u32(pp, end, &tag) || !tag_params(g, tag, &ts, &nv))) BAD();
  if (f->kind == K_TRY) cis__aot_buf_printf(&g->decls, "void *E%u = 0;\n", f->label);
  f->kind = K_CATCH;
  f->inner = f->outer;
  f->unreachable = false;
  uint32_t k = f->ncatch++;
  E("goto L%u_end;\nL%u_c%u:;\n", f->label, f->label, k);
  g->sp = f->height;
  for (uint32_t i = 0; i < nv; i++) TRY(push(g, ts[i]));
  char go[32], asv[24], xv[24];
  snprintf(go, sizeof go, "L%u_c%u", f->label, k);
  snprintf(asv, sizeof asv, "RT%u_", f->label);
  snprintf(xv, sizeof xv, "E%u", f->label);
  return land_clause(g, f->tid, tag, asv, f->height, ts, nv, xv, f->outer, go);
}

/* --------------------------------------------------------------- GC */

/* Type x of the module if it is a struct (comp CIS__COMP_STRUCT) or an
 * array type, else NULL. */
static const cis__functype *gc_type(const gen *g, uint32_t x, uint8_t comp) {
  return x < g->m->ntypes && g->m->types[x].comp == comp ? &g->m->types[x] : NULL;
}

/* Does GC instruction op allocate (and so may collect)? The others that
 * call the runtime (casts, stores of a reference, the bulk ones) do not. */
static bool allocates(enum cis__op op) {
  return (op >= CIS__OP_STRUCT_NEW && op <= CIS__OP_STRUCT_NEW_DEFAULT) ||
         (op >= CIS__OP_ARRAY_NEW && op <= CIS__OP_ARRAY_NEW_ELEM) || op == CIS__OP_ANY_CONVERT_EXTERN ||
         op == CIS__OP_EXTERN_CONVERT_ANY;
}

/* A GC instruction through the runtime (c->api->gc): its n operands, the
 * top of the stack, spilled to a slot array a_, and its result of type res
 * (0: none) read back from it. a and b are C expressions; x and y type
 * indices (UINT32_MAX: none). The array is a local of a block of its
 * own, so that an object's pointer is only ever in C variables. */
static cis_result gc_call(gen *g, enum cis__op op, uint32_t n, const char *a, const char *b, uint32_t x,
                          uint32_t y, uint8_t res) {
  uint32_t in = 0, out = res ? nslots(res) : 0;
  if (allocates(op)) collect_point(g, n);
  for (uint32_t k = 0; k < n; k++) in += nslots(g->stk[g->sp - n + k]);
  E("{\nuint64_t a_[%u];\n", in > out ? in : out ? out : 1);
  for (uint32_t k = 0, s = 0; k < n; k++) {
    char v[24];
    uint8_t t = g->stk[g->sp - n + k];
    slot_out(&g->body, t, "a_", s, var(g, g->sp - n + k, t, v));
    s += nslots(t);
  }
  E("c->api->gc(c, 0x%xu, %s, %s, 0x%xu, 0x%xu, a_, %u);\n", cis__op_info(op)->code, a, b, x, y, g->fi);
  g->sp -= n;
  if (res) {
    char v[24], r[64];
    TRY(push(g, res));
    slot_in(r, sizeof r, res, "a_", 0);
    E("%s = %s;\n", top(g, 0, v), r);
  }
  E("}\n");
  return CIS_OK;
}

/* A cast's target, heap type vt, as cis__gc_op takes it: the kind with
 * the flags in a, the canonical id in b (C text), as the interpreter's
 * translator gives them. */
static bool cast_target(gen *g, uint32_t vt, bool nullable, bool negate, char a[24], char b[48]) {
  uint32_t kind = cis__vt_kind(vt);
  snprintf(b, 48, "0xffffffffu");
  if (cis__vt_has_idx(vt)) {
    uint32_t x = cis__vt_idx(vt);
    if (x >= g->m->ntypes) return false;
    kind = cis__comp_kind(g->m->types[x].comp);
    snprintf(b, 48, "c->type_ids[%u]", x);
  }
  snprintf(a, 24, "0x%xu", kind | (nullable ? CIS__GC_NULLABLE : 0u) | (negate ? CIS__GC_NEGATE : 0u));
  return true;
}

/* A field's or element's load helper (aot_prelude.h), and how its value
 * is read (a printf format of the load) and stored (of the value), by
 * storage type st; false for a v128. A reference is loaded, never stored
 * here (a store goes through the runtime, where a collector's barrier
 * would be). */
static bool field_io(uint8_t st, bool sign, const char **ld, const char **rd, const char **wr) {
  *wr = "%s";
  *rd = "%s";
  switch (st) {
  case CIS__I8:
    *ld = "8";
    *rd = sign ? "(uint32_t)(int32_t)(int8_t)%s" : "(uint32_t)%s";
    *wr = "(uint8_t)%s";
    return true;
  case CIS__I16:
    *ld = "16";
    *rd = sign ? "(uint32_t)(int32_t)(int16_t)%s" : "(uint32_t)%s";
    *wr = "(uint16_t)%s";
    return true;
  case CIS__I32: *ld = "32"; return true;
  case CIS__I64: *ld = "64"; return true;
  case CIS__F32: *ld = "32"; *rd = "f32_of(%s)"; *wr = "f32_bits(%s)"; return true;
  case CIS__F64: *ld = "64"; *rd = "f64_of(%s)"; *wr = "f64_bits(%s)"; return true;
  case CIS__V128: return false;
  default: *ld = "64"; *rd = "(void *)(uintptr_t)%s"; *wr = NULL; return true;
  }
}

/* struct.get/set and array.get/set of field k (an array's: 0) of storage
 * type st as C (aot_field, aot_elem): a null check, a bounds check, a load
 * or store at the offset the object's layout gives, with the runtime's
 * traps. *done false (nothing written) for a v128, and for a store of a
 * reference, which the runtime makes. */
static cis_result gc_access(gen *g, enum cis__op op, uint8_t st, uint32_t k, bool *done) {
  const char *ld, *rd, *wr;
  bool set = op == CIS__OP_STRUCT_SET || op == CIS__OP_ARRAY_SET;
  bool is_struct = op >= CIS__OP_STRUCT_NEW && op <= CIS__OP_STRUCT_SET;
  *done = field_io(st, op == CIS__OP_STRUCT_GET_S || op == CIS__OP_ARRAY_GET_S, &ld, &rd, &wr) && !(set && !wr);
  if (!*done) return CIS_OK;
  uint32_t nops = (is_struct ? 1 : 2) + set, at = g->sp - nops;
  char o[24], i[24], v[24], x[96], q[48];
  const char *ov = var(g, at, g->stk[at], o);
  if (is_struct) E("{\nuint8_t *q_ = aot_field(c, %s, %uu, %u);\n", ov, k, g->fi);
  else E("{\nuint8_t *q_ = aot_elem(c, %s, %s, %u);\n", ov, var(g, at + 1, CIS__I32, i), g->fi);
  if (set) {
    snprintf(x, sizeof x, wr, var(g, g->sp - 1, g->stk[g->sp - 1], v));
    E("st%su(q_, 0, 0, %s);\n}\n", ld, x);
    g->sp -= nops;
    return CIS_OK;
  }
  g->sp -= nops;
  TRY(push(g, unpacked(st)));
  snprintf(q, sizeof q, "ld%su(q_, 0, 0)", ld);
  snprintf(x, sizeof x, rd, q);
  E("%s = %s;\n}\n", top(g, 0, v), x);
  return CIS_OK;
}

/* GC's instructions (0xFB) and ref.eq. The i31 ones and ref.eq are C
 * expressions (an i31 is its value shifted left by one, then 1: gc.h);
 * the others call the runtime's one operation, the interpreter's, so
 * that objects, traps and the memory account are the same on both. */
static cis_result gen_gc(gen *g, enum cis__op op, const uint8_t **pp, const uint8_t *end) {
  const uint8_t *p = *pp;
  char a[24], b[24], ka[24], kb[48], sa[24];
  uint32_t x = UINT32_MAX, y = 0, n = 0;
  uint8_t res = 0;
  const cis__functype *t = NULL;
  /* Operands a body changed after validation could lack (tests). */
  bool typed = op >= CIS__OP_STRUCT_NEW && op <= CIS__OP_ARRAY_INIT_ELEM && op != CIS__OP_ARRAY_LEN;
  if (g->sp < (op == CIS__OP_REF_EQ ? 2u : typed ? 0u : 1u)) BAD(); /* those: below */
  switch (op) {
  case CIS__OP_REF_EQ: {
    const char *vb = top(g, 0, b), *va = top(g, 1, a);
    g->sp -= 2;
    TRY(push(g, CIS__I32));
    E("%s = %s == %s;\n", top(g, 0, sa), va, vb);
    return CIS_OK;
  }
  case CIS__OP_REF_I31: {
    const char *v = top(g, 0, b);
    g->sp--;
    TRY(push(g, CIS__I31REF));
    E("%s = (void *)(uintptr_t)(((uint64_t)(%s & 0x7fffffffu) << 1) | 1u);\n", top(g, 0, a), v);
    return CIS_OK;
  }
  case CIS__OP_I31_GET_S:
  case CIS__OP_I31_GET_U: {
    const char *r = top(g, 0, b);
    E("if (AOT_UNLIKELY(!%s)) aot_trap(c, AOT_T_NULL_I31, %u);\n", r, g->fi);
    g->sp--;
    TRY(push(g, CIS__I32));
    if (op == CIS__OP_I31_GET_U) E("%s = (uint32_t)((uintptr_t)%s >> 1) & 0x7fffffffu;\n", top(g, 0, a), r);
    else E("%s = (uint32_t)((int32_t)((uint32_t)((uintptr_t)%s >> 1) << 1) >> 1);\n", top(g, 0, a), r);
    return CIS_OK;
  }
  case CIS__OP_REF_TEST:
  case CIS__OP_REF_TEST_NULL:
  case CIS__OP_REF_CAST:
  case CIS__OP_REF_CAST_NULL: {
    /* ref.test's answer replaces the reference; ref.cast leaves it. */
    uint32_t vt;
    bool test = op == CIS__OP_REF_TEST || op == CIS__OP_REF_TEST_NULL;
    if (!cis__read_heaptype(&p, end, &vt) ||
        !cast_target(g, vt, op == CIS__OP_REF_TEST_NULL || op == CIS__OP_REF_CAST_NULL, false, ka, kb))
      BAD();
    *pp = p;
    if (test) return gc_call(g, op, 1, ka, kb, UINT32_MAX, UINT32_MAX, CIS__I32);
    cast_open(g, cis__op_info(op)->code, top(g, 0, a), ka, kb);
    E("}\n");
    return CIS_OK;
  }
  case CIS__OP_BR_ON_CAST:
  case CIS__OP_BR_ON_CAST_FAIL: {
    /* The answer (negated for br_on_cast_fail) decides the branch, which
     * carries the reference as its label's last value; it stays either
     * way. */
    uint8_t flags;
    uint32_t l, ht1, vt;
    if (!rd_byte(&p, end, &flags) || !rd_u32(&p, end, &l) || !cis__read_heaptype(&p, end, &ht1) ||
        !cis__read_heaptype(&p, end, &vt) || l >= g->nctl ||
        !cast_target(g, vt, flags & 2, op == CIS__OP_BR_ON_CAST_FAIL, ka, kb))
      BAD();
    *pp = p;
    cast_open(g, cis__op_info(op)->code, top(g, 0, a), ka, kb);
    E("if (a_[0]) {\n");
    branch(g, &g->ctls[g->nctl - 1 - l]);
    E("}\n}\n");
    return CIS_OK;
  }
  case CIS__OP_ANY_CONVERT_EXTERN:
  case CIS__OP_EXTERN_CONVERT_ANY:
    return gc_call(g, op, 1, "0", "0", UINT32_MAX, UINT32_MAX,
                   op == CIS__OP_ANY_CONVERT_EXTERN ? CIS__ANYREF : CIS__EXTERNREF);
  case CIS__OP_ARRAY_LEN: {
    const char *r = top(g, 0, b);
    g->sp--;
    TRY(push(g, CIS__I32));
    E("%s = aot_alen(c, %s, %u);\n", top(g, 0, a), r, g->fi);
    return CIS_OK;
  }
  default: break;
  }
  /* The rest name a struct or array type first, then (some) a second
   * index: a field, a count, a data or element segment, a type. */
  bool is_struct = op >= CIS__OP_STRUCT_NEW && op <= CIS__OP_STRUCT_SET;
  RD32(x);
  const cis__opinfo *info = cis__op_info(op);
  if (info->imm != CIS__IMM_TYPE) RD32(y);
  if (!(t = gc_type(g, x, is_struct ? CIS__COMP_STRUCT : CIS__COMP_ARRAY))) BAD();
  uint32_t ty = UINT32_MAX;
  switch (op) {
  case CIS__OP_STRUCT_NEW: n = t->nparams; res = CIS__STRUCTREF; break;
  case CIS__OP_STRUCT_NEW_DEFAULT: res = CIS__STRUCTREF; break;
  case CIS__OP_STRUCT_GET:
  case CIS__OP_STRUCT_GET_S:
  case CIS__OP_STRUCT_GET_U:
  case CIS__OP_STRUCT_SET:
    if (y >= t->nparams) BAD();
    n = op == CIS__OP_STRUCT_SET ? 2 : 1;
    res = op == CIS__OP_STRUCT_SET ? 0 : unpacked(t->types[y]);
    break;
  case CIS__OP_ARRAY_NEW: n = 2; res = CIS__ARRAYREF; break;
  case CIS__OP_ARRAY_NEW_DEFAULT: n = 1; res = CIS__ARRAYREF; break;
  case CIS__OP_ARRAY_NEW_FIXED: n = y; res = CIS__ARRAYREF; break;
  case CIS__OP_ARRAY_NEW_DATA:
  case CIS__OP_ARRAY_NEW_ELEM:
    if (y >= (op == CIS__OP_ARRAY_NEW_DATA ? g->m->ndatas : g->m->nelems)) BAD();
    n = 2;
    res = CIS__ARRAYREF;
    break;
  case CIS__OP_ARRAY_GET:
  case CIS__OP_ARRAY_GET_S:
  case CIS__OP_ARRAY_GET_U: n = 2; res = unpacked(t->types[0]); break;
  case CIS__OP_ARRAY_SET: n = 3; break;
  case CIS__OP_ARRAY_FILL: n = 4; break;
  case CIS__OP_ARRAY_COPY:
    if (!gc_type(g, y, CIS__COMP_ARRAY)) BAD();
    ty = y;
    y = 0;
    n = 5;
    break;
  case CIS__OP_ARRAY_INIT_DATA:
  case CIS__OP_ARRAY_INIT_ELEM:
    if (y >= (op == CIS__OP_ARRAY_INIT_DATA ? g->m->ndatas : g->m->nelems)) BAD();
    n = 4;
    break;
  default: BAD();
  }
  if (n > g->sp) BAD();
  *pp = p;
  if (op == CIS__OP_STRUCT_GET || op == CIS__OP_STRUCT_GET_S || op == CIS__OP_STRUCT_GET_U ||
      op == CIS__OP_STRUCT_SET || op == CIS__OP_ARRAY_GET || op == CIS__OP_ARRAY_GET_S ||
      op == CIS__OP_ARRAY_GET_U || op == CIS__OP_ARRAY_SET) {
    bool done;
    TRY(gc_access(g, op, t->types[is_struct ? y : 0], y, &done));
    if (done) return CIS_OK;
  }
  snprintf(sa, sizeof sa, "%uu", y);
  return gc_call(g, op, n, sa, "0", x, ty, res);
}

/* ------------------------------------------------------------ body */

/* Generates the body of the current function into g->body. */
static cis_result gen_body(gen *g, const cis__code *code, const cis__functype *ft) {
  const cis__module *m = g->m;
  const uint8_t *p = code->body, *end = code->body + code->body_len;
  cis__blocktype fb = {.nresults = ft->nresults, .results = ft->types + ft->nparams};
  g->sp = 0;
  g->nctl = 0;
  g->skip = 0;
  memset(g->xk, 0, sizeof g->xk);
  memset(g->zk, 0, sizeof g->zk);
  memset(g->aloc, 0, sizeof g->aloc);
  memset(g->lgen, 0, (size_t)g->nlocals * sizeof *g->lgen);
  for (uint32_t i = 0; i < XK_MAX; i++) g->umax[i] = RNG_ANY;
  memset(g->uexact, 0, sizeof g->uexact);
  for (uint32_t i = 0; i < g->nlocals; i++) g->lseen[i] = 0;
  g->grp.loc = 0;
  g->lp.on = false;
  g->xdecl = 0;
  memset(g->mk, 0, sizeof g->mk);
  memset(g->ok, 0, sizeof g->ok);
  memset(g->uk, 0, sizeof g->uk);
  g->udecl = 0;
  memset(g->lk, 0, sizeof g->lk);
  g->wdecl = 0;
  TRY(zero_locals(g, code, ft));
  TRY(push_ctl(g, K_FUNC, &fb));
  char a[24], b[24], cc[24], d[24];
  while (g->nctl > 0) {
    if (p >= end) BAD();
    enum cis__op op;
    if (cis__op_read(&p, end, &op) != CIS__OPREAD_OK) BAD();
    const cis__opinfo *info = cis__op_info(op);
    ctl *f = &g->ctls[g->nctl - 1];
    if (f->unreachable) {
      /* Skip to the end (or else) of this block. */
      bool closes = op == CIS__OP_END || op == CIS__OP_DELEGATE;
      bool arm = op == CIS__OP_ELSE || op == CIS__OP_CATCH || op == CIS__OP_CATCH_ALL;
      if (op == CIS__OP_BLOCK || op == CIS__OP_LOOP || op == CIS__OP_IF || op == CIS__OP_TRY ||
          op == CIS__OP_TRY_TABLE) {
        g->skip++;
        if (!skip_imm(&p, end, info->imm)) BAD();
        continue;
      }
      if (closes && g->skip) {
        g->skip--;
        if (!skip_imm(&p, end, info->imm)) BAD();
        continue;
      }
      if (arm && g->skip) {
        if (!skip_imm(&p, end, info->imm)) BAD();
        continue;
      }
      if (!closes && !arm) {
        if (!skip_imm(&p, end, info->imm)) BAD();
        continue;
      }
    }
    if (g->body.oom) return CIS_ENOMEM;
    simd_track(g, op, p, end);
    uint32_t nloc, nk, nlg;
    int writes = addr_before(g, op, info, p, end, &nloc, &nk, &nlg);
    bool nexact;
    uint64_t nmax = rng_before(g, op, p, end, &nexact);
    switch (op) {
    case CIS__OP_NOP: break;
    case CIS__OP_UNREACHABLE:
      E("aot_trap(c, AOT_T_UNREACHABLE, %u);\n", g->fi);
      f->unreachable = true;
      break;
    case CIS__OP_BLOCK:
    case CIS__OP_LOOP:
    case CIS__OP_IF: {
      int64_t s;
      cis__blocktype bt;
      if (!cis__read_blocktype(&p, end, &s) || !cis__blocktype_get(m, s, &bt)) BAD();
      if (op == CIS__OP_IF) {
        const char *cond = top(g, 0, cc);
        g->sp--;
        TRY(push_ctl(g, K_IF, &bt));
        f = &g->ctls[g->nctl - 1];
        if (g->shadow && bt.nparams) {
          f->pslot = g->nslot + 1;
          g->nslot += bt.nparams;
        }
        for (uint32_t k = 0; k < bt.nparams; k++) {
          /* The then-branch may overwrite its parameters' positions; the
           * else-branch starts from the saved values. */
          if (!f->pslot || tclass(bt.params[k]) != TC_REF)
            cis__aot_buf_printf(&g->decls, "%s P%u_%u;\n", var_ctype(g, tclass(bt.params[k])),
                                f->label, k);
          E("%s = %s;\n", pvar(f, k, b), var(g, f->height + k, bt.params[k], a));
        }
        E("if (!%s) goto L%u_else;\n", cond, f->label);
      } else {
        TRY(push_ctl(g, op == CIS__OP_LOOP ? K_LOOP : K_BLOCK, &bt));
        f = &g->ctls[g->nctl - 1];
        if (op == CIS__OP_LOOP) {
          size_t at = g->body.len;
          E("L%u_top:;\nAOT_TICK(c);\n", f->label);
          if (lp_plan(g, p, end, &bt)) lp_open(g, f->label, at, p);
        }
      }
      break;
    }
    case CIS__OP_ELSE: {
      if (f->kind != K_IF) BAD();
      E("goto L%u_end;\nL%u_else:;\n", f->label, f->label);
      f->has_else = true;
      f->unreachable = false;
      TRY(reset_to(g, f, f->params, f->nparams));
      for (uint32_t k = 0; k < f->nparams; k++)
        E("%s = %s;\n", var(g, f->height + k, f->params[k], a), pvar(f, k, b));
      break;
    }
    case CIS__OP_TRY_TABLE:
      TRY(gen_try_table(g, &p, end));
      break;
    case CIS__OP_TRY: {
      int64_t s;
      cis__blocktype bt;
      if (!cis__read_blocktype(&p, end, &s) || !cis__blocktype_get(m, s, &bt)) BAD();
      TRY(open_try(g, K_TRY, &bt));
      break;
    }
    case CIS__OP_CATCH:
    case CIS__OP_CATCH_ALL:
      TRY(gen_catch(g, f, op, &p, end));
      break;
    case CIS__OP_THROW: {
      uint32_t x, n;
      const uint8_t *ts;
      RD32(x);
      if (!tag_params(g, x, &ts, &n)) BAD();
      pack_args(g, &m->types[m->tag_type[x]]);
      E("AOT_SYNC_OUT(c);\nc->api->throw_(c, %u, a_, %u);\n}\n", x, g->fi);
      g->sp -= n;
      f->unreachable = true;
      break;
    }
    case CIS__OP_THROW_REF:
      E("AOT_SYNC_OUT(c);\nc->api->throw_ref(c, %s, %u);\n", top(g, 0, a), g->fi);
      g->sp--;
      f->unreachable = true;
      break;
    case CIS__OP_RETHROW: {
      uint32_t l;
      RD32(l);
      if (l >= g->nctl || g->ctls[g->nctl - 1 - l].kind != K_CATCH) BAD();
      ctl *t = &g->ctls[g->nctl - 1 - l];
      t->rethrown = true;
      E("AOT_SYNC_OUT(c);\nc->api->throw_ref(c, E%u, %u);\n", t->label, g->fi);
      f->unreachable = true;
      break;
    }
    case CIS__OP_DELEGATE: {
      /* Ends the try; what it does not catch (all) goes to the try
       * around label l, counted from outside it. */
      uint32_t l;
      RD32(l);
      if (f->kind != K_TRY || l + 2 > g->nctl) BAD();
      g->try_next[f->tid] = g->ctls[g->nctl - 2 - l].inner;
    }
      /* fall through */
    case CIS__OP_END: {
      if (f->kind == K_LOOP && g->lp.on && g->lp.label == f->label) {
        p = lp_restore(g);
        continue;
      }
      if (f->kind == K_IF && !f->has_else) {
        E("goto L%u_end;\nL%u_else:;\n", f->label, f->label);
        TRY(reset_to(g, f, f->params, f->nparams));
        for (uint32_t k = 0; k < f->nparams; k++)
          E("%s = %s;\n", var(g, f->height + k, f->params[k], a), pvar(f, k, b));
      }
      E("L%u_end:;\n", f->label);
      if (f->kind == K_TRY_TABLE || f->kind == K_TRY || f->kind == K_CATCH)
        E("H_.cur = %u;\n", f->outer);
      if (f->kind == K_CATCH) cis__aot_buf_printf(&g->decls, "enum { RT%u_ = %d };\n", f->label, f->rethrown);
      ctl done = *f;
      TRY(reset_to(g, &done, done.results, done.nresults));
      g->nctl--;
      if (done.kind == K_FUNC) {
        if (g->has_try) E("c->hnd = H_.prev;\n");
        if (g->shadow) E("*c->roots = S_.h.prev;\n");
        E("AOT_LEAVE(c);\n");
        if (ft->nresults == 0) E("return;\n");
        else if (ft->nresults == 1) E("return %s;\n", var(g, 0, ft->types[ft->nparams], a));
        else {
          E("{\nstruct R%u r_;\n", g->rs[m->func_type[g->fi]]);
          for (uint32_t k = 0; k < ft->nresults; k++)
            E("r_.r%u = %s;\n", k, var(g, k, ft->types[ft->nparams + k], a));
          E("return r_;\n}\n");
        }
      }
      break;
    }
    case CIS__OP_BR:
    case CIS__OP_BR_IF: {
      uint32_t l;
      RD32(l);
      if (l >= g->nctl) BAD();
      if (op == CIS__OP_BR_IF) {
        if (g->lp.on && !l) g->lp.brif = g->body.len;
        E("if (%s) {\n", top(g, 0, cc));
        g->sp--;
        branch(g, &g->ctls[g->nctl - 1 - l]);
        E("}\n");
      } else {
        branch(g, &g->ctls[g->nctl - 1 - l]);
        f->unreachable = true;
      }
      break;
    }
    case CIS__OP_BR_TABLE: {
      uint32_t n, l;
      RD32(n);
      E("switch (%s) {\n", top(g, 0, cc));
      g->sp--;
      for (uint64_t k = 0; k <= n; k++) {
        RD32(l);
        if (l >= g->nctl) BAD();
        if (k < n) E("case %lluu: {\n", (unsigned long long)k);
        else E("default: {\n");
        branch(g, &g->ctls[g->nctl - 1 - l]);
        E("}\n");
      }
      E("}\n");
      f->unreachable = true;
      break;
    }
    case CIS__OP_RETURN:
      branch(g, &g->ctls[0]);
      f->unreachable = true;
      break;
    case CIS__OP_CALL:
    case CIS__OP_RETURN_CALL: {
      /* A tail call (return_call) of compiled code is a C tail call
       * (tail_call); of a host function, which returns to this code, a
       * call, then return. */
      bool tail = op == CIS__OP_RETURN_CALL;
      uint32_t idx;
      RD32(idx);
      if (idx >= m->nfuncs) BAD();
      const cis__functype *t = cis__module_func_type(m, idx);
      if (idx < m->nfunc_imports) {
        pack_args(g, t);
        if (tail) tail_out(g);
        E("AOT_SYNC_OUT(c);\nc->api->call(c, %u, a_);\nAOT_SYNC_IN(c);\n", idx);
        TRY(unpack_results(g, t));
        E("AOT_RELOAD();\n");
        if (tail) branch(g, &g->ctls[0]);
      } else {
        char fn[24];
        snprintf(fn, sizeof fn, "w%u", idx);
        g->calls = true;
        if (g->unit_of[idx - m->nfunc_imports] != g->unit) g->shared[idx - m->nfunc_imports] = 1;
        if (tail && g->has_try && idx == g->fi) {
          self_tail(g, t);
        } else if (tail) {
          g->tail_calls = true;
          TRY(tail_call(g, fn, t, m->func_type[idx]));
        } else {
          E("AOT_DIRECT_OUT(c);\n");
          TRY(direct_call(g, fn, t, m->func_type[idx]));
          E("AOT_DIRECT_IN(c);\nAOT_RELOAD();\n");
        }
      }
      if (tail) f->unreachable = true;
      break;
    }
    case CIS__OP_CALL_INDIRECT:
    case CIS__OP_RETURN_CALL_INDIRECT:
    case CIS__OP_CALL_REF:
    case CIS__OP_RETURN_CALL_REF: {
      bool tail = op == CIS__OP_RETURN_CALL_INDIRECT || op == CIS__OP_RETURN_CALL_REF;
      bool by_ref = op == CIS__OP_CALL_REF || op == CIS__OP_RETURN_CALL_REF;
      uint32_t ti, tab = 0;
      RD32(ti);
      if (!by_ref) RD32(tab);
      if (ti >= m->ntypes || (!by_ref && tab >= m->ntables)) BAD();
      const cis__functype *t = &m->types[ti];
      const char *iv = top(g, 0, cc);
      g->sp--;
      g->calls = true;
      g->tail_calls |= tail;
      /* The callee g_: a table's element checked against the type, or a
       * reference of that type (the validator's), null trapping. */
      if (by_ref) {
        E("{\nchar *g_ = (char *)%s;\n", iv);
        E("if (AOT_UNLIKELY(!g_)) aot_trap(c, AOT_T_NULL_FUNC, %u);\n", g->fi);
      } else {
        indirect_callee(g, tab, ti, iv);
      }
      /* Compiled code of this very instance is called directly; anything
       * else (another instance, engine, or a host function) through the
       * runtime, and returns to this code (a tail call: then returns). */
      E("if (*(const void **)(g_ + AOT_OFF_FINST) == c->inst && *(uint8_t *)(g_ + "
        "AOT_OFF_FKIND) == 0) {\n");
      uint32_t sp0 = g->sp;
      char fn[96];
      snprintf(fn, sizeof fn, "((FT%u)c->fptrs[*(uint32_t *)(g_ + AOT_OFF_FINDEX) - %uu])", ti,
               m->nfunc_imports);
      if (tail) {
        TRY(tail_call(g, fn, t, ti));
        E("}\n");
      } else {
        E("AOT_DIRECT_OUT(c);\n");
        TRY(direct_call(g, fn, t, ti));
        E("AOT_DIRECT_IN(c);\n} else ");
      }
      g->sp = sp0;
      pack_args(g, t);
      if (tail) tail_out(g);
      E("AOT_SYNC_OUT(c);\nc->api->call_ref(c, g_, a_);\nAOT_SYNC_IN(c);\n");
      TRY(unpack_results(g, t));
      if (tail) {
        E("AOT_RELOAD();\n");
        branch(g, &g->ctls[0]);
        E("}\n");
        f->unreachable = true;
      } else {
        E("}\nAOT_RELOAD();\n");
      }
      break;
    }
    case CIS__OP_DROP: g->sp--; break;
    case CIS__OP_SELECT:
    case CIS__OP_SELECT_T: {
      if (!skip_imm(&p, end, info->imm)) BAD();
      const char *cond = top(g, 0, cc);
      const char *vb = top(g, 1, b);
      const char *va = top(g, 2, a);
      E("%s = %s ? %s : %s;\n", va, cond, va, vb);
      g->sp -= 2;
      break;
    }
    case CIS__OP_LOCAL_GET:
    case CIS__OP_LOCAL_SET:
    case CIS__OP_LOCAL_TEE: {
      uint32_t x;
      RD32(x);
      if (x >= g->nlocals) BAD();
      if (op == CIS__OP_LOCAL_GET) {
        TRY(push(g, g->ltypes[x]));
        E("%s = %s;\n", top(g, 0, a), lvar(g, x, b));
        if (g->zloc[x] && g->sp - 1 < XK_MAX) g->zk[g->sp - 1] = 1;
        if (g->oloc[x] && g->sp - 1 < XK_MAX) g->ok[g->sp - 1] = 1;
      } else {
        E("%s = %s;\n", lvar(g, x, b), top(g, 0, a));
        g->oloc[x] = g->sp - 1 < XK_MAX && g->ok[g->sp - 1];
        if (op == CIS__OP_LOCAL_SET) g->sp--;
      }
      break;
    }
    case CIS__OP_GLOBAL_GET:
    case CIS__OP_GLOBAL_SET: {
      uint32_t x;
      RD32(x);
      if (x >= m->nglobals) BAD();
      uint8_t t = m->globals[x].type.type;
      char ref[160];
      if (op == CIS__OP_GLOBAL_GET) {
        global_ref(ref, sizeof ref, t, x);
        TRY(push(g, t));
        E("%s = %s;\n", top(g, 0, a), ref);
      } else {
        const char *v = top(g, 0, a);
        char x64[64];
        pack(x64, sizeof x64, t, v);
        if (t == CIS__EXNREF) E("c->api->exn_keep(c, %s);\n", v);
        if (tclass(t) == TC_REF) E("gsetp(c->globals[%u], %s);\n", x, v);
        else if (tclass(t) == TC_V128) E("gset128(c->globals[%u], %s);\n", x, v);
        else E("gset64(c->globals[%u], %s);\n", x, x64);
        g->sp--;
      }
      break;
    }
    case CIS__OP_I32_CONST: {
      int32_t v;
      if (!cis__read_s32(&p, end, &v)) BAD();
      TRY(push(g, CIS__I32));
      E("%s = 0x%xu;\n", top(g, 0, a), (uint32_t)v);
      break;
    }
    case CIS__OP_I64_CONST: {
      int64_t v;
      if (!cis__read_s64(&p, end, &v)) BAD();
      TRY(push(g, CIS__I64));
      E("%s = 0x%llxull;\n", top(g, 0, a), (unsigned long long)v);
      break;
    }
    case CIS__OP_F32_CONST: {
      uint32_t v;
      if (end - p < 4) BAD();
      memcpy(&v, p, 4);
      p += 4;
      TRY(push(g, CIS__F32));
      E("%s = f32_of(0x%xu);\n", top(g, 0, a), v);
      break;
    }
    case CIS__OP_F64_CONST: {
      uint64_t v;
      if (end - p < 8) BAD();
      memcpy(&v, p, 8);
      p += 8;
      TRY(push(g, CIS__F64));
      E("%s = f64_of(0x%llxull);\n", top(g, 0, a), (unsigned long long)v);
      break;
    }
    case CIS__OP_MEMORY_SIZE: {
      uint32_t x;
      char ms[32];
      RDMEM(x);
      uint8_t t = cis__mem_addr_type(m, x);
      TRY(push(g, t));
      E("%s = (%s)(%s >> 16);\n", top(g, 0, a), ctype(t), mem_size_c(x, ms));
      break;
    }
    case CIS__OP_MEMORY_GROW: {
      /* Reloads MS whichever memory grew: memory 0 may be imported as
       * another index too. */
      uint32_t x;
      char grow[48] = "memory_grow(c, ";
      RDMEM(x);
      if (x) snprintf(grow, sizeof grow, "memory_grow_n(c, %u, ", x);
      E("%s = (%s)c->api->%s%s);\nAOT_RELOAD();\n", top(g, 0, a),
        ctype(cis__mem_addr_type(m, x)), grow, top(g, 0, b));
      break;
    }
    case CIS__OP_REF_NULL:
      if (!skip_imm(&p, end, info->imm)) BAD();
      TRY(push(g, CIS__FUNCREF));
      E("%s = 0;\n", top(g, 0, a));
      break;
    case CIS__OP_REF_IS_NULL: {
      const char *r = top(g, 0, b);
      g->sp--;
      TRY(push(g, CIS__I32));
      E("%s = %s == 0;\n", top(g, 0, a), r);
      break;
    }
    case CIS__OP_REF_FUNC: {
      uint32_t x;
      RD32(x);
      TRY(push(g, CIS__FUNCREF));
      E("%s = (void *)c->funcs[%u];\n", top(g, 0, a), x);
      break;
    }
    case CIS__OP_REF_AS_NON_NULL:
      E("if (AOT_UNLIKELY(!%s)) aot_trap(c, AOT_T_NULL_REF, %u);\n", top(g, 0, a), g->fi);
      break;
    case CIS__OP_BR_ON_NULL:
    case CIS__OP_BR_ON_NON_NULL: {
      /* br_on_null branches without the reference, br_on_non_null with it
       * (its label's last value); the other way it stays, or goes. */
      uint32_t l;
      RD32(l);
      if (l >= g->nctl) BAD();
      bool on_null = op == CIS__OP_BR_ON_NULL;
      E("if (%s%s) {\n", on_null ? "!" : "", top(g, 0, cc));
      if (on_null) g->sp--;
      branch(g, &g->ctls[g->nctl - 1 - l]);
      E("}\n");
      if (!on_null) g->sp--;
      else g->sp++;
      break;
    }
    case CIS__OP_TABLE_GET: {
      uint32_t x;
      RD32(x);
      const char *i = top(g, 0, b);
      g->sp--;
      TRY(push(g, CIS__FUNCREF));
      E("{\nvoid *v_;\nint32_t e_ = c->api->table_get(c, %u, %s, &v_);\nif (e_) aot_trap(c, "
        "e_, %u);\n%s = v_;\n}\n", x, i, g->fi, top(g, 0, a));
      break;
    }
    case CIS__OP_TABLE_SET: {
      uint32_t x;
      RD32(x);
      keep_exn(g, x, top(g, 0, b));
      E("{\nint32_t e_ = c->api->table_set(c, %u, %s, %s);\nif (e_) aot_trap(c, e_, %u);\n}\n",
        x, top(g, 1, a), top(g, 0, b), g->fi);
      g->sp -= 2;
      break;
    }
    case CIS__OP_TABLE_SIZE: {
      uint32_t x;
      RD32(x);
      if (x >= m->ntables) BAD();
      TRY(push(g, cis__table_addr_type(m, x)));
      E("%s = c->api->table_size(c, %u);\n", top(g, 0, a), x);
      break;
    }
    case CIS__OP_TABLE_GROW: {
      uint32_t x;
      RD32(x);
      if (x >= m->ntables) BAD();
      const char *n = top(g, 0, b), *init = top(g, 1, cc);
      keep_exn(g, x, init);
      g->sp -= 2;
      uint8_t t = cis__table_addr_type(m, x);
      TRY(push(g, t));
      E("%s = (%s)c->api->table_grow(c, %u, %s, %s);\n", top(g, 0, a), ctype(t), x, init, n);
      break;
    }
    case CIS__OP_TABLE_FILL: {
      uint32_t x;
      RD32(x);
      keep_exn(g, x, top(g, 1, b));
      E("{\nint32_t e_ = c->api->table_fill(c, %u, %s, %s, %s);\nif (e_) aot_trap(c, e_, "
        "%u);\n}\n", x, top(g, 2, a), top(g, 1, b), top(g, 0, cc), g->fi);
      g->sp -= 3;
      break;
    }
    case CIS__OP_TABLE_COPY:
    case CIS__OP_TABLE_INIT:
    case CIS__OP_MEMORY_INIT: {
      uint32_t x, y = 0;
      RD32(x);
      RD32(y); /* memory.init: the memory */
      const char *dv = top(g, 2, a), *sv = top(g, 1, b), *nv = top(g, 0, cc);
      if (op == CIS__OP_TABLE_COPY)
        E("{\nint32_t e_ = c->api->table_copy(c, %u, %u, %s, %s, %s);\n", x, y, dv, sv, nv);
      else if (op == CIS__OP_TABLE_INIT)
        E("{\nint32_t e_ = c->api->table_init(c, %u, %u, %s, %s, %s);\n", x, y, dv, sv, nv);
      else if (y)
        E("{\nint32_t e_ = c->api->memory_init_n(c, %u, %u, %s, %s, %s);\n", x, y, dv, sv, nv);
      else
        E("{\nint32_t e_ = c->api->memory_init(c, %u, %s, %s, %s);\n", x, dv, sv, nv);
      E("if (e_) aot_trap(c, e_, %u);\n}\n", g->fi);
      g->sp -= 3;
      break;
    }
    case CIS__OP_MEMORY_COPY:
    case CIS__OP_MEMORY_FILL: {
      /* Of memory 0 alone, the calls without memory indices. */
      bool copy = op == CIS__OP_MEMORY_COPY;
      uint32_t x, y = 0;
      char mems[32] = "";
      RDMEM(x);
      if (copy) RDMEM(y);
      if (x || y) {
        if (copy) snprintf(mems, sizeof mems, "_n(c, %u, %u", x, y);
        else snprintf(mems, sizeof mems, "_n(c, %u", x);
      } else {
        snprintf(mems, sizeof mems, "(c");
      }
      E("{\nint32_t e_ = c->api->memory_%s%s, %s, %s, %s);\nif (e_) aot_trap(c, e_, %u);\n}\n",
        copy ? "copy" : "fill", mems, top(g, 2, a), top(g, 1, b), top(g, 0, cc), g->fi);
      g->sp -= 3;
      break;
    }
    case CIS__OP_DATA_DROP:
    case CIS__OP_ELEM_DROP: {
      uint32_t x;
      RD32(x);
      E("c->api->%s(c, %u);\n", op == CIS__OP_DATA_DROP ? "data_drop" : "elem_drop", x);
      break;
    }
    case CIS__OP_REF_EQ:
      TRY(gen_gc(g, op, &p, end));
      break;
    default: {
      const char *helper, *conv;
      uint8_t vt;
      bool store;
      if (cis__op_is_gc(op)) {
        TRY(gen_gc(g, op, &p, end));
        break;
      }
      const simd_row *row = simd_row_of(op);
      if (row) {
        TRY(gen_simd(g, row, info, &p, end));
        break;
      }
      if (info->imm == CIS__IMM_MEMARG && mem_op(op, &helper, &conv, &vt, &store)) {
        cis__memarg ma;
        RDMEMARG(ma);
        char x[256];
        uint32_t size = (uint32_t)atoi(helper + 2) / 8;
        if (!mem_plain(m, ma.mem)) {
          /* Through ldpN and stpN at the pointer checked without groups. */
          char ptr[160], call[192];
          mem_ptr(g->fi, ptr, sizeof ptr, ma.mem, top(g, store ? 1 : 0, a), ma.offset, size);
          if (store) {
            snprintf(x, sizeof x, conv, top(g, 0, b));
            E("%.2sp%s(%s, %s);\n", helper, helper + 2, ptr, x);
            g->sp -= 2;
          } else {
            snprintf(call, sizeof call, "%.2sp%s(%s)", helper, helper + 2, ptr);
            snprintf(x, sizeof x, conv, call);
            g->sp--;
            TRY(push(g, vt));
            E("%s = %s;\n", top(g, 0, a), x);
          }
          break;
        }
        /* A plain memory's offset is below 2^32 (the validator's). */
        const uint32_t off = (uint32_t)ma.offset;
        /* In the first pass over a planned loop, no check group: the
         * copy's text replaces each checked call (lp_note). */
        size_t at = g->body.len;
        char call[128];
        bool inb = !g->lp.on && rng_in_bounds(g, g->sp - (store ? 2 : 1), off, size);
        if (store) {
          snprintf(x, sizeof x, conv, top(g, 0, b));
          top(g, 1, a);
          if (inb || (!g->lp.on && grp_add(g, g->sp - 2, a, off, size))) {
            E("%su(M, %s, %uu, %s);\n", helper, a, off, x);
          } else {
            snprintf(call, sizeof call, "%s(c, %u, M, MS, %s, %uu, ", helper, g->fi, a, off);
            E("%s%s);\n", call, x);
          }
          g->sp -= 2;
        } else {
          top(g, 0, b);
          if (inb || (!g->lp.on && grp_add(g, g->sp - 1, b, off, size)))
            snprintf(call, sizeof call, "%su(M, %s, %uu)", helper, b, off);
          else
            snprintf(call, sizeof call, "%s(c, %u, M, MS, %s, %uu)", helper, g->fi, b, off);
          snprintf(x, sizeof x, conv, call);
          g->sp--;
          TRY(push(g, vt));
          E("%s = %s;\n", top(g, 0, a), x);
        }
        if (g->lp.on) lp_note(g, at, call, size, store);
        break;
      }
      const char *tmpl = numeric_expr(op);
      if (!tmpl || info->imm != CIS__IMM_NONE || info->sig[0] == '*')
        return fail(g, CIS_EUNSUPPORTED,
                    "function %u: the compiled engine does not cover %s yet", g->fi,
                    info->name);
      const char *colon = strchr(info->sig, ':');
      uint32_t npop = (uint32_t)(colon - info->sig);
      const char *va = npop >= 1 ? var(g, g->sp - npop, cis__sig_valtype(info->sig[0]), a)
                                 : NULL;
      const char *vb = npop >= 2 ? var(g, g->sp - npop + 1, cis__sig_valtype(info->sig[1]), b)
                                 : NULL;
      g->sp -= npop;
      TRY(push(g, cis__sig_valtype(colon[1])));
      emit_expr(g, top(g, 0, d), tmpl, va, vb);
      break;
    }
    }
    addr_after(g, writes, nloc, nk, nlg);
    rng_after(g, writes, nmax, nexact);
  }
  if (p != end) BAD();
  return g->body.oom ? CIS_ENOMEM : CIS_OK;
}

/* ----------------------------------------------------------- module */

/* Is parameter k (of the current function, type t) copied at entry from
 * L<k>_in: a v128 of a function with a try into an AOT_TV (var_ctype), a
 * reference into its slot of S_? */
static bool param_in(const gen *g, const cis__functype *t, uint32_t k) {
  return (g->has_try && g->fn_v128 && tclass(t->types[k]) == TC_V128) || (g->shadow && g->lslot[k]);
}

/* "RET wN<suffix>(cis_aot_ctx *c, int64_t dr_, T L0, ...)" of function
 * fi, after storage class sc (suffix: "_v2" and "_v1" name the two bodies
 * of a function that uses v128, gen_function). dr_ is the depth room of
 * the caller (aot_prelude.h, AOT_ENTER): passed as an argument, it costs
 * no memory and no register where it is not live. A definition of wN
 * itself carries no storage class: its declaration before it (the
 * unit's, static, or the shared header's, hidden: cis__aot_codegen_units)
 * gives its linkage. */
static void signature_x(cis__aot_buf *o, const gen *g, uint32_t fi, bool names,
                        const char *sc, const char *suffix, const char *extra, bool body) {
  const cis__module *m = g->m;
  const cis__functype *t = cis__module_func_type(m, fi);
  if (t->nresults == 0) cis__aot_buf_printf(o, "%svoid ", sc);
  else if (t->nresults == 1) cis__aot_buf_printf(o, "%s%s ", sc, ctype(t->types[t->nparams]));
  else cis__aot_buf_printf(o, "%sstruct R%u ", sc, g->rs[m->func_type[fi]]);
  cis__aot_buf_printf(o, "w%u%s(cis_aot_ctx *c, int64_t%s", fi, suffix, names ? " dr_" : "");
  for (uint32_t k = 0; k < t->nparams; k++) {
    bool in = body && param_in(g, t, k);
    if (names) cis__aot_buf_printf(o, ", %s L%u%s", ctype(t->types[k]), k, in ? "_in" : "");
    else cis__aot_buf_printf(o, ", %s", ctype(t->types[k]));
  }
  cis__aot_buf_printf(o, "%s)", extra);
}

static void signature(cis__aot_buf *o, const gen *g, uint32_t fi, bool names,
                      const char *sc, const char *suffix) {
  signature_x(o, g, fi, names, sc, suffix, "", false);
}

/* Checks that every type the module uses is a value type the generator
 * knows (the validator let through nothing else; a struct's or array's
 * fields may be packed too), and notes v128. */
static cis_result check_types(gen *g) {
  const cis__module *m = g->m;
  for (uint32_t i = 0; i < m->ntypes; i++)
    for (uint32_t k = 0; k < m->types[i].nparams + m->types[i].nresults; k++) {
      uint8_t t = cis__is_functype(&m->types[i]) ? m->types[i].types[k] : unpacked(m->types[i].types[k]);
      if (tclass(t) == TC_V128) g->v128 = true;
      else if (tclass(t) < 0)
        return fail(g, CIS_EINVALID, "type %u: value type 0x%02x is not one the compiled engine "
                    "knows", i, m->types[i].types[k]);
    }
  for (uint32_t i = 0; i < m->nglobals; i++)
    if (tclass(m->globals[i].type.type) == TC_V128) g->v128 = true;
    else if (tclass(m->globals[i].type.type) < 0)
      return fail(g, CIS_EINVALID, "global %u: value type 0x%02x is not one the compiled engine "
                  "knows", i, m->globals[i].type.type);
  return CIS_OK;
}

/* Whether function types a and b have results of the same C types. */
static bool same_results(const cis__functype *a, const cis__functype *b) {
  if (a->nresults != b->nresults) return false;
  for (uint32_t k = 0; k < a->nresults; k++)
    if (tclass(a->types[a->nparams + k]) != tclass(b->types[b->nparams + k])) return false;
  return true;
}

/* Fills g->rs: for each function type of several results, the first type
 * whose results are of the same C types, whose struct R<n> they are
 * returned in (others: the type itself). A tail call's callee returns
 * the caller's results (validated: subtypes, of the same C types), so
 * both return the same struct and gcc makes the call a jump. Found
 * through a hash of the shapes (open addressing in slot, of shape_cap
 * entries): linear in the types. */
static size_t shape_cap(const cis__module *m) {
  size_t cap = 2;
  while (cap < 2 * (size_t)m->ntypes) cap *= 2;
  return cap;
}

static void result_shapes(gen *g, uint32_t *slot) {
  const cis__module *m = g->m;
  size_t cap = shape_cap(m);
  memset(slot, 0xff, cap * sizeof *slot);
  for (uint32_t i = 0; i < m->ntypes; i++) {
    const cis__functype *t = &m->types[i];
    g->rs[i] = i;
    if (!cis__is_functype(t) || t->nresults < 2) continue;
    uint32_t h = 2166136261u ^ t->nresults;
    for (uint32_t k = 0; k < t->nresults; k++)
      h = (h ^ (uint32_t)tclass(t->types[t->nparams + k])) * 16777619u;
    for (size_t j = h & (cap - 1);; j = (j + 1) & (cap - 1)) {
      if (slot[j] == UINT32_MAX) {
        slot[j] = i;
        break;
      }
      if (same_results(&m->types[slot[j]], t)) {
        g->rs[i] = slot[j];
        break;
      }
    }
  }
}

/* Fills g->ltypes for defined function fi (code c). */
static cis_result locals_of(gen *g, const cis__code *code, const cis__functype *t) {
  uint64_t n = (uint64_t)t->nparams + code->nlocals;
  if (n > CIS__MAX_LOCALS + (uint64_t)CIS__MAX_PARAMS) BAD();
  free(g->ltypes);
  free(g->lgen);
  free(g->lobj);
  free(g->lslot);
  free(g->lmax);
  free(g->lseen);
  g->lmax = malloc((n ? n : 1) * sizeof *g->lmax);
  g->lseen = malloc((n ? n : 1) * sizeof *g->lseen);
  g->ltypes = malloc(n ? n : 1);
  g->lgen = malloc((n ? n : 1) * sizeof *g->lgen);
  g->lobj = calloc(n ? n : 1, 1);
  g->lslot = calloc(n ? n : 1, sizeof *g->lslot);
  if (!g->ltypes || !g->lgen || !g->lobj || !g->lslot || !g->lmax || !g->lseen) return CIS_ENOMEM;
  memcpy(g->ltypes, t->types, t->nparams);
  for (uint32_t k = 0; k < t->nparams && g->objs; k++)
    g->lobj[k] = vt_obj(g->m, t->vts ? t->vts[k] : t->types[k]);
  uint32_t at = t->nparams;
  const uint8_t *p = code->locals, *end = code->body;
  for (uint32_t gi = 0; gi < code->nlocal_groups; gi++) {
    uint32_t cnt, vt;
    if (!rd_u32(&p, end, &cnt) || cis__read_valtype(&p, end, true, &vt) || cnt > n - at) BAD();
    uint8_t ty = cis__vt_kind(vt);
    if (tclass(ty) < 0) BAD();
    if (tclass(ty) == TC_V128) g->v128 = g->fn_v128 = true;
    memset(g->ltypes + at, ty, cnt);
    memset(g->lobj + at, g->objs && vt_obj(g->m, vt), cnt);
    at += cnt;
  }
  if (at != n) BAD();
  g->nlocals = (uint32_t)n;
  g->holds = memchr(g->lobj, 1, n) != NULL;
  return CIS_OK;
}

/* Whether module m's code may hold objects: it uses GC, or an externref
 * can reach it (a function type's, a global's or a table's: a module
 * without GC makes no non-null one itself). */
static bool module_objs(const cis__module *m) {
  if (m->uses_gc) return true;
  for (uint32_t i = 0; i < m->ntypes; i++)
    for (uint32_t k = 0; k < m->types[i].nparams + m->types[i].nresults; k++)
      if (cis__vt_is_ref(m->types[i].types[k]) && cis__kind_top(m->types[i].types[k]) == CIS__EXTERNREF)
        return true;
  for (uint32_t i = 0; i < m->nglobals; i++)
    if (cis__kind_top(m->globals[i].type.type) == CIS__EXTERNREF) return true;
  for (uint32_t i = 0; i < m->ntables; i++)
    if (m->tables[i].elem == CIS__EXTERNREF) return true;
  return false;
}

/* The slots of S_ (gen.shadow) once a first pass found the function
 * holds objects and may collect: its locals of any's or extern's
 * hierarchy, then every stack position that held a reference (one C
 * variable r<pos> for every reference type) and lies below the operands
 * of a point that may collect. The saved parameters of ifs follow
 * (gen_body). */
static cis_result plan_slots(gen *g) {
  g->nslot = 0;
  for (uint32_t k = 0; k < g->nlocals; k++) g->lslot[k] = g->lobj[k] ? ++g->nslot : 0;
  free(g->rslot);
  g->nrslot = g->used_cap;
  g->rslot = calloc(g->nrslot ? g->nrslot : 1, sizeof *g->rslot);
  if (!g->rslot) return CIS_ENOMEM;
  for (uint32_t pos = 0; pos < g->nrslot && pos < g->across; pos++)
    if (g->used[pos * TC_N + TC_REF]) g->rslot[pos] = ++g->nslot;
  return CIS_OK;
}

static void emit_function(gen *g, const cis__functype *t, const char *suffix);
static void emit_tramped(gen *g, const cis__functype *t);

/* A function's entry ticks (AOT_ENTER) unless every call it makes lies
 * inside one of its loops and it runs at most UNTICKED_OPS instructions
 * outside them. A loop's header ticks at each iteration, so a path from
 * such an entry meets a tick before any call or back edge, and runs at
 * most UNTICKED_OPS instructions before it does: recursion through it
 * passes the tick of a loop, and a caller that ticked runs each such
 * callee's few instructions at most once per instruction of its own. A
 * leaf (fib's leaves, an accessor) or a function whose recursion is in
 * its loop (clang's fib) then checks only the depth (and the native
 * stack, where it calls) at its entry. */
#define UNTICKED_OPS 64u

/* Reads what emit_function needs to know of the whole body before its
 * text: whether it has a try or try_table (its function links a handler)
 * and whether its entry ticks. Unreachable code counts, as if reached. */
static cis_result scan_body(gen *g, const cis__code *code) {
  g->has_try = false;
  g->entry_tick = false;
  const uint8_t *p = code->body, *end = code->body + code->body_len;
  uint32_t depth = 0;               /* blocks open inside the function's */
  uint32_t loop_at = UINT32_MAX;    /* depth of the outermost loop open */
  uint32_t outside = 0;             /* instructions outside every loop */
  while (p < end) {
    enum cis__op op;
    if (cis__op_read(&p, end, &op) != CIS__OPREAD_OK) BAD();
    bool in_loop = loop_at != UINT32_MAX;
    switch (op) {
      case CIS__OP_TRY:
      case CIS__OP_TRY_TABLE:
        g->has_try = true;
        depth++;
        break;
      case CIS__OP_BLOCK:
      case CIS__OP_IF:
        depth++;
        break;
      case CIS__OP_LOOP:
        if (!in_loop) loop_at = depth;
        depth++;
        break;
      case CIS__OP_END:
      case CIS__OP_DELEGATE:
        if (depth) depth--;
        if (depth == loop_at) loop_at = UINT32_MAX;
        break;
      case CIS__OP_CALL:
      case CIS__OP_RETURN_CALL:
      case CIS__OP_CALL_INDIRECT:
      case CIS__OP_RETURN_CALL_INDIRECT:
      case CIS__OP_CALL_REF:
      case CIS__OP_RETURN_CALL_REF:
        if (!in_loop) g->entry_tick = true;
        break;
      default:
        break;
    }
    if (!in_loop && ++outside > UNTICKED_OPS) g->entry_tick = true;
    if (!skip_imm(&p, end, cis__op_info(op)->imm)) BAD();
  }
  return CIS_OK;
}

/* Generates the current function's body and what goes with it, afresh. */
static cis_result gen_pass(gen *g, const cis__code *code, const cis__functype *t) {
  g->body.len = 0;
  g->decls.len = 0;
  if (g->body.p) g->body.p[0] = 0;
  if (g->decls.p) g->decls.p[0] = 0;
  if (g->used) memset(g->used, 0, (size_t)g->used_cap * TC_N);
  g->calls = g->tail_calls = false;
  g->ntry = g->xslots = g->ntramp = g->tramp_slots = g->ntail = g->across = 0;
  g->collects = false;
  g->land.len = g->tramp.len = g->tails.len = 0;
  if (g->land.p) g->land.p[0] = 0;
  if (g->tramp.p) g->tramp.p[0] = 0;
  if (g->tails.p) g->tails.p[0] = 0;
  return gen_body(g, code, t);
}

/* Generates the function with bounds of its locals that hold. A first
 * pass knows nothing of any local and notes what its stores may reach
 * (lseen); a local not a parameter holds zero or one of those values, so
 * the next pass assumes that bound (lmax) and notes again. When no store
 * exceeds what the pass assumed, the bounds hold by induction over the
 * function's run and the pass's text stands; a local whose store does
 * is assumed nothing of in the pass after (the ranges are monotone, so
 * that is a safeguard), and after RNG_PASSES passes no local is. */
static cis_result gen_ranges(gen *g, const cis__code *code, const cis__functype *t) {
  const cis__module *m = g->m;
  for (uint32_t k = 0; k < g->nlocals; k++) g->lmax[k] = RNG_ANY;
  TRY(gen_pass(g, code, t));
  if (!m->nmemories || m->memories[0].is64 || !m->memories[0].min || g->nlocals > RNG_LOCALS)
    return CIS_OK;
  bool again = false;
  for (uint32_t k = t->nparams; k < g->nlocals; k++) {
    int tc = tclass(g->ltypes[k]);
    if ((tc == TC_I32 || tc == TC_I64) && g->lseen[k] != RNG_ANY)
      g->lmax[k] = g->lseen[k], again = true;
  }
  for (uint32_t pass = 2; again; pass++) {
    TRY(gen_pass(g, code, t));
    again = false;
    for (uint32_t k = 0; k < g->nlocals; k++)
      if (g->lseen[k] > g->lmax[k]) g->lmax[k] = RNG_ANY, again = true;
    if (again && pass >= RNG_PASSES)
      for (uint32_t k = 0; k < g->nlocals; k++) g->lmax[k] = RNG_ANY;
  }
  return CIS_OK;
}

static cis_result gen_function(gen *g, uint32_t i) {
  const cis__module *m = g->m;
  uint32_t fi = m->nfunc_imports + i;
  const cis__functype *t = cis__module_func_type(m, fi);
  const cis__code *code = &m->codes[i];
  g->fi = fi;
  g->fn_v128 = false;
  g->shadow = false;
  TRY(locals_of(g, code, t));
  TRY(scan_body(g, code));
  TRY(gen_ranges(g, code, t));
  if (g->holds && g->collects) { /* again, with its references in S_ */
    TRY(plan_slots(g));
    g->shadow = true;
    TRY(gen_pass(g, code, t));
  }
  cis__aot_buf *o = g->out;
  if (g->ntramp) {
    emit_tramped(g, t);
    return g->body.oom || g->decls.oom || g->land.oom || g->tramp.oom ? CIS_ENOMEM : CIS_OK;
  }
  if (!g->fn_v128) {
    emit_function(g, t, "");
    return g->body.oom || g->decls.oom || g->land.oom ? CIS_ENOMEM : CIS_OK;
  }
  /* A function that uses v128 is written twice, for x86-64-v2 and for
   * the architecture's base, with AOT_V2 a constant in each (the byte
   * shuffles use it), and wN picks the one the CPU runs by the context's
   * cpu_v2, which the loader sets (aot_prelude_simd.h). Not an ifunc: its
   * relocation and libgcc's CPU-model constructor need the system's
   * dynamic loader, and cis loads only objects it maps itself. Elsewhere
   * the second alone is wN. */
  cis__aot_buf_printf(o, "#if AOT_SIMD_TWO\n#define AOT_V2 1\nAOT_V2_FN ");
  emit_function(g, t, "_v2");
  cis__aot_buf_printf(o, "#undef AOT_V2\n#else\n#define w%u_v1 w%u\n#endif\n#define AOT_V2 0\n", fi,
                      fi);
  emit_function(g, t, "_v1");
  cis__aot_buf_printf(o, "#undef AOT_V2\n#if AOT_SIMD_TWO\n");
  signature(o, g, fi, true, "", "");
  cis__aot_buf args = {0};
  for (uint32_t k = 0; k < t->nparams; k++) cis__aot_buf_printf(&args, ", L%u", k);
  const char *al = args.p ? args.p : "";
  if (t->nresults == 0)
    cis__aot_buf_printf(o, " {\n  if (c->cpu_v2) w%u_v2(c, dr_%s);\n  else w%u_v1(c, dr_%s);\n}\n",
                        fi, al, fi, al);
  else
    cis__aot_buf_printf(o, " {\n  return c->cpu_v2 ? w%u_v2(c, dr_%s) : w%u_v1(c, dr_%s);\n}\n",
                        fi, al, fi, al);
  cis__aot_buf_printf(o, "#endif\n\n");
  if (args.oom) o->oom = true;
  cis__aot_buf_free(&args);
  return g->body.oom || g->decls.oom || g->land.oom ? CIS_ENOMEM : CIS_OK;
}

/* Writes the definition of the current function, named wN<suffix>, from
 * its generated locals, declarations and body. */
/* A function whose C is this long, or that has this many locals, is
 * compiled at -O1: gcc's -O2 passes grow faster than the function (one of
 * 20,000 locals and 200,000 adds, 10 MB of C: about twice the CPU time
 * at -O2, the same memory; bench/NOTES.md), and such functions are
 * generated code or initialisers, rarely hot loops. */
#define BIG_FUNCTION_C (512u * 1024u)
#define BIG_FUNCTION_LOCALS 4096u

/* A function that calls no compiled code (it may call the runtime: an
 * import, memory.grow) and whose locals and stack positions are at most
 * LEAF_SLOTS skips the check of the native stack (AOT_ENTER_LEAF): its
 * frame, at most some 16 bytes a slot, stays within the margin the
 * runtime keeps below the stack's limit. */
#define LEAF_SLOTS 64u

static bool is_leaf(const gen *g) {
  if (g->calls || g->nlocals > LEAF_SLOTS) return false;
  uint32_t slots = g->nlocals;
  for (uint32_t pos = 0; pos < g->used_cap; pos++)
    for (int tc = 0; tc < TC_N; tc++) slots += g->used[pos * TC_N + tc];
  return slots <= LEAF_SLOTS;
}

static void emit_function(gen *g, const cis__functype *t, const char *suffix) {
  cis__aot_buf *o = g->out;
  uint32_t fi = g->fi;
  if (g->body.len > BIG_FUNCTION_C || g->nlocals > BIG_FUNCTION_LOCALS)
    cis__aot_buf_printf(o, g->tail_calls ? "__attribute__((optimize(\"O1\", \"optimize-sibling-calls\"))) "
                                          : "__attribute__((optimize(\"O1\"))) ");
  /* The base body is wN itself without AOT_SIMD_TWO (AOT_V1_SC); the
   * body of a wrapper (_b) takes its struct of tail calls. */
  char extra[40] = "";
  if (suffix[0] && suffix[1] == 'b') snprintf(extra, sizeof extra, ", struct TC%u *tc_", fi);
  /* A function with a try: its v128 variables are AOT_TV (var_ctype),
   * its v128 parameters copied into such. */
  signature_x(o, g, fi, true,
              !*suffix ? "" : suffix[1] == 'b' || suffix[2] == '2' ? "static " : "AOT_V1_SC ",
              suffix, extra, true);
  cis__aot_buf_printf(o, " {\n");
  for (uint32_t k = 0; k < t->nparams; k++)
    if (param_in(g, t, k) && tclass(t->types[k]) == TC_V128)
      cis__aot_buf_printf(o, "AOT_TV L%u = L%u_in;\n", k, k);
  for (uint32_t k = t->nparams; k < g->nlocals; k++)
    if (!g->shadow || !g->lslot[k])
      cis__aot_buf_printf(o, "%s L%u = %s;\n", var_ctype(g, tclass(g->ltypes[k])), k,
                          czero(g->ltypes[k]));
  for (uint32_t pos = 0; pos < g->used_cap; pos++)
    for (int tc = 0; tc < TC_N; tc++)
      if (g->used[pos * TC_N + tc] && !(tc == TC_REF && g->shadow && pos < g->nrslot && g->rslot[pos]))
        cis__aot_buf_printf(o, "%s %c%u = %s;\n", var_ctype(g, tc), VARC[tc], pos, ZERO[tc]);
  if (g->decls.len) buf_append(o, g->decls.p, g->decls.len);
  /* Memory 0's base never moves: a local the compiler keeps in a
   * register (wasm stores go through a char pointer, which would make it
   * reload a field of c after each). Its size is read again after calls
   * and memory.grow (AOT_RELOAD). */
  cis__aot_buf_printf(o, "uint8_t *const M = c->mem;\nuint64_t MS = aot_ms(c);\n");
  cis__aot_buf_printf(o, "AOT_FN_STATE\n");
  /* Its references' frame, linked before anything may collect, in a
   * block that the tail calls leave (shadow_tail). */
  if (g->shadow) {
    /* A big frame is cleared by a loop of stores gcc keeps (volatile): an
     * initialiser of it becomes a call of memset, which the object may
     * not import (cache.c loads no object that needs the dynamic loader). */
    if (g->nslot <= 8)
      cis__aot_buf_printf(o, "{\nstruct { cis_aot_roots h; void *s[%u]; } S_ = {{*c->roots, %u}, {0}};\n",
                          g->nslot, g->nslot);
    else
      cis__aot_buf_printf(o,
                          "{\nstruct { cis_aot_roots h; void *s[%u]; } S_;\nS_.h.prev = *c->roots;\nS_.h.n = %u;\n"
                          "for (uint32_t i_ = 0; i_ < %uu; i_++) ((void *volatile *)S_.s)[i_] = 0;\n",
                          g->nslot, g->nslot, g->nslot);
    cis__aot_buf_printf(o, "*c->roots = &S_.h;\n");
    for (uint32_t k = 0; k < t->nparams; k++)
      if (g->lslot[k]) cis__aot_buf_printf(o, "S_.s[%u] = L%u_in;\n", g->lslot[k] - 1, k);
  }
  cis__aot_buf_printf(o, "AOT_ENTER%s%s(c, %u);\n", is_leaf(g) ? "_LEAF" : "",
                      g->entry_tick ? "" : "_UNTICKED", fi);
  /* A function with a try: its handler, linked until it returns; a throw
   * lands at X_land (gcc keeps in memory what lives across the calls
   * that may jump there: only these functions pay for it). */
  /* A throw skips the unlinking of the callees' frames of references:
   * the landing links this function's (or what it was called with; a
   * function that calls nothing has no callee to skip). */
  const char *roots = g->shadow ? "&S_.h" : "R0_";
  if (g->has_try && g->objs && g->collects && !g->shadow) cis__aot_buf_printf(o, "cis_aot_roots *const R0_ = *c->roots;\n");
  if (g->has_try)
    cis__aot_buf_printf(o, "cis_aot_hnd H_;\nvoid *xe_;\nuint32_t xk_;\nuint64_t xs_[%u];\n"
                           "H_.prev = c->hnd;\nH_.cur = 0;\nc->hnd = &H_;\n"
                           "if (AOT_UNLIKELY(__builtin_setjmp(H_.jb))) goto X_land;\nX_top:;\n",
                        g->xslots ? g->xslots : 1);
  if (g->body.len) buf_append(o, g->body.p, g->body.len);
  if (g->has_try) {
    /* The catch clauses of the try the function was in, then of the tries
     * it goes to (try_next); none: on to the caller's handler. */
    cis__aot_buf_printf(o, "X_land:;\n");
    if (g->objs && g->collects) cis__aot_buf_printf(o, "*c->roots = %s;\n", roots);
    cis__aot_buf_printf(o, "AOT_SYNC_IN(c);\nAOT_RELOAD();\nxe_ = H_.exn;\n"
                           "xk_ = H_.cur;\nX_next:;\n");
    if (g->land.len) buf_append(o, g->land.p, g->land.len);
    cis__aot_buf_printf(o, "switch (xk_) {\n");
    for (uint32_t k = 1; k <= g->ntry; k++)
      cis__aot_buf_printf(o, "case %u: xk_ = %u; goto X_next;\n", k, g->try_next[k]);
    cis__aot_buf_printf(o, "default: break;\n}\nc->hnd = H_.prev;\nc->api->throw_ref(c, xe_, %u);\n"
                           "__builtin_unreachable();\n", fi);
  }
  if (g->ntramp) {
    /* A tail call for the wrapper to make (tramp_call): the result is
     * not read. */
    cis__aot_buf_printf(o, "X_tail:;\nc->hnd = H_.prev;\n%sAOT_LEAVE(c);\n",
                        g->shadow ? "*c->roots = S_.h.prev;\n" : "");
    if (t->nresults == 0) cis__aot_buf_printf(o, "return;\n");
    else if (t->nresults == 1)
      cis__aot_buf_printf(o, "{\n%s z_;\nmemset(&z_, 0, sizeof z_);\nreturn z_;\n}\n",
                          ctype(t->types[t->nparams]));
    else
      cis__aot_buf_printf(o, "{\nstruct R%u z_;\nmemset(&z_, 0, sizeof z_);\nreturn z_;\n}\n",
                          g->rs[g->m->func_type[fi]]);
  }
  if (g->shadow) {
    cis__aot_buf_printf(o, "}\n");
    if (g->tails.len) buf_append(o, g->tails.p, g->tails.len);
  }
  cis__aot_buf_printf(o, "}\n\n");
}

/* A function with a try that makes tail calls: its body wN_b, then wN,
 * which calls it and makes the tail call the body left in tc_
 * (tramp_call), from a frame without a handler. A function that uses
 * v128 has two bodies (gen_function), wN_b_v2 and wN_b, and wN picks
 * one as the SIMD wrapper does, then makes the tail call. */
static void emit_tramped(gen *g, const cis__functype *t) {
  cis__aot_buf *o = g->out;
  uint32_t fi = g->fi;
  cis__aot_buf_printf(o, "struct TC%u { uint32_t site; void *fn; uint64_t a[%u]; };\n", fi,
                      g->tramp_slots ? g->tramp_slots : 1);
  if (g->fn_v128) {
    cis__aot_buf_printf(o, "#if AOT_SIMD_TWO\n#define AOT_V2 1\nAOT_V2_FN ");
    emit_function(g, t, "_b_v2");
    cis__aot_buf_printf(o, "#undef AOT_V2\n#endif\n#define AOT_V2 0\n");
  }
  emit_function(g, t, "_b");
  if (g->fn_v128) cis__aot_buf_printf(o, "#undef AOT_V2\n");
  signature(o, g, fi, true, "", "");
  cis__aot_buf args = {0};
  for (uint32_t k = 0; k < t->nparams; k++) cis__aot_buf_printf(&args, ", L%u", k);
  const char *al = args.p ? args.p : "";
  cis__aot_buf_printf(o, " {\nstruct TC%u tc_;\ntc_.site = 0;\n", fi);
  if (t->nresults == 1) cis__aot_buf_printf(o, "%s r_ = ", ctype(t->types[t->nparams]));
  else if (t->nresults > 1) cis__aot_buf_printf(o, "struct R%u r_ = ", g->rs[g->m->func_type[fi]]);
  if (g->fn_v128)
    cis__aot_buf_printf(o, "\n#if AOT_SIMD_TWO\nc->cpu_v2 ? w%u_b_v2(c, dr_%s, &tc_) :\n#endif\n", fi,
                        al);
  cis__aot_buf_printf(o, "w%u_b(c, dr_%s, &tc_);\nswitch (tc_.site) {\n", fi, al);
  if (args.oom) o->oom = true;
  cis__aot_buf_free(&args);
  if (g->tramp.len) buf_append(o, g->tramp.p, g->tramp.len);
  cis__aot_buf_printf(o, "default: break;\n}\n%s}\n\n", t->nresults ? "return r_;\n" : "");
}

/* The slot entry of defined function i. */
static void gen_entry(cis__aot_buf *o, const gen *g, uint32_t i) {
  const cis__module *m = g->m;
  uint32_t fi = m->nfunc_imports + i;
  const cis__functype *t = cis__module_func_type(m, fi);
  cis__aot_buf_printf(o, "static void e%u(cis_aot_ctx *c, uint64_t *ar) {\nAOT_ENTRY_IN(c);\n", fi);
  cis__aot_buf args = {0};
  for (uint32_t k = 0, s = 0; k < t->nparams; k++) {
    char x[64];
    slot_in(x, sizeof x, t->types[k], "ar", s);
    s += nslots(t->types[k]);
    cis__aot_buf_printf(&args, ", %s", x);
  }
  const char *al = args.p ? args.p : "";
  if (t->nresults == 0) {
    cis__aot_buf_printf(o, "w%u(c, AOT_DR0(c)%s);\n", fi, al);
  } else if (t->nresults == 1) {
    cis__aot_buf_printf(o, "%s r_ = w%u(c, AOT_DR0(c)%s);\n", ctype(t->types[t->nparams]), fi, al);
    slot_out(o, t->types[t->nparams], "ar", 0, "r_");
  } else {
    cis__aot_buf_printf(o, "struct R%u r_ = w%u(c, AOT_DR0(c)%s);\n", g->rs[m->func_type[fi]], fi,
                        al);
    for (uint32_t k = 0, s = 0; k < t->nresults; k++) {
      char f[16];
      snprintf(f, sizeof f, "r_.r%u", k);
      slot_out(o, t->types[t->nparams + k], "ar", s, f);
      s += nslots(t->types[t->nparams + k]);
    }
  }
  cis__aot_buf_printf(o, "AOT_ENTRY_OUT(c);\n}\n");
  if (args.oom) o->oom = true;
  cis__aot_buf_free(&args);
}

/* Assigns each defined function of m to a unit (unit_of) and returns
 * the number of units: consecutive functions (a module's callees tend to
 * sit near their callers, and a call within a unit stays one gcc may
 * inline), about unit_bytes of wasm code each, by the middle of each
 * body, so that the units are balanced and none is empty. A module of
 * less than one and a half units' code (or unit_bytes 0) is one unit,
 * compiled as before units existed. wasm_bytes gets each unit's code
 * size. */
static uint32_t plan_units(const cis__module *m, uint64_t unit_bytes, uint32_t *unit_of,
                           uint64_t *wasm_bytes) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < m->ncodes; i++) total += m->codes[i].body_len;
  uint64_t n = unit_bytes && total ? (total + unit_bytes / 2) / unit_bytes : 1;
  if (n > CIS__AOT_UNITS_MAX) n = CIS__AOT_UNITS_MAX;
  if (n > m->ncodes) n = m->ncodes;
  if (n < 1) n = 1;
  uint64_t at = 0;
  uint32_t last = UINT32_MAX, units = 0;
  for (uint32_t i = 0; i < m->ncodes; i++) {
    uint64_t len = m->codes[i].body_len;
    uint32_t u = total ? (uint32_t)((at + len / 2) * n / total) : 0;
    if (u != last) units++, last = u; /* renumbered densely: a big body leaves no unit empty */
    unit_of[i] = units - 1;
    wasm_bytes[units - 1] += len;
    at += len;
  }
  return units ? units : 1;
}

/* The slot entries of unit u's functions, and its part of the describe
 * function: their entries and direct addresses. */
static void gen_unit_tables(cis__aot_buf *o, const gen *g, const uint32_t *unit_of,
                            uint32_t u, bool alone) {
  const cis__module *m = g->m;
  for (uint32_t i = 0; i < m->ncodes; i++)
    if (unit_of[i] == u) gen_entry(o, g, i);
  cis__aot_buf_printf(o, "%svoid aot_du%u(void (**en)(cis_aot_ctx *, uint64_t *), void **fp) {\n",
                      alone ? "static " : "", u);
  for (uint32_t i = 0; i < m->ncodes; i++)
    if (unit_of[i] == u)
      cis__aot_buf_printf(o, "  en[%u] = e%u;\n  fp[%u] = (void *)w%u;\n", i, m->nfunc_imports + i,
                          i, m->nfunc_imports + i);
  cis__aot_buf_printf(o, "}\n");
}

/* What every unit starts with: the generator's defines, the prelude, the
 * module's types. */
static void gen_head(gen *g, cis__aot_buf *o) {
  const cis__module *m = g->m;
  cis__aot_buf_printf(o, "/* Generated by cis (codegen %d) from a module of %zu bytes. */\n",
                      CIS__AOT_CODEGEN_VERSION, m->nbytes);
  static const struct { const char *name; int code; } traps[] = {
      {"UNREACHABLE", CIS_TRAP_UNREACHABLE}, {"DIV_ZERO", CIS_TRAP_DIV_ZERO},
      {"INT_OVERFLOW", CIS_TRAP_INT_OVERFLOW}, {"CONVERSION", CIS_TRAP_CONVERSION},
      {"MEM_OOB", CIS_TRAP_MEM_OOB}, {"TABLE_OOB", CIS_TRAP_TABLE_OOB},
      {"SIG_MISMATCH", CIS_TRAP_SIG_MISMATCH}, {"UNDEF_ELEM", CIS_TRAP_UNDEF_ELEM},
      {"UNINIT_ELEM", CIS_TRAP_UNINIT_ELEM}, {"STACK", CIS_TRAP_STACK},
      {"NULL_FUNC", CIS_TRAP_NULL_FUNC}, {"NULL_REF", CIS_TRAP_NULL_REF},
      {"NULL_I31", CIS_TRAP_NULL_I31}, {"NULL_STRUCT", CIS_TRAP_NULL_STRUCT},
      {"NULL_ARRAY", CIS_TRAP_NULL_ARRAY}, {"ARRAY_OOB", CIS_TRAP_ARRAY_OOB},
  };
  for (size_t i = 0; i < CIS_ARRAY_LEN(traps); i++)
    cis__aot_buf_printf(o, "#define AOT_T_%s (%d)\n", traps[i].name, traps[i].code);
  cis__aot_buf_printf(o,
                      "#define AOT_OFF_GVAL %zu\n#define AOT_OFF_TSIZE %zu\n"
                      "#define AOT_OFF_TELEMS %zu\n#define AOT_OFF_FKIND %zu\n"
                      "#define AOT_OFF_FTYPE %zu\n#define AOT_OFF_FINST %zu\n"
                      "#define AOT_OFF_FINDEX %zu\n#define AOT_MS_MIN %lluull\n",
                      offsetof(cis_global, val), offsetof(cis_table, size),
                      offsetof(cis_table, elems), offsetof(cis_func, kind),
                      offsetof(cis_func, type_id), offsetof(cis_func, inst),
                      offsetof(cis_func, index),
                      m->nmemories && !m->memories[0].is64
                          ? (unsigned long long)(m->memories[0].min * CIS__PAGE_SIZE)
                          : 0ull);
  cis__aot_buf_printf(o,
                      "#define AOT_OFF_OLAY %zu\n#define AOT_OFF_OLEN %zu\n#define AOT_OFF_ODATA %zu\n"
                      "#define AOT_OFF_LSIZE %zu\n#define AOT_OFF_LFIELDS %zu\n#define AOT_SZ_LFIELD %zu\n"
                      "#define AOT_OFF_FOFF %zu\n",
                      offsetof(cis__gcobj, lay), offsetof(cis__gcobj, len), offsetof(cis__gcobj, data),
                      offsetof(cis__gclayout, size), offsetof(cis__gclayout, fields),
                      sizeof(struct cis__gcfield), offsetof(struct cis__gcfield, off));
  size_t plen = strlen(cis__aot_prelude_text);
  size_t mem_at = cis__aot_prelude_mem_at, simd_at = cis__aot_prelude_simd_at;
  if (simd_at > plen) simd_at = plen;
  if (mem_at > simd_at) mem_at = simd_at;
  buf_append(o, cis__aot_prelude_text, mem_at);
  if (mem_part(m)) {
    cis__aot_buf_printf(o, "#define AOT_OFF_MBASE %zu\n#define AOT_OFF_MSIZE %zu\n",
                        offsetof(cis_memory, base), offsetof(cis_memory, size));
    buf_append(o, cis__aot_prelude_text + mem_at, simd_at - mem_at);
  }
  if (g->v128) buf_append(o, cis__aot_prelude_text + simd_at, plen - simd_at);
  /* Result structs, one per shape of results (result_shapes), and
   * function pointer types, one per function type. */
  for (uint32_t i = 0; i < m->ntypes; i++) {
    const cis__functype *t = &m->types[i];
    if (!cis__is_functype(t)) continue;
    if (t->nresults > 1 && g->rs[i] == i) {
      cis__aot_buf_printf(o, "struct R%u {", i);
      for (uint32_t k = 0; k < t->nresults; k++)
        cis__aot_buf_printf(o, " %s r%u;", ctype(t->types[t->nparams + k]), k);
      cis__aot_buf_printf(o, " };\n");
    }
    if (t->nresults == 0) cis__aot_buf_printf(o, "typedef void ");
    else if (t->nresults == 1) cis__aot_buf_printf(o, "typedef %s ", ctype(t->types[t->nparams]));
    else cis__aot_buf_printf(o, "typedef struct R%u ", g->rs[i]);
    cis__aot_buf_printf(o, "(*FT%u)(cis_aot_ctx *, int64_t", i);
    for (uint32_t k = 0; k < t->nparams; k++)
      cis__aot_buf_printf(o, ", %s", ctype(t->types[k]));
    cis__aot_buf_printf(o, ");\n");
  }
  /* The body of wN_v1 is wN itself when only the base is written. */
  if (g->v128)
    cis__aot_buf_printf(o, "#if AOT_SIMD_TWO\n#define AOT_V1_SC static\n#else\n#define AOT_V1_SC\n"
                           "#endif\n");
}

/* Writes the describe function (aot_rt.h), the object's one exported
 * function and its entry point: the addresses are taken in code,
 * PC-relative, so the object carries no pointer for a loader to
 * relocate. */
static void gen_describe(cis__aot_buf *o, const cis__module *m, const char *key, uint32_t n) {
  cis__aot_buf_printf(o,
                      "__attribute__((visibility(\"default\"))) uint32_t cis_aot_describe("
                      "cis_aot_object *o, void (**en)(cis_aot_ctx *, uint64_t *), void **fp, "
                      "uint32_t cap) {\n  o->abi = CIS_AOT_ABI;\n  o->nfuncs = %uu;\n"
                      "  o->key = \"%s\";\n  if (cap < %uu) return %uu;\n",
                      m->ncodes, key, m->ncodes, m->ncodes);
  for (uint32_t u = 0; u < n; u++) cis__aot_buf_printf(o, "  aot_du%u(en, fp);\n", u);
  cis__aot_buf_printf(o, "  return %uu;\n}\n", m->ncodes);
}

void cis__aot_units_free(cis__aot_units *u) {
  cis__aot_buf_free(&u->head);
  for (uint32_t k = 0; u->unit && k < u->n; k++) cis__aot_buf_free(&u->unit[k]);
  free(u->unit);
  free(u->wasm_bytes);
  memset(u, 0, sizeof *u);
}

static void gen_free(gen *g) {
  cis__aot_buf_free(&g->land);
  cis__aot_buf_free(&g->tramp);
  free(g->try_next);
  free(g->ltypes);
  free(g->lgen);
  free(g->lobj);
  free(g->lslot);
  free(g->lmax);
  free(g->lseen);
  free(g->rslot);
  cis__aot_buf_free(&g->tails);
  free(g->zloc);
  free(g->oloc);
  free(g->stk);
  free(g->used);
  free(g->ctls);
  free(g->shared);
  free(g->rs);
  cis__aot_buf_free(&g->body);
  cis__aot_buf_free(&g->decls);
}

cis_result cis__aot_codegen_units(const cis__module *m, const char *key, uint64_t unit_bytes,
                                  cis__aot_units *out, char *msg, size_t cap) {
  memset(out, 0, sizeof *out);
  gen g;
  memset(&g, 0, sizeof g);
  g.m = m;
  g.msg = msg;
  g.cap = cap;
  cis_result rc = check_types(&g);
  if (rc != CIS_OK) return rc;
  g.objs = module_objs(m);
  if (m->ncodes != m->nfuncs - m->nfunc_imports)
    return fail(&g, CIS_EINVALID, "the function and code counts differ");
  size_t nc = m->ncodes ? m->ncodes : 1;
  uint32_t *unit_of = calloc(nc, sizeof *unit_of);
  g.shared = calloc(nc, 1);
  out->wasm_bytes = calloc(nc, sizeof *out->wasm_bytes);
  uint32_t n = unit_of && out->wasm_bytes ? plan_units(m, unit_bytes, unit_of, out->wasm_bytes) : 1;
  out->unit = calloc(n, sizeof *out->unit);
  g.rs = malloc((m->ntypes ? m->ntypes : 1) * sizeof *g.rs);
  uint32_t *shapes = malloc(shape_cap(m) * sizeof *shapes);
  if (!unit_of || !g.shared || !out->wasm_bytes || !out->unit || !g.rs || !shapes) {
    rc = fail(&g, CIS_ENOMEM, "out of memory generating C");
  } else {
    out->n = n;
    result_shapes(&g, shapes);
  }
  free(shapes);
  g.unit_of = unit_of;
  /* The functions first, into their units: whether the C needs the SIMD
   * prelude, and which functions another unit calls, are known only once
   * every body was read. */
  for (uint32_t i = 0; i < m->ncodes && rc == CIS_OK; i++) {
    g.unit = unit_of[i];
    g.out = &out->unit[g.unit];
    rc = gen_function(&g, i);
  }
  cis__aot_buf *o = &out->head;
  if (rc == CIS_OK) gen_head(&g, o);
  /* A function another unit calls is declared once for all, hidden
   * (resolved when the units are linked, never by a loader: the object
   * exports only cis_aot_describe); the others each in its own unit,
   * static, so gcc knows every caller of them as with one unit. */
  for (uint32_t i = 0; i < m->ncodes && rc == CIS_OK && n > 1; i++)
    if (g.shared[i]) {
      signature(o, &g, m->nfunc_imports + i, false, "__attribute__((visibility(\"hidden\"))) ", "");
      cis__aot_buf_printf(o, ";\n");
    }
  for (uint32_t u = 0; u < n && rc == CIS_OK && n > 1; u++)
    cis__aot_buf_printf(o, "__attribute__((visibility(\"hidden\"))) void aot_du%u(void (**)("
                           "cis_aot_ctx *, uint64_t *), void **);\n", u);
  for (uint32_t u = 0; u < n && rc == CIS_OK; u++) {
    cis__aot_buf fns = out->unit[u];
    out->unit[u] = (cis__aot_buf){0};
    o = &out->unit[u];
    for (uint32_t i = 0; i < m->ncodes; i++)
      if (unit_of[i] == u && !(n > 1 && g.shared[i])) {
        signature(o, &g, m->nfunc_imports + i, false, "static ", "");
        cis__aot_buf_printf(o, ";\n");
      }
    if (fns.len) buf_append(o, fns.p, fns.len);
    if (fns.oom) o->oom = true;
    cis__aot_buf_free(&fns);
    gen_unit_tables(o, &g, unit_of, u, n == 1);
    if (u == 0) gen_describe(o, m, key, n);
    if (o->oom) out->head.oom = true;
  }
  free(unit_of);
  gen_free(&g);
  if (rc == CIS_OK && out->head.oom) rc = fail(&g, CIS_ENOMEM, "out of memory generating C");
  if (rc != CIS_OK) cis__aot_units_free(out);
  return rc;
}

cis_result cis__aot_codegen(const cis__module *m, const char *key, cis__aot_buf *out, char *msg,
                            size_t cap) {
  cis__aot_units u;
  cis_result rc = cis__aot_codegen_units(m, key, 0, &u, msg, cap);
  if (rc != CIS_OK) return rc;
  buf_append(out, u.head.p, u.head.len);
  buf_append(out, u.unit[0].p, u.unit[0].len);
  cis__aot_units_free(&u);
  if (out->oom) snprintf(msg, cap, "out of memory generating C");
  return out->oom ? CIS_ENOMEM : CIS_OK;
}
