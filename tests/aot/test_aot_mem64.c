/*
 * This file implements the tests of several memories and of 64-bit
 * memories in compiled code (src/aot/codegen.c, aot_prelude_mem.h): the
 * last byte of a 64-bit memory and the one past it, an address plus an
 * offset that wraps 2^64, memory.grow past the instance's cap, copies
 * between a 32-bit and a 64-bit memory, a host call that grows memory 1
 * (or memory 0) between two reads of it, and memory 0 imported again as
 * memory 1 and grown through that index. Each case runs on the
 * interpreter and compiled (an object in the cache, never the
 * interpreter), which must answer alike. And the generated C: a module
 * with one 32-bit memory gets none of this, memory 0 of a module with
 * two keeps its check groups; and a body naming a memory or table the
 * module lacks is refused by the generator.
 * Each test gets a fresh $CIS_HOME, so each starts with an empty cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aot_test.h"

#define PAGE 65536ll
#define CAP (256 * PAGE) /* the instance's memory cap: 256 pages */
#define OOB (-1000 + CIS_TRAP_MEM_OOB)

/* Memory 0 ($a) is 64-bit, memory 1 ($b) 32-bit, one page each; host.grow
 * grows the caller's memory a or b (by its first argument, 0 or 1). */
static const char mods[] =
    "(module\n"
    "  (import \"host\" \"grow\" (func $hgrow (param i32 i32) (result i32)))\n"
    "  (memory $a (export \"a\") i64 1)\n"
    "  (memory $b (export \"b\") 1)\n"
    "  (data (memory $b) (i32.const 0) \"\\01\\02\\03\\04\\05\\06\\07\\08\")\n"
    "  (func (export \"ld8\") (param i64) (result i64) (i64.load8_u (local.get 0)))\n"
    "  (func (export \"ld64\") (param i64) (result i64) (i64.load (local.get 0)))\n"
    "  (func (export \"st8\") (param i64) (result i64)\n"
    "    (i64.store8 (local.get 0) (i64.const 0x5a)) (i64.const 0))\n"
    "  (func (export \"ld_wrap\") (param i64) (result i64)\n"
    "    (i64.load8_u offset=0xffffffffffffffff (local.get 0)))\n"
    "  (func (export \"ld_wrap16\") (param i64) (result i64)\n"
    "    (i64.load offset=0xfffffffffffffff8 (local.get 0)))\n"
    "  (func (export \"st_wrap\") (param i64) (result i64)\n"
    "    (i32.store offset=0xfffffffffffffffe (local.get 0) (i32.const 1)) (i64.const 0))\n"
    "  (func (export \"vld_wrap\") (param i64) (result i64)\n"
    "    (i64x2.extract_lane 0 (v128.load offset=0xfffffffffffffff0 (local.get 0))))\n"
    "  (func (export \"grow\") (param i64) (result i64) (memory.grow $a (local.get 0)))\n"
    "  (func (export \"size\") (param i64) (result i64) (memory.size $a))\n"
    "  (func (export \"grow_b\") (param i64) (result i64)\n"
    "    (i64.extend_i32_u (memory.grow $b (i32.wrap_i64 (local.get 0)))))\n"
    "  (func (export \"ld_b\") (param i64) (result i64) (i64.load $b (i32.wrap_i64 (local.get 0))))\n"
    "  (func (export \"copy_ab\") (param i64) (result i64)\n"
    "    (memory.copy $a $b (local.get 0) (i32.const 0) (i32.const 8)) (i64.const 0))\n"
    "  (func (export \"copy_ba\") (param i64) (result i64)\n"
    "    (memory.copy $b $a (i32.const 8) (local.get 0) (i32.const 8)) (i64.const 0))\n"
    /* memory 1 read, grown by the host, read again past its old end */
    "  (func (export \"host_grows_b\") (param i64) (result i64)\n"
    "    (local $x i64)\n"
    "    (local.set $x (i64.load8_u $b (i32.const 1)))\n"
    "    (drop (call $hgrow (i32.const 1) (i32.const 1)))\n"
    "    (i64.add (local.get $x) (i64.load8_u $b (i32.wrap_i64 (local.get 0)))))\n"
    /* the same of memory 0, whose size the function keeps */
    "  (func (export \"host_grows_a\") (param i64) (result i64)\n"
    "    (local $x i64)\n"
    "    (local.set $x (i64.load8_u (i64.const 1)))\n"
    "    (drop (call $hgrow (i32.const 0) (i32.const 1)))\n"
    "    (i64.add (local.get $x) (i64.load8_u (local.get 0)))))\n";

