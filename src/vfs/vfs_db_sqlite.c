/*
 * This file implements the SQLite dialect of the layered database
 * filesystem ("sqlite:PATH", the embedded default): the connection, the
 * schema's DDL, numbered statements prepared once per connection, and the
 * mapping of SQLite's result codes to the error numbers of cis_vfs.h.
 * The schema is a migration of src/db (cis__db_sqlite_migrate). The
 * layering logic is vfs_db.c's; see vfs_db_internal.h for the seam.
 *
 * The file runs in WAL mode (readers never wait for the writer, so two
 * mounts of different tenants in two threads only take turns to write).
 * Durability is the backend's choice (cis_vfs_db_config.sync):
 * synchronous=FULL syncs the WAL at every commit; synchronous=NORMAL (the
 * default) syncs it only at checkpoints and at flush(), so a crash of the
 * process loses no commit, a power loss the commits since the last sync
 * (whole transactions, never part of one). Write
 * transactions are BEGIN IMMEDIATE: the write lock is taken up front, so
 * two writers never deadlock upgrading read locks, and the lock wait is
 * bounded by the busy timeout.
 *
 * The file is opened through the "cis-walbuf" VFS (vfs_db_sqlite_wal.c):
 * the default VFS, with a transaction's WAL frames written out as one
 * write instead of two per page.
 *
 * Time: the connection is the database layer's (db/db_conn.h), whose busy
 * and progress handlers end a lock wait or a statement at the deadline
 * arm() sets from the method's budget. Its statements are families of
 * the connection's cache: a mount joined to the KV store's transaction
 * keeps its own there, on the owner's connection, from one call to the
 * next.
 *
 * Errors: BUSY / LOCKED / INTERRUPT (the budget ran out; ECANCELED when
 * the call the connection serves was cancelled), CANTOPEN, IOERR,
 * READONLY, PERM, NOLFS, PROTOCOL and AUTH become CIS_VFS_EDOWN: the file
 * cannot be reached or written now, which is what "the database is down"
 * means for an embedded database. FULL becomes ENOSPC, NOMEM ENOMEM,
 * anything else (CORRUPT, NOTADB, an SQL error) EIO.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "db/db_conn.h"
#include "db/db_sqlite.h"
#include "vfs/vfs_db_internal.h"
#include "vfs/vfs_testing.h"

#define DIALECT "sqlite"

/* The schema. Blocks live in a rowid table (large BLOB rows are what a
 * rowid table is for); the small, key-ordered tables are WITHOUT ROWID so
 * a lookup is one b-tree descent. tenant_id is AUTOINCREMENT: a plain
 * INTEGER PRIMARY KEY hands the highest freed id out again, and a tenant
 * removed by hand (its row deleted, its other rows perhaps not) must never
 * lend its rows to the next tenant. */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS cis_vfs_tenants ("
    " tenant_id INTEGER PRIMARY KEY AUTOINCREMENT, name BLOB NOT NULL UNIQUE,"
    " block_size INTEGER NOT NULL,"
    " top_layer INTEGER NOT NULL, next_layer INTEGER NOT NULL, next_ino INTEGER NOT NULL,"
    " next_eid INTEGER NOT NULL, used_nodes INTEGER, used_bytes INTEGER);"
    "CREATE TABLE IF NOT EXISTS cis_vfs_layers ("
    " tenant_id INTEGER NOT NULL, layer_id INTEGER NOT NULL, parent INTEGER NOT NULL,"
    " name BLOB NOT NULL, created INTEGER NOT NULL, writable INTEGER NOT NULL,"
    " PRIMARY KEY (tenant_id, layer_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS cis_vfs_entries ("
    " tenant_id INTEGER NOT NULL, parent_ino INTEGER NOT NULL, name BLOB NOT NULL,"
    " layer_id INTEGER NOT NULL, eid INTEGER NOT NULL, ino INTEGER NOT NULL,"
    " type INTEGER NOT NULL,"
    " PRIMARY KEY (tenant_id, parent_ino, name, layer_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS cis_vfs_entries_eid"
    " ON cis_vfs_entries (tenant_id, parent_ino, eid);"
    "CREATE TABLE IF NOT EXISTS cis_vfs_inodes ("
    " tenant_id INTEGER NOT NULL, ino INTEGER NOT NULL, layer_id INTEGER NOT NULL,"
    " type INTEGER NOT NULL, nlink INTEGER NOT NULL, size INTEGER NOT NULL,"
    " atim INTEGER NOT NULL, mtim INTEGER NOT NULL, ctim INTEGER NOT NULL,"
    " parent INTEGER NOT NULL, target BLOB,"
    " PRIMARY KEY (tenant_id, ino, layer_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS cis_vfs_blocks ("
    " tenant_id INTEGER NOT NULL, ino INTEGER NOT NULL, blk INTEGER NOT NULL,"
    " layer_id INTEGER NOT NULL, data BLOB,"
    " PRIMARY KEY (tenant_id, ino, blk, layer_id));";

/* The tenants' usage columns (vfs_db.c), added to a file an older cis
 * made and counted there from each tree's rows, once. */
static const char usage_sql[] =
    "ALTER TABLE cis_vfs_tenants ADD COLUMN used_nodes INTEGER;"
    "ALTER TABLE cis_vfs_tenants ADD COLUMN used_bytes INTEGER;"
    "UPDATE cis_vfs_tenants SET used_nodes=" CIS__VDB_SCAN_NODES("cis_vfs_tenants.tenant_id")
    ", used_bytes=" CIS__VDB_SCAN_BYTES("cis_vfs_tenants.tenant_id") ";";

/* Step 1 of the schema: what the filesystem made before cis_schema, so a
 * file from before is taken as it is, its usage columns added where an
 * older cis made the tenants' table without them. */
static cis_result schema_v1(void *conn, char *err, size_t cap) {
  sqlite3 *db = conn;
  char *e = NULL;
  int r = sqlite3_exec(db, schema_sql, NULL, NULL, &e);
  if (r == SQLITE_OK) r = sqlite3_exec(db, cis__vdb_ext_schema, NULL, NULL, &e);
  sqlite3_stmt *st = NULL;
  if (r == SQLITE_OK && sqlite3_prepare_v2(db, "SELECT used_bytes FROM cis_vfs_tenants LIMIT 0", -1, &st, NULL))
    r = sqlite3_exec(db, usage_sql, NULL, NULL, &e);
  sqlite3_finalize(st);
  if (r == SQLITE_OK) return CIS_OK;
  snprintf(err, cap, "%s", e ? e : sqlite3_errstr(r));
  sqlite3_free(e);
  return CIS_EIO;
}

/* The filesystem's schema (db/db.h), applied at open under the file's
 * write lock. */
static const cis__db_migration schema_steps[] = {{.version = 1, .fn = schema_v1}};
static const cis__db_schema schema = {.service = "vfs", .steps = schema_steps, .n = 1};

/* The statements on a connection (sqlite3_stmt *, prepared on first use):
 * the numbered ones (vfs_db_sql.c) and the transactions' (TX_*). */
static const cis__db_stmts stmt_family = {.name = "vfs", .count = CIS__VDB_MAX_STMTS};
static const cis__db_stmts tx_family = {.name = "vfs_tx", .count = 4};
static const cis__db_conn_config conn_config = {.sqlite_vfs = NULL}; /* the VFS: sq_open */

struct cis__vdb_conn {
  cis__db_conn *conn;                     /* the session */
  sqlite3 *db;                            /* its handle */
  void **st;                              /* the numbered statements, cached on conn */
  void **tx;                              /* BEGIN IMMEDIATE, BEGIN, COMMIT, ROLLBACK (TX_*),
                                             cached on conn: not parsed again per transaction */
  char *errmsg;                           /* the backend's detail buffer (not owned) */
  bool borrowed;                          /* conn is the KV transaction's (db/db_txn.h): never
                                             begun, committed, rolled back or closed here */
  sqlite3_file *main;                     /* the database file (cis-walbuf's), for unchanged();
                                             NULL: not known */
  cis__vdb_ckpt *ckpt;                    /* its checkpoints' thread; NULL: SQLite's own */
  cis__vdb_ext *ext;                      /* the extent file of its large blocks */
};

enum { TX_BEGIN_W, TX_BEGIN_R, TX_COMMIT, TX_ROLLBACK };

/* Runs one of the transaction statements, prepared once. An SQLite
 * result code. */
static int tx_run(cis__vdb_conn *c, int which) {
  static const char *const text[] = {"BEGIN IMMEDIATE", "BEGIN", "COMMIT", "ROLLBACK"};
  sqlite3_stmt *st;
  int r = cis__db_conn_sqlite_stmt(c->conn, c->tx, which, text[which], &st);
  if (r != SQLITE_OK) return r;
  r = sqlite3_step(st);
  sqlite3_reset(st);
  return r == SQLITE_DONE || r == SQLITE_ROW ? SQLITE_OK : r;
}

/* Maps an SQLite result code to an error number and words the detail. */
static int sq_fail(cis__vdb_conn *c, int rc, const char *what) {
  int err;
  const char *msg = c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
  bool stopped = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_INTERRUPT;
  /* The call the connection serves was cancelled: that ended the wait. */
  if (stopped && c->conn && cis__db_conn_cancelled(c->conn))
    return cis__vdb_fail(c->errmsg, DIALECT, ECANCELED, "%s: the call was cancelled", what);
  switch (rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    err = CIS_VFS_EDOWN;
    msg = "database locked until the deadline";
    break;
  case SQLITE_INTERRUPT:
    err = CIS_VFS_EDOWN;
    msg = "deadline exceeded";
    break;
  case SQLITE_CANTOPEN:
  case SQLITE_IOERR:
  case SQLITE_READONLY:
  case SQLITE_PERM:
  case SQLITE_NOLFS:
  case SQLITE_PROTOCOL:
  case SQLITE_AUTH: err = CIS_VFS_EDOWN; break;
  case SQLITE_FULL: err = ENOSPC; break;
  case SQLITE_NOMEM: err = ENOMEM; break;
  default: err = EIO; break;
  }
  return cis__vdb_fail(c->errmsg, DIALECT, err, "%s: %s", what, msg);
}

/* On a borrowed connection too: the owner arms it again for its own. */
static void sq_arm(cis__vdb_conn *c, uint64_t timeout_ms) {
  cis__db_conn_arm(c->conn, cis__deadline_after(timeout_ms, 0));
  cis__vdb_ext_arm(c->ext);
}

/* Test hook (vfs_testing.h): ROLLBACKs left to fail. */
static atomic_uint rollbacks_to_fail;

void cis__vdb_sqlite_fail_rollbacks(unsigned n) { atomic_store(&rollbacks_to_fail, n); }

static int rollback_run(cis__vdb_conn *c) {
  unsigned n = atomic_load(&rollbacks_to_fail);
  while (n && !atomic_compare_exchange_weak(&rollbacks_to_fail, &n, n - 1)) {
  }
  return n ? SQLITE_IOERR : tx_run(c, TX_ROLLBACK);
}

/* A ROLLBACK that fails may leave its transaction open (and with it the
 * file's write lock): the connection's next begin ends it first. */
static void sq_rollback(cis__vdb_conn *c) {
  if (c->db && !c->borrowed && !sqlite3_get_autocommit(c->db)) rollback_run(c);
  if (!c->borrowed) cis__vdb_ext_rolledback(c->ext, true);
}

static void sq_close(cis__vdb_conn *c) {
  if (!c) return;
  if (c->borrowed) { /* its statements stay cached on the owner's connection */
    cis__vdb_ext_close(c->ext);
    free(c);
    return;
  }
  sq_rollback(c);
  if (cis__vdb_ext_pending(c->ext)) {
    /* The holes of the last commit's frees, which no later transaction of
     * this connection will punch: in a write transaction of their own, if
     * the lock is free within 100 ms (else the extents wait on the free
     * list), the punching's own reads bounded by the same. */
    cis__db_conn_arm(c->conn, cis__deadline_after(100, 0));
    if (tx_run(c, TX_BEGIN_W) == SQLITE_OK) {
      cis__vdb_ext_punch_pending(c->ext);
      tx_run(c, TX_ROLLBACK); /* nothing to commit */
    }
  }
  cis__vdb_ext_close(c->ext);
  cis__vdb_sqlite_ckpt_stop(c->ckpt);
  cis__db_conn_close(c->conn); /* its statements with it */
  free(c);
}

/* Runs one statement that may return a row and ignores the row. */
static int exec1(cis__vdb_conn *c, const char *sql, const char *what, int *first_int) {
  sqlite3_stmt *s = NULL;
  int r = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
  if (r == SQLITE_OK) {
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
      if (first_int) *first_int = sqlite3_column_int(s, 0);
      r = SQLITE_OK;
    } else if (r == SQLITE_DONE) {
      r = SQLITE_OK;
    }
  }
  sqlite3_finalize(s);
  return r == SQLITE_OK ? 0 : sq_fail(c, r, what);
}

