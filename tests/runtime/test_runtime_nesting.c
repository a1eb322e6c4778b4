/*
 * This file implements the tests that no depth a guest or an embedder's
 * object graph decides can overflow the host's native stack: 100,000
 * nested blocks, ifs and loops, a 100,000-entry br_table and a 100,000-deep
 * operand stack go through the decoder, validator, translator and
 * interpreter (under ASan, which would report any overflow); wasm
 * recursion at the largest call depth a manifest allows; host functions
 * that call back into wasm, and instances that call each other, until
 * "call stack exhausted", on the main thread, on threads with small
 * stacks and on a fiber stack the embedder switched to; and a chain of instances importing from each other, freed from
 * its end.
 *
 * The modules are written byte by byte here, because a .wat with 100,000
 * nested blocks would be a 1 MB fixture.
 */
#include "runtime/rt_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define DEEP 100000u

/* ------------------------------------------------------ module writer */

typedef struct buf {
  uint8_t *p;  /* bytes */
  size_t n;    /* used */
  size_t cap;  /* allocated */
} buf;

static void put(buf *b, const void *src, size_t n) {
  if (b->n + n > b->cap) {
    size_t ncap = b->cap ? b->cap * 2 : 256;
    while (ncap < b->n + n) ncap *= 2;
    b->p = realloc(b->p, ncap);
    assert_non_null(b->p);
    b->cap = ncap;
  }
  memcpy(b->p + b->n, src, n);
  b->n += n;
}

static void byte(buf *b, uint8_t v) { put(b, &v, 1); }

static void uleb(buf *b, uint64_t v) {
  do {
    uint8_t c = v & 0x7f;
    v >>= 7;
    byte(b, c | (v ? 0x80 : 0));
  } while (v);
}

static void sleb(buf *b, int64_t v) {
  for (;;) {
    uint8_t c = v & 0x7f;
    v >>= 7;
    bool done = (v == 0 && !(c & 0x40)) || (v == -1 && (c & 0x40));
    byte(b, c | (done ? 0 : 0x80));
    if (done) return;
  }
}

static void section(buf *mod, uint8_t id, const buf *body) {
  byte(mod, id);
  uleb(mod, body->n);
  put(mod, body->p, body->n);
}

/* A module of one function () -> i32 exported as "f", whose body (its
 * instructions, without the final end) is `code`. */
static buf module_of(const buf *code) {
  static const uint8_t head[] = {0, 'a', 's', 'm', 1, 0, 0, 0};
  buf m = {0}, s = {0};
  put(&m, head, sizeof head);
  /* type 0: () -> i32 */
  byte(&s, 1); byte(&s, 0x60); byte(&s, 0); byte(&s, 1); byte(&s, 0x7f);
  section(&m, 1, &s);
  s.n = 0;
  byte(&s, 1); byte(&s, 0);
  section(&m, 3, &s);
  s.n = 0;
  byte(&s, 1); uleb(&s, 1); put(&s, "f", 1); byte(&s, 0); byte(&s, 0);
  section(&m, 7, &s);
  s.n = 0;
  buf body = {0};
  byte(&body, 0); /* no locals */
  put(&body, code->p, code->n);
  byte(&body, 0x0b);
  byte(&s, 1);
  uleb(&s, body.n);
  put(&s, body.p, body.n);
  section(&m, 10, &s);
  free(body.p);
  free(s.p);
  return m;
}

/* Loads, instantiates and calls "f" of the module with body `code`:
 * either it returns `want`, or the module is refused with a typed error.
 * Either way nothing may crash. */
static void run_body(const char *what, buf *code, int32_t want) {
  buf m = module_of(code);
  cis_engine *e = rt_engine(NULL);
  cis_module *mod = NULL;
  double t0 = rt_now_ms();
  cis_result rc = cis_module_new(e, m.p, m.n, &mod);
  double load_ms = rt_now_ms() - t0;
  if (rc != CIS_OK) {
    /* A refusal must be a typed decode/validate/limit error. */
    print_message("%s: refused: %s: %s\n", what, cis_errname(rc), cis_errmsg(e));
    assert_true(rc < 0);
    assert_true(cis_errmsg(e)[0] != '\0');
  } else {
    cis_instance *inst = NULL;
    assert_int_equal(cis_instance_new(mod, NULL, NULL, &inst), CIS_OK);
    cis_val r;
    rc = cis_func_call(inst, cis_instance_func(inst, "f"), NULL, 0, &r, 1);
    if (rc != CIS_OK) fail_msg("%s: %s: %s", what, cis_errname(rc), cis_errmsg(inst));
    assert_int_equal(r.of.i32, want);
    print_message("%s: %zu bytes, loaded in %.0f ms, returned %d\n", what, m.n, load_ms,
                  r.of.i32);
    cis_instance_free(inst);
    cis_module_free(mod);
  }
  cis_engine_free(e);
  free(m.p);
  free(code->p);
}

