/*
 * This file tests the opcode table (src/wasm/opcodes.def) and its lookups:
 * encodings and names are unique, every row round-trips through the
 * encoding map, the opcode reader and the name index, the row counts are
 * the spec's (236 SIMD instructions), and a few rows are spelled out as
 * the spec's instruction index gives them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "wasm/opcodes.h"

static void table_encodings_are_unique(void **st) {
  (void)st;
  for (unsigned a = 0; a < CIS__OP_COUNT; a++)
    for (unsigned b = a + 1; b < CIS__OP_COUNT; b++) {
      const cis__opinfo *x = cis__op_info(a), *y = cis__op_info(b);
      if (x->prefix == y->prefix && x->code == y->code)
        fail_msg("%s and %s share an encoding", x->name, y->name);
    }
}

/* Only SELECT_T shares its mnemonic (with SELECT), as in the text format. */
static void table_names_are_unique_but_select_t(void **st) {
  (void)st;
  for (unsigned a = 0; a < CIS__OP_COUNT; a++)
    for (unsigned b = a + 1; b < CIS__OP_COUNT; b++)
      if (!strcmp(cis__op_info(a)->name, cis__op_info(b)->name) &&
          !(a == CIS__OP_SELECT && b == CIS__OP_SELECT_T))
        fail_msg("%s named twice", cis__op_info(a)->name);
  assert_string_equal(cis__op_info(CIS__OP_SELECT_T)->name, "select");
}

/* Encodes op as in the binary (prefix, then the code as LEB128). */
static size_t encode(enum cis__op op, uint8_t *buf) {
  const cis__opinfo *r = cis__op_info(op);
  size_t n = 0;
  if (!r->prefix) {
    buf[n++] = (uint8_t)r->code;
    return n;
  }
  buf[n++] = r->prefix;
  uint32_t v = r->code;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    buf[n++] = (uint8_t)(b | (v ? 0x80 : 0));
  } while (v);
  return n;
}

static void lookups_round_trip(void **st) {
  (void)st;
  for (unsigned i = 0; i < CIS__OP_COUNT; i++) {
    const cis__opinfo *r = cis__op_info(i);
    enum cis__op op = CIS__OP_COUNT;
    assert_true(cis__op_lookup(r->prefix, r->code, &op));
    assert_int_equal(op, i);
    uint8_t buf[8];
    size_t n = encode(i, buf);
    const uint8_t *p = buf;
    op = CIS__OP_COUNT;
    assert_int_equal(cis__op_read(&p, buf + n, &op), CIS__OPREAD_OK);
    assert_int_equal(op, i);
    assert_ptr_equal(p, buf + n);
    op = CIS__OP_COUNT;
    assert_true(cis__op_by_name(r->name, strlen(r->name), &op));
    assert_int_equal(op, i == CIS__OP_SELECT_T ? CIS__OP_SELECT : i);
  }
}

static void name_lookup_needs_the_whole_name(void **st) {
  (void)st;
  enum cis__op op = CIS__OP_COUNT;
  assert_false(cis__op_by_name("i32.ad", 6, &op));
  assert_false(cis__op_by_name("i32.addx", 8, &op));
  assert_false(cis__op_by_name("", 0, &op));
  assert_false(cis__op_by_name("zzz", 3, &op));
  assert_false(cis__op_by_name("ref.tes", 7, &op));
  assert_int_equal(op, CIS__OP_COUNT);
  /* Not NUL-terminated: only len bytes count. */
  assert_true(cis__op_by_name("i32.add)", 7, &op));
  assert_int_equal(op, CIS__OP_I32_ADD);
  assert_true(cis__op_by_name("v128.load8_lane 0", 15, &op));
  assert_int_equal(op, CIS__OP_V128_LOAD8_LANE);
}

