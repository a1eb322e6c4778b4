/*
 * This file implements the built-in AI provider: the OpenAI-compatible
 * chat-completions protocol (POST {base_url}/chat/completions) over
 * libcurl, as served by OpenAI, vLLM, llama.cpp's server and Ollama.
 *
 * libcurl is loaded when a provider is built (cis__curl_init), not linked.
 * Each call uses its own curl handle, so calls from several threads run
 * side by side; the provider's state is read-only after creation. The API
 * key is read from the environment once, sent only in the Authorization
 * header, wiped from our buffers after each call and at destruction, and
 * kept out of every message: error bodies of 401/403 are not quoted at
 * all, and any other quoted error text has the key blanked out.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/ai_internal.h"

typedef struct openai {
  char *url;          /* {base_url}/chat/completions */
  char *origin;       /* scheme://host:port of base_url, for messages */
  char *model;        /* sent as "model" */
  char *key;          /* API key, or NULL; wiped at destroy */
  char *key_env;      /* name of the key's variable, for messages */
  uint32_t max_tokens; /* sent when not 0 */
  double temperature; /* sent when >= 0 */
  char *proxy;        /* proxy URL; "" = none */
  char *ca_file;      /* CA bundle, or NULL */
} openai;

void cis_ai_openai_config_default(cis_ai_openai_config *c) {
  memset(c, 0, sizeof *c);
  c->temperature = -1;
}

static void wipe(char *s) {
  if (s) explicit_bzero(s, strlen(s));
}

static void openai_destroy(void *state) {
  openai *o = state;
  if (!o) return;
  wipe(o->key);
  free(o->key);
  free(o->url);
  free(o->origin);
  free(o->model);
  free(o->key_env);
  free(o->proxy);
  free(o->ca_file);
  free(o);
}

/* -------------------------------------------------------------- messages */

/* Copies src into dst (cap bytes) with every occurrence of key replaced,
 * and anything but printable ASCII turned into '?', so a provider's error
 * text can be quoted without leaking the key or breaking a log line. */
