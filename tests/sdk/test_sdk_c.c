/*
 * This file tests the C SDK (sdk/c/cis_skill.h) and, through it, every
 * host binding of the three import modules of docs/abi.md (`cis_v1`,
 * `cis` of seed 001, `env` of seed 002), with results asserted:
 *
 *   - abi-probe.c runs the whole KV, AI, HTTP and log surface of one
 *     module per call, against real services: KV on SQLite (or
 *     PostgreSQL), AI on the mock LLM, HTTP on the mock route server.
 *     The AI answer is the mock's reply holding \u0000: every ABI must
 *     hand the guest all its bytes. The same calls without grants give
 *     DENIED; each binding given a pointer outside memory ends the call
 *     with CIS_TRAP_MEM_OOB; an allocator that fails gives ALLOC_FAILED.
 *   - the guest's cis_json_get_string decodes \uXXXX (surrogate pairs
 *     included) to UTF-8 and refuses lone surrogates and \u0000.
 *   - seed001-packed.c returns its output as a packed i64.
 *
 * Usage: test_sdk_c DIR [@CONNSTR_FILE]   (DIR holds the built modules)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/pg_connstr.h"
#include "support/skill_host.h"
#include <cjson/cJSON.h>

#include "cis/cis_skill.h"
#include "net/mock_llm.h"

static const char *g_dir;  /* the built modules */
static char g_tmp[256];    /* skill homes */
static char g_kv[1024];    /* KV spec */
static char g_tenant[64];  /* unique per run */

/* ------------------------------------------------------------ helpers */

static cis_ai *mock_ai(cis_mock_server *llm) {
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/v1", cis_mock_port(llm));
  cis_ai_openai_config oc;
  cis_ai_openai_config_default(&oc);
  oc.base_url = url;
  oc.model = "mock";
  cis_ai_config ac;
  cis_ai_config_default(&ac);
  assert_int_equal(cis_ai_provider_openai(&oc, &ac.provider), CIS_OK);
  cis_ai *ai;
  assert_int_equal(cis_ai_new(&ac, &ai), CIS_OK);
  return ai;
}

typedef struct env {
  cis_mock_server *llm;  /* mock LLM */
  cis_mock_server *web;  /* mock HTTP routes */
  cis_ai *ai;            /* AI service on llm */
  cis_skills *s;         /* the host */
  char rule[64];         /* allow rule for web */
  const char *rules[1];  /* points at rule */
  cis_invoke_options all; /* every grant */
  uint8_t *probe;        /* abi-probe.wasm */
  size_t probe_len;
} env;

static void env_open(env *e, const char *home) {
  memset(e, 0, sizeof *e);
  e->llm = cis_mock_llm_start(NULL, 0);
  e->web = cis_mock_http_start();
  assert_non_null(e->llm);
  assert_non_null(e->web);
  e->ai = mock_ai(e->llm);
  char dir[512];
  cis_test_home(dir, sizeof dir, g_tmp, home, 0);
  e->s = cis_test_skills_open(dir, g_kv, e->ai);
  snprintf(e->rule, sizeof e->rule, "http://127.0.0.1:%u", cis_mock_port(e->web));
  e->rules[0] = e->rule;
  e->all = (cis_invoke_options){.tenant = g_tenant, .allow_hosts = e->rules, .nallow_hosts = 1,
                                .allow_kv = true, .allow_ai = true};
  e->probe = cis_test_slurp(g_dir, "abi-probe.wasm", &e->probe_len);
}

static void env_close(env *e) {
  cis_skills_close(e->s);
  cis_ai_free(e->ai);
  cis_mock_stop(e->llm);
  cis_mock_stop(e->web);
  free(e->probe);
}

/* Runs the probe; returns the status, the output parsed into *out (NULL
 * when there is none). */
