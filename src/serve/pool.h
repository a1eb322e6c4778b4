/*
 * This file declares the worker pool of `cis serve` (pool.c): a fixed
 * number of workers fed by a bounded queue, with a cap per owner (a
 * tenant), and a watch thread that hands a long call's worker slot to a
 * fresh thread, so that calls stuck until their deadlines never hold the
 * workers the short calls need, and that keeps such calls' CPU use small
 * while short calls run: a call whose guest instance is known (attached)
 * gets a cooperative CPU quota (cis_instance_quota), others are lowered
 * in CPU priority (docs/serve.md, "Workers and long calls").
 *
 * Fairness between owners: the pool keeps each owner's recent CPU use (a
 * decaying sum of its jobs' thread CPU time, inline and on workers). An
 * owner over its share while other owners are active runs its jobs on a
 * lane of its own: a few threads made at a low CPU priority, so that the
 * others' jobs preempt its own; never inline, never on the workers. It
 * comes back once under its share, or alone (docs/serve.md, "One tenant's
 * load and the others").
 *
 * A pool for background work (cis__pool_config.background: installs and
 * removals of skills, not calls) runs its threads at a low priority from
 * their start and never hands off, lowers or throttles a job: no watch
 * runs. Its work is bounded by its own (an install's module check, its
 * registry write), so that a long job only delays the next of its kind,
 * and never takes a call's worker nor costs a thread made and ended.
 *
 * Its threads are named (pthread_setname_np, as `top -H` and
 * /proc/PID/task/TID/comm show them): "cis-worker" in a slot, "cis-lane"
 * in a slot of the lane, "cis-long" once handed off, "cis-watch",
 * "cis-admin" in a background pool.
 *
 * The pool's state is guarded by its owner's mutex (given at start), so
 * the owner can read the counters, and keep its own admission checks and
 * metrics, under the same lock.
 */
#ifndef CIS_SERVE_POOL_H
#define CIS_SERVE_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "cis/cis.h"
#include "common/rate.h"

/* A call whose thread has used this much CPU time is long: it gets a CPU
 * quota (with an attached instance; else its thread is lowered by
 * CIS__POOL_LONG_NICE) until it ends, and its worker slot goes to a fresh
 * thread. CPU time, not wall time: on a loaded machine a healthy call
 * waiting for the CPU passes any wall-time mark and was lowered too
 * (healthy p99 under 10% stuck calls 2.40x the clean run's with 2 ms of
 * wall time; bench/serve_load.sh). Soon, since each stuck call burns that
 * much at full priority first, but far above a healthy call's own (echo
 * in process: p99 under 0.03 ms). 0.2 ms rather than 0.5 ms once stuck
 * calls were paused rather than lowered (healthy p99 ratio 1.62 and 1.67
 * against 2.10 and 2.02, alternated; with lowering it made no
 * difference). Not nice 19: a lowered call must still get the CPU to see
 * its own deadline on a busy machine. */
#define CIS__POOL_LONG_AFTER_NS (200 * 1000ull)
/* A call that has held its worker this long in wall time without using
 * CIS__POOL_LONG_AFTER_NS of CPU (blocked on I/O, a lock, or waiting for
 * the CPU) leaves its slot to a fresh thread too, at its own priority: it
 * takes no CPU from others, only a worker. Past the time a healthy call
 * takes under load, so hand-offs stay rare. */
#define CIS__POOL_BLOCKED_AFTER_NS (20 * 1000000ull)
/* Nice values are counted from the pool's own (cis__pool.nice0: that of
 * the thread that started it, so a server started under `nice` keeps
 * its priority), 19 at most. */
#define CIS__POOL_LONG_NICE 10
#define CIS__POOL_WATCH_MS 1
/* The watch sleeps once nothing has run for this long, and only a job
 * that starts while it sleeps wakes it: under a stream of short calls
 * the pool empties between two of them, and a wake at each job's start
 * (on top of each period's) took a tenth of a CPU from the requests. */
