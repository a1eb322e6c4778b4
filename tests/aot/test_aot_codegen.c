/*
 * This file implements the tests of the compiled engine's check groups
 * (src/aot/codegen.c, grp_add): the loads and stores of a basic block at
 * one local plus constants are written twice, unchecked behind one check
 * of their whole extent, and each with its own check when that fails.
 * Each test runs the same module on the interpreter and compiled (an
 * entry in the cache, never the interpreter), and checks that results,
 * traps, memory and globals agree after every call, at the edges of the
 * memory and with addresses that wrap around 2^32; and that the
 * generated C has the one check where it should, none in the unchecked
 * copy, and no group across a branch, a call or a memory.grow.
 * Each test gets a fresh $CIS_HOME, so each starts with an empty cache.
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

static cis_instance *instantiate(cis_engine *e, cis_module *m) {
  cis_instance *inst = NULL;
  cis_result rc = cis_instance_new(m, NULL, NULL, &inst);
  if (rc != CIS_OK) fail_msg("instantiate: %s: %s", cis_errname(rc), cis_errmsg(e));
  return inst;
}

/* The C of function fi (its first body), up to the next function. */
static char *function_c(const char *c, unsigned fi) {
  char head[32];
  const char *p = NULL;
  /* The definition, not the prototype: the one followed by a body; a
   * function that uses v128 has two, of which the base one (_v1). */
  for (int k = 0; k < 2 && !p; k++) {
    snprintf(head, sizeof head, k ? " w%u(cis_aot_ctx *c" : " w%u_v1(cis_aot_ctx *c", fi);
    for (p = c; (p = strstr(p, head)); p += strlen(head)) {
      const char *eol = strchr(p, '\n');
      if (eol && eol[-1] == '{') break;
    }
  }
  assert_non_null(p);
  /* Its end: the one brace of a line followed by a blank line (blocks
   * inside a body end in a brace of their own line too). */
  const char *q = strstr(p, "\n}\n\n");
  assert_non_null(q);
  return strndup(p, (size_t)(q - p));
}

static cis_val i32v(uint32_t x) {
  cis_val v;
  memset(&v, 0, sizeof v);
  v.type = CIS_I32;
  v.of.i32 = (int32_t)x;
  return v;
}

/* One module on both engines, side by side. */
typedef struct pair {
  cis_engine *e[2];
  cis_module *m[2];
  cis_instance *inst[2];
} pair;

static void pair_new(pair *p, const char *text) {
  const char *names[2] = {"interp", "aot"};
  for (int k = 0; k < 2; k++) {
    p->e[k] = engine(names[k]);
    int before = cache_entries();
    p->m[k] = module(p->e[k], text);
    if (k == 1) assert_int_equal(cache_entries(), before + 1);
    p->inst[k] = instantiate(p->e[k], p->m[k]);
  }
}

static void pair_free(pair *p) {
  for (int k = 0; k < 2; k++) {
    cis_instance_free(p->inst[k]);
    cis_module_free(p->m[k]);
    cis_engine_free(p->e[k]);
  }
}

/* Calls name(args) on both; the codes and (when it returned) the i32
 * results must agree. Returns the code. */
static cis_result both(pair *p, const char *name, const cis_val *args, size_t nargs,
                       size_t nres) {
  cis_val r[2][4];
  cis_result rc[2];
  for (int k = 0; k < 2; k++) {
    cis_func *f = cis_instance_func(p->inst[k], name);
    assert_non_null(f);
    rc[k] = cis_func_call(p->inst[k], f, args, nargs, r[k], nres);
  }
  if (rc[0] != rc[1])
    fail_msg("%s(0x%x): interp %s, aot %s", name, nargs ? (unsigned)args[0].of.i32 : 0,
             cis_errname(rc[0]), cis_errname(rc[1]));
  if (rc[0] == CIS_OK)
    for (size_t i = 0; i < nres; i++) assert_int_equal(r[0][i].of.i32, r[1][i].of.i32);
  return rc[0];
}

/* The i32 at addr on both engines (through the module's peek), equal. */
static uint32_t peek(pair *p, uint32_t addr) {
  cis_val a = i32v(addr);
  assert_int_equal(both(p, "peek", &a, 1, 1), CIS_OK);
  cis_val r;
  cis_func *f = cis_instance_func(p->inst[1], "peek");
  assert_int_equal(cis_func_call(p->inst[1], f, &a, 1, &r, 1), CIS_OK);
  return (uint32_t)r.of.i32;
}

/* One page (65536 bytes). Functions 0-15; their addresses are local 0
 * plus constants unless said otherwise. */
