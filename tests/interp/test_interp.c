/*
 * This file implements the interpreter's unit tests: each fixture in
 * tests/interp/wat/ exercises one tricky part of the translator or the
 * executor (deferred local reads against writes, values carried by
 * branches across stack heights, br_table stubs, parameters of loops and
 * ifs, calls in and out of the interpreter, every trap code, NaN bits,
 * bulk memory and table bounds, the fuel unit), through the public API,
 * and, through the disassembler, what the translator emits for a few
 * bodies whose shape the superinstructions depend on.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cis/cis.h"
#include "support/test_file.h"
#include "interp/interp.h"

/* ------------------------------------------------------------ helpers */

static cis_engine *engine_with(uint64_t fuel) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.limits.fuel = fuel;
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  return e;
}

static cis_module *load(cis_engine *e, const char *name) {
  size_t n = 0;
  uint8_t *buf = cis_test_file_read_in(CIS_INTERP_WASM_DIR, name, ".wasm", &n);
  if (!buf) fail_msg("cannot read fixture %s/%s.wasm", CIS_INTERP_WASM_DIR, name);
  cis_module *m = NULL;
  cis_result rc = cis_module_new(e, buf, n, &m);
  free(buf);
  if (rc != CIS_OK) fail_msg("loading %s: %s: %s", name, cis_errname(rc), cis_errmsg(e));
  return m;
}

/* A fixture instantiated on its own engine, freed by done(). */
typedef struct fx {
  cis_engine *e;      /* engine */
  cis_module *m;      /* the fixture's module */
  cis_instance *inst; /* its instance */
} fx;

static fx open_fx(const char *name, const cis_imports *im, uint64_t fuel) {
  fx x;
  x.e = engine_with(fuel);
  x.m = load(x.e, name);
  x.inst = NULL;
  cis_result rc = cis_instance_new(x.m, im, NULL, &x.inst);
  if (rc != CIS_OK) fail_msg("instantiating %s: %s: %s", name, cis_errname(rc), cis_errmsg(x.e));
  return x;
}

static void done(fx *x) {
  cis_instance_free(x->inst);
  cis_module_free(x->m);
  cis_engine_free(x->e);
}

static cis_val vi32(int32_t v) { cis_val r = {.type = CIS_I32, .of.u64 = (uint32_t)v}; return r; }
static cis_val vi64(int64_t v) { cis_val r = {.type = CIS_I64, .of.i64 = v}; return r; }
static cis_val vf32(float v) { cis_val r = {.type = CIS_F32, .of.u64 = 0}; r.of.f32 = v; return r; }
static cis_val vf64(double v) { cis_val r = {.type = CIS_F64, .of.f64 = v}; return r; }
static cis_val vf32b(uint32_t bits) { cis_val r = {.type = CIS_F32, .of.u64 = bits}; return r; }

static cis_result call(cis_instance *inst, const char *name, const cis_val *args, size_t na,
                       cis_val *res, size_t nr) {
  cis_func *f = cis_instance_func(inst, name);
  if (!f) fail_msg("no export %s", name);
  return cis_func_call(inst, f, args, na, res, nr);
}

/* Calls name and fails the test unless it returns CIS_OK. */
static cis_val ok1(cis_instance *inst, const char *name, const cis_val *args, size_t na) {
  cis_val r;
  memset(&r, 0, sizeof r);
  cis_result rc = call(inst, name, args, na, &r, 1);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(inst));
  return r;
}

static void ok0(cis_instance *inst, const char *name, const cis_val *args, size_t na) {
  cis_result rc = call(inst, name, args, na, NULL, 0);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(inst));
}

#define ARGS(...) ((const cis_val[]){__VA_ARGS__}), (sizeof((const cis_val[]){__VA_ARGS__}) / sizeof(cis_val))

/* i32 result of name(args). */
#define I32(inst, name, ...) (ok1((inst), (name), ARGS(__VA_ARGS__)).of.i32)
#define I64(inst, name, ...) (ok1((inst), (name), ARGS(__VA_ARGS__)).of.i64)
#define U32(inst, name, ...) (ok1((inst), (name), ARGS(__VA_ARGS__)).of.u32)
#define U64(inst, name, ...) (ok1((inst), (name), ARGS(__VA_ARGS__)).of.u64)
#define F32(inst, name, ...) (ok1((inst), (name), ARGS(__VA_ARGS__)).of.f32)
#define F64(inst, name, ...) (ok1((inst), (name), ARGS(__VA_ARGS__)).of.f64)

/* The call must fail with code; the message must contain `text`. */
static void expect_fail(cis_instance *inst, const char *name, const cis_val *args, size_t na,
                        size_t nr, cis_result code, const char *text) {
  cis_val r[4];
  cis_result rc = call(inst, name, args, na, r, nr);
  if (rc != code)
    fail_msg("%s: got %s (%s), wanted %s", name, cis_errname(rc), cis_errmsg(inst),
             cis_errname(code));
  if (text && !strstr(cis_errmsg(inst), text))
    fail_msg("%s: message \"%s\" lacks \"%s\"", name, cis_errmsg(inst), text);
}

#define TRAPS(inst, name, nr, code, ...) expect_fail((inst), (name), ARGS(__VA_ARGS__), (nr), (code), NULL)
#define TRAPS0(inst, name, nr, code) expect_fail((inst), (name), NULL, 0, (nr), (code), NULL)

/* name(args) of fixture on an engine of exactly `fuel` units: it returns
 * with none left, and on one unit fewer stops with CIS_EFUEL. Its one
 * result. */
static cis_val on_exact_fuel(const char *fixture, const char *name, uint64_t fuel, const cis_val *args, size_t na) {
  fx x = open_fx(fixture, NULL, fuel);
  cis_val r = ok1(x.inst, name, args, na);
  assert_int_equal(cis_instance_fuel_left(x.inst), 0);
  done(&x);
  x = open_fx(fixture, NULL, fuel - 1);
  expect_fail(x.inst, name, args, na, 1, CIS_EFUEL, NULL);
  done(&x);
  return r;
}
#define EXACT_FUEL(fixture, name, fuel, ...) on_exact_fuel((fixture), (name), (fuel), ARGS(__VA_ARGS__))

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static uint64_t f64_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
}

/* ------------------------------------------------------------ aliasing */

static void deferred_local_reads(void **state) {
  (void)state;
  fx x = open_fx("alias", NULL, 0);
  cis_instance *in = x.inst;
  assert_int_equal(I32(in, "get_then_set", vi32(10)), -1);
  assert_int_equal(I32(in, "get_then_tee", vi32(7)), 7);
  assert_int_equal(I32(in, "get_across_block", vi32(150)), 50);
  assert_int_equal(I32(in, "get_across_skip", vi32(150), vi32(1)), 0);
  assert_int_equal(I32(in, "get_across_skip", vi32(150), vi32(0)), 50);
  assert_int_equal(I32(in, "swap", vi32(3), vi32(4)), 4003);
  assert_int_equal(I32(in, "const_set", vi32(5)), 57);
  assert_int_equal(I32(in, "chain", vi32(1), vi32(2), vi32(3)), 10203);
  assert_int_equal(I32(in, "tee_square", vi32(4)), 25);
  assert_int_equal(I32(in, "sum_below", vi32(10)), 45);
  assert_int_equal(I32(in, "ret_if", vi32(-5)), -5);
  assert_int_equal(I32(in, "ret_if", vi32(4)), 8);
  assert_int_equal(I64(in, "get_then_set64", vi64(5)), -0x100000000ll);
  assert_true(F64(in, "fswap", vf64(1.5), vf64(4.0)) == 2.5);
  done(&x);
}

static void return_moves_do_not_clobber_params(void **state) {
  (void)state;
  fx x = open_fx("alias", NULL, 0);
  cis_val r[3];
  assert_int_equal(call(x.inst, "ret_swap", ARGS(vi32(1), vi32(2)), r, 2), CIS_OK);
  assert_int_equal(r[0].of.i32, 2);
  assert_int_equal(r[1].of.i32, 1);
  assert_int_equal(call(x.inst, "ret_rotate", ARGS(vi32(1), vi32(2), vi32(3)), r, 3), CIS_OK);
  assert_int_equal(r[0].of.i32, 3);
  assert_int_equal(r[1].of.i32, 1);
  assert_int_equal(r[2].of.i32, 2);
  done(&x);
}

/* --------------------------------------------------------- multi-value */

static void multi_value_blocks(void **state) {
  (void)state;
  fx x = open_fx("multi", NULL, 0);
  cis_instance *in = x.inst;
  cis_val r[2];
  assert_int_equal(I32(in, "block_params", vi32(10), vi32(3)), 7);
  assert_int_equal(call(in, "br_values", ARGS(vi32(5)), r, 2), CIS_OK);
  assert_int_equal(r[0].of.i32, 1);
  assert_int_equal(r[1].of.i32, 15);
  assert_int_equal(I32(in, "br_if_values", vi32(5)), 6);
  assert_int_equal(I32(in, "br_if_values", vi32(0)), -1);
  assert_int_equal(call(in, "br_deferred", ARGS(vi32(9)), r, 2), CIS_OK);
  assert_int_equal(r[0].of.i32, 9);
  assert_int_equal(r[1].of.i32, 42);
  assert_int_equal(I32(in, "typed_block", vi32(21)), 42);
  assert_int_equal(I32(in, "divmod", vi32(17), vi32(5)), 2003);
  assert_int_equal(I32(in, "dead_code", vi32(9)), 9);
  assert_int_equal(I32(in, "if_br", vi32(1)), 11);
  assert_int_equal(I32(in, "if_br", vi32(0)), 22);
  assert_int_equal(I32(in, "const_left", vi32(7)), 103);
  assert_int_equal(I32(in, "const_left", vi32(3)), 97);
  assert_int_equal(I32(in, "select", vi32(1), vi32(2), vi32(1)), 1);
  assert_int_equal(I32(in, "select", vi32(1), vi32(2), vi32(0)), 2);
  assert_int_equal(I64(in, "select_t", vi64(1ll << 40), vi64(3), vi32(0)), 3);
  assert_int_equal(I64(in, "select_t", vi64(1ll << 40), vi64(3), vi32(9)), 1ll << 40);
  done(&x);
}

static void br_table_values_and_stubs(void **state) {
  (void)state;
  fx x = open_fx("multi", NULL, 0);
  cis_instance *in = x.inst;
  assert_int_equal(I32(in, "br_table_values", vi32(0)), 3);
  assert_int_equal(I32(in, "br_table_values", vi32(1)), 12);
  assert_int_equal(I32(in, "br_table_values", vi32(2)), 20);
  assert_int_equal(I32(in, "br_table_values", vi32(7)), 70);
  assert_int_equal(I32(in, "br_table_values", vi32(-1)), -10); /* unsigned: default */
  assert_int_equal(I32(in, "loop_table", vi32(3)), 6003);
  assert_int_equal(I32(in, "loop_table", vi32(1)), 1001);
  done(&x);
}

static void loops_and_ifs_with_params(void **state) {
  (void)state;
  fx x = open_fx("multi", NULL, 0);
  cis_instance *in = x.inst;
  assert_int_equal(I32(in, "loop_params", vi32(10)), 55);
  assert_int_equal(I32(in, "loop_params", vi32(1)), 1);
  assert_int_equal(I32(in, "if_params", vi32(3), vi32(4)), 7);
  assert_int_equal(I32(in, "if_params", vi32(-3), vi32(4)), -7);
  assert_int_equal(I32(in, "if_noelse", vi32(5)), 105);
  assert_int_equal(I32(in, "if_noelse", vi32(20)), 20);
  assert_int_equal(I32(in, "count_odd", vi32(10)), 5);
  assert_int_equal(I32(in, "count_odd", vi32(0)), 0);
  done(&x);
}

/* ---------------------------------------------------------------- traps */

static void integer_traps(void **state) {
  (void)state;
  fx x = open_fx("traps", NULL, 0);
  cis_instance *in = x.inst;
  expect_fail(in, "unreachable", NULL, 0, 0, CIS_TRAP_UNREACHABLE, "unreachable in function 0 (\"boom\")");
  TRAPS(in, "div_s", 1, CIS_TRAP_DIV_ZERO, vi32(7), vi32(0));
  TRAPS(in, "div_s", 1, CIS_TRAP_INT_OVERFLOW, vi32(INT32_MIN), vi32(-1));
  assert_int_equal(I32(in, "div_s", vi32(-7), vi32(2)), -3);
  assert_int_equal(I32(in, "rem_s", vi32(INT32_MIN), vi32(-1)), 0);
  assert_int_equal(I32(in, "rem_s", vi32(-7), vi32(2)), -1);
  TRAPS(in, "rem_s", 1, CIS_TRAP_DIV_ZERO, vi32(7), vi32(0));
  TRAPS(in, "div_u", 1, CIS_TRAP_DIV_ZERO, vi32(7), vi32(0));
  assert_int_equal(I32(in, "div_u", vi32(-1), vi32(2)), 0x7fffffff);
  assert_int_equal(U32(in, "rem_u", vi32(-1), vi32(10)), 5);
  TRAPS(in, "rem_u", 1, CIS_TRAP_DIV_ZERO, vi32(7), vi32(0));
  TRAPS(in, "div_s_by0", 1, CIS_TRAP_DIV_ZERO, vi32(1));
  TRAPS(in, "div_s_bym1", 1, CIS_TRAP_INT_OVERFLOW, vi32(INT32_MIN));
  assert_int_equal(I32(in, "div_s_bym1", vi32(5)), -5);
  assert_int_equal(I32(in, "rem_s_bym1", vi32(INT32_MIN)), 0);
  TRAPS(in, "div_s64", 1, CIS_TRAP_INT_OVERFLOW, vi64(INT64_MIN), vi64(-1));
  TRAPS(in, "div_s64", 1, CIS_TRAP_DIV_ZERO, vi64(1), vi64(0));
  assert_int_equal(I64(in, "rem_s64", vi64(INT64_MIN), vi64(-1)), 0);
  TRAPS(in, "div_u64_by0", 1, CIS_TRAP_DIV_ZERO, vi64(9));
  assert_int_equal(I64(in, "rem_s64_bym1", vi64(INT64_MIN)), 0);
  done(&x);
}

