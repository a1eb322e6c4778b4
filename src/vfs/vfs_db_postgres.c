/*
 * This file implements the PostgreSQL dialect of the layered database
 * filesystem ("postgres:CONNSTR" or a postgres:// URI) on libpq: the
 * connection, the schema's DDL (a migration of src/db, applied under an
 * advisory lock, so two processes starting together do not race),
 * numbered statements prepared
 * once per connection with typed parameters, and the mapping of SQLSTATEs
 * to the error numbers of cis_vfs.h. The layering logic is vfs_db.c's;
 * see vfs_db_internal.h for the seam.
 *
 * Parameters go out and rows come back in binary: integers as int8 (or
 * int4 for a literal), bytes as bytea, so nothing is escaped or parsed as
 * text.
 *
 * Time: every wait is bounded by the budget arm() set for the method now
 * running. The connection is made with libpq's non-blocking connect and
 * poll(); statements are sent non-blocking and their results awaited with
 * poll(). When time runs out the connection is dropped and the statement
 * fails with CIS_VFS_EDOWN ("deadline exceeded"): a server that does not
 * answer in time is, for the guest, a server that is down. A cancel
 * request goes out from a thread of its own (db/db_conn_pg.h: libpq's
 * PQcancel connects blocking, so against an unreachable host it would
 * outlast the budget by minutes), and the session's statement_timeout
 * (the same budget) ends the statement should it not arrive. A commit's
 * wait first settles what the COMMIT did (common/pgwire.h): EDOWN after
 * it means nothing applied, unless no answer came (then either all or
 * nothing did), and a COMMIT that got in before the cancel succeeds.
 * The waiting itself (connect, poll, draining results)
 * is common/pgwire.c's, shared with the key-value store's PostgreSQL
 * backend; this file maps its outcomes to error numbers.
 *
 * Pipelining: a write transaction runs in libpq's pipeline mode. BEGIN,
 * and every statement whose rows are not wanted (pq_exec: the inserts,
 * updates and deletes of vfs_db.c), are sent without waiting; the next
 * statement whose rows are wanted, the COMMIT or a sync (pq_sync, at the
 * end of every method that leaves the transaction open) sends a sync
 * point and collects every result since the last one, so the first
 * failure among them is that call's failure. A method's changes and the
 * COMMIT thus go in one round trip, and a failure is still reported by
 * the method that caused it, never later: vfs_db.c syncs before a method
 * returns with the transaction open. At most PIPE_MAX statements wait.
 *
 * Lost connections: a connection found broken is dropped; the next
 * statement or transaction outside a transaction reconnects, and a
 * statement that failed outside a transaction because its connection was
 * lost (a server restart) is retried once on the new one. Inside a
 * transaction a lost connection means the transaction is gone: EDOWN, and
 * the caller's change did not happen (or, lost during COMMIT, happened
 * whole).
 *
 * Errors: connect failures, SQLSTATE classes 08 (connection), 58 (system
 * I/O), 53 other than 53100, 57P01-57P03 (shutdown, crash, not yet
 * accepting) and 57014 (cancelled: the deadline) become CIS_VFS_EDOWN;
 * 53100 (disk full) ENOSPC; a malformed connection string EINVAL; libpq
 * missing (loaded on the first connect, not linked) ENOTSUP; the rest
 * EIO. Messages never contain the connection string (it may hold a
 * password).
 */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "common/pgwire.h"
#include "db/db_pg.h"
#include "db/db_conn_pg.h"
#include "vfs/vfs_db_internal.h"

#define DIALECT "postgres"
#define BYTEA_OID 17
#define INT8_OID 20
#define MAX_PARAMS 36                 /* most parameters of any statement */
#define PIPE_MAX 64                   /* most statements sent before a sync point */
#define BLOCKS_TOAST_TARGET "8160"    /* cis_vfs_blocks' toast_tuple_target: the most allowed */
#define HELD_SLOTS 2                  /* statements held for the commit at once (pq_hold) */
#define HELD_ARGS 8                   /* most values of a statement held */
/* Larger byte strings are sent as they come: a large file's blocks are
 * many, its statements' cost small beside their bytes, and each held
 * block is copied once. */
#define HELD_BYTES_MAX (16u * 1024)

/* pgwire's copy of a detail must hold all that fits in a message here. */
_Static_assert(CIS_VFS_ERRMSG_MAX <= CIS__PGWIRE_MSG_MAX, "pgwire's detail is too short");

/* Step 1 of the filesystem's schema: what it made before cis_schema, so
 * a database from before is taken as it is. Each object is made only
 * where it is missing: a role that uses tables an older cis made but
 * does not own them (nor may create in their schema) migrates them as
 * they are. */
