/*
 * This file implements the tests of the SQLite database filesystem's fast
 * paths that cost no statement: a public call after the mount's own
 * commit trusts its caches on the WAL index header alone (no `PRAGMA
 * data_version`, no read lock), a name absent from a directory the mount
 * made costs nothing, a handle's later reads of a small file cost
 * nothing, and none of them ever hides what another connection, process
 * or plain SQL client committed.
 *
 *   test_vfs_db_sqlite_fast WORKDIR
 *
 * Statements are counted with cis__vfs_db_counts (libcis.a).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cis/cis_vfs.h"
#include "support/sqlite_shim.h"
#include "vfsdb_mnt.h"

bool cis__vfs_db_counts(cis_vfs *mount, uint64_t *statements, uint64_t *commits);

static struct {
  char dir[1024];  /* WORKDIR */
  char path[1100]; /* the current case's database file */
  char spec[1200]; /* sqlite:PATH */
} g;

#define OK(x)                                                                  \
  do {                                                                         \
    int ok_e_ = (int)(x);                                                      \
    if (ok_e_ != 0) fail_msg("%s = %d (%s)", #x, ok_e_, cis_errmsg(NULL));   \
  } while (0)

/* A fresh database file for the case. */
static void fresh(const char *name) {
  snprintf(g.path, sizeof g.path, "%s/%s.db", g.dir, name);
  snprintf(g.spec, sizeof g.spec, "sqlite:%s", g.path);
  sqlite_files_remove(g.path);
}

static void mnt_open(mnt *m) { mnt_tenant(m, g.spec, "t"); }

static uint64_t stmts(mnt *m) {
  uint64_t s = 0, c = 0;
  assert_true(cis__vfs_db_counts(m->fs, &s, &c));
  return s;
}

/* A plain SQLite connection to the case's file (the default VFS). */
static sqlite3 *plain(void) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(g.path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 20000);
  return db;
}

/* After the mount's own commit nobody else wrote: a stat by path and an
 * open + read of a file it knows run no statement but the read's own (the
 * check that nobody committed read the WAL index header: it ran
 * `PRAGMA data_version`, one statement a call, before). */
static void test_sqlite_call_after_own_commit_runs_no_check_statement(void **state) {
  (void)state;
  fresh("own-commit");
  mnt m;
  mnt_open(&m);
  put_str(&m, "f", "hello");
  expect_str(&m, "f", "hello"); /* statements prepared */
  put_str(&m, "f", "hello!");
  uint64_t a = stmts(&m);
  cis_vfs_stat st;
  OK(stat_of(&m, "f", &st));
  assert_int_equal(st.size, 6);
  assert_int_equal(stmts(&m) - a, 0);
  a = stmts(&m);
  expect_str(&m, "f", "hello!");
  assert_int_equal(stmts(&m) - a, 1); /* the read */
  mnt_unmount(&m);
}

/* A name looked up in a directory this mount made, and never gained,
 * is absent without a statement (it cost the check and a lookup). */
static void test_sqlite_absent_name_in_own_directory_costs_no_statement(void **state) {
  (void)state;
  fresh("own-dir");
  mnt m;
  mnt_open(&m);
  OK(cis_vfs_mkdirat(m.root, "d", 1));
  put_str(&m, "d/a", "a");
  uint64_t a = stmts(&m);
  cis_vfs_stat st;
  assert_int_equal(stat_of(&m, "d/b", &st), ENOENT);
  assert_int_equal(stmts(&m) - a, 0);
  OK(stat_of(&m, "d/a", &st)); /* what it gained is there */
  assert_int_equal(st.size, 1);
  mnt_unmount(&m);
}

/* What another connection commits is seen at the next call although the
 * check runs no statement: another mount in this process (its own
 * connection), a name made in a directory the first mount made (the names
 * it knows whole are dropped), and a plain SQL client that changes rows
 * through the default VFS (a file's size). Both ways round. */
