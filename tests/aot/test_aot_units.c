/*
 * This file implements the tests of the compiled engine's units: a
 * module's C split into several translation units (codegen.c,
 * cis__aot_codegen_units), compiled each on its own and linked into one
 * object (cache.c, compile_units), with the compile's progress said in
 * its lock file, unit by unit, and read back by cis_cache_compiles; and
 * that listing on hostile state files in the cache folder.
 * Each test gets a fresh $CIS_HOME, so each starts with an empty cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "aot/aot.h"
#include "cis/cis.h"
#include "cis/cis_aot.h"
#include "aot_test.h"

/* Functions of the generated module. */
#define NF 40

/* A module of NF functions f0..f{NF-1}, each calling another directly
 * and a third through the table (a recursion that ends at 0), with
 * mutual recursion between the first and the last function (even, odd),
 * a function of two results and one of v128 at the end called from the
 * start, and a trap in the middle: spread over many units, most calls
 * cross one. The text is on the heap. */
static char *units_module(void) {
  size_t cap = 64 * 1024, len = 0;
  char *t = malloc(cap);
  assert_non_null(t);
#define PUT(...) (len += (size_t)snprintf(t + len, cap - len, __VA_ARGS__), assert_true(len < cap))
  PUT("(module\n (type $t (func (param i32) (result i32)))\n (table %d funcref)\n (elem (i32.const 0)",
      NF);
  for (int k = 0; k < NF; k++) PUT(" $f%d", k);
  PUT(")\n");
  PUT(" (func $even (export \"even\") (param i32) (result i32)\n"
      "  (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 1))\n"
      "   (else (call $odd (i32.sub (local.get 0) (i32.const 1))))))\n");
  PUT(" (func (export \"use_pair\") (param i32) (result i32)\n"
      "  (call $pair (local.get 0)) (i32.sub) (call $vsum (local.get 0)) (i32.add))\n");
  for (int k = 0; k < NF; k++) {
    PUT(" (func $f%d (export \"f%d\") (param i32) (result i32)\n"
        "  (if (result i32) (i32.le_s (local.get 0) (i32.const 0)) (then (i32.const %d))\n"
        "   (else (i32.add (i32.mul (call $f%d (i32.sub (local.get 0) (i32.const 1)))\n"
        "                           (i32.const 31))\n"
        "          (call_indirect (type $t) (i32.shr_u (i32.sub (local.get 0) (i32.const 1))\n"
        "                                              (i32.const 1))\n"
        "                         (i32.const %d))))))\n",
        k, k, k, (k * 7 + 3) % NF, (k * 11 + 5) % NF);
    if (k == NF / 2)
      PUT(" (func (export \"div\") (param i32) (result i32)\n"
          "  (i32.div_s (call $f1 (local.get 0)) (i32.sub (local.get 0) (i32.const 3))))\n");
  }
  PUT(" (func $pair (param i32) (result i32 i32)\n"
      "  (i32.mul (local.get 0) (i32.const 3)) (call $f5 (local.get 0)))\n"
      " (func $vsum (param i32) (result i32)\n"
      "  (i32x4.extract_lane 2 (i32x4.add (i32x4.splat (local.get 0))\n"
      "                                  (v128.const i32x4 1 2 3 4))))\n"
      " (func $odd (export \"odd\") (param i32) (result i32)\n"
      "  (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))\n"
      "   (else (call $even (i32.sub (local.get 0) (i32.const 1)))))))\n");
#undef PUT
  return t;
}

static cis_result call1(cis_instance *inst, const char *name, int32_t x, int32_t *r) {
  cis_func *f = cis_instance_func(inst, name);
  assert_non_null(f);
  cis_val a, v;
  memset(&a, 0, sizeof a);
  a.type = CIS_I32;
  a.of.i32 = x;
  cis_result rc = cis_func_call(inst, f, &a, 1, &v, 1);
  *r = rc == CIS_OK ? v.of.i32 : 0;
  return rc;
}

/* The module above in many units gives the interpreter's results and
 * traps, for every function, and is one entry in the cache; its C has
 * several units, the functions called across units hidden in the shared
 * head, the others static in their unit. */
