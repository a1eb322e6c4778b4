/*
 * This file implements the tests of /mcp's SSE answers: a POST from a
 * client that accepts only text/event-stream gets its JSON-RPC response as
 * one SSE event (then the stream ends), one that accepts JSON too gets
 * JSON, refusals of the transport stay JSON, and GET /mcp (a stream of the
 * server's own messages) is 405, as the specification allows.
 *
 * argv[1]: the folder holding the built fixtures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "serve/http_client.h"
#include "serve/op_server.h"

static const char *g_dir;

static int setup(void **state) {
  op_server *v = op_server_start(g_dir);
  *state = v;
  return v ? 0 : -1;
}

static int teardown(void **state) {
  op_server_stop(*state);
  return 0;
}

static const char init[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                           "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";

/* POSTs body to /mcp as alice with Accept accept and, when sid is not
 * NULL, that session (version 2025-11-25). */
static void post(op_server *v, const char *accept, const char *sid, const char *body, http_resp *r) {
  char auth[200], acc[200], sh[160];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", v->alice);
  snprintf(acc, sizeof acc, "Accept: %s", accept);
  snprintf(sh, sizeof sh, "Mcp-Session-Id: %s", sid ? sid : "");
  const char *h[] = {auth, acc, "Content-Type: application/json", sid ? sh : NULL,
                     sid ? "MCP-Protocol-Version: 2025-11-25" : NULL, NULL};
  assert_int_equal(http_request(v->port, "POST", "/mcp", h, body, strlen(body), 0, r), 0);
}

/* The JSON of an SSE body that is one "message" event of one data line
 * (the caller deletes it); fails the test when it is not that. */
static cJSON *one_event(const http_resp *r) {
  static const char head[] = "event: message\ndata: ";
  assert_true(r->body_len > sizeof head + 2);
  assert_memory_equal(r->body, head, sizeof head - 1);
  assert_string_equal(r->body + r->body_len - 2, "\n\n");
  const char *data = r->body + sizeof head - 1;
  assert_ptr_equal(strchr(data, '\n'), r->body + r->body_len - 2); /* one line */
  cJSON *o = cJSON_ParseWithLength(data, (size_t)(r->body + r->body_len - 2 - data));
  assert_non_null(o);
  return o;
}

static void mcp_post_answers_one_sse_event_when_only_event_streams_are_accepted(void **state) {
  op_server *v = *state;
  http_resp r;
  post(v, "text/event-stream", NULL, init, &r);
  assert_int_equal(r.status, 200);
  char h[128], sid[128];
  assert_non_null(http_header(&r, "Content-Type", h, sizeof h));
  assert_string_equal(h, "text/event-stream");
  assert_non_null(http_header(&r, "Mcp-Session-Id", sid, sizeof sid));
  cJSON *o = one_event(&r);
  const cJSON *pv = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "result"), "protocolVersion");
  assert_true(cJSON_IsString(pv));
  assert_string_equal(pv->valuestring, "2025-11-25");
  cJSON_Delete(o);
  http_resp_free(&r);
  /* A notification has no response: 202, no body, no stream. */
  post(v, "text/event-stream", sid, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &r);
  assert_int_equal(r.status, 202);
  assert_int_equal(r.body_len, 0);
  http_resp_free(&r);
  post(v, "text/event-stream", sid,
       "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"a\":1}}}",
       &r);
  assert_int_equal(r.status, 200);
  o = one_event(&r);
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "id")->valueint, 2);
  assert_non_null(cJSON_GetObjectItemCaseSensitive(o, "result"));
  cJSON_Delete(o);
  http_resp_free(&r);
}

static void mcp_post_answers_json_when_json_is_accepted_too(void **state) {
  op_server *v = *state;
  static const char *const accepts[] = {"application/json, text/event-stream", "text/event-stream, application/json",
                                        "application/json", "*/*"};
  for (size_t i = 0; i < sizeof accepts / sizeof accepts[0]; i++) {
    http_resp r;
    post(v, accepts[i], NULL, init, &r);
    assert_int_equal(r.status, 200);
    char h[128];
    assert_non_null(http_header(&r, "Content-Type", h, sizeof h));
    assert_string_equal(h, "application/json");
    assert_int_equal(r.body[0], '{');
    http_resp_free(&r);
  }
}

static void mcp_refusals_stay_json_and_get_is_405(void **state) {
  op_server *v = *state;
  http_resp r;
  post(v, "text/event-stream", NULL, "{not json", &r);
  assert_int_equal(r.status, 400);
  char h[128];
  assert_non_null(http_header(&r, "Content-Type", h, sizeof h));
  assert_string_equal(h, "application/json");
  assert_non_null(strstr(r.body, "-32700"));
  http_resp_free(&r);
  post(v, "text/event-stream", "0000000000000000000000000000000000000000000000000000000000000000",
       "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}", &r);
  assert_int_equal(r.status, 404);
  http_resp_free(&r);
  char auth[200];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", v->alice);
  const char *hg[] = {auth, "Accept: text/event-stream", NULL};
  assert_int_equal(http_request(v->port, "GET", "/mcp", hg, NULL, 0, 0, &r), 0);
  assert_int_equal(r.status, 405);
  http_resp_free(&r);
}

int main(int argc, char **argv) {
  g_dir = argc > 1 ? argv[1] : ".";
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(mcp_post_answers_one_sse_event_when_only_event_streams_are_accepted, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(mcp_post_answers_json_when_json_is_accepted_too, setup, teardown),
      cmocka_unit_test_setup_teardown(mcp_refusals_stay_json_and_get_is_405, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
