/*
 * This file implements linear memories, tables and globals: creation for an
 * instance or standalone, reference counting, growth under the caps, and the
 * public accessors.
 *
 * A memory reserves its whole reachable range of address space up front
 * (PROT_NONE, no swap reserved) and only makes pages accessible as it
 * grows, so `base` never moves: engines and host functions may keep the
 * pointer across calls, and only need to re-check the size. The range is
 * the smallest of the declared maximum, the memory cap at creation and,
 * for a 32-bit memory (or a 64-bit one without a cap), 4 GiB; a cap raised
 * later, or a 64-bit memory growing past 4 GiB without one, is honoured by
 * extending the reservation in place when the address space just past it
 * is free.
 *
 * Reuse: a memory created for an engine takes back a reservation an
 * earlier memory of that engine released, instead of mapping a new one,
 * and gives its own back when freed (the engine's bounded pool). Mapping
 * and unmapping hundreds of MiB of address space per call was a quarter
 * of a warm skill call. Released pages are zeroed first (by memset up to
 * a small size, MADV_DONTNEED past it), so a reused memory reads as zero
 * like a fresh one.
 *
 * Images: a memory may start with pages mapped copy-on-write from a file
 * holding its initial contents (cis__memory_map_image: a module's data
 * segments, which the compiled tier's cache keeps laid out), so that a
 * start faults in only the pages the guest touches instead of copying
 * them all. Growth past them maps anonymous pages as ever (zeros), and a
 * release maps anonymous pages over them before pooling: MADV_DONTNEED
 * on a private file mapping brings back the file's bytes, not zeros.
 *
 * Memory accounts (the rule is in cis.h, cis_limits): a memory charges its
 * size, a table its allocated elements, to the account that pays for it,
 * before committing or allocating anything, and gives the charge back when
 * it is freed. Growth past the account answers -1 like growth past a cap.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/gc.h"
#include "runtime/rt_internal.h"

#define DEFAULT_MAX_TABLE_ELEMS 10000000u

uint32_t cis__cap_pages(uint64_t max_bytes) {
  if (max_bytes == 0 || max_bytes / CIS__PAGE_SIZE >= CIS__MAX_MEMORY_PAGES)
    return CIS__MAX_MEMORY_PAGES;
  return (uint32_t)(max_bytes / CIS__PAGE_SIZE);
}

/* The pages a memory may reach under the memory cap max_bytes (0: none):
 * a 32-bit memory's addresses end at 4 GiB; a 64-bit memory passes that
 * under a cap set higher, and without one reaches what its reservation
 * can be extended to (reserve_more). */
static uint64_t memory_cap_pages(uint64_t max_bytes, bool is64) {
  if (!is64) return cis__cap_pages(max_bytes);
  if (max_bytes == 0) return CIS__MAX_MEMORY64_PAGES;
  return max_bytes / CIS__PAGE_SIZE;
}

uint32_t cis__cap_elems(uint64_t max_elems) {
  if (max_elems == 0) return DEFAULT_MAX_TABLE_ELEMS;
  return max_elems > UINT32_MAX ? UINT32_MAX : (uint32_t)max_elems;
}

/* --------------------------------------------------------------- account */

cis__account *cis__account_new(uint64_t limit) {
  cis__account *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  atomic_init(&a->refs, 1);
  pthread_mutex_init(&a->lock, NULL);
  a->limit = limit;
  return a;
}

cis__account *cis__account_ref(cis__account *a) {
  if (a) atomic_fetch_add(&a->refs, 1);
  return a;
}

void cis__account_free(cis__account *a) {
  if (!a || atomic_fetch_sub(&a->refs, 1) != 1) return;
  pthread_mutex_destroy(&a->lock);
  free(a);
}

/* What a charge of `kind` may still take; the lock is held. */
static uint64_t left_locked(const cis__account *a, int kind) {
  if (!a->limit) return UINT64_MAX;
  uint64_t all = a->limit > UINT64_MAX - CIS_MEMORY_SLACK ? UINT64_MAX
                                                          : a->limit + CIS_MEMORY_SLACK;
  uint64_t left = a->used >= all ? 0 : all - a->used;
  if (kind == CIS__CHARGE_MEMORY) {
    uint64_t mleft = a->mem >= a->limit ? 0 : a->limit - a->mem;
    if (mleft < left) left = mleft;
  }
  return left;
}

