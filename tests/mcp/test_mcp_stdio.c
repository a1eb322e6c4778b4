/*
 * This file implements the tests of `cis mcp` as an MCP client drives it:
 * a scripted client that starts the program with a fresh CIS_HOME (the
 * skills of mcp_fixture.c), writes newline-delimited JSON-RPC messages to
 * its stdin and reads one reply per line from its stdout, as the stdio
 * transport of the specification describes. Every read and the wait for
 * the exit are bounded (generously: they guard against a hang, they do not
 * time anything).
 *
 * argv[1] is the cis program, argv[2] the folder of the .wasm fixtures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "mcp/mcp_fixture.h"

#define WAIT_MS 60000 /* the most a reply or the exit may take */

static const char *cis_path, *fixtures;
static char home[128];

typedef struct server {
  pid_t pid;
  int in;          /* its stdin (we write) */
  int out;         /* its stdout (we read) */
  char buf[1 << 16];
  size_t len;      /* bytes buffered from out */
} server;

static server *start(const char *const *extra) {
  int in[2], out[2];
  assert_int_equal(pipe(in), 0);
  assert_int_equal(pipe(out), 0);
  server *s = calloc(1, sizeof *s);
  s->pid = fork();
  assert_true(s->pid >= 0);
  if (s->pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    setenv("CIS_HOME", home, 1);
    const char *argv[8] = {cis_path, "mcp"};
    for (int i = 0; extra && extra[i] && i < 5; i++) argv[2 + i] = extra[i];
    execv(cis_path, (char *const *)argv);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  s->in = in[1];
  s->out = out[0];
  return s;
}

static void send_bytes(server *s, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(s->in, p, n);
    if (w < 0 && errno == EINTR) continue;
    assert_true(w > 0);
    p += w;
    n -= (size_t)w;
  }
}

static void send_line(server *s, const char *msg) {
  send_bytes(s, msg, strlen(msg));
  send_bytes(s, "\n", 1);
}

/* The next line of stdout, parsed (it must be one JSON-RPC message); NULL
 * at end of output. */
static cJSON *read_reply(server *s) {
  for (;;) {
    char *nl = memchr(s->buf, '\n', s->len);
    if (nl) {
      size_t n = (size_t)(nl - s->buf);
      cJSON *d = cJSON_ParseWithLength(s->buf, n);
      if (!d) fail_msg("stdout line is not JSON: %.*s", (int)n, s->buf);
      memmove(s->buf, nl + 1, s->len - n - 1);
      s->len -= n + 1;
      cJSON *v = cJSON_GetObjectItemCaseSensitive(d, "jsonrpc");
      assert_true(cJSON_IsString(v) && !strcmp(v->valuestring, "2.0"));
      return d;
    }
    struct pollfd p = {.fd = s->out, .events = POLLIN};
    int r = poll(&p, 1, WAIT_MS);
    if (r == 0) fail_msg("no reply from cis mcp within %d ms", WAIT_MS);
    if (r < 0 && errno == EINTR) continue;
    assert_true(s->len < sizeof s->buf);
    ssize_t got = read(s->out, s->buf + s->len, sizeof s->buf - s->len);
    if (got < 0 && errno == EINTR) continue;
    assert_true(got >= 0);
    if (got == 0) {
      assert_int_equal(s->len, 0); /* no partial line at the end */
      return NULL;
    }
    s->len += (size_t)got;
  }
}

/* Closes stdin and returns the exit status (bounded wait). */
static int finish(server *s) {
  close(s->in);
  cJSON *extra = read_reply(s);
  if (extra) fail_msg("unexpected output after the last reply: %s", cJSON_PrintUnformatted(extra));
  int status = -1;
  for (int i = 0; i < WAIT_MS / 10; i++) {
    pid_t w = waitpid(s->pid, &status, WNOHANG);
    if (w == s->pid) break;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (waitpid(s->pid, &status, WNOHANG) == 0) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
    fail_msg("cis mcp did not exit after end of input");
  }
  close(s->out);
  free(s);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static cJSON *get(const cJSON *o, const char *path) {
  char buf[200];
  snprintf(buf, sizeof buf, "%s", path);
  const cJSON *cur = o;
  for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
    cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, atoi(k)) : cJSON_GetObjectItemCaseSensitive(cur, k);
  return (cJSON *)cur;
}

static const char *str(const cJSON *o, const char *path) {
  const cJSON *v = get(o, path);
  if (!cJSON_IsString(v)) fail_msg("%s: not a string in %s", path, cJSON_PrintUnformatted(o));
  return v->valuestring;
}

/* The error code of reply d (freed), checking its id's JSON text. */
static int error_code(cJSON *d, const char *id_json) {
  assert_non_null(d);
  char *id = cJSON_PrintUnformatted(get(d, "id"));
  assert_string_equal(id, id_json);
  free(id);
  const cJSON *c = get(d, "error.code");
  if (!cJSON_IsNumber(c)) fail_msg("not an error: %s", cJSON_PrintUnformatted(d));
  int code = c->valueint;
  cJSON_Delete(d);
  return code;
}