#define CIS__POOL_WATCH_LINGER_NS (20 * 1000000ull)
/* The share of one CPU (per mille) that the long calls with an attached
 * instance may use together while short calls run or wait: each gets
 * cis_instance_quota(CIS__POOL_LONG_SHARE / their number, at least 1).
 * Lowering in priority alone left the stuck calls a large share (60 at
 * nice 10 weigh as much as 6 threads at nice 0) and had their threads
 * run their clean-up, holding the server's locks, at low priority; paused
 * at the guest's checks, a stuck call takes almost nothing and ends at its
 * deadline, asleep. Once no short call has run or waited for
 * CIS__POOL_LIFT_AFTER_NS the quota is lifted: a long call alone runs at
 * full speed. Not at once: between two calls of a busy client the pool is
 * empty for a moment, and tens of stuck calls let loose then took the
 * CPU from the next short calls (healthy p99 2.8x the clean run's). */
#define CIS__POOL_LONG_SHARE 50
#define CIS__POOL_LIFT_AFTER_NS (50 * 1000000ull)
/* How long the other nodes' figures (cis__pool_remote) count for the
 * long calls' quota: past a few of the share's rounds (250 ms), whose
 * rows count a second. */
#define CIS__POOL_REMOTE_FRESH_NS (1500 * 1000000ull)

/* Fairness between owners. Each CIS__POOL_FAIR_PERIOD_NS (at the first
 * admission after it) the owners' CPU use is reviewed: each keeps
 * CIS__POOL_FAIR_KEEP / 4 of its recent sum and adds what its jobs used
 * since (a time constant of some 70 ms: a burst counts, a blip does not).
 * An owner is active while it began a job or used CPU within the last
 * CIS__POOL_FAIR_ACTIVE periods. With two or more active, one whose sum
 * is above CIS__POOL_FAIR_OVER_PCT % of the active owners' mean is over
 * its share, and stays so until it falls under CIS__POOL_FAIR_BACK_PCT %
 * (so two owners of one load do not flap); never while it uses under
 * CIS__POOL_FAIR_FLOOR per mille of one CPU, where it takes from no one. */
#define CIS__POOL_FAIR_PERIOD_NS (20 * 1000000ull)
#define CIS__POOL_FAIR_KEEP 3
#define CIS__POOL_FAIR_ACTIVE 25
#define CIS__POOL_FAIR_OVER_PCT 150
#define CIS__POOL_FAIR_BACK_PCT 125
#define CIS__POOL_FAIR_FLOOR 100
/* The lane's threads' nice value (absolute), set by each once when it
 * starts with the SCHED_IDLE policy (a thread may always lower itself). The lowest:
 * an owner there gets the CPU the others leave, and a call of theirs
 * that wakes preempts its jobs at once. */
#define CIS__POOL_LANE_NICE 19
/* A background pool's threads' nice value above the pool's own (set by
 * each when it starts): that of a long call without an instance, so that a call that wakes
 * preempts its work, which still gets a tenth or so of a CPU on a busy
 * server (at nice 19 an install, holding the registry's write lock,
 * could wait long for the CPU behind the calls). */
#define CIS__POOL_BACKGROUND_NICE CIS__POOL_LONG_NICE

/* Whose jobs these are (a tenant): its own queue, served in turn with the
 * other owners' (fields under mu). Zeroed by its maker, which keeps it
 * while any of its jobs is queued or running. */
