/*
 * This file implements the WebAssembly validator (2.0, and 3.0's typed
 * function references and exception handling, the legacy try, catch,
 * delegate and rethrow included, as the module's standard allows them):
 * module-level
 * checks (indices, limits, exports, start, segments, constant expressions,
 * the declared function references C.refs, which type indices name one
 * type) and the typing of every function body with the spec's algorithm:
 * an operand stack of value types in full (module.h) matched by
 * subtyping, a control stack of frames, stack-polymorphic after
 * unreachable, br, br_table and return, and the initialisation of
 * non-defaultable locals, reset at the end of the block that set them.
 * The stacks live on the heap, so hostile nesting cannot exhaust the host
 * stack. Errors start with the spec's wording.
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
  uint16_t op;             /* CIS__OP_BLOCK (also the function's), _LOOP, _IF, _ELSE,
                              _TRY_TABLE, or of the legacy ones _TRY, _CATCH, _CATCH_ALL */
  uint32_t height;         /* operand stack height at entry */
  uint32_t inits;          /* height of the stack of locals set (vx.set) at entry */
  bool unreachable;        /* rest of the frame is stack-polymorphic */
  const uint32_t *params;  /* block parameter types */
  uint32_t np;
  const uint32_t *results; /* block result types; NULL for one (then in one) */
  uint32_t nr;
  uint32_t one;            /* the single result type of a value-type block type */
} frame;

