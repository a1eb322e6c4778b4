/*
 * This file declares cis's database layer (src/db), the one layer below
 * the services that keep their state in SQLite or PostgreSQL: the KV
 * store, the database filesystem, the registry and the token store
 * (docs/ROADMAP.md, "Architecture (issue 31)").
 *
 * So far it holds the database spec: the one reading of the text that
 * names a database ("sqlite:PATH", "postgres:CONNSTR", a postgres:// URI),
 * which dialect it is, what that dialect opens, and whether two specs name
 * one database. The services still connect, migrate and run statements
 * themselves; those move here next.
 */
#ifndef CIS_DB_DB_H
#define CIS_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
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

/* What a caller accepts beyond the forms every service takes
 * ("sqlite:PATH" with a PATH, "postgres:CONNSTR" with a CONNSTR,
 * "postgres://..." and "postgresql://..." URIs). Each flag is a form one
 * service took and another refused before the services shared this
 * parser; they are kept so that nothing accepted or refused changes, and
 * are to become one grammar (docs/ROADMAP.md). */
enum {
  /* NULL, "", "sqlite" and "sqlite:" name the caller's default SQLite file
   * (target "" and home_default set): the registry and token store, whose
   * default is <home>/registry.db. */
  CIS__DB_SPEC_HOME_DEFAULT = 1u << 0,
  /* "postgresql:CONNSTR" is "postgres:CONNSTR": the KV store and the
   * same-database check. */
  CIS__DB_SPEC_PG_LONG_PREFIX = 1u << 1,
  /* "postgres:" with no connection string: libpq's defaults (PGHOST,
   * PGDATABASE, ...). The KV store and the registry; the filesystem
   * refuses it. */
  CIS__DB_SPEC_PG_EMPTY = 1u << 2,
};

/* The forms each service accepts, so that its callers agree with it. */
#define CIS__DB_SPEC_KV (CIS__DB_SPEC_PG_LONG_PREFIX | CIS__DB_SPEC_PG_EMPTY)
#define CIS__DB_SPEC_VFS 0u
#define CIS__DB_SPEC_REGISTRY (CIS__DB_SPEC_HOME_DEFAULT | CIS__DB_SPEC_PG_EMPTY)

/* A parsed spec. It borrows the text it was parsed from: target points
 * into it and lives as long as it does. */
typedef struct cis__db_spec {
  cis__db_dialect dialect; /* SQLITE or POSTGRES */
  const char *target;      /* what the dialect opens: the SQLite file's path, or the
                              libpq connection string (a URI kept whole); "" for the
                              caller's default. May hold a password: never print it */
  size_t target_len;       /* its bytes (NUL-terminated when the text was) */
  bool home_default;       /* the spec named the caller's default file (HOME_DEFAULT) */
} cis__db_spec;

/* Reads the spec text[0..len) under flags (CIS__DB_SPEC_*) into *out. text
 * may be NULL only with CIS__DB_SPEC_HOME_DEFAULT. On failure *out is
 * zeroed and why (if whycap) gets a message that never quotes more of the
 * spec than its scheme (a connection string may hold a password), without
 * a service's prefix: the caller adds "kv: ", "db: ", ...
 * Errors: CIS_EINVAL (no spec, an unknown scheme, no path or connection
 * string, a NUL byte or a control character), CIS_ETOOBIG (longer than
 * CIS__DB_SPEC_MAX). */
cis_result cis__db_spec_parse_n(const char *text, size_t len, unsigned flags, cis__db_spec *out,
                                char *why, size_t whycap);

/* The same for a NUL-terminated text (or NULL). */
cis_result cis__db_spec_parse(const char *text, unsigned flags, cis__db_spec *out, char *why,
                              size_t whycap);

/* The name of a dialect, as messages and the native-handle hand-over
 * (kv/kv_native.h, vfs/vfs_db_join.h) spell it: "sqlite", "postgres";
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

#endif /* CIS_DB_DB_H */
