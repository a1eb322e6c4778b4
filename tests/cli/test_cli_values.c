/*
 * This file implements the unit tests of the value reader every `cis` flag
 * uses (tools/cis/cli_values.c): each accepted form of sizes and durations
 * and each rejection (junk, signs, unknown units, fractions finer than the
 * base unit, overflow), and the one mapping from cis_result to exit code
 * (tools/cis/cli_util.c, cli_exit_code).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli.h"

static void expect_size(const char *s, uint64_t want) {
  uint64_t v = 12345;
  if (!cis_parse_size(s, &v)) fail_msg("size \"%s\" refused", s);
  if (v != want) fail_msg("size \"%s\" read as %llu, not %llu", s, (unsigned long long)v,
                          (unsigned long long)want);
}

static void refuse_size(const char *s) {
  uint64_t v = 12345;
  if (cis_parse_size(s, &v)) fail_msg("size \"%s\" taken as %llu", s, (unsigned long long)v);
  assert_int_equal(v, 12345); /* untouched */
}

static void expect_ms(const char *s, uint64_t want) {
  uint64_t v = 12345;
  if (!cis_parse_duration_ms(s, &v)) fail_msg("duration \"%s\" refused", s);
  if (v != want) fail_msg("duration \"%s\" read as %llu ms, not %llu", s, (unsigned long long)v,
                          (unsigned long long)want);
}

static void refuse_ms(const char *s) {
  uint64_t v = 12345;
  if (cis_parse_duration_ms(s, &v)) fail_msg("duration \"%s\" taken as %llu", s, (unsigned long long)v);
  assert_int_equal(v, 12345);
}

static void test_size_units(void **state) {
  (void)state;
  expect_size("0", 0);
  expect_size("65536", 65536);
  expect_size("0x40000", 0x40000);
  expect_size("128B", 128);
  expect_size("64KiB", 64ull << 10);
  expect_size("128MiB", 128ull << 20);
  expect_size("1GiB", 1ull << 30);
  expect_size("2TiB", 2ull << 40);
  expect_size("1KB", 1000);
  expect_size("5MB", 5000000);
  expect_size("3GB", 3000000000ull);
  expect_size("1TB", 1000000000000ull);
  expect_size("1.5KiB", 1536);
  expect_size("0.5MiB", 512ull << 10);
  expect_size("2.25GB", 2250000000ull);
  expect_size("18446744073709551615", UINT64_MAX);
}

static void test_size_rejects(void **state) {
  (void)state;
  refuse_size("");
  refuse_size("abc");
  refuse_size("128 MiB");
  refuse_size(" 128");
  refuse_size("-1");
  refuse_size("+1");
  refuse_size("1.5");      /* a fraction of a byte */
  refuse_size("0.3KiB");   /* 307.2 bytes */
  refuse_size("1.KiB");
  refuse_size(".5KiB");
  refuse_size("128mib");   /* units are case-sensitive, as written in the docs */
  refuse_size("128M");
  refuse_size("128MiBs");
  refuse_size("0x10KiB");  /* hex takes no unit */
  refuse_size("0x");
  refuse_size("18446744073709551616");
  refuse_size("16777216TiB"); /* 2^64 */
  refuse_size("99999999999999999999KiB");
  refuse_size("1.0000000000000000001KiB"); /* more fraction digits than are read */
}

static void test_duration_units(void **state) {
  (void)state;
  expect_ms("0", 0);
  expect_ms("200", 200);
  expect_ms("500ms", 500);
  expect_ms("1s", 1000);
  expect_ms("1.5s", 1500);
  expect_ms("0.1s", 100);
  expect_ms("0.001s", 1);
  expect_ms("2m", 120000);
  expect_ms("1.5m", 90000);
  expect_ms("1h", 3600000);
  expect_ms("0x10", 16);
  expect_ms("18446744073709551615ms", UINT64_MAX);
}

