/*
 * This file tests what the operator sees of a skill call (issue 11): the
 * host's own warn lines in the call's log (a denied call, an HTTP request
 * the allow-list refuses named by scheme, host and port only, a KV quota
 * hit, an AI provider that cannot be set up), a WASI skill's stderr as log
 * lines, the AI provider built when a call first needs it (a missing key
 * breaks only AI calls; a base URL with or without /v1), a call's own
 * environment and folders (cis_invoke_options), and "no entry point"
 * listing what the module exports.
 *
 *   test_operate SKILL_DIR WAT_DIR
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cis/cis_skill.h"
#include "net/mock_llm.h"
#include "support/skill_host.h"

static const char *g_skills, *g_wat; /* built modules */
static char g_tmp[256];              /* homes, files */

/* A host on a fresh registry; AI from url/key_env ("" = none). Log lines
 * go to a null sink: the tests read the call's own capture. */
static cis_skills *open_host(const char *home, const char *url, const char *key_env) {
  char dir[512];
  cis_test_home(dir, sizeof dir, g_tmp, home, 0);
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = dir;
  c.ai_base_url = url;
  c.ai_model = "mock";
  c.ai_key_env = key_env;
  return cis_test_skills_open_config(&c);
}

/* Installs module FILE (from dir) as skill name with permissions perm
 * (a JSON object's members, may be ""). */
static void install(cis_skills *s, const char *dir, const char *file, const char *name, const char *perm,
                    const char *abi) {
  char extra[1024];
  snprintf(extra, sizeof extra, "\"abi\":\"%s\",\"permissions\":{%s}", abi, perm);
  cis_test_install(s, dir, file, name, extra);
}

static cis_result call(cis_skills *s, const char *name, const char *input, const cis_invoke_options *o,
                       cis_invoke_result *r) {
  return cis_skills_invoke(s, name, input, strlen(input), o, r);
}

static void contains(const char *hay, const char *needle) {
  if (!hay || !strstr(hay, needle)) fail_msg("\"%s\" not in:\n%s", needle, hay ? hay : "(null)");
}

static void lacks(const char *hay, const char *needle) {
  if (hay && strstr(hay, needle)) fail_msg("\"%s\" should not be in:\n%s", needle, hay);
}

/* ----------------------------------------------------------- AI */

/* An unset key variable fails only AI calls: the host opens, a skill
 * without AI runs, and the AI call gets NO_PROVIDER with the reason in the
 * call's log (the variable's name, never a key). */
