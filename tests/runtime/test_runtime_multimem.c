/*
 * This file implements the tests of multiple memories (WebAssembly 3.0)
 * in the runtime: two memories of one instance draw on its one memory
 * account (memory.grow of either is refused with -1 past the cap), every
 * memory traps exactly at its own end, bulk operations between two
 * memories check both, an exported memory other than memory 0 is found
 * by name. Each runs on the interpreter and compiled; the compiled
 * engine compiles into a private CIS_HOME, removed at the end.
 */
#include "runtime/rt_test.h"

#include <string.h>

#define MIB (1024ull * 1024ull)
#define CAP (16 * MIB) /* 256 pages */

/* Memory 0 of one page, memory $b (1) of one page; each function names
 * the memory it works on. */
static const char two_memories[] =
    "(module\n"
    "  (memory $a (export \"a\") 1)\n"
    "  (memory $b (export \"b\") 1)\n"
    "  (data (memory $b) (i32.const 0) \"\\2a\")\n"
    "  (func (export \"grow0\") (param i32) (result i32) (memory.grow $a (local.get 0)))\n"
    "  (func (export \"grow1\") (param i32) (result i32) (memory.grow $b (local.get 0)))\n"
    "  (func (export \"size1\") (param i32) (result i32) (memory.size $b))\n"
    "  (func (export \"load1\") (param i32) (result i32) (i32.load $b (local.get 0)))\n"
    "  (func (export \"store1\") (param i32) (result i32)\n"
    "    (i32.store $b offset=0 (local.get 0) (i32.const 7)) (i32.const 0))\n"
    "  (func (export \"load0\") (param i32) (result i32) (i32.load (local.get 0)))\n"
    "  (func (export \"copy10\") (param i32) (result i32)\n"
    "    (memory.copy $b $a (local.get 0) (i32.const 0) (i32.const 4)) (i32.const 0))\n"
    "  (func (export \"fill1\") (param i32) (result i32)\n"
    "    (memory.fill $b (local.get 0) (i32.const 1) (i32.const 4)) (i32.const 0))\n"
    "  (func (export \"vload1\") (param i32) (result i32)\n"
    "    (i32x4.extract_lane 3 (v128.load $b (local.get 0))))\n"
    "  (func (export \"vstore_lane1\") (param i32) (result i32)\n"
    "    (v128.store32_lane $b 1 (local.get 0) (v128.const i32x4 0 9 0 0)) (i32.const 0))\n"
    "  (func (export \"vload_lane1\") (param i32) (result i32)\n"
    "    (i32x4.extract_lane 2 (v128.load32_lane $b 2 (local.get 0) (v128.const i32x4 0 0 0 0)))))\n";

static cis_engine *engine(const char *name) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = name;
  cfg.limits.max_memory_bytes = CAP;
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  return e;
}

/* Calls export name with x; the result, or the call's error code as a
 * negative number below -1000 (so that -1 stays memory.grow's answer). */
static int64_t call1(cis_instance *inst, const char *name, int32_t x) {
  cis_val a = {.type = CIS_I32, .of.i32 = x}, r;
  cis_func *f = cis_instance_func(inst, name);
  if (!f) fail_msg("no export %s", name);
  cis_result rc = cis_func_call(inst, f, &a, 1, &r, 1);
  if (rc != CIS_OK) return -1000 + rc;
  return r.of.i32;
}

static cis_instance *instance_of(cis_engine *e, cis_module **mod) {
  cis_result rc = cis_module_new_text(e, two_memories, sizeof two_memories - 1, mod);
  if (rc != CIS_OK) fail_msg("module: %s: %s", cis_errname(rc), cis_errmsg(e));
  cis_instance *inst = NULL;
  rc = cis_instance_new(*mod, NULL, NULL, &inst);
  if (rc != CIS_OK) fail_msg("instance: %s: %s", cis_errname(rc), cis_errmsg(e));
  return inst;
}

/* memory.grow of memory 1 is charged to the instance's account, with
 * memory 0: past the cap (256 pages) either one answers -1. */
