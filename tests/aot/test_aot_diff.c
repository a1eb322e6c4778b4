/*
 * This file implements the regression tests of what the differential
 * fuzz target (fuzz/fuzz_diff.c: the interpreter against the compiled
 * tier on generated modules) found, each case run on both engines for
 * the same answer: ceil, floor, trunc and nearest, scalar and SIMD, in
 * code GCC compiles for size (where it calls libm instead of expanding
 * them, which an object cis loads cannot link), on the values where
 * rounding is delicate; and a module GCC 12 crashed on (an i64x2
 * comparison in a function with a try: i64x2-compare-in-try.wasm, made
 * by the target's generator), and the lane-wise i64x2 comparisons that
 * avoid it; a module it crashed on in both bodies of a function with a
 * try (simd-ops-in-try.wasm), compiled again with those functions' v128
 * values in memory. Each test gets a fresh $CIS_HOME.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sys/stat.h>

#include "aot_test.h"

/* Each export applies one rounding to the bits of its parameter and
 * returns the result's bits, so that NaNs come back exactly. */
#define R32(op) "(i32.reinterpret_f32 (" op " (f32.reinterpret_i32 (local.get 0))))"
#define R64(op) "(i64.reinterpret_f64 (" op " (f64.reinterpret_i64 (local.get 0))))"
#define V32(op) "(i32.reinterpret_f32 (f32x4.extract_lane 3 (" op " (f32x4.splat (f32.reinterpret_i32 (local.get 0))))))"
#define V64(op) "(i64.reinterpret_f64 (f64x2.extract_lane 1 (" op " (f64x2.splat (f64.reinterpret_i64 (local.get 0))))))"
#define F32(name, body) "(func (export \"" name "\") (param i32) (result i32) " body ")\n"
#define F64(name, body) "(func (export \"" name "\") (param i64) (result i64) " body ")\n"
static const char rounding_wat[] = "(module\n"
    F32("f32.ceil", R32("f32.ceil")) F32("f32.floor", R32("f32.floor"))
    F32("f32.trunc", R32("f32.trunc")) F32("f32.nearest", R32("f32.nearest"))
    F64("f64.ceil", R64("f64.ceil")) F64("f64.floor", R64("f64.floor"))
    F64("f64.trunc", R64("f64.trunc")) F64("f64.nearest", R64("f64.nearest"))
    F32("f32x4.ceil", V32("f32x4.ceil")) F32("f32x4.floor", V32("f32x4.floor"))
    F32("f32x4.trunc", V32("f32x4.trunc")) F32("f32x4.nearest", V32("f32x4.nearest"))
    F64("f64x2.ceil", V64("f64x2.ceil")) F64("f64x2.floor", V64("f64x2.floor"))
    F64("f64x2.trunc", V64("f64x2.trunc")) F64("f64x2.nearest", V64("f64x2.nearest"))
    ")";

/* Signed zeros, halves (ties of nearest), values just below and above
 * the bound past which every float is an integer (2^23, 2^52), the
 * largest finite, the smallest subnormal, infinities, quiet and
 * signalling NaNs of both signs. */
static const uint32_t F32_VALUES[] = {
    0x00000000, 0x80000000, 0x3e99999a, 0xbe99999a, 0x3f000000, 0xbf000000, 0x3effffff,
    0xbeffffff, 0x3f3fffff, 0x3f400000, 0xbf400000, 0x3fc00000, 0xbfc00000, 0x40200000,
    0xc0200000, 0x40600000, 0x3f800000, 0xbf800000, 0x4afffffe, 0x4affffff, 0xcaffffff,
    0x4b000000, 0xcb000000, 0x4b000001, 0x4b7fffff, 0x7f7fffff, 0xff7fffff, 0x00000001,
    0x80000001, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7fa00000, 0xffa00001,
    0x4effffff, 0xcf000000};
static const uint64_t F64_VALUES[] = {
    0x0000000000000000ull, 0x8000000000000000ull, 0x3fd3333333333333ull, 0xbfd3333333333333ull,
    0x3fe0000000000000ull, 0xbfe0000000000000ull, 0x3fdfffffffffffffull, 0xbfdfffffffffffffull,
    0x3ff8000000000000ull, 0xbff8000000000000ull, 0x4004000000000000ull, 0xc004000000000000ull,
    0x3ff0000000000000ull, 0xbff0000000000000ull, 0x432ffffffffffffeull, 0x432fffffffffffffull,
    0xc32fffffffffffffull, 0x4330000000000000ull, 0xc330000000000000ull, 0x4330000000000001ull,
    0x7fefffffffffffffull, 0xffefffffffffffffull, 0x0000000000000001ull, 0x8000000000000001ull,
    0x7ff0000000000000ull, 0xfff0000000000000ull, 0x7ff8000000000000ull, 0xfff8000000000000ull,
    0x7ff4000000000000ull, 0xfff4000000000001ull, 0x41dfffffffffffffull, 0xc3e0000000000000ull};

/* The compiled tier's flags with -O2 replaced by -Os: every rounding in
 * every block is then compiled for size. */
static void cflags_for_size(void) {
  char flags[512];
  const char *d = cis__aot_cflags(), *o2 = strstr(d, "-O2");
  assert_non_null(o2);
  snprintf(flags, sizeof flags, "%.*s-Os%s", (int)(o2 - d), d, o2 + 3);
  setenv("CIS_AOT_CFLAGS", flags, 1);
}

/* Calls export name on both instances with each value (64 bits when
 * wide) and asserts the same bits come back. */
static void same_on_both(cis_instance *ai, cis_instance *ci, const char *name, bool wide) {
  size_t n = wide ? sizeof F64_VALUES / 8 : sizeof F32_VALUES / 4;
  cis_func *af = cis_instance_func(ai, name), *cf = cis_instance_func(ci, name);
  assert_non_null(af);
  assert_non_null(cf);
  for (size_t i = 0; i < n; i++) {
    cis_val arg = {.type = wide ? CIS_I64 : CIS_I32};
    if (wide) arg.of.u64 = F64_VALUES[i];
    else arg.of.u32 = F32_VALUES[i];
    cis_val ra = {.type = CIS_I32}, rc = {.type = CIS_I32};
    assert_int_equal(cis_func_call(ai, af, &arg, 1, &ra, 1), CIS_OK);
    assert_int_equal(cis_func_call(ci, cf, &arg, 1, &rc, 1), CIS_OK);
    uint64_t want = wide ? ra.of.u64 : ra.of.u32, got = wide ? rc.of.u64 : rc.of.u32;
    if (want != got)
      fail_msg("%s(0x%llx): interp 0x%llx, aot 0x%llx", name, (unsigned long long)arg.of.u64,
               (unsigned long long)want, (unsigned long long)got);
  }
}

