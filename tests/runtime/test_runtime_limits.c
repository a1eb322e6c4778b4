/*
 * This file implements the acceptance tests of the engine core's limits:
 * a deadline stops an infinite loop on time (never early, and judged late
 * on CPU time, so a loaded machine cannot fail it), cancelling from
 * another thread stops only the targeted instance, memory growth stops at the cap,
 * runaway recursion ends in "call stack exhausted" without crashing (also
 * with large frames and on a thread with a small native stack), and fuel
 * runs out deterministically.
 */
#include "runtime/rt_test.h"
#include "common/callctx.h"
#include "runtime/runtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Per-instance state of a spinning call, reached through the user data. */
typedef struct spinner {
  cis_instance *inst;  /* the instance spun on */
  atomic_int started;  /* its wasm is running (host "started" was called) */
  atomic_int done;     /* the call returned */
  cis_result rc;       /* what it returned */
  double ms;           /* how long it ran */
  double cpu_end;      /* its thread's CPU time when the call returned, ms */
} spinner;

static cis_result host_started(cis_call *c, const cis_slot *a, cis_slot *r) {
  (void)a;
  (void)r;
  spinner *s = cis_instance_user(cis_call_instance(c));
  if (s) atomic_store(&s->started, 1);
  return CIS_OK;
}

static cis_imports *spin_imports(cis_engine *e) {
  cis_host_func_def d = {"host", "started", "()", host_started, NULL, 0};
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(im, &d, 1), CIS_OK);
  return im;
}

static cis_result call0(cis_instance *inst, const char *name) {
  cis_func *f = cis_instance_func(inst, name);
  assert_non_null(f);
  return cis_func_call(inst, f, NULL, 0, NULL, 0);
}

static int32_t call_i32(cis_instance *inst, const char *name, int32_t x) {
  cis_val a = {.type = CIS_I32, .of.i32 = x}, r;
  cis_result rc = cis_func_call(inst, cis_instance_func(inst, name), &a, 1, &r, 1);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(inst));
  return r.of.i32;
}

static int64_t global_count(cis_instance *inst) {
  cis_val r;
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "count"), NULL, 0, &r, 1),
                   CIS_OK);
  return r.of.i64;
}

/* -------------------------------------------------------------- deadline */

/* Timing assertions that a loaded machine cannot fail. The lower bound of
 * a deadline is exact (the call never stops early); how late it stops is
 * judged on the calling thread's CPU time, which a busy machine cannot
 * inflate (it only delays the thread, in wall time): a deadline that is
 * checked too rarely burns CPU past it. Wall time gets a bound ten times
 * the deadline, which only a deadline that never fires can pass. */
#define LATE_CPU_MS 100.0 /* CPU time past a deadline or cancel before it stops */
#define WALL_FACTOR 10.0  /* wall-time bound, as a multiple of what is awaited */

static double thread_cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double clock_ms(clockid_t c) {
  struct timespec ts;
  if (clock_gettime(c, &ts) != 0) return -1.0;
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void timeout_200(cis_limits *l) { l->timeout_ms = 200; }

static void deadline_stops_infinite_loop(void **state) {
  (void)state;
  cis_engine *e = rt_engine(timeout_200);
  cis_imports *im = spin_imports(e);
  cis_module *mod = rt_load(e, "spin");
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, im, NULL, &inst), CIS_OK);
  for (int round = 0; round < 2; round++) { /* each call gets a fresh deadline */
    double t0 = rt_now_ms(), c0 = thread_cpu_ms();
    cis_result rc = call0(inst, "spin");
    double ms = rt_now_ms() - t0, cpu = thread_cpu_ms() - c0;
    print_message("deadline 200 ms: stopped after %.1f ms wall, %.1f ms CPU\n", ms, cpu);
    assert_int_equal(rc, CIS_ETIMEOUT);
    assert_non_null(strstr(cis_errmsg(inst), "deadline exceeded"));
    if (ms < 200.0) fail_msg("round %d: stopped early, after %.1f ms", round, ms);
    if (cpu > 200.0 + LATE_CPU_MS)
      fail_msg("round %d: ran %.1f ms of CPU for a 200 ms deadline", round, cpu);
    if (ms > 200.0 * WALL_FACTOR) fail_msg("round %d: stopped after %.1f ms", round, ms);
  }
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_imports_free(im);
  cis_engine_free(e);
}

