/*
 * This file implements the unit tests of the text-format compiler
 * (src/wat/): the lexer's literals and strings, the abbreviations of the
 * module fields and instructions (each checked by running the compiled
 * module through the public API), errors with their LINE:COL, the bounds
 * on hostile input, and byte-for-byte agreement with wat2wasm on fixtures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cis/cis.h"
#include "wasm/module.h"
#include "wat/wat.h"
#include "support/test_file.h"

/* ---------------------------------------------------------------- helpers */

/* Compiles text; returns the code and leaves the binary in *bin (freed by
 * the caller) and the message in msg. */
static cis_result compile(const char *text, uint8_t **bin, size_t *n, char *msg, size_t msglen) {
  return cis__wat_compile(text, strlen(text), bin, n, msg, msglen);
}

/* The immediate bytes of the one constant in
 * (module (func (result T) (T.const LIT))): what follows the opcode in the
 * body, before its end. Fails the test when it does not compile. */
static size_t const_imm(const char *type, const char *lit, uint8_t *imm) {
  char text[512];
  snprintf(text, sizeof text, "(module (func (result %s) (%s.const %s)))", type, type, lit);
  uint8_t *bin = NULL;
  size_t n = 0;
  char msg[256];
  cis_result rc = compile(text, &bin, &n, msg, sizeof msg);
  if (rc != CIS_OK) fail_msg("%s: %s", text, msg);
  /* the code section is last: 0a size 01 bodysize 00(locals) op imm.. 0b */
  size_t k = n - 1;
  while (k > 0 && !(bin[k] == 0x0a && (size_t)bin[k + 1] == n - k - 2)) k--;
  assert_int_equal(bin[k + 2], 1);
  size_t len = n - (k + 6) - 1;
  memcpy(imm, bin + k + 6, len);
  free(bin);
  return len;
}

static uint64_t leb_s(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  unsigned shift = 0;
  size_t i = 0;
  for (; i < n; i++) {
    v |= (uint64_t)(p[i] & 0x7f) << shift;
    shift += 7;
    if (!(p[i] & 0x80)) break;
  }
  if (shift < 64 && (p[i] & 0x40)) v |= ~UINT64_C(0) << shift;
  return v;
}

static uint32_t i32_of(const char *lit) {
  uint8_t imm[16];
  size_t n = const_imm("i32", lit, imm);
  return (uint32_t)leb_s(imm, n);
}

static uint64_t i64_of(const char *lit) {
  uint8_t imm[16];
  size_t n = const_imm("i64", lit, imm);
  return leb_s(imm, n);
}

static uint32_t f32_of(const char *lit) {
  uint8_t imm[16];
  assert_int_equal(const_imm("f32", lit, imm), 4);
  return (uint32_t)imm[0] | (uint32_t)imm[1] << 8 | (uint32_t)imm[2] << 16 | (uint32_t)imm[3] << 24;
}

static uint64_t f64_of(const char *lit) {
  uint8_t imm[16];
  assert_int_equal(const_imm("f64", lit, imm), 8);
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | imm[i];
  return v;
}

/* Expects text to fail with code rc and a message containing want. */
static void expect_error(const char *text, cis_result rc, const char *want) {
  uint8_t *bin = NULL;
  size_t n = 0;
  char msg[512];
  cis_result got = compile(text, &bin, &n, msg, sizeof msg);
  free(bin);
  if (got != rc || !strstr(msg, want))
    fail_msg("%s: expected %s \"%s\", got %s \"%s\"", text, cis_errname(rc), want, cis_errname(got), msg);
}

/* Compiles text with the public API, instantiates it without imports and
 * calls export `name` with up to two i32 arguments; returns its i32. */
static uint32_t run_i32(const char *text, const char *name, int nargs, uint32_t a, uint32_t b) {
  cis_engine *e = NULL;
  cis_module *m = NULL;
  cis_instance *inst = NULL;
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  cis_result rc = cis_module_new_text(e, text, strlen(text), &m);
  if (rc != CIS_OK) fail_msg("%s: %s", cis_errname(rc), cis_errmsg(e));
  rc = cis_instance_new(m, NULL, NULL, &inst);
  if (rc != CIS_OK) fail_msg("instantiate: %s: %s", cis_errname(rc), cis_errmsg(e));
  cis_extern ext;
  assert_int_equal(cis_instance_export(inst, name, strlen(name), &ext), CIS_OK);
  assert_int_equal(ext.kind, CIS_EXTERN_FUNC);
  cis_val args[2], res[1];
  memset(args, 0, sizeof args);
  memset(res, 0, sizeof res);
  args[0].type = args[1].type = CIS_I32;
  args[0].of.u32 = a;
  args[1].of.u32 = b;
  rc = cis_func_call(inst, ext.of.func, args, (uint32_t)nargs, res, 1);
  if (rc != CIS_OK) fail_msg("call %s: %s: %s", name, cis_errname(rc), cis_errmsg(inst));
  assert_int_equal(res[0].type, CIS_I32);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
  return res[0].of.u32;
}

/* Expects text to compile but fail validation with code rc and a
 * message containing want. */
static void expect_invalid(const char *text, cis_result rc, const char *want) {
  cis_engine *e = NULL;
  cis_module *m = NULL;
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  cis_result got = cis_module_new_text(e, text, strlen(text), &m);
  if (got != rc || !strstr(cis_errmsg(e), want))
    fail_msg("%.60s...: expected %s \"%s\", got %s \"%s\"", text, cis_errname(rc), want, cis_errname(got),
             cis_errmsg(e));
  cis_module_free(m);
  cis_engine_free(e);
}

