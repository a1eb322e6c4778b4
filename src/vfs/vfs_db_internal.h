/*
 * This file declares the seam between the layered database filesystem
 * ("Tarbox", vfs_db.c) and its SQL dialects (vfs_db_sqlite.c,
 * vfs_db_postgres.c). The layering logic lives once, in vfs_db.c (which
 * also describes the schema), every statement's text once, in
 * vfs_db_sql.c; a dialect only
 * knows how to connect and create the schema in its own DDL, run a
 * numbered statement with bound values, walk its rows, bracket
 * transactions, and turn its database's failures into the error numbers
 * of include/cis/cis_vfs.h.
 *
 * Statements are written once with SQLite's "?N" placeholders; the
 * PostgreSQL dialect rewrites them to "$N" when it prepares them. Where the
 * two SQLs really differ (DDL, row locks) the statement table carries a
 * PostgreSQL text of its own.
 *
 * Values are 64-bit integers or byte strings (BLOB / bytea), nothing else,
 * so names and data stay binary-safe and neither side has to agree on a
 * text encoding.
 */
#ifndef CIS_VFS_DB_INTERNAL_H
#define CIS_VFS_DB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cis/cis_vfs.h"
#include "db/db.h"
#include "db/db_conn.h"

typedef struct cis__vdb_conn cis__vdb_conn; /* a dialect's connection (opaque here) */
typedef struct cis__vdb_lease cis__vdb_lease; /* a lease on a tenant's tree (see below) */

/* A value bound to a statement parameter. */
typedef enum cis__vdb_kind {
  CIS__VDB_INT = 1,  /* i */
  CIS__VDB_BLOB = 2, /* p, n; p NULL with n 0 is an SQL NULL */
  CIS__VDB_DATA = 3, /* p, n as BLOB: a block of a file, which the dialect may keep
                        outside the row (SQLite's extent file); read back with col_data */
} cis__vdb_kind;

typedef struct cis__vdb_val {
  cis__vdb_kind kind; /* which of the fields below is meant */
  int64_t i;          /* the integer */
  const void *p;      /* the bytes (borrowed for the call); NULL = SQL NULL */
  size_t n;           /* bytes at p */
} cis__vdb_val;

/* One statement of the statement tables (vfs_db_sql.c). */
typedef struct cis__vdb_sql {
  const char *text;    /* shared text, "?N" placeholders */
  const char *pg_text; /* PostgreSQL's own text, or NULL to use `text` */
  bool holdable;       /* its values may wait for the commit (hold) */
} cis__vdb_sql;

/* The rows of a statement being run. A dialect keeps at most one open at a
 * time per connection; the caller ends it with done() before the next
 * statement. */
typedef struct cis__vdb_rows {
  cis__vdb_conn *c; /* the connection running it */
  void *impl;       /* the dialect's handle (sqlite3_stmt *, PGresult *) */
  int row;          /* index of the current row (dialects that fetch all rows) */
  int nrows;        /* rows fetched (same) */
} cis__vdb_rows;

/* A dialect. Every int-returning method returns 0 or an error number of
 * cis_vfs.h: CIS_VFS_EDOWN (unreachable, lost, timed out, cannot write
 * its file), ENOSPC (disk full), ENOMEM, ECANCELED (a wait ended by a
 * cancel of the call the connection serves), EIO (anything else:
 * corrupt data, an SQL error), with the detail written to the errmsg
 * buffer the connection was opened with. */