/* ---------------------------------------------------------------- cancel */

static void *spin_thread(void *arg) {
  spinner *s = arg;
  double t0 = rt_now_ms();
  cis_func *f = cis_instance_func(s->inst, "spin_signal");
  s->rc = cis_func_call(s->inst, f, NULL, 0, NULL, 0);
  s->cpu_end = thread_cpu_ms();
  s->ms = rt_now_ms() - t0;
  atomic_store(&s->done, 1);
  return NULL;
}

static void timeout_10s(cis_limits *l) { l->timeout_ms = 10000; }

/* Waits up to ms (wall time) for *flag; true when it was set. */
static bool wait_flag(atomic_int *flag, int ms) {
  double end = rt_now_ms() + ms;
  while (!atomic_load(flag) && rt_now_ms() < end) sleep_ms(1);
  return atomic_load(flag) != 0;
}

static void cancel_stops_only_its_instance(void **state) {
  (void)state;
  cis_engine *e = rt_engine(timeout_10s);
  cis_imports *im = spin_imports(e);
  cis_module *mod = rt_load(e, "spin");
  spinner s[2];
  pthread_t th[2];
  memset(s, 0, sizeof s);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(cis_instance_new(mod, im, NULL, &s[i].inst), CIS_OK);
    cis_instance_set_user(s[i].inst, &s[i]);
    assert_int_equal(pthread_create(&th[i], NULL, spin_thread, &s[i]), 0);
  }
  assert_true(wait_flag(&s[0].started, 5000));
  assert_true(wait_flag(&s[1].started, 5000));

  /* The spinning thread's CPU clock, read from here at the cancel. */
  clockid_t spin_clock;
  assert_int_equal(pthread_getcpuclockid(th[0], &spin_clock), 0);
  double t0 = rt_now_ms(), c0 = clock_ms(spin_clock);
  cis_instance_cancel(s[0].inst);
  assert_true(wait_flag(&s[0].done, (int)(500.0 * WALL_FACTOR)));
  double stop_ms = rt_now_ms() - t0;
  pthread_join(th[0], NULL);
  assert_int_equal(s[0].rc, CIS_ECANCELED);
  assert_non_null(strstr(cis_errmsg(s[0].inst), "cancelled"));
  double cpu = s[0].cpu_end - c0;
  print_message("cancel: stopped after %.1f ms wall, %.1f ms of its CPU\n", stop_ms, cpu);
  assert_true(c0 >= 0.0);
  if (cpu > LATE_CPU_MS) fail_msg("the cancelled call ran %.1f ms of CPU on", cpu);

  /* The other instance keeps running. */
  sleep_ms(100);
  assert_false(atomic_load(&s[1].done));
  cis_instance_cancel(s[1].inst);
  pthread_join(th[1], NULL);
  /* Stopped by the cancel, not by its 10 s deadline (that would be
   * CIS_ETIMEOUT). */
  assert_int_equal(s[1].rc, CIS_ECANCELED);
  /* Both counted, each in its own global. */
  assert_true(global_count(s[0].inst) > 0);
  assert_true(global_count(s[1].inst) > 0);

  /* A cancel between calls stops the next call before it starts (the
   * race of a canceller handed the instance just before its call), and
   * only that one: the flag goes with the call it stopped. */
  cis_instance_cancel(s[0].inst);
  cis_val out;
  assert_int_equal(cis_func_call(s[0].inst, cis_instance_func(s[0].inst, "count"), NULL, 0, &out, 1),
                   CIS_ECANCELED);
  assert_non_null(strstr(cis_errmsg(s[0].inst), "before it started"));
  assert_true(global_count(s[0].inst) > 0);
  for (int i = 0; i < 2; i++) cis_instance_free(s[i].inst);
  cis_module_free(mod);
  cis_imports_free(im);
  cis_engine_free(e);
}