static cis_result run_probe(env *e, const cis_invoke_options *o, cJSON **out, cis_invoke_result *r,
                            const char *fmt, ...) {
  char in[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(in, sizeof in, fmt, ap);
  va_end(ap);
  cis_result rc = cis_skills_invoke_wasm(e->s, e->probe, e->probe_len, in, strlen(in), o, r);
  *out = rc == CIS_OK && r->output ? cJSON_Parse(r->output) : NULL;
  if (rc == CIS_OK && !*out) fail_msg("probe output is not JSON: %s", r->output);
  return rc;
}

static double num(const cJSON *j, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
  if (!cJSON_IsNumber(v)) fail_msg("no number \"%s\" in %s", k, cJSON_PrintUnformatted(j));
  return v->valuedouble;
}

static const char *str(const cJSON *j, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
  if (!cJSON_IsString(v)) fail_msg("no string \"%s\" in %s", k, cJSON_PrintUnformatted(j));
  return v->valuestring;
}

static bool flag(const cJSON *j, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
  if (!cJSON_IsBool(v)) fail_msg("no bool \"%s\" in %s", k, cJSON_PrintUnformatted(j));
  return cJSON_IsTrue(v);
}

static void hex_of(const void *p, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[b[i] >> 4];
    out[2 * i + 1] = hex[b[i] & 15];
  }
  out[2 * n] = 0;
}

/* ------------------------------------------------- every binding, granted */

/* One module's whole surface, with every grant. The AI prompt is the mock
 * LLM's mock:nul: the reply holds \u0000 and must arrive whole. */
static void check_module(env *e, const char *op) {
  cis_invoke_result r;
  cJSON *j;
  char key[64], want_hex[2 * MOCK_LLM_NUL_LEN + 1], want_body[32];
  snprintf(key, sizeof key, "key-%s", op);
  unsigned reqs = cis_mock_requests(e->llm);
  cis_result rc = run_probe(e, &e->all, &j, &r, "{\"op\":\"%s\",\"key\":\"%s\",\"prompt\":\"mock:nul\",\"url\":\"%s/echo\"}",
                            op, key, e->rule);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", op, cis_errname(rc), r.error);
  const bool v1 = !strcmp(op, "v1"), s1 = !strcmp(op, "seed001"), s2 = !strcmp(op, "seed002");
  assert_int_equal(num(j, "set"), 0);
  assert_int_equal(num(j, "need"), 6);
  if (!s2) assert_true(flag(j, "untouched")); /* a too-small buffer is not written */
  char want[16];
  snprintf(want, sizeof want, "val-%s", v1 ? "v1" : s1 ? "s1" : "s2");
  assert_string_equal(str(j, "get"), want);
  assert_int_equal(num(j, "incr"), 0);
  assert_int_equal(num(j, "incr_value"), 5);
  assert_int_equal(num(j, "cas_absent"), 1);
  assert_int_equal(num(j, "cas_wrong"), 0);
  assert_int_equal(num(j, "cas_right"), 1);
  assert_int_equal(num(j, "del"), 0);
  assert_int_equal(num(j, "del_again"), -1); /* NOT_FOUND */
  /* The AI reply, NUL included, every byte. */
  hex_of(MOCK_LLM_NUL_CONTENT, MOCK_LLM_NUL_LEN, want_hex);
  assert_int_equal(num(j, "ai_need"), MOCK_LLM_NUL_LEN);
  assert_int_equal(num(j, "ai_len"), MOCK_LLM_NUL_LEN);
  assert_string_equal(str(j, "ai"), want_hex);
  /* A retry with the full buffer is served from the kept answer. */
  assert_int_equal(cis_mock_requests(e->llm), reqs + 1);
  snprintf(want_body, sizeof want_body, "body-%s", v1 ? "v1" : s1 ? "s1" : "s2");
  assert_int_equal(num(j, "http"), 7);
  assert_string_equal(str(j, "http_body"), want_body);
  assert_int_equal(num(j, "log"), 0);
  if (v1) {
    assert_non_null(strstr(str(j, "errmsg"), "kv_delete: not found"));
    assert_int_equal(num(j, "errmsg_len"), strlen(str(j, "errmsg")));
    assert_int_equal(num(j, "http_bad_method"), -6);
    assert_int_equal(num(j, "input_bad_offset"), -6);
    assert_true(flag(j, "remaining"));
  }
  if (s1) {
    assert_int_equal(num(j, "set_empty"), -6); /* through last_error */
    assert_int_equal(num(j, "http_get"), 0);  /* /echo of a GET: an empty body */
  }
  cJSON_Delete(j);
  /* What the log captured. */
  assert_non_null(r.logs);
  assert_non_null(strstr(r.logs, v1 ? "probe v1" : s1 ? "probe seed001" : "probe seed002"));
  assert_true(r.stats.kv_sets >= 4);
  assert_int_equal(r.stats.ai_calls, 1);
  assert_true(r.stats.http_calls >= 1);
  cis_invoke_result_free(&r);

  /* The writes committed with the call: the next call sees the counter. */
  rc = run_probe(e, &e->all, &j, &r, "{\"op\":\"%s\",\"key\":\"%s\",\"prompt\":\"hi\",\"url\":\"%s/echo\"}", op,
                 key, e->rule);
  assert_int_equal(rc, CIS_OK);
  assert_int_equal(num(j, "incr_value"), 10);
  assert_int_equal(num(j, "cas_absent"), 0); /* the key holds "y" now */
  assert_int_equal(num(j, "cas_right"), 0);
  hex_of("echo: hi", 8, want_hex);
  assert_string_equal(str(j, "ai"), want_hex);
  cJSON_Delete(j);
  cis_invoke_result_free(&r);
}

