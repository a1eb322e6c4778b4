/*
 * This file implements the tests of the database layer's connection
 * (src/db/conn.c, db/db_conn.h): an SQLite file opened with its folder
 * made, and refused with the handle's words; another connection's lock
 * waited for until the deadline, or until the call is cancelled, and no
 * longer; a long statement interrupted at the deadline and on a cancel;
 * a shared connection's deadline per thread; the statement families
 * (one array per family, kept, finalized at close, a bounded number of
 * them); and PostgreSQL's session without a server: a deadline already
 * past tries nothing, a refused connect is LOST, and a drop forgets the
 * statements.
 *
 * test_db_conn WORKDIR
 */
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/callctx.h"
#include "common/internal.h"
#include "db/db_conn.h"
#include "db/db_conn_pg.h"

static const char *workdir;

static void path_of(const char *name, char *out, size_t cap) { snprintf(out, cap, "%s/%s", workdir, name); }

static uint64_t ms_since(uint64_t t0) { return (cis__now_ns() - t0) / 1000000u; }

static cis__db_conn *open_file(const char *name) {
  char path[1200];
  path_of(name, path, sizeof path);
  cis__db_conn *c = NULL;
  assert_int_equal(cis__db_conn_open_sqlite(path, NULL, UINT64_MAX, &c), SQLITE_OK);
  assert_non_null(c);
  assert_int_equal(cis__db_conn_dialect(c), CIS__DB_SQLITE);
  assert_true(cis__db_conn_connected(c));
  assert_null(cis__db_conn_pg(c));
  return c;
}

static void exec_ok(cis__db_conn *c, const char *sql) {
  sqlite3 *db = cis__db_conn_sqlite(c);
  if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(db));
}

/* The folder of a new file is made (one level); a path deeper into
 * nothing is refused with the handle holding SQLite's words. */
static void sqlite_open_makes_its_folder(void **state) {
  (void)state;
  char path[1200];
  path_of("made/a.db", path, sizeof path);
  cis__db_conn *c = NULL;
  assert_int_equal(cis__db_conn_open_sqlite(path, NULL, UINT64_MAX, &c), SQLITE_OK);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  cis__db_conn_close(c);
  path_of("no/such/folder/a.db", path, sizeof path);
  c = NULL;
  int r = cis__db_conn_open_sqlite(path, NULL, UINT64_MAX, &c);
  assert_int_equal(r & 0xff, SQLITE_CANTOPEN);
  assert_non_null(c); /* the handle with its words, as sqlite3_open_v2's */
  assert_non_null(cis__db_conn_sqlite(c));
  assert_non_null(strstr(sqlite3_errmsg(cis__db_conn_sqlite(c)), "unable to open"));
  cis__db_conn_close(c);
  cis__db_conn_close(NULL);
}

typedef struct cancel_later {
  cis__callctx call;
  unsigned ms;
} cancel_later;

