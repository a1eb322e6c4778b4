/*
 * This file implements the tests of GC in compiled code (src/aot/codegen.c's
 * gen_gc, aot.c's gc service): struct fields of every storage type and
 * arrays of i8, i16, i64, f64 and funcref (new, new_fixed, new_data,
 * new_elem, init_data, init_elem, fill, copy, len, get, set) round trip; the casts (ref.test, ref.cast, br_on_cast,
 * br_on_cast_fail) on null, i31, struct, sub-struct, array and a
 * converted externref; a trap of each kind (null struct, null array, null
 * i31, array out of bounds, cast failure); i31 at its edges; ref.eq; a
 * list kept in a global across calls and a collection between them;
 * call_indirect through a declared supertype; the memory cap hit by
 * allocating in a loop what a local keeps (CIS_EMEMLIMIT), and garbage
 * made past it collected inside the call. Each case runs on the interpreter
 * and compiled (an object in the cache), which must answer alike.
 * Collections inside a call (a 1 MiB account): objects held only by a
 * local, an operand under a call or an allocation, a tail call's
 * argument, or the frames under a host function's callback survive; a
 * tail call of a function holding references runs in constant native
 * stack; after an exception or a callback's trap unwound frames of
 * references, the catcher's is the innermost linked; an overwritten
 * reference is freed inside the call; functions that hold no object
 * across a call link no frame (fib's C is the same with GC). And:
 * engine auto tiers a GC module up; the generated C of a module without
 * GC has none of it; a body whose GC immediates name what the module
 * lacks is refused by the generator.
 * Each test gets a fresh $CIS_HOME, so each starts with an empty cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aot_test.h"
#include "runtime/gc.h"
#include "runtime/rt_internal.h"

#define CAP (4ll << 20) /* the instance's memory account: 4 MiB */
#define ERR(rc) (-1000000 + (rc)) /* a call's error code among results */

