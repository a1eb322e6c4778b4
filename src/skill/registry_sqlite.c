/*
 * This file implements the registry's SQLite backend (registry_internal.h):
 * one node's registry in <home>/registry.db (or the path of "sqlite:PATH")
 * with the modules as files <home>/modules/<sha256>.wasm, written once
 * each. Changes are announced to the other handles and processes of the
 * home by $CIS_HOME/registry.gen (warm.c), so this backend has no shared
 * generation of its own.
 *
 * The schema is a list of migrations (sq_steps) that src/db applies at
 * open, so opening an up-to-date registry writes nothing. Settings are
 * keyed by (tenant, skill, key), as skills are by (tenant, name): two
 * tenants' skills of one name have settings of their own. A settings
 * table from before (keyed by skill alone) is moved over by a migration
 * (settings_by_tenant). A tenant's deletion (tenant_drop) also takes its
 * rows of the token store's table, which lives in the same file
 * (src/serve/http_token.c).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/genfile.h"
#include "db/db_conn.h"
#include "db/db_sqlite.h"
#include "skill/registry_internal.h"
#include "skill/skill_internal.h"

/* A failed call on s->db that returned r. The connection is shared by the
 * registry's threads: its message is read for r (cis__db_sqlite_why). A
 * lock that another process held past the method's deadline (the
 * connection's busy handler, db/db_conn.h) is CIS_ETIMEOUT; a wait the
 * call's cancel ended (cis__registry_serve), CIS_ECANCELED. */
static cis_result db_fail(cis_skills *s, int r) {
  char why[256];
  bool stopped = (r & 0xff) == SQLITE_BUSY || (r & 0xff) == SQLITE_INTERRUPT;
  if (stopped && cis__db_conn_cancelled(s->sqconn))
    return cis__skills_fail(s, CIS_ECANCELED, "registry: the call was cancelled");
  if ((r & 0xff) == SQLITE_BUSY) return cis__skills_fail(s, CIS_ETIMEOUT, "registry: the database stayed locked until the deadline");
  if ((r & 0xff) == SQLITE_INTERRUPT) return cis__skills_fail(s, CIS_ETIMEOUT, "registry: the deadline passed");
  return cis__skills_fail(s, CIS_EIO, "registry: %s", cis__db_sqlite_why(s->db, r, why, sizeof why));
}

/* The deadline of the method the calling thread runs (its `until`): how
 * long the connection's busy handler waits for another process's lock on
 * the file and its progress handler lets a statement run. Per thread on
 * this connection, which the handle's threads share (db/db_conn.h). */
static void arm(cis_skills *s, uint64_t until) { cis__db_conn_arm(s->sqconn, until); }

/* Another thread of the handle held its write past this one's deadline. */
static cis_result write_busy(cis_skills *s) {
  return cis__skills_fail(s, CIS_ETIMEOUT, "registry: another write of this handle held it until the deadline");
}

/* sqlite3_prepare_v2 of sql on s->db into *st; its failure worded. */
static cis_result prep(cis_skills *s, const char *sql, sqlite3_stmt **st) {
  int r = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
  return r == SQLITE_OK ? CIS_OK : db_fail(s, r);
}

/* ------------------------------------------------- schema */

/* The registry's migrations (db/db.h), applied at open under the
 * database's write lock. Steps 2 to 4 look before they change, so a
 * registry from before cis_schema, in any of its earlier shapes, is
 * brought up to date; step 5 makes the tables that its first write made
 * before. An up-to-date registry is opened without a write (calls work on
 * a full disk). */

/* The settings table, made by step 5 or by the move of step 4. */
#define SETTINGS_COLUMNS \
  "(tenant TEXT NOT NULL, skill TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(tenant, skill, key))"

/* Whether sql prepares on db: a column or table that is there. */
static bool prepares(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return false;
  sqlite3_finalize(st);
  return true;
}

/* Runs sql on db, its failure's words in err. */
static cis_result exec_or_say(sqlite3 *db, const char *sql, char *err, size_t cap) {
  char *e = NULL;
  int r = sqlite3_exec(db, sql, NULL, NULL, &e);
  if (r == SQLITE_OK) return CIS_OK;
  snprintf(err, cap, "%s", e ? e : sqlite3_errstr(r));
  sqlite3_free(e);
  return CIS_EIO;
}

/* `dir`, the folder a skill was installed from (host mounts name their
 * source relative to it), `grants`, what the operator allowed it at
 * install (JSON), and `signature`, a signed skill's skill.sig (sign.c),
 * came after the first registries were made: added where missing. */
