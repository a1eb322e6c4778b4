/*
 * This file implements the tests of skills' filesystem mounts
 * (permissions.fs.mounts in skill.json): a "mem" mount is scratch space of
 * one call, a "db" mount is the tenant's layered filesystem and persists
 * across calls (and stays apart from other tenants), a "host" mount is a
 * folder named relative to the skill's own, and each refusal (read-only,
 * quota, a source that is not there, a database that is down) is a typed
 * error.
 *
 * argv[1]: counter.wasm (see counter.c); argv[2]: a scratch folder.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cis/cis_skill.h"
#include "support/full_disk.h"
#include "support/test_file.h"
#include "cis/cis_wasi.h"

static const char *wasm_path;
static const char *work;
static uint8_t *wasm;
static size_t wasm_len;
static char sha[65];

static void read_all(const char *path, uint8_t **data, size_t *len) {
  *data = cis_test_file_read(path, len);
  if (!*data) fail_msg("cannot read %s", path);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* A fresh CIS_HOME under work/NAME, opened with the database spec db
 * (NULL = the default SQLite file in the home). */
static cis_skills *open_home(const char *name, const char *db) {
  char home[1024], cmd[2200];
  snprintf(home, sizeof home, "%s/%s", work, name);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", home, home);
  assert_int_equal(system(cmd), 0);
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  c.vfs_db_spec = db;
  cis_skills *s = NULL;
  cis_result rc = cis_skills_open(&c, &s);
  if (rc != CIS_OK) fail_msg("cis_skills_open: %s", cis_skills_errmsg(s));
  return s;
}

/* A manifest for counter.wasm with the given mounts JSON list and, when
 * timeout_ms is not 0, that deadline. */
static char *manifest_limited(const char *name, const char *mounts, unsigned timeout_ms) {
  char *m = malloc(4096), limits[64] = "";
  assert_non_null(m);
  if (timeout_ms) snprintf(limits, sizeof limits, ",\"limits\":{\"timeout_ms\":%u}", timeout_ms);
  snprintf(m, 4096,
           "{\"name\":\"%s\",\"version\":\"1\",\"wasm\":{\"path\":\"counter.wasm\",\"sha256\":\"%s\"},"
           "\"abi\":\"wasi\",\"permissions\":{\"fs\":{\"mounts\":%s}}%s}",
           name, sha, mounts, limits);
  return m;
}

static char *manifest(const char *name, const char *mounts) { return manifest_limited(name, mounts, 0); }

static void reg(cis_skills *s, const char *name, const char *mounts) {
  char *m = manifest(name, mounts);
  cis_result rc = cis_skills_register(s, wasm, wasm_len, m, strlen(m));
  if (rc != CIS_OK) fail_msg("register %s: %s", name, cis_skills_errmsg(s));
  free(m);
}

/* Runs skill NAME on FILE as TENANT; returns the status and, on success,
 * the count it printed. */
static cis_result run(cis_skills *s, const char *name, const char *tenant, const char *file, long *count,
                      char *error, size_t errcap) {
  char in[512];
  snprintf(in, sizeof in, "{\"file\":\"%s\"}", file);
  cis_invoke_options o = {.tenant = tenant};
  cis_invoke_result r;
  cis_result rc = cis_skills_invoke(s, name, in, strlen(in), &o, &r);
  *count = -1;
  if (rc == CIS_OK) {
    const char *c = strstr(r.output, "\"count\":");
    assert_non_null(c);
    *count = strtol(c + 8, NULL, 10);
  }
  if (error) snprintf(error, errcap, "%s", r.error);
  cis_invoke_result_free(&r);
  return rc;
}

static long count_of(cis_skills *s, const char *name, const char *tenant, const char *file) {
  long n;
  char err[512];
  cis_result rc = run(s, name, tenant, file, &n, err, sizeof err);
  if (rc != CIS_OK) fail_msg("run %s: %s: %s", name, cis_errname(rc), err);
  return n;
}

static void mem_mount_is_scratch(void **state) {
  (void)state;
  cis_skills *s = open_home("mem", NULL);
  reg(s, "scratch", "[{\"guest\":\"/tmp\",\"type\":\"mem\"}]");
  assert_int_equal(count_of(s, "scratch", NULL, "/tmp/n"), 1);
  assert_int_equal(count_of(s, "scratch", NULL, "/tmp/n"), 1); /* gone with the call */
  cis_skills_close(s);
}

