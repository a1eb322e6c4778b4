/*
 * This file tests the HTTP server's pacers on their own (src/serve/pace.c):
 * turns within the rate and its burst pass at once, the requests past it
 * wait in order and are resumed with their turn, one that waits past the
 * longest wait is resumed late, a turn the pacer took is used once, a
 * stop resumes those still waiting late and a wait after the stop at
 * once, and a pacer without a rate never holds anyone. Waits are bounded
 * (a few seconds at most); no test reads a duration as a result.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/internal.h"
#include "serve/pace.h"

/* What the pacer resumed, in order: the items (their connections are
 * the items themselves) and the state each had then. */
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  cis__pace_item *who[16];
  uint8_t state[16];
  unsigned n;
} g_resumed = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, {0}, 0};

static void resumed(void *conn) {
  cis__pace_item *it = conn;
  pthread_mutex_lock(&g_resumed.mu);
  if (g_resumed.n < 16) {
    g_resumed.who[g_resumed.n] = it;
    g_resumed.state[g_resumed.n] = it->state;
    g_resumed.n++;
  }
  pthread_cond_broadcast(&g_resumed.cv);
  pthread_mutex_unlock(&g_resumed.mu);
}

static void resumed_reset(void) {
  pthread_mutex_lock(&g_resumed.mu);
  g_resumed.n = 0;
  pthread_mutex_unlock(&g_resumed.mu);
}

/* Waits (at most 5 s) until n requests were resumed: their count. */
static unsigned resumed_wait(unsigned n) {
  struct timespec until;
  cis__timespec_after(CLOCK_REALTIME, 5000, &until);
  pthread_mutex_lock(&g_resumed.mu);
  while (g_resumed.n < n && pthread_cond_timedwait(&g_resumed.cv, &g_resumed.mu, &until) == 0) {
  }
  unsigned got = g_resumed.n;
  pthread_mutex_unlock(&g_resumed.mu);
  return got;
}

/* Takes every token of p's bucket (its burst): the next turn waits. */
static void bucket_emptied(cis__pacer *p) {
  cis__pace_item it;
  memset(&it, 0, sizeof it);
  for (unsigned i = 0; i < p->rate; i++) assert_true(cis__pacer_turn(p, &it));
  it.turned = false;
  assert_false(cis__pacer_turn(p, &it));
  assert_false(it.turned);
}

/* Starts p at rate a second with its bucket empty and nothing resumed. */
static void started_empty(cis__pacer *p, unsigned rate) {
  cis__pacer_init(p, rate, "test-pace", resumed);
  assert_true(cis__pacer_start(p));
  resumed_reset();
  bucket_emptied(p);
}

static void turns_past_the_rate_wait_in_order_and_get_theirs(void **state) {
  (void)state;
  cis__pacer p;
  started_empty(&p, 20);
  cis__pace_item a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  cis__pacer_wait(&p, &a, &a);
  cis__pacer_wait(&p, &b, &b);
  assert_int_equal(resumed_wait(2), 2);
  assert_ptr_equal(g_resumed.who[0], &a);
  assert_ptr_equal(g_resumed.who[1], &b);
  assert_int_equal(g_resumed.state[0], CIS__PACE_GO);
  assert_int_equal(g_resumed.state[1], CIS__PACE_GO);
  assert_int_equal(cis__pacer_queued(&p), 0);
  assert_int_equal(atomic_load(&p.waits), 2);
  assert_int_equal(atomic_load(&p.late), 0);
  /* Its handler then answers with the turn the pacer took: once, and
   * without a token of the bucket (empty again by now or not). */
  a.state = CIS__PACE_USE;
  assert_true(cis__pacer_turn(&p, &a));
  assert_int_equal(a.state, CIS__PACE_NONE);
  assert_true(a.turned);
  /* A turn taken for another pacer is not this one's. */
  cis__pacer other;
  cis__pacer_init(&other, 1, "test-other", resumed);
  bucket_emptied(&other);
  b.state = CIS__PACE_USE;
  b.turned = false;
  assert_false(cis__pacer_turn(&other, &b));
  cis__pacer_destroy(&other);
  cis__pacer_stop(&p);
  cis__pacer_destroy(&p);
}

/* One token a second: of three that wait, the first gets the next token
 * (a second on), and those behind it reach their longest wait first. */
static void a_wait_past_the_longest_is_late(void **state) {
  (void)state;
  cis__pacer p;
  started_empty(&p, 1);
  cis__pace_item it[3];
  memset(it, 0, sizeof it);
  for (int i = 0; i < 3; i++) cis__pacer_wait(&p, &it[i], &it[i]);
  assert_int_equal(resumed_wait(3), 3);
  unsigned late = 0;
  for (int i = 0; i < 3; i++) late += g_resumed.state[i] == CIS__PACE_LATE;
  assert_true(late >= 1);
  assert_int_equal(g_resumed.state[2], CIS__PACE_LATE);
  assert_int_equal(atomic_load(&p.late), late);
  assert_int_equal(atomic_load(&p.waits), 3);
  cis__pacer_stop(&p);
  cis__pacer_destroy(&p);
}

/* A stop resumes those still waiting, late, at once; a request that
 * comes to wait after it is resumed late at once, by its own thread. */
static void stop_resumes_the_waiting_and_later_waits_late(void **state) {
  (void)state;
  cis__pacer p;
  started_empty(&p, 1);
  cis__pace_item a, b, c;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&c, 0, sizeof c);
  cis__pacer_wait(&p, &a, &a);
  cis__pacer_wait(&p, &b, &b);
  cis__pacer_stop(&p);
  assert_int_equal(resumed_wait(2), 2);
  for (int i = 0; i < 2; i++) assert_int_equal(g_resumed.state[i], CIS__PACE_LATE);
  assert_int_equal(cis__pacer_queued(&p), 0);
  cis__pacer_wait(&p, &c, &c);
  assert_int_equal(resumed_wait(3), 3);
  assert_ptr_equal(g_resumed.who[2], &c);
  assert_int_equal(g_resumed.state[2], CIS__PACE_LATE);
  assert_int_equal(cis__pacer_queued(&p), 0);
  cis__pacer_stop(&p); /* a second stop: nothing */
  cis__pacer_destroy(&p);
}

/* Without a rate: no thread, every turn passes. */
static void no_rate_never_holds_anyone(void **state) {
  (void)state;
  cis__pacer p;
  cis__pacer_init(&p, 0, "test-pace", resumed);
  assert_true(cis__pacer_start(&p));
  assert_false(p.running);
  cis__pace_item it;
  memset(&it, 0, sizeof it);
  for (int i = 0; i < 100000; i++) assert_true(cis__pacer_turn(&p, &it));
  assert_int_equal(atomic_load(&p.waits), 0);
  cis__pacer_stop(&p);
  cis__pacer_destroy(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(turns_past_the_rate_wait_in_order_and_get_theirs),
      cmocka_unit_test(a_wait_past_the_longest_is_late),
      cmocka_unit_test(stop_resumes_the_waiting_and_later_waits_late),
      cmocka_unit_test(no_rate_never_holds_anyone),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
