/*
 * This file implements the tests of the `cis` command line: it runs the
 * built program on the .wat fixtures of this folder (compiled to .wasm by
 * the build) and on cli_wasi.wasm (progs/cli_wasi.c, a WASI command) and
 * checks stdout, stderr and the exit code of `validate`, `inspect`, `run`
 * with each value type, traps, the limit flags and bad usage, and `run` of
 * a WASI command: arguments, environment, stdio, exit codes, and --dir
 * mounts on the host, memory and database filesystems.
 *
 *   test_cli CIS_BINARY FIXTURE_DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "cli_run.h"

extern char **environ;

static const char *cis_bin;     /* the program under test */
static const char *fixtures;    /* folder of the compiled .wasm fixtures */
static char tmpdir[] = "/tmp/cis-cli-XXXXXX"; /* files the tests write */
/* Full path of fixture NAME.wasm (static buffer per slot, so a test can
 * hold two). */
static const char *fx(const char *name) {
  static char buf[4][1024];
  static int slot;
  char *b = buf[slot++ & 3];
  snprintf(b, sizeof buf[0], "%s/%s.wasm", fixtures, name);
  return b;
}

/* Writes bytes to tmpdir/NAME and returns its path. */
static const char *tmpfile_with(const char *name, const void *bytes, size_t len) {
  static char buf[2][256];
  static int slot;
  char *b = buf[slot++ & 1];
  snprintf(b, sizeof buf[0], "%s/%s", tmpdir, name);
  FILE *f = fopen(b, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(bytes, 1, len, f), len);
  fclose(f);
  return b;
}

#define assert_contains(hay, needle)                                                         \
  do {                                                                                       \
    if (!strstr((hay), (needle)))                                                            \
      fail_msg("expected \"%s\" in:\n%s", (needle), (hay));                                   \
  } while (0)

/* expect(), and stdout exactly out unless out is NULL. */
static void expect_out(run_out *r, int status, const char *out) {
  expect(r, status);
  if (out && strcmp(r->out, out))
    fail_msg("stdout:\n%s\nexpected:\n%s\nstderr:\n%s", r->out, out, r->err);
}

/* ---------------------------------------------------------- top level */

static void test_version_and_help(void **state) {
  (void)state;
  run_out *r = cis("--version", NULL);
  expect_out(r, 0, "cis 0.2.0\n");
  free(r);
  r = cis("version", NULL);
  expect_out(r, 0, "cis 0.2.0\n");
  free(r);
  r = cis("help", NULL);
  expect_out(r, 0, NULL);
  assert_contains(r->out, "run");
  assert_contains(r->out, "validate");
  assert_contains(r->out, "inspect");
  free(r);
  r = cis("help", "run", NULL);
  expect_out(r, 0, NULL);
  assert_contains(r->out, "--invoke");
  assert_contains(r->out, "--max-memory");
  free(r);
  r = cis("run", "--help", NULL);
  expect_out(r, 0, NULL);
  assert_contains(r->out, "--fuel");
  assert_contains(r->out, "--dir HOST[::GUEST][:ro]");
  assert_contains(r->out, "--vfs");
  assert_contains(r->out, "--env");
  free(r);
  r = cis("run", "--dir", "/tmp", "--help", NULL); /* help after a list option */
  expect_out(r, 0, NULL);
  free(r);
}

static void test_usage_errors(void **state) {
  (void)state;
  run_out *r = cis(NULL);
  expect_out(r, 2, "");
  assert_contains(r->err, "usage: cis COMMAND");
  free(r);
  r = cis("frobnicate", NULL);
  expect_out(r, 2, "");
  assert_contains(r->err, "unknown command \"frobnicate\"");
  free(r);
  r = cis("help", "frobnicate", NULL);
  expect_out(r, 2, "");
  free(r);
  r = cis("validate", NULL);
  expect_out(r, 2, "");
  assert_contains(r->err, "usage: cis validate");
  free(r);
  r = cis("validate", fx("values"), fx("loops"), NULL);
  expect_out(r, 2, "");
  free(r);
  r = cis("validate", "--strict", fx("values"), NULL);
  expect_out(r, 2, "");
  assert_contains(r->err, "unknown option --strict");
  free(r);
  r = cis("inspect", NULL);
  expect_out(r, 2, "");
  free(r);
}

/* ------------------------------------------------------------ validate */

static void test_validate_valid(void **state) {
  (void)state;
  run_out *r = cis("validate", fx("values"), NULL);
  expect_out(r, 0, "valid\n");
  assert_string_equal(r->err, "");
  free(r);
}

static void test_validate_invalid(void **state) {
  (void)state;
  run_out *r = cis("validate", fx("invalid"), NULL);
  expect_out(r, 3, "");
  /* A validation-class code: CIS_EINVALID or a more specific one. */
  if (!strstr(r->err, "CIS_ETYPE: type mismatch") && !strstr(r->err, "CIS_EINVALID"))
    fail_msg("expected a validation error, got:\n%s", r->err);
  assert_contains(r->err, fx("invalid"));
  free(r);
}

static void test_validate_malformed(void **state) {
  (void)state;
  /* Magic and version, then a type section that claims 5 bytes and ends. */
  static const unsigned char trunc[] = {0, 'a', 's', 'm', 1, 0, 0, 0, 1, 5, 1};
  run_out *r = cis("validate", tmpfile_with("trunc.wasm", trunc, sizeof trunc), NULL);
  expect_out(r, 3, "");
  assert_contains(r->err, "cis: ");
  assert_contains(r->err, ": CIS_E");
  free(r);

  r = cis("validate", tmpfile_with("text.wasm", "hello\n", 6), NULL);
  expect_out(r, 3, "");
  assert_contains(r->err, "CIS_EMAGIC: magic header not detected");
  free(r);

  r = cis("validate", tmpfile_with("empty.wasm", "", 0), NULL);
  expect_out(r, 3, "");
  assert_contains(r->err, ": CIS_E");
  free(r);

  static const unsigned char version2[] = {0, 'a', 's', 'm', 2, 0, 0, 0};
  r = cis("validate", tmpfile_with("v2.wasm", version2, sizeof version2), NULL);
  expect_out(r, 3, "");
  assert_contains(r->err, "CIS_EVERSION");
  free(r);

  r = cis("validate", "/nonexistent/x.wasm", NULL);
  expect_out(r, 1, "");
  assert_contains(r->err, "cannot open");
  free(r);

  r = cis("validate", tmpdir, NULL);
  expect_out(r, 1, "");
  assert_contains(r->err, "cannot read");
  free(r);
}

/* ------------------------------------------------------------- inspect */

static void test_inspect(void **state) {
  (void)state;
  run_out *r = cis("inspect", fx("imports"), NULL);
  expect_out(r, 0,
         "features: mutable-globals, multi-value, reference-types\n"
         "imports (4):\n"
         "  func    env.log (i32, i64) -> (f32)\n"
         "  memory  env.mem min 1 max 2 pages\n"
         "  table   env.tab funcref min 10 max 20\n"
         "  global  env.g mut i64\n"
         "exports (4):\n"
         "  table   t externref min 3 max none\n"
         "  global  gc const f64\n"
         "  func    f (f32, f64) -> (i32, i32)\n"
         "  memory  m min 1 max 2 pages\n");
  free(r);
}

