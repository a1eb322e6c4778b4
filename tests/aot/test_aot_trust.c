/*
 * This file implements the tests of what the compiled tier trusts
 * (src/aot/cache.c, "trust"; docs/aot.md, The cache): a cache folder or
 * entry owned by another user, or writable by its group or others, is
 * refused with one warning line unless CIS_AOT_CACHE_OWNER names its
 * owner; an entry is used only while the compiler a compile would run
 * now is the one that built it; an object that needs the system's
 * dynamic loader (a constructor) is never loaded; an entry that is not a
 * regular file (a FIFO, a symbolic link) is never opened as one; and the
 * compiler runs bounded (memory, CPU time, priority; a refusal by those
 * bounds remembered; tiering never waits for another process's compile
 * of the same module). The tests run as root in CI: foreign ownership is
 * made with chown to uid 65534 (nobody), which root may do.
 */
#define _GNU_SOURCE 1 /* dl_iterate_phdr */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "aot_test.h"
#include "aot/aot.h"
#include "aot/aot_ops.h"
#include "cis/cis.h"
#include "cis/cis_aot.h"
#include "runtime/runtime.h"
#include "wat/wat.h"

static const char ONE[] = "(module (func (export \"f\") (result i32) (i32.const 1)))";
static const char SIMD[] =
    "(module (func (export \"f\") (result i32)\n"
    "  (i32x4.extract_lane 1 (i32x4.add (v128.const i32x4 1 2 3 4) (v128.const i32x4 0 -1 0 0)))))";

enum { FOREIGN = 65534 };

/* ------------------------------------------------------------ helpers */

/* Runs f of module m in an instance of its own; returns its result. */
static int32_t call_f(cis_module *m) {
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &inst), CIS_OK);
  cis_func *f = cis_instance_func(inst, "f");
  assert_non_null(f);
  cis_val r;
  assert_int_equal(cis_func_call(inst, f, NULL, 0, &r, 1), CIS_OK);
  cis_instance_free(inst);
  return r.of.i32;
}

/* Runs f of text on engine name; returns its result. */
static int32_t run_text(const char *name, const char *text) {
  cis_engine *e = engine(name);
  cis_module *m = module(e, text);
  int32_t r = call_f(m);
  cis_module_free(m);
  cis_engine_free(e);
  return r;
}

static struct stat stat_of(const char *p) {
  struct stat st;
  assert_int_equal(lstat(p, &st), 0);
  return st;
}

static void cache_dir(char *out, size_t n) { snprintf(out, n, "%s/cache", home); }

/* A compiler (a script named cc in folder home/sub) that appends its
 * name to home/cc.log, runs extra shell text (may be ""), then gcc. */
static void script_cc(const char *sub, const char *extra) {
  char dir[400], p[500];
  snprintf(dir, sizeof dir, "%s/%s", home, sub);
  mkdir(dir, 0700);
  snprintf(p, sizeof p, "%s/cc", dir);
  char tmp[520];
  snprintf(tmp, sizeof tmp, "%s.new", p);
  FILE *f = fopen(tmp, "w");
  assert_non_null(f);
  fprintf(f, "#!/bin/sh\necho %s >> '%s/cc.log'\n%s\nexec gcc \"$@\"\n", sub, home, extra);
  fclose(f);
  assert_int_equal(chmod(tmp, 0755), 0);
  assert_int_equal(rename(tmp, p), 0); /* a new file: another inode */
}

/* Runs of the script compilers so far, as "a b ..." (free it). */
static char *cc_log(void) {
  char p[300];
  snprintf(p, sizeof p, "%s/cc.log", home);
  FILE *f = fopen(p, "r");
  char *buf = calloc(1, 1024);
  assert_non_null(buf);
  if (f) {
    size_t n = fread(buf, 1, 1023, f);
    buf[n] = 0;
    fclose(f);
  }
  for (char *c = buf; *c; c++)
    if (*c == '\n') *c = ' ';
  return buf;
}

/* ---------------------------------------------------------- ownership */

static void cache_entry_of_another_user_is_refused_and_replaced(void **state) {
  (void)state;
  char p[400];
  assert_int_equal(run_text("aot", ONE), 1);
  the_entry(p, sizeof p);
  assert_int_equal(chown(p, FOREIGN, FOREIGN), 0);
  capture_begin();
  assert_int_equal(run_text("aot", ONE), 1);
  char *err = capture_end();
  assert_non_null(strstr(err, "cis: warn: compiled tier: cache entry"));
  assert_non_null(strstr(err, "owned by uid 65534"));
  assert_int_equal(count_of(err, "\n"), 1); /* one line */
  free(err);
  /* Compiled again: the entry is this user's now. */
  the_entry(p, sizeof p);
  assert_int_equal(stat_of(p).st_uid, geteuid());
}

static void cache_entry_of_the_named_owner_is_used(void **state) {
  (void)state;
  char p[400];
  assert_int_equal(run_text("aot", ONE), 1);
  the_entry(p, sizeof p);
  assert_int_equal(chown(p, FOREIGN, FOREIGN), 0);
  ino_t ino = stat_of(p).st_ino;
  const char *names[] = {"65534", getpwuid(FOREIGN) ? getpwuid(FOREIGN)->pw_name : "65534"};
  for (int i = 0; i < 2; i++) {
    setenv("CIS_AOT_CACHE_OWNER", names[i], 1);
    capture_begin();
    assert_int_equal(run_text("aot", ONE), 1);
    char *err = capture_end();
    assert_string_equal(err, "");
    free(err);
    assert_int_equal(stat_of(p).st_ino, ino); /* loaded, not compiled again */
  }
  unsetenv("CIS_AOT_CACHE_OWNER");
}

static void cache_owner_naming_no_user_trusts_no_one_more(void **state) {
  (void)state;
  char p[400];
  assert_int_equal(run_text("aot", ONE), 1);
  the_entry(p, sizeof p);
  assert_int_equal(chown(p, FOREIGN, FOREIGN), 0);
  setenv("CIS_AOT_CACHE_OWNER", "no-such-user-of-cis", 1);
  capture_begin();
  assert_int_equal(run_text("aot", ONE), 1);
  char *err = capture_end();
  assert_non_null(strstr(err, "CIS_AOT_CACHE_OWNER=no-such-user-of-cis names no user"));
  assert_non_null(strstr(err, "owned by uid 65534"));
  free(err);
  unsetenv("CIS_AOT_CACHE_OWNER");
  the_entry(p, sizeof p);
  assert_int_equal(stat_of(p).st_uid, geteuid());
}

