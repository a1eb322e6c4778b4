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

#include "cis/cis.h"

#define CIS_ERRMSG_MAX 512

/* Kinds of handle, so cis_errmsg can tell them apart. */
enum {
  CIS__H_ENGINE = 0x45474e31,   /* errors kept per thread */
  CIS__H_MODULE = 0x4d4f4431,
  CIS__H_INSTANCE = 0x494e5331,
  CIS__H_OTHER = 0x4f544831,
};

/* First member of every public handle struct. */
typedef struct cis__handle {
  uint32_t kind;                 /* CIS__H_* */
  char errmsg[CIS_ERRMSG_MAX];   /* last error message; "" when none */
} cis__handle;

/* Sets h's message (formatted) and returns code. h may be NULL. For an
 * engine handle the message goes to the calling thread's engine slot. */
cis_result cis__fail(void *h, cis_result code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
cis_result cis__vfail(void *h, cis_result code, const char *fmt, va_list ap);
/* Clears h's message. */
void cis__clear_error(void *h);
/* Initialises a handle header. */
void cis__handle_init(cis__handle *h, uint32_t kind);

#define CIS_TRY(expr)              \
  do {                             \
    rc = (expr);                   \
    if (rc != CIS_OK) goto fail;   \
  } while (0)

#define CIS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Monotonic clock in nanoseconds. */
uint64_t cis__now_ns(void);

#endif /* CIS_COMMON_INTERNAL_H */
