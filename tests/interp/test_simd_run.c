/*
 * This file implements the tests of v128 values in the interpreter and the
 * runtime, through the public API on tests/interp/wat/simd.wat: a v128
 * takes two frame slots (interp.h), so these check that parameters,
 * locals, operand-stack values, call arguments and results, host
 * function slots, globals and cis_val all keep their 16 bytes whole next
 * to scalars, and that v128 loads and stores trap exactly at the end of
 * memory.
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
#include "support/test_file.h"

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

/* vswap(i32 x, v128 v, i64 y) -> (v128 with its two halves swapped and
 * lane 0 (i32) plus x + y, i32 x * 2): reads and writes slots as the API
 * says, a v128 in two slots, low half first. */
static cis_result vswap(cis_call *c, const cis_slot *args, cis_slot *results) {
  (void)c;
  uint32_t x = args[0].u32;
  uint64_t lo = args[1].u64, hi = args[2].u64, y = args[3].u64;
  uint64_t nlo = hi, nhi = lo;
  nlo = (nlo & ~0xffffffffull) | (uint32_t)((uint32_t)nlo + x + (uint32_t)y);
  results[0].u64 = nlo;
  results[1].u64 = nhi;
  results[2].u64 = x * 2;
  return CIS_OK;
}

typedef struct fx {
  cis_engine *e;
  cis_imports *im;
  cis_module *m;
  cis_instance *in;
} fx;

static fx open_simd(void) {
  fx x;
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  assert_int_equal(cis_engine_new(&cfg, &x.e), CIS_OK);
  assert_int_equal(cis_imports_new(x.e, &x.im), CIS_OK);
  static const cis_host_func_def defs[] = {{"host", "vswap", "(ivI)vi", vswap, NULL, 0}};
  assert_int_equal(cis_imports_add_host_funcs(x.im, defs, 1), CIS_OK);
  x.m = load(x.e, "simd");
  x.in = NULL;
  cis_result rc = cis_instance_new(x.m, x.im, NULL, &x.in);
  if (rc != CIS_OK) fail_msg("instantiating simd: %s: %s", cis_errname(rc), cis_errmsg(x.e));
  return x;
}

static void done(fx *x) {
  cis_instance_free(x->in);
  cis_module_free(x->m);
  cis_imports_free(x->im);
  cis_engine_free(x->e);
}

static cis_val v128_i32(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  cis_val v;
  memset(&v, 0, sizeof v);
  v.type = CIS_V128;
  uint32_t l[4] = {a, b, c, d};
  memcpy(v.v128, l, 16);
  return v;
}
static cis_val vi32(int32_t x) {
  cis_val v;
  memset(&v, 0, sizeof v);
  v.type = CIS_I32;
  v.of.u64 = (uint32_t)x;
  return v;
}
static cis_val vi64(int64_t x) {
  cis_val v;
  memset(&v, 0, sizeof v);
  v.type = CIS_I64;
  v.of.i64 = x;
  return v;
}

/* Calls export name; fails the test unless it returns CIS_OK. */
static void call(cis_instance *in, const char *name, const cis_val *args, size_t n,
                 cis_val *res, size_t nres) {
  cis_func *f = cis_instance_func(in, name);
  if (!f) fail_msg("no export %s", name);
  cis_result rc = cis_func_call(in, f, args, n, res, nres);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(in));
}

static void lanes_equal(const cis_val *v, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  uint32_t l[4];
  assert_int_equal(v->type, CIS_V128);
  memcpy(l, v->v128, 16);
  assert_int_equal(l[0], a);
  assert_int_equal(l[1], b);
  assert_int_equal(l[2], c);
  assert_int_equal(l[3], d);
}