static const char wat[] =
    "(module\n"
    "  (type $pt (struct (field $a (mut i32)) (field $b (mut i64)) (field $c (mut f32))\n"
    "    (field $d (mut f64)) (field $e (mut i8)) (field $f (mut i16)) (field $v (mut v128))\n"
    "    (field $r (mut anyref))))\n"
    "  (type $bytes (array (mut i8)))\n"
    "  (type $hoard (struct (field (ref null $bytes)) (field (ref null $hoard))))\n"
    "  (type $wide (array (mut i64)))\n"
    "  (type $funcs (array (mut funcref)))\n"
    "  (type $f64s (array (mut f64)))\n"
    "  (type $i16s (array (mut i16)))\n"
    "  (type $node (struct (field $val i32) (field $next (ref null $node))))\n"
    "  (type $super (sub (struct (field i32))))\n"
    "  (type $sub (sub $super (struct (field i32) (field i64))))\n"
    "  (type $fsuper (sub (func (param i32) (result i32))))\n"
    "  (type $fsub (sub $fsuper (func (param i32) (result i32))))\n"
    "  (type $fother (func (param i32) (result i32)))\n"
    "  (data $d \"\\01\\02\\03\\04\\05\\06\\07\\08\")\n"
    "  (elem $e func $f1 $f2 $f1)\n"
    "  (global $list (mut (ref null $node)) (ref.null $node))\n"
    "  (table $t 3 funcref)\n"
    "  (elem (table $t) (i32.const 0) func $f1 $f2)\n"
    "  (func $f1 (type $fsub) (i32.add (local.get 0) (i32.const 1)))\n"
    "  (func $f2 (type $fother) (i32.mul (local.get 0) (i32.const 2)))\n"
    /* every field written by struct.new, then by struct.set, and read */
    "  (func $sum (param $s (ref $pt)) (result i32)\n"
    "    (i32.add (struct.get $pt $a (local.get $s))\n"
    "    (i32.add (i32.wrap_i64 (i64.shr_u (struct.get $pt $b (local.get $s)) (i64.const 29)))\n"
    "    (i32.add (i32.trunc_f32_s (f32.mul (struct.get $pt $c (local.get $s)) (f32.const 4)))\n"
    "    (i32.add (i32.trunc_f64_s (f64.mul (struct.get $pt $d (local.get $s)) (f64.const 8)))\n"
    "    (i32.add (i32.mul (struct.get_s $pt $e (local.get $s)) (i32.const 3))\n"
    "    (i32.add (struct.get_u $pt $e (local.get $s))\n"
    "    (i32.add (i32.mul (struct.get_s $pt $f (local.get $s)) (i32.const 5))\n"
    "    (i32.add (struct.get_u $pt $f (local.get $s))\n"
    "    (i32.add (i32x4.extract_lane 3 (struct.get $pt $v (local.get $s)))\n"
    "      (i31.get_s (ref.cast (ref i31) (struct.get $pt $r (local.get $s))))))))))))))\n"
    "  (func (export \"fields\") (param $k i32) (result i32) (local $s (ref null $pt))\n"
    "    (local.set $s (struct.new $pt (local.get $k)\n"
    "      (i64.or (i64.shl (i64.extend_i32_u (local.get $k)) (i64.const 33)) (i64.const 1))\n"
    "      (f32.add (f32.convert_i32_s (local.get $k)) (f32.const 0.25))\n"
    "      (f64.add (f64.convert_i32_s (local.get $k)) (f64.const 0.125))\n"
    "      (i32.add (local.get $k) (i32.const 0x7f)) (i32.add (local.get $k) (i32.const 0x7fff))\n"
    "      (i32x4.splat (i32.mul (local.get $k) (i32.const 7))) (ref.i31 (i32.sub (i32.const 0) (local.get $k)))))\n"
    "    (call $sum (ref.as_non_null (local.get $s)))\n"
    "    (struct.set $pt $a (local.get $s) (i32.const 11))\n"
    "    (struct.set $pt $b (local.get $s) (i64.const -1))\n"
    "    (struct.set $pt $c (local.get $s) (f32.const -2.5))\n"
    "    (struct.set $pt $d (local.get $s) (f64.const 1e3))\n"
    "    (struct.set $pt $e (local.get $s) (i32.const 0x1ff))\n"
    "    (struct.set $pt $f (local.get $s) (i32.const 0x18000))\n"
    "    (struct.set $pt $v (local.get $s) (v128.const i32x4 1 2 3 -4))\n"
    "    (struct.set $pt $r (local.get $s) (ref.i31 (i32.const 0x7fffffff)))\n"
    "    (i32.xor (call $sum (ref.as_non_null (local.get $s)))))\n"
    "  (func (export \"default\") (param $k i32) (result i32) (local $s (ref null $pt))\n"
    "    (local.set $s (struct.new_default $pt))\n"
    "    (i32.add (i32.add (struct.get $pt $a (local.get $s)) (i32.wrap_i64 (struct.get $pt $b (local.get $s))))\n"
    "      (i32.add (ref.is_null (struct.get $pt $r (local.get $s))) (i32x4.extract_lane 0 (struct.get $pt $v (local.get $s))))))\n"
    /* the array instructions on bytes, i64 and funcref elements */
    "  (func (export \"arrays\") (param $k i32) (result i32) (local $a (ref null $bytes)) (local $w (ref null $wide))\n"
    "    (local $i i32) (local $s i32)\n"
    "    (local.set $a (array.new_data $bytes $d (i32.const 1) (i32.const 6)))\n"
    "    (array.fill $bytes (local.get $a) (i32.const 4) (local.get $k) (i32.const 2))\n"
    "    (array.copy $bytes $bytes (local.get $a) (i32.const 0) (local.get $a) (i32.const 3) (i32.const 2))\n"
    "    (array.init_data $bytes $d (local.get $a) (i32.const 3) (i32.const 6) (i32.const 1))\n"
    "    (loop $l\n"
    "      (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 31))\n"
    "        (array.get_s $bytes (local.get $a) (local.get $i))))\n"
    "      (local.set $i (i32.add (local.get $i) (i32.const 1)))\n"
    "      (br_if $l (i32.lt_u (local.get $i) (array.len (local.get $a)))))\n"
    "    (local.set $w (array.new $wide (i64.const 0x100000001) (local.get $k)))\n"
    "    (array.set $wide (local.get $w) (i32.const 0) (i64.const 5))\n"
    "    (local.set $s (i32.add (local.get $s) (i32.wrap_i64 (i64.add (array.get $wide (local.get $w) (i32.const 0))\n"
    "      (i64.shr_u (array.get $wide (local.get $w) (i32.sub (local.get $k) (i32.const 1))) (i64.const 32))))))\n"
    "    (local.set $a (array.new_fixed $bytes 3 (local.get $k) (i32.const 0x80) (i32.const -1)))\n"
    "    (i32.add (i32.mul (local.get $s) (i32.const 1000))\n"
    "      (i32.add (array.get_s $bytes (local.get $a) (i32.const 1)) (array.get_u $bytes (local.get $a) (i32.const 2)))))\n"
    "  (func (export \"elems\") (param $k i32) (result i32) (local $f (ref null $funcs))\n"
    "    (local.set $f (array.new_elem $funcs $e (i32.const 0) (i32.const 2)))\n"
    "    (array.init_elem $funcs $e (local.get $f) (i32.const 1) (local.get $k) (i32.const 1))\n"
    "    (i32.add (i32.mul (ref.test (ref $fsub) (array.get $funcs (local.get $f) (i32.const 0))) (i32.const 10))\n"
    "      (call_ref $fsuper (i32.const 20) (ref.cast (ref $fsuper) (array.get $funcs (local.get $f) (i32.const 1))))))\n"
    "  (func (export \"more\") (param $k i32) (result i32)\n"
    "    (local $d (ref null $f64s)) (local $h (ref null $i16s)) (local $f (ref null $funcs))\n"
    "    (local.set $d (array.new $f64s (f64.const 1.5) (i32.const 3)))\n"
    "    (array.set $f64s (local.get $d) (i32.const 1) (f64.convert_i32_s (local.get $k)))\n"
    "    (local.set $h (array.new_fixed $i16s 2 (local.get $k) (i32.const 0x8001)))\n"
    "    (local.set $f (array.new $funcs (ref.null func) (i32.const 2)))\n"
    "    (array.set $funcs (local.get $f) (i32.const 1) (ref.func $f1))\n"
    "    (i32.add (i32.trunc_f64_s (f64.mul (f64.add (array.get $f64s (local.get $d) (i32.const 1))\n"
    "      (array.get $f64s (local.get $d) (i32.const 2))) (f64.const 10)))\n"
    "    (i32.add (array.get_s $i16s (local.get $h) (i32.const 1))\n"
    "    (i32.add (array.get_u $i16s (local.get $h) (i32.const 0))\n"
    "    (i32.add (ref.is_null (array.get $funcs (local.get $f) (i32.const 0)))\n"
    "      (call_ref $fsuper (i32.const 100) (ref.cast (ref $fsuper) (array.get $funcs (local.get $f) (i32.const 1)))))))))\n"
    /* a reference by k: 0 null, 1 i31, 2 $sub, 3 $super, 4 an array, 5 an
     * externref made an anyref, 6 an i31 that went through extern */
    "  (func $pick (param $k i32) (result anyref)\n"
    "    (block $b6 (block $b5 (block $b4 (block $b3 (block $b2 (block $b1 (block $b0\n"
    "      (br_table $b0 $b1 $b2 $b3 $b4 $b5 $b6 (local.get $k)))\n"
    "      (return (ref.null any)))\n"
    "      (return (ref.i31 (i32.const 9))))\n"
    "      (return (struct.new $sub (i32.const 1) (i64.const 2))))\n"
    "      (return (struct.new $super (i32.const 3))))\n"
    "      (return (array.new_default $bytes (i32.const 1))))\n"
    "      (return (any.convert_extern (extern.convert_any (ref.i31 (i32.const 1))))))\n"
    "    (any.convert_extern (extern.convert_any (struct.new $super (i32.const 4)))))\n"
    "  (func (export \"tests\") (param $k i32) (result i32) (local $r anyref)\n"
    "    (local.set $r (call $pick (local.get $k)))\n"
    "    (i32.or (ref.test eqref (local.get $r))\n"
    "    (i32.or (i32.shl (ref.test (ref i31) (local.get $r)) (i32.const 1))\n"
    "    (i32.or (i32.shl (ref.test (ref struct) (local.get $r)) (i32.const 2))\n"
    "    (i32.or (i32.shl (ref.test (ref array) (local.get $r)) (i32.const 3))\n"
    "    (i32.or (i32.shl (ref.test (ref $super) (local.get $r)) (i32.const 4))\n"
    "    (i32.or (i32.shl (ref.test (ref $sub) (local.get $r)) (i32.const 5))\n"
    "    (i32.or (i32.shl (ref.test (ref null $sub) (local.get $r)) (i32.const 6))\n"
    "    (i32.or (i32.shl (ref.test nullref (local.get $r)) (i32.const 7))\n"
    "    (i32.or (i32.shl (ref.test (ref any) (local.get $r)) (i32.const 8))\n"
    "    (i32.or (i32.shl (call $on_cast (local.get $r)) (i32.const 9))\n"
    "      (i32.shl (call $on_cast_fail (local.get $r)) (i32.const 11)))))))))))))\n"
    "  (func $on_cast (param $r anyref) (result i32)\n"
    "    (drop (block $l (result (ref null $super))\n"
    "      (br_on_cast $l anyref (ref null $super) (local.get $r))\n"
    "      (drop) (return (i32.const 0))))\n"
    "    (i32.const 1))\n"
    "  (func $on_cast_fail (param $r anyref) (result i32)\n"
    "    (drop (block $l (result anyref)\n"
    "      (return (struct.get $super 0 (br_on_cast_fail $l anyref (ref $super) (local.get $r))))))\n"
    "    (i32.const 0))\n"
    "  (func (export \"cast\") (param $k i32) (result i32)\n"
    "    (struct.get $sub 0 (ref.cast (ref $sub) (call $pick (local.get $k)))))\n"
    "  (func (export \"cast_null\") (param $k i32) (result i32)\n"
    "    (ref.is_null (ref.cast (ref null i31) (call $pick (local.get $k)))))\n"
    /* traps */
    "  (func (export \"null_struct\") (param $k i32) (result i32) (struct.get $super 0 (ref.null $super)))\n"
    "  (func (export \"null_array\") (param $k i32) (result i32) (array.len (ref.null array)))\n"
    "  (func (export \"null_i31\") (param $k i32) (result i32) (i31.get_u (ref.null i31)))\n"
    "  (func (export \"oob\") (param $k i32) (result i32)\n"
    "    (array.get_u $bytes (array.new_default $bytes (i32.const 4)) (local.get $k)))\n"
    "  (func (export \"copy_oob\") (param $k i32) (result i32) (local $a (ref null $bytes))\n"
    "    (local.set $a (array.new_default $bytes (i32.const 4)))\n"
    "    (array.copy $bytes $bytes (local.get $a) (local.get $k) (local.get $a) (i32.const 0) (i32.const 2))\n"
    "    (i32.const 0))\n"
    /* i31 */
    "  (func (export \"i31_s\") (param $k i32) (result i32) (i31.get_s (ref.i31 (local.get $k))))\n"
    "  (func (export \"i31_u\") (param $k i32) (result i32) (i31.get_u (ref.i31 (local.get $k))))\n"
    "  (func (export \"eq\") (param $k i32) (result i32) (local $s eqref)\n"
    "    (local.set $s (struct.new $super (local.get $k)))\n"
    "    (i32.or (ref.eq (local.get $s) (local.get $s))\n"
    "    (i32.or (i32.shl (ref.eq (local.get $s) (struct.new $super (local.get $k))) (i32.const 1))\n"
    "    (i32.or (i32.shl (ref.eq (ref.i31 (local.get $k)) (ref.i31 (i32.or (local.get $k) (i32.const 0x80000000)))) (i32.const 2))\n"
    "      (i32.shl (ref.eq (ref.null eq) (ref.null none)) (i32.const 3))))))\n"
    /* a list in a global, across calls */
    "  (func (export \"push\") (param $k i32) (result i32)\n"
    "    (global.set $list (struct.new $node (local.get $k) (global.get $list))) (local.get $k))\n"
    "  (func (export \"walk\") (param $k i32) (result i32) (local $n (ref null $node)) (local $s i32)\n"
    "    (local.set $n (global.get $list))\n"
    "    (block $done (loop $l\n"
    "      (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 3))\n"
    "        (struct.get $node $val (br_on_null $done (local.get $n)))))\n"
    "      (local.set $n (struct.get $node $next (local.get $n)))\n"
    "      (br $l)))\n"
    "    (local.get $s))\n"
    /* call_indirect through a declared supertype */
    "  (func (export \"ci\") (param $k i32) (result i32)\n"
    "    (call_indirect $t (type $fsuper) (i32.const 5) (local.get $k)))\n"
    /* k arrays of 64 KiB, each garbage at once */
    "  (func (export \"alloc\") (param $k i32) (result i32) (local $i i32)\n"
    "    (block $d (loop $l\n"
    "      (br_if $d (i32.ge_u (local.get $i) (local.get $k)))\n"
    "      (drop (array.new_default $bytes (i32.const 65536)))\n"
    "      (local.set $i (i32.add (local.get $i) (i32.const 1)))\n"
    "      (br $l)))\n"
    "    (local.get $i))\n"
    /* k arrays of 64 KiB, each kept in a list held by a local */
    "  (func (export \"hoard\") (param $k i32) (result i32) (local $i i32) (local $h (ref null $hoard))\n"
    "    (block $d (loop $l\n"
    "      (br_if $d (i32.ge_u (local.get $i) (local.get $k)))\n"
    "      (local.set $h (struct.new $hoard (array.new_default $bytes (i32.const 65536)) (local.get $h)))\n"
    "      (local.set $i (i32.add (local.get $i) (i32.const 1)))\n"
    "      (br $l)))\n"
    "    (local.get $i))\n"
    ")\n";

