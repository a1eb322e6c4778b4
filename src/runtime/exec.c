/*
 * This file implements calls: the public call functions, the cis__exec that
 * carries one top-level call's limits, the slow-path check behind the
 * engines' tick counter, dispatch to host functions and engines, what a host
 * function may ask of its call, cancellation, and what GC's collector asks
 * of a running call (the engines whose calls it holds, where its native
 * frames lie: gc.h).
 *
 * One top-level call gets one deadline, one fuel budget and one depth
 * counter, shared by everything it reaches: wasm in any instance, host
 * functions, and wasm that host functions call back into (on the same
 * thread, found through a thread-local pointer). A re-entrant call
 * therefore cannot reset the deadline, and cancelling the top-level
 * instance stops the whole chain.
 *
 * Fuel accounting: ex->fuel holds the units not yet handed to the engine
 * and ex->ticks those handed out and not yet used, so the budget left is
 * always fuel + ticks. An engine may overshoot (ticks < 0) by the cost of
 * what it was doing; the overshoot is charged at the next check.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <time.h>

#include "common/callctx.h"
#include "runtime/gc.h"
#include "runtime/rt_internal.h"

/* Stack room left below the guard for host functions and the engine's own
 * frames between two calls through cis__exec_call: a quarter of the
 * thread's stack, within these bounds, and never more than half of it. */
#define CSTACK_MARGIN_MAX (256u * 1024u)
#define CSTACK_MARGIN_MIN (64u * 1024u)
/* Native stack a top-level call may use when it does not run on its
 * thread's own stack (a coroutine or fiber stack the embedder switched
 * to), whose size cannot be known: nested calls stop this far below the
 * frame the call entered at. */
#define CSTACK_UNKNOWN_BUDGET (64u * 1024u)

/* Host calls between two reads of the clock. A host call checks the
 * cancel flag (one relaxed load) each time but the deadline only every
 * this many calls: reading the clock was most of a host call's cost. The
 * guest's own loops still check at the tick quantum, and host functions
 * that can block bound themselves by cis_call_remaining_ms, which also has
 * the deadline checked as soon as they return. So only host functions that
 * never look at the time (and so cannot wait long) run unchecked, at most
 * this many in a row. */
#define HOST_CALLS_PER_CLOCK 256

/* A call under a CPU quota (cis_instance_quota) pauses in sleeps of at
 * most this long, looking at cancel, its deadline and the quota between
 * them: a cancel is seen this soon. Longer than the scheduler's wake-up
 * cost by far, so that tens of paused calls cost little CPU. */
#define QUOTA_SLICE_NS (10 * 1000000ull)
/* A call runs this much CPU time under a quota before its first pause
 * (at the check past it), so that a quota set ahead of a call (cis
 * serve's pool sets one on each call that starts while short calls run)
 * slows no call that stays short, and one that runs long pauses from
 * then on rather than from when a watcher notices it. The pool's own
 * mark for a long call (CIS__POOL_LONG_AFTER_NS, src/serve/pool.h). */
#define QUOTA_GRACE_NS (200 * 1000ull)
/* One check's pause at most: after a long stretch without a check (a
 * host call, a slow engine) the call still gets the CPU again this soon. */
#define QUOTA_PAUSE_MAX_NS (250 * 1000000ull)

/* Values up to this many slots are passed without a heap allocation. */
#define SMALL_SLOTS 16

/* An engine whose calls a running call holds (cis__gc_call_begin), kept
 * in the frame of the function that began it (the top-level call's in
 * its exec_rt). */
typedef struct gc_hold {
  cis_engine *e;
  struct gc_hold *next;   /* the one held before it */
} gc_hold;

/* The private part of a running call. */
typedef struct exec_rt {
  cis__exec pub;          /* first: what engines see */
  uintptr_t cstack_limit; /* native stack addresses below this trap */
  gc_hold *holds;         /* the engines whose calls it holds, innermost first */
  gc_hold top_hold;       /* the last of them: the top instance's engine, held
                             from the first entry into an instance of it whose
                             frames may hold GC objects (cis_instance.gc_frames)
                             to the call's end; e NULL until then */
  uint64_t fuel_given;    /* limits.fuel at the start, for messages */
  uint64_t timeout_ms;    /* limits.timeout_ms at the start, for messages */
  uint32_t host_left;     /* host calls left before the next clock read */
  uint64_t quota_free;    /* the thread's CPU time at which the quota's grace ends
                             (QUOTA_GRACE_NS), 0 once it has */
  uint64_t quota_cpu;     /* the thread's CPU time at the end of the last quota
                             pause (ns); 0 while no quota applies */
  void (*wait_fn)(void *, cis_wait); /* the top instance's on_wait, until told once */
  void *wait_user;
  uint64_t wait_at;       /* when the guest has run long enough to tell it (ns) */
} exec_rt;

/* What a host function may ask of its call (cis.h). */
struct cis_call {
  cis__exec *ex;          /* the running call */
  cis_instance *caller;   /* instance whose code made the call */
  cis_func *f;            /* the host function being run */
  bool clock_due;         /* it asked for the time left: it may have waited,
                             so the deadline is checked after it */
};

