/*
 * This file implements fs_ops, the per-operation half of bench/fs.sh: the
 * small-file operations of fsbench.c (create + write 4 KiB of random
 * bytes + close, open + read to the end + close, stat, unlink) made
 * straight through the VFS API (no WASI, no interpreter) on one backend,
 * N files each. It prints,
 * per operation, the microseconds it took and, on a database backend, the
 * statements it ran and the write transactions it committed: the
 * statements are a deterministic figure (the same on a loaded machine as
 * on a quiet one), the times are not.
 *
 *   fs_ops [-n FILES] [-s normal|full] [-c] mem | db:sqlite:PATH | db:postgres:CONNSTR [TENANT]
 *
 *   -c  each kind of operation runs inside one call scope
 *       (cis_vfs_scope_begin/end, as a skill call's mounts do), whose end
 *       (its commit) is reported on a line of its own, NAME.end; without
 *       it a db mount holds a lease (cis_vfs_db_config.lease), as the
 *       mounts of `cis run` do
 *
 * Output, one line per operation:
 *   op NAME us US stmts S commits C trips T
 * where US is the mean time of one operation and S, C and T (round trips
 * to a PostgreSQL server) are per operation (0 for mem; T 0 for SQLite);
 * a scope's end is spread over the N files of its kind too. Exit status
 * 0, 1 when an operation failed.
 *
 * On PostgreSQL outside scopes one more line, commit-floor: the smallest
 * write transaction, N times (BEGIN, an INSERT of one 2-byte row, COMMIT,
 * in one round trip through libcis's own client: its pipeline and its
 * spin), in a table of its own dropped after. A create committed at its
 * close is such a transaction with more in it, so this is its floor on
 * the server and machine at hand.
 *
 * It reads the statement counters of src/vfs (cis__vfs_db_counts), which
 * libcis.a carries but libcis.so does not export, and src/common's
 * PostgreSQL client: link it with libcis.a, with -Isrc.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cis/cis.h"
#include "cis/cis_vfs.h"
#include "common/pgwire.h" /* the floor's client: libcis's own */

bool cis__vfs_db_counts(cis_vfs *mount, uint64_t *statements, uint64_t *commits);
uint64_t cis__vfs_db_round_trips(cis_vfs *mount);

#define FILE_BYTES 4096
#define DATA_RING 256 /* distinct file contents, reused in turn */

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

typedef struct mark {
  double t;       /* µs */
  uint64_t st;    /* statements */
  uint64_t cm;    /* commits */
  uint64_t tr;    /* round trips to the server (PostgreSQL; else 0) */
} mark;

static mark take(cis_vfs *fs) {
  mark m = {now_us(), 0, 0, 0};
  cis__vfs_db_counts(fs, &m.st, &m.cm);
  m.tr = cis__vfs_db_round_trips(fs);
  return m;
}

static void report(const char *op, cis_vfs *fs, mark a, int n) {
  mark b = take(fs);
  printf("op %s us %.1f stmts %.2f commits %.2f trips %.2f\n", op, (b.t - a.t) / n,
         (double)(b.st - a.st) / n, (double)(b.cm - a.cm) / n, (double)(b.tr - a.tr) / n);
}

static int fail(cis_vfs *fs, const char *what, int e) {
  fprintf(stderr, "fs_ops: %s: %d: %s\n", what, e, cis_vfs_errmsg(fs));
  return 1;
}

static bool scoped; /* -c: each kind of operation in a call scope of its own */

/* Starts a kind of operation: its scope begun (-c), then its mark. */
static mark start(cis_vfs *fs, int *status) {
  if (scoped && !*status && cis_vfs_scope_begin(fs) != CIS_OK) *status = fail(fs, "scope begin", 0);
  return take(fs);
}

/* Ends a kind of operation: its line, then (-c) its scope's commit and
 * the line of that, NAME.end. */
static void finish(const char *op, cis_vfs *fs, mark a, int n, int *status) {
  if (*status) return;
  report(op, fs, a, n);
  if (!scoped) return;
  char name[64];
  snprintf(name, sizeof name, "%s.end", op);
  a = take(fs);
  cis_result rc = cis_vfs_scope_end(fs, true);
  if (rc != CIS_OK) *status = fail(fs, "scope end", rc);
  else report(name, fs, a, n);
}

