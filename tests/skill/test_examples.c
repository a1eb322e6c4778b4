/*
 * This file tests the C example skills of examples/ as a user installs
 * them: from the folder the build leaves (module + skill.json with its
 * sha256), through the public skill API, against real local services.
 *
 *   summarise  AI: the mock LLM of tests/net, and the typed errors when the
 *              provider is missing or refuses the key
 *   webfetch   HTTP: the mock route server, allowed only by the rule of the
 *              skill's manifest; other ports, redirects off the list and
 *              oversized bodies are refused
 *   notes      KV: a notebook kept across hosts (and processes' worth of
 *              state: each call opens its own host), on the KV backend
 *              given on the command line
 *   files      WASI: a command writing into the /data mount of its
 *              manifest: the built one (scratch memory per call), a host
 *              folder (to check what it wrote), a quota and a read-only
 *              mount
 *
 * Usage: test_examples EXAMPLES_DIR [KV_SPEC | @CONNSTR_FILE]
 *   EXAMPLES_DIR  build/examples
 *   KV_SPEC       defaults to SQLite in a fresh temporary folder;
 *                 @FILE reads a libpq connection string from FILE (the
 *                 tests/support `pg` fixture writes one) and runs on
 *                 PostgreSQL. A missing FILE skips (77) unless CI=true.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/skill_host.h"
#include <cjson/cJSON.h>

#include "cis/cis_kv.h"
#include "cis/cis_skill.h"
#include "net/mock_llm.h"
#include "skill/skill_internal.h" /* cis__read_file */

static const char *g_examples; /* build/examples */
static char g_tmp[] = "/tmp/cis-test-examples-XXXXXX";
static char g_kv[1024];        /* KV spec */
static char g_tenant[64];      /* unique per run: a shared database may
                                  hold earlier runs' notes */

/* A host on registry folder g_tmp/HOME with the run's KV backend. */
static cis_skills *open_host(const char *home, cis_ai *ai) {
  char dir[256];
  snprintf(dir, sizeof dir, "%s/%s", g_tmp, home);
  return cis_test_skills_open(dir, g_kv, ai);
}

/* Installs example NAME from its build folder. */
static void install_example(cis_skills *s, const char *name) {
  char dir[1024], got[128];
  snprintf(dir, sizeof dir, "%s/%s", g_examples, name);
  cis_result rc = cis_skills_install(s, dir, got, sizeof got);
  if (rc != CIS_OK) fprintf(stderr, "install %s: %s\n", dir, cis_skills_errmsg(s));
  assert_int_equal(rc, CIS_OK);
  assert_string_equal(got, name);
}

static cis_result call(cis_skills *s, const char *name, const char *input, cis_invoke_result *r) {
  cis_invoke_options o = {.tenant = g_tenant};
  cis_result rc = cis_skills_invoke(s, name, input, strlen(input), &o, r);
  if (rc != CIS_OK) fprintf(stderr, "[%s] %s: %s\n", name, cis_errname(rc), r->error);
  return rc;
}

/* Calls NAME and checks the output is exactly want. */
static void call_is(cis_skills *s, const char *name, const char *input, const char *want) {
  cis_invoke_result r;
  assert_int_equal(call(s, name, input, &r), CIS_OK);
  if (strcmp(r.output, want)) fprintf(stderr, "[%s] %s\n  got  %s\n  want %s\n", name, input, r.output, want);
  assert_string_equal(r.output, want);
  cis_invoke_result_free(&r);
}

/* ------------------------------------------------------------ summarise */

static cis_ai *mock_ai(cis_mock_server *llm, const char *key_env) {
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/v1", cis_mock_port(llm));
  cis_ai_openai_config oc;
  cis_ai_openai_config_default(&oc);
  oc.base_url = url;
  oc.model = "mock";
  oc.api_key_env = key_env;
  cis_ai_config ac;
  cis_ai_config_default(&ac);
  assert_int_equal(cis_ai_provider_openai(&oc, &ac.provider), CIS_OK);
  cis_ai *ai;
  assert_int_equal(cis_ai_new(&ac, &ai), CIS_OK);
  return ai;
}

