/*
 * This file implements the tests of what a cached start of the compiled
 * engine does, and does not do (docs/aot.md, Cached start): a module whose
 * very bytes are in the cache is not validated again; the main thread's
 * stack bound is found without reading /proc/self/maps; the compiler's
 * identity is in the key; the object is one mapping; the entry is opened
 * and checked through its descriptor, never stat'ed by its path; a big
 * module is decoded from its entry's copy of its bytes. It is linked with --wrap for cis__module_validate,
 * pthread_getattr_np and stat, so that it can count the calls the library
 * makes to them.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cis/cis.h"
#include "aot/aot_ops.h"
#include "aot_test.h"
#include "cis/cis_aot.h"
#include "runtime/runtime.h"
#include "wasm/module.h"

/* ------------------------------------------------------------- wraps */

static atomic_int validations;       /* calls to cis__module_validate */
static atomic_int getattr_main;      /* pthread_getattr_np on the main thread */
static atomic_int getattr_other;     /* on other threads */
static atomic_int stats_entry;       /* stat of a cache entry (.cso) */
static atomic_int stats_other;       /* stat of anything else */

cis_result __real_cis__module_validate(cis__module *m, cis__diag *d);
cis_result __wrap_cis__module_validate(cis__module *m, cis__diag *d) {
  atomic_fetch_add(&validations, 1);
  return __real_cis__module_validate(m, d);
}

/* Counts stat by what it is of. */
int __real_stat(const char *p, struct stat *st);
int __wrap_stat(const char *p, struct stat *st) {
  int r = __real_stat(p, st);
  size_t l = strlen(p);
  bool entry = l > 4 && !strcmp(p + l - 4, ".cso");
  atomic_fetch_add(entry ? &stats_entry : &stats_other, 1);
  return r;
}

int __real_pthread_getattr_np(pthread_t t, pthread_attr_t *a);
int __wrap_pthread_getattr_np(pthread_t t, pthread_attr_t *a) {
  atomic_fetch_add(getpid() == gettid() ? &getattr_main : &getattr_other, 1);
  return __real_pthread_getattr_np(t, a);
}

/* (module (global $g (mut i32) (i32.const 0))
 *   (func $rec (export "rec") (param i32) (result i32)
 *   (call $rec (i32.add (local.get 0) (i32.const K)))
 *   (global.set $g (local.get 0)))
 *   (func (export "add") (param i32 i32) (result i32)
 *   (i32.add (local.get 0) (local.get 1)))): K at byte K_AT, so that
 * each K is another module (another cache entry). The global set after
 * the call keeps each frame on the native stack: a plain tail call gcc
 * makes a loop, which only the depth limit stops. */
static const uint8_t mod_bytes[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x02, 0x60, 0x01, 0x7f,
    0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x03, 0x02, 0x00, 0x01, 0x06,
    0x06, 0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b, 0x07, 0x0d, 0x02, 0x03, 0x72, 0x65, 0x63,
    0x00, 0x00, 0x03, 0x61, 0x64, 0x64, 0x00, 0x01, 0x0a, 0x17, 0x02, 0x0d, 0x00, 0x20,
    0x00, 0x41, 0x01, 0x6a, 0x10, 0x00, 0x20, 0x00, 0x24, 0x00, 0x0b, 0x07, 0x00, 0x20,
    0x00, 0x20, 0x01, 0x6a, 0x0b};
#define K_AT 58

static cis_result load(cis_engine *e, uint8_t k, cis_module **out) {
  uint8_t b[sizeof mod_bytes];
  memcpy(b, mod_bytes, sizeof b);
  b[K_AT] = k;
  return cis_module_new(e, b, sizeof b, out);
}

static int32_t add(cis_module *m, int32_t a, int32_t b) {
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &inst), CIS_OK);
  cis_func *f = cis_instance_func(inst, "add");
  assert_non_null(f);
  cis_val args[2] = {{.type = CIS_I32, .of.i32 = a}, {.type = CIS_I32, .of.i32 = b}}, r;
  assert_int_equal(cis_func_call(inst, f, args, 2, &r, 1), CIS_OK);
  /* Compiled code only: no value stack made (the interpreter's). */
  if (!strcmp(m->engine->ops->name, "aot")) assert_null(inst->stack);
  cis_instance_free(inst);
  return r.of.i32;
}