static cis_result add_columns(void *conn, char *err, size_t cap) {
  static const char *const cols[] = {"dir", "grants", "signature"};
  for (size_t i = 0; i < 3; i++) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT %s FROM skills LIMIT 0", cols[i]);
    if (prepares(conn, sql)) continue;
    snprintf(sql, sizeof sql, "ALTER TABLE skills ADD COLUMN %s TEXT", cols[i]);
    cis_result rc = exec_or_say(conn, sql, err, cap);
    if (rc != CIS_OK) return rc;
  }
  return CIS_OK;
}

/* Moves a registry from before the split by tenant (name alone was the
 * key) to the (tenant, name) key, its skills becoming the "default"
 * tenant's, where the CLI has always installed them. Every column the old
 * table has is carried over (read from its schema, so a column added by
 * add_columns is kept). */
static cis_result split_by_tenant(void *conn, char *err, size_t cap) {
  sqlite3 *db = conn;
  if (prepares(db, "SELECT tenant FROM skills LIMIT 0")) return CIS_OK;
  char defs[2048] = "", names[1024] = "";
  size_t dn = 0, nn = 0;
  sqlite3_stmt *st;
  int r = sqlite3_prepare_v2(db, "PRAGMA table_info(skills)", -1, &st, NULL);
  if (r != SQLITE_OK) return snprintf(err, cap, "%s", sqlite3_errstr(r)), CIS_EIO;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *col = (const char *)sqlite3_column_text(st, 1), *type = (const char *)sqlite3_column_text(st, 2);
    /* Our own column names: a-z, 0-9 and _ only, so quoting is enough. */
    if (!col || strspn(col, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(col)) continue;
    dn += (size_t)snprintf(defs + dn, dn < sizeof defs ? sizeof defs - dn : 0, "\"%s\" %s%s, ", col,
                           type && !strcmp(type, "INTEGER") ? "INTEGER" : "TEXT",
                           sqlite3_column_int(st, 3) ? " NOT NULL" : "");
    nn += (size_t)snprintf(names + nn, nn < sizeof names ? sizeof names - nn : 0, ", \"%s\"", col);
  }
  sqlite3_finalize(st);
  if (dn >= sizeof defs || nn >= sizeof names || !nn) {
    snprintf(err, cap, "split by tenant: unexpected columns");
    return CIS_EIO;
  }
  char *sql = sqlite3_mprintf("CREATE TABLE skills_by_tenant(tenant TEXT NOT NULL, %sPRIMARY KEY(tenant, name));"
                              "INSERT INTO skills_by_tenant(tenant%s) SELECT 'default'%s FROM skills;"
                              "DROP TABLE skills;"
                              "ALTER TABLE skills_by_tenant RENAME TO skills;",
                              defs, names, names);
  if (!sql) return snprintf(err, cap, "out of memory"), CIS_ENOMEM;
  cis_result rc = exec_or_say(db, sql, err, cap);
  sqlite3_free(sql);
  return rc;
}

/* Moves a settings table from before the key had the tenant (skill, key)
 * to (tenant, skill, key). A row belongs to the tenant it was made for:
 * setting one needed the skill installed in the writer's tenant, so when
 * exactly one tenant has a skill of that name, the row is that tenant's;
 * when none or several do, which one wrote it is unknown, and it becomes
 * the "default" tenant's (where the CLI installs). Nothing when there is
 * no table or it is already keyed by tenant. */
static cis_result settings_by_tenant(void *conn, char *err, size_t cap) {
  sqlite3 *db = conn;
  if (!prepares(db, "SELECT 1 FROM settings LIMIT 0") || prepares(db, "SELECT tenant FROM settings LIMIT 0"))
    return CIS_OK;
  return exec_or_say(db,
                     "CREATE TABLE settings_by_tenant" SETTINGS_COLUMNS ";"
                     "INSERT INTO settings_by_tenant(tenant, skill, key, value)"
                     " SELECT coalesce((SELECT min(k.tenant) FROM skills k WHERE k.name = o.skill"
                     " HAVING count(*) = 1), 'default'), o.skill, o.key, o.value FROM settings o;"
                     "DROP TABLE settings;"
                     "ALTER TABLE settings_by_tenant RENAME TO settings;",
                     err, cap);
}

