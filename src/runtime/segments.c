/*
 * This file implements the runtime's part of WebAssembly's semantics that
 * both engines share with instantiation: the value of a constant
 * expression, the items of element segments, and the bulk instructions
 * on segments and tables (table.init, table.copy, memory.init). The
 * interpreter calls them from its handlers (interp/execute.c), the
 * compiled tier's runtime services from compiled code (aot/aot.c), and
 * instantiation for the active segments and global initialisers
 * (instance.c): one implementation, so a fix to their meaning lands once.
 * The cheap ones (memory.copy, memory.fill, table.fill) are static inline
 * in runtime.h for the interpreter's handlers. Also here: the image of
 * memory 0's initial contents (its active segments laid out at their
 * offsets), which instantiation may map from a file the engine keeps
 * instead of copying the segments (instance.c, objects.c).
 */
#include <string.h>

#include "runtime/gc.h"
#include "runtime/rt_internal.h"
#include "wasm/opcodes.h"

/* The constant expression was validated: constant instructions, i32 and
 * i64 add, sub and mul, one value left at `end`, a stack at most
 * CIS__CONST_MAX_DEPTH deep, and a global.get reads an imported global or
 * one defined before the one being initialised (the validator guarantees
 * the index is below nglobals of the instance being built). A v128 result
 * is one instruction (no arithmetic on it): cis__const_v128 reads it. */
cis_slot cis__const_value(const cis_instance *inst, const cis__expr *x) {
  /* a v128's low 8 bytes in st, its high ones in hi (what GC's
   * constant instructions store whole); the value is st's */
  cis_slot st[CIS__CONST_MAX_DEPTH], hi[CIS__CONST_MAX_DEPTH];
  int n = 0;
  if (!x->len) return (cis_slot){.u64 = 0}; /* validated: never; its code may be NULL */
  const uint8_t *p = x->code, *end = x->code + x->len;
  while (p < end) {
    enum cis__op op = CIS__OP_COUNT;
    if (cis__op_read(&p, end, &op) != CIS__OPREAD_OK || op == CIS__OP_END) break;
    cis_slot v = {.u64 = 0}, vh = {.u64 = 0};
    uint32_t ix = 0;
    switch (op) {
    case CIS__OP_I32_CONST: { int32_t c = 0; cis__read_s32(&p, end, &c); v.u64 = (uint32_t)c; break; }
    case CIS__OP_I64_CONST: { int64_t c = 0; cis__read_s64(&p, end, &c); v.u64 = (uint64_t)c; break; }
    case CIS__OP_F32_CONST: { uint32_t b = 0; memcpy(&b, p, 4); p += 4; v.u64 = b; break; }
    case CIS__OP_F64_CONST: memcpy(&v.u64, p, 8); p += 8; break;
    case CIS__OP_V128_CONST: memcpy(&v.u64, p, 8), memcpy(&vh.u64, p + 8, 8); p += 16; break;
    case CIS__OP_REF_NULL: { uint32_t ht; cis__read_heaptype(&p, end, &ht); break; }
    case CIS__OP_REF_FUNC: cis__read_u32(&p, end, &ix); v.funcref = inst->funcs[ix]; break;
    case CIS__OP_GLOBAL_GET:
      cis__read_u32(&p, end, &ix);
      v = inst->globals[ix]->val;
      if (inst->globals[ix]->type == CIS__V128) memcpy(&vh.u64, inst->globals[ix]->v128 + 8, 8);
      break;
    case CIS__OP_STRUCT_NEW: case CIS__OP_STRUCT_NEW_DEFAULT: case CIS__OP_ARRAY_NEW:
    case CIS__OP_ARRAY_NEW_DEFAULT: case CIS__OP_ARRAY_NEW_FIXED: case CIS__OP_REF_I31:
    case CIS__OP_ANY_CONVERT_EXTERN: case CIS__OP_EXTERN_CONVERT_ANY:
      /* GC's: an object (null when it cannot be allocated) replaces its operands */
      cis__gc_const_op(inst, op, &p, end, st, hi, &n);
      continue;
    default: { /* add, sub or mul of the two values on top */
      if (n < 2) return (cis_slot){.u64 = 0}; /* not after validation */
      uint64_t b = st[--n].u64, a = st[--n].u64;
      bool wide = op == CIS__OP_I64_ADD || op == CIS__OP_I64_SUB || op == CIS__OP_I64_MUL;
      uint64_t r = op == CIS__OP_I32_ADD || op == CIS__OP_I64_ADD   ? a + b
                   : op == CIS__OP_I32_SUB || op == CIS__OP_I64_SUB ? a - b
                                                                    : a * b;
      v.u64 = wide ? r : (uint32_t)r;
      break;
    }
    }
    if (n == CIS__CONST_MAX_DEPTH) break; /* not after validation */
    hi[n] = vh;
    st[n++] = v;
  }
  return n ? st[n - 1] : (cis_slot){.u64 = 0};
}

void cis__const_v128(const cis_instance *inst, const cis__expr *x, uint8_t out[16]) {
  cis__constexpr c;
  cis__constexpr_decode(x, &c);
  if (c.op == 0x23) memcpy(out, inst->globals[c.index]->v128, 16); /* global.get */
  else memcpy(out, c.v128, 16); /* v128.const; zero for anything else */
}

void *cis__elem_item(const cis_instance *inst, const cis__elem *s, uint32_t k) {
  if (s->funcs) return inst->funcs[s->funcs[k]];
  const cis_table *vals = inst->elem_vals ? inst->elem_vals[s - inst->m->elems] : NULL;
  if (vals) return vals->elems[k]; /* evaluated at instantiation: the same objects each time */
  cis_slot v = cis__const_value(inst, &s->exprs[k]);
  return s->type == CIS__FUNCREF ? (void *)v.funcref : v.externref;
}

