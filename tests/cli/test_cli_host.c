/*
 * This file tests the host side of the command line (issue 11, what was
 * left): `cis serve` reading the one configuration (file < environment <
 * flags) and `cis config show` listing its settings; `cis run
 * --skill-host`, which links the skill host API so --invoke can call a
 * skill module's functions under the permissions its flags grant; and the
 * code offsets of a trap's wasm backtrace.
 *
 *   test_cli_host CIS_BINARY CLI_FIXTURE_DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli_run.h"
#include "support/test_file.h"

extern char **environ;

static const char *cis_bin;  /* the program under test */
static const char *cli_fx;   /* tests/cli's compiled fixtures */
static char tmpdir[] = "/tmp/cis-cli-host-XXXXXX";
static char home[512];       /* CIS_HOME of the current test */

/* A fresh $CIS_HOME for the test, and no configuration from outside. */
static int fresh(void **st) {
  (void)st;
  static int k;
  snprintf(home, sizeof home, "%s/home%d", tmpdir, k++);
  mkdir(home, 0700);
  setenv("CIS_HOME", home, 1);
  const char *vars[] = {"CIS_CONFIG", "CIS_AI_BASE_URL", "CIS_AI_MODEL", "CIS_AI_KEY_ENV", "CIS_KV", "CIS_FS_DB",
                        "CIS_TIMEOUT", "CIS_MAX_MEMORY", "CIS_LOG_FORMAT", "CIS_LOG_LEVEL", "CIS_LOG_JSON",
                        "CIS_SERVE_LISTEN", "CIS_SERVE_WORKERS", "CIS_REQUIRE_SIGNATURE"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) unsetenv(vars[i]);
  return 0;
}

/* ----------------------------------------------------------- cis serve */

/* Starts `cis serve ARGS...`, waits (at most 60 s) for its "listening"
 * line, stops it with SIGTERM and returns what it wrote. A server that
 * exits by itself (a bad setting) is returned as it ended. */
static run_out *serve_once(const char *first, ...) {
  const char *argv[40];
  int n = 0;
  argv[n++] = cis_bin;
  argv[n++] = "serve";
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a && n < 39; a = va_arg(ap, const char *)) argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  pid_t pid = spawn(argv);
  char out[4096];
  double t0 = now();
  for (;;) {
    char path[600];
    snprintf(path, sizeof path, "%s/stdout", tmpdir);
    slurp(path, out, sizeof out);
    if (strstr(out, "\n")) break; /* the listening lines are written at once */
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      /* It ended: report its status as reap would. */
      run_out *r = calloc(1, sizeof *r);
      assert_non_null(r);
      r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      slurp(path, r->out, sizeof r->out);
      snprintf(path, sizeof path, "%s/stderr", tmpdir);
      slurp(path, r->err, sizeof r->err);
      return r;
    }
    if (now() - t0 > 60) break;
    usleep(10000);
  }
  kill(pid, SIGTERM);
  return reap(pid);
}

/* serve.listen from the file, over it the environment, over both a flag;
 * each seen in the address the server binds (loopback addresses that
 * differ, port 0). */
static void serve_reads_configuration_file_env_flag(void **st) {
  (void)st;
  write_file(path_of(home, "config.json"), "{\"serve\": {\"listen\": \"127.0.0.2:0\", \"workers\": 2}}\n");
  run_out *r = serve_once(NULL);
  expect(r, 0);
  has(r->out, "listening 127.0.0.2:");
  free(r);
  setenv("CIS_SERVE_LISTEN", "127.0.0.3:0", 1);
  r = serve_once(NULL);
  expect(r, 0);
  has(r->out, "listening 127.0.0.3:");
  hasnt(r->out, "127.0.0.2");
  free(r);
  r = serve_once("--listen", "127.0.0.4:0", NULL);
  expect(r, 0);
  has(r->out, "listening 127.0.0.4:");
  hasnt(r->out, "127.0.0.3");
  free(r);
  /* The same from --set, and two addresses in one value. */
  r = serve_once("--set", "serve.listen=127.0.0.5:0,127.0.0.6:0", NULL);
  expect(r, 0);
  has(r->out, "listening 127.0.0.5:");
  has(r->out, "listening 127.0.0.6:");
  free(r);
}

