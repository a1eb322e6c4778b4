/*
 * This file implements the tests of one transaction for a skill call's KV
 * writes and file changes when the KV store and the db mounts are one
 * database (the call's transaction, src/db/db_txn.h, which KV offers and
 * the mounts join: src/kv/kv_call.h, src/vfs/vfs_call.h; docs/dbfs.md,
 * "One unit"), on SQLite or on PostgreSQL:
 *   - a mount joined to a transaction someone else holds open commits and
 *     rolls back with it, and the join refuses what it cannot do; a bind
 *     joins only a writable db mount on the transaction's database;
 *   - same database or not: the same SQLite file whatever its path, the
 *     same PostgreSQL connection string;
 *   - a call that traps leaves files and KV as before;
 *   - a KV failure injected at every backend step of a call in turn never
 *     leaves the files committed and the KV not (it does, once, with two
 *     databases: the documented ordered commit);
 *   - processes killed (SIGKILL) at random points of such calls, many
 *     times: files and KV are always both before or both after;
 *   - two threads calling at once: each call lands whole or fails typed;
 *   - a call waiting behind one that holds the lock ends at its own
 *     deadline, counted from its start.
 *
 * argv: sqlite WORKDIR unit.wasm | postgres CONNSTR_FILE unit.wasm WORKDIR
 */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cis/cis_kv.h"
#include "cis/cis_skill.h"
#include "cis/cis_vfs.h"
#include "common/callctx.h"
#include "common/internal.h"
#include "db/db_txn.h"
#include "db/db_conn_pg.h"
#include "kv/kv_call.h"
#include "skill/registry_internal.h"
#include "skill/skill_internal.h"
#include "support/pg_connstr.h"
#include "support/skill_host.h"
#include "vfs/vfs_call.h"
#include "vfs/vfs_internal.h"
#include "support/test_clock.h"
#include "kv/kv_testing.h"

static bool pg;               /* the PostgreSQL run */
static char conninfo[1024];   /* its connection string */
static const char *work;      /* scratch folder */
static char unit_dir[1024];   /* the folder of unit.wasm (tests/skillfs/unit.c) */
static const char *unit_file; /* its name, kept in unit_dir after the folder's NUL */

/* A name unique to this run, so runs on the shared server do not meet. */
static const char *uniq(const char *name) {
  static char buf[8][128];
  static int k;
  char *b = buf[k++ % 8];
  snprintf(b, sizeof buf[0], "%s-%ld-%d", name, (long)getpid(), (int)time(NULL) % 100000);
  return b;
}

/* Makes the home work/NAME (home, hcap bytes) and gives the spec of the
 * database its KV and files share (spec, scap bytes): SQLite, a file in
 * that home; PostgreSQL, the server. */
static void db_home(const char *name, char *home, size_t hcap, char *spec, size_t scap) {
  snprintf(home, hcap, "%s/%s", work, name);
  mkdir(home, 0755);
  if (pg) snprintf(spec, scap, "postgres:%s", conninfo);
  else snprintf(spec, scap, "sqlite:%s/shared.db", home);
}

typedef struct host {
  char home[1024];
  char kv_spec[1200];
  char fs_spec[1200];
  cis_kv *kv;          /* ours, so faults can be injected */
  cis_skills *s;
  char tenant[128];
} host;

/* The KV store's pool size for the next host_open (0: the default). */
static uint32_t host_kv_connections;

/* Opens a host in work/NAME whose KV and filesystem are one database
 * (shared) or two (KV in a SQLite file of its own). */
static void host_open(host *h, const char *name, bool shared, const char *tenant) {
  db_home(name, h->home, sizeof h->home, h->fs_spec, sizeof h->fs_spec);
  if (shared) snprintf(h->kv_spec, sizeof h->kv_spec, "%s", h->fs_spec);
  else snprintf(h->kv_spec, sizeof h->kv_spec, "sqlite:%s/kv-apart.db", h->home);
  snprintf(h->tenant, sizeof h->tenant, "%s", tenant);
  cis_kv_config kc;
  cis_kv_config_default(&kc);
  kc.spec = h->kv_spec;
  kc.max_connections = host_kv_connections;
  if (cis_kv_open(&kc, &h->kv) != CIS_OK) fail_msg("kv open: %s", cis_kv_errmsg(h->kv));
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = h->home;
  c.kv = h->kv;
  c.vfs_db_spec = h->fs_spec;
  if (cis_skills_open(&c, &h->s) != CIS_OK) fail_msg("cis_skills_open: %s", cis_skills_errmsg(h->s));
  cis_test_install(h->s, unit_dir, unit_file, "unit",
                   "\"abi\":\"wasi\",\"permissions\":{\"kv\":{\"namespace\":\"unit\"},"
                   "\"fs\":{\"mounts\":[{\"guest\":\"/w\",\"type\":\"db\"}]}}");
}

static void host_close(host *h) {
  cis_skills_close(h->s);
  cis_kv_close(h->kv);
  h->s = NULL;
  h->kv = NULL;
}

/* Runs unit with input `in`; returns the status, the output (or error) in out. */
static cis_result unit_run(cis_skills *s, const char *tenant, const char *in, char *out, size_t cap) {
  cis_invoke_options o = {.tenant = tenant};
  cis_invoke_result r;
  cis_result rc = cis_skills_invoke(s, "unit", in, strlen(in), &o, &r);
  /* Cut to cap on purpose: the outputs compared are short, and an error
   * (up to 511 bytes) is shown as far as it fits. */
  const char *t = rc == CIS_OK ? r.output : r.error;
  size_t n = t ? strnlen(t, cap - 1) : 0;
  if (n) memcpy(out, t, n);
  out[n] = 0;
  cis_invoke_result_free(&r);
  return rc;
}

/* Writes value v into /w/f0../w/f(n-1) and the KV key, trapping after. */
static cis_result unit_write(host *h, int n, long v, bool trap, char *out, size_t cap) {
  char in[160];
  snprintf(in, sizeof in, "{\"dir\":\"/w\",\"n\":%d,\"v\":%ld,\"trap\":%d}", n, v, trap ? 1 : 0);
  return unit_run(h->s, h->tenant, in, out, cap);
}

/* The KV value and the files' common value (fails when the files differ
 * or one is torn); -1 for none. */
static void unit_state_of(cis_skills *s, const char *tenant, int n, long *kv, long *files) {
  char in[128], out[2048];
  snprintf(in, sizeof in, "{\"read\":1,\"dir\":\"/w\",\"n\":%d}", n);
  cis_result rc = unit_run(s, tenant, in, out, sizeof out);
  if (rc != CIS_OK) fail_msg("unit read: %s: %s", cis_errname(rc), out);
  const char *k = strstr(out, "\"kv\":\"");
  assert_non_null(k);
  *kv = k[6] == '-' ? -1 : strtol(k + 6, NULL, 10);
  const char *p = strstr(out, "[\"");
  assert_non_null(p);
  long f0 = p[2] == '-' ? -1 : strtol(p + 2, NULL, 10);
  for (int i = 0; i < n; i++) {
    assert_non_null(p = strchr(p, '"'));
    long fi = p[1] == '-' ? -1 : strtol(p + 1, NULL, 10);
    if (fi != f0) fail_msg("files differ: %s", out);
    p = strchr(p + 1, '"') + 1;
  }
  *files = f0;
}

static void unit_state(host *h, int n, long *kv, long *files) { unit_state_of(h->s, h->tenant, n, kv, files); }

/* ------------------------------------------------- the join, below skills */

/* The owner of a transaction of the test's own, on a connection of the
 * database layer (db/db_conn.h) to the file or the server; it offers
 * the call's transaction its database when it begins, and ends it before
 * its COMMIT or ROLLBACK, as the KV store does. */
typedef struct owner {
  cis__db_conn *conn;
  sqlite3 *db;                            /* its handle, on SQLite */
  PGconn *pq;                             /* its handle, on PostgreSQL */
  cis__db_txn *txn;                       /* the call's transaction it offers */
  cis__db_spec spec;                      /* its database */
  cis_result fail;                        /* what its opening fails with (CIS_OK: none) */
} owner;

static cis_result owner_give(void *user, cis__db_conn **conn, char *err, size_t cap) {
  owner *o = user;
  if (o->fail != CIS_OK) {
    snprintf(err, cap, "owner: the lock stayed busy");
    return o->fail;
  }
  *conn = o->conn;
  return CIS_OK;
}