static const char schema_v1[] =
    "DO $cis$ DECLARE lt text := current_setting('lock_timeout'); BEGIN"
    " IF to_regclass('cis_vfs_tenants') IS NULL THEN"
    "  CREATE TABLE cis_vfs_tenants ("
    "   tenant_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "   name bytea NOT NULL UNIQUE, block_size bigint NOT NULL, top_layer bigint NOT NULL,"
    "   next_layer bigint NOT NULL, next_ino bigint NOT NULL, next_eid bigint NOT NULL,"
    "   used_nodes bigint, used_bytes bigint);"
    /* The usage columns (vfs_db.c) of tables an older cis made, counted
     * from each tree's rows by the UPDATE below. */
    " ELSIF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('cis_vfs_tenants')"
    "   AND attname = 'used_bytes' AND NOT attisdropped) THEN"
    "  ALTER TABLE cis_vfs_tenants ADD COLUMN IF NOT EXISTS used_nodes bigint,"
    "   ADD COLUMN IF NOT EXISTS used_bytes bigint;"
    " END IF;"
    " IF to_regclass('cis_vfs_layers') IS NULL THEN"
    "  CREATE TABLE cis_vfs_layers ("
    "   tenant_id bigint NOT NULL, layer_id bigint NOT NULL, parent bigint NOT NULL,"
    "   name bytea NOT NULL, created bigint NOT NULL, writable bigint NOT NULL,"
    "   PRIMARY KEY (tenant_id, layer_id));"
    " END IF;"
    " IF to_regclass('cis_vfs_entries') IS NULL THEN"
    "  CREATE TABLE cis_vfs_entries ("
    "   tenant_id bigint NOT NULL, parent_ino bigint NOT NULL, name bytea NOT NULL,"
    "   layer_id bigint NOT NULL, eid bigint NOT NULL, ino bigint NOT NULL, type bigint NOT NULL,"
    "   PRIMARY KEY (tenant_id, parent_ino, name, layer_id));"
    " END IF;"
    /* Listings' index, on expressions that only Q_ENT_LIST names: a generic
     * plan, costed on a young table's statistics, took the older
     * (tenant_id, parent_ino, eid) for lookups by name and scanned the
     * whole directory (or tenant) each time. */
    " IF to_regclass('cis_vfs_entries_list') IS NULL THEN"
    "  CREATE INDEX cis_vfs_entries_list ON cis_vfs_entries ((tenant_id + 0), (parent_ino + 0), eid);"
    " END IF;"
    " IF to_regclass('cis_vfs_entries_eid') IS NOT NULL THEN DROP INDEX cis_vfs_entries_eid; END IF;"
    " IF to_regclass('cis_vfs_inodes') IS NULL THEN"
    "  CREATE TABLE cis_vfs_inodes ("
    "   tenant_id bigint NOT NULL, ino bigint NOT NULL, layer_id bigint NOT NULL,"
    "   type bigint NOT NULL, nlink bigint NOT NULL, size bigint NOT NULL,"
    "   atim bigint NOT NULL, mtim bigint NOT NULL, ctim bigint NOT NULL,"
    "   parent bigint NOT NULL, target bytea,"
    "   PRIMARY KEY (tenant_id, ino, layer_id));"
    " END IF;"
    " IF to_regclass('cis_vfs_blocks') IS NULL THEN"
    "  CREATE TABLE cis_vfs_blocks ("
    "   tenant_id bigint NOT NULL, ino bigint NOT NULL, blk bigint NOT NULL,"
    "   layer_id bigint NOT NULL, data bytea,"
    "   PRIMARY KEY (tenant_id, ino, blk, layer_id));"
    " END IF;"
    /* A row up to the most a page takes stays in the table as it is: a
     * small file's block is neither compressed nor cut into TOAST rows,
     * which cost a create some 4 µs of the server's time on data that
     * does not compress (bench/NOTES.md). Larger blocks are compressed and
     * moved out as before. Rows written before keep their form. Only the
     * owner may tune a table, and the tuning is for speed alone: a role
     * that may not (or a lock held elsewhere, a vacuum's) leaves it. */
    " IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('cis_vfs_blocks')"
    "   AND 'toast_tuple_target=" BLOCKS_TOAST_TARGET "' = ANY (reloptions)) THEN"
    "  BEGIN"
    "   PERFORM set_config('lock_timeout', '100', true);"
    "   ALTER TABLE cis_vfs_blocks SET (toast_tuple_target = " BLOCKS_TOAST_TARGET ");"
    "   PERFORM set_config('lock_timeout', lt, true);"
    "  EXCEPTION WHEN insufficient_privilege OR lock_not_available THEN NULL;"
    "  END;"
    " END IF;"
    " END $cis$;"
    "UPDATE cis_vfs_tenants t SET used_nodes=" CIS__VDB_SCAN_NODES("t.tenant_id")
    ", used_bytes=" CIS__VDB_SCAN_BYTES("t.tenant_id") " WHERE t.used_nodes IS NULL"
    " OR t.used_bytes IS NULL;";

/* The filesystem's schema (db/db.h), applied by each open under the
 * filesystem's advisory lock, so two processes starting together take
 * turns. */
static const cis__db_migration schema_steps[] = {{.version = 1, .sql = schema_v1}};
static const cis__db_schema schema = {.service = "vfs", .pg_lock = 7162999127, .steps = schema_steps, .n = 1};
static const cis__db_pg_config schema_config = {
    .label = "filesystem database", .down = CIS_EVFSDOWN, .schema = &schema};