static const cis__db_migration sq_steps[] = {
    {.version = 1,
     .sql = "CREATE TABLE IF NOT EXISTS skills(tenant TEXT NOT NULL, name TEXT NOT NULL,"
            " version TEXT NOT NULL, sha256 TEXT NOT NULL, description TEXT NOT NULL,"
            " manifest TEXT NOT NULL, installed_at INTEGER NOT NULL, dir TEXT, grants TEXT,"
            " PRIMARY KEY(tenant, name))"},
    {.version = 2, .fn = add_columns},
    {.version = 3, .fn = split_by_tenant},
    {.version = 4, .fn = settings_by_tenant},
    {.version = 5,
     .sql = "CREATE TABLE IF NOT EXISTS trusted_keys(tenant TEXT NOT NULL, name TEXT NOT NULL,"
            " public_key TEXT NOT NULL, added_at INTEGER NOT NULL, PRIMARY KEY(tenant, name));"
            "CREATE TABLE IF NOT EXISTS settings" SETTINGS_COLUMNS},
};
static const cis__db_schema sq_schema = {.service = "registry", .steps = sq_steps, .n = 5};

static cis_result sq_open(cis_skills *s, const char *arg) {
  char path[4200];
  if (arg) snprintf(path, sizeof path, "%s", arg);
  else snprintf(path, sizeof path, "%s/registry.db", s->home);
  static const cis__db_conn_config conn_cfg = {.sqlite_flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                                                SQLITE_OPEN_FULLMUTEX};
  /* The migrations' deadline. */
  int r = cis__db_conn_open_sqlite(path, &conn_cfg, cis__registry_until(), &s->sqconn);
  s->db = s->sqconn ? cis__db_conn_sqlite(s->sqconn) : NULL;
  if (r != SQLITE_OK)
    return cis__skills_fail(s, r == SQLITE_NOMEM ? CIS_ENOMEM : CIS_EIO, "cannot open %s: %s", path,
                            s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(r));
  /* Opening writes nothing unless something must change, so that calls,
   * which only read the registry, still work on a full disk. Hence the
   * rollback journal rather than WAL: a WAL reader needs its -shm file,
   * which cannot be made or grown on a full disk. Writes (install,
   * remove) are rare, and readers of other processes wait out a write
   * under the busy timeout. A registry from the WAL days is moved over
   * when it can be (not on a full disk, where it stays as it is). */
  sqlite3_stmt *st;
  bool wal = false;
  if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW) wal = !sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
  }
  if (wal) sqlite3_exec(s->db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
  char err[400];
  cis_result rc = cis__db_sqlite_migrate(s->db, &sq_schema, err, sizeof err);
  return rc == CIS_OK ? CIS_OK : cis__skills_fail(s, rc, "%s: %s", path, err);
}

static void sq_close(cis_skills *s) {
  cis__db_conn_close(s->sqconn);
  s->sqconn = NULL;
  s->db = NULL;
}

static void module_path(cis_skills *s, const char *sha, char *out, size_t cap) {
  snprintf(out, cap, "%s/modules/%s.wasm", s->home, sha);
}

/* Module files are shared by every skill of any tenant with the same
 * sha256, and removed with the last of them. An install writes its row,
 * then makes sure of the file, inside one write transaction; a removal
 * looks for another row, then unlinks, inside its own. The two take turns
 * on the database's write lock (across processes): a removal never takes
 * the file of an install that committed, and an install after a removal
 * writes the file again. */
static cis_result sq_exec(cis_skills *s, const char *sql) {
  int r = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
  return r == SQLITE_OK ? CIS_OK : db_fail(s, r);
}

/* The sha256 of tenant's skill name into out (65 bytes), "" when none. */
static cis_result sq_sha_of(cis_skills *s, const char *name, char out[65]) {
  sqlite3_stmt *st;
  out[0] = 0;
  cis_result pr = prep(s, "SELECT sha256 FROM skills WHERE tenant=? AND name=?", &st);
  if (pr != CIS_OK) return pr;
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
  int r = sqlite3_step(st);
  const unsigned char *t = r == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
  if (t && strlen((const char *)t) == 64) snprintf(out, 65, "%s", (const char *)t);
  sqlite3_finalize(st);
  return r == SQLITE_ROW || r == SQLITE_DONE ? CIS_OK : db_fail(s, r);
}

/* Removes module sha's file when no skill of any tenant refers to it. A
 * failure leaves the file (space, not harm). Under s->write_lock. */
