/*
 * This file implements the guest bindings of the skill host API for the
 * three import modules of docs/abi.md: `cis` (seed 001, caller-provided
 * buffers), `env` (seed 002, host-allocated i64 results) and `cis_v1`
 * (chunked input/output). Each binding checks its guest ranges (a range
 * outside memory ends the call with CIS_TRAP_MEM_OOB), calls one service
 * function of host.c and encodes the answer.
 */
#include <stdlib.h>
#include <string.h>

#include "host/host.h"

#define HOST_FN(name) static cis_result name(cis_call *c, const cis_slot *a, cis_slot *r)

static cis__host_ctx *ctx_of(cis_call *c) {
  return (cis__host_ctx *)cis_instance_user(cis_call_instance(c));
}

/* A guest range, or NULL after setting the trap message. */
static uint8_t *range(cis_call *c, const char *fn, uint32_t ptr, uint32_t len) {
  uint8_t *p = cis_instance_mem(cis_call_instance(c), ptr, len);
  if (!p) cis_call_fail(c, CIS_TRAP_MEM_OOB, "out of bounds memory access in host call %s (0x%x+%u)", fn, ptr, len);
  return p;
}

#define RANGE(var, fn, ptr, len)                 \
  uint8_t *var = range(c, fn, (ptr), (len));     \
  if (!var) return CIS_TRAP_MEM_OOB

/* No context means the embedder instantiated a skill module without one:
 * every service is then simply not granted. */
#define CTX(h)                                         \
  cis__host_ctx *h = ctx_of(c);                        \
  if (!h) return cis_call_fail(c, CIS_ESTATE, "host call outside a skill invocation"); \
  h->call->stats.host_calls++

/* FNV-1a over the request, to recognise a retry of the same call. */
static uint64_t request_key(int kind, const void *a, size_t al, const void *b, size_t bl) {
  uint64_t x = 1469598103934665603ull ^ (uint64_t)kind;
  const uint8_t *p = a;
  for (size_t i = 0; i < al; i++) x = (x ^ p[i]) * 1099511628211ull;
  x = (x ^ 0xff) * 1099511628211ull;
  p = b;
  for (size_t i = 0; i < bl; i++) x = (x ^ p[i]) * 1099511628211ull;
  return x;
}

/* Delivers an answer into a caller-provided buffer: the full length when
 * it fits (written) or when it does not (nothing written, the answer kept
 * for the retry). Returns the value for the guest. */
static int64_t deliver(cis_call *c, cis__host_ctx *h, uint64_t key, uint8_t *ans, size_t len,
                       uint32_t dst, uint32_t cap, const char *fn, bool *trapped) {
  *trapped = false;
  if (len <= cap) {
    uint8_t *d = range(c, fn, dst, (uint32_t)len);
    if (!d) {
      free(ans);
      *trapped = true;
      return 0;
    }
    memcpy(d, ans, len);
    free(ans);
    if (h->pending_key == key) {
      free(h->pending);
      h->pending = NULL;
      h->pending_key = 0;
    }
    return (int64_t)len;
  }
  free(h->pending);
  h->pending = ans;
  h->pending_len = len;
  h->pending_key = key;
  return (int64_t)len;
}

/* AI or HTTP with a kept answer: serve a retry from it. */
static bool take_pending(cis__host_ctx *h, uint64_t key, uint8_t **ans, size_t *len) {
  if (!h->pending || h->pending_key != key) return false;
  *ans = h->pending;
  *len = h->pending_len;
  h->pending = NULL;
  h->pending_key = 0;
  return true;
}

/* A value looked up by key: the KV's, or an operator setting's. */
typedef cis_result (*lookup_fn)(cis__host_ctx *h, const void *k, size_t kl, uint8_t **v, size_t *vl);

/* A lookup into a caller-provided buffer, the same in every module:
 * (key_ptr, key_len, dst_ptr, dst_cap). The full length, written when it
 * fits, or a guest error code; the seed-001 ABI (cis.*) returns an i32. */