static void summarise_answers(void **st) {
  (void)st;
  cis_mock_llm_config mc = {.api_key = "sekret"};
  cis_mock_server *llm = cis_mock_llm_start(&mc, 0);
  assert_non_null(llm);
  setenv("CIS_TEST_EXAMPLES_KEY", "sekret", 1);
  cis_ai *ai = mock_ai(llm, "CIS_TEST_EXAMPLES_KEY");
  cis_skills *s = open_host("summarise", ai);
  install_example(s, "summarise");

  call_is(s, "summarise", "{\"text\":\"The cat sat on the mat.\"}",
          "{\"summary\":\"echo: Summarise in one sentence: The cat sat on the mat.\"}");
  char *method = NULL, *path = NULL, *headers = NULL, *body = NULL;
  cis_mock_last(llm, &method, &path, &headers, &body);
  assert_string_equal(method, "POST");
  assert_string_equal(path, "/v1/chat/completions");
  assert_non_null(strstr(headers, "Bearer sekret"));
  assert_non_null(strstr(body, "Summarise in one sentence: The cat sat on the mat."));
  free(method);
  free(path);
  free(headers);
  free(body);

  /* Quotes, a newline and UTF-8 make the round trip through the prompt,
   * the provider's JSON and the skill's escaping. */
  cis_invoke_result r;
  assert_int_equal(call(s, "summarise", "{\"text\":\"say \\\"hi\\\"\\nto Zo\xc3\xab\"}", &r), CIS_OK);
  cJSON *j = cJSON_Parse(r.output);
  assert_non_null(j);
  const cJSON *sum = cJSON_GetObjectItemCaseSensitive(j, "summary");
  assert_true(cJSON_IsString(sum));
  assert_string_equal(sum->valuestring, "echo: Summarise in one sentence: say \"hi\"\nto Zo\xc3\xab");
  cJSON_Delete(j);
  assert_int_equal(r.stats.ai_calls, 1);
  cis_invoke_result_free(&r);

  /* No "text": the skill refuses (INVALID) before asking anything. */
  unsigned before = cis_mock_requests(llm);
  assert_int_equal(call(s, "summarise", "{\"txt\":\"x\"}", &r), CIS_ESKILL);
  assert_non_null(strstr(r.error, "returned error -6"));
  assert_int_equal(cis_mock_requests(llm), before);
  cis_invoke_result_free(&r);
  cis_skills_close(s);
  cis_ai_free(ai);

  /* The provider refuses the key: UPSTREAM (-8) reaches the skill. */
  setenv("CIS_TEST_EXAMPLES_KEY", "wrong", 1);
  ai = mock_ai(llm, "CIS_TEST_EXAMPLES_KEY");
  s = open_host("summarise", ai);
  call_is(s, "summarise", "{\"text\":\"x\"}", "{\"error\":-8}");
  cis_skills_close(s);
  cis_ai_free(ai);
  cis_mock_stop(llm);
}

static void summarise_without_provider(void **st) {
  (void)st;
  unsetenv("CIS_AI_BASE_URL");
  cis_skills *s = open_host("summarise-none", NULL);
  install_example(s, "summarise");
  call_is(s, "summarise", "{\"text\":\"x\"}", "{\"error\":-7}");
  cis_skills_close(s);

  /* A provider that is down: UNAVAILABLE (-5). Port 1 refuses at once. */
  cis_ai_openai_config oc;
  cis_ai_openai_config_default(&oc);
  oc.base_url = "http://127.0.0.1:1/v1";
  oc.model = "mock";
  cis_ai_config ac;
  cis_ai_config_default(&ac);
  assert_int_equal(cis_ai_provider_openai(&oc, &ac.provider), CIS_OK);
  cis_ai *ai;
  assert_int_equal(cis_ai_new(&ac, &ai), CIS_OK);
  s = open_host("summarise-down", ai);
  install_example(s, "summarise");
  call_is(s, "summarise", "{\"text\":\"x\"}", "{\"error\":-5}");
  cis_skills_close(s);
  cis_ai_free(ai);
}

/* ------------------------------------------------------------- webfetch */

/* Writes a copy of the built webfetch folder whose allow rule is `rule`
 * (the built manifest allows http://127.0.0.1, i.e. port 80 only) and
 * returns its path. */
static const char *webfetch_with_rule(const char *rule) {
  static char dir[512];
  snprintf(dir, sizeof dir, "%s/webfetch-allow", g_tmp);
  mkdir(dir, 0755);
  char src[1024], dst[1024];
  uint8_t *bytes;
  size_t len;
  snprintf(src, sizeof src, "%s/webfetch/webfetch.wasm", g_examples);
  assert_int_equal(cis__read_file(src, 1u << 26, &bytes, &len), CIS_OK);
  snprintf(dst, sizeof dst, "%s/webfetch.wasm", dir);
  FILE *f = fopen(dst, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(bytes, 1, len, f), len);
  fclose(f);
  free(bytes);
  snprintf(src, sizeof src, "%s/webfetch/skill.json", g_examples);
  assert_int_equal(cis__read_file(src, 1u << 20, &bytes, &len), CIS_OK);
  const char *from = "\"http://127.0.0.1\"";
  char *at = strstr((char *)bytes, from);
  assert_non_null(at);
  snprintf(dst, sizeof dst, "%s/skill.json", dir);
  f = fopen(dst, "wb");
  assert_non_null(f);
  fprintf(f, "%.*s\"%s\"%s", (int)(at - (char *)bytes), (char *)bytes, rule, at + strlen(from));
  fclose(f);
  free(bytes);
  return dir;
}

