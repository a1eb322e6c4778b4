/*
 * This file implements the tests of typed function references (3.0) on
 * each engine: call_ref, return_call_ref and ref.as_non_null trap on a
 * null reference with their own codes, br_on_null and br_on_non_null
 * branch on the reference, a call_ref reaches a host function, a table's
 * initialiser fills it, a chain of return_call_ref far deeper than the
 * call-depth limit runs in constant space while the same chain of
 * call_ref ends at the limit. Then what the decoder and the validator
 * refuse: the validation errors of typed references (uninitialized
 * locals, subtyping, a non-null table without initialiser, unknown
 * types), hostile binaries (heap types malformed, overlong, truncated,
 * out of range; a bad table prefix), the 2.0 standard, and import
 * matching of typed globals; and a 2.0 engine validates again a module
 * the compiled tier cached for a 3.0 one. The compiled engine compiles
 * into a private CIS_HOME, removed at the end.
 */
#include "runtime/rt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char ref_wat[] =
    "(module\n"
    "  (import \"host\" \"twice\" (func $twice (param i64) (result i64)))\n"
    "  (type $ll (func (param i64) (result i64)))\n"
    "  (type $sum (func (param i64 i64) (result i64)))\n"
    "  (elem declare func $twice $inc $sum $deep)\n"
    "  (table $t 2 (ref $ll) (ref.func $inc))\n"
    "  (global $g (ref null $ll) (ref.null $ll))\n"
    "  (global $s (ref $sum) (ref.func $sum))\n"
    "  (func $inc (type $ll) (i64.add (local.get 0) (i64.const 1)))\n"
    /* call_ref of a reference the caller picks: 0 null, 1 $inc, 2 the host */
    "  (func (export \"call\") (param i32 i64) (result i64)\n"
    "    (local $f (ref null $ll))\n"
    "    (if (i32.eq (local.get 0) (i32.const 1)) (then (local.set $f (ref.func $inc))))\n"
    "    (if (i32.eq (local.get 0) (i32.const 2)) (then (local.set $f (ref.func $twice))))\n"
    "    (call_ref $ll (local.get 1) (local.get $f)))\n"
    "  (func (export \"tail_null\") (param i64) (result i64)\n"
    "    (return_call_ref $ll (local.get 0) (global.get $g)))\n"
    "  (func (export \"as_non_null\") (param i32) (result i32)\n"
    "    (ref.is_null (ref.as_non_null (select (result (ref null $ll)) (ref.null $ll)\n"
    "      (ref.func $inc) (local.get 0)))))\n"
    /* br_on_null: -1 for null, else the call; br_on_non_null: the call, else -2 */
    "  (func (export \"on_null\") (param i32) (result i64)\n"
    "    (block $l (return (call_ref $ll (i64.const 41)\n"
    "      (br_on_null $l (select (result (ref null $ll)) (ref.null $ll) (ref.func $inc)\n"
    "        (local.get 0))))))\n"
    "    (i64.const -1))\n"
    "  (func (export \"on_non_null\") (param i32) (result i64)\n"
    "    (local $f (ref null $ll))\n"
    "    (local.set $f (block $l (result (ref $ll))\n"
    "      (br_on_non_null $l (select (result (ref null $ll)) (ref.null $ll) (ref.func $inc)\n"
    "        (local.get 0)))\n"
    "      (return (i64.const -2))))\n"
    "    (call_ref $ll (i64.const 9) (local.get $f)))\n"
    "  (func (export \"table\") (param i32 i64) (result i64)\n"
    "    (call_ref $ll (local.get 1) (table.get $t (local.get 0))))\n"
    /* n steps of a tail call through a reference */
    "  (func $sum (type $sum)\n"
    "    (if (result i64) (i64.eqz (local.get 0)) (then (local.get 1))\n"
    "      (else (return_call_ref $sum (i64.sub (local.get 0) (i64.const 1))\n"
    "        (i64.add (local.get 1) (local.get 0)) (global.get $s)))))\n"
    "  (func (export \"sum\") (param i64) (result i64)\n"
    "    (call_ref $sum (local.get 0) (i64.const 0) (global.get $s)))\n"
    /* the same chain of plain calls through a reference: depth grows */
    "  (func $deep (type $ll)\n"
    "    (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 0))\n"
    "      (else (i64.add (i64.const 1) (call_ref $ll (i64.sub (local.get 0) (i64.const 1))\n"
    "        (ref.func $deep))))))\n"
    "  (func (export \"deep\") (param i64) (result i64) (call $deep (local.get 0))))\n";

typedef rt_fixture fixture;

/* The module on engine name, call depth 200 (far below the chains). */
static void open_fixture(fixture *f, const char *name) {
  rt_fixture_open(f, name, ref_wat, sizeof ref_wat - 1, 0, 0);
}

