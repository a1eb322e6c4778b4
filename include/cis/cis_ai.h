/*
 * cis_ai.h -- the AI service: chat calls to a real language model.
 *
 * A skill asks for a chat completion through its host binding; the binding
 * calls this service. The service knows nothing of WebAssembly: it takes
 * plain buffers, a time budget and a principal, and returns a cis_result.
 * There are no fake answers: without a provider every call fails with
 * CIS_ENOPROVIDER.
 *
 * Concepts
 *   cis_ai_provider  a method table plus its state: what actually talks to
 *                    a model. The built-in one speaks the OpenAI-compatible
 *                    chat-completions protocol (OpenAI, vLLM, llama.cpp
 *                    server, Ollama, ...). An embedder plugs in its own
 *                    provider through the same table.
 *   cis_ai           the service: one provider, the caps, the usage totals.
 *                    Shared between threads; calls may run at the same time.
 *
 * Every call goes through the service, which checks the input (roles,
 * UTF-8, size), turns the caller's remaining time into the provider's
 * timeout, checks the reply and records its token usage.
 *
 * Errors
 *   CIS_ENOPROVIDER  no provider configured
 *   CIS_EINVAL       bad messages (empty list, unknown role, bad UTF-8, NUL)
 *   CIS_ETOOBIG      prompt above max_prompt_bytes, reply above max_reply_bytes
 *   CIS_ETIMEOUT     the deadline passed (the request is cut, not abandoned)
 *   CIS_EHTTPSTATUS  the provider answered with an error status; the reply's
 *                    http_status holds it (401 for a wrong key, 500, ...)
 *   CIS_EBADREPLY    the answer was not JSON or had no choices / no text
 *   CIS_ENET         DNS, connect, TLS or transfer failure
 * The detail is cis_errmsg(ai): the last failure of a call on ai on the
 * calling thread (per thread and per service, as for every shared handle:
 * see cis.h). It never holds the API key.
 */
#ifndef CIS_CIS_AI_H
#define CIS_CIS_AI_H

#include "cis/cis.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------------- messages */

/* One chat message. Roles: "system", "developer", "user", "assistant". */
typedef struct cis_ai_message {
  const char *role;     /* NUL-terminated */
  const char *content;  /* UTF-8 bytes, length-counted, no NUL bytes */
  size_t content_len;   /* bytes in content */
} cis_ai_message;

typedef struct cis_ai_usage {
  uint64_t prompt_tokens;      /* as the provider counted them */
  uint64_t completion_tokens;  /* as the provider counted them */
  uint64_t total_tokens;       /* as the provider counted them */
  bool reported;               /* false when the reply had no usage */
} cis_ai_usage;

/* The answer to one call. Strings are malloc'd and NUL-terminated; the
 * service frees them with cis_ai_reply_free (so a provider must allocate
 * them with malloc, or use cis_ai_reply_set_text). */
typedef struct cis_ai_reply {
  char *text;            /* the assistant's text */
  size_t text_len;       /* bytes in text */
  char *model;           /* the model that answered, when reported */
  char *finish_reason;   /* "stop", "length", ... when reported */
  cis_ai_usage usage;    /* token usage of this call */
  int http_status;       /* provider's HTTP status; 0 when none */
  uint64_t elapsed_ms;   /* wall time of the call */
} cis_ai_reply;

/* Frees what r holds and empties it; safe on an empty reply. */
CIS_EXTERN void cis_ai_reply_free(cis_ai_reply *r);
/* Sets r->text to a copy of text[0..len). CIS_ENOMEM on failure. */
CIS_EXTERN cis_result cis_ai_reply_set_text(cis_ai_reply *r, const char *text, size_t len);

/* -------------------------------------------------------------- providers */

#define CIS_AI_PROVIDER_VERSION 1

/* One call as the provider receives it, already checked by the service. */
typedef struct cis_ai_request {
  const cis_principal *who;         /* never NULL (fields may be NULL) */
  const cis_ai_message *messages;   /* at least one */
  size_t nmessages;                 /* entries in messages */
  uint64_t timeout_ms;              /* time left for the whole call; >= 1 */
  size_t max_reply_bytes;           /* refuse (CIS_ETOOBIG) a larger answer */
  char *errmsg;                     /* where to write a failure's detail */
  size_t errmsg_cap;                /* bytes available at errmsg */
} cis_ai_request;

/* A provider. The service copies the table and owns state from then on
 * (destroy runs in cis_ai_free). chat may be called from several threads
 * at once and must return by the request's deadline. */
typedef struct cis_ai_provider {
  int version;       /* CIS_AI_PROVIDER_VERSION; 0 = no provider */
  const char *name;  /* short static name for messages, e.g. "openai" */
  void *state;       /* the provider's own data */
  /* Answers one request: on CIS_OK reply->text must be set. Any error of
   * the table at the top of this file may be returned, with a detail in
   * req->errmsg. reply->http_status should be set whenever known. */
  cis_result (*chat)(void *state, const cis_ai_request *req, cis_ai_reply *reply);
  /* Releases state. Optional. */
  void (*destroy)(void *state);
} cis_ai_provider;