/* host.grow (ii)i: grows the caller's export "a" (0) or "b" (1). */
static cis_result host_grow(cis_call *call, const cis_slot *args, cis_slot *results) {
  cis_extern x;
  cis_result rc = cis_instance_export(cis_call_instance(call), args[0].u32 ? "b" : "a", 1, &x);
  if (rc != CIS_OK) return rc;
  results[0].u64 = (uint32_t)cis_memory_grow(x.of.memory, args[1].u32);
  return CIS_OK;
}

typedef struct run {
  cis_engine *e;
  cis_module *m;
  cis_imports *im;
  cis_instance *inst;
  cis_memory *mem; /* an imported memory, or NULL */
} run;

/* Module text on engine name under the cap, with host.grow, and env.m (a
 * memory of one page, at most 4) when mem. */
static void open_run(run *r, const char *name, const char *text, bool mem) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = name;
  cfg.limits.max_memory_bytes = CAP;
  memset(r, 0, sizeof *r);
  assert_int_equal(cis_engine_new(&cfg, &r->e), CIS_OK);
  r->m = module(r->e, text);
  assert_int_equal(cis_imports_new(r->e, &r->im), CIS_OK);
  cis_host_func_def def = {.module = "host", .name = "grow", .signature = "(ii)i", .fn = host_grow};
  assert_int_equal(cis_imports_add_host_funcs(r->im, &def, 1), CIS_OK);
  if (mem) {
    assert_int_equal(cis_memory_new(r->e, 1, 4, true, &r->mem), CIS_OK);
    assert_int_equal(cis_imports_add_memory(r->im, "env", 3, "m", 1, r->mem), CIS_OK);
  }
  cis_result rc = cis_instance_new(r->m, r->im, NULL, &r->inst);
  if (rc != CIS_OK) fail_msg("%s: instance: %s: %s", name, cis_errname(rc), cis_errmsg(r->e));
}

static void close_run(run *r) {
  cis_instance_free(r->inst);
  cis_imports_free(r->im);
  cis_module_free(r->m);
  cis_memory_free(r->mem);
  cis_engine_free(r->e);
}

/* Export name called with x (an i64, or an i32 when i32), its result, or
 * the call's error code below -1000 (-1 stays memory.grow's answer). */
static int64_t call_x(run *r, const char *name, int64_t x, bool i32) {
  cis_val a = {.type = i32 ? CIS_I32 : CIS_I64, .of.i64 = x}, v;
  if (i32) a.of.i32 = (int32_t)x;
  cis_func *f = cis_instance_func(r->inst, name);
  if (!f) fail_msg("no export %s", name);
  cis_result rc = cis_func_call(r->inst, f, &a, 1, &v, 1);
  if (rc != CIS_OK) return -1000 + rc;
  return i32 ? v.of.i32 : v.of.i64;
}

/* One step of a case: export, argument, the answer both engines give. */
typedef struct step {
  const char *name;
  int64_t x, want;
} step;

/* Runs steps in order on each engine, each on a fresh instance of text,
 * and checks that the compiled run used a compiled object. */
static void run_steps(const char *text, bool mem, bool i32, const step *s, size_t n) {
  static const char *const engines[] = {"interp", "aot"};
  for (int k = 0; k < 2; k++) {
    run r;
    open_run(&r, engines[k], text, mem);
    for (size_t i = 0; i < n; i++) {
      int64_t got = call_x(&r, s[i].name, s[i].x, i32);
      if (got != s[i].want)
        fail_msg("%s: step %zu: %s(%lld) = %lld, want %lld", engines[k], i, s[i].name,
                 (long long)s[i].x, (long long)got, (long long)s[i].want);
    }
    close_run(&r);
  }
  assert_true(cache_entries() >= 1);
}

/* The last byte of a 64-bit memory and the one past it; a load of 8 at
 * its last 8 and one byte later; a store that traps writes nothing. */
static void last_byte_and_past(void **state) {
  (void)state;
  static const step s[] = {
      {"st8", PAGE - 1, 0},     {"ld8", PAGE - 1, 0x5a},  {"ld8", PAGE, OOB},
      {"st8", PAGE, OOB},       {"ld64", PAGE - 8, 0x5a00000000000000ll},
      {"ld64", PAGE - 7, OOB},  {"ld8", 0x100000000ll - 1, OOB},
      {"ld8", 0x100000000ll, OOB}, /* wrapped to 32 bits: byte 0 */
      {"ld8", -1, OOB},         {"ld64", -8, OOB},        {"ld8", 0, 0},
  };
  run_steps(mods, false, false, s, CIS_ARRAY_LEN(s));
}

/* An address plus an offset that passes 2^64 traps, whatever the sum's
 * low bits (1 + (2^64 - 1) is 0; 16 + (2^64 - 16) is 0 too). */
