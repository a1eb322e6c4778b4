/*
 * This file implements the tests of the HTTP server (cis_serve.h) run in
 * process on a loopback port of its own: install → invoke → remove, the
 * auth cases, the limits (413, 400, 429), drain (503), /mcp over HTTP,
 * failing calls beside healthy ones, and hostile input on every route.
 *
 * argv[1]: the folder holding the built fixtures (the .wat files here).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "support/failed_open.h"
#include "support/test_threads.h"
#include "common/internal.h"
#include "cis/cis_serve.h"
#include "cis/cis_skill.h"
#include "serve/http_client.h"
#include "serve/serve_fixture.h"

static const char *g_dir;

typedef struct srv {
  char home[128];
  cis_server *s;
  int port;
  char alice[CIS_TOKEN_MAX], bob[CIS_TOKEN_MAX];
} srv;

/* What a test's server sets beyond the pool (zero: the defaults). */
typedef struct srv_opts {
  uint64_t max_timeout;  /* the cap on a manifest's timeout */
  bool require_sig;      /* signed skills only */
  uint64_t inline_us;    /* the inline budget */
  uint32_t max_skills;   /* skills per tenant */
  uint64_t max_kv_keys;  /* KV keys of all a tenant's skills */
  uint64_t max_fs_files; /* nodes of all a tenant's db trees (reported only here) */
  unsigned registry_rate; /* registry changes a tenant may start a second */
  unsigned http_threads;  /* polling threads */
  unsigned token_rate;    /* lookups a second of tokens not cached */
  unsigned public_rate;   /* answers a second of the routes that need no token */
} srv_opts;

/* Starts a server on a fresh home with the given pool settings and
 * options (NULL: none). */
static srv *srv_start_with(size_t max_body, unsigned workers, unsigned queue, unsigned tenant_cap,
                           const srv_opts *o) {
  static const srv_opts none = {0};
  if (!o) o = &none;
  srv *v = calloc(1, sizeof *v);
  if (!v || serve_home_new(v->home, sizeof v->home)) return NULL;
  cis_tokens *t = NULL;
  if (cis_tokens_open(v->home, &t) != CIS_OK ||
      cis_tokens_create(t, "alice", "a1", v->alice, sizeof v->alice, NULL) != CIS_OK ||
      cis_tokens_create(t, "bob", "b1", v->bob, sizeof v->bob, NULL) != CIS_OK) {
    fprintf(stderr, "tokens: %s\n", cis_tokens_errmsg(t));
    cis_tokens_close(t);
    serve_home_remove(v->home);
    free(v);
    return NULL;
  }
  cis_tokens_close(t);
  cis_server_config c;
  cis_server_config_default(&c);
  const char *listen[] = {"127.0.0.1:0"};
  c.listen = listen;
  c.nlisten = 1;
  c.skills.home = v->home;
  c.max_body = max_body;
  c.workers = workers;
  c.queue = queue;
  c.tenant_concurrency = tenant_cap;
  c.skills.max_limits.timeout_ms = o->max_timeout;
  c.skills.require_signature = o->require_sig;
  c.inline_us = o->inline_us;
  c.skills.max_skills = o->max_skills;
  c.skills.max_kv_keys = o->max_kv_keys;
  c.skills.max_fs_files = o->max_fs_files;
  c.tenant_registry_rate = o->registry_rate;
  c.http_threads = o->http_threads;
  c.token_lookup_rate = o->token_rate;
  c.public_rate = o->public_rate;
  if (cis_server_start(&c, &v->s) != CIS_OK) {
    fprintf(stderr, "server: %s\n", cis_errmsg(v->s));
    cis_server_free(v->s);
    serve_home_remove(v->home);
    free(v);
    return NULL;
  }
  v->port = cis_server_port(v->s, 0);
  return v;
}

static srv *srv_start(size_t max_body, unsigned workers, unsigned queue, unsigned tenant_cap) {
  return srv_start_with(max_body, workers, queue, tenant_cap, NULL);
}

static void srv_stop(srv *v) {
  if (!v) return;
  cis_server_free(v->s);
  serve_home_remove(v->home);
  free(v);
}

static int setup(void **state) {
  srv *v = srv_start(256 * 1024, 2, 4, 0);
  *state = v;
  return v ? 0 : -1;
}

static int teardown(void **state) {
  srv_stop(*state);
  return 0;
}

static void install(srv *v, const char *token, const char *name, const char *fixture, const char *abi,
                    const char *extra) {
  char *b = serve_install_request(g_dir, fixture, name, abi, extra);
  assert_non_null(b);
  http_resp r;
  assert_int_equal(http_send(v->port, "POST", "/v1/skills", token, b, &r), 0);
  if (r.status != 201) fprintf(stderr, "install %s: %d %s\n", name, r.status, r.body);
  assert_int_equal(r.status, 201);
  char want[128];
  snprintf(want, sizeof want, "\"name\":\"%s\"", name);
  assert_non_null(strstr(r.body, want));
  http_resp_free(&r);
  free(b);
}

/* POSTs bundle body to /v1/skills as token; the status must be status and
 * the body name error. */
static void install_refused(srv *v, const char *token, const char *body, int status, const char *error) {
  http_resp r;
  assert_int_equal(http_send(v->port, "POST", "/v1/skills", token, body, &r), 0);
  assert_int_equal(r.status, status);
  assert_non_null(strstr(r.body, error));
  http_resp_free(&r);
}

static int status_of(srv *v, const char *method, const char *path, const char *token, const char *body) {
  http_resp r;
  if (http_send(v->port, method, path, token, body, &r) != 0) return 0;
  int st = r.status;
  http_resp_free(&r);
  return st;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------- API */

static void http_install_invoke_remove_round_trip(void **state) {
  srv *v = *state;
  install(v, v->alice, "echo", "echo", "cis_v1", ",\"description\":\"says it back\"");
  http_resp r;
  assert_int_equal(http_get(v->port, "/v1/skills", v->alice, &r), 0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "\"name\":\"echo\""));
  assert_non_null(strstr(r.body, "says it back"));
  http_resp_free(&r);
  assert_int_equal(http_get(v->port, "/v1/skills/echo", v->alice, &r), 0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "\"abi\""));
  http_resp_free(&r);
  assert_int_equal(http_send(v->port, "POST", "/v1/skills/echo/invoke", v->alice, "{\"hello\":[1,2]}", &r), 0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "\"output\":{\"hello\":[1,2]}"));
  assert_non_null(strstr(r.body, "\"stats\":{\"wall_ms\":"));
  assert_non_null(strstr(r.body, "\"kv_gets\":0"));
  http_resp_free(&r);
  /* An empty body is the input {}. */
  assert_int_equal(http_send(v->port, "POST", "/v1/skills/echo/invoke", v->alice, NULL, &r), 0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "\"output\":{}"));
  http_resp_free(&r);
  assert_int_equal(status_of(v, "DELETE", "/v1/skills/echo", v->alice, NULL), 204);
  assert_int_equal(status_of(v, "POST", "/v1/skills/echo/invoke", v->alice, "{}"), 404);
  assert_int_equal(status_of(v, "DELETE", "/v1/skills/echo", v->alice, NULL), 404);
  assert_int_equal(status_of(v, "GET", "/v1/skills/echo", v->alice, NULL), 404);
}

static void health_and_metrics_need_no_token(void **state) {
  srv *v = *state;
  http_resp r;
  assert_int_equal(http_get(v->port, "/v1/health", NULL, &r), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "{\"status\":\"ok\"}");
  http_resp_free(&r);
  install(v, v->alice, "echo", "echo", "cis_v1", "");
  assert_int_equal(status_of(v, "POST", "/v1/skills/echo/invoke", v->alice, "{}"), 200);
  assert_int_equal(http_get(v->port, "/metrics", NULL, &r), 0);
  assert_int_equal(r.status, 200);
  char ct[128];
  assert_non_null(http_header(&r, "Content-Type", ct, sizeof ct));
  assert_non_null(strstr(ct, "text/plain"));
  assert_non_null(strstr(r.body, "cis_calls_total 1\n"));
  assert_non_null(strstr(r.body, "cis_call_duration_seconds_bucket{le=\"+Inf\"} 1\n"));
  /* Buckets from 100 us, cumulative. */
  static const char *const les[] = {"0.0001", "0.00025", "0.0005", "0.001", "0.005", "30", "+Inf"};
  unsigned long long prev = 0;
  for (size_t i = 0; i < sizeof les / sizeof *les; i++) {
    char name[96];
    snprintf(name, sizeof name, "cis_call_duration_seconds_bucket{le=\"%s\"} ", les[i]);
    const char *at = strstr(r.body, name);
    if (!at) fail_msg("no bucket %s", les[i]);
    unsigned long long n = strtoull(at + strlen(name), NULL, 10);
    assert_true(n >= prev && n <= 1);
    prev = n;
  }
  assert_int_equal(prev, 1);
  assert_non_null(strstr(r.body, "cis_pool_workers 2\n"));
  assert_non_null(strstr(r.body, "cis_queue_capacity 4\n"));
  assert_non_null(strstr(r.body, "cis_queue_length 0\n"));
  /* Aggregates only: no tenant's name. */
  assert_null(strstr(r.body, "alice"));
  http_resp_free(&r);
}

/* ------------------------------------------------------------- auth */

static void missing_or_wrong_token_is_401_with_www_authenticate(void **state) {
  srv *v = *state;
  install(v, v->alice, "echo", "echo", "cis_v1", "");
  const char *bad[] = {NULL, "", "nope", "cis_1_0000000000000000000000000000000000000000000000000000000000000000",
                       "cis_999_" "1111111111111111111111111111111111111111111111111111111111111111"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    http_resp r;
    assert_int_equal(http_send(v->port, "POST", "/v1/skills/echo/invoke", bad[i], "{}", &r), 0);
    assert_int_equal(r.status, 401);
    char h[128];
    assert_non_null(http_header(&r, "WWW-Authenticate", h, sizeof h));
    assert_non_null(strstr(h, "Bearer"));
    /* The same words for every failure, and nothing of the skill. */
    assert_string_equal(r.body, "{\"error\":{\"type\":\"CIS_EDENIED\",\"message\":\"a valid bearer token is needed\"}}");
    http_resp_free(&r);
  }
  /* Alice's token with one digit changed. */
  char forged[CIS_TOKEN_MAX];
  snprintf(forged, sizeof forged, "%s", v->alice);
  size_t n = strlen(forged);
  forged[n - 1] = forged[n - 1] == '0' ? '1' : '0';
  assert_int_equal(status_of(v, "GET", "/v1/skills", forged, NULL), 401);
  /* Not "Bearer". */
  char basic[256];
  snprintf(basic, sizeof basic, "Authorization: Basic %s", v->alice);
  const char *h[] = {basic, NULL};
  http_resp r;
  assert_int_equal(http_request(v->port, "GET", "/v1/skills", h, NULL, 0, 0, &r), 0);
  assert_int_equal(r.status, 401);
  http_resp_free(&r);
}

