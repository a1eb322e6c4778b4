/*
 * This file implements the key-value store's front (include/cis/cis_kv.h):
 * the one place between callers and backends. It picks the backend from
 * the spec, keeps a pool of backend connections, holds a transaction's
 * pending writes, and is the only code that applies limits, namespaces,
 * deadlines and injected faults. Backends are reached only through the
 * wrappers below (bk_enter / bk_leave around every method call).
 *
 * A transaction keeps its writes in a sorted array of pending entries and
 * applies them in cis_kv_commit inside one short backend transaction, in
 * key order (so concurrent commits lock rows in the same order). Reads
 * merge the pending entries over the backend's committed data. Each
 * pending entry remembers what the backend held for its key when the
 * transaction first touched it; the transaction's effect on the
 * namespace's usage is the sum of (new - base) over its entries, which is
 * what the quota checks add to the committed usage. A write whose key
 * would fit the quotas even as a new one is recorded without reading its
 * key's size (a round trip on a server backend): its entry's base stays
 * unknown and counts as absent, so the deltas are upper bounds, and the
 * commit reads the exact sizes only when the usage it finds is over a
 * quota (resolve_bases). The usage a quota check adds to comes from the
 * store's hint (what it last read of the namespace, at most KV_HINT_MS
 * old) when that fits; a refusal is always made against a fresh read.
 * The built-in PostgreSQL backend checks a commit's quotas in its
 * COMMIT's round trip (checks_in_commit) instead of a usage read here;
 * when that check refuses, the store reads and words the verdict itself.
 *
 * Atomic operations (increment, compare-and-swap) cannot wait for the
 * commit: their answer depends on the latest value. The first one of a
 * transaction "pins" a connection: it opens the backend transaction there
 * and takes the namespace's write lock (the backend's lock method); every
 * later operation of the transaction runs on that connection, and the
 * commit applies the pending writes in that same backend transaction. So
 * the lock covers the read of the value and the write of the result, and
 * still nothing is applied unless the call commits.
 *
 * On SQLite that backend transaction would hold the whole file's write
 * lock for the rest of the call, shutting out every other namespace's
 * commits (every tenant's, on a shared store). There the namespace's lock
 * is this store's own instead (ns_acquire: held from the first atomic
 * operation to the end of the call, and by every commit of the namespace
 * while it applies), the atomic operations read the latest committed
 * value outside a backend transaction, and the commit checks, inside its
 * short BEGIN IMMEDIATE, that every value they read is still what the
 * file holds: a writer this store does not see (another process, another
 * store on the file) makes the commit fail with CIS_EKVCONFLICT rather
 * than lose its update.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "db/db_txn.h"
#include "kv/kv_call.h"
#include "kv/kv_internal.h"
#include "kv/kv_testing.h"

 /* What the store last read of a namespace's usage, or of a tenant's
 * totals (a slot per hash of the names; a collision replaces). */
typedef struct kv_hint {
  char *name;      /* kind byte ('n' namespace, 't' tenant), tenant, NUL, skill (owned);
                      NULL = an empty slot */
  size_t name_len; /* bytes in name */
  uint64_t at_ns;  /* when keys and bytes were read */
  uint64_t keys;   /* the namespace's committed keys, or the tenant's */
  uint64_t bytes;  /* ... and key + value bytes */
} kv_hint;

#define KV_HINT_SLOTS 64
/* How old a hint may be for cis_kv_set to lean on it: a namespace another
 * store (node) fills meanwhile is then refused at commit, as it would be
 * had it been filled after a fresh read. */
#define KV_HINT_MS 1000u

struct cis_kv {
  cis__handle h;             /* the store's last error, per thread (cis_errmsg(kv)) */
  cis_kv_methods m;          /* copy of the backend's table */
  char *arg;                 /* what m.open receives: path, connection string */
  cis__db_spec db;           /* the database of a built-in backend (target: arg);
                                dialect NONE for an embedder's */
  cis_kv_limits lim;         /* with defaults filled in */
  uint64_t op_timeout_ms;    /* cap on one backend operation */
  uint32_t max_conns;        /* pool size */
  pthread_mutex_t lock;      /* guards the pool, the fault counters and calls */
  pthread_cond_t freed;      /* a connection went back to the pool or closed */
  cis_kv_conn **idle;        /* idle connections, max_conns slots */
  uint32_t nidle;            /* connections in idle */
  uint32_t nopen;            /* connections open: idle, in use, or being opened */
  uint32_t fault_skip;       /* calls to let through before injecting */
  uint32_t fault_count;      /* calls still to fail */
  cis_result fault_code;     /* what they fail with */
  uint64_t calls;            /* backend method calls so far */
  uint32_t npinned;          /* connections pinned by transactions (atomic operations) */
  pthread_cond_t ns_freed;   /* a namespace lock was released (ns_release) */
  cis_kv_txn *ns_holders;    /* transactions holding their namespace's lock (store_wide) */
  bool closed;               /* cis_kv_close ran while some were pinned: the last
                                unpin frees the store */
  kv_hint hints[KV_HINT_SLOTS]; /* usage last read, by namespace (under lock) */
};

typedef struct kv_pend {
  uint8_t *key;       /* owned key bytes */
  size_t klen;        /* bytes in key */
  uint8_t *val;       /* owned new value when live; NULL when empty or deleted */
  size_t vlen;        /* bytes in val */
  bool live;          /* true: set to val; false: deleted */
  bool base_exists;   /* the backend held the key when the transaction first touched it */
  uint64_t base_vlen; /* the length of that committed value */
  bool base_unknown;  /* base_exists and base_vlen were not read (the write fitted even as a
                         new key): counted as absent until resolve_bases reads them */
  bool watched;       /* an atomic operation read the committed value: the commit
                         checks it is unchanged (store_wide) */
  bool seen_exists;   /* what it read: whether the key existed */
  uint8_t *seen;      /* ... and its value (owned; NULL when empty or absent) */
  size_t seen_len;    /* bytes in seen */
} kv_pend;

struct cis_kv_txn {
  cis_kv *kv;            /* the store */
  char *tenant;          /* owned copy of the namespace's tenant ("" = default) */
  char *skill;           /* owned copy of the skill ("" = none) */
  cis_kv_ns ns;          /* points into tenant and skill */
  uint64_t deadline_ns;  /* cis__now_ns() time the call ends; UINT64_MAX = none */
  const cis__callctx *ctx; /* the call it belongs to (cis__kv_begin_in): its deadline and
                              cancel rule instead of deadline_ns; NULL = none */
  cis__db_txn *shared;   /* the call's transaction it offered (cis__kv_begin_in), ended
                            before its commit or rollback; NULL = none */
  kv_pend *p;            /* pending writes, sorted by key */
  size_t np;             /* entries in p */
  size_t cap;            /* slots allocated in p */
  int64_t dkeys;         /* the pending writes' change to the namespace's key count (the
                            most it can be while nunknown > 0) */
  int64_t dbytes;        /* ... and to its key + value bytes */
  size_t nunknown;       /* entries whose base is unknown */
  bool hinted;           /* base_keys... or base_tkeys... came from the store's hint */
  bool usage_known;      /* base_keys/base_bytes were read from the backend */
  uint64_t base_keys;    /* committed keys of the namespace when last read */
  uint64_t base_bytes;   /* committed bytes of the namespace when last read */
  bool tenant_known;     /* base_tkeys/base_tbytes were read from the backend */
  uint64_t base_tkeys;   /* committed keys of all the tenant's namespaces when last read */
  uint64_t base_tbytes;  /* ... and their bytes */
  uint64_t max_keys;     /* this transaction's key quota: the tighter of store and caller */
  uint64_t max_bytes;    /* ... and its byte quota */
  cis_kv_conn *pin;      /* connection holding the backend transaction and namespace lock
                            that the first atomic operation opened; NULL = none */
  cis_result pin_rc;     /* the first failure on pin, after which the backend transaction
                            is gone or aborted and the call can only roll back; CIS_OK = none */
  bool ns_held;          /* t holds its namespace's lock in this store (store_wide) */
  cis_kv_txn *ns_next;   /* next in kv->ns_holders */
};

/* ------------------------------------------------------------- helpers */

