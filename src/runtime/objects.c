/*
 * This file implements linear memories, tables and globals: creation for an
 * instance or standalone, reference counting, growth under the caps, and the
 * public accessors.
 *
 * A memory reserves its whole reachable range of address space up front
 * (PROT_NONE, no swap reserved) and only makes pages accessible as it
 * grows, so `base` never moves: engines and host functions may keep the
 * pointer across calls, and only need to re-check the size. The range is
 * the smallest of the declared maximum, wasm32's 4 GiB and the memory cap
 * at creation; a cap raised later is honoured by extending the reservation
 * in place when the address space just past it is free.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/rt_internal.h"

#define DEFAULT_MAX_TABLE_ELEMS 10000000u

uint32_t cis__cap_pages(uint64_t max_bytes) {
  if (max_bytes == 0 || max_bytes / CIS__PAGE_SIZE >= CIS__MAX_MEMORY_PAGES)
    return CIS__MAX_MEMORY_PAGES;
  return (uint32_t)(max_bytes / CIS__PAGE_SIZE);
}

uint32_t cis__cap_elems(uint64_t max_elems) {
  if (max_elems == 0) return DEFAULT_MAX_TABLE_ELEMS;
  return max_elems > UINT32_MAX ? UINT32_MAX : (uint32_t)max_elems;
}

/* ---------------------------------------------------------------- memory */

/* Bytes of address space to keep for a memory that may reach `pages`;
 * never zero, so even an empty memory has a valid, unique base. */
static size_t reserve_bytes(uint32_t pages) {
  uint64_t b = (uint64_t)pages * CIS__PAGE_SIZE;
  return b ? (size_t)b : (size_t)sysconf(_SC_PAGESIZE);
}

cis_result cis__memory_create(void *msg_handle, const cis__limits *lim, uint64_t max_bytes,
                              cis_memory **out) {
  uint32_t cap = cis__cap_pages(max_bytes);
  *out = NULL;
  if (lim->min > CIS__MAX_MEMORY_PAGES || (lim->has_max && lim->max > CIS__MAX_MEMORY_PAGES))
    return cis__fail(msg_handle, CIS_EINVAL, "memory size must be at most 65536 pages (4GiB)");
  if (lim->has_max && lim->max < lim->min)
    return cis__fail(msg_handle, CIS_EINVAL,
                     "size minimum must not be greater than maximum");
  if (lim->min > cap)
    return cis__fail(msg_handle, CIS_EMEMLIMIT,
                     "memory minimum of %u pages exceeds the limit of %u pages", lim->min, cap);
  cis_memory *m = calloc(1, sizeof *m);
  if (!m) return cis__fail(msg_handle, CIS_ENOMEM, "out of memory creating a memory");
  uint32_t reach = lim->has_max && lim->max < cap ? lim->max : cap;
  m->reserved = reserve_bytes(reach);
  void *p = mmap(NULL, m->reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
                 0);
  if (p == MAP_FAILED) {
    free(m);
    return cis__fail(msg_handle, CIS_ENOMEM, "cannot reserve %llu bytes for a memory: %s",
                     (unsigned long long)reserve_bytes(reach), strerror(errno));
  }
  m->base = p;
  m->size = (uint64_t)lim->min * CIS__PAGE_SIZE;
  if (m->size && mprotect(m->base, m->size, PROT_READ | PROT_WRITE) != 0) {
    munmap(m->base, m->reserved);
    free(m);
    return cis__fail(msg_handle, CIS_ENOMEM, "cannot commit %u pages: %s", lim->min,
                     strerror(errno));
  }
  atomic_init(&m->refs, 1);
  m->has_max = lim->has_max;
  m->type_max = lim->has_max ? lim->max : CIS__MAX_MEMORY_PAGES;
  m->max_pages = m->type_max < cap ? m->type_max : cap;
  *out = m;
  return CIS_OK;
}

cis_memory *cis__memory_ref(cis_memory *m) {
  if (m) atomic_fetch_add(&m->refs, 1);
  return m;
}

void cis__memory_set_cap(cis_memory *m, uint64_t max_bytes) {
  uint32_t cap = cis__cap_pages(max_bytes);
  m->max_pages = m->type_max < cap ? m->type_max : cap;
}

/* Makes the reservation cover new_bytes, extending it in place when the
 * cap was raised after creation. False when the space is taken. */