static void cache_entry_writable_by_others_is_refused(void **state) {
  (void)state;
  char p[400];
  assert_int_equal(run_text("aot", ONE), 1);
  the_entry(p, sizeof p);
  assert_int_equal(chmod(p, 0620), 0);
  capture_begin();
  assert_int_equal(run_text("aot", ONE), 1);
  char *err = capture_end();
  assert_non_null(strstr(err, "writable by its group or others (mode 0620)"));
  free(err);
  the_entry(p, sizeof p);
  assert_int_equal(stat_of(p).st_mode & 022, 0);
}

/* A refused folder is neither read nor written: the module is compiled
 * into a private temporary folder, and the folder's entry stays as it
 * was. So for a folder of another user, and one writable by its group:
 * in the process that checked it before (its owner and mode are asked
 * at each look-up), and, for a parent spoiled, in the next process (the
 * parents are walked when a process first looks). */
static void refused_folder(void (*spoil)(const char *dir), const char *why, bool next_process) {
  char p[400], dir[300];
  assert_int_equal(run_text("aot", ONE), 1);
  the_entry(p, sizeof p);
  cache_dir(dir, sizeof dir);
  struct stat before = stat_of(p);
  spoil(dir);
  if (next_process) cis__aot_test_forget_folder();
  capture_begin();
  assert_int_equal(run_text("aot", ONE), 1);
  assert_int_equal(run_text("aot", ONE), 1);
  char *err = capture_end();
  assert_non_null(strstr(err, "cis: warn: compiled tier: cache folder"));
  assert_non_null(strstr(err, why));
  assert_int_equal(count_of(err, "\n"), 1); /* said once */
  free(err);
  struct stat after = stat_of(p);
  assert_int_equal(after.st_ino, before.st_ino);
  assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  assert_int_equal(cache_entries(), 1);
  /* auto keeps it on the interpreter: it has nowhere to compile into. */
  capture_begin();
  cis_engine *e = engine("auto");
  cis_module *m = module(e, ONE);
  assert_int_equal(cis__tier_wait(m, 300000), CIS__TIER_BASE);
  cis_module_free(m);
  cis_engine_free(e);
  free(capture_end());
}

static void foreign(const char *dir) { assert_int_equal(chown(dir, FOREIGN, FOREIGN), 0); }
static void group_writable(const char *dir) { assert_int_equal(chmod(dir, 0770), 0); }

static void cache_folder_of_another_user_is_refused(void **state) {
  (void)state;
  refused_folder(foreign, "owned by uid 65534", false);
}

static void cache_folder_writable_by_its_group_is_refused(void **state) {
  (void)state;
  refused_folder(group_writable, "writable by its group or others (mode 0770)", false);
}

/* The folders above the cache count as the cache does (ssh's
 * StrictModes): a parent of another user, or one its group may write, is
 * refused; one everybody may write with the sticky bit (as /tmp) is not. */
static void parent_of(const char *dir, char *out, size_t n) {
  snprintf(out, n, "%s", dir);
  char *slash = strrchr(out, '/');
  assert_non_null(slash);
  *slash = 0;
}
static void foreign_parent(const char *dir) {
  char up[300];
  parent_of(dir, up, sizeof up);
  foreign(up);
}
static void group_writable_parent(const char *dir) {
  char up[300];
  parent_of(dir, up, sizeof up);
  assert_int_equal(chmod(up, 0770), 0);
}

static void cache_folder_under_a_parent_of_another_user_is_refused(void **state) {
  (void)state;
  refused_folder(foreign_parent, "is owned by uid 65534", true);
}

static void cache_folder_under_a_group_writable_parent_is_refused(void **state) {
  (void)state;
  refused_folder(group_writable_parent, "without the sticky bit (mode 0770)", true);
}

static void cache_folder_under_a_sticky_parent_is_used(void **state) {
  (void)state;
  char dir[300], up[300];
  cache_dir(dir, sizeof dir);
  assert_int_equal(run_text("aot", ONE), 1);
  parent_of(dir, up, sizeof up);
  assert_int_equal(chmod(up, 01777), 0);
  capture_begin();
  assert_int_equal(run_text("aot", ONE), 1);
  char *err = capture_end();
  assert_null(strstr(err, "warn"));
  free(err);
  assert_int_equal(cache_entries(), 1);
}

/* The folder is walked (it and its parents) when a process first looks,
 * then held open: later look-ups ask only fstat of it, and reach entries
 * relative to it. */
static void cache_folder_is_walked_once_per_process(void **state) {
  (void)state;
  static const char TWO[] = "(module (func (export \"f\") (result i32) (i32.const 2)))";
  cis__aot_test_forget_folder();
  assert_int_equal(run_text("aot", ONE), 1); /* absent, then made by the compile */
  unsigned walks = cis__aot_test_folder_walks();
  assert_int_equal(run_text("aot", ONE), 1);
  assert_int_equal(run_text("aot", TWO), 2); /* a compile into the folder held */
  assert_int_equal(run_text("aot", TWO), 2);
  assert_int_equal(cis__aot_test_folder_walks(), walks);
  assert_int_equal(cache_entries(), 2);
  /* Another folder named: walked. */
  char other[300];
  snprintf(other, sizeof other, "%s/other", home);
  setenv("CIS_AOT_CACHE", other, 1);
  assert_int_equal(run_text("aot", ONE), 1);
  assert_true(cis__aot_test_folder_walks() > walks);
  unsetenv("CIS_AOT_CACHE");
}

/* Moves every file of folder from into folder to. */
static void move_files(const char *from, const char *to) {
  DIR *d = opendir(from);
  assert_non_null(d);
  for (struct dirent *de; (de = readdir(d));) {
    if (de->d_name[0] == '.') continue;
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/%s", from, de->d_name);
    snprintf(b, sizeof b, "%s/%s", to, de->d_name);
    assert_int_equal(rename(a, b), 0);
  }
  closedir(d);
}

/* A folder on the way renamed after the walk, and another cache put in
 * its place (here of another user, which a walk would refuse), is not
 * what later look-ups use: they go on in the folder walked, through its
 * descriptor, and never open the one put there. */