static void grow_two_memories_under_one_cap(const char *name) {
  cis_engine *e = engine(name);
  cis_module *mod = NULL;
  cis_instance *inst = instance_of(e, &mod);
  assert_int_equal(call1(inst, "grow1", 200), 1);   /* 1 + 201 pages */
  assert_int_equal(call1(inst, "size1", 0), 201);
  assert_int_equal(call1(inst, "grow0", 60), -1);   /* 262 > 256 */
  assert_int_equal(call1(inst, "grow0", 50), 1);    /* 252 */
  assert_int_equal(call1(inst, "grow1", 10), -1);   /* 262 > 256 */
  assert_int_equal(call1(inst, "size1", 0), 201);
  assert_true(cis_instance_memory_used(inst) >= 252 * 65536ull);
  assert_true(cis_instance_memory_used(inst) <= CAP + CIS_MEMORY_SLACK);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

RT_ON_BOTH(grow_two_memories_under_one_cap)

/* Each memory traps at its own end, to the byte: memory 1 is one page
 * while memory 0 grows to two; a copy from memory 0 into memory 1 and a
 * fill of memory 1 check memory 1's end. */
static void bounds_of_memory_1_are_its_own(const char *name) {
  cis_engine *e = engine(name);
  cis_module *mod = NULL;
  cis_instance *inst = instance_of(e, &mod);
  assert_int_equal(call1(inst, "grow0", 1), 1);
  assert_int_equal(call1(inst, "load1", 0), 42);           /* its data segment */
  assert_int_equal(call1(inst, "store1", 65532), 0);
  assert_int_equal(call1(inst, "load1", 65532), 7);
  assert_int_equal(call1(inst, "load0", 65532), 0);        /* memory 0 untouched */
  assert_int_equal(call1(inst, "store1", 65533), -1000 + CIS_TRAP_MEM_OOB);
  assert_int_equal(call1(inst, "load1", 65533), -1000 + CIS_TRAP_MEM_OOB);
  assert_int_equal(call1(inst, "load0", 65536), 0);        /* in memory 0's second page */
  assert_int_equal(call1(inst, "copy10", 65532), 0);
  assert_int_equal(call1(inst, "copy10", 65533), -1000 + CIS_TRAP_MEM_OOB);
  assert_int_equal(call1(inst, "fill1", 65532), 0);
  assert_int_equal(call1(inst, "load1", 65532), 0x01010101);
  assert_int_equal(call1(inst, "fill1", 65533), -1000 + CIS_TRAP_MEM_OOB);
  /* SIMD: a whole vector, a lane stored and a lane loaded, to the byte. */
  assert_int_equal(call1(inst, "vload1", 65520), 0x01010101);   /* the filled word */
  assert_int_equal(call1(inst, "vload1", 65521), -1000 + CIS_TRAP_MEM_OOB);
  assert_int_equal(call1(inst, "vstore_lane1", 65532), 0);
  assert_int_equal(call1(inst, "load1", 65532), 9);
  assert_int_equal(call1(inst, "vload_lane1", 65532), 9);
  assert_int_equal(call1(inst, "vstore_lane1", 65533), -1000 + CIS_TRAP_MEM_OOB);
  assert_int_equal(call1(inst, "vload_lane1", 65533), -1000 + CIS_TRAP_MEM_OOB);
  /* The exported memory 1, by name. */
  cis_extern x;
  assert_int_equal(cis_instance_export(inst, "b", 1, &x), CIS_OK);
  assert_int_equal(x.kind, CIS_EXTERN_MEMORY);
  assert_int_equal(cis_memory_size(x.of.memory), 65536);
  assert_int_equal(cis_memory_data(x.of.memory)[0], 42);
  assert_true(x.of.memory != cis_instance_memory(inst));
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

RT_ON_BOTH(bounds_of_memory_1_are_its_own)

/* Held to 2.0, two memories are invalid (and memory.grow $b, say,
 * malformed: 2.0 reserved a zero byte there). */
static void standard_2_refuses_several_memories(void **state) {
  (void)state;
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "interp";
  cfg.standard = 2;
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  cis_module *mod = NULL;
  static const char two[] = "(module (memory 1) (memory 1))";
  assert_int_equal(cis_module_new_text(e, two, sizeof two - 1, &mod), CIS_EINVALID);
  assert_non_null(strstr(cis_errmsg(e), "multiple memories"));
  cis_engine_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(grow_two_memories_under_one_cap_interp),
      cmocka_unit_test(grow_two_memories_under_one_cap_aot),
      cmocka_unit_test(bounds_of_memory_1_are_its_own_interp),
      cmocka_unit_test(bounds_of_memory_1_are_its_own_aot),
      cmocka_unit_test(standard_2_refuses_several_memories),
  };
  return cmocka_run_group_tests_name("runtime_multimem", tests, rt_home_setup, rt_home_teardown);
}