static void aot_units_match_interpreter_across_units(void **state) {
  (void)state;
  setenv("CIS_AOT_UNIT_SIZE", "96", 1);
  char *text = units_module();
  cis_engine *ei = engine("interp"), *ea = engine("aot");
  cis_module *mi = module(ei, text), *ma = module(ea, text);
  assert_int_equal(cache_entries(), 1);
  cis__aot_units u;
  char msg[256] = "";
  assert_int_equal(cis__aot_codegen_units(ma->m, "0", 96, &u, msg, sizeof msg), CIS_OK);
  assert_true(u.n >= 8);
  assert_non_null(strstr(u.head.p, "visibility(\"hidden\"))) uint32_t w0(")); /* odd calls even */
  assert_null(strstr(u.head.p, " w1(")); /* use_pair: exported, called by no function */
  assert_non_null(strstr(u.unit[0].p, "static uint32_t w1("));
  uint64_t sum = 0, most = 0;
  for (uint32_t k = 0; k < u.n; k++) {
    sum += u.wasm_bytes[k];
    if (u.wasm_bytes[k] > most) most = u.wasm_bytes[k];
  }
  assert_true(most <= 2 * (sum / u.n) + 64); /* balanced */
  cis__aot_units_free(&u);
  cis_instance *ii = NULL, *ia = NULL;
  assert_int_equal(cis_instance_new(mi, NULL, NULL, &ii), CIS_OK);
  assert_int_equal(cis_instance_new(ma, NULL, NULL, &ia), CIS_OK);
  static const char *const more[] = {"even", "odd", "use_pair", "div"};
  for (int k = 0; k < NF + 4; k++) {
    char name[16];
    snprintf(name, sizeof name, "f%d", k);
    const char *n = k < NF ? name : more[k - NF];
    for (int32_t x = -1; x < 14; x++) {
      int32_t ri, ra;
      cis_result rci = call1(ii, n, x, &ri), rca = call1(ia, n, x, &ra);
      if (rci != rca || ri != ra)
        fail_msg("%s(%d): interp %s %d, aot %s %d", n, x, cis_errname(rci), ri, cis_errname(rca),
                 ra);
    }
  }
  int32_t r;
  assert_int_equal(call1(ia, "div", 3, &r), CIS_TRAP_DIV_ZERO);
  assert_int_equal(call1(ia, "even", 2001, &r), CIS_OK);
  assert_int_equal(r, 0);
  cis_instance_free(ii);
  cis_instance_free(ia);
  cis_module_free(mi);
  cis_module_free(ma);
  cis_engine_free(ei);
  cis_engine_free(ea);
  free(text);
  unsetenv("CIS_AOT_UNIT_SIZE");
}

/* A module under one and a half units of code is one unit, whose text is
 * cis__aot_codegen's: small modules compile as before. */
static void aot_small_module_is_one_unit(void **state) {
  (void)state;
  cis_engine *e = engine("interp");
  char *text = units_module();
  cis_module *m = module(e, text);
  cis__aot_units u;
  char msg[256] = "";
  assert_int_equal(cis__aot_codegen_units(m->m, "0", CIS__AOT_UNIT_BYTES, &u, msg, sizeof msg),
                   CIS_OK);
  assert_int_equal(u.n, 1);
  cis__aot_buf one = {0};
  assert_int_equal(cis__aot_codegen(m->m, "0", &one, msg, sizeof msg), CIS_OK);
  assert_int_equal(one.len, u.head.len + u.unit[0].len);
  assert_memory_equal(one.p, u.head.p, u.head.len);
  assert_memory_equal(one.p + u.head.len, u.unit[0].p, u.unit[0].len);
  /* its functions static: the only hidden symbols are the prelude's
   * memset and kin (AOT_OWN_LIBC, defined once) */
  const char *hidden = strstr(one.p, "visibility(\"hidden\")");
  assert_non_null(hidden);
  assert_null(strstr(hidden + 1, "visibility(\"hidden\")"));
  cis__aot_buf_free(&one);
  cis__aot_units_free(&u);
  cis_module_free(m);
  cis_engine_free(e);
  free(text);
}