/* ------------------------------------------------------------- tests */

/* The first load compiles (and validates); a second load of the very
 * same bytes, in this process or from the cache in the next, is not
 * validated again and runs; another module (one byte differs) is
 * validated; the interpreter always validates. Fails without the cache
 * lookup before validation (src/runtime/module.c, prepare_known). */
static void aot_cached_module_is_not_validated_again(void **state) {
  (void)state;
  const char *engines[] = {"aot", "auto"};
  for (int i = 0; i < 2; i++) {
    cis_engine *e = engine(engines[i]);
    cis_module *m = NULL;
    uint8_t k = (uint8_t)(1 + i);
    if (i == 0) { /* aot compiles at the load; auto would compile in the background */
      int v0 = atomic_load(&validations);
      assert_int_equal(load(e, k, &m), CIS_OK);
      assert_int_equal(atomic_load(&validations), v0 + 1);
      assert_int_equal(add(m, 40, 2), 42);
      cis_module_free(m);
    } else {
      cis_engine *ea = engine("aot");
      assert_int_equal(load(ea, k, &m), CIS_OK);
      cis_module_free(m);
      cis_engine_free(ea);
    }
    /* The entry is in the cache: loaded with no validation. */
    int v1 = atomic_load(&validations);
    assert_int_equal(load(e, k, &m), CIS_OK);
    assert_int_equal(atomic_load(&validations), v1);
    assert_int_equal(add(m, 40, 3), 43);
    cis_module_free(m);
    /* Another module is validated (and compiled, on aot). */
    if (i == 0) {
      assert_int_equal(load(e, 9, &m), CIS_OK);
      assert_int_equal(atomic_load(&validations), v1 + 1);
      cis_module_free(m);
    }
    cis_engine_free(e);
  }
  /* The interpreter has no cache: it validates every time. */
  cis_engine *ei = engine("interp");
  cis_module *m = NULL;
  int v2 = atomic_load(&validations);
  assert_int_equal(load(ei, 1, &m), CIS_OK);
  assert_int_equal(atomic_load(&validations), v2 + 1);
  cis_module_free(m);
  cis_engine_free(ei);
}

/* An invalid module is refused with the validator's error on the
 * compiled engine, whatever the cache holds. */
static void aot_invalid_module_is_still_refused(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  uint8_t b[sizeof mod_bytes];
  memcpy(b, mod_bytes, sizeof b);
  b[K_AT - 1] = 0x42; /* i64.const where an i32 is added: a type error */
  cis_module *m = NULL;
  int v = atomic_load(&validations);
  assert_int_not_equal(cis_module_new(e, b, sizeof b, &m), CIS_OK);
  assert_null(m);
  assert_int_equal(atomic_load(&validations), v + 1);
  cis_engine_free(e);
}

/* Lines of /proc/self/maps that map a cache entry (KEY.cso). */
static int entry_mappings(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  assert_non_null(f);
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, home) && strstr(line, ".cso")) n++;
  fclose(f);
  return n;
}

/* The module of load(e, k, ...) decoded and validated for the cache's
 * own look-up (cis__aot_cached). */
static cis__module *internal_module(uint8_t k) {
  uint8_t b[sizeof mod_bytes];
  memcpy(b, mod_bytes, sizeof b);
  b[K_AT] = k;
  cis__module *m = NULL;
  cis__diag d;
  memset(&d, 0, sizeof d);
  assert_int_equal(cis__module_decode(b, sizeof b, &m, &d), CIS_OK);
  assert_int_equal(__real_cis__module_validate(m, &d), CIS_OK);
  return m;
}

static ino_t inode_of(const char *path) {
  struct stat st;
  assert_int_equal(__real_stat(path, &st), 0);
  return st.st_ino;
}

/* Makes cc a script that runs gcc, and CIS_CC name it. */
static void use_compiler_script(const char *cc) {
  FILE *f = fopen(cc, "w");
  assert_non_null(f);
  fputs("#!/bin/sh\nexec gcc \"$@\"\n", f);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(chmod(cc, 0755), 0);
  setenv("CIS_CC", cc, 1);
}

