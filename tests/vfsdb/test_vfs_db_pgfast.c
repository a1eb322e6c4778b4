/*
 * This file implements the tests of the PostgreSQL fast paths of the
 * database filesystem (src/vfs/vfs_db.c, docs/dbfs.md "Fast paths"): a
 * regular file created to be written is made with its first write in one
 * round trip (the deferred creation, `land`), every edge where something
 * observes it before that write, the optimistic begin and its redo when
 * another mount committed, the directories a mount made knowing their
 * names, and the small file a handle keeps after its first read.
 *
 *   test_vfs_db_pgfast CONNSTR_FILE
 *
 * Runs on the shared PostgreSQL fixture (tests/support); skips (77)
 * without it, as the other PostgreSQL suites do.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "cis/cis_vfs.h"
#include "common/pgwire.h"
#include "support/pg_connstr.h"
#include "vfsdb_mnt.h"
#include "vfsdb_pg.h"

/* src/vfs's counters for the tests (libcis.a carries them). */
bool cis__vfs_db_counts(cis_vfs *mount, uint64_t *statements, uint64_t *commits);
uint64_t cis__vfs_db_round_trips(cis_vfs *mount);

static struct {
  char conninfo[2048]; /* the libpq connection string */
  char spec[2200];     /* what cis_vfs_db_new gets */
  char run[48];        /* makes tenant names unique per run */
} g;

static cis_vfs *g_last_fs;

