/*
 * This file implements the tests of lazy translation (translate.c): a
 * function is translated on its first call and never before, through every
 * path into a function (a direct call, call_indirect, an export, the start
 * function, a call from another instance); two threads racing on the first
 * call of the same function both get correct results and leak nothing; and
 * running out of memory while translating is a typed error of that call,
 * after which the function works again.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cis/cis.h"
#include "support/test_file.h"
#include "interp/interp.h"

/* Function indices in wat/lazy.wat. */
enum {
  F_A = 0, F_B = 1, F_C = 2, F_H1 = 3, F_H2 = 4, F_UNUSED = 5, F_TABLE_TARGET = 6,
  F_VIA_TABLE = 7, F_START = 8, F_FROM_START = 9, F_STARTED = 10, F_MAYBE = 11, F_H3 = 12,
  F_SQUARE = 13, F_COUNT = 14,
};

static cis_module *load(cis_engine *e, const char *name) {
  size_t n = 0;
  uint8_t *buf = cis_test_file_read_in(CIS_INTERP_WASM_DIR, name, ".wasm", &n);
  if (!buf) fail_msg("cannot read fixture %s/%s.wasm", CIS_INTERP_WASM_DIR, name);
  cis_module *m = NULL;
  cis_result rc = cis_module_new(e, buf, n, &m);
  free(buf);
  if (rc != CIS_OK) fail_msg("loading %s: %s: %s", name, cis_errname(rc), cis_errmsg(e));
  return m;
}

static cis_engine *engine(void) {
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  return e;
}

/* Calls export name(arg) of inst; the i32 result in *out. */
static cis_result call_i32(cis_instance *inst, const char *name, int32_t arg, int32_t *out) {
  cis_func *f = cis_instance_func(inst, name);
  if (!f) fail_msg("no export %s", name);
  cis_val a = {.type = CIS_I32, .of.u64 = (uint32_t)arg}, r;
  memset(&r, 0, sizeof r);
  cis_result rc = cis_func_call(inst, f, &a, 1, &r, 1);
  *out = r.of.i32;
  return rc;
}

static int32_t ok_i32(cis_instance *inst, const char *name, int32_t arg) {
  int32_t v = 0;
  cis_result rc = call_i32(inst, name, arg, &v);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(inst));
  return v;
}

/* The set of translated functions as a bit mask over lazy.wat's indices. */
static uint32_t translated(const cis_module *m) {
  uint32_t bits = 0;
  for (uint32_t i = 0; i < F_COUNT; i++)
    if (cis__interp_is_translated(m, i)) bits |= 1u << i;
  return bits;
}

#define BIT(f) (1u << (f))

/* Loading translates nothing; instantiating translates the start function
 * and what it calls; each call translates exactly the function called and
 * its callees on the path taken, and no function is translated twice. */
static void lazy_translates_only_what_is_called(void **state) {
  (void)state;
  cis_engine *e = engine();
  cis_module *m = load(e, "lazy");
  assert_int_equal(translated(m), 0);
  assert_int_equal(cis__interp_translated_count(m), 0);

  cis_instance *in = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &in), CIS_OK);
  const uint32_t start = BIT(F_START) | BIT(F_FROM_START);
  assert_int_equal(translated(m), start);

  assert_int_equal(ok_i32(in, "a", 1), 102);
  assert_int_equal(translated(m), start | BIT(F_A) | BIT(F_H1));
  assert_int_equal(cis__interp_translated_count(m), 4);
  /* Calling again translates nothing more. */
  assert_int_equal(ok_i32(in, "a", 2), 103);
  assert_int_equal(cis__interp_translated_count(m), 4);

  assert_int_equal(ok_i32(in, "c", 5), 15);
  assert_int_equal(translated(m), start | BIT(F_A) | BIT(F_H1) | BIT(F_C));

  /* maybe(0) takes the branch without the call: h3 stays a stub. */
  assert_int_equal(ok_i32(in, "maybe", 0), -1);
  assert_false(cis__interp_is_translated(m, F_H3));
  assert_int_equal(ok_i32(in, "maybe", 5), 10);
  assert_true(cis__interp_is_translated(m, F_H3));

  /* Never called: b, h2, the table's target, via_table, unused, square. */
  assert_int_equal(translated(m) & (BIT(F_B) | BIT(F_H2) | BIT(F_UNUSED) | BIT(F_TABLE_TARGET) |
                                    BIT(F_VIA_TABLE) | BIT(F_STARTED) | BIT(F_SQUARE)),
                   0);
  cis_instance_free(in);
  cis_module_free(m);
  cis_engine_free(e);
}

/* The start function's first call comes from instantiation; its callee's
 * from inside the interpreter. */
