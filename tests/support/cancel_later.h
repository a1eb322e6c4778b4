/*
 * This file implements, for the tests, a caller's cancel flag
 * (cis_invoke_options.cancel) set from a thread of its own some
 * milliseconds after that thread starts: a call cancelled while it waits.
 */
#ifndef CIS_TEST_CANCEL_LATER_H
#define CIS_TEST_CANCEL_LATER_H

#include <unistd.h>

typedef struct cancel_later {
  int flag;    /* cis_invoke_options.cancel points here */
  unsigned ms; /* how long after the thread starts it is set */
} cancel_later;

/* The thread: sleeps ms, then sets flag with an atomic store. */
static inline void *flag_after(void *p) {
  cancel_later *c = p;
  usleep(c->ms * 1000u);
  __atomic_store_n(&c->flag, 1, __ATOMIC_RELAXED);
  return NULL;
}

#endif
