/*
 * This file tests the skill manifest parser: a full valid manifest, the
 * defaults, and one test per class of error, each checking that the
 * message names the offending field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skill/manifest.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static cis_result parse(const char *json, cis_manifest **m, char *err) {
  return cis__manifest_parse(json, strlen(json), m, err, 256);
}

static void full_manifest(void **state) {
  (void)state;
  const char *j =
      "{\"name\":\"notes\",\"version\":\"1.2.0\",\"description\":\"d\","
      "\"wasm\":{\"path\":\"notes.wasm\",\"sha256\":\"" SHA "\"},"
      "\"abi\":\"cis_v1\",\"entry\":\"cis_main\","
      "\"permissions\":{\"kv\":{\"namespace\":\"ns1\",\"max_keys\":10,\"max_bytes\":\"1MiB\"},"
      "\"ai\":{\"models\":[\"m1\"]},\"http\":{\"allow\":[\"https://api.example.com\",\"*.example.org\"]},"
      "\"fs\":{\"mounts\":[{\"guest\":\"/data\",\"type\":\"mem\",\"mode\":\"rw\",\"max_bytes\":1024}]},"
      "\"env\":[\"A=1\"],\"log\":false},"
      "\"limits\":{\"timeout_ms\":1000,\"memory\":\"128MiB\",\"call_depth\":500,\"fuel\":100}}";
  cis_manifest *m;
  char err[256];
  assert_int_equal(parse(j, &m, err), CIS_OK);
  assert_string_equal(m->name, "notes");
  assert_int_equal(m->abi, CIS_ABI_V1);
  assert_true(m->kv);
  assert_string_equal(m->kv_namespace, "ns1");
  assert_int_equal(m->kv_max_bytes, 1024 * 1024);
  assert_int_equal(m->n_http_allow, 2);
  assert_string_equal(m->http_allow[1], "*.example.org");
  assert_int_equal(m->n_mounts, 1);
  assert_int_equal(m->mounts[0].max_bytes, 1024);
  assert_false(m->log);
  assert_int_equal(m->memory_bytes, 128u * 1024 * 1024);
  assert_int_equal(m->call_depth, 500);
  char *out = cis__manifest_to_json(m, NULL);
  assert_non_null(out);
  assert_non_null(strstr(out, "\"ns1\""));
  free(out);
  cis__manifest_free(m);
}

/* permissions.ai.models is removed: read from older manifests, with no
 * effect, and not shown (the operator's model answers every AI call). */
static void ai_models_removed_from_show(void **state) {
  (void)state;
  cis_manifest *m;
  char err[256];
  assert_int_equal(parse("{\"name\":\"a\",\"version\":\"1\",\"wasm\":{\"path\":\"a.wasm\",\"sha256\":\"" SHA
                         "\"},\"permissions\":{\"ai\":{\"models\":[\"m1\"]}}}",
                         &m, err),
                   CIS_OK);
  assert_true(m->ai);
  char *out = cis__manifest_to_json(m, NULL);
  assert_non_null(out);
  assert_null(strstr(out, "models"));
  cJSON *j = cJSON_Parse(out);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "permissions"), "ai")));
  cJSON_Delete(j);
  free(out);
  cis__manifest_free(m);
}

static void defaults(void **state) {
  (void)state;
  cis_manifest *m;
  char err[256];
  assert_int_equal(parse("{\"name\":\"a\",\"version\":\"1\",\"wasm\":{\"path\":\"a.wasm\",\"sha256\":\"" SHA "\"}}",
                         &m, err),
                   CIS_OK);
  assert_int_equal(m->abi, CIS_ABI_AUTO);
  assert_false(m->kv);
  assert_false(m->ai);
  assert_true(m->log);
  cis_limits l = {.timeout_ms = 30000, .max_memory_bytes = 512u << 20};
  char *out = cis__manifest_to_json(m, &l);
  assert_non_null(strstr(out, "30000"));
  free(out);
  cis__manifest_free(m);
}

