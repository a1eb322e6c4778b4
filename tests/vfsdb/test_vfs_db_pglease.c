/*
 * This file implements the tests of the lease a PostgreSQL mount holds on
 * its tenant's tree (cis_vfs_db_config.lease; src/vfs/vfs_db_postgres_lease.c,
 * docs/dbfs.md "PostgreSQL: the lease"): while it holds it, reads of what
 * the mount knows ask the server nothing and a small file's creation is
 * one statement; another mount's write recalls it and waits until the
 * holder's transaction ends; a lease whose session the server ended is
 * trusted no more; a mount joined to a key-value transaction recalls its
 * own lease rather than rely on it past its scope's end.
 *
 *   test_vfs_db_pglease CONNSTR_FILE
 *
 * Runs on the shared PostgreSQL fixture (tests/support); skips (77)
 * without it, as the other PostgreSQL suites do.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "cis/cis_vfs.h"
#include "support/pg_connstr.h"
#include "common/internal.h"
#include "vfsdb_mnt.h"
#include "vfsdb_owner.h"

/* src/vfs's counters and the join to the call's transaction (libcis.a
 * carries them). */
bool cis__vfs_db_counts(cis_vfs *mount, uint64_t *statements, uint64_t *commits);
uint64_t cis__vfs_db_round_trips(cis_vfs *mount);
bool cis__vfs_db_lease_counts(cis_vfs *mount, uint64_t *grants, uint64_t *given_back,
                              uint64_t *recalled);
cis_result cis__vfs_db_join(cis_vfs *mount, cis__db_txn *t);

static struct {
  char conninfo[2048]; /* the libpq connection string */
  char spec[2200];     /* what cis_vfs_db_new gets */
  char run[48];        /* makes tenant names unique per run */
} g;