/* ------------------------------------------------------------- literals */

static void wat_integer_literals_in_every_form(void **state) {
  (void)state;
  assert_int_equal(i32_of("0"), 0);
  assert_int_equal(i32_of("+42"), 42);
  assert_int_equal(i32_of("-1"), 0xffffffffu);
  assert_int_equal(i32_of("1_000_000"), 1000000);
  assert_int_equal(i32_of("0xffff_ffff"), 0xffffffffu);
  assert_int_equal(i32_of("-0x8000_0000"), 0x80000000u);
  assert_int_equal(i32_of("4294967295"), 0xffffffffu);
  assert_true(i64_of("0x7fff_ffff_ffff_ffff") == UINT64_C(0x7fffffffffffffff));
  assert_true(i64_of("-9223372036854775808") == UINT64_C(0x8000000000000000));
  assert_true(i64_of("18446744073709551615") == UINT64_MAX);
}

static void wat_integer_literals_out_of_range_or_malformed(void **state) {
  (void)state;
  expect_error("(module (func (drop (i32.const 4294967296))))", CIS_EMALFORMED, "constant out of range");
  expect_error("(module (func (drop (i32.const -2147483649))))", CIS_EMALFORMED, "constant out of range");
  expect_error("(module (func (drop (i64.const 18446744073709551616))))", CIS_EMALFORMED,
               "constant out of range");
  expect_error("(module (func (drop (i32.const 1__0))))", CIS_EMALFORMED, "unknown operator");
  expect_error("(module (func (drop (i32.const _1))))", CIS_EMALFORMED, "unknown operator");
  expect_error("(module (func (drop (i32.const 1_))))", CIS_EMALFORMED, "unknown operator");
  expect_error("(module (func (drop (i32.const 0x))))", CIS_EMALFORMED, "unknown operator");
  expect_error("(module (func (drop (i32.const))))", CIS_EMALFORMED, "unexpected token");
  expect_error("(module (func (drop (i32.const nan:arithmetic))))", CIS_EMALFORMED, "unexpected token");
}

static void wat_float_literals_in_every_form(void **state) {
  (void)state;
  assert_int_equal(f32_of("1"), 0x3f800000u);
  assert_int_equal(f32_of("-0"), 0x80000000u);
  assert_int_equal(f32_of("1.5e1_0"), 0x505f8476u);
  assert_int_equal(f32_of("0x1p-1"), 0x3f000000u);
  assert_int_equal(f32_of("0x1.fffffep127"), 0x7f7fffffu);   /* largest finite */
  assert_int_equal(f32_of("0x1.fffffefffffffp127"), 0x7f7fffffu); /* rounds down */
  assert_int_equal(f32_of("0x1p-149"), 0x00000001u);         /* smallest subnormal */
  assert_int_equal(f32_of("inf"), 0x7f800000u);
  assert_int_equal(f32_of("-inf"), 0xff800000u);
  assert_int_equal(f32_of("nan"), 0x7fc00000u);
  assert_int_equal(f32_of("-nan:0x1"), 0xff800001u);
  assert_int_equal(f32_of("nan:0x7f_ffff"), 0x7fffffffu);
  assert_int_equal(f32_of("1."), 0x3f800000u);
  assert_int_equal(f32_of("0x1.8"), 0x3fc00000u);
  /* decimal to f32 directly, not through f64 (no double rounding) */
  assert_int_equal(f32_of("1.00000005960464477539062500001"), 0x3f800001u);
  assert_true(f64_of("0x1.fffffffffffffp1023") == UINT64_C(0x7fefffffffffffff));
  assert_true(f64_of("-nan:0xf_ffff_ffff_ffff") == UINT64_C(0xffffffffffffffff));
  assert_true(f64_of("1e-400") == 0);
  assert_true(f64_of("0.1") == UINT64_C(0x3fb999999999999a));
}

static void wat_float_literals_out_of_range_or_malformed(void **state) {
  (void)state;
  expect_error("(module (func (drop (f32.const 0x1p128))))", CIS_EMALFORMED, "constant out of range");
  expect_error("(module (func (drop (f32.const 1e39))))", CIS_EMALFORMED, "constant out of range");
  expect_error("(module (func (drop (f64.const 1e309))))", CIS_EMALFORMED, "constant out of range");
  expect_error("(module (func (drop (f32.const nan:0x0))))", CIS_EMALFORMED, "constant out of range");
  expect_error("(module (func (drop (f32.const nan:0x80_0000))))", CIS_EMALFORMED, "constant out of range");
  expect_error("(module (func (drop (f32.const .5))))", CIS_EMALFORMED, "unknown operator");
  expect_error("(module (func (drop (f32.const 1e))))", CIS_EMALFORMED, "unknown operator");
  expect_error("(module (func (drop (f32.const 0x1p))))", CIS_EMALFORMED, "unknown operator");
  expect_error("(module (func (drop (f64.const nan:1))))", CIS_EMALFORMED, "unknown operator");
}