typedef struct vx {
  const cis__module *m;
  cis__diag *d;
  const uint8_t *base;     /* module bytes, for offsets */
  const uint8_t *p, *end;  /* reader over the body */
  const uint8_t *at;       /* start of the current instruction */
  uint32_t *vals;          /* operand stack */
  size_t nvals, capv;
  frame *ctrls;            /* control stack */
  size_t nctrl, capc;
  uint32_t *locals;        /* params then declared locals; reused across bodies */
  uint8_t *linit;          /* per local: set (or defaultable) */
  uint32_t nlocals;
  size_t capl;             /* allocated entries of locals and linit */
  uint32_t *set;           /* non-defaultable locals set, innermost last */
  size_t nset, capset;
  const char *apat;        /* the current SIG row's address operands (retyped) */
  uint8_t at1, at2;        /* their types: of the first and second memory or table */
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

/* The abstract heap type of a reference type: its own, or for a type
 * index its composite's (func, struct, array). */
static uint8_t heap_kind(const cis__module *m, uint32_t vt) {
  return cis__vt_has_idx(vt) ? cis__comp_kind(m->types[cis__vt_idx(vt)].comp) : cis__vt_kind(vt);
}

/* Is type x a declared subtype of type y (or y itself)? The chain is at
 * most CIS__MAX_SUBTYPE_DEPTH long (type_reps checks). */
static bool idx_sub(const cis__module *m, uint32_t x, uint32_t y) {
  for (uint32_t k = 0; k <= CIS__MAX_SUBTYPE_DEPTH; k++) {
    if (m->type_rep[x] == m->type_rep[y]) return true;
    if (!m->types[x].super) return false;
    x = m->types[x].super - 1;
  }
  return false;
}

/* Is a <: b? Numbers and vectors match themselves; a reference matches a
 * reference that is nullable if it is, whose heap type is above its own:
 * in one hierarchy (any, func, extern, exn), abstract types as
 * cis__kind_sub orders them, a type index under its composite's abstract
 * type and its declared supertypes, a bottom under all. The bottom type
 * (UNK) matches everything. */
static bool vt_sub(const cis__module *m, uint32_t a, uint32_t b) {
  if (a == b || a == UNK || b == UNK) return true;
  if (!cis__vt_is_ref(a) || !cis__vt_is_ref(b)) return false;
  if (cis__vt_nullable(a) && !cis__vt_nullable(b)) return false;
  if (!cis__vt_has_idx(b)) return cis__kind_sub(heap_kind(m, a), cis__vt_kind(b));
  if (cis__vt_has_idx(a)) return idx_sub(m, cis__vt_idx(a), cis__vt_idx(b));
  uint8_t k = cis__vt_kind(a);
  return cis__kind_is_bottom(k) && cis__kind_top(k) == cis__kind_top(heap_kind(m, b));
}

/* Does every type of a match b's, in order (a's results where b's are
 * expected)? */
static bool vts_sub(const cis__module *m, const uint32_t *a, const uint32_t *b, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (!vt_sub(m, a[i], b[i])) return false;
  return true;
}

/* Is the type index a reference type names (if any) below n? */
static bool vt_known(uint32_t vt, uint32_t n) { return !cis__vt_has_idx(vt) || cis__vt_idx(vt) < n; }

static bool push(vx *v, uint32_t t) {
  if (v->nvals == v->capv) {
    size_t n = v->capv ? v->capv * 2 : 64;
    uint32_t *p = realloc(v->vals, n * sizeof *p);
    if (!p) return verr(v, CIS_ENOMEM, "out of memory");
    v->vals = p;
    v->capv = n;
  }
  v->vals[v->nvals++] = t;
  return true;
}

static bool pop(vx *v, uint32_t *t) {
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

static bool pop_expect(vx *v, uint32_t want) {
  uint32_t t;
  if (!pop(v, &t)) return false;
  if (!vt_sub(v->m, t, want)) return mismatch(v);
  return true;
}

/* Pops a reference (or the bottom type) into *t. */
static bool pop_ref(vx *v, uint32_t *t) {
  if (!pop(v, t)) return false;
  if (*t != UNK && !cis__vt_is_ref(*t)) return mismatch(v);
  return true;
}

static bool pop_types(vx *v, const uint32_t *ts, uint32_t n) {
  for (uint32_t i = n; i-- > 0;)
    if (!pop_expect(v, ts[i])) return false;
  return true;
}

static bool push_types(vx *v, const uint32_t *ts, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (!push(v, ts[i])) return false;
  return true;
}

static const uint32_t *frame_results(const frame *f) { return f->results ? f->results : &f->one; }

/* Opens a frame for a block type (params and results in full). */
static bool push_ctrl(vx *v, enum cis__op op, const cis__blocktype *bt) {
  if (v->nctrl == v->capc) {
    size_t n = v->capc ? v->capc * 2 : 16;
    frame *p = realloc(v->ctrls, n * sizeof *p);
    if (!p) return verr(v, CIS_ENOMEM, "out of memory");
    v->ctrls = p;
    v->capc = n;
  }
  v->ctrls[v->nctrl++] = (frame){.op = (uint16_t)op, .height = (uint32_t)v->nvals, .inits = (uint32_t)v->nset,
                                 .params = bt->vparams, .np = bt->nparams, .results = bt->vresults,
                                 .nr = bt->nresults, .one = bt->one};
  return push_types(v, bt->vparams, bt->nparams);
}

/* Closes the innermost frame: its results must be on the stack, and the
 * locals set inside it are unset again. */
static bool pop_ctrl(vx *v, frame *out) {
  frame *f = &v->ctrls[v->nctrl - 1];
  if (!pop_types(v, frame_results(f), f->nr)) return false;
  if (v->nvals != f->height) return mismatch(v);
  while (v->nset > f->inits) v->linit[v->set[--v->nset]] = 0;
  *out = *f;
  v->nctrl--;
  return true;
}

static void set_unreachable(vx *v) {
  frame *f = &v->ctrls[v->nctrl - 1];
  v->nvals = f->height;
  f->unreachable = true;
}

static void label_types(const frame *f, const uint32_t **ts, uint32_t *n) {
  if (f->op == CIS__OP_LOOP) {
    *ts = f->params;
    *n = f->np;
  } else {
    *ts = frame_results(f);
    *n = f->nr;
  }
}

/* Number or vector: what select without a type vector may choose between. */
static bool is_numvec(uint32_t t) {
  return t == CIS__I32 || t == CIS__I64 || t == CIS__F32 || t == CIS__F64 || t == CIS__V128;
}

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

/* The address types of a SIG row (typed): pat marks the operands and
 * results that are addresses or indices of the instruction's memory or
 * table, 'a' the first's type, 'b' the second's (memory.copy's and
 * table.copy's source), 'm' the narrower of the two (their length). */
static void addr_types(vx *v, const char *pat, uint8_t at1, uint8_t at2) {
  v->apat = pat;
  v->at1 = at1;
  v->at2 = at2;
}

/* A memarg whose alignment may not exceed 2^natural, and whose offset
 * fits the memory's address type; its address is of that type. */
static bool memarg(vx *v, unsigned natural) {
  cis__memarg ma;
  cis__read_memarg(&v->p, v->end, &ma);
  if (!check_memory(v, ma.mem)) return false;
  if (ma.align > natural) return verr(v, CIS_EINVALID, "alignment must not be larger than natural");
  if (!v->m->memories[ma.mem].is64 && ma.offset > UINT32_MAX) return verr(v, CIS_EINVALID, "offset out of range");
  addr_types(v, "a", cis__mem_addr_type(v->m, ma.mem), 0);
  return true;
}

/* A memory index immediate: memory.size's result, memory.grow's operand
 * and result, memory.fill's address and length are of its address type. */
static bool memidx_imm(vx *v, enum cis__op op) {
  uint32_t x = rd_u32(v);
  if (!check_memory(v, x)) return false;
  addr_types(v, op == CIS__OP_MEMORY_SIZE ? ".a" : "a.a", cis__mem_addr_type(v->m, x), 0);
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
  cis__read_blocktype(&v->p, v->end, &t);
  if (!cis__blocktype_get(v->m, t, bt)) return verr(v, CIS_EINVALID, "unknown type");
  return true;
}

/* A value type immediate (select's), known to the module. */
static bool value_type(vx *v, uint32_t *t) {
  *t = UNK;
  cis__read_valtype(&v->p, v->end, true, t);
  if (!vt_known(*t, v->m->ntypes)) return verr(v, CIS_EINVALID, "unknown type");
  return true;
}

/* A type index immediate (call_ref's): the function type. */
static bool type_index(vx *v, const cis__functype **ft, uint32_t *x) {
  *x = rd_u32(v);
  if (*x >= v->m->ntypes) return verr(v, CIS_EINVALID, "unknown type");
  *ft = &v->m->types[*x];
  if (!cis__is_functype(*ft)) return verr(v, CIS_ETYPE, "type mismatch: type %u is not a function type", *x);
  return true;
}

/* call_indirect's type x and table y: a function type, a table of
 * function references. */
static bool func_type_index(vx *v, uint32_t x, uint32_t y, const cis__functype **ft) {
  if (x >= v->m->ntypes) return verr(v, CIS_EINVALID, "unknown type");
  if (!vt_sub(v->m, v->m->tables[y].vt, CIS__FUNCREF)) return mismatch(v);
  *ft = &v->m->types[x];
  if (!cis__is_functype(*ft)) return verr(v, CIS_ETYPE, "type mismatch: type %u is not a function type", x);
  return true;
}

/* The locals of the body: x must be one. */
static bool local_index(vx *v, uint32_t *x) {
  *x = rd_u32(v);
  if (*x >= v->nlocals) return verr(v, CIS_EINVALID, "unknown local %u", *x);
  return true;
}

/* A tag index immediate: the tag's type, whose params the exception
 * carries. */
static bool tag_index(vx *v, const cis__functype **ft) {
  uint32_t x = rd_u32(v);
  if (x >= v->m->ntags) return verr(v, CIS_EINVALID, "unknown tag %u", x);
  *ft = &v->m->types[v->m->tag_type[x]];
  return true;
}

/* The catch clauses of a try_table (before its frame is pushed: their
 * labels are the enclosing ones'). What each hands its label, the tag's
 * values and (the _ref forms) the exception, must match the label's
 * types. */
static bool catch_clauses(vx *v) {
  uint32_t n = rd_u32(v);
  for (uint32_t i = 0; i < n; i++) {
    cis__catch c;
    if (!cis__read_catch(&v->p, v->end, &c)) return verr(v, CIS_EMALFORMED, "malformed catch clause");
    const cis__functype *ft = NULL;
    if (c.kind <= CIS__CATCH_REF) {
      if (c.tag >= v->m->ntags) return verr(v, CIS_EINVALID, "unknown tag %u", c.tag);
      ft = &v->m->types[v->m->tag_type[c.tag]];
    }
    if (c.label >= v->nctrl) return verr(v, CIS_EINVALID, "unknown label");
    const uint32_t *ts;
    uint32_t nt;
    label_types(&v->ctrls[v->nctrl - 1 - c.label], &ts, &nt);
    uint32_t np = ft ? ft->nparams : 0;
    bool ref = c.kind == CIS__CATCH_REF || c.kind == CIS__CATCH_ALL_REF;
    if (nt != np + ref || (np && !vts_sub(v->m, ft->vts, ts, np)) ||
        (ref && !vt_sub(v->m, CIS__EXNREF | CIS__VT_NONNULL, ts[np])))
      return mismatch(v);
  }
  return true;
}

/* A call's tail form: the callee's results become the caller's, so they
 * must match them. */
static bool tail_results(vx *v, const cis__functype *ft) {
  const frame *fn = &v->ctrls[0];
  if (ft->nresults != fn->nr || !vts_sub(v->m, ft->vts + ft->nparams, frame_results(fn), fn->nr)) return mismatch(v);
  return true;
}

/* Reads and checks the immediates of an instruction with a fixed type (a
 * SIG row), by their kind: indices against the module, alignment, lanes. */
static bool fixed_immediates(vx *v, enum cis__op op, const cis__opinfo *oi) {
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
  case CIS__IMM_MEMIDX: return memidx_imm(v, op);
  case CIS__IMM_MEMORY_COPY:
    x = rd_u32(v);
    y = rd_u32(v);
    if (!check_memory(v, x) || !check_memory(v, y)) return false;
    addr_types(v, "abm", cis__mem_addr_type(m, x), cis__mem_addr_type(m, y));
    return true;
  case CIS__IMM_I32: { int32_t c; cis__read_s32(&v->p, v->end, &c); return true; }
  case CIS__IMM_I64: { int64_t c; cis__read_s64(&v->p, v->end, &c); return true; }
  case CIS__IMM_F32: v->p += 4; return true;
  case CIS__IMM_F64: v->p += 8; return true;
  case CIS__IMM_V128: v->p += 16; return true;
  case CIS__IMM_MEMORY_INIT:
    x = rd_u32(v);
    y = rd_u32(v);
    if (!check_memory(v, y) || !data_idx(v, x)) return false;
    addr_types(v, "a", cis__mem_addr_type(m, y), 0);
    return true;
  case CIS__IMM_DATA: return data_idx(v, rd_u32(v));
  case CIS__IMM_ELEM: return check_elem(v, rd_u32(v));
  case CIS__IMM_TABLE: /* table.size */
    x = rd_u32(v);
    if (!check_table(v, x)) return false;
    addr_types(v, ".a", cis__table_addr_type(m, x), 0);
    return true;
  case CIS__IMM_TABLE_INIT:
    x = rd_u32(v);
    y = rd_u32(v);
    if (!check_table(v, y) || !check_elem(v, x)) return false;
    if (!vt_sub(m, m->elems[x].vt, m->tables[y].vt)) return mismatch(v);
    addr_types(v, "a", cis__table_addr_type(m, y), 0);
    return true;
  case CIS__IMM_TABLE_COPY:
    x = rd_u32(v);
    y = rd_u32(v);
    if (!check_table(v, x) || !check_table(v, y)) return false;
    if (!vt_sub(m, m->tables[y].vt, m->tables[x].vt)) return mismatch(v);
    addr_types(v, "abm", cis__table_addr_type(m, x), cis__table_addr_type(m, y));
    return true;
  default: break;
  }
  /* A SIG row with a kind that needs typing by hand: a table error. */
  return verr(v, CIS_EINVALID, "%s: no generic typing", oi->name);
}

/* The type of SIG letter k of sig, or of the address its position
 * names (addr_types). */
static uint8_t sig_type(const vx *v, const char *sig, const char *c) {
  size_t k = (size_t)(c - sig);
  if (v->apat && k < strlen(v->apat)) switch (v->apat[k]) {
    case 'a': return v->at1;
    case 'b': return v->at2;
    case 'm': return v->at1 == CIS__I64 && v->at2 == CIS__I64 ? CIS__I64 : CIS__I32;
    default: break;
    }
  return cis__sig_valtype(*c);
}

/* Pops the operands and pushes the results a SIG ("ii:i") names. */
static bool typed(vx *v, const char *sig) {
  const char *colon = strchr(sig, ':');
  for (const char *c = colon; c-- > sig;)
    if (!pop_expect(v, sig_type(v, sig, c))) return false;
  for (const char *c = colon + 1; *c; c++)
    if (!push(v, sig_type(v, sig, c))) return false;
  return true;
}

/* ------------------------------------------------------------- GC (3.0) */

/* A struct's or array's field as a value: packed i8 and i16 read as i32. */
static uint32_t unpacked(uint32_t st) { return st == CIS__I8 || st == CIS__I16 ? CIS__I32 : st; }
static bool is_packed(uint32_t st) { return st == CIS__I8 || st == CIS__I16; }

/* A type index immediate naming a type of composite comp (struct or
 * array). */
static bool comp_index(vx *v, uint8_t comp, uint32_t *x, const cis__functype **ft) {
  *x = rd_u32(v);
  if (*x >= v->m->ntypes) return verr(v, CIS_EINVALID, "unknown type %u", *x);
  *ft = &v->m->types[*x];
  if ((*ft)->comp != comp) return verr(v, CIS_ETYPE, "type mismatch: type %u is not %s", *x,
                                       comp == CIS__COMP_STRUCT ? "a struct" : "an array");
  return true;
}

/* A storage type a is below b (a field that may be copied into b's). */
static bool storage_sub(const cis__module *m, uint32_t a, uint32_t b) {
  return is_packed(a) || is_packed(b) ? a == b : vt_sub(m, a, b);
}

/* A heap type immediate as a reference type (nullable as asked). */
static bool ref_imm(vx *v, bool nullable, uint32_t *t) {
  *t = CIS__ANYREF;
  cis__read_heaptype(&v->p, v->end, t);
  if (!vt_known(*t, v->m->ntypes)) return verr(v, CIS_EINVALID, "unknown type");
  if (!nullable) *t |= CIS__VT_NONNULL;
  return true;
}

/* The hierarchy (any, func, extern, exn) a reference type is in. */
static uint8_t vt_top(const cis__module *m, uint32_t t) { return cis__kind_top(heap_kind(m, t)); }

/* rt1 minus rt2: what is left of rt1 when rt2's values are taken out
 * (only null can be: rt1 without null when rt2 holds it). */
static uint32_t ref_diff(uint32_t rt1, uint32_t rt2) {
  return cis__vt_nullable(rt2) ? rt1 | CIS__VT_NONNULL : rt1;
}

/* Types GC's 0xFB instructions. */
static bool gc_typed(vx *v, enum cis__op op) {
  const cis__module *m = v->m;
  const cis__functype *ft = NULL, *ft2 = NULL; /* set by comp_index before use; -O3 cannot tell */
  uint32_t x, y, t, fv;
  switch (op) {
  case CIS__OP_STRUCT_NEW: case CIS__OP_STRUCT_NEW_DEFAULT:
    if (!comp_index(v, CIS__COMP_STRUCT, &x, &ft)) return false;
    for (uint32_t i = ft->nparams; i-- > 0;) {
      if (op == CIS__OP_STRUCT_NEW && !pop_expect(v, unpacked(ft->vts[i]))) return false;
      if (op == CIS__OP_STRUCT_NEW_DEFAULT && !cis__vt_defaultable(ft->vts[i]))
        return verr(v, CIS_ETYPE, "type mismatch: field %u is not defaultable", i);
    }
    return push(v, cis__vt_typed(x, false));
  case CIS__OP_STRUCT_GET: case CIS__OP_STRUCT_GET_S: case CIS__OP_STRUCT_GET_U: case CIS__OP_STRUCT_SET:
    if (!comp_index(v, CIS__COMP_STRUCT, &x, &ft)) return false;
    y = rd_u32(v);
    if (y >= ft->nparams) return verr(v, CIS_EINVALID, "unknown field %u", y);
    fv = ft->vts[y];
    if (op == CIS__OP_STRUCT_SET) {
      if (!ft->mut[y]) return verr(v, CIS_EINVALID, "immutable field %u", y);
      return pop_expect(v, unpacked(fv)) && pop_expect(v, cis__vt_typed(x, true));
    }
    if (is_packed(fv) != (op != CIS__OP_STRUCT_GET)) return verr(v, CIS_ETYPE, "type mismatch: field %u", y);
    return pop_expect(v, cis__vt_typed(x, true)) && push(v, unpacked(fv));
  case CIS__OP_ARRAY_NEW: case CIS__OP_ARRAY_NEW_DEFAULT:
    if (!comp_index(v, CIS__COMP_ARRAY, &x, &ft)) return false;
    if (op == CIS__OP_ARRAY_NEW_DEFAULT && !cis__vt_defaultable(ft->vts[0]))
      return verr(v, CIS_ETYPE, "type mismatch: the element type is not defaultable");
    if (!pop_expect(v, CIS__I32)) return false;
    if (op == CIS__OP_ARRAY_NEW && !pop_expect(v, unpacked(ft->vts[0]))) return false;
    return push(v, cis__vt_typed(x, false));
  case CIS__OP_ARRAY_NEW_FIXED:
    if (!comp_index(v, CIS__COMP_ARRAY, &x, &ft)) return false;
    y = rd_u32(v);
    if (y > CIS__MAX_ARRAY_FIXED) return verr(v, CIS_EINVALID, "array.new_fixed of %u values: too many", y);
    for (uint32_t i = 0; i < y; i++)
      if (!pop_expect(v, unpacked(ft->vts[0]))) return false;
    return push(v, cis__vt_typed(x, false));
  case CIS__OP_ARRAY_NEW_DATA: case CIS__OP_ARRAY_INIT_DATA: case CIS__OP_ARRAY_NEW_ELEM:
  case CIS__OP_ARRAY_INIT_ELEM: {
    bool data = op == CIS__OP_ARRAY_NEW_DATA || op == CIS__OP_ARRAY_INIT_DATA;
    bool init = op == CIS__OP_ARRAY_INIT_DATA || op == CIS__OP_ARRAY_INIT_ELEM;
    if (!comp_index(v, CIS__COMP_ARRAY, &x, &ft)) return false;
    y = rd_u32(v);
    fv = ft->vts[0];
    if (init && !ft->mut[0]) return verr(v, CIS_EINVALID, "immutable array");
    if (data) {
      if (!data_idx(v, y)) return false;
      if (cis__vt_is_ref(fv)) return verr(v, CIS_EINVALID, "array type is not numeric or vector");
    } else {
      if (!check_elem(v, y)) return false;
      if (!storage_sub(m, m->elems[y].vt, fv)) return mismatch(v);
    }
    if (!pop_expect(v, CIS__I32) || !pop_expect(v, CIS__I32)) return false;
    if (!init) return push(v, cis__vt_typed(x, false));
    return pop_expect(v, CIS__I32) && pop_expect(v, cis__vt_typed(x, true));
  }
  case CIS__OP_ARRAY_GET: case CIS__OP_ARRAY_GET_S: case CIS__OP_ARRAY_GET_U:
    if (!comp_index(v, CIS__COMP_ARRAY, &x, &ft)) return false;
    fv = ft->vts[0];
    if (is_packed(fv) != (op != CIS__OP_ARRAY_GET)) return verr(v, CIS_ETYPE, "type mismatch: array element");
    return pop_expect(v, CIS__I32) && pop_expect(v, cis__vt_typed(x, true)) && push(v, unpacked(fv));
  case CIS__OP_ARRAY_SET: case CIS__OP_ARRAY_FILL:
    if (!comp_index(v, CIS__COMP_ARRAY, &x, &ft)) return false;
    if (!ft->mut[0]) return verr(v, CIS_EINVALID, "immutable array");
    if (op == CIS__OP_ARRAY_FILL && !pop_expect(v, CIS__I32)) return false;
    return pop_expect(v, unpacked(ft->vts[0])) && pop_expect(v, CIS__I32) && pop_expect(v, cis__vt_typed(x, true));
  case CIS__OP_ARRAY_LEN: return pop_expect(v, CIS__ARRAYREF) && push(v, CIS__I32);
  case CIS__OP_ARRAY_COPY:
    if (!comp_index(v, CIS__COMP_ARRAY, &x, &ft) || !comp_index(v, CIS__COMP_ARRAY, &y, &ft2)) return false;
    if (!ft->mut[0]) return verr(v, CIS_EINVALID, "immutable array");
    if (!storage_sub(m, ft2->vts[0], ft->vts[0])) return verr(v, CIS_ETYPE, "array types do not match");
    return pop_expect(v, CIS__I32) && pop_expect(v, CIS__I32) && pop_expect(v, cis__vt_typed(y, true)) &&
           pop_expect(v, CIS__I32) && pop_expect(v, cis__vt_typed(x, true));
  case CIS__OP_REF_TEST: case CIS__OP_REF_TEST_NULL: case CIS__OP_REF_CAST: case CIS__OP_REF_CAST_NULL: {
    bool nullable = op == CIS__OP_REF_TEST_NULL || op == CIS__OP_REF_CAST_NULL;
    if (!ref_imm(v, nullable, &t) || !pop_ref(v, &x)) return false;
    if (x != UNK && vt_top(m, x) != vt_top(m, t)) return mismatch(v);
    return push(v, op == CIS__OP_REF_TEST || op == CIS__OP_REF_TEST_NULL ? CIS__I32 : t);
  }
  case CIS__OP_BR_ON_CAST: case CIS__OP_BR_ON_CAST_FAIL: {
    uint8_t flags = *v->p++;
    uint32_t l = rd_u32(v), rt1, rt2;
    if (!ref_imm(v, flags & 1, &rt1) || !ref_imm(v, flags & 2, &rt2)) return false;
    if (l >= v->nctrl) return verr(v, CIS_EINVALID, "unknown label");
    if (!vt_sub(m, rt2, rt1)) return verr(v, CIS_ETYPE, "type mismatch: the cast's types");
    const uint32_t *ts;
    uint32_t n;
    label_types(&v->ctrls[v->nctrl - 1 - l], &ts, &n);
    uint32_t taken = op == CIS__OP_BR_ON_CAST ? rt2 : ref_diff(rt1, rt2);
    uint32_t stays = op == CIS__OP_BR_ON_CAST ? ref_diff(rt1, rt2) : rt2;
    if (n == 0 || !vt_sub(m, taken, ts[n - 1])) return mismatch(v);
    return pop_expect(v, rt1) && pop_types(v, ts, n - 1) && push_types(v, ts, n - 1) && push(v, stays);
  }
  case CIS__OP_ANY_CONVERT_EXTERN: case CIS__OP_EXTERN_CONVERT_ANY: { /* the nullability stays */
    bool to_any = op == CIS__OP_ANY_CONVERT_EXTERN;
    if (!pop(v, &t)) return false;
    if (!vt_sub(m, t, to_any ? CIS__EXTERNREF : CIS__ANYREF)) return mismatch(v);
    bool nonnull = t != UNK && !cis__vt_nullable(t);
    return push(v, (to_any ? CIS__ANYREF : CIS__EXTERNREF) | (nonnull ? CIS__VT_NONNULL : 0));
  }
  case CIS__OP_REF_I31: return pop_expect(v, CIS__I32) && push(v, CIS__I31REF | CIS__VT_NONNULL);
  case CIS__OP_I31_GET_S: case CIS__OP_I31_GET_U: return pop_expect(v, CIS__I31REF) && push(v, CIS__I32);
  default: break;
  }
  return verr(v, CIS_EINVALID, "%s: no typing rule", cis__op_info(op)->name);
}

/* Types the instructions whose row says "*": control, calls, variables,
 * references, parametric, and tables typed by their element type. */
static bool by_hand(vx *v, enum cis__op op, bool *done) {
  const cis__module *m = v->m;
  uint32_t x, y;
  uint32_t t1, t2;
  const cis__functype *ft = NULL;
  frame f;
  if (cis__op_is_gc(op)) return gc_typed(v, op);
  switch (op) {
  case CIS__OP_UNREACHABLE: set_unreachable(v); return true;
  case CIS__OP_BLOCK: case CIS__OP_LOOP: case CIS__OP_IF: case CIS__OP_TRY: case CIS__OP_TRY_TABLE: {
    cis__blocktype bt;
    if (!block_type(v, &bt)) return false;
    if (op == CIS__OP_IF && !pop_expect(v, CIS__I32)) return false;
    if (!pop_types(v, bt.vparams, bt.nparams)) return false;
    if (op == CIS__OP_TRY_TABLE && !catch_clauses(v)) return false;
    return push_ctrl(v, op, &bt);
  }
  case CIS__OP_THROW:
    if (!tag_index(v, &ft) || !pop_types(v, ft->vts, ft->nparams)) return false;
    set_unreachable(v);
    return true;
  case CIS__OP_THROW_REF:
    if (!pop_expect(v, CIS__EXNREF)) return false;
    set_unreachable(v);
    return true;
  case CIS__OP_CATCH: case CIS__OP_CATCH_ALL: { /* legacy: the try's body (or a catch) ends */
    uint16_t top = v->ctrls[v->nctrl - 1].op;
    if (top != CIS__OP_TRY && top != CIS__OP_CATCH) return verr(v, CIS_EINVALID, "catch without try");
    const cis__functype *tt = NULL;
    if (op == CIS__OP_CATCH && !tag_index(v, &tt)) return false;
    if (!pop_ctrl(v, &f)) return false;
    cis__blocktype bt = {.nparams = tt ? tt->nparams : 0, .vparams = tt ? tt->vts : NULL, .nresults = f.nr,
                         .vresults = f.results, .one = f.one};
    return push_ctrl(v, op, &bt);
  }
  case CIS__OP_DELEGATE: /* legacy: ends a try whose exceptions go to label x (outside the try) */
    if (v->ctrls[v->nctrl - 1].op != CIS__OP_TRY) return verr(v, CIS_EINVALID, "delegate without try");
    x = rd_u32(v);
    if (!pop_ctrl(v, &f)) return false;
    if (x >= v->nctrl) return verr(v, CIS_EINVALID, "unknown label");
    return push_types(v, frame_results(&f), f.nr);
  case CIS__OP_RETHROW: /* legacy: the exception a catch around took */
    x = rd_u32(v);
    if (x >= v->nctrl) return verr(v, CIS_EINVALID, "unknown label");
    if (v->ctrls[v->nctrl - 1 - x].op != CIS__OP_CATCH && v->ctrls[v->nctrl - 1 - x].op != CIS__OP_CATCH_ALL)
      return verr(v, CIS_EINVALID, "invalid rethrow label");
    set_unreachable(v);
    return true;
  case CIS__OP_ELSE: {
    if (v->ctrls[v->nctrl - 1].op != CIS__OP_IF) return verr(v, CIS_EINVALID, "else without if");
    if (!pop_ctrl(v, &f)) return false;
    cis__blocktype bt = {.nparams = f.np, .nresults = f.nr, .vparams = f.params, .vresults = f.results, .one = f.one};
    return push_ctrl(v, CIS__OP_ELSE, &bt);
  }
  case CIS__OP_END:
    if (!pop_ctrl(v, &f)) return false;
    /* An if without else passes its parameters through as results. */
    if (f.op == CIS__OP_IF && (f.np != f.nr || !vts_sub(m, f.params, frame_results(&f), f.np))) return mismatch(v);
    if (v->nctrl == 0) {
      *done = true;
      return true;
    }
    return push_types(v, frame_results(&f), f.nr);
  case CIS__OP_BR: case CIS__OP_BR_IF: {
    x = rd_u32(v);
    if (x >= v->nctrl) return verr(v, CIS_EINVALID, "unknown label");
    const uint32_t *ts;
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
    const uint32_t *dts;
    uint32_t arity;
    label_types(&v->ctrls[v->nctrl - 1 - def], &dts, &arity);
    const uint8_t *lp = labels;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t l = 0;
      cis__read_u32(&lp, v->end, &l);
      if (l >= v->nctrl) return verr(v, CIS_EINVALID, "unknown label");
      const uint32_t *ts;
      uint32_t k;
      label_types(&v->ctrls[v->nctrl - 1 - l], &ts, &k);
      if (k != arity) return mismatch(v);
      /* Check this label's types against the stack, then put the values back. */
      uint32_t *copy = malloc(((size_t)k + 1) * sizeof *copy);
      if (!copy) return verr(v, CIS_ENOMEM, "out of memory");
      for (uint32_t j = k; j-- > 0;) {
        uint32_t t;
        if (!pop(v, &t)) {
          free(copy);
          return false;
        }
        if (!vt_sub(m, t, ts[j])) {
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
    if (!pop_types(v, frame_results(fn), fn->nr)) return false;
    set_unreachable(v);
    return true;
  }
  case CIS__OP_CALL:
    x = rd_u32(v);
    if (x >= m->nfuncs) return verr(v, CIS_EINVALID, "unknown function %u", x);
    ft = cis__module_func_type(m, x);
    return pop_types(v, ft->vts, ft->nparams) && push_types(v, ft->vts + ft->nparams, ft->nresults);
  case CIS__OP_CALL_INDIRECT:
    x = rd_u32(v);
    y = rd_u32(v);
    if (!check_table(v, y)) return false;
    if (!func_type_index(v, x, y, &ft)) return false;
    return pop_expect(v, cis__table_addr_type(m, y)) && pop_types(v, ft->vts, ft->nparams) &&
           push_types(v, ft->vts + ft->nparams, ft->nresults);
  case CIS__OP_CALL_REF:
    return type_index(v, &ft, &x) && pop_expect(v, cis__vt_typed(x, true)) && pop_types(v, ft->vts, ft->nparams) &&
           push_types(v, ft->vts + ft->nparams, ft->nresults);
  case CIS__OP_RETURN_CALL: case CIS__OP_RETURN_CALL_INDIRECT: case CIS__OP_RETURN_CALL_REF:
    if (op == CIS__OP_RETURN_CALL) {
      x = rd_u32(v);
      if (x >= m->nfuncs) return verr(v, CIS_EINVALID, "unknown function %u", x);
      ft = cis__module_func_type(m, x);
    } else if (op == CIS__OP_RETURN_CALL_REF) {
      if (!type_index(v, &ft, &x) || !pop_expect(v, cis__vt_typed(x, true))) return false;
    } else {
      x = rd_u32(v);
      y = rd_u32(v);
      if (!check_table(v, y)) return false;
      if (!func_type_index(v, x, y, &ft)) return false;
      if (!pop_expect(v, cis__table_addr_type(m, y))) return false;
    }
    if (!tail_results(v, ft) || !pop_types(v, ft->vts, ft->nparams)) return false;
    set_unreachable(v);
    return true;
  case CIS__OP_DROP: return pop(v, &t1);
  case CIS__OP_SELECT:
    if (!pop_expect(v, CIS__I32) || !pop(v, &t1) || !pop(v, &t2)) return false;
    if ((t1 != UNK && !is_numvec(t1)) || (t2 != UNK && !is_numvec(t2))) return mismatch(v);
    if (t1 != UNK && t2 != UNK && t1 != t2) return mismatch(v);
    return push(v, t1 == UNK ? t2 : t1);
  case CIS__OP_SELECT_T: {
    uint32_t n = rd_u32(v);
    if (n != 1) return verr(v, CIS_EINVALID, "invalid result arity");
    uint32_t t;
    return value_type(v, &t) && pop_expect(v, CIS__I32) && pop_expect(v, t) && pop_expect(v, t) && push(v, t);
  }
  case CIS__OP_LOCAL_GET:
    if (!local_index(v, &x)) return false;
    if (!v->linit[x]) return verr(v, CIS_EINVALID, "uninitialized local %u", x);
    return push(v, v->locals[x]);
  case CIS__OP_LOCAL_SET: case CIS__OP_LOCAL_TEE:
    if (!local_index(v, &x) || !pop_expect(v, v->locals[x])) return false;
    if (!v->linit[x]) { /* set until the end of this block */
      if (v->nset == v->capset) {
        size_t n = v->capset ? v->capset * 2 : 16;
        uint32_t *p = realloc(v->set, n * sizeof *p);
        if (!p) return verr(v, CIS_ENOMEM, "out of memory");
        v->set = p;
        v->capset = n;
      }
      v->set[v->nset++] = x;
      v->linit[x] = 1;
    }
    return op == CIS__OP_LOCAL_SET || push(v, v->locals[x]);
  case CIS__OP_GLOBAL_GET: case CIS__OP_GLOBAL_SET:
    x = rd_u32(v);
    if (x >= m->nglobals) return verr(v, CIS_EINVALID, "unknown global %u", x);
    if (op == CIS__OP_GLOBAL_GET) return push(v, m->globals[x].type.vt);
    if (!m->globals[x].type.mutable_)
      return verr(v, CIS_EINVALID, "%s", v->m->standard >= CIS__STD_3 ? "immutable global" : "global is immutable");
    return pop_expect(v, m->globals[x].type.vt);
  case CIS__OP_TABLE_GET: case CIS__OP_TABLE_SET:
    x = rd_u32(v);
    if (!check_table(v, x)) return false;
    if (op == CIS__OP_TABLE_GET) return pop_expect(v, cis__table_addr_type(m, x)) && push(v, m->tables[x].vt);
    return pop_expect(v, m->tables[x].vt) && pop_expect(v, cis__table_addr_type(m, x));
  case CIS__OP_TABLE_GROW:
    x = rd_u32(v);
    if (!check_table(v, x)) return false;
    return pop_expect(v, cis__table_addr_type(m, x)) && pop_expect(v, m->tables[x].vt) &&
           push(v, cis__table_addr_type(m, x));
  case CIS__OP_TABLE_FILL:
    x = rd_u32(v);
    if (!check_table(v, x)) return false;
    return pop_expect(v, cis__table_addr_type(m, x)) && pop_expect(v, m->tables[x].vt) &&
           pop_expect(v, cis__table_addr_type(m, x));
  case CIS__OP_REF_NULL: {
    uint32_t t = CIS__FUNCREF;
    if (m->standard >= CIS__STD_3) cis__read_heaptype(&v->p, v->end, &t);
    else t = *v->p++; /* 2.0: the decoder read a reference type's byte */
    if (!vt_known(t, m->ntypes)) return verr(v, CIS_EINVALID, "unknown type");
    return push(v, t);
  }
  case CIS__OP_REF_IS_NULL: return pop_ref(v, &t1) && push(v, CIS__I32);
  case CIS__OP_REF_EQ: return pop_expect(v, CIS__EQREF) && pop_expect(v, CIS__EQREF) && push(v, CIS__I32);
  case CIS__OP_REF_AS_NON_NULL:
    if (!pop_ref(v, &t1)) return false;
    return push(v, t1 == UNK ? UNK : t1 | CIS__VT_NONNULL);
  case CIS__OP_BR_ON_NULL: case CIS__OP_BR_ON_NON_NULL: {
    x = rd_u32(v);
    if (x >= v->nctrl) return verr(v, CIS_EINVALID, "unknown label");
    const uint32_t *ts;
    uint32_t n;
    label_types(&v->ctrls[v->nctrl - 1 - x], &ts, &n);
    if (!pop_ref(v, &t1)) return false;
    uint32_t nonnull = t1 == UNK ? UNK : t1 | CIS__VT_NONNULL;
    if (op == CIS__OP_BR_ON_NULL) /* the label's values, then the reference without its null */
      return pop_types(v, ts, n) && push_types(v, ts, n) && push(v, nonnull);
    /* The label takes the non-null reference last; null falls through. */
    if (n == 0 || !cis__vt_is_ref(ts[n - 1])) return mismatch(v);
    return push(v, nonnull) && pop_types(v, ts, n) && push_types(v, ts, n - 1);
  }
  case CIS__OP_REF_FUNC:
    x = rd_u32(v);
    if (x >= m->nfuncs) return verr(v, CIS_EINVALID, "unknown function %u", x);
    if (!m->func_declared || !m->func_declared[x]) return verr(v, CIS_EINVALID, "undeclared function reference");
    return push(v, cis__vt_typed(m->func_type[x], false));
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
  v->apat = NULL;
  return fixed_immediates(v, op, oi) && typed(v, oi->sig);
}

static bool validate_body(vx *v, uint32_t fidx) {
  const cis__module *m = v->m;
  const cis__code *c = &m->codes[fidx - m->nfunc_imports];
  const cis__functype *ft = cis__module_func_type(m, fidx);
  v->nlocals = ft->nparams + c->nlocals;
  if (v->nlocals > v->capl) { /* grows to the largest function, never per function */
    size_t n = v->capl ? v->capl : 64;
    while (n < v->nlocals) n *= 2;
    uint32_t *p = realloc(v->locals, n * sizeof *p);
    if (p) v->locals = p;
    uint8_t *q = realloc(v->linit, n);
    if (q) v->linit = q;
    if (!p || !q) return verr(v, CIS_ENOMEM, "out of memory");
    v->capl = n;
  }
  if (ft->nparams) memcpy(v->locals, ft->vts, ft->nparams * sizeof *v->locals);
  /* Expand the run-length groups (the decoder checked them and their sum). */
  const uint8_t *g = c->locals, *gend = c->body;
  size_t at = ft->nparams;
  for (uint32_t k = 0; k < c->nlocal_groups; k++) {
    uint32_t count, t;
    if (!cis__read_u32(&g, gend, &count) || count > v->nlocals - at || cis__read_valtype(&g, gend, true, &t))
      return verr(v, CIS_EMALFORMED, "malformed locals");
    if (!vt_known(t, m->ntypes)) return verr(v, CIS_EINVALID, "unknown type");
    for (uint32_t i = 0; i < count; i++) v->locals[at + i] = t;
    at += count;
  }
  if (at != v->nlocals) return verr(v, CIS_EMALFORMED, "malformed locals");
  for (uint32_t i = 0; i < v->nlocals; i++) v->linit[i] = i < ft->nparams || cis__vt_defaultable(v->locals[i]);
  v->p = c->body;
  v->end = c->body + c->body_len;
  v->nvals = v->nctrl = v->nset = 0;
  v->at = v->p;
  cis__blocktype fbt = {.nresults = ft->nresults, .vresults = ft->vts + ft->nparams};
  bool ok = push_ctrl(v, CIS__OP_BLOCK, &fbt);
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
static bool const_expr(const cis__module *m, const cis__expr *e, uint32_t want, uint32_t globals, cis__diag *d) {
  if (!e->len) return merr(d, CIS_ETYPE, "type mismatch"); /* no value: code may be NULL */
  const uint8_t *p = e->code, *end = e->code + e->len;
  uint32_t stack[CIS__CONST_MAX_DEPTH];
  int n = 0;
  while (p < end) {
    enum cis__op op = CIS__OP_COUNT;
    uint32_t t;
    uint32_t x;
    cis__op_read(&p, end, &op); /* the decoder read it already */
    switch (op) {
    case CIS__OP_END:
      if (n != 1 || !vt_sub(m, stack[0], want)) return merr(d, CIS_ETYPE, "type mismatch");
      return true;
    case CIS__OP_I32_CONST: { int32_t c; cis__read_s32(&p, end, &c); t = CIS__I32; break; }
    case CIS__OP_I64_CONST: { int64_t c; cis__read_s64(&p, end, &c); t = CIS__I64; break; }
    case CIS__OP_F32_CONST: p += 4; t = CIS__F32; break;
    case CIS__OP_F64_CONST: p += 8; t = CIS__F64; break;
    case CIS__OP_V128_CONST: p += 16; t = CIS__V128; break;
    case CIS__OP_REF_NULL:
      t = CIS__FUNCREF;
      if (m->standard >= CIS__STD_3) cis__read_heaptype(&p, end, &t);
      else t = *p++;
      if (!vt_known(t, m->ntypes)) return merr(d, CIS_EINVALID, "unknown type");
      break;
    case CIS__OP_REF_FUNC:
      cis__read_u32(&p, end, &x);
      if (x >= m->nfuncs) return merr(d, CIS_EINVALID, "unknown function %u", x);
      t = cis__vt_typed(m->func_type[x], false);
      break;
    case CIS__OP_GLOBAL_GET:
      cis__read_u32(&p, end, &x);
      if (x >= globals) return merr(d, CIS_EINVALID, "unknown global %u", x);
      if (m->globals[x].type.mutable_) return merr(d, CIS_EINVALID, "constant expression required");
      t = m->globals[x].type.vt;
      break;
    case CIS__OP_STRUCT_NEW: case CIS__OP_STRUCT_NEW_DEFAULT: case CIS__OP_ARRAY_NEW:
    case CIS__OP_ARRAY_NEW_DEFAULT: case CIS__OP_ARRAY_NEW_FIXED: case CIS__OP_REF_I31:
    case CIS__OP_ANY_CONVERT_EXTERN: case CIS__OP_EXTERN_CONVERT_ANY: { /* GC's constant ones (3.0) */
      uint32_t want[2], nw = 0, cnt = 0;
      const cis__functype *ft = NULL;
      if (op != CIS__OP_REF_I31 && op != CIS__OP_ANY_CONVERT_EXTERN && op != CIS__OP_EXTERN_CONVERT_ANY) {
        cis__read_u32(&p, end, &x);
        if (x >= m->ntypes) return merr(d, CIS_EINVALID, "unknown type %u", x);
        ft = &m->types[x];
        if (ft->comp != (op <= CIS__OP_STRUCT_NEW_DEFAULT ? CIS__COMP_STRUCT : CIS__COMP_ARRAY))
          return merr(d, CIS_ETYPE, "type mismatch");
        if (op == CIS__OP_ARRAY_NEW_FIXED) cis__read_u32(&p, end, &cnt);
        if (cnt > CIS__MAX_ARRAY_FIXED) return merr(d, CIS_EINVALID, "array.new_fixed of %u values: too many", cnt);
      }
      /* what it pops, last first: cnt values of one type, or up to two */
      uint32_t np = op == CIS__OP_STRUCT_NEW ? ft->nparams : op == CIS__OP_ARRAY_NEW_FIXED ? cnt : 0;
      if (op == CIS__OP_ARRAY_NEW) want[nw++] = CIS__I32, want[nw++] = unpacked(ft->vts[0]);
      if (op == CIS__OP_ARRAY_NEW_DEFAULT || op == CIS__OP_REF_I31) want[nw++] = CIS__I32;
      if (op == CIS__OP_ANY_CONVERT_EXTERN) want[nw++] = CIS__EXTERNREF;
      if (op == CIS__OP_EXTERN_CONVERT_ANY) want[nw++] = CIS__ANYREF;
      if ((uint32_t)n < np + nw) return merr(d, CIS_ETYPE, "type mismatch");
      for (uint32_t k = 0; k < nw; k++)
        if (!vt_sub(m, stack[n - 1 - (int)k], want[k])) return merr(d, CIS_ETYPE, "type mismatch");
      for (uint32_t k = 0; k < np; k++)
        if (!vt_sub(m, stack[n - (int)np + (int)k],
                    unpacked(op == CIS__OP_STRUCT_NEW ? ft->vts[k] : ft->vts[0])))
          return merr(d, CIS_ETYPE, "type mismatch");
      if ((op == CIS__OP_STRUCT_NEW_DEFAULT || op == CIS__OP_ARRAY_NEW_DEFAULT))
        for (uint32_t k = 0; k < ft->nparams; k++)
          if (!cis__vt_defaultable(ft->vts[k])) return merr(d, CIS_ETYPE, "type mismatch");
      uint32_t last = nw ? stack[n - 1] : 0;
      n -= (int)(np + nw);
      if (op == CIS__OP_REF_I31) t = CIS__I31REF | CIS__VT_NONNULL;
      else if (op == CIS__OP_ANY_CONVERT_EXTERN || op == CIS__OP_EXTERN_CONVERT_ANY)
        t = (op == CIS__OP_ANY_CONVERT_EXTERN ? CIS__ANYREF : CIS__EXTERNREF) | (last & CIS__VT_NONNULL);
      else t = cis__vt_typed(x, false);
      break;
    }
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

static bool limits_ok(const cis__limits *l, uint64_t cap, const char *cap_msg, cis__diag *d) {
  if (l->min > cap || (l->has_max && l->max > cap)) return merr(d, CIS_EINVALID, "%s", cap_msg);
  if (l->has_max && l->min > l->max) return merr(d, CIS_EINVALID, "size minimum must not be greater than maximum");
  return true;
}

static void mark_refs_in_expr(const cis__module *m, const cis__expr *e, uint8_t *decl) {
  if (!e->len) return; /* none (a table without an initialiser): code may be NULL */
  const uint8_t *p = e->code, *end = e->code + e->len;
  enum cis__op op;
  if (cis__op_read(&p, end, &op) == CIS__OPREAD_OK && op == CIS__OP_REF_FUNC) {
    uint32_t x = 0;
    cis__read_u32(&p, end, &x);
    if (x < m->nfuncs) decl[x] = 1;
  }
}

/* A reference to type x in a group key (cis__group_key): plus one, so
 * that 0 is none; inside the group its position with the top bit set. */
static uint64_t key_ref(uint32_t x, uint32_t first, const uint32_t *ids) {
  return x >= first ? (0x80000000u | (uint64_t)(x - first)) + 1 : (uint64_t)(ids ? ids[x] : x) + 1;
}

size_t cis__group_key_len(const cis__functype *types, uint32_t first, uint32_t n) {
  size_t len = 1;
  for (uint32_t i = first; i < first + n; i++) len += 2 + (size_t)types[i].nparams + types[i].nresults;
  return len;
}

size_t cis__group_key(const cis__functype *types, uint32_t first, uint32_t n, const uint32_t *ids, uint64_t *out) {
  size_t w = 0;
  out[w++] = n;
  for (uint32_t i = first; i < first + n; i++) {
    const cis__functype *t = &types[i];
    uint64_t sup = t->super ? key_ref(t->super - 1, first, ids) : 0;
    out[w++] = sup << 32 | (uint64_t)t->open << 8 | (t->comp ? t->comp : CIS__COMP_FUNC);
    out[w++] = (uint64_t)t->nparams << 32 | t->nresults;
    for (uint32_t k = 0; k < t->nparams + t->nresults; k++) {
      uint32_t vt = t->vts ? t->vts[k] : t->types[k];
      uint64_t ref = cis__vt_has_idx(vt) ? key_ref(cis__vt_idx(vt), first, ids) : 0;
      uint32_t mut = t->mut && t->mut[k] ? 1u << 16 : 0;
      out[w++] = ref << 32 | mut | (vt & ((1u << CIS__VT_IDX_SHIFT) - 1));
    }
  }
  return w;
}

/* Does storage type a (mutable or not) match b's field? */
static bool field_sub(const cis__module *m, uint32_t a, uint32_t b, bool mut) {
  return vt_sub(m, a, b) && (!mut || vt_sub(m, b, a));
}

/* Does type i match the supertype it declares (composite, fields)? */
static bool declared_sub_ok(const cis__module *m, uint32_t i) {
  const cis__functype *a = &m->types[i], *b = &m->types[a->super - 1];
  if (!b->open || (a->comp ? a->comp : CIS__COMP_FUNC) != (b->comp ? b->comp : CIS__COMP_FUNC)) return false;
  if (cis__is_functype(a)) {
    if (a->nparams != b->nparams || a->nresults != b->nresults) return false;
    return vts_sub(m, b->vts, a->vts, a->nparams) &&
           vts_sub(m, a->vts + a->nparams, b->vts + b->nparams, a->nresults);
  }
  if (a->nparams < b->nparams || (a->comp == CIS__COMP_ARRAY && a->nparams != b->nparams)) return false;
  for (uint32_t k = 0; k < b->nparams; k++)
    if (a->mut[k] != b->mut[k] || !field_sub(m, a->vts[k], b->vts[k], b->mut[k])) return false;
  return true;
}

/* One recursion group's key in the validator's table. */
typedef struct group_ent {
  uint32_t first;  /* its first type + 1; 0 free */
  uint32_t len;    /* words of its key */
  uint64_t *key;   /* into the keys buffer */
} group_ent;

/* Checks what each type names (field types: the types up to the end of
 * its group; a supertype: a type before it), fills m->type_rep (module.h)
 * by recursion groups through a hash table of their canonical keys, then
 * checks the declared subtypes: a supertype that is not final, of the
 * same composite type, whose fields each match, at most
 * CIS__MAX_SUBTYPE_DEPTH deep. Work and memory are linear in the types'
 * size; nothing recurses. */
static bool type_reps(cis__module *m, cis__diag *d) {
  size_t words = 0;
  uint32_t ngroups = 0;
  for (uint32_t i = 0; i < m->ntypes; i++) {
    const cis__functype *t = &m->types[i];
    uint32_t end = t->nrec ? t->rec + t->nrec : i + 1;
    for (uint32_t k = 0; k < t->nparams + t->nresults; k++)
      if (!vt_known(t->vts[k], end)) return merr(d, CIS_EINVALID, "unknown type %u", cis__vt_idx(t->vts[k]));
    if (t->super && t->super - 1 >= i) return merr(d, CIS_EINVALID, "unknown type %u", t->super - 1);
    if (!t->nrec || t->rec == i) {
      ngroups++;
      words += cis__group_key_len(m->types, i, t->nrec ? t->nrec : 1);
    }
  }
  size_t cap = 16;
  while (cap < 2 * (size_t)ngroups) cap *= 2;
  m->type_rep = malloc(((size_t)m->ntypes + 1) * sizeof *m->type_rep);
  group_ent *tab = calloc(cap, sizeof *tab);
  uint64_t *keys = malloc((words ? words : 1) * sizeof *keys);
  uint8_t *depth = calloc(m->ntypes ? m->ntypes : 1, 1);
  bool ok = m->type_rep && tab && keys && depth;
  if (!ok) merr(d, CIS_ENOMEM, "out of memory");
  uint64_t *kp = keys;
  for (uint32_t i = 0; ok && i < m->ntypes;) {
    uint32_t n = m->types[i].nrec ? m->types[i].nrec : 1;
    uint32_t len = (uint32_t)cis__group_key(m->types, i, n, m->type_rep, kp);
    uint64_t h = 1469598103934665603ull;
    for (uint32_t k = 0; k < len; k++) h = (h ^ kp[k]) * 1099511628211ull;
    size_t at = (size_t)(h ^ h >> 29) & (cap - 1);
    while (tab[at].first && (tab[at].len != len || memcmp(tab[at].key, kp, len * sizeof *kp)))
      at = (at + 1) & (cap - 1);
    if (!tab[at].first) tab[at] = (group_ent){.first = i + 1, .len = len, .key = kp};
    for (uint32_t k = 0; k < n; k++) m->type_rep[i + k] = tab[at].first - 1 + k;
    kp += len;
    i += n;
  }
  for (uint32_t i = 0; ok && i < m->ntypes; i++) {
    const cis__functype *t = &m->types[i];
    if (!t->super) continue;
    if (depth[t->super - 1] >= CIS__MAX_SUBTYPE_DEPTH)
      ok = merr(d, CIS_EINVALID, "sub type %u: subtyping deeper than %u", i, CIS__MAX_SUBTYPE_DEPTH);
    else if (!declared_sub_ok(m, i))
      ok = merr(d, CIS_EINVALID, "sub type %u does not match its supertype %u", i, t->super - 1);
    depth[i] = (uint8_t)(depth[t->super - 1] + 1);
  }
  free(tab);
  free(keys);
  free(depth);
  return ok;
}

/* The types a module names outside function bodies: those of imports,
 * tables, globals and element segments must be in the module; a table of
 * a non-null type needs an initialiser. */
static bool module_types(const cis__module *m, cis__diag *d) {
  for (uint32_t i = 0; i < m->ntables; i++) {
    const cis__tabletype *t = &m->tables[i];
    if (!vt_known(t->vt, m->ntypes)) return merr(d, CIS_EINVALID, "unknown type %u", cis__vt_idx(t->vt));
    if (!t->init.len && !cis__vt_defaultable(t->vt)) return merr(d, CIS_ETYPE, "type mismatch");
  }
  for (uint32_t i = 0; i < m->nglobals; i++)
    if (!vt_known(m->globals[i].type.vt, m->ntypes))
      return merr(d, CIS_EINVALID, "unknown type %u", cis__vt_idx(m->globals[i].type.vt));
  for (uint32_t i = 0; i < m->nelems; i++)
    if (!vt_known(m->elems[i].vt, m->ntypes)) return merr(d, CIS_EINVALID, "unknown type %u", cis__vt_idx(m->elems[i].vt));
  return true;
}

static int export_cmp(const void *a, const void *b) {
  const cis__export *x = *(const cis__export *const *)a, *y = *(const cis__export *const *)b;
  if (x->name_len != y->name_len) return x->name_len < y->name_len ? -1 : 1;
  return memcmp(x->name, y->name, x->name_len);
}

cis_result cis__module_validate(cis__module *m, cis__diag *d) {
  memset(d, 0, sizeof *d);
  if (!type_reps(m, d)) return d->code;
  for (uint32_t i = 0; i < m->nfuncs; i++) {
    if (m->func_type[i] >= m->ntypes) return merr(d, CIS_EINVALID, "unknown type %u", m->func_type[i]), d->code;
    if (!cis__is_functype(&m->types[m->func_type[i]]))
      return merr(d, CIS_ETYPE, "type mismatch: function %u's type %u is not a function type", i, m->func_type[i]),
             d->code;
  }
  if (!module_types(m, d)) return d->code;
  for (uint32_t i = 0; i < m->ntags; i++) {
    if (m->tag_type[i] >= m->ntypes) return merr(d, CIS_EINVALID, "unknown type %u", m->tag_type[i]), d->code;
    if (!cis__is_functype(&m->types[m->tag_type[i]]))
      return merr(d, CIS_ETYPE, "type mismatch: tag %u's type is not a function type", i), d->code;
    if (m->types[m->tag_type[i]].nresults) return merr(d, CIS_EINVALID, "non-empty tag result type"), d->code;
  }
  for (uint32_t i = 0; i < m->ntables; i++)
    if (!limits_ok(&m->tables[i].limits, m->tables[i].limits.is64 ? UINT64_MAX : UINT32_MAX, "table size", d))
      return d->code;
  if (m->nmemories > 1 && m->standard < CIS__STD_3) return merr(d, CIS_EINVALID, "multiple memories"), d->code;
  for (uint32_t i = 0; i < m->nmemories; i++)
    if (!(m->memories[i].is64
              ? limits_ok(&m->memories[i], CIS__MAX_MEMORY64_PAGES, "memory size must be at most 2^48 pages", d)
              : limits_ok(&m->memories[i], CIS__MAX_MEMORY_PAGES, "memory size must be at most 65536 pages (4GiB)", d)))
      return d->code;
  /* C.refs: function references outside function bodies. */
  m->func_declared = calloc(m->nfuncs ? m->nfuncs : 1, 1);
  if (!m->func_declared) return d->code = CIS_ENOMEM;
  for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++) mark_refs_in_expr(m, &m->globals[i].init, m->func_declared);
  for (uint32_t i = m->ntable_imports; i < m->ntables; i++) mark_refs_in_expr(m, &m->tables[i].init, m->func_declared);
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
    if (!const_expr(m, &m->globals[i].init, m->globals[i].type.vt, std3 ? i : m->nglobal_imports, d))
      return d->code;
  /* A table's initialiser reads imported globals only: tables come
   * before the globals defined by the module. */
  for (uint32_t i = m->ntable_imports; i < m->ntables; i++)
    if (m->tables[i].init.len && !const_expr(m, &m->tables[i].init, m->tables[i].vt, m->nglobal_imports, d))
      return d->code;
  cis__export **sorted = malloc((m->nexports ? m->nexports : 1) * sizeof *sorted);
  if (!sorted) return d->code = CIS_ENOMEM;
  for (uint32_t i = 0; i < m->nexports; i++) {
    const cis__export *e = &m->exports[i];
    sorted[i] = &m->exports[i];
    uint32_t lim = e->kind == CIS_EXTERN_FUNC ? m->nfuncs : e->kind == CIS_EXTERN_TABLE ? m->ntables
                 : e->kind == CIS_EXTERN_MEMORY ? m->nmemories : e->kind == CIS_EXTERN_GLOBAL ? m->nglobals
                 : m->ntags;
    static const char *const what[] = {"unknown function", "unknown table", "unknown memory", "unknown global",
                                       "unknown tag"};
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
      if (!const_expr(m, &e->offset, cis__table_addr_type(m, e->table), seg_globals, d)) return d->code;
      if (!vt_sub(m, e->vt, m->tables[e->table].vt)) return merr(d, CIS_ETYPE, "type mismatch"), d->code;
    }
    for (uint32_t k = 0; k < e->count; k++) {
      if (e->funcs && e->funcs[k] >= m->nfuncs) return merr(d, CIS_EINVALID, "unknown function %u", e->funcs[k]), d->code;
      if (e->exprs && !const_expr(m, &e->exprs[k], e->vt, seg_globals, d)) return d->code;
    }
  }
  for (uint32_t i = 0; i < m->ndatas; i++) {
    const cis__data *dd = &m->datas[i];
    if (dd->mode != CIS__SEG_ACTIVE) continue;
    if (dd->memory >= m->nmemories) return merr(d, CIS_EINVALID, "unknown memory %u", dd->memory), d->code;
    if (!const_expr(m, &dd->offset, cis__mem_addr_type(m, dd->memory), seg_globals, d)) return d->code;
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
  free(v.linit);
  free(v.set);
  return d->code;
}