static void revoked_token_is_401(void **state) {
  srv *v = *state;
  cis_tokens *t;
  assert_int_equal(cis_tokens_open(v->home, &t), CIS_OK);
  char tok[CIS_TOKEN_MAX];
  assert_int_equal(cis_tokens_create(t, "alice", "short-lived", tok, sizeof tok, NULL), CIS_OK);
  assert_int_equal(status_of(v, "GET", "/v1/skills", tok, NULL), 200);
  assert_int_equal(cis_tokens_revoke(t, "short-lived"), CIS_OK);
  assert_int_equal(status_of(v, "GET", "/v1/skills", tok, NULL), 401);
  /* Alice's other token still works. */
  assert_int_equal(status_of(v, "GET", "/v1/skills", v->alice, NULL), 200);
  cis_tokens_close(t);
}

static void other_tenants_skill_is_404_like_a_missing_one(void **state) {
  srv *v = *state;
  install(v, v->alice, "secret-tool", "echo", "cis_v1", "");
  const char *methods[] = {"GET", "DELETE", "POST"};
  const char *paths[][2] = {{"/v1/skills/secret-tool", "/v1/skills/never-was"},
                            {"/v1/skills/secret-tool", "/v1/skills/never-was"},
                            {"/v1/skills/secret-tool/invoke", "/v1/skills/never-was/invoke"}};
  for (int i = 0; i < 3; i++) {
    http_resp there, absent;
    assert_int_equal(http_send(v->port, methods[i], paths[i][0], v->bob, i == 2 ? "{}" : NULL, &there), 0);
    assert_int_equal(http_send(v->port, methods[i], paths[i][1], v->bob, i == 2 ? "{}" : NULL, &absent), 0);
    assert_int_equal(there.status, 404);
    assert_int_equal(absent.status, 404);
    /* The same answer but for the name asked. */
    assert_non_null(strstr(there.body, "no skill secret-tool"));
    assert_non_null(strstr(absent.body, "no skill never-was"));
    assert_int_equal(there.body_len - strlen("secret-tool"), absent.body_len - strlen("never-was"));
    assert_null(strstr(there.body, "alice"));
    http_resp_free(&there);
    http_resp_free(&absent);
  }
  http_resp r;
  assert_int_equal(http_get(v->port, "/v1/skills", v->bob, &r), 0);
  assert_string_equal(r.body, "{\"skills\":[]}");
  http_resp_free(&r);
  /* Bob may have his own secret-tool; Alice's is untouched by it. */
  install(v, v->bob, "secret-tool", "other", "cis_v1", "");
  assert_int_equal(http_send(v->port, "POST", "/v1/skills/secret-tool/invoke", v->bob, "{\"x\":1}", &r), 0);
  assert_non_null(strstr(r.body, "\"output\":{\"who\":\"other\"}"));
  http_resp_free(&r);
  assert_int_equal(http_send(v->port, "POST", "/v1/skills/secret-tool/invoke", v->alice, "{\"x\":1}", &r), 0);
  assert_non_null(strstr(r.body, "\"output\":{\"x\":1}"));
  http_resp_free(&r);
}

/* ------------------------------------------------------------- limits */

static void body_over_the_cap_is_413(void **state) {
  srv *v = *state;
  install(v, v->alice, "echo", "echo", "cis_v1", "");
  size_t n = 300 * 1024; /* the cap is 256 KiB */
  char *big = malloc(n + 1);
  assert_non_null(big);
  memset(big, ' ', n);
  big[0] = '[';
  big[n - 1] = ']';
  big[n] = 0;
  char auth[256];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", v->alice);
  const char *h[] = {auth, NULL};
  http_resp r;
  /* Declared length: refused before the body is read. */
  assert_int_equal(http_request(v->port, "POST", "/v1/skills/echo/invoke", h, big, n, 0, &r), 0);
  assert_int_equal(r.status, 413);
  assert_non_null(strstr(r.body, "CIS_ETOOBIG"));
  http_resp_free(&r);
  /* Chunked: counted as it comes. */
  assert_int_equal(http_request(v->port, "POST", "/v1/skills/echo/invoke", h, big, n, 1, &r), 0);
  assert_int_equal(r.status, 413);
  http_resp_free(&r);
  /* A chunked sender that goes on past twice the cap loses the
   * connection: no thread reads an endless body. */
  size_t huge = 2 * 1024 * 1024;
  char *more = malloc(huge);
  assert_non_null(more);
  memset(more, ' ', huge);
  int got = http_request(v->port, "POST", "/v1/skills/echo/invoke", h, more, huge, 1, &r);
  if (got == 0) fprintf(stderr, "a reply came: %d\n", r.status);
  assert_int_not_equal(got, 0);
  free(more);
  /* Below the cap, the same call works (chunked too); echo's memory
   * holds 64 KiB of input. */
  big[60 * 1024] = ']';
  assert_int_equal(http_request(v->port, "POST", "/v1/skills/echo/invoke", h, big, 60 * 1024 + 1, 1, &r), 0);
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
  free(big);
}

static void malformed_json_is_400_with_a_typed_error(void **state) {
  srv *v = *state;
  install(v, v->alice, "echo", "echo", "cis_v1", "");
  const char *bad[] = {"{bad", "{\"a\":1} trailing", "[1,]", "\"\xff\xfe\"", "{\"a\":\"\\ud800\"}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    http_resp r;
    assert_int_equal(http_send(v->port, "POST", "/v1/skills/echo/invoke", v->alice, bad[i], &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"type\":\"CIS_EJSON\""));
    http_resp_free(&r);
  }
}

static void bundle_hostile_inputs_are_refused(void **state) {
  srv *v = *state;
  struct {
    const char *body;
    int status;
  } cases[] = {
      {"", 400},
      {"not json", 400},
      {"[]", 400},
      {"{\"manifest\":1,\"wasm_base64\":\"AAAA\"}", 400},
      {"{\"manifest\":{},\"wasm_base64\":5}", 400},
      {"{\"manifest\":{},\"wasm_base64\":\"AAAA\",\"extra\":1}", 400},
      {"{\"manifest\":{},\"wasm_base64\":\"AA AA\"}", 400},
      {"{\"manifest\":{},\"wasm_base64\":\"AAA\"}", 400},
      {"{\"manifest\":{},\"wasm_base64\":\"A===\"}", 400},
      {"{\"manifest\":{},\"wasm_base64\":\"AAAA\\u0000\"}", 400},
      {"{\"wasm_base64\":\"AAAA\"}", 400},
      /* Well formed, but the manifest or the module is wrong: 422. */
      {"{\"manifest\":{},\"wasm_base64\":\"AGFzbQEAAAA=\"}", 422},
      {"{\"manifest\":\"{\\\"name\\\":\\\"x\\\"}\",\"wasm_base64\":\"AGFzbQEAAAA=\"}", 422},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    http_resp r;
    assert_int_equal(http_send(v->port, "POST", "/v1/skills", v->alice, cases[i].body, &r), 0);
    if (r.status != cases[i].status) fprintf(stderr, "case %zu: %d %s\n", i, r.status, r.body);
    assert_int_equal(r.status, cases[i].status);
    assert_non_null(strstr(r.body, "\"error\":{\"type\":\"CIS_E"));
    /* No server path in what a tenant is told. */
    assert_null(strstr(r.body, v->home));
    http_resp_free(&r);
  }
  /* A module whose hash is not the manifest's. */
  char *b = serve_install_request(g_dir, "echo", "echo", "cis_v1", "");
  char *sha = strstr(b, "\"sha256\":\"") + 10;
  sha[0] = sha[0] == 'a' ? 'b' : 'a';
  install_refused(v, v->alice, b, 422, "CIS_EHASH");
  free(b);
  /* A component (version 0x0d, layer 1) is explained as `cis run` explains
   * it, where it used to be only "unknown binary version". */
  install_refused(v, v->alice,
                  "{\"manifest\":{\"name\":\"comp\",\"version\":\"1\",\"wasm\":{\"path\":\"c.wasm\",\"sha256\":"
                  "\"24eaf3439a60c96764c4f2c92a0a81b52bd4fe5d5b91f090184a0f6486b1bf29\"}},\"wasm_base64\":\"AGFzbQ0AAQA=\"}",
                  422, "unknown binary version: this is a WebAssembly component");
  /* A host mount needs a grant no tenant has. */
  b = serve_install_request(g_dir, "echo", "reach", "cis_v1", ",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/h\",\"type\":\"host\",\"source\":\"/etc\"}]}}");
  install_refused(v, v->alice, b, 422, "CIS_EDENIED");
  free(b);
}

static void routes_refuse_hostile_paths_and_methods(void **state) {
  srv *v = *state;
  assert_int_equal(status_of(v, "GET", "/v1/skills/..%2f..%2fetc", v->alice, NULL), 404);
  assert_int_equal(status_of(v, "GET", "/v1/skills/UPPER", v->alice, NULL), 404);
  assert_int_equal(status_of(v, "GET", "/v1/skills/a/b/invoke", v->alice, NULL), 404);
  assert_int_equal(status_of(v, "GET", "/v1/skills/echo/invoke", v->alice, NULL), 405);
  assert_int_equal(status_of(v, "PUT", "/v1/skills", v->alice, NULL), 405);
  assert_int_equal(status_of(v, "POST", "/v1/health", NULL, NULL), 405);
  assert_int_equal(status_of(v, "GET", "/v2/anything", NULL, NULL), 404);
  assert_int_equal(status_of(v, "GET", "/mcp", v->alice, NULL), 405);
  char path[600] = "/v1/skills/";
  memset(path + 11, 'a', 500);
  path[511] = 0;
  assert_int_equal(status_of(v, "GET", path, v->alice, NULL), 404);
  http_resp r;
  assert_int_equal(http_send(v->port, "PATCH", "/v1/skills/echo", v->alice, NULL, &r), 0);
  assert_int_equal(r.status, 405);
  char allow[64];
  assert_non_null(http_header(&r, "Allow", allow, sizeof allow));
  assert_string_equal(allow, "GET, DELETE");
  http_resp_free(&r);
  /* A token of absurd length. */
  char *huge = malloc(4000);
  memset(huge, 'x', 3999);
  huge[3999] = 0;
  assert_int_equal(status_of(v, "GET", "/v1/skills", huge, NULL), 401);
  free(huge);
}

/* A call made from a thread. */
typedef struct call {
  srv *v;
  const char *method; /* NULL: POST */
  const char *token, *path, *body;
  int status;
  char out[512];
  pthread_t th;
} call;

static void *call_main(void *arg) {
  call *c = arg;
  http_resp r;
  if (http_send(c->v->port, c->method ? c->method : "POST", c->path, c->token, c->body, &r) == 0) {
    c->status = r.status;
    snprintf(c->out, sizeof c->out, "%s", r.body);
    http_resp_free(&r);
  }
  return NULL;
}

/* A DELETE of c->path, as call_main's POST. */
static void *remove_main(void *arg) {
  call *c = arg;
  http_resp r;
  if (http_send(c->v->port, "DELETE", c->path, c->token, NULL, &r) == 0) {
    c->status = r.status;
    http_resp_free(&r);
  }
  return NULL;
}

static void call_start_as(call *c, srv *v, const char *method, const char *token, const char *path, const char *body) {
  memset(c, 0, sizeof *c);
  c->v = v, c->method = method, c->token = token, c->path = path, c->body = body;
  assert_int_equal(pthread_create(&c->th, NULL, call_main, c), 0);
}

