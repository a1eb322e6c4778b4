/*
 * This file tests signed skills (src/skill/sign.c, cis_skill.h "signed
 * skills"): a key pair made and used to sign a skill folder, install and
 * load with and without require_signature, a bundle changed after signing,
 * a key the tenant does not trust (or another tenant does), a manifest
 * changed in the registry after install, hostile signature files, a
 * signature given with a skill registered from memory, and libsodium
 * missing.
 *
 * Usage: test_skill_sign SKILL_DIR   (the C test skills: hello.wasm)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cis/cis_skill.h"
#include "common/ed25519.h"
#include "support/test_file.h"

static const char *g_dir;  /* built skills */
static char g_root[256];   /* this run's folder; each test has a home below */

static void write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path) {
  size_t n;
  char *b = (char *)cis_test_file_read(path, &n);
  if (!b) fail_msg("cannot read %s", path);
  return b;
}

/* A fresh home with a key pair "dev" in home/keys and a skill folder
 * home/hello holding hello.wasm and its manifest (description desc). */
static void setup_home(char *home, size_t cap, const char *test, const char *desc) {
  snprintf(home, cap, "%s/%s", g_root, test);
  assert_int_equal(mkdir(home, 0700), 0);
  char keys[512], pub[65];
  snprintf(keys, sizeof keys, "%s/keys", home);
  assert_int_equal(cis_key_create(keys, "dev", pub), CIS_OK);
  assert_int_equal(strlen(pub), 64);
  char skill[512], path[1024];
  snprintf(skill, sizeof skill, "%s/hello", home);
  assert_int_equal(mkdir(skill, 0700), 0);
  snprintf(path, sizeof path, "%s/hello.wasm", g_dir);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static uint8_t wasm[1 << 20];
  size_t n = fread(wasm, 1, sizeof wasm, f);
  fclose(f);
  snprintf(path, sizeof path, "%s/hello.wasm", skill);
  write_file(path, wasm, n);
  char sha[65], man[1024];
  assert_int_equal(cis_sha256_hex(wasm, n, sha), CIS_OK);
  snprintf(man, sizeof man,
           "{\"name\":\"hello\",\"version\":\"1.0.0\",\"description\":\"%s\",\"abi\":\"cis_v1\","
           "\"wasm\":{\"path\":\"hello.wasm\",\"sha256\":\"%s\"},\"permissions\":{\"log\":true}}\n",
           desc, sha);
  snprintf(path, sizeof path, "%s/skill.json", skill);
  write_file(path, man, strlen(man));
}

static void key_path(char *out, size_t cap, const char *home, const char *ext) {
  if (snprintf(out, cap, "%s/keys/dev.%s", home, ext) >= (int)cap) fail_msg("path too long");
}

static char *public_key(const char *home) {
  char p[600];
  key_path(p, sizeof p, home, "pub");
  char *k = read_text(p);
  k[strcspn(k, "\n")] = 0;
  return k;
}

static cis_skills *open_as(const char *home, const char *tenant, bool require) {
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  c.tenant = tenant;
  c.require_signature = require;
  cis_skills *s = NULL;
  if (cis_skills_open(&c, &s) != CIS_OK) fail_msg("open: %s", cis_skills_errmsg(s));
  return s;
}

static void sign_hello(const char *home) {
  char skill[600], key[600];
  snprintf(skill, sizeof skill, "%s/hello", home);
  key_path(key, sizeof key, home, "key");
  if (cis_skill_sign(skill, key) != CIS_OK) fail_msg("sign: %s", cis_errmsg(NULL));
}

static cis_result install(cis_skills *s, const char *home) {
  char skill[600];
  snprintf(skill, sizeof skill, "%s/hello", home);
  return cis_skills_install(s, skill, NULL, 0);
}

static cis_result run(cis_skills *s) {
  cis_invoke_result r;
  cis_result rc = cis_skills_invoke(s, "hello", "{}", 2, NULL, &r);
  if (rc == CIS_OK) assert_non_null(strstr(r.output, "\"result\":2"));
  cis_invoke_result_free(&r);
  return rc;
}