static void test_sqlite_header_check_sees_other_connections(void **state) {
  (void)state;
  fresh("others");
  mnt a, b;
  mnt_open(&a);
  mnt_open(&b);
  OK(cis_vfs_mkdirat(a.root, "d", 1));
  put_str(&a, "d/f", "one");
  cis_vfs_stat st;
  assert_int_equal(stat_of(&a, "d/g", &st), ENOENT); /* known absent */
  put_str(&b, "d/g", "made by b");
  expect_str(&a, "d/g", "made by b");
  put_str(&b, "d/f", "two!");
  OK(stat_of(&a, "d/f", &st));
  assert_int_equal(st.size, 4);
  expect_str(&a, "d/f", "two!");
  put_str(&a, "d/f", "three");
  expect_str(&b, "d/f", "three");
  /* A plain client: the file's node says 2 bytes now. */
  sqlite3 *db = plain();
  assert_int_equal(sqlite3_exec(db, "UPDATE cis_vfs_inodes SET size=2 WHERE size=5", NULL, NULL,
                                NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_changes(db), 1);
  sqlite3_close(db);
  OK(stat_of(&a, "d/f", &st));
  assert_int_equal(st.size, 2);
  expect_str(&a, "d/f", "th");
  mnt_unmount(&a);
  mnt_unmount(&b);
}

/* Another process's commit (its own shared-memory mapping of the WAL
 * index) is seen too, and so is one after the log was restarted by a
 * checkpoint of the whole log (the header's salts change, its frame count
 * may come back to the same). */
static void test_sqlite_header_check_sees_other_processes(void **state) {
  (void)state;
  fresh("procs");
  mnt a;
  mnt_open(&a);
  put_str(&a, "f", "parent");
  cis_vfs_stat st;
  OK(stat_of(&a, "f", &st));
  for (int round = 0; round < 2; round++) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      mnt c;
      mnt_open(&c);
      put_str(&c, "f", round ? "child, again" : "child");
      if (round) {
        /* Everything checkpointed and the log restarted from its start. */
        sqlite3 *db = NULL;
        if (sqlite3_open(g.path, &db) != SQLITE_OK ||
            sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
          _exit(3);
        sqlite3_close(db);
        put_str(&c, "f", "child, again");
      }
      _exit(0); /* the mount left open, as a process that dies leaves it */
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    OK(stat_of(&a, "f", &st));
    assert_int_equal(st.size, round ? 12 : 5);
    expect_str(&a, "f", round ? "child, again" : "child");
    put_str(&a, "f", "parent");
  }
  mnt_unmount(&a);
}

/* Reads what handle f holds from offset 0 into buf (size), checking
 * that it is exactly want. */
static void pread_is(cis_vfs_file *f, const char *want) {
  char buf[256];
  size_t got = 0;
  OK(cis_vfs_pread(f, buf, sizeof buf, 0, &got));
  if (got != strlen(want) || memcmp(buf, want, got) != 0)
    fail_msg("read \"%.*s\", want \"%s\"", (int)got, buf, want);
}

/* A handle keeps the small file its first read fetched whole, so the
 * read that finds the end costs no statement (open + read + close was 2
 * statements after the mount's own commit, now 1). It never hides a
 * change: another mount's commit is seen by the next read through the
 * same handle (the call's check moves and drops what handles keep; this
 * read fails when kept bytes are trusted without the check), so is this
 * mount's own write through another handle, and a file larger than a
 * handle keeps costs a statement a read as before. */
static void test_sqlite_small_file_read_keeps_it_whole(void **state) {
  (void)state;
  fresh("keep");
  mnt a, b;
  mnt_open(&a);
  mnt_open(&b);
  put_str(&a, "f", "first");
  expect_str(&a, "f", "first"); /* statements prepared */
  uint64_t s0 = stmts(&a);
  cis_vfs_file *f = NULL;
  OK(cis_vfs_openat(a.root, "f", 1, CIS_VFS_READ, &f));
  pread_is(f, "first");
  char buf[16];
  size_t got = 1;
  OK(cis_vfs_pread(f, buf, sizeof buf, 5, &got)); /* at the end */
  assert_int_equal(got, 0);
  assert_int_equal(stmts(&a) - s0, 1); /* the first read's alone */
  pread_is(f, "first");
  assert_int_equal(stmts(&a) - s0, 1);

  put_str(&b, "f", "second, longer"); /* another connection's commit */
  pread_is(f, "second, longer");
  assert_int_equal(stmts(&a) - s0, 3); /* the check, then the read again */

  put_str(&a, "f", "third"); /* this mount's own write, another handle */
  s0 = stmts(&a);
  pread_is(f, "third");
  assert_int_equal(stmts(&a) - s0, 1);
  OK(cis_vfs_pread(f, buf, sizeof buf, 5, &got));
  assert_int_equal(got, 0);
  assert_int_equal(stmts(&a) - s0, 1);
  cis_vfs_close(f);

  /* Past the size a handle keeps (64 KiB): every read is a statement. */
  size_t big_n = 64 * 1024 + 1;
  char *big = malloc(big_n);
  assert_non_null(big);
  memset(big, 'b', big_n);
  put(&a, "big", big, big_n);
  free(big);
  OK(cis_vfs_openat(a.root, "big", 3, CIS_VFS_READ, &f));
  s0 = stmts(&a);
  OK(cis_vfs_pread(f, buf, sizeof buf, 0, &got));
  OK(cis_vfs_pread(f, buf, sizeof buf, 0, &got));
  assert_int_equal(stmts(&a) - s0, 2);
  cis_vfs_close(f);
  mnt_unmount(&a);
  mnt_unmount(&b);
}

/* The caches keep most names of a directory of 1000 files: reading each
 * once more (open, read to the end, close) after the mount's own commits
 * is the read's one statement, and a lookup for the names a full set of
 * the name cache lost (70 here, in the order they were made). A name
 * cache of 1024 lost about half of them (1.48 statements a file). */
static void test_sqlite_many_files_each_read_in_one_statement(void **state) {
  (void)state;
  fresh("many");
  mnt m;
  mnt_open(&m);
  OK(cis_vfs_mkdirat(m.root, "d", 1));
  enum { FILES = 1000 };
  char path[32];
  for (int i = 0; i < FILES; i++) {
    snprintf(path, sizeof path, "d/f%04d", i);
    put_str(&m, path, path);
  }
  uint64_t s0 = stmts(&m);
  for (int i = 0; i < FILES; i++) {
    snprintf(path, sizeof path, "d/f%04d", i);
    expect_str(&m, path, path);
  }
  uint64_t used = stmts(&m) - s0;
  if (used > FILES + FILES / 10)
    fail_msg("%d files read in %llu statements", FILES, (unsigned long long)used);
  mnt_unmount(&m);
}

static uint64_t wal_writes; /* writes that reached a log through the counting VFS */

static int count_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
  if (CIS_SHIM_FLAGS(f) & SQLITE_OPEN_WAL) wal_writes++;
  return CIS_SHIM_REAL(f)->pMethods->xWrite(CIS_SHIM_REAL(f), b, n, o);
}

