/*
 * This file declares cis's database layer (src/db), the one layer below
 * the services that keep their state in SQLite or PostgreSQL: the KV
 * store, the database filesystem, the registry and the token store
 * (docs/layers.md, "The database layer").
 *
 * It holds the database spec: the one reading of the text that names a
 * database ("sqlite:PATH", "postgres:CONNSTR", a postgres:// URI), which
 * dialect it is, what that dialect opens, and whether two specs name one
 * database; and a service's schema as versioned migrations, which the
 * dialects apply (db_sqlite.h; db_pg.h, the PostgreSQL connection).
 */
#ifndef CIS_DB_DB_H
#define CIS_DB_DB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cis/cis.h"

/* Longest spec, in bytes, its scheme included (Linux's PATH_MAX). Longer
 * is CIS_ETOOBIG: the services copy specs into buffers of this order, and
 * a longer path opens nothing. */
#define CIS__DB_SPEC_MAX 4096u

/* The database engines a spec can name. */
typedef enum cis__db_dialect {
  CIS__DB_NONE = 0, /* no spec parsed */
  CIS__DB_SQLITE,   /* an SQLite file */
  CIS__DB_POSTGRES, /* a PostgreSQL database through libpq */
} cis__db_dialect;

/* The one grammar of a spec (docs/embedding.md, "Database specs"):
 *   sqlite:PATH                      an SQLite file
 *   postgres:CONNSTR                 a libpq connection string; empty: libpq's
 *   postgresql:CONNSTR               defaults (PGHOST, PGDATABASE, ...)
 *   postgres://...  postgresql://... a libpq URI, kept whole
 *   NULL, "", sqlite, sqlite:        the service's default file, for a service
 *                                    that has one (the registry and the token
 *                                    store: <home>/registry.db); refused by the
 *                                    others, with one message for all. */
typedef enum cis__db_default {
  CIS__DB_NO_DEFAULT = 0, /* KV, the filesystem: a spec must name the database */
  CIS__DB_HAS_DEFAULT,    /* the registry, the token store */
} cis__db_default;

/* A parsed spec. It borrows the text it was parsed from: target points
 * into it and lives as long as it does. */
typedef struct cis__db_spec {
  cis__db_dialect dialect; /* SQLITE or POSTGRES */
  const char *target;      /* what the dialect opens: the SQLite file's path, or the
                              libpq connection string (a URI kept whole); "" for the
                              caller's default. May hold a password: never print it */
  size_t target_len;       /* its bytes (NUL-terminated when the text was) */
  bool home_default;       /* the spec named the caller's default file (CIS__DB_HAS_DEFAULT) */
} cis__db_spec;

/* Reads the spec text[0..len) into *out, for a caller that has a default
 * file or not (def). text may be NULL (the default). On failure *out is
 * zeroed and why (if whycap) gets a message that never quotes more of the
 * spec than its scheme (a connection string may hold a password), without
 * a service's prefix: the caller adds "kv: ", "db: ", ...
 * Errors: CIS_EINVAL (the default where the caller has none, an unknown
 * scheme, a NUL byte or a control character), CIS_ETOOBIG (longer than
 * CIS__DB_SPEC_MAX). */
cis_result cis__db_spec_parse_n(const char *text, size_t len, cis__db_default def, cis__db_spec *out,
                                char *why, size_t whycap);

/* The same for a NUL-terminated text (or NULL). */
cis_result cis__db_spec_parse(const char *text, cis__db_default def, cis__db_spec *out, char *why,
                              size_t whycap);

/* The name of a dialect, as messages and the call's transaction
 * (db_txn.h) spell it: "sqlite", "postgres";
 * "none" for CIS__DB_NONE. */
const char *cis__db_dialect_name(cis__db_dialect d);

/* What "one database" means: an SQLite file's device and inode (so another
 * path or a symlink to it is the same file), or a PostgreSQL connection
 * string once its "postgres:"/"postgresql:" prefix is dropped (a URI
 * whole; no other normalisation, so "host=x dbname=y" and "dbname=y
 * host=x" are two, and so are two strings that differ in a session
 * setting such as application_name). */
typedef struct cis__db_identity {
  cis__db_dialect dialect; /* NONE: the spec names nothing comparable */
  dev_t dev;               /* SQLite: the file's device */
  ino_t ino;               /* SQLite: the file's inode */
  const char *conninfo;    /* PostgreSQL: the spec's target (borrowed) */
} cis__db_identity;

/* Fills *out with spec's identity. An SQLite file that is not there yet,
 * or is not a regular file, and the caller's default (home_default) have
 * none: out->dialect is CIS__DB_NONE, and false is returned. */
bool cis__db_identify(const cis__db_spec *spec, cis__db_identity *out);

/* Whether a and b name one database (cis__db_identity); false when either
 * has no identity, so a file not made yet matches nothing. */
bool cis__db_same(const cis__db_spec *a, const cis__db_spec *b);

/* ------------------------------------------------- waits */

/* Locks mu, waiting no later than until (a cis__now_ns() time; one
 * already past still takes a free lock; UINT64_MAX: no deadline): false
 * when the deadline came first. For what a handle's threads share (a connection, its writes),
 * each thread waiting by its own call's deadline. */
bool cis__db_lock_until(pthread_mutex_t *mu, uint64_t until);

/* ------------------------------------------------- schemas */

/* One step of a service's schema, for one dialect: statements, run inside
 * the migration's transaction (no BEGIN or COMMIT of their own), or a
 * function that reads the schema before it changes it (the connection is
 * an sqlite3 * or a PGconn *; it writes its failure to err). */
typedef struct cis__db_migration {
  int64_t version; /* 1, 2, ... in order */
  const char *sql;
  cis_result (*fn)(void *conn, char *err, size_t cap);
} cis__db_migration;

/* A service's schema in one dialect. Its version is recorded in the table
 * cis_schema(service, version). A database from before that table (no
 * row for the service) is at version 0: every step runs, so step 1 must
 * accept what the service made before (CREATE TABLE IF NOT EXISTS, a
 * function that looks first). A database at a version past the last step
 * is refused, not altered. */
typedef struct cis__db_schema {
  const char *service;             /* its row of cis_schema ("registry", "tokens") */
  int64_t pg_lock;                 /* PostgreSQL: the advisory lock its migrations take */
  const cis__db_migration *steps;  /* in version order */
  size_t n;                        /* at least one */
} cis__db_schema;

/* The version of the schema's last step. */
static inline int64_t cis__db_schema_latest(const cis__db_schema *s) { return s->steps[s->n - 1].version; }

#endif /* CIS_DB_DB_H */