/* What the progress hook saw, and what the lock file said then. */
static struct {
  bool on;
  int n;
  char phase[64][16];
  uint32_t done[64], total[64];
  char listed[64][16];  /* the state cis_cache_compiles read for this process */
  uint32_t ldone[64], ltotal[64];
} seen;

static bool own_state(const cis_cache_compile *c, void *user) {
  int i = *(int *)user;
  if (c->pid != (int64_t)getpid()) return true;
  snprintf(seen.listed[i], sizeof seen.listed[i], "%s", c->state);
  seen.ldone[i] = c->units_done;
  seen.ltotal[i] = c->units;
  return false;
}

void cis__aot_progress_hook(const char *key, const char *phase, uint32_t done, uint32_t total) {
  (void)key;
  if (!seen.on || seen.n >= 64) return;
  int i = seen.n++;
  snprintf(seen.phase[i], sizeof seen.phase[i], "%s", phase);
  seen.done[i] = done;
  seen.total[i] = total;
  cis_cache_compiles(own_state, &i);
}

/* A compile in units says, before each, how many are done of how many,
 * then that it links them all: monotonically, ending at N of N, and
 * cis_cache_compiles reads the same from the lock file at each step. */
static void aot_progress_counts_units_to_the_last(void **state) {
  (void)state;
  setenv("CIS_AOT_UNIT_SIZE", "300", 1);
  setenv("CIS_AOT_COMPILE_SLOTS", "1", 1); /* one unit at a time */
  memset(&seen, 0, sizeof seen);
  seen.on = true;
  char *text = units_module();
  cis_engine *e = engine("aot");
  cis_module *m = module(e, text);
  seen.on = false;
  assert_true(seen.n >= 4);
  assert_string_equal(seen.phase[0], "queued");
  uint32_t total = seen.total[seen.n - 1], last = 0;
  assert_true(total >= 3);
  assert_string_equal(seen.phase[seen.n - 1], "linking");
  assert_int_equal(seen.done[seen.n - 1], total);
  int compiling = 0;
  for (int i = 0; i < seen.n; i++) {
    assert_string_equal(seen.listed[i], seen.phase[i]); /* the lock file says the same */
    assert_int_equal(seen.ldone[i], seen.done[i]);
    assert_int_equal(seen.ltotal[i], seen.total[i]);
    if (strcmp(seen.phase[i], "compiling") && strcmp(seen.phase[i], "linking")) continue;
    assert_int_equal(seen.total[i], total);
    assert_true(seen.done[i] >= last);
    assert_true(!strcmp(seen.phase[i], "linking") || seen.done[i] == last + (compiling ? 1u : 0u));
    last = seen.done[i];
    compiling++;
  }
  assert_int_equal(compiling, (int)total + 1);
  cis_module_free(m);
  cis_engine_free(e);
  free(text);
  unsetenv("CIS_AOT_COMPILE_SLOTS");
  unsetenv("CIS_AOT_UNIT_SIZE");
}

/* Compiles of the cache folder as "STATE:WHY;" each, or as "STATE
 * DONE/TOTAL;" for one running. */
static bool note(const cis_cache_compile *c, void *user) {
  char *s = user;
  size_t l = strlen(s);
  if (c->pid) snprintf(s + l, 1024 - l, "%s %u/%u;", c->state, c->units_done, c->units);
  else snprintf(s + l, 1024 - l, "%s:%s;", c->state, c->why);
  return true;
}

static void listed(char out[1024]) {
  out[0] = 0;
  assert_int_equal(cis_cache_compiles(note, out), CIS_OK);
}

static void put_file(const char *dir, const char *name, const char *text, size_t n) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, n), (ssize_t)n);
  close(fd);
}

#define K64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Hostile state files in the cache folder: a lock whose holder is gone
 * (whatever it says) is no compile; one held with a garbled line is
 * "unreadable"; refusal records that are garbage, cut short, not a
 * regular file or someone else's are "corrupt" with what is wrong; none
 * stops the listing or the parsers. */
