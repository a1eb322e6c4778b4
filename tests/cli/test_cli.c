/*
 * This file implements the tests of the `cis` command line: it runs the
 * built program on the .wat fixtures of this folder (compiled to .wasm by
 * the build) and checks stdout, stderr and the exit code of `validate`,
 * `inspect`, `run` with each value type, traps, the limit flags and bad
 * usage.
 *
 *   test_cli CIS_BINARY FIXTURE_DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

static const char *cis_bin;     /* the program under test */
static const char *fixtures;    /* folder of the compiled .wasm fixtures */
static char tmpdir[] = "/tmp/cis-cli-XXXXXX"; /* files the tests write */

/* What one run of the program produced. */
typedef struct cli_result {
  int status;      /* exit code, or 128 + signal */
  char out[16384]; /* stdout, NUL-terminated (truncated if longer) */
  char err[16384]; /* stderr, likewise */
  double secs;     /* wall-clock time of the run */
} cli_result;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void slurp(const char *path, char *buf, size_t len) {
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(buf, 1, len - 1, f) : 0;
  buf[n] = '\0';
  if (f) fclose(f);
}

/* Runs `cis ARGS...` (NULL-terminated) with stdout and stderr captured in
 * files. A run longer than 60 s is killed, so a broken limit fails the
 * test instead of hanging it. */
static cli_result *run_cis(const char *first, ...) {
  const char *argv[32];
  int n = 0;
  argv[n++] = cis_bin;
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a && n < 31; a = va_arg(ap, const char *)) argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;

  char out_path[64], err_path[64];
  snprintf(out_path, sizeof out_path, "%s/stdout", tmpdir);
  snprintf(err_path, sizeof err_path, "%s/stderr", tmpdir);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  cli_result *r = calloc(1, sizeof *r);
  assert_non_null(r);
  double t0 = now();
  pid_t pid;
  int rc = posix_spawn(&pid, cis_bin, &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  assert_int_equal(rc, 0);
  int st = 0;
  for (;;) {
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid) break;
    assert_true(w == 0 || errno == EINTR);
    if (now() - t0 > 60) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      break;
    }
    usleep(2000);
  }
  r->secs = now() - t0;
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  slurp(out_path, r->out, sizeof r->out);
  slurp(err_path, r->err, sizeof r->err);
  return r;
}

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

static void expect(cli_result *r, int status, const char *out) {
  if (r->status != status)
    fail_msg("exit %d, expected %d\nstdout:\n%s\nstderr:\n%s", r->status, status, r->out, r->err);
  if (out && strcmp(r->out, out))
    fail_msg("stdout:\n%s\nexpected:\n%s\nstderr:\n%s", r->out, out, r->err);
}

/* ---------------------------------------------------------- top level */

static void test_version_and_help(void **state) {
  (void)state;
  cli_result *r = run_cis("--version", NULL);
  expect(r, 0, "cis 0.1.0\n");
  free(r);
  r = run_cis("version", NULL);
  expect(r, 0, "cis 0.1.0\n");
  free(r);
  r = run_cis("help", NULL);
  expect(r, 0, NULL);
  assert_contains(r->out, "run");
  assert_contains(r->out, "validate");
  assert_contains(r->out, "inspect");
  free(r);
  r = run_cis("help", "run", NULL);
  expect(r, 0, NULL);
  assert_contains(r->out, "--invoke");
  assert_contains(r->out, "--max-memory");
  free(r);
  r = run_cis("run", "--help", NULL);
  expect(r, 0, NULL);
  assert_contains(r->out, "--fuel");
  free(r);
}

static void test_usage_errors(void **state) {
  (void)state;
  cli_result *r = run_cis(NULL);
  expect(r, 2, "");
  assert_contains(r->err, "usage: cis COMMAND");
  free(r);
  r = run_cis("frobnicate", NULL);
  expect(r, 2, "");
  assert_contains(r->err, "unknown command \"frobnicate\"");
  free(r);
  r = run_cis("help", "frobnicate", NULL);
  expect(r, 2, "");
  free(r);
  r = run_cis("validate", NULL);
  expect(r, 2, "");
  assert_contains(r->err, "usage: cis validate");
  free(r);
  r = run_cis("validate", fx("values"), fx("loops"), NULL);
  expect(r, 2, "");
  free(r);
  r = run_cis("validate", "--strict", fx("values"), NULL);
  expect(r, 2, "");
  assert_contains(r->err, "unknown option --strict");
  free(r);
  r = run_cis("inspect", NULL);
  expect(r, 2, "");
  free(r);
}

