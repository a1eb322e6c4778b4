/*
 * This file implements the conformance tests of the virtual filesystem
 * (include/cis/cis_vfs.h): one set of cases that every backend must pass,
 * run through the mount wrappers against the backend chosen on the
 * command line:
 *
 *   mem                       the memory backend; also runs the wrapper
 *                             cases (a shim backend that misbehaves)
 *   host WORKDIR              the host backend, a fresh directory per case
 *   db-sqlite WORKDIR         cis_vfs_db_new("sqlite:WORKDIR/x.db"), a
 *                             fresh tenant per case
 *   db-postgres CONNSTR_FILE  cis_vfs_db_new("postgres:<file contents>")
 *
 * An optional last argument "nolinks" says the backend has no hard links:
 * linkat must then fail with EPERM. A backend that cannot be created
 * fails every case loudly (the database modes are never skipped).
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
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

#include "support/failed_open.h"
#include "cis/cis_vfs.h"
#include "vfs/vfs_test.h"
#include "vfs/vfs_testing.h"

enum { K_MEM, K_HOST, K_DB };

static struct {
  const char *mode;    /* mem, host, db-sqlite, db-postgres */
  int kind;            /* K_* */
  char workdir[1024];  /* host and db-sqlite: where files go */
  char spec[4096];     /* db: the spec for cis_vfs_db_new */
  bool links;          /* the backend has hard links */
  int seq;             /* cases so far (fresh storage per case) */
  char run[64];        /* makes tenants unique per run */
  char cur[1200];      /* host: the case's directory; db: the case's tenant */
} g;

/* ------------------------------------------------------------ backends */

/* A backend over fresh storage, or (same) over the storage of the last one
 * (NULL for the memory backend, whose storage dies with it). */
static cis_vfs_backend *new_backend(bool same) {
  cis_vfs_backend *b = NULL;
  cis_result rc = CIS_OK;
  if (!same) g.seq++;
  switch (g.kind) {
  case K_MEM:
    if (same) return NULL;
    rc = cis_vfs_mem_new(&b);
    break;
  case K_HOST:
    if (!same) {
      snprintf(g.cur, sizeof g.cur, "%s/c%d", g.workdir, g.seq);
      rm_rf(g.cur);
      if (mkdir(g.cur, 0755) != 0) fail_msg("mkdir %s: %s", g.cur, strerror(errno));
    }
    rc = cis_vfs_host_new(g.cur, &b);
    break;
  case K_DB: {
    if (!same) snprintf(g.cur, sizeof g.cur, "%s-%d", g.run, g.seq);
    cis_vfs_db_config cfg;
    cis_vfs_db_config_default(&cfg);
    cfg.spec = g.spec;
    cfg.tenant = g.cur;
    rc = cis_vfs_db_new(&cfg, &b);
    break;
  }
  }
  if (rc != CIS_OK)
    fail_msg("backend %s: %s: %s", g.mode, cis_errname(rc), b ? b->errmsg : "");
  return b;
}

static void mount_on(T *t, cis_vfs_backend *b, const cis_vfs_options *o) {
  cis_result rc = cis_vfs_mount(b, o, &t->fs);
  if (rc != CIS_OK) fail_msg("mount: %s: %s", cis_errname(rc), cis_vfs_errmsg(t->fs));
  assert_int_equal(cis_vfs_open_root(t->fs, &t->root), 0);
}

static void mount_new(T *t, const cis_vfs_options *o) { mount_on(t, new_backend(false), o); }

/* Writes a whole file (created or truncated). */
static void put(cis_vfs_file *base, const char *path, const void *data, size_t n) {
  cis_vfs_file *f = NULL;
  size_t k = 0;
  int e = cis_vfs_openat(base, P(path), CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC, &f);
  if (e) fail_msg("put %s: %s (%s)", path, strerror(e), cis_vfs_errmsg(cis_vfs_file_mount(base)));
  assert_int_equal(cis_vfs_pwrite(f, data, n, 0, &k), 0);
  assert_int_equal(k, n);
  cis_vfs_close(f);
}

static void puts_(cis_vfs_file *base, const char *path, const char *s) { put(base, path, s, strlen(s)); }

static void assert_content(cis_vfs_file *base, const char *path, const char *want) {
  char buf[4096];
  size_t n = get(base, path, 0, buf, sizeof buf - 1);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(buf, want, n);
}

static cis_vfs_stat stat_of(cis_vfs_file *base, const char *path, uint32_t flags) {
  cis_vfs_stat st;
  int e = cis_vfs_statat(base, P(path), flags, &st);
  if (e) fail_msg("stat %s: %s", path, strerror(e));
  return st;
}

/* A macro, so a failure names the case's line. */
#define usage_is(t, bytes, nodes)              \
  do {                                         \
    uint64_t b_ = 0, n_ = 0;                   \
    cis_vfs_usage((t)->fs, &b_, &n_);          \
    assert_int_equal(b_, (uint64_t)(bytes));   \
    assert_int_equal(n_, (uint64_t)(nodes));   \
  } while (0)

static uint64_t real_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --------------------------------------------------------------- cases */

static void test_create_read_write(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  cis_vfs_file *f = NULL;
  size_t k = 0;
  char buf[64];
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_READ | CIS_VFS_WRITE | CIS_VFS_CREAT |
                                                      CIS_VFS_EXCL, &f), 0);
  assert_ptr_equal(cis_vfs_file_mount(f), t.fs);
  assert_int_equal(cis_vfs_file_type(f), CIS_VFS_REG);
  assert_int_equal(cis_vfs_file_type(t.root), CIS_VFS_DIR);
  assert_int_equal(cis_vfs_file_type(NULL), CIS_VFS_UNKNOWN);
  assert_int_equal(cis_vfs_pwrite(f, "hello world", 11, 0, &k), 0);
  assert_int_equal(k, 11);
  assert_int_equal(cis_vfs_pread(f, buf, 5, 6, &k), 0);
  assert_int_equal(k, 5);
  assert_memory_equal(buf, "world", 5);
  assert_int_equal(cis_vfs_pread(f, buf, 10, 11, &k), 0); /* at the end */
  assert_int_equal(k, 0);
  assert_int_equal(cis_vfs_pread(f, buf, 10, 1000, &k), 0); /* past it */
  assert_int_equal(k, 0);
  assert_int_equal(cis_vfs_pwrite(f, "XY", 2, 20, &k), 0); /* leaves a hole of zeros */
  assert_int_equal(cis_vfs_pread(f, buf, sizeof buf, 0, &k), 0);
  assert_int_equal(k, 22);
  for (int i = 11; i < 20; i++) assert_int_equal(buf[i], 0);
  assert_memory_equal(buf + 20, "XY", 2);
  assert_int_equal(cis_vfs_pwrite(f, "!", 1, CIS_VFS_APPEND, &k), 0);
  assert_int_equal(cis_vfs_pwrite(f, "?", 1, CIS_VFS_APPEND, &k), 0);
  cis_vfs_stat st;
  assert_int_equal(cis_vfs_fstat(f, &st), 0);
  assert_int_equal(st.type, CIS_VFS_REG);
  assert_int_equal(st.size, 24);
  assert_int_equal(st.nlink, 1);
  assert_int_equal(cis_vfs_pread(f, buf, 2, 22, &k), 0);
  assert_memory_equal(buf, "!?", 2);
  assert_int_equal(cis_vfs_pwrite(f, "", 0, 0, &k), 0); /* nothing */
  assert_int_equal(cis_vfs_fsync(f), 0);
  cis_vfs_close(f);
  usage_is(&t, 24, 1);

  /* Access modes are enforced. */
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_READ, &f), 0);
  assert_int_equal(cis_vfs_pwrite(f, "x", 1, 0, &k), EBADF);
  assert_int_equal(cis_vfs_ftruncate(f, 0), EBADF);
  assert_int_equal(cis_vfs_pread(f, buf, 5, 0, &k), 0);
  assert_memory_equal(buf, "hello", 5);
  cis_vfs_close(f);
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_WRITE, &f), 0);
  assert_int_equal(cis_vfs_pread(f, buf, 5, 0, &k), EBADF);
  assert_int_equal(cis_vfs_pwrite(f, "J", 1, 0, &k), 0);
  /* Offsets past the largest file. */
  assert_int_equal(cis_vfs_pwrite(f, "x", 1, (uint64_t)INT64_MAX, &k), EFBIG);
  assert_int_equal(cis_vfs_pwrite(f, "x", 1, (uint64_t)INT64_MAX + 5, &k), EFBIG);
  assert_int_equal(cis_vfs_ftruncate(f, (uint64_t)INT64_MAX + 1), EFBIG);
  cis_vfs_close(f);
  assert_int_equal(get(t.root, "f", 0, buf, 5), 5);
  assert_memory_equal(buf, "Jello", 5);
  unmount(&t);
}

static void test_truncate(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  cis_vfs_file *f = NULL;
  char buf[32];
  size_t k = 0;
  puts_(t.root, "f", "0123456789");
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_READ | CIS_VFS_WRITE, &f), 0);
  assert_int_equal(cis_vfs_ftruncate(f, 4), 0);
  assert_int_equal(cis_vfs_pread(f, buf, sizeof buf, 0, &k), 0);
  assert_int_equal(k, 4);
  assert_int_equal(cis_vfs_ftruncate(f, 8), 0); /* grows with zeros */
  assert_int_equal(cis_vfs_pread(f, buf, sizeof buf, 0, &k), 0);
  assert_int_equal(k, 8);
  assert_memory_equal(buf, "0123\0\0\0\0", 8);
  cis_vfs_close(f);
  usage_is(&t, 8, 1);
  /* TRUNC on open. */
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_WRITE | CIS_VFS_TRUNC, &f), 0);
  cis_vfs_close(f);
  assert_int_equal(stat_of(t.root, "f", 0).size, 0);
  usage_is(&t, 0, 1);
  /* A directory cannot be truncated. */
  assert_int_equal(cis_vfs_ftruncate(t.root, 0), EISDIR);
  unmount(&t);
}

static void test_stat_and_types(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  puts_(t.root, "f", "abc");
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("f"), t.root, P("l")), 0);
  cis_vfs_stat sf = stat_of(t.root, "f", 0), sd = stat_of(t.root, "d", 0),
               sl = stat_of(t.root, "l", 0), sr;
  assert_int_equal(sf.type, CIS_VFS_REG);
  assert_int_equal(sf.size, 3);
  assert_int_equal(sd.type, CIS_VFS_DIR);
  assert_int_equal(sl.type, CIS_VFS_SYMLINK);
  assert_int_equal(sl.size, 1);
  assert_true(sf.ino != sd.ino && sd.ino != sl.ino && sf.ino != sl.ino);
  assert_int_equal(sf.dev, sd.dev);
  assert_int_equal(stat_of(t.root, "f", 0).ino, sf.ino); /* stable */
  assert_int_equal(stat_of(t.root, "l", CIS_VFS_FOLLOW).ino, sf.ino);
  assert_int_equal(cis_vfs_fstat(t.root, &sr), 0);
  assert_int_equal(sr.type, CIS_VFS_DIR);
  assert_int_equal(stat_of(t.root, ".", 0).ino, sr.ino);
  assert_int_equal(stat_of(t.root, "", 0).ino, sr.ino);
  assert_int_equal(stat_of(t.root, "d/..", 0).ino, sr.ino);
  assert_int_equal(stat_of(t.root, "d/.", 0).ino, sd.ino);
  assert_int_equal(stat_of(t.root, "./d//../f", 0).ino, sf.ino);
  assert_int_equal(stat_err(t.root, "missing", 0), ENOENT);
  assert_int_equal(stat_err(t.root, "d/missing", 0), ENOENT);
  assert_int_equal(stat_err(t.root, "f/x", 0), ENOTDIR); /* a file in the middle */
  assert_int_equal(stat_err(t.root, "f/", 0), ENOTDIR);
  assert_int_equal(stat_of(t.root, "d/", 0).type, CIS_VFS_DIR);
  assert_int_equal(cis_vfs_statat(t.root, P("f"), 0, NULL), EINVAL);
  usage_is(&t, 3, 3);
  unmount(&t);
}

static void test_times(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  const uint64_t A = 1600000000123456789ull, M = 1500000000987654321ull;
  puts_(t.root, "f", "x");
  assert_int_equal(cis_vfs_set_timesat(t.root, P("f"), CIS_VFS_ATIM | CIS_VFS_MTIM, A, M), 0);
  cis_vfs_stat st = stat_of(t.root, "f", 0);
  assert_int_equal(st.atim, A);
  assert_int_equal(st.mtim, M);
  /* Only mtim, to now; atim stays. */
  uint64_t before = real_ns();
  assert_int_equal(cis_vfs_set_timesat(t.root, P("f"), CIS_VFS_MTIM_NOW, 0, 0), 0);
  uint64_t after = real_ns();
  st = stat_of(t.root, "f", 0);
  assert_int_equal(st.atim, A);
  assert_true(st.mtim + 2000000000ull >= before && st.mtim <= after + 2000000000ull);
  /* A write moves mtim forward. */
  cis_vfs_file *f = NULL;
  size_t k;
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_WRITE, &f), 0);
  assert_int_equal(cis_vfs_fset_times(f, CIS_VFS_MTIM | CIS_VFS_ATIM_NOW, 0, M), 0);
  assert_int_equal(cis_vfs_fstat(f, &st), 0);
  assert_int_equal(st.mtim, M);
  assert_true(st.atim + 2000000000ull >= before);
  assert_int_equal(cis_vfs_pwrite(f, "y", 1, 0, &k), 0);
  assert_int_equal(cis_vfs_fstat(f, &st), 0);
  assert_true(st.mtim > M);
  assert_int_equal(cis_vfs_fset_times(f, CIS_VFS_ATIM | CIS_VFS_ATIM_NOW, 1, 0), EINVAL);
  assert_int_equal(cis_vfs_fset_times(f, CIS_VFS_MTIM | CIS_VFS_MTIM_NOW, 1, 0), EINVAL);
  assert_int_equal(cis_vfs_fset_times(f, 1u << 20, 1, 0), EINVAL);
  cis_vfs_close(f);
  /* Through a symlink (FOLLOW), on a directory, on the symlink itself. */
  assert_int_equal(cis_vfs_symlinkat(P("f"), t.root, P("l")), 0);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("l"), CIS_VFS_FOLLOW | CIS_VFS_MTIM, 0, A), 0);
  assert_int_equal(stat_of(t.root, "f", 0).mtim, A);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("l"), CIS_VFS_MTIM, 0, M), 0); /* its own */
  assert_int_equal(stat_of(t.root, "f", 0).mtim, A);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), 0);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("d"), CIS_VFS_MTIM, 0, M), 0);
  assert_int_equal(stat_of(t.root, "d", 0).mtim, M);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("d/"), CIS_VFS_ATIM, A, 0), 0);
  assert_int_equal(stat_of(t.root, "d", 0).atim, A);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("."), CIS_VFS_MTIM, 0, M), 0);
  assert_int_equal(stat_of(t.root, ".", 0).mtim, M);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("missing"), CIS_VFS_MTIM, 0, M), ENOENT);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("f"), CIS_VFS_ATIM | CIS_VFS_ATIM_NOW, 0, 0),
                   EINVAL);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("f"), 1u << 20, 0, 0), EINVAL);
  unmount(&t);
}

