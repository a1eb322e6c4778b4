/*
 * This file implements the tests of the worker pool of `cis serve`
 * (src/serve/pool.c) on its own, with jobs that stand for calls: a
 * spinning job burns CPU until a gate the test opens (as a skill spinning
 * until its deadline), a blocked job sleeps on a gate (as a call waiting
 * for I/O, or for the CPU: either way its thread uses no CPU time), a
 * short job only marks that it ran. They check the mechanism, never a
 * duration: every wait is for a state, bounded (30 s), and only fails the
 * test when what should happen did not.
 *
 * The CPU quota of long calls (cis_instance_quota, which the pool sets on
 * an attached instance) is tested with a real guest, an endless loop, on
 * each engine: a paused call is seen asleep (state S in
 * /proc/self/task/TID/stat), which a spinning thread never is.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <unistd.h>
#include <stdio.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "common/internal.h"
#include "runtime/runtime.h"
#include "serve/pool.h"
#include "support/test_threads.h"

#define BOUND_MS 30000 /* the longest any wait may take before the test fails */

/* The pool's (its owner's). Error-checking: a failed assertion leaves a
 * test with mu held, and the teardown unlocks it only if so. */
/* The nice value the tests run at: a pool's threads count from it. */
static int g_nice0;
static int nice_above(int by) { return g_nice0 + by > 19 ? 19 : g_nice0 + by; }

static pthread_mutex_t mu = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER;

/* The gate stuck jobs wait behind (blocked ones on gate_cv, spinning ones
 * polling gate_open), and the one a blocked-then-spinning job spins
 * behind. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static atomic_bool gate_open, spin_gate_open;

/* Jobs are static in each test: a failed assertion leaves the test while
 * the pool still holds them, until the teardown stops it. */
typedef struct test_job {
  cis__pool_job pj;   /* first: the pool's part */
  atomic_bool ran;    /* run() began */
  atomic_int tid;     /* the thread it ran on */
  atomic_int order;   /* how many jobs began before it (began_count) */
} test_job;

static atomic_int began_count;

static void began(cis__pool_job *pj) {
  atomic_store(&((test_job *)pj)->order, atomic_fetch_add(&began_count, 1));
  atomic_store(&((test_job *)pj)->tid, (int)gettid());
  atomic_store(&((test_job *)pj)->ran, true);
}

static void run_short(cis__pool_job *pj) { began(pj); }

/* Sleeps until the gate opens (bounded, so a failing test ends). */
static void block_on_gate(void) {
  struct timespec until;
  cis__timespec_after(CLOCK_REALTIME, 2 * BOUND_MS, &until);
  pthread_mutex_lock(&gate_mu);
  int r = 0;
  while (!atomic_load(&gate_open) && r != ETIMEDOUT) r = pthread_cond_timedwait(&gate_cv, &gate_mu, &until);
  pthread_mutex_unlock(&gate_mu);
}

/* Burns CPU until *gate opens (bounded by wall time). */
static void spin_on(atomic_bool *gate) {
  uint64_t end = cis__now_ns() + 2ull * BOUND_MS * 1000000ull;
  for (unsigned n = 0; !atomic_load(gate); n++)
    if ((n & 1023) == 0 && cis__now_ns() > end) break;
}

static void run_blocked(cis__pool_job *pj) {
  began(pj);
  block_on_gate();
}

static void run_spin(cis__pool_job *pj) {
  began(pj);
  spin_on(&gate_open);
}

/* Blocked first, then spinning: a call that waits, then computes. */
static void run_block_then_spin(cis__pool_job *pj) {
  began(pj);
  block_on_gate();
  spin_on(&spin_gate_open);
}

static void gate_set(bool open) {
  pthread_mutex_lock(&gate_mu);
  atomic_store(&gate_open, open);
  pthread_cond_broadcast(&gate_cv);
  pthread_mutex_unlock(&gate_mu);
}

static void job_init(test_job *j, void (*run)(cis__pool_job *), cis__pool_owner *owner) {
  memset(j, 0, sizeof *j);
  j->pj.run = run;
  j->pj.owner = owner;
  pthread_cond_init(&j->pj.cv, NULL);
}

/* Queues j on p (taking mu), which must admit it. */
static void submit_admitted(cis__pool *p, cis__pool_job *j) {
  pthread_mutex_lock(&mu);
  assert_int_equal(cis__pool_submit(p, j), CIS__POOL_ADMITTED);
  pthread_mutex_unlock(&mu);
}

/* Under mu: waits until j is done, at most BOUND_MS; whether it is. */
static bool wait_done(test_job *j) {
  struct timespec until;
  cis__timespec_after(CLOCK_REALTIME, BOUND_MS, &until);
  int r = 0;
  while (!j->pj.done && r != ETIMEDOUT) r = pthread_cond_timedwait(&j->pj.cv, &mu, &until);
  return j->pj.done;
}

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* Waits until *v (read under mu) reaches want, at most BOUND_MS. */
static bool wait_count(const void *v, bool wide, uint64_t want) {
  for (int i = 0; i < BOUND_MS / 5; i++) {
    pthread_mutex_lock(&mu);
    uint64_t got = wide ? *(const uint64_t *)v : *(const unsigned *)v;
    pthread_mutex_unlock(&mu);
    if (got == want) return true;
    nap_ms(5);
  }
  return false;
}

static cis__pool *g_running; /* the pool a test started, for the teardown */

static void start(cis__pool *p, unsigned workers, unsigned queue, unsigned owner_cap, unsigned long_max) {
  cis__pool_config c = {.workers = workers, .queue = queue, .owner_cap = owner_cap, .long_max = long_max};
  assert_int_equal(cis__pool_start(p, &c, &mu, &idle_cv), CIS_OK);
  g_running = p;
  gate_set(false);
  atomic_store(&spin_gate_open, false);
}

/* Waits until every job of js has begun, at most BOUND_MS; whether so. */
static bool wait_ran(test_job *js, int n) {
  for (int i = 0; i < n; i++)
    for (int k = 0; k < BOUND_MS / 5 && !atomic_load(&js[i].ran); k++) nap_ms(5);
  for (int i = 0; i < n; i++)
    if (!atomic_load(&js[i].ran)) return false;
  return true;
}

/* Waits until the pool runs exactly its workers and no long thread, by
 * its own count and by the names the kernel shows, at most BOUND_MS. */
static bool wait_threads_settled(cis__pool *p, unsigned workers) {
  for (int i = 0; i < BOUND_MS / 5; i++) {
    pthread_mutex_lock(&mu);
    bool counted = p->nthreads == workers && p->nlong == 0;
    pthread_mutex_unlock(&mu);
    if (counted && cis_test_threads_named("cis-worker") == (int)workers && cis_test_threads_named("cis-long") == 0) return true;
    nap_ms(5);
  }
  return false;
}

/* ------------------------------------------------------ guest calls */

static const char spin_wat[] = "(module (func (export \"spin\") (loop $l (br $l))))";

/* An endless loop on engine name ("interp" or "aot"), under limits l: a
 * guest call that runs until its deadline, fuel or a cancel. */
typedef struct guest {
  cis_engine *e;
  cis_module *m;
  cis_instance *inst;
  cis_func *f;
  pthread_t th;       /* the thread calling it (guest_start) */
  atomic_int tid;     /* its kernel id, once it runs */
  atomic_bool done;   /* the call returned */
  cis_result rc;      /* what it returned (read after done) */
  uint64_t cpu_ns;    /* the CPU time its call took (guest_thread; read after done) */
  uint64_t pauses;    /* the pauses under its quota the process made meanwhile */
} guest;

/* Makes g; false when the engine cannot run here (no C compiler for aot). */
static bool guest_new(guest *g, const char *engine, const cis_limits *l) {
  memset(g, 0, sizeof *g);
  cis_engine_config c;
  cis_engine_config_default(&c);
  c.engine = engine;
  if (cis_engine_new(&c, &g->e) != CIS_OK) return false;
  if (cis_module_new_text(g->e, spin_wat, strlen(spin_wat), &g->m) != CIS_OK ||
      cis_instance_new(g->m, NULL, l, &g->inst) != CIS_OK) {
    fprintf(stderr, "note: engine %s cannot run the guest here (%s)\n", engine, cis_errmsg(g->e));
    return false;
  }
  g->f = cis_instance_func(g->inst, "spin");
  return g->f != NULL;
}

static void guest_free(guest *g) {
  if (g->inst) cis_instance_free(g->inst);
  if (g->m) cis_module_free(g->m);
  if (g->e) cis_engine_free(g->e);
}

static void *guest_thread(void *arg) {
  guest *g = arg;
  atomic_store(&g->tid, (int)gettid());
  uint64_t cpu0 = cis__pool_self_cpu_ns(), p0 = cis__exec_quota_pauses();
  g->rc = cis_func_call(g->inst, g->f, NULL, 0, NULL, 0);
  g->cpu_ns = cis__pool_self_cpu_ns() - cpu0;
  g->pauses = cis__exec_quota_pauses() - p0;
  atomic_store(&g->done, true);
  return NULL;
}