/* A skill call's flag linked to an instance (cis__callctx_link_instance)
 * may end with the call's frame: an unlink waits for a cancel that read
 * the old flag and has not written it yet, and a cancel after the unlink
 * writes nothing of the call's. */
typedef struct unlinker {
  cis_instance *inst;
  atomic_bool done;
} unlinker;

static void *unlink_thread(void *p) {
  unlinker *u = p;
  cis__callctx_link_instance(NULL, u->inst);
  atomic_store(&u->done, true);
  return NULL;
}

static void *cancel_loop(void *p) {
  unlinker *u = p;
  while (!atomic_load(&u->done)) cis_instance_cancel(u->inst);
  return NULL;
}

static void cancel_link_outlives_no_call(void **state) {
  (void)state;
  cis_engine *e = rt_engine(timeout_10s);
  cis_imports *im = spin_imports(e);
  cis_module *mod = rt_load(e, "spin");
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, im, NULL, &inst), CIS_OK);
  cis__callctx *x = calloc(1, sizeof *x);
  assert_non_null(x);
  cis__callctx_link_instance(x, inst);
  cis_instance_cancel(inst);
  assert_int_equal(atomic_load(&x->cancel), 1);
  /* A cancel counted in (between its read and its write) holds the unlink. */
  atomic_store(&inst->cancel_users, 1);
  unlinker u = {.inst = inst};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, unlink_thread, &u), 0);
  sleep_ms(50);
  assert_false(atomic_load(&u.done));
  atomic_store(&inst->cancel_users, 0);
  pthread_join(th, NULL);
  assert_true(atomic_load(&u.done));
  atomic_store(&x->cancel, 0);
  cis_instance_cancel(inst);
  assert_int_equal(atomic_load(&x->cancel), 0); /* unlinked: not the call's any more */
  free(x);
  /* Links and unlinks of short-lived flags under a stream of cancels (a
   * write to a freed flag is a use after free under AddressSanitizer). */
  unlinker c = {.inst = inst};
  assert_int_equal(pthread_create(&th, NULL, cancel_loop, &c), 0);
  for (int i = 0; i < 20000; i++) {
    cis__callctx *y = malloc(sizeof *y);
    assert_non_null(y);
    atomic_init(&y->cancel, 0);
    cis__callctx_link_instance(y, inst);
    cis__callctx_link_instance(NULL, inst);
    free(y);
  }
  atomic_store(&c.done, true);
  pthread_join(th, NULL);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_imports_free(im);
  cis_engine_free(e);
}

/* ------------------------------------------------------------ memory cap */

static void cap_128m(cis_limits *l) { l->max_memory_bytes = 128ull * 1024 * 1024; }

static void memory_cap(void **state) {
  (void)state;
  cis_engine *e = rt_engine(cap_128m);
  cis_module *mod = rt_load(e, "grow");
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, NULL, NULL, &inst), CIS_OK);
  assert_int_equal(call_i32(inst, "grow", 2048), -1); /* 2049 pages: one too many */
  assert_int_equal(call_i32(inst, "grow", 2047), 1);
  cis_val pages;
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "size"), NULL, 0, &pages, 1),
                   CIS_OK);
  assert_int_equal(pages.of.i32, 2048);
  assert_int_equal(call_i32(inst, "grow", 1), -1);
  assert_int_equal(call_i32(inst, "grow", 0), 2048);
  /* The last byte under the cap is usable. */
  uint8_t *last = cis_instance_mem(inst, 128ull * 1024 * 1024 - 1, 1);
  assert_non_null(last);
  *last = 0x5a;
  assert_null(cis_instance_mem(inst, 128ull * 1024 * 1024, 1));
  cis_instance_free(inst);

  cis_module *big = rt_load(e, "bigmin");
  inst = (cis_instance *)1;
  assert_int_equal(cis_instance_new(big, NULL, NULL, &inst), CIS_EMEMLIMIT);
  assert_null(inst);
  assert_non_null(strstr(cis_errmsg(e), "2049 pages exceeds the limit of 2048"));
  /* With a larger cap, passed per instance, it fits. */
  cis_limits l;
  cis_limits_default(&l);
  assert_int_equal(cis_instance_new(big, NULL, &l, &inst), CIS_OK);
  cis_instance_free(inst);
  cis_module_free(big);
  cis_module_free(mod);
  cis_engine_free(e);
}

