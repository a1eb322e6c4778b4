/*
 * This file implements the worker pool of `cis serve` (pool.h).
 *
 * Each owner (a tenant) has a bounded queue of its own, and workers take
 * the owners' jobs in turn (round robin over the owners with jobs
 * waiting), so one owner alone may use every worker while several share
 * them fairly; an owner is refused only when its own queue or the pool's
 * bound on calls in flight is full. A call whose thread has used
 * CIS__POOL_LONG_AFTER_NS of CPU time is long: the watch thread hands the
 * thread's worker slot to a fresh thread, so the queue is served by
 * c.workers threads whatever the long calls do, and keeps the long call's
 * CPU use small while short calls run or wait: a call whose instance is
 * attached (cis__pool_attach) gets a cooperative quota (its guest pauses
 * at its checks; c.long_share per mille of one CPU shared by all such
 * calls, lifted while no short call runs), any other is lowered in CPU
 * priority until it ends. A call that has held its worker for
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
 *
 * Fairness: every job's thread CPU time is charged to its owner (a worker
 * reads its clock at the job's start and end; an inline job's submitter
 * reads the wall time around the job, charge_inline). The admissions
 * review the owners' recent use once a period (review), without mu: an
 * owner over its share while
 * others are active gets its jobs taken by the lane's threads alone
 * (take), which lowered themselves at their start, and is never admitted
 * inline; the others' jobs are never taken there.
 *
 * A background pool (installs, removals) has no watch: its threads lower
 * themselves once at their start and keep every job to its end.
 */
#include "serve/pool.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
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

/* Under mu: whether o's first job may start at now: unpaced, or a token
 * of its owner's bucket is there (owner_rate a second, as many at most).
 * Pacing bounds what one tenant's stream of registry changes costs the
 * others: each is a commit (and its syncs) the database serves at
 * everyone's priority, which no CPU share of ours limits. */
static bool may_start(cis__pool *p, cis__pool_owner *o, uint64_t now) {
  if (!p->c.owner_rate || !o->qhead->paced) return true;
  if (cis__rate_refill(&o->pace, p->c.owner_rate, now) >= 1) return true;
  o->qhead->waited = true;
  return false;
}

/* Under mu: the next job for a thread of the lane or not: the first of
 * the owner whose turn it is among those over their share (lane) or not,
 * which then goes to the end of the ring if it has more; while stopping,
 * any. NULL when no such job waits. */
static cis__pool_job *take(cis__pool *p, bool lane) {
  cis__pool_owner *prev = NULL, *o = p->ring;
  uint64_t now = p->c.owner_rate ? cis__now_ns() : 0;
  while (o && !p->stopping &&
         (atomic_load_explicit(&o->over, memory_order_relaxed) != lane || !may_start(p, o, now)))
    prev = o, o = o->next;
  if (!o) return NULL;
  cis__pool_job *j = o->qhead;
  if (p->c.owner_rate && j->paced) {
    o->pace.left -= 1; /* may_start refilled it to now */
    p->paced += j->waited;
  }
  o->qhead = j->next;
  if (!o->qhead) o->qtail = NULL;
  o->queued--;
  p->queued--;
  if (prev) prev->next = o->next;
  else p->ring = o->next;
  if (p->ring_tail == o) p->ring_tail = prev;
  o->next = NULL;
  if (o->queued) {
    if (p->ring_tail) p->ring_tail->next = o;
    else p->ring = o;
    p->ring_tail = o;
  } else {
    o->in_ring = false;
  }
  return j;
}

uint64_t cis__pool_self_cpu_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The nice value `by` above pool p's own, at most 19. */
static int nice_above(const cis__pool *p, int by) { return p->nice0 + by > 19 ? 19 : p->nice0 + by; }

/* The nice value thread w runs at between jobs. */
static int base_nice(const cis__pool_thread *w) {
  return w->lane ? CIS__POOL_LANE_NICE : w->p->c.background ? nice_above(w->p, CIS__POOL_BACKGROUND_NICE) : w->p->nice0;
}

/* Puts o in the pool's list of owners, once (without mu: a push by
 * compare-and-swap; owners are never taken off while the pool runs). */
static void owner_list(cis__pool *p, cis__pool_owner *o) {
  if (o == &p->own || atomic_load_explicit(&o->listed, memory_order_acquire) || atomic_exchange(&o->listed, true))
    return;
  cis__pool_owner *head = atomic_load(&p->owners);
  do atomic_store_explicit(&o->all_next, head, memory_order_relaxed);
  while (!atomic_compare_exchange_weak(&p->owners, &head, o));
}

void cis__pool_charge(cis__pool *p, cis__pool_owner *o, uint64_t ns) {
  if (!o || o == &p->own || !ns) return;
  owner_list(p, o);
  atomic_fetch_add_explicit(&o->cpu_ns, ns, memory_order_relaxed);
}

/* Under mu or not (the owner's queue is not touched): one more job of o
 * begins, counted in its activity. */