/* Each bad manifest must fail with the given code and name the field. */
static void expect_error(const char *json, cis_result code, const char *field) {
  cis_manifest *m = (cis_manifest *)1;
  char err[256];
  cis_result rc = parse(json, &m, err);
  if (rc != code || !strstr(err, field)) fprintf(stderr, "json %s -> %d '%s'\n", json, rc, err);
  assert_int_equal(rc, code);
  assert_null(m);
  assert_non_null(strstr(err, field));
}

#define BASE "\"name\":\"a\",\"version\":\"1\",\"wasm\":{\"path\":\"a.wasm\",\"sha256\":\"" SHA "\"}"

static void errors(void **state) {
  (void)state;
  expect_error("{", CIS_EJSON, "malformed JSON");
  expect_error("[1]", CIS_EMANIFEST, "not a JSON object");
  expect_error("{\"version\":\"1\",\"wasm\":{\"path\":\"a.wasm\",\"sha256\":\"" SHA "\"}}", CIS_EMANIFEST, "name: missing");
  expect_error("{" BASE ",\"colour\":1}", CIS_EMANIFEST, "colour: unknown field");
  expect_error("{" BASE ",\"name\":\"b\"}", CIS_EMANIFEST, "name: duplicate");
  expect_error("{\"name\":\"Bad Name\",\"version\":\"1\",\"wasm\":{\"path\":\"a.wasm\",\"sha256\":\"" SHA "\"}}", CIS_EMANIFEST, "name:");
  expect_error("{\"name\":\"a\",\"version\":\"1\"}", CIS_EMANIFEST, "wasm: missing");
  expect_error("{\"name\":\"a\",\"version\":\"1\",\"wasm\":{\"path\":\"a.wasm\",\"sha256\":\"xyz\"}}", CIS_EMANIFEST, "wasm.sha256");
  expect_error("{\"name\":\"a\",\"version\":\"1\",\"wasm\":{\"path\":\"../a.wasm\",\"sha256\":\"" SHA "\"}}", CIS_EMANIFEST, "wasm.path");
  expect_error("{\"name\":\"a\",\"version\":\"1\",\"wasm\":{\"path\":\"a.wasm\"}}", CIS_EMANIFEST, "wasm.sha256: missing");
  expect_error("{" BASE ",\"abi\":\"cobol\"}", CIS_EMANIFEST, "abi:");
  expect_error("{" BASE ",\"permissions\":{\"kv\":{\"quota\":1}}}", CIS_EMANIFEST, "permissions.kv.quota: unknown field");
  expect_error("{" BASE ",\"permissions\":{\"kv\":3}}", CIS_EMANIFEST, "permissions.kv:");
  expect_error("{" BASE ",\"permissions\":{\"http\":{\"allow\":[\"ok\",5]}}}", CIS_EMANIFEST, "permissions.http.allow[1]");
  expect_error("{" BASE ",\"permissions\":{\"env\":[\"=x\"]}}", CIS_EMANIFEST, "permissions.env[0]");
  expect_error("{" BASE ",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/a/../b\",\"type\":\"mem\"}]}}}", CIS_EMANIFEST, "mounts[0].guest");
  expect_error("{" BASE ",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/a\",\"type\":\"host\"}]}}}", CIS_EMANIFEST, "mounts[0].source");
  expect_error("{" BASE ",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/a\",\"type\":\"mem\",\"mode\":\"rx\"}]}}}", CIS_EMANIFEST, "mounts[0].mode");
  expect_error("{" BASE ",\"limits\":{\"timeout_ms\":-1}}", CIS_EMANIFEST, "limits.timeout_ms");
  expect_error("{" BASE ",\"limits\":{\"memory\":\"12XB\"}}", CIS_EMANIFEST, "limits.memory");
  expect_error("{" BASE ",\"limits\":{\"memory\":100}}", CIS_EMANIFEST, "limits.memory");
  expect_error("{" BASE ",\"limits\":{\"fuel\":1.5}}", CIS_EMANIFEST, "limits.fuel");
  expect_error("{" BASE ",\"limits\":{\"stack\":1}}", CIS_EMANIFEST, "limits.stack: unknown field");
}

/* skill.json is held to RFC 8259 as call input is: nothing after the
 * value, UTF-8 only, and no escaped NUL, which cJSON would decode into a C
 * string that silently ends there ("a\u0000-evil" read as "a"). */