/* Without FOLLOW a final symlink's own times are set (set_times_nofollow),
 * its target's stay; every backend has the method. */
static void test_symlink_own_times(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  const uint64_t A = 1600000000123456789ull, M = 1500000000987654321ull;
  const uint64_t A2 = 1400000000000000001ull, M2 = 1300000000000000002ull;
  puts_(t.root, "f", "x");
  assert_int_equal(cis_vfs_set_timesat(t.root, P("f"), CIS_VFS_ATIM | CIS_VFS_MTIM, A, M), 0);
  assert_int_equal(cis_vfs_symlinkat(P("f"), t.root, P("l")), 0);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("l"), CIS_VFS_ATIM | CIS_VFS_MTIM, A2, M2), 0);
  cis_vfs_stat st = stat_of(t.root, "l", 0);
  assert_int_equal(st.type, CIS_VFS_SYMLINK);
  assert_int_equal(st.atim, A2);
  assert_int_equal(st.mtim, M2);
  st = stat_of(t.root, "f", 0);
  assert_int_equal(st.atim, A);
  assert_int_equal(st.mtim, M);
  /* One time only, to now: the other stays. (Nothing follows l before its
   * atim is read: on the host, reading a symlink moves its atim.) */
  uint64_t before = real_ns();
  assert_int_equal(cis_vfs_set_timesat(t.root, P("l"), CIS_VFS_MTIM_NOW, 0, 0), 0);
  st = stat_of(t.root, "l", 0);
  assert_int_equal(st.atim, A2);
  assert_true(st.mtim + 2000000000ull >= before);
  assert_int_equal(stat_of(t.root, "f", 0).mtim, M);
  /* A dangling symlink, one in a subdirectory, one reached through a
   * symlinked directory. */
  assert_int_equal(cis_vfs_symlinkat(P("nowhere"), t.root, P("dang")), 0);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("dang"), CIS_VFS_MTIM, 0, M2), 0);
  assert_int_equal(stat_of(t.root, "dang", 0).mtim, M2);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("dang"), CIS_VFS_FOLLOW | CIS_VFS_MTIM, 0, M2),
                   ENOENT);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("../f"), t.root, P("d/up")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("d"), t.root, P("dl")), 0);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("dl/up"), CIS_VFS_ATIM, A2, 0), 0);
  assert_int_equal(stat_of(t.root, "d/up", 0).atim, A2);
  assert_int_equal(stat_of(t.root, "f", 0).atim, A);
  /* "l/" asks for a directory: the symlink is followed to a file. */
  assert_int_equal(cis_vfs_set_timesat(t.root, P("l/"), CIS_VFS_MTIM, 0, M), ENOTDIR);
  /* A failing backend call leaves the times as they were. */
  uint64_t calls = cis__vfs_backend_calls(t.fs);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("l"), CIS_VFS_MTIM, 0, M2), 0);
  uint64_t n = cis__vfs_backend_calls(t.fs) - calls;
  assert_true(n >= 1 && n < 32);
  cis__vfs_inject_fault(t.fs, (uint32_t)(n - 1), 1, CIS_VFS_EDOWN);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("l"), CIS_VFS_MTIM, 0, M), CIS_VFS_EDOWN);
  assert_non_null(strstr(cis_vfs_errmsg(t.fs), "set_times_nofollow"));
  assert_int_equal(stat_of(t.root, "l", 0).mtim, M2);
  unmount(&t);
}

/* A trailing '/' on a name being made answers as Linux: mkdir EEXIST on
 * any existing kind, symlink and link ENOENT for a new name (no
 * directory can be made that way) and EEXIST for an existing one; an
 * exclusive create never follows a final symlink. */
static void test_trailing_slash_makes(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  cis_vfs_stat st;
  puts_(t.root, "f", "x");
  puts_(t.root, "f2", "y");
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("d"), t.root, P("ld")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("nowhere"), t.root, P("dang")), 0);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("n/")), 0);
  assert_int_equal(stat_of(t.root, "n", 0).type, CIS_VFS_DIR);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("n/")), EEXIST);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("f/")), EEXIST);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("ld/")), EEXIST);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("dang/")), EEXIST);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("f/x")), ENOTDIR);
  assert_int_equal(cis_vfs_symlinkat(P("t"), t.root, P("new/")), ENOENT);
  assert_int_equal(cis_vfs_statat(t.root, P("new"), 0, &st), ENOENT);
  assert_int_equal(cis_vfs_symlinkat(P("t"), t.root, P("f/")), EEXIST);
  assert_int_equal(cis_vfs_symlinkat(P("t"), t.root, P("d/")), EEXIST);
  assert_int_equal(cis_vfs_symlinkat(P("t"), t.root, P("dang/")), EEXIST);
  assert_int_equal(cis_vfs_symlinkat(P("t"), t.root, P("d//")), EEXIST);
  assert_int_equal(cis_vfs_symlinkat(P("t"), t.root, P("new")), 0);
  /* link: the source's errors first, then the new name's (also where the
   * backend has no hard links). */
  assert_int_equal(cis_vfs_linkat(t.root, P("f"), 0, t.root, P("hl/")), ENOENT);
  assert_int_equal(cis_vfs_statat(t.root, P("hl"), 0, &st), ENOENT);
  assert_int_equal(cis_vfs_linkat(t.root, P("f"), 0, t.root, P("f2/")), EEXIST);
  assert_int_equal(cis_vfs_linkat(t.root, P("f"), 0, t.root, P("d/")), EEXIST);
  assert_int_equal(cis_vfs_linkat(t.root, P("missing"), 0, t.root, P("f2/")), ENOENT);
  assert_int_equal(cis_vfs_linkat(t.root, P("f/"), 0, t.root, P("hl")), ENOTDIR);
  /* rename keeps ENOTDIR for a non-directory with a '/' on either side. */
  assert_int_equal(cis_vfs_renameat(t.root, P("f2"), t.root, P("rn/")), ENOTDIR);
  assert_int_equal(cis_vfs_renameat(t.root, P("f2"), t.root, P("f/")), ENOTDIR);
  /* CREAT|EXCL through a dangling symlink: EEXIST, nothing made. */
  assert_int_equal(open_err(t.root, "dang", CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_EXCL |
                                                CIS_VFS_FOLLOW),
                   EEXIST);
  assert_int_equal(cis_vfs_statat(t.root, P("nowhere"), 0, &st), ENOENT);
  assert_int_equal(open_err(t.root, "ld", CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_EXCL |
                                              CIS_VFS_FOLLOW),
                   EEXIST);
  unmount(&t);
}

/* readlinkat("link/") follows link, as Linux does: EINVAL to a directory,
 * ENOTDIR to a file, ENOENT when it dangles. */
static void test_readlink_trailing_slash(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  char buf[64];
  size_t n = 0;
  puts_(t.root, "f", "x");
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("d"), t.root, P("ld")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("f"), t.root, P("lf")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("nowhere"), t.root, P("dang")), 0);
  assert_int_equal(cis_vfs_readlinkat(t.root, P("ld/"), buf, sizeof buf, &n), EINVAL);
  assert_int_equal(cis_vfs_readlinkat(t.root, P("lf/"), buf, sizeof buf, &n), ENOTDIR);
  assert_int_equal(cis_vfs_readlinkat(t.root, P("dang/"), buf, sizeof buf, &n), ENOENT);
  assert_int_equal(cis_vfs_readlinkat(t.root, P("f/"), buf, sizeof buf, &n), ENOTDIR);
  assert_int_equal(cis_vfs_readlinkat(t.root, P("ld"), buf, sizeof buf, &n), 0);
  assert_int_equal(n, 1);
  unmount(&t);
}

static void test_rename(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  puts_(t.root, "a", "A");
  puts_(t.root, "c", "CC");
  assert_int_equal(cis_vfs_renameat(t.root, P("a"), t.root, P("b")), 0);
  assert_int_equal(stat_err(t.root, "a", 0), ENOENT);
  assert_content(t.root, "b", "A");
  /* Over an existing file: it is replaced, and its node and bytes go. */
  usage_is(&t, 3, 2);
  assert_int_equal(cis_vfs_renameat(t.root, P("b"), t.root, P("c")), 0);
  assert_content(t.root, "c", "A");
  assert_int_equal(stat_err(t.root, "b", 0), ENOENT);
  usage_is(&t, 1, 1);
  assert_int_equal(cis_vfs_renameat(t.root, P("missing"), t.root, P("x")), ENOENT);
  assert_int_equal(cis_vfs_renameat(t.root, P("c"), t.root, P("c")), 0); /* onto itself */
  assert_content(t.root, "c", "A");
  /* Directories, with what they hold. */
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d1")), 0);
  puts_(t.root, "d1/x", "X");
  assert_int_equal(cis_vfs_renameat(t.root, P("d1"), t.root, P("d2")), 0);
  assert_content(t.root, "d2/x", "X");
  assert_int_equal(stat_err(t.root, "d1", 0), ENOENT);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("e")), 0);
  assert_int_equal(cis_vfs_renameat(t.root, P("d2"), t.root, P("e")), 0); /* over an empty dir */
  assert_content(t.root, "e/x", "X");
  assert_int_equal(cis_vfs_mkdirat(t.root, P("full")), 0);
  puts_(t.root, "full/y", "Y");
  assert_int_equal(cis_vfs_renameat(t.root, P("e"), t.root, P("full")), ENOTEMPTY);
  assert_int_equal(cis_vfs_renameat(t.root, P("c"), t.root, P("full")), EISDIR);
  /* Over the directory that holds it: EISDIR too (a host directory's
   * kernel says ENOTEMPTY; found by test_vfs_db_diff). */
  assert_int_equal(cis_vfs_renameat(t.root, P("full/y"), t.root, P("full")), EISDIR);
  assert_content(t.root, "full/y", "Y");
  assert_int_equal(cis_vfs_renameat(t.root, P("e"), t.root, P("c")), ENOTDIR);
  /* Into itself. */
  assert_int_equal(cis_vfs_mkdirat(t.root, P("e/sub")), 0);
  assert_int_equal(cis_vfs_renameat(t.root, P("e"), t.root, P("e/sub/in")), EINVAL);
  assert_int_equal(cis_vfs_renameat(t.root, P("e"), t.root, P("e/in")), EINVAL);
  /* Into another directory and back, through different bases. */
  cis_vfs_file *full = NULL;
  assert_int_equal(cis_vfs_openat(t.root, P("full"), CIS_VFS_READ | CIS_VFS_DIRECTORY, &full), 0);
  assert_int_equal(cis_vfs_renameat(t.root, P("c"), full, P("c2")), 0);
  assert_content(t.root, "full/c2", "A");
  assert_int_equal(cis_vfs_renameat(full, P("c2"), t.root, P("c")), 0);
  cis_vfs_close(full);
  /* What cannot be renamed. */
  assert_int_equal(cis_vfs_renameat(t.root, P("."), t.root, P("z")), EBUSY);
  assert_int_equal(cis_vfs_renameat(t.root, P("c"), t.root, P("e/..")), EBUSY);
  assert_int_equal(cis_vfs_renameat(t.root, P("c/"), t.root, P("z")), ENOTDIR);
  assert_int_equal(cis_vfs_renameat(t.root, P("c"), t.root, P("z/")), ENOTDIR);
  assert_int_equal(cis_vfs_renameat(t.root, P("e/"), t.root, P("e2/")), 0);
  assert_content(t.root, "e2/x", "X");
  /* c, full, full/y, e2, e2/x, e2/sub */
  usage_is(&t, 3, 6);
  unmount(&t);
}

