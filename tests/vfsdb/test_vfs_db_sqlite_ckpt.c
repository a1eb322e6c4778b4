/*
 * This file implements the tests of the SQLite checkpoint as the database
 * filesystem's VFS (cis-walbuf, src/vfs/vfs_db_sqlite_wal.c) runs it: the
 * database file's pages written in runs and the log read ahead, published
 * whole (complete and partial checkpoints, read by fresh connections), a
 * gathered write that fails publishing nothing, and pages beyond a file
 * that could not be grown (a full disk) written straight through; the
 * checkpoint run on its own thread, not the writer's (vfs_db_sqlite_ckpt.c),
 * the log's bound behind a held checkpoint, and SIGKILL while the thread
 * copies.
 *
 *   test_vfs_db_sqlite_ckpt WORKDIR
 *
 * Under the backend sits a counting VFS, installed as SQLite's default
 * before a mount opens its file (cis-walbuf forwards to the default): it
 * counts the writes that reach the database file and the reads that reach
 * the log, and can fail one write of a checkpoint or refuse to grow the
 * file (a full disk), or hold the thread's checkpoint at its start.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cis/cis_vfs.h"
#include "support/sqlite_shim.h"
#include "vfsdb_mnt.h"

/* Waits until no checkpoint is asked for or running in the process
 * (src/vfs/vfs_db_sqlite_ckpt.c). */
void cis__vdb_sqlite_ckpt_settle(void);
/* The checkpoints those threads ran. */
uint64_t cis__vdb_sqlite_ckpt_runs(void);

#define LONG_MS 20000u
#define PAGE 4096

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

/* ------------------------------------------------- the counting VFS */

static struct {
  uint64_t db_writes;       /* writes that reached the database file */
  uint64_t db_bytes;        /* bytes written to it */
  uint64_t wal_reads;       /* reads that reached the log */
  uint64_t ckpt_writes;     /* writes of the database file since the last CKPT_START */
  uint64_t done_at;         /* ckpt_writes at the first CKPT_DONE; 0: none seen */
  int done_last;            /* bytes of the last write before it */
  int last_n;               /* bytes of the last write of the database file */
  uint64_t fail_at;         /* fail the first checkpoint's write number fail_at; 0: none */
  uint64_t failed;          /* writes failed so */
  bool disk_full;           /* the database file cannot grow past its size at CKPT_START */
  sqlite3_int64 full_at;    /* that size */
  uint64_t refused;         /* writes refused so */
  uint64_t runs_refused;    /* of them, writes of more than one page */
  uint64_t wal_bytes;       /* bytes written to the log */
  uint64_t wal_restarts;    /* writes at the log's start (its header) */
  uint64_t writer_db_writes; /* writes of the database file made by the test's own thread */
  uint64_t ckpt_starts;     /* checkpoints begun (CKPT_START) */
  uint64_t writer_ckpts;    /* of them, begun by the test's own thread */
  pthread_t writer;         /* the test's own thread, which writes through the mount */
  bool hold;                /* a checkpoint begun by another thread waits until it is cleared */
  bool fail_others;         /* reads of the database file by another thread fail */
  bool held;                /* one waits */
  pthread_mutex_t mu;       /* guards hold and held */
  pthread_cond_t cv;        /* signals a change of hold or held */
} cnt = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