/* A bad serve setting names its source, whichever it is: each case is a
 * configuration file (or none), a variable of the environment (or none)
 * or a flag with its value, then the exit status and what stderr says. */
static void serve_bad_setting_names_source(void **st) {
  (void)st;
  static const struct {
    const char *config, *env, *env_value, *flag, *value;
    int code;
    const char *want, *want2;
  } c[] = {
      {"{\"serve\": {\"workers\": \"many\"}}\n", NULL, NULL, NULL, NULL, 3, "serve.workers needs a whole number",
       "config.json"},
      {NULL, "CIS_SERVE_WORKERS", "0", NULL, NULL, 2, "workers 1..1024", NULL},
      {NULL, NULL, NULL, "--max-body", "lots", 2, "--max-body needs a size", NULL},
      {NULL, NULL, NULL, "--inline-us", "-1", 2, "--inline-us needs a whole number", NULL},
      {"{\"serve\": {\"inline_us\": 10000001}}\n", NULL, NULL, NULL, NULL, 2, "inline_us 0..10000000", NULL},
      {"{\"serve\": {\"lane_workers\": 1025}}\n", NULL, NULL, NULL, NULL, 2, "lane_workers 0..1024", NULL},
      {NULL, NULL, NULL, "--lane-workers", "two", 2, "--lane-workers needs a whole number", NULL},
      {"{\"serve\": {\"tenant_registry_rate\": 1000001}}\n", NULL, NULL, NULL, NULL, 2,
       "tenant_registry_rate 0..1000000", NULL},
      {"{\"serve\": {\"tenant_registry_rate\": \"fast\"}}\n", NULL, NULL, NULL, NULL, 3, "serve.tenant_registry_rate",
       NULL},
      {NULL, NULL, NULL, "--tenant-registry-rate", "-1", 2, "--tenant-registry-rate needs a whole number", NULL},
      {"{\"serve\": {\"http_threads\": 1025}}\n", NULL, NULL, NULL, NULL, 2, "http_threads 0..1024", NULL},
      {NULL, NULL, NULL, "--http-threads", "many", 2, "--http-threads needs a whole number", NULL},
      {"{\"serve\": {\"token_lookup_rate\": 1000001}}\n", NULL, NULL, NULL, NULL, 2, "token_lookup_rate 0..1000000",
       NULL},
      {"{\"serve\": {\"token_lookup_rate\": [1]}}\n", NULL, NULL, NULL, NULL, 3, "serve.token_lookup_rate", NULL},
      {NULL, "CIS_SERVE_TOKEN_LOOKUP_RATE", "1e3", NULL, NULL, 3, "CIS_SERVE_TOKEN_LOOKUP_RATE", NULL},
      {NULL, NULL, NULL, "--token-lookup-rate", "-5", 2, "--token-lookup-rate needs a whole number", NULL},
      {"{\"serve\": {\"public_rate\": 1000001}}\n", NULL, NULL, NULL, NULL, 2, "public_rate 0..1000000", NULL},
      {NULL, "CIS_SERVE_PUBLIC_RATE", "fast", NULL, NULL, 3, "CIS_SERVE_PUBLIC_RATE", NULL},
      {NULL, NULL, NULL, "--public-rate", "-1", 2, "--public-rate needs a whole number", NULL},
      /* Each tenant total in bytes is a size, as the file's is. */
      {NULL, NULL, NULL, "--tenant-max-module-bytes", "lots", 2, "needs a size such as 64MiB", NULL},
      {NULL, NULL, NULL, "--tenant-max-kv-bytes", "lots", 2, "needs a size such as 64MiB", NULL},
      {NULL, NULL, NULL, "--tenant-max-fs-bytes", "lots", 2, "needs a size such as 64MiB", NULL},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    if (c[i].config) write_file(path_of(home, "config.json"), c[i].config);
    else unlink(path_of(home, "config.json"));
    if (c[i].env) setenv(c[i].env, c[i].env_value, 1);
    run_out *r = c[i].flag ? serve_once("--listen", "127.0.0.1:0", c[i].flag, c[i].value, NULL)
                           : serve_once("--listen", "127.0.0.1:0", NULL);
    if (c[i].env) unsetenv(c[i].env);
    if (r->status != c[i].code || !strstr(r->err, c[i].want) || (c[i].want2 && !strstr(r->err, c[i].want2)))
      fail_msg("case %zu: exit %d (wanted %d), stderr: %s", i, r->status, c[i].code, r->err);
    free(r);
  }
  unlink(path_of(home, "config.json"));
}

