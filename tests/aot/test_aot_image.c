/*
 * This file implements the tests of the image of memory 0 (src/aot/cache.c,
 * images; docs/aot.md, Cached start): a module with megabytes of data
 * segments gets its memory's initial contents laid out beside its cache
 * entry, and its instances map them copy-on-write instead of copying the
 * segments. Each test compares memories with the interpreter's (which
 * copies) byte for byte: after the start, after a released memory was
 * reused, after growth; passive segments keep memory.init and data.drop's
 * meaning; modules whose segments make no image copy them; an image that
 * is corrupt, truncated, another's, or a file the cache does not trust (a
 * link, a FIFO, another user's, writable by others) is never mapped, and
 * the instance copies the segments. Runs as root in CI: another user's file
 * is made with chown to uid 65534.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "aot_test.h"
#include "cis/cis.h"
#include "runtime/runtime.h"
#include "cis/cis_aot.h"
#include "runtime/rt_internal.h"

enum { FOREIGN = 65534 };

/* The big module: memory 0 of PAGES pages (at most MAXP) starting with
 * SEG0 bytes at 1024, a gap, SEG1 bytes at SEG1_AT (active), and a
 * passive segment; functions to read, write and grow the memory and to
 * run memory.init and data.drop. */
#define PAGES 40u
#define MAXP 48u
#define SEG0 (1200u * 1024u)
#define SEG1_AT (1024u + SEG0 + 4000u)
#define SEG1 300u
#define PASSIVE 64u
/* The image: from page 0 to the end of segment 1, in whole pages. */
#define IMG_LEN ((SEG1_AT + SEG1 + CIS__PAGE_SIZE - 1) / CIS__PAGE_SIZE * CIS__PAGE_SIZE)

/* Byte i of segment s: a pattern with zeros in it, so that the image's
 * holes and the data's own zeros both occur. */
static uint8_t byte_of(unsigned s, uint32_t i) {
  uint32_t v = i * 131u + (i >> 9) + s * 17u;
  return v % 11u == 0 ? 0 : (uint8_t)v;
}

/* Appends the segment as a text string of \hh escapes. */
static void put_bytes(cis__aot_buf *b, unsigned s, uint32_t n) {
  static const char hex[] = "0123456789abcdef";
  char *chunk = malloc((size_t)n * 3 + 1);
  assert_non_null(chunk);
  for (uint32_t i = 0; i < n; i++) {
    uint8_t c = byte_of(s, i);
    chunk[3 * i] = '\\';
    chunk[3 * i + 1] = hex[c >> 4];
    chunk[3 * i + 2] = hex[c & 15];
  }
  chunk[(size_t)n * 3] = 0;
  cis__aot_buf_printf(b, "%s", chunk);
  free(chunk);
}

static const char FUNCS[] =
    " (func (export \"load8\") (param i32) (result i32) (i32.load8_u (local.get 0)))\n"
    " (func (export \"store8\") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))\n"
    " (func (export \"grow\") (param i32) (result i32) (memory.grow (local.get 0)))\n"
    " (func (export \"init\") (param i32 i32 i32)\n"
    "   (memory.init 2 (local.get 0) (local.get 1) (local.get 2)))\n"
    " (func (export \"init0\") (param i32 i32 i32)\n"
    "   (memory.init 0 (local.get 0) (local.get 1) (local.get 2)))\n"
    " (func (export \"drop\") (data.drop 2))\n";

/* The text of a module: memory (head, e.g. "(memory 40 48)"), FUNCS, then
 * segment 0 of n0 bytes at off0 (an offset expression), segment 1 of n1
 * bytes at off1, the passive segment. Malloc'd. */
static char *text_of(const char *head, const char *off0, uint32_t n0, const char *off1, uint32_t n1) {
  cis__aot_buf b = {0};
  cis__aot_buf_printf(&b, "(module %s\n%s (data %s \"", head, FUNCS, off0);
  put_bytes(&b, 0, n0);
  cis__aot_buf_printf(&b, "\")\n (data %s \"", off1);
  put_bytes(&b, 1, n1);
  cis__aot_buf_printf(&b, "\")\n (data \"");
  put_bytes(&b, 2, PASSIVE);
  cis__aot_buf_printf(&b, "\"))\n");
  assert_false(b.oom);
  return b.p;
}

