/*
 * This file implements the tests of memory reuse between instances: an
 * engine keeps released memory reservations in a bounded pool and hands
 * them to later instances (src/runtime/objects.c). Isolation is the point
 * of a sandbox, so a reused memory must look exactly like a fresh one:
 * nothing of the previous instance's memory, grown memory, data segments,
 * globals or tables shows through, on the same thread or another; the
 * memory account and the memory cap hold as for a fresh memory; the pool
 * keeps no more than its bounds and never hands out a reservation smaller
 * than asked; a memory that mapped an image of its initial contents is
 * reset to zeros, not to the image. Value stacks are pooled the same
 * way, bounded too.
 */
#include "runtime/rt_test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/rt_internal.h"

#define SECRET 0x5ec2e7
#if 5 * 65536 <= CIS__MEM_POOL_ZERO_MAX
#error "bigsecret.wat must be larger than CIS__MEM_POOL_ZERO_MAX"
#endif
#define INIT_WORD 0x74696e69 /* "init" read as a little-endian i32 */

static uint64_t pool_reused(cis_engine *e) { return cis__memory_pool_reused(e); }

static cis_result call_i(cis_instance *inst, const char *name, int nargs, int32_t x, int32_t *out) {
  cis_val a = {.type = CIS_I32, .of.i32 = x}, r;
  cis_func *f = cis_instance_func(inst, name);
  assert_non_null(f);
  cis_result rc = cis_func_call(inst, f, &a, (size_t)nargs, out ? &r : NULL, out ? 1 : 0);
  if (rc == CIS_OK && out) *out = r.of.i32;
  return rc;
}

static int32_t get_i(cis_instance *inst, const char *name, int nargs, int32_t x) {
  int32_t v = 0;
  cis_result rc = call_i(inst, name, nargs, x, &v);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(inst));
  return v;
}

static cis_instance *new_inst(cis_module *m, const cis_limits *l) {
  cis_instance *inst = NULL;
  cis_result rc = cis_instance_new(m, NULL, l, &inst);
  if (rc != CIS_OK) fail_msg("instantiate: %s", cis_errname(rc));
  return inst;
}

/* Runs write_secret on a fresh instance and frees it: its memory goes to
 * the pool. */
static void leave_secret(cis_module *m) {
  cis_instance *a = new_inst(m, NULL);
  assert_int_equal(call_i(a, "write_secret", 0, 0, NULL), CIS_OK);
  assert_int_equal(get_i(a, "peek", 1, 512), SECRET);
  assert_int_equal(get_i(a, "global", 0, 0), SECRET);
  assert_int_equal(get_i(a, "pages", 0, 0), 3);
  cis_instance_free(a);
}

/* What a fresh instance of secret.wat shows; checked on a reused one. */
static void expect_fresh(cis_instance *b) {
  assert_int_equal(get_i(b, "peek", 1, 512), 0);
  assert_int_equal(get_i(b, "peek", 1, 256), INIT_WORD);
  assert_int_equal(get_i(b, "global", 0, 0), 7);
  assert_int_equal(get_i(b, "pages", 0, 0), 1);
  assert_int_equal(get_i(b, "slot1_null", 0, 0), 1);
  /* Past the initial size is out of bounds again, not the old pages. */
  int32_t v;
  assert_int_equal(call_i(b, "peek", 1, 131072, &v), CIS_TRAP_MEM_OOB);
  assert_int_equal(get_i(b, "grow", 1, 2), 1);
  assert_int_equal(get_i(b, "peek", 1, 131072), 0);
}

static void reused_memory_reads_as_fresh_on_the_same_thread(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *m = rt_load(e, "secret");
  leave_secret(m);
  uint64_t before = pool_reused(e);
  cis_instance *b = new_inst(m, NULL);
  assert_int_equal(pool_reused(e), before + 1); /* it did take the pooled reservation */
  expect_fresh(b);
  cis_instance_free(b);
  cis_module_free(m);
  cis_engine_free(e);
}