/* One module on the interpreter (i) and compiled (c), instantiated on each. */
typedef struct both {
  cis_engine *ie, *ce;
  cis_module *im, *cm;
  cis_instance *ai, *ci;
} both;

/* Loads bytes (n of them), or the text bytes when n is 0, on both
 * engines; the compiled tier must take it. */
static void both_open(both *b, const void *bytes, size_t n) {
  b->ie = engine("interp"), b->ce = engine("aot");
  b->im = b->cm = NULL;
  const char *text = bytes;
  cis_result ri = n ? cis_module_new(b->ie, bytes, n, &b->im) : cis_module_new_text(b->ie, text, strlen(text), &b->im);
  if (ri != CIS_OK) fail_msg("the interpreter refuses it: %s: %s", cis_errname(ri), cis_errmsg(b->ie));
  cis_result rc = n ? cis_module_new(b->ce, bytes, n, &b->cm) : cis_module_new_text(b->ce, text, strlen(text), &b->cm);
  if (rc != CIS_OK) fail_msg("the compiled tier refuses it: %s: %.300s", cis_errname(rc), cis_errmsg(b->ce));
  b->ai = b->ci = NULL;
  assert_int_equal(cis_instance_new(b->im, NULL, NULL, &b->ai), CIS_OK);
  assert_int_equal(cis_instance_new(b->cm, NULL, NULL, &b->ci), CIS_OK);
}

static void both_close(both *b) {
  cis_instance_free(b->ai);
  cis_instance_free(b->ci);
  cis_module_free(b->im);
  cis_module_free(b->cm);
  cis_engine_free(b->ie);
  cis_engine_free(b->ce);
}

static void rounding_on_both(void) {
  both b;
  both_open(&b, rounding_wat, 0);
  assert_int_equal(cache_entries(), 1);
  cis_instance *ai = b.ai, *ci = b.ci;
  static const char *const names[] = {"ceil", "floor", "trunc", "nearest"};
  char name[32];
  for (int k = 0; k < 4; k++) {
    snprintf(name, sizeof name, "f32.%s", names[k]);
    same_on_both(ai, ci, name, false);
    snprintf(name, sizeof name, "f64.%s", names[k]);
    same_on_both(ai, ci, name, true);
    snprintf(name, sizeof name, "f32x4.%s", names[k]);
    same_on_both(ai, ci, name, false);
    snprintf(name, sizeof name, "f64x2.%s", names[k]);
    same_on_both(ai, ci, name, true);
  }
  both_close(&b);
}

/* Compiled for size, GCC calls floorf & co. instead of expanding them (as
 * it does in the blocks of -O2 code it deems cold): the module must
 * still load, and round as the interpreter does. */
static void rounding_compiled_for_size(void **state) {
  (void)state;
  cflags_for_size();
  rounding_on_both();
  unsetenv("CIS_AOT_CFLAGS");
}

/* The same with the default flags (GCC's own expansions). */
static void rounding_compiled_for_speed(void **state) {
  (void)state;
  unsetenv("CIS_AOT_CFLAGS");
  rounding_on_both();
}

/* The bytes of the module file name in this folder (free them). */
static uint8_t *fixture(const char *name, size_t *n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", CIS_AOT_DIFF_DIR, name);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  struct stat st;
  assert_int_equal(fstat(fileno(f), &st), 0);
  uint8_t *b = malloc((size_t)st.st_size);
  assert_non_null(b);
  *n = fread(b, 1, (size_t)st.st_size, f);
  assert_int_equal(*n, (size_t)st.st_size);
  fclose(f);
  return b;
}

/* Module file name (made by the target's generator) must compile, and
 * each of its exports f0..f4 (those it has, one at least) called with
 * zeros must do what it does on the interpreter. */
static void generated_module_agrees(const char *name) {
  size_t n;
  uint8_t *bytes = fixture(name, &n);
  both b;
  both_open(&b, bytes, n);
  cis_instance *ai = b.ai, *ci = b.ci;
  unsigned called = 0;
  for (const char *const *fn = (const char *const[]){"f0", "f1", "f2", "f3", "f4", NULL}; *fn; fn++) {
    cis_func *af = cis_instance_func(ai, *fn), *cf = cis_instance_func(ci, *fn);
    assert_true(!af == !cf);
    if (!af) continue;
    called++;
    uint32_t np, nr;
    const cis_valtype *pt, *rt;
    cis_func_type(af, &np, &pt, &nr, &rt);
    cis_val args[4] = {{0}}, ra[2] = {{0}}, rb[2] = {{0}};
    assert_true(np <= 4 && nr <= 2);
    for (uint32_t i = 0; i < np; i++) args[i].type = pt[i];
    cis_result ca = cis_func_call(ai, af, args, np, ra, nr), cb = cis_func_call(ci, cf, args, np, rb, nr);
    assert_int_equal(ca, cb);
    for (uint32_t i = 0; ca == CIS_OK && i < nr; i++) {
      assert_memory_equal(&ra[i].of, &rb[i].of, sizeof ra[i].of);
      assert_memory_equal(ra[i].v128, rb[i].v128, 16);
    }
    cis_memory *ma = cis_instance_memory(ai), *mb = cis_instance_memory(ci);
    assert_int_equal(cis_memory_size(ma), cis_memory_size(mb));
    assert_memory_equal(cis_memory_data(ma), cis_memory_data(mb), cis_memory_size(ma));
  }
  assert_true(called > 0);
  both_close(&b);
  free(bytes);
}

/* GCC 12 crashed compiling the base body of a function with a try and
 * an i64x2.lt_s (its 64-bit lane compare lowered for SSE2), so the
 * compiled tier refused the module. */
static void i64x2_compare_in_try(void **state) {
  (void)state;
  generated_module_agrees("i64x2-compare-in-try.wasm");
}

/* GCC 12 crashed on other vector operations SSE2 and x86-64-v2 lack (an
 * i64x2.mul, ...) on values that live across a try, in both bodies of a
 * function: the compile made again with those values in memory
 * (AOT_TRY_SAFE) succeeds. */
static void simd_ops_in_try(void **state) {
  (void)state;
  generated_module_agrees("simd-ops-in-try.wasm");
}

/* The six i64x2 comparisons of the base body (AOT_SIMD_TWO=0: the
 * x86-64-v2 body left out), lane 0 and lane 1 apart, on the edges of
 * i64 and of its halves, against the interpreter. */
#define CMP64(op)                                                                             \
  "(func (export \"" op "\") (param i64 i64) (result i64)\n"                                   \
  "  (local v128) (local.set 2 (" op " (i64x2.replace_lane 1 (i64x2.splat (local.get 0)) (local.get 1))\n" \
  "    (i64x2.replace_lane 1 (i64x2.splat (local.get 1)) (local.get 0))))\n"                  \
  "  (i64.or (i64.and (i64x2.extract_lane 0 (local.get 2)) (i64.const 1))\n"                  \
  "    (i64.and (i64x2.extract_lane 1 (local.get 2)) (i64.const 2))))\n"
