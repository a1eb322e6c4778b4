/*
 * This file implements the PostgreSQL connection of the database layer
 * (db_pg.h): one lazily made connection per handle on common/pgwire.c,
 * every wait bounded by the caller's deadline. A database out of reach is
 * the service's "down" code (the registry's CIS_EREGISTRYDOWN, which the
 * server answers with 503); the next statement connects again, so service
 * resumes when the database does.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pgwire.h"
#include "db/db_pg.h"

#define MAX_STMTS 32  /* statements a connection prepares */
#define MAX_PARAMS 16 /* parameters of one statement */

struct cis__db_pg {
  pthread_mutex_t lock;            /* one statement at a time on pg */
  char *conninfo;                  /* owned; never put in a message */
  const cis__db_pg_config *cfg;    /* static */
  PGconn *pg;                      /* NULL until connected, and after a loss */
  const char *prepared[MAX_STMTS]; /* SQL texts prepared on pg (by address) */
  int nprepared;                   /* entries used in prepared */
};

cis_result cis__db_pg_new(const char *conninfo, const cis__db_pg_config *cfg, cis__db_pg **out) {
  *out = NULL;
  cis__db_pg *d = calloc(1, sizeof *d);
  if (!d || !(d->conninfo = strdup(conninfo))) {
    free(d);
    return CIS_ENOMEM;
  }
  d->cfg = cfg;
  pthread_mutex_init(&d->lock, NULL);
  *out = d;
  return CIS_OK;
}

static void drop(cis__db_pg *d) {
  if (d->pg) cis__pq.finish(d->pg);
  d->pg = NULL;
  d->nprepared = 0;
}

void cis__db_pg_free(cis__db_pg *d) {
  if (!d) return;
  drop(d);
  pthread_mutex_destroy(&d->lock);
  free(d->conninfo);
  free(d);
}

/* An outcome of pgwire as a cis_result, "LABEL: STEP: DETAIL" in err. The
 * deadline passed while connecting is a server out of reach (cfg->down);
 * while a statement ran, the caller's time ran out (CIS_ETIMEOUT). */
static cis_result outcome_code(const cis__db_pg_config *cfg, bool connecting, cis__pgwire_outcome o,
                               const cis__pgwire_report *rep, const char *what, char *err, size_t cap) {
  cis_result rc;
  const char *detail = rep->msg;
  switch (o) {
  case CIS__PGWIRE_DONE: return CIS_OK;
  case CIS__PGWIRE_FAILED:
    detail = rep->sqlmsg;
    rc = rep->sqlclass == CIS__PGWIRE_SQL_DOWN || rep->sqlclass == CIS__PGWIRE_SQL_DISK_FULL ? cfg->down
         : rep->sqlclass == CIS__PGWIRE_SQL_CANCELLED                                        ? CIS_ETIMEOUT
                                                                                             : CIS_EIO;
    break;
  case CIS__PGWIRE_TIMEOUT:
    rc = connecting ? cfg->down : CIS_ETIMEOUT;
    detail = "no answer before the deadline";
    break;
  case CIS__PGWIRE_REJECTED: rc = CIS_EINVAL; break;
  case CIS__PGWIRE_NOMEM: rc = CIS_ENOMEM; break;
  case CIS__PGWIRE_NOLIB: rc = CIS_EUNSUPPORTED; break;
  default: rc = cfg->down; break;
  }
  char line[CIS__PGWIRE_MSG_MAX];
  cis__pgwire_oneline(line, sizeof line, detail, cis_strerror(rc));
  snprintf(err, cap, "%s: %s: %s", cfg->label, rep->what ? rep->what : what, line);
  return rc;
}

/* ------------------------------------------------- migrations */

/* The advisory lock under which cis_schema itself is made: apart from
 * every service's (db.h: cis__db_schema.pg_lock). */
#define SCHEMA_TABLE_LOCK "7162999120"

/* Runs sql on pg (no parameters, or the service's name as $1); its first
 * value as an integer into *v when v (0 when there is no row). */
static cis_result run(PGconn *pg, const cis__db_pg_config *cfg, uint64_t until, const char *sql, bool service,
                      int64_t *v, const char *what, char *err, size_t cap) {
  cis__pgwire_report rep;
  PGresult *r = NULL;
  const char *vals[1] = {cfg->schema->service};
  int sent = service ? cis__pq.sendQueryParams(pg, sql, 1, NULL, vals, NULL, NULL, 0) : cis__pq.sendQuery(pg, sql);
  cis__pgwire_outcome o = cis__pgwire_collect(pg, sent, until, v ? &r : NULL, &rep);
  cis_result rc = outcome_code(cfg, false, o, &rep, what, err, cap);
  if (rc == CIS_OK && v)
    *v = r && cis__pq.ntuples(r) > 0 && !cis__pq.getisnull(r, 0, 0) ? strtoll(cis__pq.getvalue(r, 0, 0), NULL, 10)
                                                                     : 0;
  if (r) cis__pq.clear(r);
  return rc;
}