static void guest_start(guest *g) { assert_int_equal(pthread_create(&g->th, NULL, guest_thread, g), 0); }

/* Waits for the call to return, at most BOUND_MS, and joins its thread
 * when it did; whether it did. */
static bool guest_wait(guest *g) {
  for (int i = 0; i < BOUND_MS / 5 && !atomic_load(&g->done); i++) nap_ms(5);
  if (!atomic_load(&g->done)) return false;
  pthread_join(g->th, NULL);
  return true;
}

/* The scheduler state of thread tid ('R' running or runnable, 'S'
 * asleep, ...), '?' when it cannot be read. */
static char thread_state(int tid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
  FILE *f = fopen(path, "r");
  if (!f) return '?';
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *c = strrchr(buf, ')'); /* after the name, which may hold anything */
  return c && c[1] == ' ' ? c[2] : '?';
}

/* Waits until thread *tid is seen asleep, at most BOUND_MS; whether so. A
 * guest spinning in its loop never is; one paused by its quota nearly
 * always is. */
static bool wait_asleep(atomic_int *tid) {
  for (int i = 0; i < BOUND_MS; i++) {
    int t = atomic_load(tid);
    if (t && thread_state(t) == 'S') return true;
    nap_ms(1);
  }
  return false;
}

static const char *const engines[] = {"interp", "aot"};

/* How a quota case ends its paused guest. */
typedef enum { BY_DEADLINE, BY_CANCEL, BY_LIFT } quota_end;

/* On each engine: a spinning guest under a quota of 1 per mille with
 * limits timeout_ms and fuel is seen asleep (paused), then ended `how`;
 * its call returns want. */
static void quota_case(uint64_t timeout_ms, uint64_t fuel, quota_end how, cis_result want) {
  for (size_t k = 0; k < sizeof engines / sizeof *engines; k++) {
    cis_limits l;
    cis_limits_default(&l);
    l.timeout_ms = timeout_ms;
    l.fuel = fuel;
    static guest g;
    if (!guest_new(&g, engines[k], &l)) {
      guest_free(&g);
      continue;
    }
    cis_instance_quota(g.inst, 1);
    guest_start(&g);
    assert_true(wait_asleep(&g.tid));
    if (how == BY_CANCEL) cis_instance_cancel(g.inst);
    if (how == BY_LIFT) cis_instance_quota(g.inst, 0);
    assert_true(guest_wait(&g));
    assert_int_equal(g.rc, want);
    guest_free(&g);
  }
}

/* A spinning guest under a quota pauses (is seen asleep), and its
 * deadline still ends it with CIS_ETIMEOUT: the pause stops at the
 * deadline rather than leaving the guest to find it in its loop. */
static void quota_pauses_a_spinning_call_and_its_deadline_still_ends_it(void **state) {
  (void)state;
  quota_case(3000, 0, BY_DEADLINE, CIS_ETIMEOUT);
}

/* A cancel reaches a paused call (no deadline to end it). */
static void quota_pause_ends_at_cancel(void **state) {
  (void)state;
  quota_case(0, 0, BY_CANCEL, CIS_ECANCELED);
}

/* Lifting the quota lets the call run on at full speed: with a fuel
 * budget that takes well under a second unpaused and over ten minutes at
 * 1 per mille, the call ends by its fuel within the bound only if the
 * lift took effect. */
static void quota_lifted_lets_the_call_run_on(void **state) {
  (void)state;
  quota_case(0, 300000000ull, BY_LIFT, CIS_EFUEL);
}

/* A quota set before a call lets it run its grace first (0.2 ms of CPU
 * time): a call of three tick quanta (60,000 units of fuel, some tens of
 * microseconds) under 1 per mille set ahead is never paused (the
 * runtime's count of quota pauses does not move), where without the grace
 * it would sleep at its second check. So a quota set ahead (cis serve's pool sets one
 * on each call that starts while short calls run) slows no short call. */
#define GRACE_NS 200000ull /* the runtime's QUOTA_GRACE_NS (src/runtime/exec.c) */
static void quota_set_ahead_lets_a_call_run_its_grace_first(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof engines / sizeof *engines; k++) {
    cis_limits l;
    cis_limits_default(&l);
    l.timeout_ms = 10000;
    l.fuel = 60000;
    static guest g;
    if (!guest_new(&g, engines[k], &l)) {
      guest_free(&g);
      continue;
    }
    cis_instance_quota(g.inst, 1);
    guest_start(&g);
    assert_true(guest_wait(&g));
    assert_int_equal(g.rc, CIS_EFUEL);
    /* A build that runs the call slower than its grace (a sanitizer's,
     * 30 times slower) may pause it legitimately: what holds there is
     * that no pause comes before the grace is used. */
    if (g.pauses && g.cpu_ns < GRACE_NS)
      fail_msg("%s: the call paused %llu times in %llu ns of CPU", engines[k], (unsigned long long)g.pauses,
               (unsigned long long)g.cpu_ns);
    if (g.cpu_ns >= GRACE_NS)
      fprintf(stderr, "note: %s ran the call in %llu ns of CPU, beyond the grace: only a pause before it would fail\n", engines[k],
              (unsigned long long)g.cpu_ns);
    guest_free(&g);
  }
}

/* A pool job that runs the guest attached to the pool (as cis serve's
 * calls are, through on_instance). */
typedef struct guest_job {
  cis__pool_job pj;   /* first: the pool's part */
  cis__pool *p;
  guest *g;
} guest_job;

static void run_guest(cis__pool_job *pj) {
  guest_job *j = (guest_job *)pj;
  atomic_store(&j->g->tid, (int)gettid());
  cis__pool_attach(j->p, pj, j->g->inst);
  j->g->rc = cis_func_call(j->g->inst, j->g->f, NULL, 0, NULL, 0);
  cis__pool_attach(j->p, pj, NULL);
  atomic_store(&j->g->done, true);
}

/* The quota the pool has set on job j's instance (j runs). */
static unsigned quota_of(cis__pool_job *j) {
  pthread_mutex_lock(&mu);
  cis__pool_thread *w = j->on;
  pthread_mutex_lock(&w->qmu);
  unsigned q = w->quota;
  pthread_mutex_unlock(&w->qmu);
  pthread_mutex_unlock(&mu);
  return q;
}

static bool wait_quota(cis__pool_job *j, bool set) {
  for (int i = 0; i < BOUND_MS / 5; i++) {
    if ((quota_of(j) != 0) == set) return true;
    nap_ms(5);
  }
  return false;
}

/* Starts p (2 workers, hand-offs by CPU time only) and readies gj to run
 * a guest g that spins with no deadline. */
/* The guest of the test that runs, so that its teardown can end a
 * failed test's call (it spins with no deadline). */
static guest *g_guest;

static void start_with_guest(cis__pool *p, guest *g, guest_job *gj) {
  cis__pool_config c = {.workers = 2, .queue = 4, .owner_cap = 10, .long_max = 4,
                        .blocked_after_ns = 3600ull * 1000000000ull};
  assert_int_equal(cis__pool_start(p, &c, &mu, &idle_cv), CIS_OK);
  g_running = p;
  cis_limits l;
  cis_limits_default(&l);
  l.timeout_ms = 0;
  assert_true(guest_new(g, "interp", &l));
  g_guest = g;
  memset(gj, 0, sizeof *gj);
  gj->p = p;
  gj->g = g;
  gj->pj.run = run_guest;
  pthread_cond_init(&gj->pj.cv, NULL);
}

/* Cancels gj's spinning guest, waits for its job's end (CIS_ECANCELED)
 * and the pool's threads settled, and stops p: start_with_guest's end. */
static void stop_with_guest(cis__pool *p, guest *g, guest_job *gj) {
  cis_instance_cancel(g->inst);
  pthread_mutex_lock(&mu);
  assert_true(wait_done((test_job *)gj)); /* the cv and done sit where test_job has them */
  pthread_mutex_unlock(&mu);
  assert_int_equal(g->rc, CIS_ECANCELED);
  assert_true(wait_threads_settled(p, 2));
  cis__pool_stop(p);
  g_running = NULL;
  g_guest = NULL;
  guest_free(g);
  pthread_cond_destroy(&gj->pj.cv);
}

/* A short call that holds a worker of p (blocked at the gate, closed
 * here) until the gate opens: it has begun when this returns. */
static void short_call_holds_a_worker(cis__pool *p, test_job *blocked) {
  gate_set(false);
  job_init(blocked, run_blocked, NULL);
  submit_admitted(p, &blocked->pj);
  assert_true(wait_ran(blocked, 1));
}

/* A long guest call on the pool, while a short call holds a worker, gets
 * a CPU quota and pauses (asleep), at its normal priority (not lowered:
 * a lowered thread ran its clean-up, holding locks, at low priority); the
 * quota is lifted once no short call is left, and set on the instance
 * itself (the guest runs on until cancelled). */