#define REAL(f) CIS_SHIM_REAL(f)
static int cf_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) {
  if (cnt.fail_others && (CIS_SHIM_FLAGS(f) & SQLITE_OPEN_MAIN_DB) &&
      !pthread_equal(pthread_self(), cnt.writer))
    return SQLITE_IOERR_READ;
  /* Both threads read the log (the writer's and the checkpoints'). */
  if (CIS_SHIM_FLAGS(f) & SQLITE_OPEN_WAL) __atomic_add_fetch(&cnt.wal_reads, 1, __ATOMIC_RELAXED);
  return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int cf_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
  if (CIS_SHIM_FLAGS(f) & SQLITE_OPEN_WAL) {
    cnt.wal_bytes += (uint64_t)n;
    if (o == 0) cnt.wal_restarts++; /* the log's header: it begins again */
  }
  if (CIS_SHIM_FLAGS(f) & SQLITE_OPEN_MAIN_DB) {
    if (pthread_equal(pthread_self(), cnt.writer)) cnt.writer_db_writes++;
    if (cnt.disk_full && cnt.full_at && o + n > cnt.full_at) {
      cnt.refused++;
      if (n > PAGE && memchr(b, 1, (size_t)n)) cnt.runs_refused++; /* pages, not zeros */
      return SQLITE_FULL;
    }
    cnt.ckpt_writes++;
    if (cnt.fail_at && !cnt.done_at && cnt.ckpt_writes == cnt.fail_at) {
      cnt.failed++;
      return SQLITE_IOERR_WRITE;
    }
    cnt.last_n = n;
    cnt.db_writes++;
    cnt.db_bytes += (uint64_t)n;
  }
  return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int cf_fcntl(sqlite3_file *f, int op, void *a) {
  if (op == SQLITE_FCNTL_CKPT_START) {
    cnt.ckpt_starts++;
    if (pthread_equal(pthread_self(), cnt.writer)) {
      cnt.writer_ckpts++;
    } else {
      pthread_mutex_lock(&cnt.mu);
      if (cnt.hold) cnt.held = true;
      pthread_cond_broadcast(&cnt.cv);
      while (cnt.hold) pthread_cond_wait(&cnt.cv, &cnt.mu);
      pthread_mutex_unlock(&cnt.mu);
    }
    cnt.ckpt_writes = 0;
    if (cnt.disk_full && !cnt.full_at && REAL(f)->pMethods->xFileSize(REAL(f), &cnt.full_at) != SQLITE_OK)
      cnt.full_at = 0;
  }
  if (op == SQLITE_FCNTL_CKPT_DONE && !cnt.done_at) {
    cnt.done_at = cnt.ckpt_writes;
    cnt.done_last = cnt.last_n;
  }
  return REAL(f)->pMethods->xFileControl(REAL(f), op, a);
}

/* Makes the counting VFS the default, so the backend's next open uses it
 * (the connection keeps it after cnt_remove). */
static void cnt_install(void) {
  static const sqlite3_io_methods own = {.xRead = cf_read, .xWrite = cf_write, .xFileControl = cf_fcntl};
  cis_test_shim_install("cis-vfsdb-counting", &own);
}
static void cnt_remove(void) { cis_test_shim_remove(); }

static void cnt_zero(void) {
  cnt.db_writes = cnt.db_bytes = cnt.failed = 0;
  /* The one count a checkpoint thread still at work adds to as well. */
  __atomic_store_n(&cnt.wal_reads, 0, __ATOMIC_RELAXED);
  cnt.wal_bytes = cnt.wal_restarts = cnt.writer_db_writes = cnt.ckpt_starts = cnt.writer_ckpts = 0;
  cnt.writer = pthread_self();
  cnt.ckpt_writes = cnt.done_at = cnt.fail_at = 0;
  cnt.done_last = cnt.last_n = 0;
}

/* ---------------------------------------------------------- mounts */

/* A fresh database file for the case `name`. */
static void fresh(const char *name) {
  snprintf(g.path, sizeof g.path, "%s/%s.db", g.dir, name);
  const char *sfx[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    char p[1200];
    snprintf(p, sizeof p, "%s%s", g.path, sfx[i]);
    unlink(p);
  }
  snprintf(g.spec, sizeof g.spec, "sqlite:%s", g.path);
}

/* Mounts tenant "t"; through the counting VFS when `counted`, which stays
 * the default (so the checkpoints' thread opens its connection through
 * it too) until cnt_settle. */
static void mnt_open(mnt *m, bool counted) {
  memset(m, 0, sizeof *m);
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = g.spec;
  cfg.tenant = "t";
  cfg.op_timeout_ms = LONG_MS;
  /* Blocks below the extent file's threshold stay in the rows, so in the
   * log's pages, which is what these tests are about. */
  cfg.block_size = 8192; /* half of CIS__VDB_EXT_MIN */
  if (counted) cnt_install();
  cis_vfs_backend *b = NULL;
  cis_result rc = cis_vfs_db_new(&cfg, &b);
  if (rc != CIS_OK) fail_msg("mount: %s: %s", cis_errname(rc), b ? b->errmsg : "");
  OK(cis_vfs_mount(b, NULL, &m->fs));
  OK(cis_vfs_open_root(m->fs, &m->root));
}

/* Waits for the checkpoints asked for so far, then puts the default VFS
 * back: what they did is counted. */
static void cnt_settle(void) {
  cis__vdb_sqlite_ckpt_settle();
  cnt_remove();
}

/* Bytes that differ from page to page and from file to file. */
static uint8_t *pattern(size_t len, unsigned seed) {
  uint8_t *p = malloc(len);
  assert_non_null(p);
  uint32_t x = 2463534242u ^ seed;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)x;
  }
  return p;
}