static void test_inspect_names_and_errors(void **state) {
  (void)state;
  run_out *r = cis("inspect", fx("values"), NULL);
  expect_out(r, 0, NULL);
  assert_contains(r->out, "imports (0):\n");
  assert_contains(r->out, "  func    a\\00b () -> (i32)\n"); /* the NUL is shown, not cut */
  assert_contains(r->out, "  func    pair (i32, f64) -> (f64, i32)\n");
  assert_contains(r->out, "  memory  memory min 1 max none pages\n");
  assert_contains(r->out, "  global  g const i32\n");
  free(r);

  /* Invalid but decodable: the error, then the listing anyway. */
  r = cis("inspect", fx("invalid"), NULL);
  expect_out(r, 3, NULL);
  assert_contains(r->err, fx("invalid"));
  assert_contains(r->out, "  func    bad () -> (i32)\n");
  free(r);

  r = cis("inspect", tmpfile_with("text2.wasm", "hello\n", 6), NULL);
  expect_out(r, 3, "");
  assert_contains(r->err, "CIS_EMAGIC");
  free(r);
}

/* ----------------------------------------------------------------- run */

static void run_expect(const char *out, const char *a1, const char *a2, const char *a3,
                       const char *a4) {
  run_out *r = cis("run", "--invoke", a1, fx("values"), a2, a3, a4, NULL);
  expect_out(r, 0, out);
  assert_string_equal(r->err, "");
  free(r);
}

static void test_run_integers(void **state) {
  (void)state;
  run_expect("5\n", "add", "2", "3", NULL);
  run_expect("15\n", "add", "-1", "0x10", NULL);
  run_expect("-1\n", "id32", "4294967295", NULL, NULL);
  run_expect("-2147483648\n", "id32", "-2147483648", NULL, NULL);
  run_expect("-2147483648\n", "add", "2147483647", "1", NULL);
  run_expect("-1\n", "id32", "0xffffffff", NULL, NULL);
  run_expect("9223372036854775807\n", "id64", "9223372036854775807", NULL, NULL);
  run_expect("-9223372036854775808\n", "add64", "9223372036854775807", "1", NULL);
  run_expect("-1\n", "id64", "18446744073709551615", NULL, NULL);
  run_expect("-256\n", "id64", "-0x100", NULL, NULL);
}

static void test_run_floats(void **state) {
  (void)state;
  run_expect("3\n", "mulf32", "1.5", "2", NULL);
  run_expect("0.1\n", "idf32", "0.1", NULL, NULL);
  run_expect("0.1\n", "idf64", "0.1", NULL, NULL);
  run_expect("0.3333333333333333\n", "divf64", "1", "3", NULL);
  run_expect("-0\n", "idf64", "-0", NULL, NULL);
  run_expect("inf\n", "divf64", "1", "0", NULL);
  run_expect("-inf\n", "idf32", "-inf", NULL, NULL);
  run_expect("nan\n", "idf64", "nan", NULL, NULL);
  run_expect("nan:0x200000\n", "nanf32", NULL, NULL, NULL);
  run_expect("1e+300\n", "idf64", "1e300", NULL, NULL);
  run_expect("3.4028235e+38\n", "idf32", "3.4028235e38", NULL, NULL);
}

static void test_run_refs_multi_none(void **state) {
  (void)state;
  run_expect("1\n", "isnull", "null", NULL, NULL);
  run_expect("null\n", "nullfunc", NULL, NULL, NULL);
  run_expect("2.5\n7\n", "pair", "7", "2.5", NULL);
  run_expect("", "none", NULL, NULL, NULL);
  /* `--invoke=NAME` and `--` work too. */
  run_out *r = cis("run", "--invoke=add", "--", fx("values"), "-4", "-5", NULL);
  expect_out(r, 0, "-9\n");
  free(r);
}

static void test_run_traps(void **state) {
  (void)state;
  run_out *r = cis("run", "--invoke", "div_s", fx("values"), "1", "0", NULL);
  expect_out(r, 5, "");
  assert_contains(r->err, "CIS_TRAP_DIV_ZERO: integer divide by zero");
  free(r);
  r = cis("run", "--invoke", "div_s", fx("values"), "-2147483648", "-1", NULL);
  expect_out(r, 5, "");
  assert_contains(r->err, "CIS_TRAP_INT_OVERFLOW: integer overflow");
  free(r);
  r = cis("run", "--invoke", "boom", fx("values"), NULL);
  expect_out(r, 5, "");
  assert_contains(r->err, "CIS_TRAP_UNREACHABLE: unreachable");
  free(r);
  r = cis("run", "--invoke", "oob", fx("values"), NULL);
  expect_out(r, 5, "");
  assert_contains(r->err, "CIS_TRAP_MEM_OOB: out of bounds memory access");
  free(r);
  /* A trapping start function fails the instantiation. */
  r = cis("run", "--invoke", "f", fx("starttrap"), NULL);
  expect_out(r, 5, "");
  assert_contains(r->err, "CIS_TRAP_UNREACHABLE");
  free(r);
  /* Imports that nothing provides. */
  r = cis("run", "--invoke", "f", fx("imports"), "1", "2", NULL);
  expect_out(r, 3, "");
  assert_contains(r->err, "CIS_EUNKNOWNIMPORT");
  free(r);
}

/* CPU seconds a timed-out `cis run` may spin past its deadline. */
#define LATE_CPU 0.1

static void test_run_timeout(void **state) {
  (void)state;
  /* A run that ends at once: its CPU time is what starting and loading
   * the module cost. */
  run_out *r = cis("run", "--timeout", "5000", "--invoke", "count", fx("loops"), "1000", NULL);
  expect_out(r, 0, "1000\n");
  double start_cpu = r->cpu_secs;
  free(r);
  r = cis("run", "--timeout", "200", "--invoke", "spin", fx("loops"), NULL);
  print_message("deadline 200 ms: cis run ended after %.3f s wall, %.3f s CPU (%.3f s to start)\n",
                r->secs, r->cpu_secs, start_cpu);
  expect_out(r, 6, "");
  assert_contains(r->err, "CIS_ETIMEOUT: deadline exceeded");
  /* Never before the deadline (it starts inside the process). How late is
   * judged on the process's CPU time, which a loaded machine cannot
   * inflate (it only delays the process) while a deadline checked too
   * rarely spins on. Wall time only has to stay below a bound that a spin
   * never stopped fails. */
  if (r->secs < 0.2) fail_msg("the 200 ms deadline ended early, after %.3f s", r->secs);
  if (r->cpu_secs > start_cpu + 0.2 + LATE_CPU)
    fail_msg("the 200 ms deadline took %.3f s of CPU (%.3f s to start)", r->cpu_secs, start_cpu);
  if (r->secs > 20) fail_msg("the 200 ms deadline took %.3f s", r->secs);
  free(r);
}

