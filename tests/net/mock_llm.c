/*
 * This file implements the mock OpenAI-compatible server of
 * tests/net/mock_llm.h: request checks, the deterministic echo answer with
 * its token usage, and the "mock:" failure modes.
 */
#include "net/mock_llm.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct llm_state {
  char *api_key;     /* required key, or NULL */
  atomic_uint seq;   /* numbers the completion ids */
} llm_state;

static void free_state(void *p) {
  llm_state *st = p;
  if (!st) return;
  free(st->api_key);
  free(st);
}

static unsigned count_words(const char *s) {
  unsigned n = 0;
  bool in = false;
  for (; *s; s++) {
    bool sp = isspace((unsigned char)*s);
    if (!sp && !in) n++;
    in = !sp;
  }
  return n;
}

/* Sets an OpenAI-style error reply. */
static void error_reply(cis_mock_response *resp, int status, const char *type, const char *msg) {
  cJSON *o = cJSON_CreateObject();
  cJSON *e = cJSON_AddObjectToObject(o, "error");
  cJSON_AddStringToObject(e, "message", msg);
  cJSON_AddStringToObject(e, "type", type);
  cJSON_AddNullToObject(e, "param");
  cJSON_AddNullToObject(e, "code");
  resp->status = status;
  resp->content_type = "application/json";
  resp->body = cJSON_PrintUnformatted(o);
  resp->body_len = resp->body ? strlen(resp->body) : 0;
  cJSON_Delete(o);
}

/* Builds the normal chat.completion answer. content NULL = JSON null. */
static void chat_reply(llm_state *st, cis_mock_response *resp, const char *model,
                       const char *content, unsigned prompt_words, bool with_usage) {
  char id[64];
  snprintf(id, sizeof id, "chatcmpl-mock-%u", atomic_fetch_add(&st->seq, 1) + 1);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", id);
  cJSON_AddStringToObject(o, "object", "chat.completion");
  cJSON_AddNumberToObject(o, "created", 1700000000);
  cJSON_AddStringToObject(o, "model", model);
  cJSON *choices = cJSON_AddArrayToObject(o, "choices");
  cJSON *ch = cJSON_CreateObject();
  cJSON_AddNumberToObject(ch, "index", 0);
  cJSON *m = cJSON_AddObjectToObject(ch, "message");
  cJSON_AddStringToObject(m, "role", "assistant");
  if (content) cJSON_AddStringToObject(m, "content", content);
  else cJSON_AddNullToObject(m, "content");
  cJSON_AddStringToObject(ch, "finish_reason", "stop");
  cJSON_AddItemToArray(choices, ch);
  if (with_usage) {
    unsigned cw = content ? count_words(content) : 0;
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", prompt_words);
    cJSON_AddNumberToObject(u, "completion_tokens", cw);
    cJSON_AddNumberToObject(u, "total_tokens", prompt_words + cw);
  }
  resp->content_type = "application/json";
  resp->body = cJSON_PrintUnformatted(o);
  resp->body_len = resp->body ? strlen(resp->body) : 0;
  cJSON_Delete(o);
}