/* The built-in OpenAI-compatible provider: POST {base_url}/chat/completions. */
typedef struct cis_ai_openai_config {
  const char *base_url;     /* e.g. "https://api.openai.com/v1",
                               "http://127.0.0.1:11434/v1" (Ollama); a URL
                               without a path gets "/v1" ("http://h:8080"
                               = "http://h:8080/v1") */
  const char *model;        /* sent as "model" */
  const char *api_key_env;  /* NAME of the environment variable holding the
                               key, sent as "Authorization: Bearer"; NULL =
                               no key (local servers) */
  uint32_t max_tokens;      /* sent as "max_tokens" when not 0 */
  double temperature;       /* sent when >= 0; use -1 to leave it out */
  const char *proxy;        /* proxy URL; NULL = none (the environment's
                               proxy variables are ignored) */
  const char *ca_file;      /* CA bundle for https; NULL = system default */
} cis_ai_openai_config;

/* Fills c with: no URL or model, no key, max_tokens 0, temperature -1. */
CIS_EXTERN void cis_ai_openai_config_default(cis_ai_openai_config *c);
/* Builds the provider table for cfg (strings copied; the key is read from
 * the environment now and kept in memory, never logged). Errors:
 * CIS_EINVAL (no base URL or model, a base URL that is not http(s), or
 * api_key_env naming an unset or empty variable; the message names the
 * variable), CIS_ENOMEM, CIS_ENET (libcurl would not initialise),
 * CIS_EUNSUPPORTED (libcurl, loaded here, is not installed: the message
 * names its package). Pass the
 * table to cis_ai_new, or free it with out->destroy(out->state). It
 * takes no handle: a failure's message is cis_errmsg(NULL) (cis.h,
 * "Errors"). */
CIS_EXTERN cis_result cis_ai_provider_openai(const cis_ai_openai_config *cfg, cis_ai_provider *out);
/* The same provider, set up at its first call instead of now (nothing is
 * loaded or read from the environment here). A set-up that then fails
 * (an unset key variable, a bad base URL, no libcurl) fails that call and
 * every later one with CIS_ENOPROVIDER, the message saying why; programs
 * whose calls never use AI never pay for or see it. Errors here:
 * CIS_EINVAL (cfg NULL), CIS_ENOMEM. */
CIS_EXTERN cis_result cis_ai_provider_openai_lazy(const cis_ai_openai_config *cfg,
                                                  cis_ai_provider *out);

/* ---------------------------------------------------------------- service */

#define CIS_AI_DEFAULT_MAX_PROMPT (1024u * 1024u)
#define CIS_AI_DEFAULT_MAX_REPLY (4u * 1024u * 1024u)
#define CIS_AI_DEFAULT_TIMEOUT_MS 120000u

typedef struct cis_ai_config {
  cis_ai_provider provider;  /* version 0 = none: calls fail with CIS_ENOPROVIDER */
  size_t max_prompt_bytes;   /* sum of message contents; 0 = 1 MiB */
  size_t max_reply_bytes;    /* raw reply body; 0 = 4 MiB */
  uint64_t timeout_ms;       /* cap of one call whatever the caller's budget;
                                0 = 120 s */
  /* Called after each successful call with its usage, for accounting per
   * tenant or skill. Optional; may run on several threads at once. */
  void (*on_usage)(void *user, const cis_principal *who, const cis_ai_usage *usage);
  void *usage_user;          /* passed to on_usage */
} cis_ai_config;

typedef struct cis_ai cis_ai;

/* Zeroes c: no provider, default caps. */
CIS_EXTERN void cis_ai_config_default(cis_ai_config *c);
/* Creates the service. On success it owns cfg->provider's state; on
 * failure (CIS_EINVAL: unknown provider version or no chat method;
 * CIS_ENOMEM) the caller still does, and *out is a failed service (cis.h,
 * "Errors"): cis_errmsg(*out) says why, calls on it are CIS_ESTATE, free
 * it with cis_ai_free (which leaves the provider alone). cfg may be NULL:
 * no provider. */
CIS_EXTERN cis_result cis_ai_new(const cis_ai_config *cfg, cis_ai **out);
/* Destroys the provider and frees. No call may be running. */
CIS_EXTERN void cis_ai_free(cis_ai *ai);
/* True when a provider is configured. */
CIS_EXTERN bool cis_ai_has_provider(const cis_ai *ai);

/* Sends messages for principal who (may be NULL) within timeout_ms (the
 * caller's remaining deadline: UINT64_MAX = none, so only the config's cap
 * applies; 0 = already past, CIS_ETIMEOUT). On CIS_OK *reply holds the
 * answer (free with cis_ai_reply_free); on error it is empty except for
 * http_status and elapsed_ms. */
CIS_EXTERN cis_result cis_ai_chat(cis_ai *ai, const cis_principal *who,
                                  const cis_ai_message *messages, size_t nmessages,
                                  uint64_t timeout_ms, cis_ai_reply *reply);
/* One user message: the common case of the skill ABIs. */
CIS_EXTERN cis_result cis_ai_prompt(cis_ai *ai, const cis_principal *who, const char *prompt,
                                    size_t len, uint64_t timeout_ms, cis_ai_reply *reply);

/* Totals since the service was created. */
typedef struct cis_ai_stats {
  uint64_t calls;              /* calls made */
  uint64_t failures;           /* calls that returned an error */
  uint64_t prompt_tokens;      /* sum over successful calls */
  uint64_t completion_tokens;  /* sum over successful calls */
  uint64_t total_tokens;       /* sum over successful calls */
} cis_ai_stats;

CIS_EXTERN void cis_ai_stats_get(cis_ai *ai, cis_ai_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* CIS_CIS_AI_H */