static void wat_strings_escapes_and_utf8(void **state) {
  (void)state;
  /* data bytes: escapes decoded; a memory whose first bytes are checked */
  const char *text =
      "(module (memory 1) (data (i32.const 0) \"\\t\\n\\r\\\"\\'\\\\\\00\\ff\" \"\\u{e9}\\u{1F600}\")"
      " (func (export \"b\") (param i32) (result i32) (i32.load8_u (local.get 0))))";
  static const uint8_t want[] = {'\t', '\n', '\r', '"', '\'', '\\', 0x00, 0xff,
                                 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80};
  for (uint32_t i = 0; i < sizeof want; i++) assert_int_equal(run_i32(text, "b", 1, i, 0), want[i]);
  /* names must be UTF-8; data need not be */
  expect_error("(module (func (export \"\\80\")))", CIS_EMALFORMED, "malformed UTF-8 encoding");
  expect_error("(module (import \"\\ed\\a0\\80\" \"f\" (func)))", CIS_EMALFORMED, "malformed UTF-8 encoding");
  /* raw text must be UTF-8 too */
  expect_error("(module) ;; \xc0\x80", CIS_EMALFORMED, "malformed UTF-8 encoding");
  expect_error("(module (func (export \"\\u{d800}\")))", CIS_EMALFORMED, "1:");
  expect_error("(module (func (export \"a\n\")))", CIS_EMALFORMED, "illegal character");
  expect_error("(module (func (export \"abc)))", CIS_EMALFORMED, "unclosed string");
  expect_error("(module (data \"a\"\"b\"))", CIS_EMALFORMED, "unknown operator");
}

/* A backslash before a NUL byte is no escape: the lexer once took the NUL
 * for one of "tnr\"'\\" (strchr matches the terminator) and the decoder
 * then walked past the string's end (fuzz_wat's first finding, kept as
 * fuzz/findings/wat/escape-before-nul.wat). */
static void wat_string_escape_of_a_nul_is_illegal(void **state) {
  (void)state;
#define TEXT(s) {s, sizeof s - 1}
  static const struct {
    const char *s;
    size_t n;
  } texts[] = {
      TEXT("(module (func (export \"a\\\0b\")))"),
      TEXT("(module (data \"\\\0\"))"),
      TEXT("(func (export \"81\\\\78\\\0\\\\l\\rop\\7\\\0\\\\unc\"))"),
  };
#undef TEXT
  for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
    uint8_t *bin = NULL;
    size_t n = 0;
    char msg[256];
    cis_result rc = cis__wat_compile(texts[k].s, texts[k].n, &bin, &n, msg, sizeof msg);
    free(bin);
    if (rc != CIS_EMALFORMED || !strstr(msg, "illegal escape"))
      fail_msg("text %zu: expected CIS_EMALFORMED \"illegal escape\", got %s \"%s\"", k, cis_errname(rc), msg);
  }
}

static void wat_comments_nest_and_lines_count(void **state) {
  (void)state;
  assert_int_equal(run_i32("(; a (; nested ;) comment ;) (module ;; line\n"
                           "(func (export \"f\") (result i32) (; inline ;) i32.const 7))",
                           "f", 0, 0, 0),
                   7);
  expect_error("(module (; never closed (; ;)", CIS_EMALFORMED, "1:9: unclosed comment");
  /* A line comment ends at any of the spec's newlines: a CR alone too,
   * so the code after it counts. */
  assert_int_equal(run_i32("(module (func (export \"f\") (result i32) ;; one\r i32.const 9))", "f", 0,
                           0, 0),
                   9);
  assert_int_equal(run_i32("(module (func (export \"f\") (result i32) ;; one\r\n i32.const 5))", "f",
                           0, 0, 0),
                   5);
}

/* The sections of bin (after its header) as "ID" or "0:NAME=DATA" for a
 * custom one, joined by spaces, into out. */
static void section_list(const uint8_t *bin, size_t n, char *out, size_t cap) {
  size_t i = 8, o = 0;
  out[0] = 0;
  while (i < n && o + 1 < cap) {
    uint8_t id = bin[i++];
    uint32_t len = 0;
    for (int sh = 0; i < n; sh += 7) {
      len |= (uint32_t)(bin[i] & 0x7f) << sh;
      if (!(bin[i++] & 0x80)) break;
    }
    assert_true(len <= n - i);
    if (id == 0) {
      uint32_t nl = bin[i]; /* names here are under 128 bytes */
      o += (size_t)snprintf(out + o, cap - o, "%s0:%.*s=%.*s", o ? " " : "", (int)nl, (const char *)bin + i + 1,
                            (int)(len - 1 - nl), (const char *)bin + i + 1 + nl);
    } else {
      o += (size_t)snprintf(out + o, cap - o, "%s%u", o ? " " : "", id);
    }
    i += len;
  }
}

/* @custom makes a custom section at its placement (by default after the
 * last section), in text order, whether or not the section it is placed
 * by is there; @name and branch hints are checked where they stand. Each
 * misplaced or malformed one is refused with its own message. */
