/*
 * This file implements the connection of the database layer (db_conn.h):
 * the session, its deadline and cancel flag, and its statement cache,
 * with what differs between SQLite and PostgreSQL behind a small table
 * of the dialect's (conn_dialect).
 */
#include "db/db_conn.h"
#include "db/db_conn_pg.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/callctx.h"
#include "common/internal.h"
#include "db/db_sqlite.h"

#define MAX_FAMILIES 8 /* services whose statements one connection caches */
#define CANCEL_POLL_NS 25000000ull /* how often a lock's wait looks at the call's cancel */

/* What a dialect does with its session. */
typedef struct conn_dialect {
  cis__db_dialect id;
  /* Frees a cached statement (a slot's value) while the handle is open. */
  void (*release)(void *stmt);
  /* Closes the handle. */
  void (*close)(void *native);
} conn_dialect;

typedef struct family {
  const cis__db_stmts *f; /* static */
  void **slot;            /* f->count of them */
} family;

struct cis__db_conn {
  const conn_dialect *d;
  void *native;                  /* sqlite3 *, PGconn *; NULL: not connected */
  char *conninfo;                /* PostgreSQL: owned, for reconnects; never in a message */
  const char *appname;           /* PostgreSQL: application_name (static) */
  bool shared;                   /* threads take turns on it: deadline and call per thread */
  uint64_t until;                /* the deadline the waits end by (not shared) */
  const cis__callctx *call;      /* the call it serves, whose cancel stops it (not shared); NULL: none */
  bool answered;                 /* PostgreSQL: the session made last has answered a statement */
  family fam[MAX_FAMILIES];
  int nfam;
};

/* A shared connection's deadline and call are the calling thread's: its
 * threads each run a method of their own on it, one statement at a time
 * under SQLite's mutex. */
static _Thread_local uint64_t thread_until = UINT64_MAX;
static _Thread_local const cis__callctx *thread_call;

static void sqlite_release(void *stmt) { sqlite3_finalize(stmt); }
static void sqlite_close(void *native) { sqlite3_close_v2(native); }
static void pg_close(void *native) { cis__pq.finish(native); }

static const conn_dialect sqlite_dialect = {CIS__DB_SQLITE, sqlite_release, sqlite_close};
/* A statement prepared on a session dies with it: nothing to free. */
static const conn_dialect pg_dialect = {CIS__DB_POSTGRES, NULL, pg_close};

/* ------------------------------------------------- deadline and flag */

void cis__db_conn_arm(cis__db_conn *c, uint64_t until) {
  if (c->shared) thread_until = until;
  else c->until = until;
}

uint64_t cis__db_conn_until(const cis__db_conn *c) { return c->shared ? thread_until : c->until; }

void cis__db_conn_set_call(cis__db_conn *c, const cis__callctx *call) {
  if (c->shared) thread_call = call;
  else c->call = call;
}

bool cis__db_conn_cancelled(const cis__db_conn *c) { return cis__callctx_cancelled(c->shared ? thread_call : c->call); }

bool cis__db_conn_stopped(const cis__db_conn *c) {
  return cis__db_conn_cancelled(c) || cis__now_ns() >= cis__db_conn_until(c);
}

bool cis__db_conn_lock(const cis__db_conn *c, pthread_mutex_t *mu, uint64_t until) {
  const cis__callctx *call = c->shared ? thread_call : c->call;
  if (!call) return cis__db_lock_until(mu, until);
  for (;;) {
    if (cis__callctx_cancelled(call)) return false;
    uint64_t now = cis__now_ns(), slice = now + CANCEL_POLL_NS;
    if (cis__db_lock_until(mu, slice < until ? slice : until)) return true;
    if (cis__now_ns() >= until) return false;
  }
}

/* SQLite's progress handler: a statement running past the deadline, or
 * for a cancelled call, is interrupted (SQLITE_INTERRUPT). */
static int sqlite_progress(void *p) { return cis__db_conn_stopped(p); }