static void test_run_fuel(void **state) {
  (void)state;
  run_out *r = cis("run", "--fuel", "10000", "--invoke", "spin", fx("loops"), NULL);
  expect_out(r, 7, "");
  assert_contains(r->err, "CIS_EFUEL: fuel exhausted");
  free(r);
  r = cis("run", "--fuel", "100000000", "--invoke", "count", fx("loops"), "1000", NULL);
  expect_out(r, 0, "1000\n");
  free(r);
  r = cis("run", "--fuel", "100", "--invoke", "count", fx("loops"), "1000000", NULL);
  expect_out(r, 7, "");
  assert_contains(r->err, "CIS_EFUEL");
  free(r);
}

static void test_run_max_memory(void **state) {
  (void)state;
  run_out *r = cis("run", "--max-memory", "65536", "--invoke", "pages", fx("bigmem"), NULL);
  expect_out(r, 7, "");
  assert_contains(r->err, "CIS_EMEMLIMIT: memory limit exceeded");
  free(r);
  r = cis("run", "--max-memory", "0x40000", "--invoke", "pages", fx("bigmem"), NULL);
  expect_out(r, 0, "4\n");
  free(r);
}

static void test_run_bad_arguments(void **state) {
  (void)state;
  static const char *const bad[][6] = {
      /* wrong count */
      {"--invoke", "add", "F", "1", NULL},
      {"--invoke", "add", "F", "1", "2", "3"},
      /* not the parameter's type */
      {"--invoke", "id32", "F", "abc", NULL},
      {"--invoke", "id32", "F", "4294967296", NULL},
      {"--invoke", "id32", "F", "-2147483649", NULL},
      {"--invoke", "id32", "F", "1.5", NULL},
      {"--invoke", "id32", "F", "", NULL},
      {"--invoke", "id32", "F", " 1", NULL},
      {"--invoke", "id64", "F", "18446744073709551616", NULL},
      {"--invoke", "id64", "F", "0x", NULL},
      {"--invoke", "idf32", "F", "1e99", NULL},
      {"--invoke", "idf64", "F", "1.5x", NULL},
      {"--invoke", "isnull", "F", "7", NULL},
      /* flags */
      {"--timeout", "abc", "--invoke", "add", "F", NULL},
      {"--dir", NULL},
      {"--dir", "::/x", "F", NULL},
      {"--dir", "/tmp::", "F", NULL},
      {"--dir", ":ro", "F", NULL},
      {"--dir-ro", "::", "F", NULL},
      {"--vfs", "bogus", "F", NULL},
      {"--vfs", "db:sqlite:/tmp/x.db", "F", NULL},
      {"--vfs", "db:", "--tenant", "t", "F", NULL},
      {"--tenant", "t", "F", NULL},
      {"--vfs", "mem", "--tenant", "t", "F", NULL},
      {"--env", "=x", "F", NULL},
      {"--env", "", "F", NULL},
      {"--timeout", "-5", "--invoke", "add", "F", NULL},
      {"--fuel", "F", NULL},
      {"--bogus", "--invoke", "add", "F", NULL},
      {"--invoke", "", "F", NULL},
      {"--invoke", NULL},
      {"--invoke=add", NULL},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *a[6];
    for (int k = 0; k < 6; k++)
      a[k] = bad[i][k] && !strcmp(bad[i][k], "F") ? fx("values") : bad[i][k];
    run_out *r = cis("run", a[0], a[1], a[2], a[3], a[4], a[5], NULL);
    if (r->status != 2 || r->out[0])
      fail_msg("case %zu: exit %d (expected 2)\nstdout:\n%s\nstderr:\n%s", i, r->status, r->out,
               r->err);
    assert_true(r->err[0] != '\0');
    free(r);
  }
  /* Failures that are not usage errors. */
  run_out *r = cis("run", "--invoke", "nosuch", fx("values"), NULL);
  expect_out(r, 1, "");
  assert_contains(r->err, "no exported function \"nosuch\"");
  free(r);
  r = cis("run", "--invoke", "g", fx("values"), NULL);
  expect_out(r, 1, "");
  free(r);
  r = cis("run", fx("values"), NULL);
  expect_out(r, 1, "");
  assert_contains(r->err, "_start");
  free(r);
  /* Without --invoke, arguments are the program's: no _start, no run. */
  r = cis("run", fx("values"), "1", NULL);
  expect_out(r, 1, "");
  assert_contains(r->err, "_start");
  free(r);
  r = cis("run", "--invoke", "add", "/nonexistent.wasm", "1", "2", NULL);
  expect_out(r, 1, "");
  assert_contains(r->err, "cannot open");
  free(r);
}

/* ------------------------------------------------------------ run: WASI */

