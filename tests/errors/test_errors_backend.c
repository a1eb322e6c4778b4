/*
 * This file implements the tests of a backend's failure reaching the host
 * as its typed cause: a skill whose KV store dies under it gets an error
 * code, gives up in its own words, and the host still sees CIS_EKVDOWN
 * (not CIS_ESKILL), with a message that tells both what the store said and
 * what the skill did. The store dies by the KV wrappers' fault injection
 * (cis_kv_inject_fault), between calls, on SQLite.
 *
 * Usage: test_errors_backend SKILLDIR (holding kv_giveup.wasm)
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

static const char *skill_dir;

typedef struct fixture {
  char home[64];       /* the registry's folder */
  char spec[128];      /* the KV store's spec */
  cis_kv *kv;          /* the embedder's store, handed to the registry */
  cis_skills *s;       /* the registry */
  uint8_t *wasm;       /* kv_giveup.wasm */
  size_t wasm_len;
} fixture;

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  if (!fx) return -1;
  snprintf(fx->home, sizeof fx->home, "/tmp/cis-errbk-XXXXXX");
  if (!mkdtemp(fx->home)) return -1;
  snprintf(fx->spec, sizeof fx->spec, "sqlite:%s/kv.db", fx->home);
  cis_kv_config kc;
  cis_kv_config_default(&kc);
  kc.spec = fx->spec;
  if (cis_kv_open(&kc, &fx->kv) != CIS_OK) return -1;
  cis_log_sink quiet;
  cis_log_sink_null(&quiet);
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = fx->home;
  c.kv = fx->kv;
  c.log_sink = &quiet;
  char err[256];
  if (cis_skills_open(&c, &fx->s, err, sizeof err) != CIS_OK) {
    fprintf(stderr, "cis_skills_open: %s\n", err);
    return -1;
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/kv_giveup.wasm", skill_dir);
  fx->wasm = slurp(path, &fx->wasm_len);
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

  cis_kv_inject_fault(fx->kv, 0, 1000, CIS_EKVDOWN);
  cis_result rc = run(fx, "{}", &res);
  if (rc != CIS_EKVDOWN) fail_msg("status %s, want CIS_EKVDOWN: %s", cis_errname(rc), res.error);
  assert_int_equal(res.status, CIS_EKVDOWN);
  assert_non_null(strstr(res.error, "injected fault"));      /* the store's words */
  assert_non_null(strstr(res.error, "the skill returned error 1")); /* the skill's */
  cis_invoke_result_free(&res);
  cis_kv_inject_fault(fx->kv, 0, 0, CIS_OK);
}

/* A skill that handles the failure and succeeds is not overridden. */
static void test_dead_kv_handled_by_skill_is_ok(void **state) {
  fixture *fx = *state;
  cis_invoke_result res;
  cis_kv_inject_fault(fx->kv, 0, 1000, CIS_EKVDOWN);
  assert_int_equal(run(fx, "{\"tolerate\":true}", &res), CIS_OK);
  assert_string_equal(res.output, "{\"rc\":-5}");
  cis_invoke_result_free(&res);
  cis_kv_inject_fault(fx->kv, 0, 0, CIS_OK);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SKILLDIR\n", argv[0]);
    return 2;
  }
  skill_dir = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_dead_kv_reaches_host_as_kvdown, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dead_kv_handled_by_skill_is_ok, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