typedef struct run {
  cis_engine *e;
  cis_module *m;
  cis_instance *inst;
} run;

static void open_run(run *r, const char *name) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = name;
  cfg.limits.max_memory_bytes = CAP;
  memset(r, 0, sizeof *r);
  assert_int_equal(cis_engine_new(&cfg, &r->e), CIS_OK);
  r->m = module(r->e, wat);
  cis_result rc = cis_instance_new(r->m, NULL, NULL, &r->inst);
  if (rc != CIS_OK) fail_msg("%s: instance: %s: %s", name, cis_errname(rc), cis_errmsg(r->e));
}

static void close_run(run *r) {
  cis_instance_free(r->inst);
  cis_module_free(r->m);
  cis_engine_free(r->e);
}

/* Export name called with k: its result, or ERR(the call's error code),
 * whose message must name the error as cis_strerror does. */
static int64_t call_k(run *r, const char *name, int32_t k) {
  cis_val a = {.type = CIS_I32, .of.i32 = k}, v;
  cis_func *f = cis_instance_func(r->inst, name);
  if (!f) fail_msg("no export %s", name);
  cis_result rc = cis_func_call(r->inst, f, &a, 1, &v, 1);
  if (rc == CIS_OK) return v.of.i32;
  const char *want = rc == CIS_EMEMLIMIT ? "memory limit exceeded" : cis_strerror(rc);
  if (!strstr(cis_errmsg(r->inst), want))
    fail_msg("%s(%d): %s: message \"%s\" lacks \"%s\"", name, k, cis_errname(rc), cis_errmsg(r->inst), want);
  return ERR(rc);
}