/* ----------------------------------------------------------------- stack */

static void expect_stack_trap(cis_instance *inst, const char *name, cis_valtype t) {
  cis_val a = {.type = t, .of.u64 = 0}, r;
  cis_result rc = cis_func_call(inst, cis_instance_func(inst, name), &a, 1, &r, 1);
  if (rc != CIS_TRAP_STACK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(inst));
  assert_non_null(strstr(cis_errmsg(inst), "call stack exhausted"));
  cis_val ok;
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "ok"), NULL, 0, &ok, 1), CIS_OK);
  assert_int_equal(ok.of.i32, 42);
}

static void small_value_stack(cis_limits *l) { l->max_stack_bytes = 64 * 1024; }

static void runaway_recursion(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *mod = rt_load(e, "recurse");
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, NULL, NULL, &inst), CIS_OK);
  expect_stack_trap(inst, "down", CIS_I32);
  expect_stack_trap(inst, "fat", CIS_I64);
  cis_instance_free(inst);

  /* A small value stack runs out long before the depth limit. */
  cis_limits l;
  cis_limits_default(&l);
  small_value_stack(&l);
  assert_int_equal(cis_instance_new(mod, NULL, &l, &inst), CIS_OK);
  expect_stack_trap(inst, "fat", CIS_I64);
  expect_stack_trap(inst, "down", CIS_I32);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

typedef struct small_stack_run {
  cis_instance *inst; /* instance of recurse.wat */
  bool ok;            /* both traps came out right */
} small_stack_run;

static void *recurse_thread(void *arg) {
  small_stack_run *r = arg;
  cis_val a = {.type = CIS_I32, .of.u64 = 0}, res;
  cis_result rc1 = cis_func_call(r->inst, cis_instance_func(r->inst, "down"), &a, 1, &res, 1);
  a.type = CIS_I64;
  cis_result rc2 = cis_func_call(r->inst, cis_instance_func(r->inst, "fat"), &a, 1, &res, 1);
  r->ok = rc1 == CIS_TRAP_STACK && rc2 == CIS_TRAP_STACK;
  return NULL;
}

/* The default depth on a thread whose native stack is only 256 KiB. */
static void recursion_on_small_thread(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *mod = rt_load(e, "recurse");
  small_stack_run r = {NULL, false};
  assert_int_equal(cis_instance_new(mod, NULL, NULL, &r.inst), CIS_OK);
  pthread_attr_t a;
  pthread_t th;
  pthread_attr_init(&a);
  pthread_attr_setstacksize(&a, 256 * 1024);
  assert_int_equal(pthread_create(&th, &a, recurse_thread, &r), 0);
  pthread_join(th, NULL);
  pthread_attr_destroy(&a);
  assert_true(r.ok);
  cis_instance_free(r.inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

/* --------------------------------------------------------------- on_wait */

typedef struct waits {
  int told;            /* times on_wait was called */
  cis_wait why;        /* the last reason */
  double at_ms;        /* when, since the call began */
  double t0;           /* the call's start */
} waits;

static void note_wait(void *user, cis_wait why) {
  waits *w = user;
  w->told++;
  w->why = why;
  w->at_ms = rt_now_ms() - w->t0;
}

/* A guest that runs past after_us is told once per top-level call, as
 * CIS_WAIT_LONG, and goes on to its deadline. */
static void on_wait_is_told_once_when_the_guest_runs_long(void **state) {
  (void)state;
  cis_engine *e = rt_engine(timeout_200);
  cis_imports *im = spin_imports(e);
  cis_module *mod = rt_load(e, "spin");
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, im, NULL, &inst), CIS_OK);
  waits w = {0};
  cis_instance_on_wait(inst, note_wait, &w, 20000);
  for (int round = 1; round <= 2; round++) {
    w.t0 = rt_now_ms();
    assert_int_equal(call0(inst, "spin"), CIS_ETIMEOUT);
    assert_int_equal(w.told, round);
    assert_int_equal(w.why, CIS_WAIT_LONG);
    if (w.at_ms < 20.0 || w.at_ms > 200.0) fail_msg("told after %.1f ms", w.at_ms);
  }
  cis_instance_on_wait(inst, NULL, NULL, 0); /* removed: not told */
  assert_int_equal(call0(inst, "spin"), CIS_ETIMEOUT);
  assert_int_equal(w.told, 2);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_imports_free(im);
  cis_engine_free(e);
}