static void offset_plus_address_wrapping_2_64(void **state) {
  (void)state;
  static const step s[] = {
      {"ld_wrap", 0, OOB},   {"ld_wrap", 1, OOB},   {"ld_wrap", 2, OOB},
      {"ld_wrap16", 8, OOB}, {"ld_wrap16", 9, OOB}, {"ld_wrap16", 0, OOB},
      {"st_wrap", 2, OOB},   {"st_wrap", 3, OOB},   {"vld_wrap", 16, OOB},
      {"vld_wrap", 17, OOB}, {"ld8", 0, 0},         {"ld8", 1, 0},
  };
  run_steps(mods, false, false, s, CIS_ARRAY_LEN(s));
}

/* memory.grow of the 64-bit memory past the cap answers -1 as an i64,
 * for any delta; of the 32-bit memory 1, -1 as an i32; the two share the
 * cap. */
static void grow_past_the_cap(void **state) {
  (void)state;
  static const step s[] = {
      {"grow", 300, -1},      {"grow", -1, -1},          {"grow", 1ll << 48, -1},
      {"grow", 0x100000001ll, -1}, {"size", 0, 1},       {"grow", 200, 1},
      {"grow_b", 60, 0xffffffffll}, {"grow_b", 50, 1},   {"size", 0, 201},
      {"ld8", 201 * PAGE - 1, 0}, {"ld8", 201 * PAGE, OOB}, {"ld_b", 51 * PAGE - 8, 0},
      {"ld_b", 51 * PAGE - 7, OOB},
  };
  run_steps(mods, false, false, s, CIS_ARRAY_LEN(s));
}

/* memory.copy between the 32-bit memory 1 and the 64-bit memory 0, both
 * ways, each bounded by its own memory. */
static void copy_between_32_and_64_bit(void **state) {
  (void)state;
  static const step s[] = {
      {"copy_ab", PAGE - 8, 0},  {"ld64", PAGE - 8, 0x0807060504030201ll},
      {"copy_ab", PAGE - 7, OOB}, {"copy_ab", -4, OOB}, {"copy_ab", 0x100000000ll, OOB},
      {"copy_ba", PAGE - 8, 0},  {"ld_b", 8, 0x0807060504030201ll},
      {"copy_ba", PAGE - 7, OOB}, {"copy_ba", -1, OOB},  {"ld8", 0, 0},
  };
  run_steps(mods, false, false, s, CIS_ARRAY_LEN(s));
}

/* A host call grows memory 1 (memory 0) between two reads of it in one
 * function: the second read, past the old end, sees the new page. */
static void host_call_grows_a_memory(void **state) {
  (void)state;
  static const step s[] = {
      {"host_grows_b", PAGE, 2},     {"ld_b", 2 * PAGE - 8, 0},    {"ld_b", 2 * PAGE - 7, OOB},
      {"host_grows_b", 3 * PAGE - 1, 2}, {"host_grows_b", 4 * PAGE, OOB},
      {"host_grows_a", PAGE, 0},     {"host_grows_a", 3 * PAGE - 1, 0},
      {"host_grows_a", 4 * PAGE, OOB},
  };
  run_steps(mods, false, false, s, CIS_ARRAY_LEN(s));
}

/* Memory 0 imported again as memory 1: growing it by index 1 grows memory
 * 0, whose size the function keeps, and a store through either index is
 * seen through the other. */
static const char aliased[] =
    "(module\n"
    "  (import \"host\" \"grow\" (func $hgrow (param i32 i32) (result i32)))\n"
    "  (memory $a (import \"env\" \"m\") 1)\n"
    "  (memory $b (import \"env\" \"m\") 1)\n"
    "  (func (export \"grow_then_load0\") (param i32) (result i32)\n"
    "    (drop (i32.load (i32.const 0)))\n"
    "    (drop (memory.grow $b (i32.const 1)))\n"
    "    (i32.load (local.get 0)))\n"
    "  (func (export \"store1_load0\") (param i32) (result i32)\n"
    "    (i32.store $b (local.get 0) (i32.const 77))\n"
    "    (i32.load $a (local.get 0))))\n";

static void memory_0_imported_as_memory_1(void **state) {
  (void)state;
  static const step s[] = {
      {"grow_then_load0", PAGE, 0},          /* 2 pages */
      {"store1_load0", 2 * PAGE - 4, 77},    {"store1_load0", 2 * PAGE - 3, OOB},
      {"grow_then_load0", 3 * PAGE - 4, 0},  /* 3 */
      {"grow_then_load0", 4 * PAGE - 4, 0},  /* 4 */
      {"grow_then_load0", 4 * PAGE - 3, OOB}, /* the import's maximum: still 4 */
  };
  run_steps(aliased, true, true, s, CIS_ARRAY_LEN(s));
}

/* The C: one 32-bit memory gets no memory part; with two memories, the
 * loads of memory 0 at one local still form a check group, and those of
 * memory 1 are checked each. */
