/*
 * This file implements the tests of /mcp's SSE answers: a POST from a
 * client that accepts only text/event-stream gets its JSON-RPC response as
 * one SSE event (then the stream ends), one that accepts JSON too gets
 * JSON, refusals of the transport stay JSON, and GET /mcp (a stream of the
 * server's own messages) is 405, as the specification allows. Also what
 * runs beside a session's call: a notifications/cancelled POSTed while a
 * tools/call runs stops it (its POST ends as an empty stream: no
 * response is sent for a cancelled request), and MCP calls in the
 * tenant's recent calls (GET /v1/calls).
 *
 * argv[1]: the folder holding the built fixtures.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "serve/http_client.h"
#include "serve/op_server.h"
#include "serve/serve_fixture.h"

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

/* POSTs body to /mcp with token, Accept accept and, when sid is not
 * NULL, that session (version 2025-11-25). */
static void post_as(op_server *v, const char *token, const char *accept, const char *sid, const char *body,
                    http_resp *r) {
  char auth[200], acc[200], sh[160];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  snprintf(acc, sizeof acc, "Accept: %s", accept);
  snprintf(sh, sizeof sh, "Mcp-Session-Id: %s", sid ? sid : "");
  const char *h[] = {auth, acc, "Content-Type: application/json", sid ? sh : NULL,
                     sid ? "MCP-Protocol-Version: 2025-11-25" : NULL, NULL};
  assert_int_equal(http_request(v->port, "POST", "/mcp", h, body, strlen(body), 0, r), 0);
}