/* ------------------------------------------------------ deep nesting */

static void hundred_thousand_nested_blocks(void **state) {
  (void)state;
  buf c = {0};
  /* block ... block (DEEP) i32.const 1 br_if DEEP-1 end ... end i32.const 42 */
  for (uint32_t i = 0; i < DEEP; i++) { byte(&c, 0x02); byte(&c, 0x40); }
  byte(&c, 0x41); sleb(&c, 1);
  byte(&c, 0x0d); uleb(&c, DEEP - 1);
  for (uint32_t i = 0; i < DEEP; i++) byte(&c, 0x0b);
  byte(&c, 0x41); sleb(&c, 42);
  run_body("100000 nested blocks", &c, 42);

  /* Blocks that each yield a value: the innermost 7 travels out. */
  memset(&c, 0, sizeof c);
  for (uint32_t i = 0; i < DEEP; i++) { byte(&c, 0x02); byte(&c, 0x7f); }
  byte(&c, 0x41); sleb(&c, 7);
  for (uint32_t i = 0; i < DEEP; i++) byte(&c, 0x0b);
  run_body("100000 nested value blocks", &c, 7);
}

static void hundred_thousand_nested_ifs_and_loops(void **state) {
  (void)state;
  buf c = {0};
  /* i32.const 1 if (result i32) ... (DEEP) i32.const 5 else i32.const 6 end ... */
  for (uint32_t i = 0; i < DEEP; i++) {
    byte(&c, 0x41); sleb(&c, 1);
    byte(&c, 0x04); byte(&c, 0x7f);
  }
  byte(&c, 0x41); sleb(&c, 5);
  for (uint32_t i = 0; i < DEEP; i++) {
    byte(&c, 0x05);
    byte(&c, 0x41); sleb(&c, 6);
    byte(&c, 0x0b);
  }
  run_body("100000 nested ifs", &c, 5);

  memset(&c, 0, sizeof c);
  /* loop ... loop (DEEP) i32.const 9 end ... end: each loop falls through. */
  for (uint32_t i = 0; i < DEEP; i++) { byte(&c, 0x03); byte(&c, 0x7f); }
  byte(&c, 0x41); sleb(&c, 9);
  for (uint32_t i = 0; i < DEEP; i++) byte(&c, 0x0b);
  run_body("100000 nested loops", &c, 9);
}

static void hundred_thousand_label_br_table(void **state) {
  (void)state;
  buf c = {0};
  /* DEEP blocks, then br_table over every depth, selecting the outermost. */
  for (uint32_t i = 0; i < DEEP; i++) { byte(&c, 0x02); byte(&c, 0x40); }
  byte(&c, 0x41); sleb(&c, (int64_t)DEEP - 1);
  byte(&c, 0x0e);
  uleb(&c, DEEP);
  for (uint32_t i = 0; i < DEEP; i++) uleb(&c, i);
  uleb(&c, 0);
  for (uint32_t i = 0; i < DEEP; i++) byte(&c, 0x0b);
  byte(&c, 0x41); sleb(&c, 11);
  run_body("br_table over 100000 nested labels", &c, 11);
}

static void hundred_thousand_deep_operand_stack(void **state) {
  (void)state;
  buf c = {0};
  for (uint32_t i = 0; i < DEEP; i++) { byte(&c, 0x41); sleb(&c, 1); }
  for (uint32_t i = 1; i < DEEP; i++) byte(&c, 0x6a); /* i32.add */
  run_body("100000 values on the operand stack", &c, (int32_t)DEEP);
}

/* ---------------------------------------------------- deep call chains */

static size_t reentered; /* host calls seen by host_reenter */

/* Calls the guest's "down" back with its argument: guest -> host -> guest
 * recursion that only the runtime can stop. */
static cis_result host_reenter(cis_call *c, const cis_slot *a, cis_slot *r) {
  cis_instance *inst = cis_call_instance(c);
  reentered++;
  cis_val arg = {.type = CIS_I32, .of.i32 = a[0].i32}, res;
  cis_result rc = cis_func_call(inst, cis_instance_func(inst, "down"), &arg, 1, &res, 1);
  if (rc != CIS_OK) return rc;
  r[0].i32 = res.of.i32;
  return CIS_OK;
}

static void deepest(cis_limits *l) {
  l->max_call_depth = 1000000; /* the largest a manifest allows */
  l->timeout_ms = 60000;
}

typedef struct chain_run {
  const char *what;      /* for messages */
  cis_instance *inst;    /* whose "down" is called */
  int32_t arg;           /* argument of "down" */
  cis_result rc;         /* what the call returned */
  char msg[256];         /* and its message */
} chain_run;