static void cache_folder_swapped_after_the_check_is_not_used(void **state) {
  (void)state;
  char up[300], dir[400], moved[320];
  snprintf(up, sizeof up, "%s/up", home);
  snprintf(dir, sizeof dir, "%s/cache", up);
  snprintf(moved, sizeof moved, "%s/up.moved", home);
  assert_int_equal(mkdir(up, 0700), 0);
  setenv("CIS_AOT_CACHE", dir, 1);
  assert_int_equal(run_text("aot", ONE), 1);
  unsigned walks = cis__aot_test_folder_walks();
  assert_int_equal(rename(up, moved), 0);
  assert_int_equal(mkdir(up, 0700), 0);
  assert_int_equal(mkdir(dir, 0700), 0);
  assert_int_equal(chown(dir, FOREIGN, FOREIGN), 0);
  capture_begin();
  assert_int_equal(run_text("aot", ONE), 1);
  char *err = capture_end();
  assert_null(strstr(err, "warn")); /* the one put there was never looked at */
  free(err);
  assert_int_equal(cis__aot_test_folder_walks(), walks);
  DIR *d = opendir(dir);
  assert_non_null(d);
  int files = 0;
  for (struct dirent *de; (de = readdir(d));) files += de->d_name[0] != '.';
  closedir(d);
  assert_int_equal(files, 0); /* nothing written there either */
  /* The next process walks the path: the one put there is refused. */
  cis__aot_test_forget_folder();
  capture_begin();
  assert_int_equal(run_text("aot", ONE), 1);
  err = capture_end();
  assert_non_null(strstr(err, "is owned by uid 65534"));
  free(err);
  unsetenv("CIS_AOT_CACHE");
}

/* A folder removed and made again (at the same path) is walked again,
 * and its entries used: the descriptor held names the folder removed,
 * which has no links left. */
static void cache_folder_removed_and_made_again_is_walked_again(void **state) {
  (void)state;
  char dir[300], old[320], p[400];
  cache_dir(dir, sizeof dir);
  snprintf(old, sizeof old, "%s.old", dir);
  assert_int_equal(run_text("aot", ONE), 1);
  the_entry(p, sizeof p);
  struct stat before = stat_of(p);
  unsigned walks = cis__aot_test_folder_walks();
  assert_int_equal(rename(dir, old), 0);
  assert_int_equal(mkdir(dir, 0700), 0);
  move_files(old, dir);
  assert_int_equal(rmdir(old), 0);
  /* auto runs the module compiled from its first call only when the
   * look-up found the entry (else it compiles in the background). */
  capture_begin();
  cis_engine *e = engine("auto");
  cis_module *m = module(e, ONE);
  assert_int_equal(call_f(m), 1);
  uint64_t base = 0, compiled = 0;
  cis__tier_calls(m, &base, &compiled);
  cis_module_free(m);
  cis_engine_free(e);
  char *err = capture_end();
  assert_int_equal(base, 0);
  assert_int_equal(compiled, 1);
  assert_null(strstr(err, "warn"));
  free(err);
  assert_int_equal(cis__aot_test_folder_walks(), walks + 1);
  struct stat after = stat_of(p);
  assert_int_equal(after.st_ino, before.st_ino); /* loaded, not compiled again */
}

/* A parent spoiled after the walk does not change the folder held (no
 * rename through it reaches the descriptor): this process goes on using
 * it; the next one refuses it (cache_folder_under_a_parent_of_another_user_is_refused). */
static void cache_folder_held_is_kept_when_a_parent_changes(void **state) {
  (void)state;
  char dir[300], p[400];
  cache_dir(dir, sizeof dir);
  assert_int_equal(run_text("aot", ONE), 1);
  the_entry(p, sizeof p);
  struct stat before = stat_of(p);
  unsigned walks = cis__aot_test_folder_walks();
  foreign_parent(dir);
  capture_begin();
  assert_int_equal(run_text("aot", ONE), 1);
  char *err = capture_end();
  assert_null(strstr(err, "warn"));
  free(err);
  assert_int_equal(cis__aot_test_folder_walks(), walks);
  assert_int_equal(stat_of(p).st_ino, before.st_ino);
}

/* A forked child does not use its parent's descriptor: it walks again
 * when it looks. */
static void forked_child_walks_again(void **state) {
  (void)state;
  assert_int_equal(run_text("aot", ONE), 1);
  unsigned walks = cis__aot_test_folder_walks();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    bool ok = run_text("aot", ONE) == 1 && cis__aot_test_folder_walks() == walks + 1;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_int_equal(cis__aot_test_folder_walks(), walks);
}

/* ----------------------------------------------------------- compiler */

/* An entry is used only while the compiler a compile would run now is
 * the very one that built it: another put earlier on PATH, or the file
 * replaced in place, makes the next load compile again. */
static void compiler_swapped_after_compile_compiles_again(void **state) {
  (void)state;
  const char *was = getenv("PATH");
  char *path0 = strdup(was ? was : "/usr/bin:/bin");
  char path[4096];
  script_cc("a", "");
  snprintf(path, sizeof path, "%s/a:%s", home, path0);
  setenv("PATH", path, 1);
  assert_int_equal(run_text("aot", ONE), 1);
  assert_int_equal(run_text("aot", ONE), 1); /* cached */
  char *log = cc_log();
  assert_string_equal(log, "a ");
  free(log);
  /* Another compiler of the name, earlier on PATH. */
  script_cc("b", "");
  snprintf(path, sizeof path, "%s/b:%s/a:%s", home, home, path0);
  setenv("PATH", path, 1);
  assert_int_equal(run_text("aot", ONE), 1);
  log = cc_log();
  assert_string_equal(log, "a b ");
  free(log);
  /* The same path, another file (as a package upgrade replaces it). */
  script_cc("b", "true");
  assert_int_equal(run_text("aot", ONE), 1);
  assert_int_equal(run_text("aot", ONE), 1);
  log = cc_log();
  assert_string_equal(log, "a b b ");
  free(log);
  /* No compiler at all: no entry is trusted, and aot says why. */
  setenv("PATH", "/nonexistent", 1);
  cis_engine *e = engine("aot");
  cis_module *m = NULL;
  assert_int_equal(cis_module_new_text(e, ONE, strlen(ONE), &m), CIS_EUNSUPPORTED);
  cis_engine_free(e);
  setenv("PATH", path0, 1);
  free(path0);
}