static void owner_begins(cis__pool *p, cis__pool_owner *o) {
  if (o == &p->own || !p->c.lane) return;
  owner_list(p, o);
  atomic_fetch_add_explicit(&o->begun, 1, memory_order_relaxed);
}

/* Whether the shares are due for a review at now. */
static bool review_due(cis__pool *p, uint64_t now) {
  uint64_t at = atomic_load_explicit(&p->fair_at, memory_order_relaxed);
  return p->c.lane && now >= at && (!at || now - at >= CIS__POOL_FAIR_PERIOD_NS);
}

/* Without mu, one at a time (the others skip it): decays every owner's
 * recent sum by the periods gone since the last review, adds what it used
 * since, and decides who is over its share (pool.h). Whether an owner
 * changed sides. */
static bool review(cis__pool *p, uint64_t now) {
  if (!review_due(p, now) || atomic_exchange(&p->reviewing, true)) return false;
  uint64_t at = atomic_load(&p->fair_at);
  if (!review_due(p, now)) { /* another review just ran */
    atomic_store(&p->reviewing, false);
    return false;
  }
  uint64_t periods = at ? (now - at) / CIS__POOL_FAIR_PERIOD_NS : 1;
  atomic_store(&p->fair_at, now);
  /* The cluster's other nodes count as this one's (cis__pool_remote). */
  unsigned nactive = atomic_load_explicit(&p->remote_only, memory_order_relaxed);
  uint64_t total = atomic_load_explicit(&p->remote_only_sum, memory_order_relaxed);
  for (cis__pool_owner *o = atomic_load(&p->owners); o; o = atomic_load_explicit(&o->all_next, memory_order_relaxed)) {
    uint64_t cpu = atomic_load_explicit(&o->cpu_ns, memory_order_relaxed);
    uint64_t begun = atomic_load_explicit(&o->begun, memory_order_relaxed);
    bool moved = cpu != o->cpu_seen || begun != o->begun_seen;
    for (uint64_t k = 0; k < periods && o->recent; k++) o->recent = o->recent * CIS__POOL_FAIR_KEEP / 4;
    o->recent += cpu - o->cpu_seen;
    o->cpu_seen = cpu;
    o->begun_seen = begun;
    o->idle = moved ? 0 : o->idle + (periods < CIS__POOL_FAIR_ACTIVE ? (unsigned)periods : CIS__POOL_FAIR_ACTIVE);
    if (o->idle > CIS__POOL_FAIR_ACTIVE) o->idle = CIS__POOL_FAIR_ACTIVE;
    uint64_t remote = atomic_load_explicit(&o->remote, memory_order_relaxed);
    if (o->idle < CIS__POOL_FAIR_ACTIVE || remote) {
      nactive++;
      total += o->recent + remote;
    }
  }
  /* A steady use of r CPUs sums to r * period * 4 / (4 - keep). */
  const uint64_t floor = CIS__POOL_FAIR_FLOOR * CIS__POOL_FAIR_PERIOD_NS / 1000 * 4 / (4 - CIS__POOL_FAIR_KEEP);
  bool changed = false;
  for (cis__pool_owner *o = atomic_load(&p->owners); o; o = atomic_load_explicit(&o->all_next, memory_order_relaxed)) {
    bool was = atomic_load(&o->over), over = false;
    uint64_t use = o->recent + atomic_load_explicit(&o->remote, memory_order_relaxed);
    if (nactive >= 2 && o->idle < CIS__POOL_FAIR_ACTIVE && o->recent > floor)
      over = use * 100 * nactive > total * (was ? CIS__POOL_FAIR_BACK_PCT : CIS__POOL_FAIR_OVER_PCT);
    if (over != was) {
      atomic_store(&o->over, over);
      if (over) atomic_fetch_add(&p->nover, 1);
      else atomic_fetch_sub(&p->nover, 1);
      changed = true;
    }
  }
  atomic_store(&p->reviewing, false);
  return changed;
}

/* A steady use of r CPUs sums to r * period * 4 / (4 - keep) in the
 * review's units: what ns_per_s of CPU time a second amounts to there. */
static uint64_t rate_units(uint64_t ns_per_s) {
  const uint64_t cpus_max = 128; /* a larger figure counts as this many CPUs (no overflow below) */
  if (ns_per_s > cpus_max * 1000000000ull) ns_per_s = cpus_max * 1000000000ull;
  return ns_per_s * (CIS__POOL_FAIR_PERIOD_NS * 4 / (4 - CIS__POOL_FAIR_KEEP)) / 1000000000ull;
}

