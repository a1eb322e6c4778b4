/*
 * This file implements the tests of GC's objects at run time on the
 * engine argv[1] names (the interpreter without one; ctest runs them
 * compiled too) (WebAssembly 3.0): struct and array objects with packed
 * fields, i31 references, casts and br_on_cast, the externref
 * conversions and their round trip, objects in globals, tables and
 * constant expressions, kept alive across calls, the traps the spec names,
 * the memory account's cap hit by allocating in a loop (a typed error,
 * the same as a memory's), anyref values across the public API, hostile
 * modules (huge arrays, deep object graphs built and dropped), and
 * collections inside a call: what its frames hold (locals, operands, an
 * exnref, outer frames of wasm -> host -> wasm, a host function's C
 * locals) survives, and none runs while another call does.
 */
#include "runtime/rt_test.h"
#include "runtime/gc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

static const char gc_module[] =
    "(module\n"
    "  (import \"host\" \"reenter\" (func $reenter (param i32) (result i32)))\n"
    "  (type $pt (struct (field $x (mut i32)) (field $y i8) (field $z (mut i16)) (field $w f64)))\n"
    "  (type $bytes (array (mut i8)))\n"
    "  (type $refs (array (mut anyref)))\n"
    "  (type $node (struct (field $next (mut (ref null $node))) (field $v i32)))\n"
    "  (type $base (sub (struct (field i32))))\n"
    "  (type $derived (sub $base (struct (field i32) (field i64))))\n"
    "  (global $keep (export \"keep_g\") (mut anyref) (ref.null any))\n"
    "  (global (export \"typed\") (mut (ref null $pt)) (ref.null $pt))\n"
    "  (global $const (ref $pt) (struct.new $pt (i32.const 1) (i32.const -1) (i32.const 70000)"
    " (f64.const 2.5)))\n"
    "  (global $i31 i31ref (ref.i31 (i32.const -5)))\n"
    "  (table $t 4 anyref)\n"
    "  (tag $boxed (param anyref))\n"
    "  (data $d \"\\01\\02\\03\\04\")\n"
    "  (func (export \"point\") (result i32)\n"
    "    (local $p (ref $pt))\n"
    "    (local.set $p (struct.new $pt (i32.const 7) (i32.const 200) (i32.const 65535) (f64.const 1)))\n"
    "    (struct.set $pt $x (local.get $p) (i32.add (struct.get $pt $x (local.get $p)) (i32.const 1)))\n"
    "    ;; 8 + (200 as i8: -56) + (65535 as u16) = 65487\n"
    "    (i32.add (struct.get $pt $x (local.get $p))\n"
    "      (i32.add (struct.get_s $pt $y (local.get $p)) (struct.get_u $pt $z (local.get $p)))))\n"
    "  (func (export \"const_global\") (result i32)\n"
    "    (i32.add (struct.get_s $pt $y (global.get $const)) (struct.get_u $pt $z (global.get $const))))\n"
    "  (func (export \"i31\") (result i32)\n"
    "    (i32.add (i31.get_s (global.get $i31)) (i31.get_u (ref.i31 (i32.const -1)))))\n"
    "  (func (export \"i31_eq\") (param i32 i32) (result i32)\n"
    "    (ref.eq (ref.i31 (local.get 0)) (ref.i31 (local.get 1))))\n"
    "  (func (export \"bytes\") (result i32)\n"
    "    (local $a (ref $bytes))\n"
    "    (local.set $a (array.new_data $bytes $d (i32.const 1) (i32.const 3)))\n"
    "    (array.fill $bytes (local.get $a) (i32.const 2) (i32.const 255) (i32.const 1))\n"
    "    ;; [2, 3, 255]: 2 + 3 + (-1) + len 3\n"
    "    (i32.add (i32.add (array.get_u $bytes (local.get $a) (i32.const 0))\n"
    "                      (array.get_u $bytes (local.get $a) (i32.const 1)))\n"
    "             (i32.add (array.get_s $bytes (local.get $a) (i32.const 2)) (array.len (local.get $a)))))\n"
    "  (func (export \"array_get\") (param i32) (result i32)\n"
    "    (array.get_u $bytes (array.new $bytes (i32.const 9) (i32.const 4)) (local.get 0)))\n"
    "  (func (export \"null_struct\") (result i32)\n"
    "    (struct.get $pt $x (ref.null $pt)))\n"
    "  (func (export \"null_array\") (result i32)\n"
    "    (array.len (ref.null $bytes)))\n"
    "  (func (export \"null_i31\") (result i32)\n"
    "    (i31.get_s (ref.null i31)))\n"
    "  (func (export \"cast\") (param i32) (result i32)\n"
    "    (local $r anyref)\n"
    "    (local.set $r (if (result anyref) (local.get 0)\n"
    "      (then (struct.new $derived (i32.const 1) (i64.const 2)))\n"
    "      (else (struct.new $base (i32.const 3)))))\n"
    "    (struct.get $derived 0 (ref.cast (ref $derived) (local.get $r))))\n"
    "  (func (export \"test\") (result i32)\n"
    "    (local $r anyref)\n"
    "    (local.set $r (struct.new $derived (i32.const 1) (i64.const 2)))\n"
    "    ;; a derived is a base, a struct, an eq; not an array, not an i31\n"
    "    (i32.add (i32.add (ref.test (ref $base) (local.get $r)) (ref.test structref (local.get $r)))\n"
    "      (i32.add (ref.test eqref (local.get $r))\n"
    "        (i32.add (ref.test arrayref (local.get $r)) (ref.test i31ref (local.get $r))))))\n"
    "  (func (export \"br_on_cast\") (param i32) (result i32)\n"
    "    (block $is (result (ref i31))\n"
    "      (br_on_cast $is anyref (ref i31)\n"
    "        (if (result anyref) (local.get 0) (then (ref.i31 (i32.const 42))) (else (ref.null any))))\n"
    "      (drop)\n"
    "      (return (i32.const -1)))\n"
    "    (i31.get_u))\n"
    "  (func (export \"round_trip\") (param externref) (result externref)\n"
    "    (extern.convert_any (any.convert_extern (local.get 0))))\n"
    "  (func (export \"keep\") (param i32)\n"
    "    (global.set $keep (struct.new $pt (local.get 0) (i32.const 0) (i32.const 0) (f64.const 0)))\n"
    "    (table.set $t (i32.const 1) (array.new_fixed $refs 2 (global.get $keep) (ref.i31 (i32.const 3)))))\n"
    "  (func (export \"kept\") (result i32)\n"
    "    (i32.add (struct.get $pt $x (ref.cast (ref $pt) (global.get $keep)))\n"
    "      (i31.get_u (ref.cast i31ref (array.get $refs (ref.cast (ref $refs) (table.get $t (i32.const 1)))"
    " (i32.const 1))))))\n"
    "  (func $list (export \"list\") (param $n i32) (result anyref)\n"
    "    (local $head (ref null $node))\n"
    "    (loop $l\n"
    "      (local.set $head (struct.new $node (local.get $head) (local.get $n)))\n"
    "      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))\n"
    "    (local.get $head))\n"
    "  (func $cycle (export \"cycle\") (result anyref)\n"
    "    (local $a (ref $node))\n"
    "    (local.set $a (struct.new $node (ref.null $node) (i32.const 1)))\n"
    "    (struct.set $node $next (local.get $a) (struct.new $node (local.get $a) (i32.const 2)))\n"
    "    (local.get $a))\n"
    "  (func (export \"build\") (param i32) (global.set $keep (call $list (local.get 0))))\n"
    "  (func (export \"cycle_keep\") (global.set $keep (call $cycle)))\n"
    "  (func (export \"clear\") (global.set $keep (ref.null any)) (table.set $t (i32.const 1) (ref.null any)))\n"
    "  (func (export \"garbage\") (param i32) (result i32)\n"
    "    (array.len (array.new_default $bytes (local.get 0))))\n"
    "  (func (export \"huge\") (param i32) (result i32)\n"
    "    (array.len (array.new_default $refs (local.get 0))))\n"
    "  ;; n arrays of 1 KiB made and dropped: the sum of their lengths\n"
    "  (func $churn (export \"churn\") (export \"reenter\") (param $n i32) (result i32)\n"
    "    (local $sum i32)\n"
    "    (block $done (loop $l\n"
    "      (br_if $done (i32.eqz (local.get $n)))\n"
    "      (local.set $sum (i32.add (local.get $sum) (array.len (array.new_default $bytes (i32.const 1024)))))\n"
    "      (local.set $n (i32.sub (local.get $n) (i32.const 1)))\n"
    "      (br $l)))\n"
    "    (local.get $sum))\n"
    "  (func $sum (param $l (ref null $node)) (result i32)\n"
    "    (local $s i32)\n"
    "    (block $d (loop $k\n"
    "      (br_if $d (ref.is_null (local.get $l)))\n"
    "      (local.set $s (i32.add (local.get $s) (struct.get $node $v (local.get $l))))\n"
    "      (local.set $l (struct.get $node $next (local.get $l)))\n"
    "      (br $k)))\n"
    "    (local.get $s))\n"
    "  ;; objects held by locals only (a struct; a list of len nodes through its\n"
    "  ;; head) and by the operand stack (a node under a call) while n arrays\n"
    "  ;; are churned, directly or through the host (via): 11 + 7 + 1 + .. + len\n"
    "  (func (export \"held\") (param $n i32) (param $via i32) (param $len i32) (result i32)\n"
    "    (local $p (ref null $pt)) (local $list (ref null $node))\n"
    "    (local.set $p (struct.new $pt (i32.const 11) (i32.const 2) (i32.const 3) (f64.const 4)))\n"
    "    (block $d (loop $l\n"
    "      (br_if $d (i32.eqz (local.get $len)))\n"
    "      (local.set $list (struct.new $node (local.get $list) (local.get $len)))\n"
    "      (local.set $len (i32.sub (local.get $len) (i32.const 1)))\n"
    "      (br $l)))\n"
    "    (i32.add (struct.get $pt $x (local.get $p))\n"
    "      (i32.add (call $sum (local.get $list))\n"
    "        (struct.get $node $v (struct.get $node $next (struct.new $node\n"
    "          (struct.new $node (ref.null $node) (i32.const 7))\n"
    "          (if (result i32) (local.get $via) (then (call $reenter (local.get $n)))\n"
    "            (else (call $churn (local.get $n))))))))))\n"
    "  ;; a node carried by a caught exception (an exnref in a local) while n\n"
    "  ;; arrays are churned, then thrown again and caught: its value, 9\n"
    "  (func (export \"exn_held\") (param $n i32) (result i32)\n"
    "    (local $x exnref)\n"
    "    (local.set $x (block $c (result exnref)\n"
    "      (try_table (catch_all_ref $c) (throw $boxed (struct.new $node (ref.null $node) (i32.const 9))))\n"
    "      (unreachable)))\n"
    "    (drop (call $churn (local.get $n)))\n"
    "    (struct.get $node $v (ref.cast (ref $node) (block $c2 (result anyref)\n"
    "      (try_table (catch $boxed $c2) (throw_ref (local.get $x)))\n"
    "      (unreachable)))))\n"
    ")\n";