/* A plain connection (the default VFS) to the case's file. */
static sqlite3 *plain(void) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(g.path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  sqlite3_busy_timeout(db, (int)LONG_MS);
  return db;
}

static void integrity_ok(void) {
  sqlite3 *db = plain();
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  const char *r = (const char *)sqlite3_column_text(st, 0);
  if (!r || strcmp(r, "ok") != 0) fail_msg("integrity_check: %s", r ? r : "(null)");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

#define BIG (20u << 20) /* more than a checkpoint's 4096 pages of log */

/* ------------------------------------------------------------ cases */


/* A case's start: a fresh database `name`, the mount m (counted), a file
 * written first so that the case's own commit is not the database's
 * first, and the counts zeroed. */
static void case_begin(const char *name, mnt *m) {
  fresh(name);
  mnt_open(m, true);
  put(m, "warm", "w", 1);
  cnt_zero();
}

/* A case's end: a mount of its own reads "big" as big (BIG bytes), m is
 * unmounted, and the database is sound. */
static void case_end(mnt *m, const uint8_t *big) {
  mnt other;
  mnt_open(&other, false);
  expect(&other, "big", big, BIG);
  mnt_unmount(&other);
  mnt_unmount(m);
  integrity_ok();
}

/* A checkpoint copies the log to the database file in runs of pages, not
 * one write per page, and reads the log ahead, not one read per frame:
 * writing a 20 MiB file (some 5200 frames, so the connection checkpoints
 * after the commit) made over 5000 writes of the database file and as
 * many reads of the log. What it copied, a fresh mount then reads whole. */
static void test_sqlite_checkpoint_writes_pages_in_runs(void **state) {
  (void)state;
  mnt m;
  case_begin("runs", &m);
  uint8_t *big = pattern(BIG, 1);
  put(&m, "big", big, BIG);
  cnt_settle();
  uint64_t writes = cnt.db_writes, bytes = cnt.db_bytes;
  uint64_t reads = __atomic_load_n(&cnt.wal_reads, __ATOMIC_RELAXED);
  print_message("20 MiB file: %llu writes of the database file (%llu bytes), %llu reads of the log\n",
                (unsigned long long)writes, (unsigned long long)bytes, (unsigned long long)reads);
  if (bytes < BIG / 2) fail_msg("the checkpoint copied %llu bytes: none ran", (unsigned long long)bytes);
  if (writes > 600) /* runs of pages, and the zeros that grew the file first */
    fail_msg("the checkpoint wrote %llu bytes in %llu writes", (unsigned long long)bytes,
             (unsigned long long)writes);
  if (reads > 600) fail_msg("the checkpoint read the log %llu times", (unsigned long long)reads);
  case_end(&m, big);
  free(big);
}

/* A partial checkpoint (a reader holds an older snapshot, so only the
 * frames it sees are copied, and nothing syncs the database file before
 * the copy is published) publishes its gathered pages whole: a fresh
 * mount reads both files right, and so does the reader that held it. */
static void test_sqlite_partial_checkpoint_publishes_whole_pages(void **state) {
  (void)state;
  fresh("partial");
  mnt m, other;
  mnt_open(&m, true);
  const size_t a_len = 12u << 20, b_len = 12u << 20;
  uint8_t *a = pattern(a_len, 2), *b = pattern(b_len, 3);
  put(&m, "a", a, a_len); /* some 3100 frames: no checkpoint yet */
  sqlite3 *reader = plain();
  assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM cis_vfs_blocks;", NULL, NULL,
                                NULL),
                   SQLITE_OK);
  cnt_zero();
  put(&m, "b", b, b_len); /* past 4096 frames: checkpoints up to the reader's frames */
  cnt_settle();
  uint64_t writes = cnt.db_writes, bytes = cnt.db_bytes;
  if (bytes < a_len / 2) fail_msg("the partial checkpoint copied %llu bytes", (unsigned long long)bytes);
  if (writes > 600) /* runs of pages, and the zeros that grew the file first */
    fail_msg("the partial checkpoint made %llu writes", (unsigned long long)writes);
  mnt_open(&other, false);
  expect(&other, "a", a, a_len);
  expect(&other, "b", b, b_len);
  mnt_unmount(&other);
  assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(reader);
  mnt_open(&other, false);
  expect(&other, "a", a, a_len);
  expect(&other, "b", b, b_len);
  mnt_unmount(&other);
  mnt_unmount(&m);
  integrity_ok();
  free(a);
  free(b);
}