/* SQLite's busy handler, for a lock another connection holds: sleeps
 * 0.1 ms, doubling up to 12.8 ms, then 25 ms at a time while the deadline
 * is ahead and the call not cancelled, so a cancel is seen within 25 ms
 * (SQLITE_BUSY then). It starts short because most holds are one commit
 * (a few ms): a first sleep of 1 ms doubling made a reader behind such a
 * commit wait up to twice its length. */
static int sqlite_busy(void *p, int n) {
  const cis__db_conn *c = p;
  if (cis__db_conn_stopped(c)) return 0;
  uint64_t now = cis__now_ns(), until = cis__db_conn_until(c);
  uint64_t ns = n < 8 ? 100000ull << n : 25000000ull;
  if (ns > until - now) ns = until - now;
  struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
  nanosleep(&ts, NULL);
  return 1;
}

/* ------------------------------------------------- making and closing */

static cis__db_conn *conn_new(const conn_dialect *d, const cis__db_conn_config *cfg) {
  cis__db_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->d = d;
  c->appname = cfg ? cfg->appname : NULL;
  c->shared = cfg && cfg->shared;
  c->until = UINT64_MAX;
  return c;
}

int cis__db_conn_open_sqlite(const char *path, const cis__db_conn_config *cfg, uint64_t until,
                             cis__db_conn **out) {
  static const cis__db_conn_config defaults = {0};
  if (!cfg) cfg = &defaults;
  *out = NULL;
  cis__db_conn *c = conn_new(&sqlite_dialect, cfg);
  if (!c) return SQLITE_NOMEM;
  int flags = cfg->sqlite_flags ? cfg->sqlite_flags
                                : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                      SQLITE_OPEN_EXRESCODE;
  c->shared = c->shared || (flags & SQLITE_OPEN_FULLMUTEX) != 0;
  cis__db_conn_arm(c, until);
  cis__db_sqlite_make_folder(path); /* $CIS_HOME of the default <home>/NAME.db */
  sqlite3 *db = NULL;
  int r = sqlite3_open_v2(path, &db, flags, cfg->sqlite_vfs);
  c->native = db;
  *out = c;
  if (!db) return r == SQLITE_OK ? SQLITE_NOMEM : r;
  sqlite3_busy_handler(db, sqlite_busy, c);
  sqlite3_progress_handler(db, 1000, sqlite_progress, c);
  return r;
}

cis_result cis__db_conn_new_pg(const char *conninfo, const cis__db_conn_config *cfg, cis__db_conn **out) {
  *out = NULL;
  cis__db_conn *c = conn_new(&pg_dialect, cfg);
  if (!c || !(c->conninfo = strdup(conninfo))) {
    free(c);
    return CIS_ENOMEM;
  }
  *out = c;
  return CIS_OK;
}

/* Frees the cached statements (SQLite) or forgets them (PostgreSQL). */
static void forget_stmts(cis__db_conn *c) {
  for (int i = 0; i < c->nfam; i++)
    for (int k = 0; k < c->fam[i].f->count; k++) {
      if (c->fam[i].slot[k] && c->d->release) c->d->release(c->fam[i].slot[k]);
      c->fam[i].slot[k] = NULL;
    }
}

void cis__db_conn_drop(cis__db_conn *c) {
  if (c->d->id != CIS__DB_POSTGRES) return;
  forget_stmts(c);
  if (c->native) c->d->close(c->native);
  c->native = NULL;
}

void cis__db_conn_close(cis__db_conn *c) {
  if (!c) return;
  if (c->native) {
    forget_stmts(c);
    c->d->close(c->native);
  }
  for (int i = 0; i < c->nfam; i++) free(c->fam[i].slot);
  free(c->conninfo);
  free(c);
}

cis__db_dialect cis__db_conn_dialect(const cis__db_conn *c) { return c->d->id; }

bool cis__db_conn_connected(const cis__db_conn *c) { return c->native != NULL; }

sqlite3 *cis__db_conn_sqlite(const cis__db_conn *c) {
  return c->d->id == CIS__DB_SQLITE ? c->native : NULL;
}

