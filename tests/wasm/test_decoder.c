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

/* Decodes and validates b as a module of standard std (CIS__STD_*). */
static void expect_std(int std, const uint8_t *b, size_t n, cis_result code, const char *prefix) {
  cis__module *m = NULL;
  cis__diag d;
  cis_result rc = cis__module_decode_std(b, n, std, &m, &d);
  if (rc == CIS_OK) {
    rc = cis__module_validate(m, &d);
    cis__module_free(m);
  } else {
    assert_null(m);
  }
  if (rc != code) fail_msg("got %d \"%s\", want %d", rc, d.msg, code);
  if (prefix && strncmp(d.msg, prefix, strlen(prefix)) != 0) fail_msg("got \"%s\", want \"%s\"", d.msg, prefix);
}

static void expect(const uint8_t *b, size_t n, cis_result code, const char *prefix) {
  expect_std(CIS__STD_3, b, n, code, prefix);
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
  /* A component (version 0x0d, layer 1): the spec's words, then what it is. */
  const uint8_t component[] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00};
  expect(component, sizeof component, CIS_EVERSION, "unknown binary version: this is a WebAssembly component");
  const uint8_t short_hdr[] = {0x00, 0x61, 0x73, 0x6d, 0x01};
  expect(short_hdr, sizeof short_hdr, CIS_EEOF, "unexpected end");
  const uint8_t bad_id[] = {HDR, 0x0e, 0x00};
  expect(bad_id, sizeof bad_id, CIS_ESECTION, "malformed section id");
  /* 13 is 3.0's tag section: 2.0 knows no such id. */
  const uint8_t tag_id[] = {HDR, 0x0d, 0x01, 0x00};
  expect_std(CIS__STD_2, tag_id, sizeof tag_id, CIS_ESECTION, "malformed section id");
  expect(tag_id, sizeof tag_id, CIS_OK, NULL);
  const uint8_t order[] = {HDR, 0x03, 0x01, 0x00, 0x01, 0x01, 0x00};
  expect(order, sizeof order, CIS_ESECTION, "unexpected content after last section");
  const uint8_t size_mismatch[] = {HDR, 0x01, 0x02, 0x00, 0x00};
  expect(size_mismatch, sizeof size_mismatch, CIS_ESECTION, "section size mismatch");
  const uint8_t sec_overrun[] = {HDR, 0x01, 0x05, 0x00};
  expect(sec_overrun, sizeof sec_overrun, CIS_EEOF, "length out of bounds");
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
  expect(no_end, sizeof no_end, CIS_EEOF, "unexpected end of section or function");
  const uint8_t illegal[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                             0x0a, 0x05, 0x01, 0x03, 0x00, 0x17, 0x0b};
  expect(illegal, sizeof illegal, CIS_EMALFORMED, "illegal opcode 17 (at 0x");
  /* 0xff, and a prefix with a number no instruction has (0xfc 153): worded
   * with the bytes, as the reference does */
  const uint8_t ff[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                        0x0a, 0x05, 0x01, 0x03, 0x00, 0xff, 0x0b};
  expect(ff, sizeof ff, CIS_EMALFORMED, "illegal opcode ff (at 0x");
  const uint8_t fc[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                        0x0a, 0x07, 0x01, 0x05, 0x00, 0xfc, 0x99, 0x01, 0x0b};
  expect(fc, sizeof fc, CIS_EMALFORMED, "illegal opcode fc 153 (at 0x");
  /* try (0x06) is exception handling's, which 2.0 did not have. */
  const uint8_t try_2[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                           0x0a, 0x05, 0x01, 0x03, 0x00, 0x06, 0x0b};
  expect_std(CIS__STD_2, try_2, sizeof try_2, CIS_EMALFORMED, "illegal opcode");
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
  /* Two memories: 3.0 has them, 2.0 did not. */
  const uint8_t mems[] = {HDR, 0x05, 0x05, 0x02, 0x00, 0x01, 0x00, 0x01};
  expect(mems, sizeof mems, CIS_OK, NULL);
  expect_std(CIS__STD_2, mems, sizeof mems, CIS_EINVALID, "multiple memories");
  /* i32.load of memory 1 (flags 0x42: align 2, a memory index follows)
   * with one memory: unknown in 3.0, malformed flags in 2.0; memory.size
   * of memory 1: unknown, and 2.0's reserved zero byte. */
  const uint8_t load1[] = {HDR, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00,
                           0x05, 0x03, 0x01, 0x00, 0x01, 0x0a, 0x0a, 0x01, 0x08, 0x00, 0x41,
                           0x00, 0x28, 0x42, 0x01, 0x00, 0x0b};
  expect(load1, sizeof load1, CIS_EINVALID, "unknown memory 1");
  expect_std(CIS__STD_2, load1, sizeof load1, CIS_EMALFORMED, "malformed memop flags");
  const uint8_t size1[] = {HDR, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00,
                           0x05, 0x03, 0x01, 0x00, 0x01, 0x0a, 0x06, 0x01, 0x04, 0x00, 0x3f,
                           0x01, 0x0b};
  expect(size1, sizeof size1, CIS_EINVALID, "unknown memory 1");
  expect_std(CIS__STD_2, size1, sizeof size1, CIS_EMALFORMED, "zero byte expected");
  /* A global read by a later global's initialiser: 3.0 allows it (an
   * immutable one defined before), 2.0 only imported globals; neither a
   * later nor a mutable one. */
  const uint8_t gget[] = {HDR, 0x06, 0x0b, 0x02, 0x7f, 0x00, 0x41, 0x01, 0x0b, 0x7f, 0x00, 0x23, 0x00, 0x0b};
  expect(gget, sizeof gget, CIS_OK, NULL);
  expect_std(CIS__STD_2, gget, sizeof gget, CIS_EINVALID, "unknown global 0");
  const uint8_t gfwd[] = {HDR, 0x06, 0x0b, 0x02, 0x7f, 0x00, 0x23, 0x01, 0x0b, 0x7f, 0x00, 0x41, 0x01, 0x0b};
  expect(gfwd, sizeof gfwd, CIS_EINVALID, "unknown global 1");
  const uint8_t gmut[] = {HDR, 0x06, 0x0b, 0x02, 0x7f, 0x01, 0x41, 0x01, 0x0b, 0x7f, 0x00, 0x23, 0x00, 0x0b};
  expect(gmut, sizeof gmut, CIS_EINVALID, "constant expression required");
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