/* A statement held for the commit (pq_hold). */
typedef struct pq_held {
  bool on;                       /* the slot holds a statement */
  int id;                        /* its number */
  const cis__vdb_sql *sql;       /* its text */
  cis__vdb_val v[HELD_ARGS];     /* its values, byte strings pointing into bytes */
  int n;                         /* values at v */
  uint8_t *bytes;                /* copies of its byte strings (malloc'd, cap bytes) */
  size_t cap;
} pq_held;

/* The statements prepared on a session (db/db_conn.h's cache: a slot is
 * non-NULL once its statement is prepared): the numbered ones
 * (cis_vfs_<i>) and the pipeline's BEGIN and COMMIT (pipe_tx). */
static const cis__db_stmts stmt_family = {.name = "vfs", .count = CIS__VDB_MAX_STMTS};
static const cis__db_stmts tx_family = {.name = "vfs_tx", .count = 2};
static const cis__db_conn_config conn_config = {.appname = "cis-vfs"};

/* The error numbers of pgwire's outcomes: a full disk is the guest's
 * ENOSPC; a timeout, a cancelled statement and every other sign of an
 * unavailable server EDOWN; a connect's own failures as errno says. */
static const cis__db_pg_codes codes = {
    .rejected = EINVAL, .nomem = ENOMEM, .nolib = ENOTSUP, .timeout = CIS_VFS_EDOWN,
    .cancelled = ECANCELED, .down = CIS_VFS_EDOWN, .sql_error = EIO, .sql_down = CIS_VFS_EDOWN,
    .sql_disk_full = ENOSPC, .sql_cancelled = CIS_VFS_EDOWN};

struct cis__vdb_conn {
  cis__db_conn *conn;    /* the session; its handle (PG) is NULL after it was dropped */
  char *conninfo;        /* owned copy of the connection string, for the lease's own */
  char *errmsg;          /* the backend's detail buffer (not owned) */
  void **prepared;       /* stmt_family's slots on conn */
  void **tx_prepared;    /* tx_family's */
  bool in_txn;           /* a transaction is open on pg */
  uint64_t stmt_ms;      /* the session's statement_timeout */
  bool full_sync;        /* synchronous_commit on (else off for the session) */
  uint64_t deadline_ns;  /* cis__now_ns() time the running method must end by */
  bool pipe;             /* the write transaction runs in pipeline mode */
  int queued;            /* pipe: statements sent since the last sync point */
  bool fresh;            /* pipe: BEGIN sent and nothing read yet, so a connection
                            found stale may still be replaced (pq_query) */
  uint64_t trips;        /* waits for the server's answers (round trips), for the tests */
  bool borrowed;         /* conn is the owner's (db/db_txn.h), where our statements stay
                            cached across calls: never begun, committed, rolled back or
                            closed here, dropped only when lost or its state unknown */
  pq_held held[HELD_SLOTS]; /* statements waiting for the commit, in the order kept */
};

/* ------------------------------------------------------------- helpers */

/* The live session's handle; NULL after it was dropped (by us, or by the
 * owner of a borrowed one). */
#define PG(c) cis__db_conn_pg((c)->conn)

/* Copies libpq's message (several lines, trailing newline) as one line. */
static int pg_fail(cis__vdb_conn *c, int err, const char *what, const char *msg) {
  char buf[CIS_VFS_ERRMSG_MAX];
  cis__pgwire_oneline(buf, sizeof buf, msg, "failed");
  return cis__vdb_fail(c->errmsg, DIALECT, err, "%s: %s", what, buf);
}

/* Forgets the connection; the next statement outside a transaction
 * reconnects. */
static void pg_drop(cis__vdb_conn *c) {
  cis__db_conn_drop(c->conn); /* the statements prepared on it with it */
  c->in_txn = false;
  c->pipe = false;
  c->queued = 0;
  c->fresh = false;
}

/* Words pgwire's outcome o as an error number (see the top of the file).
 * A session dropped under it (cis__db_conn_collect's rules) took the
 * transaction and the pipeline with it. */
static int pg_outcome(cis__vdb_conn *c, cis__pgwire_outcome o, const cis__pgwire_report *rep, const char *what) {
  if (!PG(c)) pg_drop(c);
  switch (o) {
  case CIS__PGWIRE_DONE:
    return 0;
  case CIS__PGWIRE_FAILED:
    /* vfs_db.c's check of the tenant's generation (Q_LOCK_CHECK) failed:
     * another writer committed since the caches were last confirmed. */
    if (strstr(rep->sqlmsg, CIS__VDB_GEN_MOVED))
      return cis__vdb_fail(c->errmsg, DIALECT, CIS_VFS_ECONFLICT,
                           "the tenant changed since this mount last saw it");
    return pg_fail(c, cis__db_pg_code(&codes, o, rep->sqlclass), what, rep->sqlmsg);
  case CIS__PGWIRE_TIMEOUT:
    return pg_fail(c, codes.timeout, what,
                   rep->settled ? "deadline exceeded (cancelled: nothing applied)" : "deadline exceeded (connection dropped)");
  case CIS__PGWIRE_CANCELLED:
    return pg_fail(c, codes.cancelled, what,
                   rep->settled ? "the call was cancelled (so was the commit: nothing applied)"
                                : "the call was cancelled (connection dropped)");
  default:
    /* Lost. A failed result before it keeps its error number; the detail
     * is the socket's when the wait broke, else that result's. */
    if (rep->sqlclass == CIS__PGWIRE_SQL_NONE)
      return pg_fail(c, CIS_VFS_EDOWN, rep->what ? rep->what : what, rep->msg);
    if (rep->what)
      return pg_fail(c, cis__db_pg_code(&codes, CIS__PGWIRE_FAILED, rep->sqlclass), rep->what, rep->msg);
    return pg_fail(c, cis__db_pg_code(&codes, CIS__PGWIRE_FAILED, rep->sqlclass), what, rep->sqlmsg);
  }
}

