/*
 * This file implements the tests of what the operator page reads and is:
 * GET /v1/calls (each tenant's ring of recent calls, its caps, hostile
 * limits), the memory peak in an invocation's figures, and the page's
 * files at / and /ui/ with their security headers. The page in a browser
 * is test_serve_page's.
 *
 * argv[1]: the folder holding the built fixtures (the .wat files here);
 * argv[2]: the page's source folder (src/serve/page), read to check that
 * what is served is those files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "cis/cis_skill.h"
#include "serve/http_client.h"
#include "serve/op_server.h"
#include "serve/serve_fixture.h"
#include "support/test_file.h"

static const char *g_dir, *g_page;

static int setup(void **state) {
  op_server *v = op_server_start(g_dir);
  *state = v;
  return v ? 0 : -1;
}

static int teardown(void **state) {
  op_server_stop(*state);
  return 0;
}

/* GET path with token; the reply's JSON (caller frees), status in *st. */
static cJSON *get_json(op_server *v, const char *path, const char *token, int *st) {
  http_resp r;
  *st = 0;
  if (http_get(v->port, path, token, &r) != 0) return NULL;
  *st = r.status;
  cJSON *o = cJSON_Parse(r.body);
  http_resp_free(&r);
  return o;
}

static const cJSON *member(const cJSON *o, const char *name) { return cJSON_GetObjectItemCaseSensitive(o, name); }

static double number(const cJSON *o, const char *name) {
  const cJSON *n = member(o, name);
  assert_true(cJSON_IsNumber(n));
  return n->valuedouble;
}

static const char *string(const cJSON *o, const char *name) {
  const cJSON *n = member(o, name);
  assert_true(cJSON_IsString(n));
  return n->valuestring;
}

/* ------------------------------------------------------------- /v1/calls */

static void calls_list_the_tenants_calls_newest_first_with_status_error_and_logs(void **state) {
  op_server *v = *state;
  assert_int_equal(op_invoke(v, "echo", "{\"n\":1}"), 200);
  assert_int_equal(op_invoke(v, "trap", "{}"), 422);
  assert_int_equal(op_invoke(v, "logger", "{\"note\":\"<img src=x onerror=alert(1)>\"}"), 200);
  int st;
  cJSON *o = get_json(v, "/v1/calls", v->alice, &st);
  assert_int_equal(st, 200);
  const cJSON *calls = member(o, "calls");
  assert_int_equal(cJSON_GetArraySize(calls), 3);
  const cJSON *logger = cJSON_GetArrayItem(calls, 0), *trap = cJSON_GetArrayItem(calls, 1),
              *echo = cJSON_GetArrayItem(calls, 2);
  assert_string_equal(string(logger, "name"), "logger");
  assert_string_equal(string(trap, "name"), "trap");
  assert_string_equal(string(echo, "name"), "echo");
  assert_true(number(logger, "seq") > number(trap, "seq") && number(trap, "seq") > number(echo, "seq"));
  assert_int_equal((int)number(echo, "status"), 200);
  assert_null(member(echo, "error"));
  assert_int_equal((int)number(trap, "status"), 422);
  assert_string_equal(string(member(trap, "error"), "type"), "CIS_TRAP_UNREACHABLE");
  assert_true(strlen(string(member(trap, "error"), "message")) > 0);
  /* The guest's line is kept as it was, a JSON string for the page to
   * show as text. */
  assert_non_null(strstr(string(logger, "logs"), "<img src=x onerror=alert(1)>"));
  assert_int_equal((int)number(logger, "log_lines"), 1);
  assert_false(cJSON_IsTrue(member(logger, "logs_truncated")));
  assert_string_equal(string(echo, "logs"), "");
  for (int i = 0; i < 3; i++) {
    const cJSON *c = cJSON_GetArrayItem(calls, i);
    assert_true(number(c, "wall_ms") > 0);
    assert_true(number(c, "at_ms") > 1.6e12); /* Unix time in ms, after 2020 */
    assert_true(number(c, "memory_peak_bytes") >= 65536);
  }
  cJSON_Delete(o);
}

