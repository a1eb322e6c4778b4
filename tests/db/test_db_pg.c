/*
 * This file implements the tests of the database layer's PostgreSQL
 * connection (src/db/pg.c, db_pg.h): the caller's absolute deadline (in
 * the wait for the server and for another thread's statement), the
 * service's code for a database out of reach and its label in every
 * message (never the connection string), a statement's failure, the
 * bounds on parameters and prepared statements, and a connection that
 * works again after its server connection was killed (reconnect once).
 * Without a connection string only the cases that need no server run.
 *
 * test_db_pg [CONNSTR_FILE]
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "common/internal.h"
#include "db/db_conn_pg.h"
#include "db/db_pg.h"
#include "support/pg_connstr.h"

static char g_conn[1024]; /* "" without PostgreSQL */

static const cis__db_pg_config cfg = {.appname = "cis-test-pg", .label = "test database", .down = CIS_EKVDOWN};

#define SKIP_WITHOUT_PG()                          \
  do {                                             \
    if (!g_conn[0]) {                              \
      print_message("no PostgreSQL: skipped\n");   \
      skip();                                      \
    }                                              \
  } while (0)

static cis_result q(cis__db_pg *d, uint64_t until, const char *sql, int n, const char *const *v, PGresult **out,
                    char *err, size_t cap) {
  int l[20] = {0};
  for (int i = 0; i < n && i < 20; i++) l[i] = v && v[i] ? (int)strlen(v[i]) : 0;
  return cis__db_pg_query(d, until, sql, n, v, l, NULL, out, err, cap);
}

static void out_of_reach_is_the_services_code_without_the_secret(void **state) {
  (void)state;
  cis__db_pg *d;
  assert_int_equal(cis__db_pg_new("host=127.0.0.1 port=1 dbname=x user=x password=hunter2 connect_timeout=2", &cfg, &d),
                   CIS_OK);
  char err[300] = "";
  static const char one[] = "SELECT 1";
  assert_int_equal(q(d, cis__deadline_after(10000, 0), one, 0, NULL, NULL, err, sizeof err), CIS_EKVDOWN);
  if (strncmp(err, "test database: ", 15) || strstr(err, "hunter2")) fail_msg("%s", err);
  /* Again: it connects again, and fails the same. */
  assert_int_equal(q(d, cis__deadline_after(10000, 0), one, 0, NULL, NULL, err, sizeof err), CIS_EKVDOWN);
  cis__db_pg_free(d);
  cis__db_pg_free(NULL); /* harmless */
}

static void a_malformed_connection_string_is_einval(void **state) {
  (void)state;
  cis__db_pg *d;
  assert_int_equal(cis__db_pg_new("host=db nosuchkeyword=1", &cfg, &d), CIS_OK);
  char err[300] = "";
  static const char one[] = "SELECT 1";
  assert_int_equal(q(d, cis__deadline_after(10000, 0), one, 0, NULL, NULL, err, sizeof err), CIS_EINVAL);
  if (strncmp(err, "test database: ", 15)) fail_msg("%s", err);
  cis__db_pg_free(d);
}

static void more_than_16_parameters_refused(void **state) {
  (void)state;
  cis__db_pg *d;
  assert_int_equal(cis__db_pg_new("host=127.0.0.1 port=1", &cfg, &d), CIS_OK);
  const char *v[17] = {0};
  char err[300] = "";
  static const char sql[] = "SELECT 1";
  PGresult *r = (PGresult *)1;
  assert_int_equal(q(d, cis__deadline_after(1000, 0), sql, 17, v, &r, err, sizeof err), CIS_EINVAL);
  assert_null(r);
  assert_non_null(strstr(err, "test database: 17 parameters (at most 16)"));
  assert_int_equal(q(d, cis__deadline_after(1000, 0), sql, -1, v, NULL, err, sizeof err), CIS_EINVAL);
  cis__db_pg_free(d);
}