/* The engine the tests run on: argv[1], "interp" without one. */
static const char *g_engine = "interp";

/* The fixture on g_engine with gc_module. */
static void open_gc(rt_fixture *f) { rt_fixture_open(f, g_engine, gc_module, sizeof gc_module - 1, 0, 0); }

/* Caps inst's memory account at bytes (call depth 200). */
static void set_cap(cis_instance *inst, uint64_t bytes) {
  cis_limits l;
  memset(&l, 0, sizeof l);
  l.max_call_depth = 200;
  l.max_memory_bytes = bytes;
  cis_instance_set_limits(inst, &l);
}

/* Calls export name with i32 arguments and one i32 result into *out;
 * returns the call's code. */
static cis_result call_i32(rt_fixture *f, const char *name, const int32_t *args, size_t nargs, int32_t *out) {
  cis_extern ext;
  assert_int_equal(cis_instance_export(f->inst, name, strlen(name), &ext), CIS_OK);
  cis_val a[4], r[1];
  for (size_t i = 0; i < nargs; i++) a[i] = (cis_val){.type = CIS_I32, .of.i32 = args[i]};
  uint32_t np, nr;
  const cis_valtype *pt, *rtv;
  cis_func_type(ext.of.func, &np, &pt, &nr, &rtv);
  cis_result rc = cis_func_call(f->inst, ext.of.func, a, nargs, r, nr);
  if (rc == CIS_OK && nr) *out = r[0].of.i32;
  return rc;
}

static int32_t expect_i32(rt_fixture *f, const char *name, const int32_t *args, size_t nargs) {
  int32_t v = 0;
  cis_result rc = call_i32(f, name, args, nargs, &v);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(f->inst));
  return v;
}

static void expect_trap(rt_fixture *f, const char *name, const int32_t *args, size_t nargs, cis_result code,
                        const char *msg) {
  int32_t v;
  cis_result rc = call_i32(f, name, args, nargs, &v);
  if (rc != code || !strstr(cis_errmsg(f->inst), msg))
    fail_msg("%s: got %s (%s), expected %s", name, cis_errname(rc), cis_errmsg(f->inst), msg);
}

static void objects_and_fields(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  assert_int_equal(expect_i32(&f, "point", NULL, 0), 8 - 56 + 65535);
  assert_int_equal(expect_i32(&f, "const_global", NULL, 0), -1 + (70000 & 0xffff));
  assert_int_equal(expect_i32(&f, "i31", NULL, 0), -5 + 0x7fffffff);
  int32_t same[2] = {5, 5 | (int32_t)0x80000000}, other[2] = {5, 6};
  assert_int_equal(expect_i32(&f, "i31_eq", same, 2), 1); /* one value per 31 bits */
  assert_int_equal(expect_i32(&f, "i31_eq", other, 2), 0);
  assert_int_equal(expect_i32(&f, "bytes", NULL, 0), 2 + 3 - 1 + 3);
  int32_t i = 3;
  assert_int_equal(expect_i32(&f, "array_get", &i, 1), 9);
  rt_fixture_close(&f);
}

static void traps(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  expect_trap(&f, "null_struct", NULL, 0, CIS_TRAP_NULL_STRUCT, "null structure reference");
  expect_trap(&f, "null_array", NULL, 0, CIS_TRAP_NULL_ARRAY, "null array reference");
  expect_trap(&f, "null_i31", NULL, 0, CIS_TRAP_NULL_I31, "null i31 reference");
  int32_t i = 4, neg = -1, zero = 0;
  expect_trap(&f, "array_get", &i, 1, CIS_TRAP_ARRAY_OOB, "out of bounds array access");
  expect_trap(&f, "array_get", &neg, 1, CIS_TRAP_ARRAY_OOB, "out of bounds array access");
  expect_trap(&f, "cast", &zero, 1, CIS_TRAP_CAST, "cast failure");
  rt_fixture_close(&f);
}