#define OK(x)                                                                          \
  do {                                                                                 \
    int ok_e_ = (int)(x);                                                              \
    if (ok_e_ != 0) fail_msg("%s = %d (%s)", #x, ok_e_, cis_vfs_errmsg(g_last_fs));    \
  } while (0)
#define ERR(want, x)                                                                   \
  do {                                                                                 \
    int err_e_ = (int)(x);                                                             \
    if (err_e_ != (int)(want))                                                         \
      fail_msg("%s = %d, want %s = %d (%s)", #x, err_e_, #want, (int)(want),           \
               cis_vfs_errmsg(g_last_fs));                                             \
  } while (0)

static void mnt_open_opts(mnt *m, const char *suffix, const cis_vfs_options *opts) {
  char tenant[160];
  snprintf(tenant, sizeof tenant, "%s-%s", g.run, suffix);
  memset(m, 0, sizeof *m);
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = g.spec;
  cfg.tenant = tenant;
  cfg.op_timeout_ms = 20000;
  cis_vfs_backend *b = NULL;
  cis_vfs_db_new(&cfg, &b); /* a failed backend fails the mount, with its message */
  cis_result rc = cis_vfs_mount(b, opts, &m->fs);
  if (rc != CIS_OK) fail_msg("mount %s: %s: %s", suffix, cis_errname(rc), cis_vfs_errmsg(m->fs));
  g_last_fs = m->fs;
  OK(cis_vfs_open_root(m->fs, &m->root));
}

static void mnt_open(mnt *m, const char *suffix) { mnt_open_opts(m, suffix, NULL); }

static void mnt_close(mnt *m) {
  if (g_last_fs == m->fs) g_last_fs = NULL;
  mnt_unmount(m);
}

static cis_vfs_file *create(mnt *m, const char *path) {
  cis_vfs_file *f = NULL;
  OK(cis_vfs_openat(m->root, path, strlen(path),
                    CIS_VFS_WRITE | CIS_VFS_READ | CIS_VFS_CREAT | CIS_VFS_TRUNC, &f));
  return f;
}

static void write_str(cis_vfs_file *f, const char *s) {
  size_t n = 0;
  OK(cis_vfs_pwrite(f, s, strlen(s), 0, &n));
  assert_int_equal(n, strlen(s));
}

static uint64_t stmts(cis_vfs *fs) {
  uint64_t s = 0, c = 0;
  assert_true(cis__vfs_db_counts(fs, &s, &c));
  return s;
}

/* Runs a statement as test_vfs_db.c's sql_exec does (vfsdb_pg.h). */
static void sql_exec(const char *q) {
  char err[512];
  if (vfsdb_pg_exec(g.conninfo, g.run, q, err, sizeof err)) fail_msg("%s: %s", q, err);
}

/* Makes the server refuse, with `message`, the insert of any entry
 * named `name` (plain ASCII, no quotes) until refuse_entries_end. */
static void refuse_entries_named(const char *name, const char *message) {
  char q[512];
  sql_exec("DROP TRIGGER IF EXISTS cis_test_refuse ON cis_vfs_entries");
  snprintf(q, sizeof q,
           "CREATE OR REPLACE FUNCTION cis_test_refuse() RETURNS trigger LANGUAGE plpgsql "
           "AS $$BEGIN RAISE EXCEPTION '%s'; END$$",
           message);
  sql_exec(q);
  snprintf(q, sizeof q,
           "CREATE TRIGGER cis_test_refuse BEFORE INSERT ON cis_vfs_entries FOR EACH ROW "
           "WHEN (NEW.name = convert_to('%s', 'UTF8')) EXECUTE FUNCTION cis_test_refuse()",
           name);
  sql_exec(q);
}

static void refuse_entries_end(void) {
  sql_exec("DROP TRIGGER cis_test_refuse ON cis_vfs_entries");
  sql_exec("DROP FUNCTION cis_test_refuse()");
}

/* A mount warmed up in directory d (made by it): statements prepared, an
 * inode range reserved, so the next creation in d is deferred. */
static void warm(mnt *m, const char *suffix) {
  mnt_open(m, suffix);
  OK(cis_vfs_mkdirat(m->root, "d", 1));
  put_str(m, "d/warm", "warm");
  expect_str(m, "d/warm", "warm");
}

/* ---------------------------------------------------------------- tests */

/* Creating, writing and closing a small file in a directory the mount
 * made is one round trip: openat's lookup of the name, which an open
 * creating it follows, is answered from the name cache without the
 * call's check, and the write sends BEGIN, the row lock with that check,
 * the entry, the block, the node, the directory's times, the counters
 * and COMMIT together. The open sends nothing, nor does the close. */
static void test_pg_small_file_create_write_close_is_one_round_trip(void **state) {
  (void)state;
  mnt m;
  warm(&m, "create-one-trip");
  uint64_t a = cis__vfs_db_round_trips(m.fs);
  cis_vfs_file *f = create(&m, "d/f");
  assert_int_equal(cis__vfs_db_round_trips(m.fs) - a, 0);
  write_str(f, "created");
  cis_vfs_close(f);
  uint64_t trips = cis__vfs_db_round_trips(m.fs) - a;
  if (trips != 1)
    fail_msg("create + write + close took %llu round trips, want 1", (unsigned long long)trips);
  /* That one wait is a commit's (pgwire.h): a spin of 1 µs runs out on
   * it, which turns spinning off for the next wait of the commits' kind
   * and not of the statements'. (An answer already in when the spin
   * begins, after a stall of the client, teaches nothing: tried again.) */
  unsigned spin = cis__pgwire_spin_us();
  bool seen = false;
  for (int i = 0; i < 20 && !seen; i++) {
    char name[32];
    snprintf(name, sizeof name, "d/g%d", i);
    cis__pgwire_spin_set(1);
    a = cis__vfs_db_round_trips(m.fs);
    f = create(&m, name);
    write_str(f, "created");
    cis_vfs_close(f);
    assert_int_equal(cis__vfs_db_round_trips(m.fs) - a, 1);
    assert_int_equal(cis__pgwire_spin_skips(CIS__PGWIRE_STATEMENT), 0);
    seen = cis__pgwire_spin_skips(CIS__PGWIRE_COMMIT) == 1;
  }
  cis__pgwire_spin_set(spin);
  if (!seen) fail_msg("20 small files' commits with a spin of 1 us never turned the commits' spin off");
  expect_str(&m, "d/f", "created");
  mnt_close(&m);
}

/* The commit of a small file's creation sends the counters with the new
 * node, its directory's new times, its entry and its block in one
 * statement (Q_CTR_NODES, the entry and the block held for it): two
 * statements in all (the row lock with the check, that one), six before
 * the nodes went with the counters, four before the entry and the block
 * did. What it wrote is what another mount, whose caches know nothing,
 * reads: the file's size and node, the directory's times. */
static void test_pg_create_commits_nodes_with_the_counters(void **state) {
  (void)state;
  mnt a, b;
  warm(&a, "ctr-nodes");
  cis_vfs_stat d0, st, other;
  OK(cis_vfs_statat(a.root, "d", 1, 0, &d0));
  uint64_t s0 = stmts(a.fs);
  cis_vfs_file *f = create(&a, "d/f");
  write_str(f, "two statements");
  cis_vfs_close(f);
  uint64_t n = stmts(a.fs) - s0;
  if (n != 2) fail_msg("create + write + close ran %llu statements, want 2", (unsigned long long)n);
  OK(cis_vfs_statat(a.root, "d", 1, 0, &st));
  assert_true(st.mtim > d0.mtim);
  mnt_open(&b, "ctr-nodes");
  OK(cis_vfs_statat(b.root, "d", 1, 0, &other));
  assert_int_equal(other.mtim, st.mtim);
  assert_int_equal(other.ctim, st.ctim);
  OK(cis_vfs_statat(a.root, "d/f", 3, 0, &st));
  OK(cis_vfs_statat(b.root, "d/f", 3, 0, &other));
  assert_int_equal(other.ino, st.ino);
  assert_int_equal(other.size, strlen("two statements"));
  assert_int_equal(other.mtim, st.mtim);
  expect_str(&b, "d/f", "two statements");
  /* The counters moved with it: another mount's file made in between and
   * this mount's next one do not share a node. */
  put_str(&b, "d/g", "g");
  f = create(&a, "d/h");
  write_str(f, "h");
  cis_vfs_close(f);
  OK(cis_vfs_statat(a.root, "d/g", 3, 0, &st));
  OK(cis_vfs_statat(a.root, "d/h", 3, 0, &other));
  assert_true(st.ino != other.ino);
  expect_str(&a, "d/g", "g");
  expect_str(&b, "d/h", "h");
  mnt_close(&b);
  mnt_close(&a);
}

/* Rows of cis_vfs_entries named `name` (any directory, any layer) of
 * this run's tenant `suffix`, and how many of them are whiteouts. */
static int entry_rows(const char *suffix, const char *name, int *whiteouts) {
  PGconn *pg = PQconnectdb(g.conninfo);
  if (PQstatus(pg) != CONNECTION_OK) fail_msg("connect: %s", PQerrorMessage(pg));
  char q[512];
  snprintf(q, sizeof q,
           "SELECT count(*), count(*) FILTER (WHERE e.type=0) FROM cis_vfs_entries e "
           "JOIN cis_vfs_tenants t USING (tenant_id) WHERE t.name=convert_to('%s-%s', 'UTF8') "
           "AND e.name=convert_to('%s', 'UTF8')",
           g.run, suffix, name);
  PGresult *r = PQexec(pg, q);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s: %s", q, PQresultErrorMessage(r));
  int n = atoi(PQgetvalue(r, 0, 0));
  *whiteouts = atoi(PQgetvalue(r, 0, 1));
  PQclear(r);
  PQfinish(pg);
  return n;
}

/* An unlink decides on the server whether the name needs a whiteout
 * (Q_ENT_REMOVE, in the pipeline): three round trips (the lookup with
 * the call's check, the row lock, the changes with COMMIT), four when it
 * asked first. A name only the top layer has loses its row; a name a
 * snapshot holds gets a whiteout, and is gone from the view all the same. */
static void test_pg_unlink_decides_the_whiteout_on_the_server(void **state) {
  (void)state;
  mnt m;
  int wo;
  warm(&m, "unlink-trips");
  put_str(&m, "d/first", "its statements are prepared");
  OK(cis_vfs_unlinkat(m.root, "d/first", 7));
  put_str(&m, "d/top", "top");
  put_str(&m, "d/low", "low");
  uint64_t t0 = cis__vfs_db_round_trips(m.fs);
  OK(cis_vfs_unlinkat(m.root, "d/top", 5));
  uint64_t trips = cis__vfs_db_round_trips(m.fs) - t0;
  if (trips != 3) fail_msg("unlink took %llu round trips, want 3", (unsigned long long)trips);
  assert_int_equal(entry_rows("unlink-trips", "top", &wo), 0);

  uint64_t snap = 0;
  OK(cis_vfs_db_snapshot(m.fs, "kept", &snap));
  OK(cis_vfs_unlinkat(m.root, "d/low", 5));
  assert_int_equal(entry_rows("unlink-trips", "low", &wo), 2); /* the snapshot's and a whiteout */
  assert_int_equal(wo, 1);
  cis_vfs_stat st;
  ERR(ENOENT, cis_vfs_statat(m.root, "d/low", 5, 0, &st));
  mnt other;
  mnt_open(&other, "unlink-trips");
  ERR(ENOENT, cis_vfs_statat(other.root, "d/low", 5, 0, &st));
  put_str(&other, "d/low", "again");
  expect_str(&m, "d/low", "again");
  mnt_close(&other);
  mnt_close(&m);
}

/* Opens path on m with flags (CREAT among them), sending nothing. */
static cis_vfs_file *open_unsent(mnt *m, const char *path, uint32_t flags) {
  cis_vfs_file *f = NULL;
  uint64_t t0 = cis__vfs_db_round_trips(m->fs);
  OK(cis_vfs_openat(m->root, path, strlen(path), flags, &f));
  assert_int_equal(cis__vfs_db_round_trips(m->fs) - t0, 0);
  return f;
}

/* The name was said absent before the call's check, but another mount
 * had made it: the write's check finds the generation moved, and the
 * redo opens that file, as the check at the open would have (without
 * TRUNC its bytes past the write stay, and it keeps its node); with TRUNC
 * it is truncated first. Nothing is replaced or lost. */
static void test_pg_unchecked_absent_name_made_by_another_mount_is_opened(void **state) {
  (void)state;
  mnt a, b;
  warm(&a, "blind-made");
  mnt_open(&b, "blind-made");
  put_str(&b, "d/f", "from b, longer");
  put_str(&b, "d/t", "from b, longer");
  cis_vfs_stat sb;
  OK(stat_of(&b, "d/f", &sb));
  cis_vfs_file *f = open_unsent(&a, "d/f", CIS_VFS_WRITE | CIS_VFS_CREAT);
  write_str(f, "from a");
  cis_vfs_close(f);
  expect_str(&a, "d/f", "from a, longer");
  expect_str(&b, "d/f", "from a, longer");
  cis_vfs_stat sa;
  OK(stat_of(&a, "d/f", &sa));
  assert_int_equal(sa.ino, sb.ino);
  f = create(&a, "d/t");
  write_str(f, "from a");
  cis_vfs_close(f);
  expect_str(&b, "d/t", "from a");
  mnt_close(&a);
  mnt_close(&b);
}

/* Opened on a name said absent before the call's check and closed
 * unwritten: the close sends the creation with the check, which finds
 * the other mount's file there and leaves it as the open would have. */
static void test_pg_unchecked_absent_name_closed_unwritten_keeps_the_file(void **state) {
  (void)state;
  mnt a, b;
  warm(&a, "blind-close");
  mnt_open(&b, "blind-close");
  put_str(&b, "d/g", "kept");
  cis_vfs_file *f = open_unsent(&a, "d/g", CIS_VFS_WRITE | CIS_VFS_CREAT);
  uint64_t t0 = cis__vfs_db_round_trips(a.fs);
  cis_vfs_close(f);
  assert_true(cis__vfs_db_round_trips(a.fs) - t0 >= 1); /* the close checks */
  expect_str(&a, "d/g", "kept");
  expect_str(&b, "d/g", "kept");
  mnt_close(&a);
  mnt_close(&b);
  /* A new name closed unwritten: an empty file, made and checked by the
   * close in one round trip. */
  warm(&a, "blind-close-new");
  mnt_open(&b, "blind-close-new");
  f = open_unsent(&a, "d/new", CIS_VFS_WRITE | CIS_VFS_CREAT);
  t0 = cis__vfs_db_round_trips(a.fs);
  cis_vfs_close(f);
  assert_int_equal(cis__vfs_db_round_trips(a.fs) - t0, 1);
  cis_vfs_stat st;
  OK(stat_of(&b, "d/new", &st));
  assert_int_equal(st.size, 0);
  mnt_close(&a);
  mnt_close(&b);
}

/* A file opened on a name said absent before the call's check and left
 * open when its mount goes (a guest that trapped, a host that gave up):
 * the unmount closes its node, which sends the creation with the check;
 * the other mount's file under the name stays as the open would have
 * left it. */
static void test_pg_unchecked_absent_name_open_at_unmount_keeps_the_file(void **state) {
  (void)state;
  mnt a, b;
  warm(&a, "blind-unmount");
  mnt_open(&b, "blind-unmount");
  put_str(&b, "d/u", "kept");
  cis_vfs_file *f = open_unsent(&a, "d/u", CIS_VFS_WRITE | CIS_VFS_CREAT);
  cis_vfs_unmount(a.fs);
  cis_vfs_close(f); /* detached by the unmount: only freed */
  cis_vfs_close(a.root);
  expect_str(&b, "d/u", "kept");
  cis_vfs_stat st;
  OK(stat_of(&b, "d/u", &st));
  assert_int_equal(st.size, 4);
  mnt_close(&b);
}

/* The name another mount made is a directory or a symlink: the write
 * that lands the creation gives the open's typed error (EISDIR, ELOOP),
 * and the other mount's node stays. */
static void test_pg_unchecked_absent_name_made_a_directory_or_symlink(void **state) {
  (void)state;
  mnt a, b;
  warm(&a, "blind-dir");
  mnt_open(&b, "blind-dir");
  OK(cis_vfs_mkdirat(b.root, "d/x", 3));
  size_t n = 0;
  cis_vfs_file *f = open_unsent(&a, "d/x", CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC);
  ERR(EISDIR, cis_vfs_pwrite(f, "x", 1, 0, &n));
  cis_vfs_close(f);
  cis_vfs_stat st;
  OK(stat_of(&a, "d/x", &st));
  assert_int_equal(st.type, CIS_VFS_DIR);
  mnt_close(&a);
  mnt_close(&b);
  warm(&a, "blind-link");
  mnt_open(&b, "blind-link");
  OK(cis_vfs_symlinkat("warm", 4, b.root, "d/l", 3));
  f = open_unsent(&a, "d/l", CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC);
  ERR(ELOOP, cis_vfs_pwrite(f, "x", 1, 0, &n));
  cis_vfs_close(f);
  memset(&st, 0, sizeof st);
  OK(cis_vfs_statat(b.root, "d/l", 3, 0, &st));
  assert_int_equal(st.type, CIS_VFS_SYMLINK);
  expect_str(&b, "d/warm", "warm");
  mnt_close(&a);
  mnt_close(&b);
}

/* A mount with e/s made by it, a file written there and read back. */
static void warm_deep(mnt *m, const char *suffix) {
  mnt_open(m, suffix);
  OK(cis_vfs_mkdirat(m->root, "e", 1));
  OK(cis_vfs_mkdirat(m->root, "e/s", 3));
  put_str(m, "e/s/warm", "warm");
  expect_str(m, "e/s/warm", "warm");
}

/* The directories on the path of a creation said absent unchecked were
 * opened on unchecked caches too; another mount moved them meanwhile.
 * The write's check fails, its redo looks them up again by name, and the
 * file lands where its path leads now (not in the directory moved away);
 * when the path leads nowhere, the write says ENOENT and nothing lands. */
static void test_pg_unchecked_create_lands_where_its_path_leads_now(void **state) {
  (void)state;
  mnt a, b;
  cis_vfs_stat st;
  warm_deep(&a, "blind-path");
  mnt_open(&b, "blind-path");
  OK(cis_vfs_renameat(b.root, "e", 1, b.root, "e2", 2));
  OK(cis_vfs_mkdirat(b.root, "e", 1));
  OK(cis_vfs_mkdirat(b.root, "e/s", 3));
  cis_vfs_file *f = open_unsent(&a, "e/s/f", CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC);
  write_str(f, "from a");
  cis_vfs_close(f);
  expect_str(&b, "e/s/f", "from a");
  ERR(ENOENT, stat_of(&b, "e2/s/f", &st));
  mnt_close(&a);
  mnt_close(&b);

  warm_deep(&a, "blind-path-gone");
  mnt_open(&b, "blind-path-gone");
  OK(cis_vfs_renameat(b.root, "e", 1, b.root, "e2", 2));
  f = open_unsent(&a, "e/s/f", CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC);
  size_t n = 0;
  ERR(ENOENT, cis_vfs_pwrite(f, "x", 1, 0, &n));
  cis_vfs_close(f);
  ERR(ENOENT, stat_of(&b, "e2/s/f", &st));
  ERR(ENOENT, stat_of(&b, "e/s/f", &st));
  mnt_close(&a);
  mnt_close(&b);
}

/* At its node quota a mount looks the name up with the call's check
 * before creating: a name another mount made is opened, not refused with
 * EDQUOT on the unchecked caches' word that it is absent. */
static void test_pg_create_at_node_quota_checks_the_name_first(void **state) {
  (void)state;
  mnt a, b;
  cis_vfs_options o = {.max_files = 2}; /* d and d/warm */
  mnt_open_opts(&a, "blind-quota", &o);
  OK(cis_vfs_mkdirat(a.root, "d", 1));
  put_str(&a, "d/warm", "warm");
  expect_str(&a, "d/warm", "warm");
  mnt_open(&b, "blind-quota");
  put_str(&b, "d/q", "from b");
  cis_vfs_file *f = NULL;
  OK(cis_vfs_openat(a.root, "d/q", 3, CIS_VFS_WRITE | CIS_VFS_CREAT, &f));
  write_str(f, "FROM");
  cis_vfs_close(f);
  expect_str(&b, "d/q", "FROM b");
  ERR(EDQUOT, cis_vfs_openat(a.root, "d/new", 5, CIS_VFS_WRITE | CIS_VFS_CREAT, &f));
  mnt_close(&a);
  mnt_close(&b);
}

/* Opens that cannot defer the creation check in their own transaction:
 * EXCL finds the other mount's name (EEXIST), CREAT without WRITE opens
 * it. */
static void test_pg_unchecked_absent_name_excl_or_read_checks_at_open(void **state) {
  (void)state;
  mnt a, b;
  warm(&a, "blind-excl");
  mnt_open(&b, "blind-excl");
  put_str(&b, "d/e", "there");
  cis_vfs_file *f = NULL;
  ERR(EEXIST, cis_vfs_openat(a.root, "d/e", 3, CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_EXCL, &f));
  put_str(&b, "d/r", "there too");
  OK(cis_vfs_openat(a.root, "d/r", 3, CIS_VFS_READ | CIS_VFS_CREAT, &f));
  char buf[32];
  size_t got = 0;
  OK(cis_vfs_pread(f, buf, sizeof buf, 0, &got));
  assert_int_equal(got, 9);
  cis_vfs_close(f);
  mnt_close(&a);
  mnt_close(&b);
}

/* A name looked up in a directory the mount made, and never made there,
 * is absent without a statement beyond the call's check; once another
 * mount makes it, the generation moved and the name is seen. */
static void test_pg_absent_name_in_own_directory_costs_no_statement(void **state) {
  (void)state;
  mnt a, b;
  warm(&a, "absent");
  mnt_open(&b, "absent");
  cis_vfs_stat st;
  uint64_t s0 = stmts(a.fs);
  ERR(ENOENT, stat_of(&a, "d/nothing", &st));
  assert_int_equal(stmts(a.fs) - s0, 1);
  put_str(&b, "d/nothing", "now there");
  OK(stat_of(&a, "d/nothing", &st));
  assert_int_equal(st.size, 9);
  expect_str(&a, "d/nothing", "now there");
  mnt_close(&a);
  mnt_close(&b);
}

/* A deferred creation observed by a stat by path before its first write:
 * the stat makes it (an empty file), the write through the handle then
 * goes to it. Its own handle's fstat sees it without a round trip. */
static void test_pg_deferred_create_seen_by_stat(void **state) {
  (void)state;
  mnt m;
  warm(&m, "seen-stat");
  cis_vfs_file *f = create(&m, "d/f");
  cis_vfs_stat st, fst;
  uint64_t a = cis__vfs_db_round_trips(m.fs);
  OK(cis_vfs_fstat(f, &fst));
  assert_int_equal(cis__vfs_db_round_trips(m.fs), a);
  assert_int_equal(fst.size, 0);
  assert_int_equal(fst.type, CIS_VFS_REG);
  OK(stat_of(&m, "d/f", &st));
  assert_int_equal(st.size, 0);
  assert_int_equal(st.ino, fst.ino);
  write_str(f, "after stat");
  cis_vfs_close(f);
  expect_str(&m, "d/f", "after stat");
  mnt_close(&m);
}

/* Observed by a listing of its directory before its first write. */
static void test_pg_deferred_create_seen_by_readdir(void **state) {
  (void)state;
  mnt m;
  warm(&m, "seen-readdir");
  cis_vfs_file *f = create(&m, "d/listed");
  cis_vfs_file *d = NULL;
  OK(cis_vfs_openat(m.root, "d", 1, CIS_VFS_READ | CIS_VFS_DIRECTORY, &d));
  cis_vfs_dirent ent;
  uint64_t cookie = 0;
  bool seen = false;
  for (int i = 0; i < 16; i++) {
    int e = cis_vfs_readdir(d, cookie, &ent);
    if (e == ENOENT) break;
    OK(e);
    if (!strcmp(ent.name, "listed")) seen = true;
    cookie = ent.next;
  }
  cis_vfs_close(d);
  assert_true(seen);
  write_str(f, "listed");
  cis_vfs_close(f);
  expect_str(&m, "d/listed", "listed");
  mnt_close(&m);
}

/* Opened by a second handle before its first write; the first handle's
 * write is then read through the second, also after the second had read
 * (and kept) the file while it was empty: this mount's own writes drop
 * what its handles keep. */
static void test_pg_deferred_create_seen_by_another_handle(void **state) {
  (void)state;
  mnt m;
  warm(&m, "seen-fd");
  cis_vfs_file *f = create(&m, "d/f");
  cis_vfs_file *r = NULL;
  OK(cis_vfs_openat(m.root, "d/f", 3, CIS_VFS_READ, &r));
  char buf[64];
  size_t got = 1;
  OK(cis_vfs_pread(r, buf, sizeof buf, 0, &got));
  assert_int_equal(got, 0);
  write_str(f, "through f");
  OK(cis_vfs_pread(r, buf, sizeof buf, 0, &got));
  assert_int_equal(got, 9);
  assert_memory_equal(buf, "through f", 9);
  OK(cis_vfs_ftruncate(f, 4));
  OK(cis_vfs_pread(r, buf, sizeof buf, 0, &got));
  assert_int_equal(got, 4);
  assert_memory_equal(buf, "thro", 4);
  cis_vfs_close(r);
  cis_vfs_close(f);
  mnt_close(&m);
}

/* Renamed before its first write: made first, then moved; the write goes
 * to the file under its new name. */
static void test_pg_deferred_create_renamed_before_write(void **state) {
  (void)state;
  mnt m;
  warm(&m, "renamed");
  cis_vfs_file *f = create(&m, "d/a");
  OK(cis_vfs_renameat(m.root, "d/a", 3, m.root, "d/b", 3));
  write_str(f, "moved");
  cis_vfs_close(f);
  cis_vfs_stat st;
  ERR(ENOENT, stat_of(&m, "d/a", &st));
  expect_str(&m, "d/b", "moved");
  mnt_close(&m);
}

/* Unlinked before its first write: made, then removed while open; the
 * handle still writes and reads it (POSIX), and nothing is left after
 * the close. */
static void test_pg_deferred_create_unlinked_before_write(void **state) {
  (void)state;
  mnt m;
  warm(&m, "unlinked");
  cis_vfs_file *f = create(&m, "d/gone");
  OK(cis_vfs_unlinkat(m.root, "d/gone", 6));
  write_str(f, "orphan");
  char buf[16];
  size_t got = 0;
  OK(cis_vfs_pread(f, buf, sizeof buf, 0, &got));
  assert_int_equal(got, 6);
  cis_vfs_close(f);
  cis_vfs_stat st;
  ERR(ENOENT, stat_of(&m, "d/gone", &st));
  mnt_close(&m);
}

/* Closed without a write: the close makes it, an empty file. Also an
 * fsync makes it. */
static void test_pg_deferred_create_closed_unwritten_is_empty_file(void **state) {
  (void)state;
  mnt m;
  warm(&m, "unwritten");
  cis_vfs_file *f = create(&m, "d/empty");
  cis_vfs_close(f);
  cis_vfs_stat st;
  OK(stat_of(&m, "d/empty", &st));
  assert_int_equal(st.size, 0);
  assert_int_equal(st.type, CIS_VFS_REG);
  f = create(&m, "d/synced");
  OK(cis_vfs_fsync(f));
  mnt b;
  mnt_open(&b, "unwritten"); /* another mount sees it committed */
  OK(stat_of(&b, "d/synced", &st));
  mnt_close(&b);
  cis_vfs_close(f);
  mnt_close(&m);
}

/* The commit that makes a deferred creation fails (a trigger refuses its
 * entry): the write that carried it reports the failure, typed, and
 * neither the file nor its data exist; the mount goes on. */
static void test_pg_deferred_create_failure_is_the_writes_own(void **state) {
  (void)state;
  mnt m;
  warm(&m, "refused");
  refuse_entries_named("refused", "entry refused by the test");
  cis_vfs_stat st;
  put_str(&m, "d/x", "x"); /* a commit of its own: the caches hold again */
  /* The open succeeds: it sent nothing of the creation (made at once,
   * the entry would have failed the open itself). The trigger goes
   * before anything is checked, so a failure leaves none behind. */
  cis_vfs_file *f = NULL;
  size_t n = 0;
  int open_e = cis_vfs_openat(m.root, "d/refused", 9,
                              CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC, &f);
  int e = open_e ? -1 : cis_vfs_pwrite(f, "data", 4, 0, &n);
  cis_vfs_close(f);
  refuse_entries_end();
  OK(open_e);
  ERR(EIO, e);
  assert_int_equal(n, 0);
  if (!strstr(cis_vfs_errmsg(m.fs), "entry refused by the test"))
    fail_msg("message \"%s\" lacks the trigger's", cis_vfs_errmsg(m.fs));
  ERR(ENOENT, stat_of(&m, "d/refused", &st));
  put_str(&m, "d/after", "goes on");
  expect_str(&m, "d/after", "goes on");
  mnt_close(&m);
}

/* A connection's first write transaction prepares its BEGIN and COMMIT in
 * the same pipeline. Refused by the server, that transaction still
 * leaves them prepared (a prepared statement outlives the transaction it
 * was made in): the next write on the connection commits. The mount's
 * connection is ended between calls first, so that the refused write is
 * the first transaction of the connection made again. */
static void test_pg_first_write_refused_then_the_next_commits(void **state) {
  (void)state;
  mnt m;
  warm(&m, "first-refused");
  refuse_entries_named("first", "first write refused by the test");
  /* This suite's database is its own, and m its one mount. */
  /* Waiting for the session to end (its timeout argument): a write sent
   * before it ended would be cut by the termination instead of refused. */
  sql_exec("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = "
           "'cis-vfs' AND datname = current_database()");
  cis_vfs_file *f = NULL;
  size_t n = 0;
  int e = cis_vfs_openat(m.root, "d/first", 7, CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC, &f);
  if (!e) e = cis_vfs_pwrite(f, "data", 4, 0, &n);
  cis_vfs_close(f);
  refuse_entries_end();
  ERR(EIO, e);
  if (!strstr(cis_vfs_errmsg(m.fs), "first write refused by the test"))
    fail_msg("message \"%s\" lacks the trigger's", cis_vfs_errmsg(m.fs));
  put_str(&m, "d/second", "commits");
  put_str(&m, "d/first", "now made");
  mnt_close(&m);
  mnt_open(&m, "first-refused");
  expect_str(&m, "d/second", "commits");
  expect_str(&m, "d/first", "now made");
  mnt_close(&m);
}

/* Another mount makes the same name after this mount's deferred open and
 * before its write: the write's optimistic check finds the generation
 * moved, everything is run again on the tenant's row read afresh, and
 * the deferred creation replaces what the other made (the last creation
 * wins, as the last write does outside a scope). */
static void test_pg_deferred_create_redone_after_another_mounts_commit(void **state) {
  (void)state;
  mnt a, b;
  warm(&a, "race");
  mnt_open(&b, "race");
  cis_vfs_file *f = create(&a, "d/f");
  put_str(&b, "d/f", "from b, longer");
  put_str(&b, "d/other", "other");
  uint64_t t0 = cis__vfs_db_round_trips(a.fs);
  write_str(f, "from a");
  assert_true(cis__vfs_db_round_trips(a.fs) - t0 >= 2); /* the optimistic try, then the redo */
  cis_vfs_close(f);
  expect_str(&a, "d/f", "from a");
  expect_str(&b, "d/f", "from a");
  expect_str(&a, "d/other", "other");
  /* Inode numbers stay distinct: each mount hands out its own range. */
  cis_vfs_stat sa, so;
  OK(stat_of(&a, "d/f", &sa));
  OK(stat_of(&a, "d/other", &so));
  assert_int_not_equal(sa.ino, so.ino);
  mnt_close(&a);
  mnt_close(&b);
}

/* Another mount removes the directory before the deferred creation
 * lands: the write reports ENOENT and nothing is made. */
static void test_pg_deferred_create_directory_removed_first(void **state) {
  (void)state;
  mnt a, b;
  mnt_open(&a, "dir-gone");
  OK(cis_vfs_mkdirat(a.root, "e", 1));
  put_str(&a, "warm", "warm"); /* a range of inode numbers */
  OK(cis_vfs_mkdirat(a.root, "e/sub", 5));
  mnt_open(&b, "dir-gone");
  cis_vfs_file *f = create(&a, "e/sub/f");
  OK(cis_vfs_rmdirat(b.root, "e/sub", 5));
  size_t n = 0;
  ERR(ENOENT, cis_vfs_pwrite(f, "x", 1, 0, &n));
  cis_vfs_close(f);
  cis_vfs_stat st;
  ERR(ENOENT, stat_of(&a, "e/sub", &st));
  put_str(&a, "e/after", "fine");
  expect_str(&b, "e/after", "fine");
  mnt_close(&a);
  mnt_close(&b);
}

/* A write to an existing file after another mount committed: the
 * optimistic begin's check fails and the write is redone, landing whole;
 * without another commit a write is one round trip (here into a new
 * block: a write into part of a block that holds data reads it first). */
static void test_pg_write_after_another_commit_is_redone(void **state) {
  (void)state;
  mnt a, b;
  warm(&a, "redo-write");
  mnt_open(&b, "redo-write");
  cis_vfs_file *f = NULL;
  OK(cis_vfs_openat(a.root, "d/warm", 6, CIS_VFS_READ | CIS_VFS_WRITE, &f));
  size_t n = 0;
  OK(cis_vfs_pwrite(f, "W", 1, 0, &n)); /* statements prepared */
  uint64_t t0 = cis__vfs_db_round_trips(a.fs);
  OK(cis_vfs_pwrite(f, "X", 1, 65536, &n));
  /* The call's check (the wrappers' fstat), then the write. */
  assert_int_equal(cis__vfs_db_round_trips(a.fs) - t0, 2);
  put_str(&b, "d/b", "b");
  OK(cis_vfs_pwrite(f, "Y", 1, 131072, &n));
  cis_vfs_close(f);
  mnt *both[] = {&a, &b};
  for (int i = 0; i < 2; i++) {
    cis_vfs_stat st;
    OK(stat_of(both[i], "d/warm", &st));
    assert_int_equal(st.size, 131073);
    OK(cis_vfs_openat(both[i]->root, "d/warm", 6, CIS_VFS_READ, &f));
    char c[4];
    OK(cis_vfs_pread(f, c, 4, 0, &n));
    assert_memory_equal(c, "Warm", 4);
    OK(cis_vfs_pread(f, c, 1, 65536, &n));
    assert_int_equal(c[0], 'X');
    OK(cis_vfs_pread(f, c, 1, 131072, &n));
    assert_int_equal(c[0], 'Y');
    cis_vfs_close(f);
  }
  mnt_close(&a);
  mnt_close(&b);
}

/* A handle keeps a small file its first read fetched: the read that
 * finds the end costs no statement. Another mount's commit is seen by a
 * new handle. */
static void test_pg_small_file_read_keeps_it_whole(void **state) {
  (void)state;
  mnt a, b;
  warm(&a, "keep");
  mnt_open(&b, "keep");
  cis_vfs_file *f = NULL;
  OK(cis_vfs_openat(a.root, "d/warm", 6, CIS_VFS_READ, &f));
  char buf[64];
  size_t got = 0;
  OK(cis_vfs_pread(f, buf, 2, 0, &got));
  assert_int_equal(got, 2);
  uint64_t s0 = stmts(a.fs);
  OK(cis_vfs_pread(f, buf, sizeof buf, 2, &got));
  assert_int_equal(got, 2);
  assert_memory_equal(buf, "rm", 2);
  OK(cis_vfs_pread(f, buf, sizeof buf, 4, &got));
  assert_int_equal(got, 0);
  assert_int_equal(stmts(a.fs) - s0, 0);
  cis_vfs_close(f);
  put_str(&b, "d/warm", "changed by b");
  expect_str(&a, "d/warm", "changed by b");
  mnt_close(&a);
  mnt_close(&b);
}

/* ---- the call's check riding with its lookup (peek) ---- */

static uint64_t trips(mnt *m) { return cis__vfs_db_round_trips(m->fs); }

/* Opening a small file by a path whose directory the caches know, reading
 * it to its end and closing it is one round trip: the directory is
 * opened on the caches, and the lookup of the file carries the call's
 * check and fetches the file whole for the handle (it was two: the
 * check, then the read). A stat by path is that one round trip too. */
static void test_pg_small_file_open_read_close_is_one_round_trip(void **state) {
  (void)state;
  mnt m;
  warm(&m, "one-trip");
  uint64_t t0 = trips(&m);
  cis_vfs_file *f = NULL;
  OK(cis_vfs_openat(m.root, "d/warm", 6, CIS_VFS_READ | CIS_VFS_FOLLOW, &f));
  char buf[64];
  size_t got = 0;
  OK(cis_vfs_pread(f, buf, sizeof buf, 0, &got));
  assert_int_equal(got, 4);
  assert_memory_equal(buf, "warm", 4);
  OK(cis_vfs_pread(f, buf, sizeof buf, got, &got));
  assert_int_equal(got, 0);
  cis_vfs_close(f);
  assert_int_equal(trips(&m) - t0, 1);
  /* Without FOLLOW the open itself carries the check and the fetch. */
  t0 = trips(&m);
  OK(cis_vfs_openat(m.root, "d/warm", 6, CIS_VFS_READ, &f));
  OK(cis_vfs_pread(f, buf, sizeof buf, 0, &got));
  assert_int_equal(got, 4);
  cis_vfs_close(f);
  assert_int_equal(trips(&m) - t0, 1);
  cis_vfs_stat st;
  t0 = trips(&m);
  OK(stat_of(&m, "d/warm", &st));
  assert_int_equal(st.size, 4);
  assert_int_equal(trips(&m) - t0, 1);
  mnt_close(&m);
}

/* Many files in one directory, each read by a new open: one round trip a
 * file, whatever the name cache's slots hold (with 1024 direct-mapped
 * slots, names that shared a slot cost about half a round trip more a
 * file at 1000 files). */
static void test_pg_many_files_each_read_in_one_round_trip(void **state) {
  (void)state;
  enum { FILES = 1500 };
  mnt m;
  warm(&m, "many");
  char path[32], want[32];
  for (int i = 0; i < FILES; i++) {
    snprintf(path, sizeof path, "d/f%05d", i);
    snprintf(want, sizeof want, "file %d", i);
    put_str(&m, path, want);
  }
  uint64_t t0 = trips(&m);
  for (int i = 0; i < FILES; i++) {
    snprintf(path, sizeof path, "d/f%05d", i);
    snprintf(want, sizeof want, "file %d", i);
    expect_str(&m, path, want);
  }
  uint64_t t = trips(&m) - t0;
  if (t != FILES) fail_msg("%d files read in %llu round trips, want %d", FILES,
                           (unsigned long long)t, FILES);
  mnt_close(&m);
}

/* Another mount's commit between two calls: the next call's check finds
 * the generation moved, empties the caches and starts them again at the
 * new generation, so the call after it is served by them again (they
 * stayed off until this mount's own next commit: every name a statement,
 * and no deferred creation). */
static void test_pg_another_mounts_commit_restarts_the_caches(void **state) {
  (void)state;
  mnt a, b;
  warm(&a, "restart");
  mnt_open(&b, "restart");
  put_str(&b, "d/warm", "changed by b");
  expect_str(&a, "d/warm", "changed by b"); /* the check finds it moved */
  uint64_t s0 = stmts(a.fs);
  cis_vfs_stat st;
  OK(stat_of(&a, "d/warm", &st));
  assert_int_equal(st.size, 12);
  assert_int_equal(stmts(a.fs) - s0, 1);
  /* A creation is deferred again: the open's lookup, then the write. */
  uint64_t t0 = trips(&a);
  put_str(&a, "d/new", "new");
  assert_int_equal(trips(&a) - t0, 2);
  expect_str(&b, "d/new", "new");
  mnt_close(&a);
  mnt_close(&b);
}

/* A directory this mount opens on its caches before the call's check
 * was renamed by another mount, and another made under its old name: the
 * check finds the generation moved and the walk's directory is looked up
 * again, so the call reads what the path names now. */
static void test_pg_directory_moved_by_another_mount_is_looked_up_again(void **state) {
  (void)state;
  mnt a, b;
  warm(&a, "moved");
  mnt_open(&b, "moved");
  OK(cis_vfs_renameat(b.root, "d", 1, b.root, "e", 1));
  OK(cis_vfs_mkdirat(b.root, "d", 1));
  put_str(&b, "d/warm", "the new one");
  expect_str(&a, "d/warm", "the new one");
  expect_str(&a, "e/warm", "warm");
  /* A change through the moved name lands in the new directory too. */
  OK(cis_vfs_renameat(b.root, "d", 1, b.root, "f", 1));
  OK(cis_vfs_renameat(b.root, "e", 1, b.root, "d", 1));
  OK(cis_vfs_mkdirat(a.root, "d/sub", 5));
  cis_vfs_stat st;
  OK(stat_of(&b, "d/sub", &st));
  assert_int_equal(st.type, CIS_VFS_DIR);
  ERR(ENOENT, stat_of(&b, "f/sub", &st));
  mnt_close(&a);
  mnt_close(&b);
}

/* The directory was removed, or replaced by a file, by another mount:
 * the walk through it gives ENOENT or ENOTDIR, as it would have found. */
static void test_pg_directory_removed_by_another_mount_is_gone(void **state) {
  (void)state;
  mnt a, b;
  warm(&a, "gone-dir");
  mnt_open(&b, "gone-dir");
  OK(cis_vfs_unlinkat(b.root, "d/warm", 6));
  OK(cis_vfs_rmdirat(b.root, "d", 1));
  cis_vfs_file *f = NULL;
  ERR(ENOENT, cis_vfs_openat(a.root, "d/warm", 6, CIS_VFS_READ | CIS_VFS_FOLLOW, &f));
  OK(cis_vfs_mkdirat(b.root, "d", 1));
  put_str(&b, "d/x", "x");
  expect_str(&a, "d/x", "x"); /* warm again on the new d */
  OK(cis_vfs_unlinkat(b.root, "d/x", 3));
  OK(cis_vfs_rmdirat(b.root, "d", 1));
  ERR(ENOENT, cis_vfs_mkdirat(a.root, "d/sub", 5));
  put_str(&a, "warm2", "w");
  OK(cis_vfs_mkdirat(a.root, "d", 1));
  put_str(&a, "d/x", "x");
  expect_str(&a, "d/x", "x");
  OK(cis_vfs_unlinkat(b.root, "d/x", 3));
  OK(cis_vfs_rmdirat(b.root, "d", 1));
  put_str(&b, "d", "a file now");
  ERR(ENOTDIR, cis_vfs_openat(a.root, "d/x", 3, CIS_VFS_READ, &f));
  mnt_close(&a);
  mnt_close(&b);
}

/* The plan PostgreSQL gives `q` (parameters p, generic: planned once for
 * any values, as cis's prepared statements are after five runs), one
 * line per node, into out. */
static void generic_plan(const char *q, const char *p, char *out, size_t cap) {
  PGconn *pg = PQconnectdb(g.conninfo);
  if (PQstatus(pg) != CONNECTION_OK) fail_msg("connect: %s", PQerrorMessage(pg));
  PQclear(PQexec(pg, "SET plan_cache_mode = force_generic_plan"));
  char sql[1024];
  snprintf(sql, sizeof sql, "PREPARE q AS %s", q);
  PGresult *r = PQexec(pg, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(r));
  PQclear(r);
  snprintf(sql, sizeof sql, "EXPLAIN EXECUTE q(%s)", p);
  r = PQexec(pg, sql);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(r));
  size_t n = 0;
  out[0] = '\0';
  for (int i = 0; i < PQntuples(r) && n < cap; i++)
    n += (size_t)snprintf(out + n, cap - n, "%s\n", PQgetvalue(r, i, 0));
  PQclear(r);
  PQfinish(pg);
}