/* The causes the spec's binary tests name, where cis used to report
 * another one (the reference decoder reads sections and bodies up to the
 * end of the binary and checks their sizes afterwards). */
static void regression_short_binary_is_unexpected_end_not_bad_magic(void **st) {
  (void)st;
  const uint8_t one[] = {0x01}, three[] = {0x00, 0x61, 0x73};
  expect(one, sizeof one, CIS_EEOF, "unexpected end");
  expect(three, sizeof three, CIS_EEOF, "unexpected end");
  expect(three, 0, CIS_EEOF, "unexpected end");
  const uint8_t bad4[] = {0x61, 0x73, 0x6d, 0x00};
  expect(bad4, sizeof bad4, CIS_EMAGIC, "magic header not detected");
}

static void regression_body_without_end_reads_on_as_the_spec_does(void **st) {
  (void)st;
  /* At the end of the binary: unexpected end (not "END opcode expected"). */
  const uint8_t at_eof[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                            0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x01, 0x1a};
  expect(at_eof, sizeof at_eof, CIS_EEOF, "unexpected end of section or function");
  /* Followed by a data section: its id byte 0x0b ends the body, and the
   * body is longer than its size says. */
  const uint8_t before_data[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                                 0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x01, 0x1a, 0x0b, 0x03, 0x01, 0x01, 0x00};
  expect(before_data, sizeof before_data, CIS_ESECTION, "section size mismatch");
  /* A global's init without end runs into the code section's id 0x0a. */
  const uint8_t init[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                          0x06, 0x05, 0x01, 0x7f, 0x00, 0x41, 0x00, 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b};
  expect_std(CIS__STD_2, init, sizeof init, CIS_EMALFORMED, "illegal opcode");
  /* In 3.0, 0x0a is throw_ref: the init reads on to the binary's end. */
  expect(init, sizeof init, CIS_EEOF, "unexpected end");
  /* An else outside an if, between two functions. */
  const uint8_t stray_else[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x00,
                                0x0a, 0x0c, 0x02, 0x04, 0x00, 0x41, 0x01, 0x1a, 0x05, 0x00, 0x41, 0x01, 0x1a, 0x0b};
  expect(stray_else, sizeof stray_else, CIS_EMALFORMED, "END opcode expected");
  /* A second else in one if. */
  const uint8_t two_elses[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                               0x0a, 0x0b, 0x01, 0x09, 0x00, 0x41, 0x01, 0x04, 0x40, 0x05, 0x05, 0x0b, 0x0b};
  expect(two_elses, sizeof two_elses, CIS_EMALFORMED, "END opcode expected");
}