static void generated_c_of_one_and_two_memories(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  char *one = generated_c(e, "(module (memory 1)\n"
                             "  (func (param i32) (result i32)\n"
                             "    (i32.add (i32.load (local.get 0)) (i32.load offset=4 (local.get 0)))))");
  assert_int_equal(count_of(one, "aot_eax"), 0);
  assert_int_equal(count_of(one, "AOT_OFF_MBASE"), 0);
  assert_int_equal(count_of(one, "<= (int64_t)MS - "), 1); /* the group's one check */
  char *two = generated_c(e, "(module (memory 1) (memory $b 1)\n"
                             "  (func (param i32) (result i32)\n"
                             "    (i32.add (i32.load (local.get 0)) (i32.load offset=4 (local.get 0)))\n"
                             "    (i32.load $b offset=8 (local.get 0)) (i32.add)))");
  assert_int_equal(count_of(two, "<= (int64_t)MS - "), 1);
  assert_true(count_of(two, "ldp32(AOT_MB(1) + aot_eax(c, 0, AOT_MSZ(1), ") >= 1);
  char *w64 = generated_c(e, mods);
  assert_true(count_of(w64, "ldp64(M + aot_eax(c, ") >= 1);
  assert_int_equal(count_of(w64, "ld64u(M, "), 0); /* no group on a 64-bit memory */
  free(one);
  free(two);
  free(w64);
  cis_engine_free(e);
}

/* The generator reads memory and table indices from the body it is
 * given: one past the module's is a body that does not decode
 * (CIS_EINVALID), never a read past its arrays. The bodies replace that
 * of a validated module of two memories and one table. */
static void generator_refuses_indices_past_the_module(void **state) {
  (void)state;
  static const struct {
    const char *what;
    uint8_t body[12];
    uint8_t len;
    cis_result want;
  } cases[] = {
      {"i32.load of memory 1", {0x20, 0x00, 0x28, 0x42, 0x01, 0x00, 0x0b}, 7, CIS_OK},
      {"i32.load of memory 2", {0x20, 0x00, 0x28, 0x42, 0x02, 0x00, 0x0b}, 7, CIS_EINVALID},
      {"v128.load of memory 2", {0x20, 0x00, 0xfd, 0x00, 0x44, 0x02, 0x00, 0x0b}, 8, CIS_EINVALID},
      {"memory.size 2", {0x3f, 0x02, 0x0b}, 3, CIS_EINVALID},
      {"memory.grow 2", {0x20, 0x00, 0x40, 0x02, 0x0b}, 5, CIS_EINVALID},
      {"memory.fill 2", {0x20, 0x00, 0x20, 0x00, 0x20, 0x00, 0xfc, 0x0b, 0x02, 0x0b}, 10, CIS_EINVALID},
      {"memory.copy 0 2", {0x20, 0x00, 0x20, 0x00, 0x20, 0x00, 0xfc, 0x0a, 0x00, 0x02, 0x0b}, 11,
       CIS_EINVALID},
      {"call_indirect of table 1", {0x20, 0x00, 0x20, 0x00, 0x11, 0x00, 0x01, 0x0b}, 8, CIS_EINVALID},
      {"table.size 1", {0xfc, 0x10, 0x01, 0x0b}, 4, CIS_EINVALID},
      {"table.grow 1", {0xd0, 0x70, 0x20, 0x00, 0xfc, 0x0f, 0x01, 0x0b}, 8, CIS_EINVALID},
  };
  cis_engine *e = engine("aot");
  cis_module *mod = module(e, "(module (type (func (param i32) (result i32))) (memory 1) (memory 1)\n"
                              "  (table 1 funcref) (func (type 0) (local.get 0)))");
  for (size_t i = 0; i < CIS_ARRAY_LEN(cases); i++)
    codegen_of_body(mod, cases[i].what, cases[i].body, cases[i].len, cases[i].want);
  cis_module_free(mod);
  cis_engine_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(last_byte_and_past, setup, teardown),
      cmocka_unit_test_setup_teardown(offset_plus_address_wrapping_2_64, setup, teardown),
      cmocka_unit_test_setup_teardown(grow_past_the_cap, setup, teardown),
      cmocka_unit_test_setup_teardown(copy_between_32_and_64_bit, setup, teardown),
      cmocka_unit_test_setup_teardown(host_call_grows_a_memory, setup, teardown),
      cmocka_unit_test_setup_teardown(memory_0_imported_as_memory_1, setup, teardown),
      cmocka_unit_test_setup_teardown(generated_c_of_one_and_two_memories, setup, teardown),
      cmocka_unit_test_setup_teardown(generator_refuses_indices_past_the_module, setup, teardown),
  };
  return cmocka_run_group_tests_name("aot_mem64", tests, NULL, NULL);
}