static cis_result kv_fail(const cis_kv *kv, cis_result code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Sets the store's message (kv may be NULL: no message). */
static cis_result kv_fail(const cis_kv *kv, cis_result code, const char *fmt, ...) {
  if (!kv) return code;
  va_list ap;
  va_start(ap, fmt);
  cis__vfail((cis__handle *)&kv->h, code, fmt, ap);
  va_end(ap);
  return code;
}

cis_result cis__kv_conn_fail(cis_kv_conn *c, cis_result code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
  va_end(ap);
  return code;
}

size_t cis__kv_prefix_end(const uint8_t *p, size_t n, uint8_t *out) {
  while (n && p[n - 1] == 0xff) n--;
  if (!n) return 0;
  memcpy(out, p, n);
  out[n - 1]++;
  return n;
}

/* Byte-wise key order: memcmp over the common part, then shorter first.
 * SQLite's BLOB and PostgreSQL's bytea order agree with it. */
static int keycmp(const void *a, size_t al, const void *b, size_t bl) {
  size_t n = al < bl ? al : bl;
  int c = n ? memcmp(a, b, n) : 0;
  if (c) return c;
  return al < bl ? -1 : al > bl;
}

static bool has_prefix(const void *key, size_t klen, const void *prefix, size_t plen) {
  return klen >= plen && (plen == 0 || memcmp(key, prefix, plen) == 0);
}

/* Copies n bytes plus a NUL; NULL only when out of memory. */
static uint8_t *dup_bytes(const void *src, size_t n) {
  uint8_t *d = malloc(n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, src, n);
  d[n] = 0;
  return d;
}

/* ---------------------------------------------------------------- time */

/* Milliseconds the next backend operation of t may take (t may be NULL for
 * store-level work): the time left before the deadline, capped by
 * op_timeout_ms, at least 1. CIS_ETIMEOUT once the deadline has passed. */
static cis_result time_left(cis_kv *kv, const cis_kv_txn *t, uint64_t *ms) {
  uint64_t cap = kv->op_timeout_ms;
  if (t && cis__callctx_cancelled(t->ctx))
    return kv_fail(kv, CIS_ECANCELED, "kv: the call was cancelled");
  /* A call's transaction reads its deadline where the call keeps it. */
  uint64_t deadline = !t ? UINT64_MAX : t->ctx ? t->ctx->deadline_ns : t->deadline_ns;
  if (deadline == UINT64_MAX) {
    *ms = cap;
    return CIS_OK;
  }
  uint64_t now = cis__now_ns();
  if (now >= deadline) return kv_fail(kv, CIS_ETIMEOUT, "kv: the call's deadline has passed");
  uint64_t left = (deadline - now + 999999) / 1000000;
  *ms = left < cap ? left : cap;
  if (*ms == 0) *ms = 1;
  return CIS_OK;
}

/* How often a wait of a call's transaction for the store (a connection,
 * its namespace's lock) looks at the call's cancel flag. */
#define KV_CANCEL_SLICE_MS 10

/* Waits on cond (a CLOCK_MONOTONIC one, under m) until `until`: 0 when
 * woken, ETIMEDOUT past it; for a call's transaction in slices, so that a
 * cancel ends the wait (ECANCELED). The caller re-checks what it waits for
 * after a 0. */
static int kv_wait(pthread_cond_t *cond, pthread_mutex_t *m, const struct timespec *until, const cis_kv_txn *t) {
  if (!t || !t->ctx) return pthread_cond_timedwait(cond, m, until);
  if (cis__callctx_cancelled(t->ctx)) return ECANCELED;
  struct timespec slice;
  cis__timespec_after(CLOCK_MONOTONIC, KV_CANCEL_SLICE_MS, &slice);
  bool last = until->tv_sec < slice.tv_sec || (until->tv_sec == slice.tv_sec && until->tv_nsec <= slice.tv_nsec);
  int e = pthread_cond_timedwait(cond, m, last ? until : &slice);
  return e == ETIMEDOUT && !last ? 0 : e;
}

/* -------------------------------------------------- backend call wrappers */

/* Counts one backend method call and applies fault injection. Returns the
 * injected code (with a message) or CIS_OK. */
static cis_result count_call(cis_kv *kv, const char *what) {
  cis_result rc = CIS_OK;
  pthread_mutex_lock(&kv->lock);
  kv->calls++;
  if (kv->fault_count) {
    if (kv->fault_skip) {
      kv->fault_skip--;
    } else {
      kv->fault_count--;
      rc = kv->fault_code;
    }
  }
  pthread_mutex_unlock(&kv->lock);
  if (rc != CIS_OK) return kv_fail(kv, rc, "kv (%s): %s: injected fault", kv->m.name, what);
  return CIS_OK;
}

/* Prepares a method call on c: the time budget, the fault hook, a clean
 * message. Returns CIS_OK, or the timeout / injected code to return
 * without calling the backend. */
static cis_result bk_enter(cis_kv *kv, const cis_kv_txn *t, cis_kv_conn *c, const char *what) {
  uint64_t ms = 0;
  cis_result rc = time_left(kv, t, &ms);
  if (rc != CIS_OK) return rc;
  rc = count_call(kv, what);
  if (rc != CIS_OK) return rc;
  c->timeout_ms = ms;
  c->errmsg[0] = '\0';
  return CIS_OK;
}

/* Records a backend failure as this thread's message, naming the backend
 * and the operation, and returns the code (a positive code, which no
 * backend may return, becomes CIS_EKV). */
static cis_result bk_fail(cis_kv *kv, cis_result rc, const char *what, const char *detail) {
  if (rc > 0) rc = CIS_EKV; /* a backend returned garbage; keep the contract */
  if (!detail || !detail[0]) detail = cis_strerror(rc);
  size_t n = strlen(what);
  if (strncmp(detail, what, n) == 0 && detail[n] == ':') /* the backend named it already */
    return kv_fail(kv, rc, "kv (%s): %s", kv->m.name, detail);
  return kv_fail(kv, rc, "kv (%s): %s: %s", kv->m.name, what, detail);
}

/* Turns a method's result into the caller's. CIS_OK and CIS_ENOTFOUND
 * pass through without a message (the caller words a missing key). */
static cis_result bk_leave(cis_kv *kv, cis_kv_conn *c, cis_result rc, const char *what) {
  if (rc == CIS_OK || rc == CIS_ENOTFOUND) return rc;
  return bk_fail(kv, rc, what, c->errmsg);
}

/* ----------------------------------------------------------------- pool */

/* Whether the store runs on a built-in backend, whose connections are the
 * database layer's (kv_internal.h: cis__kv_db_conn). */
static bool builtin(const cis_kv *kv) {
  return kv->m.open == cis__kv_sqlite_methods.open || kv->m.open == cis__kv_postgres_methods.open;
}

/* A built-in backend's connection serves t's call while t has it (NULL t:
 * none), so that a cancel of the call ends the waits inside the backend
 * too (another connection's lock on the file, a long statement:
 * db/db_conn.h). */
static void conn_serve(const cis_kv *kv, cis_kv_conn *c, const cis_kv_txn *t) {
  if (c && builtin(kv)) cis__db_conn_set_call(((cis__kv_db_conn *)c)->db, t ? t->ctx : NULL);
}

/* Takes an idle connection or opens a new one, waiting (within t's time)
 * while max_conns are in use. The caller gives it back with pool_put.
 * Errors: CIS_ETIMEOUT, the backend's open errors. */
static cis_result pool_get(cis_kv *kv, const cis_kv_txn *t, cis_kv_conn **out) {
  uint64_t ms = 0;
  cis_result rc = CIS_OK;
  *out = NULL;
  CIS_TRY(time_left(kv, t, &ms));
  struct timespec until;
  cis__timespec_after(CLOCK_MONOTONIC, ms, &until);
  pthread_mutex_lock(&kv->lock);
  while (kv->nidle == 0 && kv->nopen >= kv->max_conns) {
    int e = kv_wait(&kv->freed, &kv->lock, &until, t);
    if (e == ECANCELED) {
      pthread_mutex_unlock(&kv->lock);
      return kv_fail(kv, CIS_ECANCELED, "kv: the call was cancelled while all %u connections were busy",
                     kv->max_conns);
    }
    if (e == ETIMEDOUT && kv->nidle == 0 && kv->nopen >= kv->max_conns) {
      pthread_mutex_unlock(&kv->lock);
      return kv_fail(kv, CIS_ETIMEOUT, "kv: all %u connections stayed busy until the deadline",
                     kv->max_conns);
    }
  }
  if (kv->nidle) {
    *out = kv->idle[--kv->nidle];
    pthread_mutex_unlock(&kv->lock);
    conn_serve(kv, *out, t);
    return CIS_OK;
  }
  kv->nopen++;
  pthread_mutex_unlock(&kv->lock);

  rc = count_call(kv, "connect");
  if (rc == CIS_OK) {
    rc = kv->m.open(&kv->m, kv->arg, ms, out);
    if (rc == CIS_OK && !*out) {
      rc = bk_fail(kv, CIS_EKV, "connect", "open returned no connection");
    } else if (rc != CIS_OK) {
      /* A failed open hands back a half-made connection holding why
       * (cis_kv.h): copy the message before closing it. NULL: no memory
       * even for that. */
      rc = bk_fail(kv, rc, "connect", *out ? (*out)->errmsg : "out of memory");
      if (*out) kv->m.close(*out);
      *out = NULL;
    } else {
      (*out)->methods = &kv->m;
      conn_serve(kv, *out, t);
    }
  }
  if (rc != CIS_OK) {
    pthread_mutex_lock(&kv->lock);
    kv->nopen--;
    pthread_cond_signal(&kv->freed);
    pthread_mutex_unlock(&kv->lock);
  }
fail:
  return rc;
}

/* Gives c back. A connection whose last result says the backend went away
 * is closed instead, so the next call starts on a fresh one. */
static void pool_put(cis_kv *kv, cis_kv_conn *c, cis_result last) {
  if (!c) return;
  conn_serve(kv, c, NULL);
  if (last == CIS_EKVDOWN) {
    kv->m.close(c);
    pthread_mutex_lock(&kv->lock);
    kv->nopen--;
  } else {
    pthread_mutex_lock(&kv->lock);
    kv->idle[kv->nidle++] = c;
  }
  pthread_cond_signal(&kv->freed);
  pthread_mutex_unlock(&kv->lock);
}

/* ---------------------------------------------------------------- open */

void cis_kv_config_default(cis_kv_config *c) {
  if (!c) return;
  memset(c, 0, sizeof *c);
  c->limits.max_key_bytes = CIS_KV_DEFAULT_MAX_KEY_BYTES;
  c->limits.max_value_bytes = CIS_KV_DEFAULT_MAX_VALUE_BYTES;
  c->limits.max_keys = CIS_KV_DEFAULT_MAX_KEYS;
  c->limits.max_bytes = CIS_KV_DEFAULT_MAX_BYTES;
  c->max_connections = CIS_KV_DEFAULT_MAX_CONNECTIONS;
  c->op_timeout_ms = CIS_KV_DEFAULT_OP_TIMEOUT_MS;
}

const cis_kv_methods *cis_kv_methods_sqlite(void) { return &cis__kv_sqlite_methods; }
const cis_kv_methods *cis_kv_methods_postgres(void) { return &cis__kv_postgres_methods; }

/* Chooses the backend table and its argument from cfg: an embedder's
 * table gets the spec whole, a built-in one what the database spec names
 * (db/db.h: "sqlite:PATH", "postgres:CONNSTR", "postgresql:CONNSTR", a
 * postgres:// or postgresql:// URI). The messages never quote the spec
 * past its scheme: a connection string may hold a password.
 * Errors: CIS_EINVAL, CIS_ETOOBIG (a spec past CIS__DB_SPEC_MAX). */
static cis_result pick_backend(const cis_kv *kv, const cis_kv_config *cfg, const cis_kv_methods **m,
                               const char **arg) {
  const char *s = cfg->spec;
  if (cfg->methods) {
    const cis_kv_methods *u = cfg->methods;
    if (u->version < 1) return kv_fail(kv, CIS_EINVAL, "kv: method table version %d", u->version);
    /* Before any method is looked at: an older table's open takes other
     * arguments, and calling it would be undefined. */
    if (u->version < 4)
      return kv_fail(kv, CIS_EINVAL,
                     "kv: a version %d method table: open changed in version 4 (no err, errcap; "
                     "the message goes in the connection's errmsg): rebuild the backend against "
                     "this cis_kv.h",
                     u->version);
    if (!u->open || !u->close || !u->begin || !u->commit || !u->rollback || !u->get ||
        !u->stat || !u->set || !u->del || !u->usage || !u->list)
      return kv_fail(kv, CIS_EINVAL, "kv: the method table lacks a method");
    if (!u->lock) return kv_fail(kv, CIS_EINVAL, "kv: the method table lacks lock");
    if (!u->tenant_usage) return kv_fail(kv, CIS_EINVAL, "kv: the method table lacks tenant_usage");
    if (u->version >= 5 && (!u->namespaces || !u->drop))
      return kv_fail(kv, CIS_EINVAL, "kv: a version %d method table lacks namespaces or drop", u->version);
    *m = u;
    *arg = s ? s : "";
    return CIS_OK;
  }
  cis__db_spec db;
  char why[160];
  cis_result rc = cis__db_spec_parse(s, CIS__DB_NO_DEFAULT, &db, why, sizeof why);
  if (rc != CIS_OK) return kv_fail(kv, rc, "kv: %s", why);
  *m = db.dialect == CIS__DB_SQLITE ? &cis__kv_sqlite_methods : &cis__kv_postgres_methods;
  *arg = db.target;
  return CIS_OK;
}

/* Opens a store: see cis_kv.h. The store owns copies of the table and the
 * argument; the first connection goes into the pool. On failure the store
 * is a shell holding the message. */
cis_result cis_kv_open(const cis_kv_config *cfg, cis_kv **out) {
  cis_result rc = CIS_OK;
  const cis_kv_methods *m = NULL;
  const char *arg = NULL;
  cis_kv_conn *c = NULL;
  bool locks = false;

  if (!out) return CIS_EINVAL;
  cis_kv *kv = *out = calloc(1, sizeof *kv);
  if (!kv) return CIS_ENOMEM;
  cis__handle_init(&kv->h, CIS__H_SHARED);
  if (!cfg) CIS_TRY(kv_fail(kv, CIS_EINVAL, "kv: NULL config"));
  CIS_TRY(pick_backend(kv, cfg, &m, &arg));

  /* A version 4 table ends at tenant_usage (an embedder built against
   * that header): what follows is not read, and stays NULL here. */
  if (m->version >= 5) kv->m = *m;
  else memcpy(&kv->m, m, offsetof(cis_kv_methods, namespaces));
  if (!kv->m.name) kv->m.name = "user";
  kv->lim = cfg->limits;
  if (!kv->lim.max_key_bytes) kv->lim.max_key_bytes = CIS_KV_DEFAULT_MAX_KEY_BYTES;
  if (!kv->lim.max_value_bytes) kv->lim.max_value_bytes = CIS_KV_DEFAULT_MAX_VALUE_BYTES;
  if (!kv->lim.max_keys) kv->lim.max_keys = CIS_KV_DEFAULT_MAX_KEYS;
  if (!kv->lim.max_bytes) kv->lim.max_bytes = CIS_KV_DEFAULT_MAX_BYTES;
  kv->max_conns = cfg->max_connections ? cfg->max_connections : CIS_KV_DEFAULT_MAX_CONNECTIONS;
  kv->op_timeout_ms = cfg->op_timeout_ms ? cfg->op_timeout_ms : CIS_KV_DEFAULT_OP_TIMEOUT_MS;
  kv->arg = strdup(arg);
  kv->idle = calloc(kv->max_conns, sizeof *kv->idle);
  if (!kv->arg || !kv->idle) CIS_TRY(kv_fail(kv, CIS_ENOMEM, "kv: out of memory"));
  /* By the table, not the spec: an embedder may pass a built-in table. */
  if (kv->m.open == cis__kv_sqlite_methods.open) kv->db.dialect = CIS__DB_SQLITE;
  else if (kv->m.open == cis__kv_postgres_methods.open) kv->db.dialect = CIS__DB_POSTGRES;
  kv->db.target = kv->arg;
  kv->db.target_len = strlen(kv->arg);

  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&kv->freed, &ca);
  pthread_cond_init(&kv->ns_freed, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&kv->lock, NULL);
  locks = true;

  CIS_TRY(pool_get(kv, NULL, &c));
  pool_put(kv, c, CIS_OK);
  return CIS_OK;

fail:
  if (locks) {
    pthread_cond_destroy(&kv->freed);
    pthread_cond_destroy(&kv->ns_freed);
    pthread_mutex_destroy(&kv->lock);
  }
  free(kv->idle);
  free(kv->arg);
  kv->idle = NULL;
  kv->arg = NULL;
  return cis__handle_failed(&kv->h, rc);
}

