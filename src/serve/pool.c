/*
 * This file implements the worker pool of `cis serve` (pool.h).
 *
 * Workers take jobs from one bounded queue. A call whose thread has used
 * CIS__POOL_LONG_AFTER_NS of CPU time is long: the watch thread lowers its
 * thread in CPU priority and hands the thread's worker slot to a fresh
 * thread, so the queue is served by c.workers threads at normal priority
 * whatever the long calls do. A call that has held its worker for
 * CIS__POOL_BLOCKED_AFTER_NS of wall time is handed off too, but not
 * lowered: it is not the one taking the CPU. The watch reads each running
 * call's CPU time through its thread's CPU-time clock
 * (pthread_getcpuclockid, taken by the thread itself when it starts). A
 * handed-off thread ends with its call. Threads are bounded: c.workers
 * plus at most c.long_max long ones; beyond that a long call keeps its
 * slot (lowered) until it ends, as it did before hand-offs. A thread
 * created by the watch runs at the watch's priority (normal), so no
 * thread ever needs the right to raise itself back, except a lowered one
 * that kept its slot: without CAP_SYS_NICE (or RLIMIT_NICE) it ends and
 * the watch starts a fresh one in its place.
 */
#include "serve/pool.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/internal.h"

/* The CPU time thread w has used (ns). 0 when its clock cannot be read,
 * which the watch takes as "not long by CPU": the wall-time hand-off
 * still frees its slot. */
