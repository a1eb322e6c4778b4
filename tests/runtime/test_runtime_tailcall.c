/*
 * This file implements the tests of tail calls (return_call,
 * return_call_indirect) against the limits, on each engine: a chain of
 * tail calls far deeper than the call-depth limit runs in constant space
 * (direct, through a table, mutual), a tail call to a host function
 * returns its results, and an endless tail-call loop is still stopped by
 * fuel, by the deadline and by a cancel from another thread. The compiled
 * engine compiles into a private CIS_HOME, removed at the end.
 */
#include "runtime/rt_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char tail_wat[] =
    "(module\n"
    "  (import \"host\" \"twice\" (func $twice (param i64) (result i64)))\n"
    "  (type $ll (func (param i64 i64) (result i64)))\n"
    "  (type $l (func (param i64) (result i32)))\n"
    "  (table funcref (elem $even $odd))\n"
    /* n iterations of a self tail call, accumulating */
    "  (func $sum (export \"sum\") (type $ll)\n"
    "    (if (result i64) (i64.eqz (local.get 0)) (then (local.get 1))\n"
    "      (else (return_call $sum (i64.sub (local.get 0) (i64.const 1))\n"
    "                              (i64.add (local.get 1) (local.get 0))))))\n"
    /* mutual recursion through the table */
    "  (func $even (export \"even\") (type $l)\n"
    "    (if (result i32) (i64.eqz (local.get 0)) (then (i32.const 1))\n"
    "      (else (return_call_indirect (type $l) (i64.sub (local.get 0) (i64.const 1))\n"
    "                                  (i32.const 1)))))\n"
    "  (func $odd (export \"odd\") (type $l)\n"
    "    (if (result i32) (i64.eqz (local.get 0)) (then (i32.const 0))\n"
    "      (else (return_call_indirect (type $l) (i64.sub (local.get 0) (i64.const 1))\n"
    "                                  (i32.const 0)))))\n"
    /* a tail call to the host, whose result is the caller's */
    "  (func (export \"host_tail\") (param i64) (result i64)\n"
    "    (return_call $twice (i64.add (local.get 0) (i64.const 1))))\n"
    /* forever */
    "  (func $spin (export \"spin\") (param i64) (result i64)\n"
    "    (return_call $spin (i64.add (local.get 0) (i64.const 1)))))\n";

typedef rt_fixture fixture;

/* The module on engine name, with limits: depth 200 (far below the
 * chains), and the given fuel and timeout. */
static void open_fixture(fixture *f, const char *name, uint64_t fuel, uint64_t timeout_ms) {
  rt_fixture_open(f, name, tail_wat, sizeof tail_wat - 1, fuel, timeout_ms);
}

static void close_fixture(fixture *f) { rt_fixture_close(f); }

static cis_result call(fixture *f, const char *name, const cis_val *a, uint32_t na, cis_val *r) {
  cis_func *fn = cis_instance_func(f->inst, name);
  assert_non_null(fn);
  return cis_func_call(f->inst, fn, a, na, r, 1);
}

static void chains_run_in_constant_space(const char *engine) {
  fixture f;
  open_fixture(&f, engine, 0, 0);
  cis_val a[2] = {{.type = CIS_I64, .of.i64 = 1000000}, {.type = CIS_I64, .of.i64 = 0}}, r;
  cis_result rc = call(&f, "sum", a, 2, &r);
  if (rc != CIS_OK) fail_msg("%s: sum: %s: %s", engine, cis_errname(rc), cis_errmsg(f.inst));
  assert_int_equal(r.of.i64, 500000500000LL);
  a[0].of.i64 = 300001;
  assert_int_equal(call(&f, "even", a, 1, &r), CIS_OK);
  assert_int_equal(r.of.i32, 0);
  assert_int_equal(call(&f, "odd", a, 1, &r), CIS_OK);
  assert_int_equal(r.of.i32, 1);
  a[0].of.i64 = 20;
  assert_int_equal(call(&f, "host_tail", a, 1, &r), CIS_OK);
  assert_int_equal(r.of.i64, 42);
  close_fixture(&f);
}

static void endless_loop_stops_on_fuel(const char *engine) {
  fixture f;
  open_fixture(&f, engine, 2000000, 0);
  cis_val a = {.type = CIS_I64, .of.i64 = 0}, r;
  assert_int_equal(call(&f, "spin", &a, 1, &r), CIS_EFUEL);
  assert_int_equal(cis_instance_fuel_left(f.inst), 0);
  close_fixture(&f);
}

static void endless_loop_stops_at_the_deadline(const char *engine) {
  fixture f;
  open_fixture(&f, engine, 0, 200);
  cis_val a = {.type = CIS_I64, .of.i64 = 0}, r;
  double t0 = rt_now_ms();
  assert_int_equal(call(&f, "spin", &a, 1, &r), CIS_ETIMEOUT);
  double ms = rt_now_ms() - t0;
  assert_true(ms >= 199.0);
  assert_true(ms < 2000.0); /* ten times the deadline: only a deadline never seen fails */
  close_fixture(&f);
}

typedef struct canceller {
  cis_instance *inst;
  int after_ms;
} canceller;

static void *cancel_main(void *arg) {
  canceller *c = arg;
  struct timespec ts = {0, (long)c->after_ms * 1000000L};
  nanosleep(&ts, NULL);
  cis_instance_cancel(c->inst);
  return NULL;
}

static void endless_loop_stops_on_cancel(const char *engine) {
  fixture f;
  open_fixture(&f, engine, 0, 0);
  canceller c = {f.inst, 100};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, cancel_main, &c), 0);
  cis_val a = {.type = CIS_I64, .of.i64 = 0}, r;
  assert_int_equal(call(&f, "spin", &a, 1, &r), CIS_ECANCELED);
  pthread_join(th, NULL);
  close_fixture(&f);
}

#define ON_BOTH(test)                                                          \
  static void test##_interp(void **state) {                                    \
    (void)state;                                                               \
    test("interp");                                                            \
  }                                                                            \
  static void test##_aot(void **state) {                                       \
    (void)state;                                                               \
    test("aot");                                                               \
  }
ON_BOTH(chains_run_in_constant_space)
ON_BOTH(endless_loop_stops_on_fuel)
ON_BOTH(endless_loop_stops_at_the_deadline)
ON_BOTH(endless_loop_stops_on_cancel)

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(chains_run_in_constant_space_interp),
      cmocka_unit_test(chains_run_in_constant_space_aot),
      cmocka_unit_test(endless_loop_stops_on_fuel_interp),
      cmocka_unit_test(endless_loop_stops_on_fuel_aot),
      cmocka_unit_test(endless_loop_stops_at_the_deadline_interp),
      cmocka_unit_test(endless_loop_stops_at_the_deadline_aot),
      cmocka_unit_test(endless_loop_stops_on_cancel_interp),
      cmocka_unit_test(endless_loop_stops_on_cancel_aot),
  };
  return cmocka_run_group_tests(tests, rt_home_setup, rt_home_teardown);
}