/* A wait for the server's answers begins (a round trip): in pipeline mode
 * it collects everything sent since the last sync point. Whether it is in
 * pipeline mode. */
static bool pg_wait_begins(cis__vdb_conn *c) {
  c->trips++;
  if (c->pipe) {
    c->queued = 0;
    c->fresh = false;
  }
  return c->pipe;
}

/* Waits for every result of what was just sent (`sent`: what the PQsend*
 * call returned), keeping the session's rules (cis__db_conn_collect). The
 * first successful result goes to *out (when out is not NULL; the caller
 * PQclears it); the first failed result decides the return, also when the
 * connection was lost after it. */
static int pg_collect(cis__vdb_conn *c, int sent, PGresult **out, const char *what) {
  cis__pgwire_report rep;
  bool pipe = pg_wait_begins(c);
  return pg_outcome(c, cis__db_conn_collect(c->conn, sent, pipe, c->deadline_ns, out, &rep), &rep, what);
}

/* pg_collect for what ends with a COMMIT (the wait's kind: pgwire.h). */
static int pg_collect_commit(cis__vdb_conn *c, int sent, PGresult **out, const char *what) {
  cis__pgwire_report rep;
  bool pipe = pg_wait_begins(c);
  return pg_outcome(c, cis__db_conn_collect_commit(c->conn, sent, pipe, c->deadline_ns, out, &rep), &rep, what);
}

static int pg_simple(cis__vdb_conn *c, const char *sql, PGresult **out, const char *what);

/* Leaves pipeline mode (nothing may be waiting: after a collect). A
 * connection that will not leave it is dropped. */
static void pipe_leave(cis__vdb_conn *c) {
  if (!c->pipe) return;
  if (PG(c) && c->queued) pg_collect(c, 1, NULL, "rollback");
  c->pipe = false;
  c->fresh = false;
  if (PG(c) && !cis__pq.exitPipelineMode(PG(c))) pg_drop(c);
}

/* A statement libpq could not queue: the connection is gone. */
static int pipe_lost(cis__vdb_conn *c, const char *what) {
  char msg[CIS__PGWIRE_MSG_MAX];
  snprintf(msg, sizeof msg, "%s", cis__pq.errorMessage(PG(c)));
  pg_drop(c);
  return pg_fail(c, CIS_VFS_EDOWN, what, msg);
}

/* Queues a write transaction's BEGIN or COMMIT (`commit`) in pipeline
 * mode, without waiting, as statements prepared on the connection: the
 * server then parses neither each time, some 4 µs of a transaction that
 * holds one small statement (bench/fs/fs_ops.c's commit-floor: 41
 * against 37 µs). They are prepared in the pipeline of the connection's
 * first write transaction, with no round trip of their own. */
static int pipe_tx(cis__vdb_conn *c, bool commit, const char *what) {
  static const char *const name[2] = {"cis_vfs_begin", "cis_vfs_commit"};
  if (!c->tx_prepared[0]) {
    if (!cis__pq.sendPrepare(PG(c), name[0], "BEGIN", 0, NULL) ||
        !cis__pq.sendPrepare(PG(c), name[1], "COMMIT", 0, NULL))
      return pipe_lost(c, what);
    c->queued += 2;
    c->tx_prepared[0] = c->tx_prepared[1] = (void *)name;
  }
  if (cis__pq.sendQueryPrepared(PG(c), name[commit], 0, NULL, NULL, NULL, 1)) {
    c->queued++;
    return 0;
  }
  return pipe_lost(c, what);
}

/* Server notices ("relation already exists, skipping") are not errors; a
 * library has no business printing them. */
static void quiet(void *arg, const char *msg) { (void)arg, (void)msg; }

/* Rolls back what the server still holds open on a live connection (a
 * COMMIT that answered, even with an error, left nothing open). */
static void pg_abort(cis__vdb_conn *c) {
  if (!cis__db_conn_live(c->conn)) return;
  PGTransactionStatusType ts = cis__pq.transactionStatus(PG(c));
  if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) pg_simple(c, "ROLLBACK", NULL, "rollback");
}

/* Runs a simple (possibly multi-statement) query. */
static int pg_simple(cis__vdb_conn *c, const char *sql, PGresult **out, const char *what) {
  return pg_collect(c, cis__pq.sendQuery(PG(c), sql), out, what);
}

/* Connects with libpq's non-blocking connect within the deadline and sets
 * the session's statement_timeout. Errors: EINVAL (malformed connection
 * string), EDOWN, ENOMEM, ENOTSUP (libpq is not installed: the message
 * names its package). */