static char *big_text(void) {
  char head[64], off1[64];
  snprintf(head, sizeof head, "(memory %u %u)", PAGES, MAXP);
  snprintf(off1, sizeof off1, "(i32.const %u)", SEG1_AT);
  return text_of(head, "(i32.const 1024)", SEG0, off1, SEG1);
}

/* ------------------------------------------------------------ helpers */

static int32_t call(cis_instance *inst, const char *name, int32_t a, int32_t b, int32_t c,
                    cis_result want) {
  cis_func *f = cis_instance_func(inst, name);
  assert_non_null(f);
  cis_val args[3] = {{.type = CIS_I32, .of.i32 = a}, {.type = CIS_I32, .of.i32 = b},
                     {.type = CIS_I32, .of.i32 = c}};
  uint32_t np, nr;
  const cis_valtype *pt, *rt;
  cis_func_type(f, &np, &pt, &nr, &rt);
  cis_val r = {.type = CIS_I32, .of.i32 = -7};
  assert_int_equal(cis_func_call(inst, f, args, np, &r, nr), want);
  return r.of.i32;
}

static cis_instance *instance(cis_module *m) {
  cis_instance *inst = NULL;
  cis_result rc = cis_instance_new(m, NULL, NULL, &inst);
  if (rc != CIS_OK) fail_msg("instance: %s: %s", cis_errname(rc), cis_errmsg(m->engine));
  return inst;
}

/* Bytes of memory 0 of inst mapped from an image (0: copied). */
static uint64_t imaged(cis_instance *inst) { return inst->memories[0]->img_len; }

/* Whether memory 0 of a and b hold the same bytes (and sizes). */
static void same_memory(cis_instance *a, cis_instance *b) {
  cis_memory *x = cis_instance_memory(a), *y = cis_instance_memory(b);
  assert_int_equal(cis_memory_size(x), cis_memory_size(y));
  const uint8_t *p = cis_memory_data(x), *q = cis_memory_data(y);
  for (uint64_t i = 0; i < cis_memory_size(x); i++)
    if (p[i] != q[i]) fail_msg("memories differ at %llu: %u and %u", (unsigned long long)i, p[i], q[i]);
}

/* A fresh instance of text on the interpreter: what every memory is
 * compared with. */
typedef struct ref {
  cis_engine *e;
  cis_module *m;
  cis_instance *inst;
} ref;

static ref reference(const char *text) {
  ref r;
  r.e = engine("interp");
  r.m = module(r.e, text);
  r.inst = instance(r.m);
  return r;
}

static void ref_free(ref *r) {
  cis_instance_free(r->inst);
  cis_module_free(r->m);
  cis_engine_free(r->e);
}

/* Loads text on a new engine name (compiling it into the cache on the
 * first time), makes an instance, checks its memory against the
 * reference's, and returns the bytes it mapped from an image. */
static uint64_t start_on(const char *name, const char *text, const ref *r) {
  cis_engine *e = engine(name);
  cis_module *m = module(e, text);
  cis_instance *inst = instance(m);
  uint64_t n = imaged(inst);
  same_memory(inst, r->inst);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
  return n;
}

/* The image file beside the one entry. */
static void the_image(char *out, size_t n) { cache_file(".img", out, n); }

static const char *const IMG[] = {".img", NULL};

/* Compares of an image with its module's segments (linked with --wrap). */
static int compares;
bool __real_cis__data_image_equal(const cis__module *m, const cis__data_image *plan, const uint8_t *img);
bool __wrap_cis__data_image_equal(const cis__module *m, const cis__data_image *plan, const uint8_t *img) {
  compares++;
  return __real_cis__data_image_equal(m, plan, img);
}

/* ------------------------------------------------------------- tests */

/* The image is written with the entry, and an instance maps it (on aot,
 * and on auto once the entry is there), its memory the interpreter's byte
 * for byte: data, the gap between the segments, the zeros around. */
