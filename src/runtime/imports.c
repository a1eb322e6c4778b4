/*
 * This file implements the imports set: named externals (host functions,
 * functions, memories, tables and globals) and instances registered under a
 * module name (the spec's `register`), looked up by the linker.
 *
 * Keys are length-counted (module, name) pairs, since Wasm names may hold
 * NUL bytes, and are indexed by hash because one set may serve modules with
 * very many imports. The set holds a counted reference to everything added
 * and to the instance that defined it, so a function or table taken from an
 * instance stays usable after the embedder drops that instance.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/rt_internal.h"

typedef struct import_entry {
  char *mod;            /* module name (copied) */
  size_t mod_len;       /* its length in bytes */
  char *name;           /* field name (copied) */
  size_t name_len;      /* its length in bytes */
  cis_extern ext;       /* the external; the set holds a reference */
  cis_instance *owner;  /* instance that defined it (counted), or NULL */
} import_entry;

typedef struct import_reg {
  char *as;             /* module name it is registered under (copied) */
  size_t as_len;        /* its length in bytes */
  cis_instance *inst;   /* counted reference */
} import_reg;

struct cis_imports {
  cis__handle hdr;            /* message of the last failed add */
  cis_engine *engine;         /* creator: host functions intern types there */
  import_entry *entries;      /* direct entries, in insertion order */
  uint32_t nentries, cap_entries; /* used and allocated entries */
  cis__index index;           /* (mod, name) -> entry */
  import_reg *regs;           /* registered instances, in registration order */
  uint32_t nregs, cap_regs;   /* used and allocated registrations */
  const cis_imports *base;    /* searched for what this set lacks (not counted), or NULL */
};

static char *dup_bytes(const char *s, size_t n) {
  char *d = malloc(n ? n : 1);
  if (d && n) memcpy(d, s, n);
  return d;
}

static uint64_t key_hash(const char *mod, size_t mod_len, const char *name, size_t name_len) {
  /* Hash the lengths too, so ("ab","c") and ("a","bc") differ. */
  size_t lens[2] = {mod_len, name_len};
  uint64_t h = cis__hash_bytes(0, lens, sizeof lens);
  h = cis__hash_bytes(h, mod, mod_len);
  return cis__hash_bytes(h, name, name_len);
}

typedef struct entry_key {
  const cis_imports *im; /* whose entries */
  const char *mod;       /* looked-up module name */
  size_t mod_len;        /* its length */
  const char *name;      /* looked-up field name */
  size_t name_len;       /* its length */
} entry_key;

static bool entry_match(const void *ctx, uint32_t i) {
  const entry_key *k = ctx;
  const import_entry *e = &k->im->entries[i];
  return e->mod_len == k->mod_len && e->name_len == k->name_len &&
         memcmp(e->mod, k->mod, k->mod_len) == 0 && memcmp(e->name, k->name, k->name_len) == 0;
}

static uint32_t find_entry(const cis_imports *im, const char *mod, size_t mod_len,
                           const char *name, size_t name_len) {
  entry_key k = {im, mod, mod_len, name, name_len};
  return cis__index_find(&im->index, key_hash(mod, mod_len, name, name_len), entry_match, &k);
}

cis_result cis_imports_new(cis_engine *e, cis_imports **out) {
  if (!out) return CIS_EINVAL;
  *out = NULL;
  if (!e) return CIS_EINVAL;
  cis_imports *im = calloc(1, sizeof *im);
  if (!im) return cis__fail(e, CIS_ENOMEM, "out of memory creating an imports set");
  cis__handle_init(&im->hdr, CIS__H_OTHER);
  im->engine = e;
  *out = im;
  return CIS_OK;
}

/* Drops the references an external holds (see take_ref). */
static void drop_ext(const cis_extern *x) {
  switch (x->kind) {
  case CIS_EXTERN_FUNC: cis_func_free(x->of.func); break;
  case CIS_EXTERN_TABLE: cis_table_free(x->of.table); break;
  case CIS_EXTERN_MEMORY: cis_memory_free(x->of.memory); break;
  case CIS_EXTERN_GLOBAL: cis_global_free(x->of.global); break;
  case CIS_EXTERN_TAG: cis__tag_free(x->of.tag); break;
  }
}

