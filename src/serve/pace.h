/*
 * This file declares the HTTP server's pacers: a token bucket of `rate`
 * answers a second with a queue of the requests past it. A request past
 * the rate waits its turn, first come first served, its connection
 * suspended and holding no thread; a thread of the pacer resumes the
 * first in line when the bucket has a token for it, or once it waited
 * CIS__PACE_WAIT_MAX_NS (it is then answered 429). So a client that sends
 * its next request as soon as it has an answer gets `rate` answers a
 * second, one per connection it holds, however fast it sends.
 *
 * The server keeps two (http.c): one for the work done for requests that
 * carry no token it knows (lookups of tokens not cached, and refusals),
 * one for the routes that need no token (/v1/health, /metrics, the
 * operator page), so that a flood of refusals does not starve monitoring.
 * The pacer knows nothing of HTTP: it resumes a waiting request's
 * connection through the function it was given.
 */
#ifndef CIS_SERVE_PACE_H
#define CIS_SERVE_PACE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/rate.h"

/* The longest a request waits for its turn. */
#define CIS__PACE_WAIT_MAX_NS (1000ull * 1000000ull)

/* Where a request stands with its pacer. */
enum {
  CIS__PACE_NONE,    /* no wait */
  CIS__PACE_WAITING, /* in the pacer's queue, its connection suspended */
  CIS__PACE_GO,      /* resumed with the turn the pacer took for it */
  CIS__PACE_USE,     /* answering with that turn */
  CIS__PACE_LATE,    /* resumed after the longest wait, or at stop: 429 */
};

/* A request's place in a pacer: embedded in the server's request. */
typedef struct cis__pace_item {
  uint8_t state;               /* CIS__PACE_* */
  bool turned;                 /* it had its turn of this request's pacer */
  struct cis__pacer *pacer;    /* the pacer it waits or waited for */
  struct cis__pace_item *next; /* the pacer's queue */
  void *conn;                  /* its connection, suspended while it waits */
  uint64_t since;              /* when it began to wait (cis__now_ns) */
} cis__pace_item;

typedef struct cis__pacer {
  unsigned rate;               /* a second; 0: no limit, no thread */
  const char *thread_name;     /* its thread's, at most 15 bytes */
  void (*resume)(void *conn);  /* resumes a waiting request's connection */
  pthread_mutex_t mu;          /* guards the fields below */
  pthread_cond_t cv;           /* a request queued, or stop */
  cis__rate bucket;
  cis__pace_item *head, *tail; /* waiting, first come first */
  unsigned queued;
  pthread_t th;
  bool running, stop;
  atomic_uint_fast64_t waits, late; /* requests that waited; of those, answered 429 */
} cis__pacer;

/* Sets p up (no thread yet). */
void cis__pacer_init(cis__pacer *p, unsigned rate, const char *thread_name, void (*resume)(void *conn));
/* Starts p's thread when it has a rate: false when it could not. */
bool cis__pacer_start(cis__pacer *p);
/* Whether it may be answered now: the turn the pacer took for it when it
 * was resumed (CIS__PACE_GO), or a token of the bucket when none waits
 * before it. Sets it->turned when so. */
bool cis__pacer_turn(cis__pacer *p, cis__pace_item *it);
/* Queues it, whose connection conn the caller has just suspended, until
 * its turn (p->resume then resumes conn, it->state GO) or its longest
 * wait (LATE); a pacer stopping resumes it at once, LATE. */
void cis__pacer_wait(cis__pacer *p, cis__pace_item *it, void *conn);
/* Stops p's thread; those still waiting are resumed LATE first. */
void cis__pacer_stop(cis__pacer *p);
/* Requests waiting now. */
unsigned cis__pacer_queued(cis__pacer *p);
void cis__pacer_destroy(cis__pacer *p);

#endif /* CIS_SERVE_PACE_H */