/* The compiler's identity is part of what an entry is for (issue 12: the
 * compiler's identity and flags): the key names the compiler asked for
 * (CIS_CC or cc) and the entry records the file that built it, with its
 * device, inode, size and mtime. The same compiler loads its entry with
 * one stat of the compiler (CIS_CC resolved as a compile resolves it: a
 * path, so no walk along PATH) and none of the cache folder (walked with
 * the folders above it at the process's first look-up, then held open:
 * an fstat of it asks its owner and mode), none of the entry (opened, then fstat: its owner,
 * mode and size from the descriptor read) and one mapping (its one
 * segment of code: the dynamic table after it is not mapped, no span is
 * reserved around it); the compiler replaced (an upgrade: here another
 * mtime) makes the entry unsound, for a load and for tiering's look-up
 * alike, and it is compiled again; CIS_CC's compiler unchanged loads its
 * entry though PATH finds no compiler; and with the compiler gone the
 * compiled engine fails with the missing compiler's error, cached module
 * or not. */
static void aot_cache_key_holds_the_compilers_identity(void **state) {
  (void)state;
  char cc[300];
  snprintf(cc, sizeof cc, "%s/cc", home);
  use_compiler_script(cc);
  cis_engine *e = engine("aot");
  cis_module *m = NULL;
  assert_int_equal(load(e, 12, &m), CIS_OK); /* compiles */
  assert_int_equal(cache_entries(), 1);
  cis_module_free(m);
  int se = atomic_load(&stats_entry), so = atomic_load(&stats_other);
  assert_int_equal(load(e, 12, &m), CIS_OK);
  assert_int_equal(atomic_load(&stats_entry) - se, 0);
  /* The compiler only: the folder is held (cache.c, dir_trusted). */
  assert_int_equal(atomic_load(&stats_other) - so, 1);
  assert_int_equal(entry_mappings(), 1);
  assert_int_equal(add(m, 40, 2), 42);
  cis_module_free(m);
  assert_int_equal(cache_entries(), 1);
  /* auto: making the engine looks for no compiler, and a cached module
   * loads with the same stats (compiled code from the first call). */
  int so0 = atomic_load(&stats_other), se0 = atomic_load(&stats_entry);
  cis_engine *ea = engine("auto");
  assert_int_equal(atomic_load(&stats_other), so0);
  assert_int_equal(load(ea, 12, &m), CIS_OK);
  assert_int_equal(atomic_load(&stats_other) - so0, 1);
  assert_int_equal(atomic_load(&stats_entry) - se0, 0);
  assert_int_equal(cis__tier_state(m), CIS__TIER_COMPILED);
  cis_module_free(m);
  cis_engine_free(ea);
  /* The compiler replaced: the entry is unsound, compiled again. */
  char entry[600];
  the_entry(entry, sizeof entry);
  ino_t was = inode_of(entry);
  cis__module *im = internal_module(12);
  assert_true(cis__aot_cached(im));
  const struct timespec when[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
  assert_int_equal(utimensat(AT_FDCWD, cc, when, 0), 0);
  assert_false(cis__aot_cached(im)); /* tiering's hand-over compiles it then */
  int v = atomic_load(&validations);
  assert_int_equal(load(e, 12, &m), CIS_OK);
  assert_int_equal(atomic_load(&validations), v + 1); /* not a known module: a compile */
  assert_int_equal(cache_entries(), 1);
  assert_true(inode_of(entry) != was);
  assert_true(cis__aot_cached(im));
  assert_int_equal(add(m, 40, 2), 42);
  cis_module_free(m);
  /* PATH finds no compiler: the entry built by CIS_CC's, unchanged, loads. */
  const char *path = getenv("PATH");
  char saved[4096];
  snprintf(saved, sizeof saved, "%s", path ? path : "");
  setenv("PATH", "/nonexistent/1:/nonexistent/2", 1);
  was = inode_of(entry);
  v = atomic_load(&validations);
  assert_int_equal(load(e, 12, &m), CIS_OK);
  assert_int_equal(atomic_load(&validations), v);
  assert_int_equal(inode_of(entry), was);
  cis_module_free(m);
  /* The compiler gone: the cached module fails with its error. */
  assert_int_equal(unlink(cc), 0);
  assert_false(cis__aot_cached(im));
  assert_int_equal(load(e, 12, &m), CIS_EUNSUPPORTED);
  assert_non_null(strstr(cis_errmsg(e), "gcc"));
  /* And so does cc along a PATH without one. */
  unsetenv("CIS_CC");
  assert_int_equal(load(e, 12, &m), CIS_EUNSUPPORTED);
  assert_non_null(strstr(cis_errmsg(e), "gcc"));
  setenv("PATH", saved, 1);
  cis__module_free(im);
  cis_engine_free(e);
}

/* A compiler at a path of 300 characters and more: the entry still
 * loads from the cache, compiling nothing, and a byte of that long line
 * changed still makes it unsound. */
static void aot_long_compiler_path_loads_from_the_cache(void **state) {
  (void)state;
  char dir[600], cc[700];
  snprintf(dir, sizeof dir, "%s", home);
  for (int i = 0; i < 6; i++) { /* six folders of 50 characters: a path of 300+ */
    size_t l = strlen(dir);
    snprintf(dir + l, sizeof dir - l, "/%050d", i);
    assert_int_equal(mkdir(dir, 0700), 0);
  }
  snprintf(cc, sizeof cc, "%s/cc", dir);
  use_compiler_script(cc);
  cis_engine *e = engine("aot");
  cis_module *m = NULL;
  assert_int_equal(load(e, 13, &m), CIS_OK); /* compiles */
  cis_module_free(m);
  char entry[600];
  the_entry(entry, sizeof entry);
  ino_t was = inode_of(entry);
  int v = atomic_load(&validations);
  assert_int_equal(load(e, 13, &m), CIS_OK);
  assert_int_equal(atomic_load(&validations), v); /* from the cache */
  assert_int_equal(add(m, 40, 2), 42);
  cis_module_free(m);
  assert_int_equal(inode_of(entry), was);
  /* The line's path, 30 bytes in: another file, so unsound. */
  FILE *g = fopen(entry, "r+b");
  assert_non_null(g);
  uint32_t clen;
  assert_int_equal(fseek(g, -160 + 148, SEEK_END), 0);
  assert_int_equal(fread(&clen, 1, 4, g), 4);
  assert_true(clen > 300);
  assert_int_equal(fseek(g, -160 - (long)clen + 30, SEEK_END), 0);
  int c = fgetc(g);
  assert_int_equal(fseek(g, -160 - (long)clen + 30, SEEK_END), 0);
  fputc(c == 'x' ? 'y' : 'x', g);
  assert_int_equal(fclose(g), 0);
  assert_int_equal(load(e, 13, &m), CIS_OK); /* compiled again */
  assert_int_equal(atomic_load(&validations), v + 1);
  assert_true(inode_of(entry) != was);
  assert_int_equal(add(m, 1, 2), 3);
  cis_module_free(m);
  unsetenv("CIS_CC");
  cis_engine_free(e);
}

/* A compiler whose line ("cc PATH IDENT") would not fit an entry (4 KB:
 * a load finds the object's end from the size modulo 4 KB) is refused
 * with CIS_ETOOBIG and its message, before anything is written. */
static void aot_compiler_path_too_long_is_refused(void **state) {
  (void)state;
  char dir[4200], cc[sizeof dir + 4];
  snprintf(dir, sizeof dir, "%s", home);
  while (strlen(dir) + 200 + 4 < 4090) { /* folders of 200 characters: a path near PATH_MAX */
    size_t l = strlen(dir);
    dir[l] = '/';
    memset(dir + l + 1, 'd', 200);
    dir[l + 201] = 0;
    assert_int_equal(mkdir(dir, 0700), 0);
  }
  size_t l = strlen(dir);
  dir[l] = '/';
  memset(dir + l + 1, 'e', 4085 - l); /* the last folder makes the path 4086 long */
  dir[4086] = 0;
  assert_int_equal(mkdir(dir, 0700), 0);
  snprintf(cc, sizeof cc, "%s/cc", dir); /* 4089 characters: a line of some 4130 */
  use_compiler_script(cc);
  cis_engine *e = engine("aot");
  cis_module *m = NULL;
  assert_int_equal(load(e, 14, &m), CIS_ETOOBIG);
  assert_null(m);
  assert_non_null(strstr(cis_errmsg(e), "path is too long"));
  assert_int_equal(cache_entries(), 0);
  unsetenv("CIS_CC");
  cis_engine_free(e);
}

/* In a fresh process (so that the main thread's stack is looked up for
 * the first time): a call on the main thread finds the stack's bound
 * without pthread_getattr_np (which reads /proc/self/maps there), and
 * deep recursion in compiled code on the main thread still stops at that
 * bound with CIS_TRAP_STACK, not a crash; a call on another thread still
 * asks pthread_getattr_np. */
/* (module (memory 17) (func (export "add") (param i32 i32) (result i32)
 *   (i32.add (local.get 0) (local.get 1))) (data (i32.const 0) BIG*"a")):
 * BIG bytes of data, so that the module is big enough for its cached
 * start to decode it from its entry (cis__aot_known_bytes). Malloc'd. */
#define BIG (1u << 20)
static uint8_t *big_module(size_t *len) {
  static const uint8_t head[] = {
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,                   /* magic, version */
      0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f,             /* type (i32 i32) -> i32 */
      0x03, 0x02, 0x01, 0x00,                                           /* one function */
      0x05, 0x03, 0x01, 0x00, 0x11,                                     /* memory, min 17 pages */
      0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00,             /* export "add" */
      0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b, /* its code */
      0x0b, 0x88, 0x80, 0xc0, 0x00,                                     /* data: BIG + 8 bytes */
      0x01, 0x00, 0x41, 0x00, 0x0b, 0x80, 0x80, 0x40};                  /* at 0, BIG bytes */
  uint8_t *b = malloc(sizeof head + BIG);
  assert_non_null(b);
  memcpy(b, head, sizeof head);
  memset(b + sizeof head, 'a', BIG);
  *len = sizeof head + BIG;
  return b;
}

/* The first byte and the last of module m's data, as an instance of it
 * sees them, and 40 + 2 by its compiled add. */
static void big_module_runs(cis_module *m) {
  assert_int_equal(add(m, 40, 2), 42);
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &inst), CIS_OK);
  const uint8_t *mem = cis_memory_data(cis_instance_memory(inst));
  assert_int_equal(mem[0], 'a');
  assert_int_equal(mem[BIG - 1], 'a');
  cis_instance_free(inst);
}