void cis__pool_remote(cis__pool *p, const cis__pool_remote_use *u, size_t n) {
  for (cis__pool_owner *o = atomic_load(&p->owners); o; o = atomic_load_explicit(&o->all_next, memory_order_relaxed))
    atomic_store_explicit(&o->remote, 0, memory_order_relaxed);
  uint64_t gen = atomic_load_explicit(&p->remote_gen, memory_order_relaxed) + 1;
  unsigned others = 0, calling = 0;
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t units = rate_units(u[i].cpu_ns_per_s);
    if (!units) units = 1; /* active there: counted, if not weighed */
    cis__pool_owner *o = u[i].owner;
    calling += u[i].calling;
    if (o && u[i].calling) atomic_store_explicit(&o->remote_calling_gen, gen, memory_order_relaxed);
    /* One with no job here yet is not reviewed (not listed): counted
     * among the others until it has. */
    if (o && o != &p->own && atomic_load_explicit(&o->listed, memory_order_acquire)) {
      atomic_store_explicit(&o->remote, units, memory_order_relaxed);
    } else {
      others++;
      sum += units;
    }
  }
  atomic_store_explicit(&p->remote_only, others, memory_order_relaxed);
  atomic_store_explicit(&p->remote_only_sum, sum, memory_order_relaxed);
  atomic_store_explicit(&p->remote_calling, calling, memory_order_relaxed);
  atomic_store_explicit(&p->remote_at, n ? cis__now_ns() : 0, memory_order_relaxed);
  atomic_store_explicit(&p->remote_gen, gen, memory_order_release); /* last: the owners' marks are in */
}

/* Whether owner o began calls on the other nodes lately. */
static bool owner_calls_elsewhere(cis__pool *p, const cis__pool_owner *o) {
  uint64_t gen = atomic_load_explicit(&p->remote_gen, memory_order_acquire);
  return o && gen && atomic_load_explicit(&o->remote_calling_gen, memory_order_relaxed) == gen;
}

/* The tenants that began calls on the other nodes lately, as of now:
 * none once the figures are CIS__POOL_REMOTE_FRESH_NS old. */
static unsigned remote_calling(cis__pool *p, uint64_t now) {
  uint64_t at = atomic_load_explicit(&p->remote_at, memory_order_relaxed);
  if (!at || now < at || now - at >= CIS__POOL_REMOTE_FRESH_NS) return 0;
  return atomic_load_explicit(&p->remote_calling, memory_order_relaxed);
}

/* Under mu: an owner changed sides: every waiting thread looks again. */
static void wake_all(cis__pool *p) {
  pthread_cond_broadcast(&p->work_cv);
  pthread_cond_broadcast(&p->lane_cv);
}

bool cis__pool_review(cis__pool *p, uint64_t now) {
  if (!review(p, now)) return false;
  pthread_mutex_lock(p->mu);
  wake_all(p);
  pthread_mutex_unlock(p->mu);
  return true;
}

/* Under mu: thread w's job is no longer a short call (it ended, turned
 * long or left its slot): out of the count cis__pool_attach reads. One
 * that ended short is short work for CIS__POOL_LIFT_AFTER_NS more (as
 * set_quotas and cis__pool_attach count it); one that turned long or
 * blocked never was short work: counted so, a call alone held its own
 * quota for that long once it ran long. */
static void uncount_short(cis__pool *p, cis__pool_thread *w, bool ended) {
  if (!atomic_exchange(&w->short_counted, false)) return;
  if (ended) atomic_store_explicit(&p->short_ended, cis__now_ns(), memory_order_relaxed);
  atomic_fetch_sub(&p->short_running, 1);
}

/* Under mu: a job of o was queued: which threads to tell, one of its side. */
static void tell_one(cis__pool *p, const cis__pool_owner *o, cis__pool_wake *w) {
  w->cv = atomic_load(&o->over) ? &p->lane_cv : &p->work_cv;
}

void cis__pool_wake_now(cis__pool_wake *w) {
  if (w->cv) pthread_cond_signal(w->cv);
  w->cv = NULL;
}