static const char GROUPS[] =
    "(module (memory 1)\n"
    "  (global $g (mut i32) (i32.const 0))\n"
    "  (data (i32.const 0) \"\\01\\02\\03\\04\\05\\06\\07\\08\\09\\0a\\0b\\0c\\0d\\0e\\0f\\10\")\n"
    /* 0: four loads, one group. */
    "  (func (export \"sum\") (param i32) (result i32)\n"
    "    (i32.add (i32.add (i32.load (local.get 0)) (i32.load offset=4 (local.get 0)))\n"
    "             (i32.add (i32.load (i32.add (local.get 0) (i32.const 8)))\n"
    "                      (i32.load8_u offset=15 (local.get 0)))))\n"
    /* 1: two loads and a store after them, one group. */
    "  (func (export \"copy\") (param i32)\n"
    "    (i32.store offset=8 (local.get 0)\n"
    "      (i32.add (i32.load (local.get 0)) (i32.load offset=4 (local.get 0)))))\n"
    /* 2: a store, then a load: one group (the store is done when the
     * load traps). */
    "  (func (export \"store_then_load\") (param i32) (result i32)\n"
    "    (i32.store (local.get 0) (i32.const 0x11223344))\n"
    "    (i32.load offset=16 (local.get 0)))\n"
    /* 3: global.set between two loads: one group. */
    "  (func (export \"global_between\") (param i32) (result i32)\n"
    "    (drop (i32.load (local.get 0)))\n"
    "    (global.set $g (i32.const 7))\n"
    "    (i32.load offset=16 (local.get 0)))\n"
    /* 4: a division that may trap between two loads: one group. */
    "  (func (export \"div_between\") (param i32 i32) (result i32)\n"
    "    (i32.add (i32.add (i32.load (local.get 0)) (i32.div_u (i32.const 1) (local.get 1)))\n"
    "             (i32.load offset=16 (local.get 0))))\n"
    /* 5: constants that wrap around 2^32 with the local. */
    "  (func (export \"wrap\") (param i32) (result i32)\n"
    "    (i32.add (i32.load (i32.add (local.get 0) (i32.const 16)))\n"
    "             (i32.load (i32.add (local.get 0) (i32.const -16)))))\n"
    /* 6: the local changes between the loads: two groups. */
    "  (func (export \"local_changes\") (param i32) (result i32)\n"
    "    (local i32)\n"
    "    (local.set 1 (i32.load (local.get 0)))\n"
    "    (local.set 0 (i32.add (local.get 0) (i32.const 65536)))\n"
    "    (i32.add (local.get 1) (i32.load (local.get 0))))\n"
    /* 7: v128 loads and a v128 store, one group. */
    "  (func (export \"vcopy\") (param i32)\n"
    "    (v128.store offset=32 (local.get 0)\n"
    "      (i32x4.add (v128.load (local.get 0)) (v128.load offset=16 (local.get 0)))))\n"
    /* 8: two loads, then a store below them, one group: when a load
     * traps, the store (in bounds) is not done. */
    "  (func (export \"copy_down\") (param i32)\n"
    "    (i32.store (local.get 0)\n"
    "      (i32.add (i32.load offset=8 (local.get 0)) (i32.load offset=12 (local.get 0)))))\n"
    /* 9: stores and loads mixed, one group: each store before the
     * trapping access is done, none after. */
    "  (func (export \"two_stores\") (param i32) (result i32)\n"
    "    (i32.store (local.get 0) (i32.const 0x55667788))\n"
    "    (i32.store offset=8 (local.get 0)\n"
    "      (i32.add (i32.load offset=4 (local.get 0)) (i32.const 1)))\n"
    "    (i32.load offset=16 (local.get 0)))\n"
    /* 10: memory.grow between two loads: two groups. */
    "  (func (export \"grow_between\") (param i32) (result i32)\n"
    "    (drop (i32.load (local.get 0)))\n"
    "    (drop (memory.grow (i32.const 0)))\n"
    "    (i32.load offset=4 (local.get 0)))\n"
    /* 11: a branch between two loads: two groups. */
    "  (func (export \"branch_between\") (param i32) (result i32)\n"
    "    (drop (i32.load (local.get 0)))\n"
    "    (block (br_if 0 (local.get 0)))\n"
    "    (i32.load offset=4 (local.get 0)))\n"
    /* 12: the local set between accesses: the store at its value before
     * joins the group of the loads there; the load at its new value is
     * another group. */
    "  (func (export \"set_between\") (param i32) (result i32)\n"
    "    local.get 0\n"
    "    (local.set 0 (i32.add (i32.load (local.get 0)) (i32.load offset=4 (local.get 0))))\n"
    "    local.get 0\n"
    "    i32.store offset=8\n"
    "    (i32.load offset=12 (local.get 0)))\n"
    /* 13: an address through local.tee is the local's new value: one
     * group with the accesses at the local after it. */
    "  (func (export \"tee_addr\") (param i32) (result i32)\n"
    "    (i32.store offset=4 (local.tee 0 (i32.add (local.get 0) (i32.const 8)))\n"
    "      (i32.load (local.get 0)))\n"
    "    (i32.load offset=8 (local.get 0)))\n"
    "  (func (export \"peek\") (param i32) (result i32) (i32.load (local.get 0)))\n"
    "  (func (export \"getg\") (result i32) (global.get $g)))\n";

