/*
 * This file implements the AI service of include/cis/cis_ai.h: the thin
 * wrapper through which every chat call reaches its provider. It is the
 * one place for the checks (roles, UTF-8, sizes), the time budget, the
 * check of what the provider returned, and the usage accounting, so a
 * provider (built-in or the embedder's) only has to talk to its model.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/ai_internal.h"
#include "common/utf8.h"

struct cis_ai {
  cis__handle h;                 /* per-thread messages: the service is shared */
  cis_ai_provider provider;      /* owned copy; version 0 = none */
  size_t max_prompt;             /* sum of message contents */
  size_t max_reply;              /* raw reply body */
  uint64_t timeout_ms;           /* cap of one call */
  void (*on_usage)(void *, const cis_principal *, const cis_ai_usage *); /* accounting hook */
  void *usage_user;              /* passed to on_usage */
  atomic_uint_fast64_t calls;    /* calls made */
  atomic_uint_fast64_t failures; /* calls that failed */
  atomic_uint_fast64_t prompt_tokens;     /* totals of successful calls */
  atomic_uint_fast64_t completion_tokens; /* totals of successful calls */
  atomic_uint_fast64_t total_tokens;      /* totals of successful calls */
};

void cis_ai_reply_free(cis_ai_reply *r) {
  if (!r) return;
  free(r->text);
  free(r->model);
  free(r->finish_reason);
  memset(r, 0, sizeof *r);
}

cis_result cis_ai_reply_set_text(cis_ai_reply *r, const char *text, size_t len) {
  if (!r || (!text && len)) return CIS_EINVAL;
  char *t = malloc(len + 1);
  if (!t) return CIS_ENOMEM;
  if (len) memcpy(t, text, len);
  t[len] = '\0';
  free(r->text);
  r->text = t;
  r->text_len = len;
  return CIS_OK;
}

void cis_ai_config_default(cis_ai_config *c) { memset(c, 0, sizeof *c); }

/* Creates the service; see cis_ai.h. A failed one is a shell that does
 * not take the provider, so on failure the caller still owns it. */
cis_result cis_ai_new(const cis_ai_config *cfg, cis_ai **out) {
  cis_ai_config dflt;
  if (!out) return CIS_EINVAL;
  cis_ai *ai = *out = calloc(1, sizeof *ai);
  if (!ai) return CIS_ENOMEM;
  cis__handle_init(&ai->h, CIS__H_ENGINE);
  if (!cfg) {
    cis_ai_config_default(&dflt);
    cfg = &dflt;
  }
  if (cfg->provider.version != 0 &&
      (cfg->provider.version != CIS_AI_PROVIDER_VERSION || !cfg->provider.chat))
    return cis__handle_failed(&ai->h, cis__fail(ai, CIS_EINVAL, "ai: provider version %d%s (this build's: %d)",
                                                 cfg->provider.version,
                                                 cfg->provider.chat ? "" : " without a chat method",
                                                 CIS_AI_PROVIDER_VERSION));
  ai->provider = cfg->provider;
  ai->max_prompt = cfg->max_prompt_bytes ? cfg->max_prompt_bytes : CIS_AI_DEFAULT_MAX_PROMPT;
  ai->max_reply = cfg->max_reply_bytes ? cfg->max_reply_bytes : CIS_AI_DEFAULT_MAX_REPLY;
  ai->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : CIS_AI_DEFAULT_TIMEOUT_MS;
  ai->on_usage = cfg->on_usage;
  ai->usage_user = cfg->usage_user;
  *out = ai;
  return CIS_OK;
}

void cis_ai_free(cis_ai *ai) {
  if (!ai) return;
  if (!ai->h.failed && ai->provider.version && ai->provider.destroy) ai->provider.destroy(ai->provider.state);
  free(ai);
}

bool cis_ai_has_provider(const cis_ai *ai) { return ai && ai->provider.version != 0; }

void cis_ai_stats_get(cis_ai *ai, cis_ai_stats *out) {
  memset(out, 0, sizeof *out);
  if (!ai) return;
  out->calls = atomic_load(&ai->calls);
  out->failures = atomic_load(&ai->failures);
  out->prompt_tokens = atomic_load(&ai->prompt_tokens);
  out->completion_tokens = atomic_load(&ai->completion_tokens);
  out->total_tokens = atomic_load(&ai->total_tokens);
}

/* ---------------------------------------------------------------- checks */

static const char *const roles[] = {"system", "developer", "user", "assistant"};

/* Checks the messages: known roles, content valid UTF-8 without NUL (the
 * wire format is JSON text), total size within the cap. */
