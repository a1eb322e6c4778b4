/*
 * This file implements the tests of 64-bit memories and tables (memory64
 * and table64, WebAssembly 3.0) in the runtime: loads and stores at
 * addresses past 4 GiB and with offsets whose sum with the address wraps
 * trap, each memory to the byte at its end; memory.grow past the
 * instance's cap answers -1 as an i64; bulk operations between a 64-bit
 * and a 32-bit memory; a 64-bit table's operations and call_indirect,
 * whose index past 2^32 never aliases a small one; imports matched by
 * their address type, an embedder's 64-bit memory and table among them;
 * host functions marked CIS_HOST_MEMORY32 (WASI's and the skill ABIs'
 * are) refused for a module whose memory 0 is 64-bit; hostile binaries (limits flags, bounds, offsets).
 * What runs code runs on the interpreter and compiled; the compiled
 * engine compiles into a private CIS_HOME, removed at the end.
 */
#include "runtime/rt_test.h"
#include "cis/cis_wasi.h"
#include "host/host.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1024ull * 1024ull)
#define CAP (16 * MIB) /* 256 pages */
#define G4 0x100000000ll /* 4 GiB */

/* Memory 0 is 64-bit (one page), memory 1 32-bit (one page); a 64-bit
 * table of three functions. */
static const char mem64[] =
    "(module\n"
    "  (memory $a (export \"a\") i64 1)\n"
    "  (memory $b i32 1)\n"
    "  (data (memory $a) (i64.const 8) \"\\2a\")\n"
    "  (data $p \"\\01\\02\\03\\04\")\n"
    "  (type $v (func (result i64)))\n"
    "  (table $t i64 3 10 funcref)\n"
    "  (elem (table $t) (i64.const 0) func $f0 $f1 $f2)\n"
    "  (func $f0 (result i64) (i64.const 100))\n"
    "  (func $f1 (result i64) (i64.const 101))\n"
    "  (func $f2 (result i64) (i64.const 102))\n"
    "  (func (export \"load\") (param i64) (result i64) (i64.load8_u (local.get 0)))\n"
    "  (func (export \"load_hi\") (param i64) (result i64)\n"
    "    (i64.load offset=0xffffffffffffff00 (local.get 0)))\n"
    "  (func (export \"load4g\") (param i64) (result i64) (i64.load32_u offset=0x100000000 (local.get 0)))\n"
    "  (func (export \"store\") (param i64) (result i64) (i32.store (local.get 0) (i32.const 7)) (i64.const 0))\n"
    "  (func (export \"vload\") (param i64) (result i64) (i64x2.extract_lane 1 (v128.load (local.get 0))))\n"
    "  (func (export \"size\") (param i64) (result i64) (memory.size))\n"
    "  (func (export \"grow\") (param i64) (result i64) (memory.grow (local.get 0)))\n"
    "  (func (export \"fill\") (param i64) (result i64)\n"
    "    (memory.fill (local.get 0) (i32.const 1) (i64.const 4)) (i64.const 0))\n"
    "  (func (export \"init\") (param i64) (result i64)\n"
    "    (memory.init $p (local.get 0) (i32.const 0) (i32.const 4)) (i64.const 0))\n"
    "  (func (export \"copy_to_b\") (param i64) (result i64)\n"
    "    (memory.copy $b $a (i32.const 0) (local.get 0) (i32.const 4)) (i64.const 0))\n"
    "  (func (export \"copy_from_b\") (param i64) (result i64)\n"
    "    (memory.copy $a $b (local.get 0) (i32.const 0) (i32.const 4)) (i64.const 0))\n"
    "  (func (export \"call\") (param i64) (result i64) (call_indirect $t (type $v) (local.get 0)))\n"
    "  (func (export \"tail\") (param i64) (result i64) (return_call_indirect $t (type $v) (local.get 0)))\n"
    "  (func (export \"tget\") (param i64) (result i64)\n"
    "    (ref.is_null (table.get $t (local.get 0))) (i64.extend_i32_u))\n"
    "  (func (export \"tset\") (param i64) (result i64) (table.set $t (local.get 0) (ref.null func)) (i64.const 0))\n"
    "  (func (export \"tsize\") (param i64) (result i64) (table.size $t))\n"
    "  (func (export \"tgrow\") (param i64) (result i64) (table.grow $t (ref.null func) (local.get 0)))\n"
    "  (func (export \"tfill\") (param i64) (result i64)\n"
    "    (table.fill $t (local.get 0) (ref.null func) (i64.const 1)) (i64.const 0)))\n";

static cis_engine *engine_std(const char *name, int standard) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = name;
  cfg.standard = standard;
  cfg.limits.max_memory_bytes = CAP;
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  return e;
}

static cis_engine *engine(const char *name) { return engine_std(name, 0); }

/* Calls export name with i64 x; its result, or the call's error code
 * below -1000 (so that -1 stays the grow instructions' answer). */