typedef struct cis__pool_owner {
  struct cis__pool_job *qhead, *qtail; /* its jobs waiting, oldest first */
  unsigned queued;                     /* how many */
  _Atomic unsigned active;             /* its jobs queued or running (taken without mu inline) */
  struct cis__pool_owner *next;        /* in the pool's ring of owners with jobs waiting */
  bool in_ring;                        /* it is there */
  /* Fairness (no lock: counted by the jobs, read by the review). */
  struct cis__pool_owner *_Atomic all_next; /* in the pool's list of owners that had a job */
  atomic_bool listed;                  /* it is there (never taken off while the pool runs) */
  atomic_uint_fast64_t cpu_ns;         /* CPU time its jobs used, in all */
  atomic_uint_fast64_t begun;          /* its jobs begun, in all */
  atomic_bool over;                    /* over its share: its jobs run on the lane */
  /* The review's own (one review at a time). */
  uint64_t cpu_seen, begun_seen;       /* cpu_ns and begun at the last review */
  uint64_t recent;                     /* decaying sum of its CPU time (ns) */
  unsigned idle;                       /* reviews since it last began a job or used CPU */
  /* Its use on the cluster's other nodes, in the units of recent (0:
   * none there), set by cis__pool_remote. */
  atomic_uint_fast64_t remote;
  /* It began calls on the other nodes lately: when this is the pool's
   * remote_gen (cis__pool_remote; listed here or not). */
  atomic_uint_fast64_t remote_calling_gen;
  uint64_t quota_round;                /* set_quotas's round that counted it last (under mu) */
  /* Pacing (cis__pool_config.owner_rate; under mu): the paced jobs it
   * may start. */
  cis__rate pace;
} cis__pool_owner;

/* A unit of work. The submitter owns it, and waits for done (cis__pool_wait)
 * or is told by finish. */
typedef struct cis__pool_job {
  struct cis__pool_job *next;          /* its owner's queue */
  void (*run)(struct cis__pool_job *j); /* what to do, on a worker (no lock held) */
  void (*finish)(struct cis__pool_job *j); /* or NULL: called on the worker, without the lock, once
                                             done is set: from its call on, j is the submitter's */
  cis__pool_owner *owner;              /* whose, or NULL: the pool's own owner */
  struct cis__pool_thread *on;         /* the thread running it (under mu), NULL while queued */
  bool done;                           /* set by the worker (under mu) */
  pthread_cond_t cv;                   /* signalled when done; the submitter inits it */
  uint64_t cpu0;                       /* an inline job's start (cis__now_ns) */
  bool paced;                          /* counts against its owner's rate (owner_rate) */
  bool waited;                         /* it waited for its owner's rate (under mu) */
} cis__pool_job;

/* One thread of the pool, as the watch sees it (fields under mu). */
typedef struct cis__pool_thread {
  struct cis__pool_thread *next;       /* in the list of long ones */
  struct cis__pool *p;                 /* its pool */
  pthread_t th;                        /* the thread */
  pid_t tid;                           /* its kernel id (0 until it runs) */
  clockid_t cpu;                       /* its CPU-time clock (set by itself, with tid) */
  bool cpu_ok;                         /* cpu could be had (else never long by CPU time) */
  cis__pool_owner *owner;              /* its job's owner (the pool's own for none), while since */
  uint64_t since;                      /* start of its job (ns), 0 when idle */
  uint64_t cpu0;                       /* its CPU time at the start of its job (ns) */
  bool demoted;                        /* lowered during this job */
  bool long_cpu;                       /* its job is long by CPU time */
  bool throttled;                      /* a quota was set during this job (counted once) */
  pthread_mutex_t qmu;                 /* guards inst and quota: its job attaches without mu */
  cis_instance *inst;                  /* its job's guest instance, while attached (cis__pool_attach) */
  unsigned quota;                      /* the quota set on inst (per mille), 0 none */
  atomic_bool attached;                /* inst is set (read without qmu by the watch) */
  atomic_bool had_inst;                /* an instance was attached during this job */
  atomic_bool short_counted;           /* its job is in cis__pool.short_running */
  bool lane;                           /* a thread of the lane (niced): takes the jobs of owners over
                                          their share, and only those */
  bool handed_off;                     /* its slot went to a fresh thread: it ends with its job */
  bool retired;                        /* could not raise itself back: exited, to be replaced */
  bool joined;                         /* retired and joined, not replaced yet */
  bool exited;                         /* a long one that ended: to be joined */
} cis__pool_thread;

