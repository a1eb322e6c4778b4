/*
 * This file implements the tests of exception handling (WebAssembly 3.0)
 * on each engine: a catch by tag, catch_ref and throw_ref rethrowing,
 * catch_all, an exception through a host function and through another
 * instance (whose tag, imported, is the same tag; one of the same type is
 * not), an uncaught one at the top level (CIS_EXCEPTION), the legacy
 * try/catch/delegate/rethrow, a throw at the end of a 1,000,000-deep
 * tail-call chain and in a deep recursion under the depth limit, fuel
 * and the deadline of a loop that throws and catches (in constant memory),
 * the memory limit of exceptions held as values, an exnref kept in a
 * global across calls, and what the validator refuses. Each case runs
 * on the interpreter and on the compiled engine, which compiles into a
 * private CIS_HOME, removed at the end; `auto` runs such modules at once
 * on the interpreter.
 */
#include "runtime/rt_test.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The instance the main module imports a tag and a thrower from. */
static const char other_wat[] =
    "(module\n"
    "  (tag $t (export \"tag\") (param i32))\n"
    "  (func (export \"throw\") (param i32) (throw $t (local.get 0))))\n";

static const char main_wat[] =
    "(module\n"
    "  (import \"host\" \"call_back\" (func $call_back (param i32) (result i32)))\n"
    "  (import \"host\" \"swallow\" (func $swallow (param i32) (result i32)))\n"
    "  (import \"other\" \"tag\" (tag $ot (param i32)))\n"
    "  (import \"other\" \"throw\" (func $othrow (param i32)))\n"
    "  (tag $e (export \"e\") (param i32))\n"
    "  (tag $e2 (param i64 f64))\n"
    "  (tag $mine (param i32))\n" /* $ot's type, another tag */
    "  (global $kept (mut exnref) (ref.null exn))\n"
    /* catch by tag: $e to $h (its value + 1), $e2 to $h2 (its i64) */
    "  (func (export \"by_tag\") (param i32) (result i32)\n"
    "    (block $h2 (result i64 f64)\n"
    "      (block $h (result i32)\n"
    "        (try_table (catch $e $h) (catch $e2 $h2)\n"
    "          (if (i32.lt_s (local.get 0) (i32.const 0))\n"
    "            (then (throw $e2 (i64.const 5) (f64.const 2.5))))\n"
    "          (throw $e (local.get 0)))\n"
    "        (unreachable))\n"
    "      (i32.const 1) (i32.add) (return))\n"
    "    (drop) (i32.wrap_i64))\n"
    /* catch_ref, then throw_ref: the same exception caught again outside */
    "  (func $rethrow_inner (param i32)\n"
    "    (block $h (result i32 exnref)\n"
    "      (try_table (catch_ref $e $h) (throw $e (local.get 0)))\n"
    "      (return))\n"
    "    (throw_ref))\n"
    "  (func (export \"rethrow\") (param i32) (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (catch $e $h) (call $rethrow_inner (local.get 0)))\n"
    "      (i32.const -1)))\n"
    "  (func (export \"catch_all\") (result i32)\n"
    "    (block $h\n"
    "      (try_table (catch_all $h) (throw $e2 (i64.const 1) (f64.const 1)))\n"
    "      (return (i32.const -1)))\n"
    "    (i32.const 9))\n"
    /* through a host function that calls back into thrower */
    "  (func $thrower (export \"thrower\") (param i32) (throw $e (local.get 0)))\n"
    "  (func (export \"via_host\") (param i32) (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (catch $e $h) (drop (call $call_back (local.get 0))))\n"
    "      (i32.const -1))\n"
    "    (i32.const 2) (i32.mul))\n"
    "  (func (export \"swallowed\") (param i32) (result i32) (call $swallow (local.get 0)))\n"
    /* through another instance: its tag catches, $mine does not */
    "  (func (export \"cross\") (param i32) (result i32)\n"
    "    (block $by_mine (result i32)\n"
    "      (block $by_ot (result i32)\n"
    "        (try_table (catch $mine $by_mine) (catch $ot $by_ot) (call $othrow (local.get 0)))\n"
    "        (return (i32.const -1)))\n"
    "      (return (i32.add (i32.const 1000))))\n"
    "    (drop) (i32.const -2))\n"
    /* the legacy instructions */
    "  (func (export \"legacy\") (param i32) (result i32)\n"
    "    (try $t (result i32)\n"
    "      (do (try (result i32) (do (throw $e (local.get 0))) (delegate $t)))\n"
    "      (catch $e (i32.const 10) (i32.add))\n"
    "      (catch_all (i32.const -1))))\n"
    "  (func (export \"legacy_rethrow\") (param i32) (result i32)\n"
    "    (try (result i32)\n"
    "      (do (try (result i32) (do (throw $e (local.get 0))) (catch $e (drop) (rethrow 0))))\n"
    "      (catch $e)))\n"
    /* a throw at the end of a tail-call chain */
    "  (func $chain (param i64) (result i32)\n"
    "    (if (i64.eqz (local.get 0)) (then (throw $e (i32.const 77))))\n"
    "    (return_call $chain (i64.sub (local.get 0) (i64.const 1))))\n"
    "  (func (export \"tail_throw\") (param i64) (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (result i32) (catch $e $h) (call $chain (local.get 0)))))\n"
    /* a throw at the bottom of a recursion, each level catching and rethrowing */
    "  (func $deep (param i32) (result i32)\n"
    "    (if (i32.eqz (local.get 0)) (then (throw $e (i32.const 5))))\n"
    "    (block $h (result i32 exnref)\n"
    "      (try_table (result i32) (catch_ref $e $h) (call $deep (i32.sub (local.get 0) (i32.const 1))))\n"
    "      (return))\n"
    "    (throw_ref))\n"
    "  (func (export \"deep_throw\") (param i32) (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (result i32) (catch $e $h) (call $deep (local.get 0)))))\n"
    /* twice in one call: the depth the first gave back is the second's */
    "  (func (export \"deep_twice\") (param i32) (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (result i32) (catch $e $h) (call $deep (local.get 0))))\n"
    "    (block $h (result i32)\n"
    "      (try_table (result i32) (catch $e $h) (call $deep (local.get 0))))\n"
    "    (i32.add))\n"
    /* forever: throw and catch by value, or by reference */
    "  (func (export \"spin\") (result i32)\n"
    "    (loop $l\n"
    "      (block $h (result i32) (try_table (catch $e $h) (throw $e (i32.const 1))) (unreachable))\n"
    "      (drop)\n"
    "      (br $l))\n"
    "    (i32.const 0))\n"
    "  (func (export \"spin_ref\") (result i32)\n"
    "    (loop $l\n"
    "      (block $h (result exnref)\n"
    "        (try_table (catch_all_ref $h) (throw $e (i32.const 1)))\n"
    "        (unreachable))\n"
    "      (drop)\n"
    "      (br $l))\n"
    "    (i32.const 0))\n"
    /* an exnref kept in a global, thrown again by a later call */
    "  (func (export \"keep\") (param i32)\n"
    "    (block $h (result i32 exnref)\n"
    "      (try_table (catch_ref $e $h) (throw $e (local.get 0)))\n"
    "      (unreachable))\n"
    "    (global.set $kept) (drop))\n"
    "  (func (export \"throw_kept\") (result i32)\n"
    "    (block $h (result i32)\n"
    "      (try_table (catch $e $h) (throw_ref (global.get $kept)))\n"
    "      (i32.const -1))))\n";

