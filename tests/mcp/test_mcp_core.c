/*
 * This file implements the unit tests of the MCP core without a process:
 * cis_mcp_handle message by message (lifecycle and version negotiation,
 * the JSON-RPC errors, tools/list and tools/call over a real registry),
 * cis_mcp_serve_fd over files and pipes (framing, the line cap, calls on
 * threads of their own), the manifest's optional input_schema field and
 * the check of arguments against it, tools/list's pages, and
 * notifications/cancelled stopping a call in flight.
 *
 * argv[1] is the folder of the built .wasm fixtures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cis/cis_mcp.h"
#include "mcp/mcp_fixture.h"
#include "serve/mcp_schema.h"
#include "skill/manifest.h"

static const char *fixtures;
static char home[128];
static cis_skills *skills;

#define INIT(v) \
  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"" v \
  "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"test\",\"version\":\"1\"}}}"
#define MODERN_META \
  "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"," \
  "\"io.modelcontextprotocol/clientCapabilities\":{}}"

static cis_mcp *new_session(void) {
  cis_mcp_config c = {.skills = skills, .tenant = "t1"};
  cis_mcp *m = NULL;
  assert_int_equal(cis_mcp_new(&c, &m), CIS_OK);
  return m;
}

/* The reply to msg, parsed; NULL when there is none. */
static cJSON *rpc(cis_mcp *m, const char *msg) {
  char *out = NULL;
  size_t len = 99;
  assert_int_equal(cis_mcp_handle(m, msg, strlen(msg), &out, &len), CIS_OK);
  if (!out) {
    assert_int_equal(len, 0);
    return NULL;
  }
  assert_int_equal(len, strlen(out));
  assert_null(memchr(out, '\n', len)); /* one line on stdio */
  cJSON *d = cJSON_Parse(out);
  if (!d) fail_msg("reply is not JSON: %s", out);
  free(out);
  cJSON *v = cJSON_GetObjectItemCaseSensitive(d, "jsonrpc");
  assert_true(cJSON_IsString(v) && !strcmp(v->valuestring, "2.0"));
  return d;
}

static cJSON *get(const cJSON *o, const char *path) {
  char buf[200];
  snprintf(buf, sizeof buf, "%s", path);
  const cJSON *cur = o;
  for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && cur; k = strtok_r(NULL, ".", &save)) {
    if (cJSON_IsArray(cur)) cur = cJSON_GetArrayItem(cur, atoi(k));
    else cur = cJSON_GetObjectItemCaseSensitive(cur, k);
  }
  return (cJSON *)cur;
}

static const char *str(const cJSON *o, const char *path) {
  const cJSON *v = get(o, path);
  if (!cJSON_IsString(v)) fail_msg("%s: not a string", path);
  return v->valuestring;
}

/* Checks d is an error reply with code and the id null (id_json NULL) or
 * the given one, and frees it. */
static void expect_error(cJSON *d, int code, const char *id_json) {
  if (!d) fail_msg("no reply, expected error %d", code);
  const cJSON *c = get(d, "error.code");
  if (!cJSON_IsNumber(c)) fail_msg("not an error reply: %s", cJSON_PrintUnformatted(d));
  assert_int_equal(c->valueint, code);
  assert_true(cJSON_IsString(get(d, "error.message")));
  assert_null(get(d, "result"));
  char *id = cJSON_PrintUnformatted(get(d, "id"));
  assert_string_equal(id, id_json ? id_json : "null");
  free(id);
  cJSON_Delete(d);
}

static cJSON *expect_result(cJSON *d) {
  if (!d) fail_msg("no reply, expected a result");
  if (!cJSON_IsObject(get(d, "result"))) fail_msg("not a result: %s", cJSON_PrintUnformatted(d));
  assert_null(get(d, "error"));
  return d;
}