static void test_duration_rejects(void **state) {
  (void)state;
  refuse_ms("");
  refuse_ms("abc");
  refuse_ms("-5");
  refuse_ms("5 s");
  refuse_ms("1.5");       /* a fraction of a millisecond */
  refuse_ms("0.0001s");
  refuse_ms("1.5ms");
  refuse_ms("5sec");
  refuse_ms("5S");
  refuse_ms("2d");
  refuse_ms("1e3");
  refuse_ms("18446744073709552s"); /* past 2^64 ms */
  refuse_ms("18446744073709551616");
}

/* Every class of errors.def has its exit code, and the single codes that
 * say more than their class have theirs. */
static void test_exit_code_mapping(void **state) {
  (void)state;
  assert_int_equal(cli_exit_code(CIS_OK), CLI_EXIT_OK);
  assert_int_equal(cli_exit_code(CIS_EIO), CLI_EXIT_FAIL);
  assert_int_equal(cli_exit_code(CIS_ENOTFOUND), CLI_EXIT_FAIL);
  assert_int_equal(cli_exit_code(CIS_EMAGIC), CLI_EXIT_BAD_INPUT);
  assert_int_equal(cli_exit_code(CIS_ETYPE), CLI_EXIT_BAD_INPUT);
  assert_int_equal(cli_exit_code(CIS_EUNKNOWNIMPORT), CLI_EXIT_BAD_INPUT);
  assert_int_equal(cli_exit_code(CIS_EJSON), CLI_EXIT_BAD_INPUT);
  assert_int_equal(cli_exit_code(CIS_EMANIFEST), CLI_EXIT_BAD_INPUT);
  assert_int_equal(cli_exit_code(CIS_EHASH), CLI_EXIT_BAD_INPUT);
  assert_int_equal(cli_exit_code(CIS_EABI), CLI_EXIT_BAD_INPUT);
  assert_int_equal(cli_exit_code(CIS_ESKILL), CLI_EXIT_SKILL);
  assert_int_equal(cli_exit_code(CIS_EEXIT), CLI_EXIT_SKILL);
  assert_int_equal(cli_exit_code(CIS_TRAP_UNREACHABLE), CLI_EXIT_TRAP);
  assert_int_equal(cli_exit_code(CIS_TRAP_HOST), CLI_EXIT_TRAP);
  assert_int_equal(cli_exit_code(CIS_TRAP_STACK), CLI_EXIT_LIMIT);
  assert_int_equal(cli_exit_code(CIS_ETIMEOUT), CLI_EXIT_TIMEOUT);
  assert_int_equal(cli_exit_code(CIS_ECANCELED), CLI_EXIT_TIMEOUT);
  assert_int_equal(cli_exit_code(CIS_EMEMLIMIT), CLI_EXIT_LIMIT);
  assert_int_equal(cli_exit_code(CIS_EFUEL), CLI_EXIT_LIMIT);
  assert_int_equal(cli_exit_code(CIS_EQUOTA), CLI_EXIT_LIMIT);
  assert_int_equal(cli_exit_code(CIS_EKVLIMIT), CLI_EXIT_LIMIT);
  assert_int_equal(cli_exit_code(CIS_ETOOBIG), CLI_EXIT_LIMIT);
  assert_int_equal(cli_exit_code(CIS_EDENIED), CLI_EXIT_DENIED);
  assert_int_equal(cli_exit_code(CIS_EPATH), CLI_EXIT_DENIED);
  assert_int_equal(cli_exit_code(CIS_EKVDOWN), CLI_EXIT_FAIL);
  assert_int_equal(cli_exit_code(CIS_ENET), CLI_EXIT_FAIL);
  assert_int_equal(cli_exit_code(CIS_EVFS), CLI_EXIT_FAIL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_size_units),
      cmocka_unit_test(test_size_rejects),
      cmocka_unit_test(test_duration_units),
      cmocka_unit_test(test_duration_rejects),
      cmocka_unit_test(test_exit_code_mapping),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