typedef struct cis__pool_config {
  unsigned workers;                    /* worker slots (threads for the short calls), >= 1 */
  unsigned queue;                      /* jobs of one owner that may wait for a worker */
  unsigned queue_total;                /* jobs of all owners that may wait (calls in flight: workers +
                                          queue_total, long ones included); 0: queue */
  unsigned owner_cap;                  /* jobs of one owner queued or running at once; 0: no cap */
  unsigned long_max;                   /* long calls handed off at once (extra threads); 0: none */
  uint64_t long_after_ns;              /* a job is long past this CPU time; 0: CIS__POOL_LONG_AFTER_NS */
  uint64_t blocked_after_ns;           /* or past this wall time; 0: CIS__POOL_BLOCKED_AFTER_NS */
  unsigned long_share;                 /* long calls' CPU share in all, per mille; 0: CIS__POOL_LONG_SHARE */
  unsigned lane;                       /* threads of the lane for owners over their CPU share; 0: no
                                          lane, and no owner is ever over */
  bool background;                     /* background work: threads at CIS__POOL_BACKGROUND_NICE, no
                                          watch (jobs never handed off, lowered or throttled); needs
                                          lane 0 */
  unsigned owner_rate;                 /* paced jobs (cis__pool_job.paced) one owner may start a
                                          second, with a burst of as many; the others wait their
                                          turn in its queue; 0: no limit */
} cis__pool_config;

typedef struct cis__pool {
  cis__pool_config c;                  /* as started */
  int nice0;                           /* the nice value of the thread that started it: its
                                          workers', the others' counted from it */
  pthread_mutex_t *mu;                 /* the owner's: guards everything below */
  pthread_cond_t *idle_cv;             /* the owner's: broadcast when a job ends */
  pthread_cond_t work_cv;              /* a job was queued, or stopping */
  pthread_cond_t watch_cv;             /* a job began, a thread ended, or stopping */
  pthread_cond_t lane_cv;              /* a job of an owner over its share was queued, an owner
                                          changed sides, or stopping */
  cis__pool_thread **slot;             /* c.workers slots, then c.lane slots of the lane, each a thread
                                          (NULL a moment after a hand-off) */
  unsigned nslots;                     /* slots started (to join) */
  cis__pool_thread *longs;             /* handed-off threads, still running their job */
  unsigned nlong;                      /* how many */
  pthread_t watch;                     /* the watch thread */
  bool watching;                       /* it was started */
  cis__pool_owner *ring, *ring_tail;   /* owners with jobs waiting, served in turn */
  cis__pool_owner own;                 /* the owner of jobs that name none */
  /* Written under mu; atomic for the inline admission, which reads them
   * and counts itself in without it. */
  _Atomic unsigned queued, running;    /* jobs waiting; jobs on a thread (long ones too) */
  _Atomic unsigned inlined;            /* jobs their submitters run on their own threads */
  _Atomic uint64_t inline_runs;        /* jobs run inline (metric) */
  uint64_t inline_moves[4];            /* of them, moved to a worker, by cis_wait reason (metric) */
  unsigned nthreads;                   /* threads started and not ended (slots' and long ones; not the watch),
                                          an empty slot's coming one counted from its hand-off */
  unsigned empty_counted;              /* empty slots whose coming thread is in nthreads */
  uint64_t demoted;                    /* calls lowered (metric) */
  uint64_t throttled;                  /* calls given a CPU quota (metric) */
  _Atomic uint64_t inline_seen;        /* when a short call last ended inline (ns; no mu) */
  uint64_t handoffs;                   /* long calls whose slot went to a fresh thread (metric) */
  uint64_t trims;                      /* memory handed back to the system while idle (metric) */
  uint64_t ticks;                      /* the watch's rounds (for tests) */
  uint64_t lane_runs;                  /* jobs run on the lane (metric) */
  uint64_t paced;                      /* jobs that waited for their owner's rate (metric) */
  cis__pool_owner *_Atomic owners;     /* every owner that had a job (fairness), newest first */
  atomic_uint_fast64_t fair_at;        /* when the shares were last reviewed (ns), 0: never */
  atomic_bool reviewing;               /* a review runs (one at a time) */
  atomic_uint nover;                   /* owners over their share now (metric) */
  atomic_uint start_share;             /* the quota a call gets at its start while other short calls
                                          run (cis__pool_attach; set by the watch): one long call's more */
  atomic_uint_fast64_t start_share_at; /* when the watch set it (ns) */
  _Atomic unsigned short_running;      /* calls on the slots' threads not long (yet): cis__pool_thread.short_counted */
  _Atomic uint64_t short_ended;        /* when such a call last ended short (ns) */
  atomic_uint remote_only;             /* owners active on other nodes only (cis__pool_remote) */
  atomic_uint_fast64_t remote_only_sum; /* their use there, in the units of cis__pool_owner.recent */
  atomic_uint remote_calling;          /* owners that began calls on other nodes lately (listed or not) */
  atomic_uint_fast64_t remote_at;      /* when the other nodes' figures came (ns), 0: never */
  atomic_uint_fast64_t remote_gen;     /* their count (cis__pool_owner.remote_calling_gen) */
  uint64_t quota_rounds;               /* set_quotas's rounds (under mu) */
  bool trim_due;                       /* a thread ended since the last trim */
  bool watch_idle;                     /* the watch sleeps until a job starts (under mu) */
  uint64_t busy_seen;                  /* when the watch last saw a job or a pending slot (ns; its own) */
  bool stopping;                       /* threads exit */
} cis__pool;