static void aot_check_group_covers_accesses_at_one_local(void **state) {
  (void)state;
  cis_engine *e = engine("interp");
  char *c = generated_c(e, GROUPS);
  /* groups: checks of a group's extent; own: the members' own checks
   * (in a group's checked copy, or of a member alone). */
  struct {
    unsigned fi, groups, own;
  } want[] = {
      {0, 1, 4},  /* sum: one check for four loads */
      {1, 1, 3},  /* copy: two loads and the store */
      {2, 1, 2},  /* store_then_load */
      {3, 1, 2},  /* global_between */
      {4, 1, 2},  /* div_between */
      {5, 1, 2},  /* wrap */
      {6, 0, 2},  /* local_changes: each alone */
      {7, 1, 3},  /* vcopy */
      {8, 1, 3},  /* copy_down */
      {9, 1, 4},  /* two_stores */
      {10, 0, 2}, /* grow_between: each alone */
      {11, 0, 2}, /* branch_between: each alone */
      {12, 1, 4}, /* set_between: two loads and the store, then a load alone */
      {13, 1, 3}, /* tee_addr */
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    char *f = function_c(c, want[i].fi);
    /* The group's check: against the size less the extent, or in a
     * function that uses v128 (7) the address plus the extent. */
    const char *check = want[i].fi == 7 ? "ull <= MS)) {" : "<= (int64_t)MS - ";
    assert_int_equal(count_of(f, check), want[i].groups);
    assert_int_equal(count_of(f, "(void)aot_ea(c"), want[i].own);
    /* No access checked by its helper: each is a member. */
    assert_int_equal(count_of(f, "M, MS,"), 0);
    /* The unchecked copy has no check. */
    if (want[i].groups) {
      char *fast = strstr(f, check), *slow = strstr(f, "} else {");
      assert_true(fast && slow && fast < slow);
      *slow = 0;
      assert_null(strstr(fast, "aot_ea("));
      if (want[i].fi == 12) assert_non_null(strstr(fast, "st32u("));
    }
    free(f);
  }
  free(c);
  cis_engine_free(e);
}

static void aot_check_group_results_and_traps_match_interpreter(void **state) {
  (void)state;
  pair p;
  pair_new(&p, GROUPS);
  /* sum: from the start, near the end, across it, and far past it. */
  uint32_t at[] = {0, 1, 65536 - 16, 65536 - 15, 65536 - 8, 65536, 0x7fffffff, 0xfffffff0u,
                   0xffffffffu};
  for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
    cis_val a = i32v(at[i]);
    cis_result rc = both(&p, "sum", &a, 1, 1);
    assert_int_equal(rc, at[i] <= 65536 - 16 ? CIS_OK : CIS_TRAP_MEM_OOB);
  }
  /* wrap: local + 16 and local - 16, in and out of bounds, wrapping. */
  uint32_t wat[] = {16, 15, 0, 0xfffffff0u, 0xfffffff8u, 65536 - 20, 65536 - 19, 65536 + 12,
                    65536 + 13};
  for (size_t i = 0; i < sizeof wat / sizeof wat[0]; i++) {
    cis_val a = i32v(wat[i]);
    both(&p, "wrap", &a, 1, 1);
  }
  cis_val a = i32v(16);
  assert_int_equal(both(&p, "wrap", &a, 1, 1), CIS_OK);
  a = i32v(0xfffffff0u); /* local + 16 wraps to 0, local - 16 is past the end */
  assert_int_equal(both(&p, "wrap", &a, 1, 1), CIS_TRAP_MEM_OOB);
  a = i32v(65536 + 12); /* local - 16 is the last word, local + 16 past the end */
  assert_int_equal(both(&p, "wrap", &a, 1, 1), CIS_TRAP_MEM_OOB);
  /* set_between: in bounds (zeros: the last load at 12); the store past
   * the end; a load past the end. */
  uint32_t sbat[] = {65536 - 12, 65536 - 8, 65536 - 4, 0xfffffffcu};
  for (size_t i = 0; i < sizeof sbat / sizeof sbat[0]; i++) {
    a = i32v(sbat[i]);
    assert_int_equal(both(&p, "set_between", &a, 1, 1), i ? CIS_TRAP_MEM_OOB : CIS_OK);
  }
  /* The loads' sum past the end: the store at the local's first value is
   * done, the load at the second traps. */
  a = i32v(0x200);
  assert_int_equal(both(&p, "store_then_load", &a, 1, 1), CIS_OK);
  assert_int_equal(both(&p, "set_between", &a, 1, 1), CIS_TRAP_MEM_OOB);
  assert_int_equal(peek(&p, 0x208), 0x11223344u);
  /* tee_addr: in bounds; its last load past the end (the store done);
   * its store past the end; the local wrapping to 0 (in bounds); the
   * local wrapping to the last word. */
  uint32_t tat[] = {65536 - 20, 65536 - 16, 65536 - 12, 0xfffffff8u, 0xfffffff4u};
  cis_result twant[] = {CIS_OK, CIS_TRAP_MEM_OOB, CIS_TRAP_MEM_OOB, CIS_OK, CIS_TRAP_MEM_OOB};
  for (size_t i = 0; i < sizeof tat / sizeof tat[0]; i++) {
    a = i32v(tat[i]);
    assert_int_equal(both(&p, "tee_addr", &a, 1, 1), twant[i]);
    for (uint32_t w = 0; w < 12; w += 4) peek(&p, w);
    for (uint32_t w = 65536 - 12; w < 65536; w += 4) peek(&p, w);
  }
  /* local_changes: the first load in bounds, the second at local + 65536. */
  a = i32v(0);
  assert_int_equal(both(&p, "local_changes", &a, 1, 1), CIS_TRAP_MEM_OOB);
  pair_free(&p);
}

