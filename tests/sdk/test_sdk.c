/*
 * This file tests the Rust and AssemblyScript SDKs (sdk/rust,
 * sdk/assemblyscript) end to end, one language per run:
 *
 *   test_sdk rust|as CIS_BINARY EXAMPLE_DIR PROBE_WASM [CARGO_WASM]
 *
 * - The probe skill of the language (tests/sdk/rust-probe, as-probe.ts)
 *   runs through the public C API against the real services: KV on
 *   SQLite, AI on the mock LLM, HTTP on the mock route server. Both probes
 *   must give the same answers, so every expectation here holds for both.
 * - The language's example skill (EXAMPLE_DIR, as built by examples/:
 *   init-wizard for Rust, as-hello for AssemblyScript) runs through the
 *   `cis` command line: first exactly as seed 000's acceptance does
 *   (`cis skill run --wasm FILE.wasm` on CARGO_WASM, the module where
 *   `cargo build --target wasm32-unknown-unknown --release` leaves it),
 *   then with input and KV, then
 *   installed (`cis skill install DIR`, `cis skill run NAME`), and with
 *   the inputs it must refuse.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/skill_host.h"
#include <cjson/cJSON.h>

#include "cis/cis_skill.h"
#include "net/mock_llm.h"

extern char **environ;

static const char *g_lang;        /* "rust" or "as" */
static const char *g_cis;         /* the cis binary */
static const char *g_example;     /* folder of the built example skill */
static const char *g_probe_path;  /* the probe module */
static const char *g_cargo_wasm;  /* init-wizard.wasm in cargo's target folder */
static uint8_t *g_probe;          /* its bytes */
static size_t g_probe_len;
static char g_tmp[] = "/tmp/cis-test-sdk-XXXXXX"; /* homes and captured output */

static bool is_rust(void) { return !strcmp(g_lang, "rust"); }

/* A host on a fresh registry under g_tmp, logging to a null sink. */
static cis_skills *open_host(const char *home, cis_ai *ai) {
  char dir[256];
  snprintf(dir, sizeof dir, "%s/%s", g_tmp, home);
  return cis_test_skills_open(dir, NULL, ai);
}

/* Runs the probe with input (printf-style) and options; returns the
 * status and leaves the result in r. */