static void *chain_thread(void *arg) {
  chain_run *r = arg;
  cis_val a = {.type = CIS_I32, .of.i32 = r->arg}, res;
  r->rc = cis_func_call(r->inst, cis_instance_func(r->inst, "down"), &a, 1, &res, 1);
  snprintf(r->msg, sizeof r->msg, "%s", cis_errmsg(r->inst));
  return NULL;
}

/* Runs r on the calling thread (stack_kib 0) or on a new thread with a
 * native stack of that size, and expects "call stack exhausted". */
static void expect_exhausted(chain_run *r, size_t stack_kib) {
  if (stack_kib == 0) {
    chain_thread(r);
  } else {
    pthread_attr_t a;
    pthread_t th;
    pthread_attr_init(&a);
    assert_int_equal(pthread_attr_setstacksize(&a, stack_kib * 1024), 0);
    assert_int_equal(pthread_create(&th, &a, chain_thread, r), 0);
    pthread_join(th, NULL);
    pthread_attr_destroy(&a);
  }
  if (r->rc != CIS_TRAP_STACK)
    fail_msg("%s on a %zu KiB stack: %s: %s", r->what, stack_kib, cis_errname(r->rc), r->msg);
  assert_non_null(strstr(r->msg, "call stack exhausted"));
}

/* Wasm recursion at call depth 1,000,000 with a value stack big enough to
 * get there: the interpreter does not recurse in C, so even a 64 KiB
 * native stack holds it. */
static void max_call_depth_in_wasm(void **state) {
  (void)state;
  cis_limits l;
  cis_limits_default(&l);
  deepest(&l);
  l.max_stack_bytes = 256ull * 1024 * 1024;
  cis_engine *e = rt_engine(NULL);
  cis_module *mod = rt_load(e, "recurse");
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, NULL, &l, &inst), CIS_OK);
  size_t stacks[] = {0, 256, 64};
  for (size_t i = 0; i < sizeof stacks / sizeof *stacks; i++) {
    chain_run r = {"wasm recursion", inst, 0, CIS_OK, ""};
    expect_exhausted(&r, stacks[i]);
  }
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

static void host_reentry_cannot_overflow_the_native_stack(void **state) {
  (void)state;
  cis_limits l;
  cis_limits_default(&l);
  deepest(&l);
  cis_engine *e = rt_engine(NULL);
  cis_host_func_def d = {"host", "reenter", "(i)i", host_reenter, NULL, 0};
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(im, &d, 1), CIS_OK);
  cis_module *mod = rt_load(e, "reenter");
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, im, &l, &inst), CIS_OK);
  size_t stacks[] = {0, 1024, 256, 128};
  for (size_t i = 0; i < sizeof stacks / sizeof *stacks; i++) {
    chain_run r = {"host re-entry", inst, 0, CIS_OK, ""};
    reentered = 0;
    expect_exhausted(&r, stacks[i]);
    print_message("host re-entry on a %s%zu KiB stack: %zu round trips, then %s\n",
                  stacks[i] ? "" : "main thread's ", stacks[i] ? stacks[i] : 8192, reentered,
                  r.msg);
    assert_true(reentered > 0);
  }
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_imports_free(im);
  cis_engine_free(e);
}

/* Two instances calling each other through a shared table: every hop
 * crosses an instance, which the interpreter does through C. */
static void cross_instance_recursion_cannot_overflow(void **state) {
  (void)state;
  cis_limits l;
  cis_limits_default(&l);
  deepest(&l);
  cis_engine *e = rt_engine(NULL);
  cis_module *ping = rt_load(e, "ping");
  cis_module *pong = rt_load(e, "pong");
  cis_instance *a = NULL, *b = NULL;
  assert_int_equal(cis_instance_new(ping, NULL, &l, &a), CIS_OK);
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_instance(im, "ping", 4, a), CIS_OK);
  assert_int_equal(cis_instance_new(pong, im, &l, &b), CIS_OK);
  size_t stacks[] = {0, 256, 128};
  for (size_t i = 0; i < sizeof stacks / sizeof *stacks; i++) {
    chain_run r = {"ping-pong between instances", a, 0, CIS_OK, ""};
    expect_exhausted(&r, stacks[i]);
  }
  cis_instance_free(b);
  cis_imports_free(im);
  cis_instance_free(a);
  cis_module_free(pong);
  cis_module_free(ping);
  cis_engine_free(e);
}

/* A call made on a stack the embedder switched to (ucontext here, as a
 * coroutine library would): the runtime cannot know its size, so it must
 * neither refuse every call (the stack lies outside the thread's) nor let
 * re-entry run off its end. */
static ucontext_t fiber_main, fiber_ctx;
static chain_run *fiber_run;
static cis_result fiber_ok_rc;