#define INIT(v) \
  "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"" v \
  "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"scripted\",\"version\":\"1\"}}}"

static void stdio_session_follows_the_specification(void **state) {
  (void)state;
  server *s = start(NULL);
  send_line(s, INIT("2025-11-25"));
  cJSON *d = read_reply(s);
  assert_string_equal(str(d, "result.protocolVersion"), "2025-11-25");
  assert_string_equal(str(d, "result.serverInfo.name"), "cis");
  assert_true(cJSON_IsObject(get(d, "result.capabilities.tools")));
  cJSON_Delete(d);
  /* The notification gets nothing: the next line is the ping's reply. */
  send_line(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":\"ping-1\",\"method\":\"ping\"}");
  d = read_reply(s);
  assert_string_equal(str(d, "id"), "ping-1");
  assert_true(cJSON_IsObject(get(d, "result")));
  cJSON_Delete(d);

  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
  d = read_reply(s);
  const cJSON *tools = get(d, "result.tools");
  assert_int_equal(cJSON_GetArraySize(tools), 7);
  assert_string_equal(str(tools, "0.name"), "echo");
  assert_string_equal(str(tools, "0.description"), "Answers with its input");
  char *schema = cJSON_PrintUnformatted(get(tools, "0.inputSchema"));
  assert_string_equal(schema, ECHO_SCHEMA);
  free(schema);
  schema = cJSON_PrintUnformatted(get(tools, "4.inputSchema"));
  assert_string_equal(schema, "{\"type\":\"object\"}");
  free(schema);
  cJSON_Delete(d);

  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"hello\"}}}");
  d = read_reply(s);
  assert_int_equal(get(d, "id")->valueint, 3);
  assert_string_equal(str(d, "result.content.0.text"), "{\"text\":\"hello\"}");
  assert_string_equal(str(d, "result.structuredContent.text"), "hello");
  assert_true(cJSON_IsFalse(get(d, "result.isError")));
  cJSON_Delete(d);

  /* A trap and a timeout are tool errors; the server keeps serving. */
  const char *failing[] = {"trap", "spin"};
  for (int i = 0; i < 2; i++) {
    char msg[200];
    snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\"}}", 10 + i,
             failing[i]);
    send_line(s, msg);
    d = read_reply(s);
    assert_int_equal(get(d, "id")->valueint, 10 + i);
    assert_true(cJSON_IsTrue(get(d, "result.isError")));
    assert_true(!strncmp(str(d, "result.content.0.text"), i ? "CIS_ETIMEOUT:" : "CIS_TRAP_", i ? 13 : 9));
    cJSON_Delete(d);
  }
  /* A skill's log line goes to stderr: the next line of stdout is the
   * reply (read_reply fails on a line that is not JSON). */
  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tools/call\",\"params\":{\"name\":\"logger\"}}");
  d = read_reply(s);
  assert_true(cJSON_IsTrue(get(d, "result.structuredContent.logged")));
  cJSON_Delete(d);
  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"missing\",\"arguments\":{}}}");
  assert_int_equal(error_code(read_reply(s), "4"), -32602);
  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"prompts/list\"}");
  assert_int_equal(error_code(read_reply(s), "5"), -32601);
  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":"); /* malformed */
  assert_int_equal(error_code(read_reply(s), "null"), -32700);
  send_line(s, "[1,2]"); /* not a JSON-RPC 2.0 object */
  assert_int_equal(error_code(read_reply(s), "null"), -32600);
  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"plain\",\"arguments\":{\"n\":7}}}");
  d = read_reply(s);
  assert_int_equal(get(d, "result.structuredContent.n")->valueint, 7);
  cJSON_Delete(d);
  assert_int_equal(finish(s), 0);
}

static void stdio_initialize_negotiates_the_version(void **state) {
  (void)state;
  const char *asked[] = {INIT("2025-06-18"), INIT("2025-11-25"), INIT("2024-11-05"), INIT("2025-03-26"),
                         INIT("2099-01-01")};
  const char *answered[] = {"2025-06-18", "2025-11-25", "2024-11-05", "2025-03-26", "2025-11-25"};
  for (int i = 0; i < 5; i++) {
    server *s = start(NULL);
    send_line(s, asked[i]);
    cJSON *d = read_reply(s);
    assert_string_equal(str(d, "result.protocolVersion"), answered[i]);
    cJSON_Delete(d);
    assert_int_equal(finish(s), 0);
  }
  /* 2026-07-28 has no handshake: each request names its version. */
  server *s = start(NULL);
  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"server/discover\",\"params\":{\"_meta\":{"
               "\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{}}}}");
  cJSON *d = read_reply(s);
  assert_string_equal(str(d, "result.supportedVersions.0"), "2026-07-28");
  assert_string_equal(str(d, "result.resultType"), "complete");
  cJSON_Delete(d);
  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":{\"_meta\":{"
               "\"io.modelcontextprotocol/protocolVersion\":\"2030-01-01\",\"io.modelcontextprotocol/clientCapabilities\":{}}}}");
  assert_int_equal(error_code(read_reply(s), "2"), -32022);
  assert_int_equal(finish(s), 0);
}