#define OK(m, x)                                                                       \
  do {                                                                                 \
    int ok_e_ = (int)(x);                                                              \
    if (ok_e_ != 0) fail_msg("%s = %d (%s)", #x, ok_e_, cis_vfs_errmsg((m)->fs));      \
  } while (0)

static void mnt_budget(mnt *m, const char *suffix, bool lease, uint64_t budget_ms) {
  snprintf(m->tenant, sizeof m->tenant, "%s-%s", g.run, suffix);
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = g.spec;
  cfg.tenant = m->tenant;
  cfg.op_timeout_ms = budget_ms;
  cfg.lease = lease;
  cis_result rc = mnt_mount(m, &cfg, NULL);
  if (rc != CIS_OK) fail_msg("mount %s: %s: %s", suffix, cis_errname(rc), m->why);
}

static void mnt_lease(mnt *m, const char *suffix, bool lease) { mnt_budget(m, suffix, lease, 20000); }

typedef struct counts {
  uint64_t grants, given_back, recalled;
} counts;

static counts lease_of(mnt *m) {
  counts c;
  assert_true(cis__vfs_db_lease_counts(m->fs, &c.grants, &c.given_back, &c.recalled));
  return c;
}

static uint64_t trips(mnt *m) { return cis__vfs_db_round_trips(m->fs); }

static uint64_t stmts(mnt *m) {
  uint64_t s = 0, c = 0;
  assert_true(cis__vfs_db_counts(m->fs, &s, &c));
  return s;
}

static void nap_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* Makes calls until the mount's keeper took the lease `want` times in all
 * (at most 5 s), then one more whose check confirms the caches in it. */
static void until_granted(mnt *m, uint64_t want) {
  cis_vfs_stat st;
  for (int i = 0; i < 500 && lease_of(m).grants < want; i++) {
    OK(m, stat_of(m, ".", &st));
    nap_ms(10);
  }
  if (lease_of(m).grants < want) fail_msg("the lease was not granted %llu times", (unsigned long long)want);
  OK(m, stat_of(m, "d/f", &st)); /* the check */
}

/* A mount of tenant `suffix` with a lease, holding d/f with `content`,
 * once the lease is granted and confirmed. */
static void leased(mnt *a, const char *suffix, const char *content) {
  mnt_lease(a, suffix, true);
  OK(a, cis_vfs_mkdirat(a->root, "d", 1));
  put_str(a, "d/f", content);
  until_granted(a, 1);
}

static PGconn *sql_conn(void) {
  PGconn *pg = PQconnectdb(g.conninfo);
  if (PQstatus(pg) != CONNECTION_OK) fail_msg("connect: %s", PQerrorMessage(pg));
  return pg;
}

/* ---------------------------------------------------------------- tests */

/* Once the lease is held and one check confirmed the caches in it, the
 * mount reads what it knows with no round trip: opens, reads and stats
 * of files it wrote, each call. A small file's creation is one statement
 * (the entry, the block, the nodes and the counters), in one round trip,
 * with no check of the tenant's row first. */
static void test_lease_reads_ask_the_server_nothing(void **state) {
  (void)state;
  mnt a;
  leased(&a, "reads", "leased");
  uint64_t t0 = trips(&a);
  cis_vfs_stat st;
  for (int i = 0; i < 50; i++) {
    expect_str(&a, "d/f", "leased");
    OK(&a, stat_of(&a, "d/f", &st));
  }
  if (trips(&a) != t0)
    fail_msg("50 reads and stats on the lease took %llu round trips, want 0",
             (unsigned long long)(trips(&a) - t0));
  uint64_t s0 = stmts(&a);
  t0 = trips(&a);
  put_str(&a, "d/g", "one statement");
  if (stmts(&a) - s0 != 1 || trips(&a) - t0 != 1)
    fail_msg("a create on the lease ran %llu statements in %llu round trips, want 1 in 1",
             (unsigned long long)(stmts(&a) - s0), (unsigned long long)(trips(&a) - t0));
  expect_str(&a, "d/g", "one statement");
  assert_int_equal(trips(&a), t0 + 1);
  assert_int_equal(lease_of(&a).given_back, 0);
  mnt_unmount(&a);
}

/* A thousand small files written on the lease are read back with few
 * round trips: the name cache (sets of four) loses few of their names to
 * a full set. In sets of two it lost 18 of them (bench/fs.sh's read
 * phase: 1000 files). */
static void test_lease_thousand_files_read_back(void **state) {
  (void)state;
  mnt a;
  leased(&a, "thousand", "leased");
  char path[32], body[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(path, sizeof path, "d/f%05d", i);
    snprintf(body, sizeof body, "file %d", i);
    put_str(&a, path, body);
  }
  uint64_t t0 = trips(&a);
  for (int i = 0; i < 1000; i++) {
    snprintf(path, sizeof path, "d/f%05d", i);
    snprintf(body, sizeof body, "file %d", i);
    expect_str(&a, path, body);
  }
  if (trips(&a) - t0 > 8)
    fail_msg("1000 files read back in %llu round trips, want at most 8",
             (unsigned long long)(trips(&a) - t0));
  mnt_unmount(&a);
}

/* Another mount's write recalls the lease and waits for it: the holder
 * gives it back, sees the write at its next call (close-to-open across
 * mounts, as without a lease), and takes the lease again later. A mount
 * without a lease of its own recalls just the same. */
static void test_lease_recalled_by_another_mounts_write(void **state) {
  (void)state;
  mnt a, b, c;
  leased(&a, "recall", "one");
  expect_str(&a, "d/f", "one");
  mnt_lease(&b, "recall", false);
  put_str(&b, "d/f", "two");
  assert_int_equal(lease_of(&b).recalled, 1);
  assert_int_equal(lease_of(&a).given_back, 1);
  expect_str(&a, "d/f", "two");
  /* Taken again after its backoff; then a mount with a lease of its own
   * recalls it too, and reads what a's lease made. */
  until_granted(&a, 2);
  put_str(&a, "d/f", "three");
  mnt_lease(&c, "recall", true);
  expect_str(&c, "d/f", "three");
  put_str(&c, "d/h", "four");
  assert_true(lease_of(&c).recalled >= 1);
  assert_int_equal(lease_of(&a).given_back, 2);
  expect_str(&a, "d/h", "four");
  expect_str(&a, "d/f", "three");
  mnt_unmount(&c);
  mnt_unmount(&b);
  mnt_unmount(&a);
}

typedef struct writer {
  mnt *m;
  atomic_bool done;
  int err;
} writer;

static void *write_other(void *arg) {
  writer *w = arg;
  cis_vfs_file *f = NULL;
  w->err = cis_vfs_openat(w->m->root, "d/f", 3, CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC, &f);
  size_t n = 0;
  if (!w->err) w->err = cis_vfs_pwrite(f, "other", 5, 0, &n);
  if (f) cis_vfs_close(f);
  atomic_store(&w->done, true);
  return NULL;
}

/* A write transaction of the holder that took no shared lock keeps the
 * lease until it ends: another mount's write, recalling it meanwhile,
 * waits for the holder's scope to commit, then lands after it. */
static void test_lease_writer_waits_for_the_holders_scope(void **state) {
  (void)state;
  mnt a, b;
  leased(&a, "wait", "first");
  mnt_lease(&b, "wait", false);
  assert_int_equal(cis_vfs_scope_begin(a.fs), CIS_OK);
  put_str(&a, "d/f", "scoped");
  writer w = {.m = &b};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, write_other, &w), 0);
  nap_ms(300);
  bool early = atomic_load(&w.done);
  assert_int_equal(cis_vfs_scope_end(a.fs, true), CIS_OK);
  pthread_join(t, NULL);
  if (early) fail_msg("another mount's write landed inside the holder's scope");
  if (w.err) fail_msg("the waiting write failed: %d (%s)", w.err, cis_vfs_errmsg(b.fs));
  expect_str(&a, "d/f", "other");
  expect_str(&b, "d/f", "other");
  assert_int_equal(lease_of(&a).given_back, 1);
  mnt_unmount(&b);
  mnt_unmount(&a);
}