typedef struct cis__vdb_dialect {
  const char *name; /* "sqlite", "postgres": the prefix of messages */

  /* Connects to `arg` (a path, a connection string) within timeout_ms and
   * creates the schema when it is missing. errmsg (CIS_VFS_ERRMSG_MAX
   * bytes) receives every later failure's detail and must outlive the
   * connection. Besides the errors above, EINVAL for a malformed
   * connection string. On failure *out is NULL and errmsg says why.
   * full_sync: every commit waits until it is on disk (SQLite
   * synchronous=FULL, PostgreSQL synchronous_commit=on); else a commit
   * survives a crash of the process but a power loss (PostgreSQL: a crash
   * of the server) may undo the last ones, never half of one, until
   * flush() (SQLite synchronous=NORMAL in WAL mode, PostgreSQL
   * synchronous_commit=off). */
  int (*open)(const char *arg, uint64_t timeout_ms, bool full_sync, char *errmsg,
              cis__vdb_conn **out);
  /* A connection over the database layer's connection that another
   * service holds a transaction open on (the call's transaction,
   * db/db_txn.h); its statements are cached there. errmsg as for open;
   * EINVAL (another dialect's connection), ENOMEM. Its close frees only
   * what it made. */
  int (*borrow)(cis__db_conn *conn, char *errmsg, cis__vdb_conn **out);
  /* Rolls back whatever is open and frees the connection. */
  void (*close)(cis__vdb_conn *c);
  /* The database layer's connection under c (db/db_conn.h): its own, or
   * the owner's of a borrowed one. */
  cis__db_conn *(*session)(cis__vdb_conn *c);
  /* Starts the time budget of one backend method: every statement until
   * the next arm must finish within timeout_ms of now. */
  void (*arm)(cis__vdb_conn *c, uint64_t timeout_ms);

  /* Opens a transaction. A write transaction takes the database's write
   * lock where the dialect has one (SQLite) and sees the latest data; a
   * read transaction sees one consistent snapshot. A connection found
   * broken here is replaced once, since nothing has happened yet. */
  int (*begin)(cis__vdb_conn *c, bool write);
  /* Commits. After it returns, whatever it returned, no transaction is
   * open. EDOWN from a connection lost during COMMIT means the outcome is
   * unknown: all of it or none of it applied. */
  int (*commit)(cis__vdb_conn *c);
  /* Rolls back the open transaction, if any; cannot fail. */
  void (*rollback)(cis__vdb_conn *c);
  /* Makes every commit so far durable (what fsync promises), outside a
   * transaction. Needed only without full_sync. */
  int (*flush)(cis__vdb_conn *c);
  /* A number that changes whenever another connection commits to the
   * database, read after a statement or a write lock has been taken
   * (SQLite's data version), never 0. NULL for a dialect that cannot
   * tell: then nothing cached may outlive a transaction. */
  uint64_t (*version)(cis__vdb_conn *c);
  /* Optional (NULL: cannot tell). True when, without a statement or a
   * lock, the dialect can tell that no connection (this one included)
   * changed the database since this connection last held its write lock
   * (SQLite: the WAL index header is the one it left); false when
   * something did or it cannot tell. */
  bool (*unchanged)(cis__vdb_conn *c);

  /* Runs statement `id` (text from `sql`, prepared once per connection)
   * with args bound to ?1..?n. Rows, if any, are read with step/col_* and
   * the statement ended with done(), also on error. Outside a transaction
   * a statement that failed because the connection was lost is retried
   * once on a new one. */
  int (*query)(cis__vdb_conn *c, int id, const cis__vdb_sql *sql, const cis__vdb_val *args,
               int nargs, cis__vdb_rows *rows);
  /* Optional (NULL: query() then done() stand in). Runs statement `id`,
   * whose rows are not wanted. Inside a write transaction the dialect may
   * send it without waiting for it: its failure then comes back from the
   * next query(), sync() or commit(), and the transaction cannot go on.
   * vfs_db.c calls sync() before a method returns with the transaction
   * still open, so every failure is reported by the method that made it. */
  int (*exec)(cis__vdb_conn *c, int id, const cis__vdb_sql *sql, const cis__vdb_val *args,
              int nargs);
  /* Optional: waits for everything exec() sent; 0 or the first failure. */
  int (*sync)(cis__vdb_conn *c);
  /* Optional (NULL: nothing is held). Inside a write transaction, keeps
   * the values of a `holdable` statement unsent instead of exec(), so
   * that the commit's statement can carry them: true when kept (at most
   * one of each statement, and none too large to be worth the copy).
   * What is kept is sent by send_held, taken back by take_held, or dropped
   * by rollback(); close frees it. */
  bool (*hold)(cis__vdb_conn *c, int id, const cis__vdb_sql *sql, const cis__vdb_val *args,
               int nargs);
  /* Sends (as exec) what hold kept, in the order it was kept, and forgets
   * it: *sent counts the statements. 0 or the first failure. */
  int (*send_held)(cis__vdb_conn *c, int *sent);
  /* Takes back what hold kept of statement id: its values (as many as it
   * was given, byte strings copied; valid until the next hold), or NULL
   * when none. The caller sends them in a statement of its own. */
  const cis__vdb_val *(*take_held)(cis__vdb_conn *c, int id);
  /* Optional (NULL: nothing to do). Inside a write transaction, gives
   * back the space of the dialect's own storage that no row names (SQLite:
   * the extent file's dead space), for a compaction. */
  int (*reclaim)(cis__vdb_conn *c);
  /* Optional (NULL: none): a lease on a tenant's tree (below). */
  const struct cis__vdb_lease_methods *lease;
  /* Optional: the round trips to the server so far (for the tests). */
  uint64_t (*trips)(cis__vdb_conn *c);
  /* Moves to the next row: *have is false at the end. */
  int (*step)(cis__vdb_rows *r, bool *have);
  /* Column i of the current row as an integer (NULL reads as 0). */
  int64_t (*col_int)(cis__vdb_rows *r, int i);
  /* Column i as bytes: NULL for an SQL NULL, else a pointer valid until
   * the next step/done (non-NULL also when empty). */
  const void *(*col_blob)(cis__vdb_rows *r, int i, size_t *n);
  /* Optional (NULL: col_blob stands in). Column i as a block bound as
   * CIS__VDB_DATA: *p as col_blob gives it (valid until the next
   * step/done). 0, an error, or CIS__VDB_STALE: the row names data a
   * later commit has replaced (a snapshot older than that commit), so the
   * read is to be made again on a fresh one. */
  int (*col_data)(cis__vdb_rows *r, int i, const void **p, size_t *n);
  /* Optional (NULL: col_data and a copy stand in). The same, copied into
   * dst (cap bytes): *n bytes written, 0 for an SQL NULL; EIO when the
   * block holds more than cap. Saves the copy of a block kept outside
   * the row (read straight into dst). */
  int (*col_data_to)(cis__vdb_rows *r, int i, void *dst, size_t cap, size_t *n);
  /* Ends the statement (resets or frees it). Safe on a zeroed rows. */
  void (*done)(cis__vdb_rows *r);
} cis__vdb_dialect;

