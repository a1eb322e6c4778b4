/*
 * This file tests the decoder and validator on SIMD and on the generic
 * typing the opcode table drives: every fixed-type instruction of the table
 * in a module wabt assembled, v128 wherever a value type may appear, the
 * spec's lane-index and alignment rules, and the errors around them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm/module.h"
#include "wasm/opcodes.h"

#define HDR 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00
#define V128 0x7b
#define SIMD 0xfd

/* Decodes and validates; checks the code and that the message starts with
 * prefix (when not NULL). */
static void expect(const uint8_t *b, size_t n, cis_result code, const char *prefix) {
  cis__module *m = NULL;
  cis__diag d;
  cis_result rc = cis__module_decode(b, n, &m, &d);
  if (rc == CIS_OK) {
    rc = cis__module_validate(m, &d);
    cis__module_free(m);
  }
  if (rc != code) fail_msg("got %d \"%s\", want %d", rc, d.msg, code);
  if (prefix && strncmp(d.msg, prefix, strlen(prefix)) != 0) fail_msg("got \"%s\", want \"%s\"", d.msg, prefix);
}

/* A module of one function: type (params) -> (results), one memory page
 * when mem, the given local groups (count, type pairs) and body (its end
 * included). Every piece is short: sizes fit one LEB128 byte. */
static size_t module1(uint8_t *out, const char *params, const char *results, bool mem, const uint8_t *locals,
                      size_t nlocals_groups, const uint8_t *body, size_t nbody) {
  size_t n = 0, np = strlen(params), nr = strlen(results);
  const uint8_t hdr[] = {HDR};
  memcpy(out, hdr, sizeof hdr);
  n += sizeof hdr;
  out[n++] = 1; /* type */
  out[n++] = (uint8_t)(4 + np + nr);
  out[n++] = 1;
  out[n++] = 0x60;
  out[n++] = (uint8_t)np;
  for (size_t i = 0; i < np; i++) out[n++] = cis__sig_valtype(params[i]);
  out[n++] = (uint8_t)nr;
  for (size_t i = 0; i < nr; i++) out[n++] = cis__sig_valtype(results[i]);
  out[n++] = 3; /* function */
  out[n++] = 2;
  out[n++] = 1;
  out[n++] = 0;
  if (mem) {
    const uint8_t m[] = {5, 3, 1, 0, 1};
    memcpy(out + n, m, sizeof m);
    n += sizeof m;
  }
  size_t fsize = 1 + 2 * nlocals_groups + nbody;
  assert_true(fsize + 2 < 128);
  out[n++] = 10; /* code */
  out[n++] = (uint8_t)(fsize + 2);
  out[n++] = 1;
  out[n++] = (uint8_t)fsize;
  out[n++] = (uint8_t)nlocals_groups;
  if (nlocals_groups) memcpy(out + n, locals, 2 * nlocals_groups);
  n += 2 * nlocals_groups;
  memcpy(out + n, body, nbody);
  return n + nbody;
}

/* The body (with end) of a function () -> (results), one memory, no locals. */
static void expect_body(const char *results, const uint8_t *body, size_t nbody, cis_result code,
                        const char *prefix) {
  uint8_t b[256];
  size_t n = module1(b, "", results, true, NULL, 0, body, nbody);
  expect(b, n, code, prefix);
}

#define BODY(results, code, prefix, ...)                                           \
  do {                                                                             \
    const uint8_t body_[] = {__VA_ARGS__};                                         \
    expect_body(results, body_, sizeof body_, code, prefix);                       \
  } while (0)

#define ZERO16 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
#define V128_CONST0 SIMD, 0x0c, ZERO16

static void all_fixed_type_ops_validate(void **st) {
  (void)st;
  FILE *f = fopen(CIS_TEST_ALL_OPS_WASM, "rb");
  assert_non_null(f);
  static uint8_t buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  assert_true(n > 0 && n < sizeof buf);
  cis__module *m = NULL;
  cis__diag d;
  cis_result rc = cis__module_decode(buf, n, &m, &d);
  if (rc == CIS_OK) rc = cis__module_validate(m, &d);
  if (rc) fail_msg("%s", d.msg);
  /* One function per fixed-type row, but the two relaxed dot products
   * (wabt 1.0.32 knows them by older names). */
  unsigned fixed = 0;
  for (unsigned i = 0; i < CIS__OP_COUNT; i++)
    fixed += cis__op_info(i)->sig[0] != '*' && i != CIS__OP_I16X8_RELAXED_DOT_I8X16_I7X16_S &&
             i != CIS__OP_I32X4_RELAXED_DOT_I8X16_I7X16_ADD_S;
  assert_int_equal(m->nfuncs, fixed);
  cis__module_free(m);
}