static void v128_params_between_scalars_keep_their_slots(void **state) {
  (void)state;
  fx x = open_simd();
  cis_val args[4] = {vi32(7), v128_i32(1, 2, 3, 4), vi64(1000), v128_i32(10, 20, 30, 0xffffffff)};
  cis_val res[2];
  call(x.in, "mix", args, 4, res, 2);
  lanes_equal(&res[0], 11, 22, 33, 3);
  assert_int_equal(res[1].type, CIS_I64);
  assert_int_equal(res[1].of.i64, 1007);
  done(&x);
}

static void v128_arguments_and_results_of_internal_calls(void **state) {
  (void)state;
  fx x = open_simd();
  cis_val a = v128_i32(1, 2, 3, 4), res[2];
  call(x.in, "call_mix", &a, 1, res, 2);
  lanes_equal(&res[0], 102, 104, 106, 108);
  assert_int_equal(res[1].of.i64, 3);
  done(&x);
}

static void host_function_takes_and_returns_v128_in_two_slots(void **state) {
  (void)state;
  fx x = open_simd();
  cis_val a = v128_i32(1, 2, 3, 4), res[2];
  call(x.in, "via_host", &a, 1, res, 2);
  lanes_equal(&res[0], 3 + 9 + 11, 4, 1, 2);
  assert_int_equal(res[1].type, CIS_I32);
  assert_int_equal(res[1].of.i32, 18);
  /* The same through the untyped slot API: args and results in slots. */
  cis_func *f = cis_instance_func(x.in, "via_host");
  cis_slot sargs[2] = {{.u64 = 0x0000000200000001ull}, {.u64 = 0x0000000400000003ull}};
  cis_slot sres[3];
  assert_int_equal(cis_func_call_slots(x.in, f, sargs, sres), CIS_OK);
  assert_true(sres[0].u64 == 0x0000000400000017ull && sres[1].u64 == 0x0000000200000001ull);
  assert_int_equal(sres[2].u32, 18);
  done(&x);
}

static void v128_globals_through_wasm_and_the_api(void **state) {
  (void)state;
  fx x = open_simd();
  cis_val r;
  call(x.in, "get_g", NULL, 0, &r, 1);
  lanes_equal(&r, 1, 2, 3, 4);
  call(x.in, "get_k", NULL, 0, &r, 1);
  lanes_equal(&r, 0xffffffff, 0xffffffff, 7, 0);
  cis_val v = v128_i32(9, 8, 7, 6);
  call(x.in, "set_g", &v, 1, NULL, 0);
  cis_extern ex;
  assert_int_equal(cis_instance_export(x.in, "g", 1, &ex), CIS_OK);
  assert_int_equal(ex.kind, CIS_EXTERN_GLOBAL);
  cis_global *g = ex.of.global;
  cis_val got = cis_global_get(g);
  lanes_equal(&got, 9, 8, 7, 6);
  assert_int_equal(cis_global_set(g, v128_i32(5, 5, 5, 0x80000000u)), CIS_OK);
  call(x.in, "get_g", NULL, 0, &r, 1);
  lanes_equal(&r, 5, 5, 5, 0x80000000u);
  /* A standalone v128 global keeps its 16 bytes. */
  cis_global *s = NULL;
  assert_int_equal(cis_global_new(x.e, v128_i32(1, 0, 0, 0xdeadbeef), false, &s), CIS_OK);
  got = cis_global_get(s);
  lanes_equal(&got, 1, 0, 0, 0xdeadbeef);
  cis_global_free(s);
  done(&x);
}

static void v128_values_cross_loops_branches_select_and_if(void **state) {
  (void)state;
  fx x = open_simd();
  cis_val args[3] = {v128_i32(1, 2, 3, 0xfffffffe), vi32(5)}, r;
  call(x.in, "loop_sum", args, 2, &r, 1);
  lanes_equal(&r, 5, 10, 15, 0xfffffff6u);
  cis_val p[3] = {vi32(1), v128_i32(1, 2, 3, 4), v128_i32(5, 6, 7, 8)};
  call(x.in, "pick", p, 3, &r, 1);
  lanes_equal(&r, 1, 2, 3, 4);
  p[0] = vi32(0);
  call(x.in, "pick", p, 3, &r, 1);
  lanes_equal(&r, 5, 6, 7, 8);
  call(x.in, "pick_if", p, 3, &r, 1);
  lanes_equal(&r, 10, 12, 14, 16);
  p[0] = vi32(3);
  call(x.in, "pick_if", p, 3, &r, 1);
  lanes_equal(&r, 1, 2, 3, 4);
  done(&x);
}

