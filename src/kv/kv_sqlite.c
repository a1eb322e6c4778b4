/*
 * This file implements the SQLite backend of the key-value store
 * ("sqlite:PATH"). One table holds every namespace's keys, keyed by
 * (tenant, skill, key), all BLOBs so names, keys and values stay
 * binary-safe; a second table keeps each namespace's key count and bytes
 * so quota checks cost one row read. The file runs in WAL mode (readers do
 * not wait for the writer) with synchronous=FULL (a commit that returned
 * is on disk). Statements are prepared once per connection and cached.
 *
 * The connection is the database layer's (db/db_conn.h): its busy and
 * progress handlers end a lock wait or a statement at the deadline each
 * method arms from the time the store allows, and the statements are a
 * family of its cache.
 *
 * Errors: SQLITE_BUSY / LOCKED / INTERRUPT become CIS_ETIMEOUT, or
 * CIS_ECANCELED when the call the connection serves was cancelled; CANTOPEN,
 * IOERR, READONLY, FULL, PERM, NOLFS and PROTOCOL become CIS_EKVDOWN (the
 * file cannot be reached or written); NOMEM becomes CIS_ENOMEM; anything
 * else (CORRUPT, NOTADB, ...) CIS_EKV.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_conn.h"
#include "db/db_sqlite.h"
#include "kv/kv_internal.h"

enum {
  ST_GET,
  ST_STAT,
  ST_UPSERT,
  ST_DELETE,
  ST_USAGE,
  ST_USAGE_ADD,
  ST_TENANT_USAGE,
  ST_LIST,
  ST_LIST_UPTO,
  ST_NS_FROM,
  ST_NS_AFTER,
  ST_DROP_COUNT,
  ST_DROP_KEYS,
  ST_USAGE_SUB,
  ST_DROP_LEFT,
  ST_DROP_USAGE,
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_COUNT
};

static const char *const sql_text[ST_COUNT] = {
    [ST_GET] = "SELECT value FROM cis_kv WHERE tenant=?1 AND skill=?2 AND key=?3",
    [ST_STAT] = "SELECT length(value) FROM cis_kv WHERE tenant=?1 AND skill=?2 AND key=?3",
    [ST_UPSERT] = "INSERT INTO cis_kv(tenant,skill,key,value) VALUES(?1,?2,?3,?4) "
                  "ON CONFLICT(tenant,skill,key) DO UPDATE SET value=excluded.value",
    [ST_DELETE] = "DELETE FROM cis_kv WHERE tenant=?1 AND skill=?2 AND key=?3",
    [ST_USAGE] = "SELECT keys, bytes FROM cis_kv_usage WHERE tenant=?1 AND skill=?2",
    [ST_USAGE_ADD] = "INSERT INTO cis_kv_usage(tenant,skill,keys,bytes) VALUES(?1,?2,?3,?4) "
                     "ON CONFLICT(tenant,skill) DO UPDATE SET keys=keys+excluded.keys, "
                     "bytes=bytes+excluded.bytes",
    [ST_TENANT_USAGE] = "SELECT coalesce(sum(keys),0), coalesce(sum(bytes),0) FROM cis_kv_usage WHERE tenant=?1",
    [ST_LIST] = "SELECT key FROM cis_kv WHERE tenant=?1 AND skill=?2 AND key>=?3 AND key>?4 "
                "ORDER BY key LIMIT ?5",
    [ST_LIST_UPTO] = "SELECT key FROM cis_kv WHERE tenant=?1 AND skill=?2 AND key>=?3 "
                     "AND key>?4 AND key<?6 ORDER BY key LIMIT ?5",
    /* A tenant's namespaces: those with a usage row, and those with keys
     * (a file from before the usage rows), from ?2 on or after it. */
    [ST_NS_FROM] = "SELECT skill FROM cis_kv_usage WHERE tenant=?1 AND skill>=?2 "
                   "UNION SELECT skill FROM cis_kv WHERE tenant=?1 AND skill>=?2 ORDER BY 1 LIMIT ?3",
    [ST_NS_AFTER] = "SELECT skill FROM cis_kv_usage WHERE tenant=?1 AND skill>?2 "
                    "UNION SELECT skill FROM cis_kv WHERE tenant=?1 AND skill>?2 ORDER BY 1 LIMIT ?3",
    /* The first ?3 keys of a namespace: what they hold, then their rows. */
    [ST_DROP_COUNT] = "SELECT count(*), coalesce(sum(length(key)+length(value)),0) FROM "
                      "(SELECT key, value FROM cis_kv WHERE tenant=?1 AND skill=?2 ORDER BY key LIMIT ?3)",
    [ST_DROP_KEYS] = "DELETE FROM cis_kv WHERE tenant=?1 AND skill=?2 AND key IN "
                     "(SELECT key FROM cis_kv WHERE tenant=?1 AND skill=?2 ORDER BY key LIMIT ?3)",
    [ST_USAGE_SUB] = "UPDATE cis_kv_usage SET keys=keys-?3, bytes=bytes-?4 WHERE tenant=?1 AND skill=?2",
    [ST_DROP_LEFT] = "SELECT 1 FROM cis_kv WHERE tenant=?1 AND skill=?2 LIMIT 1",
    [ST_DROP_USAGE] = "DELETE FROM cis_kv_usage WHERE tenant=?1 AND skill=?2",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