/* Opens the file (creating it), switches it to WAL and migrates the
 * schema. Switching to WAL is the first access to the file, so a file
 * that is not a database fails there (EIO). */
static int sq_open(const char *path, uint64_t timeout_ms, bool full_sync, char *errmsg,
                   cis__vdb_conn **out) {
  *out = NULL;
  cis__vdb_conn *c = calloc(1, sizeof *c);
  if (!c) return cis__vdb_fail(errmsg, DIALECT, ENOMEM, "out of memory");
  c->errmsg = errmsg;
  int err = 0;
  /* Through cis-walbuf, when it registered; the folder of the default
   * <home>/fs.db is made by the open. */
  cis__db_conn_config cfg = conn_config;
  cfg.sqlite_vfs = cis__vdb_sqlite_walbuf();
  int r = cis__db_conn_open_sqlite(path, &cfg, cis__deadline_after(timeout_ms, 0), &c->conn);
  c->db = c->conn ? cis__db_conn_sqlite(c->conn) : NULL;
  if (r == SQLITE_OK && (!(c->st = cis__db_conn_stmts(c->conn, &stmt_family)) ||
                         !(c->tx = cis__db_conn_stmts(c->conn, &tx_family))))
    r = SQLITE_NOMEM;
  if (r != SQLITE_OK) {
    err = sq_fail(c, r, "open");
    goto fail;
  }
  sq_arm(c, timeout_ms);
  /* Keep the WAL's -wal and -shm files when the last connection closes
   * (emptied: journal_size_limit below): re-creating them is a write, so a
   * tree closed and opened again on a full disk could not even be read. */
  int persist = 1;
  sqlite3_file_control(c->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  err = cis__vdb_ext_open(c->db, false, full_sync, errmsg, &c->ext);
  if (err) goto fail;
  /* A new file gets 1 KiB pages (SQLite's default is 4): its pages hold
   * metadata and files below 16 KiB, larger blocks living in the extent
   * file, and each commit writes whole pages to the log, which a small
   * file's create fills with some nine (the tenant's row, an entry, its
   * index, two nodes, a block and its key). callgrind of `fs_ops -n 300`:
   * 105.8 M instructions at 4 KiB, 87.1 M at 2 KiB, 84.1 M at 1 KiB;
   * bench/fs.sh's small files 8% faster at 1 KiB than at 2; names of 250
   * bytes (index keys past a 1 KiB page's local room) no slower; a 12 KiB
   * file read back 15% slower (docs/dbfs.md, "Large blocks: the extent
   * file"). A file that exists keeps its size (a no-op there, as in WAL
   * mode). Switching to WAL is then the first access to the file. */
  err = exec1(c, "PRAGMA page_size=1024", "set the page size", NULL);
  if (err) goto fail;
  err = exec1(c, "PRAGMA journal_mode=WAL", "enable WAL", NULL);
  if (err) goto fail;
  err = exec1(c, full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
              "set synchronous", NULL);
  if (err) goto fail;
  /* Tuned for files in blocks (docs/dbfs.md, "Fast paths"). Debian builds
   * SQLite with SECURE_DELETE, which zeroes every page freed, so deleting
   * or overwriting a 64 KiB block wrote its 16 overflow pages again:
   * FAST zeroes only what costs no extra write (freed bytes are never
   * readable through SQL, the only way a tenant reaches the file). A
   * checkpoint (the only fsync under synchronous=NORMAL) every 4096 pages
   * instead of 1000, and a WAL kept up to 16 MiB instead of truncated
   * and grown again at every checkpoint. 8 MiB of page cache (was 2).
   * temp_store=MEMORY: a statement's undo journal in small memory chunks
   * instead of one 64 KiB chunk malloc'd and freed by nearly every
   * statement of a write transaction, which made glibc shrink and grow
   * the heap (brk, fresh pages faulted) twice a statement. */
  static const char *const tuning[] = {
      "PRAGMA secure_delete=FAST", "PRAGMA wal_autocheckpoint=4096",
      "PRAGMA journal_size_limit=16777216", "PRAGMA cache_size=-8192",
      "PRAGMA temp_store=MEMORY"};
  for (size_t i = 0; i < sizeof tuning / sizeof tuning[0] && !err; i++)
    err = exec1(c, tuning[i], "tune", NULL);
  if (err) goto fail;
  if (sqlite3_file_control(c->db, "main", SQLITE_FCNTL_FILE_POINTER, &c->main) != SQLITE_OK)
    c->main = NULL;
  /* Checkpoints off the writer's path (vfs_db_sqlite_ckpt.c); the
   * autocheckpoint above stays when they cannot be. */
  c->ckpt = cis__vdb_sqlite_ckpt_start(c->db, full_sync);
  char why[CIS_VFS_ERRMSG_MAX];
  cis_result rc = cis__db_sqlite_migrate(c->db, &schema, why, sizeof why);
  if (rc != CIS_OK) {
    err = cis__vdb_schema_fail(c->errmsg, DIALECT, rc, why);
    goto fail;
  }
  *out = c;
  return 0;

fail:
  sq_close(c);
  return err;
}

static int sq_borrow(cis__db_conn *conn, char *errmsg, cis__vdb_conn **out) {
  *out = NULL;
  cis__vdb_conn *c = calloc(1, sizeof *c);
  if (!c) return cis__vdb_fail(errmsg, DIALECT, ENOMEM, "out of memory");
  c->conn = conn;
  c->db = cis__db_conn_sqlite(conn);
  c->errmsg = errmsg;
  c->borrowed = true;
  c->st = c->db ? cis__db_conn_stmts(conn, &stmt_family) : NULL;
  if (!c->st) {
    bool sqlite = c->db != NULL;
    free(c);
    return cis__vdb_fail(errmsg, DIALECT, sqlite ? ENOMEM : EINVAL, "borrow: %s",
                         sqlite ? "out of memory" : "not an SQLite connection");
  }
  int err = cis__vdb_ext_open(c->db, true, false, errmsg, &c->ext);
  if (err) {
    free(c);
    return err;
  }
  *out = c;
  return 0;
}

static int sq_begin(cis__vdb_conn *c, bool write) {
  if (c->borrowed) return 0; /* the owner's transaction holds the write lock */
  if (c->db && !sqlite3_get_autocommit(c->db)) {
    /* Left open by a ROLLBACK that failed: BEGIN would fail inside it. */
    int r = rollback_run(c);
    if (r != SQLITE_OK) return sq_fail(c, r, "begin: the rollback of the transaction before");
  }
  int r = tx_run(c, write ? TX_BEGIN_W : TX_BEGIN_R);
  if (r != SQLITE_OK) {
    int err = sq_fail(c, r, "begin");
    sq_rollback(c);
    return err;
  }
  if (write) cis__vdb_ext_begin(c->ext);
  return 0;
}

static int sq_commit(cis__vdb_conn *c) {
  if (c->borrowed) return 0; /* the owner's COMMIT makes it durable */
  int err = cis__vdb_ext_precommit(c->ext);
  if (err) {
    sq_rollback(c);
    return err;
  }
  int r = tx_run(c, TX_COMMIT);
  if (r == SQLITE_OK) {
    cis__vdb_ext_committed(c->ext);
    return 0;
  }
  err = sq_fail(c, r, "commit");
  cis__vdb_ext_rolledback(c->ext, false); /* its outcome not known for sure: nothing given back */
  /* A failed COMMIT may leave the transaction open; the contract is that
   * commit always ends it. */
  sq_rollback(c);
  return err;
}

/* Syncs the WAL file: every frame committed so far, by any connection,
 * is then on disk, which is all a commit under synchronous=FULL adds. */
static int sq_flush(cis__vdb_conn *c) {
  int err = cis__vdb_ext_sync(c->ext); /* first: what the log's commits name */
  if (err) return err;
  sqlite3_file *wal = NULL;
  int r = sqlite3_file_control(c->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
  if (r != SQLITE_OK) return sq_fail(c, r, "flush");
  if (!wal || !wal->pMethods) return 0; /* no WAL open: nothing was written */
  r = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
  return r == SQLITE_OK ? 0 : sq_fail(c, r, "flush");
}

/* The pager's data version: it moves when a commit of this or another
 * connection is seen, which happens when a statement or BEGIN IMMEDIATE
 * takes the read lock. */
static uint64_t sq_version(cis__vdb_conn *c) {
  unsigned v = 0;
  if (sqlite3_file_control(c->db, "main", SQLITE_FCNTL_DATA_VERSION, &v) != SQLITE_OK) return 0;
  return (uint64_t)v + 1; /* never 0, which means "cannot tell" */
}

/* Whether nobody committed since this connection last held the write
 * lock, read from the WAL index in shared memory: no statement, no lock
 * (vfs_db_sqlite_wal.c). A borrowed connection is not ours to judge. */
static bool sq_unchanged(cis__vdb_conn *c) {
  return !c->borrowed && cis__vdb_sqlite_walbuf_unchanged(c->main);
}

/* Binds one value. An empty BLOB is bound as a zero-length BLOB, never as
 * NULL (sqlite3_bind_blob with a NULL pointer binds NULL). A large block
 * goes to the extent file, and its reference is bound (*err: its failure,
 * an error number). */
static int bind_val(cis__vdb_conn *c, sqlite3_stmt *s, int i, const cis__vdb_val *v, int *err) {
  if (v->kind == CIS__VDB_INT) return sqlite3_bind_int64(s, i, v->i);
  if (v->kind == CIS__VDB_DATA && v->p && cis__vdb_ext_wanted(c->ext, v->n)) {
    char ref[CIS__VDB_EXT_REF_MAX];
    if ((*err = cis__vdb_ext_put(c->ext, v->p, v->n, ref))) return SQLITE_ERROR;
    return sqlite3_bind_text(s, i, ref, -1, SQLITE_TRANSIENT);
  }
  if (!v->p) return sqlite3_bind_null(s, i);
  if (v->n == 0) return sqlite3_bind_zeroblob(s, i, 0);
  return sqlite3_bind_blob64(s, i, v->p, (sqlite3_uint64)v->n, SQLITE_STATIC);
}

/* Prepares (once), binds and takes the first step, so a statement without
 * rows has run completely when this returns. rows->nrows remembers
 * whether that first step found a row, rows->row that it is not yet
 * consumed. */
static int sq_query(cis__vdb_conn *c, int id, const cis__vdb_sql *sql, const cis__vdb_val *args,
                    int nargs, cis__vdb_rows *rows) {
  memset(rows, 0, sizeof *rows);
  if (id < 0 || id >= CIS__VDB_MAX_STMTS)
    return cis__vdb_fail(c->errmsg, DIALECT, EIO, "statement %d out of range", id);
  sqlite3_stmt *s;
  int pr = cis__db_conn_sqlite_stmt(c->conn, c->st, id, sql->text, &s);
  if (pr != SQLITE_OK) return sq_fail(c, pr, "prepare");
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  for (int i = 0; i < nargs; i++) {
    int err = 0, r = bind_val(c, s, i + 1, &args[i], &err);
    if (err) return err;
    if (r != SQLITE_OK) return sq_fail(c, r, "bind");
  }
  rows->c = c;
  rows->impl = s;
  int r = sqlite3_step(s);
  if (r == SQLITE_ROW) {
    rows->nrows = 1;
  } else if (r != SQLITE_DONE) {
    int err = sq_fail(c, r, "query");
    sqlite3_reset(s);
    rows->impl = NULL;
    cis__vdb_ext_stmt_end(c->ext, false);
    return err;
  }
  return 0;
}

static int sq_step(cis__vdb_rows *rows, bool *have) {
  sqlite3_stmt *s = rows->impl;
  *have = false;
  if (!s) return 0;
  if (rows->row == 0) { /* the step query() took */
    rows->row = 1;
    *have = rows->nrows == 1;
    return 0;
  }
  if (rows->nrows == 0) return 0;
  int r = sqlite3_step(s);
  if (r == SQLITE_ROW) {
    *have = true;
    return 0;
  }
  rows->nrows = 0;
  if (r == SQLITE_DONE) return 0;
  int err = sq_fail(rows->c, r, "step");
  cis__vdb_ext_stmt_end(rows->c->ext, false);
  return err;
}

static int64_t sq_col_int(cis__vdb_rows *rows, int i) {
  return sqlite3_column_int64(rows->impl, i);
}

static const void *sq_col_blob(cis__vdb_rows *rows, int i, size_t *n) {
  sqlite3_stmt *s = rows->impl;
  *n = 0;
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return NULL;
  const void *p = sqlite3_column_blob(s, i);
  int len = sqlite3_column_bytes(s, i);
  if (!p || len <= 0) return ""; /* empty, but not NULL */
  *n = (size_t)len;
  return p;
}

/* A block: its bytes, from the row or from the extent file its reference
 * names. */
static int sq_col_data(cis__vdb_rows *rows, int i, const void **p, size_t *n) {
  sqlite3_stmt *s = rows->impl;
  if (sqlite3_column_type(s, i) != SQLITE_TEXT) {
    *p = sq_col_blob(rows, i, n);
    return 0;
  }
  const char *ref = (const char *)sqlite3_column_text(s, i);
  if (!ref) {
    *p = NULL;
    *n = 0;
    return sqlite3_errcode(rows->c->db) == SQLITE_NOMEM
               ? cis__vdb_fail(rows->c->errmsg, DIALECT, ENOMEM, "out of memory")
               : cis__vdb_fail(rows->c->errmsg, DIALECT, EIO, "a block's reference is unreadable");
  }
  return cis__vdb_ext_get(rows->c->ext, ref, (size_t)sqlite3_column_bytes(s, i), p, n);
}

static int sq_col_data_to(cis__vdb_rows *rows, int i, void *dst, size_t cap, size_t *n) {
  sqlite3_stmt *s = rows->impl;
  if (sqlite3_column_type(s, i) == SQLITE_TEXT) {
    const char *ref = (const char *)sqlite3_column_text(s, i);
    if (ref) return cis__vdb_ext_read(rows->c->ext, ref, (size_t)sqlite3_column_bytes(s, i), dst,
                                      cap, n);
  }
  const void *p;
  int err = sq_col_data(rows, i, &p, n);
  if (err) return err;
  if (*n > cap)
    return cis__vdb_fail(rows->c->errmsg, DIALECT, EIO, "a block holds %zu bytes, more than a block",
                         *n);
  if (*n) memcpy(dst, p, *n);
  return 0;
}

static int sq_reclaim(cis__vdb_conn *c) {
  return c->borrowed ? 0 : cis__vdb_ext_reclaim(c->ext);
}

static void sq_done(cis__vdb_rows *rows) {
  if (rows->impl) {
    sqlite3_reset(rows->impl);
    /* Its changes stand: the extents it dropped are freed. */
    cis__vdb_ext_stmt_end(rows->c->ext, true);
  }
  rows->impl = NULL;
}

static cis__db_conn *sq_session(cis__vdb_conn *c) { return c->conn; }

const cis__vdb_dialect cis__vdb_sqlite = {
    .name = DIALECT,
    .open = sq_open,
    .borrow = sq_borrow,
    .close = sq_close,
    .session = sq_session,
    .arm = sq_arm,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .flush = sq_flush,
    .version = sq_version,
    .unchanged = sq_unchanged,
    .query = sq_query,
    .step = sq_step,
    .col_int = sq_col_int,
    .col_blob = sq_col_blob,
    .col_data = sq_col_data,
    .col_data_to = sq_col_data_to,
    .reclaim = sq_reclaim,
    .done = sq_done,
};