static void image_is_mapped_and_equals_the_copy(void **state) {
  (void)state;
  char *text = big_text();
  ref r = reference(text);
  assert_int_equal(start_on("aot", text, &r), IMG_LEN);
  assert_int_equal(cache_files(IMG, false), 1);
  char p[400];
  the_image(p, sizeof p);
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_size, IMG_LEN + 64);
  assert_int_equal(st.st_mode & 077, 0);
  assert_int_equal(start_on("aot", text, &r), IMG_LEN); /* cached start */
  assert_int_equal(start_on("auto", text, &r), IMG_LEN);
  /* The interpreter copies, as before. */
  assert_int_equal(imaged(r.inst), 0);
  ref_free(&r);
  free(text);
}

/* What a guest writes over its image, in it and past it, and what it
 * grows, are gone for the next instance, which takes the released
 * memory's reservation from the pool: it reads its own initial state,
 * on both paths (mapped on aot, copied on the interpreter). Growth past
 * the image reads zeros. A module without an image then takes the same
 * reservation and reads zeros throughout. */
static void released_memory_is_reused_with_its_own_contents(void **state) {
  (void)state;
  char *text = big_text();
  ref r = reference(text);
  static const char *const names[] = {"aot", "interp"};
  for (int k = 0; k < 2; k++) {
    cis_engine *e = engine(names[k]);
    cis_module *m = module(e, text);
    cis_instance *a = instance(m);
    assert_true(k ? imaged(a) == 0 : imaged(a) > 0);
    static const int32_t at[] = {0, 1023, 1024, 5000, (int32_t)(SEG0 + 1500), (int32_t)SEG1_AT,
                                 (int32_t)(IMG_LEN - 1), (int32_t)IMG_LEN,
                                 (int32_t)(PAGES * CIS__PAGE_SIZE - 1)};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) call(a, "store8", at[i], 0x5a, 0, CIS_OK);
    assert_int_equal(call(a, "grow", 3, 0, 0, CIS_OK), (int32_t)PAGES);
    call(a, "store8", (int32_t)((PAGES + 2) * CIS__PAGE_SIZE), 0x77, 0, CIS_OK);
    uint64_t reused = cis__memory_pool_reused(e);
    cis_instance_free(a);
    cis_instance *b = instance(m);
    assert_int_equal(cis__memory_pool_reused(e), reused + 1);
    assert_true(k ? imaged(b) == 0 : imaged(b) > 0);
    same_memory(b, r.inst);
    assert_int_equal(call(b, "grow", 3, 0, 0, CIS_OK), (int32_t)PAGES);
    for (uint32_t off = PAGES * CIS__PAGE_SIZE; off < (PAGES + 3) * CIS__PAGE_SIZE; off += 4093)
      assert_int_equal(call(b, "load8", (int32_t)off, 0, 0, CIS_OK), 0);
    assert_int_equal(call(b, "load8", (int32_t)((PAGES + 2) * CIS__PAGE_SIZE), 0, 0, CIS_OK), 0);
    assert_int_equal(call(b, "grow", (int32_t)(MAXP - PAGES), 0, 0, CIS_OK), -1); /* the maximum holds */
    call(b, "load8", (int32_t)((PAGES + 3) * CIS__PAGE_SIZE), 0, 0, CIS_TRAP_MEM_OOB);
    cis_instance_free(b);
    /* Another module, no image, same reach: zeros where the image was. */
    char head[64];
    snprintf(head, sizeof head, "(memory %u %u)", PAGES, MAXP);
    char *small = text_of(head, "(i32.const 0)", 1, "(i32.const 1)", 1);
    cis_module *m2 = module(e, small);
    cis_instance *c = instance(m2);
    assert_int_equal(cis__memory_pool_reused(e), reused + 2);
    assert_int_equal(imaged(c), 0);
    const uint8_t *mem = cis_memory_data(cis_instance_memory(c));
    for (uint64_t i = 2; i < PAGES * CIS__PAGE_SIZE; i++)
      if (mem[i]) fail_msg("byte %llu of a reused memory is %u", (unsigned long long)i, mem[i]);
    cis_instance_free(c);
    cis_module_free(m2);
    free(small);
    cis_module_free(m);
    cis_engine_free(e);
  }
  ref_free(&r);
  free(text);
}

/* memory.init of the passive segment and data.drop mean what they meant:
 * copied from the module; the active segments count as dropped. */
