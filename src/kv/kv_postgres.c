/*
 * This file implements the PostgreSQL backend of the key-value store
 * ("postgres:CONNSTR", or a postgres:// URI) on libpq. The schema matches
 * the SQLite backend's: table cis_kv keyed by (tenant, skill, key), all
 * bytea, and cis_kv_usage with each namespace's key count and bytes.
 * Opening migrates the schema (src/db: cis__db_pg_migrate, under the
 * store's advisory lock, so two processes starting together do not
 * race).
 *
 * Time: every wait is bounded by the time the store allows for the method
 * now running. The connection is made with libpq's non-blocking connect
 * and poll(); queries are sent non-blocking and their results awaited with
 * poll(). When time runs out a cancel request goes to the server from a
 * thread of its own, the connection is dropped and the method returns
 * CIS_ETIMEOUT at once; the same on a cancel of the call the connection
 * serves (seen within 25 ms), with CIS_ECANCELED. A commit's wait is the
 * exception: its COMMIT is at the server, behind the writes and the
 * namespace's lock they may wait for, so it settles first what the
 * server did (common/pgwire.h): CIS_ETIMEOUT or CIS_ECANCELED once the
 * server stopped it (nothing applied), success when the COMMIT got in
 * before the cancel, CIS_EKVDOWN when no answer came (all or nothing
 * applied). A transaction also sets statement_timeout (SET LOCAL), so
 * the server gives up on its own even if the client vanished.
 * The waiting itself (connect, poll, draining results) is
 * common/pgwire.c's, shared with the filesystem's PostgreSQL dialect;
 * this file maps its outcomes to cis_result codes.
 *
 * Round trips: inside a transaction statements go in libpq's pipeline
 * mode (pg_batch). The transaction's BEGIN goes with its first
 * statement, a write with the namespace's lock when that is missing, an
 * atomic operation's read with the statement that drops its snapshot;
 * writes are not waited for, their answers read with the next statement
 * that waits (the COMMIT at the latest), and the quotas of a commit that
 * may grow the usage are checked by statements sent before its COMMIT
 * (cis__kv_commit_check): a plain commit, its BEGIN, writes, checks and
 * COMMIT, is one round trip. So that a pooled session the server ended
 * is not found lost only with the COMMIT (whose outcome is then
 * unknown), a transaction's begin looks whether the server closed it
 * meanwhile (pg_probe) and connects again if so.
 *
 * Concurrency: inside a transaction, the first write to a namespace takes
 * the namespace's advisory lock (KV_NS_CLASS) and then its usage row (an
 * upsert that makes it), so writers of one namespace take turns and the
 * usage they read is exact; writers of different namespaces do not wait
 * for each other. The lock method (the store's atomic operations) takes
 * the advisory lock alone before anything is read: a call that holds it
 * to its end (an atomic operation, then its guest's work) holds no
 * transaction id and, between statements at read committed, no
 * snapshot, so it keeps no row version of anyone else's from being
 * pruned meanwhile. (A row lock is a write: held for a second it kept
 * every version the other tenants' commits made in that second, and
 * their reads and writes walked them.)
 *
 * Lost connections: a method that finds its connection broken reconnects
 * once. Outside a transaction a read that fails because the connection
 * was lost (a server restart) is retried once on the new connection, and
 * so is a batch that was to begin a transaction and waited for its
 * answers (pg_batch). Inside a transaction
 * a lost connection means the transaction is gone: the method returns
 * CIS_EKVDOWN and the store decides whether to retry.
 *
 * Errors: connect failures, SQLSTATE classes 08 (connection), 53
 * (insufficient resources: disk full, too many connections), 58 (system
 * I/O) and 57P01-57P03 (shutdown, crash, not yet accepting) become
 * CIS_EKVDOWN; 57014 (query cancelled) CIS_ETIMEOUT; a malformed
 * connection string CIS_EINVAL; libpq missing (it is loaded on the first
 * connect, not linked) CIS_EUNSUPPORTED; the rest CIS_EKV. Messages never
 * contain the connection string (it may hold a password).
 */
#include <libpq-fe.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pgwire.h"
#include "db/db_pg.h"
#include "db/db_conn_pg.h"
#include "kv/kv_internal.h"
#include "kv/kv_testing.h"

#define BYTEA_OID 17
#define INT8_OID 20

/* pgwire's copy of a detail must hold all that fits in a message here. */
_Static_assert(CIS_KV_CONN_ERRMSG_MAX <= CIS__PGWIRE_MSG_MAX, "pgwire's detail is too short");

enum {
  S_GET,
  S_STAT,
  S_NS_LOCK,
  S_USAGE_ROW,
  S_NS_LOCK_ROW,
  S_SET,
  S_DEL,
  S_USAGE,
  S_TENANT_USAGE,
  S_TENANT_LOCK,
  S_LIST,
  S_LIST_UPTO,
  S_NS_FROM,
  S_NS_AFTER,
  S_DROP,
  S_DROP_LEFT,
  S_DROP_USAGE,
  S_USAGE_CHECK,
  S_TENANT_CHECK,
  S_COUNT
};

typedef struct pg_stmt {
  const char *sql;  /* its text */
  int nparams;      /* parameters; the first are bytea, a 5th is int8 */
} pg_stmt;

/* The class of the tenant quota's advisory lock (two-key form; the object
 * is a hash of the tenant's name): apart from the filesystem's lease
 * (1667855222) and the schemas' single-key locks. */
#define KV_TENANT_CLASS "1667855223"
/* The class of a namespace's advisory lock (two-key form; the object is a
 * hash of the tenant's and skill's names, the tenant's length first so
 * that no two pairs read alike; two namespaces of one hash only take
 * turns): apart from the filesystem's (1667855222, 1667855224), the
 * tenant quota's and the registry's installs (1667855225). */
#define KV_NS_CLASS "1667855226"