/* A gathered write that fails at the end of the copy (the run written out
 * at CKPT_DONE, whose result SQLite ignores) fails the checkpoint's
 * truncate, so the copy is not published: a fresh connection, which would
 * read a published copy from the database file alone, still reads the
 * file from the log. The same writes on a fresh file first, unfailed, say
 * which write is the one at CKPT_DONE. */
static void ckpt_err_round(const char *name, uint64_t fail_at, uint64_t *done_at, int *done_last,
                           const uint8_t *big) {
  mnt m;
  case_begin(name, &m);
  cnt.fail_at = fail_at;
  put(&m, "big", big, BIG); /* its commit stands; the checkpoint after it fails */
  cnt_settle();
  *done_at = cnt.done_at;
  *done_last = cnt.done_last;
  if (fail_at && cnt.failed != 1) fail_msg("write %llu of the checkpoint was not failed",
                                           (unsigned long long)fail_at);
  cnt.fail_at = 0;
  case_end(&m, big);
}

static void test_sqlite_checkpoint_write_error_publishes_nothing(void **state) {
  (void)state;
  uint8_t *big = pattern(BIG, 4);
  uint64_t done_at = 0, again = 0;
  int last = 0, unused = 0;
  ckpt_err_round("ckpterr0", 0, &done_at, &last, big);
  if (done_at == 0 || last <= PAGE)
    fail_msg("the checkpoint's last write (%llu, %d bytes) was not a gathered run",
             (unsigned long long)done_at, last);
  ckpt_err_round("ckpterr1", done_at, &again, &unused, big);
  mnt other;
  mnt_open(&other, false); /* a checkpoint that works copies it all again */
  expect(&other, "big", big, BIG);
  mnt_unmount(&other);
  free(big);
}

/* Pages beyond the end of a database file that could not be grown first
 * (a full disk) are written one by one, so the full disk fails a write
 * SQLite sees and the checkpoint stops unpublished, never a gathered
 * write at CKPT_DONE, whose failure it would ignore. The file is then
 * read whole from the log. */
static void test_sqlite_checkpoint_gathers_only_in_allocated_room(void **state) {
  (void)state;
  mnt m;
  case_begin("noroom", &m);
  uint8_t *big = pattern(BIG, 5);
  cnt.disk_full = true;
  cnt.full_at = 0;
  cnt.refused = cnt.runs_refused = 0;
  put(&m, "big", big, BIG); /* its commit stands; the checkpoint after it stops */
  cnt_settle();
  cnt.disk_full = false;
  uint64_t refused = cnt.refused, runs = cnt.runs_refused;
  cnt.full_at = 0;
  if (refused == 0) fail_msg("the full disk refused no write: no checkpoint ran");
  if (runs != 0)
    fail_msg("%llu gathered writes of pages went past the room", (unsigned long long)runs);
  case_end(&m, big);
  free(big);
}

/* The checkpoint runs on a thread of its own, not in the commit that
 * fills the log: the writer's thread writes nothing to the database file
 * and begins no checkpoint, one checkpoint copies the file, and the bytes
 * the log and the database file get per MiB of file are what they were
 * (one copy each, and the zeros that grow the database file first). */