/* The store's schema (db/db.h), applied at open under the file's write
 * lock. Step 1 is what the store made before cis_schema (IF NOT EXISTS),
 * so a file from before is taken as it is. */
static const cis__db_migration schema_steps[] = {
    {.version = 1,
     .sql = "CREATE TABLE IF NOT EXISTS cis_kv ("
            " tenant BLOB NOT NULL, skill BLOB NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,"
            " PRIMARY KEY (tenant, skill, key)) WITHOUT ROWID;"
            "CREATE TABLE IF NOT EXISTS cis_kv_usage ("
            " tenant BLOB NOT NULL, skill BLOB NOT NULL, keys INTEGER NOT NULL, bytes INTEGER NOT NULL,"
            " PRIMARY KEY (tenant, skill)) WITHOUT ROWID;"},
};
static const cis__db_schema schema = {.service = "kv", .steps = schema_steps, .n = 1};

static const cis__db_stmts stmts = {.name = "kv", .count = ST_COUNT};
static const cis__db_conn_config conn_config = {0};

typedef struct sq_conn {
  cis__kv_db_conn base; /* must stay first: the store sees only its cis_kv_conn */
  sqlite3 *db;          /* base.db's handle */
  void **st;            /* the statements (sqlite3_stmt *) cached on base.db, prepared on first use */
} sq_conn;

/* Maps an SQLite result code to a cis_result and words the detail. */
static cis_result sq_fail(sq_conn *c, int rc, const char *what) {
  cis_result code;
  switch (rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
  case SQLITE_INTERRUPT: code = CIS_ETIMEOUT; break;
  case SQLITE_NOMEM: code = CIS_ENOMEM; break;
  case SQLITE_CANTOPEN:
  case SQLITE_IOERR:
  case SQLITE_READONLY:
  case SQLITE_FULL:
  case SQLITE_PERM:
  case SQLITE_NOLFS:
  case SQLITE_PROTOCOL: code = CIS_EKVDOWN; break;
  default: code = CIS_EKV; break;
  }
  const char *msg = c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
  bool stopped = (rc & 0xff) == SQLITE_INTERRUPT || (rc & 0xff) == SQLITE_BUSY;
  if (stopped && c->base.db && cis__db_conn_cancelled(c->base.db)) {
    code = CIS_ECANCELED; /* the call's cancel ended the wait or the statement */
    msg = "the call was cancelled";
  } else if ((rc & 0xff) == SQLITE_INTERRUPT) {
    msg = "deadline exceeded";
  } else if ((rc & 0xff) == SQLITE_BUSY) {
    msg = "database locked until the deadline";
  }
  return cis__kv_conn_fail(&c->base.base, code, "%s: %s", what, msg);
}