static void regression_count_is_checked_against_the_bytes_item_by_item(void **st) {
  (void)st;
  /* One import in three bytes: its kind is what is wrong, not the count. */
  const uint8_t import_kind[] = {HDR, 0x02, 0x04, 0x01, 0x00, 0x00, 0x05};
  expect(import_kind, sizeof import_kind, CIS_EMALFORMED, "malformed import kind");
  /* 4, a tag, is 3.0's: there its attribute byte is missing. */
  const uint8_t import_tag[] = {HDR, 0x02, 0x04, 0x01, 0x00, 0x00, 0x04};
  expect_std(CIS__STD_2, import_tag, sizeof import_tag, CIS_EMALFORMED, "malformed import kind");
  expect(import_tag, sizeof import_tag, CIS_EEOF, "unexpected end");
  /* Two types declared in a section that holds one: the section's size
   * passes the end of the binary. */
  const uint8_t types[] = {HDR, 0x01, 0x07, 0x02, 0x60, 0x00, 0x00};
  expect(types, sizeof types, CIS_EEOF, "length out of bounds");
  /* One table declared, none given: the binary ends. */
  const uint8_t table[] = {HDR, 0x04, 0x01, 0x01};
  expect(table, sizeof table, CIS_EEOF, "unexpected end of section or function");
  /* Sizes that pass the end by no more than their own LEB128 bytes: not
   * "length out of bounds" (the spec counts those bytes as room), but no
   * section or body can be that long. */
  const uint8_t sec_past[] = {HDR, 0x01, 0x02, 0x00};
  expect(sec_past, sizeof sec_past, CIS_ESECTION, "section size mismatch");
  const uint8_t custom_past[] = {HDR, 0x00, 0x03, 0x01, 0x61};
  expect(custom_past, sizeof custom_past, CIS_EEOF, "unexpected end of section or function");
  const uint8_t body_past[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                               0x0a, 0x04, 0x01, 0x03, 0x00, 0x0b};
  expect(body_past, sizeof body_past, CIS_ESECTION, "section size mismatch");
  /* A count larger than the binary. */
  const uint8_t huge[] = {HDR, 0x01, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f};
  expect(huge, sizeof huge, CIS_EEOF, "length out of bounds");
  /* A function index's LEB128 running past its section. */
  const uint8_t leb[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x03, 0x01,
                         0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b};
  expect(leb, sizeof leb, CIS_ELEB, "integer representation too long");
}

/* 2.0's limits flag is a one-bit LEB128; 3.0's a byte (0, 1, 4, 5). */
static void regression_limits_flag_is_a_one_bit_leb128(void **st) {
  (void)st;
  const uint8_t big[] = {HDR, 0x05, 0x02, 0x01, 0x02};
  expect_std(CIS__STD_2, big, sizeof big, CIS_ELEB, "integer too large");
  expect(big, sizeof big, CIS_EMALFORMED, "malformed limits flags");
  const uint8_t long1[] = {HDR, 0x05, 0x05, 0x01, 0x81, 0x00, 0x00, 0x00};
  expect_std(CIS__STD_2, long1, sizeof long1, CIS_ELEB, "integer representation too long");
  expect(long1, sizeof long1, CIS_EMALFORMED, "malformed limits flags");
  const uint8_t long0[] = {HDR, 0x04, 0x06, 0x01, 0x70, 0x80, 0x00, 0x00, 0x00};
  expect_std(CIS__STD_2, long0, sizeof long0, CIS_ELEB, "integer representation too long");
  expect(long0, sizeof long0, CIS_EMALFORMED, "malformed limits flags");
}

static void regression_section_order_before_function_count(void **st) {
  (void)st;
  /* Two code sections: the second is out of place, whatever the counts. */
  const uint8_t two_codes[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x00,
                               0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b};
  expect(two_codes, sizeof two_codes, CIS_ESECTION, "unexpected content after last section");
  /* A custom section whose name runs past its size. */
  const uint8_t custom[] = {HDR, 0x00, 0x00, 0x00, 0x05, 0x01, 0x00, 0x07, 0x00, 0x00};
  expect(custom, sizeof custom, CIS_EEOF, "unexpected end");
  const uint8_t custom_len[] = {HDR, 0x00, 0x05, 0x10, 0x61};
  expect(custom_len, sizeof custom_len, CIS_EEOF, "length out of bounds");
}