static void call_start(call *c, srv *v, const char *token, const char *path, const char *body) {
  call_start_as(c, v, NULL, token, path, body);
}

/* Waits (at most 60 s) until /metrics shows line. */
static int wait_metric(srv *v, const char *line) {
  for (int i = 0; i < 3000; i++) {
    http_resp r;
    int hit = http_get(v->port, "/metrics", NULL, &r) == 0 && strstr(r.body, line) != NULL;
    http_resp_free(&r);
    if (hit) return 0;
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
  }
  return -1;
}

/* Each tenant has a queue of its own: alice's call past her queue is
 * 429, while bob, arriving with alice's call still waiting, is admitted
 * (his skill is not installed: 404, from a worker). */
static void full_queue_is_429_for_its_tenant_only(void **state) {
  (void)state;
  srv *v = srv_start(64 * 1024, 1, 1, 0); /* one worker, one place in each tenant's queue */
  assert_non_null(v);
  install(v, v->alice, "sleep", "sleep", "wasi", ",\"limits\":{\"timeout_ms\":20000}");
  /* Each call sleeps 1.5 s. The first two, long, have their worker slot
   * handed to a fresh thread (docs/serve.md, "Workers and long calls":
   * at most workers + queue such threads), the third keeps the slot, the
   * fourth waits in alice's queue. */
  call a[4];
  static const char *const busy[] = {"cis_pool_busy 1\n", "cis_pool_busy 2\n", "cis_pool_busy 3\n",
                                     "cis_queue_length 1\n"};
  for (int i = 0; i < 4; i++) {
    call_start(&a[i], v, v->alice, "/v1/skills/sleep/invoke", "{}");
    assert_int_equal(wait_metric(v, busy[i]), 0);
  }
  http_resp r;
  assert_int_equal(http_send(v->port, "POST", "/v1/skills/sleep/invoke", v->alice, "{}", &r), 0);
  assert_int_equal(r.status, 429);
  char ra[16];
  assert_non_null(http_header(&r, "Retry-After", ra, sizeof ra));
  http_resp_free(&r);
  assert_int_equal(http_send(v->port, "POST", "/v1/skills/sleep/invoke", v->bob, "{}", &r), 0);
  assert_int_equal(r.status, 404);
  http_resp_free(&r);
  for (int i = 0; i < 4; i++) {
    pthread_join(a[i].th, NULL);
    assert_int_equal(a[i].status, 200);
    assert_non_null(strstr(a[i].out, "\"output\":{\"slept\":true}"));
  }
  assert_int_equal(wait_metric(v, "cis_rejected_total{reason=\"queue_full\"} 1\n"), 0);
  srv_stop(v);
}

static void tenant_at_its_concurrency_cap_is_429_others_run(void **state) {
  (void)state;
  srv *v = srv_start(64 * 1024, 2, 4, 1); /* one call per tenant */
  assert_non_null(v);
  install(v, v->alice, "sleep", "sleep", "wasi", ",\"limits\":{\"timeout_ms\":20000}");
  install(v, v->bob, "echo", "echo", "cis_v1", "");
  call a;
  call_start(&a, v, v->alice, "/v1/skills/sleep/invoke", "{}");
  assert_int_equal(wait_metric(v, "cis_pool_busy 1\n"), 0);
  assert_int_equal(status_of(v, "POST", "/v1/skills/sleep/invoke", v->alice, "{}"), 429);
  assert_int_equal(status_of(v, "POST", "/v1/skills/echo/invoke", v->bob, "{}"), 200);
  pthread_join(a.th, NULL);
  assert_int_equal(a.status, 200);
  assert_int_equal(wait_metric(v, "cis_rejected_total{reason=\"tenant_concurrency\"} 1\n"), 0);
  srv_stop(v);
}

/* Mode hold-registry PATH: takes the registry's write lock (another
 * process, as the CLI's install would: SQLite's locks do not shut out
 * connections of one process from one another the same way), says
 * "held" on stdout, and keeps it until its stdin ends (bounded: 30 s). */
static int hold_registry(const char *path) {
  sqlite3 *db = NULL;
  if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return 1;
  if (write(1, "held\n", 5) != 5) return 1;
  struct timespec ts = {0, 10 * 1000000};
  char c;
  alarm(30);
  while (read(0, &c, 1) > 0) nanosleep(&ts, NULL);
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close(db);
  return 0;
}

/* A helper process holding the registry's write lock until holder_end. */
typedef struct holder {
  pid_t pid;
  int to; /* its stdin: closed to let go */
} holder;