static void conversion_traps(void **state) {
  (void)state;
  fx x = open_fx("traps", NULL, 0);
  cis_instance *in = x.inst;
  TRAPS(in, "trunc_f32_s", 1, CIS_TRAP_CONVERSION, vf32(NAN));
  TRAPS(in, "trunc_f32_s", 1, CIS_TRAP_INT_OVERFLOW, vf32(2147483648.0f));
  TRAPS(in, "trunc_f32_s", 1, CIS_TRAP_INT_OVERFLOW, vf32(-2147483904.0f));
  TRAPS(in, "trunc_f32_s", 1, CIS_TRAP_INT_OVERFLOW, vf32(INFINITY));
  assert_int_equal(I32(in, "trunc_f32_s", vf32(-2147483648.0f)), INT32_MIN);
  assert_int_equal(I32(in, "trunc_f32_s", vf32(2147483520.0f)), 2147483520);
  assert_int_equal(I32(in, "trunc_f32_s", vf32(-1.9f)), -1);
  assert_int_equal(I32(in, "trunc_f32_u", vf32(-0.9f)), 0);
  TRAPS(in, "trunc_f32_u", 1, CIS_TRAP_INT_OVERFLOW, vf32(-1.0f));
  assert_int_equal(U32(in, "trunc_f32_u", vf32(4294967040.0f)), 4294967040u);
  TRAPS(in, "trunc_f32_u", 1, CIS_TRAP_INT_OVERFLOW, vf32(4294967296.0f));
  assert_int_equal(I32(in, "trunc_f64_s", vf64(-2147483648.9)), INT32_MIN);
  TRAPS(in, "trunc_f64_s", 1, CIS_TRAP_INT_OVERFLOW, vf64(-2147483649.0));
  assert_int_equal(I32(in, "trunc_f64_s", vf64(2147483647.9)), INT32_MAX);
  TRAPS(in, "trunc_f64_s", 1, CIS_TRAP_INT_OVERFLOW, vf64(2147483648.0));
  assert_int_equal(U32(in, "trunc_f64_u", vf64(4294967295.9)), 0xffffffffu);
  TRAPS(in, "trunc_f64_u", 1, CIS_TRAP_INT_OVERFLOW, vf64(4294967296.0));
  assert_int_equal(I32(in, "trunc_f64_u", vf64(-0.99)), 0);
  assert_int_equal(I64(in, "trunc64_f32_s", vf32(-9223372036854775808.0f)), INT64_MIN);
  TRAPS(in, "trunc64_f32_s", 1, CIS_TRAP_INT_OVERFLOW, vf32(9223372036854775808.0f));
  assert_int_equal(I64(in, "trunc64_f64_s", vf64(-9223372036854775808.0)), INT64_MIN);
  TRAPS(in, "trunc64_f64_s", 1, CIS_TRAP_INT_OVERFLOW, vf64(-9223372036854777856.0));
  assert_int_equal(I64(in, "trunc64_f64_s", vf64(9223372036854774784.0)), 9223372036854774784ll);
  assert_true(U64(in, "trunc64_f64_u", vf64(18446744073709549568.0)) == 18446744073709549568ull);
  TRAPS(in, "trunc64_f64_u", 1, CIS_TRAP_INT_OVERFLOW, vf64(18446744073709551616.0));
  TRAPS(in, "trunc64_f64_u", 1, CIS_TRAP_CONVERSION, vf64(NAN));
  assert_int_equal(I32(in, "sat_f64_s", vf64(NAN)), 0);
  assert_int_equal(I32(in, "sat_f64_s", vf64(1e10)), INT32_MAX);
  assert_int_equal(I32(in, "sat_f64_s", vf64(-1e10)), INT32_MIN);
  assert_int_equal(I32(in, "sat_f64_s", vf64(-3.7)), -3);
  assert_true(U64(in, "sat64_f32_u", vf32(-5.0f)) == 0);
  assert_true(U64(in, "sat64_f32_u", vf32(INFINITY)) == UINT64_MAX);
  assert_true(U64(in, "sat64_f32_u", vf32(1e30f)) == UINT64_MAX);
  done(&x);
}

static void memory_bounds_traps(void **state) {
  (void)state;
  fx x = open_fx("traps", NULL, 0);
  cis_instance *in = x.inst;
  assert_int_equal(I32(in, "load", vi32(65532)), 0);
  TRAPS(in, "load", 1, CIS_TRAP_MEM_OOB, vi32(65533));
  TRAPS(in, "load", 1, CIS_TRAP_MEM_OOB, vi32(-1));
  /* The effective address is 33 bits: offset 0xffffffff never wraps. */
  TRAPS(in, "load_max_offset", 1, CIS_TRAP_MEM_OOB, vi32(0));
  TRAPS(in, "load_max_offset", 1, CIS_TRAP_MEM_OOB, vi32(1));
  assert_int_equal(I32(in, "load8", vi32(0)), 0);
  TRAPS(in, "load8", 1, CIS_TRAP_MEM_OOB, vi32(1));
  /* A store that does not fit writes nothing. */
  expect_fail(in, "store64", ARGS(vi32(65530), vi64(0x1122334455667788ll)), 0, CIS_TRAP_MEM_OOB,
              "out of bounds memory access");
  for (int a = 65530; a < 65536; a++) assert_int_equal(I32(in, "byte", vi32(a)), 0);
  ok0(in, "store64", ARGS(vi32(65528), vi64(0x1122334455667788ll)));
  assert_int_equal(I32(in, "byte", vi32(65535)), 0x11);
  assert_int_equal(I32(in, "byte", vi32(65528)), 0x88);
  done(&x);
}

static void trap_names_the_function(void **state) {
  (void)state;
  fx x = open_fx("traps", NULL, 0);
  expect_fail(x.inst, "deep_trap", ARGS(vi32(0)), 1, CIS_TRAP_DIV_ZERO,
              "integer divide by zero in function");
  assert_non_null(strstr(cis_errmsg(x.inst), "(\"inner\")"));
  /* The instance stays usable after a trap. */
  assert_int_equal(I32(x.inst, "deep_trap", vi32(1)), 1);
  done(&x);
}

static void deep_recursion(void **state) {
  (void)state;
  fx x = open_fx("traps", NULL, 0);
  assert_int_equal(I32(x.inst, "depth", vi32(5000)), 5000);
  expect_fail(x.inst, "forever", ARGS(vi32(0)), 1, CIS_TRAP_STACK, "call stack exhausted");
  assert_int_equal(I32(x.inst, "depth", vi32(100)), 100);
  done(&x);
}

/* ------------------------------------------------------------------ NaN */

static void nan_bits_survive(void **state) {
  (void)state;
  fx x = open_fx("nan", NULL, 0);
  cis_instance *in = x.inst;
  assert_int_equal(U32(in, "f32_neg", vi32(0x7fa00001)), 0xffa00001u);
  assert_int_equal(U32(in, "f32_abs", vi32((int32_t)0xffc00123u)), 0x7fc00123u);
  assert_int_equal(U32(in, "f32_copysign", vi32(0x7fa00001), vi32((int32_t)0xbf800000u)),
                   0xffa00001u);
  assert_int_equal(U32(in, "f32_copysign", vi32((int32_t)0xffa00001u), vi32(0)), 0x7fa00001u);
  assert_true(U64(in, "f64_neg", vi64(0x7ff0000000000001ll)) == 0xfff0000000000001ull);
  assert_true(U64(in, "f64_abs", vi64((int64_t)0xfff4000000000001ull)) == 0x7ff4000000000001ull);
  assert_true(U64(in, "f64_copysign", vi64(0x7ff0000000000001ll), vi64(INT64_MIN)) ==
              0xfff0000000000001ull);
  assert_int_equal(U32(in, "f32_mem", vi32(0x7f800001)), 0x7f800001u);
  assert_true(U64(in, "f64_mem", vi64(0x7ff0000000000001ll)) == 0x7ff0000000000001ull);
  assert_int_equal(U32(in, "f32_local", vi32(0x7f800001), vi32(0)), 0x7f800001u);
  assert_int_equal(U32(in, "f32_const"), 0x7fa00001u);
  assert_true(U64(in, "f64_const_neg") == 0x7ff4000000000001ull);
  assert_int_equal(U32(in, "f32_param", vf32b(0x7f800001)), 0x7f800001u);
  done(&x);
}

static void float_edge_cases(void **state) {
  (void)state;
  fx x = open_fx("nan", NULL, 0);
  cis_instance *in = x.inst;
  assert_int_equal(f32_bits(F32(in, "f32_min", vf32(-0.0f), vf32(0.0f))), 0x80000000u);
  assert_int_equal(f32_bits(F32(in, "f32_min", vf32(0.0f), vf32(-0.0f))), 0x80000000u);
  assert_int_equal(f32_bits(F32(in, "f32_max", vf32(-0.0f), vf32(0.0f))), 0);
  assert_int_equal(f32_bits(F32(in, "f32_max", vf32(0.0f), vf32(-0.0f))), 0);
  assert_true(isnan(F32(in, "f32_min", vf32(NAN), vf32(1.0f))));
  assert_true(isnan(F32(in, "f32_max", vf32(1.0f), vf32(NAN))));
  assert_true(f64_bits(F64(in, "f64_min", vf64(0.0), vf64(-0.0))) == 0x8000000000000000ull);
  assert_true(f64_bits(F64(in, "f64_max", vf64(-0.0), vf64(0.0))) == 0);
  assert_true(isnan(F64(in, "f64_max", vf64(NAN), vf64(-INFINITY))));
  assert_true(F32(in, "f32_nearest", vf32(2.5f)) == 2.0f);
  assert_true(F32(in, "f32_nearest", vf32(3.5f)) == 4.0f);
  assert_true(F32(in, "f32_nearest", vf32(-2.5f)) == -2.0f);
  assert_int_equal(f32_bits(F32(in, "f32_nearest", vf32(-0.5f))), 0x80000000u);
  assert_true(F64(in, "f64_nearest", vf64(0.49999999999999994)) == 0.0);
  assert_true(F64(in, "f64_nearest", vf64(4503599627370497.0)) == 4503599627370497.0);
  assert_true(F64(in, "f64_nearest", vf64(-1.5)) == -2.0);
  /* Arithmetic on a signalling NaN gives a quiet one. */
  uint32_t q = f32_bits(F32(in, "f32_add", vf32b(0x7f800001), vf32(1.0f)));
  assert_int_equal(q & 0x7fc00000u, 0x7fc00000u);
  assert_true(isnan(F32(in, "f32_demote", vf64(NAN))));
  /* Correct rounding of u64 conversions (no double rounding). */
  assert_true(F64(in, "f64_convert_u64", vi64(-1)) == 18446744073709551616.0);
  assert_true(F32(in, "f32_convert_u64", vi64(-1)) == 18446744073709551616.0f);
  assert_true(F32(in, "f32_convert_u64", vi64((int64_t)0x8000008000000001ull)) ==
              9223373136366403584.0f);
  done(&x);
}

/* --------------------------------------------------------- bulk memory */

static int byte_at(cis_instance *in, int a) { return I32(in, "load8", vi32(a)); }

static void memory_copy_overlap(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  static const int fwd[10] = {0, 1, 0, 1, 2, 3, 4, 7, 8, 9};
  static const int bwd[10] = {2, 3, 4, 5, 6, 5, 6, 7, 8, 9};
  ok0(in, "init_bytes", NULL, 0);
  ok0(in, "copy", ARGS(vi32(2), vi32(0), vi32(5)));
  for (int i = 0; i < 10; i++) assert_int_equal(byte_at(in, i), fwd[i]);
  ok0(in, "init_bytes", NULL, 0);
  ok0(in, "copy", ARGS(vi32(0), vi32(2), vi32(5)));
  for (int i = 0; i < 10; i++) assert_int_equal(byte_at(in, i), bwd[i]);
  done(&x);
}