/* ------------------------------------------------- only cis's loader */

/* The objects the system's loader holds from the cache (.cso). */
static int count_cso(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  const char *n = info->dlpi_name;
  size_t l = n ? strlen(n) : 0;
  if ((l > 4 && !strcmp(n + l - 4, ".cso")) || (n && strstr(n, "/proc/self/fd/"))) ++*(int *)data;
  return 0;
}

/* A constructor planted in the generated C (by a compiler that appends
 * one) makes an object that needs the system's loader: refused with a
 * warning, never run; aot fails, auto stays on the interpreter. */
static void object_with_a_constructor_is_never_loaded(void **state) {
  (void)state;
  char extra[1200], marker[400];
  snprintf(marker, sizeof marker, "%s/constructor-ran", home);
  snprintf(extra, sizeof extra,
           "for c; do :; done\n"
           "printf '#include <fcntl.h>\\n__attribute__((constructor)) static void planted(void) "
           "{ creat(\"%s\", 0600); }\\n' >> \"$c\"",
           marker);
  script_cc("ctor", extra);
  char cc[400];
  snprintf(cc, sizeof cc, "%s/ctor/cc", home);
  setenv("CIS_CC", cc, 1);
  cis_engine *e = engine("aot");
  cis_module *m = NULL;
  capture_begin();
  assert_int_equal(cis_module_new_text(e, ONE, strlen(ONE), &m), CIS_EUNSUPPORTED);
  char *err = capture_end();
  assert_non_null(strstr(err, "needs the system's dynamic loader"));
  assert_non_null(strstr(cis_errmsg(e), "cis loads only objects it maps itself"));
  free(err);
  cis_engine_free(e);
  assert_int_equal(cache_entries(), 1); /* compiled and stored; not loaded */
  /* auto: the cache's entry is refused at load, the module runs on the
   * interpreter. */
  capture_begin();
  e = engine("auto");
  m = module(e, ONE);
  assert_int_equal(cis__tier_wait(m, 300000), CIS__TIER_BASE);
  assert_int_equal(call_f(m), 1);
  cis_module_free(m);
  cis_engine_free(e);
  err = capture_end();
  assert_non_null(strstr(err, "needs the system's dynamic loader"));
  free(err);
  int known = 0;
  dl_iterate_phdr(count_cso, &known);
  assert_int_equal(known, 0);
  assert_int_equal(access(marker, F_OK), -1);
  unsetenv("CIS_CC");
}

/* A module using v128 is mapped by cis too (its CPU level is chosen by
 * the context, not an ifunc): the system's loader holds no entry. */
static void simd_object_is_mapped_without_the_system_loader(void **state) {
  (void)state;
  assert_int_equal(run_text("aot", SIMD), 1);
  assert_int_equal(run_text("aot", SIMD), 1); /* from the cache */
  int known = 0;
  dl_iterate_phdr(count_cso, &known);
  assert_int_equal(known, 0);
}

/* ------------------------------------------------ not a regular file */

static int seen_fifo_list; /* entries cis_cache_list showed */
static bool list_one(const cis_cache_entry *e, void *user) {
  (void)user;
  assert_false(e->sound);
  seen_fifo_list++;
  return true;
}

/* A FIFO planted as an entry is never opened as one (it would block
 * the load forever): refused, and the module is compiled again. The
 * alarm fails the test rather than letting it hang. */
static void fifo_planted_as_an_entry_does_not_block(void **state) {
  (void)state;
  char p[400];
  assert_int_equal(run_text("aot", ONE), 1);
  the_entry(p, sizeof p);
  assert_int_equal(unlink(p), 0);
  assert_int_equal(mkfifo(p, 0600), 0);
  alarm(120);
  seen_fifo_list = 0;
  capture_begin();
  assert_int_equal(cis_cache_list(list_one, NULL), CIS_OK); /* listed, not opened blocking */
  assert_int_equal(seen_fifo_list, 1);
  assert_int_equal(run_text("aot", ONE), 1);
  char *err = capture_end();
  alarm(0);
  assert_non_null(strstr(err, "is not a regular file"));
  free(err);
  assert_true(S_ISREG(stat_of(p).st_mode));
}

static void symbolic_link_as_an_entry_is_refused(void **state) {
  (void)state;
  char p[400], q[500];
  assert_int_equal(run_text("aot", ONE), 1);
  the_entry(p, sizeof p);
  snprintf(q, sizeof q, "%s/elsewhere.cso", home);
  assert_int_equal(rename(p, q), 0);
  assert_int_equal(symlink(q, p), 0);
  capture_begin();
  assert_int_equal(run_text("aot", ONE), 1);
  char *err = capture_end();
  assert_non_null(strstr(err, "is a symbolic link"));
  free(err);
  assert_true(S_ISREG(stat_of(p).st_mode));
}

/* ------------------------------------------------------------- waits */

/* Another process compiling the same module holds its lock: engine aot
 * waits for it at most as long as the engine's call deadline (here 1.5
 * s, not the ten minutes of a background compile), then compiles on its
 * own. */
static void lock_wait_ends_at_the_call_deadline(void **state) {
  (void)state;
  char p[400], lock[400];
  assert_int_equal(run_text("aot", ONE), 1);
  the_entry(p, sizeof p);
  snprintf(lock, sizeof lock, "%.*s.lock", (int)(strlen(p) - 4), p);
  assert_int_equal(unlink(p), 0);
  int fd = open(lock, O_RDWR | O_CREAT, 0600);
  assert_true(fd >= 0);
  assert_int_equal(flock(fd, LOCK_EX), 0); /* another open file: cis's lock waits */
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "aot";
  cfg.limits.timeout_ms = 1500;
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  cis_module *m = module(e, ONE);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  assert_true(s >= 1.4);
  assert_true(s < 60.0);
  cis_module_free(m);
  cis_engine_free(e);
  close(fd);
  assert_int_equal(cache_entries(), 1);
}

/* The compiles of the cache (cis_cache_compiles): their states as
 * "STATE,STATE,", the pid of a running one, the message of a refused
 * one. */
typedef struct seen_compiles {
  char text[256];
  int64_t pid;
  char why[256];
} seen_compiles;

