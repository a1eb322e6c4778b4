/*
 * This file implements tiering, the engine "auto": a module runs at once on
 * a baseline engine (the interpreter, handed over by the library glue), and
 * on its compiled code as soon as that is there. Loading a module looks in
 * the compiled tier's cache only (no compile): a sound entry is loaded and
 * every call runs compiled from the start. Otherwise the module is queued
 * for a background compile, and its calls run on the baseline meanwhile;
 * when the compile ends, the code is stored in the cache (later processes
 * load it) and published on the module, and every later call entering the
 * module (a top-level call, a call from a host function or from another
 * instance) runs compiled, in the instances made before as well as after.
 * Both engines keep an instance's state in the runtime's objects
 * (memories, tables, globals), so a call may enter either.
 *
 * One worker thread per process compiles, one module at a time, from a
 * bounded queue (QUEUE_MAX; a module that finds it full stays on the
 * baseline). A call never waits for it. A job holds the decoded module
 * (cis__module_ref: no copy), so freeing the module never waits for its
 * compile, which still runs (its entry serves later processes) and whose
 * code is then unloaded instead of published. A child process generates
 * the C, runs the C compiler and stores the entry (cache.c,
 * cis__aot_jobs_spawn): this process pays a fork, not the generator's
 * time or memory. At process exit (atexit) the worker stops waiting for
 * that child and leaves it to finish, hands the modules still queued to
 * one more child, and is joined: a short run exits at once, never
 * waiting for a compile, and its modules are still in the cache for the
 * next process.
 *
 * The worker runs at the process's priority, whoever started it: it is
 * started by the first call that needs it, which `cis serve`'s pool may
 * have lowered (nice 10) for being long, and a thread (and the compile
 * children it forks) inherits its creator's nice value. So it sets its
 * own to the value the process started with (saved_nice).
 *
 * A call with a fuel limit runs on the baseline: fuel counts instructions
 * there and loop iterations in compiled code (docs/aot.md), and a budget
 * must not change meaning when the code arrives.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aot/aot.h"
#include "runtime/rt_internal.h"

/* Modules waiting for the worker at most. */
#define QUEUE_MAX 64

/* The tier's state of one module: cis_module.tier_data. Counted by the
 * module and by its job. */
typedef struct tier_mod {
  atomic_uint refs;                /* the module's and its job's */
  cis__aot_code *_Atomic code;     /* compiled code once published, else NULL */
  atomic_int state;                /* CIS__TIER_* */
  atomic_bool gone;                /* the module was freed: publish nothing */
  atomic_uint_fast64_t base_calls; /* calls entered on the baseline */
  atomic_uint_fast64_t aot_calls;  /* calls entered in compiled code */
  char name[64];                   /* for the log line: the module's name or size */
} tier_mod;

/* A background compile. */
typedef struct job {
  struct job *next;  /* queue link */
  tier_mod *t;       /* counted */
  cis__module *m;    /* the decoded module, held (cis__module_ref), not a copy */
} job;

static const cis__engine_ops *base; /* the baseline engine (cis__tier_set_baseline) */

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;   /* work queued, hold released, stop set */
  pthread_cond_t done;   /* a job ended (cis__tier_wait) */
  job *head, *tail;      /* queue */
  unsigned n;            /* jobs queued */
  bool started;          /* the thread runs (joinable) */
  bool stop;             /* exiting: no more jobs; the worker ends when the queue is empty */
  bool hold;             /* tests: take no job until released */
  atomic_bool exiting;   /* stop, read without the lock by cis__aot_jobs_wait */
  pthread_t thread;
} W = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .cond = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER};

void cis__tier_set_baseline(const cis__engine_ops *ops) { base = ops; }

static void tier_mod_release(tier_mod *t) {
  if (atomic_fetch_sub(&t->refs, 1) != 1) return;
  cis__aot_code_free(atomic_load(&t->code));
  free(t);
}

static void job_free(job *j) {
  tier_mod_release(j->t);
  cis__module_free(j->m);
  free(j);
}

/* Compiles job j (worker thread, no lock held): take the code from the
 * cache if another process stored it, else compile it in a child process
 * that generates the C (from its copy of the decoded module), runs the C
 * compiler and stores the entry; then load it and publish it unless the module is
 * gone. The child, not this thread, does the work, so that a process
 * exiting leaves it to finish (cis__aot_jobs_wait) rather than waiting for it,
 * and pays none of its time or memory. A failure leaves the module on
 * the baseline with one line on stderr; another process compiling the
 * same module (CIS_ESTATE) is no failure, and is not said. */