static void sq_module_gc(cis_skills *s, const char *sha) {
  if (!cis__sha256_hex_valid(sha) || sq_exec(s, "BEGIN IMMEDIATE") != CIS_OK) return;
  sqlite3_stmt *st;
  int r = SQLITE_ERROR;
  if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM skills WHERE sha256=? LIMIT 1", -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, sha, -1, SQLITE_TRANSIENT);
    r = sqlite3_step(st);
    sqlite3_finalize(st);
  }
  if (r == SQLITE_DONE) {
    char path[4200];
    module_path(s, sha, path, sizeof path);
    unlink(path);
  }
  sq_exec(s, "COMMIT");
}

static cis_result sq_usage(cis_skills *s, uint64_t until, const char *name, const char *sha, uint64_t *skills, uint64_t *bytes,
                           bool *has_sha);

static cis_result sq_skill_put(cis_skills *s, uint64_t until, const cis__reg_row *row, const uint8_t *wasm, size_t len) {
  arm(s, until);
  char path[4200], old[65] = "";
  module_path(s, row->sha256, path, sizeof path);
  if (!cis__db_lock_until(&s->write_lock, until)) return write_busy(s);
  cis_result rc = sq_exec(s, "BEGIN IMMEDIATE");
  if (rc != CIS_OK) goto done;
  /* The tenant's room under the write lock: installs take turns on it,
   * across processes too. */
  if (s->max_skills || s->max_module_bytes) {
    uint64_t skills = 0, bytes = 0;
    bool has = false;
    rc = sq_usage(s, until, row->name, row->sha256, &skills, &bytes, &has);
    if (rc == CIS_OK) rc = cis__registry_room(s, skills, bytes, has, len);
    if (rc != CIS_OK) {
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
      goto done;
    }
  }
  rc = sq_sha_of(s, row->name, old);
  sqlite3_stmt *st = NULL;
  if (rc == CIS_OK)
    rc = prep(s,
              "INSERT OR REPLACE INTO skills(name,version,sha256,description,manifest,installed_at,dir,grants,"
              "tenant,signature) VALUES(?,?,?,?,?,?,?,?,?,?)",
              &st);
  if (rc == CIS_OK) {
    sqlite3_bind_text(st, 1, row->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, row->version, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, row->sha256, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, row->description, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, row->manifest, (int)row->manifest_len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)row->installed_at);
    if (row->dir) sqlite3_bind_text(st, 7, row->dir, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, 7);
    sqlite3_bind_text(st, 8, row->grants, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, s->tenant, -1, SQLITE_STATIC);
    if (row->signature) sqlite3_bind_text(st, 10, row->signature, (int)row->signature_len, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, 10);
    int r = sqlite3_step(st);
    rc = r == SQLITE_DONE ? CIS_OK : db_fail(s, r);
  }
  sqlite3_finalize(st);
  /* The file inside the transaction: a removal of the same module waits. */
  cis_result wr;
  if (rc == CIS_OK && access(path, F_OK) != 0 && (wr = cis__write_atomic(path, wasm, len)) != CIS_OK)
    rc = cis__skills_fail(s, wr, "cannot store %s", path);
  if (rc == CIS_OK) rc = sq_exec(s, "COMMIT");
  if (rc != CIS_OK) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  if (rc == CIS_OK && old[0] && strcmp(old, row->sha256)) sq_module_gc(s, old); /* replaced */
done:
  pthread_mutex_unlock(&s->write_lock);
  return rc;
}

/* A copy of column col (NULL for SQL NULL), its length in *len. */
static cis_result col_dup(sqlite3_stmt *st, int col, char **out, size_t *len) {
  const unsigned char *t = sqlite3_column_text(st, col);
  size_t n = (size_t)sqlite3_column_bytes(st, col);
  if (len) *len = n;
  *out = NULL;
  if (!t) return CIS_OK;
  if (!(*out = malloc(n + 1))) return CIS_ENOMEM;
  memcpy(*out, t, n);
  (*out)[n] = '\0';
  return CIS_OK;
}

/* The row of the statement's current step: columns name, version,
 * sha256, description, manifest, installed_at, dir, grants, signature. */
static cis_result row_read(sqlite3_stmt *st, cis__reg_row *r) {
  memset(r, 0, sizeof *r);
  cis_result rc = col_dup(st, 0, &r->name, NULL);
  if (rc == CIS_OK) rc = col_dup(st, 1, &r->version, NULL);
  if (rc == CIS_OK) rc = col_dup(st, 2, &r->sha256, NULL);
  if (rc == CIS_OK) rc = col_dup(st, 3, &r->description, NULL);
  if (rc == CIS_OK) rc = col_dup(st, 4, &r->manifest, &r->manifest_len);
  r->installed_at = sqlite3_column_int64(st, 5);
  if (rc == CIS_OK) rc = col_dup(st, 6, &r->dir, NULL);
  if (rc == CIS_OK) rc = col_dup(st, 7, &r->grants, NULL);
  if (rc == CIS_OK) rc = col_dup(st, 8, &r->signature, &r->signature_len);
  if (rc == CIS_OK && (!r->name || !r->manifest)) rc = CIS_EIO; /* NOT NULL columns */
  if (rc != CIS_OK) cis__reg_row_free(r);
  return rc;
}

