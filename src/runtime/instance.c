/*
 * This file implements instances: linking a module with its imports,
 * instantiation in exactly the order Wasm 2.0 gives, exports, the
 * bounds-checked guest-memory accessors, per-instance limits, user data,
 * the exit code, and the instance's lifetime.
 *
 * Instantiation order (spec 2.0, "instantiate"): resolve every import and
 * check its type; allocate memories, tables, functions; evaluate globals in
 * order; then run element segments in order (active ones are table.init +
 * elem.drop, declarative ones elem.drop), then data segments in order
 * (memory.init + data.drop), and finally the start function. A segment out
 * of bounds traps, and what earlier segments wrote stays written: in an
 * imported table or memory that is visible to its other users.
 *
 * Lifetime: an instance holds counted references to its module, to every
 * object it imports, and to every instance that defined an imported
 * function, table or global (the "deps"), because those may hold that
 * instance's functions. The reverse edge cannot be counted without cycles,
 * so when an instance is released while its own functions still sit in a
 * table or funcref global it imported (an elem segment of a failed
 * instantiation, or a table.set), it is pinned to the engine and freed with
 * it instead of leaving dangling functions behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/gc.h"
#include "runtime/rt_internal.h"

/* ---------------------------------------------------------------- deps */

/* Records that inst must keep owner alive. */
static cis_result add_dep(cis_instance *inst, cis_instance *owner) {
  if (!owner || owner == inst) return CIS_OK;
  for (uint32_t i = 0; i < inst->ndeps; i++)
    if (inst->deps[i] == owner) return CIS_OK;
  /* Capacity is ndeps rounded up to a power of two. */
  if (inst->ndeps == 0 || (inst->ndeps & (inst->ndeps - 1)) == 0) {
    size_t ncap = inst->ndeps ? (size_t)inst->ndeps * 2 : 1;
    cis_instance **nd = realloc(inst->deps, ncap * sizeof *nd);
    if (!nd) return CIS_ENOMEM;
    inst->deps = nd;
  }
  inst->deps[inst->ndeps++] = cis_instance_ref(owner);
  return CIS_OK;
}

/* ------------------------------------------------------------- linking */

static const char *kind_name(unsigned k) {
  switch (k) {
  case CIS_EXTERN_FUNC: return "function";
  case CIS_EXTERN_TABLE: return "table";
  case CIS_EXTERN_MEMORY: return "memory";
  case CIS_EXTERN_GLOBAL: return "global";
  case CIS_EXTERN_TAG: return "tag";
  default: return "external";
  }
}

/* Limits subtyping (spec 2.0, "import matching"): the provided object's
 * current size must reach the import's minimum, and when the import names
 * a maximum the object must declare one no larger. Writes the reason to
 * why and returns false on mismatch. */
static bool limits_match(const char *what, bool is64, uint64_t cur, bool has_max, uint64_t max,
                         const cis__limits *want, char *why, size_t n) {
  if (is64 != want->is64) { /* memory64, table64: the address types must be equal */
    snprintf(why, n, "%s address type differs: the module imports %s, the host provides %s", what,
             want->is64 ? "i64" : "i32", is64 ? "i64" : "i32");
    return false;
  }
  if (cur < want->min) {
    snprintf(why, n, "%s size %llu is below the minimum %llu", what, (unsigned long long)cur,
             (unsigned long long)want->min);
    return false;
  }
  if (want->has_max && !has_max) {
    snprintf(why, n, "%s has no maximum, the import needs one of at most %llu", what,
             (unsigned long long)want->max);
    return false;
  }
  if (want->has_max && max > want->max) {
    snprintf(why, n, "%s maximum %llu exceeds the import's %llu", what, (unsigned long long)max,
             (unsigned long long)want->max);
    return false;
  }
  return true;
}

/* "(i32, i64) -> (f32)" for n value types t (params then results), so a
 * mismatched import shows both signatures. */
static void fmt_sig(char *buf, size_t cap, uint32_t np, uint32_t nr, const cis_valtype *pt,
                    const cis_valtype *rt) {
  size_t used = 0;
  for (int side = 0; side < 2 && used < cap; side++) {
    uint32_t n = side ? nr : np;
    const cis_valtype *t = side ? rt : pt;
    used += (size_t)snprintf(buf + used, cap - used, "%s(", side ? " -> " : "");
    for (uint32_t i = 0; i < n && used < cap; i++) {
      const char *nm = t[i] == CIS_I32 ? "i32" : t[i] == CIS_I64 ? "i64" : t[i] == CIS_F32 ? "f32"
                       : t[i] == CIS_F64 ? "f64" : t[i] == CIS_V128 ? "v128"
                       : t[i] == CIS_FUNCREF ? "funcref" : "externref";
      used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", nm);
    }
    if (used < cap) used += (size_t)snprintf(buf + used, cap - used, ")");
  }
}

