/*
 * This file declares the call context: what one skill call carries
 * through every service it reaches (KV, the database filesystem, the
 * host functions): its absolute deadline, its cancel flag, its principal,
 * its error (code, stage, message), its counts and its transaction. A service bound to a
 * context reads the deadline from it at each backend step, so nothing
 * re-arms a timeout per call; the call's failures are written into it
 * once, and the result is filled from it at the end (src/skill/stage.c).
 */
#ifndef CIS_COMMON_CALLCTX_H
#define CIS_COMMON_CALLCTX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cis/cis.h"
#include "common/internal.h"

/* What one call did through the host functions: the counts its result
 * reports (cis_invoke_stats). Kept on the call's thread. */
typedef struct cis__callstats {
  uint32_t kv_gets, kv_sets, kv_deletes; /* KV operations */
  uint32_t ai_calls;                     /* AI requests sent */
  uint64_t ai_tokens;                    /* total tokens reported */
  uint32_t http_calls;                   /* HTTP requests sent */
  uint32_t log_lines;                    /* log calls */
  uint32_t host_calls;                   /* every host function call */
} cis__callstats;

typedef struct cis__callctx {
  uint64_t deadline_ns;     /* cis__now_ns() time the call ends; UINT64_MAX: none */
  atomic_int cancel;        /* set by cis__callctx_cancel, from any thread */
  const int *cancel_ext;    /* the caller's flag (cis_invoke_options.cancel), read
                               atomically; NULL: none */
  cis_principal who;        /* tenant and skill (borrowed for the call) */
  int stage;                /* the stage running now (a cis_stage; 0 outside a skill call):
                               the one a failure is reported in */
  cis_result code;          /* the failure written by cis__callctx_fail; CIS_OK: none */
  char msg[CIS_ERRMSG_MAX]; /* its message ("" when none) */
  cis__callstats stats;     /* its counts, kept by the host functions (src/host) */
  struct cis__db_txn *txn;  /* the call's transaction (db/db_txn.h), which KV offers and
                               the db mounts on its database join; NULL: none */
} cis__callctx;

/* Whether x's call was cancelled (x NULL: no). Safe from any thread. */
static inline bool cis__callctx_cancelled(const cis__callctx *x) {
  return x && (atomic_load_explicit(&x->cancel, memory_order_relaxed) ||
               (x->cancel_ext && __atomic_load_n(x->cancel_ext, __ATOMIC_RELAXED)));
}
/* Makes cis_instance_cancel(inst) cancel x's call too (x NULL: no more),
 * so that a cancel of the guest (an embedder's, MCP's
 * notifications/cancelled) also ends the waits and steps of the services
 * bound to x; and x's caller's flag (cancel_ext) stop inst's calls at
 * their clock checks. The instance's own flag ends with each of its calls; x's
 * lasts for the skill call, its commit included. Linked before inst is
 * handed to another thread, unlinked once it is taken back. The runtime
 * implements it (src/runtime/exec.c, beside cis_instance_cancel). */
void cis__callctx_link_instance(cis__callctx *x, cis_instance *inst);

/* Sets x up for a call that ends at deadline_ns (UINT64_MAX: none) on
 * behalf of who (may be NULL; its strings are borrowed). */
void cis__callctx_init(cis__callctx *x, uint64_t deadline_ns, const cis_principal *who);
/* Records the call's failure: code and message; a later failure replaces
 * an earlier one (the last word is the one the caller sees). Returns code. */
cis_result cis__callctx_fail(cis__callctx *x, cis_result code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Asks the call to stop: the next backend step of a bound service ends
 * with CIS_ECANCELED. Safe from any thread. */
void cis__callctx_cancel(cis__callctx *x);
/* Stops reading the caller's flag (cancel_ext), keeping a cancel it
 * already made: from here on only the call itself cancels x (its commit
 * must not be cut between two databases). On the call's thread. */
void cis__callctx_stop_ext(cis__callctx *x);
/* The deadline a backend step of the call runs under: the call's, or 0
 * (already past) once the call is cancelled; UINT64_MAX for x NULL. */
uint64_t cis__callctx_deadline(const cis__callctx *x);

#endif /* CIS_COMMON_CALLCTX_H */
