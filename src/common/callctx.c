/*
 * This file implements the call context (callctx.h): one skill call's
 * deadline, cancel flag, principal, error and counts, read by the
 * services the call reaches.
 */
#include <stdarg.h>
#include <stdio.h>

#include "common/callctx.h"
#include "common/internal.h"

void cis__callctx_init(cis__callctx *x, uint64_t deadline_ns, const cis_principal *who) {
  x->deadline_ns = deadline_ns;
  atomic_init(&x->cancel, 0);
  x->cancel_ext = NULL;
  x->who = who ? *who : (cis_principal){0};
  x->stage = 0;
  x->code = CIS_OK;
  x->msg[0] = '\0';
  x->stats = (cis__callstats){0};
  x->txn = NULL;
}

cis_result cis__callctx_fail(cis__callctx *x, cis_result code, const char *fmt, ...) {
  x->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->msg, sizeof x->msg, fmt, ap);
  va_end(ap);
  return code;
}

void cis__callctx_cancel(cis__callctx *x) {
  if (x) atomic_store(&x->cancel, 1);
}

void cis__callctx_stop_ext(cis__callctx *x) {
  if (!x || !x->cancel_ext) return;
  if (__atomic_load_n(x->cancel_ext, __ATOMIC_RELAXED)) atomic_store(&x->cancel, 1);
  x->cancel_ext = NULL;
}

uint64_t cis__callctx_deadline(const cis__callctx *x) {
  if (!x) return UINT64_MAX;
  return cis__callctx_cancelled(x) ? 0 : x->deadline_ns;
}
