/*
 * This file tests WASI preview1 from the host side: it runs the
 * wasi_probe command (tests/wasi/progs/wasi_probe.c, built for
 * wasm32-wasi) under chosen capabilities and stdio, and checks its output,
 * exit code and timing. Each scenario of the probe checks its own errno
 * values and prints "0 failures" when all of them held.
 *
 * Usage: test_wasi PROBE.wasm
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cis/cis.h"
#include "cis/cis_wasi.h"

static uint8_t *g_wasm;
static size_t g_len;
static cis_engine *g_engine;
static cis_module *g_module;

typedef struct run_out {
  cis_result rc;      /* what cis_wasi_run returned */
  int exit_code;      /* the guest's exit code */
  char out[65536];    /* captured stdout */
  char err[4096];     /* captured stderr */
  double ms;          /* wall time */
} run_out;

/* Runs the probe with argv (argv[0] is the program name) under cfg. */
static void run_probe(cis_wasi_config *cfg, uint64_t timeout_ms, run_out *o) {
  memset(o, 0, sizeof *o);
  cis_wasi *w;
  assert_int_equal(cis_wasi_new(cfg, &w), CIS_OK);
  cis_imports *im;
  assert_int_equal(cis_imports_new(g_engine, &im), CIS_OK);
  assert_int_equal(cis_wasi_add_imports(w, im), CIS_OK);
  cis_limits lim;
  cis_limits_default(&lim);
  lim.timeout_ms = timeout_ms;
  cis_instance *inst;
  cis_result rc = cis_instance_new(g_module, im, &lim, &inst);
  if (rc != CIS_OK) fprintf(stderr, "instantiate: %s\n", cis_errmsg(g_engine));
  assert_int_equal(rc, CIS_OK);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  o->rc = cis_wasi_run(w, inst, &o->exit_code);
  clock_gettime(CLOCK_MONOTONIC, &b);
  o->ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
  size_t n;
  const uint8_t *p = cis_wasi_output(w, 1, &n);
  if (n >= sizeof o->out) n = sizeof o->out - 1;
  if (p) memcpy(o->out, p, n);
  p = cis_wasi_output(w, 2, &n);
  if (n >= sizeof o->err) n = sizeof o->err - 1;
  if (p) memcpy(o->err, p, n);
  if (!strstr(o->out, "0 failures")) fprintf(stderr, "probe output:\n%s\n", o->out);
  cis_instance_free(inst);
  cis_imports_free(im);
  cis_wasi_free(w);
}

static void config(cis_wasi_config *c, uint32_t caps, size_t argc, const char **argv) {
  cis_wasi_config_default(c);
  c->caps = caps;
  c->argc = argc;
  c->argv = argv;
  c->stdio[0] = c->stdio[1] = c->stdio[2] = CIS_WASI_STDIO_BUFFER;
}

static void args_and_env(void **st) {
  (void)st;
  const char *argv[] = {"probe", "args", "two words", "\xc3\xa9"};
  const char *envp[] = {"A=1", "B=x=y"};
  cis_wasi_config c;
  config(&c, CIS_WASI_CAP_ALL, 4, argv);
  c.envc = 2;
  c.envp = envp;
  run_out o;
  run_probe(&c, 5000, &o);
  assert_int_equal(o.rc, CIS_OK);
  assert_int_equal(o.exit_code, 0);
  assert_non_null(strstr(o.out, "arg 2 two words\n"));
  assert_non_null(strstr(o.out, "arg 3 \xc3\xa9\n"));
  const char *envargv[] = {"probe", "env"};
  c.argc = 2;
  c.argv = envargv;
  run_probe(&c, 5000, &o);
  assert_non_null(strstr(o.out, "env A=1\n"));
  assert_non_null(strstr(o.out, "env B=x=y\n"));
}

static void stdio_capture(void **st) {
  (void)st;
  const char *argv[] = {"probe", "stdio"};
  cis_wasi_config c;
  config(&c, CIS_WASI_CAP_ALL, 2, argv);
  c.stdin_data = (const uint8_t *)"{\"in\":1}";
  c.stdin_len = 8;
  run_out o;
  run_probe(&c, 5000, &o);
  assert_int_equal(o.rc, CIS_OK);
  assert_non_null(strstr(o.out, "{\"in\":1}"));
  assert_string_equal(o.err, "stderr line\n");
  /* A null stdout swallows everything; the program still succeeds. */
  c.stdio[1] = CIS_WASI_STDIO_NULL;
  run_probe(&c, 5000, &o);
  assert_int_equal(o.rc, CIS_OK);
  assert_string_equal(o.out, "");
}

