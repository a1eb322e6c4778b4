/*
 * This file declares the PostgreSQL connection of the database layer
 * (src/db) that the threads of one handle of a service share: one
 * connection of db_conn.h (one statement at a time, under its lock),
 * connected on first use and again after a loss, each statement bounded
 * by the absolute deadline its caller gives. Used by the registry and
 * the token store; built on common/pgwire.c, so libpq is loaded on the
 * first connect. Also the migrations of a schema on a connection a
 * service holds itself (KV, the database filesystem).
 */
#ifndef CIS_DB_DB_PG_H
#define CIS_DB_DB_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cis/cis.h"
#include "db/db.h"

/* What a service's connection is: its name to the server, the words and
 * code of its failures, and its schema, whose migrations each connect
 * applies past the version cis_schema records (one transaction under the
 * schema's advisory lock, so that one connection migrates and the others
 * wait and find it done). Static: the connection keeps the pointer. */
typedef struct cis__db_pg_config {
  const char *appname; /* application_name ("cis-registry") */
  const char *label;   /* the messages' prefix ("registry database") */
  cis_result down;     /* the service's code for a database out of reach (CIS_EREGISTRYDOWN) */
  const cis__db_schema *schema; /* migrated by each connect (db.h), or NULL */
} cis__db_pg_config;

struct cis__callctx;
typedef struct cis__db_pg cis__db_pg;

/* A new connection to conninfo (copied; never put in a message); nothing
 * is connected yet. Errors: CIS_ENOMEM. */
cis_result cis__db_pg_new(const char *conninfo, const cis__db_pg_config *cfg, cis__db_pg **out);
void cis__db_pg_free(cis__db_pg *d);

/* Runs sql (a string literal: it is prepared once per connection, known
 * by its address) with n (at most 16) parameters: vals[i] of lens[i]
 * bytes, in binary when bin[i] (bytea), else text (NULL vals[i]: SQL
 * NULL), waiting no later than until (cis__now_ns() time) for the
 * connection, the statement and its results. Results come in binary; *out
 * (may be NULL) receives the result (cis__db_pg_clear it). A connection
 * that breaks on its first statement after a server restart connects
 * again, once: every statement is a transaction of its own.
 * Errors: cfg->down (out of reach, lost, shutting down, the deadline
 * passed while connecting), CIS_EUNSUPPORTED (the database's schema is
 * newer than cfg->schema: refused, not changed), CIS_EIO (a migration
 * failed: rolled back), CIS_ETIMEOUT (the deadline passed while another
 * thread's statement held the connection, or before the answer came: the
 * statement is cancelled; or the server cancelled it), CIS_EIO (the
 * statement failed), CIS_EINVAL (a malformed connection string, too many
 * parameters), CIS_EUNSUPPORTED (no libpq), CIS_ECANCELED (the call the
 * thread serves was cancelled: cis__db_pg_serve), CIS_ENOMEM; the message "LABEL: STEP: DETAIL", never the connection
 * string, goes to err. */
cis_result cis__db_pg_query(cis__db_pg *d, uint64_t until, const char *sql, int n, const char *const *vals,
                            const int *lens, const bool *bin, PGresult **out, char *err, size_t cap);

/* Applies cfg->schema's migrations past the version cis_schema records
 * to pg, a live connection outside a transaction that the caller owns
 * (each connect of a cis__db_pg runs the same): reads only when the
 * version is current; else one transaction under the schema's advisory
 * lock, in which the version is read again, so that of two connections
 * one migrates and the other waits, then finds it done. Every wait ends
 * by until (cis__now_ns() time). A failure rolls the whole back (pg is
 * left outside a transaction, or broken). cfg->appname is not used.
 * Errors: cfg->down (the server out of reach, lost), CIS_ETIMEOUT (the
 * deadline passed; or the server cancelled a statement),
 * CIS_EUNSUPPORTED (the database is newer than the schema: refused, not
 * changed), CIS_EIO (a migration or reading failed), CIS_ENOMEM;
 * "LABEL: STEP: DETAIL" in err. */
cis_result cis__db_pg_migrate(PGconn *pg, const cis__db_pg_config *cfg, uint64_t until, char *err, size_t cap);

/* The call (NULL: none) the calling thread's statements on d serve: a
 * cancel of it ends their waits (CIS_ECANCELED), as the deadline does.
 * Per thread: d's threads each serve a call of their own. */
void cis__db_pg_serve(cis__db_pg *d, const struct cis__callctx *call);

/* A result's rows, a value's bytes (NULL for SQL NULL), an int8's value
 * (0 for NULL or another size), and freeing it (NULL is fine). */
int cis__db_pg_rows(const PGresult *r);
const char *cis__db_pg_value(const PGresult *r, int row, int col, size_t *len);
int64_t cis__db_pg_int8(const PGresult *r, int row, int col);
void cis__db_pg_clear(PGresult *r);

#endif /* CIS_DB_DB_PG_H */