/* The server ends the keeper's session (an administrator, a restart):
 * its lock goes with it, so another mount writes at once, and the holder,
 * whose keeper finds its socket closed, checks again at its next call and
 * sees that write. */
static void test_lease_lost_with_the_keepers_session(void **state) {
  (void)state;
  mnt a, b;
  leased(&a, "lost", "before");
  mnt_lease(&b, "lost", false);
  PGconn *pg = sql_conn();
  char q[600];
  snprintf(q, sizeof q,
           "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN cis_vfs_tenants t ON "
           "l.objid = (t.tenant_id %% 2147483648) WHERE t.name = convert_to('%s', 'UTF8') AND "
           "l.locktype = 'advisory' AND l.classid = 1667855222 AND l.objsubid = 2 AND "
           "l.mode = 'ExclusiveLock' AND l.granted",
           a.tenant);
  PGresult *r = PQexec(pg, q);
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
    fail_msg("the keeper's session was not found: %s", PQresultErrorMessage(r));
  PQclear(r);
  /* Until the session is gone (its lock with it): at most 5 s. */
  bool gone = false;
  for (int i = 0; i < 500 && !gone; i++) {
    r = PQexec(pg, q);
    gone = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 0;
    PQclear(r);
    if (!gone) nap_ms(10);
  }
  PQfinish(pg);
  if (!gone) fail_msg("the keeper's session outlived pg_terminate_backend by 5 s");
  put_str(&b, "d/f", "after");
  assert_int_equal(lease_of(&b).recalled, 0); /* nobody held it any more */
  expect_str(&a, "d/f", "after");
  assert_int_equal(lease_of(&a).given_back, 0);
  mnt_unmount(&b);
  mnt_unmount(&a);
}

/* A mount joined to a key-value transaction on PostgreSQL (files and KV
 * in one transaction) never relies on its lease: the owner's COMMIT
 * comes after the scope's end. It recalls its own lease, waits for it,
 * and writes under the lease's lock taken shared, as any other writer. */
static void test_lease_joined_transaction_recalls_its_own(void **state) {
  (void)state;
  mnt a, b;
  leased(&a, "join", "own");
  cis__db_conn *oc = vfsdb_owner_connect(g.spec);
  assert_non_null(oc);
  PGconn *owner = cis__db_conn_pg(oc);
  vfsdb_owner o;
  PQclear(PQexec(owner, "BEGIN"));
  assert_true(vfsdb_owner_offer(&o, oc, g.spec));
  assert_int_equal(cis_vfs_scope_begin(a.fs), CIS_OK);
  assert_int_equal(cis__vfs_db_join(a.fs, o.txn), CIS_OK);
  put_str(&a, "d/f", "joined");
  expect_str(&a, "d/f", "joined");
  assert_int_equal(cis_vfs_scope_end(a.fs, true), CIS_OK);
  assert_int_equal(lease_of(&a).recalled, 1);
  assert_int_equal(lease_of(&a).given_back, 1);
  mnt_lease(&b, "join", false);
  expect_str(&b, "d/f", "own"); /* not before the owner commits */
  vfsdb_owner_end(&o);
  PGresult *r = PQexec(owner, "COMMIT");
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  cis__db_conn_close(oc);
  expect_str(&b, "d/f", "joined");
  expect_str(&a, "d/f", "joined");
  mnt_unmount(&b);
  mnt_unmount(&a);
}

/* A small file the mount keeps whole (written on the lease), read through
 * a handle opened before another mount's commit elsewhere in the tree
 * recalled the lease: the read's check finds the generation moved and
 * empties the caches, and the read goes to the server for the bytes
 * rather than serve what the check just dropped. */
