/*
 * This file implements the engine: its default limits, the registry of
 * execution engines and the choice among them, the engine-wide table of
 * canonical function types, and the list of pinned instances that live
 * until the engine is freed. It also holds the small hash index the
 * runtime's other tables use.
 *
 * Canonical types make function-type equality one integer compare, for the
 * linker (imported functions) and for call_indirect across instances. The
 * table only grows: a type once seen stays until the engine is freed, which
 * bounds it by the number of distinct signatures ever loaded.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/gc.h"
#include "runtime/rt_internal.h"

/* ------------------------------------------------------------ hash index */


/* Places entry in the first free slot of its probe sequence. */
static void index_put(cis__index_slot *slots, uint32_t cap, uint32_t hash, uint32_t entry) {
  uint32_t i = hash & (cap - 1);
  while (slots[i].entry) i = (i + 1) & (cap - 1);
  slots[i].entry = entry + 1;
  slots[i].hash = hash;
}

cis_result cis__index_add(cis__index *ix, uint64_t hash, uint32_t entry) {
  if ((uint64_t)(ix->count + 1) * 4 > (uint64_t)ix->cap * 3) {
    uint32_t ncap = ix->cap ? ix->cap * 2 : 16;
    if (ncap == 0 || ncap > (1u << 30)) return CIS_ENOMEM;
    cis__index_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns) return CIS_ENOMEM;
    for (uint32_t i = 0; i < ix->cap; i++)
      if (ix->slots[i].entry) index_put(ns, ncap, ix->slots[i].hash, ix->slots[i].entry - 1);
    free(ix->slots);
    ix->slots = ns;
    ix->cap = ncap;
  }
  index_put(ix->slots, ix->cap, (uint32_t)hash, entry);
  ix->count++;
  return CIS_OK;
}

uint32_t cis__index_find(const cis__index *ix, uint64_t hash,
                         bool (*match)(const void *ctx, uint32_t entry), const void *ctx) {
  if (!ix->cap) return UINT32_MAX;
  uint32_t h = (uint32_t)hash;
  for (uint32_t i = h & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
    const cis__index_slot *s = &ix->slots[i];
    if (!s->entry) return UINT32_MAX;
    if (s->hash == h && match(ctx, s->entry - 1)) return s->entry - 1;
  }
}

void cis__index_free(cis__index *ix) {
  free(ix->slots);
  ix->slots = NULL;
  ix->cap = ix->count = 0;
}

/* ---------------------------------------------------------------- limits */

void cis_limits_default(cis_limits *l) {
  if (!l) return;
  memset(l, 0, sizeof *l);
  l->timeout_ms = CIS_DEFAULT_TIMEOUT_MS;
  l->max_memory_bytes = CIS_DEFAULT_MAX_MEMORY;
  l->max_call_depth = CIS_DEFAULT_MAX_CALL_DEPTH;
  l->max_stack_bytes = CIS_DEFAULT_MAX_STACK_BYTES;
  l->fuel = 0;
  l->max_table_elems = 0;
}

/* ---------------------------------------------------------------- engine */

/* Registered engines, in registration order. A fixed table: engines are
 * compiled in and few, and a registry that never frees needs no teardown. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static const cis__engine_ops *registry[CIS__MAX_ENGINES];
static size_t nregistered;

cis_result cis__engine_register(const cis__engine_ops *ops) {
  if (!ops || !ops->name || !ops->prepare || !ops->unprepare || !ops->call) return CIS_EINVAL;
  cis_result rc = CIS_OK;
  pthread_mutex_lock(&registry_lock);
  size_t i = 0;
  while (i < nregistered && strcmp(registry[i]->name, ops->name) != 0) i++;
  if (i < nregistered) rc = registry[i] == ops ? CIS_OK : CIS_EEXIST;
  else if (nregistered == CIS__MAX_ENGINES) rc = CIS_ETOOBIG;
  else registry[nregistered++] = ops;
  pthread_mutex_unlock(&registry_lock);
  return rc;
}

const cis__engine_ops *cis__engine_find(const char *name) {
  const cis__engine_ops *ops = NULL;
  pthread_mutex_lock(&registry_lock);
  for (size_t i = 0; i < nregistered && !ops; i++)
    if (!name || strcmp(registry[i]->name, name) == 0) ops = registry[i];
  pthread_mutex_unlock(&registry_lock);
  return ops;
}

cis_result cis__engine_create(const cis_engine_config *cfg, cis_engine **out) {
  *out = NULL;
  const cis__engine_ops *ops = cis__engine_find(cfg->engine);
  if (!ops) return CIS_EUNSUPPORTED;
  cis__engine_rt *r = calloc(1, sizeof *r);
  if (!r) return CIS_ENOMEM;
  cis_engine *e = &r->pub;
  cis__handle_init(&e->hdr, CIS__H_ENGINE);
  e->cfg = *cfg;
  e->cfg.engine = ops->name; /* the caller's string need not outlive us */
  e->ops = ops;
  pthread_mutex_init(&r->pin_lock, NULL);
  for (unsigned k = 0; k < CIS__POOL_STRIPES; k++) pthread_mutex_init(&r->pools[k].lock, NULL);
  *out = e;
  return CIS_OK;
}