/* A lookup by name is planned on the entries' primary key whatever the
 * table's statistics say. The listings' index used to lead with
 * (tenant_id, parent_ino) too, and a generic plan costed on a young
 * table took it (or a bitmap scan of it on tenant_id alone) for lookups
 * by name: every lookup then read the whole directory, or the whole
 * tenant. That index is now on expressions only listings name, and one
 * left by an older cis is dropped when the schema is migrated. */
static void test_pg_name_lookups_use_the_primary_key(void **state) {
  (void)state;
  mnt m;
  warm(&m, "lookup-plan");
  mnt_close(&m);
  /* What an older cis made (with no row in cis_schema); the next mount's
   * migration drops it. */
  sql_exec("CREATE INDEX IF NOT EXISTS cis_vfs_entries_eid ON cis_vfs_entries "
           "(tenant_id, parent_ino, eid)");
  sql_exec("DELETE FROM cis_schema WHERE service = 'vfs'");
  mnt_open(&m, "lookup-plan");
  for (int i = 0; i < 300; i++) {
    char name[32];
    snprintf(name, sizeof name, "d/f%03d", i);
    put_str(&m, name, "x");
  }
  expect_str(&m, "d/f150", "x");
  mnt_close(&m);
  PGconn *pg = PQconnectdb(g.conninfo);
  if (PQstatus(pg) != CONNECTION_OK) fail_msg("connect: %s", PQerrorMessage(pg));
  PGresult *r = PQexec(pg, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
                           "'cis_vfs_entries' ORDER BY indexname");
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  assert_int_equal(PQntuples(r), 2);
  assert_string_equal(PQgetvalue(r, 0, 0), "cis_vfs_entries_list");
  assert_non_null(strstr(PQgetvalue(r, 0, 1), "((tenant_id + 0)), ((parent_ino + 0)), eid"));
  assert_string_equal(PQgetvalue(r, 1, 0), "cis_vfs_entries_pkey");
  PQclear(r);
  PQfinish(pg);
  char plan[4096];
  generic_plan("SELECT ino FROM cis_vfs_entries WHERE tenant_id=$1::int8 AND parent_ino=$2::int8 "
               "AND name=$3::bytea ORDER BY layer_id DESC LIMIT 1",
               "1, 2, 'f150'", plan, sizeof plan);
  if (!strstr(plan, "cis_vfs_entries_pkey") || strstr(plan, "cis_vfs_entries_list"))
    fail_msg("a lookup by name is planned so:\n%s", plan);
  generic_plan("SELECT eid FROM cis_vfs_entries e WHERE e.tenant_id + 0=$1::int8 AND "
               "e.parent_ino + 0=$2::int8 AND e.eid>=$3::int8 ORDER BY e.eid LIMIT 1",
               "1, 2, 0", plan, sizeof plan);
  if (!strstr(plan, "cis_vfs_entries_list")) fail_msg("a listing is planned so:\n%s", plan);
}

