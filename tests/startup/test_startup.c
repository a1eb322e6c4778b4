/*
 * This file implements the tests of what a run loads: a pure module run
 * through libcis maps no libpq or libcurl, nor anything they pull
 * (GnuTLS, Kerberos, LDAP); the PostgreSQL KV backend loads libpq at its
 * first connect, and the HTTP service loads libcurl at its first request
 * (not when the client is made), the first module hash loads libcrypto;
 * a missing library is CIS_EUNSUPPORTED
 * with a message naming the soname and its Debian package.
 *
 * The program links libcis.a only (not libpq, not libcurl), and reads its
 * own /proc/self/maps. The missing library is simulated with the loader's
 * test hook (cis__dynlib_test_soname), which points it at a soname that no
 * system has.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/failed_open.h"
#include "cis/cis.h"
#include "cis/cis_ai.h"
#include "cis/cis_http.h"
#include "cis/cis_kv.h"
#include "cis/cis_skill.h"
#include "cis/cis_vfs.h"
#include "common/dynlib.h"
#include "common/pgwire.h"
#include "common/sha256.h"
#include "http/http_internal.h"

#define NO_SUCH_SONAME "libcis-test-no-such-library.so.0"

/* A PostgreSQL that cannot be there: a Unix socket in a folder that does
 * not exist. libpq must be loaded to find that out. */
#define PG_NOWHERE "postgres:host=/nonexistent/cis-startup port=5 dbname=cis connect_timeout=2"

/* Whether a file whose path contains `part` is mapped into this process. */
static bool mapped(const char *part) {
  FILE *f = fopen("/proc/self/maps", "r");
  assert_non_null(f);
  char line[4096];
  bool found = false;
  for (int n = 0; n < 100000 && fgets(line, sizeof line, f); n++)
    if (strstr(line, part)) found = true;
  fclose(f);
  return found;
}

/* The libraries a pure run must not map. */
static const char *const heavy[] = {"libpq.so", "libcurl", "libgnutls", "libkrb5", "libgssapi",
                                    "libldap", "libnghttp2", "libssh2", "libcrypto"};

static void assert_nothing_heavy_mapped(void) {
  for (size_t i = 0; i < sizeof heavy / sizeof heavy[0]; i++) {
    if (mapped(heavy[i])) fail_msg("%s is mapped", heavy[i]);
  }
}

/* (module (func (export "add") (param i32 i32) (result i32)
 *   local.get 0 local.get 1 i32.add)) */
static const uint8_t add_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60, 0x02, 0x7f,
    0x7f, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64,
    0x00, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b};

/* startup_pure_run_maps_no_libpq_libcurl: a module loaded, instantiated
 * and called maps none of the heavy libraries; this runs first, before any
 * test below loads one. */
static void startup_pure_run_maps_no_libpq_libcurl(void **state) {
  (void)state;
  /* The check itself can see a library: libc is always there. */
  assert_true(mapped("libc.so"));
  cis_engine *engine = NULL;
  cis_module *module = NULL;
  cis_instance *inst = NULL;
  assert_int_equal(cis_engine_new(NULL, &engine), CIS_OK);
  assert_int_equal(cis_module_new(engine, add_wasm, sizeof add_wasm, &module), CIS_OK);
  assert_int_equal(cis_instance_new(module, NULL, NULL, &inst), CIS_OK);
  cis_func *add = cis_instance_func(inst, "add");
  assert_non_null(add);
  cis_val args[2] = {{.type = CIS_I32, .of.i32 = 40}, {.type = CIS_I32, .of.i32 = 2}};
  cis_val result;
  assert_int_equal(cis_func_call(inst, add, args, 2, &result, 1), CIS_OK);
  assert_int_equal(result.of.i32, 42);
  cis_instance_free(inst);
  cis_module_free(module);
  cis_engine_free(engine);
  assert_false(cis__dynlib_loaded(&cis__pq_lib));
  assert_false(cis__dynlib_loaded(&cis__curl_lib));
  assert_false(cis__dynlib_loaded(&cis__crypto_lib));
  assert_nothing_heavy_mapped();
}

/* startup_sha256_loads_libcrypto_at_first_hash: the first module hash
 * loads libcrypto, and the hash is SHA-256 (FIPS 180-2's test vectors). */
static void startup_sha256_loads_libcrypto_at_first_hash(void **state) {
  (void)state;
  char hex[65];
  assert_int_equal(cis_sha256_hex("abc", 3, hex), CIS_OK);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert_true(cis__dynlib_loaded(&cis__crypto_lib));
  assert_true(mapped("libcrypto"));
  assert_int_equal(cis_sha256_hex(NULL, 0, hex), CIS_OK);
  assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_int_equal(cis_sha256_hex(NULL, 1, hex), CIS_EINVAL);
  assert_int_equal(cis_sha256_hex("abc", 3, NULL), CIS_EINVAL);
}

/* hex_spells_every_byte_at_every_length: cis__hex (four bytes a step,
 * then one at a time) spells every byte value as printf's %02x does, at
 * lengths 0 to 9 and at offsets that put each byte in every lane. */
