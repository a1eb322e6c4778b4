/*
 * This file implements the tests of exception handling in compiled code,
 * each case run on the compiled engine and on the interpreter for the
 * same answer: a throw through a host function that calls back into
 * compiled code, through 10,000 frames without a try, caught by
 * catch_all_ref and thrown again by throw_ref, uncaught at the top level
 * (CIS_EXCEPTION), a try in a function called in a hot loop (with locals
 * set inside the try and read in the catch), a try in a tail-call loop
 * (of one function, and of two calling each other),
 * frames that returned or tail-called out of a try, and tries left by a
 * branch or at their end, catching nothing, a catch to a label's
 * positions that no code pushed before, exceptions between instances of
 * the two engines both ways,
 * an exnref kept in a table across calls; and that only functions with a
 * try link a handler (the generated C).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aot_test.h"

static const char wat[] =
    "(module\n"
    "  (import \"host\" \"call_back\" (func $call_back (param i32) (result i32)))\n"
    "  (tag $e (param i32))\n"
    "  (table $kept 1 exnref)\n"
    "  (func $thrower (export \"thrower\") (param i32) (throw $e (local.get 0)))\n"
    /* through a host function calling back into compiled code */
    "  (func (export \"via_host\") (param i32) (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (catch $e $h) (drop (call $call_back (local.get 0))))\n"
    "      (i32.const -1))\n"
    "    (i32.const 1) (i32.add))\n"
    /* from n frames down, none with a try; a global set after each call
     * keeps the frames (no loop made of the recursion) */
    "  (global $g (mut i32) (i32.const 0))\n"
    "  (func $down (param i32) (result i32)\n"
    "    (if (i32.eqz (local.get 0)) (then (throw $e (i32.const 99))))\n"
    "    (call $down (i32.sub (local.get 0) (i32.const 1)))\n"
    "    (global.set $g (local.get 0)))\n"
    "  (func (export \"deep\") (param i32) (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (result i32) (catch $e $h) (call $down (local.get 0)))))\n"
    /* catch_all_ref, then throw_ref: caught again by tag outside */
    "  (func $all_ref (param i32)\n"
    "    (block $h (result exnref)\n"
    "      (try_table (catch_all_ref $h) (throw $e (local.get 0)))\n"
    "      (unreachable))\n"
    "    (throw_ref))\n"
    "  (func (export \"all_ref\") (param i32) (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (catch $e $h) (call $all_ref (local.get 0)))\n"
    "      (i32.const -1)))\n"
    /* a try called in a hot loop: $x set in the try, read after the catch;
     * every 7th throws from a callee, every 11th directly */
    "  (func $maybe (param i32) (result i32) (local $x i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (result i32) (catch $e $h)\n"
    "        (local.set $x (i32.mul (local.get 0) (i32.const 3)))\n"
    "        (if (i32.eqz (i32.rem_u (local.get 0) (i32.const 7)))\n"
    "          (then (call $thrower (local.get $x))))\n"
    "        (local.set $x (i32.add (local.get $x) (i32.const 1)))\n"
    "        (if (i32.eqz (i32.rem_u (local.get 0) (i32.const 11)))\n"
    "          (then (throw $e (local.get $x))))\n"
    "        (local.get 0)))\n"
    "    (local.get $x) (i32.add))\n"
    "  (func (export \"hot\") (param i32) (result i64) (local $i i32) (local $s i64)\n"
    "    (loop $l\n"
    "      (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (call $maybe (local.get $i)))))\n"
    "      (local.set $i (i32.add (local.get $i) (i32.const 1)))\n"
    "      (br_if $l (i32.lt_u (local.get $i) (local.get 0))))\n"
    "    (local.get $s))\n"
    /* a try in each pass of a tail-call loop */
    "  (func $tl (export \"tail_loop\") (param i32 i32) (result i32)\n"
    "    (if (i32.eqz (local.get 0)) (then (return (local.get 1))))\n"
    "    (block $h (result i32)\n"
    "      (try_table (result i32) (catch $e $h) (throw $e (local.get 0))))\n"
    "    (local.get 1) (i32.add) (local.set 1)\n"
    "    (return_call $tl (i32.sub (local.get 0) (i32.const 1)) (local.get 1)))\n"
    /* two functions with a try tail-calling each other (directly and
     * through a table) */
    "  (type $pp (func (param i32 i32) (result i32)))\n"
    "  (table $ft 1 funcref)\n"
    "  (elem (table $ft) (i32.const 0) func $pong)\n"
    "  (func $ping (type $pp)\n"
    "    (if (i32.eqz (local.get 0)) (then (return (local.get 1))))\n"
    "    (block $h (result i32)\n"
    "      (try_table (result i32) (catch $e $h) (throw $e (local.get 0))))\n"
    "    (local.get 1) (i32.add) (local.set 1)\n"
    "    (return_call_indirect $ft (type $pp) (i32.sub (local.get 0) (i32.const 1)) (local.get 1)\n"
    "      (i32.const 0)))\n"
    "  (func $pong (export \"ping_pong\") (type $pp)\n"
    "    (if (i32.eqz (local.get 0)) (then (return (local.get 1))))\n"
    "    (block $h (result i32)\n"
    "      (try_table (result i32) (catch $e $h)\n"
    "        (return_call $ping (i32.sub (local.get 0) (i32.const 1))\n"
    "          (i32.add (local.get 1) (local.get 0)))))\n"
    "    (drop) (i32.const -1))\n"
    /* a function with a try that returned is no handler any more */
    "  (func $quiet (result i32)\n"
    "    (block $h (try_table (catch_all $h) (nop)))\n"
    "    (i32.const 5))\n"
    "  (func (export \"after_return\") (param i32) (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (catch $e $h) (drop (call $quiet)) (call $thrower (local.get 0)))\n"
    "      (i32.const -1)))\n"
    /* nor one that tail-called from inside its try: compiled code, or
     * through the runtime (a host function calling back) */
    "  (func $thrower_r (param i32) (result i32) (throw $e (local.get 0)))\n"
    "  (func $tc_compiled (param i32) (result i32)\n"
    "    (block $h (try_table (catch_all $h) (return_call $thrower_r (local.get 0))))\n"
    "    (i32.const -7))\n"
    "  (func $tc_host (param i32) (result i32)\n"
    "    (block $h (try_table (catch_all $h) (return_call $call_back (local.get 0))))\n"
    "    (i32.const -8))\n"
    "  (func (export \"tail_in_try\") (param i32) (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (result i32) (catch $e $h)\n"
    "        (call $tc_compiled (local.get 0))))\n"
    "    (block $h (result i32)\n"
    "      (try_table (result i32) (catch $e $h)\n"
    "        (call $tc_host (local.get 0))))\n"
    "    (i32.add))\n"
    /* a try left by a branch, or at its end, catches nothing after */
    "  (func (export \"br_out\") (param i32) (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (catch $e $h)\n"
    "        (block $out\n"
    "          (block $h2 (result i32) (try_table (catch $e $h2) (br $out)) (br $out))\n"
    "          (drop) (return (i32.const -5)))\n"
    "        (throw $e (local.get 0)))\n"
    "      (unreachable)))\n"
    "  (func (export \"fall_out\") (param i32) (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (catch $e $h)\n"
    "        (block $h2 (result i32)\n"
    "          (try_table (catch $e $h2) (nop))\n"
    "          (throw $e (local.get 0)))\n"
    "        (drop) (return (i32.const -5)))\n"
    "      (unreachable)))\n"
    /* an exnref kept in a table, thrown again by a later call */
    "  (func (export \"keep\") (param i32) (local $x exnref)\n"
    "    (block $h (result exnref)\n"
    "      (try_table (catch_all_ref $h) (throw $e (local.get 0)))\n"
    "      (unreachable))\n"
    "    (local.set $x)\n"
    "    (table.set $kept (i32.const 0) (local.get $x)))\n"
    "  (func (export \"throw_kept\") (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (catch $e $h) (throw_ref (table.get $kept (i32.const 0))))\n"
    "      (i32.const -1))))\n";