static int64_t call1(cis_instance *inst, const char *name, int64_t x) {
  cis_val a = {.type = CIS_I64, .of.i64 = x}, r;
  cis_func *f = cis_instance_func(inst, name);
  if (!f) fail_msg("no export %s", name);
  cis_result rc = cis_func_call(inst, f, &a, 1, &r, 1);
  if (rc != CIS_OK) return -1000 + rc;
  return r.of.i64;
}

static cis_instance *instance_of(cis_engine *e, cis_module **mod) {
  cis_result rc = cis_module_new_text(e, mem64, sizeof mem64 - 1, mod);
  if (rc != CIS_OK) fail_msg("module: %s: %s", cis_errname(rc), cis_errmsg(e));
  cis_instance *inst = NULL;
  rc = cis_instance_new(*mod, NULL, NULL, &inst);
  if (rc != CIS_OK) fail_msg("instance: %s: %s", cis_errname(rc), cis_errmsg(e));
  return inst;
}

#define OOB (-1000 + CIS_TRAP_MEM_OOB)

/* Loads and stores trap exactly at the memory's end, at addresses past
 * 4 GiB (which must not wrap into the memory's first bytes) and when the
 * address plus the offset passes 2^64. */
static void bounds(const char *name) {
  cis_engine *e = engine(name);
  cis_module *mod = NULL;
  cis_instance *inst = instance_of(e, &mod);
  assert_int_equal(call1(inst, "load", 8), 42); /* its i64 data segment */
  assert_int_equal(call1(inst, "load", 65535), 0);
  assert_int_equal(call1(inst, "load", 65536), OOB);
  assert_int_equal(call1(inst, "load", G4 + 8), OOB); /* would be 42 if wrapped to 32 bits */
  assert_int_equal(call1(inst, "load", -1), OOB);
  assert_int_equal(call1(inst, "store", 65532), 0);
  assert_int_equal(call1(inst, "load", 65532), 7);
  assert_int_equal(call1(inst, "store", 65533), OOB);
  assert_int_equal(call1(inst, "store", G4), OOB);
  assert_int_equal(call1(inst, "load", 0), 0); /* the trapping stores wrote nothing */
  /* offset 2^64 - 256: address 0 is past the end; address 257 wraps to 1. */
  assert_int_equal(call1(inst, "load_hi", 0), OOB);
  assert_int_equal(call1(inst, "load_hi", 257), OOB);
  assert_int_equal(call1(inst, "load_hi", -1), OOB);
  /* offset 4 GiB: never inside a memory of one page, whatever the address. */
  assert_int_equal(call1(inst, "load4g", 0), OOB);
  assert_int_equal(call1(inst, "load4g", -G4), OOB);
  /* A vector: its 16 bytes to the byte. */
  assert_int_equal(call1(inst, "vload", 65520), 0x700000000ll); /* the 7 stored at 65532 */
  assert_int_equal(call1(inst, "vload", 65521), OOB);
  assert_int_equal(call1(inst, "vload", -8), OOB);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

RT_ON_BOTH(bounds)

/* memory.grow of a 64-bit memory: the old size as an i64, and -1 (an i64,
 * not 2^32 - 1) past the instance's cap, for any delta up to 2^64 - 1. */
static void grow_past_the_cap(const char *name) {
  cis_engine *e = engine(name);
  cis_module *mod = NULL;
  cis_instance *inst = instance_of(e, &mod);
  assert_int_equal(call1(inst, "size", 0), 1);
  assert_int_equal(call1(inst, "grow", 0), 1);
  assert_int_equal(call1(inst, "grow", 300), -1);           /* 301 pages > 256 */
  assert_int_equal(call1(inst, "grow", G4), -1);            /* a delta past 32 bits */
  assert_int_equal(call1(inst, "grow", -1), -1);            /* 2^64 - 1 pages: no wrap */
  assert_int_equal(call1(inst, "grow", 1ll << 48), -1);
  assert_int_equal(call1(inst, "size", 0), 1);
  assert_int_equal(call1(inst, "grow", 2), 1);
  assert_int_equal(call1(inst, "size", 0), 3);
  assert_int_equal(call1(inst, "load", 3 * 65536 - 1), 0);
  assert_int_equal(call1(inst, "load", 3 * 65536), OOB);
  assert_true(cis_instance_memory_used(inst) <= CAP + CIS_MEMORY_SLACK);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

RT_ON_BOTH(grow_past_the_cap)

/* Under a cap above 4 GiB a 64-bit memory grows past it (the pages are
 * reserved, not touched): a store at 4 GiB + 8 and the last byte read
 * back, the byte past the end traps, memory.size in pages past 65536; a
 * 32-bit memory of the same module stops at the cap's 4 GiB. */
static const char big64[] =
    "(module (memory $a i64 1) (memory $b 1)\n"
    "  (func (export \"grow\") (param i64) (result i64) (memory.grow $a (local.get 0)))\n"
    "  (func (export \"grow32\") (param i64) (result i64) (i64.extend_i32_s (memory.grow $b (i32.wrap_i64 (local.get 0)))))\n"
    "  (func (export \"size\") (param i64) (result i64) (memory.size $a))\n"
    "  (func (export \"store\") (param i64) (result i64) (i64.store8 $a (local.get 0) (i64.const 0x5a)) (i64.const 0))\n"
    "  (func (export \"load\") (param i64) (result i64) (i64.load8_u $a (local.get 0))))\n";

static void past_4_gib(const char *name) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = name;
  cfg.limits.max_memory_bytes = 5ull << 30;
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  cis_module *mod = NULL;
  assert_int_equal(cis_module_new_text(e, big64, sizeof big64 - 1, &mod), CIS_OK);
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, NULL, NULL, &inst), CIS_OK);
  assert_int_equal(call1(inst, "grow", 65536), 1);           /* 4 GiB + 64 KiB */
  assert_int_equal(call1(inst, "size", 0), 65537);
  assert_int_equal(call1(inst, "store", G4 + 8), 0);
  assert_int_equal(call1(inst, "load", G4 + 8), 0x5a);
  assert_int_equal(call1(inst, "load", G4 + 65535), 0);
  assert_int_equal(call1(inst, "load", G4 + 65536), OOB);
  assert_int_equal(call1(inst, "grow", 65536), -1);          /* past the 5 GiB cap */
  /* the 32-bit memory may take what is left of the account, not 4 GiB more */
  assert_int_equal(call1(inst, "grow32", 65535), -1);
  assert_int_equal(call1(inst, "grow32", 1), 1);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