static void test_mkdir_rmdir_unlink(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), 0);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), EEXIST);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("no/d")), ENOENT);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d2/")), 0);
  assert_int_equal(cis_vfs_mkdirat(t.root, P(".")), EEXIST);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("")), EEXIST);
  puts_(t.root, "d/f", "x");
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d/f")), EEXIST);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d/f/")), EEXIST); /* as Linux */
  assert_int_equal(cis_vfs_unlinkat(t.root, P("d")), EISDIR);
  assert_int_equal(cis_vfs_unlinkat(t.root, P(".")), EISDIR);
  assert_int_equal(cis_vfs_rmdirat(t.root, P("d/f")), ENOTDIR);
  assert_int_equal(cis_vfs_rmdirat(t.root, P("d")), ENOTEMPTY);
  assert_int_equal(cis_vfs_rmdirat(t.root, P(".")), EINVAL);
  assert_int_equal(cis_vfs_rmdirat(t.root, P("d/..")), ENOTEMPTY);
  assert_int_equal(cis_vfs_rmdirat(t.root, P("")), EBUSY);
  assert_int_equal(cis_vfs_rmdirat(t.root, P("missing")), ENOENT);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("missing")), ENOENT);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("d/f/")), ENOTDIR);
  usage_is(&t, 1, 3);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("d/f")), 0);
  assert_int_equal(stat_err(t.root, "d/f", 0), ENOENT);
  assert_int_equal(cis_vfs_rmdirat(t.root, P("d")), 0);
  assert_int_equal(cis_vfs_rmdirat(t.root, P("d2/")), 0);
  usage_is(&t, 0, 0);
  /* A directory removed while open: nothing can be made in it. */
  cis_vfs_file *d = NULL;
  cis_vfs_dirent ent;
  assert_int_equal(cis_vfs_mkdirat(t.root, P("gone")), 0);
  assert_int_equal(cis_vfs_openat(t.root, P("gone"), CIS_VFS_READ, &d), 0);
  assert_int_equal(cis_vfs_rmdirat(t.root, P("gone")), 0);
  assert_int_equal(open_err(d, "new", CIS_VFS_WRITE | CIS_VFS_CREAT), ENOENT);
  assert_int_equal(cis_vfs_mkdirat(d, P("new")), ENOENT);
  assert_int_equal(cis_vfs_readdir(d, 2, &ent), ENOENT);
  cis_vfs_close(d);
  usage_is(&t, 0, 0);
  unmount(&t);
}

static void test_open_flags(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  puts_(t.root, "f", "data");
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), 0);
  const uint32_t W = CIS_VFS_WRITE;
  assert_int_equal(open_err(t.root, "f", W | CIS_VFS_CREAT | CIS_VFS_EXCL), EEXIST);
  assert_int_equal(open_err(t.root, "nope", CIS_VFS_READ), ENOENT);
  assert_int_equal(open_err(t.root, "f", CIS_VFS_READ | CIS_VFS_DIRECTORY), ENOTDIR);
  assert_int_equal(open_err(t.root, "f/", CIS_VFS_READ), ENOTDIR);
  assert_int_equal(open_err(t.root, "d", W), EISDIR);
  assert_int_equal(open_err(t.root, "d", W | CIS_VFS_CREAT), EISDIR);
  assert_int_equal(open_err(t.root, "new/", W | CIS_VFS_CREAT), EISDIR);
  assert_int_equal(open_err(t.root, "f", CIS_VFS_READ | CIS_VFS_TRUNC), EINVAL);
  assert_int_equal(open_err(t.root, "g", W | CIS_VFS_CREAT | CIS_VFS_DIRECTORY), EINVAL);
  assert_int_equal(open_err(t.root, "f", CIS_VFS_READ | (1u << 12)), EINVAL);
  assert_int_equal(open_err(t.root, "f/x", CIS_VFS_READ), ENOTDIR);
  assert_int_equal(open_err(t.root, ".", W), EISDIR);
  assert_int_equal(open_err(t.root, ".", CIS_VFS_CREAT | CIS_VFS_EXCL | W), EEXIST);
  assert_int_equal(open_err(t.root, "d/..", CIS_VFS_CREAT | W), EISDIR);
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_READ, NULL), EINVAL);
  /* A directory opens for reading, with or without a slash, and lists. */
  cis_vfs_file *d = NULL, *f = NULL;
  char buf[8];
  size_t k;
  cis_vfs_dirent ent;
  assert_int_equal(cis_vfs_openat(t.root, P("d/"), CIS_VFS_READ, &d), 0);
  assert_int_equal(cis_vfs_pread(d, buf, 1, 0, &k), EISDIR);
  assert_int_equal(cis_vfs_pwrite(d, "x", 1, 0, &k), EISDIR);
  /* The file is a base for nothing. */
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_READ, &f), 0);
  assert_int_equal(open_err(f, "x", CIS_VFS_READ), ENOTDIR);
  assert_int_equal(cis_vfs_readdir(f, 0, &ent), ENOTDIR);
  assert_int_equal(cis_vfs_pread(f, NULL, 1, 0, &k), EINVAL);
  assert_int_equal(cis_vfs_fstat(f, NULL), EINVAL);
  assert_int_equal(cis_vfs_readdir(d, 0, NULL), EINVAL);
  cis_vfs_close(f);
  /* A file opened with CREAT but existing: no new node. */
  assert_int_equal(cis_vfs_openat(d, P("n"), W | CIS_VFS_CREAT, &f), 0);
  cis_vfs_close(f);
  assert_int_equal(cis_vfs_openat(d, P("n"), W | CIS_VFS_CREAT, &f), 0);
  cis_vfs_close(f);
  usage_is(&t, 4, 3);
  /* "." and "" give the base again, a separate file of the same node. */
  cis_vfs_file *again = NULL;
  cis_vfs_stat s1, s2;
  assert_int_equal(cis_vfs_openat(d, P("."), CIS_VFS_READ, &again), 0);
  cis_vfs_close(d);
  assert_int_equal(cis_vfs_fstat(again, &s1), 0);
  assert_int_equal(s1.ino, stat_of(t.root, "d", 0).ino);
  assert_int_equal(cis_vfs_openat(again, P(""), CIS_VFS_READ, &d), 0);
  assert_int_equal(cis_vfs_fstat(d, &s2), 0);
  assert_int_equal(s1.ino, s2.ino);
  assert_int_equal(cis_vfs_fsync(d), 0);
  cis_vfs_close(again);
  cis_vfs_close(d);
  unmount(&t);
}

/* Lists dir from `cookie` to the end; returns the entries seen, and calls
 * each(name) for every entry but "." and "..". */
#define NBIG 1000

static int name_index(const char *name) {
  int i;
  if (sscanf(name, "f%04d", &i) != 1 || i < 0 || i >= NBIG) fail_msg("unexpected entry %s", name);
  return i;
}

static void test_readdir_cookies(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  cis_vfs_file *d = NULL;
  cis_vfs_dirent ent;
  char name[32];
  assert_int_equal(cis_vfs_mkdirat(t.root, P("big")), 0);
  assert_int_equal(cis_vfs_openat(t.root, P("big"), CIS_VFS_READ | CIS_VFS_DIRECTORY, &d), 0);
  /* Empty: ".", "..", the end. */
  assert_int_equal(cis_vfs_readdir(d, 0, &ent), 0);
  assert_string_equal(ent.name, ".");
  assert_int_equal(ent.namelen, 1);
  assert_int_equal(ent.type, CIS_VFS_DIR);
  assert_int_equal(cis_vfs_readdir(d, ent.next, &ent), 0);
  assert_string_equal(ent.name, "..");
  assert_int_equal(cis_vfs_readdir(d, ent.next, &ent), ENOENT);
  for (int i = 0; i < NBIG; i++) {
    snprintf(name, sizeof name, "f%04d", i);
    cis_vfs_file *f = NULL;
    assert_int_equal(cis_vfs_openat(d, P(name), CIS_VFS_WRITE | CIS_VFS_CREAT, &f), 0);
    cis_vfs_close(f);
  }
  /* A whole listing: each entry once. */
  static int seen[NBIG];
  static char order[NBIG][16];
  memset(seen, 0, sizeof seen);
  uint64_t c = 0, mid = 0;
  int n = 0;
  while (cis_vfs_readdir(d, c, &ent) == 0) {
    c = ent.next;
    if (n++ < 2) continue;
    int i = name_index(ent.name);
    assert_int_equal(ent.type, CIS_VFS_REG);
    assert_int_equal(ent.namelen, 5);
    assert_int_equal(seen[i]++, 0);
    snprintf(order[n - 3], sizeof order[0], "%.15s", ent.name);
    if (n - 2 == NBIG / 2) mid = c;
  }
  assert_int_equal(n, NBIG + 2);
  assert_int_equal(cis_vfs_readdir(d, c, &ent), ENOENT); /* the end stays the end */
  /* Resuming from a cookie in the middle gives the rest, in order. */
  n = NBIG / 2;
  for (c = mid; cis_vfs_readdir(d, c, &ent) == 0; c = ent.next) {
    assert_true(n < NBIG);
    assert_string_equal(ent.name, order[n]);
    n++;
  }
  assert_int_equal(n, NBIG);
  /* Deleting while listing: nothing twice, and all that stayed is listed.
   * Every step removes one entry listed already and one still ahead. */
  static bool removed[NBIG];
  memset(seen, 0, sizeof seen);
  memset(removed, 0, sizeof removed);
  int pos = 0, ahead = NBIG - 1;
  for (c = 2; cis_vfs_readdir(d, c, &ent) == 0; c = ent.next) {
    int i = name_index(ent.name);
    assert_int_equal(seen[i]++, 0);
    pos++;
    if (pos % 3 == 0) {
      int back = name_index(order[pos - 2]);
      if (!removed[back]) {
        assert_int_equal(cis_vfs_unlinkat(d, P(order[pos - 2])), 0);
        removed[back] = true;
      }
      while (ahead > pos && removed[name_index(order[ahead])]) ahead--;
      if (ahead > pos) {
        int a = name_index(order[ahead]);
        assert_int_equal(cis_vfs_unlinkat(d, P(order[ahead])), 0);
        removed[a] = true;
      }
    }
  }
  int stayed = 0;
  for (int i = 0; i < NBIG; i++) {
    if (!removed[i]) {
      stayed++;
      assert_int_equal(seen[i], 1);
    }
  }
  assert_true(stayed > NBIG / 3);
  cis_vfs_close(d);
  unmount(&t);
}

static void test_symlinks(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  char buf[64];
  size_t k = 0;
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), 0);
  puts_(t.root, "d/target", "T");
  assert_int_equal(cis_vfs_symlinkat(P("target"), t.root, P("d/l1")), 0);
  assert_int_equal(cis_vfs_readlinkat(t.root, P("d/l1"), buf, sizeof buf, &k), 0);
  assert_int_equal(k, 6);
  assert_memory_equal(buf, "target", 6);
  assert_int_equal(cis_vfs_readlinkat(t.root, P("d/l1"), buf, 3, &k), ERANGE);
  assert_int_equal(k, 6);
  assert_int_equal(cis_vfs_readlinkat(t.root, P("d/target"), buf, sizeof buf, &k), EINVAL);
  assert_int_equal(cis_vfs_readlinkat(t.root, P("."), buf, sizeof buf, &k), EINVAL);
  assert_int_equal(cis_vfs_readlinkat(t.root, P("d/none"), buf, sizeof buf, &k), ENOENT);
  assert_int_equal(cis_vfs_readlinkat(t.root, P("d/l1"), NULL, 5, &k), EINVAL);
  assert_int_equal(stat_of(t.root, "d/l1", 0).type, CIS_VFS_SYMLINK);
  assert_int_equal(stat_of(t.root, "d/l1", CIS_VFS_FOLLOW).type, CIS_VFS_REG);
  /* The final component is followed only with FOLLOW. */
  assert_int_equal(open_err(t.root, "d/l1", CIS_VFS_READ), ELOOP);
  assert_int_equal(open_err(t.root, "d/l1", CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC), ELOOP);
  assert_content(t.root, "d/target", "T");
  /* Asked for a directory too, still ELOOP (a host directory's kernel says
   * ENOTDIR; found by test_vfs_db_diff), for a symlink to a file or to a
   * directory alike. */
  assert_int_equal(open_err(t.root, "d/l1", CIS_VFS_READ | CIS_VFS_DIRECTORY), ELOOP);
  assert_int_equal(cis_vfs_symlinkat(P("."), t.root, P("d/self")), 0);
  assert_int_equal(open_err(t.root, "d/self", CIS_VFS_READ | CIS_VFS_DIRECTORY), ELOOP);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("d/self")), 0);
  assert_int_equal(get(t.root, "d/l1", CIS_VFS_FOLLOW, buf, sizeof buf), 1);
  /* Intermediate symlinks are always followed; ".." inside stays inside. */
  assert_int_equal(cis_vfs_symlinkat(P("d"), t.root, P("ld")), 0);
  assert_content(t.root, "ld/target", "T");
  assert_int_equal(cis_vfs_symlinkat(P("../d/target"), t.root, P("d/up")), 0);
  assert_int_equal(get(t.root, "d/up", CIS_VFS_FOLLOW, buf, sizeof buf), 1);
  assert_int_equal(cis_vfs_symlinkat(P("./l1"), t.root, P("d/chain")), 0); /* chain -> l1 -> target */
  assert_int_equal(get(t.root, "d/chain", CIS_VFS_FOLLOW, buf, sizeof buf), 1);
  assert_int_equal(cis_vfs_symlinkat(P("../ld/"), t.root, P("d/dirlink")), 0);
  assert_content(t.root, "d/dirlink/target", "T");
  /* A trailing slash follows for lookups, not for changes. */
  assert_int_equal(stat_of(t.root, "ld/", 0).type, CIS_VFS_DIR);
  assert_int_equal(cis_vfs_rmdirat(t.root, P("ld/")), ENOTDIR);
  /* A dangling symlink. */
  assert_int_equal(cis_vfs_symlinkat(P("made"), t.root, P("dang")), 0);
  assert_int_equal(stat_err(t.root, "dang", CIS_VFS_FOLLOW), ENOENT);
  assert_int_equal(stat_err(t.root, "dang/x", 0), ENOENT);
  unmount(&t);
}