static void long_guest_call_is_throttled_while_short_calls_run(void **state) {
  (void)state;
  static cis__pool p;
  static guest g;
  static guest_job gj;
  start_with_guest(&p, &g, &gj);
  static test_job blocked;
  short_call_holds_a_worker(&p, &blocked);
  submit_admitted(&p, &gj.pj);
  assert_true(wait_count(&p.throttled, true, 1));
  assert_true(wait_asleep(&g.tid));
  assert_int_equal(getpriority(PRIO_PROCESS, (id_t)atomic_load(&g.tid)), g_nice0);
  pthread_mutex_lock(&mu);
  assert_int_equal(p.demoted, 0);
  assert_int_equal(p.handoffs, 1); /* its slot went to a fresh thread all the same */
  pthread_mutex_unlock(&mu);
  /* The short call ends: the quota goes (after CIS__POOL_LIFT_AFTER_NS). */
  gate_set(true);
  pthread_mutex_lock(&mu);
  assert_true(wait_done(&blocked));
  pthread_mutex_unlock(&mu);
  assert_true(wait_quota(&gj.pj, false));
  assert_false(atomic_load(&g.done));
  stop_with_guest(&p, &g, &gj);
  pthread_cond_destroy(&blocked.pj.cv);
}

/* Short calls of some microseconds every 2 ms, each beginning and ending
 * between two of the watch's looks (once a millisecond), are short work
 * all the same: the long guest call's quota, once set, holds while they
 * come (lifted, the long call would run free at full priority for its
 * scheduler slice, milliseconds a short call woken onto its CPU waits). */
static void quota_holds_under_short_calls_between_the_watchs_looks(void **state) {
  (void)state;
  static cis__pool p;
  static guest g;
  static guest_job gj;
  start_with_guest(&p, &g, &gj);
  submit_admitted(&p, &gj.pj);
  assert_true(wait_count(&p.handoffs, true, 1)); /* long: its slot went to a fresh thread */
  enum { CALLS = 150 };
  static test_job quick[CALLS];
  int set_at = -1, unset_after = 0;
  for (int i = 0; i < CALLS; i++) {
    job_init(&quick[i], run_short, NULL);
    pthread_mutex_lock(&mu);
    assert_int_equal(cis__pool_submit(&p, &quick[i].pj), CIS__POOL_ADMITTED);
    assert_true(wait_done(&quick[i]));
    pthread_mutex_unlock(&mu);
    nap_ms(2);
    bool set = quota_of(&gj.pj) != 0;
    if (set && set_at < 0) set_at = i;
    else if (!set && set_at >= 0) unset_after++;
  }
  if (set_at < 0 || set_at > 20 || unset_after)
    fail_msg("quota first set after short call %d, then lifted at %d of the later looks", set_at, unset_after);
  stop_with_guest(&p, &g, &gj);
  for (int i = 0; i < CALLS; i++) pthread_cond_destroy(&quick[i].pj.cv);
}

/* A job that attaches the guest's instance, as a call does at its start,
 * and waits at the gate without running it. */
static void run_attached(cis__pool_job *pj) {
  guest_job *j = (guest_job *)pj;
  cis__pool_attach(j->p, pj, j->g->inst);
  atomic_store(&j->g->tid, (int)gettid());
  block_on_gate();
  cis__pool_attach(j->p, pj, NULL);
  atomic_store(&j->g->done, true);
}

/* As run_attached, after 20 ms on its thread first (a call reading its
 * skill's rows before it instantiates): the watch, which ticks while a
 * job runs, sees it as short work meanwhile. */
static void run_attached_late(cis__pool_job *pj) {
  nap_ms(20);
  run_attached(pj);
}

/* Submits gj (run: run_attached or run_attached_late) and waits until it
 * has attached; whether so. */
static bool attach_one_by(cis__pool *p, guest *g, guest_job *gj, void (*run)(cis__pool_job *)) {
  atomic_store(&g->tid, 0);
  atomic_store(&g->done, false);
  gj->pj.run = run;
  gj->pj.done = false;
  pthread_mutex_lock(&mu);
  bool ok = cis__pool_submit(p, &gj->pj) == CIS__POOL_ADMITTED;
  pthread_mutex_unlock(&mu);
  for (int i = 0; ok && i < BOUND_MS / 5 && !atomic_load(&g->tid); i++) nap_ms(5);
  return ok && atomic_load(&g->tid);
}

static bool attach_one(cis__pool *p, guest *g, guest_job *gj) {
  return attach_one_by(p, g, gj, run_attached);
}

/* Opens the gate and waits for the attached job gj, and for blocked when
 * not NULL (a short call that held a worker). */
static void release_attached(guest_job *gj, test_job *blocked) {
  gate_set(true);
  pthread_mutex_lock(&mu);
  if (blocked) assert_true(wait_done(blocked));
  assert_true(wait_done((test_job *)gj));
  pthread_mutex_unlock(&mu);
}

/* Stops a pool whose attached jobs have ended (release_attached). */
static void stop_attached(cis__pool *p, guest *g, guest_job *gj, test_job *blocked) {
  cis__pool_stop(p);
  g_running = NULL;
  g_guest = NULL;
  guest_free(g);
  pthread_cond_destroy(&gj->pj.cv);
  if (blocked) pthread_cond_destroy(&blocked->pj.cv);
}

/* Whether job j's quota stays unset for 100 ms (some 100 of the
 * watch's looks). */
static bool quota_stays_unset(cis__pool_job *j) {
  for (int i = 0; i < 20; i++) {
    if (quota_of(j) != 0) return false;
    nap_ms(5);
  }
  return true;
}

/* Job j, running alone on p, turns long (its slot goes to a fresh
 * thread) and runs free: no quota for 100 ms, none ever set. */
static void assert_long_and_free_alone(cis__pool *p, cis__pool_job *j) {
  assert_true(wait_count(&p->handoffs, true, 1));
  assert_true(quota_stays_unset(j));
  pthread_mutex_lock(&mu);
  assert_int_equal(p->throttled, 0);
  pthread_mutex_unlock(&mu);
}

/* Another tenant's calls on another node of the cluster (cis__pool_remote)
 * hold the quota of a long call here as short calls here do: on a
 * machine the nodes share, the call ran free at full priority beside
 * them. Its own tenant's calls elsewhere do not, nor another tenant busy
 * there with no call begun lately (long calls), nor figures older than
 * CIS__POOL_REMOTE_FRESH_NS (a database out of reach). A call that
 * starts while another tenant calls elsewhere starts under the quota. */
static void long_guest_call_is_throttled_while_another_tenant_calls_elsewhere(void **state) {
  (void)state;
  static cis__pool p;
  static guest g;
  static guest_job gj;
  static cis__pool_owner holder, quiet;
  memset(&holder, 0, sizeof holder);
  memset(&quiet, 0, sizeof quiet);
  start_with_guest(&p, &g, &gj);
  gj.pj.owner = &holder;
  submit_admitted(&p, &gj.pj);
  assert_long_and_free_alone(&p, &gj.pj); /* its own start is no short work beside it */
  cis__pool_remote_use own = {.owner = &holder, .cpu_ns_per_s = 1000000000ull, .calling = true};
  cis__pool_remote(&p, &own, 1);
  assert_true(quota_stays_unset(&gj.pj));
  cis__pool_remote_use busy = {.owner = &quiet, .cpu_ns_per_s = 1000000000ull, .calling = false};
  cis__pool_remote(&p, &busy, 1);
  assert_true(quota_stays_unset(&gj.pj));
  /* The quiet tenant calls the other node: known here or not. */
  cis__pool_remote_use calls[2] = {own, {.owner = &quiet, .cpu_ns_per_s = 1000000, .calling = true}};
  cis__pool_remote(&p, calls, 2);
  assert_true(wait_quota(&gj.pj, true));
  cis__pool_remote(&p, NULL, 0);
  assert_true(wait_quota(&gj.pj, false));
  cis__pool_remote_use unknown = {.owner = NULL, .cpu_ns_per_s = 1000000, .calling = true};
  cis__pool_remote(&p, &unknown, 1);
  assert_true(wait_quota(&gj.pj, true));
  /* No figures since: lifted once they are old. */
  nap_ms(CIS__POOL_REMOTE_FRESH_NS / 1000000);
  assert_true(wait_quota(&gj.pj, false));
  stop_with_guest(&p, &g, &gj);
  /* A call that starts beside another tenant's calls elsewhere. */
  static guest_job sj;
  start_with_guest(&p, &g, &sj);
  sj.pj.owner = &holder;
  gate_set(false);
  cis__pool_remote(&p, &own, 1);
  assert_true(attach_one(&p, &g, &sj));
  assert_int_equal(quota_of(&sj.pj), 0);
  release_attached(&sj, NULL);
  /* Its own end is no other call's: quiet again before the next. */
  nap_ms(CIS__POOL_LIFT_AFTER_NS / 1000000 * 2);
  gate_set(false);
  cis__pool_remote(&p, calls, 2);
  assert_true(attach_one(&p, &g, &sj));
  assert_int_equal(quota_of(&sj.pj), CIS__POOL_LONG_SHARE);
  release_attached(&sj, NULL);
  stop_attached(&p, &g, &sj, NULL);
}