static void run_job(job *j) {
  tier_mod *t = j->t;
  char msg[CIS_ERRMSG_MAX];
  msg[0] = 0;
  const cis__module *m = j->m;
  cis__aot_code *code = NULL;
  cis_result rc = cis__aot_load(m, false, 0, 0, &code, NULL, msg, sizeof msg);
  if (rc == CIS_ENOTFOUND) {
    cis__aot_job *cj = NULL;
    rc = cis__aot_job_prepare(m, &cj, msg, sizeof msg);
    int rfd = -1;
    pid_t pid = rc == CIS_OK ? cis__aot_jobs_spawn(&cj, 1, &rfd) : -1;
    if (rc == CIS_OK && pid < 0) {
      snprintf(msg, sizeof msg, "cannot start a compile process: %s", strerror(errno));
      rc = CIS_EIO;
    }
    cis__aot_job_free(cj); /* the child has its own copy */
    if (rc == CIS_OK) rc = cis__aot_jobs_wait(pid, rfd, 0, &W.exiting, msg, sizeof msg);
    if (rc == CIS_OK) rc = cis__aot_load(m, false, 0, 0, &code, NULL, msg, sizeof msg);
  }
  if (rc == CIS__AOT_LEFT_RUNNING) return;
  if (rc != CIS_OK) {
    atomic_store(&t->state, CIS__TIER_BASE);
    if (rc == CIS_ESTATE) return;
    fprintf(stderr, "cis: engine auto keeps module %s on the interpreter: %s\n", t->name,
            msg[0] ? msg : cis_strerror(rc));
    return;
  }
  /* Published under the queue lock, which unprepare takes before it
   * marks the module gone: either the module sees the code (and frees it
   * with itself) or this sees gone (and frees it here). */
  pthread_mutex_lock(&W.lock);
  bool gone = atomic_load(&t->gone);
  if (!gone) {
    atomic_store_explicit(&t->code, code, memory_order_release);
    atomic_store(&t->state, CIS__TIER_COMPILED);
  }
  pthread_mutex_unlock(&W.lock);
  if (gone) cis__aot_code_free(code);
}

/* At exit: the modules still queued are handed to one child process,
 * which compiles them one after the other (generating each one's C) and
 * stores their entries after this process is gone. Called with the
 * queue detached from W. */
static void hand_over(job *head) {
  cis__aot_job *cjs[QUEUE_MAX];
  job *kept = NULL; /* the jobs spawned: their modules live until the fork */
  size_t n = 0;
  for (job *j = head, *next; j; j = next) {
    next = j->next;
    char msg[CIS_ERRMSG_MAX];
    if (n < QUEUE_MAX && !cis__aot_cached(j->m) &&
        cis__aot_job_prepare(j->m, &cjs[n], msg, sizeof msg) == CIS_OK) {
      n++;
      j->next = kept;
      kept = j;
    } else {
      job_free(j);
    }
  }
  int rfd = -1;
  if (n && cis__aot_jobs_spawn(cjs, n, &rfd) >= 0) close(rfd); /* not waited for */
  for (size_t i = 0; i < n; i++) cis__aot_job_free(cjs[i]);
  for (job *j = kept, *next; j; j = next) {
    next = j->next;
    job_free(j);
  }
}

/* The process's nice value at start (the main thread's, before any pool
 * lowered a thread), for the worker. */
static int saved_nice;
static bool saved_nice_ok;

__attribute__((constructor)) static void save_nice(void) {
  errno = 0;
  int v = getpriority(PRIO_PROCESS, 0);
  saved_nice_ok = v != -1 || errno == 0;
  saved_nice = saved_nice_ok ? v : 0;
}

static void *worker(void *arg) {
  (void)arg;
  /* Back to the process's priority (PRIO_PROCESS with 0 is this thread on
   * Linux). Raising it back from a lowered creator needs CAP_SYS_NICE or
   * RLIMIT_NICE; without them the worker keeps its creator's value. The
   * name lets tests and ps find it. */
  pthread_setname_np(pthread_self(), "cis-aot-tier");
  if (saved_nice_ok && getpriority(PRIO_PROCESS, 0) != saved_nice)
    setpriority(PRIO_PROCESS, 0, saved_nice);
  pthread_mutex_lock(&W.lock);
  for (;;) {
    while (!W.head ? !W.stop : W.hold && !W.stop) pthread_cond_wait(&W.cond, &W.lock);
    if (!W.head) break; /* stopping, and nothing left */
    if (W.stop) {
      job *rest = W.head;
      W.head = W.tail = NULL;
      W.n = 0;
      pthread_mutex_unlock(&W.lock);
      hand_over(rest);
      pthread_mutex_lock(&W.lock);
      break;
    }
    job *j = W.head;
    W.head = j->next;
    if (!W.head) W.tail = NULL;
    W.n--;
    pthread_mutex_unlock(&W.lock);
    run_job(j);
    job_free(j);
    pthread_mutex_lock(&W.lock);
    pthread_cond_broadcast(&W.done);
  }
  pthread_mutex_unlock(&W.lock);
  return NULL;
}