static void bindings_v1(void **st) {
  (void)st;
  env e;
  env_open(&e, "v1");
  check_module(&e, "v1");
  env_close(&e);
}

static void bindings_seed001_module(void **st) {
  (void)st;
  env e;
  env_open(&e, "s1");
  check_module(&e, "seed001");
  env_close(&e);
}

static void bindings_seed002_module(void **st) {
  (void)st;
  env e;
  env_open(&e, "s2");
  check_module(&e, "seed002");
  env_close(&e);
}

/* ------------------------------------------------------ every binding, denied */

static void bindings_denied_without_grants(void **st) {
  (void)st;
  env e;
  env_open(&e, "denied");
  cis_invoke_options none = {.tenant = g_tenant};
  const char *ops[] = {"v1", "seed001", "seed002"};
  for (size_t i = 0; i < 3; i++) {
    cis_invoke_result r;
    cJSON *j;
    unsigned llm = cis_mock_requests(e.llm), web = cis_mock_requests(e.web);
    cis_result rc = run_probe(&e, &none, &j, &r, "{\"op\":\"%s\",\"key\":\"k\",\"prompt\":\"hi\",\"url\":\"%s/echo\"}",
                              ops[i], e.rule);
    if (rc != CIS_OK) fail_msg("%s: %s: %s", ops[i], cis_errname(rc), r.error);
    const char *codes[] = {"set", "need", "incr", "cas_absent", "cas_wrong", "cas_right", "del", "del_again",
                           "ai_need", "http"};
    for (size_t k = 0; k < sizeof codes / sizeof *codes; k++)
      if (num(j, codes[k]) != -2) fail_msg("%s.%s: %g, expected DENIED (-2)", ops[i], codes[k], num(j, codes[k]));
    assert_int_equal(num(j, "incr_value"), 0);
    assert_int_equal(cis_mock_requests(e.llm), llm); /* nothing reached a service */
    assert_int_equal(cis_mock_requests(e.web), web);
    if (i == 0) assert_non_null(strstr(str(j, "errmsg"), "not granted"));
    cJSON_Delete(j);
    cis_invoke_result_free(&r);
  }
  env_close(&e);
}

/* --------------------------------------------------------- out of bounds */

static void bindings_trap_on_pointer_outside_memory(void **st) {
  (void)st;
  env e;
  env_open(&e, "oob");
  static const char *const fns[] = {
      "input_read", "output_write", "kv_get", "kv_get_dst", "kv_set", "kv_delete", "kv_increment", "kv_cas",
      "ai_chat", "http_request", "log", "error_message",
      "cis.ai_prompt", "cis.memory_get", "cis.memory_set", "cis.memory_delete", "cis.memory_increment",
      "cis.memory_cas", "cis.http_request", "cis.log",
      "env.host_memory_get", "env.host_memory_set", "env.host_memory_delete", "env.host_memory_increment",
      "env.host_memory_cas", "env.host_ai_chat", "env.host_log", "env.host_http_post"};
  for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
    cis_invoke_result r;
    cJSON *j;
    cis_result rc = run_probe(&e, &e.all, &j, &r, "{\"op\":\"oob\",\"fn\":\"%s\"}", fns[i]);
    if (rc != CIS_TRAP_MEM_OOB)
      fail_msg("%s: %s (%s), expected CIS_TRAP_MEM_OOB", fns[i], cis_errname(rc), r.output ? r.output : r.error);
    const char *dot = strchr(fns[i], '.');
    char want[96];
    if (!strcmp(fns[i], "kv_get_dst")) snprintf(want, sizeof want, "cis_v1.kv_get");
    else snprintf(want, sizeof want, "%s%s", dot ? "" : "cis_v1.", fns[i]);
    if (!strstr(r.error, want)) fail_msg("%s: the trap does not name %s: %s", fns[i], want, r.error);
    cJSON_Delete(j);
    cis_invoke_result_free(&r);
  }
  env_close(&e);
}