static void test_lease_kept_file_read_after_a_recall(void **state) {
  (void)state;
  mnt a, b;
  leased(&a, "kept", "kept whole");
  put_str(&a, "d/x", "on the lease");
  cis_vfs_file *h = NULL;
  OK(&a, cis_vfs_openat(a.root, "d/x", 3, CIS_VFS_READ, &h));
  mnt_lease(&b, "kept", false);
  put_str(&b, "d/other", "elsewhere");
  assert_int_equal(lease_of(&a).given_back, 1);
  char buf[64];
  size_t n = 0;
  OK(&a, cis_vfs_pread(h, buf, sizeof buf, 0, &n));
  cis_vfs_close(h);
  if (n != strlen("on the lease") || memcmp(buf, "on the lease", n) != 0)
    fail_msg("read %zu bytes \"%.*s\", want \"on the lease\"", n, (int)n, buf);
  mnt_unmount(&b);
  mnt_unmount(&a);
}

/* A commit on the lease checks nothing first but compares the generation
 * it began from: a change behind cis's back that skipped the lease's
 * protocol (no recall, no shared lock) is found there, and the write is
 * made again on the row read afresh, not over it. */
static void test_lease_commit_compares_the_generation(void **state) {
  (void)state;
  mnt a;
  leased(&a, "gen", "one");
  PGconn *pg = sql_conn();
  char q[400];
  snprintf(q, sizeof q,
           "UPDATE cis_vfs_tenants SET next_eid = next_eid + 1000, next_ino = next_ino + 1000 "
           "WHERE name = convert_to('%s', 'UTF8')",
           a.tenant);
  PGresult *r = PQexec(pg, q);
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  PQfinish(pg);
  uint64_t t0 = trips(&a);
  put_str(&a, "d/g", "two");
  assert_true(trips(&a) - t0 >= 2); /* the commit refused, then made again */
  expect_str(&a, "d/g", "two");
  mnt b;
  mnt_lease(&b, "gen", false);
  expect_str(&b, "d/g", "two");
  expect_str(&b, "d/f", "one");
  mnt_unmount(&b);
  mnt_unmount(&a);
}

/* Deleting a tenant recalls its lease and waits for it, as any writer:
 * the holder's next call finds the tenant gone. */
static void test_lease_recalled_by_tenant_delete(void **state) {
  (void)state;
  mnt a;
  leased(&a, "delete", "doomed");
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = g.spec;
  cfg.tenant = a.tenant;
  assert_int_equal(cis_vfs_db_tenant_delete(&cfg), CIS_OK);
  assert_int_equal(lease_of(&a).given_back, 1);
  cis_vfs_stat st;
  int e = stat_of(&a, "d/f", &st);
  if (e != EIO) fail_msg("stat after the tenant's deletion: %d (%s), want EIO", e, cis_vfs_errmsg(a.fs));
  mnt_unmount(&a);
}

typedef struct counter_writer {
  mnt *m;
  int n;
  atomic_int done; /* the last value whose write returned */
  int err;
} counter_writer;

static void *write_counter(void *arg) {
  counter_writer *w = arg;
  for (int i = 1; i <= w->n && !w->err; i++) {
    char v[16];
    snprintf(v, sizeof v, "%d", i);
    w->err = put_try(w->m, "d/f", v, strlen(v));
    if (!w->err) atomic_store(&w->done, i);
  }
  return NULL;
}

/* Close-to-open across two mounts that both hold leases in turn: while
 * one writes a counter to a file, call after call, the other reads it,
 * and each read sees at least the value whose write had returned before
 * the read began, whoever held the lease then. */
static void test_lease_reader_never_sees_older_than_a_returned_write(void **state) {
  (void)state;
  enum { WRITES = 150 };
  mnt a, b;
  leased(&a, "counter", "0");
  mnt_lease(&b, "counter", true);
  counter_writer w = {.m = &b, .n = WRITES};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, write_counter, &w), 0);
  int reads = 0, bad = -1, bad_seen = 0;
  for (int last = 0; last < WRITES && !w.err && reads < 200000; reads++) {
    last = atomic_load(&w.done);
    cis_vfs_file *f = NULL;
    char buf[16] = {0};
    size_t n = 0;
    int e = cis_vfs_openat(a.root, "d/f", 3, CIS_VFS_READ, &f);
    if (!e) e = cis_vfs_pread(f, buf, sizeof buf - 1, 0, &n);
    if (f) cis_vfs_close(f);
    if (e) fail_msg("read %d: %d (%s)", reads, e, cis_vfs_errmsg(a.fs));
    int v = atoi(buf);
    if (v < last && bad < 0) bad = v, bad_seen = last;
  }
  pthread_join(t, NULL);
  if (w.err) fail_msg("the writer failed: %d (%s)", w.err, cis_vfs_errmsg(b.fs));
  if (bad >= 0) fail_msg("a read saw %d after the write of %d had returned", bad, bad_seen);
  char want[16];
  snprintf(want, sizeof want, "%d", WRITES);
  expect_str(&a, "d/f", want);
  print_message("%d reads beside %d writes; a took the lease %llu times, b %llu\n", reads,
                WRITES, (unsigned long long)lease_of(&a).grants,
                (unsigned long long)lease_of(&b).grants);
  mnt_unmount(&b);
  mnt_unmount(&a);
}