static void quote_safely(char *dst, size_t cap, const char *src, size_t len, const char *key) {
  size_t klen = key ? strlen(key) : 0, o = 0;
  for (size_t i = 0; i < len && o + 1 < cap;) {
    if (klen && len - i >= klen && memcmp(src + i, key, klen) == 0) {
      const char *r = "[redacted]";
      for (; *r && o + 1 < cap; r++) dst[o++] = *r;
      i += klen;
      continue;
    }
    unsigned char c = (unsigned char)src[i++];
    dst[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  if (cap) dst[o < cap ? o : cap - 1] = '\0';
}

/* Writes the detail of an error status into req->errmsg. */
static void status_message(const openai *o, const cis_ai_request *req, long status,
                           const cis__buf *body) {
  if (status == 401 || status == 403) {
    if (o->key)
      snprintf(req->errmsg, req->errmsg_cap,
               "HTTP %ld from %s: the provider refused the API key (from $%s)", status, o->origin,
               o->key_env);
    else
      snprintf(req->errmsg, req->errmsg_cap,
               "HTTP %ld from %s: the provider wants an API key and none is configured", status,
               o->origin);
    return;
  }
  /* Quote the provider's own message when it sent the usual
   * {"error": {"message": ...}} (or {"error": "..."}), else the body. */
  const char *text = body->data ? body->data : "";
  size_t tlen = body->len;
  cJSON *j = cJSON_ParseWithLength(text, tlen);
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
  const cJSON *msg = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "message") : err;
  if (cJSON_IsString(msg)) {
    text = msg->valuestring;
    tlen = strlen(text);
  }
  char quoted[200];
  quote_safely(quoted, sizeof quoted, text, tlen, o->key);
  snprintf(req->errmsg, req->errmsg_cap, "HTTP %ld from %s: %s", status, o->origin,
           quoted[0] ? quoted : "(empty body)");
  cJSON_Delete(j);
}

/* ----------------------------------------------------------------- calls */

/* Builds the request body. NULL when out of memory. */
static char *build_body(const openai *o, const cis_ai_request *req) {
  cJSON *root = cJSON_CreateObject();
  cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
  char *out = NULL;
  if (!root || !msgs || !cJSON_AddStringToObject(root, "model", o->model)) goto done;
  for (size_t i = 0; i < req->nmessages; i++) {
    const cis_ai_message *m = &req->messages[i];
    char *content = malloc(m->content_len + 1);
    if (!content) goto done;
    if (m->content_len) memcpy(content, m->content, m->content_len);
    content[m->content_len] = '\0';
    cJSON *jm = cJSON_CreateObject();
    bool ok = jm && cJSON_AddStringToObject(jm, "role", m->role) &&
              cJSON_AddStringToObject(jm, "content", content);
    free(content);
    if (jm) cJSON_AddItemToArray(msgs, jm);
    if (!ok) goto done;
  }
  if (!cJSON_AddFalseToObject(root, "stream")) goto done;
  if (o->max_tokens && !cJSON_AddNumberToObject(root, "max_tokens", o->max_tokens)) goto done;
  if (o->temperature >= 0 && !cJSON_AddNumberToObject(root, "temperature", o->temperature)) goto done;
  out = cJSON_PrintUnformatted(root);
done:
  cJSON_Delete(root);
  return out;
}

/* ------------------------------------------------ NUL inside the reply
 *
 * cJSON decodes a JSON string into a C string, so a reply text holding
 * \u0000 would reach the skill cut at the NUL. When the body holds that
 * escape, it is "stuffed" before parsing: inside strings each \u0000
 * becomes the escaped text "\\u0000" and each escaped backslash (\\ or
 * \u005c) the escaped text "\\\\". In the decoded strings a backslash
 * then only starts "\\" (one backslash) or "\u0000" (one NUL), which
 * unstuff() turns back into bytes, length-counted. */

/* The value of 4 hex digits at p, or -1. */
static long hex4(const char *p) {
  long v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/* The stuffed copy of body (malloc'd, NUL-terminated, *out_len bytes), or
 * NULL when out of memory. A string grows at most twice ("\\" -> 4 bytes). */
static char *stuff(const char *s, size_t n, size_t *out_len) {
  char *o = malloc(2 * n + 1);
  if (!o) return NULL;
  size_t k = 0;
  bool in = false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!in || c == '"' || c != '\\' || i + 1 >= n) {
      if (c == '"') in = !in;
      o[k++] = c;
      continue;
    }
    char e = s[i + 1];
    long u = e == 'u' && i + 5 < n ? hex4(s + i + 2) : -1;
    if (e == '\\' || u == 0x5c) {
      memcpy(o + k, "\\\\\\\\", 4);
      k += 4;
      i += e == '\\' ? 1 : 5;
    } else if (u == 0) {
      memcpy(o + k, "\\\\u0000", 7);
      k += 7;
      i += 5;
    } else {
      o[k++] = c;
      o[k++] = e;
      i++;
    }
  }
  o[k] = '\0';
  *out_len = k;
  return o;
}

/* Decodes a stuffed string in place; returns its length in bytes. */
static size_t unstuff(char *v) {
  size_t k = 0;
  for (size_t i = 0; v[i]; i++) {
    if (v[i] == '\\' && v[i + 1] == '\\') {
      v[k++] = '\\';
      i++;
    } else if (v[i] == '\\' && strncmp(v + i + 1, "u0000", 5) == 0) {
      v[k++] = '\0';
      i += 5;
    } else {
      v[k++] = v[i];
    }
  }
  return k;
}

/* A string member as a C string (cut at a NUL: model and finish_reason
 * are names). */