static cis_result get_into_at(cis_call *c, const char *fn, lookup_fn lookup, bool i32, const cis_slot *a,
                              cis_slot *r) {
  CTX(h);
  RANGE(k, fn, a[0].u32, a[1].u32);
  if (!range(c, fn, a[2].u32, a[3].u32)) return CIS_TRAP_MEM_OOB;
  uint8_t *v;
  size_t vl;
  cis_result rc = lookup(h, k, a[1].u32, &v, &vl);
  int64_t n = cis__host_guest_code(rc);
  if (rc == CIS_OK) {
    if (vl <= a[3].u32) memcpy(cis_instance_mem(cis_call_instance(c), a[2].u32, vl), v, vl);
    free(v);
    n = (int64_t)vl;
  }
  if (i32) r[0].i32 = n > INT32_MAX ? CIS_G_TOO_LARGE : (int32_t)n;
  else r[0].i64 = n;
  return CIS_OK;
}

/* Atomic increment, the same in every module: (key_ptr, key_len, delta,
 * out_ptr) -> i32. The new value goes to out_ptr as 8 bytes, little-endian
 * (a return value could not tell a negative value from an error code);
 * the result is 0 or an error code. */
static cis_result kv_increment_at(cis_call *c, const char *fn, const cis_slot *a, cis_slot *r) {
  CTX(h);
  RANGE(k, fn, a[0].u32, a[1].u32);
  if (!range(c, fn, a[3].u32, 8)) return CIS_TRAP_MEM_OOB;
  int64_t v = 0;
  cis_result rc = cis__host_kv_increment(h, k, a[1].u32, a[2].i64, &v);
  if (rc == CIS_OK) {
    uint8_t *d = cis_instance_mem(cis_call_instance(c), a[3].u32, 8);
    for (int i = 0; i < 8; i++) d[i] = (uint8_t)((uint64_t)v >> (8 * i));
  }
  r[0].i32 = cis__host_guest_code(rc);
  return CIS_OK;
}

/* Atomic compare-and-swap, the same in every module: (key_ptr, key_len,
 * expect_ptr, expect_len, new_ptr, new_len) -> i32: 1 swapped, 0 not (the
 * key did not hold the expected value), or an error code. expect_len
 * 0xffffffff (-1) expects the key to be absent. */
#define CAS_ABSENT UINT32_MAX
static cis_result kv_cas_at(cis_call *c, const char *fn, const cis_slot *a, cis_slot *r) {
  CTX(h);
  RANGE(k, fn, a[0].u32, a[1].u32);
  const uint8_t *e = NULL;
  if (a[3].u32 != CAS_ABSENT && !(e = range(c, fn, a[2].u32, a[3].u32))) return CIS_TRAP_MEM_OOB;
  RANGE(v, fn, a[4].u32, a[5].u32);
  bool swapped = false;
  cis_result rc = cis__host_kv_cas(h, k, a[1].u32, e, e ? a[3].u32 : 0, v, a[5].u32, &swapped);
  r[0].i32 = rc != CIS_OK ? cis__host_guest_code(rc) : swapped ? 1 : 0;
  return CIS_OK;
}

/* An AI (method NULL) or HTTP answer for a caller-provided buffer: a retry
 * of the same request is served from the kept answer. Returns the value
 * for the guest; *trapped when the destination was outside memory. */
static int64_t answer_into(cis_call *c, cis__host_ctx *h, const char *fn, const char *method, const uint8_t *a1,
                           uint32_t l1, const uint8_t *body, uint32_t bl, uint32_t dst, uint32_t cap,
                           bool *trapped) {
  *trapped = false;
  uint64_t key = method ? request_key(2, a1, l1, body, bl) ^ request_key(3, method, strlen(method), NULL, 0)
                        : request_key(1, a1, l1, NULL, 0);
  uint8_t *ans;
  size_t len;
  if (!take_pending(h, key, &ans, &len)) {
    cis_result rc = method ? cis__host_http(h, c, method, (const char *)a1, l1, body, bl, &ans, &len)
                           : cis__host_ai(h, c, (const char *)a1, l1, &ans, &len);
    if (rc != CIS_OK) return cis__host_guest_code(rc);
  }
  return deliver(c, h, key, ans, len, dst, cap, fn, trapped);
}

/* ================================================== module `cis_v1` */

HOST_FN(v1_input_len) {
  (void)a;
  CTX(h);
  r[0].i64 = (int64_t)h->input_len;
  return CIS_OK;
}

