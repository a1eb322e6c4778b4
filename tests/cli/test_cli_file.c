/*
 * This file implements the unit tests of how `cis run` gets a module's
 * bytes (tools/cis/cli_util.c, cli_map_file): a big file that no one but
 * this user (or root) may write is mapped, any other file is read; and a
 * module loaded from a mapped file keeps the bytes it was loaded from when
 * the file is written in place afterwards (MAP_PRIVATE does not keep
 * others' writes out of a mapping: the library's copy does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

#define DATA_LEN (1u << 20) /* a data segment of 1 MiB: the file is big enough to be mapped */

/* A module with one memory of 17 pages and one active data segment of
 * DATA_LEN bytes of fill at offset 0, into a malloc'd buffer. */
static uint8_t *big_module(uint8_t fill, size_t *len) {
  static const uint8_t head[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
                                 0x05, 0x03, 0x01, 0x00, 0x11}; /* memory section: min 17 */
  /* data section: 1 segment, mode 0, offset (i32.const 0) end, length DATA_LEN (LEB128) */
  static const uint8_t seg[] = {0x01, 0x00, 0x41, 0x00, 0x0b, 0x80, 0x80, 0x40};
  size_t body = sizeof seg + DATA_LEN;
  uint8_t *b = malloc(sizeof head + 1 + 5 + body);
  assert_non_null(b);
  size_t n = 0;
  memcpy(b, head, sizeof head);
  n += sizeof head;
  b[n++] = 0x0b; /* data section id, then its size in 5 bytes of LEB128 */
  for (int i = 0; i < 5; i++) b[n++] = (uint8_t)((body >> (7 * i)) & 0x7f) | (i < 4 ? 0x80 : 0);
  memcpy(b + n, seg, sizeof seg);
  n += sizeof seg;
  memset(b + n, fill, DATA_LEN);
  *len = n + DATA_LEN;
  return b;
}

static void write_file(const char *path, const uint8_t *b, size_t n, mode_t mode) {
  FILE *f = fopen(path, "r+b"); /* in place when it is there: the same file, as cp writes it */
  if (!f) f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(chmod(path, mode), 0);
}

static void temp_path(char *path, size_t cap) {
  const char *t = getenv("TMPDIR");
  snprintf(path, cap, "%s/cis-cli-file-XXXXXX", t && *t ? t : "/tmp");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
}

/* A big module of 'a's written to a new temporary file (path) of the
 * given mode, then mapped by cli_map_file: its bytes (*b, n), and what
 * cli_map_file gave (the result, len, which must be a mapping). */
static const uint8_t *map_big_module(char path[256], mode_t mode, uint8_t **b, size_t *n,
                                     size_t *len) {
  temp_path(path, 256);
  *b = big_module('a', n);
  write_file(path, *b, *n, mode);
  bool mapped;
  const uint8_t *got = cli_map_file(path, len, &mapped);
  assert_non_null(got);
  assert_true(mapped);
  assert_int_equal(*len, *n);
  return got;
}

static void test_map_only_files_no_one_else_may_write(void **state) {
  (void)state;
  char path[256];
  size_t n, len;
  bool mapped = true;
  uint8_t *b;
  const uint8_t *got = map_big_module(path, 0644, &b, &n, &len);
  assert_memory_equal(got, b, n);
  cli_file_free(got, len, mapped);

  assert_int_equal(chmod(path, 0664), 0); /* its group may write (and truncate) it: read */
  got = cli_map_file(path, &len, &mapped);
  assert_non_null(got);
  assert_false(mapped);
  assert_memory_equal(got, b, n);
  cli_file_free(got, len, mapped);

  assert_int_equal(chmod(path, 0646), 0); /* others may */
  got = cli_map_file(path, &len, &mapped);
  assert_false(mapped);
  cli_file_free(got, len, mapped);

  assert_int_equal(truncate(path, 4096), 0); /* small: read */
  assert_int_equal(chmod(path, 0600), 0);
  got = cli_map_file(path, &len, &mapped);
  assert_false(mapped);
  assert_int_equal(len, 4096);
  cli_file_free(got, len, mapped);

  assert_null(cli_map_file("/nonexistent/cis-cli-file", &len, &mapped));
  free(b);
  unlink(path);
}

static void test_mapped_file_written_after_load_does_not_change_the_module(void **state) {
  (void)state;
  char path[256];
  size_t n, len;
  uint8_t *b;
  const uint8_t *got = map_big_module(path, 0600, &b, &n, &len);
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "interp";
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  cis_module *m = NULL;
  assert_int_equal(cis_module_new(e, got, len, &m), CIS_OK);

  uint8_t *other = big_module('b', &n); /* the file rewritten in place, still mapped */
  write_file(path, other, n, 0600);
  assert_int_equal(got[n - 1], 'b'); /* the mapping sees the write */

  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &inst), CIS_OK);
  const uint8_t *mem = cis_memory_data(cis_instance_memory(inst));
  assert_int_equal(mem[0], 'a');
  assert_int_equal(mem[DATA_LEN - 1], 'a');
  cis_instance_free(inst);
  cis_module_free(m);
  cli_file_free(got, len, true);
  cis_engine_free(e);
  free(b);
  free(other);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_map_only_files_no_one_else_may_write),
      cmocka_unit_test(test_mapped_file_written_after_load_does_not_change_the_module),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
