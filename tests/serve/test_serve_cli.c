/*
 * This file implements the tests of `cis serve` and `cis token` as an
 * operator runs them: tokens made, listed and revoked with the CLI and
 * honoured by a running server, and SIGTERM draining it (the call in
 * flight answers 200, a new one gets 503 or finds the port closed, and
 * the process exits 0). Every wait is bounded.
 *
 * argv[1]: the cis program; argv[2]: the folder of the built fixtures.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cis/cis_serve.h"
#include "serve/http_client.h"
#include "serve/serve_fixture.h"

static const char *g_cis, *g_dir;

/* Runs cis with args and CIS_HOME=home; its stdout into out (cap bytes).
 * Returns the exit status, -1 when it could not run or took over 120 s. */
static int run_cis(const char *home, char *out, size_t cap, const char *const *args) {
  char envhome[300];
  snprintf(envhome, sizeof envhome, "CIS_HOME=%s", home);
  char *env[] = {envhome, "PATH=/usr/bin:/bin", NULL};
  return serve_run_cis(g_cis, env, out, cap, args);
}

/* Starts `cis serve --listen 127.0.0.1:0 EXTRA...` on home. */
static int serve_start(const char *home, serve_proc *sv, const char *const *extra) {
  char envhome[300];
  snprintf(envhome, sizeof envhome, "CIS_HOME=%s", home);
  char *env[] = {envhome, "PATH=/usr/bin:/bin", NULL};
  return serve_proc_start(sv, g_cis, env, extra);
}

static int install(int port, const char *token, const char *name, const char *fixture, const char *abi,
                   const char *extra) {
  char *body = serve_install_request(g_dir, fixture, name, abi, extra);
  if (!body) return -1;
  http_resp r;
  int st = http_send(port, "POST", "/v1/skills", token, body, &r) == 0 ? r.status : 0;
  http_resp_free(&r);
  free(body);
  return st;
}

static int status_of(int port, const char *method, const char *path, const char *token, const char *body) {
  http_resp r;
  if (http_send(port, method, path, token, body, &r) != 0) return 0;
  int st = r.status;
  http_resp_free(&r);
  return st;
}

static void token_cli_create_list_revoke_seen_by_a_running_server(void **state) {
  (void)state;
  char home[128], tok[256], out[4096];
  assert_int_equal(serve_home_new(home, sizeof home), 0);
  const char *create[] = {"token", "create", "--tenant", "acme", "--name", "ci", NULL};
  assert_int_equal(run_cis(home, tok, sizeof tok, create), 0);
  tok[strcspn(tok, "\n")] = 0;
  assert_int_equal(strncmp(tok, "cis_", 4), 0);
  const char *list[] = {"token", "list", NULL};
  assert_int_equal(run_cis(home, out, sizeof out, list), 0);
  assert_non_null(strstr(out, "ci"));
  assert_non_null(strstr(out, "acme"));
  assert_null(strstr(out, tok + 6)); /* never the token */
  const char *bad[] = {"token", "create", "--tenant", "no spaces", NULL};
  assert_int_equal(run_cis(home, out, sizeof out, bad), 2);
  serve_proc sv;
  assert_int_equal(serve_start(home, &sv, NULL), 0);
  assert_int_equal(status_of(sv.port, "GET", "/v1/skills", tok, NULL), 200);
  const char *revoke[] = {"token", "revoke", "ci", NULL};
  assert_int_equal(run_cis(home, out, sizeof out, revoke), 0);
  assert_int_equal(status_of(sv.port, "GET", "/v1/skills", tok, NULL), 401);
  assert_int_equal(run_cis(home, out, sizeof out, revoke), 1); /* gone */
  kill(sv.pid, SIGTERM);
  assert_int_equal(serve_proc_wait(&sv), 0);
  serve_home_remove(home);
}

typedef struct call {
  int port;
  const char *token;
  int status;
  char out[256];
} call;

static void *call_main(void *arg) {
  call *c = arg;
  http_resp r;
  if (http_send(c->port, "POST", "/v1/skills/sleep/invoke", c->token, "{}", &r) == 0) {
    c->status = r.status;
    snprintf(c->out, sizeof c->out, "%s", r.body);
    http_resp_free(&r);
  }
  return NULL;
}

static void sigterm_drains_the_call_in_flight_then_exits_0(void **state) {
  (void)state;
  char home[128], tok[256];
  assert_int_equal(serve_home_new(home, sizeof home), 0);
  const char *create[] = {"token", "create", "--tenant", "acme", NULL};
  assert_int_equal(run_cis(home, tok, sizeof tok, create), 0);
  tok[strcspn(tok, "\n")] = 0;
  serve_proc sv;
  const char *extra[] = {"--workers", "2", NULL};
  assert_int_equal(serve_start(home, &sv, extra), 0);
  assert_int_equal(install(sv.port, tok, "sleep", "sleep", "wasi", ",\"limits\":{\"timeout_ms\":30000}"), 201);
  call c = {.port = sv.port, .token = tok};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, call_main, &c), 0);
  /* Until the call runs (bounded: 60 s). */
  int busy = 0;
  for (int i = 0; i < 3000 && !busy; i++) {
    http_resp r;
    busy = http_get(sv.port, "/metrics", NULL, &r) == 0 && strstr(r.body, "cis_pool_busy 1\n");
    http_resp_free(&r);
    struct timespec ts = {0, 20 * 1000000};
    if (!busy) nanosleep(&ts, NULL);
  }
  assert_true(busy);
  assert_int_equal(kill(sv.pid, SIGTERM), 0);
  /* A new call: 503 while it drains, or no connection once it closed. */
  int st = 503;
  for (int i = 0; i < 100; i++) {
    st = status_of(sv.port, "POST", "/v1/skills/sleep/invoke", tok, "{}");
    if (st == 503 || st == 0) break;
    struct timespec ts = {0, 10 * 1000000};
    nanosleep(&ts, NULL); /* the signal may not have landed yet */
  }
  assert_true(st == 503 || st == 0);
  pthread_join(th, NULL);
  assert_int_equal(c.status, 200);
  assert_non_null(strstr(c.out, "\"slept\":true"));
  assert_int_equal(serve_proc_wait(&sv), 0);
  serve_home_remove(home);
}

static void serve_refuses_bad_flags_and_addresses(void **state) {
  (void)state;
  char home[128], out[1024];
  assert_int_equal(serve_home_new(home, sizeof home), 0);
  const char *a[] = {"serve", "--workers", "0", NULL};
  assert_int_equal(run_cis(home, out, sizeof out, a), 2);
  const char *b[] = {"serve", "--listen", "nohostport", NULL};
  assert_int_equal(run_cis(home, out, sizeof out, b), 2); /* CIS_EINVAL */
  const char *c[] = {"serve", "--listen", "127.0.0.1:99999", NULL};
  assert_int_equal(run_cis(home, out, sizeof out, c), 2);
  serve_home_remove(home);
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  g_cis = argv[1];
  g_dir = argv[2];
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(token_cli_create_list_revoke_seen_by_a_running_server),
      cmocka_unit_test(sigterm_drains_the_call_in_flight_then_exits_0),
      cmocka_unit_test(serve_refuses_bad_flags_and_addresses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