static void test_symlink_create_through(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  cis_vfs_file *f = NULL;
  assert_int_equal(cis_vfs_symlinkat(P("made"), t.root, P("dang")), 0);
  assert_int_equal(open_err(t.root, "dang", CIS_VFS_WRITE | CIS_VFS_CREAT), ELOOP);
  assert_int_equal(stat_err(t.root, "made", 0), ENOENT);
  assert_int_equal(cis_vfs_openat(t.root, P("dang"), CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_FOLLOW,
                                  &f), 0);
  cis_vfs_close(f);
  assert_int_equal(stat_of(t.root, "made", 0).type, CIS_VFS_REG);
  assert_int_equal(open_err(t.root, "dang", CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_EXCL |
                                                CIS_VFS_FOLLOW), EEXIST);
  usage_is(&t, 0, 2);
  /* What a symlink cannot be. */
  assert_int_equal(cis_vfs_symlinkat("", 0, t.root, P("e")), ENOENT);
  assert_int_equal(cis_vfs_symlinkat("a\0b", 3, t.root, P("e")), EINVAL);
  assert_int_equal(cis_vfs_symlinkat(NULL, 3, t.root, P("e")), EINVAL);
  static char longt[CIS_VFS_PATH_MAX + 2];
  memset(longt, 'a', sizeof longt - 1);
  assert_int_equal(cis_vfs_symlinkat(longt, CIS_VFS_PATH_MAX + 1, t.root, P("e")), ENAMETOOLONG);
  assert_int_equal(cis_vfs_symlinkat(P("x"), t.root, P("dang")), EEXIST);
  assert_int_equal(cis_vfs_symlinkat(P("x"), t.root, P(".")), EEXIST);
  /* Removing a symlink removes the link, never its target. */
  assert_int_equal(cis_vfs_unlinkat(t.root, P("dang")), 0);
  assert_int_equal(stat_of(t.root, "made", 0).type, CIS_VFS_REG);
  usage_is(&t, 0, 1);
  unmount(&t);
}

static void test_hard_links(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  puts_(t.root, "a", "data");
  if (!g.links) {
    /* Without hard links, still POSIX's order: ENOENT and EEXIST first. */
    assert_int_equal(cis_vfs_linkat(t.root, P("none"), 0, t.root, P("b")), ENOENT);
    assert_int_equal(cis_vfs_linkat(t.root, P("a"), 0, t.root, P("a")), EEXIST);
    assert_int_equal(cis_vfs_linkat(t.root, P("a"), 0, t.root, P("b")), EPERM);
    unmount(&t);
    return;
  }
  assert_int_equal(cis_vfs_linkat(t.root, P("a"), 0, t.root, P("b")), 0);
  cis_vfs_stat sa = stat_of(t.root, "a", 0), sb = stat_of(t.root, "b", 0);
  assert_int_equal(sa.ino, sb.ino);
  assert_int_equal(sa.nlink, 2);
  usage_is(&t, 4, 1); /* a hard link counts nothing */
  cis_vfs_file *f = NULL;
  size_t k;
  assert_int_equal(cis_vfs_openat(t.root, P("b"), CIS_VFS_WRITE, &f), 0);
  assert_int_equal(cis_vfs_pwrite(f, "D", 1, 0, &k), 0);
  cis_vfs_close(f);
  assert_content(t.root, "a", "Data");
  assert_int_equal(cis_vfs_unlinkat(t.root, P("a")), 0);
  assert_content(t.root, "b", "Data");
  assert_int_equal(stat_of(t.root, "b", 0).nlink, 1);
  usage_is(&t, 4, 1);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), 0);
  assert_int_equal(cis_vfs_linkat(t.root, P("d"), 0, t.root, P("d2")), EPERM);
  assert_int_equal(cis_vfs_linkat(t.root, P("."), 0, t.root, P("d2")), EPERM);
  assert_int_equal(cis_vfs_linkat(t.root, P("b"), 0, t.root, P("d")), EEXIST);
  assert_int_equal(cis_vfs_linkat(t.root, P("b"), 0, t.root, P("d/..")), EEXIST);
  assert_int_equal(cis_vfs_linkat(t.root, P("b"), 0, t.root, P("new/")), ENOENT);
  assert_int_equal(cis_vfs_linkat(t.root, P("none"), 0, t.root, P("x")), ENOENT);
  assert_int_equal(cis_vfs_linkat(t.root, P("b"), 1u << 9, t.root, P("x")), EINVAL);
  /* FOLLOW links what a symlink names. */
  assert_int_equal(cis_vfs_symlinkat(P("b"), t.root, P("s")), 0);
  assert_int_equal(cis_vfs_linkat(t.root, P("s"), CIS_VFS_FOLLOW, t.root, P("d/c")), 0);
  assert_int_equal(stat_of(t.root, "d/c", 0).ino, stat_of(t.root, "b", 0).ino);
  assert_int_equal(stat_of(t.root, "b", 0).nlink, 2);
  /* Unlinking one of two links frees nothing; the last one does. */
  assert_int_equal(cis_vfs_unlinkat(t.root, P("b")), 0);
  usage_is(&t, 4, 3);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("d/c")), 0);
  usage_is(&t, 0, 2);
  unmount(&t);
}

static void test_hostile_paths(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  cis_vfs_file *sub = NULL, *f = NULL;
  size_t k;
  char buf[64];
  const int NC = CIS_VFS_ENOTCAPABLE;
  assert_int_equal(cis_vfs_mkdirat(t.root, P("sub")), 0);
  puts_(t.root, "secret", "S");
  assert_int_equal(cis_vfs_openat(t.root, P("sub"), CIS_VFS_READ | CIS_VFS_DIRECTORY, &sub), 0);
  /* ".." above the base, even where the mount goes on. */
  assert_int_equal(stat_err(sub, "../secret", 0), NC);
  assert_int_equal(open_err(sub, "../secret", CIS_VFS_READ), NC);
  assert_int_equal(open_err(sub, "x/../../secret", CIS_VFS_READ), ENOENT); /* x must exist */
  assert_int_equal(cis_vfs_mkdirat(sub, P("x")), 0);
  assert_int_equal(open_err(sub, "x/../../secret", CIS_VFS_READ), NC);
  assert_int_equal(cis_vfs_mkdirat(sub, P("../m")), NC);
  assert_int_equal(cis_vfs_unlinkat(sub, P("../secret")), NC);
  assert_int_equal(cis_vfs_rmdirat(sub, P("..")), NC);
  assert_int_equal(cis_vfs_renameat(sub, P("../secret"), sub, P("s")), NC);
  assert_int_equal(cis_vfs_renameat(t.root, P("secret"), sub, P("../../s")), NC);
  assert_int_equal(cis_vfs_symlinkat(P("x"), sub, P("../l")), NC);
  assert_int_equal(cis_vfs_readlinkat(sub, P("../l"), buf, sizeof buf, &k), NC);
  assert_int_equal(cis_vfs_set_timesat(sub, P("../secret"), CIS_VFS_MTIM_NOW, 0, 0), NC);
  if (g.links) assert_int_equal(cis_vfs_linkat(sub, P("../secret"), 0, sub, P("s")), NC);
  assert_int_equal(stat_err(t.root, "..", 0), NC);
  assert_int_equal(stat_err(t.root, "sub/../..", 0), NC);
  assert_int_equal(stat_err(t.root, "sub/../../sub", 0), NC);
  assert_content(t.root, "sub/../secret", "S"); /* inside its base: fine */
  assert_int_equal(stat_err(t.root, "/etc/passwd", 0), NC);
  assert_int_equal(stat_err(t.root, "/", 0), NC);
  assert_int_equal(stat_err(t.root, "//secret", 0), NC);
  assert_non_null(strstr(cis_vfs_errmsg(t.fs), "absolute"));
  assert_int_equal(stat_err(t.root, "../x", 0), NC);
  assert_non_null(strstr(cis_vfs_errmsg(t.fs), "'../x' leaves its base directory"));
  assert_int_equal(cis_vfs_result(NC), CIS_EPATH);
  /* Symlinks whose targets leave: made freely, refused when followed. */
  assert_int_equal(cis_vfs_symlinkat(P("/etc/passwd"), t.root, P("abs")), 0);
  assert_int_equal(stat_of(t.root, "abs", 0).type, CIS_VFS_SYMLINK);
  assert_int_equal(stat_err(t.root, "abs", CIS_VFS_FOLLOW), NC);
  assert_int_equal(open_err(t.root, "abs", CIS_VFS_READ | CIS_VFS_FOLLOW), NC);
  assert_int_equal(open_err(t.root, "abs", CIS_VFS_READ), ELOOP);
  assert_int_equal(cis_vfs_symlinkat(P("/"), t.root, P("slash")), 0);
  assert_int_equal(stat_err(t.root, "slash/etc", 0), NC);
  assert_int_equal(cis_vfs_symlinkat(P("../secret"), t.root, P("sub/rel")), 0);
  assert_content(t.root, "secret", "S");
  assert_int_equal(get(t.root, "sub/rel", CIS_VFS_FOLLOW, buf, sizeof buf), 1); /* root base: inside */
  assert_int_equal(stat_err(sub, "rel", CIS_VFS_FOLLOW), NC);                 /* sub base: out */
  assert_int_equal(open_err(sub, "rel", CIS_VFS_WRITE | CIS_VFS_TRUNC | CIS_VFS_FOLLOW), NC);
  assert_content(t.root, "secret", "S");
  assert_int_equal(cis_vfs_symlinkat(P("../../x"), t.root, P("sub/esc")), 0);
  assert_int_equal(stat_err(t.root, "sub/esc", CIS_VFS_FOLLOW), NC);
  assert_int_equal(stat_err(t.root, "sub/esc/y", 0), NC);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("sub/esc/y")), NC);
  /* Chains: c1 -> c2 -> c3 -> ../.. */
  assert_int_equal(cis_vfs_symlinkat(P("c2"), t.root, P("sub/c1")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("./c3"), t.root, P("sub/c2")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("../.."), t.root, P("sub/c3")), 0);
  assert_int_equal(stat_err(t.root, "sub/c1", CIS_VFS_FOLLOW), NC);
  assert_int_equal(stat_err(t.root, "sub/c1/secret", 0), NC);
  assert_int_equal(stat_of(t.root, "sub/c1", 0).type, CIS_VFS_SYMLINK);
  /* Loops. */
  assert_int_equal(cis_vfs_symlinkat(P("loop2"), t.root, P("loop1")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("loop1"), t.root, P("loop2")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("self/x"), t.root, P("self")), 0);
  assert_int_equal(stat_err(t.root, "loop1", CIS_VFS_FOLLOW), ELOOP);
  assert_int_equal(stat_err(t.root, "loop1/x", 0), ELOOP);
  assert_int_equal(open_err(t.root, "self", CIS_VFS_READ | CIS_VFS_FOLLOW), ELOOP);
  /* Exactly CIS_VFS_MAX_SYMLINKS are followed, not one more. */
  puts_(t.root, "end", "E");
  for (int i = 0; i <= CIS_VFS_MAX_SYMLINKS; i++) {
    char name[16], target[16];
    snprintf(name, sizeof name, "s%d", i);
    if (i == CIS_VFS_MAX_SYMLINKS) snprintf(target, sizeof target, "end");
    else snprintf(target, sizeof target, "s%d", i + 1);
    assert_int_equal(cis_vfs_symlinkat(P(target), t.root, P(name)), 0);
  }
  assert_int_equal(get(t.root, "s1", CIS_VFS_FOLLOW, buf, sizeof buf), 1);
  assert_int_equal(open_err(t.root, "s0", CIS_VFS_READ | CIS_VFS_FOLLOW), ELOOP);
  assert_non_null(strstr(cis_vfs_errmsg(t.fs), "symlinks"));
  /* Refused before any backend call: NUL, too long a path or component. */
  uint64_t calls = cis__vfs_backend_calls(t.fs);
  assert_int_equal(stat_err(t.root, "", 0), 0);
  assert_true(cis__vfs_backend_calls(t.fs) > calls);
  calls = cis__vfs_backend_calls(t.fs);
  cis_vfs_stat st;
  assert_int_equal(cis_vfs_statat(t.root, "sec\0ret", 7, 0, &st), EINVAL);
  assert_int_equal(cis_vfs_openat(t.root, "secret\0", 7, CIS_VFS_READ, &f), EINVAL);
  assert_int_equal(cis_vfs_mkdirat(t.root, "a\0", 2), EINVAL);
  assert_int_equal(cis_vfs_statat(t.root, NULL, 3, 0, &st), EINVAL);
  static char lp[CIS_VFS_PATH_MAX + 2];
  memset(lp, 0, sizeof lp);
  for (int i = 0; i < CIS_VFS_PATH_MAX + 1; i++) lp[i] = (i % 2) ? '/' : 'a';
  assert_int_equal(cis_vfs_statat(t.root, lp, CIS_VFS_PATH_MAX + 1, 0, &st), ENAMETOOLONG);
  assert_int_equal(cis_vfs_mkdirat(t.root, lp, CIS_VFS_PATH_MAX + 1), ENAMETOOLONG);
  char lc[CIS_VFS_NAME_MAX + 2];
  memset(lc, 'n', sizeof lc);
  assert_int_equal(cis_vfs_statat(t.root, lc, CIS_VFS_NAME_MAX + 1, 0, &st), ENAMETOOLONG);
  assert_int_equal(cis_vfs_openat(t.root, lc, CIS_VFS_NAME_MAX + 1, CIS_VFS_WRITE | CIS_VFS_CREAT,
                                  &f), ENAMETOOLONG);
  assert_int_equal(cis__vfs_backend_calls(t.fs), calls);
  /* At the limits: fine. */
  assert_int_equal(cis_vfs_openat(t.root, lc, CIS_VFS_NAME_MAX, CIS_VFS_WRITE | CIS_VFS_CREAT, &f),
                   0);
  cis_vfs_close(f);
  assert_int_equal(cis_vfs_statat(t.root, lc, CIS_VFS_NAME_MAX, 0, &st), 0);
  for (int i = 0; i < CIS_VFS_PATH_MAX; i++) lp[i] = (i % 2) ? '/' : '.';
  assert_int_equal(cis_vfs_statat(t.root, lp, CIS_VFS_PATH_MAX, 0, &st), 0);
  assert_int_equal(st.type, CIS_VFS_DIR);
  /* A symlink whose target has too long a component, or makes the path
   * too long. */
  char lt[300];
  memset(lt, 'q', sizeof lt - 1);
  lt[sizeof lt - 1] = '\0';
  assert_int_equal(cis_vfs_symlinkat(P(lt), t.root, P("longc")), 0);
  assert_int_equal(stat_err(t.root, "longc", CIS_VFS_FOLLOW), ENAMETOOLONG);
  static char big[4001];
  for (int i = 0; i < 4000; i++) big[i] = (i % 2) ? '/' : '.';
  big[4000] = '\0';
  assert_int_equal(cis_vfs_symlinkat(P(big), t.root, P("lt")), 0);
  assert_int_equal(stat_of(t.root, "lt/sub", 0).type, CIS_VFS_DIR);
  char tail[400];
  snprintf(tail, sizeof tail, "lt/%0200d/%0150d", 0, 0);
  assert_int_equal(stat_err(t.root, tail, 0), ENAMETOOLONG);
  cis_vfs_close(sub);
  unmount(&t);
}