/* Whether import im names a host interface defined for wasm32, whose
 * functions take 32-bit pointers into memory 0: WASI preview 1 and cis's
 * skill ABIs (cis, cis_v1, env.host_*). */

/* Checks that x fits import im of module mod. False with a reason. */
static bool import_matches(const cis_module *mod, const cis__import *im, const cis_extern *x,
                           char *why, size_t n) {
  if ((unsigned)x->kind != im->kind) {
    snprintf(why, n, "expected a %s, found a %s", kind_name(im->kind), kind_name(x->kind));
    return false;
  }
  switch (im->kind) {
  case CIS_EXTERN_FUNC:
    /* the function's type may be a declared subtype of the import's */
    if (!cis__canon_id_sub(x->of.func->type_id, mod->type_ids[im->desc.type_idx])) {
      const cis__functype *ft = &mod->m->types[im->desc.type_idx];
      /* The message holds a few dozen types at most: show that many. */
      cis_valtype wp[32], wr[32];
      uint32_t wpn = ft->nparams < 32 ? ft->nparams : 32, wrn = ft->nresults < 32 ? ft->nresults : 32, np, nr;
      for (uint32_t i = 0; i < wpn; i++) wp[i] = (cis_valtype)ft->types[i];
      for (uint32_t i = 0; i < wrn; i++) wr[i] = (cis_valtype)ft->types[ft->nparams + i];
      const cis_valtype *pt, *rt;
      cis_func_type(x->of.func, &np, &pt, &nr, &rt);
      char a[200], b[200];
      fmt_sig(a, sizeof a, wpn, wrn, wp, wr);
      fmt_sig(b, sizeof b, np, nr, pt, rt);
      snprintf(why, n, "function type differs: the module imports %s, the host provides %s", a, b);
      return false;
    }
    if (x->of.func->kind == CIS__FUNC_HOST && mod->m->nmemories && mod->m->memories[0].is64 &&
        (((const cis__host_func *)x->of.func)->flags & CIS_HOST_MEMORY32)) {
      snprintf(why, n, "memory 0 is 64-bit (memory64), and the host function addresses a 32-bit memory 0 "
                       "(as WASI's and the skill ABIs' do)");
      return false;
    }
    return true;
  case CIS_EXTERN_TABLE: {
    const cis_table *t = x->of.table;
    if (t->ctype != cis__vt_canon(mod->type_ids, im->desc.table.vt)) {
      snprintf(why, n, "table element type differs");
      return false;
    }
    return limits_match("table", t->is64, t->size, t->has_max, t->max, &im->desc.table.limits, why, n);
  }
  case CIS_EXTERN_MEMORY: {
    const cis_memory *m = x->of.memory;
    return limits_match("memory", m->is64, m->size / CIS__PAGE_SIZE, m->has_max, m->type_max,
                        &im->desc.memory, why, n);
  }
  case CIS_EXTERN_GLOBAL: {
    const cis_global *g = x->of.global;
    uint64_t want = cis__vt_canon(mod->type_ids, im->desc.global.vt);
    if (g->mutable_ != im->desc.global.mutable_) {
      snprintf(why, n, "global mutability differs");
      return false;
    }
    /* An immutable global may be of a subtype; a mutable one is both
     * read and written: exactly the type. */
    if (g->mutable_ ? g->ctype != want : !cis__vt_canon_sub(g->ctype, want)) {
      snprintf(why, n, "global value type differs");
      return false;
    }
    return true;
  }
  case CIS_EXTERN_TAG:
    if (x->of.tag->type_id != mod->type_ids[im->desc.tag_type]) {
      snprintf(why, n, "tag type differs");
      return false;
    }
    return true;
  default: snprintf(why, n, "unknown import kind"); return false;
  }
}

/* Finds import i of module mod in imports and checks its type. Errors (on
 * e): CIS_EUNKNOWNIMPORT, CIS_EIMPORTTYPE. */