/* Calls export "thrower" of the calling instance with the argument: its
 * exception goes on through this function. */
static cis_result host_call_back(cis_call *c, const cis_slot *a, cis_slot *r) {
  cis_instance *inst = cis_call_instance(c);
  cis_slot ar[1] = {a[0]};
  r[0].u64 = 0;
  return cis_func_call_slots(inst, cis_instance_func(inst, "thrower"), ar, NULL);
}

typedef struct fixture {
  cis_engine *e;
  cis_module *m;
  cis_imports *im;
  cis_instance *inst;
} fixture;

static void open_fixture(fixture *f, const char *name) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = name;
  cfg.limits.max_call_depth = 20000;
  assert_int_equal(cis_engine_new(&cfg, &f->e), CIS_OK);
  cis_result rc = cis_module_new_text(f->e, wat, sizeof wat - 1, &f->m);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(f->e));
  cis_host_func_def d[] = {{"host", "call_back", "(i)i", host_call_back, NULL, 0}};
  assert_int_equal(cis_imports_new(f->e, &f->im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(f->im, d, 1), CIS_OK);
  rc = cis_instance_new(f->m, f->im, NULL, &f->inst);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(f->e));
}

static void close_fixture(fixture *f) {
  cis_instance_free(f->inst);
  cis_imports_free(f->im);
  cis_module_free(f->m);
  cis_engine_free(f->e);
}