/* While a short call runs, a call starts under the quota it would get
 * as a long one (the runtime lets it run its grace first), so it pauses
 * as soon as it runs long rather than once the watch sees it; it is not
 * counted throttled for that. Once no short call has run for a while,
 * calls start without one, though the watch, idle, set none since. */
static void call_starts_under_the_long_quota_while_short_calls_run(void **state) {
  (void)state;
  static cis__pool p;
  static guest g;
  static guest_job gj;
  start_with_guest(&p, &g, &gj);
  static test_job blocked;
  short_call_holds_a_worker(&p, &blocked);
  for (int i = 0; i < BOUND_MS / 5 && !atomic_load(&p.start_share_at); i++) nap_ms(5);
  assert_int_equal(atomic_load(&p.start_share), CIS__POOL_LONG_SHARE); /* no long call yet: all of it */
  assert_true(attach_one(&p, &g, &gj));
  assert_int_equal(quota_of(&gj.pj), CIS__POOL_LONG_SHARE);
  pthread_mutex_lock(&mu);
  assert_int_equal(p.throttled, 0);
  pthread_mutex_unlock(&mu);
  release_attached(&gj, &blocked);
  /* Quiet past CIS__POOL_LIFT_AFTER_NS: the next call starts free. */
  nap_ms(CIS__POOL_LIFT_AFTER_NS / 1000000 * 2);
  gate_set(false);
  assert_true(attach_one(&p, &g, &gj));
  assert_int_equal(quota_of(&gj.pj), 0);
  release_attached(&gj, NULL);
  stop_attached(&p, &g, &gj, &blocked);
}

/* A call that starts with no other call running, nor any for a while,
 * starts free though the watch ticks while it gets ready: it counted the
 * call itself as short work, and one in three starts on a loaded machine
 * got the quota. Beside a short call, the same late start gets it. */
static void call_that_starts_alone_starts_free(void **state) {
  (void)state;
  static cis__pool p;
  static guest g;
  static guest_job gj;
  start_with_guest(&p, &g, &gj);
  nap_ms(CIS__POOL_LIFT_AFTER_NS / 1000000 * 2);
  gate_set(false);
  for (int round = 0; round < 3; round++) {
    assert_true(attach_one_by(&p, &g, &gj, run_attached_late));
    assert_int_equal(quota_of(&gj.pj), 0);
    release_attached(&gj, NULL);
    gate_set(false);
    /* Its own end is no other call's: quiet again before the next. */
    nap_ms(CIS__POOL_LIFT_AFTER_NS / 1000000 * 2);
  }
  static test_job blocked;
  short_call_holds_a_worker(&p, &blocked);
  assert_true(attach_one_by(&p, &g, &gj, run_attached_late));
  assert_int_equal(quota_of(&gj.pj), CIS__POOL_LONG_SHARE);
  release_attached(&gj, &blocked);
  stop_attached(&p, &g, &gj, &blocked);
}

/* A stream of short calls, one after another: the pool empties between
 * two, and the watch used to be woken at each start on top of its
 * period (a tenth of a CPU under a flood of requests). It now rounds at
 * most once a period while they come. */
static void watch_rounds_once_a_period_under_a_stream_of_short_calls(void **state) {
  (void)state;
  static cis__pool p;
  start(&p, 2, 8, 8, 4);
  enum { JOBS = 3000 };
  static test_job j;
  uint64_t t0 = cis__now_ns();
  pthread_mutex_lock(&mu);
  uint64_t ticks0 = p.ticks;
  for (int i = 0; i < JOBS; i++) {
    job_init(&j, run_short, NULL);
    assert_int_equal(cis__pool_submit(&p, &j.pj), CIS__POOL_ADMITTED);
    assert_true(wait_done(&j));
    pthread_cond_destroy(&j.pj.cv);
  }
  uint64_t ticks = p.ticks - ticks0;
  pthread_mutex_unlock(&mu);
  uint64_t periods = (cis__now_ns() - t0) / (CIS__POOL_WATCH_MS * 1000000ull);
  print_message("%d calls in %llu periods: %llu rounds\n", JOBS, (unsigned long long)periods, (unsigned long long)ticks);
  assert_true(ticks <= periods + 2);
  cis__pool_stop(&p);
  g_running = NULL;
}

/* Short calls run inline on their submitters' threads (as `cis serve`
 * runs a quick call on its polling thread) count as short work too: a
 * long guest call gets its quota while they come, and it is lifted once
 * they stop. Inline calls never held a worker, so before they were seen
 * the long calls ran free beside them. */
static void long_guest_call_is_throttled_while_short_calls_run_inline(void **state) {
  (void)state;
  static cis__pool p;
  static guest g;
  static guest_job gj;
  start_with_guest(&p, &g, &gj);
  submit_admitted(&p, &gj.pj);
  /* Alone, it runs free. */
  for (int i = 0; i < BOUND_MS / 5 && !atomic_load(&g.tid); i++) nap_ms(5);
  nap_ms(100);
  assert_int_equal(quota_of(&gj.pj), 0);
  /* Short calls inline, one each 5 ms: the quota comes. */
  bool set = false;
  static test_job in;
  job_init(&in, run_short, NULL);
  for (int i = 0; i < BOUND_MS / 5 && !set; i++) {
    assert_int_equal(cis__pool_enter_inline(&p, &in.pj), CIS__POOL_ADMITTED);
    cis__pool_leave_inline(&p, &in.pj);
    nap_ms(5);
    set = quota_of(&gj.pj) != 0;
  }
  assert_true(set);
  /* They stop: it is lifted (after CIS__POOL_LIFT_AFTER_NS). */
  assert_true(wait_quota(&gj.pj, false));
  stop_with_guest(&p, &g, &gj);
  pthread_cond_destroy(&in.pj.cv);
}

/* A call that begins inline and moves to a worker (it waits, or runs
 * long, as a warm call in `cis serve` does) is not short work beside
 * itself: alone, it starts and runs free, never throttled. Its inline
 * start counted as short work, so a tenant's lone long calls were
 * throttled by their own. */
static void call_moved_from_inline_runs_free_alone(void **state) {
  (void)state;
  static cis__pool p;
  static guest g;
  static guest_job gj;
  start_with_guest(&p, &g, &gj);
  assert_int_equal(cis__pool_enter_inline(&p, &gj.pj), CIS__POOL_ADMITTED);
  pthread_mutex_lock(&mu);
  cis__pool_continue(&p, &gj.pj, CIS_WAIT_HOST);
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < BOUND_MS / 5 && !atomic_load(&g.tid); i++) nap_ms(5);
  assert_int_equal(quota_of(&gj.pj), 0);
  assert_long_and_free_alone(&p, &gj.pj);
  stop_with_guest(&p, &g, &gj);
}

/* As run_guest, after 20 ms on its thread first (a call reading its
 * skill's rows before it instantiates): short work meanwhile, for the
 * watch's looks. */
static void run_guest_late(cis__pool_job *pj) {
  nap_ms(20);
  run_guest(pj);
}

/* A call alone that is short for a while (the watch sees it so) and then
 * runs long is never throttled: having been short is no short work
 * beside itself once long. It held its own quota for 50 ms. */
static void call_alone_short_then_long_runs_free(void **state) {
  (void)state;
  static cis__pool p;
  static guest g;
  static guest_job gj;
  start_with_guest(&p, &g, &gj);
  gj.pj.run = run_guest_late;
  submit_admitted(&p, &gj.pj);
  assert_long_and_free_alone(&p, &gj.pj);
  stop_with_guest(&p, &g, &gj);
}

/* As many spinning calls as workers are in flight: a short call is still
 * served, by the fresh threads their slots were handed to, while every
 * spinning one still runs, lowered. Before hand-offs it waited for one to
 * end. Then the pool is back to its workers, none long, none lowered. */
static void short_call_served_while_stuck_calls_hold_every_worker(void **state) {
  (void)state;
  static cis__pool p;
  enum { WORKERS = 3 };
  start(&p, WORKERS, 8, 100, 8);
  static test_job stuck[WORKERS], quick;
  pthread_mutex_lock(&mu);
  for (int i = 0; i < WORKERS; i++) {
    job_init(&stuck[i], run_spin, NULL);
    assert_int_equal(cis__pool_submit(&p, &stuck[i].pj), CIS__POOL_ADMITTED);
  }
  pthread_mutex_unlock(&mu);
  assert_true(wait_ran(stuck, WORKERS));
  job_init(&quick, run_short, NULL);
  pthread_mutex_lock(&mu);
  assert_int_equal(cis__pool_submit(&p, &quick.pj), CIS__POOL_ADMITTED);
  assert_true(wait_done(&quick));
  for (int i = 0; i < WORKERS; i++) assert_false(stuck[i].pj.done);
  pthread_mutex_unlock(&mu);
  /* The first hand-off served it; the others follow as each turns long.
   * Each is lowered once it has used its CPU time (a hand-off by wall
   * time may come first on a loaded machine). */
  assert_true(wait_count(&p.nlong, false, WORKERS));
  assert_true(wait_count(&p.demoted, true, WORKERS));
  pthread_mutex_lock(&mu);
  for (int i = 0; i < WORKERS; i++) assert_false(stuck[i].pj.done);
  assert_int_equal(p.handoffs, WORKERS);
  assert_int_equal(p.running, WORKERS);
  assert_int_equal(p.nthreads, 2 * WORKERS);
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < WORKERS; i++) assert_int_equal(getpriority(PRIO_PROCESS, (id_t)stuck[i].tid), nice_above(CIS__POOL_LONG_NICE));
  /* Named by the watch outside mu, just after the count moved. */
  for (int i = 0; i < BOUND_MS / 5 && cis_test_threads_named("cis-long") != WORKERS; i++) nap_ms(5);
  assert_int_equal(cis_test_threads_named("cis-long"), WORKERS);
  pthread_mutex_lock(&mu);
  assert_int_equal(p.trims, 0); /* no thread has ended yet */
  pthread_mutex_unlock(&mu);
  /* They end; their threads end with them and are joined. */
  gate_set(true);
  pthread_mutex_lock(&mu);
  for (int i = 0; i < WORKERS; i++) assert_true(wait_done(&stuck[i]));
  pthread_mutex_unlock(&mu);
  assert_true(wait_threads_settled(&p, WORKERS));
  /* Idle after threads ended: the memory their arenas hold goes back. */
  assert_true(wait_count(&p.trims, true, 1));
  cis__pool_stop(&p);
  for (int i = 0; i < WORKERS; i++) pthread_cond_destroy(&stuck[i].pj.cv);
  pthread_cond_destroy(&quick.pj.cv);
}