#define ROW_COLUMNS "name,version,sha256,description,manifest,installed_at,dir,grants,signature"

static cis_result sq_skill_get(cis_skills *s, uint64_t until, const char *name, cis__reg_row *out) {
  arm(s, until);
  sqlite3_stmt *st;
  memset(out, 0, sizeof *out);
  cis_result pr = prep(s, "SELECT " ROW_COLUMNS " FROM skills WHERE tenant=? AND name=?", &st);
  if (pr != CIS_OK) return pr;
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
  cis_result rc;
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW) {
    rc = row_read(st, out);
    if (rc != CIS_OK) rc = cis__skills_fail(s, rc, "registry: row of %s: %s", name, cis_strerror(rc));
  } else if (r == SQLITE_DONE) {
    rc = cis__skills_fail(s, CIS_ENOTFOUND, "skill %s is not installed", name);
  } else {
    rc = db_fail(s, r);
  }
  sqlite3_finalize(st);
  return rc;
}

static cis_result sq_skill_del(cis_skills *s, uint64_t until, const char *name) {
  arm(s, until);
  sqlite3_stmt *st;
  char sha[65] = "";
  if (!cis__db_lock_until(&s->write_lock, until)) return write_busy(s);
  cis_result rc = sq_sha_of(s, name, sha);
  if (rc == CIS_OK) rc = prep(s, "DELETE FROM skills WHERE tenant=? AND name=?", &st);
  if (rc == CIS_OK) {
    sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) rc = db_fail(s, r);
    else if (sqlite3_changes(s->db) == 0) rc = cis__skills_fail(s, CIS_ENOTFOUND, "skill %s is not installed", name);
  }
  if (rc == CIS_OK && sha[0]) sq_module_gc(s, sha);
  pthread_mutex_unlock(&s->write_lock);
  return rc;
}

static cis_result sq_skill_each(cis_skills *s, uint64_t until, cis__reg_row_fn fn, void *ctx) {
  arm(s, until);
  sqlite3_stmt *st;
  cis_result pr = prep(s, "SELECT " ROW_COLUMNS " FROM skills WHERE tenant=? ORDER BY name", &st);
  if (pr != CIS_OK) return pr;
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  cis_result rc = CIS_OK;
  int r;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    cis__reg_row row;
    if (row_read(st, &row) != CIS_OK) continue; /* a row no run could use either */
    int stop = fn(ctx, &row);
    cis__reg_row_free(&row);
    if (stop) break;
  }
  if (r != SQLITE_ROW && r != SQLITE_DONE) rc = db_fail(s, r);
  sqlite3_finalize(st);
  return rc;
}

static cis_result sq_name_each(cis_skills *s, uint64_t until, cis__reg_name_fn fn, void *ctx) {
  arm(s, until);
  sqlite3_stmt *st;
  cis_result pr = prep(s, "SELECT name FROM skills WHERE tenant=? ORDER BY name", &st);
  if (pr != CIS_OK) return pr;
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  int r;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    if (name && fn(ctx, name)) break;
  }
  cis_result rc = r != SQLITE_ROW && r != SQLITE_DONE ? db_fail(s, r) : CIS_OK;
  sqlite3_finalize(st);
  return rc;
}

static int sha_cmp(const void *a, const void *b) { return strcmp(a, b); }

static cis_result sq_usage(cis_skills *s, uint64_t until, const char *name, const char *sha, uint64_t *skills, uint64_t *bytes,
                           bool *has_sha) {
  arm(s, until);
  *skills = *bytes = 0;
  *has_sha = false;
  sqlite3_stmt *st;
  cis_result pr = prep(s, "SELECT sha256 FROM skills WHERE tenant=? AND name<>? ORDER BY sha256", &st);
  if (pr != CIS_OK) return pr;
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
  char last[65] = "";
  int r;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *h = (const char *)sqlite3_column_text(st, 0);
    (*skills)++;
    if (!cis__sha256_hex_valid(h) || !sha_cmp(h, last)) continue; /* counted once */
    snprintf(last, sizeof last, "%s", h);
    *has_sha |= !strcmp(h, sha);
    char path[4200];
    struct stat sb;
    module_path(s, h, path, sizeof path);
    if (stat(path, &sb) == 0) *bytes += (uint64_t)sb.st_size;
  }
  cis_result rc = r == SQLITE_DONE ? CIS_OK : db_fail(s, r);
  sqlite3_finalize(st);
  return rc;
}

