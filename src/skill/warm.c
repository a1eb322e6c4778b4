/*
 * This file implements what makes a warm call cheap: the per-skill entry
 * cache (manifest, folder, grants and the decoded module of an installed
 * skill, looked up once instead of read from the registry database and
 * parsed on every call), the registry generation that keeps that cache
 * honest when another handle or another process changes the registry, and
 * the import set of every host function, built once per host and shared by
 * the calls of every thread.
 *
 * The entry cache is split in stripes (skill_internal.h): each thread
 * looks up in its own, under its own lock, and holds references on its
 * own copy of an entry, so two threads' calls write no line in common
 * here. A copy costs one more registry read per stripe and generation;
 * the decoded module behind the copies is one (cis__module_cached).
 *
 * The generation: $CIS_HOME/registry.gen (registry-TENANT.gen for a tenant
 * other than the default) holds one 64-bit counter per tenant, mapped
 * shared by every handle of every process that opens that home for that
 * tenant (a change moves its tenant's alone). Each
 * install, update or removal commits to the registry database first and
 * then increments it; each call of a named skill reads it (one atomic load)
 * before using its cached entry, and drops every entry cached under an
 * older value. So a call that starts after a change returned, in this or
 * any other process, never runs the skill's old code; a call racing the
 * change sees the old or the new skill, as it would reading the database.
 * Entries are tagged with the generation read before the database was, so
 * a change landing between the two only costs one more read. Not covered:
 * a registry changed behind cis's back (the sqlite3 shell, an older cis
 * without the counter) or a counter file deleted while in use; when the
 * file cannot be created or written (a full disk, a read-only home) no
 * entry is cached and every call reads the registry, as before.
 *
 * A registry shared by several nodes (the PostgreSQL backend) has a
 * generation per tenant in the database, set by the statement of each
 * change, which registry.gen cannot carry to other machines. A call reads
 * its tenant's when the last reading is older than half of
 * CIS__REGISTRY_POLL_MS (one thread of a handle at a time; the others go
 * on with what they have), from the process's watch, whose values are
 * never older than that either (registry_postgres.c); a
 * value it has not seen before counts as a change made here: registry.gen
 * moves on and every cache is dropped. So a node runs a skill changed or
 * removed by another node for at most CIS__REGISTRY_POLL_MS. When
 * the database cannot be read the caches are dropped and the call fails
 * with the backend's error (CIS_EREGISTRYDOWN): a node that cannot tell
 * whether a skill is still installed does not run it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/host.h"
#include "skill/registry_internal.h"
#include "common/genfile.h"
#include "skill/skill_internal.h"

/* Maps the generation counter of the handle's tenant, creating the file
 * when missing: registry.gen for the default tenant, registry-TENANT.gen
 * for the others (cis_tenant_name_valid keeps the name a file name), so
 * that one tenant's changes leave every other tenant's cache warm. Leaves
 * s->gen NULL (no caching) when that fails; never fails the open. */
static void gen_map(cis_skills *s) {
  char path[4200];
  if (!strcmp(s->tenant, "default")) snprintf(path, sizeof path, "%s/registry.gen", s->home);
  else snprintf(path, sizeof path, "%s/registry-%s.gen", s->home, s->tenant);
  s->gen = cis__genfile_map(path);
}

cis_result cis__warm_open(cis_skills *s) {
  gen_map(s);
  cis_result rc = cis_imports_new(s->engine, &s->host_imports);
  if (rc == CIS_OK) rc = cis__host_add_imports(s->host_imports, CIS__ABI_MOD_ALL);
  if (rc != CIS_OK) return cis__skills_fail(s, rc, "host functions: %s", cis_strerror(rc));
  return CIS_OK;
}

void cis__skill_entry_release(cis__skill_entry *e) {
  if (!e || atomic_fetch_sub(&e->refs, 1) != 1) return;
  cis_module_free(e->mod);
  cis__manifest_free(e->m);
  cis__grants_free(&e->g);
  free(e->dir);
  free(e);
}

/* Drops every entry cached in st; st->lock is held. Calls still holding
 * one keep it until they end. */
static void flush_locked(struct cis__skill_stripe *st) {
  for (cis__skill_entry *e = st->skills, *n; e; e = n) {
    n = e->next;
    cis__skill_entry_release(e);
  }
  st->skills = NULL;
}

static void flush_all(cis_skills *s) {
  for (unsigned k = 0; k < CIS__SKILL_STRIPES; k++) {
    pthread_mutex_lock(&s->stripes[k].lock);
    flush_locked(&s->stripes[k]);
    pthread_mutex_unlock(&s->stripes[k].lock);
  }
}

/* The stripe of the calling thread: threads are dealt stripes in turn at
 * their first lookup, so two threads never share one while there are
 * enough. */
static struct cis__skill_stripe *own_stripe(cis_skills *s) {
  static atomic_uint next;
  static _Thread_local unsigned mine = UINT32_MAX;
  if (mine == UINT32_MAX) mine = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) % CIS__SKILL_STRIPES;
  return &s->stripes[mine];
}