static char *dup_json_string(const cJSON *o, const char *key, bool stuffed) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsString(v)) return NULL;
  char *d = strdup(v->valuestring);
  if (d && stuffed) d[unstuff(d)] = '\0';
  return d;
}

static uint64_t json_count(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e15) return 0;
  return (uint64_t)v->valuedouble;
}

/* Reads a 2xx answer into reply. Errors: CIS_EBADREPLY, CIS_ENOMEM. */
static cis_result parse_reply(const cis_ai_request *req, const cis__buf *body, cis_ai_reply *reply) {
  cis_result rc = CIS_OK;
  const char *text = body->data ? body->data : "";
  size_t tlen = body->len;
  char *stuffed = NULL;
  if (tlen >= 6 && memmem(text, tlen, "\\u0000", 6)) {
    stuffed = stuff(text, tlen, &tlen);
    if (!stuffed) return CIS_ENOMEM;
    text = stuffed;
  }
  cJSON *j = cJSON_ParseWithLength(text, tlen);
  if (!cJSON_IsObject(j)) {
    snprintf(req->errmsg, req->errmsg_cap, "reply is not a JSON object (%zu bytes)", body->len);
    CIS_TRY(CIS_EBADREPLY);
  }
  const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
  const cJSON *first = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
  if (!cJSON_IsObject(first)) {
    snprintf(req->errmsg, req->errmsg_cap, "reply has no choices");
    CIS_TRY(CIS_EBADREPLY);
  }
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(first, "message");
  const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
  if (!cJSON_IsString(content)) {
    snprintf(req->errmsg, req->errmsg_cap, "reply's first choice has no text content");
    CIS_TRY(CIS_EBADREPLY);
  }
  /* The text by its length: it may hold NUL bytes. */
  size_t clen = stuffed ? unstuff(content->valuestring) : strlen(content->valuestring);
  CIS_TRY(cis_ai_reply_set_text(reply, content->valuestring, clen));
  reply->model = dup_json_string(j, "model", stuffed != NULL);
  reply->finish_reason = dup_json_string(first, "finish_reason", stuffed != NULL);
  const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
  if (cJSON_IsObject(usage)) {
    reply->usage.reported = true;
    reply->usage.prompt_tokens = json_count(usage, "prompt_tokens");
    reply->usage.completion_tokens = json_count(usage, "completion_tokens");
    reply->usage.total_tokens = json_count(usage, "total_tokens");
    if (!reply->usage.total_tokens)
      reply->usage.total_tokens = reply->usage.prompt_tokens + reply->usage.completion_tokens;
  }
fail:
  cJSON_Delete(j);
  free(stuffed);
  return rc;
}

/* Wipes and frees a header list that may hold the Authorization line. */
static void free_secret_headers(struct curl_slist *l) {
  for (struct curl_slist *i = l; i; i = i->next) wipe(i->data);
  cis__curl.slist_free_all(l);
}

