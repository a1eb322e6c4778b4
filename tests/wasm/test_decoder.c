/*
 * This file tests the decoder and validator on hand-made binaries: LEB128
 * edge cases, one case per class of malformed binary, and a few invalid
 * modules, each checking the code and the spec's wording.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "wasm/module.h"

static void leb128(void **st) {
  (void)st;
  const uint8_t max_u32[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
  const uint8_t big_u32[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
  const uint8_t long_u32[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
  const uint8_t overlong_ok[] = {0x80, 0x80, 0x80, 0x80, 0x00};
  const uint8_t min_s32[] = {0x80, 0x80, 0x80, 0x80, 0x78};
  const uint8_t bad_s32[] = {0x80, 0x80, 0x80, 0x80, 0x70};
  const uint8_t neg1_s64[] = {0x7f};
  const uint8_t bad_s64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x41};
  const uint8_t *p;
  uint32_t u;
  int32_t s;
  int64_t l;
  p = max_u32;
  assert_true(cis__read_u32(&p, max_u32 + 5, &u));
  assert_int_equal(u, 0xffffffffu);
  p = big_u32;
  assert_false(cis__read_u32(&p, big_u32 + 5, &u));
  p = long_u32;
  assert_false(cis__read_u32(&p, long_u32 + 6, &u));
  p = overlong_ok;
  assert_true(cis__read_u32(&p, overlong_ok + 5, &u));
  assert_int_equal(u, 0);
  p = min_s32;
  assert_true(cis__read_s32(&p, min_s32 + 5, &s));
  assert_int_equal(s, INT32_MIN);
  p = bad_s32;
  assert_false(cis__read_s32(&p, bad_s32 + 5, &s));
  p = neg1_s64;
  assert_true(cis__read_s64(&p, neg1_s64 + 1, &l));
  assert_int_equal(l, -1);
  p = bad_s64;
  assert_false(cis__read_s64(&p, bad_s64 + 10, &l));
  p = max_u32;
  assert_false(cis__read_u32(&p, max_u32 + 2, &u)); /* overrun */
}

static void expect(const uint8_t *b, size_t n, cis_result code, const char *prefix) {
  cis__module *m = NULL;
  cis__diag d;
  cis_result rc = cis__module_decode(b, n, &m, &d);
  if (rc == CIS_OK) {
    rc = cis__module_validate(m, &d);
    cis__module_free(m);
  } else {
    assert_null(m);
  }
  assert_int_equal(rc, code);
  if (prefix) assert_true(strncmp(d.msg, prefix, strlen(prefix)) == 0);
}

#define HDR 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00