static void manifest_json_is_strict(void **state) {
  (void)state;
  expect_error("{" BASE "} trailing", CIS_EJSON, "trailing");
  expect_error("{" BASE "}{}", CIS_EJSON, "trailing");
  expect_error("{" BASE ",\"description\":\"caf\xe9\"}", CIS_EJSON, "not UTF-8");
  expect_error("{" BASE ",\"description\":\"\xc0\xaf\"}", CIS_EJSON, "not UTF-8");
  expect_error("{\"name\":\"a\\u0000-evil\",\"version\":\"1\",\"wasm\":{\"path\":\"a.wasm\",\"sha256\":\"" SHA "\"}}",
               CIS_EJSON, "NUL");
  expect_error("{" BASE ",\"description\":\"x\\u0000y\"}", CIS_EJSON, "NUL");
  expect_error("{" BASE ",\"permissions\":{\"env\":[\"A=1\\u0000B=2\"]}}", CIS_EJSON, "NUL");
  expect_error("{" BASE ",\"limits\":{\"timeout_ms\":01}}", CIS_EJSON, "leading zero");
  /* Blanks after the value, real UTF-8 and other escapes stay fine. */
  cis_manifest *m;
  char err[256];
  assert_int_equal(parse("{" BASE ",\"description\":\"caf\xc3\xa9 \\u0001\\n\"}\n\t ", &m, err), CIS_OK);
  assert_string_equal(m->description, "caf\xc3\xa9 \x01\n");
  cis__manifest_free(m);
}

/* Between tokens only the four blanks of RFC 8259: cJSON skips every byte
 * up to 0x20, so a NUL (or another control byte) there passed, and the
 * text as kept then read cut at the NUL by a C-string parser. */
static void control_bytes_between_tokens_are_malformed(void **state) {
  (void)state;
  static const char nul[] = "{" BASE ",\0\"description\":\"d\"}";
  static const char ff[] = "{\f" BASE "}";
  static const char tail[] = "{" BASE "}\0";
  const char *bad[] = {nul, ff, tail};
  size_t lens[] = {sizeof nul - 1, sizeof ff - 1, sizeof tail - 1};
  for (size_t i = 0; i < 3; i++) {
    cis_manifest *m = (cis_manifest *)1;
    char err[256];
    assert_int_equal(cis__manifest_parse(bad[i], lens[i], &m, err, sizeof err), CIS_EJSON);
    assert_null(m);
    assert_non_null(strstr(err, "malformed JSON"));
  }
  /* Space, tab, line feed and carriage return stay blanks. */
  cis_manifest *m;
  char err[256];
  assert_int_equal(parse("\r\n\t {\t" BASE "\r\n}\n", &m, err), CIS_OK);
  cis__manifest_free(m);
}

/* A db mount may name a volume (a tree shared by skills the operator
 * allows); no other mount type may. */
static void mount_volume_field(void **state) {
  (void)state;
  cis_manifest *m;
  char err[256];
  assert_int_equal(parse("{" BASE ",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/s\",\"type\":\"db\","
                         "\"volume\":\"shared-notes\"}]}}}", &m, err), CIS_OK);
  assert_string_equal(m->mounts[0].volume, "shared-notes");
  char *out = cis__manifest_to_json(m, NULL);
  assert_non_null(strstr(out, "\"shared-notes\""));
  free(out);
  cis__manifest_free(m);
  expect_error("{" BASE ",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/s\",\"type\":\"mem\",\"volume\":\"v\"}]}}}",
               CIS_EMANIFEST, "mounts[0].volume");
  expect_error("{" BASE ",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/s\",\"type\":\"db\",\"volume\":\"../x\"}]}}}",
               CIS_EMANIFEST, "mounts[0].volume");
}

/* A JSON number far above an integer field's range (fuzz_manifest found
 * 1e92 in max_bytes) is refused without being converted to an integer
 * first, which is undefined behaviour for a double out of uint64_t's
 * range. */