/* One chat call (the provider's chat method; contract in cis_ai.h). */
static cis_result openai_chat(void *state, const cis_ai_request *req, cis_ai_reply *reply) {
  cis_result rc = CIS_OK;
  openai *o = state;
  char errbuf[CURL_ERROR_SIZE] = "";
  char *body = NULL;
  struct curl_slist *headers = NULL;
  cis__buf resp = {.limit = req->max_reply_bytes};
  CURL *c = cis__curl.easy_init();
  if (!c) {
    snprintf(req->errmsg, req->errmsg_cap, "cannot create a curl handle");
    CIS_TRY(CIS_ENOMEM);
  }
  body = build_body(o, req);
  if (!body) CIS_TRY(CIS_ENOMEM);

  const char *fixed[] = {"Content-Type: application/json", "Accept: application/json", "Expect:"};
  for (size_t i = 0; i < CIS_ARRAY_LEN(fixed); i++) {
    struct curl_slist *n = cis__curl.slist_append(headers, fixed[i]);
    if (!n) CIS_TRY(CIS_ENOMEM);
    headers = n;
  }
  if (o->key) {
    size_t len = strlen(o->key) + 32;
    char *auth = malloc(len);
    if (!auth) CIS_TRY(CIS_ENOMEM);
    snprintf(auth, len, "Authorization: Bearer %s", o->key);
    struct curl_slist *n = cis__curl.slist_append(headers, auth);
    wipe(auth);
    free(auth);
    if (!n) CIS_TRY(CIS_ENOMEM);
    headers = n;
  }

  long ms = req->timeout_ms > (uint64_t)LONG_MAX ? LONG_MAX : (long)req->timeout_ms;
  cis__curl.easy_setopt(c, CURLOPT_URL, o->url);
  cis__curl.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  cis__curl.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  cis__curl.easy_setopt(c, CURLOPT_PROXY, o->proxy);
  cis__curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  cis__curl.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  cis__curl.easy_setopt(c, CURLOPT_USERAGENT, "cis/" CIS_VERSION_STRING);
  cis__curl.easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
  cis__curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
  cis__curl.easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  cis__curl.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
  cis__curl.easy_setopt(c, CURLOPT_POSTFIELDS, body);
  cis__curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, cis__buf_write);
  cis__curl.easy_setopt(c, CURLOPT_WRITEDATA, &resp);
  cis__curl.easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_reply_bytes);
  if (o->ca_file) cis__curl.easy_setopt(c, CURLOPT_CAINFO, o->ca_file);

  CURLcode cc = cis__curl.easy_perform(c);
  long status = 0;
  cis__curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  reply->http_status = (int)status;
  if (cc != CURLE_OK) {
    if (cc == CURLE_OPERATION_TIMEDOUT) {
      snprintf(req->errmsg, req->errmsg_cap, "%s: no answer within %lu ms", o->origin,
               (unsigned long)req->timeout_ms);
      rc = CIS_ETIMEOUT;
    } else if (resp.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
      snprintf(req->errmsg, req->errmsg_cap, "%s: reply above the cap of %zu bytes", o->origin,
               req->max_reply_bytes);
      rc = CIS_ETOOBIG;
    } else if (resp.oom || cc == CURLE_OUT_OF_MEMORY) {
      rc = CIS_ENOMEM;
    } else {
      snprintf(req->errmsg, req->errmsg_cap, "%s: %s", o->origin,
               errbuf[0] ? errbuf : cis__curl.easy_strerror(cc));
      rc = CIS_ENET;
    }
    goto fail;
  }
  if (status < 200 || status > 299) {
    status_message(o, req, status, &resp);
    CIS_TRY(CIS_EHTTPSTATUS);
  }
  CIS_TRY(parse_reply(req, &resp, reply));
fail:
  free_secret_headers(headers);
  if (c) cis__curl.easy_cleanup(c);
  free(body);
  cis__buf_free(&resp);
  return rc;
}

/* ---------------------------------------------------------------- set-up */

static cis_result setup_fail(char *errmsg, size_t cap, cis_result rc, const char *what) {
  if (errmsg && cap) snprintf(errmsg, cap, "openai provider: %s", what);
  return rc;
}

/* Reads scheme, host and port of base into o->origin; only http(s).
 * *bare is set when base has no path ("http://h:8080" or ".../"). */
static cis_result parse_base(openai *o, const char *base, bool *bare) {
  cis_result rc = CIS_EINVAL;
  char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
  CURLU *u = cis__curl.url();
  if (!u) return CIS_ENOMEM;
  if (cis__curl.url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK) goto done;
  if (cis__curl.url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      cis__curl.url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
      cis__curl.url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
    goto done;
  if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) goto done;
  *bare = cis__curl.url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK || !path || !strcmp(path, "/") || !path[0];
  size_t n = strlen(scheme) + strlen(host) + strlen(port) + 8;
  o->origin = malloc(n);
  if (!o->origin) {
    rc = CIS_ENOMEM;
    goto done;
  }
  snprintf(o->origin, n, "%s://%s:%s", scheme, host, port);
  rc = CIS_OK;
done:
  cis__curl.free(scheme);
  cis__curl.free(host);
  cis__curl.free(port);
  cis__curl.free(path);
  cis__curl.url_cleanup(u);
  return rc;
}