static void kv_free(cis_kv *kv) {
  for (size_t i = 0; i < KV_HINT_SLOTS; i++) free(kv->hints[i].name);
  pthread_cond_destroy(&kv->freed);
  pthread_cond_destroy(&kv->ns_freed);
  pthread_mutex_destroy(&kv->lock);
  free(kv->idle);
  free(kv->arg);
  free(kv);
}

/* Closes the idle connections. A transaction may still hold a pinned
 * connection (an atomic operation's); it may be rolled back after the
 * close, as any open transaction may, so the store lives on until the
 * last one is given back (unpin). */
void cis_kv_close(cis_kv *kv) {
  if (!kv) return;
  if (cis__handle_failure(kv)) { /* a shell: nothing else to release */
    free(kv);
    return;
  }
  pthread_mutex_lock(&kv->lock);
  for (uint32_t i = 0; i < kv->nidle; i++) kv->m.close(kv->idle[i]);
  kv->nidle = 0;
  kv->closed = true;
  bool last = kv->npinned == 0;
  pthread_mutex_unlock(&kv->lock);
  if (last) kv_free(kv);
}

/* Gives back a transaction's pinned connection: to the pool, or, after
 * cis_kv_close, closed (the last one frees the store). */
static void unpin(cis_kv *kv, cis_kv_conn *c, cis_result last) {
  pthread_mutex_lock(&kv->lock);
  kv->npinned--;
  bool closed = kv->closed, free_kv = closed && kv->npinned == 0;
  pthread_mutex_unlock(&kv->lock);
  if (!closed) {
    pool_put(kv, c, last);
    return;
  }
  kv->m.close(c);
  if (free_kv) kv_free(kv);
}

const char *cis_kv_errmsg(const cis_kv *kv) { return kv ? cis_errmsg(&kv->h) : ""; }

void cis__kv_inject_fault(cis_kv *kv, uint32_t skip, uint32_t count, cis_result code) {
  if (!kv) return;
  pthread_mutex_lock(&kv->lock);
  kv->fault_skip = skip;
  kv->fault_count = count;
  kv->fault_code = code;
  pthread_mutex_unlock(&kv->lock);
}

uint64_t cis__kv_backend_calls(cis_kv *kv) {
  if (!kv) return 0;
  pthread_mutex_lock(&kv->lock);
  uint64_t n = kv->calls;
  pthread_mutex_unlock(&kv->lock);
  return n;
}

void cis__kv_forget_hints(cis_kv *kv) {
  if (!kv) return;
  pthread_mutex_lock(&kv->lock);
  for (size_t i = 0; i < KV_HINT_SLOTS; i++) kv->hints[i].at_ns = 0;
  pthread_mutex_unlock(&kv->lock);
}

void cis_kv_free(void *p) { free(p); }

/* ---------------------------------------------------------- transactions */

/* Starts a transaction: see cis_kv.h. Copies the namespace's names. */
cis_result cis_kv_begin(cis_kv *kv, const cis_principal *who, uint64_t timeout_ms,
                        cis_kv_txn **out) {
  if (!out) return kv_fail(kv, CIS_EINVAL, "kv: NULL out");
  *out = NULL;
  if (!kv) return kv_fail(kv, CIS_EINVAL, "kv: NULL store");
  if (cis__handle_failure(kv)) return CIS_ESTATE;
  if (timeout_ms == 0) return kv_fail(kv, CIS_ETIMEOUT, "kv: no time left before the deadline");
  const char *tenant = who && who->tenant ? who->tenant : "";
  const char *skill = who && who->skill ? who->skill : "";
  size_t tl = strlen(tenant), sl = strlen(skill);
  if (tl > CIS_KV_MAX_NAME_BYTES || sl > CIS_KV_MAX_NAME_BYTES)
    return kv_fail(kv, CIS_EINVAL, "kv: tenant or skill name above %u bytes", CIS_KV_MAX_NAME_BYTES);
  cis_result rc = CIS_OK;
  cis_kv_txn *t = calloc(1, sizeof *t);
  if (!t) CIS_TRY(kv_fail(kv, CIS_ENOMEM, "kv: out of memory"));
  t->tenant = strdup(tenant);
  t->skill = strdup(skill);
  if (!t->tenant || !t->skill) CIS_TRY(kv_fail(kv, CIS_ENOMEM, "kv: out of memory"));
  t->kv = kv;
  t->ns = (cis_kv_ns){.tenant = t->tenant, .tenant_len = tl, .skill = t->skill, .skill_len = sl};
  t->deadline_ns = cis__deadline_after(timeout_ms, 0);
  t->max_keys = kv->lim.max_keys;
  t->max_bytes = kv->lim.max_bytes;
  *out = t;
  return CIS_OK;

fail:
  if (t) {
    free(t->tenant);
    free(t->skill);
    free(t);
  }
  return rc;
}

void cis_kv_txn_set_timeout(cis_kv_txn *t, uint64_t timeout_ms) {
  if (t) t->deadline_ns = cis__deadline_after(timeout_ms, 0);
}

static cis_result shared_open(void *owner, cis__db_conn **conn, char *err, size_t cap);
static void txn_free(cis_kv_txn *t);

cis_result cis__kv_begin_in(cis_kv *kv, const cis_principal *ns, const cis__callctx *ctx, cis_kv_txn **out) {
  uint64_t left = ctx ? cis__ms_left(ctx->deadline_ns) : UINT64_MAX;
  cis_result rc = cis_kv_begin(kv, ns, left, out);
  if (rc != CIS_OK) return rc;
  cis_kv_txn *t = *out;
  t->ctx = ctx;
  /* Only a built-in backend has a transaction another service can run in. */
  if (ctx && ctx->txn && builtin(kv) && kv->db.dialect != CIS__DB_NONE) {
    if ((rc = cis__db_txn_offer(ctx->txn, &kv->db, shared_open, t)) != CIS_OK) {
      kv_fail(kv, rc, "kv: %s", cis__db_txn_errmsg(ctx->txn));
      txn_free(t);
      *out = NULL;
      return rc;
    }
    t->shared = ctx->txn;
  }
  return CIS_OK;
}

void cis_kv_txn_set_quota(cis_kv_txn *t, uint64_t max_keys, uint64_t max_bytes) {
  if (!t) return;
  if (max_keys && max_keys < t->max_keys) t->max_keys = max_keys;
  if (max_bytes && max_bytes < t->max_bytes) t->max_bytes = max_bytes;
}

static void txn_free(cis_kv_txn *t) {
  for (size_t i = 0; i < t->np; i++) {
    free(t->p[i].key);
    free(t->p[i].val);
    free(t->p[i].seen);
  }
  free(t->p);
  free(t->tenant);
  free(t->skill);
  free(t);
}

/* Rolls back the backend transaction on c after a failure (or for a call
 * that did not commit), keeping the caller's message. The rollback gets
 * its own budget even past the deadline, so that the connection goes back
 * to the pool clean; returns what it returned. */
static cis_result bk_rollback(cis_kv *kv, cis_kv_conn *c) {
  char msg[CIS_ERRMSG_MAX];
  snprintf(msg, sizeof msg, "%s", cis_kv_errmsg(kv));
  c->timeout_ms = kv->op_timeout_ms < 5000 ? kv->op_timeout_ms : 5000;
  c->errmsg[0] = '\0';
  pthread_mutex_lock(&kv->lock);
  kv->calls++;
  pthread_mutex_unlock(&kv->lock);
  cis_result rc = kv->m.rollback(c);
  kv_fail(kv, CIS_OK, "%s", msg);
  return rc;
}

/* Rolls back c's open backend transaction after the failure rc and
 * returns the error to report: rc, or CIS_EKVDOWN when the rollback found
 * the connection dead. A rollback that failed in any way may have left
 * the transaction open, so *drop is set: c is closed, never pooled again
 * (pool_put with CIS_EKVDOWN). */
static cis_result rollback_after(cis_kv *kv, cis_kv_conn *c, cis_result rc, bool *drop) {
  cis_result rb = bk_rollback(kv, c);
  if (rb != CIS_OK) *drop = true;
  return rb == CIS_EKVDOWN ? CIS_EKVDOWN : rc;
}

static void ns_release(cis_kv_txn *t);

/* Drops the pending writes; a pinned backend transaction is rolled back
 * (a connection whose rollback failed is closed, not pooled). */
void cis_kv_rollback(cis_kv_txn *t) {
  if (!t) return;
  cis__db_txn_end(t->shared); /* first: the rollback ends what the members borrow */
  if (t->pin) {
    cis_result rc = bk_rollback(t->kv, t->pin);
    unpin(t->kv, t->pin, rc == CIS_OK ? CIS_OK : CIS_EKVDOWN);
    t->pin = NULL;
  }
  ns_release(t);
  txn_free(t);
}

/* The connection for one operation of t: the pinned one, or one from the
 * pool (*c stays NULL on failure). */
static cis_result conn_get(cis_kv_txn *t, cis_kv_conn **c) {
  if (t->pin) {
    if (t->pin_rc != CIS_OK)
      return kv_fail(t ? t->kv : NULL, t->pin_rc, "kv: the call's locked transaction failed earlier (%s)",
                     cis_strerror(t->pin_rc));
    *c = t->pin;
    return CIS_OK;
  }
  return pool_get(t->kv, t, c);
}

/* Gives back what conn_get gave. A backend failure on the pinned
 * connection ends its backend transaction (PostgreSQL aborts it or drops
 * the connection), so it is remembered: the call can only roll back. */
static void conn_put(cis_kv_txn *t, cis_kv_conn *c, cis_result rc) {
  if (!c) return;
  if (c != t->pin) {
    pool_put(t->kv, c, rc);
    return;
  }
  /* A cancel that interrupted a statement (db/db_conn.h) rolled the
   * backend's transaction back as a deadline does. */
  if ((rc == CIS_EKVDOWN || rc == CIS_EKV || rc == CIS_ETIMEOUT || rc == CIS_ECANCELED) && t->pin_rc == CIS_OK)
    t->pin_rc = rc;
}

/* Index of the first pending entry whose key is >= key (or > key when
 * `after`); *found says whether p[index] equals key. */