static bool reserve_more(cis_memory *m, uint64_t new_bytes) {
  if (new_bytes <= m->reserved) return true;
  size_t extra = (size_t)(new_bytes - m->reserved);
  uint8_t *want = m->base + m->reserved;
  void *p = mmap(want, extra, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) return false;
  if (p != want) { /* kernels before 4.17 treat the flag as a hint */
    munmap(p, extra);
    return false;
  }
  m->reserved = new_bytes;
  return true;
}

/* memory.grow: the old size in pages, or -1 when the result would pass the
 * memory's maximum or cap, or the host cannot commit the pages. */
int64_t cis__memory_grow(cis_memory *m, uint32_t delta) {
  uint64_t old_pages = m->size / CIS__PAGE_SIZE;
  if (delta == 0) return (int64_t)old_pages;
  uint64_t new_pages = old_pages + delta;
  if (new_pages > m->max_pages) return -1;
  uint64_t new_size = new_pages * CIS__PAGE_SIZE;
  if (!reserve_more(m, new_size)) return -1;
  if (mprotect(m->base + m->size, (size_t)(new_size - m->size), PROT_READ | PROT_WRITE) != 0)
    return -1;
  m->size = new_size;
  return (int64_t)old_pages;
}

cis_result cis_memory_new(cis_engine *e, uint32_t min_pages, uint32_t max_pages, bool has_max,
                          cis_memory **out) {
  if (!out) return CIS_EINVAL;
  *out = NULL;
  if (!e) return CIS_EINVAL;
  cis__limits lim = {min_pages, max_pages, has_max};
  return cis__memory_create(e, &lim, e->cfg.limits.max_memory_bytes, out);
}

void cis_memory_free(cis_memory *m) {
  if (!m) return;
  if (atomic_fetch_sub(&m->refs, 1) != 1) return;
  munmap(m->base, m->reserved);
  free(m);
}

uint64_t cis_memory_size(const cis_memory *m) { return m ? m->size : 0; }
uint8_t *cis_memory_data(cis_memory *m) { return m ? m->base : NULL; }
int64_t cis_memory_grow(cis_memory *m, uint32_t delta) {
  return m ? cis__memory_grow(m, delta) : -1;
}

/* ----------------------------------------------------------------- table */

cis_result cis__table_create(void *msg_handle, uint8_t elem, const cis__limits *lim,
                             uint64_t max_elems, cis_instance *owner, cis_table **out) {
  uint32_t cap = cis__cap_elems(max_elems);
  *out = NULL;
  if (elem != CIS__FUNCREF && elem != CIS__EXTERNREF)
    return cis__fail(msg_handle, CIS_EINVAL, "table element type 0x%02x is not a reference type",
                     elem);
  if (lim->has_max && lim->max < lim->min)
    return cis__fail(msg_handle, CIS_EINVAL,
                     "size minimum must not be greater than maximum");
  if (lim->min > cap)
    return cis__fail(msg_handle, CIS_EMEMLIMIT,
                     "table minimum of %u elements exceeds the limit of %u elements", lim->min,
                     cap);
  cis__table_rt *r = calloc(1, sizeof *r);
  if (!r) return cis__fail(msg_handle, CIS_ENOMEM, "out of memory creating a table");
  cis_table *t = &r->pub;
  t->elems = calloc(lim->min ? lim->min : 1, sizeof *t->elems);
  if (!t->elems) {
    free(r);
    return cis__fail(msg_handle, CIS_ENOMEM, "out of memory for a table of %u elements",
                     lim->min);
  }
  atomic_init(&t->refs, 1);
  t->elem = elem;
  t->size = t->capacity = lim->min;
  t->max = lim->max;
  t->has_max = lim->has_max;
  t->limit = lim->has_max && lim->max < cap ? lim->max : cap;
  r->owner = owner;
  *out = t;
  return CIS_OK;
}

cis_table *cis__table_ref(cis_table *t) {
  if (t) atomic_fetch_add(&t->refs, 1);
  return t;
}

void cis__table_disown(cis_table *t) { ((cis__table_rt *)t)->owner = NULL; }

void cis__table_set_cap(cis_table *t, uint64_t max_elems) {
  uint32_t cap = cis__cap_elems(max_elems);
  t->limit = t->has_max && t->max < cap ? t->max : cap;
}

/* table.grow: the old size, or -1 past the maximum or cap or when out of
 * host memory. The element array may move: engines re-read t->elems. */