static char home[256]; /* the compiled engine's CIS_HOME */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

/* Calls export "thrower" of the calling instance with the argument, and
 * returns what that call returned: an exception goes on unwinding. */
static cis_result host_call_back(cis_call *c, const cis_slot *a, cis_slot *r) {
  cis_instance *inst = cis_call_instance(c);
  cis_slot ar[1] = {a[0]};
  r[0].u64 = 0;
  return cis_func_call_slots(inst, cis_instance_func(inst, "thrower"), ar, NULL);
}

/* The same, but the host takes the exception for a result of its own. */
static cis_result host_swallow(cis_call *c, const cis_slot *a, cis_slot *r) {
  cis_result rc = host_call_back(c, a, r);
  r[0].i32 = rc == CIS_EXCEPTION ? 123 : -1;
  return CIS_OK;
}

typedef struct fixture {
  cis_engine *e;
  cis_module *other_mod, *m;
  cis_instance *other;
  cis_imports *im;
  cis_instance *inst;
} fixture;

/* The modules on engine name, with depth limit 200, the given fuel,
 * timeout and memory limit (0: defaults). */
static void open_fixture(fixture *f, const char *name, uint64_t fuel, uint64_t timeout_ms, uint64_t max_memory) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = name;
  cfg.limits.max_call_depth = 200;
  cfg.limits.fuel = fuel;
  cfg.limits.timeout_ms = timeout_ms;
  if (max_memory) cfg.limits.max_memory_bytes = max_memory;
  assert_int_equal(cis_engine_new(&cfg, &f->e), CIS_OK);
  cis_result rc = cis_module_new_text(f->e, other_wat, sizeof other_wat - 1, &f->other_mod);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(f->e));
  assert_int_equal(cis_instance_new(f->other_mod, NULL, NULL, &f->other), CIS_OK);
  rc = cis_module_new_text(f->e, main_wat, sizeof main_wat - 1, &f->m);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(f->e));
  cis_host_func_def d[] = {{"host", "call_back", "(i)i", host_call_back, NULL, 0},
                           {"host", "swallow", "(i)i", host_swallow, NULL, 0}};
  assert_int_equal(cis_imports_new(f->e, &f->im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(f->im, d, 2), CIS_OK);
  assert_int_equal(cis_imports_add_instance(f->im, "other", 5, f->other), CIS_OK);
  rc = cis_instance_new(f->m, f->im, NULL, &f->inst);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(f->e));
}

