/*
 * This file implements the tests of tail calls (return_call,
 * return_call_indirect, return_call_ref) against the limits, on each
 * engine: a chain of tail calls far deeper than the call-depth limit runs
 * in constant space (direct, through a table, mutual; between functions
 * of two types of several results; between functions with a try that use
 * v128), in constant native stack too (on a thread of a small stack), a
 * tail call to a host function returns its results, and an endless
 * tail-call loop is still stopped by fuel, by the deadline and by a
 * cancel from another thread. The compiled engine compiles into a private
 * CIS_HOME, removed at the end.
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
    "  (type $mv1 (func (param i32 i64) (result i32 i64)))\n"
    "  (type $mv2 (func (param i64 i32) (result i32 i64)))\n"
    "  (type $mv3 (func (param i64 i64) (result i32 i64)))\n"
    "  (type $tv (func (param i32 v128) (result i64)))\n"
    "  (tag $done)\n"
    "  (table funcref (elem $even $odd $mvc))\n"
    "  (elem declare func $mva $tva)\n"
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
    /* a ring of three types of the same two results (n, sum): return_call,
     * return_call_indirect, return_call_ref; n -1 is about forever */
    "  (func $mva (export \"mv\") (type $mv1)\n"
    "    (if (i32.eqz (local.get 0)) (then (return (i32.const 0) (local.get 1))))\n"
    "    (return_call $mvb (i64.add (local.get 1) (i64.extend_i32_u (local.get 0)))\n"
    "                      (i32.sub (local.get 0) (i32.const 1))))\n"
    "  (func $mvb (type $mv2)\n"
    "    (if (i32.eqz (local.get 1)) (then (return (i32.const 0) (local.get 0))))\n"
    "    (return_call_indirect (type $mv3) (i64.extend_i32_u (i32.sub (local.get 1) (i32.const 1)))\n"
    "      (i64.add (local.get 0) (i64.extend_i32_u (local.get 1))) (i32.const 2)))\n"
    "  (func $mvc (type $mv3)\n"
    "    (if (i64.eqz (local.get 0)) (then (return (i32.const 0) (local.get 1))))\n"
    "    (return_call_ref $mv1 (i32.wrap_i64 (i64.sub (local.get 0) (i64.const 1)))\n"
    "      (i64.add (local.get 1) (local.get 0)) (ref.func $mva)))\n"
    /* two functions with a try that use v128 (n, sum in lane 0): n 0
     * throws, caught, which returns the sum */
    "  (func (export \"tv\") (param i32) (result i64)\n"
    "    (return_call $tva (local.get 0) (v128.const i64x2 0 0)))\n"
    "  (func $tva (type $tv)\n"
    "    (block $h\n"
    "      (try_table (catch $done $h)\n"
    "        (if (i32.eqz (local.get 0)) (then (throw $done))))\n"
    "      (return_call $tvb (i32.sub (local.get 0) (i32.const 1))\n"
    "        (i64x2.add (local.get 1) (i64x2.splat (i64.extend_i32_u (local.get 0))))))\n"
    "    (i64x2.extract_lane 0 (local.get 1)))\n"
    "  (func $tvb (type $tv)\n"
    "    (block $h\n"
    "      (try_table (catch $done $h)\n"
    "        (if (i32.eqz (local.get 0)) (then (throw $done))))\n"
    "      (return_call_ref $tv (i32.sub (local.get 0) (i32.const 1))\n"
    "        (i64x2.add (local.get 1) (i64x2.splat (i64.extend_i32_u (local.get 0))))\n"
    "        (ref.func $tva)))\n"
    "    (i64x2.extract_lane 0 (local.get 1)))\n"
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

static cis_result call_n(fixture *f, const char *name, const cis_val *a, uint32_t na, cis_val *r,
                         uint32_t nr) {
  cis_func *fn = cis_instance_func(f->inst, name);
  assert_non_null(fn);
  return cis_func_call(f->inst, fn, a, na, r, nr);
}

static cis_result call(fixture *f, const char *name, const cis_val *a, uint32_t na, cis_val *r) {
  return call_n(f, name, a, na, r, 1);
}

