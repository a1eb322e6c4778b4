/*
 * This file implements the tests of the compiled engine ("aot"): the
 * limits in compiled code (deadline, cancel from another thread, memory
 * cap, call depth, out-of-bounds memory and table accesses), linking
 * between modules of the two engines, and the cache's faults (a truncated
 * entry, another module's entry swapped in, a corrupt byte, a compiler
 * that fails or is missing, two processes racing to compile one module),
 * and tiering ("auto": the interpreter at once, compiled code once the
 * background compile is done, in this process and in the next). Each test
 * gets a fresh $CIS_HOME, so each starts with an empty cache. Some cases
 * run in a fresh process: this program run again with --child CASE.
 */
#define _GNU_SOURCE 1 /* dl_iterate_phdr */
#include <dirent.h>
#include <elf.h>
#include <link.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "aot/aot_ops.h"
#include "cis/cis.h"
#include "aot_test.h"
#include "support/test_file.h"
#include "cis/cis_aot.h"
#include "common/sha256.h"
#include "runtime/runtime.h"

static uint8_t *slurp(const char *name, size_t *len) {
  uint8_t *b = cis_test_file_read_in(CIS_AOT_WASM_DIR, name, ".wasm", len);
  if (!b) fail_msg("cannot read %s/%s.wasm", CIS_AOT_WASM_DIR, name);
  return b;
}

/* Loads fixture name; returns the code and leaves the module in *out. */
static cis_result load(cis_engine *e, const char *name, cis_module **out) {
  size_t n;
  uint8_t *b = slurp(name, &n);
  cis_result rc = cis_module_new(e, b, n, out);
  free(b);
  return rc;
}

static cis_module *load_ok(cis_engine *e, const char *name) {
  cis_module *m = NULL;
  cis_result rc = load(e, name, &m);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(e));
  return m;
}

static cis_instance *instantiate(cis_module *m, cis_imports *im, const cis_limits *l) {
  cis_instance *inst = NULL;
  cis_result rc = cis_instance_new(m, im, l, &inst);
  if (rc != CIS_OK) fail_msg("instantiate: %s", cis_errname(rc));
  return inst;
}

/* Calls export name with i32 arguments; one i32 result into *r if r. */
static cis_result call(cis_instance *inst, const char *name, int32_t *r, int nargs, ...) {
  cis_func *f = cis_instance_func(inst, name);
  assert_non_null(f);
  cis_val args[4], res[1];
  va_list ap;
  va_start(ap, nargs);
  for (int i = 0; i < nargs; i++) {
    args[i].type = CIS_I32;
    args[i].of.u64 = 0;
    args[i].of.i32 = va_arg(ap, int32_t);
  }
  va_end(ap);
  cis_result rc = cis_func_call(inst, f, args, (size_t)nargs, res, r ? 1 : 0);
  if (rc == CIS_OK && r) *r = res[0].of.i32;
  return rc;
}

/* The one entry in the cache folder (asserts there is exactly one). */
static void cache_entry(char *out, size_t n, int want) {
  char dir[300];
  snprintf(dir, sizeof dir, "%s/cache", home);
  /* The folder is made by the first compile: none yet is no entry. */
  DIR *d = opendir(dir);
  assert_true(d || errno == ENOENT);
  int count = 0;
  for (struct dirent *de; d && (de = readdir(d));) {
    size_t l = strlen(de->d_name);
    if (l > 4 && !strcmp(de->d_name + l - 4, ".cso")) {
      count++;
      if (out) snprintf(out, n, "%s/%s", dir, de->d_name);
    }
  }
  if (d) closedir(d);
  assert_int_equal(count, want);
}