static const char cmp64_wat[] = "(module\n" CMP64("i64x2.eq") CMP64("i64x2.ne") CMP64("i64x2.lt_s")
    CMP64("i64x2.gt_s") CMP64("i64x2.le_s") CMP64("i64x2.ge_s") ")";

static void i64x2_compares_of_the_base_body(void **state) {
  (void)state;
  char flags[600];
  snprintf(flags, sizeof flags, "%s -DAOT_SIMD_TWO=0", cis__aot_cflags());
  setenv("CIS_AOT_CFLAGS", flags, 1);
  static const uint64_t V[] = {0, 1, UINT64_MAX, 0x8000000000000000ull, 0x7fffffffffffffffull,
                               0x100000000ull, 0xffffffffull, 0xffffffff00000000ull};
  static const char *const ops[] = {"i64x2.eq", "i64x2.ne", "i64x2.lt_s", "i64x2.gt_s", "i64x2.le_s",
                                    "i64x2.ge_s"};
  both b;
  both_open(&b, cmp64_wat, 0);
  assert_int_equal(cache_entries(), 1);
  cis_instance *ai = b.ai, *ci = b.ci;
  for (size_t k = 0; k < 6; k++)
    for (size_t i = 0; i < sizeof V / 8; i++)
      for (size_t j = 0; j < sizeof V / 8; j++) {
        cis_val args[2] = {{.type = CIS_I64, .of.u64 = V[i]}, {.type = CIS_I64, .of.u64 = V[j]}};
        cis_val ra = {0}, rb = {0};
        assert_int_equal(cis_func_call(ai, cis_instance_func(ai, ops[k]), args, 2, &ra, 1), CIS_OK);
        assert_int_equal(cis_func_call(ci, cis_instance_func(ci, ops[k]), args, 2, &rb, 1), CIS_OK);
        if (ra.of.u64 != rb.of.u64)
          fail_msg("%s(0x%llx, 0x%llx): interp %llu, aot %llu", ops[k], (unsigned long long)V[i],
                   (unsigned long long)V[j], (unsigned long long)ra.of.u64, (unsigned long long)rb.of.u64);
      }
  both_close(&b);
  unsetenv("CIS_AOT_CFLAGS");
}

/* Loops the compiled tier runs as a copy without checks behind one check
 * at the loop's entry (codegen.c, lp_close), in i32s so that a copy gcc
 * vectorised computes what the interpreter does. add: d[i] += 3 * s[i]
 * for i from the byte offset i up to end (step 4, until i == end);
 * add_nop, the same with a nop, which keeps it the checked loop; add64,
 * the same over 64 words, a count gcc knows (at -O2 it vectorises only
 * a loop whose count is a known multiple of the vector's lanes);
 * add_tee, add through a local set to d + i, whose load and store join
 * check groups in the checked loop; down:
 * d[i - 8] += 1 for i from i down to 4 (step -4, until i == 0), the
 * br_if on i itself; inv_store: a store at one address each iteration,
 * which keeps it checked. */
static const char LOOPS[] =
    "(module (memory 1)\n"
    "  (func (export \"add\") (param $d i32) (param $s i32) (param $i i32) (param $end i32)\n"
    "    (loop $l\n"
    "      (i32.store (i32.add (local.get $d) (local.get $i))\n"
    "        (i32.add (i32.load (i32.add (local.get $d) (local.get $i)))\n"
    "                 (i32.mul (i32.load (i32.add (local.get $s) (local.get $i))) (i32.const 3))))\n"
    "      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 4)))\n"
    "                        (local.get $end)))))\n"
    "  (func (export \"add_nop\") (param $d i32) (param $s i32) (param $i i32) (param $end i32)\n"
    "    (loop $l\n"
    "      (nop)\n"
    "      (i32.store (i32.add (local.get $d) (local.get $i))\n"
    "        (i32.add (i32.load (i32.add (local.get $d) (local.get $i)))\n"
    "                 (i32.mul (i32.load (i32.add (local.get $s) (local.get $i))) (i32.const 3))))\n"
    "      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 4)))\n"
    "                        (local.get $end)))))\n"
    "  (func (export \"add64\") (param $d i32) (param $s i32) (local $i i32)\n"
    "    (loop $l\n"
    "      (i32.store (i32.add (local.get $d) (local.get $i))\n"
    "        (i32.add (i32.load (i32.add (local.get $d) (local.get $i)))\n"
    "                 (i32.mul (i32.load (i32.add (local.get $s) (local.get $i))) (i32.const 3))))\n"
    "      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 4)))\n"
    "                        (i32.const 256)))))\n"
  "  (func (export \"add_tee\") (param $d i32) (param $s i32) (param $i i32) (param $end i32)\n"
    "    (local $a i32)\n"
    "    (loop $l\n"
    "      (i32.store (local.tee $a (i32.add (local.get $d) (local.get $i)))\n"
    "        (i32.add (i32.load (local.get $a))\n"
    "                 (i32.mul (i32.load (i32.add (local.get $s) (local.get $i))) (i32.const 3))))\n"
    "      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 4)))\n"
    "                        (local.get $end)))))\n"
    "  (func (export \"down\") (param $d i32) (param $i i32)\n"
    "    (loop $l\n"
    "      (i32.store offset=0 (i32.add (i32.add (local.get $d) (local.get $i)) (i32.const -8))\n"
    "        (i32.add (i32.load (i32.add (i32.add (local.get $d) (local.get $i)) (i32.const -8)))\n"
    "                 (i32.const 1)))\n"
    "      (br_if $l (local.tee $i (i32.add (local.get $i) (i32.const -4))))))\n"
    "  (func (export \"inv_store\") (param $d i32) (param $i i32) (param $end i32)\n"
    "    (loop $l\n"
    "      (i32.store (local.get $d) (i32.load (i32.add (local.get $d) (local.get $i))))\n"
    "      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 4)))\n"
    "                        (local.get $end)))))\n"
    /* a C library's memset and memcpy as wasm loops: gcc would make their
     * copies calls of its own (an object cis does not load) */
    "  (func (export \"zero\") (param $d i32) (param $i i32) (param $end i32)\n"
    "    (loop $l\n"
    "      (i32.store8 (i32.add (local.get $d) (local.get $i)) (i32.const 0))\n"
    "      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1)))\n"
    "                        (local.get $end)))))\n"
    "  (func (export \"copy\") (param $d i32) (param $s i32) (param $i i32) (param $end i32)\n"
    "    (loop $l\n"
    "      (i32.store8 (i32.add (local.get $d) (local.get $i))\n"
    "        (i32.load8_u (i32.add (local.get $s) (local.get $i))))\n"
    "      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1)))\n"
    "                        (local.get $end)))))\n"
    /* a sieve's marking loop: the step in a local, the bound compared with
     * lt_u (mark8: with gt_u, a constant step; mark_nop: none planned) */
    "  (func (export \"mark\") (param $d i32) (param $j i32) (param $s i32) (param $end i32)\n"
    "    (loop $l\n"
    "      (i32.store8 (i32.add (local.get $d) (local.get $j)) (i32.const 1))\n"
    "      (br_if $l (i32.lt_u (local.tee $j (i32.add (local.get $j) (local.get $s)))\n"
    "                          (local.get $end)))))\n"
    "  (func (export \"mark32\") (param $d i32) (param $j i32) (param $s i32) (param $end i32)\n"
    "    (loop $l\n"
    "      (i32.store (i32.add (local.get $d) (local.get $j)) (local.get $j))\n"
    "      (br_if $l (i32.lt_u (local.tee $j (i32.add (local.get $j) (local.get $s)))\n"
    "                          (local.get $end)))))\n"
    "  (func (export \"mark8\") (param $d i32) (param $j i32) (param $end i32)\n"
    "    (loop $l\n"
    "      (i64.store (i32.add (local.get $d) (local.get $j)) (i64.const -1))\n"
    "      (br_if $l (i32.gt_u (local.get $end)\n"
    "                          (local.tee $j (i32.add (local.get $j) (i32.const 8)))))))\n"
    "  (func (export \"mark_nop\") (param $d i32) (param $j i32) (param $s i32) (param $end i32)\n"
    "    (loop $l\n"
    "      (nop)\n"
    "      (i32.store8 (i32.add (local.get $d) (local.get $j)) (i32.const 1))\n"
    "      (br_if $l (i32.lt_u (local.tee $j (i32.add (local.get $j) (local.get $s)))\n"
    "                          (local.get $end))))))\n";