static void hostile_state_files_list_as_clear_lines(void **state) {
  (void)state;
  char dir[400], s[1024];
  assert_int_equal(cis_cache_dir(dir, sizeof dir), CIS_OK);
  assert_int_equal(mkdir(dir, 0700), 0);
  static const char stale[] = "compiling 999999 1700000000 3 8\n";
  put_file(dir, K64 ".lock", stale, sizeof stale - 1);
  listed(s);
  assert_string_equal(s, ""); /* its process is gone: no lock held */
  char p[512];
  snprintf(p, sizeof p, "%s/" K64 ".lock", dir);
  int fd = open(p, O_RDWR);
  assert_true(fd >= 0);
  assert_int_equal(flock(fd, LOCK_EX), 0);
  listed(s);
  assert_string_equal(s, "compiling 3/8;");
  static const char *const bad[] = {
      "compiling 12 5 9 8\n", "compiling -3 5\n", "compiling 12\n", "linking 12 5 1 99999\n",
      "compiling 12 5 1 2 3\n", "\xff\xfe garbage", "compiling 99999999999 5\n", "queued 0 5\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, bad[i], strlen(bad[i]), 0), (ssize_t)strlen(bad[i]));
    listed(s);
    if (strncmp(s, "unreadable:", 11) != 0) fail_msg("%s listed as %s", bad[i], s);
  }
  close(fd);
  unlink(p);
  static const char garbage[] = "\x00\x01not a record";
  put_file(dir, K64 ".refused", garbage, sizeof garbage - 1);
  listed(s);
  assert_non_null(strstr(s, "corrupt:its refusal record is not one cis writes"));
  static const char cut[] = "cis-aot-refused 1073741824";
  put_file(dir, K64 ".refused", cut, sizeof cut - 1);
  listed(s);
  assert_non_null(strstr(s, "corrupt:"));
  static const char good[] = "cis-aot-refused 1073741824 60\nthe C compiler went past its bounds\n";
  put_file(dir, K64 ".refused", good, sizeof good - 1);
  listed(s);
  assert_string_equal(s, "refused:the C compiler went past its bounds;");
  if (geteuid() == 0) {
    snprintf(p, sizeof p, "%s/" K64 ".refused", dir);
    assert_int_equal(chown(p, 12345, 12345), 0);
    listed(s);
    assert_non_null(strstr(s, "corrupt:its refusal record belongs to user 12345"));
  }
  snprintf(p, sizeof p, "%s/" K64 ".refused", dir);
  unlink(p);
  assert_int_equal(mkfifo(p, 0600), 0);
  listed(s);
  assert_non_null(strstr(s, "corrupt:its refusal record is not a regular file"));
  unlink(p);
  assert_int_equal(symlink("/etc/passwd", p), 0);
  listed(s);
  assert_non_null(strstr(s, "corrupt:its refusal record cannot be opened"));
  unlink(p);
}

/* Writes an executable script at home/NAME that runs body (sh). */
static void script(char *path, size_t cap, const char *name, const char *body) {
  snprintf(path, cap, "%s/%s", home, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "#!/bin/sh\n%s\n", body);
  fclose(f);
  assert_int_equal(chmod(path, 0700), 0);
}

/* Files of the cache folder other than entries, locks, slots and
 * refusals: what a compile left behind. */
static int leftovers(void) {
  static const char *const kept[] = {".cso", ".lock", ".refused", NULL};
  return cache_files(kept, true);
}

/* A unit the compiler fails on fails the compile, with the compiler's
 * output, and leaves no file behind; a unit that goes past the CPU bound
 * refuses the module, and the refusal is remembered and listed. */