static const pg_stmt stmts[S_COUNT] = {
    [S_GET] = {"SELECT value FROM cis_kv WHERE tenant=$1 AND skill=$2 AND key=$3", 3},
    [S_STAT] = {"SELECT octet_length(value) FROM cis_kv WHERE tenant=$1 AND skill=$2 AND key=$3",
                3},
    [S_NS_LOCK] = {"SELECT pg_advisory_xact_lock(" KV_NS_CLASS
                   ", ('x' || left(md5(int4send(length($1)) || $1 || $2), 8))::bit(32)::int4)",
                   2},
    /* The namespace's usage row, made when missing, which its writes move. */
    [S_USAGE_ROW] = {"INSERT INTO cis_kv_usage(tenant,skill,keys,bytes) VALUES($1,$2,0,0) "
                     "ON CONFLICT (tenant,skill) DO UPDATE SET keys=cis_kv_usage.keys",
                     2},
    /* Both in one round trip, the lock first: the insert's row comes from
     * the lock's. */
    [S_NS_LOCK_ROW] = {"WITH l AS (SELECT pg_advisory_xact_lock(" KV_NS_CLASS
                       ", ('x' || left(md5(int4send(length($1)) || $1 || $2), 8))::bit(32)::int4)) "
                       "INSERT INTO cis_kv_usage(tenant,skill,keys,bytes) SELECT $1,$2,0,0 FROM l "
                       "ON CONFLICT (tenant,skill) DO UPDATE SET keys=cis_kv_usage.keys",
                       2},
    [S_SET] = {"WITH old AS (SELECT octet_length(value) AS n FROM cis_kv "
               "WHERE tenant=$1 AND skill=$2 AND key=$3), "
               "up AS (INSERT INTO cis_kv(tenant,skill,key,value) VALUES($1,$2,$3,$4) "
               "ON CONFLICT (tenant,skill,key) DO UPDATE SET value=EXCLUDED.value) "
               "UPDATE cis_kv_usage SET "
               "keys = keys + CASE WHEN EXISTS (SELECT 1 FROM old) THEN 0 ELSE 1 END, "
               "bytes = bytes + octet_length($4) - COALESCE((SELECT n FROM old), -octet_length($3)) "
               "WHERE tenant=$1 AND skill=$2",
               4},
    [S_DEL] = {"WITH d AS (DELETE FROM cis_kv WHERE tenant=$1 AND skill=$2 AND key=$3 "
               "RETURNING octet_length(key) + octet_length(value) AS n) "
               "UPDATE cis_kv_usage SET keys = keys - (SELECT count(*) FROM d), "
               "bytes = bytes - COALESCE((SELECT sum(n) FROM d), 0) "
               "WHERE tenant=$1 AND skill=$2 RETURNING (SELECT count(*) FROM d)",
               3},
    [S_USAGE] = {"SELECT keys, bytes FROM cis_kv_usage WHERE tenant=$1 AND skill=$2",
                 2},
    [S_TENANT_USAGE] = {"SELECT coalesce(sum(keys),0), coalesce(sum(bytes),0) FROM cis_kv_usage WHERE tenant=$1",
                        1},
    /* The tenant's commits check its total in turn (KV_TENANT_CLASS). */
    [S_TENANT_LOCK] = {"SELECT pg_advisory_xact_lock(" KV_TENANT_CLASS ", ('x' || left(md5($1), 8))::bit(32)::int4)",
                       1},
    [S_LIST] = {"SELECT key FROM cis_kv WHERE tenant=$1 AND skill=$2 AND key>=$3 AND key>$4 "
                "ORDER BY key LIMIT $5",
                5},
    [S_LIST_UPTO] = {"SELECT key FROM cis_kv WHERE tenant=$1 AND skill=$2 AND key>=$3 AND key>$4 "
                     "AND key<$6 ORDER BY key LIMIT $5",
                     6},
    /* A tenant's namespaces: those with a usage row, and those with keys,
     * from $2 on or after it ($3, $4 unused: the limit is the 5th). */
    [S_NS_FROM] = {"SELECT skill FROM cis_kv_usage WHERE tenant=$1 AND skill>=$2 "
                   "UNION SELECT skill FROM cis_kv WHERE tenant=$1 AND skill>=$2 ORDER BY 1 LIMIT $5",
                   5},
    [S_NS_AFTER] = {"SELECT skill FROM cis_kv_usage WHERE tenant=$1 AND skill>$2 "
                    "UNION SELECT skill FROM cis_kv WHERE tenant=$1 AND skill>$2 ORDER BY 1 LIMIT $5",
                    5},
    /* The first $5 keys of a namespace deleted, its usage row moved by
     * what they held; gives the keys deleted. */
    [S_DROP] = {"WITH d AS (DELETE FROM cis_kv WHERE tenant=$1 AND skill=$2 AND key IN "
                "(SELECT key FROM cis_kv WHERE tenant=$1 AND skill=$2 ORDER BY key LIMIT $5) "
                "RETURNING octet_length(key) + octet_length(value) AS n), "
                "u AS (UPDATE cis_kv_usage SET keys = keys - (SELECT count(*) FROM d), "
                "bytes = bytes - COALESCE((SELECT sum(n) FROM d), 0) WHERE tenant=$1 AND skill=$2 RETURNING 1) "
                "SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM u)",
                5},
    [S_DROP_LEFT] = {"SELECT 1 FROM cis_kv WHERE tenant=$1 AND skill=$2 LIMIT 1", 2},
    /* A commit's quota checks (pq_commit): a figure past its limit (its
     * decimal text; empty: not held) divides by zero, which fails the
     * statement and so the COMMIT after it in the pipeline. */
    [S_USAGE_CHECK] = {"SELECT 1 / CASE WHEN (octet_length($3) = 0 OR keys <= convert_from($3, 'UTF8')::numeric) "
                       "AND (octet_length($4) = 0 OR bytes <= convert_from($4, 'UTF8')::numeric) "
                       "THEN 1 ELSE 0 END FROM cis_kv_usage WHERE tenant=$1 AND skill=$2",
                       4},
    [S_TENANT_CHECK] = {"SELECT 1 / CASE WHEN (octet_length($2) = 0 OR coalesce(sum(keys),0) <= "
                        "convert_from($2, 'UTF8')::numeric) AND (octet_length($3) = 0 OR "
                        "coalesce(sum(bytes),0) <= convert_from($3, 'UTF8')::numeric) "
                        "THEN 1 ELSE 0 END FROM cis_kv_usage WHERE tenant=$1",
                        3},
    [S_DROP_USAGE] = {"DELETE FROM cis_kv_usage WHERE tenant=$1 AND skill=$2", 2},
};

/* The store's schema (db/db.h), applied at open under the store's
 * advisory lock, so two processes starting together take turns. Step 1
 * is what the store made before cis_schema (IF NOT EXISTS), so a database
 * from before is taken as it is. */
static const cis__db_migration schema_steps[] = {
    {.version = 1,
     .sql = "CREATE TABLE IF NOT EXISTS cis_kv ("
            " tenant bytea NOT NULL, skill bytea NOT NULL, key bytea NOT NULL, value bytea NOT NULL,"
            " PRIMARY KEY (tenant, skill, key));"
            "CREATE TABLE IF NOT EXISTS cis_kv_usage ("
            " tenant bytea NOT NULL, skill bytea NOT NULL, keys bigint NOT NULL, bytes bigint NOT NULL,"
            " PRIMARY KEY (tenant, skill));"},
    /* Writers of a namespace take turns on its advisory lock (KV_NS_CLASS)
     * from here on, no longer on its usage row alone: a cis of step 1
     * would take an atomic operation's lock where this one's writers do
     * not wait for it, so it refuses the store from here (newer schema).
     * The step changes no table (no DDL: a role that does not own them
     * migrates it too); its version is what tells them apart. */
    {.version = 2, .sql = "SELECT 1"},
};
static const cis__db_schema schema = {.service = "kv", .pg_lock = 7162999125, .steps = schema_steps, .n = 2};
static const cis__db_pg_config schema_config = {.label = "kv database", .down = CIS_EKVDOWN, .schema = &schema};