/* What cis__pool_submit says. */
typedef enum cis__pool_admit {
  CIS__POOL_ADMITTED,                  /* queued */
  CIS__POOL_OWNER_FULL,                /* the owner has owner_cap jobs in flight */
  CIS__POOL_FULL,                      /* the owner's queue full (no worker free), or running +
                                          queued at workers + queue_total */
  CIS__POOL_LANE,                      /* (cis__pool_enter_inline) the owner is over its share: not
                                          inline; cis__pool_submit it, for the lane */
} cis__pool_admit;

/* Starts the workers and the watch (none for a background pool). mu and
 * idle_cv are the owner's and outlive the pool. Errors: CIS_EINVAL (no
 * workers, or a lane in a background pool), CIS_ENOMEM (memory or
 * threads). On error nothing is left to stop. */
cis_result cis__pool_start(cis__pool *p, const cis__pool_config *c, pthread_mutex_t *mu, pthread_cond_t *idle_cv);

/* Under *p->mu: queues j, or says why not. Never waits. */
cis__pool_admit cis__pool_submit(cis__pool *p, cis__pool_job *j);

/* The thread a submission wakes, told after *p->mu is released
 * (cis__pool_wake): told under it, the woken thread preempts the
 * submitter, which still holds the lock the woken one needs first, and a
 * polling thread so preempted held up every request's admission. */
typedef struct cis__pool_wake {
  pthread_cond_t *cv; /* NULL: none */
} cis__pool_wake;

/* As cis__pool_submit, with the wake left in *w for the caller to make
 * once it released *p->mu. */
cis__pool_admit cis__pool_submit_later(cis__pool *p, cis__pool_job *j, cis__pool_wake *w);

/* Without the lock: makes the wake w holds, if any. */
void cis__pool_wake_now(cis__pool_wake *w);

/* Without the lock: admits j to be run now by its submitter on its own
 * thread (cis serve's polling thread, for a call known to be short), as
 * cis__pool_submit would, and only while no job of any owner waits: what
 * waits is served first, in turn. The pool counts it in flight until
 * cis__pool_leave_inline or cis__pool_continue. The caps are held by
 * counting in first and backing out when over; the look at the queue is
 * a moment's (a job queued meanwhile waits for one short call). */
