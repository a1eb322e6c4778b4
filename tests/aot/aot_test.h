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
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* stderr goes to a file from capture_begin to capture_end, which returns
 * what was written (free it). */
static int saved_err = -1;
static char cap_path[300];

static inline void capture_begin(void) {
  fflush(stderr);
  snprintf(cap_path, sizeof cap_path, "%s/stderr.txt", home);
  int fd = open(cap_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  saved_err = dup(2);
  assert_true(saved_err >= 0);
  assert_int_equal(dup2(fd, 2), 2);
  close(fd);
}

static inline char *capture_end(void) {
  fflush(stderr);
  dup2(saved_err, 2);
  close(saved_err);
  saved_err = -1;
  FILE *f = fopen(cap_path, "r");
  assert_non_null(f);
  char *buf = calloc(1, 8192);
  assert_non_null(buf);
  size_t n = fread(buf, 1, 8191, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

/* The path of the one file of the cache whose name ends in suffix
 * (asserts there is one). */
static inline void cache_file(const char *suffix, char *out, size_t n) {
  char dir[300];
  snprintf(dir, sizeof dir, "%s/cache", home);
  DIR *d = opendir(dir);
  assert_non_null(d);
  int count = 0;
  size_t sl = strlen(suffix);
  for (struct dirent *de; (de = readdir(d));) {
    size_t l = strlen(de->d_name);
    if (l > sl && !strcmp(de->d_name + l - sl, suffix)) {
      count++;
      if (snprintf(out, n, "%s/%s", dir, de->d_name) >= (int)n) fail_msg("%s: path too long", dir);
    }
  }
  closedir(d);
  assert_int_equal(count, 1);
}

/* The path of the one entry of the cache. */
static inline void the_entry(char *out, size_t n) { cache_file(".cso", out, n); }

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

/* The generator on module mod whose first function's body is replaced by
 * body[0..len) (one that did not pass validation) must give want, and
 * when it refuses, say the body "does not decode". */
static inline void codegen_of_body(cis_module *mod, const char *what, const uint8_t *body, size_t len,
                                   cis_result want) {
  cis__code *code = &mod->m->codes[0];
  const cis__code saved = *code;
  code->body = body;
  code->body_len = len;
  cis__aot_buf out = {0};
  char msg[256] = "";
  cis_result rc = cis__aot_codegen(mod->m, "0", &out, msg, sizeof msg);
  cis__aot_buf_free(&out);
  *code = saved;
  if (rc != want || (rc != CIS_OK && !strstr(msg, "does not decode")))
    fail_msg("%s: got %s \"%s\", want %s", what, cis_errname(rc), msg, cis_errname(want));
}

/* Occurrences of what in text. */
static inline size_t count_of(const char *text, const char *what) {
  size_t n = 0;
  for (const char *p = text; (p = strstr(p, what)); p += strlen(what)) n++;
  return n;
}

#endif