static void aot_check_group_trap_leaves_memory_as_interpreter(void **state) {
  (void)state;
  pair p;
  pair_new(&p, GROUPS);
  /* copy: in bounds, it writes; when only its store is out of bounds, it
   * writes nothing; past the end, nothing. */
  cis_val a = i32v(0);
  assert_int_equal(both(&p, "copy", &a, 1, 0), CIS_OK);
  assert_int_equal(peek(&p, 8), 0x04030201u + 0x08070605u);
  a = i32v(65536 - 12);
  assert_int_equal(both(&p, "copy", &a, 1, 0), CIS_OK);
  assert_int_equal(peek(&p, 65536 - 4), 0);
  a = i32v(65536 - 8);
  assert_int_equal(both(&p, "copy", &a, 1, 0), CIS_TRAP_MEM_OOB);
  assert_int_equal(peek(&p, 65536 - 4), 0);
  /* store_then_load: the store is done when the load traps. */
  a = i32v(65536 - 16);
  assert_int_equal(both(&p, "store_then_load", &a, 1, 1), CIS_TRAP_MEM_OOB);
  assert_int_equal(peek(&p, 65536 - 16), 0x11223344u);
  /* copy_down: 0 and 0x11223344 (at 65536 - 16) added, stored 8 bytes
   * below; with a load past the end, its store (in bounds) is not done. */
  a = i32v(65536 - 28);
  assert_int_equal(both(&p, "copy_down", &a, 1, 0), CIS_OK);
  assert_int_equal(peek(&p, 65536 - 28), 0x11223344u);
  a = i32v(65536 - 14);
  assert_int_equal(both(&p, "copy_down", &a, 1, 0), CIS_TRAP_MEM_OOB);
  assert_int_equal(peek(&p, 65536 - 14), 0x1122u);
  /* global_between: the global is set when the second load traps. */
  a = i32v(65536 - 16);
  assert_int_equal(both(&p, "global_between", &a, 1, 1), CIS_TRAP_MEM_OOB);
  assert_int_equal(both(&p, "getg", NULL, 0, 1), CIS_OK);
  cis_func *f = cis_instance_func(p.inst[1], "getg");
  cis_val r;
  assert_int_equal(cis_func_call(p.inst[1], f, NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 7);
  /* div_between: the division's trap comes first, as in the
   * interpreter, though the second load is out of bounds. */
  cis_val ab[2] = {i32v(65536 - 16), i32v(0)};
  assert_int_equal(both(&p, "div_between", ab, 2, 1), CIS_TRAP_DIV_ZERO);
  ab[1] = i32v(1);
  assert_int_equal(both(&p, "div_between", ab, 2, 1), CIS_TRAP_MEM_OOB);
  ab[0] = i32v(0);
  assert_int_equal(both(&p, "div_between", ab, 2, 1), CIS_OK);
  /* vcopy: in bounds, then with only the store past the end. */
  a = i32v(0);
  assert_int_equal(both(&p, "vcopy", &a, 1, 0), CIS_OK);
  assert_int_equal(peek(&p, 32), peek(&p, 0) + peek(&p, 16));
  a = i32v(65536 - 40);
  assert_int_equal(both(&p, "vcopy", &a, 1, 0), CIS_TRAP_MEM_OOB);
  assert_int_equal(peek(&p, 65536 - 8), 0);
  /* two_stores: in bounds; the last load past the end (both stores
   * done); the second store past the end (the first done); the load
   * between them past the end; the first store past the end, and
   * wrapping (nothing done). */
  uint32_t sat[] = {65536 - 20, 65536 - 16, 65536 - 8, 65536 - 4, 65536 - 2, 0xfffffffcu};
  cis_result swant[] = {CIS_OK, CIS_TRAP_MEM_OOB, CIS_TRAP_MEM_OOB, CIS_TRAP_MEM_OOB,
                        CIS_TRAP_MEM_OOB, CIS_TRAP_MEM_OOB};
  for (size_t i = 0; i < sizeof sat / sizeof sat[0]; i++) {
    a = i32v(sat[i]);
    assert_int_equal(both(&p, "two_stores", &a, 1, 1), swant[i]);
    for (uint32_t w = 65536 - 24; w < 65536; w += 4) peek(&p, w);
  }
  assert_int_equal(peek(&p, 65536 - 16), 0x55667788u); /* 65536 - 16's first store */
  assert_int_equal(peek(&p, 65536 - 8), 0x55667788u);  /* 65536 - 8's first store */
  assert_int_equal(peek(&p, 65536 - 4), 0x55667788u);  /* 65536 - 4's */
  /* grow_between, branch_between: both loads, in bounds and not. */
  const char *split[] = {"grow_between", "branch_between"};
  uint32_t gat[] = {0, 65536 - 8, 65536 - 6, 65536 - 4, 65536, 0xfffffffeu};
  for (size_t k = 0; k < 2; k++)
    for (size_t i = 0; i < sizeof gat / sizeof gat[0]; i++) {
      a = i32v(gat[i]);
      assert_int_equal(both(&p, split[k], &a, 1, 1),
                       gat[i] <= 65536 - 8 ? CIS_OK : CIS_TRAP_MEM_OOB);
    }
  pair_free(&p);
}

/* A function past BIG_FUNCTION_LOCALS locals (codegen.c) is compiled at
 * -O1, where gcc's time grows less with its size; a small one keeps
 * -O2; both still run right, compiled. */
static void big_function_is_compiled_at_o1(void **state) {
  (void)state;
  enum { NLOCALS = 5000 };
  size_t cap = NLOCALS * 5 + 512;
  char *text = malloc(cap);
  assert_non_null(text);
  int n = snprintf(text, cap, "(module (func (export \"big\") (result i32) (local");
  for (int i = 0; i < NLOCALS; i++) n += snprintf(text + n, cap - (size_t)n, " i32");
  snprintf(text + n, cap - (size_t)n,
           ")\n (local.set 4999 (i32.const 41)) (i32.add (local.get 4999) (i32.const 1)))\n"
           " (func (export \"small\") (result i32) (i32.const 7)))");
  cis_engine *e = engine("interp");
  char *c = generated_c(e, text);
  cis_engine_free(e);
  assert_non_null(strstr(c, "__attribute__((optimize(\"O1\"))) uint32_t w0(cis_aot_ctx *c"));
  assert_int_equal(count_of(c, "optimize(\"O1\")"), 1);
  free(c);
  e = engine("aot");
  cis_module *m = module(e, text);
  cis_instance *inst = instantiate(e, m);
  cis_val r;
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "big"), NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 42);
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "small"), NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 7);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
  free(text);
}