static cis_result resolve_import(cis_engine *e, const cis_module *mod, const cis__import *im,
                                 const cis_imports *imports, cis_extern *x) {
  char a[96], b[96], why[480];
  cis_result rc = CIS_OK;
  if (cis__imports_find(imports, im->module, im->module_len, im->name, im->name_len, x) != CIS_OK)
    rc = CIS_EUNKNOWNIMPORT;
  else if (!import_matches(mod, im, x, why, sizeof why))
    rc = CIS_EIMPORTTYPE;
  if (rc == CIS_OK) return CIS_OK;
  cis__fmt_name(a, sizeof a, im->module, im->module_len);
  cis__fmt_name(b, sizeof b, im->name, im->name_len);
  if (rc == CIS_EUNKNOWNIMPORT) return cis__fail(e, rc, "unknown import %s.%s", a, b);
  return cis__fail(e, rc, "incompatible import type %s.%s: %s", a, b, why);
}

cis_result cis_imports_check(const cis_imports *imports, const cis_module *mod) {
  for (uint32_t i = 0; i < mod->m->nimports; i++) {
    cis_extern x;
    cis_result rc = resolve_import(mod->engine, mod, &mod->m->imports[i], imports, &x);
    if (rc != CIS_OK) return rc;
  }
  return CIS_OK;
}

/* Resolves and checks every import in order, filling the imported part of
 * the index spaces with counted references; a standalone memory or table
 * nobody pays for yet is charged to this instance. Errors (on the engine):
 * CIS_EUNKNOWNIMPORT, CIS_EIMPORTTYPE, CIS_EMEMLIMIT, CIS_ENOMEM. */
static cis_result link_imports(cis_instance *inst, const cis_imports *imports) {
  const cis__module *m = inst->m;
  cis_engine *e = inst->engine;
  uint32_t fi = 0, ti = 0, mi = 0, gi = 0, xi = 0;
  for (uint32_t i = 0; i < m->nimports; i++) {
    const cis__import *im = &m->imports[i];
    char a[96], b[96];
    cis_extern x;
    cis_result rc = resolve_import(e, inst->module, im, imports, &x);
    if (rc != CIS_OK) return rc;
    cis_instance *owner = NULL;
    switch (im->kind) {
    case CIS_EXTERN_FUNC:
      inst->funcs[fi++] = inst->borrows ? x.of.func : cis__func_ref(x.of.func);
      if (x.of.func->kind == CIS__FUNC_WASM) owner = x.of.func->inst;
      break;
    case CIS_EXTERN_TABLE:
      inst->tables[ti++] = cis__table_ref(x.of.table);
      owner = cis__table_owner(x.of.table);
      rc = cis__table_adopt(e, x.of.table, inst->acct);
      break;
    case CIS_EXTERN_MEMORY:
      inst->memories[mi++] = cis__memory_ref(x.of.memory);
      rc = cis__memory_adopt(e, x.of.memory, inst->acct);
      break;
    case CIS_EXTERN_GLOBAL:
      inst->globals[gi++] = cis__global_ref(x.of.global);
      owner = cis__global_owner(x.of.global);
      break;
    case CIS_EXTERN_TAG: inst->tags[xi++] = cis__tag_ref(x.of.tag); break;
    }
    if (rc != CIS_OK) {
      /* A standalone object this instance would have to pay for. */
      char msg[256];
      snprintf(msg, sizeof msg, "%s", cis_errmsg(e));
      cis__fmt_name(a, sizeof a, im->module, im->module_len);
      cis__fmt_name(b, sizeof b, im->name, im->name_len);
      return cis__fail(e, rc, "import %s.%s: %s", a, b, msg);
    }
    if (add_dep(inst, owner) != CIS_OK)
      return cis__fail(e, CIS_ENOMEM, "out of memory linking import %u", i);
  }
  return CIS_OK;
}

/* ------------------------------------------------------- instantiation */

/* Creates the memories the module defines. Memory 0 maps the image of
 * its initial contents when the engine has one (ops mem_image): its
 * active segments are then in place already (init_segments). */
static cis_result alloc_memories(cis_instance *inst) {
  const cis__module *m = inst->m;
  for (uint32_t i = m->nmemory_imports; i < m->nmemories; i++) {
    cis_result rc = cis__memory_create(inst->engine, &m->memories[i],
                                       inst->limits.max_memory_bytes, inst->acct,
                                       inst->engine, &inst->memories[i]);
    if (rc != CIS_OK) return rc;
  }
  const cis__mem_image *img = m->nmemories && !m->nmemory_imports && inst->engine->ops->mem_image
                                  ? inst->engine->ops->mem_image(inst->module)
                                  : NULL;
  if (img && cis__memory_map_image(inst->memories[0], img) < 0)
    return cis__fail(inst->engine, CIS_ENOMEM, "cannot map the initial contents of memory 0");
  return CIS_OK;
}