/* A big module whose sound entry is in the cache is decoded from the
 * entry's own copy of its bytes, mapped, on aot and auto, not from a copy of the caller's
 * (which the caller may change or free at once); the mapping goes with
 * the module. An entry whose copy of the bytes differs is not used: the
 * module is validated, compiled again and decoded from a copy, as
 * before. Fails without cis__aot_known_bytes (runtime.h, known_bytes). */
static void aot_big_cached_module_is_decoded_from_its_entry(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  size_t n;
  uint8_t *b = big_module(&n);
  cis_module *m = NULL;
  assert_int_equal(cis_module_new(e, b, n, &m), CIS_OK); /* compiles */
  assert_null(m->m->bytes_release);
  cis_module_free(m);
  assert_int_equal(entry_mappings(), 0);

  int v = atomic_load(&validations);
  cis_engine *ea = engine("auto"); /* tiering too: compiled from the first call */
  assert_int_equal(cis_module_new(ea, b, n, &m), CIS_OK);
  assert_int_equal(atomic_load(&validations), v);
  assert_non_null(m->m->bytes_release);
  assert_int_equal(cis__tier_state(m), CIS__TIER_COMPILED);
  big_module_runs(m);
  cis_module_free(m);
  cis_engine_free(ea);
  assert_int_equal(entry_mappings(), 0);

  assert_int_equal(cis_module_new(e, b, n, &m), CIS_OK);
  assert_int_equal(atomic_load(&validations), v);
  assert_non_null(m->m->bytes_release); /* held, not copied */
  assert_ptr_not_equal(m->m->bytes, b);
  assert_true(entry_mappings() >= 1);
  memset(b, 'z', n); /* the caller's bytes are not the module's */
  big_module_runs(m);
  cis_module_free(m);
  assert_int_equal(entry_mappings(), 0);
  free(b);

  /* One byte of the entry's copy of the module changed: not that entry. */
  b = big_module(&n);
  char path[512];
  the_entry(path, sizeof path);
  ino_t ino = inode_of(path);
  struct stat st;
  assert_int_equal(__real_stat(path, &st), 0);
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  uint8_t z = 'b';
  off_t at = (off_t)((size_t)st.st_size - 160 - 4096) & ~(off_t)4095; /* inside the module's data */
  assert_int_equal(pwrite(fd, &z, 1, at), 1);
  close(fd);
  v = atomic_load(&validations);
  assert_int_equal(cis_module_new(e, b, n, &m), CIS_OK);
  assert_int_equal(atomic_load(&validations), v + 1); /* compiled again */
  assert_null(m->m->bytes_release);
  big_module_runs(m);
  cis_module_free(m);
  assert_int_not_equal(inode_of(path), ino); /* replaced */

  /* Another big module, one byte changed in each of the four lanes of
   * its name's hash, and in the bytes past its last 32-byte block: an
   * entry of another name each (the lanes read every byte). */
  size_t at_byte[] = {n / 2, n / 2 + 8, n / 2 + 16, n / 2 + 24, n - 1};
  for (size_t i = 0; i < sizeof at_byte / sizeof at_byte[0]; i++) {
    b[at_byte[i]] = 'c';
    assert_int_equal(cis_module_new(e, b, n, &m), CIS_OK);
    cis_module_free(m);
    assert_int_equal(cache_entries(), (int)i + 2);
  }
  /* On a CPU without a crc32 instruction, a big module's name is
   * word_hash's: an entry of its own, compiled once and found again. */
  int before = cache_entries();
  cis__aot_test_no_crc(true);
  v = atomic_load(&validations);
  assert_int_equal(cis_module_new(e, b, n, &m), CIS_OK);
  cis_module_free(m);
  assert_int_equal(atomic_load(&validations), v + 1);
  assert_int_equal(cache_entries(), before + 1);
  assert_int_equal(cis_module_new(e, b, n, &m), CIS_OK);
  assert_int_equal(atomic_load(&validations), v + 1); /* found */
  assert_non_null(m->m->bytes_release);
  cis_module_free(m);
  cis__aot_test_no_crc(false);
  assert_int_equal(cis_module_new(e, b, n, &m), CIS_OK); /* its crc32 entry again */
  assert_int_equal(atomic_load(&validations), v + 1);
  cis_module_free(m);
  free(b);
  cis_engine_free(e);
}