RT_ON_BOTH(past_4_gib)

/* Without a cap a 64-bit memory grows past 4 GiB as well, however the
 * address space around its first reservation is used: other memories
 * made before and after it, growing too. */
static void past_4_gib_uncapped(const char *name) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = name;
  cfg.limits.max_memory_bytes = 0;
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  cis_module *mod = NULL;
  assert_int_equal(cis_module_new_text(e, big64, sizeof big64 - 1, &mod), CIS_OK);
  cis_instance *inst[3] = {NULL};
  for (int i = 0; i < 3; i++) assert_int_equal(cis_instance_new(mod, NULL, NULL, &inst[i]), CIS_OK);
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 3; i++) {
      assert_int_equal(call1(inst[i], "grow", 65536), 1 + round * 65536);
      assert_int_equal(call1(inst[i], "store", (round + 1) * G4 + 8 + i), 0);
      assert_int_equal(call1(inst[i], "load", (round + 1) * G4 + 8 + i), 0x5a);
      assert_int_equal(call1(inst[i], "load", 8), 0);
    }
  for (int i = 0; i < 3; i++) {
    assert_int_equal(call1(inst[i], "size", 0), 2 * 65536 + 1);
    assert_int_equal(call1(inst[i], "load", G4 + 8 + i), 0x5a); /* kept by the second growth */
    assert_int_equal(call1(inst[i], "load", 2 * G4 + 65536), OOB);
    cis_instance_free(inst[i]);
  }
  cis_module_free(mod);
  cis_engine_free(e);
}

RT_ON_BOTH(past_4_gib_uncapped)

/* Bytes of address space the process maps now (VmSize), 0 if unknown. */
static uint64_t address_space_used(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  unsigned long long kb = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmSize: %llu kB", &kb) == 1) break;
  fclose(f);
  return (uint64_t)kb * 1024;
}

/* Where the address space cannot hold the first reservation of an
 * uncapped 64-bit memory (RLIMIT_AS 16 GiB above what the process maps),
 * the memory is made all the same, reserving 4 GiB, and grows. In a
 * child, whose limit goes with it. */
