/*
 * This file implements the tests of the database layer's migrations
 * (db.h: cis__db_schema; db_sqlite.h: cis__db_sqlite_migrate; db_pg.h:
 * the schema applied when a connection is made), on SQLite and, with a
 * connection string, on PostgreSQL (a database of its own on the shared
 * server): a fresh database, a database from before cis_schema (detected
 * and migrated, its rows kept), two processes opening one database at
 * once (one migrates, the other waits and finds it done), a database at a
 * newer version (refused, not changed), a failing migration (rolled back,
 * a typed error), the file's lock held past the busy timeout
 * (CIS_ETIMEOUT), an up-to-date database opened without a write, and a
 * cis_schema table of another shape or with versions cis never writes.
 *
 * test_db_migrate WORKDIR [CONNSTR_FILE]
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "common/internal.h"
#include "db/db.h"
#include "db/db_pg.h"
#include "db/db_sqlite.h"
#include "support/pg_connstr.h"

static const char *workdir;
static char g_conn[1024]; /* the test's own database, "" without PostgreSQL */

/* ------------------------------------------------- schemas under test */

/* Writes one row to runs, after a pause long enough for a second opener
 * to arrive while the first holds the lock: how many rows there are is
 * how many times the step ran. */
static cis_result slow_sqlite_step(void *conn, char *err, size_t cap) {
  struct timespec ts = {0, 300 * 1000 * 1000};
  nanosleep(&ts, NULL);
  char *e = NULL;
  if (sqlite3_exec(conn, "INSERT INTO runs VALUES(1)", NULL, NULL, &e) != SQLITE_OK) {
    snprintf(err, cap, "%s", e ? e : "?");
    sqlite3_free(e);
    return CIS_EIO;
  }
  return CIS_OK;
}

/* A step that reads the schema first: adds column c to t unless there. */
static cis_result add_c(void *conn, char *err, size_t cap) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(conn, "SELECT c FROM t LIMIT 0", -1, &st, NULL) == SQLITE_OK) {
    sqlite3_finalize(st);
    return CIS_OK;
  }
  char *e = NULL;
  if (sqlite3_exec(conn, "ALTER TABLE t ADD COLUMN c TEXT", NULL, NULL, &e) != SQLITE_OK) {
    snprintf(err, cap, "%s", e ? e : "?");
    sqlite3_free(e);
    return CIS_EIO;
  }
  return CIS_OK;
}

static cis_result refuse_step(void *conn, char *err, size_t cap) {
  (void)conn;
  snprintf(err, cap, "refused on purpose");
  return CIS_EIO;
}

static const cis__db_migration sq_steps[] = {
    {.version = 1, .sql = "CREATE TABLE IF NOT EXISTS t(a INTEGER PRIMARY KEY, b TEXT)"},
    {.version = 2, .fn = add_c},
    {.version = 3, .sql = "CREATE TABLE IF NOT EXISTS u(x); INSERT INTO u VALUES(3)"},
};
static const cis__db_schema sq_schema = {.service = "test", .steps = sq_steps, .n = 3};

static const cis__db_migration sq_other_steps[] = {{.version = 1, .sql = "CREATE TABLE other(x)"}};
static const cis__db_schema sq_other = {.service = "other", .steps = sq_other_steps, .n = 1};

static const cis__db_migration sq_slow_steps[] = {
    {.version = 1, .sql = "CREATE TABLE runs(x)"},
    {.version = 2, .fn = slow_sqlite_step},
};
static const cis__db_schema sq_slow = {.service = "slow", .steps = sq_slow_steps, .n = 2};

/* Step 2 fails after step 1 and its own first statement changed things. */
static const cis__db_migration sq_bad_steps[] = {
    {.version = 1, .sql = "CREATE TABLE made1(x)"},
    {.version = 2, .sql = "CREATE TABLE made2(x); INSERT INTO nosuch VALUES(1)"},
};
static const cis__db_schema sq_bad = {.service = "bad", .steps = sq_bad_steps, .n = 2};
static const cis__db_migration sq_badfn_steps[] = {
    {.version = 1, .sql = "CREATE TABLE madefn(x)"},
    {.version = 2, .fn = refuse_step},
};
static const cis__db_schema sq_badfn = {.service = "badfn", .steps = sq_badfn_steps, .n = 2};