static void bulk_memory_bounds(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  ok0(in, "init_bytes", NULL, 0);
  /* Out of range: trap before writing anything. */
  TRAPS(in, "copy", 0, CIS_TRAP_MEM_OOB, vi32(65530), vi32(0), vi32(10));
  for (int a = 65530; a < 65536; a++) assert_int_equal(byte_at(in, a), 0);
  TRAPS(in, "copy", 0, CIS_TRAP_MEM_OOB, vi32(0), vi32(65530), vi32(10));
  assert_int_equal(byte_at(in, 0), 0);
  assert_int_equal(byte_at(in, 1), 1);
  /* Zero length at the very end is fine, one past it is not. */
  ok0(in, "copy", ARGS(vi32(65536), vi32(65536), vi32(0)));
  TRAPS(in, "copy", 0, CIS_TRAP_MEM_OOB, vi32(65537), vi32(0), vi32(0));
  TRAPS(in, "copy", 0, CIS_TRAP_MEM_OOB, vi32(0), vi32(65537), vi32(0));
  TRAPS(in, "fill", 0, CIS_TRAP_MEM_OOB, vi32(65535), vi32(0xaa), vi32(2));
  assert_int_equal(byte_at(in, 65535), 0);
  ok0(in, "fill", ARGS(vi32(65535), vi32(0x1aa), vi32(1)));
  assert_int_equal(byte_at(in, 65535), 0xaa);
  ok0(in, "fill", ARGS(vi32(65536), vi32(0), vi32(0)));
  /* Passive segment: bounds on both sides, then dropped. */
  ok0(in, "init", ARGS(vi32(100), vi32(1), vi32(3)));
  assert_int_equal(byte_at(in, 100), 2);
  assert_int_equal(byte_at(in, 102), 4);
  TRAPS(in, "init", 0, CIS_TRAP_MEM_OOB, vi32(0), vi32(4), vi32(2));
  assert_int_equal(byte_at(in, 0), 0);
  ok0(in, "init", ARGS(vi32(65536), vi32(5), vi32(0)));
  TRAPS(in, "init", 0, CIS_TRAP_MEM_OOB, vi32(0), vi32(6), vi32(0));
  TRAPS(in, "init", 0, CIS_TRAP_MEM_OOB, vi32(65535), vi32(0), vi32(2));
  ok0(in, "drop", NULL, 0);
  ok0(in, "init", ARGS(vi32(0), vi32(0), vi32(0)));
  TRAPS(in, "init", 0, CIS_TRAP_MEM_OOB, vi32(0), vi32(0), vi32(1));
  done(&x);
}

static void memory_grow_and_widths(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  assert_int_equal(I32(in, "size"), 1);
  assert_int_equal(I32(in, "grow", vi32(1)), 1);
  assert_int_equal(I32(in, "size"), 2);
  assert_int_equal(byte_at(in, 65536 + 5), 0); /* the new page is usable at once */
  assert_int_equal(I32(in, "grow", vi32(3)), -1);
  assert_int_equal(I32(in, "grow", vi32(2)), 2);
  assert_int_equal(I32(in, "size"), 4);
  TRAPS(in, "load8", 1, CIS_TRAP_MEM_OOB, vi32(4 * 65536));
  ok0(in, "fill", ARGS(vi32(0), vi32(0xff), vi32(8)));
  assert_int_equal(I32(in, "load16_s", vi32(0)), -1);
  assert_int_equal(I64(in, "load32_u64", vi32(0)), 0xffffffffll);
  assert_int_equal(I64(in, "load32_s64", vi32(0)), -1);
  ok0(in, "fill", ARGS(vi32(0), vi32(0x80), vi32(1)));
  assert_int_equal(I64(in, "load8_s64", vi32(0)), -128);
  ok0(in, "store16", ARGS(vi32(0), vi32(0x12345)));
  assert_int_equal(I32(in, "load16_s", vi32(0)), 0x2345);
  ok0(in, "store32_64", ARGS(vi32(8), vi64(0x123456789ll)));
  assert_int_equal(I64(in, "load64", vi32(8)), 0x23456789ll);
  done(&x);
}

/* --------------------------------------------------------------- tables */

static void table_instructions(void **state) {
  (void)state;
  fx x = open_fx("tables", NULL, 0);
  cis_instance *in = x.inst;
  assert_int_equal(I32(in, "size"), 3);
  TRAPS(in, "call", 1, CIS_TRAP_UNINIT_ELEM, vi32(0), vi32(5));
  ok0(in, "init", ARGS(vi32(0), vi32(0), vi32(3)));
  assert_int_equal(I32(in, "call", vi32(0), vi32(5)), 6);
  assert_int_equal(I32(in, "call", vi32(1), vi32(5)), 4);
  TRAPS(in, "call", 1, CIS_TRAP_UNDEF_ELEM, vi32(3), vi32(5));
  TRAPS(in, "init", 0, CIS_TRAP_TABLE_OOB, vi32(2), vi32(0), vi32(2));
  assert_int_equal(I32(in, "call", vi32(2), vi32(5)), 6); /* unchanged */
  TRAPS(in, "init", 0, CIS_TRAP_TABLE_OOB, vi32(0), vi32(2), vi32(2));
  ok0(in, "init", ARGS(vi32(3), vi32(3), vi32(0)));
  ok0(in, "drop", NULL, 0);
  TRAPS(in, "init", 0, CIS_TRAP_TABLE_OOB, vi32(0), vi32(0), vi32(1));
  ok0(in, "init", ARGS(vi32(0), vi32(0), vi32(0)));
  assert_int_equal(I32(in, "grow", vi32(2)), 3);
  assert_int_equal(I32(in, "size"), 5);
  assert_int_equal(I32(in, "call", vi32(4), vi32(10)), 9);
  assert_int_equal(I32(in, "grow", vi32(6)), -1);
  ok0(in, "fill", ARGS(vi32(1), vi32(2)));
  assert_int_equal(I32(in, "is_null", vi32(1)), 1);
  assert_int_equal(I32(in, "is_null", vi32(0)), 0);
  TRAPS(in, "fill", 0, CIS_TRAP_TABLE_OOB, vi32(4), vi32(2));
  assert_int_equal(I32(in, "is_null", vi32(4)), 0);
  ok0(in, "copy", ARGS(vi32(0), vi32(3), vi32(2)));
  assert_int_equal(I32(in, "call", vi32(0), vi32(10)), 9);
  TRAPS(in, "copy", 0, CIS_TRAP_TABLE_OOB, vi32(4), vi32(0), vi32(2));
  ok0(in, "set_dec", ARGS(vi32(1)));
  assert_int_equal(I32(in, "call", vi32(1), vi32(3)), 2);
  TRAPS(in, "set_dec", 0, CIS_TRAP_TABLE_OOB, vi32(5));
  TRAPS(in, "is_null", 1, CIS_TRAP_TABLE_OOB, vi32(5));
  int token = 0;
  cis_val ext = {.type = CIS_EXTERNREF, .of.externref = &token};
  ok0(in, "set_ext", ARGS(vi32(1), ext));
  assert_ptr_equal(ok1(in, "get_ext", ARGS(vi32(1))).of.externref, &token);
  assert_null(ok1(in, "get_ext", ARGS(vi32(0))).of.externref);
  TRAPS(in, "get_ext", 1, CIS_TRAP_TABLE_OOB, vi32(2));
  assert_int_equal(I32(in, "null_ext"), 1);
  done(&x);
}

/* ---------------------------------------------------------------- calls */

static cis_result host_twice(cis_call *c, const cis_slot *a, cis_slot *r) {
  (void)c;
  r[0].u64 = (uint32_t)(a[0].i32 * 2);
  return CIS_OK;
}

static cis_result host_reenter(cis_call *c, const cis_slot *a, cis_slot *r) {
  cis_instance *inst = cis_call_instance(c);
  cis_val arg = {.type = CIS_I32, .of.u64 = a[0].u32}, res;
  cis_result rc = cis_func_call(inst, cis_instance_func(inst, "double"), &arg, 1, &res, 1);
  if (rc != CIS_OK) return rc;
  r[0].u64 = (uint32_t)(res.of.i32 + 100);
  return CIS_OK;
}

static cis_result host_fail(cis_call *c, const cis_slot *a, cis_slot *r) {
  (void)a;
  (void)r;
  return cis_call_fail(c, CIS_EDENIED, "the host said no");
}

static cis_imports *call_imports(cis_engine *e) {
  static const cis_host_func_def defs[] = {
      {"host", "twice", "(i)i", host_twice, NULL, 0},
      {"host", "reenter", "(i)i", host_reenter, NULL, 0},
      {"host", "fail", "()", host_fail, NULL, 0},
  };
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(im, defs, 3), CIS_OK);
  return im;
}

static void call_indirect_checks(void **state) {
  (void)state;
  cis_engine *e = engine_with(0);
  cis_imports *im = call_imports(e);
  cis_module *m = load(e, "calls");
  cis_instance *in = NULL;
  assert_int_equal(cis_instance_new(m, im, NULL, &in), CIS_OK);
  assert_int_equal(I32(in, "dispatch", vi32(0), vi32(21)), 42);
  expect_fail(in, "dispatch", ARGS(vi32(1), vi32(5)), 1, CIS_TRAP_SIG_MISMATCH,
              "indirect call type mismatch");
  TRAPS(in, "dispatch", 1, CIS_TRAP_UNINIT_ELEM, vi32(4), vi32(5));
  TRAPS(in, "dispatch", 1, CIS_TRAP_UNDEF_ELEM, vi32(5), vi32(5));
  TRAPS(in, "dispatch", 1, CIS_TRAP_UNDEF_ELEM, vi32(-1), vi32(5));
  assert_int_equal(I32(in, "dispatch", vi32(3), vi32(21)), 42); /* a host function */
  assert_int_equal(I32(in, "dispatch_v", vi32(1)), 42);
  TRAPS(in, "dispatch_v", 1, CIS_TRAP_SIG_MISMATCH, vi32(0));
  cis_instance_free(in);
  cis_module_free(m);
  cis_imports_free(im);
  cis_engine_free(e);
}

static void host_calls_and_reentry(void **state) {
  (void)state;
  cis_engine *e = engine_with(0);
  cis_imports *im = call_imports(e);
  cis_module *m = load(e, "calls");
  cis_instance *in = NULL;
  assert_int_equal(cis_instance_new(m, im, NULL, &in), CIS_OK);
  assert_int_equal(I32(in, "host_loop", vi32(10)), 90);
  assert_int_equal(I32(in, "via_host", vi32(4)), 111);
  expect_fail(in, "call_fail", NULL, 0, 1, CIS_EDENIED, "the host said no");
  assert_int_equal(I32(in, "fib", vi32(20)), 6765);
  assert_int_equal(I64(in, "fac", vi64(20)), 2432902008176640000ll);
  assert_int_equal(I32(in, "fresh_locals"), 12);
  cis_instance_free(in);
  cis_module_free(m);
  cis_imports_free(im);
  cis_engine_free(e);
}

static void calls_across_instances(void **state) {
  (void)state;
  cis_engine *e = engine_with(0);
  cis_imports *im = call_imports(e);
  cis_module *m = load(e, "calls");
  cis_module *um = load(e, "user");
  cis_instance *in = NULL, *user = NULL;
  assert_int_equal(cis_instance_new(m, im, NULL, &in), CIS_OK);
  cis_imports *im2 = NULL;
  assert_int_equal(cis_imports_new(e, &im2), CIS_OK);
  assert_int_equal(cis_imports_add_instance(im2, "calls", 5, in), CIS_OK);
  assert_int_equal(cis_instance_new(um, im2, NULL, &user), CIS_OK);
  assert_int_equal(I32(user, "use", vi32(8)), 16);
  assert_int_equal(I32(user, "via_table", vi32(0), vi32(21)), 42);
  /* user's own function now sits in calls' table. */
  assert_int_equal(I32(in, "dispatch", vi32(4), vi32(1)), 1001);
  assert_int_equal(I32(user, "via_table", vi32(4), vi32(2)), 1002);
  cis_instance_free(user);
  cis_instance_free(in);
  cis_module_free(um);
  cis_module_free(m);
  cis_imports_free(im2);
  cis_imports_free(im);
  cis_engine_free(e);
}

/* ------------------------------------------------- deferred additions */

static void deferred_add_against_writes(void **state) {
  (void)state;
  fx x = open_fx("alias", NULL, 0);
  cis_instance *in = x.inst;
  assert_int_equal(I32(in, "add_then_set", vi32(10)), -82);
  assert_int_equal(I32(in, "slot_base", vi32(3)), 23);
  assert_int_equal(I32(in, "const_plus", vi32(5)), 14);
  assert_int_equal(I32(in, "add_chain", vi32(1)), 13);
  assert_int_equal(I32(in, "add_chain", vi32(-12)), 0);
  done(&x);
}