/* Builds the provider table (cis_ai.h); a failure's message goes to errmsg. */
static cis_result provider_openai(const cis_ai_openai_config *cfg, cis_ai_provider *out, char *errmsg,
                                  size_t errmsg_cap) {
  cis_result rc = CIS_OK;
  openai *o = NULL;
  if (errmsg && errmsg_cap) errmsg[0] = '\0';
  if (!out) return CIS_EINVAL;
  memset(out, 0, sizeof *out);
  if (!cfg) return setup_fail(errmsg, errmsg_cap, CIS_EINVAL, "no configuration");
  if (!cfg->base_url || !cfg->base_url[0])
    return setup_fail(errmsg, errmsg_cap, CIS_EINVAL, "no base URL");
  if (!cfg->model || !cfg->model[0]) return setup_fail(errmsg, errmsg_cap, CIS_EINVAL, "no model");
  /* A configured provider loads libcurl now (its URL parser checks the
   * base URL), so that a missing libcurl shows at set-up. */
  char why[300];
  cis_result lrc = cis__curl_init(why, sizeof why);
  if (lrc != CIS_OK) return setup_fail(errmsg, errmsg_cap, lrc, why);

  o = calloc(1, sizeof *o);
  if (!o) return CIS_ENOMEM;
  o->max_tokens = cfg->max_tokens;
  o->temperature = cfg->temperature;
  bool bare = false;
  rc = parse_base(o, cfg->base_url, &bare);
  if (rc == CIS_EINVAL) {
    setup_fail(errmsg, errmsg_cap, rc, "base URL is not an http(s) URL");
    goto fail;
  }
  CIS_TRY(rc);

  size_t blen = strlen(cfg->base_url);
  while (blen > 0 && cfg->base_url[blen - 1] == '/') blen--;
  /* A bare origin is the server's root: the OpenAI-compatible API lives
   * under /v1 there (OpenAI, vLLM, llama.cpp, Ollama), so both spellings
   * of the usual base URL work. Any other path is taken as given. */
  const char *suffix = bare ? "/v1/chat/completions" : "/chat/completions";
  o->url = malloc(blen + strlen(suffix) + 1);
  o->model = strdup(cfg->model);
  o->proxy = strdup(cfg->proxy ? cfg->proxy : "");
  if (!o->url || !o->model || !o->proxy) CIS_TRY(CIS_ENOMEM);
  memcpy(o->url, cfg->base_url, blen);
  strcpy(o->url + blen, suffix);
  if (cfg->ca_file && !(o->ca_file = strdup(cfg->ca_file))) CIS_TRY(CIS_ENOMEM);

  if (cfg->api_key_env) {
    char what[200];
    const char *key = getenv(cfg->api_key_env);
    if (!key || !key[0]) {
      snprintf(what, sizeof what, "environment variable %.100s (the API key) is not set",
               cfg->api_key_env);
      setup_fail(errmsg, errmsg_cap, CIS_EINVAL, what);
      CIS_TRY(CIS_EINVAL);
    }
    for (const char *k = key; *k; k++)
      if (!isprint((unsigned char)*k)) {
        snprintf(what, sizeof what, "environment variable %.100s holds a control character",
                 cfg->api_key_env);
        setup_fail(errmsg, errmsg_cap, CIS_EINVAL, what);
        CIS_TRY(CIS_EINVAL);
      }
    o->key = strdup(key);
    o->key_env = strdup(cfg->api_key_env);
    if (!o->key || !o->key_env) CIS_TRY(CIS_ENOMEM);
  }

  *out = (cis_ai_provider){.version = CIS_AI_PROVIDER_VERSION, .name = "openai", .state = o,
                           .chat = openai_chat, .destroy = openai_destroy};
  return CIS_OK;
fail:
  openai_destroy(o);
  return rc;
}