static cis_mcp *initialized(const char *version_msg) {
  cis_mcp *m = new_session();
  cJSON_Delete(expect_result(rpc(m, version_msg)));
  assert_null(rpc(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"));
  return m;
}

/* --------------------------------------------------------- lifecycle */

static void initialize_answers_each_supported_version_with_itself(void **state) {
  (void)state;
  const char *msgs[] = {INIT("2024-11-05"), INIT("2025-03-26"), INIT("2025-06-18"), INIT("2025-11-25")};
  const char *want[] = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"};
  for (int i = 0; i < 4; i++) {
    cis_mcp *m = new_session();
    assert_null(cis_mcp_negotiated_version(m));
    cJSON *d = expect_result(rpc(m, msgs[i]));
    assert_string_equal(str(d, "result.protocolVersion"), want[i]);
    assert_string_equal(cis_mcp_negotiated_version(m), want[i]);
    assert_true(cJSON_IsObject(get(d, "result.capabilities.tools")));
    assert_string_equal(str(d, "result.serverInfo.name"), "cis");
    assert_string_equal(str(d, "result.serverInfo.version"), cis_version());
    assert_int_equal(get(d, "id")->valueint, 1);
    cJSON_Delete(d);
    cis_mcp_free(m);
  }
}

static void initialize_answers_other_versions_with_newest_handshake_version(void **state) {
  (void)state;
  /* A draft older than any release (2024-10-07, which SDKs still list),
   * unknown ones, and the stateless 2026-07-28, which has no initialize
   * (an initialize selects the handshake era). */
  const char *msgs[] = {INIT("2024-10-07"), INIT("1999-01-01"), INIT("2099-01-01"), INIT("2026-07-28")};
  for (int i = 0; i < 4; i++) {
    cis_mcp *m = new_session();
    cJSON *d = expect_result(rpc(m, msgs[i]));
    assert_string_equal(str(d, "result.protocolVersion"), CIS_MCP_LATEST_HANDSHAKE_VERSION);
    cJSON_Delete(d);
    cis_mcp_free(m);
  }
}

/* A tools/list and a tools/call of echo in a session of version v: what
 * each reply holds must be what v knows, and nothing newer. */
static void shapes_follow_the_session_version(void **state) {
  (void)state;
  const char *vs[] = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"};
  const char *msgs[] = {INIT("2024-11-05"), INIT("2025-03-26"), INIT("2025-06-18"), INIT("2025-11-25")};
  for (int i = 0; i < 4; i++) {
    cis_mcp *m = new_session();
    cJSON *d = expect_result(rpc(m, msgs[i]));
    bool v0326 = i >= 1, v0618 = i >= 2, v1125 = i >= 3;
    /* Implementation.title came in 2025-06-18, description in 2025-11-25. */
    assert_int_equal(get(d, "result.serverInfo.title") != NULL, v0618);
    assert_int_equal(get(d, "result.serverInfo.description") != NULL, v1125);
    assert_string_equal(str(d, "result.protocolVersion"), vs[i]);
    cJSON_Delete(d);
    assert_null(rpc(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"));
    d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}"));
    /* Tool annotations came in 2025-03-26; no Tool field of later ones
     * (title, outputSchema, icons, execution) is sent. */
    assert_int_equal(get(d, "result.tools.0.annotations") != NULL, v0326);
    if (v0326) {
      assert_true(cJSON_IsTrue(get(d, "result.tools.0.annotations.readOnlyHint")));
      assert_true(cJSON_IsFalse(get(d, "result.tools.0.annotations.openWorldHint")));
    }
    const char *never[] = {"title", "outputSchema", "icons", "execution"};
    for (int k = 0; k < 4; k++) assert_null(cJSON_GetObjectItemCaseSensitive(get(d, "result.tools.0"), never[k]));
    assert_null(get(d, "result.resultType"));
    assert_null(get(d, "result.ttlMs"));
    cJSON_Delete(d);
    /* structuredContent came in 2025-06-18. */
    d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\","
                             "\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"v\"}}}"));
    assert_string_equal(str(d, "result.content.0.text"), "{\"text\":\"v\"}");
    assert_int_equal(get(d, "result.structuredContent") != NULL, v0618);
    assert_true(cJSON_IsFalse(get(d, "result.isError")));
    assert_null(get(d, "result.resultType"));
    cJSON_Delete(d);
    cis_mcp_free(m);
  }
}

/* Annotations say what the skill's grants allow: KV or a writable mount
 * may change what outlives a call, HTTP or AI reach outside the host. */
static void annotations_follow_the_grants(void **state) {
  (void)state;
  struct {
    const char *name, *extra;
    bool read_only, open_world;
  } cases[] = {
      {"g-kv", ",\"permissions\":{\"kv\":true}", false, false},
      {"g-ai", ",\"permissions\":{\"ai\":true}", true, true},
      {"g-http", ",\"permissions\":{\"http\":{\"allow\":[\"api.example\"]}}", false, true},
      {"g-mem", ",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/t\",\"type\":\"mem\"}]}}", true, false},
      {"g-db", ",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/d\",\"type\":\"db\"}]}}", false, false},
      {"g-dbro", ",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/d\",\"type\":\"db\",\"mode\":\"ro\"}]}}", true,
       false},
  };
  size_t n = sizeof cases / sizeof cases[0];
  for (size_t i = 0; i < n; i++) assert_int_equal(mcp_fixture_add(skills, fixtures, cases[i].name, "echo_input", cases[i].extra), 0);
  cis_mcp *m = initialized(INIT("2025-03-26"));
  cJSON *d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"));
  for (size_t i = 0; i < n; i++) {
    const cJSON *t = NULL, *it;
    cJSON_ArrayForEach(it, get(d, "result.tools")) if (!strcmp(str(it, "name"), cases[i].name)) t = it;
    assert_non_null(t);
    assert_int_equal(cJSON_IsTrue(get(t, "annotations.readOnlyHint")), cases[i].read_only);
    assert_int_equal(cJSON_IsTrue(get(t, "annotations.openWorldHint")), cases[i].open_world);
  }
  cJSON_Delete(d);
  cis_mcp_free(m);
  for (size_t i = 0; i < n; i++) assert_int_equal(cis_skills_remove(skills, cases[i].name), CIS_OK);
}

/* JSON-RPC batches were part of 2025-03-26 only (servers had to take
 * them); 2024-11-05 never named them and 2025-06-18 took them out. */
static void batches_only_in_2025_03_26(void **state) {
  (void)state;
  const char batch[] = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                       "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"},"
                       "{\"jsonrpc\":\"2.0\",\"id\":\"c\",\"method\":\"tools/call\",\"params\":{\"name\":\"plain\"}},"
                       "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"nope\"},7,[]]";
  cis_mcp *m = initialized(INIT("2025-03-26"));
  char *out = NULL;
  size_t len = 0;
  assert_int_equal(cis_mcp_handle(m, batch, strlen(batch), &out, &len), CIS_OK);
  assert_non_null(out);
  assert_int_equal(len, strlen(out));
  cJSON *d = cJSON_Parse(out);
  free(out);
  assert_true(cJSON_IsArray(d));
  assert_int_equal(cJSON_GetArraySize(d), 5); /* the notification has none */
  assert_int_equal(get(d, "0.id")->valueint, 1);
  assert_true(cJSON_IsObject(get(d, "0.result")));
  assert_string_equal(str(d, "1.id"), "c");
  assert_string_equal(str(d, "1.result.content.0.text"), "{}");
  assert_int_equal(get(d, "2.error.code")->valueint, -32601);
  assert_int_equal(get(d, "3.error.code")->valueint, -32600);
  assert_int_equal(get(d, "4.error.code")->valueint, -32600); /* batches do not nest */
  cJSON_Delete(d);
  /* Only notifications: no reply at all. An empty batch is one error. */
  const char quiet[] = "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}]";
  assert_int_equal(cis_mcp_handle(m, quiet, strlen(quiet), &out, &len), CIS_OK);
  assert_null(out);
  expect_error(rpc(m, "[]"), -32600, NULL);
  cis_mcp_free(m);
  const char *others[] = {INIT("2024-11-05"), INIT("2025-06-18"), INIT("2025-11-25")};
  for (int i = 0; i < 3; i++) {
    m = initialized(others[i]);
    expect_error(rpc(m, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]"), -32600, NULL);
    cis_mcp_free(m);
  }
  /* Before initialize no session takes them: initialize may not be in one. */
  m = new_session();
  expect_error(rpc(m, "[" INIT("2025-03-26") "]"), -32600, NULL);
  assert_null(cis_mcp_negotiated_version(m));
  cis_mcp_free(m);
}

/* What on_skip heard. */
typedef struct skipped {
  int n;
  cis_result rc;
  char last[64];
  char why[300];
} skipped;

static void on_skip(void *user, const char *tool, cis_result rc, const char *why) {
  skipped *k = user;
  k->n++;
  k->rc = rc;
  snprintf(k->last, sizeof k->last, "%s", tool);
  snprintf(k->why, sizeof k->why, "%s", why);
}

/* Under require_signature a skill that is unsigned (all the fixtures are)
 * cannot be offered: tools/list leaves it out and tells on_skip, where the
 * whole list used to fail (-32603 CIS_ESIGNATURE). */
static void tools_list_leaves_out_a_skill_it_cannot_offer(void **state) {
  (void)state;
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  c.require_signature = true;
  cis_skills *strict = NULL;
  assert_int_equal(cis_skills_open(&c, &strict), CIS_OK);
  skipped k = {0};
  cis_mcp_config mc = {.skills = strict, .on_skip = on_skip, .on_skip_user = &k};
  cis_mcp *m = NULL;
  assert_int_equal(cis_mcp_new(&mc, &m), CIS_OK);
  cJSON_Delete(expect_result(rpc(m, INIT("2025-11-25"))));
  cJSON *d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"));
  assert_int_equal(cJSON_GetArraySize(get(d, "result.tools")), 0);
  cJSON_Delete(d);
  assert_int_equal(k.n, 7);
  assert_int_equal(k.rc, CIS_ESIGNATURE);
  assert_string_equal(k.last, "trap");
  assert_non_null(strstr(k.why, "not signed"));
  /* A call of it names the reason, as invalid params. */
  d = rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\"}}");
  assert_non_null(strstr(str(d, "error.message"), "CIS_ESIGNATURE"));
  expect_error(d, -32602, "2");
  cis_mcp_free(m);
  /* Without on_skip the list is served all the same. */
  mc.on_skip = NULL;
  assert_int_equal(cis_mcp_new(&mc, &m), CIS_OK);
  cJSON_Delete(expect_result(rpc(m, INIT("2025-11-25"))));
  cJSON_Delete(expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}")));
  cis_mcp_free(m);
  cis_skills_close(strict);
  /* A signed skill listed beside an unsigned one: test_serve_http's
   * signed_bundles_under_require_signature, over /mcp. */
}

static void initialize_without_version_is_invalid_params(void **state) {
  (void)state;
  cis_mcp *m = new_session();
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"initialize\",\"params\":{}}"), -32602, "7");
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"initialize\"}"), -32602, "8");
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"initialize\",\"params\":{\"protocolVersion\":5}}"),
               -32602, "9");
  assert_null(cis_mcp_negotiated_version(m));
  cis_mcp_free(m);
}

static void initialize_twice_is_invalid_request(void **state) {
  (void)state;
  cis_mcp *m = initialized(INIT("2025-06-18"));
  expect_error(rpc(m, INIT("2025-11-25")), -32600, "1");
  assert_string_equal(cis_mcp_negotiated_version(m), "2025-06-18");
  cis_mcp_free(m);
}