static void folded_address_wraps_at_32_bits(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  TRAPS(in, "load_wrapped", 1, CIS_TRAP_MEM_OOB, vi32(4));
  TRAPS(in, "store_wrapped", 0, CIS_TRAP_MEM_OOB, vi32(4), vi32(9));
  ok0(in, "store_wrapped", ARGS(vi32(16), vi32(0x01020304)));
  assert_int_equal(I32(in, "load_wrapped", vi32(16)), 0x01020304);
  assert_int_equal(byte_at(in, 16), 4);
  assert_int_equal(I32(in, "store_base_rewritten", vi32(100)), 507);
  assert_int_equal(I32(in, "slot_based", vi32(3)), 0x1234);
  assert_int_equal(byte_at(in, 214), 0x34);
  done(&x);
}

static void loop_constants_per_frame(void **state) {
  (void)state;
  fx x = open_fx("multi", NULL, 0);
  assert_true(F64(x.inst, "loop_consts", vi32(4)) == 3.75);
  assert_true(F64(x.inst, "loop_consts", vi32(1)) == 0.375);
  assert_int_equal(U32(x.inst, "loop_nan", vi32(3)), 0x7fa00001u);
  done(&x);
}

/* ---------------------------------------------------------- accumulators */

static void accumulators_respect_labels(void **state) {
  (void)state;
  fx x = open_fx("multi", NULL, 0);
  cis_instance *in = x.inst;
  assert_int_equal(I32(in, "acc_loop_header", vi32(1)), 20);
  assert_int_equal(I32(in, "acc_loop_header", vi32(10)), 31);
  assert_int_equal(I32(in, "acc_if_merge", vi32(0)), 11);
  assert_int_equal(I32(in, "acc_if_merge", vi32(1)), 71);
  assert_int_equal(I32(in, "acc_mirror", vi32(10)), 5);
  assert_int_equal(I32(in, "acc_mirror", vi32(0)), 1);
  assert_true(F64(in, "f64_chain", vf64(10.0), vf64(2.0), vf64(3.0)) == 4.0 / 3.0);
  done(&x);
  x = open_fx("mem", NULL, 0);
  assert_true(F64(x.inst, "f64_store_load", vf64(1.5), vf64(2.25)) == 7.5);
  assert_int_equal(I32(x.inst, "i32_store_load", vi32(5), vi32(0x1234)), 0x12cc);
  assert_int_equal(byte_at(x.inst, 20), 0xcb);
  done(&x);
}

/* --------------------------------------------- what the translator emits */

/* Counts the internal instructions of export `name` whose op name starts
 * with prefix; *total gets the number of instructions. */
static int count_ops(cis_instance *inst, const char *name, const char *prefix, int *total) {
  cis_func *f = cis_instance_func(inst, name);
  assert_non_null(f);
  cis__icode *ic = cis_instance_module(inst)->engine_data;
  const cis__ifunc *fn = NULL;
  assert_int_equal(cis__interp_resolve(ic, f->index - ic->nimports, inst, &fn), CIS_OK);
  size_t at = 0, end = fn->ncode;
  int n = 0, all = 0;
  while (at < end) {
    int op;
    int len = cis__interp_next(cis__interp_code(fn), end, at, &op);
    assert_true(len > 0);
    if (strncmp(cis__interp_op_name(op), prefix, strlen(prefix)) == 0) n++;
    all++;
    at += (size_t)len;
  }
  if (total) *total = all;
  return n;
}

/* sum_below's loop: the compare and br_if are one instruction, the two
 * updates write their locals directly, the back edge charges fuel. */
static void translator_fuses_loop_control(void **state) {
  (void)state;
  fx x = open_fx("alias", NULL, 0);
  int total = 0;
  assert_int_equal(count_ops(x.inst, "sum_below", "bi32_ge_s", &total), 1);
  assert_int_equal(count_ops(x.inst, "sum_below", "i32_ge_s", NULL), 0);
  assert_int_equal(count_ops(x.inst, "sum_below", "mov", NULL), 1); /* the result */
  assert_int_equal(count_ops(x.inst, "sum_below", "br_back", NULL), 1);
  assert_true(total <= 6);
  done(&x);
}

/* A value consumed by the very next instruction is read from the
 * accumulator: the doubled counter feeds the (mirrored) compare. */
static void translator_uses_accumulator(void **state) {
  (void)state;
  fx x = open_fx("multi", NULL, 0);
  assert_int_equal(count_ops(x.inst, "acc_mirror", "bi32_lt_u_back_as", NULL), 1);
  assert_int_equal(count_ops(x.inst, "f64_chain", "f64_sub_sa", NULL), 1);
  assert_int_equal(count_ops(x.inst, "f64_chain", "f64_div_as", NULL), 0); /* not adjacent */
  done(&x);
}

/* base + constant feeding a load or store becomes its address operand. */
static void translator_folds_address_add(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  assert_int_equal(count_ops(x.inst, "load_wrapped", "ld32_u_add", NULL), 1);
  assert_int_equal(count_ops(x.inst, "load_wrapped", "i32_add", NULL), 0);
  assert_int_equal(count_ops(x.inst, "store_wrapped", "st32_add", NULL), 1);
  assert_int_equal(count_ops(x.inst, "store_wrapped", "i32_", NULL), 0);
  done(&x);
}

/* An f64.load feeding f64 arithmetic is one instruction that reads
 * memory itself: same results, operand order, address wrapping and traps
 * as the load and the op apart. */
static void translator_fuses_f64_load(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  assert_int_equal(count_ops(in, "f64_sub_load", "f64_sub_ld", NULL), 1);
  assert_int_equal(count_ops(in, "f64_sub_load", "ldf64", NULL), 0);
  assert_int_equal(count_ops(in, "f64_load_mul", "f64_mul_ld", NULL), 1);
  assert_int_equal(count_ops(in, "f64_load_sub", "f64_sub_ld", NULL), 0);
  assert_int_equal(count_ops(in, "f64_load_sub", "ldf64", NULL), 1);
  assert_int_equal(count_ops(in, "f64_div_load_wrapped", "f64_div_ld_add", NULL), 1);
  assert_int_equal(count_ops(in, "f64_add_load_tee", "ldf64", NULL), 1);

  ok0(in, "store_f64", ARGS(vi32(16), vf64(1.5)));
  ok0(in, "store_f64", ARGS(vi32(65528), vf64(-0.25)));
  assert_true(F64(in, "f64_sub_load", vf64(10.0), vi32(8)) == 8.5);
  assert_true(F64(in, "f64_sub_load", vf64(1.0), vi32(65520)) == 1.25);
  assert_true(F64(in, "f64_load_mul", vi32(16), vf64(4.0)) == 6.0);
  assert_true(F64(in, "f64_load_sub", vi32(16), vf64(4.0)) == -2.5);
  assert_true(F64(in, "f64_div_load_wrapped", vf64(3.0), vi32(16)) == 2.0);
  assert_true(F64(in, "f64_add_load_tee", vf64(1.0), vi32(16)) == 4.0);
  /* Past the end by one byte; p - 8 wrapping to 0xfffffffc, then + 8. */
  TRAPS(in, "f64_sub_load", 1, CIS_TRAP_MEM_OOB, vf64(1.0), vi32(65521));
  TRAPS(in, "f64_load_mul", 1, CIS_TRAP_MEM_OOB, vi32(-1), vf64(1.0));
  TRAPS(in, "f64_div_load_wrapped", 1, CIS_TRAP_MEM_OOB, vf64(1.0), vi32(4));
  /* The store before the trap happened, the one after did not. */
  ok0(in, "store_f64", ARGS(vi32(0), vf64(0.0)));
  assert_int_equal(count_ops(in, "f64_load_trap_after_store", "f64_add_ld", NULL), 1);
  expect_fail(in, "f64_load_trap_after_store", ARGS(vi32(65530), vf64(1.0)), 1, CIS_TRAP_MEM_OOB,
              "out of bounds memory access in function");
  assert_int_equal(byte_at(in, 0), 7);
  assert_int_equal(byte_at(in, 1), 0);
  assert_true(F64(in, "f64_load_trap_after_store", vi32(16), vf64(1.0)) == 2.5);
  assert_int_equal(byte_at(in, 1), 9);
  done(&x);
}

/* i64 eq, ne and eqz fused with the branch they feed: all 64 bits
 * compared, immediates of 64 bits, both accumulator forms, if (the jump
 * taken when false), and a back edge that charges fuel. */
static void translator_fuses_i64_branches(void **state) {
  (void)state;
  fx x = open_fx("alias", NULL, 0);
  cis_instance *in = x.inst;
  const char *fns[] = {"i64_eqz_br", "i64_ne_imm_br", "i64_eq_acc_br", "i64_eq_if", "i64_ne_loop"};
  for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
    assert_int_equal(count_ops(in, fns[i], "i64_e", NULL) + count_ops(in, fns[i], "i64_n", NULL), 0);
    assert_true(count_ops(in, fns[i], "bi64_", NULL) >= 1);
  }
  assert_int_equal(count_ops(in, "i64_eqz_br", "bi64_eq_si", NULL), 1);
  assert_int_equal(count_ops(in, "i64_ne_imm_br", "bi64_ne_si", NULL), 1);
  assert_int_equal(count_ops(in, "i64_eq_acc_br", "bi64_eq_as", NULL), 2);
  assert_int_equal(count_ops(in, "i64_eq_if", "bi64_ne_ss", NULL), 1);
  assert_int_equal(count_ops(in, "i64_ne_loop", "bi64_ne_back_ss", NULL), 1);

  assert_int_equal(I32(in, "i64_eqz_br", vi64(0)), 0);
  assert_int_equal(I32(in, "i64_eqz_br", vi64(1)), 1);
  assert_int_equal(I32(in, "i64_eqz_br", vi64(1ll << 32)), 1);
  assert_int_equal(I32(in, "i64_eqz_br", vi64(-1)), 1);
  assert_int_equal(I32(in, "i64_ne_imm_br", vi64(0x100000001ll)), 0);
  assert_int_equal(I32(in, "i64_ne_imm_br", vi64(1)), 1);
  assert_int_equal(I32(in, "i64_ne_imm_br", vi64(0x200000001ll)), 1);
  assert_int_equal(I32(in, "i64_eq_acc_br", vi64(1ll << 32), vi64((1ll << 32) + 5)), 1);
  assert_int_equal(I32(in, "i64_eq_acc_br", vi64(1ll << 32), vi64((1ll << 32) - 5)), 2);
  assert_int_equal(I32(in, "i64_eq_acc_br", vi64(1ll << 32), vi64(5)), 0);
  assert_int_equal(I32(in, "i64_eq_if", vi64(7), vi64(7)), 1);
  assert_int_equal(I32(in, "i64_eq_if", vi64(7), vi64(7 + (1ll << 40))), 2);
  assert_int_equal(I32(in, "i64_ne_loop", vi64(3), vi64(3 + (5ll << 32))), 5);
  done(&x);

  /* The back edge charges the loop body (6 instructions) per iteration:
   * fuel for the entry and 2 edges is not enough for 5 iterations. */
  x = open_fx("alias", NULL, 30);
  TRAPS(x.inst, "i64_ne_loop", 1, CIS_EFUEL, vi64(3), vi64(3 + (5ll << 32)));
  done(&x);
}

/* A zero written to a declared local that still holds its initial zero,
 * before the first label, emits nothing; the fuel is unchanged. */
static void translator_drops_initial_zero_writes(void **state) {
  (void)state;
  fx x = open_fx("alias", NULL, 0);
  cis_instance *in = x.inst;
  /* kept: $a after its write, $n (a parameter), $c inside the loop */
  assert_int_equal(count_ops(in, "zero_locals", "const", NULL), 3);
  assert_int_equal(I32(in, "zero_locals", vi32(9)), 3 + 0 + 0 + 15);
  assert_int_equal(count_ops(in, "zero_if", "const", NULL), 2); /* 5, and 0 in else */
  assert_int_equal(I32(in, "zero_if", vi32(1)), 5);
  assert_int_equal(I32(in, "zero_if", vi32(0)), 0);
  done(&x);
  /* The body's 42 instructions, then the loop's 15 per back edge taken:
   * the dropped writes still count. */
  x = open_fx("alias", NULL, 1000);
  assert_int_equal(I32(x.inst, "zero_locals", vi32(9)), 18);
  assert_int_equal(cis_instance_fuel_left(x.inst), 1000 - (42 + 15 * 2));
  done(&x);
}

/* The module offset of the first run of bytes pat in fixture name's
 * binary (a trap message's " (0x...)"), or -1. */
static long fixture_offset(const char *name, const uint8_t *pat, size_t n) {
  size_t len = 0;
  uint8_t *buf = cis_test_file_read_in(CIS_INTERP_WASM_DIR, name, ".wasm", &len);
  assert_non_null(buf);
  long at = -1;
  for (size_t i = 0; at < 0 && i + n <= len; i++)
    if (memcmp(buf + i, pat, n) == 0) at = (long)i;
  free(buf);
  return at;
}

/* The call must trap out of bounds at the wasm instruction whose bytes
 * are pat. */
static void expect_oob_at(cis_instance *in, const char *fn, const cis_val *args, size_t na, const uint8_t *pat,
                          size_t n) {
  long off = fixture_offset("mem", pat, n);
  assert_true(off > 0);
  char want[32];
  snprintf(want, sizeof want, "(0x%lx)", off);
  expect_fail(in, fn, args, na, 1, CIS_TRAP_MEM_OOB, want);
}

