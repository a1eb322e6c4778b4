/*
 * This file implements the tests of the SQLite backend's extent file
 * (src/vfs/vfs_db_sqlite_ext.c): large blocks kept in PATH-ext with a
 * reference in their row, small ones in the row; freed extents on the
 * free list and their disk space given back, reused by later
 * transactions; a rolled-back scope or a rollback to a snapshot leaving
 * the data as it was; a damaged, truncated or malformed extent read as
 * EIO, never as wrong bytes; a symlink planted as the extent file never
 * followed; SIGKILL in the middle of large writes leaving a whole
 * version.
 *
 *   test_vfs_db_sqlite_ext WORKDIR
 *
 * The test reads the database itself with a plain SQLite connection (which
 * rows hold references, what the free list holds). It injects faults of
 * its own: SQLite's allocator failing once at the k-th allocation, and
 * fdatasync and fsync failing (this executable's definitions, which
 * libcis's calls bind to ahead of the C library's).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cis/cis_vfs.h"
#include "vfs/vfs_internal.h"
#include "vfsdb_mnt.h"
#include "vfsdb_owner.h"

#define BLOCK 65536u        /* the default block, the extent file's threshold */
#define BIG (16u * BLOCK)   /* 1 MiB: 16 extents */

static struct {
  char dir[1024];  /* WORKDIR */
  char path[1100]; /* the current case's database file */
  char ext[1110];  /* its extent file */
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
  snprintf(g.ext, sizeof g.ext, "%s-ext", g.path);
  snprintf(g.spec, sizeof g.spec, "sqlite:%s", g.path);
  sqlite_files_remove(g.path);
}

static void mnt_open(mnt *m) { mnt_tenant(m, g.spec, "t"); }

/* n bytes of a pattern of its own for each seed. */
static uint8_t *pattern(size_t n, unsigned seed) {
  uint8_t *p = malloc(n);
  assert_non_null(p);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (uint8_t)(x >> 16);
  }
  return p;
}

/* A plain SQLite connection to the case's file. */
static sqlite3 *plain(void) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(g.path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 20000);
  return db;
}

/* One integer a query of the case's database gives. */
static int64_t q1(const char *sql) {
  sqlite3 *db = plain();
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  assert_int_equal(sqlite3_step(s), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

static void sql(const char *text) {
  sqlite3 *db = plain();
  char *msg = NULL;
  if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", text, msg);
  sqlite3_close(db);
}

static int64_t refs(void) {
  return q1("SELECT count(*) FROM cis_vfs_blocks WHERE typeof(data)='text'");
}
static int64_t free_extents(void) { return q1("SELECT count(*) FROM cis_vfs_ext_free"); }

/* The extent file's size and the disk it takes. */
static void ext_stat(off_t *size, off_t *disk) {
  struct stat st;
  assert_int_equal(stat(g.ext, &st), 0);
  *size = st.st_size;
  *disk = (off_t)st.st_blocks * 512;
}

/* A read of path into a buffer of len + 1: the error, *n the bytes. */
static int read_try(mnt *m, const char *path, uint8_t *buf, size_t len, size_t *n) {
  cis_vfs_file *f = NULL;
  int e = cis_vfs_openat(m->root, path, strlen(path), CIS_VFS_READ, &f);
  if (e) return e;
  e = cis_vfs_pread(f, buf, len + 1, 0, n);
  cis_vfs_close(f);
  return e;
}

/* ---------------------------------------------------------------- faults */

/* SQLite's allocator with one failure: when mem_left is k >= 0, the k-th
 * allocation from now fails (mem_hit says it happened) and the rest go
 * through. */
static sqlite3_mem_methods mem_real;
static atomic_int mem_left = -1;
static atomic_int mem_hit;

static bool mem_fault(void) {
  int left = atomic_load(&mem_left);
  while (left >= 0) {
    if (atomic_compare_exchange_weak(&mem_left, &left, left - 1)) {
      if (left > 0) return false;
      atomic_store(&mem_hit, 1);
      return true;
    }
  }
  return false;
}

static void *mem_malloc(int n) { return mem_fault() ? NULL : mem_real.xMalloc(n); }
static void *mem_realloc(void *p, int n) { return mem_fault() ? NULL : mem_real.xRealloc(p, n); }

/* Before SQLite starts (main): its allocator, with the fault. */
static void mem_install(void) {
  static sqlite3_mem_methods m;
  if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &mem_real) != SQLITE_OK) abort();
  m = mem_real;
  m.xMalloc = mem_malloc;
  m.xRealloc = mem_realloc;
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &m) != SQLITE_OK) abort();
}

/* fdatasync of the case's extent file (SYNC_EXT) and fsync of a
 * directory (SYNC_DIR) fail with EIO while their bit is set. */
#define SYNC_EXT 1
#define SYNC_DIR 2
static atomic_int sync_fail;
static atomic_int sync_failed; /* calls failed so */

static bool is_ext_file(int fd) {
  char link[64], to[1200];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, to, sizeof to - 1);
  if (n <= 0) return false;
  to[n] = '\0';
  return strcmp(to, g.ext) == 0;
}

static bool is_dir(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  if ((atomic_load(&sync_fail) & SYNC_EXT) && is_ext_file(fd)) {
    atomic_fetch_add(&sync_failed, 1);
    errno = EIO;
    return -1;
  }
  return real(fd);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  if ((atomic_load(&sync_fail) & SYNC_DIR) && is_dir(fd)) {
    atomic_fetch_add(&sync_failed, 1);
    errno = EIO;
    return -1;
  }
  return real(fd);
}

/* pread of the extent file runs pread_hook first while it is set (not
 * within the hook itself). */