/* Arms the connection's deadline for one method call: again each time, as
 * a filesystem joined to the transaction arms it for its own. */
static void sq_arm(sq_conn *c) { cis__db_conn_arm(c->base.db, cis__deadline_after(c->base.base.timeout_ms, 0)); }

/* Returns the cached statement `id`, prepared on first use, reset and with
 * bindings cleared. */
static cis_result sq_stmt(sq_conn *c, int id, sqlite3_stmt **out) {
  int rc = cis__db_conn_sqlite_stmt(c->base.db, c->st, id, sql_text[id], out);
  if (rc != SQLITE_OK) return sq_fail(c, rc, "prepare");
  sqlite3_reset(*out);
  sqlite3_clear_bindings(*out);
  return CIS_OK;
}

/* Binds n bytes as a BLOB. An empty one is bound as a zero-length BLOB,
 * never as NULL (sqlite3_bind_blob with a NULL pointer binds NULL). */
static int bind_bytes(sqlite3_stmt *s, int i, const void *p, size_t n) {
  if (n == 0) return sqlite3_bind_zeroblob(s, i, 0);
  return sqlite3_bind_blob64(s, i, p, (sqlite3_uint64)n, SQLITE_STATIC);
}

/* Prepares statement id with the namespace bound to ?1 and ?2 and, when
 * key is not NULL, the key to ?3. */
static cis_result sq_ns_stmt(sq_conn *c, int id, const cis_kv_ns *ns, const void *key,
                             size_t klen, sqlite3_stmt **out) {
  sqlite3_stmt *s = NULL;
  cis_result rc = sq_stmt(c, id, &s);
  if (rc != CIS_OK) return rc;
  int r = bind_bytes(s, 1, ns->tenant, ns->tenant_len);
  if (r == SQLITE_OK) r = bind_bytes(s, 2, ns->skill, ns->skill_len);
  if (r == SQLITE_OK && key) r = bind_bytes(s, 3, key, klen);
  if (r != SQLITE_OK) return sq_fail(c, r, "bind");
  *out = s;
  return CIS_OK;
}

/* Runs a statement that returns no rows; resets it. */
static cis_result sq_run(sq_conn *c, sqlite3_stmt *s, const char *what) {
  int r = sqlite3_step(s);
  cis_result rc = r == SQLITE_DONE || r == SQLITE_ROW ? CIS_OK : sq_fail(c, r, what);
  sqlite3_reset(s);
  return rc;
}

static void sq_close(cis_kv_conn *base) {
  sq_conn *c = (sq_conn *)base;
  if (!c) return;
  if (c->db && !sqlite3_get_autocommit(c->db)) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
  cis__db_conn_close(c->base.db); /* its statements with it */
  free(c);
}

/* Opens the file (creating it), switches it to WAL and migrates its
 * schema. Errors: CIS_EKVDOWN (cannot open or write the file), CIS_EKV
 * (not a database, corrupt, a migration failed), CIS_EUNSUPPORTED (the
 * file's schema is newer than this build's), CIS_ETIMEOUT, CIS_ENOMEM;
 * *out is then the half-made connection, its errmsg naming the file. */