static cis_result sq_module_get(cis_skills *s, uint64_t until, const char *sha, uint8_t **bytes, size_t *len) {
  arm(s, until);
  char path[4200];
  module_path(s, sha, path, sizeof path);
  cis_result rc = cis__read_file(path, CIS__MAX_MODULE_BYTES, bytes, len);
  if (rc != CIS_OK) return cis__skills_fail(s, rc, "module %s: %s", sha, cis_strerror(rc));
  return CIS_OK;
}

/* Every write below takes s->write_lock, as installs and removals do: the
 * connection is shared by the registry's threads, so a statement run
 * while another thread's transaction is open would be part of it (and
 * rolled back with it), and sqlite3_changes would count another's. */
static cis_result key_put_locked(cis_skills *s, const char *name, const char *hex, int64_t at) {
  cis_result rc = CIS_OK;
  sqlite3_stmt *st;
  cis_result pr = prep(s, "INSERT OR REPLACE INTO trusted_keys(tenant,name,public_key,added_at) VALUES(?,?,?,?)", &st);
  if (pr != CIS_OK) return pr;
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, hex, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)at);
  int r = sqlite3_step(st);
  if (r != SQLITE_DONE) rc = db_fail(s, r);
  sqlite3_finalize(st);
  return rc;
}

static cis_result sq_key_put(cis_skills *s, uint64_t until, const char *name, const char *hex, int64_t at) {
  arm(s, until);
  if (!cis__db_lock_until(&s->write_lock, until)) return write_busy(s);
  cis_result rc = key_put_locked(s, name, hex, at);
  pthread_mutex_unlock(&s->write_lock);
  return rc;
}

static cis_result key_del_locked(cis_skills *s, const char *name) {
  cis_result rc = CIS_OK;
  sqlite3_stmt *st;
  cis_result pr = prep(s, "DELETE FROM trusted_keys WHERE tenant=? AND name=?", &st);
  if (pr != CIS_OK) return pr;
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
  int r = sqlite3_step(st);
  if (r != SQLITE_DONE) rc = db_fail(s, r);
  else if (sqlite3_changes(s->db) == 0) rc = cis__skills_fail(s, CIS_ENOTFOUND, "no trusted key named %s", name);
  sqlite3_finalize(st);
  return rc;
}

static cis_result sq_key_del(cis_skills *s, uint64_t until, const char *name) {
  arm(s, until);
  if (!cis__db_lock_until(&s->write_lock, until)) return write_busy(s);
  cis_result rc = key_del_locked(s, name);
  pthread_mutex_unlock(&s->write_lock);
  return rc;
}

static cis_result sq_key_each(cis_skills *s, uint64_t until, cis__reg_key_fn fn, void *ctx) {
  arm(s, until);
  cis_result rc = CIS_OK;
  sqlite3_stmt *st;
  cis_result pr = prep(s, "SELECT name, public_key, added_at FROM trusted_keys WHERE tenant=? ORDER BY name", &st);
  if (pr != CIS_OK) return pr;
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  int r;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *n = (const char *)sqlite3_column_text(st, 0), *k = (const char *)sqlite3_column_text(st, 1);
    if (n && k && fn(ctx, n, k, sqlite3_column_int64(st, 2))) break;
  }
  if (r != SQLITE_ROW && r != SQLITE_DONE) rc = db_fail(s, r);
  sqlite3_finalize(st);
  return rc;
}

static cis_result sq_key_find(cis_skills *s, uint64_t until, const char *hex, char name[65]) {
  arm(s, until);
  cis_result rc = CIS_OK;
  sqlite3_stmt *st;
  cis_result pr = prep(s, "SELECT name FROM trusted_keys WHERE tenant=? AND public_key=? LIMIT 1", &st);
  if (pr != CIS_OK) return pr;
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, hex, -1, SQLITE_TRANSIENT);
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW) snprintf(name, 65, "%s", (const char *)sqlite3_column_text(st, 0));
  else if (r == SQLITE_DONE) rc = CIS_ENOTFOUND;
  else rc = db_fail(s, r);
  sqlite3_finalize(st);
  return rc;
}