/* A mount that opens its file while another connection holds the log
 * (frames not yet checkpointed, so the log is not begun again) still
 * writes a commit as one write: it reads the log's header for the frame
 * size (it made 2 writes a page, some 18 for a small file). */
static void test_sqlite_mount_joining_a_log_gathers_its_commits(void **state) {
  (void)state;
  fresh("join-log");
  mnt a, b;
  mnt_open(&a);
  put_str(&a, "first", "frames in the log");
  static const sqlite3_io_methods own = {.xWrite = count_write};
  cis_test_shim_install("cis-fast-count", &own);
  mnt_open(&b);
  cis_test_shim_remove(); /* b's connection keeps it */
  put_str(&b, "warm", "statements prepared");
  char big[4096];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  wal_writes = 0;
  put_str(&b, "small", big);
  if (wal_writes < 1 || wal_writes > 2)
    fail_msg("a small file's commit made %llu writes to the log", (unsigned long long)wal_writes);
  cis_vfs_stat st;
  OK(stat_of(&a, "small", &st));
  assert_int_equal(st.size, sizeof big - 1);
  mnt_unmount(&b);
  mnt_unmount(&a);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s WORKDIR\n", argv[0]);
    return 2;
  }
  snprintf(g.dir, sizeof g.dir, "%s", argv[1]);
  mkdir(g.dir, 0755);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sqlite_call_after_own_commit_runs_no_check_statement),
      cmocka_unit_test(test_sqlite_absent_name_in_own_directory_costs_no_statement),
      cmocka_unit_test(test_sqlite_header_check_sees_other_connections),
      cmocka_unit_test(test_sqlite_header_check_sees_other_processes),
      cmocka_unit_test(test_sqlite_mount_joining_a_log_gathers_its_commits),
      cmocka_unit_test(test_sqlite_small_file_read_keeps_it_whole),
      cmocka_unit_test(test_sqlite_many_files_each_read_in_one_statement),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