static void wat_custom_name_and_hint_annotations(void **state) {
  (void)state;
  uint8_t *bin = NULL;
  size_t n = 0;
  char msg[256], list[512];
  assert_int_equal(compile("(module (@custom \"a\" \"1\" \"2\") (type (func)) (@custom \"b\" (before first))"
                           " (@custom \"c\" (after type) \"x\") (@custom \"d\" (before code))"
                           " (func (@name \"f\")) (@custom \"e\" (after data)) (@custom \"\"))",
                           &bin, &n, msg, sizeof msg),
                   CIS_OK);
  section_list(bin, n, list, sizeof list);
  assert_string_equal(list, "0:b= 1 0:c=x 3 0:d= 10 0:a=12 0:e= 0:=");
  /* the module the decoder reads from it */
  cis_engine *e = NULL;
  cis_module *m = NULL;
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  assert_int_equal(cis_module_new(e, bin, n, &m), CIS_OK);
  cis_module_free(m);
  cis_engine_free(e);
  free(bin);
  /* bare fields; a hint before if, folded or not; names after a keyword or $id */
  assert_int_equal(compile("(@custom \"x\") (func $f (@name \"g\") (param i32) (@metadata.code.branch_hint \"\\01\")"
                           " (if (local.get 0) (then)) local.get 0 (@metadata.code.branch_hint \"\\00\") br_if 0)",
                           &bin, &n, msg, sizeof msg),
                   CIS_OK);
  free(bin);
  expect_error("(module (@custom))", CIS_EMALFORMED, "@custom annotation: missing section name");
  expect_error("(module (@custom \"\\ff\"))", CIS_EMALFORMED, "@custom annotation: malformed UTF-8 encoding");
  expect_error("(module (@custom \"a\" x))", CIS_EMALFORMED, "@custom annotation: unexpected token");
  expect_error("(module (@custom \"a\" \"d\" (after func)))", CIS_EMALFORMED, "@custom annotation: unexpected token");
  expect_error("(module (@custom \"a\" (after func) (after func)))", CIS_EMALFORMED, "unexpected token");
  expect_error("(module (@custom \"a\" (after first)))", CIS_EMALFORMED, "malformed section kind");
  expect_error("(module (@custom \"a\" (before last)))", CIS_EMALFORMED, "malformed section kind");
  expect_error("(module (@custom \"a\" (after func x)))", CIS_EMALFORMED, "malformed placement");
  expect_error("(module (@custom \"a\"", CIS_EMALFORMED, "unclosed annotation");
  expect_error("(module (func (@custom \"a\")))", CIS_EMALFORMED, "misplaced @custom annotation");
  expect_error("(@name \"m\") (func)", CIS_EMALFORMED, "misplaced @name annotation");
  expect_error("(module $m (@name \"a\") (@name \"b\"))", CIS_EMALFORMED, "@name annotation: multiple module");
  expect_error("(module (func (result i32) (@name \"a\") i32.const 0))", CIS_EMALFORMED, "misplaced @name");
  expect_error("(module (@name))", CIS_EMALFORMED, "@name annotation: missing name");
  expect_error("(module (@name \"a\" \"b\"))", CIS_EMALFORMED, "@name annotation: unexpected token");
  expect_error("(module (func (@metadata.code.branch_hint \"\\02\") (if (i32.const 0) (then))))", CIS_EMALFORMED,
               "malformed hint");
  expect_error("(module (func (@metadata.code.branch_hint \"\") (if (i32.const 0) (then))))", CIS_EMALFORMED,
               "malformed hint");
  expect_error("(module (@metadata.code.branch_hint \"\\00\") (func))", CIS_EMALFORMED, "not in a function");
  expect_error("(module (global i32 (@metadata.code.branch_hint \"\\00\") (i32.const 0)))", CIS_EMALFORMED,
               "not in a function");
  expect_error("(module (func (@metadata.code.branch_hint \"\\00\") nop))", CIS_EINVALID, "invalid target");
}

/* Annotations (@id ...) are skipped wherever a token may be, nested to
 * any depth without recursion, and still held to the lexer's rules; a
 * quoted identifier $"..." names what the plain one with the same name
 * does, and an empty or non-UTF-8 one is malformed. */
static void wat_annotations_and_quoted_identifiers(void **state) {
  (void)state;
  assert_int_equal(run_i32("((@a) module (@x y (z \"(\" (@w))) (func (@b) (export \"f\") (@\"n\" 1)"
                           " (result i32) (@c ;; in a comment )\n) i32.const 3))",
                           "f", 0, 0, 0),
                   3);
  assert_int_equal(run_i32("(module (func $\"a b\" (result i32) i32.const 4)"
                           " (func $ab (result i32) i32.const 5)"
                           " (func (export \"f\") (result i32) (call $\"a\\62\") (call $\"a b\") i32.add))",
                           "f", 0, 0, 0),
                   9);
  assert_int_equal(run_i32("(module (func (export \"f\") (result i32)"
                           " block $\"l\" (result i32) i32.const 6 br $l end $l))",
                           "f", 0, 0, 0),
                   6);
  expect_error("(module (func $\"a\" (result i32) i32.const 4) (func $a))", CIS_EMALFORMED, "duplicate func");
  expect_error("(module (func $))", CIS_EMALFORMED, "empty identifier");
  expect_error("(module (func $\"\"))", CIS_EMALFORMED, "empty identifier");
  expect_error("(module (func $\"\\ff\"))", CIS_EMALFORMED, "malformed UTF-8");
  expect_error("(module (func $\"x\ny\"))", CIS_EMALFORMED, "empty identifier");
  expect_error("(module (@))", CIS_EMALFORMED, "1:9: empty annotation id");
  expect_error("(module (@ x))", CIS_EMALFORMED, "empty annotation id");
  expect_error("(module (@a (b)", CIS_EMALFORMED, "1:9: unclosed annotation");
  expect_error("(module (@a \"x))", CIS_EMALFORMED, "unclosed string");
  expect_error("(module (@a \x01))", CIS_EMALFORMED, "illegal character");
  expect_error("(module (@a \xff))", CIS_EMALFORMED, "malformed UTF-8 encoding");
  expect_error("(module (@a)) )", CIS_EMALFORMED, "unexpected token");
  expect_error("((@b)@c)", CIS_EMALFORMED, "unknown operator");
  /* a million nested parentheses in one annotation: no recursion */
  size_t depth = 1000000, len = 16 + 2 * depth;
  char *deep = malloc(len + 1);
  assert_non_null(deep);
  size_t o = (size_t)snprintf(deep, len + 1, "(module (@a ");
  for (size_t i = 0; i < depth; i++) deep[o++] = '(';
  for (size_t i = 0; i < depth; i++) deep[o++] = ')';
  o += (size_t)snprintf(deep + o, len + 1 - o, "))");
  uint8_t *bin = NULL;
  size_t n = 0;
  char msg[256];
  assert_int_equal(compile(deep, &bin, &n, msg, sizeof msg), CIS_OK);
  free(bin);
  free(deep);
}