static int pg_connect(cis__vdb_conn *c) {
  cis__pgwire_report rep;
  pg_drop(c);
  cis__pgwire_outcome o = cis__db_conn_connect(c->conn, c->deadline_ns, &rep);
  if (o != CIS__PGWIRE_DONE)
    return pg_fail(c, cis__db_pg_code(&codes, o, rep.sqlclass), rep.what, rep.msg);
  cis__pq.setNoticeProcessor(PG(c), quiet, NULL);
  char sql[128];
  snprintf(sql, sizeof sql, "SET statement_timeout = %d; SET synchronous_commit = %s",
           cis__ms_int(c->stmt_ms), c->full_sync ? "on" : "off");
  return pg_simple(c, sql, NULL, "connect");
}

/* A connection idle between transactions has nothing to say: data
 * waiting on its socket is the server ending the session (a restart, a
 * crash: its FATAL message or end of file), or a change announced that
 * is no answer of ours. Such a connection is dropped before a write
 * transaction sends BEGIN and its statements without waiting, so that a
 * server restarted between calls costs a reconnect, not the call (no
 * statement of a pipeline can be sent again once it went). One poll,
 * no round trip. */
static void pg_probe(cis__vdb_conn *c) {
  if (!PG(c) || c->borrowed || c->in_txn) return;
  struct pollfd p = {.fd = cis__pq.socket(PG(c)), .events = POLLIN};
  if (p.fd < 0 || poll(&p, 1, 0) != 0) pg_drop(c);
}

/* Makes sure there is a live connection. Inside a transaction a lost
 * connection cannot be repaired: the transaction went with it. */
static int pg_ready(cis__vdb_conn *c, const char *what) {
  if (cis__db_conn_live(c->conn)) return 0;
  if (c->borrowed) {
    pg_drop(c);
    return pg_fail(c, CIS_VFS_EDOWN, what, "the joined transaction's connection was lost");
  }
  if (c->in_txn) {
    pg_drop(c);
    return pg_fail(c, CIS_VFS_EDOWN, what, "connection lost inside the transaction");
  }
  return pg_connect(c);
}

/* ------------------------------------------------------------- methods */

static void pq_arm(cis__vdb_conn *c, uint64_t timeout_ms) {
  c->deadline_ns = cis__deadline_after(timeout_ms, 0);
}

static void pq_close(cis__vdb_conn *c) {
  if (!c) return;
  for (int i = 0; i < HELD_SLOTS; i++) free(c->held[i].bytes);
  if (!c->borrowed) cis__db_conn_close(c->conn);
  free(c->conninfo);
  free(c);
}

static int pq_borrow(cis__db_conn *conn, char *errmsg, cis__vdb_conn **out) {
  *out = NULL;
  if (cis__db_conn_dialect(conn) != CIS__DB_POSTGRES)
    return cis__vdb_fail(errmsg, DIALECT, EINVAL, "borrow: not a PostgreSQL connection");
  cis__vdb_conn *c = calloc(1, sizeof *c);
  if (!c) return cis__vdb_fail(errmsg, DIALECT, ENOMEM, "out of memory");
  c->conn = conn;
  c->errmsg = errmsg;
  c->borrowed = true;
  if (!(c->prepared = cis__db_conn_stmts(conn, &stmt_family)) || !(c->tx_prepared = cis__db_conn_stmts(conn, &tx_family))) {
    free(c);
    return cis__vdb_fail(errmsg, DIALECT, ENOMEM, "out of memory");
  }
  c->in_txn = true; /* the owner's: a lost connection cannot be replaced */
  *out = c;
  return 0;
}

static int pq_open(const char *conninfo, uint64_t timeout_ms, bool full_sync, char *errmsg,
                   cis__vdb_conn **out) {
  *out = NULL;
  cis__vdb_conn *c = calloc(1, sizeof *c);
  if (!c || !(c->conninfo = strdup(conninfo)) || cis__db_conn_new_pg(conninfo, &conn_config, &c->conn) != CIS_OK ||
      !(c->prepared = cis__db_conn_stmts(c->conn, &stmt_family)) ||
      !(c->tx_prepared = cis__db_conn_stmts(c->conn, &tx_family))) {
    if (c) cis__db_conn_close(c->conn);
    if (c) free(c->conninfo);
    free(c);
    return cis__vdb_fail(errmsg, DIALECT, ENOMEM, "out of memory");
  }
  c->errmsg = errmsg;
  c->stmt_ms = timeout_ms;
  c->full_sync = full_sync;
  pq_arm(c, timeout_ms);
  int err = pg_connect(c);
  if (err) goto fail;
  char why[CIS_VFS_ERRMSG_MAX];
  cis_result rc = cis__db_pg_migrate(PG(c), &schema_config, c->deadline_ns, why, sizeof why);
  if (rc != CIS_OK) {
    err = cis__vdb_schema_fail(c->errmsg, DIALECT, rc, why);
    goto fail;
  }
  *out = c;
  return 0;

fail:
  pq_close(c);
  return err;
}