/* Path of tmpdir/NAME (static buffer per slot). */
static const char *tmp(const char *name) {
  static char buf[4][256];
  static int slot;
  char *b = buf[slot++ & 3];
  snprintf(b, sizeof buf[0], "%s/%s", tmpdir, name);
  return b;
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static bool host_exists(const char *path) { return access(path, F_OK) == 0; }

/* A WASI command gets its arguments (argv[0] = the module as given, then
 * everything after it, "-5" included), stdio and exit code. */
static void test_wasi_command(void **state) {
  (void)state;
  const char *prog = fx("cli_wasi");
  run_out *r = cis("run", prog, "args", "a", "b c", "-5", NULL);
  char want[1400];
  snprintf(want, sizeof want, "argv[0]=%s\nargv[1]=args\nargv[2]=a\nargv[3]=b c\nargv[4]=-5\n",
           prog);
  expect_out(r, 0, want);
  assert_string_equal(r->err, "");
  free(r);
  r = cis("run", prog, "exit", "7", NULL);
  expect_out(r, 7, "");
  free(r);
  r = cis("run", "--", prog, "exit", "0", NULL);
  expect_out(r, 0, "");
  free(r);
  r = cis("run", prog, "stderr", "to stderr", NULL);
  expect_out(r, 0, "");
  assert_string_equal(r->err, "to stderr\n");
  free(r);
  write_text(tmp("input"), "line one\nline two\n");
  cli_run_stdin(tmp("input"));
  r = cis("run", prog, "cat", NULL);
  cli_run_stdin(NULL);
  expect_out(r, 0, "line one\nline two\n");
  free(r);
  /* A trap is 1 with the error, whatever was printed before. */
  r = cis("run", prog, "trap", NULL);
  expect_out(r, 5, "");
  assert_contains(r->err, "cis: _start: CIS_TRAP_UNREACHABLE");
  free(r);
  /* --invoke calls an export of the same module, WASI linked, argv[0] only. */
  r = cis("run", "--invoke", "_start", prog, NULL);
  snprintf(want, sizeof want, "argv[0]=%s\n", prog);
  expect_out(r, 0, want);
  free(r);
  r = cis("run", "--timeout", "5000", "--fuel", "100", prog, "args", NULL);
  expect_out(r, 7, "");
  assert_contains(r->err, "CIS_EFUEL");
  free(r);
}

/* --env NAME=VALUE sets, --env NAME passes this process's value on (or
 * nothing when unset); nothing else of the environment is visible. */
static void test_wasi_env(void **state) {
  (void)state;
  setenv("CIS_CLI_INHERITED", "from the host", 1);
  unsetenv("CIS_CLI_UNSET");
  run_out *r = cis("run", "--env", "A=1", "--env=B=x=y", "--env", "CIS_CLI_INHERITED",
                          "--env", "CIS_CLI_UNSET", fx("cli_wasi"), "env", "A", "B",
                          "CIS_CLI_INHERITED", "CIS_CLI_UNSET", "PATH", NULL);
  expect_out(r, 0,
         "A=1\nB=x=y\nCIS_CLI_INHERITED=from the host\nCIS_CLI_UNSET=(unset)\nPATH=(unset)\n");
  free(r);
}

/* --dir on the host: the program reads and writes the directory at its
 * guest path and nothing outside; :ro and --dir-ro refuse writes with
 * EROFS (69); two mounts are two devices (EXDEV, 75). */
static void test_wasi_dir_host(void **state) {
  (void)state;
  const char *prog = fx("cli_wasi");
  char d[300], spec[400], d2[300];
  snprintf(d, sizeof d, "%s", tmp("hostdir"));
  snprintf(d2, sizeof d2, "%s", tmp("hostdir2"));
  assert_int_equal(mkdir(d, 0755), 0);
  assert_int_equal(mkdir(d2, 0755), 0);
  write_text(tmp("secret"), "secret\n");
  snprintf(spec, sizeof spec, "%s::/work", d);
  run_out *r = cis("run", "--dir", spec, prog, "write", "/work/a.txt", "hello", NULL);
  expect_out(r, 0, "");
  free(r);
  char p[400];
  snprintf(p, sizeof p, "%s/a.txt", d);
  char buf[64];
  slurp(p, buf, sizeof buf);
  assert_string_equal(buf, "hello");
  r = cis("run", "--dir", spec, prog, "read", "/work/a.txt", NULL);
  expect_out(r, 0, "hello");
  free(r);
  /* GUEST defaults to HOST as written. */
  snprintf(p, sizeof p, "%s/a.txt", d);
  r = cis("run", "--dir", d, prog, "read", p, NULL);
  expect_out(r, 0, "hello");
  free(r);
  /* Nothing above the directory is reachable. */
  r = cis("run", "--dir", spec, prog, "read", "/work/../secret", NULL);
  expect_out(r, 3, "errno 76\n");
  free(r);
  r = cis("run", "--dir", spec, prog, "read", tmp("secret"), NULL);
  expect_out(r, 3, NULL);
  free(r);
  /* Read-only, two ways. */
  char ro[400];
  snprintf(ro, sizeof ro, "%s::/work:ro", d);
  r = cis("run", "--dir", ro, prog, "write", "/work/b.txt", "x", NULL);
  expect_out(r, 3, "errno 69\n");
  free(r);
  r = cis("run", "--dir-ro", spec, prog, "write", "/work/b.txt", "x", NULL);
  expect_out(r, 3, "errno 69\n");
  free(r);
  snprintf(p, sizeof p, "%s/b.txt", d);
  assert_false(host_exists(p));
  r = cis("run", "--dir", ro, prog, "ls", "/work", NULL);
  expect_out(r, 0, "a.txt\n");
  free(r);
  /* Two mounts: a rename across them is EXDEV. */
  char spec2[400];
  snprintf(spec2, sizeof spec2, "%s::/other", d2);
  r = cis("run", "--dir", spec, "--dir", spec2, prog, "mv", "/work/a.txt", "/other/a.txt",
              NULL);
  expect_out(r, 3, "errno 75\n");
  free(r);
  r = cis("run", "--dir", spec, prog, "mv", "/work/a.txt", "/work/c.txt", NULL);
  expect_out(r, 0, "");
  free(r);
  snprintf(p, sizeof p, "%s/c.txt", d);
  assert_true(host_exists(p));
  /* A directory that is not there. */
  r = cis("run", "--dir", "/nonexistent/cis-cli::/work", prog, "args", NULL);
  expect_out(r, 1, "");
  assert_contains(r->err, "cis: --dir /nonexistent/cis-cli::/work: CIS_ENOTFOUND");
  free(r);
}

/* --vfs mem: an empty filesystem per --dir and per run. */
static void test_wasi_vfs_mem(void **state) {
  (void)state;
  const char *prog = fx("cli_wasi");
  run_out *r = cis("run", "--vfs", "mem", "--dir", "/work", prog, "write", "/work/a.txt",
                          "x", NULL);
  expect_out(r, 0, "");
  free(r);
  r = cis("run", "--vfs", "mem", "--dir", "/work", prog, "read", "/work/a.txt", NULL);
  expect_out(r, 3, "errno 44\n");
  free(r);
  r = cis("run", "--vfs", "mem", "--dir", "/work:ro", prog, "write", "/work/a.txt", "x",
              NULL);
  expect_out(r, 3, "errno 69\n");
  free(r);
  r = cis("run", "--vfs", "mem", "--dir", "/work", prog, "ls", "/work", NULL);
  expect_out(r, 0, "");
  free(r);
}

/* --vfs db: the tenant's filesystem persists across runs and is the
 * tenant's alone; an unreachable database is a typed error. */
static void test_wasi_vfs_db(void **state) {
  (void)state;
  const char *prog = fx("cli_wasi");
  char spec[300];
  snprintf(spec, sizeof spec, "db:sqlite:%s", tmp("fs.db"));
  run_out *r = cis("run", "--vfs", spec, "--tenant", "t1", "--dir", "/work", prog,
                          "write", "/work/a.txt", "one", NULL);
  expect_out(r, 0, "");
  free(r);
  r = cis("run", "--vfs", spec, "--tenant", "t1", "--dir", "/data", prog, "read",
              "/data/a.txt", NULL);
  expect_out(r, 0, "one");
  free(r);
  r = cis("run", "--vfs", spec, "--tenant", "t2", "--dir", "/work", prog, "read",
              "/work/a.txt", NULL);
  expect_out(r, 3, "errno 44\n");
  free(r);
  r = cis("run", "--vfs", spec, "--tenant", "t1", "--dir-ro", "/work", prog, "write",
              "/work/b.txt", "x", NULL);
  expect_out(r, 3, "errno 69\n");
  free(r);
  r = cis("run", "--vfs", spec, "--tenant", "t1", "--dir", "/work", prog, "ls", "/work",
              NULL);
  expect_out(r, 0, "a.txt\n");
  free(r);
  r = cis("run", "--vfs", "db:postgres:host=127.0.0.1 port=1 connect_timeout=5", "--tenant",
              "t1", "--dir", "/work", prog, "args", NULL);
  expect_out(r, 1, "");
  assert_contains(r->err, "cis: --dir /work::/work: CIS_EVFSDOWN");
  free(r);
  r = cis("run", "--vfs", "db:sqlite:/nonexistent/dir/fs.db", "--tenant", "t1", "--dir",
              "/work", prog, "args", NULL);
  expect_out(r, 1, "");
  assert_contains(r->err, "cis: --dir /work::/work: CIS_E");
  free(r);
}

/* ------------------------------------------------------------ cis skill */

/* How many times needle occurs in hay. */
static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

/* Points CIS_HOME at a fresh registry folder of the test's. */
static void fresh_home(const char *name) {
  char home[256], cmd[600];
  snprintf(home, sizeof home, "%s/%s", tmpdir, name);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", home, home);
  assert_int_equal(system(cmd), 0);
  setenv("CIS_HOME", home, 1);
}

/* An error's name is said once: the call's message used to carry it too,
 * and the CLI printed "cis: CIS_ETIMEOUT: CIS_ETIMEOUT: ...". Both entry
 * paths: a cis_v1 export call (timeout) and a WASI run (trap). */
static void test_skill_error_name_once(void **state) {
  (void)state;
  fresh_home("errname");
  run_out *r = cis("skill", "run", "--wasm", fx("skill_spin"), "--timeout", "200", NULL);
  expect_out(r, 6, "");
  assert_contains(r->err, "cis: CIS_ETIMEOUT: ");
  if (count_of(r->err, "CIS_ETIMEOUT") != 1) fail_msg("the name more than once:\n%s", r->err);
  free(r);
  r = cis("skill", "run", "--wasm", fx("skill_trap"), "--abi", "wasi", NULL);
  expect_out(r, 5, "");
  assert_contains(r->err, "cis: CIS_TRAP_UNREACHABLE: ");
  if (count_of(r->err, "CIS_TRAP_UNREACHABLE") != 1) fail_msg("the name more than once:\n%s", r->err);
  free(r);
}

/* Writes DIR/skill.json for skill_trap.wasm (copied into DIR) with the
 * given permissions text; returns DIR. */
static const char *skill_folder(const char *name, const char *perms) {
  static char dir[256];
  char cmd[1400], sha[65] = "";
  snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/data' && cp '%s' '%s/m.wasm'", dir, dir, fx("skill_trap"), dir);
  assert_int_equal(system(cmd), 0);
  snprintf(cmd, sizeof cmd, "sha256sum '%s/m.wasm'", dir);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  assert_int_equal(fscanf(p, "%64s", sha), 1);
  pclose(p);
  char path[300], text[1200];
  snprintf(path, sizeof path, "%s/skill.json", dir);
  snprintf(text, sizeof text,
           "{\"name\":\"%s\",\"version\":\"1\",\"abi\":\"wasi\",\"wasm\":{\"path\":\"m.wasm\",\"sha256\":\"%s\"},"
           "\"permissions\":%s}",
           name, sha, perms);
  write_text(path, text);
  return dir;
}

/* `cis skill install` refuses what needs the operator's word and takes
 * it as --allow-volume, --allow-namespace and --allow-host-path; `show`
 * says what is shared with whom. */
static void test_skill_install_grants(void **state) {
  (void)state;
  fresh_home("grants");
  const char *vol = "{\"fs\":{\"mounts\":[{\"guest\":\"/s\",\"type\":\"db\",\"volume\":\"notes\"}]}}";
  run_out *r = cis("skill", "install", skill_folder("one", vol), NULL);
  expect_out(r, 8, "");
  assert_contains(r->err, "cis: CIS_EDENIED: permissions.fs.mounts[0].volume");
  assert_contains(r->err, "--allow-volume notes");
  free(r);
  r = cis("skill", "install", "--allow-volume", "notes", skill_folder("one", vol), NULL);
  expect_out(r, 0, "installed one\n");
  free(r);
  r = cis("skill", "install", skill_folder("two", vol), "--allow-volume", "notes", NULL);
  expect_out(r, 0, "installed two\n");
  free(r);
  r = cis("skill", "show", "one", NULL);
  expect_out(r, 0, NULL);
  assert_contains(r->out, "\"shared_with\":\t[\"two\"]");
  free(r);
  /* KV namespace of another skill. */
  r = cis("skill", "install", skill_folder("three", "{\"kv\":{\"namespace\":\"one\"}}"), NULL);
  expect_out(r, 8, "");
  assert_contains(r->err, "CIS_EDENIED: permissions.kv.namespace");
  free(r);
  r = cis("skill", "install", "--allow-namespace", "one", skill_folder("three", "{\"kv\":{\"namespace\":\"one\"}}"),
              NULL);
  expect_out(r, 0, "installed three\n");
  free(r);
  /* A host path out of the skill's folder. */
  const char *up = "{\"fs\":{\"mounts\":[{\"guest\":\"/h\",\"type\":\"host\",\"source\":\"..\"}]}}";
  r = cis("skill", "install", skill_folder("four", up), NULL);
  expect_out(r, 8, "");
  assert_contains(r->err, "CIS_EDENIED: permissions.fs.mounts[0].source");
  free(r);
  r = cis("skill", "install", "--allow-host-path", tmpdir, skill_folder("four", up), NULL);
  expect_out(r, 0, "installed four\n");
  free(r);
  r = cis("skill", "install", "--allow-volume", NULL);
  expect_out(r, 2, "");
  free(r);
}


/* ------------------------------------- values, exit codes, help and --json */

/* Writes DIR = tmpdir/NAME holding FIXTURE.wasm as m.wasm and a cis_v1
 * skill.json; `sha` is the wasm.sha256 member to write ("" leaves it out,
 * NULL writes the module's real hash); `extra` is more members (", ..."
 * or ""). Returns DIR. */
static const char *skill_dir(const char *name, const char *fixture, const char *sha,
                             const char *extra) {
  static char dir[256];
  char cmd[1400], real[65] = "", member[120];
  snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && cp '%s' '%s/m.wasm'", dir, dir,
           fx(fixture), dir);
  assert_int_equal(system(cmd), 0);
  if (!sha) {
    snprintf(cmd, sizeof cmd, "sha256sum '%s/m.wasm'", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%64s", real), 1);
    pclose(p);
  }
  if (!sha) snprintf(member, sizeof member, ",\"sha256\":\"%s\"", real);
  else if (!*sha) member[0] = '\0';
  else snprintf(member, sizeof member, ",\"sha256\":%s", sha);
  char path[300], text[1600];
  snprintf(path, sizeof path, "%s/skill.json", dir);
  snprintf(text, sizeof text,
           "{\"name\":\"%s\",\"version\":\"1\",\"abi\":\"cis_v1\",\"wasm\":{\"path\":\"m.wasm\"%s}%s}",
           name, member, extra);
  write_text(path, text);
  return dir;
}

/* The --json document on r's stdout, parsed, with its common members
 * checked: status, exit_code (also the process's) and error's name. */
static cJSON *json_of(run_out *r, const char *status, int exit_code, const char *errname) {
  cJSON *d = cJSON_Parse(r->out);
  if (!d) fail_msg("stdout is not one JSON document:\n%s\nstderr:\n%s", r->out, r->err);
  if (r->status != exit_code) fail_msg("exit %d, expected %d\n%s", r->status, exit_code, r->out);
  cJSON *st = cJSON_GetObjectItemCaseSensitive(d, "status");
  assert_true(cJSON_IsString(st));
  assert_string_equal(st->valuestring, status);
  cJSON *ec = cJSON_GetObjectItemCaseSensitive(d, "exit_code");
  assert_true(cJSON_IsNumber(ec));
  assert_int_equal(ec->valueint, exit_code);
  cJSON *e = cJSON_GetObjectItemCaseSensitive(d, "error");
  if (!errname) {
    assert_true(cJSON_IsNull(e));
  } else {
    assert_true(cJSON_IsObject(e));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring, errname);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(e, "code")));
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")));
  }
  return d;
}