static void sql_ok(PGconn *pg, const char *q) {
  PGresult *r = PQexec(pg, q);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) fail_msg("%s: %s", q, PQresultErrorMessage(r));
  PQclear(r);
}

/* A holder that never gives the lease back (a session holding its lock
 * that does not listen, as a stopped process would): a writer recalls
 * it, waits within its budget and then fails with CIS_VFS_EDOWN, its
 * change not made; once the lock goes, the same write lands. */
static void test_lease_never_given_back_is_a_typed_timeout(void **state) {
  (void)state;
  mnt a;
  mnt_budget(&a, "stuck", false, 1500);
  OK(&a, cis_vfs_mkdirat(a.root, "d", 1));
  put_str(&a, "d/f", "before");
  PGconn *pg = sql_conn();
  char q[400];
  snprintf(q, sizeof q,
           "SELECT pg_advisory_lock(1667855222, CAST(tenant_id %% 2147483648 AS int4)) FROM "
           "cis_vfs_tenants WHERE name = convert_to('%s', 'UTF8')",
           a.tenant);
  sql_ok(pg, q);
  int e = put_try(&a, "d/f", "during", 6);
  if (e != CIS_VFS_EDOWN) fail_msg("a write past a lease never given back: %d (%s), want EDOWN", e, cis_vfs_errmsg(a.fs));
  assert_true(lease_of(&a).recalled >= 1);
  sql_ok(pg, "SELECT pg_advisory_unlock_all()");
  PQfinish(pg);
  expect_str(&a, "d/f", "before");
  put_str(&a, "d/f", "after");
  expect_str(&a, "d/f", "after");
  mnt_unmount(&a);
}

static double cpu_s(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

/* A lease kept past the keeper's calm period (10 s, after which its
 * backoff starts again) costs no CPU: the keeper sleeps until the
 * server or the mount wakes it. */
static void test_lease_kept_long_costs_no_cpu(void **state) {
  (void)state;
  mnt a;
  leased(&a, "idle", "idle");
  double t0 = cpu_s();
  nap_ms(12000);
  double used = cpu_s() - t0;
  if (used > 1.0) fail_msg("a mount holding its lease for 12 s idle used %.2f s of CPU", used);
  expect_str(&a, "d/f", "idle");
  assert_int_equal(lease_of(&a).given_back, 0);
  mnt_unmount(&a);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CONNSTR_FILE\n", argv[0]);
    return 2;
  }
  int rc = cis_test_read_connstr(argv[1], g.conninfo, sizeof g.conninfo);
  if (rc) return rc;
  snprintf(g.spec, sizeof g.spec, "postgres:%s", g.conninfo);
  snprintf(g.run, sizeof g.run, "lease%ld-%ld", (long)getpid(), (long)time(NULL) % 100000);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lease_reads_ask_the_server_nothing),
      cmocka_unit_test(test_lease_thousand_files_read_back),
      cmocka_unit_test(test_lease_recalled_by_another_mounts_write),
      cmocka_unit_test(test_lease_writer_waits_for_the_holders_scope),
      cmocka_unit_test(test_lease_lost_with_the_keepers_session),
      cmocka_unit_test(test_lease_joined_transaction_recalls_its_own),
      cmocka_unit_test(test_lease_kept_file_read_after_a_recall),
      cmocka_unit_test(test_lease_commit_compares_the_generation),
      cmocka_unit_test(test_lease_recalled_by_tenant_delete),
      cmocka_unit_test(test_lease_reader_never_sees_older_than_a_returned_write),
      cmocka_unit_test(test_lease_never_given_back_is_a_typed_timeout),
      cmocka_unit_test(test_lease_kept_long_costs_no_cpu),
  };
  return cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
}
