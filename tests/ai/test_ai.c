/*
 * This file implements the tests of the AI service (src/ai) against the
 * mock OpenAI-compatible server of tests/net on 127.0.0.1: a real reply
 * with its usage, the deadline cutting a slow answer, error statuses (500,
 * 401 for a wrong key, which must not leak into messages), malformed and
 * oversized replies, a missing provider, input checks, an embedder's own
 * provider through the public table, and calls from several threads.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "cis/cis_ai.h"
#include "common/internal.h"
#include "net/mock_llm.h"

#define KEY_ENV "CIS_TEST_AI_KEY"
#define GOOD_KEY "sk-test-0123456789abcdef"
#define WRONG_KEY "sk-wrong-fedcba9876543210"

static const cis_principal who = {.tenant = "acme", .skill = "writer"};

/* Accounting hook state. */
typedef struct usage_log {
  pthread_mutex_t lock;   /* hook may run on several threads */
  int calls;              /* hook calls */
  uint64_t total;         /* sum of total_tokens */
  char skill[32];         /* skill of the last call */
} usage_log;

static void on_usage(void *user, const cis_principal *p, const cis_ai_usage *u) {
  usage_log *l = user;
  pthread_mutex_lock(&l->lock);
  l->calls++;
  l->total += u->total_tokens;
  snprintf(l->skill, sizeof l->skill, "%s", p->skill ? p->skill : "");
  pthread_mutex_unlock(&l->lock);
}

/* A service on the built-in provider, pointed at base_url with the key in
 * KEY_ENV, and the given reply cap (0 = default). */
static cis_ai *openai_service(const char *base_url, size_t max_reply, usage_log *ul) {
  cis_ai_openai_config oc;
  cis_ai_openai_config_default(&oc);
  oc.base_url = base_url;
  oc.model = "test-model";
  oc.api_key_env = KEY_ENV;
  cis_ai_config cfg;
  cis_ai_config_default(&cfg);
  cis_result rc = cis_ai_provider_openai(&oc, &cfg.provider);
  if (rc != CIS_OK) fprintf(stderr, "provider: %s\n", cis_errmsg(NULL));
  assert_int_equal(rc, CIS_OK);
  cfg.max_reply_bytes = max_reply;
  if (ul) {
    cfg.on_usage = on_usage;
    cfg.usage_user = ul;
  }
  cis_ai *ai;
  assert_int_equal(cis_ai_new(&cfg, &ai), CIS_OK);
  assert_true(cis_ai_has_provider(ai));
  return ai;
}

static char *base_of(cis_mock_server *s) {
  static char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/v1", cis_mock_port(s));
  return url;
}

static cis_result prompt(cis_ai *ai, const char *text, uint64_t timeout_ms, cis_ai_reply *r) {
  return cis_ai_prompt(ai, &who, text, strlen(text), timeout_ms, r);
}

static int setup(void **state) {
  (void)state;
  setenv(KEY_ENV, GOOD_KEY, 1);
  return 0;
}

/* ------------------------------------------------------------ no provider */

static void test_no_provider_no_fake_answer(void **state) {
  (void)state;
  cis_ai *ai;
  assert_int_equal(cis_ai_new(NULL, &ai), CIS_OK);
  assert_false(cis_ai_has_provider(ai));
  cis_ai_reply r;
  assert_int_equal(prompt(ai, "hello", 1000, &r), CIS_ENOPROVIDER);
  assert_null(r.text);
  assert_non_null(strstr(cis_errmsg(ai), "no AI provider"));
  cis_ai_stats st;
  cis_ai_stats_get(ai, &st);
  assert_int_equal(st.calls, 1);
  assert_int_equal(st.failures, 1);
  cis_ai_free(ai);
}

/* ---------------------------------------------------------- the real path */