static cis_result alloc_tables(cis_instance *inst) {
  const cis__module *m = inst->m;
  for (uint32_t i = m->ntable_imports; i < m->ntables; i++) {
    cis_result rc = cis__table_create(inst->engine, m->tables[i].elem, &m->tables[i].limits,
                                      inst->limits.max_table_elems, inst, inst->acct,
                                      &inst->tables[i]);
    if (rc != CIS_OK) return rc;
    inst->tables[i]->ctype = cis__vt_canon(inst->module->type_ids, m->tables[i].vt);
  }
  return CIS_OK;
}

/* Fills the tables that have an initialiser with its value (once the
 * imported globals it may read are there). */
static void init_tables(cis_instance *inst) {
  const cis__module *m = inst->m;
  for (uint32_t i = m->ntable_imports; i < m->ntables; i++) {
    if (!m->tables[i].init.len) continue;
    cis_slot v = cis__const_value(inst, &m->tables[i].init);
    cis_table *t = inst->tables[i];
    void *ref = t->elem == CIS__FUNCREF ? (void *)v.funcref : v.externref;
    for (uint32_t k = 0; k < t->size; k++) t->elems[k] = ref;
  }
}

/* The tags the module defines: new ones, each its own identity. */
static cis_result alloc_tags(cis_instance *inst) {
  const cis__module *m = inst->m;
  for (uint32_t i = m->ntag_imports; i < m->ntags; i++)
    if (cis__tag_create(inst->module->type_ids[m->tag_type[i]], &m->types[m->tag_type[i]], &inst->tags[i]) != CIS_OK)
      return cis__fail(inst->engine, CIS_ENOMEM, "out of memory creating tag %u", i);
  return CIS_OK;
}

static void init_funcs(cis_instance *inst) {
  const cis__module *m = inst->m;
  for (uint32_t i = m->nfunc_imports; i < m->nfuncs; i++) {
    cis_func *f = &inst->own_funcs[i - m->nfunc_imports];
    f->kind = CIS__FUNC_WASM;
    f->type_id = inst->module->type_ids[m->func_type[i]];
    f->type = cis__module_func_type(m, i);
    cis__func_set_slots(f);
    f->inst = inst;
    f->index = i;
    inst->funcs[i] = f;
  }
}

static cis_result init_globals(cis_instance *inst) {
  const cis__module *m = inst->m;
  for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++) {
    const cis__global *g = &m->globals[i];
    cis_slot zero = {.u64 = 0};
    bool wide = g->type.type == CIS__V128;
    cis_result rc = cis__global_create(g->type.type, g->type.mutable_,
                                       wide ? zero : cis__const_value(inst, &g->init), inst,
                                       &inst->globals[i]);
    if (rc == CIS_OK && wide) cis__const_v128(inst, &g->init, inst->globals[i]->v128);
    if (rc == CIS_OK) inst->globals[i]->ctype = cis__vt_canon(inst->module->type_ids, g->type.vt);
    if (rc == CIS_EUNSUPPORTED)
      return cis__fail(inst->engine, rc, "global %u: value type 0x%02x is not supported", i,
                       g->type.type);
    if (rc != CIS_OK) return cis__fail(inst->engine, rc, "out of memory creating globals");
  }
  return CIS_OK;
}

/* Element segments, then data segments, in order. A trap leaves earlier
 * writes in place (they may be in imported objects). */
