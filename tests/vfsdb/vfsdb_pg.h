/*
 * This file implements what the database filesystem's suites on the
 * shared PostgreSQL fixture share when they change rows behind cis's back.
 */
#ifndef CIS_TEST_VFSDB_PG_H
#define CIS_TEST_VFSDB_PG_H

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

/* The statement that moves the generation (next_eid) of the tenants whose
 * names start with run and '-': a test that changed rows behind cis's
 * back runs it so that the mounts see the change (they trust their caches
 * while the generation stays, docs/dbfs.md). Only the run's own tenants:
 * the server is shared with the suites running beside it, whose
 * round-trip counts another's moved generation would change. */
static inline void vfsdb_pg_bump_sql(char *out, size_t cap, const char *run) {
  snprintf(out, cap,
           "UPDATE cis_vfs_tenants SET next_eid = next_eid + 1 "
           "WHERE position(convert_to('%s-', 'UTF8') in name) = 1",
           run);
}

/* Runs q on a connection of its own, then moves the generation of run's
 * tenants (vfsdb_pg_bump_sql: rows changed behind cis's back must be
 * seen by the mounts). Waits for a lock at most 20 s: a mount a failed
 * test left open fails the suite rather than hanging it. Returns 0, or
 * -1 with the server's message in err (the caller fails the test, once
 * the connection is closed). */
static inline int vfsdb_pg_exec(const char *conninfo, const char *run, const char *q, char *err,
                                size_t cap) {
  PGconn *pg = PQconnectdb(conninfo);
  int rc = -1;
  if (PQstatus(pg) != CONNECTION_OK) {
    snprintf(err, cap, "connect: %s", PQerrorMessage(pg));
  } else {
    PQclear(PQexec(pg, "SET lock_timeout = '20s'"));
    PGresult *r = PQexec(pg, q);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) rc = 0;
    else snprintf(err, cap, "%s", PQresultErrorMessage(r));
    PQclear(r);
    char bump[200];
    vfsdb_pg_bump_sql(bump, sizeof bump, run);
    if (!rc) PQclear(PQexec(pg, bump));
  }
  PQfinish(pg);
  return rc;
}

/* Runs one statement, fmt with name in it, on a connection of its own. */
static inline int vfsdb_pg_admin(const char *conninfo, const char *fmt, const char *name) {
  PGconn *pg = PQconnectdb(conninfo);
  int rc = -1;
  if (PQstatus(pg) != CONNECTION_OK) {
    fprintf(stderr, "connect: %s", PQerrorMessage(pg));
  } else {
    char q[200];
    snprintf(q, sizeof q, fmt, name);
    PGresult *r = PQexec(pg, q);
    if (PQresultStatus(r) == PGRES_COMMAND_OK) rc = 0;
    else fprintf(stderr, "%s: %s", q, PQresultErrorMessage(r));
    PQclear(r);
  }
  PQfinish(pg);
  return rc;
}

/* Gives a suite that changes the schema (triggers, indexes) a database of
 * its own on the shared server, named name (made anew), and points
 * conninfo at it. DDL takes an exclusive lock on a table, and while it
 * waits for the transactions of the suites running beside it, their next
 * statements queue behind it: a suite's scope left open while the same
 * process waits on such a statement holds the DDL up until its lock
 * timeout. Returns 0, or -1 with a message on stderr. */
static inline int vfsdb_pg_own_database(char *conninfo, size_t cap, const char *name) {
  if (vfsdb_pg_admin(conninfo, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name) ||
      vfsdb_pg_admin(conninfo, "CREATE DATABASE %s", name))
    return -1;
  /* The harness's string is "k=v k=v ..." (tests/support/pg.sh): every
   * key but dbname is kept, then dbname=name. */
  char out[2048];
  size_t n = 0;
  for (const char *p = conninfo; *p;) {
    while (*p == ' ') p++;
    size_t len = strcspn(p, " ");
    if (len && strncmp(p, "dbname=", 7) != 0)
      n += (size_t)snprintf(out + n, n < sizeof out ? sizeof out - n : 0, "%.*s ", (int)len, p);
    p += len;
  }
  n += (size_t)snprintf(out + n, n < sizeof out ? sizeof out - n : 0, "dbname=%s", name);
  if (n >= sizeof out || n >= cap) {
    fprintf(stderr, "connection string too long\n");
    return -1;
  }
  memcpy(conninfo, out, n + 1);
  return 0;
}

/* Drops what vfsdb_pg_own_database made, from a connection to another
 * database of the server (base: the harness's string). */
static inline int vfsdb_pg_drop_database(const char *base, const char *name) {
  return vfsdb_pg_admin(base, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
}

#endif