static void *worker_main(void *arg) {
  cis__pool_thread *w = arg;
  cis__pool *p = w->p;
  /* A lane or background thread lowers itself once, for good (no right
   * is needed). A lane thread also takes SCHED_IDLE: a nice-19 thread
   * still runs out its slice before a waking thread gets the CPU (up to
   * some 3 ms on 2 CPUs), an idle-policy one is preempted at the wake-up. */
  if (base_nice(w) != p->nice0) setpriority(PRIO_PROCESS, 0, base_nice(w));
  if (w->lane) pthread_setschedparam(pthread_self(), SCHED_IDLE, &(struct sched_param){.sched_priority = 0});
  pthread_setname_np(pthread_self(), w->lane ? "cis-lane" : p->c.background ? "cis-admin" : "cis-worker");
  clockid_t cpu;
  /* Its own clock: the watch then never names a thread that may be gone. */
  bool cpu_ok = pthread_getcpuclockid(pthread_self(), &cpu) == 0;
  pthread_mutex_lock(p->mu);
  w->tid = gettid();
  w->cpu = cpu;
  w->cpu_ok = cpu_ok;
  for (;;) {
    cis__pool_job *j;
    while (!(j = take(p, w->lane)) && !p->stopping) {
      pthread_cond_t *cv = w->lane ? &p->lane_cv : &p->work_cv;
      if (!p->c.owner_rate || !p->queued) {
        pthread_cond_wait(cv, p->mu);
        continue;
      }
      /* Paced jobs wait: look again once a token is due. */
      struct timespec until;
      cis__timespec_after(CLOCK_REALTIME, 1000 / p->c.owner_rate + 1, &until);
      pthread_cond_timedwait(cv, p->mu, &until);
    }
    if (!j) break; /* stopping, and nothing left */
    p->running++;
    p->lane_runs += w->lane;
    j->on = w;
    w->owner = j->owner ? j->owner : &p->own;
    w->long_cpu = w->throttled = false;
    atomic_store(&w->had_inst, false);
    w->since = cis__now_ns();
    w->cpu0 = thread_cpu_ns(w);
    atomic_store(&w->short_counted, true);
    atomic_fetch_add(&p->short_running, 1);
    bool first = p->running == 1 && p->watch_idle;
    pthread_mutex_unlock(p->mu);
    /* The watch may sleep; told after the unlock, as a submission's wake
     * (cis__pool_wake): a lane thread preempted holding mu by the watch it
     * woke would wait for the CPU behind every other thread. */
    if (first) pthread_cond_signal(&p->watch_cv);
    j->run(j);
    if (p->c.lane) { /* its owner's share: what this thread used for it */
      uint64_t used = thread_cpu_ns(w);
      cis__pool_charge(p, j->owner, used > w->cpu0 ? used - w->cpu0 : 0);
    }
    pthread_mutex_lock(p->mu);
    w->since = 0;
    /* A short call that began and ended between two of the watch's looks
     * (a warm call takes some 50 us, the watch looks once a millisecond)
     * is short work all the same: the long calls' quota holds for it.
     * Else it was lifted under a stream of such calls, and a long call
     * ran free at full priority for its scheduler slice, milliseconds
     * that a short call woken onto its CPU waited. */
    uncount_short(p, w, true);
    p->running--;
    (j->owner ? j->owner : &p->own)->active--;
    j->done = true;
    void (*finish)(cis__pool_job *) = j->finish;
    pthread_cond_signal(&j->cv); /* j is the submitter's from here */
    pthread_cond_broadcast(p->idle_cv);
    if (finish) { /* a submitter that does not wait is told, outside the lock */
      pthread_mutex_unlock(p->mu);
      finish(j);
      pthread_mutex_lock(p->mu);
    }
    if (w->handed_off) {
      /* Its slot has a fresh thread already: this one ends. */
      w->exited = true;
      pthread_cond_signal(&p->watch_cv);
      break;
    }
    /* Back to its priority for the next job. Raising it needs
     * CAP_SYS_NICE or RLIMIT_NICE; without, this thread ends and the watch
     * starts a fresh one (a new thread would inherit the low priority). */
    bool stay = !w->demoted || setpriority(PRIO_PROCESS, 0, base_nice(w)) == 0;
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

/* Under mu: takes the long threads that have ended off the list, into
 * *dead, for the watch to join and free outside mu. */
static void reap_longs(cis__pool *p, cis__pool_thread **dead) {
  for (cis__pool_thread **pp = &p->longs; *pp;) {
    cis__pool_thread *t = *pp;
    if (!t->exited) {
      pp = &t->next;
      continue;
    }
    *pp = t->next;
    p->nlong--;
    p->trim_due = true;
    t->next = *dead;
    *dead = t;
  }
}

/* Under mu: lowers thread w, whose call is long by CPU time, once (a
 * lane thread is lower already). */
static void lower(cis__pool *p, cis__pool_thread *w) {
  if (base_nice(w) >= nice_above(p, CIS__POOL_LONG_NICE)) return;
  if (!w->demoted && setpriority(PRIO_PROCESS, (id_t)w->tid, nice_above(p, CIS__POOL_LONG_NICE)) == 0) {
    w->demoted = true;
    p->demoted++;
  }
}

/* Under mu: thread w's call is long by CPU time: with an instance attached
 * its quota is set by set_quotas, else its thread is lowered. */
static void mark_long(cis__pool *p, cis__pool_thread *w) {
  w->long_cpu = true;
  uncount_short(p, w, false);
  /* One whose guest has ended (detached) only answers: not lowered. */
  if (!atomic_load(&w->attached) && !atomic_load(&w->had_inst)) lower(p, w);
}

/* Under mu: sets one thread's quota, when it changes (under its qmu: its
 * job may be attaching or detaching its instance). */
static void set_quota(cis__pool *p, cis__pool_thread *w, unsigned q) {
  pthread_mutex_lock(&w->qmu);
  if (w->inst) {
    if (w->quota != q) {
      cis_instance_quota(w->inst, q);
      w->quota = q;
    }
    if (q && !w->throttled) { /* the one its start got counts from here */
      w->throttled = true;
      p->throttled++;
    }
  }
  pthread_mutex_unlock(&w->qmu);
}

/* Under mu: counts thread w's call among the long ones of this round of
 * set_quotas: *mine is how many of their owners (each once) began calls
 * on other nodes lately. */
static void count_long(cis__pool *p, const cis__pool_thread *w, unsigned *nlong, unsigned *mine) {
  (*nlong)++;
  cis__pool_owner *o = w->owner;
  if (!o || o->quota_round == p->quota_rounds) return;
  o->quota_round = p->quota_rounds;
  if (owner_calls_elsewhere(p, o)) (*mine)++;
}

/* Whether a short call ended, on a worker or inline, within
 * CIS__POOL_LIFT_AFTER_NS before now. */
static bool ended_lately(cis__pool *p, uint64_t now) {
  uint64_t ended = atomic_load_explicit(&p->short_ended, memory_order_relaxed);
  uint64_t in = atomic_load_explicit(&p->inline_seen, memory_order_relaxed);
  if (in > ended) ended = in;
  return ended && ended <= now && now - ended < CIS__POOL_LIFT_AFTER_NS;
}

/* Under mu: the long calls with an instance share c.long_share per mille
 * of one CPU while short calls run or wait (on a worker, or inline on a
 * polling thread) or another tenant calls another node, and until
 * CIS__POOL_LIFT_AFTER_NS after a short call last ended; they run free
 * otherwise. */
static void set_quotas(cis__pool *p, uint64_t now) {
  unsigned nlong = 0, mine = 0;
  bool short_work = p->queued > 0;
  p->quota_rounds++;
  for (unsigned i = 0; i < p->nslots; i++) {
    cis__pool_thread *w = p->slot[i];
    if (!w || !w->since || w->retired) continue;
    if (w->long_cpu && w->attached) count_long(p, w, &nlong, &mine);
    else if (!w->long_cpu) short_work = true;
  }
  for (cis__pool_thread *t = p->longs; t; t = t->next)
    if (!t->exited && t->long_cpu && t->attached) count_long(p, t, &nlong, &mine);
  /* Another tenant's calls on another node than the long calls' owners'
   * (cis__pool_remote). */
  if (remote_calling(p, now) > mine) short_work = true;
  bool shared = short_work || p->inlined || ended_lately(p, now);
  /* What a call that starts beside short calls gets (cis__pool_attach):
   * were it to run long, it would be one more. */
  unsigned q0 = p->c.long_share / (nlong + 1);
  atomic_store_explicit(&p->start_share, q0 ? q0 : 1, memory_order_relaxed);
  atomic_store_explicit(&p->start_share_at, now, memory_order_relaxed);
  if (!nlong) return;
  unsigned q = 0;
  if (shared) {
    q = p->c.long_share / nlong;
    if (!q) q = 1;
  }
  for (unsigned i = 0; i < p->nslots; i++) {
    cis__pool_thread *w = p->slot[i];
    if (w && w->since && !w->retired && w->long_cpu && w->attached) set_quota(p, w, q);
  }
  for (cis__pool_thread *t = p->longs; t; t = t->next)
    if (!t->exited && t->long_cpu && t->attached) set_quota(p, t, q);
}

/* Under mu: takes slot i's thread, whose call is long, off its slot
 * while fewer than long_max long calls have one: the thread ends with its
 * call, and the watch starts a fresh one for the slot outside mu
 * (fill_slots). Whether it did. */
static bool hand_off(cis__pool *p, unsigned i) {
  cis__pool_thread *w = p->slot[i];
  if (w->handed_off || p->nlong >= p->c.long_max) return false;
  w->handed_off = true;
  uncount_short(p, w, false); /* long, or blocked: short work of no one's now */
  w->next = p->longs;
  p->longs = w;
  p->nlong++;
  p->handoffs++;
  p->slot[i] = NULL;
  p->nthreads++; /* its coming thread: counts move together under mu */
  p->empty_counted++;
  return true;
}

/* A thread for slot i (of the lane past c.workers), not started yet. */
static cis__pool_thread *thread_new(cis__pool *p, unsigned i) {
  cis__pool_thread *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->p = p;
  n->lane = i >= p->c.workers;
  pthread_mutex_init(&n->qmu, NULL);
  return n;
}

static void thread_free(cis__pool_thread *t) {
  pthread_mutex_destroy(&t->qmu);
  free(t);
}

/* Under mu, which it leaves for the system calls (the watch's work under
 * mu held up every request, which takes mu too: creating, naming and
 * joining threads cost a stuck call's worth of hand-off each): joins and
 * frees the threads in dead, names the threads handed off ("cis-long",
 * the first nnamed of named), and starts a thread for each empty slot
 * (one that fails is tried again next period). */
static void fill_slots(cis__pool *p, cis__pool_thread *dead, pthread_t *named, unsigned nnamed) {
  unsigned empty = 0;
  for (unsigned i = 0; i < p->nslots; i++) empty += !p->slot[i];
  if (!dead && !nnamed && !empty) return;
  p->nthreads += empty - p->empty_counted; /* slots left empty by a failure before */
  p->empty_counted = empty;
  pthread_mutex_unlock(p->mu);
  for (cis__pool_thread *t = dead, *n; t; t = n) {
    n = t->next;
    pthread_join(t->th, NULL); /* it set exited last, under mu, and returns */
    thread_free(t);
  }
  /* Each runs its call: only the watch joins them, so the handles are
   * live (at worst the thread just ended and the name goes nowhere). */
  for (unsigned k = 0; k < nnamed; k++) pthread_setname_np(named[k], "cis-long");
  /* The empty slots stay so until filled here: only the watch empties
   * them (hand_off), and it is here. */
  cis__pool_thread *made[empty ? empty : 1];
  unsigned nmade = 0;
  for (unsigned i = 0; i < p->nslots && nmade < empty; i++) {
    if (p->slot[i]) continue;
    cis__pool_thread *n = thread_new(p, i);
    if (!n) break;
    if (pthread_create(&n->th, NULL, worker_main, n) != 0) {
      thread_free(n);
      break;
    }
    made[nmade++] = n;
  }
  pthread_mutex_lock(p->mu);
  for (unsigned i = 0, k = 0; i < p->nslots && k < nmade; i++)
    if (!p->slot[i]) p->slot[i] = made[k++];
  p->nthreads -= empty - nmade; /* tried again next period */
  p->empty_counted = 0;
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
    for (unsigned i = 0; i < p->nslots; i++) pending |= !p->slot[i] || p->slot[i]->retired;
    for (cis__pool_thread *t = p->longs; t; t = t->next) pending |= t->exited;
    uint64_t t0 = cis__now_ns();
    if (p->running || pending) p->busy_seen = t0;
    if (!p->running && !pending && t0 - p->busy_seen >= CIS__POOL_WATCH_LINGER_NS) {
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
      p->watch_idle = true;
      pthread_cond_wait(&p->watch_cv, p->mu); /* nothing to watch */
      p->watch_idle = false;
      continue;
    }
    {
      /* Also when pending: a slot that could not be filled waits a period. */
      struct timespec until;
      cis__timespec_after(CLOCK_REALTIME, CIS__POOL_WATCH_MS, &until);
      pthread_cond_timedwait(&p->watch_cv, p->mu, &until);
      if (p->stopping) break;
    }
    p->ticks++;
    cis__pool_thread *dead = NULL;
    reap_longs(p, &dead);
    pthread_t named[p->nslots ? p->nslots : 1];
    unsigned nnamed = 0;
    uint64_t now = cis__now_ns();
    for (unsigned i = 0; i < p->nslots; i++) {
      cis__pool_thread *w = p->slot[i];
      if (!w) continue; /* handed off: fill_slots below */
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
        bool by_cpu = w->long_cpu || long_by_cpu(p, w);
        if (by_cpu && !w->long_cpu) mark_long(p, w);
        if ((by_cpu || now - w->since > p->c.blocked_after_ns) && hand_off(p, i)) named[nnamed++] = w->th;
      }
    }
    /* A call handed off while blocked may start to spin. Until exited is
     * set (under mu) its thread runs its call. */
    for (cis__pool_thread *t = p->longs; t; t = t->next)
      if (!t->long_cpu && !t->exited && long_by_cpu(p, t)) mark_long(p, t);
    set_quotas(p, cis__now_ns());
    fill_slots(p, dead, named, nnamed);
  }
  pthread_mutex_unlock(p->mu);
  return NULL;
}