static const cis__db_stmts stmt_family = {.name = "kv", .count = S_COUNT};

/* The store's codes for pgwire's outcomes: a cancelled statement is our
 * own deadline, and a full disk (class 53) a server that cannot serve. */
static const cis__db_pg_codes codes = {
    .rejected = CIS_EINVAL, .nomem = CIS_ENOMEM, .nolib = CIS_EUNSUPPORTED, .timeout = CIS_ETIMEOUT,
    .cancelled = CIS_ECANCELED, .down = CIS_EKVDOWN, .sql_error = CIS_EKV, .sql_down = CIS_EKVDOWN,
    .sql_disk_full = CIS_EKVDOWN, .sql_cancelled = CIS_ETIMEOUT};
static const cis__db_conn_config conn_config = {.appname = "cis-kv"};

typedef struct pg_conn {
  cis__kv_db_conn base;  /* must stay first: the store sees only its cis_kv_conn; base.db is the
                            session (db/db_conn.h), which a joined filesystem shares */
  void **prepared;       /* slot i non-NULL: stmts[i] is prepared on the session */
  bool in_txn;           /* a transaction is open on pg */
  bool begin_pending;    /* ...but its BEGIN not sent yet: it goes with the first statement */
  int begin_timeout_ms;  /* the transaction's statement_timeout, sent with its BEGIN */
  int queued;            /* statements sent in pipeline mode whose answers are not read yet
                            (pg_batch's deferred writes); the session is in pipeline mode
                            while there are any */
  bool ns_locked;        /* the open transaction holds the lock of namespace `locked` */
  bool ns_row;           /* and has made (and row-locked) its usage row */
  char *locked;          /* tenant, NUL, skill of that namespace (owned) */
  size_t locked_len;     /* bytes in locked */
  uint64_t deadline_ns;  /* cis__now_ns() time the running method must end by */
} pg_conn;

/* ------------------------------------------------------------- helpers */

/* Waits for the server's answers made by every store of the process
 * (connecting aside): what a transaction costs in round trips, for the
 * tests (kv_testing.h). */
static _Atomic uint64_t round_trips;

uint64_t cis__kv_pg_round_trips(void) { return atomic_load(&round_trips); }

/* The live session's handle; NULL after it was dropped. */
#define PG(c) cis__db_conn_pg((c)->base.db)

static void pg_arm(pg_conn *c) {
  c->deadline_ns = cis__deadline_after(c->base.base.timeout_ms, 0);
}

/* Copies libpq's message (several lines, trailing newline) as one line. */
static cis_result pg_fail(pg_conn *c, cis_result code, const char *what, const char *msg) {
  char buf[CIS_KV_CONN_ERRMSG_MAX];
  cis__pgwire_oneline(buf, sizeof buf, msg, cis_strerror(code));
  return cis__kv_conn_fail(&c->base.base, code, "%s: %s", what, buf);
}

/* Forgets the connection; the next method reconnects. */
static void pg_drop(pg_conn *c) {
  if (c->base.db) cis__db_conn_drop(c->base.db); /* its statements with it, ours and a joined filesystem's */
  c->in_txn = c->begin_pending = false;
  c->ns_locked = c->ns_row = false;
  c->queued = 0;
}

/* Words pgwire's outcome o as the store's code. A session dropped under
 * it took the open transaction with it. */
static cis_result pg_outcome(pg_conn *c, cis__pgwire_outcome o, const cis__pgwire_report *rep, const char *what) {
  if (!PG(c)) pg_drop(c);
  cis_result rc = cis__db_pg_code(&codes, o, rep->sqlclass);
  switch (o) {
  case CIS__PGWIRE_DONE:
    return CIS_OK;
  case CIS__PGWIRE_FAILED:
    return pg_fail(c, rc, what, rep->sqlmsg);
  case CIS__PGWIRE_TIMEOUT:
    return pg_fail(c, rc, what, "deadline exceeded (query cancelled)");
  case CIS__PGWIRE_CANCELLED:
    return pg_fail(c, rc, what, "the call was cancelled (query cancelled)");
  default:
    /* Lost (or not made): the connection and whatever it held are gone,
     * which outranks an earlier failed result. */
    return pg_fail(c, rc, rep->what ? rep->what : what, rep->msg);
  }
}

/* Connects with libpq's non-blocking connect, within the deadline.
 * Errors: CIS_EINVAL (malformed connection string), CIS_EKVDOWN,
 * CIS_ETIMEOUT, CIS_ENOMEM, CIS_EUNSUPPORTED (libpq is not installed: the
 * message names its package). */
static cis_result pg_connect(pg_conn *c) {
  cis__pgwire_report rep;
  pg_drop(c);
  cis__pgwire_outcome o = cis__db_conn_connect(c->base.db, c->deadline_ns, &rep);
  if (o == CIS__PGWIRE_DONE) return CIS_OK;
  cis_result rc = cis__db_pg_code(&codes, o, rep.sqlclass);
  return pg_fail(c, rc, rep.what, rep.msg);
}

/* Waits for every result of what was just sent (`sent`: what the PQsend*
 * call returned), keeping the session's rules (cis__db_conn_collect: a
 * timeout or a cancel cancels the query and drops the session, a lost one
 * is dropped), and words the outcome. The first successful result goes to
 * *out (when out is not NULL; the caller PQclears it); the first failed
 * result decides the return code, unless the deadline or the connection
 * went after it. Errors: CIS_ETIMEOUT, CIS_ECANCELED, CIS_EKVDOWN,
 * CIS_EKV. */
static cis_result pg_collect(pg_conn *c, int sent, PGresult **out, const char *what) {
  cis__pgwire_report rep;
  atomic_fetch_add(&round_trips, 1);
  cis__pgwire_outcome o = cis__db_conn_collect(c->base.db, sent, false, c->deadline_ns, out, &rep);
  return pg_outcome(c, o, &rep, what);
}

/* pg_collect for a COMMIT sent alone (the wait's kind: pgwire.h). */
static cis_result pg_collect_commit(pg_conn *c, PGresult **out) {
  cis__pgwire_report rep;
  atomic_fetch_add(&round_trips, 1);
  cis__pgwire_outcome o =
      cis__db_conn_collect_commit(c->base.db, cis__pq.sendQuery(PG(c), "COMMIT"), false, c->deadline_ns, out, &rep);
  return pg_outcome(c, o, &rep, "commit");
}

/* Runs a simple (possibly multi-statement) query. */
static cis_result pg_simple(pg_conn *c, const char *sql, PGresult **out, const char *what) {
  return pg_collect(c, cis__pq.sendQuery(PG(c), sql), out, what);
}