/* The first value of q's first row (as text), on a connection as
 * conninfo; "" when no row. */
static void sql_text_as(const char *conninfo, const char *q, char *out, size_t cap) {
  PGconn *pg = PQconnectdb(conninfo);
  PGresult *r = PQstatus(pg) == CONNECTION_OK ? PQexec(pg, q) : NULL;
  ExecStatusType st = PQresultStatus(r);
  char msg[512];
  snprintf(msg, sizeof msg, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
  out[0] = '\0';
  if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  PQfinish(pg);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) fail_msg("%s: %s", q, msg);
}

static long toast_rows(void) {
  char name[128], q[256], n[32];
  sql_text_as(g.conninfo,
              "SELECT reltoastrelid::regclass FROM pg_class WHERE oid = 'cis_vfs_blocks'::regclass",
              name, sizeof name);
  snprintf(q, sizeof q, "SELECT count(*) FROM %s", name);
  sql_text_as(g.conninfo, q, n, sizeof n);
  return atol(n);
}

static bool blocks_tuned(void) {
  char v[8];
  sql_text_as(g.conninfo,
              "SELECT 'toast_tuple_target=8160' = ANY (reloptions) FROM pg_class "
              "WHERE oid = 'cis_vfs_blocks'::regclass",
              v, sizeof v);
  return strcmp(v, "t") == 0;
}