int64_t cis__table_grow(cis_table *t, uint32_t delta, void *init) {
  uint32_t old = t->size;
  uint64_t want = (uint64_t)old + delta;
  if (want > t->limit) return -1;
  if (want > t->capacity) {
    /* Grow geometrically (within the cap) so repeated table.grow 1 stays
     * linear overall. */
    uint64_t ncap = (uint64_t)t->capacity * 2;
    if (ncap < want) ncap = want;
    if (ncap > t->limit) ncap = t->limit;
    void **ne = realloc(t->elems, (size_t)ncap * sizeof *ne);
    if (!ne) return -1;
    t->elems = ne;
    t->capacity = (uint32_t)ncap;
  }
  for (uint64_t i = old; i < want; i++) t->elems[i] = init;
  t->size = (uint32_t)want;
  return old;
}

cis_result cis_table_new(cis_engine *e, cis_valtype elem, uint32_t min, uint32_t max,
                         bool has_max, cis_table **out) {
  if (!out) return CIS_EINVAL;
  *out = NULL;
  if (!e) return CIS_EINVAL;
  cis__limits lim = {min, max, has_max};
  return cis__table_create(e, (uint8_t)elem, &lim, e->cfg.limits.max_table_elems, NULL, out);
}

void cis_table_free(cis_table *t) {
  if (!t) return;
  if (atomic_fetch_sub(&t->refs, 1) != 1) return;
  free(t->elems);
  free(t);
}

/* ---------------------------------------------------------------- global */

/* Value types a global may hold through this API: a cis_slot is 8 bytes,
 * so v128 has no representation here. */
static bool global_type_ok(uint8_t t) {
  switch (t) {
  case CIS__I32: case CIS__I64: case CIS__F32: case CIS__F64:
  case CIS__FUNCREF: case CIS__EXTERNREF: return true;
  default: return false;
  }
}

cis_result cis__global_create(uint8_t type, bool mutable_, cis_slot val, cis_instance *owner,
                              cis_global **out) {
  *out = NULL;
  if (!global_type_ok(type)) return CIS_EUNSUPPORTED;
  cis__global_rt *r = calloc(1, sizeof *r);
  if (!r) return CIS_ENOMEM;
  atomic_init(&r->pub.refs, 1);
  r->pub.type = type;
  r->pub.mutable_ = mutable_;
  r->pub.val = val;
  r->owner = owner;
  *out = &r->pub;
  return CIS_OK;
}

cis_global *cis__global_ref(cis_global *g) {
  if (g) atomic_fetch_add(&g->refs, 1);
  return g;
}

void cis__global_disown(cis_global *g) { ((cis__global_rt *)g)->owner = NULL; }

/* Zero-extends i32/f32 bits so the slot compares and copies the same way
 * whichever member wrote it. */
static cis_slot canonical_slot(uint8_t type, cis_slot v) {
  if (type == CIS__I32 || type == CIS__F32) v.u64 = v.u32;
  return v;
}

cis_result cis_global_new(cis_engine *e, cis_val init, bool mutable_, cis_global **out) {
  if (!out) return CIS_EINVAL;
  *out = NULL;
  if (!e) return CIS_EINVAL;
  if (!global_type_ok((uint8_t)init.type) || (unsigned)init.type > 0xff)
    return cis__fail(e, CIS_EINVAL, "a global cannot hold value type 0x%x", (unsigned)init.type);
  cis_result rc = cis__global_create((uint8_t)init.type, mutable_,
                                     canonical_slot((uint8_t)init.type, init.of), NULL, out);
  if (rc != CIS_OK) return cis__fail(e, rc, "cannot create a global: %s", cis_strerror(rc));
  return CIS_OK;
}

void cis_global_free(cis_global *g) {
  if (!g) return;
  if (atomic_fetch_sub(&g->refs, 1) == 1) free((cis__global_rt *)g);
}

cis_val cis_global_get(const cis_global *g) {
  cis_val v;
  memset(&v, 0, sizeof v);
  if (!g) return v;
  v.type = (cis_valtype)g->type;
  v.of = g->val;
  return v;
}

/* Sets a mutable global. CIS_EINVAL when g is NULL, immutable, or v has
 * another type. */
cis_result cis_global_set(cis_global *g, cis_val v) {
  if (!g || !g->mutable_ || (unsigned)v.type != g->type) return CIS_EINVAL;
  g->val = canonical_slot(g->type, v.of);
  return CIS_OK;
}