static void close_fixture(fixture *f) { rt_fixture_close(f); }

/* Calls export name with i32 x and (when has_y) i64 y. */
static cis_result call(fixture *f, const char *name, int32_t x, bool has_y, int64_t y, cis_val *r) {
  cis_func *fn = cis_instance_func(f->inst, name);
  assert_non_null(fn);
  cis_val a[2] = {{.type = CIS_I32, .of.i32 = x}, {.type = CIS_I64, .of.i64 = y}};
  return cis_func_call(f->inst, fn, a, has_y ? 2 : 1, r, 1);
}

static cis_result call_i64(fixture *f, const char *name, int64_t x, cis_val *r) {
  cis_func *fn = cis_instance_func(f->inst, name);
  assert_non_null(fn);
  cis_val a = {.type = CIS_I64, .of.i64 = x};
  return cis_func_call(f->inst, fn, &a, 1, r, 1);
}

/* The call traps with code and a message that starts with its text. */
static void expect_trap(fixture *f, cis_result rc, cis_result code, const char *text) {
  if (rc != code) fail_msg("got %s, expected %s: %s", cis_errname(rc), cis_errname(code), cis_errmsg(f->inst));
  assert_true(strncmp(cis_errmsg(f->inst), text, strlen(text)) == 0);
}

static void null_references_trap(const char *engine) {
  fixture f;
  open_fixture(&f, engine);
  cis_val r;
  expect_trap(&f, call(&f, "call", 0, true, 5, &r), CIS_TRAP_NULL_FUNC, "null function reference");
  expect_trap(&f, call_i64(&f, "tail_null", 5, &r), CIS_TRAP_NULL_FUNC, "null function reference");
  expect_trap(&f, call(&f, "as_non_null", 1, false, 0, &r), CIS_TRAP_NULL_REF, "null reference");
  assert_int_equal(call(&f, "as_non_null", 0, false, 0, &r), CIS_OK);
  assert_int_equal(r.of.i32, 0);
  close_fixture(&f);
}

static void references_call_and_branch(const char *engine) {
  fixture f;
  open_fixture(&f, engine);
  cis_val r;
  assert_int_equal(call(&f, "call", 1, true, 5, &r), CIS_OK);
  assert_int_equal(r.of.i64, 6);
  assert_int_equal(call(&f, "call", 2, true, 5, &r), CIS_OK); /* a host function */
  assert_int_equal(r.of.i64, 10);
  assert_int_equal(call(&f, "on_null", 1, false, 0, &r), CIS_OK);
  assert_int_equal(r.of.i64, -1);
  assert_int_equal(call(&f, "on_null", 0, false, 0, &r), CIS_OK);
  assert_int_equal(r.of.i64, 42);
  assert_int_equal(call(&f, "on_non_null", 1, false, 0, &r), CIS_OK);
  assert_int_equal(r.of.i64, -2);
  assert_int_equal(call(&f, "on_non_null", 0, false, 0, &r), CIS_OK);
  assert_int_equal(r.of.i64, 10);
  assert_int_equal(call(&f, "table", 1, true, 7, &r), CIS_OK); /* the initialiser's $inc */
  assert_int_equal(r.of.i64, 8);
  expect_trap(&f, call(&f, "table", 2, true, 7, &r), CIS_TRAP_TABLE_OOB, "out of bounds table access");
  close_fixture(&f);
}

static void tail_chain_runs_in_constant_space(const char *engine) {
  fixture f;
  open_fixture(&f, engine);
  cis_val r;
  cis_result rc = call_i64(&f, "sum", 1000000, &r);
  if (rc != CIS_OK) fail_msg("%s: sum: %s: %s", engine, cis_errname(rc), cis_errmsg(f.inst));
  assert_int_equal(r.of.i64, 500000500000LL);
  /* The same depth of call_ref: the limit (200) ends it. */
  assert_int_equal(call_i64(&f, "deep", 150, &r), CIS_OK);
  assert_int_equal(r.of.i64, 150);
  expect_trap(&f, call_i64(&f, "deep", 1000000, &r), CIS_TRAP_STACK, "call stack exhausted");
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
ON_BOTH(null_references_trap)
ON_BOTH(references_call_and_branch)
ON_BOTH(tail_chain_runs_in_constant_space)

/* ------------------------------------------------------ refusals */

/* Text module `text` fails to load on a 3.0 (standard 3) or 2.0 engine
 * with code, its message starting with (text compiler: containing) msg. */
static void expect_text_refused(int standard, const char *text, cis_result code, const char *msg) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "interp";
  cfg.standard = standard;
  cis_engine *e;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  cis_module *m = NULL;
  cis_result rc = cis_module_new_text(e, text, strlen(text), &m);
  if (rc != code || !strstr(cis_errmsg(e), msg))
    fail_msg("%s: got %s (%s), expected %s (%s)", text, cis_errname(rc), cis_errmsg(e), cis_errname(code), msg);
  cis_module_free(m);
  cis_engine_free(e);
}