/* ------------------------------------------ extended constant expressions */

/* WebAssembly 3.0's extended constant expressions: i32 and i64 add, sub
 * and mul in a global's initialiser and a segment's offset, wrapping as
 * the instructions do; any other instruction is still refused, the types
 * are checked, and the stack's depth is bounded. */
static void wat_extended_constant_expressions(void **state) {
  (void)state;
  assert_int_equal(run_i32("(module (global i32 (i32.sub (i32.mul (i32.const 6) (i32.const 7)) (i32.const 2)))"
                           " (func (export \"f\") (result i32) global.get 0))",
                           "f", 0, 0, 0),
                   40);
  assert_int_equal(run_i32("(module (global i64 (i64.add (i64.const 0x7fffffffffffffff) (i64.const 1)))"
                           " (func (export \"f\") (result i32) (i64.eq (global.get 0) (i64.const 0x8000000000000000))))",
                           "f", 0, 0, 0),
                   1);
  assert_int_equal(run_i32("(module (global i32 (i32.mul (i32.const 0x10000) (i32.const 0x10001)))"
                           " (func (export \"f\") (result i32) global.get 0))",
                           "f", 0, 0, 0),
                   0x10000);
  assert_int_equal(run_i32("(module (memory 1) (data (offset (i32.add (i32.const 1) (i32.const 2))) \"x\")"
                           " (func (export \"f\") (result i32) (i32.load8_u (i32.const 3))))",
                           "f", 0, 0, 0),
                   'x');
  expect_invalid("(module (global i32 (i32.div_s (i32.const 1) (i32.const 1))))", CIS_EINVALID,
                 "constant expression required");
  expect_invalid("(module (global i32 (i32.add (i32.const 1) (i64.const 2))))", CIS_ETYPE, "type mismatch");
  expect_invalid("(module (global i32 (i32.const 1) (i32.add)))", CIS_ETYPE, "type mismatch");
  expect_invalid("(module (global i32 (i32.const 1) (i32.const 2)))", CIS_ETYPE, "type mismatch");
  /* 300 values deep, then their sum: over the bound of 256. */
  static char deep[300 * 16 + 300 * 8 + 64];
  size_t o = (size_t)snprintf(deep, sizeof deep, "(module (global i32 ");
  for (int i = 0; i < 300; i++) o += (size_t)snprintf(deep + o, sizeof deep - o, "i32.const 1 ");
  for (int i = 0; i < 299; i++) o += (size_t)snprintf(deep + o, sizeof deep - o, "i32.add ");
  snprintf(deep + o, sizeof deep - o, "))");
  expect_invalid(deep, CIS_EINVALID, "constant expression too deep (over 256 values)");
  /* 200 deep fits, and sums to 200. */
  o = (size_t)snprintf(deep, sizeof deep, "(module (global i32 ");
  for (int i = 0; i < 200; i++) o += (size_t)snprintf(deep + o, sizeof deep - o, "i32.const 1 ");
  for (int i = 0; i < 199; i++) o += (size_t)snprintf(deep + o, sizeof deep - o, "i32.add ");
  snprintf(deep + o, sizeof deep - o, ") (func (export \"f\") (result i32) global.get 0))");
  assert_int_equal(run_i32(deep, "f", 0, 0, 0), 200);
}

/* ---------------------------------------------------------- abbreviations */

static void wat_abbreviations_of_functions_and_types(void **state) {
  (void)state;
  /* inline export, named params and locals, folded and plain forms, implicit
   * and explicit type uses, call by name before the definition */
  const char *text = "(module\n"
                     "  (type $bin (func (param i32 i32) (result i32)))\n"
                     "  (func $main (export \"main\") (param $a i32) (param $b i32) (result i32)\n"
                     "    (local $t i32) (local i64 f32)\n"
                     "    (local.set $t (call $sub (local.get $a) (local.get $b)))\n"
                     "    local.get $t\n"
                     "    (call_indirect (type $bin) (i32.const 3) (i32.const 4) (i32.const 0))\n"
                     "    i32.add)\n"
                     "  (func $sub (type $bin) (i32.sub (local.get 0) (local.get 1)))\n"
                     "  (table funcref (elem $mul))\n"
                     "  (func $mul (param i32) (param i32) (result i32) (i32.mul (local.get 0) (local.get 1))))";
  assert_int_equal(run_i32(text, "main", 2, 10, 3), 7 + 12);
}