static void v128_is_a_value_type_everywhere(void **st) {
  (void)st;
  uint8_t b[256];
  size_t n;
  /* Parameter, result and local, through local.get/set/tee. */
  const uint8_t loc[] = {1, V128};
  const uint8_t body1[] = {0x20, 0x00, 0x21, 0x01, 0x20, 0x01, 0x22, 0x01, 0x0b};
  n = module1(b, "v", "v", false, loc, 1, body1, sizeof body1);
  expect(b, n, CIS_OK, NULL);
  /* A block and an if of type v128, a select t and a plain select. */
  BODY("v", CIS_OK, NULL, 0x02, V128, V128_CONST0, 0x0b, 0x41, 0x01, 0x04, V128, V128_CONST0, 0x05,
       V128_CONST0, 0x0b, 0x41, 0x00, 0x1c, 0x01, V128, 0x0b);
  BODY("v", CIS_OK, NULL, V128_CONST0, V128_CONST0, 0x41, 0x00, 0x1b, 0x0b);
  /* A mutable v128 global initialised by v128.const, read and written. */
  const uint8_t glob_ok[] = {HDR, 1, 5, 1, 0x60, 0, 1, V128, 3, 2, 1, 0, 6, 0x16, 1, V128, 1, SIMD, 0x0c,
                             1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0x0b,
                             10, 10, 1, 8, 0, 0x23, 0, 0x24, 0, 0x23, 0, 0x0b};
  expect(glob_ok, sizeof glob_ok, CIS_OK, NULL);
  cis__module *m = NULL;
  cis__diag d;
  assert_int_equal(cis__module_decode(glob_ok, sizeof glob_ok, &m, &d), CIS_OK);
  cis__constexpr c;
  cis__constexpr_decode(&m->globals[0].init, &c);
  assert_int_equal(c.type, V128);
  assert_int_equal(c.op, 0xfd);
  assert_int_equal(c.v128[0], 1);
  assert_int_equal(c.v128[15], 16);
  cis__module_free(m);
  /* A v128 global initialised by an i32: type mismatch. */
  const uint8_t glob_bad[] = {HDR, 6, 6, 1, V128, 0, 0x41, 0, 0x0b};
  expect(glob_bad, sizeof glob_bad, CIS_ETYPE, "type mismatch");
}

static void v128_operands_are_type_checked(void **st) {
  (void)st;
  /* i32x4.add of two i32: type mismatch; of two v128: fine. */
  BODY("v", CIS_ETYPE, "type mismatch", 0x41, 0, 0x41, 0, SIMD, 0xae, 0x01, 0x0b);
  BODY("v", CIS_OK, NULL, V128_CONST0, V128_CONST0, SIMD, 0xae, 0x01, 0x0b);
  /* i8x16.shl takes a v128 and an i32 shift. */
  BODY("v", CIS_OK, NULL, V128_CONST0, 0x41, 3, SIMD, 0x6b, 0x0b);
  BODY("v", CIS_ETYPE, "type mismatch", V128_CONST0, V128_CONST0, SIMD, 0x6b, 0x0b);
  /* v128.any_true gives an i32, not a v128. */
  BODY("v", CIS_ETYPE, "type mismatch", V128_CONST0, SIMD, 0x53, 0x0b);
  /* select between a v128 and an i32. */
  BODY("v", CIS_ETYPE, "type mismatch", V128_CONST0, 0x41, 0, 0x41, 0, 0x1b, 0x0b);
}

static void lane_index_past_the_lanes_is_invalid_lane_index(void **st) {
  (void)st;
  BODY("i", CIS_OK, NULL, V128_CONST0, SIMD, 0x15, 15, 0x0b);
  BODY("i", CIS_EINVALID, "invalid lane index", V128_CONST0, SIMD, 0x15, 16, 0x0b);
  BODY("i", CIS_EINVALID, "invalid lane index", V128_CONST0, SIMD, 0x18, 8, 0x0b);
  BODY("v", CIS_OK, NULL, V128_CONST0, 0x42, 0, SIMD, 0x1e, 1, 0x0b);
  BODY("v", CIS_EINVALID, "invalid lane index", V128_CONST0, 0x42, 0, SIMD, 0x1e, 2, 0x0b);
  BODY("F", CIS_EINVALID, "invalid lane index", V128_CONST0, SIMD, 0x21, 255, 0x0b);
  /* Shuffle lanes index both operands: below 32. */
  BODY("v", CIS_OK, NULL, V128_CONST0, V128_CONST0, SIMD, 0x0d, 0, 31, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
       14, 15, 0x0b);
  BODY("v", CIS_EINVALID, "invalid lane index", V128_CONST0, V128_CONST0, SIMD, 0x0d, 0, 1, 2, 3, 4, 5, 6, 7,
       8, 9, 10, 11, 12, 13, 14, 32, 0x0b);
  /* load8_lane has 16 lanes, store64_lane 2. */
  BODY("v", CIS_OK, NULL, 0x41, 0, V128_CONST0, SIMD, 0x54, 0, 0, 15, 0x0b);
  BODY("v", CIS_EINVALID, "invalid lane index", 0x41, 0, V128_CONST0, SIMD, 0x54, 0, 0, 16, 0x0b);
  BODY("", CIS_EINVALID, "invalid lane index", 0x41, 0, V128_CONST0, SIMD, 0x5b, 3, 0, 2, 0x0b);
}

