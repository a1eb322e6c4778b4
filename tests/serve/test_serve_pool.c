/*
 * This file implements the tests of the worker pool of `cis serve`
 * (src/serve/pool.c) on its own, with jobs that stand for calls: a stuck
 * job blocks on a gate the test opens (as a skill spinning until its
 * deadline holds its thread), a short job only marks that it ran. They
 * check the mechanism, never a duration: every wait is bounded (30 s)
 * and only fails the test when what should happen did not.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/internal.h"
#include "serve/pool.h"

#define BOUND_MS 30000 /* the longest any wait may take before the test fails */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;  /* the pool's (its owner's) */
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER;

/* The gate stuck jobs wait behind. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;

typedef struct test_job {
  cis__pool_job pj;   /* first: the pool's part */
  atomic_bool ran;    /* run() began */
} test_job;

static void run_short(cis__pool_job *pj) { atomic_store(&((test_job *)pj)->ran, true); }

/* Holds its thread until the gate opens (bounded, so a failing test ends). */
static void run_stuck(cis__pool_job *pj) {
  atomic_store(&((test_job *)pj)->ran, true);
  struct timespec until;
  cis__timespec_after(CLOCK_REALTIME, 2 * BOUND_MS, &until);
  pthread_mutex_lock(&gate_mu);
  int r = 0;
  while (!gate_open && r != ETIMEDOUT) r = pthread_cond_timedwait(&gate_cv, &gate_mu, &until);
  pthread_mutex_unlock(&gate_mu);
}

static void gate_set(bool open) {
  pthread_mutex_lock(&gate_mu);
  gate_open = open;
  pthread_cond_broadcast(&gate_cv);
  pthread_mutex_unlock(&gate_mu);
}

static void job_init(test_job *j, bool stuck, unsigned *active) {
  memset(j, 0, sizeof *j);
  j->pj.run = stuck ? run_stuck : run_short;
  j->pj.active = active;
  pthread_cond_init(&j->pj.cv, NULL);
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

static void start(cis__pool *p, unsigned workers, unsigned queue, unsigned owner_cap, unsigned long_max) {
  cis__pool_config c = {.workers = workers, .queue = queue, .owner_cap = owner_cap, .long_max = long_max};
  assert_int_equal(cis__pool_start(p, &c, &mu, &idle_cv), CIS_OK);
  gate_set(false);
}

/* As many stuck calls as workers are in flight: a short call is still
 * served, by the fresh threads their slots were handed to, while every
 * stuck one still runs. Before hand-offs it waited for a stuck one to end. */
static void short_call_served_while_stuck_calls_hold_every_worker(void **state) {
  (void)state;
  static cis__pool p;
  enum { WORKERS = 3 };
  start(&p, WORKERS, 8, 100, 8);
  test_job stuck[WORKERS], quick;
  pthread_mutex_lock(&mu);
  for (int i = 0; i < WORKERS; i++) {
    job_init(&stuck[i], true, NULL);
    assert_int_equal(cis__pool_submit(&p, &stuck[i].pj), CIS__POOL_ADMITTED);
  }
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < WORKERS; i++)
    for (int k = 0; k < BOUND_MS / 5 && !atomic_load(&stuck[i].ran); k++) nap_ms(5);
  for (int i = 0; i < WORKERS; i++) assert_true(atomic_load(&stuck[i].ran));
  job_init(&quick, false, NULL);
  pthread_mutex_lock(&mu);
  assert_int_equal(cis__pool_submit(&p, &quick.pj), CIS__POOL_ADMITTED);
  assert_true(wait_done(&quick));
  for (int i = 0; i < WORKERS; i++) assert_false(stuck[i].pj.done);
  pthread_mutex_unlock(&mu);
  /* The first hand-off served it; the others follow as each turns long. */
  assert_true(wait_count(&p.nlong, false, WORKERS));
  pthread_mutex_lock(&mu);
  for (int i = 0; i < WORKERS; i++) assert_false(stuck[i].pj.done);
  assert_int_equal(p.handoffs, WORKERS);
  assert_int_equal(p.demoted, WORKERS);
  assert_int_equal(p.running, WORKERS);
  pthread_mutex_unlock(&mu);
  /* They end; their threads end with them and are joined. */
  gate_set(true);
  pthread_mutex_lock(&mu);
  for (int i = 0; i < WORKERS; i++) assert_true(wait_done(&stuck[i]));
  pthread_mutex_unlock(&mu);
  assert_true(wait_count(&p.nlong, false, 0));
  cis__pool_stop(&p);
  for (int i = 0; i < WORKERS; i++) pthread_cond_destroy(&stuck[i].pj.cv);
  pthread_cond_destroy(&quick.pj.cv);
}