/* The big module with data fill, written in place to path (mode 0600). */
static void write_big_file(const char *path, uint8_t fill) {
  size_t n;
  uint8_t *b = big_module(&n);
  memset(b + n - BIG, fill, BIG);
  int fd = open(path, O_WRONLY | O_CREAT, 0600); /* no O_TRUNC: the same file, rewritten */
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, b, n, 0), (ssize_t)n);
  close(fd);
  free(b);
}

/* Loads the file at path on e; checks 40 + 2 and the first and last data
 * byte (fill); returns whether the load was served by the file's record. */
static bool file_runs(cis_engine *e, const char *path, uint8_t fill) {
  unsigned hits = cis__aot_test_known_file_hits();
  cis_module *m = NULL;
  cis_result rc = cis_module_new_file(e, path, 0, &m);
  if (rc != CIS_OK) fail_msg("%s: %s", cis_errname(rc), cis_errmsg(e));
  assert_int_equal(add(m, 40, 2), 42);
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &inst), CIS_OK);
  const uint8_t *mem = cis_memory_data(cis_instance_memory(inst));
  assert_int_equal(mem[0], fill);
  assert_int_equal(mem[BIG - 1], fill);
  cis_instance_free(inst);
  cis_module_free(m);
  return cis__aot_test_known_file_hits() > hits;
}