/* i32.shl by a constant, i32.add and a load are one op reading
 * memory at the scaled index: results, the 32-bit wrap of the sum (before
 * the offset), the shift count taken mod 32, bounds, the trap's module
 * offset (the load's, not the store's before it), fuel. */
static void translator_fuses_scaled_index_loads(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  int total = 0;
  assert_int_equal(count_ops(in, "idx_load32", "ld32_u_x", &total), 1);
  assert_int_equal(total, 5); /* const32 twice, st8, ld32_u_x, return */
  assert_int_equal(count_ops(in, "idx_load64_imm", "ld64_xi", NULL), 1);
  assert_int_equal(count_ops(in, "idx_loadf64", "ldf64_x", NULL), 1);
  assert_int_equal(count_ops(in, "idx_load8", "ld8_u_x", NULL), 1);
  assert_int_equal(count_ops(in, "idx_kept", "i32_shl_add", NULL), 1);
  assert_int_equal(count_ops(in, "idx_kept", "ld32_u_x", NULL), 0);
  assert_int_equal(count_ops(in, "idx_sum", "ld32_u_xi", NULL), 1);
  assert_int_equal(count_ops(in, "idx_sum", "i32_shl", NULL), 0);

  ok0(in, "store32", ARGS(vi32(1234 + 40), vi32(0x11223344)));
  ok0(in, "store32", ARGS(vi32(1234 + 44), vi32(0x55667788)));
  /* 10 << 34 is 10 << 2 */
  assert_int_equal(U32(in, "idx_load32", vi32(0), vi32(10)), 0x11223344u);
  /* (0x40000000 + 10) << 2 wraps to 40; base -16 + 56 wraps to 40 */
  assert_int_equal(U32(in, "idx_load32", vi32(0), vi32(0x4000000a)), 0x11223344u);
  assert_int_equal(U32(in, "idx_load32", vi32(-16), vi32(14)), 0x11223344u);
  assert_int_equal(I32(in, "idx_kept", vi32(1234 + 32), vi32(2)), 0x11223344 + 1234 + 40);
  /* (6 << 3) - 16 + 1235 = 1267: the word ending at the 0x44 above */
  assert_int_equal(U64(in, "idx_load64_imm", vi32(6)), 0x4400000000000000ull);
  assert_int_equal(U64(in, "idx_load64_imm", vi32(6)), U64(in, "load64", vi32(1267)));
  assert_int_equal(U64(in, "idx_loadf64", vi32(1234 + 40 - 1236), vi32(0)), 0x5566778811223344ull);
  assert_int_equal(I32(in, "idx_load8", vi32(1000), vi32(-963)), 0x44);
  assert_int_equal(I32(in, "idx_load8", vi32(-3), vi32(40)), 0x44);

  /* Past the end by one byte and wrapped past 4 GiB; each trap at the load. */
  const uint8_t ld32[] = {0x28, 0x02, 0xd2, 0x09}, ld64[] = {0x29, 0x03, 0xd3, 0x09};
  const uint8_t ldf64[] = {0x2b, 0x03, 0xd4, 0x09}, ld8[] = {0x2d, 0x00, 0xd5, 0x09};
  assert_int_equal(U32(in, "idx_load32", vi32(65536 - 1234 - 4 - 4), vi32(1)), 0);
  expect_oob_at(in, "idx_load32", ARGS(vi32(65536 - 1234 - 4 - 3), vi32(1)), ld32, sizeof ld32);
  expect_oob_at(in, "idx_load32", ARGS(vi32(-4), vi32(0)), ld32, sizeof ld32);
  expect_oob_at(in, "idx_load64_imm", ARGS(vi32(0x20000000)), ld64, sizeof ld64);
  expect_oob_at(in, "idx_loadf64", ARGS(vi32(65536 - 1236 - 7), vi32(0)), ldf64, sizeof ldf64);
  expect_oob_at(in, "idx_load8", ARGS(vi32(65536 - 1237), vi32(0)), ld8, sizeof ld8);
  assert_int_equal(byte_at(in, 0), 7); /* the store before each ran */
  done(&x);

  /* 24 instructions, then the loop's 19 per back edge taken (n of them). */
  assert_int_equal(EXACT_FUEL("mem", "idx_sum", 24 + 3 * 19, vi32(3)).of.i32, 0);
}

/* An i32 load (8 or 32 bits) feeding a compare-and-branch is one op:
 * back edge with fuel, if (the compare negated), an immediate, the value
 * kept in a tee'd local, bounds and the trap's module offset; not fused
 * when a read of that local is still deferred. */
static void translator_fuses_load_compare_branch(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  assert_int_equal(count_ops(in, "ldcmp_count", "bl8_ne_s", NULL), 1);
  assert_int_equal(count_ops(in, "ldcmp_count", "ld", NULL), 0);
  assert_int_equal(count_ops(in, "ldcmp_if", "bl32_ge_s_i", NULL), 1);
  assert_int_equal(count_ops(in, "ldcmp_tee", "bl32_eq_i", NULL), 1);
  assert_int_equal(count_ops(in, "ldcmp_deferred", "bl", NULL), 0);
  /* forward branches take the forms that charge no fuel */
  assert_int_equal(count_ops(in, "ldcmp_if", "bl32_ge_s_i_fwd", NULL), 1);
  assert_int_equal(count_ops(in, "ldcmp_tee", "bl32_eq_i_fwd", NULL), 1);
  assert_int_equal(count_ops(in, "ldcmp_count", "bl8_ne_s_fwd", NULL), 0);

  ok0(in, "fill", ARGS(vi32(1239), vi32(0xaa), vi32(3)));
  assert_int_equal(I32(in, "ldcmp_count", vi32(0), vi32(0)), 4);
  assert_int_equal(I32(in, "ldcmp_count", vi32(0), vi32(0xaa)), 1);
  ok0(in, "store32", ARGS(vi32(2000), vi32(-7)));
  assert_int_equal(I32(in, "ldcmp_if", vi32(0)), 1);
  ok0(in, "store32", ARGS(vi32(2000), vi32(5)));
  assert_int_equal(I32(in, "ldcmp_if", vi32(0)), 2);
  assert_int_equal(I32(in, "ldcmp_tee", vi32(0)), 0);
  ok0(in, "store32", ARGS(vi32(2010), vi32(9)));
  assert_int_equal(I32(in, "ldcmp_tee", vi32(0)), 109);
  ok0(in, "store32", ARGS(vi32(2020), vi32(5)));
  assert_int_equal(I32(in, "ldcmp_deferred", vi32(0)), 25);
  ok0(in, "store32", ARGS(vi32(2020), vi32(2)));
  assert_int_equal(I32(in, "ldcmp_deferred", vi32(0)), 12);

  const uint8_t ld8[] = {0x2d, 0x00, 0xd6, 0x09}, ld32[] = {0x28, 0x02, 0xd0, 0x0f};
  expect_oob_at(in, "ldcmp_count", ARGS(vi32(65536 - 1238 - 1), vi32(0)), ld8, sizeof ld8);
  ok0(in, "fill", ARGS(vi32(0), vi32(0), vi32(1)));
  expect_oob_at(in, "ldcmp_if", ARGS(vi32(65536 - 2000 - 3)), ld32, sizeof ld32);
  expect_oob_at(in, "ldcmp_if", ARGS(vi32(-2000)), ld32, sizeof ld32);
  assert_int_equal(byte_at(in, 0), 7);
  done(&x);

  /* 17 instructions, then the loop's 14 per back edge taken (3); each
   * call has the whole budget. */
  x = open_fx("mem", NULL, 17 + 3 * 14);
  ok0(x.inst, "fill", ARGS(vi32(1239), vi32(0xaa), vi32(3)));
  assert_int_equal(I32(x.inst, "ldcmp_count", vi32(0), vi32(0)), 4);
  assert_int_equal(cis_instance_fuel_left(x.inst), 0);
  done(&x);
  x = open_fx("mem", NULL, 17 + 3 * 14 - 1);
  ok0(x.inst, "fill", ARGS(vi32(1239), vi32(0xaa), vi32(3)));
  TRAPS(x.inst, "ldcmp_count", 1, CIS_EFUEL, vi32(0), vi32(0));
  done(&x);

  /* A forward branch charges nothing, taken (the value 0) or not: the
   * function's 14 on entry is all. */
  x = open_fx("mem", NULL, 14);
  assert_int_equal(I32(x.inst, "ldcmp_tee", vi32(0)), 0);
  assert_int_equal(cis_instance_fuel_left(x.inst), 0);
  ok0(x.inst, "store32", ARGS(vi32(2010), vi32(9)));
  assert_int_equal(I32(x.inst, "ldcmp_tee", vi32(0)), 109);
  assert_int_equal(cis_instance_fuel_left(x.inst), 0);
  const uint8_t ld32tee[] = {0x28, 0x02, 0xda, 0x0f}; /* i32.load offset=2010 */
  expect_oob_at(x.inst, "ldcmp_tee", ARGS(vi32(65536 - 2010 - 3)), ld32tee, sizeof ld32tee);
  done(&x);
  x = open_fx("mem", NULL, 13);
  TRAPS(x.inst, "ldcmp_tee", 1, CIS_EFUEL, vi32(0));
  done(&x);
}

/* i32.load into i32.add, i64.load into i64.add: one op, results wrapped
 * as the add's, address forms, bounds and trap offsets; i64.extend_i32_u
 * of an i32 just computed into its slot emits nothing. */
static void translator_fuses_int_load_add(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  assert_int_equal(count_ops(in, "add_load", "i32_add_ld", NULL), 1);
  assert_int_equal(count_ops(in, "add_load", "ld32", NULL), 0);
  assert_int_equal(count_ops(in, "load_add64", "i64_add_ld_add", NULL), 1);
  assert_int_equal(count_ops(in, "extend_free", "i64_extend", NULL), 0);
  assert_int_equal(count_ops(in, "extend_kept", "i64_extend", NULL), 1);

  ok0(in, "store32", ARGS(vi32(2030), vi32(0x7fffffff)));
  assert_int_equal(U32(in, "add_load", vi32(1), vi32(0)), 0x80000000u);
  assert_int_equal(U32(in, "add_load", vi32((int32_t)0x80000001u), vi32(0)), 0);
  ok0(in, "store64", ARGS(vi32(2040), vi64(0x1122334455667788ll)));
  assert_int_equal(U64(in, "load_add64", vi32(8), vi64(1)), 0x1122334455667789ull);
  assert_int_equal(U64(in, "load_add64", vi32(8), vi64(-0x1122334455667788ll)), 0);
  assert_int_equal(U64(in, "extend_free", vi32(1), vi32(2)), 0x100000000ull);
  assert_int_equal(U64(in, "extend_kept", vi32(-1)), 0xffffffffull);

  const uint8_t ld32[] = {0x28, 0x02, 0xee, 0x0f}, ld64[] = {0x29, 0x03, 0xf8, 0x0f};
  expect_oob_at(in, "add_load", ARGS(vi32(0), vi32(65536 - 2030 - 3)), ld32, sizeof ld32);
  expect_oob_at(in, "load_add64", ARGS(vi32(65536 - 2040 + 8 - 7), vi64(0)), ld64, sizeof ld64);
  expect_oob_at(in, "load_add64", ARGS(vi32(4), vi64(0)), ld64, sizeof ld64); /* wrapped past 4 GiB */
  done(&x);
}

static uint32_t rol32(uint32_t x, unsigned k) { return k ? (x << k) | (x >> (32 - k)) : x; }
static uint64_t rol64(uint64_t x, unsigned k) { return k ? (x << k) | (x >> (64 - k)) : x; }

/* i32/i64 shl, shr_u and rotl by a constant into xor or or: one op,
 * whichever operand the shift is, counts mod the width; shr_s and a shift
 * tee'd into a local stay apart; fuel as the wasm instructions. */