static long file_size(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static int seen_count;
static bool count_sound(const cis_cache_entry *e, void *user) {
  (void)user;
  seen_count += e->sound;
  return true;
}

/* ---------------------------------------------------------- running */

static void aot_runs_and_caches_its_object(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  cis_module *m = load_ok(e, "limits");
  cache_entry(NULL, 0, 1);
  cis_instance *inst = instantiate(m, NULL, NULL);
  int32_t r = 0;
  assert_int_equal(call(inst, "div", &r, 2, -7, 2), CIS_OK);
  assert_int_equal(r, -3);
  cis_instance_free(inst);
  cis_module_free(m);
  /* A second load finds the entry (still one). */
  m = load_ok(e, "limits");
  cache_entry(NULL, 0, 1);
  cis_module_free(m);
  cis_engine_free(e);
}

static void aot_deadline_stops_infinite_loop(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  cis_module *m = load_ok(e, "limits");
  cis_limits l;
  cis_limits_default(&l);
  l.timeout_ms = 50;
  cis_instance *inst = instantiate(m, NULL, &l);
  assert_int_equal(call(inst, "spin", NULL, 0), CIS_ETIMEOUT);
  /* It did run (the loop counted) and the instance still works. */
  cis_func *f = cis_instance_func(inst, "count");
  cis_val r;
  assert_int_equal(cis_func_call(inst, f, NULL, 0, &r, 1), CIS_OK);
  assert_true(r.of.i64 > 0);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

typedef struct spinner {
  cis_instance *inst;
  cis_result rc;
  atomic_bool done;
} spinner;

static void *spin_thread(void *arg) {
  spinner *s = arg;
  s->rc = call(s->inst, "spin", NULL, 0);
  atomic_store(&s->done, true);
  return NULL;
}

static void aot_cancel_stops_only_that_instance(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  cis_module *m = load_ok(e, "limits");
  cis_limits l;
  cis_limits_default(&l);
  l.timeout_ms = 1500; /* bounds the test should cancel fail */
  spinner a = {instantiate(m, NULL, &l), CIS_OK, false};
  spinner b = {instantiate(m, NULL, &l), CIS_OK, false};
  pthread_t ta, tb;
  assert_int_equal(pthread_create(&ta, NULL, spin_thread, &a), 0);
  assert_int_equal(pthread_create(&tb, NULL, spin_thread, &b), 0);
  /* A call clears the flag when it starts, so cancel until a ends (on a
   * loaded machine the thread may start late); bounded by a's deadline. */
  struct timespec ts = {0, 20 * 1000 * 1000};
  for (int i = 0; i < 500 && !atomic_load(&a.done); i++) {
    cis_instance_cancel(a.inst);
    nanosleep(&ts, NULL);
  }
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  assert_int_equal(a.rc, CIS_ECANCELED);
  assert_int_equal(b.rc, CIS_ETIMEOUT); /* b ran on to its own deadline */
  cis_instance_free(a.inst);
  cis_instance_free(b.inst);
  cis_module_free(m);
  cis_engine_free(e);
}

static void aot_memory_cap_holds(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  cis_module *m = load_ok(e, "limits");
  cis_limits l;
  cis_limits_default(&l);
  l.max_memory_bytes = 4u * 65536u + 65536u; /* room for bookkeeping, not 4 more pages */
  cis_instance *inst = instantiate(m, NULL, &l);
  int32_t r = 0;
  assert_int_equal(call(inst, "grow", &r, 1, 8), CIS_OK);
  assert_int_equal(r, -1);
  assert_int_equal(call(inst, "size", &r, 0), CIS_OK);
  assert_int_equal(r, 1);
  assert_int_equal(call(inst, "grow", &r, 1, 1), CIS_OK);
  assert_int_equal(r, 1);
  /* The new page is addressable, the one past it is not. */
  assert_int_equal(call(inst, "store", NULL, 2, 2 * 65536 - 4, 7), CIS_OK);
  assert_int_equal(call(inst, "load", &r, 1, 2 * 65536 - 4), CIS_OK);
  assert_int_equal(r, 7);
  assert_int_equal(call(inst, "load", &r, 1, 2 * 65536 - 3), CIS_TRAP_MEM_OOB);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

static void aot_call_depth_is_trap_stack(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  cis_module *m = load_ok(e, "limits");
  cis_limits l;
  cis_limits_default(&l);
  l.max_call_depth = 200;
  cis_instance *inst = instantiate(m, NULL, &l);
  int32_t r0 = 0;
  assert_int_equal(call(inst, "recurse", &r0, 1, 0), CIS_TRAP_STACK);
  assert_non_null(strstr(cis_errmsg(inst), "call stack exhausted"));
  /* The default depth too: the native stack holds or the check stops it. */
  cis_limits_default(&l);
  cis_instance_set_limits(inst, &l);
  assert_int_equal(call(inst, "recurse", &r0, 1, 0), CIS_TRAP_STACK);
  /* And the instance still runs afterwards. */
  int32_t r = 0;
  assert_int_equal(call(inst, "div", &r, 2, 9, 3), CIS_OK);
  assert_int_equal(r, 3);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

/* calls.wat's host function back(k): runs down(k) in the calling instance
 * and returns its result, or -1 when it failed (it returns all the same). */
static cis_result host_back(cis_call *call, const cis_slot *a, cis_slot *r) {
  cis_instance *inst = cis_call_instance(call);
  cis_val arg = {.type = CIS_I32, .of.i32 = a[0].i32}, res;
  cis_result rc = cis_func_call(inst, cis_instance_func(inst, "down"), &arg, 1, &res, 1);
  r[0].u64 = (uint32_t)(rc == CIS_OK ? res.of.i32 : -1);
  return CIS_OK;
}

/* calls.wat on engine name, under a depth limit of 40. */
static cis_instance *calls_instance(const char *name, cis_engine **e, cis_module **m,
                                    cis_imports **im) {
  *e = engine(name);
  *m = load_ok(*e, "calls");
  cis_host_func_def d = {"host", "back", "(i)i", host_back, NULL, 0};
  assert_int_equal(cis_imports_new(*e, im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(*im, &d, 1), CIS_OK);
  cis_limits l;
  cis_limits_default(&l);
  l.max_call_depth = 40;
  return instantiate(*m, *im, &l);
}

/* The compiled engine keeps the call depth and the tick counter in
 * registers across its direct calls (aot_prelude.h, AOT_REGS) and skips
 * the native stack check in leaf functions: the depth limit still falls
 * at the very call where the interpreter's does, through direct calls, a
 * leaf at the bottom, call_indirect, entries that do not tick (down_loop:
 * its calls inside a loop), and a host function that calls back into the
 * module and fails there (its state restored after the trap). */
static void aot_call_depth_limit_is_exact(void **state) {
  (void)state;
  cis_engine *e[2];
  cis_module *m[2];
  cis_imports *im[2];
  cis_instance *inst[2];
  const char *names[2] = {"interp", "aot"};
  for (int k = 0; k < 2; k++) inst[k] = calls_instance(names[k], &e[k], &m[k], &im[k]);
  static const char *const fns[] = {"down", "down_ind", "down_loop"};
  for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
    int passed = 0, failed = 0;
    for (int32_t n = 30; n <= 45; n++) {
      int32_t r[2] = {0, 0};
      cis_result rc[2];
      for (int k = 0; k < 2; k++) rc[k] = call(inst[k], fns[f], &r[k], 1, n);
      if (rc[0] != rc[1]) fail_msg("%s(%d): interp %s, aot %s", fns[f], n, cis_errname(rc[0]),
                                   cis_errname(rc[1]));
      if (rc[1] == CIS_OK) {
        assert_int_equal(r[1], n + 1);
        passed++;
      } else {
        assert_int_equal(rc[1], CIS_TRAP_STACK);
        assert_non_null(strstr(cis_errmsg(inst[1]), "call stack exhausted"));
        failed++;
      }
    }
    assert_true(passed > 0 && failed > 0);
  }
  /* down(inner) from the host function, then down(n): each fails or
   * not where the interpreter's does. */
  int inner_failed = 0;
  for (int32_t inner = 30; inner <= 45; inner++)
    for (int32_t n = 30; n <= 45; n++) {
      int32_t r[2] = {0, 0};
      cis_result rc[2];
      for (int k = 0; k < 2; k++) rc[k] = call(inst[k], "via_host", &r[k], 2, n, inner);
      if (rc[0] != rc[1] || r[0] != r[1])
        fail_msg("via_host(%d, %d): interp %s 0x%x, aot %s 0x%x", n, inner, cis_errname(rc[0]),
                 (unsigned)r[0], cis_errname(rc[1]), (unsigned)r[1]);
      if (rc[1] == CIS_OK) inner_failed += (uint32_t)r[1] >> 16 == 0xffff;
    }
  assert_true(inner_failed > 0);
  for (int k = 0; k < 2; k++) {
    cis_instance_free(inst[k]);
    cis_imports_free(im[k]);
    cis_module_free(m[k]);
    cis_engine_free(e[k]);
  }
}

/* A recursion without loops ticks only at function entries: it still
 * stops at the deadline, and at the fuel's end. */
static void aot_recursion_without_loops_stops(void **state) {
  (void)state;
  cis_engine *e;
  cis_module *m;
  cis_imports *im;
  cis_instance *inst = calls_instance("aot", &e, &m, &im);
  /* fib: no loop, every entry ticks; fib_loop: its only call is inside
   * its loop, whose header ticks where its entry does not (codegen.c,
   * scan_body). */
  static const char *const fns[] = {"fib", "fib_loop"};
  for (size_t f = 0; f < 2; f++) {
    cis_limits l;
    cis_limits_default(&l);
    l.timeout_ms = 50;
    cis_instance_set_limits(inst, &l);
    int32_t r = 0;
    assert_int_equal(call(inst, fns[f], &r, 1, 60), CIS_ETIMEOUT);
    cis_limits_default(&l);
    l.fuel = 100000;
    cis_instance_set_limits(inst, &l);
    assert_int_equal(call(inst, fns[f], &r, 1, 60), CIS_EFUEL);
    /* And the instance still runs: fib(20) takes 21891 entries. */
    cis_limits_default(&l);
    cis_instance_set_limits(inst, &l);
    assert_int_equal(call(inst, fns[f], &r, 1, 20), CIS_OK);
    assert_int_equal(r, 6765);
  }
  cis_instance_free(inst);
  cis_imports_free(im);
  cis_module_free(m);
  cis_engine_free(e);
}

static void aot_out_of_bounds_memory_traps(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  cis_module *m = load_ok(e, "limits");
  cis_instance *inst = instantiate(m, NULL, NULL);
  int32_t r = 0;
  assert_int_equal(call(inst, "load", &r, 1, 65532), CIS_OK);
  assert_int_equal(call(inst, "load", &r, 1, 65533), CIS_TRAP_MEM_OOB);
  assert_non_null(strstr(cis_errmsg(inst), "out of bounds memory access in function"));
  assert_int_equal(call(inst, "load", &r, 1, -1), CIS_TRAP_MEM_OOB);
  assert_int_equal(call(inst, "store", NULL, 2, 65536, 1), CIS_TRAP_MEM_OOB);
  assert_int_equal(call(inst, "div", &r, 2, 1, 0), CIS_TRAP_DIV_ZERO);
  assert_int_equal(call(inst, "div", &r, 2, INT32_MIN, -1), CIS_TRAP_INT_OVERFLOW);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

static void aot_out_of_bounds_table_traps(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  cis_module *m = load_ok(e, "limits");
  cis_instance *inst = instantiate(m, NULL, NULL);
  int32_t r = 0;
  assert_int_equal(call(inst, "call_tab", &r, 1, 0), CIS_OK);
  assert_int_equal(r, 1);
  assert_int_equal(call(inst, "call_tab", &r, 1, 1), CIS_TRAP_UNINIT_ELEM);
  assert_int_equal(call(inst, "call_tab", &r, 1, 2), CIS_TRAP_UNDEF_ELEM);
  assert_int_equal(call(inst, "tab_set", NULL, 1, 2), CIS_TRAP_TABLE_OOB);
  assert_int_equal(call(inst, "tab_set", NULL, 1, 0), CIS_OK);
  assert_int_equal(call(inst, "call_tab", &r, 1, 0), CIS_TRAP_UNINIT_ELEM);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

/* Module a on engine ea, b (importing a) on eb. */
static void link_pair(const char *ea, const char *eb) {
  cis_engine *e1 = engine(ea), *e2 = engine(eb);
  cis_module *ma = load_ok(e1, "link_a"), *mb = load_ok(e2, "link_b");
  cis_instance *a = instantiate(ma, NULL, NULL);
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e2, &im), CIS_OK);
  assert_int_equal(cis_imports_add_instance(im, "a", 1, a), CIS_OK);
  cis_instance *b = instantiate(mb, im, NULL);
  int32_t r = 0;
  assert_int_equal(call(b, "twice", &r, 1, 21), CIS_OK);
  assert_int_equal(r, 42);
  /* The value stack is the interpreter's: a call from b makes b's (the
   * top instance's) only when it enters the interpreter. */
  assert_true((b->stack != NULL) == (!strcmp(ea, "interp") || !strcmp(eb, "interp")));
  assert_int_equal(call(b, "indirect", &r, 1, 5), CIS_OK);
  assert_int_equal(r, 15);
  assert_int_equal(call(b, "poke_peek", &r, 2, 8, 1234), CIS_OK);
  assert_int_equal(r, 1234);
  assert_int_equal(call(b, "poke_peek", &r, 2, 65535, 1), CIS_TRAP_MEM_OOB);
  cis_instance_free(b);
  cis_imports_free(im);
  cis_instance_free(a);
  cis_module_free(mb);
  cis_module_free(ma);
  cis_engine_free(e2);
  cis_engine_free(e1);
}

static void aot_and_interp_import_each_other(void **state) {
  (void)state;
  link_pair("interp", "aot");
  link_pair("aot", "interp");
  link_pair("aot", "aot");
}

/* ------------------------------------------------------------ cache */

static int32_t run_f(cis_engine *e, const char *name) {
  cis_module *m = load_ok(e, name);
  cis_instance *inst = instantiate(m, NULL, NULL);
  int32_t r = 0;
  assert_int_equal(call(inst, "f", &r, 0), CIS_OK);
  cis_instance_free(inst);
  cis_module_free(m);
  return r;
}

static void cache_truncated_entry_is_recompiled(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1);
  char p[600];
  cache_entry(p, sizeof p, 1);
  long full = file_size(p);
  assert_true(full > 200);
  assert_int_equal(truncate(p, full / 2), 0);
  assert_int_equal(run_f(e, "one"), 1);
  assert_int_equal(file_size(p), full); /* compiled and stored again */
  cis_engine_free(e);
}

static void cache_corrupt_byte_is_recompiled(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1);
  char p[600];
  cache_entry(p, sizeof p, 1);
  long full = file_size(p);
  FILE *f = fopen(p, "r+b");
  assert_non_null(f);
  fseek(f, full / 3, SEEK_SET); /* in the object: only its checksum tells */
  int c = fgetc(f);
  fseek(f, full / 3, SEEK_SET);
  fputc(c ^ 0x5a, f);
  fclose(f);
  struct stat before;
  assert_int_equal(stat(p, &before), 0);
  assert_int_equal(run_f(e, "one"), 1);
  struct stat after;
  assert_int_equal(stat(p, &after), 0);
  assert_true(after.st_ino != before.st_ino); /* replaced by a fresh entry */
  cis_engine_free(e);
}

static void cache_swapped_entry_is_recompiled(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1);
  char p1[600];
  cache_entry(p1, sizeof p1, 1);
  char saved[600];
  snprintf(saved, sizeof saved, "%s/one.saved", home);
  assert_int_equal(rename(p1, saved), 0);
  assert_int_equal(run_f(e, "two"), 2);
  char p2[600];
  cache_entry(p2, sizeof p2, 1);
  /* two's entry under one's name: a sound file, of another module. */
  assert_int_equal(rename(p2, p1), 0);
  assert_int_equal(run_f(e, "one"), 1);
  assert_int_equal(run_f(e, "two"), 2);
  cache_entry(NULL, 0, 2);
  cis_engine_free(e);
}

static int run_child(const char *which);

/* An entry's trailer (src/aot/cache.c): its last 160 bytes; the entry's
 * name at 8 (32 bytes), the key text's length at 136 (u32), the length of
 * the compiler's line that follows the key text at 148 (u32). */
#define TRL_SIZE 160
#define T_KEY 8
#define T_TLEN 136
#define T_CLEN 148

static void read_trailer(const char *p, uint8_t trl[TRL_SIZE]) {
  FILE *f = fopen(p, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, -TRL_SIZE, SEEK_END), 0);
  assert_int_equal(fread(trl, 1, TRL_SIZE, f), TRL_SIZE);
  fclose(f);
}