/* One step of a case: export, argument, the answer both engines give
 * (ANY: whatever the interpreter gives, which aot must give too). */
#define ANY INT64_MIN
typedef struct step {
  const char *name;
  int32_t k;
  int64_t want;
} step;

/* Runs steps in order on each engine, on one instance each, and checks
 * that the compiled run used a compiled object. */
static void run_steps(const step *s, size_t n) {
  static const char *const engines[] = {"interp", "aot"};
  int64_t got[2][64];
  assert_true(n <= 64);
  for (int k = 0; k < 2; k++) {
    run r;
    open_run(&r, engines[k]);
    for (size_t i = 0; i < n; i++) {
      got[k][i] = call_k(&r, s[i].name, s[i].k);
      if (s[i].want != ANY && got[k][i] != s[i].want)
        fail_msg("%s: step %zu: %s(%d) = %lld, want %lld", engines[k], i, s[i].name, s[i].k,
                 (long long)got[k][i], (long long)s[i].want);
      if (k == 1 && got[1][i] != got[0][i])
        fail_msg("step %zu: %s(%d): aot %lld, interp %lld", i, s[i].name, s[i].k, (long long)got[1][i],
                 (long long)got[0][i]);
    }
    close_run(&r);
  }
  assert_int_equal(cache_entries(), 1);
}

static void aot_gc_struct_fields_round_trip(void **state) {
  (void)state;
  static const step s[] = {{"fields", 0, ANY}, {"fields", 1, ANY}, {"fields", -300, ANY},
                           {"fields", 0x12345, ANY}, {"default", 0, 1}};
  run_steps(s, CIS_ARRAY_LEN(s));
}

static void aot_gc_arrays_round_trip(void **state) {
  (void)state;
  static const step s[] = {
      {"arrays", 1, ANY},   {"arrays", 7, ANY},   {"arrays", 200, ANY},
      {"elems", 0, 10 + 21}, {"elems", 1, ERR(CIS_TRAP_CAST)}, {"elems", 2, 10 + 21},
      {"elems", 3, ERR(CIS_TRAP_TABLE_OOB)}, /* init_elem past the segment */
      {"more", 2, 35 - 32767 + 2 + 1 + 101}, {"more", -1, 5 - 32767 + 65535 + 1 + 101},
  };
  run_steps(s, CIS_ARRAY_LEN(s));
}

static void aot_gc_casts(void **state) {
  (void)state;
  /* bits: (ref null eq), i31, struct, array, $super, $sub, (ref null
   * $sub), none, any, br_on_cast to (ref null $super) taken; from bit 11
   * the $super's field when br_on_cast_fail from (ref $super) is not */
  static const step s[] = {
      {"tests", 0, 1 | 1 << 6 | 1 << 7 | 1 << 9},
      {"tests", 1, 1 | 2 | 1 << 8},
      {"tests", 2, 1 | 4 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 8 | 1 << 9 | 1 << 11},
      {"tests", 3, 1 | 4 | 1 << 4 | 1 << 8 | 1 << 9 | 3 << 11},
      {"tests", 4, 1 | 8 | 1 << 8},
      {"tests", 5, 1 | 2 | 1 << 8},
      {"tests", 6, 1 | 4 | 1 << 4 | 1 << 8 | 1 << 9 | 4 << 11},
      {"cast", 2, 1},
      {"cast", 3, ERR(CIS_TRAP_CAST)},
      {"cast", 0, ERR(CIS_TRAP_CAST)},
      {"cast_null", 0, 1},
      {"cast_null", 1, 0},
      {"cast_null", 4, ERR(CIS_TRAP_CAST)},
  };
  run_steps(s, CIS_ARRAY_LEN(s));
}

static void aot_gc_traps(void **state) {
  (void)state;
  static const step s[] = {
      {"null_struct", 0, ERR(CIS_TRAP_NULL_STRUCT)}, {"null_array", 0, ERR(CIS_TRAP_NULL_ARRAY)},
      {"null_i31", 0, ERR(CIS_TRAP_NULL_I31)},       {"oob", 3, 0},
      {"oob", 4, ERR(CIS_TRAP_ARRAY_OOB)},           {"oob", -1, ERR(CIS_TRAP_ARRAY_OOB)},
      {"copy_oob", 2, 0},                            {"copy_oob", 3, ERR(CIS_TRAP_ARRAY_OOB)},
      {"copy_oob", INT32_MAX, ERR(CIS_TRAP_ARRAY_OOB)},
  };
  run_steps(s, CIS_ARRAY_LEN(s));
}

static void aot_gc_i31_edges(void **state) {
  (void)state;
  static const step s[] = {
      {"i31_s", 0, 0},
      {"i31_s", -1, -1},
      {"i31_u", -1, 0x7fffffff},
      {"i31_s", 0x3fffffff, 0x3fffffff},
      {"i31_s", 0x40000000, -0x40000000},
      {"i31_u", 0x40000000, 0x40000000},
      {"i31_s", INT32_MIN, 0},
      {"i31_u", INT32_MIN, 0},
      {"i31_s", INT32_MAX, -1},
      {"i31_s", INT32_MIN + 1, 1},
      {"eq", 5, 1 | 4 | 8}, /* two structs differ; an i31 is its low 31 bits */
      {"eq", -5, 1 | 4 | 8},
  };
  run_steps(s, CIS_ARRAY_LEN(s));
}