/* ------------------------------------------------- SQLite */

static sqlite3 *sq_open(const char *name, bool fresh) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%s", workdir, name);
  if (fresh) unlink(path);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  return db;
}

static int64_t sq_int(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
  int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -2;
  sqlite3_finalize(st);
  return v;
}

static bool sq_has_table(sqlite3 *db, const char *name) {
  char sql[200];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'", name);
  return sq_int(db, sql) == 1;
}

static void sqlite_fresh_database(void **state) {
  (void)state;
  sqlite3 *db = sq_open("fresh.db", true);
  char err[300] = "";
  assert_int_equal(cis__db_sqlite_migrate(db, &sq_schema, err, sizeof err), CIS_OK);
  assert_int_equal(sq_int(db, "SELECT version FROM cis_schema WHERE service='test'"), 3);
  assert_int_equal(sq_int(db, "SELECT count(*) FROM u"), 1);
  assert_int_equal(sq_int(db, "SELECT count(c) FROM t"), 0); /* the column is there */
  /* Current: read, nothing written (opening works on a full disk). */
  int before = sqlite3_total_changes(db);
  int64_t dv = sq_int(db, "PRAGMA data_version");
  assert_int_equal(cis__db_sqlite_migrate(db, &sq_schema, err, sizeof err), CIS_OK);
  assert_int_equal(sqlite3_total_changes(db), before);
  assert_int_equal(sq_int(db, "SELECT count(*) FROM u"), 1); /* step 3 ran once */
  sqlite3 *other = sq_open("fresh.db", false);
  assert_int_equal(cis__db_sqlite_migrate(other, &sq_schema, err, sizeof err), CIS_OK);
  sqlite3_close(other);
  assert_int_equal(sq_int(db, "PRAGMA data_version"), dv); /* no other connection committed */
  /* Two services, one table: each its own row. */
  assert_int_equal(cis__db_sqlite_migrate(db, &sq_other, err, sizeof err), CIS_OK);
  assert_int_equal(sq_int(db, "SELECT version FROM cis_schema WHERE service='other'"), 1);
  assert_int_equal(sq_int(db, "SELECT version FROM cis_schema WHERE service='test'"), 3);
  sqlite3_close(db);
}