/* It takes no handle and makes none: a failure's message is the calling
 * thread's (cis_errmsg(NULL)). */
cis_result cis_ai_provider_openai(const cis_ai_openai_config *cfg, cis_ai_provider *out) {
  char why[512] = "";
  cis_result rc = provider_openai(cfg, out, why, sizeof why);
  return rc == CIS_OK ? rc : cis__fail(&cis__no_handle, rc, "%s", why[0] ? why : cis_strerror(rc));
}

/* ------------------------------------------------------------ built lazily */

/* The provider built at its first call: set-up (libcurl, the key) costs
 * nothing to programs whose calls never ask for AI, and a set-up failure
 * (an unset key variable, no libcurl) fails only the AI calls, each with
 * CIS_ENOPROVIDER and the reason. */
typedef struct lazy {
  cis_ai_openai_config cfg; /* strings owned (below) */
  char *base_url, *model, *key_env, *proxy, *ca_file;
  pthread_mutex_t lock;     /* guards built, inner, rc, why */
  bool built;               /* set-up was tried */
  cis_ai_provider inner;    /* the provider when set-up worked */
  cis_result rc;            /* set-up's result */
  char why[300];            /* set-up's message */
} lazy;

static void lazy_destroy(void *state) {
  lazy *l = state;
  if (!l) return;
  if (l->built && l->rc == CIS_OK && l->inner.destroy) l->inner.destroy(l->inner.state);
  free(l->base_url);
  free(l->model);
  free(l->key_env);
  free(l->proxy);
  free(l->ca_file);
  pthread_mutex_destroy(&l->lock);
  free(l);
}

static cis_result lazy_chat(void *state, const cis_ai_request *req, cis_ai_reply *reply) {
  lazy *l = state;
  pthread_mutex_lock(&l->lock);
  if (!l->built) {
    l->rc = provider_openai(&l->cfg, &l->inner, l->why, sizeof l->why);
    l->built = true;
  }
  cis_result rc = l->rc;
  pthread_mutex_unlock(&l->lock);
  if (rc != CIS_OK) {
    snprintf(req->errmsg, req->errmsg_cap, "no AI provider: %s", l->why);
    return CIS_ENOPROVIDER;
  }
  return l->inner.chat(l->inner.state, req, reply);
}

static char *dup_or_null(const char *s, bool *oom) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) *oom = true;
  return d;
}

cis_result cis_ai_provider_openai_lazy(const cis_ai_openai_config *cfg, cis_ai_provider *out) {
  if (!out) return CIS_EINVAL;
  memset(out, 0, sizeof *out);
  if (!cfg) return CIS_EINVAL;
  lazy *l = calloc(1, sizeof *l);
  if (!l) return CIS_ENOMEM;
  bool oom = false;
  l->cfg = *cfg;
  l->cfg.base_url = l->base_url = dup_or_null(cfg->base_url, &oom);
  l->cfg.model = l->model = dup_or_null(cfg->model, &oom);
  l->cfg.api_key_env = l->key_env = dup_or_null(cfg->api_key_env, &oom);
  l->cfg.proxy = l->proxy = dup_or_null(cfg->proxy, &oom);
  l->cfg.ca_file = l->ca_file = dup_or_null(cfg->ca_file, &oom);
  pthread_mutex_init(&l->lock, NULL);
  if (oom) {
    lazy_destroy(l);
    return CIS_ENOMEM;
  }
  *out = (cis_ai_provider){.version = CIS_AI_PROVIDER_VERSION, .name = "openai", .state = l,
                           .chat = lazy_chat, .destroy = lazy_destroy};
  return CIS_OK;
}