void cis_imports_free(cis_imports *im) {
  if (!im) return;
  for (uint32_t i = 0; i < im->nentries; i++) {
    import_entry *e = &im->entries[i];
    drop_ext(&e->ext);
    if (e->owner) cis_instance_free(e->owner);
    free(e->mod);
    free(e->name);
  }
  for (uint32_t i = 0; i < im->nregs; i++) {
    cis_instance_free(im->regs[i].inst);
    free(im->regs[i].as);
  }
  free(im->entries);
  free(im->regs);
  cis__index_free(&im->index);
  free(im);
}

/* The instance that defined an external, or NULL (host functions and
 * standalone objects). */
static cis_instance *ext_owner(const cis_extern *x) {
  switch (x->kind) {
  case CIS_EXTERN_FUNC: return x->of.func->kind == CIS__FUNC_WASM ? x->of.func->inst : NULL;
  case CIS_EXTERN_TABLE: return cis__table_owner(x->of.table);
  case CIS_EXTERN_GLOBAL: return cis__global_owner(x->of.global);
  default: return NULL;
  }
}

static void take_ref(const cis_extern *x) {
  switch (x->kind) {
  case CIS_EXTERN_FUNC: cis__func_ref(x->of.func); break;
  case CIS_EXTERN_TABLE: cis__table_ref(x->of.table); break;
  case CIS_EXTERN_MEMORY: cis__memory_ref(x->of.memory); break;
  case CIS_EXTERN_GLOBAL: cis__global_ref(x->of.global); break;
  case CIS_EXTERN_TAG: cis__tag_ref(x->of.tag); break;
  }
}

/* Adds x under (mod, name), taking references to x and its owner.
 * CIS_EINVAL for NULL names or objects, CIS_EEXIST when the key is taken
 * (the first entry stands), CIS_ENOMEM. */
static cis_result add_entry(cis_imports *im, const char *mod, size_t mod_len, const char *name,
                            size_t name_len, cis_extern x) {
  cis_result rc = CIS_OK;
  import_entry e;
  memset(&e, 0, sizeof e);
  if (!im) return CIS_EINVAL;
  if ((!mod && mod_len) || (!name && name_len) || !x.of.func)
    return cis__fail(im, CIS_EINVAL, "import name or object is NULL");
  if (!mod) mod = "";
  if (!name) name = "";
  if (find_entry(im, mod, mod_len, name, name_len) != UINT32_MAX) {
    char a[80], b[80];
    cis__fmt_name(a, sizeof a, mod, mod_len);
    cis__fmt_name(b, sizeof b, name, name_len);
    return cis__fail(im, CIS_EEXIST, "import %s.%s is already defined", a, b);
  }
  if (im->nentries == im->cap_entries) {
    uint32_t ncap = im->cap_entries ? im->cap_entries * 2 : 16;
    import_entry *ne = realloc(im->entries, (size_t)ncap * sizeof *ne);
    if (!ne) return cis__fail(im, CIS_ENOMEM, "out of memory adding an import");
    im->entries = ne;
    im->cap_entries = ncap;
  }
  e.mod = dup_bytes(mod, mod_len);
  e.name = dup_bytes(name, name_len);
  e.mod_len = mod_len;
  e.name_len = name_len;
  e.ext = x;
  if (!e.mod || !e.name) {
    rc = cis__fail(im, CIS_ENOMEM, "out of memory adding an import");
    goto fail;
  }
  rc = cis__index_add(&im->index, key_hash(mod, mod_len, name, name_len), im->nentries);
  if (rc != CIS_OK) {
    cis__fail(im, rc, "out of memory adding an import");
    goto fail;
  }
  take_ref(&x);
  e.owner = ext_owner(&x);
  if (e.owner) cis_instance_ref(e.owner);
  im->entries[im->nentries++] = e;
  return CIS_OK;
fail:
  free(e.mod);
  free(e.name);
  return rc;
}

/* Creates each host function and adds it. Stops at the first error: the
 * functions added before it stay. */