static void (*_Atomic pread_hook)(void);
static _Thread_local bool in_pread_hook;

ssize_t pread(int fd, void *buf, size_t n, off_t off) {
  static ssize_t (*real)(int, void *, size_t, off_t);
  if (!real) real = (ssize_t(*)(int, void *, size_t, off_t))dlsym(RTLD_NEXT, "pread");
  void (*hook)(void) = atomic_load(&pread_hook);
  if (hook && !in_pread_hook && is_ext_file(fd)) {
    in_pread_hook = true;
    hook();
    in_pread_hook = false;
  }
  return real(fd, buf, n, off);
}

/* The checkpointers' figures (libcis.a carries them). */
uint64_t cis__vdb_sqlite_ckpt_runs(void);
void cis__vdb_sqlite_ckpt_settle(void);

/* Full blocks go to the extent file, a short last block and small files
 * stay in their rows; the database itself holds none of the large data. */
static void test_sqlite_large_blocks_live_in_the_extent_file(void **state) {
  (void)state;
  fresh("where");
  mnt m;
  mnt_open(&m);
  uint8_t *big = pattern(BIG + 100, 1);
  put(&m, "big", big, BIG + 100);
  put_str(&m, "small", "four bytes? no, more");
  expect(&m, "big", big, BIG + 100);
  expect_str(&m, "small", "four bytes? no, more");
  assert_int_equal(refs(), 16);
  assert_int_equal(q1("SELECT count(*) FROM cis_vfs_blocks WHERE typeof(data)='blob'"), 2);
  assert_int_equal(q1("PRAGMA page_size"), 1024); /* a new file's */
  off_t size, disk;
  ext_stat(&size, &disk);
  assert_int_equal(size, BIG);
  struct stat st;
  assert_int_equal(stat(g.path, &st), 0);
  char wal[1200];
  snprintf(wal, sizeof wal, "%s-wal", g.path);
  struct stat sw = {0};
  stat(wal, &sw);
  if (st.st_size + sw.st_size >= (off_t)BIG / 2)
    fail_msg("the database and its log hold %lld bytes for a 1 MiB file in extents",
             (long long)(st.st_size + sw.st_size));
  /* Reads that start and end inside blocks, across extents. */
  cis_vfs_file *f = NULL;
  OK(cis_vfs_openat(m.root, "big", 3, CIS_VFS_READ, &f));
  uint8_t part[3 * BLOCK];
  size_t n = 0;
  OK(cis_vfs_pread(f, part, sizeof part, BLOCK / 2 + 7, &n));
  assert_int_equal(n, sizeof part);
  assert_memory_equal(part, big + BLOCK / 2 + 7, sizeof part);
  OK(cis_vfs_pread(f, part, sizeof part, BIG - BLOCK, &n));
  assert_int_equal(n, BLOCK + 100);
  assert_memory_equal(part, big + BIG - BLOCK, n);
  cis_vfs_close(f);
  mnt_unmount(&m);
  /* Another mount (a new connection) reads the same. */
  mnt_open(&m);
  expect(&m, "big", big, BIG + 100);
  mnt_unmount(&m);
  free(big);
}

/* A rewrite frees the old extents in its commit and gives their disk
 * space back; the next rewrite reuses them, so the file does not grow. */
static void test_sqlite_rewrite_frees_and_reuses_extents(void **state) {
  (void)state;
  fresh("reuse");
  mnt m;
  mnt_open(&m);
  uint8_t *v[4];
  for (unsigned i = 0; i < 4; i++) v[i] = pattern(BIG, 10 + i);
  put(&m, "f", v[0], BIG);
  assert_int_equal(free_extents(), 0);
  put(&m, "f", v[1], BIG); /* a new commit: its extents cannot be the ones it frees */
  expect(&m, "f", v[1], BIG);
  assert_int_equal(free_extents(), 16);
  off_t size1, disk1;
  ext_stat(&size1, &disk1);
  assert_int_equal(size1, 2 * BIG);
  if (disk1 < (off_t)(2 * BIG))
    fail_msg("the freed extents were punched before the mount's next write (%lld bytes)",
             (long long)disk1);
  put_str(&m, "tick", "t"); /* the next write transaction punches them */
  ext_stat(&size1, &disk1);
  if (disk1 > (off_t)BIG + 64 * 1024)
    fail_msg("the extent file takes %lld bytes of disk for 1 MiB live", (long long)disk1);
  for (unsigned i = 2; i < 4; i++) {
    put(&m, "f", v[i], BIG);
    expect(&m, "f", v[i], BIG);
    off_t size, disk;
    ext_stat(&size, &disk);
    assert_int_equal(size, size1); /* reused, not appended */
    assert_int_equal(free_extents(), 16);
  }
  /* Unlinking gives the space back: here as the mount closes, which no
   * later write of its follows. */
  OK(cis_vfs_unlinkat(m.root, "f", 1));
  assert_int_equal(refs(), 0);
  assert_int_equal(free_extents(), 32);
  mnt_unmount(&m);
  off_t size, disk;
  ext_stat(&size, &disk);
  if (disk > 64 * 1024) fail_msg("%lld bytes of disk after the unlink", (long long)disk);
  for (unsigned i = 0; i < 4; i++) free(v[i]);
}

/* A scope rolled back: the file it overwrote reads as before, the one it
 * made is gone, nothing was freed, and what it appended is given back. */