/* The version recorded for the service (0: no row, no table); whether
 * cis_schema is there into *table. */
static cis_result read_version(PGconn *pg, const cis__db_pg_config *cfg, uint64_t until, int64_t *v, bool *table,
                               char *err, size_t cap) {
  int64_t have;
  cis_result rc = run(pg, cfg, until, "SELECT (to_regclass('cis_schema') IS NOT NULL)::int", false, &have,
                      "read schema", err, cap);
  *v = 0;
  *table = rc == CIS_OK && have;
  if (!*table) return rc;
  return run(pg, cfg, until, "SELECT version FROM cis_schema WHERE service = $1", true, v, "read schema", err, cap);
}

static cis_result newer(const cis__db_pg_config *cfg, int64_t v, char *err, size_t cap) {
  const cis__db_schema *s = cfg->schema;
  snprintf(err, cap,
           "%s: %s schema: the database is at version %lld, newer than this build's %lld: refused, not changed",
           cfg->label, s->service, (long long)v, (long long)cis__db_schema_latest(s));
  return CIS_EUNSUPPORTED;
}

cis_result cis__db_pg_migrate(PGconn *pg, const cis__db_pg_config *cfg, uint64_t until, char *err, size_t cap) {
  const cis__db_schema *s = cfg->schema;
  int64_t v, latest = cis__db_schema_latest(s);
  bool table;
  cis_result rc = read_version(pg, cfg, until, &v, &table, err, cap);
  if (rc != CIS_OK || v == latest) return rc;
  if (v > latest) return newer(cfg, v, err, cap);
  /* Made only when missing: CREATE ... IF NOT EXISTS needs the right to
   * create in the schema even when the table is there. */
  if (!table)
    rc = run(pg, cfg, until,
             "BEGIN; SELECT pg_advisory_xact_lock(" SCHEMA_TABLE_LOCK ");"
             "CREATE TABLE IF NOT EXISTS cis_schema(service text PRIMARY KEY, version bigint NOT NULL); COMMIT",
             false, NULL, "create cis_schema", err, cap);
  char sql[160];
  snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(%lld)", (long long)s->pg_lock);
  bool began = rc == CIS_OK && (rc = run(pg, cfg, until, sql, false, NULL, "lock schema", err, cap)) == CIS_OK;
  if (rc == CIS_OK) rc = read_version(pg, cfg, until, &v, &table, err, cap); /* another may have migrated meanwhile */
  if (rc == CIS_OK && v > latest) rc = newer(cfg, v, err, cap);
  for (size_t i = 0; rc == CIS_OK && i < s->n; i++) {
    const cis__db_migration *m = &s->steps[i];
    if (m->version <= v) continue;
    char what[96];
    snprintf(what, sizeof what, "%s schema: migration %lld", s->service, (long long)m->version);
    rc = m->fn ? m->fn(pg, err, cap) : run(pg, cfg, until, m->sql, false, NULL, what, err, cap);
  }
  if (rc == CIS_OK && v < latest) {
    snprintf(sql, sizeof sql,
             "INSERT INTO cis_schema(service, version) VALUES ($1, %lld) "
             "ON CONFLICT (service) DO UPDATE SET version = EXCLUDED.version",
             (long long)latest);
    rc = run(pg, cfg, until, sql, true, NULL, "record schema", err, cap);
  }
  if (rc == CIS_OK) rc = run(pg, cfg, until, "COMMIT", false, NULL, "commit schema", err, cap);
  if (rc != CIS_OK && began && cis__pq.status(pg) == CONNECTION_OK) {
    cis__pgwire_report rep;
    cis__pgwire_collect(pg, cis__pq.sendQuery(pg, "ROLLBACK"), until, NULL, &rep);
  }
  return rc;
}

/* Connects and migrates; d->lock is held. A deadline already past is the
 * caller's time, not the server: no connect is tried. */