/* ------------------------------------------------------------ validate */

static void test_validate_valid(void **state) {
  (void)state;
  cli_result *r = run_cis("validate", fx("values"), NULL);
  expect(r, 0, "valid\n");
  assert_string_equal(r->err, "");
  free(r);
}

static void test_validate_invalid(void **state) {
  (void)state;
  cli_result *r = run_cis("validate", fx("invalid"), NULL);
  expect(r, 1, "");
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
  cli_result *r = run_cis("validate", tmpfile_with("trunc.wasm", trunc, sizeof trunc), NULL);
  expect(r, 1, "");
  assert_contains(r->err, "cis: ");
  assert_contains(r->err, ": CIS_E");
  free(r);

  r = run_cis("validate", tmpfile_with("text.wasm", "hello\n", 6), NULL);
  expect(r, 1, "");
  assert_contains(r->err, "CIS_EMAGIC: magic header not detected");
  free(r);

  r = run_cis("validate", tmpfile_with("empty.wasm", "", 0), NULL);
  expect(r, 1, "");
  assert_contains(r->err, ": CIS_E");
  free(r);

  static const unsigned char version2[] = {0, 'a', 's', 'm', 2, 0, 0, 0};
  r = run_cis("validate", tmpfile_with("v2.wasm", version2, sizeof version2), NULL);
  expect(r, 1, "");
  assert_contains(r->err, "CIS_EVERSION");
  free(r);

  r = run_cis("validate", "/nonexistent/x.wasm", NULL);
  expect(r, 1, "");
  assert_contains(r->err, "cannot open");
  free(r);

  r = run_cis("validate", tmpdir, NULL);
  expect(r, 1, "");
  assert_contains(r->err, "cannot read");
  free(r);
}

/* ------------------------------------------------------------- inspect */

