/*
 * This file implements the WebAssembly 2.0 validator: module-level checks
 * (indices, limits, exports, start, segments, constant expressions, the
 * declared function references C.refs) and the typing of every function
 * body with the spec's algorithm: an operand stack of value types and a
 * control stack of frames, stack-polymorphic after unreachable, br,
 * br_table and return. Both stacks live on the heap, so hostile nesting
 * cannot exhaust the host stack. Errors start with the spec's wording.
 * Every instruction whose row in opcodes.def has a fixed signature (all
 * numeric, memory and SIMD ones) is typed from that row and its immediates
 * checked by their kind; only the "*" rows are typed by hand below.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm/module.h"
#include "wasm/opcodes.h"

#define UNK 0 /* the bottom type of unreachable code */

typedef struct frame {
  uint16_t op;             /* CIS__OP_BLOCK (also the function's), _LOOP, _IF or _ELSE */
  uint32_t height;         /* operand stack height at entry */
  bool unreachable;        /* rest of the frame is stack-polymorphic */
  const uint8_t *params;   /* block parameter types */
  uint32_t np;
  const uint8_t *results;  /* block result types */
  uint32_t nr;
} frame;

typedef struct vx {
  const cis__module *m;
  cis__diag *d;
  const uint8_t *base;     /* module bytes, for offsets */
  const uint8_t *p, *end;  /* reader over the body */
  const uint8_t *at;       /* start of the current instruction */
  uint8_t *vals;           /* operand stack */
  size_t nvals, capv;
  frame *ctrls;            /* control stack */
  size_t nctrl, capc;
  uint8_t *locals;         /* params then declared locals; reused across bodies */
  uint32_t nlocals;
  size_t capl;             /* allocated bytes of locals */
} vx;

static bool verr(vx *v, cis_result code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool verr(vx *v, cis_result code, const char *fmt, ...) {
  if (v->d->code == CIS_OK) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    v->d->code = code;
    v->d->offset = v->at ? (size_t)(v->at - v->base) : 0;
    snprintf(v->d->msg, sizeof v->d->msg, "%s (at 0x%zx)", msg, v->d->offset);
  }
  return false;
}

static bool mismatch(vx *v) { return verr(v, CIS_ETYPE, "type mismatch"); }

static bool push(vx *v, uint8_t t) {
  if (v->nvals == v->capv) {
    size_t n = v->capv ? v->capv * 2 : 64;
    uint8_t *p = realloc(v->vals, n);
    if (!p) return verr(v, CIS_ENOMEM, "out of memory");
    v->vals = p;
    v->capv = n;
  }
  v->vals[v->nvals++] = t;
  return true;
}

static bool pop(vx *v, uint8_t *t) {
  *t = UNK;
  frame *f = &v->ctrls[v->nctrl - 1];
  if (v->nvals == f->height) {
    if (f->unreachable) {
      *t = UNK;
      return true;
    }
    return mismatch(v);
  }
  *t = v->vals[--v->nvals];
  return true;
}

static bool pop_expect(vx *v, uint8_t want) {
  uint8_t t;
  if (!pop(v, &t)) return false;
  if (t != want && t != UNK && want != UNK) return mismatch(v);
  return true;
}

static bool pop_types(vx *v, const uint8_t *ts, uint32_t n) {
  for (uint32_t i = n; i-- > 0;)
    if (!pop_expect(v, ts[i])) return false;
  return true;
}

static bool push_types(vx *v, const uint8_t *ts, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (!push(v, ts[i])) return false;
  return true;
}

static bool push_ctrl(vx *v, enum cis__op op, const uint8_t *params, uint32_t np, const uint8_t *results, uint32_t nr) {
  if (v->nctrl == v->capc) {
    size_t n = v->capc ? v->capc * 2 : 16;
    frame *p = realloc(v->ctrls, n * sizeof *p);
    if (!p) return verr(v, CIS_ENOMEM, "out of memory");
    v->ctrls = p;
    v->capc = n;
  }
  v->ctrls[v->nctrl++] = (frame){(uint16_t)op, (uint32_t)v->nvals, false, params, np, results, nr};
  return push_types(v, params, np);
}

