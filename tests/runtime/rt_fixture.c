/*
 * This file implements the fixture of the runtime tests that run each case
 * on both engines from a text module (rt_test.h, rt_fixture_open): apart
 * from rt_test.c because it needs the text compiler (cis_wat).
 */
#include "runtime/rt_test.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static cis_result host_twice(cis_call *c, const cis_slot *a, cis_slot *r) {
  (void)c;
  r[0].i64 = a[0].i64 * 2;
  return CIS_OK;
}

/* host.reenter (i32) -> i32: calls the caller's export "reenter" with
 * its argument, for wasm -> host -> wasm chains. */
static cis_result host_reenter(cis_call *c, const cis_slot *a, cis_slot *r) {
  cis_instance *inst = cis_call_instance(c);
  cis_extern ext;
  cis_result rc = cis_instance_export(inst, "reenter", strlen("reenter"), &ext);
  return rc != CIS_OK ? rc : cis_func_call_slots(inst, ext.of.func, a, r);
}

void rt_fixture_open(rt_fixture *f, const char *name, const char *text, size_t len, uint64_t fuel,
                     uint64_t timeout_ms) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = name;
  cfg.limits.max_call_depth = 200;
  cfg.limits.fuel = fuel;
  cfg.limits.timeout_ms = timeout_ms;
  assert_int_equal(cis_engine_new(&cfg, &f->e), CIS_OK);
  cis_result rc = cis_module_new_text(f->e, text, len, &f->m);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(f->e));
  cis_host_func_def d[] = {{"host", "twice", "(I)I", host_twice, NULL, 0}, {"host", "reenter", "(i)i", host_reenter, NULL, 0}};
  assert_int_equal(cis_imports_new(f->e, &f->im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(f->im, d, 2), CIS_OK);
  rc = cis_instance_new(f->m, f->im, NULL, &f->inst);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(f->e));
}

void rt_fixture_close(rt_fixture *f) {
  cis_instance_free(f->inst);
  cis_imports_free(f->im);
  cis_module_free(f->m);
  cis_engine_free(f->e);
}

static char home[256];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

int rt_home_setup(void **state) {
  (void)state;
  snprintf(home, sizeof home, "/tmp/cis-rt-test-XXXXXX");
  if (!mkdtemp(home)) return -1;
  setenv("CIS_HOME", home, 1);
  /* CIS_TEST_AOT_CACHE: a compile cache shared by the sanitizer and the
   * plain build (scripts/test.sh), which compile the same modules. */
  const char *shared = getenv("CIS_TEST_AOT_CACHE");
  if (shared && *shared) setenv("CIS_AOT_CACHE", shared, 1);
  else unsetenv("CIS_AOT_CACHE");
  return 0;
}

int rt_home_teardown(void **state) {
  (void)state;
  nftw(home, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}