/* The same as alice. */
static void post(op_server *v, const char *accept, const char *sid, const char *body, http_resp *r) {
  post_as(v, v->alice, accept, sid, body, r);
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

/* A session of token's tenant, initialized; its id into sid (80 bytes). */
static void session_as(op_server *v, const char *token, char *sid) {
  http_resp r;
  post_as(v, token, "application/json, text/event-stream", NULL, init, &r);
  assert_int_equal(r.status, 200);
  assert_non_null(http_header(&r, "Mcp-Session-Id", sid, 80));
  http_resp_free(&r);
  post_as(v, token, "application/json, text/event-stream", sid,
          "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &r);
  assert_int_equal(r.status, 202);
  http_resp_free(&r);
}

/* A session of alice's. */
static void session(op_server *v, char *sid) { session_as(v, v->alice, sid); }

/* The status of a ping in session sid as token's tenant. */
static int ping_as(op_server *v, const char *token, const char *sid) {
  http_resp r;
  post_as(v, token, "application/json, text/event-stream", sid, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}", &r);
  int st = r.status;
  http_resp_free(&r);
  return st;
}

static void two_sessions(cis_server_config *c) { c->mcp_sessions = 2; }

/* Sessions are kept per tenant; the server's cap drops the least recently
 * used idle one of any tenant, and a session is only ever its tenant's. */
static void sessions_past_the_cap_drop_the_oldest_idle_of_any_tenant(void **state) {
  (void)state;
  op_server *v = op_server_start_tuned(g_dir, two_sessions);
  assert_non_null(v);
  char a1[80], b1[80], a2[80];
  session_as(v, v->alice, a1);
  session_as(v, v->bob, b1);
  assert_int_equal(ping_as(v, v->alice, a1), 200); /* b1 is now the oldest */
  assert_int_equal(ping_as(v, v->bob, a1), 404);   /* alice's, not bob's */
  assert_int_equal(ping_as(v, v->alice, b1), 404);
  session_as(v, v->alice, a2);
  assert_int_equal(ping_as(v, v->bob, b1), 404);   /* dropped */
  assert_int_equal(ping_as(v, v->alice, a1), 200);
  assert_int_equal(ping_as(v, v->alice, a2), 200);
  http_resp r;
  assert_int_equal(http_get(v->port, "/metrics", NULL, &r), 0);
  assert_non_null(strstr(r.body, "\ncis_mcp_sessions 2\n"));
  http_resp_free(&r);
  op_server_stop(v);
}

/* GET /v1/calls with token, parsed (the caller deletes it). */
static cJSON *calls_of(op_server *v, const char *token) {
  http_resp r;
  assert_int_equal(http_get(v->port, "/v1/calls", token, &r), 0);
  assert_int_equal(r.status, 200);
  cJSON *o = cJSON_Parse(r.body);
  assert_non_null(o);
  http_resp_free(&r);
  return o;
}

static const char *member(const cJSON *o, const char *name) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(m) ? m->valuestring : "";
}

static void mcp_tools_call_appears_in_recent_calls_of_its_tenant(void **state) {
  op_server *v = *state;
  char sid[80];
  session(v, sid);
  http_resp r;
  post(v, "application/json, text/event-stream", sid,
       "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"trap\",\"arguments\":{}}}", &r);
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
  post(v, "application/json, text/event-stream", sid,
       "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"a\":1}}}", &r);
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
  assert_int_equal(op_invoke(v, "echo", "{\"b\":2}"), 200);
  cJSON *o = calls_of(v, v->alice);
  const cJSON *calls = cJSON_GetObjectItemCaseSensitive(o, "calls");
  assert_int_equal(cJSON_GetArraySize(calls), 3);
  const cJSON *http = cJSON_GetArrayItem(calls, 0), *echo = cJSON_GetArrayItem(calls, 1),
              *trap = cJSON_GetArrayItem(calls, 2);
  assert_string_equal(member(http, "via"), "http");
  assert_string_equal(member(echo, "name"), "echo");
  assert_string_equal(member(echo, "via"), "mcp");
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(echo, "status")->valueint, 200);
  assert_null(cJSON_GetObjectItemCaseSensitive(echo, "error"));
  assert_string_equal(member(trap, "name"), "trap");
  assert_string_equal(member(trap, "via"), "mcp");
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(trap, "status")->valueint, 422);
  assert_true(!strncmp(member(cJSON_GetObjectItemCaseSensitive(trap, "error"), "type"), "CIS_TRAP_", 9));
  cJSON_Delete(o);
  /* Another tenant sees none of them. */
  o = calls_of(v, v->bob);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "calls")), 0);
  cJSON_Delete(o);
  /* The metrics count the MCP calls as the HTTP invoke: three calls, one
   * trap, three in the latency histogram. */
  assert_int_equal(http_get(v->port, "/metrics", NULL, &r), 0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "cis_calls_total 3\n"));
  assert_non_null(strstr(r.body, "cis_call_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
  assert_non_null(strstr(r.body, "cis_call_errors_total{type=\"CIS_TRAP_"));
  http_resp_free(&r);
}

/* One POST to /mcp on a thread of its own. */
typedef struct post_job {
  op_server *v;
  const char *sid, *body;
  http_resp r;
  int done;
} post_job;

static void *post_thread(void *arg) {
  post_job *j = arg;
  char auth[200], sh[160];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", j->v->alice);
  snprintf(sh, sizeof sh, "Mcp-Session-Id: %s", j->sid);
  const char *h[] = {auth, "Accept: application/json, text/event-stream", "Content-Type: application/json", sh,
                     "MCP-Protocol-Version: 2025-11-25", NULL};
  if (http_request(j->v->port, "POST", "/mcp", h, j->body, strlen(j->body), 0, &j->r) != 0) j->r.status = -1;
  __atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

/* Installs alice's "longspin" (a 60 s spin) and opens a session (sid)
 * that lists it: the server's handle sees a skill registered by another
 * one within its poll, so the tool is waited for (at most 10 s). */
static void longspin_session(op_server *v, char sid[80]) {
  cis_skills *a = serve_open(v->home, "alice");
  assert_non_null(a);
  assert_int_equal(serve_register(a, g_dir, "longspin", "spin", "cis_v1", ",\"limits\":{\"timeout_ms\":60000}"), CIS_OK);
  cis_skills_close(a);
  session(v, sid);
  bool listed = false;
  for (int i = 0; i < 500 && !listed; i++) {
    http_resp r;
    post(v, "application/json", sid, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/list\"}", &r);
    listed = r.status == 200 && r.body && strstr(r.body, "\"longspin\"");
    http_resp_free(&r);
    if (!listed) {
      struct timespec ts = {0, 20 * 1000000L};
      nanosleep(&ts, NULL);
    }
  }
  assert_true(listed);
}

/* Sends notifications/cancelled for id every 20 ms until j's POST is
 * answered (at most 30 s): each is accepted (202). */
static void cancel_until_done(op_server *v, const char *sid, const char *id, post_job *j) {
  char body[160];
  snprintf(body, sizeof body,
           "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":\"%s\"}}", id);
  int sent = 0;
  for (; sent < 1500 && !__atomic_load_n(&j->done, __ATOMIC_SEQ_CST); sent++) {
    http_resp r;
    post(v, "application/json, text/event-stream", sid, body, &r);
    assert_int_equal(r.status, 202);
    http_resp_free(&r);
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  assert_true(sent < 1500);
}

static void mcp_cancelled_notification_stops_the_call_and_its_post_ends_without_response(void **state) {
  op_server *v = *state;
  char sid[80];
  longspin_session(v, sid);
  post_job j = {.v = v, .sid = sid,
                .body = "{\"jsonrpc\":\"2.0\",\"id\":\"slow\",\"method\":\"tools/call\",\"params\":{\"name\":\"longspin\"}}"};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, post_thread, &j), 0);
  /* Cancelled every 20 ms (in case the call is not running yet) until its
   * POST is answered: at most 30 s, half the call's own deadline. */
  cancel_until_done(v, sid, "slow", &j);
  pthread_join(t, NULL);
  assert_int_equal(j.r.status, 200);
  char h[128];
  assert_non_null(http_header(&j.r, "Content-Type", h, sizeof h));
  assert_string_equal(h, "text/event-stream");
  assert_int_equal(j.r.body_len, 0); /* the stream ends with no message */
  http_resp_free(&j.r);
  cJSON *o = calls_of(v, v->alice);
  const cJSON *last = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "calls"), 0);
  assert_string_equal(member(last, "name"), "longspin");
  assert_string_equal(member(cJSON_GetObjectItemCaseSensitive(last, "error"), "type"), "CIS_ECANCELED");
  cJSON_Delete(o);
  /* The session goes on. */
  http_resp r;
  post(v, "application/json", sid, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}", &r);
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
}