static void webfetch_allowed(void **st) {
  (void)st;
  cis_mock_server *web = cis_mock_http_start();
  assert_non_null(web);
  unsigned port = cis_mock_port(web);
  char rule[64], in[512], want[256];
  snprintf(rule, sizeof rule, "http://127.0.0.1:%u", port);
  cis_skills *s = open_host("webfetch", NULL);
  char name[64];
  assert_int_equal(cis_skills_install(s, webfetch_with_rule(rule), name, sizeof name), CIS_OK);
  assert_string_equal(name, "webfetch");

  snprintf(in, sizeof in, "{\"url\":\"http://127.0.0.1:%u/bytes?n=100000\"}", port);
  snprintf(want, sizeof want, "{\"bytes\":100000,\"head\":\"%.64s\"}",
           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
  call_is(s, "webfetch", in, want);
  char *method = NULL, *path = NULL;
  cis_mock_last(web, &method, &path, NULL, NULL);
  assert_string_equal(method, "GET");
  assert_string_equal(path, "/bytes");
  free(method);
  free(path);

  /* An empty body; an error status is still an answer (its body). */
  snprintf(in, sizeof in, "{\"url\":\"http://127.0.0.1:%u/echo\"}", port);
  call_is(s, "webfetch", in, "{\"bytes\":0,\"head\":\"\"}");
  snprintf(in, sizeof in, "{\"url\":\"http://127.0.0.1:%u/status/503\"}", port);
  call_is(s, "webfetch", in, "{\"bytes\":10,\"head\":\"status 503\"}");
  /* A redirect that stays on the allow-list is followed. */
  snprintf(in, sizeof in, "{\"url\":\"http://127.0.0.1:%u/redirect?to=http://127.0.0.1:%u/bytes%%3Fn=5\"}", port,
           port);
  call_is(s, "webfetch", in, "{\"bytes\":5,\"head\":\"xxxxx\"}");
  /* Control characters in the body come back escaped, as valid JSON. */
  cis_invoke_result r;
  snprintf(in, sizeof in, "{\"url\":\"http://127.0.0.1:%u/headers\"}", port);
  assert_int_equal(call(s, "webfetch", in, &r), CIS_OK);
  cJSON *j = cJSON_Parse(r.output);
  assert_non_null(j);
  const cJSON *head = cJSON_GetObjectItemCaseSensitive(j, "head");
  assert_true(cJSON_IsString(head));
  assert_non_null(strchr(head->valuestring, '\n'));
  cJSON_Delete(j);
  cis_invoke_result_free(&r);

  /* A body above the skill's 1 MiB buffer: it refuses (TOO_LARGE). */
  snprintf(in, sizeof in, "{\"url\":\"http://127.0.0.1:%u/bytes?n=2000000\"}", port);
  assert_int_equal(call(s, "webfetch", in, &r), CIS_ESKILL);
  assert_non_null(strstr(r.error, "returned error -3"));
  cis_invoke_result_free(&r);
  /* No URL at all. */
  assert_int_equal(call(s, "webfetch", "{}", &r), CIS_ESKILL);
  assert_non_null(strstr(r.error, "returned error -6"));
  cis_invoke_result_free(&r);
  cis_skills_close(s);
  cis_mock_stop(web);
}

static void webfetch_denied(void **st) {
  (void)st;
  cis_mock_server *web = cis_mock_http_start();
  cis_mock_server *other = cis_mock_http_start();
  assert_non_null(web);
  assert_non_null(other);
  unsigned port = cis_mock_port(web), oport = cis_mock_port(other);
  char rule[64], in[512];
  snprintf(rule, sizeof rule, "http://127.0.0.1:%u", port);
  cis_skills *s = open_host("webfetch-denied", NULL);
  char name[64];
  assert_int_equal(cis_skills_install(s, webfetch_with_rule(rule), name, sizeof name), CIS_OK);

  /* Another port of the same address, another address, another scheme,
   * and a redirect from the allowed server to the other one: DENIED (-2),
   * and the other server never hears of it. */
  snprintf(in, sizeof in, "{\"url\":\"http://127.0.0.1:%u/echo\"}", oport);
  call_is(s, "webfetch", in, "{\"error\":-2}");
  snprintf(in, sizeof in, "{\"url\":\"http://127.0.0.2:%u/echo\"}", port);
  call_is(s, "webfetch", in, "{\"error\":-2}");
  snprintf(in, sizeof in, "{\"url\":\"https://127.0.0.1:%u/echo\"}", port);
  call_is(s, "webfetch", in, "{\"error\":-2}");
  snprintf(in, sizeof in, "{\"url\":\"http://127.0.0.1:%u/redirect?to=http://127.0.0.1:%u/echo\"}", port, oport);
  call_is(s, "webfetch", in, "{\"error\":-2}");
  assert_int_equal(cis_mock_requests(other), 0);
  /* Not a URL: INVALID (-6). */
  call_is(s, "webfetch", "{\"url\":\"no scheme here\"}", "{\"error\":-6}");
  cis_skills_close(s);

  /* The manifest as built allows http://127.0.0.1, which is port 80 only:
   * the mock's port is refused. */
  s = open_host("webfetch-built", NULL);
  install_example(s, "webfetch");
  snprintf(in, sizeof in, "{\"url\":\"http://127.0.0.1:%u/echo\"}", port);
  unsigned before = cis_mock_requests(web);
  call_is(s, "webfetch", in, "{\"error\":-2}");
  assert_int_equal(cis_mock_requests(web), before);
  cis_skills_close(s);
  cis_mock_stop(web);
  cis_mock_stop(other);
}

/* ---------------------------------------------------------------- notes */

/* Each step opens a host of its own on the same registry and KV store, as
 * separate `cis skill run notes` processes would. */
static void notes_step(const char *input, const char *want) {
  cis_skills *s = open_host("notes", NULL);
  call_is(s, "notes", input, want);
  cis_skills_close(s);
}

static void notes_kept(void **st) {
  (void)st;
  cis_skills *s = open_host("notes", NULL);
  install_example(s, "notes");
  cis_skills_close(s);
  notes_step("{\"op\":\"list\"}", "{\"notes\":[]}");
  notes_step("{\"op\":\"add\",\"note\":\"buy milk\"}", "{\"added\":true,\"count\":1}");
  notes_step("{\"op\":\"add\",\"note\":\"call \\\"mom\\\"\\tlater\"}", "{\"added\":true,\"count\":2}");
  notes_step("{\"op\":\"list\"}", "{\"notes\":[\"buy milk\",\"call \\\"mom\\\"\\tlater\"]}");
  /* A note that is not a string is refused and nothing is written. */
  s = open_host("notes", NULL);
  cis_invoke_result r;
  assert_int_equal(call(s, "notes", "{\"op\":\"add\",\"note\":7}", &r), CIS_ESKILL);
  assert_non_null(strstr(r.error, "returned error -6"));
  cis_invoke_result_free(&r);
  /* Another tenant has a notebook of its own. */
  cis_invoke_options other = {.tenant = "someone-else"};
  assert_int_equal(cis_skills_invoke(s, "notes", "{\"op\":\"list\"}", 13, &other, &r), CIS_OK);
  assert_string_equal(r.output, "{\"notes\":[]}");
  cis_invoke_result_free(&r);
  cis_skills_close(s);
  notes_step("{\"op\":\"list\"}", "{\"notes\":[\"buy milk\",\"call \\\"mom\\\"\\tlater\"]}");
  notes_step("{\"op\":\"clear\"}", "{\"cleared\":true}");
  notes_step("{\"op\":\"list\"}", "{\"notes\":[]}");
}

/* Writes a copy of the built notes folder whose permissions.kv is `kv`
 * and returns its path. */
static const char *notes_with_kv(const char *kv) {
  static char dir[512];
  snprintf(dir, sizeof dir, "%s/notes-kv", g_tmp);
  mkdir(dir, 0755);
  char src[1024], dst[1024];
  uint8_t *bytes;
  size_t len;
  snprintf(src, sizeof src, "%s/notes/notes.wasm", g_examples);
  assert_int_equal(cis__read_file(src, 1u << 26, &bytes, &len), CIS_OK);
  snprintf(dst, sizeof dst, "%s/notes.wasm", dir);
  FILE *f = fopen(dst, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(bytes, 1, len, f), len);
  fclose(f);
  free(bytes);
  snprintf(src, sizeof src, "%s/notes/skill.json", g_examples);
  assert_int_equal(cis__read_file(src, 1u << 20, &bytes, &len), CIS_OK);
  char *at = strstr((char *)bytes, "\"kv\":");
  assert_non_null(at);
  char *end = strchr(at, '}');
  assert_non_null(end);
  snprintf(dst, sizeof dst, "%s/skill.json", dir);
  f = fopen(dst, "wb");
  assert_non_null(f);
  fprintf(f, "%.*s\"kv\": %s%s", (int)(at - (char *)bytes), (char *)bytes, kv, end + 1);
  fclose(f);
  free(bytes);
  return dir;
}

/* Adds a note as tenant; returns the call's result, the error text in err. */
static cis_result notes_add(cis_skills *s, const char *tenant, const char *note, char *err, size_t cap) {
  char in[256];
  int n = snprintf(in, sizeof in, "{\"op\":\"add\",\"note\":\"%s\"}", note);
  cis_invoke_options o = {.tenant = tenant};
  cis_invoke_result r;
  cis_result rc = cis_skills_invoke(s, "notes", in, (size_t)n, &o, &r);
  snprintf(err, cap, "%s", rc == CIS_OK ? "" : r.error);
  cis_invoke_result_free(&r);
  return rc;
}

/* The manifest-quota finding: permissions.kv.max_keys / max_bytes were
 * parsed but only the store's defaults applied (max_keys 2 stored 10
 * keys). Now they hold per namespace and the guest sees QUOTA (-9), which
 * notes passes on as its own error. */
static void notes_manifest_kv_quota_holds(void **st) {
  (void)st;
  char tenant[96], err[512];
  /* count + note:0 are two keys; note:1 would be the third. */
  cis_skills *s = open_host("notes-quota-keys", NULL);
  char got[64];
  assert_int_equal(cis_skills_install(s, notes_with_kv("{ \"max_keys\": 2 }"), got, sizeof got), CIS_OK);
  snprintf(tenant, sizeof tenant, "%s-qk", g_tenant);
  assert_int_equal(notes_add(s, tenant, "one", err, sizeof err), CIS_OK);
  assert_int_equal(notes_add(s, tenant, "two", err, sizeof err), CIS_ESKILL);
  if (!strstr(err, "returned error -9")) fail_msg("expected the guest's QUOTA (-9): %s", err);
  assert_int_equal(notes_add(s, tenant, "three", err, sizeof err), CIS_ESKILL);
  cis_invoke_options o = {.tenant = tenant};
  cis_invoke_result r;
  assert_int_equal(cis_skills_invoke(s, "notes", "{\"op\":\"list\"}", 13, &o, &r), CIS_OK);
  assert_string_equal(r.output, "{\"notes\":[\"one\"]}"); /* and count stayed 1 */
  cis_invoke_result_free(&r);
  cis_skills_close(s);

  /* Bytes: "count"+"1" = 6, "note:0"+10 = 16: 22 of 40; a second 10-byte
   * note (+16, and count stays 1 byte) would make 38, a third 54. */
  s = open_host("notes-quota-bytes", NULL);
  assert_int_equal(cis_skills_install(s, notes_with_kv("{ \"max_bytes\": 40 }"), got, sizeof got), CIS_OK);
  snprintf(tenant, sizeof tenant, "%s-qb", g_tenant);
  assert_int_equal(notes_add(s, tenant, "0123456789", err, sizeof err), CIS_OK);
  assert_int_equal(notes_add(s, tenant, "abcdefghij", err, sizeof err), CIS_OK);
  assert_int_equal(notes_add(s, tenant, "ABCDEFGHIJ", err, sizeof err), CIS_ESKILL);
  if (!strstr(err, "returned error -9")) fail_msg("expected the guest's QUOTA (-9): %s", err);
  o.tenant = tenant;
  assert_int_equal(cis_skills_invoke(s, "notes", "{\"op\":\"list\"}", 13, &o, &r), CIS_OK);
  assert_string_equal(r.output, "{\"notes\":[\"0123456789\",\"abcdefghij\"]}");
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

/* The lost-update finding: `notes` called from 8 threads at once on one
 * notebook kept 268 of 2,000 acknowledged notes, and its count ended below
 * the number stored. Now every acknowledged note must be stored, under
 * its own index, and count must equal the number stored. */
#define NOTES_THREADS 8
#define NOTES_ADDS 250

typedef struct notes_arg {
  cis_skills *s;      /* one host shared by the threads */
  const char *tenant; /* the notebook */
  int id;             /* thread number */
  int acked;          /* adds that returned {"added":true,...} */
  bool ok[NOTES_ADDS]; /* which of them */
  int failed;         /* adds that returned an error (none expected) */
  char err[640];      /* the first error */
} notes_arg;

static void *notes_adder(void *p) {
  notes_arg *a = p;
  cis_invoke_options o = {.tenant = a->tenant};
  for (int i = 0; i < NOTES_ADDS; i++) {
    char in[96];
    int n = snprintf(in, sizeof in, "{\"op\":\"add\",\"note\":\"t%d-%d\"}", a->id, i);
    cis_invoke_result r;
    cis_result rc = cis_skills_invoke(a->s, "notes", in, (size_t)n, &o, &r);
    if (rc == CIS_OK && r.output && strstr(r.output, "\"added\":true")) {
      a->acked++;
      a->ok[i] = true;
    } else {
      if (!a->failed++) snprintf(a->err, sizeof a->err, "%s: %s", cis_errname(rc), r.error);
    }
    cis_invoke_result_free(&r);
  }
  return NULL;
}

static void notes_concurrent_adds_lose_nothing(void **st) {
  (void)st;
  char tenant[96];
  snprintf(tenant, sizeof tenant, "%s-conc", g_tenant);
  cis_skills *s = open_host("notes-conc", NULL);
  install_example(s, "notes");
  pthread_t th[NOTES_THREADS];
  notes_arg args[NOTES_THREADS];
  for (int i = 0; i < NOTES_THREADS; i++) {
    args[i] = (notes_arg){.s = s, .tenant = tenant, .id = i};
    assert_int_equal(pthread_create(&th[i], NULL, notes_adder, &args[i]), 0);
  }
  int acked = 0;
  for (int i = 0; i < NOTES_THREADS; i++) {
    pthread_join(th[i], NULL);
    if (args[i].failed) fprintf(stderr, "thread %d: %d adds failed, first: %s\n", i, args[i].failed, args[i].err);
    acked += args[i].acked;
  }

  /* What the notebook holds, read by the skill itself. */
  cis_invoke_result r;
  cis_invoke_options o = {.tenant = tenant};
  assert_int_equal(cis_skills_invoke(s, "notes", "{\"op\":\"list\"}", 13, &o, &r), CIS_OK);
  cJSON *j = cJSON_Parse(r.output);
  assert_non_null(j);
  cJSON *notes = cJSON_GetObjectItemCaseSensitive(j, "notes");
  assert_true(cJSON_IsArray(notes));
  static bool seen[NOTES_THREADS][NOTES_ADDS];
  memset(seen, 0, sizeof seen);
  int listed = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, notes) {
    int tid = -1, k = -1;
    assert_true(cJSON_IsString(it));
    assert_int_equal(sscanf(it->valuestring, "t%d-%d", &tid, &k), 2);
    assert_true(tid >= 0 && tid < NOTES_THREADS && k >= 0 && k < NOTES_ADDS);
    assert_false(seen[tid][k]); /* no note twice */
    seen[tid][k] = true;
    listed++;
  }
  cJSON_Delete(j);
  cis_invoke_result_free(&r);
  cis_skills_close(s);

  /* What the store holds, read beside the skill: count and the note:
   * keys of the notebook's namespace (tenant, "notes"). */
  cis_kv_config kc;
  cis_kv_config_default(&kc);
  kc.spec = g_kv;
  cis_kv *kv = NULL;
  assert_int_equal(cis_kv_open(&kc, &kv), CIS_OK);
  cis_principal ns = {tenant, "notes"};
  cis_kv_txn *t = NULL;
  assert_int_equal(cis_kv_begin(kv, &ns, 20000, &t), CIS_OK);
  char cbuf[32];
  size_t cl = 0;
  assert_int_equal(cis_kv_get_into(t, "count", 5, cbuf, sizeof cbuf - 1, &cl), CIS_OK);
  cbuf[cl] = 0;
  long count = atol(cbuf);
  long stored = 0;
  cis_kv_keys page = {0};
  size_t alen = 0;
  char after[64] = "";
  do {
    assert_int_equal(cis_kv_list(t, "note:", 5, alen ? after : NULL, alen, 500, &page), CIS_OK);
    stored += (long)page.n;
    if (page.n) {
      alen = page.keys[page.n - 1].len < sizeof after ? page.keys[page.n - 1].len : sizeof after - 1;
      memcpy(after, page.keys[page.n - 1].key, alen);
    }
    bool more = page.more;
    cis_kv_keys_free(&page);
    if (!more) break;
  } while (stored < 100000);
  cis_kv_rollback(t);
  cis_kv_close(kv);

  fprintf(stderr, "notes: %d acknowledged, %d listed, %ld stored, count %ld\n", acked, listed, stored, count);
  for (int i = 0; i < NOTES_THREADS; i++)
    for (int k = 0; k < NOTES_ADDS; k++)
      if (args[i].ok[k] && !seen[i][k]) fail_msg("acknowledged note t%d-%d is not stored", i, k);
  assert_int_equal(acked, NOTES_THREADS * NOTES_ADDS);
  assert_int_equal(listed, acked);
  assert_int_equal(stored, acked);
  assert_int_equal(count, stored);
}

/* ---------------------------------------------------------------- files */

/* Checks a files call failed with the skill's exit code `code`. */
static void files_exits(cis_skills *s, const char *name, const char *input, int code) {
  cis_invoke_result r;
  assert_int_equal(call(s, name, input, &r), CIS_ESKILL);
  assert_int_equal(r.exit_code, code);
  assert_null(r.output);
  cis_invoke_result_free(&r);
}

static void files_scratch(void **st) {
  (void)st;
  cis_skills *s = open_host("files", NULL);
  install_example(s, "files");
  call_is(s, "files", "{\"name\":\"a.txt\",\"text\":\"hello\"}", "{\"written\":\"a.txt\",\"files\":[\"a.txt\"]}\n");
  /* The mount is memory of one call: the next call starts empty. */
  call_is(s, "files", "{\"name\":\"b.txt\",\"text\":\"\"}", "{\"written\":\"b.txt\",\"files\":[\"b.txt\"]}\n");
  /* Names the skill refuses (exit code 2). */
  files_exits(s, "files", "{\"name\":\"../a\",\"text\":\"x\"}", 2);
  files_exits(s, "files", "{\"text\":\"x\"}", 2);
  cis_skills_close(s);
}

/* Writes g_tmp/DIR/skill.json for files.wasm (copied there) with the
 * given mount, and returns the folder. */
static const char *files_with_mount(const char *dir, const char *mount) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", g_tmp, dir);
  mkdir(path, 0755);
  char src[1024], dst[1024];
  uint8_t *bytes;
  size_t len;
  snprintf(src, sizeof src, "%s/files/files.wasm", g_examples);
  assert_int_equal(cis__read_file(src, 1u << 26, &bytes, &len), CIS_OK);
  char sha[65];
  cis_sha256_hex(bytes, len, sha);
  snprintf(dst, sizeof dst, "%s/files.wasm", path);
  FILE *f = fopen(dst, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(bytes, 1, len, f), len);
  fclose(f);
  free(bytes);
  snprintf(dst, sizeof dst, "%s/skill.json", path);
  f = fopen(dst, "w");
  assert_non_null(f);
  fprintf(f,
          "{\"name\":\"%s\",\"version\":\"1.0.0\",\"abi\":\"wasi\","
          "\"wasm\":{\"path\":\"files.wasm\",\"sha256\":\"%s\"},"
          "\"permissions\":{\"fs\":{\"mounts\":[%s]}}}",
          dir, sha, mount);
  fclose(f);
  return path;
}