static size_t pend_find(const cis_kv_txn *t, const void *key, size_t klen, bool after,
                        bool *found) {
  size_t lo = 0, hi = t->np;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = keycmp(t->p[mid].key, t->p[mid].klen, key, klen);
    if (c < 0 || (after && c == 0)) lo = mid + 1;
    else hi = mid;
  }
  if (found) *found = lo < t->np && keycmp(t->p[lo].key, t->p[lo].klen, key, klen) == 0;
  return lo;
}

static int64_t keys_now(const kv_pend *e) { return e->live ? 1 : 0; }
static int64_t bytes_now(const kv_pend *e) { return e->live ? (int64_t)(e->klen + e->vlen) : 0; }
static int64_t keys_base(const kv_pend *e) { return e->base_exists ? 1 : 0; }
static int64_t bytes_base(const kv_pend *e) {
  return e->base_exists ? (int64_t)(e->klen + e->base_vlen) : 0;
}

/* Checks the arguments every keyed call shares, and the deadline. */
static cis_result check_key(cis_kv_txn *t, const void *key, size_t klen) {
  if (!t) return kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: NULL transaction");
  if (klen == 0) return kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: empty key");
  if (!key) return kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: NULL key");
  if (klen > t->kv->lim.max_key_bytes)
    return kv_fail(t ? t->kv : NULL, CIS_ETOOBIG, "kv: key of %zu bytes is above max_key_bytes (%zu)", klen,
                   t->kv->lim.max_key_bytes);
  uint64_t ms = 0;
  return time_left(t->kv, t, &ms);
}

/* Looks key up in the backend outside a transaction: whether it exists and
 * its value's length. Takes a connection from the pool when *c is NULL and
 * leaves it in *c for the caller's pool_put. */
static cis_result bk_stat(cis_kv_txn *t, cis_kv_conn **c, const void *key, size_t klen,
                          bool *exists, uint64_t *vlen) {
  cis_kv *kv = t->kv;
  cis_result rc = CIS_OK;
  if (!*c) CIS_TRY(conn_get(t, c));
  CIS_TRY(bk_enter(kv, t, *c, "stat"));
  rc = bk_leave(kv, *c, kv->m.stat(*c, &t->ns, key, klen, vlen), "stat");
  if (rc == CIS_ENOTFOUND) {
    *exists = false;
    *vlen = 0;
    return CIS_OK;
  }
  CIS_TRY(rc);
  *exists = true;
fail:
  return rc;
}

/* ---------------------------------------------------------------- hints */

static bool has_tenant_quota(const cis_kv *kv) {
  return kv->lim.tenant_max_keys || kv->lim.tenant_max_bytes;
}

/* The slot of ns's usage (kind 'n') or its tenant's totals (kind 't',
 * the skill ignored) in kv->hints, and whether it holds them. */
static kv_hint *hint_slot(cis_kv *kv, char kind, const cis_kv_ns *ns, bool *same) {
  size_t sl = kind == 'n' ? ns->skill_len : 0;
  uint64_t h = cis__hash_bytes(0, &kind, 1);
  h = cis__hash_bytes(h, ns->tenant, ns->tenant_len);
  h = cis__hash_bytes(h, "", 1);
  h = cis__hash_bytes(h, ns->skill, sl);
  kv_hint *e = &kv->hints[h % KV_HINT_SLOTS];
  size_t n = 1 + ns->tenant_len + 1 + sl;
  *same = e->name && e->name_len == n && e->name[0] == kind && !memcmp(e->name + 1, ns->tenant, ns->tenant_len) &&
          !memcmp(e->name + 2 + ns->tenant_len, ns->skill, sl);
  return e;
}

/* Remembers keys and bytes of kind (hint_slot) as read at at_ns, unless
 * a later read is there already: reads under the namespace's or the
 * tenant's lock are made in commit order, and the last one holds. Out of
 * memory: not remembered. */
static void hint_put(cis_kv *kv, char kind, const cis_kv_ns *ns, uint64_t keys, uint64_t bytes,
                     uint64_t at_ns) {
  bool same;
  pthread_mutex_lock(&kv->lock);
  kv_hint *e = hint_slot(kv, kind, ns, &same);
  if (!same) {
    size_t sl = kind == 'n' ? ns->skill_len : 0, n = 1 + ns->tenant_len + 1 + sl;
    char *name = malloc(n);
    if (!name) goto done;
    name[0] = kind;
    memcpy(name + 1, ns->tenant, ns->tenant_len);
    name[1 + ns->tenant_len] = 0;
    memcpy(name + 2 + ns->tenant_len, ns->skill, sl);
    free(e->name);
    *e = (kv_hint){.name = name, .name_len = n};
  }
  if (at_ns > e->at_ns) {
    e->keys = keys;
    e->bytes = bytes;
    e->at_ns = at_ns;
  }
done:
  pthread_mutex_unlock(&kv->lock);
}

/* Reads the hint of kind (hint_slot) for t's namespace when it is younger
 * than KV_HINT_MS. */
static bool hint_get(cis_kv_txn *t, char kind, uint64_t *keys, uint64_t *bytes) {
  cis_kv *kv = t->kv;
  uint64_t young = cis__now_ns() - (uint64_t)KV_HINT_MS * 1000000u;
  bool same;
  pthread_mutex_lock(&kv->lock);
  const kv_hint *e = hint_slot(kv, kind, &t->ns, &same);
  bool ok = same && e->at_ns > young;
  if (ok) {
    *keys = e->keys;
    *bytes = e->bytes;
  }
  pthread_mutex_unlock(&kv->lock);
  return ok;
}

/* Fills what t does not know of its namespace's usage and tenant's totals
 * from the store's hints. */
static void hint_load(cis_kv_txn *t) {
  if (!t->usage_known && hint_get(t, 'n', &t->base_keys, &t->base_bytes)) t->usage_known = t->hinted = true;
  if (has_tenant_quota(t->kv) && !t->tenant_known && hint_get(t, 't', &t->base_tkeys, &t->base_tbytes))
    t->tenant_known = t->hinted = true;
}

/* Reads the namespace's committed usage into t's base, as bk_stat. */
static cis_result bk_usage(cis_kv_txn *t, cis_kv_conn **c) {
  cis_kv *kv = t->kv;
  cis_result rc = CIS_OK;
  uint64_t u[2] = {0, 0};
  if (!*c) CIS_TRY(conn_get(t, c));
  CIS_TRY(bk_enter(kv, t, *c, "usage"));
  CIS_TRY(bk_leave(kv, *c, kv->m.usage(*c, &t->ns, &u[0], &u[1]), "usage"));
  t->base_keys = u[0];
  t->base_bytes = u[1];
  t->usage_known = true;
  hint_put(kv, 'n', &t->ns, u[0], u[1], cis__now_ns());
fail:
  return rc;
}

/* Reads what all of t's tenant's namespaces hold, through the backend's
 * tenant_usage (lock: take the tenant's write lock first, at commit). */
static cis_result bk_tenant_usage(cis_kv_txn *t, cis_kv_conn **c, bool lock, uint64_t *keys,
                                  uint64_t *bytes) {
  cis_kv *kv = t->kv;
  cis_result rc = CIS_OK;
  *keys = *bytes = 0;
  if (!*c) CIS_TRY(conn_get(t, c));
  CIS_TRY(bk_enter(kv, t, *c, "tenant usage"));
  CIS_TRY(bk_leave(kv, *c, kv->m.tenant_usage(*c, &t->ns, lock, keys, bytes), "tenant usage"));
fail:
  return rc;
}

/* CIS_EKVLIMIT when the tenant's namespaces would hold (keys, bytes) past
 * the tenant quota, counting only what grows (grow_keys, grow_bytes); with
 * the store's message when `report`. */
static cis_result check_tenant(cis_kv_txn *t, bool at_commit, bool report, bool grow_keys,
                               bool grow_bytes, uint64_t keys, uint64_t bytes) {
  const cis_kv_limits *l = &t->kv->lim;
  const char *who = *t->tenant ? t->tenant : "(default)";
  const char *what = at_commit ? "commit would leave tenant" : "tenant";
  const char *verb = at_commit ? "with" : "would hold";
  bool over_keys = grow_keys && l->tenant_max_keys && keys > l->tenant_max_keys;
  bool over_bytes = grow_bytes && l->tenant_max_bytes && bytes > l->tenant_max_bytes;
  if ((over_keys || over_bytes) && !report) return CIS_EKVLIMIT;
  if (over_keys)
    return kv_fail(t->kv, CIS_EKVLIMIT, "kv: %s %.64s's namespaces %s %llu keys, above tenant_max_keys (%llu)",
                   what, who, verb, (unsigned long long)keys, (unsigned long long)l->tenant_max_keys);
  if (over_bytes)
    return kv_fail(t->kv, CIS_EKVLIMIT, "kv: %s %.64s's namespaces %s %llu bytes, above tenant_max_bytes (%llu)",
                   what, who, verb, (unsigned long long)bytes, (unsigned long long)l->tenant_max_bytes);
  return CIS_OK;
}

/* Reads the committed value of key (malloc'd, NUL-terminated copy). */
static cis_result bk_get(cis_kv_txn *t, const void *key, size_t klen, uint8_t **val,
                         size_t *vlen) {
  cis_kv *kv = t->kv;
  cis_kv_conn *c = NULL;
  void *v = NULL;
  size_t n = 0;
  cis_result rc = CIS_OK;
  CIS_TRY(conn_get(t, &c));
  CIS_TRY(bk_enter(kv, t, c, "get"));
  CIS_TRY(bk_leave(kv, c, kv->m.get(c, &t->ns, key, klen, &v, &n), "get"));
  *val = dup_bytes(v, n);
  if (!*val) CIS_TRY(kv_fail(t ? t->kv : NULL, CIS_ENOMEM, "kv: out of memory"));
  *vlen = n;
fail:
  free(v);
  conn_put(t, c, rc);
  return rc;
}

static cis_result not_found(const cis_kv_txn *t, size_t klen) {
  return kv_fail(t ? t->kv : NULL, CIS_ENOTFOUND, "kv: no such key (%zu bytes)", klen);
}

/* Reads a value: the pending write when the transaction wrote the key,
 * else the committed one. See cis_kv.h. */
cis_result cis_kv_get(cis_kv_txn *t, const void *key, size_t klen, void **val, size_t *vlen) {
  cis_result rc = CIS_OK;
  if (!val || !vlen) return kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: NULL output");
  *val = NULL;
  *vlen = 0;
  CIS_TRY(check_key(t, key, klen));
  bool found;
  size_t i = pend_find(t, key, klen, false, &found);
  if (found) {
    const kv_pend *e = &t->p[i];
    if (!e->live) return not_found(t, klen);
    *val = dup_bytes(e->val, e->vlen);
    if (!*val) return kv_fail(t ? t->kv : NULL, CIS_ENOMEM, "kv: out of memory");
    *vlen = e->vlen;
    return CIS_OK;
  }
  uint8_t *v = NULL;
  rc = bk_get(t, key, klen, &v, vlen);
  if (rc == CIS_ENOTFOUND) return not_found(t, klen);
  CIS_TRY(rc);
  *val = v;
fail:
  return rc;
}

/* Reads a value into the caller's buffer: see cis_kv.h. */
cis_result cis_kv_get_into(cis_kv_txn *t, const void *key, size_t klen, void *dst, size_t cap,
                           size_t *vlen) {
  void *v = NULL;
  size_t n = 0;
  if (!vlen || (!dst && cap)) return kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: NULL output");
  *vlen = 0;
  cis_result rc = cis_kv_get(t, key, klen, &v, &n);
  if (rc != CIS_OK) return rc;
  *vlen = n;
  if (n > cap) {
    free(v);
    return kv_fail(t ? t->kv : NULL, CIS_ETOOBIG, "kv: value of %zu bytes does not fit in %zu", n, cap);
  }
  if (n) memcpy(dst, v, n);
  free(v);
  return CIS_OK;
}