/* add, add64, add_tee, down, zero, copy, mark, mark32 and mark8 get a
 * copy, whose loop has no check and no tick; add_nop, inv_store and
 * mark_nop none. The checked loop after a copy is
 * the one written without it: add_tee's accesses at its local join check
 * groups (each checked as a member). */
static void loop_copy_only_where_planned(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  char *c = generated_c(e, LOOPS);
  assert_int_equal(count_of(c, "AOT_IVDEP\nfor ("), 9);
  for (const char *p = c; (p = strstr(p, "AOT_IVDEP\nfor (")); p++) {
    const char *q = strstr(p, "goto L");
    assert_non_null(q);
    char *copy = strndup(p, (size_t)(q - p));
    assert_int_equal(count_of(copy, "aot_ea("), 0);
    assert_int_equal(count_of(copy, "M, MS,"), 0);
    assert_int_equal(count_of(copy, "AOT_TICK"), 0);
    assert_int_equal(count_of(copy, "stp32(M + B") + count_of(copy, "stp8(M + B") +
                         count_of(copy, "stp64(M + B"),
                     1);
    free(copy);
  }
  const char *tee = strstr(c, " w3(cis_aot_ctx *c, int64_t dr_");
  assert_non_null(tee);
  tee = strstr(tee, "goto L");
  const char *tee_end = strstr(tee, "_end:;");
  assert_non_null(tee_end);
  char *checked = strndup(tee, (size_t)(tee_end - tee));
  assert_int_equal(count_of(checked, "(void)aot_ea("), 2);
  free(checked);
  free(c);
  cis_engine_free(e);
}

/* Fills memory (one page) on both with the same bytes. */
static void fill_both(both *b) {
  uint8_t *m[2] = {cis_memory_data(cis_instance_memory(b->ai)),
                   cis_memory_data(cis_instance_memory(b->ci))};
  for (uint32_t k = 0; k < 65536; k++) m[0][k] = m[1][k] = (uint8_t)(k * 7 + (k >> 8));
}

/* Calls name(args) on both: the same code, and the same memory after. */
static cis_result loop_on_both(both *b, const char *name, const uint32_t *args, size_t n) {
  cis_val a[4];
  for (size_t k = 0; k < n; k++) a[k] = (cis_val){.type = CIS_I32, .of.u32 = args[k]};
  cis_result ri = cis_func_call(b->ai, cis_instance_func(b->ai, name), a, n, NULL, 0);
  cis_result rc = cis_func_call(b->ci, cis_instance_func(b->ci, name), a, n, NULL, 0);
  if (ri != rc)
    fail_msg("%s(0x%x, 0x%x, ...): interp %s, aot %s", name, args[0], n > 1 ? args[1] : 0,
             cis_errname(ri), cis_errname(rc));
  const uint8_t *mi = cis_memory_data(cis_instance_memory(b->ai));
  const uint8_t *mc = cis_memory_data(cis_instance_memory(b->ci));
  for (uint32_t k = 0; k < 65536; k++)
    if (mi[k] != mc[k])
      fail_msg("%s(0x%x, 0x%x, ...): byte 0x%x: interp 0x%x, aot 0x%x", name, args[0],
               n > 1 ? args[1] : 0, k, mi[k], mc[k]);
  return ri;
}