/* Flips the byte at off (from the start when >= 0, else from the end). */
static void flip_byte(const char *p, long off) {
  FILE *f = fopen(p, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, off, off >= 0 ? SEEK_SET : SEEK_END), 0);
  int c = fgetc(f);
  assert_int_equal(fseek(f, off, off >= 0 ? SEEK_SET : SEEK_END), 0);
  fputc(c ^ 0x5a, f);
  fclose(f);
}

/* A file name says where to look, not what is there: another module's
 * sound entry, renamed to this one's file and carrying this one's name in
 * its trailer (what a collision of names would give), is not loaded. */
static void cache_name_collision_is_not_loaded(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1);
  char p1[600], saved[600], p2[600];
  cache_entry(p1, sizeof p1, 1);
  uint8_t t1[TRL_SIZE], t2[TRL_SIZE];
  read_trailer(p1, t1);
  snprintf(saved, sizeof saved, "%s/one.saved", home);
  assert_int_equal(rename(p1, saved), 0);
  assert_int_equal(run_f(e, "two"), 2);
  cache_entry(p2, sizeof p2, 1);
  read_trailer(p2, t2);
  FILE *f = fopen(p2, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, -TRL_SIZE + T_KEY, SEEK_END), 0);
  assert_int_equal(fwrite(t1 + T_KEY, 1, 32, f), 32);
  fclose(f);
  assert_int_equal(rename(p2, p1), 0);
  cis_engine_free(e);
  e = engine("aot"); /* a fresh engine; the objects loaded before are released */
  assert_int_equal(run_f(e, "one"), 1);
  cis_engine_free(e);
}

/* The entry at p is unsound: the next run compiles and replaces it. */
static void recompiled_after(cis_engine *e, const char *p, long off) {
  struct stat before, after;
  flip_byte(p, off);
  assert_int_equal(stat(p, &before), 0);
  assert_int_equal(run_f(e, "one"), 1);
  assert_int_equal(stat(p, &after), 0);
  assert_true(after.st_ino != before.st_ino);
}

/* The module's bytes and the key text stored in an entry are compared in
 * full, and its compiler's line ("cc PATH IDENT") must name a compiler
 * that is there with that identity: a byte of any of them changed makes
 * the entry unsound. */
static void cache_corrupt_module_copy_or_key_text_is_recompiled(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1);
  char p[600];
  cache_entry(p, sizeof p, 1);
  uint8_t trl[TRL_SIZE];
  read_trailer(p, trl);
  uint32_t tlen, clen;
  memcpy(&tlen, trl + T_TLEN, 4);
  memcpy(&clen, trl + T_CLEN, 4);
  assert_true(clen > 10);
  const long line = -(long)(TRL_SIZE + clen); /* the compiler's line, from the end */
  /* The last byte of the module copy, just before the key text. */
  recompiled_after(e, p, line - (long)tlen - 1);
  /* A byte of the key text. */
  recompiled_after(e, p, line - (long)tlen / 2);
  /* The compiler's line: its "cc ", a byte of its path (another file, or
   * none), the last digit of its identity (the compiler's mtime), its
   * newline. */
  recompiled_after(e, p, line);
  recompiled_after(e, p, line + 4);
  recompiled_after(e, p, -(long)TRL_SIZE - 2);
  recompiled_after(e, p, -(long)TRL_SIZE - 1);
  cis_engine_free(e);
}

/* Where the CPU has no crc32 instruction the load checks the object's
 * BLAKE2b: a corrupt byte is still found. */