/* Every call that changes something fails with EROFS on a read-only
 * mount, before the backend sees it. */
static void test_read_only(void **state) {
  (void)state;
  T t;
  cis_vfs_options ro = {.read_only = true};
  cis_vfs_backend *b = NULL;
  mount_new(&t, NULL);
  puts_(t.root, "f", "data");
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("f"), t.root, P("l")), 0);
  unmount(&t);
  b = new_backend(true);
  bool has_data = b != NULL;
  if (!b) b = new_backend(false);
  mount_on(&t, b, &ro);
  cis_vfs_file *f = NULL;
  size_t k;
  uint64_t calls = cis__vfs_backend_calls(t.fs);
  assert_int_equal(open_err(t.root, "f", CIS_VFS_WRITE), EROFS);
  assert_int_equal(open_err(t.root, "n", CIS_VFS_READ | CIS_VFS_CREAT), EROFS);
  assert_int_equal(open_err(t.root, "f", CIS_VFS_WRITE | CIS_VFS_TRUNC), EROFS);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("e")), EROFS);
  assert_int_equal(cis_vfs_rmdirat(t.root, P("d")), EROFS);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("f")), EROFS);
  assert_int_equal(cis_vfs_renameat(t.root, P("f"), t.root, P("g")), EROFS);
  assert_int_equal(cis_vfs_symlinkat(P("f"), t.root, P("m")), EROFS);
  assert_int_equal(cis_vfs_linkat(t.root, P("f"), 0, t.root, P("h")), EROFS);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("f"), CIS_VFS_MTIM_NOW, 0, 0), EROFS);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("l"), CIS_VFS_MTIM_NOW, 0, 0), EROFS);
  assert_int_equal(cis_vfs_fset_times(t.root, CIS_VFS_MTIM_NOW, 0, 0), EROFS);
  assert_non_null(strstr(cis_vfs_errmsg(t.fs), "read-only"));
  assert_int_equal(cis__vfs_backend_calls(t.fs), calls);
  assert_int_equal(cis_vfs_result(EROFS), CIS_EROFS);
  /* Reading works. */
  cis_vfs_dirent ent;
  assert_int_equal(cis_vfs_readdir(t.root, 0, &ent), 0);
  assert_int_equal(cis_vfs_fsync(t.root), 0);
  if (has_data) {
    assert_content(t.root, "f", "data");
    assert_int_equal(stat_of(t.root, "l", 0).type, CIS_VFS_SYMLINK);
    assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_READ, &f), 0);
    assert_int_equal(cis_vfs_pwrite(f, "x", 1, 0, &k), EBADF);
    assert_int_equal(cis_vfs_ftruncate(f, 0), EBADF);
    assert_int_equal(cis_vfs_fset_times(f, CIS_VFS_MTIM_NOW, 0, 0), EROFS);
    cis_vfs_close(f);
    usage_is(&t, 4, 3);
  }
  unmount(&t);
}

static void test_quota_bytes(void **state) {
  (void)state;
  T t;
  cis_vfs_options o = {.max_bytes = 1000};
  mount_new(&t, &o);
  static char a[1000], A[1000];
  memset(a, 'a', sizeof a);
  memset(A, 'A', sizeof A);
  cis_vfs_file *fa = NULL, *fb = NULL, *f = NULL;
  size_t k;
  char buf[1000];
  put(t.root, "a", a, 600);
  usage_is(&t, 600, 1);
  assert_int_equal(cis_vfs_openat(t.root, P("b"), CIS_VFS_WRITE | CIS_VFS_CREAT, &fb), 0);
  assert_int_equal(cis_vfs_pwrite(fb, a, 500, 0, &k), EDQUOT);
  assert_int_equal(k, 0);
  assert_non_null(strstr(cis_vfs_errmsg(t.fs), "max_bytes"));
  assert_int_equal(cis_vfs_result(EDQUOT), CIS_EQUOTA);
  assert_int_equal(stat_of(t.root, "b", 0).size, 0);
  assert_int_equal(cis_vfs_pwrite(fb, a, 400, 0, &k), 0); /* exactly full */
  usage_is(&t, 1000, 2);
  assert_int_equal(cis_vfs_pwrite(fb, "x", 1, CIS_VFS_APPEND, &k), EDQUOT);
  assert_int_equal(cis_vfs_pwrite(fb, a, 400, 0, &k), 0); /* overwriting: no growth */
  /* An over-quota write leaves the old content. */
  assert_int_equal(cis_vfs_openat(t.root, P("a"), CIS_VFS_READ | CIS_VFS_WRITE, &fa), 0);
  assert_int_equal(cis_vfs_pwrite(fa, A, 600, 0, &k), 0);
  assert_int_equal(cis_vfs_pwrite(fa, A, 20, 590, &k), EDQUOT);
  assert_int_equal(cis_vfs_ftruncate(fa, 601), EDQUOT);
  assert_int_equal(cis_vfs_pread(fa, buf, sizeof buf, 0, &k), 0);
  assert_int_equal(k, 600);
  assert_memory_equal(buf, A, 600);
  assert_int_equal(cis_vfs_ftruncate(fa, 100), 0); /* shrinking frees */
  usage_is(&t, 500, 2);
  assert_int_equal(cis_vfs_ftruncate(fa, 600), 0);
  cis_vfs_close(fa);
  /* TRUNC frees, deleting frees. */
  assert_int_equal(cis_vfs_openat(t.root, P("a"), CIS_VFS_WRITE | CIS_VFS_TRUNC, &fa), 0);
  usage_is(&t, 400, 2);
  assert_int_equal(cis_vfs_pwrite(fa, A, 600, 0, &k), 0);
  cis_vfs_close(fa);
  cis_vfs_close(fb);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("b")), 0);
  usage_is(&t, 600, 1);
  assert_int_equal(cis_vfs_openat(t.root, P("c"), CIS_VFS_WRITE | CIS_VFS_CREAT, &f), 0);
  assert_int_equal(cis_vfs_pwrite(f, a, 400, 0, &k), 0);
  assert_int_equal(cis_vfs_pwrite(f, a, 1, 400, &k), EDQUOT);
  cis_vfs_close(f);
  /* Symlinks and directories hold no bytes. */
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("abcdefgh"), t.root, P("l")), 0);
  usage_is(&t, 1000, 4);
  unmount(&t);
  /* Mounted again under a lower quota: what does not grow still works. */
  cis_vfs_backend *b = new_backend(true);
  if (!b) return; /* memory: the storage is gone */
  o.max_bytes = 10;
  o.max_files = 2;
  mount_on(&t, b, &o);
  usage_is(&t, 1000, 4);
  assert_int_equal(cis_vfs_openat(t.root, P("a"), CIS_VFS_WRITE, &f), 0);
  assert_int_equal(cis_vfs_pwrite(f, "over", 4, 0, &k), 0);
  assert_int_equal(cis_vfs_pwrite(f, "x", 1, 600, &k), EDQUOT);
  assert_int_equal(cis_vfs_ftruncate(f, 10), 0);
  cis_vfs_close(f);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d2")), EDQUOT);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("l")), 0);
  usage_is(&t, 410, 3);
  unmount(&t);
}

static void test_quota_files(void **state) {
  (void)state;
  T t;
  cis_vfs_options o = {.max_files = 3};
  mount_new(&t, &o);
  cis_vfs_file *f = NULL;
  puts_(t.root, "f", "x");
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), 0);
  assert_int_equal(cis_vfs_symlinkat(P("f"), t.root, P("l")), 0);
  usage_is(&t, 1, 3);
  assert_int_equal(open_err(t.root, "g", CIS_VFS_WRITE | CIS_VFS_CREAT), EDQUOT);
  assert_non_null(strstr(cis_vfs_errmsg(t.fs), "max_files"));
  assert_int_equal(cis_vfs_mkdirat(t.root, P("e")), EDQUOT);
  assert_int_equal(cis_vfs_symlinkat(P("f"), t.root, P("m")), EDQUOT);
  assert_int_equal(stat_err(t.root, "g", 0), ENOENT);
  /* Names that exist are not new nodes. */
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), EEXIST);
  assert_int_equal(cis_vfs_symlinkat(P("f"), t.root, P("l")), EEXIST);
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_WRITE | CIS_VFS_CREAT, &f), 0);
  cis_vfs_close(f);
  assert_int_equal(open_err(t.root, "f", CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_EXCL), EEXIST);
  if (g.links) assert_int_equal(cis_vfs_linkat(t.root, P("f"), 0, t.root, P("f2")), 0);
  /* Deleting makes room. */
  assert_int_equal(cis_vfs_unlinkat(t.root, P("l")), 0);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("e")), 0);
  assert_int_equal(cis_vfs_rmdirat(t.root, P("d")), 0);
  puts_(t.root, "g", "yy");
  /* Renaming over a node frees it. */
  assert_int_equal(cis_vfs_renameat(t.root, P("e"), t.root, P("e2")), 0);
  usage_is(&t, 3, 3);
  assert_int_equal(cis_vfs_renameat(t.root, P("g"), t.root, P("f")), 0);
  usage_is(&t, g.links ? 3 : 2, g.links ? 3 : 2); /* f survives as f2 when linked */
  assert_int_equal(cis_vfs_mkdirat(t.root, P("e3")), g.links ? EDQUOT : 0);
  unmount(&t);
}

/* A file unlinked while open stays usable and keeps its quota until it is
 * closed. */
static void test_open_unlinked_file(void **state) {
  (void)state;
  T t;
  cis_vfs_options o = {.max_bytes = 100};
  mount_new(&t, &o);
  cis_vfs_file *f = NULL, *f2 = NULL, *g1 = NULL;
  static const char s60[61] = "012345678901234567890123456789012345678901234567890123456789";
  char buf[100];
  size_t k;
  put(t.root, "f", s60, 60);
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_READ | CIS_VFS_WRITE, &f), 0);
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_READ, &f2), 0);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("f")), 0);
  assert_int_equal(stat_err(t.root, "f", 0), ENOENT);
  usage_is(&t, 60, 1);
  assert_int_equal(cis_vfs_pread(f, buf, sizeof buf, 0, &k), 0);
  assert_int_equal(k, 60);
  assert_int_equal(cis_vfs_pwrite(f, s60, 30, 60, &k), 0);
  usage_is(&t, 90, 1);
  assert_int_equal(cis_vfs_pwrite(f, s60, 20, 90, &k), EDQUOT);
  cis_vfs_close(f);
  usage_is(&t, 90, 1); /* f2 still holds it */
  assert_int_equal(cis_vfs_pread(f2, buf, sizeof buf, 0, &k), 0);
  assert_int_equal(k, 90);
  cis_vfs_close(f2);
  usage_is(&t, 0, 0);
  /* Renamed over while open. */
  put(t.root, "g", s60, 50);
  put(t.root, "h", s60, 10);
  assert_int_equal(cis_vfs_openat(t.root, P("g"), CIS_VFS_READ, &g1), 0);
  assert_int_equal(cis_vfs_renameat(t.root, P("h"), t.root, P("g")), 0);
  usage_is(&t, 60, 2);
  assert_int_equal(cis_vfs_pread(g1, buf, sizeof buf, 0, &k), 0);
  assert_int_equal(k, 50);
  cis_vfs_close(g1);
  usage_is(&t, 10, 1);
  unmount(&t);
}