static void sqlite_database_from_before(void **state) {
  (void)state;
  sqlite3 *db = sq_open("before.db", true);
  /* What the service made before cis_schema: t without c, with rows. */
  assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT); INSERT INTO t VALUES(1,'x')",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  char err[300] = "";
  assert_int_equal(cis__db_sqlite_migrate(db, &sq_schema, err, sizeof err), CIS_OK);
  assert_int_equal(sq_int(db, "SELECT version FROM cis_schema WHERE service='test'"), 3);
  assert_int_equal(sq_int(db, "SELECT count(*) FROM t WHERE a=1 AND b='x' AND c IS NULL"), 1);
  assert_int_equal(sq_int(db, "SELECT count(*) FROM u"), 1);
  /* And from a version between: only the later steps run. */
  assert_int_equal(sqlite3_exec(db, "UPDATE cis_schema SET version=2; DELETE FROM u", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(cis__db_sqlite_migrate(db, &sq_schema, err, sizeof err), CIS_OK);
  assert_int_equal(sq_int(db, "SELECT count(*) FROM u"), 1);
  sqlite3_close(db);
}

static void sqlite_newer_version_refused_unchanged(void **state) {
  (void)state;
  sqlite3 *db = sq_open("newer.db", true);
  assert_int_equal(sqlite3_exec(db,
                                "CREATE TABLE cis_schema(service TEXT PRIMARY KEY, version INTEGER NOT NULL);"
                                "INSERT INTO cis_schema VALUES('test', 4)",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  char err[300] = "";
  int before = sqlite3_total_changes(db);
  assert_int_equal(cis__db_sqlite_migrate(db, &sq_schema, err, sizeof err), CIS_EUNSUPPORTED);
  if (!strstr(err, "test schema: the database is at version 4, newer than this build's 3")) fail_msg("%s", err);
  assert_int_equal(sqlite3_total_changes(db), before);
  assert_false(sq_has_table(db, "t"));
  assert_int_equal(sq_int(db, "SELECT version FROM cis_schema"), 4);
  sqlite3_close(db);
}

static void sqlite_failing_migration_rolled_back(void **state) {
  (void)state;
  sqlite3 *db = sq_open("bad.db", true);
  char err[300] = "";
  assert_int_equal(cis__db_sqlite_migrate(db, &sq_bad, err, sizeof err), CIS_EIO);
  if (!strstr(err, "bad schema: migration 2: no such table: nosuch")) fail_msg("%s", err);
  assert_false(sq_has_table(db, "made1"));
  assert_false(sq_has_table(db, "made2"));
  assert_int_equal(sq_int(db, "SELECT count(*) FROM cis_schema"), -1); /* not even the table */
  assert_int_equal(sqlite3_get_autocommit(db), 1); /* no transaction left open */
  /* A function's failure: its words and code. */
  assert_int_equal(cis__db_sqlite_migrate(db, &sq_badfn, err, sizeof err), CIS_EIO);
  if (!strstr(err, "badfn schema: migration 2: refused on purpose")) fail_msg("%s", err);
  assert_false(sq_has_table(db, "madefn"));
  /* A database that cannot be written: the lock's failure, typed. */
  sqlite3 *ro = NULL;
  char path[1200];
  snprintf(path, sizeof path, "%s/bad.db", workdir);
  assert_int_equal(sqlite3_open_v2(path, &ro, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(cis__db_sqlite_migrate(ro, &sq_schema, err, sizeof err), CIS_EIO);
  if (!strstr(err, "test schema: ")) fail_msg("%s", err);
  sqlite3_close(ro);
  sqlite3_close(db);
}

/* Another connection holds the file's write lock past the opener's busy
 * timeout: the migration ends with CIS_ETIMEOUT (a deadline, not a broken
 * file), writes nothing, and runs once the lock is gone. */
static void sqlite_lock_held_past_the_timeout_is_a_timeout(void **state) {
  (void)state;
  sqlite3 *holder = sq_open("held.db", true);
  assert_int_equal(sqlite3_exec(holder, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
  sqlite3 *db = sq_open("held.db", false);
  sqlite3_busy_timeout(db, 100);
  char err[300] = "";
  assert_int_equal(cis__db_sqlite_migrate(db, &sq_schema, err, sizeof err), CIS_ETIMEOUT);
  if (!strstr(err, "test schema: ")) fail_msg("%s", err);
  assert_int_equal(sqlite3_get_autocommit(db), 1); /* no transaction left open */
  assert_int_equal(sqlite3_exec(holder, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(holder);
  assert_int_equal(cis__db_sqlite_migrate(db, &sq_schema, err, sizeof err), CIS_OK);
  assert_int_equal(sq_int(db, "SELECT version FROM cis_schema WHERE service='test'"), 3);
  sqlite3_close(db);
}

/* A cis_schema that is not what cis makes, or holds what it never
 * writes: a typed error and nothing changed, or (a version that is no
 * number, below 1) every step again, which step 1 accepts. */
static void sqlite_hostile_schema_table(void **state) {
  (void)state;
  sqlite3 *db = sq_open("hostile.db", true);
  assert_int_equal(sqlite3_exec(db, "CREATE TABLE cis_schema(service TEXT, other INTEGER)", NULL, NULL, NULL),
                   SQLITE_OK);
  char err[300] = "";
  assert_int_equal(cis__db_sqlite_migrate(db, &sq_schema, err, sizeof err), CIS_EIO);
  if (!strstr(err, "test schema: reading the version: no such column: version")) fail_msg("%s", err);
  assert_false(sq_has_table(db, "t"));
  const char *versions[] = {"'three'", "-7", "x'00ff'", "NULL"};
  for (size_t i = 0; i < 4; i++) {
    char sql[200];
    snprintf(sql, sizeof sql,
             "DROP TABLE IF EXISTS cis_schema; DROP TABLE IF EXISTS u;"
             "CREATE TABLE cis_schema(service TEXT PRIMARY KEY, version);"
             "INSERT INTO cis_schema VALUES('test', %s)",
             versions[i]);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    if (cis__db_sqlite_migrate(db, &sq_schema, err, sizeof err) != CIS_OK) fail_msg("%s: %s", versions[i], err);
    assert_int_equal(sq_int(db, "SELECT version FROM cis_schema WHERE service='test'"), 3);
    assert_int_equal(sq_int(db, "SELECT count(*) FROM u"), 1);
  }
  sqlite3_close(db);
}

/* Runs fn in n child processes at once; each exits 0 when it succeeded.
 * Bounded: each child is killed by an alarm after 60 s. */
static void in_children(int n, int (*fn)(void)) {
  pid_t pids[4];
  for (int i = 0; i < n; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0) {
      alarm(60);
      _exit(fn());
    }
  }
  for (int i = 0; i < n; i++) {
    int status;
    assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail_msg("child %d: status %d", i, status);
  }
}

static int sqlite_child(void) {
  sqlite3 *db = sq_open("race.db", false);
  char err[300];
  cis_result rc = cis__db_sqlite_migrate(db, &sq_slow, err, sizeof err);
  if (rc != CIS_OK) fprintf(stderr, "child: %s\n", err);
  sqlite3_close(db);
  return rc == CIS_OK ? 0 : 1;
}

static void sqlite_two_processes_at_once(void **state) {
  (void)state;
  sqlite3 *db = sq_open("race.db", true);
  sqlite3_close(db);
  in_children(2, sqlite_child);
  db = sq_open("race.db", false);
  assert_int_equal(sq_int(db, "SELECT count(*) FROM runs"), 1); /* one migrated */
  assert_int_equal(sq_int(db, "SELECT version FROM cis_schema WHERE service='slow'"), 2);
  sqlite3_close(db);
}

/* ------------------------------------------------- PostgreSQL */

#define PG_SKIP()                                                    \
  do {                                                               \
    if (!g_conn[0]) {                                                \
      print_message("no PostgreSQL: skipped\n");                     \
      skip();                                                        \
    }                                                                \
  } while (0)

static const cis__db_migration pg_steps[] = {
    {.version = 1, .sql = "CREATE TABLE IF NOT EXISTS t(a int PRIMARY KEY, b text)"},
    {.version = 2, .sql = "ALTER TABLE t ADD COLUMN IF NOT EXISTS c text"},
    {.version = 3, .sql = "CREATE TABLE IF NOT EXISTS u(x int); INSERT INTO u VALUES (3)"},
};
static const cis__db_schema pg_schema = {.service = "test", .pg_lock = 7162999190, .steps = pg_steps, .n = 3};
static const cis__db_migration pg_slow_steps[] = {
    {.version = 1, .sql = "CREATE TABLE runs(x int); SELECT pg_sleep(0.3); INSERT INTO runs VALUES (1)"},
};
static const cis__db_schema pg_slow = {.service = "slow", .pg_lock = 7162999191, .steps = pg_slow_steps, .n = 1};
static const cis__db_migration pg_bad_steps[] = {
    {.version = 1, .sql = "CREATE TABLE made1(x int)"},
    {.version = 2, .sql = "CREATE TABLE made2(x int); INSERT INTO nosuch VALUES (1)"},
};
static const cis__db_schema pg_bad = {.service = "bad", .pg_lock = 7162999192, .steps = pg_bad_steps, .n = 2};

#define PG_CONFIG(name, schema_)                                                                   \
  static const cis__db_pg_config name = {                                                          \
      .appname = "cis-test", .label = "test database", .down = CIS_EIO, .schema = &(schema_)}
PG_CONFIG(cfg_test, pg_schema);
PG_CONFIG(cfg_slow, pg_slow);
PG_CONFIG(cfg_bad, pg_bad);

/* The SQL run to check what migrated, straight through libpq. */
static PGconn *pg_raw(void) {
  PGconn *c = PQconnectdb(g_conn);
  if (PQstatus(c) != CONNECTION_OK) fail_msg("connect: %s", PQerrorMessage(c));
  return c;
}

static long long pg_int(const char *sql) {
  PGconn *c = pg_raw();
  PGresult *r = PQexec(c, sql);
  long long v = PQresultStatus(r) != PGRES_TUPLES_OK ? -1 : PQntuples(r) < 1 || PQgetisnull(r, 0, 0) ? -2
                                                                                                      : atoll(PQgetvalue(r, 0, 0));
  PQclear(r);
  PQfinish(c);
  return v;
}

static void pg_exec(const char *sql) {
  PGconn *c = pg_raw();
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    fail_msg("%s: %s", sql, PQresultErrorMessage(r));
  PQclear(r);
  PQfinish(c);
}

/* One statement through a new connection of the layer: what its connect
 * (and so its migrations) gave. */
static cis_result pg_open_once(const cis__db_pg_config *cfg, char *err, size_t cap) {
  cis__db_pg *d;
  assert_int_equal(cis__db_pg_new(g_conn, cfg, &d), CIS_OK);
  static const char one[] = "SELECT 1";
  cis_result rc = cis__db_pg_query(d, cis__deadline_after(30000, 0), one, 0, NULL, NULL, NULL, NULL, err, cap);
  cis__db_pg_free(d);
  return rc;
}

static void pg_reset(void) {
  pg_exec("DROP TABLE IF EXISTS cis_schema, t, u, runs, made1, made2");
}

static void pg_fresh_database(void **state) {
  (void)state;
  PG_SKIP();
  pg_reset();
  char err[300] = "";
  if (pg_open_once(&cfg_test, err, sizeof err) != CIS_OK) fail_msg("%s", err);
  assert_int_equal(pg_int("SELECT version FROM cis_schema WHERE service='test'"), 3);
  assert_int_equal(pg_int("SELECT count(*) FROM u"), 1);
  assert_int_equal(pg_int("SELECT count(c) FROM t"), 0);
  /* Current: nothing runs again. */
  assert_int_equal(pg_open_once(&cfg_test, err, sizeof err), CIS_OK);
  assert_int_equal(pg_int("SELECT count(*) FROM u"), 1);
}

static void pg_database_from_before(void **state) {
  (void)state;
  PG_SKIP();
  pg_reset();
  pg_exec("CREATE TABLE t(a int PRIMARY KEY, b text); INSERT INTO t VALUES (1, 'x')");
  char err[300] = "";
  if (pg_open_once(&cfg_test, err, sizeof err) != CIS_OK) fail_msg("%s", err);
  assert_int_equal(pg_int("SELECT version FROM cis_schema WHERE service='test'"), 3);
  assert_int_equal(pg_int("SELECT count(*) FROM t WHERE a=1 AND b='x' AND c IS NULL"), 1);
  /* cis_schema there, no row for the service: the same. */
  pg_exec("DELETE FROM cis_schema; DROP TABLE u");
  if (pg_open_once(&cfg_test, err, sizeof err) != CIS_OK) fail_msg("%s", err);
  assert_int_equal(pg_int("SELECT count(*) FROM u"), 1);
}

static void pg_newer_version_refused_unchanged(void **state) {
  (void)state;
  PG_SKIP();
  pg_reset();
  pg_exec("CREATE TABLE cis_schema(service text PRIMARY KEY, version bigint NOT NULL);"
          "INSERT INTO cis_schema VALUES ('test', 4)");
  char err[300] = "";
  assert_int_equal(pg_open_once(&cfg_test, err, sizeof err), CIS_EUNSUPPORTED);
  if (!strstr(err, "test database: test schema: the database is at version 4, newer than this build's 3"))
    fail_msg("%s", err);
  assert_int_equal(pg_int("SELECT count(*) FROM t"), -1); /* no table made */
  assert_int_equal(pg_int("SELECT version FROM cis_schema"), 4);
}

static void pg_failing_migration_rolled_back(void **state) {
  (void)state;
  PG_SKIP();
  pg_reset();
  char err[300] = "";
  assert_int_equal(pg_open_once(&cfg_bad, err, sizeof err), CIS_EIO);
  if (!strstr(err, "test database: bad schema: migration 2: ") || !strstr(err, "nosuch")) fail_msg("%s", err);
  assert_int_equal(pg_int("SELECT count(*) FROM made1"), -1);
  assert_int_equal(pg_int("SELECT count(*) FROM made2"), -1);
  assert_int_equal(pg_int("SELECT count(*) FROM cis_schema WHERE service='bad'"), 0);
  /* The connection is usable after it (nothing left open): a good
   * schema's migration goes through on the next connection. */
  if (pg_open_once(&cfg_test, err, sizeof err) != CIS_OK) fail_msg("%s", err);
}

static void pg_hostile_schema_table(void **state) {
  (void)state;
  PG_SKIP();
  pg_reset();
  pg_exec("CREATE TABLE cis_schema(service text, other int)");
  char err[300] = "";
  assert_int_equal(pg_open_once(&cfg_test, err, sizeof err), CIS_EIO);
  if (!strstr(err, "test database: read schema: ") || !strstr(err, "version")) fail_msg("%s", err);
  assert_int_equal(pg_int("SELECT count(*) FROM t"), -1);
  pg_exec("DROP TABLE cis_schema; CREATE TABLE cis_schema(service text PRIMARY KEY, version bigint NOT NULL);"
          "INSERT INTO cis_schema VALUES ('test', -7)");
  if (pg_open_once(&cfg_test, err, sizeof err) != CIS_OK) fail_msg("%s", err);
  assert_int_equal(pg_int("SELECT version FROM cis_schema WHERE service='test'"), 3);
}

static int pg_child(void) {
  char err[300];
  cis__db_pg *d;
  if (cis__db_pg_new(g_conn, &cfg_slow, &d) != CIS_OK) return 1;
  static const char one[] = "SELECT 1";
  cis_result rc = cis__db_pg_query(d, cis__deadline_after(30000, 0), one, 0, NULL, NULL, NULL, NULL, err, sizeof err);
  if (rc != CIS_OK) fprintf(stderr, "child: %s\n", err);
  cis__db_pg_free(d);
  return rc == CIS_OK ? 0 : 1;
}

static void pg_two_processes_at_once(void **state) {
  (void)state;
  PG_SKIP();
  pg_reset();
  in_children(2, pg_child);
  assert_int_equal(pg_int("SELECT count(*) FROM runs"), 1);
  assert_int_equal(pg_int("SELECT version FROM cis_schema WHERE service='slow'"), 1);
}

/* A database of its own on the shared server, so that its tables and
 * cis_schema are the test's alone. */
static int pg_setup(const char *file) {
  char conn[900];
  int rc = cis_test_read_connstr(file, conn, sizeof conn);
  if (rc) return rc;
  PGconn *c = PQconnectdb(conn);
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "connect: %s", PQerrorMessage(c));
    PQfinish(c);
    return 1;
  }
  char sql[128];
  snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS cis_migrate_%d", (int)getpid());
  PQclear(PQexec(c, sql));
  snprintf(sql, sizeof sql, "CREATE DATABASE cis_migrate_%d", (int)getpid());
  PGresult *r = PQexec(c, sql);
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
  PQclear(r);
  PQfinish(c);
  if (!ok) return 1;
  snprintf(g_conn, sizeof g_conn, "%s dbname=cis_migrate_%d", conn, (int)getpid());
  return 0;
}

static void pg_teardown(const char *file) {
  char conn[900];
  if (!g_conn[0] || cis_test_read_connstr(file, conn, sizeof conn)) return;
  PGconn *c = PQconnectdb(conn);
  char sql[128];
  snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS cis_migrate_%d", (int)getpid());
  if (PQstatus(c) == CONNECTION_OK) PQclear(PQexec(c, sql));
  PQfinish(c);
}

int main(int argc, char **argv) {
  workdir = argc > 1 ? argv[1] : "test_db_migrate.work";
  mkdir(workdir, 0755);
  if (argc > 2) {
    int rc = pg_setup(argv[2]);
    if (rc == 77) g_conn[0] = 0; /* no server here: the SQLite half runs */
    else if (rc) return rc;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sqlite_fresh_database),
      cmocka_unit_test(sqlite_database_from_before),
      cmocka_unit_test(sqlite_newer_version_refused_unchanged),
      cmocka_unit_test(sqlite_failing_migration_rolled_back),
      cmocka_unit_test(sqlite_two_processes_at_once),
      cmocka_unit_test(sqlite_hostile_schema_table),
      cmocka_unit_test(sqlite_lock_held_past_the_timeout_is_a_timeout),
      cmocka_unit_test(pg_fresh_database),
      cmocka_unit_test(pg_database_from_before),
      cmocka_unit_test(pg_newer_version_refused_unchanged),
      cmocka_unit_test(pg_failing_migration_rolled_back),
      cmocka_unit_test(pg_two_processes_at_once),
      cmocka_unit_test(pg_hostile_schema_table),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  if (argc > 2) pg_teardown(argv[2]);
  return rc;
}