static cis_result init_segments(cis_instance *inst) {
  const cis__module *m = inst->m;
  for (uint32_t i = 0; i < m->nelems; i++) {
    const cis__elem *s = &m->elems[i];
    if (s->mode == CIS__SEG_ACTIVE) {
      cis_table *t = inst->tables[s->table];
      cis_slot o = cis__const_value(inst, &s->offset);
      uint64_t off = t->is64 ? o.u64 : o.u32;
      if (!cis__in_bounds(off, s->count, t->size))
        return cis__fail(inst->engine, CIS_TRAP_TABLE_OOB,
                         "out of bounds table access: element segment %u writes %u elements "
                         "at %llu, table %u has %u",
                         i, s->count, (unsigned long long)off, s->table, t->size);
      for (uint32_t k = 0; k < s->count; k++) t->elems[off + k] = cis__elem_item(inst, s, k);
    }
    if (s->mode != CIS__SEG_PASSIVE) inst->elem_dropped[i] = 1;
  }
  /* Memory 0 mapped from its image holds its active segments already
   * (each has a constant offset inside it: cis__data_image_plan). */
  const bool imaged = m->nmemories && !m->nmemory_imports && inst->memories[0]->img_len;
  for (uint32_t i = 0; i < m->ndatas; i++) {
    const cis__data *d = &m->datas[i];
    if (d->mode != CIS__SEG_ACTIVE) continue;
    cis_memory *mem = inst->memories[d->memory];
    if (imaged && d->memory == 0) {
      inst->data_dropped[i] = 1;
      continue;
    }
    cis_slot o = cis__const_value(inst, &d->offset);
    uint64_t off = mem->is64 ? o.u64 : o.u32;
    if (!cis__in_bounds(off, d->len, mem->size))
      return cis__fail(inst->engine, CIS_TRAP_MEM_OOB,
                       "out of bounds memory access: data segment %u writes %u bytes at %llu, "
                       "memory %u has %llu",
                       i, d->len, (unsigned long long)off, d->memory, (unsigned long long)mem->size);
    if (d->len) memcpy(mem->base + off, d->bytes, d->len);
    inst->data_dropped[i] = 1;
  }
  return CIS_OK;
}

static cis_result run_start(cis_instance *inst) {
  const cis__module *m = inst->m;
  if (!m->has_start) return CIS_OK;
  cis_slot none[1] = {{0}};
  cis_result rc = cis__call_internal(inst, inst->funcs[m->start], none);
  if (rc != CIS_OK) {
    const char *msg = cis_errmsg(inst);
    return cis__fail(inst->engine, rc, "%s", msg[0] ? msg : cis_strerror(rc));
  }
  return CIS_OK;
}

/* Bytes of host memory an instance of m needs for its own bookkeeping:
 * everything instance_alloc, init_globals and link_imports allocate, and
 * the structs of the memories and tables it defines. A module decides
 * these counts, so they are charged to the account like its memories. */
static uint64_t instance_footprint(const cis__module *m) {
  uint64_t own_funcs = (uint64_t)(m->nfuncs - m->nfunc_imports) + 1;
  uint64_t own_globals = (uint64_t)(m->nglobals - m->nglobal_imports);
  uint64_t own_tables = (uint64_t)(m->ntables - m->ntable_imports);
  uint64_t own_mems = (uint64_t)(m->nmemories - m->nmemory_imports);
  uint64_t own_tags = (uint64_t)(m->ntags - m->ntag_imports);
  return sizeof(cis_instance) + ((uint64_t)m->nfuncs + 1) * sizeof(cis_func *) +
         own_funcs * sizeof(cis_func) + ((uint64_t)m->nmemories + 1) * sizeof(cis_memory *) +
         ((uint64_t)m->ntables + 1) * sizeof(cis_table *) +
         ((uint64_t)m->nglobals + 1) * sizeof(cis_global *) +
         own_globals * sizeof(cis__global_rt) + own_tables * sizeof(cis__table_rt) +
         own_mems * sizeof(cis_memory) + ((uint64_t)m->ntags + 1) * sizeof(cis_tag *) +
         own_tags * sizeof(cis_tag) + (uint64_t)m->nelems + 1 + (uint64_t)m->ndatas + 1 +
         (uint64_t)m->nimports * sizeof(cis_instance *);
}

/* Allocates the instance, its account and its index-space arrays, all
 * empty. CIS_ENOMEM, or CIS_EMEMLIMIT (message on the engine) when the
 * bookkeeping alone passes the memory limit. */