static void calls_are_the_callers_tenant_only(void **state) {
  op_server *v = *state;
  assert_int_equal(op_invoke(v, "echo", "{}"), 200);
  int st;
  cJSON *o = get_json(v, "/v1/calls", v->bob, &st);
  assert_int_equal(st, 200);
  assert_int_equal(cJSON_GetArraySize(member(o, "calls")), 0);
  cJSON_Delete(o);
  /* Auth as every /v1 route: no token, a wrong one. */
  http_resp r;
  assert_int_equal(http_get(v->port, "/v1/calls", NULL, &r), 0);
  assert_int_equal(r.status, 401);
  char h[128];
  assert_non_null(http_header(&r, "WWW-Authenticate", h, sizeof h));
  http_resp_free(&r);
  assert_int_equal(http_get(v->port, "/v1/calls", "cis_0_00", &r), 0);
  assert_int_equal(r.status, 401);
  http_resp_free(&r);
  assert_int_equal(http_send(v->port, "POST", "/v1/calls", v->alice, "{}", &r), 0);
  assert_int_equal(r.status, 405);
  assert_non_null(http_header(&r, "Allow", h, sizeof h));
  assert_string_equal(h, "GET");
  http_resp_free(&r);
  o = get_json(v, "/v1/calls", v->alice, &st);
  assert_int_equal(cJSON_GetArraySize(member(o, "calls")), 1);
  cJSON_Delete(o);
}

static void calls_limit_refuses_hostile_values(void **state) {
  op_server *v = *state;
  for (int i = 0; i < 3; i++) assert_int_equal(op_invoke(v, "echo", "{}"), 200);
  static const struct {
    const char *query;
    int status, count;
  } cases[] = {
      {"?limit=1", 200, 1},
      {"?limit=2", 200, 2},
      {"?limit=64", 200, 3},
      {"?limit=99999999999999999999999999999999", 200, 3}, /* clamped, no overflow */
      {"?limit=4294967297", 200, 3},                        /* 2^32 + 1: not 1 */
      {"?limit=0", 400, 0},
      {"?limit=-1", 400, 0},
      {"?limit=", 400, 0},
      {"?limit=abc", 400, 0},
      {"?limit=1e3", 400, 0},
      {"?limit=0x10", 400, 0},
      {"?limit=%205", 400, 0},
      {"?limit=5%20", 400, 0},
      {"?limit=%2B5", 400, 0},
      {"?limit=5%00", 400, 0}, /* a control byte in the target (test_serve_framing) */
      {"?limit=1.5", 400, 0},
      {"?other=1", 200, 3},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char path[128];
    snprintf(path, sizeof path, "/v1/calls%s", cases[i].query);
    int st;
    cJSON *o = get_json(v, path, v->alice, &st);
    if (st != cases[i].status) fprintf(stderr, "%s: %d\n", path, st);
    assert_int_equal(st, cases[i].status);
    if (st == 200) assert_int_equal(cJSON_GetArraySize(member(o, "calls")), cases[i].count);
    else assert_string_equal(string(member(o, "error"), "type"), "CIS_EINVAL");
    cJSON_Delete(o);
  }
}

static void calls_ring_keeps_the_last_64_and_cuts_long_logs(void **state) {
  op_server *v = *state;
  /* A log line above the ring's 4 KiB cap (the log's own cap of a line
   * is 4 KiB of message, plus its prefix). */
  size_t n = 6000;
  char *big = malloc(n + 16);
  assert_non_null(big);
  memcpy(big, "{\"x\":\"", 6);
  memset(big + 6, 'y', n);
  memcpy(big + 6 + n, "\"}", 3);
  assert_int_equal(op_invoke(v, "logger", big), 200);
  free(big);
  int st;
  cJSON *o = get_json(v, "/v1/calls?limit=1", v->alice, &st);
  const cJSON *c = cJSON_GetArrayItem(member(o, "calls"), 0);
  assert_true(cJSON_IsTrue(member(c, "logs_truncated")));
  size_t kept = strlen(string(c, "logs"));
  assert_true(kept > 4000 && kept <= 4096);
  cJSON_Delete(o);
  for (int i = 0; i < 70; i++) assert_int_equal(op_invoke(v, "echo", "{}"), 200);
  o = get_json(v, "/v1/calls", v->alice, &st);
  const cJSON *calls = member(o, "calls");
  assert_int_equal(cJSON_GetArraySize(calls), 64);
  /* 71 calls: the newest is the 71st, the oldest kept the 8th. */
  assert_int_equal((int)number(cJSON_GetArrayItem(calls, 0), "seq"), 71);
  assert_int_equal((int)number(cJSON_GetArrayItem(calls, 63), "seq"), 8);
  cJSON_Delete(o);
}