cis_result cis__pool_start(cis__pool *p, const cis__pool_config *c, pthread_mutex_t *mu, pthread_cond_t *idle_cv) {
  memset(p, 0, sizeof *p);
  if (!c || !c->workers || (c->background && c->lane)) return CIS_EINVAL;
  p->c = *c;
  errno = 0;
  p->nice0 = getpriority(PRIO_PROCESS, 0); /* this thread's, which its threads inherit */
  if (errno) p->nice0 = 0;
  if (!p->c.long_after_ns) p->c.long_after_ns = CIS__POOL_LONG_AFTER_NS;
  if (!p->c.blocked_after_ns) p->c.blocked_after_ns = CIS__POOL_BLOCKED_AFTER_NS;
  if (!p->c.long_share) p->c.long_share = CIS__POOL_LONG_SHARE;
  if (p->c.long_share > 999) p->c.long_share = 999;
  p->mu = mu;
  p->idle_cv = idle_cv;
  pthread_cond_init(&p->work_cv, NULL);
  pthread_cond_init(&p->watch_cv, NULL);
  pthread_cond_init(&p->lane_cv, NULL);
  p->slot = calloc(c->workers + c->lane, sizeof *p->slot);
  if (!p->slot) goto fail;
  for (unsigned i = 0; i < c->workers + c->lane; i++) {
    cis__pool_thread *w = thread_new(p, i);
    if (!w) goto fail;
    pthread_mutex_lock(mu); /* the threads started count down under it */
    bool made = pthread_create(&w->th, NULL, worker_main, w) == 0;
    if (made) p->nthreads++;
    pthread_mutex_unlock(mu);
    if (!made) {
      thread_free(w);
      goto fail;
    }
    p->slot[p->nslots++] = w;
  }
  /* Background work is never long: its jobs keep their threads, whose
   * priority is low already. */
  if (!c->background) {
    if (pthread_create(&p->watch, NULL, watch_main, p) != 0) goto fail;
    p->watching = true;
  }
  return CIS_OK;
fail:
  cis__pool_stop(p);
  return CIS_ENOMEM;
}