static void test_sqlite_checkpoint_runs_off_the_writer(void **state) {
  (void)state;
  mnt m;
  case_begin("offwriter", &m);
  uint8_t *big = pattern(BIG, 6);
  put(&m, "big", big, BIG);
  cnt_settle();
  uint64_t mib = BIG >> 20;
  print_message("20 MiB file: per MiB %llu bytes to the log, %llu to the database file; "
                "%llu checkpoints (%llu by the writer), %llu writes of the database file by it\n",
                (unsigned long long)(cnt.wal_bytes / mib), (unsigned long long)(cnt.db_bytes / mib),
                (unsigned long long)cnt.ckpt_starts, (unsigned long long)cnt.writer_ckpts,
                (unsigned long long)cnt.writer_db_writes);
  assert_int_equal(cnt.ckpt_starts, 1);
  assert_int_equal(cnt.writer_ckpts, 0);
  assert_int_equal(cnt.writer_db_writes, 0);
  if (cnt.db_bytes < BIG || cnt.db_bytes > BIG / 10 * 22)
    fail_msg("the checkpoint wrote %llu bytes of the database file", (unsigned long long)cnt.db_bytes);
  /* One copy: a new file's 1 KiB pages put a frame's 24-byte header and
   * an overflow page's 4-byte link on every 1020 bytes (2.8%), and a
   * block's cell and the b-tree's pages some 1.5% more. */
  if (cnt.wal_bytes < BIG || cnt.wal_bytes > BIG / 100 * 106)
    fail_msg("the commit wrote %llu bytes of log", (unsigned long long)cnt.wal_bytes);
  case_end(&m, big);
  free(big);
}

#define CHUNK (8u << 20)
#define CHUNKS 17 /* 136 MiB: past the log's bound of 32768 frames (128 MiB) */

/* The file written by the bound's case holds chunk k of `data` at k * CHUNK. */
static void expect_chunks(mnt *m, const uint8_t *data) {
  cis_vfs_file *f = NULL;
  OK(cis_vfs_openat(m->root, "huge", 4, CIS_VFS_READ, &f));
  uint8_t *back = malloc(CHUNK);
  assert_non_null(back);
  for (unsigned k = 0; k < CHUNKS; k++) {
    size_t n = 0;
    OK(cis_vfs_pread(f, back, CHUNK, (uint64_t)k * CHUNK, &n));
    assert_int_equal(n, CHUNK);
    if (memcmp(back, data, CHUNK) != 0) fail_msg("chunk %u reads back wrong", k);
  }
  cis_vfs_close(f);
  free(back);
}

/* Whether a checkpoint of the thread waits in CKPT_START, waiting up to
 * ms for one to. */
static bool held_within(unsigned ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  pthread_mutex_lock(&cnt.mu);
  int r = 0;
  while (!cnt.held && r == 0) r = pthread_cond_timedwait(&cnt.cv, &cnt.mu, &until);
  bool held = cnt.held;
  pthread_mutex_unlock(&cnt.mu);
  return held;
}

/* Lets a checkpoint held in CKPT_START go on. */
static void hold_release(void) {
  pthread_mutex_lock(&cnt.mu);
  cnt.hold = false;
  pthread_cond_broadcast(&cnt.cv);
  pthread_mutex_unlock(&cnt.mu);
}

/* A writer that keeps ahead of the checkpoints' thread (held here in its
 * first checkpoint) grows the log only up to the bound: past it the
 * writer's commits checkpoint themselves (SQLITE_BUSY while the thread
 * holds the checkpoint lock, so no copy yet), the first commit after the
 * thread let go copies the rest on the writer's thread, and the next one
 * starts the log again. */