static void regression_module_errors_name_the_index(void **st) {
  (void)st;
  /* An active data segment for memory 1 of a module without memory. */
  const uint8_t data_mem[] = {HDR, 0x0b, 0x07, 0x01, 0x02, 0x01, 0x41, 0x00, 0x0b, 0x00};
  expect(data_mem, sizeof data_mem, CIS_EINVALID, "unknown memory 1");
  /* A global initialised from global 0 of a module that imports none. */
  const uint8_t glob[] = {HDR, 0x06, 0x06, 0x01, 0x7f, 0x00, 0x23, 0x00, 0x0b};
  expect(glob, sizeof glob, CIS_EINVALID, "unknown global 0");
  /* ref.func 7 in a global of a module without functions. */
  const uint8_t ref[] = {HDR, 0x06, 0x06, 0x01, 0x70, 0x00, 0xd2, 0x07, 0x0b};
  expect(ref, sizeof ref, CIS_EINVALID, "unknown function 7");
}

/* A module of one function () -> () whose body (locals included) is
 * body[0 .. n), decoded and validated as standard std. */
static void expect_body(int std, const uint8_t *body, size_t n, cis_result code, const char *prefix) {
  uint8_t b[256];
  const uint8_t head[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x0a};
  assert_true(n + 3 + sizeof head <= sizeof b && n < 120);
  size_t k = sizeof head;
  memcpy(b, head, k);
  b[k++] = (uint8_t)(n + 2); /* the section: one body of n bytes */
  b[k++] = 0x01;
  b[k++] = (uint8_t)n;
  memcpy(b + k, body, n);
  expect_std(std, b, k + n, code, prefix);
}
#define BODY(std, code, prefix, ...)                                             \
  do {                                                                           \
    const uint8_t body_[] = {__VA_ARGS__};                                       \
    expect_body(std, body_, sizeof body_, code, prefix);                         \
  } while (0)

/* Hostile and malformed exception handling (3.0): the tag section, catch
 * clauses, the legacy nesting, and 2.0's refusal of all of it. */