static bool pop_ctrl(vx *v, frame *out) {
  frame *f = &v->ctrls[v->nctrl - 1];
  if (!pop_types(v, f->results, f->nr)) return false;
  if (v->nvals != f->height) return mismatch(v);
  *out = *f;
  v->nctrl--;
  return true;
}

static void set_unreachable(vx *v) {
  frame *f = &v->ctrls[v->nctrl - 1];
  v->nvals = f->height;
  f->unreachable = true;
}

static void label_types(const frame *f, const uint8_t **ts, uint32_t *n) {
  if (f->op == CIS__OP_LOOP) {
    *ts = f->params;
    *n = f->np;
  } else {
    *ts = f->results;
    *n = f->nr;
  }
}

/* Number or vector: what select without a type vector may choose between. */
static bool is_numvec(uint8_t t) {
  return t == CIS__I32 || t == CIS__I64 || t == CIS__F32 || t == CIS__F64 || t == CIS__V128;
}
static bool is_ref(uint8_t t) { return t == CIS__FUNCREF || t == CIS__EXTERNREF; }

/* Readers over a validated (decoded) body: the decoder already checked
 * every encoding, so these cannot fail on a module it accepted. */
static uint32_t rd_u32(vx *v) {
  uint32_t x = 0;
  cis__read_u32(&v->p, v->end, &x);
  return x;
}

static bool check_memory(vx *v, uint32_t x) {
  if (x >= v->m->nmemories) return verr(v, CIS_EINVALID, "unknown memory %u", x);
  return true;
}

/* A memarg whose alignment may not exceed 2^natural. */
static bool memarg(vx *v, unsigned natural) {
  cis__memarg ma;
  cis__read_memarg(&v->p, v->end, &ma);
  if (!check_memory(v, ma.mem)) return false;
  if (ma.align > natural) return verr(v, CIS_EINVALID, "alignment must not be larger than natural");
  return true;
}

/* A lane index byte, below lanes. */
static bool lane(vx *v, unsigned lanes) {
  uint8_t l = *v->p++;
  if (l >= lanes) return verr(v, CIS_EINVALID, "invalid lane index");
  return true;
}

static bool check_table(vx *v, uint32_t x) {
  if (x >= v->m->ntables) return verr(v, CIS_EINVALID, "unknown table %u", x);
  return true;
}

static bool check_elem(vx *v, uint32_t x) {
  if (x >= v->m->nelems) return verr(v, CIS_EINVALID, "unknown elem segment %u", x);
  return true;
}

static bool data_idx(vx *v, uint32_t x) {
  uint32_t n = v->m->has_datacount ? v->m->datacount : v->m->ndatas;
  if (x >= n) return verr(v, CIS_EINVALID, "unknown data segment %u", x);
  return true;
}

static bool block_type(vx *v, cis__blocktype *bt) {
  int64_t t = 0;
  cis__read_s33(&v->p, v->end, &t);
  if (!cis__blocktype_get(v->m, t, bt)) return verr(v, CIS_EINVALID, "unknown type");
  return true;
}

/* Reads and checks the immediates of an instruction with a fixed type (a
 * SIG row), by their kind: indices against the module, alignment, lanes. */