static void test_sqlite_rolled_back_scope_leaves_extents_as_they_were(void **state) {
  (void)state;
  fresh("scope");
  mnt m;
  mnt_open(&m);
  uint8_t *a = pattern(BIG, 20), *b = pattern(BIG, 21);
  put(&m, "kept", a, BIG);
  off_t size0, disk0;
  ext_stat(&size0, &disk0);
  OK(cis_vfs_scope_begin(m.fs));
  put(&m, "kept", b, BIG);
  put(&m, "new", b, BIG);
  expect(&m, "kept", b, BIG); /* read your writes, from the extent file */
  expect(&m, "new", b, BIG);
  OK(cis_vfs_scope_end(m.fs, false));
  expect(&m, "kept", a, BIG);
  cis_vfs_stat st;
  assert_int_equal(stat_of(&m, "new", &st), ENOENT);
  assert_int_equal(free_extents(), 0);
  assert_int_equal(refs(), 16);
  off_t size, disk;
  ext_stat(&size, &disk);
  if (disk > disk0 + 64 * 1024)
    fail_msg("the rolled-back scope left %lld bytes of disk", (long long)(disk - disk0));
  /* The same scope committed lands whole. */
  OK(cis_vfs_scope_begin(m.fs));
  put(&m, "kept", b, BIG);
  OK(cis_vfs_scope_end(m.fs, true));
  expect(&m, "kept", b, BIG);
  mnt_unmount(&m);
  free(a);
  free(b);
}

/* A snapshot keeps the lower layer's extents: the overwrite above it
 * frees nothing, a rollback frees the top's and reads the old data,
 * deleting the tenant frees the rest. */
static void test_sqlite_layers_keep_their_extents(void **state) {
  (void)state;
  fresh("layers");
  mnt m;
  mnt_open(&m);
  uint8_t *a = pattern(BIG, 30), *b = pattern(BIG, 31);
  put(&m, "f", a, BIG);
  uint64_t snap = 0;
  OK(cis_vfs_db_snapshot(m.fs, "v1", &snap));
  put(&m, "f", b, BIG);
  assert_int_equal(free_extents(), 0); /* the lower layer still names them */
  assert_int_equal(refs(), 32);
  expect(&m, "f", b, BIG);
  cis_vfs_close(m.root); /* a rollback wants no file of the mount open */
  m.root = NULL;
  OK(cis_vfs_db_rollback(m.fs, snap, 0));
  OK(cis_vfs_open_root(m.fs, &m.root));
  expect(&m, "f", a, BIG);
  assert_int_equal(free_extents(), 16);
  mnt_unmount(&m);
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = g.spec;
  cfg.tenant = "t";
  OK(cis_vfs_db_tenant_delete(&cfg));
  assert_int_equal(refs(), 0);
  assert_int_equal(free_extents(), 32);
  free(a);
  free(b);
}

/* A compaction that drops a lower layer's rows frees their extents and
 * counts their bytes, not the references'. */
static void test_sqlite_compaction_frees_hidden_extents(void **state) {
  (void)state;
  fresh("compact");
  mnt m;
  mnt_open(&m);
  uint8_t *a = pattern(BIG, 35), *b = pattern(BIG, 36);
  put(&m, "f", a, BIG);
  OK(cis_vfs_db_snapshot(m.fs, "v1", NULL));
  put(&m, "f", b, BIG);
  cis_vfs_layer *ls = NULL;
  size_t n = 0;
  OK(cis_vfs_db_layers(m.fs, &ls, &n));
  assert_true(n >= 2);
  uint64_t top = ls[n - 1].id;
  free(ls);
  cis_vfs_close(m.root); /* a compaction wants no file of the mount open */
  m.root = NULL;
  cis_vfs_compact_stats st;
  OK(cis_vfs_db_compact(m.fs, top, &st));
  assert_int_equal(st.data_bytes, BIG);
  assert_int_equal(free_extents(), 16);
  assert_int_equal(refs(), 16);
  OK(cis_vfs_open_root(m.fs, &m.root));
  expect(&m, "f", b, BIG);
  mnt_unmount(&m);
  free(a);
  free(b);
}

/* A compaction gives back the extent file's dead space: what a writer
 * killed inside its transaction appended, what a tool's deletions left
 * (the sqlite3 shell frees nothing). Live extents stay. */
static void test_sqlite_compaction_reclaims_dead_space(void **state) {
  (void)state;
  fresh("reclaim");
  mnt m;
  mnt_open(&m);
  uint8_t *a = pattern(BIG, 37), *b = pattern(BIG, 38);
  put(&m, "keep", a, BIG);
  put(&m, "lost", b, BIG);
  cis_vfs_stat st;
  OK(stat_of(&m, "lost", &st));
  char q[200];
  snprintf(q, sizeof q, "DELETE FROM cis_vfs_blocks WHERE ino=%llu", (unsigned long long)st.ino);
  sql(q); /* a tool's deletion: its extents are no row's and on no list */
  off_t size, disk;
  ext_stat(&size, &disk);
  int fd = open(g.ext, O_WRONLY);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, b, 4 * BLOCK, size), (ssize_t)(4 * BLOCK)); /* a killed writer's */
  close(fd);
  off_t size1, disk1;
  ext_stat(&size1, &disk1);
  if (disk1 < (off_t)(2 * BIG + 4 * BLOCK) - 64 * 1024)
    fail_msg("the dead space takes %lld bytes of disk before", (long long)disk1);
  cis_vfs_close(m.root); /* a compaction wants no file of the mount open */
  m.root = NULL;
  OK(cis_vfs_db_compact(m.fs, 0, NULL));
  OK(cis_vfs_open_root(m.fs, &m.root));
  off_t size2, disk2;
  ext_stat(&size2, &disk2);
  if (disk2 > (off_t)BIG + 64 * 1024)
    fail_msg("%lld bytes of disk after the compaction, for 1 MiB live", (long long)disk2);
  assert_int_equal(size2, size1); /* offsets are not handed out twice */
  expect(&m, "keep", a, BIG);
  put(&m, "new", b, BIG); /* appended past the dead space */
  expect(&m, "new", b, BIG);
  expect(&m, "keep", a, BIG);
  mnt_unmount(&m);
  free(a);
  free(b);
}