static bool note_compile(const cis_cache_compile *c, void *user) {
  seen_compiles *s = user;
  size_t l = strlen(s->text);
  snprintf(s->text + l, sizeof s->text - l, "%s,", c->state);
  assert_int_equal((int)strlen(c->key), 64);
  if (c->pid) s->pid = c->pid;
  if (c->why[0]) snprintf(s->why, sizeof s->why, "%s", c->why);
  return true;
}

static seen_compiles compiles_now(void) {
  seen_compiles s;
  memset(&s, 0, sizeof s);
  assert_int_equal(cis_cache_compiles(note_compile, &s), CIS_OK);
  return s;
}

/* ------------------------------------------------------------ bounds */

/* A module of one function with 20,000 i32 locals and 200,000 adds
 * among them (local.get a, local.get b, i32.add, local.set c), returning
 * local 0 (0: every local starts at 0): megabytes of C that gcc takes
 * long and much memory over. Made here, not kept in the tree. *len
 * receives its size (free it). */
static void leb(uint8_t **p, uint32_t v) {
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    *(*p)++ = (uint8_t)(b | (v ? 0x80 : 0));
  } while (v);
}

static uint8_t *compile_bomb(size_t *len) {
  enum { LOCALS = 20000, ADDS = 200000 };
  size_t cap = (size_t)ADDS * 14 + 4096; /* at most 4 + 4 + 1 + 4 bytes an add */
  uint8_t *body = malloc(cap), *b = body;
  assert_non_null(body);
  leb(&b, 1);
  leb(&b, LOCALS);
  *b++ = 0x7f;
  for (uint32_t i = 0; i < ADDS; i++) {
    *b++ = 0x20, leb(&b, i % LOCALS);
    *b++ = 0x20, leb(&b, (i * 7 + 1) % LOCALS);
    *b++ = 0x6a;
    *b++ = 0x21, leb(&b, (i * 13 + 2) % LOCALS);
  }
  *b++ = 0x20, leb(&b, 0);
  *b++ = 0x0b;
  size_t blen = (size_t)(b - body);
  uint8_t *m = malloc(blen + 64), *p = m;
  assert_non_null(m);
  static const uint8_t head[] = {0, 'a', 's', 'm', 1, 0, 0, 0,
                                 1, 5, 1, 0x60, 0, 1, 0x7f,    /* type: () -> i32 */
                                 3, 2, 1, 0,                   /* function 0: type 0 */
                                 7, 5, 1, 1, 'f', 0, 0};       /* export "f" */
  memcpy(p, head, sizeof head);
  p += sizeof head;
  *p++ = 10; /* code section */
  uint8_t sz[5], *q = sz;
  leb(&q, (uint32_t)blen);
  leb(&p, (uint32_t)(1 + (q - sz) + blen));
  *p++ = 1;
  leb(&p, (uint32_t)blen);
  memcpy(p, body, blen);
  p += blen;
  free(body);
  *len = (size_t)(p - m);
  return m;
}

/* The cache's files ending in suffix. */
static int files_ending(const char *suffix) {
  char dir[300];
  cache_dir(dir, sizeof dir);
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0;
  size_t sl = strlen(suffix);
  for (struct dirent *de; (de = readdir(d));) {
    size_t l = strlen(de->d_name);
    if (l > sl && !strcmp(de->d_name + l - sl, suffix)) n++;
  }
  closedir(d);
  return n;
}

/* The compiler runs with its address space, CPU time and priority
 * bounded and without core dumps (as its own ulimit and nice read
 * them), and a value of the variables that is not one is said and
 * ignored. */
static void compiler_runs_within_its_bounds(void **state) {
  (void)state;
  char extra[600], cc[400];
  snprintf(extra, sizeof extra, "echo \"v=$(ulimit -v) t=$(ulimit -t) c=$(ulimit -c) n=$(nice)\" >> '%s/bounds.log'",
           home);
  script_cc("bounded", extra);
  snprintf(cc, sizeof cc, "%s/bounded/cc", home);
  setenv("CIS_CC", cc, 1);
  setenv("CIS_AOT_CC_MAX_MEMORY", "2G", 1);
  assert_int_equal(run_text("aot", ONE), 1);
  setenv("CIS_AOT_CC_MAX_MEMORY", "lots", 1);
  setenv("CIS_AOT_CC_MAX_CPU", "7", 1);
  capture_begin();
  assert_int_equal(run_text("aot", SIMD), 1);
  char *err = capture_end();
  assert_non_null(strstr(err, "CIS_AOT_CC_MAX_MEMORY=lots is not a size"));
  free(err);
  unsetenv("CIS_AOT_CC_MAX_MEMORY");
  unsetenv("CIS_AOT_CC_MAX_CPU");
  unsetenv("CIS_CC");
  char p[400];
  snprintf(p, sizeof p, "%s/bounds.log", home);
  FILE *f = fopen(p, "r");
  assert_non_null(f);
  char l1[200] = "", l2[200] = "";
  assert_non_null(fgets(l1, sizeof l1, f));
  assert_non_null(fgets(l2, sizeof l2, f));
  fclose(f);
  int nice0 = getpriority(PRIO_PROCESS, 0), want = nice0 + 10 > 19 ? 19 : nice0 + 10;
  char w1[200], w2[200];
  snprintf(w1, sizeof w1, "v=2097152 t=60 c=0 n=%d\n", want); /* KB; a small module's 60 s */
  snprintf(w2, sizeof w2, "v=1048576 t=7 c=0 n=%d\n", want);  /* the default 1 GiB */
  assert_string_equal(l1, w1);
  assert_string_equal(l2, w2);
}

/* A module that makes the compiler go past its CPU time is refused:
 * engine aot fails with CIS_ETOOBIG, the refusal is remembered in the
 * cache (KEY.refused), so the next load does not run the compiler again,
 * and auto keeps the module on the interpreter with one line saying so.
 * A wider bound gets a new attempt. */