static void close_fixture(fixture *f) {
  cis_instance_free(f->inst);
  cis_imports_free(f->im);
  cis_instance_free(f->other);
  cis_module_free(f->m);
  cis_module_free(f->other_mod);
  cis_engine_free(f->e);
}

/* Calls export name with one i32 (or i64, wide) argument, when na is 1. */
static cis_result call(fixture *f, const char *name, uint32_t na, bool wide, int64_t arg, cis_val *r) {
  cis_func *fn = cis_instance_func(f->inst, name);
  assert_non_null(fn);
  uint32_t np, nr;
  const cis_valtype *pt, *rt;
  cis_func_type(fn, &np, &pt, &nr, &rt);
  cis_val a = {.type = wide ? CIS_I64 : CIS_I32};
  if (wide) a.of.i64 = arg;
  else a.of.i32 = (int32_t)arg;
  return cis_func_call(f->inst, fn, &a, na, r, nr);
}

/* Calls name and checks it returns want (an i32). */
static void expect_i32(fixture *f, const char *name, uint32_t na, bool wide, int64_t arg, int32_t want) {
  cis_val r;
  cis_result rc = call(f, name, na, wide, arg, &r);
  if (rc != CIS_OK) fail_msg("%s(%lld): %s: %s", name, (long long)arg, cis_errname(rc), cis_errmsg(f->inst));
  if (r.of.i32 != want) fail_msg("%s(%lld) = %d, want %d", name, (long long)arg, r.of.i32, want);
}

/* ------------------------------------------------------------ the tests */

