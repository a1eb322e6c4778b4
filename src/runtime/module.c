/*
 * This file implements the module handle: loading (decode, validate,
 * intern the function types, let the engine prepare its code), reference
 * counting, and the import/export descriptors of the public API.
 *
 * A module is immutable once built, so it is shared between threads; only
 * its reference count changes, atomically. Load errors are reported on the
 * engine (per thread) with the decoder's or validator's message, which
 * starts with the spec's wording and carries the byte offset.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/rt_internal.h"

/* ------------------------------------------------------- export index */

typedef struct export_key {
  const cis__module *m; /* whose exports */
  const char *name;     /* looked-up name */
  size_t len;           /* its length */
} export_key;

static bool export_match(const void *ctx, uint32_t entry) {
  const export_key *k = ctx;
  const cis__export *x = &k->m->exports[entry];
  return x->name_len == k->len && memcmp(x->name, k->name, k->len) == 0;
}

uint32_t cis__module_find_export(const cis_module *mod, const char *name, size_t len) {
  export_key k = {mod->m, name, len};
  return cis__index_find(&cis__mod_rt(mod)->exports, cis__hash_bytes(0, name, len),
                         export_match, &k);
}

/* Indexes the exports by name. A decode-only module may repeat a name; the
 * first one wins, as a lookup would find it first anyway. */
static cis_result index_exports(cis__module_rt *r) {
  const cis__module *m = r->pub.m;
  for (uint32_t i = 0; i < m->nexports; i++) {
    const cis__export *x = &m->exports[i];
    if (cis__module_find_export(&r->pub, x->name, x->name_len) != UINT32_MAX) continue;
    cis_result rc = cis__index_add(&r->exports, cis__hash_bytes(0, x->name, x->name_len), i);
    if (rc != CIS_OK) return rc;
  }
  return CIS_OK;
}

/* Builds the cis_valtype arrays the descriptors and cis_func_type hand
 * out: the public enum is int-sized while the module keeps bytes. */
static cis_result build_valtypes(cis__module_rt *r) {
  const cis__module *m = r->pub.m;
  size_t total = 0;
  r->valtype_off = malloc(((size_t)m->ntypes + 1) * sizeof *r->valtype_off);
  if (!r->valtype_off) return CIS_ENOMEM;
  for (uint32_t i = 0; i < m->ntypes; i++) {
    r->valtype_off[i] = (uint32_t)total;
    total += (size_t)m->types[i].nparams + m->types[i].nresults;
    if (total > UINT32_MAX) return CIS_ETOOBIG;
  }
  r->valtypes = malloc((total ? total : 1) * sizeof *r->valtypes);
  if (!r->valtypes) return CIS_ENOMEM;
  for (uint32_t i = 0; i < m->ntypes; i++) {
    size_t n = (size_t)m->types[i].nparams + m->types[i].nresults;
    for (size_t j = 0; j < n; j++)
      r->valtypes[r->valtype_off[i] + j] = (cis_valtype)m->types[i].types[j];
  }
  return CIS_OK;
}

/* Gives every type of the module its canonical id, for import matching
 * and call_indirect, group by group. */
static cis_result intern_types(cis_engine *e, cis__module_rt *r) {
  const cis__module *m = r->pub.m;
  r->pub.type_ids = malloc(((size_t)m->ntypes + 1) * sizeof *r->pub.type_ids);
  if (!r->pub.type_ids) return CIS_ENOMEM;
  (void)e;
  for (uint32_t i = 0; i < m->ntypes;) {
    uint32_t n = m->types[i].nrec ? m->types[i].nrec : 1;
    cis_result rc = cis__engine_intern_group(m->types, i, n, r->pub.type_ids, &r->pub.type_ids[i]);
    if (rc != CIS_OK) return rc;
    i += n;
  }
  return CIS_OK;
}

/* Frees a module handle whatever state loading left it in. */
static void module_destroy(cis__module_rt *r) {
  if (r->prepared && r->pub.engine->ops->unprepare) r->pub.engine->ops->unprepare(&r->pub);
  cis__index_free(&r->exports);
  free(r->valtypes);
  free(r->valtype_off);
  free(r->pub.type_ids);
  cis__module_free(r->pub.m);
  free(r);
}