/* The loops that run about forever (n -1): a self tail call, the ring of
 * several results, the functions with a try that use v128. */
static cis_result spin(fixture *f, int which) {
  cis_val a[2] = {{.type = CIS_I64, .of.i64 = 0}, {.type = CIS_I64, .of.i64 = 0}}, r[2];
  if (which == 0) return call(f, "spin", a, 1, r);
  a[0] = (cis_val){.type = CIS_I32, .of.i32 = -1};
  return which == 1 ? call_n(f, "mv", a, 2, r, 2) : call(f, "tv", a, 1, r);
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
  for (int which = 0; which < 3; which++) {
    fixture f;
    open_fixture(&f, engine, 2000000, 0);
    assert_int_equal(spin(&f, which), CIS_EFUEL);
    assert_int_equal(cis_instance_fuel_left(f.inst), 0);
    close_fixture(&f);
  }
}

static void endless_loop_stops_at_the_deadline(const char *engine) {
  for (int which = 0; which < 3; which++) {
    fixture f;
    open_fixture(&f, engine, 0, 200);
    double t0 = rt_now_ms();
    assert_int_equal(spin(&f, which), CIS_ETIMEOUT);
    double ms = rt_now_ms() - t0;
    assert_true(ms >= 199.0);
    assert_true(ms < 2000.0); /* ten times the deadline: only a deadline never seen fails */
    close_fixture(&f);
  }
}

/* The chains of several results and of functions with a try that use
 * v128, a million calls each, on a thread of a 256 KiB native stack: a
 * chain that took native stack would end with "call stack exhausted". */
typedef struct small_run {
  fixture *f;
  cis_result rc[2];
  cis_val r[2][2];
} small_run;

static void *small_main(void *arg) {
  small_run *s = arg;
  cis_val a[2] = {{.type = CIS_I32, .of.i32 = 1000000}, {.type = CIS_I64, .of.i64 = 0}};
  s->rc[0] = call_n(s->f, "mv", a, 2, s->r[0], 2);
  s->rc[1] = call(s->f, "tv", a, 1, s->r[1]);
  return NULL;
}

static void chains_run_in_constant_native_stack(const char *engine) {
  fixture f;
  open_fixture(&f, engine, 0, 0);
  small_run s = {.f = &f};
  pthread_attr_t at;
  pthread_t th;
  assert_int_equal(pthread_attr_init(&at), 0);
  assert_int_equal(pthread_attr_setstacksize(&at, 256 * 1024), 0);
  assert_int_equal(pthread_create(&th, &at, small_main, &s), 0);
  pthread_join(th, NULL);
  pthread_attr_destroy(&at);
  for (int k = 0; k < 2; k++)
    if (s.rc[k] != CIS_OK) fail_msg("%s: %s: %s: %s", engine, k ? "tv" : "mv", cis_errname(s.rc[k]),
                                    cis_errmsg(f.inst));
  assert_int_equal(s.r[0][0].of.i32, 0);
  assert_int_equal(s.r[0][1].of.i64, 500000500000LL);
  assert_int_equal(s.r[1][0].of.i64, 500000500000LL);
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
ON_BOTH(chains_run_in_constant_native_stack)
ON_BOTH(endless_loop_stops_on_fuel)
ON_BOTH(endless_loop_stops_at_the_deadline)
ON_BOTH(endless_loop_stops_on_cancel)

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(chains_run_in_constant_space_interp),
      cmocka_unit_test(chains_run_in_constant_space_aot),
      cmocka_unit_test(chains_run_in_constant_native_stack_interp),
      cmocka_unit_test(chains_run_in_constant_native_stack_aot),
      cmocka_unit_test(endless_loop_stops_on_fuel_interp),
      cmocka_unit_test(endless_loop_stops_on_fuel_aot),
      cmocka_unit_test(endless_loop_stops_at_the_deadline_interp),
      cmocka_unit_test(endless_loop_stops_at_the_deadline_aot),
      cmocka_unit_test(endless_loop_stops_on_cancel_interp),
      cmocka_unit_test(endless_loop_stops_on_cancel_aot),
  };
  return cmocka_run_group_tests(tests, rt_home_setup, rt_home_teardown);
}