/* A dialect's lease on a tenant's tree: while the mount holds it no other
 * mount commits to the tenant, so the caches a check confirmed while it
 * was held stay true until it is lost, and the mount's write transactions
 * need not wait for the tenant's row. Every method runs on the mount's
 * thread; their contracts are those of PostgreSQL's, below. */
typedef struct cis__vdb_lease_methods {
  /* Starts the keeper of the lease on the tenant's tree, on a connection
   * of its own to c's database; NULL when it cannot. */
  cis__vdb_lease *(*start)(cis__vdb_conn *c, int64_t tenant);
  void (*stop)(cis__vdb_lease *l);                                     /* _stop */
  void (*arm)(cis__vdb_lease *l, bool take, uint64_t wait_ms, uint64_t call); /* _arm */
  bool (*trusted)(const cis__vdb_lease *l);                            /* _trusted */
  void (*confirmed)(cis__vdb_lease *l);                                /* _confirmed */
  bool (*held)(cis__vdb_lease *l, uint64_t call);                      /* _held */
  bool (*hold)(cis__vdb_lease *l, bool same_epoch);                    /* _hold */
  void (*unhold)(cis__vdb_lease *l);                                   /* _unhold */
  void (*counts)(cis__vdb_lease *l, uint64_t *grants, uint64_t *recalls); /* _counts */
} cis__vdb_lease_methods;