static void catches_by_tag_and_rethrows(const char *engine) {
  fixture f;
  open_fixture(&f, engine, 0, 0, 0);
  expect_i32(&f, "by_tag", 1, false, 41, 42);
  expect_i32(&f, "by_tag", 1, false, -1, 5);
  expect_i32(&f, "rethrow", 1, false, 7, 7);
  expect_i32(&f, "catch_all", 0, false, 0, 9);
  expect_i32(&f, "legacy", 1, false, 5, 15);
  expect_i32(&f, "legacy_rethrow", 1, false, 8, 8);
  close_fixture(&f);
}

/* A try_table with no catch clause has a handler entry of none: it was
 * sorted as an empty array (undefined behaviour, which UBSan reports). */
static void regression_try_table_without_clauses(void **st) {
  (void)st;
  static const char wat[] = "(module (tag $e (param i32))\n"
                            "  (func (export \"f\") (param i32) (result i32)\n"
                            "    (try_table (result i32) (if (local.get 0) (then (throw $e (i32.const 4))))\n"
                            "      (i32.const 3))))";
  cis_engine *e = rt_engine(NULL);
  cis_module *m;
  cis_instance *inst;
  assert_int_equal(cis_module_new_text(e, wat, sizeof wat - 1, &m), CIS_OK);
  assert_int_equal(cis_instance_new(m, NULL, NULL, &inst), CIS_OK);
  cis_val a = {.type = CIS_I32, .of.i32 = 0}, r;
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "f"), &a, 1, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 3);
  a.of.i32 = 1;
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "f"), &a, 1, &r, 1), CIS_EXCEPTION);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

static void crosses_host_functions_and_instances(const char *engine) {
  fixture f;
  open_fixture(&f, engine, 0, 0, 0);
  expect_i32(&f, "via_host", 1, false, 21, 42);
  expect_i32(&f, "swallowed", 1, false, 1, 123);
  /* the imported tag is the exporter's; one of the same type is not */
  expect_i32(&f, "cross", 1, false, 5, 1005);
  close_fixture(&f);
}

static void uncaught_ends_the_call_with_an_exception(const char *engine) {
  fixture f;
  open_fixture(&f, engine, 0, 0, 0);
  cis_val r;
  cis_result rc = call(&f, "thrower", 1, false, 3, &r);
  assert_int_equal(rc, CIS_EXCEPTION);
  assert_true(cis_is_trap(rc));
  assert_non_null(strstr(cis_errmsg(f.inst), "uncaught exception"));
  /* another instance's, called directly */
  cis_slot a[1] = {{.i32 = 4}};
  rc = cis_func_call_slots(f.other, cis_instance_func(f.other, "throw"), a, NULL);
  assert_int_equal(rc, CIS_EXCEPTION);
  /* the instance is fine afterwards */
  expect_i32(&f, "by_tag", 1, false, 1, 2);
  close_fixture(&f);
}

static void deep_chains_and_recursion_keep_their_limits(const char *engine) {
  fixture f;
  open_fixture(&f, engine, 0, 0, 0);
  expect_i32(&f, "tail_throw", 1, true, 1000000, 77);
  /* 150 frames, each catching and rethrowing: the depth given back at
   * each, so that two in one call stay under the limit of 200 */
  expect_i32(&f, "deep_throw", 1, false, 150, 5);
  expect_i32(&f, "deep_twice", 1, false, 150, 10);
  /* past the limit it is a trap, which no handler catches */
  cis_val r;
  assert_int_equal(call(&f, "deep_throw", 1, false, 100000, &r), CIS_TRAP_STACK);
  expect_i32(&f, "deep_throw", 1, false, 150, 5);
  close_fixture(&f);
}

static void throwing_loops_stop_on_fuel_and_deadline_in_constant_memory(const char *engine) {
  fixture f;
  open_fixture(&f, engine, 3000000, 0, 0);
  uint64_t peak0 = cis_instance_memory_peak(f.inst);
  cis_val r;
  assert_int_equal(call(&f, "spin", 0, false, 0, &r), CIS_EFUEL);
  /* several hundred thousand exceptions, each freed when caught */
  assert_true(cis_instance_memory_peak(f.inst) - peak0 < 4096);
  close_fixture(&f);
  open_fixture(&f, engine, 0, 200, 0);
  double t0 = rt_now_ms();
  assert_int_equal(call(&f, "spin", 0, false, 0, &r), CIS_ETIMEOUT);
  double ms = rt_now_ms() - t0;
  assert_true(ms >= 199.0 && ms < 2000.0);
  close_fixture(&f);
}