static void lazy_first_call_from_the_start_function(void **state) {
  (void)state;
  cis_engine *e = engine();
  cis_module *m = load(e, "lazy");
  assert_false(cis__interp_is_translated(m, F_START));
  cis_instance *in = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &in), CIS_OK);
  assert_true(cis__interp_is_translated(m, F_START));
  assert_true(cis__interp_is_translated(m, F_FROM_START));
  assert_int_equal(ok_i32(in, "started", 0), 55);
  cis_instance_free(in);
  cis_module_free(m);
  cis_engine_free(e);
}

/* A function reached first through call_indirect (it is only in the
 * table) is translated then, and runs. */
static void lazy_first_call_through_call_indirect(void **state) {
  (void)state;
  cis_engine *e = engine();
  cis_module *m = load(e, "lazy");
  cis_instance *in = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &in), CIS_OK);
  assert_false(cis__interp_is_translated(m, F_TABLE_TARGET));
  cis_func *f = cis_instance_func(in, "via_table");
  cis_val args[2] = {{.type = CIS_I32, .of.u64 = 0}, {.type = CIS_I32, .of.u64 = 0x0f}}, r;
  assert_int_equal(cis_func_call(in, f, args, 2, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 0x0f ^ 0x55);
  assert_true(cis__interp_is_translated(m, F_TABLE_TARGET));
  assert_false(cis__interp_is_translated(m, F_H1));
  args[0].of.u64 = 1; /* slot 1 holds h1 */
  assert_int_equal(cis_func_call(in, f, args, 2, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 0x0f + 100);
  assert_true(cis__interp_is_translated(m, F_H1));
  cis_instance_free(in);
  cis_module_free(m);
  cis_engine_free(e);
}

/* An export first called by another instance that imports it. */
static void lazy_first_call_from_another_instance(void **state) {
  (void)state;
  cis_engine *e = engine();
  cis_module *m = load(e, "lazy");
  cis_module *um = load(e, "lazy_user");
  cis_instance *in = NULL, *user = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &in), CIS_OK);
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_instance(im, "lazy", 4, in), CIS_OK);
  assert_int_equal(cis_instance_new(um, im, NULL, &user), CIS_OK);
  assert_false(cis__interp_is_translated(m, F_SQUARE));
  assert_int_equal(ok_i32(user, "use_square", 7), 50);
  assert_true(cis__interp_is_translated(m, F_SQUARE));
  assert_int_equal(cis__interp_translated_count(um), 1);
  assert_int_equal(ok_i32(user, "use_square", -3), 10);
  cis_instance_free(user);
  cis_instance_free(in);
  cis_imports_free(im);
  cis_module_free(um);
  cis_module_free(m);
  cis_engine_free(e);
}

/* Out of memory while translating: the call that needed the translation
 * fails with CIS_ENOMEM (the message on the instance), the function stays
 * untranslated, nothing leaks, and the next call translates it. Both
 * paths: an export called from outside, and a callee met inside the
 * interpreter. */
static void lazy_translation_out_of_memory_is_a_typed_error(void **state) {
  (void)state;
  cis_engine *e = engine();
  cis_module *m = load(e, "lazy");
  cis_instance *in = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &in), CIS_OK);
  int32_t v = 0;

  cis__interp_fail_translations(m, 1);
  assert_int_equal(call_i32(in, "c", 2, &v), CIS_ENOMEM);
  assert_non_null(strstr(cis_errmsg(in), "out of memory translating function 2"));
  assert_false(cis__interp_is_translated(m, F_C));
  assert_int_equal(ok_i32(in, "c", 2), 6);
  assert_true(cis__interp_is_translated(m, F_C));

  assert_int_equal(ok_i32(in, "maybe", 0), -1); /* maybe translated, h3 not */
  cis__interp_fail_translations(m, 1);
  assert_int_equal(call_i32(in, "maybe", 4, &v), CIS_ENOMEM);
  assert_non_null(strstr(cis_errmsg(in), "out of memory translating function 12"));
  assert_false(cis__interp_is_translated(m, F_H3));
  assert_int_equal(ok_i32(in, "maybe", 4), 6);
  assert_true(cis__interp_is_translated(m, F_H3));
  cis_instance_free(in);
  cis_module_free(m);
  cis_engine_free(e);
}

/* Out of memory before anything was translated (the translator's own
 * state): the start function cannot run, so instantiation fails with
 * CIS_ENOMEM; the next instantiation works. translate_all reports the
 * failure too, and an index past the module is refused. */