static bool fixed_immediates(vx *v, const cis__opinfo *oi) {
  const cis__module *m = v->m;
  uint32_t x, y;
  switch ((enum cis__imm)oi->imm) {
  case CIS__IMM_NONE: return true;
  case CIS__IMM_MEMARG: return memarg(v, oi->arg);
  case CIS__IMM_MEMARG_LANE: return memarg(v, oi->arg) && lane(v, 16u >> oi->arg);
  case CIS__IMM_LANE: return lane(v, oi->arg);
  case CIS__IMM_SHUFFLE:
    for (int i = 0; i < 16; i++)
      if (!lane(v, 32)) return false;
    return true;
  case CIS__IMM_MEMIDX: return check_memory(v, rd_u32(v));
  case CIS__IMM_MEMORY_COPY:
    x = rd_u32(v);
    y = rd_u32(v);
    return check_memory(v, x) && check_memory(v, y);
  case CIS__IMM_I32: { int32_t c; cis__read_s32(&v->p, v->end, &c); return true; }
  case CIS__IMM_I64: { int64_t c; cis__read_s64(&v->p, v->end, &c); return true; }
  case CIS__IMM_F32: v->p += 4; return true;
  case CIS__IMM_F64: v->p += 8; return true;
  case CIS__IMM_V128: v->p += 16; return true;
  case CIS__IMM_MEMORY_INIT:
    x = rd_u32(v);
    y = rd_u32(v);
    return check_memory(v, y) && data_idx(v, x);
  case CIS__IMM_DATA: return data_idx(v, rd_u32(v));
  case CIS__IMM_ELEM: return check_elem(v, rd_u32(v));
  case CIS__IMM_TABLE: return check_table(v, rd_u32(v));
  case CIS__IMM_TABLE_INIT:
    x = rd_u32(v);
    y = rd_u32(v);
    if (!check_table(v, y) || !check_elem(v, x)) return false;
    if (m->elems[x].type != m->tables[y].elem) return mismatch(v);
    return true;
  case CIS__IMM_TABLE_COPY:
    x = rd_u32(v);
    y = rd_u32(v);
    if (!check_table(v, x) || !check_table(v, y)) return false;
    if (m->tables[x].elem != m->tables[y].elem) return mismatch(v);
    return true;
  default: break;
  }
  /* A SIG row with a kind that needs typing by hand: a table error. */
  return verr(v, CIS_EINVALID, "%s: no generic typing", oi->name);
}

/* Pops the operands and pushes the results a SIG ("ii:i") names. */
static bool typed(vx *v, const char *sig) {
  const char *colon = strchr(sig, ':');
  for (const char *c = colon; c-- > sig;)
    if (!pop_expect(v, cis__sig_valtype(*c))) return false;
  for (const char *c = colon + 1; *c; c++)
    if (!push(v, cis__sig_valtype(*c))) return false;
  return true;
}

/* Types the instructions whose row says "*": control, calls, variables,
 * references, parametric, and tables typed by their element type. */