static void aot_gc_call_indirect_through_a_supertype(void **state) {
  (void)state;
  static const step s[] = {
      {"ci", 0, 6},
      {"ci", 1, ERR(CIS_TRAP_SIG_MISMATCH)},
      {"ci", 2, ERR(CIS_TRAP_UNINIT_ELEM)},
      {"ci", 3, ERR(CIS_TRAP_UNDEF_ELEM)},
  };
  run_steps(s, CIS_ARRAY_LEN(s));
}

/* Objects in a global live across calls and a collection between them;
 * the garbage of a call is freed by the next collection. */
static void aot_gc_objects_kept_in_a_global(void **state) {
  (void)state;
  static const char *const engines[] = {"interp", "aot"};
  int64_t sums[2];
  for (int k = 0; k < 2; k++) {
    run r;
    open_run(&r, engines[k]);
    for (int32_t i = 1; i <= 100; i++) assert_int_equal(call_k(&r, "push", i), i);
    sums[k] = call_k(&r, "walk", 0);
    assert_int_equal(call_k(&r, "alloc", 10), 10);
    assert_true(cis__gc_collect(r.e) >= 10);
    uint64_t bytes, n = cis__gc_count(r.e, &bytes);
    assert_int_equal(n, 100);
    assert_int_equal(call_k(&r, "walk", 0), sums[k]);
    close_run(&r);
  }
  assert_int_equal(sums[0], sums[1]);
  assert_int_equal(cache_entries(), 1);
}

/* 100 arrays of 64 KiB kept in one call pass a cap of 4 MiB:
 * CIS_EMEMLIMIT, typed, with the runtime's message; the instance runs on.
 * As many dropped at once are collected inside the call, which ends. */
static void aot_gc_memory_cap_in_a_loop(void **state) {
  (void)state;
  static const step s[] = {
      {"hoard", 100, ERR(CIS_EMEMLIMIT)},
      {"alloc", 100, 100},
      {"alloc", 10, 10},
      {"fields", 3, ANY},
  };
  run_steps(s, CIS_ARRAY_LEN(s));
}

/* Engine auto runs a GC module compiled once its object is there. */
static void auto_tiers_a_gc_module_up(void **state) {
  (void)state;
  run r;
  open_run(&r, "auto");
  assert_int_equal(cis__tier_wait(r.m, 120000), CIS__TIER_COMPILED);
  assert_int_equal(call_k(&r, "cast", 2), 1);
  uint64_t base = 0, aot = 0;
  cis__tier_calls(r.m, &base, &aot);
  assert_true(aot >= 1);
  close_run(&r);
}

/* A module without GC: none of the GC code, and call_indirect through a
 * final type compares the ids alone; through a type open to subtypes it
 * asks the runtime when they differ. i31 and field accesses are C. */
static void generated_c_of_modules_without_and_with_gc(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  char *plain = generated_c(e, "(module (type $t (func (result i32))) (table 1 funcref)\n"
                               "  (func (export \"f\") (result i32) (call_indirect (type $t) (i32.const 0))))");
  assert_int_equal(count_of(plain, "c->api->gc("), 0);
  assert_int_equal(count_of(plain, "AOT_T_SIG_MISMATCH, "), 1);
  char *open = generated_c(e, "(module (type $t (sub (func (result i32)))) (table 1 funcref)\n"
                              "  (func (export \"f\") (result i32) (call_indirect (type $t) (i32.const 0))))");
  assert_int_equal(count_of(open, "c->api->gc("), 1);
  char *i31 = generated_c(e, "(module (func (export \"f\") (param i32) (result i32)\n"
                             "  (i31.get_s (ref.i31 (local.get 0)))))");
  assert_int_equal(count_of(i31, "c->api->gc("), 0); /* i31 is C */
  assert_int_equal(count_of(i31, "AOT_T_NULL_I31, "), 1);
  /* fields are read and numbers written in C; a reference is written by
   * the runtime */
  char *acc = generated_c(e, "(module (type $s (struct (field (mut i32)) (field (mut anyref))))\n"
                             "  (func (param (ref $s)) (struct.set $s 0 (local.get 0) (struct.get $s 0 (local.get 0)))\n"
                             "    (struct.set $s 1 (local.get 0) (struct.get $s 1 (local.get 0)))))");
  assert_int_equal(count_of(acc, "aot_field(c, "), 3);
  assert_int_equal(count_of(acc, "c->api->gc("), 1);
  free(plain);
  free(open);
  free(i31);
  free(acc);
  cis_engine_free(e);
}

/* A body changed after validation to name a type, field, segment or
 * label the module lacks, or with its operands missing: the generator
 * refuses it ("does not decode"), never writes C of it. */