static cis_result probe(cis_skills *s, const cis_invoke_options *o, cis_invoke_result *r, const char *fmt,
                        ...) {
  char in[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(in, sizeof in, fmt, ap);
  va_end(ap);
  cis_result rc = cis_skills_invoke_wasm(s, g_probe, g_probe_len, in, strlen(in), o, r);
  if (rc != CIS_OK) fprintf(stderr, "[%s probe] %s: %s: %s\n", g_lang, in, cis_errname(rc), r->error);
  return rc;
}

/* Runs the probe and checks its output is exactly `want`. */
static void probe_is(cis_skills *s, const cis_invoke_options *o, const char *want, const char *input) {
  cis_invoke_result r;
  assert_int_equal(probe(s, o, &r, "%s", input), CIS_OK);
  if (strcmp(r.output, want)) fprintf(stderr, "input %s\n  got  %s\n  want %s\n", input, r.output, want);
  assert_string_equal(r.output, want);
  cis_invoke_result_free(&r);
}

/* The output's member `key` as text ("" when absent or not a string). */
static void json_member(const char *json, const char *key, char *out, size_t cap) {
  cJSON *j = cJSON_Parse(json);
  assert_non_null(j);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
  cJSON_Delete(j);
}

static double json_number(const char *json, const char *key) {
  cJSON *j = cJSON_Parse(json);
  assert_non_null(j);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  if (!cJSON_IsNumber(v)) fprintf(stderr, "no number \"%s\" in %s\n", key, json);
  assert_true(cJSON_IsNumber(v));
  double d = v->valuedouble;
  cJSON_Delete(j);
  return d;
}

/* ------------------------------------------------------ probe: basics */

static void probe_input_and_output(void **st) {
  (void)st;
  cis_skills *s = open_host("probe-io", NULL);
  /* A small input, then one above 1 MiB: it streams in chunks. */
  const char *small = "{\"op\":\"echo\"}";
  char want[128];
  unsigned sum = 0;
  for (const char *p = small; *p; p++) sum += (unsigned char)*p;
  snprintf(want, sizeof want, "{\"len\":%zu,\"sum\":%u}", strlen(small), sum);
  probe_is(s, NULL, want, small);

  size_t pad = 3u << 20;
  char *big = malloc(pad + 64);
  assert_non_null(big);
  int n = snprintf(big, 64, "{\"op\":\"echo\",\"pad\":\"");
  for (size_t i = 0; i < pad; i++) big[n + i] = (char)('a' + i % 26);
  memcpy(big + n + pad, "\"}", 3);
  size_t len = n + pad + 2;
  uint32_t bsum = 0;
  for (size_t i = 0; i < len; i++) bsum += (unsigned char)big[i];
  cis_invoke_result r;
  assert_int_equal(cis_skills_invoke_wasm(s, g_probe, g_probe_len, big, len, NULL, &r), CIS_OK);
  snprintf(want, sizeof want, "{\"len\":%zu,\"sum\":%u}", len, bsum);
  assert_string_equal(r.output, want);
  cis_invoke_result_free(&r);
  free(big);

  /* An output of 100 000 bytes written in 1000-byte pieces. */
  assert_int_equal(probe(s, NULL, &r, "{\"op\":\"output\",\"n\":100000}"), CIS_OK);
  assert_int_equal(r.output_len, 100000 + 8);
  assert_memory_equal(r.output, "{\"s\":\"xxxx", 10);
  assert_memory_equal(r.output + r.output_len - 3, "x\"}", 3);
  for (size_t i = 6; i < r.output_len - 2; i++) assert_int_equal(r.output[i], 'x');
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

static void probe_log_and_deadline(void **st) {
  (void)st;
  cis_skills *s = open_host("probe-log", NULL);
  cis_invoke_result r;
  assert_int_equal(probe(s, NULL, &r, "{\"op\":\"log\"}"), CIS_OK);
  assert_string_equal(r.output, "{\"logged\":4}");
  assert_int_equal(r.stats.log_lines, 4);
  const char *want[] = {"DEBUG", "probe debug 1", "INFO", "probe info 2", "WARN", "probe warn 3",
                        "ERROR", "probe error 4"};
  const char *at = r.logs;
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    at = strstr(at, want[i]); /* in order */
    if (!at) fprintf(stderr, "missing \"%s\" in:\n%s\n", want[i], r.logs);
    assert_non_null(at);
  }
  cis_invoke_result_free(&r);

  /* The deadline as the guest sees it: at most the call's timeout, and
   * at least what is left of it when the invocation returns (the guest
   * read it before), so that the bound holds however long a loaded
   * machine makes the invocation take. */
  cis_invoke_options o = {.timeout_ms = 4000};
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  assert_int_equal(probe(s, &o, &r, "{\"op\":\"remaining\"}"), CIS_OK);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double took = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
  double ms = json_number(r.output, "remaining");
  print_message("timeout 4000 ms: the guest saw %.0f ms left; the invocation took %.1f ms\n", ms,
                took);
  if (ms > 4000 || ms < 4000 - took)
    fail_msg("the guest saw %.0f ms left of 4000 in an invocation of %.1f ms", ms, took);
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

/* config_get through the SDK: the call's settings (the last of a key
 * wins), its length for an empty buffer, null (NOT_FOUND) when unset. */
static void probe_config(void **st) {
  (void)st;
  cis_skills *s = open_host("probe-config", NULL);
  const char *cfg[] = {"greeting=hello", "greeting=hi there", "other=x"};
  cis_invoke_options o = {.config = cfg, .nconfig = 3};
  probe_is(s, &o, "{\"value\":\"hi there\",\"need\":8}", "{\"op\":\"config\",\"key\":\"greeting\"}");
  probe_is(s, &o, "{\"value\":null,\"need\":-1}", "{\"op\":\"config\",\"key\":\"absent\"}");
  probe_is(s, NULL, "{\"value\":null,\"need\":-1}", "{\"op\":\"config\",\"key\":\"greeting\"}");
  cis_skills_close(s);
}

/* cis_main's error path: the code comes back as CIS_ESKILL, with the
 * SDK's "skill failed" line in the call's log. */
static void probe_failures(void **st) {
  (void)st;
  cis_skills *s = open_host("probe-fail", NULL);
  cis_invoke_result r;
  assert_int_equal(probe(s, NULL, &r, "{\"op\":\"fail\",\"code\":-9}"), CIS_ESKILL);
  assert_non_null(strstr(r.error, "returned error -9"));
  assert_non_null(strstr(r.logs, "skill failed: QUOTA (-9)"));
  assert_null(r.output);
  cis_invoke_result_free(&r);
  assert_int_equal(probe(s, NULL, &r, "{\"op\":\"fail\",\"code\":-77}"), CIS_ESKILL);
  assert_non_null(strstr(r.logs, "skill failed: OTHER (-77)"));
  cis_invoke_result_free(&r);
  assert_int_equal(probe(s, NULL, &r, "{\"op\":\"no-such-op\"}"), CIS_ESKILL);
  assert_non_null(strstr(r.error, "returned error -6"));
  assert_non_null(strstr(r.logs, "unknown op \"no-such-op\""));
  assert_non_null(strstr(r.logs, "skill failed: INVALID (-6)"));
  cis_invoke_result_free(&r);
  /* A panic (Rust) or a throw (AssemblyScript) traps; the AssemblyScript
   * SDK's abort handler logs the message and where first. */
  assert_int_equal(probe(s, NULL, &r, "{\"op\":\"abort\"}"), CIS_TRAP_UNREACHABLE);
  if (!is_rust()) assert_non_null(strstr(r.logs, "abort: probe abort at tests/sdk/as-probe.ts:"));
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

/* ---------------------------------------------------------- probe: KV */

static void probe_kv(void **st) {
  (void)st;
  cis_skills *s = open_host("probe-kv", NULL);
  cis_invoke_options kv = {.allow_kv = true};
  /* Sizes below, at and above the SDKs' first 256-byte buffer, and one
   * far above it: the retry with the full length must give every byte. */
  const unsigned sizes[] = {0, 10, 256, 257, 1000, 200000};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    char in[128], want[160];
    snprintf(in, sizeof in, "{\"op\":\"kv\",\"key\":\"k%zu\",\"size\":%u}", i, sizes[i]);
    snprintf(want, sizeof want, "{\"len\":%u,\"same\":true,\"deleted\":true,\"again\":false,\"after\":null}",
             sizes[i]);
    probe_is(s, &kv, want, in);
  }
  /* Writes commit with the call: a later call reads them. */
  probe_is(s, &kv, "{\"value\":null}", "{\"op\":\"get\",\"key\":\"kept\"}");
  probe_is(s, &kv, "{\"ok\":true}", "{\"op\":\"set\",\"key\":\"kept\",\"value\":\"caf\\u00e9 \\\"ok\\\"\"}");
  probe_is(s, &kv, "{\"value\":\"caf\xc3\xa9 \\\"ok\\\"\"}", "{\"op\":\"get\",\"key\":\"kept\"}");
  if (is_rust()) {
    /* The caller-buffer form (Rust only): a full length above the buffer
     * writes nothing. */
    probe_is(s, &kv, "{\"full\":10,\"untouched\":true,\"again\":10,\"value\":\"caf\xc3\xa9 \\\"ok\\\"\"}",
             "{\"op\":\"kv_into\",\"key\":\"kept\"}");
  }
  /* The atomic operations: the increment counts across calls, the
   * compare-and-swap swaps only on the expected value (or absence). */
  probe_is(s, &kv, "{\"value\":5,\"absent\":true,\"wrong\":false,\"swapped\":true,\"final\":\"b\"}",
           "{\"op\":\"atomic\",\"key\":\"ctr\",\"delta\":5}");
  probe_is(s, &kv, "{\"value\":-2,\"absent\":false,\"wrong\":false,\"swapped\":false,\"final\":\"b\"}",
           "{\"op\":\"atomic\",\"key\":\"ctr\",\"delta\":-7}");
  /* Refusals come back as typed codes with the host's reason. */
  cis_invoke_result r;
  char msg[512];
  probe_is(s, &kv, "{\"ok\":true}", "{\"op\":\"set\",\"key\":\"word\",\"value\":\"abc\"}");
  assert_int_equal(probe(s, &kv, &r, "{\"op\":\"atomic\",\"key\":\"word\",\"delta\":1}"), CIS_OK);
  assert_int_equal(json_number(r.output, "code"), -6); /* not an integer */
  json_member(r.output, "message", msg, sizeof msg);
  assert_non_null(strstr(msg, "kv_increment"));
  cis_invoke_result_free(&r);
  assert_int_equal(probe(s, &kv, &r, "{\"op\":\"kv\",\"key\":\"\",\"size\":3}"), CIS_OK);
  assert_int_equal(json_number(r.output, "code"), -6);
  json_member(r.output, "error", msg, sizeof msg);
  assert_string_equal(msg, "INVALID");
  json_member(r.output, "message", msg, sizeof msg);
  assert_non_null(strstr(msg, "kv_set"));
  cis_invoke_result_free(&r);
  assert_int_equal(probe(s, NULL, &r, "{\"op\":\"get\",\"key\":\"kept\"}"), CIS_OK); /* not granted */
  assert_int_equal(json_number(r.output, "code"), -2);
  json_member(r.output, "error", msg, sizeof msg);
  assert_string_equal(msg, "DENIED");
  json_member(r.output, "message", msg, sizeof msg);
  assert_non_null(strstr(msg, "not granted"));
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

/* ------------------------------------------------------ probe: AI, HTTP */

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

static void probe_ai(void **st) {
  (void)st;
  cis_mock_llm_config mc = {0};
  cis_mock_server *llm = cis_mock_llm_start(&mc, 0);
  assert_non_null(llm);
  cis_ai *ai = mock_ai(llm);
  cis_skills *s = open_host("probe-ai", ai);
  cis_invoke_options o = {.allow_ai = true};
  probe_is(s, &o, "{\"reply\":\"echo: what is \\\"two\\\"?\"}", "{\"op\":\"ai\",\"prompt\":\"what is \\\"two\\\"?\"}");
  /* A reply larger than the SDKs' first 4 KiB buffer: the retry is served
   * from the kept answer, so the server sees one request. */
  cis_invoke_result r;
  unsigned before = cis_mock_requests(llm);
  assert_int_equal(probe(s, &o, &r, "{\"op\":\"ai\",\"prompt\":\"mock:big:10000\"}"), CIS_OK);
  char reply[16384];
  json_member(r.output, "reply", reply, sizeof reply);
  assert_int_equal(strlen(reply), 10000);
  assert_int_equal(strspn(reply, "a"), 10000);
  assert_int_equal(r.stats.ai_calls, 1);
  assert_int_equal(cis_mock_requests(llm) - before, 1);
  cis_invoke_result_free(&r);
  /* The provider fails: UPSTREAM with its status in the message. */
  assert_int_equal(probe(s, &o, &r, "{\"op\":\"ai\",\"prompt\":\"mock:status:500\"}"), CIS_OK);
  assert_int_equal(json_number(r.output, "code"), -8);
  char msg[512];
  json_member(r.output, "message", msg, sizeof msg);
  assert_non_null(strstr(msg, "500"));
  cis_invoke_result_free(&r);
  /* Not granted: DENIED, and the server sees nothing. */
  before = cis_mock_requests(llm);
  assert_int_equal(probe(s, NULL, &r, "{\"op\":\"ai\",\"prompt\":\"x\"}"), CIS_OK);
  assert_int_equal(json_number(r.output, "code"), -2);
  assert_int_equal(cis_mock_requests(llm), before);
  cis_invoke_result_free(&r);
  cis_skills_close(s);
  cis_ai_free(ai);
  cis_mock_stop(llm);

  /* No provider at all: NO_PROVIDER, never a made-up answer. */
  unsetenv("CIS_AI_BASE_URL");
  s = open_host("probe-noai", NULL);
  assert_int_equal(probe(s, &o, &r, "{\"op\":\"ai\",\"prompt\":\"x\"}"), CIS_OK);
  assert_int_equal(json_number(r.output, "code"), -7);
  json_member(r.output, "error", msg, sizeof msg);
  assert_string_equal(msg, "NO_PROVIDER");
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

static void probe_http(void **st) {
  (void)st;
  cis_mock_server *web = cis_mock_http_start();
  cis_mock_server *other = cis_mock_http_start(); /* not on the allow-list */
  assert_non_null(web);
  assert_non_null(other);
  unsigned port = cis_mock_port(web), oport = cis_mock_port(other);
  char rule[64];
  snprintf(rule, sizeof rule, "http://127.0.0.1:%u", port);
  const char *rules[] = {rule};
  cis_invoke_options o = {.allow_hosts = rules, .nallow_hosts = 1};
  cis_skills *s = open_host("probe-http", NULL);
  char in[512];

  /* A body above the SDKs' first 4 KiB buffer. */
  snprintf(in, sizeof in, "{\"op\":\"http\",\"method\":\"GET\",\"url\":\"http://127.0.0.1:%u/bytes?n=10000\"}", port);
  probe_is(s, &o, "{\"len\":10000,\"head\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", in);
  /* A POST: the echo route sends the body back. */
  snprintf(in, sizeof in,
           "{\"op\":\"http\",\"method\":\"POST\",\"url\":\"http://127.0.0.1:%u/echo\",\"body\":\"ping pong\"}", port);
  probe_is(s, &o, "{\"len\":9,\"head\":\"ping pong\"}", in);
  char *method = NULL, *path = NULL;
  cis_mock_last(web, &method, &path, NULL, NULL);
  assert_string_equal(method, "POST");
  assert_string_equal(path, "/echo");
  free(method);
  free(path);

  cis_invoke_result r;
  char msg[512];
  /* An error status is not an error: the body comes back. */
  snprintf(in, sizeof in, "{\"op\":\"http\",\"method\":\"GET\",\"url\":\"http://127.0.0.1:%u/status/404\"}", port);
  probe_is(s, &o, "{\"len\":10,\"head\":\"status 404\"}", in);
  /* Allowed, but nothing listens there: UNAVAILABLE. */
  const char *closed_rule[] = {"http://127.0.0.1:1"};
  cis_invoke_options closed = {.allow_hosts = closed_rule, .nallow_hosts = 1};
  assert_int_equal(probe(s, &closed, &r, "{\"op\":\"http\",\"method\":\"GET\",\"url\":\"http://127.0.0.1:1/\"}"),
                   CIS_OK);
  assert_int_equal(json_number(r.output, "code"), -5);
  cis_invoke_result_free(&r);
  /* Off the allow-list: DENIED before any connection. */
  assert_int_equal(probe(s, &o, &r, "{\"op\":\"http\",\"method\":\"GET\",\"url\":\"http://127.0.0.1:%u/echo\"}",
                         oport), CIS_OK);
  assert_int_equal(json_number(r.output, "code"), -2);
  json_member(r.output, "message", msg, sizeof msg);
  assert_non_null(strstr(msg, "permission denied"));
  assert_non_null(strstr(msg, "port not allowed"));
  assert_int_equal(cis_mock_requests(other), 0);
  cis_invoke_result_free(&r);
  /* Not a URL at all, and a method the service does not allow. */
  assert_int_equal(probe(s, &o, &r, "{\"op\":\"http\",\"method\":\"GET\",\"url\":\"not a url\"}"), CIS_OK);
  assert_int_equal(json_number(r.output, "code"), -6);
  json_member(r.output, "message", msg, sizeof msg);
  assert_non_null(strstr(msg, "not a valid URL"));
  cis_invoke_result_free(&r);
  assert_int_equal(probe(s, &o, &r, "{\"op\":\"http\",\"method\":\"TRACE\",\"url\":\"http://127.0.0.1:%u/echo\"}",
                         port), CIS_OK);
  assert_int_equal(json_number(r.output, "code"), -6);
  cis_invoke_result_free(&r);
  cis_skills_close(s);
  cis_mock_stop(web);
  cis_mock_stop(other);
}

/* ------------------------------------------------ the example via the CLI */

typedef struct cli_result {
  int status;       /* exit code, or 128 + signal */
  char out[65536];  /* stdout */
  char err[65536];  /* stderr */
} cli_result;

/* Runs `cis ARGS...` (NULL-terminated) with CIS_HOME=g_tmp/cli; stdout
 * and stderr are captured. A run over 60 s is killed. */
static cli_result *cis(const char *first, ...) {
  const char *argv[32];
  int n = 0;
  argv[n++] = g_cis;
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a && n < 31; a = va_arg(ap, const char *)) argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  char home[256], out[256], err[256];
  snprintf(home, sizeof home, "%s/cli", g_tmp);
  snprintf(out, sizeof out, "%s/stdout", g_tmp);
  snprintf(err, sizeof err, "%s/stderr", g_tmp);
  setenv("CIS_HOME", home, 1);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  int rc = posix_spawn(&pid, g_cis, &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  assert_int_equal(rc, 0);
  int st = 0;
  for (int waited = 0;; waited++) {
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid) break;
    assert_true(w == 0 || errno == EINTR);
    if (waited > 60 * 500) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      break;
    }
    usleep(2000);
  }
  cli_result *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  size_t len;
  uint8_t *b = cis_test_file_read(out, &len);
  snprintf(r->out, sizeof r->out, "%s", b ? (char *)b : "");
  free(b);
  b = cis_test_file_read(err, &len);
  snprintf(r->err, sizeof r->err, "%s", b ? (char *)b : "");
  free(b);
  return r;
}

/* The example's module and its folder. */
static const char *example_wasm(void) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/%s.wasm", g_example, is_rust() ? "init-wizard" : "as-hello");
  return path;
}

/* Checks member `key` of object j is the string want. */
static void member_is(const cJSON *j, const char *key, const char *want) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  if (!cJSON_IsString(v) || strcmp(v->valuestring, want))
    fprintf(stderr, "member %s: want \"%s\"\n", key, want);
  assert_true(cJSON_IsString(v));
  assert_string_equal(v->valuestring, want);
}