static void compile_bomb_is_refused_and_remembered(void **state) {
  (void)state;
  char cc[400];
  script_cc("bomb", "");
  snprintf(cc, sizeof cc, "%s/bomb/cc", home);
  setenv("CIS_CC", cc, 1);
  setenv("CIS_AOT_CC_MAX_CPU", "1", 1);
  size_t n;
  uint8_t *wasm = compile_bomb(&n);
  cis_engine *e = engine("aot");
  cis_module *m = NULL;
  assert_int_equal(cis_module_new(e, wasm, n, &m), CIS_ETOOBIG);
  assert_non_null(strstr(cis_errmsg(e), "went past its bounds"));
  assert_int_equal(files_ending(".refused"), 1);
  assert_int_equal(cache_entries(), 0);
  assert_int_equal(cis_module_new(e, wasm, n, &m), CIS_ETOOBIG);
  assert_non_null(strstr(cis_errmsg(e), "compile refused before"));
  char *log = cc_log();
  assert_string_equal(log, "bomb "); /* the compiler ran once */
  free(log);
  seen_compiles s = compiles_now(); /* listed, with the bound's message */
  assert_string_equal(s.text, "refused,");
  if (!strstr(s.why, "went past its bounds")) fail_msg("why: %s", s.why);
  cis_engine_free(e);
  /* auto: the interpreter, and the line saying why. */
  capture_begin();
  e = engine("auto");
  assert_int_equal(cis_module_new(e, wasm, n, &m), CIS_OK);
  assert_int_equal(cis__tier_wait(m, 300000), CIS__TIER_BASE);
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &inst), CIS_OK);
  cis_val r;
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "f"), NULL, 0, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 0);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
  char *err = capture_end();
  if (!strstr(err, "on the interpreter: compile refused before")) fail_msg("stderr: %s", err);
  free(err);
  log = cc_log();
  assert_string_equal(log, "bomb ");
  free(log);
  /* A wider bound: tried again (and refused again, remembered anew). */
  setenv("CIS_AOT_CC_MAX_CPU", "2", 1);
  e = engine("aot");
  assert_int_equal(cis_module_new(e, wasm, n, &m), CIS_ETOOBIG);
  assert_non_null(strstr(cis_errmsg(e), "2 s of CPU"));
  cis_engine_free(e);
  log = cc_log();
  assert_string_equal(log, "bomb bomb ");
  free(log);
  free(wasm);
  unsetenv("CIS_AOT_CC_MAX_CPU");
  unsetenv("CIS_CC");
}

/* A compiler that runs out of memory (as cc1 says it under RLIMIT_AS) is
 * a refusal by the bounds too; one that fails otherwise is not
 * remembered. */
static void compiler_out_of_memory_is_remembered_other_failures_not(void **state) {
  (void)state;
  char cc[400];
  script_cc("oom", "echo 'cc1: out of memory allocating 65536 bytes'; exit 1");
  snprintf(cc, sizeof cc, "%s/oom/cc", home);
  setenv("CIS_CC", cc, 1);
  cis_engine *e = engine("aot");
  cis_module *m = NULL;
  assert_int_equal(cis_module_new_text(e, ONE, strlen(ONE), &m), CIS_ETOOBIG);
  assert_int_equal(files_ending(".refused"), 1);
  cis_engine_free(e);
  char dir[300];
  cache_dir(dir, sizeof dir);
  assert_int_equal(cis_cache_clear(NULL), CIS_OK); /* clears the refusals too */
  assert_int_equal(files_ending(".refused"), 0);
  script_cc("oom", "echo 'error: something else'; exit 1");
  e = engine("aot");
  assert_int_equal(cis_module_new_text(e, ONE, strlen(ONE), &m), CIS_EIO);
  assert_int_equal(files_ending(".refused"), 0);
  cis_engine_free(e);
  unsetenv("CIS_CC");
}

/* Tiering never waits for another process compiling the same module (its
 * lock held): the module stays on the interpreter meanwhile, silently
 * (`cis cache list` shows the other compile), and nothing is compiled
 * twice. */
static void auto_does_not_wait_for_another_compile(void **state) {
  (void)state;
  char p[400], lock[400];
  assert_int_equal(run_text("aot", ONE), 1);
  the_entry(p, sizeof p);
  snprintf(lock, sizeof lock, "%.*s.lock", (int)(strlen(p) - 4), p);
  assert_int_equal(unlink(p), 0);
  int fd = open(lock, O_RDWR | O_CREAT, 0600);
  assert_true(fd >= 0);
  assert_int_equal(flock(fd, LOCK_EX), 0);
  capture_begin();
  cis_engine *e = engine("auto");
  cis_module *m = module(e, ONE);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(cis__tier_wait(m, 300000), CIS__TIER_BASE);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  cis_module_free(m);
  cis_engine_free(e);
  char *err = capture_end();
  assert_true(t1.tv_sec - t0.tv_sec < 60);
  assert_null(strstr(err, "interpreter"));
  free(err);
  close(fd);
  assert_int_equal(cache_entries(), 0);
}

static int hold_slot(unsigned i);

/* Loads text on engine e by a deadline ms from now (cis_module_new_until):
 * the result, the module in *m (NULL on failure) and the seconds taken. */
static cis_result load_until(cis_engine *e, const char *text, uint64_t ms, cis_module **m,
                             double *took) {
  uint8_t *bin = NULL;
  size_t n = 0;
  char msg[256];
  assert_int_equal(cis__wat_compile(text, strlen(text), &bin, &n, msg, sizeof msg), CIS_OK);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uint64_t now = (uint64_t)t0.tv_sec * 1000000000u + (uint64_t)t0.tv_nsec;
  *m = NULL;
  cis_result rc = cis_module_new_until(e, bin, n, now + ms * 1000000u, m);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  *took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  free(bin);
  return rc;
}

/* Runs of the script compilers so far (lines of home/cc.log). */
static long cc_runs(void) {
  char p[400];
  snprintf(p, sizeof p, "%s/cc.log", home);
  FILE *f = fopen(p, "r");
  long n = 0;
  for (int c; f && (c = fgetc(f)) != EOF;) n += c == '\n';
  if (f) fclose(f);
  return n;
}