static void *cancel_after(void *p) {
  cancel_later *f = p;
  struct timespec ts = {.tv_sec = f->ms / 1000, .tv_nsec = (long)(f->ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  cis__callctx_cancel(&f->call);
  return NULL;
}

/* Another connection's write lock: waited for until the deadline, and
 * then SQLITE_BUSY; with the call cancelled meanwhile, until then. */
static void lock_wait_ends_at_deadline_or_cancel(void **state) {
  (void)state;
  cis__db_conn *a = open_file("lock.db"), *b = open_file("lock.db");
  exec_ok(a, "CREATE TABLE IF NOT EXISTS t(x)");
  exec_ok(a, "BEGIN IMMEDIATE");
  sqlite3 *bdb = cis__db_conn_sqlite(b);
  uint64_t t0 = cis__now_ns();
  cis__db_conn_arm(b, t0 + 300000000u);
  assert_int_equal(cis__db_conn_until(b), t0 + 300000000u);
  int r = sqlite3_exec(bdb, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  uint64_t ms = ms_since(t0);
  assert_int_equal(r & 0xff, SQLITE_BUSY);
  if (ms < 280 || ms > 3000) fail_msg("waited %llu ms for a 300 ms deadline", (unsigned long long)ms);

  /* A cancel of the call, 150 ms in, ends a wait whose deadline is 30 s
   * away. */
  cancel_later f = {.ms = 150};
  cis__callctx_init(&f.call, UINT64_MAX, NULL);
  cis__db_conn_set_call(b, &f.call);
  pthread_t th;
  t0 = cis__now_ns();
  cis__db_conn_arm(b, t0 + 30000000000ull);
  assert_false(cis__db_conn_stopped(b));
  assert_int_equal(pthread_create(&th, NULL, cancel_after, &f), 0);
  r = sqlite3_exec(bdb, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  ms = ms_since(t0);
  pthread_join(th, NULL);
  assert_int_equal(r & 0xff, SQLITE_BUSY);
  assert_true(cis__db_conn_stopped(b));
  assert_true(cis__db_conn_cancelled(b));
  if (ms < 140 || ms > 3000) fail_msg("waited %llu ms for a cancel at 150 ms", (unsigned long long)ms);

  /* Serving no call, and the lock free, the wait is over at once. */
  cis__db_conn_set_call(b, NULL);
  assert_false(cis__db_conn_cancelled(b));
  exec_ok(a, "COMMIT");
  exec_ok(b, "BEGIN IMMEDIATE");
  exec_ok(b, "COMMIT");
  cis__db_conn_close(a);
  cis__db_conn_close(b);
}

/* A statement that would run for minutes: interrupted at the deadline,
 * and at once for a cancelled call. */
static void long_statement_ends_at_deadline_or_cancel(void **state) {
  (void)state;
  cis__db_conn *c = open_file("long.db");
  sqlite3 *db = cis__db_conn_sqlite(c);
  static const char forever[] =
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000000) SELECT count(*) FROM n";
  uint64_t t0 = cis__now_ns();
  cis__db_conn_arm(c, t0 + 200000000u);
  int r = sqlite3_exec(db, forever, NULL, NULL, NULL);
  uint64_t ms = ms_since(t0);
  assert_int_equal(r, SQLITE_INTERRUPT);
  if (ms < 190 || ms > 3000) fail_msg("ran %llu ms for a 200 ms deadline", (unsigned long long)ms);
  cis__callctx call;
  cis__callctx_init(&call, UINT64_MAX, NULL);
  cis__callctx_cancel(&call);
  cis__db_conn_set_call(c, &call);
  cis__db_conn_arm(c, UINT64_MAX);
  t0 = cis__now_ns();
  assert_int_equal(sqlite3_exec(db, forever, NULL, NULL, NULL), SQLITE_INTERRUPT);
  assert_true(ms_since(t0) < 1000);
  /* The caller's own flag (cis_invoke_options.cancel) counts too. */
  int ext = 1;
  cis__callctx_init(&call, UINT64_MAX, NULL);
  call.cancel_ext = &ext;
  assert_int_equal(sqlite3_exec(db, forever, NULL, NULL, NULL), SQLITE_INTERRUPT);
  ext = 0;
  exec_ok(c, "SELECT 1");
  cis__db_conn_set_call(c, NULL);
  cis__db_conn_close(c);
}

typedef struct thread_arm {
  cis__db_conn *c;
  uint64_t until, seen;
} thread_arm;

static void *arm_and_read(void *p) {
  thread_arm *a = p;
  cis__db_conn_arm(a->c, a->until);
  a->seen = cis__db_conn_until(a->c);
  return NULL;
}

/* A shared (serialized) connection keeps each thread's deadline: one
 * thread's arm does not move another's. */
static void shared_connection_deadline_is_per_thread(void **state) {
  (void)state;
  char path[1200];
  path_of("shared.db", path, sizeof path);
  static const cis__db_conn_config shared = {.sqlite_flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                                             SQLITE_OPEN_FULLMUTEX};
  cis__db_conn *c = NULL;
  assert_int_equal(cis__db_conn_open_sqlite(path, &shared, 1234, &c), SQLITE_OK);
  assert_int_equal(cis__db_conn_until(c), 1234);
  thread_arm other = {.c = c, .until = 98765};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, arm_and_read, &other), 0);
  pthread_join(th, NULL);
  assert_int_equal(other.seen, 98765);
  assert_int_equal(cis__db_conn_until(c), 1234); /* ours unmoved */
  cis__db_conn_arm(c, UINT64_MAX);
  cis__db_conn_close(c);

  /* Not shared: one deadline for the connection. */
  c = open_file("single.db");
  other = (thread_arm){.c = c, .until = 555};
  assert_int_equal(pthread_create(&th, NULL, arm_and_read, &other), 0);
  pthread_join(th, NULL);
  assert_int_equal(cis__db_conn_until(c), 555);
  cis__db_conn_close(c);
}

/* A family's slots: one array per family, the same on every ask, zeroed
 * at first; the statements in them are the connection's to finalize. A
 * connection caches a bounded number of families. */
static void statement_families(void **state) {
  (void)state;
  static const cis__db_stmts a = {.name = "a", .count = 3}, b = {.name = "b", .count = 1}, none = {.name = "z", .count = 0};
  static const cis__db_stmts many[8] = {{"m0", 1}, {"m1", 1}, {"m2", 1}, {"m3", 1},
                                        {"m4", 1}, {"m5", 1}, {"m6", 1}, {"m7", 1}};
  cis__db_conn *c = open_file("stmts.db");
  sqlite3 *db = cis__db_conn_sqlite(c);
  void **sa = cis__db_conn_stmts(c, &a), **sb = cis__db_conn_stmts(c, &b);
  assert_non_null(sa);
  assert_non_null(sb);
  assert_ptr_not_equal(sa, sb);
  assert_ptr_equal(cis__db_conn_stmts(c, &a), sa);
  for (int i = 0; i < 3; i++) assert_null(sa[i]);
  assert_null(cis__db_conn_stmts(c, &none));
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1", -1, &st, NULL), SQLITE_OK);
  sa[2] = st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT 2", -1, &st, NULL), SQLITE_OK);
  sb[0] = st;
  int n = 0;
  for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s)) n++;
  assert_int_equal(n, 2);
  int made = 2;
  for (int i = 0; i < 8; i++)
    if (cis__db_conn_stmts(c, &many[i])) made++;
  assert_int_equal(made, 8); /* the bound: eight families */
  cis__db_conn_drop(c);       /* SQLite: nothing, the statements stay */
  assert_non_null(sa[2]);
  assert_non_null(sb[0]);
  n = 0;
  for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s)) n++;
  assert_int_equal(n, 2);
  char name[32];
  assert_string_equal(cis__db_stmt_name(&a, 12, name), "cis_a_12");
  cis__db_conn_close(c); /* finalizes both: a leak or a busy close shows under the sanitizers */
}