static void test_sqlite_log_stays_bounded_past_a_slow_checkpoint(void **state) {
  (void)state;
  fresh("bound");
  mnt m, other;
  mnt_open(&m, true);
  uint8_t *data = pattern(CHUNK, 7);
  put(&m, "warm", "w", 1);
  cnt_zero();
  cnt.hold = true;
  cis_vfs_file *f = NULL;
  OK(cis_vfs_openat(m.root, "huge", 4, CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC, &f));
  for (unsigned k = 0; k < CHUNKS; k++) {
    size_t n = 0;
    OK(cis_vfs_pwrite(f, data, CHUNK, (uint64_t)k * CHUNK, &n));
    if (k == 1 && !held_within(LONG_MS)) { /* 16 MiB: past 4096 frames, the thread's turn */
      hold_release();
      fail_msg("no checkpoint was begun on the thread");
    }
  }
  uint64_t writer_ckpts = cnt.writer_ckpts, restarts = cnt.wal_restarts;
  hold_release();
  assert_int_equal(writer_ckpts, 0); /* the thread held the lock */
  assert_int_equal(restarts, 0);
  cis__vdb_sqlite_ckpt_settle(); /* the thread's copy, up to where it began, ends */
  assert_int_equal(cnt.ckpt_starts, 1);
  size_t n = 0;
  OK(cis_vfs_pwrite(f, "x", 1, 0, &n)); /* the writer copies the rest */
  assert_int_equal(cnt.writer_ckpts, 1);
  if (cnt.writer_db_writes == 0) fail_msg("the writer's checkpoint wrote nothing");
  assert_int_equal(cnt.wal_restarts, 0);
  OK(cis_vfs_pwrite(f, data, 1, 0, &n)); /* and the log begins again */
  assert_int_equal(cnt.wal_restarts, 1);
  cis_vfs_close(f);
  cnt_settle();
  mnt_open(&other, false);
  expect_chunks(&other, data);
  mnt_unmount(&other);
  mnt_unmount(&m);
  integrity_ok();
  free(data);
}

/* The thread is asked when 4096 frames of the log are not copied yet, not
 * at every commit once the log holds 4096: a reader that holds the log's
 * frames keeps it from starting again after the copy of a 20 MiB file,
 * and the small commits that follow ask for no checkpoint (SQLite's own
 * rule asked at each of them, a checkpoint of a few frames and its two
 * syncs each time the thread was copying). */
static void test_sqlite_checkpoint_asked_per_4096_frames_not_copied(void **state) {
  (void)state;
  mnt m, other;
  case_begin("backlog", &m);
  uint8_t *big = pattern(BIG, 8);
  cnt.hold = true; /* so the reader below takes its snapshot before the copy ends */
  uint64_t runs = cis__vdb_sqlite_ckpt_runs();
  put(&m, "big", big, BIG);
  if (!held_within(LONG_MS)) {
    hold_release();
    fail_msg("no checkpoint was begun on the thread");
  }
  sqlite3 *reader = plain();
  assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM cis_vfs_blocks;", NULL, NULL,
                                NULL),
                   SQLITE_OK);
  hold_release();
  cis__vdb_sqlite_ckpt_settle();
  assert_int_equal(cis__vdb_sqlite_ckpt_runs() - runs, 1);
  for (int i = 0; i < 20; i++) {
    char name[16];
    snprintf(name, sizeof name, "s%02d", i);
    put(&m, name, big, 4096);
  }
  cis__vdb_sqlite_ckpt_settle();
  assert_int_equal(cis__vdb_sqlite_ckpt_runs() - runs, 1);
  assert_int_equal(cnt.wal_restarts, 0); /* the reader kept the log from starting again */
  assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(reader);
  cnt_settle();
  mnt_open(&other, false);
  expect(&other, "big", big, BIG);
  expect(&other, "s19", big, 4096);
  mnt_unmount(&other);
  mnt_unmount(&m);
  integrity_ok();
  free(big);
}

/* A thread whose connection cannot read the file leaves the checkpoints
 * to the writer: its commits past the threshold checkpoint themselves, as
 * SQLite's own did, and the file is copied whole. */
