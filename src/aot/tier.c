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
 * baseline). A call never waits for it. The worker owns a copy of the
 * module's bytes and decodes its own copy of the module, so freeing the
 * module never waits for its compile, which still runs (its entry serves
 * later processes) and whose code is then unloaded instead of published.
 * At process exit (atexit) the worker finishes the queue, at most
 * QUEUE_MAX compiles, and is joined: a short run, which frees its module
 * and exits before the worker even starts, still leaves its module in the
 * cache for the next process.
 *
 * A call with a fuel limit runs on the baseline: fuel counts instructions
 * there and loop iterations in compiled code (docs/aot.md), and a budget
 * must not change meaning when the code arrives.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
  uint8_t *bytes;    /* copy of the module's binary */
  size_t n;          /* its length */
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
  free(j->bytes);
  free(j);
}

/* Compiles job j (worker thread, no lock held): decode and validate the
 * copy, obtain the code (compiling and storing it), publish it unless the
 * module is gone. A failure leaves the module on the baseline with one
 * line on stderr. */
static void run_job(job *j) {
  tier_mod *t = j->t;
  char msg[CIS_ERRMSG_MAX];
  msg[0] = 0;
  cis__module *m = NULL;
  cis__diag d;
  memset(&d, 0, sizeof d);
  cis_result rc = cis__module_decode(j->bytes, j->n, &m, &d);
  if (rc == CIS_OK) rc = cis__module_validate(m, &d);
  if (rc != CIS_OK) snprintf(msg, sizeof msg, "%s", d.msg);
  cis__aot_code *code = NULL;
  if (rc == CIS_OK) rc = cis__aot_load(m, true, &code, NULL, msg, sizeof msg);
  cis__module_free(m);
  if (rc != CIS_OK) {
    atomic_store(&t->state, CIS__TIER_BASE);
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

static void *worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&W.lock);
  for (;;) {
    while (!W.head ? !W.stop : W.hold && !W.stop) pthread_cond_wait(&W.cond, &W.lock);
    if (!W.head) break; /* stopping, and nothing left */
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
  uint8_t *b = j ? malloc(mod->m->nbytes ? mod->m->nbytes : 1) : NULL;
  if (!b) {
    free(j);
    return false;
  }
  memcpy(b, mod->m->bytes, mod->m->nbytes);
  j->bytes = b;
  j->n = mod->m->nbytes;
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
  pthread_mutex_unlock(&W.lock);
  if (!ok) {
    free(b);
    free(j);
  }
  return ok;
}

/* --------------------------------------------------------------- ops */

static cis_result tier_prepare(cis_module *mod) {
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
  cis__aot_code *code = NULL;
  rc = cis__aot_load(m, false, &code, NULL, msg, sizeof msg);
  if (rc == CIS_OK) {
    atomic_store(&t->code, code);
    atomic_store(&t->state, CIS__TIER_COMPILED);
  } else if (rc == CIS_ENOTFOUND && enqueue(mod, t)) {
    atomic_store(&t->state, CIS__TIER_QUEUED);
  } else {
    atomic_store(&t->state, CIS__TIER_BASE);
  }
  return CIS_OK;
}

static void tier_unprepare(cis_module *mod) {
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

const cis__engine_ops cis__tier_ops = {
    .name = "auto",
    .prepare = tier_prepare,
    .unprepare = tier_unprepare,
    .call = tier_call,
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