static void member_num(const cJSON *j, const char *key, double want) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  assert_true(cJSON_IsNumber(v));
  assert_true(v->valuedouble == want);
}

static void member_bool(const cJSON *j, const char *key, bool want) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  assert_true(cJSON_IsBool(v));
  assert_int_equal(cJSON_IsTrue(v), want);
}

static cJSON *parse_out(const cli_result *r) {
  if (r->status != 0) fprintf(stderr, "cis exited %d:\n%s", r->status, r->err);
  assert_int_equal(r->status, 0);
  cJSON *j = cJSON_Parse(r->out);
  if (!j) fprintf(stderr, "not JSON: %s\n", r->out);
  assert_non_null(j);
  return j;
}

/* Seed 000's acceptance, word for word: build the Rust skill for
 * wasm32-unknown-unknown (the build did) and run the module with
 * `cis skill run --wasm`. Its log lines must show and it must answer JSON;
 * without a grant its storage step is skipped, not failed. */
static void init_wizard_seed000(void **st) {
  (void)st;
  assert_non_null(g_cargo_wasm);
  assert_non_null(strstr(g_cargo_wasm, "/wasm32-unknown-unknown/release/init-wizard.wasm"));
  cli_result *r = cis("skill", "run", "--wasm", g_cargo_wasm, NULL);
  cJSON *j = parse_out(r);
  member_is(j, "project", "my-project");
  member_is(j, "language", "rust");
  member_bool(j, "stored", false);
  const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(j, "config");
  member_is(cfg, "entry", "src/main.rs");
  member_is(cfg, "build", "cargo build --release");
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(j, "steps");
  assert_int_equal(cJSON_GetArraySize(steps), 3);
  member_is(j, "key", "config:my-project");
  assert_string_equal(cJSON_GetArrayItem(steps, 2)->valuestring, "skipped storage (not granted)");
  cJSON_Delete(j);
  /* The log service works: the skill's lines reach stderr with levels. */
  assert_non_null(strstr(r->err, "INFO  "));
  assert_non_null(strstr(r->err, "init-wizard: setting up my-project (rust)"));
  assert_non_null(strstr(r->err, "WARN  "));
  assert_non_null(strstr(r->err, "init-wizard: done"));
  free(r);
}