void cis__tier_shutdown(void) {
  pthread_mutex_lock(&W.lock);
  W.stop = true;
  atomic_store(&W.exiting, true);
  bool join = W.started;
  W.started = false;
  pthread_cond_broadcast(&W.cond);
  pthread_mutex_unlock(&W.lock);
  if (join) pthread_join(W.thread, NULL);
  /* Without a thread (it could not start) nothing was queued. */
}

static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static void register_exit(void) { atexit(cis__tier_shutdown); }

/* Queues a compile of mod; false when it cannot be (queue full, shutting
 * down, out of memory, no thread). */
static bool enqueue(cis_module *mod, tier_mod *t) {
  job *j = calloc(1, sizeof *j);
  if (!j) return false;
  j->t = t;
  pthread_once(&exit_once, register_exit);
  pthread_mutex_lock(&W.lock);
  bool ok = !W.stop && W.n < QUEUE_MAX;
  if (ok && !W.started) {
    ok = pthread_create(&W.thread, NULL, worker, NULL) == 0;
    W.started = ok;
  }
  if (ok) {
    atomic_fetch_add(&t->refs, 1);
    if (W.tail) W.tail->next = j;
    else W.head = j;
    W.tail = j;
    W.n++;
    pthread_cond_signal(&W.cond);
  }
  if (ok) j->m = cis__module_ref(mod->m);
  pthread_mutex_unlock(&W.lock);
  if (!ok) free(j);
  return ok;
}

/* Whether engine e can queue compiles: a C compiler is there. Asked when
 * a module first needs a compile rather than when the engine is made (a
 * cached start's load resolves the compiler itself: cache.c), once per
 * engine; when there
 * is none, said once per process on stderr, and modules without compiled
 * code in the cache stay on the baseline. */
static bool can_compile(cis_engine *e) {
  static atomic_bool said;
  int known = atomic_load(&e->compiler);
  if (known) return known > 0;
  char why[256];
  bool there = cis__aot_compiler_present(why, sizeof why);
  atomic_store(&e->compiler, there ? 1 : -1);
  if (!there && !atomic_exchange(&said, true))
    fprintf(stderr, "cis: engine auto runs on the interpreter: %s\n", why);
  return there;
}

/* --------------------------------------------------------------- ops */

/* tier_data of a module whose cache lookup (tier_prepare_known) found
 * nothing: tier_prepare, which follows validation, does not look again. */
static char looked_up;

/* Prepares mod on the baseline and looks for its compiled code: in the
 * cache (lookup), or already found (*code, from tier_prepare_known). */
static cis_result tier_setup(cis_module *mod, bool lookup, cis__aot_code *code) {
  if (!base) return cis__fail(mod, CIS_EUNSUPPORTED, "engine auto has no baseline engine");
  tier_mod *t = calloc(1, sizeof *t);
  if (!t) return cis__fail(mod, CIS_ENOMEM, "out of memory loading a module");
  cis_result rc = base->prepare(mod);
  if (rc != CIS_OK) {
    free(t);
    return rc;
  }
  atomic_init(&t->refs, 1);
  const cis__module *m = mod->m;
  if (m->module_name) snprintf(t->name, sizeof t->name, "%.*s", (int)m->module_name_len, m->module_name);
  else snprintf(t->name, sizeof t->name, "of %zu bytes", m->nbytes);
  mod->tier_data = t;
  /* The cache only: a sound entry runs compiled from the first call. */
  char msg[CIS_ERRMSG_MAX];
  rc = code     ? CIS_OK
       : lookup ? cis__aot_load(m, false, 0, 0, &code, NULL, msg, sizeof msg)
                : CIS_ENOTFOUND;
  if (rc == CIS_OK) {
    atomic_store(&t->code, code);
    atomic_store(&t->state, CIS__TIER_COMPILED);
  } else if (rc == CIS_ENOTFOUND && can_compile(mod->engine)) {
    /* Queued before the job is: the worker may end it (BASE, COMPILED)
     * before enqueue returns, and a later store of QUEUED would undo that
     * for good (a compile that fails at once: cis__tier_wait then waited
     * out its whole time). */
    atomic_store(&t->state, CIS__TIER_QUEUED);
    if (!enqueue(mod, t)) atomic_store(&t->state, CIS__TIER_BASE);
  } else {
    atomic_store(&t->state, CIS__TIER_BASE);
  }
  return CIS_OK;
}