static void casts(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  int32_t one = 1, zero = 0;
  assert_int_equal(expect_i32(&f, "cast", &one, 1), 1);
  assert_int_equal(expect_i32(&f, "test", NULL, 0), 3);
  assert_int_equal(expect_i32(&f, "br_on_cast", &one, 1), 42);
  assert_int_equal(expect_i32(&f, "br_on_cast", &zero, 1), -1);
  rt_fixture_close(&f);
}

/* any.convert_extern then extern.convert_any gives back the externref,
 * odd pointers (which look like i31s) included. */
static void extern_round_trip(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  cis_extern ext;
  assert_int_equal(cis_instance_export(f.inst, "round_trip", strlen("round_trip"), &ext), CIS_OK);
  static const uintptr_t xs[] = {0, 1, 2, 3, 0x1001};
  for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
    cis_val a = {.type = CIS_EXTERNREF, .of.externref = (void *)xs[i]}, r;
    assert_int_equal(cis_func_call(f.inst, ext.of.func, &a, 1, &r, 1), CIS_OK);
    assert_int_equal(r.type, CIS_EXTERNREF);
    assert_ptr_equal(r.of.externref, (void *)xs[i]);
  }
  rt_fixture_close(&f);
}

/* Objects stored in a global and a table outlive the call that made them. */
static void kept_across_calls(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  int32_t v = 40;
  expect_i32(&f, "keep", &v, 1);
  assert_int_equal(expect_i32(&f, "kept", NULL, 0), 43);
  assert_int_equal(expect_i32(&f, "kept", NULL, 0), 43);
  rt_fixture_close(&f);
}