static void notifications_get_no_reply(void **state) {
  (void)state;
  cis_mcp *m = new_session();
  assert_null(rpc(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"));
  assert_null(rpc(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":3}}"));
  assert_null(rpc(m, "{\"jsonrpc\":\"2.0\",\"method\":\"no/such/notification\",\"params\":[1]}"));
  assert_null(rpc(m, "{\"jsonrpc\":\"2.0\",\"method\":\"tools/list\"}"));
  /* A response from the client is not answered either. */
  assert_null(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}"));
  assert_null(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"error\":{\"code\":1,\"message\":\"m\"}}"));
  cis_mcp_free(m);
}

static void ping_is_answered_before_and_after_initialize(void **state) {
  (void)state;
  cis_mcp *m = new_session();
  cJSON *d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":\"p-1\",\"method\":\"ping\"}"));
  assert_string_equal(str(d, "id"), "p-1");
  assert_int_equal(cJSON_GetArraySize(get(d, "result")), 0);
  cJSON_Delete(d);
  cJSON_Delete(expect_result(rpc(m, INIT("2025-11-25"))));
  d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":{}}"));
  assert_int_equal(get(d, "id")->valueint, 2);
  cJSON_Delete(d);
  cis_mcp_free(m);
}

static void request_before_initialize_is_invalid_request(void **state) {
  (void)state;
  cis_mcp *m = new_session();
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}"), -32600, "3");
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\"}}"),
               -32600, "4");
  /* Served once initialize is answered (the initialized notification is
   * the client's courtesy; a server does not wait for it). */
  cJSON_Delete(expect_result(rpc(m, INIT("2025-06-18"))));
  cJSON_Delete(expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/list\"}")));
  cis_mcp_free(m);
}

/* ------------------------------------------------------ JSON-RPC errors */

static void malformed_json_is_parse_error(void **state) {
  (void)state;
  cis_mcp *m = initialized(INIT("2025-11-25"));
  const char *bad[] = {"{", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} x", "nul", "\"\xff\"", "{\"a\":\"\xed\xa0\x80\"}", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) expect_error(rpc(m, bad[i]), -32700, NULL);
  /* A NUL inside hides the rest from a C string parser: still an error. */
  char out_msg[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\0{";
  char *out = NULL;
  size_t len;
  assert_int_equal(cis_mcp_handle(m, out_msg, sizeof out_msg - 1, &out, &len), CIS_OK);
  expect_error(cJSON_Parse(out), -32700, NULL);
  free(out);
  cis_mcp_free(m);
}

/* An escaped NUL would reach the handler cut: cJSON decodes "\u0000" into
 * a C string that ends there, so "initialize\u0000x" ran initialize, an id
 * "a\u0000b" was answered as "a" (and keyed its flight as "a"), and a tool
 * name or argument lost its tail. Such a message is refused whole, as is
 * a NUL byte between tokens (cJSON skips it as a blank). */
static void escaped_nul_is_parse_error(void **state) {
  (void)state;
  cis_mcp *m = new_session();
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\\u0000x\",\"params\":"
                      "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
                      "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}"),
               -32700, NULL);
  assert_null(cis_mcp_negotiated_version(m));
  cis_mcp_free(m);
  m = initialized(INIT("2025-11-25"));
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\u0000b\",\"method\":\"ping\"}"), -32700, NULL);
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\\u0000\",\"id\":2,\"method\":\"ping\"}"), -32700, NULL);
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":"
                      "{\"name\":\"echo\\u0000x\",\"arguments\":{}}}"),
               -32700, NULL);
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":"
                      "{\"name\":\"echo\",\"arguments\":{\"text\":\"ok\\u0000rest\"}}}"),
               -32700, NULL);
  static const char raw[] = "{\"jsonrpc\":\"2.0\",\0\"id\":5,\"method\":\"ping\"}";
  char *out = NULL;
  size_t len;
  assert_int_equal(cis_mcp_handle(m, raw, sizeof raw - 1, &out, &len), CIS_OK);
  expect_error(cJSON_Parse(out), -32700, NULL);
  free(out);
  /* The six characters \u0000 after an escaped backslash are no NUL. */
  cJSON *d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\\\u0000b\",\"method\":\"ping\"}"));
  assert_string_equal(str(d, "id"), "a\\u0000b");
  cJSON_Delete(d);
  cis_mcp_free(m);
}

static void non_jsonrpc_messages_are_invalid_request(void **state) {
  (void)state;
  cis_mcp *m = initialized(INIT("2025-11-25"));
  /* No batches: 2025-03-26 alone had them (batches_only_in_2025_03_26). */
  expect_error(rpc(m, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]"), -32600, NULL);
  expect_error(rpc(m, "42"), -32600, NULL);
  expect_error(rpc(m, "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}"), -32600, "1");
  expect_error(rpc(m, "{\"id\":2,\"method\":\"ping\"}"), -32600, "2");
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":7}"), -32600, "3");
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":4}"), -32600, "4");
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}"), -32600, NULL);
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}"), -32600, NULL);
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}"), -32600, NULL);
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":1e300,\"method\":\"ping\"}"), -32600, NULL);
  /* 2^53 + 1 reads as 2^53: from 2^53 on, an id could be echoed as another. */
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":9007199254740993,\"method\":\"ping\"}"), -32600, NULL);
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":9007199254740992,\"method\":\"ping\"}"), -32600, NULL);
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"params\":[1]}"), -32602, "5");
  cis_mcp_free(m);
}

static void ids_are_echoed_exactly(void **state) {
  (void)state;
  cis_mcp *m = initialized(INIT("2025-11-25"));
  const char *ids[] = {"0", "-17", "9007199254740991", "-9007199254740991", "\"\"", "\"a\\\"b\\u00e9\"", "\"42\""};
  const char *want[] = {"0", "-17", "9007199254740991", "-9007199254740991", "\"\"", "\"a\\\"b\xc3\xa9\"", "\"42\""};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
    char msg[200];
    snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"ping\"}", ids[i]);
    /* Compared as text: a parser's round trip could hide a change. */
    char *out = NULL, needle[100];
    size_t len;
    assert_int_equal(cis_mcp_handle(m, msg, strlen(msg), &out, &len), CIS_OK);
    snprintf(needle, sizeof needle, "\"id\":%s,", want[i]);
    if (!strstr(out, needle)) fail_msg("%s not in %s", needle, out);
    free(out);
  }
  cis_mcp_free(m);
}

static void unknown_method_is_method_not_found(void **state) {
  (void)state;
  cis_mcp *m = initialized(INIT("2025-06-18"));
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\"}"), -32601, "1");
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"\"}"), -32601, "2");
  cis_mcp_free(m);
}

/* --------------------------------------------------------------- tools */

static void tools_list_gives_names_descriptions_and_schemas(void **state) {
  (void)state;
  cis_mcp *m = initialized(INIT("2025-11-25"));
  cJSON *d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{}}"));
  const cJSON *tools = get(d, "result.tools");
  assert_int_equal(cJSON_GetArraySize(tools), 7);
  const char *names[] = {"echo", "fail", "logger", "numbers", "plain", "spin", "trap"};
  for (int i = 0; i < 7; i++) assert_string_equal(str(cJSON_GetArrayItem(tools, i), "name"), names[i]);
  assert_string_equal(str(tools, "0.description"), "Answers with its input");
  char *schema = cJSON_PrintUnformatted(get(tools, "0.inputSchema"));
  assert_string_equal(schema, ECHO_SCHEMA);
  free(schema);
  schema = cJSON_PrintUnformatted(get(tools, "4.inputSchema"));
  assert_string_equal(schema, "{\"type\":\"object\"}");
  free(schema);
  assert_string_equal(str(tools, "4.description"), "");
  assert_null(get(d, "result.resultType")); /* a 2026-07-28 member only */
  assert_null(get(d, "result.nextCursor"));
  cJSON_Delete(d);
  cis_mcp_free(m);
}