/* A function that calls no compiled code and has few locals skips the
 * native stack check (AOT_ENTER_LEAF); one that calls, or has a large
 * frame, keeps it. A direct call writes no state back to memory
 * (AOT_DIRECT_OUT: nothing with AOT_REGS); a call out of compiled code
 * does (AOT_SYNC_OUT). */
static void aot_leaf_functions_skip_the_stack_check(void **state) {
  (void)state;
  char text[2048];
  int n = snprintf(text, sizeof text,
                   "(module (import \"h\" \"f\" (func $f (param i32) (result i32)))\n"
                   " (func $leaf (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))\n"
                   " (func $out (param i32) (result i32) (call $f (local.get 0)))\n"
                   " (func $rec (param i32) (result i32) (call $rec (call $leaf (local.get 0))))\n"
                   " (func $big (result i32) (local");
  for (int i = 0; i < 80; i++) n += snprintf(text + n, sizeof text - (size_t)n, " i32");
  snprintf(text + n, sizeof text - (size_t)n, ") (local.get 79)))");
  cis_engine *e = engine("interp");
  char *c = generated_c(e, text);
  cis_engine_free(e);
  /* $leaf and $big call nothing, so their entries do not tick either
   * (aot_entry_ticks_only_where_a_loop_does_not). */
  static const struct { unsigned fi; const char *entry; } want[] = {
      {1, "AOT_ENTER_LEAF_UNTICKED(c, 1);"}, {2, "AOT_ENTER_LEAF(c, 2);"},
      {3, "AOT_ENTER(c, 3);"}, {4, "AOT_ENTER_UNTICKED(c, 4);"}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    char *f = function_c(c, want[i].fi);
    if (!strstr(f, want[i].entry)) fail_msg("w%u: no %s in\n%s", want[i].fi, want[i].entry, f);
    free(f);
  }
  char *f = function_c(c, 2);
  assert_non_null(strstr(f, "AOT_SYNC_OUT(c);\nc->api->call(c, 0, a_);"));
  free(f);
  f = function_c(c, 3);
  assert_null(strstr(f, "AOT_SYNC_OUT"));
  assert_int_equal(count_of(f, "AOT_DIRECT_OUT(c);"), 2);
  free(f);
  free(c);
}