static bool by_hand(vx *v, enum cis__op op, bool *done) {
  const cis__module *m = v->m;
  uint32_t x, y;
  uint8_t t1, t2;
  frame f;
  switch (op) {
  case CIS__OP_UNREACHABLE: set_unreachable(v); return true;
  case CIS__OP_BLOCK: case CIS__OP_LOOP: case CIS__OP_IF: {
    cis__blocktype bt;
    if (!block_type(v, &bt)) return false;
    if (op == CIS__OP_IF && !pop_expect(v, CIS__I32)) return false;
    if (!pop_types(v, bt.params, bt.nparams)) return false;
    return push_ctrl(v, op, bt.params, bt.nparams, bt.results, bt.nresults);
  }
  case CIS__OP_ELSE:
    if (v->ctrls[v->nctrl - 1].op != CIS__OP_IF) return verr(v, CIS_EINVALID, "else without if");
    if (!pop_ctrl(v, &f)) return false;
    return push_ctrl(v, CIS__OP_ELSE, f.params, f.np, f.results, f.nr);
  case CIS__OP_END:
    if (!pop_ctrl(v, &f)) return false;
    /* An if without else passes its parameters through as results. */
    if (f.op == CIS__OP_IF && (f.np != f.nr || (f.np && memcmp(f.params, f.results, f.np) != 0)))
      return mismatch(v);
    if (v->nctrl == 0) {
      *done = true;
      return true;
    }
    return push_types(v, f.results, f.nr);
  case CIS__OP_BR: case CIS__OP_BR_IF: {
    x = rd_u32(v);
    if (x >= v->nctrl) return verr(v, CIS_EINVALID, "unknown label");
    const uint8_t *ts;
    uint32_t n;
    label_types(&v->ctrls[v->nctrl - 1 - x], &ts, &n);
    if (op == CIS__OP_BR_IF && !pop_expect(v, CIS__I32)) return false;
    if (!pop_types(v, ts, n)) return false;
    if (op == CIS__OP_BR) set_unreachable(v);
    else return push_types(v, ts, n);
    return true;
  }
  case CIS__OP_BR_TABLE: {
    uint32_t n = rd_u32(v);
    const uint8_t *labels = v->p;
    for (uint32_t i = 0; i < n; i++) rd_u32(v);
    uint32_t def = rd_u32(v);
    if (!pop_expect(v, CIS__I32)) return false;
    if (def >= v->nctrl) return verr(v, CIS_EINVALID, "unknown label");
    const uint8_t *dts;
    uint32_t arity;
    label_types(&v->ctrls[v->nctrl - 1 - def], &dts, &arity);
    const uint8_t *lp = labels;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t l = 0;
      cis__read_u32(&lp, v->end, &l);
      if (l >= v->nctrl) return verr(v, CIS_EINVALID, "unknown label");
      const uint8_t *ts;
      uint32_t k;
      label_types(&v->ctrls[v->nctrl - 1 - l], &ts, &k);
      if (k != arity) return mismatch(v);
      /* Check this label's types against the stack, then put the values back. */
      uint8_t *copy = malloc(k + 1);
      if (!copy) return verr(v, CIS_ENOMEM, "out of memory");
      for (uint32_t j = k; j-- > 0;) {
        uint8_t t;
        if (!pop(v, &t)) {
          free(copy);
          return false;
        }
        if (t != ts[j] && t != UNK) {
          free(copy);
          return mismatch(v);
        }
        copy[j] = t; /* an unknown stays unknown for the next label */
      }
      bool ok = push_types(v, copy, k);
      free(copy);
      if (!ok) return false;
    }
    if (!pop_types(v, dts, arity)) return false;
    set_unreachable(v);
    return true;
  }
  case CIS__OP_RETURN: {
    const frame *fn = &v->ctrls[0];
    if (!pop_types(v, fn->results, fn->nr)) return false;
    set_unreachable(v);
    return true;
  }
  case CIS__OP_CALL: {
    x = rd_u32(v);
    if (x >= m->nfuncs) return verr(v, CIS_EINVALID, "unknown function %u", x);
    const cis__functype *ft = cis__module_func_type(m, x);
    return pop_types(v, ft->types, ft->nparams) && push_types(v, ft->types + ft->nparams, ft->nresults);
  }
  case CIS__OP_CALL_INDIRECT: {
    x = rd_u32(v);
    y = rd_u32(v);
    if (!check_table(v, y)) return false;
    if (x >= m->ntypes) return verr(v, CIS_EINVALID, "unknown type");
    if (m->tables[y].elem != CIS__FUNCREF) return mismatch(v);
    const cis__functype *ft = &m->types[x];
    return pop_expect(v, CIS__I32) && pop_types(v, ft->types, ft->nparams) &&
           push_types(v, ft->types + ft->nparams, ft->nresults);
  }
  case CIS__OP_RETURN_CALL: case CIS__OP_RETURN_CALL_INDIRECT: {
    /* The callee's results become the caller's: they must be the same. */
    const cis__functype *ft;
    x = rd_u32(v);
    if (op == CIS__OP_RETURN_CALL) {
      if (x >= m->nfuncs) return verr(v, CIS_EINVALID, "unknown function %u", x);
      ft = cis__module_func_type(m, x);
    } else {
      y = rd_u32(v);
      if (!check_table(v, y)) return false;
      if (x >= m->ntypes) return verr(v, CIS_EINVALID, "unknown type");
      if (m->tables[y].elem != CIS__FUNCREF) return mismatch(v);
      ft = &m->types[x];
      if (!pop_expect(v, CIS__I32)) return false;
    }
    const frame *fn = &v->ctrls[0];
    if (ft->nresults != fn->nr || memcmp(ft->types + ft->nparams, fn->results, fn->nr)) return mismatch(v);
    if (!pop_types(v, ft->types, ft->nparams)) return false;
    set_unreachable(v);
    return true;
  }
  case CIS__OP_DROP: return pop(v, &t1);
  case CIS__OP_SELECT:
    if (!pop_expect(v, CIS__I32) || !pop(v, &t1) || !pop(v, &t2)) return false;
    if ((t1 != UNK && !is_numvec(t1)) || (t2 != UNK && !is_numvec(t2))) return mismatch(v);
    if (t1 != UNK && t2 != UNK && t1 != t2) return mismatch(v);
    return push(v, t1 == UNK ? t2 : t1);
  case CIS__OP_SELECT_T: {
    uint32_t n = rd_u32(v);
    if (n != 1) return verr(v, CIS_EINVALID, "invalid result arity");
    uint8_t t = *v->p++;
    return pop_expect(v, CIS__I32) && pop_expect(v, t) && pop_expect(v, t) && push(v, t);
  }
  case CIS__OP_LOCAL_GET: case CIS__OP_LOCAL_SET: case CIS__OP_LOCAL_TEE:
    x = rd_u32(v);
    if (x >= v->nlocals) return verr(v, CIS_EINVALID, "unknown local %u", x);
    if (op == CIS__OP_LOCAL_GET) return push(v, v->locals[x]);
    if (op == CIS__OP_LOCAL_SET) return pop_expect(v, v->locals[x]);
    return pop_expect(v, v->locals[x]) && push(v, v->locals[x]);
  case CIS__OP_GLOBAL_GET: case CIS__OP_GLOBAL_SET:
    x = rd_u32(v);
    if (x >= m->nglobals) return verr(v, CIS_EINVALID, "unknown global %u", x);
    if (op == CIS__OP_GLOBAL_GET) return push(v, m->globals[x].type.type);
    if (!m->globals[x].type.mutable_)
      return verr(v, CIS_EINVALID, "%s", v->m->standard >= CIS__STD_3 ? "immutable global" : "global is immutable");
    return pop_expect(v, m->globals[x].type.type);
  case CIS__OP_TABLE_GET: case CIS__OP_TABLE_SET:
    x = rd_u32(v);
    if (!check_table(v, x)) return false;
    if (op == CIS__OP_TABLE_GET) return pop_expect(v, CIS__I32) && push(v, m->tables[x].elem);
    return pop_expect(v, m->tables[x].elem) && pop_expect(v, CIS__I32);
  case CIS__OP_TABLE_GROW:
    x = rd_u32(v);
    if (!check_table(v, x)) return false;
    return pop_expect(v, CIS__I32) && pop_expect(v, m->tables[x].elem) && push(v, CIS__I32);
  case CIS__OP_TABLE_FILL:
    x = rd_u32(v);
    if (!check_table(v, x)) return false;
    return pop_expect(v, CIS__I32) && pop_expect(v, m->tables[x].elem) && pop_expect(v, CIS__I32);
  case CIS__OP_REF_NULL: { uint8_t t = *v->p++; return push(v, t); }
  case CIS__OP_REF_IS_NULL:
    if (!pop(v, &t1)) return false;
    if (t1 != UNK && !is_ref(t1)) return mismatch(v);
    return push(v, CIS__I32);
  case CIS__OP_REF_FUNC:
    x = rd_u32(v);
    if (x >= m->nfuncs) return verr(v, CIS_EINVALID, "unknown function %u", x);
    if (!m->func_declared || !m->func_declared[x]) return verr(v, CIS_EINVALID, "undeclared function reference");
    return push(v, CIS__FUNCREF);
  default: break;
  }
  /* A "*" row without a case here: the table and this switch disagree. */
  return verr(v, CIS_EINVALID, "%s: no typing rule", cis__op_info(op)->name);
}