HOST_FN(v1_input_read) {
  CTX(h);
  int64_t off = a[0].i64;
  uint32_t ptr = a[1].u32, len = a[2].u32;
  RANGE(dst, "cis_v1.input_read", ptr, len);
  if (off < 0 || (uint64_t)off > h->input_len) {
    r[0].i32 = CIS_G_INVALID;
    return CIS_OK;
  }
  size_t n = h->input_len - (size_t)off;
  if (n > len) n = len;
  if (n > INT32_MAX) n = INT32_MAX;
  memcpy(dst, h->input + off, n);
  r[0].i32 = (int32_t)n;
  return CIS_OK;
}

HOST_FN(v1_output_write) {
  CTX(h);
  RANGE(src, "cis_v1.output_write", a[0].u32, a[1].u32);
  r[0].i32 = cis__host_guest_code(cis__host_output(h, src, a[1].u32));
  return CIS_OK;
}

HOST_FN(v1_kv_get) { return get_into_at(c, "cis_v1.kv_get", cis__host_kv_get, false, a, r); }

HOST_FN(v1_kv_set) {
  CTX(h);
  RANGE(k, "cis_v1.kv_set", a[0].u32, a[1].u32);
  RANGE(v, "cis_v1.kv_set", a[2].u32, a[3].u32);
  r[0].i32 = cis__host_guest_code(cis__host_kv_set(h, k, a[1].u32, v, a[3].u32));
  return CIS_OK;
}

HOST_FN(v1_kv_delete) {
  CTX(h);
  RANGE(k, "cis_v1.kv_delete", a[0].u32, a[1].u32);
  r[0].i32 = cis__host_guest_code(cis__host_kv_delete(h, k, a[1].u32));
  return CIS_OK;
}

HOST_FN(v1_config_get) { return get_into_at(c, "cis_v1.config_get", cis__host_config_get, false, a, r); }

HOST_FN(v1_kv_increment) { return kv_increment_at(c, "cis_v1.kv_increment", a, r); }
HOST_FN(v1_kv_cas) { return kv_cas_at(c, "cis_v1.kv_cas", a, r); }

HOST_FN(v1_ai_chat) {
  CTX(h);
  RANGE(p, "cis_v1.ai_chat", a[0].u32, a[1].u32);
  if (!range(c, "cis_v1.ai_chat", a[2].u32, a[3].u32)) return CIS_TRAP_MEM_OOB;
  bool trapped;
  r[0].i64 = answer_into(c, h, "cis_v1.ai_chat", NULL, p, a[1].u32, NULL, 0, a[2].u32, a[3].u32, &trapped);
  return trapped ? CIS_TRAP_MEM_OOB : CIS_OK;
}

HOST_FN(v1_http_request) {
  CTX(h);
  RANGE(m, "cis_v1.http_request", a[0].u32, a[1].u32);
  RANGE(u, "cis_v1.http_request", a[2].u32, a[3].u32);
  RANGE(b, "cis_v1.http_request", a[4].u32, a[5].u32);
  if (!range(c, "cis_v1.http_request", a[6].u32, a[7].u32)) return CIS_TRAP_MEM_OOB;
  char method[16];
  if (a[1].u32 == 0 || a[1].u32 >= sizeof method) {
    r[0].i64 = CIS_G_INVALID;
    return CIS_OK;
  }
  memcpy(method, m, a[1].u32);
  method[a[1].u32] = 0;
  bool trapped;
  r[0].i64 = answer_into(c, h, "cis_v1.http_request", method, u, a[3].u32, b, a[5].u32, a[6].u32, a[7].u32,
                         &trapped);
  return trapped ? CIS_TRAP_MEM_OOB : CIS_OK;
}

HOST_FN(v1_log) {
  CTX(h);
  RANGE(m, "cis_v1.log", a[1].u32, a[2].u32);
  r[0].i32 = cis__host_guest_code(cis__host_log(h, a[0].i32, (const char *)m, a[2].u32));
  return CIS_OK;
}

HOST_FN(v1_error_message) {
  CTX(h);
  size_t n = strlen(h->errmsg);
  if (n <= a[1].u32) {
    RANGE(d, "cis_v1.error_message", a[0].u32, (uint32_t)n);
    memcpy(d, h->errmsg, n);
  }
  r[0].i32 = (int32_t)n;
  return CIS_OK;
}

HOST_FN(v1_remaining_ms) {
  (void)a;
  CTX(h);
  (void)h;
  uint64_t ms = cis_call_remaining_ms(c);
  r[0].i64 = ms > INT64_MAX ? INT64_MAX : (int64_t)ms;
  return CIS_OK;
}

/* ================================================== module `cis` (seed 001) */