typedef struct other_thread {
  cis_module *m;      /* module to instantiate there */
} other_thread;

static void *instantiate_and_check(void *arg) {
  other_thread *t = arg;
  cis_instance *b = new_inst(t->m, NULL);
  expect_fresh(b);
  cis_instance_free(b);
  return NULL;
}

static void reused_memory_reads_as_fresh_on_another_thread(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *m = rt_load(e, "secret");
  leave_secret(m);
  uint64_t before = pool_reused(e);
  other_thread t = {m};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, instantiate_and_check, &t), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(pool_reused(e), before + 1);
  cis_module_free(m);
  cis_engine_free(e);
}

/* The account and the cap of a reused memory: the same charge as a fresh
 * one, and growth stops at the new instance's cap even though the
 * reservation it reuses reaches further. */
static void reused_memory_keeps_the_account_and_the_cap(void **state) {
  (void)state;
  cis_limits l;
  cis_limits_default(&l);
  l.max_memory_bytes = 2 * 65536;
  cis_engine *fresh_e = rt_engine(NULL);
  cis_module *fresh_m = rt_load(fresh_e, "secret");
  cis_instance *fresh = new_inst(fresh_m, &l);
  uint64_t fresh_used = cis_instance_memory_used(fresh);

  cis_engine *e = rt_engine(NULL);
  cis_module *m = rt_load(e, "secret");
  cis_instance *a = new_inst(m, NULL);
  assert_int_equal(get_i(a, "grow", 1, 7), 1); /* 8 pages, the declared maximum */
  cis_instance_free(a);
  uint64_t before = pool_reused(e);
  cis_instance *b = new_inst(m, &l);
  assert_int_equal(pool_reused(e), before + 1);
  assert_int_equal(cis_instance_memory_used(b), fresh_used);
  assert_int_equal(get_i(b, "grow", 1, 1), 1);
  assert_int_equal(get_i(b, "grow", 1, 1), -1); /* the cap, not the reservation */
  assert_int_equal(get_i(b, "pages", 0, 0), 2);
  assert_int_equal(cis_instance_memory_used(b), fresh_used + 65536);
  cis_instance_free(b);
  cis_module_free(m);
  cis_engine_free(e);
  cis_instance_free(fresh);
  cis_module_free(fresh_m);
  cis_engine_free(fresh_e);
}

/* Past the size the pool zeroes by hand, released pages are dropped with
 * madvise: they read as zero all the same. */
static void large_reused_memory_reads_as_zero(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *m = rt_load(e, "bigsecret");
  cis_instance *a = new_inst(m, NULL);
  assert_int_equal(call_i(a, "write_secret", 0, 0, NULL), CIS_OK);
  assert_int_equal(get_i(a, "peek", 1, 300000), SECRET);
  cis_instance_free(a);
  uint64_t before = pool_reused(e);
  cis_instance *b = new_inst(m, NULL);
  assert_int_equal(pool_reused(e), before + 1);
  assert_int_equal(get_i(b, "peek", 1, 300000), 0);
  assert_int_equal(get_i(b, "peek", 1, 16), 0);
  cis_instance_free(b);
  cis_module_free(m);
  cis_engine_free(e);
}

/* Fails unless the n bytes at p are want(from), want(from + 1), ... */
static void check_bytes(const uint8_t *p, size_t n, uint8_t (*want)(size_t), size_t from) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != want(from + i)) fail_msg("byte %zu is %u, not %u", from + i, p[i], want(from + i));
}
static uint8_t zero(size_t i) {
  (void)i;
  return 0;
}
static uint8_t pattern(size_t i) { return (uint8_t)(i * 7 + 1); }

/* A memory that maps pages of an image (cis__memory_map_image: memory
 * 0's initial contents from a file) reads them, writes them privately
 * (the file keeps its bytes), and once released and taken from the pool
 * reads as zero throughout: a reset by MADV_DONTNEED alone would read
 * the file's bytes back. An image it cannot map (no file, a range
 * outside the memory) leaves it zero and usable. */