/* Threads stay bounded: past long_max long calls, a long call keeps its
 * slot (lowered); the slots handed off still serve short calls. */
static void long_calls_beyond_long_max_keep_their_slot(void **state) {
  (void)state;
  static cis__pool p;
  start(&p, 2, 8, 100, 1);
  test_job stuck[2], quick;
  pthread_mutex_lock(&mu);
  for (int i = 0; i < 2; i++) {
    job_init(&stuck[i], true, NULL);
    assert_int_equal(cis__pool_submit(&p, &stuck[i].pj), CIS__POOL_ADMITTED);
  }
  pthread_mutex_unlock(&mu);
  /* Both seen long by the watch (both lowered): one handed off, not two. */
  assert_true(wait_count(&p.demoted, true, 2));
  pthread_mutex_lock(&mu);
  assert_int_equal(p.nlong, 1);
  assert_int_equal(p.handoffs, 1);
  job_init(&quick, false, NULL);
  assert_int_equal(cis__pool_submit(&p, &quick.pj), CIS__POOL_ADMITTED);
  assert_true(wait_done(&quick));
  assert_int_equal(p.nlong, 1);
  pthread_mutex_unlock(&mu);
  gate_set(true);
  pthread_mutex_lock(&mu);
  for (int i = 0; i < 2; i++) assert_true(wait_done(&stuck[i]));
  pthread_mutex_unlock(&mu);
  assert_true(wait_count(&p.nlong, false, 0));
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
  unsigned owner_a = 0, owner_b = 0;
  test_job a, b, c, d;
  pthread_mutex_lock(&mu);
  job_init(&a, true, &owner_a);
  assert_int_equal(cis__pool_submit(&p, &a.pj), CIS__POOL_ADMITTED);
  job_init(&b, true, &owner_a);
  assert_int_equal(cis__pool_submit(&p, &b.pj), CIS__POOL_OWNER_FULL);
  assert_int_equal(owner_a, 1);
  job_init(&c, true, &owner_b);
  assert_int_equal(cis__pool_submit(&p, &c.pj), CIS__POOL_ADMITTED);
  job_init(&d, false, NULL);
  assert_int_equal(cis__pool_submit(&p, &d.pj), CIS__POOL_FULL);
  pthread_mutex_unlock(&mu);
  gate_set(true);
  pthread_mutex_lock(&mu);
  assert_true(wait_done(&a));
  assert_true(wait_done(&c));
  assert_int_equal(owner_a, 0);
  assert_int_equal(owner_b, 0);
  pthread_mutex_unlock(&mu);
  cis__pool_stop(&p);
  pthread_cond_destroy(&a.pj.cv);
  pthread_cond_destroy(&b.pj.cv);
  pthread_cond_destroy(&c.pj.cv);
  pthread_cond_destroy(&d.pj.cv);
}

static void pool_without_workers_is_refused(void **state) {
  (void)state;
  static cis__pool p;
  cis__pool_config c = {.workers = 0, .queue = 1, .owner_cap = 1};
  assert_int_equal(cis__pool_start(&p, &c, &mu, &idle_cv), CIS_EINVAL);
  cis__pool_stop(&p); /* nothing to stop: harmless */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(short_call_served_while_stuck_calls_hold_every_worker),
      cmocka_unit_test(long_calls_beyond_long_max_keep_their_slot),
      cmocka_unit_test(admission_bounds_owner_and_calls_in_flight),
      cmocka_unit_test(pool_without_workers_is_refused),
  };
  return cmocka_run_group_tests_name("serve_pool", tests, NULL, NULL);
}