/* A function's entry ticks unless every call it makes lies inside one of
 * its loops and it runs at most 64 instructions outside them (codegen.c,
 * scan_body): a call before, after or beside a loop ticks, as do a tail
 * call and a call through a table outside one; a loop with a call, a
 * leaf, and a call in a loop nested in a block do not. 64 instructions
 * outside the loops do not tick, 65 do. */
static void aot_entry_ticks_only_where_a_loop_does_not(void **state) {
  (void)state;
  char *text = NULL;
  size_t cap = 0;
  FILE *t = open_memstream(&text, &cap);
  assert_non_null(t);
  fputs("(module (type $v (func)) (table 1 funcref)\n"
        " (func $leaf)\n"                                                          /* 0 */
        " (func (call $leaf) (loop))\n"                                            /* 1 */
        " (func (loop) (call $leaf))\n"                                            /* 2 */
        " (func (loop (call $leaf)))\n"                                            /* 3 */
        " (func (block (loop (block (call $leaf)))))\n"                            /* 4 */
        " (func (loop (block (call $leaf))) (call $leaf))\n"                       /* 5 */
        " (func (return_call $leaf))\n"                                            /* 6 */
        " (func (call_indirect (type $v) (i32.const 0)))\n"                        /* 7 */
        " (func (loop (call_indirect (type $v) (i32.const 0))))\n"                 /* 8 */
        " (func (loop (loop (call $leaf))) (if (i32.const 1) (then (call $leaf))))\n", /* 9 */
        t);
  for (int k = 0; k < 2; k++) { /* 10: 64 instructions outside, 11: 65 */
    fputs(" (func (loop (call $leaf))", t);
    /* the loop and the function's end: 2 of the 64 */
    for (int i = 0; i < 31; i++) fputs(" (drop (i32.const 0))", t);
    if (k) fputs(" nop", t);
    fputs(")\n", t);
  }
  fputs(")", t);
  fclose(t);
  cis_engine *e = engine("interp");
  char *c = generated_c(e, text);
  cis_engine_free(e);
  free(text);
  static const bool ticks[] = {false, true, true, false, false, true,
                               true,  true, false, true, false, true};
  for (unsigned fi = 0; fi < sizeof ticks / sizeof ticks[0]; fi++) {
    char *f = function_c(c, fi);
    char untick[64];
    snprintf(untick, sizeof untick, "_UNTICKED(c, %u);", fi);
    if ((strstr(f, untick) == NULL) != ticks[fi])
      fail_msg("w%u: the entry should %stick:\n%s", fi, ticks[fi] ? "" : "not ", f);
    free(f);
  }
  free(c);
}

/* A check group compares its local's value with the size less its
 * extent, but in functions that use v128: its value plus the extent.
 * Single accesses (aot_ea) compare the address plus the width in both
 * (bounds_at_the_edges_as_interpreter, test_aot_diff, runs both forms
 * at the edges). */
static void aot_group_check_form_per_function(void **state) {
  (void)state;
  cis_engine *e = engine("interp");
  char *c = generated_c(e, "(module (memory 1)\n"
                           " (func (param i32) (result i32)\n"
                           "  (i32.add (i32.load (local.get 0)) (i32.load offset=4 (local.get 0))))\n"
                           " (func (param i32) (result v128)\n"
                           "  (v128.xor (v128.load (local.get 0)) (v128.load offset=16 (local.get 0)))))");
  cis_engine_free(e);
  char *f = function_c(c, 0);
  assert_int_equal(count_of(f, "if (AOT_LIKELY((int64_t)(uint32_t)(L0 + 0x0u) <= (int64_t)MS - 8)) {"), 1);
  assert_int_equal(count_of(f, "ull <= MS"), 0);
  free(f);
  f = function_c(c, 1);
  assert_int_equal(count_of(f, "if (AOT_LIKELY((uint64_t)(uint32_t)(L0 + 0x0u) + 32ull <= MS)) {"), 1);
  assert_int_equal(count_of(f, "(int64_t)MS"), 0);
  free(f);
  free(c);
}