static void generator_refuses_bad_gc_immediates(void **state) {
  (void)state;
  static const struct {
    const char *what;
    uint8_t body[16];
    uint8_t len;
    cis_result want;
  } cases[] = {
      {"struct.new_default 0", {0xfb, 0x01, 0x00, 0x1a, 0x0b}, 5, CIS_OK},
      {"struct.new_default 9", {0xfb, 0x01, 0x09, 0x1a, 0x0b}, 5, CIS_EINVALID},
      {"struct.new_default of an array type", {0xfb, 0x01, 0x01, 0x1a, 0x0b}, 5, CIS_EINVALID},
      {"array.new_default of a struct type", {0x20, 0x00, 0xfb, 0x07, 0x00, 0x1a, 0x0b}, 7, CIS_EINVALID},
      {"struct.get field 1 of 1", {0xfb, 0x01, 0x00, 0xfb, 0x02, 0x00, 0x01, 0x1a, 0x0b}, 9, CIS_EINVALID},
      {"struct.get without operand", {0xfb, 0x02, 0x00, 0x00, 0x1a, 0x0b}, 6, CIS_EINVALID},
      {"array.new_fixed 3 of 1 operand", {0x20, 0x00, 0xfb, 0x08, 0x01, 0x03, 0x1a, 0x0b}, 8, CIS_EINVALID},
      {"array.new_data of data 1", {0x20, 0x00, 0x20, 0x00, 0xfb, 0x09, 0x01, 0x01, 0x1a, 0x0b}, 10,
       CIS_EINVALID},
      {"array.new_elem of elem 0", {0x20, 0x00, 0x20, 0x00, 0xfb, 0x0a, 0x01, 0x00, 0x1a, 0x0b}, 10,
       CIS_EINVALID},
      {"array.copy from type 9",
       {0xd0, 0x6a, 0x20, 0x00, 0xd0, 0x6a, 0x20, 0x00, 0x20, 0x00, 0xfb, 0x11, 0x01, 0x09, 0x0b},
       15, CIS_EINVALID},
      {"ref.test of type 9", {0xd0, 0x6e, 0xfb, 0x14, 0x09, 0x1a, 0x0b}, 7, CIS_EINVALID},
      {"ref.eq of one operand", {0xd0, 0x6d, 0xd3, 0x1a, 0x0b}, 5, CIS_EINVALID},
      {"br_on_cast to label 5", {0xd0, 0x6e, 0xfb, 0x18, 0x00, 0x05, 0x6e, 0x6e, 0x1a, 0x0b}, 10,
       CIS_EINVALID},
      {"br_on_cast cut short", {0xd0, 0x6e, 0xfb, 0x18, 0x00, 0x00, 0x6e}, 7, CIS_EINVALID},
  };
  cis_engine *e = engine("aot");
  cis_module *mod = module(e, "(module (type (struct (field i32))) (type (array i8))\n"
                              "  (func (param i32) (drop (struct.new_default 0))))");
  for (size_t i = 0; i < CIS_ARRAY_LEN(cases); i++)
    codegen_of_body(mod, cases[i].what, cases[i].body, cases[i].len, cases[i].want);
  cis_module_free(mod);
  cis_engine_free(e);
}

/* ------------------------------------------- collections inside a call
 *
 * Compiled frames keep their references in frames of references (S_),
 * which a collection inside the call marks; no native word is read. A
 * module whose host functions call back into it (host.churn), count the
 * call's linked frames (host.frames) and run a callback that traps
 * (host.trap_in); each case runs under a 1 MiB account, so that churning
 * collects. */
static const char roots_wat[] =
    "(module\n"
    "  (import \"host\" \"churn\" (func $hchurn (param i32) (result i32)))\n"
    "  (import \"host\" \"frames\" (func $frames (result i32)))\n"
    "  (import \"host\" \"trap_in\" (func $trap_in (param i32) (result i32)))\n"
    "  (type $bytes (array (mut i8)))\n"
    "  (type $refs (array (mut anyref)))\n"
    "  (type $node (struct (field $v i32) (field $next (ref null $node))))\n"
    "  (tag $e (param i32))\n"
    "  (func $node (param $v i32) (result (ref $node)) (struct.new $node (local.get $v) (ref.null $node)))\n"
    /* n arrays of 1 KiB, made and dropped */
    "  (func $churn (export \"churn\") (param $n i32) (result i32)\n"
    "    (block $d (loop $l (br_if $d (i32.eqz (local.get $n)))\n"
    "      (drop (array.new_default $bytes (i32.const 1024)))\n"
    "      (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $l)))\n"
    "    (i32.const 0))\n"
    /* held by a local across a call, and across a call out to the host
     * that calls back in */
    "  (func (export \"in_local\") (param $n i32) (result i32) (local $x (ref null $node))\n"
    "    (local.set $x (call $node (i32.const 5)))\n"
    "    (drop (call $churn (local.get $n)))\n"
    "    (drop (call $hchurn (local.get $n)))\n"
    "    (struct.get $node $v (local.get $x)))\n"
    /* an operand under a call */
    "  (func $second (param $x (ref null $node)) (param i32) (result i32) (struct.get $node $v (local.get $x)))\n"
    "  (func (export \"in_operand\") (param $n i32) (result i32)\n"
    "    (call $second (call $node (i32.const 6)) (call $churn (local.get $n))))\n"
    /* an operand under an allocation, n times: n * 7 */
    "  (func (export \"in_alloc\") (param $n i32) (result i32) (local $s i32)\n"
    "    (block $d (loop $l (br_if $d (i32.eqz (local.get $n)))\n"
    "      (local.set $s (i32.add (local.get $s) (struct.get $node $v (ref.cast (ref $node)\n"
    "        (array.get $refs (array.new_fixed $refs 2 (call $node (i32.const 7))\n"
    "          (array.new_default $bytes (i32.const 1024))) (i32.const 0))))))\n"
    "      (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $l)))\n"
    "    (local.get $s))\n"
    /* an argument of a tail call; a tail call of itself a million times
     * (constant native stack), without and with a try */
    "  (func $tail_to (param $x (ref null $node)) (param $n i32) (result i32)\n"
    "    (drop (call $churn (local.get $n))) (struct.get $node $v (local.get $x)))\n"
    "  (func (export \"in_tail\") (param $n i32) (result i32)\n"
    "    (return_call $tail_to (call $node (i32.const 8)) (local.get $n)))\n"
    "  (func $loop (export \"tail_loop\") (param $n i32) (result i32) (call $loop_to (call $node (i32.const 9)) (local.get $n)))\n"
    "  (func $loop_to (param $x (ref null $node)) (param $n i32) (result i32)\n"
    "    (if (i32.eqz (local.get $n)) (then (return (struct.get $node $v (local.get $x)))))\n"
    "    (return_call $loop_to (local.get $x) (i32.sub (local.get $n) (i32.const 1))))\n"
    "  (func (export \"tail_loop_try\") (param $n i32) (result i32) (call $loop_try (call $node (i32.const 10)) (local.get $n)))\n"
    "  (func $loop_try (param $x (ref null $node)) (param $n i32) (result i32)\n"
    "    (block $c (try_table (catch_all $c)\n"
    "      (if (i32.eqz (local.get $n)) (then (return (struct.get $node $v (local.get $x)))))))\n"
    "    (return_call $loop_try (local.get $x) (i32.sub (local.get $n) (i32.const 1))))\n"
    /* an exception thrown through two frames with references to a catch
     * in a third: its frame alone is linked then, and a collection in it
     * keeps its local: 3 * 100 + frames */
    "  (func $thrower (param $x (ref null $node)) (param $n i32)\n"
    "    (drop (call $churn (local.get $n))) (throw $e (struct.get $node $v (local.get $x))))\n"
    "  (func $mid (param $n i32) (local $y (ref null $node))\n"
    "    (local.set $y (call $node (i32.const 4)))\n"
    "    (call $thrower (local.get $y) (local.get $n)))\n"
    "  (func (export \"exn\") (param $n i32) (result i32) (local $z (ref null $node))\n"
    "    (local.set $z (call $node (i32.const 3)))\n"
    "    (drop (block $c (result i32) (try_table (catch $e $c) (call $mid (local.get $n))) (i32.const -1)))\n"
    "    (drop (call $churn (local.get $n)))\n"
    "    (i32.add (i32.mul (struct.get $node $v (local.get $z)) (i32.const 100)) (call $frames)))\n"
    /* a callback that traps below frames with references: the frames
     * linked after it are the caller's own: 2 * 100 + frames */
    "  (func (export \"trap_deep\") (param $n i32) (result i32) (local $y (ref null $node))\n"
    "    (local.set $y (call $node (i32.const 1)))\n"
    "    (drop (call $churn (local.get $n)))\n"
    "    (struct.get $node $v (ref.as_non_null (ref.null $node))))\n"
    "  (func (export \"after_trap\") (param $n i32) (result i32) (local $z (ref null $node))\n"
    "    (local.set $z (call $node (i32.const 2)))\n"
    "    (drop (call $trap_in (local.get $n)))\n"
    "    (drop (call $churn (local.get $n)))\n"
    "    (i32.add (i32.mul (struct.get $node $v (local.get $z)) (i32.const 100)) (call $frames)))\n"
    /* a reference overwritten is dead: 1.1 MB twice fit the 1 MiB account
     * (with its 1 MiB of slack) only when the first was freed inside the
     * call */
    "  (func (export \"overwritten\") (param $n i32) (result i32) (local $a (ref null $bytes))\n"
    "    (local.set $a (array.new_default $bytes (i32.const 1100000)))\n"
    "    (if (local.get $n) (then (local.set $a (ref.null $bytes))))\n"
    "    (array.len (array.new_default $bytes (i32.const 1100000))))\n"
    ")\n";

