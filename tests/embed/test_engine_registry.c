/*
 * This file implements the tests of the engine registry: execution engines
 * register their ops table with the runtime (cis__engine_register), the
 * runtime picks one by name and never names one itself, and the library
 * glue registers the interpreter, the default, before the first engine is
 * created. The registry is process-wide, so the tests run in this order and
 * the one that fills it comes last.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/runtime.h"

static int fake_prepared; /* modules the fake engine prepared */

static cis_result fake_prepare(cis_module *mod) {
  (void)mod;
  fake_prepared++;
  return CIS_OK;
}
static void fake_unprepare(cis_module *mod) { (void)mod; }
static cis_result fake_call(cis__exec *ex, cis_func *f, cis_slot *ar) {
  (void)ex, (void)f, (void)ar;
  return CIS_TRAP_UNREACHABLE;
}

static const cis__engine_ops fake_ops = {
    .name = "fake", .prepare = fake_prepare, .unprepare = fake_unprepare, .call = fake_call};
static const cis__engine_ops fake_twin = {
    .name = "fake", .prepare = fake_prepare, .unprepare = fake_unprepare, .call = fake_call};

/* (module) */
static const uint8_t empty_wasm[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};

/* The default configuration and a NULL one both run the interpreter, which
 * the library registered without being asked. */
/* The library's default is auto (engine_default_is_auto_with_a_compiler_
 * else_interp in tests/aot); CIS_ENGINE overrides it, as the suite does. */
static void test_default_engine_is_the_one_CIS_ENGINE_names(void **state) {
  (void)state;
  assert_int_equal(setenv("CIS_ENGINE", "interp", 1), 0);
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  assert_string_equal(cfg.engine, "interp");
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  assert_non_null(e);
  assert_string_equal(e->ops->name, "interp");
  assert_ptr_equal(e->ops, cis__engine_find(NULL));
  assert_ptr_equal(e->ops, cis__engine_find("interp"));
  cis_engine_free(e);
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  assert_string_equal(e->ops->name, "interp");
  cis_engine_free(e);
}

static void test_register_rejects_incomplete_ops(void **state) {
  (void)state;
  assert_int_equal(cis__engine_register(NULL), CIS_EINVAL);
  cis__engine_ops no_name = fake_ops;
  no_name.name = NULL;
  assert_int_equal(cis__engine_register(&no_name), CIS_EINVAL);
  cis__engine_ops no_call = fake_ops;
  no_call.call = NULL;
  assert_int_equal(cis__engine_register(&no_call), CIS_EINVAL);
}

/* A registered engine is chosen by name; the module's prepare goes to it. */
static void test_registered_engine_is_used(void **state) {
  (void)state;
  assert_null(cis__engine_find("fake"));
  assert_int_equal(cis__engine_register(&fake_ops), CIS_OK);
  assert_int_equal(cis__engine_register(&fake_ops), CIS_OK); /* again: no-op */
  assert_int_equal(cis__engine_register(&fake_twin), CIS_EEXIST);
  assert_ptr_equal(cis__engine_find("fake"), &fake_ops);
  /* The first registered stays the default. */
  assert_string_equal(cis__engine_find(NULL)->name, "interp");

  char name[8] = "fake"; /* the engine keeps no pointer to the caller's */
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = name;
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  memset(name, 0, sizeof name);
  assert_ptr_equal(e->ops, &fake_ops);
  assert_string_equal(e->cfg.engine, "fake");
  cis_module *m = NULL;
  int before = fake_prepared;
  assert_int_equal(cis_module_new(e, empty_wasm, sizeof empty_wasm, &m), CIS_OK);
  assert_int_equal(fake_prepared, before + 1);
  cis_module_free(m);
  cis_engine_free(e);
}

static void test_unknown_engine_is_unsupported(void **state) {
  (void)state;
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "aot-not-built";
  cis_engine *e = (cis_engine *)&cfg; /* must be reset */
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_EUNSUPPORTED);
  assert_null(e);
}

/* The table is fixed: the registration past CIS__MAX_ENGINES fails, and
 * what was registered keeps working. */
static void test_registry_full(void **state) {
  (void)state;
  static cis__engine_ops extra[CIS__MAX_ENGINES];
  static char names[CIS__MAX_ENGINES][16];
  size_t ok = 0;
  cis_result rc = CIS_OK;
  for (size_t i = 0; i < CIS__MAX_ENGINES; i++) {
    snprintf(names[i], sizeof names[i], "extra%zu", i);
    extra[i] = fake_ops;
    extra[i].name = names[i];
    rc = cis__engine_register(&extra[i]);
    if (rc != CIS_OK) break;
    ok++;
  }
  assert_int_equal(rc, CIS_ETOOBIG);
  /* interp and fake hold two, the compiled engine and tiering one each
   * when built. */
  size_t held = 2 + (cis__engine_find("aot") != NULL) + (cis__engine_find("auto") != NULL);
  assert_int_equal(ok, CIS__MAX_ENGINES - held);
  assert_null(cis__engine_find(names[ok]));
  assert_ptr_equal(cis__engine_find(names[ok - 1]), &extra[ok - 1]);
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  assert_string_equal(e->ops->name, "interp");
  cis_engine_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_engine_is_the_one_CIS_ENGINE_names),
      cmocka_unit_test(test_register_rejects_incomplete_ops),
      cmocka_unit_test(test_registered_engine_is_used),
      cmocka_unit_test(test_unknown_engine_is_unsupported),
      cmocka_unit_test(test_registry_full),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