static cis_result sq_open(const cis_kv_methods *m, const char *path, uint64_t timeout_ms,
                          cis_kv_conn **out) {
  (void)m;
  cis_result rc = CIS_OK;
  char why[CIS_KV_CONN_ERRMSG_MAX];
  sq_conn *c = calloc(1, sizeof *c);
  *out = c ? &c->base.base : NULL;
  if (!c) return CIS_ENOMEM;
  c->base.base.timeout_ms = timeout_ms;
  /* The folder of the default <home>/kv.db is made by the open. */
  int r = cis__db_conn_open_sqlite(path, &conn_config, cis__deadline_after(timeout_ms, 0), &c->base.db);
  c->db = c->base.db ? cis__db_conn_sqlite(c->base.db) : NULL;
  if (r == SQLITE_OK && !(c->st = cis__db_conn_stmts(c->base.db, &stmts))) r = SQLITE_NOMEM;
  if (r != SQLITE_OK) {
    rc = sq_fail(c, r, "open");
    goto fail;
  }
  /* Keep the WAL's -wal and -shm files when the last connection closes:
   * re-creating them is a write, so a store closed and opened again on a
   * full disk could not even be read. */
  int persist = 1;
  sqlite3_file_control(c->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);

  /* Switching to WAL is the first access to the file: a file that is
   * not a database fails here. */
  sqlite3_stmt *s = NULL;
  r = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
  if (r == SQLITE_OK) {
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) r = SQLITE_OK;
  }
  sqlite3_finalize(s);
  if (r != SQLITE_OK) {
    rc = sq_fail(c, r, "enable WAL");
    goto fail;
  }
  /* With the WAL kept (above), empty it when it is reset and at close, so
   * the main file alone holds the data between uses. */
  r = sqlite3_exec(c->db, "PRAGMA synchronous=FULL; PRAGMA journal_size_limit=0", NULL, NULL, NULL);
  if (r != SQLITE_OK) {
    rc = sq_fail(c, r, "set synchronous");
    goto fail;
  }
  if ((rc = cis__db_sqlite_migrate(c->db, &schema, why, sizeof why)) != CIS_OK) {
    /* The migration's own failures (the lock, a step, the commit) are the
     * file's: CIS_EIO is the store's CIS_EKV. */
    if (rc == CIS_EIO) rc = CIS_EKV;
    cis__kv_conn_fail(&c->base.base, rc, "%s", why);
    goto fail;
  }
  return CIS_OK;

fail:
  snprintf(why, sizeof why, "%s", c->base.base.errmsg);
  return cis__kv_conn_fail(&c->base.base, rc, "%s: %s", path, why);
}