/* The env ABI copies answers into memory from the guest's allocator: one
 * that returns 0 gives ALLOC_FAILED, not a write at address 0. */
static void bindings_seed002_allocator_fails(void **st) {
  (void)st;
  env e;
  env_open(&e, "allocfail");
  cis_invoke_result r;
  cJSON *j;
  assert_int_equal(run_probe(&e, &e.all, &j, &r, "{\"op\":\"allocfail\"}"), CIS_OK);
  assert_int_equal(num(j, "get"), -11);
  assert_int_equal(num(j, "ai"), -11);
  cJSON_Delete(j);
  cis_invoke_result_free(&r);
  env_close(&e);
}

/* ------------------------------------------------- cis_json_get_string */

/* The finding: the C SDK's cis_json_get_string did not decode \uXXXX. */
static void sdk_json_get_string_decodes_unicode_escapes(void **st) {
  (void)st;
  env e;
  env_open(&e, "json");
  static const struct {
    const char *json; /* the "text" member as JSON text */
    int n;            /* expected result */
    const char *hex;  /* expected bytes */
    int tiny;         /* result with a 4-byte buffer */
  } cases[] = {
      {"\"plain\"", 5, "706c61696e", -3},
      {"\"caf\\u00e9\"", 5, "636166c3a9", -3},             /* 2-byte UTF-8 */
      {"\"\\u20AC\"", 3, "e282ac", 3},                      /* 3 bytes, upper-case hex */
      {"\"\\ud83d\\ude00!\"", 5, "f09f988021", -3},         /* a surrogate pair: 4 bytes */
      {"\"a\\/b\\\\c\\\"d\\be\\ff\\n\"", 12, "612f625c6322640865 0c660a", -3},
      {"\"\\ud83d\"", -6, "", -6},                          /* a lone high surrogate */
      {"\"\\ud83dx\"", -6, "", -6},                         /* high, then no \u */
      {"\"\\ud83d\\u0041\"", -6, "", -6},                   /* high, then not a low one */
      {"\"\\ude00\"", -6, "", -6},                          /* a lone low surrogate */
      {"\"a\\u0000b\"", -6, "", -6},                        /* NUL: a C string cannot hold it */
      {"\"\\u12\"", -6, "", -6},                            /* too few hex digits */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cis_invoke_result r;
    cJSON *j;
    /* The document {"text":CASE} as the body of a JSON string. */
    char doc[256];
    size_t d = 0;
    memcpy(doc, "{\\\"text\\\":", 10);
    d = 10;
    for (const char *p = cases[i].json; *p; p++) {
      if (*p == '"' || *p == '\\') doc[d++] = '\\';
      doc[d++] = *p;
    }
    doc[d++] = '}';
    doc[d] = 0;
    cis_result rc = run_probe(&e, &e.all, &j, &r, "{\"op\":\"json\",\"doc\":\"%s\"}", doc);
    if (rc != CIS_OK) fail_msg("%s: %s: %s", cases[i].json, cis_errname(rc), r.error);
    char want[64];
    size_t k = 0;
    for (const char *p = cases[i].hex; *p; p++)
      if (*p != ' ') want[k++] = *p;
    want[k] = 0;
    if (num(j, "n") != cases[i].n || strcmp(str(j, "hex"), want) || num(j, "tiny") != cases[i].tiny)
      fail_msg("%s: n %g hex %s tiny %g, expected %d %s %d", cases[i].json, num(j, "n"), str(j, "hex"),
               num(j, "tiny"), cases[i].n, want, cases[i].tiny);
    cJSON_Delete(j);
    cis_invoke_result_free(&r);
  }
  env_close(&e);
}

/* ------------------------------------------------- seed 001, packed i64 */