static void translator_fuses_shift_bitops(void **state) {
  (void)state;
  fx x = open_fx("multi", NULL, 0);
  cis_instance *in = x.inst;
  int total = 0;
  assert_int_equal(count_ops(in, "shift_bits32a", "i32_shl_xor", NULL), 1);
  assert_int_equal(count_ops(in, "shift_bits32a", "i32_shr_u_or", NULL), 1);
  assert_int_equal(count_ops(in, "shift_bits32a", "i32_rotl_xor", &total), 1);
  assert_int_equal(total, 4); /* and return */
  assert_int_equal(count_ops(in, "shift_bits32b", "i32_shr_u_xor", NULL), 1);
  assert_int_equal(count_ops(in, "shift_bits32b", "i32_shl_or", NULL), 1);
  assert_int_equal(count_ops(in, "shift_bits32b", "i32_rotl_or", NULL), 1);
  assert_int_equal(count_ops(in, "shift_bits64a", "i64_shl_xor", NULL), 1);
  assert_int_equal(count_ops(in, "shift_bits64a", "i64_shr_u_or", NULL), 1);
  assert_int_equal(count_ops(in, "shift_bits64a", "i64_rotl_xor", &total), 1);
  assert_int_equal(total, 4);
  assert_int_equal(count_ops(in, "shift_bits64b", "i64_shr_u_xor", NULL), 1);
  assert_int_equal(count_ops(in, "shift_bits64b", "i64_shl_or", NULL), 1);
  assert_int_equal(count_ops(in, "shift_bits64b", "i64_rotl_or", NULL), 1);
  assert_int_equal(count_ops(in, "shift_bits_kept", "i32_shr_s", NULL), 1);
  assert_int_equal(count_ops(in, "shift_bits_kept", "i32_shl_si", NULL), 1);
  assert_int_equal(count_ops(in, "shift_bits_kept", "i32_shl_xor", NULL), 0);
  assert_int_equal(count_ops(in, "shift_bits_loop", "i32_rotl_xor", NULL), 1);

  const uint32_t xs[] = {0, 1, 0x80000001u, 0xdeadbeefu, 0x12345678u};
  for (size_t i = 0; i < (sizeof xs / sizeof xs[0]); i++) {
    uint32_t a = xs[i], b = xs[(i + 2) % (sizeof xs / sizeof xs[0])] ^ 0x5a5a5a5au;
    uint64_t a64 = ((uint64_t)a << 32) | (a ^ 0x0f0f0f0fu), b64 = ((uint64_t)b << 29) ^ a;
    assert_int_equal(U32(in, "shift_bits32a", vi32((int32_t)a), vi32((int32_t)b)),
                     (((a << 3) ^ b) | (a >> 29)) ^ rol32(a, 7));
    assert_int_equal(U32(in, "shift_bits32b", vi32((int32_t)a), vi32((int32_t)b)),
                     (b ^ (a >> 1)) | (a << 4) | rol32(a, 12));
    assert_int_equal(U64(in, "shift_bits64a", vi64((int64_t)a64), vi64((int64_t)b64)),
                     (((a64 << 3) ^ b64) | (a64 >> 61)) ^ rol64(a64, 7));
    assert_int_equal(U64(in, "shift_bits64b", vi64((int64_t)a64), vi64((int64_t)b64)),
                     (b64 ^ (a64 >> 1)) | (a64 << 4) | rol64(a64, 44));
    assert_int_equal(U32(in, "shift_bits_kept", vi32((int32_t)a), vi32((int32_t)b)),
                     (uint32_t)((((int32_t)a >> 4) ^ (int32_t)b) + ((a << 2) ^ b) + (a << 2)));
  }
  assert_int_equal(U32(in, "shift_bits_loop", vi32(3)), (rol32(rol32(3, 5) ^ 2, 5) ^ 1));
  done(&x);

  /* 15 instructions, then the loop's 12 per back edge taken (2). */
  assert_int_equal(EXACT_FUEL("multi", "shift_bits_loop", 15 + 2 * 12, vi32(3)).of.u32, 3137);
}

/* i32.eqz into i32.add or (through i64.extend_i32_u) i64.add: one op,
 * either operand order, all 32 bits of x tested; fuel as the wasm
 * instructions. */
static void translator_fuses_eqz_add(void **state) {
  (void)state;
  fx x = open_fx("multi", NULL, 0);
  cis_instance *in = x.inst;
  int total = 0;
  assert_int_equal(count_ops(in, "count_zeros", "i32_add_eqz", &total), 2);
  assert_int_equal(total, 3); /* and return */
  assert_int_equal(count_ops(in, "count_zeros64", "i64_add_eqz", &total), 1);
  assert_int_equal(total, 2);
  assert_int_equal(count_ops(in, "count_zeros_loop", "i64_add_eqz", NULL), 1);
  assert_int_equal(count_ops(in, "count_zeros_loop", "i32_eqz", NULL), 0);

  assert_int_equal(U32(in, "count_zeros", vi32(0), vi32(0), vi32(-1)), 1);
  assert_int_equal(U32(in, "count_zeros", vi32(0), vi32(0x80000000), vi32(5)), 6);
  assert_int_equal(U32(in, "count_zeros", vi32(0x10000), vi32(0), vi32(5)), 6);
  assert_int_equal(U64(in, "count_zeros64", vi32(0), vi64(-1)), 0);
  assert_int_equal(U64(in, "count_zeros64", vi32(0), vi64(0xffffffffll)), 0x100000000ull);
  assert_int_equal(U64(in, "count_zeros64", vi32(-1), vi64(7)), 7);
  /* 1..10 masked with 3: 4 and 8 are zero */
  assert_int_equal(U64(in, "count_zeros_loop", vi32(10), vi32(3)), 2);
  done(&x);

  /* 17 instructions, then the loop's 14 per back edge taken (n - 1). */
  assert_int_equal(EXACT_FUEL("multi", "count_zeros_loop", 17 + 9 * 14, vi32(10), vi32(3)).of.u64, 2);
}

/* A store and the i32.add right after it are one op: the stores' forms
 * (an address + imm, the value from a slot or an accumulator), the add's
 * (a slot, an immediate), the sum wrapped, bounds, the trap at the store
 * (the add not run), fuel as the wasm instructions. */
static void translator_fuses_store_add(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  int total = 0;
  assert_int_equal(count_ops(in, "store_step8", "st8_add_then_add_ss", &total), 1);
  assert_int_equal(total, 2); /* the back edge in it too (translator_fuses_store_step_branch), return */
  assert_int_equal(count_ops(in, "store_stepf64", "stf64_v_then_add_si", NULL), 1);
  assert_int_equal(count_ops(in, "store_step32", "st32_add_v_then_add_si", NULL), 1);
  assert_int_equal(count_ops(in, "store_step64", "st64_add_then_add_si", NULL), 1);
  assert_int_equal(count_ops(in, "store_step64", "st32_then_add_ss", &total), 1);
  assert_int_equal(total, 3);
  assert_int_equal(count_ops(in, "idx_load8", "ld8_u_x", NULL), 1); /* the load's, not the store's */

  assert_int_equal(U32(in, "store_step8", vi32(100), vi32(110), vi32(3), vi32(0x5a)), 112);
  for (int a = 4101; a <= 4110; a++) assert_int_equal(byte_at(in, a), (a - 4101) % 3 == 0 ? 0x5a : 0);
  /* p + 1000 wraps to 0; the add wraps too */
  assert_int_equal(U32(in, "store_step8", vi32(-1000), vi32(0), vi32(5), vi32(0x77)), (uint32_t)-995);
  assert_int_equal(byte_at(in, 3001), 0x77);
  assert_int_equal(U32(in, "store_step8", vi32(-2), vi32(1), vi32(3), vi32(0x66)), 1);
  assert_int_equal(byte_at(in, 3999), 0x66);
  assert_int_equal(U32(in, "store_stepf64", vi32(24), vi32(48), vf64(1.0)), 48);
  assert_true(F64(in, "f64_sub_load", vf64(10.0), vi32(3011 + 40 - 8)) == 8.5);
  assert_int_equal(U32(in, "store_step32", vi32(16), vi32(4), vi32(5)), 4);
  assert_int_equal(U64(in, "load32_u64", vi32(16 + 16 + 3021)), 15);
  assert_int_equal(U64(in, "load32_u64", vi32(8 + 16 + 3021)), 15);
  assert_int_equal(U32(in, "store_step64", vi32(0), vi32(7), vi64(0x0102030405060708ll)), 6);
  assert_int_equal(U64(in, "load64", vi32(8 + 3031)), 0x0102030405060708ull);
  assert_int_equal(U64(in, "load32_u64", vi32(3061)), 7);
  assert_int_equal(U32(in, "store_step64", vi32(100), vi32(7), vi64(1)), 106);

  /* The second store is one byte past the end: the trap is the store's,
   * the byte before it written. */
  const uint8_t st8[] = {0x3a, 0x00, 0xb9, 0x17}, st32[] = {0x36, 0x02, 0xcd, 0x17};
  const uint8_t stf64[] = {0x39, 0x03, 0xc3, 0x17};
  expect_oob_at(in, "store_step8", ARGS(vi32(65536 - 4001 - 2), vi32(70000), vi32(1), vi32(9)), st8,
                sizeof st8);
  assert_int_equal(byte_at(in, 65535), 9);
  expect_oob_at(in, "store_step32", ARGS(vi32(65536 - 3021 - 16 - 3), vi32(0), vi32(1)), st32, sizeof st32);
  expect_oob_at(in, "store_stepf64", ARGS(vi32(65536 - 3011 - 16), vi32(70000), vf64(0)), stf64, sizeof stf64);
  done(&x);

  /* 17 instructions, then the loop's 14 per back edge taken (3). */
  assert_int_equal(EXACT_FUEL("mem", "store_step8", 17 + 3 * 14, vi32(100), vi32(110), vi32(3), vi32(1)).of.u32,
                   112);
}

/* An i64 load at a scaled index feeding i64.eq or i64.ne with a slot is
 * one op: a forward branch and a back edge (the load second), the value
 * kept in the tee'd local, 64-bit compares, the index's 32-bit wrap,
 * bounds and the trap's module offset at each load, fuel exact (a
 * forward branch charges nothing). */
static void translator_fuses_indexed_load_compare_branch(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  int total = 0;
  assert_int_equal(count_ops(in, "probe64", "bx64_eq_fwd", &total), 1);
  assert_int_equal(total, 8); /* and bx64_ne, bi64_eq_si, i32_add_si, br, const32, two returns */
  assert_int_equal(count_ops(in, "probe64", "bx64_ne", NULL), 1);
  assert_int_equal(count_ops(in, "probe64", "bx64_ne_fwd", NULL), 0);
  assert_int_equal(count_ops(in, "probe64", "ld", NULL), 0);

  /* keys 5, 2^32 + 9, 13, then an empty slot, at 4216 */
  const int64_t keys[] = {5, 0x100000009ll, 13, 0};
  for (int i = 0; i < 4; i++) ok0(in, "store64", ARGS(vi32(4216 + 8 * i), vi64(keys[i])));
  assert_int_equal(I32(in, "probe64", vi32(0), vi64(5)), 0);
  assert_int_equal(I32(in, "probe64", vi32(0), vi64(13)), 2);
  assert_int_equal(I32(in, "probe64", vi32(0), vi64(0x100000009ll)), 1);
  assert_int_equal(I32(in, "probe64", vi32(0), vi64(9)), -1);
  assert_int_equal(I32(in, "probe64", vi32(1), vi64(77)), -1);
  assert_int_equal(I32(in, "probe64", vi32(3), vi64(0)), 3);
  /* i << 3 wraps to 0 */
  assert_int_equal(I32(in, "probe64", vi32(0x20000000), vi64(5)), 0x20000000);

  /* 4216 + 8 * 7665 is the end of memory: the first load traps; from
   * 7664 (not 0, not the key), the loop's */
  const uint8_t first[] = {0x29, 0x03, 0xe8, 0x20}, loop[] = {0x29, 0x03, 0xf0, 0x20};
  expect_oob_at(in, "probe64", ARGS(vi32(7665), vi64(5)), first, sizeof first);
  ok0(in, "store64", ARGS(vi32(65528), vi64(3)));
  assert_int_equal(I32(in, "probe64", vi32(7664), vi64(3)), 7664);
  expect_oob_at(in, "probe64", ARGS(vi32(7664), vi64(1)), loop, sizeof loop);
  done(&x);

  /* 38 instructions, then the loop's 18 per back edge taken (13 is one
   * slot on); each call has the whole budget */
  x = open_fx("mem", NULL, 38 + 18);
  for (int i = 0; i < 4; i++) ok0(x.inst, "store64", ARGS(vi32(4216 + 8 * i), vi64(keys[i])));
  assert_int_equal(I32(x.inst, "probe64", vi32(0), vi64(13)), 2);
  assert_int_equal(cis_instance_fuel_left(x.inst), 0);
  assert_int_equal(I32(x.inst, "probe64", vi32(0), vi64(5)), 0);
  assert_int_equal(cis_instance_fuel_left(x.inst), 18);
  done(&x);
  x = open_fx("mem", NULL, 38 + 18 - 1);
  for (int i = 0; i < 4; i++) ok0(x.inst, "store64", ARGS(vi32(4216 + 8 * i), vi64(keys[i])));
  TRAPS(x.inst, "probe64", 1, CIS_EFUEL, vi32(0), vi64(13));
  done(&x);
}

/* f64.load, f64.add and f64.store back to one address are one op, with
 * the store's pointer step: sums in memory and in the local, the trap at
 * the load's module offset with nothing written by it (nor by what comes
 * after), fuel exact. */
