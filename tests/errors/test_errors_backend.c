/*
 * This file implements the tests of a backend's failure reaching the host
 * as its typed cause: a skill whose KV store dies under it gets an error
 * code, gives up in its own words, and the host still sees CIS_EKVDOWN
 * (not CIS_ESKILL), with a message that tells both what the store said and
 * what the skill did. The store dies by the KV wrappers' fault injection
 * (cis__kv_inject_fault), between calls, on SQLite; and, with a PostgreSQL
 * server of the test's own (the errors_pgdown fixture), by `pg.sh stop`.
 *
 * Usage: test_errors_backend SKILLDIR (holding kv_giveup.wasm)
 *        test_errors_backend SKILLDIR pgdown PGDIR PG_SH
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cis/cis.h"
#include "cis/cis_kv.h"
#include "cis/cis_log.h"
#include "cis/cis_skill.h"
#include "support/pg_connstr.h"
#include "support/test_file.h"
#include "kv/kv_testing.h"

static const char *skill_dir;
static const char *pg_dir, *pg_sh; /* pgdown mode: the private server */

typedef struct fixture {
  char home[64];       /* the registry's folder */
  char spec[1100];     /* the KV store's spec */
  cis_kv *kv;          /* the embedder's store, handed to the registry */
  cis_skills *s;       /* the registry */
  uint8_t *wasm;       /* kv_giveup.wasm */
  size_t wasm_len;
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  if (!fx) return -1;
  snprintf(fx->home, sizeof fx->home, "/tmp/cis-errbk-XXXXXX");
  if (!mkdtemp(fx->home)) return -1;
  if (pg_dir) {
    char file[1100], cs[1024];
    snprintf(file, sizeof file, "%s/connstr", pg_dir);
    if (cis_test_read_connstr(file, cs, sizeof cs) != 0) return -1;
    snprintf(fx->spec, sizeof fx->spec, "postgres:%s", cs);
  } else {
    snprintf(fx->spec, sizeof fx->spec, "sqlite:%s/kv.db", fx->home);
  }
  cis_kv_config kc;
  cis_kv_config_default(&kc);
  kc.spec = fx->spec;
  if (cis_kv_open(&kc, &fx->kv) != CIS_OK) {
    fprintf(stderr, "cis_kv_open: %s\n", cis_kv_errmsg(fx->kv));
    cis_kv_close(fx->kv);
    fx->kv = NULL;
    return -1;
  }
  cis_log_sink quiet;
  cis_log_sink_null(&quiet);
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = fx->home;
  c.kv = fx->kv;
  c.log_sink = &quiet;
  if (cis_skills_open(&c, &fx->s) != CIS_OK) {
    fprintf(stderr, "cis_skills_open: %s\n", cis_skills_errmsg(fx->s));
    cis_skills_close(fx->s);
    fx->s = NULL;
    return -1;
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/kv_giveup.wasm", skill_dir);
  fx->wasm = cis_test_file_read(path, &fx->wasm_len);
  if (!fx->wasm) {
    fprintf(stderr, "cannot read %s\n", path);
    return -1;
  }
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  cis_skills_close(fx->s);
  cis_kv_close(fx->kv);
  free(fx->wasm);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->home);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", fx->home);
  free(fx);
  return 0;
}

static cis_result run(fixture *fx, const char *input, cis_invoke_result *res) {
  cis_invoke_options o;
  memset(&o, 0, sizeof o);
  o.allow_kv = true;
  return cis_skills_invoke_wasm(fx->s, fx->wasm, fx->wasm_len, input, strlen(input), &o, res);
}

/* The store works: the skill runs. Then it is out of reach: the skill
 * gives up (returns 1) and the host gets CIS_EKVDOWN, the store's words and
 * the skill's. */
static void test_dead_kv_reaches_host_as_kvdown(void **state) {
  fixture *fx = *state;
  cis_invoke_result res;
  assert_int_equal(run(fx, "{}", &res), CIS_OK);
  assert_string_equal(res.output, "{\"rc\":-1}");
  cis_invoke_result_free(&res);

  cis__kv_inject_fault(fx->kv, 0, 1000, CIS_EKVDOWN);
  cis_result rc = run(fx, "{}", &res);
  if (rc != CIS_EKVDOWN) fail_msg("status %s, want CIS_EKVDOWN: %s", cis_errname(rc), res.error);
  assert_int_equal(res.status, CIS_EKVDOWN);
  assert_non_null(strstr(res.error, "injected fault"));      /* the store's words */
  assert_non_null(strstr(res.error, "the skill returned error 1")); /* the skill's */
  cis_invoke_result_free(&res);
  cis__kv_inject_fault(fx->kv, 0, 0, CIS_OK);
}

/* A skill that handles the failure and succeeds is not overridden. */
static void test_dead_kv_handled_by_skill_is_ok(void **state) {
  fixture *fx = *state;
  cis_invoke_result res;
  cis__kv_inject_fault(fx->kv, 0, 1000, CIS_EKVDOWN);
  assert_int_equal(run(fx, "{\"tolerate\":true}", &res), CIS_OK);
  assert_string_equal(res.output, "{\"rc\":-5}");
  cis_invoke_result_free(&res);
  cis__kv_inject_fault(fx->kv, 0, 0, CIS_OK);
}

static int pg(const char *what) {
  char cmd[2300];
  snprintf(cmd, sizeof cmd, "%s %s %s >/dev/null", pg_sh, what, pg_dir);
  return system(cmd);
}

/* The same on PostgreSQL: the server stops between two calls. */
static void test_stopped_pg_reaches_host_as_kvdown(void **state) {
  fixture *fx = *state;
  cis_invoke_result res;
  assert_int_equal(run(fx, "{}", &res), CIS_OK);
  cis_invoke_result_free(&res);
  assert_int_equal(pg("stop"), 0);
  cis_result rc = run(fx, "{}", &res);
  int back = pg("restart");
  if (rc != CIS_EKVDOWN) fail_msg("status %s, want CIS_EKVDOWN: %s", cis_errname(rc), res.error);
  assert_non_null(strstr(res.error, "postgres"));
  assert_non_null(strstr(res.error, "the skill returned error 1"));
  cis_invoke_result_free(&res);
  assert_int_equal(back, 0);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SKILLDIR\n", argv[0]);
    return 2;
  }
  skill_dir = argv[1];
  if (argc == 5 && !strcmp(argv[2], "pgdown")) {
    pg_dir = argv[3];
    pg_sh = argv[4];
    char file[1100], cs[1024];
    snprintf(file, sizeof file, "%s/connstr", pg_dir);
    int skip = cis_test_read_connstr(file, cs, sizeof cs);
    if (skip) return skip;
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test_setup_teardown(test_stopped_pg_reaches_host_as_kvdown, setup, teardown),
    };
    return cmocka_run_group_tests(pg_tests, NULL, NULL);
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_dead_kv_reaches_host_as_kvdown, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dead_kv_handled_by_skill_is_ok, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