static void files_host_folder(void **st) {
  (void)st;
  const char *dir = files_with_mount("files-host", "{\"guest\":\"/data\",\"type\":\"host\",\"source\":\"data\","
                                                   "\"max_bytes\":1048576}");
  char data[600], file[700];
  snprintf(data, sizeof data, "%s/data", dir);
  mkdir(data, 0755);
  snprintf(file, sizeof file, "%s/old.txt", data);
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  fputs("kept", f);
  fclose(f);
  cis_skills *s = open_host("files-host", NULL);
  char name[64];
  assert_int_equal(cis_skills_install(s, dir, name, sizeof name), CIS_OK);
  cis_invoke_result r;
  assert_int_equal(call(s, "files-host", "{\"name\":\"a.txt\",\"text\":\"Hello, w\\u00f6rld\\tand \\\"you\\\" \xc3\xa9t\xc3\xa9\"}", &r),
                   CIS_OK);
  /* It lists what the folder holds, in readdir's order. */
  cJSON *j = cJSON_Parse(r.output);
  assert_non_null(j);
  const cJSON *files = cJSON_GetObjectItemCaseSensitive(j, "files");
  assert_int_equal(cJSON_GetArraySize(files), 2);
  bool a = false, old = false;
  for (const cJSON *it = files->child; it; it = it->next) {
    a |= !strcmp(it->valuestring, "a.txt");
    old |= !strcmp(it->valuestring, "old.txt");
  }
  assert_true(a && old);
  cJSON_Delete(j);
  cis_invoke_result_free(&r);
  /* The file holds the upper-cased text; the skill's JSON reader decodes
   * \u escapes to UTF-8 (\u00f6 is o-umlaut, which stays as it is, as
   * bytes above ASCII do). */
  snprintf(file, sizeof file, "%s/a.txt", data);
  uint8_t *got;
  size_t len;
  assert_int_equal(cis__read_file(file, 4096, &got, &len), CIS_OK);
  const char *want = "HELLO, W\xc3\xb6RLD\tAND \"YOU\" \xc3\xa9T\xc3\xa9";
  assert_int_equal(len, strlen(want));
  assert_memory_equal(got, want, len);
  free(got);
  cis_skills_close(s);
}