static cis_result instance_alloc(cis_module *mod, const cis_limits *limits, bool borrow, cis_instance **out) {
  const cis__module *m = mod->m;
  cis_instance *inst = calloc(1, sizeof *inst);
  if (!inst) return CIS_ENOMEM;
  cis__handle_init(&inst->hdr, CIS__H_INSTANCE);
  atomic_init(&inst->refs, 1);
  atomic_init(&inst->cancel, 0);
  atomic_init(&inst->quota, 0);
  inst->borrows = borrow;
  inst->module = borrow ? mod : cis_module_ref(mod);
  inst->m = m;
  inst->engine = mod->engine;
  /* externref, anyref and their kin (the reference-types feature, which
   * also covers funcref, is the cheap superset), GC's and exceptions' */
  inst->gc_frames = m->uses_gc || m->uses_eh || (m->features & CIS_FEATURE_REFERENCE_TYPES);
  inst->limits = limits ? *limits : mod->engine->cfg.limits;
  *out = inst;
  inst->acct = cis__account_new(inst->limits.max_memory_bytes);
  if (!inst->acct) return CIS_ENOMEM;
  uint64_t need = instance_footprint(m);
  if (!cis__account_charge(inst->acct, need, CIS__CHARGE_OTHER))
    return cis__fail(mod->engine, CIS_EMEMLIMIT,
                     "the instance's own bookkeeping needs %llu bytes, more than the memory "
                     "limit of %llu bytes allows",
                     (unsigned long long)need, (unsigned long long)inst->limits.max_memory_bytes);
  inst->footprint = need;
  /* +1 keeps every request non-zero, so NULL always means failure. */
  inst->funcs = calloc((size_t)m->nfuncs + 1, sizeof *inst->funcs);
  inst->own_funcs = calloc((size_t)(m->nfuncs - m->nfunc_imports) + 1, sizeof *inst->own_funcs);
  inst->memories = calloc((size_t)m->nmemories + 1, sizeof *inst->memories);
  inst->tables = calloc((size_t)m->ntables + 1, sizeof *inst->tables);
  inst->globals = calloc((size_t)m->nglobals + 1, sizeof *inst->globals);
  inst->tags = calloc((size_t)m->ntags + 1, sizeof *inst->tags);
  inst->elem_dropped = calloc((size_t)m->nelems + 1, 1);
  inst->data_dropped = calloc((size_t)m->ndatas + 1, 1);
  if (!inst->funcs || !inst->own_funcs || !inst->memories || !inst->tables || !inst->globals || !inst->tags ||
      !inst->elem_dropped || !inst->data_dropped)
    return CIS_ENOMEM;
  return CIS_OK;
}

static cis_result instance_new(cis_module *mod, const cis_imports *imports, const cis_limits *limits, bool borrow,
                               cis_instance **out) {
  cis_result rc = CIS_OK;
  cis_instance *inst = NULL;
  if (!out) return mod ? cis__fail(mod->engine, CIS_EINVAL, "output pointer is NULL")
                       : CIS_EINVAL;
  *out = NULL;
  if (!mod) return CIS_EINVAL;
  cis_engine *e = mod->engine;
  if (!cis__mod_rt(mod)->validated)
    return cis__fail(e, CIS_ESTATE, "module was decoded without validation and cannot be "
                                    "instantiated");
  rc = instance_alloc(mod, limits, borrow, &inst);
  if (rc == CIS_ENOMEM) cis__fail(e, rc, "out of memory creating an instance");
  if (rc != CIS_OK) goto fail;
  CIS_TRY(link_imports(inst, imports));
  CIS_TRY(alloc_memories(inst));
  CIS_TRY(alloc_tables(inst));
  CIS_TRY(alloc_tags(inst));
  init_funcs(inst);
  cis__gc_call_begin(e); /* constant expressions make objects: none is collected before it is rooted */
  rc = init_globals(inst);
  if (rc == CIS_OK) init_tables(inst);
  if (rc == CIS_OK) rc = cis__gc_adopt(inst);
  if (rc == CIS_OK) rc = init_segments(inst);
  if (rc == CIS_OK) rc = run_start(inst);
  cis__gc_call_end(e);
  if (rc != CIS_OK) goto fail;
  cis__clear_error(e);
  cis__clear_error(inst);
  *out = inst;
  return CIS_OK;
fail:
  cis_instance_free(inst);
  return rc;
}

cis_result cis_instance_new(cis_module *mod, const cis_imports *imports,
                            const cis_limits *limits, cis_instance **out) {
  return instance_new(mod, imports, limits, false, out);
}

cis_result cis_instance_new_borrowing(cis_module *mod, const cis_imports *imports,
                                      const cis_limits *limits, cis_instance **out) {
  return instance_new(mod, imports, limits, true, out);
}

/* ------------------------------------------------------------ lifetime */

cis_instance *cis_instance_ref(cis_instance *inst) {
  if (inst) atomic_fetch_add(&inst->refs, 1);
  return inst;
}

/* True when one of inst's functions sits in a table or global that inst
 * imported, so that something else may still call it. */
static bool functions_escaped(const cis_instance *inst) {
  const cis__module *m = inst->m;
  for (uint32_t i = 0; i < m->ntable_imports; i++) {
    const cis_table *t = inst->tables[i];
    if (!t || t->elem != CIS__FUNCREF) continue;
    for (uint32_t k = 0; k < t->size; k++) {
      const cis_func *f = t->elems[k];
      if (f && f->kind == CIS__FUNC_WASM && f->inst == inst) return true;
    }
  }
  for (uint32_t i = 0; i < m->nglobal_imports; i++) {
    const cis_global *g = inst->globals[i];
    if (!g || g->type != CIS__FUNCREF || !g->val.funcref) continue;
    const cis_func *f = g->val.funcref;
    if (f->kind == CIS__FUNC_WASM && f->inst == inst) return true;
  }
  return false;
}