static void holder_start(holder *h, srv *v) {
  char path[256];
  snprintf(path, sizeof path, "%s/registry.db", v->home);
  int in[2], out[2];
  assert_int_equal(pipe(in), 0);
  assert_int_equal(pipe(out), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, in[1]);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  char *argv[] = {"/proc/self/exe", "hold-registry", path, NULL};
  extern char **environ;
  assert_int_equal(posix_spawn(&h->pid, argv[0], &fa, NULL, argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  h->to = in[1];
  char said[8] = "";
  ssize_t n = read(out[0], said, sizeof said - 1); /* its alarm bounds this */
  close(out[0]);
  assert_true(n == 5 && !strcmp(said, "held\n"));
}

static void holder_end(holder *h) {
  close(h->to);
  int st = 0;
  assert_int_equal(waitpid(h->pid, &st, 0), h->pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static uint64_t metric_u64(srv *v, const char *name);

/* Installs and removals run on the background pool, never on a calls'
 * worker: an install that waits for the registry's write lock (held by
 * another process) is busy there while no call's worker is, and is
 * answered once the lock goes. A removal goes the same way. */
static void install_waits_on_the_background_pool_not_a_calls_worker(void **state) {
  (void)state;
  srv *v = srv_start(64 * 1024, 1, 1, 0);
  assert_non_null(v);
  install(v, v->alice, "echo", "echo", "cis_v1", "");
  assert_int_equal(status_of(v, "POST", "/v1/skills/echo/invoke", v->alice, "{}"), 200); /* loaded */
  holder h;
  holder_start(&h, v);
  char *b = serve_install_request(g_dir, "other", "other", "cis_v1", "");
  assert_non_null(b);
  call ins;
  call_start(&ins, v, v->alice, "/v1/skills", b);
  assert_int_equal(wait_metric(v, "cis_admin_busy 1\n"), 0);
  assert_int_equal(metric_u64(v, "cis_pool_busy"), 0);
  holder_end(&h);
  pthread_join(ins.th, NULL);
  assert_int_equal(ins.status, 201);
  free(b);
  /* A removal behind the same lock. */
  holder_start(&h, v);
  call rm;
  memset(&rm, 0, sizeof rm);
  rm.v = v, rm.token = v->alice, rm.path = "/v1/skills/other";
  assert_int_equal(pthread_create(&rm.th, NULL, remove_main, &rm), 0);
  assert_int_equal(wait_metric(v, "cis_admin_busy 1\n"), 0);
  assert_int_equal(metric_u64(v, "cis_pool_busy"), 0);
  holder_end(&h);
  pthread_join(rm.th, NULL);
  assert_int_equal(rm.status, 204);
  assert_int_equal(metric_u64(v, "cis_admin_workers"), 2);
  srv_stop(v);
}

/* The same once n are (a new thread names itself as it starts), or after
 * 5 s. */
static int threads_named_soon(const char *name, int n) {
  int got = 0;
  for (int i = 0; i < 500 && (got = cis_test_threads_named(name)) != n; i++) usleep(10000);
  return got;
}

/* The polling threads (libmicrohttpd's, one event loop each): as many as
 * cis_server_config.http_threads says, reported in /metrics; by default 4
 * per online CPU, 8 to 64; calls through them are answered, and they end
 * with the server. */
static void polling_threads_follow_the_setting(void **state) {
  (void)state;
  srv_opts o = {.http_threads = 3};
  srv *v = srv_start_with(256 * 1024, 1, 8, 0, &o);
  assert_non_null(v);
  assert_int_equal(metric_u64(v, "cis_http_threads"), 3);
  assert_int_equal(threads_named_soon("MHD-worker", 3), 3);
  install(v, v->alice, "echo", "echo", "cis_v1", "");
  for (int i = 0; i < 6; i++) assert_int_equal(status_of(v, "POST", "/v1/skills/echo/invoke", v->alice, "{}"), 200);
  srv_stop(v);
  assert_int_equal(cis_test_threads_named("MHD-worker"), 0);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  uint64_t want = (uint64_t)(cpus > 0 ? cpus : 1) * 4;
  want = want < 8 ? 8 : want > 64 ? 64 : want;
  srv *d = srv_start(256 * 1024, 1, 8, 0);
  assert_non_null(d);
  assert_int_equal(metric_u64(d, "cis_http_threads"), want);
  assert_int_equal(threads_named_soon("MHD-worker", (int)want), want);
  srv_stop(d);
}

/* A server with the defaults shows gauge name at want. */
static void default_gauge_is(const char *name, uint64_t want) {
  srv *d = srv_start(256 * 1024, 1, 8, 0);
  assert_non_null(d);
  assert_int_equal(metric_u64(d, name), want);
  srv_stop(d);
}

/* A tenant's installs and removals start at --tenant-registry-rate a
 * second after a burst of as many: each waits its turn and succeeds (no
 * 429 while its queue has room), counted in /metrics; another tenant's
 * change is not held behind them. The default is 20 a second. */
static void registry_changes_are_paced_per_tenant(void **state) {
  (void)state;
  default_gauge_is("cis_tenant_registry_rate", CIS_SERVE_DEFAULT_REGISTRY_RATE);
  srv_opts o = {.registry_rate = 2};
  srv *v = srv_start_with(256 * 1024, 1, 8, 0, &o);
  assert_non_null(v);
  assert_int_equal(metric_u64(v, "cis_tenant_registry_rate"), 2);
  uint64_t t0 = cis__now_ns();
  for (int i = 0; i < 3; i++) {
    install(v, v->alice, "echo", "echo", "cis_v1", "");
    assert_int_equal(status_of(v, "DELETE", "/v1/skills/echo", v->alice, NULL), 204);
  }
  /* Six changes at 2 a second after a burst of 2: 2 s at least. */
  assert_true(cis__now_ns() - t0 >= 1900000000ull);
  assert_true(metric_u64(v, "cis_registry_paced_total") >= 3);
  /* Alice's bucket is empty; Bob's install goes on beside hers, which
   * waits for its token (the order is test_serve_pool's). */
  char *b = serve_install_request(g_dir, "echo", "echo", "cis_v1", "");
  assert_non_null(b);
  call mine;
  call_start(&mine, v, v->alice, "/v1/skills", b);
  install(v, v->bob, "echo", "echo", "cis_v1", "");
  pthread_join(mine.th, NULL);
  assert_int_equal(mine.status, 201);
  free(b);
  /* Lists and shows are reads: not paced. */
  for (int i = 0; i < 10; i++) assert_int_equal(status_of(v, "GET", "/v1/skills", v->alice, NULL), 200);
  srv_stop(v);
}

/* Waits (at most 10 s) until metric name is at least min: 0, else -1. */
static int wait_metric_at_least(srv *v, const char *name, uint64_t min) {
  for (int i = 0; i < 1000; i++) {
    uint64_t n = metric_u64(v, name);
    if (n >= min && n != ~0ull) return 0;
    struct timespec ts = {0, 10 * 1000000};
    nanosleep(&ts, NULL);
  }
  return -1;
}

/* FORGED calls, each with a token of the right shape that was never
 * made, or (none) with no token at all. */
#define FORGED 24
static void forged_calls_as(srv *v, call c[FORGED], char tok[FORGED][CIS_TOKEN_MAX], bool none) {
  for (int i = 0; i < FORGED; i++) {
    snprintf(tok[i], CIS_TOKEN_MAX, "cis_%d_%064x", 1000 + i, i);
    call_start(&c[i], v, none ? NULL : tok[i], "/v1/skills/echo/invoke", "{}");
  }
}

static void forged_calls(srv *v, call c[FORGED], char tok[FORGED][CIS_TOKEN_MAX]) {
  forged_calls_as(v, c, tok, false);
}

/* Joins the calls: each 401 or 429 ("retry later"); their counts. */
static void forged_ends(call c[FORGED], int *n401, int *n429) {
  *n401 = *n429 = 0;
  for (int i = 0; i < FORGED; i++) {
    pthread_join(c[i].th, NULL);
    if (c[i].status == 401) (*n401)++;
    else if (c[i].status == 429 && strstr(c[i].out, "retry later")) (*n429)++;
    else fail_msg("forged token %d: %d %s", i, c[i].status, c[i].out);
  }
}

/* Joins FORGED calls sent at once to a server pacing 4 lookups a second:
 * some are answered 401 (the bucket's burst, then turns), and those still
 * waiting after a second 429. How many of each depends on how fast the
 * machine starts the clients: 24 sent within 2 s leave some late. */
static void forged_ends_paced(call c[FORGED], int *n401, int *n429) {
  forged_ends(c, n401, n429);
  if (*n401 < 1 || *n429 < 1) fail_msg("24 paced lookups: %d answered 401, %d 429", *n401, *n429);
}

/* Tokens the server has not cached are looked up at --token-lookup-rate
 * a second after a burst of as many; the requests past it wait their
 * turn, their connections suspended, and one that waited a second is
 * answered 429 (Retry-After). A client sending tokens no one was given
 * gets its 401s at that rate, while a token in use (cached) is answered
 * at once beside them, and a token made meanwhile is served at its turn.
 * With no limit none waits. The default is 1,000 a second. */
static void token_lookups_past_the_rate_wait_their_turn(void **state) {
  (void)state;
  default_gauge_is("cis_token_lookup_rate", CIS_SERVE_DEFAULT_TOKEN_LOOKUP_RATE);
  srv_opts o = {.token_rate = 4};
  srv *v = srv_start_with(256 * 1024, 1, 8, 0, &o);
  assert_non_null(v);
  install(v, v->alice, "echo", "echo", "cis_v1", "");
  assert_int_equal(status_of(v, "POST", "/v1/skills/echo/invoke", v->alice, "{}"), 200); /* cached */
  call c[FORGED];
  char tok[FORGED][CIS_TOKEN_MAX];
  forged_calls(v, c, tok);
  /* Some wait (4 a second, after a burst of 4, for 24): alice's cached
   * token does not wait behind them. */
  assert_int_equal(wait_metric_at_least(v, "cis_token_lookup_queue", 1), 0);
  assert_int_equal(status_of(v, "POST", "/v1/skills/echo/invoke", v->alice, "{}"), 200);
  assert_true(metric_u64(v, "cis_token_lookup_queue") >= 1);
  int n401, n429;
  forged_ends_paced(c, &n401, &n429);
  assert_true(metric_u64(v, "cis_token_lookup_waits_total") >= (uint64_t)n429);
  assert_int_equal(metric_u64(v, "cis_token_lookups_late_total"), n429);
  assert_int_equal(metric_u64(v, "cis_token_lookup_queue"), 0);
  /* A token made now is looked up at its turn and served. */
  cis_tokens *t = NULL;
  char fresh[CIS_TOKEN_MAX];
  assert_int_equal(cis_tokens_open(v->home, &t), CIS_OK);
  assert_int_equal(cis_tokens_create(t, "alice", "a2", fresh, sizeof fresh, NULL), CIS_OK);
  cis_tokens_close(t);
  assert_int_equal(status_of(v, "POST", "/v1/skills/echo/invoke", fresh, "{}"), 200);
  /* Requests with no token wait their turn for their 401 alike. */
  uint64_t waited = metric_u64(v, "cis_token_lookup_waits_total"), late = metric_u64(v, "cis_token_lookups_late_total");
  forged_calls_as(v, c, tok, true);
  forged_ends_paced(c, &n401, &n429);
  assert_true(metric_u64(v, "cis_token_lookup_waits_total") > waited);
  assert_int_equal(metric_u64(v, "cis_token_lookups_late_total"), late + (uint64_t)n429);
  /* Of all that waited, some got their turn before their second was up. */
  assert_true(metric_u64(v, "cis_token_lookup_waits_total") > metric_u64(v, "cis_token_lookups_late_total"));
  srv_stop(v);
  /* No limit: every one looked up at once. */
  srv_opts off = {.token_rate = CIS_SERVE_TOKEN_LOOKUP_RATE_OFF};
  v = srv_start_with(256 * 1024, 1, 8, 0, &off);
  assert_non_null(v);
  assert_int_equal(metric_u64(v, "cis_token_lookup_rate"), 0);
  forged_calls(v, c, tok);
  for (int i = 0; i < FORGED; i++) {
    pthread_join(c[i].th, NULL);
    assert_int_equal(c[i].status, 401);
  }
  assert_int_equal(metric_u64(v, "cis_token_lookup_waits_total"), 0);
  srv_stop(v);
}

/* FORGED requests of path with no token at once; the counts of their
 * answers: ok (status want), late (429, "retry later"); any other fails. */
static void public_burst(srv *v, const char *method, const char *path, int want, int *ok, int *late) {
  static call g[FORGED];
  for (int i = 0; i < FORGED; i++) call_start_as(&g[i], v, method, NULL, path, NULL);
  /* A cached token is answered at once beside them. */
  http_resp r;
  assert_int_equal(http_send(v->port, method, path, v->alice, NULL, &r), 0);
  assert_int_equal(r.status, want);
  http_resp_free(&r);
  *ok = *late = 0;
  for (int i = 0; i < FORGED; i++) {
    pthread_join(g[i].th, NULL);
    if (g[i].status == want) (*ok)++;
    else if (g[i].status == 429 && strstr(g[i].out, "retry later")) (*late)++;
    else fail_msg("%s %s %d: %d %s", method, path, i, g[i].status, g[i].out);
  }
  if (*ok < 1 || *late < 1) fail_msg("24 paced %s: %d answered %d, %d 429", path, *ok, want, *late);
}

/* The routes that need no token answer requests with no token the server
 * knows at --public-rate a second after a burst of as many, the others
 * waiting their turn (429 after a second); the refusals given before a
 * token is read (404, 405, 403) take turns of --token-lookup-rate as a
 * 401 does. A cached token waits for neither. With no limits none
 * waits. */
static void public_answers_past_the_rate_wait_their_turn(void **state) {
  (void)state;
  default_gauge_is("cis_public_rate", CIS_SERVE_DEFAULT_PUBLIC_RATE);
  srv_opts o = {.token_rate = 4, .public_rate = 4};
  srv *v = srv_start_with(256 * 1024, 1, 8, 0, &o);
  assert_non_null(v);
  install(v, v->alice, "echo", "echo", "cis_v1", ""); /* alice's token cached */
  int ok, late;
  public_burst(v, "GET", "/v1/health", 200, &ok, &late);
  assert_int_equal(metric_u64(v, "cis_public_late_total"), late);
  assert_true(metric_u64(v, "cis_public_waits_total") >= (uint64_t)late);
  assert_int_equal(metric_u64(v, "cis_public_queue"), 0);
  uint64_t token_waits = metric_u64(v, "cis_token_lookup_waits_total");
  uint64_t lookups = metric_u64(v, "cis_token_lookups_total"); /* alice's, once */
  public_burst(v, "GET", "/metrics", 200, &ok, &late);
  public_burst(v, "GET", "/no/such/route", 404, &ok, &late);
  public_burst(v, "PUT", "/v1/health", 405, &ok, &late);
  assert_true(metric_u64(v, "cis_token_lookup_waits_total") >= token_waits + 2);
  assert_int_equal(metric_u64(v, "cis_token_lookups_total"), lookups); /* none of them looked a token up */
  srv_stop(v);
  srv_opts off = {.token_rate = CIS_SERVE_TOKEN_LOOKUP_RATE_OFF, .public_rate = CIS_SERVE_PUBLIC_RATE_OFF};
  v = srv_start_with(256 * 1024, 1, 8, 0, &off);
  assert_non_null(v);
  assert_int_equal(metric_u64(v, "cis_public_rate"), 0);
  static call g[FORGED];
  for (int i = 0; i < FORGED; i++) call_start_as(&g[i], v, "GET", NULL, i % 2 ? "/v1/health" : "/nothing", NULL);
  for (int i = 0; i < FORGED; i++) {
    pthread_join(g[i].th, NULL);
    assert_int_equal(g[i].status, i % 2 ? 200 : 404);
  }
  assert_int_equal(metric_u64(v, "cis_public_waits_total"), 0);
  assert_int_equal(metric_u64(v, "cis_token_lookup_waits_total"), 0);
  srv_stop(v);
}

/* A flood of cheap requests from one tenant: calls of a skill it does
 * not have (404, each a few microseconds), until told to stop (20 s at
 * most). */
typedef struct cheap_flood {
  srv *v;
  atomic_bool stop;
  unsigned long answered, other; /* 404s; anything else */
  pthread_t th;
} cheap_flood;

static void *cheap_flood_main(void *arg) {
  cheap_flood *f = arg;
  uint64_t end = now_ms() + 20000;
  while (!atomic_load(&f->stop) && now_ms() < end) {
    int st = status_of(f->v, "POST", "/v1/skills/absent/invoke", f->v->bob, "0");
    if (st == 404) f->answered++;
    else f->other++;
  }
  return NULL;
}

/* Alice and bob each call echo once; both answered 200. */
static void both_call_echo(srv *v) {
  assert_int_equal(status_of(v, "POST", "/v1/skills/echo/invoke", v->alice, "1"), 200);
  assert_int_equal(status_of(v, "POST", "/v1/skills/echo/invoke", v->bob, "1"), 200);
  struct timespec ts = {0, 10 * 1000000};
  nanosleep(&ts, NULL);
}

/* A tenant whose requests cost little each, but come without end, goes
 * over its CPU share as one of costly calls does: what the server spends
 * on them (the token's check, the routing, the answer) is its. Its own
 * calls then run on the lane, while the tenant calling at the same pace
 * without the flood stays off it; once the flood stops it comes back. */
#define CHEAP_FLOODERS 3
static void a_tenant_of_cheap_requests_goes_over_its_share(void **state) {
  (void)state;
  srv *v = srv_start(256 * 1024, 2, 8, 0);
  assert_non_null(v);
  install(v, v->alice, "echo", "echo", "cis_v1", "");
  install(v, v->bob, "echo", "echo", "cis_v1", "");
  /* Each one's first call loads the skill; what it cost decays (a
   * quarter each 20 ms), and a tenant idle for 500 ms is no longer active. */
  both_call_echo(v);
  usleep(700 * 1000);
  /* The same pace, no flood: neither goes over. A call inline is charged
   * its time on the polling thread, which on a loaded machine may hold a
   * preemption of milliseconds: a run of calls with one on the lane is
   * tried again, 3 at most (a tenant favoured by the review would be over
   * in each). */
  bool even = false;
  for (int run = 0; run < 3 && !even; run++) {
    uint64_t lane_before = metric_u64(v, "cis_pool_lane_total");
    for (int i = 0; i < 20; i++) both_call_echo(v);
    even = metric_u64(v, "cis_tenants_over_share") == 0 && metric_u64(v, "cis_pool_lane_total") == lane_before;
    if (!even) {
      fprintf(stderr, "run %d at the same pace: a tenant over its share\n", run);
      usleep(700 * 1000);
    }
  }
  assert_true(even);
  uint64_t lane0 = metric_u64(v, "cis_pool_lane_total");
  static cheap_flood f[CHEAP_FLOODERS];
  for (int i = 0; i < CHEAP_FLOODERS; i++) {
    memset(&f[i], 0, sizeof f[i]);
    f[i].v = v;
    assert_int_equal(pthread_create(&f[i].th, NULL, cheap_flood_main, &f[i]), 0);
  }
  /* Bob's flood puts him over (within some periods of 20 ms; a loaded
   * machine is given 15 s), and his echo calls on the lane. */
  uint64_t over = 0, lane = 0, end = now_ms() + 15000;
  while ((over < 1 || lane < 1) && now_ms() < end) {
    both_call_echo(v);
    over = metric_u64(v, "cis_tenants_over_share");
    lane = metric_u64(v, "cis_pool_lane_total") - lane0;
  }
  for (int i = 0; i < CHEAP_FLOODERS; i++) atomic_store(&f[i].stop, true);
  unsigned long answered = 0, other = 0;
  for (int i = 0; i < CHEAP_FLOODERS; i++) {
    pthread_join(f[i].th, NULL);
    answered += f[i].answered, other += f[i].other;
  }
  if (over != 1 || lane < 1) fprintf(stderr, "over %llu, lane %llu after %lu 404s\n", (unsigned long long)over,
                                     (unsigned long long)lane, answered);
  assert_int_equal(over, 1); /* bob alone: alice's calls cost what his echo calls do */
  assert_true(lane >= 1);
  assert_true(answered > 0);
  assert_int_equal(other, 0);
  /* Without the flood he falls back under his share (his recent use
   * decays by a quarter each 20 ms). */
  end = now_ms() + 15000;
  while (metric_u64(v, "cis_tenants_over_share") != 0 && now_ms() < end) both_call_echo(v);
  assert_int_equal(metric_u64(v, "cis_tenants_over_share"), 0);
  srv_stop(v);
}

/* A server stopped while requests wait for their token's lookup answers
 * or closes each (the pacer resumes them before the listeners stop) and
 * frees what they held. */
static void stop_while_token_lookups_wait(void **state) {
  (void)state;
  srv_opts o = {.token_rate = 1};
  srv *v = srv_start_with(256 * 1024, 1, 8, 0, &o);
  assert_non_null(v);
  call c[FORGED];
  char tok[FORGED][CIS_TOKEN_MAX];
  forged_calls(v, c, tok);
  assert_int_equal(wait_metric_at_least(v, "cis_token_lookup_queue", 1), 0);
  srv_stop(v);
  for (int i = 0; i < FORGED; i++) {
    pthread_join(c[i].th, NULL);
    if (c[i].status != 0 && c[i].status != 401 && c[i].status != 429 && c[i].status != 503)
      fail_msg("forged token %d: %d %s", i, c[i].status, c[i].out);
  }
}

static void drain_finishes_calls_in_flight_and_refuses_new_ones_503(void **state) {
  (void)state;
  srv *v = srv_start(64 * 1024, 2, 4, 0);
  assert_non_null(v);
  install(v, v->alice, "sleep", "sleep", "wasi", ",\"limits\":{\"timeout_ms\":20000}");
  call a;
  call_start(&a, v, v->alice, "/v1/skills/sleep/invoke", "{}");
  assert_int_equal(wait_metric(v, "cis_pool_busy 1\n"), 0);
  cis_server_drain(v->s);
  http_resp r;
  assert_int_equal(http_send(v->port, "POST", "/v1/skills/sleep/invoke", v->alice, "{}", &r), 0);
  assert_int_equal(r.status, 503);
  http_resp_free(&r);
  assert_int_equal(http_get(v->port, "/v1/health", NULL, &r), 0);
  assert_int_equal(r.status, 503);
  http_resp_free(&r);
  assert_int_equal(cis_server_wait_idle(v->s, 60000), CIS_OK);
  pthread_join(a.th, NULL);
  assert_int_equal(a.status, 200);
  assert_non_null(strstr(a.out, "\"slept\":true"));
  srv_stop(v);
}

static void trap_and_timeout_beside_a_healthy_call(void **state) {
  srv *v = *state;
  install(v, v->alice, "echo", "echo", "cis_v1", "");
  install(v, v->alice, "trap", "trap", "cis_v1", "");
  install(v, v->bob, "spin", "spin", "cis_v1", ",\"limits\":{\"timeout_ms\":300}");
  call spin, ok;
  call_start(&spin, v, v->bob, "/v1/skills/spin/invoke", "{}");
  call_start(&ok, v, v->alice, "/v1/skills/echo/invoke", "{\"fine\":true}");
  http_resp r;
  assert_int_equal(http_send(v->port, "POST", "/v1/skills/trap/invoke", v->alice, "{}", &r), 0);
  assert_int_equal(r.status, 422);
  assert_non_null(strstr(r.body, "\"type\":\"CIS_TRAP_UNREACHABLE\""));
  assert_non_null(strstr(r.body, "\"output\":null"));
  http_resp_free(&r);
  pthread_join(spin.th, NULL);
  pthread_join(ok.th, NULL);
  assert_int_equal(spin.status, 422);
  assert_non_null(strstr(spin.out, "\"type\":\"CIS_ETIMEOUT\""));
  assert_int_equal(ok.status, 200);
  assert_non_null(strstr(ok.out, "\"output\":{\"fine\":true}"));
  /* And the server goes on. */
  assert_int_equal(status_of(v, "POST", "/v1/skills/echo/invoke", v->alice, "{}"), 200);
  assert_int_equal(wait_metric(v, "cis_call_errors_total{type=\"CIS_ETIMEOUT\"} 1\n"), 0);
  assert_int_equal(wait_metric(v, "cis_call_errors_total{type=\"CIS_TRAP_UNREACHABLE\"} 1\n"), 0);
}

/* A counter of /metrics, or UINT64_MAX when absent. */
/* Read with alice's token: once cached, it never waits for the pacer of
 * the routes that need none. */
static uint64_t metric_u64(srv *v, const char *name) {
  http_resp r;
  uint64_t n = UINT64_MAX;
  if (http_get(v->port, "/metrics", v->alice, &r) == 0) {
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(r.body, key);
    if (p) n = strtoull(p + strlen(key), NULL, 10);
  }
  http_resp_free(&r);
  return n;
}

/* Waits (at most 60 s) until counter name reaches n. */
static int wait_u64(srv *v, const char *name, uint64_t n) {
  for (int i = 0; i < 3000; i++) {
    uint64_t x = metric_u64(v, name);
    if (x != UINT64_MAX && x >= n) return 0;
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
  }
  return -1;
}

#define LOAD_MOVES "cis_calls_inline_moved_total{reason=\"load\"}"
#define WAIT_MOVES "cis_calls_inline_moved_total{reason=\"wait\"}"
#define LONG_MOVES "cis_calls_inline_moved_total{reason=\"long\"}"

/* A skill whose last call was short runs on the polling thread that read
 * its request; a call of it that runs long moves to a worker once it has
 * run the budget, so that the polling thread's other connections are
 * answered meanwhile (with no move, those would wait for its 5 s). One that waits (asks
 * for the time left, as a host function does before the network) moves
 * too, and a skill that moved runs its next calls on the pool. */
static void short_calls_run_inline_and_long_ones_move_to_a_worker(void **state) {
  (void)state;
  /* 0.5 s: on a loaded machine, or in a sanitizer's build, a short call
   * may take longer than the default 200 µs, and the test needs busy's
   * short calls to be known short; the spin below still moves after it. */
  /* Two polling threads: the counts of first-load moves below are one
   * per thread. */
  srv *v = srv_start_with(256 * 1024, 2, 4, 0, &(srv_opts){.inline_us = 500000, .http_threads = 2});
  assert_non_null(v);
  install(v, v->alice, "busy", "busy", "cis_v1", ",\"limits\":{\"timeout_ms\":5000}");
  install(v, v->alice, "waiter", "busy", "cis_v1", "");
  http_resp r;
  /* The first calls, on the pool, show that busy is short (a first one
   * may be slow: the guest's code translated), then they run inline. */
  for (int i = 0; i < 20 && metric_u64(v, "cis_calls_inline_total") < 2; i++) {
    assert_int_equal(http_send(v->port, "POST", "/v1/skills/busy/invoke", v->alice, "0", &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"output\":0"));
    http_resp_free(&r);
  }
  assert_int_equal(metric_u64(v, "cis_calls_inline_total"), 2);
  /* Moved so far: only first calls on a polling thread, to load busy into
   * that thread's cache. Calls go on until both threads have it (their
   * connections are shared out as they come: 200 calls on one thread
   * alone would be a 2^-200 chance), so the next move is the spin's. */
  for (int i = 0; i < 200 && metric_u64(v, LOAD_MOVES) < 2; i++)
    assert_int_equal(status_of(v, "POST", "/v1/skills/busy/invoke", v->alice, "0"), 200);
  assert_int_equal(metric_u64(v, LOAD_MOVES), 2);
  assert_int_equal(metric_u64(v, LONG_MOVES), 0);

  uint64_t t0 = now_ms();
  call spin;
  call_start(&spin, v, v->alice, "/v1/skills/busy/invoke", "1");
  assert_int_equal(wait_u64(v, LONG_MOVES, 1), 0);
  uint64_t worst = 0;
  for (int i = 0; i < 16; i++) { /* fresh connections: both polling threads */
    uint64_t t = now_ms();
    assert_int_equal(status_of(v, "GET", "/v1/health", NULL, NULL), 200);
    if (now_ms() - t > worst) worst = now_ms() - t;
  }
  uint64_t during = now_ms() - t0;
  pthread_join(spin.th, NULL);
  assert_int_equal(spin.status, 422);
  assert_non_null(strstr(spin.out, "\"type\":\"CIS_ETIMEOUT\""));
  if (during >= 4500 || worst >= 1000)
    fprintf(stderr, "during %llu ms, worst %llu ms\n", (unsigned long long)during, (unsigned long long)worst);
  assert_true(during < 4500); /* the requests above came while it spun */
  assert_true(worst < 1000);

  /* busy moved: its next call runs on the pool. */
  uint64_t inl = metric_u64(v, "cis_calls_inline_total");
  assert_int_equal(status_of(v, "POST", "/v1/skills/busy/invoke", v->alice, "0"), 200);
  assert_int_equal(metric_u64(v, "cis_calls_inline_total"), inl);

  /* A call that waits moves where it begins to wait, and answers. */
  for (int i = 0; i < 200 && metric_u64(v, LOAD_MOVES) < 4; i++)
    assert_int_equal(status_of(v, "POST", "/v1/skills/waiter/invoke", v->alice, "0"), 200);
  assert_int_equal(metric_u64(v, LOAD_MOVES), 4);
  inl = metric_u64(v, "cis_calls_inline_total");
  assert_int_equal(http_send(v->port, "POST", "/v1/skills/waiter/invoke", v->alice, "2", &r), 0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "\"output\":2"));
  http_resp_free(&r);
  assert_int_equal(metric_u64(v, "cis_calls_inline_total"), inl + 1);
  assert_int_equal(metric_u64(v, WAIT_MOVES), 1);
  assert_int_equal(metric_u64(v, LONG_MOVES), 1);
  assert_int_equal(metric_u64(v, LOAD_MOVES), 4);
  srv_stop(v);
}

/* With inline calls off (CIS_SERVE_INLINE_OFF, `--inline-us 0`), every
 * call goes through the pool. */
static void inline_calls_can_be_turned_off(void **state) {
  (void)state;
  srv *v = srv_start_with(256 * 1024, 2, 4, 0, &(srv_opts){.inline_us = CIS_SERVE_INLINE_OFF});
  assert_non_null(v);
  install(v, v->alice, "echo", "echo", "cis_v1", "");
  for (int i = 0; i < 10; i++) assert_int_equal(status_of(v, "POST", "/v1/skills/echo/invoke", v->alice, "{}"), 200);
  assert_int_equal(metric_u64(v, "cis_calls_total"), 10);
  assert_int_equal(metric_u64(v, "cis_calls_inline_total"), 0);
  srv_stop(v);
}

/* The text as a JSON string (quotes and backslashes escaped; the
 * manifests here have no control characters). */
static void json_string(const char *in, char *out, size_t cap) {
  size_t o = 0;
  out[o++] = '"';
  for (; *in && o + 3 < cap; in++) {
    if (*in == '"' || *in == '\\') out[o++] = '\\';
    out[o++] = *in;
  }
  out[o++] = '"';
  out[o] = 0;
}

/* Signed skills over HTTP (docs/signing.md): a server that requires a
 * signature refuses an unsigned bundle and one whose manifest changed
 * after signing (422, CIS_ESIGNATURE), and installs and runs one signed
 * by a key the tenant trusts. */
/* An install past the tenant's skill limit is 413 with CIS_EQUOTA, and
 * leaves its other skills and another tenant's installs alone. */
static void install_past_the_tenants_skill_limit_is_413(void **state) {
  (void)state;
  srv *v = srv_start_with(256 * 1024, 1, 4, 0, &(srv_opts){.max_skills = 1});
  assert_non_null(v);
  install(v, v->alice, "first", "echo", "cis_v1", "");
  char *b = serve_install_request(g_dir, "echo", "second", "cis_v1", "");
  assert_non_null(b);
  install_refused(v, v->alice, b, 413, "CIS_EQUOTA");
  free(b);
  install(v, v->alice, "first", "echo", "cis_v1", ""); /* replaced: no more skills */
  install(v, v->bob, "second", "echo", "cis_v1", "");  /* bob's own limit */
  assert_int_equal(status_of(v, "POST", "/v1/skills/first/invoke", v->alice, "{}"), 200);
  http_resp r;
  assert_int_equal(http_get(v->port, "/metrics", NULL, &r), 0);
  assert_non_null(strstr(r.body, "\ncis_installs_over_limit_total 1\n"));
  assert_non_null(strstr(r.body, "\ncis_tenant_max_skills 1\n"));
  http_resp_free(&r);
  srv_stop(v);
}

/* The KV keys of all a tenant's skills together stay within the tenant's
 * KV limit: the write past it fails in the skill (which answers with its
 * error, and nothing of its call is kept), another tenant has its own,
 * and /metrics reports the limits. */
static void kv_past_the_tenants_total_fails_in_the_skill(void **state) {
  (void)state;
  srv *v = srv_start_with(256 * 1024, 1, 4, 0, &(srv_opts){.max_kv_keys = 3, .max_fs_files = 7});
  assert_non_null(v);
  install(v, v->alice, "p1", "kvpair", "cis_v1", ",\"permissions\":{\"kv\":true}");
  install(v, v->alice, "p2", "kvpair", "cis_v1", ",\"permissions\":{\"kv\":true}");
  install(v, v->bob, "p2", "kvpair", "cis_v1", ",\"permissions\":{\"kv\":true}");
  assert_int_equal(status_of(v, "POST", "/v1/skills/p1/invoke", v->alice, "\"a\""), 200); /* 2 keys */
  assert_int_not_equal(status_of(v, "POST", "/v1/skills/p2/invoke", v->alice, "\"b\""), 200); /* 4th */
  assert_int_equal(status_of(v, "POST", "/v1/skills/p2/invoke", v->bob, "\"b\""), 200);
  /* The refused call kept nothing: its first key did not land either. */
  assert_int_not_equal(status_of(v, "POST", "/v1/skills/p2/invoke", v->alice, "\"c\""), 200);
  assert_int_equal(status_of(v, "POST", "/v1/skills/p1/invoke", v->alice, "\"a\""), 200); /* rewrites */
  http_resp r;
  assert_int_equal(http_get(v->port, "/metrics", NULL, &r), 0);
  assert_non_null(strstr(r.body, "\ncis_tenant_max_kv_keys 3\n"));
  assert_non_null(strstr(r.body, "\ncis_tenant_max_kv_bytes 0\n"));
  assert_non_null(strstr(r.body, "\ncis_tenant_max_fs_files 7\n"));
  assert_non_null(strstr(r.body, "\ncis_tenant_max_fs_bytes 0\n"));
  http_resp_free(&r);
  srv_stop(v);
}

/* DELETE ?purge=true takes the skill's KV data with it, so the tenant's
 * total has room again; a name no longer installed is purged of what was
 * left, then it is 404; a purge= that is not a yes or no is 400 and
 * removes nothing. */
static void delete_with_purge_frees_the_tenants_total(void **state) {
  (void)state;
  srv *v = srv_start_with(256 * 1024, 1, 4, 0, &(srv_opts){.max_kv_keys = 3});
  assert_non_null(v);
  install(v, v->alice, "p1", "kvpair", "cis_v1", ",\"permissions\":{\"kv\":true}");
  install(v, v->alice, "p2", "kvpair", "cis_v1", ",\"permissions\":{\"kv\":true}");
  assert_int_equal(status_of(v, "POST", "/v1/skills/p1/invoke", v->alice, "\"a\""), 200); /* 2 keys */
  assert_int_not_equal(status_of(v, "POST", "/v1/skills/p2/invoke", v->alice, "\"b\""), 200);
  assert_int_equal(status_of(v, "DELETE", "/v1/skills/p1?purge=maybe", v->alice, NULL), 400);
  assert_int_equal(status_of(v, "DELETE", "/v1/skills/p1?purge=", v->alice, NULL), 400);
  assert_int_equal(status_of(v, "GET", "/v1/skills/p1", v->alice, NULL), 200);
  assert_int_equal(status_of(v, "DELETE", "/v1/skills/p1?purge=true", v->alice, NULL), 204);
  assert_int_equal(status_of(v, "POST", "/v1/skills/p2/invoke", v->alice, "\"b\""), 200); /* room again */
  assert_int_equal(status_of(v, "DELETE", "/v1/skills/p1?purge=true", v->alice, NULL), 404);
  /* Removed and kept, then purged by name. */
  assert_int_equal(status_of(v, "DELETE", "/v1/skills/p2?purge=false", v->alice, NULL), 204);
  assert_int_equal(status_of(v, "DELETE", "/v1/skills/p2?purge=1", v->alice, NULL), 204);
  assert_int_equal(status_of(v, "DELETE", "/v1/skills/p2?purge=1", v->alice, NULL), 404);
  srv_stop(v);

  /* A KV store that cannot be opened: the skill goes, its data cannot, and
   * the answer says so without the server's paths. */
  v = srv_start_with(256 * 1024, 1, 4, 0, &(srv_opts){0});
  assert_non_null(v);
  install(v, v->alice, "p3", "kvpair", "cis_v1", ",\"permissions\":{\"kv\":true}");
  char kvdir[600];
  snprintf(kvdir, sizeof kvdir, "%s/kv.db", v->home);
  assert_int_equal(mkdir(kvdir, 0700), 0); /* a folder where the store's file would be */
  http_resp r;
  assert_int_equal(http_send(v->port, "DELETE", "/v1/skills/p3?purge=true", v->alice, NULL, &r), 0);
  if (r.status != 503 && r.status != 500) fail_msg("purge with the store down: %d %s", r.status, r.body);
  assert_non_null(strstr(r.body, "ask again"));
  assert_null(strstr(r.body, v->home));
  http_resp_free(&r);
  assert_int_equal(status_of(v, "GET", "/v1/skills/p3", v->alice, NULL), 404);
  srv_stop(v);
}

static int mcp_post(srv *v, const char *token, const char *session, const char *version, const char *method_hdr,
                    const char *body, http_resp *r);

static void signed_bundles_under_require_signature(void **state) {
  (void)state;
  srv *v = srv_start_with(256 * 1024, 1, 4, 0, &(srv_opts){.require_sig = true});
  assert_non_null(v);
  char keys[256], pub[65];
  snprintf(keys, sizeof keys, "%s/keys", v->home);
  assert_int_equal(cis_key_create(keys, "dev", pub), CIS_OK);
  cis_skills_config sc;
  cis_skills_config_default(&sc);
  sc.home = v->home;
  sc.tenant = "alice";
  cis_skills *sk = NULL;
  assert_int_equal(cis_skills_open(&sc, &sk), CIS_OK);
  assert_int_equal(cis_skills_key_trust(sk, "dev", pub), CIS_OK);
  cis_skills_close(sk);
  /* The manifest as a file, signed there. */
  size_t len;
  uint8_t *wasm = serve_fixture(g_dir, "echo", &len);
  assert_non_null(wasm);
  char manifest[2048], dir[256], path[512];
  serve_manifest(wasm, len, "signed", "cis_v1", "", manifest, sizeof manifest);
  snprintf(dir, sizeof dir, "%s/bundle", v->home);
  snprintf(path, sizeof path, "%s/skill.json", dir);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  assert_int_equal(system(cmd), 0);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(manifest, f);
  fclose(f);
  snprintf(path, sizeof path, "%s/dev.key", keys);
  assert_int_equal(cis_skill_sign(dir, path), CIS_OK);
  snprintf(path, sizeof path, "%s/skill.sig", dir);
  f = fopen(path, "r");
  assert_non_null(f);
  char sig[512] = "";
  assert_non_null(fgets(sig, sizeof sig, f));
  fclose(f);
  sig[strcspn(sig, "\n")] = 0;
  char *w = serve_base64(wasm, len), quoted[4096], *body = malloc(strlen(w) + 8192);
  assert_non_null(body);
  /* Unsigned. */
  json_string(manifest, quoted, sizeof quoted);
  sprintf(body, "{\"manifest\":%s,\"wasm_base64\":\"%s\"}", quoted, w);
  http_resp r;
  assert_int_equal(http_send(v->port, "POST", "/v1/skills", v->alice, body, &r), 0);
  assert_int_equal(r.status, 422);
  assert_non_null(strstr(r.body, "CIS_ESIGNATURE"));
  http_resp_free(&r);
  /* Changed after signing: a wider description. */
  char changed[2048];
  snprintf(changed, sizeof changed, "%s", manifest);
  char *brace = strrchr(changed, '}');
  assert_non_null(brace);
  snprintf(brace, sizeof changed - (size_t)(brace - changed), ",\"description\":\"x\"}");
  json_string(changed, quoted, sizeof quoted);
  sprintf(body, "{\"manifest\":%s,\"wasm_base64\":\"%s\",\"signature\":%s}", quoted, w, sig);
  assert_int_equal(http_send(v->port, "POST", "/v1/skills", v->alice, body, &r), 0);
  assert_int_equal(r.status, 422);
  assert_non_null(strstr(r.body, "CIS_ESIGNATURE"));
  http_resp_free(&r);
  /* Signed, by a key alice trusts; bob does not trust it. */
  json_string(manifest, quoted, sizeof quoted);
  sprintf(body, "{\"manifest\":%s,\"wasm_base64\":\"%s\",\"signature\":%s}", quoted, w, sig);
  assert_int_equal(http_send(v->port, "POST", "/v1/skills", v->bob, body, &r), 0);
  assert_int_equal(r.status, 422);
  http_resp_free(&r);
  assert_int_equal(http_send(v->port, "POST", "/v1/skills", v->alice, body, &r), 0);
  if (r.status != 201) fprintf(stderr, "signed install: %d %s\n", r.status, r.body);
  assert_int_equal(r.status, 201);
  http_resp_free(&r);
  assert_int_equal(status_of(v, "POST", "/v1/skills/signed/invoke", v->alice, "{\"a\":1}"), 200);
  /* A signature member of the wrong shape is a 400. */
  sprintf(body, "{\"manifest\":%s,\"wasm_base64\":\"%s\",\"signature\":7}", quoted, w);
  assert_int_equal(status_of(v, "POST", "/v1/skills", v->alice, body), 400);
  free(body);
  /* An unsigned skill that reached the registry another way (installed
   * before signatures were required): MCP's tools/list leaves it out and
   * lists the others, where it failed whole (-32603 CIS_ESIGNATURE). */
  sc.require_signature = false;
  assert_int_equal(cis_skills_open(&sc, &sk), CIS_OK);
  assert_int_equal(serve_register(sk, g_dir, "unsigned", "echo", "cis_v1", ""), CIS_OK);
  cis_skills_close(sk);
  assert_int_equal(mcp_post(v, v->alice, NULL, NULL, NULL,
                            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                            "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
                            &r),
                   0);
  char sid[128];
  assert_non_null(http_header(&r, "Mcp-Session-Id", sid, sizeof sid));
  http_resp_free(&r);
  assert_int_equal(
      mcp_post(v, v->alice, sid, "2025-11-25", NULL, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", &r), 0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "\"name\":\"signed\""));
  assert_null(strstr(r.body, "\"unsigned\""));
  assert_null(strstr(r.body, "\"error\""));
  http_resp_free(&r);
  /* Calling it says why it is not offered, as a client's mistake. */
  assert_int_equal(mcp_post(v, v->alice, sid, "2025-11-25", NULL,
                            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"unsigned\"}}",
                            &r),
                   0);
  assert_non_null(strstr(r.body, "-32602"));
  assert_non_null(strstr(r.body, "CIS_ESIGNATURE"));
  http_resp_free(&r);
  /* The operator's listing shows it with the reason it is left out, and
   * the signed one without; showing it is the skill's 422, not a 500. */
  assert_int_equal(http_get(v->port, "/v1/skills", v->alice, &r), 0);
  assert_int_equal(r.status, 200);
  const char *uns = strstr(r.body, "\"name\":\"unsigned\""), *sgn = strstr(r.body, "\"name\":\"signed\"");
  assert_non_null(uns);
  assert_non_null(sgn);
  const char *refused = strstr(r.body, "\"refused\":{\"error\":\"CIS_ESIGNATURE\"");
  assert_non_null(refused);
  assert_null(strstr(refused + 1, "\"refused\"")); /* one refused skill */
  /* The refusal is in the unsigned skill's object: after its name, and
   * not after the signed one's when that comes first. */
  assert_true(refused > uns && (sgn > refused || sgn < uns));
  http_resp_free(&r);
  assert_int_equal(http_get(v->port, "/v1/skills/unsigned", v->alice, &r), 0);
  assert_int_equal(r.status, 422);
  assert_non_null(strstr(r.body, "CIS_ESIGNATURE"));
  http_resp_free(&r);
  assert_int_equal(status_of(v, "GET", "/v1/skills/signed", v->alice, NULL), 200);
  free(w);
  free(wasm);
  srv_stop(v);
}

static void manifest_limits_are_capped_by_the_servers(void **state) {
  (void)state;
  srv *v = srv_start_with(64 * 1024, 1, 1, 0, &(srv_opts){.max_timeout = 250});
  assert_non_null(v);
  /* It asks for an hour; the server allows 250 ms. */
  install(v, v->alice, "spin", "spin", "cis_v1", ",\"limits\":{\"timeout_ms\":3600000}");
  http_resp r;
  assert_int_equal(http_get(v->port, "/v1/skills/spin", v->alice, &r), 0);
  assert_int_equal(r.status, 200);
  assert_true(strstr(r.body, "\"timeout_ms\":\t250") || strstr(r.body, "\"timeout_ms\":250"));
  assert_null(strstr(r.body, "3600000"));
  http_resp_free(&r);
  assert_int_equal(http_send(v->port, "POST", "/v1/skills/spin/invoke", v->alice, "{}", &r), 0);
  assert_int_equal(r.status, 422);
  assert_non_null(strstr(r.body, "CIS_ETIMEOUT"));
  http_resp_free(&r);
  srv_stop(v);
}

static void listen_errors_are_typed(void **state) {
  srv *v = *state;
  cis_server_config c;
  cis_server_config_default(&c);
  c.skills.home = v->home;
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", v->port);
  const char *taken[] = {"127.0.0.1:0", addr}; /* the second is in use: the first is undone */
  c.listen = taken;
  c.nlisten = 2;
  cis_test_server_start_fails(&c, CIS_EIO, "cannot bind", NULL, 0);
  const char *bad[][1] = {{"nocolon"}, {"127.0.0.1:70000"}, {"[::1:80"}, {":80"}, {"127.0.0.1:8x"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    c.listen = bad[i];
    c.nlisten = 1;
    cis_test_server_start_fails(&c, CIS_EINVAL, bad[i][0], NULL, 0);
  }
  /* A lane of more threads than the workers may have. */
  c.listen = NULL;
  c.nlisten = 0;
  c.lane_workers = 1025;
  cis_test_server_start_fails(&c, CIS_EINVAL, "lane workers", NULL, 0);
  c.lane_workers = 0;
  c.http_threads = 1025;
  cis_test_server_start_fails(&c, CIS_EINVAL, "HTTP threads", NULL, 0);
  cis_test_server_start_fails(NULL, CIS_EINVAL, "NULL config", NULL, 0);
  assert_int_equal(cis_server_start(&c, NULL), CIS_EINVAL);
  /* The one it serves on still answers. */
  assert_int_equal(status_of(v, "GET", "/v1/health", NULL, NULL), 200);
}

/* ------------------------------------------------------------- MCP */

static int mcp_post(srv *v, const char *token, const char *session, const char *version, const char *method_hdr,
                    const char *body, http_resp *r) {
  char auth[160], sid[160], ver[96], mh[128];
  const char *h[6];
  int n = 0;
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  h[n++] = auth;
  h[n++] = "Accept: application/json, text/event-stream";
  if (session) {
    snprintf(sid, sizeof sid, "Mcp-Session-Id: %s", session);
    h[n++] = sid;
  }
  if (version) {
    snprintf(ver, sizeof ver, "MCP-Protocol-Version: %s", version);
    h[n++] = ver;
  }
  if (method_hdr) {
    snprintf(mh, sizeof mh, "Mcp-Method: %s", method_hdr);
    h[n++] = mh;
  }
  h[n] = NULL;
  return http_request(v->port, "POST", "/mcp", h, body, strlen(body), 0, r);
}

static void mcp_initialize_tools_list_and_call_over_http(void **state) {
  srv *v = *state;
  install(v, v->alice, "echo", "echo", "cis_v1", ",\"description\":\"echo tool\"");
  install(v, v->bob, "bobs", "echo", "cis_v1", "");
  http_resp r;
  assert_int_equal(mcp_post(v, v->alice, NULL, NULL, NULL,
                            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                            "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
                            &r),
                   0);
  assert_int_equal(r.status, 200);
  char sid[128], ver[64];
  assert_non_null(http_header(&r, "Mcp-Session-Id", sid, sizeof sid));
  assert_int_equal(strlen(sid), 64);
  assert_non_null(http_header(&r, "MCP-Protocol-Version", ver, sizeof ver));
  assert_string_equal(ver, "2025-11-25");
  assert_non_null(strstr(r.body, "\"protocolVersion\":\"2025-11-25\""));
  http_resp_free(&r);
  assert_int_equal(mcp_post(v, v->alice, sid, "2025-11-25", NULL,
                            "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &r),
                   0);
  assert_int_equal(r.status, 202);
  assert_int_equal(r.body_len, 0);
  http_resp_free(&r);
  assert_int_equal(
      mcp_post(v, v->alice, sid, "2025-11-25", NULL, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", &r), 0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "\"name\":\"echo\""));
  assert_null(strstr(r.body, "bobs")); /* bob's tool is not alice's */
  http_resp_free(&r);
  assert_int_equal(mcp_post(v, v->alice, sid, "2025-11-25", NULL,
                            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
                            "\"arguments\":{\"text\":\"hi\"}}}",
                            &r),
                   0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "\"id\":3"));
  assert_non_null(strstr(r.body, "\\\"text\\\":\\\"hi\\\""));
  assert_null(strstr(r.body, "\"isError\":true"));
  http_resp_free(&r);
  /* Session rules: none (400), unknown (404), another tenant's (404), a
   * version that is not the session's (400). */
  assert_int_equal(mcp_post(v, v->alice, NULL, NULL, NULL, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\"}", &r),
                   0);
  assert_int_equal(r.status, 400);
  http_resp_free(&r);
  assert_int_equal(mcp_post(v, v->alice, "0000000000000000000000000000000000000000000000000000000000000000", NULL, NULL,
                            "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/list\"}", &r),
                   0);
  assert_int_equal(r.status, 404);
  http_resp_free(&r);
  assert_int_equal(mcp_post(v, v->bob, sid, NULL, NULL, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/list\"}", &r), 0);
  assert_int_equal(r.status, 404);
  http_resp_free(&r);
  assert_int_equal(
      mcp_post(v, v->alice, sid, "2025-06-18", NULL, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}", &r), 0);
  assert_int_equal(r.status, 400);
  http_resp_free(&r);
  assert_int_equal(
      mcp_post(v, v->alice, sid, "1999-01-01", NULL, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/list\"}", &r), 0);
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.body, "-32022"));
  http_resp_free(&r);
  assert_int_equal(mcp_post(v, v->alice, sid, NULL, NULL, "{not json", &r), 0);
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.body, "-32700"));
  http_resp_free(&r);
  /* DELETE ends it: 204, then 404. Bob cannot end it. */
  char auth[160], sidh[160];
  snprintf(sidh, sizeof sidh, "Mcp-Session-Id: %s", sid);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", v->bob);
  const char *hb[] = {auth, sidh, NULL};
  assert_int_equal(http_request(v->port, "DELETE", "/mcp", hb, NULL, 0, 0, &r), 0);
  assert_int_equal(r.status, 404);
  http_resp_free(&r);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", v->alice);
  assert_int_equal(http_request(v->port, "DELETE", "/mcp", hb, NULL, 0, 0, &r), 0);
  assert_int_equal(r.status, 204);
  http_resp_free(&r);
  assert_int_equal(
      mcp_post(v, v->alice, sid, "2025-11-25", NULL, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/list\"}", &r), 0);
  assert_int_equal(r.status, 404);
  http_resp_free(&r);
}

/* A 2025-03-26 session over /mcp: its client sends no MCP-Protocol-Version
 * (read as the session's), may send batches (an array of replies; 202 for
 * one without a request), and gets no member newer than its version. */
static void mcp_2025_03_26_session_takes_batches_and_no_version_header(void **state) {
  srv *v = *state;
  install(v, v->alice, "echo", "echo", "cis_v1", "");
  http_resp r;
  assert_int_equal(mcp_post(v, v->alice, NULL, NULL, NULL,
                            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                            "\"2025-03-26\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
                            &r),
                   0);
  assert_int_equal(r.status, 200);
  char sid[128], ver[64];
  assert_non_null(http_header(&r, "Mcp-Session-Id", sid, sizeof sid));
  assert_non_null(http_header(&r, "MCP-Protocol-Version", ver, sizeof ver));
  assert_string_equal(ver, "2025-03-26");
  assert_null(strstr(r.body, "\"title\""));
  http_resp_free(&r);
  assert_int_equal(
      mcp_post(v, v->alice, sid, NULL, NULL, "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}]", &r), 0);
  assert_int_equal(r.status, 202);
  http_resp_free(&r);
  assert_int_equal(mcp_post(v, v->alice, sid, NULL, NULL,
                            "[{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"},"
                            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
                            "\"arguments\":{\"a\":1}}}]",
                            &r),
                   0);
  assert_int_equal(r.status, 200);
  assert_true(r.body_len > 2 && r.body[0] == '[' && r.body[r.body_len - 1] == ']');
  assert_non_null(strstr(r.body, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":"));
  assert_non_null(strstr(r.body, "\"annotations\""));
  assert_non_null(strstr(r.body, "},{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"content\":"));
  assert_null(strstr(r.body, "structuredContent")); /* 2025-06-18's */
  http_resp_free(&r);
  /* The header, when sent, must be the session's. */
  assert_int_equal(mcp_post(v, v->alice, sid, "2025-03-26", NULL, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}", &r),
                   0);
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
  assert_int_equal(mcp_post(v, v->alice, sid, "2024-11-05", NULL, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}", &r),
                   0);
  assert_int_equal(r.status, 400);
  http_resp_free(&r);
  /* A batch without a session, and one in a 2025-11-25 session: refused. */
  assert_int_equal(mcp_post(v, v->alice, NULL, NULL, NULL, "[{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}]", &r), 0);
  assert_int_equal(r.status, 400);
  http_resp_free(&r);
  assert_int_equal(mcp_post(v, v->alice, NULL, NULL, NULL,
                            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                            "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
                            &r),
                   0);
  assert_non_null(http_header(&r, "Mcp-Session-Id", sid, sizeof sid));
  http_resp_free(&r);
  assert_int_equal(
      mcp_post(v, v->alice, sid, "2025-11-25", NULL, "[{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}]", &r), 0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "-32600"));
  http_resp_free(&r);
}