static void test_normal_reply_and_usage(void **state) {
  (void)state;
  cis_mock_llm_config mc = {.api_key = GOOD_KEY};
  cis_mock_server *s = cis_mock_llm_start(&mc, 0);
  assert_non_null(s);
  usage_log ul = {.lock = PTHREAD_MUTEX_INITIALIZER};
  cis_ai *ai = openai_service(base_of(s), 0, &ul);

  cis_ai_reply r;
  assert_int_equal(prompt(ai, "what is the weather in Paris", 5000, &r), CIS_OK);
  assert_string_equal(r.text, "echo: what is the weather in Paris");
  assert_int_equal(r.text_len, strlen("echo: what is the weather in Paris"));
  assert_true(r.usage.reported);
  assert_int_equal(r.usage.prompt_tokens, 6);
  assert_int_equal(r.usage.completion_tokens, 7);
  assert_int_equal(r.usage.total_tokens, 13);
  assert_string_equal(r.model, "test-model");
  assert_string_equal(r.finish_reason, "stop");
  assert_int_equal(r.http_status, 200);
  cis_ai_reply_free(&r);
  assert_null(r.text);

  /* what went over the wire: the protocol, and the key as a bearer token */
  char *method, *path, *headers, *body;
  cis_mock_last(s, &method, &path, &headers, &body);
  assert_string_equal(method, "POST");
  assert_string_equal(path, "/v1/chat/completions");
  assert_non_null(strstr(headers, "Authorization: Bearer " GOOD_KEY));
  cJSON *j = cJSON_Parse(body);
  assert_non_null(j);
  assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "test-model");
  cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 0);
  assert_string_equal(cJSON_GetObjectItem(m0, "role")->valuestring, "user");
  assert_string_equal(cJSON_GetObjectItem(m0, "content")->valuestring, "what is the weather in Paris");
  cJSON_Delete(j);
  free(method);
  free(path);
  free(headers);
  free(body);

  /* several messages, with quotes and non-ASCII text that JSON must carry */
  cis_ai_message msgs[] = {
      {.role = "system", .content = "You are \"terse\".", .content_len = 16},
      {.role = "user", .content = "caf\xc3\xa9 \\ now", .content_len = 11},
  };
  assert_int_equal(cis_ai_chat(ai, &who, msgs, 2, 5000, &r), CIS_OK);
  assert_string_equal(r.text, "echo: caf\xc3\xa9 \\ now");
  assert_int_equal(r.usage.prompt_tokens, 3 + 3);
  cis_ai_reply_free(&r);

  /* a reply without usage still works; usage says so */
  assert_int_equal(prompt(ai, "mock:nousage", 5000, &r), CIS_OK);
  assert_false(r.usage.reported);
  assert_int_equal(r.usage.total_tokens, 0);
  cis_ai_reply_free(&r);

  cis_ai_stats st;
  cis_ai_stats_get(ai, &st);
  assert_int_equal(st.calls, 3);
  assert_int_equal(st.failures, 0);
  assert_int_equal(st.total_tokens, 13 + (6 + 4));
  assert_int_equal(ul.calls, 3);
  assert_int_equal(ul.total, st.total_tokens);
  assert_string_equal(ul.skill, "writer");
  cis_ai_free(ai);
  cis_mock_stop(s);
}

/* Timing bounds a loaded machine cannot fail. curl waits in poll(), so
 * load only makes a deadline late in wall time: it is never met early
 * (less 1 ms, as curl judges its timeout on its own clock to the
 * millisecond), and the upper bound is ten times the deadline, which a
 * deadline not enforced at all (the reply comes after 5 s) or several
 * times late still fails. */
#define WALL_FACTOR 10.0

/* A 5 s reply under a 300 ms budget: ETIMEOUT at the deadline. */
static void test_slow_reply_cut_by_deadline(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_llm_start(NULL, 0);
  cis_ai *ai = openai_service(base_of(s), 0, NULL);
  cis_ai_reply r;
  uint64_t t0 = cis__now_ns();
  assert_int_equal(prompt(ai, "mock:slow:5000", 300, &r), CIS_ETIMEOUT);
  double ms = (double)(cis__now_ns() - t0) / 1e6;
  print_message("deadline 300 ms: the prompt ended after %.1f ms (elapsed_ms %llu)\n", ms,
                (unsigned long long)r.elapsed_ms);
  if (ms < 300.0 - 1.0 || ms > 300.0 * WALL_FACTOR)
    fail_msg("a 300 ms deadline ended the prompt after %.1f ms", ms);
  assert_null(r.text);
  assert_true(r.elapsed_ms >= 300 - 1);
  assert_non_null(strstr(cis_errmsg(ai), "300 ms"));

  /* a slow answer inside the budget arrives */
  assert_int_equal(prompt(ai, "mock:slow:100", 5000, &r), CIS_OK);
  assert_string_equal(r.text, "echo: mock:slow:100");
  cis_ai_reply_free(&r);

  /* no time left: nothing is sent */
  unsigned before = cis_mock_requests(s);
  assert_int_equal(prompt(ai, "hello", 0, &r), CIS_ETIMEOUT);
  assert_int_equal(cis_mock_requests(s), before);
  cis_ai_free(ai);
  cis_mock_stop(s);
}