/* Drops one reference: true when it was the last and inst must be
 * destroyed now (false also when it was pinned instead). */
static bool release(cis_instance *inst) {
  if (atomic_fetch_sub(&inst->refs, 1) != 1) return false;
  if (!functions_escaped(inst)) return true;
  /* Pinned, it outlives its creator's free, and with it what it borrowed:
   * it counts its references from now on (the creator still holds them). */
  if (inst->borrows) {
    cis_module_ref(inst->module);
    for (uint32_t i = 0; i < inst->m->nfunc_imports; i++) cis__func_ref(inst->funcs[i]);
    inst->borrows = false;
  }
  return !cis__engine_pin(inst->engine, inst);
}

/* Frees inst and what it holds; the dependencies whose last reference it
 * held are pushed on *list instead of being destroyed from here, so a long
 * chain of instances importing from each other is freed in a loop, not by
 * recursion as deep as the chain. */
static void destroy_one(cis_instance *inst, cis_instance **list) {
  const cis__module *m = inst->m;
  if (inst->funcs && !inst->borrows)
    for (uint32_t i = 0; i < m->nfunc_imports; i++) cis_func_free(inst->funcs[i]);
  if (inst->memories)
    for (uint32_t i = 0; i < m->nmemories; i++) cis_memory_free(inst->memories[i]);
  if (inst->tables)
    for (uint32_t i = 0; i < m->ntables; i++) {
      if (!inst->tables[i]) continue;
      if (i >= m->ntable_imports) cis__table_disown(inst->tables[i]);
      cis_table_free(inst->tables[i]);
    }
  if (inst->globals)
    for (uint32_t i = 0; i < m->nglobals; i++) {
      if (!inst->globals[i]) continue;
      if (i >= m->nglobal_imports) cis__global_disown(inst->globals[i]);
      cis_global_free(inst->globals[i]);
    }
  if (inst->tags)
    for (uint32_t i = 0; i < m->ntags; i++) cis__tag_free(inst->tags[i]);
  free(inst->tags);
  free(inst->funcs);
  free(inst->own_funcs);
  free(inst->memories);
  free(inst->tables);
  free(inst->globals);
  if (inst->elem_vals)
    for (uint32_t i = 0; i < m->nelems; i++) cis_table_free(inst->elem_vals[i]);
  free(inst->elem_vals);
  free(inst->elem_dropped);
  free(inst->data_dropped);
  cis__stack_give(inst->engine, inst->stack, inst->stack_slots);
  for (uint32_t i = 0; i < inst->ndeps; i++)
    if (release(inst->deps[i])) {
      inst->deps[i]->next_free = *list;
      *list = inst->deps[i];
    }
  free(inst->deps);
  if (!inst->borrows) cis_module_free(inst->module);
  cis__account_uncharge(inst->acct, inst->footprint, CIS__CHARGE_OTHER);
  cis__account_free(inst->acct);
  free(inst);
}

void cis__instance_destroy(cis_instance *inst) {
  cis_instance *list = inst;
  inst->next_free = NULL;
  while (list) {
    cis_instance *next = list;
    list = next->next_free;
    destroy_one(next, &list);
  }
}

void cis_instance_free(cis_instance *inst) {
  if (inst && release(inst)) cis__instance_destroy(inst);
}

cis_module *cis_instance_module(cis_instance *inst) { return inst ? inst->module : NULL; }

/* -------------------------------------------------------------- limits */

void cis_instance_set_limits(cis_instance *inst, const cis_limits *l) {
  if (!inst || !l) return;
  inst->limits = *l;
  cis__account_set_limit(inst->acct, l->max_memory_bytes);
  /* Caps bind the objects this instance defined; imported ones follow the
   * limits of whoever created them. */
  const cis__module *m = inst->m;
  for (uint32_t i = m->nmemory_imports; i < m->nmemories; i++)
    cis__memory_set_cap(inst->memories[i], l->max_memory_bytes);
  for (uint32_t i = m->ntable_imports; i < m->ntables; i++)
    cis__table_set_cap(inst->tables[i], l->max_table_elems);
}