/* Calls export name of the caller's instance with i32 n. */
static cis_result call_back(cis_call *c, const char *name, int32_t n, int32_t *out) {
  cis_instance *inst = cis_call_instance(c);
  cis_val a = {.type = CIS_I32, .of.i32 = n}, v = {0};
  cis_result rc = cis_func_call(inst, cis_instance_func(inst, name), &a, 1, &v, 1);
  *out = v.of.i32;
  return rc;
}

static cis_result host_churn(cis_call *c, const cis_slot *a, cis_slot *r) {
  return call_back(c, "churn", a[0].i32, &r[0].i32);
}

/* The frames of references linked in the running call. */
static cis_result host_frames(cis_call *c, const cis_slot *a, cis_slot *r) {
  (void)a;
  int32_t n = 0;
  for (const cis__roots *f = cis_call_instance(c)->active->roots; f; f = f->prev) n++;
  r[0].i32 = n;
  return CIS_OK;
}

/* Calls back trap_deep, which must trap; the trap is not passed on. */
static cis_result host_trap_in(cis_call *c, const cis_slot *a, cis_slot *r) {
  cis_result rc = call_back(c, "trap_deep", a[0].i32, &r[0].i32);
  r[0].i32 = 0;
  return rc == CIS_TRAP_NULL_REF ? CIS_OK : CIS_EINVAL;
}

typedef struct roots_run {
  cis_engine *e;
  cis_module *m;
  cis_imports *im;
  cis_instance *inst;
} roots_run;