/* SQLite: a family's statement is prepared on the first ask and kept in
 * its slot; a statement that does not prepare gives SQLite's code and
 * leaves the slot empty. */
static void sqlite_statements_prepared_once(void **state) {
  (void)state;
  static const cis__db_stmts f = {.name = "once", .count = 2};
  char path[512];
  path_of("once.db", path, sizeof path);
  cis__db_conn *c = NULL;
  assert_int_equal(cis__db_conn_open_sqlite(path, NULL, UINT64_MAX, &c), SQLITE_OK);
  void **slots = cis__db_conn_stmts(c, &f);
  sqlite3_stmt *a = NULL, *b = NULL;
  assert_int_equal(cis__db_conn_sqlite_stmt(c, slots, 0, "SELECT 1", &a), SQLITE_OK);
  assert_ptr_equal(slots[0], a);
  assert_int_equal(cis__db_conn_sqlite_stmt(c, slots, 0, "SELECT 2", &b), SQLITE_OK);
  assert_ptr_equal(a, b); /* the cached one, whatever the text */
  assert_int_equal(sqlite3_step(b), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(b, 0), 1);
  sqlite3_reset(b);
  assert_int_equal(cis__db_conn_sqlite_stmt(c, slots, 1, "SELECT FROM nowhere", &b), SQLITE_ERROR);
  assert_null(slots[1]);
  cis__db_conn_close(c); /* finalizes slot 0's */
}

/* PostgreSQL without a server: nothing connected at first; a deadline
 * already past tries nothing; a refused connection is LOST; a drop
 * forgets what was prepared. */
static void postgres_session_without_a_server(void **state) {
  (void)state;
  static const cis__db_stmts f = {.name = "f", .count = 2};
  static const cis__db_conn_config cfg = {.appname = "cis-test"};
  cis__db_conn *c = NULL;
  assert_int_equal(cis__db_conn_new_pg("host=127.0.0.1 port=1 dbname=none connect_timeout=2", &cfg, &c), CIS_OK);
  assert_int_equal(cis__db_conn_dialect(c), CIS__DB_POSTGRES);
  assert_false(cis__db_conn_connected(c));
  assert_null(cis__db_conn_pg(c));
  assert_null(cis__db_conn_sqlite(c));
  void **slot = cis__db_conn_stmts(c, &f);
  assert_non_null(slot);
  slot[1] = (void *)&f; /* as if prepared on a session */
  cis__pgwire_report rep;
  uint64_t t0 = cis__now_ns();
  assert_int_equal(cis__db_conn_connect(c, t0 - 1, &rep), CIS__PGWIRE_TIMEOUT);
  assert_non_null(strstr(rep.msg, "deadline passed before"));
  assert_null(slot[1]); /* a connect forgets the old session's statements */
  slot[0] = (void *)&f;
  cis__pgwire_outcome o = cis__db_conn_connect(c, cis__now_ns() + 5000000000ull, &rep);
  if (o != CIS__PGWIRE_LOST && o != CIS__PGWIRE_NOLIB) fail_msg("connect to port 1: outcome %d", (int)o);
  assert_false(cis__db_conn_connected(c));
  assert_null(slot[0]);
  slot[0] = (void *)&f;
  cis__db_conn_drop(c);
  assert_null(slot[0]);
  assert_ptr_equal(cis__db_conn_stmts(c, &f), slot); /* the array stays */
  cis__db_conn_close(c);
}

int main(int argc, char **argv) {
  workdir = argc > 1 ? argv[1] : "test_db_conn.work";
  mkdir(workdir, 0755);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sqlite_open_makes_its_folder),
      cmocka_unit_test(lock_wait_ends_at_deadline_or_cancel),
      cmocka_unit_test(long_statement_ends_at_deadline_or_cancel),
      cmocka_unit_test(shared_connection_deadline_is_per_thread),
      cmocka_unit_test(statement_families),
      cmocka_unit_test(sqlite_statements_prepared_once),
      cmocka_unit_test(postgres_session_without_a_server),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
