/*
 * This file implements the tests of cis_module_new_file on the
 * interpreter: a binary and a text file load; a file that is missing, a
 * directory, a FIFO (never waited on) or larger than a module file may be
 * is refused with its own code; a component is explained; and a module
 * loaded from a big file keeps the bytes it was loaded from when the file
 * is written in place afterwards, whether the library mapped it (no one
 * else may write it) or read it (its group may). The compiled engine's
 * recognition of a file by its identity is tested in tests/aot
 * (test_aot_start.c).
 */
#include <errno.h>
#include <fcntl.h>
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

#include "cis/cis.h"

#define DATA_LEN (1u << 20) /* a data segment of 1 MiB: the file is big enough to be mapped */

static char dir[64];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/cis-module-file-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static const char *path_of(const char *name) {
  static char p[4][128];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
  return p[k];
}

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

static void write_file(const char *path, const void *b, size_t n, mode_t mode) {
  FILE *f = fopen(path, "r+b"); /* in place when it is there: the same file, as cp writes it */
  if (!f) f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(chmod(path, mode), 0);
}

/* Whether rc is in the range of codes under base (a decode or validate
 * error names its kind by a code of its own below the range's first). */
static bool in_range(cis_result rc, cis_result base) { return rc <= base && rc > base - 100; }

static cis_engine *interp(void) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "interp";
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  return e;
}

/* Loads path, instantiates it, and checks memory's first and last data
 * byte are want; then writes the file in place with other bytes and
 * checks a new instance of the module still gets want. */
static void load_then_rewrite(const char *path, mode_t mode) {
  size_t n;
  uint8_t *b = big_module('a', &n);
  write_file(path, b, n, mode);
  cis_engine *e = interp();
  cis_module *m = NULL;
  assert_int_equal(cis_module_new_file(e, path, 0, &m), CIS_OK);
  uint8_t *other = big_module('b', &n);
  write_file(path, other, n, mode);
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &inst), CIS_OK);
  const uint8_t *mem = cis_memory_data(cis_instance_memory(inst));
  assert_int_equal(mem[0], 'a');
  assert_int_equal(mem[DATA_LEN - 1], 'a');
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
  free(b);
  free(other);
}

static void test_file_written_after_load_does_not_change_the_module(void **state) {
  (void)state;
  load_then_rewrite(path_of("mapped.wasm"), 0600); /* only its owner may write it: mapped */
  load_then_rewrite(path_of("read.wasm"), 0664);   /* its group may: read */
}

static void test_binary_and_text_files_load(void **state) {
  (void)state;
  cis_engine *e = interp();
  const char *wat = ";; a comment first\n(module (func (export \"seven\") (result i32) i32.const 7))";
  write_file(path_of("seven.wat"), wat, strlen(wat), 0600);
  cis_module *m = NULL;
  assert_int_equal(cis_module_new_file(e, path_of("seven.wat"), 0, &m), CIS_OK);
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &inst), CIS_OK);
  cis_val out;
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "seven"), NULL, 0, &out, 1), CIS_OK);
  assert_int_equal(out.of.i32, 7);
  cis_instance_free(inst);
  cis_module_free(m);

  const char *bad = "(module (func (result i32) i64.const 1))"; /* text, but invalid: the validator's code */
  write_file(path_of("bad.wat"), bad, strlen(bad), 0600);
  assert_true(in_range(cis_module_new_file(e, path_of("bad.wat"), 0, &m), CIS_EINVALID));
  assert_null(m);

  static const uint8_t empty[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  write_file(path_of("empty.wasm"), empty, sizeof empty, 0600);
  assert_int_equal(cis_module_new_file(e, path_of("empty.wasm"), 0, &m), CIS_OK);
  cis_module_free(m);

  static const uint8_t component[] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00};
  write_file(path_of("component.wasm"), component, sizeof component, 0600);
  assert_int_equal(cis_module_new_file(e, path_of("component.wasm"), 0, &m), CIS_EVERSION);
  assert_non_null(strstr(cis_errmsg(e), "WebAssembly component"));
  write_file(path_of("junk"), "junk", 4, 0600);
  assert_true(in_range(cis_module_new_file(e, path_of("junk"), 0, &m), CIS_EMALFORMED));
  cis_engine_free(e);
}

static void test_file_errors(void **state) {
  (void)state;
  cis_engine *e = interp();
  cis_module *m = (cis_module *)1;
  assert_int_equal(cis_module_new_file(e, path_of("missing.wasm"), 0, &m), CIS_ENOTFOUND);
  assert_null(m);
  assert_non_null(strstr(cis_errmsg(e), "missing.wasm: cannot open"));
  assert_int_equal(cis_module_new_file(e, dir, 0, &m), CIS_EINVAL); /* a directory */
  assert_non_null(strstr(cis_errmsg(e), "not a regular file"));
  assert_int_equal(mkfifo(path_of("fifo"), 0600), 0); /* no writer: a blocking open would hang */
  assert_int_equal(cis_module_new_file(e, path_of("fifo"), 0, &m), CIS_EINVAL);
  int fd = open(path_of("huge.wasm"), O_WRONLY | O_CREAT, 0600); /* sparse: nothing is read */
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)(1ull << 30) + 1), 0);
  close(fd);
  assert_int_equal(cis_module_new_file(e, path_of("huge.wasm"), 0, &m), CIS_ETOOBIG);
  assert_int_equal(cis_module_new_file(e, NULL, 0, &m), CIS_EINVAL);
  assert_int_equal(cis_module_new_file(e, path_of("missing.wasm"), 0, NULL), CIS_EINVAL);
  assert_int_equal(cis_module_new_file(NULL, path_of("missing.wasm"), 0, &m), CIS_EINVAL);
  cis_engine_free(e);
}

static void test_text_is_told_from_binary(void **state) {
  (void)state;
  assert_true(cis_module_is_text((const uint8_t *)"  (module)", 10));
  assert_true(cis_module_is_text((const uint8_t *)"(; c ;)\n;; d\n(module)", 21));
  assert_false(cis_module_is_text((const uint8_t *)"\0asm\1\0\0\0", 8));
  assert_false(cis_module_is_text((const uint8_t *)"module", 6));
  assert_false(cis_module_is_text((const uint8_t *)"(; never closed", 15));
  assert_false(cis_module_is_text(NULL, 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_file_written_after_load_does_not_change_the_module, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_binary_and_text_files_load, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
      cmocka_unit_test(test_text_is_told_from_binary),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
