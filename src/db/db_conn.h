/*
 * This file declares the connection of the database layer (src/db): one
 * session to one database, in either dialect, that a service runs its
 * statements on: the KV store's, the database filesystem's, the
 * registry's and the token store's connections are all of this type.
 *
 * It owns what a session is, once for every service:
 * - how it is made: an SQLite file (its folder made, its flags and VFS),
 *   or libpq's non-blocking connect under a deadline, again after a loss;
 * - the deadline and the call's cancel that every wait inside the
 *   dialect reads: SQLite's busy handler (another connection's lock) and
 *   its progress handler (a long statement) end at the deadline or on a
 *   cancel, for whichever service runs on the connection;
 * - the statements prepared on it: one cache per connection, in which
 *   each service's numbered statements are a family of slots
 *   (cis__db_stmts), prepared on the first ask, kept across calls and
 *   forgotten with the session;
 * - on PostgreSQL, the session's rules (db_conn_pg.h): what a timeout, a
 *   cancel or a loss does to the session, and when a statement lost with
 *   its session may run once more on a new one.
 *
 * What is PostgreSQL's alone (its handle, its connect) is in db_conn_pg.h.
 *
 * The call's transaction (db_txn.h) hands its members this connection,
 * so a service that joins another's transaction runs on the owner's
 * session with its own statements cached there, and sees a loss of it as
 * the owner does. What the services say in SQL, and how they word a
 * failure, stays theirs.
 *
 * A connection is used by one thread at a time, except a shared one
 * (cis__db_conn_config.shared, or SQLite's SQLITE_OPEN_FULLMUTEX: a
 * handle's threads take turns on it), whose deadline and call are each
 * calling thread's own, the same for every shared connection the thread
 * uses.
 */
#ifndef CIS_DB_DB_CONN_H
#define CIS_DB_DB_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

struct sqlite3;
struct sqlite3_stmt;
struct cis__callctx;

typedef struct cis__db_conn cis__db_conn;

/* A service's numbered statements: their slots on a connection. Static;
 * a connection knows a family by its address. */
typedef struct cis__db_stmts {
  const char *name; /* the family ("kv", "vfs"), for PostgreSQL's statement names */
  int count;        /* statements 0 .. count-1 */
} cis__db_stmts;

/* How a service's connection is made, read when it is made (appname's
 * text is kept: static). */
typedef struct cis__db_conn_config {
  const char *appname;    /* PostgreSQL: application_name ("cis-kv") */
  int sqlite_flags;       /* SQLite: sqlite3_open_v2's flags; 0: read-write, created when
                             missing, one thread at a time, extended result codes */
  const char *sqlite_vfs; /* SQLite: the VFS's name; NULL: SQLite's default */
  bool shared;            /* threads share it, one statement at a time under the service's
                             lock (an SQLite one opened SQLITE_OPEN_FULLMUTEX is shared
                             too): its deadline and call are each thread's */
} cis__db_conn_config;

/* Opens the SQLite file at path, making its folder when that is missing
 * (cis__db_sqlite_make_folder), with the connection's busy and progress
 * handlers (the deadline and flag below) installed and its deadline set
 * to until. Returns SQLite's result code; *out is the connection even on
 * a failure (its handle holds the message, as sqlite3_open_v2's does),
 * NULL only when there was no memory for it (SQLITE_NOMEM). */
int cis__db_conn_open_sqlite(const char *path, const cis__db_conn_config *cfg, uint64_t until,
                             cis__db_conn **out);

/* A connection to the PostgreSQL database conninfo names (copied; never
 * put in a message); nothing is connected yet (cis__db_conn_connect).
 * Errors: CIS_ENOMEM. */
cis_result cis__db_conn_new_pg(const char *conninfo, const cis__db_conn_config *cfg, cis__db_conn **out);

/* Closes the connection: its cached statements are finalized, its handle
 * closed (an open transaction rolls back with it). NULL: nothing. */
void cis__db_conn_close(cis__db_conn *c);

/* Its dialect. */
cis__db_dialect cis__db_conn_dialect(const cis__db_conn *c);

/* The SQLite handle, for the dialect's own code in a service (NULL on
 * PostgreSQL: db_conn_pg.h has its handle). */
struct sqlite3 *cis__db_conn_sqlite(const cis__db_conn *c);

/* Whether the connection has a session: always on SQLite; on
 * PostgreSQL from a connect until a drop. */
bool cis__db_conn_connected(const cis__db_conn *c);

/* PostgreSQL: closes the session (a lost one, or one whose state is not
 * known after a timeout); its statements are forgotten, and
 * cis__db_conn_pg (db_conn_pg.h) is NULL until the next connect. SQLite:
 * nothing. */
void cis__db_conn_drop(cis__db_conn *c);

/* Sets the deadline (a cis__now_ns() time; UINT64_MAX: none) that the
 * connection's waits end by, for the calling thread on a shared
 * connection. The services' own waits on PostgreSQL (pgwire) are given
 * it by the service. */
void cis__db_conn_arm(cis__db_conn *c, uint64_t until);

/* The deadline armed last (the calling thread's on a shared connection). */
uint64_t cis__db_conn_until(const cis__db_conn *c);

/* Sets the call (NULL: none) whose cancel (cis__callctx_cancelled) ends
 * the connection's waits as the deadline does: read while SQLite waits
 * for a lock or runs a statement. The call's context must outlive the
 * setting: its service sets it while the connection serves the call and
 * clears it when the connection goes back to its pool. */
void cis__db_conn_set_call(cis__db_conn *c, const struct cis__callctx *call);

/* Locks mu, a lock the connection's threads take turns on (another
 * thread's statement holds it), as cis__db_lock_until does, but gives up
 * on a cancel of the call the calling thread serves on c too (looked at
 * every 25 ms): false when the deadline came first or the call was
 * cancelled (cis__db_conn_cancelled tells which). */
bool cis__db_conn_lock(const cis__db_conn *c, pthread_mutex_t *mu, uint64_t until);

/* Whether the call it serves was cancelled. */
bool cis__db_conn_cancelled(const cis__db_conn *c);

/* Whether the deadline passed or the call was cancelled. */
bool cis__db_conn_stopped(const cis__db_conn *c);

/* The slots of family f on the connection (f->count of them, zeroed at
 * first), made on the first ask and kept until it closes; NULL when out
 * of memory. SQLite: a slot holds the statement's sqlite3_stmt *, which
 * the connection finalizes when it closes. PostgreSQL: a slot holds
 * anything non-NULL once the statement is prepared on the session (the
 * name cis__db_stmt_name gives it), and is zeroed when the session goes.
 * The array stays where it is for the connection's life. */
void **cis__db_conn_stmts(cis__db_conn *c, const cis__db_stmts *f);

/* SQLite: statement i of a family (slots: the family's, from
 * cis__db_conn_stmts), prepared from sql (SQLITE_PREPARE_PERSISTENT) on
 * the first ask and kept in slots[i]; *out is it, as the last user left
 * it (reset it before binding). Returns SQLite's result code. */
int cis__db_conn_sqlite_stmt(cis__db_conn *c, void **slots, int i, const char *sql, struct sqlite3_stmt **out);

/* The server-side name of statement i of family f: "cis_NAME_I", into
 * buf (32 bytes). */
const char *cis__db_stmt_name(const cis__db_stmts *f, int i, char buf[32]);

#endif /* CIS_DB_DB_CONN_H */