static void test_error_statuses(void **state) {
  (void)state;
  cis_mock_llm_config mc = {.api_key = GOOD_KEY};
  cis_mock_server *s = cis_mock_llm_start(&mc, 0);
  cis_ai *ai = openai_service(base_of(s), 0, NULL);
  cis_ai_reply r;
  assert_int_equal(prompt(ai, "mock:status:500", 5000, &r), CIS_EHTTPSTATUS);
  assert_int_equal(r.http_status, 500);
  assert_null(r.text);
  assert_non_null(strstr(cis_errmsg(ai), "HTTP 500"));
  assert_non_null(strstr(cis_errmsg(ai), "The server had an error"));
  assert_int_equal(prompt(ai, "mock:status:429", 5000, &r), CIS_EHTTPSTATUS);
  assert_int_equal(r.http_status, 429);
  cis_ai_free(ai);

  /* the path is wrong: 404 */
  char bad[96];
  snprintf(bad, sizeof bad, "http://127.0.0.1:%u/nope", cis_mock_port(s));
  ai = openai_service(bad, 0, NULL);
  assert_int_equal(prompt(ai, "hi", 5000, &r), CIS_EHTTPSTATUS);
  assert_int_equal(r.http_status, 404);
  cis_ai_free(ai);
  cis_mock_stop(s);
}

/* A wrong key gives 401; the mock echoes the key it got in its error
 * body, and neither key may show in the message. */
static void test_wrong_key_401_not_leaked(void **state) {
  (void)state;
  cis_mock_llm_config mc = {.api_key = GOOD_KEY};
  cis_mock_server *s = cis_mock_llm_start(&mc, 0);
  setenv(KEY_ENV, WRONG_KEY, 1);
  cis_ai *ai = openai_service(base_of(s), 0, NULL);
  setenv(KEY_ENV, GOOD_KEY, 1);
  cis_ai_reply r;
  assert_int_equal(prompt(ai, "hello", 5000, &r), CIS_EHTTPSTATUS);
  assert_int_equal(r.http_status, 401);
  const char *msg = cis_errmsg(ai);
  assert_non_null(strstr(msg, "401"));
  assert_non_null(strstr(msg, KEY_ENV));
  assert_null(strstr(msg, WRONG_KEY));
  assert_null(strstr(msg, "sk-"));
  char *headers;
  cis_mock_last(s, NULL, NULL, &headers, NULL);
  assert_non_null(strstr(headers, WRONG_KEY)); /* it was really sent */
  free(headers);
  cis_ai_free(ai);
  cis_mock_stop(s);
}

static void test_malformed_replies(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_llm_start(NULL, 0);
  cis_ai *ai = openai_service(base_of(s), 0, NULL);
  cis_ai_reply r;
  assert_int_equal(prompt(ai, "mock:badjson", 5000, &r), CIS_EBADREPLY);
  assert_non_null(strstr(cis_errmsg(ai), "not a JSON object"));
  assert_int_equal(r.http_status, 200);
  assert_int_equal(prompt(ai, "mock:nochoices", 5000, &r), CIS_EBADREPLY);
  assert_non_null(strstr(cis_errmsg(ai), "no choices"));
  assert_int_equal(prompt(ai, "mock:nullcontent", 5000, &r), CIS_EBADREPLY);
  assert_non_null(strstr(cis_errmsg(ai), "no text"));
  assert_null(r.text);
  cis_ai_free(ai);
  cis_mock_stop(s);
}

static void test_oversized_reply(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_llm_start(NULL, 0);
  cis_ai *ai = openai_service(base_of(s), 64 * 1024, NULL);
  cis_ai_reply r;
  assert_int_equal(prompt(ai, "mock:big:100000", 5000, &r), CIS_ETOOBIG);
  assert_null(r.text);
  assert_non_null(strstr(cis_errmsg(ai), "65536"));
  /* just under the cap passes */
  assert_int_equal(prompt(ai, "mock:big:60000", 5000, &r), CIS_OK);
  assert_int_equal(r.text_len, 60000);
  cis_ai_reply_free(&r);
  cis_ai_free(ai);
  /* the default cap (4 MiB) against a 5 MiB answer */
  ai = openai_service(base_of(s), 0, NULL);
  assert_int_equal(prompt(ai, "mock:big:5242880", 10000, &r), CIS_ETOOBIG);
  cis_ai_free(ai);
  cis_mock_stop(s);
}