static void owner_open(owner *o, const char *spec) {
  memset(o, 0, sizeof *o);
  if (pg) {
    assert_int_equal(cis__db_conn_new_pg(conninfo, NULL, &o->conn), CIS_OK);
    cis__pgwire_report rep;
    if (cis__db_conn_connect(o->conn, cis__now_ns() + 10000000000ull, &rep) != CIS__PGWIRE_DONE)
      fail_msg("connect: %s", rep.msg);
    o->pq = cis__db_conn_pg(o->conn);
  } else {
    assert_int_equal(cis__db_conn_open_sqlite(spec + 7, NULL, UINT64_MAX, &o->conn), SQLITE_OK);
    o->db = cis__db_conn_sqlite(o->conn);
    cis__db_conn_arm(o->conn, cis__now_ns() + 10000000000ull); /* its lock waits */
  }
  assert_int_equal(cis__db_spec_parse(spec, CIS__DB_NO_DEFAULT, &o->spec, NULL, 0), CIS_OK);
  assert_int_equal(cis__db_txn_new(&o->txn), CIS_OK);
}

static void owner_exec(owner *o, const char *sql) {
  if (pg) {
    PGresult *r = PQexec(o->pq, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s: %s", sql, PQerrorMessage(o->pq));
    PQclear(r);
  } else if (sqlite3_exec(o->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
    fail_msg("%s: %s", sql, sqlite3_errmsg(o->db));
  }
}

static void owner_offer(owner *o) { assert_int_equal(cis__db_txn_offer(o->txn, &o->spec, owner_give, o), CIS_OK); }

/* BEGIN, and the offer. */
static void owner_begin(owner *o) {
  owner_exec(o, pg ? "BEGIN" : "BEGIN IMMEDIATE");
  owner_offer(o);
}

/* The end (the members leave), then sql: COMMIT or ROLLBACK. */
static void owner_end(owner *o, const char *sql) {
  cis__db_txn_end(o->txn);
  owner_exec(o, sql);
}

static void owner_close(owner *o) {
  cis__db_txn_free(o->txn);
  cis__db_conn_close(o->conn);
}

static cis_result owner_join(owner *o, cis_vfs *fs) { return cis__vfs_db_join(fs, o->txn); }

static cis_vfs *mount_tree(const char *spec, const char *tenant) {
  cis_vfs_db_config dc;
  cis_vfs_db_config_default(&dc);
  dc.spec = spec;
  dc.tenant = tenant;
  cis_vfs_backend *b = NULL;
  if (cis_vfs_db_new(&dc, &b) != CIS_OK) fail_msg("db new: %s", b ? b->errmsg : "");
  cis_vfs *fs = NULL;
  cis_vfs_options opts = {0};
  assert_int_equal(cis_vfs_mount(b, &opts, &fs), CIS_OK);
  return fs;
}

static int put_file(cis_vfs *fs, const char *name, const char *text) {
  cis_vfs_file *root = NULL, *f = NULL;
  int e = cis_vfs_open_root(fs, &root);
  if (!e) e = cis_vfs_openat(root, name, strlen(name), CIS_VFS_WRITE | CIS_VFS_CREAT, &f);
  size_t put = 0;
  if (!e) e = cis_vfs_pwrite(f, text, strlen(text), 0, &put);
  if (f) cis_vfs_close(f);
  if (root) cis_vfs_close(root);
  return e;
}

static bool has_file(cis_vfs *fs, const char *name) {
  cis_vfs_file *root = NULL;
  cis_vfs_stat st;
  assert_int_equal(cis_vfs_open_root(fs, &root), 0);
  int e = cis_vfs_statat(root, name, strlen(name), 0, &st);
  cis_vfs_close(root);
  return e == 0;
}

/* A mount joined to a transaction the test holds: its scope's end
 * writes, the holder's ROLLBACK drops the file, its COMMIT lands it; and
 * another mount sees nothing before that COMMIT. */
static void joined_scope_commits_and_rolls_back_with_owner(void **state) {
  (void)state;
  char home[1100], spec[1200];
  db_home("joinlow", home, sizeof home, spec, sizeof spec);
  const char *tenant = uniq("joinlow");
  cis_vfs *fs = mount_tree(spec, tenant);
  cis_vfs *other = mount_tree(spec, tenant);
  owner o;
  owner_open(&o, spec);
  for (int commit = 0; commit < 2; commit++) {
    const char *name = commit ? "kept" : "dropped";
    owner_begin(&o);
    assert_int_equal(cis_vfs_scope_begin(fs), CIS_OK);
    assert_int_equal(owner_join(&o, fs), CIS_OK);
    assert_true(cis__vfs_db_joined(fs));
    assert_int_equal(put_file(fs, name, "x"), 0);
    assert_true(has_file(fs, name)); /* read-your-writes, inside the owner's transaction */
    assert_int_equal(cis_vfs_scope_end(fs, true), CIS_OK);
    assert_false(cis__vfs_db_joined(fs));
    assert_false(has_file(other, name)); /* not before the owner commits */
    owner_end(&o, commit ? "COMMIT" : "ROLLBACK");
    assert_int_equal(has_file(other, name), commit == 1);
    assert_int_equal(has_file(fs, name), commit == 1); /* back on its own connection */
  }
  /* A scope made to leave before its end (the owner's end, about to roll
   * back) fails. */
  owner_begin(&o);
  assert_int_equal(cis_vfs_scope_begin(fs), CIS_OK);
  assert_int_equal(owner_join(&o, fs), CIS_OK);
  assert_int_equal(put_file(fs, "left", "x"), 0);
  cis__db_txn_end(o.txn);
  assert_false(cis__vfs_db_joined(fs));
  owner_exec(&o, "ROLLBACK");
  assert_int_not_equal(cis_vfs_scope_end(fs, true), CIS_OK);
  assert_false(has_file(other, "left"));
  /* The mount's next commit, on its own connection, carries nothing of
   * the scope left (a creation's rows wait for their commit). */
  assert_int_equal(put_file(fs, "after", "y"), 0);
  assert_true(has_file(other, "after"));
  assert_false(has_file(other, "left"));
  cis__db_txn_end(o.txn); /* ended already: nothing happens */
  owner_close(&o);
  cis_vfs_unmount(other);
  cis_vfs_unmount(fs);
}

/* The join refuses: no scope, a scope that already changed something, a
 * transaction of another dialect or database, one nobody offered (an
 * embedder's KV), a second join, a mount that is not a db mount, an
 * owner whose opening fails. Each leaves the mount working on its own
 * connection. */
static void join_refusals_are_typed(void **state) {
  (void)state;
  char home[1100], spec[1200], other[1300];
  db_home("joinref", home, sizeof home, spec, sizeof spec);
  cis_vfs *fs = mount_tree(spec, uniq("joinref"));
  owner o, x;
  owner_open(&o, spec);
  assert_int_equal(owner_join(&o, fs), CIS_EINVAL); /* no scope */
  assert_int_equal(cis_vfs_scope_begin(fs), CIS_OK);
  assert_int_equal(cis__vfs_db_join(fs, NULL), CIS_EINVAL);
  assert_int_equal(owner_join(&o, fs), CIS_EUNSUPPORTED); /* nothing offered */
  /* Another dialect, another database. */
  owner_open(&x, spec);
  if (pg) {
    snprintf(other, sizeof other, "sqlite:%s/foreign.db", home);
    fclose(fopen(other + 7, "a")); /* a file has an identity once it is there */
  } else {
    snprintf(other, sizeof other, "postgres:host=127.0.0.1 dbname=joinref");
  }
  assert_int_equal(cis__db_spec_parse(other, CIS__DB_NO_DEFAULT, &x.spec, NULL, 0), CIS_OK);
  assert_int_equal(cis__db_txn_offer(x.txn, &x.spec, owner_give, &x), CIS_OK);
  assert_int_equal(cis__vfs_db_join(fs, x.txn), CIS_EINVAL);
  if (!strstr(cis_vfs_errmsg(fs), "cannot join a")) fail_msg("\"%s\"", cis_vfs_errmsg(fs));
  cis__db_txn_end(x.txn);
  if (pg) {
    snprintf(other, sizeof other, "postgres:%s application_name=other", conninfo);
  } else {
    snprintf(other, sizeof other, "sqlite:%s/other.db", home);
    fclose(fopen(other + 7, "a"));
  }
  assert_int_equal(cis__db_spec_parse(other, CIS__DB_NO_DEFAULT, &x.spec, NULL, 0), CIS_OK);
  assert_int_equal(cis__db_txn_offer(x.txn, &x.spec, owner_give, &x), CIS_OK);
  assert_int_equal(cis__vfs_db_join(fs, x.txn), CIS_EINVAL);
  if (!strstr(cis_vfs_errmsg(fs), "another database")) fail_msg("\"%s\"", cis_vfs_errmsg(fs));
  owner_close(&x);
  /* The owner's opening fails: its code, in its words. */
  owner_begin(&o);
  o.fail = CIS_ETIMEOUT;
  assert_int_equal(owner_join(&o, fs), CIS_ETIMEOUT);
  if (!strstr(cis_vfs_errmsg(fs), "owner: the lock stayed busy")) fail_msg("\"%s\"", cis_vfs_errmsg(fs));
  o.fail = CIS_OK;
  owner_end(&o, "ROLLBACK");
  assert_false(cis__vfs_db_joined(fs));
  assert_int_equal(put_file(fs, "a", "1"), 0); /* the scope holds the write lock now */
  owner_offer(&o);
  assert_int_equal(owner_join(&o, fs), CIS_EINVAL); /* a change is made: too late */
  cis__db_txn_end(o.txn);
  assert_false(cis__vfs_db_joined(fs));
  assert_int_equal(cis_vfs_scope_end(fs, true), CIS_OK);
  assert_true(has_file(fs, "a"));
  owner_begin(&o);
  assert_int_equal(cis_vfs_scope_begin(fs), CIS_OK);
  assert_int_equal(owner_join(&o, fs), CIS_OK);
  assert_int_equal(owner_join(&o, fs), CIS_EINVAL); /* already joined */
  assert_true(cis__vfs_db_joined(fs));
  assert_int_equal(cis_vfs_scope_end(fs, false), CIS_OK);
  owner_end(&o, "ROLLBACK");
  cis_vfs_backend *mb = NULL;
  assert_int_equal(cis_vfs_mem_new(&mb), CIS_OK);
  cis_vfs *mem = NULL;
  cis_vfs_options opts = {0};
  assert_int_equal(cis_vfs_mount(mb, &opts, &mem), CIS_OK);
  assert_int_equal(cis_vfs_scope_begin(mem), CIS_OK);
  owner_begin(&o);
  assert_int_equal(owner_join(&o, mem), CIS_EINVAL);
  owner_end(&o, "ROLLBACK");
  cis_vfs_unmount(mem);
  owner_close(&o);
  cis_vfs_unmount(fs);
}

/* A call's mounts bound to its context (cis__vfs_bind_call): a writable db
 * mount on the transaction's database joins it; a read-only one, one on
 * another database, a memory mount and a context without a transaction
 * bind without joining; a join that fails is the bind's error, in the
 * mount's message. */
static void bind_joins_writable_db_mounts_of_its_database(void **state) {
  (void)state;
  char home[1100], spec[1200], other[1300];
  db_home("bind", home, sizeof home, spec, sizeof spec);
  const char *tenant = uniq("bind");
  if (pg) snprintf(other, sizeof other, "postgres:%s application_name=other", conninfo);
  else snprintf(other, sizeof other, "sqlite:%s/other.db", home);
  /* apart: another tree too, as on PostgreSQL it is the same server. */
  cis_vfs *rw = mount_tree(spec, tenant), *apart = mount_tree(other, uniq("bind-apart")), *ro = NULL, *mem = NULL;
  cis_vfs_db_config dc;
  cis_vfs_db_config_default(&dc);
  dc.spec = spec;
  dc.tenant = tenant;
  cis_vfs_backend *b = NULL;
  assert_int_equal(cis_vfs_db_new(&dc, &b), CIS_OK);
  cis_vfs_options ro_opts = {.read_only = true}, opts = {0};
  assert_int_equal(cis_vfs_mount(b, &ro_opts, &ro), CIS_OK);
  assert_int_equal(cis_vfs_mem_new(&b), CIS_OK);
  assert_int_equal(cis_vfs_mount(b, &opts, &mem), CIS_OK);
  cis_vfs *all[] = {rw, apart, ro, mem};
  owner o;
  owner_open(&o, spec);
  cis__callctx x;
  cis__callctx_init(&x, UINT64_MAX, NULL);
  for (size_t i = 0; i < 4; i++) assert_int_equal(cis__vfs_bind_call(all[i], &x), CIS_OK); /* no txn */
  assert_false(cis__vfs_db_joined(rw));
  x.txn = o.txn;
  owner_begin(&o);
  assert_int_equal(cis__vfs_bind_call(rw, &x), CIS_EINVAL); /* no scope open */
  if (!strstr(cis_vfs_errmsg(rw), "cannot join the call's transaction")) fail_msg("\"%s\"", cis_vfs_errmsg(rw));
  for (size_t i = 0; i < 4; i++) assert_int_equal(cis_vfs_scope_begin(all[i]), CIS_OK);
  for (size_t i = 0; i < 4; i++) assert_int_equal(cis__vfs_bind_call(all[i], &x), CIS_OK);
  assert_true(cis__vfs_db_joined(rw));
  assert_false(cis__vfs_db_joined(apart));
  assert_false(cis__vfs_db_joined(ro));
  assert_int_equal(put_file(rw, "joined", "x"), 0);
  assert_int_equal(put_file(apart, "apart", "x"), 0);
  for (size_t i = 0; i < 4; i++) assert_int_equal(cis_vfs_scope_end(all[i], true), CIS_OK);
  assert_true(has_file(apart, "apart")); /* its own commit */
  assert_false(has_file(ro, "joined"));  /* not before the owner's */
  owner_end(&o, "COMMIT");
  assert_true(has_file(ro, "joined"));
  for (size_t i = 0; i < 4; i++) cis_vfs_unmount(all[i]);
  owner_close(&o);
}

/* One database or two, as the call's transaction sees it once KV offered
 * it: the same SQLite file under another path is one; another file, a
 * file not made yet, or another scheme are not; on PostgreSQL the
 * connection string, whichever prefix names it. */
static bool kv_same(cis_kv *kv, const char *vfs_spec) {
  cis__callctx x;
  cis_principal ns = {"samedb", "s"};
  cis__callctx_init(&x, UINT64_MAX, &ns);
  assert_int_equal(cis__db_txn_new(&x.txn), CIS_OK);
  cis_kv_txn *t = NULL;
  assert_int_equal(cis__kv_begin_in(kv, &ns, &x, &t), CIS_OK);
  cis__db_spec f;
  bool same = cis__db_spec_parse(vfs_spec, CIS__DB_NO_DEFAULT, &f, NULL, 0) == CIS_OK && cis__db_txn_same(x.txn, &f);
  cis_kv_rollback(t);
  cis__db_txn_free(x.txn);
  return same;
}

static void same_db_compares_files_and_connection_strings(void **state) {
  (void)state;
  host h;
  host_open(&h, "samedb", true, uniq("samedb"));
  char spec[1300];
  if (pg) {
    assert_true(kv_same(h.kv, h.fs_spec));
    snprintf(spec, sizeof spec, "postgresql:%s", conninfo);
    assert_true(kv_same(h.kv, spec));
    snprintf(spec, sizeof spec, "postgres:%s application_name=other", conninfo);
    assert_false(kv_same(h.kv, spec));
    snprintf(spec, sizeof spec, "sqlite:%s/shared.db", h.home);
    assert_false(kv_same(h.kv, spec));
  } else {
    char link[1200];
    snprintf(link, sizeof link, "%s/link.db", h.home);
    unlink(link);
    assert_int_equal(symlink(h.fs_spec + 7, link), 0);
    snprintf(spec, sizeof spec, "sqlite:%s", link);
    assert_true(kv_same(h.kv, spec)); /* another name, the same file */
    snprintf(spec, sizeof spec, "sqlite:%s/../%s/shared.db", h.home, "samedb");
    assert_true(kv_same(h.kv, spec));
    snprintf(spec, sizeof spec, "sqlite:%s/other.db", h.home);
    unlink(spec + 7);
    assert_false(kv_same(h.kv, spec)); /* not made yet */
    FILE *f = fopen(spec + 7, "w");
    assert_non_null(f);
    fclose(f);
    assert_false(kv_same(h.kv, spec)); /* another file */
    assert_false(kv_same(h.kv, "postgres:host=127.0.0.1"));
  }
  assert_false(kv_same(h.kv, NULL));
  host_close(&h);
}

/* ------------------------------------------------------- skill calls */

/* Shared database: a call that writes files and KV then traps leaves both
 * as before; one that succeeds lands both. */
static void shared_db_trap_leaves_both_as_before(void **state) {
  (void)state;
  host h;
  host_open(&h, "jtrap", true, uniq("jtrap"));
  char out[1024];
  long kv, files;
  assert_int_equal(unit_write(&h, 3, 1, false, out, sizeof out), CIS_OK);
  unit_state(&h, 3, &kv, &files);
  assert_int_equal(kv, 1);
  assert_int_equal(files, 1);
  assert_int_equal(unit_write(&h, 3, 2, true, out, sizeof out), CIS_TRAP_UNREACHABLE);
  unit_state(&h, 3, &kv, &files);
  assert_int_equal(kv, 1);
  assert_int_equal(files, 1);
  assert_int_equal(unit_write(&h, 3, 3, false, out, sizeof out), CIS_OK);
  unit_state(&h, 3, &kv, &files);
  assert_int_equal(kv, 3);
  assert_int_equal(files, 3);
  host_close(&h);
}

/* Fails the KV's backend at its k-th step of one call, for every k a call
 * has; after each, files and KV must hold the same value. Returns how
 * many calls left the files committed and the KV not. */
static int sweep_kv_faults(bool shared, const char *name) {
  host h;
  host_open(&h, name, shared, uniq(name));
  char out[1024];
  long kv, files;
  assert_int_equal(unit_write(&h, 4, 1, false, out, sizeof out), CIS_OK);
  uint64_t c0 = cis__kv_backend_calls(h.kv);
  assert_int_equal(unit_write(&h, 4, 2, false, out, sizeof out), CIS_OK);
  uint64_t per = cis__kv_backend_calls(h.kv) - c0;
  assert_true(per > 0 && per < 200);
  long last = 2;
  int split = 0, failed = 0;
  for (uint32_t k = 0; k <= per; k++) {
    long v = 100 + (long)k;
    cis__kv_inject_fault(h.kv, k, 1, CIS_EKV); /* EKVDOWN before the COMMIT is retried */
    cis_result rc = unit_write(&h, 4, v, false, out, sizeof out);
    cis__kv_inject_fault(h.kv, 0, 0, CIS_OK);
    unit_state(&h, 4, &kv, &files);
    if (rc == CIS_OK) {
      last = v;
    } else {
      failed++;
      if (kv == last && files == v) split++; /* files committed, KV not */
    }
    if (kv != files && !(kv == last && files == v))
      fail_msg("fault at step %u: KV %ld, files %ld (last %ld, call %ld): %s", k, kv, files, last, v, out);
    if (shared && (kv != last || files != last))
      fail_msg("fault at step %u (%s): KV %ld, files %ld, expected both %ld: %s", k, cis_errname(rc), kv, files,
               last, out);
  }
  fprintf(stderr, "%s: %llu KV steps per call, %d calls failed, %d split\n", name, (unsigned long long)per, failed,
          split);
  assert_true(failed > 0);
  host_close(&h);
  return split;
}

static void shared_db_kv_failure_at_any_step_drops_files_too(void **state) {
  (void)state;
  assert_int_equal(sweep_kv_faults(true, "jsweep"), 0);
}

/* Two databases: the ordered commit (files, then KV), whose one window
 * the sweep finds: a KV commit that fails after the files committed. */
static void separate_dbs_keep_the_ordered_commit(void **state) {
  (void)state;
  assert_true(sweep_kv_faults(false, "jsweep2") > 0);
}

/* Processes killed at random points of calls writing 20 files and the
 * KV key, KILL_ROUNDS times (each after two calls landed, within the next
 * two): every time both hold the same value. */
#define KILL_ROUNDS 24
static void shared_db_sigkill_never_splits_files_and_kv(void **state) {
  (void)state;
  host h;
  host_open(&h, "jkill", true, uniq("jkill"));
  char out[1024];
  assert_int_equal(unit_write(&h, 20, 0, false, out, sizeof out), CIS_OK);
  char home[1024], spec[1200], tenant[128];
  snprintf(home, sizeof home, "%s", h.home);
  snprintf(spec, sizeof spec, "%s", h.fs_spec);
  snprintf(tenant, sizeof tenant, "%s", h.tenant);
  host_close(&h);
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  int killed = 0, moved = 0;
  long prev = 0;
  for (int round = 1; round <= KILL_ROUNDS; round++) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* calls until killed, each with the next value; a byte per landed call */
      close(fds[0]);
      host c;
      host_open(&c, "jkill", true, tenant);
      char o[256];
      for (long v = round * 1000L; v < round * 1000L + 400; v++) {
        if (unit_write(&c, 20, v, false, o, sizeof o) != CIS_OK) _exit(3);
        if (write(fds[1], "x", 1) != 1) _exit(4);
      }
      _exit(0);
    }
    close(fds[1]);
    /* Once two calls landed, the time between them says how long one
     * takes: the kill comes at a random point of the next one or two. */
    struct pollfd pf = {.fd = fds[0], .events = POLLIN};
    char byte;
    double t1 = 0, t2 = 0;
    for (int got = 0; got < 2; got++) {
      if (poll(&pf, 1, 60000) != 1 || read(fds[0], &byte, 1) != 1) fail_msg("round %d: the child made no call", round);
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      *(got ? &t2 : &t1) = (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
    }
    double call_ms = t2 - t1;
    long wait_us = (long)(call_ms * 2000.0 * (rand() / (RAND_MAX + 1.0)));
    struct timespec ts = {wait_us / 1000000, (wait_us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    close(fds[0]);
    if (WIFSIGNALED(st)) killed++;
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("round %d: the child failed (%d)", round, st);
    host r;
    host_open(&r, "jkill", true, tenant);
    long kv, files;
    unit_state(&r, 20, &kv, &files);
    host_close(&r);
    if (kv != files) fail_msg("round %d: files %ld, KV %ld: one committed without the other", round, files, kv);
    if (kv != prev) moved++;
    prev = kv;
  }
  fprintf(stderr, "%d of %d rounds killed mid-run, %d moved on\n", killed, KILL_ROUNDS, moved);
  assert_true(killed > 0);
}

typedef struct racer {
  host *h;
  long base;          /* values base .. base+CALLS-1 */
  int ok, refused;    /* calls that landed, calls refused with a typed error */
  char why[600];      /* an unexpected failure */
} racer;

#define RACE_CALLS 15
static void *race(void *p) {
  racer *r = p;
  char out[512];
  for (int i = 0; i < RACE_CALLS; i++) {
    cis_result rc = unit_write(r->h, 3, r->base + i, false, out, sizeof out);
    if (rc == CIS_OK) r->ok++;
    else if (rc == CIS_EVFSCONFLICT || rc == CIS_ETIMEOUT) r->refused++;
    else if (!r->why[0]) snprintf(r->why, sizeof r->why, "%s: %s", cis_errname(rc), out);
  }
  return NULL;
}

/* Two threads calling the same skill of one tenant at once, joined: no
 * deadlock (each call ends), each call lands whole or is refused with a
 * typed error, and files and KV end with the same value. */
static void shared_db_two_concurrent_calls_land_whole(void **state) {
  (void)state;
  host h;
  host_open(&h, "jrace", true, uniq("jrace"));
  char out[512];
  assert_int_equal(unit_write(&h, 3, 1, false, out, sizeof out), CIS_OK);
  racer a = {.h = &h, .base = 1000}, b = {.h = &h, .base = 2000};
  pthread_t ta, tb;
  assert_int_equal(pthread_create(&ta, NULL, race, &a), 0);
  assert_int_equal(pthread_create(&tb, NULL, race, &b), 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  if (a.why[0]) fail_msg("first thread: %s", a.why);
  if (b.why[0]) fail_msg("second thread: %s", b.why);
  fprintf(stderr, "landed %d + %d, refused %d + %d\n", a.ok, b.ok, a.refused, b.refused);
  assert_true(a.ok + b.ok > 0);
  long kv, files;
  unit_state(&h, 3, &kv, &files);
  assert_int_equal(kv, files);
  assert_true((kv >= 1000 && kv < 1000 + RACE_CALLS) || (kv >= 2000 && kv < 2000 + RACE_CALLS));
  host_close(&h);
}

/* One call of unit, timed, on a thread of its own. */
typedef struct timed {
  host *h;
  const char *in;
  uint64_t timeout_ms;
  cis_result rc;
  double ms;
  pthread_t th;
} timed;

static void *timed_main(void *p) {
  timed *t = p;
  cis_invoke_options o = {.tenant = t->h->tenant, .timeout_ms = t->timeout_ms};
  cis_invoke_result r;
  double t0 = cis_test_mono_ms();
  t->rc = cis_skills_invoke(t->h->s, "unit", t->in, strlen(t->in), &o, &r);
  t->ms = cis_test_mono_ms() - t0;
  cis_invoke_result_free(&r);
  return NULL;
}

/* Runs a holder (1 s) as h's tenant and, 200 ms later, a waiter (1.5 s)
 * as waiter_tenant, both spinning after their writes: each ends by its own
 * deadline, counted from its start (given its whole time after waiting
 * about 800 ms, the waiter would end near 2300 ms). */
static void holder_then_waiter(host *h, const char *waiter_tenant) {
  static const char in[] = "{\"dir\":\"/w\",\"n\":1,\"v\":7,\"spin\":1}";
  host other = *h; /* the same host, as the waiter's tenant */
  snprintf(other.tenant, sizeof other.tenant, "%s", waiter_tenant);
  timed holder = {.h = h, .in = in, .timeout_ms = 1000}, waiter = {.h = &other, .in = in, .timeout_ms = 1500};
  assert_int_equal(pthread_create(&holder.th, NULL, timed_main, &holder), 0);
  struct timespec pause = {0, 200 * 1000000};
  nanosleep(&pause, NULL);
  assert_int_equal(pthread_create(&waiter.th, NULL, timed_main, &waiter), 0);
  pthread_join(holder.th, NULL);
  pthread_join(waiter.th, NULL);
  fprintf(stderr, "holder %.0f ms (%s), waiter %.0f ms (%s)\n", holder.ms, cis_errname(holder.rc), waiter.ms,
          cis_errname(waiter.rc));
  assert_int_not_equal(holder.rc, CIS_OK);
  assert_int_not_equal(waiter.rc, CIS_OK);
  assert_true(holder.ms >= 1000 && holder.ms < 1000 + 700);
  assert_true(waiter.ms < 1500 + 700);
}

/* A call's deadline counts from its start, joined or not: a call that
 * waits for the namespace's lock behind one that holds it ends at its own
 * deadline, and the holder holds it no longer than its own; both roll
 * back. */
static void a_waiter_behind_a_holder_ends_at_its_own_deadline(void **state) {
  (void)state;
  host h;
  host_open(&h, "jwait", true, uniq("jwait"));
  char out[512];
  assert_int_equal(unit_write(&h, 1, 1, false, out, sizeof out), CIS_OK);
  holder_then_waiter(&h, h.tenant);
  long kv, files;
  unit_state(&h, 1, &kv, &files);
  assert_int_equal(kv, 1);
  assert_int_equal(files, 1);
  host_close(&h);
}

/* The same for a wait for the KV store's one connection, held by a call
 * of another tenant. */
static void a_waiter_for_a_connection_ends_at_its_own_deadline(void **state) {
  (void)state;
  host h;
  host_kv_connections = 1;
  host_open(&h, "jconn", true, uniq("jconn"));
  host_kv_connections = 0;
  holder_then_waiter(&h, uniq("jconn-b"));
  host_close(&h);
}

/* ------------------------------------------- a tenant's totals, all skills */

#define OK_RUN(x, logs)                                                                    \
  do {                                                                                     \
    cis_result r_ = (x);                                                                   \
    if (r_ != CIS_OK) fail_msg("%s:%d: %s -> %s: %s", __FILE__, __LINE__, #x, cis_errname(r_), logs); \
  } while (0)

/* A handle (of tenant `tenant`, NULL: the default) on one database
 * (spec) for KV and files, unless kv_spec names another, with the
 * tenant's totals given. */
static cis_skills *skills_on(const char *home, const char *spec, const char *kv_spec, const char *tenant,
                             uint64_t kv_keys, uint64_t fs_files, uint64_t fs_bytes) {
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  c.kv_spec = kv_spec ? kv_spec : spec;
  c.vfs_db_spec = spec;
  c.tenant = tenant;
  c.max_kv_keys = kv_keys;
  c.max_fs_files = fs_files;
  c.max_fs_bytes = fs_bytes;
  cis_skills *s = NULL;
  if (cis_skills_open(&c, &s) != CIS_OK) fail_msg("cis_skills_open: %s", cis_skills_errmsg(s));
  return s;
}

/* A host whose store the skills host opens itself (kv_spec: so the
 * tenant's KV total applies), with the tenant totals given, and skills
 * unit and unit2 (KV namespaces and trees of their own). */
static cis_skills *totals_open(const char *name, uint64_t kv_keys, uint64_t fs_files, uint64_t fs_bytes) {
  static char home[1024], spec[1200];
  db_home(name, home, sizeof home, spec, sizeof spec);
  cis_skills *s = skills_on(home, spec, NULL, NULL, kv_keys, fs_files, fs_bytes);
  const char *skills[] = {"unit", "unit2"};
  for (int i = 0; i < 2; i++) {
    char extra[256];
    snprintf(extra, sizeof extra,
             "\"abi\":\"wasi\",\"permissions\":{\"kv\":{\"namespace\":\"%s\"},"
             "\"fs\":{\"mounts\":[{\"guest\":\"/w\",\"type\":\"db\"}]}}",
             skills[i]);
    cis_test_install(s, unit_dir, unit_file, skills[i], extra);
  }
  return s;
}

/* Runs skill `name` of tenant writing n files of value v; gives the
 * exit code, with the call's logs in logs. */
static cis_result totals_write(cis_skills *s, const char *tenant, const char *name, int n, long v, int *exit_code,
                               char *logs, size_t cap) {
  char in[160];
  snprintf(in, sizeof in, "{\"dir\":\"/w\",\"n\":%d,\"v\":%ld}", n, v);
  cis_invoke_options o = {.tenant = tenant};
  cis_invoke_result r;
  cis_result rc = cis_skills_invoke(s, name, in, strlen(in), &o, &r);
  *exit_code = r.exit_code;
  snprintf(logs, cap, "%s | %s", r.logs ? r.logs : "", rc == CIS_OK ? "" : r.error);
  cis_invoke_result_free(&r);
  return rc;
}

/* The files of one tenant's skills together stay within the tenant's
 * file limit (each call's mount gets what the other trees leave), another
 * tenant has its own, and rewriting what is there is never refused; the
 * KV namespaces of its skills together stay within its KV limit. A call
 * refused either way leaves nothing (files and KV are one unit). */
static void tenant_totals_bound_files_and_kv_across_skills(void **state) {
  (void)state;
  const char *alice = uniq("alice"), *bob = uniq("bob");
  char logs[4096];
  int code = 0;
  cis_skills *s = totals_open("totals-fs", 0, 3, 0);
  OK_RUN(totals_write(s, alice, "unit", 2, 1, &code, logs, sizeof logs), logs);
  assert_int_not_equal(totals_write(s, alice, "unit2", 2, 1, &code, logs, sizeof logs), CIS_OK);
  assert_int_equal(code, 3); /* the second file: EDQUOT */
  if (!strstr(logs, "tenant's file limits")) fail_msg("no warn line naming the tenant's limit: %s", logs);
  OK_RUN(totals_write(s, alice, "unit2", 1, 2, &code, logs, sizeof logs), logs); /* 3 of 3 */
  OK_RUN(totals_write(s, alice, "unit", 2, 3, &code, logs, sizeof logs), logs);  /* rewrites grow nothing */
  OK_RUN(totals_write(s, bob, "unit", 2, 1, &code, logs, sizeof logs), logs);
  OK_RUN(totals_write(s, bob, "unit2", 1, 1, &code, logs, sizeof logs), logs);
  long kv, files;
  unit_state_of(s, alice, 2, &kv, &files);
  assert_int_equal(files, 3);
  cis_skills_close(s);

  /* Bytes: 8 in all; unit holds 2 ("12" in one file), unit2 may add 6.
   * (A tenant of its own: on PostgreSQL the phases share one database.) */
  alice = uniq("alice-bytes");
  s = totals_open("totals-bytes", 0, 0, 8);
  OK_RUN(totals_write(s, alice, "unit", 1, 12, &code, logs, sizeof logs), logs);
  assert_int_not_equal(totals_write(s, alice, "unit2", 1, 1234567, &code, logs, sizeof logs), CIS_OK);
  assert_int_equal(code, 3);
  OK_RUN(totals_write(s, alice, "unit2", 1, 123456, &code, logs, sizeof logs), logs);
  cis_skills_close(s);

  alice = uniq("alice-kv");
  bob = uniq("bob-kv");
  s = totals_open("totals-kv", 1, 0, 0);
  OK_RUN(totals_write(s, alice, "unit", 1, 1, &code, logs, sizeof logs), logs);
  assert_int_not_equal(totals_write(s, alice, "unit2", 1, 1, &code, logs, sizeof logs), CIS_OK);
  assert_int_equal(code, 5); /* cis_kv_set refused */
  OK_RUN(totals_write(s, bob, "unit2", 1, 1, &code, logs, sizeof logs), logs);
  unit_state_of(s, alice, 1, &kv, &files);
  assert_int_equal(kv, 1);
  cis_skills_close(s);
}

/* The same for a call on handle a, its message shown. */
#define OK_A(x) OK_RUN(x, cis_skills_errmsg(a))

/* Installs unit.wasm as skill name with KV namespace ns and a db mount
 * /w, granting ns when it is another skill's. */
static void purge_install(cis_skills *s, const char *name, const char *ns) {
  size_t len;
  uint8_t *wasm = cis_test_slurp(unit_dir, unit_file, &len);
  char sha[65], man[1024];
  if (cis_sha256_hex(wasm, len, sha) != CIS_OK) fail_msg("sha256");
  snprintf(man, sizeof man,
           "{\"name\":\"%s\",\"version\":\"1.0.0\",\"wasm\":{\"path\":\"%s\",\"sha256\":\"%s\"},\"abi\":\"wasi\","
           "\"permissions\":{\"kv\":{\"namespace\":\"%s\"},\"fs\":{\"mounts\":[{\"guest\":\"/w\",\"type\":\"db\"}]}}}",
           name, unit_file, sha, ns);
  const char *grant[] = {ns};
  cis_install_options o = {.allow_namespaces = grant, .nallow_namespaces = strcmp(name, ns) ? 1 : 0};
  if (cis_skills_register_ex(s, wasm, len, man, strlen(man), &o) != CIS_OK)
    fail_msg("install %s: %s", name, cis_skills_errmsg(s));
  free(wasm);
}

/* A transaction of the tenant's namespace ns on a store of its own (*kv). */
static cis_kv_txn *purge_kv_begin(const char *spec, const char *tenant, const char *ns, cis_kv **kv) {
  cis_kv_config kc;
  cis_kv_config_default(&kc);
  kc.spec = spec;
  *kv = NULL;
  if (cis_kv_open(&kc, kv) != CIS_OK) fail_msg("kv open: %s", cis_kv_errmsg(*kv));
  cis_principal who = {tenant, ns};
  cis_kv_txn *t = NULL;
  if (cis_kv_begin(*kv, &who, 60000, &t) != CIS_OK) fail_msg("kv begin: %s", cis_kv_errmsg(*kv));
  return t;
}

/* Whether the tenant's namespace ns holds key "v" (unit's). */
static bool purge_kv_has(const char *spec, const char *tenant, const char *ns) {
  cis_kv *kv;
  cis_kv_txn *t = purge_kv_begin(spec, tenant, ns, &kv);
  char v[64];
  size_t vl;
  cis_result rc = cis_kv_get_into(t, "v", 1, v, sizeof v, &vl);
  cis_kv_rollback(t);
  cis_kv_close(kv);
  if (rc != CIS_OK && rc != CIS_ENOTFOUND) fail_msg("kv get: %s", cis_errname(rc));
  return rc == CIS_OK;
}

/* Writes n keys into the tenant's namespace ns (n 0: counts them). */
static uint64_t purge_kv_fill(const char *spec, const char *tenant, const char *ns, unsigned n) {
  cis_kv *kv;
  cis_kv_txn *t = purge_kv_begin(spec, tenant, ns, &kv);
  for (unsigned i = 0; i < n; i++) {
    char k[32];
    snprintf(k, sizeof k, "k%05u", i);
    if (cis_kv_set(t, k, strlen(k), "x", 1) != CIS_OK) fail_msg("kv set: %s", cis_kv_errmsg(kv));
  }
  uint64_t keys = 0, bytes = 0;
  if (cis_kv_usage(t, &keys, &bytes) != CIS_OK) fail_msg("kv usage: %s", cis_kv_errmsg(kv));
  if (cis_kv_commit(t) != CIS_OK) fail_msg("kv commit: %s", cis_kv_errmsg(kv));
  cis_kv_close(kv);
  return keys;
}

/* Whether the tenant's tree of skill name exists. */
static bool purge_tree_has(const char *spec, const char *tenant, const char *name) {
  char key[256];
  snprintf(key, sizeof key, "%s/skill:%s", tenant, name);
  cis_vfs_db_config c;
  cis_vfs_db_config_default(&c);
  c.spec = spec;
  c.tenant = key;
  bool exists = false;
  if (cis_vfs_db_tenant_exists(&c, &exists) != CIS_OK) fail_msg("tenant_exists: %s", cis_errmsg(NULL));
  return exists;
}

/* A skill removed with CIS_SKILLS_REMOVE_PURGE takes its KV namespace,
 * its own tree and its settings with it, so the tenant's totals fall; a
 * namespace another installed skill uses stays; another tenant's skill
 * of the same name keeps its data; a name no longer installed is purged
 * of what was left under it, and then there is nothing (CIS_ENOTFOUND). */
static void remove_purge_deletes_what_the_skill_stored(void **state) {
  (void)state;
  const char *alice = uniq("alice-purge"), *bob = uniq("bob-purge");
  char home[1024], spec[1200], logs[4096];
  int code = 0;
  db_home("purge", home, sizeof home, spec, sizeof spec);
  cis_skills *a = skills_on(home, spec, NULL, alice, 2, 2, 0), *b = skills_on(home, spec, NULL, bob, 0, 0, 0);
  purge_install(a, "unit", "unit");
  purge_install(a, "unit2", "unit2");
  purge_install(a, "unit3", "unit2"); /* shares unit2's namespace */
  purge_install(a, "fresh", "fresh");
  purge_install(b, "unit", "unit");
  OK_RUN(totals_write(a, alice, "unit", 1, 1, &code, logs, sizeof logs), logs);
  OK_RUN(totals_write(a, alice, "unit2", 1, 2, &code, logs, sizeof logs), logs);
  OK_RUN(totals_write(b, bob, "unit", 1, 3, &code, logs, sizeof logs), logs);
  OK_A(cis_skills_setting_set(a, "unit", "colour", "red"));
  /* Two keys and two files: alice's totals are full. */
  assert_int_not_equal(totals_write(a, alice, "fresh", 1, 4, &code, logs, sizeof logs), CIS_OK);

  OK_A(cis_skills_remove_ex(a, "unit", CIS_SKILLS_REMOVE_PURGE));
  assert_false(purge_kv_has(spec, alice, "unit"));
  assert_false(purge_tree_has(spec, alice, "unit"));
  OK_RUN(totals_write(a, alice, "fresh", 1, 4, &code, logs, sizeof logs), logs); /* room again */
  long kv, files;
  unit_state_of(b, bob, 1, &kv, &files);
  assert_int_equal(kv, 3);
  assert_int_equal(files, 3);
  purge_install(a, "unit", "unit"); /* a reinstall starts empty */
  unit_state_of(a, alice, 1, &kv, &files);
  assert_int_equal(kv, -1);
  assert_int_equal(files, -1);
  char *json = NULL;
  OK_A(cis_skills_settings(a, "unit", &json));
  if (strstr(json, "colour")) fail_msg("the setting outlived the purge: %s", json);
  free(json);

  /* unit3 goes, but unit2 still uses the namespace; then unit2 goes too. */
  OK_A(cis_skills_remove_ex(a, "unit3", CIS_SKILLS_REMOVE_PURGE));
  assert_true(purge_kv_has(spec, alice, "unit2"));
  OK_A(cis_skills_remove_ex(a, "unit2", CIS_SKILLS_REMOVE_PURGE));
  assert_false(purge_kv_has(spec, alice, "unit2"));
  assert_false(purge_tree_has(spec, alice, "unit2"));

  /* Removed without purging, then purged by name; then nothing is left. */
  OK_A(cis_skills_remove(a, "fresh"));
  assert_true(purge_kv_has(spec, alice, "fresh"));
  OK_A(cis_skills_remove_ex(a, "fresh", CIS_SKILLS_REMOVE_PURGE));
  assert_false(purge_kv_has(spec, alice, "fresh"));
  assert_false(purge_tree_has(spec, alice, "fresh"));
  assert_int_equal(cis_skills_remove_ex(a, "fresh", CIS_SKILLS_REMOVE_PURGE), CIS_ENOTFOUND);
  /* A namespace of more keys than one transaction of the purge deletes. */
  assert_int_equal(purge_kv_fill(spec, alice, "bulk", 2500), 2500);
  OK_A(cis_skills_remove_ex(a, "bulk", CIS_SKILLS_REMOVE_PURGE));
  assert_int_equal(purge_kv_fill(spec, alice, "bulk", 0), 0);
  assert_int_equal(cis_skills_remove_ex(a, "fresh", 0), CIS_ENOTFOUND);
  /* Names that are not a skill's, and unknown flags, are refused. */
  assert_int_equal(cis_skills_remove_ex(a, "../unit", CIS_SKILLS_REMOVE_PURGE), CIS_EINVAL);
  assert_int_equal(cis_skills_remove_ex(a, "", CIS_SKILLS_REMOVE_PURGE), CIS_EINVAL);
  assert_int_equal(cis_skills_remove_ex(a, "unit", 2), CIS_EINVAL);
  assert_true(purge_tree_has(spec, bob, "unit"));
  cis_skills_close(a);
  cis_skills_close(b);
}

/* A purge whose KV store cannot be opened still removes the skill, and
 * says so and what it could not delete; a purge run again once the store
 * is back deletes what was left. */
static void remove_purge_with_the_store_down_is_typed(void **state) {
  (void)state;
  const char *alice = uniq("alice-purge-down");
  char home[1024], spec[1200], bad[1300];
  db_home("purge-down", home, sizeof home, spec, sizeof spec);
  snprintf(bad, sizeof bad, "sqlite:%s", home); /* a folder, not a database */
  cis_skills *a = skills_on(home, spec, NULL, alice, 0, 0, 0);
  purge_install(a, "unit", "unit");
  int code = 0;
  char logs[4096];
  OK_RUN(totals_write(a, alice, "unit", 1, 1, &code, logs, sizeof logs), logs);
  cis_skills_close(a);

  a = skills_on(home, spec, bad, alice, 0, 0, 0);
  cis_result rc = cis_skills_remove_ex(a, "unit", CIS_SKILLS_REMOVE_PURGE);
  if (rc != CIS_EKV && rc != CIS_EKVDOWN) fail_msg("purge with the store down: %s: %s", cis_errname(rc), cis_skills_errmsg(a));
  if (!strstr(cis_skills_errmsg(a), "skill unit removed, but not all it stored was deleted: kv"))
    fail_msg("message: %s", cis_skills_errmsg(a));
  char *json = NULL;
  assert_int_equal(cis_skills_show(a, "unit", &json), CIS_ENOTFOUND);
  cis_skills_close(a);
  assert_true(purge_kv_has(spec, alice, "unit"));

  a = skills_on(home, spec, NULL, alice, 0, 0, 0);
  OK_A(cis_skills_remove_ex(a, "unit", CIS_SKILLS_REMOVE_PURGE));
  assert_false(purge_kv_has(spec, alice, "unit"));
  assert_false(purge_tree_has(spec, alice, "unit"));

  /* The files' database out of reach: the KV goes, the tree stays, said. */
  purge_install(a, "unit", "unit");
  OK_RUN(totals_write(a, alice, "unit", 1, 1, &code, logs, sizeof logs), logs);
  cis_skills_close(a);
  a = skills_on(home, bad, spec, alice, 0, 0, 0);
  rc = cis_skills_remove_ex(a, "unit", CIS_SKILLS_REMOVE_PURGE);
  if (rc == CIS_OK || !strstr(cis_skills_errmsg(a), "files (its db tree)"))
    fail_msg("purge with the files down: %s: %s", cis_errname(rc), cis_skills_errmsg(a));
  cis_skills_close(a);
  assert_false(purge_kv_has(spec, alice, "unit"));
  assert_true(purge_tree_has(spec, alice, "unit"));
  a = skills_on(home, spec, NULL, alice, 0, 0, 0);
  OK_A(cis_skills_remove_ex(a, "unit", CIS_SKILLS_REMOVE_PURGE));
  assert_false(purge_tree_has(spec, alice, "unit"));
  cis_skills_close(a);

  /* A store of ours never made holds nothing: the purge does not make it. */
  char never[1300];
  snprintf(never, sizeof never, "sqlite:%s/never.db", home);
  unlink(never + 7); /* an earlier run's */
  a = skills_on(home, spec, never, alice, 0, 0, 0);
  assert_int_equal(cis_skills_remove_ex(a, "unit", CIS_SKILLS_REMOVE_PURGE), CIS_ENOTFOUND);
  struct stat st;
  assert_int_not_equal(stat(never + 7, &st), 0);
  cis_skills_close(a);
}

/* The handle's registry with one method failing as a database that went
 * away would (the rest its own). */
static cis__registry_methods faulty_reg;

static cis_result faulty_skill_each(cis_skills *s, uint64_t until, cis__reg_row_fn fn, void *ctx) {
  (void)until, (void)fn, (void)ctx;
  return cis__skills_fail(s, CIS_EREGISTRYDOWN, "registry: the database went away");
}

static cis_result faulty_setting_put(cis_skills *s, uint64_t until, const char *skill, const char *key, const char *value) {
  (void)until, (void)skill, (void)key, (void)value;
  return cis__skills_fail(s, CIS_EREGISTRYDOWN, "registry: the database went away");
}

/* Installs unit for the tenant of a, with a key, a file and a setting,
 * then purges it through a registry that fails to delete a setting
 * (settings) or else to read the tenant's skills, the rest a's own (own);
 * gives the purge's result. */
static cis_result purge_failing(cis_skills *a, const char *tenant, const cis__registry_methods *own, bool settings) {
  char logs[4096];
  int code = 0;
  purge_install(a, "unit", "unit");
  OK_RUN(totals_write(a, tenant, "unit", 1, 1, &code, logs, sizeof logs), logs);
  OK_A(cis_skills_setting_set(a, "unit", "colour", "red"));
  faulty_reg = *own;
  if (settings) faulty_reg.setting_put = faulty_setting_put;
  else faulty_reg.skill_each = faulty_skill_each;
  a->reg = &faulty_reg;
  cis_result rc = cis_skills_remove_ex(a, "unit", CIS_SKILLS_REMOVE_PURGE);
  a->reg = own;
  return rc;
}

/* A purge whose registry fails after the removal (reading the tenant's
 * skills, or deleting a setting) says what it could not delete and
 * deletes nothing of what it did not check; run again, it deletes it. */
static void remove_purge_with_the_registry_failing_is_typed(void **state) {
  (void)state;
  const char *alice = uniq("alice-purge-reg");
  char home[1024], spec[1200];
  db_home("purge-reg", home, sizeof home, spec, sizeof spec);
  cis_skills *a = skills_on(home, spec, NULL, alice, 0, 0, 0);
  const cis__registry_methods *own = a->reg;

  /* The tenant's skills not read: nothing is deleted (another skill might
   * use the namespace), and the message says why. */
  cis_result rc = purge_failing(a, alice, own, false);
  if (rc != CIS_EREGISTRYDOWN ||
      !strstr(cis_skills_errmsg(a), "skill unit removed, but not all it stored was deleted: the registry's skills could not be read"))
    fail_msg("purge with the skills unread: %s: %s", cis_errname(rc), cis_skills_errmsg(a));
  char *json = NULL;
  assert_int_equal(cis_skills_show(a, "unit", &json), CIS_ENOTFOUND);
  assert_true(purge_kv_has(spec, alice, "unit"));
  assert_true(purge_tree_has(spec, alice, "unit"));
  OK_A(cis_skills_remove_ex(a, "unit", CIS_SKILLS_REMOVE_PURGE));
  assert_false(purge_kv_has(spec, alice, "unit"));
  assert_false(purge_tree_has(spec, alice, "unit"));

  /* A setting not deleted: the KV and the tree go, the settings stay and
   * the message says so; run again, they go. */
  rc = purge_failing(a, alice, own, true);
  if (rc != CIS_EREGISTRYDOWN || !strstr(cis_skills_errmsg(a), "not all it stored was deleted: settings: registry: the database went away"))
    fail_msg("purge with the settings kept: %s: %s", cis_errname(rc), cis_skills_errmsg(a));
  assert_false(purge_kv_has(spec, alice, "unit"));
  assert_false(purge_tree_has(spec, alice, "unit"));
  purge_install(a, "unit", "unit"); /* the settings outlived the failed purge */
  OK_A(cis_skills_settings(a, "unit", &json));
  if (!strstr(json, "colour")) fail_msg("the setting went: %s", json);
  free(json);
  OK_A(cis_skills_remove_ex(a, "unit", CIS_SKILLS_REMOVE_PURGE));
  purge_install(a, "unit", "unit");
  OK_A(cis_skills_settings(a, "unit", &json));
  if (strstr(json, "colour")) fail_msg("the setting outlived the purge run again: %s", json);
  free(json);
  cis_skills_close(a);
}

/* Two calls of one tenant started together: each holds its instance
 * until the other made its own (or a second passed: on SQLite this
 * process's KV calls take turns whole), so both mounts saw room at their
 * start. */
typedef struct fs_racer {
  cis_skills *s;            /* the handle both calls use */
  const char *tenant;       /* whose calls */
  const char *skill;        /* which skill runs */
  pthread_barrier_t *start; /* the threads begin together */
  atomic_int *made;         /* instances made so far */
  cis_result rc;            /* the call's outcome */
  char error[512];          /* its message */
} fs_racer;

static bool fs_racer_wait(void *user, cis_instance *inst) {
  fs_racer *r = user;
  if (!inst) return true;
  atomic_fetch_add(r->made, 1);
  for (int i = 0; i < 1000 && atomic_load(r->made) < 2; i++) usleep(1000);
  return true;
}

static void *fs_racer_run(void *arg) {
  fs_racer *r = arg;
  const char *in = "{\"dir\":\"/w\",\"n\":2,\"v\":7}";
  cis_invoke_options o = {.tenant = r->tenant, .on_instance = fs_racer_wait, .on_instance_user = r};
  cis_invoke_result res;
  pthread_barrier_wait(r->start);
  r->rc = cis_skills_invoke(r->s, r->skill, in, strlen(in), &o, &res);
  snprintf(r->error, sizeof r->error, "%s", res.error);
  cis_invoke_result_free(&res);
  return NULL;
}

/* How many of files f0, f1 of skill's tree hold a value. */
static int files_of(cis_skills *s, const char *tenant, const char *skill) {
  const char *in = "{\"read\":1,\"dir\":\"/w\",\"n\":2}";
  cis_invoke_options o = {.tenant = tenant};
  cis_invoke_result res;
  cis_result rc = cis_skills_invoke(s, skill, in, strlen(in), &o, &res);
  if (rc != CIS_OK) fail_msg("%s read: %s: %s", skill, cis_errname(rc), res.error);
  int n = 0;
  const char *p = res.output ? strstr(res.output, "files") : NULL;
  for (; p && (p = strstr(p, "\"7\"")); p += 3) n++;
  cis_invoke_result_free(&res);
  return n;
}

/* The tenant's file limit is exact: two calls of its skills that each fit
 * alone but not together, started at the same moment, and each seeing
 * room at its start: exactly one commits; the other fails with
 * CIS_EQUOTA at its commit (or, where the calls took turns, sees no room
 * and its guest EDQUOT), and nothing of it applies. */
static void tenant_file_limit_is_exact_under_concurrent_calls(void **state) {
  (void)state;
  cis_skills *s = totals_open("totals-race", 0, 3, 0);
  for (int round = 0; round < 3; round++) {
    char name[32];
    snprintf(name, sizeof name, "racer%d", round);
    const char *alice = uniq(name);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    atomic_int made = 0;
    fs_racer r[2] = {{.s = s, .tenant = alice, .skill = "unit", .start = &start, .made = &made},
                  {.s = s, .tenant = alice, .skill = "unit2", .start = &start, .made = &made}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, fs_racer_run, &r[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    int ok = (r[0].rc == CIS_OK) + (r[1].rc == CIS_OK);
    if (ok != 1)
      fail_msg("round %d: %d calls committed (%s: %s; %s: %s)", round, ok, cis_errname(r[0].rc), r[0].error,
               cis_errname(r[1].rc), r[1].error);
    fs_racer *lost = r[0].rc == CIS_OK ? &r[1] : &r[0];
    if (pg) {
      /* Both ran at once: the commit refused the second. */
      if (lost->rc != CIS_EQUOTA || !strstr(lost->error, "nothing of this commit applied"))
        fail_msg("round %d: %s: %s", round, cis_errname(lost->rc), lost->error);
    } else if (lost->rc != CIS_EQUOTA && lost->rc != CIS_ESKILL) {
      fail_msg("round %d: %s: %s", round, cis_errname(lost->rc), lost->error);
    }
    assert_int_equal(files_of(s, alice, lost->skill), 0);
    assert_int_equal(files_of(s, alice, lost == &r[0] ? "unit2" : "unit"), 2);
  }
  cis_skills_close(s);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: test_skill_fs_join sqlite WORKDIR unit.wasm | postgres CONNSTR_FILE unit.wasm WORKDIR\n");
    return 2;
  }
  static char abswork[1024];
  pg = strcmp(argv[1], "postgres") == 0;
  const char *dir = pg ? (argc > 4 ? argv[4] : NULL) : argv[2];
  if (!dir) return 2;
  if (pg) {
    int rc = cis_test_read_connstr(argv[2], conninfo, sizeof conninfo);
    if (rc) return rc;
  }
  mkdir(dir, 0755);
  if (!realpath(dir, abswork)) return 2;
  work = abswork;
  snprintf(unit_dir, sizeof unit_dir, "%s", argv[3]);
  char *slash = strrchr(unit_dir, '/');
  if (!slash) return 2;
  *slash = '\0';
  unit_file = slash + 1;
  if (getenv("CIS_JOIN_FILTER")) cmocka_set_test_filter(getenv("CIS_JOIN_FILTER"));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(joined_scope_commits_and_rolls_back_with_owner),
      cmocka_unit_test(join_refusals_are_typed),
      cmocka_unit_test(bind_joins_writable_db_mounts_of_its_database),
      cmocka_unit_test(same_db_compares_files_and_connection_strings),
      cmocka_unit_test(shared_db_trap_leaves_both_as_before),
      cmocka_unit_test(shared_db_kv_failure_at_any_step_drops_files_too),
      cmocka_unit_test(separate_dbs_keep_the_ordered_commit),
      cmocka_unit_test(shared_db_sigkill_never_splits_files_and_kv),
      cmocka_unit_test(shared_db_two_concurrent_calls_land_whole),
      cmocka_unit_test(a_waiter_behind_a_holder_ends_at_its_own_deadline),
      cmocka_unit_test(a_waiter_for_a_connection_ends_at_its_own_deadline),
      cmocka_unit_test(tenant_totals_bound_files_and_kv_across_skills),
      cmocka_unit_test(tenant_file_limit_is_exact_under_concurrent_calls),
      cmocka_unit_test(remove_purge_deletes_what_the_skill_stored),
      cmocka_unit_test(remove_purge_with_the_store_down_is_typed),
      cmocka_unit_test(remove_purge_with_the_registry_failing_is_typed),
  };
  return cmocka_run_group_tests_name(pg ? "join on postgres" : "join on sqlite", tests, NULL, NULL);
}