static void memory_mapped_from_an_image_is_reset_to_zeros(void **state) {
  (void)state;
  const size_t page = CIS__PAGE_SIZE, n = 8 * CIS__PAGE_SIZE;
  cis_engine *e = rt_engine(NULL);
  int fd = memfd_create("image", MFD_CLOEXEC);
  assert_true(fd >= 0);
  uint8_t *file = malloc(2 * page);
  assert_non_null(file);
  for (size_t i = 0; i < 2 * page; i++) file[i] = pattern(i);
  assert_int_equal(write(fd, file, 2 * page), (ssize_t)(2 * page));
  cis__limits lim = {.min = 8, .max = 8, .has_max = true};
  cis_memory *m = NULL;
  assert_int_equal(cis__memory_create(e, &lim, 0, NULL, e, &m), CIS_OK);
  cis__mem_image img = {.fd = fd, .start = page, .len = 2 * page};
  assert_int_equal(cis__memory_map_image(m, &img), 1);
  check_bytes(m->base, page, zero, 0);
  check_bytes(m->base + page, 2 * page, pattern, 0);
  check_bytes(m->base + 3 * page, n - 3 * page, zero, 0);
  memset(m->base, 0xab, n); /* everywhere, the image's pages too */
  assert_int_equal(pread(fd, file, 2 * page, 0), (ssize_t)(2 * page));
  check_bytes(file, 2 * page, pattern, 0); /* copy-on-write: the file is unchanged */
  cis_memory_free(m);
  uint64_t before = pool_reused(e);
  assert_int_equal(cis__memory_create(e, &lim, 0, NULL, e, &m), CIS_OK);
  assert_int_equal(pool_reused(e), before + 1);
  assert_int_equal(m->img_len, 0);
  check_bytes(m->base, n, zero, 0);
  /* Not mapped: no file, or a range past the memory's size. */
  cis__mem_image none = {.fd = -1, .start = page, .len = 2 * page};
  assert_int_equal(cis__memory_map_image(m, &none), 0);
  cis__mem_image past = {.fd = fd, .start = 7 * page, .len = 2 * page};
  assert_int_equal(cis__memory_map_image(m, &past), 0);
  assert_int_equal(m->img_len, 0);
  check_bytes(m->base, n, zero, 0);
  memset(m->base, 1, n);
  cis_memory_free(m);
  close(fd);
  free(file);
  cis_engine_free(e);
}

/* Many memories released at once: the pool keeps at most its bounds, the
 * rest is unmapped, and the engine's close unmaps what it kept. */
static void memory_pool_is_bounded(void **state) {
  (void)state;
  enum { N = CIS__POOL_STRIPES * CIS__MEM_POOL_MAX + 8 };
  cis_engine *e = rt_engine(NULL);
  cis_module *m = rt_load(e, "secret");
  cis_instance *insts[N];
  for (int i = 0; i < N; i++) insts[i] = new_inst(m, NULL);
  for (int i = 0; i < N; i++) cis_instance_free(insts[i]);
  cis__engine_rt *r = (cis__engine_rt *)e;
  uint32_t kept = 0;
  for (unsigned k = 0; k < CIS__POOL_STRIPES; k++) {
    kept += r->pools[k].nmem;
    assert_true(r->pools[k].bytes <= CIS__MEM_POOL_MAX_BYTES);
  }
  assert_int_equal(kept, CIS__POOL_STRIPES * CIS__MEM_POOL_MAX);
  cis_module_free(m);
  cis_engine_free(e);
}

/* A module whose memory may grow further than a pooled reservation
 * reaches gets a reservation of its own. */
static void memory_pool_never_hands_out_a_smaller_reservation(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *small = rt_load(e, "secret"); /* reaches 8 pages */
  cis_module *big = rt_load(e, "unbounded");
  cis_instance_free(new_inst(small, NULL));
  uint64_t before = pool_reused(e);
  cis_instance *b = new_inst(big, NULL);
  assert_int_equal(pool_reused(e), before);
  assert_int_equal(get_i(b, "grow", 1, 40), 1); /* past 8 pages */
  cis_instance_free(b);
  cis_module_free(big);
  cis_module_free(small);
  cis_engine_free(e);
}

