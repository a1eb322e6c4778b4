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