/* The struct definitions of results in generated C c ("struct R<n> {"). */
static size_t result_structs(const char *c) {
  size_t n = 0;
  for (const char *p = c; (p = strstr(p, "struct R")); p += 8) {
    const char *q = p + 8;
    while (*q >= '0' && *q <= '9') q++;
    if (q > p + 8 && !strncmp(q, " {", 2)) n++;
  }
  return n;
}

/* Several results are returned in one struct per list of their C types,
 * whatever the function types (codegen.c, result_shapes): 300 lists of 2
 * to 151 results, each of two types (other parameters), and the lists
 * with a reference, which are one pointer whatever the reference type,
 * so that a tail call between two of them returns its callee's struct
 * (a jump, not a copy). The two types of a list tail-call each other,
 * compiled, with the results the interpreter gives. */
static void results_share_one_struct_per_shape(void **state) {
  (void)state;
  enum { SHAPES = 300 };
  size_t cap = 2u * SHAPES * 1200 + 4096;
  char *text = malloc(cap);
  assert_non_null(text);
  int n = snprintf(text, cap, "(module\n");
  for (int i = 0; i < 2 * SHAPES; i++) {
    int id = i % SHAPES, nr = 2 + id % 150;
    n += snprintf(text + n, cap - (size_t)n, " (type (func%s (result", i < SHAPES ? "" : " (param i32)");
    for (int k = 0; k < nr - 1; k++) n += snprintf(text + n, cap - (size_t)n, " i32");
    n += snprintf(text + n, cap - (size_t)n, " %s)))\n", id < 150 ? "i32" : "i64");
  }
  snprintf(text + n, cap - (size_t)n,
           " (type $fi (func (result nullfuncref i32)))\n"
           " (type $ei (func (param i32) (result funcref i32)))\n"
           " (func $a (type 0) (i32.const 5) (i32.const 6))\n"
           " (func (export \"b\") (type %d) (return_call $a))\n"
           " (func $c (type $fi) (ref.null nofunc) (i32.const 7))\n"
           " (func (export \"d\") (type $ei) (return_call $c))\n"
           " (elem declare func $c))\n",
           SHAPES);
  cis_engine *e = engine("interp");
  char *c = generated_c(e, text);
  cis_engine_free(e);
  assert_int_equal(result_structs(c), SHAPES + 1);
  /* the tail calls return what they get, copying nothing */
  char *f = function_c(c, 1);
  assert_non_null(strstr(f, "return w0(c, dr_ + 1);"));
  free(f);
  f = function_c(c, 3);
  assert_non_null(strstr(f, "return w2(c, dr_ + 1);"));
  free(f);
  free(c);
  e = engine("aot");
  cis_module *m = module(e, text);
  cis_instance *inst = instantiate(e, m);
  cis_val a = i32v(1), r[2];
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "b"), &a, 1, r, 2), CIS_OK);
  assert_int_equal(r[0].of.i32, 5);
  assert_int_equal(r[1].of.i32, 6);
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "d"), &a, 1, r, 2), CIS_OK);
  assert_int_equal(r[1].of.i32, 7);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
  free(text);
}

/* An access whose address is bounded below memory 0's declared minimum
 * less its offset and width has no check (codegen.c, value ranges): a
 * masked index, a shifted byte, a local whose every store is bounded.
 * Each function at the edge of that bound keeps its check and traps
 * where the interpreter does: an offset or a width past it, a local one
 * of whose stores is not bounded so, a parameter (whatever the function
 * stores in it, its first value is the caller's), an address one byte
 * past the minimum (gcc is told the size is at least that: aot_ms). */
