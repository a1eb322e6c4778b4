/*
 * This file declares what every part of libcis shares: the handle header
 * that carries a handle's last error message, the helpers that set it, and
 * the CIS_TRY clean-up convention.
 *
 * Convention: a fallible function keeps one `fail:` label; CIS_TRY(expr)
 * stores the result in a local `rc` and jumps there on error.
 */
#ifndef CIS_COMMON_INTERNAL_H
#define CIS_COMMON_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cis/cis.h"

#define CIS_ERRMSG_MAX 512

/* Kinds of handle, so cis_errmsg can tell them apart. */
enum {
  CIS__H_ENGINE = 0x45474e31,   /* shared between threads: message per thread and per handle */
  CIS__H_SHARED = CIS__H_ENGINE, /* the same rule, for the services (kv, ai, http, skills) */
  CIS__H_MODULE = 0x4d4f4431,
  CIS__H_INSTANCE = 0x494e5331,
  CIS__H_OTHER = 0x4f544831,
};

/* First member of every public handle struct. */
typedef struct cis__handle {
  uint32_t kind;                 /* CIS__H_* */
  cis_result failed;             /* the constructor's code when it failed (the handle is then
                                    a shell: message in errmsg, for every thread), else 0 */
  uint64_t id;                   /* unique for the process's life (never reused, unlike the
                                    address): keys a shared handle's per-thread slot */
  char errmsg[CIS_ERRMSG_MAX];   /* last error message; "" when none (unused when shared) */
} cis__handle;

/* Ids below this are never handed out by cis__handle_init. */
enum { CIS__ID_RESERVED = 64 };

/* Where a public call that takes no handle (cis_key_create, cis_skill_sign,
 * cis_vfs_db_tenant_delete, ...) puts its message: the calling thread's,
 * read with cis_errmsg(NULL). Pass it to cis__fail as the handle. */
extern cis__handle cis__no_handle;

/* Sets h's message (formatted) and returns code. h may be NULL. For a
 * shared handle (CIS__H_SHARED) the message goes to the calling thread's
 * slot for that handle, so neither another thread nor another handle's
 * failure overwrites it. */
cis_result cis__fail(void *h, cis_result code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
cis_result cis__vfail(void *h, cis_result code, const char *fmt, va_list ap);
/* Clears h's message. */
void cis__clear_error(void *h);
/* Ends a failed constructor: h becomes a shell in the failed state, its
 * message (set by cis__fail on this thread) kept on the handle for every
 * thread; returns code. The caller has released all but the shell, which
 * the handle's free function then frees. */
cis_result cis__handle_failed(void *h, cis_result code);
/* The code h's constructor failed with, or CIS_OK. A public call on a
 * failed handle returns CIS_ESTATE and leaves its message (why the
 * constructor failed) as it is. */
static inline cis_result cis__handle_failure(const void *h) {
  return h ? ((const cis__handle *)h)->failed : CIS_OK;
}
/* Initialises a handle header. */
void cis__handle_init(cis__handle *h, uint32_t kind);
/* A number no other call in this process gets (handle ids, call ids),
 * above CIS__ID_RESERVED; threads take them without sharing a write. */
uint64_t cis__unique_id(void);

#define CIS_TRY(expr)              \
  do {                             \
    rc = (expr);                   \
    if (rc != CIS_OK) goto fail;   \
  } while (0)

#define CIS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Bytes that keep a field every thread writes (a reference count, a lock)
 * off the cache line of fields every thread only reads: a write by one
 * core would otherwise evict those reads' line from the others' caches.
 * Padding rather than alignas, since handles come from malloc. */
#define CIS__CACHE_LINE 64
#define CIS__PAD(name) char name[CIS__CACHE_LINE]

/* Monotonic clock in nanoseconds. */
uint64_t cis__now_ns(void);
/* Absolute deadline (cis__now_ns() time) for a call given the caller's
 * remaining time in ms (UINT64_MAX = none) and a service's own cap (0 =
 * none); UINT64_MAX when there is none or it would overflow. */
uint64_t cis__deadline_after(uint64_t timeout_ms, uint64_t cap_ms);
/* Absolute deadline ms milliseconds after start_ns (a cis__now_ns()
 * time); UINT64_MAX when ms is UINT64_MAX or it would overflow. */
uint64_t cis__deadline_from(uint64_t start_ns, uint64_t ms);
/* Milliseconds left before deadline_ns, rounded up; 0 when past,
 * UINT64_MAX for no deadline. */
uint64_t cis__ms_left(uint64_t deadline_ns);
/* The time ms milliseconds from now on clock, for the timed waits of
 * pthreads (CLOCK_REALTIME for mutexes, the condition's clock for
 * conditions). ms up to UINT64_MAX stays within time_t. */
void cis__timespec_after(clockid_t clock, uint64_t ms, struct timespec *out);
/* Milliseconds clamped to what an int holds, for APIs that take one
 * (poll, SQLite's busy timeout). */
static inline int cis__ms_int(uint64_t ms) { return ms > (uint64_t)INT32_MAX ? INT32_MAX : (int)ms; }

/* FNV-1a of p[0..n), continuing from h (0 starts a new hash): for the
 * project's small tables, whose lookups compare the keys themselves (no
 * defence against chosen collisions is asked of it). */
static inline uint64_t cis__hash_bytes(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  if (h == 0) h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

#endif /* CIS_COMMON_INTERNAL_H */
