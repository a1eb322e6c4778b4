/*
 * This file implements the tests of cis_instance_new_borrowing: an instance
 * that borrows its module and imported functions writes no reference count
 * of theirs (the cache lines two threads' instantiations of one module
 * would share), and one that must outlive its creator's free (pinned by the
 * engine because a function of it went into an imported table) takes
 * counted references then, so the creator may free module and imports.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "rt_test.h"
#include "runtime/runtime.h"

static cis_result forty_one(cis_call *call, const cis_slot *args, cis_slot *results) {
  (void)call, (void)args;
  results[0].i32 = 41;
  return CIS_OK;
}

static cis_imports *host_set(cis_engine *e, cis_func **f) {
  cis_host_func_def def = {.module = "h", .name = "f", .signature = "()i", .fn = forty_one};
  cis_imports *im;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_func_new_host(e, &def, f), CIS_OK);
  assert_int_equal(cis_imports_add_func(im, "h", 1, "f", 1, *f), CIS_OK);
  return im;
}

static void borrowing_instance_counts_no_reference(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *mod = rt_load(e, "borrow_plain");
  cis_func *f;
  cis_imports *im = host_set(e, &f);
  unsigned mod_refs = atomic_load(&mod->refs), f_refs = atomic_load(&f->refs);
  for (int round = 0; round < 3; round++) {
    cis_instance *inst;
    assert_int_equal(cis_instance_new_borrowing(mod, im, NULL, &inst), CIS_OK);
    assert_int_equal(atomic_load(&mod->refs), mod_refs);
    assert_int_equal(atomic_load(&f->refs), f_refs);
    cis_val r;
    assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "run"), NULL, 0, &r, 1), CIS_OK);
    assert_int_equal(r.of.i32, 41);
    cis_instance_free(inst);
    assert_int_equal(atomic_load(&mod->refs), mod_refs);
    assert_int_equal(atomic_load(&f->refs), f_refs);
  }
  /* The counted way still counts. */
  cis_instance *inst;
  assert_int_equal(cis_instance_new(mod, im, NULL, &inst), CIS_OK);
  assert_int_equal(atomic_load(&mod->refs), mod_refs + 1);
  assert_int_equal(atomic_load(&f->refs), f_refs + 1);
  cis_instance_free(inst);
  cis_func_free(f);
  cis_imports_free(im);
  cis_module_free(mod);
  cis_engine_free(e);
}

static void pinned_borrowing_instance_keeps_module_and_imports(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *mod = rt_load(e, "borrow");
  cis_func *f;
  cis_imports *im = host_set(e, &f);
  cis_table *tab;
  assert_int_equal(cis_table_new(e, CIS_FUNCREF, 1, 1, true, &tab), CIS_OK);
  assert_int_equal(cis_imports_add_table(im, "x", 1, "tab", 3, tab), CIS_OK);
  cis_instance *inst;
  assert_int_equal(cis_instance_new_borrowing(mod, im, NULL, &inst), CIS_OK);
  /* Its $g is in the table: freeing it pins it, and it must now hold what
   * it borrowed, since the creator lets go of everything next. */
  cis_instance_free(inst);
  cis_func_free(f);
  cis_imports_free(im);
  cis_module_free(mod);
  /* Another instance calls $g through the table: $g's instance, module and
   * host function must all still be there. */
  cis_module *caller = rt_load(e, "borrow_caller");
  cis_imports *im2;
  assert_int_equal(cis_imports_new(e, &im2), CIS_OK);
  assert_int_equal(cis_imports_add_table(im2, "x", 1, "tab", 3, tab), CIS_OK);
  cis_instance *c;
  assert_int_equal(cis_instance_new(caller, im2, NULL, &c), CIS_OK);
  cis_val r;
  assert_int_equal(cis_func_call(c, cis_instance_func(c, "call"), NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 42);
  cis_instance_free(c);
  cis_imports_free(im2);
  cis_module_free(caller);
  cis_table_free(tab);
  cis_engine_free(e); /* destroys the pinned instance: ASan sees any use after free */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(borrowing_instance_counts_no_reference),
      cmocka_unit_test(pinned_borrowing_instance_keeps_module_and_imports),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