/* What a thread keeps for calls, in one block: one look-up of the
 * thread's storage reaches all of it (each costs a call into the dynamic
 * linker from a shared library).
 *   exec      the call running on this thread, if any: host functions that
 *             call back into wasm join it instead of starting a new one;
 *   alt_lo/hi the stack this thread runs on when not its own
 *             (cis_stack_switched), [lo, hi); 0, 0 when on its own;
 *   stack_lo/hi, stack_limit  this thread's own native stack, [lo, hi),
 *             found once (reading it can mean parsing /proc/self/maps for
 *             the main thread), lo == 1 when it could not be found, and
 *             where a call on it must stop.
 * Read and written only through the out-of-line functions below: a call
 * may leave for another thread inside its on_wait (its stack switched),
 * and a caller's frame must not keep the address of the old thread's
 * block across it. */
typedef struct tl_calls {
  cis__exec *exec;
  uintptr_t alt_lo, alt_hi;
  uintptr_t stack_lo, stack_hi, stack_limit;
} tl_calls;
static _Thread_local tl_calls tl;
#if defined(__GNUC__) && !defined(__clang__)
#define CIS_OUT_OF_LINE __attribute__((noinline, noipa))
#else
#define CIS_OUT_OF_LINE __attribute__((noinline))
#endif
CIS_OUT_OF_LINE static void tl_exec_set(cis__exec *ex) { tl.exec = ex; }

/* The low end of stack [lo, hi) plus the margin. */
static uintptr_t stack_margin_above(uintptr_t lo, uintptr_t hi) {
  size_t size = hi - lo;
  size_t margin = size / 4;
  if (margin > CSTACK_MARGIN_MAX) margin = CSTACK_MARGIN_MAX;
  if (margin < CSTACK_MARGIN_MIN) margin = CSTACK_MARGIN_MIN;
  if (margin > size / 2) margin = size / 2;
  return lo + margin;
}

/* The main thread's stack without pthread_getattr_np, which for the main
 * thread reads and parses the whole of /proc/self/maps (about 127 K
 * instructions, 7% of a `cis run` start; the kernel's formatting of every
 * mapping besides). The kernel copies the executable's name (AT_EXECFN)
 * to the very top of the main thread's stack, just below the end of its
 * mapping, and places no mapping within RLIMIT_STACK (at least 128 MiB)
 * below that end: the stack may grow to [top - limit, top), and no
 * further, since the kernel checks growth against the same limit. The
 * limit is capped at 128 MiB, the least room the kernel leaves at exec,
 * in case it was raised after the exec. Only when the calling frame lies
 * in that range (this is the main thread, on its own stack) and the
 * limit is finite; else false, and pthread_getattr_np decides. */
static bool find_main_stack(tl_calls *t, uintptr_t sp) {
  const uintptr_t room_min = (uintptr_t)128u << 20;
  const char *fn = (const char *)getauxval(AT_EXECFN);
  uintptr_t page = (uintptr_t)getauxval(AT_PAGESZ);
  struct rlimit rl;
  if (!fn || !page || (page & (page - 1)) || getrlimit(RLIMIT_STACK, &rl) != 0 ||
      rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur < page)
    return false;
  uintptr_t top = ((uintptr_t)fn + strlen(fn) + 1 + page - 1) & ~(page - 1);
  uintptr_t size = rl.rlim_cur < room_min ? (uintptr_t)rl.rlim_cur & ~(page - 1) : room_min;
  if (top <= size || sp >= top || sp <= top - size) return false;
  t->stack_lo = top - size;
  t->stack_hi = top;
  return true;
}

/* Once per thread: out of the call's path. */
__attribute__((noinline, cold)) static void find_thread_stack(tl_calls *t) {
  pthread_attr_t a;
  t->stack_lo = 1;
  if (find_main_stack(t, (uintptr_t)__builtin_frame_address(0))) goto found;
  if (pthread_getattr_np(pthread_self(), &a) != 0) return;
  void *lo = NULL;
  size_t size = 0;
  if (pthread_attr_getstack(&a, &lo, &size) == 0 && lo && size) {
    t->stack_lo = (uintptr_t)lo;
    t->stack_hi = (uintptr_t)lo + size;
  }
  pthread_attr_destroy(&a);
found:
  if (t->stack_lo > 1) t->stack_limit = stack_margin_above(t->stack_lo, t->stack_hi);
}

/* Where the native stack of a top-level call entering at frame `sp` must
 * stop. On the thread's own stack: its low end plus a margin. Elsewhere
 * (a switched stack), or when the thread's stack cannot be found: a fixed
 * budget below sp, so that the check never lets a call run off a stack of
 * unknown size, nor refuses every call because sp lies outside the
 * thread's stack. */
static uintptr_t native_stack_limit(tl_calls *t, uintptr_t sp) {
  if (t->alt_hi && sp > t->alt_lo && sp <= t->alt_hi) return stack_margin_above(t->alt_lo, t->alt_hi);
  if (!t->stack_lo) find_thread_stack(t);
  if (t->stack_lo > 1 && sp > t->stack_lo && sp <= t->stack_hi) return t->stack_limit;
  return sp > CSTACK_UNKNOWN_BUDGET ? sp - CSTACK_UNKNOWN_BUDGET : 0;
}

/* ------------------------------------------------------------- checks */

static bool fuel_limited(const cis__exec *ex) { return ex->fuel != UINT64_MAX; }

static cis_result fail_fuel(cis__exec *ex) {
  ex->fuel = 0;
  ex->ticks = 0;
  return cis__fail(ex->top, CIS_EFUEL, "fuel exhausted: the call used all %llu units",
                   (unsigned long long)((exec_rt *)ex)->fuel_given);
}