static void loop_copy_traps_and_writes_as_interpreter(void **state) {
  (void)state;
  both b;
  both_open(&b, LOOPS, 0);
  fill_both(&b);
  const uint32_t P = 65536;
  struct {
    const char *name;
    uint32_t a[4];
    size_t n;
    cis_result want;
  } c[] = {
      {"add", {0x1000, 0x8000, 0, 400}, 4, CIS_OK},             /* apart, in bounds */
      {"add", {0x1000, 0x8000, 0, 4}, 4, CIS_OK},               /* one iteration */
      {"add", {0x1000, 0x1004, 0, 400}, 4, CIS_OK},             /* s one word past d */
      {"add", {0x1004, 0x1000, 0, 400}, 4, CIS_OK},             /* s one word before d */
      {"add", {0x1000, 0x1000, 0, 400}, 4, CIS_OK},             /* the same */
      {"add", {P - 400, 0x8000, 0, 400}, 4, CIS_OK},            /* d's last word is the end's */
      {"add", {P - 396, 0x8000, 0, 400}, 4, CIS_TRAP_MEM_OOB},  /* the last store past it */
      {"add", {0x1000, P - 396, 0, 400}, 4, CIS_TRAP_MEM_OOB},  /* the last load of s */
      {"add", {0x1000, 0x8000, 8, 400}, 4, CIS_OK},             /* i from 8 */
      {"add", {0x1000, 0x8000, 0, 402}, 4, CIS_TRAP_MEM_OOB},   /* never == end: i runs out */
      {"add", {0xfffffff8u, 0x8000, 8, 408}, 4, CIS_OK},        /* d + i wraps to 0 */
      {"add", {0xfffffff0u, 0x8000, 8, 408}, 4, CIS_TRAP_MEM_OOB}, /* from past the end */
      {"add", {0x8000, 0x1000, 0xffffff00u, 0x100}, 4, CIS_OK}, /* i wraps through 0 */
      {"add_nop", {P - 396, 0x8000, 0, 400}, 4, CIS_TRAP_MEM_OOB},
      {"add_tee", {0x1000, 0x8000, 0, 400}, 4, CIS_OK},
      {"add_tee", {0x1004, 0x1000, 0, 400}, 4, CIS_OK},
      {"add_tee", {P - 396, 0x8000, 0, 400}, 4, CIS_TRAP_MEM_OOB},
      {"add_tee", {0xfffffff8u, 0x8000, 8, 408}, 4, CIS_OK},
      {"add64", {0x1000, 0x8000}, 2, CIS_OK},
      {"add64", {0x1004, 0x1000}, 2, CIS_OK},                   /* s one word before d */
      {"add64", {0x1000, 0x1004}, 2, CIS_OK},                   /* s one word past d */
      {"add64", {0x1010, 0x1000}, 2, CIS_OK},                   /* four words before */
      {"add64", {0x1000, 0x1100}, 2, CIS_OK},                   /* s just past d's end */
      {"add64", {0x1100, 0x1000}, 2, CIS_OK},                   /* d just past s's end */
      {"add64", {P - 256, P - 512}, 2, CIS_OK},
      {"add64", {P - 252, 0x8000}, 2, CIS_TRAP_MEM_OOB},        /* the last store */
      {"down", {0x2000, 64}, 2, CIS_OK},
      {"down", {4, 64}, 2, CIS_OK},                             /* down to byte 0 */
      {"down", {0, 64}, 2, CIS_TRAP_MEM_OOB},                   /* the last wraps below 0 */
      {"down", {P - 48, 64}, 2, CIS_TRAP_MEM_OOB},              /* the first past the end */
      {"inv_store", {0x1000, 0, 64}, 3, CIS_OK},
      {"inv_store", {0x1000, 0, 0x10000}, 3, CIS_TRAP_MEM_OOB},
      {"zero", {0x1000, 0, 3000}, 3, CIS_OK},
      {"zero", {P - 100, 0, 101}, 3, CIS_TRAP_MEM_OOB},
      {"copy", {0x1000, 0x4000, 0, 3000}, 4, CIS_OK},
      {"copy", {0x1001, 0x1000, 0, 3000}, 4, CIS_OK},           /* overlapping: byte by byte */
      {"copy", {P - 100, 0x1000, 0, 101}, 4, CIS_TRAP_MEM_OOB},
      {"mark", {0x1000, 0, 3, 3000}, 4, CIS_OK},
      {"mark", {0x1000, 5, 1, 5}, 4, CIS_OK},                   /* j at the bound: once */
      {"mark", {0x1000, 9, 1, 5}, 4, CIS_OK},                   /* j past it: once */
      {"mark", {P - 100, 0, 7, 99}, 4, CIS_OK},                 /* the last at P - 2 */
      {"mark", {P - 100, 0, 7, 106}, 4, CIS_TRAP_MEM_OOB},      /* the last at P + 5 */
      {"mark", {P - 100, 0, 100, 101}, 4, CIS_TRAP_MEM_OOB},    /* the second at P */
      {"mark", {0xfffff000u, 0x1000, 1, 0x1100}, 4, CIS_OK},    /* d + j wraps to 0 */
      {"mark", {0xfffff000u, 0xff0, 1, 0x1100}, 4, CIS_TRAP_MEM_OOB}, /* from past the end */
      {"mark", {0x1000, 0xfffffff0u, 8, 0xfffffffcu}, 4, CIS_TRAP_MEM_OOB}, /* j wraps */
      {"mark", {0x1000, 0, 0x80000000u, 0xffffffffu}, 4, CIS_TRAP_MEM_OOB}, /* a step < 0 */
      {"mark32", {0x1000, 0, 4, 400}, 4, CIS_OK},
      {"mark32", {0x1000, 0, 2, 400}, 4, CIS_OK},               /* stores overlap: in turn */
      {"mark32", {0x1000, 0, 3, 400}, 4, CIS_OK},
      {"mark32", {P - 404, 0, 4, 400}, 4, CIS_OK},
      {"mark32", {P - 398, 0, 4, 400}, 4, CIS_TRAP_MEM_OOB},    /* the last store's end */
      {"mark8", {0x1000, 0, 400}, 3, CIS_OK},
      {"mark8", {0x1000, 0, 401}, 3, CIS_OK},
      {"mark8", {P - 408, 0, 401}, 3, CIS_OK},                  /* j = 400 < 401: to P */
      {"mark8", {P - 404, 0, 401}, 3, CIS_TRAP_MEM_OOB},        /* to P + 4 */
      {"mark8", {P - 404, 0, 400}, 3, CIS_OK},
      {"mark_nop", {P - 100, 0, 7, 106}, 4, CIS_TRAP_MEM_OOB},
  };
  for (size_t k = 0; k < sizeof c / sizeof c[0]; k++)
    assert_int_equal(loop_on_both(&b, c[k].name, c[k].a, c[k].n), c[k].want);
  both_close(&b);
}

/* The compiled engine's fuel counts a loop's iterations (docs/aot.md;
 * the entry of a function that calls nothing is not charged): the copy
 * charges them at its entry when they all fit, and otherwise
 * the checked loop runs and stops at the same iteration as a loop that
 * never had a copy (add_nop), with the same stores done. */
static void loop_copy_charges_fuel_as_checked_loop(void **state) {
  (void)state;
  both b;
  both_open(&b, LOOPS, 0);
  const uint32_t n = 100; /* iterations */
  uint64_t budgets[] = {n - 1, n, n + 1, n + 2, 20000, 20001, 50000};
  for (size_t k = 0; k < sizeof budgets / sizeof budgets[0]; k++) {
    cis_result rc[2];
    uint64_t left[2];
    uint8_t mem[2][0x400];
    const char *names[2] = {"add", "add_nop"};
    for (int v = 0; v < 2; v++) {
      cis_limits l;
      cis_instance_get_limits(b.ci, &l);
      l.fuel = budgets[k];
      cis_instance_set_limits(b.ci, &l);
      uint8_t *m = cis_memory_data(cis_instance_memory(b.ci));
      memset(m, 0, 0x800);
      for (uint32_t i = 0; i < 0x400; i++) m[0x400 + i] = (uint8_t)i;
      cis_val a[4] = {{.type = CIS_I32, .of.u32 = 0}, {.type = CIS_I32, .of.u32 = 0x400},
                      {.type = CIS_I32, .of.u32 = 0}, {.type = CIS_I32, .of.u32 = 4 * n}};
      rc[v] = cis_func_call(b.ci, cis_instance_func(b.ci, names[v]), a, 4, NULL, 0);
      left[v] = cis_instance_fuel_left(b.ci);
      memcpy(mem[v], m, sizeof mem[v]);
    }
    if (rc[0] != rc[1] || left[0] != left[1])
      fail_msg("fuel %llu: add %s (%llu left), add_nop %s (%llu left)",
               (unsigned long long)budgets[k], cis_errname(rc[0]), (unsigned long long)left[0],
               cis_errname(rc[1]), (unsigned long long)left[1]);
    assert_int_equal(rc[0], budgets[k] >= n ? CIS_OK : CIS_EFUEL);
    assert_memory_equal(mem[0], mem[1], sizeof mem[0]);
  }
  both_close(&b);
}