/* Prepares statement id on this connection unless it is already. */
static cis_result pg_prepare(pg_conn *c, int id, const char *what) {
  const pg_stmt *s = &stmts[id];
  if (c->prepared[id]) return CIS_OK;
  atomic_fetch_add(&round_trips, 1);
  Oid types[6];
  cis__pgwire_report rep;
  for (int i = 0; i < s->nparams; i++) types[i] = i == 4 ? INT8_OID : BYTEA_OID;
  cis__pgwire_outcome o = cis__db_conn_prepare(c->base.db, &stmt_family, c->prepared, id, s, s->sql, s->nparams,
                                               types, false, c->deadline_ns, &rep);
  return pg_outcome(c, o, &rep, what);
}

/* A prepared statement's parameters, as libpq takes them. */
typedef struct pg_params {
  const char *v[6];
  int len[6], fmt[6];
  char lim[32];
} pg_params;

/* Sends prepared statement id (prepared: pg_prepare) with vals/lens as
 * its bytea parameters and limit as its 5th, when it has one; results in
 * binary when `binary`. Returns what libpq's send returned. */
static int pg_send(pg_conn *c, int id, const void *const *vals, const size_t *lens, long long limit, bool binary,
                   pg_params *p) {
  const pg_stmt *s = &stmts[id];
  for (int i = 0; i < s->nparams; i++) {
    if (i == 4) {
      snprintf(p->lim, sizeof p->lim, "%lld", limit);
      p->v[i] = p->lim;
      p->len[i] = 0;
      p->fmt[i] = 0;
    } else {
      /* libpq wants a non-NULL pointer for an empty, non-NULL parameter. */
      p->v[i] = lens[i] ? vals[i] : "";
      p->len[i] = (int)lens[i];
      p->fmt[i] = 1;
    }
  }
  char name[32];
  cis__db_stmt_name(&stmt_family, id, name);
  return cis__pq.sendQueryPrepared(PG(c), name, s->nparams, p->v, p->len, p->fmt, binary ? 1 : 0);
}

/* Runs prepared statement id (preparing it on this connection first)
 * outside a transaction. vals/lens are the bytea parameters; limit, when
 * the statement has a 5th parameter, is it. Results come back in binary
 * when `binary`. */
static cis_result pg_exec_alone(pg_conn *c, int id, const void *const *vals, const size_t *lens,
                                long long limit, bool binary, PGresult **out, const char *what) {
  cis_result rc = pg_prepare(c, id, what);
  if (rc != CIS_OK) return rc;
  pg_params p;
  return pg_collect(c, pg_send(c, id, vals, lens, limit, binary, &p), out, what);
}

/* What replaces a read's portal in a transaction that holds a
 * namespace's lock and has written nothing (pg_read). */
static const char DROP_SNAPSHOT[] = "SET LOCAL cis.kv_snapshot = 'none'";

/* A session that would not enter or leave libpq's pipeline mode is
 * dropped, its transaction with it, as a lost one is. */
static cis_result pg_mode_lost(pg_conn *c, const char *what) {
  pg_drop(c);
  return pg_fail(c, CIS_EKVDOWN, what, "the connection would not change libpq's pipeline mode");
}

/* One statement of a batch: prepared statement id and its parameters, as
 * pg_send takes them. */
typedef struct pg_call {
  int id;
  const void *const *vals;
  const size_t *lens;
  long long limit;
  bool binary;
} pg_call;

/* Sends the pipeline's sync point and reads every answer since the last
 * one (sent: whether every send succeeded; kind: what the pipeline ends
 * with, pgwire.h), command keep's first result to *out (-1: the last
 * command's), then leaves pipeline mode. The first
 * failure among them decides; when it is a statement's own (CIS_EKV),
 * *failed (when not NULL) says which command it was, else -1. */
static cis_result pipe_sync(pg_conn *c, int sent, cis__pgwire_kind kind, int keep, PGresult **out, int *failed,
                            const char *what) {
  cis__pgwire_report rep;
  atomic_fetch_add(&round_trips, 1);
  cis__pgwire_outcome o = cis__db_conn_collect_command(c->base.db, sent, keep, kind, c->deadline_ns, out, &rep);
  c->queued = 0;
  /* After the sync point the pipeline is idle, or the session was
   * dropped, its transaction with it. A session still there answered:
   * its BEGIN, if it was sent, ran. */
  cis_result rc = PG(c) && !cis__pq.exitPipelineMode(PG(c)) ? pg_mode_lost(c, what) : pg_outcome(c, o, &rep, what);
  if (failed) *failed = rc == CIS_EKV && rep.sqlclass == CIS__PGWIRE_SQL_ERROR ? rep.sqlcmd : -1;
  if (PG(c)) c->begin_pending = false;
  if (rc != CIS_OK && out && *out) {
    cis__pq.clear(*out);
    *out = NULL;
  }
  return rc;
}

/* pg_batch, once. */
static cis_result batch_once(pg_conn *c, const pg_call *calls, int n, bool unpin, bool defer, PGresult **out,
                             const char *what) {
  cis_result rc = CIS_OK;
  /* A statement is prepared outside the pipeline: what waits in it goes
   * first. */
  bool unprepared = false;
  for (int i = 0; i < n; i++) unprepared = unprepared || !c->prepared[calls[i].id];
  if (unprepared && c->queued && (rc = pipe_sync(c, 1, CIS__PGWIRE_STATEMENT, -1, NULL, NULL, what)) != CIS_OK) return rc;
  for (int i = 0; i < n && rc == CIS_OK; i++) rc = pg_prepare(c, calls[i].id, what);
  if (rc != CIS_OK) return rc;
  /* Every statement's answers are read before a method returns, but for
   * what is queued, so an idle session enters pipeline mode here; one
   * that does not is in a state nothing knows. */
  if (!c->queued && !cis__pq.enterPipelineMode(PG(c))) return pg_mode_lost(c, what);
  int sent = 1, first = c->queued;
  bool began = c->begin_pending;
  if (began) {
    char timeout[64];
    snprintf(timeout, sizeof timeout, "SET LOCAL statement_timeout = %d", c->begin_timeout_ms);
    sent = cis__pq.sendQueryParams(PG(c), "BEGIN", 0, NULL, NULL, NULL, NULL, 0) &&
           cis__pq.sendQueryParams(PG(c), timeout, 0, NULL, NULL, NULL, NULL, 0);
    first += 2;
  }
  pg_params p;
  for (int i = 0; i < n && sent; i++)
    sent = pg_send(c, calls[i].id, calls[i].vals, calls[i].lens, calls[i].limit, calls[i].binary, &p);
  if (unpin && sent) sent = cis__pq.sendQueryParams(PG(c), DROP_SNAPSHOT, 0, NULL, NULL, NULL, NULL, 0);
  if (defer && sent) {
    c->queued = first + n + (unpin ? 1 : 0);
    c->begin_pending = false;
    return CIS_OK;
  }
  return pipe_sync(c, sent, CIS__PGWIRE_STATEMENT, first + n - 1, out, NULL, what);
}