static void hex_spells_every_byte_at_every_length(void **state) {
  (void)state;
  uint8_t b[256 + 8];
  for (int i = 0; i < (int)sizeof b; i++) b[i] = (uint8_t)(i * 7 + 3 * (i >> 8));
  char got[2 * sizeof b + 1], want[2 * sizeof b + 1];
  for (size_t off = 0; off < 8; off++)
    for (size_t n = 0; n + off <= sizeof b; n += n < 9 ? 1 : 37) {
      for (size_t i = 0; i < n; i++) snprintf(want + 2 * i, 3, "%02x", b[off + i]);
      want[2 * n] = 0;
      memset(got, '#', sizeof got);
      cis__hex(b + off, n, got);
      assert_string_equal(got, want);
    }
  for (int v = 0; v < 256; v++) { /* each value in each of the four lanes */
    uint8_t four[4] = {0, 0, 0, 0};
    char g[9], w[9];
    for (int lane = 0; lane < 4; lane++) {
      memset(four, 0xa5, sizeof four);
      four[lane] = (uint8_t)v;
      cis__hex(four, 4, g);
      snprintf(w, sizeof w, "%02x%02x%02x%02x", four[0], four[1], four[2], four[3]);
      assert_string_equal(g, w);
    }
  }
}

/* startup_missing_libcrypto_is_unsupported_naming_package: without
 * libcrypto no module can be hashed: CIS_EUNSUPPORTED, out empty, and
 * cis__sha256's message names the soname and the package. */
static void startup_missing_libcrypto_is_unsupported_naming_package(void **state) {
  (void)state;
  cis__dynlib_test_soname(&cis__crypto_lib, NO_SUCH_SONAME);
  char hex[65] = "x";
  assert_int_equal(cis_sha256_hex("abc", 3, hex), CIS_EUNSUPPORTED);
  assert_string_equal(hex, "");
  uint8_t md[32];
  char err[512] = "";
  assert_int_equal(cis__sha256("abc", 3, md, err, sizeof err), CIS_EUNSUPPORTED);
  if (!strstr(err, NO_SUCH_SONAME) || !strstr(err, "install the package " CIS_CRYPTO_PACKAGE))
    fail_msg("sha256 message: %s", err);

  /* The skills API: installing and running a bare module both hash it. */
  char home[] = "/tmp/cis-startup-XXXXXX";
  assert_non_null(mkdtemp(home));
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  cis_skills *sk = NULL;
  assert_int_equal(cis_skills_open(&c, &sk), CIS_OK);
  const char *man = "{\"name\":\"add\",\"version\":\"1.0\",\"wasm\":{\"path\":\"add.wasm\","
                    "\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\"}}";
  assert_int_equal(cis_skills_register(sk, add_wasm, sizeof add_wasm, man, strlen(man)),
                   CIS_EUNSUPPORTED);
  if (!strstr(cis_skills_errmsg(sk), "cannot hash")) fail_msg("register: %s", cis_skills_errmsg(sk));
  cis_invoke_result r;
  assert_int_equal(cis_skills_invoke_wasm(sk, add_wasm, sizeof add_wasm, "{}", 2, NULL, &r),
                   CIS_EUNSUPPORTED);
  if (!strstr(r.error, "cannot hash")) fail_msg("invoke_wasm: %s", r.error);
  cis_invoke_result_free(&r);
  cis_skills_close(sk);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  assert_int_equal(system(cmd), 0);

  cis__dynlib_test_soname(&cis__crypto_lib, NULL);
  assert_int_equal(cis_sha256_hex("abc", 3, hex), CIS_OK);
}

/* startup_http_client_loads_libcurl_at_first_request: making a client
 * loads nothing; its first request (here refused by an empty allow-list,
 * which parses the URL with libcurl) loads libcurl. */
static void startup_http_client_loads_libcurl_at_first_request(void **state) {
  (void)state;
  cis_http *h = NULL;
  cis_http_policy *p = NULL;
  assert_int_equal(cis_http_new(NULL, &h), CIS_OK);
  assert_int_equal(cis_http_policy_new(&p), CIS_OK);
  assert_false(mapped("libcurl"));
  cis_http_request req = {.url = "http://example.invalid/"};
  cis_http_response resp;
  assert_int_equal(cis_http_fetch(h, p, NULL, &req, 1000, &resp), CIS_EDENIED);
  assert_true(cis__dynlib_loaded(&cis__curl_lib));
  assert_true(mapped("libcurl"));
  cis_http_policy_free(p);
  cis_http_free(h);
}

/* startup_kv_postgres_loads_libpq_at_connect: opening a PostgreSQL KV
 * store loads libpq (the connect then fails: there is no server). */