/* A loop of the lt form runs its copy in chunks of the ticks left
 * (lp_close): it stops for fuel at the same iteration as a loop without
 * a copy (mark_nop), with the same stores done and the same fuel left,
 * over several of the runtime's tick quanta (20,000) and their edges;
 * a step of 0 never ends on either. */
static void loop_lt_copy_charges_fuel_in_chunks(void **state) {
  (void)state;
  both b;
  both_open(&b, LOOPS, 0);
  const uint32_t n = 60000; /* iterations */
  struct {
    uint64_t fuel;
    uint32_t step;
  } c[] = {{n - 1, 1}, {n, 1},         {n + 1, 1},     {n + 2, 1},     {19999, 1},
           {20000, 1}, {20001, 1},     {20002, 1},     {40001, 1},     {50000, 1},
           {100000, 1}, {30000, 2},    {30001, 2},     {1000, 0},      {25000, 0}};
  uint8_t *mem[2] = {malloc(65536), malloc(65536)};
  assert_non_null(mem[0]);
  assert_non_null(mem[1]);
  for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
    cis_result rc[2];
    uint64_t left[2];
    const char *names[2] = {"mark", "mark_nop"};
    for (int v = 0; v < 2; v++) {
      cis_limits l;
      cis_instance_get_limits(b.ci, &l);
      l.fuel = c[k].fuel;
      cis_instance_set_limits(b.ci, &l);
      uint8_t *m = cis_memory_data(cis_instance_memory(b.ci));
      memset(m, 0, 65536);
      cis_val a[4] = {{.type = CIS_I32, .of.u32 = 0}, {.type = CIS_I32, .of.u32 = 0},
                      {.type = CIS_I32, .of.u32 = c[k].step}, {.type = CIS_I32, .of.u32 = n}};
      rc[v] = cis_func_call(b.ci, cis_instance_func(b.ci, names[v]), a, 4, NULL, 0);
      left[v] = cis_instance_fuel_left(b.ci);
      memcpy(mem[v], m, 65536);
    }
    if (rc[0] != rc[1] || left[0] != left[1])
      fail_msg("fuel %llu, step %u: mark %s (%llu left), mark_nop %s (%llu left)",
               (unsigned long long)c[k].fuel, c[k].step, cis_errname(rc[0]),
               (unsigned long long)left[0], cis_errname(rc[1]), (unsigned long long)left[1]);
    uint32_t iters = c[k].step ? (n + c[k].step - 1) / c[k].step : UINT32_MAX;
    assert_int_equal(rc[0], c[k].fuel >= iters ? CIS_OK : CIS_EFUEL);
    assert_memory_equal(mem[0], mem[1], 65536);
  }
  free(mem[0]);
  free(mem[1]);
  both_close(&b);
}

/* Bounds at the edges (aot_ea: the address plus the access's width
 * against the size; a check group: its local's value against the size
 * less its extent, or plus it in a function that uses v128), the size
 * re-read where memory grows: in the loop itself, and in a callee. A
 * memory of 0 pages is smaller than any access: the size less the
 * extent is below zero there. */
static const char EDGES[] =
    "(module (memory 1 4)\n"
    "  (func $grow (drop (memory.grow (i32.const 1))))\n"
    "  (func (export \"ld32\") (param $a i32) (result i64) (i64.extend_i32_u (i32.load (local.get $a))))\n"
    "  (func (export \"ld32_off\") (param $a i32) (result i64)\n"
    "    (i64.extend_i32_u (i32.load offset=0xfff0 (local.get $a))))\n"
    "  (func (export \"ld64\") (param $a i32) (result i64) (i64.load (local.get $a)))\n"
    "  (func (export \"ld8\") (param $a i32) (result i64) (i64.load8_u (local.get $a)))\n"
    "  (func (export \"st16\") (param $a i32) (result i64) (i32.store16 (local.get $a) (i32.const 0x5a5a))\n"
    "    (i64.const 0))\n"
    /* in functions that use v128 */
    "  (func (export \"ldv\") (param $a i32) (result i64) (i64x2.extract_lane 1 (v128.load (local.get $a))))\n"
    "  (func (export \"ldv32\") (param $a i32) (result i64) (local v128)\n"
    "    (i64.extend_i32_u (i32.load (local.get $a))))\n"
    "  (func (export \"group\") (param $a i32) (result i64)\n"
    "    (i32.store offset=8 (local.get $a) (i32.const 0x11111111))\n"
    "    (i64.extend_i32_u (i32.add (i32.load (local.get $a)) (i32.load offset=12 (local.get $a)))))\n"
    /* each pass grows memory by a page and touches the last word of the
     * new size: an access past the size the function read before */
    "  (func (export \"grow_loop\") (param $n i32) (result i64) (local $i i32) (local $s i32) (local $e i32)\n"
    "    (loop $l\n"
    "      (drop (memory.grow (i32.const 1)))\n"
    "      (local.set $e (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 4)))\n"
    "      (i32.store (local.get $e) (i32.add (local.get $i) (i32.const 7)))\n"
    "      (local.set $s (i32.add (local.get $s) (i32.load (local.get $e))))\n"
    "      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))\n"
    "    (i64.extend_i32_u (local.get $s)))\n"
    "  (func (export \"grow_callee\") (param $n i32) (result i64) (local $i i32) (local $s i32)\n"
    "    (loop $l\n"
    "      (call $grow)\n"
    "      (local.set $s (i32.add (local.get $s)\n"
    "        (i32.load (i32.add (i32.shl (local.get $i) (i32.const 16)) (i32.const 0xfffc)))))\n"
    "      (i32.store (i32.shl (i32.add (local.get $i) (i32.const 1)) (i32.const 16)) (local.get $i))\n"
    "      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))\n"
    "    (i64.extend_i32_u (local.get $s))))\n";

/* Calls name(a) on both: the same code, result and memory (its size
 * and every byte). */