bool cis__account_charge(cis__account *a, uint64_t n, int kind) {
  if (!a || n == 0) return true;
  pthread_mutex_lock(&a->lock);
  bool ok = n <= left_locked(a, kind);
  if (ok) {
    a->used += n;
    if (kind == CIS__CHARGE_MEMORY) a->mem += n;
    if (a->used > a->peak) a->peak = a->used;
  }
  pthread_mutex_unlock(&a->lock);
  return ok;
}

void cis__account_uncharge(cis__account *a, uint64_t n, int kind) {
  if (!a || n == 0) return;
  pthread_mutex_lock(&a->lock);
  a->used -= n;
  if (kind == CIS__CHARGE_MEMORY) a->mem -= n;
  pthread_mutex_unlock(&a->lock);
}

uint64_t cis__account_left(cis__account *a, int kind) {
  if (!a) return UINT64_MAX;
  pthread_mutex_lock(&a->lock);
  uint64_t left = left_locked(a, kind);
  pthread_mutex_unlock(&a->lock);
  return left;
}

uint64_t cis__account_used(cis__account *a) {
  if (!a) return 0;
  pthread_mutex_lock(&a->lock);
  uint64_t used = a->used;
  pthread_mutex_unlock(&a->lock);
  return used;
}

uint64_t cis__account_peak(cis__account *a) {
  if (!a) return 0;
  pthread_mutex_lock(&a->lock);
  uint64_t peak = a->peak;
  pthread_mutex_unlock(&a->lock);
  return peak;
}

void cis__account_set_limit(cis__account *a, uint64_t limit) {
  pthread_mutex_lock(&a->lock);
  a->limit = limit;
  pthread_mutex_unlock(&a->lock);
}

/* The failure of a charge of `need` bytes of `kind` for `what`. */
static cis_result over_account(void *msg_handle, cis__account *a, const char *what,
                               uint64_t need, int kind) {
  pthread_mutex_lock(&a->lock);
  uint64_t limit = a->limit, left = left_locked(a, kind);
  pthread_mutex_unlock(&a->lock);
  return cis__fail(msg_handle, CIS_EMEMLIMIT,
                   "%s needs %llu bytes, more than the memory limit of %llu bytes leaves "
                   "(%llu)",
                   what, (unsigned long long)need, (unsigned long long)limit,
                   (unsigned long long)left);
}

/* ---------------------------------------------------------------- memory */

/* What a 64-bit memory without a cap reserves first: 1 TiB of address
 * space (of x86-64's 128 TiB for a process), so that it grows past 4 GiB
 * whatever was mapped after it. */
#define UNCAPPED64_RESERVE_PAGES ((uint64_t)1 << 24)

/* Bytes of address space to keep for a memory that may reach `pages`;
 * never zero, so even an empty memory has a valid, unique base. */
static size_t reserve_bytes(uint64_t pages) {
  uint64_t b = (uint64_t)pages * CIS__PAGE_SIZE;
  return b ? (size_t)b : (size_t)sysconf(_SC_PAGESIZE);
}

/* ----------------------------------------------------------- memory pool */

/* The stripe a thread uses first: threads are dealt stripes in turn the
 * first time they pool something, so two threads never share one while
 * there are enough. */
static unsigned own_stripe(void) {
  static atomic_uint next;
  static _Thread_local unsigned mine = UINT32_MAX;
  if (mine == UINT32_MAX) mine = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) % CIS__POOL_STRIPES;
  return mine;
}

static cis__pool_stripe *stripe(cis_engine *e, unsigned k) {
  return &((cis__engine_rt *)e)->pools[(own_stripe() + k) % CIS__POOL_STRIPES];
}

/* Takes the smallest reservation of at least want bytes from the first
 * stripe that has one, the thread's own first. */