static void mcp_stateless_2026_07_28_checks_the_version_header(void **state) {
  srv *v = *state;
  install(v, v->alice, "echo", "echo", "cis_v1", "");
  static const char meta[] = "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
                             "\"io.modelcontextprotocol/clientInfo\":{\"name\":\"t\",\"version\":\"1\"},"
                             "\"io.modelcontextprotocol/clientCapabilities\":{}}";
  char body[1024];
  snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
                              "\"arguments\":{\"text\":\"now\"},%s}}", meta);
  http_resp r;
  assert_int_equal(mcp_post(v, v->alice, NULL, "2026-07-28", "tools/call", body, &r), 0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "now"));
  assert_null(http_header(&r, "Mcp-Session-Id", (char[8]){0}, 8));
  http_resp_free(&r);
  /* The header and _meta must agree. */
  assert_int_equal(mcp_post(v, v->alice, NULL, "2025-11-25", "tools/call", body, &r), 0);
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.body, "-32020"));
  http_resp_free(&r);
  assert_int_equal(mcp_post(v, v->alice, NULL, NULL, "tools/call", body, &r), 0);
  assert_int_equal(r.status, 400);
  http_resp_free(&r);
  /* So must Mcp-Method and the body's method. */
  assert_int_equal(mcp_post(v, v->alice, NULL, "2026-07-28", "tools/list", body, &r), 0);
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.body, "-32020"));
  http_resp_free(&r);
  assert_int_equal(mcp_post(v, v->alice, NULL, "2026-07-28", NULL, body, &r), 0);
  assert_int_equal(r.status, 400);
  http_resp_free(&r);
  /* An unknown method is 404 with -32601 in this version. */
  snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"no/such\",\"params\":{%s}}", meta);
  assert_int_equal(mcp_post(v, v->alice, NULL, "2026-07-28", "no/such", body, &r), 0);
  assert_int_equal(r.status, 404);
  assert_non_null(strstr(r.body, "-32601"));
  http_resp_free(&r);
}