/* Waits (at most 120 s) until the cache holds one entry. */
static void wait_for_the_entry(void) {
  for (int i = 0; i < 12000 && cache_entries() == 0; i++) {
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(cache_entries(), 1);
}

/* A load on a call's time (cis_module_new_until) on engine aot ends by
 * its deadline whatever holds it: a compiler slower than the call (a
 * compiler that sleeps 3 s), another process's compile of the same
 * module (its lock held), every compile slot taken. It fails with
 * CIS_ETIMEOUT near the deadline (400 ms; 2.5 s allowed for a loaded
 * machine), the compile it started goes on in a process of its own and
 * stores the entry, and the next load takes that entry in time. The
 * loads made while that compile runs wait for it: the compiler runs as
 * often as for one compile. */
static void load_on_a_deadline_ends_by_it_and_the_compile_goes_on(void **state) {
  (void)state;
  char cc[400], p[400], lock[400];
  script_cc("slow", "sleep 3");
  snprintf(cc, sizeof cc, "%s/slow/cc", home);
  setenv("CIS_CC", cc, 1);
  cis_engine *e = engine("aot");
  cis_module *m = NULL;
  double took;
  char msg[600];
  assert_int_equal(load_until(e, ONE, 400, &m, &took), CIS_ETIMEOUT);
  snprintf(msg, sizeof msg, "%s", cis_errmsg(e));
  assert_non_null(strstr(msg, "did not end by the call's deadline"));
  assert_true(took >= 0.35 && took < 2.5);
  assert_int_equal(cache_entries(), 0); /* still compiling */
  /* The calls meanwhile wait for that compile: none starts another. */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(load_until(e, ONE, 200, &m, &took), CIS_ETIMEOUT);
    assert_non_null(strstr(cis_errmsg(e), "another compile of the module is running"));
  }
  wait_for_the_entry();
  long runs = cc_runs();
  /* What one compile runs the compiler for, to compare. */
  assert_int_equal(cis_cache_clear(NULL), CIS_OK);
  assert_int_equal(load_until(e, ONE, 120000, &m, &took), CIS_OK);
  cis_module_free(m);
  assert_int_equal(cc_runs() - runs, runs);
  assert_int_equal(load_until(e, ONE, 400, &m, &took), CIS_OK);
  assert_int_equal(call_f(m), 1);
  cis_module_free(m);
  cis_engine_free(e);
  unsetenv("CIS_CC");

  /* Another process compiling it (its lock held): the load ends at its
   * deadline; the child waits for the lock and finds nothing stored, so
   * it compiles once the lock is free. (The entry of the system's
   * compiler this time: the compiler is part of the key and its lock.) */
  assert_int_equal(cis_cache_clear(NULL), CIS_OK);
  assert_int_equal(run_text("aot", ONE), 1);
  the_entry(p, sizeof p);
  snprintf(lock, sizeof lock, "%.*s.lock", (int)(strlen(p) - 4), p);
  assert_int_equal(unlink(p), 0);
  int fd = open(lock, O_RDWR | O_CREAT, 0600);
  assert_true(fd >= 0);
  assert_int_equal(flock(fd, LOCK_EX), 0);
  e = engine("aot");
  assert_int_equal(load_until(e, ONE, 400, &m, &took), CIS_ETIMEOUT);
  assert_true(took >= 0.35 && took < 2.5);
  close(fd); /* that compile ended storing nothing: the next load compiles */
  assert_int_equal(load_until(e, ONE, 120000, &m, &took), CIS_OK);
  cis_module_free(m);
  cis_engine_free(e);

  /* Every compile slot taken by compiles of other modules. */
  assert_int_equal(cis_cache_clear(NULL), CIS_OK);
  setenv("CIS_AOT_COMPILE_SLOTS", "1", 1);
  int slot = hold_slot(0);
  e = engine("aot");
  assert_int_equal(load_until(e, ONE, 400, &m, &took), CIS_ETIMEOUT);
  assert_true(took >= 0.35 && took < 2.5);
  close(slot);
  wait_for_the_entry();
  assert_int_equal(load_until(e, ONE, 400, &m, &took), CIS_OK);
  cis_module_free(m);
  cis_engine_free(e);
  unsetenv("CIS_AOT_COMPILE_SLOTS");
}

/* The step a compile's child stalls in (NULL: none), read by the child
 * in its copy of this process's memory. */
static const char *stall_step;

/* Replaces the library's weak no-op: a child that reaches stall_step
 * sleeps as one stuck on a lock would (with a 1 s bound there, not the
 * minutes a real step gets). */
void cis__aot_child_step_hook(const char *step) {
  if (stall_step && !strcmp(step, stall_step)) {
    alarm(1);
    for (;;) pause();
  }
}

/* A compile's child stuck in one of its own steps (sleeping, so its CPU
 * limit never fires) ends at the step's wall bound: its module's lock and
 * compile slot are free again, and the next compile of that module runs
 * and is stored. */
static void compile_child_stuck_in_a_step_ends_at_its_bound(void **state) {
  (void)state;
  setenv("CIS_AOT_COMPILE_SLOTS", "1", 1);
  /* Under a sanitizer the child does not generate (CIS__AOT_CHILD_GENERATES). */
  static const char *const steps[] = {"storing", "generating"};
  for (size_t i = 0; i < (CIS__AOT_CHILD_GENERATES ? 2u : 1u); i++) {
    stall_step = steps[i];
    cis_engine *a = engine("auto");
    cis_module *q = module(a, ONE);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(cis__tier_wait(q, 60000), CIS__TIER_BASE);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 30);
    cis_module_free(q);
    cis_engine_free(a);
    assert_int_equal(cache_entries(), 0);
    assert_string_equal(compiles_now().text, ""); /* nothing left holding the lock */
    stall_step = NULL;
    a = engine("auto");
    q = module(a, ONE);
    assert_int_equal(cis__tier_wait(q, 300000), CIS__TIER_COMPILED);
    cis_module_free(q);
    cis_engine_free(a);
    assert_int_equal(cache_entries(), 1);
    assert_int_equal(cis_cache_clear(NULL), CIS_OK);
  }
  unsetenv("CIS_AOT_COMPILE_SLOTS");
}

/* A compiler that leaves a FIFO where its object should be: the store
 * never opens it (it would wait for a writer forever), and the compile
 * fails at once. */
static void compiler_leaving_a_fifo_as_its_object_fails_at_once(void **state) {
  (void)state;
  char cc[400];
  script_cc("fifo", "for a; do [ \"$prev\" = -o ] && out=$a; prev=$a; done\n"
                    "gcc \"$@\" || exit 1\nrm -f \"$out\" && mkfifo \"$out\" && exit 0");
  snprintf(cc, sizeof cc, "%s/fifo/cc", home);
  setenv("CIS_CC", cc, 1);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "aot";
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  cis_module *m = NULL;
  assert_int_not_equal(cis_module_new_text(e, ONE, strlen(ONE), &m), CIS_OK);
  assert_non_null(strstr(cis_errmsg(e), "cannot read the compiled object"));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_true(t1.tv_sec - t0.tv_sec < 60);
  cis_engine_free(e);
  unsetenv("CIS_CC");
  assert_int_equal(cache_entries(), 0);
}