/* Whether a prepare on s->db that returned r failed for want of a table
 * (one dropped behind cis's back: read as empty). */
static bool table_missing(cis_skills *s, int r) {
  char why[256];
  return strstr(cis__db_sqlite_why(s->db, r, why, sizeof why), "no such table") != NULL;
}

static cis_result setting_put_locked(cis_skills *s, const char *skill, const char *key, const char *value) {
  sqlite3_stmt *st;
  const char *sql = value ? "INSERT OR REPLACE INTO settings(tenant, skill, key, value) VALUES(?, ?, ?, ?)"
                          : "DELETE FROM settings WHERE tenant=? AND skill=? AND key=?";
  cis_result pr = prep(s, sql, &st);
  if (pr != CIS_OK) return pr;
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, skill, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, key, -1, SQLITE_TRANSIENT);
  if (value) sqlite3_bind_text(st, 4, value, -1, SQLITE_TRANSIENT);
  int r = sqlite3_step(st);
  sqlite3_finalize(st);
  return r == SQLITE_DONE ? CIS_OK : db_fail(s, r);
}

static cis_result sq_setting_put(cis_skills *s, uint64_t until, const char *skill, const char *key, const char *value) {
  arm(s, until);
  if (!cis__db_lock_until(&s->write_lock, until)) return write_busy(s);
  cis_result rc = setting_put_locked(s, skill, key, value);
  pthread_mutex_unlock(&s->write_lock);
  return rc;
}

static cis_result sq_setting_each(cis_skills *s, uint64_t until, const char *skill, cis__reg_setting_fn fn, void *ctx) {
  arm(s, until);
  sqlite3_stmt *st;
  int pr = sqlite3_prepare_v2(s->db, "SELECT key, value FROM settings WHERE tenant=? AND skill=? ORDER BY key", -1,
                              &st, NULL);
  if (pr != SQLITE_OK) return table_missing(s, pr) ? CIS_OK : db_fail(s, pr);
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, skill, -1, SQLITE_TRANSIENT);
  cis_result rc = CIS_OK;
  int r;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *k = (const char *)sqlite3_column_text(st, 0), *v = (const char *)sqlite3_column_text(st, 1);
    if (k && v && fn(ctx, k, v)) break;
  }
  if (r != SQLITE_ROW && r != SQLITE_DONE) rc = db_fail(s, r);
  sqlite3_finalize(st);
  return rc;
}

static cis_result sq_setting_get(cis_skills *s, uint64_t until, const char *skill, const char *key, size_t klen, char **val,
                                 size_t *vlen) {
  arm(s, until);
  sqlite3_stmt *st;
  int pr = sqlite3_prepare_v2(s->db, "SELECT value FROM settings WHERE tenant=? AND skill=? AND key=?", -1, &st, NULL);
  if (pr != SQLITE_OK) return table_missing(s, pr) ? CIS_ENOTFOUND : db_fail(s, pr);
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, skill, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, key, (int)klen, SQLITE_TRANSIENT);
  cis_result rc = CIS_ENOTFOUND;
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW) rc = col_dup(st, 0, val, vlen);
  else if (r != SQLITE_DONE) rc = CIS_EIO;
  sqlite3_finalize(st);
  return rc;
}

/* ------------------------------------------------- a tenant's deletion */

/* After tokens were deleted: the token store's handles on this file, in
 * every process, empty their caches at their next check (its
 * PATH-tokens.gen, as a revocation moves it; src/serve/http_token.c).
 * Without the file they see it within their poll of the table's change
 * count, which its triggers moved. */
static void tokens_revoked(cis_skills *s) {
  const char *path = sqlite3_db_filename(s->db, "main");
  char gpath[4220];
  if (!path || !*path || snprintf(gpath, sizeof gpath, "%s-tokens.gen", path) >= (int)sizeof gpath) return;
  _Atomic uint64_t *g = cis__genfile_map(gpath);
  if (g) atomic_fetch_add_explicit(g, 1, memory_order_acq_rel);
  cis__genfile_unmap(g);
}

/* The first `limit` of the tenant's skills, by name, in one write
 * transaction; then the modules no row refers to any more, as skill_del
 * leaves them. Under s->write_lock. */