static void signed_bundle_installs_and_runs_when_required(void **st) {
  (void)st;
  char home[512];
  setup_home(home, sizeof home, "signed", "one plus one");
  sign_hello(home);
  cis_skills *s = open_as(home, "acme", true);
  char *pk = public_key(home);
  assert_int_equal(cis_skills_key_trust(s, "dev", pk), CIS_OK);
  assert_int_equal(install(s, home), CIS_OK);
  assert_int_equal(run(s), CIS_OK);
  cis_key_info *keys;
  size_t n;
  assert_int_equal(cis_skills_keys(s, &keys, &n), CIS_OK);
  assert_int_equal(n, 1);
  assert_string_equal(keys[0].name, "dev");
  assert_string_equal(keys[0].public_key, pk);
  free(keys);
  free(pk);
  cis_skills_close(s);
}

static void bundle_changed_after_signing_is_refused(void **st) {
  (void)st;
  char home[512];
  setup_home(home, sizeof home, "tampered", "one plus one");
  sign_hello(home);
  /* The same skill with a wider description: the signature no longer
   * matches, required or not. */
  char path[1024];
  snprintf(path, sizeof path, "%s/hello/skill.json", home);
  char *man = read_text(path);
  char *at = strstr(man, "one plus one");
  assert_non_null(at);
  memcpy(at, "one plus two", 12);
  write_file(path, man, strlen(man));
  free(man);
  cis_skills *s = open_as(home, NULL, false);
  assert_int_equal(install(s, home), CIS_ESIGNATURE);
  assert_non_null(strstr(cis_skills_errmsg(s), "does not match"));
  cis_skills_close(s);
  s = open_as(home, "acme", true);
  char *pk = public_key(home);
  assert_int_equal(cis_skills_key_trust(s, "dev", pk), CIS_OK);
  free(pk);
  assert_int_equal(install(s, home), CIS_ESIGNATURE);
  cis_skills_close(s);
}

static void unsigned_skill_is_refused_only_when_required(void **st) {
  (void)st;
  char home[512];
  setup_home(home, sizeof home, "unsigned", "x");
  cis_skills *s = open_as(home, "acme", true);
  assert_int_equal(install(s, home), CIS_ESIGNATURE);
  assert_non_null(strstr(cis_skills_errmsg(s), "not signed"));
  cis_skills_close(s);
  s = open_as(home, "acme", false);
  assert_int_equal(install(s, home), CIS_OK);
  assert_int_equal(run(s), CIS_OK);
  cis_skills_close(s);
  /* Installed unsigned, then loaded by a handle that requires a signature. */
  s = open_as(home, "acme", true);
  assert_int_equal(run(s), CIS_ESIGNATURE);
  cis_skills_close(s);
}

static void key_the_tenant_does_not_trust_is_refused(void **st) {
  (void)st;
  char home[512];
  setup_home(home, sizeof home, "untrusted", "x");
  sign_hello(home);
  char *pk = public_key(home);
  /* Another tenant trusts the key; acme does not. */
  cis_skills *other = open_as(home, "globex", true);
  assert_int_equal(cis_skills_key_trust(other, "dev", pk), CIS_OK);
  cis_skills_close(other);
  cis_skills *s = open_as(home, "acme", true);
  assert_int_equal(install(s, home), CIS_ESIGNATURE);
  assert_non_null(strstr(cis_skills_errmsg(s), "does not trust"));
  /* Trusted, installed; trust withdrawn: the next load is refused. */
  assert_int_equal(cis_skills_key_trust(s, "dev", pk), CIS_OK);
  assert_int_equal(install(s, home), CIS_OK);
  assert_int_equal(run(s), CIS_OK);
  assert_int_equal(cis_skills_key_untrust(s, "dev"), CIS_OK);
  assert_int_equal(run(s), CIS_ESIGNATURE);
  assert_int_equal(cis_skills_key_untrust(s, "dev"), CIS_ENOTFOUND);
  free(pk);
  cis_skills_close(s);
}

