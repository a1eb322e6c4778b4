/*
 * This file implements the tests of functions shared across engines: a
 * function of one engine imported by a module of another is checked
 * against the import's type by content, and call_indirect to it checks
 * the same way. Each engine used to number function types itself, so the
 * first type of two engines had the same id whatever it was: a function of
 * the wrong type was accepted (and then read its arguments past the
 * caller's values), and one of the right type refused.
 */
#include <stdlib.h>

#include "rt_test.h"

/* The instance of cross_inc on its own engine, exporting a.inc. */
static cis_instance *inc_instance(cis_engine **e, cis_module **m) {
  *e = rt_engine(NULL);
  *m = rt_load(*e, "cross_inc");
  cis_instance *inst;
  assert_int_equal(cis_instance_new(*m, NULL, NULL, &inst), CIS_OK);
  return inst;
}

static cis_imports *exporting(cis_engine *e, cis_instance *a) {
  cis_imports *im;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_func(im, "a", 1, "inc", 3, cis_instance_func(a, "inc")), CIS_OK);
  return im;
}

static void import_of_other_type_from_another_engine_is_refused(void **state) {
  (void)state;
  cis_engine *ea, *eb = rt_engine(NULL);
  cis_module *ma, *mb = rt_load(eb, "cross_void");
  cis_instance *a = inc_instance(&ea, &ma);
  cis_imports *im = exporting(eb, a);
  cis_instance *b = NULL;
  assert_int_equal(cis_instance_new(mb, im, NULL, &b), CIS_EIMPORTTYPE);
  assert_null(b);
  cis_imports_free(im);
  cis_module_free(mb);
  cis_instance_free(a);
  cis_module_free(ma);
  cis_engine_free(eb);
  cis_engine_free(ea);
}

static void import_of_same_type_from_another_engine_links_and_calls(void **state) {
  (void)state;
  cis_engine *ea, *eb = rt_engine(NULL);
  cis_module *ma, *mb = rt_load(eb, "cross_ok");
  cis_instance *a = inc_instance(&ea, &ma);
  cis_imports *im = exporting(eb, a);
  cis_instance *b = NULL;
  assert_int_equal(cis_instance_new(mb, im, NULL, &b), CIS_OK);
  cis_val arg = {.type = CIS_I32, .of.i32 = 41}, r;
  assert_int_equal(cis_func_call(b, cis_instance_func(b, "run"), &arg, 1, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 42);
  /* call_indirect's type check on the other engine's function too */
  assert_int_equal(cis_func_call(b, cis_instance_func(b, "indirect"), &arg, 1, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 42);
  cis_instance_free(b);
  cis_imports_free(im);
  cis_module_free(mb);
  cis_instance_free(a);
  cis_module_free(ma);
  cis_engine_free(eb);
  cis_engine_free(ea);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(import_of_other_type_from_another_engine_is_refused),
      cmocka_unit_test(import_of_same_type_from_another_engine_links_and_calls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