static void exceptions_held_as_values_pass_the_memory_limit(const char *engine) {
  fixture f;
  open_fixture(&f, engine, 0, 10000, 8u << 20);
  uint64_t used0 = cis_instance_memory_used(f.inst);
  cis_val r;
  assert_int_equal(call(&f, "spin_ref", 0, false, 0, &r), CIS_EMEMLIMIT);
  /* the call's exceptions are gone with it */
  assert_int_equal(cis_instance_memory_used(f.inst), used0);
  expect_i32(&f, "by_tag", 1, false, 1, 2);
  close_fixture(&f);
}

static void exnref_kept_in_a_global_outlives_its_call(const char *engine) {
  fixture f;
  open_fixture(&f, engine, 0, 0, 0);
  cis_val r;
  assert_int_equal(call(&f, "throw_kept", 0, false, 0, &r), CIS_TRAP_NULL_REF);
  assert_int_equal(call(&f, "keep", 1, false, 31, &r), CIS_OK);
  expect_i32(&f, "throw_kept", 0, false, 0, 31);
  expect_i32(&f, "throw_kept", 0, false, 0, 31);
  assert_int_equal(call(&f, "keep", 1, false, 32, &r), CIS_OK);
  expect_i32(&f, "throw_kept", 0, false, 0, 32);
  close_fixture(&f);
}

/* auto runs such a module at once on the interpreter, as any other. */
static void auto_runs_them(void **st) {
  (void)st;
  fixture f;
  open_fixture(&f, "auto", 0, 0, 0);
  expect_i32(&f, "by_tag", 1, false, 41, 42);
  expect_i32(&f, "cross", 1, false, 5, 1005);
  close_fixture(&f);
}

/* Each text must fail to load with code, its message holding text. */
static void validator_refuses(void **st) {
  (void)st;
  static const struct {
    const char *wat;
    cis_result code;
    const char *msg;
  } cases[] = {
      {"(module (func (throw 0)))", CIS_EINVALID, "unknown tag 0"},
      {"(module (tag (result i32)))", CIS_EINVALID, "non-empty tag result type"},
      {"(module (import \"m\" \"t\" (tag (param i32) (result i32))))", CIS_EINVALID, "non-empty tag result type"},
      {"(module (tag $e (param i32)) (func (block $h (try_table (catch $e $h)))))", CIS_ETYPE, "type mismatch"},
      {"(module (func (block $h (try_table (catch_all_ref $h)))))", CIS_ETYPE, "type mismatch"},
      {"(module (func (result i32) (block $h (result i32) (try_table (catch_all $h))) (i32.const 0)))", CIS_ETYPE,
       "type mismatch"},
      {"(module (func (try_table (catch_all 1))))", CIS_EINVALID, "unknown label"},
      {"(module (func (try_table (catch 0 0))))", CIS_EINVALID, "unknown tag 0"},
      {"(module (func (i32.const 0) (throw_ref)))", CIS_ETYPE, "type mismatch"},
      {"(module (tag $e (param i64)) (func (i32.const 0) (throw $e)))", CIS_ETYPE, "type mismatch"},
      {"(module (func (block (rethrow 0))))", CIS_EINVALID, "invalid rethrow label"},
      {"(module (func (try (do) (delegate 1))))", CIS_EINVALID, "unknown label"},
      {"(module (tag $e) (func (try (do) (catch $e (rethrow 1)))))", CIS_EINVALID, "invalid rethrow label"},
      {"(module (func (result i32) (try (result i32) (do (i32.const 1)) (catch_all))))", CIS_ETYPE, "type mismatch"},
      {"(module (tag (export \"t\")) (export \"u\" (tag 1)))", CIS_EINVALID, "unknown tag 1"},
      {"(module (func (local exnref) (local.get 0) (drop)))", CIS_OK, NULL},
      {"(module (func (param nullexnref) (result exnref) (local.get 0)))", CIS_OK, NULL},
      {"(module (func (param exnref) (result nullexnref) (local.get 0)))", CIS_ETYPE, "type mismatch"},
  };
  cis_engine *e = rt_engine(NULL);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cis_module *m = NULL;
    cis_result rc = cis_module_new_text(e, cases[i].wat, strlen(cases[i].wat), &m);
    if (rc != cases[i].code) fail_msg("case %zu: %s: %s", i, cis_errname(rc), cis_errmsg(e));
    if (cases[i].msg && !strstr(cis_errmsg(e), cases[i].msg))
      fail_msg("case %zu: \"%s\" lacks \"%s\"", i, cis_errmsg(e), cases[i].msg);
    cis_module_free(m);
  }
  cis_engine_free(e);
  /* 2.0 knows none of it: the tag section is no section there */
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.standard = 2;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  static const uint8_t tag_mod[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01,
                                    0x60, 0x00, 0x00, 0x0d, 0x03, 0x01, 0x00, 0x00};
  cis_module *m = NULL;
  assert_int_equal(cis_module_new(e, tag_mod, sizeof tag_mod, &m), CIS_ESECTION);
  cis_engine_free(e);
  e = rt_engine(NULL);
  assert_int_equal(cis_module_new(e, tag_mod, sizeof tag_mod, &m), CIS_OK);
  cis_module_free(m);
  cis_engine_free(e);
}