static cis_result drop_skills_locked(cis_skills *s, unsigned limit, uint64_t *n) {
  char (*shas)[65] = calloc(limit ? limit : 1, sizeof *shas);
  if (!shas) return cis__skills_fail(s, CIS_ENOMEM, "out of memory");
  size_t nsha = 0;
  sqlite3_stmt *st = NULL;
  cis_result rc = sq_exec(s, "BEGIN IMMEDIATE");
  if (rc == CIS_OK)
    rc = prep(s, "SELECT DISTINCT sha256 FROM (SELECT sha256 FROM skills WHERE tenant=?1 ORDER BY name LIMIT ?2)", &st);
  if (rc == CIS_OK) {
    sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, limit);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW && nsha < limit) {
      const char *h = (const char *)sqlite3_column_text(st, 0);
      if (cis__sha256_hex_valid(h)) memcpy(shas[nsha++], h, 65);
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE) rc = db_fail(s, r);
    sqlite3_finalize(st);
    st = NULL;
  }
  if (rc == CIS_OK)
    rc = prep(s,
              "DELETE FROM skills WHERE tenant=?1 AND name IN "
              "(SELECT name FROM skills WHERE tenant=?1 ORDER BY name LIMIT ?2)",
              &st);
  if (rc == CIS_OK) {
    sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, limit);
    int r = sqlite3_step(st);
    if (r != SQLITE_DONE) rc = db_fail(s, r);
    else *n = (uint64_t)sqlite3_changes(s->db);
    sqlite3_finalize(st);
  }
  if (rc == CIS_OK) rc = sq_exec(s, "COMMIT");
  if (rc != CIS_OK) {
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    *n = 0;
  }
  for (size_t i = 0; rc == CIS_OK && i < nsha; i++) sq_module_gc(s, shas[i]);
  free(shas);
  return rc;
}

static cis_result sq_tenant_drop(cis_skills *s, uint64_t until, cis__reg_part part, unsigned limit, uint64_t *n) {
  /* The page, by a key of each table (rowid: settings and trusted_keys
   * are rowid tables), the tenant matched by equality. */
  static const char *const sql[] = {
      [CIS__REG_TOKENS] = "DELETE FROM tokens WHERE id IN (SELECT id FROM tokens WHERE tenant=?1 ORDER BY id LIMIT ?2)",
      [CIS__REG_SETTINGS] = "DELETE FROM settings WHERE rowid IN "
                            "(SELECT rowid FROM settings WHERE tenant=?1 ORDER BY skill, key LIMIT ?2)",
      [CIS__REG_KEYS] = "DELETE FROM trusted_keys WHERE rowid IN "
                        "(SELECT rowid FROM trusted_keys WHERE tenant=?1 ORDER BY name LIMIT ?2)",
  };
  *n = 0;
  if ((unsigned)part > CIS__REG_KEYS || (part != CIS__REG_SKILLS && !sql[part]))
    return cis__skills_fail(s, CIS_EINVAL, "registry: no part %d of a tenant", (int)part);
  arm(s, until);
  if (!cis__db_lock_until(&s->write_lock, until)) return write_busy(s);
  cis_result rc = CIS_OK;
  if (part == CIS__REG_SKILLS) {
    rc = drop_skills_locked(s, limit, n);
  } else {
    sqlite3_stmt *st;
    int pr = sqlite3_prepare_v2(s->db, sql[part], -1, &st, NULL);
    if (pr != SQLITE_OK) {
      rc = table_missing(s, pr) ? CIS_OK : db_fail(s, pr); /* the token store never opened here */
    } else {
      sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 2, limit);
      int r = sqlite3_step(st);
      if (r != SQLITE_DONE) rc = db_fail(s, r);
      else *n = (uint64_t)sqlite3_changes(s->db);
      sqlite3_finalize(st);
    }
  }
  pthread_mutex_unlock(&s->write_lock);
  if (rc == CIS_OK && part == CIS__REG_TOKENS && *n) tokens_revoked(s);
  return rc;
}

const cis__registry_methods cis__registry_sqlite = {
    .version = CIS__REGISTRY_METHODS_VERSION,
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .skill_put = sq_skill_put,
    .skill_get = sq_skill_get,
    .skill_del = sq_skill_del,
    .skill_each = sq_skill_each,
    .name_each = sq_name_each,
    .module_get = sq_module_get,
    .usage = sq_usage,
    .key_put = sq_key_put,
    .key_del = sq_key_del,
    .key_each = sq_key_each,
    .key_find = sq_key_find,
    .setting_put = sq_setting_put,
    .setting_each = sq_setting_each,
    .setting_get = sq_setting_get,
    .generation = NULL,
    .tenant_drop = sq_tenant_drop,
};