static cis_result host_asks_time_left(cis_call *c, const cis_slot *a, cis_slot *r) {
  (void)a, (void)r;
  waits *w = cis_instance_user(cis_call_instance(c));
  int before = w->told;
  uint64_t ms = cis_call_remaining_ms(c); /* what a host function does before it waits */
  if (w->told != before + 1 || ms > 200) return CIS_EINVAL;
  cis_call_remaining_ms(c); /* once told, not again */
  return w->told == before + 1 ? CIS_OK : CIS_EINVAL;
}

/* A host function that asks for the time left is about to wait: the call
 * is told first, as CIS_WAIT_HOST. */
static void on_wait_is_told_before_a_host_function_waits(void **state) {
  (void)state;
  cis_engine *e = rt_engine(timeout_200);
  cis_host_func_def d = {"host", "started", "()", host_asks_time_left, NULL, 0};
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(im, &d, 1), CIS_OK);
  cis_module *mod = rt_load(e, "spin");
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, im, NULL, &inst), CIS_OK);
  waits w = {0};
  cis_instance_set_user(inst, &w);
  cis_instance_on_wait(inst, note_wait, &w, UINT64_MAX);
  w.t0 = rt_now_ms();
  assert_int_equal(call0(inst, "spin_signal"), CIS_ETIMEOUT); /* the host function returned CIS_OK */
  assert_int_equal(w.told, 1);
  assert_int_equal(w.why, CIS_WAIT_HOST);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_imports_free(im);
  cis_engine_free(e);
}

/* ---------------------------------------------------- switched stacks */

#include <sys/mman.h>
#include <ucontext.h>

/* AddressSanitizer takes a stack switch nobody announced to it for an
 * overflow: the test runs without it (serve's coroutines announce theirs
 * and are tested under it in test_serve_http). */
#if !defined(__SANITIZE_ADDRESS__)
typedef struct deep_run {
  cis_instance *inst;  /* instance of deep.wat */
  bool announce;       /* call cis_stack_switched */
  void *stack;         /* the switched-to stack */
  size_t size;
  cis_result rc;       /* deep(9990): near the default depth limit */
  int32_t got;
  ucontext_t back, co;
} deep_run;

static deep_run *g_deep;

static void deep_main(void) {
  deep_run *d = g_deep;
  if (d->announce) cis_stack_switched(d->stack, d->size);
  cis_val a = {.type = CIS_I32, .of.i32 = 9990}, r = {0};
  d->rc = cis_func_call(d->inst, cis_instance_func(d->inst, "deep"), &a, 1, &r, 1);
  d->got = r.of.i32;
  if (d->announce) cis_stack_switched(NULL, 0);
  swapcontext(&d->co, &d->back);
}

static void run_deep(deep_run *d) {
  g_deep = d;
  assert_int_equal(getcontext(&d->co), 0);
  d->co.uc_stack.ss_sp = d->stack;
  d->co.uc_stack.ss_size = d->size;
  d->co.uc_link = NULL;
  makecontext(&d->co, deep_main, 0);
  assert_int_equal(swapcontext(&d->back, &d->co), 0);
}
#endif

/* A call on a stack that is not its thread's own may use as much of it
 * as cis_stack_switched says: unannounced, it gets 64 KiB. On the
 * compiled engine, whose wasm calls are native calls (the interpreter's
 * are not: it would pass either way). */
