/*
 * This file gives the tests one monotonic clock reading in milliseconds
 * (CLOCK_MONOTONIC), for timing a call against its deadline.
 */
#ifndef CIS_TEST_CLOCK_H
#define CIS_TEST_CLOCK_H

#include <time.h>

static inline double cis_test_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif
