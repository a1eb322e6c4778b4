/*
 * This file declares the PostgreSQL side of the database layer's
 * connection (db_conn.h): its libpq handle and its connect, for the
 * PostgreSQL dialects of the services (kv_postgres.c, vfs_db_postgres.c,
 * db/pg.c). Apart from db_conn.h so that a service that only names a
 * connection needs no libpq headers.
 */
#ifndef CIS_DB_DB_CONN_PG_H
#define CIS_DB_DB_CONN_PG_H

#include "common/pgwire.h"
#include "db/db_conn.h"

/* The libpq handle (NULL on SQLite, and while not connected: before the
 * first connect, after a drop). */
PGconn *cis__db_conn_pg(const cis__db_conn *c);

/* The end of a wait on the session (pgwire.h): at ns, or at a cancel of
 * the call the connection serves (cis__db_conn_set_call). */
cis__pgwire_until cis__db_conn_wait(const cis__db_conn *c, uint64_t ns);

/* Drops the session, if any, and connects again within until (a
 * cis__now_ns() time), as the configuration's appname; every statement
 * of the old session is forgotten; a cancel of the call it serves ends
 * the wait too (CIS__PGWIRE_CANCELLED). A deadline already past tries
 * nothing (CIS__PGWIRE_TIMEOUT). *rep says what failed (pgwire.h). */
cis__pgwire_outcome cis__db_conn_connect(cis__db_conn *c, uint64_t until, cis__pgwire_report *rep);

/* Whether the session is there and libpq sees it up (a server that went
 * since may still look up: its loss shows on the next statement). */
bool cis__db_conn_live(const cis__db_conn *c);

/* Waits for every result of what was just sent on the session (`sent`:
 * what the PQsend* call returned), as cis__pgwire_collect does; in
 * pipeline mode (`pipeline`) it sends a sync point first and collects
 * every result since the last one (cis__pgwire_collect_pipeline). The
 * wait ends at until or at a cancel of the call the connection serves.
 * Then it keeps the session's rules, the same for every service:
 * - a wait that ran out or was cancelled (TIMEOUT, CANCELLED) asks the
 *   server to cancel the statement, without waiting for it (libpq's
 *   blocking cancel could outlast the deadline by minutes), and drops the
 *   session, whose state is then not known; a COMMIT's wait, or a
 *   statement's outside a transaction (cis__db_conn_collect_commit,
 *   cis__db_conn_collect_alone), first settles what the server did
 *   (pgwire.h: cis__pgwire_until), then drops the session all the same;
 * - a lost session is dropped (LOST), and so is one whose failed
 *   statement says the server cannot serve (FAILED, class
 *   CIS__PGWIRE_SQL_DOWN) or left it broken.
 * After a drop cis__db_conn_pg is NULL, and the service forgets what it
 * held on the session (its transaction, its pipeline). No session: LOST. */
cis__pgwire_outcome cis__db_conn_collect(cis__db_conn *c, int sent, bool pipeline, uint64_t until, PGresult **out,
                                         cis__pgwire_report *rep);

/* cis__db_conn_collect for what ends with a COMMIT (CIS__PGWIRE_COMMIT:
 * the spin before the wait learns how long commits take apart from
 * statements), whose wait, should it end early, settles before the
 * session is dropped (pgwire.h: cis__pgwire_until). */
cis__pgwire_outcome cis__db_conn_collect_commit(cis__db_conn *c, int sent, bool pipeline, uint64_t until,
                                                PGresult **out, cis__pgwire_report *rep);

/* cis__db_conn_collect for a statement outside any transaction, which
 * the server commits as it ends: settled as a COMMIT's wait is. */
cis__pgwire_outcome cis__db_conn_collect_alone(cis__db_conn *c, int sent, uint64_t until, PGresult **out,
                                               cis__pgwire_report *rep);

/* The same in pipeline mode, where *out gets the first result of
 * command `keep` (0 the first sent since the last sync point) rather
 * than of the last: a statement among others sent with it, before and
 * after; kind says what the pipeline ends with (one that ends with a
 * COMMIT settles, as cis__db_conn_collect_commit). */
cis__pgwire_outcome cis__db_conn_collect_command(cis__db_conn *c, int sent, int keep, cis__pgwire_kind kind,
                                                 uint64_t until, PGresult **out, cis__pgwire_report *rep);

/* Prepares statement i of family f (slots: f's, from cis__db_conn_stmts)
 * from sql, with n parameters of the given types (NULL: the server infers
 * them), as cis__db_stmt_name names it, unless slots[i] says it is
 * prepared on this session already; waits for it as cis__db_conn_collect
 * does (pipeline: the session is in pipeline mode). DONE marks slots[i]
 * with mark (non-NULL: what the service knows the statement by). */
cis__pgwire_outcome cis__db_conn_prepare(cis__db_conn *c, const cis__db_stmts *f, void **slots, int i,
                                         const void *mark, const char *sql, int n, const Oid *types,
                                         bool pipeline, uint64_t until, cis__pgwire_report *rep);

/* The reconnect-once rule, for a statement that failed outside a
 * transaction: true when its session was lost under it (dropped by
 * cis__db_conn_collect) after that session had answered before, the mark
 * of a server that restarted since the session's last use; nothing of
 * the statement happened, so it may run once more on a new session. A
 * session lost before it ever answered says the server is down: no second
 * try. */
bool cis__db_conn_retry(const cis__db_conn *c);

/* A service's words for pgwire's outcomes (its cis_result codes, or the
 * error numbers of cis_vfs.h): one per outcome, and one per class of a
 * failed statement. */
typedef struct cis__db_pg_codes {
  int rejected;      /* a malformed connection string */
  int nomem;         /* libpq could not allocate */
  int nolib;         /* no libpq */
  int timeout;       /* the deadline passed */
  int cancelled;     /* the call the wait served was cancelled */
  int down;          /* the server out of reach, the connection lost */
  int sql_error;     /* a statement's own failure */
  int sql_down;      /* a failed statement that says the server cannot serve */
  int sql_disk_full; /* the server's disk is full */
  int sql_cancelled; /* the server cancelled the statement (statement_timeout, a cancel) */
} cis__db_pg_codes;

/* The code t gives outcome o (FAILED: by the failed statement's class k;
 * DONE: 0). */
int cis__db_pg_code(const cis__db_pg_codes *t, cis__pgwire_outcome o, cis__pgwire_sqlclass k);

#endif /* CIS_DB_DB_CONN_PG_H */