/* The finding: an AI reply containing \u0000 reached the skill cut at the
 * NUL. The text is length-counted end to end: every byte arrives, the NUL
 * and the escapes that look like one (\\u0000, \\\\, \u005c) included. */
static void test_reply_with_nul_arrives_whole(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_llm_start(NULL, 0);
  cis_ai *ai = openai_service(base_of(s), 0, NULL);
  cis_ai_reply r;
  assert_int_equal(prompt(ai, "mock:nul", 5000, &r), CIS_OK);
  assert_int_equal(r.text_len, MOCK_LLM_NUL_LEN);
  assert_memory_equal(r.text, MOCK_LLM_NUL_CONTENT, MOCK_LLM_NUL_LEN);
  assert_int_equal(r.text[r.text_len], '\0');
  assert_string_equal(r.model, "mock"); /* a name stops at its NUL */
  assert_string_equal(r.finish_reason, "stop");
  assert_int_equal(r.usage.total_tokens, 2);
  cis_ai_reply_free(&r);
  /* A reply without the escape is read as before. */
  assert_int_equal(prompt(ai, "back\\slash \"quoted\"", 5000, &r), CIS_OK);
  assert_string_equal(r.text, "echo: back\\slash \"quoted\"");
  cis_ai_reply_free(&r);
  cis_ai_free(ai);
  cis_mock_stop(s);
}

static void test_network_failure(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_llm_start(NULL, 0);
  char url[64];
  snprintf(url, sizeof url, "%s", base_of(s));
  cis_mock_stop(s); /* nothing listens there any more */
  cis_ai *ai = openai_service(url, 0, NULL);
  cis_ai_reply r;
  assert_int_equal(prompt(ai, "hello", 2000, &r), CIS_ENET);
  assert_non_null(strstr(cis_errmsg(ai), "127.0.0.1"));
  cis_ai_free(ai);
}

static void test_provider_config_errors(void **state) {
  (void)state;
  cis_ai_openai_config oc;
  cis_ai_openai_config_default(&oc);
  cis_ai_provider p;
  const char *err = cis_errmsg(NULL); /* no handle: the thread's message */
  oc.model = "m";
  assert_int_equal(cis_ai_provider_openai(&oc, &p), CIS_EINVAL);
  assert_non_null(strstr(err, "base URL"));
  oc.base_url = "ftp://127.0.0.1/v1";
  assert_int_equal(cis_ai_provider_openai(&oc, &p), CIS_EINVAL);
  assert_non_null(strstr(err, "not an http(s) URL"));
  oc.base_url = "http://127.0.0.1:1/v1";
  oc.model = NULL;
  assert_int_equal(cis_ai_provider_openai(&oc, &p), CIS_EINVAL);
  assert_non_null(strstr(err, "model"));
  oc.model = "m";
  oc.api_key_env = "CIS_TEST_SURELY_UNSET_VARIABLE";
  unsetenv(oc.api_key_env);
  assert_int_equal(cis_ai_provider_openai(&oc, &p), CIS_EINVAL);
  assert_non_null(strstr(err, "CIS_TEST_SURELY_UNSET_VARIABLE"));
  setenv("CIS_TEST_KEY_WITH_NEWLINE", "abc\r\nX-Injected: 1", 1);
  oc.api_key_env = "CIS_TEST_KEY_WITH_NEWLINE";
  assert_int_equal(cis_ai_provider_openai(&oc, &p), CIS_EINVAL);
  assert_null(strstr(err, "Injected"));
  assert_int_equal(cis_ai_provider_openai(NULL, &p), CIS_EINVAL);
  assert_non_null(strstr(err, "no configuration"));
  assert_int_equal(p.version, 0);

  /* no key variable at all is fine for local servers */
  oc.api_key_env = NULL;
  assert_int_equal(cis_ai_provider_openai(&oc, &p), CIS_OK);
  p.destroy(p.state);
}