static void huge_numbers_refused(void **state) {
  (void)state;
  expect_error("{" BASE ",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/d\",\"type\":\"mem\",\"max_bytes\":1e92}]}}}",
               CIS_EMANIFEST, "mounts[0].max_bytes");
  expect_error("{" BASE ",\"limits\":{\"timeout_ms\":1e300}}", CIS_EMANIFEST, "limits.timeout_ms");
  expect_error("{" BASE ",\"limits\":{\"fuel\":18446744073709551616}}", CIS_EMANIFEST, "limits.fuel");
  expect_error("{" BASE ",\"permissions\":{\"kv\":{\"max_keys\":1e19}}}", CIS_EMANIFEST, "permissions.kv.max_keys");
  expect_error("{" BASE ",\"limits\":{\"fuel\":-1e300}}", CIS_EMANIFEST, "limits.fuel");
  /* The largest values allowed still are. */
  cis_manifest *m;
  char err[256];
  assert_int_equal(parse("{" BASE ",\"limits\":{\"call_depth\":1000000,\"timeout_ms\":86400000}}", &m, err), CIS_OK);
  assert_int_equal(m->call_depth, 1000000);
  cis__manifest_free(m);
}

/* Sizes are read as the CLI's flags read them (cis_parse_size): units of
 * 1024 and 1000, a fraction that makes whole bytes, hex; nothing else. */
static void sizes_as_the_cli_reads_them(void **state) {
  (void)state;
  static const struct {
    const char *text;
    uint64_t bytes;
  } ok[] = {{"1.5GiB", 1536ull << 20}, {"128MiB", 128ull << 20}, {"1MB", 1000000}, {"0x1000000", 1u << 24},
            {"16777216B", 1u << 24}, {"0.5GB", 500000000}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    char j[512];
    snprintf(j, sizeof j, "{" BASE ",\"limits\":{\"memory\":\"%s\"}}", ok[i].text);
    cis_manifest *m;
    char err[256];
    assert_int_equal(parse(j, &m, err), CIS_OK);
    assert_int_equal(m->memory_bytes, ok[i].bytes);
    cis__manifest_free(m);
  }
  static const char *const bad[] = {"1.5B", "1.KiB", ".5MiB", "-1MiB", " 1MiB", "1 MiB", "1mib",
                                    "18446744073709551616", "99999999999TB", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char j[512];
    snprintf(j, sizeof j, "{" BASE ",\"limits\":{\"memory\":\"%s\"}}", bad[i]);
    expect_error(j, CIS_EMANIFEST, "limits.memory");
  }
}

/* A manifest nested 200,000 levels deep (well under the size cap) is a
 * typed JSON error, never a walk as deep as the nesting. */
static void deep_nesting_refused(void **state) {
  (void)state;
  size_t depth = 200000, n = 0;
  char *deep = malloc(2 * depth + 64);
  assert_non_null(deep);
  n += (size_t)sprintf(deep, "{\"description\":");
  for (size_t i = 0; i < depth; i++) deep[n++] = '[';
  for (size_t i = 0; i < depth; i++) deep[n++] = ']';
  deep[n++] = '}';
  deep[n] = '\0';
  cis_manifest *m = (cis_manifest *)1;
  char err[256];
  assert_int_equal(cis__manifest_parse(deep, n, &m, err, sizeof err), CIS_EJSON);
  assert_null(m);
  free(deep);
}

static void oversized(void **state) {
  (void)state;
  size_t n = CIS_MANIFEST_MAX_BYTES + 10;
  char *big = malloc(n);
  memset(big, ' ', n);
  cis_manifest *m;
  char err[256];
  assert_int_equal(cis__manifest_parse(big, n, &m, err, sizeof err), CIS_ETOOBIG);
  free(big);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(full_manifest),
      cmocka_unit_test(defaults),
      cmocka_unit_test(ai_models_removed_from_show),
      cmocka_unit_test(errors),
      cmocka_unit_test(oversized),
      cmocka_unit_test(deep_nesting_refused),
      cmocka_unit_test(manifest_json_is_strict),
      cmocka_unit_test(control_bytes_between_tokens_are_malformed),
      cmocka_unit_test(mount_volume_field),
      cmocka_unit_test(huge_numbers_refused),
      cmocka_unit_test(sizes_as_the_cli_reads_them),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