static void clocks_random_sockets(void **st) {
  (void)st;
  const char *scen[] = {"clocks", "random", "sockets"};
  for (int i = 0; i < 3; i++) {
    const char *argv[] = {"probe", scen[i]};
    cis_wasi_config c;
    config(&c, CIS_WASI_CAP_ALL, 2, argv);
    run_out o;
    run_probe(&c, 5000, &o);
    assert_int_equal(o.rc, CIS_OK);
    assert_int_equal(o.exit_code, 0);
    assert_non_null(strstr(o.out, "0 failures"));
  }
}

static void denied_capabilities(void **st) {
  (void)st;
  /* No capability at all: the probe sees argc == 0 and runs its "denied"
   * scenario, checking each denied call's errno from inside. */
  const char *argv[] = {"probe", "ignored"};
  cis_wasi_config c;
  config(&c, 0, 2, argv);
  run_out o;
  run_probe(&c, 5000, &o);
  assert_int_equal(o.rc, CIS_OK);
  assert_non_null(strstr(o.out, "ok args-empty"));
  assert_non_null(strstr(o.out, "ok clock-denied"));
  assert_non_null(strstr(o.out, "ok random-denied"));
  assert_non_null(strstr(o.out, "ok sock-accept-denied"));
  assert_non_null(strstr(o.out, "0 failures"));
}

static void exit_codes(void **st) {
  (void)st;
  const char *argv[] = {"probe", "exit", "7"};
  cis_wasi_config c;
  config(&c, CIS_WASI_CAP_ARGS, 3, argv);
  run_out o;
  run_probe(&c, 5000, &o);
  assert_int_equal(o.rc, CIS_OK); /* proc_exit ends the call, it is no trap */
  assert_int_equal(o.exit_code, 7);
}

/* poll_oneoff honours the call's deadline: a 60 s sleep under a 1 s
 * deadline ends at about 1 s with CIS_ETIMEOUT. */
static void sleep_deadline(void **st) {
  (void)st;
  const char *argv[] = {"probe", "sleep", "60"};
  cis_wasi_config c;
  config(&c, CIS_WASI_CAP_ALL, 3, argv);
  run_out o;
  run_probe(&c, 1000, &o);
  assert_int_equal(o.rc, CIS_ETIMEOUT);
  assert_true(o.ms >= 950 && o.ms < 1300);
  assert_null(strstr(o.out, "woke"));
}

/* Bad configuration is refused with a typed error. */
static void bad_config(void **st) {
  (void)st;
  cis_wasi_config c;
  cis_wasi_config_default(&c);
  cis_wasi *w;
  c.argc = 2;
  c.argv = NULL;
  assert_int_equal(cis_wasi_new(&c, &w), CIS_EINVAL);
  cis_wasi_config_default(&c);
  c.stdio[1] = (cis_wasi_stdio)9;
  assert_int_equal(cis_wasi_new(&c, &w), CIS_EINVAL);
  cis_wasi_config_default(&c);
  c.stdin_len = 4;
  assert_int_equal(cis_wasi_new(&c, &w), CIS_EINVAL);
  assert_int_equal(cis_wasi_add_imports(NULL, NULL), CIS_EINVAL);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_wasi PROBE.wasm\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 2;
  fseek(f, 0, SEEK_END);
  g_len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  g_wasm = malloc(g_len);
  if (fread(g_wasm, 1, g_len, f) != g_len) return 2;
  fclose(f);
  if (cis_engine_new(NULL, &g_engine) != CIS_OK) return 2;
  if (cis_module_new(g_engine, g_wasm, g_len, &g_module) != CIS_OK) {
    fprintf(stderr, "probe: %s\n", cis_errmsg(g_engine));
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(args_and_env),        cmocka_unit_test(stdio_capture),
      cmocka_unit_test(clocks_random_sockets), cmocka_unit_test(denied_capabilities),
      cmocka_unit_test(exit_codes),          cmocka_unit_test(sleep_deadline),
      cmocka_unit_test(bad_config),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  cis_module_free(g_module);
  cis_engine_free(g_engine);
  free(g_wasm);
  return rc;
}