/* Runs calls[0..n) inside the open transaction in one round trip, in
 * libpq's pipeline mode: after the transaction's BEGIN when it is still
 * to be sent, and followed by DROP_SNAPSHOT when `unpin`. The last call's
 * first result goes to *out (when not NULL; the caller PQclears it). With
 * `defer` (no result wanted) the answers are not waited for: they are
 * read, and a failure among them reported, with the next statement that
 * waits (pg_batch or the COMMIT), one round trip for them all. (A pooled
 * session the server ended was dropped at pq_begin, pg_probe.) A batch that was to begin
 * the transaction and found its session lost under it, a pooled session
 * of a server that restarted since (cis__db_conn_retry), runs once more
 * on a new one: nothing of it happened. */
static cis_result pg_batch(pg_conn *c, const pg_call *calls, int n, bool unpin, bool defer, PGresult **out,
                           const char *what) {
  bool began = c->begin_pending;
  cis_result rc = batch_once(c, calls, n, unpin, defer, out, what);
  if (rc == CIS_EKVDOWN && began && cis__db_conn_retry(c->base.db)) {
    rc = pg_connect(c);
    if (rc != CIS_OK) return rc;
    c->in_txn = c->begin_pending = true;
    rc = batch_once(c, calls, n, unpin, defer, out, what);
  }
  return rc;
}

/* Runs prepared statement id: inside a transaction through pg_batch,
 * else alone (pg_exec_alone). */
static cis_result pg_exec(pg_conn *c, int id, const void *const *vals, const size_t *lens,
                          long long limit, bool binary, PGresult **out, const char *what) {
  if (!c->in_txn) return pg_exec_alone(c, id, vals, lens, limit, binary, out, what);
  pg_call call = {id, vals, lens, limit, binary};
  return pg_batch(c, &call, 1, false, false, out, what);
}

/* Makes sure there is a live connection, reconnecting once when it was
 * lost. Inside a transaction a lost connection cannot be repaired. */
static cis_result pg_ready(pg_conn *c, const char *what) {
  if (cis__db_conn_live(c->base.db)) return CIS_OK;
  if (c->in_txn && !c->begin_pending) {
    pg_drop(c);
    return pg_fail(c, CIS_EKVDOWN, what, "connection lost inside the transaction");
  }
  /* A transaction whose BEGIN was not sent yet has nothing to lose. */
  bool pending = c->begin_pending;
  cis_result rc = pg_connect(c);
  if (rc == CIS_OK && pending) c->in_txn = c->begin_pending = true;
  return rc;
}

/* Runs a read (outside or inside a transaction): outside, once more on a
 * new connection when the session was lost under it (the reconnect-once
 * rule, cis__db_conn_retry). Inside a transaction that holds a
 * namespace's lock and has written nothing (an atomic operation's, which
 * stays open while the guest runs on), the read's portal is replaced in
 * the same round trip by one that holds no snapshot: the unnamed portal
 * of the extended protocol keeps its query's snapshot until the next
 * one, and with it the session's xmin, which holds back the pruning of
 * every row version others make meanwhile. A SET takes no snapshot. */
static cis_result pg_read(pg_conn *c, int id, const void *const *vals, const size_t *lens,
                          long long limit, bool binary, PGresult **out, const char *what) {
  pg_arm(c);
  cis_result rc = pg_ready(c, what);
  if (rc != CIS_OK) return rc;
  if (c->in_txn) {
    pg_call call = {id, vals, lens, limit, binary};
    return pg_batch(c, &call, 1, c->ns_locked && !c->ns_row, false, out, what);
  }
  rc = pg_exec_alone(c, id, vals, lens, limit, binary, out, what);
  if (rc == CIS_EKVDOWN && cis__db_conn_retry(c->base.db)) {
    rc = pg_connect(c);
    if (rc == CIS_OK) rc = pg_exec_alone(c, id, vals, lens, limit, binary, out, what);
  }
  return rc;
}

/* ------------------------------------------------------------- methods */

static void pq_close(cis_kv_conn *base) {
  pg_conn *c = (pg_conn *)base;
  if (!c) return;
  cis__db_conn_close(c->base.db);
  free(c->locked);
  free(c);
}

/* Connects and migrates the schema. Errors: CIS_EINVAL, CIS_EKVDOWN,
 * CIS_ETIMEOUT, CIS_EKV, CIS_ENOMEM, CIS_EUNSUPPORTED (no libpq; the
 * database's schema is newer than this build's); *out is then the
 * half-made connection holding why. */
static cis_result pq_open(const cis_kv_methods *m, const char *conninfo, uint64_t timeout_ms,
                          cis_kv_conn **out) {
  (void)m;
  cis_result rc = CIS_OK;
  pg_conn *c = calloc(1, sizeof *c);
  *out = c ? &c->base.base : NULL;
  if (!c) return CIS_ENOMEM;
  c->base.base.timeout_ms = timeout_ms;
  if (cis__db_conn_new_pg(conninfo, &conn_config, &c->base.db) != CIS_OK ||
      !(c->prepared = cis__db_conn_stmts(c->base.db, &stmt_family)))
    return cis__kv_conn_fail(&c->base.base, CIS_ENOMEM, "out of memory");
  pg_arm(c);
  CIS_TRY(pg_connect(c));
  char why[CIS_KV_CONN_ERRMSG_MAX];
  if ((rc = cis__db_pg_migrate(PG(c), &schema_config, c->deadline_ns, why, sizeof why)) != CIS_OK) {
    if (rc == CIS_EIO) rc = CIS_EKV; /* a migration or its reading failed */
    cis__kv_conn_fail(&c->base.base, rc, "%s", why);
  }
fail:
  return rc;
}

/* Drops a session the server ended while it was idle (a restart or a
 * shutdown sends each session its end, then closes it), so that pg_ready
 * makes a new one: one poll() that does not wait. A transaction's
 * statements then go without waiting for the answers of its first (a
 * session lost under them after this shows with its COMMIT, whose outcome
 * is then unknown, as for any loss during a COMMIT). */
static void pg_probe(pg_conn *c) {
  PGconn *pg = PG(c);
  if (!pg || c->queued) return;
  struct pollfd p = {.fd = cis__pq.socket(pg), .events = POLLIN | POLLRDHUP};
  if (p.fd < 0 || poll(&p, 1, 0) <= 0) return; /* nothing came: up, as far as can be told */
  /* Something came to an idle session: its end, or a notice (kept). */
  if ((p.revents & (POLLHUP | POLLRDHUP | POLLERR)) || !cis__pq.consumeInput(pg) ||
      cis__pq.status(pg) != CONNECTION_OK)
    pg_drop(c);
}

/* The transaction's BEGIN and its statement_timeout (the server-side
 * limit that backs up the client's own deadline) go with its first
 * statement (pg_batch): a transaction costs no round trip of its own,
 * and one that runs no statement none at all. */