/* Makes room for one more pending entry at index i. */
static cis_result pend_insert(cis_kv_txn *t, size_t i) {
  if (t->np == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 8;
    kv_pend *p = realloc(t->p, cap * sizeof *p);
    if (!p) return kv_fail(t ? t->kv : NULL, CIS_ENOMEM, "kv: out of memory");
    t->p = p;
    t->cap = cap;
  }
  memmove(&t->p[i + 1], &t->p[i], (t->np - i) * sizeof *t->p);
  t->np++;
  memset(&t->p[i], 0, sizeof t->p[i]);
  return CIS_OK;
}

static void pend_remove(cis_kv_txn *t, size_t i) {
  free(t->p[i].key);
  free(t->p[i].val);
  free(t->p[i].seen);
  memmove(&t->p[i], &t->p[i + 1], (t->np - i - 1) * sizeof *t->p);
  t->np--;
}

static uint64_t add_delta(uint64_t base, int64_t d) {
  if (d < 0 && (uint64_t)-d > base) return 0;
  return base + (uint64_t)d;
}

/* Whether pending deltas of (nk, nb) pass the quotas against the usage t
 * knows (t->usage_known, and t->tenant_known under a tenant quota): CIS_OK
 * or CIS_EKVLIMIT, with the store's message when `report`. Only what
 * grows past t->dkeys / t->dbytes is held to them. */
static cis_result quota_verdict(cis_kv_txn *t, int64_t nk, int64_t nb, bool report) {
  uint64_t keys = add_delta(t->base_keys, nk), bytes = add_delta(t->base_bytes, nb);
  bool grow_keys = nk > t->dkeys, grow_bytes = nb > t->dbytes;
  if (grow_keys && keys > t->max_keys)
    return !report ? CIS_EKVLIMIT
                   : kv_fail(t->kv, CIS_EKVLIMIT, "kv: the namespace would hold %llu keys, above max_keys (%llu)",
                             (unsigned long long)keys, (unsigned long long)t->max_keys);
  if (grow_bytes && bytes > t->max_bytes)
    return !report ? CIS_EKVLIMIT
                   : kv_fail(t->kv, CIS_EKVLIMIT, "kv: the namespace would hold %llu bytes, above max_bytes (%llu)",
                             (unsigned long long)bytes, (unsigned long long)t->max_bytes);
  if (!has_tenant_quota(t->kv)) return CIS_OK;
  return check_tenant(t, false, report, grow_keys, grow_bytes, add_delta(t->base_tkeys, nk),
                      add_delta(t->base_tbytes, nb));
}

/* Reads what t does not know yet of the usage a quota check adds to: the
 * namespace's, and the tenant's totals under a tenant quota. */
static cis_result read_usage(cis_kv_txn *t, cis_kv_conn **c) {
  cis_result rc = CIS_OK;
  if (!t->usage_known) CIS_TRY(bk_usage(t, c));
  if (has_tenant_quota(t->kv) && !t->tenant_known) {
    CIS_TRY(bk_tenant_usage(t, c, false, &t->base_tkeys, &t->base_tbytes));
    t->tenant_known = true;
    hint_put(t->kv, 't', &t->ns, t->base_tkeys, t->base_tbytes, cis__now_ns());
  }
fail:
  return rc;
}

/* Checks the quotas for a write that changes the pending deltas from
 * (t->dkeys, t->dbytes) to (nk, nb), against a fresh read of the usage
 * (a hinted one is read again: refusals are never made on a hint).
 * Errors: CIS_EKVLIMIT, and those of the usage reads. */
static cis_result check_quota(cis_kv_txn *t, cis_kv_conn **c, int64_t nk, int64_t nb) {
  cis_result rc = CIS_OK;
  if (nk <= t->dkeys && nb <= t->dbytes) return CIS_OK;
  if (t->hinted && quota_verdict(t, nk, nb, false) != CIS_OK) {
    t->usage_known = t->tenant_known = t->hinted = false;
  }
  CIS_TRY(read_usage(t, c));
  CIS_TRY(quota_verdict(t, nk, nb, true));
fail:
  return rc;
}

/* Whether a write of a key t has not touched, counted as a new key (the
 * most it can grow the usage: deltas nk, nb), passes the quotas against
 * the usage t knows, else the store's hint, else a fresh read. Then the
 * key's own size need not be read. */
static cis_result fits_as_new(cis_kv_txn *t, cis_kv_conn **c, int64_t nk, int64_t nb, bool *fits) {
  cis_result rc = CIS_OK;
  *fits = false;
  if (!t->usage_known || (has_tenant_quota(t->kv) && !t->tenant_known)) hint_load(t);
  CIS_TRY(read_usage(t, c));
  *fits = quota_verdict(t, nk, nb, false) == CIS_OK;
fail:
  return rc;
}

/* Reads on *c (taken when NULL, as bk_stat) the committed size of the key
 * of e, which t wrote without it (base_unknown), or of each such key
 * (resolve_bases), so that t's deltas are exact again. */
static cis_result resolve_base(cis_kv_txn *t, cis_kv_conn **c, kv_pend *e) {
  cis_result rc = CIS_OK;
  bool exists = false;
  uint64_t vlen = 0;
  CIS_TRY(bk_stat(t, c, e->key, e->klen, &exists, &vlen));
  e->base_exists = exists;
  e->base_vlen = vlen;
  e->base_unknown = false;
  t->nunknown--;
  /* It was counted as absent. */
  t->dkeys -= keys_base(e);
  t->dbytes -= bytes_base(e);
fail:
  return rc;
}

static cis_result resolve_bases(cis_kv_txn *t, cis_kv_conn **c) {
  cis_result rc = CIS_OK;
  for (size_t i = 0; i < t->np && t->nunknown; i++)
    if (t->p[i].base_unknown) CIS_TRY(resolve_base(t, c, &t->p[i]));
fail:
  return rc;
}

/* What the transaction knows of a key's committed value. */
typedef struct kv_base {
  bool exists;
  size_t vlen;
} kv_base;

/* Records a write in the transaction: see cis_kv.h. The backend is asked
 * only for what the quota check needs (the key's committed size the first
 * time the transaction touches it, unless `base` says it: an atomic
 * operation has just read the value; the namespace's usage once). */