/* Shared by cis_module_new and cis_module_decode_only: decode, then (when
 * validate) validate, intern and prepare. Errors go to the engine. */
static cis_result module_load(cis_engine *e, const uint8_t *bytes, size_t len, bool validate,
                              uint64_t deadline, cis_module **out) {
  cis_result rc = CIS_OK;
  cis__module_rt *r = NULL;
  cis__diag d;
  memset(&d, 0, sizeof d);
  if (!out) return cis__fail(e, CIS_EINVAL, "module output pointer is NULL");
  *out = NULL;
  if (!e) return CIS_EINVAL;
  if (!bytes && len) return cis__fail(e, CIS_EINVAL, "module bytes are NULL");
  r = calloc(1, sizeof *r);
  if (!r) return cis__fail(e, CIS_ENOMEM, "out of memory loading a module");
  cis__handle_init(&r->pub.hdr, CIS__H_MODULE);
  atomic_init(&r->pub.refs, 1);
  r->pub.engine = e;
  r->pub.load_deadline = deadline;

  /* Bytes the engine holds already and nothing changes (the compiled
   * tier's cache entry, mapped) are decoded in place, not copied. */
  const uint8_t *held = NULL;
  void *owner = NULL;
  if (validate && bytes && e->ops->known_bytes &&
      e->ops->known_bytes(bytes, len, e->cfg.standard, &held, &owner) == CIS_OK)
    rc = cis__module_decode_held(held, len, e->cfg.standard, e->ops->release_bytes, owner, &r->pub.m, &d);
  else
    rc = cis__module_decode_std(bytes ? bytes : (const uint8_t *)"", len, e->cfg.standard, &r->pub.m, &d);
  if (rc != CIS_OK) {
    cis__fail(e, rc, "%s", d.msg[0] ? d.msg : cis_strerror(rc));
    goto fail;
  }
  /* A module whose bytes equal those the engine's code was made from (an
   * entry of the compiled tier's cache) was validated then: the engine
   * says so, and validation is not repeated (docs/aot.md, Cached start):
   * under the same standard, which is part of the cache's key. */
  bool known = validate && e->ops->prepare_known && e->ops->prepare_known(&r->pub) == CIS_OK;
  if (known) r->prepared = true;
  if (validate && !known) {
    rc = cis__module_validate(r->pub.m, &d);
    if (rc != CIS_OK) {
      cis__fail(e, rc, "%s", d.msg[0] ? d.msg : cis_strerror(rc));
      goto fail;
    }
  }
  rc = build_valtypes(r);
  if (rc == CIS_OK) rc = index_exports(r);
  if (rc == CIS_OK && validate) rc = intern_types(e, r);
  if (rc != CIS_OK) {
    cis__fail(e, rc, "cannot index the module: %s", cis_strerror(rc));
    goto fail;
  }
  if (validate) r->validated = true;
  if (validate && !known) {
    rc = e->ops->prepare ? e->ops->prepare(&r->pub) : CIS_OK;
    if (rc != CIS_OK) {
      const char *msg = cis_errmsg(&r->pub);
      cis__fail(e, rc, "%s", msg[0] ? msg : cis_strerror(rc));
      goto fail;
    }
    r->prepared = true;
  }
  cis__clear_error(e);
  *out = &r->pub;
  return CIS_OK;
fail:
  module_destroy(r);
  return rc;
}

cis_result cis_module_new(cis_engine *e, const uint8_t *bytes, size_t len, cis_module **out) {
  return module_load(e, bytes, len, true, 0, out);
}

cis_result cis_module_new_until(cis_engine *e, const uint8_t *bytes, size_t len,
                                uint64_t deadline_ns, cis_module **out) {
  return module_load(e, bytes, len, true, deadline_ns, out);
}

cis_result cis_module_decode_only(cis_engine *e, const uint8_t *bytes, size_t len,
                                  cis_module **out) {
  return module_load(e, bytes, len, false, 0, out);
}

cis_module *cis_module_ref(cis_module *m) {
  if (m) atomic_fetch_add(&m->refs, 1);
  return m;
}