bool cis__engine_pin(cis_engine *e, cis_instance *inst) {
  cis__engine_rt *r = (cis__engine_rt *)e;
  bool ok = true;
  pthread_mutex_lock(&r->pin_lock);
  if (r->closing) {
    ok = false;
  } else if (r->npinned == r->cap_pinned) {
    size_t ncap = r->cap_pinned ? r->cap_pinned * 2 : 8;
    cis_instance **np = realloc(r->pinned, ncap * sizeof *np);
    if (np) {
      r->pinned = np;
      r->cap_pinned = ncap;
    } else {
      ok = false;
    }
  }
  if (ok) r->pinned[r->npinned++] = inst;
  pthread_mutex_unlock(&r->pin_lock);
  return ok;
}

/* Frees the engine. Every module, instance, imports set and standalone
 * object made from it must have been freed before; instances pinned by the
 * runtime itself are freed here. */
void cis_engine_free(cis_engine *e) {
  if (!e) return;
  cis__engine_rt *r = (cis__engine_rt *)e;
  /* Destroying a pinned instance can release others (its dependencies);
   * with closing set they are destroyed at once instead of pinned. */
  pthread_mutex_lock(&r->pin_lock);
  r->closing = true;
  cis_instance **pinned = r->pinned;
  size_t n = r->npinned;
  r->pinned = NULL;
  r->npinned = r->cap_pinned = 0;
  pthread_mutex_unlock(&r->pin_lock);
  for (size_t i = 0; i < n; i++) cis__instance_destroy(pinned[i]);
  free(pinned);
  cis__exn_free_list(r->kept_exns);
  cis__gc_heap_free(e);
  cis__memory_pool_drain(e); /* after the pinned instances gave theirs back */

  pthread_mutex_destroy(&r->pin_lock);
  for (unsigned k = 0; k < CIS__POOL_STRIPES; k++) pthread_mutex_destroy(&r->pools[k].lock);
  free(r);
}

/* ------------------------------------------------------- canonical types */

/* A canonical type. Each recursion group takes consecutive ids; its
 * first holds the group's key (cis__group_key, other modules' types named
 * by canonical id), so that equal groups of any modules have equal keys
 * and their types equal ids. */
typedef struct canon_type {
  uint32_t len;   /* words of key; 0 for a group's later types */
  uint64_t *key;  /* the group's key, or NULL */
  uint8_t comp;   /* CIS__COMP_* (0 a function type) */
  uint32_t super; /* declared supertype's id + 1, 0 none */
} canon_type;

typedef struct group_probe {
  uint32_t len;        /* words */
  const uint64_t *key; /* the group's key */
} group_probe;

/* The process's canonical types: one table for every engine, so that ids
 * compare across engines. Types are small and few; the table lives as
 * long as the process (reachable, so no leak report). */
static struct {
  pthread_mutex_t lock;       /* guards the rest */
  uint32_t n, cap;            /* types and allocated entries */
  canon_type *types;          /* index = canonical type id */
  cis__index index;           /* groups (their first id) by key */
} canon = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool group_match(const void *ctx, uint32_t entry) {
  const group_probe *g = ctx;
  const canon_type *c = &canon.types[entry];
  return c->len == g->len && memcmp(c->key, g->key, g->len * sizeof *g->key) == 0;
}

/* Adds the n types of group [first, first + n) of types, key taken over,
 * as new canonical types from id *base; canon.lock is held. Ids stay
 * below 2^31: a group key marks its own types with the top bit. */
