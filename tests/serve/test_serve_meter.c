/*
 * This file implements the tests of the polling threads' meter
 * (src/serve/meter.c) on its own, with a CPU clock the test sets: the
 * untimed CPU time of a window shared out per head to the next window's
 * requests, the timed spans left out, the clock read once a window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "serve/meter.h"

static uint64_t g_cpu;   /* the thread's CPU clock as the meter reads it */
static unsigned g_reads; /* reads of it */

static uint64_t test_cpu(void) {
  g_reads++;
  return g_cpu;
}

#define MS 1000000ull
#define US 1000ull

static int reset(void **state) {
  (void)state;
  g_cpu = 5 * MS;
  g_reads = 0;
  return 0;
}

/* The first head reads the clock and has no share yet; heads within the
 * window read it no more; the next window's heads each take an even part
 * of what the window before used beyond its timed spans. */
static void window_shares_its_untimed_time_among_its_heads(void **state) {
  (void)state;
  cis__poll_meter m = {0};
  uint64_t t = 100 * MS;
  assert_int_equal(cis__poll_meter_head(&m, t, test_cpu), 0);
  for (int i = 1; i < 4; i++) assert_int_equal(cis__poll_meter_head(&m, t + (uint64_t)i * 100 * US, test_cpu), 0);
  assert_int_equal(g_reads, 1);
  cis__poll_meter_timed(&m, 200 * US);
  cis__poll_meter_timed(&m, 200 * US);
  g_cpu += 800 * US; /* 400 us timed, 400 us around 4 heads */
  assert_int_equal(cis__poll_meter_head(&m, t + MS, test_cpu), 100 * US);
  assert_int_equal(g_reads, 2);
  assert_int_equal(cis__poll_meter_head(&m, t + MS + 10 * US, test_cpu), 100 * US);
  assert_int_equal(g_reads, 2);
}

/* A window that idled is its heads' all the same; timed spans longer
 * than the CPU time used (a span that waited) give a share of 0, not a
 * wrap. */
static void idle_window_is_its_heads_and_timed_waits_do_not_wrap(void **state) {
  (void)state;
  cis__poll_meter m = {0};
  uint64_t t = 7 * MS;
  cis__poll_meter_head(&m, t, test_cpu);
  cis__poll_meter_head(&m, t, test_cpu);
  g_cpu += 60 * US;
  assert_int_equal(cis__poll_meter_head(&m, t + 2 * MS, test_cpu), 30 * US);
  /* That window's one head and 5 ms of idle polling (20 us of CPU), then
   * a head: 20 us for the one head of the window. */
  g_cpu += 20 * US;
  assert_int_equal(cis__poll_meter_head(&m, t + 7 * MS, test_cpu), 20 * US);
  /* A span charged 3 ms from the wall clock while the thread ran 1 ms. */
  cis__poll_meter_timed(&m, 3 * MS);
  g_cpu += MS;
  assert_int_equal(cis__poll_meter_head(&m, t + 12 * MS, test_cpu), 0);
  /* No head for 10 ms after that window's first, then one: the window's
   * idle polling (50 us) is its one head's. */
  g_cpu += 50 * US;
  assert_int_equal(cis__poll_meter_head(&m, t + 22 * MS, test_cpu), 50 * US);
}

/* A clock that cannot be read (0) or goes back is no share, never a
 * wrapped one; the first good reading after it opens a window. */
static void unreadable_or_backward_clock_gives_no_share(void **state) {
  (void)state;
  cis__poll_meter m = {0};
  g_cpu = 0;
  assert_int_equal(cis__poll_meter_head(&m, MS, test_cpu), 0);
  assert_int_equal(cis__poll_meter_head(&m, 3 * MS, test_cpu), 0);
  g_cpu = 9 * MS;
  assert_int_equal(cis__poll_meter_head(&m, 5 * MS, test_cpu), 0);
  g_cpu = 4 * MS;
  assert_int_equal(cis__poll_meter_head(&m, 7 * MS, test_cpu), 0);
  g_cpu = 4 * MS + 90 * US;
  assert_int_equal(cis__poll_meter_head(&m, 9 * MS, test_cpu), 90 * US);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(window_shares_its_untimed_time_among_its_heads, reset),
      cmocka_unit_test_setup(idle_window_is_its_heads_and_timed_waits_do_not_wrap, reset),
      cmocka_unit_test_setup(unreadable_or_backward_clock_gives_no_share, reset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