static void tools_call_runs_the_skill_with_its_arguments(void **state) {
  (void)state;
  cis_mcp *m = initialized(INIT("2025-06-18"));
  cJSON *d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
                                  "\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"hi \\n there\"}}}"));
  assert_string_equal(str(d, "result.content.0.type"), "text");
  assert_string_equal(str(d, "result.content.0.text"), "{\"text\":\"hi \\n there\"}");
  assert_string_equal(str(d, "result.structuredContent.text"), "hi \n there");
  assert_true(cJSON_IsFalse(get(d, "result.isError")));
  cJSON_Delete(d);
  /* 2025-06-18's structuredContent is an object: an array output is text only. */
  d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"numbers\"}}"));
  assert_string_equal(str(d, "result.content.0.text"), "[1,2]");
  assert_null(get(d, "result.structuredContent"));
  assert_true(cJSON_IsFalse(get(d, "result.isError")));
  cJSON_Delete(d);
  /* No arguments: the input is {}. */
  d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"plain\"}}"));
  assert_string_equal(str(d, "result.content.0.text"), "{}");
  cJSON_Delete(d);
  cis_mcp_free(m);
}

static void tools_call_skill_failure_is_tool_error_and_serving_goes_on(void **state) {
  (void)state;
  cis_mcp *m = initialized(INIT("2025-11-25"));
  const char *tools[] = {"trap", "spin", "fail"};
  const char *names[] = {"CIS_TRAP_", "CIS_ETIMEOUT:", "CIS_ESKILL:"};
  for (int i = 0; i < 3; i++) {
    char msg[200];
    snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\",\"arguments\":{}}}",
             i, tools[i]);
    cJSON *d = expect_result(rpc(m, msg));
    assert_true(cJSON_IsTrue(get(d, "result.isError")));
    const char *text = str(d, "result.content.0.text");
    if (strncmp(text, names[i], strlen(names[i])))
      fail_msg("%s: %s", tools[i], text);
    assert_null(get(d, "result.structuredContent"));
    cJSON_Delete(d);
  }
  cJSON *d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"ok\"}}}"));
  assert_true(cJSON_IsFalse(get(d, "result.isError")));
  cJSON_Delete(d);
  cis_mcp_free(m);
}

static void tools_call_unknown_tool_or_bad_params_is_invalid_params(void **state) {
  (void)state;
  cis_mcp *m = initialized(INIT("2025-11-25"));
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"nope\",\"arguments\":{}}}"),
               -32602, "1");
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"../echo\"}}"), -32602, "2");
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{}}"), -32602, "3");
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\"}"), -32602, "4");
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":[1]}}"),
               -32602, "5");
  cis_mcp_free(m);
}

/* ----------------------------------------------- 2026-07-28 (stateless) */

static void modern_requests_need_no_initialize(void **state) {
  (void)state;
  cis_mcp *m = new_session();
  cJSON *d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"server/discover\",\"params\":{" MODERN_META "}}"));
  const cJSON *sv = get(d, "result.supportedVersions");
  assert_int_equal(cJSON_GetArraySize(sv), 5);
  assert_string_equal(str(sv, "0"), "2026-07-28");
  assert_string_equal(str(sv, "4"), "2024-11-05");
  assert_string_equal(str(d, "result.resultType"), "complete");
  assert_string_equal(str(d, "result.cacheScope"), "private");
  assert_true(cJSON_IsNumber(get(d, "result.ttlMs")));
  assert_true(cJSON_IsObject(get(d, "result.capabilities.tools")));
  const cJSON *info = cJSON_GetObjectItemCaseSensitive(get(d, "result._meta"), "io.modelcontextprotocol/serverInfo");
  assert_string_equal(str(info, "name"), "cis");
  cJSON_Delete(d);

  d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":{" MODERN_META "}}"));
  assert_int_equal(cJSON_GetArraySize(get(d, "result.tools")), 7);
  assert_string_equal(str(d, "result.resultType"), "complete");
  assert_string_equal(str(d, "result.cacheScope"), "private");
  cJSON_Delete(d);
  d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{" MODERN_META
                           ",\"name\":\"echo\",\"arguments\":{\"text\":\"x\"}}}"));
  assert_string_equal(str(d, "result.resultType"), "complete");
  assert_string_equal(str(d, "result.structuredContent.text"), "x");
  cJSON_Delete(d);
  /* structuredContent may be any JSON value in 2026-07-28. */
  d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{" MODERN_META
                           ",\"name\":\"numbers\"}}"));
  assert_true(cJSON_IsArray(get(d, "result.structuredContent")));
  assert_string_equal(str(d, "result.content.0.text"), "[1,2]");
  cJSON_Delete(d);
  assert_null(cis_mcp_negotiated_version(m)); /* no session was made */
  /* ping left the protocol in 2026-07-28. */
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\",\"params\":{" MODERN_META "}}"), -32601, "4");
  cis_mcp_free(m);
}

static void modern_unknown_version_is_unsupported_protocol_version(void **state) {
  (void)state;
  cis_mcp *m = new_session();
  cJSON *d = rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":\"d\",\"method\":\"server/discover\",\"params\":{\"_meta\":{"
                    "\"io.modelcontextprotocol/protocolVersion\":\"1900-01-01\",\"io.modelcontextprotocol/clientCapabilities\":{}}}}");
  assert_int_equal(get(d, "error.code")->valueint, -32022);
  assert_string_equal(str(d, "error.data.requested"), "1900-01-01");
  assert_int_equal(cJSON_GetArraySize(get(d, "error.data.supported")), 5);
  expect_error(d, -32022, "\"d\"");
  /* Without the client's capabilities, or with a version of the wrong type. */
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":{\"_meta\":{"
                      "\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}"),
               -32602, "2");
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\",\"params\":{\"_meta\":{"
                      "\"io.modelcontextprotocol/protocolVersion\":7}}}"),
               -32602, "3");
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\",\"params\":{\"_meta\":3}}"), -32602, "4");
  /* server/discover is a modern request: without the version, invalid. */
  expect_error(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"server/discover\",\"params\":{}}"), -32602, "5");
  cis_mcp_free(m);
}

/* ------------------------------------------------------------- stdio */

/* Serves input through cis_mcp_serve_fd with a line cap, from a file to a
 * file; returns the output (malloc'd). */
static char *serve_text(const char *input, size_t len, size_t cap, cis_result *rc) {
  FILE *in = tmpfile(), *out = tmpfile();
  assert_non_null(in);
  assert_non_null(out);
  assert_int_equal(fwrite(input, 1, len, in), len);
  fflush(in);
  rewind(in);
  cis_mcp_config c = {.skills = skills, .max_message = cap};
  cis_mcp *m = NULL;
  assert_int_equal(cis_mcp_new(&c, &m), CIS_OK);
  *rc = cis_mcp_serve_fd(m, fileno(in), fileno(out));
  cis_mcp_free(m);
  long n = ftell(out);
  char *text = calloc(1, (size_t)n + 1);
  rewind(out);
  assert_int_equal(fread(text, 1, (size_t)n, out), (size_t)n);
  fclose(in);
  fclose(out);
  return text;
}

static void serve_fd_answers_line_by_line_and_skips_blank_lines(void **state) {
  (void)state;
  const char in[] = INIT("2025-11-25") "\r\n\n   \n"
                    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
                    "{bad\n"
                    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}"; /* no newline at the end */
  cis_result rc;
  char *out = serve_text(in, sizeof in - 1, 0, &rc);
  assert_int_equal(rc, CIS_OK);
  char *l1 = out, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
  assert_string_equal(strchr(l3, '\n'), "\n");
  cJSON *d = cJSON_ParseWithLength(l1, (size_t)(l2 - l1));
  assert_string_equal(str(d, "result.protocolVersion"), "2025-11-25");
  cJSON_Delete(d);
  expect_error(cJSON_ParseWithLength(l2, (size_t)(l3 - l2)), -32700, NULL);
  cJSON_Delete(expect_result(cJSON_Parse(l3)));
  free(out);
}