static void files_quota_and_read_only(void **st) {
  (void)st;
  cis_skills *s = open_host("files-limits", NULL);
  char name[64];
  /* 8 bytes of room: a 16-byte text does not fit, so the write fails
   * and the skill exits 3; 4 bytes fit. */
  const char *dir = files_with_mount("files-small", "{\"guest\":\"/data\",\"type\":\"mem\",\"max_bytes\":8}");
  assert_int_equal(cis_skills_install(s, dir, name, sizeof name), CIS_OK);
  files_exits(s, "files-small", "{\"name\":\"big\",\"text\":\"0123456789abcdef\"}", 3);
  call_is(s, "files-small", "{\"name\":\"ok\",\"text\":\"abcd\"}", "{\"written\":\"ok\",\"files\":[\"ok\"]}\n");
  /* A read-only host folder: the skill cannot create its file. */
  dir = files_with_mount("files-ro", "{\"guest\":\"/data\",\"type\":\"host\",\"source\":\"data\",\"mode\":\"ro\","
                                     "\"max_bytes\":1048576}");
  char data[600];
  snprintf(data, sizeof data, "%s/data", dir);
  mkdir(data, 0755);
  assert_int_equal(cis_skills_install(s, dir, name, sizeof name), CIS_OK);
  files_exits(s, "files-ro", "{\"name\":\"a.txt\",\"text\":\"x\"}", 3);
  DIR *d = opendir(data);
  assert_non_null(d);
  int entries = 0;
  for (struct dirent *e; (e = readdir(d));) entries += e->d_name[0] != '.';
  closedir(d);
  assert_int_equal(entries, 0);
  cis_skills_close(s);
}

