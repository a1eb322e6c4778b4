/*
 * This file implements the tests of 3.0's type section and GC's types in
 * validation: recursion groups, sub types and their declared supertypes,
 * struct and array types, GC's abstract heap types and their subtyping.
 * What the validator accepts and refuses (text modules); iso-recursive
 * equivalence inside a module, across modules through imports, and at
 * run time through call_indirect (structurally equal groups of two
 * modules call, different groups trap, a declared subtype calls); null
 * GC references in locals, globals and tables at run time, ref.eq on
 * them; the compiled tier runs such modules; hostile binaries (deep and
 * cyclic subtype chains, huge recursion groups) refused or validated in
 * bounded time and memory, with no recursion on the host stack.
 */
#include "runtime/rt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An interpreter engine of standard 3 (or 2). */
static cis_engine *engine_std(int standard) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "interp";
  cfg.standard = standard;
  cis_engine *e;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  return e;
}

/* Text module `text` loads on a 3.0 engine (code CIS_OK), or fails with
 * code and a message that contains msg. */
static void expect_text(const char *text, cis_result code, const char *msg) {
  cis_engine *e = engine_std(3);
  cis_module *m = NULL;
  cis_result rc = cis_module_new_text(e, text, strlen(text), &m);
  if (rc != code || (msg && !strstr(cis_errmsg(e), msg)))
    fail_msg("%s: got %s (%s), expected %s (%s)", text, cis_errname(rc), rc ? cis_errmsg(e) : "",
             cis_errname(code), msg ? msg : "");
  cis_module_free(m);
  cis_engine_free(e);
}

static void validation_accepts(void **state) {
  (void)state;
  static const char *const ok[] = {
      /* forward references inside a recursion group */
      "(module (rec (type $a (func (param (ref $b)))) (type $b (func))))",
      "(module (rec (type $l (struct (field (ref null $r)))) (type $r (array (mut (ref null $l))))))",
      "(module (rec) (rec (type (func))) (type (struct)) (type (array i8)))",
      /* struct fields: named, grouped, packed, mutable */
      "(module (type (struct (field $x i32) (field i8 (mut i16)) (field (mut f64) v128 anyref))))",
      /* declared supertypes: width and depth subtyping of fields, final */
      "(module (type $s (sub (struct (field i32)))) (type (sub final $s (struct (field i32) (field i64)))))",
      "(module (type $a (sub (struct (field anyref)))) (type (sub $a (struct (field eqref)))))",
      "(module (type $a (sub (array (mut i32)))) (type (sub $a (array (mut i32)))))",
      "(module (type $f (sub (func (param eqref) (result anyref))))"
      " (type (sub $f (func (param anyref) (result i31ref)))))",
      /* the heap types' hierarchy in locals, globals, tables, block types */
      "(module (type $s (struct)) (func (local anyref eqref i31ref structref arrayref nullref)"
      " (local.set 0 (ref.null none)) (local.set 1 (ref.null $s)) (local.set 4 (ref.null none))"
      " (local.set 0 (local.get 1)) (local.set 1 (local.get 2)) (local.set 3 (local.get 5))))",
      "(module (global funcref (ref.null nofunc)) (global externref (ref.null noextern))"
      " (global (ref null any) (ref.null none)) (table 2 anyref) (table 1 (ref null eq)))",
      "(module (type $f (func)) (func (result (ref null $f)) (ref.null nofunc))"
      " (func (result funcref) (block (result (ref null $f)) (ref.null $f))))",
      /* ref.is_null, ref.as_non_null, br_on_null over GC's references */
      "(module (type $s (struct)) (func (param (ref null $s)) (result i32)"
      " (drop (ref.as_non_null (local.get 0)))"
      " (block (br_on_null 0 (local.get 0)) (drop))"
      " (ref.is_null (local.get 0))))",
      /* a tag's type in a group; call_indirect through an equal group */
      "(module (rec (type $t1 (func)) (type $t2 (func))) (tag (type $t1))"
      " (table 1 funcref) (func (call_indirect (type $t2) (i32.const 0))))",
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) expect_text(ok[i], CIS_OK, NULL);
}