static cis_result pq_begin(cis_kv_conn *base) {
  pg_conn *c = (pg_conn *)base;
  pg_arm(c);
  if (c->in_txn) return pg_fail(c, CIS_EKV, "begin", "a transaction is already open");
  pg_probe(c);
  cis_result rc = pg_ready(c, "begin");
  if (rc != CIS_OK) return rc;
  c->in_txn = c->begin_pending = true;
  c->begin_timeout_ms = cis__ms_int(base->timeout_ms);
  c->ns_locked = c->ns_row = false;
  return CIS_OK;
}

/* Queues check's statements (pq_commit) without waiting: the namespace's
 * figures, and the tenant's under its lock (taken last, as at a usage
 * read). *at: the first one's place among the queued commands, *n: how
 * many. */
static cis_result queue_checks(pg_conn *c, const cis__kv_commit_check *check, int *at, int *n) {
  char mk[24] = "", mb[24] = "", tk[24] = "", tb[24] = "";
  if (check->max_keys != UINT64_MAX) snprintf(mk, sizeof mk, "%llu", (unsigned long long)check->max_keys);
  if (check->max_bytes != UINT64_MAX) snprintf(mb, sizeof mb, "%llu", (unsigned long long)check->max_bytes);
  if (check->tenant_max_keys != UINT64_MAX)
    snprintf(tk, sizeof tk, "%llu", (unsigned long long)check->tenant_max_keys);
  if (check->tenant_max_bytes != UINT64_MAX)
    snprintf(tb, sizeof tb, "%llu", (unsigned long long)check->tenant_max_bytes);
  const cis_kv_ns *ns = check->ns;
  bool tenant = check->tenant_max_keys != UINT64_MAX || check->tenant_max_bytes != UINT64_MAX;
  /* Prepared outside the pipeline, as in batch_once, but before their
   * place is known. */
  bool unprepared = !c->prepared[S_USAGE_CHECK] ||
                    (tenant && (!c->prepared[S_TENANT_LOCK] || !c->prepared[S_TENANT_CHECK]));
  if (unprepared && c->queued) {
    cis_result rc = pipe_sync(c, 1, CIS__PGWIRE_STATEMENT, -1, NULL, NULL, "commit");
    if (rc != CIS_OK) return rc;
  }
  *at = c->queued;
  const void *v[4] = {ns->tenant, ns->skill, mk, mb};
  size_t l[4] = {ns->tenant_len, ns->skill_len, strlen(mk), strlen(mb)};
  const void *tv[3] = {ns->tenant, tk, tb};
  size_t tl[3] = {ns->tenant_len, strlen(tk), strlen(tb)};
  pg_call calls[3];
  *n = 0;
  calls[(*n)++] = (pg_call){S_USAGE_CHECK, v, l, 0, false};
  if (tenant) {
    calls[(*n)++] = (pg_call){S_TENANT_LOCK, tv, tl, 0, false};
    calls[(*n)++] = (pg_call){S_TENANT_CHECK, tv, tl, 0, false};
  }
  return pg_batch(c, calls, *n, false, true, NULL, "commit");
}

static cis_result pq_commit(cis_kv_conn *base) {
  pg_conn *c = (pg_conn *)base;
  PGresult *r = NULL;
  pg_arm(c);
  if (!c->in_txn) return pg_fail(c, CIS_EKV, "commit", "no transaction is open");
  if (c->begin_pending) { /* nothing was sent */
    c->in_txn = c->begin_pending = false;
    return CIS_OK;
  }
  cis_result rc = pg_ready(c, "commit");
  int checks = -1, nchecks = 0; /* where the quota checks are in the pipeline, how many */
  if (rc == CIS_OK && c->base.check.on) {
    rc = queue_checks(c, &c->base.check, &checks, &nchecks);
    /* Not queued: the transaction ends here. */
    if (rc != CIS_OK && rc != CIS_ETIMEOUT && PG(c)) pg_simple(c, "ROLLBACK", NULL, "rollback");
  }
  if (rc == CIS_OK && c->queued) {
    /* The deferred writes' and checks' answers come with the COMMIT's;
     * one that failed skips it (the pipeline aborts), leaving the
     * transaction open: rolled back below. */
    int keep = c->queued, failed = -1;
    rc = pipe_sync(c, cis__pq.sendQueryParams(PG(c), "COMMIT", 0, NULL, NULL, NULL, NULL, 0), CIS__PGWIRE_COMMIT,
                   keep, &r, &failed, "commit");
    if (rc != CIS_OK && rc != CIS_ETIMEOUT && PG(c)) pg_simple(c, "ROLLBACK", NULL, "rollback");
    if (failed >= checks && failed < checks + nchecks)
      rc = pg_fail(c, CIS_EKVLIMIT, "commit", "the writes would leave a quota exceeded; nothing was applied");
  } else if (rc == CIS_OK) {
    rc = pg_collect_commit(c, &r);
  }
  /* COMMIT of a transaction that failed earlier answers ROLLBACK. */
  if (rc == CIS_OK && strcmp(cis__pq.cmdStatus(r), "COMMIT") != 0)
    rc = pg_fail(c, CIS_EKV, "commit", "the transaction was rolled back by the server");
  cis__pq.clear(r);
  if (rc == CIS_ETIMEOUT && PG(c)) pg_simple(c, "ROLLBACK", NULL, "rollback");
  c->in_txn = false;
  c->ns_locked = c->ns_row = false;
  return rc;
}

static cis_result pq_rollback(cis_kv_conn *base) {
  pg_conn *c = (pg_conn *)base;
  pg_arm(c);
  c->ns_locked = c->ns_row = false;
  if (!c->in_txn) return CIS_OK;
  bool sent = !c->begin_pending;
  c->in_txn = c->begin_pending = false;
  if (!sent) return CIS_OK;
  /* Deferred writes' answers first (a failure among them is moot now). */
  if (c->queued && PG(c)) pipe_sync(c, 1, CIS__PGWIRE_STATEMENT, -1, NULL, NULL, "rollback");
  /* A dropped connection took its transaction with it. */
  if (!cis__db_conn_live(c->base.db)) {
    pg_drop(c);
    return CIS_OK;
  }
  return pg_simple(c, "ROLLBACK", NULL, "rollback");
}