/* One reader of numbers, sizes and durations in every command: `cis skill
 * run` used to read --timeout abc as 0 and --max-memory 128MiB as 128
 * bytes, while `cis run` refused both. */
static void test_value_flags_one_parser(void **state) {
  (void)state;
  fresh_home("values");
  run_out *r = cis("run", "--timeout", "abc", "--invoke", "add", fx("values"), "1", "2", NULL);
  expect_out(r, 2, "");
  assert_contains(r->err, "--timeout");
  assert_contains(r->err, "\"abc\"");
  free(r);
  r = cis("skill", "run", "--wasm", fx("skill_echo"), "--timeout", "abc", NULL);
  expect_out(r, 2, "");
  assert_contains(r->err, "--timeout needs a duration");
  assert_contains(r->err, "\"abc\"");
  free(r);
  r = cis("skill", "run", "--wasm", fx("skill_echo"), "--max-memory", "128Mb", NULL);
  expect_out(r, 2, "");
  assert_contains(r->err, "--max-memory needs a size");
  free(r);
  r = cis("run", "--timeout", "1.5", "--invoke", "add", fx("values"), "1", "2", NULL);
  expect_out(r, 2, ""); /* a fraction of a millisecond */
  free(r);
  /* Units are read the same way by both. */
  r = cis("run", "--max-memory", "128MiB", "--invoke", "pages", fx("bigmem"), NULL);
  expect_out(r, 0, "4\n");
  free(r);
  r = cis("run", "--max-memory", "64KiB", "--invoke", "pages", fx("bigmem"), NULL);
  expect_out(r, 7, "");
  assert_contains(r->err, "CIS_EMEMLIMIT");
  free(r);
  r = cis("skill", "run", "--wasm", fx("skill_echo"), "--max-memory", "128MiB", NULL);
  expect_out(r, 0, "{\"ok\":true}\n");
  free(r);
  r = cis("run", "--timeout", "5s", "--invoke", "count", fx("loops"), "1000", NULL);
  expect_out(r, 0, "1000\n");
  free(r);
  r = cis("skill", "run", "--wasm", fx("skill_spin"), "--timeout", "0.2s", NULL);
  expect_out(r, 6, "");
  assert_contains(r->err, "200 ms");
  free(r);
  /* 0 is "no deadline of the flag's own": the skill's limit stays. */
  r = cis("skill", "install", skill_dir("slow", "skill_spin", NULL, ",\"limits\":{\"timeout_ms\":300}"),
              NULL);
  expect_out(r, 0, "installed slow\n");
  free(r);
  r = cis("skill", "run", "slow", "--timeout", "0", NULL);
  expect_out(r, 6, "");
  assert_contains(r->err, "300 ms");
  free(r);
}