static void the_callers_deadline_bounds_the_call(void **state) {
  (void)state;
  SKIP_WITHOUT_PG();
  cis__db_pg *d;
  assert_int_equal(cis__db_pg_new(g_conn, &cfg, &d), CIS_OK);
  char err[300] = "";
  /* A deadline already past: not even a connect, and the caller's time
   * ran out (not the server's fault). */
  static const char one[] = "SELECT 1";
  assert_int_equal(q(d, cis__now_ns() - 1, one, 0, NULL, NULL, err, sizeof err), CIS_ETIMEOUT);
  assert_non_null(strstr(err, "test database: the deadline had passed before the statement began"));
  /* The same with a session made: nothing is sent (an earlier wait of the
   * caller's took its time, not this statement). */
  assert_int_equal(q(d, cis__deadline_after(5000, 0), one, 0, NULL, NULL, err, sizeof err), CIS_OK);
  assert_int_equal(q(d, cis__now_ns() - 1, one, 0, NULL, NULL, err, sizeof err), CIS_ETIMEOUT);
  assert_non_null(strstr(err, "test database: the deadline had passed before the statement began"));
  assert_int_equal(q(d, cis__deadline_after(5000, 0), one, 0, NULL, NULL, err, sizeof err), CIS_OK);
  /* A statement that outlasts the deadline: stopped at it, not later, and
   * the caller's time ran out (the server is there). */
  static const char sleepy[] = "SELECT pg_sleep(5)";
  uint64_t t0 = cis__now_ns();
  assert_int_equal(q(d, cis__deadline_after(300, 0), sleepy, 0, NULL, NULL, err, sizeof err), CIS_ETIMEOUT);
  uint64_t took_ms = (cis__now_ns() - t0) / 1000000u;
  if (took_ms < 250 || took_ms > 3000) fail_msg("took %llu ms", (unsigned long long)took_ms);
  assert_non_null(strstr(err, "the deadline passed: the statement was cancelled, nothing applied"));
  /* And then the connection serves again. */
  PGresult *r = NULL;
  if (q(d, cis__deadline_after(10000, 0), one, 0, NULL, &r, err, sizeof err) != CIS_OK) fail_msg("%s", err);
  assert_int_equal(cis__db_pg_rows(r), 1);
  cis__db_pg_clear(r);
  cis__db_pg_free(d);
}

/* A thread whose statement holds the connection (held_main). */
typedef struct held {
  cis__db_pg *d;
  cis_result rc;
} held;

static void *held_main(void *p) {
  held *h = p;
  static const char slow[] = "SELECT pg_sleep(1.5)";
  char err[300];
  h->rc = q(h->d, cis__deadline_after(20000, 0), slow, 0, NULL, NULL, err, sizeof err);
  return NULL;
}

/* One connection serves one statement at a time: a thread that waits for
 * another's statement waits no later than its own deadline (CIS_ETIMEOUT),
 * and the other's statement is not disturbed. */
static void the_wait_for_another_threads_statement_ends_at_the_deadline(void **state) {
  (void)state;
  SKIP_WITHOUT_PG();
  cis__db_pg *d;
  assert_int_equal(cis__db_pg_new(g_conn, &cfg, &d), CIS_OK);
  char err[300] = "";
  static const char one[] = "SELECT 1";
  if (q(d, cis__deadline_after(10000, 0), one, 0, NULL, NULL, err, sizeof err) != CIS_OK) fail_msg("%s", err);
  held h = {.d = d, .rc = CIS_EIO};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, held_main, &h), 0);
  /* The other thread's statement is running once the server says so. */
  PGconn *pg = PQconnectdb(g_conn);
  assert_int_equal(PQstatus(pg), CONNECTION_OK);
  bool running = false;
  for (int i = 0; i < 200 && !running; i++) {
    PGresult *r = PQexec(pg, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'cis-test-pg' "
                             "AND query LIKE 'SELECT pg_sleep(1.5)%'");
    running = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
    PQclear(r);
    if (!running) usleep(5000);
  }
  PQfinish(pg);
  assert_true(running);
  uint64_t t0 = cis__now_ns();
  assert_int_equal(q(d, cis__deadline_after(200, 0), one, 0, NULL, NULL, err, sizeof err), CIS_ETIMEOUT);
  uint64_t took_ms = (cis__now_ns() - t0) / 1000000u;
  if (took_ms < 150 || took_ms > 1200) fail_msg("took %llu ms", (unsigned long long)took_ms);
  if (!strstr(err, "test database: the connection stayed busy with another statement until the deadline"))
    fail_msg("%s", err);
  pthread_join(t, NULL);
  assert_int_equal(h.rc, CIS_OK);
  cis__db_pg_free(d);
}