static int id_records(void) {
  static const char *const id[] = {".id", NULL};
  return cache_files(id, false);
}

/* A big module loaded from its file (cis_module_new_file) on aot: once a
 * load has compared the file's bytes with its entry's copy, and the file
 * has settled, a record of the file's identity lets later loads use the
 * entry without reading the file. A file rewritten (new change time), an
 * entry replaced or touched, a record that is not one cis writes: the
 * file is read and compared again, and what runs is always the file's
 * module. Records go with `cis cache clear`, and with their entry in a
 * prune. Fails without known_file/remember_file (runtime.h). */
static void aot_big_module_file_is_known_by_its_identity(void **state) {
  (void)state;
  cis_engine *e = engine("aot");
  char file[300], entry[512], rec[512];
  snprintf(file, sizeof file, "%s/big.wasm", home);
  write_big_file(file, 'a');

  cis__module_test_settle_s(1000); /* not settled: read, compared, never recorded */
  assert_false(file_runs(e, file, 'a')); /* compiles */
  assert_false(file_runs(e, file, 'a')); /* the entry, after a compare */
  assert_int_equal(id_records(), 0);
  cis__module_test_settle_s(0);
  assert_false(file_runs(e, file, 'a')); /* compared, then recorded */
  assert_int_equal(id_records(), 1);
  int v = atomic_load(&validations);
  assert_true(file_runs(e, file, 'a'));
  assert_true(file_runs(e, file, 'a'));
  assert_int_equal(atomic_load(&validations), v);

  /* The file rewritten in place, same size and inode: not its record. */
  write_big_file(file, 'b');
  assert_false(file_runs(e, file, 'b')); /* compiles */
  assert_int_equal(cache_entries(), 2);
  assert_false(file_runs(e, file, 'b')); /* compared, then recorded */
  assert_int_equal(id_records(), 1);     /* the record of that file, replaced */
  assert_true(file_runs(e, file, 'b'));

  /* The entry touched (another identity): read and compared, recorded again. */
  cache_file(".id", rec, sizeof rec);
  int fd = open(rec, O_RDONLY);
  assert_true(fd >= 0);
  uint8_t r[152];
  assert_int_equal(read(fd, r, sizeof r), (ssize_t)sizeof r);
  close(fd);
  char hex[65];
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", r[8 + 56 + i]);
  snprintf(entry, sizeof entry, "%s/cache/%s.cso", home, hex);
  assert_int_equal(utimensat(AT_FDCWD, entry, NULL, 0), 0);
  assert_false(file_runs(e, file, 'b'));
  assert_true(file_runs(e, file, 'b'));

  /* Records that are not what cis writes are passed over. */
  static const struct {
    size_t at, len; /* bytes of the record changed, or its length cut to len */
  } bad[] = {{0, 0}, {8, 0}, {8 + 56, 0}, {0, 100}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint8_t w[152];
    memcpy(w, r, sizeof w);
    if (!bad[i].len) w[bad[i].at] ^= 0x55;
    fd = open(rec, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    size_t len = bad[i].len ? bad[i].len : sizeof w;
    assert_int_equal(write(fd, w, len), (ssize_t)len);
    close(fd);
    assert_false(file_runs(e, file, 'b')); /* and a sound record written again */
  }
  assert_int_equal(unlink(rec), 0);
  assert_int_equal(symlink(entry, rec), 0); /* a link: never followed */
  assert_false(file_runs(e, file, 'b'));
  assert_true(file_runs(e, file, 'b')); /* renamed over the link */

  /* A record whose entry is gone goes in a prune; all go in a clear. */
  assert_int_equal(unlink(entry), 0);
  uint64_t removed = 0;
  assert_int_equal(cis_cache_prune(0, &removed), CIS_OK);
  assert_int_equal(id_records(), 0);
  assert_false(file_runs(e, file, 'b')); /* compiles */
  assert_false(file_runs(e, file, 'b')); /* compared, recorded */
  assert_int_equal(id_records(), 1);
  assert_int_equal(cis_cache_clear(&removed), CIS_OK);
  assert_int_equal(id_records(), 0);
  cis__module_test_settle_s(3);
  cis_engine_free(e);
}

/* An engine of kind name held to standard std (2 or 3). */
static cis_engine *engine_std(const char *name, int std) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = name;
  cfg.standard = std;
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  return e;
}