static void serve_fd_line_over_cap_is_parse_error_then_serving_goes_on(void **state) {
  (void)state;
  /* A 300000-byte line against a 1000-byte cap, then a ping: one parse
   * error, then the ping's result. */
  size_t big = 300000;
  const char ping[] = "{\"jsonrpc\":\"2.0\",\"id\":\"after\",\"method\":\"ping\"}\n";
  char *in = malloc(big + sizeof ping);
  memset(in, ' ', big);
  in[0] = '{';
  in[big - 1] = '\n';
  memcpy(in + big, ping, sizeof ping);
  cis_result rc;
  char *out = serve_text(in, big + sizeof ping - 1, 1000, &rc);
  assert_int_equal(rc, CIS_OK);
  char *l2 = strchr(out, '\n') + 1;
  cJSON *d = cJSON_ParseWithLength(out, (size_t)(l2 - out));
  assert_non_null(strstr(str(d, "error.message"), "1000 bytes"));
  expect_error(d, -32700, NULL);
  d = expect_result(cJSON_Parse(l2));
  assert_string_equal(str(d, "id"), "after");
  cJSON_Delete(d);
  free(out);
  /* A line of exactly the cap is served. */
  char exact[64];
  int n = snprintf(exact, sizeof exact, "%s", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n");
  out = serve_text(exact, (size_t)n, (size_t)n - 1, &rc);
  cJSON_Delete(expect_result(cJSON_Parse(out)));
  free(out);
  out = serve_text(exact, (size_t)n, (size_t)n - 2, &rc);
  expect_error(cJSON_Parse(out), -32700, NULL);
  free(out);
  free(in);
}

static void serve_fd_write_failure_is_eio(void **state) {
  (void)state;
  int in[2], out[2];
  assert_int_equal(pipe(in), 0);
  assert_int_equal(pipe(out), 0);
  close(out[0]); /* the client is gone */
  const char msg[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n";
  assert_int_equal(write(in[1], msg, sizeof msg - 1), (ssize_t)(sizeof msg - 1));
  close(in[1]);
  cis_mcp *m = new_session();
  assert_int_equal(cis_mcp_serve_fd(m, in[0], out[1]), CIS_EIO);
  /* Reading a descriptor that is not open is EIO too. */
  assert_int_equal(cis_mcp_serve_fd(m, -1, out[1]), CIS_EIO);
  cis_mcp_free(m);
  close(in[0]);
  close(out[1]);
}

static void mcp_new_without_skills_is_einval(void **state) {
  (void)state;
  cis_mcp *m = NULL;
  cis_mcp_config c = {0};
  assert_int_equal(cis_mcp_new(&c, &m), CIS_EINVAL);
  assert_non_null(m); /* a failed session: why, and nothing else */
  assert_non_null(strstr(cis_errmsg(m), "no skills handle"));
  char *reply = (char *)1;
  size_t n = 1;
  assert_int_equal(cis_mcp_handle(m, "{}", 2, &reply, &n), CIS_ESTATE);
  assert_null(reply);
  assert_int_equal(cis_mcp_serve_fd(m, -1, -1), CIS_ESTATE);
  assert_null(cis_mcp_negotiated_version(m));
  assert_non_null(strstr(cis_errmsg(m), "no skills handle"));
  cis_mcp_free(m);
  assert_int_equal(cis_mcp_new(NULL, &m), CIS_EINVAL);
  assert_non_null(strstr(cis_errmsg(m), "NULL config"));
  cis_mcp_free(m);
  assert_int_equal(cis_mcp_new(&c, NULL), CIS_EINVAL);
}

/* ------------------------------------------------- manifest input_schema */

#define MAN(extra) \
  "{\"name\":\"s\",\"version\":\"1\",\"wasm\":{\"path\":\"m.wasm\",\"sha256\":" \
  "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}" extra "}"

static void manifest_input_schema_is_kept_and_shown(void **state) {
  (void)state;
  const char *text = MAN(",\"input_schema\": {\"type\": \"object\", \"properties\": {\"text\": {\"type\": \"string\"}}, \"required\": [\"text\"]}");
  cis_manifest *m = NULL;
  char err[256];
  assert_int_equal(cis__manifest_parse(text, strlen(text), &m, err, sizeof err), CIS_OK);
  assert_string_equal(m->input_schema, ECHO_SCHEMA);
  char *json = cis__manifest_to_json(m, NULL);
  cJSON *d = cJSON_Parse(json);
  char *schema = cJSON_PrintUnformatted(get(d, "input_schema"));
  assert_string_equal(schema, ECHO_SCHEMA);
  free(schema);
  cJSON_Delete(d);
  free(json);
  cis__manifest_free(m);
  const char *none = MAN("");
  assert_int_equal(cis__manifest_parse(none, strlen(none), &m, err, sizeof err), CIS_OK);
  assert_null(m->input_schema);
  json = cis__manifest_to_json(m, NULL);
  assert_null(strstr(json, "input_schema"));
  free(json);
  cis__manifest_free(m);
}

static void manifest_input_schema_not_object_schema_is_emanifest(void **state) {
  (void)state;
  const char *bad[] = {MAN(",\"input_schema\":[]"), MAN(",\"input_schema\":\"{}\""), MAN(",\"input_schema\":null"),
                       MAN(",\"input_schema\":{}"), MAN(",\"input_schema\":{\"type\":\"string\"}"),
                       MAN(",\"input_schema\":{\"type\":[\"object\"]}")};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cis_manifest *m = NULL;
    char err[256] = "";
    assert_int_equal(cis__manifest_parse(bad[i], strlen(bad[i]), &m, err, sizeof err), CIS_EMANIFEST);
    assert_null(m);
    if (strncmp(err, "input_schema", 12) != 0) fail_msg("message does not name the field: %s", err);
  }
}


/* ------------------------------------------------------------ pages */

/* The names of a tools/list page into names (appended, comma-separated);
 * its nextCursor (malloc'd) or NULL. */
static char *list_page(cis_mcp *m, const char *cursor, bool modern, char *names, size_t cap) {
  char msg[800];
  snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{%s%s%s%s%s}}",
           modern ? MODERN_META : "", modern && cursor ? "," : "", cursor ? "\"cursor\":\"" : "",
           cursor ? cursor : "", cursor ? "\"" : "");
  cJSON *d = expect_result(rpc(m, msg));
  const cJSON *t;
  cJSON_ArrayForEach(t, get(d, "result.tools")) {
    size_t n = strlen(names);
    snprintf(names + n, cap - n, "%s%s", n ? "," : "", str(t, "name"));
  }
  const cJSON *next = get(d, "result.nextCursor");
  char *out = cJSON_IsString(next) ? strdup(next->valuestring) : NULL;
  if (next && !out) fail_msg("nextCursor is not a string");
  cJSON_Delete(d);
  return out;
}