static void seed001_execute_returns_packed_i64(void **st) {
  (void)st;
  env e;
  env_open(&e, "packed");
  size_t len;
  uint8_t *wasm = cis_test_slurp(g_dir, "seed001-packed.wasm", &len);
  cis_invoke_result r;
  const char *in = "{\"value\":\"packed \\u00e9\"}";
  cis_result rc = cis_skills_invoke_wasm(e.s, wasm, len, in, strlen(in), &e.all, &r);
  if (rc != CIS_OK) fail_msg("%s: %s", cis_errname(rc), r.error);
  assert_string_equal(r.output, "{\"abi\":\"seed001-packed\",\"value\":\"packed \xc3\xa9\"}");
  assert_int_equal(r.output_len, strlen(r.output));
  cis_invoke_result_free(&r);
  /* A packed range outside memory is the skill's broken ABI. */
  in = "{\"bad\":true}";
  assert_int_equal(cis_skills_invoke_wasm(e.s, wasm, len, in, strlen(in), &e.all, &r), CIS_EABI);
  assert_non_null(strstr(r.error, "packed range"));
  cis_invoke_result_free(&r);
  free(wasm);
  env_close(&e);
}

/* ------------------------------------------------------------ settings */

static const char *str_or_null(const cJSON *j, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* config_get of each module reads the operator's settings: the stored
 * ones of an installed skill, under the call's own (--config), the last
 * of a key winning; a key set nowhere is NOT_FOUND. */
static void config_get_reads_stored_and_call_settings_in_every_module(void **st) {
  (void)st;
  env e;
  env_open(&e, "config");
  cis_invoke_result r;
  cJSON *j;
  /* A bare module has only the call's settings. */
  const char *cfg[] = {"greeting=hello", "greeting=hi there", "other=x"};
  cis_invoke_options o = e.all;
  o.config = cfg;
  o.nconfig = 3;
  cis_result rc = run_probe(&e, &o, &j, &r, "{\"op\":\"config\",\"key\":\"greeting\"}");
  if (rc != CIS_OK) fail_msg("%s: %s", cis_errname(rc), r.error);
  assert_string_equal(str(j, "v1"), "hi there");
  assert_string_equal(str(j, "s1"), "hi there");
  assert_string_equal(str(j, "s2"), "hi there");
  assert_int_equal(num(j, "need"), 8); /* a buffer too small: the length */
  assert_int_equal(num(j, "missing"), -1);
  cJSON_Delete(j);
  cis_invoke_result_free(&r);
  rc = run_probe(&e, &e.all, &j, &r, "{\"op\":\"config\",\"key\":\"greeting\"}");
  assert_int_equal(rc, CIS_OK);
  assert_null(str_or_null(j, "v1"));
  assert_null(str_or_null(j, "s1"));
  assert_null(str_or_null(j, "s2"));
  cJSON_Delete(j);
  cis_invoke_result_free(&r);

  /* An installed skill: its stored settings, then the call's on top. */
  cis_test_install(e.s, g_dir, "abi-probe.wasm", "probe", "\"abi\":\"cis_v1\"");
  assert_int_equal(cis_skills_setting_set(e.s, "probe", "greeting", "stored value"), CIS_OK);
  const char *in = "{\"op\":\"config\",\"key\":\"greeting\"}";
  cis_invoke_options plain = {.tenant = g_tenant};
  rc = cis_skills_invoke(e.s, "probe", in, strlen(in), &plain, &r);
  if (rc != CIS_OK) fail_msg("%s: %s", cis_errname(rc), r.error);
  j = cJSON_Parse(r.output);
  assert_string_equal(str(j, "v1"), "stored value");
  assert_string_equal(str(j, "s2"), "stored value");
  cJSON_Delete(j);
  cis_invoke_result_free(&r);
  const char *over[] = {"greeting=from the call"};
  plain.config = over;
  plain.nconfig = 1;
  rc = cis_skills_invoke(e.s, "probe", in, strlen(in), &plain, &r);
  assert_int_equal(rc, CIS_OK);
  j = cJSON_Parse(r.output);
  assert_string_equal(str(j, "s1"), "from the call");
  cJSON_Delete(j);
  cis_invoke_result_free(&r);
  /* Unset: gone. */
  assert_int_equal(cis_skills_setting_set(e.s, "probe", "greeting", NULL), CIS_OK);
  plain.nconfig = 0;
  rc = cis_skills_invoke(e.s, "probe", in, strlen(in), &plain, &r);
  assert_int_equal(rc, CIS_OK);
  j = cJSON_Parse(r.output);
  assert_null(str_or_null(j, "v1"));
  cJSON_Delete(j);
  cis_invoke_result_free(&r);
  env_close(&e);
}

/* The error paths of the settings API: a skill not installed, a bad key,
 * a value that is not UTF-8, a call setting without '='. */
static void settings_refuse_bad_keys_values_and_unknown_skills(void **st) {
  (void)st;
  env e;
  env_open(&e, "config-bad");
  assert_int_equal(cis_skills_setting_set(e.s, "nobody", "k", "v"), CIS_ENOTFOUND);
  char *json = NULL;
  assert_int_equal(cis_skills_settings(e.s, "nobody", &json), CIS_ENOTFOUND);
  cis_test_install(e.s, g_dir, "abi-probe.wasm", "probe", "\"abi\":\"cis_v1\"");
  /* No settings yet: an empty object, the table not even there. */
  assert_int_equal(cis_skills_settings(e.s, "probe", &json), CIS_OK);
  assert_string_equal(json, "{}");
  free(json);
  assert_int_equal(cis_skills_setting_set(e.s, "probe", "a=b", "v"), CIS_EINVAL);
  assert_non_null(strstr(cis_skills_errmsg(e.s), "no '='"));
  assert_int_equal(cis_skills_setting_set(e.s, "probe", "", "v"), CIS_EINVAL);
  assert_int_equal(cis_skills_setting_set(e.s, "probe", "with space", "v"), CIS_EINVAL);
  assert_int_equal(cis_skills_setting_set(e.s, "probe", "k", "\xff\xfe"), CIS_EINVAL);
  assert_non_null(strstr(cis_skills_errmsg(e.s), "UTF-8"));
  assert_int_equal(cis_skills_setting_set(e.s, "probe", "k", "v1"), CIS_OK);
  assert_int_equal(cis_skills_setting_set(e.s, "probe", "b", "v2"), CIS_OK);
  assert_int_equal(cis_skills_settings(e.s, "probe", &json), CIS_OK);
  assert_string_equal(json, "{\"b\":\"v2\",\"k\":\"v1\"}");
  free(json);
  cis_invoke_result r;
  const char *bad[] = {"novalue"};
  cis_invoke_options o = {.tenant = g_tenant, .config = bad, .nconfig = 1};
  const char *in = "{\"op\":\"config\",\"key\":\"k\"}";
  assert_int_equal(cis_skills_invoke(e.s, "probe", in, strlen(in), &o, &r), CIS_EINVAL);
  assert_non_null(strstr(r.error, "KEY=VALUE"));
  cis_invoke_result_free(&r);
  env_close(&e);
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: test_sdk_c DIR [@CONNSTR_FILE]\n");
    return 2;
  }
  g_dir = argv[1];
  if (argc == 3) {
    if (argv[2][0] != '@') return 2;
    char conn[900];
    int rc = cis_test_read_connstr(argv[2] + 1, conn, sizeof conn);
    if (rc) return rc;
    snprintf(g_kv, sizeof g_kv, "postgres:%s", conn);
  }
  if (cis_test_root_make(g_tmp, sizeof g_tmp, "sdk-c") != 0) return 2;
  if (argc == 2) snprintf(g_kv, sizeof g_kv, "sqlite:%s/kv.db", g_tmp);
  snprintf(g_tenant, sizeof g_tenant, "sdkc-%ld-%ld", (long)getpid(), (long)time(NULL));
  unsetenv("CIS_AI_BASE_URL");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bindings_v1),
      cmocka_unit_test(bindings_seed001_module),
      cmocka_unit_test(bindings_seed002_module),
      cmocka_unit_test(bindings_denied_without_grants),
      cmocka_unit_test(bindings_trap_on_pointer_outside_memory),
      cmocka_unit_test(bindings_seed002_allocator_fails),
      cmocka_unit_test(sdk_json_get_string_decodes_unicode_escapes),
      cmocka_unit_test(seed001_execute_returns_packed_i64),
      cmocka_unit_test(config_get_reads_stored_and_call_settings_in_every_module),
      cmocka_unit_test(settings_refuse_bad_keys_values_and_unknown_skills),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
  cis_test_root_remove(g_tmp);
  return rc;
}