static void cache_corrupt_byte_is_recompiled_without_crc(void **state) {
  (void)state;
  cis__aot_test_no_crc(true);
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1);
  char p[600];
  cache_entry(p, sizeof p, 1);
  assert_int_equal(run_f(e, "one"), 1); /* sound: loaded from the cache */
  cache_entry(NULL, 0, 1);
  flip_byte(p, file_size(p) / 3);
  struct stat before, after;
  assert_int_equal(stat(p, &before), 0);
  assert_int_equal(run_f(e, "one"), 1);
  assert_int_equal(stat(p, &after), 0);
  assert_true(after.st_ino != before.st_ino);
  cis_engine_free(e);
  cis__aot_test_no_crc(false);
}

/* A cached start binds no hash library: the key is compared in full and
 * the object's checksum is the CPU's CRC32C (docs/aot.md). */
static void aot_cached_start_binds_no_hash_library(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1);
  cis_engine_free(e);
  assert_int_equal(run_child("aot-cached-no-hash-library"), 0);
}

/* Stack used by a cached load, measured on a thread whose stack is
 * filled with a pattern: the deepest byte that changed. */
#define PROBE_STACK (512u * 1024u)
typedef struct probe {
  cis_engine *e;            /* the engine to load on */
  const char *name;         /* the module */
  uint8_t *lo;              /* the thread's stack */
  uintptr_t top;            /* an address in the thread's first frame */
  size_t used;              /* bytes of stack the load touched below top */
} probe;

static __attribute__((noinline)) void *probe_thread(void *arg) {
  probe *p = arg;
  volatile char here = 0;
  p->top = (uintptr_t)&here;
  cis_module *m = load_ok(p->e, p->name);
  cis_module_free(m);
  size_t k = 0;
  while (k < PROBE_STACK && p->lo[k] == 0xa5) k++;
  p->used = p->top - (uintptr_t)(p->lo + k);
  return NULL;
}

static size_t load_stack_used(cis_engine *e, const char *name) {
  probe p = {.e = e, .name = name};
  p.lo = malloc(PROBE_STACK);
  assert_non_null(p.lo);
  memset(p.lo, 0xa5, PROBE_STACK);
  pthread_attr_t a;
  pthread_attr_init(&a);
  assert_int_equal(pthread_attr_setstack(&a, p.lo, PROBE_STACK), 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, &a, probe_thread, &p), 0);
  pthread_join(t, NULL);
  pthread_attr_destroy(&a);
  free(p.lo);
  return p.used;
}

/* A cached load (find the compiler, make the key, check the entry,
 * dlopen it) keeps its stack within a few pages of the interpreter's
 * load: each page of stack a cached start touches beyond the
 * interpreter's start is one more page fault (docs/aot.md). It kept
 * 21 KB of buffers in one frame (the compiler's path, the key text, the
 * cache folder, the entry's path), 14 KB more than now. */
static void aot_cached_load_keeps_a_shallow_stack(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1); /* compiles, then unloads */
  cis_engine *ei = engine("interp");
  size_t interp = load_stack_used(ei, "one");
  size_t aot = load_stack_used(e, "one");
  cis_engine_free(ei);
  cis_engine_free(e);
  print_message("stack of a load: interp %zu bytes, cached aot %zu bytes\n", interp, aot);
#if defined(__SANITIZE_ADDRESS__)
  const size_t slack = 16u * 1024u; /* ASan's redzones around every frame */
#else
  const size_t slack = 12u * 1024u;
#endif
  assert_true(aot < interp + slack);
}

static void compiler_failing_is_eio(void **state) {
  (void)state;
  setenv("CIS_CC", "/bin/false", 1);
  cis_engine *e = engine("aot");
  cis_module *m = NULL;
  assert_int_equal(load(e, "one", &m), CIS_EIO);
  assert_null(m);
  assert_non_null(strstr(cis_errmsg(e), "failed"));
  cache_entry(NULL, 0, 0);
  cis_engine_free(e);
}

static void compiler_missing_is_unsupported_naming_gcc(void **state) {
  (void)state;
  setenv("CIS_CC", "/nonexistent/cc", 1);
  cis_engine *e = engine("aot");
  cis_module *m = NULL;
  assert_int_equal(load(e, "one", &m), CIS_EUNSUPPORTED);
  assert_non_null(strstr(cis_errmsg(e), "gcc"));
  setenv("CIS_CC", "no-such-compiler-here", 1);
  assert_int_equal(load(e, "one", &m), CIS_EUNSUPPORTED);
  assert_non_null(strstr(cis_errmsg(e), "gcc"));
  /* The interpreter does not need one. */
  cis_engine *ei = engine("interp");
  assert_int_equal(run_f(ei, "one"), 1);
  cis_engine_free(ei);
  cis_engine_free(e);
}


/* Entries in the cache folder whose checks pass. */
static int sound_entries(void) {
  seen_count = 0;
  assert_int_equal(cis_cache_list(count_sound, NULL), CIS_OK);
  return seen_count;
}

/* Waits (at most 300 s) until the cache holds want sound entries. */
static bool wait_entries(int want) {
  for (int i = 0; i < 3000; i++) {
    if (sound_entries() >= want) return true;
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
  }
  return false;
}

static void cache_entry_loads_through_a_memory_copy(void **state) {
  (void)state;
  cis__aot_test_load_copy(true);
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1); /* compiled, then loaded */
  assert_int_equal(run_f(e, "one"), 1); /* from the cache */
  cis_engine_free(e);
  cis__aot_test_load_copy(false);
}

/* Two modules of the same bytes share one loaded object; freeing the first
 * then loading another module (which may get the freed descriptor's
 * number, so the same /proc/self/fd name) loads that module's object. */
static void aot_same_module_twice_then_another(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1);
  assert_int_equal(run_f(e, "two"), 2);
  cis_module *a = load_ok(e, "one"), *b = load_ok(e, "one");
  cis_module_free(a);
  cis_module *c = load_ok(e, "two");
  cis_instance *ib = instantiate(b, NULL, NULL), *ic = instantiate(c, NULL, NULL);
  int32_t r = 0;
  assert_int_equal(call(ib, "f", &r, 0), CIS_OK);
  assert_int_equal(r, 1);
  assert_int_equal(call(ic, "f", &r, 0), CIS_OK);
  assert_int_equal(r, 2);
  cis_instance_free(ib);
  cis_instance_free(ic);
  cis_module_free(b);
  cis_module_free(c);
  cis_engine_free(e);
}

/* A compiler (CIS_CC) that records its pid in home/cc.pid, then sleeps
 * (slow_s seconds; without compiling when slow_s >= 30) or compiles. */
static void fake_cc(int slow_s) {
  char cc[400];
  snprintf(cc, sizeof cc, "%s/slowcc.sh", home);
  FILE *f = fopen(cc, "w");
  assert_non_null(f);
  if (slow_s >= 30) fprintf(f, "#!/bin/sh\necho $$ > '%s/cc.pid'\nexec sleep %d\n", home, slow_s);
  else fprintf(f, "#!/bin/sh\necho $$ > '%s/cc.pid'\nsleep %d\nexec cc \"$@\"\n", home, slow_s);
  fclose(f);
  assert_int_equal(chmod(cc, 0755), 0);
  setenv("CIS_CC", cc, 1);
}

/* The pid of the fake compiler, waiting (at most 300 s) for it to start. */
static pid_t fake_cc_pid(void) {
  char p[400];
  snprintf(p, sizeof p, "%s/cc.pid", home);
  for (int i = 0; i < 3000; i++) {
    FILE *f = fopen(p, "r");
    long pid = 0;
    if (f) {
      int n = fscanf(f, "%ld", &pid);
      fclose(f);
      if (n == 1 && pid > 0) return (pid_t)pid;
    }
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
  }
  return -1;
}

