/*
 * This file implements, for the test suites that run skills through
 * cis_skill.h, a skills home with skills installed the way they all want
 * it: a folder of the run holding one home per test, a host opened on a
 * home with a chosen KV backend and AI service and skill log lines sent to
 * a null sink (the call's own capture still holds them), and a built
 * module registered as a skill under a manifest made for it. A host that
 * does not open, or a skill that does not install, fails the test with the
 * reason. Include it after cmocka.h.
 */
#ifndef CIS_TEST_SKILL_HOST_H
#define CIS_TEST_SKILL_HOST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cis/cis_skill.h"
#include "support/test_file.h"

/* Makes this run's folder /tmp/cis-test-SUITE-XXXXXX into root (cap
 * bytes); 0, or -1 when it cannot (main returns 2 then). */
static inline int cis_test_root_make(char *root, size_t cap, const char *suite) {
  int n = snprintf(root, cap, "/tmp/cis-test-%s-XXXXXX", suite);
  return n > 0 && (size_t)n < cap && mkdtemp(root) ? 0 : -1;
}

/* Removes the run's folder and what is in it (said on stderr when not). */
static inline void cis_test_root_remove(const char *root) {
  char cmd[600];
  if (strncmp(root, "/tmp/cis-test-", 14) != 0) return; /* never anything else */
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
}

/* The path root/test into home; made, and new, when make is set. */
static inline void cis_test_home(char *home, size_t cap, const char *root, const char *test, int make) {
  int n = snprintf(home, cap, "%s/%s", root, test);
  if (n < 0 || (size_t)n >= cap) fail_msg("home path too long: %s/%s", root, test);
  if (make && mkdir(home, 0700) != 0) fail_msg("cannot make home %s (a test's home must be new)", home);
}

/* Opens a host with config c, its log lines to a null sink. */
static inline cis_skills *cis_test_skills_open_config(cis_skills_config *c) {
  cis_log_sink null;
  cis_log_sink_null(&null);
  c->log_sink = &null;
  cis_skills *s = NULL;
  cis_result rc = cis_skills_open(c, &s);
  c->log_sink = NULL; /* the sink lives here only; the host keeps its own */
  if (rc != CIS_OK)
    fail_msg("cis_skills_open %s: %s: %s", c->home ? c->home : "(default)", cis_errname(rc), cis_skills_errmsg(s));
  return s;
}

/* kv_spec and ai may be NULL (the defaults: SQLite in home, no AI);
 * engine too (the library's default). */
static inline cis_skills *cis_test_skills_open_on(const char *home, const char *kv_spec, cis_ai *ai,
                                                  const char *engine) {
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  c.kv_spec = kv_spec;
  c.ai = ai;
  c.engine = engine;
  return cis_test_skills_open_config(&c);
}

/* The same on the library's default engine. */
static inline cis_skills *cis_test_skills_open(const char *home, const char *kv_spec, cis_ai *ai) {
  return cis_test_skills_open_on(home, kv_spec, ai, NULL);
}

/* The bytes of dir/name (malloc'd, *len their count); fails the test when
 * the file cannot be read. */
static inline uint8_t *cis_test_slurp(const char *dir, const char *name, size_t *len) {
  uint8_t *b = cis_test_file_read_in(dir, name, "", len);
  if (!b) fail_msg("cannot read %s/%s", dir, name);
  return b;
}

/* Registers module dir/file as skill name under the manifest
 * {"name","version","wasm":{path,sha256}, EXTRA} where extra is more
 * members ("\"abi\":\"wasi\"", may be NULL or ""). Returns what
 * cis_skills_register returns, its reason in cis_skills_errmsg(s). */
static inline cis_result cis_test_register(cis_skills *s, const char *dir, const char *file, const char *name,
                                           const char *extra) {
  size_t len;
  uint8_t *wasm = cis_test_slurp(dir, file, &len);
  char sha[65], man[2048];
  if (cis_sha256_hex(wasm, len, sha) != CIS_OK) fail_msg("sha256 of %s", file);
  int n = snprintf(man, sizeof man,
                   "{\"name\":\"%s\",\"version\":\"1.0.0\",\"wasm\":{\"path\":\"%s\",\"sha256\":\"%s\"}%s%s}", name,
                   file, sha, extra && *extra ? "," : "", extra ? extra : "");
  if (n < 0 || (size_t)n >= sizeof man) fail_msg("manifest of %s too long", name);
  cis_result rc = cis_skills_register(s, wasm, len, man, strlen(man));
  free(wasm);
  return rc;
}

/* The same, failing the test with the reason when it does not install. */
static inline void cis_test_install(cis_skills *s, const char *dir, const char *file, const char *name,
                                    const char *extra) {
  cis_result rc = cis_test_register(s, dir, file, name, extra);
  if (rc != CIS_OK) fail_msg("install %s: %s: %s", name, cis_errname(rc), cis_skills_errmsg(s));
}

#endif /* CIS_TEST_SKILL_HOST_H */