/* The names of the tenant's installed skills as read under generation
 * gen, so that a call of a name the tenant does not have is answered from
 * memory: a tenant calling names it does not have, a new one each time,
 * otherwise costs a registry read a call (on PostgreSQL a round trip at
 * the database's priority). Read once per generation, on the first miss,
 * by one thread at a time; the others read the registry row as before.
 * The set follows the generation as the entries do, so on a cluster a
 * skill installed through another node is unknown here for as long as a
 * removed one still runs: CIS__REGISTRY_POLL_MS at most. */
typedef struct cis__name_set {
  uint64_t gen;  /* the generation read before the names were */
  size_t n, cap;
  char **names;  /* sorted by strcmp */
  bool cut;      /* the read stopped short: not every name is here */
} cis__name_set;

/* A tenant with more skills than this keeps no set: each miss reads
 * its row. */
#define NAME_SET_MAX 100000u

static void name_set_free(cis__name_set *ns) {
  if (!ns) return;
  for (size_t i = 0; i < ns->n; i++) free(ns->names[i]);
  free(ns->names);
  free(ns);
}

static int name_add(void *ctx, const char *name) {
  cis__name_set *ns = ctx;
  if (ns->n == NAME_SET_MAX) return ns->cut = true;
  if (ns->n == ns->cap) {
    size_t cap = ns->cap ? ns->cap * 2 : 16;
    char **grown = realloc(ns->names, cap * sizeof *grown);
    if (!grown) return ns->cut = true;
    ns->names = grown;
    ns->cap = cap;
  }
  if (!(ns->names[ns->n] = strdup(name))) return ns->cut = true;
  ns->n++;
  return 0;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Whether name is among the tenant's skills under generation gen: 1 yes,
 * 0 no, -1 not known (no set of that generation). */
static int name_known(cis_skills *s, const char *name, uint64_t gen) {
  int known = -1;
  pthread_mutex_lock(&s->names_lock);
  cis__name_set *ns = s->names;
  /* A tenant with no skill has no array: bsearch and qsort take none. */
  if (ns && ns->gen == gen) known = ns->n && bsearch(&name, ns->names, ns->n, sizeof *ns->names, name_cmp) != NULL;
  pthread_mutex_unlock(&s->names_lock);
  return known;
}

/* Reads the tenant's names (by until) into the set of generation gen,
 * unless another thread does it now. Leaves the set as it was when the
 * read fails, is cut short or finds more than NAME_SET_MAX names. The
 * read's failure, or CIS_OK (not read: another thread reads them, or
 * memory ran out). */
static cis_result names_load(cis_skills *s, uint64_t until, uint64_t gen) {
  if (atomic_exchange(&s->names_loading, true)) return CIS_OK;
  cis__name_set *ns = calloc(1, sizeof *ns);
  bool whole = false;
  cis_result rc = CIS_OK;
  if (ns) {
    ns->gen = gen;
    rc = s->reg->name_each(s, until, name_add, ns);
    whole = rc == CIS_OK && !ns->cut;
  }
  if (whole) {
    if (ns->n) qsort(ns->names, ns->n, sizeof *ns->names, name_cmp);
    pthread_mutex_lock(&s->names_lock);
    cis__name_set *old = s->names;
    s->names = ns;
    pthread_mutex_unlock(&s->names_lock);
    name_set_free(old);
  } else {
    name_set_free(ns);
  }
  atomic_store(&s->names_loading, false);
  return rc;
}

void cis__warm_close(cis_skills *s) {
  flush_all(s);
  name_set_free(s->names);
  s->names = NULL;
  cis_imports_free(s->host_imports);
  s->host_imports = NULL;
  cis__genfile_unmap(s->gen);
  s->gen = NULL;
}

void cis__registry_changed(cis_skills *s) {
  if (s->gen) atomic_fetch_add_explicit(s->gen, 1, memory_order_acq_rel);
  flush_all(s);
}

/* Reads name's row (by until) and module into a new entry with one
 * reference. */
static cis_result entry_load(cis_skills *s, uint64_t until, const char *name, uint64_t gen, const cis_invoke_options *opt,
                             uint64_t t0, cis__skill_entry **out) {
  cis__skill_entry *e = calloc(1, sizeof *e);
  if (!e) return cis__skills_fail(s, CIS_ENOMEM, "out of memory");
  atomic_init(&e->refs, 1);
  e->gen = gen;
  cis_result rc = cis__registry_get(s, until, name, &e->m, &e->dir, &e->g);
  /* A call's time counts from its start: its module's load included. */
  uint64_t ms = rc == CIS_OK && t0 ? cis__call_timeout_ms(s, e->m, opt) : 0;
  if (rc == CIS_OK) rc = cis__module_cached(s, e->m->sha256, NULL, 0, ms ? cis__deadline_from(t0, ms) : 0, &e->mod);
  if (rc != CIS_OK) {
    cis__skill_entry_release(e);
    return rc;
  }
  *out = e;
  return CIS_OK;
}

/* Reads the shared generation (by until) when the last reading is
 * CIS__REGISTRY_HANDLE_POLL_NS old, and takes a new value as a change
 * (above). */
static cis_result shared_poll(cis_skills *s, uint64_t until) {
  uint64_t now = cis__now_ns(), last = atomic_load_explicit(&s->reg_polled_ns, memory_order_relaxed);
  if (last && now - last < CIS__REGISTRY_HANDLE_POLL_NS) return CIS_OK;
  if (!atomic_compare_exchange_strong(&s->reg_polled_ns, &last, now)) return CIS_OK; /* another thread reads it */
  uint64_t gen;
  cis_result rc = s->reg->generation(s, until, &gen);
  if (rc != CIS_OK) {
    atomic_store(&s->reg_polled_ns, 0); /* the next call tries again */
    cis__registry_changed(s);
    return rc;
  }
  if (atomic_exchange(&s->reg_seen_gen, gen) != gen) cis__registry_changed(s);
  return CIS_OK;
}

cis_result cis__skill_lookup(cis_skills *s, const char *name, cis__skill_entry **out) {
  return cis__skill_lookup_call(s, name, NULL, 0, out);
}

/* Whether the shared generation is due to be read (shared_poll). */
static bool shared_poll_due(const cis_skills *s) {
  uint64_t last = atomic_load_explicit(&s->reg_polled_ns, memory_order_relaxed);
  return !last || cis__now_ns() - last >= CIS__REGISTRY_HANDLE_POLL_NS;
}

/* How long a call begun at t0 (0: not a call) may wait for the registry
 * before its manifest is read: to its own deadline when it has one
 * (opt->timeout_ms); else to the longest deadline the handle could give
 * it (its default, or the most a manifest may ask for), when that comes
 * before the registry's own bound. */
static uint64_t lookup_until(const cis_skills *s, const cis_invoke_options *opt, uint64_t t0) {
  if (!t0) return cis__registry_until();
  if (opt && opt->timeout_ms) return cis__registry_call_until(cis__deadline_from(t0, opt->timeout_ms));
  uint64_t dflt = s->limits.timeout_ms, most = s->ceiling.timeout_ms, until = cis__registry_until();
  if (dflt && most) { /* 0: a call without a deadline */
    uint64_t longest = cis__deadline_from(t0, dflt > most ? dflt : most);
    if (longest < until) until = longest;
  }
  return until;
}

cis_result cis__skill_lookup_call(cis_skills *s, const char *name, const cis_invoke_options *opt, uint64_t t0,
                                  cis__skill_entry **out) {
  void (*wait)(void *, cis_wait) = opt ? opt->on_wait : NULL;
  void *user = opt ? opt->on_wait_user : NULL;
  *out = NULL;
  uint64_t until = lookup_until(s, opt, t0);
  if (s->reg->generation) {
    if (wait && shared_poll_due(s)) wait(user, CIS_WAIT_LOAD), wait = NULL;
    cis_result rc = shared_poll(s, until);
    if (rc != CIS_OK) return rc;
  }
  if (!s->gen) {
    if (wait) wait(user, CIS_WAIT_LOAD);
    return entry_load(s, until, name, 0, opt, t0, out);
  }
  uint64_t gen = atomic_load_explicit(s->gen, memory_order_acquire);
  struct cis__skill_stripe *st = own_stripe(s);
  pthread_mutex_lock(&st->lock);
  if (st->gen != gen) {
    flush_locked(st);
    st->gen = gen;
  }
  for (cis__skill_entry *e = st->skills; e; e = e->next)
    if (!strcmp(e->m->name, name)) {
      atomic_fetch_add(&e->refs, 1);
      *out = e;
      break;
    }
  pthread_mutex_unlock(&st->lock);
  if (*out) return CIS_OK;
  int known = name_known(s, name, gen);
  if (known == 0) return cis__skills_fail(s, CIS_ENOTFOUND, "skill %s is not installed", name);
  if (wait) wait(user, CIS_WAIT_LOAD); /* a registry read, a module's load or compile */
  if (known < 0) {
    /* A read that ran out of time, was cancelled or found the database
     * out of reach ends the lookup with its own words: the row's read
     * after it would fail the same way, saying less. Another failure
     * leaves the names unknown, and the row tells. */
    cis_result rc = names_load(s, until, gen);
    if (rc == CIS_ETIMEOUT || rc == CIS_ECANCELED || rc == CIS_EREGISTRYDOWN) return rc;
    if (name_known(s, name, gen) == 0) return cis__skills_fail(s, CIS_ENOTFOUND, "skill %s is not installed", name);
  }
  cis__skill_entry *e;
  cis_result rc = entry_load(s, until, name, gen, opt, t0, &e);
  if (rc != CIS_OK) return rc;
  pthread_mutex_lock(&st->lock);
  bool there = false;
  for (cis__skill_entry *x = st->skills; x && !there; x = x->next) there = !strcmp(x->m->name, name);
  /* Kept only under the generation it was read in; a thread of the same
   * stripe that loaded the same skill meanwhile already cached it. */
  if (!there && st->gen == gen) {
    atomic_fetch_add(&e->refs, 1);
    e->next = st->skills;
    st->skills = e;
  }
  pthread_mutex_unlock(&st->lock);
  *out = e;
  return CIS_OK;
}