static void statements_results_and_failures(void **state) {
  (void)state;
  SKIP_WITHOUT_PG();
  cis__db_pg *d;
  assert_int_equal(cis__db_pg_new(g_conn, &cfg, &d), CIS_OK);
  char err[300] = "";
  static const char sum[] = "SELECT ($1::bigint + $2::bigint)::int8, NULL::bytea, 'ab'::bytea";
  const char *v[2] = {"40", "2"};
  PGresult *r = NULL;
  if (q(d, cis__deadline_after(10000, 0), sum, 2, v, &r, err, sizeof err) != CIS_OK) fail_msg("%s", err);
  assert_int_equal(cis__db_pg_rows(r), 1);
  assert_int_equal(cis__db_pg_int8(r, 0, 0), 42);
  size_t len = 9;
  assert_null(cis__db_pg_value(r, 0, 1, &len));
  assert_int_equal(len, 0);
  assert_int_equal(cis__db_pg_int8(r, 0, 1), 0); /* NULL */
  assert_int_equal(cis__db_pg_int8(r, 0, 2), 0); /* not 8 bytes */
  assert_memory_equal(cis__db_pg_value(r, 0, 2, &len), "ab", 2);
  cis__db_pg_clear(r);
  cis__db_pg_clear(NULL);
  assert_int_equal(cis__db_pg_rows(NULL), 0);
  /* The statement's own failure: CIS_EIO, the server's words. */
  static const char bad[] = "SELECT * FROM no_such_table_here";
  assert_int_equal(q(d, cis__deadline_after(10000, 0), bad, 0, NULL, NULL, err, sizeof err), CIS_EIO);
  if (!strstr(err, "test database: prepare: ") || !strstr(err, "no_such_table_here")) fail_msg("%s", err);
  /* A statement cancelled by the server: CIS_ETIMEOUT. */
  static const char timeout[] = "SELECT set_config('statement_timeout', '50', false)";
  assert_int_equal(q(d, cis__deadline_after(10000, 0), timeout, 0, NULL, NULL, err, sizeof err), CIS_OK);
  static const char sleepy[] = "SELECT pg_sleep(2)";
  assert_int_equal(q(d, cis__deadline_after(10000, 0), sleepy, 0, NULL, NULL, err, sizeof err), CIS_ETIMEOUT);
  cis__db_pg_free(d);
}

/* 33 texts, one each: the 33rd is past what a connection prepares. */
static char texts[33][48];

static void prepared_statements_bounded(void **state) {
  (void)state;
  SKIP_WITHOUT_PG();
  cis__db_pg *d;
  assert_int_equal(cis__db_pg_new(g_conn, &cfg, &d), CIS_OK);
  char err[300] = "";
  for (int i = 0; i < 33; i++) {
    snprintf(texts[i], sizeof texts[i], "SELECT %d", i);
    cis_result rc = q(d, cis__deadline_after(10000, 0), texts[i], 0, NULL, NULL, err, sizeof err);
    if (i < 32 && rc != CIS_OK) fail_msg("%d: %s", i, err);
    if (i == 32) {
      assert_int_equal(rc, CIS_EIO);
      assert_non_null(strstr(err, "test database: more than 32 statements"));
    }
  }
  /* The prepared ones still run. */
  assert_int_equal(q(d, cis__deadline_after(10000, 0), texts[3], 0, NULL, NULL, err, sizeof err), CIS_OK);
  cis__db_pg_free(d);
}