static int pq_begin(cis__vdb_conn *c, bool write) {
  const char *sql = write ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
  if (c->borrowed) return 0; /* inside the owner's transaction */
  if (c->in_txn) return pg_fail(c, EIO, "begin", "a transaction is already open");
  if (write) pg_probe(c);
  int err = pg_ready(c, "begin");
  if (err) return err;
  if (write && cis__pq.enterPipelineMode(PG(c))) {
    /* BEGIN goes with the transaction's first statement (see the top). */
    c->pipe = true;
    c->fresh = true;
    err = pipe_tx(c, false, "begin");
    if (!err) c->in_txn = true;
    return err;
  }
  err = pg_simple(c, sql, NULL, "begin");
  if (err == CIS_VFS_EDOWN && cis__db_conn_retry(c->conn)) {
    /* A stale connection (the server restarted since the last call):
     * nothing was open yet, so one fresh connection may try again. */
    err = pg_connect(c);
    if (!err) err = pg_simple(c, sql, NULL, "begin");
  }
  if (err) {
    pg_abort(c);
    return err;
  }
  c->in_txn = true;
  return 0;
}

static int pq_commit(cis__vdb_conn *c) {
  PGresult *r = NULL;
  if (c->borrowed) return 0; /* the owner's COMMIT makes it durable */
  if (!c->in_txn) return pg_fail(c, EIO, "commit", "no transaction is open");
  int err = pg_ready(c, "commit");
  if (!err && c->pipe) {
    /* With what waits in the pipeline: one round trip. A failure among
     * them skips the COMMIT, which the first failure then stands for. */
    err = pipe_tx(c, true, "commit");
    if (!err) err = pg_collect_commit(c, 1, &r, "commit");
    pipe_leave(c);
  } else if (!err) {
    err = pg_collect_commit(c, cis__pq.sendQuery(PG(c), "COMMIT"), &r, "commit");
  }
  /* COMMIT of a transaction that failed earlier answers ROLLBACK. */
  if (!err && strcmp(cis__pq.cmdStatus(r), "COMMIT") != 0)
    err = pg_fail(c, EIO, "commit", "the transaction was rolled back by the server");
  cis__pq.clear(r);
  c->in_txn = false;
  if (err) pg_abort(c); /* a COMMIT cancelled at the deadline may leave it open */
  return err;
}

static void pq_rollback(cis__vdb_conn *c) {
  for (int i = 0; i < HELD_SLOTS; i++) c->held[i].on = false;
  if (!c->in_txn || c->borrowed) return; /* the owner rolls back */
  c->in_txn = false;
  /* A dropped connection took its transaction with it. */
  if (!cis__db_conn_live(c->conn)) {
    pg_drop(c);
    return;
  }
  pipe_leave(c); /* what still waits is collected (and dropped) first */
  pg_abort(c);
}

/* With synchronous_commit=off a commit returns before the server flushed
 * its WAL. A transaction that commits with it on waits for the flush of
 * everything before it too, but only when it wrote WAL of its own: an id
 * alone (txid_current()) does not count, and such a commit returns
 * without waiting. A transactional logical message is a WAL record any
 * role may write, and touches no table. */
static int pq_flush(cis__vdb_conn *c) {
  if (c->borrowed) return 0; /* nothing of ours committed apart from the owner's */
  if (c->in_txn) return pg_fail(c, EIO, "flush", "a transaction is open");
  int err = pg_ready(c, "flush");
  if (!err)
    err = pg_collect_commit(c,
                            cis__pq.sendQuery(PG(c), "BEGIN; SET LOCAL synchronous_commit = on; "
                                                     "SELECT pg_logical_emit_message(true, 'cis-vfs', 'sync'); "
                                                     "COMMIT"),
                            NULL, "flush");
  if (err) pg_abort(c);
  return err;
}

/* Prepares statement id on this connection: the shared text with ?N
 * rewritten to $N (the table's texts hold no '?' anywhere else), typed
 * from the values of this first call. */
static int pg_prepare(cis__vdb_conn *c, int id, const cis__vdb_sql *sql, const cis__vdb_val *args,
                      int nargs) {
  const char *text = sql->pg_text ? sql->pg_text : sql->text;
  char *t = strdup(text);
  if (!t) return cis__vdb_fail(c->errmsg, DIALECT, ENOMEM, "prepare: out of memory");
  for (char *p = t; *p; p++)
    if (*p == '?') *p = '$';
  Oid types[MAX_PARAMS];
  for (int i = 0; i < nargs; i++) types[i] = args[i].kind == CIS__VDB_INT ? INT8_OID : BYTEA_OID;
  cis__pgwire_report rep;
  bool pipe = pg_wait_begins(c);
  cis__pgwire_outcome o =
      cis__db_conn_prepare(c->conn, &stmt_family, c->prepared, id, sql, t, nargs, types, pipe, c->deadline_ns, &rep);
  free(t);
  return pg_outcome(c, o, &rep, "prepare");
}

/* Sends prepared statement id with args (preparing it first when it is
 * not yet): *sent is what PQsendQueryPrepared returned. */
