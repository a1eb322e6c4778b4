/*
 * This file declares the worker pool of `cis serve` (pool.c): a fixed
 * number of workers fed by a bounded queue, with a cap per owner (a
 * tenant), and a watch thread that hands a long call's worker slot to a
 * fresh thread, so that calls stuck until their deadlines never hold the
 * workers the short calls need (docs/serve.md, "Workers and long calls").
 *
 * Its threads are named (pthread_setname_np, as `top -H` and
 * /proc/PID/task/TID/comm show them): "cis-worker" in a slot, "cis-long"
 * once handed off, "cis-watch".
 *
 * The pool's state is guarded by its owner's mutex (given at start), so
 * the owner can read the counters, and keep its own admission checks and
 * metrics, under the same lock.
 */
#ifndef CIS_SERVE_POOL_H
#define CIS_SERVE_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "cis/cis.h"

/* A call whose thread has used this much CPU time is long: its thread is
 * lowered in CPU priority (nice CIS__POOL_LONG_NICE) until it ends, and
 * its worker slot goes to a fresh thread. CPU time, not wall time: on a
 * loaded machine a healthy call waiting for the CPU passes any wall-time
 * mark and was lowered too (healthy p99 under 10% stuck calls 2.40x the
 * clean run's with 2 ms of wall time; bench/serve_load.sh). Soon, since
 * each stuck call burns that much at full priority first, but far above
 * a healthy call's own (echo in process: p99 under 0.03 ms). Not nice 19:
 * a lowered call must still get the CPU to see its own deadline on a busy
 * machine. */
#define CIS__POOL_LONG_AFTER_NS (500 * 1000ull)
/* A call that has held its worker this long in wall time without using
 * CIS__POOL_LONG_AFTER_NS of CPU (blocked on I/O, a lock, or waiting for
 * the CPU) leaves its slot to a fresh thread too, at its own priority: it
 * takes no CPU from others, only a worker. Past the time a healthy call
 * takes under load, so hand-offs stay rare. */
#define CIS__POOL_BLOCKED_AFTER_NS (20 * 1000000ull)
#define CIS__POOL_LONG_NICE 10
#define CIS__POOL_WATCH_MS 1

/* A unit of work. The submitter owns it, and waits for done. */
typedef struct cis__pool_job {
  struct cis__pool_job *next;          /* queue */
  void (*run)(struct cis__pool_job *j); /* what to do, on a worker (no lock held) */
  unsigned *active;                    /* the owner's jobs queued or running (under mu), or NULL */
  bool done;                           /* set by the worker (under mu) */
  pthread_cond_t cv;                   /* signalled when done; the submitter inits it */
} cis__pool_job;

/* One thread of the pool, as the watch sees it (fields under mu). */
typedef struct cis__pool_thread {
  struct cis__pool_thread *next;       /* in the list of long ones */
  struct cis__pool *p;                 /* its pool */
  pthread_t th;                        /* the thread */
  pid_t tid;                           /* its kernel id (0 until it runs) */
  clockid_t cpu;                       /* its CPU-time clock (set by itself, with tid) */
  bool cpu_ok;                         /* cpu could be had (else never long by CPU time) */
  uint64_t since;                      /* start of its job (ns), 0 when idle */
  uint64_t cpu0;                       /* its CPU time at the start of its job (ns) */
  bool demoted;                        /* lowered during this job */
  bool handed_off;                     /* its slot went to a fresh thread: it ends with its job */
  bool retired;                        /* could not raise itself back: exited, to be replaced */
  bool joined;                         /* retired and joined, not replaced yet */
  bool exited;                         /* a long one that ended: to be joined */
} cis__pool_thread;

typedef struct cis__pool_config {
  unsigned workers;                    /* worker slots (threads for the short calls), >= 1 */
  unsigned queue;                      /* jobs that may wait for a worker */
  unsigned owner_cap;                  /* jobs of one owner queued or running at once */
  unsigned long_max;                   /* long calls handed off at once (extra threads); 0: none */
  uint64_t long_after_ns;              /* a job is long past this CPU time; 0: CIS__POOL_LONG_AFTER_NS */
  uint64_t blocked_after_ns;           /* or past this wall time; 0: CIS__POOL_BLOCKED_AFTER_NS */
} cis__pool_config;

typedef struct cis__pool {
  cis__pool_config c;                  /* as started */
  pthread_mutex_t *mu;                 /* the owner's: guards everything below */
  pthread_cond_t *idle_cv;             /* the owner's: broadcast when a job ends */
  pthread_cond_t work_cv;              /* a job was queued, or stopping */
  pthread_cond_t watch_cv;             /* a job began, a thread ended, or stopping */
  cis__pool_thread **slot;             /* c.workers slots, each a thread */
  unsigned nslots;                     /* slots started (to join) */
  cis__pool_thread *longs;             /* handed-off threads, still running their job */
  unsigned nlong;                      /* how many */
  pthread_t watch;                     /* the watch thread */
  bool watching;                       /* it was started */
  cis__pool_job *qhead, *qtail;        /* the queue */
  unsigned queued, running;            /* jobs waiting; jobs on a thread (long ones too) */
  unsigned nthreads;                   /* threads started and not ended (slots' and long ones; not the watch) */
  uint64_t demoted;                    /* calls lowered (metric) */
  uint64_t handoffs;                   /* long calls whose slot went to a fresh thread (metric) */
  uint64_t trims;                      /* memory handed back to the system while idle (metric) */
  bool trim_due;                       /* a thread ended since the last trim */
  bool stopping;                       /* threads exit */
} cis__pool;

/* What cis__pool_submit says. */
typedef enum cis__pool_admit {
  CIS__POOL_ADMITTED,                  /* queued */
  CIS__POOL_OWNER_FULL,                /* the owner has owner_cap jobs in flight */
  CIS__POOL_FULL,                      /* running + queued at workers + queue */
} cis__pool_admit;

/* Starts the workers and the watch. mu and idle_cv are the owner's and
 * outlive the pool. Errors: CIS_EINVAL (no workers), CIS_ENOMEM (memory
 * or threads). On error nothing is left to stop. */
cis_result cis__pool_start(cis__pool *p, const cis__pool_config *c, pthread_mutex_t *mu, pthread_cond_t *idle_cv);

/* Under *p->mu: queues j, or says why not. Never waits. */
cis__pool_admit cis__pool_submit(cis__pool *p, cis__pool_job *j);

/* Under *p->mu: waits until j is done (a job always ends: calls end by
 * their deadlines). */
void cis__pool_wait(cis__pool *p, cis__pool_job *j);

/* Without the lock: makes every thread exit once the queue is empty, and
 * joins them all (long ones when their jobs end). */
void cis__pool_stop(cis__pool *p);

#endif /* CIS_SERVE_POOL_H */