/* PostgreSQL's lease on a tenant's tree (vfs_db_postgres_lease.c): an advisory
 * lock on (CIS__VDB_LEASE_CLASS, the tenant's id modulo 2^31) that a
 * keeper thread holds exclusive on a connection of its own, and every
 * other writer takes shared for its transaction. While the mount holds
 * it, no other mount commits to the tenant.
 *   _start     starts the keeper (NULL when it cannot: the mount works
 *              without);
 *   _arm       a method begins, in public call `call`
 *              (cis__vfs_call_seq()): notes the lease's epoch; with
 *              `take` (no transaction of the mount open), when the lease
 *              is not held and the keeper's backoff allows, has the keeper
 *              try for it and waits for that try (at most wait_ms);
 *   _trusted   the lease was held as the method began, and a check
 *              confirmed the caches in that epoch: they hold without one;
 *   _confirmed a check just confirmed the caches;
 *   _held      the lease is held now (a recall or the end of the keeper's
 *              session waiting on its socket unhandled counts as not;
 *              polled once per call);
 *   _hold      the open write transaction relies on the lease, held in
 *              the epoch the method began in (`same_epoch`) or any, rather
 *              than taking its lock shared: false when it is not held so,
 *              or is relied on already; the keeper gives it back only
 *              after _unhold, called when the transaction ended (a no-op
 *              when nothing relies on it);
 *   _counts    the leases taken and those given back on a recall (tests). */
#define CIS__VDB_LEASE_CLASS 1667855222
cis__vdb_lease *cis__vdb_lease_start(const char *conninfo, int64_t tenant);
void cis__vdb_lease_stop(cis__vdb_lease *l);
void cis__vdb_lease_arm(cis__vdb_lease *l, bool take, uint64_t wait_ms, uint64_t call);
bool cis__vdb_lease_trusted(const cis__vdb_lease *l);
void cis__vdb_lease_confirmed(cis__vdb_lease *l);
bool cis__vdb_lease_held(cis__vdb_lease *l, uint64_t call);
bool cis__vdb_lease_hold(cis__vdb_lease *l, bool same_epoch);
void cis__vdb_lease_unhold(cis__vdb_lease *l);
void cis__vdb_lease_counts(cis__vdb_lease *l, uint64_t *grants, uint64_t *recalls);

/* col_data's "read again" (not an errno). */
#define CIS__VDB_STALE (-2)

extern const cis__vdb_dialect cis__vdb_sqlite;
extern const cis__vdb_dialect cis__vdb_postgres;

/* The dialect of a parsed spec's database (db/db.h). */
static inline const cis__vdb_dialect *cis__vdb_dialect_of(cis__db_dialect d) {
  return d == CIS__DB_SQLITE ? &cis__vdb_sqlite : &cis__vdb_postgres;
}

/* The marker of the error PostgreSQL raises when vfs_db.c's optimistic
 * check of a tenant's generation fails (Q_LOCK_CHECK): the dialect turns
 * that failure into CIS_VFS_ECONFLICT. */
#define CIS__VDB_GEN_MOVED "cis-vfs-generation-moved"

/* What tree `t` (an SQL expression of its tenant_id) holds, read from
 * its rows: the visible nodes of every kind (the root excluded), and the
 * bytes of its visible regular files. What the usage columns of
 * cis_vfs_tenants say without a scan; the dialects' migrations and
 * vfs_db.c fill those columns with it where they are NULL. The _AT forms
 * count the tree as layer `l` (an SQL expression) shows it: only the
 * rows of the layers up to l (a rollback's check before it drops any). */