static cis_result edge_on_both(both *b, const char *name, uint32_t a) {
  cis_val arg = {.type = CIS_I32, .of.u32 = a};
  cis_val r[2] = {{.type = CIS_I64}, {.type = CIS_I64}};
  cis_result ri = cis_func_call(b->ai, cis_instance_func(b->ai, name), &arg, 1, &r[0], 1);
  cis_result rc = cis_func_call(b->ci, cis_instance_func(b->ci, name), &arg, 1, &r[1], 1);
  if (ri != rc || (ri == CIS_OK && r[0].of.u64 != r[1].of.u64))
    fail_msg("%s(0x%x): interp %s 0x%llx, aot %s 0x%llx", name, a, cis_errname(ri),
             (unsigned long long)r[0].of.u64, cis_errname(rc), (unsigned long long)r[1].of.u64);
  cis_memory *m[2] = {cis_instance_memory(b->ai), cis_instance_memory(b->ci)};
  assert_int_equal(cis_memory_size(m[0]), cis_memory_size(m[1]));
  if (cis_memory_size(m[0]))
    assert_memory_equal(cis_memory_data(m[0]), cis_memory_data(m[1]), cis_memory_size(m[0]));
  return ri;
}

static void bounds_at_the_edges_as_interpreter(void **state) {
  (void)state;
  both b;
  both_open(&b, EDGES, 0);
  fill_both(&b);
  const uint32_t P = 65536;
  struct {
    const char *name;
    uint32_t a;
    cis_result want;
  } c[] = {
      {"ld32", P - 4, CIS_OK},           {"ld32", P - 3, CIS_TRAP_MEM_OOB},
      {"ld32", 0xffffffffu, CIS_TRAP_MEM_OOB},
      {"ld32_off", P - 0xfff0 - 4, CIS_OK}, {"ld32_off", P - 0xfff0 - 3, CIS_TRAP_MEM_OOB},
      {"ld32_off", 0xffffffffu, CIS_TRAP_MEM_OOB},
      {"ld64", P - 8, CIS_OK},           {"ld64", P - 7, CIS_TRAP_MEM_OOB},
      {"ld8", P - 1, CIS_OK},            {"ld8", P, CIS_TRAP_MEM_OOB},
      {"st16", P - 2, CIS_OK},           {"st16", P - 1, CIS_TRAP_MEM_OOB},
      {"ldv", P - 16, CIS_OK},           {"ldv", P - 15, CIS_TRAP_MEM_OOB},
      {"ldv32", P - 4, CIS_OK},          {"ldv32", P - 3, CIS_TRAP_MEM_OOB},
      {"group", P - 16, CIS_OK},         {"group", P - 15, CIS_TRAP_MEM_OOB}, /* its store done */
      {"group", P - 11, CIS_TRAP_MEM_OOB}, /* the store traps first */
      {"group", 0xfffffffcu, CIS_TRAP_MEM_OOB},
      {"grow_loop", 3, CIS_OK},          /* to 4 pages, the last word of each new one */
      {"grow_loop", 2, CIS_OK},          /* at the maximum: no growth, the same word */
      {"grow_callee", 3, CIS_OK},
  };
  for (size_t k = 0; k < sizeof c / sizeof c[0]; k++)
    assert_int_equal(edge_on_both(&b, c[k].name, c[k].a), c[k].want);
  both_close(&b);
  /* From one page, the callee's growth lets each pass reach a page the
   * caller did not have when it last read the size. */
  both_open(&b, EDGES, 0);
  assert_int_equal(edge_on_both(&b, "grow_callee", 3), CIS_OK);
  both_close(&b);
  both_open(&b, "(module (memory 0 1)\n"
                "  (func (export \"ld32\") (param $a i32) (result i64) (i64.load32_u (local.get $a)))\n"
                "  (func (export \"ld8\") (param $a i32) (result i64) (i64.load8_u (local.get $a)))\n"
                "  (func (export \"ldv\") (param $a i32) (result i64)\n"
                "    (i64x2.extract_lane 0 (v128.load (local.get $a))))\n"
                "  (func (export \"group\") (param $a i32) (result i64)\n"
                "    (i64.add (i64.load (local.get $a)) (i64.load offset=8 (local.get $a)))))",
            0);
  const char *none[] = {"ld32", "ld8", "ldv", "group"};
  for (size_t k = 0; k < sizeof none / sizeof none[0]; k++) {
    assert_int_equal(edge_on_both(&b, none[k], 0), CIS_TRAP_MEM_OOB);
    assert_int_equal(edge_on_both(&b, none[k], 0xfffffff8u), CIS_TRAP_MEM_OOB);
  }
  both_close(&b);
}

/* The tick's slow path keeps every register (aot_tick_tramp): a loop of
 * more iterations than a tick quantum (20,000) passes it several times
 * with a dozen integer and float values live, more than the registers a
 * call keeps, and must end with the interpreter's result, though the
 * runtime behind it (a wait callback) writes every register a call may;
 * with a fuel budget, each pass through the slow path charges the next
 * quantum. */
static const char LIVE[] =
    "(module (memory 1)\n"
    "  (func (export \"live\") (param $n i32) (result i64)\n"
    "    (local $i i32) (local $a i64) (local $b i64) (local $c i64) (local $d i64)\n"
    "    (local $e i64) (local $f i64) (local $g i64) (local $h i64) (local $x f64) (local $y f64)\n"
    "    (local $z f32) (local $j i32) (local $k i32)\n"
    "    (local.set $b (i64.const 0x9e3779b97f4a7c15)) (local.set $x (f64.const 1.5))\n"
    "    (loop $l\n"
    "      (local.set $a (i64.add (local.get $a) (i64.extend_i32_u (local.get $i))))\n"
    "      (local.set $b (i64.xor (local.get $b) (i64.shl (local.get $a) (i64.const 3))))\n"
    "      (local.set $c (i64.add (local.get $c) (i64.mul (local.get $b) (i64.const 5))))\n"
    "      (local.set $d (i64.rotl (i64.xor (local.get $d) (local.get $c)) (i64.const 7)))\n"
    "      (local.set $e (i64.sub (local.get $e) (local.get $d)))\n"
    "      (local.set $f (i64.add (local.get $f) (i64.rotr (local.get $e) (local.get $a))))\n"
    "      (local.set $g (i64.xor (local.get $g) (i64.add (local.get $f) (local.get $b))))\n"
    "      (local.set $h (i64.add (local.get $h) (i64.mul (local.get $g) (local.get $c))))\n"
    "      (local.set $j (i32.add (local.get $j) (i32.wrap_i64 (local.get $h))))\n"
    "      (local.set $k (i32.xor (local.get $k) (i32.rotl (local.get $j) (local.get $i))))\n"
    "      (local.set $x (f64.add (f64.mul (local.get $x) (f64.const 0.999)) (f64.convert_i32_u (local.get $i))))\n"
    "      (local.set $y (f64.add (local.get $y) (f64.mul (local.get $x) (f64.const 0.5))))\n"
    "      (local.set $z (f32.add (local.get $z) (f32.demote_f64 (local.get $x))))\n"
    "      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))\n"
    "    (i64.xor (i64.xor (i64.xor (local.get $a) (local.get $b)) (i64.xor (local.get $c) (local.get $d)))\n"
    "      (i64.xor (i64.xor (i64.xor (local.get $e) (local.get $f)) (i64.xor (local.get $g) (local.get $h)))\n"
    "        (i64.xor (i64.xor (i64.extend_i32_u (local.get $j)) (i64.extend_i32_u (local.get $k)))\n"
    "          (i64.xor (i64.xor (i64.reinterpret_f64 (local.get $x)) (i64.reinterpret_f64 (local.get $y)))\n"
    "            (i64.extend_i32_u (i32.reinterpret_f32 (local.get $z))))))))\n"
    /* one word per iteration, i + 1 at word i */
    "  (func (export \"fill\") (param $n i32) (result i64) (local $i i32)\n"
    "    (loop $l\n"
    "      (i32.store (i32.shl (local.get $i) (i32.const 2)) (i32.add (local.get $i) (i32.const 1)))\n"
    "      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))\n"
    "    (i64.const 0)))\n";

