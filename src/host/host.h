/*
 * This file declares the skill host API core: the per-call context that
 * every ABI binding works on, and the one implementation of each host
 * service call (KV, AI, HTTP, log, input, output). The bindings for the
 * `cis` (seed 001), `env` (seed 002) and `cis_v1` modules are thin shims:
 * they turn guest pointers into checked host buffers, call one function
 * here, and encode the answer the way their ABI says (docs/abi.md).
 *
 * The host owns no policy: what a call may do is decided by src/skill/ and
 * arrives here as a filled cis__host_ctx (NULL service = not granted).
 */
#ifndef CIS_HOST_HOST_H
#define CIS_HOST_HOST_H

#include "cis/cis.h"
#include "cis/cis_ai.h"
#include "cis/cis_http.h"
#include "cis/cis_log.h"
#include "common/callctx.h"

/* Guest-visible error codes (docs/abi.md). */
enum {
  CIS_G_NOT_FOUND = -1,
  CIS_G_DENIED = -2,
  CIS_G_TOO_LARGE = -3,
  CIS_G_TIMEOUT = -4,
  CIS_G_UNAVAILABLE = -5,
  CIS_G_INVALID = -6,
  CIS_G_NO_PROVIDER = -7,
  CIS_G_UPSTREAM = -8,
  CIS_G_QUOTA = -9,
  CIS_G_NO_ALLOCATOR = -10,
  CIS_G_ALLOC_FAILED = -11,
  CIS_G_INTERNAL = -12,
};

/* The KV operations a call may use, bound to that call's transaction by
 * src/skill/. get returns a malloc'd value (caller frees). */
typedef struct cis__host_kv {
  void *txn; /* the call's transaction */
  cis_result (*get)(void *txn, const void *key, size_t klen, uint8_t **val, size_t *vlen);
  cis_result (*set)(void *txn, const void *key, size_t klen, const void *val, size_t vlen);
  cis_result (*del)(void *txn, const void *key, size_t klen);
  /* Atomic operations (cis_kv_increment, cis_kv_cas; expect NULL = absent). */
  cis_result (*incr)(void *txn, const void *key, size_t klen, int64_t delta, int64_t *out);
  cis_result (*cas)(void *txn, const void *key, size_t klen, const void *expect, size_t elen,
                    const void *val, size_t vlen, bool *swapped);
} cis__host_kv;

/* Everything one skill call may reach. Attached to the instance with
 * cis_instance_set_user; host functions find it from their cis_call. */
typedef struct cis__host_ctx {
  cis_principal who;          /* tenant and skill */
  cis__host_kv *kv;           /* NULL = KV not granted */
  cis_ai *ai;                 /* NULL = AI not granted */
  cis_http *http;             /* NULL = HTTP not granted */
  const cis_http_policy *http_policy; /* allow-list; NULL = deny all */
  cis_log_call *log;          /* the call's log; NULL = none at all */
  bool guest_log;             /* the skill may write to log (permissions.log);
                                 the host's own warn lines go there either way */
  /* The operator's settings of this call (config_get): the value of key
   * (malloc'd, caller frees) or CIS_ENOTFOUND. NULL = no settings. */
  cis_result (*config_get)(void *user, const char *key, size_t klen, char **val, size_t *vlen);
  void *config_user;          /* passed to config_get */

  const uint8_t *input;       /* the call's JSON input */
  size_t input_len;
  uint8_t *output;            /* chunks written with output_write (owned) */
  size_t output_len, output_alloc;
  size_t max_output;          /* cap on output bytes */
  size_t max_result;          /* cap on one AI/HTTP answer handed to the guest */

  /* An answer that did not fit the guest's buffer, kept for the retry. */
  uint8_t *pending;           /* owned */
  size_t pending_len;
  uint64_t pending_key;       /* hash of the request that produced it */

  int32_t last_error;         /* guest code of the last failed call; 0 after success */
  char errmsg[256];           /* its message (cis_v1.error_message) */
  cis__callctx *call;         /* the call it serves: where its counts go (stats) */
} cis__host_ctx;

/* Which import modules to provide. */
enum {
  CIS__ABI_MOD_CIS = 1u << 0,  /* seed 001 "cis" */
  CIS__ABI_MOD_ENV = 1u << 1,  /* seed 002 "env" host_* */
  CIS__ABI_MOD_V1 = 1u << 2,   /* "cis_v1" */
  CIS__ABI_MOD_ALL = 7u,
};

/* Adds the host functions of the selected modules to im. */
cis_result cis__host_add_imports(cis_imports *im, unsigned modules);

/* Frees what the context owns (output, pending answer); keeps the rest. */
void cis__host_ctx_release(cis__host_ctx *ctx);

/* ---------------------------------------------- one implementation each */

/* The guest code for a service result (0 for CIS_OK). */
int32_t cis__host_guest_code(cis_result rc);

/* Each returns CIS_OK or a service error; they record last_error/errmsg
 * and count into the call's context (h->call->stats). Answers are
 * malloc'd (caller frees). */
cis_result cis__host_kv_get(cis__host_ctx *h, const void *k, size_t kl, uint8_t **v, size_t *vl);
cis_result cis__host_kv_set(cis__host_ctx *h, const void *k, size_t kl, const void *v, size_t vl);
cis_result cis__host_kv_delete(cis__host_ctx *h, const void *k, size_t kl);
cis_result cis__host_kv_increment(cis__host_ctx *h, const void *k, size_t kl, int64_t delta,
                                  int64_t *out);
cis_result cis__host_kv_cas(cis__host_ctx *h, const void *k, size_t kl, const void *expect,
                            size_t elen, const void *v, size_t vl, bool *swapped);
cis_result cis__host_ai(cis__host_ctx *h, cis_call *c, const char *prompt, size_t len,
                        uint8_t **out, size_t *out_len);
cis_result cis__host_http(cis__host_ctx *h, cis_call *c, const char *method, const char *url,
                          size_t url_len, const void *body, size_t body_len, uint8_t **out,
                          size_t *out_len);
cis_result cis__host_log(cis__host_ctx *h, int32_t level, const char *msg, size_t len);
cis_result cis__host_output(cis__host_ctx *h, const void *src, size_t len);
cis_result cis__host_config_get(cis__host_ctx *h, const void *k, size_t kl, uint8_t **v, size_t *vl);
/* A line the host writes to the call's log about what it decided or met
 * (record.host): never a key, a secret, a query string or a body. */
void cis__host_note(cis__host_ctx *h, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif /* CIS_HOST_HOST_H */
