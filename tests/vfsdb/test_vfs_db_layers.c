/*
 * This file implements the tests of the database filesystem's layers as a
 * user feature (include/cis/cis_vfs.h, docs/dbfs.md "Layers"): diffs
 * between layers, compaction, deleting a tenant, and directory times that
 * move when names in them change. The same cases run on each database,
 * chosen by the command line:
 *
 *   sqlite   WORKDIR         an SQLite file in WORKDIR (made fresh)
 *   postgres CONNSTR_FILE    the shared test server (tests/support);
 *                            skipped (77) when the file is missing,
 *                            unless CI=true
 *
 * Cases count a tenant's rows in the database itself (sqlite3 / libpq),
 * since what a compaction or a deletion frees is not visible through the
 * public API by design.
 */
#include <errno.h>
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

#include "support/pg_connstr.h"
#include <libpq-fe.h>
#include <sqlite3.h>

#include "cis/cis.h"
#include "cis/cis_vfs.h"
#include "cis/cis_wasi.h"

enum { K_SQLITE, K_POSTGRES };

static struct {
  int kind;            /* K_SQLITE or K_POSTGRES */
  char spec[2200];     /* what cis_vfs_db_new gets */
  char conninfo[2048]; /* PostgreSQL: the libpq connection string */
  char path[1024];     /* SQLite: the database file */
  char run[48];        /* makes tenant names unique per run */
} g;

static cis_vfs *g_last_fs; /* the mount whose message a failing check prints */