/* Storage across processes: the second run finds the first one's
 * configuration and counts two runs; reset starts over. */
static void init_wizard_kv(void **st) {
  (void)st;
  const char *in = "{\"project\":\"demo\",\"language\":\"rust\",\"description\":\"a \\\"demo\\\"\"}";
  cli_result *r = cis("skill", "run", "--wasm", example_wasm(), "--kv", "--input", in, NULL);
  cJSON *j = parse_out(r);
  member_bool(j, "stored", true);
  member_bool(j, "created", true);
  member_bool(j, "verified", true);
  member_num(j, "runs", 1);
  assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "previous")));
  member_is(cJSON_GetObjectItemCaseSensitive(j, "config"), "description", "a \"demo\"");
  char *first = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "config"));
  cJSON_Delete(j);
  assert_non_null(strstr(r->err, "stored config:demo"));
  free(r);

  r = cis("skill", "run", "--wasm", example_wasm(), "--kv", "--input", in, NULL);
  j = parse_out(r);
  member_bool(j, "created", false);
  member_num(j, "runs", 2);
  char *prev = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "previous"));
  assert_string_equal(prev, first);
  free(prev);
  cJSON_Delete(j);
  assert_non_null(strstr(r->err, "found an earlier configuration under config:demo"));
  free(r);

  r = cis("skill", "run", "--wasm", example_wasm(), "--kv", "--input",
          "{\"project\":\"demo\",\"language\":\"go\",\"reset\":true}", NULL);
  j = parse_out(r);
  member_num(j, "runs", 1);
  member_bool(j, "created", true);
  member_is(cJSON_GetObjectItemCaseSensitive(j, "config"), "entry", "main.go");
  cJSON_Delete(j);
  assert_non_null(strstr(r->err, "reset config:demo (deleted)"));
  free(first);
  free(r);
}