static void translator_fuses_f64_add_into_memory(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  int total = 0;
  assert_int_equal(count_ops(in, "f64_accum", "f64_add_ld_st_then_add_si", &total), 1);
  assert_int_equal(total, 5); /* f64_mul, the fused op, i32_add_si, br_if_back_a, return */
  assert_int_equal(count_ops(in, "f64_add_into", "f64_add_ld_st", &total), 1);
  assert_int_equal(count_ops(in, "f64_add_into", "ldf64", NULL) + count_ops(in, "f64_add_into", "stf64", NULL), 0);

  for (int i = 0; i < 3; i++) ok0(in, "store_f64", ARGS(vi32(4400 + 8 * i), vf64(1.0 + i)));
  assert_int_equal(U32(in, "f64_accum", vi32(0), vi32(3), vf64(2.0), vf64(0.25)), 24);
  for (int i = 0; i < 3; i++) assert_true(F64(in, "f64_load_mul", vi32(4400 + 8 * i), vf64(1.0)) == 1.5 + i);
  assert_true(F64(in, "f64_load_mul", vi32(4424), vf64(1.0)) == 0.0);
  ok0(in, "store_f64", ARGS(vi32(4508), vf64(10.0)));
  assert_int_equal(U32(in, "f64_add_into", vi32(8), vf64(0.5)), 8);
  assert_true(F64(in, "f64_load_mul", vi32(4508), vf64(1.0)) == 10.5);
  assert_int_equal(byte_at(in, 1), 9);

  /* 7 bytes short of the end: the load traps, memory and byte 1 as they were */
  const uint8_t ld_into[] = {0x2b, 0x03, 0x94, 0x23}, ld_accum[] = {0x2b, 0x03, 0xb0, 0x22};
  ok0(in, "fill", ARGS(vi32(0), vi32(0), vi32(2)));
  ok0(in, "fill", ARGS(vi32(65536 - 7), vi32(0x3c), vi32(7)));
  expect_oob_at(in, "f64_add_into", ARGS(vi32(65536 - 4500 - 7), vf64(1.0)), ld_into, sizeof ld_into);
  assert_int_equal(byte_at(in, 1), 0);
  assert_int_equal(byte_at(in, 65536 - 7), 0x3c);
  assert_int_equal(byte_at(in, 65535), 0x3c);
  /* the third element is past the end: the two before it are updated */
  int p = 65536 - 4400 - 8 * 2 - 4;
  ok0(in, "fill", ARGS(vi32(65536 - 20), vi32(0), vi32(16)));
  expect_oob_at(in, "f64_accum", ARGS(vi32(p), vi32(3), vf64(1.0), vf64(4.0)), ld_accum, sizeof ld_accum);
  assert_true(F64(in, "f64_load_mul", vi32(65536 - 20), vf64(1.0)) == 4.0);
  assert_true(F64(in, "f64_load_mul", vi32(65536 - 12), vf64(1.0)) == 4.0);
  assert_int_equal(byte_at(in, 65535), 0x3c);
  done(&x);

  /* 21 instructions, then the loop's 18 per back edge taken (2) */
  assert_int_equal(EXACT_FUEL("mem", "f64_accum", 21 + 2 * 18, vi32(0), vi32(3), vf64(2.0), vf64(0.25)).of.u32,
                   24);
  assert_int_equal(EXACT_FUEL("mem", "f64_add_into", 11, vi32(0), vf64(0.5)).of.u32, 0);
}

/* An i32 load at a scaled index feeding i32.add is one op: the sum
 * wrapped, the index's 32-bit wrap, bounds and the load's module offset,
 * fuel exact. */
static void translator_fuses_scaled_index_load_add(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  int total = 0;
  assert_int_equal(count_ops(in, "idx_add32", "i32_add_ld_x", &total), 1);
  assert_int_equal(total, 2); /* and return */

  ok0(in, "store32", ARGS(vi32(4608), vi32(5)));
  ok0(in, "store32", ARGS(vi32(4600), vi32(-1)));
  assert_int_equal(U32(in, "idx_add32", vi32(10), vi32(0), vi32(2)), 15);
  assert_int_equal(U32(in, "idx_add32", vi32(10), vi32(-8), vi32(4)), 15); /* 16 - 8 */
  assert_int_equal(U32(in, "idx_add32", vi32(10), vi32(12), vi32(0x3fffffff)), 15); /* i << 2 wraps */
  assert_int_equal(U32(in, "idx_add32", vi32(2), vi32(0), vi32(0)), 1); /* the sum wraps */

  const uint8_t ld[] = {0x28, 0x02, 0xf8, 0x23};
  expect_oob_at(in, "idx_add32", ARGS(vi32(0), vi32(65536 - 4600 - 3), vi32(0)), ld, sizeof ld);
  expect_oob_at(in, "idx_add32", ARGS(vi32(0), vi32(0), vi32(0x3fffffff)), ld, sizeof ld);
  done(&x);

  assert_int_equal(EXACT_FUEL("mem", "idx_add32", 9, vi32(1), vi32(0), vi32(0)).of.u32, 1);
}

/* A byte store at base + imm, its pointer step and a back edge while the
 * sum is below a slot (unsigned) are one op: the bytes, the 32-bit wraps,
 * the trap at the store's module offset (the bytes before it written,
 * the step not made), fuel exact. */
static void translator_fuses_store_step_branch(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  int total = 0;
  assert_int_equal(count_ops(in, "cross8", "st8_add_then_add_ss_lt_u_back", &total), 1);
  assert_int_equal(total, 2); /* and return */

  assert_int_equal(U32(in, "cross8", vi32(0), vi32(10), vi32(3), vi32(0x5a)), 12);
  for (int a = 4699; a <= 4712; a++)
    assert_int_equal(byte_at(in, a), a >= 4700 && a <= 4709 && (a - 4700) % 3 == 0 ? 0x5a : 0);
  /* p + 4400 wraps to 0 */
  assert_int_equal(U32(in, "cross8", vi32(-4400), vi32(-4398), vi32(1), vi32(0x77)), (uint32_t)-4398);
  assert_int_equal(byte_at(in, 300), 0x77);
  assert_int_equal(byte_at(in, 301), 0x77);
  assert_int_equal(byte_at(in, 302), 0);
  /* the sum wraps: 0xfffffff0 + 0x20 is 0x10, below 0x20 */
  assert_int_equal(U32(in, "cross8", vi32(-16), vi32(0x20), vi32(0x20), vi32(1)), 0x30);
  assert_int_equal(byte_at(in, 4700 - 16), 1);
  assert_int_equal(byte_at(in, 4700 + 16), 1);
  /* another compare: the store and the step alone */
  assert_int_equal(count_ops(in, "cross8_ne", "st8_add_then_add_ss", &total), 1);
  assert_int_equal(total, 3);
  assert_int_equal(count_ops(in, "cross8_ne", "st8_add_then_add_ss_lt_u_back", NULL), 0);
  assert_int_equal(U32(in, "cross8_ne", vi32(0), vi32(12), vi32(4), vi32(0x66)), 12);
  assert_int_equal(byte_at(in, 4708), 0x66);

  const uint8_t st[] = {0x3a, 0x00, 0xac, 0x02};
  expect_oob_at(in, "cross8", ARGS(vi32(65536 - 4700 - 4), vi32(70000), vi32(2), vi32(9)), st, sizeof st);
  assert_int_equal(byte_at(in, 65532), 9);
  assert_int_equal(byte_at(in, 65534), 9);
  done(&x);

  /* 16 instructions, then the loop's 13 per back edge taken (3) */
  assert_int_equal(EXACT_FUEL("mem", "cross8", 16 + 3 * 13, vi32(0), vi32(10), vi32(3), vi32(1)).of.u32, 12);
}

/* f64_add_ld_st_then_add_si and a back edge taken while the sum is not
 * an immediate are one op: the sums in memory, the step, the trap at the
 * load's module offset (the elements before it updated, the step not
 * made), fuel exact. */
static void translator_fuses_f64_accum_branch(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  int total = 0;
  assert_int_equal(count_ops(in, "f64_accum_ne", "f64_add_ld_st_then_add_si_ne_back", &total), 1);
  assert_int_equal(total, 3); /* f64_mul, the fused op, return */
  assert_int_equal(count_ops(in, "f64_accum_eq", "f64_add_ld_st_then_add_si_ne_back", NULL), 0);
  assert_int_equal(count_ops(in, "f64_accum_eq", "f64_add_ld_st_then_add_si", NULL), 1);

  for (int i = 0; i < 4; i++) ok0(in, "store_f64", ARGS(vi32(4800 + 8 * i), vf64(1.0 + i)));
  assert_int_equal(U32(in, "f64_accum_ne", vi32(0), vf64(2.0), vf64(0.25)), 24);
  for (int i = 0; i < 4; i++) assert_true(F64(in, "f64_load_mul", vi32(4800 + 8 * i), vf64(1.0)) == 1.0 + i + (i < 3 ? 0.5 : 0));
  assert_int_equal(U32(in, "f64_accum_ne", vi32(16), vf64(1.0), vf64(1.0)), 24);
  assert_true(F64(in, "f64_load_mul", vi32(4816), vf64(1.0)) == 4.5);
  assert_true(F64(in, "f64_load_mul", vi32(4808), vf64(1.0)) == 2.5);
  assert_int_equal(U32(in, "f64_accum_eq", vi32(16), vf64(1.0), vf64(1.0)), 32); /* 24, then 32: out */
  assert_true(F64(in, "f64_load_mul", vi32(4816), vf64(1.0)) == 5.5);
  assert_true(F64(in, "f64_load_mul", vi32(4824), vf64(1.0)) == 5.0);

  /* from 65536 - 4800 - 16: two elements, then the load traps at the end
   * of memory (the step past 24 never comes) */
  const uint8_t ld[] = {0x2b, 0x03, 0xc0, 0x25};
  int p = 65536 - 4800 - 16;
  ok0(in, "store_f64", ARGS(vi32(65536 - 16), vf64(3.0)));
  ok0(in, "store_f64", ARGS(vi32(65536 - 8), vf64(4.0)));
  expect_oob_at(in, "f64_accum_ne", ARGS(vi32(p), vf64(1.0), vf64(0.5)), ld, sizeof ld);
  assert_true(F64(in, "f64_load_mul", vi32(65536 - 16), vf64(1.0)) == 3.5);
  assert_true(F64(in, "f64_load_mul", vi32(65536 - 8), vf64(1.0)) == 4.5);
  done(&x);

  /* 19 instructions, then the loop's 16 per back edge taken (2), and
   * from 16 none taken */
  assert_int_equal(EXACT_FUEL("mem", "f64_accum_ne", 19 + 2 * 16, vi32(0), vf64(2.0), vf64(0.25)).of.u32, 24);
  assert_int_equal(EXACT_FUEL("mem", "f64_accum_ne", 19, vi32(16), vf64(2.0), vf64(0.25)).of.u32, 24);
}

/* i64.load, i64.add and i64.store back to one address are one op: the
 * sum in memory (wrapping), the trap at the load's module offset with
 * nothing written by it (nor by what comes after), fuel exact; a store
 * to another offset stays apart. */
static void translator_fuses_i64_add_into_memory(void **state) {
  (void)state;
  fx x = open_fx("mem", NULL, 0);
  cis_instance *in = x.inst;
  int total = 0;
  assert_int_equal(count_ops(in, "i64_add_into", "i64_add_ld_st", &total), 1);
  assert_int_equal(total, 5); /* the fused op, two const32, st8, return */
  assert_int_equal(count_ops(in, "i64_add_into", "ld64", NULL) + count_ops(in, "i64_add_into", "st64", NULL), 0);
  assert_int_equal(count_ops(in, "i64_add_moved", "i64_add_ld_st", NULL), 0);

  ok0(in, "store64", ARGS(vi32(4916), vi64(0x7fffffffffffffffll)));
  assert_int_equal(U32(in, "i64_add_into", vi32(16), vi64(2)), 16);
  assert_int_equal(I64(in, "load64", vi32(4916)), (int64_t)0x8000000000000001ull);
  assert_int_equal(byte_at(in, 1), 9);
  ok0(in, "store64", ARGS(vi32(4924), vi64(5)));
  assert_int_equal(U32(in, "i64_add_moved", vi32(16), vi64(-1)), 16);
  assert_int_equal(I64(in, "load64", vi32(4924)), (int64_t)0x8000000000000000ull);

  /* 4 bytes short of the end: the load traps, memory and byte 1 as they were */
  const uint8_t ld[] = {0x29, 0x03, 0xa4, 0x26};
  ok0(in, "fill", ARGS(vi32(0), vi32(0), vi32(2)));
  ok0(in, "fill", ARGS(vi32(65536 - 4), vi32(0x3c), vi32(4)));
  expect_oob_at(in, "i64_add_into", ARGS(vi32(65536 - 4900 - 4), vi64(1)), ld, sizeof ld);
  assert_int_equal(byte_at(in, 1), 0);
  assert_int_equal(byte_at(in, 65536 - 4), 0x3c);
  assert_int_equal(byte_at(in, 65535), 0x3c);
  done(&x);

  assert_int_equal(EXACT_FUEL("mem", "i64_add_into", 11, vi32(0), vi64(1)).of.u32, 0);
}

/* An i32.add (i64.add) of a constant whose sum a move copies to a second
 * local is one op: both locals, the wrap, fuel as the wasm instructions. */