/* A call that holds its worker without using the CPU (blocked, or waiting
 * for the CPU on a loaded machine: its thread's CPU time does not grow
 * either way) is handed off once past the wall-time mark, and never
 * lowered: under 2 ms of wall time as the mark, healthy calls on a busy
 * machine were lowered too. The state waited for (its hand-off, at
 * CIS__POOL_BLOCKED_AFTER_NS) comes after the old 2 ms mark. */
static void waiting_call_is_handed_off_never_lowered(void **state) {
  (void)state;
  static cis__pool p;
  start(&p, 1, 4, 100, 4);
  static test_job blocked, quick;
  job_init(&blocked, run_blocked, NULL);
  submit_admitted(&p, &blocked.pj);
  assert_true(wait_ran(&blocked, 1));
  assert_true(wait_count(&p.nlong, false, 1));
  pthread_mutex_lock(&mu);
  assert_int_equal(p.demoted, 0);
  assert_false(blocked.pj.done);
  pthread_mutex_unlock(&mu);
  assert_int_equal(getpriority(PRIO_PROCESS, (id_t)blocked.tid), g_nice0);
  /* Its slot serves others meanwhile. */
  job_init(&quick, run_short, NULL);
  pthread_mutex_lock(&mu);
  assert_int_equal(cis__pool_submit(&p, &quick.pj), CIS__POOL_ADMITTED);
  assert_true(wait_done(&quick));
  assert_false(blocked.pj.done);
  assert_int_equal(p.demoted, 0);
  pthread_mutex_unlock(&mu);
  gate_set(true);
  pthread_mutex_lock(&mu);
  assert_true(wait_done(&blocked));
  assert_int_equal(p.demoted, 0);
  pthread_mutex_unlock(&mu);
  assert_true(wait_threads_settled(&p, 1));
  cis__pool_stop(&p);
  pthread_cond_destroy(&blocked.pj.cv);
  pthread_cond_destroy(&quick.pj.cv);
}

/* A call handed off while it waited, that then computes, is lowered once
 * it has used its CPU time: the watch keeps reading the CPU clocks of the
 * threads handed off. */
static void handed_off_call_that_starts_to_spin_is_lowered(void **state) {
  (void)state;
  static cis__pool p;
  start(&p, 1, 4, 100, 4);
  static test_job j;
  job_init(&j, run_block_then_spin, NULL);
  submit_admitted(&p, &j.pj);
  assert_true(wait_count(&p.nlong, false, 1));
  pthread_mutex_lock(&mu);
  assert_int_equal(p.demoted, 0);
  pthread_mutex_unlock(&mu);
  gate_set(true); /* it spins now */
  assert_true(wait_count(&p.demoted, true, 1));
  assert_int_equal(getpriority(PRIO_PROCESS, (id_t)j.tid), nice_above(CIS__POOL_LONG_NICE));
  atomic_store(&spin_gate_open, true);
  pthread_mutex_lock(&mu);
  assert_true(wait_done(&j));
  pthread_mutex_unlock(&mu);
  assert_true(wait_threads_settled(&p, 1));
  cis__pool_stop(&p);
  pthread_cond_destroy(&j.pj.cv);
}

/* Threads stay bounded: past long_max long calls, a long call keeps its
 * slot (lowered); the slots handed off still serve short calls. Once the
 * calls end the pool is back to its workers: the one that kept its slot
 * raised itself back, or (without the right to) was replaced. */
static void long_calls_beyond_long_max_keep_their_slot(void **state) {
  (void)state;
  static cis__pool p;
  start(&p, 2, 8, 100, 1);
  static test_job stuck[2], quick;
  pthread_mutex_lock(&mu);
  for (int i = 0; i < 2; i++) {
    job_init(&stuck[i], run_spin, NULL);
    assert_int_equal(cis__pool_submit(&p, &stuck[i].pj), CIS__POOL_ADMITTED);
  }
  pthread_mutex_unlock(&mu);
  /* Both seen long by the watch (both lowered): one handed off, not two. */
  assert_true(wait_count(&p.demoted, true, 2));
  pthread_mutex_lock(&mu);
  assert_int_equal(p.nlong, 1);
  assert_int_equal(p.handoffs, 1);
  assert_int_equal(p.nthreads, 3);
  job_init(&quick, run_short, NULL);
  assert_int_equal(cis__pool_submit(&p, &quick.pj), CIS__POOL_ADMITTED);
  assert_true(wait_done(&quick));
  assert_int_equal(p.nlong, 1);
  pthread_mutex_unlock(&mu);
  gate_set(true);
  pthread_mutex_lock(&mu);
  for (int i = 0; i < 2; i++) assert_true(wait_done(&stuck[i]));
  pthread_mutex_unlock(&mu);
  assert_true(wait_threads_settled(&p, 2));
  cis__pool_stop(&p);
  for (int i = 0; i < 2; i++) pthread_cond_destroy(&stuck[i].pj.cv);
  pthread_cond_destroy(&quick.pj.cv);
}

/* Admission: an owner at its cap is refused; long calls count against
 * workers + queue (each holds its memory), so the bound on calls in
 * flight stays what it was. */
static void admission_bounds_owner_and_calls_in_flight(void **state) {
  (void)state;
  static cis__pool p;
  start(&p, 1, 1, 1, 4);
  static cis__pool_owner owner_a, owner_b;
  static test_job a, b, c, d;
  pthread_mutex_lock(&mu);
  job_init(&a, run_blocked, &owner_a);
  assert_int_equal(cis__pool_submit(&p, &a.pj), CIS__POOL_ADMITTED);
  job_init(&b, run_blocked, &owner_a);
  assert_int_equal(cis__pool_submit(&p, &b.pj), CIS__POOL_OWNER_FULL);
  assert_int_equal(owner_a.active, 1);
  job_init(&c, run_blocked, &owner_b);
  assert_int_equal(cis__pool_submit(&p, &c.pj), CIS__POOL_ADMITTED);
  job_init(&d, run_short, NULL);
  assert_int_equal(cis__pool_submit(&p, &d.pj), CIS__POOL_FULL);
  pthread_mutex_unlock(&mu);
  gate_set(true);
  pthread_mutex_lock(&mu);
  assert_true(wait_done(&a));
  assert_true(wait_done(&c));
  assert_int_equal(owner_a.active, 0);
  assert_int_equal(owner_b.active, 0);
  pthread_mutex_unlock(&mu);
  cis__pool_stop(&p);
  pthread_cond_destroy(&a.pj.cv);
  pthread_cond_destroy(&b.pj.cv);
  pthread_cond_destroy(&c.pj.cv);
  pthread_cond_destroy(&d.pj.cv);
}

/* A submission that leaves its wake for after the unlock (as cis serve
 * submits: a worker told under the lock preempted the polling thread
 * holding it) names the threads to tell, and its job runs once told; a
 * refused one names none. The same for an inline job moved to a worker. */