static uint64_t thread_cpu_ns(const cis__pool_thread *w) {
  struct timespec ts;
  if (!w->cpu_ok || clock_gettime(w->cpu, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *worker_main(void *arg) {
  cis__pool_thread *w = arg;
  cis__pool *p = w->p;
  pthread_setname_np(pthread_self(), "cis-worker");
  clockid_t cpu;
  /* Its own clock: the watch then never names a thread that may be gone. */
  bool cpu_ok = pthread_getcpuclockid(pthread_self(), &cpu) == 0;
  pthread_mutex_lock(p->mu);
  w->tid = gettid();
  w->cpu = cpu;
  w->cpu_ok = cpu_ok;
  for (;;) {
    while (!p->qhead && !p->stopping) pthread_cond_wait(&p->work_cv, p->mu);
    if (!p->qhead) break; /* stopping, and nothing left */
    cis__pool_job *j = p->qhead;
    p->qhead = j->next;
    if (!p->qhead) p->qtail = NULL;
    p->queued--;
    p->running++;
    w->since = cis__now_ns();
    w->cpu0 = thread_cpu_ns(w);
    if (p->running == 1) pthread_cond_signal(&p->watch_cv); /* it may sleep */
    pthread_mutex_unlock(p->mu);
    j->run(j);
    pthread_mutex_lock(p->mu);
    w->since = 0;
    p->running--;
    if (j->active) (*j->active)--;
    j->done = true;
    pthread_cond_signal(&j->cv); /* j is the submitter's from here */
    pthread_cond_broadcast(p->idle_cv);
    if (w->handed_off) {
      /* Its slot has a fresh thread already: this one ends. */
      w->exited = true;
      pthread_cond_signal(&p->watch_cv);
      break;
    }
    /* Back to the normal priority for the next job. Raising it needs
     * CAP_SYS_NICE or RLIMIT_NICE; without, this thread ends and the watch
     * starts a fresh one (a new thread would inherit the low priority). */
    bool stay = !w->demoted || setpriority(PRIO_PROCESS, 0, 0) == 0;
    w->demoted = false;
    if (!stay) {
      w->retired = true;
      pthread_cond_signal(&p->watch_cv);
      break;
    }
  }
  p->nthreads--;
  pthread_mutex_unlock(p->mu);
  return NULL;
}

/* Under mu: joins and frees the long threads that have ended. */
static void reap_longs(cis__pool *p) {
  for (cis__pool_thread **pp = &p->longs; *pp;) {
    cis__pool_thread *t = *pp;
    if (!t->exited) {
      pp = &t->next;
      continue;
    }
    *pp = t->next;
    p->nlong--;
    p->trim_due = true;
    pthread_join(t->th, NULL); /* it set exited last, under mu, and returns */
    free(t);
  }
}

/* Under mu: lowers thread w, whose call is long by CPU time, once. */
static void lower(cis__pool *p, cis__pool_thread *w) {
  if (!w->demoted && setpriority(PRIO_PROCESS, (id_t)w->tid, CIS__POOL_LONG_NICE) == 0) {
    w->demoted = true;
    p->demoted++;
  }
}

/* Under mu: gives slot i, whose call is long, to a fresh thread while
 * fewer than long_max long calls have one. */
static void hand_off(cis__pool *p, unsigned i) {
  cis__pool_thread *w = p->slot[i];
  if (w->handed_off || p->nlong >= p->c.long_max) return;
  cis__pool_thread *n = calloc(1, sizeof *n);
  if (!n) return; /* tried again next period */
  n->p = p;
  if (pthread_create(&n->th, NULL, worker_main, n) != 0) {
    free(n);
    return;
  }
  p->nthreads++;
  pthread_setname_np(w->th, "cis-long"); /* it runs its call: w->th is live */
  w->handed_off = true;
  w->next = p->longs;
  p->longs = w;
  p->nlong++;
  p->handoffs++;
  p->slot[i] = n;
}

/* Under mu: whether thread w's call (running, since w->since) is long by
 * CPU time. */
static bool long_by_cpu(const cis__pool *p, const cis__pool_thread *w) {
  uint64_t used = thread_cpu_ns(w);
  return used > w->cpu0 && used - w->cpu0 > p->c.long_after_ns;
}

/* The watch thread: every CIS__POOL_WATCH_MS while jobs run, lowers calls
 * long by CPU time, hands off calls long by CPU or wall time, joins long
 * threads that ended, and replaces retired workers. It sleeps while
 * nothing runs. */
static void *watch_main(void *arg) {
  cis__pool *p = arg;
  pthread_setname_np(pthread_self(), "cis-watch");
  pthread_mutex_lock(p->mu);
  while (!p->stopping) {
    bool pending = false;
    for (unsigned i = 0; i < p->nslots; i++) pending |= p->slot[i]->retired;
    for (cis__pool_thread *t = p->longs; t; t = t->next) pending |= t->exited;
    if (!p->running && !pending) {
      if (p->trim_due) {
        /* Idle after threads ended: each long call's thread took a malloc
         * arena of its own, and the memory they freed stays in the
         * process until trimmed (RSS after a burst of stuck calls grew
         * 1.08-1.18x, bench/serve_load.sh). Outside mu: it walks every
         * arena. */
        p->trim_due = false;
        p->trims++;
        pthread_mutex_unlock(p->mu);
        malloc_trim(0);
        pthread_mutex_lock(p->mu);
        continue;
      }
      pthread_cond_wait(&p->watch_cv, p->mu); /* nothing to watch */
      continue;
    }
    if (!pending) {
      struct timespec until;
      cis__timespec_after(CLOCK_REALTIME, CIS__POOL_WATCH_MS, &until);
      pthread_cond_timedwait(&p->watch_cv, p->mu, &until);
      if (p->stopping) break;
    }
    reap_longs(p);
    uint64_t now = cis__now_ns();
    for (unsigned i = 0; i < p->nslots; i++) {
      cis__pool_thread *w = p->slot[i];
      if (w->retired) {
        /* It has exited (it set retired last, under mu). */
        if (!w->joined) pthread_join(w->th, NULL);
        p->trim_due = true;
        w->retired = false;
        w->tid = 0;
        if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
          /* Kept as retired: tried again next period; not joined again. */
          w->retired = w->joined = true;
          fprintf(stderr, "cis serve: cannot start a worker thread\n");
        } else {
          w->joined = false;
          p->nthreads++;
        }
      } else if (w->since && w->tid) {
        /* A running call's thread cannot end before it takes mu. */
        bool by_cpu = long_by_cpu(p, w);
        if (by_cpu) lower(p, w);
        if (by_cpu || now - w->since > p->c.blocked_after_ns) hand_off(p, i);
      }
    }
    /* A call handed off while blocked may start to spin. Until exited is
     * set (under mu) its thread runs its call. */
    for (cis__pool_thread *t = p->longs; t; t = t->next)
      if (!t->demoted && !t->exited && long_by_cpu(p, t)) lower(p, t);
  }
  pthread_mutex_unlock(p->mu);
  return NULL;
}

cis_result cis__pool_start(cis__pool *p, const cis__pool_config *c, pthread_mutex_t *mu, pthread_cond_t *idle_cv) {
  memset(p, 0, sizeof *p);
  if (!c || !c->workers) return CIS_EINVAL;
  p->c = *c;
  if (!p->c.long_after_ns) p->c.long_after_ns = CIS__POOL_LONG_AFTER_NS;
  if (!p->c.blocked_after_ns) p->c.blocked_after_ns = CIS__POOL_BLOCKED_AFTER_NS;
  p->mu = mu;
  p->idle_cv = idle_cv;
  pthread_cond_init(&p->work_cv, NULL);
  pthread_cond_init(&p->watch_cv, NULL);
  p->slot = calloc(c->workers, sizeof *p->slot);
  if (!p->slot) goto fail;
  for (unsigned i = 0; i < c->workers; i++) {
    cis__pool_thread *w = calloc(1, sizeof *w);
    if (!w) goto fail;
    w->p = p;
    pthread_mutex_lock(mu); /* the threads started count down under it */
    bool made = pthread_create(&w->th, NULL, worker_main, w) == 0;
    if (made) p->nthreads++;
    pthread_mutex_unlock(mu);
    if (!made) {
      free(w);
      goto fail;
    }
    p->slot[p->nslots++] = w;
  }
  if (pthread_create(&p->watch, NULL, watch_main, p) != 0) goto fail;
  p->watching = true;
  return CIS_OK;
fail:
  cis__pool_stop(p);
  return CIS_ENOMEM;
}

cis__pool_admit cis__pool_submit(cis__pool *p, cis__pool_job *j) {
  if (j->active && *j->active >= p->c.owner_cap) return CIS__POOL_OWNER_FULL;
  /* Long calls count: each holds its memory until its deadline. */
  if (p->running + p->queued >= p->c.workers + p->c.queue) return CIS__POOL_FULL;
  if (j->active) (*j->active)++;
  j->done = false;
  j->next = NULL;
  if (p->qtail) p->qtail->next = j;
  else p->qhead = j;
  p->qtail = j;
  p->queued++;
  pthread_cond_signal(&p->work_cv);
  return CIS__POOL_ADMITTED;
}

void cis__pool_wait(cis__pool *p, cis__pool_job *j) {
  while (!j->done) pthread_cond_wait(&j->cv, p->mu);
}

void cis__pool_stop(cis__pool *p) {
  if (!p->slot) return; /* never started, or stopped */
  pthread_mutex_lock(p->mu);
  p->stopping = true;
  pthread_cond_broadcast(&p->work_cv);
  pthread_cond_signal(&p->watch_cv);
  pthread_mutex_unlock(p->mu);
  /* The watch first: it may be replacing a worker or handing one off.
   * Then no one changes the slots or the list of long threads. */
  if (p->watching) pthread_join(p->watch, NULL);
  for (unsigned i = 0; i < p->nslots; i++) {
    if (!p->slot[i]->joined) pthread_join(p->slot[i]->th, NULL);
    free(p->slot[i]);
  }
  /* Long threads end with their calls (by their deadlines). */
  for (cis__pool_thread *t = p->longs, *n; t; t = n) {
    n = t->next;
    pthread_join(t->th, NULL);
    free(t);
  }
  p->longs = NULL;
  p->nlong = 0;
  free(p->slot);
  p->slot = NULL;
  p->nslots = 0;
  pthread_cond_destroy(&p->work_cv);
  pthread_cond_destroy(&p->watch_cv);
}