/* Bytes that do not compress (xorshift64*), n of them from seed. */
static void random_bytes(uint8_t *p, size_t n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    p[i] = (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> 56);
  }
}

/* A block up to a page's worth stays in its row as it is: a small file
 * of random bytes adds no TOAST rows (it added three, compressed in vain
 * first), while a block of 64 KiB is still moved out. A schema without
 * the setting (an older cis's tables: no row in cis_schema) gets it at
 * the next mount. */
static void test_pg_small_blocks_stay_in_the_row(void **state) {
  (void)state;
  static uint8_t small[4096], big[65536];
  random_bytes(small, sizeof small, 1);
  random_bytes(big, sizeof big, 2);
  sql_exec("ALTER TABLE cis_vfs_blocks RESET (toast_tuple_target)");
  sql_exec("DELETE FROM cis_schema WHERE service = 'vfs'");
  assert_false(blocks_tuned());
  mnt m;
  mnt_open(&m, "inline");
  assert_true(blocks_tuned());
  long before = toast_rows();
  put(&m, "small", small, sizeof small);
  assert_int_equal(toast_rows(), before);
  put(&m, "big", big, sizeof big);
  assert_true(toast_rows() > before);
  mnt_close(&m);
  mnt_open(&m, "inline"); /* read back from the rows, not the caches */
  expect(&m, "small", small, sizeof small);
  expect(&m, "big", big, sizeof big);
  mnt_close(&m);
}