/* Installed from its built folder (skill.json next to the module) and
 * run by name, with the grants of its manifest. */
static void init_wizard_installed(void **st) {
  (void)st;
  cli_result *r = cis("skill", "install", g_example, NULL);
  assert_int_equal(r->status, 0);
  assert_string_equal(r->out, "installed init-wizard\n");
  free(r);
  r = cis("skill", "list", NULL);
  assert_int_equal(r->status, 0);
  assert_non_null(strstr(r->out, "init-wizard"));
  assert_non_null(strstr(r->out, "1.0.0"));
  free(r);
  for (int round = 1; round <= 2; round++) {
    r = cis("skill", "run", "init-wizard", "--input", "{\"project\":\"web.app\",\"language\":\"TS\"}", NULL);
    cJSON *j = parse_out(r);
    member_is(j, "language", "typescript");
    member_bool(j, "stored", true);
    member_num(j, "runs", round);
    member_is(cJSON_GetObjectItemCaseSensitive(j, "config"), "entry", "src/index.ts");
    cJSON_Delete(j);
    free(r);
  }
  r = cis("skill", "remove", "init-wizard", NULL);
  assert_int_equal(r->status, 0);
  free(r);
  r = cis("skill", "run", "init-wizard", NULL);
  assert_int_equal(r->status, 1);
  assert_non_null(strstr(r->err, "CIS_ENOTFOUND"));
  free(r);
}

