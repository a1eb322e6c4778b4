/*
 * This file implements the one implementation of each skill host service
 * call (KV, AI, HTTP, log, output) over the services in src/kv, src/ai,
 * src/http and src/log, plus the mapping from service results to the
 * guest-visible error codes of docs/abi.md. The ABI bindings in abi.c call
 * only these functions.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host.h"

int32_t cis__host_guest_code(cis_result rc) {
  switch (rc) {
  case CIS_OK: return 0;
  case CIS_ENOTFOUND: return CIS_G_NOT_FOUND;
  case CIS_EDENIED: return CIS_G_DENIED;
  case CIS_ETOOBIG: return CIS_G_TOO_LARGE;
  case CIS_ETIMEOUT:
  case CIS_ECANCELED: return CIS_G_TIMEOUT;
  case CIS_EKVDOWN:
  case CIS_ENET:
  case CIS_EIO: return CIS_G_UNAVAILABLE;
  case CIS_EINVAL:
  case CIS_EUTF8: return CIS_G_INVALID;
  case CIS_ENOPROVIDER: return CIS_G_NO_PROVIDER;
  case CIS_EHTTPSTATUS:
  case CIS_EBADREPLY: return CIS_G_UPSTREAM;
  case CIS_EKVLIMIT:
  case CIS_EQUOTA: return CIS_G_QUOTA;
  default: return CIS_G_INTERNAL;
  }
}

/* Records the outcome of a service call for last_error / error_message. */
static cis_result note_from(cis__host_ctx *h, cis_result rc, const char *what, const void *svc) {
  h->last_error = cis__host_guest_code(rc);
  if (rc == CIS_OK) h->errmsg[0] = '\0';
  else {
    const char *detail = svc ? cis_errmsg(svc) : "";
    snprintf(h->errmsg, sizeof h->errmsg, "%s: %s%s%s", what, cis_strerror(rc), *detail ? ": " : "",
             detail);
  }
  return rc;
}

static cis_result note(cis__host_ctx *h, cis_result rc, const char *what) {
  return note_from(h, rc, what, NULL);
}

