/*
 * This file implements the tests of SIMD (v128) in the compiled engine
 * ("aot"): v128 parameters and results through cis_func_call and
 * cis_func_call_slots (two slots, low half first), v128 through host
 * functions and through imports and call_indirect across the two
 * engines, a v128 global shared both ways between an interpreter instance
 * and a compiled one, out-of-bounds v128 loads and stores trapping with
 * the typed trap, the NaN and signed-zero results of f32x4.min/max, and
 * lane-indexed instructions, the SIMD prelude pasted only into the
 * C of modules that use v128, shuffles against a known zero, counts
 * of compared lanes, and the unsigned comparisons. Every module is checked to be compiled (an
 * entry in the cache), not run on the interpreter. Each test gets a fresh
 * $CIS_HOME, so each starts with an empty cache.
 */
#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "aot/aot.h"
#include "cis/cis.h"
#include "aot_test.h"

/* The same on the compiled engine, checking the module went into the
 * cache: compiled, not refused nor left to the interpreter. */
static cis_module *compiled(cis_engine *e, const char *text) {
  int before = cache_entries();
  cis_module *m = module(e, text);
  assert_int_equal(cache_entries(), before + 1);
  return m;
}

static cis_instance *instantiate(cis_engine *e, cis_module *m, cis_imports *im) {
  cis_instance *inst = NULL;
  cis_result rc = cis_instance_new(m, im, NULL, &inst);
  if (rc != CIS_OK) fail_msg("instantiate: %s: %s", cis_errname(rc), cis_errmsg(e));
  return inst;
}

static cis_val v128_val(uint64_t lo, uint64_t hi) {
  cis_val v;
  memset(&v, 0, sizeof v);
  v.type = CIS_V128;
  memcpy(v.v128, &lo, 8);
  memcpy(v.v128 + 8, &hi, 8);
  return v;
}

static cis_val i32_val(int32_t x) {
  cis_val v;
  memset(&v, 0, sizeof v);
  v.type = CIS_I32;
  v.of.i32 = x;
  return v;
}

static uint64_t lo_of(const cis_val *v) {
  uint64_t x;
  memcpy(&x, v->v128, 8);
  return x;
}
static uint64_t hi_of(const cis_val *v) {
  uint64_t x;
  memcpy(&x, v->v128 + 8, 8);
  return x;
}
static uint32_t lane32(const cis_val *v, int i) {
  uint32_t x;
  memcpy(&x, v->v128 + 4 * i, 4);
  return x;
}

/* Calls export name; results into res (n of them). */
static cis_result call(cis_instance *inst, const char *name, const cis_val *args, size_t nargs,
                       cis_val *res, size_t nres) {
  cis_func *f = cis_instance_func(inst, name);
  assert_non_null(f);
  return cis_func_call(inst, f, args, nargs, res, nres);
}

/* ------------------------------------------------------------ values */

static const char ARITH[] =
    "(module\n"
    "  (func (export \"add\") (param v128 v128) (result v128)\n"
    "    (i32x4.add (local.get 0) (local.get 1)))\n"
    /* v128 mixed with scalars, several results, a block with a v128
     * parameter and result, select and a local. */
    "  (func (export \"mix\") (param i32 v128 i64 v128) (result v128 i64 v128)\n"
    "    (local v128)\n"
    "    (local.set 4 (i64x2.add (local.get 1) (local.get 3)))\n"
    "    (local.get 1)\n"
    "    (block (param v128) (result v128) (i8x16.neg))\n"
    "    (i64.add (local.get 2) (i64.const 1))\n"
    "    (select (local.get 4) (local.get 1) (local.get 0)))\n"
    "  (func $inner (param v128) (result v128) (i64x2.add (local.get 0) (local.get 0)))\n"
    "  (func (export \"twice\") (param v128) (result v128) (call $inner (local.get 0))))\n";

static void aot_simd_v128_params_and_results(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  cis_module *m = compiled(e, ARITH);
  cis_instance *inst = instantiate(e, m, NULL);

  cis_val args[4] = {v128_val(0x0000000200000001ull, 0x0000000400000003ull),
                     v128_val(0x000000200000000full, 0xffffffff00000030ull)};
  cis_val r[3];
  assert_int_equal(call(inst, "add", args, 2, r, 1), CIS_OK);
  assert_int_equal(r[0].type, CIS_V128);
  assert_int_equal(lo_of(&r[0]), 0x0000002200000010ull);
  assert_int_equal(hi_of(&r[0]), 0x0000000300000033ull);

  args[0] = i32_val(1);
  args[1] = v128_val(1, 2);
  memset(&args[2], 0, sizeof args[2]);
  args[2].type = CIS_I64;
  args[2].of.i64 = 41;
  args[3] = v128_val(10, 20);
  assert_int_equal(call(inst, "mix", args, 4, r, 3), CIS_OK);
  /* i8x16.neg of (1, 2): the low byte of each half negated. */
  assert_int_equal(lo_of(&r[0]), 0xff);
  assert_int_equal(hi_of(&r[0]), 0xfe);
  assert_int_equal(r[1].of.i64, 42);
  assert_int_equal(lo_of(&r[2]), 11);
  assert_int_equal(hi_of(&r[2]), 22);
  args[0] = i32_val(0);
  assert_int_equal(call(inst, "mix", args, 4, r, 3), CIS_OK);
  assert_int_equal(lo_of(&r[2]), 1);
  assert_int_equal(hi_of(&r[2]), 2);

  /* The slot form: a v128 is two slots, low half first. */
  cis_slot in[2] = {{.u64 = 0x1111}, {.u64 = 0x2222}}, out[2] = {{0}};
  assert_int_equal(cis_func_call_slots(inst, cis_instance_func(inst, "twice"), in, out), CIS_OK);
  assert_int_equal(out[0].u64, 0x2222);
  assert_int_equal(out[1].u64, 0x4444);

  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

/* A host function taking and returning v128 beside scalars. */
static cis_result host_rot(cis_call *c, const cis_slot *args, cis_slot *res) {
  (void)c;
  /* (v i v) -> (v i): the halves of the first swapped, the second's low
   * half added to the low one; the i32 doubled. */
  res[0].u64 = args[1].u64 + args[3].u64;
  res[1].u64 = args[0].u64;
  res[2].u64 = (uint32_t)(args[2].u32 * 2);
  return CIS_OK;
}

/* swap comes from an instance of the other engine; type ids are the
 * process's (test_runtime_cross), so the import check and call_indirect
 * compare it by content whatever order the engines met the types in. */
static const char CALLER[] =
    "(module\n"
    "  (type $vv (func (param v128) (result v128)))\n"
    "  (import \"i\" \"swap\" (func $swap (type $vv)))\n"
    "  (import \"host\" \"rot\" (func $rot (param v128 i32 v128) (result v128 i32)))\n"
    "  (table 2 funcref)\n"
    "  (elem (i32.const 0) $swap $own)\n"
    "  (func $own (param v128) (result v128) (i64x2.sub (v128.const i64x2 0 0) (local.get 0)))\n"
    "  (func (export \"host\") (param v128 i32 v128) (result v128 i32)\n"
    "    (call $rot (local.get 0) (local.get 1) (local.get 2)))\n"
    "  (func (export \"imported\") (param v128) (result v128) (call $swap (local.get 0)))\n"
    "  (func (export \"indirect\") (param v128 i32) (result v128)\n"
    "    (call_indirect (type $vv) (local.get 0) (local.get 1))))\n";

static const char SWAPPER[] =
    "(module\n"
    "  (func (export \"swap\") (param v128) (result v128)\n"
    "    (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get 0) (local.get 0))))\n";

static void aot_simd_v128_through_host_and_imports(void **state) {
  (void)state;
  cis_engine *ei = engine("interp"), *ea = engine("aot");
  cis_module *ms = module(ei, SWAPPER);
  cis_instance *is = instantiate(ei, ms, NULL);
  cis_module *mc = compiled(ea, CALLER);
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(ea, &im), CIS_OK);
  cis_host_func_def def = {"host", "rot", "(viv)vi", host_rot, NULL, 0};
  assert_int_equal(cis_imports_add_host_funcs(im, &def, 1), CIS_OK);
  assert_int_equal(cis_imports_add_instance(im, "i", 1, is), CIS_OK);
  cis_instance *ic = instantiate(ea, mc, im);

  cis_val args[3] = {v128_val(5, 6), i32_val(21), v128_val(100, 200)}, r[2];
  assert_int_equal(call(ic, "host", args, 3, r, 2), CIS_OK);
  assert_int_equal(lo_of(&r[0]), 106);
  assert_int_equal(hi_of(&r[0]), 5);
  assert_int_equal(r[1].of.i32, 42);

  /* An interpreter function imported, and called through the table. */
  args[0] = v128_val(7, 8);
  assert_int_equal(call(ic, "imported", args, 1, r, 1), CIS_OK);
  assert_int_equal(lo_of(&r[0]), 8);
  assert_int_equal(hi_of(&r[0]), 7);
  args[1] = i32_val(0);
  assert_int_equal(call(ic, "indirect", args, 2, r, 1), CIS_OK);
  assert_int_equal(lo_of(&r[0]), 8);
  assert_int_equal(hi_of(&r[0]), 7);
  /* And compiled code of the instance itself through the table. */
  args[1] = i32_val(1);
  assert_int_equal(call(ic, "indirect", args, 2, r, 1), CIS_OK);
  assert_int_equal(lo_of(&r[0]), (uint64_t)-7);
  assert_int_equal(hi_of(&r[0]), (uint64_t)-8);

  cis_instance_free(ic);
  cis_module_free(mc);
  cis_imports_free(im);
  cis_instance_free(is);
  cis_module_free(ms);
  cis_engine_free(ea);
  cis_engine_free(ei);
}

