/*
 * This file implements exception handling's runtime objects (WebAssembly
 * 3.0): tags, and the exception objects that throw makes and exnref
 * values point to, with their lifetime.
 *
 * A tag is an instance's (its definition) or imported, and is the same
 * object everywhere it is imported: catching compares tag pointers. It is
 * counted by the instances that hold it and by every exception carrying
 * it, so an exception outlives the instance whose tag it has.
 *
 * Exception objects have no collector behind them. Each is made during a
 * top-level call (cis__exec) and listed there, charged to the account of
 * the call's instance, and the call's end frees its list: no frame is left
 * to hold an exnref by then. Two cases shorten or lengthen that life:
 *   - an exception that no code ever saw as a value (thrown by throw and
 *     caught by a catch that does not take the exnref) is freed as soon as
 *     it is caught, so a loop that throws and catches runs in constant
 *     memory;
 *   - an exnref written where it outlives the call (a global, a table, a
 *     result of the top-level call) marks the call (cis__exn_keep): its
 *     whole list then moves to the engine, which frees it when it is freed
 *     itself (as it does pinned instances). Which exception a kept one
 *     carries among its own values need not be traced that way.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/rt_internal.h"

/* ------------------------------------------------------------------ tags */

cis_result cis__tag_create(uint32_t type_id, const cis__functype *type, cis_tag **out) {
  cis_tag *t = calloc(1, sizeof *t);
  *out = NULL;
  if (!t) return CIS_ENOMEM;
  atomic_init(&t->refs, 1);
  t->type_id = type_id;
  t->nslots = cis__type_slots(type->types, type->nparams);
  *out = t;
  return CIS_OK;
}

cis_tag *cis__tag_ref(cis_tag *t) {
  if (t) atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
  return t;
}

void cis__tag_free(cis_tag *t) {
  if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) free(t);
}

/* ------------------------------------------------------------ exceptions */

/* What an exception of n value slots is charged. */
static uint64_t exn_bytes(uint32_t n) { return sizeof(cis__exn) + (uint64_t)n * sizeof(cis_slot); }

static void exn_destroy(cis__exn *e) {
  cis__account_uncharge(e->acct, exn_bytes(e->nslots), CIS__CHARGE_OTHER);
  cis__account_free(e->acct);
  cis__tag_free(e->tag);
  free(e);
}

cis_result cis__exn_new(cis__exec *ex, cis_tag *tag, cis__exn **out) {
  cis__account *a = ex->top->acct;
  uint64_t bytes = exn_bytes(tag->nslots);
  *out = NULL;
  if (!cis__account_charge(a, bytes, CIS__CHARGE_OTHER))
    return cis__fail(ex->top, CIS_EMEMLIMIT,
                     "memory limit exceeded: an exception of %llu bytes passes the limit of %llu bytes",
                     (unsigned long long)bytes, (unsigned long long)ex->top->limits.max_memory_bytes);
  cis__exn *e = malloc((size_t)bytes);
  if (!e) {
    cis__account_uncharge(a, bytes, CIS__CHARGE_OTHER);
    return cis__fail(ex->top, CIS_ENOMEM, "out of memory making an exception");
  }
  e->tag = cis__tag_ref(tag);
  e->acct = cis__account_ref(a);
  e->nslots = tag->nslots;
  e->fresh = true;
  e->prev = NULL;
  e->next = ex->exns;
  if (ex->exns) ex->exns->prev = e;
  ex->exns = e;
  *out = e;
  return CIS_OK;
}

void cis__exn_caught(cis__exec *ex, cis__exn *e, bool as_value) {
  if (as_value) {
    e->fresh = false;
    return;
  }
  if (!e->fresh) return;
  /* Nothing but the unwinding that just ended ever held it. */
  if (e->prev) e->prev->next = e->next;
  else ex->exns = e->next;
  if (e->next) e->next->prev = e->prev;
  exn_destroy(e);
}

void cis__exn_free_list(cis__exn *list) {
  while (list) {
    cis__exn *next = list->next;
    exn_destroy(list);
    list = next;
  }
}

void cis__exn_call_end(cis__exec *ex) {
  cis__exn *list = ex->exns;
  ex->exns = NULL;
  ex->exn = NULL;
  if (!list) return;
  if (ex->exn_kept) {
    cis__engine_rt *r = (cis__engine_rt *)ex->top->engine;
    cis__exn *last = list;
    while (last->next) last = last->next;
    pthread_mutex_lock(&r->pin_lock);
    last->next = r->kept_exns;
    if (r->kept_exns) r->kept_exns->prev = last;
    r->kept_exns = list;
    pthread_mutex_unlock(&r->pin_lock);
    return;
  }
  cis__exn_free_list(list);
}