static int setup(void **state) {
  (void)state;
  snprintf(home, sizeof home, "/tmp/cis-exceptions-test-XXXXXX");
  if (!mkdtemp(home)) return -1;
  setenv("CIS_HOME", home, 1);
  unsetenv("CIS_AOT_CACHE");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  nftw(home, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
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
ON_BOTH(catches_by_tag_and_rethrows)
ON_BOTH(crosses_host_functions_and_instances)
ON_BOTH(uncaught_ends_the_call_with_an_exception)
ON_BOTH(deep_chains_and_recursion_keep_their_limits)
ON_BOTH(throwing_loops_stop_on_fuel_and_deadline_in_constant_memory)
ON_BOTH(exceptions_held_as_values_pass_the_memory_limit)
ON_BOTH(exnref_kept_in_a_global_outlives_its_call)

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(catches_by_tag_and_rethrows_interp),
      cmocka_unit_test(catches_by_tag_and_rethrows_aot),
      cmocka_unit_test(regression_try_table_without_clauses),
      cmocka_unit_test(crosses_host_functions_and_instances_interp),
      cmocka_unit_test(crosses_host_functions_and_instances_aot),
      cmocka_unit_test(uncaught_ends_the_call_with_an_exception_interp),
      cmocka_unit_test(uncaught_ends_the_call_with_an_exception_aot),
      cmocka_unit_test(deep_chains_and_recursion_keep_their_limits_interp),
      cmocka_unit_test(deep_chains_and_recursion_keep_their_limits_aot),
      cmocka_unit_test(throwing_loops_stop_on_fuel_and_deadline_in_constant_memory_interp),
      cmocka_unit_test(throwing_loops_stop_on_fuel_and_deadline_in_constant_memory_aot),
      cmocka_unit_test(exceptions_held_as_values_pass_the_memory_limit_interp),
      cmocka_unit_test(exceptions_held_as_values_pass_the_memory_limit_aot),
      cmocka_unit_test(exnref_kept_in_a_global_outlives_its_call_interp),
      cmocka_unit_test(exnref_kept_in_a_global_outlives_its_call_aot),
      cmocka_unit_test(auto_runs_them),
      cmocka_unit_test(validator_refuses),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