static void tools_list_pages_with_next_cursor_until_the_last_page(void **state) {
  (void)state;
  for (int modern = 0; modern < 2; modern++) {
    cis_mcp_config c = {.skills = skills, .tenant = "t1", .page_size = 3};
    cis_mcp *m = NULL;
    assert_int_equal(cis_mcp_new(&c, &m), CIS_OK);
    if (!modern) {
      cJSON_Delete(expect_result(rpc(m, INIT("2025-11-25"))));
      assert_null(rpc(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"));
    }
    char names[400] = "";
    int pages = 0;
    char *cursor = NULL;
    do {
      char *next = list_page(m, cursor, modern, names, sizeof names);
      free(cursor);
      cursor = next;
      pages++;
    } while (cursor && pages < 10);
    assert_int_equal(pages, 3); /* 3 + 3 + 1 */
    assert_string_equal(names, "echo,fail,logger,numbers,plain,spin,trap");
    cis_mcp_free(m);
  }
  /* The default page holds all seven: no cursor. */
  cis_mcp *m = initialized(INIT("2025-11-25"));
  char names[400] = "";
  assert_null(list_page(m, NULL, false, names, sizeof names));
  cis_mcp_free(m);
}

static void tools_list_invalid_cursor_is_invalid_params(void **state) {
  (void)state;
  cis_mcp *m = initialized(INIT("2025-11-25"));
  const char *bad[] = {"\"x\"", "\"\"", "\"n1.\"", "\"n1.6\"", "\"n1.zz\"", "\"n1.00\"", "\"N1.6563686f\"",
                       "5", "null", "{}", "[\"n1.6563686f\"]"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char msg[200];
    snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"params\":{\"cursor\":%s}}", bad[i]);
    expect_error(rpc(m, msg), -32602, "7");
  }
  /* A huge cursor (1 MiB of hex digits) is refused without decoding it. */
  size_t big = 1u << 20;
  char *msg = malloc(big + 200);
  int n = snprintf(msg, 200, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/list\",\"params\":{\"cursor\":\"n1.");
  memset(msg + n, 'a', big);
  snprintf(msg + n + big, 200, "\"}}");
  expect_error(rpc(m, msg), -32602, "8");
  free(msg);
  /* A cursor past every name is a valid one: an empty last page. */
  cJSON *d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/list\",\"params\":{\"cursor\":\"n1.7a7a\"}}"));
  assert_int_equal(cJSON_GetArraySize(get(d, "result.tools")), 0);
  assert_null(get(d, "result.nextCursor"));
  cJSON_Delete(d);
  cis_mcp_free(m);
}

/* ------------------------------------------------------ input schema */

/* The text of a tool result with isError true (the caller frees d). */
static const char *tool_error_text(cJSON *d) {
  expect_result(d);
  if (!cJSON_IsTrue(get(d, "result.isError"))) fail_msg("not a tool error: %s", cJSON_PrintUnformatted(d));
  return str(d, "result.content.0.text");
}

#define STRICT_SCHEMA                                                                                           \
  "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"mode\",\"point\"],"                     \
  "\"properties\":{\"mode\":{\"enum\":[\"fast\",\"slow\"]},"                                                    \
  "\"point\":{\"type\":\"object\",\"required\":[\"x\"],\"properties\":{\"x\":{\"type\":\"integer\",\"minimum\":0},"  \
  "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":3}}}},"                       \
  "\"note\":{\"type\":[\"string\",\"null\"]}}}"

static void tools_call_arguments_not_matching_input_schema_is_tool_error(void **state) {
  (void)state;
  assert_int_equal(mcp_fixture_add(skills, fixtures, "strict", "echo_input", ",\"input_schema\":" STRICT_SCHEMA), 0);
  cis_mcp *m = initialized(INIT("2025-11-25"));
  static const struct {
    const char *args; /* the arguments member, "" for none */
    const char *why;  /* what the error text holds */
  } bad[] = {
      {"", "/: \"mode\" is required"},
      {",\"arguments\":{\"point\":{\"x\":1}}", "\"mode\" is required"},
      {",\"arguments\":{\"mode\":\"medium\",\"point\":{\"x\":1}}", "/mode: not one of the values allowed"},
      {",\"arguments\":{\"mode\":\"fast\",\"point\":{\"x\":1},\"extra\":1}", "\"extra\" is not allowed"},
      {",\"arguments\":{\"mode\":\"fast\",\"point\":{}}", "/point: \"x\" is required"},
      {",\"arguments\":{\"mode\":\"fast\",\"point\":{\"x\":1.5}}", "/point/x: expected integer, got number"},
      {",\"arguments\":{\"mode\":\"fast\",\"point\":{\"x\":\"1\"}}", "/point/x: expected integer, got string"},
      {",\"arguments\":{\"mode\":\"fast\",\"point\":{\"x\":-1}}", "/point/x: value -1 is below the minimum 0"},
      {",\"arguments\":{\"mode\":\"fast\",\"point\":{\"x\":1,\"tags\":[\"ab\",\"abcd\"]}}", "/point/tags/1: length 4"},
      {",\"arguments\":{\"mode\":\"fast\",\"point\":{\"x\":1,\"tags\":[\"ab\",7]}}", "/point/tags/1: expected string"},
      {",\"arguments\":{\"mode\":\"fast\",\"point\":{\"x\":1},\"note\":5}", "/note: integer is not one of the types"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char msg[400];
    snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"tools/call\",\"params\":{\"name\":\"strict\"%s}}",
             i, bad[i].args);
    cJSON *d = rpc(m, msg);
    const char *text = tool_error_text(d);
    if (strncmp(text, "Invalid arguments: ", 19) || !strstr(text, bad[i].why)) fail_msg("%zu: %s", i, text);
    cJSON_Delete(d);
  }
  /* Matching arguments reach the skill. */
  cJSON *d = expect_result(rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":50,\"method\":\"tools/call\",\"params\":{\"name\":\"strict\","
                                  "\"arguments\":{\"mode\":\"slow\",\"point\":{\"x\":3,\"tags\":[\"a/~\"]},\"note\":null}}}"));
  assert_true(cJSON_IsFalse(get(d, "result.isError")));
  cJSON_Delete(d);
  /* echo's schema wants text as a string. */
  d = rpc(m, "{\"jsonrpc\":\"2.0\",\"id\":51,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":5}}}");
  assert_non_null(strstr(tool_error_text(d), "/text: expected string, got integer"));
  cJSON_Delete(d);
  cis_mcp_free(m);
  assert_int_equal(cis_skills_remove(skills, "strict"), CIS_OK);
}

static void input_schema_nested_past_the_bound_is_refused_not_followed(void **state) {
  (void)state;
  /* 40 levels of properties, and arguments as deep: refused at level 32. */
  enum { LEVELS = 40 };
  char schema[LEVELS * 48 + 64] = "", args[LEVELS * 8 + 16] = "";
  for (int i = 0; i < LEVELS; i++) strcat(schema, "{\"type\":\"object\",\"properties\":{\"a\":");
  strcat(schema, "{}");
  for (int i = 0; i < LEVELS; i++) strcat(schema, "}}");
  for (int i = 0; i < LEVELS; i++) strcat(args, "{\"a\":");
  strcat(args, "1");
  for (int i = 0; i < LEVELS; i++) strcat(args, "}");
  /* arguments: the object with LEVELS levels of "a" in it. */
  char extra[sizeof schema + 32];
  snprintf(extra, sizeof extra, ",\"input_schema\":%s", schema);
  assert_int_equal(mcp_fixture_add(skills, fixtures, "deep", "echo_input", extra), 0);
  cis_mcp *m = initialized(INIT("2025-11-25"));
  char *msg = malloc(sizeof args + 200);
  snprintf(msg, sizeof args + 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"deep\",\"arguments\":%s}}",
           args);
  cJSON *d = rpc(m, msg);
  assert_non_null(strstr(tool_error_text(d), "nests deeper than 32 levels"));
  cJSON_Delete(d);
  free(msg);
  cis_mcp_free(m);
  assert_int_equal(cis_skills_remove(skills, "deep"), CIS_OK);
  /* Straight through the checker: boolean schemas, members of the wrong
   * type (ignored), a path long enough to be cut. */
  char why[300];
  cJSON *v = cJSON_Parse("{\"a\":1}");
  cJSON *sch = cJSON_Parse("false");
  assert_false(cis__mcp_schema_check(sch, v, why, sizeof why));
  assert_string_equal(why, "/: no value is allowed here");
  cJSON_Delete(sch);
  sch = cJSON_Parse("{\"required\":5,\"properties\":[],\"enum\":{},\"type\":7,\"minimum\":\"x\"}");
  assert_true(cis__mcp_schema_check(sch, v, why, sizeof why));
  cJSON_Delete(sch);
  cJSON_Delete(v);
  char longkey[600];
  memset(longkey, 'k', sizeof longkey - 1);
  longkey[sizeof longkey - 1] = 0;
  char *doc = malloc(2000);
  snprintf(doc, 2000, "{\"%s\":{\"%s\":1}}", longkey, longkey);
  v = cJSON_Parse(doc);
  snprintf(doc, 2000, "{\"additionalProperties\":{\"additionalProperties\":{\"type\":\"string\"}}}");
  sch = cJSON_Parse(doc);
  assert_false(cis__mcp_schema_check(sch, v, why, 64));
  assert_true(strlen(why) < 64);
  cJSON_Delete(sch);
  cJSON_Delete(v);
  free(doc);
}