#define CIS__VDB_VISIBLE_(t, lv, lh)                                                        \
  "FROM cis_vfs_entries v WHERE v.tenant_id=" t lv " AND v.type<>0 AND NOT EXISTS (SELECT " \
  "1 FROM cis_vfs_entries h WHERE h.tenant_id=v.tenant_id AND h.parent_ino=v.parent_ino "   \
  "AND h.name=v.name AND h.layer_id>v.layer_id" lh ")"
#define CIS__VDB_BYTES_(t, lv, lh, li)                                                      \
  "(SELECT CAST(coalesce(sum(CASE WHEN v.type=1 THEN (SELECT i.size FROM cis_vfs_inodes i " \
  "WHERE i.tenant_id=v.tenant_id AND i.ino=v.ino" li " ORDER BY i.layer_id DESC LIMIT 1) "  \
  "ELSE 0 END), 0) AS bigint) " CIS__VDB_VISIBLE_(t, lv, lh) ")"
#define CIS__VDB_VISIBLE_IN(t) CIS__VDB_VISIBLE_(t, "", "")
#define CIS__VDB_SCAN_NODES(t) "(SELECT count(*) " CIS__VDB_VISIBLE_IN(t) ")"
#define CIS__VDB_SCAN_BYTES(t) CIS__VDB_BYTES_(t, "", "", "")
#define CIS__VDB_SCAN_NODES_AT(t, l) \
  "(SELECT count(*) " CIS__VDB_VISIBLE_(t, " AND v.layer_id<=" l, " AND h.layer_id<=" l) ")"
#define CIS__VDB_SCAN_BYTES_AT(t, l) \
  CIS__VDB_BYTES_(t, " AND v.layer_id<=" l, " AND h.layer_id<=" l, " AND i.layer_id<=" l)

/* Number of statements in vfs_db_sql.c's tables, for the dialects' caches. */
#define CIS__VDB_MAX_STMTS 128

/* Writes a formatted detail into errmsg (CIS_VFS_ERRMSG_MAX bytes),
 * prefixed by the dialect's name, and returns err. */