/* Whether s (n bytes) is well-formed UTF-8 (RFC 3629). */
static bool utf8_ok(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!k || i + k > n) return false;
    for (size_t j = 1; j < k; j++)
      if ((s[i + j] & 0xC0) != 0x80) return false;
    i += k;
  }
  return true;
}

static void calls_cut_logs_at_a_character_boundary(void **state) {
  op_server *v = *state;
  /* Lines of 3-byte characters (the euro sign) after 0, 1 and 2 bytes of
   * padding: wherever the 4 KiB cut falls, one of the three would split
   * a character were it cut at the byte. */
  for (int pad = 0; pad < 3; pad++) {
    char *in = malloc(16 + 3 * 2000 + 3);
    assert_non_null(in);
    size_t n = (size_t)sprintf(in, "{\"x\":\"%.*s", pad, "ab");
    for (int i = 0; i < 2000; i++) n += (size_t)sprintf(in + n, "\xe2\x82\xac");
    strcpy(in + n, "\"}");
    assert_int_equal(op_invoke(v, "logger", in), 200);
    free(in);
    int st;
    cJSON *o = get_json(v, "/v1/calls?limit=1", v->alice, &st);
    const cJSON *c = cJSON_GetArrayItem(member(o, "calls"), 0);
    const char *logs = string(c, "logs");
    size_t len = strlen(logs);
    assert_true(cJSON_IsTrue(member(c, "logs_truncated")));
    assert_true(len > 4090 && len <= 4096);
    assert_true(utf8_ok((const unsigned char *)logs, len));
    assert_memory_equal(logs + len - 3, "\xe2\x82\xac", 3);
    cJSON_Delete(o);
  }
}

/* ------------------------------------------------------------- memory peak */

static double invoke_peak(op_server *v, const char *name) {
  char path[128];
  snprintf(path, sizeof path, "/v1/skills/%s/invoke", name);
  http_resp r;
  assert_int_equal(http_send(v->port, "POST", path, v->alice, "{}", &r), 0);
  cJSON *o = cJSON_Parse(r.body);
  http_resp_free(&r);
  double peak = number(member(o, "stats"), "memory_peak_bytes");
  cJSON_Delete(o);
  return peak;
}

static void memory_peak_of_a_growing_skill_is_larger(void **state) {
  op_server *v = *state;
  double still = invoke_peak(v, "echo"), grown = invoke_peak(v, "grow");
  fprintf(stderr, "memory peak: echo %.0f, grow %.0f\n", still, grown);
  /* Both have one page to begin with; grow adds 32 (2 MiB). The rest is
   * the instances' bookkeeping, which differs by a few bytes between the
   * two modules: 4 KiB of room either way. */
  assert_true(still >= 65536);
  assert_true(grown > still + 32 * 65536.0 - 4096 && grown < still + 32 * 65536.0 + 4096);
  /* The library's figure, beside the server's. */
  cis_skills *s = serve_open(v->home, "alice");
  assert_non_null(s);
  cis_invoke_result a, b, t;
  assert_int_equal(cis_skills_invoke(s, "echo", "{}", 2, NULL, &a), CIS_OK);
  assert_int_equal(cis_skills_invoke(s, "grow", "{}", 2, NULL, &b), CIS_OK);
  assert_true(b.stats.memory_peak > a.stats.memory_peak + 32 * 65536 - 4096);
  assert_true(b.stats.memory_peak < a.stats.memory_peak + 32 * 65536 + 4096);
  /* A call that traps still says what it held. */
  assert_int_equal(cis_skills_invoke(s, "trap", "{}", 2, NULL, &t), CIS_TRAP_UNREACHABLE);
  assert_true(t.stats.memory_peak >= 65536);
  cis_invoke_result_free(&a);
  cis_invoke_result_free(&b);
  cis_invoke_result_free(&t);
  cis_skills_close(s);
  /* And the ring keeps it. */
  int st;
  cJSON *o = get_json(v, "/v1/calls?limit=2", v->alice, &st);
  const cJSON *calls = member(o, "calls");
  assert_string_equal(string(cJSON_GetArrayItem(calls, 0), "name"), "grow");
  assert_true(number(cJSON_GetArrayItem(calls, 0), "memory_peak_bytes") == grown);
  cJSON_Delete(o);
}