static void validation_errors(void **state) {
  (void)state;
  static const struct {
    const char *text;
    cis_result code;
    const char *msg;
  } cases[] = {
      {"(module (func (local $x (ref extern)) (drop (local.get $x))))", CIS_EINVALID, "uninitialized local"},
      /* set in a block: unset again at its end */
      {"(module (func (param $p (ref extern)) (local $x (ref extern))"
       " (block (local.set $x (local.get $p))) (drop (local.get $x))))",
       CIS_EINVALID, "uninitialized local"},
      {"(module (type $t (func)) (func (param externref) (call_ref $t (local.get 0))))", CIS_ETYPE,
       "type mismatch"},
      /* funcref is no (ref null $t): abstract is no subtype of concrete */
      {"(module (type $t (func)) (func (param funcref) (call_ref $t (local.get 0))))", CIS_ETYPE,
       "type mismatch"},
      {"(module (func (drop (ref.as_non_null (i32.const 0)))))", CIS_ETYPE, "type mismatch"},
      {"(module (func (param funcref) (block (br_on_non_null 0 (local.get 0)))))", CIS_ETYPE, "type mismatch"},
      {"(module (func (param funcref) (result (ref func)) (local.get 0)))", CIS_ETYPE, "type mismatch"},
      {"(module (type $t (func)) (table 1 (ref $t)))", CIS_ETYPE, "type mismatch"},
      {"(module (type $t (func)) (func $f (param i32)) (table 1 (ref $t) (ref.func $f)))", CIS_ETYPE,
       "type mismatch"},
      {"(module (func (param (ref 5))))", CIS_EINVALID, "unknown type"},
      {"(module (global (ref null 3) (ref.null 3)))", CIS_EINVALID, "unknown type"},
      {"(module (func (drop (block (result (ref 2)) (unreachable)))))", CIS_EINVALID, "unknown type"},
      {"(module (func (call_ref 5)))", CIS_EINVALID, "unknown type"},
      /* a tail call's results must be the caller's */
      {"(module (type $t (func (result i64))) (func (result i32) (return_call_ref $t (ref.null $t))))",
       CIS_ETYPE, "type mismatch"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_text_refused(3, cases[i].text, cases[i].code, cases[i].msg);
  /* 2.0 has no typed references: the decoder refuses their encodings. */
  expect_text_refused(2, "(module (func (param (ref func))))", CIS_EMALFORMED, "malformed value type");
  expect_text_refused(2, "(module (type $t (func)) (func (drop (ref.null $t))))", CIS_EMALFORMED,
                      "malformed reference type");
  expect_text_refused(2, "(module (table 1 funcref (ref.null func)))", CIS_EMALFORMED, "malformed reference type");
}

/* An interpreter engine: these tests compile nothing. */
static cis_engine *interp_engine(void) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "interp";
  cis_engine *e;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  return e;
}

/* A binary of the header, then section bytes. */
static cis_result load_binary(const uint8_t *sec, size_t n, cis_engine *e) {
  uint8_t b[64] = {0, 'a', 's', 'm', 1, 0, 0, 0};
  assert_true(n + 8 <= sizeof b);
  memcpy(b + 8, sec, n);
  cis_module *m = NULL;
  cis_result rc = cis_module_new(e, b, n + 8, &m);
  cis_module_free(m);
  return rc;
}

static void hostile_binaries(void **state) {
  (void)state;
  cis_engine *e = interp_engine();
  static const struct {
    uint8_t n;       /* bytes */
    uint8_t b[24];   /* sections */
    cis_result code; /* expected */
    const char *msg; /* its message's start */
  } cases[] = {
      /* (func (param (ref null i32))): a number type is no heap type */
      {8, {1, 6, 1, 0x60, 1, 0x63, 0x7f, 0}, CIS_EMALFORMED, "malformed heap type"},
      /* a heap type's LEB128 over five bytes */
      {13, {1, 11, 1, 0x60, 1, 0x63, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0}, CIS_EMALFORMED,
       "malformed heap type"},
      /* the bytes end after 0x63 */
      {6, {1, 4, 1, 0x60, 1, 0x63}, CIS_EEOF, "unexpected end"},
      /* type index 2^32-1: in range of the encoding, not of the module */
      {12, {1, 10, 1, 0x60, 1, 0x64, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}, CIS_EINVALID, "unknown type"},
      /* a type that names the one after it */
      {11, {1, 9, 2, 0x60, 1, 0x64, 1, 0, 0x60, 0, 0}, CIS_EINVALID, "unknown type"},
      /* a table's 0x40 prefix takes a zero byte next */
      {9, {4, 7, 1, 0x40, 1, 0x70, 0, 1, 0x0b}, CIS_EMALFORMED, "malformed table"},
      /* a table's initialiser of the wrong type */
      {11, {4, 9, 1, 0x40, 0, 0x70, 0, 1, 0x41, 0, 0x0b}, CIS_ETYPE, "type mismatch"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cis_result rc = load_binary(cases[i].b, cases[i].n, e);
    if (rc != cases[i].code || strncmp(cis_errmsg(e), cases[i].msg, strlen(cases[i].msg)))
      fail_msg("case %zu: got %s (%s), expected %s", i, cis_errname(rc), cis_errmsg(e), cases[i].msg);
  }
  cis_engine_free(e);
}

/* An immutable global of a typed reference matches an import of a
 * supertype; a mutable one only its own type. */
static void typed_global_imports(void **state) {
  (void)state;
  static const char exp[] =
      "(module (type $t (func)) (func $f) (elem declare func $f)"
      " (global (export \"g\") (ref $t) (ref.func $f)) (global (export \"m\") (mut (ref null $t)) (ref.null $t)))";
  cis_engine *e = interp_engine();
  cis_module *m;
  cis_instance *inst;
  assert_int_equal(cis_module_new_text(e, exp, sizeof exp - 1, &m), CIS_OK);
  assert_int_equal(cis_instance_new(m, NULL, NULL, &inst), CIS_OK);
  static const struct {
    const char *text;
    cis_result code;
  } imps[] = {
      {"(module (type $u (func)) (import \"x\" \"g\" (global (ref $u))))", CIS_OK},
      {"(module (import \"x\" \"g\" (global funcref)))", CIS_OK},
      {"(module (import \"x\" \"g\" (global (ref null func))))", CIS_OK},
      {"(module (import \"x\" \"g\" (global externref)))", CIS_EIMPORTTYPE},
      {"(module (type $u (func (param i32))) (import \"x\" \"g\" (global (ref $u))))", CIS_EIMPORTTYPE},
      {"(module (type $u (func)) (import \"x\" \"m\" (global (mut (ref null $u)))))", CIS_OK},
      {"(module (import \"x\" \"m\" (global (mut funcref))))", CIS_EIMPORTTYPE},
  };
  for (size_t i = 0; i < sizeof imps / sizeof imps[0]; i++) {
    cis_module *u;
    cis_imports *im;
    cis_instance *ui = NULL;
    assert_int_equal(cis_module_new_text(e, imps[i].text, strlen(imps[i].text), &u), CIS_OK);
    assert_int_equal(cis_imports_new(e, &im), CIS_OK);
    assert_int_equal(cis_imports_add_instance(im, "x", 1, inst), CIS_OK);
    cis_result rc = cis_instance_new(u, im, NULL, &ui);
    if (rc != imps[i].code) fail_msg("%s: got %s (%s)", imps[i].text, cis_errname(rc), cis_errmsg(e));
    cis_instance_free(ui);
    cis_imports_free(im);
    cis_module_free(u);
  }
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

/* A module the compiled tier cached when a 3.0 engine compiled it is
 * validated again by a 2.0 engine, which allows less (here: global.get
 * of a defined global in a constant expression). */
static void cached_module_revalidated_for_2_0(void **state) {
  (void)state;
  static const char text[] = "(module (global i32 (i32.const 1)) (global i32 (global.get 0)))";
  cis_module *m = NULL;
  for (int standard = 3; standard >= 2; standard--) {
    cis_engine_config cfg;
    cis_engine_config_default(&cfg);
    cfg.engine = "aot";
    cfg.standard = standard;
    cis_engine *e;
    assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
    cis_result rc = cis_module_new_text(e, text, sizeof text - 1, &m);
    if (rc != (standard == 3 ? CIS_OK : CIS_EINVALID))
      fail_msg("standard %d: %s: %s", standard, cis_errname(rc), cis_errmsg(e));
    cis_module_free(m);
    m = NULL;
    cis_engine_free(e);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(null_references_trap_interp),
      cmocka_unit_test(null_references_trap_aot),
      cmocka_unit_test(references_call_and_branch_interp),
      cmocka_unit_test(references_call_and_branch_aot),
      cmocka_unit_test(tail_chain_runs_in_constant_space_interp),
      cmocka_unit_test(tail_chain_runs_in_constant_space_aot),
      cmocka_unit_test(validation_errors),
      cmocka_unit_test(hostile_binaries),
      cmocka_unit_test(typed_global_imports),
      cmocka_unit_test(cached_module_revalidated_for_2_0),
  };
  return cmocka_run_group_tests(tests, rt_home_setup, rt_home_teardown);
}