static void reconnects_once_after_its_connection_is_killed(void **state) {
  (void)state;
  SKIP_WITHOUT_PG();
  cis__db_pg *d;
  assert_int_equal(cis__db_pg_new(g_conn, &cfg, &d), CIS_OK);
  char err[300] = "";
  static const char pid_sql[] = "SELECT pg_backend_pid()::int8";
  PGresult *r = NULL;
  assert_int_equal(q(d, cis__deadline_after(10000, 0), pid_sql, 0, NULL, &r, err, sizeof err), CIS_OK);
  int64_t pid = cis__db_pg_int8(r, 0, 0);
  cis__db_pg_clear(r);
  /* Its server process ends, as in a restart. */
  PGconn *c = PQconnectdb(g_conn);
  assert_int_equal(PQstatus(c), CONNECTION_OK);
  char kill[80];
  snprintf(kill, sizeof kill, "SELECT pg_terminate_backend(%lld)", (long long)pid);
  PQclear(PQexec(c, kill));
  PQfinish(c);
  /* The next statement finds it broken, connects again and runs. */
  if (q(d, cis__deadline_after(10000, 0), pid_sql, 0, NULL, &r, err, sizeof err) != CIS_OK) fail_msg("%s", err);
  assert_true(cis__db_pg_int8(r, 0, 0) != pid);
  cis__db_pg_clear(r);
  cis__db_pg_free(d);
}

/* Ends the server process of a session from another connection, as a
 * restart does. */
static void terminate_backend(int pid) {
  PGconn *c = PQconnectdb(g_conn);
  assert_int_equal(PQstatus(c), CONNECTION_OK);
  char sql[80];
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", pid);
  PQclear(PQexec(c, sql));
  PQfinish(c);
}

/* Runs sql on c's session with the connection's rules. */
static cis__pgwire_outcome run_on(cis__db_conn *c, const char *sql, uint64_t ms, cis__pgwire_report *rep) {
  PGconn *pg = cis__db_conn_pg(c);
  return cis__db_conn_collect(c, pg ? PQsendQuery(pg, sql) : 0, false, cis__deadline_after(ms, 0), NULL, rep);
}

/* The session's rules, the same for every service (db_conn_pg.h): a
 * statement's own failure keeps the session; a lost session is dropped
 * with its prepared statements; a timeout cancels the statement on the
 * server and drops the session; and the reconnect-once rule: a session
 * lost after it had answered may be replaced once, one lost before it
 * ever answered may not (the server is down, not restarted). */