static void racing_processes_compile_once(void **state) {
  (void)state;
  /* A compiler that logs each run and is slow enough for the two to
   * overlap. */
  char cc[400], log[400];
  snprintf(cc, sizeof cc, "%s/cc.sh", home);
  snprintf(log, sizeof log, "%s/cc.log", home);
  FILE *f = fopen(cc, "w");
  assert_non_null(f);
  fprintf(f, "#!/bin/sh\necho run >> '%s'\nsleep 0.3\nexec cc \"$@\"\n", log);
  fclose(f);
  assert_int_equal(chmod(cc, 0755), 0);
  setenv("CIS_CC", cc, 1);
  pid_t kids[2];
  for (int i = 0; i < 2; i++) {
    kids[i] = fork();
    assert_true(kids[i] >= 0);
    if (kids[i] == 0) {
      cis_engine_config cfg;
      cis_engine_config_default(&cfg);
      cfg.engine = "aot";
      cis_engine *e = NULL;
      cis_module *m = NULL;
      cis_instance *inst = NULL;
      int ok = cis_engine_new(&cfg, &e) == CIS_OK && load(e, "one", &m) == CIS_OK &&
               cis_instance_new(m, NULL, NULL, &inst) == CIS_OK;
      int32_t r = 0;
      ok = ok && call(inst, "f", &r, 0) == CIS_OK && r == 1;
      _exit(ok ? 0 : 1);
    }
  }
  for (int i = 0; i < 2; i++) {
    int st = 0;
    assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  f = fopen(log, "r");
  assert_non_null(f);
  int runs = 0;
  char line[64];
  while (fgets(line, sizeof line, f)) runs++;
  fclose(f);
  assert_int_equal(runs, 1);
  cache_entry(NULL, 0, 1);
}

typedef struct seen {
  int entries, sound;
} seen;

static bool count_entry(const cis_cache_entry *e, void *user) {
  seen *s = user;
  s->entries++;
  s->sound += e->sound;
  if (e->sound) assert_string_equal(e->cis_version, cis_version());
  return true;
}

static void cache_list_and_prune_find_corrupt_entries(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1);
  assert_int_equal(run_f(e, "two"), 2);
  seen s = {0, 0};
  assert_int_equal(cis_cache_list(count_entry, &s), CIS_OK);
  assert_int_equal(s.entries, 2);
  assert_int_equal(s.sound, 2);
  char p[600];
  char dir[300];
  assert_int_equal(cis_cache_dir(dir, sizeof dir), CIS_OK);
  snprintf(p, sizeof p, "%s/junk.lock", dir); /* not the cache's: left alone */
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fclose(f);
  /* Damage one entry: list says so, prune removes it and only it. */
  cis_module_free(load_ok(e, "one"));
  {
    char one[600];
    DIR *d = opendir(dir);
    assert_non_null(d);
    one[0] = 0;
    for (struct dirent *de; (de = readdir(d));)
      if (strstr(de->d_name, ".cso") && !one[0]) snprintf(one, sizeof one, "%s/%s", dir, de->d_name);
    closedir(d);
    assert_int_equal(truncate(one, 150), 0);
  }
  s = (seen){0, 0};
  assert_int_equal(cis_cache_list(count_entry, &s), CIS_OK);
  assert_int_equal(s.entries, 2);
  assert_int_equal(s.sound, 1);
  uint64_t removed = 0;
  assert_int_equal(cis_cache_prune(0, &removed), CIS_OK);
  assert_int_equal(removed, 1);
  cache_entry(NULL, 0, 1);
  assert_int_equal(access(p, F_OK), 0);
  assert_int_equal(cis_cache_clear(&removed), CIS_OK);
  assert_int_equal(removed, 1);
  cache_entry(NULL, 0, 0);
  cis_engine_free(e);
}

/* The cache entry of fixture name (its path into out), and its bytes on
 * disk with its image's; 0 when it has none. */
typedef struct entry_find {
  char sha[65];
  char *out;
  size_t cap;
  bool found;
} entry_find;

static bool find_entry(const cis_cache_entry *e, void *user) {
  entry_find *f = user;
  if (strcmp(e->module_sha256, f->sha)) return true;
  snprintf(f->out, f->cap, "%s", e->path);
  f->found = true;
  return false;
}

static uint64_t disk_of(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512u : 0;
}

static uint64_t entry_of(const char *name, char *out, size_t cap) {
  size_t n;
  uint8_t *b = slurp(name, &n);
  entry_find f = {.out = out, .cap = cap};
  assert_int_equal(cis_sha256_hex(b, n, f.sha), CIS_OK);
  free(b);
  assert_int_equal(cis_cache_list(find_entry, &f), CIS_OK);
  if (!f.found) return 0;
  char img[700];
  snprintf(img, sizeof img, "%.*s.img", (int)(strlen(out) - 4), out);
  return disk_of(out) + disk_of(img);
}

