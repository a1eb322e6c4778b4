/*
 * This file implements the database layer's wait for a lock under a
 * deadline (db.h: cis__db_lock_until): a connection or a handle's writes
 * shared by threads, each of which waits no later than its own call's
 * deadline.
 */
#include <pthread.h>
#include <time.h>

#include "common/internal.h"
#include "db/db.h"

bool cis__db_lock_until(pthread_mutex_t *mu, uint64_t until) {
  if (pthread_mutex_trylock(mu) == 0) return true;
  if (until == UINT64_MAX) return pthread_mutex_lock(mu) == 0; /* no deadline */
  /* pthread_mutex_timedlock reads CLOCK_REALTIME; until is monotonic. */
  struct timespec ts;
  cis__timespec_after(CLOCK_REALTIME, cis__ms_left(until), &ts);
  return pthread_mutex_timedlock(mu, &ts) == 0;
}