/* ----------------------------------------------------------- globals */

static const char G_OWNER[] =
    "(module\n"
    "  (global (export \"g\") (mut v128) (v128.const i32x4 1 2 3 4))\n"
    "  (func (export \"get\") (result v128) (global.get 0))\n"
    "  (func (export \"set\") (param v128) (global.set 0 (local.get 0))))\n";

static const char G_COMPILED[] =
    "(module\n"
    "  (import \"a\" \"g\" (global $g (mut v128)))\n"
    "  (global (export \"h\") (mut v128) (v128.const i64x2 7 9))\n"
    "  (func (export \"get\") (result v128) (global.get $g))\n"
    "  (func (export \"bump\")\n"
    "    (global.set $g (i32x4.add (global.get $g) (v128.const i32x4 10 20 30 40)))\n"
    "    (global.set 1 (i64x2.mul (global.get 1) (v128.const i64x2 2 3)))))\n";

static const char G_READER[] =
    "(module\n"
    "  (import \"b\" \"h\" (global $h (mut v128)))\n"
    "  (func (export \"get\") (result v128) (global.get $h)))\n";

static void aot_simd_global_shared_with_interpreter(void **state) {
  (void)state;
  cis_engine *ei = engine("interp"), *ea = engine("aot");
  cis_module *ma = module(ei, G_OWNER);
  cis_instance *ia = instantiate(ei, ma, NULL);
  cis_imports *imb = NULL, *imc = NULL;
  assert_int_equal(cis_imports_new(ea, &imb), CIS_OK);
  assert_int_equal(cis_imports_add_instance(imb, "a", 1, ia), CIS_OK);
  cis_module *mb = compiled(ea, G_COMPILED);
  cis_instance *ib = instantiate(ea, mb, imb);
  assert_int_equal(cis_imports_new(ei, &imc), CIS_OK);
  assert_int_equal(cis_imports_add_instance(imc, "b", 1, ib), CIS_OK);
  cis_module *mc = module(ei, G_READER);
  cis_instance *ic = instantiate(ei, mc, imc);

  cis_val r;
  /* The compiled instance reads what the interpreter's holds... */
  assert_int_equal(call(ib, "get", NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(lo_of(&r), 0x0000000200000001ull);
  assert_int_equal(hi_of(&r), 0x0000000400000003ull);
  /* ...writes it, and the interpreter sees all 16 bytes. */
  assert_int_equal(call(ib, "bump", NULL, 0, NULL, 0), CIS_OK);
  assert_int_equal(call(ia, "get", NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(lane32(&r, 0), 11);
  assert_int_equal(lane32(&r, 1), 22);
  assert_int_equal(lane32(&r, 2), 33);
  assert_int_equal(lane32(&r, 3), 44);
  /* A write by the interpreter is seen by compiled code. */
  cis_val v = v128_val(0xdeadbeefcafef00dull, 0x0123456789abcdefull);
  assert_int_equal(call(ia, "set", &v, 1, NULL, 0), CIS_OK);
  assert_int_equal(call(ib, "get", NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(lo_of(&r), 0xdeadbeefcafef00dull);
  assert_int_equal(hi_of(&r), 0x0123456789abcdefull);
  /* And back: the compiled instance's own global, imported by the
   * interpreter, after compiled code wrote it. */
  assert_int_equal(call(ic, "get", NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(lo_of(&r), 14);
  assert_int_equal(hi_of(&r), 27);
  cis_extern x;
  assert_int_equal(cis_instance_export(ib, "h", 1, &x), CIS_OK);
  cis_val gv = cis_global_get(x.of.global);
  assert_int_equal(gv.type, CIS_V128);
  assert_int_equal(lo_of(&gv), 14);
  assert_int_equal(hi_of(&gv), 27);

  cis_instance_free(ic);
  cis_module_free(mc);
  cis_imports_free(imc);
  cis_instance_free(ib);
  cis_module_free(mb);
  cis_imports_free(imb);
  cis_instance_free(ia);
  cis_module_free(ma);
  cis_engine_free(ea);
  cis_engine_free(ei);
}

/* ------------------------------------------------------------ memory */

static const char MEM[] =
    "(module\n"
    "  (memory 1)\n"
    "  (func (export \"load\") (param i32) (result v128) (v128.load (local.get 0)))\n"
    "  (func (export \"load_off\") (param i32) (result v128)\n"
    "    (v128.load offset=0xfffffff0 (local.get 0)))\n"
    "  (func (export \"store\") (param i32) (v128.store (local.get 0) (v128.const i64x2 -1 -1)))\n"
    "  (func (export \"load_lane\") (param i32) (result v128)\n"
    "    (v128.load32_lane 3 (local.get 0) (v128.const i64x2 0 0)))\n"
    "  (func (export \"store_lane\") (param i32)\n"
    "    (v128.store64_lane 1 (local.get 0) (v128.const i64x2 1 2)))\n"
    "  (func (export \"load_zero\") (param i32) (result v128) (v128.load64_zero (local.get 0)))\n"
    "  (func (export \"load_splat\") (param i32) (result v128) (v128.load32_splat (local.get 0)))\n"
    "  (func (export \"load_ext\") (param i32) (result v128) (v128.load8x8_s (local.get 0))))\n";

static void expect_oob(cis_instance *inst, const char *name, int32_t addr, bool result) {
  cis_val a = i32_val(addr), r;
  cis_result rc = call(inst, name, &a, 1, &r, result ? 1 : 0);
  if (rc != CIS_TRAP_MEM_OOB)
    fail_msg("%s(%d): %s, not CIS_TRAP_MEM_OOB", name, addr, cis_errname(rc));
  assert_non_null(strstr(cis_errmsg(inst), "out of bounds memory access"));
}

static void expect_ok(cis_instance *inst, const char *name, int32_t addr, bool result) {
  cis_val a = i32_val(addr), r;
  cis_result rc = call(inst, name, &a, 1, &r, result ? 1 : 0);
  if (rc != CIS_OK) fail_msg("%s(%d): %s", name, addr, cis_errname(rc));
}

static void aot_simd_out_of_bounds_access_traps(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  cis_module *m = compiled(e, MEM);
  cis_instance *inst = instantiate(e, m, NULL);
  /* Each access fits when it ends at the memory's end, and traps one
   * byte further; an address past 4 GiB with the offset never wraps. */
  expect_ok(inst, "load", 65536 - 16, true);
  expect_oob(inst, "load", 65536 - 15, true);
  expect_oob(inst, "load", -1, true);
  expect_oob(inst, "load_off", 0x20, true);
  expect_ok(inst, "store", 65536 - 16, false);
  expect_oob(inst, "store", 65536 - 15, false);
  expect_ok(inst, "load_lane", 65536 - 4, true);
  expect_oob(inst, "load_lane", 65536 - 3, true);
  expect_ok(inst, "store_lane", 65536 - 8, false);
  expect_oob(inst, "store_lane", 65536 - 7, false);
  expect_ok(inst, "load_zero", 65536 - 8, true);
  expect_oob(inst, "load_zero", 65536 - 7, true);
  expect_ok(inst, "load_splat", 65536 - 4, true);
  expect_oob(inst, "load_splat", 65536 - 3, true);
  expect_ok(inst, "load_ext", 65536 - 8, true);
  expect_oob(inst, "load_ext", 65536 - 7, true);
  /* What the stores wrote: 16 bytes of ones, then the lane 1 value 2. */
  cis_val a = i32_val(65536 - 16), r;
  assert_int_equal(call(inst, "load", &a, 1, &r, 1), CIS_OK);
  assert_int_equal(lo_of(&r), 0xffffffffffffffffull);
  assert_int_equal(hi_of(&r), 2);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

/* ------------------------------------------------------------ floats */

static const char MINMAX[] =
    "(module\n"
    "  (func (export \"min\") (param v128 v128) (result v128) (f32x4.min (local.get 0) "
    "(local.get 1)))\n"
    "  (func (export \"max\") (param v128 v128) (result v128) (f32x4.max (local.get 0) "
    "(local.get 1))))\n";

static bool canonical_nan32(uint32_t x) { return (x & 0x7fffffffu) == 0x7fc00000u; }

static void aot_simd_f32x4_min_max_nan_and_zero(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  cis_module *m = compiled(e, MINMAX);
  cis_instance *inst = instantiate(e, m, NULL);
  /* Lanes: (NaN, 1), (1, NaN), (-0, +0), (+0, -0). */
  uint32_t a[4] = {0x7fc00000u, 0x3f800000u, 0x80000000u, 0x00000000u};
  uint32_t b[4] = {0x3f800000u, 0x7fc00000u, 0x00000000u, 0x80000000u};
  cis_val args[2];
  memset(args, 0, sizeof args);
  args[0].type = args[1].type = CIS_V128;
  memcpy(args[0].v128, a, 16);
  memcpy(args[1].v128, b, 16);
  cis_val r;
  assert_int_equal(call(inst, "min", args, 2, &r, 1), CIS_OK);
  assert_true(canonical_nan32(lane32(&r, 0)));
  assert_true(canonical_nan32(lane32(&r, 1)));
  assert_int_equal(lane32(&r, 2), 0x80000000u);
  assert_int_equal(lane32(&r, 3), 0x80000000u);
  assert_int_equal(call(inst, "max", args, 2, &r, 1), CIS_OK);
  assert_true(canonical_nan32(lane32(&r, 0)));
  assert_true(canonical_nan32(lane32(&r, 1)));
  assert_int_equal(lane32(&r, 2), 0);
  assert_int_equal(lane32(&r, 3), 0);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

/* ----------------------------------------------------------- relaxed */

/* Relaxed SIMD has one result in cis, the same on both engines: madd
 * rounds the product and the sum apart (1 + 2^-23 squared, less 1, is
 * 2^-22 so; fused it would keep the 2^-46), and the byte dot products are
 * signed by signed, wrapping in 16 bits (-128 * -128 twice is -32768). */
static const char RELAXED[] =
    "(module\n"
    "  (func (export \"madd\") (param v128 v128 v128) (result v128)\n"
    "    (f32x4.relaxed_madd (local.get 0) (local.get 1) (local.get 2)))\n"
    "  (func (export \"dot\") (param v128 v128) (result v128)\n"
    "    (i16x8.relaxed_dot_i8x16_i7x16_s (local.get 0) (local.get 1)))\n"
    "  (func (export \"dot_add\") (param v128 v128 v128) (result v128)\n"
    "    (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get 0) (local.get 1) (local.get 2))))\n";

static void relaxed_on(const char *name) {
  cis_engine *e = engine(name);
  cis_module *m = module(e, RELAXED);
  cis_instance *inst = instantiate(e, m, NULL);
  float x = 1.0f + 0x1p-23f, minus1 = -1.0f;
  uint32_t xb, mb;
  memcpy(&xb, &x, 4);
  memcpy(&mb, &minus1, 4);
  uint64_t xx = (uint64_t)xb << 32 | xb, mm = (uint64_t)mb << 32 | mb;
  cis_val args[3] = {v128_val(xx, xx), v128_val(xx, xx), v128_val(mm, mm)}, r;
  assert_int_equal(call(inst, "madd", args, 3, &r, 1), CIS_OK);
  float want = 0x1p-22f;
  uint32_t wb;
  memcpy(&wb, &want, 4);
  for (int i = 0; i < 4; i++) assert_int_equal(lane32(&r, i), wb);
  /* bytes -128 everywhere: each 16-bit lane wraps to -32768 */
  args[0] = v128_val(0x8080808080808080ull, 0x8080808080808080ull);
  args[1] = args[0];
  assert_int_equal(call(inst, "dot", args, 2, &r, 1), CIS_OK);
  assert_int_equal(lo_of(&r), 0x8000800080008000ull);
  assert_int_equal(hi_of(&r), 0x8000800080008000ull);
  /* -128 by -127 four times, plus 1: 65025 */
  args[1] = v128_val(0x8181818181818181ull, 0x8181818181818181ull);
  args[2] = v128_val(0x0000000100000001ull, 0x0000000100000001ull);
  assert_int_equal(call(inst, "dot_add", args, 3, &r, 1), CIS_OK);
  for (int i = 0; i < 4; i++) assert_int_equal(lane32(&r, i), 65025);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

static void relaxed_simd_one_result_on_both_engines(void **state) {
  (void)state;
  relaxed_on("interp");
  relaxed_on("aot");
}

/* ------------------------------------------------------------- lanes */

static const char LANES[] =
    "(module\n"
    "  (func (export \"lanes\") (param v128 i32 f64) (result i32 i32 v128)\n"
    "    (i16x8.extract_lane_s 7 (local.get 0))\n"
    "    (i8x16.extract_lane_u 1 (local.get 0))\n"
    "    (f64x2.replace_lane 1 (i16x8.replace_lane 2 (local.get 0) (local.get 1)) (local.get 2))))\n";

static void aot_simd_lane_indexed_ops(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  cis_module *m = compiled(e, LANES);
  cis_instance *inst = instantiate(e, m, NULL);
  cis_val args[3];
  args[0] = v128_val(0x00000000000081ffull, 0x8001000000000000ull);
  args[1] = i32_val(0x12345);
  memset(&args[2], 0, sizeof args[2]);
  args[2].type = CIS_F64;
  args[2].of.f64 = 1.5;
  cis_val r[3];
  assert_int_equal(call(inst, "lanes", args, 3, r, 3), CIS_OK);
  assert_int_equal(r[0].of.i32, (int32_t)(int16_t)0x8001);
  assert_int_equal(r[1].of.u32, 0x81);
  assert_int_equal(lo_of(&r[2]), 0x00002345000081ffull);
  double d;
  uint64_t hi = hi_of(&r[2]);
  memcpy(&d, &hi, 8);
  assert_true(d == 1.5);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

/* ----------------------------------------------------------- prelude */

static void aot_simd_prelude_only_for_modules_using_v128(void **state) {
  (void)state;
  cis_engine *e = engine("interp");
  /* simd.h's include guard marks the SIMD part of the prelude. */
  char *plain = generated_c(e, "(module (func (export \"f\") (result i32) (i32.const 1)))");
  assert_null(strstr(plain, "CIS_WASM_SIMD_H"));
  assert_non_null(strstr(plain, "aot_ea"));
  char *vec = generated_c(e, LANES);
  assert_non_null(strstr(vec, "CIS_WASM_SIMD_H"));
  /* A v128 only in a local, or only in an instruction, needs it too. */
  char *local = generated_c(e, "(module (func (local v128)))");
  assert_non_null(strstr(local, "CIS_WASM_SIMD_H"));
  char *instr = generated_c(e, "(module (func (result i32) (v128.any_true (v128.const i64x2 1 0))))");
  assert_non_null(strstr(instr, "CIS_WASM_SIMD_H"));
  free(instr);
  free(local);
  free(vec);
  free(plain);
  cis_engine_free(e);
}

/* ------------------------------------------------------ i16 products */

/* i32x4.mul of i16 lanes widened alike (clang's code for a sum of i16
 * products) is generated as aot_mul16 on the unwidened lanes; widenings
 * that differ (signedness, half, one operand plain) or that a merge may
 * have replaced (a block's result, select) are not. */
static const char MUL16[] =
    "(module (memory 1)\n"
    "  (func (export \"ld\") (param v128 v128) (result v128 v128 v128 v128)\n"
    "    (v128.store (i32.const 0) (local.get 0))\n"
    "    (v128.store (i32.const 16) (local.get 1))\n"
    "    (i32x4.mul (v128.load16x4_s (i32.const 0)) (v128.load16x4_s (i32.const 16)))\n"
    "    (i32x4.mul (v128.load16x4_s offset=8 (i32.const 0))\n"
    "               (v128.load16x4_s offset=8 (i32.const 16)))\n"
    "    (i32x4.mul (v128.load16x4_u (i32.const 0)) (v128.load16x4_u (i32.const 16)))\n"
    "    (i32x4.mul (v128.load16x4_u offset=8 (i32.const 0))\n"
    "               (v128.load16x4_u offset=8 (i32.const 16))))\n"
    "  (func (export \"ldat\") (param i32 i32) (result v128)\n"
    "    (i32x4.mul (v128.load16x4_s (local.get 0)) (v128.load16x4_s (local.get 1))))\n"
    "  (func (export \"ext\") (param v128 v128) (result v128 v128 v128 v128)\n"
    "    (i32x4.mul (i32x4.extend_low_i16x8_s (local.get 0)) (i32x4.extend_low_i16x8_s (local.get 1)))\n"
    "    (i32x4.mul (i32x4.extend_high_i16x8_s (local.get 0)) (i32x4.extend_high_i16x8_s (local.get 1)))\n"
    "    (i32x4.mul (i32x4.extend_low_i16x8_u (local.get 0)) (i32x4.extend_low_i16x8_u (local.get 1)))\n"
    "    (i32x4.mul (i32x4.extend_high_i16x8_u (local.get 0)) (i32x4.extend_high_i16x8_u (local.get 1))))\n"
    "  (func (export \"extmul\") (param v128 v128) (result v128 v128 v128 v128)\n"
    "    (i32x4.extmul_low_i16x8_s (local.get 0) (local.get 1))\n"
    "    (i32x4.extmul_high_i16x8_s (local.get 0) (local.get 1))\n"
    "    (i32x4.extmul_low_i16x8_u (local.get 0) (local.get 1))\n"
    "    (i32x4.extmul_high_i16x8_u (local.get 0) (local.get 1)))\n"
    "  (func (export \"mixed\") (param v128 v128) (result v128 v128 v128)\n"
    "    (i32x4.mul (i32x4.extend_low_i16x8_s (local.get 0)) (i32x4.extend_low_i16x8_u (local.get 1)))\n"
    "    (i32x4.mul (i32x4.extend_low_i16x8_s (local.get 0)) (i32x4.extend_high_i16x8_s (local.get 1)))\n"
    "    (i32x4.mul (i32x4.extend_low_i16x8_s (local.get 0)) (local.get 1)))\n"
    /* Taken, the branch leaves the widening of the third operand where
     * the widening of the second stands when it is not. */
    "  (func (export \"merge\") (param v128 v128 v128 i32) (result v128)\n"
    "    (i32x4.extend_low_i16x8_s (local.get 0))\n"
    "    (block (result v128)\n"
    "      (i32x4.extend_low_i16x8_s (local.get 1))\n"
    "      (i32x4.extend_low_i16x8_s (local.get 2))\n"
    "      (br_if 0 (local.get 3))\n"
    "      (drop))\n"
    "    (i32x4.mul))\n"
    "  (func (export \"sel\") (param v128 v128 v128 i32) (result v128)\n"
    "    (i32x4.mul (i32x4.extend_low_i16x8_s (local.get 0))\n"
    "      (select (i32x4.extend_low_i16x8_s (local.get 1)) (i32x4.extend_low_i16x8_s (local.get 2))\n"
    "              (local.get 3)))))\n";

/* Lanes at the edges: both minimums (2^30), both maximums, -1 (65535
 * unsigned: the largest unsigned product), signs mixed, zero. */
static const int16_t MA[8] = {-32768, 32767, -1, 2, 32767, -32768, 0, -2};
static const int16_t MB[8] = {-32768, 32767, -1, -3, -32768, -1, 12345, 12345};
static const int16_t MC[8] = {7, -7, 32767, -32768, 1, 1, 1, 1};

static cis_val v16(const int16_t *l) {
  uint64_t lo, hi;
  memcpy(&lo, l, 8);
  memcpy(&hi, l + 4, 8);
  return v128_val(lo, hi);
}

/* Lane i of a product of lanes a[ia + i] and b[ib + i], each read signed
 * (s) or unsigned, wrapping to 32 bits. */
static uint32_t prod(const int16_t *a, int ia, bool sa, const int16_t *b, int ib, bool sb,
                     int i) {
  uint32_t x = sa ? (uint32_t)(int32_t)a[ia + i] : (uint16_t)a[ia + i];
  uint32_t y = sb ? (uint32_t)(int32_t)b[ib + i] : (uint16_t)b[ib + i];
  return x * y;
}

static void expect_prod(const cis_val *r, const int16_t *a, int ia, bool sa, const int16_t *b,
                        int ib, bool sb) {
  for (int i = 0; i < 4; i++) assert_int_equal(lane32(r, i), prod(a, ia, sa, b, ib, sb, i));
}

static void aot_simd_i16_products_generated_as_mul16(void **state) {
  (void)state;
  cis_engine *e = engine("interp");
  char *c = generated_c(e, MUL16);
  /* ld's four, ldat's one, ext's four; extmul's four from the values;
   * none of mixed, merge or sel. Each body is written twice, for two
   * CPU levels. */
  assert_int_equal(count_of(c, "= aot_mul16(X"), 2 * 9);
  assert_int_equal(count_of(c, "= aot_mul16(v"), 2 * 4);
  /* In the x86-64-v2 body they are the SSE4.1 forms, whose widening of
   * the low lanes gcc folds with the load before it. */
  assert_non_null(strstr(c, "(AOT_V2 ? aot_mul16_v2("));
  assert_non_null(strstr(c, "(AOT_V2 ? aot_wide16_v2("));
  assert_non_null(strstr(c, "_mm_madd_epi16(_mm_cvtepu16_epi32(a), _mm_cvtepu16_epi32(b))"));
  free(c);
  cis_engine_free(e);
}

/* Sets CIS_AOT_CFLAGS to the cache's flags with the base body alone. */
static void base_body_only(void) {
  unsetenv("CIS_AOT_CFLAGS");
  char flags[1024];
  snprintf(flags, sizeof flags, "%s -DAOT_SIMD_TWO=0", cis__aot_cflags());
  setenv("CIS_AOT_CFLAGS", flags, 1);
}

static void i16_products_exact(void) {
  const char *names[2] = {"aot", "interp"};
  for (int k = 0; k < 2; k++) {
    cis_engine *e = engine(names[k]);
    cis_module *m = k == 0 ? compiled(e, MUL16) : module(e, MUL16);
    cis_instance *inst = instantiate(e, m, NULL);
    cis_val ab[2] = {v16(MA), v16(MB)}, r[4];
    assert_int_equal(call(inst, "ld", ab, 2, r, 4), CIS_OK);
    expect_prod(&r[0], MA, 0, true, MB, 0, true);
    expect_prod(&r[1], MA, 4, true, MB, 4, true);
    expect_prod(&r[2], MA, 0, false, MB, 0, false);
    expect_prod(&r[3], MA, 4, false, MB, 4, false);
    assert_int_equal(call(inst, "ext", ab, 2, r, 4), CIS_OK);
    expect_prod(&r[0], MA, 0, true, MB, 0, true);
    expect_prod(&r[1], MA, 4, true, MB, 4, true);
    expect_prod(&r[2], MA, 0, false, MB, 0, false);
    expect_prod(&r[3], MA, 4, false, MB, 4, false);
    assert_int_equal(call(inst, "extmul", ab, 2, r, 4), CIS_OK);
    expect_prod(&r[0], MA, 0, true, MB, 0, true);
    expect_prod(&r[1], MA, 4, true, MB, 4, true);
    expect_prod(&r[2], MA, 0, false, MB, 0, false);
    expect_prod(&r[3], MA, 4, false, MB, 4, false);
    assert_int_equal(call(inst, "mixed", ab, 2, r, 3), CIS_OK);
    expect_prod(&r[0], MA, 0, true, MB, 0, false);
    expect_prod(&r[1], MA, 0, true, MB, 4, true);
    for (int i = 0; i < 4; i++) {
      uint32_t bl;
      memcpy(&bl, (const char *)MB + 4 * i, 4);
      assert_int_equal(lane32(&r[2], i), (uint32_t)(int32_t)MA[i] * bl);
    }
    /* The merge and select, both ways. */
    cis_val abc[4] = {v16(MA), v16(MB), v16(MC), i32_val(1)};
    const char *fns[2] = {"merge", "sel"};
    for (int f = 0; f < 2; f++) {
      for (int cond = 0; cond < 2; cond++) {
        abc[3] = i32_val(cond);
        assert_int_equal(call(inst, fns[f], abc, 4, r, 1), CIS_OK);
        /* merge: taken (1) gives c; sel: 1 selects the first (b). */
        bool use_c = f == 0 ? cond : !cond;
        expect_prod(&r[0], MA, 0, true, use_c ? MC : MB, 0, true);
      }
    }
    /* A widened load still traps past the end, where its 8 bytes do. */
    cis_val at[2] = {i32_val(65536 - 8), i32_val(0)};
    assert_int_equal(call(inst, "ldat", at, 2, r, 1), CIS_OK);
    at[1] = i32_val(65536 - 7);
    assert_int_equal(call(inst, "ldat", at, 2, r, 1), CIS_TRAP_MEM_OOB);
    cis_instance_free(inst);
    cis_module_free(m);
    cis_engine_free(e);
  }
}

static void aot_simd_i16_products_exact_at_the_edges(void **state) {
  (void)state;
  i16_products_exact();
  /* And in the body for the architecture's base, which a CPU with
   * x86-64-v2 never runs otherwise. */
  base_body_only();
  i16_products_exact();
  unsetenv("CIS_AOT_CFLAGS");
}

/* ---------------------------------------------------------- two bodies */

static const char SHUF[] =
    "(module\n"
    "  (func (export \"shuf\") (param v128 v128) (result v128 v128)\n"
    "    (i8x16.shuffle 16 1 17 3 18 5 19 7 31 0 30 2 15 15 8 23 (local.get 0) (local.get 1))\n"
    "    (i8x16.swizzle (local.get 0) (local.get 1))))\n";

static void shuffle_exact(void) {
  cis_engine *e = engine("aot");
  cis_module *m = compiled(e, SHUF);
  cis_instance *inst = instantiate(e, m, NULL);
  uint8_t a[16], b[16], want[16];
  for (int i = 0; i < 16; i++) {
    a[i] = (uint8_t)(0xa0 + i);
    /* Indices for the swizzle: in range, 16 and past, 0xff. */
    b[i] = (uint8_t)(i < 8 ? 15 - 2 * i : i == 8 ? 16 : i == 9 ? 0xff : i == 10 ? 0x80 : i);
  }
  uint64_t lo, hi;
  memcpy(&lo, a, 8), memcpy(&hi, a + 8, 8);
  cis_val args[2];
  args[0] = v128_val(lo, hi);
  memcpy(&lo, b, 8), memcpy(&hi, b + 8, 8);
  args[1] = v128_val(lo, hi);
  cis_val r[2];
  assert_int_equal(call(inst, "shuf", args, 2, r, 2), CIS_OK);
  static const uint8_t lanes[16] = {16, 1, 17, 3, 18, 5, 19, 7, 31, 0, 30, 2, 15, 15, 8, 23};
  for (int i = 0; i < 16; i++) want[i] = lanes[i] < 16 ? a[lanes[i]] : b[lanes[i] - 16];
  assert_memory_equal(r[0].v128, want, 16);
  for (int i = 0; i < 16; i++) want[i] = b[i] < 16 ? a[b[i]] : 0;
  assert_memory_equal(r[1].v128, want, 16);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

/* A function that uses v128 is written for x86-64-v2 and for the base,
 * and the function's name picks one by the context's cpu_v2, which the
 * loader asks the CPU for once: the object asks the CPU nothing and
 * needs no ifunc (cis maps it itself). Both bodies shuffle exactly. */
static void aot_simd_functions_written_for_two_cpu_levels(void **state) {
  (void)state;
  cis_engine *e = engine("interp");
  char *c = generated_c(e, SHUF);
  assert_non_null(strstr(c, "AOT_V2_FN static struct R0 w0_v2("));
  assert_non_null(strstr(c, "AOT_V1_SC struct R0 w0_v1(")); /* static, or wN itself */
  assert_non_null(strstr(c, "return c->cpu_v2 ? w0_v2(c, dr_, L0, L1) : w0_v1(c, dr_, L0, L1);"));
  assert_null(strstr(c, "__attribute__((ifunc"));
  assert_null(strstr(c, "target_clones("));
  assert_null(strstr(c, "__builtin_cpu_supports("));
  assert_null(strstr(c, "__builtin_cpu_init("));
  free(c);
  cis_engine_free(e);
  shuffle_exact();
  base_body_only();
  shuffle_exact();
  unsetenv("CIS_AOT_CFLAGS");
}

/* ------------------------------------------- shuffles against zero */

/* i8x16.shuffle with an operand known zero (v128.const 0, or a local
 * only ever assigned one) is generated as an interleave with zero
 * (aot_zip0) where the lanes are one, else a one-operand pshufb in the
 * x86-64-v2 body; a local also assigned something else is not taken
 * for zero. Lanes from the zero operand at any index. */
static const char ZSHUF[] =
    "(module\n"
    "  (func (export \"z\") (param v128 v128)\n"
    "    (result v128 v128 v128 v128 v128 v128 v128 v128 v128)\n"
    "    (local $z v128)\n"
    "    (local.set $z (v128.const i64x2 0 0))\n"
    /* x's low bytes each before a zero (clang's byte widening). */
    "    (i8x16.shuffle 16 1 17 3 18 5 19 7 20 9 21 11 22 13 23 15 (local.get $z) (local.get 0))\n"
    "    (i8x16.shuffle 8 17 9 19 10 21 11 23 12 25 13 27 14 29 15 31 (local.get 0) (local.get $z))\n"
    "    (i8x16.shuffle 0 1 16 16 2 3 16 16 4 5 16 16 6 7 16 16 (local.get 1) (v128.const i64x2 0 0))\n"
    "    (i8x16.shuffle 8 9 31 30 10 11 29 28 12 13 27 26 14 15 25 24 (local.get 1) (local.get $z))\n"
    "    (i8x16.shuffle 16 17 18 19 0 0 0 0 20 21 22 23 1 1 1 1 (local.get $z) (local.get 0))\n"
    "    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get 1) (local.get $z))\n"
    "    (i8x16.shuffle 8 9 10 11 12 13 14 15 16 16 16 16 16 16 16 16 (local.get 0) (local.get $z))\n"
    /* Lanes mixed: no interleave. */
    "    (i8x16.shuffle 3 16 0 7 16 16 15 1 2 16 9 9 16 4 5 6 (local.get 0) (local.get $z))\n"
    /* Every lane from the zero. */
    "    (i8x16.shuffle 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 (local.get 0) (local.get $z)))\n"
    "  (func (export \"nz\") (param v128 v128 i32) (result v128)\n"
    "    (local $y v128)\n"
    "    (local.set $y (v128.const i64x2 0 0))\n"
    "    (if (local.get 2) (then (local.set $y (local.get 1))))\n"
    "    (i8x16.shuffle 16 1 17 3 18 5 19 7 20 9 21 11 22 13 23 15 (local.get $y) (local.get 0))))\n";

static const uint8_t ZLANES[9][16] = {
    {16, 1, 17, 3, 18, 5, 19, 7, 20, 9, 21, 11, 22, 13, 23, 15},
    {8, 17, 9, 19, 10, 21, 11, 23, 12, 25, 13, 27, 14, 29, 15, 31},
    {0, 1, 16, 16, 2, 3, 16, 16, 4, 5, 16, 16, 6, 7, 16, 16},
    {8, 9, 31, 30, 10, 11, 29, 28, 12, 13, 27, 26, 14, 15, 25, 24},
    {16, 17, 18, 19, 0, 0, 0, 0, 20, 21, 22, 23, 1, 1, 1, 1},
    {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23},
    {8, 9, 10, 11, 12, 13, 14, 15, 16, 16, 16, 16, 16, 16, 16, 16},
    {3, 16, 0, 7, 16, 16, 15, 1, 2, 16, 9, 9, 16, 4, 5, 6},
    {16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31},
};
/* Which operands each of z's shuffles takes: 0 (param 0), 1 (param 1),
 * Z (the zero). */
enum { ZZ = 2 };
static const int ZOPS[9][2] = {{ZZ, 0}, {0, ZZ}, {1, ZZ}, {1, ZZ}, {ZZ, 0},
                               {1, ZZ}, {0, ZZ}, {0, ZZ}, {0, ZZ}};

static void zero_shuffles_exact(void) {
  cis_engine *e = engine("aot");
  cis_module *m = compiled(e, ZSHUF);
  cis_instance *inst = instantiate(e, m, NULL);
  uint8_t in[3][16], want[16];
  for (int i = 0; i < 16; i++) {
    in[0][i] = (uint8_t)(0x81 + 7 * i);
    in[1][i] = (uint8_t)(0x40 + 13 * i);
    in[ZZ][i] = 0;
  }
  uint64_t lo, hi;
  cis_val args[3];
  for (int k = 0; k < 2; k++) {
    memcpy(&lo, in[k], 8), memcpy(&hi, in[k] + 8, 8);
    args[k] = v128_val(lo, hi);
  }
  cis_val r[9];
  assert_int_equal(call(inst, "z", args, 2, r, 9), CIS_OK);
  for (int s = 0; s < 9; s++) {
    const uint8_t *a = in[ZOPS[s][0]], *b = in[ZOPS[s][1]];
    for (int i = 0; i < 16; i++) want[i] = ZLANES[s][i] < 16 ? a[ZLANES[s][i]] : b[ZLANES[s][i] - 16];
    assert_memory_equal(r[s].v128, want, 16);
  }
  /* nz: zero, then param 1 in the local. */
  for (int taken = 0; taken < 2; taken++) {
    args[2] = i32_val(taken);
    assert_int_equal(call(inst, "nz", args, 3, r, 1), CIS_OK);
    const uint8_t *a = taken ? in[1] : in[ZZ];
    for (int i = 0; i < 16; i++) want[i] = ZLANES[0][i] < 16 ? a[ZLANES[0][i]] : in[0][ZLANES[0][i] - 16];
    assert_memory_equal(r[0].v128, want, 16);
  }
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

static void aot_simd_shuffle_with_zero_is_an_interleave(void **state) {
  (void)state;
  cis_engine *e = engine("interp");
  char *c = generated_c(e, ZSHUF);
  /* Seven interleaves and one pshufb in z, nothing in nz; each body
   * written twice. */
  assert_int_equal(count_of(c, "= aot_zip0("), 2 * 7);
  assert_int_equal(count_of(c, "= AOT_SHUFFLE0("), 2 * 1);
  assert_int_equal(count_of(c, "= v128_of(0, 0);"), 2 * 1);
  assert_int_equal(count_of(c, "= AOT_SHUFFLE("), 2 * 1);
  free(c);
  cis_engine_free(e);
  zero_shuffles_exact();
  base_body_only();
  zero_shuffles_exact();
  unsetenv("CIS_AOT_CFLAGS");
}

/* ------------------------------------------------------ spread counts */

/* clang's count of the lanes a comparison set: a shuffle spreading the
 * mask's bytes to i32 lanes, an and with i32x4 1s (a constant, or a local
 * known to hold them), an i32x4.add; generated as a subtraction of the
 * mask spread whole. Not for another constant, nor for a local assigned
 * only on one side of an if, nor across a loop's header for a local the
 * loop assigns something else (its back edge brings that in). */
static const char SPREAD[] =
    "(module\n"
    "  (func (export \"n\") (param $a v128) (param $b v128) (param $acc v128)\n"
    "    (result v128 v128 v128 v128 v128)\n"
    "    (local $k v128)\n"
    "    (i32x4.add (local.get $acc)\n"
    "      (v128.and\n"
    "        (i8x16.shuffle 0 0 0 0 1 0 0 0 2 0 0 0 3 0 0 0\n"
    "          (i8x16.eq (local.get $a) (local.get $b)) (local.get $k))\n"
    "        (local.tee $k (v128.const i32x4 1 1 1 1))))\n"
    "    (i32x4.add\n"
    "      (v128.and (local.get $k)\n"
    "        (i8x16.shuffle 16 1 2 3 20 0 0 0 31 0 0 0 7 9 9 9\n"
    "          (i8x16.lt_u (local.get $a) (local.get $b))\n"
    "          (i8x16.gt_s (local.get $a) (local.get $b))))\n"
    "      (local.get $acc))\n"
    "    (i32x4.add (local.get $acc)\n"
    "      (v128.and\n"
    "        (i8x16.shuffle 0 0 0 0 1 0 0 0 2 0 0 0 3 0 0 0\n"
    "          (i8x16.eq (local.get $a) (local.get $b)) (local.get $k))\n"
    "        (v128.const i32x4 3 1 1 1)))\n"
    /* Four bytes in a row of either operand (AOT_SPREAD8). */
    "    (i32x4.add (local.get $acc)\n"
    "      (v128.and\n"
    "        (i8x16.shuffle 8 0 0 0 9 0 0 0 10 0 0 0 11 0 0 0\n"
    "          (i8x16.ne (local.get $a) (local.get $b)) (local.get $a))\n"
    "        (local.get $k)))\n"
    "    (i32x4.add (local.get $acc)\n"
    "      (v128.and\n"
    "        (i8x16.shuffle 28 0 0 0 29 1 1 1 30 2 2 2 31 3 3 3\n"
    "          (i8x16.lt_s (local.get $a) (local.get $b))\n"
    "          (i8x16.ge_u (local.get $a) (local.get $b)))\n"
    "        (local.get $k))))\n"
    "  (func (export \"nk\") (param $a v128) (param $b v128) (param $acc v128) (param i32)\n"
    "    (result v128)\n"
    "    (local $k v128)\n"
    "    (if (local.get 3) (then (local.set $k (v128.const i32x4 1 1 1 1))))\n"
    "    (i32x4.add (local.get $acc)\n"
    "      (v128.and\n"
    "        (i8x16.shuffle 0 0 0 0 1 0 0 0 2 0 0 0 3 0 0 0\n"
    "          (i8x16.eq (local.get $a) (local.get $b)) (local.get $a))\n"
    "        (local.get $k))))\n"
    "  (func (export \"nl\") (param $a v128) (param $b v128) (param $acc v128) (param i32)\n"
    "    (result v128 v128)\n"
    "    (local $k v128) (local $j v128)\n"
    "    (loop (local.set $k (v128.const i32x4 1 1 1 1))\n"
    "          (local.set $j (v128.const i32x4 1 1 1 1)))\n"
    "    (loop (result v128 v128)\n"
    "      (i32x4.add (local.get $acc)\n"
    "        (v128.and\n"
    "          (i8x16.shuffle 0 0 0 0 1 0 0 0 2 0 0 0 3 0 0 0\n"
    "            (i8x16.eq (local.get $a) (local.get $b)) (local.get $a))\n"
    "          (local.get $k)))\n"
    "      (i32x4.add (local.get $acc)\n"
    "        (v128.and\n"
    "          (i8x16.shuffle 0 0 0 0 1 0 0 0 2 0 0 0 3 0 0 0\n"
    "            (i8x16.eq (local.get $a) (local.get $b)) (local.get $a))\n"
    "          (local.get $j)))\n"
    "      (local.set $j (local.get $b))\n"
    "      (br_if 1 (i32.eqz (local.get 3)))\n"
    "      (local.set 3 (i32.const 0))\n"
    "      (br 0)))\n"
    /* The spread of a comparison of an i32x4.splat reads its bytes 0 to
     * 3 only: the scalar in them alone (aot_low4), through i8x16.add
     * too; not when it reads others. */
    "  (func (export \"w\") (param $x i32) (param $c v128) (param $acc v128)\n"
    "    (result v128 v128 v128)\n"
    "    (local $k v128)\n"
    "    (i32x4.add (local.get $acc)\n"
    "      (v128.and\n"
    "        (i8x16.shuffle 0 0 0 0 1 0 0 0 2 0 0 0 3 0 0 0\n"
    "          (i8x16.eq (i32x4.splat (local.get $x)) (local.get $c)) (local.get $c))\n"
    "        (local.tee $k (v128.const i32x4 1 1 1 1))))\n"
    "    (i32x4.add (local.get $acc)\n"
    "      (v128.and\n"
    "        (i8x16.shuffle 0 0 0 0 1 0 0 0 2 0 0 0 3 0 0 0\n"
    "          (i8x16.lt_u\n"
    "            (i8x16.add (i32x4.splat (local.get $x)) (v128.const i32x4 0xd0d0d0d0 0 0 0))\n"
    "            (v128.const i32x4 0x0a0a0a0a 0 0 0))\n"
    "          (local.get $c))\n"
    "        (local.get $k)))\n"
    "    (i32x4.add (local.get $acc)\n"
    "      (v128.and\n"
    "        (i8x16.shuffle 4 0 0 0 1 0 0 0 2 0 0 0 7 0 0 0\n"
    "          (i8x16.eq (i32x4.splat (local.get $x)) (local.get $c)) (local.get $c))\n"
    "        (local.get $k)))))\n";

/* Bytes that compare every way, and sums at the i32 edges. */
static const uint8_t SA[16] = {0, 0x80, 0x7f, 0xff, 1, 0x80, 5, 0xfe, 0, 0x7f, 9, 0x81, 3, 3, 0xff, 0};
static const uint8_t SB[16] = {0, 0x7f, 0x80, 0xff, 2, 0x80, 4, 0x01, 0, 0x7f, 9, 0x80, 4, 3, 0, 1};
static const uint32_t SACC[3][4] = {{0, 1, 2, 3},
                                    {0x7fffffffu, 0x80000000u, 0xffffffffu, 0xfffffffeu},
                                    {0x80000001u, 0x7ffffffeu, 0, 0xffffffffu}};

/* w's scalars: digits and not, bytes equal to the vector's and not. */
static const uint32_t SX[4] = {0x3a3a3132u, 0x80ff7f00u, 0xffffffffu, 0x39303a2fu};

static void spread_counts_exact(void) {
  const char *names[2] = {"aot", "interp"};
  cis_val r[2][2][3][8], w[2][4][3];
  for (int k = 0; k < 2; k++) {
    cis_engine *e = engine(names[k]);
    cis_module *m = k == 0 ? compiled(e, SPREAD) : module(e, SPREAD);
    cis_instance *inst = instantiate(e, m, NULL);
    for (int swap = 0; swap < 2; swap++) {
      uint64_t a[2], b[2];
      memcpy(a, swap ? SB : SA, 16);
      memcpy(b, swap ? SA : SB, 16);
      for (int s = 0; s < 3; s++) {
        uint64_t acc[2];
        memcpy(acc, SACC[s], 16);
        cis_val args[4] = {v128_val(a[0], a[1]), v128_val(b[0], b[1]), v128_val(acc[0], acc[1]),
                           i32_val(s & 1)};
        assert_int_equal(call(inst, "n", args, 3, r[k][swap][s], 5), CIS_OK);
        assert_int_equal(call(inst, "nk", args, 4, &r[k][swap][s][5], 1), CIS_OK);
        assert_int_equal(call(inst, "nl", args, 4, &r[k][swap][s][6], 2), CIS_OK);
      }
    }
    for (int i = 0; i < 4; i++) {
      uint64_t acc[2];
      memcpy(acc, SACC[i % 3], 16);
      cis_val args[3] = {i32_val((int32_t)SX[i]), v128_val(0x3a3031322f2f3080ull, 0xff7f3900313a2f30ull),
                         v128_val(acc[0], acc[1])};
      assert_int_equal(call(inst, "w", args, 3, w[k][i], 3), CIS_OK);
    }
    cis_instance_free(inst);
    cis_module_free(m);
    cis_engine_free(e);
  }
  for (int swap = 0; swap < 2; swap++)
    for (int s = 0; s < 3; s++)
      for (int i = 0; i < 8; i++)
        assert_memory_equal(r[0][swap][s][i].v128, r[1][swap][s][i].v128, 16);
  for (int i = 0; i < 4; i++)
    for (int k = 0; k < 3; k++) assert_memory_equal(w[0][i][k].v128, w[1][i][k].v128, 16);
  /* One lane worked out: SA and SB are equal in byte 0, so n's first
   * result adds 1 to lane 0 of the sum. */
  assert_int_equal(lane32(&r[0][0][1][0], 0), 0x80000000u);
}

static void aot_simd_spread_count_is_a_subtraction(void **state) {
  (void)state;
  cis_engine *e = engine("interp");
  char *c = generated_c(e, SPREAD);
  /* n's first two, fourth and fifth, nl's first and w's three, in both
   * bodies; not n's third, nk's nor nl's second. */
  assert_int_equal(count_of(c, "= i32x4_sub("), 2 * 8);
  assert_non_null(strstr(c, "= AOT_SPREAD8(v"));
  /* w's first two from the scalar alone, its third from the splat. */
  assert_int_equal(count_of(c, "= AOT_SPREAD8(W"), 2 * 2);
  assert_int_equal(count_of(c, "= (AOT_SHUFFLE(v"), 2 * 2);
  free(c);
  cis_engine_free(e);
  spread_counts_exact();
  base_body_only();
  spread_counts_exact();
  unsetenv("CIS_AOT_CFLAGS");
}

/* ---------------------------------------------- unsigned comparisons */

/* i8x16, i16x8 and i32x4 lt_u and gt_u, generated as signed comparisons
 * of the lanes plus their sign bit (aot_prelude_simd.h): lanes on both
 * sides of the sign bit, equal lanes, both operand orders. */
static const char CMPU[] =
    "(module\n"
    "  (func (export \"c\") (param v128 v128) (result v128 v128 v128 v128 v128 v128)\n"
    "    (i8x16.lt_u (local.get 0) (local.get 1)) (i8x16.gt_u (local.get 0) (local.get 1))\n"
    "    (i16x8.lt_u (local.get 0) (local.get 1)) (i16x8.gt_u (local.get 0) (local.get 1))\n"
    "    (i32x4.lt_u (local.get 0) (local.get 1)) (i32x4.gt_u (local.get 0) (local.get 1))))\n";

static const uint8_t CU[4][16] = {
    {0, 0x7f, 0x80, 0xff, 1, 0xfe, 0x7e, 0x81, 0x80, 0, 0xff, 0x7f, 0, 0x80, 0xff, 1},
    {0x80, 0x80, 0x7f, 0, 0xff, 0xff, 0x7f, 0x80, 0, 0x7f, 0xfe, 0x80, 0, 0x80, 0xff, 0xfe},
    /* i32 lanes 0x7fffffff, 0x80000000, 0xffffffff, 0 (little-endian). */
    {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
    /* 0x80000000, 0x7fffffff, 0, 0xffffffff. */
    {0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff},
};
static const int CUPAIRS[5][2] = {{0, 1}, {1, 0}, {0, 0}, {2, 3}, {3, 2}};

static void unsigned_compares_exact(void) {
  const char *names[2] = {"aot", "interp"};
  cis_val r[2][5][6];
  for (int k = 0; k < 2; k++) {
    cis_engine *e = engine(names[k]);
    cis_module *m = k == 0 ? compiled(e, CMPU) : module(e, CMPU);
    cis_instance *inst = instantiate(e, m, NULL);
    for (int p = 0; p < 5; p++) {
      uint64_t a[2], b[2];
      memcpy(a, CU[CUPAIRS[p][0]], 16);
      memcpy(b, CU[CUPAIRS[p][1]], 16);
      cis_val args[2] = {v128_val(a[0], a[1]), v128_val(b[0], b[1])};
      assert_int_equal(call(inst, "c", args, 2, r[k][p], 6), CIS_OK);
    }
    cis_instance_free(inst);
    cis_module_free(m);
    cis_engine_free(e);
  }
  for (int p = 0; p < 5; p++)
    for (int i = 0; i < 6; i++) assert_memory_equal(r[0][p][i].v128, r[1][p][i].v128, 16);
  /* 0x7fffffff < 0x80000000 unsigned (not signed); 0xffffffff > 0. */
  assert_int_equal(lane32(&r[0][3][4], 0), 0xffffffffu);
  assert_int_equal(lane32(&r[0][3][5], 2), 0xffffffffu);
  assert_int_equal(lane32(&r[0][3][4], 1), 0);
}

static void aot_simd_unsigned_compares_as_signed(void **state) {
  (void)state;
  cis_engine *e = engine("interp");
  char *c = generated_c(e, CMPU);
  /* All six, in both bodies. */
  assert_int_equal(count_of(c, "= aot_i8x16_"), 2 * 2);
  assert_int_equal(count_of(c, "= aot_i16x8_"), 2 * 2);
  assert_int_equal(count_of(c, "= aot_i32x4_"), 2 * 2);
  free(c);
  cis_engine_free(e);
  unsigned_compares_exact();
  base_body_only();
  unsigned_compares_exact();
  unsetenv("CIS_AOT_CFLAGS");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(aot_simd_v128_params_and_results, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_simd_v128_through_host_and_imports, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_simd_global_shared_with_interpreter, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_simd_out_of_bounds_access_traps, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_simd_f32x4_min_max_nan_and_zero, setup, teardown),
      cmocka_unit_test_setup_teardown(relaxed_simd_one_result_on_both_engines, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_simd_lane_indexed_ops, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_simd_prelude_only_for_modules_using_v128, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(aot_simd_i16_products_generated_as_mul16, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_simd_i16_products_exact_at_the_edges, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_simd_functions_written_for_two_cpu_levels, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(aot_simd_spread_count_is_a_subtraction, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_simd_unsigned_compares_as_signed, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_simd_shuffle_with_zero_is_an_interleave, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