/* Holds compile slot i of the cache (CIS_AOT_COMPILE_SLOTS): returns the
 * descriptor to close. */
static int hold_slot(unsigned i) {
  char dir[300], p[400];
  cache_dir(dir, sizeof dir);
  mkdir(dir, 0700);
  snprintf(p, sizeof p, "%s/compile-slot-%u.lock", dir, i);
  int fd = open(p, O_RDWR | O_CREAT, 0600);
  assert_true(fd >= 0);
  assert_int_equal(flock(fd, LOCK_EX), 0);
  return fd;
}

/* With every compile slot of the folder held, a compile is queued: engine
 * aot waits for a slot (longer than its call's time: the compile ahead is
 * bounded, and failing a load that would compile is worse), tiering stays
 * on the interpreter with its compile listed as queued by the process
 * that will run it (not this one), and both go on once a slot is free. */
static void compiles_wait_for_a_slot(void **state) {
  (void)state;
  setenv("CIS_AOT_COMPILE_SLOTS", "1", 1);
  /* Engine aot: queued past its call time (400 ms), as long as the
   * compile ahead runs: a child holds the slot for 1.5 s (the lock
   * belongs to the open file, which the child keeps after the parent
   * closes its descriptor). */
  int slot = hold_slot(0);
  pid_t holder = fork();
  assert_true(holder >= 0);
  if (holder == 0) {
    struct timespec ts = {1, 500000000};
    nanosleep(&ts, NULL);
    _exit(0);
  }
  close(slot);
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "aot";
  cfg.limits.timeout_ms = 400;
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  cis_module *m = NULL;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(cis_module_new_text(e, ONE, strlen(ONE), &m), CIS_OK);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  assert_true(waited >= 1.4);
  assert_int_equal(waitpid(holder, NULL, 0), holder);
  cis_module_free(m);
  cis_engine_free(e);
  assert_int_equal(cache_entries(), 1);
  assert_int_equal(cis_cache_clear(NULL), CIS_OK);
  /* Tiering: queued in its child. */
  slot = hold_slot(0);
  cis_engine *a = engine("auto");
  cis_module *q = module(a, ONE);
  seen_compiles s;
  for (int i = 0; i < 500; i++) { /* the child takes the module's lock, then waits */
    s = compiles_now();
    if (!strcmp(s.text, "queued,")) break;
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  assert_string_equal(s.text, "queued,");
  assert_true(s.pid > 0 && s.pid != getpid());
  assert_int_equal(cis__tier_state(q), CIS__TIER_QUEUED);
  close(slot);
  assert_int_equal(cis__tier_wait(q, 300000), CIS__TIER_COMPILED);
  cis_module_free(q);
  cis_engine_free(a);
  assert_int_equal(cache_entries(), 1);
  assert_string_equal(compiles_now().text, ""); /* nothing running */
  unsetenv("CIS_AOT_COMPILE_SLOTS");
}

/* A compile slot that is not a regular file (a FIFO planted there) is
 * never waited on; with no usable slot a compile fails at once. */
static void fifo_planted_as_a_slot_does_not_block(void **state) {
  (void)state;
  setenv("CIS_AOT_COMPILE_SLOTS", "1", 1);
  char dir[300], p[400];
  cache_dir(dir, sizeof dir);
  mkdir(dir, 0700);
  snprintf(p, sizeof p, "%s/compile-slot-0.lock", dir);
  assert_int_equal(mkfifo(p, 0600), 0);
  cis_engine *e = engine("aot");
  cis_module *m = NULL;
  assert_int_equal(cis_module_new_text(e, ONE, strlen(ONE), &m), CIS_EIO);
  assert_non_null(strstr(cis_errmsg(e), "no compile slot"));
  cis_engine_free(e);
  unlink(p);
  setenv("CIS_AOT_COMPILE_SLOTS", "2", 1); /* slot 1 is a file: it compiles */
  assert_int_equal(mkfifo(p, 0600), 0);
  assert_int_equal(run_text("aot", ONE), 1);
  unlink(p);
  unsetenv("CIS_AOT_COMPILE_SLOTS");
}

int main(int argc, char **argv) {
  if (argc == 2) cmocka_set_test_filter(argv[1]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(cache_entry_of_another_user_is_refused_and_replaced, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(cache_entry_of_the_named_owner_is_used, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_owner_naming_no_user_trusts_no_one_more, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(cache_entry_writable_by_others_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_folder_of_another_user_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_folder_writable_by_its_group_is_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(cache_folder_under_a_parent_of_another_user_is_refused,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(cache_folder_under_a_group_writable_parent_is_refused,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(cache_folder_under_a_sticky_parent_is_used, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_folder_is_walked_once_per_process, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_folder_swapped_after_the_check_is_not_used, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(cache_folder_removed_and_made_again_is_walked_again, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(cache_folder_held_is_kept_when_a_parent_changes, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(forked_child_walks_again, setup, teardown),
      cmocka_unit_test_setup_teardown(compiler_swapped_after_compile_compiles_again, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(object_with_a_constructor_is_never_loaded, setup, teardown),
      cmocka_unit_test_setup_teardown(simd_object_is_mapped_without_the_system_loader, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(fifo_planted_as_an_entry_does_not_block, setup, teardown),
      cmocka_unit_test_setup_teardown(symbolic_link_as_an_entry_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(lock_wait_ends_at_the_call_deadline, setup, teardown),
      cmocka_unit_test_setup_teardown(compiler_runs_within_its_bounds, setup, teardown),
      cmocka_unit_test_setup_teardown(compile_bomb_is_refused_and_remembered, setup, teardown),
      cmocka_unit_test_setup_teardown(compiler_out_of_memory_is_remembered_other_failures_not,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(compiles_wait_for_a_slot, setup, teardown),
      cmocka_unit_test_setup_teardown(fifo_planted_as_a_slot_does_not_block, setup, teardown),
      cmocka_unit_test_setup_teardown(auto_does_not_wait_for_another_compile, setup, teardown),
      cmocka_unit_test_setup_teardown(load_on_a_deadline_ends_by_it_and_the_compile_goes_on, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(compile_child_stuck_in_a_step_ends_at_its_bound, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(compiler_leaving_a_fifo_as_its_object_fails_at_once, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
