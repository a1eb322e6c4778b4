/*
 * This file implements the error table's lookups (cis_strerror, cis_errname)
 * and the per-handle error messages behind cis_errmsg. Everything here is
 * generated from include/cis/errors.def so the three never disagree.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/internal.h"

const char *cis_version(void) { return CIS_VERSION_STRING; }

const char *cis_strerror(cis_result r) {
  switch (r) {
  case CIS_OK: return "ok";
#define CIS_ERR(name, code, msg) case CIS_##name: return msg;
#include "cis/errors.def"
#undef CIS_ERR
  default: return "unknown error";
  }
}

const char *cis_errname(cis_result r) {
  switch (r) {
  case CIS_OK: return "CIS_OK";
#define CIS_ERR(name, code, msg) case CIS_##name: return "CIS_" #name;
#include "cis/errors.def"
#undef CIS_ERR
  default: return "CIS_EUNKNOWN";
  }
}

bool cis_is_trap(cis_result r) { return r <= -400 && r > -500; }

/* Handles shared between threads (engine, kv, ai, http, skills) keep their
 * message per thread and per handle: a small table per thread, keyed by the
 * handle's id. When more shared handles than it holds fail on one thread,
 * the one whose message was set longest ago loses it. */
#define TL_SLOTS 16

typedef struct tl_slot {
  uint64_t id;                 /* handle id; 0 = free */
  uint64_t stamp;              /* when the message was last set (per-thread tick) */
  char msg[CIS_ERRMSG_MAX];    /* the message */
} tl_slot;

static _Thread_local tl_slot tl_slots[TL_SLOTS];
static _Thread_local uint64_t tl_tick;
static _Atomic uint64_t next_id = CIS__ID_RESERVED;

/* The thread's slot for id; with create, a free or the oldest one is
 * taken over. NULL when absent and !create. */
static tl_slot *tl_find(uint64_t id, bool create) {
  tl_slot *old = &tl_slots[0];
  for (int i = 0; i < TL_SLOTS; i++) {
    if (tl_slots[i].id == id) return &tl_slots[i];
    if (tl_slots[i].stamp < old->stamp) old = &tl_slots[i];
  }
  if (!create) return NULL;
  old->id = id;
  old->msg[0] = '\0';
  return old;
}

/* The messages of the calls that took no handle, per thread. */
enum { CIS__H_THREAD = 0x54485231 };
cis__handle cis__no_handle = {.kind = CIS__H_THREAD};
static _Thread_local char tl_no_handle[CIS_ERRMSG_MAX];

static bool is_shared(const cis__handle *hd) { return hd->kind == CIS__H_SHARED && !hd->failed; }

const char *cis_errmsg(const void *handle) {
  if (!handle || handle == &cis__no_handle) return tl_no_handle;
  const cis__handle *hd = handle;
  if (!is_shared(hd) || !hd->id) return hd->errmsg;
  tl_slot *sl = hd->id ? tl_find(hd->id, false) : NULL;
  return sl ? sl->msg : "";
}

uint64_t cis__unique_id(void) {
  /* Taken in blocks per thread: one shared counter bumped by every handle
   * (instances, memories, logs: several per skill call) would be a cache
   * line two threads' calls fight over. */
  enum { ID_BLOCK = 1024 };
  static _Thread_local uint64_t id_next, id_end;
  if (id_next == id_end) {
    id_next = atomic_fetch_add(&next_id, ID_BLOCK);
    id_end = id_next + ID_BLOCK;
  }
  return id_next++;
}

void cis__handle_init(cis__handle *h, uint32_t kind) {
  h->kind = kind;
  h->failed = CIS_OK;
  h->id = cis__unique_id();
  h->errmsg[0] = '\0';
}

cis_result cis__handle_failed(void *h, cis_result code) {
  cis__handle *hd = h;
  /* A shared handle's message is in this thread's slot: the shell keeps
   * it itself, so any thread reads it and no other failure evicts it. */
  const char *msg = cis_errmsg(hd);
  if (msg != hd->errmsg) {
    snprintf(hd->errmsg, sizeof hd->errmsg, "%s", msg);
    cis__clear_error(hd);
  }
  if (!hd->errmsg[0]) snprintf(hd->errmsg, sizeof hd->errmsg, "%s", cis_strerror(code));
  hd->failed = code;
  return code;
}

void cis__clear_error(void *h) {
  if (!h) return;
  cis__handle *hd = h;
  if (hd == &cis__no_handle) {
    tl_no_handle[0] = '\0';
    return;
  }
  if (!is_shared(hd) || !hd->id) {
    hd->errmsg[0] = '\0';
    return;
  }
  tl_slot *sl = hd->id ? tl_find(hd->id, false) : NULL;
  if (sl) sl->msg[0] = '\0';
}

/* Where h's next message goes. */
static char *msg_buf(cis__handle *hd) {
  if (hd == &cis__no_handle) return tl_no_handle;
  if (!is_shared(hd) || !hd->id) return hd->errmsg; /* id 0: never initialised */
  tl_slot *sl = tl_find(hd->id, true);
  sl->stamp = ++tl_tick;
  return sl->msg;
}

cis_result cis__vfail(void *h, cis_result code, const char *fmt, va_list ap) {
  if (h) {
    /* The message may quote the handle's own (cis_errmsg(h)): format
     * aside, then copy. */
    char tmp[CIS_ERRMSG_MAX];
    if (fmt) vsnprintf(tmp, sizeof tmp, fmt, ap);
    else snprintf(tmp, sizeof tmp, "%s", cis_strerror(code));
    memcpy(msg_buf(h), tmp, sizeof tmp);
  }
  return code;
}

cis_result cis__fail(void *h, cis_result code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cis__vfail(h, code, fmt, ap);
  va_end(ap);
  return code;
}

uint64_t cis__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t cis__deadline_from(uint64_t start_ns, uint64_t ms) {
  if (ms >= (UINT64_MAX - start_ns) / 1000000u) return UINT64_MAX;
  return start_ns + ms * 1000000u;
}

uint64_t cis__deadline_after(uint64_t timeout_ms, uint64_t cap_ms) {
  uint64_t ms = timeout_ms;
  if (cap_ms && cap_ms < ms) ms = cap_ms;
  return cis__deadline_from(cis__now_ns(), ms);
}

void cis__timespec_after(clockid_t clock, uint64_t ms, struct timespec *out) {
  clock_gettime(clock, out);
  out->tv_sec += (time_t)(ms / 1000);
  out->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (out->tv_nsec >= 1000000000L) {
    out->tv_sec++;
    out->tv_nsec -= 1000000000L;
  }
}

uint64_t cis__ms_left(uint64_t deadline_ns) {
  if (deadline_ns == UINT64_MAX) return UINT64_MAX;
  uint64_t now = cis__now_ns();
  if (now >= deadline_ns) return 0;
  return (deadline_ns - now + 999999u) / 1000000u;
}