static void translator_fuses_add_mov(void **state) {
  (void)state;
  fx x = open_fx("multi", NULL, 0);
  cis_instance *in = x.inst;
  assert_int_equal(count_ops(in, "step_two", "i32_add_si_mov", NULL), 1);
  assert_int_equal(count_ops(in, "step_two", "mov", NULL), 0);
  assert_int_equal(count_ops(in, "step_two64", "i64_add_si_mov", NULL), 1);
  assert_int_equal(count_ops(in, "step_two64", "mov", NULL), 0);
  assert_int_equal(U32(in, "step_two", vi32(5)), 12 * 1000 + 12);
  assert_int_equal(U32(in, "step_two", vi32(-8)), (uint32_t)-1 * 1000u + (uint32_t)-1);
  assert_int_equal(U32(in, "step_two", vi32(0x7ffffffc)), 0x80000003u * 1000u + 0x80000003u);
  assert_int_equal(U64(in, "step_two64", vi64(1)), 2 * 0x100000002ull);
  assert_int_equal(U64(in, "step_two64", vi64(-1)), 2 * 0x100000000ull);
  assert_int_equal(U64(in, "step_two64", vi64(0x7fffffffffffffffll)), 2 * 0x8000000100000000ull);
  done(&x);

  assert_int_equal(EXACT_FUEL("multi", "step_two", 11, vi32(5)).of.u32, 12012);
  assert_int_equal(EXACT_FUEL("multi", "step_two64", 11, vi64(1)).of.u64, 2 * 0x100000002ull);
}

/* An i32.add of a constant into i32.and with a constant is one op:
 * results (the sum wraps before the mask), a tee'd sum not fused, fuel
 * as the wasm instructions. */
static void translator_fuses_add_and(void **state) {
  (void)state;
  fx x = open_fx("multi", NULL, 0);
  cis_instance *in = x.inst;
  int total = 0;
  assert_int_equal(count_ops(in, "add_and", "i32_add_and", &total), 1);
  assert_int_equal(total, 2); /* and return */
  assert_int_equal(count_ops(in, "add_and_tee", "i32_add_and", NULL), 0);
  assert_int_equal(U32(in, "add_and", vi32(5)), 6);
  assert_int_equal(U32(in, "add_and", vi32(1023)), 0);
  assert_int_equal(U32(in, "add_and", vi32(-1)), 0);
  assert_int_equal(U32(in, "add_and", vi32(-2)), 1023);
  assert_int_equal(U32(in, "add_and", vi32(0x12345)), 0x346);
  assert_int_equal(U32(in, "add_and_tee", vi32(2)), 11 + 3);
  done(&x);

  assert_int_equal(EXACT_FUEL("multi", "add_and", 6, vi32(5)).of.u32, 6);
}

/* name(x) of fixture multi called with slots: its result slot whole, so
 * that an i32 left with high bits shows. */
static uint64_t wrap_slot(cis_instance *in, const char *name, uint64_t x) {
  cis_slot a = {.u64 = x}, r = {.u64 = 0x5a5a5a5a5a5a5a5aull};
  assert_int_equal(cis_func_call_slots(in, cis_instance_func(in, name), &a, &r), CIS_OK);
  return r.u64;
}

/* i32.wrap_i64 of an i64 that its op left below 2^32 (a shr_u by 32 or
 * more, an and with a 32-bit mask) has no code; of one that may be wider
 * it keeps it: results zero-extended in their slots, fuel as the wasm
 * instructions. */
static void translator_drops_wrap_of_narrow_i64(void **state) {
  (void)state;
  fx x = open_fx("multi", NULL, 0);
  cis_instance *in = x.inst;
  int total = 0;
  assert_int_equal(count_ops(in, "wrap_shr44", "i64_extend_i32_u", &total), 0);
  assert_int_equal(total, 2); /* i64_mul_shr_u, return */
  assert_int_equal(count_ops(in, "wrap_and32", "i64_extend_i32_u", NULL), 0);
  assert_int_equal(count_ops(in, "wrap_shr31", "i64_extend_i32_u", NULL), 1);
  assert_int_equal(count_ops(in, "wrap_and33", "i64_extend_i32_u", NULL), 1);
  uint64_t k = 0x9e3779b97f4a7c15ull, xs[] = {0, 1, 12345, 0xffffffffffffffffull, 0x8000000000000001ull};
  for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
    assert_int_equal(wrap_slot(in, "wrap_shr44", xs[i]), (xs[i] * k) >> 44);
    assert_int_equal(wrap_slot(in, "wrap_shr31", xs[i]), (uint32_t)(xs[i] >> 31));
    assert_int_equal(wrap_slot(in, "wrap_and32", xs[i]), (uint32_t)xs[i]);
    assert_int_equal(wrap_slot(in, "wrap_and33", xs[i]), (uint32_t)xs[i]);
  }
  done(&x);

  assert_int_equal(EXACT_FUEL("multi", "wrap_shr44", 7, vi64(3)).of.u32, (uint32_t)((3 * k) >> 44));
  assert_int_equal(EXACT_FUEL("multi", "wrap_shr31", 5, vi64(-1)).of.u32, 0xffffffffu);
}

/* An i64.mul by a constant into i64.shr_u by a constant is one op:
 * results (the product wraps before the shift), a product kept in a
 * local not fused, fuel as the wasm instructions. */
static void translator_fuses_mul_shr(void **state) {
  (void)state;
  fx x = open_fx("multi", NULL, 0);
  cis_instance *in = x.inst;
  int total = 0;
  uint64_t k = 0x9e3779b97f4a7c15ull, xs[] = {0, 1, 3, 0xffffffffffffffffull, 0x123456789abcdefull};
  assert_int_equal(count_ops(in, "mul_shr", "i64_mul_shr_u", &total), 1);
  assert_int_equal(total, 2); /* and return */
  assert_int_equal(count_ops(in, "mul_shr_tee", "i64_mul_shr_u", NULL), 0);
  for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
    assert_int_equal(U64(in, "mul_shr", vi64((int64_t)xs[i])), (xs[i] * k) >> 7);
    assert_int_equal(U64(in, "mul_shr_tee", vi64((int64_t)xs[i])), ((xs[i] * k) >> 7) + xs[i] * k);
  }
  done(&x);

  assert_int_equal(EXACT_FUEL("multi", "mul_shr", 6, vi64(3)).of.u64, (3 * k) >> 7);
}

/* Two i32.adds of constants in a row are one op: both sums (the second
 * reads the first's), the 32-bit wrap, fuel as the wasm instructions. */
static void translator_joins_two_adds(void **state) {
  (void)state;
  fx x = open_fx("multi", NULL, 0);
  cis_instance *in = x.inst;
  int total = 0;
  assert_int_equal(count_ops(in, "add_two", "i32_add2_si", &total), 1);
  assert_int_equal(total, 4); /* i32_mul_si, i32_add_as, return */
  assert_int_equal(U32(in, "add_two", vi32(7), vi32(0)), 10 * 1000 + 5);
  assert_int_equal(U32(in, "add_two", vi32(0), vi32(9)), 3 * 1000u + (uint32_t)-2);
  assert_int_equal(U32(in, "add_two", vi32(0x7ffffffe), vi32(0)), 0x80000001u * 1000u + 0x7ffffffcu);
  done(&x);

  assert_int_equal(EXACT_FUEL("multi", "add_two", 14, vi32(7), vi32(0)).of.u32, 10005);
}

/* ----------------------------------------------------------------- fuel */

/* The fuel unit is one wasm instruction: sum_below's body has 19, its loop
 * body 14, and the loop's back edge is taken n times. */
static void fuel_counts_wasm_instructions(void **state) {
  (void)state;
  fx x = open_fx("alias", NULL, 100000);
  assert_int_equal(I32(x.inst, "sum_below", vi32(10)), 45);
  assert_int_equal(cis_instance_fuel_left(x.inst), 100000 - (19 + 14 * 10));
  assert_int_equal(I32(x.inst, "sum_below", vi32(0)), 0);
  assert_int_equal(cis_instance_fuel_left(x.inst), 100000 - 19);
  done(&x);
}

/* A call within the module names its callee's descriptor, and the call
 * depth is counted from the return records: results, the depth limit
 * exact for calls inside the loop and for a host's call back in from n
 * frames deep, fuel exact over many calls. */
static void calls_keep_depth_and_fuel_exact(void **state) {
  (void)state;
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.limits.max_call_depth = 10;
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  cis_imports *im = call_imports(e);
  cis_module *m = load(e, "calls");
  cis_instance *in = NULL;
  assert_int_equal(cis_instance_new(m, im, NULL, &in), CIS_OK);
  assert_int_equal(count_ops(in, "fib", "call", NULL), 2);
  /* fib(n) nests n calls under the first: depth n + 1 */
  assert_int_equal(I32(in, "fib", vi32(10)), 55);
  expect_fail(in, "fib", ARGS(vi32(11)), 1, CIS_TRAP_STACK, "call stack exhausted");
  assert_int_equal(I32(in, "fib", vi32(9)), 34); /* the depth came back */
  /* n frames, the host's, then "double": n + 2 */
  assert_int_equal(I32(in, "deep_host", vi32(8)), 2 + 100 + 8);
  assert_true(call(in, "deep_host", ARGS(vi32(9)), NULL, 0) != CIS_OK);
  assert_int_equal(I32(in, "deep_host", vi32(0)), 2 + 100);
  cis_instance_free(in);
  cis_module_free(m);
  cis_imports_free(im);
  cis_engine_free(e);

  fx x = open_fx("traps", NULL, 0);
  assert_int_equal(I32(x.inst, "depth", vi32(5000)), 5000);
  done(&x);

  /* fib(10) makes 177 calls, each charging fib's 17 on entry. */
  e = engine_with(177 * 17);
  im = call_imports(e);
  m = load(e, "calls");
  assert_int_equal(cis_instance_new(m, im, NULL, &in), CIS_OK);
  assert_int_equal(I32(in, "fib", vi32(10)), 55);
  assert_int_equal(cis_instance_fuel_left(in), 0);
  cis_instance_free(in);
  cis_module_free(m);
  cis_imports_free(im);
  cis_engine_free(e);
  e = engine_with(177 * 17 - 1);
  im = call_imports(e);
  m = load(e, "calls");
  assert_int_equal(cis_instance_new(m, im, NULL, &in), CIS_OK);
  TRAPS(in, "fib", 1, CIS_EFUEL, vi32(10));
  cis_instance_free(in);
  cis_module_free(m);
  cis_imports_free(im);
  cis_engine_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(deferred_local_reads),
      cmocka_unit_test(return_moves_do_not_clobber_params),
      cmocka_unit_test(multi_value_blocks),
      cmocka_unit_test(br_table_values_and_stubs),
      cmocka_unit_test(loops_and_ifs_with_params),
      cmocka_unit_test(integer_traps),
      cmocka_unit_test(conversion_traps),
      cmocka_unit_test(memory_bounds_traps),
      cmocka_unit_test(trap_names_the_function),
      cmocka_unit_test(deep_recursion),
      cmocka_unit_test(nan_bits_survive),
      cmocka_unit_test(float_edge_cases),
      cmocka_unit_test(memory_copy_overlap),
      cmocka_unit_test(bulk_memory_bounds),
      cmocka_unit_test(memory_grow_and_widths),
      cmocka_unit_test(table_instructions),
      cmocka_unit_test(call_indirect_checks),
      cmocka_unit_test(host_calls_and_reentry),
      cmocka_unit_test(calls_across_instances),
      cmocka_unit_test(deferred_add_against_writes),
      cmocka_unit_test(folded_address_wraps_at_32_bits),
      cmocka_unit_test(loop_constants_per_frame),
      cmocka_unit_test(translator_fuses_loop_control),
      cmocka_unit_test(translator_folds_address_add),
      cmocka_unit_test(translator_fuses_f64_load),
      cmocka_unit_test(translator_fuses_i64_branches),
      cmocka_unit_test(accumulators_respect_labels),
      cmocka_unit_test(translator_uses_accumulator),
      cmocka_unit_test(translator_drops_initial_zero_writes),
      cmocka_unit_test(translator_fuses_scaled_index_loads),
      cmocka_unit_test(translator_fuses_load_compare_branch),
      cmocka_unit_test(translator_fuses_int_load_add),
      cmocka_unit_test(translator_fuses_shift_bitops),
      cmocka_unit_test(translator_fuses_store_add),
      cmocka_unit_test(translator_fuses_indexed_load_compare_branch),
      cmocka_unit_test(translator_fuses_f64_add_into_memory),
      cmocka_unit_test(translator_fuses_scaled_index_load_add),
      cmocka_unit_test(translator_fuses_store_step_branch),
      cmocka_unit_test(translator_fuses_add_and),
      cmocka_unit_test(translator_fuses_f64_accum_branch),
      cmocka_unit_test(translator_fuses_i64_add_into_memory),
      cmocka_unit_test(translator_fuses_add_mov),
      cmocka_unit_test(translator_fuses_mul_shr),
      cmocka_unit_test(translator_joins_two_adds),
      cmocka_unit_test(translator_drops_wrap_of_narrow_i64),
      cmocka_unit_test(translator_fuses_eqz_add),
      cmocka_unit_test(fuel_counts_wasm_instructions),
      cmocka_unit_test(calls_keep_depth_and_fuel_exact),
  };
  return cmocka_run_group_tests_name("interp", tests, NULL, NULL);
}