/* Sets path's access and write times to now less the given seconds. */
static void age(const char *path, int atime_ago, int mtime_ago) {
  struct timespec now, t[2];
  clock_gettime(CLOCK_REALTIME, &now);
  t[0] = (struct timespec){now.tv_sec - atime_ago, 0};
  t[1] = (struct timespec){now.tv_sec - mtime_ago, 0};
  assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

/* Compiles fixture name into the cache in an engine of its own. */
static void compile_fixture(const char *name) {
  cis_engine *e = engine("aot");
  cis_module_free(load_ok(e, name));
  cis_engine_free(e);
}

/* Under CIS_AOT_CACHE_MAX, storing an entry removes the least recently
 * used others (by the later of their access and their write) with their
 * images, and images left without an entry, until the folder fits; the
 * entry just stored stays even when alone it is over the bound, and files
 * that are not the cache's stay. */
static void cache_stays_within_its_bound_by_recent_use(void **state) {
  (void)state;
  setenv("CIS_AOT_CACHE_MAX", "0", 1);
  compile_fixture("one");
  compile_fixture("two");
  compile_fixture("calls");
  char one[600], two[600], calls[600];
  uint64_t b1 = entry_of("one", one, sizeof one), b2 = entry_of("two", two, sizeof two),
           b3 = entry_of("calls", calls, sizeof calls);
  assert_true(b1 && b2 && b3);
  /* one was written first but loaded lately; two written and used an hour ago. */
  age(one, 10, 7200);
  age(two, 3600, 3600);
  assert_int_equal(unlink(calls), 0);
  char bound[32];
  snprintf(bound, sizeof bound, "%llu", (unsigned long long)(b1 + b3));
  setenv("CIS_AOT_CACHE_MAX", bound, 1);
  compile_fixture("calls");
  assert_true(entry_of("calls", calls, sizeof calls));
  assert_true(entry_of("one", one, sizeof one));
  assert_false(entry_of("two", two, sizeof two));

  /* A bound below one entry: only the one just stored is left. */
  char dir[300], orphan[400], junk[400];
  assert_int_equal(cis_cache_dir(dir, sizeof dir), CIS_OK);
  snprintf(orphan, sizeof orphan, "%s/%064d.img", dir, 0);
  snprintf(junk, sizeof junk, "%s/junk.lock", dir);
  FILE *f = fopen(orphan, "w");
  assert_non_null(f);
  fputs("not an image of any entry", f);
  fclose(f);
  age(orphan, 99999, 99999);
  assert_non_null(f = fopen(junk, "w"));
  fclose(f);
  age(junk, 99999, 99999);
  assert_int_equal(unlink(one), 0);
  setenv("CIS_AOT_CACHE_MAX", "1", 1);
  compile_fixture("one");
  assert_true(entry_of("one", one, sizeof one));
  assert_false(entry_of("calls", calls, sizeof calls));
  cache_entry(NULL, 0, 1);
  assert_int_not_equal(access(orphan, F_OK), 0);
  assert_int_equal(access(junk, F_OK), 0);
  unsetenv("CIS_AOT_CACHE_MAX");
}

/* Without a compiler, auto keeps a module that has no compiled code on
 * the interpreter (it asks for the compiler only then, not when the
 * engine is made). */
static void auto_without_compiler_runs_on_interpreter(void **state) {
  (void)state;
  setenv("CIS_CC", "/nonexistent/cc", 1);
  cis_engine *e = engine("auto");
  assert_string_equal(e->ops->name, "auto");
  assert_int_equal(atomic_load(&e->compiler), 0); /* not asked yet */
  cis_module *m0 = load_ok(e, "one");
  assert_int_equal(cis__tier_state(m0), CIS__TIER_BASE);
  assert_int_equal(atomic_load(&e->compiler), -1);
  cis_module_free(m0);
  assert_int_equal(run_f(e, "one"), 1);
  cache_entry(NULL, 0, 0);
  cis_engine_free(e);
  unsetenv("CIS_CC");
  e = engine("auto"); /* with one: tiering, and the compile fills the cache */
  assert_string_equal(e->ops->name, "auto");
  cis_module *m = load_ok(e, "one");
  assert_int_equal(cis__tier_wait(m, 300000), CIS__TIER_COMPILED);
  cache_entry(NULL, 0, 1);
  cis_module_free(m);
  cis_engine_free(e);
}


/* Without CIS_ENGINE the default engine is auto: tiering, which without
 * a C compiler keeps modules on the interpreter (said once). */
static void engine_default_is_auto_with_a_compiler_else_interp(void **state) {
  (void)state;
  const char *was = getenv("CIS_ENGINE");
  char saved[64];
  snprintf(saved, sizeof saved, "%s", was ? was : "");
  unsetenv("CIS_ENGINE");
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  assert_string_equal(cfg.engine, "auto");
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  assert_string_equal(e->ops->name, "auto");
  cis_engine_free(e);
  setenv("CIS_CC", "/nonexistent/cc", 1);
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  assert_string_equal(e->ops->name, "auto");
  cis_module *m = load_ok(e, "one");
  assert_int_equal(cis__tier_state(m), CIS__TIER_BASE);
  cis_module_free(m);
  assert_int_equal(run_f(e, "one"), 1);
  cis_engine_free(e);
  unsetenv("CIS_CC");
  if (saved[0]) setenv("CIS_ENGINE", saved, 1);
}

/* ---------------------------------------------------------- tiering */

/* Calls f of m's instance inst once; returns which engine ran it: 'i'
 * (the baseline) or 'a' (compiled), from the tier's call counts. */
static char call_on(cis_module *m, cis_instance *inst) {
  uint64_t b0, a0, b1, a1;
  cis__tier_calls(m, &b0, &a0);
  int32_t r = 0;
  assert_int_equal(call(inst, "f", &r, 0), CIS_OK);
  assert_int_equal(r, 1);
  cis__tier_calls(m, &b1, &a1);
  assert_int_equal((b1 - b0) + (a1 - a0), 1);
  return a1 > a0 ? 'a' : 'i';
}

static void auto_runs_at_once_then_compiled_in_process(void **state) {
  (void)state;
  cis_engine *e = engine("auto");
  /* Held, the worker cannot have compiled before the first call. */
  cis__tier_hold(true);
  cis_module *m = load_ok(e, "one");
  assert_int_equal(cis__tier_state(m), CIS__TIER_QUEUED);
  cis_instance *before = instantiate(m, NULL, NULL);
  assert_int_equal(call_on(m, before), 'i');
  cache_entry(NULL, 0, 0);
  cis__tier_hold(false);
  assert_int_equal(cis__tier_wait(m, 300000), CIS__TIER_COMPILED);
  cache_entry(NULL, 0, 1);
  /* Later calls run compiled: in the instance made before, and in new ones. */
  assert_int_equal(call_on(m, before), 'a');
  cis_instance *after = instantiate(m, NULL, NULL);
  assert_int_equal(call_on(m, after), 'a');
  /* A call with a fuel budget stays on the interpreter (fuel's unit). */
  cis_limits l;
  cis_limits_default(&l);
  l.fuel = 1000000;
  cis_instance *fueled = instantiate(m, NULL, &l);
  assert_int_equal(call_on(m, fueled), 'i');
  cis_instance_free(fueled);
  cis_instance_free(after);
  cis_instance_free(before);
  cis_module_free(m);
  /* The same process loading it again: compiled from the first call. */
  m = load_ok(e, "one");
  assert_int_equal(cis__tier_state(m), CIS__TIER_COMPILED);
  cis_instance *again = instantiate(m, NULL, NULL);
  assert_int_equal(call_on(m, again), 'a');
  cis_instance_free(again);
  cis_module_free(m);
  cis_engine_free(e);
}

/* Runs this program again as `--child which`; returns its exit status. */
static int run_child(const char *which) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    execl("/proc/self/exe", "test_aot", "--child", which, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static void auto_next_process_finds_the_cache(void **state) {
  (void)state;
  cis_engine *e = engine("auto");
  cis_module *m = load_ok(e, "one");
  assert_int_equal(cis__tier_wait(m, 300000), CIS__TIER_COMPILED);
  cis_module_free(m);
  cis_engine_free(e);
  assert_int_equal(run_child("auto-cached"), 0);
}


/* A short run with auto exits while the C compiler still runs (here, one
 * that sleeps 30 s): the compile is left to a child process. */
static void auto_exit_does_not_wait_for_the_compiler(void **state) {
  (void)state;
  fake_cc(30);
  assert_int_equal(run_child("auto-run-once"), 0);
  pid_t cc = fake_cc_pid(); /* started by the process left behind */
  assert_true(cc > 0);
  assert_int_equal(kill(cc, 0), 0); /* still sleeping: the exit did not wait */
  kill(cc, SIGKILL);
  unsetenv("CIS_CC");
}

/* That child finishes the compile and stores the entry after the process
 * that queued it is gone; the next process runs compiled from its first
 * call. */
static void auto_exit_leaves_the_entry_for_the_next_process(void **state) {
  (void)state;
  fake_cc(1);
  assert_int_equal(run_child("auto-run-once"), 0);
  assert_true(wait_entries(1));
  assert_int_equal(run_child("auto-cached"), 0); /* the same compiler: the key names it */
  unsetenv("CIS_CC");
}

/* The compiled object is cheap to map at a cached start (cache.c's
 * flags, docs/aot.md): two loadable segments (headers, code and
 * constants; then the dynamic table), no C start files (no
 * DT_INIT/DT_FINI, no .init_array of frame_dummy), no library needed,
 * and since CIS_AOT_ABI 3 no relocation and no RELRO (the tables are
 * filled by the describe function, the entry point). It had four
 * segments and _init/_fini, then 5 relative relocations, before. */
static void aot_object_maps_in_two_segments(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1);
  cis_engine_free(e);
  char p[600];
  cache_entry(p, sizeof p, 1);
  FILE *f = fopen(p, "rb");
  assert_non_null(f);
  static uint8_t b[1 << 16];
  size_t n = fread(b, 1, sizeof b, f);
  fclose(f);
  assert_true(n > sizeof(Elf64_Ehdr));
  Elf64_Ehdr eh;
  memcpy(&eh, b, sizeof eh);
  assert_int_equal(memcmp(eh.e_ident, ELFMAG, SELFMAG), 0);
  int loads = 0, relro = 0;
  Elf64_Phdr dyn = {0};
  for (int i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    assert_true(eh.e_phoff + (size_t)(i + 1) * sizeof ph <= n);
    memcpy(&ph, b + eh.e_phoff + (size_t)i * sizeof ph, sizeof ph);
    loads += ph.p_type == PT_LOAD;
    relro += ph.p_type == PT_GNU_RELRO;
    if (ph.p_type == PT_DYNAMIC) dyn = ph;
  }
  assert_int_equal(loads, 2);
  assert_int_equal(relro, 0);
  assert_true(eh.e_entry != 0);
  assert_true(dyn.p_filesz && dyn.p_offset + dyn.p_filesz <= n);
  for (size_t o = 0; o + sizeof(Elf64_Dyn) <= dyn.p_filesz; o += sizeof(Elf64_Dyn)) {
    Elf64_Dyn d;
    memcpy(&d, b + dyn.p_offset + o, sizeof d);
    if (d.d_tag == DT_NULL) break;
    assert_true(d.d_tag != DT_NEEDED && d.d_tag != DT_INIT && d.d_tag != DT_FINI &&
                d.d_tag != DT_RELA && d.d_tag != DT_REL && d.d_tag != DT_JMPREL &&
                d.d_tag != DT_INIT_ARRAY);
  }
}

/* A key text longer than the first buffer make_key writes it into (1 KB
 * on the stack) is made again on the heap, and the entry then loads from
 * the cache: here through a compiler path of about 1.2 KB. A key text
 * past the entry format's limit (8 KB) is CIS_ETOOBIG. */
static void cache_key_longer_than_its_first_buffer_round_trips(void **state) {
  (void)state;
  char dir[2048];
  int n = snprintf(dir, sizeof dir, "%s", home);
  for (int i = 0; i < 6; i++) {
    n += snprintf(dir + n, sizeof dir - (size_t)n, "/%0200d", i);
    assert_int_equal(mkdir(dir, 0700), 0);
  }
  char cc[2100];
  snprintf(cc, sizeof cc, "%s/cc", dir);
  assert_int_equal(symlink("/usr/bin/gcc", cc), 0);
  setenv("CIS_CC", cc, 1);
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1); /* compiles */
  char p[600];
  cache_entry(p, sizeof p, 1);
  struct stat before, after;
  assert_int_equal(stat(p, &before), 0);
  assert_int_equal(run_f(e, "one"), 1); /* loads the entry, compiles nothing */
  cache_entry(p, sizeof p, 1);
  assert_int_equal(stat(p, &after), 0);
  assert_true(before.st_ino == after.st_ino && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
  cis_engine_free(e);
  /* Flags of 9 KB: past the key's limit. */
  static char flags[9300];
  memset(flags, 0, sizeof flags);
  for (size_t k = 0; k + 5 < sizeof flags - 1; k += 5) memcpy(flags + k, " -O2 ", 5);
  setenv("CIS_AOT_CFLAGS", flags, 1);
  e = engine("aot");
  cis_module *m = NULL;
  assert_int_equal(load(e, "one", &m), CIS_ETOOBIG);
  cis_engine_free(e);
  unsetenv("CIS_AOT_CFLAGS");
  unsetenv("CIS_CC");
}

/* Flags that would not fit the compiler's command are refused, never cut:
 * the key names the flags whole, so a cut command would store an object
 * under flags it was not built with. */
static void cflags_that_do_not_fit_the_command_are_too_big(void **state) {
  (void)state;
  static char flags[2100]; /* above the 1023 bytes of a command, below the key's limit */
  memset(flags, 0, sizeof flags);
  size_t k = 0;
  memcpy(flags, "-O2 -fPIC -shared", 17);
  for (k = 17; k + 21 < sizeof flags - 1; k += 21) memcpy(flags + k, " -DAOT_LONG_FLAG_NAME", 21);
  setenv("CIS_AOT_CFLAGS", flags, 1);
  cis_engine *e = engine("aot");
  cis_module *m = NULL;
  assert_int_equal(load(e, "one", &m), CIS_ETOOBIG);
  cis_engine_free(e);
  /* Short, but more words than the command has room for. */
  char many[400] = "-O2 -fPIC -shared";
  for (int i = 0; i < 30; i++) strcat(many, " -w");
  setenv("CIS_AOT_CFLAGS", many, 1);
  e = engine("aot");
  m = NULL;
  assert_int_equal(load(e, "one", &m), CIS_ETOOBIG);
  cis_engine_free(e);
  unsetenv("CIS_AOT_CFLAGS");
}

/* The cached start maps the entry itself, not a copy in a memory file. */
static void aot_cached_start_maps_the_entry(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1);
  cis_engine_free(e);
  assert_int_equal(run_child("aot-cached-maps-entry"), 0);
}