PGconn *cis__db_conn_pg(const cis__db_conn *c) { return c->d->id == CIS__DB_POSTGRES ? c->native : NULL; }

cis__pgwire_until cis__db_conn_wait(const cis__db_conn *c, uint64_t ns) {
  return (cis__pgwire_until){ns, c->shared ? thread_call : c->call, CIS__PGWIRE_STATEMENT, false};
}

cis__pgwire_outcome cis__db_conn_connect(cis__db_conn *c, uint64_t until, cis__pgwire_report *rep) {
  memset(rep, 0, sizeof *rep);
  cis__db_conn_drop(c);
  if (c->d->id != CIS__DB_POSTGRES) return CIS__PGWIRE_REJECTED;
  if (cis__now_ns() >= until) {
    rep->outcome = CIS__PGWIRE_TIMEOUT;
    rep->what = "connect";
    snprintf(rep->msg, sizeof rep->msg, "the deadline passed before the connection was made");
    return CIS__PGWIRE_TIMEOUT;
  }
  PGconn *pg = NULL;
  cis__pgwire_outcome o =
      cis__pgwire_connect(&pg, c->appname ? c->appname : "cis", c->conninfo, cis__db_conn_wait(c, until), rep);
  if (o == CIS__PGWIRE_DONE) c->native = pg;
  c->answered = false;
  return o;
}

bool cis__db_conn_live(const cis__db_conn *c) {
  PGconn *pg = cis__db_conn_pg(c);
  return pg && cis__pq.status(pg) == CONNECTION_OK;
}

/* cis__db_conn_collect; in pipeline mode *out is command keep's (as
 * cis__pgwire_collect_pipeline's). */
static cis__pgwire_outcome collect(cis__db_conn *c, int sent, bool pipeline, int keep, cis__pgwire_kind kind,
                                   bool settle, uint64_t until, PGresult **out, cis__pgwire_report *rep) {
  PGconn *pg = cis__db_conn_pg(c);
  cis__pgwire_outcome o;
  if (!pg) {
    memset(rep, 0, sizeof *rep);
    rep->outcome = o = CIS__PGWIRE_LOST;
    snprintf(rep->msg, sizeof rep->msg, "no connection");
    return o;
  }
  cis__pgwire_until end = cis__db_conn_wait(c, until);
  end.kind = kind;
  end.settle = settle;
  if (pipeline) {
    sent = sent && cis__pq.pipelineSync(pg) == 1;
    o = cis__pgwire_collect_pipeline(pg, sent, end, keep, out, rep);
  } else {
    o = cis__pgwire_collect(pg, sent, end, out, rep);
  }
  if (rep->settled) {
    /* A wait that settled, whose cancel request went out already
     * (pgwire.h): whatever the answers said, that request may still be
     * on its way to the server, where it would cut the session's next
     * statement. Nor is it a stale session whose statement may run again
     * on a new one (cis__db_conn_retry): what it did is settled, or not
     * known, and run twice it could apply twice. */
    c->answered = false;
    cis__db_conn_drop(c);
    return o;
  }
  switch (o) {
  case CIS__PGWIRE_DONE:
    c->answered = true;
    break;
  case CIS__PGWIRE_FAILED:
    c->answered = true;
    if (rep->sqlclass == CIS__PGWIRE_SQL_DOWN || cis__pq.status(pg) != CONNECTION_OK) cis__db_conn_drop(c);
    break;
  case CIS__PGWIRE_TIMEOUT:
  case CIS__PGWIRE_CANCELLED:
    cis__pgwire_cancel_async(pg); /* statement_timeout ends it should the cancel not arrive */
    cis__db_conn_drop(c);
    break;
  default:
    cis__db_conn_drop(c);
    break;
  }
  return o;
}

cis__pgwire_outcome cis__db_conn_collect(cis__db_conn *c, int sent, bool pipeline, uint64_t until, PGresult **out,
                                         cis__pgwire_report *rep) {
  return collect(c, sent, pipeline, -1, CIS__PGWIRE_STATEMENT, false, until, out, rep);
}