HOST_FN(s1_ai_prompt) {
  CTX(h);
  RANGE(p, "cis.ai_prompt", a[0].u32, a[1].u32);
  if (!range(c, "cis.ai_prompt", a[2].u32, a[3].u32)) return CIS_TRAP_MEM_OOB;
  bool trapped;
  int64_t n = answer_into(c, h, "cis.ai_prompt", NULL, p, a[1].u32, NULL, 0, a[2].u32, a[3].u32, &trapped);
  r[0].i32 = n > INT32_MAX ? CIS_G_TOO_LARGE : (int32_t)n;
  return trapped ? CIS_TRAP_MEM_OOB : CIS_OK;
}

HOST_FN(s1_memory_get) { return get_into_at(c, "cis.memory_get", cis__host_kv_get, true, a, r); }

HOST_FN(s1_memory_set) {
  (void)r;
  CTX(h);
  RANGE(k, "cis.memory_set", a[0].u32, a[1].u32);
  RANGE(v, "cis.memory_set", a[2].u32, a[3].u32);
  cis__host_kv_set(h, k, a[1].u32, v, a[3].u32); /* result via cis.last_error */
  return CIS_OK;
}

HOST_FN(s1_memory_delete) {
  CTX(h);
  RANGE(k, "cis.memory_delete", a[0].u32, a[1].u32);
  r[0].i32 = cis__host_guest_code(cis__host_kv_delete(h, k, a[1].u32));
  return CIS_OK;
}

HOST_FN(s1_config_get) { return get_into_at(c, "cis.config_get", cis__host_config_get, true, a, r); }

HOST_FN(s1_memory_increment) { return kv_increment_at(c, "cis.memory_increment", a, r); }
HOST_FN(s1_memory_cas) { return kv_cas_at(c, "cis.memory_cas", a, r); }

HOST_FN(s1_http_request) {
  CTX(h);
  RANGE(u, "cis.http_request", a[0].u32, a[1].u32);
  RANGE(b, "cis.http_request", a[2].u32, a[3].u32);
  if (!range(c, "cis.http_request", a[4].u32, a[5].u32)) return CIS_TRAP_MEM_OOB;
  bool trapped;
  int64_t n = answer_into(c, h, "cis.http_request", a[3].u32 ? "POST" : "GET", u, a[1].u32, b, a[3].u32, a[4].u32,
                          a[5].u32, &trapped);
  r[0].i32 = n > INT32_MAX ? CIS_G_TOO_LARGE : (int32_t)n;
  return trapped ? CIS_TRAP_MEM_OOB : CIS_OK;
}

HOST_FN(s1_log) {
  (void)r;
  CTX(h);
  RANGE(m, "cis.log", a[1].u32, a[2].u32);
  cis__host_log(h, a[0].i32, (const char *)m, a[2].u32);
  return CIS_OK;
}

HOST_FN(s1_last_error) {
  (void)a;
  CTX(h);
  r[0].i32 = h->last_error;
  return CIS_OK;
}

/* ================================================== module `env` (seed 002) */

/* Copies an answer into memory the guest's allocator hands out, and packs
 * (ptr << 32) | len. Returns a guest code (< 0) on failure. */
static int64_t host_alloc_copy(cis_call *c, const uint8_t *src, size_t len) {
  if (len == 0) return 0;
  if (len > UINT32_MAX) return CIS_G_TOO_LARGE;
  cis_instance *inst = cis_call_instance(c);
  static const char *const names[] = {"alloc", "cis_alloc", "malloc"};
  cis_func *f = NULL;
  for (size_t i = 0; i < 3 && !f; i++) {
    cis_func *cand = cis_instance_func(inst, names[i]);
    if (!cand) continue;
    uint32_t np, nr;
    const cis_valtype *pt, *rt;
    cis_func_type(cand, &np, &pt, &nr, &rt);
    if (np == 1 && nr == 1 && pt[0] == CIS_I32 && rt[0] == CIS_I32) f = cand;
  }
  if (!f) return CIS_G_NO_ALLOCATOR;
  cis_val arg = {.type = CIS_I32, .of.i32 = (int32_t)len}, res;
  cis_result rc = cis_func_call(inst, f, &arg, 1, &res, 1);
  if (rc != CIS_OK) return CIS_G_ALLOC_FAILED;
  uint32_t ptr = res.of.u32;
  /* Memory may have grown inside the allocator: fetch the range now. */
  uint8_t *dst = ptr ? cis_instance_mem(inst, ptr, len) : NULL;
  if (!dst) return CIS_G_ALLOC_FAILED;
  memcpy(dst, src, len);
  return (int64_t)(((uint64_t)ptr << 32) | (uint64_t)(uint32_t)len);
}