/* Calls export name on i32 arguments (at most two); its one result, an
 * i32 or i64, in *out. */
static cis_result call(fixture *f, const char *name, uint32_t na, int32_t a0, int32_t a1,
                       int64_t *out) {
  cis_func *fn = cis_instance_func(f->inst, name);
  assert_non_null(fn);
  cis_val a[2] = {{.type = CIS_I32, .of.i32 = a0}, {.type = CIS_I32, .of.i32 = a1}}, r[1];
  uint32_t np, nr;
  const cis_valtype *pt, *rt;
  cis_func_type(fn, &np, &pt, &nr, &rt);
  cis_result rc = cis_func_call(f->inst, fn, a, na, r, nr);
  if (rc == CIS_OK && nr && out) *out = r[0].type == CIS_I64 ? r[0].of.i64 : r[0].of.i32;
  return rc;
}

static const char *const engines[] = {"aot", "interp"};

/* Each engine's call of name returns want. */
static void expect(const char *name, uint32_t na, int32_t a0, int32_t a1, int64_t want) {
  for (size_t i = 0; i < sizeof engines / sizeof *engines; i++) {
    fixture f;
    open_fixture(&f, engines[i]);
    int64_t got = 0;
    cis_result rc = call(&f, name, na, a0, a1, &got);
    if (rc != CIS_OK) fail_msg("%s: %s: %s: %s", engines[i], name, cis_errname(rc), cis_errmsg(f.inst));
    if (got != want)
      fail_msg("%s: %s(%d) = %lld, want %lld", engines[i], name, a0, (long long)got, (long long)want);
    close_fixture(&f);
  }
}

static void aot_throw_through_a_host_function(void **state) {
  (void)state;
  expect("via_host", 1, 41, 0, 42);
}

static void aot_throw_through_10000_frames(void **state) {
  (void)state;
  expect("deep", 1, 10000, 0, 99);
  /* and the call after it runs from a sound state, twice */
  fixture f;
  open_fixture(&f, "aot");
  for (int k = 0; k < 2; k++) {
    int64_t got = 0;
    assert_int_equal(call(&f, "deep", 1, 10000, 0, &got), CIS_OK);
    assert_int_equal(got, 99);
  }
  /* past the depth limit it is a trap, which no handler catches */
  assert_int_equal(call(&f, "deep", 1, 30000, 0, NULL), CIS_TRAP_STACK);
  close_fixture(&f);
}

static void aot_frames_that_left_catch_nothing(void **state) {
  (void)state;
  expect("after_return", 1, 12, 0, 12);
  expect("tail_in_try", 1, 6, 0, 12);
  expect("br_out", 1, 13, 0, 13);
  expect("fall_out", 1, 14, 0, 14);
}

static void aot_catch_all_ref_then_throw_ref(void **state) {
  (void)state;
  expect("all_ref", 1, 7, 0, 7);
}

static void aot_uncaught_is_cis_exception(void **state) {
  (void)state;
  fixture f;
  open_fixture(&f, "aot");
  cis_result rc = call(&f, "thrower", 1, 3, 0, NULL);
  assert_int_equal(rc, CIS_EXCEPTION);
  assert_non_null(strstr(cis_errmsg(f.inst), "uncaught exception"));
  /* the instance is fine afterwards */
  int64_t got = 0;
  assert_int_equal(call(&f, "all_ref", 1, 5, 0, &got), CIS_OK);
  assert_int_equal(got, 5);
  close_fixture(&f);
}

static void aot_try_in_a_hot_loop(void **state) {
  (void)state;
  const uint32_t n = 200000;
  int64_t want = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t x = i * 3; /* a throw from the callee: 3i, and $x 3i */
    if (i % 7 == 0) want += 6 * (int64_t)i;
    else if (i % 11 == 0) want += 2 * (int64_t)(x + 1); /* a throw here: 3i+1, $x 3i+1 */
    else want += i + x + 1;
  }
  expect("hot", 1, (int32_t)n, 0, want);
}

static void aot_try_in_a_tail_call_loop(void **state) {
  (void)state;
  /* in constant native stack: a self tail call through a try is a jump */
  const int32_t n = 1000000;
  expect("tail_loop", 2, n, 0, (int32_t)(uint32_t)((uint64_t)n * (n + 1) / 2));
  /* and between two functions with a try: the wrappers make the calls */
  expect("ping_pong", 2, n, 0, (int32_t)(uint32_t)((uint64_t)n * (n + 1) / 2));
}