static void llm_handler(void *user, cis_mock_server *srv, const cis_mock_request *req,
                        cis_mock_response *resp) {
  llm_state *st = user;
  if (strcmp(req->method, "POST") != 0 || strcmp(req->path, "/v1/chat/completions") != 0) {
    error_reply(resp, 404, "invalid_request_error", "unknown endpoint");
    return;
  }
  if (st->api_key) {
    const char *auth = cis_mock_header(req, "Authorization");
    char want[512];
    snprintf(want, sizeof want, "Bearer %s", st->api_key);
    if (!auth || strcmp(auth, want) != 0) {
      char msg[600];
      snprintf(msg, sizeof msg, "Incorrect API key provided: %s.",
               auth && strncmp(auth, "Bearer ", 7) == 0 ? auth + 7 : "(none)");
      error_reply(resp, 401, "invalid_request_error", msg);
      return;
    }
  }
  const char *ctype = cis_mock_header(req, "Content-Type");
  if (!ctype || strncmp(ctype, "application/json", 16) != 0) {
    error_reply(resp, 400, "invalid_request_error", "Content-Type must be application/json");
    return;
  }

  cJSON *in = cJSON_ParseWithLength(req->body, req->body_len);
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(in, "model");
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(in, "messages");
  if (!cJSON_IsObject(in) || !cJSON_IsString(model) || !cJSON_IsArray(msgs) ||
      cJSON_GetArraySize(msgs) == 0) {
    error_reply(resp, 400, "invalid_request_error", "model and messages are required");
    cJSON_Delete(in);
    return;
  }
  unsigned words = 0;
  const char *last_user = NULL;
  const cJSON *m;
  cJSON_ArrayForEach(m, msgs) {
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (!cJSON_IsString(role) || !cJSON_IsString(content)) {
      error_reply(resp, 400, "invalid_request_error", "each message needs role and content");
      cJSON_Delete(in);
      return;
    }
    words += count_words(content->valuestring);
    if (strcmp(role->valuestring, "user") == 0) last_user = content->valuestring;
  }
  if (!last_user) last_user = "";

  if (strncmp(last_user, "mock:slow:", 10) == 0) {
    cis_mock_sleep(srv, (unsigned)strtoul(last_user + 10, NULL, 10));
  } else if (strncmp(last_user, "mock:status:", 12) == 0) {
    int status = atoi(last_user + 12);
    if (status < 100 || status > 599) status = 500;
    error_reply(resp, status, "server_error", "The server had an error");
    cJSON_Delete(in);
    return;
  } else if (strcmp(last_user, "mock:badjson") == 0) {
    cis_mock_set_body(resp, "{\"choices\": [ {\"message\": ");
    resp->content_type = "application/json";
    cJSON_Delete(in);
    return;
  } else if (strcmp(last_user, "mock:nochoices") == 0) {
    cis_mock_set_body(resp, "{\"id\":\"x\",\"object\":\"chat.completion\"}");
    resp->content_type = "application/json";
    cJSON_Delete(in);
    return;
  } else if (strcmp(last_user, "mock:nul") == 0) {
    /* A reply whose content holds a NUL and the escapes that look like
     * one: "a", NUL, "b", the 6 characters \u0000, two backslashes, one
     * backslash (\u005c), "z", e-acute, and U+1F600 as a surrogate pair:
     * MOCK_LLM_NUL_CONTENT bytes. */
    cis_mock_set_body(resp, "{\"id\":\"x\",\"object\":\"chat.completion\",\"model\":\"mock\\u0000x\","
                            "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
                            "\"a\\u0000b\\\\u0000\\\\\\\\\\u005cz\\u00e9\\ud83d\\ude00\"},"
                            "\"finish_reason\":\"stop\"}],"
                            "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}");
    resp->content_type = "application/json";
    cJSON_Delete(in);
    return;
  } else if (strcmp(last_user, "mock:nullcontent") == 0) {
    chat_reply(st, resp, model->valuestring, NULL, words, true);
    cJSON_Delete(in);
    return;
  } else if (strncmp(last_user, "mock:big:", 9) == 0) {
    size_t n = strtoul(last_user + 9, NULL, 10);
    char *big = malloc(n + 1);
    if (big) {
      memset(big, 'a', n);
      big[n] = '\0';
      chat_reply(st, resp, model->valuestring, big, words, true);
      free(big);
    }
    cJSON_Delete(in);
    return;
  }

  size_t n = strlen(last_user) + 7;
  char *content = malloc(n);
  if (content) {
    snprintf(content, n, "echo: %s", last_user);
    chat_reply(st, resp, model->valuestring, content, words, strcmp(last_user, "mock:nousage") != 0);
    free(content);
  }
  cJSON_Delete(in);
}

cis_mock_server *cis_mock_llm_start(const cis_mock_llm_config *cfg, uint16_t port) {
  llm_state *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  if (cfg && cfg->api_key) {
    st->api_key = strdup(cfg->api_key);
    if (!st->api_key) {
      free(st);
      return NULL;
    }
  }
  return cis_mock_start_port(port, llm_handler, st, free_state);
}