/* Each exit code through the real program (docs/cli.md, "Exit codes"). */
static void test_exit_codes(void **state) {
  (void)state;
  fresh_home("exits");
  const char *vol = ",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/s\",\"type\":\"db\",\"volume\":\"v\"}]}}";
  const char *denied = skill_dir("denied", "skill_echo", NULL, vol);
  /* fx() keeps four paths at a time: the table needs its own. */
  char values[1024], invalid[1024], echo[1024], fail_[1024], spin[1024], loops[1024];
  snprintf(values, sizeof values, "%s", fx("values"));
  snprintf(invalid, sizeof invalid, "%s", fx("invalid"));
  snprintf(echo, sizeof echo, "%s", fx("skill_echo"));
  snprintf(fail_, sizeof fail_, "%s", fx("skill_fail"));
  snprintf(spin, sizeof spin, "%s", fx("skill_spin"));
  snprintf(loops, sizeof loops, "%s", fx("loops"));
  struct {
    int code;
    const char *argv[8];
    const char *err; /* in stderr */
  } cases[] = {
      {0, {"validate", values}, ""},
      {1, {"skill", "show", "nosuch"}, "CIS_ENOTFOUND"},
      {2, {"run", "--bogus", values}, "unknown option --bogus"},
      {3, {"validate", invalid}, "CIS_E"},
      {3, {"skill", "run", "--wasm", echo, "--input", "{bad"}, "CIS_EJSON"},
      {4, {"skill", "run", "--wasm", fail_}, "CIS_ESKILL"},
      {5, {"run", "--invoke", "boom", values}, "CIS_TRAP_UNREACHABLE"},
      {6, {"skill", "run", "--wasm", spin, "--timeout", "100ms"}, "CIS_ETIMEOUT"},
      {7, {"run", "--fuel", "10000", "--invoke", "spin", loops}, "CIS_EFUEL"},
      {8, {"skill", "install", denied}, "CIS_EDENIED"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char **a = cases[i].argv;
    run_out *r = cis(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], NULL);
    if (r->status != cases[i].code)
      fail_msg("case %zu (%s %s): exit %d, expected %d\nstderr:\n%s", i, a[0], a[1], r->status,
               cases[i].code, r->err);
    assert_contains(r->err, cases[i].err);
    free(r);
  }
}

/* --help on every command and subcommand prints its usage on stdout, exits
 * 0 and does nothing else: `cis skill install --help` used to try to
 * install a folder called --help. */