static void test_fault_injection(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  cis_vfs_file *f = NULL;
  char buf[16];
  size_t k;
  puts_(t.root, "f", "data");
  uint64_t calls = cis__vfs_backend_calls(t.fs);
  assert_int_equal(stat_err(t.root, "f", 0), 0);
  assert_true(cis__vfs_backend_calls(t.fs) > calls);
  /* The next call fails, the one after works. */
  cis__vfs_inject_fault(t.fs, 0, 1, EIO);
  assert_int_equal(stat_err(t.root, "f", 0), EIO);
  assert_non_null(strstr(cis_vfs_errmsg(t.fs), "injected"));
  assert_int_equal(stat_err(t.root, "f", 0), 0);
  /* The second call of an open (its stat) fails: nothing leaks. */
  cis__vfs_inject_fault(t.fs, 1, 1, EIO);
  assert_int_equal(open_err(t.root, "f", CIS_VFS_READ), EIO);
  assert_content(t.root, "f", "data");
  /* A database down. */
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_READ | CIS_VFS_WRITE, &f), 0);
  cis__vfs_inject_fault(t.fs, 0, 2, CIS_VFS_EDOWN);
  assert_int_equal(cis_vfs_pread(f, buf, 4, 0, &k), CIS_VFS_EDOWN);
  assert_int_equal(cis_vfs_pread(f, buf, 4, 0, &k), CIS_VFS_EDOWN);
  assert_int_equal(cis_vfs_result(CIS_VFS_EDOWN), CIS_EVFSDOWN);
  assert_int_equal(cis_vfs_pread(f, buf, 4, 0, &k), 0);
  /* A failed write (its stat passes, the write fails) changes nothing. */
  cis__vfs_inject_fault(t.fs, 1, 1, EIO);
  assert_int_equal(cis_vfs_pwrite(f, "XXXXXXXX", 8, 0, &k), EIO);
  usage_is(&t, 4, 1);
  cis__vfs_inject_fault(t.fs, 0, 1, EIO);
  assert_int_equal(cis_vfs_ftruncate(f, 100), EIO);
  cis__vfs_inject_fault(t.fs, 1, 1, EIO);
  assert_int_equal(cis_vfs_ftruncate(f, 100), EIO);
  cis__vfs_inject_fault(t.fs, 0, 1, EIO);
  assert_int_equal(cis_vfs_fsync(f), EIO);
  cis__vfs_inject_fault(t.fs, 0, 1, EIO);
  assert_int_equal(cis_vfs_fset_times(f, CIS_VFS_MTIM_NOW, 0, 0), EIO);
  cis__vfs_inject_fault(t.fs, 0, 1, EIO);
  assert_int_equal(cis_vfs_fstat(f, &(cis_vfs_stat){0}), EIO);
  cis_vfs_close(f);
  usage_is(&t, 4, 1);
  assert_content(t.root, "f", "data");
  /* A failed create counts no node. */
  cis__vfs_inject_fault(t.fs, 1, 1, EIO); /* the lookup passes, the open fails */
  assert_int_equal(open_err(t.root, "g", CIS_VFS_WRITE | CIS_VFS_CREAT), EIO);
  usage_is(&t, 4, 1);
  cis__vfs_inject_fault(t.fs, 0, 1, EIO);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), EIO);
  cis__vfs_inject_fault(t.fs, 0, 1, EIO);
  assert_int_equal(cis_vfs_readdir(t.root, 2, &(cis_vfs_dirent){0}), EIO);
  cis__vfs_inject_fault(t.fs, 0, 1, EIO);
  assert_int_equal(cis_vfs_open_root(t.fs, &f), EIO);
  assert_null(f);
  usage_is(&t, 4, 1);
  /* count 0 turns it off. */
  cis__vfs_inject_fault(t.fs, 0, 5, EIO);
  cis__vfs_inject_fault(t.fs, 0, 0, EIO);
  assert_int_equal(stat_err(t.root, "f", 0), 0);
  /* Every other call, for a while: the mount stays usable. */
  int failures = 0;
  for (int i = 0; i < 6; i++) {
    cis__vfs_inject_fault(t.fs, (uint32_t)i, 1, EIO);
    int e = cis_vfs_renameat(t.root, P("f"), t.root, P("f.tmp"));
    cis__vfs_inject_fault(t.fs, 0, 0, 0);
    if (e == 0) {
      assert_int_equal(cis_vfs_renameat(t.root, P("f.tmp"), t.root, P("f")), 0);
    } else {
      assert_int_equal(e, EIO);
      failures++;
    }
    usage_is(&t, 4, 1);
  }
  assert_int_equal(failures, 3); /* lookup, lookup, rename: each call of it failed once */
  assert_content(t.root, "f", "data");
  /* The stat at the close of an unlinked file fails: its node still goes. */
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_READ, &f), 0);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("f")), 0);
  cis__vfs_inject_fault(t.fs, 0, 1, EIO);
  cis_vfs_close(f);
  usage_is(&t, 4, 0);
  unmount(&t);
}

static uint8_t pattern(uint64_t off) { return (uint8_t)((off * 2654435761u) >> 13); }

static void test_big_file(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  const size_t total = 64u << 20, wchunk = 1u << 20, rchunk = (3u << 20) + 17;
  uint8_t *buf = malloc(rchunk);
  assert_non_null(buf);
  cis_vfs_file *f = NULL;
  size_t k;
  assert_int_equal(cis_vfs_openat(t.root, P("big"), CIS_VFS_READ | CIS_VFS_WRITE | CIS_VFS_CREAT,
                                  &f), 0);
  for (size_t off = 0; off < total; off += wchunk) {
    for (size_t i = 0; i < wchunk; i++) buf[i] = pattern(off + i);
    assert_int_equal(cis_vfs_pwrite(f, buf, wchunk, off, &k), 0);
    assert_int_equal(k, wchunk);
  }
  cis_vfs_stat st;
  assert_int_equal(cis_vfs_fstat(f, &st), 0);
  assert_int_equal(st.size, total);
  usage_is(&t, total, 1);
  size_t seen = 0;
  for (uint64_t off = 0;; off += k) {
    assert_int_equal(cis_vfs_pread(f, buf, rchunk, off, &k), 0);
    if (k == 0) break;
    for (size_t i = 0; i < k; i++)
      if (buf[i] != pattern(off + i)) fail_msg("byte %llu differs", (unsigned long long)(off + i));
    seen += k;
  }
  assert_int_equal(seen, total);
  cis_vfs_close(f);
  free(buf);
  unmount(&t);
}

static void test_cross_mount(void **state) {
  (void)state;
  T t, o;
  cis_vfs_backend *mb = NULL;
  mount_new(&t, NULL);
  assert_int_equal(cis_vfs_mem_new(&mb), CIS_OK);
  mount_on(&o, mb, NULL);
  puts_(t.root, "f", "x");
  assert_int_equal(cis_vfs_renameat(t.root, P("f"), o.root, P("f")), EXDEV);
  assert_int_equal(cis_vfs_linkat(t.root, P("f"), 0, o.root, P("f")), EXDEV);
  assert_int_equal(stat_err(o.root, "f", 0), ENOENT);
  assert_ptr_equal(cis_vfs_file_mount(t.root), t.fs);
  assert_ptr_equal(cis_vfs_file_mount(o.root), o.fs);
  unmount(&o);
  unmount(&t);
}

/* Unmounting with files open detaches them: calls fail with EBADF and
 * cis_vfs_close still frees them. */
static void test_unmount_with_open_files(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  cis_vfs_file *f = NULL, *d = NULL, *dot = NULL;
  char buf[4];
  size_t k;
  cis_vfs_dirent ent;
  cis_vfs_stat st;
  assert_int_equal(cis_vfs_mkdirat(t.root, P("d")), 0);
  puts_(t.root, "d/f", "x");
  assert_int_equal(cis_vfs_openat(t.root, P("d/f"), CIS_VFS_READ | CIS_VFS_WRITE, &f), 0);
  assert_int_equal(cis_vfs_openat(t.root, P("d"), CIS_VFS_READ, &d), 0);
  assert_int_equal(cis_vfs_openat(d, P("."), CIS_VFS_READ, &dot), 0); /* shares d's node */
  assert_int_equal(cis_vfs_unlinkat(t.root, P("d/f")), 0);
  cis_vfs_unmount(t.fs);
  assert_null(cis_vfs_file_mount(f));
  assert_int_equal(cis_vfs_file_type(f), CIS_VFS_UNKNOWN);
  assert_int_equal(cis_vfs_pread(f, buf, 1, 0, &k), EBADF);
  assert_int_equal(cis_vfs_pwrite(f, buf, 1, 0, &k), EBADF);
  assert_int_equal(cis_vfs_fstat(f, &st), EBADF);
  assert_int_equal(cis_vfs_ftruncate(f, 0), EBADF);
  assert_int_equal(cis_vfs_fsync(f), EBADF);
  assert_int_equal(cis_vfs_fset_times(f, 0, 0, 0), EBADF);
  assert_int_equal(cis_vfs_readdir(d, 0, &ent), EBADF);
  assert_int_equal(open_err(d, "f", CIS_VFS_READ), EBADF);
  assert_int_equal(stat_err(dot, ".", 0), EBADF);
  assert_int_equal(cis_vfs_mkdirat(d, P("x")), EBADF);
  assert_int_equal(cis_vfs_rmdirat(d, P("x")), EBADF);
  assert_int_equal(cis_vfs_unlinkat(d, P("x")), EBADF);
  assert_int_equal(cis_vfs_symlinkat(P("x"), d, P("x")), EBADF);
  assert_int_equal(cis_vfs_readlinkat(d, P("x"), buf, sizeof buf, &k), EBADF);
  assert_int_equal(cis_vfs_renameat(d, P("x"), d, P("y")), EBADF);
  assert_int_equal(cis_vfs_linkat(d, P("x"), 0, d, P("y")), EBADF);
  assert_int_equal(cis_vfs_set_timesat(d, P("x"), 0, 0, 0), EBADF);
  cis_vfs_close(f);
  cis_vfs_close(d);
  cis_vfs_close(dot);
  cis_vfs_close(t.root);
  cis_vfs_close(NULL);
}

/* ------------------------------------------------- wrapper-only cases */

/* A backend that forwards to a memory backend and misbehaves on demand. */
enum {
  SHIM_OK,
  SHIM_NEGATIVE,    /* lookup returns a negative number */
  SHIM_NUL_TARGET,  /* readlink returns a target holding a NUL */
  SHIM_BIG_COOKIE,  /* readdir returns a cookie above the allowed range */
  SHIM_SHORT_WRITE, /* write stores less than asked and says so */
  SHIM_NO_NODE,     /* open and root succeed without a node */
  SHIM_FAIL_NODE,   /* open fails but hands out a node anyway */
  SHIM_OVERREAD,    /* read says it read more than asked */
  SHIM_LONG_LINK,   /* readlink says the target is longer than the buffer, yet succeeds */
  SHIM_USAGE_FAIL,  /* usage fails */
  SHIM_ERANGE_LINK, /* readlink says ERANGE while resolving */
};

static struct {
  int mode;          /* SHIM_* */
  int destroyed;     /* destroy calls */
  int closes;        /* close calls */
  uint32_t lookup_flags; /* the flags of the last lookup */
  int lookups_v3;    /* calls of the lookup of a version-3 table */
} shim;

typedef struct shim_fs {
  cis_vfs_backend base;   /* first */
  cis_vfs_backend *inner; /* the memory backend */
} shim_fs;

#define IN(b) (((shim_fs *)(b))->inner)
#define FWD(b, call) (IN(b)->methods->call)

static void sh_destroy(cis_vfs_backend *b) {
  shim.destroyed++;
  IN(b)->methods->destroy(IN(b));
  free(b);
}
static int sh_root(cis_vfs_backend *b, cis_vfs_node **out) {
  if (shim.mode == SHIM_NO_NODE) return 0;
  return FWD(b, root)(IN(b), out);
}
static int sh_usage(cis_vfs_backend *b, uint64_t *bytes, uint64_t *nodes) {
  if (shim.mode == SHIM_USAGE_FAIL) {
    snprintf(b->errmsg, sizeof b->errmsg, "usage broke");
    return EIO;
  }
  return FWD(b, usage)(IN(b), bytes, nodes);
}
static int sh_lookup(cis_vfs_backend *b, cis_vfs_node *d, const char *n, uint32_t flags,
                     cis_vfs_stat *st) {
  if (shim.mode == SHIM_NEGATIVE) return -3;
  shim.lookup_flags = flags;
  return FWD(b, lookup)(IN(b), d, n, flags, st);
}
/* lookup as a backend built against version 3 of the table has it. */
static int sh_lookup_v3(cis_vfs_backend *b, cis_vfs_node *d, const char *n, cis_vfs_stat *st) {
  shim.lookups_v3++;
  return FWD(b, lookup)(IN(b), d, n, 0, st);
}
typedef int (*lookup_fn)(cis_vfs_backend *, cis_vfs_node *, const char *, uint32_t,
                         cis_vfs_stat *);
static int sh_open(cis_vfs_backend *b, cis_vfs_node *d, const char *n, uint32_t fl,
                   cis_vfs_node **out) {
  if (shim.mode == SHIM_NO_NODE) return 0;
  int e = FWD(b, open)(IN(b), d, n, fl, out);
  if (shim.mode == SHIM_FAIL_NODE && e == 0) return EIO;
  return e;
}
static int sh_mkdir(cis_vfs_backend *b, cis_vfs_node *d, const char *n) {
  return FWD(b, mkdir)(IN(b), d, n);
}
static int sh_rmdir(cis_vfs_backend *b, cis_vfs_node *d, const char *n) {
  return FWD(b, rmdir)(IN(b), d, n);
}
static int sh_unlink(cis_vfs_backend *b, cis_vfs_node *d, const char *n) {
  return FWD(b, unlink)(IN(b), d, n);
}
static int sh_rename(cis_vfs_backend *b, cis_vfs_node *od, const char *on, cis_vfs_node *nd,
                     const char *nn) {
  return FWD(b, rename)(IN(b), od, on, nd, nn);
}
static int sh_symlink(cis_vfs_backend *b, cis_vfs_node *d, const char *n, const char *t) {
  return FWD(b, symlink)(IN(b), d, n, t);
}
static int sh_readlink(cis_vfs_backend *b, cis_vfs_node *d, const char *n, char *buf, size_t cap,
                       size_t *len) {
  if (shim.mode == SHIM_NUL_TARGET) {
    memcpy(buf, "a\0b", 3);
    *len = 3;
    return 0;
  }
  if (shim.mode == SHIM_LONG_LINK) {
    *len = cap + 1;
    return 0;
  }
  if (shim.mode == SHIM_ERANGE_LINK) {
    *len = cap + 1;
    return ERANGE;
  }
  return FWD(b, readlink)(IN(b), d, n, buf, cap, len);
}
static int sh_link(cis_vfs_backend *b, cis_vfs_node *od, const char *on, cis_vfs_node *nd,
                   const char *nn) {
  return FWD(b, link)(IN(b), od, on, nd, nn);
}
static void sh_close(cis_vfs_backend *b, cis_vfs_node *n) {
  shim.closes++;
  FWD(b, close)(IN(b), n);
}
static int sh_stat(cis_vfs_backend *b, cis_vfs_node *n, cis_vfs_stat *st) {
  return FWD(b, stat)(IN(b), n, st);
}
static int sh_read(cis_vfs_backend *b, cis_vfs_node *n, void *buf, size_t len, uint64_t off,
                   size_t *got) {
  int e = FWD(b, read)(IN(b), n, buf, len, off, got);
  if (shim.mode == SHIM_OVERREAD) *got = len + 1;
  return e;
}
static int sh_write(cis_vfs_backend *b, cis_vfs_node *n, const void *buf, size_t len, uint64_t off,
                    size_t *put) {
  if (shim.mode == SHIM_SHORT_WRITE && len > 1) len--;
  return FWD(b, write)(IN(b), n, buf, len, off, put);
}
static int sh_truncate(cis_vfs_backend *b, cis_vfs_node *n, uint64_t size) {
  return FWD(b, truncate)(IN(b), n, size);
}
static int sh_set_times(cis_vfs_backend *b, cis_vfs_node *n, uint64_t a, uint64_t m, uint32_t fl) {
  return FWD(b, set_times)(IN(b), n, a, m, fl);
}
static int sh_sync(cis_vfs_backend *b, cis_vfs_node *n) { return FWD(b, sync)(IN(b), n); }
static int sh_readdir(cis_vfs_backend *b, cis_vfs_node *d, uint64_t c, cis_vfs_dirent *ent) {
  int e = FWD(b, readdir)(IN(b), d, c, ent);
  if (shim.mode == SHIM_BIG_COOKIE && e == 0) ent->next = UINT64_MAX - 1;
  return e;
}

