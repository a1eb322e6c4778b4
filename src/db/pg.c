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
#include "db/db_conn_pg.h"
#include "db/db_pg.h"

#define MAX_PARAMS 16 /* parameters of one statement */

/* The statements a connection prepares: a slot holds the SQL text it was
 * prepared for (statements are known by their text's address). */
static const cis__db_stmts stmt_family = {.name = "db", .count = 32};

struct cis__db_pg {
  pthread_mutex_t lock;         /* one statement at a time on conn */
  cis__db_conn *conn;           /* the session: none until connected, and after a loss */
  void **prepared;              /* stmt_family's slots on conn */
  const cis__db_pg_config *cfg; /* static */
};

cis_result cis__db_pg_new(const char *conninfo, const cis__db_pg_config *cfg, cis__db_pg **out) {
  *out = NULL;
  cis__db_pg *d = calloc(1, sizeof *d);
  if (!d) return CIS_ENOMEM;
  cis__db_conn_config conn_cfg = {.appname = cfg->appname, .shared = true}; /* static text */
  if (cis__db_conn_new_pg(conninfo, &conn_cfg, &d->conn) != CIS_OK ||
      !(d->prepared = cis__db_conn_stmts(d->conn, &stmt_family))) {
    cis__db_conn_close(d->conn);
    free(d);
    return CIS_ENOMEM;
  }
  d->cfg = cfg;
  pthread_mutex_init(&d->lock, NULL);
  *out = d;
  return CIS_OK;
}

/* The live session's handle; NULL before a connect and after a loss. */
#define PG(d) cis__db_conn_pg((d)->conn)

static void drop(cis__db_pg *d) { cis__db_conn_drop(d->conn); /* its statements with it */ }

void cis__db_pg_free(cis__db_pg *d) {
  if (!d) return;
  pthread_mutex_destroy(&d->lock);
  cis__db_conn_close(d->conn);
  free(d);
}

/* An outcome of pgwire as a cis_result, "LABEL: STEP: DETAIL" in err. The
 * deadline passed while connecting is a server out of reach (cfg->down);
 * while a statement ran, the caller's time ran out (CIS_ETIMEOUT). */
static cis_result outcome_code(const cis__db_pg_config *cfg, bool connecting, cis__pgwire_outcome o,
                               const cis__pgwire_report *rep, const char *what, char *err, size_t cap) {
  /* The deadline passed while connecting is a server out of reach. */
  const cis__db_pg_codes codes = {
      .rejected = CIS_EINVAL, .nomem = CIS_ENOMEM, .nolib = CIS_EUNSUPPORTED,
      .timeout = connecting ? cfg->down : CIS_ETIMEOUT, .cancelled = CIS_ECANCELED, .down = cfg->down,
      .sql_error = CIS_EIO, .sql_down = cfg->down, .sql_disk_full = cfg->down, .sql_cancelled = CIS_ETIMEOUT};
  if (o == CIS__PGWIRE_DONE) return CIS_OK;
  cis_result rc = (cis_result)cis__db_pg_code(&codes, o, rep->sqlclass);
  const char *detail = o == CIS__PGWIRE_FAILED ? rep->sqlmsg
                       : o == CIS__PGWIRE_TIMEOUT
                           ? (rep->settled ? "the deadline passed: the statement was cancelled, nothing applied"
                                           : "no answer before the deadline")
                       : o == CIS__PGWIRE_CANCELLED
                           ? (rep->settled ? "the call was cancelled: so was the statement, nothing applied"
                                           : "the call was cancelled")
                           : rep->msg;
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
  cis__pgwire_outcome o = cis__pgwire_collect(pg, sent, cis__pgwire_at(until), v ? &r : NULL, &rep);
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
    cis__pgwire_collect(pg, cis__pq.sendQuery(pg, "ROLLBACK"), cis__pgwire_at(until), NULL, &rep);
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
  cis__pgwire_outcome o = cis__db_conn_connect(d->conn, until, &rep);
  if (o != CIS__PGWIRE_DONE) return outcome_code(d->cfg, true, o, &rep, "connect", err, cap);
  cis_result rc = d->cfg->schema ? cis__db_pg_migrate(PG(d), d->cfg, until, err, cap) : CIS_OK;
  if (rc != CIS_OK) drop(d);
  return rc;
}

/* One try of sql on the live connection; d->lock is held. The session's
 * rules (cis__db_conn_collect) drop it after a loss, a timeout or a
 * cancel. Every statement here is a transaction of its own, so one whose
 * time runs out settles what it did first (cis__db_conn_collect_alone): a
 * write reported failed has not applied. */
static cis_result try_once(cis__db_pg *d, const char *sql, int n, const char *const *vals, const int *lens,
                           const bool *bin, uint64_t until, PGresult **out, char *err, size_t cap) {
  cis__pgwire_report rep;
  char name[32];
  int k = 0;
  while (k < stmt_family.count && d->prepared[k] && d->prepared[k] != sql) k++;
  if (k == stmt_family.count) {
    snprintf(err, cap, "%s: more than %d statements", d->cfg->label, stmt_family.count);
    return CIS_EIO;
  }
  cis__pgwire_outcome o =
      cis__db_conn_prepare(d->conn, &stmt_family, d->prepared, k, sql, sql, n, NULL, false, until, &rep);
  if (o != CIS__PGWIRE_DONE) return outcome_code(d->cfg, false, o, &rep, "prepare", err, cap);
  int fmt[MAX_PARAMS];
  for (int i = 0; i < n; i++) fmt[i] = bin && bin[i] ? 1 : 0;
  int sent = cis__pq.sendQueryPrepared(PG(d), cis__db_stmt_name(&stmt_family, k, name), n, vals, lens, fmt, 1);
  o = cis__db_conn_collect_alone(d->conn, sent, until, out, &rep);
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
  if (!cis__db_conn_lock(d->conn, &d->lock, until)) {
    if (cis__db_conn_cancelled(d->conn)) {
      snprintf(err, cap, "%s: the call was cancelled while another statement held the connection", d->cfg->label);
      return CIS_ECANCELED;
    }
    snprintf(err, cap, "%s: the connection stayed busy with another statement until the deadline", d->cfg->label);
    return CIS_ETIMEOUT;
  }
  /* An earlier wait of the caller's took its time (or this one's lock
   * did): said as such, not as a connect that could not be made. */
  if (cis__now_ns() >= until) {
    pthread_mutex_unlock(&d->lock);
    snprintf(err, cap, "%s: the deadline had passed before the statement began", d->cfg->label);
    return CIS_ETIMEOUT;
  }
  cis_result rc = CIS_OK;
  if (!cis__db_conn_live(d->conn)) rc = connect_db(d, until, err, cap);
  if (rc == CIS_OK) {
    rc = try_once(d, sql, n, vals, lens, bin, until, out, err, cap);
    /* A connection made before the server restarted fails its first use:
     * connect again, once. Every statement here is one transaction of its
     * own, whose effect is the same done twice. */
    if (rc == d->cfg->down && cis__db_conn_retry(d->conn)) {
      rc = connect_db(d, until, err, cap);
      if (rc == CIS_OK) rc = try_once(d, sql, n, vals, lens, bin, until, out, err, cap);
    }
    if (rc == d->cfg->down || rc == CIS_ETIMEOUT || rc == CIS_ECANCELED) drop(d);
  }
  pthread_mutex_unlock(&d->lock);
  return rc;
}

void cis__db_pg_serve(cis__db_pg *d, const struct cis__callctx *call) {
  if (d) cis__db_conn_set_call(d->conn, call);
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