/* Types one instruction. Returns false on error; *done when the function's
 * final end was reached. */
static bool instr(vx *v, bool *done) {
  v->at = v->p;
  enum cis__op op;
  if (cis__op_read(&v->p, v->end, &op) != CIS__OPREAD_OK) return verr(v, CIS_EMALFORMED, "illegal opcode");
  const cis__opinfo *oi = cis__op_info(op);
  if (oi->sig[0] == '*') return by_hand(v, op, done);
  return fixed_immediates(v, oi) && typed(v, oi->sig);
}

static bool validate_body(vx *v, uint32_t fidx) {
  const cis__module *m = v->m;
  const cis__code *c = &m->codes[fidx - m->nfunc_imports];
  const cis__functype *ft = cis__module_func_type(m, fidx);
  v->nlocals = ft->nparams + c->nlocals;
  if (v->nlocals > v->capl) { /* grows to the largest function, never per function */
    size_t n = v->capl ? v->capl : 64;
    while (n < v->nlocals) n *= 2;
    uint8_t *p = realloc(v->locals, n);
    if (!p) return verr(v, CIS_ENOMEM, "out of memory");
    v->locals = p;
    v->capl = n;
  }
  if (ft->nparams) memcpy(v->locals, ft->types, ft->nparams);
  /* Expand the run-length groups (the decoder checked them and their sum). */
  const uint8_t *g = c->locals, *gend = c->body;
  size_t at = ft->nparams;
  for (uint32_t k = 0; k < c->nlocal_groups; k++) {
    uint32_t count;
    if (!cis__read_u32(&g, gend, &count) || g >= gend || count > v->nlocals - at)
      return verr(v, CIS_EMALFORMED, "malformed locals");
    if (count) memset(v->locals + at, *g, count); /* a group may be empty, and so the buffer */
    g++;
    at += count;
  }
  if (at != v->nlocals) return verr(v, CIS_EMALFORMED, "malformed locals");
  v->p = c->body;
  v->end = c->body + c->body_len;
  v->nvals = v->nctrl = 0;
  v->at = v->p;
  bool ok = push_ctrl(v, CIS__OP_BLOCK, NULL, 0, ft->types + ft->nparams, ft->nresults);
  bool done = false;
  while (ok && !done && v->p < v->end) ok = instr(v, &done);
  if (ok && (!done || v->p != v->end)) ok = verr(v, CIS_EMALFORMED, "END opcode expected");
  return ok;
}