/* ------------------------------------------------------ cancellation */

/* What the on_call hook saw. */
typedef struct seen {
  pthread_mutex_t lock;
  int calls;
  cis_result last;
  char tool[65];
} seen;

static void on_call(void *user, const char *tool, const cis_invoke_result *res) {
  seen *s = user;
  pthread_mutex_lock(&s->lock);
  s->calls++;
  s->last = res->status;
  snprintf(s->tool, sizeof s->tool, "%s", tool);
  pthread_mutex_unlock(&s->lock);
}

/* One message through cis_mcp_handle on a thread of its own. */
typedef struct call_job {
  cis_mcp *m;
  const char *msg;
  char *out;        /* the reply, or NULL */
  volatile int done;
} call_job;

static void *call_thread(void *arg) {
  call_job *j = arg;
  size_t len = 0;
  if (cis_mcp_handle(j->m, j->msg, strlen(j->msg), &j->out, &len) != CIS_OK) j->out = strdup("ENOMEM");
  __atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

#define LONG_SPIN ",\"limits\":{\"timeout_ms\":60000}"
#define CANCEL(id) "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":" id ",\"reason\":\"user\"}}"

static void cancelled_notification_stops_the_call_in_flight_and_it_gets_no_reply(void **state) {
  (void)state;
  assert_int_equal(mcp_fixture_add(skills, fixtures, "longspin", "spin", LONG_SPIN), 0);
  seen sn = {.calls = 0};
  pthread_mutex_init(&sn.lock, NULL);
  cis_mcp_config c = {.skills = skills, .tenant = "t1", .on_call = on_call, .on_call_user = &sn};
  cis_mcp *m = NULL;
  assert_int_equal(cis_mcp_new(&c, &m), CIS_OK);
  cJSON_Delete(expect_result(rpc(m, INIT("2025-11-25"))));
  /* Two calls of the same skill in flight; only "a" is cancelled. */
  call_job a = {.m = m, .msg = "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/call\",\"params\":{\"name\":\"longspin\"}}"};
  call_job b = {.m = m, .msg = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"x\"}}}"};
  pthread_t ta, tb;
  assert_int_equal(pthread_create(&ta, NULL, call_thread, &a), 0);
  /* Ids that name nothing in flight are ignored: 2 is not running yet,
   * "A" and 1 never were; a notification that names no id is too. */
  assert_null(rpc(m, CANCEL("\"A\"")));
  assert_null(rpc(m, CANCEL("1")));
  assert_null(rpc(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{}}"));
  assert_null(rpc(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":[1]}}"));
  assert_null(rpc(m, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"}"));
  /* Until a's guest is running, a cancel may come before its flight
   * exists: send it every 20 ms (for at most 30 s, half the call's own
   * deadline) until the call ends. */
  for (int i = 0; i < 1500 && !__atomic_load_n(&a.done, __ATOMIC_SEQ_CST); i++) {
    assert_null(rpc(m, CANCEL("\"a\"")));
    sleep_ms(20);
  }
  pthread_join(ta, NULL);
  assert_null(a.out); /* no reply for a cancelled request */
  pthread_mutex_lock(&sn.lock);
  assert_int_equal(sn.calls, 1);
  assert_int_equal(sn.last, CIS_ECANCELED);
  assert_string_equal(sn.tool, "longspin");
  pthread_mutex_unlock(&sn.lock);
  /* A finished call's id is ignored, and the session goes on. */
  assert_null(rpc(m, CANCEL("\"a\"")));
  assert_int_equal(pthread_create(&tb, NULL, call_thread, &b), 0);
  pthread_join(tb, NULL);
  cJSON *d = cJSON_Parse(b.out);
  assert_true(cJSON_IsFalse(get(d, "result.isError")));
  cJSON_Delete(d);
  free(b.out);
  assert_int_equal(sn.calls, 2);
  assert_int_equal(sn.last, CIS_OK);
  assert_null(rpc(m, CANCEL("2")));
  cis_mcp_free(m);
  pthread_mutex_destroy(&sn.lock);
  assert_int_equal(cis_skills_remove(skills, "longspin"), CIS_OK);
}

/* The on_instance hook of cis_skills_invoke: told of the instance, then
 * of its end; refusing ends the call before the guest runs. */
typedef struct hook_seen {
  int made, freed;
  bool refuse;
} hook_seen;

static bool hook(void *user, cis_instance *inst) {
  hook_seen *h = user;
  if (inst) h->made++;
  else h->freed++;
  return !h->refuse;
}

static void invoke_on_instance_refusal_ends_the_call_before_the_guest_runs(void **state) {
  (void)state;
  hook_seen h = {.refuse = true};
  cis_invoke_options opt = {.on_instance = hook, .on_instance_user = &h};
  cis_invoke_result res;
  assert_int_equal(cis_skills_invoke(skills, "logger", "{}", 2, &opt, &res), CIS_ECANCELED);
  assert_int_equal(h.made, 1);
  assert_int_equal(h.freed, 1);
  assert_true(!res.logs || !strstr(res.logs, "hello")); /* the guest never ran */
  assert_int_equal(res.stats.log_lines, 0);
  cis_invoke_result_free(&res);
  h = (hook_seen){.refuse = false};
  assert_int_equal(cis_skills_invoke(skills, "logger", "{}", 2, &opt, &res), CIS_OK);
  assert_int_equal(h.made, 1);
  assert_int_equal(h.freed, 1);
  assert_true(res.stats.log_lines > 0);
  cis_invoke_result_free(&res);
}

static int count_of(const char *text, const char *word) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, word)); p++) n++;
  return n;
}

/* Reads from fd until want is in the text so far `times` times, the end
 * of output, or 30 s; the text (malloc'd). */
static char *read_until_n(int fd, char *have, const char *want, int times) {
  size_t len = have ? strlen(have) : 0;
  char *buf = have ? have : calloc(1, 1);
  for (int i = 0; i < 300 && count_of(buf, want) < times; i++) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0) continue;
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    buf = realloc(buf, len + (size_t)n + 1);
    memcpy(buf + len, chunk, (size_t)n);
    len += (size_t)n;
    buf[len] = 0;
  }
  return buf;
}

static char *read_until(int fd, char *have, const char *want) { return read_until_n(fd, have, want, 1); }

typedef struct serve_job {
  cis_mcp *m;
  int in, out;
  cis_result rc;
} serve_job;

static void *serve_thread(void *arg) {
  serve_job *j = arg;
  j->rc = cis_mcp_serve_fd(j->m, j->in, j->out);
  close(j->out);
  return NULL;
}

