/*
 * This file implements the tests of the on-demand loader
 * (src/common/dynlib.c) on its own, against libc (always there) and a
 * soname no system has, and checks that the sonames the build chose for
 * libpq and libcurl are the very libraries their development packages
 * link: this program links both and finds each already loaded by that
 * soname.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/pgwire.h"
#include "http/http_internal.h"

typedef size_t (*strlen_fn)(const char *);

static strlen_fn got_strlen;
static atomic_int binds;

static void bind_libc(void *const *fn) {
  got_strlen = (strlen_fn)fn[0];
  atomic_fetch_add(&binds, 1);
}

static const char *const libc_names[] = {"strlen"};

/* dynlib_loads_table_once: a library loads, its table is bound once, and
 * later loads are no-ops. */
static void dynlib_loads_table_once(void **state) {
  (void)state;
  cis__dynlib lib = {.soname = "libc.so.6", .package = "libc6", .names = libc_names,
                     .count = 1, .bind = bind_libc};
  atomic_store(&binds, 0);
  assert_false(cis__dynlib_loaded(&lib));
  assert_int_equal(cis__dynlib_load(&lib, NULL, 0), CIS_OK);
  assert_int_equal(cis__dynlib_load(&lib, NULL, 0), CIS_OK);
  assert_true(cis__dynlib_loaded(&lib));
  assert_int_equal(atomic_load(&binds), 1);
  assert_int_equal(got_strlen("four"), 4);
}

static void *load_thread(void *arg) {
  return (void *)(intptr_t)cis__dynlib_load(arg, NULL, 0);
}

/* dynlib_concurrent_loads_bind_once: threads loading one library at once
 * all succeed and the table is bound by one of them only. */
static void dynlib_concurrent_loads_bind_once(void **state) {
  (void)state;
  cis__dynlib lib = {.soname = "libc.so.6", .package = "libc6", .names = libc_names,
                     .count = 1, .bind = bind_libc};
  atomic_store(&binds, 0);
  pthread_t t[8];
  for (int i = 0; i < 8; i++) assert_int_equal(pthread_create(&t[i], NULL, load_thread, &lib), 0);
  for (int i = 0; i < 8; i++) {
    void *rc;
    assert_int_equal(pthread_join(t[i], &rc), 0);
    assert_int_equal((intptr_t)rc, CIS_OK);
  }
  assert_int_equal(atomic_load(&binds), 1);
}

/* dynlib_missing_soname_names_package: a soname that is not there is
 * CIS_EUNSUPPORTED, nothing is bound, and the message names the soname,
 * the package and dlerror()'s reason; a later call tries again. */
static void dynlib_missing_soname_names_package(void **state) {
  (void)state;
  cis__dynlib lib = {.soname = "libcis-test-no-such-library.so.0", .package = "cis-test-pkg",
                     .names = libc_names, .count = 1, .bind = bind_libc};
  atomic_store(&binds, 0);
  char err[512];
  assert_int_equal(cis__dynlib_load(&lib, err, sizeof err), CIS_EUNSUPPORTED);
  assert_false(cis__dynlib_loaded(&lib));
  assert_int_equal(atomic_load(&binds), 0);
  if (!strstr(err, "libcis-test-no-such-library.so.0 could not be loaded") ||
      !strstr(err, "install the package cis-test-pkg") ||
      !strstr(err, "cannot open shared object file"))
    fail_msg("message: %s", err);
  /* The test hook points it at a library that is there: the next call loads. */
  cis__dynlib_test_soname(&lib, "libc.so.6");
  assert_int_equal(cis__dynlib_load(&lib, err, sizeof err), CIS_OK);
  assert_int_equal(atomic_load(&binds), 1);
}

/* dynlib_missing_function_names_it: a library without one of the
 * functions is CIS_EUNSUPPORTED naming that function, and nothing is
 * bound. */
static void dynlib_missing_function_names_it(void **state) {
  (void)state;
  static const char *const names[] = {"strlen", "cis_test_no_such_function"};
  cis__dynlib lib = {.soname = "libc.so.6", .package = "libc6", .names = names, .count = 2,
                     .bind = bind_libc};
  atomic_store(&binds, 0);
  char err[512];
  assert_int_equal(cis__dynlib_load(&lib, err, sizeof err), CIS_EUNSUPPORTED);
  assert_false(cis__dynlib_loaded(&lib));
  assert_int_equal(atomic_load(&binds), 0);
  if (!strstr(err, "lacks cis_test_no_such_function") || !strstr(err, "libc6"))
    fail_msg("message: %s", err);
}

/* dynlib_sonames_match_linked_libraries: the sonames built in are those
 * of the libpq and libcurl this program links (already loaded, so
 * RTLD_NOLOAD finds them), and the loader binds their real functions. */
static void dynlib_sonames_match_linked_libraries(void **state) {
  (void)state;
  /* Use both, so that neither link can be dropped as unneeded. */
  assert_true(PQlibVersion() > 0);
  assert_non_null(curl_version());
  void *pq = dlopen(CIS_PQ_SONAME, RTLD_NOW | RTLD_NOLOAD);
  void *curl = dlopen(CIS_CURL_SONAME, RTLD_NOW | RTLD_NOLOAD);
  if (!pq) fail_msg("%s is not the libpq this program links", CIS_PQ_SONAME);
  if (!curl) fail_msg("%s is not the libcurl this program links", CIS_CURL_SONAME);
  dlclose(pq);
  dlclose(curl);
  assert_int_equal(cis__curl_init(NULL, 0), CIS_OK);
  assert_ptr_equal((void *)cis__curl.easy_init, (void *)curl_easy_init);
  char err[256];
  assert_int_equal(cis__dynlib_load(&cis__pq_lib, err, sizeof err), CIS_OK);
  assert_ptr_equal((void *)cis__pq.status, (void *)PQstatus);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(dynlib_loads_table_once),
      cmocka_unit_test(dynlib_concurrent_loads_bind_once),
      cmocka_unit_test(dynlib_missing_soname_names_package),
      cmocka_unit_test(dynlib_missing_function_names_it),
      cmocka_unit_test(dynlib_sonames_match_linked_libraries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