static void stdio_request_before_initialize_is_refused(void **state) {
  (void)state;
  server *s = start(NULL);
  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
  assert_int_equal(error_code(read_reply(s), "1"), -32600);
  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}"); /* pings are allowed */
  cJSON *d = read_reply(s);
  assert_true(cJSON_IsObject(get(d, "result")));
  cJSON_Delete(d);
  assert_int_equal(finish(s), 0);
}

static void stdio_line_over_4mib_is_parse_error_then_serving_goes_on(void **state) {
  (void)state;
  server *s = start(NULL);
  size_t n = 4u * 1024 * 1024 + 16;
  char *big = malloc(n);
  memset(big, ' ', n);
  big[0] = '[';
  big[n - 1] = ']';
  send_bytes(s, big, n);
  send_bytes(s, "\n", 1);
  free(big);
  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":\"next\",\"method\":\"ping\"}");
  cJSON *d = read_reply(s);
  assert_non_null(strstr(str(d, "error.message"), "4194304 bytes"));
  assert_int_equal(error_code(d, "null"), -32700);
  d = read_reply(s);
  assert_string_equal(str(d, "id"), "next");
  cJSON_Delete(d);
  assert_int_equal(finish(s), 0);
  /* --max-message sets the cap. */
  const char *small[] = {"--max-message", "64", NULL};
  s = start(small);
  send_line(s, INIT("2025-06-18")); /* longer than 64 bytes */
  assert_int_equal(error_code(read_reply(s), "null"), -32700);
  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
  cJSON_Delete(read_reply(s));
  assert_int_equal(finish(s), 0);
}

static void stdio_end_of_input_exits_zero(void **state) {
  (void)state;
  server *s = start(NULL);
  assert_int_equal(finish(s), 0);
}

static void stdio_bad_flags_exit_two(void **state) {
  (void)state;
  const char *bad[][3] = {{"--max-message", "0", NULL}, {"--nope", NULL, NULL}, {"extra", NULL, NULL}};
  for (int i = 0; i < 3; i++) {
    server *s = start(bad[i]);
    assert_int_equal(finish(s), 2);
  }
}

/* The fixture registry, opened on the test's home. */
static cis_skills *open_home(void) {
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  cis_skills *s = NULL;
  if (cis_skills_open(&c, &s) != CIS_OK) fail_msg("open %s: %s", home, cis_skills_errmsg(s));
  return s;
}

static void stdio_cancelled_call_is_not_answered_and_the_session_goes_on(void **state) {
  (void)state;
  /* A skill that spins until its 30 s deadline: if the cancel did not
   * reach it, its (isError) reply would come within WAIT_MS and finish()
   * would fail on it. */
  cis_skills *reg = open_home();
  assert_int_equal(mcp_fixture_add(reg, fixtures, "longspin", "spin", ",\"limits\":{\"timeout_ms\":30000}"), 0);
  cis_skills_close(reg);
  server *s = start(NULL);
  send_line(s, INIT("2025-11-25"));
  cJSON_Delete(read_reply(s));
  send_line(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":\"longspin\"}}");
  /* Reading goes on while it runs: the ping behind it is answered. */
  send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}");
  cJSON *d = read_reply(s);
  assert_int_equal(get(d, "id")->valueint, 6);
  cJSON_Delete(d);
  /* Cancelled, with a ping after each cancel (answered: nothing else is),
   * 100 times over at least 2 s, in case the call is not in flight yet. */
  for (int i = 0; i < 100; i++) {
    send_line(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":5,\"reason\":\"stop\"}}");
    send_line(s, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}");
    d = read_reply(s);
    assert_string_equal(str(d, "id"), "p");
    cJSON_Delete(d);
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  /* End of input: the server waits for the (cancelled) call, writes
   * nothing more and exits 0. */
  assert_int_equal(finish(s), 0);
  reg = open_home();
  assert_int_equal(cis_skills_remove(reg, "longspin"), CIS_OK);
  cis_skills_close(reg);
}

static int setup(void **state) {
  (void)state;
  cis_skills *s = mcp_fixture_open(fixtures, home, sizeof home);
  if (!s) return -1;
  cis_skills_close(s);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  mcp_fixture_remove(home);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: test_mcp_stdio CIS FIXTURE_DIR\n");
    return 2;
  }
  cis_path = argv[1];
  fixtures = argv[2];
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(stdio_session_follows_the_specification),
      cmocka_unit_test(stdio_initialize_negotiates_the_version),
      cmocka_unit_test(stdio_request_before_initialize_is_refused),
      cmocka_unit_test(stdio_line_over_4mib_is_parse_error_then_serving_goes_on),
      cmocka_unit_test(stdio_end_of_input_exits_zero),
      cmocka_unit_test(stdio_bad_flags_exit_two),
      cmocka_unit_test(stdio_cancelled_call_is_not_answered_and_the_session_goes_on),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