static void passive_segments_and_drops_are_unchanged(void **state) {
  (void)state;
  char *text = big_text();
  ref r = reference(text);
  assert_true(start_on("aot", text, &r) > 0);
  cis_engine *e = engine("aot");
  cis_module *m = module(e, text);
  cis_instance *inst = instance(m);
  assert_true(imaged(inst) > 0);
  cis_instance *both[2] = {inst, r.inst};
  for (int k = 0; k < 2; k++) {
    cis_instance *i = both[k];
    call(i, "init", 100, 3, 50, CIS_OK);
    call(i, "init", 2000, 60, 5, CIS_TRAP_MEM_OOB); /* past the segment's end */
    call(i, "init0", 0, 0, 1, CIS_TRAP_MEM_OOB);    /* an active segment: dropped */
    call(i, "init0", 0, 0, 0, CIS_OK);
    call(i, "drop", 0, 0, 0, CIS_OK);
    call(i, "init", 300, 0, 1, CIS_TRAP_MEM_OOB);
    call(i, "init", 300, 0, 0, CIS_OK);
  }
  for (uint32_t j = 0; j < 50; j++)
    assert_int_equal(call(inst, "load8", (int32_t)(100 + j), 0, 0, CIS_OK), byte_of(2, 3 + j));
  same_memory(inst, r.inst);
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
  ref_free(&r);
  free(text);
}

/* Modules whose segments make no image get none, and copy: an imported
 * memory, an offset read from a global, less than a megabyte of data,
 * overlapping segments (the later wins), a segment past the memory's
 * size (instantiation traps as on the interpreter). */
static void modules_without_an_image_copy(void **state) {
  (void)state;
  char head[64], off1[64];
  snprintf(head, sizeof head, "(memory %u %u)", PAGES, MAXP);
  snprintf(off1, sizeof off1, "(i32.const %u)", 1024u + SEG0 - 100u);
  char *overlap = text_of(head, "(i32.const 1024)", SEG0, off1, SEG1);
  char *small = text_of(head, "(i32.const 1024)", 64u * 1024u, "(i32.const 200000)", SEG1);
  char *global = text_of("(global $g i32 (i32.const 1024)) (memory 40 48)", "(global.get $g)", SEG0,
                         "(i32.const 2000000)", SEG1);
  char *below = text_of("(memory 18 48)", "(i32.const 1024)", SEG0, "(i32.const 10)", SEG1);
  const char *texts[] = {overlap, small, global};
  for (size_t i = 0; i < 3; i++) {
    ref r = reference(texts[i]);
    assert_int_equal(start_on("aot", texts[i], &r), 0);
    assert_int_equal(start_on("aot", texts[i], &r), 0);
    ref_free(&r);
  }
  /* Out of bounds: traps on both, and the entry has no image. */
  cis_engine *e = engine("interp"), *a = engine("aot");
  cis_module *mi = module(e, below), *ma = module(a, below);
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mi, NULL, NULL, &inst), CIS_TRAP_MEM_OOB);
  assert_int_equal(cis_instance_new(ma, NULL, NULL, &inst), CIS_TRAP_MEM_OOB);
  cis_module_free(mi);
  cis_module_free(ma);
  cis_engine_free(e);
  cis_engine_free(a);
  /* An imported memory. */
  cis__aot_buf imp = {0};
  cis__aot_buf_printf(&imp, "(module (import \"env\" \"mem\" (memory 40)) (data (i32.const 0) \"");
  put_bytes(&imp, 0, SEG0);
  cis__aot_buf_printf(&imp, "\"))");
  a = engine("aot");
  cis_module_free(module(a, imp.p));
  cis_engine_free(a);
  cis__aot_buf_free(&imp);
  assert_int_equal(cache_entries(), 5);
  assert_int_equal(cache_files(IMG, false), 0);
  free(overlap);
  free(small);
  free(global);
  free(below);
}

/* Copies file from to a new file to (the image kept aside, to put back). */
static void copy_file(const char *from, const char *to) {
  unlink(to);
  FILE *f = fopen(from, "rb"), *t = fopen(to, "wb");
  assert_non_null(f);
  assert_non_null(t);
  char buf[65536];
  for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) assert_int_equal(fwrite(buf, 1, n, t), n);
  fclose(f);
  assert_int_equal(fclose(t), 0);
  assert_int_equal(chmod(to, 0600), 0);
}

