/*
 * This file implements the tests of cis_module_features: each feature is
 * named by a module that uses it and by no module that does not (each
 * case checks the whole set, so a feature found where it is not is a
 * failure too); the names of cis_feature_name, and NULL for what is not
 * one feature.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cis/cis.h"

static cis_engine *engine;

static int setup(void **state) {
  (void)state;
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "interp";
  return cis_engine_new(&cfg, &engine) == CIS_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  cis_engine_free(engine);
  return 0;
}

static uint32_t features_of(const char *wat) {
  cis_module *m = NULL;
  cis_result rc = cis_module_new_text(engine, wat, strlen(wat), &m);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", wat, cis_errname(rc), cis_errmsg(engine));
  uint32_t f = cis_module_features(m);
  cis_module_free(m);
  return f;
}

static void test_each_feature_by_a_module_that_uses_it(void **state) {
  (void)state;
  static const struct {
    const char *wat;
    uint32_t want;
  } cases[] = {
      {"(module (func (result i32) (i32.add (i32.const 1) (i32.const 2))))", 0},
      {"(module (memory 1) (data (i32.const 0) \"x\") (table 1 funcref) (elem (i32.const 0) 0)"
       " (global i32 (i32.const 0)) (func))",
       0},
      {"(module (global (export \"g\") (mut i32) (i32.const 0)))", CIS_FEATURE_MUTABLE_GLOBALS},
      {"(module (import \"a\" \"g\" (global (mut i64))))", CIS_FEATURE_MUTABLE_GLOBALS},
      {"(module (func (param i32) (result i32) (i32.extend16_s (local.get 0))))",
       CIS_FEATURE_SIGN_EXTENSION},
      {"(module (func (param f64) (result i64) (i64.trunc_sat_f64_u (local.get 0))))",
       CIS_FEATURE_SAT_FLOAT_TO_INT},
      {"(module (func (result i32 i32) (i32.const 1) (i32.const 2)))", CIS_FEATURE_MULTI_VALUE},
      {"(module (func (param i32) (result i32) (local.get 0) (block (param i32) (result i32))))",
       CIS_FEATURE_MULTI_VALUE},
      {"(module (memory 1) (func (memory.copy (i32.const 0) (i32.const 0) (i32.const 0))))",
       CIS_FEATURE_BULK_MEMORY},
      {"(module (memory 1) (data \"passive\") (func (data.drop 0)))", CIS_FEATURE_BULK_MEMORY},
      {"(module (func (param externref)))", CIS_FEATURE_REFERENCE_TYPES},
      {"(module (table 1 funcref) (table 1 funcref))", CIS_FEATURE_REFERENCE_TYPES},
      {"(module (func (result i32) (ref.is_null (ref.null func))))", CIS_FEATURE_REFERENCE_TYPES},
      {"(module (func (result v128) (v128.const i64x2 0 0)))", CIS_FEATURE_SIMD},
      {"(module (func (param v128) (result v128) (f32x4.relaxed_madd (local.get 0) (local.get 0)"
       " (local.get 0))))",
       CIS_FEATURE_SIMD | CIS_FEATURE_RELAXED_SIMD},
      {"(module (global i32 (i32.mul (i32.const 2) (i32.const 3))))", CIS_FEATURE_EXTENDED_CONST},
      {"(module (func $f) (func (return_call $f)))", CIS_FEATURE_TAIL_CALLS},
      {"(module (memory 1) (memory 1))", CIS_FEATURE_MULTI_MEMORY},
      {"(module (memory i64 1))", CIS_FEATURE_MEMORY64},
      {"(module (table i64 1 funcref))", CIS_FEATURE_MEMORY64},
      {"(module (type $t (func)) (func (param (ref $t)) (call_ref $t (local.get 0))))",
       CIS_FEATURE_TYPED_FUNCTION_REFERENCES | CIS_FEATURE_REFERENCE_TYPES}, /* a reference value */
      {"(module (tag $e) (func (throw $e)))", CIS_FEATURE_EXCEPTIONS},
      {"(module (tag $e) (func (try (do) (catch $e))))",
       CIS_FEATURE_EXCEPTIONS | CIS_FEATURE_LEGACY_EXCEPTIONS},
      {"(module (type (struct (field i32))))", CIS_FEATURE_GC},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint32_t got = features_of(cases[i].wat);
    if (got != cases[i].want) fail_msg("%s: features 0x%x, want 0x%x", cases[i].wat, got, cases[i].want);
  }
}

static void test_names(void **state) {
  (void)state;
  assert_string_equal(cis_feature_name(CIS_FEATURE_SIMD), "simd");
  assert_string_equal(cis_feature_name(CIS_FEATURE_TAIL_CALLS), "tail-calls");
  assert_string_equal(cis_feature_name(CIS_FEATURE_GC), "gc");
  for (uint32_t bit = 1; bit <= CIS_FEATURE_RELAXED_SIMD; bit <<= 1)
    assert_non_null(cis_feature_name((cis_feature)bit));
  assert_null(cis_feature_name((cis_feature)0));
  assert_null(cis_feature_name((cis_feature)(CIS_FEATURE_SIMD | CIS_FEATURE_GC)));
  assert_null(cis_feature_name((cis_feature)(CIS_FEATURE_RELAXED_SIMD << 1)));
  assert_int_equal(cis_module_features(NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_each_feature_by_a_module_that_uses_it),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