/* Damage is EIO with a message, never wrong bytes: a byte flipped in an
 * extent (outside a transaction, after reading it again; inside a scope,
 * at once), the extent file cut short, a malformed reference. */
static void test_sqlite_damaged_extent_reads_as_eio(void **state) {
  (void)state;
  fresh("damage");
  mnt m;
  mnt_open(&m);
  uint8_t *a = pattern(BIG, 40);
  put(&m, "f", a, BIG);
  uint8_t *back = malloc(BIG + 1);
  assert_non_null(back);
  size_t n = 0;
  int fd = open(g.ext, O_RDWR);
  assert_true(fd >= 0);
  uint8_t byte;
  assert_int_equal(pread(fd, &byte, 1, BLOCK + 5), 1);
  byte ^= 0x40;
  assert_int_equal(pwrite(fd, &byte, 1, BLOCK + 5), 1);
  assert_int_equal(read_try(&m, "f", back, BIG, &n), EIO);
  assert_non_null(strstr(cis_vfs_errmsg(m.fs), "damaged"));
  OK(cis_vfs_scope_begin(m.fs));
  put_str(&m, "g", "x"); /* the scope's write transaction is open */
  assert_int_equal(read_try(&m, "f", back, BIG, &n), EIO);
  cis_vfs_scope_end(m.fs, false);
  byte ^= 0x40; /* repaired: reads again */
  assert_int_equal(pwrite(fd, &byte, 1, BLOCK + 5), 1);
  expect(&m, "f", a, BIG);
  assert_int_equal(ftruncate(fd, BLOCK * 3), 0);
  assert_int_equal(read_try(&m, "f", back, BIG, &n), EIO);
  assert_non_null(strstr(cis_vfs_errmsg(m.fs), "past the extent file's end"));
  close(fd);
  mnt_unmount(&m);
  /* References that are not ones: wrong length, a letter in a number, a
   * length past the size, an offset not on a page. */
  static const char *const bad[] = {
      "garbage",
      "000000000000000000x 0000065536 0000065536 0123456789abcdef",
      "0000000000000000000 0000065536 0000065537 0123456789abcdef",
      "0000000000000000001 0000065536 0000065536 0123456789abcdef",
      "9223372036854775807 0000065536 0000065536 0123456789abcdef",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char q[300];
    snprintf(q, sizeof q, "UPDATE cis_vfs_blocks SET data='%s' WHERE blk=2 AND typeof(data)='text'",
             bad[i]);
    sql(q);
    mnt_open(&m);
    assert_int_equal(read_try(&m, "f", back, BIG, &n), EIO);
    mnt_unmount(&m);
  }
  free(back);
  free(a);
}

/* A symlink planted where the extent file goes is never followed: the
 * blocks stay in the rows and the link's target is not written. */