static cis_result pq_get(cis_kv_conn *base, const cis_kv_ns *ns, const void *key, size_t klen,
                         void **val, size_t *vlen) {
  pg_conn *c = (pg_conn *)base;
  PGresult *r = NULL;
  const void *v[3] = {ns->tenant, ns->skill, key};
  size_t l[3] = {ns->tenant_len, ns->skill_len, klen};
  *val = NULL;
  *vlen = 0;
  cis_result rc = pg_read(c, S_GET, v, l, 0, true, &r, "get");
  if (rc != CIS_OK) return rc;
  if (cis__pq.ntuples(r) == 0) {
    cis__pq.clear(r);
    return CIS_ENOTFOUND;
  }
  int n = cis__pq.getlength(r, 0, 0);
  if (n > 0) {
    *val = malloc((size_t)n);
    if (!*val) {
      cis__pq.clear(r);
      return cis__kv_conn_fail(base, CIS_ENOMEM, "get: out of memory");
    }
    memcpy(*val, cis__pq.getvalue(r, 0, 0), (size_t)n);
    *vlen = (size_t)n;
  }
  cis__pq.clear(r);
  return CIS_OK;
}

static cis_result pq_stat(cis_kv_conn *base, const cis_kv_ns *ns, const void *key, size_t klen,
                          uint64_t *vlen) {
  pg_conn *c = (pg_conn *)base;
  PGresult *r = NULL;
  const void *v[3] = {ns->tenant, ns->skill, key};
  size_t l[3] = {ns->tenant_len, ns->skill_len, klen};
  *vlen = 0;
  cis_result rc = pg_read(c, S_STAT, v, l, 0, false, &r, "stat");
  if (rc != CIS_OK) return rc;
  if (cis__pq.ntuples(r) == 0) rc = CIS_ENOTFOUND;
  else *vlen = strtoull(cis__pq.getvalue(r, 0, 0), NULL, 10);
  cis__pq.clear(r);
  return rc;
}

/* Whether the open transaction holds ns's lock (lock_ns). */
static bool holds_ns(const pg_conn *c, const cis_kv_ns *ns) {
  size_t n = ns->tenant_len + 1 + ns->skill_len;
  return c->ns_locked && c->locked_len == n && memcmp(c->locked, ns->tenant, ns->tenant_len) == 0 &&
         memcmp(c->locked + ns->tenant_len + 1, ns->skill, ns->skill_len) == 0;
}

/* The statement that takes ns's advisory lock for the open transaction
 * (once), and with `row` its usage row too (made when missing), in one
 * statement; -1 when the transaction holds what it needs. */
static int lock_ns_stmt(const pg_conn *c, const cis_kv_ns *ns, bool row) {
  bool held = holds_ns(c, ns);
  if (held && (c->ns_row || !row)) return -1;
  return held ? S_USAGE_ROW : row ? S_NS_LOCK_ROW : S_NS_LOCK;
}

/* Records that statement id of lock_ns_stmt ran. */
static void lock_ns_taken(pg_conn *c, const cis_kv_ns *ns, int id) {
  if (id == S_USAGE_ROW) {
    c->ns_row = true;
    return;
  }
  c->ns_locked = c->ns_row = false;
  size_t n = ns->tenant_len + 1 + ns->skill_len;
  char *copy = malloc(n);
  if (copy) {
    memcpy(copy, ns->tenant, ns->tenant_len);
    copy[ns->tenant_len] = '\0';
    memcpy(copy + ns->tenant_len + 1, ns->skill, ns->skill_len);
    free(c->locked);
    c->locked = copy;
    c->locked_len = n;
    c->ns_locked = true;
    c->ns_row = id == S_NS_LOCK_ROW;
  }
}

/* Takes what lock_ns_stmt says is missing, alone. */
static cis_result lock_ns(pg_conn *c, const cis_kv_ns *ns, bool row, const char *what) {
  int id = lock_ns_stmt(c, ns, row);
  if (id < 0) return CIS_OK;
  const void *v[2] = {ns->tenant, ns->skill};
  size_t l[2] = {ns->tenant_len, ns->skill_len};
  cis_result rc = pg_exec(c, id, v, l, 0, false, NULL, what);
  if (rc == CIS_OK) lock_ns_taken(c, ns, id);
  return rc;
}

/* Runs write statement `call` of namespace ns inside the open
 * transaction, in one round trip with what lock_ns_stmt says is missing
 * (the transaction's BEGIN too, pg_batch). The write's result to *out. */
static cis_result write_locked(pg_conn *c, const cis_kv_ns *ns, pg_call call, PGresult **out, const char *what) {
  pg_arm(c);
  if (!c->in_txn) return pg_fail(c, CIS_EKV, what, "no transaction is open");
  cis_result rc = pg_ready(c, what);
  if (rc != CIS_OK) return rc;
  const void *v[2] = {ns->tenant, ns->skill};
  size_t l[2] = {ns->tenant_len, ns->skill_len};
  pg_call calls[2];
  int n = 0, lock = lock_ns_stmt(c, ns, true);
  if (lock >= 0) calls[n++] = (pg_call){lock, v, l, 0, false};
  calls[n++] = call;
  rc = pg_batch(c, calls, n, false, !out, out, what);
  if (rc == CIS_OK && lock >= 0) lock_ns_taken(c, ns, lock);
  return rc;
}

/* Shared start of set, del and drop: inside a transaction, connected,
 * the namespace locked and its usage row made. */
static cis_result write_start(pg_conn *c, const cis_kv_ns *ns, const char *what) {
  pg_arm(c);
  if (!c->in_txn) return pg_fail(c, CIS_EKV, what, "no transaction is open");
  cis_result rc = pg_ready(c, what);
  return rc == CIS_OK ? lock_ns(c, ns, true, what) : rc;
}

/* The namespace's write lock is its advisory lock, which every write
 * takes first (write_start): held until commit or rollback, it makes the
 * writers of the namespace take turns, and reads after it see what the
 * previous holder committed (read committed: each statement sees the
 * data committed before it started). It writes nothing, so a call may
 * hold it to its deadline without holding back the pruning of others'
 * rows (the file's header). */
static cis_result pq_lock(cis_kv_conn *base, const cis_kv_ns *ns) {
  pg_conn *c = (pg_conn *)base;
  pg_arm(c);
  if (!c->in_txn) return pg_fail(c, CIS_EKV, "lock", "no transaction is open");
  cis_result rc = pg_ready(c, "lock");
  return rc == CIS_OK ? lock_ns(c, ns, false, "lock") : rc;
}

static cis_result pq_set(cis_kv_conn *base, const cis_kv_ns *ns, const void *key, size_t klen,
                         const void *val, size_t vlen) {
  pg_conn *c = (pg_conn *)base;
  const void *v[4] = {ns->tenant, ns->skill, key, val};
  size_t l[4] = {ns->tenant_len, ns->skill_len, klen, vlen};
  return write_locked(c, ns, (pg_call){S_SET, v, l, 0, false}, NULL, "set");
}

static cis_result pq_del(cis_kv_conn *base, const cis_kv_ns *ns, const void *key, size_t klen) {
  pg_conn *c = (pg_conn *)base;
  PGresult *r = NULL;
  const void *v[3] = {ns->tenant, ns->skill, key};
  size_t l[3] = {ns->tenant_len, ns->skill_len, klen};
  cis_result rc = write_locked(c, ns, (pg_call){S_DEL, v, l, 0, false}, &r, "delete");
  if (rc != CIS_OK) return rc;
  if (cis__pq.ntuples(r) != 1 || strcmp(cis__pq.getvalue(r, 0, 0), "0") == 0) rc = CIS_ENOTFOUND;
  cis__pq.clear(r);
  return rc;
}

