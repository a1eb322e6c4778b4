/*
 * This file implements the tests of cis against the official MCP
 * TypeScript SDK, one release per protocol version (clients/package.json:
 * 1.0.4 speaks 2024-11-05, 1.12.1 2025-03-26, 1.17.5 2025-06-18, 1.32.2
 * 2025-11-25). Each client (clients/probe.mjs, run with node) connects over
 * stdio (it starts `cis mcp`) and, where its release has the streamable
 * HTTP transport (1.10 on), over /mcp of a server run here; it lists the
 * tools and calls one. The version agreed must be the SDK's newest, and
 * the server's messages must hold what that version knows and nothing
 * newer (docs/mcp.md, "Protocol versions").
 *
 * argv[1]: the cis program, argv[2]: the .wasm fixtures, argv[3]: node,
 * argv[4]: the folder holding probe.mjs and the SDKs' node_modules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cis/cis_serve.h"
#include "mcp/mcp_fixture.h"

#define WAIT_MS 90000 /* the most one client may take (node starts slowly on a loaded machine) */

static const char *cis_path, *fixtures, *node, *clients;
static char home[128];
static char token[CIS_TOKEN_MAX];
static cis_server *server;
static int port;

static int setup(void **state) {
  (void)state;
  cis_skills *s = mcp_fixture_open(fixtures, home, sizeof home);
  if (!s) return -1;
  cis_skills_close(s);
  setenv("CIS_HOME", home, 1); /* the stdio clients start `cis mcp` with our environment */
  cis_tokens *t = NULL;
  if (cis_tokens_open(home, &t) != CIS_OK ||
      cis_tokens_create(t, "default", "sdk", token, sizeof token, NULL) != CIS_OK) {
    fprintf(stderr, "tokens: %s\n", cis_tokens_errmsg(t));
    cis_tokens_close(t);
    return -1;
  }
  cis_tokens_close(t);
  cis_server_config c;
  cis_server_config_default(&c);
  const char *listen[] = {"127.0.0.1:0"};
  c.listen = listen;
  c.nlisten = 1;
  c.skills.home = home;
  c.workers = 2;
  if (cis_server_start(&c, &server) != CIS_OK) {
    fprintf(stderr, "server: %s\n", cis_errmsg(server));
    cis_server_free(server);
    server = NULL;
    return -1;
  }
  port = cis_server_port(server, 0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  cis_server_free(server);
  mcp_fixture_remove(home);
  return 0;
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Runs probe.mjs with argv (after the script) and returns its one line of
 * output, parsed; fails the test when it exits non-zero or takes longer
 * than WAIT_MS. */
static cJSON *probe(const char *const *args) {
  int out[2];
  assert_int_equal(pipe(out), 0);
  char script[600];
  snprintf(script, sizeof script, "%s/probe.mjs", clients);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]), close(out[1]);
    if (chdir(clients) != 0) _exit(126);
    const char *argv[12] = {node, script};
    for (int i = 0; args[i] && i < 9; i++) argv[2 + i] = args[i];
    execv(node, (char *const *)argv);
    _exit(127);
  }
  close(out[1]);
  static char buf[1 << 20];
  size_t len = 0;
  long deadline = now_ms() + WAIT_MS;
  for (;;) {
    struct pollfd p = {.fd = out[0], .events = POLLIN};
    long left = deadline - now_ms();
    if (left <= 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      close(out[0]);
      fail_msg("probe %s %s: no answer within %d ms", args[0], args[1], WAIT_MS);
    }
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = read(out[0], buf + len, sizeof buf - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    assert_true(len < sizeof buf - 1);
  }
  close(out[0]);
  buf[len] = 0;
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("probe %s %s failed (status %d; its reason is on stderr above)", args[0], args[1], status);
  cJSON *d = cJSON_Parse(buf);
  if (!d) fail_msg("probe %s %s: not JSON: %s", args[0], args[1], buf);
  return d;
}

static const cJSON *at(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

/* The tool named name in a tools/list result. */
static const cJSON *tool_named(const cJSON *list, const char *name) {
  const cJSON *t;
  cJSON_ArrayForEach(t, at(list, "tools")) {
    const cJSON *n = at(t, "name");
    if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) return t;
  }
  fail_msg("no tool %s in the list", name);
  return NULL;
}

/* Checks one client's run: it agreed on want, saw the tools, got the
 * skill's output, and the server's messages held exactly what want has. */