static void reader_reports_illegal_eof_and_bad_leb(void **st) {
  (void)st;
  struct {
    uint8_t b[8];
    size_t n;
    int want;
    enum cis__op op;
  } cases[] = {
      {{0x06}, 1, CIS__OPREAD_OK, CIS__OP_TRY},        /* legacy exception handling is in */
      {{0x1f}, 1, CIS__OPREAD_OK, CIS__OP_TRY_TABLE},  /* so is 3.0's */
      {{0x17}, 1, CIS__OPREAD_ILLEGAL, 0},
      {{0x14}, 1, CIS__OPREAD_OK, CIS__OP_CALL_REF},     /* typed function references are in */
      {{0xd3}, 1, CIS__OPREAD_OK, CIS__OP_REF_EQ},       /* ref.eq: 3.0's GC */
      {{0xd7}, 1, CIS__OPREAD_ILLEGAL, 0},             /* past br_on_non_null */
      {{0x12}, 1, CIS__OPREAD_OK, CIS__OP_RETURN_CALL},  /* 3.0's tail calls are in */
      {{0xff}, 1, CIS__OPREAD_ILLEGAL, 0},
      {{0xfb, 0x1f}, 2, CIS__OPREAD_ILLEGAL, 0},       /* past i31.get_u */
      {{0xfc, 0x12}, 2, CIS__OPREAD_ILLEGAL, 0},       /* past table.fill */
      {{0xfd, 0x9a, 0x01}, 3, CIS__OPREAD_ILLEGAL, 0}, /* a hole of the SIMD space */
      {{0xfd, 0x80, 0x02}, 3, CIS__OPREAD_OK, CIS__OP_I8X16_RELAXED_SWIZZLE}, /* 256: relaxed */
      {{0xfd, 0x94, 0x02}, 3, CIS__OPREAD_ILLEGAL, 0}, /* 0x114: past relaxed SIMD */
      {{0xfd, 0x80, 0x80, 0x80, 0x80, 0x01}, 6, CIS__OPREAD_ILLEGAL, 0},
      {{0xfd}, 1, CIS__OPREAD_EOF, 0},
      {{0xfc, 0x80}, 2, CIS__OPREAD_EOF, 0},
      {{0}, 0, CIS__OPREAD_EOF, 0},
      {{0xfd, 0x80, 0x80, 0x80, 0x80, 0x10}, 6, CIS__OPREAD_LEB, 0}, /* too large */
      {{0xfd, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 7, CIS__OPREAD_LEB, 0}, /* too long */
      /* Overlong but in range: the spec allows any u32 encoding. */
      {{0xfd, 0x8c, 0x80, 0x80, 0x80, 0x00}, 6, CIS__OPREAD_OK, CIS__OP_V128_CONST},
      {{0xfc, 0x88, 0x00}, 3, CIS__OPREAD_OK, CIS__OP_MEMORY_INIT},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const uint8_t *p = cases[i].b;
    enum cis__op op = CIS__OP_COUNT;
    int r = cis__op_read(&p, cases[i].b + cases[i].n, &op);
    if (r != cases[i].want) fail_msg("case %zu: %d, want %d", i, r, cases[i].want);
    if (r == CIS__OPREAD_OK) {
      assert_int_equal(op, cases[i].op);
      assert_ptr_equal(p, cases[i].b + cases[i].n);
    } else {
      assert_ptr_equal(p, cases[i].b);
    }
  }
}

/* The spec's counts: 183 single-byte instructions in Wasm 2.0 (172 MVP,
 * 5 sign extension, select t, table.get/set, 3 reference instructions),
 * 18 after 0xFC, 236 after 0xFD; of Wasm 3.0 so far, 2 tail calls, 5 of
 * typed function references, 3 of exception handling and its 5 legacy
 * ones, 20 relaxed SIMD instructions, and GC's 31 after 0xFB. */
static void row_counts_are_the_specs(void **st) {
  (void)st;
  unsigned single = 0, fc = 0, fd = 0, fb = 0;
  for (unsigned i = 0; i < CIS__OP_COUNT; i++) {
    uint8_t p = cis__op_info(i)->prefix;
    if (p == 0) single++;
    else if (p == CIS__PREFIX_FC) fc++;
    else if (p == CIS__PREFIX_FD) fd++;
    else if (p == CIS__PREFIX_FB) fb++;
    else fail_msg("%s: prefix 0x%x", cis__op_info(i)->name, p);
  }
  assert_int_equal(single, 183 + 2 + 5 + 3 + 5 + 1);
  assert_int_equal(fc, 18);
  assert_int_equal(fd, 236 + 20);
  assert_int_equal(fb, 31);
  assert_int_equal(CIS__OP_COUNT, 183 + 2 + 5 + 3 + 5 + 1 + 18 + 236 + 20 + 31);
}

static bool sig_ok(const char *s) {
  if (!strcmp(s, "*")) return true;
  const char *colon = strchr(s, ':');
  if (!colon || strchr(colon + 1, ':')) return false;
  for (const char *c = s; *c; c++)
    if (c != colon && !cis__sig_valtype(*c)) return false;
  return true;
}

static void rows_are_well_formed(void **st) {
  (void)st;
  for (unsigned i = 0; i < CIS__OP_COUNT; i++) {
    const cis__opinfo *r = cis__op_info(i);
    if (!sig_ok(r->sig)) fail_msg("%s: sig \"%s\"", r->name, r->sig);
    assert_true(r->imm < CIS__IMM_COUNT);
    switch (r->imm) {
    case CIS__IMM_MEMARG: assert_true(r->arg <= 4); break;
    case CIS__IMM_MEMARG_LANE: assert_true(r->arg <= 3); break;
    case CIS__IMM_LANE:
      if (r->arg != 16 && r->arg != 8 && r->arg != 4 && r->arg != 2) fail_msg("%s: %u lanes", r->name, r->arg);
      break;
    default: assert_int_equal(r->arg, 0);
    }
    /* Every SIMD instruction has a fixed type. */
    if (r->prefix == CIS__PREFIX_FD) assert_string_not_equal(r->sig, "*");
  }
}

static void expect_row(enum cis__op op, const char *name, uint8_t prefix, uint32_t code, uint8_t imm,
                       uint8_t arg, const char *sig) {
  const cis__opinfo *r = cis__op_info(op);
  assert_string_equal(r->name, name);
  assert_int_equal(r->prefix, prefix);
  assert_int_equal(r->code, code);
  assert_int_equal(r->imm, imm);
  assert_int_equal(r->arg, arg);
  assert_string_equal(r->sig, sig);
}

/* As in the spec's index of instructions (index-instructions.py). */
static void rows_match_the_spec_index(void **st) {
  (void)st;
  expect_row(CIS__OP_UNREACHABLE, "unreachable", 0, 0x00, CIS__IMM_NONE, 0, "*");
  expect_row(CIS__OP_I32_ADD, "i32.add", 0, 0x6a, CIS__IMM_NONE, 0, "ii:i");
  expect_row(CIS__OP_I64_LOAD32_U, "i64.load32_u", 0, 0x35, CIS__IMM_MEMARG, 2, "i:I");
  expect_row(CIS__OP_F64_STORE, "f64.store", 0, 0x39, CIS__IMM_MEMARG, 3, "iF:");
  expect_row(CIS__OP_SELECT_T, "select", 0, 0x1c, CIS__IMM_SELECT_T, 0, "*");
  expect_row(CIS__OP_I64_EXTEND32_S, "i64.extend32_s", 0, 0xc4, CIS__IMM_NONE, 0, "I:I");
  expect_row(CIS__OP_REF_FUNC, "ref.func", 0, 0xd2, CIS__IMM_FUNC, 0, "*");
  expect_row(CIS__OP_I64_TRUNC_SAT_F64_U, "i64.trunc_sat_f64_u", 0xfc, 7, CIS__IMM_NONE, 0, "F:I");
  expect_row(CIS__OP_MEMORY_INIT, "memory.init", 0xfc, 8, CIS__IMM_MEMORY_INIT, 0, "iii:");
  expect_row(CIS__OP_TABLE_COPY, "table.copy", 0xfc, 14, CIS__IMM_TABLE_COPY, 0, "iii:");
  expect_row(CIS__OP_TABLE_FILL, "table.fill", 0xfc, 17, CIS__IMM_TABLE, 0, "*");
  expect_row(CIS__OP_V128_LOAD, "v128.load", 0xfd, 0x00, CIS__IMM_MEMARG, 4, "i:v");
  expect_row(CIS__OP_V128_LOAD16X4_U, "v128.load16x4_u", 0xfd, 0x04, CIS__IMM_MEMARG, 3, "i:v");
  expect_row(CIS__OP_V128_LOAD32_SPLAT, "v128.load32_splat", 0xfd, 0x09, CIS__IMM_MEMARG, 2, "i:v");
  expect_row(CIS__OP_V128_STORE, "v128.store", 0xfd, 0x0b, CIS__IMM_MEMARG, 4, "iv:");
  expect_row(CIS__OP_V128_CONST, "v128.const", 0xfd, 0x0c, CIS__IMM_V128, 0, ":v");
  expect_row(CIS__OP_I8X16_SHUFFLE, "i8x16.shuffle", 0xfd, 0x0d, CIS__IMM_SHUFFLE, 0, "vv:v");
  expect_row(CIS__OP_I64X2_SPLAT, "i64x2.splat", 0xfd, 0x12, CIS__IMM_NONE, 0, "I:v");
  expect_row(CIS__OP_I8X16_EXTRACT_LANE_S, "i8x16.extract_lane_s", 0xfd, 0x15, CIS__IMM_LANE, 16, "v:i");
  expect_row(CIS__OP_F64X2_REPLACE_LANE, "f64x2.replace_lane", 0xfd, 0x22, CIS__IMM_LANE, 2, "vF:v");
  expect_row(CIS__OP_V128_BITSELECT, "v128.bitselect", 0xfd, 0x52, CIS__IMM_NONE, 0, "vvv:v");
  expect_row(CIS__OP_V128_ANY_TRUE, "v128.any_true", 0xfd, 0x53, CIS__IMM_NONE, 0, "v:i");
  expect_row(CIS__OP_V128_LOAD8_LANE, "v128.load8_lane", 0xfd, 0x54, CIS__IMM_MEMARG_LANE, 0, "iv:v");
  expect_row(CIS__OP_V128_STORE64_LANE, "v128.store64_lane", 0xfd, 0x5b, CIS__IMM_MEMARG_LANE, 3, "iv:");
  expect_row(CIS__OP_V128_LOAD64_ZERO, "v128.load64_zero", 0xfd, 0x5d, CIS__IMM_MEMARG, 3, "i:v");
  expect_row(CIS__OP_I8X16_ALL_TRUE, "i8x16.all_true", 0xfd, 0x63, CIS__IMM_NONE, 0, "v:i");
  expect_row(CIS__OP_I8X16_SHL, "i8x16.shl", 0xfd, 0x6b, CIS__IMM_NONE, 0, "vi:v");
  expect_row(CIS__OP_I16X8_Q15MULR_SAT_S, "i16x8.q15mulr_sat_s", 0xfd, 0x82, CIS__IMM_NONE, 0, "vv:v");
  expect_row(CIS__OP_I32X4_DOT_I16X8_S, "i32x4.dot_i16x8_s", 0xfd, 0xba, CIS__IMM_NONE, 0, "vv:v");
  expect_row(CIS__OP_I64X2_GE_S, "i64x2.ge_s", 0xfd, 0xdb, CIS__IMM_NONE, 0, "vv:v");
  expect_row(CIS__OP_F32X4_PMAX, "f32x4.pmax", 0xfd, 0xeb, CIS__IMM_NONE, 0, "vv:v");
  expect_row(CIS__OP_I32X4_TRUNC_SAT_F64X2_S_ZERO, "i32x4.trunc_sat_f64x2_s_zero", 0xfd, 0xfc, CIS__IMM_NONE, 0,
             "v:v");
  expect_row(CIS__OP_F64X2_CONVERT_LOW_I32X4_U, "f64x2.convert_low_i32x4_u", 0xfd, 0xff, CIS__IMM_NONE, 0, "v:v");
  /* The holes the spec leaves in the SIMD space. */
  static const uint32_t holes[] = {0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4, 0xbb, 0xc2,
                                   0xc5, 0xc6, 0xcf, 0xd0, 0xd2, 0xd3, 0xd4, 0xe2, 0xee};
  enum cis__op op;
  for (size_t i = 0; i < sizeof holes / sizeof holes[0]; i++) assert_false(cis__op_lookup(0xfd, holes[i], &op));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(table_encodings_are_unique),
                                     cmocka_unit_test(table_names_are_unique_but_select_t),
                                     cmocka_unit_test(lookups_round_trip),
                                     cmocka_unit_test(name_lookup_needs_the_whole_name),
                                     cmocka_unit_test(reader_reports_illegal_eof_and_bad_leb),
                                     cmocka_unit_test(row_counts_are_the_specs),
                                     cmocka_unit_test(rows_are_well_formed),
                                     cmocka_unit_test(rows_match_the_spec_index)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