/* ---------------------------------------------------------------- main */

static int kv_from_arg(const char *arg) {
  if (arg[0] != '@') {
    snprintf(g_kv, sizeof g_kv, "%s", arg);
    return 0;
  }
  FILE *f = fopen(arg + 1, "r");
  if (!f) {
    const char *ci = getenv("CI");
    if (ci && !strcmp(ci, "true")) {
      fprintf(stderr, "no PostgreSQL connection string at %s (CI=true: failing)\n", arg + 1);
      return 1;
    }
    fprintf(stderr, "SKIPPED: no PostgreSQL connection string at %s (is postgresql installed?)\n", arg + 1);
    return 77;
  }
  char line[900] = "";
  if (!fgets(line, sizeof line, f)) line[0] = 0;
  fclose(f);
  line[strcspn(line, "\r\n")] = 0;
  if (!line[0]) {
    fprintf(stderr, "empty connection string in %s\n", arg + 1);
    return 1;
  }
  snprintf(g_kv, sizeof g_kv, "postgres:%s", line);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: test_examples EXAMPLES_DIR [KV_SPEC | @CONNSTR_FILE]\n");
    return 2;
  }
  g_examples = argv[1];
  if (!mkdtemp(g_tmp)) return 2;
  int rc = 0;
  if (argc > 2) rc = kv_from_arg(argv[2]);
  else snprintf(g_kv, sizeof g_kv, "sqlite:%s/kv.db", g_tmp);
  if (rc == 0) {
    snprintf(g_tenant, sizeof g_tenant, "examples-%ld-%ld", (long)getpid(), (long)time(NULL));
    unsetenv("CIS_AI_BASE_URL");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(summarise_answers), cmocka_unit_test(summarise_without_provider),
        cmocka_unit_test(webfetch_allowed),  cmocka_unit_test(webfetch_denied),
        cmocka_unit_test(notes_kept),        cmocka_unit_test(notes_manifest_kv_quota_holds),
        cmocka_unit_test(notes_concurrent_adds_lose_nothing),
        cmocka_unit_test(files_scratch),
        cmocka_unit_test(files_host_folder), cmocka_unit_test(files_quota_and_read_only),
    };
    rc = cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
  }
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
  return rc;
}