/* Reads a usage row's two counts (keys, bytes; 0 for none or no row)
 * and frees r. */
static void take_counts(PGresult *r, uint64_t *keys, uint64_t *bytes) {
  if (cis__pq.ntuples(r) == 1) {
    long long k = strtoll(cis__pq.getvalue(r, 0, 0), NULL, 10);
    long long b = strtoll(cis__pq.getvalue(r, 0, 1), NULL, 10);
    *keys = k > 0 ? (uint64_t)k : 0;
    *bytes = b > 0 ? (uint64_t)b : 0;
  }
  cis__pq.clear(r);
}

static cis_result pq_usage(cis_kv_conn *base, const cis_kv_ns *ns, uint64_t *keys,
                           uint64_t *bytes) {
  pg_conn *c = (pg_conn *)base;
  PGresult *r = NULL;
  const void *v[2] = {ns->tenant, ns->skill};
  size_t l[2] = {ns->tenant_len, ns->skill_len};
  *keys = *bytes = 0;
  cis_result rc = pg_read(c, S_USAGE, v, l, 0, false, &r, "usage");
  if (rc != CIS_OK) return rc;
  take_counts(r, keys, bytes);
  return CIS_OK;
}

static cis_result pq_tenant_usage(cis_kv_conn *base, const cis_kv_ns *ns, bool lock, uint64_t *keys,
                                  uint64_t *bytes) {
  pg_conn *c = (pg_conn *)base;
  PGresult *r = NULL;
  const void *v[1] = {ns->tenant};
  size_t l[1] = {ns->tenant_len};
  *keys = *bytes = 0;
  cis_result rc = CIS_OK;
  if (lock && c->in_txn) {
    rc = pg_read(c, S_TENANT_LOCK, v, l, 0, false, &r, "tenant lock");
    cis__pq.clear(r);
    r = NULL;
    if (rc != CIS_OK) return rc;
  }
  rc = pg_read(c, S_TENANT_USAGE, v, l, 0, false, &r, "tenant usage");
  if (rc != CIS_OK) return rc;
  take_counts(r, keys, bytes);
  return CIS_OK;
}

static cis_result pq_list(cis_kv_conn *base, const cis_kv_ns *ns, const void *prefix,
                          size_t plen, const void *after, size_t alen, size_t limit,
                          cis_kv_key_fn emit, void *ctx) {
  pg_conn *c = (pg_conn *)base;
  PGresult *r = NULL;
  uint8_t *upto = plen ? malloc(plen) : NULL;
  if (plen && !upto) return cis__kv_conn_fail(base, CIS_ENOMEM, "list: out of memory");
  size_t ulen = plen ? cis__kv_prefix_end(prefix, plen, upto) : 0;
  const void *v[6] = {ns->tenant, ns->skill, prefix, after, NULL, upto};
  size_t l[6] = {ns->tenant_len, ns->skill_len, plen, alen, 0, ulen};
  long long lim = limit > (size_t)INT64_MAX ? INT64_MAX : (long long)limit;
  cis_result rc = pg_read(c, ulen ? S_LIST_UPTO : S_LIST, v, l, lim, true, &r, "list");
  free(upto);
  if (rc != CIS_OK) return rc;
  int n = cis__pq.ntuples(r);
  for (int i = 0; i < n && rc == CIS_OK; i++)
    rc = emit(ctx, cis__pq.getvalue(r, i, 0), (size_t)cis__pq.getlength(r, i, 0));
  cis__pq.clear(r);
  return rc;
}

static cis_result pq_namespaces(cis_kv_conn *base, const cis_kv_ns *ns, const void *after, size_t alen,
                                size_t limit, cis_kv_key_fn emit, void *ctx) {
  pg_conn *c = (pg_conn *)base;
  PGresult *r = NULL;
  const void *v[4] = {ns->tenant, after, NULL, NULL};
  size_t l[4] = {ns->tenant_len, after ? alen : 0, 0, 0};
  long long lim = limit > (size_t)INT64_MAX ? INT64_MAX : (long long)limit;
  cis_result rc = pg_read(c, after ? S_NS_AFTER : S_NS_FROM, v, l, lim, true, &r, "namespaces");
  if (rc != CIS_OK) return rc;
  int n = cis__pq.ntuples(r);
  for (int i = 0; i < n && rc == CIS_OK; i++)
    rc = emit(ctx, cis__pq.getvalue(r, i, 0), (size_t)cis__pq.getlength(r, i, 0));
  cis__pq.clear(r);
  return rc;
}

/* Under the namespace's lock (as every write takes it): the first
 * `limit` keys go, the usage row with the last. */
static cis_result pq_drop(cis_kv_conn *base, const cis_kv_ns *ns, size_t limit, uint64_t *keys, bool *more) {
  pg_conn *c = (pg_conn *)base;
  PGresult *r = NULL;
  *keys = 0;
  *more = false;
  cis_result rc = write_start(c, ns, "drop");
  if (rc != CIS_OK) return rc;
  const void *v[4] = {ns->tenant, ns->skill, NULL, NULL};
  size_t l[4] = {ns->tenant_len, ns->skill_len, 0, 0};
  long long lim = limit > (size_t)INT64_MAX ? INT64_MAX : (long long)limit;
  if ((rc = pg_exec(c, S_DROP, v, l, lim, false, &r, "drop")) != CIS_OK) return rc;
  uint64_t n = cis__pq.ntuples(r) == 1 ? strtoull(cis__pq.getvalue(r, 0, 0), NULL, 10) : 0;
  cis__pq.clear(r);
  r = NULL;
  if ((rc = pg_exec(c, S_DROP_LEFT, v, l, 0, false, &r, "drop")) != CIS_OK) return rc;
  *more = cis__pq.ntuples(r) > 0;
  cis__pq.clear(r);
  if (!*more && (rc = pg_exec(c, S_DROP_USAGE, v, l, 0, false, NULL, "drop usage")) != CIS_OK) return rc;
  *keys = n;
  return CIS_OK;
}

const cis_kv_methods cis__kv_postgres_methods = {
    .version = CIS_KV_METHODS_VERSION,
    .name = "postgres",
    .user = NULL,
    .open = pq_open,
    .close = pq_close,
    .begin = pq_begin,
    .commit = pq_commit,
    .rollback = pq_rollback,
    .get = pq_get,
    .stat = pq_stat,
    .set = pq_set,
    .del = pq_del,
    .usage = pq_usage,
    .list = pq_list,
    .lock = pq_lock,
    .tenant_usage = pq_tenant_usage,
    .namespaces = pq_namespaces,
    .drop = pq_drop,
};