static void aot_exnref_kept_in_a_table_outlives_its_call(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof engines / sizeof *engines; i++) {
    fixture f;
    open_fixture(&f, engines[i]);
    int64_t got = 0;
    assert_int_equal(call(&f, "throw_kept", 0, 0, 0, NULL), CIS_TRAP_NULL_REF);
    assert_int_equal(call(&f, "keep", 1, 31, 0, NULL), CIS_OK);
    assert_int_equal(call(&f, "throw_kept", 0, 0, 0, &got), CIS_OK);
    assert_int_equal(got, 31);
    assert_int_equal(call(&f, "throw_kept", 0, 0, 0, &got), CIS_OK);
    assert_int_equal(got, 31);
    close_fixture(&f);
  }
}

/* Instance a (engine ea) throws to b (engine eb), which imports its tag
 * and functions, and catches what b throws through a's table. */
static const char pair_a[] =
    "(module\n"
    "  (tag $t (export \"tag\") (param i32))\n"
    "  (table (export \"tab\") 1 funcref)\n"
    "  (type $ti (func (param i32)))\n"
    "  (func (export \"throw\") (param i32) (throw $t (local.get 0)))\n"
    "  (func (export \"catcher\") (param i32) (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (catch $t $h) (call_indirect (type $ti) (local.get 0) (i32.const 0)))\n"
    "      (i32.const -1))))\n";
static const char pair_b[] =
    "(module\n"
    "  (import \"a\" \"tag\" (tag $t (param i32)))\n"
    "  (import \"a\" \"tab\" (table $tab 1 funcref))\n"
    "  (import \"a\" \"throw\" (func $athrow (param i32)))\n"
    "  (import \"a\" \"catcher\" (func $catcher (param i32) (result i32)))\n"
    "  (elem (table $tab) (i32.const 0) func $bthrow)\n"
    "  (func $bthrow (param i32) (throw $t (local.get 0)))\n"
    "  (func (export \"cross\") (param i32) (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (catch $t $h) (call $athrow (local.get 0)))\n"
    "      (i32.const -1))\n"
    "    (i32.const 1000) (i32.add))\n"
    "  (func (export \"back\") (param i32) (result i32) (call $catcher (local.get 0))))\n";

static void pair(const char *ea, const char *eb) {
  cis_engine *e1 = engine(ea), *e2 = engine(eb);
  cis_module *ma = module(e1, pair_a), *mb = module(e2, pair_b);
  cis_instance *a, *b;
  assert_int_equal(cis_instance_new(ma, NULL, NULL, &a), CIS_OK);
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e2, &im), CIS_OK);
  assert_int_equal(cis_imports_add_instance(im, "a", 1, a), CIS_OK);
  assert_int_equal(cis_instance_new(mb, im, NULL, &b), CIS_OK);
  cis_val x = {.type = CIS_I32, .of.i32 = 5}, r;
  assert_int_equal(cis_func_call(b, cis_instance_func(b, "cross"), &x, 1, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 1005);
  assert_int_equal(cis_func_call(b, cis_instance_func(b, "back"), &x, 1, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 5);
  cis_instance_free(b);
  cis_imports_free(im);
  cis_instance_free(a);
  cis_module_free(mb);
  cis_module_free(ma);
  cis_engine_free(e2);
  cis_engine_free(e1);
}

static void aot_exceptions_cross_instances_of_both_engines(void **state) {
  (void)state;
  pair("interp", "aot");
  pair("aot", "interp");
  pair("aot", "aot");
}

/* A catch clause's label positions that no code pushed before: the
 * module's first function, so that no earlier one grew the generator's
 * positions (their variables were left undeclared). */
static void aot_catch_to_positions_nothing_pushed(void **state) {
  (void)state;
  static const char text[] = "(module (tag $e0)\n"
                             "  (func (export \"f\") (result i32)\n"
                             "    (block $h (result exnref)\n"
                             "      (try_table (catch_all_ref $h) (throw $e0))\n"
                             "      (unreachable))\n"
                             "    (drop) (i32.const 1)))";
  cis_engine *e = engine("aot");
  cis_module *m = module(e, text);
  cis_instance *inst;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &inst), CIS_OK);
  cis_val r;
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "f"), NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 1);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

/* Only the functions with a try link a handler: the others' C is as
 * without exception handling. */
static void aot_only_functions_with_a_try_set_a_handler(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  char *c = generated_c(e, wat);
  assert_int_equal(count_of(c, "__builtin_setjmp(H_.jb)"), 17);
  assert_int_equal(count_of(c, "c->hnd = &H_;"), 17);
  free(c);
  cis_engine_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(aot_throw_through_a_host_function, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_throw_through_10000_frames, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_catch_all_ref_then_throw_ref, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_frames_that_left_catch_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_uncaught_is_cis_exception, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_try_in_a_hot_loop, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_try_in_a_tail_call_loop, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_exnref_kept_in_a_table_outlives_its_call, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(aot_exceptions_cross_instances_of_both_engines, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(aot_catch_to_positions_nothing_pushed, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_only_functions_with_a_try_set_a_handler, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