/* A role that may use the tables but does not own them mounts tables
 * an older cis made as they are: tuning them is for speed alone. */
static void test_pg_tables_not_owned_are_used_untuned(void **state) {
  (void)state;
  /* Roles are the server's, not the database's: one per run. */
  char role[64], q[256];
  snprintf(role, sizeof role, "cis_test_user_%ld", (long)getpid());
  snprintf(q, sizeof q, "CREATE ROLE %s LOGIN PASSWORD 'cis-test-pw'", role);
  sql_exec(q);
  snprintf(q, sizeof q, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %s",
           role);
  sql_exec(q);
  snprintf(q, sizeof q, "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO %s", role);
  sql_exec(q);
  sql_exec("ALTER TABLE cis_vfs_blocks RESET (toast_tuple_target)");
  sql_exec("DELETE FROM cis_schema WHERE service = 'vfs'"); /* an older cis's tables */
  /* The harness's "k=v ..." string with the role's user and password. */
  char as_user[sizeof g.conninfo], spec[sizeof g.spec];
  size_t n = 0;
  for (const char *p = g.conninfo; *p;) {
    while (*p == ' ') p++;
    size_t len = strcspn(p, " ");
    if (len && strncmp(p, "user=", 5) && strncmp(p, "password=", 9))
      n += (size_t)snprintf(as_user + n, sizeof as_user - n, "%.*s ", (int)len, p);
    p += len;
  }
  snprintf(as_user + n, sizeof as_user - n, "user=%s password=cis-test-pw", role);
  snprintf(spec, sizeof spec, "postgres:%s", as_user);
  char tenant[160];
  snprintf(tenant, sizeof tenant, "%s-untuned", g.run);
  mnt m = {0};
  mnt_tenant(&m, spec, tenant);
  put_str(&m, "f", "written by a role that owns nothing");
  mnt_unmount(&m);
  mnt_tenant(&m, spec, tenant);
  expect_str(&m, "f", "written by a role that owns nothing");
  mnt_unmount(&m);
  assert_false(blocks_tuned());
  /* The role's mount migrated them (recorded, untuned); the owner's mount
   * of an older cis's tables tunes them. */
  char v[8];
  sql_text_as(g.conninfo, "SELECT version FROM cis_schema WHERE service = 'vfs'", v, sizeof v);
  assert_string_equal(v, "1");
  sql_exec("DELETE FROM cis_schema WHERE service = 'vfs'");
  mnt_open(&m, "untuned");
  assert_true(blocks_tuned());
  expect_str(&m, "f", "written by a role that owns nothing");
  mnt_close(&m);
  snprintf(q, sizeof q, "DROP OWNED BY %s", role); /* its grants */
  sql_exec(q);
  snprintf(q, sizeof q, "DROP ROLE %s", role);
  sql_exec(q);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CONNSTR_FILE\n", argv[0]);
    return 2;
  }
  char base[sizeof g.conninfo], db[64];
  int rc = cis_test_read_connstr(argv[1], base, sizeof base);
  if (rc) return rc;
  /* Triggers and an index made here must not wait on the suites beside. */
  snprintf(db, sizeof db, "cis_test_pgfast_%ld", (long)getpid());
  memcpy(g.conninfo, base, sizeof base);
  if (vfsdb_pg_own_database(g.conninfo, sizeof g.conninfo, db)) return 1;
  snprintf(g.spec, sizeof g.spec, "postgres:%s", g.conninfo);
  snprintf(g.run, sizeof g.run, "pgfast%ld-%ld", (long)getpid(), (long)time(NULL) % 100000);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pg_small_file_create_write_close_is_one_round_trip),
      cmocka_unit_test(test_pg_create_commits_nodes_with_the_counters),
      cmocka_unit_test(test_pg_unlink_decides_the_whiteout_on_the_server),
      cmocka_unit_test(test_pg_unchecked_absent_name_made_by_another_mount_is_opened),
      cmocka_unit_test(test_pg_unchecked_absent_name_closed_unwritten_keeps_the_file),
      cmocka_unit_test(test_pg_unchecked_absent_name_open_at_unmount_keeps_the_file),
      cmocka_unit_test(test_pg_unchecked_absent_name_made_a_directory_or_symlink),
      cmocka_unit_test(test_pg_unchecked_absent_name_excl_or_read_checks_at_open),
      cmocka_unit_test(test_pg_unchecked_create_lands_where_its_path_leads_now),
      cmocka_unit_test(test_pg_create_at_node_quota_checks_the_name_first),
      cmocka_unit_test(test_pg_absent_name_in_own_directory_costs_no_statement),
      cmocka_unit_test(test_pg_deferred_create_seen_by_stat),
      cmocka_unit_test(test_pg_deferred_create_seen_by_readdir),
      cmocka_unit_test(test_pg_deferred_create_seen_by_another_handle),
      cmocka_unit_test(test_pg_deferred_create_renamed_before_write),
      cmocka_unit_test(test_pg_deferred_create_unlinked_before_write),
      cmocka_unit_test(test_pg_deferred_create_closed_unwritten_is_empty_file),
      cmocka_unit_test(test_pg_deferred_create_failure_is_the_writes_own),
      cmocka_unit_test(test_pg_first_write_refused_then_the_next_commits),
      cmocka_unit_test(test_pg_deferred_create_redone_after_another_mounts_commit),
      cmocka_unit_test(test_pg_deferred_create_directory_removed_first),
      cmocka_unit_test(test_pg_write_after_another_commit_is_redone),
      cmocka_unit_test(test_pg_small_file_read_keeps_it_whole),
      cmocka_unit_test(test_pg_small_file_open_read_close_is_one_round_trip),
      cmocka_unit_test(test_pg_many_files_each_read_in_one_round_trip),
      cmocka_unit_test(test_pg_another_mounts_commit_restarts_the_caches),
      cmocka_unit_test(test_pg_directory_moved_by_another_mount_is_looked_up_again),
      cmocka_unit_test(test_pg_directory_removed_by_another_mount_is_gone),
      cmocka_unit_test(test_pg_name_lookups_use_the_primary_key),
      cmocka_unit_test(test_pg_small_blocks_stay_in_the_row),
      cmocka_unit_test(test_pg_tables_not_owned_are_used_untuned),
  };
  int failed = cmocka_run_group_tests_name("db on postgres, fast paths", tests, NULL, NULL);
  if (!failed && vfsdb_pg_drop_database(base, db)) failed = 1;
  return failed ? 1 : 0;
}