static void test_inspect(void **state) {
  (void)state;
  cli_result *r = run_cis("inspect", fx("imports"), NULL);
  expect(r, 0,
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
  cli_result *r = run_cis("inspect", fx("values"), NULL);
  expect(r, 0, NULL);
  assert_contains(r->out, "imports (0):\n");
  assert_contains(r->out, "  func    a\\00b () -> (i32)\n"); /* the NUL is shown, not cut */
  assert_contains(r->out, "  func    pair (i32, f64) -> (f64, i32)\n");
  assert_contains(r->out, "  memory  memory min 1 max none pages\n");
  assert_contains(r->out, "  global  g const i32\n");
  free(r);

  /* Invalid but decodable: the error, then the listing anyway. */
  r = run_cis("inspect", fx("invalid"), NULL);
  expect(r, 1, NULL);
  assert_contains(r->err, fx("invalid"));
  assert_contains(r->out, "  func    bad () -> (i32)\n");
  free(r);

  r = run_cis("inspect", tmpfile_with("text2.wasm", "hello\n", 6), NULL);
  expect(r, 1, "");
  assert_contains(r->err, "CIS_EMAGIC");
  free(r);
}

/* ----------------------------------------------------------------- run */

static void run_expect(const char *out, const char *a1, const char *a2, const char *a3,
                       const char *a4) {
  cli_result *r = run_cis("run", "--invoke", a1, fx("values"), a2, a3, a4, NULL);
  expect(r, 0, out);
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
  cli_result *r = run_cis("run", "--invoke=add", "--", fx("values"), "-4", "-5", NULL);
  expect(r, 0, "-9\n");
  free(r);
}

static void test_run_traps(void **state) {
  (void)state;
  cli_result *r = run_cis("run", "--invoke", "div_s", fx("values"), "1", "0", NULL);
  expect(r, 1, "");
  assert_contains(r->err, "CIS_TRAP_DIV_ZERO: integer divide by zero");
  free(r);
  r = run_cis("run", "--invoke", "div_s", fx("values"), "-2147483648", "-1", NULL);
  expect(r, 1, "");
  assert_contains(r->err, "CIS_TRAP_INT_OVERFLOW: integer overflow");
  free(r);
  r = run_cis("run", "--invoke", "boom", fx("values"), NULL);
  expect(r, 1, "");
  assert_contains(r->err, "CIS_TRAP_UNREACHABLE: unreachable");
  free(r);
  r = run_cis("run", "--invoke", "oob", fx("values"), NULL);
  expect(r, 1, "");
  assert_contains(r->err, "CIS_TRAP_MEM_OOB: out of bounds memory access");
  free(r);
  /* A trapping start function fails the instantiation. */
  r = run_cis("run", "--invoke", "f", fx("starttrap"), NULL);
  expect(r, 1, "");
  assert_contains(r->err, "CIS_TRAP_UNREACHABLE");
  free(r);
  /* Imports that nothing provides. */
  r = run_cis("run", "--invoke", "f", fx("imports"), "1", "2", NULL);
  expect(r, 1, "");
  assert_contains(r->err, "CIS_EUNKNOWNIMPORT");
  free(r);
}

static void test_run_timeout(void **state) {
  (void)state;
  cli_result *r = run_cis("run", "--timeout", "200", "--invoke", "spin", fx("loops"), NULL);
  expect(r, 1, "");
  assert_contains(r->err, "CIS_ETIMEOUT: deadline exceeded");
  if (r->secs < 0.15 || r->secs > 20) fail_msg("the 200 ms deadline took %.3f s", r->secs);
  free(r);
  r = run_cis("run", "--timeout", "5000", "--invoke", "count", fx("loops"), "1000", NULL);
  expect(r, 0, "1000\n");
  free(r);
}

static void test_run_fuel(void **state) {
  (void)state;
  cli_result *r = run_cis("run", "--fuel", "10000", "--invoke", "spin", fx("loops"), NULL);
  expect(r, 1, "");
  assert_contains(r->err, "CIS_EFUEL: fuel exhausted");
  free(r);
  r = run_cis("run", "--fuel", "100000000", "--invoke", "count", fx("loops"), "1000", NULL);
  expect(r, 0, "1000\n");
  free(r);
  r = run_cis("run", "--fuel", "100", "--invoke", "count", fx("loops"), "1000000", NULL);
  expect(r, 1, "");
  assert_contains(r->err, "CIS_EFUEL");
  free(r);
}

static void test_run_max_memory(void **state) {
  (void)state;
  cli_result *r = run_cis("run", "--max-memory", "65536", "--invoke", "pages", fx("bigmem"), NULL);
  expect(r, 1, "");
  assert_contains(r->err, "CIS_EMEMLIMIT: memory limit exceeded");
  free(r);
  r = run_cis("run", "--max-memory", "0x40000", "--invoke", "pages", fx("bigmem"), NULL);
  expect(r, 0, "4\n");
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
      {"--timeout", "-5", "--invoke", "add", "F", NULL},
      {"--fuel", "F", NULL},
      {"--bogus", "--invoke", "add", "F", NULL},
      {"--invoke", "", "F", NULL},
      {"--invoke", NULL},
      {"--invoke=add", NULL},
      {"F", "1", NULL},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *a[6];
    for (int k = 0; k < 6; k++)
      a[k] = bad[i][k] && !strcmp(bad[i][k], "F") ? fx("values") : bad[i][k];
    cli_result *r = run_cis("run", a[0], a[1], a[2], a[3], a[4], a[5], NULL);
    if (r->status != 2 || r->out[0])
      fail_msg("case %zu: exit %d (expected 2)\nstdout:\n%s\nstderr:\n%s", i, r->status, r->out,
               r->err);
    assert_true(r->err[0] != '\0');
    free(r);
  }
  /* Failures that are not usage errors. */
  cli_result *r = run_cis("run", "--invoke", "nosuch", fx("values"), NULL);
  expect(r, 1, "");
  assert_contains(r->err, "no exported function \"nosuch\"");
  free(r);
  r = run_cis("run", "--invoke", "g", fx("values"), NULL);
  expect(r, 1, "");
  free(r);
  r = run_cis("run", fx("values"), NULL);
  expect(r, 1, "");
  assert_contains(r->err, "_start");
  free(r);
  r = run_cis("run", "--invoke", "add", "/nonexistent.wasm", "1", "2", NULL);
  expect(r, 1, "");
  assert_contains(r->err, "cannot open");
  free(r);
}

static int setup(void **state) {
  (void)state;
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  static const char *files[] = {"stdout", "stderr", "trunc.wasm", "text.wasm",
                                "text2.wasm", "empty.wasm", "v2.wasm"};
  char p[256];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
    unlink(p);
  }
  rmdir(tmpdir);
  return 0;
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
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
