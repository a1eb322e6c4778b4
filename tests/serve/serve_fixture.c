/*
 * This file implements what the server tests share (serve_fixture.h):
 * temporary homes, per-tenant handles and skills registered from the
 * built fixtures through the public API, the body that installs one over
 * HTTP, and `cis` run as a process (a command, or `cis serve` with its
 * port read from its first line).
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serve/serve_fixture.h"
#include "support/test_file.h"

int serve_home_new(char *home, size_t cap) {
  snprintf(home, cap, "/tmp/cis-serve-test-XXXXXX");
  return mkdtemp(home) ? 0 : -1;
}

void serve_home_remove(const char *home) {
  char cmd[600];
  if (!home[0] || strncmp(home, "/tmp/cis-serve-test-", 20) != 0) return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  if (system(cmd) != 0) fprintf(stderr, "serve fixture: could not remove %s\n", home);
}

cis_skills *serve_open(const char *home, const char *tenant) {
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  c.tenant = tenant;
  cis_skills *s = NULL;
  if (cis_skills_open(&c, &s) != CIS_OK) {
    fprintf(stderr, "serve fixture: open: %s\n", cis_skills_errmsg(s));
    cis_skills_close(s);
    return NULL;
  }
  return s;
}

cis_result serve_token(const char *home, const char *tenant, const char *name, char *token, size_t cap) {
  cis_tokens *t = NULL;
  cis_result rc = cis_tokens_open(home, &t);
  if (rc == CIS_OK) rc = cis_tokens_create(t, tenant, name, token, cap, NULL);
  cis_tokens_close(t);
  return rc;
}

void serve_config_loopback(cis_server_config *c, const char *home, unsigned workers) {
  static const char *const loopback[] = {"127.0.0.1:0"};
  cis_server_config_default(c);
  c->listen = loopback;
  c->nlisten = 1;
  c->skills.home = home;
  c->workers = workers;
}

uint8_t *serve_fixture(const char *dir, const char *name, size_t *len) {
  return cis_test_file_read_in(dir, name, ".wasm", len);
}

int serve_manifest(const uint8_t *wasm, size_t len, const char *name, const char *abi, const char *extra,
                   char *out, size_t cap) {
  char hex[65];
  if (cis_sha256_hex(wasm, len, hex) != CIS_OK) return -1;
  int n = snprintf(out, cap,
                   "{\"name\":\"%s\",\"version\":\"1.0\",\"abi\":\"%s\",\"wasm\":{\"path\":\"m.wasm\",\"sha256\":"
                   "\"%s\"}%s}",
                   name, abi, hex, extra);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

cis_result serve_register(cis_skills *s, const char *dir, const char *name, const char *fixture, const char *abi,
                          const char *extra) {
  size_t len = 0;
  uint8_t *wasm = serve_fixture(dir, fixture, &len);
  if (!wasm) return CIS_ENOTFOUND;
  char manifest[2048];
  cis_result rc = CIS_EINVAL;
  if (serve_manifest(wasm, len, name, abi, extra, manifest, sizeof manifest) == 0)
    rc = cis_skills_register(s, wasm, len, manifest, strlen(manifest));
  if (rc != CIS_OK) fprintf(stderr, "serve fixture: %s: %s: %s\n", name, cis_errname(rc), cis_skills_errmsg(s));
  free(wasm);
  return rc;
}

char *serve_base64(const uint8_t *p, size_t n) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *o = malloc((n + 2) / 3 * 4 + 1), *q = o;
  for (size_t i = 0; o && i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    *q++ = a[v >> 18];
    *q++ = a[(v >> 12) & 63];
    *q++ = i + 1 < n ? a[(v >> 6) & 63] : '=';
    *q++ = i + 2 < n ? a[v & 63] : '=';
  }
  if (q) *q = 0;
  return o;
}

char *serve_install_request(const char *dir, const char *fixture, const char *name, const char *abi,
                            const char *extra) {
  size_t len = 0;
  uint8_t *wasm = serve_fixture(dir, fixture, &len);
  char manifest[2048], *w = NULL, *body = NULL;
  if (wasm && serve_manifest(wasm, len, name, abi, extra, manifest, sizeof manifest) == 0 &&
      (w = serve_base64(wasm, len)) != NULL) {
    size_t cap = strlen(manifest) + strlen(w) + 64;
    if ((body = malloc(cap)) != NULL) snprintf(body, cap, "{\"manifest\":%s,\"wasm_base64\":\"%s\"}", manifest, w);
  }
  free(w);
  free(wasm);
  return body;
}

static void nap_100ms(void) {
  struct timespec ts = {0, 100 * 1000000};
  nanosleep(&ts, NULL);
}

/* Spawns argv (argv[0] the program) in env with its stdout on a pipe,
 * the read end into *out. When in is not NULL its stdin is a pipe too,
 * the write end into *in (else it is ours); when err_path is not NULL its
 * stderr goes to that file, made or truncated. 0, or -1 with nothing
 * left open. */