/* Cancel flag, then deadline; the message goes on the top instance. */
static cis_result check_stop(cis__exec *ex) {
  const int *ext = ex->top->cancel_ext;
  if (atomic_load_explicit(&ex->top->cancel, memory_order_relaxed) || (ext && __atomic_load_n(ext, __ATOMIC_RELAXED)))
    return cis__fail(ex->top, CIS_ECANCELED, "call cancelled");
  if (ex->deadline_ns != UINT64_MAX && cis__now_ns() >= ex->deadline_ns)
    return cis__fail(ex->top, CIS_ETIMEOUT, "deadline exceeded: the call ran past %llu ms",
                     (unsigned long long)((exec_rt *)ex)->timeout_ms);
  return CIS_OK;
}

/* The CPU time the calling thread has used (ns). */
static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Under a quota of q per mille: sleeps so that the CPU time this thread
 * used since the last pause is at most q/1000 of the time from then to
 * the end of this one. Deadline and cancel win: the pause ends at the
 * deadline (and returns CIS_ETIMEOUT, on time, without the CPU the
 * guest's loop would need to see it) and within QUOTA_SLICE_NS of a
 * cancel; a quota lifted meanwhile ends it too. The first check under a
 * quota only starts the measure, and its grace (QUOTA_GRACE_NS). */
static atomic_uint_fast64_t quota_pauses; /* pauses that slept, in the process */

uint64_t cis__exec_quota_pauses(void) { return atomic_load_explicit(&quota_pauses, memory_order_relaxed); }

static cis_result quota_pause(cis__exec *ex, unsigned q) {
  exec_rt *x = (exec_rt *)ex;
  uint64_t cpu = thread_cpu_ns();
  if (!x->quota_cpu || cpu < x->quota_cpu) {
    x->quota_cpu = cpu ? cpu : 1;
    x->quota_free = x->quota_cpu + QUOTA_GRACE_NS;
    return CIS_OK;
  }
  if (x->quota_free) {
    if (cpu < x->quota_free) return CIS_OK;
    x->quota_cpu = x->quota_free; /* the share counts from the grace's end */
    x->quota_free = 0;
  }
  uint64_t used = cpu - x->quota_cpu;
  uint64_t pause = used > QUOTA_PAUSE_MAX_NS ? QUOTA_PAUSE_MAX_NS : used * (1000u - q) / q;
  if (pause > QUOTA_PAUSE_MAX_NS) pause = QUOTA_PAUSE_MAX_NS;
  uint64_t now = cis__now_ns(), until = now + pause;
  if (ex->deadline_ns != UINT64_MAX && until > ex->deadline_ns) until = ex->deadline_ns;
  cis_result rc = CIS_OK;
  if (now < until) atomic_fetch_add_explicit(&quota_pauses, 1, memory_order_relaxed);
  while (now < until) {
    uint64_t s = until - now < QUOTA_SLICE_NS ? until - now : QUOTA_SLICE_NS;
    struct timespec ts = {(time_t)(s / 1000000000ull), (long)(s % 1000000000ull)};
    nanosleep(&ts, NULL);
    if ((rc = check_stop(ex)) != CIS_OK) break;
    unsigned now_q = atomic_load_explicit(&ex->top->quota, memory_order_relaxed);
    if (now_q == 0 || now_q >= 1000) break;
    now = cis__now_ns();
  }
  x->quota_cpu = thread_cpu_ns();
  if (!x->quota_cpu) x->quota_cpu = 1;
  return rc;
}

void cis_stack_switched(const void *base, size_t size) {
  tl.alt_lo = base && size ? (uintptr_t)base : 0;
  tl.alt_hi = base && size ? (uintptr_t)base + size : 0;
}

/* Tells the call's on_wait, once. The call is nobody's on this thread
 * meanwhile: the callback may run other calls here, or carry this one to
 * another thread and return there. */
__attribute__((noinline)) static void tell_wait(exec_rt *x, cis_wait why) {
  void (*fn)(void *, cis_wait) = x->wait_fn;
  x->wait_fn = NULL;
  tl_exec_set(NULL);
  fn(x->wait_user, why);
  tl_exec_set(&x->pub);
}

cis_result cis__exec_check(cis__exec *ex) {
  if (fuel_limited(ex)) {
    if (ex->ticks < 0) {
      uint64_t over = (uint64_t)-ex->ticks;
      if (over > ex->fuel) return fail_fuel(ex);
      ex->fuel -= over;
      ex->ticks = 0;
    }
    if (ex->ticks == 0 && ex->fuel == 0) return fail_fuel(ex);
  }
  cis_result rc = check_stop(ex);
  if (rc != CIS_OK) return rc;
  exec_rt *x = (exec_rt *)ex;
  if (x->wait_fn && cis__now_ns() >= x->wait_at) tell_wait(x, CIS_WAIT_LONG);
  unsigned q = atomic_load_explicit(&ex->top->quota, memory_order_relaxed);
  if (q && q < 1000) {
    if ((rc = quota_pause(ex, q)) != CIS_OK) return rc;
  } else {
    ((exec_rt *)ex)->quota_cpu = 0; /* a quota set later measures from then */
  }
  if (ex->ticks <= 0) {
    if (fuel_limited(ex)) {
      uint64_t give = ex->fuel < CIS__TICK_QUANTUM ? ex->fuel : CIS__TICK_QUANTUM;
      ex->fuel -= give;
      ex->ticks = (int64_t)give;
    } else {
      ex->ticks = CIS__TICK_QUANTUM;
    }
  }
  return CIS_OK;
}

/* Budget left: units not handed out plus those handed out and unused,
 * less any overshoot not charged yet. */
static uint64_t fuel_left(const cis__exec *ex) {
  if (!fuel_limited(ex)) return UINT64_MAX;
  if (ex->ticks >= 0) return ex->fuel + (uint64_t)ex->ticks;
  uint64_t over = (uint64_t)-ex->ticks;
  return over > ex->fuel ? 0 : ex->fuel - over;
}

/* ---------------------------------------------------------- dispatch */

__attribute__((noinline, cold)) static cis_result stack_exhausted(cis__exec *ex, const cis_func *f) {
  char fn[192];
  cis__fmt_func(fn, sizeof fn, f);
  return cis__fail(ex->top, CIS_TRAP_STACK, "call stack exhausted in %s", fn);
}

/* The message of a host function that failed with rc (kept out of the
 * fast path: its buffer and formatting cost every call otherwise). */
__attribute__((noinline, cold)) static cis_result host_failed(cis__exec *ex, cis_instance *caller,
                                                             const cis_func *f, cis_result rc) {
  char fn[192];
  cis__fmt_func(fn, sizeof fn, f);
  if (rc > 0)
    return cis__fail(ex->top, CIS_TRAP_HOST, "%s returned %d, which is not a result code", fn,
                     rc);
  /* A wasm exception the host function let through goes on unwinding:
   * a caller may still catch it, so it gets its message at the top. */
  if (rc == CIS_EXCEPTION && ex->exn) return rc;
  if (!cis_errmsg(ex->top)[0]) {
    if (rc == CIS_EEXIT)
      cis__fail(ex->top, rc, "guest exited with code %d", caller ? caller->exit_code : 0);
    else
      cis__fail(ex->top, rc, "%s failed: %s", fn, cis_strerror(rc));
  }
  return rc;
}

/* What follows a host call that failed with rc or asked for the time
 * left (c->clock_due): it may have waited up to the deadline, so the call
 * ends now rather than let the guest run on past it. */
__attribute__((noinline)) static cis_result host_after(const cis_call *c, cis_result rc) {
  if (c->clock_due && rc == CIS_OK) rc = check_stop(c->ex);
  return rc == CIS_OK ? CIS_OK : host_failed(c->ex, c->caller, c->f, rc);
}

/* Runs host function f on its arguments args (a copy) and results ar. */
static inline cis_result host_run(cis__exec *ex, cis_instance *caller, cis_func *f,
                                  const cis_slot *args, cis_slot *ar) {
  /* A message left by an earlier, handled failure must not be mistaken
   * for this call's own. An instance's message is its own (not kept per
   * thread): test it before writing, so the common case stores nothing. */
  if (ex->top->hdr.errmsg[0]) cis__clear_error(ex->top);
  ex->exn = NULL; /* one in flight now is from a callee of this function */
  cis_call c = {ex, caller, f, false};
  cis_result rc = f->fn(&c, args, ar);
  /* What comes after reads c, nothing kept in registers across the call:
   * fewer to save and restore on every host call. */
  if (__builtin_expect(rc != CIS_OK || c.clock_due, 0)) return host_after(&c, rc);
  return CIS_OK;
}

/* call_host for more parameters than fit on the stack. */
__attribute__((noinline)) static cis_result call_host_many(cis__exec *ex, cis_instance *caller,
                                                           cis_func *f, cis_slot *ar) {
  cis_slot *args = malloc((size_t)f->nparam_slots * sizeof *args);
  if (!args) return cis__fail(ex->top, CIS_ENOMEM, "out of memory calling a host function");
  memcpy(args, ar, (size_t)f->nparam_slots * sizeof *args);
  if (f->nresult_slots) memset(ar, 0, (size_t)f->nresult_slots * sizeof *ar);
  cis_result rc = host_run(ex, caller, f, args, ar);
  free(args);
  return rc;
}

/* Runs host function f with small, room for SMALL_SLOTS slots. Its
 * arguments are copied out first because the callback receives args and
 * results as two arrays while the engine hands us one: a callback writing
 * results[0] before reading args[1] must not see its own output. Results
 * it leaves unwritten read as zero. */
static inline cis_result host_invoke(cis__exec *ex, cis_instance *caller, cis_func *f, cis_slot *ar,
                                     cis_slot *small) {
  uint32_t np = f->nparam_slots, nr = f->nresult_slots;
  if (np > SMALL_SLOTS) return call_host_many(ex, caller, f, ar);
  /* the common counts inline: a call of memcpy or memset costs more */
  if (np <= 2) {
    if (np) small[0] = ar[0];
    if (np == 2) small[1] = ar[1];
  } else {
    memcpy(small, ar, (size_t)np * sizeof *small);
  }
  if (nr == 1) ar[0].u64 = 0;
  else if (nr) memset(ar, 0, (size_t)nr * sizeof *ar);
  return host_run(ex, caller, f, small, ar);
}

/* call_host's long path: the clock is due, the call was cancelled, a
 * message is left on the top instance, or f is not host_short (it takes
 * references, which are pinned: what a host function is handed may be
 * kept by it). */
__attribute__((noinline)) static cis_result call_host_long(cis__exec *ex, cis_instance *caller, cis_func *f,
                                                           cis_slot *ar) {
  exec_rt *x = (exec_rt *)ex;
  if (atomic_load_explicit(&ex->top->cancel, memory_order_relaxed) || x->host_left == 0) {
    x->host_left = HOST_CALLS_PER_CLOCK;
    cis_result rc = check_stop(ex);
    if (rc != CIS_OK) return rc;
  }
  if (f->ref_params && atomic_load_explicit(&((cis__engine_rt *)caller->engine)->gc, memory_order_relaxed))
    cis__gc_pin_slots(caller->engine, f->type->types, f->type->nparams, ar);
  cis_slot small[SMALL_SLOTS];
  return host_invoke(ex, caller, f, ar, small);
}

/* Runs host function f. Out of line, apart from wasm calls, and its long
 * path apart again: nothing its short path holds lives across a call but
 * the host function's, so its frame saves few registers. */
__attribute__((noinline)) static cis_result call_host(cis__exec *ex, cis_instance *caller, cis_func *f, cis_slot *ar) {
  exec_rt *x = (exec_rt *)ex;
  cis_slot small[4];
  /* this frame's address stands for the native stack's depth (no limit: 0) */
  if ((uintptr_t)small < x->cstack_limit) return stack_exhausted(ex, f);
  cis_instance *top = ex->top;
  if (atomic_load_explicit(&top->cancel, memory_order_relaxed) || --x->host_left == 0 || !f->host_short ||
      top->hdr.errmsg[0])
    return call_host_long(ex, caller, f, ar);
  /* host_invoke for at most 4 parameter slots and 1 result slot */
  uint32_t np = f->nparam_slots;
  if (np) {
    small[0] = ar[0];
    if (np > 1) {
      small[1] = ar[1];
      if (np > 2) {
        small[2] = ar[2];
        if (np > 3) small[3] = ar[3];
      }
    }
  }
  if (f->nresult_slots) ar[0].u64 = 0;
  ex->exn = NULL; /* one in flight now is from a callee of this function */
  cis_call c = {ex, caller, f, false};
  cis_result rc = f->fn(&c, small, ar);
  if (__builtin_expect(rc != CIS_OK || c.clock_due, 0)) return host_after(&c, rc);
  return CIS_OK;
}

/* The top-level call x holds engine e's collector from now to its end:
 * its first frames that may hold objects are about to run. */
__attribute__((noinline)) static void hold_top(exec_rt *x, cis_engine *e) {
  cis__gc_call_begin(e);
  x->top_hold.e = e;
}

/* cis__exec_call of a wasm function f. Engines call across instances
 * only through here (and a call starts here), so every instance whose
 * frames may hold objects passes here before it runs. */
__attribute__((noinline)) static cis_result call_wasm(cis__exec *ex, cis_func *f, cis_slot *ar) {
  exec_rt *x = (exec_rt *)ex;
  uintptr_t lim = x->cstack_limit;
  if (lim && (uintptr_t)__builtin_frame_address(0) < lim) return stack_exhausted(ex, f);
  if (ex->depth >= ex->max_depth) return stack_exhausted(ex, f);
  /* Another engine's instances never collect (gc.h): only the top's */
  cis_instance *fi = f->inst;
  if (__builtin_expect(fi->gc_frames, 0) && !x->top_hold.e && fi->engine == ex->top->engine)
    hold_top(x, fi->engine);
  ex->depth++;
  cis_result rc = f->inst->engine->ops->call(ex, f, ar);
  ex->depth--;
  return rc;
}

uintptr_t cis__exec_cstack_limit(const cis__exec *ex) {
  return ((const exec_rt *)ex)->cstack_limit;
}

uint32_t cis__exec_gc_held(const cis__exec *ex, const cis_engine *e) {
  uint32_t n = 0;
  for (const gc_hold *h = ((const exec_rt *)ex)->holds; h; h = h->next) n += h->e == e;
  return n;
}

cis_result cis__exec_call(cis__exec *ex, cis_instance *caller, cis_func *f, cis_slot *ar) {
  if (!f) return cis__fail(ex->top, CIS_TRAP_UNINIT_ELEM, "call of a null function");
  /* Each nested call passes here, and both check the native stack: this
   * bounds native recursion through host functions and engines alike. */
  return f->kind == CIS__FUNC_HOST ? call_host(ex, caller, f, ar) : call_wasm(ex, f, ar);
}

/* ------------------------------------------------------- entry points */

/* Gives inst its value stack, sized by its limits. Kept between calls;
 * replaced when the limit changed. */
static cis_result ensure_stack(cis_instance *inst) {
  uint64_t bytes = inst->limits.max_stack_bytes ? inst->limits.max_stack_bytes
                                                : CIS_DEFAULT_MAX_STACK_BYTES;
  uint64_t slots = bytes / sizeof(cis_slot);
  if (slots == 0) slots = 1;
  if (slots > SIZE_MAX / sizeof(cis_slot)) slots = SIZE_MAX / sizeof(cis_slot);
  if (inst->stack && inst->stack_slots == slots) return CIS_OK;
  cis_slot *s = cis__stack_take(inst->engine, (size_t)slots);
  if (!s) s = malloc((size_t)slots * sizeof *s);
  if (!s)
    return cis__fail(inst, CIS_ENOMEM, "cannot allocate a value stack of %llu bytes",
                     (unsigned long long)bytes);
  cis__stack_give(inst->engine, inst->stack, inst->stack_slots);
  inst->stack = s;
  inst->stack_slots = (size_t)slots;
  return CIS_OK;
}

cis_result cis__exec_value_stack(cis__exec *ex) {
  if (ex->stack) return CIS_OK;
  cis_instance *top = ex->top;
  cis_result rc = ensure_stack(top);
  if (rc != CIS_OK) return rc;
  ex->stack = ex->sp = top->stack;
  ex->stack_end = top->stack + top->stack_slots;
  return CIS_OK;
}

/* The exceptions of top-level call ex of f, which ended with rc (results
 * in ar): an uncaught one is named in the message; an exnref result
 * outlives the call, and so do the call's exceptions then. */
__attribute__((noinline)) static void exns_end(cis__exec *ex, const cis_func *f, const cis_slot *ar, cis_result rc) {
  if (rc == CIS_EXCEPTION && ex->exn) {
    char fn[192];
    cis__fmt_func(fn, sizeof fn, f);
    cis__fail(ex->top, rc, "uncaught exception: %s ended with an exception of %u value slots", fn,
              ex->exn->nslots);
  }
  const cis__functype *t = f->type;
  for (uint32_t i = 0, k = 0; rc == CIS_OK && i < t->nresults; k += 1 + (t->types[t->nparams + i] == CIS__V128), i++)
    if (cis__kind_is_exn(t->types[t->nparams + i])) cis__exn_keep(ex, ar[k].externref);
  cis__exn_call_end(ex);
}

/* Does host function f take or return a reference? */
static bool host_takes_refs(const cis_func *f) {
  const cis__functype *t = f->type;
  for (uint32_t i = 0; i < t->nparams + t->nresults; i++)
    if (cis__vt_is_ref(t->types[i])) return true;
  return false;
}

/* Starts a top-level call of f on inst, in x, which tl_call_enter has
 * made this thread's call (with its native stack limit): fresh deadline,
 * fuel and depth. A cancel that came while no call ran stops this one
 * before it starts (a canceller that got the instance just before its
 * call began must not lose the race to it); the flag is cleared when the
 * call ends, so a cancel reaches the call it was meant for and never a
 * later one. The message of a failure is on inst. */
static cis_result call_top(exec_rt *x, cis_instance *inst, cis_func *f, cis_slot *ar) {
  const cis_limits *l = &inst->limits;
  if (__builtin_expect(inst->active || inst->stack || atomic_load_explicit(&inst->cancel, memory_order_relaxed), 0)) {
    cis_result rc = CIS_OK;
    if (inst->active)
      rc = cis__fail(inst, CIS_ESTATE, "instance is already running a call on another thread");
    else if (atomic_exchange(&inst->cancel, 0))
      rc = cis__fail(inst, CIS_ECANCELED, "call cancelled before it started");
    /* The value stack is made by the first call that enters the
     * interpreter (cis__exec_value_stack); one made before is resized
     * here when the limits changed. */
    else if (inst->stack)
      rc = ensure_stack(inst);
    if (rc != CIS_OK) {
      tl_exec_set(NULL);
      return rc;
    }
  }
  /* Every field, without a memset of the whole: what the call reads. */
  cis__exec *ex = &x->pub;
  ex->top = inst;
  ex->frames = NULL;
  ex->exn = ex->exns = NULL;
  ex->exn_kept = false;
  ex->gc_args = NULL;
  ex->gc_nargs = 0;
  ex->roots = NULL;
  uint64_t now = cis__now_ns();
  uint64_t span = l->timeout_ms > (UINT64_MAX - now) / 1000000u ? UINT64_MAX
                                                                  : l->timeout_ms * 1000000u;
  ex->deadline_ns = l->timeout_ms == 0 || span == UINT64_MAX ? UINT64_MAX : now + span;
  if (inst->deadline_abs && inst->deadline_abs < ex->deadline_ns) ex->deadline_ns = inst->deadline_abs;
  ex->fuel = l->fuel ? l->fuel : UINT64_MAX;
  if (ex->fuel == UINT64_MAX) {
    ex->ticks = CIS__TICK_QUANTUM;
  } else {
    uint64_t give = ex->fuel < CIS__TICK_QUANTUM ? ex->fuel : CIS__TICK_QUANTUM;
    ex->fuel -= give;
    ex->ticks = (int64_t)give;
  }
  ex->depth = 0;
  ex->max_depth = l->max_call_depth ? l->max_call_depth : CIS_DEFAULT_MAX_CALL_DEPTH;
  ex->stack = inst->stack;
  ex->stack_end = inst->stack ? inst->stack + inst->stack_slots : NULL;
  ex->sp = inst->stack;
  /* Held from the first frames that may hold objects on (call_wasm); a
   * host function called at the top with references from the start. */
  x->top_hold.e = f->kind == CIS__FUNC_HOST && host_takes_refs(f) ? inst->engine : NULL;
  x->top_hold.next = NULL;
  x->holds = &x->top_hold;
  x->fuel_given = l->fuel;
  x->timeout_ms = l->timeout_ms;
  /* The start read the clock, which counts as a read: host calls then
   * go HOST_CALLS_PER_CLOCK more before the next; past the deadline
   * already, the first of them ends the call. */
  x->host_left = now >= ex->deadline_ns ? 1 : HOST_CALLS_PER_CLOCK;
  x->quota_cpu = 0;
  x->quota_free = 0;
  x->wait_fn = inst->on_wait;
  if (x->wait_fn) {
    x->wait_user = inst->on_wait_user;
    x->wait_at = inst->wait_after_ns > UINT64_MAX - now ? UINT64_MAX : now + inst->wait_after_ns;
  }

  if (inst->hdr.errmsg[0]) cis__clear_error(inst);
  inst->active = ex;
  /* no collection while frames may hold objects */
  if (x->top_hold.e) cis__gc_call_begin(x->top_hold.e);
  cis_result rc = cis__exec_call(ex, inst, f, ar);
  if (x->top_hold.e) { /* set at the start, or since (call_wasm) */
    if (rc == CIS_OK) cis__gc_pin_slots(inst->engine, f->type->types + f->type->nparams, f->type->nresults, ar);
    cis__gc_call_end(x->top_hold.e);
  }
  tl_exec_set(NULL);
  inst->active = NULL;
  atomic_store(&inst->cancel, 0);
  inst->fuel_left = fuel_left(ex);
  if (__builtin_expect(ex->exns || ex->exn, 0)) exns_end(ex, f, ar, rc);
  if (rc != CIS_OK && !cis_errmsg(inst)[0]) cis__fail(inst, rc, "%s", cis_strerror(rc));
  return rc;
}

/* Joins the call already running on this thread (a host function calling
 * back into wasm). The message of a failure is on the top-level instance;
 * it is copied to inst too when that is another instance. */
static cis_result call_nested(cis__exec *ex, cis_instance *inst, cis_func *f, cis_slot *ar) {
  exec_rt *x = (exec_rt *)ex;
  cis_engine *other = inst->engine != ex->top->engine ? inst->engine : NULL; /* its calls are counted apart */
  gc_hold hold = {.e = other, .next = x->holds};
  if (other) {
    cis__gc_call_begin(other);
    x->holds = &hold;
  }
  cis_result rc = cis__exec_call(ex, inst, f, ar);
  /* the host function that called may keep the results */
  if (rc == CIS_OK) cis__gc_pin_slots(inst->engine, f->type->types + f->type->nparams, f->type->nresults, ar);
  if (other) {
    x->holds = hold.next;
    cis__gc_call_end(other);
  }
  if (rc != CIS_OK && inst != ex->top) cis__fail(inst, rc, "%s", cis_errmsg(ex->top));
  return rc;
}

/* Makes x this thread's call, with its native stack limit from sp, unless
 * one runs already: then returns that one. One look-up of the thread's
 * block for both. */
CIS_OUT_OF_LINE static cis__exec *tl_call_enter(exec_rt *x, uintptr_t sp) {
  tl_calls *t = &tl;
  __asm__("" : "+r"(t)); /* the block's address once: compilers look it up again per branch */
  if (t->exec) return t->exec;
  t->exec = &x->pub;
  x->cstack_limit = native_stack_limit(t, sp);
  return NULL;
}

cis_result cis__call_internal(cis_instance *inst, cis_func *f, cis_slot *ar) {
  exec_rt x;
  cis__exec *ex = tl_call_enter(&x, (uintptr_t)__builtin_frame_address(0));
  return ex ? call_nested(ex, inst, f, ar) : call_top(&x, inst, f, ar);
}

cis_result cis_func_call_slots(cis_instance *inst, cis_func *f, const cis_slot *args,
                               cis_slot *results) {
  if (!inst) return CIS_EINVAL;
  if (!f) return cis__fail(inst, CIS_EINVAL, "function is NULL");
  const cis__functype *t = f->type;
  if ((t->nparams && !args) || (t->nresults && !results))
    return cis__fail(inst, CIS_EINVAL, "argument or result array is NULL");
  uint32_t np = f->nparam_slots, nr = f->nresult_slots;
  size_t n = np > nr ? np : nr;
  cis_slot small[SMALL_SLOTS];
  cis_slot *ar = small;
  if (n > SMALL_SLOTS) {
    ar = malloc(n * sizeof *ar);
    if (!ar) return cis__fail(inst, CIS_ENOMEM, "out of memory for call arguments");
  }
  if (np) memcpy(ar, args, (size_t)np * sizeof *ar);
  cis_result rc = cis__call_internal(inst, f, ar);
  if (rc == CIS_OK && nr) memcpy(results, ar, (size_t)nr * sizeof *ar);
  if (ar != small) free(ar);
  return rc;
}

/* The type a cis_val carries for value i of f's signature: GC's any
 * hierarchy (references to struct and array types included) is
 * CIS_ANYREF, the bottoms of func and extern are theirs; 0 when none.
 * Numbers are their own (api_type's fast path); references take this. */
__attribute__((noinline)) static uint8_t api_type_ref(const cis_func *f, uint32_t i) {
  uint8_t t = f->type->types[i];
  uint32_t vt = f->type->vts ? f->type->vts[i] : t;
  if (cis__vt_has_idx(vt) && f->kind == CIS__FUNC_WASM && cis__vt_idx(vt) < f->inst->m->ntypes &&
      !cis__is_functype(&f->inst->m->types[cis__vt_idx(vt)]))
    return CIS__ANYREF;
  if (t == CIS__NULLFUNCREF) return CIS__FUNCREF;
  if (t == CIS__NULLEXTERNREF) return CIS__EXTERNREF;
  if (cis__kind_is_gc(t)) return CIS__ANYREF;
  bool ok = t == CIS__V128 || t == CIS__FUNCREF || t == CIS__EXTERNREF || cis__kind_is_exn(t);
  return ok ? t : 0;
}

static inline uint8_t api_type(const cis_func *f, uint32_t i) {
  uint8_t t = f->type->types[i];
  return t == CIS__I32 || t == CIS__I64 || t == CIS__F32 || t == CIS__F64 ? t : api_type_ref(f, i);
}

cis_result cis_func_call(cis_instance *inst, cis_func *f, const cis_val *args, size_t nargs,
                         cis_val *results, size_t nresults) {
  if (!inst) return CIS_EINVAL;
  if (!f) return cis__fail(inst, CIS_EINVAL, "function is NULL");
  const cis__functype *t = f->type;
  if (nargs != t->nparams)
    return cis__fail(inst, CIS_EINVAL, "function takes %u arguments, %zu given", t->nparams,
                     nargs);
  if (nresults != t->nresults)
    return cis__fail(inst, CIS_EINVAL, "function returns %u results, room for %zu given",
                     t->nresults, nresults);
  if ((nargs && !args) || (nresults && !results))
    return cis__fail(inst, CIS_EINVAL, "argument or result array is NULL");
  for (uint32_t i = 0; i < t->nparams + t->nresults; i++)
    if (!api_type(f, i))
      return cis__fail(inst, CIS_EINVAL, "value type 0x%02x cannot cross the API",
                       t->types[i]);
  for (size_t i = 0; i < nargs; i++)
    if ((unsigned)args[i].type != api_type(f, (uint32_t)i))
      return cis__fail(inst, CIS_EINVAL, "argument %zu has type 0x%02x, the function wants 0x%02x",
                       i, (unsigned)args[i].type, api_type(f, (uint32_t)i));
  size_t n = f->nparam_slots > f->nresult_slots ? f->nparam_slots : f->nresult_slots;
  cis_slot small[SMALL_SLOTS];
  cis_slot *ar = small;
  if (n > SMALL_SLOTS) {
    ar = malloc(n * sizeof *ar);
    if (!ar) return cis__fail(inst, CIS_ENOMEM, "out of memory for call arguments");
  }
  for (size_t i = 0, k = 0; i < nargs; i++) {
    if (t->types[i] == CIS__V128) { /* two slots, low 8 bytes first */
      memcpy(&ar[k], args[i].v128, 16);
      k += 2;
      continue;
    }
    ar[k] = args[i].of;
    /* i32 and f32 live in the low half; keep the high half zero. */
    if (t->types[i] == CIS__I32 || t->types[i] == CIS__F32) ar[k].u64 = ar[k].u32;
    k++;
  }
  cis_result rc = cis__call_internal(inst, f, ar);
  if (rc == CIS_OK)
    for (size_t i = 0, k = 0; i < nresults; i++) {
      uint8_t rt = t->types[t->nparams + i];
      memset(&results[i], 0, sizeof results[i]);
      results[i].type = (cis_valtype)api_type(f, t->nparams + (uint32_t)i);
      if (rt == CIS__V128) {
        memcpy(results[i].v128, &ar[k], 16);
        k += 2;
        continue;
      }
      results[i].of = ar[k];
      if (rt == CIS__I32 || rt == CIS__F32) results[i].of.u64 = ar[k].u32;
      k++;
    }
  if (ar != small) free(ar);
  return rc;
}

/* ------------------------------------------------- cancel and fuel */

void cis_instance_cancel(cis_instance *inst) {
  if (!inst) return;
  atomic_store(&inst->cancel, 1);
  /* Counted in while it may write the call's flag: an unlink waits for it,
   * as the flag may end with the call's frame. */
  atomic_fetch_add(&inst->cancel_users, 1);
  atomic_int *too = atomic_load(&inst->cancel_too);
  if (too) atomic_store(too, 1);
  atomic_fetch_sub(&inst->cancel_users, 1);
}

void cis__callctx_link_instance(cis__callctx *x, cis_instance *inst) {
  if (!inst) return;
  atomic_store(&inst->cancel_too, x ? &x->cancel : NULL);
  inst->cancel_ext = x ? x->cancel_ext : NULL;
  /* A cancel that read the old flag before this store has not written it
   * yet only while it is counted in: the old flag stays valid until then. */
  for (unsigned spins = 0; atomic_load(&inst->cancel_users); spins++)
    if (spins > 64) sched_yield();
}

void cis_instance_quota(cis_instance *inst, unsigned permille) {
  if (inst) atomic_store_explicit(&inst->quota, permille, memory_order_relaxed);
}

uint64_t cis_instance_fuel_left(const cis_instance *inst) { return inst ? inst->fuel_left : 0; }

void cis_instance_set_deadline(cis_instance *inst, uint64_t monotonic_ns) {
  if (inst) inst->deadline_abs = monotonic_ns;
}

void cis_instance_on_wait(cis_instance *inst, void (*fn)(void *user, cis_wait why), void *user, uint64_t after_us) {
  if (!inst) return;
  inst->on_wait = fn;
  inst->on_wait_user = fn ? user : NULL;
  inst->wait_after_ns = after_us > UINT64_MAX / 1000u ? UINT64_MAX : after_us * 1000u;
}

/* ------------------------------------------------- host call context */

cis_instance *cis_call_instance(cis_call *c) { return c ? c->caller : NULL; }
void *cis_call_user(cis_call *c) { return c ? c->f->user : NULL; }

uint64_t cis_call_remaining_ms(cis_call *c) {
  if (!c) return UINT64_MAX;
  exec_rt *x = (exec_rt *)c->ex;
  /* The host function is about to wait, bounded by what this returns. */
  if (x->wait_fn) tell_wait(x, CIS_WAIT_HOST);
  c->clock_due = true;
  if (c->ex->deadline_ns == UINT64_MAX) return UINT64_MAX;
  uint64_t now = cis__now_ns();
  if (now >= c->ex->deadline_ns) return 0;
  return (c->ex->deadline_ns - now + 999999u) / 1000000u;
}

cis_result cis_call_check(cis_call *c) { return c ? check_stop(c->ex) : CIS_EINVAL; }

cis_result cis_call_fail(cis_call *c, cis_result code, const char *fmt, ...) {
  if (!c) return code;
  va_list ap;
  va_start(ap, fmt);
  cis__vfail(c->ex->top, code, fmt, ap);
  va_end(ap);
  return code;
}