static void check(cJSON *d, const char *want) {
  const cJSON *init = at(d, "initialize"), *list = at(d, "list"), *call = at(d, "call");
  assert_true(cJSON_IsObject(init) && cJSON_IsObject(list) && cJSON_IsObject(call));
  assert_string_equal(at(init, "protocolVersion")->valuestring, want);
  assert_string_equal(at(at(init, "serverInfo"), "name")->valuestring, "cis");
  /* The SDK's names of the tools: the seven fixtures. */
  assert_int_equal(cJSON_GetArraySize(at(d, "names")), 7);
  assert_string_equal(at(d, "text")->valuestring, "{\"text\":\"hi\"}");
  bool v0326 = strcmp(want, "2025-03-26") >= 0, v0618 = strcmp(want, "2025-06-18") >= 0,
       v1125 = strcmp(want, "2025-11-25") >= 0;
  /* Implementation.title came in 2025-06-18, description in 2025-11-25. */
  assert_int_equal(at(at(init, "serverInfo"), "title") != NULL, v0618);
  assert_int_equal(at(at(init, "serverInfo"), "description") != NULL, v1125);
  /* Tool annotations came in 2025-03-26. */
  const cJSON *echo = tool_named(list, "echo");
  assert_int_equal(at(echo, "annotations") != NULL, v0326);
  if (v0326) assert_true(cJSON_IsTrue(at(at(echo, "annotations"), "readOnlyHint")));
  assert_null(at(echo, "title"));
  assert_null(at(echo, "outputSchema"));
  /* structuredContent came in 2025-06-18. */
  assert_int_equal(at(call, "structuredContent") != NULL, v0618);
  assert_true(cJSON_IsFalse(at(call, "isError")));
  /* Nothing of the stateless 2026-07-28. */
  assert_null(at(list, "resultType"));
  assert_null(at(call, "resultType"));
}

/* The release under an alias speaks the version the alias names as its
 * newest (package.json pins the right one). */
static void check_latest(cJSON *d, const char *version) {
  assert_string_equal(at(d, "latest")->valuestring, version);
}

static void over_stdio(const char *version) {
  char sdk[32];
  snprintf(sdk, sizeof sdk, "sdk-%s", version);
  const char *args[] = {sdk, "stdio", cis_path, "echo", NULL};
  cJSON *d = probe(args);
  check_latest(d, version);
  check(d, version);
  cJSON_Delete(d);
}

/* Over /mcp with the SDK of version sdk_version, asking for ask (NULL:
 * the SDK's own). */
static void over_http(const char *sdk_version, const char *ask) {
  char sdk[32], url[64];
  snprintf(sdk, sizeof sdk, "sdk-%s", sdk_version);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/mcp", port);
  const char *args[] = {sdk, "http", url, token, "echo", ask, NULL};
  cJSON *d = probe(args);
  check_latest(d, sdk_version);
  check(d, ask ? ask : sdk_version);
  cJSON_Delete(d);
}

static void sdk_2024_11_05_over_stdio(void **state) { (void)state, over_stdio("2024-11-05"); }
static void sdk_2025_03_26_over_stdio(void **state) { (void)state, over_stdio("2025-03-26"); }
static void sdk_2025_06_18_over_stdio(void **state) { (void)state, over_stdio("2025-06-18"); }
static void sdk_2025_11_25_over_stdio(void **state) { (void)state, over_stdio("2025-11-25"); }
static void sdk_2025_03_26_over_http(void **state) { (void)state, over_http("2025-03-26", NULL); }
static void sdk_2025_06_18_over_http(void **state) { (void)state, over_http("2025-06-18", NULL); }
static void sdk_2025_11_25_over_http(void **state) { (void)state, over_http("2025-11-25", NULL); }
/* 2024-11-05's own HTTP transport (HTTP+SSE, the only one SDK 1.0.x has)
 * is not served (docs/mcp.md); a streamable HTTP client asking for
 * 2024-11-05 gets it, and the MCP-Protocol-Version header it sends then. */
static void sdk_2025_11_25_asking_2024_11_05_over_http(void **state) {
  (void)state, over_http("2025-11-25", "2024-11-05");
}
static void sdk_2025_11_25_asking_2025_03_26_over_stdio(void **state) {
  (void)state;
  const char *args[] = {"sdk-2025-11-25", "stdio", cis_path, "echo", "2025-03-26", NULL};
  cJSON *d = probe(args);
  check(d, "2025-03-26");
  cJSON_Delete(d);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: test_mcp_sdk CIS FIXTURE_DIR NODE CLIENTS_DIR\n");
    return 2;
  }
  cis_path = argv[1];
  fixtures = argv[2];
  node = argv[3];
  clients = argv[4];
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sdk_2024_11_05_over_stdio),
      cmocka_unit_test(sdk_2025_03_26_over_stdio),
      cmocka_unit_test(sdk_2025_06_18_over_stdio),
      cmocka_unit_test(sdk_2025_11_25_over_stdio),
      cmocka_unit_test(sdk_2025_03_26_over_http),
      cmocka_unit_test(sdk_2025_06_18_over_http),
      cmocka_unit_test(sdk_2025_11_25_over_http),
      cmocka_unit_test(sdk_2025_11_25_asking_2024_11_05_over_http),
      cmocka_unit_test(sdk_2025_11_25_asking_2025_03_26_over_stdio),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