static void serve_fd_reads_on_while_a_call_runs_and_cancel_reaches_it(void **state) {
  (void)state;
  assert_int_equal(mcp_fixture_add(skills, fixtures, "longspin", "spin", LONG_SPIN), 0);
  int in[2], out[2];
  assert_int_equal(pipe(in), 0);
  assert_int_equal(pipe(out), 0);
  seen sn = {.calls = 0};
  pthread_mutex_init(&sn.lock, NULL);
  cis_mcp_config c = {.skills = skills, .tenant = "t1", .on_call = on_call, .on_call_user = &sn};
  serve_job j = {.in = in[0], .out = out[1]};
  assert_int_equal(cis_mcp_new(&c, &j.m), CIS_OK);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, serve_thread, &j), 0);
  const char msgs[] = INIT("2025-11-25") "\n"
                      "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":\"longspin\"}}\n"
                      "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}\n";
  assert_int_equal(write(in[1], msgs, sizeof msgs - 1), (ssize_t)(sizeof msgs - 1));
  /* The ping behind the call is answered while the call runs. */
  char *text = read_until(out[0], NULL, "\"id\":6");
  assert_non_null(strstr(text, "\"id\":6,\"result\""));
  assert_null(strstr(text, "\"id\":5"));
  /* Cancelled, again every 20 ms in case its flight is not up yet, until
   * the call has ended (at most 30 s; its own deadline is 60 s). */
  const char cancel[] = CANCEL("5") "\n";
  int ended = 0;
  for (int i = 0; i < 1500 && !ended; i++) {
    assert_int_equal(write(in[1], cancel, sizeof cancel - 1), (ssize_t)(sizeof cancel - 1));
    sleep_ms(20);
    pthread_mutex_lock(&sn.lock);
    ended = sn.calls;
    pthread_mutex_unlock(&sn.lock);
  }
  assert_int_equal(ended, 1);
  assert_int_equal(sn.last, CIS_ECANCELED);
  close(in[1]); /* end of input: serve_fd ends, closing its output */
  text = read_until(out[0], text, "\x01never");
  pthread_join(t, NULL);
  assert_int_equal(j.rc, CIS_OK);
  assert_null(strstr(text, "\"id\":5")); /* never answered */
  pthread_mutex_destroy(&sn.lock);
  free(text);
  cis_mcp_free(j.m);
  close(in[0]);
  close(out[0]);
  assert_int_equal(cis_skills_remove(skills, "longspin"), CIS_OK);
}

static void serve_fd_sends_list_changed_after_initialized_when_skills_change(void **state) {
  (void)state;
  /* Without a transport that can send unasked, initialize says false. */
  cis_mcp *plain = new_session();
  cJSON *d = expect_result(rpc(plain, INIT("2025-11-25")));
  assert_true(cJSON_IsFalse(get(d, "result.capabilities.tools.listChanged")));
  cJSON_Delete(d);
  cis_mcp_free(plain);

  int in[2], out[2];
  assert_int_equal(pipe(in), 0);
  assert_int_equal(pipe(out), 0);
  cis_mcp_config c = {.skills = skills, .tenant = "t1", .watch_ms = 20};
  serve_job j = {.in = in[0], .out = out[1]};
  assert_int_equal(cis_mcp_new(&c, &j.m), CIS_OK);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, serve_thread, &j), 0);
  const char hello[] = INIT("2025-11-25") "\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
                       "{\"jsonrpc\":\"2.0\",\"id\":\"sync\",\"method\":\"ping\"}\n";
  assert_int_equal(write(in[1], hello, sizeof hello - 1), (ssize_t)(sizeof hello - 1));
  char *text = read_until(out[0], NULL, "\"id\":\"sync\"");
  assert_non_null(strstr(text, "\"listChanged\":true"));
  assert_int_equal(count_of(text, "list_changed"), 0); /* nothing changed yet */
  /* Installed: one notification; removed: another. */
  assert_int_equal(mcp_fixture_add(skills, fixtures, "fresh", "echo_input", ""), 0);
  text = read_until(out[0], text, "notifications/tools/list_changed");
  assert_int_equal(count_of(text, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n"), 1);
  assert_int_equal(cis_skills_remove(skills, "fresh"), CIS_OK);
  text = read_until_n(out[0], text, "list_changed", 2);
  assert_int_equal(count_of(text, "list_changed"), 2);
  close(in[1]);
  text = read_until(out[0], text, "\x01never"); /* to the end of output */
  pthread_join(t, NULL);
  assert_int_equal(j.rc, CIS_OK);
  free(text);
  cis_mcp_free(j.m);
  close(in[0]);
  close(out[0]);
}

static int setup(void **state) {
  (void)state;
  skills = mcp_fixture_open(fixtures, home, sizeof home);
  return skills ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  cis_skills_close(skills);
  mcp_fixture_remove(home);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_mcp_core FIXTURE_DIR\n");
    return 2;
  }
  fixtures = argv[1];
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(initialize_answers_each_supported_version_with_itself),
      cmocka_unit_test(initialize_answers_other_versions_with_newest_handshake_version),
      cmocka_unit_test(shapes_follow_the_session_version),
      cmocka_unit_test(annotations_follow_the_grants),
      cmocka_unit_test(batches_only_in_2025_03_26),
      cmocka_unit_test(tools_list_leaves_out_a_skill_it_cannot_offer),
      cmocka_unit_test(initialize_without_version_is_invalid_params),
      cmocka_unit_test(initialize_twice_is_invalid_request),
      cmocka_unit_test(notifications_get_no_reply),
      cmocka_unit_test(ping_is_answered_before_and_after_initialize),
      cmocka_unit_test(request_before_initialize_is_invalid_request),
      cmocka_unit_test(malformed_json_is_parse_error),
      cmocka_unit_test(escaped_nul_is_parse_error),
      cmocka_unit_test(non_jsonrpc_messages_are_invalid_request),
      cmocka_unit_test(ids_are_echoed_exactly),
      cmocka_unit_test(unknown_method_is_method_not_found),
      cmocka_unit_test(tools_list_gives_names_descriptions_and_schemas),
      cmocka_unit_test(tools_call_runs_the_skill_with_its_arguments),
      cmocka_unit_test(tools_call_skill_failure_is_tool_error_and_serving_goes_on),
      cmocka_unit_test(tools_call_unknown_tool_or_bad_params_is_invalid_params),
      cmocka_unit_test(modern_requests_need_no_initialize),
      cmocka_unit_test(modern_unknown_version_is_unsupported_protocol_version),
      cmocka_unit_test(serve_fd_answers_line_by_line_and_skips_blank_lines),
      cmocka_unit_test(serve_fd_line_over_cap_is_parse_error_then_serving_goes_on),
      cmocka_unit_test(serve_fd_write_failure_is_eio),
      cmocka_unit_test(mcp_new_without_skills_is_einval),
      cmocka_unit_test(manifest_input_schema_is_kept_and_shown),
      cmocka_unit_test(manifest_input_schema_not_object_schema_is_emanifest),
      cmocka_unit_test(tools_list_pages_with_next_cursor_until_the_last_page),
      cmocka_unit_test(tools_list_invalid_cursor_is_invalid_params),
      cmocka_unit_test(tools_call_arguments_not_matching_input_schema_is_tool_error),
      cmocka_unit_test(input_schema_nested_past_the_bound_is_refused_not_followed),
      cmocka_unit_test(cancelled_notification_stops_the_call_in_flight_and_it_gets_no_reply),
      cmocka_unit_test(invoke_on_instance_refusal_ends_the_call_before_the_guest_runs),
      cmocka_unit_test(serve_fd_reads_on_while_a_call_runs_and_cancel_reaches_it),
      cmocka_unit_test(serve_fd_sends_list_changed_after_initialized_when_skills_change),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