/* cis config show lists cis serve's settings with their sources. */
static void config_show_lists_serve_settings(void **st) {
  (void)st;
  write_file(path_of(home, "config.json"), "{\"serve\": {\"queue\": 9}}\n");
  setenv("CIS_SERVE_WORKERS", "3", 1);
  run_out *r = cis("config", "show", NULL);
  expect(r, 0);
  has(r->out, "serve.listen");
  has(r->out, "127.0.0.1:8080");
  has(r->out, "serve.max_body");
  has(r->out, "serve.drain_timeout");
  has(r->out, "serve.inline_us");
  has(r->out, "serve.lane_workers");
  has(r->out, "serve.tenant_registry_rate");
  has(r->out, "serve.http_threads");
  has(r->out, "serve.token_lookup_rate");
  has(r->out, "serve.public_rate");
  const char *q = strstr(r->out, "serve.queue");
  assert_non_null(q);
  assert_true(strncmp(q, "serve.queue", 11) == 0);
  has(q, "9");
  has(r->out, "($CIS_SERVE_WORKERS)");
  free(r);
}

/* ------------------------------------------------------ cis run --skill-host */

/* Without --skill-host a module importing cis_v1 does not link; with it,
 * --invoke calls its function, and the guest's log line reaches stderr. */
static void run_skill_host_links_host_api(void **st) {
  (void)st;
  const char *mod = path_of(cli_fx, "skill_host.wasm");
  run_out *r = cis("run", "--invoke", "add", mod, "2", "3", NULL);
  expect(r, 3);
  has(r->err, "cis_v1");
  free(r);
  r = cis("run", "--skill-host", "--invoke", "add", mod, "2", "3", NULL);
  expect(r, 0);
  assert_string_equal(r->out, "5\n");
  has(r->err, "adding up");
  free(r);
  /* --quiet, a host flag, holds too. */
  r = cis("run", "--skill-host", "--quiet", "--invoke", "add", mod, "2", "3", NULL);
  expect(r, 0);
  hasnt(r->err, "adding up");
  free(r);
}

/* KV only with --kv (a denied call is a warn line), kept across runs in
 * the module's own namespace; HTTP denied without --allow-host; config_get
 * reads --config. */