static bool pool_take(cis_engine *e, uint64_t want, cis__pooled_mem *out) {
  for (unsigned k = 0; k < CIS__POOL_STRIPES; k++) {
    cis__pool_stripe *st = stripe(e, k);
    pthread_mutex_lock(&st->lock);
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < st->nmem; i++)
      if (st->mem[i].reserved >= want && (best == UINT32_MAX || st->mem[i].reserved < st->mem[best].reserved))
        best = i;
    if (best != UINT32_MAX) {
      *out = st->mem[best];
      st->mem[best] = st->mem[--st->nmem];
      st->bytes -= out->reserved;
      st->reused++;
    }
    pthread_mutex_unlock(&st->lock);
    if (best != UINT32_MAX) return true;
  }
  return false;
}

/* Keeps a reservation for reuse in the first stripe with room; false when
 * every stripe is full (in count or address space), the caller then
 * unmaps it. */
static bool pool_put(cis_engine *e, const cis__pooled_mem *pm) {
  for (unsigned k = 0; k < CIS__POOL_STRIPES; k++) {
    cis__pool_stripe *st = stripe(e, k);
    bool kept = false;
    pthread_mutex_lock(&st->lock);
    if (st->nmem < CIS__MEM_POOL_MAX && pm->reserved <= CIS__MEM_POOL_MAX_BYTES - st->bytes) {
      st->mem[st->nmem++] = *pm;
      st->bytes += pm->reserved;
      kept = true;
    }
    pthread_mutex_unlock(&st->lock);
    if (kept) return true;
  }
  return false;
}

uint64_t cis__memory_pool_reused(cis_engine *e) {
  uint64_t n = 0;
  for (unsigned k = 0; k < CIS__POOL_STRIPES; k++) {
    cis__pool_stripe *st = stripe(e, k);
    pthread_mutex_lock(&st->lock);
    n += st->reused;
    pthread_mutex_unlock(&st->lock);
  }
  return n;
}

void cis__memory_pool_drain(cis_engine *e) {
  for (unsigned k = 0; k < CIS__POOL_STRIPES; k++) {
    cis__pool_stripe *st = stripe(e, k);
    pthread_mutex_lock(&st->lock);
    for (uint32_t i = 0; i < st->nmem; i++) munmap(st->mem[i].base, st->mem[i].reserved);
    st->nmem = 0;
    st->bytes = 0;
    for (uint32_t i = 0; i < st->nstacks; i++) free(st->stacks[i]);
    st->nstacks = 0;
    pthread_mutex_unlock(&st->lock);
  }
}

cis_slot *cis__stack_take(cis_engine *e, size_t slots) {
  cis_slot *s = NULL;
  for (unsigned k = 0; k < CIS__POOL_STRIPES && !s; k++) {
    cis__pool_stripe *st = stripe(e, k);
    pthread_mutex_lock(&st->lock);
    for (uint32_t i = 0; i < st->nstacks && !s; i++)
      if (st->stack_slots[i] == slots) {
        s = st->stacks[i];
        st->nstacks--;
        st->stacks[i] = st->stacks[st->nstacks];
        st->stack_slots[i] = st->stack_slots[st->nstacks];
      }
    pthread_mutex_unlock(&st->lock);
  }
  return s;
}

void cis__stack_give(cis_engine *e, cis_slot *stack, size_t slots) {
  for (unsigned k = 0; k < CIS__POOL_STRIPES && stack; k++) {
    cis__pool_stripe *st = stripe(e, k);
    pthread_mutex_lock(&st->lock);
    if (st->nstacks < CIS__STACK_POOL_MAX) {
      st->stacks[st->nstacks] = stack;
      st->stack_slots[st->nstacks++] = slots;
      stack = NULL;
    }
    pthread_mutex_unlock(&st->lock);
  }
  free(stack);
}

/* Makes exactly [0, size) of a pooled reservation accessible. */
static bool pool_fit(cis__pooled_mem *pm, uint64_t size) {
  if (pm->accessible > size)
    return mprotect(pm->base + size, (size_t)(pm->accessible - size), PROT_NONE) == 0;
  if (pm->accessible < size)
    return mprotect(pm->base + pm->accessible, (size_t)(size - pm->accessible), PROT_READ | PROT_WRITE) == 0;
  return true;
}