static cis_result sq_tx(cis_kv_conn *base, int id, const char *what) {
  sq_conn *c = (sq_conn *)base;
  sqlite3_stmt *s = NULL;
  sq_arm(c);
  cis_result rc = sq_stmt(c, id, &s);
  if (rc == CIS_OK) rc = sq_run(c, s, what);
  /* After a failed COMMIT SQLite may keep the transaction open; the
   * contract is that commit always ends it. */
  if (rc != CIS_OK && id != ST_BEGIN && !sqlite3_get_autocommit(c->db))
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

static cis_result sq_begin(cis_kv_conn *c) { return sq_tx(c, ST_BEGIN, "begin"); }
static cis_result sq_commit(cis_kv_conn *c) { return sq_tx(c, ST_COMMIT, "commit"); }

static cis_result sq_rollback(cis_kv_conn *base) {
  sq_conn *c = (sq_conn *)base;
  if (sqlite3_get_autocommit(c->db)) return CIS_OK;
  return sq_tx(base, ST_ROLLBACK, "rollback");
}

/* BEGIN IMMEDIATE already holds the file's write lock, which shuts out
 * every other writer of every namespace until commit or rollback. */
static cis_result sq_lock(cis_kv_conn *base, const cis_kv_ns *ns) {
  sq_conn *c = (sq_conn *)base;
  (void)ns;
  if (sqlite3_get_autocommit(c->db)) return cis__kv_conn_fail(base, CIS_EKV, "lock: no transaction is open");
  return CIS_OK;
}

static cis_result sq_get(cis_kv_conn *base, const cis_kv_ns *ns, const void *key, size_t klen,
                         void **val, size_t *vlen) {
  sq_conn *c = (sq_conn *)base;
  sqlite3_stmt *s = NULL;
  *val = NULL;
  *vlen = 0;
  sq_arm(c);
  cis_result rc = sq_ns_stmt(c, ST_GET, ns, key, klen, &s);
  if (rc != CIS_OK) return rc;
  int r = sqlite3_step(s);
  if (r == SQLITE_ROW) {
    const void *p = sqlite3_column_blob(s, 0);
    int n = sqlite3_column_bytes(s, 0);
    if (n > 0) {
      *val = malloc((size_t)n);
      if (!*val) rc = cis__kv_conn_fail(base, CIS_ENOMEM, "out of memory");
      else memcpy(*val, p, (size_t)n);
    }
    *vlen = rc == CIS_OK ? (size_t)n : 0;
  } else if (r == SQLITE_DONE) {
    rc = CIS_ENOTFOUND;
  } else {
    rc = sq_fail(c, r, "get");
  }
  sqlite3_reset(s);
  return rc;
}

static cis_result sq_stat(cis_kv_conn *base, const cis_kv_ns *ns, const void *key, size_t klen,
                          uint64_t *vlen) {
  sq_conn *c = (sq_conn *)base;
  sqlite3_stmt *s = NULL;
  *vlen = 0;
  sq_arm(c);
  cis_result rc = sq_ns_stmt(c, ST_STAT, ns, key, klen, &s);
  if (rc != CIS_OK) return rc;
  int r = sqlite3_step(s);
  if (r == SQLITE_ROW) *vlen = (uint64_t)sqlite3_column_int64(s, 0);
  else if (r == SQLITE_DONE) rc = CIS_ENOTFOUND;
  else rc = sq_fail(c, r, "stat");
  sqlite3_reset(s);
  return rc;
}

/* Adds (dk, db) to the namespace's usage row, creating it. */
static cis_result usage_add(sq_conn *c, const cis_kv_ns *ns, int64_t dk, int64_t db) {
  sqlite3_stmt *s = NULL;
  cis_result rc = sq_ns_stmt(c, ST_USAGE_ADD, ns, NULL, 0, &s);
  if (rc != CIS_OK) return rc;
  sqlite3_bind_int64(s, 3, dk);
  sqlite3_bind_int64(s, 4, db);
  return sq_run(c, s, "update usage");
}

static cis_result sq_set(cis_kv_conn *base, const cis_kv_ns *ns, const void *key, size_t klen,
                         const void *val, size_t vlen) {
  sq_conn *c = (sq_conn *)base;
  uint64_t old = 0;
  bool existed = true;
  cis_result rc = sq_stat(base, ns, key, klen, &old);
  if (rc == CIS_ENOTFOUND) existed = false;
  else if (rc != CIS_OK) return rc;
  sqlite3_stmt *s = NULL;
  rc = sq_ns_stmt(c, ST_UPSERT, ns, key, klen, &s);
  if (rc != CIS_OK) return rc;
  int r = bind_bytes(s, 4, val, vlen);
  if (r != SQLITE_OK) return sq_fail(c, r, "bind");
  rc = sq_run(c, s, "set");
  if (rc != CIS_OK) return rc;
  int64_t dk = existed ? 0 : 1;
  int64_t db = (int64_t)vlen - (int64_t)old + (existed ? 0 : (int64_t)klen);
  return usage_add(c, ns, dk, db);
}

static cis_result sq_del(cis_kv_conn *base, const cis_kv_ns *ns, const void *key, size_t klen) {
  sq_conn *c = (sq_conn *)base;
  uint64_t old = 0;
  cis_result rc = sq_stat(base, ns, key, klen, &old);
  if (rc != CIS_OK) return rc;
  sqlite3_stmt *s = NULL;
  rc = sq_ns_stmt(c, ST_DELETE, ns, key, klen, &s);
  if (rc != CIS_OK) return rc;
  rc = sq_run(c, s, "delete");
  if (rc != CIS_OK) return rc;
  return usage_add(c, ns, -1, -(int64_t)(klen + old));
}

/* Steps s, bound, for a usage row's two counts (keys, bytes; 0 for no
 * row) and resets it. */
static cis_result step_counts(sq_conn *c, sqlite3_stmt *s, uint64_t *keys, uint64_t *bytes, const char *what) {
  cis_result rc = CIS_OK;
  int r = sqlite3_step(s);
  if (r == SQLITE_ROW) {
    sqlite3_int64 k = sqlite3_column_int64(s, 0), b = sqlite3_column_int64(s, 1);
    *keys = k > 0 ? (uint64_t)k : 0;
    *bytes = b > 0 ? (uint64_t)b : 0;
  } else if (r != SQLITE_DONE) {
    rc = sq_fail(c, r, what);
  }
  sqlite3_reset(s);
  return rc;
}

static cis_result sq_usage(cis_kv_conn *base, const cis_kv_ns *ns, uint64_t *keys,
                           uint64_t *bytes) {
  sq_conn *c = (sq_conn *)base;
  sqlite3_stmt *s = NULL;
  *keys = *bytes = 0;
  sq_arm(c);
  cis_result rc = sq_ns_stmt(c, ST_USAGE, ns, NULL, 0, &s);
  if (rc != CIS_OK) return rc;
  return step_counts(c, s, keys, bytes, "usage");
}

/* BEGIN IMMEDIATE holds the file's write lock, which already shuts out
 * every other commit: `lock` needs nothing more. */
static cis_result sq_tenant_usage(cis_kv_conn *base, const cis_kv_ns *ns, bool lock, uint64_t *keys,
                                  uint64_t *bytes) {
  (void)lock;
  sq_conn *c = (sq_conn *)base;
  sqlite3_stmt *s = NULL;
  *keys = *bytes = 0;
  sq_arm(c);
  cis_result rc = sq_stmt(c, ST_TENANT_USAGE, &s);
  if (rc != CIS_OK) return rc;
  int r = bind_bytes(s, 1, ns->tenant, ns->tenant_len);
  if (r != SQLITE_OK) return sq_fail(c, r, "bind");
  return step_counts(c, s, keys, bytes, "tenant usage");
}

static cis_result sq_list(cis_kv_conn *base, const cis_kv_ns *ns, const void *prefix,
                          size_t plen, const void *after, size_t alen, size_t limit,
                          cis_kv_key_fn emit, void *ctx) {
  sq_conn *c = (sq_conn *)base;
  sqlite3_stmt *s = NULL;
  uint8_t *upto = plen ? malloc(plen) : NULL;
  if (plen && !upto) return cis__kv_conn_fail(base, CIS_ENOMEM, "out of memory");
  size_t ulen = plen ? cis__kv_prefix_end(prefix, plen, upto) : 0;
  sq_arm(c);
  cis_result rc = sq_ns_stmt(c, ulen ? ST_LIST_UPTO : ST_LIST, ns, NULL, 0, &s);
  if (rc != CIS_OK) goto done;
  int r = bind_bytes(s, 3, prefix, plen);
  if (r == SQLITE_OK) r = bind_bytes(s, 4, after, alen);
  if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 5, limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit);
  if (r == SQLITE_OK && ulen) r = bind_bytes(s, 6, upto, ulen);
  if (r != SQLITE_OK) {
    rc = sq_fail(c, r, "bind");
    goto done;
  }
  while ((r = sqlite3_step(s)) == SQLITE_ROW) {
    const void *k = sqlite3_column_blob(s, 0);
    int n = sqlite3_column_bytes(s, 0);
    rc = emit(ctx, k, (size_t)n);
    if (rc != CIS_OK) break;
  }
  if (rc == CIS_OK && r != SQLITE_DONE) rc = sq_fail(c, r, "list");
  sqlite3_reset(s);
done:
  free(upto);
  return rc;
}