static int pg_send(cis__vdb_conn *c, int id, const cis__vdb_sql *sql, const cis__vdb_val *args,
                   int nargs, int *sent) {
  int err = pg_ready(c, "query");
  if (err) return err;
  if (!c->prepared[id]) {
    err = pg_prepare(c, id, sql, args, nargs);
    if (err) return err;
  }
  const char *pv[MAX_PARAMS];
  int pl[MAX_PARAMS], pf[MAX_PARAMS];
  char ints[MAX_PARAMS][8];
  for (int i = 0; i < nargs; i++) {
    pf[i] = 1;
    if (args[i].kind == CIS__VDB_INT) {
      uint64_t v = (uint64_t)args[i].i;
      for (int b = 0; b < 8; b++) ints[i][b] = (char)(v >> (56 - 8 * b));
      pv[i] = ints[i];
      pl[i] = 8;
    } else {
      /* libpq wants a non-NULL pointer for an empty, non-NULL value. */
      pv[i] = args[i].p ? (args[i].n ? args[i].p : "") : NULL;
      pl[i] = (int)args[i].n;
    }
  }
  char name[32];
  cis__db_stmt_name(&stmt_family, id, name);
  *sent = cis__pq.sendQueryPrepared(PG(c), name, nargs, pv, pl, pf, 1);
  return 0;
}

/* Runs a prepared statement once; the result goes to rows. */
static int pg_run(cis__vdb_conn *c, int id, const cis__vdb_sql *sql, const cis__vdb_val *args,
                  int nargs, cis__vdb_rows *rows) {
  int sent = 0;
  int err = pg_send(c, id, sql, args, nargs, &sent);
  if (err) return err;
  PGresult *r = NULL;
  err = pg_collect(c, sent, &r, "query");
  if (err) return err;
  rows->c = c;
  rows->impl = r;
  rows->row = -1;
  rows->nrows = cis__pq.ntuples(r);
  return 0;
}

static int pq_query(cis__vdb_conn *c, int id, const cis__vdb_sql *sql, const cis__vdb_val *args,
                    int nargs, cis__vdb_rows *rows) {
  memset(rows, 0, sizeof *rows);
  if (id < 0 || id >= CIS__VDB_MAX_STMTS || nargs > MAX_PARAMS)
    return cis__vdb_fail(c->errmsg, DIALECT, EIO, "statement %d out of range", id);
  bool outside = !c->in_txn, fresh = c->pipe && c->fresh;
  int err = pg_run(c, id, sql, args, nargs, rows);
  if (err == CIS_VFS_EDOWN && fresh && cis__db_conn_retry(c->conn)) {
    /* The transaction's first statement found its connection stale (a
     * server restart): nothing of it happened, so it may begin again, as
     * a BEGIN on its own would have (pq_begin). */
    err = pq_begin(c, true);
    if (!err) err = pg_run(c, id, sql, args, nargs, rows);
  } else if (err == CIS_VFS_EDOWN && outside && cis__db_conn_retry(c->conn)) {
    err = pg_run(c, id, sql, args, nargs, rows);
  }
  return err;
}

static void pq_done(cis__vdb_rows *rows);

/* A statement whose rows are not wanted: in the pipeline of a write
 * transaction it is sent without waiting (its failure comes back from the
 * next pq_query, pq_sync or pq_commit); elsewhere it runs at once. Also
 * the transaction's first statement goes without waiting: pq_begin
 * probed the connection (pg_probe), and vfs_db.c's optimistic begin
 * (BEGIN, the lock with its check, the changes and COMMIT in one round
 * trip) depends on it. */
static int pq_exec(cis__vdb_conn *c, int id, const cis__vdb_sql *sql, const cis__vdb_val *args,
                   int nargs) {
  cis__vdb_rows rows;
  if (!c->pipe) {
    int err = pq_query(c, id, sql, args, nargs, &rows);
    pq_done(&rows);
    return err;
  }
  c->fresh = false; /* a statement waits besides BEGIN: no fresh start any more */
  if (id < 0 || id >= CIS__VDB_MAX_STMTS || nargs > MAX_PARAMS)
    return cis__vdb_fail(c->errmsg, DIALECT, EIO, "statement %d out of range", id);
  int sent = 0;
  int err = pg_send(c, id, sql, args, nargs, &sent);
  if (err) return err;
  if (!sent) return pg_collect(c, sent, NULL, "query"); /* reports the lost connection */
  if (++c->queued >= PIPE_MAX) return pg_collect(c, 1, NULL, "query");
  return 0;
}

/* Waits for what pq_exec sent: 0, or the first failure among it. */
static int pq_sync(cis__vdb_conn *c) {
  return c->pipe && c->queued && PG(c) ? pg_collect(c, 1, NULL, "query") : 0;
}

/* ---- statements held for the commit ----
 *
 * A statement costs the server its own start and end besides its work
 * (some 10 µs), as much as the row it writes. So the last entry and the
 * last block a write transaction writes wait here, unsent, and go with
 * its commit's statement (Q_CTR_NODES: vfs_db.c takes them back for it): a
 * small file's creation is one statement between BEGIN and COMMIT. */