static void the_connections_session_rules(void **state) {
  (void)state;
  SKIP_WITHOUT_PG();
  static const cis__db_stmts f = {.name = "rules", .count = 2};
  static const cis__db_conn_config conn_cfg = {.appname = "cis-test-rules"};
  cis__db_conn *c = NULL;
  cis__pgwire_report rep;
  assert_int_equal(cis__db_conn_new_pg(g_conn, &conn_cfg, &c), CIS_OK);
  void **slots = cis__db_conn_stmts(c, &f);
  assert_non_null(slots);
  assert_int_equal(cis__db_conn_connect(c, cis__deadline_after(10000, 0), &rep), CIS__PGWIRE_DONE);
  assert_true(cis__db_conn_live(c));

  /* A session lost before it answered anything: no second try. */
  terminate_backend(PQbackendPID(cis__db_conn_pg(c)));
  assert_int_equal(run_on(c, "SELECT 1", 10000, &rep), CIS__PGWIRE_LOST);
  assert_false(cis__db_conn_connected(c));
  assert_false(cis__db_conn_retry(c));

  /* A statement prepared once, named by its family; a second ask sends
   * nothing (its slot says so). */
  assert_int_equal(cis__db_conn_connect(c, cis__deadline_after(10000, 0), &rep), CIS__PGWIRE_DONE);
  static const char mark[] = "the statement";
  assert_int_equal(cis__db_conn_prepare(c, &f, slots, 1, mark, "SELECT $1::int8 + 1", 1, NULL, false,
                                        cis__deadline_after(10000, 0), &rep),
                   CIS__PGWIRE_DONE);
  assert_ptr_equal(slots[1], mark);
  assert_int_equal(cis__db_conn_prepare(c, &f, slots, 1, "another", "SELECT syntax error", 0, NULL, false,
                                        cis__deadline_after(10000, 0), &rep),
                   CIS__PGWIRE_DONE);
  assert_ptr_equal(slots[1], mark);
  char name[32];
  assert_string_equal(cis__db_stmt_name(&f, 1, name), "cis_rules_1");
  const char *v[1] = {"41"};
  PGresult *r = NULL;
  assert_int_equal(cis__db_conn_collect(c, PQsendQueryPrepared(cis__db_conn_pg(c), name, 1, v, NULL, NULL, 0), false,
                                        cis__deadline_after(10000, 0), &r, &rep),
                   CIS__PGWIRE_DONE);
  assert_string_equal(PQgetvalue(r, 0, 0), "42");
  PQclear(r);

  /* A statement's own failure keeps the session and what it prepared. */
  assert_int_equal(run_on(c, "SELECT no_such_column", 10000, &rep), CIS__PGWIRE_FAILED);
  assert_int_equal(rep.sqlclass, CIS__PGWIRE_SQL_ERROR);
  assert_true(cis__db_conn_live(c));
  assert_false(cis__db_conn_retry(c));
  assert_ptr_equal(slots[1], mark);

  /* A session that had answered, lost under a statement (a restart):
   * dropped with its statements, and one new session may run it again. */
  terminate_backend(PQbackendPID(cis__db_conn_pg(c)));
  assert_int_equal(run_on(c, "SELECT 1", 10000, &rep), CIS__PGWIRE_LOST);
  assert_false(cis__db_conn_connected(c));
  assert_null(slots[1]);
  assert_true(cis__db_conn_retry(c));
  assert_int_equal(cis__db_conn_connect(c, cis__deadline_after(10000, 0), &rep), CIS__PGWIRE_DONE);
  assert_false(cis__db_conn_retry(c)); /* the new session has not answered yet */
  assert_int_equal(run_on(c, "SELECT 1", 10000, &rep), CIS__PGWIRE_DONE);

  /* The deadline passes during a statement: it is cancelled on the
   * server (the session's process is idle or gone soon after), and the
   * session, whose state is not known, is dropped. */
  int pid = PQbackendPID(cis__db_conn_pg(c));
  uint64_t t0 = cis__now_ns();
  assert_int_equal(run_on(c, "SELECT pg_sleep(30)", 300, &rep), CIS__PGWIRE_TIMEOUT);
  assert_true(cis__now_ns() - t0 < 10000000000ull);
  assert_false(cis__db_conn_connected(c));
  PGconn *watch = PQconnectdb(g_conn);
  assert_int_equal(PQstatus(watch), CONNECTION_OK);
  char sql[160];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND query LIKE '%%pg_sleep(30)%%' "
                            "AND state = 'active'", pid);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; i++) { /* at most 10 s */
    PGresult *w = PQexec(watch, sql);
    gone = PQresultStatus(w) == PGRES_TUPLES_OK && strcmp(PQgetvalue(w, 0, 0), "0") == 0;
    PQclear(w);
    if (!gone) usleep(100000);
  }
  PQfinish(watch);
  assert_true(gone);
  cis__db_conn_close(c);
}

/* A connection of the test's own that holds advisory lock `key` in an
 * open transaction. */
static PGconn *hold_lock(long long key) {
  PGconn *h = PQconnectdb(g_conn);
  assert_int_equal(PQstatus(h), CONNECTION_OK);
  char sql[96];
  snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(%lld)", key);
  PGresult *r = PQexec(h, sql);
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  PQclear(r);
  return h;
}

/* Lets go of the lock, then gives a statement still queued behind it
 * the time to run. */
static void let_go(PGconn *h) {
  PQclear(PQexec(h, "ROLLBACK"));
  PQfinish(h);
  usleep(200 * 1000);
}

/* How many rows of table t hold v, read on a connection of its own. */
static long long rows_of(const char *t, int v) {
  PGconn *w = PQconnectdb(g_conn);
  assert_int_equal(PQstatus(w), CONNECTION_OK);
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE v = %d", t, v);
  PGresult *r = PQexec(w, sql);
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  long long n = atoll(PQgetvalue(r, 0, 0));
  PQclear(r);
  PQfinish(w);
  return n;
}

/* Sends sql (a whole transaction, as one simple query) on c and waits
 * for it as a COMMIT's wait, ending at ms; how long it took into *took. */