cis__pgwire_outcome cis__db_conn_collect_commit(cis__db_conn *c, int sent, bool pipeline, uint64_t until,
                                                PGresult **out, cis__pgwire_report *rep) {
  return collect(c, sent, pipeline, -1, CIS__PGWIRE_COMMIT, true, until, out, rep);
}

cis__pgwire_outcome cis__db_conn_collect_alone(cis__db_conn *c, int sent, uint64_t until, PGresult **out,
                                               cis__pgwire_report *rep) {
  return collect(c, sent, false, -1, CIS__PGWIRE_STATEMENT, true, until, out, rep);
}

cis__pgwire_outcome cis__db_conn_collect_command(cis__db_conn *c, int sent, int keep, cis__pgwire_kind kind,
                                                 uint64_t until, PGresult **out, cis__pgwire_report *rep) {
  return collect(c, sent, true, keep, kind, kind == CIS__PGWIRE_COMMIT, until, out, rep);
}

cis__pgwire_outcome cis__db_conn_prepare(cis__db_conn *c, const cis__db_stmts *f, void **slots, int i,
                                         const void *mark, const char *sql, int n, const Oid *types,
                                         bool pipeline, uint64_t until, cis__pgwire_report *rep) {
  if (slots[i]) {
    memset(rep, 0, sizeof *rep);
    return CIS__PGWIRE_DONE;
  }
  char name[32];
  cis__db_stmt_name(f, i, name);
  PGconn *pg = cis__db_conn_pg(c);
  cis__pgwire_outcome o =
      cis__db_conn_collect(c, pg ? cis__pq.sendPrepare(pg, name, sql, n, types) : 0, pipeline, until, NULL, rep);
  if (o == CIS__PGWIRE_DONE) slots[i] = (void *)mark;
  return o;
}

bool cis__db_conn_retry(const cis__db_conn *c) {
  return c->d->id == CIS__DB_POSTGRES && !c->native && c->answered;
}

int cis__db_pg_code(const cis__db_pg_codes *t, cis__pgwire_outcome o, cis__pgwire_sqlclass k) {
  switch (o) {
  case CIS__PGWIRE_DONE: return 0;
  case CIS__PGWIRE_FAILED:
    return k == CIS__PGWIRE_SQL_DOWN        ? t->sql_down
           : k == CIS__PGWIRE_SQL_DISK_FULL ? t->sql_disk_full
           : k == CIS__PGWIRE_SQL_CANCELLED ? t->sql_cancelled
                                            : t->sql_error;
  case CIS__PGWIRE_TIMEOUT: return t->timeout;
  case CIS__PGWIRE_CANCELLED: return t->cancelled;
  case CIS__PGWIRE_REJECTED: return t->rejected;
  case CIS__PGWIRE_NOMEM: return t->nomem;
  case CIS__PGWIRE_NOLIB: return t->nolib;
  default: return t->down; /* LOST */
  }
}

/* ------------------------------------------------- statements */

void **cis__db_conn_stmts(cis__db_conn *c, const cis__db_stmts *f) {
  for (int i = 0; i < c->nfam; i++)
    if (c->fam[i].f == f) return c->fam[i].slot;
  if (c->nfam == MAX_FAMILIES || f->count <= 0) return NULL;
  void **slot = calloc((size_t)f->count, sizeof *slot);
  if (!slot) return NULL;
  c->fam[c->nfam++] = (family){f, slot};
  return slot;
}

int cis__db_conn_sqlite_stmt(cis__db_conn *c, void **slots, int i, const char *sql, sqlite3_stmt **out) {
  if (!slots[i]) {
    sqlite3_stmt *st = NULL;
    int r = sqlite3_prepare_v3(cis__db_conn_sqlite(c), sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (r != SQLITE_OK) return r;
    slots[i] = st;
  }
  *out = slots[i];
  return SQLITE_OK;
}

const char *cis__db_stmt_name(const cis__db_stmts *f, int i, char buf[32]) {
  snprintf(buf, 32, "cis_%s_%d", f->name, i);
  return buf;
}