/* (module (global i32 (i32.const 1)) (global (export "g") i32
 * (global.get 0))): valid under 3.0, whose constant expressions read the
 * globals defined before; invalid under 2.0 (imported globals only). */
static const uint8_t std3_only[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x06, 0x0b,
                                    0x02, 0x7f, 0x00, 0x41, 0x01, 0x0b, 0x7f, 0x00, 0x23, 0x00,
                                    0x0b, 0x07, 0x05, 0x01, 0x01, 0x67, 0x03, 0x01};

/* A cached start skips validation, so the standard a module was validated
 * as is part of its entry's key: bytes compiled as a 3.0 module are
 * validated again, and refused, as a 2.0 one; a big module cached under
 * one standard is not decoded from that entry under the other. Fails
 * with the standard left out of the key (cache.c, make_key). */
static void aot_cached_module_of_another_standard_is_validated_again(void **state) {
  (void)state;
  cis_engine *e3 = engine_std("aot", 3), *e2 = engine_std("aot", 2);
  cis_module *m = NULL;
  assert_int_equal(cis_module_new(e3, std3_only, sizeof std3_only, &m), CIS_OK);
  cis_module_free(m);
  int v = atomic_load(&validations);
  assert_int_equal(cis_module_new(e3, std3_only, sizeof std3_only, &m), CIS_OK); /* cached */
  assert_int_equal(atomic_load(&validations), v);
  cis_module_free(m);
  assert_int_not_equal(cis_module_new(e2, std3_only, sizeof std3_only, &m), CIS_OK);
  assert_null(m);
  assert_int_equal(atomic_load(&validations), v + 1);
  assert_non_null(strstr(cis_errmsg(e2), "unknown global"));

  size_t n;
  uint8_t *b = big_module(&n);
  assert_int_equal(cis_module_new(e3, b, n, &m), CIS_OK);
  cis_module_free(m);
  v = atomic_load(&validations);
  assert_int_equal(cis_module_new(e2, b, n, &m), CIS_OK);
  assert_int_equal(atomic_load(&validations), v + 1);
  assert_null(m->m->bytes_release); /* a copy: not the 3.0 entry's bytes */
  big_module_runs(m);
  cis_module_free(m);
  free(b);
  cis_engine_free(e2);
  cis_engine_free(e3);
}