static void uncapped_under_rlimit_as(void **state) {
  (void)state;
  uint64_t used = address_space_used();
  if (!used) skip();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct rlimit rl = {.rlim_cur = used + (16ull << 30), .rlim_max = used + (16ull << 30)};
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(2);
    cis_engine_config cfg;
    cis_engine_config_default(&cfg);
    cfg.limits.max_memory_bytes = 0;
    cis_engine *e = NULL;
    cis_module *mod = NULL;
    cis_instance *inst = NULL;
    if (cis_engine_new(&cfg, &e) != CIS_OK) _exit(3);
    if (cis_module_new_text(e, big64, sizeof big64 - 1, &mod) != CIS_OK) _exit(4);
    if (cis_instance_new(mod, NULL, NULL, &inst) != CIS_OK) _exit(5);
    if (call1(inst, "grow", 2) != 1 || call1(inst, "store", 3 * 65536 - 1) != 0 ||
        call1(inst, "load", 3 * 65536 - 1) != 0x5a)
      _exit(6);
    cis_instance_free(inst);
    cis_module_free(mod);
    cis_engine_free(e);
    _exit(0);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

/* Bulk operations with i64 addresses, and a copy between the 64-bit
 * memory 0 and the 32-bit memory 1 (its length an i32). */
static void bulk(const char *name) {
  cis_engine *e = engine(name);
  cis_module *mod = NULL;
  cis_instance *inst = instance_of(e, &mod);
  assert_int_equal(call1(inst, "fill", 65532), 0);
  assert_int_equal(call1(inst, "load", 65535), 1);
  assert_int_equal(call1(inst, "fill", 65533), OOB);
  assert_int_equal(call1(inst, "fill", G4), OOB);
  assert_int_equal(call1(inst, "fill", -2), OOB); /* d + n wraps */
  assert_int_equal(call1(inst, "init", 100), 0);
  assert_int_equal(call1(inst, "load", 103), 4);
  assert_int_equal(call1(inst, "init", G4 + 100), OOB);
  assert_int_equal(call1(inst, "copy_to_b", 100), 0);
  assert_int_equal(call1(inst, "copy_to_b", G4 + 100), OOB);
  assert_int_equal(call1(inst, "copy_from_b", 200), 0);
  assert_int_equal(call1(inst, "load", 203), 4); /* memory 1 got 1 2 3 4 at 0 */
  assert_int_equal(call1(inst, "copy_from_b", 65533), OOB);
  assert_int_equal(call1(inst, "copy_from_b", -1), OOB);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

RT_ON_BOTH(bulk)

#define TOOB (-1000 + CIS_TRAP_TABLE_OOB)

/* A 64-bit table: every operation takes i64 indices, an index past 2^32
 * never aliases element index mod 2^32, and grow answers -1 as an i64. */
static void table64(const char *name) {
  cis_engine *e = engine(name);
  cis_module *mod = NULL;
  cis_instance *inst = instance_of(e, &mod);
  assert_int_equal(call1(inst, "call", 1), 101);
  assert_int_equal(call1(inst, "tail", 2), 102);
  assert_int_equal(call1(inst, "call", 3), -1000 + CIS_TRAP_UNDEF_ELEM);
  assert_int_equal(call1(inst, "call", G4), -1000 + CIS_TRAP_UNDEF_ELEM); /* not element 0 */
  assert_int_equal(call1(inst, "call", G4 - 1), -1000 + CIS_TRAP_UNDEF_ELEM);
  assert_int_equal(call1(inst, "tail", G4 + 1), -1000 + CIS_TRAP_UNDEF_ELEM);
  assert_int_equal(call1(inst, "call", -1), -1000 + CIS_TRAP_UNDEF_ELEM);
  assert_int_equal(call1(inst, "tget", 0), 0);
  assert_int_equal(call1(inst, "tget", G4), TOOB);
  assert_int_equal(call1(inst, "tset", G4 + 1), TOOB);
  assert_int_equal(call1(inst, "call", 1), 101); /* the trapping set wrote nothing */
  assert_int_equal(call1(inst, "tfill", 3), TOOB);
  assert_int_equal(call1(inst, "tfill", -1), TOOB); /* i + n wraps */
  assert_int_equal(call1(inst, "tsize", 0), 3);
  assert_int_equal(call1(inst, "tgrow", 8), -1); /* past its maximum of 10 */
  assert_int_equal(call1(inst, "tgrow", G4 + 1), -1);
  assert_int_equal(call1(inst, "tgrow", -1), -1);
  assert_int_equal(call1(inst, "tgrow", 2), 3);
  assert_int_equal(call1(inst, "tsize", 0), 5);
  assert_int_equal(call1(inst, "tget", 4), 1);
  assert_int_equal(call1(inst, "tset", 2), 0);
  assert_int_equal(call1(inst, "call", 2), -1000 + CIS_TRAP_UNINIT_ELEM);
  assert_int_equal(call1(inst, "tfill", 4), 0);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

RT_ON_BOTH(table64)

static cis_result nop_fn(cis_call *call, const cis_slot *args, cis_slot *results) {
  (void)call, (void)args;
  results[0].u64 = 0;
  return CIS_OK;
}

/* Instantiates text with imports im on e and returns the code; the
 * engine's message into msg. */
static cis_result instantiate_with(cis_engine *e, const char *text, cis_imports *im, char *msg, size_t cap) {
  cis_module *mod = NULL;
  cis_result rc = cis_module_new_text(e, text, strlen(text), &mod);
  if (rc != CIS_OK) fail_msg("module: %s", cis_errmsg(e));
  cis_instance *inst = NULL;
  rc = cis_instance_new(mod, im, NULL, &inst);
  snprintf(msg, cap, "%s", cis_errmsg(e));
  cis_instance_free(inst);
  cis_module_free(mod);
  return rc;
}

/* Instantiates text with host function mod.name ((i32) -> i32) of the
 * given CIS_HOST_* flags and returns the code. */
static cis_result with_host_func(const char *text, const char *modname, const char *name, uint32_t flags,
                                 char *msg, size_t cap) {
  cis_engine *e = engine("interp");
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  cis_host_func_def def = {.module = modname, .name = name, .signature = "(i)i", .fn = nop_fn, .flags = flags};
  assert_int_equal(cis_imports_add_host_funcs(im, &def, 1), CIS_OK);
  cis_result rc = instantiate_with(e, text, im, msg, cap);
  cis_imports_free(im);
  cis_engine_free(e);
  return rc;
}

/* A host function marked CIS_HOST_MEMORY32 takes 32-bit pointers into
 * memory 0: a module whose memory 0 is 64-bit cannot import it (a typed
 * error at instantiation), whatever its name; unmarked ones, and a 32-bit
 * memory 0, link; memory 1 may be 64-bit. WASI's functions and the
 * skill ABIs' (all three) carry the mark. */
static void wasm32_interfaces_need_a_32_bit_memory_0(void **state) {
  (void)state;
  char msg[512];
  static const char imp64[] = "(module (import \"env\" \"f\" (func (param i32) (result i32))) (memory i64 1))";
  static const char imp32[] = "(module (import \"env\" \"f\" (func (param i32) (result i32))) (memory 1))";
  static const char mem1[] =
      "(module (import \"env\" \"f\" (func (param i32) (result i32))) (memory 1) (memory i64 1))";
  assert_int_equal(with_host_func(imp64, "env", "f", CIS_HOST_MEMORY32, msg, sizeof msg), CIS_EIMPORTTYPE);
  assert_non_null(strstr(msg, "memory 0 is 64-bit"));
  if (!strstr(msg, "incompatible import type \"env\".\"f\"")) fail_msg("%s", msg);
  assert_int_equal(with_host_func(imp32, "env", "f", CIS_HOST_MEMORY32, msg, sizeof msg), CIS_OK);
  assert_int_equal(with_host_func(mem1, "env", "f", CIS_HOST_MEMORY32, msg, sizeof msg), CIS_OK);
  assert_int_equal(with_host_func(imp64, "env", "f", 0, msg, sizeof msg), CIS_OK);
  /* The name is not the mark: an embedder's own cis.log links. */
  static const char cislog[] = "(module (import \"cis\" \"log\" (func (param i32) (result i32))) (memory i64 1))";
  assert_int_equal(with_host_func(cislog, "cis", "log", 0, msg, sizeof msg), CIS_OK);

  /* The real interfaces: WASI's, and each skill ABI's. */
  cis_engine *e = engine("interp");
  static const struct {
    const char *mod, *name, *type;
  } real[] = {{"wasi_snapshot_preview1", "fd_close", "(param i32) (result i32)"},
              {"cis", "log", "(param i32 i32 i32)"},
              {"cis_v1", "log", "(param i32 i32 i32) (result i32)"},
              {"env", "host_log", "(param i32 i32 i32)"}};
  cis_wasi_config wc;
  cis_wasi_config_default(&wc);
  cis_wasi *w = NULL;
  assert_int_equal(cis_wasi_new(&wc, &w), CIS_OK);
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_wasi_add_imports(w, im), CIS_OK);
  assert_int_equal(cis__host_add_imports(im, CIS__ABI_MOD_ALL), CIS_OK);
  char text[512];
  for (size_t i = 0; i < sizeof real / sizeof *real; i++) {
    for (int wide = 1; wide >= 0; wide--) {
      snprintf(text, sizeof text, "(module (import \"%s\" \"%s\" (func %s)) (memory%s 1))", real[i].mod,
               real[i].name, real[i].type, wide ? " i64" : "");
      cis_result rc = instantiate_with(e, text, im, msg, sizeof msg);
      if (rc != (wide ? CIS_EIMPORTTYPE : CIS_OK)) fail_msg("%s.%s, %d: %s: %s", real[i].mod, real[i].name, wide, cis_errname(rc), msg);
      if (wide) assert_non_null(strstr(msg, "memory 0 is 64-bit"));
    }
  }
  cis_imports_free(im);
  cis_wasi_free(w);
  cis_engine_free(e);
}

/* An embedder's 64-bit memory and table (cis_memory_new64,
 * cis_table_new64) link where a module imports one of 64 bits, and the
 * module's description says which address type it wants. */
static void embedder_memory64_and_table64(void **state) {
  (void)state;
  cis_engine *e = engine("interp");
  static const char text[] = "(module (import \"env\" \"m\" (memory i64 1 4)) (import \"env\" \"t\" (table i64 2 funcref))\n"
                             "  (memory $own 1) (export \"own\" (memory $own))\n"
                             "  (func (export \"f\") (result i64)\n"
                             "    (i64.store8 (i64.const 65535) (i64.const 7))\n"
                             "    (i64.add (i64.load8_u (i64.const 65535)) (table.size)))\n"
                             "  (func (export \"g\") (result i64) (memory.grow (i64.const 1))))";
  cis_module *mod = NULL;
  assert_int_equal(cis_module_new_text(e, text, sizeof text - 1, &mod), CIS_OK);
  cis_extern_desc d;
  assert_int_equal(cis_module_import(mod, 0, &d), CIS_OK);
  assert_true(d.addr64);
  assert_int_equal(d.max, 4);
  assert_int_equal(cis_module_import(mod, 1, &d), CIS_OK);
  assert_true(d.addr64);
  assert_int_equal(cis_module_export(mod, 0, &d), CIS_OK);
  assert_int_equal(d.kind, CIS_EXTERN_MEMORY);
  assert_false(d.addr64);
  cis_memory *m = NULL;
  cis_table *t = NULL;
  assert_int_equal(cis_memory_new64(e, 1, 4, true, &m), CIS_OK);
  assert_int_equal(cis_table_new64(e, CIS_FUNCREF, 3, 0, false, &t), CIS_OK);
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_memory(im, "env", 3, "m", 1, m), CIS_OK);
  assert_int_equal(cis_imports_add_table(im, "env", 3, "t", 1, t), CIS_OK);
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, im, NULL, &inst), CIS_OK);
  cis_val r;
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "f"), NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(r.of.i64, 7 + 3);
  assert_int_equal(cis_memory_data(m)[65535], 7); /* the embedder sees the store */
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "g"), NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(r.of.i64, 1);
  assert_int_equal(cis_memory_size(m), 2 * 65536);
  cis_instance_free(inst);
  cis_imports_free(im);
  cis_memory_free(m);
  cis_table_free(t);
  /* Limits: min above max, and past 2^48 pages, are refused; a 64-bit
   * memory past the engine's cap too. */
  assert_int_equal(cis_memory_new64(e, 2, 1, true, &m), CIS_EINVAL);
  assert_null(m);
  assert_int_equal(cis_memory_new64(e, 1, (1ull << 48) + 1, true, &m), CIS_EINVAL);
  assert_int_not_equal(cis_memory_new64(e, 1ull << 40, 0, false, &m), CIS_OK);
  assert_null(m);
  assert_int_equal(cis_table_new64(e, CIS_FUNCREF, 5, 4, true, &t), CIS_EINVAL);
  assert_null(t);
  assert_int_not_equal(cis_table_new64(e, CIS_FUNCREF, 1ull << 40, 0, false, &t), CIS_OK);
  assert_null(t);
  cis_module_free(mod);
  cis_engine_free(e);
}