static void exception_handling_hostile(void **st) {
  (void)st;
  const int S3 = CIS__STD_3, S2 = CIS__STD_2;
  BODY(S3, CIS_OK, NULL, 0x00, 0x06, 0x40, 0x19, 0x0b, 0x0b);                /* try catch_all end */
  BODY(S2, CIS_EMALFORMED, "illegal opcode", 0x00, 0x06, 0x40, 0x19, 0x0b, 0x0b);
  BODY(S3, CIS_OK, NULL, 0x00, 0x1f, 0x40, 0x01, 0x02, 0x00, 0x0b, 0x0b);    /* try_table (catch_all 0) */
  BODY(S3, CIS_EMALFORMED, "malformed catch clause", 0x00, 0x1f, 0x40, 0x01, 0x04, 0x00, 0x0b, 0x0b);
  BODY(S3, CIS_EEOF, "length out of bounds", 0x00, 0x1f, 0x40, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0b);
  BODY(S3, CIS_EEOF, "unexpected end", 0x00, 0x1f, 0x40, 0x01, 0x00);        /* a clause cut short */
  BODY(S3, CIS_ELEB, "integer", 0x00, 0x1f, 0x40, 0x01, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00, 0x0b,
       0x0b);                                                                /* an overlong tag index */
  BODY(S3, CIS_EMALFORMED, "END opcode expected", 0x00, 0x07, 0x00, 0x0b);   /* catch outside a try */
  BODY(S3, CIS_EMALFORMED, "END opcode expected", 0x00, 0x19, 0x0b);         /* catch_all outside a try */
  BODY(S3, CIS_EMALFORMED, "END opcode expected", 0x00, 0x06, 0x40, 0x19, 0x19, 0x0b, 0x0b);
  BODY(S3, CIS_EMALFORMED, "END opcode expected", 0x00, 0x02, 0x40, 0x18, 0x00, 0x0b, 0x0b);
  BODY(S3, CIS_EMALFORMED, "END opcode expected", 0x00, 0x06, 0x40, 0x19, 0x18, 0x00, 0x0b);
  BODY(S3, CIS_EINVALID, "unknown label", 0x00, 0x1f, 0x40, 0x01, 0x02, 0x05, 0x0b, 0x0b);
  BODY(S3, CIS_EINVALID, "unknown tag 0", 0x00, 0x08, 0x00, 0x0b);
  BODY(S3, CIS_EINVALID, "unknown tag 0", 0x00, 0x1f, 0x40, 0x01, 0x00, 0x00, 0x00, 0x0b, 0x0b);
  BODY(S3, CIS_EINVALID, "invalid rethrow label", 0x00, 0x02, 0x40, 0x09, 0x00, 0x0b, 0x0b);
  BODY(S3, CIS_ETYPE, "type mismatch", 0x00, 0x0a, 0x0b);                   /* throw_ref of nothing */
  /* exnref as a block's type and ref.null's heap type: 3.0 only */
  BODY(S3, CIS_OK, NULL, 0x00, 0x02, 0x69, 0xd0, 0x69, 0x0b, 0x1a, 0x0b);
  BODY(S2, CIS_EMALFORMED, "malformed value type", 0x00, 0x02, 0x69, 0xd0, 0x69, 0x0b, 0x1a, 0x0b);
  BODY(S3, CIS_OK, NULL, 0x01, 0x01, 0x74, 0x0b);                            /* a nullexnref local */
  BODY(S2, CIS_EMALFORMED, "malformed value type", 0x01, 0x01, 0x74, 0x0b);

  const uint8_t tag_ok[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x0d, 0x03, 0x01, 0x00, 0x00};
  expect(tag_ok, sizeof tag_ok, CIS_OK, NULL);
  const uint8_t attr[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x0d, 0x03, 0x01, 0x01, 0x00};
  expect(attr, sizeof attr, CIS_EMALFORMED, "malformed tag attribute");
  const uint8_t cut[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x0d, 0x02, 0x01, 0x00};
  expect(cut, sizeof cut, CIS_EEOF, "unexpected end");
  const uint8_t huge[] = {HDR, 0x0d, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f};
  expect(huge, sizeof huge, CIS_EEOF, "length out of bounds");
  const uint8_t no_type[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x0d, 0x03, 0x01, 0x00, 0x05};
  expect(no_type, sizeof no_type, CIS_EINVALID, "unknown type 5");
  const uint8_t results[] = {HDR, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x0d, 0x03, 0x01, 0x00, 0x00};
  expect(results, sizeof results, CIS_EINVALID, "non-empty tag result type");
  /* the tag section comes before the globals */
  const uint8_t late[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x06, 0x06, 0x01, 0x7f,
                          0x00, 0x41, 0x00, 0x0b, 0x0d, 0x03, 0x01, 0x00, 0x00};
  expect(late, sizeof late, CIS_ESECTION, "unexpected content after last section");
  /* exports and imports of kind 4 (a tag) */
  const uint8_t exp[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x0d, 0x03, 0x01, 0x00, 0x00,
                         0x07, 0x05, 0x01, 0x01, 0x74, 0x04, 0x00};
  expect(exp, sizeof exp, CIS_OK, NULL);
  const uint8_t exp_bad[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x0d, 0x03, 0x01, 0x00, 0x00,
                             0x07, 0x05, 0x01, 0x01, 0x74, 0x04, 0x01};
  expect(exp_bad, sizeof exp_bad, CIS_EINVALID, "unknown tag 1");
  const uint8_t exp_kind[] = {HDR, 0x07, 0x05, 0x01, 0x01, 0x74, 0x05, 0x00};
  expect(exp_kind, sizeof exp_kind, CIS_EMALFORMED, "malformed export kind");
  const uint8_t exp_2[] = {HDR, 0x07, 0x05, 0x01, 0x01, 0x74, 0x04, 0x00};
  expect_std(CIS__STD_2, exp_2, sizeof exp_2, CIS_EMALFORMED, "malformed export kind");
  const uint8_t imp_attr[] = {HDR, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x02, 0x07, 0x01, 0x01, 0x6d,
                              0x01, 0x74, 0x04, 0x02, 0x00};
  expect(imp_attr, sizeof imp_attr, CIS_EMALFORMED, "malformed tag attribute");
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(leb128), cmocka_unit_test(malformed), cmocka_unit_test(invalid),
                                     cmocka_unit_test(regression_if_without_else_empty_blocktype),
                                     cmocka_unit_test(locals_are_slices_of_the_binary),
                                     cmocka_unit_test(locals_buffer_reused_across_bodies),
                                     cmocka_unit_test(locals_groups_checked_when_expanded),
                                     cmocka_unit_test(regression_empty_local_group_without_locals),
                                     cmocka_unit_test(regression_short_binary_is_unexpected_end_not_bad_magic),
                                     cmocka_unit_test(regression_body_without_end_reads_on_as_the_spec_does),
                                     cmocka_unit_test(regression_count_is_checked_against_the_bytes_item_by_item),
                                     cmocka_unit_test(regression_limits_flag_is_a_one_bit_leb128),
                                     cmocka_unit_test(regression_section_order_before_function_count),
                                     cmocka_unit_test(regression_module_errors_name_the_index),
                                     cmocka_unit_test(exception_handling_hostile)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