static bool pq_hold(cis__vdb_conn *c, int id, const cis__vdb_sql *sql, const cis__vdb_val *args,
                    int nargs) {
  if (!sql->holdable || nargs > HELD_ARGS) return false;
  pq_held *h = NULL;
  size_t bytes = 0;
  for (int i = 0; i < HELD_SLOTS; i++) {
    if (c->held[i].on && c->held[i].id == id) return false; /* one of each */
    if (!c->held[i].on && !h) h = &c->held[i];
  }
  for (int i = 0; i < nargs; i++)
    if (args[i].kind != CIS__VDB_INT && args[i].p) bytes += args[i].n;
  if (!h || bytes > HELD_BYTES_MAX) return false;
  if (bytes > h->cap) {
    uint8_t *p = realloc(h->bytes, bytes);
    if (!p) return false;
    h->bytes = p;
    h->cap = bytes;
  }
  size_t at = 0;
  for (int i = 0; i < nargs; i++) {
    h->v[i] = args[i];
    if (args[i].kind == CIS__VDB_INT || !args[i].p) continue;
    if (args[i].n) memcpy(h->bytes + at, args[i].p, args[i].n);
    h->v[i].p = args[i].n ? h->bytes + at : (const void *)"";
    at += args[i].n;
  }
  h->on = true;
  h->id = id;
  h->sql = sql;
  h->n = nargs;
  return true;
}

static int pq_exec(cis__vdb_conn *c, int id, const cis__vdb_sql *sql, const cis__vdb_val *args,
                   int nargs);

static int pq_send_held(cis__vdb_conn *c, int *sent) {
  pq_held now[HELD_SLOTS];
  int n = 0;
  for (int i = 0; i < HELD_SLOTS; i++)
    if (c->held[i].on) now[n++] = c->held[i], c->held[i].on = false;
  int err = 0;
  for (int i = 0; i < n && !err; i++) {
    (*sent)++;
    err = pq_exec(c, now[i].id, now[i].sql, now[i].v, now[i].n);
  }
  return err;
}

static const cis__vdb_val *pq_take_held(cis__vdb_conn *c, int id) {
  for (int i = 0; i < HELD_SLOTS; i++)
    if (c->held[i].on && c->held[i].id == id) {
      c->held[i].on = false;
      return c->held[i].v;
    }
  return NULL;
}

static uint64_t pq_trips(cis__vdb_conn *c) { return c->trips; }

static cis__vdb_lease *pq_lease_start(cis__vdb_conn *c, int64_t tenant) {
  return cis__vdb_lease_start(c->conninfo, tenant);
}

static const cis__vdb_lease_methods pq_lease = {
    .start = pq_lease_start,
    .stop = cis__vdb_lease_stop,
    .arm = cis__vdb_lease_arm,
    .trusted = cis__vdb_lease_trusted,
    .confirmed = cis__vdb_lease_confirmed,
    .held = cis__vdb_lease_held,
    .hold = cis__vdb_lease_hold,
    .unhold = cis__vdb_lease_unhold,
    .counts = cis__vdb_lease_counts,
};

static int pq_step(cis__vdb_rows *rows, bool *have) {
  *have = false;
  if (!rows->impl) return 0;
  if (rows->row + 1 < rows->nrows) {
    rows->row++;
    *have = true;
  } else {
    rows->row = rows->nrows;
  }
  return 0;
}

static int64_t pq_col_int(cis__vdb_rows *rows, int i) {
  PGresult *r = rows->impl;
  if (cis__pq.getisnull(r, rows->row, i)) return 0;
  const unsigned char *p = (const unsigned char *)cis__pq.getvalue(r, rows->row, i);
  int n = cis__pq.getlength(r, rows->row, i);
  uint64_t v = 0;
  for (int b = 0; b < n && b < 8; b++) v = v << 8 | p[b];
  /* Sign-extend int2 / int4 (a literal or count is int4 or int8). */
  if (n > 0 && n < 8 && (p[0] & 0x80)) v |= ~0ull << (8 * n);
  return (int64_t)v;
}

static const void *pq_col_blob(cis__vdb_rows *rows, int i, size_t *n) {
  PGresult *r = rows->impl;
  *n = 0;
  if (cis__pq.getisnull(r, rows->row, i)) return NULL;
  *n = (size_t)cis__pq.getlength(r, rows->row, i);
  return cis__pq.getvalue(r, rows->row, i);
}

static void pq_done(cis__vdb_rows *rows) {
  cis__pq.clear(rows->impl);
  rows->impl = NULL;
}

static cis__db_conn *pq_session(cis__vdb_conn *c) { return c->conn; }

const cis__vdb_dialect cis__vdb_postgres = {
    .name = DIALECT,
    .open = pq_open,
    .borrow = pq_borrow,
    .close = pq_close,
    .session = pq_session,
    .arm = pq_arm,
    .begin = pq_begin,
    .commit = pq_commit,
    .rollback = pq_rollback,
    .flush = pq_flush,
    .version = NULL,
    .query = pq_query,
    .exec = pq_exec,
    .sync = pq_sync,
    .hold = pq_hold,
    .send_held = pq_send_held,
    .take_held = pq_take_held,
    .lease = &pq_lease,
    .trips = pq_trips,
    .step = pq_step,
    .col_int = pq_col_int,
    .col_blob = pq_col_blob,
    .done = pq_done,
};