/* Under mu: puts o in the ring of owners with jobs waiting, last. */
static void ring_add(cis__pool *p, cis__pool_owner *o) {
  if (o->in_ring) return;
  o->in_ring = true;
  o->next = NULL;
  if (p->ring_tail) p->ring_tail->next = o;
  else p->ring = o;
  p->ring_tail = o;
}

cis__pool_admit cis__pool_submit(cis__pool *p, cis__pool_job *j) {
  cis__pool_wake w = {0};
  cis__pool_admit a = cis__pool_submit_later(p, j, &w);
  cis__pool_wake_now(&w);
  return a;
}

cis__pool_admit cis__pool_submit_later(cis__pool *p, cis__pool_job *j, cis__pool_wake *w) {
  cis__pool_owner *o = j->owner ? j->owner : &p->own;
  w->cv = NULL;
  if (review(p, cis__now_ns())) wake_all(p);
  if (p->c.owner_cap && o->active >= p->c.owner_cap) return CIS__POOL_OWNER_FULL;
  /* An owner's own queue: what it waits for never crowds out the others'
   * turns. Jobs that idle workers are about to take do not count. */
  unsigned idle = p->running < p->c.workers ? p->c.workers - p->running : 0;
  if (o->queued >= p->c.queue + idle) return CIS__POOL_FULL;
  /* Long calls count: each holds its memory until its deadline. */
  unsigned total = p->c.queue_total ? p->c.queue_total : p->c.queue;
  if (p->running + p->queued + p->inlined >= p->c.workers + total) return CIS__POOL_FULL;
  o->active++;
  j->done = false;
  j->waited = false;
  j->next = NULL;
  if (o->qtail) o->qtail->next = j;
  else o->qhead = j;
  o->qtail = j;
  o->queued++;
  p->queued++;
  owner_begins(p, o);
  ring_add(p, o);
  tell_one(p, o, w);
  return CIS__POOL_ADMITTED;
}

