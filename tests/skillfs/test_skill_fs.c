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
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cis/cis_skill.h"

static const char *wasm_path;
static const char *work;
static uint8_t *wasm;
static size_t wasm_len;
static char sha[65];

static void read_all(const char *path, uint8_t **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  *data = malloc((size_t)n + 1);
  assert_non_null(*data);
  assert_int_equal(fread(*data, 1, (size_t)n, f), (size_t)n);
  (*data)[n] = 0;
  *len = (size_t)n;
  fclose(f);
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
  char err[512];
  cis_result rc = cis_skills_open(&c, &s, err, sizeof err);
  if (rc != CIS_OK) fail_msg("cis_skills_open: %s", err);
  return s;
}

/* A manifest for counter.wasm with the given mounts JSON list. */
static char *manifest(const char *name, const char *mounts) {
  char *m = malloc(4096);
  assert_non_null(m);
  snprintf(m, 4096,
           "{\"name\":\"%s\",\"version\":\"1\",\"wasm\":{\"path\":\"counter.wasm\",\"sha256\":\"%s\"},"
           "\"abi\":\"wasi\",\"permissions\":{\"fs\":{\"mounts\":%s}}}",
           name, sha, mounts);
  return m;
}

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
  assert_int_equal(cis_skills_open(&c, &s2, NULL, 0), CIS_OK);
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
  /* fopen("w") had emptied the file and the 3-byte write was refused
   * whole: the next call finds it empty, not holding a part of "10". */
  assert_int_equal(count_of(s, "tight", "t", "/q/n"), 1);
  cis_skills_close(s);
  /* The database of db mounts is down: a typed error, no crash. */
  s = open_home("down", "postgres:host=127.0.0.1 port=1 connect_timeout=2 dbname=none");
  reg(s, "keeper", "[{\"guest\":\"/work\",\"type\":\"db\"}]");
  assert_int_equal(run(s, "keeper", "alice", "/work/n", &n, err, sizeof err), CIS_EVFSDOWN);
  assert_non_null(strstr(err, "permissions.fs.mounts[0]"));
  cis_skills_close(s);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: test_skill_fs counter.wasm WORKDIR\n");
    return 2;
  }
  wasm_path = argv[1];
  work = argv[2];
  mkdir(work, 0755);
  read_all(wasm_path, &wasm, &wasm_len);
  unsigned char md[32];
  unsigned int mdlen = 0;
  EVP_Digest(wasm, wasm_len, md, &mdlen, EVP_sha256(), NULL);
  for (int i = 0; i < 32; i++) snprintf(sha + 2 * i, 3, "%02x", md[i]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(mem_mount_is_scratch),
      cmocka_unit_test(db_mount_persists_per_tenant),
      cmocka_unit_test(host_mount_relative_to_skill),
      cmocka_unit_test(mount_errors_are_typed),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  free(wasm);
  return rc;
}