static void malformed(void **st) {
  (void)st;
  const uint8_t empty[] = {HDR};
  expect(empty, sizeof empty, CIS_OK, NULL);
  const uint8_t magic[] = {0x00, 0x61, 0x73, 0x6e, 0x01, 0, 0, 0};
  expect(magic, sizeof magic, CIS_EMAGIC, "magic header not detected");
  const uint8_t version[] = {0x00, 0x61, 0x73, 0x6d, 0x02, 0, 0, 0};
  expect(version, sizeof version, CIS_EVERSION, "unknown binary version");
  const uint8_t short_hdr[] = {0x00, 0x61, 0x73, 0x6d, 0x01};
  expect(short_hdr, sizeof short_hdr, CIS_EEOF, "unexpected end");
  const uint8_t bad_id[] = {HDR, 0x0d, 0x00};
  expect(bad_id, sizeof bad_id, CIS_ESECTION, "malformed section id");
  const uint8_t order[] = {HDR, 0x03, 0x01, 0x00, 0x01, 0x01, 0x00};
  expect(order, sizeof order, CIS_ESECTION, "unexpected content after last section");
  const uint8_t size_mismatch[] = {HDR, 0x01, 0x02, 0x00, 0x00};
  expect(size_mismatch, sizeof size_mismatch, CIS_ESECTION, "section size mismatch");
  const uint8_t sec_overrun[] = {HDR, 0x01, 0x05, 0x00};
  expect(sec_overrun, sizeof sec_overrun, CIS_EEOF, "unexpected end");
  /* A huge vector count must be refused before any allocation. */
  const uint8_t huge_count[] = {HDR, 0x01, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f};
  expect(huge_count, sizeof huge_count, CIS_EEOF, NULL);
  const uint8_t utf8[] = {HDR, 0x00, 0x02, 0x01, 0xff};
  expect(utf8, sizeof utf8, CIS_EUTF8, "malformed UTF-8 encoding");
  const uint8_t import_kind[] = {HDR, 0x02, 0x05, 0x01, 0x00, 0x00, 0x05, 0x00};
  expect(import_kind, sizeof import_kind, CIS_EMALFORMED, "malformed import kind");
  /* type () -> (), func 0, code without its end opcode */
  const uint8_t no_end[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                            0x0a, 0x04, 0x01, 0x02, 0x00, 0x01};
  expect(no_end, sizeof no_end, CIS_EEOF, "END opcode expected");
  const uint8_t illegal[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                             0x0a, 0x05, 0x01, 0x03, 0x00, 0x06, 0x0b};
  expect(illegal, sizeof illegal, CIS_EMALFORMED, "illegal opcode");
  const uint8_t func_code[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00};
  expect(func_code, sizeof func_code, CIS_EMALFORMED, "function and code section have inconsistent lengths");
}

static void invalid(void **st) {
  (void)st;
  /* (func (result i32)) with an empty body: type mismatch. */
  const uint8_t result[] = {HDR, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00,
                            0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b};
  expect(result, sizeof result, CIS_ETYPE, "type mismatch");
  /* local.get 0 with no locals. */
  const uint8_t local[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                           0x0a, 0x07, 0x01, 0x05, 0x00, 0x20, 0x00, 0x1a, 0x0b};
  expect(local, sizeof local, CIS_EINVALID, "unknown local");
  /* Two memories. */
  const uint8_t mems[] = {HDR, 0x05, 0x05, 0x02, 0x00, 0x01, 0x00, 0x01};
  expect(mems, sizeof mems, CIS_EINVALID, "multiple memories");
  /* Memory min above max. */
  const uint8_t lim[] = {HDR, 0x05, 0x04, 0x01, 0x01, 0x02, 0x01};
  expect(lim, sizeof lim, CIS_EINVALID, "size minimum must not be greater than maximum");
}

/* Found by fuzzing: an `if` without `else` and with an empty block type
 * compared two NULL type lists with memcmp (undefined behaviour). */
static void regression_if_without_else_empty_blocktype(void **st) {
  (void)st;
  const uint8_t b[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7d,
                       0x03, 0x02, 0x01, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x41, 0x00, 0x04, 0x40, 0x0b, 0x0b};
  expect(b, sizeof b, CIS_ETYPE, "type mismatch");
}

/* A body's locals stay in their run-length form, a slice of the module's
 * own bytes (no copy per function); the validator expands them, in order. */
static void locals_are_slices_of_the_binary(void **st) {
  (void)st;
  /* () -> i64 with locals (2 i32) (1 f64) (2 i64): local.get 4 is an i64. */
#define LOCALS_MODULE(idx)                                                            \
  {HDR, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7e, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x0c, \
   0x01, 0x0a, 0x03, 0x02, 0x7f, 0x01, 0x7c, 0x02, 0x7e, 0x20, (idx), 0x0b}
  const uint8_t ok[] = LOCALS_MODULE(0x04);
  cis__module *m = NULL;
  cis__diag d;
  assert_int_equal(cis__module_decode(ok, sizeof ok, &m, &d), CIS_OK);
  const cis__code *c = &m->codes[0];
  assert_int_equal(c->nlocals, 5);
  assert_int_equal(c->nlocal_groups, 3);
  assert_true(c->locals > m->bytes && c->locals < c->body && c->body < m->bytes + m->nbytes);
  assert_int_equal(c->locals[0], 0x02); /* the first group's count, in place */
  assert_int_equal(cis__module_validate(m, &d), CIS_OK);
  cis__module_free(m);
  const uint8_t f64[] = LOCALS_MODULE(0x02); /* the f64: not the i64 result */
  expect(f64, sizeof f64, CIS_ETYPE, "type mismatch");
  const uint8_t past[] = LOCALS_MODULE(0x05);
  expect(past, sizeof past, CIS_EINVALID, "unknown local");
#undef LOCALS_MODULE
}