/* Regression: a memory mount without a quota let a guest make the host
 * allocate up to the memory backend's own 2 GiB cap, whatever the skill's
 * memory limit. Its files now count up to that limit. */
static void mem_mount_bounded_by_memory_limit(void **state) {
  (void)state;
  cis_skills *s = open_home("memcap", NULL);
  char *m = malloc(4096);
  assert_non_null(m);
  snprintf(m, 4096,
           "{\"name\":\"filler\",\"version\":\"1\",\"wasm\":{\"path\":\"counter.wasm\",\"sha256\":\"%s\"},"
           "\"abi\":\"wasi\",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/tmp\",\"type\":\"mem\"}]}},"
           "\"limits\":{\"memory\":\"16MiB\"}}",
           sha);
  if (cis_skills_register(s, wasm, wasm_len, m, strlen(m)) != CIS_OK) fail_msg("register: %s", cis_skills_errmsg(s));
  free(m);
  cis_invoke_result r;
  const char *small = "{\"file\":\"/tmp/n\",\"pad\":1048576}";
  assert_int_equal(cis_skills_invoke(s, "filler", small, strlen(small), NULL, &r), CIS_OK);
  cis_invoke_result_free(&r);
  const char *big = "{\"file\":\"/tmp/n\",\"pad\":67108864}"; /* 64 MiB > 16 MiB */
  cis_result rc = cis_skills_invoke(s, "filler", big, strlen(big), NULL, &r);
  fprintf(stderr, "64 MiB into a mem mount under a 16 MiB limit: %s: %s\n", cis_errname(rc), r.error);
  assert_int_not_equal(rc, CIS_OK);
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

static void db_mount_persists_per_tenant(void **state) {
  (void)state;
  cis_skills *s = open_home("db", NULL);
  reg(s, "keeper", "[{\"guest\":\"/work\",\"type\":\"db\"}]");
  assert_int_equal(count_of(s, "keeper", "alice", "/work/n"), 1);
  assert_int_equal(count_of(s, "keeper", "alice", "/work/n"), 2);
  assert_int_equal(count_of(s, "keeper", "bob", "/work/n"), 1); /* another tree */
  cis_skills_close(s);
  /* A second process would see the same: reopen the host on the same home. */
  char home[1024];
  snprintf(home, sizeof home, "%s/db", work);
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  cis_skills *s2 = NULL;
  assert_int_equal(cis_skills_open(&c, &s2), CIS_OK);
  assert_int_equal(count_of(s2, "keeper", "alice", "/work/n"), 3);
  cis_skills_close(s2);
}

static void host_mount_relative_to_skill(void **state) {
  (void)state;
  cis_skills *s = open_home("host", NULL);
  char dir[1024], path[2400];
  snprintf(dir, sizeof dir, "%s/host/skilldir", work);
  snprintf(path, sizeof path, "mkdir -p '%s/data' && cp '%s' '%s/counter.wasm'", dir, wasm_path, dir);
  assert_int_equal(system(path), 0);
  char *m = manifest("hosted", "[{\"guest\":\"/data\",\"type\":\"host\",\"source\":\"data\"},"
                               "{\"guest\":\"/ro\",\"type\":\"host\",\"source\":\"data\",\"mode\":\"ro\"}]");
  snprintf(path, sizeof path, "%s/skill.json", dir);
  write_text(path, m);
  free(m);
  char name[80];
  if (cis_skills_install(s, dir, name, sizeof name) != CIS_OK) fail_msg("install: %s", cis_skills_errmsg(s));
  snprintf(path, sizeof path, "%s/data/n", dir);
  write_text(path, "41\n");
  assert_int_equal(count_of(s, "hosted", NULL, "/data/n"), 42);
  uint8_t *txt;
  size_t len;
  read_all(path, &txt, &len);
  assert_string_equal((char *)txt, "42\n"); /* on the host */
  free(txt);
  /* The same folder read-only: the skill cannot write, the file is kept. */
  long n;
  char err[512];
  assert_int_equal(run(s, "hosted", NULL, "/ro/n", &n, err, sizeof err), CIS_ESKILL);
  assert_non_null(strstr(err, "code 3"));
  read_all(path, &txt, &len);
  assert_string_equal((char *)txt, "42\n");
  free(txt);
  /* A path out of the mount is refused inside the guest (exit 3: cannot
   * write), and nothing appears outside. */
  assert_int_equal(run(s, "hosted", NULL, "/data/../n", &n, err, sizeof err), CIS_ESKILL);
  snprintf(path, sizeof path, "%s/n", dir);
  assert_int_equal(access(path, F_OK), -1);
  cis_skills_close(s);
}

static void mount_errors_are_typed(void **state) {
  (void)state;
  cis_skills *s = open_home("errors", NULL);
  /* A relative host source with no folder to resolve it in. */
  char *m = manifest("rel", "[{\"guest\":\"/d\",\"type\":\"host\",\"source\":\"data\"}]");
  assert_int_equal(cis_skills_register(s, wasm, wasm_len, m, strlen(m)), CIS_EMANIFEST);
  assert_non_null(strstr(cis_skills_errmsg(s), "permissions.fs.mounts[0].source"));
  free(m);
  /* An absolute source that is not a directory. */
  m = manifest("gone", "[{\"guest\":\"/d\",\"type\":\"host\",\"source\":\"/nonexistent/cis-test\"}]");
  assert_int_equal(cis_skills_register(s, wasm, wasm_len, m, strlen(m)), CIS_EMANIFEST);
  assert_non_null(strstr(cis_skills_errmsg(s), "not a directory"));
  free(m);
  /* A quota: the second write of a growing file passes max_bytes. */
  reg(s, "tight", "[{\"guest\":\"/q\",\"type\":\"db\",\"max_bytes\":2}]");
  assert_int_equal(count_of(s, "tight", "t", "/q/n"), 1); /* "1\n": 2 bytes */
  for (int i = 2; i <= 9; i++) assert_int_equal(count_of(s, "tight", "t", "/q/n"), i);
  long n;
  char err[512];
  assert_int_equal(run(s, "tight", "t", "/q/n", &n, err, sizeof err), CIS_ESKILL); /* "10\n" */
  assert_non_null(strstr(err, "code 3"));
  /* The failed call is dropped whole, its fopen("w") that emptied the
   * file with it (docs/dbfs.md, "One unit"): the file still holds "9",
   * so the next call fails the same way. */
  assert_int_equal(run(s, "tight", "t", "/q/n", &n, err, sizeof err), CIS_ESKILL);
  assert_non_null(strstr(err, "code 3"));
  cis_skills_close(s);
  /* The database of db mounts is down: a typed error, no crash. */
  s = open_home("down", "postgres:host=127.0.0.1 port=1 connect_timeout=2 dbname=none");
  reg(s, "keeper", "[{\"guest\":\"/work\",\"type\":\"db\"}]");
  assert_int_equal(run(s, "keeper", "alice", "/work/n", &n, err, sizeof err), CIS_EVFSDOWN);
  assert_non_null(strstr(err, "permissions.fs.mounts[0]"));
  cis_skills_close(s);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Checks that a call with an 800 ms deadline, which waited on a locked
 * database, ended on time in a way a loaded machine cannot fail. The
 * wait sleeps (SQLite's busy handler), so load only makes it late in wall
 * time: it never ends before the deadline, and the upper bound is ten
 * times it, which a wait that runs to the backend's own 30 s operation
 * timeout still fails. */
static void ends_at_800_ms(const char *what, double took) {
  print_message("deadline 800 ms: %s ended after %.1f ms\n", what, took);
  if (took < 800.0 || took > 800.0 * 10)
    fail_msg("%s ended after %.1f ms for an 800 ms deadline", what, took);
}

/* The database of a "db" mount is locked by another writer for longer
 * than the skill's deadline: the skill's filesystem calls stop waiting at
 * the deadline (not at the backend's own 30 s operation timeout), the call
 * ends as CIS_ETIMEOUT, and works again once the lock is gone. */
static void db_wait_ends_at_call_deadline(void **state) {
  (void)state;
  cis_skills *s = open_home("dbdeadline", NULL);
  char *m = manifest_limited("slow", "[{\"guest\":\"/work\",\"type\":\"db\"}]", 800);
  assert_int_equal(cis_skills_register(s, wasm, wasm_len, m, strlen(m)), CIS_OK);
  free(m);
  assert_int_equal(count_of(s, "slow", "t", "/work/n"), 1); /* the tenant exists */
  char path[1100];
  snprintf(path, sizeof path, "%s/dbdeadline/fs.db", work);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  long n;
  char err[512];
  double t0 = now_ms();
  cis_result rc = run(s, "slow", "t", "/work/n", &n, err, sizeof err);
  double took = now_ms() - t0;
  if (rc != CIS_ETIMEOUT) fail_msg("expected CIS_ETIMEOUT, got %s: %s", cis_errname(rc), err);
  ends_at_800_ms("the call", took);
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close(db);
  assert_int_equal(count_of(s, "slow", "t", "/work/n"), 2); /* nothing half-done */
  cis_skills_close(s);
}

/* The same below the skill layer: the mount is made and preopened first,
 * then the lock is taken, so it is the guest's own filesystem calls that
 * must stop waiting at the call's deadline. After the run the bound is
 * lifted: the embedder's own calls on the mount are not the guest's. */
static void wasi_calls_end_at_call_deadline(void **state) {
  (void)state;
  char path[1100];
  snprintf(path, sizeof path, "%s/wasi-deadline.db", work);
  remove(path);
  char spec[1200];
  snprintf(spec, sizeof spec, "sqlite:%s", path);
  cis_vfs_db_config dc;
  cis_vfs_db_config_default(&dc);
  dc.spec = spec;
  dc.tenant = "t";
  cis_vfs_backend *b;
  assert_int_equal(cis_vfs_db_new(&dc, &b), CIS_OK);
  cis_vfs *fs;
  assert_int_equal(cis_vfs_mount(b, NULL, &fs), CIS_OK);

  cis_engine *e;
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  cis_module *mod;
  assert_int_equal(cis_module_new(e, wasm, wasm_len, &mod), CIS_OK);
  static const char input[] = "{\"file\":\"/work/n\"}";
  cis_wasi_config wc;
  cis_wasi_config_default(&wc);
  wc.caps = CIS_WASI_CAP_CLOCK;
  wc.stdio[0] = wc.stdio[1] = wc.stdio[2] = CIS_WASI_STDIO_BUFFER;
  wc.stdin_data = (const uint8_t *)input;
  wc.stdin_len = sizeof input - 1;
  cis_wasi *w;
  assert_int_equal(cis_wasi_new(&wc, &w), CIS_OK);
  assert_int_equal(cis_wasi_preopen(w, fs, "/work"), CIS_OK);
  cis_imports *im;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_wasi_add_imports(w, im), CIS_OK);
  cis_limits lim;
  cis_limits_default(&lim);
  lim.timeout_ms = 800;
  cis_instance *inst;
  assert_int_equal(cis_instance_new(mod, im, &lim, &inst), CIS_OK);

  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  int code = 0;
  double t0 = now_ms();
  cis_result rc = cis_wasi_run(w, inst, &code);
  double took = now_ms() - t0;
  if (rc != CIS_ETIMEOUT) fail_msg("expected CIS_ETIMEOUT, got %s (exit %d)", cis_errname(rc), code);
  ends_at_800_ms("the run", took);
  const char *msg = "";
  assert_int_equal(cis_wasi_last_vfs_error(w, &msg), CIS_EVFSDOWN);
  assert_non_null(strstr(msg, "deadline"));
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close(db);
  cis_instance_free(inst);
  cis_imports_free(im);
  cis_wasi_free(w);

  /* Unbounded again: the embedder reads the tree right away. */
  cis_vfs_file *root, *f;
  assert_int_equal(cis_vfs_open_root(fs, &root), 0);
  assert_int_equal(cis_vfs_openat(root, "n", 1, CIS_VFS_WRITE | CIS_VFS_CREAT, &f), 0);
  size_t put;
  assert_int_equal(cis_vfs_pwrite(f, "7\n", 2, 0, &put), 0);
  cis_vfs_close(f);
  cis_vfs_close(root);
  cis_vfs_unmount(fs);
  cis_module_free(mod);
  cis_engine_free(e);
}

/* A registry made before skills remembered their install folder and
 * grants (no `dir` or `grants` column, WAL journal) opens, gains the
 * columns, keeps its skills, and takes new ones with host mounts. */
static void old_registry_is_upgraded(void **state) {
  (void)state;
  char home[1024], path[2200];
  snprintf(home, sizeof home, "%s/oldreg", work);
  snprintf(path, sizeof path, "rm -rf '%s' && mkdir -p '%s'", home, home);
  assert_int_equal(system(path), 0);
  snprintf(path, sizeof path, "%s/registry.db", home);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "PRAGMA journal_mode=WAL;" /* as registries were made then */
                                "CREATE TABLE skills(name TEXT PRIMARY KEY, version TEXT NOT NULL,"
                                " sha256 TEXT NOT NULL, description TEXT NOT NULL, manifest TEXT NOT NULL,"
                                " installed_at INTEGER NOT NULL);"
                                "INSERT INTO skills VALUES('old','1','x','','{}',0);",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  cis_skills *s = NULL;
  if (cis_skills_open(&c, &s) != CIS_OK) fail_msg("open: %s", cis_skills_errmsg(s));
  cis_skill_info *list = NULL;
  size_t n = 0;
  assert_int_equal(cis_skills_list(s, &list, &n), CIS_OK);
  assert_int_equal(n, 1);
  assert_string_equal(list[0].name, "old");
  free(list);
  reg(s, "scratch", "[{\"guest\":\"/tmp\",\"type\":\"mem\"}]");
  assert_int_equal(count_of(s, "scratch", NULL, "/tmp/n"), 1);
  cis_skills_close(s);
  /* Opened again: the columns are there, nothing to add. */
  assert_int_equal(cis_skills_open(&c, &s), CIS_OK);
  assert_int_equal(count_of(s, "scratch", NULL, "/tmp/n"), 1);
  cis_skills_close(s);
  /* It left WAL for the rollback journal, which a reader can use on a full
   * disk (read_only_call_on_full_disk), and kept its rows. */
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "delete");
  sqlite3_finalize(st);
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM skills WHERE grants IS NOT NULL", -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 1); /* "scratch"; "old" came before grants */
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* Two skills of one tenant, each with its own db mount at its own guest
 * path, used to see one tree: one read and overwrote the other's file.
 * Each (tenant, skill) now has a tree of its own. */
static void db_mounts_are_per_skill(void **state) {
  (void)state;
  cis_skills *s = open_home("perskill", NULL);
  reg(s, "left", "[{\"guest\":\"/left\",\"type\":\"db\"}]");
  reg(s, "right", "[{\"guest\":\"/right\",\"type\":\"db\"}]");
  assert_int_equal(count_of(s, "left", "alice", "/left/n"), 1);
  assert_int_equal(count_of(s, "left", "alice", "/left/n"), 2);
  assert_int_equal(count_of(s, "right", "alice", "/right/n"), 1); /* not left's 2 */
  assert_int_equal(count_of(s, "left", "alice", "/left/n"), 3);   /* untouched by right */
  cis_skills_close(s);
}

/* Sharing a tree is an explicit named volume, which the operator grants
 * at install; without the grant the install fails naming the field. */
static void shared_volume_needs_grant(void **state) {
  (void)state;
  cis_skills *s = open_home("volume", NULL);
  const char *mounts = "[{\"guest\":\"/shared\",\"type\":\"db\",\"volume\":\"shared-notes\"}]";
  char *m = manifest("writer", mounts);
  assert_int_equal(cis_skills_register(s, wasm, wasm_len, m, strlen(m)), CIS_EDENIED);
  assert_non_null(strstr(cis_skills_errmsg(s), "permissions.fs.mounts[0].volume"));
  const char *other[] = {"other-volume"};
  cis_install_options no = {.allow_volumes = other, .nallow_volumes = 1};
  assert_int_equal(cis_skills_register_ex(s, wasm, wasm_len, m, strlen(m), &no), CIS_EDENIED);
  const char *vol[] = {"shared-notes"};
  cis_install_options o = {.allow_volumes = vol, .nallow_volumes = 1};
  assert_int_equal(cis_skills_register_ex(s, wasm, wasm_len, m, strlen(m), &o), CIS_OK);
  free(m);
  m = manifest("reader", "[{\"guest\":\"/notes\",\"type\":\"db\",\"volume\":\"shared-notes\"},"
                         "{\"guest\":\"/own\",\"type\":\"db\"}]");
  assert_int_equal(cis_skills_register_ex(s, wasm, wasm_len, m, strlen(m), &o), CIS_OK);
  free(m);
  assert_int_equal(count_of(s, "writer", "t", "/shared/n"), 1);
  assert_int_equal(count_of(s, "reader", "t", "/notes/n"), 2); /* the same tree */
  assert_int_equal(count_of(s, "reader", "t", "/own/n"), 1);   /* its own tree is apart */
  assert_int_equal(count_of(s, "writer", "u", "/shared/n"), 1); /* per tenant still */
  char *json;
  assert_int_equal(cis_skills_show(s, "writer", &json), CIS_OK);
  assert_non_null(strstr(json, "\"shared-notes\""));
  assert_non_null(strstr(json, "\"shared_with\":\t[\"reader\"]"));
  free(json);
  cis_skills_close(s);
}

/* Makes work/NAME holding counter.wasm, a data/ folder and a skill.json
 * with the given mounts; returns the folder. */
static const char *skill_dir(const char *name, const char *mounts) {
  static char dir[1024];
  char cmd[3300], path[1100];
  snprintf(dir, sizeof dir, "%s/%s", work, name);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/data' && cp '%s' '%s/counter.wasm'", dir, dir, wasm_path, dir);
  assert_int_equal(system(cmd), 0);
  char *m = manifest(name, mounts);
  snprintf(path, sizeof path, "%s/skill.json", dir);
  write_text(path, m);
  free(m);
  return dir;
}

/* A host mount's source may not be "/" or climb out of the skill's folder
 * (with "..", or through a symlink) unless the operator allows that path;
 * the error names the field. A symlink turned outward after install is
 * refused at the call. */
static void host_source_stays_in_skill_folder(void **state) {
  (void)state;
  cis_skills *s = open_home("hostpath", NULL);
  char name[80], cmd[2400];
  static const char *const bad[] = {
      "[{\"guest\":\"/r\",\"type\":\"host\",\"source\":\"/\"}]",
      "[{\"guest\":\"/r\",\"type\":\"host\",\"source\":\"..\"}]",
      "[{\"guest\":\"/r\",\"type\":\"host\",\"source\":\"data/../..\"}]",
      "[{\"guest\":\"/r\",\"type\":\"host\",\"source\":\"link\"}]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    const char *dir = skill_dir("climber", bad[i]);
    snprintf(cmd, sizeof cmd, "ln -s '%s' '%s/link'", work, dir);
    assert_int_equal(system(cmd), 0);
    cis_result rc = cis_skills_install(s, dir, name, sizeof name);
    if (rc != CIS_EDENIED) fail_msg("mounts %s: %s: %s", bad[i], cis_errname(rc), cis_skills_errmsg(s));
    assert_non_null(strstr(cis_skills_errmsg(s), "permissions.fs.mounts[0].source"));
  }
  /* Allowed by the operator: that path and what is under it. */
  const char *dir = skill_dir("climber", "[{\"guest\":\"/r\",\"type\":\"host\",\"source\":\"..\"}]");
  const char *allow[] = {work};
  cis_install_options o = {.allow_host_paths = allow, .nallow_host_paths = 1};
  if (cis_skills_install_ex(s, dir, &o, name, sizeof name) != CIS_OK) fail_msg("install: %s", cis_skills_errmsg(s));
  char *json;
  assert_int_equal(cis_skills_show(s, "climber", &json), CIS_OK);
  assert_non_null(strstr(json, "\"host_paths\""));
  free(json);
  /* Inside its own folder, through a symlink that stays inside: fine, until
   * the link is pointed out of the folder after install. */
  dir = skill_dir("linker", "[{\"guest\":\"/d\",\"type\":\"host\",\"source\":\"link\"}]");
  snprintf(cmd, sizeof cmd, "ln -s data '%s/link'", dir);
  assert_int_equal(system(cmd), 0);
  if (cis_skills_install(s, dir, name, sizeof name) != CIS_OK) fail_msg("install: %s", cis_skills_errmsg(s));
  assert_int_equal(count_of(s, "linker", NULL, "/d/n"), 1);
  snprintf(cmd, sizeof cmd, "rm '%s/link' && ln -s '%s' '%s/link'", dir, work, dir);
  assert_int_equal(system(cmd), 0);
  long n;
  char err[512];
  assert_int_equal(run(s, "linker", NULL, "/d/n", &n, err, sizeof err), CIS_EDENIED);
  assert_non_null(strstr(err, "permissions.fs.mounts[0].source"));
  snprintf(cmd, sizeof cmd, "%s/n", work);
  assert_int_equal(access(cmd, F_OK), -1); /* nothing written outside */
  cis_skills_close(s);
}

/* On a full disk, calls that write nothing used to fail: opening the
 * registry (WAL mode) needed its -shm file, and the KV file was opened for
 * every call. A tmpfs of 1 MiB is filled up after install; a new host
 * (as a new process would) then runs a skill whose only mount is memory.
 * Skips when this process may not mount. */
static void read_only_call_on_full_disk(void **state) {
  (void)state;
  char mnt[1024], home[1100];
  snprintf(mnt, sizeof mnt, "%s/fulldisk", work);
  if (cis_test_small_disk("read_only_call_on_full_disk", mnt) != 0) skip();
  snprintf(home, sizeof home, "%s/home", mnt);
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  cis_skills *s = NULL;
  char err[512];
  if (cis_skills_open(&c, &s) != CIS_OK) fail_msg("open: %s", cis_skills_errmsg(s));
  reg(s, "scratch", "[{\"guest\":\"/tmp\",\"type\":\"mem\"}]");
  assert_int_equal(count_of(s, "scratch", NULL, "/tmp/n"), 1);
  cis_skills_close(s);
  assert_int_equal(cis_test_fill_disk(mnt), 0);
  s = NULL;
  cis_result rc = cis_skills_open(&c, &s);
  if (rc != CIS_OK) {
    cis_test_small_disk_gone(mnt);
    fail_msg("open on a full disk: %s: %s", cis_errname(rc), cis_skills_errmsg(s));
  }
  long n = -1;
  rc = run(s, "scratch", NULL, "/tmp/n", &n, err, sizeof err);
  cis_skills_close(s);
  cis_test_small_disk_gone(mnt);
  if (rc != CIS_OK) fail_msg("call on a full disk: %s: %s", cis_errname(rc), err);
  assert_int_equal(n, 1);
}


/* ------------------------------------------------------ files and KV, one unit */

static uint8_t *unit_wasm;  /* unit.wasm */
static size_t unit_len;
static char unit_sha[65];

static void reg_unit(cis_skills *s) {
  char m[1024];
  snprintf(m, sizeof m,
           "{\"name\":\"unit\",\"version\":\"1\",\"wasm\":{\"path\":\"unit.wasm\",\"sha256\":\"%s\"},"
           "\"abi\":\"wasi\",\"permissions\":{\"kv\":{\"namespace\":\"unit\"},"
           "\"fs\":{\"mounts\":[{\"guest\":\"/w\",\"type\":\"db\"}]}}}",
           unit_sha);
  if (cis_skills_register(s, unit_wasm, unit_len, m, strlen(m)) != CIS_OK)
    fail_msg("register unit: %s", cis_skills_errmsg(s));
}

/* Runs unit with input `in`; returns the status, the output in out. */
static cis_result unit_run(cis_skills *s, const char *in, char *out, size_t cap) {
  cis_invoke_options o = {.tenant = "t"};
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

/* What unit reads back: its KV value and files, as one JSON text. */
static void unit_state(cis_skills *s, int n, char *out, size_t cap) {
  char in[128];
  snprintf(in, sizeof in, "{\"read\":1,\"dir\":\"/w\",\"n\":%d}", n);
  cis_result rc = unit_run(s, in, out, cap);
  if (rc != CIS_OK) fail_msg("unit read: %s: %s", cis_errname(rc), out);
}

/* A call that writes files and KV and then traps leaves both as before;
 * inside the call it read its own write (unit exits 6 otherwise); one that
 * succeeds lands both. */
static void call_trap_leaves_files_and_kv_as_before(void **state) {
  (void)state;
  cis_skills *s = open_home("unit-trap", NULL);
  reg_unit(s);
  char out[1024];
  assert_int_equal(unit_run(s, "{\"dir\":\"/w\",\"n\":3,\"v\":1}", out, sizeof out), CIS_OK);
  unit_state(s, 3, out, sizeof out);
  assert_string_equal(out, "{\"kv\":\"1\",\"files\":[\"1\",\"1\",\"1\"]}\n");
  cis_result rc = unit_run(s, "{\"dir\":\"/w\",\"n\":3,\"v\":2,\"trap\":1}", out, sizeof out);
  assert_int_equal(rc, CIS_TRAP_UNREACHABLE);
  unit_state(s, 3, out, sizeof out);
  assert_string_equal(out, "{\"kv\":\"1\",\"files\":[\"1\",\"1\",\"1\"]}\n");
  assert_int_equal(unit_run(s, "{\"dir\":\"/w\",\"n\":3,\"v\":3}", out, sizeof out), CIS_OK);
  unit_state(s, 3, out, sizeof out);
  assert_string_equal(out, "{\"kv\":\"3\",\"files\":[\"3\",\"3\",\"3\"]}\n");
  cis_skills_close(s);
}

/* A process killed (SIGKILL) at a random point of a call that writes 20
 * files and a KV key, 8 times: every file and the key each hold one whole
 * value, all files the same one, and the KV value is never newer than the
 * files' (the files commit first: docs/dbfs.md, "One unit"). */
static void sigkill_mid_call_leaves_whole_units(void **state) {
  (void)state;
  char home[1024];
  snprintf(home, sizeof home, "%s/unit-kill", work);
  cis_skills *s = open_home("unit-kill", NULL);
  reg_unit(s);
  char out[2048];
  assert_int_equal(unit_run(s, "{\"dir\":\"/w\",\"n\":20,\"v\":0}", out, sizeof out), CIS_OK);
  cis_skills_close(s);
  srand((unsigned)time(NULL));
  int killed_mid = 0;
  for (int round = 1; round <= 8; round++) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* calls until killed, each with the next value */
      cis_skills_config c;
      cis_skills_config_default(&c);
      c.home = home;
      cis_skills *cs = NULL;
      if (cis_skills_open(&c, &cs) != CIS_OK) _exit(2);
      char in[128], o[256];
      for (int v = round * 1000; v < round * 1000 + 500; v++) {
        snprintf(in, sizeof in, "{\"dir\":\"/w\",\"n\":20,\"v\":%d}", v);
        if (unit_run(cs, in, o, sizeof o) != CIS_OK) _exit(3);
      }
      _exit(0);
    }
    struct timespec ts = {0, (long)(20 + rand() % 200) * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) killed_mid++;
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("round %d: the child failed (%d)", round, st);
    s = NULL;
    cis_skills_config c;
    cis_skills_config_default(&c);
    c.home = home;
    assert_int_equal(cis_skills_open(&c, &s), CIS_OK);
    unit_state(s, 20, out, sizeof out);
    cis_skills_close(s);
    /* {"kv":"K","files":["F","F",...]} */
    long kv = strtol(strstr(out, "\"kv\":\"") + 6, NULL, 10);
    const char *p = strstr(out, "[\"");
    assert_non_null(p);
    long f0 = strtol(p + 2, NULL, 10);
    for (int i = 0; i < 20; i++) {
      assert_non_null(p = strchr(p, '"'));
      if (strtol(p + 1, NULL, 10) != f0) fail_msg("round %d: files differ: %s", round, out);
      p = strchr(p + 1, '"') + 1;
    }
    if (kv > f0) fail_msg("round %d: KV %ld is newer than the files %ld: %s", round, kv, f0, out);
    if (kv != f0) fprintf(stderr, "round %d: killed between the two commits (files %ld, KV %ld)\n", round, f0, kv);
  }
  fprintf(stderr, "%d of 8 rounds killed mid-run\n", killed_mid);
  assert_true(killed_mid > 0);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: test_skill_fs counter.wasm WORKDIR unit.wasm\n");
    return 2;
  }
  wasm_path = argv[1];
  mkdir(argv[2], 0755);
  static char abswork[1024];
  if (!realpath(argv[2], abswork)) return 2; /* symlinks made by the tests point at it */
  work = abswork;
  read_all(wasm_path, &wasm, &wasm_len);
  unsigned char md[32];
  unsigned int mdlen = 0;
  EVP_Digest(wasm, wasm_len, md, &mdlen, EVP_sha256(), NULL);
  for (int i = 0; i < 32; i++) snprintf(sha + 2 * i, 3, "%02x", md[i]);
  read_all(argv[3], &unit_wasm, &unit_len);
  EVP_Digest(unit_wasm, unit_len, md, &mdlen, EVP_sha256(), NULL);
  for (int i = 0; i < 32; i++) snprintf(unit_sha + 2 * i, 3, "%02x", md[i]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(mem_mount_is_scratch),
      cmocka_unit_test(mem_mount_bounded_by_memory_limit),
      cmocka_unit_test(db_mount_persists_per_tenant),
      cmocka_unit_test(host_mount_relative_to_skill),
      cmocka_unit_test(mount_errors_are_typed),
      cmocka_unit_test(db_wait_ends_at_call_deadline),
      cmocka_unit_test(wasi_calls_end_at_call_deadline),
      cmocka_unit_test(old_registry_is_upgraded),
      cmocka_unit_test(db_mounts_are_per_skill),
      cmocka_unit_test(shared_volume_needs_grant),
      cmocka_unit_test(host_source_stays_in_skill_folder),
      cmocka_unit_test(read_only_call_on_full_disk),
      cmocka_unit_test(call_trap_leaves_files_and_kv_as_before),
      cmocka_unit_test(sigkill_mid_call_leaves_whole_units),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  free(wasm);
  free(unit_wasm);
  return rc;
}