static void test_help_everywhere(void **state) {
  (void)state;
  fresh_home("help");
  static const char *const cases[][4] = {
      {"run", "--help"},           {"validate", "--help"},     {"inspect", "-h"},
      {"skill", "--help"},         {"skill", "help"},          {"help", "skill"},
      {"skill", "install", "--help"}, {"skill", "list", "--help"}, {"skill", "show", "--help"},
      {"skill", "run", "--help"},  {"skill", "remove", "--help"}, {"skill", "init", "--help"},
      {"skill", "help", "install"}, {"skill", "help", "run"},
      {"skill", "install", "./nowhere", "--help"}, {"skill", "remove", "x", "--help"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *const *a = cases[i];
    run_out *r = cis(a[0], a[1], a[2], a[3], NULL);
    if (r->status != 0 || !strstr(r->out, "usage: cis") || r->err[0])
      fail_msg("case %zu (%s %s %s): exit %d\nstdout:\n%s\nstderr:\n%s", i, a[0], a[1],
               a[2] ? a[2] : "", r->status, r->out, r->err);
    free(r);
  }
  run_out *r = cis("skill", "install", "--help", NULL);
  assert_contains(r->out, "--allow-volume");
  free(r);
  r = cis("skill", "run", "--help", NULL);
  assert_contains(r->out, "--json");
  assert_contains(r->out, "--timeout DURATION");
  free(r);
  r = cis("skill", "list", NULL); /* nothing was installed by the above */
  expect_out(r, 0, "");
  free(r);
  r = cis("skill", "frobnicate", NULL);
  expect_out(r, 2, "");
  assert_contains(r->err, "unknown subcommand");
  free(r);
  r = cis("skill", "help", "frobnicate", NULL);
  expect_out(r, 2, "");
  free(r);
  r = cis("skill", NULL);
  expect_out(r, 2, "");
  assert_contains(r->err, "usage: cis skill");
  free(r);
}

/* --json on skill run, list and show, inspect and validate: one document,
 * parsed here, on success and on failure. */
static void test_json_documents(void **state) {
  (void)state;
  fresh_home("json");
  run_out *r = cis("skill", "run", "--wasm", fx("skill_echo"), "--json", NULL);
  cJSON *d = json_of(r, "ok", 0, NULL);
  cJSON *out = cJSON_GetObjectItemCaseSensitive(d, "output");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(out, "ok")));
  cJSON *logs = cJSON_GetObjectItemCaseSensitive(d, "logs");
  assert_int_equal(cJSON_GetArraySize(logs), 1);
  assert_contains(cJSON_GetArrayItem(logs, 0)->valuestring, "echo: hello");
  cJSON *st = cJSON_GetObjectItemCaseSensitive(d, "stats");
  assert_true(cJSON_GetObjectItemCaseSensitive(st, "wall_ns")->valuedouble > 0);
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(st, "log_lines")->valueint, 1);
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(st, "kv_sets")->valueint, 0);
  cJSON_Delete(d);
  free(r);

  r = cis("skill", "run", "--json", "--wasm", fx("skill_fail"), NULL);
  d = json_of(r, "error", 4, "CIS_ESKILL");
  assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(d, "output")));
  assert_non_null(cJSON_GetObjectItemCaseSensitive(d, "stats"));
  cJSON_Delete(d);
  free(r);

  r = cis("skill", "run", "--json", "--wasm", "/nonexistent.wasm", NULL);
  cJSON_Delete(json_of(r, "error", 1, "CIS_EIO"));
  free(r);

  r = cis("skill", "install", skill_dir("echo", "skill_echo", NULL, ""), NULL);
  expect_out(r, 0, "installed echo\n");
  free(r);
  r = cis("skill", "list", "--json", NULL);
  d = json_of(r, "ok", 0, NULL);
  cJSON *skills = cJSON_GetObjectItemCaseSensitive(d, "skills");
  assert_int_equal(cJSON_GetArraySize(skills), 1);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(skills, 0), "name")->valuestring,
                      "echo");
  assert_int_equal(strlen(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(skills, 0), "sha256")->valuestring),
                   64);
  cJSON_Delete(d);
  free(r);
  r = cis("skill", "show", "echo", "--json", NULL);
  d = json_of(r, "ok", 0, NULL);
  cJSON *sk = cJSON_GetObjectItemCaseSensitive(d, "skill");
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(sk, "name")->valuestring, "echo");
  cJSON_Delete(d);
  free(r);
  r = cis("skill", "show", "--json", "nosuch", NULL);
  cJSON_Delete(json_of(r, "error", 1, "CIS_ENOTFOUND"));
  free(r);
  r = cis("skill", "run", "echo", "--json", "--input", "[1", NULL);
  cJSON_Delete(json_of(r, "error", 3, "CIS_EJSON"));
  free(r);

  r = cis("inspect", "--json", fx("values"), NULL);
  d = json_of(r, "ok", 0, NULL);
  cJSON *exports = cJSON_GetObjectItemCaseSensitive(d, "exports");
  assert_true(cJSON_GetArraySize(exports) > 0);
  bool add = false;
  cJSON *e;
  cJSON_ArrayForEach(e, exports) {
    if (!strcmp(cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring, "add")) {
      add = true;
      assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "kind")->valuestring, "func");
      assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "params")), 2);
    }
  }
  assert_true(add);
  assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(d, "imports")));
  cJSON_Delete(d);
  free(r);
  /* Invalid but decodable: the error and the listing, in one document. */
  r = cis("inspect", "--json", fx("invalid"), NULL);
  d = cJSON_Parse(r->out);
  assert_non_null(d);
  assert_int_equal(r->status, 3);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "status")->valuestring, "error");
  assert_contains(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "error"), "name")
                      ->valuestring,
                  "CIS_E");
  exports = cJSON_GetObjectItemCaseSensitive(d, "exports");
  assert_int_equal(cJSON_GetArraySize(exports), 1);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(exports, 0), "name")->valuestring,
                      "bad");
  cJSON_Delete(d);
  free(r);

  r = cis("validate", "--json", fx("values"), NULL);
  d = json_of(r, "ok", 0, NULL);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "valid")));
  cJSON_Delete(d);
  free(r);
  r = cis("validate", "--json", tmpfile_with("text3.wasm", "hello\n", 6), NULL);
  d = json_of(r, "error", 3, "CIS_EMAGIC");
  assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(d, "valid")));
  cJSON_Delete(d);
  free(r);
}

/* `cis skill install` fills in an absent or empty wasm.sha256 from the
 * module, checks one that is there, and says what it expected when given a
 * .wasm file. */
static void test_skill_install_sha256(void **state) {
  (void)state;
  fresh_home("sha");
  const char *dir = skill_dir("nohash", "skill_echo", "", "");
  run_out *r = cis("skill", "install", dir, NULL);
  expect_out(r, 0, "installed nohash\n");
  assert_contains(r->err, "has no wasm.sha256; using the module's, ");
  free(r);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s' | grep -v -x -e m.wasm -e skill.json)\"", dir);
  if (system(cmd) != 0) fail_msg("install left a file behind in %s", dir);
  r = cis("skill", "run", "nohash", NULL);
  expect_out(r, 0, "{\"ok\":true}\n");
  free(r);
  /* "" is a placeholder too, and a skill.json path works like its folder. */
  dir = skill_dir("emptyhash", "skill_echo", "\"\"", "");
  char manifest[300];
  snprintf(manifest, sizeof manifest, "%s/skill.json", dir);
  r = cis("skill", "install", manifest, NULL);
  expect_out(r, 0, "installed emptyhash\n");
  free(r);
  /* A wrong one is refused, saying both. */
  r = cis("skill", "install",
              skill_dir("badhash", "skill_echo",
                        "\"0000000000000000000000000000000000000000000000000000000000000000\"", ""),
              NULL);
  expect_out(r, 3, "");
  assert_contains(r->err, "CIS_EHASH: wasm.sha256: the module's sha256 is ");
  free(r);
  /* No module to hash. */
  dir = skill_dir("nomodule", "skill_echo", "", "");
  snprintf(cmd, sizeof cmd, "rm '%s/m.wasm'", dir);
  assert_int_equal(system(cmd), 0);
  r = cis("skill", "install", dir, NULL);
  expect_out(r, 1, "");
  assert_contains(r->err, "CIS_ENOTFOUND: wasm.path: cannot read the module");
  free(r);
  /* A module instead of a folder. */
  r = cis("skill", "install", fx("skill_echo"), NULL);
  expect_out(r, 2, "");
  assert_contains(r->err, "is a WebAssembly module; install expects a skill's folder");
  assert_contains(r->err, "cis skill run --wasm");
  free(r);
}

/* The failures the new code paths report: input and modules that cannot
 * be read, a registry that cannot be opened, an argument too many. */