/* Inputs the skill refuses: a typed error (CIS_ESKILL, code -6) and the
 * reason in its log, exit status 1, nothing on stdout. */
static void init_wizard_refuses(void **st) {
  (void)st;
  const struct {
    const char *input, *why;
  } bad[] = {
      {"{\"language\":\"cobol\"}", "unknown language \"cobol\"; known: rust, c, go, python, typescript"},
      {"{\"project\":\"../etc\"}", "bad project name \"../etc\""},
      {"{\"project\":\"\"}", "bad project name \"\""},
      {"{\"project\":42}", "\"project\" must be a string"},
      {"[1,2]", "the input must be a JSON object"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    cli_result *r = cis("skill", "run", "--wasm", example_wasm(), "--kv", "--input", bad[i].input, NULL);
    assert_int_equal(r->status, 4); /* the skill refused it: exit 4 (docs/cli.md) */
    assert_string_equal(r->out, "");
    if (!strstr(r->err, bad[i].why)) fprintf(stderr, "want \"%s\" in:\n%s\n", bad[i].why, r->err);
    assert_non_null(strstr(r->err, bad[i].why));
    assert_non_null(strstr(r->err, "CIS_ESKILL: the skill returned error -6"));
    assert_non_null(strstr(r->err, "skill failed: INVALID (-6)"));
    free(r);
  }
  /* Input that is not JSON never reaches the skill. */
  cli_result *r = cis("skill", "run", "--wasm", example_wasm(), "--input", "{\"project\":", NULL);
  assert_int_equal(r->status, 3); /* bad input: exit 3 */
  assert_non_null(strstr(r->err, "CIS_EJSON"));
  assert_null(strstr(r->err, "init-wizard:"));
  free(r);
}

/* as-hello as the seeds run a module (--wasm, with input and KV), then
 * installed: counts per name survive across processes. */
static void as_hello_runs(void **st) {
  (void)st;
  cli_result *r = cis("skill", "run", "--wasm", example_wasm(), "--kv", "--input", "{\"name\":\"Ada\"}", NULL);
  assert_int_equal(r->status, 0);
  assert_string_equal(r->out, "{\"greeting\":\"Hello, Ada!\",\"count\":1,\"previous\":null}\n");
  assert_non_null(strstr(r->err, "as-hello: greeting Ada"));
  free(r);
  /* No input at all: the default name. */
  r = cis("skill", "run", "--wasm", example_wasm(), "--kv", NULL);
  assert_int_equal(r->status, 0);
  assert_string_equal(r->out, "{\"greeting\":\"Hello, world!\",\"count\":1,\"previous\":\"Ada\"}\n");
  free(r);

  r = cis("skill", "install", g_example, NULL);
  assert_int_equal(r->status, 0);
  assert_string_equal(r->out, "installed as-hello\n");
  free(r);
  /* Installed, it has its own KV namespace (the skill's name). */
  r = cis("skill", "run", "as-hello", "--input", "{\"name\":\"Grace\"}", NULL);
  assert_string_equal(r->out, "{\"greeting\":\"Hello, Grace!\",\"count\":1,\"previous\":null}\n");
  free(r);
  r = cis("skill", "run", "as-hello", "--input", "{\"name\":\"Grace\"}", NULL);
  assert_string_equal(r->out, "{\"greeting\":\"Hello, Grace!\",\"count\":2,\"previous\":\"Grace\"}\n");
  free(r);
  /* Escapes and non-ASCII text survive the round trip through the SDK. */
  r = cis("skill", "run", "as-hello", "--input", "{\"name\":\"Zo\\u00eb \\\"Z\\\"\"}", NULL);
  cJSON *j = parse_out(r);
  member_is(j, "greeting", "Hello, Zo\xc3\xab \"Z\"!");
  member_num(j, "count", 1);
  member_is(j, "previous", "Grace");
  cJSON_Delete(j);
  free(r);
  r = cis("skill", "remove", "as-hello", NULL);
  assert_int_equal(r->status, 0);
  free(r);
}

/* Without a KV grant the skill fails with DENIED and says why. */
static void as_hello_refused(void **st) {
  (void)st;
  cli_result *r = cis("skill", "run", "--wasm", example_wasm(), "--input", "{\"name\":\"Ada\"}", NULL);
  assert_int_equal(r->status, 4); /* a skill error: exit 4 */
  assert_string_equal(r->out, "");
  assert_non_null(strstr(r->err, "as-hello: kv_increment failed: DENIED"));
  assert_non_null(strstr(r->err, "CIS_ESKILL: the skill returned error -2"));
  free(r);
}

int main(int argc, char **argv) {
  if (argc < 5 || argc > 6 || (strcmp(argv[1], "rust") && strcmp(argv[1], "as"))) {
    fprintf(stderr, "usage: test_sdk rust|as CIS_BINARY EXAMPLE_DIR PROBE_WASM [CARGO_WASM]\n");
    return 2;
  }
  g_lang = argv[1];
  g_cis = argv[2];
  g_example = argv[3];
  g_probe_path = argv[4];
  g_cargo_wasm = argc > 5 ? argv[5] : NULL;
  g_probe = cis_test_file_read(g_probe_path, &g_probe_len);
  if (!g_probe) {
    fprintf(stderr, "cannot read %s\n", g_probe_path);
    return 2;
  }
  if (!mkdtemp(g_tmp)) return 2;
  unsetenv("CIS_KV");
  unsetenv("CIS_AI_BASE_URL");
  const struct CMUnitTest probe_tests[] = {
      cmocka_unit_test(probe_input_and_output), cmocka_unit_test(probe_log_and_deadline),
      cmocka_unit_test(probe_failures),         cmocka_unit_test(probe_kv),
      cmocka_unit_test(probe_ai),               cmocka_unit_test(probe_http),
      cmocka_unit_test(probe_config),
  };
  const struct CMUnitTest rust_example[] = {
      cmocka_unit_test(init_wizard_seed000),   cmocka_unit_test(init_wizard_kv),
      cmocka_unit_test(init_wizard_installed), cmocka_unit_test(init_wizard_refuses),
  };
  const struct CMUnitTest as_example[] = {
      cmocka_unit_test(as_hello_runs),
      cmocka_unit_test(as_hello_refused),
  };
  int failed = cmocka_run_group_tests_name(is_rust() ? "rust probe" : "as probe", probe_tests, NULL, NULL);
  if (is_rust()) failed += cmocka_run_group_tests_name("init-wizard", rust_example, NULL, NULL);
  else failed += cmocka_run_group_tests_name("as-hello", as_example, NULL, NULL);
  free(g_probe);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
  return failed ? 1 : 0;
}