static void test_input_checks(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_llm_start(NULL, 0);
  cis_ai_openai_config oc;
  cis_ai_openai_config_default(&oc);
  oc.base_url = base_of(s);
  oc.model = "m";
  cis_ai_config cfg;
  cis_ai_config_default(&cfg);
  assert_int_equal(cis_ai_provider_openai(&oc, &cfg.provider), CIS_OK);
  cfg.max_prompt_bytes = 32;
  cis_ai *ai;
  assert_int_equal(cis_ai_new(&cfg, &ai), CIS_OK);
  cis_ai_reply r;
  assert_int_equal(cis_ai_prompt(ai, &who, "bad \xff utf8", 10, 5000, &r), CIS_EINVAL);
  assert_non_null(strstr(cis_errmsg(ai), "UTF-8"));
  assert_int_equal(cis_ai_prompt(ai, &who, "nul\0byte", 8, 5000, &r), CIS_EINVAL);
  assert_int_equal(cis_ai_prompt(ai, &who, "overlong \xc0\xaf", 11, 5000, &r), CIS_EINVAL);
  assert_int_equal(cis_ai_prompt(ai, &who, "0123456789012345678901234567890123", 33, 5000, &r),
                   CIS_ETOOBIG);
  assert_int_equal(cis_ai_prompt(ai, &who, "01234567890123456789012345678901", 32, 5000, &r), CIS_OK);
  cis_ai_reply_free(&r);
  assert_int_equal(cis_ai_prompt(ai, &who, NULL, 4, 5000, &r), CIS_EINVAL);
  cis_ai_message m[] = {{.role = "wizard", .content = "x", .content_len = 1}};
  assert_int_equal(cis_ai_chat(ai, &who, m, 1, 5000, &r), CIS_EINVAL);
  m[0].role = NULL;
  assert_int_equal(cis_ai_chat(ai, &who, m, 1, 5000, &r), CIS_EINVAL);
  assert_int_equal(cis_ai_chat(ai, &who, NULL, 0, 5000, &r), CIS_EINVAL);
  assert_int_equal(cis_ai_chat(ai, &who, m, 1, 5000, NULL), CIS_EINVAL);
  assert_int_equal(cis_ai_chat(NULL, &who, m, 1, 5000, &r), CIS_EINVAL);
  /* only the one good call reached the server */
  assert_int_equal(cis_mock_requests(s), 1);
  cis_ai_free(ai);
  cis_mock_stop(s);
}

/* -------------------------------------------------- an embedder's provider */

typedef struct fake_state {
  int calls;           /* chat calls */
  int destroyed;       /* destroy calls */
  uint64_t last_timeout; /* timeout_ms of the last request */
  bool return_no_text; /* misbehave: CIS_OK without text */
} fake_state;

static cis_result fake_chat(void *state, const cis_ai_request *req, cis_ai_reply *reply) {
  fake_state *f = state;
  f->calls++;
  f->last_timeout = req->timeout_ms;
  if (f->return_no_text) return CIS_OK;
  if (strcmp(req->who->skill, "blocked") == 0) {
    snprintf(req->errmsg, req->errmsg_cap, "skill is blocked upstream");
    return CIS_EHTTPSTATUS;
  }
  char text[64];
  int n = snprintf(text, sizeof text, "%zu message(s), last: %.*s", req->nmessages,
                   (int)req->messages[req->nmessages - 1].content_len,
                   req->messages[req->nmessages - 1].content);
  reply->usage = (cis_ai_usage){.prompt_tokens = 2, .completion_tokens = 3, .total_tokens = 5,
                                .reported = true};
  return cis_ai_reply_set_text(reply, text, (size_t)n);
}

static void fake_destroy(void *state) { ((fake_state *)state)->destroyed++; }