static const cis_vfs_methods shim_methods = {
    .version = CIS_VFS_METHODS_VERSION,
    .name = "shim",
    .destroy = sh_destroy,
    .root = sh_root,
    .usage = sh_usage,
    .lookup = sh_lookup,
    .open = sh_open,
    .mkdir = sh_mkdir,
    .rmdir = sh_rmdir,
    .unlink = sh_unlink,
    .rename = sh_rename,
    .symlink = sh_symlink,
    .readlink = sh_readlink,
    .link = sh_link,
    .close = sh_close,
    .stat = sh_stat,
    .read = sh_read,
    .write = sh_write,
    .truncate = sh_truncate,
    .set_times = sh_set_times,
    .sync = sh_sync,
    .readdir = sh_readdir,
};

static int shim_nofollow_calls; /* calls of sh_set_times_nofollow */

static int sh_set_times_nofollow(cis_vfs_backend *b, cis_vfs_node *d, const char *name,
                                 uint64_t a, uint64_t m, uint32_t fl) {
  shim_nofollow_calls++;
  return FWD(b, set_times_nofollow)(IN(b), d, name, a, m, fl);
}

static cis_vfs_backend *shim_new(const cis_vfs_methods *m) {
  shim_fs *s = calloc(1, sizeof *s);
  assert_non_null(s);
  assert_int_equal(cis_vfs_mem_new(&s->inner), CIS_OK);
  s->base.methods = m;
  return &s->base;
}

static void test_wrapper_mount_checks(void **state) {
  (void)state;
  cis_vfs *fs = NULL;
  memset(&shim, 0, sizeof shim);
  cis_test_vfs_mount_fails(NULL, NULL, CIS_EINVAL, "NULL backend", NULL, 0);
  cis_vfs_methods bad = shim_methods;
  bad.version = 0;
  cis_test_vfs_mount_fails(shim_new(&bad), NULL, CIS_EINVAL, "no version", NULL, 0);
  assert_int_equal(shim.destroyed, 1); /* the mount owns the backend, also on failure */
  cis_vfs_methods missing = shim_methods;
  missing.readdir = NULL;
  cis_test_vfs_mount_fails(shim_new(&missing), NULL, CIS_EINVAL, "lacks a method", NULL, 0);
  assert_int_equal(shim.destroyed, 2);
  assert_int_equal(cis_vfs_mount(shim_new(&shim_methods), NULL, NULL), CIS_EINVAL);
  assert_int_equal(shim.destroyed, 3);
  shim.mode = SHIM_USAGE_FAIL;
  const cis_vfs_options quota = {.max_files = 10};
  cis_test_vfs_mount_fails(shim_new(&shim_methods), &quota, CIS_EVFS, "usage broke", NULL, 0);
  assert_int_equal(shim.destroyed, 4);
  /* Without a quota the usage is read when first asked for, and a
   * failure shows there. */
  assert_int_equal(cis_vfs_mount(shim_new(&shim_methods), NULL, &fs), CIS_OK);
  assert_int_equal(cis__vfs_backend_calls(fs), 0);
  uint64_t ub = 1, un = 1;
  assert_int_equal(cis_vfs_usage(fs, &ub, &un), EIO);
  assert_int_equal(ub + un, 0);
  assert_non_null(strstr(cis_vfs_errmsg(fs), "usage broke"));
  cis_vfs_unmount(fs);
  assert_int_equal(shim.destroyed, 5);
  cis_vfs_methods anon = shim_methods;
  anon.name = NULL;
  shim.mode = SHIM_OK;
  assert_int_equal(cis_vfs_mount(shim_new(&anon), NULL, &fs), CIS_OK);
  cis_vfs_file *root = NULL;
  assert_int_equal(cis_vfs_open_root(fs, &root), 0);
  assert_int_equal(stat_err(root, "none", 0), ENOENT);
  assert_non_null(strstr(cis_vfs_errmsg(fs), "backend: lookup 'none'"));
  cis_vfs_close(root);
  assert_int_equal(cis_vfs_open_root(fs, NULL), EINVAL);
  assert_int_equal(cis_vfs_open_root(NULL, &root), EINVAL);
  cis_vfs_unmount(fs);
  cis_vfs_unmount(NULL);
  assert_int_equal(shim.destroyed, 6);
  assert_int_equal(cis__vfs_backend_calls(NULL), 0);
  cis__vfs_inject_fault(NULL, 0, 1, EIO);
  uint64_t b = 1, n = 1;
  cis_vfs_usage(NULL, &b, &n);
  assert_int_equal(b + n, 0);
  /* The error numbers' results. */
  assert_int_equal(cis_vfs_result(0), CIS_OK);
  assert_int_equal(cis_vfs_result(ENOENT), CIS_ENOTFOUND);
  assert_int_equal(cis_vfs_result(EEXIST), CIS_EEXIST);
  assert_int_equal(cis_vfs_result(EINVAL), CIS_EINVAL);
  assert_int_equal(cis_vfs_result(ENAMETOOLONG), CIS_EINVAL);
  assert_int_equal(cis_vfs_result(ENOSPC), CIS_EQUOTA);
  assert_int_equal(cis_vfs_result(ENOMEM), CIS_ENOMEM);
  assert_int_equal(cis_vfs_result(ENOTDIR), CIS_EVFS);
  assert_int_equal(cis_vfs_mem_new(NULL), CIS_EINVAL);
}

/* set_times_nofollow is read only from a version-2 table (a version-1
 * table ends before it); NULL or absent, a symlink's own times are
 * ENOTSUP, and everything else works as before. */
static void test_wrapper_set_times_nofollow_versions(void **state) {
  (void)state;
  T t;
  const uint64_t M = 1500000000987654321ull;
  memset(&shim, 0, sizeof shim);
  cis_vfs_methods v2 = shim_methods;
  v2.set_times_nofollow = sh_set_times_nofollow;
  cis_vfs_methods v1 = v2; /* a stray pointer past the end of a version-1 table */
  v1.version = 1;
  v1.lookup = (lookup_fn)(void (*)(void))sh_lookup_v3; /* as version 1 declared it */
  const cis_vfs_methods *tables[] = {&v2, &shim_methods, &v1};
  const int want[] = {0, ENOTSUP, ENOTSUP};
  for (int i = 0; i < 3; i++) {
    shim_nofollow_calls = 0;
    mount_on(&t, shim_new(tables[i]), NULL);
    puts_(t.root, "f", "x");
    assert_int_equal(cis_vfs_symlinkat(P("f"), t.root, P("l")), 0);
    assert_int_equal(cis_vfs_set_timesat(t.root, P("l"), CIS_VFS_MTIM, 0, M), want[i]);
    assert_int_equal(shim_nofollow_calls, i == 0 ? 1 : 0);
    if (want[i]) assert_non_null(strstr(cis_vfs_errmsg(t.fs), "itself cannot be set"));
    assert_int_equal(stat_of(t.root, "l", 0).mtim == M, want[i] == 0);
    assert_int_equal(cis_vfs_set_timesat(t.root, P("l"), CIS_VFS_FOLLOW | CIS_VFS_MTIM, 0, M), 0);
    assert_int_equal(stat_of(t.root, "f", 0).mtim, M);
    unmount(&t);
  }
}

/* lookup's flags say when openat's open creating the name follows it
 * (CIS_VFS_LOOKUP_CREATES), and only then; a version-3 table's lookup,
 * which takes no flags, is called as it was declared, and works. */
static void test_wrapper_lookup_flags(void **state) {
  (void)state;
  T t;
  cis_vfs_file *f = NULL;
  memset(&shim, 0, sizeof shim);
  mount_on(&t, shim_new(&shim_methods), NULL);
  puts_(t.root, "f", "x");
  assert_int_equal(cis_vfs_openat(t.root, P("new"), CIS_VFS_WRITE | CIS_VFS_CREAT, &f), 0);
  assert_int_equal(shim.lookup_flags, CIS_VFS_LOOKUP_CREATES);
  cis_vfs_close(f);
  shim.lookup_flags = 7;
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_READ | CIS_VFS_FOLLOW, &f), 0);
  assert_int_equal(shim.lookup_flags, 0);
  cis_vfs_close(f);
  shim.lookup_flags = 7;
  assert_int_equal(stat_of(t.root, "f", 0).size, 1);
  assert_int_equal(shim.lookup_flags, 0);
  unmount(&t);
  /* At the node quota an absent name is refused before any open. */
  cis_vfs_options o = {.max_files = 2};
  mount_on(&t, shim_new(&shim_methods), &o);
  puts_(t.root, "a", "a");
  puts_(t.root, "b", "b");
  shim.lookup_flags = 7;
  assert_int_equal(cis_vfs_openat(t.root, P("q"), CIS_VFS_WRITE | CIS_VFS_CREAT, &f), EDQUOT);
  assert_int_equal(shim.lookup_flags, 0);
  unmount(&t);

  cis_vfs_methods v3 = shim_methods;
  v3.version = 3;
  v3.lookup = (lookup_fn)(void (*)(void))sh_lookup_v3;
  mount_on(&t, shim_new(&v3), NULL);
  assert_int_equal(cis_vfs_openat(t.root, P("g"), CIS_VFS_WRITE | CIS_VFS_CREAT, &f), 0);
  cis_vfs_close(f);
  assert_int_equal(stat_of(t.root, "g", 0).size, 0);
  assert_int_equal(stat_err(t.root, "none", 0), ENOENT);
  assert_true(shim.lookups_v3 >= 3);
  unmount(&t);
}

static void test_wrapper_backend_misbehaves(void **state) {
  (void)state;
  T t;
  char buf[16];
  size_t k;
  cis_vfs_dirent ent;
  memset(&shim, 0, sizeof shim);
  mount_on(&t, shim_new(&shim_methods), NULL);
  puts_(t.root, "f", "data");
  assert_int_equal(cis_vfs_symlinkat(P("f"), t.root, P("l")), 0);
  cis_vfs_file *f = NULL;
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_READ | CIS_VFS_WRITE, &f), 0);

  shim.mode = SHIM_NEGATIVE;
  assert_int_equal(stat_err(t.root, "f", 0), EIO);
  assert_non_null(strstr(cis_vfs_errmsg(t.fs), "not an error number"));
  shim.mode = SHIM_NUL_TARGET;
  assert_int_equal(stat_err(t.root, "l", CIS_VFS_FOLLOW), EIO);
  assert_non_null(strstr(cis_vfs_errmsg(t.fs), "NUL"));
  shim.mode = SHIM_LONG_LINK;
  assert_int_equal(cis_vfs_readlinkat(t.root, P("l"), buf, sizeof buf, &k), EIO);
  shim.mode = SHIM_ERANGE_LINK;
  assert_int_equal(stat_err(t.root, "l", CIS_VFS_FOLLOW), ENAMETOOLONG);
  shim.mode = SHIM_BIG_COOKIE;
  assert_int_equal(cis_vfs_readdir(t.root, 2, &ent), EIO);
  assert_int_equal(cis_vfs_readdir(t.root, 0, &ent), 0); /* "." needs no backend */
  shim.mode = SHIM_SHORT_WRITE;
  assert_int_equal(cis_vfs_pwrite(f, "abcdefgh", 8, 0, &k), EIO);
  assert_int_equal(k, 0);
  shim.mode = SHIM_OVERREAD;
  assert_int_equal(cis_vfs_pread(f, buf, 4, 0, &k), EIO);
  shim.mode = SHIM_NO_NODE;
  cis_vfs_file *g1 = NULL;
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_READ, &g1), EIO);
  assert_int_equal(cis_vfs_open_root(t.fs, &g1), EIO);
  int closes = shim.closes;
  shim.mode = SHIM_FAIL_NODE;
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_READ, &g1), EIO);
  assert_int_equal(shim.closes, closes + 1); /* the stray node was closed */
  shim.mode = SHIM_OK;
  cis_vfs_close(f);
  assert_int_equal(cis_vfs_pread(NULL, buf, 1, 0, &k), EBADF);
  assert_int_equal(cis_vfs_pwrite(t.root, NULL, 1, 0, &k), EINVAL);
  assert_int_equal(cis_vfs_pwrite(t.root, "x", 1, 0, NULL), EINVAL);
  assert_int_equal(cis_vfs_readlinkat(t.root, P("l"), buf, sizeof buf, NULL), EINVAL);
  /* Quotas over a backend that is not built in, and a base reached by
   * "d/..". */
  unmount(&t);
  cis_vfs_backend *b = shim_new(&shim_methods);
  T u;
  cis_vfs_options o = {.max_bytes = 2, .max_files = 1};
  mount_on(&u, b, &o);
  assert_int_equal(cis_vfs_mkdirat(u.root, P("d")), 0);
  assert_int_equal(cis_vfs_mkdirat(u.root, P("e")), EDQUOT);
  cis_vfs_file *h = NULL;
  assert_int_equal(cis_vfs_openat(u.root, P("d/.."), CIS_VFS_READ, &h), 0);
  assert_int_equal(cis_vfs_rmdirat(h, P("d")), 0);
  cis_vfs_close(h);
  usage_is(&u, 0, 0);
  unmount(&u);
}