/* Called from the tick's slow path (at once: after 0 us), inside the
 * loop: leaves garbage in every register a call may clobber. */
static void clobber_registers(void *user, cis_wait why) {
  (void)user, (void)why;
#if defined(__x86_64__)
  __asm__ volatile("pcmpeqd %%xmm0, %%xmm0\n\tpcmpeqd %%xmm1, %%xmm1\n\tpcmpeqd %%xmm2, %%xmm2\n\t"
                   "pcmpeqd %%xmm3, %%xmm3\n\tpcmpeqd %%xmm4, %%xmm4\n\tpcmpeqd %%xmm5, %%xmm5\n\t"
                   "pcmpeqd %%xmm6, %%xmm6\n\tpcmpeqd %%xmm7, %%xmm7\n\tpcmpeqd %%xmm8, %%xmm8\n\t"
                   "pcmpeqd %%xmm9, %%xmm9\n\tpcmpeqd %%xmm10, %%xmm10\n\tpcmpeqd %%xmm11, %%xmm11\n\t"
                   "pcmpeqd %%xmm12, %%xmm12\n\tpcmpeqd %%xmm13, %%xmm13\n\t"
                   "pcmpeqd %%xmm14, %%xmm14\n\tpcmpeqd %%xmm15, %%xmm15\n\t"
                   "mov $-1, %%rax\n\tmov $-1, %%rcx\n\tmov $-1, %%rdx\n\tmov $-1, %%rsi\n\t"
                   "mov $-1, %%rdi\n\tmov $-1, %%r8\n\tmov $-1, %%r9\n\tmov $-1, %%r10\n\t"
                   "mov $-1, %%r11"
                   :
                   :
                   : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                     "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "rax", "rcx", "rdx", "rsi",
                     "rdi", "r8", "r9", "r10", "r11", "cc");
#endif
}

static void tick_slow_path_keeps_registers(void **state) {
  (void)state;
  both b;
  both_open(&b, LIVE, 0);
  cis_instance_on_wait(b.ci, clobber_registers, NULL, 0);
  const uint32_t counts[] = {1, 19999, 20000, 20001, 100000};
  for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++)
    assert_int_equal(edge_on_both(&b, "live", counts[k]), CIS_OK);
  cis_limits l;
  cis_instance_get_limits(b.ci, &l);
  l.fuel = 1000000;
  cis_instance_set_limits(b.ci, &l);
  assert_int_equal(edge_on_both(&b, "live", 100000), CIS_OK);
  both_close(&b);
}

/* Fuel running out in a loop, through the slow path: the trap comes at
 * the iteration the budget allows (one per pass of the loop's header;
 * the entry of a function that calls nothing takes none), with every
 * store before it done and none after. */
static void fuel_out_mid_loop_stops_at_its_iteration(void **state) {
  (void)state;
  both b;
  both_open(&b, LIVE, 0);
  const uint64_t budgets[] = {10, 1000, 1001, 19999, 20000, 20001, 20002, 16383, 16384};
  for (size_t k = 0; k < sizeof budgets / sizeof budgets[0]; k++) {
    uint8_t *m = cis_memory_data(cis_instance_memory(b.ci));
    memset(m, 0, 65536);
    cis_limits l;
    cis_instance_get_limits(b.ci, &l);
    l.fuel = budgets[k];
    cis_instance_set_limits(b.ci, &l);
    cis_val arg = {.type = CIS_I32, .of.u32 = 16384}, r = {.type = CIS_I64};
    cis_result rc = cis_func_call(b.ci, cis_instance_func(b.ci, "fill"), &arg, 1, &r, 1);
    /* 16,384 iterations take 16,384 ticks */
    assert_int_equal(rc, budgets[k] >= 16384 ? CIS_OK : CIS_EFUEL);
    uint32_t done = 0, w;
    while (done < 16384 && (memcpy(&w, m + 4 * done, 4), w == done + 1)) done++;
    for (uint32_t i = done; i < 16384; i++) {
      memcpy(&w, m + 4 * i, 4);
      if (w) fail_msg("fuel %llu: word %u written after the trap", (unsigned long long)budgets[k], i);
    }
    uint64_t want = budgets[k] >= 16384 ? 16384 : budgets[k];
    if (done != want)
      fail_msg("fuel %llu: %u iterations done, %llu wanted", (unsigned long long)budgets[k], done,
               (unsigned long long)want);
  }
  both_close(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(rounding_compiled_for_size, setup, teardown),
      cmocka_unit_test_setup_teardown(rounding_compiled_for_speed, setup, teardown),
      cmocka_unit_test_setup_teardown(i64x2_compare_in_try, setup, teardown),
      cmocka_unit_test_setup_teardown(simd_ops_in_try, setup, teardown),
      cmocka_unit_test_setup_teardown(i64x2_compares_of_the_base_body, setup, teardown),
      cmocka_unit_test_setup_teardown(loop_copy_only_where_planned, setup, teardown),
      cmocka_unit_test_setup_teardown(loop_copy_traps_and_writes_as_interpreter, setup, teardown),
      cmocka_unit_test_setup_teardown(loop_copy_charges_fuel_as_checked_loop, setup, teardown),
      cmocka_unit_test_setup_teardown(loop_lt_copy_charges_fuel_in_chunks, setup, teardown),
      cmocka_unit_test_setup_teardown(bounds_at_the_edges_as_interpreter, setup, teardown),
      cmocka_unit_test_setup_teardown(tick_slow_path_keeps_registers, setup, teardown),
      cmocka_unit_test_setup_teardown(fuel_out_mid_loop_stops_at_its_iteration, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