/* The /mcp route peeks at a message (its method, whether it is an
 * initialize, params._meta's version) before cis_mcp_handle runs it: an
 * escaped NUL, which cJSON decodes into a C string cut there, made both
 * read "initialize\u0000x" as initialize (a session was made) and
 * "tools/list\u0000x" as the Mcp-Method header's tools/list. */
static void mcp_escaped_nul_is_a_parse_error(void **state) {
  srv *v = *state;
  const char *init = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\\u0000x\",\"params\":{"
                     "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\","
                     "\"version\":\"1\"}}}";
  http_resp r;
  assert_int_equal(mcp_post(v, v->alice, NULL, NULL, NULL, init, &r), 0);
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.body, "-32700"));
  assert_null(http_header(&r, "Mcp-Session-Id", (char[8]){0}, 8));
  http_resp_free(&r);
  const char *list = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\\u0000x\",\"params\":{"
                     "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
                     "\"io.modelcontextprotocol/clientCapabilities\":{}}}}";
  assert_int_equal(mcp_post(v, v->alice, NULL, "2026-07-28", "tools/list", list, &r), 0);
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.body, "-32700"));
  http_resp_free(&r);
}

static void mcp_refuses_no_token_and_web_origins(void **state) {
  srv *v = *state;
  const char *init = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                     "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";
  http_resp r;
  assert_int_equal(http_request(v->port, "POST", "/mcp", NULL, init, strlen(init), 0, &r), 0);
  assert_int_equal(r.status, 401);
  http_resp_free(&r);
  char auth[160];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", v->alice);
  const char *h[] = {auth, "Origin: http://evil.example", NULL};
  assert_int_equal(http_request(v->port, "POST", "/mcp", h, init, strlen(init), 0, &r), 0);
  assert_int_equal(r.status, 403);
  http_resp_free(&r);
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "hold-registry")) return hold_registry(argv[2]);
  g_dir = argc > 1 ? argv[1] : ".";
  if (argc == 3) cmocka_set_test_filter(argv[2]); /* one test (or a glob) by name */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(http_install_invoke_remove_round_trip, setup, teardown),
      cmocka_unit_test(install_past_the_tenants_skill_limit_is_413),
      cmocka_unit_test(kv_past_the_tenants_total_fails_in_the_skill),
      cmocka_unit_test(delete_with_purge_frees_the_tenants_total),
      cmocka_unit_test(signed_bundles_under_require_signature),
      cmocka_unit_test_setup_teardown(health_and_metrics_need_no_token, setup, teardown),
      cmocka_unit_test_setup_teardown(missing_or_wrong_token_is_401_with_www_authenticate, setup, teardown),
      cmocka_unit_test_setup_teardown(revoked_token_is_401, setup, teardown),
      cmocka_unit_test_setup_teardown(other_tenants_skill_is_404_like_a_missing_one, setup, teardown),
      cmocka_unit_test_setup_teardown(body_over_the_cap_is_413, setup, teardown),
      cmocka_unit_test_setup_teardown(malformed_json_is_400_with_a_typed_error, setup, teardown),
      cmocka_unit_test_setup_teardown(bundle_hostile_inputs_are_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(routes_refuse_hostile_paths_and_methods, setup, teardown),
      cmocka_unit_test(full_queue_is_429_for_its_tenant_only),
      cmocka_unit_test(tenant_at_its_concurrency_cap_is_429_others_run),
      cmocka_unit_test(install_waits_on_the_background_pool_not_a_calls_worker),
      cmocka_unit_test(registry_changes_are_paced_per_tenant),
      cmocka_unit_test(polling_threads_follow_the_setting),
      cmocka_unit_test(drain_finishes_calls_in_flight_and_refuses_new_ones_503),
      cmocka_unit_test_setup_teardown(trap_and_timeout_beside_a_healthy_call, setup, teardown),
      cmocka_unit_test(short_calls_run_inline_and_long_ones_move_to_a_worker),
      cmocka_unit_test(inline_calls_can_be_turned_off),
      cmocka_unit_test(manifest_limits_are_capped_by_the_servers),
      cmocka_unit_test_setup_teardown(listen_errors_are_typed, setup, teardown),
      cmocka_unit_test_setup_teardown(mcp_initialize_tools_list_and_call_over_http, setup, teardown),
      cmocka_unit_test_setup_teardown(mcp_2025_03_26_session_takes_batches_and_no_version_header, setup, teardown),
      cmocka_unit_test_setup_teardown(mcp_stateless_2026_07_28_checks_the_version_header, setup, teardown),
      cmocka_unit_test_setup_teardown(mcp_refuses_no_token_and_web_origins, setup, teardown),
      cmocka_unit_test_setup_teardown(mcp_escaped_nul_is_a_parse_error, setup, teardown),
      cmocka_unit_test(token_lookups_past_the_rate_wait_their_turn),
      cmocka_unit_test(stop_while_token_lookups_wait),
      cmocka_unit_test(public_answers_past_the_rate_wait_their_turn),
      cmocka_unit_test(a_tenant_of_cheap_requests_goes_over_its_share),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