static void test_sqlite_extent_file_symlink_is_not_followed(void **state) {
  (void)state;
  fresh("symlink");
  char target[1200];
  snprintf(target, sizeof target, "%s/symlink-target", g.dir);
  unlink(target);
  int fd = open(target, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(symlink(target, g.ext), 0);
  mnt m;
  mnt_open(&m);
  uint8_t *a = pattern(BIG, 50);
  put(&m, "f", a, BIG);
  expect(&m, "f", a, BIG);
  assert_int_equal(refs(), 0);
  struct stat st;
  assert_int_equal(stat(target, &st), 0);
  assert_int_equal(st.st_size, 0);
  mnt_unmount(&m);
  unlink(g.ext);
  free(a);
}

/* A file made before the extent file (4 KiB pages, no free list) keeps
 * its pages, gets the free list, and its large blocks go to extents. */
static void test_sqlite_older_file_is_brought_up_to_date(void **state) {
  (void)state;
  fresh("older");
  sql("PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE other(a)");
  mnt m;
  mnt_open(&m);
  put_str(&m, "small", "x");
  mnt_unmount(&m);
  /* As a file of an older cis, which recorded no schema version. */
  sql("DROP TABLE cis_vfs_ext_free; DELETE FROM cis_schema WHERE service='vfs'");
  mnt_open(&m);
  uint8_t *a = pattern(BIG, 70), *b = pattern(BIG, 71);
  put(&m, "f", a, BIG);
  put(&m, "f", b, BIG);
  expect(&m, "f", b, BIG);
  expect_str(&m, "small", "x");
  assert_int_equal(refs(), 16);
  assert_int_equal(free_extents(), 16);
  assert_int_equal(q1("PRAGMA page_size"), 4096);
  mnt_unmount(&m);
  free(a);
  free(b);
}

/* An extent file that cannot grow (a file size limit: EFBIG, as a full
 * disk would be ENOSPC) fails the write whole, typed, and the file keeps
 * what it held. In a child: the limit holds for the process. */
static void test_sqlite_extent_file_that_cannot_grow_fails_the_write(void **state) {
  (void)state;
  fresh("nogrow");
  mnt m;
  mnt_open(&m);
  uint8_t *a = pattern(4 * BIG, 80), *b = pattern(4 * BIG, 81);
  put(&m, "f", a, 4 * BIG);
  mnt_unmount(&m);
  off_t size, disk;
  ext_stat(&size, &disk);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {(rlim_t)size, (rlim_t)size};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(10);
    mnt c;
    mnt_open(&c);
    int e = put_try(&c, "f", b, 4 * BIG);
    /* The database's own limit: CIS_VFS_EDOWN, "cannot write its file". */
    if (e != CIS_VFS_EDOWN) _exit(11);
    if (!strstr(cis_vfs_errmsg(c.fs), "extent file")) _exit(12);
    mnt_unmount(&c);
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("the child ended with status %#x", st);
  mnt_open(&m);
  expect(&m, "f", a, 4 * BIG);
  assert_int_equal(free_extents(), 0);
  put(&m, "f", b, 4 * BIG); /* without the limit it goes through */
  expect(&m, "f", b, 4 * BIG);
  mnt_unmount(&m);
  free(a);
  free(b);
}

/* A scope joined to a transaction the test holds (as a skill call's is
 * to its KV store's): it reads the extents, writes its blocks into the
 * rows, frees the extents it replaced with the holder's commit, and
 * frees nothing when the holder rolls back; others then reuse them. */
static void test_sqlite_joined_scope_reads_and_frees_extents(void **state) {
  (void)state;
  fresh("join");
  mnt m;
  mnt_open(&m);
  uint8_t *a = pattern(BIG, 90), *b = pattern(BIG, 91), *c = pattern(BIG, 92);
  put(&m, "f", a, BIG);
  off_t size0, disk0;
  ext_stat(&size0, &disk0);
  cis__db_conn *oc = vfsdb_owner_connect(g.spec);
  assert_non_null(oc);
  sqlite3 *owner = cis__db_conn_sqlite(oc);
  cis__db_conn_arm(oc, cis__now_ns() + 20000000000ull); /* its lock waits */
  for (int commit = 0; commit < 2; commit++) {
    mnt j;
    mnt_open(&j);
    assert_int_equal(sqlite3_exec(owner, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    vfsdb_owner o;
    assert_true(vfsdb_owner_offer(&o, oc, g.spec));
    OK(cis_vfs_scope_begin(j.fs));
    OK(cis__vfs_db_join(j.fs, o.txn));
    expect(&j, "f", a, BIG); /* through the borrowed connection */
    put(&j, "f", b, BIG);
    expect(&j, "f", b, BIG);
    OK(cis_vfs_scope_end(j.fs, true));
    vfsdb_owner_end(&o);
    assert_int_equal(sqlite3_exec(owner, commit ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL),
                     SQLITE_OK);
    mnt_unmount(&j);
    if (!commit) {
      expect(&m, "f", a, BIG);
      assert_int_equal(refs(), 16);
      assert_int_equal(free_extents(), 0);
    }
  }
  expect(&m, "f", b, BIG);
  assert_int_equal(refs(), 0);          /* the joined write kept its blocks in the rows */
  assert_int_equal(free_extents(), 16); /* and freed the extents it replaced */
  put(&m, "f", c, BIG);                 /* which the next writer reuses */
  expect(&m, "f", c, BIG);
  off_t size, disk;
  ext_stat(&size, &disk);
  assert_int_equal(size, size0);
  assert_int_equal(free_extents(), 0);
  cis__db_conn_close(oc);
  mnt_unmount(&m);
  free(a);
  free(b);
  free(c);
}

/* Under synchronous=FULL a commit syncs the extent file (and once its
 * directory's entry) first: the blocks land, a second mount reads them. */
static void test_sqlite_full_sync_commits_extents(void **state) {
  (void)state;
  fresh("full");
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = g.spec;
  cfg.tenant = "t";
  cfg.sync = CIS_VFS_DB_SYNC_FULL;
  mnt m;
  if (mnt_mount(&m, &cfg, NULL) != CIS_OK) fail_msg("mount: %s", m.why);
  uint8_t *a = pattern(BIG, 95), *b = pattern(BIG, 96);
  put(&m, "f", a, BIG);
  put(&m, "f", b, BIG);
  expect(&m, "f", b, BIG);
  assert_int_equal(refs(), 16);
  mnt_unmount(&m);
  mnt_open(&m);
  expect(&m, "f", b, BIG);
  mnt_unmount(&m);
  free(a);
  free(b);
}

/* The writer of the kill test: versions of "f" written over and over, a
 * byte to fd after the first. */
static void kill_writer(int fd, void *arg) {
  (void)arg;
  mnt m;
  mnt_open(&m);
  for (unsigned k = 1; k < 100000; k++) {
    uint8_t *v = pattern(BIG / 2, k % 8);
    put(&m, "f", v, BIG / 2);
    free(v);
    if (k == 1 && write(fd, "x", 1) != 1) _exit(3);
  }
  _exit(0);
}

/* SIGKILL at random points of large writes: the file is one whole
 * version, and the next writer's extents do not overwrite it. */
static void test_sqlite_kill_during_large_writes_leaves_a_whole_version(void **state) {
  (void)state;
  fresh("kill");
  srand((unsigned)time(NULL));
  uint8_t *v[8];
  for (unsigned i = 0; i < 8; i++) v[i] = pattern(BIG / 2, i);
  uint8_t *back = malloc(BIG + 1);
  assert_non_null(back);
  for (int round = 0; round < 6; round++) {
    pid_t pid = vfsdb_spawn_writer(kill_writer, NULL);
    struct timespec ts = {0, (long)(rand() % 40) * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    mnt m;
    mnt_open(&m);
    size_t n = 0;
    OK(read_try(&m, "f", back, BIG, &n));
    assert_int_equal(n, BIG / 2);
    int which = -1;
    for (int i = 0; i < 8; i++)
      if (memcmp(back, v[i], BIG / 2) == 0) which = i;
    if (which < 0) fail_msg("round %d: the file is no version written", round);
    /* The next writer's extents leave it whole until its commit. */
    put(&m, "g", v[(which + 1) % 8], BIG / 2);
    expect(&m, "f", v[which], BIG / 2);
    OK(cis_vfs_unlinkat(m.root, "g", 1));
    mnt_unmount(&m);
  }
  free(back);
  for (unsigned i = 0; i < 8; i++) free(v[i]);
}

/* The race of a reader against a writer that keeps rewriting (and so
 * reusing the extents of versions the reader's snapshot may still name). */
#define RACE_SIZE (2u * BIG) /* two read batches: one read transaction */
#define RACE_VERSIONS 4
static struct {
  uint8_t *v[RACE_VERSIONS];
  atomic_int stop;
  atomic_int rewrites;
} race;

static void *race_writer(void *arg) {
  (void)arg;
  mnt m;
  mnt_open(&m);
  for (int k = 1; !atomic_load(&race.stop) && k < 100000; k++) {
    put(&m, "f", race.v[k % RACE_VERSIONS], RACE_SIZE);
    atomic_fetch_add(&race.rewrites, 1);
  }
  mnt_unmount(&m);
  return NULL;
}

/* Every read gives one whole version while the writer reuses extents
 * under it: a block that moved is read again, never returned wrong, and
 * never reported as damage. */
static void test_sqlite_reader_racing_a_rewriter_reads_whole_versions(void **state) {
  (void)state;
  fresh("race");
  for (int i = 0; i < RACE_VERSIONS; i++) race.v[i] = pattern(RACE_SIZE, 60 + (unsigned)i);
  atomic_store(&race.stop, 0);
  atomic_store(&race.rewrites, 0);
  mnt m;
  mnt_open(&m);
  put(&m, "f", race.v[0], RACE_SIZE);
  pthread_t w;
  assert_int_equal(pthread_create(&w, NULL, race_writer, NULL), 0);
  uint8_t *back = malloc(RACE_SIZE + 1);
  assert_non_null(back);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int reads = 0, again = 0;
  for (; reads < 400; reads++) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (t.tv_sec - t0.tv_sec >= 5) break;
    size_t n = 0;
    int e = read_try(&m, "f", back, RACE_SIZE, &n);
    if (e == EAGAIN) {
      again++;
      continue;
    }
    if (e) fail_msg("read %d: %d (%s)", reads, e, cis_vfs_errmsg(m.fs));
    assert_int_equal(n, RACE_SIZE);
    int which = -1;
    for (int i = 0; i < RACE_VERSIONS; i++)
      if (memcmp(back, race.v[i], RACE_SIZE) == 0) which = i;
    if (which < 0) fail_msg("read %d gave no version written", reads);
  }
  atomic_store(&race.stop, 1);
  pthread_join(w, NULL);
  int rewrites = atomic_load(&race.rewrites);
  print_message("%d reads (%d starved) against %d rewrites\n", reads, again, rewrites);
  assert_true(again * 10 <= reads); /* starving is the exception */
  assert_true(rewrites > 2);        /* extents were reused under the reader */
  mnt_unmount(&m);
  free(back);
  for (int i = 0; i < RACE_VERSIONS; i++) free(race.v[i]);
}

/* SQLite running out of memory at any one allocation of a compaction
 * (the extents' reclaim among them, whose reading of a reference can
 * allocate) fails it or not, and never takes an extent in use for dead
 * space: every file reads back whole after each try. */
static void test_sqlite_out_of_memory_in_a_compaction_loses_no_extent(void **state) {
  (void)state;
  fresh("oom");
  mnt m;
  mnt_open(&m);
  uint8_t *a = pattern(BIG / 4, 43), *b = pattern(BIG / 4, 44), *c = pattern(BIG / 4, 45);
  put(&m, "keep", a, BIG / 4);
  put(&m, "f", b, BIG / 4);
  put(&m, "f", c, BIG / 4); /* b's extents freed: on the free list */
  cis_vfs_close(m.root);    /* a compaction wants no file of the mount open */
  m.root = NULL;
  int k = 0, failed = 0;
  for (; k < 5000; k++) {
    atomic_store(&mem_hit, 0);
    atomic_store(&mem_left, k);
    cis_result rc = cis_vfs_db_compact(m.fs, 0, NULL);
    atomic_store(&mem_left, -1);
    bool hit = atomic_load(&mem_hit);
    if (!hit && rc != CIS_OK) fail_msg("compaction %d: %s", k, cis_vfs_errmsg(m.fs));
    if (rc != CIS_OK) failed++;
    OK(cis_vfs_open_root(m.fs, &m.root));
    expect(&m, "keep", a, BIG / 4);
    expect(&m, "f", c, BIG / 4);
    cis_vfs_close(m.root);
    m.root = NULL;
    if (!hit) break; /* a try with no failure: every allocation was swept */
  }
  print_message("%d allocations swept, %d compactions failed\n", k, failed);
  assert_true(k < 5000);
  assert_true(failed > 0);
  OK(cis_vfs_open_root(m.fs, &m.root));
  mnt_unmount(&m);
  free(a);
  free(b);
  free(c);
}

/* The same for a rewrite of a file of extents (its old extents onto the
 * free list, its new ones taken from it or appended): the file is the
 * old version or the new one after each try, never a mix, and what a
 * failed try appended or freed is given back or reused later. */
static void test_sqlite_out_of_memory_in_a_rewrite_leaves_a_whole_version(void **state) {
  (void)state;
  fresh("oomw");
  mnt m;
  mnt_open(&m);
  enum { N = BIG / 4 };
  uint8_t *v[2] = {pattern(N, 46), pattern(N, 47)};
  uint8_t *back = malloc(N + 1);
  assert_non_null(back);
  put(&m, "f", v[0], N);
  put(&m, "g", v[1], N); /* a neighbour that must not change */
  int k = 0, failed = 0, now = 0;
  for (; k < 5000; k++) {
    atomic_store(&mem_hit, 0);
    atomic_store(&mem_left, k);
    int e = put_try(&m, "f", v[1 - now], N);
    atomic_store(&mem_left, -1);
    bool hit = atomic_load(&mem_hit);
    if (!hit && e) fail_msg("rewrite %d: %d (%s)", k, e, cis_vfs_errmsg(m.fs));
    if (e) failed++;
    size_t n = 0;
    OK(read_try(&m, "f", back, N, &n));
    if (n == N && memcmp(back, v[1 - now], N) == 0) now = 1 - now;
    else if (n != N || memcmp(back, v[now], N) != 0)
      fail_msg("after rewrite %d (%d) the file is neither version (%zu bytes)", k, e, n);
    expect(&m, "g", v[1], N);
    if (!hit) break;
  }
  print_message("%d allocations swept, %d rewrites failed, %lld extents free\n", k, failed,
                (long long)free_extents());
  assert_true(k < 5000);
  assert_true(failed > 0);
  put(&m, "f", v[0], N); /* the space failed tries left is used again */
  expect(&m, "f", v[0], N);
  /* Extents a failed free left on no list: a compaction gives them back. */
  cis_vfs_close(m.root);
  m.root = NULL;
  OK(cis_vfs_db_compact(m.fs, 0, NULL));
  OK(cis_vfs_open_root(m.fs, &m.root));
  off_t size, disk;
  ext_stat(&size, &disk);
  if (disk > (off_t)(3 * N)) fail_msg("%lld bytes of disk for %d live", (long long)disk, 2 * N);
  expect(&m, "f", v[0], N);
  expect(&m, "g", v[1], N);
  mnt_unmount(&m);
  free(back);
  free(v[0]);
  free(v[1]);
}

/* A mount under FULL whose case file is fresh. */
static void mnt_full(mnt *m) {
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = g.spec;
  cfg.tenant = "t";
  cfg.sync = CIS_VFS_DB_SYNC_FULL;
  if (mnt_mount(m, &cfg, NULL) != CIS_OK) fail_msg("mount: %s", m->why);
}

/* The sync faults armed (bits: SYNC_EXT, SYNC_DIR), their count reset. */
static void sync_arm(int bits) {
  atomic_store(&sync_failed, 0);
  atomic_store(&sync_fail, bits);
}

/* The faults disarmed; e, the call's result, and the mount's message say
 * that the failed sync (`what`) failed it. */
static void sync_failed_with(int e, cis_vfs *fs, const char *what) {
  atomic_store(&sync_fail, 0);
  assert_int_equal(e, CIS_VFS_EDOWN);
  assert_non_null(strstr(cis_vfs_errmsg(fs), what));
  assert_true(atomic_load(&sync_failed) > 0);
}

/* Under FULL, an extent file that cannot be synced fails the commit that
 * wrote to it (the disk's error, CIS_VFS_EDOWN with a message), and the
 * tree keeps what it held; the same write goes through once syncs work. */
static void test_sqlite_failed_extent_sync_fails_the_commit(void **state) {
  (void)state;
  fresh("syncfail");
  mnt m;
  mnt_full(&m);
  uint8_t *a = pattern(BIG, 110), *b = pattern(BIG, 111);
  put(&m, "f", a, BIG);
  sync_arm(SYNC_EXT);
  sync_failed_with(put_try(&m, "f", b, BIG), m.fs, "extent file: sync");
  expect(&m, "f", a, BIG);
  put(&m, "f", b, BIG);
  expect(&m, "f", b, BIG);
  mnt_unmount(&m);
  mnt_open(&m);
  expect(&m, "f", b, BIG);
  mnt_unmount(&m);
  free(a);
  free(b);
}

/* Under FULL, the first commit of a connection that writes extents syncs
 * the extent file's directory too; when that fails, so does the commit,
 * and the next one tries again. */
static void test_sqlite_failed_directory_sync_fails_the_commit(void **state) {
  (void)state;
  fresh("dirsync");
  mnt m;
  mnt_full(&m);
  put_str(&m, "small", "no extent: no directory sync");
  uint8_t *a = pattern(BIG, 112);
  sync_arm(SYNC_DIR);
  sync_failed_with(put_try(&m, "f", a, BIG), m.fs, "extent file's directory: sync");
  cis_vfs_stat st;
  assert_int_equal(stat_of(&m, "f", &st), ENOENT); /* its creation went with it */
  expect_str(&m, "small", "no extent: no directory sync");
  put(&m, "f", a, BIG);
  expect(&m, "f", a, BIG);
  mnt_unmount(&m);
  free(a);
}

/* Under NORMAL, cis_vfs_fsync syncs the extent file before the log: its
 * failure is the fsync's; the next fsync works. */
static void test_sqlite_failed_extent_sync_fails_the_fsync(void **state) {
  (void)state;
  fresh("fsyncfail");
  mnt m;
  mnt_open(&m);
  uint8_t *a = pattern(BIG, 113);
  put(&m, "f", a, BIG);
  cis_vfs_file *f = NULL;
  OK(cis_vfs_openat(m.root, "f", 1, CIS_VFS_READ | CIS_VFS_WRITE, &f));
  sync_arm(SYNC_EXT);
  sync_failed_with(cis_vfs_fsync(f), m.fs, "extent file: sync");
  OK(cis_vfs_fsync(f));
  cis_vfs_close(f);
  expect(&m, "f", a, BIG);
  mnt_unmount(&m);
  free(a);
}

/* Under NORMAL, a checkpoint syncs the extent file first, so the commits
 * it makes durable have their blocks on disk. When that sync fails, no
 * checkpoint is made (the log keeps those commits) until one works. */
static void test_sqlite_checkpoint_waits_for_the_extent_file_sync(void **state) {
  (void)state;
  fresh("ckptsync");
  mnt m;
  mnt_open(&m);
  uint8_t *a = pattern(BIG, 114);
  put(&m, "big", a, BIG);
  cis__vdb_sqlite_ckpt_settle();
  uint64_t r0 = cis__vdb_sqlite_ckpt_runs();
  sync_arm(SYNC_EXT);
  char name[32];
  for (int i = 0; i < 800; i++) { /* some 9 log pages each: past 4096 */
    snprintf(name, sizeof name, "s%03d", i);
    put_str(&m, name, name);
  }
  cis__vdb_sqlite_ckpt_settle();
  uint64_t r1 = cis__vdb_sqlite_ckpt_runs();
  atomic_store(&sync_fail, 0);
  assert_true(atomic_load(&sync_failed) > 0); /* a checkpoint was asked for */
  assert_int_equal(r1, r0);
  for (int i = 0; i < 800; i++) {
    snprintf(name, sizeof name, "t%03d", i);
    put_str(&m, name, name);
  }
  cis__vdb_sqlite_ckpt_settle();
  assert_true(cis__vdb_sqlite_ckpt_runs() > r1);
  expect(&m, "big", a, BIG);
  expect_str(&m, "s799", "s799");
  mnt_unmount(&m);
  free(a);
}

/* The reader of the overtaken test and what its hook does: each pread of
 * the extent file is first overtaken by two commits of another mount,
 * which move and reuse the extent it was about to read. */
static struct {
  mnt *writer;
  int preads;
} overtake;

static void overtake_hook(void) {
  for (int i = 0; i < 2; i++) {
    uint8_t *v = pattern(BLOCK, 200 + (unsigned)(overtake.preads * 2 + i));
    put(overtake.writer, "f", v, BLOCK);
    free(v);
  }
  overtake.preads++;
}

/* A reader whose extent is moved under it each time it reads gives up
 * after 64 tries with EAGAIN and a message, never with wrong bytes; left
 * alone, it reads the last version whole. */
static void test_sqlite_reader_overtaken_every_time_gets_eagain(void **state) {
  (void)state;
  fresh("overtaken");
  mnt r, w;
  mnt_open(&r);
  mnt_open(&w);
  uint8_t *v = pattern(BLOCK, 199);
  put(&w, "f", v, BLOCK);
  free(v);
  overtake.writer = &w;
  overtake.preads = 0;
  uint8_t *back = malloc(BLOCK + 1);
  assert_non_null(back);
  size_t n = 0;
  atomic_store(&pread_hook, overtake_hook);
  int e = read_try(&r, "f", back, BLOCK, &n);
  atomic_store(&pread_hook, NULL);
  if (e != EAGAIN) fail_msg("read: %d (%s), want EAGAIN", e, cis_vfs_errmsg(r.fs));
  assert_non_null(strstr(cis_vfs_errmsg(r.fs), "kept being rewritten"));
  assert_int_equal(overtake.preads, 64);
  v = pattern(BLOCK, 200 + (unsigned)(overtake.preads * 2 - 1));
  expect(&r, "f", v, BLOCK);
  free(v);
  free(back);
  mnt_unmount(&w);
  mnt_unmount(&r);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s WORKDIR\n", argv[0]);
    return 2;
  }
  snprintf(g.dir, sizeof g.dir, "%s", argv[1]);
  mkdir(g.dir, 0755);
  mem_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sqlite_large_blocks_live_in_the_extent_file),
      cmocka_unit_test(test_sqlite_rewrite_frees_and_reuses_extents),
      cmocka_unit_test(test_sqlite_rolled_back_scope_leaves_extents_as_they_were),
      cmocka_unit_test(test_sqlite_layers_keep_their_extents),
      cmocka_unit_test(test_sqlite_compaction_frees_hidden_extents),
      cmocka_unit_test(test_sqlite_compaction_reclaims_dead_space),
      cmocka_unit_test(test_sqlite_damaged_extent_reads_as_eio),
      cmocka_unit_test(test_sqlite_extent_file_symlink_is_not_followed),
      cmocka_unit_test(test_sqlite_older_file_is_brought_up_to_date),
      cmocka_unit_test(test_sqlite_joined_scope_reads_and_frees_extents),
      cmocka_unit_test(test_sqlite_full_sync_commits_extents),
      cmocka_unit_test(test_sqlite_extent_file_that_cannot_grow_fails_the_write),
      cmocka_unit_test(test_sqlite_kill_during_large_writes_leaves_a_whole_version),
      cmocka_unit_test(test_sqlite_reader_racing_a_rewriter_reads_whole_versions),
      cmocka_unit_test(test_sqlite_out_of_memory_in_a_compaction_loses_no_extent),
      cmocka_unit_test(test_sqlite_out_of_memory_in_a_rewrite_leaves_a_whole_version),
      cmocka_unit_test(test_sqlite_failed_extent_sync_fails_the_commit),
      cmocka_unit_test(test_sqlite_failed_directory_sync_fails_the_commit),
      cmocka_unit_test(test_sqlite_failed_extent_sync_fails_the_fsync),
      cmocka_unit_test(test_sqlite_checkpoint_waits_for_the_extent_file_sync),
      cmocka_unit_test(test_sqlite_reader_overtaken_every_time_gets_eagain),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