static void manifest_changed_in_the_registry_is_refused_at_load(void **st) {
  (void)st;
  char home[512];
  setup_home(home, sizeof home, "registry-edit", "x");
  sign_hello(home);
  cis_skills *s = open_as(home, "acme", true);
  char *pk = public_key(home);
  assert_int_equal(cis_skills_key_trust(s, "dev", pk), CIS_OK);
  free(pk);
  assert_int_equal(install(s, home), CIS_OK);
  assert_int_equal(run(s), CIS_OK);
  cis_skills_close(s);
  /* Someone with the database widens the stored manifest. */
  char db[1024];
  snprintf(db, sizeof db, "%s/registry.db", home);
  sqlite3 *h;
  assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h,
                                "UPDATE skills SET manifest = replace(manifest, '\"log\":true', "
                                "'\"log\":true,\"kv\":true') WHERE name='hello'",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_changes(h), 1);
  sqlite3_close(h);
  s = open_as(home, "acme", true);
  assert_int_equal(run(s), CIS_ESIGNATURE);
  cis_skills_close(s);
}

/* Each hostile skill.sig is a typed refusal, never a crash or a pass. */
static void hostile_signature_files_are_refused(void **st) {
  (void)st;
  char home[512];
  setup_home(home, sizeof home, "hostile", "x");
  sign_hello(home);
  char path[1024];
  snprintf(path, sizeof path, "%s/hello/%s", home, CIS_SIGNATURE_FILE);
  char *good = read_text(path);
  char flipped[512];
  snprintf(flipped, sizeof flipped, "%s", good);
  char *sig = strstr(flipped, "\"signature\":\"") + 13;
  sig[0] = sig[0] == '0' ? '1' : '0'; /* one bit of the signature */
  static char big[5000];
  memset(big, ' ', sizeof big - 1);
  const char *cases[] = {
      "",
      "not json",
      "{\"alg\":\"ed25519\"}",
      "{\"alg\":\"rsa\",\"public_key\":\"00\",\"signature\":\"00\"}",
      "{\"alg\":\"ed25519\",\"public_key\":\"zz\",\"signature\":\"00\"}",
      "{\"alg\":\"ed25519\",\"public_key\":\"" /* 63 digits */
      "000000000000000000000000000000000000000000000000000000000000000\",\"signature\":\"00\"}",
      "[1,2,3]",
      "{\"alg\":\"ed25519\",\"public_key\":1,\"signature\":2}",
      flipped,
      big,
  };
  cis_skills *s = open_as(home, NULL, false);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_file(path, cases[i], strlen(cases[i]));
    cis_result rc = install(s, home);
    if (rc != CIS_ESIGNATURE) fail_msg("case %zu: %s (%s)", i, cis_strerror(rc), cis_skills_errmsg(s));
  }
  write_file(path, good, strlen(good));
  assert_int_equal(install(s, home), CIS_OK);
  free(good);
  cis_skills_close(s);
}

static void signature_given_with_a_skill_registered_from_memory(void **st) {
  (void)st;
  char home[512];
  setup_home(home, sizeof home, "memory", "x");
  sign_hello(home);
  char path[1024];
  snprintf(path, sizeof path, "%s/hello/skill.json", home);
  char *man = read_text(path);
  snprintf(path, sizeof path, "%s/hello/%s", home, CIS_SIGNATURE_FILE);
  char *sig = read_text(path);
  snprintf(path, sizeof path, "%s/hello/hello.wasm", home);
  FILE *f = fopen(path, "rb");
  static uint8_t wasm[1 << 20];
  size_t n = fread(wasm, 1, sizeof wasm, f);
  fclose(f);
  cis_skills *s = open_as(home, "acme", true);
  char *pk = public_key(home);
  assert_int_equal(cis_skills_key_trust(s, "dev", pk), CIS_OK);
  free(pk);
  assert_int_equal(cis_skills_register(s, wasm, n, man, strlen(man)), CIS_ESIGNATURE);
  cis_install_options o;
  memset(&o, 0, sizeof o);
  o.signature = sig;
  o.signature_len = strlen(sig);
  assert_int_equal(cis_skills_register_ex(s, wasm, n, man, strlen(man), &o), CIS_OK);
  assert_int_equal(run(s), CIS_OK);
  free(man);
  free(sig);
  cis_skills_close(s);
}