static void run_skill_host_grants_from_flags(void **st) {
  (void)st;
  const char *mod = path_of(cli_fx, "skill_host.wasm");
  run_out *r = cis("run", "--skill-host", "--invoke", "put", mod, "7", NULL);
  expect(r, 0);
  assert_string_equal(r->out, "-2\n"); /* DENIED */
  has(r->err, "kv_set denied");
  free(r);
  r = cis("run", "--skill-host", "--kv", "--invoke", "put", mod, "7", NULL);
  expect(r, 0);
  assert_string_equal(r->out, "0\n");
  free(r);
  r = cis("run", "--skill-host", "--kv", "--invoke", "take", mod, NULL);
  expect(r, 0);
  assert_string_equal(r->out, "7\n"); /* committed by the run before */
  free(r);
  r = cis("run", "--skill-host", "--invoke", "fetch", mod, NULL);
  expect(r, 0);
  assert_string_equal(r->out, "-2\n");
  has(r->err, "http denied: not granted");
  free(r);
  /* A rule for another host: still refused, by the allow-list. */
  r = cis("run", "--skill-host", "--allow-host", "http://example.invalid", "--invoke", "fetch", mod, NULL);
  expect(r, 0);
  assert_string_equal(r->out, "-2\n");
  has(r->err, "http GET: CIS_EDENIED");
  has(r->err, "127.0.0.1:9");
  free(r);
  r = cis("run", "--skill-host", "--config", "k=hello", "--invoke", "cfg", mod, NULL);
  expect(r, 0);
  assert_string_equal(r->out, "5\n");
  free(r);
}

/* What goes wrong says so: a trap keeps its exit code and message, a
 * missing export lists the others, bad arguments and flags are usage
 * errors. */
static void run_skill_host_errors(void **st) {
  (void)st;
  const char *mod = path_of(cli_fx, "skill_host.wasm");
  run_out *r = cis("run", "--skill-host", "--invoke", "boom", mod, NULL);
  expect(r, 5);
  has(r->err, "CIS_TRAP_UNREACHABLE");
  free(r);
  r = cis("run", "--skill-host", "--invoke", "nope", mod, NULL);
  expect(r, 1);
  has(r->err, "no exported function \"nope\"");
  has(r->err, "add");
  free(r);
  r = cis("run", "--skill-host", "--invoke", "add", mod, "2", NULL);
  expect(r, 2);
  has(r->err, "add takes 2 arguments");
  free(r);
  r = cis("run", "--skill-host", "--invoke", "add", mod, "2", "x", NULL);
  expect(r, 2);
  has(r->err, "not a valid i32");
  free(r);
  r = cis("run", "--kv", "--invoke", "add", mod, "2", "3", NULL);
  expect(r, 2);
  has(r->err, "need --skill-host");
  free(r);
  r = cis("run", "--skill-host", "--fuel", "100", "--invoke", "add", mod, "2", "3", NULL);
  expect(r, 2);
  has(r->err, "not for --skill-host");
  free(r);
  const char *wat = path_of(home, "m.wat");
  write_file(wat, "(module (func (export \"f\") (result i32) (i32.const 1)))\n");
  r = cis("run", "--skill-host", "--invoke", "f", wat, NULL);
  expect(r, 2);
  has(r->err, "binary modules");
  free(r);
}

/* ------------------------------------------------- trap code offsets */

static uint8_t *read_all(const char *path, size_t *len) {
  uint8_t *b = cis_test_file_read(path, len);
  if (!b) fail_msg("cannot read %s", path);
  return b;
}

static uint32_t uleb(const uint8_t *b, size_t *i) {
  uint32_t v = 0;
  for (unsigned sh = 0;; sh += 7) {
    uint8_t c = b[(*i)++];
    v |= (uint32_t)(c & 0x7f) << sh;
    if (!(c & 0x80)) return v;
  }
}

/* The module offset of the k-th instruction (0-based) of function func's
 * body in the binary at path, as wasm-objdump -d prints it. The fixtures'
 * bodies use only the opcodes known here. */