uint64_t cis_instance_memory_used(const cis_instance *inst) {
  return inst ? cis__account_used(inst->acct) : 0;
}

uint64_t cis_instance_memory_peak(const cis_instance *inst) {
  return inst ? cis__account_peak(inst->acct) : 0;
}

void cis_instance_get_limits(const cis_instance *inst, cis_limits *l) {
  if (!l) return;
  if (inst) *l = inst->limits;
  else cis_limits_default(l);
}

void cis_instance_set_user(cis_instance *inst, void *user) {
  if (inst) inst->user = user;
}
void *cis_instance_user(const cis_instance *inst) { return inst ? inst->user : NULL; }

int cis_instance_exit_code(const cis_instance *inst) { return inst ? inst->exit_code : 0; }
void cis_instance_set_exit_code(cis_instance *inst, int code) {
  if (inst) inst->exit_code = code;
}

/* ------------------------------------------------------------- exports */

cis_result cis__instance_export(const cis_instance *inst, const char *name, size_t len,
                                cis_extern *out) {
  uint32_t i = cis__module_find_export(inst->module, name, len);
  if (i == UINT32_MAX) return CIS_ENOTFOUND;
  const cis__export *x = &inst->m->exports[i];
  out->kind = (cis_extern_kind)x->kind;
  switch (x->kind) {
  case CIS_EXTERN_FUNC: out->of.func = inst->funcs[x->index]; break;
  case CIS_EXTERN_TABLE: out->of.table = inst->tables[x->index]; break;
  case CIS_EXTERN_MEMORY: out->of.memory = inst->memories[x->index]; break;
  case CIS_EXTERN_GLOBAL: out->of.global = inst->globals[x->index]; break;
  case CIS_EXTERN_TAG: out->of.tag = inst->tags[x->index]; break;
  default: return CIS_ENOTFOUND;
  }
  return CIS_OK;
}

cis_result cis_instance_export(cis_instance *inst, const char *name, size_t len,
                               cis_extern *out) {
  if (!inst) return CIS_EINVAL;
  if (!out || (!name && len)) return cis__fail(inst, CIS_EINVAL, "export name or output is NULL");
  cis_result rc = cis__instance_export(inst, name ? name : "", len, out);
  if (rc != CIS_OK) {
    char n[128];
    cis__fmt_name(n, sizeof n, name ? name : "", len);
    return cis__fail(inst, rc, "no export named %s", n);
  }
  return CIS_OK;
}

cis_func *cis_instance_func(cis_instance *inst, const char *name) {
  cis_extern x;
  if (!inst || !name) return NULL;
  if (cis__instance_export(inst, name, strlen(name), &x) != CIS_OK) return NULL;
  return x.kind == CIS_EXTERN_FUNC ? x.of.func : NULL;
}

cis_memory *cis_instance_memory(cis_instance *inst) {
  return inst && inst->m->nmemories ? inst->memories[0] : NULL;
}

/* ------------------------------------------------------- guest memory */

void *cis_instance_mem(cis_instance *inst, uint64_t off, uint64_t len) {
  cis_memory *m = cis_instance_memory(inst);
  /* Written so that no sum can wrap: off <= size, then len <= size - off. */
  if (!m || off > m->size || len > m->size - off) return NULL;
  return m->base + off;
}

cis_result cis_instance_mem_read(cis_instance *inst, uint64_t off, void *dst, uint64_t len) {
  if (!inst) return CIS_EINVAL;
  const void *src = cis_instance_mem(inst, off, len);
  if (!src)
    return cis__fail(inst, CIS_TRAP_MEM_OOB,
                     "out of bounds memory access: host read of %llu bytes at %llu",
                     (unsigned long long)len, (unsigned long long)off);
  if (len) {
    if (!dst) return cis__fail(inst, CIS_EINVAL, "destination buffer is NULL");
    memcpy(dst, src, (size_t)len);
  }
  return CIS_OK;
}

cis_result cis_instance_mem_write(cis_instance *inst, uint64_t off, const void *src,
                                  uint64_t len) {
  if (!inst) return CIS_EINVAL;
  void *dst = cis_instance_mem(inst, off, len);
  if (!dst)
    return cis__fail(inst, CIS_TRAP_MEM_OOB,
                     "out of bounds memory access: host write of %llu bytes at %llu",
                     (unsigned long long)len, (unsigned long long)off);
  if (len) {
    if (!src) return cis__fail(inst, CIS_EINVAL, "source buffer is NULL");
    memcpy(dst, src, (size_t)len);
  }
  return CIS_OK;
}
