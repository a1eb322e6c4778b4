/*
 * This file implements the error table's lookups (cis_strerror, cis_errname)
 * and the per-handle error messages behind cis_errmsg. Everything here is
 * generated from include/cis/errors.def so the three never disagree.
 */
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

/* Engine handles are shared between threads, so their message is kept per
 * thread rather than on the handle. */
static _Thread_local char engine_errmsg[CIS_ERRMSG_MAX];

static char *errmsg_buf(void *h) {
  cis__handle *hd = h;
  return hd->kind == CIS__H_ENGINE ? engine_errmsg : hd->errmsg;
}

const char *cis_errmsg(const void *handle) {
  if (!handle) return "";
  return errmsg_buf((void *)handle);
}

void cis__handle_init(cis__handle *h, uint32_t kind) {
  h->kind = kind;
  h->errmsg[0] = '\0';
}

void cis__clear_error(void *h) {
  if (h) errmsg_buf(h)[0] = '\0';
}

cis_result cis__vfail(void *h, cis_result code, const char *fmt, va_list ap) {
  if (h) {
    char *buf = errmsg_buf(h);
    if (fmt) vsnprintf(buf, CIS_ERRMSG_MAX, fmt, ap);
    else snprintf(buf, CIS_ERRMSG_MAX, "%s", cis_strerror(code));
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

uint64_t cis__deadline_after(uint64_t timeout_ms, uint64_t cap_ms) {
  uint64_t ms = timeout_ms;
  if (cap_ms && cap_ms < ms) ms = cap_ms;
  uint64_t now = cis__now_ns();
  if (ms >= (UINT64_MAX - now) / 1000000u) return UINT64_MAX;
  return now + ms * 1000000u;
}

uint64_t cis__ms_left(uint64_t deadline_ns) {
  if (deadline_ns == UINT64_MAX) return UINT64_MAX;
  uint64_t now = cis__now_ns();
  if (now >= deadline_ns) return 0;
  return (deadline_ns - now + 999999u) / 1000000u;
}