cis__pool_admit cis__pool_enter_inline(cis__pool *p, cis__pool_job *j);

/* Without the lock: the inline job j ended on its submitter's thread
 * (which it charges with the time it ran there, from j->cpu0). What it
 * charged (ns; 0 with no lane). */
uint64_t cis__pool_leave_inline(cis__pool *p, cis__pool_job *j);

/* Under *p->mu: the inline job j, stopped part way, goes on on a worker
 * (its run takes it up where it stopped), ahead of its owner's queue;
 * never refused (it was admitted). From here it ends as a submitted job
 * does (done, finish). */
void cis__pool_continue(cis__pool *p, cis__pool_job *j, cis_wait why);
/* The same, with the wake left in *w (cis__pool_submit_later), giving
 * what its run so far was charged (as cis__pool_leave_inline). */
uint64_t cis__pool_continue_later(cis__pool *p, cis__pool_job *j, cis_wait why, cis__pool_wake *w);

/* Without the lock: reviews the owners' shares when the last review is
 * CIS__POOL_FAIR_PERIOD_NS old at now (ns, cis__now_ns's clock), as every
 * admission does, and wakes the threads when an owner changed sides.
 * Whether one did. For tests, with cis__pool_charge: a clock of their
 * own, ahead of the real one. */
bool cis__pool_review(cis__pool *p, uint64_t now);

/* What the cluster's other nodes report of their owners (the same
 * tenants by name; serve/share.c): each one's CPU use there, in CPU time
 * a second. The review counts them as this node's own: an owner active
 * elsewhere makes the owners here share, and one busy elsewhere is over
 * its share sooner. So a tenant that floods one node while another tenant
 * calls a second node on the same machine runs on its node's lane. */
typedef struct cis__pool_remote_use {
  cis__pool_owner *owner; /* its owner here, or NULL: none */
  uint64_t cpu_ns_per_s;  /* its use on the other nodes */
  bool calling;           /* it began calls there lately */
} cis__pool_remote_use;
/* Replaces the other nodes' figures with the n in u (without mu; from
 * one thread at a time).
 *
 * A tenant that began calls on another node counts, for the long calls
 * here of the other tenants, as short work here does: their quota holds
 * (set_quotas, and at their start), so on a machine the nodes share a
 * long call no longer runs free at full priority beside another
 * tenant's short calls because those came to the other node. A
 * tenant's own calls elsewhere never throttle its long calls here, nor
 * do other tenants' long calls elsewhere but in the round each begins.
 * The figures count for CIS__POOL_REMOTE_FRESH_NS after they came: a
 * node whose database is out of reach stops holding its long calls. */
void cis__pool_remote(cis__pool *p, const cis__pool_remote_use *u, size_t n);

/* The calling thread's CPU time (ns), 0 when it cannot be read: what a
 * job run elsewhere (a background pool's) charges to its owner's share in
 * another pool, with cis__pool_charge. */
uint64_t cis__pool_self_cpu_ns(void);

/* Without the lock: counts ns of CPU time against owner o (NULL: the
 * pool's own, never reviewed), as a job of it that used them. */
void cis__pool_charge(cis__pool *p, cis__pool_owner *o, uint64_t ns);

/* Without the lock, from j's run on its worker: tells the pool the guest
 * instance of j's call once it is made (the pool may then set its CPU
 * quota when the call runs long), and NULL before it is freed (any quota
 * is lifted, and the pool forgets it). */
void cis__pool_attach(cis__pool *p, cis__pool_job *j, cis_instance *inst);

/* Under *p->mu: waits until j is done (a job always ends: calls end by
 * their deadlines). */
void cis__pool_wait(cis__pool *p, cis__pool_job *j);

/* Without the lock: makes every thread exit once the queue is empty, and
 * joins them all (long ones when their jobs end). */
void cis__pool_stop(cis__pool *p);

#endif /* CIS_SERVE_POOL_H */