static void wat_abbreviations_of_blocks_and_labels(void **state) {
  (void)state;
  const char *text =
      "(module (func (export \"f\") (param $n i32) (result i32) (local $acc i32)\n"
      "  (block $done\n"
      "    (loop $next\n"
      "      (br_if $done (i32.eqz (local.get $n)))\n"
      "      (local.set $acc (i32.add (local.get $acc) (local.get $n)))\n"
      "      (local.set $n (i32.sub (local.get $n) (i32.const 1)))\n"
      "      (br $next)))\n"
      "  block $b (result i32)\n"
      "    local.get $acc\n"
      "    (if (result i32) (i32.gt_u (local.get $acc) (i32.const 10))\n"
      "      (then (i32.const 1000)) (else (i32.const 0)))\n"
      "    i32.add\n"
      "    local.get 0\n"
      "    if $i (param i32) (result i32) i32.const 1 i32.add else $i end $i\n"
      "    (br_table $b 0 $b (i32.const 1))\n"
      "  end $b))";
  assert_int_equal(run_i32(text, "f", 1, 5, 0), 15 + 1000 + 0);
  expect_error("(module (func block $a end $b))", CIS_EMALFORMED, "1:28: mismatching label $b");
  expect_error("(module (func block end $b))", CIS_EMALFORMED, "mismatching label");
  expect_error("(module (func (br $nowhere)))", CIS_EMALFORMED, "unknown label");
}

static void wat_abbreviations_of_memory_table_global_data_elem(void **state) {
  (void)state;
  const char *text =
      "(module\n"
      "  (import \"spectest\" \"nothing\" (func $imp (param i32)))\n"
      "  (memory $m (export \"mem\") (data \"\\01\\02\" \"\\03\"))\n"
      "  (global $g (export \"g\") (mut i32) (i32.const 40))\n"
      "  (global $k i32 (i32.const 1))\n"
      "  (table $t 4 funcref)\n"
      "  (elem (table $t) (offset (i32.const 1)) func $two $three)\n"
      "  (elem $passive funcref (ref.func $two) (item (ref.null func)))\n"
      "  (elem declare func $three)\n"
      "  (data $d \"\\05\")\n"
      "  (data (memory $m) (offset (i32.const 8)) \"\\09\")\n"
      "  (type $v (func (result i32)))\n"
      "  (func $two (result i32) (i32.const 2))\n"
      "  (func $three (type $v) (i32.const 3))\n"
      "  (func (export \"f\") (result i32)\n"
      "    (memory.init $d (i32.const 4) (i32.const 0) (i32.const 1))\n"
      "    (table.init $t $passive (i32.const 3) (i32.const 0) (i32.const 1))\n"
      "    (global.set $g (i32.add (global.get $g) (i32.load8_u offset=2 (i32.const 0))))\n"
      "    (i32.add (global.get $g)\n"
      "      (i32.add (i32.load8_u (i32.const 4)) (i32.load8_u align=1 (i32.const 8))))\n"
      "    (call_indirect $t (type $v) (i32.const 1)) i32.add\n"
      "    (call_indirect (type $v) (i32.const 3)) i32.add\n"
      "    (call_indirect (result i32) (i32.const 2)) i32.add\n"
      "    (i32.add (table.size $t) (memory.size)) i32.add))";
  /* the import is not given: instantiate through an imports set */
  cis_engine *e = NULL;
  cis_module *m = NULL;
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  cis_result rc = cis_module_new_text(e, text, strlen(text), &m);
  if (rc != CIS_OK) fail_msg("%s", cis_errmsg(e));
  assert_int_equal(cis_module_import_count(m), 1);
  assert_int_equal(cis_module_export_count(m), 3);
  cis_module_free(m);
  cis_engine_free(e);
  /* without the import, run the same body */
  const char *runnable = strstr(text, "  (memory");
  char buf[4096];
  snprintf(buf, sizeof buf, "(module\n%s", runnable);
  /* 40+3, 5+9, 2, 3, 2, table 4 + memory 1 */
  assert_int_equal(run_i32(buf, "f", 0, 0, 0), 43 + 14 + 2 + 2 + 3 + 5);
}

static void wat_module_without_module_keyword(void **state) {
  (void)state;
  assert_int_equal(run_i32("(func (export \"f\") (result i32) (i32.const 5))", "f", 0, 0, 0), 5);
  assert_int_equal(run_i32("(module $name (func (export \"f\") (result i32) (i32.const 6)))", "f", 0, 0, 0), 6);
}

static void wat_simd_literals_and_shuffle(void **state) {
  (void)state;
  const char *text =
      "(module (func (export \"f\") (result i32)\n"
      "  (i32x4.extract_lane 2\n"
      "    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 12 13 14 15\n"
      "      (v128.const i32x4 1 2 3 4) (v128.const i16x8 -1 0x7fff 9 0 0 0 0 0)))))";
  assert_int_equal(run_i32(text, "f", 0, 0, 0), 0x7fffffffu); /* lanes 16..19: -1, 0x7fff */
  const char *f = "(module (func (export \"f\") (result i32)\n"
                  "  (i32.trunc_f32_s (f32x4.extract_lane 3 (v128.const f32x4 nan -inf 1.5 0x1p4)))))";
  assert_int_equal(run_i32(f, "f", 0, 0, 0), 16);
  expect_error("(module (func (drop (v128.const i32x4 1 2 3))))", CIS_EMALFORMED, "wrong number of lane literals");
  expect_error("(module (func (drop (v128.const i8x16 256 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0))))", CIS_EMALFORMED,
               "constant out of range");
  expect_error("(module (func (drop (i8x16.shuffle 0 1 (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0)))))",
               CIS_EMALFORMED, "invalid lane length");
  /* A lane index past 255, or a shuffle lane that is no natural number:
   * each standard's words. */
  const char *lanes[] = {"(module (func (drop (i8x16.extract_lane_s 256 (v128.const i32x4 0 0 0 0)))))",
                         "(module (func (drop (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15.0"
                         " (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0)))))",
                         "(module (func (drop (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 -1"
                         " (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0)))))"};
  for (size_t i = 0; i < sizeof lanes / sizeof lanes[0]; i++) {
    expect_error(lanes[i], CIS_EMALFORMED, "i8 constant out of range");
    uint8_t *bin = NULL;
    size_t n = 0;
    char msg[256];
    assert_int_equal(cis__wat_compile_std(lanes[i], strlen(lanes[i]), CIS__STD_2, &bin, &n, msg, sizeof msg),
                     CIS_EMALFORMED);
    assert_non_null(strstr(msg, "malformed lane index"));
  }
}