static cis__pgwire_outcome commit_on(cis__db_conn *c, const char *sql, uint64_t ms, cis__pgwire_report *rep,
                                     double *took) {
  uint64_t t0 = cis__now_ns();
  PGconn *pg = cis__db_conn_pg(c);
  cis__pgwire_outcome o =
      cis__db_conn_collect_commit(c, pg ? PQsendQuery(pg, sql) : 0, false, cis__deadline_after(ms, 0), NULL, rep);
  *took = (double)(cis__now_ns() - t0) / 1e6;
  print_message("%.60s...: outcome %d after %.1f ms (%s%s)\n", sql, (int)o, *took, rep->msg, rep->sqlmsg);
  return o;
}

/* A COMMIT whose wait ends at its deadline behind another client's lock
 * is at the server already, and would run the moment the lock came free:
 * its wait settles what it did before anyone may say (pgwire.h). Here the
 * cancel requests go out late (300 ms, or as a case says), as on a
 * loaded machine, and the lock is let go as soon as the wait returns,
 * so a wait that left it to
 * the request in flight would see its "timed out" transaction commit.
 * Stopped: TIMEOUT, nothing applied, after the late cancel. A COMMIT
 * that got in before the cancel (a statement that swallows it): DONE. No
 * answer within CIS__PGWIRE_SETTLE_MS of the cancel: LOST, and it may
 * indeed commit later. The same for a statement outside a transaction,
 * through db_pg.h (every statement there is a transaction of its own).
 * The session is dropped after each, and may not be retried. */