HOST_FN(s2_memory_get) {
  CTX(h);
  RANGE(k, "env.host_memory_get", a[0].u32, a[1].u32);
  uint8_t *v;
  size_t vl;
  cis_result rc = cis__host_kv_get(h, k, a[1].u32, &v, &vl);
  if (rc != CIS_OK) {
    r[0].i64 = cis__host_guest_code(rc);
    return CIS_OK;
  }
  r[0].i64 = host_alloc_copy(c, v, vl);
  free(v);
  return CIS_OK;
}

HOST_FN(s2_memory_set) {
  CTX(h);
  RANGE(k, "env.host_memory_set", a[0].u32, a[1].u32);
  RANGE(v, "env.host_memory_set", a[2].u32, a[3].u32);
  r[0].i32 = cis__host_guest_code(cis__host_kv_set(h, k, a[1].u32, v, a[3].u32));
  return CIS_OK;
}

HOST_FN(s2_memory_delete) {
  CTX(h);
  RANGE(k, "env.host_memory_delete", a[0].u32, a[1].u32);
  r[0].i32 = cis__host_guest_code(cis__host_kv_delete(h, k, a[1].u32));
  return CIS_OK;
}

HOST_FN(s2_config_get) {
  CTX(h);
  RANGE(k, "env.host_config_get", a[0].u32, a[1].u32);
  uint8_t *v;
  size_t vl;
  cis_result rc = cis__host_config_get(h, k, a[1].u32, &v, &vl);
  if (rc != CIS_OK) {
    r[0].i64 = cis__host_guest_code(rc);
    return CIS_OK;
  }
  r[0].i64 = host_alloc_copy(c, v, vl);
  free(v);
  return CIS_OK;
}

HOST_FN(s2_memory_increment) { return kv_increment_at(c, "env.host_memory_increment", a, r); }
HOST_FN(s2_memory_cas) { return kv_cas_at(c, "env.host_memory_cas", a, r); }

HOST_FN(s2_ai_chat) {
  CTX(h);
  RANGE(p, "env.host_ai_chat", a[0].u32, a[1].u32);
  uint8_t *ans;
  size_t len;
  cis_result rc = cis__host_ai(h, c, (const char *)p, a[1].u32, &ans, &len);
  if (rc != CIS_OK) {
    r[0].i64 = cis__host_guest_code(rc);
    return CIS_OK;
  }
  r[0].i64 = host_alloc_copy(c, ans, len);
  free(ans);
  return CIS_OK;
}

HOST_FN(s2_log) {
  (void)r;
  CTX(h);
  RANGE(m, "env.host_log", a[1].u32, a[2].u32);
  cis__host_log(h, a[0].i32, (const char *)m, a[2].u32);
  return CIS_OK;
}

HOST_FN(s2_http_post) {
  CTX(h);
  RANGE(u, "env.host_http_post", a[0].u32, a[1].u32);
  RANGE(b, "env.host_http_post", a[2].u32, a[3].u32);
  uint8_t *ans;
  size_t len;
  cis_result rc = cis__host_http(h, c, "POST", (const char *)u, a[1].u32, b, a[3].u32, &ans, &len);
  if (rc != CIS_OK) {
    r[0].i64 = cis__host_guest_code(rc);
    return CIS_OK;
  }
  r[0].i64 = host_alloc_copy(c, ans, len);
  free(ans);
  return CIS_OK;
}

/* ========================================================== tables */