static cis_result record_set(cis_kv_txn *t, const void *key, size_t klen, const void *val, size_t vlen,
                             const kv_base *base) {
  cis_result rc = CIS_OK;
  cis_kv_conn *c = NULL;
  uint8_t *kcopy = NULL, *vcopy = NULL;
  CIS_TRY(check_key(t, key, klen));
  cis_kv *kv = t->kv;
  if (!val && vlen) CIS_TRY(kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: NULL value"));
  if (vlen > kv->lim.max_value_bytes)
    CIS_TRY(kv_fail(t ? t->kv : NULL, CIS_ETOOBIG, "kv: value of %zu bytes is above max_value_bytes (%zu)", vlen,
                    kv->lim.max_value_bytes));

  bool found;
  size_t i = pend_find(t, key, klen, false, &found);
  kv_pend tmp = {.klen = klen, .vlen = vlen, .live = true};
  bool fits = false;
  if (found) {
    tmp.base_exists = t->p[i].base_exists;
    tmp.base_vlen = t->p[i].base_vlen;
    tmp.base_unknown = t->p[i].base_unknown;
  } else if (base) {
    tmp.base_exists = base->exists;
    tmp.base_vlen = base->exists ? base->vlen : 0;
  } else {
    /* Counted as new, the most it can grow the usage; a pinned
     * transaction reads the size under its lock, exact, as before. */
    if (!t->pin)
      CIS_TRY(fits_as_new(t, &c, t->dkeys + keys_now(&tmp), t->dbytes + bytes_now(&tmp), &fits));
    if (fits) tmp.base_unknown = true;
    else CIS_TRY(bk_stat(t, &c, key, klen, &tmp.base_exists, &tmp.base_vlen));
  }
  int64_t nk = t->dkeys + keys_now(&tmp) - (found ? keys_now(&t->p[i]) : keys_base(&tmp));
  int64_t nb = t->dbytes + bytes_now(&tmp) - (found ? bytes_now(&t->p[i]) : bytes_base(&tmp));
  if (!fits) {
    rc = check_quota(t, &c, nk, nb);
    if (rc == CIS_EKVLIMIT && t->nunknown) {
      /* Writes counted as new may not be: refuse only on exact sizes. */
      CIS_TRY(resolve_bases(t, &c));
      nk = t->dkeys + keys_now(&tmp) - (found ? keys_now(&t->p[i]) : keys_base(&tmp));
      nb = t->dbytes + bytes_now(&tmp) - (found ? bytes_now(&t->p[i]) : bytes_base(&tmp));
      if (found) {
        tmp.base_exists = t->p[i].base_exists;
        tmp.base_vlen = t->p[i].base_vlen;
        tmp.base_unknown = false;
      }
      rc = check_quota(t, &c, nk, nb);
    }
    CIS_TRY(rc);
  }

  if (vlen) {
    vcopy = dup_bytes(val, vlen);
    if (!vcopy) CIS_TRY(kv_fail(t ? t->kv : NULL, CIS_ENOMEM, "kv: out of memory"));
  }
  if (!found) {
    kcopy = dup_bytes(key, klen);
    if (!kcopy) CIS_TRY(kv_fail(t ? t->kv : NULL, CIS_ENOMEM, "kv: out of memory"));
    CIS_TRY(pend_insert(t, i));
    tmp.key = kcopy;
    kcopy = NULL;
    t->p[i] = tmp;
    t->nunknown += tmp.base_unknown;
  }
  free(t->p[i].val);
  t->p[i].val = vcopy;
  t->p[i].vlen = vlen;
  t->p[i].live = true;
  vcopy = NULL;
  t->dkeys = nk;
  t->dbytes = nb;
fail:
  free(kcopy);
  free(vcopy);
  conn_put(t, c, rc);
  return rc;
}

cis_result cis_kv_set(cis_kv_txn *t, const void *key, size_t klen, const void *val, size_t vlen) {
  return record_set(t, key, klen, val, vlen, NULL);
}

/* Records a delete: a key the transaction created just disappears from
 * the pending writes; a committed key gets a pending delete. See
 * cis_kv.h. */
cis_result cis_kv_delete(cis_kv_txn *t, const void *key, size_t klen) {
  cis_result rc = CIS_OK;
  cis_kv_conn *c = NULL;
  CIS_TRY(check_key(t, key, klen));
  bool found;
  size_t i = pend_find(t, key, klen, false, &found);
  if (found) {
    kv_pend *e = &t->p[i];
    if (!e->live) CIS_TRY(not_found(t, klen));
    /* Whether a key is left to delete at commit. */
    if (e->base_unknown) CIS_TRY(resolve_base(t, &c, e));
    t->dkeys -= keys_now(e) - keys_base(e);
    t->dbytes -= bytes_now(e) - bytes_base(e);
    if (!e->base_exists) {
      /* Nothing committed to delete: the entry just goes away. */
      pend_remove(t, i);
    } else {
      free(e->val);
      e->val = NULL;
      e->vlen = 0;
      e->live = false;
      t->dkeys -= 1;
      t->dbytes -= bytes_base(e);
    }
    goto fail; /* done: gives back a connection the size's read took */
  }
  kv_pend tmp = {.klen = klen};
  CIS_TRY(bk_stat(t, &c, key, klen, &tmp.base_exists, &tmp.base_vlen));
  if (!tmp.base_exists) CIS_TRY(not_found(t, klen));
  tmp.key = dup_bytes(key, klen);
  if (!tmp.key) CIS_TRY(kv_fail(t ? t->kv : NULL, CIS_ENOMEM, "kv: out of memory"));
  rc = pend_insert(t, i);
  if (rc != CIS_OK) {
    free(tmp.key);
    goto fail;
  }
  t->p[i] = tmp;
  t->dkeys -= 1;
  t->dbytes -= bytes_base(&tmp);
fail:
  conn_put(t, c, rc);
  return rc;
}

/* Committed usage read fresh, plus the pending writes' effect. */
cis_result cis_kv_usage(cis_kv_txn *t, uint64_t *keys, uint64_t *bytes) {
  cis_result rc = CIS_OK;
  cis_kv_conn *c = NULL;
  if (!t || !keys || !bytes) return kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: NULL argument");
  *keys = *bytes = 0;
  CIS_TRY(resolve_bases(t, &c));
  CIS_TRY(bk_usage(t, &c));
  *keys = add_delta(t->base_keys, t->dkeys);
  *bytes = add_delta(t->base_bytes, t->dbytes);
fail:
  conn_put(t, c, rc);
  return rc;
}

/* ------------------------------------------------------ namespace locks */

/* Whether the backend's transactions lock the whole store (SQLite's BEGIN
 * IMMEDIATE takes the file's write lock): its namespaces' locks are then
 * this store's own (ns_acquire), not a backend transaction held open. */
static bool store_wide(const cis_kv *kv) { return kv->m.open == cis__kv_sqlite_methods.open; }

static bool same_ns(const cis_kv_ns *a, const cis_kv_ns *b) {
  return a->tenant_len == b->tenant_len && a->skill_len == b->skill_len &&
         !memcmp(a->tenant, b->tenant, a->tenant_len) && !memcmp(a->skill, b->skill, a->skill_len);
}

/* Takes t's namespace's lock in this store, waiting for the transaction
 * holding it within t's deadline (CIS_ETIMEOUT). Like a pinned connection,
 * a held lock keeps a closed store alive until it is released. */
static cis_result ns_acquire(cis_kv_txn *t) {
  cis_kv *kv = t->kv;
  uint64_t ms = 0;
  cis_result rc = time_left(kv, t, &ms);
  if (rc != CIS_OK) return rc;
  struct timespec until;
  cis__timespec_after(CLOCK_MONOTONIC, ms, &until);
  pthread_mutex_lock(&kv->lock);
  for (;;) {
    const cis_kv_txn *h = kv->ns_holders;
    while (h && !same_ns(&h->ns, &t->ns)) h = h->ns_next;
    if (!h) break;
    int e = kv_wait(&kv->ns_freed, &kv->lock, &until, t);
    if (e == ECANCELED) {
      pthread_mutex_unlock(&kv->lock);
      return kv_fail(kv, CIS_ECANCELED, "kv: the call was cancelled while another call's atomic operation held "
                                        "the namespace");
    }
    if (e == ETIMEDOUT) {
      pthread_mutex_unlock(&kv->lock);
      return kv_fail(kv, CIS_ETIMEOUT,
                     "kv: the namespace stayed locked by another call's atomic operation until the "
                     "deadline");
    }
  }
  t->ns_next = kv->ns_holders;
  kv->ns_holders = t;
  t->ns_held = true;
  kv->npinned++;
  pthread_mutex_unlock(&kv->lock);
  return CIS_OK;
}

/* Releases t's namespace lock, if held (the last release after
 * cis_kv_close frees the store). */
static void ns_release(cis_kv_txn *t) {
  if (!t->ns_held) return;
  cis_kv *kv = t->kv;
  pthread_mutex_lock(&kv->lock);
  cis_kv_txn **pp = &kv->ns_holders;
  while (*pp != t) pp = &(*pp)->ns_next;
  *pp = t->ns_next;
  t->ns_held = false;
  kv->npinned--;
  bool free_kv = kv->closed && kv->npinned == 0;
  pthread_cond_broadcast(&kv->ns_freed);
  pthread_mutex_unlock(&kv->lock);
  if (free_kv) kv_free(kv);
}

/* ---------------------------------------------------- atomic operations */

/* Pins a connection for t (once): opens the backend transaction on it and
 * takes the namespace's write lock, held until t commits or rolls back.
 * Past this point every operation of t runs on the pinned connection.
 * Errors: CIS_ETIMEOUT (the lock was not free before the deadline), the
 * backend's begin / lock errors. */
static cis_result pin_lock(cis_kv_txn *t) {
  cis_kv *kv = t->kv;
  cis_result rc = CIS_OK;
  cis_kv_conn *c = NULL;
  if (t->pin) {
    if (t->pin_rc == CIS_OK) return CIS_OK;
    return kv_fail(t ? t->kv : NULL, t->pin_rc, "kv: the call's locked transaction failed earlier (%s)",
                   cis_strerror(t->pin_rc));
  }
  /* The namespace's lock before the file's, as every commit takes them. */
  if (store_wide(kv) && !t->ns_held) CIS_TRY(ns_acquire(t));
  CIS_TRY(pool_get(kv, t, &c));
  CIS_TRY(bk_enter(kv, t, c, "begin"));
  CIS_TRY(bk_leave(kv, c, kv->m.begin(c), "begin"));
  rc = bk_enter(kv, t, c, "lock");
  if (rc == CIS_OK) rc = bk_leave(kv, c, kv->m.lock(c, &t->ns), "lock");
  if (rc != CIS_OK) {
    bool drop = false;
    rc = rollback_after(kv, c, rc, &drop);
    pool_put(kv, c, drop ? CIS_EKVDOWN : rc);
    return rc;
  }
  pthread_mutex_lock(&kv->lock);
  kv->npinned++;
  pthread_mutex_unlock(&kv->lock);
  t->pin = c;
  t->usage_known = false; /* read again under the lock when a quota check needs it */
  t->tenant_known = false;
  return CIS_OK;
fail:
  if (c) pool_put(kv, c, rc);
  return rc;
}

/* What an atomic operation of t takes before it reads: the namespace's
 * lock in this store on a store-wide backend (the value is then read
 * outside a backend transaction and checked at commit), else a pinned
 * connection holding the backend's namespace lock. */
static cis_result atomic_lock(cis_kv_txn *t) {
  if (store_wide(t->kv) && !t->pin) return t->ns_held ? CIS_OK : ns_acquire(t);
  return pin_lock(t);
}

/* Remembers, on key's pending entry, the committed value an atomic
 * operation read for it (the first time only), for the commit to check. */
static cis_result watch(cis_kv_txn *t, const void *key, size_t klen, const uint8_t *v, size_t vl,
                        bool exists) {
  bool found;
  size_t i = pend_find(t, key, klen, false, &found);
  if (!found || t->p[i].watched) return CIS_OK;
  kv_pend *e = &t->p[i];
  if (vl) {
    if (!(e->seen = dup_bytes(v, vl))) return kv_fail(t->kv, CIS_ENOMEM, "kv: out of memory");
  }
  e->seen_len = vl;
  e->seen_exists = exists;
  e->watched = true;
  return CIS_OK;
}

/* The opening of the call's transaction (cis__kv_begin_in), on its first
 * member's join: t's backend transaction, pinned as an atomic operation
 * pins it, so those and the commit run in it too. */
static cis_result shared_open(void *owner, cis__db_conn **conn, char *err, size_t cap) {
  cis_kv_txn *t = owner;
  cis_kv *kv = t->kv;
  cis_result rc = pin_lock(t);
  if (rc == CIS_OK) {
    /* Offered by the built-in backends only, whose connections begin so. */
    *conn = ((cis__kv_db_conn *)t->pin)->db;
    if (!cis__db_conn_connected(*conn))
      rc = kv_fail(kv, CIS_EKVDOWN, "kv (%s): the transaction's connection was lost", kv->m.name);
  }
  if (rc != CIS_OK) snprintf(err, cap, "kv: %s", cis_kv_errmsg(kv));
  return rc;
}

/* The value key has for t under the lock: t's own pending write, else the
 * latest committed one. *val is malloc'd (NULL when absent). *unpinned:
 * the committed value was read outside a backend transaction (a store-wide
 * backend's), so the commit must check it (watch). */
static cis_result locked_read(cis_kv_txn *t, const void *key, size_t klen, uint8_t **val,
                              size_t *vlen, bool *exists, bool *unpinned) {
  *val = NULL;
  *vlen = 0;
  *exists = false;
  *unpinned = false;
  bool found;
  size_t i = pend_find(t, key, klen, false, &found);
  if (found) {
    const kv_pend *e = &t->p[i];
    if (!e->live) return CIS_OK;
    *val = dup_bytes(e->val, e->vlen);
    if (!*val) return kv_fail(t ? t->kv : NULL, CIS_ENOMEM, "kv: out of memory");
    *vlen = e->vlen;
    *exists = true;
    return CIS_OK;
  }
  *unpinned = !t->pin;
  cis_result rc = bk_get(t, key, klen, val, vlen);
  if (rc == CIS_ENOTFOUND) return CIS_OK;
  if (rc == CIS_OK) *exists = true;
  return rc;
}

/* Parses the decimal text of an int64 as cis_kv_increment stores it:
 * "0", or an optional '-' and digits without a leading zero. */
static bool parse_int(const uint8_t *p, size_t n, int64_t *out) {
  size_t i = 0;
  bool neg = n > 0 && p[0] == '-';
  if (neg) i++;
  if (i == n || n - i > 19 || (p[i] == '0' && (n - i > 1 || neg))) return false;
  uint64_t v = 0;
  for (; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return false;
    uint64_t d = (uint64_t)(p[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return false;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return true;
}

/* Atomic increment: see cis_kv.h. */
cis_result cis_kv_increment(cis_kv_txn *t, const void *key, size_t klen, int64_t delta,
                            int64_t *out) {
  cis_result rc = CIS_OK;
  uint8_t *v = NULL;
  size_t vl = 0;
  bool exists = false;
  if (!out) return kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: NULL output");
  bool unpinned = false;
  *out = 0;
  CIS_TRY(check_key(t, key, klen));
  CIS_TRY(atomic_lock(t));
  CIS_TRY(locked_read(t, key, klen, &v, &vl, &exists, &unpinned));
  int64_t cur = 0, sum = 0;
  if (exists && !parse_int(v, vl, &cur))
    CIS_TRY(kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: increment: the value (%zu bytes) is not a decimal integer",
                    vl));
  if (__builtin_add_overflow(cur, delta, &sum))
    CIS_TRY(kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: increment: %" PRId64 " + %" PRId64 " overflows int64", cur,
                    delta));
  if (delta != 0) {
    char text[CIS_KV_INT_MAX_BYTES + 1];
    int n = snprintf(text, sizeof text, "%" PRId64, sum);
    kv_base b = {exists, vl};
    CIS_TRY(record_set(t, key, klen, text, (size_t)n, &b));
    if (unpinned) CIS_TRY(watch(t, key, klen, v, vl, exists));
  }
  *out = sum;
fail:
  free(v);
  return rc;
}

/* Atomic compare-and-swap: see cis_kv.h. */
cis_result cis_kv_cas(cis_kv_txn *t, const void *key, size_t klen, const void *expect,
                      size_t elen, const void *val, size_t vlen, bool *swapped) {
  cis_result rc = CIS_OK;
  uint8_t *v = NULL;
  size_t vl = 0;
  bool exists = false;
  if (!swapped) return kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: NULL output");
  *swapped = false;
  if (!expect && elen) return kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: cas: NULL expected value");
  if (!val && vlen) return kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: NULL value");
  CIS_TRY(check_key(t, key, klen));
  if (vlen > t->kv->lim.max_value_bytes)
    CIS_TRY(kv_fail(t ? t->kv : NULL, CIS_ETOOBIG, "kv: value of %zu bytes is above max_value_bytes (%zu)", vlen,
                    t->kv->lim.max_value_bytes));
  bool unpinned = false;
  CIS_TRY(atomic_lock(t));
  CIS_TRY(locked_read(t, key, klen, &v, &vl, &exists, &unpinned));
  bool match = expect ? exists && vl == elen && (elen == 0 || memcmp(v, expect, elen) == 0)
                      : !exists;
  if (match) {
    kv_base b = {exists, vl};
    CIS_TRY(record_set(t, key, klen, val, vlen, &b));
    if (unpinned) CIS_TRY(watch(t, key, klen, v, vl, exists));
    *swapped = true;
  }
fail:
  free(v);
  return rc;
}

/* ----------------------------------------------------------------- list */

typedef struct key_vec {
  cis_kv_key *k; /* keys, owned */
  size_t n;      /* keys held */
  size_t cap;    /* slots allocated */
} key_vec;

static cis_result vec_push(key_vec *v, const void *key, size_t klen) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 16;
    cis_kv_key *k = realloc(v->k, cap * sizeof *k);
    if (!k) return CIS_ENOMEM;
    v->k = k;
    v->cap = cap;
  }
  uint8_t *d = dup_bytes(key, klen);
  if (!d) return CIS_ENOMEM;
  v->k[v->n++] = (cis_kv_key){.key = d, .len = klen};
  return CIS_OK;
}