static cis_result check_messages(cis_ai *ai, const cis_ai_message *m, size_t n) {
  if (n == 0 || !m) return cis__fail(ai, CIS_EINVAL, "ai: no messages");
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    bool known = false;
    for (size_t k = 0; m[i].role && k < CIS_ARRAY_LEN(roles); k++) known |= strcmp(m[i].role, roles[k]) == 0;
    if (!known) return cis__fail(ai, CIS_EINVAL, "ai: message %zu has an unknown role", i);
    if (!m[i].content && m[i].content_len)
      return cis__fail(ai, CIS_EINVAL, "ai: message %zu has no content", i);
    if (m[i].content_len > ai->max_prompt - total)
      return cis__fail(ai, CIS_ETOOBIG, "ai: prompt above the cap of %zu bytes", ai->max_prompt);
    total += m[i].content_len;
    size_t bad = cis__utf8_check(m[i].content, m[i].content_len);
    if (bad != SIZE_MAX)
      return cis__fail(ai, CIS_EINVAL, "ai: message %zu is not valid UTF-8 (byte %zu)", i, bad);
  }
  return CIS_OK;
}

/* ----------------------------------------------------------------- calls */

/* Runs one call through the provider (contract in cis_ai.h). */
cis_result cis_ai_chat(cis_ai *ai, const cis_principal *who, const cis_ai_message *messages,
                       size_t nmessages, uint64_t timeout_ms, cis_ai_reply *reply) {
  cis_result rc = CIS_OK;
  static const cis_principal nobody = {NULL, NULL};
  if (reply) memset(reply, 0, sizeof *reply);
  if (!ai) return CIS_EINVAL;
  if (ai->h.failed) return CIS_ESTATE; /* its creation failed: only its message and free */
  if (!reply) return cis__fail(ai, CIS_EINVAL, "ai: NULL reply");
  cis__clear_error(ai);
  atomic_fetch_add(&ai->calls, 1);
  uint64_t t0 = cis__now_ns();

  if (!ai->provider.version)
    CIS_TRY(cis__fail(ai, CIS_ENOPROVIDER, "ai: no AI provider is configured"));
  CIS_TRY(check_messages(ai, messages, nmessages));
  if (timeout_ms == 0) CIS_TRY(cis__fail(ai, CIS_ETIMEOUT, "ai: no time left before the deadline"));
  uint64_t budget = timeout_ms < ai->timeout_ms ? timeout_ms : ai->timeout_ms;

  char detail[CIS_ERRMSG_MAX] = "";
  cis_ai_request req = {.who = who ? who : &nobody, .messages = messages, .nmessages = nmessages,
                        .timeout_ms = budget, .max_reply_bytes = ai->max_reply,
                        .errmsg = detail, .errmsg_cap = sizeof detail};
  rc = ai->provider.chat(ai->provider.state, &req, reply);
  if (rc == CIS_OK && !reply->text) {
    rc = CIS_EBADREPLY;
    snprintf(detail, sizeof detail, "provider returned no text");
  }
  if (rc == CIS_OK && reply->text_len > ai->max_reply) {
    rc = CIS_ETOOBIG;
    snprintf(detail, sizeof detail, "reply above the cap of %zu bytes", ai->max_reply);
  }
  if (rc != CIS_OK) {
    const char *name = ai->provider.name ? ai->provider.name : "provider";
    CIS_TRY(cis__fail(ai, rc, "ai (%s): %s", name, detail[0] ? detail : cis_strerror(rc)));
  }

  reply->elapsed_ms = (cis__now_ns() - t0) / 1000000u;
  atomic_fetch_add(&ai->prompt_tokens, reply->usage.prompt_tokens);
  atomic_fetch_add(&ai->completion_tokens, reply->usage.completion_tokens);
  atomic_fetch_add(&ai->total_tokens, reply->usage.total_tokens);
  if (ai->on_usage) ai->on_usage(ai->usage_user, req.who, &reply->usage);
  return CIS_OK;
fail:
  atomic_fetch_add(&ai->failures, 1);
  {
    int status = reply->http_status;
    cis_ai_reply_free(reply);
    reply->http_status = status;
    reply->elapsed_ms = (cis__now_ns() - t0) / 1000000u;
  }
  return rc;
}

cis_result cis_ai_prompt(cis_ai *ai, const cis_principal *who, const char *prompt, size_t len,
                         uint64_t timeout_ms, cis_ai_reply *reply) {
  cis_ai_message m = {.role = "user", .content = prompt, .content_len = len};
  return cis_ai_chat(ai, who, &m, 1, timeout_ms, reply);
}