static const cis_host_func_def v1_funcs[] = {
    {"cis_v1", "input_len", "()I", v1_input_len, NULL, CIS_HOST_MEMORY32},
    {"cis_v1", "input_read", "(Iii)i", v1_input_read, NULL, CIS_HOST_MEMORY32},
    {"cis_v1", "output_write", "(ii)i", v1_output_write, NULL, CIS_HOST_MEMORY32},
    {"cis_v1", "kv_get", "(iiii)I", v1_kv_get, NULL, CIS_HOST_MEMORY32},
    {"cis_v1", "kv_set", "(iiii)i", v1_kv_set, NULL, CIS_HOST_MEMORY32},
    {"cis_v1", "kv_delete", "(ii)i", v1_kv_delete, NULL, CIS_HOST_MEMORY32},
    {"cis_v1", "kv_increment", "(iiIi)i", v1_kv_increment, NULL, CIS_HOST_MEMORY32},
    {"cis_v1", "kv_cas", "(iiiiii)i", v1_kv_cas, NULL, CIS_HOST_MEMORY32},
    {"cis_v1", "ai_chat", "(iiii)I", v1_ai_chat, NULL, CIS_HOST_MEMORY32},
    {"cis_v1", "http_request", "(iiiiiiii)I", v1_http_request, NULL, CIS_HOST_MEMORY32},
    {"cis_v1", "log", "(iii)i", v1_log, NULL, CIS_HOST_MEMORY32},
    {"cis_v1", "error_message", "(ii)i", v1_error_message, NULL, CIS_HOST_MEMORY32},
    {"cis_v1", "remaining_ms", "()I", v1_remaining_ms, NULL, CIS_HOST_MEMORY32},
    {"cis_v1", "config_get", "(iiii)I", v1_config_get, NULL, CIS_HOST_MEMORY32},
};

static const cis_host_func_def seed001_funcs[] = {
    {"cis", "ai_prompt", "(iiii)i", s1_ai_prompt, NULL, CIS_HOST_MEMORY32},
    {"cis", "memory_get", "(iiii)i", s1_memory_get, NULL, CIS_HOST_MEMORY32},
    {"cis", "memory_set", "(iiii)", s1_memory_set, NULL, CIS_HOST_MEMORY32},
    {"cis", "memory_delete", "(ii)i", s1_memory_delete, NULL, CIS_HOST_MEMORY32},
    {"cis", "memory_increment", "(iiIi)i", s1_memory_increment, NULL, CIS_HOST_MEMORY32},
    {"cis", "memory_cas", "(iiiiii)i", s1_memory_cas, NULL, CIS_HOST_MEMORY32},
    {"cis", "http_request", "(iiiiii)i", s1_http_request, NULL, CIS_HOST_MEMORY32},
    {"cis", "log", "(iii)", s1_log, NULL, CIS_HOST_MEMORY32},
    {"cis", "last_error", "()i", s1_last_error, NULL, CIS_HOST_MEMORY32},
    {"cis", "config_get", "(iiii)i", s1_config_get, NULL, CIS_HOST_MEMORY32},
};

static const cis_host_func_def seed002_funcs[] = {
    {"env", "host_memory_get", "(ii)I", s2_memory_get, NULL, CIS_HOST_MEMORY32},
    {"env", "host_memory_set", "(iiii)i", s2_memory_set, NULL, CIS_HOST_MEMORY32},
    {"env", "host_memory_delete", "(ii)i", s2_memory_delete, NULL, CIS_HOST_MEMORY32},
    {"env", "host_memory_increment", "(iiIi)i", s2_memory_increment, NULL, CIS_HOST_MEMORY32},
    {"env", "host_memory_cas", "(iiiiii)i", s2_memory_cas, NULL, CIS_HOST_MEMORY32},
    {"env", "host_ai_chat", "(ii)I", s2_ai_chat, NULL, CIS_HOST_MEMORY32},
    {"env", "host_log", "(iii)", s2_log, NULL, CIS_HOST_MEMORY32},
    {"env", "host_http_post", "(iiii)I", s2_http_post, NULL, CIS_HOST_MEMORY32},
    {"env", "host_config_get", "(ii)I", s2_config_get, NULL, CIS_HOST_MEMORY32},
};

cis_result cis__host_add_imports(cis_imports *im, unsigned modules) {
  cis_result rc = CIS_OK;
  if (modules & CIS__ABI_MOD_V1) rc = cis_imports_add_host_funcs(im, v1_funcs, sizeof v1_funcs / sizeof v1_funcs[0]);
  if (rc == CIS_OK && (modules & CIS__ABI_MOD_CIS))
    rc = cis_imports_add_host_funcs(im, seed001_funcs, sizeof seed001_funcs / sizeof seed001_funcs[0]);
  if (rc == CIS_OK && (modules & CIS__ABI_MOD_ENV))
    rc = cis_imports_add_host_funcs(im, seed002_funcs, sizeof seed002_funcs / sizeof seed002_funcs[0]);
  return rc;
}