/* The tenant's calls fill its cap (two, the workers'): a cancel is not a
 * call and still gets through (it was refused 429 behind them). */
static void mcp_cancel_reaches_its_call_while_the_tenant_is_at_its_cap(void **state) {
  op_server *v = *state;
  char sid[80];
  longspin_session(v, sid);
  /* Static, with the session id: a failed assertion leaves this frame
   * while the POST threads still write their answers. */
  static char ssid[80];
  memcpy(ssid, sid, sizeof ssid);
  static post_job j1, j2;
  j1 = (post_job){.v = v, .sid = ssid,
                  .body = "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":\"tools/call\",\"params\":{\"name\":\"longspin\"}}"};
  j2 = (post_job){.v = v, .sid = ssid,
                  .body = "{\"jsonrpc\":\"2.0\",\"id\":\"s2\",\"method\":\"tools/call\",\"params\":{\"name\":\"longspin\"}}"};
  pthread_t t1, t2;
  assert_int_equal(pthread_create(&t1, NULL, post_thread, &j1), 0);
  assert_int_equal(pthread_create(&t2, NULL, post_thread, &j2), 0);
  /* Both running (the pool's busy count; a probing call would race
   * them for the cap), so the tenant is at its cap of 2. */
  int tries = 0;
  for (; tries < 1500; tries++) {
    http_resp r;
    bool busy = http_get(v->port, "/metrics", NULL, &r) == 0 && r.body && strstr(r.body, "\ncis_pool_busy 2\n");
    http_resp_free(&r);
    if (busy) break;
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  assert_true(tries < 1500);
  assert_false(__atomic_load_n(&j1.done, __ATOMIC_SEQ_CST) || __atomic_load_n(&j2.done, __ATOMIC_SEQ_CST));
  cancel_until_done(v, sid, "s1", &j1);
  pthread_join(t1, NULL);
  cancel_until_done(v, sid, "s2", &j2);
  pthread_join(t2, NULL);
  assert_int_equal(j1.r.status, 200);
  assert_int_equal(j1.r.body_len, 0); /* cancelled: the stream ends with no message */
  assert_int_equal(j2.r.status, 200);
  assert_int_equal(j2.r.body_len, 0);
  http_resp_free(&j1.r);
  http_resp_free(&j2.r);
}

int main(int argc, char **argv) {
  g_dir = argc > 1 ? argv[1] : ".";
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(mcp_post_answers_one_sse_event_when_only_event_streams_are_accepted, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(mcp_post_answers_json_when_json_is_accepted_too, setup, teardown),
      cmocka_unit_test(sessions_past_the_cap_drop_the_oldest_idle_of_any_tenant),
      cmocka_unit_test_setup_teardown(mcp_refusals_stay_json_and_get_is_405, setup, teardown),
      cmocka_unit_test_setup_teardown(mcp_tools_call_appears_in_recent_calls_of_its_tenant, setup, teardown),
      cmocka_unit_test_setup_teardown(mcp_cancelled_notification_stops_the_call_and_its_post_ends_without_response,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(mcp_cancel_reaches_its_call_while_the_tenant_is_at_its_cap, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