/* The validator reuses one buffer of local types across bodies: a body
 * with fewer locals than the one before sees only its own. */
static void locals_buffer_reused_across_bodies(void **st) {
  (void)st;
  /* Two () -> i32 functions: the first with 3 f64 locals, the second with
   * 1 i32 local; the second's local.get X. */
#define TWO_BODIES(x)                                                                   \
  {HDR, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x03, 0x02, 0x00, 0x00, 0x0a, 0x0f, \
   0x02, 0x06, 0x01, 0x03, 0x7c, 0x41, 0x00, 0x0b, 0x06, 0x01, 0x01, 0x7f, 0x20, (x), 0x0b}
  const uint8_t ok[] = TWO_BODIES(0x00);
  expect(ok, sizeof ok, CIS_OK, NULL);
  const uint8_t stale[] = TWO_BODIES(0x01); /* the first body's second local */
  expect(stale, sizeof stale, CIS_EINVALID, "unknown local");
#undef TWO_BODIES
}

/* A group of zero locals in a function with no parameters and no other
 * locals: nothing to expand, and no buffer yet (found by fuzz_run: UBSan,
 * zero offset applied to a null pointer). */
static void regression_empty_local_group_without_locals(void **st) {
  (void)st;
  /* () -> () with locals (0 i32): body end. */
  const uint8_t b[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                       0x0a, 0x06, 0x01, 0x04, 0x01, 0x00, 0x7f, 0x0b};
  expect(b, sizeof b, CIS_OK, NULL);
}

/* The validator trusts no count it expands: groups that do not add up to
 * the decoded total are malformed, not read past. */
static void locals_groups_checked_when_expanded(void **st) {
  (void)st;
  const uint8_t b[] = {HDR, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7e, 0x03, 0x02, 0x01, 0x00,
                       0x0a, 0x0c, 0x01, 0x0a, 0x03, 0x02, 0x7f, 0x01, 0x7c, 0x02, 0x7e,
                       0x20, 0x04, 0x0b};
  cis__module *m = NULL;
  cis__diag d;
  assert_int_equal(cis__module_decode(b, sizeof b, &m, &d), CIS_OK);
  m->codes[0].nlocal_groups = 4; /* one group more than the bytes hold */
  assert_int_equal(cis__module_validate(m, &d), CIS_EMALFORMED);
  assert_non_null(strstr(d.msg, "malformed locals"));
  cis__module_free(m);
  memset(&d, 0, sizeof d);
  assert_int_equal(cis__module_decode(b, sizeof b, &m, &d), CIS_OK);
  m->codes[0].nlocals = 4; /* the groups hold 5 */
  assert_int_equal(cis__module_validate(m, &d), CIS_EMALFORMED);
  assert_non_null(strstr(d.msg, "malformed locals"));
  cis__module_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(leb128), cmocka_unit_test(malformed), cmocka_unit_test(invalid),
                                     cmocka_unit_test(regression_if_without_else_empty_blocktype),
                                     cmocka_unit_test(locals_are_slices_of_the_binary),
                                     cmocka_unit_test(locals_buffer_reused_across_bodies),
                                     cmocka_unit_test(locals_groups_checked_when_expanded),
                                     cmocka_unit_test(regression_empty_local_group_without_locals)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