static void test_mem_limits(void **state) {
  (void)state;
  T t;
  mount_new(&t, NULL);
  cis_vfs_file *f = NULL;
  size_t k;
  assert_int_equal(cis_vfs_openat(t.root, P("f"), CIS_VFS_WRITE | CIS_VFS_CREAT, &f), 0);
  assert_int_equal(cis_vfs_pwrite(f, "x", 1, (uint64_t)1 << 40, &k), EFBIG);
  assert_int_equal(cis_vfs_ftruncate(f, (uint64_t)1 << 40), EFBIG);
  assert_non_null(strstr(cis_vfs_errmsg(t.fs), "memory backend"));
  /* Below the per-file limit but above what the backend may allocate in
   * all: refused, not zeroed page by page; the file keeps its content. */
  assert_int_equal(cis_vfs_pwrite(f, "abc", 3, 0, &k), 0);
  assert_int_equal(cis_vfs_ftruncate(f, (uint64_t)32 << 30), ENOSPC);
  assert_int_equal(cis_vfs_pwrite(f, "x", 1, (uint64_t)3 << 30, &k), ENOSPC);
  cis_vfs_file *g = NULL;
  assert_int_equal(cis_vfs_openat(t.root, P("g"), CIS_VFS_WRITE | CIS_VFS_CREAT, &g), 0);
  assert_int_equal(cis_vfs_ftruncate(g, (uint64_t)3 << 29), 0); /* 1.5 GiB fits */
  assert_int_equal(cis_vfs_ftruncate(f, (uint64_t)1 << 30), ENOSPC); /* 1.5 + 1 does not */
  assert_int_equal(cis_vfs_ftruncate(g, 0), 0);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("g")), 0);
  cis_vfs_close(g);
  cis_vfs_stat st;
  assert_int_equal(cis_vfs_fstat(f, &st), 0);
  assert_int_equal(st.size, 3);
  assert_int_equal(cis_vfs_ftruncate(f, (uint64_t)1 << 20), 0);
  cis_vfs_close(f);
  unmount(&t);
}

/* ------------------------------------------------------------ deep trees */

/* Makes "d" inside "d" inside ... below base, n levels at most, the way a
 * guest walking directory descriptors does: every call names one short
 * component relative to the directory made last, so no path is ever long.
 * Returns the levels made; *err is what stopped it (0 when all n were). */
static unsigned chain(cis_vfs_file *base, unsigned n, int *err) {
  cis_vfs_file *dir = base;
  unsigned k = 0;
  *err = 0;
  while (k < n) {
    cis_vfs_file *sub = NULL;
    if ((*err = cis_vfs_mkdirat(dir, P("d")))) break;
    if ((*err = cis_vfs_openat(dir, P("d"), CIS_VFS_READ | CIS_VFS_DIRECTORY, &sub))) break;
    if (dir != base) cis_vfs_close(dir);
    dir = sub;
    k++;
  }
  if (dir != base) cis_vfs_close(dir);
  return k;
}

/* Removes the chain base/d/d/... with a constant number of calls per
 * level (d/d moves up to t, d goes, t becomes d), so the removal of a deep
 * chain never names a long path either. */
static void unchain(cis_vfs_file *base) {
  for (unsigned k = 0; k < 10u * 1000 * 1000; k++) {
    int e = cis_vfs_renameat(base, P("d/d"), base, P("t"));
    if (e == ENOENT) break;
    assert_int_equal(e, 0);
    assert_int_equal(cis_vfs_rmdirat(base, P("d")), 0);
    assert_int_equal(cis_vfs_renameat(base, P("t"), base, P("d")), 0);
  }
  assert_int_equal(cis_vfs_rmdirat(base, P("d")), 0);
}

/* "d/d/.../d" with n components, then `tail` (NULL: nothing more). */
static char *chain_path(unsigned n, const char *tail) {
  size_t len = 2 * (size_t)n + (tail ? strlen(tail) : 0) + 1;
  char *p = malloc(len);
  assert_non_null(p);
  p[0] = '\0';
  for (unsigned k = 0; k < n; k++) strcat(p, k ? "/d" : "d");
  if (tail) strcat(p, n ? "/" : ""), strcat(p, tail);
  return p;
}

/* A directory deeper than the mount's max_depth cannot be made, however
 * it is named: with directory files one level at a time (a guest walking
 * descriptors), with a path, or by moving a directory there. The refusal
 * is ENAMETOOLONG (docs/wasi.md) and the mount works on and unmounts. */
static void test_deep_tree_stops_at_max_depth(void **state) {
  (void)state;
  T t;
  cis_vfs_options o = {.max_depth = 40};
  mount_new(&t, &o);
  int e = 0;
  assert_int_equal(chain(t.root, 1000, &e), 40);
  assert_int_equal(e, ENAMETOOLONG);
  assert_non_null(strstr(cis_vfs_errmsg(t.fs), "max_depth"));
  char *p = chain_path(40, "n");
  assert_int_equal(cis_vfs_mkdirat(t.root, p, strlen(p)), ENAMETOOLONG);
  puts_(t.root, p, "a file adds no level"); /* files may live at the deepest level */
  free(p);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("x")), 0);
  p = chain_path(40, "x");
  assert_int_equal(cis_vfs_renameat(t.root, P("x"), t.root, p, strlen(p)), ENAMETOOLONG);
  free(p);
  p = chain_path(39, "x");
  assert_int_equal(cis_vfs_renameat(t.root, P("x"), t.root, p, strlen(p)), 0);
  /* A base opened deep counts from the root, not from itself. */
  cis_vfs_file *deep = NULL;
  char *q = chain_path(39, NULL);
  assert_int_equal(cis_vfs_openat(t.root, q, strlen(q), CIS_VFS_READ | CIS_VFS_DIRECTORY, &deep), 0);
  assert_int_equal(cis_vfs_mkdirat(deep, P("y")), 0);
  assert_int_equal(cis_vfs_mkdirat(deep, P("y/z")), ENAMETOOLONG);
  assert_int_equal(cis_vfs_rmdirat(deep, P("y")), 0);
  assert_int_equal(cis_vfs_rmdirat(deep, P("x")), 0);
  cis_vfs_close(deep);
  free(q);
  free(p);
  unmount(&t);
  /* Unmounted with the chain in place: the storage frees it. */
}

/* Without max_depth the limit is CIS_VFS_DEFAULT_MAX_DEPTH. The wrappers
 * apply it alike for every backend, so the database backends (some 20,000
 * transactions, a minute or two on PostgreSQL) skip it; every backend runs
 * test_deep_tree_stops_at_max_depth. */
static void test_deep_tree_default_limit(void **state) {
  (void)state;
  if (g.kind == K_DB) skip();
  T t;
  mount_new(&t, NULL);
  int e = 0;
  assert_int_equal(chain(t.root, CIS_VFS_DEFAULT_MAX_DEPTH + 100, &e), CIS_VFS_DEFAULT_MAX_DEPTH);
  assert_int_equal(e, ENAMETOOLONG);
  unchain(t.root);
  usage_is(&t, 0, 0);
  unmount(&t);
}

/* Moving a subtree under another can stack trees past max_depth (only the
 * moved directory's own level is checked): nothing can be made down
 * there, and freeing, walking and unmounting such a tree still work. */
static void test_deep_tree_stacked_by_rename(void **state) {
  (void)state;
  T t;
  cis_vfs_options o = {.max_depth = 8};
  mount_new(&t, &o);
  cis_vfs_file *x = NULL, *y = NULL;
  int e = 0;
  assert_int_equal(cis_vfs_mkdirat(t.root, P("x")), 0);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("y")), 0);
  assert_int_equal(cis_vfs_openat(t.root, P("x"), CIS_VFS_READ | CIS_VFS_DIRECTORY, &x), 0);
  assert_int_equal(cis_vfs_openat(t.root, P("y"), CIS_VFS_READ | CIS_VFS_DIRECTORY, &y), 0);
  assert_int_equal(chain(x, 100, &e), 7);
  assert_int_equal(chain(y, 100, &e), 7);
  cis_vfs_close(x);
  cis_vfs_close(y);
  char *p = chain_path(6, "y");
  char *full = malloc(strlen(p) + 3);
  assert_non_null(full);
  snprintf(full, strlen(p) + 3, "x/%s", p);
  assert_int_equal(cis_vfs_renameat(t.root, P("y"), t.root, full, strlen(full)), 0);
  free(p);
  /* x/d^6/y/d^7: 15 levels, more than 8. */
  char *deepest = chain_path(7, NULL);
  size_t n = strlen(full) + strlen(deepest) + 8;
  char *q = malloc(n);
  assert_non_null(q);
  snprintf(q, n, "%s/%s", full, deepest);
  cis_vfs_stat st = stat_of(t.root, q, 0);
  assert_int_equal(st.type, CIS_VFS_DIR);
  snprintf(q, n, "%s/%s/z", full, deepest);
  assert_int_equal(cis_vfs_mkdirat(t.root, q, strlen(q)), ENAMETOOLONG);
  free(q);
  free(deepest);
  free(full);
  unmount(&t);
}

/* A tree far deeper than a C stack could recurse through (300,000
 * levels, the limit lifted) is freed by the unmount without recursion. */
static void test_mem_frees_deep_tree_iteratively(void **state) {
  (void)state;
  T t;
  cis_vfs_options o = {.max_depth = UINT32_MAX};
  mount_new(&t, &o);
  int e = 0;
  assert_int_equal(chain(t.root, 300000, &e), 300000);
  assert_int_equal(e, 0);
  unmount(&t);
}

/* ---------------------------------------------------------------- main */

static int read_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
  buf[n] = '\0';
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s mem | host WORKDIR | db-sqlite WORKDIR | db-postgres CONNSTR_FILE"
                    " [nolinks]\n", argv[0]);
    return 2;
  }
  g.mode = argv[1];
  g.links = !(argc > 2 && strcmp(argv[argc - 1], "nolinks") == 0);
  snprintf(g.run, sizeof g.run, "vfs%ld-%ld", (long)getpid(), (long)time(NULL) % 100000);
  if (strcmp(g.mode, "mem") == 0) {
    g.kind = K_MEM;
  } else if (strcmp(g.mode, "host") == 0 || strcmp(g.mode, "db-sqlite") == 0) {
    if (argc < 3) return fprintf(stderr, "%s needs WORKDIR\n", g.mode), 2;
    snprintf(g.workdir, sizeof g.workdir, "%s", argv[2]);
    mkdir(g.workdir, 0755);
    if (strcmp(g.mode, "host") == 0) {
      g.kind = K_HOST;
      snprintf(g.workdir, sizeof g.workdir, "%s/%s", argv[2], g.run);
      if (mkdir(g.workdir, 0755) != 0) return perror(g.workdir), 2;
    } else {
      g.kind = K_DB;
      snprintf(g.spec, sizeof g.spec, "sqlite:%s/x.db", g.workdir);
    }
  } else if (strcmp(g.mode, "db-postgres") == 0) {
    char conn[3000];
    if (argc < 3 || read_file(argv[2], conn, sizeof conn) != 0) {
      fprintf(stderr, "db-postgres: cannot read the connection string file %s\n",
              argc < 3 ? "(none)" : argv[2]);
      return 1; /* loudly: a database mode is never skipped */
    }
    g.kind = K_DB;
    snprintf(g.spec, sizeof g.spec, "postgres:%s", conn);
  } else {
    fprintf(stderr, "unknown mode %s\n", g.mode);
    return 2;
  }

  const struct CMUnitTest common[] = {
      cmocka_unit_test(test_create_read_write),
      cmocka_unit_test(test_truncate),
      cmocka_unit_test(test_stat_and_types),
      cmocka_unit_test(test_times),
      cmocka_unit_test(test_symlink_own_times),
      cmocka_unit_test(test_trailing_slash_makes),
      cmocka_unit_test(test_readlink_trailing_slash),
      cmocka_unit_test(test_rename),
      cmocka_unit_test(test_mkdir_rmdir_unlink),
      cmocka_unit_test(test_open_flags),
      cmocka_unit_test(test_readdir_cookies),
      cmocka_unit_test(test_symlinks),
      cmocka_unit_test(test_symlink_create_through),
      cmocka_unit_test(test_hard_links),
      cmocka_unit_test(test_hostile_paths),
      cmocka_unit_test(test_read_only),
      cmocka_unit_test(test_quota_bytes),
      cmocka_unit_test(test_quota_files),
      cmocka_unit_test(test_open_unlinked_file),
      cmocka_unit_test(test_fault_injection),
      cmocka_unit_test(test_big_file),
      cmocka_unit_test(test_cross_mount),
      cmocka_unit_test(test_unmount_with_open_files),
      cmocka_unit_test(test_deep_tree_stops_at_max_depth),
      cmocka_unit_test(test_deep_tree_default_limit),
      cmocka_unit_test(test_deep_tree_stacked_by_rename),
  };
  const struct CMUnitTest wrapper[] = {
      cmocka_unit_test(test_wrapper_mount_checks),
      cmocka_unit_test(test_wrapper_backend_misbehaves),
      cmocka_unit_test(test_wrapper_set_times_nofollow_versions),
      cmocka_unit_test(test_wrapper_lookup_flags),
      cmocka_unit_test(test_mem_limits),
      cmocka_unit_test(test_mem_frees_deep_tree_iteratively),
  };
  int fds = count_fds();
  int failed = cmocka_run_group_tests_name(g.mode, common, NULL, NULL);
  if (g.kind == K_MEM) failed += cmocka_run_group_tests_name("wrapper", wrapper, NULL, NULL);
  if (count_fds() != fds) {
    fprintf(stderr, "descriptors leaked: %d before the cases, %d after\n", fds, count_fds());
    failed++;
  }
  if (g.kind == K_HOST && failed == 0) rm_rf(g.workdir);
  return failed ? 1 : 0;
}