int cis__vdb_fail(char *errmsg, const char *dialect, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A failed migration of the dialect's schema (src/db: rc, its words why)
 * as an error number, the words in errmsg: CIS_VFS_EDOWN (the database
 * out of reach or the deadline), ENOTSUP (a schema newer than this
 * build's), ENOMEM, EINVAL, else EIO. */
int cis__vdb_schema_fail(char *errmsg, const char *dialect, cis_result rc, const char *why);

/* The name of the SQLite VFS that gathers a transaction's WAL writes into
 * one (vfs_db_sqlite_wal.c), registered on first call; NULL when it could
 * not be (then the default VFS serves). */
const char *cis__vdb_sqlite_walbuf(void);

/* Whether the database of `file` (its main file, opened through
 * cis-walbuf) has not been changed since this connection last released
 * the log's write lock: its WAL index header is the same. False when it
 * cannot tell (another VFS, the index not mapped). */
struct sqlite3_file;
bool cis__vdb_sqlite_walbuf_unchanged(struct sqlite3_file *file);

/* Of a log of `frames` frames, those not yet copied into the database
 * file (its WAL index's nBackfill, read without a lock): `frames` when it
 * cannot tell. */
int cis__vdb_sqlite_walbuf_backlog(struct sqlite3_file *file, int frames);

/* The checkpointer of one SQLite connection (vfs_db_sqlite_ckpt.c): a
 * thread of its own copies the log back into the database file, so the
 * connection's commits do not wait for checkpoints. _start takes over the
 * connection's automatic checkpoints (NULL when it cannot: then SQLite's
 * own stay); _stop ends the thread and gives them back, before the
 * connection closes. _settle waits until no checkpointer of the process
 * has a checkpoint asked for or running (for tests that count what a
 * checkpoint does); _runs counts the checkpoints the threads ran. */
struct sqlite3;
typedef struct cis__vdb_ckpt cis__vdb_ckpt;
cis__vdb_ckpt *cis__vdb_sqlite_ckpt_start(struct sqlite3 *db, bool full_sync);
void cis__vdb_sqlite_ckpt_stop(cis__vdb_ckpt *k);
void cis__vdb_sqlite_ckpt_settle(void);
uint64_t cis__vdb_sqlite_ckpt_runs(void);

/* The extent file of one SQLite connection (vfs_db_sqlite_ext.c): where
 * blocks of CIS__VDB_EXT_MIN bytes or more (16 KiB: files from there on
 * wrote and read twice as fast as out of pages) live, beside the database,
 * their rows holding a reference (TEXT). _open sets the pre-update hook
 * that sees references dropped (also on a borrowed connection, which
 * keeps its blocks in the rows) and opens PATH-ext; _stmt_end is told
 * that a statement ended, well or not (what it dropped is then freed, or
 * forgotten); _arm starts a method (a reference that fails its hash twice
 * in one method is damaged, once it may have been moved); _begin marks a
 * write
 * transaction; _wanted says whether a block of n bytes goes to the file
 * now; _put writes it and fills ref; _get reads a reference back (its
 * buffer is valid until the next _get), _read into dst (cap bytes); _precommit, _committed and
 * _rolledback bracket the end of a write transaction (_rolledback gives
 * back what it appended only when `sure` that nothing committed: not
 * after a COMMIT that failed); the disk space of what a commit freed is
 * given back by the connection's next _begin, under the write lock (so
 * nobody reuses it meanwhile), or by _punch_pending in a write
 * transaction of its own as the connection closes (_pending: there is
 * some); _reclaim, inside a write transaction, punches every byte of
 * the file that neither a row nor the free list names; _sync syncs the
 * file; _sync_path syncs the extent file of the database at db_path
 * (the checkpointer's, before its checkpoint). */
typedef struct cis__vdb_ext cis__vdb_ext;
#define CIS__VDB_EXT_MIN (16u * 1024)
#define CIS__VDB_EXT_REF_MAX 64
extern const char cis__vdb_ext_schema[];
int cis__vdb_ext_open(struct sqlite3 *db, bool borrowed, bool full_sync, char *errmsg,
                      cis__vdb_ext **out);
void cis__vdb_ext_stmt_end(cis__vdb_ext *x, bool ok);
void cis__vdb_ext_arm(cis__vdb_ext *x);
void cis__vdb_ext_close(cis__vdb_ext *x);
void cis__vdb_ext_begin(cis__vdb_ext *x);
bool cis__vdb_ext_wanted(const cis__vdb_ext *x, size_t n);
int cis__vdb_ext_put(cis__vdb_ext *x, const void *p, size_t n, char ref[CIS__VDB_EXT_REF_MAX]);
int cis__vdb_ext_get(cis__vdb_ext *x, const char *ref, size_t reflen, const void **p, size_t *n);
int cis__vdb_ext_read(cis__vdb_ext *x, const char *ref, size_t reflen, void *dst, size_t cap,
                      size_t *n);
int cis__vdb_ext_precommit(cis__vdb_ext *x);
void cis__vdb_ext_committed(cis__vdb_ext *x);
bool cis__vdb_ext_pending(const cis__vdb_ext *x);
void cis__vdb_ext_punch_pending(cis__vdb_ext *x);
int cis__vdb_ext_reclaim(cis__vdb_ext *x);
void cis__vdb_ext_rolledback(cis__vdb_ext *x, bool sure);
int cis__vdb_ext_sync(cis__vdb_ext *x);
bool cis__vdb_ext_sync_path(const char *db_path);
/* _read's parse, bounds, pread and hash on an extent file's descriptor
 * alone, for the fuzz target fuzz_vfs_ext: 0, CIS__VDB_STALE (the hash
 * failed) or an error, detailed in errmsg (CIS_VFS_ERRMSG_MAX bytes). */
int cis__vdb_ext_read_fd(int fd, const char *ref, size_t reflen, void *dst, size_t cap,
                         size_t *n, char *errmsg);

#endif /* CIS_VFS_DB_INTERNAL_H */