static void vec_free(key_vec *v) {
  for (size_t i = 0; i < v->n; i++) free(v->k[i].key);
  free(v->k);
  memset(v, 0, sizeof *v);
}

/* What a backend's listing feeds: every key is checked (in order, in
 * range) and becomes the next page's cursor; keys the transaction has not
 * written go to `keep`. */
typedef struct list_ctx {
  const cis_kv_txn *t;  /* whose pending entries shadow backend keys */
  const void *prefix;   /* the listing's prefix */
  size_t plen;          /* bytes in prefix */
  const uint8_t *after; /* the page's starting cursor (not owned); NULL = none */
  size_t after_len;     /* bytes in after */
  key_vec keep;         /* committed keys not shadowed by a pending entry */
  uint8_t *last;        /* last key of this page (owned) */
  size_t last_len;      /* bytes in last */
  size_t raw;           /* keys seen in this page */
  bool bad;             /* the backend broke order or range */
} list_ctx;

static cis_result list_emit(void *ctxp, const void *key, size_t klen) {
  list_ctx *x = ctxp;
  const uint8_t *prev = x->last ? x->last : x->after;
  size_t prev_len = x->last ? x->last_len : x->after_len;
  if (!key || !klen || (prev && keycmp(key, klen, prev, prev_len) <= 0) ||
      !has_prefix(key, klen, x->prefix, x->plen)) {
    x->bad = true;
    return CIS_EKV;
  }
  uint8_t *d = dup_bytes(key, klen);
  if (!d) return CIS_ENOMEM;
  free(x->last);
  x->last = d;
  x->last_len = klen;
  x->raw++;
  bool shadowed;
  pend_find(x->t, key, klen, false, &shadowed);
  if (shadowed) return CIS_OK;
  return vec_push(&x->keep, key, klen);
}

/* Lists keys: see cis_kv.h. Pages through the backend until it has
 * limit + 1 committed keys the transaction does not shadow (or the end),
 * then merges them with the pending live keys in the range it covers. */
cis_result cis_kv_list(cis_kv_txn *t, const void *prefix, size_t plen, const void *after,
                       size_t alen, size_t limit, cis_kv_keys *out) {
  cis_result rc = CIS_OK;
  cis_kv_conn *c = NULL;
  list_ctx x = {.t = t, .prefix = prefix, .plen = plen};
  key_vec res = {0};
  uint8_t *cur = NULL; /* where the next page starts (owned); NULL = at the prefix */
  size_t cur_len = 0;  /* bytes in cur */
  if (!out) return kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: NULL output");
  memset(out, 0, sizeof *out);
  if (!t || (!prefix && plen) || (!after && alen)) return kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: NULL argument");
  cis_kv *kv = t->kv;
  if (limit == 0) limit = 1000;
  if (limit > SIZE_MAX / 2) limit = SIZE_MAX / 2;
  size_t need = limit + 1;
  CIS_TRY(conn_get(t, &c));

  if (alen) {
    cur = dup_bytes(after, alen);
    if (!cur) CIS_TRY(kv_fail(t ? t->kv : NULL, CIS_ENOMEM, "kv: out of memory"));
    cur_len = alen;
  }
  bool done = false;
  while (!done && x.keep.n < need) {
    x.raw = 0;
    x.after = cur;
    x.after_len = cur_len;
    CIS_TRY(bk_enter(kv, t, c, "list"));
    rc = kv->m.list(c, &t->ns, prefix, plen, cur, cur_len, need, list_emit, &x);
    if (rc == CIS_ENOMEM && !c->errmsg[0]) snprintf(c->errmsg, sizeof c->errmsg, "out of memory");
    if (x.bad) snprintf(c->errmsg, sizeof c->errmsg, "listing returned keys out of order or range");
    if (rc == CIS_OK && x.raw > need) {
      rc = CIS_EKV;
      snprintf(c->errmsg, sizeof c->errmsg, "listing returned more keys than asked");
    }
    CIS_TRY(bk_leave(kv, c, rc, "list"));
    if (x.raw < need) done = true;
    if (x.last) {
      free(cur);
      cur = x.last;
      cur_len = x.last_len;
      x.last = NULL;
    }
  }

  /* Merge with the pending live keys up to where the backend was read. */
  size_t i = pend_find(t, prefix, plen, false, NULL);
  if (alen) {
    size_t j = pend_find(t, after, alen, true, NULL);
    if (j > i) i = j;
  }
  size_t b = 0;
  while (res.n < need) {
    const kv_pend *e = NULL;
    while (i < t->np) {
      e = &t->p[i];
      if (!has_prefix(e->key, e->klen, prefix, plen) ||
          (!done && keycmp(e->key, e->klen, cur, cur_len) > 0)) {
        e = NULL;
        i = t->np;
        break;
      }
      if (e->live) break;
      i++;
      e = NULL;
    }
    const cis_kv_key *k = b < x.keep.n ? &x.keep.k[b] : NULL;
    if (!e && !k) break;
    if (e && (!k || keycmp(e->key, e->klen, k->key, k->len) < 0)) {
      rc = vec_push(&res, e->key, e->klen);
      i++;
    } else {
      rc = vec_push(&res, k->key, k->len);
      b++;
    }
    if (rc != CIS_OK) CIS_TRY(kv_fail(t ? t->kv : NULL, CIS_ENOMEM, "kv: out of memory"));
  }
  if (res.n == need) {
    free(res.k[--res.n].key);
    out->more = true;
  }
  out->keys = res.k;
  out->n = res.n;
  res = (key_vec){0};
fail:
  conn_put(t, c, rc);
  vec_free(&res);
  vec_free(&x.keep);
  free(x.last);
  free(cur);
  return rc;
}

void cis_kv_keys_free(cis_kv_keys *k) {
  if (!k) return;
  for (size_t i = 0; i < k->n; i++) free(k->keys[i].key);
  free(k->keys);
  memset(k, 0, sizeof *k);
}

/* --------------------------------------------------------------- commit */

/* Inside the commit's backend transaction (which on a store-wide backend
 * shuts out every writer): CIS_EKVCONFLICT when a value an atomic
 * operation of t read outside it is no longer what the backend holds. */
static cis_result check_watched(cis_kv_txn *t, cis_kv_conn *c) {
  cis_kv *kv = t->kv;
  cis_result rc = CIS_OK;
  for (size_t i = 0; i < t->np; i++) {
    const kv_pend *e = &t->p[i];
    if (!e->watched) continue;
    void *v = NULL;
    size_t n = 0;
    CIS_TRY(bk_enter(kv, t, c, "get"));
    rc = bk_leave(kv, c, kv->m.get(c, &t->ns, e->key, e->klen, &v, &n), "get");
    bool same = rc == CIS_ENOTFOUND ? !e->seen_exists
                                    : rc == CIS_OK && e->seen_exists && n == e->seen_len &&
                                          (n == 0 || memcmp(v, e->seen, n) == 0);
    free(v);
    if (rc != CIS_OK && rc != CIS_ENOTFOUND) goto fail;
    rc = CIS_OK;
    if (!same)
      CIS_TRY(kv_fail(kv, CIS_EKVCONFLICT,
                      "kv: a key (%zu bytes) an atomic operation of this call read was changed by "
                      "another writer of the store (another process?) before the commit; nothing "
                      "was applied",
                      e->klen));
  }
fail:
  return rc;
}

/* Whether the backend checks the quotas in its COMMIT's round trip
 * (cis__kv_db_conn.check): the built-in PostgreSQL backend's own commit. */
static bool checks_in_commit(const cis_kv *kv) { return kv->m.commit == cis__kv_postgres_methods.commit; }

/* After a commit that may have grown the usage by (dk, db): the store's
 * hints of the namespace and tenant as this commit left them, at most
 * (the deltas are upper bounds while sizes are unknown); a hint grown
 * past a quota is read again at the next write. The read times stay. */
static void hint_grow(cis_kv *kv, const cis_kv_ns *ns, int64_t dk, int64_t db) {
  bool same;
  pthread_mutex_lock(&kv->lock);
  for (int i = 0; i < 2; i++) {
    kv_hint *e = hint_slot(kv, i ? 't' : 'n', ns, &same);
    if (!same) continue;
    e->keys = add_delta(e->keys, dk > 0 ? dk : 0);
    e->bytes = add_delta(e->bytes, db > 0 ? db : 0);
  }
  pthread_mutex_unlock(&kv->lock);
}

/* One attempt at applying t's writes on c inside a backend transaction
 * (the one already open on c when c is t's pinned connection).
 * *reached_commit tells whether the backend's commit method was called
 * (after which a lost connection leaves the outcome to the backend).
 * The quotas are checked after the writes, by a usage read here or in
 * the backend's COMMIT (checks_in_commit); a refusal with sizes unknown
 * or from the backend's check is made again on exact figures, read
 * here. */