static void aot_unit_failing_or_past_its_bounds_fails_the_compile(void **state) {
  (void)state;
  setenv("CIS_AOT_UNIT_SIZE", "300", 1);
  char cc[400];
  script(cc, sizeof cc, "failcc",
         "for a; do case $a in *.u1.c) echo 'unit one: no good' >&2; exit 1;; esac; done\n"
         "exec gcc \"$@\"");
  setenv("CIS_CC", cc, 1);
  char *text = units_module();
  cis_engine *e = engine("aot");
  cis_module *m = NULL;
  assert_int_equal(cis_module_new_text(e, text, strlen(text), &m), CIS_EIO);
  assert_non_null(strstr(cis_errmsg(e), "unit one: no good"));
  assert_int_equal(cache_entries(), 0);
  assert_int_equal(leftovers(), 0);
  cis_engine_free(e);
  script(cc, sizeof cc, "spincc",
         "for a; do case $a in *.u1.c) while :; do :; done;; esac; done\nexec gcc \"$@\"");
  setenv("CIS_CC", cc, 1);
  setenv("CIS_AOT_CC_MAX_CPU", "1", 1);
  e = engine("aot");
  assert_int_equal(cis_module_new_text(e, text, strlen(text), &m), CIS_ETOOBIG);
  assert_non_null(strstr(cis_errmsg(e), "went past its bounds"));
  assert_int_equal(cis_module_new_text(e, text, strlen(text), &m), CIS_ETOOBIG);
  assert_non_null(strstr(cis_errmsg(e), "refused before"));
  char s[1024];
  listed(s);
  assert_non_null(strstr(s, "refused:"));
  assert_int_equal(leftovers(), 0);
  cis_engine_free(e);
  free(text);
  unsetenv("CIS_AOT_CC_MAX_CPU");
  unsetenv("CIS_CC");
  unsetenv("CIS_AOT_UNIT_SIZE");
}

/* With compile slots free, the units compile side by side, one per slot
 * (the compiler's wrapper counts the runs at once), and the object is
 * the same module's; the slots are free again after. */
static void aot_units_compile_side_by_side_on_free_slots(void **state) {
  (void)state;
  setenv("CIS_AOT_UNIT_SIZE", "300", 1);
  setenv("CIS_AOT_COMPILE_SLOTS", "3", 1);
  char cc[400], body[1200];
  snprintf(body, sizeof body,
           "case \"$*\" in *' -c '*) ;; *) exec gcc \"$@\";; esac\n"
           "touch %s/run.$$\nsleep 1\nls %s/run.* | wc -l >>%s/overlap\n"
           "gcc \"$@\"; rc=$?\nrm -f %s/run.$$\nexit $rc", home, home, home, home);
  script(cc, sizeof cc, "paircc", body);
  setenv("CIS_CC", cc, 1);
  char *text = units_module();
  cis_engine *e = engine("aot");
  cis_module *m = module(e, text);
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &inst), CIS_OK);
  int32_t r;
  assert_int_equal(call1(inst, "even", 10, &r), CIS_OK);
  assert_int_equal(r, 1);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
  char p[600];
  snprintf(p, sizeof p, "%s/overlap", home);
  FILE *f = fopen(p, "r");
  assert_non_null(f);
  int most = 0, runs = 0, x;
  while (fscanf(f, "%d", &x) == 1) runs++, most = x > most ? x : most;
  fclose(f);
  assert_true(runs >= 3);
  assert_true(most >= 2);
  assert_true(most <= 3);
  char s[1024];
  listed(s);
  assert_string_equal(s, "");
  /* All three slots are free: none is left held. */
  char dir[400];
  assert_int_equal(cis_cache_dir(dir, sizeof dir), CIS_OK);
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/compile-slot-%d.lock", dir, i);
    int fd = open(p, O_RDWR);
    if (fd < 0) continue;
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    close(fd);
  }
  free(text);
  unsetenv("CIS_CC");
  unsetenv("CIS_AOT_COMPILE_SLOTS");
  unsetenv("CIS_AOT_UNIT_SIZE");
}

int main(int argc, char **argv) {
  if (argc == 2) cmocka_set_test_filter(argv[1]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(aot_units_match_interpreter_across_units, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_small_module_is_one_unit, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_progress_counts_units_to_the_last, setup, teardown),
      cmocka_unit_test_setup_teardown(hostile_state_files_list_as_clear_lines, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_unit_failing_or_past_its_bounds_fails_the_compile, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(aot_units_compile_side_by_side_on_free_slots, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