static void a_wake_left_for_after_the_unlock_runs_the_job(void **state) {
  (void)state;
  static cis__pool p;
  start(&p, 1, 1, 1, 4);
  static cis__pool_owner owner;
  static test_job a, b, c;
  job_init(&a, run_short, &owner);
  job_init(&b, run_short, &owner);
  job_init(&c, run_short, &owner);
  cis__pool_wake w = {0};
  pthread_mutex_lock(&mu);
  assert_int_equal(cis__pool_submit_later(&p, &a.pj, &w), CIS__POOL_ADMITTED);
  assert_non_null(w.cv);
  cis__pool_wake refused = {0};
  assert_int_equal(cis__pool_submit_later(&p, &b.pj, &refused), CIS__POOL_OWNER_FULL);
  assert_null(refused.cv);
  pthread_mutex_unlock(&mu);
  cis__pool_wake_now(&w);
  assert_null(w.cv);
  assert_true(wait_ran(&a, 1));
  pthread_mutex_lock(&mu);
  assert_true(wait_done(&a));
  pthread_mutex_unlock(&mu);
  assert_int_equal(cis__pool_enter_inline(&p, &c.pj), CIS__POOL_ADMITTED);
  pthread_mutex_lock(&mu);
  cis__pool_continue_later(&p, &c.pj, CIS_WAIT_STORE, &w);
  assert_non_null(w.cv);
  pthread_mutex_unlock(&mu);
  cis__pool_wake_now(&w);
  assert_true(wait_ran(&c, 1));
  pthread_mutex_lock(&mu);
  assert_true(wait_done(&c));
  pthread_mutex_unlock(&mu);
  cis__pool_stop(&p);
  g_running = NULL;
  pthread_cond_destroy(&a.pj.cv);
  pthread_cond_destroy(&b.pj.cv);
  pthread_cond_destroy(&c.pj.cv);
}

/* A pool with an owner rate (cis serve's registry changes) starts an
 * owner's paced jobs at that rate after a burst of as many, the others
 * waiting in its queue, in order; another owner's job is not held behind
 * them. */
static void owner_rate_paces_an_owners_jobs_and_no_one_elses(void **state) {
  (void)state;
  static cis__pool p;
  cis__pool_config c = {.workers = 2, .queue = 16, .background = true, .owner_rate = 2};
  assert_int_equal(cis__pool_start(&p, &c, &mu, &idle_cv), CIS_OK);
  g_running = &p;
  enum { N = 8 };
  static cis__pool_owner owner_a, owner_b;
  static test_job a[N], b;
  uint64_t t0 = cis__now_ns();
  pthread_mutex_lock(&mu);
  for (int i = 0; i < N; i++) {
    job_init(&a[i], run_short, &owner_a);
    a[i].pj.paced = true;
    assert_int_equal(cis__pool_submit(&p, &a[i].pj), CIS__POOL_ADMITTED);
  }
  pthread_mutex_unlock(&mu);
  assert_true(wait_ran(&a[0], 2)); /* the burst */
  job_init(&b, run_short, &owner_b);
  b.pj.paced = true;
  pthread_mutex_lock(&mu);
  assert_int_equal(cis__pool_submit(&p, &b.pj), CIS__POOL_ADMITTED);
  assert_true(wait_done(&b));
  assert_false(a[N - 1].pj.done); /* 2.5 s of owner a's rate still ahead of it */
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < N; i++) {
    pthread_mutex_lock(&mu);
    assert_true(wait_done(&a[i]));
    pthread_mutex_unlock(&mu);
    /* In order once paced, half a second apart; the burst's two start
     * together on the two threads, in either order. */
    if (i > 1) assert_true(atomic_load(&a[i].order) > atomic_load(&a[i - 1].order));
  }
  /* N jobs at 2 a second after a burst of 2: (N - 2) / 2 s at least. */
  assert_true(cis__now_ns() - t0 >= (uint64_t)(N - 2) * 500000000ull - 20000000ull);
  pthread_mutex_lock(&mu);
  assert_true(p.paced >= N - 3);
  pthread_mutex_unlock(&mu);
  /* Its bucket emptied, a paced job waits for the next token (half a
   * second at 2 a second), and is counted. */
  static test_job a_more;
  job_init(&a_more, run_short, &owner_a);
  a_more.pj.paced = true;
  pthread_mutex_lock(&mu);
  uint64_t paced = p.paced, t1 = cis__now_ns();
  owner_a.pace.left = 0;
  owner_a.pace.at = t1;
  assert_int_equal(cis__pool_submit(&p, &a_more.pj), CIS__POOL_ADMITTED);
  assert_true(wait_done(&a_more));
  assert_true(cis__now_ns() - t1 >= 480000000ull);
  assert_int_equal(p.paced, paced + 1);
  pthread_mutex_unlock(&mu);
  cis__pool_stop(&p);
  g_running = NULL;
  for (int i = 0; i < N; i++) pthread_cond_destroy(&a[i].pj.cv);
  pthread_cond_destroy(&b.pj.cv);
  pthread_cond_destroy(&a_more.pj.cv);
}

/* Owners are served in turn: behind one owner's queue of waiting jobs,
 * another owner's job runs next-but-one, not last. And one owner alone
 * may fill every worker and its queue (no cap of its own by default). */
static void owners_served_in_turn_and_one_alone_uses_every_worker(void **state) {
  (void)state;
  static cis__pool p;
  /* One worker, no hand-offs: the jobs run one by one, in the pool's order. */
  cis__pool_config c = {.workers = 1, .queue = 8, .queue_total = 32, .owner_cap = 0, .long_max = 0};
  assert_int_equal(cis__pool_start(&p, &c, &mu, &idle_cv), CIS_OK);
  g_running = &p;
  gate_set(false);
  static cis__pool_owner greedy, quiet;
  static test_job g[7], q;
  atomic_store(&began_count, 0);
  pthread_mutex_lock(&mu);
  job_init(&g[0], run_blocked, &greedy);
  assert_int_equal(cis__pool_submit(&p, &g[0].pj), CIS__POOL_ADMITTED);
  pthread_mutex_unlock(&mu);
  assert_true(wait_ran(&g[0], 1)); /* the worker holds it */
  pthread_mutex_lock(&mu);
  for (int i = 1; i < 7; i++) {
    job_init(&g[i], run_short, &greedy);
    assert_int_equal(cis__pool_submit(&p, &g[i].pj), CIS__POOL_ADMITTED);
  }
  job_init(&q, run_short, &quiet);
  assert_int_equal(cis__pool_submit(&p, &q.pj), CIS__POOL_ADMITTED);
  pthread_mutex_unlock(&mu);
  gate_set(true);
  pthread_mutex_lock(&mu);
  for (int i = 0; i < 7; i++) assert_true(wait_done(&g[i]));
  assert_true(wait_done(&q));
  pthread_mutex_unlock(&mu);
  /* g0 (running), then one of greedy's, then quiet's: third, not eighth. */
  assert_int_equal(atomic_load(&q.order), 2);
  for (int i = 1; i < 7; i++) assert_int_equal(atomic_load(&g[i].order), i < 2 ? i : i + 1);
  cis__pool_stop(&p);

  /* Alone: 2 workers busy and 4 waiting, all one owner's; the next is
   * refused as the queue's, not as the owner's cap. */
  static cis__pool p2;
  cis__pool_config c2 = {.workers = 2, .queue = 4, .queue_total = 16, .owner_cap = 0, .long_max = 0};
  assert_int_equal(cis__pool_start(&p2, &c2, &mu, &idle_cv), CIS_OK);
  g_running = &p2;
  gate_set(false);
  static cis__pool_owner alone;
  static test_job a[7];
  pthread_mutex_lock(&mu);
  for (int i = 0; i < 6; i++) {
    job_init(&a[i], run_blocked, &alone);
    assert_int_equal(cis__pool_submit(&p2, &a[i].pj), CIS__POOL_ADMITTED);
  }
  pthread_mutex_unlock(&mu);
  assert_true(wait_ran(a, 2));
  pthread_mutex_lock(&mu);
  job_init(&a[6], run_blocked, &alone);
  assert_int_equal(cis__pool_submit(&p2, &a[6].pj), CIS__POOL_FULL);
  assert_int_equal(alone.active, 6);
  pthread_mutex_unlock(&mu);
  gate_set(true);
  pthread_mutex_lock(&mu);
  for (int i = 0; i < 6; i++) assert_true(wait_done(&a[i]));
  assert_int_equal(alone.active, 0);
  pthread_mutex_unlock(&mu);
  cis__pool_stop(&p2);
  for (int i = 0; i < 7; i++) pthread_cond_destroy(&g[i].pj.cv), pthread_cond_destroy(&a[i].pj.cv);
  pthread_cond_destroy(&q.pj.cv);
}

/* ------------------------------------------------------ fairness */

/* A job that records where it ran: its thread's name, nice value and
 * scheduling policy. */
typedef struct lane_job {
  test_job t;         /* first: began() fills it */
  char name[16];      /* its thread's name */
  int nice;           /* its thread's nice value */
  int policy;         /* its thread's policy (SCHED_OTHER, SCHED_IDLE) */
} lane_job;

static void run_where(cis__pool_job *pj) {
  lane_job *j = (lane_job *)pj;
  pthread_getname_np(pthread_self(), j->name, sizeof j->name);
  errno = 0;
  j->nice = getpriority(PRIO_PROCESS, 0);
  struct sched_param sp;
  if (pthread_getschedparam(pthread_self(), &j->policy, &sp) != 0) j->policy = -1;
  began(pj);
}

/* The review's clock: a second ahead of the real one, so that the
 * admissions' own reviews (on the real clock) are never due, and each
 * step one period on. The CPU the jobs really use is charged too, but
 * read by these reviews only: a few microseconds beside the charges. */
static uint64_t fair_clock;