static int spawn_piped(char *const *argv, char *const *env, const char *err_path, pid_t *pid, int *in, int *out) {
  int o[2], i[2] = {-1, -1};
  if (pipe2(o, O_CLOEXEC) != 0) return -1;
  if (in && pipe2(i, O_CLOEXEC) != 0) {
    close(o[0]);
    close(o[1]);
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (in) posix_spawn_file_actions_adddup2(&fa, i[0], 0);
  posix_spawn_file_actions_adddup2(&fa, o[1], 1);
  if (err_path) posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int rc = posix_spawn(pid, argv[0], &fa, NULL, argv, env);
  posix_spawn_file_actions_destroy(&fa);
  close(o[1]);
  if (in) close(i[0]);
  if (rc != 0) {
    close(o[0]);
    if (in) close(i[1]);
    return -1;
  }
  *out = o[0];
  if (in) *in = i[1];
  return 0;
}

/* Reads fd into buf (cap bytes, NUL-terminated) until EOF, a full
 * buffer, or until (when line) a newline has come; at most tries polls of
 * 100 ms. The count read. */
static size_t read_bounded(int fd, char *buf, size_t cap, int line, int tries) {
  size_t got = 0;
  for (int i = 0; i < tries && got < cap - 1 && !(line && memchr(buf, '\n', got)); i++) {
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, 100) <= 0) continue;
    ssize_t k = read(fd, buf + got, cap - 1 - got);
    if (k <= 0) break;
    got += (size_t)k;
  }
  buf[got] = 0;
  return got;
}

/* Waits (tries times 100 ms) for pid to exit, then kills it; its exit
 * status, or -1. */
static int wait_bounded(pid_t pid, int tries) {
  int st;
  for (int i = 0; i < tries; i++) {
    if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    nap_100ms();
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  return -1;
}

int serve_run_cis(const char *cis, char *const *env, char *out, size_t cap, const char *const *args) {
  return serve_run_cis_input(cis, env, NULL, NULL, out, cap, args);
}

int serve_run_cis_input(const char *cis, char *const *env, const char *input, const char *err_path, char *out,
                        size_t cap, const char *const *args) {
  char *argv[16] = {(char *)cis};
  int n = 1;
  for (; args[n - 1] && n < 15; n++) argv[n] = (char *)args[n - 1];
  argv[n] = NULL;
  pid_t pid;
  int fd, in = -1;
  if (spawn_piped(argv, env, err_path, &pid, input ? &in : NULL, &fd) != 0) return -1;
  bool written = true;
  if (input) { /* small (see serve_fixture.h): the pipe takes it before cis reads */
    size_t len = strlen(input), done = 0;
    while (written && done < len) {
      ssize_t w = write(in, input + done, len - done);
      if (w < 0) written = false;
      else done += (size_t)w;
    }
    close(in);
  }
  if (written) read_bounded(fd, out, cap, 0, 1200);
  else out[0] = 0;
  close(fd);
  return wait_bounded(pid, 1200);
}

int serve_proc_start(serve_proc *sv, const char *cis, char *const *env, const char *const *extra) {
  return serve_proc_start_via(sv, NULL, cis, env, extra);
}

/* Servers started and not yet waited for, for serve_procs_kill: a failed
 * assertion leaves its test at once, and a server left running holds the
 * runner's stderr open, so ctest would wait for it to its timeout. */
#define SERVE_PROCS_MAX 16
static serve_proc g_live[SERVE_PROCS_MAX]; /* copies (the test's own may be on a stack gone); pid 0: free */

static void live_add(const serve_proc *sv) {
  for (int i = 0; i < SERVE_PROCS_MAX; i++)
    if (!g_live[i].pid) {
      g_live[i] = *sv;
      return;
    }
  fprintf(stderr, "serve fixture: more than %d servers at once: not tracked\n", SERVE_PROCS_MAX);
}

void serve_proc_forget(const serve_proc *sv) {
  for (int i = 0; i < SERVE_PROCS_MAX; i++)
    if (g_live[i].pid == sv->pid) g_live[i].pid = 0;
}

int serve_procs_kill(void **state) {
  (void)state;
  for (int i = 0; i < SERVE_PROCS_MAX; i++) {
    if (!g_live[i].pid) continue;
    kill(g_live[i].pid, SIGKILL);
    waitpid(g_live[i].pid, NULL, 0);
    close(g_live[i].out);
    g_live[i].pid = 0;
  }
  return 0;
}

int serve_proc_start_via(serve_proc *sv, const char *const *launcher, const char *cis, char *const *env,
                         const char *const *extra) {
  char *argv[24];
  int n = 0;
  for (size_t i = 0; launcher && launcher[i] && n < 8; i++) argv[n++] = (char *)launcher[i];
  argv[n++] = (char *)cis;
  argv[n++] = "serve";
  argv[n++] = "--listen";
  argv[n++] = "127.0.0.1:0";
  for (size_t i = 0; extra && extra[i] && n < 23; i++) argv[n++] = (char *)extra[i];
  argv[n] = NULL;
  if (spawn_piped(argv, env, NULL, &sv->pid, NULL, &sv->out) != 0) return -1;
  char line[256];
  read_bounded(sv->out, line, sizeof line, 1, 600);
  if (sscanf(line, "listening 127.0.0.1:%d", &sv->port) == 1) {
    live_add(sv); /* from here serve_procs_kill ends it if the test does not */
    return 0;
  }
  fprintf(stderr, "serve fixture: cis serve did not say its port: %s\n", line);
  kill(sv->pid, SIGKILL);
  wait_bounded(sv->pid, 1200);
  close(sv->out);
  return -1;
}

int serve_proc_wait(serve_proc *sv) {
  int st = wait_bounded(sv->pid, 1200);
  close(sv->out);
  serve_proc_forget(sv);
  return st;
}
