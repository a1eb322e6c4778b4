/*
 * This file implements what the compiled engine's test suites share: a
 * private CIS_HOME per test, made by setup and removed by teardown (the
 * compile cache is its cache/ folder: CIS_AOT_CACHE and CIS_CC are unset,
 * so every test compiles with the default compiler into a cache of its
 * own), an engine by name, the count of compiled objects in that cache,
 * a module from text, and the C the generator writes for one. Include it
 * after cmocka.h.
 */
#ifndef CIS_TEST_AOT_TEST_H
#define CIS_TEST_AOT_TEST_H

#include <dirent.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aot/aot.h"
#include "cis/cis.h"

static char home[256]; /* this test's CIS_HOME */

static inline int aot_test_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

static inline int setup(void **state) {
  (void)state;
  snprintf(home, sizeof home, "/tmp/cis-aot-test-XXXXXX");
  if (!mkdtemp(home)) return -1;
  setenv("CIS_HOME", home, 1);
  unsetenv("CIS_CC");
  unsetenv("CIS_AOT_CACHE");
  return 0;
}

static inline int teardown(void **state) {
  (void)state;
  nftw(home, aot_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

static inline cis_engine *engine(const char *name) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = name;
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  return e;
}

/* Files of the cache folder whose name ends (from its last dot) in one
 * of suffixes (NULL-terminated), or with except in none of them. */
static inline int cache_files(const char *const *suffixes, bool except) {
  char dir[300];
  snprintf(dir, sizeof dir, "%s/cache", home);
  DIR *d = opendir(dir);
  if (!d) return 0;
  int count = 0;
  for (struct dirent *de; (de = readdir(d));) {
    const char *x = strrchr(de->d_name, '.');
    if (de->d_name[0] == '.' || !x) continue;
    bool in = false;
    for (const char *const *s = suffixes; *s && !in; s++) in = !strcmp(x, *s);
    count += in != except;
  }
  closedir(d);
  return count;
}

/* Objects in the cache folder. */
static inline int cache_entries(void) {
  static const char *const entry[] = {".cso", NULL};
  return cache_files(entry, false);
}

/* Module text compiled on engine e (fails the test when it does not load). */
static inline cis_module *module(cis_engine *e, const char *text) {
  cis_module *m = NULL;
  cis_result rc = cis_module_new_text(e, text, strlen(text), &m);
  if (rc != CIS_OK) fail_msg("module: %s: %s", cis_errname(rc), cis_errmsg(e));
  return m;
}

/* The C the generator writes for text (a module on engine e). */
static inline char *generated_c(cis_engine *e, const char *text) {
  cis_module *m = module(e, text);
  cis__aot_buf out = {0};
  char msg[256] = "";
  cis_result rc = cis__aot_codegen(m->m, "0", &out, msg, sizeof msg);
  if (rc != CIS_OK) fail_msg("codegen: %s: %s", cis_errname(rc), msg);
  cis_module_free(m);
  assert_false(out.oom);
  return out.p;
}

/* Occurrences of what in text. */
static inline size_t count_of(const char *text, const char *what) {
  size_t n = 0;
  for (const char *p = text; (p = strstr(p, what)); p += strlen(what)) n++;
  return n;
}

#endif