static unsigned offset_of(const char *path, uint32_t func, unsigned k) {
  size_t len, i = 8;
  uint8_t *b = read_all(path, &len);
  unsigned found = 0;
  while (i < len) {
    uint8_t id = b[i++];
    uint32_t size = uleb(b, &i);
    size_t end = i + size;
    if (id != 10) {
      i = end;
      continue;
    }
    uint32_t n = uleb(b, &i);
    assert_true(func < n);
    for (uint32_t f = 0; f < func; f++) {
      uint32_t bs = uleb(b, &i);
      i += bs;
    }
    uleb(b, &i); /* body size */
    uint32_t groups = uleb(b, &i);
    for (uint32_t g = 0; g < groups; g++) {
      uleb(b, &i);
      i++;
    }
    for (unsigned c = 0;; c++) {
      if (c == k) {
        found = (unsigned)i;
        break;
      }
      uint8_t op = b[i++];
      switch (op) {
      case 0x10: case 0x20: case 0x21: case 0x41: uleb(b, &i); break; /* call, local.get/set, i32.const */
      case 0x28: uleb(b, &i); uleb(b, &i); break;                      /* i32.load memarg */
      case 0x6a: case 0x6c: case 0x6d: break;                           /* i32.add, mul, div_s */
      default: fail_msg("opcode 0x%02x not known to the test", op);
      }
    }
    break;
  }
  free(b);
  assert_true(found != 0);
  return found;
}

/* Each frame of the backtrace says where in the module its instruction
 * is: the division that trapped, then each call, innermost first. */
static void trap_backtrace_code_offsets(void **st) {
  (void)st;
  const char *mod = path_of(cli_fx, "trap_names.wasm");
  run_out *r = cis("run", "--invoke", "run", mod, "0", NULL);
  expect(r, 5);
  char want[512];
  /* inner: i32.const 1, local.get 0, i32.div_s; middle: local.get 0, call
   * $inner; outer: local.get 0, call $middle. */
  snprintf(want, sizeof want,
           "integer divide by zero in function 0 (\"inner\") (0x%x)\n"
           "wasm backtrace:\n  0: function 0 (\"inner\") (0x%x)\n  1: function 1 (\"middle\") (0x%x)\n"
           "  2: function 2 (\"outer\") (0x%x)",
           offset_of(mod, 0, 2), offset_of(mod, 0, 2), offset_of(mod, 1, 1), offset_of(mod, 2, 1));
  has(r->err, want);
  free(r);
  /* A load whose address the translator folded in: the load's own offset.
   * oob: local.get 0, i32.const 3, i32.mul, local.set 1, local.get 1,
   * i32.const 8, i32.add, i32.load. */
  mod = path_of(cli_fx, "trap_offsets.wasm");
  r = cis("run", "--invoke", "oob", mod, "30000", NULL);
  expect(r, 5);
  snprintf(want, sizeof want, "out of bounds memory access in function 0 (0x%x)", offset_of(mod, 0, 7));
  has(r->err, "CIS_TRAP_MEM_OOB");
  has(r->err, want);
  free(r);
  /* Stack exhausted: the innermost frame is deep's entry (no offset: no
   * instruction of it ran), every frame below it at its call (local.get
   * 0, i32.const 1, i32.add, call). */
  r = cis("run", "--invoke", "deep", mod, "0", NULL);
  expect(r, 7); /* a limit */
  snprintf(want, sizeof want, "\n  0: function 1\n  1: function 1 (0x%x)\n  2: function 1 (0x%x)", offset_of(mod, 1, 3),
           offset_of(mod, 1, 3));
  has(r->err, "CIS_TRAP_STACK");
  has(r->err, want);
  free(r);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_cli_host CIS_BINARY CLI_FIXTURE_DIR\n");
    return 2;
  }
  cis_bin = argv[1];
  cli_fx = argv[2];
  if (!mkdtemp(tmpdir)) return 2;
  cli_run_setup(cis_bin, tmpdir);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(serve_reads_configuration_file_env_flag, fresh),
      cmocka_unit_test_setup(serve_bad_setting_names_source, fresh),
      cmocka_unit_test_setup(config_show_lists_serve_settings, fresh),
      cmocka_unit_test_setup(run_skill_host_links_host_api, fresh),
      cmocka_unit_test_setup(run_skill_host_grants_from_flags, fresh),
      cmocka_unit_test_setup(run_skill_host_errors, fresh),
      cmocka_unit_test_setup(trap_backtrace_code_offsets, fresh),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  return rc;
}