static void test_skill_error_paths(void **state) {
  (void)state;
  fresh_home("errpaths");
  run_out *r = cis("skill", "run", "--wasm", fx("skill_echo"), "--input", "@/nonexistent/in.json", NULL);
  expect_out(r, 1, "");
  assert_contains(r->err, "CIS_EIO: cannot read input @/nonexistent/in.json");
  free(r);
  r = cis("skill", "show", "a", "b", NULL);
  expect_out(r, 2, "");
  assert_contains(r->err, "unexpected argument \"b\"");
  free(r);
  r = cis("skill", "run", "x", "--wasm", fx("skill_echo"), NULL);
  expect_out(r, 2, "");
  assert_contains(r->err, "either a skill NAME or --wasm");
  free(r);
  r = cis("skill", "install", NULL);
  expect_out(r, 2, "");
  assert_contains(r->err, "no skill folder given");
  free(r);
  r = cis("validate", "--json", "/nonexistent.wasm", NULL);
  cJSON_Delete(json_of(r, "error", 1, "CIS_EIO"));
  free(r);
  r = cis("inspect", "--json", "/nonexistent.wasm", NULL);
  cJSON_Delete(json_of(r, "error", 1, "CIS_EIO"));
  free(r);
  /* A registry that cannot be made: CIS_HOME under a regular file. */
  char home[300];
  snprintf(home, sizeof home, "%s/errpaths/file/home", tmpdir);
  write_text(tmp("errpaths/file"), "x");
  setenv("CIS_HOME", home, 1);
  r = cis("skill", "list", "--json", NULL);
  if (r->status == 0) fail_msg("a registry under a file opened:\n%s", r->out);
  cJSON *d = cJSON_Parse(r->out);
  assert_non_null(d);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "status")->valuestring, "error");
  cJSON_Delete(d);
  free(r);
  r = cis("skill", "list", NULL);
  if (r->status == 0) fail_msg("a registry under a file opened:\n%s", r->out);
  assert_contains(r->err, "cis: CIS_E");
  free(r);
}

static int setup(void **state) {
  (void)state;
  if (!mkdtemp(tmpdir)) return -1;
  cli_run_setup(cis_bin, tmpdir);
  return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

static int teardown(void **state) {
  (void)state;
  nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

/* Every `cis skill` subcommand takes --tenant and opens that tenant's
 * registry, as `cis mcp --tenant` does: `skill run --tenant T NAME` used to
 * run the default tenant's NAME, with T's KV and files. */
static void test_skill_tenant_opens_its_own_registry(void **state) {
  (void)state;
  fresh_home("tenants");
  /* The same name for two tenants: the default's spins, acme's echoes. */
  run_out *r = cis("skill", "install", skill_dir("dup", "skill_spin", NULL, ",\"limits\":{\"timeout_ms\":200}"), NULL);
  expect_out(r, 0, "installed dup\n");
  free(r);
  r = cis("skill", "install", "--tenant", "acme", skill_dir("dup", "skill_echo", NULL, ""), NULL);
  expect_out(r, 0, "installed dup\n");
  free(r);
  r = cis("skill", "install", "--tenant", "acme", skill_dir("mine", "skill_echo", NULL, ""), NULL);
  expect_out(r, 0, "installed mine\n");
  free(r);
  r = cis("skill", "run", "--tenant", "acme", "dup", NULL);
  expect_out(r, 0, "{\"ok\":true}\n");
  free(r);
  r = cis("skill", "run", "dup", NULL);
  expect_out(r, 6, "");
  assert_contains(r->err, "CIS_ETIMEOUT");
  free(r);
  /* acme's other skill is not the default tenant's, nor another's. */
  r = cis("skill", "run", "mine", NULL);
  expect_out(r, 1, "");
  assert_contains(r->err, "CIS_ENOTFOUND");
  free(r);
  r = cis("skill", "run", "--tenant", "beta", "mine", NULL);
  expect_out(r, 1, "");
  assert_contains(r->err, "CIS_ENOTFOUND");
  free(r);
  r = cis("skill", "list", "--tenant", "acme", NULL);
  expect_out(r, 0, NULL);
  assert_contains(r->out, "mine");
  free(r);
  r = cis("skill", "list", NULL);
  expect_out(r, 0, NULL);
  if (strstr(r->out, "mine")) fail_msg("the default tenant lists acme's skill:\n%s", r->out);
  free(r);
  r = cis("skill", "show", "--tenant", "acme", "mine", NULL);
  expect_out(r, 0, NULL);
  free(r);
  r = cis("skill", "config", "--tenant", "acme", "set", "mine", "k", "v", NULL);
  expect_out(r, 0, NULL);
  free(r);
  r = cis("skill", "config", "set", "mine", "k", "v", NULL);
  expect_out(r, 1, "");
  free(r);
  r = cis("skill", "remove", "mine", NULL);
  expect_out(r, 1, "");
  free(r);
  r = cis("skill", "remove", "--tenant", "acme", "mine", NULL);
  expect_out(r, 0, "removed mine\n");
  free(r);
  /* Its setting stayed; --purge on the name deletes it, then nothing is left. */
  r = cis("skill", "remove", "--tenant", "acme", "--purge", "mine", NULL);
  expect_out(r, 0, "purged mine\n");
  free(r);
  r = cis("skill", "remove", "--tenant", "acme", "--purge", "mine", NULL);
  expect_out(r, 1, "");
  assert_contains(r->err, "CIS_ENOTFOUND");
  free(r);
  r = cis("skill", "remove", "--purge", "../mine", NULL);
  assert_int_not_equal(r->status, 0);
  assert_contains(r->err, "CIS_EINVAL");
  free(r);
  /* A tenant name the registry refuses (a control character) is refused. */
  r = cis("skill", "list", "--tenant", "a\tb", NULL);
  assert_int_not_equal(r->status, 0);
  assert_contains(r->err, "CIS_EINVAL: tenant");
  free(r);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_cli CIS_BINARY FIXTURE_DIR\n");
    return 2;
  }
  cis_bin = argv[1];
  fixtures = argv[2];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_version_and_help),
      cmocka_unit_test(test_usage_errors),
      cmocka_unit_test(test_validate_valid),
      cmocka_unit_test(test_validate_invalid),
      cmocka_unit_test(test_validate_malformed),
      cmocka_unit_test(test_inspect),
      cmocka_unit_test(test_inspect_names_and_errors),
      cmocka_unit_test(test_run_integers),
      cmocka_unit_test(test_run_floats),
      cmocka_unit_test(test_run_refs_multi_none),
      cmocka_unit_test(test_run_traps),
      cmocka_unit_test(test_run_timeout),
      cmocka_unit_test(test_run_fuel),
      cmocka_unit_test(test_run_max_memory),
      cmocka_unit_test(test_run_bad_arguments),
      cmocka_unit_test(test_wasi_command),
      cmocka_unit_test(test_wasi_env),
      cmocka_unit_test(test_wasi_dir_host),
      cmocka_unit_test(test_wasi_vfs_mem),
      cmocka_unit_test(test_wasi_vfs_db),
      cmocka_unit_test(test_skill_error_name_once),
      cmocka_unit_test(test_skill_install_grants),
      cmocka_unit_test(test_value_flags_one_parser),
      cmocka_unit_test(test_exit_codes),
      cmocka_unit_test(test_help_everywhere),
      cmocka_unit_test(test_json_documents),
      cmocka_unit_test(test_skill_install_sha256),
      cmocka_unit_test(test_skill_error_paths),
      cmocka_unit_test(test_skill_tenant_opens_its_own_registry),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
