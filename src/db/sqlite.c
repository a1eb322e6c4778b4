/*
 * This file implements the SQLite dialect's helpers (db_sqlite.h): the
 * wording of a failure, the folder of a new file, and a service's
 * migrations.
 */
#include "db/db_sqlite.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char *cis__db_sqlite_why(sqlite3 *db, int rc, char *buf, size_t cap) {
  sqlite3_mutex *mu = db ? sqlite3_db_mutex(db) : NULL;
  sqlite3_mutex_enter(mu); /* a no-op on NULL (a connection without one) */
  /* Primary codes: a call's extended code (SQLITE_BUSY_SNAPSHOT) and the
   * connection's plain one name one failure. */
  if (db && (sqlite3_errcode(db) & 0xff) == (rc & 0xff)) snprintf(buf, cap, "%s", sqlite3_errmsg(db));
  else snprintf(buf, cap, "%s", sqlite3_errstr(rc));
  sqlite3_mutex_leave(mu);
  return buf;
}

int cis__db_sqlite_make_folder(const char *path) {
  const char *slash = path ? strrchr(path, '/') : NULL;
  if (!slash || slash == path) return 0; /* the current folder, or / */
  char dir[4096];
  size_t n = (size_t)(slash - path);
  if (n >= sizeof dir) return ENAMETOOLONG;
  memcpy(dir, path, n);
  dir[n] = '\0';
  struct stat st;
  if (stat(dir, &st) == 0) return 0;
  return mkdir(dir, 0700) == 0 || errno == EEXIST ? 0 : errno;
}

/* ------------------------------------------------- migrations */

/* The schema's version recorded in db into *v (0: no row, no table).
 * Reads only. */
static int read_version(sqlite3 *db, const char *service, int64_t *v) {
  *v = 0;
  sqlite3_stmt *st;
  int r = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='cis_schema'", -1, &st, NULL);
  if (r != SQLITE_OK) return r;
  r = sqlite3_step(st);
  sqlite3_finalize(st);
  if (r == SQLITE_DONE) return SQLITE_OK;
  if (r != SQLITE_ROW) return r;
  if ((r = sqlite3_prepare_v2(db, "SELECT version FROM cis_schema WHERE service=?", -1, &st, NULL)) != SQLITE_OK)
    return r;
  sqlite3_bind_text(st, 1, service, -1, SQLITE_STATIC);
  r = sqlite3_step(st);
  if (r == SQLITE_ROW) *v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return r == SQLITE_ROW || r == SQLITE_DONE ? SQLITE_OK : r;
}

/* "SERVICE schema: what: why" into err; rc returned. */
static cis_result schema_fail(cis_result rc, const cis__db_schema *s, char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static cis_result schema_fail(cis_result rc, const cis__db_schema *s, char *err, size_t cap, const char *fmt, ...) {
  int n = snprintf(err, cap, "%s schema: ", s->service);
  if (n >= 0 && (size_t)n < cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return rc;
}

static cis_result newer(const cis__db_schema *s, int64_t v, char *err, size_t cap) {
  return schema_fail(CIS_EUNSUPPORTED, s, err, cap,
                     "the database is at version %lld, newer than this build's %lld: refused, not changed",
                     (long long)v, (long long)cis__db_schema_latest(s));
}

/* Runs the steps past version v and records the last; inside the
 * caller's transaction. */
static cis_result run_steps(sqlite3 *db, const cis__db_schema *s, int64_t v, char *err, size_t cap) {
  char why[256];
  for (size_t i = 0; i < s->n; i++) {
    const cis__db_migration *m = &s->steps[i];
    if (m->version <= v) continue;
    if (m->fn) {
      why[0] = 0;
      cis_result rc = m->fn(db, why, sizeof why);
      if (rc != CIS_OK)
        return schema_fail(rc, s, err, cap, "migration %lld: %s", (long long)m->version, why[0] ? why : cis_strerror(rc));
      continue;
    }
    char *e = NULL;
    int r = sqlite3_exec(db, m->sql, NULL, NULL, &e);
    if (r != SQLITE_OK) {
      cis_result rc = schema_fail(CIS_EIO, s, err, cap, "migration %lld: %s", (long long)m->version,
                                  e ? e : sqlite3_errstr(r));
      sqlite3_free(e);
      return rc;
    }
  }
  sqlite3_stmt *st;
  int r = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO cis_schema(service, version) VALUES(?, ?)", -1, &st, NULL);
  if (r == SQLITE_OK) {
    sqlite3_bind_text(st, 1, s->service, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, cis__db_schema_latest(s));
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r == SQLITE_DONE) r = SQLITE_OK;
  }
  if (r != SQLITE_OK)
    return schema_fail(CIS_EIO, s, err, cap, "recording the version: %s", cis__db_sqlite_why(db, r, why, sizeof why));
  return CIS_OK;
}

/* A failure of SQLite's: another connection's lock held past the busy
 * timeout is the caller's deadline passing (CIS_ETIMEOUT), anything else
 * the file's (CIS_EIO). */
static cis_result sqlite_code(int r) {
  int primary = r & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED ? CIS_ETIMEOUT : CIS_EIO;
}

cis_result cis__db_sqlite_migrate(sqlite3 *db, const cis__db_schema *s, char *err, size_t cap) {
  char why[256];
  int64_t v;
  int r = read_version(db, s->service, &v);
  if (r != SQLITE_OK)
    return schema_fail(sqlite_code(r), s, err, cap, "reading the version: %s",
                       cis__db_sqlite_why(db, r, why, sizeof why));
  int64_t latest = cis__db_schema_latest(s);
  if (v == latest) return CIS_OK; /* nothing written: opening works on a full disk */
  if (v > latest) return newer(s, v, err, cap);
  /* The write lock, so that one opener migrates and the others wait
   * (under the connection's busy timeout) and then find it done. */
  char *e = NULL;
  r = sqlite3_exec(db,
                   "BEGIN IMMEDIATE;"
                   "CREATE TABLE IF NOT EXISTS cis_schema(service TEXT PRIMARY KEY, version INTEGER NOT NULL)",
                   NULL, NULL, &e);
  if (r != SQLITE_OK) {
    cis_result rc = schema_fail(sqlite_code(r), s, err, cap, "lock: %s", e ? e : sqlite3_errstr(r));
    sqlite3_free(e);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  cis_result rc = CIS_OK;
  if ((r = read_version(db, s->service, &v)) != SQLITE_OK)
    rc = schema_fail(sqlite_code(r), s, err, cap, "reading the version: %s",
                     cis__db_sqlite_why(db, r, why, sizeof why));
  else if (v > latest) rc = newer(s, v, err, cap);
  else if (v < latest) rc = run_steps(db, s, v, err, cap);
  if (rc == CIS_OK && (r = sqlite3_exec(db, "COMMIT", NULL, NULL, &e)) != SQLITE_OK) {
    rc = schema_fail(sqlite_code(r), s, err, cap, "commit: %s", e ? e : sqlite3_errstr(r));
    sqlite3_free(e);
  }
  if (rc != CIS_OK) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}
