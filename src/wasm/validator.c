/*
 * This file implements the WebAssembly 2.0 validator: module-level checks
 * (indices, limits, exports, start, segments, constant expressions, the
 * declared function references C.refs) and the typing of every function
 * body with the spec's algorithm: an operand stack of value types and a
 * control stack of frames, stack-polymorphic after unreachable, br,
 * br_table and return. Both stacks live on the heap, so hostile nesting
 * cannot exhaust the host stack. Errors start with the spec's wording.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm/module.h"

#define UNK 0 /* the bottom type of unreachable code */

typedef struct frame {
  uint8_t op;              /* 0x02 block, 0x03 loop, 0x04 if, 0x05 else, 0 function */
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

static bool push_ctrl(vx *v, uint8_t op, const uint8_t *params, uint32_t np, const uint8_t *results, uint32_t nr) {
  if (v->nctrl == v->capc) {
    size_t n = v->capc ? v->capc * 2 : 16;
    frame *p = realloc(v->ctrls, n * sizeof *p);
    if (!p) return verr(v, CIS_ENOMEM, "out of memory");
    v->ctrls = p;
    v->capc = n;
  }
  v->ctrls[v->nctrl++] = (frame){op, (uint32_t)v->nvals, false, params, np, results, nr};
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
  if (f->op == 0x03) {
    *ts = f->params;
    *n = f->np;
  } else {
    *ts = f->results;
    *n = f->nr;
  }
}

static bool is_num(uint8_t t) { return t == CIS__I32 || t == CIS__I64 || t == CIS__F32 || t == CIS__F64; }
static bool is_ref(uint8_t t) { return t == CIS__FUNCREF || t == CIS__EXTERNREF; }

/* Readers over a validated (decoded) body: the decoder already checked
 * every encoding, so these cannot fail on a module it accepted. */
static uint32_t rd_u32(vx *v) {
  uint32_t x = 0;
  cis__read_u32(&v->p, v->end, &x);
  return x;
}

static bool unary(vx *v, uint8_t in, uint8_t out) { return pop_expect(v, in) && push(v, out); }
static bool binary(vx *v, uint8_t in, uint8_t out) { return pop_expect(v, in) && pop_expect(v, in) && push(v, out); }

static bool need_memory(vx *v) {
  if (v->m->nmemories == 0) return verr(v, CIS_EINVALID, "unknown memory 0");
  return true;
}

static bool memop(vx *v, unsigned natural, uint8_t in_addr_then, uint8_t val, bool store) {
  uint32_t align = rd_u32(v);
  rd_u32(v); /* offset */
  if (!need_memory(v)) return false;
  if (align > natural) return verr(v, CIS_EINVALID, "alignment must not be larger than natural");
  (void)in_addr_then;
  if (store) return pop_expect(v, val) && pop_expect(v, CIS__I32);
  return pop_expect(v, CIS__I32) && push(v, val);
}

static bool check_table(vx *v, uint32_t x) {
  if (x >= v->m->ntables) return verr(v, CIS_EINVALID, "unknown table %u", x);
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

/* Types one instruction. Returns false on error; *done when the function's
 * final end was reached. */
static bool instr(vx *v, bool *done) {
  const cis__module *m = v->m;
  v->at = v->p;
  uint8_t op = *v->p++;
  uint32_t x, y;
  uint8_t t1, t2;
  frame f;
  switch (op) {
  case 0x00: set_unreachable(v); return true;
  case 0x01: return true;
  case 0x02: case 0x03: case 0x04: {
    cis__blocktype bt;
    if (!block_type(v, &bt)) return false;
    if (op == 0x04 && !pop_expect(v, CIS__I32)) return false;
    if (!pop_types(v, bt.params, bt.nparams)) return false;
    return push_ctrl(v, op, bt.params, bt.nparams, bt.results, bt.nresults);
  }
  case 0x05:
    if (v->ctrls[v->nctrl - 1].op != 0x04) return verr(v, CIS_EINVALID, "else without if");
    if (!pop_ctrl(v, &f)) return false;
    return push_ctrl(v, 0x05, f.params, f.np, f.results, f.nr);
  case 0x0b:
    if (!pop_ctrl(v, &f)) return false;
    /* An if without else passes its parameters through as results. */
    if (f.op == 0x04 && (f.np != f.nr || (f.np && memcmp(f.params, f.results, f.np) != 0))) return mismatch(v);
    if (v->nctrl == 0) {
      *done = true;
      return true;
    }
    return push_types(v, f.results, f.nr);
  case 0x0c: case 0x0d: {
    x = rd_u32(v);
    if (x >= v->nctrl) return verr(v, CIS_EINVALID, "unknown label");
    const uint8_t *ts;
    uint32_t n;
    label_types(&v->ctrls[v->nctrl - 1 - x], &ts, &n);
    if (op == 0x0d && !pop_expect(v, CIS__I32)) return false;
    if (!pop_types(v, ts, n)) return false;
    if (op == 0x0c) set_unreachable(v);
    else return push_types(v, ts, n);
    return true;
  }
  case 0x0e: {
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
      size_t save = v->nvals;
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
      (void)save;
      bool ok = push_types(v, copy, k);
      free(copy);
      if (!ok) return false;
    }
    if (!pop_types(v, dts, arity)) return false;
    set_unreachable(v);
    return true;
  }
  case 0x0f: {
    const frame *fn = &v->ctrls[0];
    if (!pop_types(v, fn->results, fn->nr)) return false;
    set_unreachable(v);
    return true;
  }
  case 0x10: {
    x = rd_u32(v);
    if (x >= m->nfuncs) return verr(v, CIS_EINVALID, "unknown function %u", x);
    const cis__functype *ft = cis__module_func_type(m, x);
    return pop_types(v, ft->types, ft->nparams) && push_types(v, ft->types + ft->nparams, ft->nresults);
  }
  case 0x11: {
    x = rd_u32(v);
    y = rd_u32(v);
    if (!check_table(v, y)) return false;
    if (x >= m->ntypes) return verr(v, CIS_EINVALID, "unknown type");
    if (m->tables[y].elem != CIS__FUNCREF) return mismatch(v);
    const cis__functype *ft = &m->types[x];
    return pop_expect(v, CIS__I32) && pop_types(v, ft->types, ft->nparams) &&
           push_types(v, ft->types + ft->nparams, ft->nresults);
  }
  case 0x1a: return pop(v, &t1);
  case 0x1b:
    if (!pop_expect(v, CIS__I32) || !pop(v, &t1) || !pop(v, &t2)) return false;
    if ((t1 != UNK && !is_num(t1)) || (t2 != UNK && !is_num(t2))) return mismatch(v);
    if (t1 != UNK && t2 != UNK && t1 != t2) return mismatch(v);
    return push(v, t1 == UNK ? t2 : t1);
  case 0x1c: {
    uint32_t n = rd_u32(v);
    if (n != 1) return verr(v, CIS_EINVALID, "invalid result arity");
    uint8_t t = *v->p++;
    return pop_expect(v, CIS__I32) && pop_expect(v, t) && pop_expect(v, t) && push(v, t);
  }
  case 0x20: case 0x21: case 0x22:
    x = rd_u32(v);
    if (x >= v->nlocals) return verr(v, CIS_EINVALID, "unknown local %u", x);
    if (op == 0x20) return push(v, v->locals[x]);
    if (op == 0x21) return pop_expect(v, v->locals[x]);
    return pop_expect(v, v->locals[x]) && push(v, v->locals[x]);
  case 0x23: case 0x24:
    x = rd_u32(v);
    if (x >= m->nglobals) return verr(v, CIS_EINVALID, "unknown global %u", x);
    if (op == 0x23) return push(v, m->globals[x].type.type);
    if (!m->globals[x].type.mutable_) return verr(v, CIS_EINVALID, "global is immutable");
    return pop_expect(v, m->globals[x].type.type);
  case 0x25: case 0x26:
    x = rd_u32(v);
    if (!check_table(v, x)) return false;
    if (op == 0x25) return pop_expect(v, CIS__I32) && push(v, m->tables[x].elem);
    return pop_expect(v, m->tables[x].elem) && pop_expect(v, CIS__I32);
  case 0x28: return memop(v, 2, 0, CIS__I32, false);
  case 0x29: return memop(v, 3, 0, CIS__I64, false);
  case 0x2a: return memop(v, 2, 0, CIS__F32, false);
  case 0x2b: return memop(v, 3, 0, CIS__F64, false);
  case 0x2c: case 0x2d: return memop(v, 0, 0, CIS__I32, false);
  case 0x2e: case 0x2f: return memop(v, 1, 0, CIS__I32, false);
  case 0x30: case 0x31: return memop(v, 0, 0, CIS__I64, false);
  case 0x32: case 0x33: return memop(v, 1, 0, CIS__I64, false);
  case 0x34: case 0x35: return memop(v, 2, 0, CIS__I64, false);
  case 0x36: return memop(v, 2, 0, CIS__I32, true);
  case 0x37: return memop(v, 3, 0, CIS__I64, true);
  case 0x38: return memop(v, 2, 0, CIS__F32, true);
  case 0x39: return memop(v, 3, 0, CIS__F64, true);
  case 0x3a: return memop(v, 0, 0, CIS__I32, true);
  case 0x3b: return memop(v, 1, 0, CIS__I32, true);
  case 0x3c: return memop(v, 0, 0, CIS__I64, true);
  case 0x3d: return memop(v, 1, 0, CIS__I64, true);
  case 0x3e: return memop(v, 2, 0, CIS__I64, true);
  case 0x3f: v->p++; return need_memory(v) && push(v, CIS__I32);
  case 0x40: v->p++; return need_memory(v) && pop_expect(v, CIS__I32) && push(v, CIS__I32);
  case 0x41: { int32_t c; cis__read_s32(&v->p, v->end, &c); return push(v, CIS__I32); }
  case 0x42: { int64_t c; cis__read_s64(&v->p, v->end, &c); return push(v, CIS__I64); }
  case 0x43: v->p += 4; return push(v, CIS__F32);
  case 0x44: v->p += 8; return push(v, CIS__F64);
  case 0xd0: { uint8_t t = *v->p++; return push(v, t); }
  case 0xd1:
    if (!pop(v, &t1)) return false;
    if (t1 != UNK && !is_ref(t1)) return mismatch(v);
    return push(v, CIS__I32);
  case 0xd2:
    x = rd_u32(v);
    if (x >= m->nfuncs) return verr(v, CIS_EINVALID, "unknown function %u", x);
    if (!m->func_declared || !m->func_declared[x]) return verr(v, CIS_EINVALID, "undeclared function reference");
    return push(v, CIS__FUNCREF);
  case 0xfc: {
    uint32_t sub = rd_u32(v);
    switch (sub) {
    case 0: case 1: return unary(v, CIS__F32, CIS__I32);
    case 2: case 3: return unary(v, CIS__F64, CIS__I32);
    case 4: case 5: return unary(v, CIS__F32, CIS__I64);
    case 6: case 7: return unary(v, CIS__F64, CIS__I64);
    case 8:
      x = rd_u32(v);
      v->p++;
      if (!need_memory(v) || !data_idx(v, x)) return false;
      return pop_expect(v, CIS__I32) && pop_expect(v, CIS__I32) && pop_expect(v, CIS__I32);
    case 9: x = rd_u32(v); return data_idx(v, x);
    case 10:
      v->p += 2;
      return need_memory(v) && pop_expect(v, CIS__I32) && pop_expect(v, CIS__I32) && pop_expect(v, CIS__I32);
    case 11:
      v->p += 1;
      return need_memory(v) && pop_expect(v, CIS__I32) && pop_expect(v, CIS__I32) && pop_expect(v, CIS__I32);
    case 12:
      x = rd_u32(v);
      y = rd_u32(v);
      if (!check_table(v, y)) return false;
      if (x >= m->nelems) return verr(v, CIS_EINVALID, "unknown elem segment %u", x);
      if (m->elems[x].type != m->tables[y].elem) return mismatch(v);
      return pop_expect(v, CIS__I32) && pop_expect(v, CIS__I32) && pop_expect(v, CIS__I32);
    case 13:
      x = rd_u32(v);
      if (x >= m->nelems) return verr(v, CIS_EINVALID, "unknown elem segment %u", x);
      return true;
    case 14:
      x = rd_u32(v);
      y = rd_u32(v);
      if (!check_table(v, x) || !check_table(v, y)) return false;
      if (m->tables[x].elem != m->tables[y].elem) return mismatch(v);
      return pop_expect(v, CIS__I32) && pop_expect(v, CIS__I32) && pop_expect(v, CIS__I32);
    case 15:
      x = rd_u32(v);
      if (!check_table(v, x)) return false;
      return pop_expect(v, CIS__I32) && pop_expect(v, m->tables[x].elem) && push(v, CIS__I32);
    case 16:
      x = rd_u32(v);
      return check_table(v, x) && push(v, CIS__I32);
    case 17:
      x = rd_u32(v);
      if (!check_table(v, x)) return false;
      return pop_expect(v, CIS__I32) && pop_expect(v, m->tables[x].elem) && pop_expect(v, CIS__I32);
    default: return verr(v, CIS_EMALFORMED, "illegal opcode");
    }
  }
  default: break;
  }
  /* Numeric instructions. */
  if (op == 0x45) return unary(v, CIS__I32, CIS__I32);
  if (op >= 0x46 && op <= 0x4f) return binary(v, CIS__I32, CIS__I32);
  if (op == 0x50) return unary(v, CIS__I64, CIS__I32);
  if (op >= 0x51 && op <= 0x5a) return binary(v, CIS__I64, CIS__I32);
  if (op >= 0x5b && op <= 0x60) return binary(v, CIS__F32, CIS__I32);
  if (op >= 0x61 && op <= 0x66) return binary(v, CIS__F64, CIS__I32);
  if (op >= 0x67 && op <= 0x69) return unary(v, CIS__I32, CIS__I32);
  if (op >= 0x6a && op <= 0x78) return binary(v, CIS__I32, CIS__I32);
  if (op >= 0x79 && op <= 0x7b) return unary(v, CIS__I64, CIS__I64);
  if (op >= 0x7c && op <= 0x8a) return binary(v, CIS__I64, CIS__I64);
  if (op >= 0x8b && op <= 0x91) return unary(v, CIS__F32, CIS__F32);
  if (op >= 0x92 && op <= 0x98) return binary(v, CIS__F32, CIS__F32);
  if (op >= 0x99 && op <= 0x9f) return unary(v, CIS__F64, CIS__F64);
  if (op >= 0xa0 && op <= 0xa6) return binary(v, CIS__F64, CIS__F64);
  switch (op) {
  case 0xa7: return unary(v, CIS__I64, CIS__I32);
  case 0xa8: case 0xa9: return unary(v, CIS__F32, CIS__I32);
  case 0xaa: case 0xab: return unary(v, CIS__F64, CIS__I32);
  case 0xac: case 0xad: return unary(v, CIS__I32, CIS__I64);
  case 0xae: case 0xaf: return unary(v, CIS__F32, CIS__I64);
  case 0xb0: case 0xb1: return unary(v, CIS__F64, CIS__I64);
  case 0xb2: case 0xb3: return unary(v, CIS__I32, CIS__F32);
  case 0xb4: case 0xb5: return unary(v, CIS__I64, CIS__F32);
  case 0xb6: return unary(v, CIS__F64, CIS__F32);
  case 0xb7: case 0xb8: return unary(v, CIS__I32, CIS__F64);
  case 0xb9: case 0xba: return unary(v, CIS__I64, CIS__F64);
  case 0xbb: return unary(v, CIS__F32, CIS__F64);
  case 0xbc: return unary(v, CIS__F32, CIS__I32);
  case 0xbd: return unary(v, CIS__F64, CIS__I64);
  case 0xbe: return unary(v, CIS__I32, CIS__F32);
  case 0xbf: return unary(v, CIS__I64, CIS__F64);
  case 0xc0: case 0xc1: return unary(v, CIS__I32, CIS__I32);
  case 0xc2: case 0xc3: case 0xc4: return unary(v, CIS__I64, CIS__I64);
  default: return verr(v, CIS_EMALFORMED, "illegal opcode");
  }
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
  bool ok = push_ctrl(v, 0, NULL, 0, ft->types + ft->nparams, ft->nresults);
  bool done = false;
  while (ok && !done && v->p < v->end) ok = instr(v, &done);
  if (ok && (!done || v->p != v->end)) ok = verr(v, CIS_EMALFORMED, "END opcode expected");
  return ok;
}

/* ------------------------------------------------------ module level */

static bool merr(cis__diag *d, cis_result code, const char *msg) {
  if (d->code == CIS_OK) {
    d->code = code;
    snprintf(d->msg, sizeof d->msg, "%s", msg);
  }
  return false;
}

/* A constant expression of type want: constant instructions only, and
 * exactly one value at the end. */
static bool const_expr(const cis__module *m, const cis__expr *e, uint8_t want, cis__diag *d) {
  const uint8_t *p = e->code, *end = e->code + e->len;
  uint8_t stack[4];
  int n = 0;
  while (p < end) {
    uint8_t op = *p++;
    uint8_t t;
    uint32_t x;
    switch (op) {
    case 0x0b:
      if (n != 1 || (stack[0] != want)) return merr(d, CIS_ETYPE, "type mismatch");
      return true;
    case 0x41: { int32_t c; cis__read_s32(&p, end, &c); t = CIS__I32; break; }
    case 0x42: { int64_t c; cis__read_s64(&p, end, &c); t = CIS__I64; break; }
    case 0x43: p += 4; t = CIS__F32; break;
    case 0x44: p += 8; t = CIS__F64; break;
    case 0xd0: t = *p++; break;
    case 0xd2:
      cis__read_u32(&p, end, &x);
      if (x >= m->nfuncs) return merr(d, CIS_EINVALID, "unknown function");
      t = CIS__FUNCREF;
      break;
    case 0x23:
      cis__read_u32(&p, end, &x);
      if (x >= m->nglobal_imports) return merr(d, CIS_EINVALID, "unknown global");
      if (m->globals[x].type.mutable_) return merr(d, CIS_EINVALID, "constant expression required");
      t = m->globals[x].type.type;
      break;
    default: return merr(d, CIS_EINVALID, "constant expression required");
    }
    if (n == 4) return merr(d, CIS_ETYPE, "type mismatch");
    stack[n++] = t;
  }
  return merr(d, CIS_ETYPE, "type mismatch");
}

static bool limits_ok(const cis__limits *l, uint32_t cap, const char *cap_msg, cis__diag *d) {
  if (l->min > cap || (l->has_max && l->max > cap)) return merr(d, CIS_EINVALID, cap_msg);
  if (l->has_max && l->min > l->max) return merr(d, CIS_EINVALID, "size minimum must not be greater than maximum");
  return true;
}

static void mark_refs_in_expr(const cis__module *m, const cis__expr *e, uint8_t *decl) {
  const uint8_t *p = e->code, *end = e->code + e->len;
  if (p < end && *p == 0xd2) {
    p++;
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
    if (m->func_type[i] >= m->ntypes) return merr(d, CIS_EINVALID, "unknown type"), d->code;
  for (uint32_t i = 0; i < m->ntables; i++)
    if (!limits_ok(&m->tables[i].limits, UINT32_MAX, "table size", d)) return d->code;
  if (m->nmemories > 1) return merr(d, CIS_EINVALID, "multiple memories"), d->code;
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
  for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++)
    if (!const_expr(m, &m->globals[i].init, m->globals[i].type.type, d)) return d->code;
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
      return merr(d, CIS_EINVALID, what[e->kind]), d->code;
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
    if (m->start >= m->nfuncs) return merr(d, CIS_EINVALID, "unknown function"), d->code;
    const cis__functype *ft = cis__module_func_type(m, m->start);
    if (ft->nparams || ft->nresults) return merr(d, CIS_EINVALID, "start function"), d->code;
  }
  for (uint32_t i = 0; i < m->nelems; i++) {
    const cis__elem *e = &m->elems[i];
    if (e->mode == CIS__SEG_ACTIVE) {
      if (e->table >= m->ntables) return merr(d, CIS_EINVALID, "unknown table"), d->code;
      if (!const_expr(m, &e->offset, CIS__I32, d)) return d->code;
      if (m->tables[e->table].elem != e->type) return merr(d, CIS_ETYPE, "type mismatch"), d->code;
    }
    for (uint32_t k = 0; k < e->count; k++) {
      if (e->funcs && e->funcs[k] >= m->nfuncs) return merr(d, CIS_EINVALID, "unknown function"), d->code;
      if (e->exprs && !const_expr(m, &e->exprs[k], e->type, d)) return d->code;
    }
  }
  for (uint32_t i = 0; i < m->ndatas; i++) {
    const cis__data *dd = &m->datas[i];
    if (dd->mode != CIS__SEG_ACTIVE) continue;
    if (dd->memory >= m->nmemories) return merr(d, CIS_EINVALID, "unknown memory"), d->code;
    if (!const_expr(m, &dd->offset, CIS__I32, d)) return d->code;
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