static cis_result apply(cis_kv_txn *t, cis_kv_conn *c, bool *reached_commit, bool *drop) {
  cis_kv *kv = t->kv;
  cis_result rc = CIS_OK;
  /* A pinned transaction cannot start again: it reads here, for the
   * refusal's exact words. */
  bool open = false, read_here = !checks_in_commit(kv) || c == t->pin;
  uint64_t u[2] = {0, 0}, tu[2] = {0, 0}; /* the usage read, the tenant's totals read */
  uint64_t u_at = 0, tu_at = 0;           /* when: 0 = not read */
  cis__kv_commit_check *check = checks_in_commit(kv) ? &((cis__kv_db_conn *)c)->check : NULL;
  *reached_commit = false;
again:
  if (c != t->pin) {
    CIS_TRY(bk_enter(kv, t, c, "begin"));
    CIS_TRY(bk_leave(kv, c, kv->m.begin(c), "begin"));
  }
  open = true;
  /* Under a pinned transaction's lock the sizes read are exact, and it
   * cannot start again: writes counted as new are sized before they go. */
  if (c == t->pin) CIS_TRY(resolve_bases(t, &c));
  CIS_TRY(check_watched(t, c));
  for (size_t i = 0; i < t->np; i++) {
    const kv_pend *e = &t->p[i];
    CIS_TRY(bk_enter(kv, t, c, e->live ? "set" : "delete"));
    if (e->live) {
      CIS_TRY(bk_leave(kv, c, kv->m.set(c, &t->ns, e->key, e->klen, e->val, e->vlen), "set"));
    } else {
      rc = bk_leave(kv, c, kv->m.del(c, &t->ns, e->key, e->klen), "delete");
      if (rc == CIS_ENOTFOUND) rc = CIS_OK; /* another call deleted it first */
      CIS_TRY(rc);
    }
  }
  bool grows = t->dkeys > 0 || t->dbytes > 0;
  if (grows && !read_here) {
    *check = (cis__kv_commit_check){
        .on = true,
        .ns = &t->ns,
        .max_keys = t->dkeys > 0 ? t->max_keys : UINT64_MAX,
        .max_bytes = t->dbytes > 0 ? t->max_bytes : UINT64_MAX,
        .tenant_max_keys = t->dkeys > 0 && kv->lim.tenant_max_keys ? kv->lim.tenant_max_keys : UINT64_MAX,
        .tenant_max_bytes = t->dbytes > 0 && kv->lim.tenant_max_bytes ? kv->lim.tenant_max_bytes : UINT64_MAX,
    };
  } else if (grows) {
    CIS_TRY(bk_enter(kv, t, c, "usage"));
    CIS_TRY(bk_leave(kv, c, kv->m.usage(c, &t->ns, &u[0], &u[1]), "usage"));
    u_at = cis__now_ns();
    if (t->dkeys > 0 && u[0] > t->max_keys)
      rc = kv_fail(kv, CIS_EKVLIMIT, "kv: commit would leave %llu keys in the namespace, above max_keys (%llu)",
                   (unsigned long long)u[0], (unsigned long long)t->max_keys);
    else if (t->dbytes > 0 && u[1] > t->max_bytes)
      rc = kv_fail(kv, CIS_EKVLIMIT, "kv: commit would leave %llu bytes in the namespace, above max_bytes (%llu)",
                   (unsigned long long)u[1], (unsigned long long)t->max_bytes);
    /* Under the tenant's lock, taken last: a commit holding it has made
     * all its writes, so it waits for nothing but its own COMMIT. */
    else if (has_tenant_quota(kv)) {
      CIS_TRY(bk_tenant_usage(t, &c, true, &tu[0], &tu[1]));
      tu_at = cis__now_ns();
      rc = check_tenant(t, true, true, t->dkeys > 0, t->dbytes > 0, tu[0], tu[1]);
    }
    if (rc == CIS_EKVLIMIT && t->nunknown) {
      /* Writes counted as new may not be: refused only on exact sizes,
       * read once the writes are undone; then all goes again. */
      open = false;
      u_at = tu_at = 0;
      cis_result rb = bk_rollback(kv, c);
      if (rb != CIS_OK) {
        *drop = true; /* the transaction may still be open on it */
        return kv_fail(kv, rb, "kv (%s): the rollback before sizing the writes failed", kv->m.name);
      }
      rc = CIS_OK;
      CIS_TRY(resolve_bases(t, &c));
      goto again;
    }
    CIS_TRY(rc);
  }
  /* A timeout or injected fault here still leaves the transaction open,
   * so it is rolled back below like any earlier failure. */
  CIS_TRY(bk_enter(kv, t, c, "commit"));
  *reached_commit = true;
  open = false;
  rc = bk_leave(kv, c, kv->m.commit(c), "commit");
  bool checked = check && check->on;
  if (check) check->on = false;
  if (rc == CIS_EKVLIMIT && checked) {
    /* The backend's check refused and rolled back: the verdict and its
     * words again on exact figures, read here. */
    *reached_commit = false;
    read_here = true;
    rc = CIS_OK;
    CIS_TRY(resolve_bases(t, &c));
    goto again;
  }
  CIS_TRY(rc);
  if (u_at) hint_put(kv, 'n', &t->ns, u[0], u[1], u_at);
  if (tu_at) hint_put(kv, 't', &t->ns, tu[0], tu[1], tu_at);
  if (checked) hint_grow(kv, &t->ns, t->dkeys, t->dbytes);
  return CIS_OK;

fail:
  /* Keep the first error: a rollback on a dead connection fails too. */
  if (open) rc = rollback_after(kv, c, rc, drop);
  if (check) check->on = false;
  return rc;
}

/* Commits: see cis_kv.h. A connection lost before the backend's commit
 * was called leaves nothing applied, so the whole apply is tried once more
 * on a fresh connection. */
cis_result cis_kv_commit(cis_kv_txn *t) {
  cis_result rc = CIS_OK;
  if (!t) return kv_fail(t ? t->kv : NULL, CIS_EINVAL, "kv: NULL transaction");
  cis_kv *kv = t->kv;
  bool reached = false, drop = false;
  /* Members wrote their work before (a scope's end); one still in goes
   * now, before the COMMIT ends what it borrows. */
  cis__db_txn_end(t->shared);
  /* On a store-wide backend a commit that writes holds its namespace's
   * lock while it applies, so that it never lands between an atomic
   * operation's read and its call's end. */
  if (store_wide(kv) && !t->ns_held && t->np > 0 && (rc = ns_acquire(t)) != CIS_OK) {
    txn_free(t);
    return rc;
  }
  if (t->pin) {
    /* The lock taken by an atomic operation cannot move to another
     * connection: no retry. */
    cis_kv_conn *c = t->pin;
    if (t->pin_rc != CIS_OK) {
      rc = kv_fail(t ? t->kv : NULL, t->pin_rc, "kv: the call's locked transaction failed earlier (%s)",
                   cis_strerror(t->pin_rc));
      if (bk_rollback(kv, c) != CIS_OK) rc = CIS_EKVDOWN;
    } else {
      rc = apply(t, c, &reached, &drop);
    }
    t->pin = NULL;
    unpin(kv, c, drop ? CIS_EKVDOWN : rc);
  } else {
    for (int attempt = 0; t->np > 0; attempt++) {
      cis_kv_conn *c = NULL;
      rc = pool_get(kv, t, &c);
      if (rc != CIS_OK) break;
      drop = false;
      rc = apply(t, c, &reached, &drop);
      pool_put(kv, c, drop ? CIS_EKVDOWN : rc);
      if (rc != CIS_EKVDOWN || reached || attempt == 1) break;
    }
  }
  if (rc == CIS_EKVDOWN) {
    char msg[CIS_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", cis_kv_errmsg(t->kv));
    kv_fail(t->kv, rc, "%s (%s)", msg,
            reached ? "lost during COMMIT: either all writes were applied or none"
                    : "nothing was applied");
  }
  ns_release(t);
  txn_free(t);
  return rc;
}

/* ------------------------------------------------- a tenant's namespaces */

/* What a backend's namespace listing feeds: every name is checked (in
 * order, after the cursor) and copied. */
typedef struct ns_list_ctx {
  const uint8_t *prev; /* the last name given, or the cursor (not owned) */
  size_t prev_len;     /* bytes in prev */
  bool have_prev;      /* prev holds something (a name may be 0 bytes) */
  key_vec names;       /* the names, owned */
  bool bad;            /* the backend broke the order */
} ns_list_ctx;

static cis_result ns_emit(void *ctxp, const void *name, size_t n) {
  ns_list_ctx *x = ctxp;
  if ((n && !name) || (x->have_prev && keycmp(name, n, x->prev, x->prev_len) <= 0)) {
    x->bad = true;
    return CIS_EKV;
  }
  if (vec_push(&x->names, name, n) != CIS_OK) return CIS_ENOMEM;
  x->prev = x->names.k[x->names.n - 1].key;
  x->prev_len = n;
  x->have_prev = true;
  return CIS_OK;
}

/* Lists a tenant's namespaces: see cis_kv.h. One backend call of
 * limit + 1 names, the last of which only says whether more follow. The
 * transaction made here carries the deadline and the tenant's bytes; it
 * never reaches the backend. */
cis_result cis_kv_namespaces(cis_kv *kv, const char *tenant, const void *after, size_t alen, size_t limit,
                             uint64_t timeout_ms, cis_kv_keys *out) {
  cis_result rc = CIS_OK;
  cis_kv_txn *t = NULL;
  cis_kv_conn *c = NULL;
  ns_list_ctx x = {.prev = after, .prev_len = alen, .have_prev = after != NULL};
  if (!out) return kv_fail(kv, CIS_EINVAL, "kv: NULL output");
  memset(out, 0, sizeof *out);
  if (!kv || (!after && alen)) return kv_fail(kv, CIS_EINVAL, "kv: NULL argument");
  if (cis__handle_failure(kv)) return CIS_ESTATE;
  if (!kv->m.namespaces)
    return kv_fail(kv, CIS_EUNSUPPORTED, "kv (%s): a version %d method table lists no namespaces (version 5 does)",
                   kv->m.name, kv->m.version);
  if (limit == 0) limit = 1000;
  if (limit > SIZE_MAX / 2) limit = SIZE_MAX / 2;
  size_t need = limit + 1;
  const cis_principal who = {tenant, NULL};
  CIS_TRY(cis_kv_begin(kv, &who, timeout_ms, &t));
  CIS_TRY(pool_get(kv, t, &c));
  CIS_TRY(bk_enter(kv, t, c, "namespaces"));
  rc = kv->m.namespaces(c, &t->ns, after, alen, need, ns_emit, &x);
  if (rc == CIS_ENOMEM && !c->errmsg[0]) snprintf(c->errmsg, sizeof c->errmsg, "out of memory");
  if (x.bad) snprintf(c->errmsg, sizeof c->errmsg, "listing returned namespaces out of order");
  if (rc == CIS_OK && x.names.n > need) {
    rc = CIS_EKV;
    snprintf(c->errmsg, sizeof c->errmsg, "listing returned more namespaces than asked");
  }
  if (rc == CIS_ENOTFOUND) rc = CIS_EKV; /* not a listing's answer */
  CIS_TRY(bk_leave(kv, c, rc, "namespaces"));
  if (x.names.n == need) {
    free(x.names.k[--x.names.n].key);
    out->more = true;
  }
  out->keys = x.names.k;
  out->n = x.names.n;
  x.names = (key_vec){0};
fail:
  if (c) pool_put(kv, c, rc);
  if (t) txn_free(t);
  vec_free(&x.names);
  return rc;
}

/* Deletes a page of a namespace's keys: see cis_kv.h. Its own backend
 * transaction, with the namespace's lock in this store first on a
 * store-wide backend, as a commit that writes takes them. */
cis_result cis_kv_namespace_drop(cis_kv *kv, const cis_principal *who, uint64_t timeout_ms, size_t limit,
                                 uint64_t *keys, bool *more) {
  cis_result rc = CIS_OK;
  cis_kv_txn *t = NULL;
  cis_kv_conn *c = NULL;
  bool open = false, drop = false;
  uint64_t n = 0;
  bool left = false;
  if (keys) *keys = 0;
  if (more) *more = false;
  if (!kv) return kv_fail(kv, CIS_EINVAL, "kv: NULL store");
  if (cis__handle_failure(kv)) return CIS_ESTATE;
  if (!kv->m.drop)
    return kv_fail(kv, CIS_EUNSUPPORTED, "kv (%s): a version %d method table drops no namespaces (version 5 does)",
                   kv->m.name, kv->m.version);
  if (limit == 0) limit = 1000;
  CIS_TRY(cis_kv_begin(kv, who, timeout_ms, &t));
  if (store_wide(kv)) CIS_TRY(ns_acquire(t));
  CIS_TRY(pool_get(kv, t, &c));
  CIS_TRY(bk_enter(kv, t, c, "begin"));
  CIS_TRY(bk_leave(kv, c, kv->m.begin(c), "begin"));
  open = true;
  CIS_TRY(bk_enter(kv, t, c, "drop"));
  rc = kv->m.drop(c, &t->ns, limit, &n, &left);
  if (rc == CIS_ENOTFOUND) rc = CIS_EKV; /* not a drop's answer */
  CIS_TRY(bk_leave(kv, c, rc, "drop"));
  CIS_TRY(bk_enter(kv, t, c, "commit"));
  open = false;
  CIS_TRY(bk_leave(kv, c, kv->m.commit(c), "commit"));
  if (keys) *keys = n;
  if (more) *more = left;
fail:
  /* Keep the first error: a rollback on a dead connection fails too. */
  if (open) rc = rollback_after(kv, c, rc, &drop);
  if (c) pool_put(kv, c, drop ? CIS_EKVDOWN : rc);
  if (t) {
    ns_release(t);
    txn_free(t);
  }
  return rc;
}