static void fiber_body(void) {
  cis_val r;
  cis_instance *inst = fiber_run->inst;
  fiber_ok_rc = cis_func_call(inst, cis_instance_func(inst, "ok"), NULL, 0, &r, 1);
  if (fiber_ok_rc == CIS_OK && r.of.i32 != 42) fiber_ok_rc = CIS_EINVAL;
  chain_thread(fiber_run);
  swapcontext(&fiber_ctx, &fiber_main);
}

static void calls_on_a_switched_stack(void **state) {
  (void)state;
  enum { FIBER_STACK = 256 * 1024 };
  cis_limits l;
  cis_limits_default(&l);
  deepest(&l);
  cis_engine *e = rt_engine(NULL);
  cis_host_func_def d = {"host", "reenter", "(i)i", host_reenter, NULL, 0};
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(im, &d, 1), CIS_OK);
  cis_module *mod = rt_load(e, "reenter_ok");
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, im, &l, &inst), CIS_OK);
  void *stack = mmap(NULL, FIBER_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                     0);
  assert_true(stack != MAP_FAILED);
  chain_run r = {"host re-entry on a fiber", inst, 0, CIS_OK, ""};
  fiber_run = &r;
  reentered = 0;
  assert_int_equal(getcontext(&fiber_ctx), 0);
  fiber_ctx.uc_stack.ss_sp = stack;
  fiber_ctx.uc_stack.ss_size = FIBER_STACK;
  fiber_ctx.uc_link = &fiber_main;
  makecontext(&fiber_ctx, fiber_body, 0);
  assert_int_equal(swapcontext(&fiber_main, &fiber_ctx), 0);
  munmap(stack, FIBER_STACK);
  print_message("on a 256 KiB fiber: a plain call gave %s; re-entry %zu round trips, then %s\n",
                cis_errname(fiber_ok_rc), reentered, r.msg);
  assert_int_equal(fiber_ok_rc, CIS_OK);
  if (r.rc != CIS_TRAP_STACK) fail_msg("%s: %s", cis_errname(r.rc), r.msg);
  assert_non_null(strstr(r.msg, "call stack exhausted"));
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_imports_free(im);
  cis_engine_free(e);
}

/* ------------------------------------------------- long instance chains */

typedef struct free_run {
  cis_instance *last; /* the end of the chain */
} free_run;

static void *free_thread(void *arg) {
  free_run *r = arg;
  cis_instance_free(r->last);
  return NULL;
}

/* 20,000 instances, each importing "next" from the one before: the last
 * holds the whole chain, and freeing it must not recurse 20,000 deep (on a
 * 256 KiB stack that would overflow). */
static void long_import_chain_frees_without_recursion(void **state) {
  (void)state;
  enum { N = 20000 };
  cis_engine *e = rt_engine(NULL);
  cis_module *mod = rt_load(e, "link");
  cis_host_func_def d = {"prev", "next", "(i)i", host_reenter, NULL, 0};
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(im, &d, 1), CIS_OK);
  cis_instance *prev = NULL;
  assert_int_equal(cis_instance_new(mod, im, NULL, &prev), CIS_OK);
  cis_imports_free(im);
  for (int i = 1; i < N; i++) {
    cis_instance *next = NULL;
    assert_int_equal(cis_imports_new(e, &im), CIS_OK);
    assert_int_equal(cis_imports_add_instance(im, "prev", 4, prev), CIS_OK);
    assert_int_equal(cis_instance_new(mod, im, NULL, &next), CIS_OK);
    cis_imports_free(im);
    cis_instance_free(prev); /* now only next keeps it */
    prev = next;
  }
  free_run r = {prev};
  pthread_attr_t a;
  pthread_t th;
  pthread_attr_init(&a);
  assert_int_equal(pthread_attr_setstacksize(&a, 256 * 1024), 0);
  assert_int_equal(pthread_create(&th, &a, free_thread, &r), 0);
  pthread_join(th, NULL);
  pthread_attr_destroy(&a);
  cis_module_free(mod);
  cis_engine_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hundred_thousand_nested_blocks),
      cmocka_unit_test(hundred_thousand_nested_ifs_and_loops),
      cmocka_unit_test(hundred_thousand_label_br_table),
      cmocka_unit_test(hundred_thousand_deep_operand_stack),
      cmocka_unit_test(max_call_depth_in_wasm),
      cmocka_unit_test(host_reentry_cannot_overflow_the_native_stack),
      cmocka_unit_test(cross_instance_recursion_cannot_overflow),
      cmocka_unit_test(calls_on_a_switched_stack),
      cmocka_unit_test(long_import_chain_frees_without_recursion),
  };
  return cmocka_run_group_tests_name("runtime_nesting", tests, NULL, NULL);
}