static cis_result sq_namespaces(cis_kv_conn *base, const cis_kv_ns *ns, const void *after, size_t alen,
                                size_t limit, cis_kv_key_fn emit, void *ctx) {
  sq_conn *c = (sq_conn *)base;
  sqlite3_stmt *s = NULL;
  sq_arm(c);
  cis_result rc = sq_stmt(c, after ? ST_NS_AFTER : ST_NS_FROM, &s);
  if (rc != CIS_OK) return rc;
  int r = bind_bytes(s, 1, ns->tenant, ns->tenant_len);
  if (r == SQLITE_OK) r = bind_bytes(s, 2, after, after ? alen : 0);
  if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 3, limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit);
  if (r != SQLITE_OK) return sq_fail(c, r, "bind");
  while ((r = sqlite3_step(s)) == SQLITE_ROW) {
    rc = emit(ctx, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
    if (rc != CIS_OK) break;
  }
  if (rc == CIS_OK && r != SQLITE_DONE) rc = sq_fail(c, r, "namespaces");
  sqlite3_reset(s);
  return rc;
}

/* The first `limit` keys of the namespace, counted, then deleted, the
 * usage row moved by what they held (or gone with the last key): all
 * inside the caller's BEGIN IMMEDIATE, which holds the file. */
static cis_result sq_drop(cis_kv_conn *base, const cis_kv_ns *ns, size_t limit, uint64_t *keys, bool *more) {
  sq_conn *c = (sq_conn *)base;
  sqlite3_stmt *s = NULL;
  *keys = 0;
  *more = false;
  sq_arm(c);
  if (sqlite3_get_autocommit(c->db)) return cis__kv_conn_fail(base, CIS_EKV, "drop: no transaction is open");
  sqlite3_int64 lim = limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit;
  sqlite3_int64 n = 0, bytes = 0;
  cis_result rc = sq_ns_stmt(c, ST_DROP_COUNT, ns, NULL, 0, &s);
  if (rc != CIS_OK) return rc;
  sqlite3_bind_int64(s, 3, lim);
  int r = sqlite3_step(s);
  if (r == SQLITE_ROW) {
    n = sqlite3_column_int64(s, 0);
    bytes = sqlite3_column_int64(s, 1);
  }
  sqlite3_reset(s);
  if (r != SQLITE_ROW) return sq_fail(c, r, "drop");
  if (n > 0) {
    if ((rc = sq_ns_stmt(c, ST_DROP_KEYS, ns, NULL, 0, &s)) != CIS_OK) return rc;
    sqlite3_bind_int64(s, 3, lim);
    if ((rc = sq_run(c, s, "drop")) != CIS_OK) return rc;
    if ((rc = sq_ns_stmt(c, ST_USAGE_SUB, ns, NULL, 0, &s)) != CIS_OK) return rc;
    sqlite3_bind_int64(s, 3, n);
    sqlite3_bind_int64(s, 4, bytes);
    if ((rc = sq_run(c, s, "update usage")) != CIS_OK) return rc;
  }
  if ((rc = sq_ns_stmt(c, ST_DROP_LEFT, ns, NULL, 0, &s)) != CIS_OK) return rc;
  r = sqlite3_step(s);
  sqlite3_reset(s);
  if (r != SQLITE_ROW && r != SQLITE_DONE) return sq_fail(c, r, "drop");
  *more = r == SQLITE_ROW;
  if (!*more) {
    if ((rc = sq_ns_stmt(c, ST_DROP_USAGE, ns, NULL, 0, &s)) != CIS_OK) return rc;
    if ((rc = sq_run(c, s, "drop usage")) != CIS_OK) return rc;
  }
  *keys = (uint64_t)n;
  return CIS_OK;
}

const cis_kv_methods cis__kv_sqlite_methods = {
    .version = CIS_KV_METHODS_VERSION,
    .name = "sqlite",
    .user = NULL,
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .get = sq_get,
    .stat = sq_stat,
    .set = sq_set,
    .del = sq_del,
    .usage = sq_usage,
    .list = sq_list,
    .lock = sq_lock,
    .tenant_usage = sq_tenant_usage,
    .namespaces = sq_namespaces,
    .drop = sq_drop,
};