/* anyref results cross the API as CIS_ANYREF, and can be passed back. */
static void anyref_api(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  cis_extern ext;
  assert_int_equal(cis_instance_export(f.inst, "cycle", strlen("cycle"), &ext), CIS_OK);
  cis_val r;
  assert_int_equal(cis_func_call(f.inst, ext.of.func, NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(r.type, CIS_ANYREF);
  assert_int_equal(cis_anyref_kind_of(&r), CIS_ANYREF_STRUCT);
  cis_val h;
  assert_int_equal(cis_anyref_from_host(f.inst, (void *)0x11, &h), CIS_OK);
  assert_int_equal(cis_anyref_kind_of(&h), CIS_ANYREF_HOST);
  assert_ptr_equal(cis_anyref_host(&h), (void *)0x11);
  assert_int_equal(cis_anyref_i31(&h), 0);
  cis_val n = {.type = CIS_ANYREF};
  assert_int_equal(cis_anyref_kind_of(&n), CIS_ANYREF_NULL);
  /* globals: an object read is an anyref (pinned); a struct-typed one
   * takes no funcref */
  int32_t v = 5;
  expect_i32(&f, "keep", &v, 1);
  assert_int_equal(cis_instance_export(f.inst, "keep_g", strlen("keep_g"), &ext), CIS_OK);
  cis_val g = cis_global_get(ext.of.global);
  assert_int_equal(g.type, CIS_ANYREF);
  assert_int_equal(cis_anyref_kind_of(&g), CIS_ANYREF_STRUCT);
  assert_int_equal(cis_instance_export(f.inst, "typed", strlen("typed"), &ext), CIS_OK);
  assert_int_equal(cis_global_get(ext.of.global).type, CIS_ANYREF);
  cis_val fr = {.type = CIS_FUNCREF};
  assert_int_equal(cis_global_set(ext.of.global, fr), CIS_EINVAL);
  assert_int_equal(cis_global_set(ext.of.global, n), CIS_OK);
  /* a wrong type for an anyref parameter is refused */
  assert_int_equal(cis_instance_export(f.inst, "round_trip", strlen("round_trip"), &ext), CIS_OK);
  assert_int_equal(cis_func_call(f.inst, ext.of.func, &h, 1, &r, 1), CIS_EINVAL);
  rt_fixture_close(&f);
}

/* A v128 that a constant expression stores in an object keeps all its
 * 16 bytes: a v128.const, a v128 global read, in a struct field and in
 * array.new_fixed's and array.new's elements. */
static const char v128_consts[] =
    "(module\n"
    "  (type $v (struct (field v128)))\n"
    "  (type $va (array v128))\n"
    "  (global $c v128 (v128.const i64x2 0x3333 0x4444))\n"
    "  (global $s (ref $v) (struct.new $v (v128.const i64x2 0x1111 0x2222)))\n"
    "  (global $t (ref $v) (struct.new $v (global.get $c)))\n"
    "  (global $a (ref $va) (array.new_fixed $va 2 (v128.const i64x2 5 6) (global.get $c)))\n"
    "  (global $b (ref $va) (array.new $va (v128.const i64x2 7 8) (i32.const 3)))\n"
    "  (func (export \"hi\") (param $k i32) (result i32)\n"
    "    (i32.wrap_i64 (i64x2.extract_lane 1\n"
    "      (if (result v128) (i32.eqz (local.get $k)) (then (struct.get $v 0 (global.get $s)))\n"
    "        (else (if (result v128) (i32.eq (local.get $k) (i32.const 1)) (then (struct.get $v 0 (global.get $t)))\n"
    "          (else (if (result v128) (i32.eq (local.get $k) (i32.const 2)) (then (array.get $va (global.get $a) (i32.const 0)))\n"
    "            (else (if (result v128) (i32.eq (local.get $k) (i32.const 3)) (then (array.get $va (global.get $a) (i32.const 1)))\n"
    "              (else (array.get $va (global.get $b) (i32.const 2)))))))))))))\n"
    ")\n";

static void constant_v128_fields_whole(void **state) {
  (void)state;
  rt_fixture f;
  rt_fixture_open(&f, g_engine, v128_consts, sizeof v128_consts - 1, 0, 0);
  static const int32_t want[] = {0x2222, 0x4444, 6, 0x4444, 8};
  for (int32_t k = 0; k < 5; k++) assert_int_equal(expect_i32(&f, "hi", &k, 1), want[k]);
  rt_fixture_close(&f);
}

/* Allocating past the account's cap ends the call with CIS_EMEMLIMIT, as a
 * memory's growth past it does, when a collection inside the call finds
 * everything live (a list held from a local); the objects made so far
 * stay counted, and go with the engine. */
static void memory_cap(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  set_cap(f.inst, 4u << 20);
  int32_t n = 1000000; /* a million nodes of 48 bytes and more: past 4 MiB */
  cis_extern ext;
  assert_int_equal(cis_instance_export(f.inst, "list", strlen("list"), &ext), CIS_OK);
  cis_val a = {.type = CIS_I32, .of.i32 = n}, r;
  cis_result rc = cis_func_call(f.inst, ext.of.func, &a, 1, &r, 1);
  assert_int_equal(rc, CIS_EMEMLIMIT);
  assert_non_null(strstr(cis_errmsg(f.inst), "memory limit exceeded"));
  assert_true(cis_instance_memory_used(f.inst) <= (4u << 20) + CIS_MEMORY_SLACK);
  /* a huge array: refused the same way, never allocated */
  int32_t huge = 0x7fffffff;
  expect_trap(&f, "huge", &huge, 1, CIS_EMEMLIMIT, "memory limit exceeded");
  rt_fixture_close(&f);
}

/* A million-node list and a cycle: made, returned, and freed with the
 * engine (ASan checks the freeing); building them recurses nowhere. */
static void deep_graphs(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  cis_extern ext;
  assert_int_equal(cis_instance_export(f.inst, "list", strlen("list"), &ext), CIS_OK);
  cis_val a = {.type = CIS_I32, .of.i32 = 1000000}, r;
  assert_int_equal(cis_func_call(f.inst, ext.of.func, &a, 1, &r, 1), CIS_OK);
  assert_int_equal(cis_anyref_kind_of(&r), CIS_ANYREF_STRUCT);
  uint64_t bytes = 0;
  assert_true(cis__gc_count(f.e, &bytes) >= 1000000);
  assert_true(bytes >= 1000000u * sizeof(cis__gcobj));
  assert_int_equal(cis_instance_export(f.inst, "cycle", strlen("cycle"), &ext), CIS_OK);
  assert_int_equal(cis_func_call(f.inst, ext.of.func, NULL, 0, &r, 1), CIS_OK);
  rt_fixture_close(&f);
}

/* Calls export name with no results and i32 argument v (when with). */
static void run(rt_fixture *f, const char *name, bool with, int32_t v) {
  int32_t out;
  cis_result rc = call_i32(f, name, &v, with, &out);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(f->inst));
}

/* A million-node list and a cycle, dropped from the global that held
 * them, are collected: the objects and the account's bytes come back. */
static void collected(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  uint64_t base = cis_instance_memory_used(f.inst);
  run(&f, "build", true, 1000000);
  assert_true(cis__gc_count(f.e, NULL) >= 1000000);
  assert_true(cis_instance_memory_used(f.inst) >= base + 1000000u * sizeof(cis__gcobj));
  /* the end of build collected (a list's worth was new) and kept it all;
   * the next is due once as much again was allocated: forced here */
  run(&f, "clear", false, 0);
  assert_true(cis__gc_collect(f.e) >= 1000000);
  assert_true(cis__gc_count(f.e, NULL) < 100);
  assert_true(cis_instance_memory_used(f.inst) < base + 4096);
  run(&f, "cycle_keep", false, 0);
  uint64_t n = cis__gc_count(f.e, NULL);
  assert_int_equal(cis__gc_collect(f.e), 0); /* reachable from the global: kept */
  run(&f, "clear", false, 0);
  assert_int_equal(cis__gc_collect(f.e), 2);
  assert_int_equal(cis__gc_count(f.e, NULL), n - 2);
  rt_fixture_close(&f);
}

/* What a global, a table and the host hold survives collections. */
static void roots_survive(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  int32_t v = 40;
  expect_i32(&f, "keep", &v, 1);
  cis_extern ext;
  assert_int_equal(cis_instance_export(f.inst, "cycle", strlen("cycle"), &ext), CIS_OK);
  cis_val held;
  assert_int_equal(cis_func_call(f.inst, ext.of.func, NULL, 0, &held, 1), CIS_OK);
  run(&f, "garbage", true, 2 << 20); /* due: its end collects */
  cis__gc_collect(f.e);
  assert_int_equal(expect_i32(&f, "kept", NULL, 0), 43);
  assert_int_equal(cis_anyref_kind_of(&held), CIS_ANYREF_STRUCT); /* pinned: still there (ASan) */
  rt_fixture_close(&f);
}

/* Garbage made call after call stays under the cap: each call's end
 * collects what the one before left. */
static void cap_with_collections(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  set_cap(f.inst, 8u << 20);
  for (int i = 0; i < 40; i++) run(&f, "garbage", true, 1 << 20); /* 40 MiB in all */
  assert_true(cis_instance_memory_peak(f.inst) <= (8u << 20) + CIS_MEMORY_SLACK);
  rt_fixture_close(&f);
}

/* One call making 100 MiB of garbage runs under a 1 MiB account: it
 * collects inside itself, when due and when the account is full. */
static void in_call_churn(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  set_cap(f.inst, 1u << 20);
  int32_t n = 100 * 1024;
  assert_int_equal(expect_i32(&f, "churn", &n, 1), n * 1024);
  assert_true(cis_instance_memory_peak(f.inst) <= (1u << 20) + CIS_MEMORY_SLACK);
  rt_fixture_close(&f);
}

/* What a collection inside a call leaves: objects held only by locals
 * (a struct, a list through its head), by the operand stack under a call,
 * by an exception caught as an exnref; from the frames of a call into a
 * host function whose callback into wasm collects. Each is read after the
 * churn (ASan sees a wrong free; without it the values would differ). */
static void in_call_roots(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  set_cap(f.inst, 1u << 20);
  int32_t direct[3] = {4096, 0, 100}, via[3] = {4096, 1, 100}, n = 4096;
  assert_int_equal(expect_i32(&f, "held", direct, 3), 11 + 7 + 5050);
  assert_int_equal(expect_i32(&f, "held", via, 3), 11 + 7 + 5050);
  assert_int_equal(expect_i32(&f, "exn_held", &n, 1), 9);
  /* a long list, live across several collections: marked without
   * recursion */
  set_cap(f.inst, 16u << 20);
  int32_t deep[3] = {32 * 1024, 1, 100000};
  assert_int_equal(expect_i32(&f, "held", deep, 3), (int32_t)(uint32_t)(11 + 7 + 100000ull * 100001 / 2));
  rt_fixture_close(&f);
}

/* While a call this one does not hold runs (another thread's: begun here
 * by hand), no collection runs inside it: the account fills. When that
 * call ends, the same call collects again. */
static void in_call_other_calls(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  set_cap(f.inst, 1u << 20);
  int32_t n = 4096;
  cis__gc_call_begin(f.e);
  expect_trap(&f, "churn", &n, 1, CIS_EMEMLIMIT, "memory limit exceeded");
  cis__gc_call_end(f.e);
  assert_int_equal(expect_i32(&f, "churn", &n, 1), n * 1024);
  rt_fixture_close(&f);
}

/* Runs fn(arg) on a stack of its own (1 MiB), announced to cis by
 * cis_stack_switched or not. Not under AddressSanitizer, which takes a
 * stack switch nobody announced to it for an overflow. */
#if !defined(__SANITIZE_ADDRESS__)
typedef struct stack_run {
  void (*fn)(void *);
  void *arg;
  bool announce;             /* call cis_stack_switched */
  void *stack;
  size_t size;
  ucontext_t back, co;
} stack_run;

static stack_run *g_stack_run;

static void stack_run_main(void) {
  stack_run *r = g_stack_run;
  if (r->announce) cis_stack_switched(r->stack, r->size);
  r->fn(r->arg);
  if (r->announce) cis_stack_switched(NULL, 0);
  swapcontext(&r->co, &r->back);
}

static void on_stack(void (*fn)(void *), void *arg, bool announce) {
  stack_run r = {.fn = fn, .arg = arg, .announce = announce, .size = 1u << 20};
  r.stack = mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(r.stack != MAP_FAILED);
  stack_run *was = g_stack_run;
  g_stack_run = &r;
  assert_int_equal(getcontext(&r.co), 0);
  r.co.uc_stack.ss_sp = r.stack;
  r.co.uc_stack.ss_size = r.size;
  r.co.uc_link = NULL;
  makecontext(&r.co, stack_run_main, 0);
  assert_int_equal(swapcontext(&r.back, &r.co), 0);
  g_stack_run = was;
  munmap(r.stack, r.size);
}
#endif

/* A call of export "reenter" of inst with n, on a stack of its own or not. */
typedef struct reenter_call {
  cis_instance *inst;
  int32_t n;
  cis_result rc;
} reenter_call;

static void reenter_run(void *p) {
  reenter_call *c = p;
  cis_extern ext;
  c->rc = cis_instance_export(c->inst, "reenter", strlen("reenter"), &ext);
  cis_slot v = {.i32 = c->n};
  if (c->rc == CIS_OK) c->rc = cis_func_call_slots(c->inst, ext.of.func, &v, &v);
}

/* host.aside calls back into wasm to churn on another stack (announced).
 * host.take releases its argument when its user flag says so. */
/* The types both modules below use, and their export "reenter" (n):
 * n arrays of 1 KiB made and dropped, the churn reenter_run makes. */
#define REENTER_MODULE_PART                                                      \
  "  (type $node (struct (field $next (mut (ref null $node))) (field $v i32)))\n" \
  "  (type $bytes (array (mut i8)))\n"                                            \
  "  (func (export \"reenter\") (param $n i32) (result i32)\n"                    \
  "    (block $done (loop $l\n"                                                  \
  "      (br_if $done (i32.eqz (local.get $n)))\n"                               \
  "      (drop (array.new_default $bytes (i32.const 1024)))\n"                   \
  "      (local.set $n (i32.sub (local.get $n) (i32.const 1)))\n"                \
  "      (br $l)))\n"                                                            \
  "    (i32.const 0))\n"

static const char hold_module[] =
    "(module\n"
    "  (import \"host\" \"aside\" (func $aside (param i32) (result i32)))\n"
    "  (import \"host\" \"take\" (func $take (param externref) (result i32)))\n"
    REENTER_MODULE_PART
    "  (func (export \"aside\") (param i32) (result i32) (call $aside (local.get 0)))\n"
    "  ;; n fresh arrays of 1 KiB handed to the host\n"
    "  (func (export \"give\") (param $n i32)\n"
    "    (block $done (loop $l\n"
    "      (br_if $done (i32.eqz (local.get $n)))\n"
    "      (drop (call $take (extern.convert_any (array.new_default $bytes (i32.const 1024)))))\n"
    "      (local.set $n (i32.sub (local.get $n) (i32.const 1)))\n"
    "      (br $l)))))\n";

static cis_result host_aside(cis_call *c, const cis_slot *a, cis_slot *r) {
  reenter_call rc = {.inst = cis_call_instance(c), .n = a[0].i32, .rc = CIS_EUNSUPPORTED};
#if !defined(__SANITIZE_ADDRESS__)
  on_stack(reenter_run, &rc, true);
#endif
  r[0].i32 = 0;
  return rc.rc;
}

static cis_result host_take(cis_call *c, const cis_slot *a, cis_slot *r) {
  r[0].i32 = 0;
  cis_val v = {.type = CIS_EXTERNREF, .of = a[0]};
  return *(const bool *)cis_call_user(c) ? cis_anyref_release(cis_call_instance(c), &v) : CIS_OK;
}

/* The fixture's engine with an instance of hold_module (account: 1 MiB). */
typedef struct hold_fixture {
  rt_fixture f;
  cis_module *m;
  cis_imports *im;
  cis_instance *inst;
  bool release;              /* host.take releases its argument */
} hold_fixture;

static void hold_open(hold_fixture *h) {
  open_gc(&h->f);
  assert_int_equal(cis_module_new_text(h->f.e, hold_module, sizeof hold_module - 1, &h->m), CIS_OK);
  h->release = false;
  cis_host_func_def d[] = {{"host", "aside", "(i)i", host_aside, NULL, 0},
                           {"host", "take", "(r)i", host_take, &h->release, 0}};
  assert_int_equal(cis_imports_new(h->f.e, &h->im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(h->im, d, 2), CIS_OK);
  assert_int_equal(cis_instance_new(h->m, h->im, NULL, &h->inst), CIS_OK);
  set_cap(h->inst, 1u << 20);
}

static void hold_close(hold_fixture *h) {
  cis_instance_free(h->inst);
  cis_imports_free(h->im);
  cis_module_free(h->m);
  rt_fixture_close(&h->f);
}

/* Objects a host function is handed stay until it releases them: a
 * module giving it fresh ones in a loop fills a small account unless it
 * does, and runs within it when it does. */
static void released_arguments(void **state) {
  (void)state;
  hold_fixture h;
  hold_open(&h);
  cis_extern ext;
  assert_int_equal(cis_instance_export(h.inst, "give", strlen("give"), &ext), CIS_OK);
  cis_val a = {.type = CIS_I32, .of.i32 = 4096};
  assert_int_equal(cis_func_call(h.inst, ext.of.func, &a, 1, NULL, 0), CIS_EMEMLIMIT);
  hold_close(&h);
  hold_open(&h);
  h.release = true;
  assert_int_equal(cis_instance_export(h.inst, "give", strlen("give"), &ext), CIS_OK);
  cis_result rc = cis_func_call(h.inst, ext.of.func, &a, 1, NULL, 0);
  if (rc != CIS_OK) fail_msg("give: %s: %s", cis_errname(rc), cis_errmsg(h.inst));
  hold_close(&h);
}

/* A result is held once per handing: collected after the last release;
 * releasing more, or what is no reference, is refused; null, an i31 or a
 * host's externref have nothing to release. */
static void released_results(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  cis_extern ext;
  assert_int_equal(cis_instance_export(f.inst, "cycle", strlen("cycle"), &ext), CIS_OK);
  cis_val r;
  assert_int_equal(cis_func_call(f.inst, ext.of.func, NULL, 0, &r, 1), CIS_OK);
  run(&f, "cycle_keep", false, 0);
  run(&f, "clear", false, 0);
  assert_int_equal(cis__gc_collect(f.e), 2); /* cycle_keep's: nobody holds them */
  /* the same object handed out twice more: through the global */
  cis_extern g;
  assert_int_equal(cis_instance_export(f.inst, "keep_g", strlen("keep_g"), &g), CIS_OK);
  assert_int_equal(cis_global_set(g.of.global, r), CIS_OK);
  cis_val r2 = cis_global_get(g.of.global);
  assert_ptr_equal(r2.of.externref, r.of.externref);
  run(&f, "clear", false, 0);
  assert_int_equal(cis_anyref_release(f.inst, &r), CIS_OK);
  assert_int_equal(cis__gc_collect(f.e), 0); /* r2 still holds it */
  assert_int_equal(cis_anyref_kind_of(&r2), CIS_ANYREF_STRUCT);
  assert_int_equal(cis_anyref_release(f.inst, &r2), CIS_OK);
  assert_int_equal(cis__gc_collect(f.e), 2);
  /* hostile: once more than handed out; the wrong value types; nothing */
  cis_val obj = {.type = CIS_ANYREF};
  assert_int_equal(cis_anyref_from_host(f.inst, (void *)0x13, &obj), CIS_OK);
  assert_int_equal(cis_anyref_release(f.inst, &obj), CIS_OK);
  assert_int_equal(cis_anyref_release(f.inst, &obj), CIS_EINVAL); /* not collected yet: refused */
  assert_non_null(strstr(cis_errmsg(f.inst), "released more times"));
  cis_val i32 = {.type = CIS_I32, .of.i32 = 4};
  assert_int_equal(cis_anyref_release(f.inst, &i32), CIS_EINVAL);
  cis_val none[] = {{.type = CIS_ANYREF}, {.type = CIS_ANYREF, .of.u64 = 7}, {.type = CIS_EXTERNREF, .of.externref = &f}};
  for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
    assert_int_equal(cis_anyref_release(f.inst, &none[i]), CIS_OK);
  assert_int_equal(cis_anyref_release(NULL, &none[0]), CIS_EINVAL);
  assert_int_equal(cis_anyref_release(f.inst, NULL), CIS_EINVAL);
  rt_fixture_close(&f);
}

/* Precise roots: which slots of the interpreter's frames a collection
 * inside a call takes for references. host.addr (host.addr2: after an
 * i32) gives an object's address as an i64 and releases its pin, so that
 * nothing but the frames can hold it; host.live tells whether a struct
 * still lies at an address; host.reenter churns n arrays of 1 KiB by a
 * call back into wasm (export "reenter"), collecting inside the call
 * under the 1 MiB account. $fresh makes a node of value v with its
 * address in $a. The kept_* exports return the node's value times ten
 * plus whether it lived: each holds it where a collection must see it (a
 * reference local, a parameter under call, call_ref and the tail calls,
 * an operand below a call's arguments, below a try_table's too). The others hold it only where a
 * collection must not take it for a reference (an i64 local, an operand
 * slot above the height, a local set to null, the frame of a tail call
 * that left the loop): 0, freed. */
static const char prec_module[] =
    "(module\n"
    "  (import \"host\" \"addr\" (func $addr (param externref) (result i64)))\n"
    "  (import \"host\" \"addr2\" (func $addr2 (param i32 externref) (result i64)))\n"
    "  (import \"host\" \"live\" (func $live (param i64) (result i32)))\n"
    "  (import \"host\" \"reenter\" (func $reenter (param i32) (result i32)))\n"
    "  (type $node (struct (field $next (mut (ref null $node))) (field $v i32)))\n"
    "  (type $bytes (array (mut i8)))\n"
    "  (type $take (func (param (ref null $node) i32) (result i32)))\n"
    "  (global $a (mut i64) (i64.const 0))\n"
    "  (elem declare func $use)\n"
    "  (func (export \"reenter\") (param $n i32) (result i32)\n"
    "    (block $done (loop $l\n"
    "      (br_if $done (i32.eqz (local.get $n)))\n"
    "      (drop (array.new_default $bytes (i32.const 1024)))\n"
    "      (local.set $n (i32.sub (local.get $n) (i32.const 1)))\n"
    "      (br $l)))\n"
    "    (i32.const 0))\n"
    "  (func $fresh (param $v i32) (result (ref null $node))\n"
    "    (local $r (ref null $node))\n"
    "    (local.set $r (struct.new $node (ref.null $node) (local.get $v)))\n"
    "    (global.set $a (call $addr (extern.convert_any (local.get $r))))\n"
    "    (local.get $r))\n"
    "  (func $use (type $take) (param $p (ref null $node)) (param $n i32) (result i32)\n"
    "    (drop (call $reenter (local.get $n)))\n"
    "    (i32.add (i32.mul (struct.get $node $v (local.get $p)) (i32.const 10)) (call $live (global.get $a))))\n"
    "  (func (export \"kept_local\") (param $n i32) (result i32)\n"
    "    (local $r (ref null $node))\n"
    "    (local.set $r (call $fresh (i32.const 4)))\n"
    "    (drop (call $reenter (local.get $n)))\n"
    "    (i32.add (i32.mul (struct.get $node $v (local.get $r)) (i32.const 10)) (call $live (global.get $a))))\n"
    "  (func (export \"kept_param\") (param $n i32) (result i32)\n"
    "    (call $use (call $fresh (i32.const 5)) (local.get $n)))\n"
    "  (func (export \"kept_call_ref\") (param $n i32) (result i32)\n"
    "    (call_ref $take (call $fresh (i32.const 6)) (local.get $n) (ref.func $use)))\n"
    "  (func (export \"kept_return_call_ref\") (param $n i32) (result i32)\n"
    "    (return_call_ref $take (call $fresh (i32.const 7)) (local.get $n) (ref.func $use)))\n"
    "  (func (export \"kept_return_call\") (param $n i32) (result i32)\n"
    "    (return_call $use (call $fresh (i32.const 8)) (local.get $n)))\n"
    "  (func (export \"kept_operand\") (param $n i32) (result i32)\n"
    "    (i32.add (i32.mul (struct.get $node $v (struct.get $node $next\n"
    "      (struct.new $node (call $fresh (i32.const 9)) (call $reenter (local.get $n))))) (i32.const 10))\n"
    "      (call $live (global.get $a))))\n"
    "  ;; the node below a try_table whose clause leaves the block it lies in\n"
    "  (func (export \"kept_try\") (param $n i32) (result i32)\n"
    "    (local $s i32)\n"
    "    (block $c\n"
    "      (local.set $s (struct.get $node $v (struct.get $node $next\n"
    "        (struct.new $node (call $fresh (i32.const 2))\n"
    "          (try_table (result i32) (catch_all $c) (call $reenter (local.get $n))))))))\n"
    "    (i32.add (i32.mul (local.get $s) (i32.const 10)) (call $live (global.get $a))))\n"
    "  (func (export \"i64_local\") (param $n i32) (result i32)\n"
    "    (local $x i64)\n"
    "    (local.set $x (call $addr (extern.convert_any (struct.new $node (ref.null $node) (i32.const 1)))))\n"
    "    (drop (call $reenter (local.get $n)))\n"
    "    (call $live (local.get $x)))\n"
    "  (func (export \"dead_operand\") (param $n i32) (result i32)\n"
    "    (global.set $a (call $addr2 (i32.const 0) (extern.convert_any (struct.new $node (ref.null $node)"
    " (i32.const 2)))))\n"
    "    (drop (call $reenter (local.get $n)))\n"
    "    (call $live (global.get $a)))\n"
    "  (func (export \"null_local\") (param $n i32) (result i32)\n"
    "    (local $r (ref null $node))\n"
    "    (local.set $r (call $fresh (i32.const 3)))\n"
    "    (local.set $r (ref.null $node))\n"
    "    (drop (call $reenter (local.get $n)))\n"
    "    (call $live (global.get $a)))\n"
    "  (func $tail_out (param $n i32) (result i32)\n"
    "    (local $r (ref null $node))\n"
    "    (local.set $r (call $fresh (i32.const 3)))\n"
    "    (return_call $reenter (local.get $n)))\n"
    "  (func (export \"tail_out\") (param $n i32) (result i32)\n"
    "    (drop (call $tail_out (local.get $n)))\n"
    "    (call $live (global.get $a)))\n"
    "  ;; n nodes made by a loop of tail calls, each while only the one before\n"
    "  ;; is held (its argument): the last one's value, 1\n"
    "  (func $tloop (export \"tail_loop\") (param $n i32) (param $prev (ref null $node)) (result i32)\n"
    "    (if (result i32) (i32.eqz (local.get $n))\n"
    "      (then (struct.get $node $v (local.get $prev)))\n"
    "      (else (return_call $tloop (i32.sub (local.get $n) (i32.const 1))\n"
    "        (struct.new $node (ref.null $node) (local.get $n))))))\n"
    ")\n";

static cis_result host_addr(cis_call *c, const cis_slot *a, cis_slot *r) {
  cis_val v = {.type = CIS_EXTERNREF, .of = a[*(const int *)cis_call_user(c)]};
  r[0].u64 = (uint64_t)(uintptr_t)v.of.externref;
  return cis_anyref_release(cis_call_instance(c), &v);
}

static cis_result host_live(cis_call *c, const cis_slot *a, cis_slot *r) {
  const cis__gcobj *o = (const cis__gcobj *)(uintptr_t)a[0].u64;
  /* a struct at that address: an array made since at the same place is
   * not the node */
  r[0].u64 = cis__gc_is_obj(cis_call_user(c), o) && o->lay && o->lay->comp == CIS__COMP_STRUCT;
  return CIS_OK;
}

static cis_result host_reenter(cis_call *c, const cis_slot *a, cis_slot *r) {
  reenter_call rc = {.inst = cis_call_instance(c), .n = a[0].i32};
  reenter_run(&rc);
  r[0].u64 = 0;
  return rc.rc;
}

/* The fixture's engine with an instance of text (prec_module's imports),
 * its account capped at 1 MiB: f.inst is that instance. */
typedef struct prec_fixture {
  rt_fixture base;           /* the engine */
  rt_fixture f;              /* the engine, and the instance of text */
} prec_fixture;

static void prec_open(prec_fixture *p, const char *text, size_t len) {
  static const int first = 0, second = 1;
  open_gc(&p->base);
  p->f = p->base;
  assert_int_equal(cis_module_new_text(p->f.e, text, len, &p->f.m), CIS_OK);
  cis_host_func_def d[] = {{"host", "addr", "(r)I", host_addr, (void *)&first, 0},
                           {"host", "addr2", "(ir)I", host_addr, (void *)&second, 0},
                           {"host", "live", "(I)i", host_live, p->f.e, 0},
                           {"host", "reenter", "(i)i", host_reenter, NULL, 0}};
  assert_int_equal(cis_imports_new(p->f.e, &p->f.im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(p->f.im, d, 4), CIS_OK);
  assert_int_equal(cis_instance_new(p->f.m, p->f.im, NULL, &p->f.inst), CIS_OK);
  set_cap(p->f.inst, 1u << 20);
}

static void prec_close(prec_fixture *p) {
  cis_instance_free(p->f.inst);
  cis_imports_free(p->f.im);
  cis_module_free(p->f.m);
  rt_fixture_close(&p->base);
}

/* What the frames hold where a collection must see it lives through
 * collections inside the call (both engines; ASan sees a wrong free);
 * what they hold only in slots that are no references, or dead, is
 * freed (the interpreter: compiled frames are still scanned as words). */
static void in_call_precise(void **state) {
  (void)state;
  prec_fixture p;
  prec_open(&p, prec_module, sizeof prec_module - 1);
  static const struct {
    const char *name;
    int32_t kept;              /* the result while the object lives; -1: freed */
  } cases[] = {
      {"kept_local", 41},  {"kept_param", 51},   {"kept_call_ref", 61}, {"kept_return_call_ref", 71},
      {"kept_return_call", 81}, {"kept_operand", 91}, {"kept_try", 21},   {"i64_local", -1},
      {"dead_operand", -1},
      {"null_local", -1},  {"tail_out", -1},
  };
  bool interp = !strcmp(g_engine, "interp");
  int32_t n = 4096; /* 4 MiB of arrays: collections inside the call */
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int32_t v = expect_i32(&p.f, cases[i].name, &n, 1);
    if (cases[i].kept >= 0 ? v != cases[i].kept : interp && v != 0)
      fail_msg("%s: %d, expected %d", cases[i].name, v, cases[i].kept >= 0 ? cases[i].kept : 0);
  }
  prec_close(&p);
}

/* A loop of tail calls that allocates runs in constant memory: 200000
 * nodes (about 13 MiB) under the 1 MiB account, each made while the one
 * before is the loop's argument. */
static void in_call_tail_loop(void **state) {
  (void)state;
  prec_fixture p;
  prec_open(&p, prec_module, sizeof prec_module - 1);
  cis_extern ext;
  assert_int_equal(cis_instance_export(p.f.inst, "tail_loop", strlen("tail_loop"), &ext), CIS_OK);
  cis_val a[2] = {{.type = CIS_I32, .of.i32 = 200000}, {.type = CIS_ANYREF}}, r;
  cis_result rc = cis_func_call(p.f.inst, ext.of.func, a, 2, &r, 1);
  if (rc != CIS_OK) fail_msg("tail_loop: %s: %s", cis_errname(rc), cis_errmsg(p.f.inst));
  assert_int_equal(r.of.i32, 1);
  assert_true(cis_instance_memory_peak(p.f.inst) <= (1u << 20) + CIS_MEMORY_SLACK);
  prec_close(&p);
}

/* Hostile: a function whose operand stack holds 3000 nodes under 3000
 * calls would make a stack map quadratic in its body; past a bound the
 * interpreter gives up its map's places instead: it runs as written, and
 * no collection runs inside the call while its frame lives (the account
 * fills under a churn that needs one). */
static void in_call_unmapped(void **state) {
  (void)state;
  enum { DEPTH = 3000 };
  static const char head[] =
      "(module\n"
      "  (import \"host\" \"addr\" (func $addr (param externref) (result i64)))\n"
      "  (import \"host\" \"addr2\" (func $addr2 (param i32 externref) (result i64)))\n"
      "  (import \"host\" \"live\" (func $live (param i64) (result i32)))\n"
      "  (import \"host\" \"reenter\" (func $reenter (param i32) (result i32)))\n"
      REENTER_MODULE_PART
      "  (func (export \"deep\") (param $n i32) (result i32)\n";
  static const char node[] = "(struct.new $node (ref.null $node) (i32.const 1))\n";
  static const char call[] = "(drop (call $reenter (local.get $n)))\n";
  static const char tail[] = "(i32.const 7)))\n";
  size_t cap = sizeof head + DEPTH * (sizeof node + sizeof call + sizeof "(drop)\n") + sizeof tail, len = 0;
  char *text = malloc(cap);
  assert_non_null(text);
  len += (size_t)snprintf(text + len, cap - len, "%s", head);
  for (int i = 0; i < DEPTH; i++) len += (size_t)snprintf(text + len, cap - len, "%s", node);
  for (int i = 0; i < DEPTH; i++) len += (size_t)snprintf(text + len, cap - len, "%s", call);
  for (int i = 0; i < DEPTH; i++) len += (size_t)snprintf(text + len, cap - len, "(drop)\n");
  len += (size_t)snprintf(text + len, cap - len, "%s", tail);
  assert_true(len < cap);
  prec_fixture p;
  prec_open(&p, text, len);
  free(text);
  int32_t n = 0;
  assert_int_equal(expect_i32(&p.f, "deep", &n, 1), 7);
  n = 2; /* 3000 calls churning 6000 arrays in all: collections needed */
  int32_t v = 0;
  cis_result rc = call_i32(&p.f, "deep", &n, 1, &v);
  if (!strcmp(g_engine, "interp") ? rc != CIS_EMEMLIMIT : rc != CIS_OK)
    fail_msg("deep: %s: %s", cis_errname(rc), cis_errmsg(p.f.inst));
  prec_close(&p);
}

#if !defined(__SANITIZE_ADDRESS__)
/* A call of export "aside" (4096 arrays churned by a call back on
 * another stack) of inst. */
typedef struct aside_call {
  cis_instance *inst;
  cis_result rc;
} aside_call;

static void aside_run(aside_call *c) {
  cis_extern ext;
  c->rc = cis_instance_export(c->inst, "aside", strlen("aside"), &ext);
  cis_val a = {.type = CIS_I32, .of.i32 = 4096}, r;
  if (c->rc == CIS_OK) c->rc = cis_func_call(c->inst, ext.of.func, &a, 1, &r, 1);
}

static void *aside_thread(void *p) {
  aside_run(p);
  return NULL;
}
#endif

/* No native frame is read: a call collects inside itself on any stack,
 * one nobody announced, and one a host function switched to before it
 * called back into wasm. */
static void in_call_switched_stacks(void **state) {
  (void)state;
#if defined(__SANITIZE_ADDRESS__)
  skip();
#else
  hold_fixture h;
  hold_open(&h);
  reenter_call c = {.inst = h.inst, .n = 4096};
  on_stack(reenter_run, &c, false);
  assert_int_equal(c.rc, CIS_OK);
  on_stack(reenter_run, &c, true);
  assert_int_equal(c.rc, CIS_OK);
  reenter_run(&c);
  assert_int_equal(c.rc, CIS_OK);
  /* host.aside's stack lies below this thread's here: the call stack
   * check refuses the call back */
  aside_call ac = {.inst = h.inst};
  aside_run(&ac);
  assert_int_equal(ac.rc, CIS_TRAP_STACK);
  /* on a thread whose stack lies below host.aside's (mapped low), the
   * call back runs, and collects */
  size_t size = 8u << 20;
  void *low = mmap((void *)(uintptr_t)0x200000000ull, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  assert_true(low != MAP_FAILED);
  pthread_attr_t at;
  pthread_t t;
  assert_int_equal(pthread_attr_init(&at), 0);
  assert_int_equal(pthread_attr_setstack(&at, low, size), 0);
  assert_int_equal(pthread_create(&t, &at, aside_thread, &ac), 0);
  pthread_join(t, NULL);
  pthread_attr_destroy(&at);
  munmap(low, size);
  if (ac.rc != CIS_OK) fail_msg("aside: %s: %s", cis_errname(ac.rc), cis_errmsg(h.inst));
  hold_close(&h);
#endif
}

typedef struct churner {
  cis_instance *inst;
  int failed;                /* calls that did not give the expected sum */
} churner;

static void *churn_calls(void *p) {
  churner *c = p;
  cis_extern ext;
  if (cis_instance_export(c->inst, "churn", strlen("churn"), &ext) != CIS_OK) {
    c->failed = -1;
    return NULL;
  }
  for (int i = 0; i < 20; i++) {
    cis_val a = {.type = CIS_I32, .of.i32 = 2048}, r;
    if (cis_func_call(c->inst, ext.of.func, &a, 1, &r, 1) != CIS_OK || r.of.i32 != 2048 * 1024) c->failed++;
  }
  return NULL;
}

/* Two threads churning on two instances of one engine: a collection runs
 * inside a call only while the other thread has none running, and a call
 * starting then waits for it to end (bounded: 20 calls of 2 MiB each). */
static void in_call_two_threads(void **state) {
  (void)state;
  rt_fixture f;
  open_gc(&f);
  churner c[2] = {{.inst = f.inst}, {.inst = NULL}};
  assert_int_equal(cis_instance_new(f.m, f.im, NULL, &c[1].inst), CIS_OK);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, churn_calls, &c[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  assert_int_equal(c[0].failed, 0);
  assert_int_equal(c[1].failed, 0);
  cis__gc_collect(f.e);
  assert_true(cis__gc_count(f.e, NULL) < 100);
  cis_instance_free(c[1].inst);
  rt_fixture_close(&f);
}

/* Hostile modules: GC instructions on the wrong types are refused by the
 * validator; in 2.0 their opcodes are illegal. */
static void hostile_modules(void **state) {
  (void)state;
  static const struct {
    const char *text;
    cis_result code;
    const char *msg;
  } cases[] = {
      {"(module (type $a (array i8)) (func (drop (struct.get $a 0 (ref.null $a)))))", CIS_ETYPE, "type mismatch"},
      {"(module (type $s (struct (field i8))) (func (drop (struct.get $s 0 (ref.null $s)))))", CIS_ETYPE,
       "type mismatch"},
      {"(module (type $s (struct (field i32))) (func (struct.set $s 0 (ref.null $s) (i32.const 1))))",
       CIS_EINVALID, "immutable field"},
      {"(module (type $a (array i32)) (func (array.set $a (ref.null $a) (i32.const 0) (i32.const 1))))",
       CIS_EINVALID, "immutable array"},
      {"(module (type $a (array (mut anyref))) (data \"\") (func (drop (array.new_data $a 0 (i32.const 0)"
       " (i32.const 0)))))",
       CIS_EINVALID, "array type is not numeric or vector"},
      {"(module (type $a (array (mut i8))) (type $b (array (mut i16))) (func (array.copy $a $b (ref.null $a)"
       " (i32.const 0) (ref.null $b) (i32.const 0) (i32.const 0))))",
       CIS_ETYPE, "array types do not match"},
      {"(module (type $s (struct (field (ref $s)))) (func (drop (struct.new_default $s))))", CIS_ETYPE,
       "type mismatch"},
      {"(module (type $a (array i8)) (func (drop (array.new_fixed $a 10001))))", CIS_EINVALID, "too many"},
      {"(module (func (param externref) (drop (ref.cast (ref i31) (local.get 0)))))", CIS_ETYPE, "type mismatch"},
      {"(module (func (result anyref) (block (result i31ref) (br_on_cast 0 anyref (ref struct)"
       " (ref.null any)) (unreachable))))", CIS_ETYPE, "type mismatch"},
  };
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "interp";
  cis_engine *e;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cis_module *m = NULL;
    cis_result rc = cis_module_new_text(e, cases[i].text, strlen(cases[i].text), &m);
    if (rc != cases[i].code || !strstr(cis_errmsg(e), cases[i].msg))
      fail_msg("case %zu: got %s (%s), expected %s", i, cis_errname(rc), cis_errmsg(e), cases[i].msg);
    cis_module_free(m);
  }
  cis_engine_free(e);
  /* 2.0: the 0xFB prefix is no instruction */
  cfg.standard = 2;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  static const uint8_t b[] = {0, 'a', 's', 'm', 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0,
                              10, 9, 1, 7, 0, 0x41, 0, 0xfb, 0x1c, 0x1a, 0x0b};
  cis_module *m = NULL;
  cis_result rc = cis_module_new(e, b, sizeof b, &m);
  if (rc != CIS_EMALFORMED || !strstr(cis_errmsg(e), "illegal opcode"))
    fail_msg("2.0 ref.i31: got %s (%s)", cis_errname(rc), cis_errmsg(e));
  cis_engine_free(e);
}

int main(int argc, char **argv) {
  if (argc > 1) g_engine = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(objects_and_fields), cmocka_unit_test(traps),        cmocka_unit_test(casts),
      cmocka_unit_test(extern_round_trip),  cmocka_unit_test(kept_across_calls), cmocka_unit_test(anyref_api),
      cmocka_unit_test(memory_cap),         cmocka_unit_test(deep_graphs),  cmocka_unit_test(hostile_modules),
      cmocka_unit_test(collected),          cmocka_unit_test(roots_survive), cmocka_unit_test(cap_with_collections),
      cmocka_unit_test(in_call_churn),      cmocka_unit_test(in_call_roots), cmocka_unit_test(in_call_other_calls),
      cmocka_unit_test(in_call_two_threads),
      cmocka_unit_test(in_call_switched_stacks), cmocka_unit_test(released_arguments),
      cmocka_unit_test(released_results),   cmocka_unit_test(constant_v128_fields_whole),
      cmocka_unit_test(in_call_precise),    cmocka_unit_test(in_call_tail_loop), cmocka_unit_test(in_call_unmapped),
  };
  /* the compiled engine compiles into a private CIS_HOME */
  return cmocka_run_group_tests(tests, rt_home_setup, rt_home_teardown);
}