/* One period: charges a and b (NULL: none) and reviews. */
static void fair_step(cis__pool *p, cis__pool_owner *a, uint64_t a_ns, cis__pool_owner *b, uint64_t b_ns) {
  if (!fair_clock) fair_clock = cis__now_ns() + 1000000000ull;
  fair_clock += CIS__POOL_FAIR_PERIOD_NS;
  if (a) cis__pool_charge(p, a, a_ns);
  if (b) cis__pool_charge(p, b, b_ns);
  cis__pool_review(p, fair_clock);
}

/* Submits j (owner o) and waits until it is done; whether it was. */
static bool run_one(cis__pool *p, lane_job *j, cis__pool_owner *o) {
  memset(j, 0, sizeof *j);
  job_init(&j->t, run_where, o);
  pthread_mutex_lock(&mu);
  bool ok = cis__pool_submit(p, &j->t.pj) == CIS__POOL_ADMITTED && wait_done(&j->t);
  pthread_mutex_unlock(&mu);
  pthread_cond_destroy(&j->t.pj.cv);
  return ok;
}

/* Starts a pool of `workers` and `lane` threads, and waits (bounded)
 * until the lane's have named themselves. */
static void start_lane(cis__pool *p, unsigned workers, unsigned lane) {
  cis__pool_config c = {.workers = workers, .queue = 8, .queue_total = 32, .lane = lane};
  assert_int_equal(cis__pool_start(p, &c, &mu, &idle_cv), CIS_OK);
  g_running = p;
  fair_clock = 0;
  for (int i = 0; i < BOUND_MS / 5 && cis_test_threads_named("cis-lane") != (int)lane; i++) nap_ms(5);
  assert_int_equal(cis_test_threads_named("cis-lane"), (int)lane);
}

/* Starts p with one worker and one lane thread, and charges noisy 75% of
 * a CPU and quiet 2.5% for ten periods: noisy is then over its share. */
static void start_with_one_over(cis__pool *p, cis__pool_owner *noisy, cis__pool_owner *quiet) {
  memset(noisy, 0, sizeof *noisy);
  memset(quiet, 0, sizeof *quiet);
  start_lane(p, 1, 1);
  for (int i = 0; i < 10; i++) fair_step(p, noisy, 15000000, quiet, 500000);
  assert_true(atomic_load(&noisy->over));
}

/* An owner using far more CPU than another while both are active is over
 * its share: its jobs run on the lane, at nice 19 and SCHED_IDLE, and
 * never inline; the other's run on the workers, at nice 0, and inline. */
static void owner_over_its_share_runs_on_the_lane_and_others_do_not(void **state) {
  (void)state;
  static cis__pool p;
  static cis__pool_owner noisy, quiet;
  start_with_one_over(&p, &noisy, &quiet);
  assert_false(atomic_load(&quiet.over));
  assert_int_equal(atomic_load(&p.nover), 1);
  static lane_job n, q;
  assert_true(run_one(&p, &n, &noisy));
  assert_string_equal(n.name, "cis-lane");
  assert_int_equal(n.nice, CIS__POOL_LANE_NICE);
  assert_int_equal(n.policy, SCHED_IDLE);
  assert_true(run_one(&p, &q, &quiet));
  assert_string_equal(q.name, "cis-worker");
  assert_int_equal(q.nice, g_nice0);
  assert_int_equal(q.policy, SCHED_OTHER);
  pthread_mutex_lock(&mu);
  assert_int_equal(p.lane_runs, 1);
  pthread_mutex_unlock(&mu);
  /* Inline: the noisy owner is sent to the queue (for the lane). */
  static test_job in;
  job_init(&in, run_short, &noisy);
  assert_int_equal(cis__pool_enter_inline(&p, &in.pj), CIS__POOL_LANE);
  assert_int_equal(atomic_load(&noisy.active), 0);
  /* The other's runs inline, and is charged the time it ran there (5 ms
   * of spinning), no more than the time around it. */
  in.pj.owner = &quiet;
  uint64_t charged0 = atomic_load(&quiet.cpu_ns), t0 = cis__now_ns();
  assert_int_equal(cis__pool_enter_inline(&p, &in.pj), CIS__POOL_ADMITTED);
  uint64_t t1 = cis__now_ns(); /* its charge began before this */
  while (cis__now_ns() - t1 < 5000000u) {
  }
  uint64_t told = cis__pool_leave_inline(&p, &in.pj); /* what it charged, for the polling thread's meter */
  uint64_t took = cis__now_ns() - t0, charged = atomic_load(&quiet.cpu_ns) - charged0;
  if (charged < 5000000u || charged > took) fail_msg("charged %llu ns for %llu", (unsigned long long)charged, (unsigned long long)took);
  assert_int_equal(told, charged);
  pthread_cond_destroy(&in.pj.cv);
}

/* One owner alone is never over, however much it uses; nor is any owner
 * of a pool without a lane. */
static void owner_alone_is_never_over_its_share(void **state) {
  (void)state;
  static cis__pool p;
  static cis__pool_owner alone, other;
  memset(&alone, 0, sizeof alone);
  memset(&other, 0, sizeof other);
  start_lane(&p, 1, 1);
  for (int i = 0; i < 40; i++) fair_step(&p, &alone, CIS__POOL_FAIR_PERIOD_NS * 2, NULL, 0); /* two CPUs */
  assert_false(atomic_load(&alone.over));
  static lane_job a;
  assert_true(run_one(&p, &a, &alone));
  assert_string_equal(a.name, "cis-worker");
  cis__pool_stop(&p);
  g_running = NULL;

  static cis__pool none;
  memset(&alone, 0, sizeof alone);
  start_lane(&none, 1, 0);
  for (int i = 0; i < 10; i++) fair_step(&none, &alone, 15000000, &other, 500000);
  assert_false(atomic_load(&alone.over));
  assert_int_equal(atomic_load(&none.nover), 0);
}

/* An owner over its share comes back when it falls under it, and when the
 * others go quiet (it is then alone). */
static void owner_over_its_share_comes_back(void **state) {
  (void)state;
  static cis__pool p;
  static cis__pool_owner noisy, quiet;
  start_with_one_over(&p, &noisy, &quiet);
  /* Both at one load: its sum decays to the other's. */
  for (int i = 0; i < 40 && atomic_load(&noisy.over); i++) fair_step(&p, &noisy, 4000000, &quiet, 4000000);
  assert_false(atomic_load(&noisy.over));
  assert_int_equal(atomic_load(&p.nover), 0);
  static lane_job n;
  assert_true(run_one(&p, &n, &noisy));
  assert_string_equal(n.name, "cis-worker");
  /* Over again; then the other owner stops: alone within the active
   * window, it comes back. */
  for (int i = 0; i < 10; i++) fair_step(&p, &noisy, 15000000, &quiet, 500000);
  assert_true(atomic_load(&noisy.over));
  for (int i = 0; i < CIS__POOL_FAIR_ACTIVE - 1; i++) fair_step(&p, &noisy, 15000000, NULL, 0);
  assert_true(atomic_load(&noisy.over)); /* the other still counts as active */
  fair_step(&p, &noisy, 15000000, NULL, 0);
  assert_false(atomic_load(&noisy.over));
  assert_true(run_one(&p, &n, &noisy));
  assert_string_equal(n.name, "cis-worker");
}

/* The cluster's other nodes' figures (cis__pool_remote) count as this
 * node's: an owner alone here is over its share while a tenant with no
 * owner here is active elsewhere, and back once that one is gone; a
 * tenant's use elsewhere adds to its own here; a busy figure is bounded. */
static void other_nodes_tenants_count_in_the_shares(void **state) {
  (void)state;
  static cis__pool p;
  static cis__pool_owner alone, other;
  memset(&alone, 0, sizeof alone);
  memset(&other, 0, sizeof other);
  start_lane(&p, 1, 1);
  for (int i = 0; i < 10; i++) fair_step(&p, &alone, 15000000, NULL, 0); /* 75% of a CPU */
  assert_false(atomic_load(&alone.over));
  /* A tenant not known here uses 2.5% of a CPU on another node. */
  cis__pool_remote_use far = {.owner = NULL, .cpu_ns_per_s = 25000000};
  cis__pool_remote(&p, &far, 1);
  assert_int_equal(atomic_load(&p.remote_only), 1);
  fair_step(&p, &alone, 15000000, NULL, 0);
  assert_true(atomic_load(&alone.over));
  static lane_job a;
  assert_true(run_one(&p, &a, &alone));
  assert_string_equal(a.name, "cis-lane");
  /* It goes quiet there: alone again. */
  cis__pool_remote(&p, NULL, 0);
  fair_step(&p, &alone, 15000000, NULL, 0);
  assert_false(atomic_load(&alone.over));
  /* Two owners here at one load; other's use elsewhere makes it the one
   * over its share. An owner with no job here yet (not reviewed) counts
   * among the tenants of elsewhere. */
  for (int i = 0; i < 20; i++) fair_step(&p, &alone, 4000000, &other, 4000000);
  assert_false(atomic_load(&other.over));
  cis__pool_remote_use busy = {.owner = &other, .cpu_ns_per_s = 1000000000ull}; /* a CPU elsewhere */
  cis__pool_remote(&p, &busy, 1);
  assert_int_equal(atomic_load(&p.remote_only), 0);
  assert_true(atomic_load(&other.remote) > 0);
  fair_step(&p, &alone, 4000000, &other, 4000000);
  assert_true(atomic_load(&other.over));
  assert_false(atomic_load(&alone.over));
  static cis__pool_owner unseen;
  memset(&unseen, 0, sizeof unseen);
  cis__pool_remote_use huge = {.owner = &unseen, .cpu_ns_per_s = UINT64_MAX};
  cis__pool_remote(&p, &huge, 1);
  assert_int_equal(atomic_load(&p.remote_only), 1);
  assert_int_equal(atomic_load(&other.remote), 0); /* replaced, not added */
  uint64_t sum = atomic_load(&p.remote_only_sum);
  assert_true(sum > 0 && sum <= 128ull * CIS__POOL_FAIR_PERIOD_NS * 4 / (4 - CIS__POOL_FAIR_KEEP));
}