static cis_result add_group_locked(const cis__functype *types, uint32_t first, uint32_t n, const uint32_t *ids,
                                   uint64_t *key, uint32_t len, uint64_t h, uint32_t *base) {
  cis_result rc = CIS_OK;
  if (n == 0 || n > 0x7fffffffu - canon.n) return n ? CIS_ETOOBIG : CIS_OK;
  if (canon.n + n > canon.cap) {
    uint32_t ncap = canon.cap ? canon.cap : 64;
    while (ncap < canon.n + n) ncap *= 2;
    canon_type *nt = realloc(canon.types, (size_t)ncap * sizeof *nt);
    if (!nt) return CIS_ENOMEM;
    canon.types = nt;
    canon.cap = ncap;
  }
  CIS_TRY(cis__index_add(&canon.index, h, canon.n));
  *base = canon.n;
  for (uint32_t k = 0; k < n; k++) {
    const cis__functype *t = &types[first + k];
    uint32_t sup = t->super ? t->super - 1 : 0;
    canon.types[canon.n + k] = (canon_type){
        .len = k ? 0 : len,
        .key = k ? NULL : key,
        .comp = t->comp == CIS__COMP_FUNC ? 0 : t->comp,
        .super = !t->super ? 0 : (sup >= first ? *base + (sup - first) : ids[sup]) + 1,
    };
  }
  canon.n += n;
fail:
  return rc;
}

cis_result cis__engine_intern_group(const cis__functype *types, uint32_t first, uint32_t n, const uint32_t *ids,
                                    uint32_t *out) {
  cis_result rc = CIS_OK;
  size_t len = cis__group_key_len(types, first, n);
  uint64_t *key = malloc(len * sizeof *key);
  if (!key) return CIS_ENOMEM;
  len = cis__group_key(types, first, n, ids, key);
  if (len > UINT32_MAX) {
    free(key);
    return CIS_ETOOBIG;
  }
  group_probe g = {(uint32_t)len, key};
  uint64_t h = cis__hash_bytes(0, key, len * sizeof *key);
  uint32_t base = 0;
  pthread_mutex_lock(&canon.lock);
  uint32_t found = cis__index_find(&canon.index, h, group_match, &g);
  if (found != UINT32_MAX) base = found;
  else rc = add_group_locked(types, first, n, ids, key, (uint32_t)len, h, &base);
  pthread_mutex_unlock(&canon.lock);
  if (found != UINT32_MAX || rc != CIS_OK || n == 0) free(key);
  for (uint32_t k = 0; rc == CIS_OK && k < n; k++) out[k] = base + k;
  return rc;
}

cis_result cis__engine_intern_type(cis_engine *e, const cis__functype *t, uint32_t *id) {
  (void)e;
  return cis__engine_intern_group(t, 0, 1, NULL, id);
}

/* The abstract heap type of canonical type id's references; canon.lock
 * is held. */
static uint8_t canon_kind_locked(uint32_t id) { return cis__comp_kind(canon.types[id].comp); }

bool cis__canon_id_sub(uint32_t a, uint32_t b) {
  if (a == b) return true;
  bool r = false;
  pthread_mutex_lock(&canon.lock);
  for (uint32_t k = 0; !r && a < canon.n && canon.types[a].super && k < CIS__MAX_SUBTYPE_DEPTH; k++) {
    a = canon.types[a].super - 1;
    r = a == b;
  }
  pthread_mutex_unlock(&canon.lock);
  return r;
}

bool cis__vt_canon_sub(uint64_t a, uint64_t b) {
  if (a == b) return true;
  uint32_t x = (uint32_t)a, y = (uint32_t)b, ia = (uint32_t)(a >> 32), ib = (uint32_t)(b >> 32);
  if (!cis__vt_is_ref(x) || !cis__vt_is_ref(y)) return false;
  if (cis__vt_nullable(x) && !cis__vt_nullable(y)) return false;
  if (ia && ib) return cis__canon_id_sub(ia - 1, ib - 1);
  pthread_mutex_lock(&canon.lock);
  uint8_t ka = ia ? canon_kind_locked(ia - 1) : cis__vt_kind(x), kb = ib ? canon_kind_locked(ib - 1) : 0;
  pthread_mutex_unlock(&canon.lock);
  if (!ib) return cis__kind_sub(ka, cis__vt_kind(y));
  return cis__kind_is_bottom(ka) && cis__kind_top(ka) == cis__kind_top(kb);
}