static void test_sqlite_checkpoints_fall_back_to_the_writer(void **state) {
  (void)state;
  mnt m;
  case_begin("fallback", &m);
  uint8_t *big = pattern(BIG, 9);
  cnt.fail_others = true;
  uint64_t runs = cis__vdb_sqlite_ckpt_runs();
  put(&m, "big", big, BIG); /* the thread is asked, and cannot open its connection */
  cis__vdb_sqlite_ckpt_settle();
  assert_int_equal(cis__vdb_sqlite_ckpt_runs(), runs);
  assert_int_equal(cnt.ckpt_starts, 0);
  put(&m, "small", big, 4096); /* the writer's own checkpoint */
  cnt.fail_others = false;
  cnt_settle();
  assert_int_equal(cnt.writer_ckpts, 1);
  assert_int_equal(cnt.ckpt_starts, 1);
  if (cnt.db_bytes < BIG) fail_msg("the writer's checkpoint wrote %llu bytes", (unsigned long long)cnt.db_bytes);
  case_end(&m, big);
  free(big);
}

#define KILL_SIZE (8u << 20) /* two rewrites pass the 4096 frames of a checkpoint */

/* The child of the kill case: rewrites file "f" whole, again and again,
 * each time with another byte value, in one write (one commit), so the
 * checkpoints' thread copies nearly all the time. Says on fd when the
 * first rewrite is in. Never returns. */
static void kill_child(int fd, void *arg) {
  (void)arg;
  mnt m;
  mnt_open(&m, false);
  uint8_t *buf = malloc(KILL_SIZE);
  cis_vfs_file *f = NULL;
  if (!buf || cis_vfs_openat(m.root, "f", 1, CIS_VFS_WRITE | CIS_VFS_CREAT, &f)) _exit(3);
  for (unsigned v = 1;; v++) {
    memset(buf, (int)(v & 0xff), KILL_SIZE);
    size_t n;
    if (cis_vfs_pwrite(f, buf, KILL_SIZE, 0, &n)) _exit(4);
    if (v == 1 && write(fd, "1", 1) != 1) _exit(5);
  }
}

/* SIGKILL while the thread checkpoints (and the writer commits) leaves a
 * whole version of the file, and a database that passes its integrity
 * check: the log still holds what a checkpoint had not published. */
static void test_sqlite_killed_during_thread_checkpoints(void **state) {
  (void)state;
  static const unsigned delay_ms[] = {40, 130, 260, 410};
  for (unsigned round = 0; round < sizeof delay_ms / sizeof delay_ms[0]; round++) {
    char name[32];
    snprintf(name, sizeof name, "kill%u", round);
    fresh(name);
    pid_t pid = vfsdb_spawn_writer(kill_child, NULL);
    struct timespec ts = {0, (long)delay_ms[round] * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFSIGNALED(st));
    integrity_ok();
    mnt m;
    mnt_open(&m, false);
    cis_vfs_file *f = NULL;
    OK(cis_vfs_openat(m.root, "f", 1, CIS_VFS_READ, &f));
    uint8_t *back = malloc(KILL_SIZE + 1);
    assert_non_null(back);
    size_t n = 0;
    OK(cis_vfs_pread(f, back, KILL_SIZE + 1, 0, &n));
    assert_int_equal(n, KILL_SIZE);
    for (size_t i = 1; i < n; i++)
      if (back[i] != back[0]) fail_msg("byte %zu is %d, byte 0 is %d: a torn write", i, back[i], back[0]);
    assert_true(back[0] >= 1);
    free(back);
    cis_vfs_close(f);
    mnt_unmount(&m);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s WORKDIR\n", argv[0]);
    return 2;
  }
  snprintf(g.dir, sizeof g.dir, "%s", argv[1]);
  mkdir(g.dir, 0755);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sqlite_checkpoint_writes_pages_in_runs),
      cmocka_unit_test(test_sqlite_partial_checkpoint_publishes_whole_pages),
      cmocka_unit_test(test_sqlite_checkpoint_write_error_publishes_nothing),
      cmocka_unit_test(test_sqlite_checkpoint_gathers_only_in_allocated_room),
      cmocka_unit_test(test_sqlite_checkpoint_runs_off_the_writer),
      cmocka_unit_test(test_sqlite_log_stays_bounded_past_a_slow_checkpoint),
      cmocka_unit_test(test_sqlite_checkpoint_asked_per_4096_frames_not_copied),
      cmocka_unit_test(test_sqlite_checkpoints_fall_back_to_the_writer),
      cmocka_unit_test(test_sqlite_killed_during_thread_checkpoints),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