static void pool_without_workers_is_refused(void **state) {
  (void)state;
  static cis__pool p;
  cis__pool_config c = {.workers = 0, .queue = 1, .owner_cap = 1};
  assert_int_equal(cis__pool_start(&p, &c, &mu, &idle_cv), CIS_EINVAL);
  cis__pool_stop(&p); /* nothing to stop: harmless */
  /* A background pool has no lane (no owner of it is ever over a share). */
  cis__pool_config bg = {.workers = 1, .queue = 1, .lane = 1, .background = true};
  assert_int_equal(cis__pool_start(&p, &bg, &mu, &idle_cv), CIS_EINVAL);
  cis__pool_stop(&p);
}

/* A background job's thread: where it runs, then it spins until the gate
 * opens, publishing the CPU time it has used. */
static lane_job bg_where;
static atomic_uint_fast64_t bg_cpu;

static void run_where_then_spin(cis__pool_job *pj) {
  run_where(pj);
  uint64_t cpu0 = cis__pool_self_cpu_ns(), end = cis__now_ns() + 2ull * BOUND_MS * 1000000ull;
  for (unsigned n = 0; !atomic_load(&gate_open); n++)
    if ((n & 1023) == 0) {
      atomic_store(&bg_cpu, cis__pool_self_cpu_ns() - cpu0);
      if (cis__now_ns() > end) break;
    }
}

/* A background pool (installs, removals) runs its jobs on "cis-admin"
 * threads that lowered themselves at their start, and keeps a job that
 * computes far past a long call's CPU time on its thread: no watch, no
 * hand-off, no thread made or lowered; the next job waits for it and
 * runs on the same thread. */
static void background_pool_keeps_a_long_job_on_its_thread(void **state) {
  (void)state;
  static cis__pool p;
  cis__pool_config c = {.workers = 1, .queue = 4, .long_max = 4, .background = true};
  assert_int_equal(cis__pool_start(&p, &c, &mu, &idle_cv), CIS_OK);
  g_running = &p;
  gate_set(false);
  assert_false(p.watching);
  for (int i = 0; i < BOUND_MS / 5 && cis_test_threads_named("cis-admin") != 1; i++) nap_ms(5);
  assert_int_equal(cis_test_threads_named("cis-admin"), 1);
  memset(&bg_where, 0, sizeof bg_where);
  atomic_store(&bg_cpu, 0);
  job_init(&bg_where.t, run_where_then_spin, NULL);
  static test_job next;
  job_init(&next, run_short, NULL);
  pthread_mutex_lock(&mu);
  assert_int_equal(cis__pool_submit(&p, &bg_where.t.pj), CIS__POOL_ADMITTED);
  assert_int_equal(cis__pool_submit(&p, &next.pj), CIS__POOL_ADMITTED);
  pthread_mutex_unlock(&mu);
  assert_true(wait_ran(&bg_where.t, 1));
  assert_string_equal(bg_where.name, "cis-admin");
  assert_int_equal(bg_where.nice, nice_above(CIS__POOL_BACKGROUND_NICE));
  /* Fifty times a long call's CPU time. */
  for (int i = 0; i < BOUND_MS / 5 && atomic_load(&bg_cpu) < 50 * CIS__POOL_LONG_AFTER_NS; i++) nap_ms(5);
  assert_true(atomic_load(&bg_cpu) >= 50 * CIS__POOL_LONG_AFTER_NS);
  pthread_mutex_lock(&mu);
  assert_int_equal(p.handoffs, 0);
  assert_int_equal(p.nlong, 0);
  assert_int_equal(p.demoted, 0);
  assert_int_equal(p.nthreads, 1);
  assert_false(next.pj.done);
  pthread_mutex_unlock(&mu);
  assert_int_equal(getpriority(PRIO_PROCESS, (id_t)atomic_load(&bg_where.t.tid)), nice_above(CIS__POOL_BACKGROUND_NICE));
  gate_set(true);
  pthread_mutex_lock(&mu);
  assert_true(wait_done(&bg_where.t));
  assert_true(wait_done(&next));
  assert_int_equal(p.handoffs, 0);
  pthread_mutex_unlock(&mu);
  assert_int_equal(atomic_load(&next.tid), atomic_load(&bg_where.t.tid));
  assert_int_equal(cis_test_threads_named("cis-admin"), 1);
  pthread_cond_destroy(&bg_where.t.pj.cv);
  pthread_cond_destroy(&next.pj.cv);
}

/* After every test, passed or failed: mu released if the test held it,
 * the gates opened so every job ends, and the pool stopped (a second stop
 * is harmless), so that a failed test never hangs the next one. */
static int teardown(void **state) {
  (void)state;
  int r = pthread_mutex_unlock(&mu);
  assert_true(r == 0 || r == EPERM); /* EPERM: not held, as after a pass */
  gate_set(true);
  atomic_store(&spin_gate_open, true);
  if (g_guest) cis_instance_cancel(g_guest->inst); /* a failed test's call */
  if (g_running) cis__pool_stop(g_running);
  g_running = NULL;
  g_guest = NULL;
  return 0;
}

int main(void) {
  errno = 0;
  g_nice0 = getpriority(PRIO_PROCESS, 0); /* the pools' own (pool.h): they start from this thread */
  if (errno) g_nice0 = 0;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(short_call_served_while_stuck_calls_hold_every_worker, teardown),
      cmocka_unit_test_teardown(waiting_call_is_handed_off_never_lowered, teardown),
      cmocka_unit_test_teardown(handed_off_call_that_starts_to_spin_is_lowered, teardown),
      cmocka_unit_test_teardown(long_calls_beyond_long_max_keep_their_slot, teardown),
      cmocka_unit_test_teardown(admission_bounds_owner_and_calls_in_flight, teardown),
      cmocka_unit_test_teardown(a_wake_left_for_after_the_unlock_runs_the_job, teardown),
      cmocka_unit_test_teardown(owners_served_in_turn_and_one_alone_uses_every_worker, teardown),
      cmocka_unit_test_teardown(pool_without_workers_is_refused, teardown),
      cmocka_unit_test_teardown(background_pool_keeps_a_long_job_on_its_thread, teardown),
      cmocka_unit_test_teardown(owner_rate_paces_an_owners_jobs_and_no_one_elses, teardown),
      cmocka_unit_test_teardown(owner_over_its_share_runs_on_the_lane_and_others_do_not, teardown),
      cmocka_unit_test_teardown(owner_alone_is_never_over_its_share, teardown),
      cmocka_unit_test_teardown(owner_over_its_share_comes_back, teardown),
      cmocka_unit_test_teardown(other_nodes_tenants_count_in_the_shares, teardown),
      cmocka_unit_test_teardown(quota_set_ahead_lets_a_call_run_its_grace_first, teardown),
      cmocka_unit_test_teardown(call_starts_under_the_long_quota_while_short_calls_run, teardown),
      cmocka_unit_test_teardown(call_that_starts_alone_starts_free, teardown),
      cmocka_unit_test_teardown(watch_rounds_once_a_period_under_a_stream_of_short_calls, teardown),
      cmocka_unit_test_teardown(quota_pauses_a_spinning_call_and_its_deadline_still_ends_it, teardown),
      cmocka_unit_test_teardown(quota_pause_ends_at_cancel, teardown),
      cmocka_unit_test_teardown(quota_lifted_lets_the_call_run_on, teardown),
      cmocka_unit_test_teardown(long_guest_call_is_throttled_while_short_calls_run, teardown),
      cmocka_unit_test_teardown(quota_holds_under_short_calls_between_the_watchs_looks, teardown),
      cmocka_unit_test_teardown(long_guest_call_is_throttled_while_another_tenant_calls_elsewhere, teardown),
      cmocka_unit_test_teardown(long_guest_call_is_throttled_while_short_calls_run_inline, teardown),
      cmocka_unit_test_teardown(call_moved_from_inline_runs_free_alone, teardown),
      cmocka_unit_test_teardown(call_alone_short_then_long_runs_free, teardown),
  };
  return cmocka_run_group_tests_name("serve_pool", tests, NULL, NULL);
}