static void lazy_translation_out_of_memory_at_the_start(void **state) {
  (void)state;
  cis_engine *e = engine();
  cis_module *m = load(e, "lazy");
  cis_instance *in = NULL;
  cis__interp_fail_translations(m, 1);
  assert_int_equal(cis_instance_new(m, NULL, NULL, &in), CIS_ENOMEM);
  assert_null(in);
  assert_non_null(strstr(cis_errmsg(e), "out of memory translating function 8"));
  assert_int_equal(cis__interp_translated_count(m), 0);
  assert_int_equal(cis_instance_new(m, NULL, NULL, &in), CIS_OK);
  assert_int_equal(ok_i32(in, "started", 0), 55);

  cis__interp_fail_translations(m, 1);
  assert_int_equal(cis__interp_translate_all(m), CIS_ENOMEM);
  assert_int_equal(cis__interp_translate_all(m), CIS_OK);
  assert_int_equal(cis__interp_translated_count(m), F_COUNT);

  cis__icode *ic = cis_instance_module(in)->engine_data;
  const cis__ifunc *f = NULL;
  assert_int_equal(cis__interp_resolve(ic, ic->nfuncs, in, &f), CIS_EINVALID);
  assert_null(f);
  cis_instance_free(in);
  cis_module_free(m);
  cis_engine_free(e);
}

/* --------------------------------------------------------------- racing */

enum { RACE_ROUNDS = 40, RACE_CALLS = 50, RACE_THREADS = 2 };

typedef struct racer {
  cis_module *m;               /* shared by the threads */
  pthread_barrier_t *go;       /* all threads call at once */
  int bad;                     /* wrong results or failures seen */
} racer;

static void *race(void *arg) {
  racer *r = arg;
  cis_instance *in = NULL;
  if (cis_instance_new(r->m, NULL, NULL, &in) != CIS_OK) {
    r->bad++;
    pthread_barrier_wait(r->go);
    return NULL;
  }
  pthread_barrier_wait(r->go);
  for (int k = 0; k < RACE_CALLS; k++) {
    int32_t v = 0;
    /* b calls h2, which calls h1: three first calls in one, and h3's loop. */
    if (call_i32(in, "b", k, &v) != CIS_OK || v != k + 93) r->bad++;
    if (call_i32(in, "maybe", k + 1, &v) != CIS_OK || v != k * (k + 1) / 2) r->bad++;
  }
  cis_instance_free(in);
  return NULL;
}

/* Two threads make the first calls of the same functions of one module at
 * the same moment, round after round on fresh modules: every result is
 * right, each function is translated once, and (under ASan) nothing
 * leaks. */
static void lazy_translation_races_between_threads(void **state) {
  (void)state;
  cis_engine *e = engine();
  for (int round = 0; round < RACE_ROUNDS; round++) {
    cis_module *m = load(e, "lazy");
    pthread_barrier_t go;
    assert_int_equal(pthread_barrier_init(&go, NULL, RACE_THREADS), 0);
    racer rs[RACE_THREADS];
    pthread_t th[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++) {
      rs[i] = (racer){.m = m, .go = &go, .bad = 0};
      assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
    }
    for (int i = 0; i < RACE_THREADS; i++) {
      pthread_join(th[i], NULL);
      assert_int_equal(rs[i].bad, 0);
    }
    pthread_barrier_destroy(&go);
    /* start, from_start, b, h2, h1, maybe, h3: each once. */
    assert_int_equal(cis__interp_translated_count(m), 7);
    cis_module_free(m);
  }
  cis_engine_free(e);
}

/* Translating every function on demand (what the fuzzers do) matches what
 * the calls translate. */
static void lazy_translate_all_translates_every_function(void **state) {
  (void)state;
  cis_engine *e = engine();
  cis_module *m = load(e, "lazy");
  assert_int_equal(cis__interp_translate_all(m), CIS_OK);
  assert_int_equal(translated(m), (1u << F_COUNT) - 1);
  assert_int_equal(cis__interp_translated_count(m), F_COUNT);
  cis__interp_fail_translations(m, 1); /* nothing left to translate: unused */
  cis_instance *in = NULL;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &in), CIS_OK);
  assert_int_equal(ok_i32(in, "a", 1), 102);
  cis_instance_free(in);
  cis_module_free(m);
  cis_engine_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lazy_translates_only_what_is_called),
      cmocka_unit_test(lazy_first_call_from_the_start_function),
      cmocka_unit_test(lazy_first_call_through_call_indirect),
      cmocka_unit_test(lazy_first_call_from_another_instance),
      cmocka_unit_test(lazy_translation_out_of_memory_is_a_typed_error),
      cmocka_unit_test(lazy_translation_out_of_memory_at_the_start),
      cmocka_unit_test(lazy_translation_races_between_threads),
      cmocka_unit_test(lazy_translate_all_translates_every_function),
  };
  return cmocka_run_group_tests_name("interp_lazy", tests, NULL, NULL);
}