cis_result cis__table_init(cis_instance *inst, uint32_t seg, uint32_t ti, uint64_t d, uint64_t s,
                           uint64_t n) {
  const cis__elem *e = &inst->m->elems[seg];
  cis_table *t = inst->tables[ti];
  uint64_t len = inst->elem_dropped[seg] ? 0 : e->count;
  if (!cis__in_bounds(s, n, len) || !cis__in_bounds(d, n, t->size)) return CIS_TRAP_TABLE_OOB;
  for (uint64_t k = 0; k < n; k++) t->elems[d + k] = cis__elem_item(inst, e, (uint32_t)(s + k));
  return CIS_OK;
}

cis_result cis__table_copy(cis_instance *inst, uint32_t dt, uint32_t st, uint64_t d, uint64_t s,
                           uint64_t n) {
  cis_table *a = inst->tables[dt], *b = inst->tables[st];
  if (!cis__in_bounds(s, n, b->size) || !cis__in_bounds(d, n, a->size)) return CIS_TRAP_TABLE_OOB;
  if (n) memmove(&a->elems[d], &b->elems[s], (size_t)n * sizeof *a->elems);
  return CIS_OK;
}

cis_result cis__memory_init(cis_instance *inst, uint32_t seg, uint32_t mi, uint64_t d, uint64_t s,
                            uint64_t n) {
  const cis__data *ds = &inst->m->datas[seg];
  cis_memory *mem = inst->memories[mi];
  uint64_t len = inst->data_dropped[seg] ? 0 : ds->len;
  if (!cis__in_bounds(s, n, len) || !cis__in_bounds(d, n, mem->size)) return CIS_TRAP_MEM_OOB;
  if (n) memcpy(mem->base + d, ds->bytes + s, n);
  return CIS_OK;
}

/* ------------------------------------------------------ memory 0's image */

/* The value of offset expression x when it reads no global (i32.const,
 * and the extended constants' i32 add, sub and mul of them): true and
 * *off, else false. */
static bool const_offset(const cis__expr *x, uint32_t *off) {
  if (!x->len) return false; /* its code may be NULL */
  const uint8_t *p = x->code, *end = x->code + x->len;
  while (p < end) {
    enum cis__op op = CIS__OP_COUNT;
    if (cis__op_read(&p, end, &op) != CIS__OPREAD_OK) return false;
    if (op == CIS__OP_END) break;
    if (op == CIS__OP_I32_CONST) {
      int32_t c;
      if (!cis__read_s32(&p, end, &c)) return false;
    } else if (op != CIS__OP_I32_ADD && op != CIS__OP_I32_SUB && op != CIS__OP_I32_MUL) {
      return false;
    }
  }
  *off = cis__const_value(NULL, x).u32; /* reads no instance: no global.get, no ref.func */
  return true;
}

bool cis__data_image_next(const cis__module *m, uint32_t *i, uint32_t *off) {
  for (; *i < m->ndatas; ++*i) {
    const cis__data *d = &m->datas[*i];
    if (d->mode == CIS__SEG_ACTIVE && d->memory == 0) return const_offset(&d->offset, off);
  }
  return false;
}

bool cis__data_image_plan(const cis__module *m, uint64_t min_data, cis__data_image *out) {
  /* A 64-bit memory's offsets are i64 constants: copied, never imaged. */
  if (m->nmemories == 0 || m->nmemory_imports != 0 || m->memories[0].is64) return false;
  const uint64_t size = (uint64_t)m->memories[0].min * CIS__PAGE_SIZE;
  uint64_t lo = UINT64_MAX, hi = 0, data = 0;
  for (uint32_t i = 0; i < m->ndatas; i++) {
    const cis__data *d = &m->datas[i];
    if (d->mode != CIS__SEG_ACTIVE || d->memory != 0) continue;
    uint32_t off;
    if (!const_offset(&d->offset, &off) || off < hi || (uint64_t)off + d->len > size) return false;
    if (!d->len) continue;
    if (lo == UINT64_MAX) lo = off;
    hi = (uint64_t)off + d->len;
    data += d->len;
  }
  if (!data || data < min_data) return false;
  out->start = lo / CIS__PAGE_SIZE * CIS__PAGE_SIZE;
  out->len = (hi + CIS__PAGE_SIZE - 1) / CIS__PAGE_SIZE * CIS__PAGE_SIZE - out->start;
  out->data = data;
  return out->len <= 2 * data + CIS__PAGE_SIZE;
}

/* Whether the n bytes at p are all zero. */
static bool all_zero(const uint8_t *p, uint64_t n) {
  for (; n && ((uintptr_t)p & 7); n--)
    if (*p++) return false;
  uint64_t acc = 0;
  for (; n >= 64; n -= 64, p += 64) { /* eight words at a time: no branch per word */
    uint64_t w[8];
    memcpy(w, p, sizeof w);
    acc |= w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7];
    if (acc) return false;
  }
  for (; n; n--) acc |= *p++;
  return acc == 0;
}

bool cis__data_image_equal(const cis__module *m, const cis__data_image *plan, const uint8_t *img) {
  uint64_t at = plan->start; /* the memory offset checked up to */
  uint32_t off;
  for (uint32_t i = 0; cis__data_image_next(m, &i, &off); i++) {
    const cis__data *d = &m->datas[i];
    if (!d->len) continue;
    if (off < at || (uint64_t)off + d->len > plan->start + plan->len) return false;
    if (!all_zero(img + (at - plan->start), off - at) ||
        memcmp(img + (off - plan->start), d->bytes, d->len) != 0)
      return false;
    at = (uint64_t)off + d->len;
  }
  return all_zero(img + (at - plan->start), plan->start + plan->len - at);
}