/* ----------------------------------------------------------------- errors */

static void wat_errors_carry_line_and_column(void **state) {
  (void)state;
  expect_error("(module\n  (func\n    i32.ad))", CIS_EMALFORMED, "3:5: unknown operator i32.ad");
  expect_error("(module\n (func $f) (func $f))", CIS_EMALFORMED, "2:18: duplicate func $f");
  expect_error("(module (func (local $x i32) (local $x i32)))", CIS_EMALFORMED, "duplicate local");
  expect_error("(module (memory $m 1) (memory $m 1))", CIS_EMALFORMED, "duplicate memory");
  expect_error("(module (func) (import \"a\" \"b\" (func)))", CIS_EMALFORMED, "import after function");
  expect_error("(module (start 0) (start 0) (func))", CIS_EMALFORMED, "multiple start sections");
  expect_error("(module (func (call $g)))", CIS_EMALFORMED, "1:21: unknown func $g");
  expect_error("(module (type $t (func)) (func (type $t) (param i32)))", CIS_EMALFORMED,
               "inline function type");
  expect_error("(module (func (result i32) (param i32)))", CIS_EMALFORMED, "unexpected token");
  expect_error("(module (memory 1) (func (drop (i32.load align=3 (i32.const 0)))))", CIS_EMALFORMED,
               "alignment must be a power of two");
  /* A limit beyond 32 bits: invalid in 3.0, malformed in 2.0. */
  expect_error("(module (memory 0x1_0000_0000))", CIS_EINVALID, "1:17: memory size");
  expect_error("(module (table 1 0x1_0000_0000 funcref))", CIS_EINVALID, "1:18: table size");
  expect_error("(module (memory 0x1_0000_0000_0000_0000))", CIS_EMALFORMED, "i64 constant out of range");
  {
    uint8_t *bin = NULL;
    size_t n = 0;
    char msg[256];
    static const char t2[] = "(module (memory 0x1_0000_0000))";
    assert_int_equal(cis__wat_compile_std(t2, sizeof t2 - 1, 2, &bin, &n, msg, sizeof msg), CIS_EMALFORMED);
    assert_non_null(strstr(msg, "i32 constant out of range"));
    free(bin);
  }
  expect_error("(module (func)) (func)", CIS_EMALFORMED, "1:17: unexpected token");
  expect_error("(module (func)", CIS_EMALFORMED, "unexpected token");
  expect_error("(module (foo))", CIS_EMALFORMED, "unexpected token");
  expect_error("(module \x01)", CIS_EMALFORMED, "1:9: unexpected character");
  /* through the public API: the same message on the engine */
  cis_engine *e = NULL;
  cis_module *m = NULL;
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  const char *bad = "(module\n  (func (export \"f\") nop\n   nope))";
  assert_int_equal(cis_module_new_text(e, bad, strlen(bad), &m), CIS_EMALFORMED);
  assert_null(m);
  assert_non_null(strstr(cis_errmsg(e), "3:4: unknown operator nope"));
  /* what only the validator decides is its code: a type mismatch */
  const char *invalid = "(module (func (result i32) (i64.const 0)))";
  cis_result rc = cis_module_new_text(e, invalid, strlen(invalid), &m);
  assert_true(rc <= CIS_EINVALID && rc > CIS_EINVALID - 100);
  assert_int_equal(cis_module_new_text(e, NULL, 3, &m), CIS_EINVAL);
  assert_int_equal(cis_module_new_text(e, "", 0, NULL), CIS_EINVAL);
  assert_int_equal(cis_module_new_text(NULL, "", 0, &m), CIS_EINVAL);
  /* the empty text is the empty module */
  assert_int_equal(cis_module_new_text(e, "", 0, &m), CIS_OK);
  cis_module_free(m);
  cis_engine_free(e);
}

/* ----------------------------------------------------------------- bounds */

/* Text of `n` copies of open, then `n` of close, between head and tail. */
static char *nest(const char *head, const char *open, size_t n, const char *close, const char *tail) {
  size_t lo = strlen(open), lc = strlen(close), lh = strlen(head), lt = strlen(tail);
  char *s = malloc(lh + n * (lo + lc) + lt + 1);
  assert_non_null(s);
  char *o = s;
  memcpy(o, head, lh), o += lh;
  for (size_t i = 0; i < n; i++) memcpy(o, open, lo), o += lo;
  for (size_t i = 0; i < n; i++) memcpy(o, close, lc), o += lc;
  memcpy(o, tail, lt), o += lt;
  *o = '\0';
  return s;
}