static void roots_open(roots_run *r, const char *name) {
  r->e = engine(name);
  r->m = module(r->e, roots_wat);
  cis_host_func_def d[] = {{"host", "churn", "(i)i", host_churn, NULL, 0},
                           {"host", "frames", "()i", host_frames, NULL, 0},
                           {"host", "trap_in", "(i)i", host_trap_in, NULL, 0}};
  assert_int_equal(cis_imports_new(r->e, &r->im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(r->im, d, 3), CIS_OK);
  assert_int_equal(cis_instance_new(r->m, r->im, NULL, &r->inst), CIS_OK);
  cis_limits l;
  memset(&l, 0, sizeof l);
  l.max_memory_bytes = 1u << 20;
  cis_instance_set_limits(r->inst, &l);
}

static void roots_close(roots_run *r) {
  cis_instance_free(r->inst);
  cis_imports_free(r->im);
  cis_module_free(r->m);
  cis_engine_free(r->e);
}

/* Export name of r called with n: its result; a failure fails the test
 * unless it is want_rc. */
static int32_t roots_call(roots_run *r, const char *name, int32_t n, cis_result want_rc) {
  cis_val a = {.type = CIS_I32, .of.i32 = n}, v = {0};
  cis_result rc = cis_func_call(r->inst, cis_instance_func(r->inst, name), &a, 1, &v, 1);
  if (rc != want_rc) fail_msg("%s(%d): %s: %s", name, n, cis_errname(rc), cis_errmsg(r->inst));
  return v.of.i32;
}

/* Objects held only by a local (across a call, and across a call out to
 * the host that calls back in), an operand under a call or under an
 * allocation, or a tail call's argument survive the collections the call
 * runs (each is read after them: ASan sees a wrong free), on both
 * engines. A tail call of a function holding references runs in constant
 * native stack, with and without a try. */
static void aot_gc_frames_survive_collections(void **state) {
  (void)state;
  static const char *const engines[] = {"interp", "aot"};
  static const struct {
    const char *name;
    int32_t n, want;
  } cases[] = {
      {"in_local", 4096, 5}, {"in_operand", 4096, 6}, {"in_alloc", 4096, 4096 * 7}, {"in_tail", 4096, 8},
      {"tail_loop", 1000000, 9}, {"tail_loop_try", 1000000, 10},
  };
  for (int k = 0; k < 2; k++) {
    roots_run r;
    roots_open(&r, engines[k]);
    for (size_t i = 0; i < CIS_ARRAY_LEN(cases); i++) {
      uint64_t before = cis__gc_collections(r.e);
      int32_t got = roots_call(&r, cases[i].name, cases[i].n, CIS_OK);
      if (got != cases[i].want)
        fail_msg("%s: %s(%d) = %d, want %d", engines[k], cases[i].name, cases[i].n, got, cases[i].want);
      /* collections ran inside the call (its end may add one) */
      if (cases[i].n == 4096 && cis__gc_collections(r.e) < before + 2)
        fail_msg("%s: %s: no collection inside the call", engines[k], cases[i].name);
    }
    roots_close(&r);
  }
  assert_int_equal(cache_entries(), 1);
}

/* An exception thrown through compiled frames with references, and a
 * trap under a host function's callback, leave the caller's frame the
 * innermost linked: a collection then keeps what it holds. */
static void aot_gc_frames_after_unwinding(void **state) {
  (void)state;
  roots_run r;
  roots_open(&r, "aot");
  assert_int_equal(roots_call(&r, "exn", 4096, CIS_OK), 3 * 100 + 1);
  assert_int_equal(roots_call(&r, "after_trap", 4096, CIS_OK), 2 * 100 + 1);
  assert_int_equal(roots_call(&r, "trap_deep", 10, CIS_TRAP_NULL_REF), 0);
  assert_int_equal(roots_call(&r, "exn", 4096, CIS_OK), 3 * 100 + 1);
  roots_close(&r);
}

/* A reference overwritten in a local no longer holds its object: a
 * collection inside the call frees it (twice 1.1 MB fit the account's 2
 * MiB with slack); kept, the second allocation passes the account. */
static void aot_gc_overwritten_reference_freed(void **state) {
  (void)state;
  roots_run r;
  roots_open(&r, "aot");
  uint64_t before = cis__gc_collections(r.e);
  assert_int_equal(roots_call(&r, "overwritten", 1, CIS_OK), 1100000);
  assert_true(cis__gc_collections(r.e) > before);
  roots_call(&r, "overwritten", 0, CIS_EMEMLIMIT);
  assert_int_equal(roots_call(&r, "overwritten", 1, CIS_OK), 1100000);
  roots_close(&r);
}

/* Functions that hold no object (a module without GC or externref, and
 * fib in a module with GC) link no frame: their C is what it was; nor
 * does one that holds objects but calls and allocates nothing. One that
 * holds them across a call links one, and keeps its references in it. */
static void generated_c_of_frames_of_references(void **state) {
  (void)state;
  static const char fib[] =
      "  (func $fib (export \"fib\") (param i32) (result i32)\n"
      "    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2)) (then (local.get 0))\n"
      "      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))\n"
      "        (call $fib (i32.sub (local.get 0) (i32.const 2)))))))\n";
  char plain_wat[1024], gc_wat[1024], fn_wat[1024];
  snprintf(plain_wat, sizeof plain_wat, "(module\n%s)", fib);
  snprintf(gc_wat, sizeof gc_wat, "(module (type $s (struct (field i32)))\n%s"
           "  (func (param (ref $s)) (result i32) (call $fib (struct.get $s 0 (local.get 0))))\n"
           "  (func (param (ref $s)) (result i32) (struct.get $s 0 (local.get 0))))", fib);
  snprintf(fn_wat, sizeof fn_wat, "(module (table 1 funcref) (type $t (func (result i32)))\n%s"
           "  (func (result i32) (call_indirect (type $t) (i32.const 0))))", fib);
  cis_engine *e = engine("aot");
  char *plain = generated_c(e, plain_wat), *gc = generated_c(e, gc_wat), *fn = generated_c(e, fn_wat);
  assert_int_equal(count_of(plain, "S_.s["), 0);
  assert_int_equal(count_of(plain, "c->roots"), 0);
  assert_int_equal(count_of(fn, "c->roots"), 0); /* funcref alone, no GC: no objects */
  /* fib's C is the same in both */
  const char *a = strstr(plain, "uint32_t w0(cis_aot_ctx *c, int64_t dr_"),
             *b = strstr(gc, "uint32_t w0(cis_aot_ctx *c, int64_t dr_");
  assert_non_null(a);
  assert_non_null(b);
  size_t len = (size_t)(strstr(a, "\n}\n") - a);
  if (strncmp(a, b, len + 3)) fail_msg("fib differs:\n%.*s\n----\n%.*s", (int)len + 3, a, (int)len + 3, b);
  /* the GC function: linked at entry, unlinked at its return */
  assert_int_equal(count_of(gc, "*c->roots = &S_.h;"), 1);
  assert_int_equal(count_of(gc, "*c->roots = S_.h.prev;"), 1);
  assert_int_equal(count_of(gc, "S_.s[0] = L0_in;"), 1);
  /* without GC, an externref (an object extern.convert_any made
   * elsewhere may come in) held across a call links one too */
  char *ext = generated_c(e, "(module (import \"h\" \"f\" (func $f))\n"
                             "  (func (param externref) (result externref) (call $f) (local.get 0))\n"
                             "  (func (param externref) (result externref) (local.get 0)))");
  assert_int_equal(count_of(ext, "*c->roots = &S_.h;"), 1);
  free(ext);
  free(plain);
  free(gc);
  free(fn);
  cis_engine_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(aot_gc_struct_fields_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_gc_arrays_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_gc_casts, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_gc_traps, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_gc_i31_edges, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_gc_call_indirect_through_a_supertype, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_gc_objects_kept_in_a_global, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_gc_memory_cap_in_a_loop, setup, teardown),
      cmocka_unit_test_setup_teardown(auto_tiers_a_gc_module_up, setup, teardown),
      cmocka_unit_test_setup_teardown(generated_c_of_modules_without_and_with_gc, setup, teardown),
      cmocka_unit_test_setup_teardown(generator_refuses_bad_gc_immediates, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_gc_frames_survive_collections, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_gc_frames_after_unwinding, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_gc_overwritten_reference_freed, setup, teardown),
      cmocka_unit_test_setup_teardown(generated_c_of_frames_of_references, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