static void missing_key_breaks_only_ai_calls(void **st) {
  (void)st;
  unsetenv("CIS_TEST_OPERATE_NO_KEY");
  cis_skills *s = open_host("nokey", "http://127.0.0.1:9/v1", "CIS_TEST_OPERATE_NO_KEY");
  install(s, g_wat, "op_kv.wasm", "nokv", "\"kv\":true", "cis_v1");
  install(s, g_wat, "op_ai.wasm", "asker", "\"ai\":true", "cis_v1");
  cis_invoke_result r;
  assert_int_equal(call(s, "nokv", "{}", NULL, &r), CIS_OK);
  cis_invoke_result_free(&r);
  assert_int_equal(call(s, "asker", "{}", NULL, &r), CIS_ESKILL);
  contains(r.error, "returned error -7"); /* NO_PROVIDER */
  contains(r.logs, "host: ai: CIS_ENOPROVIDER");
  contains(r.logs, "CIS_TEST_OPERATE_NO_KEY");
  contains(r.logs, "is not set");
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

/* The provider's base URL may be given with or without /v1. */
static void ai_base_url_with_or_without_v1(void **st) {
  (void)st;
  cis_mock_server *llm = cis_mock_llm_start(NULL, 0);
  assert_non_null(llm);
  const char *suffix[] = {"", "/", "/v1", "/v1/"};
  for (int i = 0; i < 4; i++) {
    char url[128], home[32];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", cis_mock_port(llm), suffix[i]);
    snprintf(home, sizeof home, "v1-%d", i);
    cis_skills *s = open_host(home, url, "");
    install(s, g_wat, "op_ai.wasm", "asker", "\"ai\":true", "cis_v1");
    cis_invoke_result r;
    cis_result rc = call(s, "asker", "{}", NULL, &r);
    if (rc != CIS_OK) fail_msg("%s: %s: %s\n%s", url, cis_errname(rc), r.error, r.logs ? r.logs : "");
    assert_string_equal(r.output, "{\"r\":\"echo: hi\"}");
    cis_invoke_result_free(&r);
    cis_skills_close(s);
  }
  cis_mock_stop(llm);
}

/* An AI provider's failure (here: nothing listens) is a warn line with
 * the provider's origin. */
static void ai_network_error_is_logged(void **st) {
  (void)st;
  cis_skills *s = open_host("ai-down", "http://127.0.0.1:9/v1", "");
  install(s, g_wat, "op_ai.wasm", "asker", "\"ai\":true", "cis_v1");
  cis_invoke_result r;
  assert_int_equal(call(s, "asker", "{}", NULL, &r), CIS_ESKILL);
  contains(r.logs, "WARN");
  contains(r.logs, "host: ai: CIS_ENET");
  contains(r.logs, "127.0.0.1:9");
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

/* ------------------------------------------------------- denials */

/* A request the allow-list refuses: a warn line naming scheme, host and
 * port, never the path or the query string. */
static void denied_http_logged_without_path_or_query(void **st) {
  (void)st;
  cis_skills *s = open_host("http", "", "");
  install(s, g_wat, "op_http.wasm", "fetcher", "\"http\":{\"allow\":[\"https://api.example.com\"]}", "cis_v1");
  cis_invoke_result r;
  assert_int_equal(call(s, "fetcher", "{}", NULL, &r), CIS_OK);
  contains(r.logs, "WARN");
  contains(r.logs, "host: http GET: CIS_EDENIED");
  contains(r.logs, "http://denied.example:8089");
  lacks(r.logs, "s3cr3t");
  lacks(r.logs, "private");
  assert_int_equal(r.stats.http_calls, 1);
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

/* A skill without KV or log grants: each refused KV call is a host warn
 * line (in the log although the skill may not log), its own log line is
 * not there. */
static void denied_services_logged_for_a_skill_without_log(void **st) {
  (void)st;
  cis_skills *s = open_host("deny", "", "");
  install(s, g_wat, "op_kv.wasm", "quiet", "\"log\":false", "cis_v1");
  cis_invoke_result r;
  assert_int_equal(call(s, "quiet", "{}", NULL, &r), CIS_OK);
  contains(r.logs, "host: kv_set denied: not granted");
  lacks(r.logs, "guest line");
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

/* A KV quota hit is a warn line naming the quota, not the key. */
static void kv_quota_hit_logged(void **st) {
  (void)st;
  cis_skills *s = open_host("quota", "", "");
  install(s, g_wat, "op_kv.wasm", "filler", "\"kv\":{\"max_keys\":2}", "cis_v1");
  cis_invoke_result r;
  assert_int_equal(call(s, "filler", "{}", NULL, &r), CIS_OK);
  contains(r.logs, "host: kv_set: CIS_E");
  contains(r.logs, "guest line");
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

/* --------------------------------------------------------- WASI */

/* What a WASI skill writes to stderr comes back as log lines of the call,
 * at error level when the call failed. */
static void wasi_stderr_shown_as_log_lines(void **st) {
  (void)st;
  cis_skills *s = open_host("stderr", "", "");
  install(s, g_skills, "op_wasi.wasm", "wasi-op", "", "wasi");
  cis_invoke_result r;
  assert_int_equal(call(s, "wasi-op", "{\"op\":\"fail\"}", NULL, &r), CIS_ESKILL);
  assert_int_equal(r.exit_code, 3);
  contains(r.logs, "ERROR");
  contains(r.logs, "op_wasi: bad input");
  contains(r.logs, "second line of stderr");
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

/* A call's own environment and host folders reach a WASI skill. */
static void call_env_and_dirs_reach_a_wasi_skill(void **st) {
  (void)st;
  cis_skills *s = open_host("extras", "", "");
  install(s, g_skills, "op_wasi.wasm", "wasi-op", "", "wasi");
  cis_invoke_result r;
  assert_int_equal(call(s, "wasi-op", "{\"op\":\"env\"}", NULL, &r), CIS_OK);
  assert_string_equal(r.output, "{\"v\":null}\n");
  cis_invoke_result_free(&r);
  const char *env[] = {"OP_VAR=from the call"};
  cis_invoke_options o = {.env = env, .nenv = 1};
  assert_int_equal(call(s, "wasi-op", "{\"op\":\"env\"}", &o, &r), CIS_OK);
  assert_string_equal(r.output, "{\"v\":\"from the call\"}\n");
  cis_invoke_result_free(&r);

  char dir[300], file[400];
  snprintf(dir, sizeof dir, "%s/extra", g_tmp);
  assert_int_equal(mkdir(dir, 0700), 0);
  snprintf(file, sizeof file, "%s/in.txt", dir);
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  fputs("hello from the host\n", f);
  fclose(f);
  cis_invoke_mount mt = {.host = dir, .guest = "/extra", .read_only = true};
  cis_invoke_options od = {.mounts = &mt, .nmounts = 1};
  assert_int_equal(call(s, "wasi-op", "{\"op\":\"read\"}", NULL, &r), CIS_ESKILL); /* not without it */
  cis_invoke_result_free(&r);
  cis_result rc = call(s, "wasi-op", "{\"op\":\"read\"}", &od, &r);
  if (rc != CIS_OK) fail_msg("%s: %s\n%s", cis_errname(rc), r.error, r.logs ? r.logs : "");
  assert_string_equal(r.output, "{\"v\":\"hello from the host\"}\n");
  cis_invoke_result_free(&r);
  /* A folder that is not there, a variable without '=': the call's error. */
  cis_invoke_mount gone = {.host = "/nonexistent/cis-operate", .guest = "/x"};
  cis_invoke_options og = {.mounts = &gone, .nmounts = 1};
  assert_int_not_equal(call(s, "wasi-op", "{\"op\":\"env\"}", &og, &r), CIS_OK);
  contains(r.error, "--dir /nonexistent/cis-operate");
  cis_invoke_result_free(&r);
  const char *bad[] = {"NOEQUALS"};
  cis_invoke_options ob = {.env = bad, .nenv = 1};
  assert_int_equal(call(s, "wasi-op", "{\"op\":\"env\"}", &ob, &r), CIS_EINVAL);
  contains(r.error, "NAME=VALUE");
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

/* ------------------------------------------------------ messages */

/* "no entry point" lists the module's functions and points to the ABI
 * document. */
static void no_entry_point_lists_exports(void **st) {
  (void)st;
  cis_skills *s = open_host("noentry", "", "");
  size_t len;
  uint8_t *wasm = cis_test_slurp(g_wat, "op_noentry.wasm", &len);
  cis_invoke_result r;
  assert_int_equal(cis_skills_invoke_wasm(s, wasm, len, "{}", 2, NULL, &r), CIS_EABI);
  contains(r.error, "no entry point");
  contains(r.error, "docs/abi.md");
  contains(r.error, "handle, helper_two");
  cis_invoke_result_free(&r);
  free(wasm);
  /* A component is named as such, with what to build instead. */
  static const uint8_t comp[] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x00};
  assert_int_equal(cis_skills_invoke_wasm(s, comp, sizeof comp, "{}", 2, NULL, &r), CIS_EVERSION);
  contains(r.error, "component");
  contains(r.error, "wasm32-wasip1");
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

/* A signature mismatch shows what the module has against what the ABI
 * calls, at install and for a bare module. */
static void signature_mismatch_shows_expected_and_actual(void **st) {
  (void)st;
  cis_skills *s = open_host("badsig", "", "");
  assert_int_equal(cis_test_register(s, g_wat, "op_badsig.wasm", "badsig", "\"abi\":\"cis_v1\""), CIS_EABI);
  contains(cis_skills_errmsg(s), "cis_main is (i32) -> (i64); the cis_v1 ABI calls it as () -> i32");
  size_t len;
  uint8_t *wasm = cis_test_slurp(g_wat, "op_badsig.wasm", &len);
  cis_invoke_result r;
  assert_int_equal(cis_skills_invoke_wasm(s, wasm, len, "{}", 2, NULL, &r), CIS_EABI);
  contains(r.error, "cis_main is (i32) -> (i64); the ABI calls it as () -> (i32)");
  cis_invoke_result_free(&r);
  free(wasm);
  /* A host import of the wrong type: the module's signature against the
   * host's. */
  assert_int_equal(cis_test_register(s, g_wat, "op_badimport.wasm", "badimport", "\"abi\":\"cis_v1\""),
                   CIS_EIMPORTTYPE);
  contains(cis_skills_errmsg(s), "\"cis_v1\".\"log\"");
  contains(cis_skills_errmsg(s), "the module imports (i32) -> (i32), the host provides (i32, i32, i32) -> (i32)");
  cis_skills_close(s);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_operate SKILL_DIR WAT_DIR\n");
    return 2;
  }
  g_skills = argv[1];
  g_wat = argv[2];
  if (cis_test_root_make(g_tmp, sizeof g_tmp, "operate") != 0) return 2;
  unsetenv("CIS_AI_BASE_URL");
  unsetenv("CIS_AI_KEY_ENV");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(missing_key_breaks_only_ai_calls),
      cmocka_unit_test(ai_base_url_with_or_without_v1),
      cmocka_unit_test(ai_network_error_is_logged),
      cmocka_unit_test(denied_http_logged_without_path_or_query),
      cmocka_unit_test(denied_services_logged_for_a_skill_without_log),
      cmocka_unit_test(kv_quota_hit_logged),
      cmocka_unit_test(wasi_stderr_shown_as_log_lines),
      cmocka_unit_test(call_env_and_dirs_reach_a_wasi_skill),
      cmocka_unit_test(no_entry_point_lists_exports),
      cmocka_unit_test(signature_mismatch_shows_expected_and_actual),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
  cis_test_root_remove(g_tmp);
  return rc;
}