/* A cached start maps the object itself, without dlopen (fails without
 * src/aot/elf.c: the object is then in the system loader's list). */
static void aot_cached_start_maps_the_object_without_dlopen(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1);
  cis_engine_free(e);
  assert_int_equal(run_child("aot-cached-maps-without-dlopen"), 0);
}

static void aot_cached_start_loads_no_libcrypto(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1); /* compiles: the entry is there */
  cis_engine_free(e);
  assert_int_equal(run_child("aot-cached-no-libcrypto"), 0);
}

static void auto_failed_compile_stays_on_interpreter(void **state) {
  (void)state;
  setenv("CIS_CC", "/bin/false", 1);
  cis_engine *e = engine("auto");
  cis_module *m = load_ok(e, "one");
  assert_int_equal(cis__tier_wait(m, 300000), CIS__TIER_BASE);
  cis_instance *inst = instantiate(m, NULL, NULL);
  assert_int_equal(call_on(m, inst), 'i');
  cache_entry(NULL, 0, 0);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
  unsetenv("CIS_CC");
}

static void auto_modules_freed_while_queued_compile_and_leak_nothing(void **state) {
  (void)state;
  /* In a fresh process whose exit (the worker joined at exit, then
   * LeakSanitizer in the sanitized build) must be clean. */
  assert_int_equal(run_child("auto-free-queued"), 0);
  /* The compiles of the modules freed while queued still ran, for the
   * next process: one's, two's and limits' entries (limits' perhaps in
   * the child left to finish it after the exit). */
  assert_true(wait_entries(3));
  assert_int_equal(sound_entries(), 3);
}

/* The compile worker of auto runs at the process's priority even when the
 * thread whose load started it had lowered itself (as cis serve's pool
 * lowers a long call). */
static void auto_worker_runs_at_the_process_priority(void **state) {
  (void)state;
  assert_int_equal(run_child("auto-worker-priority"), 0);
}

/* The nice value of this process's thread named name (/proc/self/task/TID:
 * comm, then field 19 of stat), or 100 when there is none. */
static int thread_nice(const char *name) {
  DIR *d = opendir("/proc/self/task");
  int nice = 100;
  if (!d) return nice;
  for (struct dirent *de; nice == 100 && (de = readdir(d));) {
    if (de->d_name[0] == '.') continue;
    char path[300], buf[512] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    bool is = fgets(buf, sizeof buf, f) && !strncmp(buf, name, strlen(name));
    fclose(f);
    if (!is) continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/stat", de->d_name);
    f = fopen(path, "r");
    if (!f) continue;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* After the ")" closing comm: state is field 3, nice field 19. */
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 19; field++) p = strchr(p + 1, ' ');
    if (p) nice = atoi(p + 1);
  }
  closedir(d);
  return nice;
}

typedef struct lowered_load {
  cis_engine *e;
  cis_module *m;
  cis_result rc;
} lowered_load;

/* A thread that lowers itself to nice 10, then loads module one (its
 * compile starts the worker). */
static void *load_lowered(void *arg) {
  lowered_load *l = arg;
  l->rc = setpriority(PRIO_PROCESS, 0, 10) == 0 ? load(l->e, "one", &l->m) : CIS_EIO;
  return NULL;
}

/* dl_iterate_phdr: counts the objects the system's loader loaded from a
 * cache entry (through /proc/self/fd/N) or a memory copy of one. */
static int count_cso(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  const char *n = info->dlpi_name ? info->dlpi_name : "";
  if (strstr(n, "/proc/self/fd/") || strstr(n, "cis-aot")) ++*(int *)data;
  return 0;
}