static void switched_stack_is_used_when_announced(void **state) {
  (void)state;
#if defined(__SANITIZE_ADDRESS__)
  skip();
#else
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "aot";
  cis_engine *e = NULL;
  if (cis_engine_new(&cfg, &e) != CIS_OK) {
    print_message("no compiled engine (no C compiler): skipped\n");
    skip();
  }
  cis_module *mod = rt_load(e, "deep");
  deep_run d;
  memset(&d, 0, sizeof d);
  assert_int_equal(cis_instance_new(mod, NULL, NULL, &d.inst), CIS_OK);
  d.size = 8u << 20;
  d.stack = mmap(NULL, d.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  assert_true(d.stack != MAP_FAILED);
  d.announce = false;
  run_deep(&d);
  assert_int_equal(d.rc, CIS_TRAP_STACK);
  d.announce = true;
  run_deep(&d);
  if (d.rc != CIS_OK) fail_msg("%s: %s", cis_errname(d.rc), cis_errmsg(d.inst));
  assert_int_equal(d.got, 9990);
  munmap(d.stack, d.size);
  cis_instance_free(d.inst);
  cis_module_free(mod);
  cis_engine_free(e);
#endif
}

/* ------------------------------------------------------------------ fuel */

static void fuel_100k(cis_limits *l) { l->fuel = 100000; }

static void fuel_runs_out_deterministically(void **state) {
  (void)state;
  cis_engine *e = rt_engine(fuel_100k);
  cis_module *mod = rt_load(e, "fuel");
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, NULL, NULL, &inst), CIS_OK);
  int64_t counts[2];
  for (int i = 0; i < 2; i++) {
    assert_int_equal(call0(inst, "reset"), CIS_OK);
    assert_int_equal(call0(inst, "run"), CIS_EFUEL);
    assert_non_null(strstr(cis_errmsg(inst), "fuel exhausted"));
    assert_int_equal(cis_instance_fuel_left(inst), 0);
    counts[i] = global_count(inst);
  }
  assert_true(counts[0] > 0);
  assert_true(counts[0] <= 100000); /* each iteration costs fuel */
  assert_int_equal(counts[0], counts[1]);

  /* A short loop finishes and leaves the same fuel each time. */
  uint64_t left[2];
  for (int i = 0; i < 2; i++) {
    cis_val a = {.type = CIS_I64, .of.i64 = 100}, r;
    assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "count_to"), &a, 1, &r, 1),
                     CIS_OK);
    assert_int_equal(r.of.i64, 100);
    left[i] = cis_instance_fuel_left(inst);
  }
  assert_true(left[0] > 0 && left[0] < 100000);
  assert_int_equal(left[0], left[1]);
  /* A long one runs out. */
  cis_val a = {.type = CIS_I64, .of.i64 = 1000000000}, r;
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "count_to"), &a, 1, &r, 1),
                   CIS_EFUEL);

  /* Another instance with the same budget stops at the same count. */
  cis_instance *twin = NULL;
  assert_int_equal(cis_instance_new(mod, NULL, NULL, &twin), CIS_OK);
  assert_int_equal(call0(twin, "run"), CIS_EFUEL);
  assert_int_equal(global_count(twin), counts[0]);
  cis_instance_free(twin);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(deadline_stops_infinite_loop),
      cmocka_unit_test(cancel_stops_only_its_instance),
      cmocka_unit_test(cancel_link_outlives_no_call),
      cmocka_unit_test(memory_cap),
      cmocka_unit_test(runaway_recursion),
      cmocka_unit_test(recursion_on_small_thread),
      cmocka_unit_test(fuel_runs_out_deterministically),
      cmocka_unit_test(on_wait_is_told_once_when_the_guest_runs_long),
      cmocka_unit_test(on_wait_is_told_before_a_host_function_waits),
      cmocka_unit_test(switched_stack_is_used_when_announced),
  };
  return cmocka_run_group_tests_name("runtime_limits", tests, NULL, NULL);
}