/* Writes byte v at offset at of file p. */
static void poke(const char *p, off_t at, uint8_t v) {
  int fd = open(p, O_WRONLY);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, &v, 1, at), 1);
  close(fd);
}

/* The start after a change to the image: not mapped, the memory still the
 * interpreter's, and stderr says why (want, or nothing when NULL). */
static void refused(const char *text, const ref *r, const char *want) {
  capture_begin();
  alarm(120); /* a FIFO opened blocking would hang: fail instead */
  uint64_t n = start_on("aot", text, r);
  alarm(0);
  char *err = capture_end();
  assert_int_equal(n, 0);
  if (want && !strstr(err, want)) fail_msg("stderr: %s; wanted %s", err, want);
  if (!want) assert_string_equal(err, "");
  free(err);
}

/* An image that is not what its module's segments write, or a file the
 * cache does not trust, is never mapped: the instance copies. The good
 * image put back is mapped again (the test can tell). */
static void bad_or_untrusted_images_are_not_mapped(void **state) {
  (void)state;
  char *text = big_text();
  ref r = reference(text);
  assert_true(start_on("aot", text, &r) > 0);
  char p[400], keep[450], other[450];
  the_image(p, sizeof p);
  snprintf(keep, sizeof keep, "%s/good.img", home);
  snprintf(other, sizeof other, "%s/elsewhere.img", home);
  copy_file(p, keep);
  const off_t len = IMG_LEN;
  /* In turns, so that no warning repeats the one before (warn writes a
   * line once while it repeats). */
  static const char DIFFERS[] = "differs from its module's data segments",
                    TRAILER[] = "(length or trailer)";
  struct {
    const char *what; /* the change */
    off_t at;         /* byte changed, or -1: the file cut (or grown) to size */
    off_t size;
    const char *want; /* in the warning */
  } changes[] = {
      {"a byte of data", 1024 + 777, 0, DIFFERS},
      {"the magic", len, 0, TRAILER},
      {"a zero before the data", 3, 0, DIFFERS},
      {"the entry's name", len + 8 + 5, 0, TRAILER},
      {"a zero in the gap", 1024 + SEG0 + 10, 0, DIFFERS},
      {"the length", len + 48 + 2, 0, TRAILER},
      {"a zero after the data", len - 1, 0, DIFFERS},
      {"the size: no trailer", -1, len, TRAILER},
      {"the last byte of data", SEG1_AT + SEG1 - 1, 0, DIFFERS},
      {"the size: more after the trailer", -1, len + 128, TRAILER},
  };
  for (size_t i = 0; i < sizeof changes / sizeof *changes; i++) {
    copy_file(keep, p);
    if (changes[i].at >= 0) poke(p, changes[i].at, 0xee);
    else assert_int_equal(truncate(p, changes[i].size), 0);
    print_message("image with %s changed\n", changes[i].what);
    refused(text, &r, changes[i].want);
  }
  /* Files the cache does not trust. */
  copy_file(keep, p);
  assert_int_equal(chown(p, FOREIGN, FOREIGN), 0);
  refused(text, &r, "owned by uid 65534");
  copy_file(keep, p);
  assert_int_equal(chmod(p, 0620), 0);
  refused(text, &r, "writable by its group or others (mode 0620)");
  assert_int_equal(unlink(p), 0);
  copy_file(keep, other);
  assert_int_equal(symlink(other, p), 0);
  refused(text, &r, "is a symbolic link");
  assert_int_equal(unlink(p), 0);
  assert_int_equal(mkfifo(p, 0600), 0);
  refused(text, &r, "is not a regular file");
  assert_int_equal(unlink(p), 0);
  refused(text, &r, NULL); /* none: an entry from before images, quietly */
  copy_file(keep, p);
  assert_true(start_on("aot", text, &r) > 0);

  ref_free(&r);
  free(text);
}

/* A compile that cannot write its image (a folder in its place) stores
 * the entry all the same, and its instances copy; the folder is never
 * opened as an image. */