static void wat_nesting_depth_is_bounded(void **state) {
  (void)state;
  char *deep;
  /* folded operands, plain blocks and folded blocks, far past the bound */
  deep = nest("(module (func (result i32) ", "(i32.eqz ", 200000, ")", "(i32.const 0)))");
  expect_error(deep, CIS_ETOOBIG, "nesting deeper than");
  free(deep);
  deep = nest("(module (func ", "block ", 200000, "end ", "))");
  expect_error(deep, CIS_ETOOBIG, "nesting deeper than");
  free(deep);
  deep = nest("(module (func ", "(block ", 200000, ")", "))");
  expect_error(deep, CIS_ETOOBIG, "nesting deeper than");
  free(deep);
  /* comments nest without recursion: no bound needed */
  deep = nest("(module) ", "(;", 200000, ";)", "");
  uint8_t *bin = NULL;
  size_t n = 0;
  char msg[256];
  assert_int_equal(compile(deep, &bin, &n, msg, sizeof msg), CIS_OK);
  free(bin);
  free(deep);
  /* within the bound it compiles */
  deep = nest("(module (func (result i32) ", "(i32.eqz ", 500, ")", "(i32.const 0)))");
  assert_int_equal(compile(deep, &bin, &n, msg, sizeof msg), CIS_OK);
  free(bin);
  free(deep);
}

static void wat_text_and_token_sizes_are_bounded(void **state) {
  (void)state;
  uint8_t *bin = NULL;
  size_t n = 0;
  char msg[256];
  /* the length is checked before a byte is read */
  assert_int_equal(cis__wat_compile("(module)", (size_t)CIS__WAT_MAX_TEXT + 1, &bin, &n, msg, sizeof msg),
                   CIS_ETOOBIG);
  assert_null(bin);
  assert_non_null(strstr(msg, "text too large"));
  /* one token past the token bound, in text well under the size bound:
   * refused with the position of the first token too many (the lexer's
   * array reaches its cap, 16 bytes a token, about 256 MB, then stops) */
  size_t ntok = (size_t)CIS__WAT_MAX_TOKENS + 1;
  char *many = malloc(2 * ntok + 1);
  assert_non_null(many);
  for (size_t i = 0; i < ntok; i++) many[2 * i] = '0', many[2 * i + 1] = ' ';
  many[2 * ntok] = '\0';
  assert_int_equal(cis__wat_compile(many, 2 * ntok, &bin, &n, msg, sizeof msg), CIS_ETOOBIG);
  assert_null(bin);
  char want[64];
  size_t col = 2 * (ntok - 1) + 1; /* of the token too many; columns stop at 2^24 - 1 */
  snprintf(want, sizeof want, "1:%zu: more than %u tokens", col > 0xffffff ? (size_t)0xffffff : col,
           CIS__WAT_MAX_TOKENS);
  assert_string_equal(msg, want);
  free(many);
}

/* ----------------------------------------------------------- vs wat2wasm */

static uint8_t *slurp(const char *path, size_t *len) {
  uint8_t *b = cis_test_file_read(path, len);
  if (!b) fail_msg("cannot read %s", path);
  return b;
}

/* Each fixture compiles to exactly what wat2wasm makes of it. */
static void wat_matches_wat2wasm_on_fixtures(void **state) {
  (void)state;
  static const char *const names[] = {CIS_WAT_FIXTURES};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i += 2) {
    size_t tl, bl, n = 0;
    char *text = (char *)slurp(names[i], &tl);
    uint8_t *want = slurp(names[i + 1], &bl), *got = NULL;
    char msg[256];
    cis_result rc = cis__wat_compile(text, tl, &got, &n, msg, sizeof msg);
    if (rc != CIS_OK) fail_msg("%s: %s", names[i], msg);
    if (n != bl || memcmp(got, want, n)) {
      size_t k = 0;
      while (k < n && k < bl && got[k] == want[k]) k++;
      fail_msg("%s: differs from wat2wasm at byte %zu (%zu vs %zu bytes)", names[i], k, n, bl);
    }
    free(text);
    free(want);
    free(got);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(wat_integer_literals_in_every_form),
      cmocka_unit_test(wat_extended_constant_expressions),
      cmocka_unit_test(wat_integer_literals_out_of_range_or_malformed),
      cmocka_unit_test(wat_float_literals_in_every_form),
      cmocka_unit_test(wat_float_literals_out_of_range_or_malformed),
      cmocka_unit_test(wat_strings_escapes_and_utf8),
      cmocka_unit_test(wat_string_escape_of_a_nul_is_illegal),
      cmocka_unit_test(wat_comments_nest_and_lines_count),
      cmocka_unit_test(wat_annotations_and_quoted_identifiers),
      cmocka_unit_test(wat_custom_name_and_hint_annotations),
      cmocka_unit_test(wat_abbreviations_of_functions_and_types),
      cmocka_unit_test(wat_abbreviations_of_blocks_and_labels),
      cmocka_unit_test(wat_abbreviations_of_memory_table_global_data_elem),
      cmocka_unit_test(wat_module_without_module_keyword),
      cmocka_unit_test(wat_simd_literals_and_shuffle),
      cmocka_unit_test(wat_errors_carry_line_and_column),
      cmocka_unit_test(wat_nesting_depth_is_bounded),
      cmocka_unit_test(wat_text_and_token_sizes_are_bounded),
      cmocka_unit_test(wat_matches_wat2wasm_on_fixtures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