/* ------------------------------------------------------------- the page */

/* The text of file name in the page's source folder (malloc'd). */
static char *page_source(const char *name, size_t *len) {
  char *b = (char *)cis_test_file_read_in(g_page, name, "", len);
  if (!b) fail_msg("cannot read %s/%s", g_page, name);
  return b;
}

static void operator_page_is_served_with_a_content_security_policy(void **state) {
  op_server *v = *state;
  static const struct {
    const char *path, *file, *ctype;
  } files[] = {
      {"/", "index.html", "text/html; charset=utf-8"},
      {"/ui/index.html", "index.html", "text/html; charset=utf-8"},
      {"/ui/page.js", "page.js", "text/javascript; charset=utf-8"},
      {"/ui/page.css", "page.css", "text/css; charset=utf-8"},
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    http_resp r;
    /* No token: the page holds nothing of a tenant's. */
    assert_int_equal(http_get(v->port, files[i].path, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    char h[256];
    assert_non_null(http_header(&r, "Content-Type", h, sizeof h));
    assert_string_equal(h, files[i].ctype);
    assert_non_null(http_header(&r, "Content-Security-Policy", h, sizeof h));
    assert_non_null(strstr(h, "default-src 'self'"));
    assert_non_null(http_header(&r, "X-Content-Type-Options", h, sizeof h));
    assert_string_equal(h, "nosniff");
    size_t len;
    char *src = page_source(files[i].file, &len);
    assert_int_equal(r.body_len, len);
    assert_memory_equal(r.body, src, len);
    free(src);
    http_resp_free(&r);
  }
  static const struct {
    const char *method, *path;
    int status;
  } refused[] = {
      {"GET", "/ui/nope.js", 404}, {"GET", "/ui/", 404},        {"GET", "/ui/../metrics", 404},
      {"GET", "/ui/page.js/x", 404}, {"POST", "/", 405},        {"DELETE", "/ui/page.js", 405},
      {"GET", "/index.html", 404},
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    http_resp r;
    assert_int_equal(http_send(v->port, refused[i].method, refused[i].path, NULL, NULL, &r), 0);
    if (r.status != refused[i].status) fprintf(stderr, "%s %s: %d\n", refused[i].method, refused[i].path, r.status);
    assert_int_equal(r.status, refused[i].status);
    http_resp_free(&r);
  }
}

/* The page loads nothing from elsewhere and writes what the server sends
 * only as text: no URL of another origin, no markup sinks, no eval. */
static void operator_page_uses_no_markup_sinks_or_other_origins(void **state) {
  (void)state;
  static const char *const files[] = {"index.html", "page.js", "page.css"};
  static const char *const banned[] = {"http://", "https://", "//cdn", "innerHTML", "outerHTML",
                                       "insertAdjacentHTML", "document.write", "eval(", "new Function",
                                       "setTimeout('", "javascript:", "localStorage", "location.hash",
                                       "location.search"};
  for (size_t i = 0; i < 3; i++) {
    size_t len;
    char *src = page_source(files[i], &len);
    for (size_t k = 0; k < sizeof banned / sizeof banned[0]; k++) {
      if (strstr(src, banned[k])) fprintf(stderr, "%s has %s\n", files[i], banned[k]);
      assert_null(strstr(src, banned[k]));
    }
    free(src);
  }
}

int main(int argc, char **argv) {
  g_dir = argc > 1 ? argv[1] : ".";
  g_page = argc > 2 ? argv[2] : ".";
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(calls_list_the_tenants_calls_newest_first_with_status_error_and_logs, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(calls_are_the_callers_tenant_only, setup, teardown),
      cmocka_unit_test_setup_teardown(calls_limit_refuses_hostile_values, setup, teardown),
      cmocka_unit_test_setup_teardown(calls_ring_keeps_the_last_64_and_cuts_long_logs, setup, teardown),
      cmocka_unit_test_setup_teardown(calls_cut_logs_at_a_character_boundary, setup, teardown),
      cmocka_unit_test_setup_teardown(memory_peak_of_a_growing_skill_is_larger, setup, teardown),
      cmocka_unit_test_setup_teardown(operator_page_is_served_with_a_content_security_policy, setup, teardown),
      cmocka_unit_test(operator_page_uses_no_markup_sinks_or_other_origins),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