cis__pool_admit cis__pool_enter_inline(cis__pool *p, cis__pool_job *j) {
  cis__pool_owner *o = j->owner ? j->owner : &p->own;
  cis__pool_review(p, cis__now_ns());
  if (atomic_load(&o->over)) return CIS__POOL_LANE;
  if (atomic_load(&p->queued)) return CIS__POOL_FULL;
  unsigned active = atomic_fetch_add(&o->active, 1);
  if (p->c.owner_cap && active >= p->c.owner_cap) {
    atomic_fetch_sub(&o->active, 1);
    return CIS__POOL_OWNER_FULL;
  }
  unsigned total = p->c.queue_total ? p->c.queue_total : p->c.queue;
  unsigned inlined = atomic_fetch_add(&p->inlined, 1);
  if (atomic_load(&p->running) + inlined >= p->c.workers + total) {
    atomic_fetch_sub(&p->inlined, 1);
    atomic_fetch_sub(&o->active, 1);
    return CIS__POOL_FULL;
  }
  atomic_fetch_add_explicit(&p->inline_runs, 1, memory_order_relaxed);
  owner_begins(p, o);
  j->done = false;
  j->on = NULL;
  j->cpu0 = p->c.lane ? cis__now_ns() : 0;
  return CIS__POOL_ADMITTED;
}

/* Without mu, on the thread that ran inline job j: charges its owner with
 * the time j ran there. Its wall time, not the thread's CPU clock: an
 * inline job runs on end, never waiting (it moves to a worker first) and
 * for at most the inline budget, so that is its CPU time plus whatever the
 * kernel ran meanwhile, and costs no system call (the CPU clock's two
 * were some 5% of a polling thread's CPU under a flood of short calls). */
static uint64_t charge_inline(cis__pool *p, cis__pool_job *j) {
  if (!p->c.lane) return 0;
  uint64_t now = cis__now_ns(), ns = now > j->cpu0 ? now - j->cpu0 : 0;
  cis__pool_charge(p, j->owner, ns);
  return ns;
}

uint64_t cis__pool_leave_inline(cis__pool *p, cis__pool_job *j) {
  uint64_t ns = charge_inline(p, j);
  /* A short call too: the long calls' quota holds while such calls come
   * (set_quotas), though no worker ever runs them. Counted at its end, as
   * a worker's short call is: one that moves to a worker (it waits, or
   * runs long) is not short, and counted at its start it held its own
   * quota once it turned long, the only call running. */
  atomic_store_explicit(&p->inline_seen, cis__now_ns(), memory_order_relaxed);
  atomic_fetch_sub(&(j->owner ? j->owner : &p->own)->active, 1);
  atomic_fetch_sub(&p->inlined, 1);
  j->done = true; /* read by the same thread (the job never left it) */
  return ns;
}