cis_result cis_imports_add_host_funcs(cis_imports *im, const cis_host_func_def *defs, size_t n) {
  if (!im || (!defs && n)) return CIS_EINVAL;
  for (size_t i = 0; i < n; i++) {
    const cis_host_func_def *d = &defs[i];
    if (!d->module || !d->name)
      return cis__fail(im, CIS_EINVAL, "host function %zu has no module or name", i);
    cis_func *f = NULL;
    cis_result rc = cis__host_func_new(im->engine, d, im, &f);
    if (rc != CIS_OK) return rc;
    cis_extern x = {.kind = CIS_EXTERN_FUNC, .of.func = f};
    rc = add_entry(im, d->module, strlen(d->module), d->name, strlen(d->name), x);
    cis_func_free(f); /* the set holds its own reference now, or none */
    if (rc != CIS_OK) return rc;
  }
  return CIS_OK;
}

cis_result cis_imports_add_func(cis_imports *im, const char *mod, size_t mod_len,
                                const char *name, size_t name_len, cis_func *f) {
  cis_extern x = {.kind = CIS_EXTERN_FUNC, .of.func = f};
  return add_entry(im, mod, mod_len, name, name_len, x);
}

cis_result cis_imports_add_memory(cis_imports *im, const char *mod, size_t mod_len,
                                  const char *name, size_t name_len, cis_memory *m) {
  cis_extern x = {.kind = CIS_EXTERN_MEMORY, .of.memory = m};
  return add_entry(im, mod, mod_len, name, name_len, x);
}

cis_result cis_imports_add_table(cis_imports *im, const char *mod, size_t mod_len,
                                 const char *name, size_t name_len, cis_table *t) {
  cis_extern x = {.kind = CIS_EXTERN_TABLE, .of.table = t};
  return add_entry(im, mod, mod_len, name, name_len, x);
}

cis_result cis_imports_add_global(cis_imports *im, const char *mod, size_t mod_len,
                                  const char *name, size_t name_len, cis_global *g) {
  cis_extern x = {.kind = CIS_EXTERN_GLOBAL, .of.global = g};
  return add_entry(im, mod, mod_len, name, name_len, x);
}

/* Registers inst's exports under module name `as`. Registering the same
 * name again shadows the earlier instance, as the spec's `register` does. */
cis_result cis_imports_add_instance(cis_imports *im, const char *as, size_t as_len,
                                    cis_instance *inst) {
  if (!im) return CIS_EINVAL;
  if (!inst || (!as && as_len)) return cis__fail(im, CIS_EINVAL, "instance or name is NULL");
  if (im->nregs == im->cap_regs) {
    uint32_t ncap = im->cap_regs ? im->cap_regs * 2 : 8;
    import_reg *nr = realloc(im->regs, (size_t)ncap * sizeof *nr);
    if (!nr) return cis__fail(im, CIS_ENOMEM, "out of memory registering an instance");
    im->regs = nr;
    im->cap_regs = ncap;
  }
  char *copy = dup_bytes(as ? as : "", as_len);
  if (!copy) return cis__fail(im, CIS_ENOMEM, "out of memory registering an instance");
  im->regs[im->nregs++] = (import_reg){copy, as_len, cis_instance_ref(inst)};
  return CIS_OK;
}

cis_result cis_imports_set_base(cis_imports *im, const cis_imports *base) {
  if (!im) return CIS_EINVAL;
  if (base == im || (base && base->engine != im->engine))
    return cis__fail(im, CIS_EINVAL, "an imports set's base must be another set of the same engine");
  im->base = base;
  return CIS_OK;
}

/* Looks up (mod, name) in im alone: its entries, then its registered
 * instances, the latest first. */
static cis_result find_own(const cis_imports *im, const char *mod, size_t mod_len, const char *name,
                           size_t name_len, cis_extern *out) {
  uint32_t i = find_entry(im, mod, mod_len, name, name_len);
  if (i != UINT32_MAX) {
    *out = im->entries[i].ext;
    return CIS_OK;
  }
  for (uint32_t r = im->nregs; r-- > 0;) {
    const import_reg *g = &im->regs[r];
    if (g->as_len != mod_len || memcmp(g->as, mod, mod_len) != 0) continue;
    return cis__instance_export(g->inst, name, name_len, out);
  }
  return CIS_ENOTFOUND;
}

cis_result cis__imports_find(const cis_imports *im, const char *mod, size_t mod_len,
                             const char *name, size_t name_len, cis_extern *out) {
  if (!im) return CIS_ENOTFOUND;
  cis_result rc = find_own(im, mod, mod_len, name, name_len, out);
  if (rc == CIS_ENOTFOUND && im->base) rc = find_own(im->base, mod, mod_len, name, name_len, out);
  return rc;
}