static void simd_alignment_above_natural_is_invalid(void **st) {
  (void)st;
  const char *msg = "alignment must not be larger than natural";
  BODY("v", CIS_OK, NULL, 0x41, 0, SIMD, 0x00, 4, 0, 0x0b);
  BODY("v", CIS_EINVALID, msg, 0x41, 0, SIMD, 0x00, 5, 0, 0x0b);
  BODY("v", CIS_EINVALID, msg, 0x41, 0, SIMD, 0x01, 4, 0, 0x0b);      /* load8x8_s: 8 bytes */
  BODY("v", CIS_EINVALID, msg, 0x41, 0, SIMD, 0x08, 2, 0, 0x0b);      /* load16_splat */
  BODY("v", CIS_EINVALID, msg, 0x41, 0, SIMD, 0x5c, 3, 0, 0x0b);      /* load32_zero */
  BODY("v", CIS_EINVALID, msg, 0x41, 0, V128_CONST0, SIMD, 0x54, 1, 0, 0, 0x0b); /* load8_lane */
  BODY("", CIS_OK, NULL, 0x41, 0, V128_CONST0, SIMD, 0x0b, 4, 0, 0x0b);
  BODY("", CIS_EINVALID, msg, 0x41, 0, V128_CONST0, SIMD, 0x0b, 5, 0, 0x0b);
  /* Flags 32 to 63 are an alignment above natural (2.0 took them as
   * malformed); 64 up names a memory (here 1, unknown); 128 and up are
   * malformed. */
  BODY("v", CIS_EINVALID, msg, 0x41, 0, SIMD, 0x00, 32, 0, 0x0b);
  BODY("v", CIS_EINVALID, "unknown memory 1", 0x41, 0, SIMD, 0x00, 64 + 4, 1, 0, 0x0b);
  BODY("v", CIS_EMALFORMED, "malformed memop flags", 0x41, 0, SIMD, 0x00, 0x80, 0x01, 0, 0x0b);
}

static void simd_memory_instructions_need_a_memory(void **st) {
  (void)st;
  uint8_t b[256];
  const uint8_t body[] = {0x41, 0, SIMD, 0x00, 4, 0, 0x0b};
  size_t n = module1(b, "", "v", false, NULL, 0, body, sizeof body);
  expect(b, n, CIS_EINVALID, "unknown memory 0");
}

static void simd_encoding_errors(void **st) {
  (void)st;
  /* A hole of the 0xFD space, and a code past it. */
  BODY("", CIS_EMALFORMED, "illegal opcode", SIMD, 0x9a, 0x01, 0x0b);
  BODY("", CIS_EMALFORMED, "illegal opcode", SIMD, 0x94, 0x02, 0x0b); /* 0x114: past relaxed SIMD */
  /* The u32 after the prefix: overlong is fine, too long or too large is not. */
  BODY("v", CIS_OK, NULL, SIMD, 0x8c, 0x80, 0x00, ZERO16, 0x0b);
  BODY("", CIS_ELEB, "integer representation too long", SIMD, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b);
  BODY("", CIS_ELEB, "integer too large", SIMD, 0x80, 0x80, 0x80, 0x80, 0x10, 0x0b);
  /* v128.const cut short by the end of the body. */
  BODY("v", CIS_EEOF, NULL, SIMD, 0x0c, 0, 0, 0, 0x0b);
  /* v128 in a block type and a select type vector decode; 0x7a does not. */
  BODY("", CIS_EMALFORMED, "malformed value type", 0x02, 0x7a, 0x0b, 0x0b);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(all_fixed_type_ops_validate),
                                     cmocka_unit_test(v128_is_a_value_type_everywhere),
                                     cmocka_unit_test(v128_operands_are_type_checked),
                                     cmocka_unit_test(lane_index_past_the_lanes_is_invalid_lane_index),
                                     cmocka_unit_test(simd_alignment_above_natural_is_invalid),
                                     cmocka_unit_test(simd_memory_instructions_need_a_memory),
                                     cmocka_unit_test(simd_encoding_errors)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