static cis_result tier_prepare(cis_module *mod) {
  bool lookup = mod->tier_data != &looked_up;
  mod->tier_data = NULL;
  return tier_setup(mod, lookup, NULL);
}

/* Before validation (runtime.h; aot.c's aot_prepare_known says why it may
 * be skipped): a module whose compiled code is in the cache is prepared
 * at once, on the baseline too (calls with a fuel budget run there). */
static cis_result tier_prepare_known(cis_module *mod) {
  if (!base) return CIS_ENOTFOUND;
  char msg[CIS_ERRMSG_MAX];
  cis__aot_code *code = NULL;
  cis_result rc = cis__aot_load(mod->m, false, 0, 0, &code, NULL, msg, sizeof msg);
  if (rc != CIS_OK) {
    mod->tier_data = &looked_up;
    return rc;
  }
  rc = tier_setup(mod, false, code);
  if (rc != CIS_OK) cis__aot_code_free(code);
  return rc;
}

static void tier_unprepare(cis_module *mod) {
  if (mod->tier_data == &looked_up) mod->tier_data = NULL;
  tier_mod *t = mod->tier_data;
  if (t) {
    /* Its compile still runs (for the cache) but publishes nothing: gone
     * is set under the lock run_job publishes under. */
    pthread_mutex_lock(&W.lock);
    atomic_store(&t->gone, true);
    pthread_mutex_unlock(&W.lock);
    mod->tier_data = NULL;
    tier_mod_release(t);
  }
  base->unprepare(mod);
}

static cis_result tier_call(cis__exec *ex, cis_func *f, cis_slot *ar) {
  tier_mod *t = f->inst->module->tier_data;
  const cis__aot_code *code = atomic_load_explicit(&t->code, memory_order_acquire);
  if (code && ex->fuel == UINT64_MAX) {
    atomic_fetch_add_explicit(&t->aot_calls, 1, memory_order_relaxed);
    return cis__aot_enter(ex, f, ar, code);
  }
  atomic_fetch_add_explicit(&t->base_calls, 1, memory_order_relaxed);
  return base->call(ex, f, ar);
}

/* The image of mod's memory 0 when its code was there from the load (or
 * has arrived since): instances made before copied their segments. */
static const cis__mem_image *tier_mem_image(cis_module *mod) {
  tier_mod *t = mod->tier_data != &looked_up ? mod->tier_data : NULL;
  return t ? cis__aot_code_image(atomic_load_explicit(&t->code, memory_order_acquire), mod->m) : NULL;
}

const cis__engine_ops cis__tier_ops = {
    .name = "auto",
    .prepare = tier_prepare,
    .unprepare = tier_unprepare,
    .call = tier_call,
    .prepare_known = tier_prepare_known,
    .known_bytes = cis__aot_hold_known_bytes,
    .release_bytes = cis__aot_release_bytes,
    .known_file = cis__aot_hold_known_file,
    .remember_file = cis__aot_remember_known_file,
    .mem_image = tier_mem_image,
};

/* ------------------------------------------------------------- probes */

int cis__tier_state(const cis_module *mod) {
  const tier_mod *t = mod ? mod->tier_data : NULL;
  return t ? atomic_load(&t->state) : -1;
}

void cis__tier_calls(const cis_module *mod, uint64_t *base_calls, uint64_t *aot_calls) {
  tier_mod *t = mod ? mod->tier_data : NULL;
  *base_calls = t ? atomic_load(&t->base_calls) : 0;
  *aot_calls = t ? atomic_load(&t->aot_calls) : 0;
}

int cis__tier_wait(const cis_module *mod, uint32_t timeout_ms) {
  tier_mod *t = mod ? mod->tier_data : NULL;
  if (!t) return -1;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000u;
  until.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&W.lock);
  while (atomic_load(&t->state) == CIS__TIER_QUEUED)
    if (pthread_cond_timedwait(&W.done, &W.lock, &until) != 0) break;
  pthread_mutex_unlock(&W.lock);
  return atomic_load(&t->state);
}

void cis__tier_hold(bool hold) {
  pthread_mutex_lock(&W.lock);
  W.hold = hold;
  pthread_cond_broadcast(&W.cond);
  pthread_mutex_unlock(&W.lock);
}