static void test_embedder_provider(void **state) {
  (void)state;
  fake_state f = {0};
  cis_ai_config cfg;
  cis_ai_config_default(&cfg);
  cfg.provider = (cis_ai_provider){.version = CIS_AI_PROVIDER_VERSION, .name = "fake", .state = &f,
                                   .chat = fake_chat, .destroy = fake_destroy};
  cfg.timeout_ms = 1000;
  cis_ai *ai;
  assert_int_equal(cis_ai_new(&cfg, &ai), CIS_OK);
  cis_ai_reply r;
  assert_int_equal(prompt(ai, "hi", UINT64_MAX, &r), CIS_OK);
  assert_string_equal(r.text, "1 message(s), last: hi");
  assert_int_equal(r.usage.total_tokens, 5);
  assert_int_equal(f.last_timeout, 1000); /* the service's cap */
  cis_ai_reply_free(&r);
  assert_int_equal(prompt(ai, "hi", 250, &r), CIS_OK);
  assert_int_equal(f.last_timeout, 250); /* the caller's budget */
  cis_ai_reply_free(&r);

  cis_principal blocked = {.tenant = NULL, .skill = "blocked"};
  assert_int_equal(cis_ai_prompt(ai, &blocked, "x", 1, 1000, &r), CIS_EHTTPSTATUS);
  assert_non_null(strstr(cis_errmsg(ai), "ai (fake): skill is blocked upstream"));

  f.return_no_text = true;
  assert_int_equal(prompt(ai, "hi", 1000, &r), CIS_EBADREPLY);
  cis_ai_stats st;
  cis_ai_stats_get(ai, &st);
  assert_int_equal(st.calls, 4);
  assert_int_equal(st.failures, 2);
  assert_int_equal(st.total_tokens, 10);
  cis_ai_free(ai);
  assert_int_equal(f.destroyed, 1);

  /* a table of another version is refused, and stays the caller's */
  cfg.provider.version = 99;
  assert_int_equal(cis_ai_new(&cfg, &ai), CIS_EINVAL);
  assert_non_null(ai); /* a failed service: why, and nothing else */
  assert_non_null(strstr(cis_errmsg(ai), "provider version 99"));
  cis_ai_reply rep;
  assert_int_equal(cis_ai_prompt(ai, NULL, "x", 1, 1000, &rep), CIS_ESTATE);
  assert_non_null(strstr(cis_errmsg(ai), "provider version 99"));
  assert_false(cis_ai_has_provider(ai));
  cis_ai_free(ai);
  cfg.provider.version = CIS_AI_PROVIDER_VERSION;
  cfg.provider.chat = NULL;
  assert_int_equal(cis_ai_new(&cfg, &ai), CIS_EINVAL);
  assert_non_null(strstr(cis_errmsg(ai), "without a chat method"));
  cis_ai_free(ai);
  assert_int_equal(f.destroyed, 1);
}

/* ------------------------------------------------------------ threads */

typedef struct par {
  cis_ai *ai;  /* shared service */
  int id;      /* thread number */
  int ok;      /* correct replies */
} par;

static void *par_main(void *arg) {
  par *a = arg;
  for (int i = 0; i < 3; i++) {
    char text[64], want[80];
    snprintf(text, sizeof text, "thread %d call %d", a->id, i);
    snprintf(want, sizeof want, "echo: %s", text);
    cis_ai_reply r;
    if (cis_ai_prompt(a->ai, &who, text, strlen(text), 5000, &r) == CIS_OK &&
        strcmp(r.text, want) == 0)
      a->ok++;
    cis_ai_reply_free(&r);
  }
  return NULL;
}

static void test_concurrent_calls(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_llm_start(NULL, 0);
  cis_ai *ai = openai_service(base_of(s), 0, NULL);
  pthread_t t[4];
  par a[4];
  for (int i = 0; i < 4; i++) {
    a[i] = (par){.ai = ai, .id = i};
    assert_int_equal(pthread_create(&t[i], NULL, par_main, &a[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(a[i].ok, 3);
  }
  cis_ai_stats st;
  cis_ai_stats_get(ai, &st);
  assert_int_equal(st.calls, 12);
  cis_ai_free(ai);
  cis_mock_stop(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_provider_no_fake_answer),
      cmocka_unit_test(test_normal_reply_and_usage),
      cmocka_unit_test(test_slow_reply_cut_by_deadline),
      cmocka_unit_test(test_error_statuses),
      cmocka_unit_test(test_wrong_key_401_not_leaked),
      cmocka_unit_test(test_malformed_replies),
      cmocka_unit_test(test_oversized_reply),
      cmocka_unit_test(test_reply_with_nul_arrives_whole),
      cmocka_unit_test(test_network_failure),
      cmocka_unit_test(test_provider_config_errors),
      cmocka_unit_test(test_input_checks),
      cmocka_unit_test(test_embedder_provider),
      cmocka_unit_test(test_concurrent_calls),
  };
  return cmocka_run_group_tests_name("ai", tests, setup, NULL);
}