/* An imported memory or table matches only one of its address type. */
static void imports_match_the_address_type(void **state) {
  (void)state;
  cis_engine *e = engine("interp");
  static const char *const texts[] = {"(module (import \"env\" \"m\" (memory i64 1)))",
                                      "(module (import \"env\" \"t\" (table i64 1 funcref)))"};
  cis_memory *m32 = NULL;
  cis_table *t32 = NULL;
  assert_int_equal(cis_memory_new(e, 1, 1, true, &m32), CIS_OK);
  assert_int_equal(cis_table_new(e, CIS_FUNCREF, 1, 1, true, &t32), CIS_OK);
  for (int i = 0; i < 2; i++) {
    cis_module *mod = NULL;
    assert_int_equal(cis_module_new_text(e, texts[i], strlen(texts[i]), &mod), CIS_OK);
    cis_imports *im = NULL;
    assert_int_equal(cis_imports_new(e, &im), CIS_OK);
    if (i == 0) assert_int_equal(cis_imports_add_memory(im, "env", 3, "m", 1, m32), CIS_OK);
    else assert_int_equal(cis_imports_add_table(im, "env", 3, "t", 1, t32), CIS_OK);
    cis_instance *inst = NULL;
    assert_int_equal(cis_instance_new(mod, im, NULL, &inst), CIS_EIMPORTTYPE);
    assert_non_null(strstr(cis_errmsg(e), "address type differs"));
    cis_imports_free(im);
    cis_module_free(mod);
  }
  /* And a 64-bit memory exported by one instance links into another. */
  cis_module *a = NULL, *b = NULL;
  static const char exp[] = "(module (memory (export \"m\") i64 1 2) (data (i64.const 3) \"\\05\"))";
  static const char imp[] = "(module (import \"x\" \"m\" (memory i64 1 2))\n"
                            "  (func (export \"f\") (result i64) (i64.load8_u (i64.const 3))))";
  assert_int_equal(cis_module_new_text(e, exp, sizeof exp - 1, &a), CIS_OK);
  assert_int_equal(cis_module_new_text(e, imp, sizeof imp - 1, &b), CIS_OK);
  cis_instance *ia = NULL, *ib = NULL;
  assert_int_equal(cis_instance_new(a, NULL, NULL, &ia), CIS_OK);
  cis_extern x;
  assert_int_equal(cis_instance_export(ia, "m", 1, &x), CIS_OK);
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_memory(im, "x", 1, "m", 1, x.of.memory), CIS_OK);
  assert_int_equal(cis_instance_new(b, im, NULL, &ib), CIS_OK);
  cis_val r;
  assert_int_equal(cis_func_call(ib, cis_instance_func(ib, "f"), NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(r.of.i64, 5);
  cis_instance_free(ib);
  cis_instance_free(ia);
  cis_imports_free(im);
  cis_module_free(a);
  cis_module_free(b);
  cis_memory_free(m32);
  cis_table_free(t32);
  cis_engine_free(e);
}

/* A binary module: header, then the given sections. */
static cis_result load_bytes(int standard, const uint8_t *sec, size_t n, char *msg, size_t cap) {
  uint8_t buf[128] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  assert_true(n + 8 <= sizeof buf);
  memcpy(buf + 8, sec, n);
  cis_engine *e = engine_std("interp", standard);
  cis_module *mod = NULL;
  cis_result rc = cis_module_new(e, buf, n + 8, &mod);
  snprintf(msg, cap, "%s", cis_errmsg(e));
  cis_module_free(mod);
  cis_engine_free(e);
  return rc;
}

#define EXPECT(std, code, text, ...)                                                    \
  do {                                                                                  \
    static const uint8_t s_[] = {__VA_ARGS__};                                          \
    char m_[512];                                                                       \
    cis_result rc_ = load_bytes(std, s_, sizeof s_, m_, sizeof m_);                     \
    if (rc_ != (code) || !strstr(m_, text))                                             \
      fail_msg("line %d: got %s \"%s\", want %s \"%s\"", __LINE__, cis_errname(rc_), m_, \
               cis_errname(code), text);                                                \
  } while (0)

/* Hostile binaries: limits flags, bounds past what the address type
 * holds, offsets past 32 bits on a 32-bit memory, overlong LEB128s. */
static void hostile_binaries(void **state) {
  (void)state;
  /* Memory section with one memory: flags, min[, max]. */
  EXPECT(3, CIS_OK, "", 0x05, 0x03, 0x01, 0x04, 0x01);                        /* i64 1 */
  EXPECT(3, CIS_OK, "", 0x05, 0x04, 0x01, 0x05, 0x01, 0x02);                  /* i64 1 2 */
  EXPECT(3, CIS_EMALFORMED, "malformed limits flags", 0x05, 0x03, 0x01, 0x02, 0x01); /* shared */
  EXPECT(3, CIS_EMALFORMED, "malformed limits flags", 0x05, 0x03, 0x01, 0x06, 0x01);
  EXPECT(3, CIS_EMALFORMED, "malformed limits flags", 0x05, 0x03, 0x01, 0x08, 0x01);
  EXPECT(3, CIS_EMALFORMED, "malformed limits flags", 0x05, 0x04, 0x01, 0x84, 0x00, 0x01); /* as a LEB128 */
  /* 2.0 knows no address type: flag 4 is a one-bit LEB128 too large. */
  EXPECT(2, CIS_ELEB, "integer too large", 0x05, 0x03, 0x01, 0x04, 0x01);
  /* 2^48 pages is a 64-bit memory's most; 2^48 + 1 is invalid. */
  EXPECT(3, CIS_OK, "", 0x05, 0x0a, 0x01, 0x05, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40);
  EXPECT(3, CIS_EINVALID, "memory size", 0x05, 0x09, 0x01, 0x04, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40);
  /* A 32-bit memory of 65537 pages is invalid though its u64 holds it. */
  EXPECT(3, CIS_EINVALID, "memory size", 0x05, 0x05, 0x01, 0x00, 0x81, 0x80, 0x04);
  /* The bounds are u64s: an 11-byte LEB128 is too long, bits past 64 too large. */
  EXPECT(3, CIS_ELEB, "integer representation too long", 0x05, 0x0d, 0x01, 0x04, 0x80, 0x80, 0x80, 0x80, 0x80,
         0x80, 0x80, 0x80, 0x80, 0x80, 0x00);
  EXPECT(3, CIS_ELEB, "integer too large", 0x05, 0x0c, 0x01, 0x04, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0x7f);
  /* A min past the instance's cap is a limit, not a crash: a 64-bit
   * memory of 2^40 pages. */
  {
    static const uint8_t big[] = {0x05, 0x08, 0x01, 0x04, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20};
    char m[512];
    uint8_t buf[64] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
    memcpy(buf + 8, big, sizeof big);
    cis_engine *e = engine("interp");
    cis_module *mod = NULL;
    assert_int_equal(cis_module_new(e, buf, 8 + sizeof big, &mod), CIS_OK);
    cis_instance *inst = NULL;
    assert_int_equal(cis_instance_new(mod, NULL, NULL, &inst), CIS_EMEMLIMIT);
    snprintf(m, sizeof m, "%s", cis_errmsg(e));
    assert_non_null(strstr(m, "1099511627776 pages"));
    cis_module_free(mod);
    cis_engine_free(e);
  }
  /* Tables: type, then flags 4 (i64), min; 2^64 - 1 elements validate. */
  EXPECT(3, CIS_OK, "", 0x04, 0x0e, 0x01, 0x70, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0x01);
  EXPECT(3, CIS_EINVALID, "table size", 0x04, 0x09, 0x01, 0x70, 0x01, 0x00, 0x80, 0x80, 0x80, 0x80, 0x10);
  EXPECT(3, CIS_EMALFORMED, "malformed limits flags", 0x04, 0x04, 0x01, 0x70, 0x03, 0x00);
}

/* Function bodies: a 32-bit memory's offset past 2^32 - 1 is invalid, a
 * 64-bit one's up to 2^64 - 1 valid; addresses of the wrong type too. */
static void hostile_bodies(void **state) {
  (void)state;
  cis_engine *e = engine("interp");
  static const struct {
    const char *text;
    cis_result code;
    const char *msg;
  } cases[] = {
      {"(module (memory 1) (func (drop (i32.load offset=0x100000000 (i32.const 0)))))", CIS_EINVALID,
       "offset out of range"},
      {"(module (memory i64 1) (func (drop (i32.load offset=0xffffffffffffffff (i64.const 0)))))", CIS_OK, ""},
      {"(module (memory i64 1) (func (drop (i32.load (i32.const 0)))))", CIS_ETYPE, "type mismatch"},
      {"(module (memory 1) (func (drop (i32.load (i64.const 0)))))", CIS_ETYPE, "type mismatch"},
      {"(module (memory i64 1) (func (drop (memory.grow (i32.const 0)))))", CIS_ETYPE, "type mismatch"},
      {"(module (memory i64 1) (func (result i32) (memory.size)))", CIS_ETYPE, "type mismatch"},
      {"(module (memory i64 1) (memory 1) (func (memory.copy 0 1 (i64.const 0) (i32.const 0) (i64.const 0))))",
       CIS_ETYPE, "type mismatch"},
      {"(module (memory i64 1) (data (i32.const 0) \"\"))", CIS_ETYPE, "type mismatch"},
      {"(module (table i64 1 funcref) (elem (i32.const 0) func))", CIS_ETYPE, "type mismatch"},
      {"(module (type (func)) (table i64 1 funcref) (func (call_indirect (type 0) (i32.const 0))))", CIS_ETYPE,
       "type mismatch"},
      {"(module (table i64 1 funcref) (func (result i32) (table.size 0)))", CIS_ETYPE, "type mismatch"},
      /* The text compiler: an offset past 2^64 - 1, a limit past 2^48 pages. */
      {"(module (memory i64 1) (func (drop (i32.load offset=18446744073709551616 (i64.const 0)))))", CIS_EMALFORMED,
       ""},
      {"(module (memory i64 0x1_0000_0000_0001))", CIS_EINVALID, "memory size"},
      {"(module (memory i64 (data \"\\01\")) (func (result i64) (i64.load8_u (i64.const 0))))", CIS_OK, ""},
      {"(module (table i64 funcref (elem 0)) (func))", CIS_OK, ""},
      {"(module (memory i128 1))", CIS_EMALFORMED, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cis_module *mod = NULL;
    cis_result rc = cis_module_new_text(e, cases[i].text, strlen(cases[i].text), &mod);
    if (rc != cases[i].code || !strstr(cis_errmsg(e), cases[i].msg))
      fail_msg("%s: got %s \"%s\"", cases[i].text, cis_errname(rc), cis_errmsg(e));
    cis_module_free(mod);
  }
  cis_engine_free(e);
  /* Held to 2.0, the address type is no text. */
  e = engine_std("interp", 2);
  cis_module *mod = NULL;
  static const char m64[] = "(module (memory i64 1))";
  assert_int_equal(cis_module_new_text(e, m64, sizeof m64 - 1, &mod), CIS_EMALFORMED);
  assert_null(mod);
  cis_engine_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bounds_interp),
      cmocka_unit_test(bounds_aot),
      cmocka_unit_test(grow_past_the_cap_interp),
      cmocka_unit_test(grow_past_the_cap_aot),
      cmocka_unit_test(past_4_gib_interp),
      cmocka_unit_test(past_4_gib_aot),
      cmocka_unit_test(past_4_gib_uncapped_interp),
      cmocka_unit_test(past_4_gib_uncapped_aot),
      cmocka_unit_test(uncapped_under_rlimit_as),
      cmocka_unit_test(bulk_interp),
      cmocka_unit_test(bulk_aot),
      cmocka_unit_test(table64_interp),
      cmocka_unit_test(table64_aot),
      cmocka_unit_test(wasm32_interfaces_need_a_32_bit_memory_0),
      cmocka_unit_test(imports_match_the_address_type),
      cmocka_unit_test(embedder_memory64_and_table64),
      cmocka_unit_test(hostile_binaries),
      cmocka_unit_test(hostile_bodies),
  };
  return cmocka_run_group_tests_name("runtime_mem64", tests, rt_home_setup, rt_home_teardown);
}