static uint32_t pooled_stacks(cis_engine *e) {
  cis__engine_rt *r = (cis__engine_rt *)e;
  uint32_t n = 0;
  for (unsigned k = 0; k < CIS__POOL_STRIPES; k++) {
    pthread_mutex_lock(&r->pools[k].lock);
    n += r->pools[k].nstacks;
    pthread_mutex_unlock(&r->pools[k].lock);
  }
  return n;
}

/* An instance's value stack goes back to the engine when it is freed and
 * serves the next instance's first call if the size matches; the engine
 * keeps at most CIS__STACK_POOL_MAX of them per stripe. */
static void value_stacks_are_reused_and_bounded(void **state) {
  (void)state;
  enum { NKEPT = CIS__POOL_STRIPES * CIS__STACK_POOL_MAX, N = NKEPT + 2 };
  cis_engine *e = rt_engine(NULL);
  cis_module *m = rt_load(e, "secret");
  cis_instance *insts[N];
  for (int i = 0; i < N; i++) {
    insts[i] = new_inst(m, NULL);
    assert_int_equal(get_i(insts[i], "pages", 0, 0), 1); /* a call allocates the stack */
  }
  assert_int_equal(pooled_stacks(e), 0);
  for (int i = 0; i < N; i++) cis_instance_free(insts[i]);
  assert_int_equal(pooled_stacks(e), NKEPT);
  cis_instance *b = new_inst(m, NULL);
  assert_int_equal(pooled_stacks(e), NKEPT); /* taken at the first call */
  assert_int_equal(get_i(b, "pages", 0, 0), 1);
  assert_int_equal(pooled_stacks(e), NKEPT - 1);
  cis_instance_free(b);
  /* Another size takes none. */
  cis_limits l;
  cis_limits_default(&l);
  l.max_stack_bytes = 64 * 1024;
  cis_instance *c = new_inst(m, &l);
  assert_int_equal(get_i(c, "pages", 0, 0), 1);
  assert_int_equal(pooled_stacks(e), NKEPT);
  cis_instance_free(c);
  cis_module_free(m);
  cis_engine_free(e);
}

/* A memory may outlive its engine: freeing it afterwards must not give
 * its reservation to the freed engine's pool (it did: a use after free
 * under ASan), and one pooled memory freed while another still lives
 * must not be pooled either. */
static void memory_outlives_its_engine(void **state) {
  (void)state;
  cis_engine *e = NULL;
  cis_memory *a = NULL, *b = NULL;
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  assert_int_equal(cis_memory_new(e, 1, 2, true, &a), CIS_OK);
  assert_int_equal(cis_memory_new(e, 1, 2, true, &b), CIS_OK);
  cis_memory_data(a)[0] = 7;
  cis_engine_free(e);
  assert_int_equal(cis_memory_data(a)[0], 7);
  cis_memory_free(a);
  assert_int_equal(cis_memory_grow(b, 1), 1);
  cis_memory_data(b)[65536] = 1;
  cis_memory_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(reused_memory_reads_as_fresh_on_the_same_thread),
      cmocka_unit_test(reused_memory_reads_as_fresh_on_another_thread),
      cmocka_unit_test(reused_memory_keeps_the_account_and_the_cap),
      cmocka_unit_test(large_reused_memory_reads_as_zero),
      cmocka_unit_test(memory_mapped_from_an_image_is_reset_to_zeros),
      cmocka_unit_test(memory_pool_is_bounded),
      cmocka_unit_test(memory_pool_never_hands_out_a_smaller_reservation),
      cmocka_unit_test(value_stacks_are_reused_and_bounded),
      cmocka_unit_test(memory_outlives_its_engine),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