static void v128_loads_and_stores_trap_past_the_last_byte(void **state) {
  (void)state;
  fx x = open_simd();
  cis_val args[2] = {vi32(65536 - 16), v128_i32(0x11, 0x22, 0x33, 0x44)}, r;
  call(x.in, "store_load", args, 2, &r, 1);
  lanes_equal(&r, 0x11, 0x22, 0x33, 0x44);
  cis_func *ld = cis_instance_func(x.in, "load");
  cis_val a = vi32(65536 - 15);
  assert_int_equal(cis_func_call(x.in, ld, &a, 1, &r, 1), CIS_TRAP_MEM_OOB);
  a = vi32(-1);
  assert_int_equal(cis_func_call(x.in, ld, &a, 1, &r, 1), CIS_TRAP_MEM_OOB);
  /* store32_lane 2 writes 0x33 at p; load8_lane 0 reads its low byte back. */
  cis_val lw[2] = {vi32(65536 - 4), v128_i32(0x11, 0x22, 0x1033, 0x44)};
  call(x.in, "lane_rw", lw, 2, &r, 1);
  lanes_equal(&r, 0x33, 0x22, 0x1033, 0x44);
  lw[0] = vi32(65536 - 3);
  cis_func *f = cis_instance_func(x.in, "lane_rw");
  assert_int_equal(cis_func_call(x.in, f, lw, 2, &r, 1), CIS_TRAP_MEM_OOB);
  done(&x);
}

static void shuffle_and_extract_lanes(void **state) {
  (void)state;
  fx x = open_simd();
  cis_val ab[2], r[4];
  memset(ab, 0, sizeof ab);
  ab[0].type = ab[1].type = CIS_V128;
  for (int i = 0; i < 16; i++) {
    ab[0].v128[i] = (uint8_t)(0xa0 + i);
    ab[1].v128[i] = (uint8_t)(0xb0 + i);
  }
  call(x.in, "shuffle", ab, 2, r, 1);
  uint8_t want[16] = {0xbf, 0xa0, 0xb0, 0xaf, 0xa1, 0xb1, 0xa2, 0xb2,
                      0xa3, 0xb3, 0xa4, 0xb4, 0xa5, 0xb5, 0xa6, 0xb6};
  assert_memory_equal(r[0].v128, want, 16);
  call(x.in, "extract", ab, 1, r, 4);
  assert_int_equal(r[0].type, CIS_I32);
  assert_int_equal(r[0].of.u32, 0xafaeadacu);
  assert_int_equal(r[1].of.u64, 0xa7a6a5a4a3a2a1a0ull);
  assert_int_equal(r[2].type, CIS_F32);
  assert_int_equal(r[2].of.u64, 0xa7a6a5a4u); /* zero-extended bits */
  assert_int_equal(r[3].of.u64, 0xafaeadacabaaa9a8ull);
  done(&x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(v128_params_between_scalars_keep_their_slots),
      cmocka_unit_test(v128_arguments_and_results_of_internal_calls),
      cmocka_unit_test(host_function_takes_and_returns_v128_in_two_slots),
      cmocka_unit_test(v128_globals_through_wasm_and_the_api),
      cmocka_unit_test(v128_values_cross_loops_branches_select_and_if),
      cmocka_unit_test(v128_loads_and_stores_trap_past_the_last_byte),
      cmocka_unit_test(shuffle_and_extract_lanes),
  };
  return cmocka_run_group_tests_name("simd_run", tests, NULL, NULL);
}