static void *call_on_thread(void *arg) {
  assert_int_equal(add(arg, 1, 2), 3);
  return NULL;
}

static int main_stack_child(void) {
  cis_engine *e = engine("aot");
  cis_module *m = NULL;
  if (load(e, 7, &m) != CIS_OK) return 10;
  if (add(m, 2, 3) != 5) return 11;
  if (atomic_load(&getattr_main) != 0) return 12;
  cis_instance *inst = NULL;
  cis_limits l;
  cis_limits_default(&l);
  l.max_call_depth = UINT32_MAX; /* the native stack's bound, not the count, stops it */
  l.timeout_ms = 60000;
  if (cis_instance_new(m, NULL, &l, &inst) != CIS_OK) return 13;
  cis_val arg = {.type = CIS_I32, .of.i32 = 0}, r;
  cis_result rc = cis_func_call(inst, cis_instance_func(inst, "rec"), &arg, 1, &r, 1);
  if (rc != CIS_TRAP_STACK) return 14;
  cis_instance_free(inst);
  pthread_t t;
  if (pthread_create(&t, NULL, call_on_thread, m) != 0) return 15;
  pthread_join(t, NULL);
  if (atomic_load(&getattr_other) < 1 || atomic_load(&getattr_main) != 0) return 16;
  cis_module_free(m);
  cis_engine_free(e);
  return 0;
}

static void main_thread_stack_bound_reads_no_proc_maps(void **state) {
  (void)state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) _exit(main_stack_child());
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  if (!WIFEXITED(st)) fail_msg("the child was killed by signal %d", WTERMSIG(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void) {
  setenv("CIS_ENGINE", "interp", 0);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(main_thread_stack_bound_reads_no_proc_maps, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_cached_module_is_not_validated_again, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_invalid_module_is_still_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_cache_key_holds_the_compilers_identity, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_long_compiler_path_loads_from_the_cache, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_compiler_path_too_long_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_big_cached_module_is_decoded_from_its_entry, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_big_module_file_is_known_by_its_identity, setup, teardown),
      cmocka_unit_test_setup_teardown(aot_cached_module_of_another_standard_is_validated_again, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