static void startup_kv_postgres_loads_libpq_at_connect(void **state) {
  (void)state;
  cis_kv_config cfg;
  cis_kv_config_default(&cfg);
  cfg.spec = PG_NOWHERE;
  cis_kv *kv = NULL;
  assert_int_equal(cis_kv_open(&cfg, &kv), CIS_EKVDOWN);
  cis_kv_close(kv);
  assert_true(cis__dynlib_loaded(&cis__pq_lib));
  assert_true(mapped("libpq.so"));
}

/* startup_missing_libpq_is_unsupported_naming_package: without libpq a
 * PostgreSQL KV store is CIS_EUNSUPPORTED, and the message names the
 * soname and the package to install; the filesystem database too. */
static void startup_missing_libpq_is_unsupported_naming_package(void **state) {
  (void)state;
  cis__dynlib_test_soname(&cis__pq_lib, NO_SUCH_SONAME);
  cis_kv_config cfg;
  cis_kv_config_default(&cfg);
  cfg.spec = PG_NOWHERE;
  cis_kv *kv = NULL;
  assert_int_equal(cis_kv_open(&cfg, &kv), CIS_EUNSUPPORTED);
  const char *msg = cis_kv_errmsg(kv);
  if (!strstr(msg, NO_SUCH_SONAME) || !strstr(msg, "install the package " CIS_PQ_PACKAGE))
    fail_msg("kv message: %s", msg);
  cis_kv_close(kv);

  cis_vfs_db_config dc;
  cis_vfs_db_config_default(&dc);
  dc.spec = PG_NOWHERE;
  dc.tenant = "t";
  cis_vfs_backend *b = NULL;
  char vmsg[CIS_VFS_ERRMSG_MAX];
  cis_test_vfs_backend_fails(cis_vfs_db_new(&dc, &b), &b, CIS_EUNSUPPORTED, NO_SUCH_SONAME, vmsg, sizeof vmsg);
  if (!strstr(vmsg, "install the package " CIS_PQ_PACKAGE)) fail_msg("vfs message: %s", vmsg);

  /* Back to the real soname: the next connect loads it again. */
  cis__dynlib_test_soname(&cis__pq_lib, NULL);
  assert_int_equal(cis_kv_open(&cfg, &kv), CIS_EKVDOWN);
  cis_kv_close(kv);
  assert_true(cis__dynlib_loaded(&cis__pq_lib));
}

/* startup_missing_libcurl_is_unsupported_naming_package: without libcurl
 * an HTTP request, a URL check and an AI provider are CIS_EUNSUPPORTED,
 * and each message names the soname and the package. */
static void startup_missing_libcurl_is_unsupported_naming_package(void **state) {
  (void)state;
  cis__dynlib_test_soname(&cis__curl_lib, NO_SUCH_SONAME);
  cis_http *h = NULL;
  cis_http_policy *p = NULL;
  assert_int_equal(cis_http_new(NULL, &h), CIS_OK);
  assert_int_equal(cis_http_policy_new(&p), CIS_OK);
  cis_http_request req = {.url = "http://example.invalid/"};
  cis_http_response resp;
  assert_int_equal(cis_http_fetch(h, p, NULL, &req, 1000, &resp), CIS_EUNSUPPORTED);
  const char *msg = cis_errmsg(h);
  if (!strstr(msg, NO_SUCH_SONAME) || !strstr(msg, "install the package " CIS_CURL_PACKAGE))
    fail_msg("http message: %s", msg);

  char why[512] = "";
  assert_int_equal(cis_http_policy_check_url(p, "http://example.invalid/", why, sizeof why),
                   CIS_EUNSUPPORTED);
  if (!strstr(why, CIS_CURL_PACKAGE)) fail_msg("check_url message: %s", why);

  cis_ai_openai_config oc;
  cis_ai_openai_config_default(&oc);
  oc.base_url = "http://127.0.0.1:9/v1";
  oc.model = "m";
  cis_ai_provider prov;
  assert_int_equal(cis_ai_provider_openai(&oc, &prov), CIS_EUNSUPPORTED);
  const char *err = cis_errmsg(NULL);
  if (!strstr(err, NO_SUCH_SONAME) || !strstr(err, CIS_CURL_PACKAGE))
    fail_msg("ai message: %s", err);

  cis__dynlib_test_soname(&cis__curl_lib, NULL);
  assert_int_equal(cis_http_fetch(h, p, NULL, &req, 1000, &resp), CIS_EDENIED);
  cis_http_policy_free(p);
  cis_http_free(h);
}

int main(void) {
  /* In this order: the pure run must come before anything loads. */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(startup_pure_run_maps_no_libpq_libcurl),
      cmocka_unit_test(startup_sha256_loads_libcrypto_at_first_hash),
      cmocka_unit_test(hex_spells_every_byte_at_every_length),
      cmocka_unit_test(startup_missing_libcrypto_is_unsupported_naming_package),
      cmocka_unit_test(startup_http_client_loads_libcurl_at_first_request),
      cmocka_unit_test(startup_kv_postgres_loads_libpq_at_connect),
      cmocka_unit_test(startup_missing_libpq_is_unsupported_naming_package),
      cmocka_unit_test(startup_missing_libcurl_is_unsupported_naming_package),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