static cis_result connect_db(cis__db_pg *d, uint64_t until, char *err, size_t cap) {
  cis__pgwire_report rep;
  drop(d);
  if (cis__now_ns() >= until) {
    snprintf(err, cap, "%s: connect: the deadline passed before the connection was made", d->cfg->label);
    return CIS_ETIMEOUT;
  }
  cis__pgwire_outcome o = cis__pgwire_connect(&d->pg, d->cfg->appname, d->conninfo, until, &rep);
  if (o != CIS__PGWIRE_DONE) return outcome_code(d->cfg, true, o, &rep, "connect", err, cap);
  cis_result rc = d->cfg->schema ? cis__db_pg_migrate(d->pg, d->cfg, until, err, cap) : CIS_OK;
  if (rc != CIS_OK) drop(d);
  return rc;
}

/* One try of sql on the live connection; d->lock is held. */
static cis_result try_once(cis__db_pg *d, const char *sql, int n, const char *const *vals, const int *lens,
                           const bool *bin, uint64_t until, PGresult **out, char *err, size_t cap) {
  cis__pgwire_report rep;
  cis__pgwire_outcome o;
  char name[32];
  int k = 0;
  while (k < d->nprepared && d->prepared[k] != sql) k++;
  snprintf(name, sizeof name, "cis_db_%d", k);
  if (k == d->nprepared) {
    if (k == MAX_STMTS) {
      snprintf(err, cap, "%s: more than %d statements", d->cfg->label, MAX_STMTS);
      return CIS_EIO;
    }
    o = cis__pgwire_collect(d->pg, cis__pq.sendPrepare(d->pg, name, sql, n, NULL), until, NULL, &rep);
    if (o != CIS__PGWIRE_DONE) return outcome_code(d->cfg, false, o, &rep, "prepare", err, cap);
    d->prepared[d->nprepared++] = sql;
  }
  int fmt[MAX_PARAMS];
  for (int i = 0; i < n; i++) fmt[i] = bin && bin[i] ? 1 : 0;
  int sent = cis__pq.sendQueryPrepared(d->pg, name, n, vals, lens, fmt, 1);
  o = cis__pgwire_collect(d->pg, sent, until, out, &rep);
  if (o == CIS__PGWIRE_TIMEOUT) cis__pgwire_cancel_async(d->pg); /* the server stops it; we drop pg */
  return outcome_code(d->cfg, false, o, &rep, "query", err, cap);
}

cis_result cis__db_pg_query(cis__db_pg *d, uint64_t until, const char *sql, int n, const char *const *vals,
                            const int *lens, const bool *bin, PGresult **out, char *err, size_t cap) {
  if (out) *out = NULL;
  if (n < 0 || n > MAX_PARAMS) {
    snprintf(err, cap, "%s: %d parameters (at most %d)", d->cfg->label, n, MAX_PARAMS);
    return CIS_EINVAL;
  }
  /* Another thread's statement may hold the connection past this one's
   * deadline. */
  if (!cis__db_lock_until(&d->lock, until)) {
    snprintf(err, cap, "%s: the connection stayed busy with another statement until the deadline", d->cfg->label);
    return CIS_ETIMEOUT;
  }
  cis_result rc = CIS_OK;
  bool fresh = false;
  if (!d->pg || cis__pq.status(d->pg) != CONNECTION_OK) {
    rc = connect_db(d, until, err, cap);
    fresh = true;
  }
  if (rc == CIS_OK) {
    rc = try_once(d, sql, n, vals, lens, bin, until, out, err, cap);
    /* A connection made before the server restarted fails its first use:
     * connect again, once. Every statement here is one transaction of its
     * own, whose effect is the same done twice. */
    if (rc == d->cfg->down && !fresh && cis__pq.status(d->pg) != CONNECTION_OK) {
      rc = connect_db(d, until, err, cap);
      if (rc == CIS_OK) rc = try_once(d, sql, n, vals, lens, bin, until, out, err, cap);
    }
    if (rc == d->cfg->down || rc == CIS_ETIMEOUT) drop(d);
  }
  pthread_mutex_unlock(&d->lock);
  return rc;
}

int cis__db_pg_rows(const PGresult *r) { return r ? cis__pq.ntuples(r) : 0; }

const char *cis__db_pg_value(const PGresult *r, int row, int col, size_t *len) {
  if (cis__pq.getisnull(r, row, col)) {
    if (len) *len = 0;
    return NULL;
  }
  if (len) *len = (size_t)cis__pq.getlength(r, row, col);
  return cis__pq.getvalue(r, row, col);
}

int64_t cis__db_pg_int8(const PGresult *r, int row, int col) {
  size_t n;
  const unsigned char *p = (const unsigned char *)cis__db_pg_value(r, row, col, &n);
  if (!p || n != 8) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return (int64_t)v;
}

void cis__db_pg_clear(PGresult *r) {
  if (r) cis__pq.clear(r);
}