void cis__host_note(cis__host_ctx *h, int level, const char *fmt, ...) {
  if (!h->log) return;
  char line[600];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  cis_log_write_host(h->log, level, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static cis_result deny(cis__host_ctx *h, const char *what) {
  h->last_error = CIS_G_DENIED;
  snprintf(h->errmsg, sizeof h->errmsg, "%s: not granted by the skill's permissions", what);
  cis__host_note(h, CIS_LOG_WARN, "%s denied: not granted by the skill's permissions", what);
  return CIS_EDENIED;
}

/* A KV quota hit is the operator's business: said in the log (the key is
 * not). */
static cis_result kv_noted(cis__host_ctx *h, cis_result rc, const char *what) {
  if (rc == CIS_EKVLIMIT || rc == CIS_EQUOTA)
    cis__host_note(h, CIS_LOG_WARN, "%s: %s: %s", what, cis_errname(rc), cis_strerror(rc));
  return note(h, rc, what);
}

void cis__host_ctx_release(cis__host_ctx *h) {
  free(h->output);
  h->output = NULL;
  h->output_len = h->output_alloc = 0;
  free(h->pending);
  h->pending = NULL;
  h->pending_len = 0;
}

cis_result cis__host_kv_get(cis__host_ctx *h, const void *k, size_t kl, uint8_t **v, size_t *vl) {
  *v = NULL;
  *vl = 0;
  if (!h->kv) return deny(h, "kv_get");
  h->call->stats.kv_gets++;
  return note(h, h->kv->get(h->kv->txn, k, kl, v, vl), "kv_get");
}

cis_result cis__host_kv_set(cis__host_ctx *h, const void *k, size_t kl, const void *v, size_t vl) {
  if (!h->kv) return deny(h, "kv_set");
  h->call->stats.kv_sets++;
  return kv_noted(h, h->kv->set(h->kv->txn, k, kl, v, vl), "kv_set");
}

cis_result cis__host_kv_delete(cis__host_ctx *h, const void *k, size_t kl) {
  if (!h->kv) return deny(h, "kv_delete");
  h->call->stats.kv_deletes++;
  return note(h, h->kv->del(h->kv->txn, k, kl), "kv_delete");
}

cis_result cis__host_kv_increment(cis__host_ctx *h, const void *k, size_t kl, int64_t delta,
                                  int64_t *out) {
  *out = 0;
  if (!h->kv) return deny(h, "kv_increment");
  if (!h->kv->incr) return note(h, CIS_EUNSUPPORTED, "kv_increment");
  h->call->stats.kv_sets++;
  return kv_noted(h, h->kv->incr(h->kv->txn, k, kl, delta, out), "kv_increment");
}

cis_result cis__host_kv_cas(cis__host_ctx *h, const void *k, size_t kl, const void *expect,
                            size_t elen, const void *v, size_t vl, bool *swapped) {
  *swapped = false;
  if (!h->kv) return deny(h, "kv_cas");
  if (!h->kv->cas) return note(h, CIS_EUNSUPPORTED, "kv_cas");
  h->call->stats.kv_sets++;
  return kv_noted(h, h->kv->cas(h->kv->txn, k, kl, expect, elen, v, vl, swapped), "kv_cas");
}

cis_result cis__host_ai(cis__host_ctx *h, cis_call *c, const char *prompt, size_t len,
                        uint8_t **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (!h->ai) return deny(h, "ai");
  if (!cis_ai_has_provider(h->ai)) {
    cis__host_note(h, CIS_LOG_WARN, "ai: %s: no AI provider is configured (CIS_AI_BASE_URL, or ai.base_url "
                   "in the configuration file)", cis_errname(CIS_ENOPROVIDER));
    return note(h, CIS_ENOPROVIDER, "ai");
  }
  cis_ai_message msg = {"user", prompt, len};
  cis_ai_reply reply;
  memset(&reply, 0, sizeof reply);
  h->call->stats.ai_calls++;
  cis_result rc = cis_ai_chat(h->ai, &h->who, &msg, 1, cis_call_remaining_ms(c), &reply);
  if (rc == CIS_OK) {
    h->call->stats.ai_tokens += reply.usage.total_tokens;
    if (reply.text_len > h->max_result) rc = CIS_ETOOBIG;
    else {
      *out = (uint8_t *)reply.text;
      *out_len = reply.text_len;
      reply.text = NULL;
    }
  }
  cis_ai_reply_free(&reply);
  /* The service's message names the provider's origin and status, never
   * the key or the prompt. */
  if (rc != CIS_OK) cis__host_note(h, CIS_LOG_WARN, "ai: %s: %s", cis_errname(rc), cis_errmsg(h->ai));
  return note_from(h, rc, "ai", h->ai);
}

cis_result cis__host_http(cis__host_ctx *h, cis_call *c, const char *method, const char *url,
                          size_t url_len, const void *body, size_t body_len, uint8_t **out,
                          size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (!h->http || !h->http_policy) return deny(h, "http");
  if (memchr(url, 0, url_len) || url_len > 8192) return note(h, CIS_EINVAL, "http");
  char *u = strndup(url, url_len);
  if (!u) return note(h, CIS_ENOMEM, "http");
  cis_http_request req = {method, u, NULL, 0, body, body_len};
  cis_http_response resp;
  memset(&resp, 0, sizeof resp);
  h->call->stats.http_calls++;
  cis_result rc = cis_http_fetch(h->http, h->http_policy, &h->who, &req, cis_call_remaining_ms(c), &resp);
  free(u);
  if (rc == CIS_OK) {
    if (resp.body_len > h->max_result) rc = CIS_ETOOBIG;
    else {
      *out = (uint8_t *)resp.body;
      *out_len = resp.body_len;
      resp.body = NULL;
    }
  }
  cis_http_response_free(&resp);
  /* The client's messages name scheme, host and port only (never a path,
   * a query string or a body). */
  if (rc == CIS_EDENIED || rc == CIS_ENET || rc == CIS_ETIMEOUT)
    cis__host_note(h, CIS_LOG_WARN, "http %s: %s: %s", method, cis_errname(rc), cis_errmsg(h->http));
  return note_from(h, rc, "http", h->http);
}

cis_result cis__host_log(cis__host_ctx *h, int32_t level, const char *msg, size_t len) {
  h->call->stats.log_lines++;
  if (level < 0) level = 0;
  if (level > 3) level = 3;
  if (!h->log || !h->guest_log) {
    h->last_error = CIS_G_DENIED;
    snprintf(h->errmsg, sizeof h->errmsg, "log: not granted by the skill's permissions");
    return CIS_EDENIED;
  }
  cis_result rc = cis_log_write(h->log, level, msg, len);
  /* A line dropped by the per-call cap is not the guest's error to handle. */
  if (rc == CIS_ETOOBIG) rc = CIS_OK;
  return note(h, rc, "log");
}

cis_result cis__host_output(cis__host_ctx *h, const void *src, size_t len) {
  if (len > h->max_output - h->output_len) {
    h->last_error = CIS_G_TOO_LARGE;
    snprintf(h->errmsg, sizeof h->errmsg, "output: larger than %zu bytes", h->max_output);
    return CIS_ETOOBIG;
  }
  if (h->output_len + len > h->output_alloc) {
    size_t n = h->output_alloc ? h->output_alloc : 4096;
    while (n < h->output_len + len) n *= 2;
    uint8_t *p = realloc(h->output, n);
    if (!p) return note(h, CIS_ENOMEM, "output");
    h->output = p;
    h->output_alloc = n;
  }
  memcpy(h->output + h->output_len, src, len);
  h->output_len += len;
  h->last_error = 0;
  return CIS_OK;
}

cis_result cis__host_config_get(cis__host_ctx *h, const void *k, size_t kl, uint8_t **v, size_t *vl) {
  *v = NULL;
  *vl = 0;
  if (!h->config_get) return note(h, CIS_ENOTFOUND, "config_get");
  char *val = NULL;
  cis_result rc = h->config_get(h->config_user, k, kl, &val, vl);
  *v = (uint8_t *)val;
  return note(h, rc, "config_get");
}