#define OK(x)                                                                          \
  do {                                                                                 \
    int ok_e_ = (int)(x);                                                              \
    if (ok_e_ != 0) fail_msg("%s = %d (%s)", #x, ok_e_, cis_vfs_errmsg(g_last_fs));    \
  } while (0)

/* A mount of one tenant with its root open. */
typedef struct mnt {
  cis_vfs *fs;        /* the mount */
  cis_vfs_file *root; /* its root directory (NULL while a layer call needs none) */
  char tenant[160];   /* the tenant's full name */
} mnt;

static void cfg_of(cis_vfs_db_config *cfg, const char *tenant) {
  cis_vfs_db_config_default(cfg);
  cfg->spec = g.spec;
  cfg->tenant = tenant;
  cfg->op_timeout_ms = 20000;
}

static void mnt_open_ms(mnt *m, const char *suffix, uint64_t timeout_ms) {
  memset(m, 0, sizeof *m);
  snprintf(m->tenant, sizeof m->tenant, "%s-%s", g.run, suffix);
  cis_vfs_db_config cfg;
  cfg_of(&cfg, m->tenant);
  if (timeout_ms) cfg.op_timeout_ms = timeout_ms;
  cis_vfs_backend *b = NULL;
  cis_vfs_db_new(&cfg, &b); /* a failed backend fails the mount, with its message */
  cis_result rc = cis_vfs_mount(b, NULL, &m->fs);
  if (rc != CIS_OK) fail_msg("mount %s: %s: %s", suffix, cis_errname(rc), cis_vfs_errmsg(m->fs));
  g_last_fs = m->fs;
  OK(cis_vfs_open_root(m->fs, &m->root));
}

static void mnt_open(mnt *m, const char *suffix) { mnt_open_ms(m, suffix, 0); }

static void mnt_close(mnt *m) {
  if (m->root) cis_vfs_close(m->root);
  if (m->fs) cis_vfs_unmount(m->fs);
  if (g_last_fs == m->fs) g_last_fs = NULL;
  memset(m, 0, sizeof *m);
}

/* Layer calls want no file of the mount open: the root goes and comes. */
static void root_close(mnt *m) {
  cis_vfs_close(m->root);
  m->root = NULL;
}
static void root_open(mnt *m) { OK(cis_vfs_open_root(m->fs, &m->root)); }

static void put_str(cis_vfs_file *dir, const char *path, const char *s) {
  cis_vfs_file *f = NULL;
  OK(cis_vfs_openat(dir, path, strlen(path), CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC, &f));
  size_t n = 0;
  if (*s) OK(cis_vfs_pwrite(f, s, strlen(s), 0, &n));
  cis_vfs_close(f);
}

static void put_bytes(cis_vfs_file *dir, const char *path, size_t len, char c) {
  char *p = malloc(len);
  assert_non_null(p);
  memset(p, c, len);
  cis_vfs_file *f = NULL;
  OK(cis_vfs_openat(dir, path, strlen(path), CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC, &f));
  size_t n = 0;
  OK(cis_vfs_pwrite(f, p, len, 0, &n));
  cis_vfs_close(f);
  free(p);
}

static void expect_str(cis_vfs_file *dir, const char *path, const char *want) {
  cis_vfs_file *f = NULL;
  OK(cis_vfs_openat(dir, path, strlen(path), CIS_VFS_READ, &f));
  char buf[4096];
  size_t got = 0;
  OK(cis_vfs_pread(f, buf, sizeof buf - 1, 0, &got));
  cis_vfs_close(f);
  buf[got] = '\0';
  assert_string_equal(buf, want);
}

static bool exists(cis_vfs_file *dir, const char *path) {
  cis_vfs_stat st;
  return cis_vfs_statat(dir, path, strlen(path), 0, &st) == 0;
}

/* ------------------------------------------------------ the database, raw */

/* An integer query (cast to bigint for PostgreSQL's binary rows) on a
 * connection of its own; -1 when it gives no row. */
static int64_t sql_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t sql_int(const char *fmt, ...) {
  char q[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(q, sizeof q, fmt, ap);
  va_end(ap);
  int64_t v = -1;
  if (g.kind == K_SQLITE) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(g.path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK) fail_msg("%s: %s", q, sqlite3_errmsg(db));
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
      v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
  } else {
    PGconn *pg = PQconnectdb(g.conninfo);
    if (PQstatus(pg) != CONNECTION_OK) fail_msg("connect: %s", PQerrorMessage(pg));
    PGresult *r = PQexec(pg, q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s: %s", q, PQresultErrorMessage(r));
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(pg);
  }
  return v;
}

/* The tenant's name as an SQL literal of the name column's type. */
static const char *name_sql(const char *tenant, char *buf, size_t cap) {
  if (g.kind == K_SQLITE) snprintf(buf, cap, "CAST('%s' AS BLOB)", tenant);
  else snprintf(buf, cap, "convert_to('%s', 'UTF8')", tenant);
  return buf;
}

/* Rows of tenant in table (its id looked up by name); 0 for a tenant
 * that is not there. */
static int64_t rows_of(const char *tenant, const char *table) {
  char n[400];
  return sql_int("SELECT CAST(count(*) AS bigint) FROM %s WHERE tenant_id=(SELECT tenant_id "
                 "FROM cis_vfs_tenants WHERE name=%s)",
                 table, name_sql(tenant, n, sizeof n));
}

static int64_t all_rows(const char *tenant) {
  return rows_of(tenant, "cis_vfs_entries") + rows_of(tenant, "cis_vfs_inodes") +
         rows_of(tenant, "cis_vfs_blocks") + rows_of(tenant, "cis_vfs_layers");
}

/* ---------------------------------------------------------------- diffs */

/* The changes of a diff as sorted lines "KIND PATH". */
typedef struct changes {
  char lines[64][160]; /* "A path", "R path", "M path", "T path" */
  size_t n;            /* lines used */
  int stop_after;      /* the callback stops after this many (0: never) */
} changes;

static int collect(void *user, const cis_vfs_diff_entry *e) {
  changes *c = user;
  static const char kinds[] = "?ARMT";
  assert_true(e->change >= CIS_VFS_ADDED && e->change <= CIS_VFS_TYPE_CHANGED);
  assert_int_equal(strlen(e->path), e->pathlen);
  if (c->n < 64) snprintf(c->lines[c->n++], sizeof c->lines[0], "%c %s", kinds[e->change], e->path);
  return c->stop_after && (int)c->n >= c->stop_after;
}

static int cmp_line(const void *a, const void *b) { return strcmp(a, b); }

/* Diffs, sorts and joins the lines with ';'. */
static void diff_text(mnt *m, uint64_t from, uint64_t to, char *out, size_t cap) {
  changes c = {0};
  size_t count = 0;
  bool trunc = true;
  OK(cis_vfs_db_diff(m->fs, from, to, 0, collect, &c, &count, &trunc));
  assert_false(trunc);
  assert_int_equal(count, c.n);
  qsort(c.lines, c.n, sizeof c.lines[0], cmp_line);
  out[0] = '\0';
  for (size_t i = 0; i < c.n; i++) {
    strncat(out, c.lines[i], cap - strlen(out) - 1);
    if (i + 1 < c.n) strncat(out, ";", cap - strlen(out) - 1);
  }
}

/* Every kind of change since a snapshot, and nothing that did not change:
 * a file added (also in a new directory), one removed, one rewritten, one
 * that became a directory, an untouched one, one moved. */
static void test_diff_reports_each_kind_of_change(void **state) {
  (void)state;
  mnt m;
  mnt_open(&m, "diff-kinds");
  put_str(m.root, "keep", "same");
  put_str(m.root, "gone", "bye");
  put_str(m.root, "edit", "old");
  put_str(m.root, "kind", "file");
  put_str(m.root, "from", "moving");
  OK(cis_vfs_mkdirat(m.root, "olddir", 6));
  put_str(m.root, "olddir/x", "x");
  root_close(&m);
  uint64_t snap = 0;
  OK(cis_vfs_db_snapshot(m.fs, "before", &snap));
  root_open(&m);
  put_str(m.root, "new", "hello");
  OK(cis_vfs_mkdirat(m.root, "dir", 3));
  put_str(m.root, "dir/inner", "deep");
  OK(cis_vfs_unlinkat(m.root, "gone", 4));
  put_str(m.root, "edit", "new!");
  OK(cis_vfs_unlinkat(m.root, "kind", 4));
  OK(cis_vfs_mkdirat(m.root, "kind", 4));
  OK(cis_vfs_renameat(m.root, "from", 4, m.root, "to", 2));
  put_str(m.root, "olddir/x", "xx");
  root_close(&m);
  char got[4096];
  diff_text(&m, snap, 0, got, sizeof got);
  assert_string_equal(got, "A dir;A dir/inner;A new;A to;M edit;M olddir/x;R from;R gone;T kind");
  /* Nothing changed: nothing reported. */
  uint64_t snap2 = 0;
  OK(cis_vfs_db_snapshot(m.fs, "after", &snap2));
  diff_text(&m, snap2, 0, got, sizeof got);
  assert_string_equal(got, "");
  /* The same between the two frozen layers. */
  diff_text(&m, snap, snap2, got, sizeof got);
  assert_string_equal(got, "A dir;A dir/inner;A new;A to;M edit;M olddir/x;R from;R gone;T kind");
  mnt_close(&m);
}

/* A diff between two frozen layers shows what happened between them, not
 * what came after; a directory removed lists what was removed in it. */
static void test_diff_between_two_snapshots(void **state) {
  (void)state;
  mnt m;
  mnt_open(&m, "diff-two");
  OK(cis_vfs_mkdirat(m.root, "d", 1));
  put_str(m.root, "d/a", "1");
  root_close(&m);
  uint64_t s1 = 0, s2 = 0;
  OK(cis_vfs_db_snapshot(m.fs, "one", &s1));
  root_open(&m);
  put_str(m.root, "b", "2");
  root_close(&m);
  OK(cis_vfs_db_snapshot(m.fs, "two", &s2));
  root_open(&m);
  put_str(m.root, "c", "3");
  OK(cis_vfs_unlinkat(m.root, "d/a", 3));
  OK(cis_vfs_rmdirat(m.root, "d", 1));
  root_close(&m);
  char got[4096];
  diff_text(&m, s1, s2, got, sizeof got);
  assert_string_equal(got, "A b");
  diff_text(&m, s2, 0, got, sizeof got);
  assert_string_equal(got, "A c;R d;R d/a");
  mnt_close(&m);
}

/* At most `max` changes are reported, and *truncated says more were
 * there; a callback returning non-zero stops it with CIS_ECANCELED. */
static void test_diff_is_bounded_and_can_stop(void **state) {
  (void)state;
  mnt m;
  mnt_open(&m, "diff-bound");
  root_close(&m);
  uint64_t snap = 0;
  OK(cis_vfs_db_snapshot(m.fs, "", &snap));
  root_open(&m);
  for (int i = 0; i < 30; i++) {
    char name[16];
    snprintf(name, sizeof name, "f%02d", i);
    put_str(m.root, name, "x");
  }
  root_close(&m);
  changes c = {0};
  size_t count = 0;
  bool trunc = false;
  OK(cis_vfs_db_diff(m.fs, snap, 0, 10, collect, &c, &count, &trunc));
  assert_int_equal(count, 10);
  assert_true(trunc);
  memset(&c, 0, sizeof c);
  OK(cis_vfs_db_diff(m.fs, snap, 0, 30, collect, &c, &count, &trunc));
  assert_int_equal(count, 30);
  assert_false(trunc);
  memset(&c, 0, sizeof c);
  c.stop_after = 3;
  assert_int_equal(cis_vfs_db_diff(m.fs, snap, 0, 0, collect, &c, &count, &trunc), CIS_ECANCELED);
  assert_int_equal(count, 3);
  mnt_close(&m);
}

/* Counts the changes of each kind, and checks no path comes twice. */
typedef struct tally {
  size_t added, modified, other; /* changes by kind */
  char last[64];                 /* the previous path (they come in order per phase) */
  size_t dup;                    /* a path equal to the one before */
} tally;

static int count_kinds(void *user, const cis_vfs_diff_entry *e) {
  tally *t = user;
  if (e->change == CIS_VFS_ADDED) t->added++;
  else if (e->change == CIS_VFS_MODIFIED) t->modified++;
  else t->other++;
  if (!strcmp(t->last, e->path)) t->dup++;
  snprintf(t->last, sizeof t->last, "%s", e->path);
  return 0;
}

/* More changes than one page of candidates (1024), of both phases: names
 * added, and files rewritten under the same name. Each is reported once. */
static void test_diff_pages_through_many_changes(void **state) {
  (void)state;
  enum { N = 1100 };
  mnt m;
  mnt_open(&m, "diff-pages");
  OK(cis_vfs_scope_begin(m.fs)); /* one transaction: quick on either database */
  for (int i = 0; i < N; i++) {
    char name[16];
    snprintf(name, sizeof name, "old%04d", i);
    put_str(m.root, name, "1");
  }
  OK(cis_vfs_scope_end(m.fs, true));
  root_close(&m);
  uint64_t snap = 0;
  OK(cis_vfs_db_snapshot(m.fs, "", &snap));
  root_open(&m);
  OK(cis_vfs_scope_begin(m.fs));
  for (int i = 0; i < N; i++) {
    char name[16];
    snprintf(name, sizeof name, "old%04d", i);
    put_str(m.root, name, "22");
    snprintf(name, sizeof name, "new%04d", i);
    put_str(m.root, name, "3");
  }
  OK(cis_vfs_scope_end(m.fs, true));
  root_close(&m);
  tally t = {0};
  size_t count = 0;
  bool trunc = true;
  OK(cis_vfs_db_diff(m.fs, snap, 0, 0, count_kinds, &t, &count, &trunc));
  assert_false(trunc);
  assert_int_equal(t.added, N);
  assert_int_equal(t.modified, N);
  assert_int_equal(t.other, 0);
  assert_int_equal(t.dup, 0);
  assert_int_equal(count, 2 * N);
  mnt_close(&m);
}

/* Refusals: layers that are not there or in the wrong order, no callback,
 * a mount that is not a database. */
static void test_diff_refuses_bad_arguments(void **state) {
  (void)state;
  mnt m;
  mnt_open(&m, "diff-args");
  root_close(&m);
  uint64_t snap = 0;
  OK(cis_vfs_db_snapshot(m.fs, "", &snap));
  changes c = {0};
  assert_int_equal(cis_vfs_db_diff(m.fs, snap, snap, 0, collect, &c, NULL, NULL), CIS_EINVAL);
  assert_int_equal(cis_vfs_db_diff(m.fs, snap + 1, snap, 0, collect, &c, NULL, NULL), CIS_EINVAL);
  assert_non_null(strstr(cis_vfs_errmsg(m.fs), "must be below"));
  assert_int_equal(cis_vfs_db_diff(m.fs, 999, 0, 0, collect, &c, NULL, NULL), CIS_ENOTFOUND);
  assert_int_equal(cis_vfs_db_diff(m.fs, UINT64_MAX, 0, 0, collect, &c, NULL, NULL), CIS_ENOTFOUND);
  assert_int_equal(cis_vfs_db_diff(m.fs, snap, 9999, 0, collect, &c, NULL, NULL), CIS_ENOTFOUND);
  assert_non_null(strstr(cis_vfs_errmsg(m.fs), "no layer 9999"));
  assert_int_equal(cis_vfs_db_diff(m.fs, 0, snap, 0, collect, &c, NULL, NULL), CIS_ENOTFOUND);
  assert_int_equal(cis_vfs_db_diff(m.fs, snap, 0, 0, NULL, NULL, NULL, NULL), CIS_EINVAL);
  cis_vfs_backend *b = NULL;
  cis_vfs *mem = NULL;
  OK(cis_vfs_mem_new(&b));
  OK(cis_vfs_mount(b, NULL, &mem));
  assert_int_equal(cis_vfs_db_diff(mem, 1, 0, 0, collect, &c, NULL, NULL), CIS_EUNSUPPORTED);
  cis_vfs_compact_stats st;
  assert_int_equal(cis_vfs_db_compact(mem, 0, &st), CIS_EUNSUPPORTED);
  cis_vfs_unmount(mem);
  mnt_close(&m);
}

/* ----------------------------------------------------------- compaction */

/* A whole tree as text: each path, kind and content (small files). */
static void dump(cis_vfs_file *dir, const char *prefix, char *out, size_t cap) {
  uint64_t cookie = 2;
  cis_vfs_dirent ent;
  char names[64][CIS_VFS_NAME_MAX + 1];
  size_t n = 0;
  while (n < 64 && cis_vfs_readdir(dir, cookie, &ent) == 0) {
    snprintf(names[n++], sizeof names[0], "%s", ent.name);
    cookie = ent.next;
  }
  qsort(names, n, sizeof names[0], cmp_line);
  for (size_t i = 0; i < n; i++) {
    cis_vfs_stat st;
    OK(cis_vfs_statat(dir, names[i], strlen(names[i]), 0, &st));
    char line[600];
    if (st.type == CIS_VFS_DIR) {
      /* A path past these buffers would be a test of names longer than
       * any it makes: failed, not cut. */
      if (snprintf(line, sizeof line, "%s%s/;", prefix, names[i]) >= (int)sizeof line)
        fail_msg("dump: %s%s too long", prefix, names[i]);
      strncat(out, line, cap - strlen(out) - 1);
      cis_vfs_file *sub = NULL;
      OK(cis_vfs_openat(dir, names[i], strlen(names[i]), CIS_VFS_READ | CIS_VFS_DIRECTORY, &sub));
      char p2[600];
      if (snprintf(p2, sizeof p2, "%s%s/", prefix, names[i]) >= (int)sizeof p2)
        fail_msg("dump: %s%s too long", prefix, names[i]);
      dump(sub, p2, out, cap);
      cis_vfs_close(sub);
    } else {
      cis_vfs_file *f = NULL;
      OK(cis_vfs_openat(dir, names[i], strlen(names[i]), CIS_VFS_READ, &f));
      char buf[80];
      size_t got = 0;
      OK(cis_vfs_pread(f, buf, sizeof buf - 1, 0, &got));
      cis_vfs_close(f);
      buf[got] = '\0';
      if (snprintf(line, sizeof line, "%s%s=%s(%llu);", prefix, names[i], buf,
                   (unsigned long long)st.size) >= (int)sizeof line)
        fail_msg("dump: %s%s too long", prefix, names[i]);
      strncat(out, line, cap - strlen(out) - 1);
    }
  }
}

static void tree(mnt *m, char *out, size_t cap) {
  out[0] = '\0';
  bool had = m->root != NULL;
  if (!had) root_open(m);
  dump(m->root, "", out, cap);
  if (!had) root_close(m);
}

/* Three layers of overwrites of a 64 KiB file; compacting below the middle
 * one frees the first layer's blocks it hides, keeps the middle and the
 * top as they were (rollback to the middle gives its tree back), drops the
 * layers below from the chain, and the rows the database lost are the
 * rows it reports. */
static void test_compact_frees_hidden_rows_and_keeps_kept_views(void **state) {
  (void)state;
  mnt m;
  mnt_open(&m, "compact");
  put_bytes(m.root, "big", 65536, 'a');
  put_str(m.root, "small", "one");
  OK(cis_vfs_mkdirat(m.root, "d", 1));
  put_str(m.root, "d/f", "f1");
  root_close(&m);
  uint64_t s1 = 0, s2 = 0;
  OK(cis_vfs_db_snapshot(m.fs, "s1", &s1));
  root_open(&m);
  put_bytes(m.root, "big", 65536, 'b');
  put_str(m.root, "small", "two");
  OK(cis_vfs_unlinkat(m.root, "d/f", 3));
  root_close(&m);
  OK(cis_vfs_db_snapshot(m.fs, "s2", &s2));
  char at_s2[4096], top_before[4096], top_after[4096], diff_before[4096], diff_after[4096];
  tree(&m, at_s2, sizeof at_s2);
  root_open(&m);
  put_bytes(m.root, "big", 65536, 'c');
  put_str(m.root, "small", "three");
  put_str(m.root, "temp", "made and removed in the top");
  OK(cis_vfs_unlinkat(m.root, "temp", 4));
  root_close(&m);
  tree(&m, top_before, sizeof top_before);
  diff_text(&m, s2, 0, diff_before, sizeof diff_before);

  int64_t before = all_rows(m.tenant), blocks_before = rows_of(m.tenant, "cis_vfs_blocks");
  cis_vfs_compact_stats st;
  OK(cis_vfs_db_compact(m.fs, s2, &st));
  int64_t after = all_rows(m.tenant);
  assert_int_equal((int64_t)st.rows, before - after);
  assert_true(rows_of(m.tenant, "cis_vfs_blocks") < blocks_before);
  /* s1's 64 KiB block of 'a' is hidden by s2's 'b'. */
  assert_true(st.data_bytes >= 65536);
  assert_int_equal(st.layers, s2 - 1); /* the base and s1 */
  /* Rule 2: d/f's whiteout (in s2) hid only s1's row, gone by rule 1;
   * rule 3: d/f's node, removed at s2, is gone whole. */
  char nm[400];
  assert_int_equal(sql_int("SELECT CAST(count(*) AS bigint) FROM cis_vfs_entries WHERE type=0 AND "
                           "tenant_id=(SELECT tenant_id FROM cis_vfs_tenants WHERE name=%s)",
                           name_sql(m.tenant, nm, sizeof nm)),
                   0);
  assert_int_equal(sql_int("SELECT CAST(count(*) AS bigint) FROM cis_vfs_inodes WHERE nlink=0 AND "
                           "tenant_id=(SELECT tenant_id FROM cis_vfs_tenants WHERE name=%s)",
                           name_sql(m.tenant, nm, sizeof nm)),
                   0);

  tree(&m, top_after, sizeof top_after);
  assert_string_equal(top_after, top_before);
  diff_text(&m, s2, 0, diff_after, sizeof diff_after);
  assert_string_equal(diff_after, diff_before);
  cis_vfs_layer *v = NULL;
  size_t n = 0;
  OK(cis_vfs_db_layers(m.fs, &v, &n));
  assert_int_equal(n, 2);
  assert_int_equal(v[0].id, s2);
  assert_int_equal(v[0].parent, 0);
  assert_true(v[1].writable);
  free(v);
  assert_int_equal(cis_vfs_db_rollback(m.fs, s1, 0), CIS_ENOTFOUND);
  OK(cis_vfs_db_rollback(m.fs, s2, 0));
  char back[4096];
  tree(&m, back, sizeof back);
  assert_string_equal(back, at_s2);
  /* A second compaction finds nothing more below s2. */
  OK(cis_vfs_db_compact(m.fs, s2, &st));
  assert_int_equal(st.layers, 0);
  assert_int_equal(st.data_bytes, 0);
  mnt_close(&m);
}

/* Compaction with keep_from 0 keeps every layer a rollback target: it
 * frees only what no view reaches (a file made and removed in the top,
 * a whiteout with nothing below), and every rollback still works. */
static void test_compact_default_keeps_every_layer(void **state) {
  (void)state;
  mnt m;
  mnt_open(&m, "compact-all");
  put_str(m.root, "a", "1");
  root_close(&m);
  uint64_t s1 = 0;
  OK(cis_vfs_db_snapshot(m.fs, "s1", &s1));
  char at_s1[4096];
  tree(&m, at_s1, sizeof at_s1);
  root_open(&m);
  put_str(m.root, "a", "2");
  put_bytes(m.root, "tmp", 5000, 't');
  OK(cis_vfs_unlinkat(m.root, "tmp", 3));
  root_close(&m);
  int64_t before = all_rows(m.tenant);
  cis_vfs_compact_stats st;
  OK(cis_vfs_db_compact(m.fs, 0, &st));
  assert_int_equal(st.layers, 0);
  assert_true(st.rows > 0); /* tmp's node, made and removed in the top */
  assert_int_equal((int64_t)st.rows, before - all_rows(m.tenant));
  root_open(&m);
  expect_str(m.root, "a", "2");
  assert_false(exists(m.root, "tmp"));
  root_close(&m);
  OK(cis_vfs_db_rollback(m.fs, s1, 0));
  char back[4096];
  tree(&m, back, sizeof back);
  assert_string_equal(back, at_s1);
  mnt_close(&m);
}

/* Compaction refuses while a file of the mount is open, and a layer that
 * is not there. */
static void test_compact_refusals(void **state) {
  (void)state;
  mnt m;
  mnt_open(&m, "compact-refuse");
  cis_vfs_compact_stats st;
  assert_int_equal(cis_vfs_db_compact(m.fs, 0, &st), CIS_ESTATE);
  root_close(&m);
  assert_int_equal(cis_vfs_db_compact(m.fs, 4242, &st), CIS_ENOTFOUND);
  OK(cis_vfs_db_compact(m.fs, 0, &st));
  mnt_close(&m);
}

/* --------------------------------------------------------------- tenants */

/* Deleting a tenant removes every row of it and none of another's; it is
 * then gone (a second delete: CIS_ENOTFOUND), and a new mount starts it
 * afresh, empty. */
static void test_tenant_delete_removes_only_that_tenant(void **state) {
  (void)state;
  mnt a, b;
  mnt_open(&a, "del-a");
  mnt_open(&b, "del-b");
  put_str(a.root, "f", "a's");
  put_bytes(a.root, "big", 200000, 'z');
  put_str(b.root, "f", "b's");
  root_close(&a);
  OK(cis_vfs_db_snapshot(a.fs, "s", NULL));
  char ta[160];
  snprintf(ta, sizeof ta, "%s", a.tenant);
  mnt_close(&a);
  int64_t b_rows = all_rows(b.tenant);
  assert_true(all_rows(ta) > 0);

  cis_vfs_db_config cfg;
  cfg_of(&cfg, ta);
  bool ex = false;
  OK(cis_vfs_db_tenant_exists(&cfg, &ex));
  assert_true(ex);
  OK(cis_vfs_db_tenant_delete(&cfg));
  assert_int_equal(all_rows(ta), 0);
  char n[400];
  assert_int_equal(sql_int("SELECT CAST(count(*) AS bigint) FROM cis_vfs_tenants WHERE name=%s",
                           name_sql(ta, n, sizeof n)),
                   0);
  assert_int_equal(all_rows(b.tenant), b_rows);
  expect_str(b.root, "f", "b's");
  OK(cis_vfs_db_tenant_exists(&cfg, &ex));
  assert_false(ex);
  assert_int_equal(cis_vfs_db_tenant_delete(&cfg), CIS_ENOTFOUND);
  assert_non_null(strstr(cis_errmsg(NULL), "no tenant")); /* no handle: the thread's */

  mnt_open(&a, "del-a");
  assert_false(exists(a.root, "f"));
  cis_vfs_layer *v = NULL;
  size_t nl = 0;
  OK(cis_vfs_db_layers(a.fs, &v, &nl));
  assert_int_equal(nl, 2);
  free(v);
  mnt_close(&a);
  mnt_close(&b);
}

/* A mount of a tenant deleted under it fails its next change with EIO
 * ("vanished"), not silently. */
static void test_tenant_deleted_under_a_mount(void **state) {
  (void)state;
  mnt m;
  mnt_open(&m, "del-under");
  put_str(m.root, "f", "x");
  cis_vfs_db_config cfg;
  cfg_of(&cfg, m.tenant);
  OK(cis_vfs_db_tenant_delete(&cfg));
  cis_vfs_file *f = NULL;
  int e = cis_vfs_openat(m.root, "g", 1, CIS_VFS_WRITE | CIS_VFS_CREAT, &f);
  assert_int_equal(e, EIO);
  assert_non_null(strstr(cis_vfs_errmsg(m.fs), "vanished"));
  mnt_close(&m);
}

/* Tenant calls on a database that cannot be reached: typed, with the
 * reason; a malformed spec is CIS_EINVAL. */
static void test_tenant_calls_on_a_dead_database(void **state) {
  (void)state;
  cis_vfs_db_config cfg;
  cfg_of(&cfg, "t");
  cfg.op_timeout_ms = 2000;
  if (g.kind == K_SQLITE) cfg.spec = "sqlite:/nonexistent-dir/for/cis/fs.db";
  else cfg.spec = "postgres:host=127.0.0.1 port=1 connect_timeout=2";
  bool ex = true;
  assert_int_equal(cis_vfs_db_tenant_exists(&cfg, &ex), CIS_EVFSDOWN);
  assert_false(ex);
  assert_int_equal(cis_vfs_db_tenant_delete(&cfg), CIS_EVFSDOWN);
  assert_true(strlen(cis_errmsg(NULL)) > 0);
  cfg.spec = "mysql:x";
  assert_int_equal(cis_vfs_db_tenant_delete(&cfg), CIS_EINVAL);
  assert_non_null(strstr(cis_errmsg(NULL), "mysql"));
  assert_int_equal(cis_vfs_db_tenant_exists(&cfg, &ex), CIS_EINVAL);
  assert_non_null(strstr(cis_errmsg(NULL), "mysql"));
  cfg.spec = g.spec;
  cfg.tenant = "";
  assert_int_equal(cis_vfs_db_tenant_exists(&cfg, &ex), CIS_EINVAL);
}

/* Another connection holding the tenant's lock (SQLite: the database's
 * write lock; PostgreSQL: the tenant's row) for as long as it lives. */
typedef struct locker {
  sqlite3 *db; /* SQLite */
  PGconn *pg;  /* PostgreSQL */
} locker;

static void lock_tenant(locker *l, const char *tenant) {
  memset(l, 0, sizeof *l);
  char n[400], q[600];
  if (g.kind == K_SQLITE) {
    assert_int_equal(sqlite3_open_v2(g.path, &l->db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    return;
  }
  l->pg = PQconnectdb(g.conninfo);
  if (PQstatus(l->pg) != CONNECTION_OK) fail_msg("connect: %s", PQerrorMessage(l->pg));
  snprintf(q, sizeof q, "BEGIN; SELECT 1 FROM cis_vfs_tenants WHERE name=%s FOR UPDATE",
           name_sql(tenant, n, sizeof n));
  PGresult *r = PQexec(l->pg, q);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s: %s", q, PQresultErrorMessage(r));
  PQclear(r);
}

static void unlock_tenant(locker *l) {
  if (l->db) sqlite3_close(l->db); /* rolls the transaction back */
  if (l->pg) PQfinish(l->pg);
  memset(l, 0, sizeof *l);
}

/* A compaction or a tenant's deletion that cannot get the tenant's lock
 * within its time budget fails typed (CIS_EVFSDOWN) and changes nothing;
 * once the lock is free both work (on a mount with the usual budget: the
 * short one, spent on a reconnect and its statements under a sanitizer
 * on a loaded machine, failed a compact that had nothing to wait for). */
static void test_compact_and_delete_wait_for_the_tenants_lock(void **state) {
  (void)state;
  mnt m;
  mnt_open_ms(&m, "locked", 500);
  put_str(m.root, "f", "x");
  OK(cis_vfs_unlinkat(m.root, "f", 1)); /* something to compact */
  root_close(&m);
  int64_t before = all_rows(m.tenant);
  locker l;
  lock_tenant(&l, m.tenant);
  cis_vfs_compact_stats st;
  assert_int_equal(cis_vfs_db_compact(m.fs, 0, &st), CIS_EVFSDOWN);
  char tenant[160];
  snprintf(tenant, sizeof tenant, "%s", m.tenant);
  cis_vfs_db_config cfg;
  cfg_of(&cfg, tenant);
  cfg.op_timeout_ms = 500;
  assert_int_equal(cis_vfs_db_tenant_delete(&cfg), CIS_EVFSDOWN);
  unlock_tenant(&l);
  assert_int_equal(all_rows(m.tenant), before);
  mnt_close(&m);
  mnt_open(&m, "locked");
  root_close(&m);
  OK(cis_vfs_db_compact(m.fs, 0, &st));
  assert_true(st.rows > 0);
  root_open(&m);
  put_str(m.root, "g", "after");
  expect_str(m.root, "g", "after");
  mnt_close(&m);
  cfg_of(&cfg, tenant); /* the usual budget */
  OK(cis_vfs_db_tenant_delete(&cfg));
}

/* ------------------------------------------------------ directory times */

static uint64_t mtime_of(cis_vfs_file *dir, const char *path) {
  cis_vfs_stat st;
  OK(cis_vfs_statat(dir, path, strlen(path), 0, &st));
  return st.mtim;
}

/* Sets a directory's times far in the past, so any change is "later"
 * without a clock in the test. */
static void age(cis_vfs_file *dir, const char *path) {
  OK(cis_vfs_set_timesat(dir, path, strlen(path), CIS_VFS_ATIM | CIS_VFS_MTIM, 1000, 1000));
  assert_int_equal(mtime_of(dir, path), 1000);
}

/* A directory's mtime moves when a file, directory or symlink is made in
 * it, when a name is removed from it, and for both directories of a
 * rename; a write to a file in it does not move it. */
static void test_directory_mtime_moves_on_create_remove_rename(void **state) {
  (void)state;
  mnt m;
  mnt_open(&m, "dir-mtime");
  OK(cis_vfs_mkdirat(m.root, "d", 1));
  OK(cis_vfs_mkdirat(m.root, "e", 1));
  age(m.root, "d");
  put_str(m.root, "d/f", "x");
  assert_true(mtime_of(m.root, "d") > 1000);
  age(m.root, "d");
  cis_vfs_file *f = NULL;
  OK(cis_vfs_openat(m.root, "d/f", 3, CIS_VFS_WRITE, &f));
  size_t n = 0;
  OK(cis_vfs_pwrite(f, "yy", 2, 0, &n));
  cis_vfs_close(f);
  assert_int_equal(mtime_of(m.root, "d"), 1000);
  OK(cis_vfs_mkdirat(m.root, "d/sub", 5));
  assert_true(mtime_of(m.root, "d") > 1000);
  age(m.root, "d");
  OK(cis_vfs_symlinkat("f", 1, m.root, "d/l", 3));
  assert_true(mtime_of(m.root, "d") > 1000);
  age(m.root, "d");
  OK(cis_vfs_unlinkat(m.root, "d/l", 3));
  assert_true(mtime_of(m.root, "d") > 1000);
  age(m.root, "d");
  OK(cis_vfs_rmdirat(m.root, "d/sub", 5));
  assert_true(mtime_of(m.root, "d") > 1000);
  age(m.root, "d");
  age(m.root, "e");
  OK(cis_vfs_renameat(m.root, "d/f", 3, m.root, "e/g", 3));
  assert_true(mtime_of(m.root, "d") > 1000);
  assert_true(mtime_of(m.root, "e") > 1000);
  /* In a lower layer too: the change copies the directory up. */
  cis_vfs_close(m.root);
  m.root = NULL;
  OK(cis_vfs_db_snapshot(m.fs, "", NULL));
  root_open(&m);
  age(m.root, "e");
  OK(cis_vfs_unlinkat(m.root, "e/g", 3));
  assert_true(mtime_of(m.root, "e") > 1000);
  mnt_close(&m);
}

/* A guest that reads directory d's mtime through path_filestat_get
 * (fd 3, the preopened root), creates d/f with path_open, and reads it
 * again. Exit 0: it was 1000 (the host aged it) and then later; 1: not
 * 1000 first; 2: did not move; 3+: a call failed. */
static const char guest_wat[] =
    "(module\n"
    "  (import \"wasi_snapshot_preview1\" \"path_filestat_get\"\n"
    "    (func $stat (param i32 i32 i32 i32 i32) (result i32)))\n"
    "  (import \"wasi_snapshot_preview1\" \"path_open\"\n"
    "    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))\n"
    "  (import \"wasi_snapshot_preview1\" \"proc_exit\" (func $exit (param i32)))\n"
    "  (memory (export \"memory\") 1)\n"
    "  (data (i32.const 0) \"d/f\")\n"
    "  (func (export \"_start\") (local $before i64)\n"
    "    (if (call $stat (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 64))\n"
    "      (then (call $exit (i32.const 3))))\n"
    "    (local.set $before (i64.load (i32.const 112)))\n" /* 64 + 48: mtim */
    "    (if (i64.ne (local.get $before) (i64.const 1000)) (then (call $exit (i32.const 1))))\n"
    "    (if (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 3) (i32.const 1)\n"
    "                    (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 200))\n"
    "      (then (call $exit (i32.const 4))))\n"
    "    (if (call $stat (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 64))\n"
    "      (then (call $exit (i32.const 5))))\n"
    "    (if (i64.le_u (i64.load (i32.const 112)) (local.get $before))\n"
    "      (then (call $exit (i32.const 2))))\n"
    "    (call $exit (i32.const 0))))\n";

/* WASI sees a directory's moving mtime: path_filestat_get before and
 * after a path_open(O_CREAT) in it. */
static void test_wasi_sees_directory_mtime_move(void **state) {
  (void)state;
  mnt m;
  mnt_open(&m, "wasi-mtime");
  OK(cis_vfs_mkdirat(m.root, "d", 1));
  age(m.root, "d");
  root_close(&m);
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  cis_module *mod = NULL;
  cis_result rc = cis_module_new_text(e, guest_wat, sizeof guest_wat - 1, &mod);
  if (rc != CIS_OK) fail_msg("guest: %s", cis_errmsg(e));
  cis_wasi_config c;
  cis_wasi_config_default(&c);
  cis_wasi *w = NULL;
  assert_int_equal(cis_wasi_new(&c, &w), CIS_OK);
  assert_int_equal(cis_wasi_preopen(w, m.fs, "/"), CIS_OK);
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_wasi_add_imports(w, im), CIS_OK);
  cis_limits lim;
  cis_limits_default(&lim);
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, im, &lim, &inst), CIS_OK);
  int code = -1;
  assert_int_equal(cis_wasi_run(w, inst, &code), CIS_OK);
  assert_int_equal(code, 0);
  cis_instance_free(inst);
  cis_imports_free(im);
  cis_wasi_free(w);
  cis_module_free(mod);
  cis_engine_free(e);
  root_open(&m);
  assert_true(exists(m.root, "d/f"));
  mnt_close(&m);
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s sqlite WORKDIR | postgres CONNSTR_FILE\n", argv[0]);
    return 2;
  }
  snprintf(g.run, sizeof g.run, "layers%ld-%ld", (long)getpid(), (long)time(NULL) % 100000);
  if (getenv("CIS_VFSDB_FILTER")) cmocka_set_test_filter(getenv("CIS_VFSDB_FILTER"));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_diff_reports_each_kind_of_change),
      cmocka_unit_test(test_diff_between_two_snapshots),
      cmocka_unit_test(test_diff_is_bounded_and_can_stop),
      cmocka_unit_test(test_diff_pages_through_many_changes),
      cmocka_unit_test(test_diff_refuses_bad_arguments),
      cmocka_unit_test(test_compact_frees_hidden_rows_and_keeps_kept_views),
      cmocka_unit_test(test_compact_default_keeps_every_layer),
      cmocka_unit_test(test_compact_refusals),
      cmocka_unit_test(test_tenant_delete_removes_only_that_tenant),
      cmocka_unit_test(test_tenant_deleted_under_a_mount),
      cmocka_unit_test(test_tenant_calls_on_a_dead_database),
      cmocka_unit_test(test_compact_and_delete_wait_for_the_tenants_lock),
      cmocka_unit_test(test_directory_mtime_moves_on_create_remove_rename),
      cmocka_unit_test(test_wasi_sees_directory_mtime_move),
  };
  if (strcmp(argv[1], "sqlite") == 0) {
    g.kind = K_SQLITE;
    mkdir(argv[2], 0755);
    snprintf(g.path, sizeof g.path, "%s/vfsdb-layers.db", argv[2]);
    char p[1100];
    unlink(g.path);
    snprintf(p, sizeof p, "%s-wal", g.path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", g.path);
    unlink(p);
    snprintf(g.spec, sizeof g.spec, "sqlite:%s", g.path);
    return cmocka_run_group_tests_name("layers on sqlite", tests, NULL, NULL) ? 1 : 0;
  }
  if (strcmp(argv[1], "postgres") == 0) {
    g.kind = K_POSTGRES;
    int rc = cis_test_read_connstr(argv[2], g.conninfo, sizeof g.conninfo);
    if (rc) return rc;
    snprintf(g.spec, sizeof g.spec, "postgres:%s", g.conninfo);
    return cmocka_run_group_tests_name("layers on postgres", tests, NULL, NULL) ? 1 : 0;
  }
  fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