static const char RANGES[] =
    "(module (memory 1 2)\n"
    " (func (export \"mask_in\") (param $a i32) (result i32)\n"
    "  (i32.load (i32.and (local.get $a) (i32.const 0xfffc))))\n"
    " (func (export \"mask_edge\") (param $a i32) (result i32)\n"
    "  (i32.load (i32.and (local.get $a) (i32.const 0xfffd))))\n"
    " (func (export \"mask_off\") (param $a i32) (result i32)\n"
    "  (i32.load offset=4 (i32.and (local.get $a) (i32.const 0xfffc))))\n"
    " (func (export \"byte_in\") (param $a i32) (result i32)\n"
    "  (i32.store8 (i32.const 0) (local.get $a))\n"
    "  (i32.load8_u offset=0xff (i32.shl (i32.load8_u (i32.const 0)) (i32.const 8))))\n"
    " (func (export \"byte_edge\") (param $a i32) (result i32)\n"
    "  (i32.store8 (i32.const 0) (local.get $a))\n"
    "  (i32.load8_u offset=0x100 (i32.shl (i32.load8_u (i32.const 0)) (i32.const 8))))\n"
    " (func (export \"local_edge\") (param $a i32) (result i32) (local $i i32)\n"
    "  (local.set $i (i32.and (local.get $a) (i32.const 0x3fff)))\n"
    "  (if (i32.gt_u (local.get $a) (i32.const 0xffff))\n"
    "   (then (local.set $i (i32.shr_u (local.get $a) (i32.const 14)))))\n"
    "  (i32.load (i32.shl (local.get $i) (i32.const 2))))\n"
    " (func (export \"probe\") (param $n i32) (result i32) (local $i i32) (local $s i32)\n"
    "  (loop $l\n"
    "   (local.set $i (i32.and (i32.add (local.get $i) (i32.const 1)) (i32.const 0x3fff)))\n"
    "   (local.set $s (i32.add (local.get $s) (i32.load (i32.shl (local.get $i) (i32.const 2)))))\n"
    "   (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))\n"
    "  (local.get $s))\n"
    " (func (export \"probe_off\") (param $n i32) (result i32) (local $i i32) (local $s i32)\n"
    "  (loop $l\n"
    "   (local.set $i (i32.and (i32.add (local.get $i) (i32.const 1)) (i32.const 0x3fff)))\n"
    "   (local.set $s (i32.add (local.get $s)\n"
    "    (i32.load offset=4 (i32.shl (local.get $i) (i32.const 2)))))\n"
    "   (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))\n"
    "  (local.get $s))\n"
    " (func (export \"param\") (param $a i32) (result i32)\n"
    "  (if (i32.eqz (local.get $a)) (then (local.set $a (i32.const 1))))\n"
    "  (i32.load (i32.shl (local.get $a) (i32.const 2))))\n"
    " (func (export \"min_edge\") (param $a i32) (result i32)\n"
    "  (i32.load (i32.add (i32.const 0xfffc) (i32.and (local.get $a) (i32.const 1))))))";

static void aot_bounded_addresses_skip_their_check(void **state) {
  (void)state;
  cis_engine *e = engine("interp");
  char *c = generated_c(e, RANGES);
  cis_engine_free(e);
  const bool checked[] = {false, true, true, false, true, true, false, true, true, true};
  for (unsigned fi = 0; fi < sizeof checked / sizeof checked[0]; fi++) {
    char *f = function_c(c, fi);
    size_t n = count_of(f, "M, MS,") + count_of(f, "aot_ea(");
    if (checked[fi] ? n == 0 : n != 0) fail_msg("w%u: %zu checks in\n%s", fi, n, f);
    free(f);
  }
  free(c);
  pair p;
  pair_new(&p, RANGES);
  struct {
    const char *name;
    uint32_t a;
    cis_result want;
  } k[] = {
      {"mask_in", 0xffffffffu, CIS_OK},    {"mask_edge", 0xfffc, CIS_OK},
      {"mask_edge", 0xfffd, CIS_TRAP_MEM_OOB}, {"mask_off", 0xfff8, CIS_OK},
      {"mask_off", 0xfffc, CIS_TRAP_MEM_OOB},  {"byte_in", 0xff, CIS_OK},
      {"byte_edge", 0xfe, CIS_OK},         {"byte_edge", 0xff, CIS_TRAP_MEM_OOB},
      {"local_edge", 0x3fff, CIS_OK},      {"local_edge", 0x3ffff, CIS_OK},
      {"local_edge", 0xffffffffu, CIS_TRAP_MEM_OOB},
      {"probe", 0x10000, CIS_OK},          {"probe_off", 0x3ffe, CIS_OK},
      {"probe_off", 0x3fff, CIS_TRAP_MEM_OOB}, {"param", 0, CIS_OK},
      {"param", 0x3fff, CIS_OK},           {"param", 0x4000, CIS_TRAP_MEM_OOB},
      {"min_edge", 0, CIS_OK},             {"min_edge", 1, CIS_TRAP_MEM_OOB},
  };
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    cis_val a = i32v(k[i].a);
    cis_result rc = both(&p, k[i].name, &a, 1, 1);
    if (rc != k[i].want)
      fail_msg("%s(0x%x): %s, want %s", k[i].name, k[i].a, cis_errname(rc), cis_errname(k[i].want));
  }
  pair_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(results_share_one_struct_per_shape, setup, teardown),
      cmocka_unit_test_setup_teardown(big_function_is_compiled_at_o1, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_leaf_functions_skip_the_stack_check, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(aot_entry_ticks_only_where_a_loop_does_not, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(aot_group_check_form_per_function, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_bounded_addresses_skip_their_check, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_check_group_covers_accesses_at_one_local, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(aot_check_group_results_and_traps_match_interpreter,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(aot_check_group_trap_leaves_memory_as_interpreter, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
