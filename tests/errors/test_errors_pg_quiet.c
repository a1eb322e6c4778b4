/*
 * This file implements the test that the library prints nothing on the
 * embedder's stderr: the KV store's PostgreSQL connections meet server
 * notices, and libpq's default would print them on fd 2. The store runs in
 * a schema of its own (search_path) that holds cis_kv but not
 * cis_kv_usage, so its first connection creates the schema's tables with
 * CREATE TABLE IF NOT EXISTS, and the server answers "relation cis_kv
 * already exists, skipping" as a NOTICE. The test points fd 2 at a file
 * while the store opens and works, and checks that the file stays empty.
 *
 * Usage: test_errors_pg_quiet CONNSTR_FILE (the shared `pg` fixture)
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cis/cis.h"
#include "cis/cis_kv.h"
#include "support/pg_connstr.h"

#include <libpq-fe.h>

static char spec[1400];
static char connstr[1024];
static char schema[64];

/* Runs sql on a connection of the test's own; 0 when it succeeded. */
static int admin(const char *sql) {
  PGconn *pg = PQconnectdb(connstr);
  int ok = PQstatus(pg) == CONNECTION_OK;
  if (ok) {
    PGresult *r = PQexec(pg, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) fprintf(stderr, "%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
  }
  PQfinish(pg);
  return ok ? 0 : -1;
}

static int setup(void **state) {
  (void)state;
  char sql[512];
  snprintf(sql, sizeof sql,
           "SET client_min_messages = warning; DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s;"
           "CREATE TABLE %s.cis_kv (tenant bytea NOT NULL, skill bytea NOT NULL, key bytea NOT NULL,"
           " value bytea NOT NULL, PRIMARY KEY (tenant, skill, key))",
           schema, schema, schema);
  return admin(sql);
}

static int teardown(void **state) {
  (void)state;
  char sql[160];
  snprintf(sql, sizeof sql, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS %s CASCADE", schema);
  return admin(sql);
}

static void use_store(void) {
  cis_kv_config c;
  cis_kv_config_default(&c);
  c.spec = spec;
  cis_kv *kv = NULL;
  cis_result rc = cis_kv_open(&c, &kv);
  if (rc != CIS_OK) fail_msg("cis_kv_open: %s: %s", cis_errname(rc), cis_kv_errmsg(kv));
  cis_principal who = {"errors-quiet", "s"};
  cis_kv_txn *t = NULL;
  assert_int_equal(cis_kv_begin(kv, &who, 10000, &t), CIS_OK);
  void *v = NULL;
  size_t n = 0;
  cis_result g = cis_kv_get(t, "k", 1, &v, &n);
  if (g == CIS_OK) cis_kv_free(v);
  cis_kv_rollback(t);
  cis_kv_close(kv);
}

static void test_pg_notices_not_on_stderr(void **state) {
  (void)state;
  char path[] = "/tmp/cis-stderr-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  fflush(stderr);
  int saved = dup(2);
  assert_true(saved >= 0);
  assert_int_equal(dup2(fd, 2), 2);
  use_store(); /* CREATE TABLE IF NOT EXISTS cis_kv: a NOTICE */
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  char got[512] = "";
  ssize_t r = pread(fd, got, sizeof got - 1, 0);
  got[r > 0 ? r : 0] = '\0';
  close(fd);
  unlink(path);
  if (st.st_size != 0) fail_msg("%lld bytes on stderr: %s", (long long)st.st_size, got);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CONNSTR_FILE\n", argv[0]);
    return 2;
  }
  int skip = cis_test_read_connstr(argv[1], connstr, sizeof connstr);
  if (skip) return skip;
  snprintf(schema, sizeof schema, "cis_quiet_%ld", (long)getpid());
  snprintf(spec, sizeof spec, "postgres:%s options='-c search_path=%s'", connstr, schema);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_pg_notices_not_on_stderr, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