void cis__pool_continue(cis__pool *p, cis__pool_job *j, cis_wait why) {
  cis__pool_wake w = {0};
  cis__pool_continue_later(p, j, why, &w);
  cis__pool_wake_now(&w);
}

uint64_t cis__pool_continue_later(cis__pool *p, cis__pool_job *j, cis_wait why, cis__pool_wake *w) {
  cis__pool_owner *o = j->owner ? j->owner : &p->own;
  uint64_t ns = charge_inline(p, j);
  p->inlined--;
  p->inline_moves[(unsigned)why < 4 ? (unsigned)why : 3]++;
  j->done = false;
  j->next = o->qhead;
  o->qhead = j;
  if (!o->qtail) o->qtail = j;
  o->queued++;
  p->queued++;
  ring_add(p, o);
  tell_one(p, o, w);
  return ns;
}

/* Without mu: whether short calls other than thread w's own run, wait,
 * or ran within CIS__POOL_LIFT_AFTER_NS, as set_quotas counts them. Read
 * live: the watch, which ticks when a job starts, counted the starting
 * call itself as short work, and a call that started alone got a quota
 * whenever the watch ran before its attach. */
static bool short_work_beside(cis__pool *p, cis__pool_thread *w) {
  unsigned n = atomic_load(&p->short_running);
  if (atomic_load(&w->short_counted) && n) n--;
  if (n || atomic_load(&p->queued) || atomic_load(&p->inlined)) return true;
  uint64_t now = cis__now_ns();
  if (ended_lately(p, now)) return true;
  /* Or another tenant's calls on another node (w's owner is set under mu
   * before its job runs, on this thread). */
  return remote_calling(p, now) > (unsigned)owner_calls_elsewhere(p, w->owner);
}

/* Without mu: the quota of a call that starts beside short calls. */
static unsigned start_share(cis__pool *p) {
  /* The watch sleeps while nothing runs: the long calls it counted last
   * have ended since. */
  uint64_t at = atomic_load_explicit(&p->start_share_at, memory_order_relaxed);
  if (cis__now_ns() - at >= CIS__POOL_LIFT_AFTER_NS) return p->c.long_share;
  return atomic_load_explicit(&p->start_share, memory_order_relaxed);
}

void cis__pool_attach(cis__pool *p, cis__pool_job *j, cis_instance *inst) {
  /* j->on was set under mu before j ran on this thread. Not mu: it is
   * every request's, and this runs twice a call. */
  cis__pool_thread *w = j->on;
  if (!w) return;
  pthread_mutex_lock(&w->qmu);
  if (!inst && w->inst && w->quota) cis_instance_quota(w->inst, 0);
  w->inst = inst;
  /* While other short calls run or wait, a call starts under the quota it
   * would get as a long one: past its grace (the runtime's first 0.2 ms
   * of CPU, as long as the pool's mark for a long call) it pauses at
   * once, where waiting for the watch to see it long (up to
   * CIS__POOL_WATCH_MS more) let it take a waking short call's CPU. */
  unsigned q = inst && short_work_beside(p, w) ? start_share(p) : 0;
  if (q) cis_instance_quota(inst, q);
  w->quota = q;
  atomic_store(&w->attached, inst != NULL);
  if (inst) atomic_store(&w->had_inst, true);
  pthread_mutex_unlock(&w->qmu);
}

void cis__pool_wait(cis__pool *p, cis__pool_job *j) {
  while (!j->done) pthread_cond_wait(&j->cv, p->mu);
}

void cis__pool_stop(cis__pool *p) {
  if (!p->slot) return; /* never started, or stopped */
  pthread_mutex_lock(p->mu);
  p->stopping = true;
  wake_all(p);
  pthread_cond_signal(&p->watch_cv);
  pthread_mutex_unlock(p->mu);
  /* The watch first: it may be replacing a worker or handing one off.
   * Then no one changes the slots or the list of long threads. */
  if (p->watching) pthread_join(p->watch, NULL);
  for (unsigned i = 0; i < p->nslots; i++) {
    if (!p->slot[i]) continue; /* handed off, never refilled */
    if (!p->slot[i]->joined) pthread_join(p->slot[i]->th, NULL);
    thread_free(p->slot[i]);
  }
  /* Long threads end with their calls (by their deadlines). */
  for (cis__pool_thread *t = p->longs, *n; t; t = n) {
    n = t->next;
    pthread_join(t->th, NULL);
    thread_free(t);
  }
  p->longs = NULL;
  p->nlong = 0;
  free(p->slot);
  p->slot = NULL;
  p->nslots = 0;
  pthread_cond_destroy(&p->work_cv);
  pthread_cond_destroy(&p->watch_cv);
  pthread_cond_destroy(&p->lane_cv);
}