static void key_files_are_private_and_never_replaced(void **st) {
  (void)st;
  char dir[512], path[1024];
  snprintf(dir, sizeof dir, "%s/keys-only", g_root);
  assert_int_equal(cis_key_create(dir, "k1", NULL), CIS_OK);
  struct stat sb;
  snprintf(path, sizeof path, "%s/k1.key", dir);
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  assert_int_equal(cis_key_create(dir, "k1", NULL), CIS_EEXIST);
  assert_non_null(strstr(cis_errmsg(NULL), "k1.key")); /* the thread's: no handle */
  const char *bad[] = {"", ".hidden", "a/b", "../up", "x y",
                       "a-name-longer-than-sixty-four-characters-is-refused-by-the-key-maker-ok"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(cis_key_create(dir, bad[i], NULL), CIS_EINVAL);
    assert_non_null(strstr(cis_errmsg(NULL), "a key name is 1 to 64"));
  }
  /* Not a key: signing with it is a typed error. */
  snprintf(path, sizeof path, "%s/k1.pub", dir);
  char home[512];
  setup_home(home, sizeof home, "badkey", "x");
  char skill[600];
  snprintf(skill, sizeof skill, "%s/hello", home);
  assert_int_equal(cis_skill_sign(skill, path), CIS_EINVAL);
  assert_non_null(strstr(cis_errmsg(NULL), "not a secret key"));
  assert_int_equal(cis_skill_sign(NULL, path), CIS_EINVAL);
  assert_non_null(strstr(cis_errmsg(NULL), "a skill path and a key are needed"));
  cis_skills *s = open_as(home, NULL, false);
  assert_int_equal(cis_skills_key_trust(s, "k", "abc"), CIS_EINVAL);
  assert_int_equal(cis_skills_key_trust(s, "../k", "00"), CIS_EINVAL);
  cis_skills_close(s);
}

static void missing_libsodium_is_unsupported_naming_its_package(void **st) {
  (void)st;
  char dir[512];
  snprintf(dir, sizeof dir, "%s/keys-nosodium", g_root);
  cis__dynlib_test_soname(&cis__sodium_lib, "libcis-no-such-sodium.so.99");
  cis_result rc = cis_key_create(dir, "k", NULL);
  cis__dynlib_test_soname(&cis__sodium_lib, NULL);
  assert_int_equal(rc, CIS_EUNSUPPORTED);
  assert_non_null(strstr(cis_errmsg(NULL), "libsodium"));
  assert_int_equal(cis_key_create(dir, "k", NULL), CIS_OK);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SKILL_DIR\n", argv[0]);
    return 2;
  }
  g_dir = argv[1];
  snprintf(g_root, sizeof g_root, "/tmp/cis-test-sign-%d", (int)getpid());
  if (mkdir(g_root, 0700) != 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(signed_bundle_installs_and_runs_when_required),
      cmocka_unit_test(bundle_changed_after_signing_is_refused),
      cmocka_unit_test(unsigned_skill_is_refused_only_when_required),
      cmocka_unit_test(key_the_tenant_does_not_trust_is_refused),
      cmocka_unit_test(manifest_changed_in_the_registry_is_refused_at_load),
      cmocka_unit_test(hostile_signature_files_are_refused),
      cmocka_unit_test(signature_given_with_a_skill_registered_from_memory),
      cmocka_unit_test(key_files_are_private_and_never_replaced),
      cmocka_unit_test(missing_libsodium_is_unsupported_naming_its_package),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_root);
  return rc ? 1 : 0;
}