/* The cases run in a fresh process; 0 when they hold. */
static int child_main(const char *which) {
  cis_engine *e = NULL;
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = !strncmp(which, "aot-", 4) ? "aot" : "auto";
  if (cis_engine_new(&cfg, &e) != CIS_OK) return 2;
  cis_module *m = NULL, *m2 = NULL;
  cis_instance *inst = NULL;
  int32_t r = 0;
  int bad = 0;
  if (!strcmp(which, "auto-cached")) {
    if (load(e, "one", &m) != CIS_OK) return 3;
    bad = cis__tier_state(m) != CIS__TIER_COMPILED;
    uint64_t b, a;
    bad |= cis_instance_new(m, NULL, NULL, &inst) != CIS_OK || call(inst, "f", &r, 0) != CIS_OK || r != 1;
    cis__tier_calls(m, &b, &a);
    bad |= (a != 1 || b != 0) << 1;
  } else if (!strcmp(which, "aot-cached-no-libcrypto")) {
    if (load(e, "one", &m) != CIS_OK) return 3;
    bad = cis__dynlib_loaded(&cis__crypto_lib);
    bad |= (cis_instance_new(m, NULL, NULL, &inst) != CIS_OK || call(inst, "f", &r, 0) != CIS_OK || r != 1) << 1;
  } else if (!strcmp(which, "aot-cached-no-hash-library")) {
    if (load(e, "one", &m) != CIS_OK) return 3;
    bad = cis__dynlib_loaded(&cis__crypto_lib);
    char line[1024];
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return 6;
    while (fgets(line, sizeof line, f)) bad |= (strstr(line, "libsodium") != NULL) << 1;
    fclose(f);
    bad |= (cis_instance_new(m, NULL, NULL, &inst) != CIS_OK || call(inst, "f", &r, 0) != CIS_OK || r != 1) << 2;
  } else if (!strcmp(which, "aot-cached-maps-entry")) {
    if (load(e, "one", &m) != CIS_OK) return 3;
    char line[1024];
    bool entry = false, memfd = false;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return 6;
    while (fgets(line, sizeof line, f)) {
      entry |= strstr(line, ".cso") != NULL;
      memfd |= strstr(line, "memfd:cis-aot") != NULL;
    }
    fclose(f);
    bad = !entry || memfd;
  } else if (!strcmp(which, "aot-cached-maps-without-dlopen")) {
    /* The object is mapped from the entry, executable, and the system's
     * loader does not know it: cis mapped it (src/aot/elf.c). */
    if (load(e, "one", &m) != CIS_OK) return 3;
    int known = 0;
    dl_iterate_phdr(count_cso, &known);
    char line[1024];
    bool code = false;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return 6;
    while (fgets(line, sizeof line, f)) code |= strstr(line, ".cso") && strstr(line, " r-xp ");
    fclose(f);
    bad = known != 0 || !code;
    bad |= (cis_instance_new(m, NULL, NULL, &inst) != CIS_OK || call(inst, "f", &r, 0) != CIS_OK || r != 1) << 1;
  } else if (!strcmp(which, "auto-worker-priority")) {
    cis__tier_hold(true); /* the worker waits, so it is still there to read */
    lowered_load l = {e, NULL, CIS_EIO};
    pthread_t t;
    if (pthread_create(&t, NULL, load_lowered, &l) != 0) return 3;
    pthread_join(t, NULL);
    if (l.rc != CIS_OK) return 5;
    m = l.m;
    bad = cis__tier_state(m) != CIS__TIER_QUEUED;
    int nice = 100;
    /* The worker names itself when it starts: bounded wait for it. */
    for (int i = 0; i < 500 && (nice = thread_nice("cis-aot-tier")) == 100; i++) usleep(10000);
    if (nice != getpriority(PRIO_PROCESS, 0)) {
      fprintf(stderr, "worker nice %d, process %d\n", nice, getpriority(PRIO_PROCESS, 0));
      bad |= 2;
    }
    cis__tier_hold(false);
  } else if (!strcmp(which, "auto-run-once")) {
    if (load(e, "one", &m) != CIS_OK) return 3;
    bad = cis__tier_state(m) != CIS__TIER_QUEUED;
    bad |= (cis_instance_new(m, NULL, NULL, &inst) != CIS_OK || call(inst, "f", &r, 0) != CIS_OK || r != 1) << 1;
  } else if (!strcmp(which, "auto-free-queued")) {
    cis__tier_hold(true);
    if (load(e, "two", &m2) != CIS_OK || load(e, "one", &m) != CIS_OK) return 3;
    bad = cis__tier_state(m2) != CIS__TIER_QUEUED || cis__tier_state(m) != CIS__TIER_QUEUED;
    cis_module_free(m2); /* freed while queued: its compile still runs */
    m2 = NULL;
    cis__tier_hold(false);
    bad |= (cis__tier_wait(m, 300000) != CIS__TIER_COMPILED) << 1;
    /* limits' compile may be queued, running or done when it is freed:
     * freeing waits for none of them; exit finishes them and joins the
     * worker. */
    if (load(e, "limits", &m2) != CIS_OK) return 5;
    cis_module_free(m2);
  } else {
    return 4;
  }
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
  return bad ? 10 + bad : 0;
}

static void other_cflags_make_their_own_entry(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  assert_int_equal(run_f(e, "one"), 1);
  cache_entry(NULL, 0, 1);
  /* Other flags, but an object cis maps (no start files, the describe
   * function as its entry point): cis loads nothing else. */
  setenv("CIS_AOT_CFLAGS",
         "-O1 -fPIC -shared -fsignaling-nans -w -nostartfiles -Wl,-e,cis_aot_describe", 1);
  assert_int_equal(run_f(e, "one"), 1);
  cache_entry(NULL, 0, 2); /* not the -O2 object */
  setenv("CIS_AOT_CFLAGS", "-O1 -fno-such-flag-here", 1);
  cis_module *m = NULL;
  assert_int_equal(load(e, "one", &m), CIS_EIO);
  unsetenv("CIS_AOT_CFLAGS");
  cis_engine_free(e);
}

static void aot_global_write_then_read_in_one_function(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  cis_module *m = load_ok(e, "globals");
  cis_instance *inst = instantiate(m, NULL, NULL);
  int32_t r = 0;
  assert_int_equal(call(inst, "tree", &r, 0), CIS_OK);
  assert_int_equal(r, 3);
  assert_int_equal(call(inst, "tree", &r, 0), CIS_OK);
  assert_int_equal(r, 9);
  cis_func *f = cis_instance_func(inst, "fbump");
  cis_val v;
  assert_int_equal(cis_func_call(inst, f, NULL, 0, &v, 1), CIS_OK);
  assert_true(v.of.f32 == 1.5f);
  assert_int_equal(cis_func_call(inst, f, NULL, 0, &v, 1), CIS_OK);
  assert_true(v.of.f32 == 3.0f);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--child")) return child_main(argv[2]);
  if (argc == 2) cmocka_set_test_filter(argv[1]); /* one test (or a glob) by name */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(aot_runs_and_caches_its_object, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_deadline_stops_infinite_loop, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_cancel_stops_only_that_instance, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_memory_cap_holds, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_call_depth_is_trap_stack, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_call_depth_limit_is_exact, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_recursion_without_loops_stops, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_out_of_bounds_memory_traps, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_global_write_then_read_in_one_function, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_out_of_bounds_table_traps, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_and_interp_import_each_other, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_truncated_entry_is_recompiled, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_corrupt_byte_is_recompiled, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_swapped_entry_is_recompiled, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_name_collision_is_not_loaded, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_corrupt_module_copy_or_key_text_is_recompiled, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(cache_corrupt_byte_is_recompiled_without_crc, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_cached_start_binds_no_hash_library, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_cached_load_keeps_a_shallow_stack, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_object_maps_in_two_segments, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_key_longer_than_its_first_buffer_round_trips, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(cflags_that_do_not_fit_the_command_are_too_big, setup, teardown),
      cmocka_unit_test_setup_teardown(compiler_failing_is_eio, setup, teardown),
      cmocka_unit_test_setup_teardown(compiler_missing_is_unsupported_naming_gcc, setup, teardown),
      cmocka_unit_test_setup_teardown(racing_processes_compile_once, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_list_and_prune_find_corrupt_entries, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_stays_within_its_bound_by_recent_use, setup, teardown),
      cmocka_unit_test_setup_teardown(auto_without_compiler_runs_on_interpreter, setup, teardown),
      cmocka_unit_test_setup_teardown(engine_default_is_auto_with_a_compiler_else_interp, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(other_cflags_make_their_own_entry, setup, teardown),
      cmocka_unit_test_setup_teardown(auto_runs_at_once_then_compiled_in_process, setup, teardown),
      cmocka_unit_test_setup_teardown(auto_next_process_finds_the_cache, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_cached_start_loads_no_libcrypto, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_cached_start_maps_the_entry, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_cached_start_maps_the_object_without_dlopen, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(cache_entry_loads_through_a_memory_copy, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_same_module_twice_then_another, setup, teardown),
      cmocka_unit_test_setup_teardown(auto_exit_does_not_wait_for_the_compiler, setup, teardown),
      cmocka_unit_test_setup_teardown(auto_exit_leaves_the_entry_for_the_next_process, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(auto_failed_compile_stays_on_interpreter, setup, teardown),
      cmocka_unit_test_setup_teardown(auto_worker_runs_at_the_process_priority, setup, teardown),
      cmocka_unit_test_setup_teardown(auto_modules_freed_while_queued_compile_and_leak_nothing, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