static void image_that_cannot_be_written_is_left_out(void **state) {
  (void)state;
  char *text = big_text();
  ref r = reference(text);
  assert_true(start_on("aot", text, &r) > 0);
  char p[400];
  the_image(p, sizeof p);
  assert_int_equal(cis_cache_clear(NULL), CIS_OK);
  assert_int_equal(mkdir(p, 0700), 0);
  refused(text, &r, "is not a regular file");
  assert_int_equal(cache_entries(), 1);
  assert_int_equal(cache_files(IMG, false), 1);
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(rmdir(p), 0);
  ref_free(&r);
  free(text);
}

/* The first instance of an entry compares its image with the segments in
 * full and records it (KEY.imgok); the first instance of the entry loaded
 * again does not compare while the entry and the image are those files.
 * An image rewritten, an entry replaced, or a record that is not one cis
 * writes: compared again. */
static void image_compared_once_is_recorded(void **state) {
  (void)state;
  static const char *const OK[] = {".imgok", NULL};
  char *text = big_text();
  ref r = reference(text);
  assert_true(start_on("aot", text, &r) > 0); /* compiles, compares, records */
  assert_int_equal(cache_files(OK, false), 1);
  int before = compares;
  assert_true(start_on("aot", text, &r) > 0);
  assert_true(start_on("auto", text, &r) > 0);
  assert_int_equal(compares, before);
  char img[400], ok[400], keep[450];
  the_image(img, sizeof img);
  cache_file(".imgok", ok, sizeof ok);
  snprintf(keep, sizeof keep, "%s/good.img", home);
  copy_file(img, keep);
  copy_file(keep, img); /* the same bytes written anew: another file to the record */
  assert_true(start_on("aot", text, &r) > 0);
  assert_int_equal(compares, before + 1);
  assert_true(start_on("aot", text, &r) > 0); /* recorded again */
  assert_int_equal(compares, before + 1);
  poke(ok, 0, 'X'); /* not a record cis writes */
  assert_true(start_on("aot", text, &r) > 0);
  assert_int_equal(compares, before + 2);
  assert_int_equal(unlink(ok), 0);
  assert_int_equal(symlink(keep, ok), 0); /* a link: never followed */
  assert_true(start_on("aot", text, &r) > 0);
  assert_int_equal(compares, before + 3);
  char entry[400];
  the_entry(entry, sizeof entry);
  assert_int_equal(utimensat(AT_FDCWD, entry, NULL, 0), 0); /* another entry file, as far as the record knows */
  assert_true(start_on("aot", text, &r) > 0);
  assert_int_equal(compares, before + 4);
  ref_free(&r);
  free(text);
}

/* `cis cache clear` removes images and their records; `cis cache prune`
 * removes an image and its record with its entry. */
static void cache_clear_and_prune_remove_images(void **state) {
  (void)state;
  char *text = big_text();
  ref r = reference(text);
  assert_true(start_on("aot", text, &r) > 0);
  static const char *const OK[] = {".imgok", NULL};
  assert_int_equal(cache_files(OK, false), 1);
  uint64_t removed = 0;
  assert_int_equal(cis_cache_clear(&removed), CIS_OK);
  assert_int_equal(removed, 1);
  assert_int_equal(cache_files(IMG, false), 0);
  assert_int_equal(cache_files(OK, false), 0);
  assert_true(start_on("aot", text, &r) > 0); /* compiled again, image too */
  char p[400];
  the_entry(p, sizeof p);
  poke(p, 100, 0xee); /* unsound: pruned, with its image and the image's record */
  assert_int_equal(cis_cache_prune(0, &removed), CIS_OK);
  assert_int_equal(removed, 1);
  assert_int_equal(cache_files(IMG, false), 0);
  assert_int_equal(cache_files(OK, false), 0);
  ref_free(&r);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(image_is_mapped_and_equals_the_copy, setup, teardown),
      cmocka_unit_test_setup_teardown(released_memory_is_reused_with_its_own_contents, setup, teardown),
      cmocka_unit_test_setup_teardown(passive_segments_and_drops_are_unchanged, setup, teardown),
      cmocka_unit_test_setup_teardown(modules_without_an_image_copy, setup, teardown),
      cmocka_unit_test_setup_teardown(bad_or_untrusted_images_are_not_mapped, setup, teardown),
      cmocka_unit_test_setup_teardown(image_that_cannot_be_written_is_left_out, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_clear_and_prune_remove_images, setup, teardown),
      cmocka_unit_test_setup_teardown(image_compared_once_is_recorded, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