static void a_commit_that_ends_early_is_settled(void **state) {
  (void)state;
  SKIP_WITHOUT_PG();
  static const cis__db_conn_config conn_cfg = {.appname = "cis-test-settle"};
  cis__db_conn *c = NULL;
  cis__pgwire_report rep;
  char t[64], sql[400], err[300];
  double took;
  long long key = 7160000000LL + getpid();
  snprintf(t, sizeof t, "cis_test_settle_%d", (int)getpid());
  PGconn *admin = PQconnectdb(g_conn);
  assert_int_equal(PQstatus(admin), CONNECTION_OK);
  snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s; CREATE TABLE %s(v int)", t, t);
  PGresult *r = PQexec(admin, sql);
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  assert_int_equal(cis__db_conn_new_pg(g_conn, &conn_cfg, &c), CIS_OK);

  /* Stopped by the (late) cancel. */
  cis__pgwire_cancel_delay_set(300);
  assert_int_equal(cis__db_conn_connect(c, cis__deadline_after(10000, 0), &rep), CIS__PGWIRE_DONE);
  PGconn *h = hold_lock(key);
  snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(%lld); INSERT INTO %s VALUES (1); COMMIT", key, t);
  assert_int_equal(commit_on(c, sql, 300, &rep, &took), CIS__PGWIRE_TIMEOUT);
  let_go(h);
  assert_true(rep.settled);
  assert_int_equal(rep.sqlclass, CIS__PGWIRE_SQL_CANCELLED);
  if (took < 600.0 || took > 600.0 * 10) fail_msg("stopped after %.1f ms, its cancel going out at 600", took);
  assert_int_equal(rows_of(t, 1), 0);
  assert_false(cis__db_conn_connected(c));
  assert_false(cis__db_conn_retry(c));

  /* Through db_pg.h: one statement, its own transaction. */
  cis__db_pg *d;
  assert_int_equal(cis__db_pg_new(g_conn, &cfg, &d), CIS_OK);
  h = hold_lock(key);
  snprintf(sql, sizeof sql, "INSERT INTO %s SELECT 4 FROM (SELECT pg_advisory_xact_lock(%lld)) AS l", t, key);
  uint64_t t0 = cis__now_ns();
  assert_int_equal(q(d, cis__deadline_after(300, 0), sql, 0, NULL, NULL, err, sizeof err), CIS_ETIMEOUT);
  took = (double)(cis__now_ns() - t0) / 1e6;
  let_go(h);
  print_message("a statement alone: %s, after %.1f ms\n", err, took);
  assert_non_null(strstr(err, "the statement was cancelled, nothing applied"));
  if (took < 600.0 || took > 600.0 * 10) fail_msg("stopped after %.1f ms, its cancel going out at 600", took);
  assert_int_equal(rows_of(t, 4), 0);
  cis__db_pg_free(d);
  cis__pgwire_cancel_delay_set(0);

  /* In before the cancel: it swallows the cancel and commits (the cancel
   * 200 ms late, so that a loaded server is in the block by then; one
   * past the sleep finds the COMMIT done). */
  assert_int_equal(cis__db_conn_connect(c, cis__deadline_after(10000, 0), &rep), CIS__PGWIRE_DONE);
  snprintf(sql, sizeof sql,
           "BEGIN; DO $$BEGIN PERFORM pg_sleep(0.6); EXCEPTION WHEN query_canceled THEN NULL; END$$;"
           "INSERT INTO %s VALUES (2); COMMIT",
           t);
  cis__pgwire_cancel_delay_set(200);
  assert_int_equal(commit_on(c, sql, 300, &rep, &took), CIS__PGWIRE_DONE);
  cis__pgwire_cancel_delay_set(0);
  assert_true(rep.settled);
  assert_int_equal(rows_of(t, 2), 1);
  assert_false(cis__db_conn_connected(c));
  assert_false(cis__db_conn_retry(c));

  /* No answer within the settle: not known, and it does commit later. It
   * waits for a lock until a cancel comes, then sleeps past the settle,
   * swallowing any cancel that comes then (a server was seen to end the
   * lock's wait as cancelled before the one request came, which then
   * stopped a single sleep). The request goes out 700 ms late, so that
   * it finds the statement in its wait however slowly a loaded server
   * gets there (one that came before would cancel it: nothing applied);
   * one later still, past the settle, ends it the same way. */
  assert_int_equal(cis__db_conn_connect(c, cis__deadline_after(10000, 0), &rep), CIS__PGWIRE_DONE);
  cis__pgwire_cancel_delay_set(700);
  h = hold_lock(key);
  snprintf(sql, sizeof sql,
           "BEGIN; DO $$BEGIN PERFORM pg_advisory_xact_lock(%lld); EXCEPTION WHEN query_canceled THEN "
           "FOR i IN 1..%d LOOP BEGIN PERFORM pg_sleep(0.1); EXCEPTION WHEN query_canceled THEN NULL; END; "
           "END LOOP; END$$; INSERT INTO %s VALUES (3); COMMIT",
           key, (CIS__PGWIRE_SETTLE_MS / 1000 + 1) * 10, t);
  assert_int_equal(commit_on(c, sql, 300, &rep, &took), CIS__PGWIRE_LOST);
  cis__pgwire_cancel_delay_set(0);
  let_go(h);
  assert_true(rep.settled);
  assert_non_null(strstr(rep.msg, "whether it committed is not known"));
  double least = 300.0 + CIS__PGWIRE_SETTLE_MS;
  if (took < least || took > least * 10) fail_msg("gave up after %.1f ms for %.0f", took, least);
  assert_false(cis__db_conn_connected(c));
  assert_false(cis__db_conn_retry(c));
  bool landed = false;
  for (int i = 0; i < 100 && !landed; i++) { /* at most 10 s */
    landed = rows_of(t, 3) == 1;
    if (!landed) usleep(100 * 1000);
  }
  assert_true(landed);

  snprintf(sql, sizeof sql, "DROP TABLE %s", t);
  PQclear(PQexec(admin, sql));
  PQfinish(admin);
  cis__db_conn_close(c);
}

/* The case's cancel delay must not outlive it when it fails midway. */
static int cancel_delay_off(void **state) {
  (void)state;
  cis__pgwire_cancel_delay_set(0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1) {
    int rc = cis_test_read_connstr(argv[1], g_conn, sizeof g_conn);
    if (rc == 77) g_conn[0] = 0;
    else if (rc) return rc;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(out_of_reach_is_the_services_code_without_the_secret),
      cmocka_unit_test(a_malformed_connection_string_is_einval),
      cmocka_unit_test(more_than_16_parameters_refused),
      cmocka_unit_test(the_callers_deadline_bounds_the_call),
      cmocka_unit_test(the_wait_for_another_threads_statement_ends_at_the_deadline),
      cmocka_unit_test(statements_results_and_failures),
      cmocka_unit_test(prepared_statements_bounded),
      cmocka_unit_test(reconnects_once_after_its_connection_is_killed),
      cmocka_unit_test(the_connections_session_rules),
      cmocka_unit_test_teardown(a_commit_that_ends_early_is_settled, cancel_delay_off),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