/* Fresh private zero pages over [p, p + n), readable and writable, in
 * place of whatever was mapped there. */
static bool zero_pages(uint8_t *p, uint64_t n) {
  return mmap(p, (size_t)n, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != MAP_FAILED;
}

/* Hands m's reservation to its pool: every page it used is zeroed, or
 * dropped (private anonymous memory reads back as zero afterwards), so
 * the next memory never sees this one's contents, and what grew past the
 * initial size goes back to PROT_NONE. False when it cannot be kept. */
static bool pool_release(cis_memory *m) {
  uint64_t keep = m->init_size < m->size ? m->init_size : m->size;
  /* Pages mapped from an image would read the file back after
   * MADV_DONTNEED, not zeros: anonymous pages replace them. */
  if (m->img_len && !zero_pages(m->base + m->img_start, m->img_len)) return false;
  /* A small memory is cleared by hand: madvise flushes the TLB of every
   * CPU the process runs on, which costs more than writing a few pages
   * of zeros (and the pages stay resident for the next user). */
  uint64_t zeroed = keep <= CIS__MEM_POOL_ZERO_MAX ? keep : 0;
  if (zeroed) memset(m->base, 0, (size_t)zeroed);
  if (m->size > zeroed && madvise(m->base + zeroed, (size_t)(m->size - zeroed), MADV_DONTNEED) != 0)
    return false;
  if (m->size > keep && mprotect(m->base + keep, (size_t)(m->size - keep), PROT_NONE) != 0) return false;
  cis__pooled_mem pm = {m->base, m->reserved, keep};
  return pool_put(m->pool, &pm);
}

/* A reservation of `reserved` bytes whose first `size` bytes are
 * accessible and zero: from e's pool when one fits, else a new mapping.
 * NULL (errno set) on failure. */
static uint8_t *memory_map(cis_engine *e, uint64_t *reserved, uint64_t size) {
  cis__pooled_mem pm;
  if (e && pool_take(e, *reserved, &pm)) {
    if (pool_fit(&pm, size)) {
      *reserved = pm.reserved;
      return pm.base;
    }
    munmap(pm.base, pm.reserved);
  }
  void *p = mmap(NULL, *reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return NULL;
  if (size && mprotect(p, size, PROT_READ | PROT_WRITE) != 0) {
    int err = errno;
    munmap(p, *reserved);
    errno = err;
    return NULL;
  }
  return p;
}

cis_result cis__memory_create(void *msg_handle, const cis__limits *lim, uint64_t max_bytes,
                              cis__account *acct, cis_engine *pool, cis_memory **out) {
  uint64_t cap = memory_cap_pages(max_bytes, lim->is64);
  /* A 64-bit memory may declare up to 2^48 pages, and grow past 4 GiB
   * under a cap above it. */
  uint64_t most = lim->is64 ? CIS__MAX_MEMORY64_PAGES : CIS__MAX_MEMORY_PAGES;
  *out = NULL;
  if (lim->min > most || (lim->has_max && lim->max > most))
    return cis__fail(msg_handle, CIS_EINVAL, "memory size must be at most %s",
                     lim->is64 ? "2^48 pages" : "65536 pages (4GiB)");
  if (lim->has_max && lim->max < lim->min)
    return cis__fail(msg_handle, CIS_EINVAL,
                     "size minimum must not be greater than maximum");
  if (lim->min > cap)
    return cis__fail(msg_handle, CIS_EMEMLIMIT,
                     "memory minimum of %llu pages exceeds the limit of %llu pages",
                     (unsigned long long)lim->min, (unsigned long long)cap);
  uint64_t charge = lim->min * CIS__PAGE_SIZE;
  if (!cis__account_charge(acct, charge, CIS__CHARGE_MEMORY)) {
    char what[64];
    snprintf(what, sizeof what, "a memory of %llu pages", (unsigned long long)lim->min);
    return over_account(msg_handle, acct, what, charge, CIS__CHARGE_MEMORY);
  }
  cis_memory *m = calloc(1, sizeof *m);
  if (!m) {
    cis__account_uncharge(acct, charge, CIS__CHARGE_MEMORY);
    return cis__fail(msg_handle, CIS_ENOMEM, "out of memory creating a memory");
  }
  /* Reserved up front to what it may reach (address space, not memory):
   * memories never move, so a grow must find its pages after the base. A
   * 64-bit memory without a cap reserves up to UNCAPPED64_RESERVE_PAGES,
   * or 4 GiB where the process's address space is short (RLIMIT_AS), and
   * past that extends the reservation in place, where the space after it
   * is free (reserve_more). */
  uint64_t reach = lim->has_max && lim->max < cap ? lim->max : cap;
  if (reach > UNCAPPED64_RESERVE_PAGES && max_bytes == 0) reach = UNCAPPED64_RESERVE_PAGES;
  m->reserved = reserve_bytes(reach);
  m->size = lim->min * CIS__PAGE_SIZE;
  m->base = memory_map(pool, &m->reserved, m->size);
  if (!m->base && max_bytes == 0 && reach > CIS__MAX_MEMORY_PAGES) {
    m->reserved = reserve_bytes(lim->min > CIS__MAX_MEMORY_PAGES ? lim->min : CIS__MAX_MEMORY_PAGES);
    m->base = memory_map(pool, &m->reserved, m->size);
  }
  if (!m->base) {
    int err = errno;
    free(m);
    cis__account_uncharge(acct, charge, CIS__CHARGE_MEMORY);
    return cis__fail(msg_handle, CIS_ENOMEM, "cannot reserve %llu bytes and commit %llu pages for a memory: %s",
                     (unsigned long long)reserve_bytes(reach), (unsigned long long)lim->min, strerror(err));
  }
  atomic_init(&m->refs, 1);
  m->pool = pool;
  m->init_size = m->size;
  m->has_max = lim->has_max;
  m->is64 = lim->is64;
  m->type_max = lim->has_max ? lim->max : most;
  m->max_pages = m->type_max < cap ? m->type_max : cap;
  atomic_init(&m->acct, cis__account_ref(acct));
  *out = m;
  return CIS_OK;
}

int cis__memory_map_image(cis_memory *m, const cis__mem_image *img) {
  if (!img->len || img->start > m->size || img->len > m->size - img->start) return 0;
  uint8_t *at = m->base + img->start;
  if (mmap(at, (size_t)img->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, img->fd, 0) !=
      MAP_FAILED) {
    m->img_start = img->start;
    m->img_len = img->len;
    return 1;
  }
  /* A MAP_FIXED that failed may have unmapped the range already. */
  return zero_pages(at, img->len) ? 0 : -1;
}

cis_result cis__memory_adopt(void *msg_handle, cis_memory *m, cis__account *a) {
  if (atomic_load(&m->acct) || !a) return CIS_OK;
  uint64_t charge = m->size;
  if (!cis__account_charge(a, charge, CIS__CHARGE_MEMORY))
    return over_account(msg_handle, a, "an imported memory", charge, CIS__CHARGE_MEMORY);
  cis__account *none = NULL;
  if (!atomic_compare_exchange_strong(&m->acct, &none, cis__account_ref(a))) {
    /* Another instance adopted it meanwhile: that one pays. */
    cis__account_uncharge(a, charge, CIS__CHARGE_MEMORY);
    cis__account_free(a);
  }
  return CIS_OK;
}

cis_memory *cis__memory_ref(cis_memory *m) {
  if (m) atomic_fetch_add(&m->refs, 1);
  return m;
}

void cis__memory_set_cap(cis_memory *m, uint64_t max_bytes) {
  uint64_t cap = memory_cap_pages(max_bytes, m->is64);
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
int64_t cis__memory_grow(cis_memory *m, uint64_t delta) {
  uint64_t old_pages = m->size / CIS__PAGE_SIZE;
  if (delta == 0) return (int64_t)old_pages;
  if (delta > m->max_pages) return -1; /* a 64-bit memory's delta: no wrap below */
  uint64_t new_pages = old_pages + delta;
  if (new_pages > m->max_pages) return -1;
  uint64_t new_size = new_pages * CIS__PAGE_SIZE;
  cis__account *acct = atomic_load(&m->acct);
  if (!cis__account_charge(acct, new_size - m->size, CIS__CHARGE_MEMORY)) return -1;
  if (!reserve_more(m, new_size) ||
      mprotect(m->base + m->size, (size_t)(new_size - m->size), PROT_READ | PROT_WRITE) != 0) {
    cis__account_uncharge(acct, new_size - m->size, CIS__CHARGE_MEMORY);
    return -1;
  }
  m->size = new_size;
  return (int64_t)old_pages;
}

/* An embedder's memory of limits lim. */
static cis_result embedder_memory(cis_engine *e, const cis__limits *lim, cis_memory **out) {
  if (!out) return CIS_EINVAL;
  *out = NULL;
  if (!e) return CIS_EINVAL;
  /* Not pooled: a memory of the embedder's may outlive the engine, whose
   * pool is gone by then. An instance's memories die with it, and every
   * instance before its engine. */
  return cis__memory_create(e, lim, e->cfg.limits.max_memory_bytes, NULL, NULL, out);
}

cis_result cis_memory_new(cis_engine *e, uint32_t min_pages, uint32_t max_pages, bool has_max,
                          cis_memory **out) {
  return embedder_memory(e, &(cis__limits){.min = min_pages, .max = max_pages, .has_max = has_max}, out);
}

cis_result cis_memory_new64(cis_engine *e, uint64_t min_pages, uint64_t max_pages, bool has_max,
                            cis_memory **out) {
  return embedder_memory(e, &(cis__limits){.min = min_pages, .max = max_pages, .has_max = has_max, .is64 = true},
                         out);
}

void cis_memory_free(cis_memory *m) {
  if (!m) return;
  if (atomic_fetch_sub(&m->refs, 1) != 1) return;
  cis__account *acct = atomic_load(&m->acct);
  cis__account_uncharge(acct, m->size, CIS__CHARGE_MEMORY);
  cis__account_free(acct);
  if (!m->pool || !pool_release(m)) munmap(m->base, m->reserved);
  free(m);
}

uint64_t cis_memory_size(const cis_memory *m) { return m ? m->size : 0; }
uint8_t *cis_memory_data(cis_memory *m) { return m ? m->base : NULL; }
int64_t cis_memory_grow(cis_memory *m, uint32_t delta) {
  return m ? cis__memory_grow(m, delta) : -1;
}

/* ----------------------------------------------------------------- table */

cis_result cis__table_create(void *msg_handle, uint8_t elem, const cis__limits *lim,
                             uint64_t max_elems, cis_instance *owner, cis__account *acct,
                             cis_table **out) {
  uint32_t cap = cis__cap_elems(max_elems);
  *out = NULL;
  if (!cis__vt_is_ref(elem)) /* GC's references: only null at run time */
    return cis__fail(msg_handle, CIS_EINVAL, "table element type 0x%02x is not a reference type",
                     elem);
  if (lim->has_max && lim->max < lim->min)
    return cis__fail(msg_handle, CIS_EINVAL,
                     "size minimum must not be greater than maximum");
  if (lim->min > cap)
    return cis__fail(msg_handle, CIS_EMEMLIMIT,
                     "table minimum of %llu elements exceeds the limit of %u elements",
                     (unsigned long long)lim->min, cap);
  uint64_t charge = lim->min * sizeof(void *);
  if (!cis__account_charge(acct, charge, CIS__CHARGE_OTHER)) {
    char what[64];
    snprintf(what, sizeof what, "a table of %llu elements", (unsigned long long)lim->min);
    return over_account(msg_handle, acct, what, charge, CIS__CHARGE_OTHER);
  }
  cis__table_rt *r = calloc(1, sizeof *r);
  cis_table *t = r ? &r->pub : NULL;
  if (t) t->elems = calloc(lim->min ? lim->min : 1, sizeof *t->elems);
  if (!t || !t->elems) {
    free(r);
    cis__account_uncharge(acct, charge, CIS__CHARGE_OTHER);
    if (!t) return cis__fail(msg_handle, CIS_ENOMEM, "out of memory creating a table");
    return cis__fail(msg_handle, CIS_ENOMEM, "out of memory for a table of %llu elements",
                     (unsigned long long)lim->min);
  }
  atomic_init(&t->refs, 1);
  t->elem = elem;
  t->ctype = elem;
  t->size = t->capacity = (uint32_t)lim->min;
  t->max = lim->max;
  t->has_max = lim->has_max;
  t->is64 = lim->is64;
  t->limit = lim->has_max && lim->max < cap ? (uint32_t)lim->max : cap;
  atomic_init(&t->acct, cis__account_ref(acct));
  r->owner = owner;
  *out = t;
  return CIS_OK;
}

cis_result cis__table_adopt(void *msg_handle, cis_table *t, cis__account *a) {
  if (atomic_load(&t->acct) || !a) return CIS_OK;
  uint64_t charge = (uint64_t)t->capacity * sizeof(void *);
  if (!cis__account_charge(a, charge, CIS__CHARGE_OTHER))
    return over_account(msg_handle, a, "an imported table", charge, CIS__CHARGE_OTHER);
  cis__account *none = NULL;
  if (!atomic_compare_exchange_strong(&t->acct, &none, cis__account_ref(a))) {
    cis__account_uncharge(a, charge, CIS__CHARGE_OTHER);
    cis__account_free(a);
  }
  return CIS_OK;
}

cis_table *cis__table_ref(cis_table *t) {
  if (t) atomic_fetch_add(&t->refs, 1);
  return t;
}

void cis__table_disown(cis_table *t) { ((cis__table_rt *)t)->owner = NULL; }

void cis__table_set_cap(cis_table *t, uint64_t max_elems) {
  uint32_t cap = cis__cap_elems(max_elems);
  t->limit = t->has_max && t->max < cap ? (uint32_t)t->max : cap;
}

/* table.grow: the old size, or -1 past the maximum, the cap or the
 * account, or when out of host memory. The element array may move:
 * engines re-read t->elems. */
int64_t cis__table_grow(cis_table *t, uint64_t delta, void *init) {
  uint32_t old = t->size;
  if (delta > t->limit) return -1; /* a 64-bit table's delta: no wrap below */
  uint64_t want = (uint64_t)old + delta;
  if (want > t->limit) return -1;
  if (want > t->capacity) {
    /* Grow geometrically (within the cap and what the account has left)
     * so repeated table.grow 1 stays linear overall. */
    cis__account *acct = atomic_load(&t->acct);
    uint64_t ncap = (uint64_t)t->capacity * 2;
    uint64_t afford = cis__account_left(acct, CIS__CHARGE_OTHER) / sizeof(void *);
    if (ncap < want) ncap = want;
    if (ncap > t->limit) ncap = t->limit;
    if (ncap - t->capacity > afford) ncap = t->capacity + afford;
    if (ncap < want || !cis__account_charge(acct, (ncap - t->capacity) * sizeof(void *), CIS__CHARGE_OTHER))
      return -1;
    void **ne = realloc(t->elems, (size_t)ncap * sizeof *ne);
    if (!ne) {
      cis__account_uncharge(acct, (ncap - t->capacity) * sizeof(void *), CIS__CHARGE_OTHER);
      return -1;
    }
    t->elems = ne;
    t->capacity = (uint32_t)ncap;
  }
  for (uint64_t i = old; i < want; i++) t->elems[i] = init;
  t->size = (uint32_t)want;
  return old;
}

/* An embedder's table of elem, limits lim. */
static cis_result embedder_table(cis_engine *e, cis_valtype elem, const cis__limits *lim, cis_table **out) {
  if (!out) return CIS_EINVAL;
  *out = NULL;
  if (!e) return CIS_EINVAL;
  if (elem != CIS_FUNCREF && elem != CIS_EXTERNREF) /* exnrefs are made by wasm code only */
    return cis__fail(e, CIS_EINVAL, "an embedder's table cannot hold %s",
                     cis__kind_is_exn((uint8_t)elem) ? "exception references" : "this element type");
  return cis__table_create(e, (uint8_t)elem, lim, e->cfg.limits.max_table_elems, NULL, NULL, out);
}

cis_result cis_table_new(cis_engine *e, cis_valtype elem, uint32_t min, uint32_t max,
                         bool has_max, cis_table **out) {
  return embedder_table(e, elem, &(cis__limits){.min = min, .max = max, .has_max = has_max}, out);
}

cis_result cis_table_new64(cis_engine *e, cis_valtype elem, uint64_t min, uint64_t max, bool has_max,
                           cis_table **out) {
  return embedder_table(e, elem, &(cis__limits){.min = min, .max = max, .has_max = has_max, .is64 = true}, out);
}

void cis_table_free(cis_table *t) {
  if (!t) return;
  if (atomic_fetch_sub(&t->refs, 1) != 1) return;
  cis__gc_forget(t, true); /* no longer a root */
  cis__account *acct = atomic_load(&t->acct);
  cis__account_uncharge(acct, (uint64_t)t->capacity * sizeof(void *), CIS__CHARGE_OTHER);
  cis__account_free(acct);
  free(t->elems);
  free((cis__table_rt *)t);
}

/* ---------------------------------------------------------------- global */

/* Value types a global may hold. */
static bool global_type_ok(uint8_t t) {
  switch (t) {
  case CIS__I32: case CIS__I64: case CIS__F32: case CIS__F64: case CIS__V128: return true;
  default: return cis__vt_is_ref(t); /* GC's references: only null at run time */
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
  r->pub.ctype = type;
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
  if (!global_type_ok((uint8_t)init.type) || (unsigned)init.type > 0xff || cis__kind_is_exn((uint8_t)init.type) ||
      cis__kind_is_gc((uint8_t)init.type))
    return cis__fail(e, CIS_EINVAL, "a global cannot hold value type 0x%x", (unsigned)init.type);
  cis_result rc = cis__global_create((uint8_t)init.type, mutable_,
                                     canonical_slot((uint8_t)init.type, init.of), NULL, out);
  if (rc != CIS_OK) return cis__fail(e, rc, "cannot create a global: %s", cis_strerror(rc));
  if (init.type == CIS_V128) memcpy((*out)->v128, init.v128, 16);
  return CIS_OK;
}

void cis_global_free(cis_global *g) {
  if (!g) return;
  if (atomic_fetch_sub(&g->refs, 1) != 1) return;
  cis__gc_forget(g, false); /* no longer a root */
  free((cis__global_rt *)g);
}

/* The type g's value crosses the API as: any's hierarchy (references to
 * struct and array types included) is CIS_ANYREF, func's and extern's
 * bottoms are theirs. */
static cis_valtype global_api_type(const cis_global *g) {
  if (g->type == CIS__NULLFUNCREF) return CIS_FUNCREF;
  if (g->type == CIS__NULLEXTERNREF) return CIS_EXTERNREF;
  if (cis__vt_is_ref(g->type) && cis__vt_canon_sub(g->ctype, CIS__ANYREF)) return CIS_ANYREF;
  return (cis_valtype)g->type;
}

cis_val cis_global_get(const cis_global *g) {
  cis_val v;
  memset(&v, 0, sizeof v);
  if (!g) return v;
  v.type = global_api_type(g);
  if (g->type == CIS__V128) memcpy(v.v128, g->v128, 16);
  else v.of = cis__gc_global_read(g); /* an object the host is handed is pinned */
  return v;
}

/* Sets a mutable global. CIS_EINVAL when g is NULL, immutable, or v has
 * another type. */
cis_result cis_global_set(cis_global *g, cis_val v) {
  if (!g || !g->mutable_ || v.type != global_api_type(g)) return CIS_EINVAL;
  if (g->type == CIS__V128) memcpy(g->v128, v.v128, 16);
  else g->val = canonical_slot(g->type, v.of);
  return CIS_OK;
}
