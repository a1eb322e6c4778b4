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

/* Drops the session, if any, and connects again within until (a
 * cis__now_ns() time), as the configuration's appname; every statement
 * of the old session is forgotten. A deadline already past tries
 * nothing (CIS__PGWIRE_TIMEOUT). *rep says what failed (pgwire.h). */
cis__pgwire_outcome cis__db_conn_connect(cis__db_conn *c, uint64_t until, cis__pgwire_report *rep);

#endif /* CIS_DB_DB_CONN_PG_H */