/* Runs one simple statement; false (with a message) when it failed. */
static bool floor_exec(PGconn *pg, const char *sql, cis__pgwire_until until) {
  cis__pgwire_report rep;
  if (cis__pgwire_collect(pg, cis__pq.sendQuery(pg, sql), until, NULL, &rep) == CIS__PGWIRE_DONE)
    return true;
  fprintf(stderr, "fs_ops: floor: %s: %s\n", sql, rep.sqlmsg[0] ? rep.sqlmsg : rep.msg);
  return false;
}

/* The commit-floor line (see the top). 0, or 1 when it failed. */
static int commit_floor(const char *conninfo, int n, bool full) {
  cis__pgwire_until until = cis__pgwire_at(cis__deadline_after(60000, 0));
  cis__pgwire_report rep;
  PGconn *pg = NULL;
  if (cis__pgwire_connect(&pg, "fs_ops", conninfo, until, &rep) != CIS__PGWIRE_DONE) {
    fprintf(stderr, "fs_ops: floor: connect: %s\n", rep.msg);
    return 1;
  }
  char table[64], sql[256];
  snprintf(table, sizeof table, "cis_fsops_floor_%ld", (long)getpid());
  snprintf(sql, sizeof sql,
           "SET synchronous_commit = %s; CREATE TABLE %s (k bigint PRIMARY KEY, v bytea)",
           full ? "on" : "off", table);
  bool ok = floor_exec(pg, sql, until);
  snprintf(sql, sizeof sql, "INSERT INTO %s VALUES ($1::int8, '\\x0001')", table);
  ok = ok && cis__pgwire_collect(pg, cis__pq.sendPrepare(pg, "ins", sql, 0, NULL), until, NULL,
                                 &rep) == CIS__PGWIRE_DONE;
  ok = ok && cis__pq.enterPipelineMode(pg) == 1;
  double t0 = now_us();
  for (int k = 0; ok && k < n; k++) {
    char key[24];
    snprintf(key, sizeof key, "%d", k);
    const char *pv[1] = {key};
    int sent = cis__pq.sendQueryParams(pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 1) &&
               cis__pq.sendQueryPrepared(pg, "ins", 1, pv, NULL, NULL, 1) &&
               cis__pq.sendQueryParams(pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 1) &&
               cis__pq.pipelineSync(pg) == 1;
    ok = cis__pgwire_collect_pipeline(pg, sent, until, -1, NULL, &rep) == CIS__PGWIRE_DONE;
  }
  double t1 = now_us();
  if (!ok) fprintf(stderr, "fs_ops: floor: %s\n", rep.sqlmsg[0] ? rep.sqlmsg : rep.msg);
  else printf("op commit-floor us %.1f stmts 1.00 commits 1.00 trips 1.00\n", (t1 - t0) / n);
  cis__pq.exitPipelineMode(pg);
  snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", table);
  ok = floor_exec(pg, sql, until) && ok;
  cis__pq.finish(pg);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  int n = 1000, i = 1;
  bool full = false;
  for (; i + 1 < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "-c")) scoped = true;
    else if (!strcmp(argv[i], "-n")) n = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-s")) full = !strcmp(argv[++i], "full");
    else break;
  }
  if (i >= argc || n <= 0 || n > 100000) {
    fprintf(stderr, "usage: fs_ops [-n FILES] [-s normal|full] [-c] mem | db:SPEC [TENANT]\n");
    return 2;
  }
  const char *kind = argv[i], *tenant = i + 1 < argc ? argv[i + 1] : "fsops";
  cis_vfs_backend *b = NULL;
  cis_result rc;
  if (!strcmp(kind, "mem")) {
    rc = cis_vfs_mem_new(&b);
  } else if (!strncmp(kind, "db:", 3)) {
    cis_vfs_db_config cfg;
    cis_vfs_db_config_default(&cfg);
    cfg.spec = kind + 3;
    cfg.tenant = tenant;
    cfg.sync = full ? CIS_VFS_DB_SYNC_FULL : CIS_VFS_DB_SYNC_NORMAL;
    cfg.lease = !scoped; /* as cis run: committing as changes are made */
    rc = cis_vfs_db_new(&cfg, &b);
  } else {
    fprintf(stderr, "fs_ops: unknown backend %s\n", kind);
    return 2;
  }
  cis_vfs *fs = NULL;
  if (rc == CIS_OK || b) rc = cis_vfs_mount(b, NULL, &fs); /* a failed backend fails the mount */
  if (rc != CIS_OK) {
    fprintf(stderr, "fs_ops: %s: %s\n", cis_errname(rc), cis_vfs_errmsg(fs));
    cis_vfs_unmount(fs);
    return 1;
  }
  cis_vfs_file *root = NULL;
  int e = cis_vfs_open_root(fs, &root);
  if (!e) e = cis_vfs_mkdirat(root, "small", 5);
  if (e) return fail(fs, "setup", e);
  /* Random bytes, as fsbench writes: a block that compresses would stay
   * in PostgreSQL's row and cost less than the files fsbench times. */
  static uint64_t data[DATA_RING][FILE_BYTES / 8];
  static uint8_t back[FILE_BYTES];
  uint64_t seed = 0x9E3779B97F4A7C15ull;
  for (int r = 0; r < DATA_RING; r++)
    for (int w = 0; w < FILE_BYTES / 8; w++) {
      seed ^= seed >> 12, seed ^= seed << 25, seed ^= seed >> 27; /* xorshift64* */
      data[r][w] = seed * 0x2545F4914F6CDD1Dull;
    }
  char path[32];
  size_t len, got;
  int status = 0;

  mark a = start(fs, &status);
  for (int k = 0; k < n && !status; k++) {
    len = (size_t)snprintf(path, sizeof path, "small/f%05d", k);
    cis_vfs_file *f = NULL;
    if ((e = cis_vfs_openat(root, path, len, CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC |
                                                 CIS_VFS_FOLLOW, &f)) ||
        (e = cis_vfs_pwrite(f, data[k % DATA_RING], FILE_BYTES, 0, &got)))
      status = fail(fs, "create", e);
    if (f) cis_vfs_close(f);
  }
  finish("create-write-close", fs, a, n, &status);

  a = start(fs, &status);
  for (int k = 0; k < n && !status; k++) {
    len = (size_t)snprintf(path, sizeof path, "small/f%05d", k);
    cis_vfs_file *f = NULL;
    if ((e = cis_vfs_openat(root, path, len, CIS_VFS_READ | CIS_VFS_FOLLOW, &f)) ||
        (e = cis_vfs_pread(f, back, sizeof back, 0, &got)) ||
        (e = cis_vfs_pread(f, back, sizeof back, got, &got)))
      status = fail(fs, "read", e);
    if (f) cis_vfs_close(f);
  }
  finish("open-read-close", fs, a, n, &status);

  a = start(fs, &status);
  for (int k = 0; k < n && !status; k++) {
    len = (size_t)snprintf(path, sizeof path, "small/f%05d", k);
    cis_vfs_stat st;
    if ((e = cis_vfs_statat(root, path, len, CIS_VFS_FOLLOW, &st))) status = fail(fs, "stat", e);
  }
  finish("stat", fs, a, n, &status);

  a = start(fs, &status);
  for (int k = 0; k < n && !status; k++) {
    len = (size_t)snprintf(path, sizeof path, "small/f%05d", k);
    if ((e = cis_vfs_unlinkat(root, path, len))) status = fail(fs, "unlink", e);
  }
  finish("unlink", fs, a, n, &status);

  cis_vfs_close(root);
  cis_vfs_unmount(fs);
  /* As the database backend reads its spec: a URI whole, else after the colon. */
  const char *spec = kind + 3;
  bool uri = !strncmp(spec, "postgres://", 11) || !strncmp(spec, "postgresql://", 13);
  if (!status && !scoped && (uri || !strncmp(spec, "postgres:", 9)))
    status = commit_floor(uri ? spec : spec + 9, n, full);
  return status;
}