void cis_module_free(cis_module *m) {
  if (!m) return;
  if (atomic_fetch_sub(&m->refs, 1) == 1) module_destroy(cis__mod_rt(m));
}

/* ----------------------------------------------------------- descriptors */

uint32_t cis_module_import_count(const cis_module *m) { return m ? m->m->nimports : 0; }
uint32_t cis_module_export_count(const cis_module *m) { return m ? m->m->nexports : 0; }

/* Fills the kind-specific part of a descriptor from a function type
 * index, a table, a memory or a global type. */
static void desc_func(const cis_module *mod, uint32_t ti, cis_extern_desc *out) {
  const cis__functype *t = &mod->m->types[ti];
  const cis_valtype *v = cis__module_valtypes(mod, ti);
  out->nparams = t->nparams;
  out->nresults = t->nresults;
  out->params = v;
  out->results = v + t->nparams;
}

static void desc_limits(const cis__limits *l, cis_extern_desc *out) {
  out->min = l->min;
  out->max = l->max;
  out->has_max = l->has_max;
}

cis_result cis_module_import(const cis_module *mod, uint32_t i, cis_extern_desc *out) {
  if (!mod || !out) return CIS_EINVAL;
  const cis__module *m = mod->m;
  if (i >= m->nimports) return CIS_ENOTFOUND;
  const cis__import *im = &m->imports[i];
  memset(out, 0, sizeof *out);
  out->kind = (cis_extern_kind)im->kind;
  out->module = im->module;
  out->module_len = im->module_len;
  out->name = im->name;
  out->name_len = im->name_len;
  switch (im->kind) {
  case CIS_EXTERN_FUNC:
    if (im->desc.type_idx < m->ntypes) desc_func(mod, im->desc.type_idx, out);
    break;
  case CIS_EXTERN_TABLE:
    out->type = (cis_valtype)im->desc.table.elem;
    desc_limits(&im->desc.table.limits, out);
    break;
  case CIS_EXTERN_MEMORY: desc_limits(&im->desc.memory, out); break;
  case CIS_EXTERN_GLOBAL:
    out->type = (cis_valtype)im->desc.global.type;
    out->mutable_ = im->desc.global.mutable_;
    break;
  case CIS_EXTERN_TAG:
    if (im->desc.tag_type < m->ntypes) desc_func(mod, im->desc.tag_type, out);
    break;
  default: return CIS_EINVAL;
  }
  return CIS_OK;
}

cis_result cis_module_export(const cis_module *mod, uint32_t i, cis_extern_desc *out) {
  if (!mod || !out) return CIS_EINVAL;
  const cis__module *m = mod->m;
  if (i >= m->nexports) return CIS_ENOTFOUND;
  const cis__export *x = &m->exports[i];
  memset(out, 0, sizeof *out);
  out->kind = (cis_extern_kind)x->kind;
  out->name = x->name;
  out->name_len = x->name_len;
  /* A decode-only module is not validated: indices may be out of range,
   * and then only the name and kind are described. */
  switch (x->kind) {
  case CIS_EXTERN_FUNC:
    if (x->index < m->nfuncs && m->func_type[x->index] < m->ntypes)
      desc_func(mod, m->func_type[x->index], out);
    break;
  case CIS_EXTERN_TABLE:
    if (x->index < m->ntables) {
      out->type = (cis_valtype)m->tables[x->index].elem;
      desc_limits(&m->tables[x->index].limits, out);
    }
    break;
  case CIS_EXTERN_MEMORY:
    if (x->index < m->nmemories) desc_limits(&m->memories[x->index], out);
    break;
  case CIS_EXTERN_GLOBAL:
    if (x->index < m->nglobals) {
      out->type = (cis_valtype)m->globals[x->index].type.type;
      out->mutable_ = m->globals[x->index].type.mutable_;
    }
    break;
  case CIS_EXTERN_TAG:
    if (x->index < m->ntags && m->tag_type[x->index] < m->ntypes) desc_func(mod, m->tag_type[x->index], out);
    break;
  default: return CIS_EINVAL;
  }
  return CIS_OK;
}