/* ------------------------------------------------------ module level */

/* A module-level error; like the spec's, messages about an index end with
 * the index ("unknown global 1"). */
static bool merr(cis__diag *d, cis_result code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool merr(cis__diag *d, cis_result code, const char *fmt, ...) {
  if (d->code == CIS_OK) {
    va_list ap;
    va_start(ap, fmt);
    d->code = code;
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
  }
  return false;
}

/* A constant expression of type want: constant instructions only (with
 * WebAssembly 3.0's extended constant expressions: i32 and i64 add, sub
 * and mul), and exactly one value at the end. global.get may read an
 * immutable global below `globals`: the imported ones in 2.0; in 3.0
 * those defined before too (all of them for a segment), which
 * instantiation has set by then. Its stack is bounded
 * (CIS__CONST_MAX_DEPTH), so that instantiation evaluates it on a fixed
 * stack. */
static bool const_expr(const cis__module *m, const cis__expr *e, uint8_t want, uint32_t globals, cis__diag *d) {
  const uint8_t *p = e->code, *end = e->code + e->len;
  uint8_t stack[CIS__CONST_MAX_DEPTH];
  int n = 0;
  while (p < end) {
    enum cis__op op = CIS__OP_COUNT;
    uint8_t t;
    uint32_t x;
    cis__op_read(&p, end, &op); /* the decoder read it already */
    switch (op) {
    case CIS__OP_END:
      if (n != 1 || (stack[0] != want)) return merr(d, CIS_ETYPE, "type mismatch");
      return true;
    case CIS__OP_I32_CONST: { int32_t c; cis__read_s32(&p, end, &c); t = CIS__I32; break; }
    case CIS__OP_I64_CONST: { int64_t c; cis__read_s64(&p, end, &c); t = CIS__I64; break; }
    case CIS__OP_F32_CONST: p += 4; t = CIS__F32; break;
    case CIS__OP_F64_CONST: p += 8; t = CIS__F64; break;
    case CIS__OP_V128_CONST: p += 16; t = CIS__V128; break;
    case CIS__OP_REF_NULL: t = *p++; break;
    case CIS__OP_REF_FUNC:
      cis__read_u32(&p, end, &x);
      if (x >= m->nfuncs) return merr(d, CIS_EINVALID, "unknown function %u", x);
      t = CIS__FUNCREF;
      break;
    case CIS__OP_GLOBAL_GET:
      cis__read_u32(&p, end, &x);
      if (x >= globals) return merr(d, CIS_EINVALID, "unknown global %u", x);
      if (m->globals[x].type.mutable_) return merr(d, CIS_EINVALID, "constant expression required");
      t = m->globals[x].type.type;
      break;
    case CIS__OP_I32_ADD:
    case CIS__OP_I32_SUB:
    case CIS__OP_I32_MUL:
    case CIS__OP_I64_ADD:
    case CIS__OP_I64_SUB:
    case CIS__OP_I64_MUL:
      t = op == CIS__OP_I32_ADD || op == CIS__OP_I32_SUB || op == CIS__OP_I32_MUL ? CIS__I32 : CIS__I64;
      if (n < 2 || stack[n - 1] != t || stack[n - 2] != t) return merr(d, CIS_ETYPE, "type mismatch");
      n -= 2;
      break;
    default: return merr(d, CIS_EINVALID, "constant expression required");
    }
    if (n == CIS__CONST_MAX_DEPTH)
      return merr(d, CIS_EINVALID, "constant expression too deep (over %d values)", CIS__CONST_MAX_DEPTH);
    stack[n++] = t;
  }
  return merr(d, CIS_ETYPE, "type mismatch");
}

static bool limits_ok(const cis__limits *l, uint32_t cap, const char *cap_msg, cis__diag *d) {
  if (l->min > cap || (l->has_max && l->max > cap)) return merr(d, CIS_EINVALID, "%s", cap_msg);
  if (l->has_max && l->min > l->max) return merr(d, CIS_EINVALID, "size minimum must not be greater than maximum");
  return true;
}

static void mark_refs_in_expr(const cis__module *m, const cis__expr *e, uint8_t *decl) {
  const uint8_t *p = e->code, *end = e->code + e->len;
  enum cis__op op;
  if (cis__op_read(&p, end, &op) == CIS__OPREAD_OK && op == CIS__OP_REF_FUNC) {
    uint32_t x = 0;
    cis__read_u32(&p, end, &x);
    if (x < m->nfuncs) decl[x] = 1;
  }
}

static int export_cmp(const void *a, const void *b) {
  const cis__export *x = *(const cis__export *const *)a, *y = *(const cis__export *const *)b;
  if (x->name_len != y->name_len) return x->name_len < y->name_len ? -1 : 1;
  return memcmp(x->name, y->name, x->name_len);
}

cis_result cis__module_validate(cis__module *m, cis__diag *d) {
  memset(d, 0, sizeof *d);
  for (uint32_t i = 0; i < m->nfuncs; i++)
    if (m->func_type[i] >= m->ntypes) return merr(d, CIS_EINVALID, "unknown type %u", m->func_type[i]), d->code;
  for (uint32_t i = 0; i < m->ntables; i++)
    if (!limits_ok(&m->tables[i].limits, UINT32_MAX, "table size", d)) return d->code;
  if (m->nmemories > 1 && m->standard < CIS__STD_3) return merr(d, CIS_EINVALID, "multiple memories"), d->code;
  for (uint32_t i = 0; i < m->nmemories; i++)
    if (!limits_ok(&m->memories[i], CIS__MAX_MEMORY_PAGES, "memory size must be at most 65536 pages (4GiB)", d))
      return d->code;
  /* C.refs: function references outside function bodies. */
  m->func_declared = calloc(m->nfuncs ? m->nfuncs : 1, 1);
  if (!m->func_declared) return d->code = CIS_ENOMEM;
  for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++) mark_refs_in_expr(m, &m->globals[i].init, m->func_declared);
  for (uint32_t i = 0; i < m->nexports; i++)
    if (m->exports[i].kind == CIS_EXTERN_FUNC && m->exports[i].index < m->nfuncs) m->func_declared[m->exports[i].index] = 1;
  for (uint32_t i = 0; i < m->nelems; i++) {
    const cis__elem *e = &m->elems[i];
    for (uint32_t k = 0; k < e->count; k++) {
      if (e->funcs && e->funcs[k] < m->nfuncs) m->func_declared[e->funcs[k]] = 1;
      if (e->exprs) mark_refs_in_expr(m, &e->exprs[k], m->func_declared);
    }
  }
  /* What a constant expression may read (const_expr): of a global, the
   * globals before it; of a segment, all of them (2.0: the imported). */
  bool std3 = m->standard >= CIS__STD_3;
  uint32_t seg_globals = std3 ? m->nglobals : m->nglobal_imports;
  for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++)
    if (!const_expr(m, &m->globals[i].init, m->globals[i].type.type, std3 ? i : m->nglobal_imports, d))
      return d->code;
  cis__export **sorted = malloc((m->nexports ? m->nexports : 1) * sizeof *sorted);
  if (!sorted) return d->code = CIS_ENOMEM;
  for (uint32_t i = 0; i < m->nexports; i++) {
    const cis__export *e = &m->exports[i];
    sorted[i] = &m->exports[i];
    uint32_t lim = e->kind == CIS_EXTERN_FUNC ? m->nfuncs : e->kind == CIS_EXTERN_TABLE ? m->ntables
                 : e->kind == CIS_EXTERN_MEMORY ? m->nmemories : m->nglobals;
    static const char *const what[] = {"unknown function", "unknown table", "unknown memory", "unknown global"};
    if (e->index >= lim) {
      free(sorted);
      return merr(d, CIS_EINVALID, "%s %u", what[e->kind], e->index), d->code;
    }
  }
  qsort(sorted, m->nexports, sizeof *sorted, export_cmp);
  for (uint32_t i = 1; i < m->nexports; i++)
    if (export_cmp(&sorted[i - 1], &sorted[i]) == 0) {
      free(sorted);
      return merr(d, CIS_EINVALID, "duplicate export name"), d->code;
    }
  free(sorted);
  if (m->has_start) {
    if (m->start >= m->nfuncs) return merr(d, CIS_EINVALID, "unknown function %u", m->start), d->code;
    const cis__functype *ft = cis__module_func_type(m, m->start);
    if (ft->nparams || ft->nresults) return merr(d, CIS_EINVALID, "start function"), d->code;
  }
  for (uint32_t i = 0; i < m->nelems; i++) {
    const cis__elem *e = &m->elems[i];
    if (e->mode == CIS__SEG_ACTIVE) {
      if (e->table >= m->ntables) return merr(d, CIS_EINVALID, "unknown table %u", e->table), d->code;
      if (!const_expr(m, &e->offset, CIS__I32, seg_globals, d)) return d->code;
      if (m->tables[e->table].elem != e->type) return merr(d, CIS_ETYPE, "type mismatch"), d->code;
    }
    for (uint32_t k = 0; k < e->count; k++) {
      if (e->funcs && e->funcs[k] >= m->nfuncs) return merr(d, CIS_EINVALID, "unknown function %u", e->funcs[k]), d->code;
      if (e->exprs && !const_expr(m, &e->exprs[k], e->type, seg_globals, d)) return d->code;
    }
  }
  for (uint32_t i = 0; i < m->ndatas; i++) {
    const cis__data *dd = &m->datas[i];
    if (dd->mode != CIS__SEG_ACTIVE) continue;
    if (dd->memory >= m->nmemories) return merr(d, CIS_EINVALID, "unknown memory %u", dd->memory), d->code;
    if (!const_expr(m, &dd->offset, CIS__I32, seg_globals, d)) return d->code;
  }
  vx v;
  memset(&v, 0, sizeof v);
  v.m = m;
  v.d = d;
  v.base = m->bytes;
  for (uint32_t i = m->nfunc_imports; i < m->nfuncs; i++)
    if (!validate_body(&v, i)) break;
  free(v.vals);
  free(v.ctrls);
  free(v.locals);
  return d->code;
}