static void validation_refuses(void **state) {
  (void)state;
  static const struct {
    const char *text;
    cis_result code;
    const char *msg;
  } cases[] = {
      /* the supertype is final (as a type without sub is) */
      {"(module (type $a (struct)) (type (sub $a (struct))))", CIS_EINVALID, "sub type"},
      {"(module (type $a (sub final (struct))) (type (sub $a (struct))))", CIS_EINVALID, "sub type"},
      /* another composite type, fewer fields, a field of another type */
      {"(module (type $a (sub (struct))) (type (sub $a (array i32))))", CIS_EINVALID, "sub type"},
      {"(module (type $a (sub (struct (field i32)))) (type (sub $a (struct))))", CIS_EINVALID, "sub type"},
      {"(module (type $a (sub (struct (field i32)))) (type (sub $a (struct (field i64)))))", CIS_EINVALID,
       "sub type"},
      /* a mutable field is invariant, mutability must agree */
      {"(module (type $a (sub (struct (field (mut anyref))))) (type (sub $a (struct (field (mut eqref))))))",
       CIS_EINVALID, "sub type"},
      {"(module (type $a (sub (array i32))) (type (sub $a (array (mut i32)))))", CIS_EINVALID, "sub type"},
      /* packed i8 is no i16 */
      {"(module (type $a (sub (array i8))) (type (sub $a (array i16))))", CIS_EINVALID, "sub type"},
      /* a function's parameters are contravariant */
      {"(module (type $f (sub (func (param anyref)))) (type (sub $f (func (param eqref)))))", CIS_EINVALID,
       "sub type"},
      /* a supertype declared after its subtype, or itself */
      {"(module (type (sub 1 (struct))) (type (sub (struct))))", CIS_EINVALID, "unknown type"},
      {"(module (rec (type $a (sub $a (struct)))))", CIS_EINVALID, "unknown type"},
      /* a type of its own group names only the types before it */
      {"(module (type $a (func (param (ref $b)))) (type $b (func)))", CIS_EINVALID, "unknown type"},
      /* the hierarchies do not mix */
      {"(module (func (param anyref) (result funcref) (local.get 0)))", CIS_ETYPE, "type mismatch"},
      {"(module (func (param externref) (result anyref) (local.get 0)))", CIS_ETYPE, "type mismatch"},
      {"(module (func (param i31ref) (result structref) (local.get 0)))", CIS_ETYPE, "type mismatch"},
      {"(module (func (param eqref) (result i31ref) (local.get 0)))", CIS_ETYPE, "type mismatch"},
      {"(module (func (result (ref null func)) (ref.null none)))", CIS_ETYPE, "type mismatch"},
      {"(module (type $s (struct)) (func (result (ref null $s)) (ref.null nofunc)))", CIS_ETYPE,
       "type mismatch"},
      {"(module (type $s (struct)) (func (result (ref null $s)) (ref.null struct)))", CIS_ETYPE,
       "type mismatch"},
      {"(module (type $s (array i8)) (func (result structref) (ref.null $s)))", CIS_ETYPE, "type mismatch"},
      /* struct types are not function types */
      {"(module (type $s (struct)) (func (type $s)))", CIS_ETYPE, "not a function type"},
      {"(module (type $s (struct)) (table 1 funcref) (func (call_indirect (type $s) (i32.const 0))))",
       CIS_ETYPE, "not a function type"},
      {"(module (type $s (struct)) (func (call_ref $s (ref.null $s))))", CIS_ETYPE, "not a function type"},
      {"(module (type $s (struct)) (tag (type $s)))", CIS_ETYPE, "not a function type"},
      /* different recursion groups are different types */
      {"(module (rec (type $a (func)) (type (struct))) (type $b (func))"
       " (func (param (ref $a)) (result (ref $b)) (local.get 0)))",
       CIS_ETYPE, "type mismatch"},
      /* ref.eq takes eqrefs only */
      {"(module (func (result i32) (ref.eq (ref.null any) (ref.null none))))", CIS_ETYPE, "type mismatch"},
      {"(module (func (result i32) (ref.eq (ref.null func) (ref.null none))))", CIS_ETYPE, "type mismatch"},
      /* GC's instructions typed: a struct.new of an array type, a cast across hierarchies */
      {"(module (type $a (array i8)) (func (drop (struct.new $a))))", CIS_ETYPE, "type mismatch"},
      {"(module (func (param funcref) (drop (ref.test i31ref (local.get 0)))))", CIS_ETYPE, "type mismatch"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_text(cases[i].text, cases[i].code, cases[i].msg);
}

/* ------------------------------------------------------------ binaries */

/* A binary: the header, then the type section of body (n bytes, a count
 * first), then a function section of one function of type 0 and its
 * empty body when func. */
static uint8_t *type_section_module(const uint8_t *body, size_t n, bool func, size_t *len) {
  uint8_t *b = malloc(n + 32);
  assert_non_null(b);
  size_t k = 0;
  static const uint8_t head[8] = {0, 'a', 's', 'm', 1, 0, 0, 0};
  memcpy(b, head, 8);
  k = 8;
  b[k++] = 1;
  size_t v = n; /* the section's size, a LEB128 */
  do {
    b[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  memcpy(b + k, body, n);
  k += n;
  if (func) {
    static const uint8_t tail[] = {3, 2, 1, 0, 10, 4, 1, 2, 0, 0x0b};
    memcpy(b + k, tail, sizeof tail);
    k += sizeof tail;
  }
  *len = k;
  return b;
}

static cis_result load_bytes(cis_engine *e, const uint8_t *b, size_t n) {
  cis_module *m = NULL;
  cis_result rc = cis_module_new(e, b, n, &m);
  cis_module_free(m);
  return rc;
}

/* A LEB128 u32 at *k. */
static void put_u32(uint8_t *b, size_t *k, uint32_t v) {
  do {
    b[(*k)++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
}

/* A chain of n struct types, each (sub $previous (struct)) but the first
 * (sub (struct)); the last is final when final. */
static uint8_t *chain(uint32_t n, size_t *len) {
  uint8_t *body = malloc((size_t)n * 8 + 8);
  assert_non_null(body);
  size_t k = 0;
  put_u32(body, &k, n);
  for (uint32_t i = 0; i < n; i++) {
    body[k++] = 0x50;
    if (i == 0) {
      body[k++] = 0;
    } else {
      body[k++] = 1;
      put_u32(body, &k, i - 1);
    }
    body[k++] = 0x5f;
    body[k++] = 0;
  }
  uint8_t *b = type_section_module(body, k, false, len);
  free(body);
  return b;
}

static void hostile_binaries(void **state) {
  (void)state;
  cis_engine *e = engine_std(3);
  static const struct {
    uint8_t n;
    uint8_t b[20];
    cis_result code;
    const char *msg;
  } cases[] = {
      /* a field's mutability is 0 or 1 */
      {4, {1, 0x5e, 0x78, 2}, CIS_EMALFORMED, "malformed mutability"},
      /* a recursion group of 2^32-1 types in a few bytes: refused before
       * anything is allocated for them */
      {8, {1, 0x4e, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x5f}, CIS_EEOF, "length out of bounds"},
      /* a supertype that is the type itself, or after it (a cycle) */
      {6, {1, 0x50, 1, 0, 0x5f, 0}, CIS_EINVALID, "unknown type"},
      {13, {1, 0x4e, 2, 0x50, 1, 1, 0x5f, 0, 0x50, 1, 0, 0x5f, 0}, CIS_EINVALID, "unknown type"},
      /* a field naming a type after its group */
      {7, {2, 0x5e, 0x63, 1, 0, 0x5f, 0}, CIS_EINVALID, "unknown type"},
      /* two supertypes */
      {8, {1, 0x50, 2, 0, 0, 0x5f, 0, 0}, CIS_EINVALID, "multiple supertypes"},
      /* an unknown composite type */
      {3, {1, 0x5d, 0}, CIS_EMALFORMED, "malformed composite type"},
      /* a form byte that would continue a LEB128 (-0x20 signed) */
      {5, {1, 0xe0, 0x7f, 0, 0}, CIS_EMALFORMED, "integer representation too long"},
      /* a truncated group */
      {4, {2, 0x4e, 2, 0x5f}, CIS_EEOF, "unexpected end"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t len;
    uint8_t *b = type_section_module(cases[i].b, cases[i].n, false, &len);
    cis_result rc = load_bytes(e, b, len);
    free(b);
    if (rc != cases[i].code || !strstr(cis_errmsg(e), cases[i].msg))
      fail_msg("case %zu: got %s (%s), expected %s", i, cis_errname(rc), cis_errmsg(e), cases[i].msg);
  }
  /* a body with struct.new (0xfb 0x00): GC's instructions are in */
  static const uint8_t gc_op[] = {0, 'a', 's', 'm', 1, 0, 0, 0, 1, 6, 2, 0x5f, 0, 0x60, 0, 0,
                                  3, 2, 1, 1, 10, 8, 1, 6, 0, 0xfb, 0, 0, 0x1a, 0x0b};
  cis_result rc = load_bytes(e, gc_op, sizeof gc_op);
  if (rc != CIS_OK) fail_msg("struct.new: got %s (%s)", cis_errname(rc), cis_errmsg(e));
  /* the same types are malformed in 2.0 */
  cis_engine *e2 = engine_std(2);
  size_t len;
  /* ref.eq (0xd3) is 3.0's: an illegal opcode in 2.0 */
  static const uint8_t ref_eq[] = {0, 'a', 's', 'm', 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7f,
                                   3, 2, 1, 0, 10, 9, 1, 7, 0, 0xd0, 0x71, 0xd0, 0x71, 0xd3, 0x0b};
  assert_int_equal(load_bytes(e, ref_eq, sizeof ref_eq), CIS_OK);
  rc = load_bytes(e2, ref_eq, sizeof ref_eq);
  if (rc != CIS_EMALFORMED) fail_msg("ref.eq in 2.0: %s (%s)", cis_errname(rc), cis_errmsg(e2));
  static const uint8_t st[] = {1, 0x5f, 0};
  uint8_t *b = type_section_module(st, sizeof st, false, &len);
  assert_int_equal(load_bytes(e2, b, len), CIS_EMALFORMED);
  free(b);
  cis_engine_free(e2);
  /* subtyping 63 deep is fine, 64 deep is not */
  b = chain(64, &len);
  assert_int_equal(load_bytes(e, b, len), CIS_OK);
  free(b);
  b = chain(65, &len);
  assert_int_equal(load_bytes(e, b, len), CIS_EINVALID);
  assert_non_null(strstr(cis_errmsg(e), "deeper than 63"));
  free(b);
  cis_engine_free(e);
}

/* A recursion group of 100,000 struct types, each naming the next (the
 * last the first), twice: both groups are one, found by their hash in
 * time linear in their size, with no recursion over the chain. */
static void huge_recursion_groups(void **state) {
  (void)state;
  const uint32_t n = 100000;
  uint8_t *body = malloc((size_t)n * 2 * 8 + 16);
  assert_non_null(body);
  size_t k = 0;
  put_u32(body, &k, 2);
  for (int g = 0; g < 2; g++) {
    body[k++] = 0x4e;
    put_u32(body, &k, n);
    for (uint32_t i = 0; i < n; i++) {
      body[k++] = 0x5f;
      body[k++] = 1;
      body[k++] = 0x63;
      uint32_t next = (uint32_t)g * n + (i + 1) % n;
      uint8_t tmp[8];
      size_t t = 0;
      put_u32(tmp, &t, next);
      /* heap type: s33, so a value with bit 6 of its last byte set needs
       * another byte */
      if (tmp[t - 1] & 0x40) {
        tmp[t - 1] |= 0x80;
        tmp[t++] = 0;
      }
      memcpy(body + k, tmp, t);
      k += t;
      body[k++] = 0;
    }
  }
  size_t len;
  uint8_t *b = type_section_module(body, k, false, &len);
  free(body);
  cis_engine *e = engine_std(3);
  double t0 = rt_now_ms();
  cis_result rc = load_bytes(e, b, len);
  double ms = rt_now_ms() - t0;
  if (rc != CIS_OK) fail_msg("%s: %s", cis_errname(rc), cis_errmsg(e));
  assert_true(ms < 5000);
  free(b);
  cis_engine_free(e);
}

/* ------------------------------------------------------ across modules */

/* An instance of text on e; fails the test on error. */
static cis_instance *instantiate(cis_engine *e, const char *text, cis_imports *im, cis_module **m) {
  cis_instance *inst = NULL;
  assert_int_equal(cis_module_new_text(e, text, strlen(text), m), CIS_OK);
  cis_result rc = cis_instance_new(*m, im, NULL, &inst);
  if (rc != CIS_OK) fail_msg("%s: %s", cis_errname(rc), cis_errmsg(e));
  return inst;
}

/* Functions of types in a recursion group and one of a declared subtype,
 * in an exported table. */
static const char exporter[] =
    "(module\n"
    "  (rec (type $a (func (result i32))) (type $b (func (param (ref $a)) (result i32))))\n"
    "  (type $sup (sub (func (result i32))))\n"
    "  (type $sub (sub $sup (func (result i32))))\n"
    "  (func $fa (export \"fa\") (type $a) (i32.const 7))\n"
    "  (func $fsub (type $sub) (i32.const 9))\n"
    "  (table (export \"t\") 2 funcref)\n"
    "  (elem (i32.const 0) $fa $fsub))\n";

static void imports_and_call_indirect(void **state) {
  (void)state;
  cis_engine *e = engine_std(3);
  cis_module *em;
  cis_instance *ex = instantiate(e, exporter, NULL, &em);
  static const struct {
    const char *text;
    cis_result code;
  } imps[] = {
      /* the same group, written again: the same type */
      {"(module (rec (type $a (func (result i32))) (type (func (param (ref $a)) (result i32))))"
       " (import \"x\" \"fa\" (func (type $a))))",
       CIS_OK},
      /* the same signature, but a group of its own: another type */
      {"(module (type $a (func (result i32))) (import \"x\" \"fa\" (func (type $a))))", CIS_EIMPORTTYPE},
      /* the same group's other position */
      {"(module (rec (type (func (param (ref 1)) (result i32))) (type $a (func (result i32))))"
       " (import \"x\" \"fa\" (func (type $a))))",
       CIS_EIMPORTTYPE},
  };
  for (size_t i = 0; i < sizeof imps / sizeof imps[0]; i++) {
    cis_module *u;
    cis_imports *im;
    cis_instance *ui = NULL;
    assert_int_equal(cis_module_new_text(e, imps[i].text, strlen(imps[i].text), &u), CIS_OK);
    assert_int_equal(cis_imports_new(e, &im), CIS_OK);
    assert_int_equal(cis_imports_add_instance(im, "x", 1, ex), CIS_OK);
    cis_result rc = cis_instance_new(u, im, NULL, &ui);
    if (rc != imps[i].code) fail_msg("import %zu: got %s (%s)", i, cis_errname(rc), cis_errmsg(e));
    cis_instance_free(ui);
    cis_imports_free(im);
    cis_module_free(u);
  }
  /* call_indirect from another module through the exported table */
  static const char caller[] =
      "(module\n"
      "  (rec (type $a (func (result i32))) (type $b (func (param (ref $a)) (result i32))))\n"
      "  (type $own (func (result i32)))\n"
      "  (type $sup (sub (func (result i32))))\n"
      "  (import \"x\" \"t\" (table 2 funcref))\n"
      "  (func (export \"same\") (param i32) (result i32) (call_indirect (type $a) (local.get 0)))\n"
      "  (func (export \"other\") (param i32) (result i32) (call_indirect (type $own) (local.get 0)))\n"
      "  (func (export \"super\") (param i32) (result i32) (call_indirect (type $sup) (local.get 0))))\n";
  cis_imports *im;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_instance(im, "x", 1, ex), CIS_OK);
  cis_module *cm;
  cis_instance *ci = instantiate(e, caller, im, &cm);
  static const struct {
    const char *fn;
    int32_t slot;
    cis_result code;
    int32_t want;
  } calls[] = {
      {"same", 0, CIS_OK, 7},             /* an equal group of another module */
      {"other", 0, CIS_TRAP_SIG_MISMATCH, 0}, /* a group of its own: another type */
      {"super", 1, CIS_OK, 9},            /* a declared subtype */
      {"same", 1, CIS_TRAP_SIG_MISMATCH, 0},
      {"super", 0, CIS_TRAP_SIG_MISMATCH, 0},
  };
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    cis_func *fn = cis_instance_func(ci, calls[i].fn);
    assert_non_null(fn);
    cis_val a = {.type = CIS_I32, .of.i32 = calls[i].slot}, r;
    cis_result rc = cis_func_call(ci, fn, &a, 1, &r, 1);
    if (rc != calls[i].code) fail_msg("call %zu: got %s (%s)", i, cis_errname(rc), cis_errmsg(ci));
    if (rc == CIS_OK) assert_int_equal(r.of.i32, calls[i].want);
  }
  cis_instance_free(ci);
  cis_module_free(cm);
  cis_imports_free(im);
  cis_instance_free(ex);
  cis_module_free(em);
  cis_engine_free(e);
}

/* GC's references in locals, globals and tables of the interpreter:
 * one slot each, null the only value they hold in this part. */
static void null_gc_references_run(void **state) {
  (void)state;
  static const char text[] =
      "(module (type $s (struct (field i32)))\n"
      "  (global $g (mut (ref null $s)) (ref.null $s))\n"
      "  (table $t 2 anyref)\n"
      "  (func (export \"f\") (result i32) (local eqref)\n"
      "    (global.set $g (ref.null none))\n"
      "    (table.set $t (i32.const 1) (local.get 0))\n"
      "    (drop (table.grow $t (ref.null i31) (i32.const 3)))\n"
      "    (i32.add (i32.add (ref.is_null (local.get 0)) (ref.is_null (global.get $g)))\n"
      "      (i32.add (ref.is_null (table.get $t (i32.const 4))) (table.size $t))))\n"
      "  (func (export \"eq\") (result i32) (local (ref null $s))\n"
      "    (ref.eq (local.get 0) (ref.null i31))))\n";
  cis_engine *e = engine_std(3);
  cis_module *m;
  cis_instance *inst = instantiate(e, text, NULL, &m);
  cis_func *fn = cis_instance_func(inst, "f");
  assert_non_null(fn);
  cis_val r;
  cis_result rc = cis_func_call(inst, fn, NULL, 0, &r, 1);
  if (rc != CIS_OK) fail_msg("%s: %s", cis_errname(rc), cis_errmsg(inst));
  assert_int_equal(r.of.i32, 1 + 1 + 1 + 5);
  fn = cis_instance_func(inst, "eq");
  assert_non_null(fn);
  assert_int_equal(cis_func_call(inst, fn, NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 1); /* two nulls are equal */
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

/* The compiled tier runs modules with GC's types (test_aot_gc has their
 * instructions): a struct type, ref.eq in code no value reaches. */
static void compiled_tier_runs_gc(void **state) {
  (void)state;
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "aot";
  cis_engine *e;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  static const char *const gc[] = {"(module (type (struct)) (func))",
                                   "(module (func (export \"f\") (result i32) unreachable ref.eq))"};
  for (size_t i = 0; i < 2; i++) {
    cis_module *m = NULL;
    cis_result rc = cis_module_new_text(e, gc[i], strlen(gc[i]), &m);
    if (rc != CIS_OK) fail_msg("%s: %s: %s", gc[i], cis_errname(rc), cis_errmsg(e));
    cis_instance *inst = NULL;
    assert_int_equal(cis_instance_new(m, NULL, NULL, &inst), CIS_OK);
    cis_func *f = cis_instance_func(inst, "f");
    cis_slot r[1];
    if (f) assert_int_equal(cis_func_call_slots(inst, f, NULL, r), CIS_TRAP_UNREACHABLE);
    cis_instance_free(inst);
    cis_module_free(m);
  }
  cis_engine_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(validation_accepts),
      cmocka_unit_test(validation_refuses),
      cmocka_unit_test(hostile_binaries),
      cmocka_unit_test(huge_recursion_groups),
      cmocka_unit_test(imports_and_call_indirect),
      cmocka_unit_test(null_gc_references_run),
      cmocka_unit_test(compiled_tier_runs_gc),
  };
  return cmocka_run_group_tests(tests, rt_home_setup, rt_home_teardown);
}
