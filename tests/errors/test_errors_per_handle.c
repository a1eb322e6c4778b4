/*
 * This file implements the tests of the rule that an error stays on its
 * handle: cis_errmsg(handle) is the last failure of that handle on the
 * calling thread, whatever other handles (another engine, the KV store, the
 * AI service, the HTTP client) or other threads failed since.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cis/cis.h"
#include "cis/cis_ai.h"
#include "cis/cis_http.h"
#include "cis/cis_kv.h"

/* Two bad modules whose messages differ: no magic, and a wrong version. */
static const uint8_t junk[] = {'j', 'u', 'n', 'k'};
static const uint8_t badver[] = {0, 'a', 's', 'm', 9, 0, 0, 0};

static cis_engine *engine(void) {
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  return e;
}

static void fail_engine(cis_engine *e, const uint8_t *b, size_t n) {
  cis_module *m = NULL;
  assert_int_not_equal(cis_module_new(e, b, n, &m), CIS_OK);
  assert_null(m);
  assert_true(cis_errmsg(e)[0] != '\0');
}

static cis_kv *kv_open(char *path, size_t cap) {
  char dir[] = "/tmp/cis-errors-XXXXXX";
  assert_non_null(mkdtemp(dir));
  snprintf(path, cap, "sqlite:%s/kv.db", dir);
  cis_kv_config c;
  cis_kv_config_default(&c);
  c.spec = path;
  cis_kv *kv = NULL;
  assert_int_equal(cis_kv_open(&c, &kv), CIS_OK);
  return kv;
}

/* A KV failure with a message of its own (no such key). */
static void fail_kv(cis_kv *kv) {
  cis_principal who = {"t", "s"};
  cis_kv_txn *t = NULL;
  assert_int_equal(cis_kv_begin(kv, &who, 10000, &t), CIS_OK);
  void *v = NULL;
  size_t vl = 0;
  assert_int_equal(cis_kv_get(t, "missing", 7, &v, &vl), CIS_ENOTFOUND);
  cis_kv_rollback(t);
  assert_non_null(strstr(cis_kv_errmsg(kv), "no such key"));
}

/* An engine's message survives a failure of a KV store on the same thread,
 * and the store's is its own (also through cis_errmsg(kv)). */
static void test_kv_failure_keeps_engine_message(void **state) {
  (void)state;
  cis_engine *e = engine();
  char spec[256];
  cis_kv *kv = kv_open(spec, sizeof spec);
  fail_engine(e, junk, sizeof junk);
  char before[600];
  snprintf(before, sizeof before, "%s", cis_errmsg(e));
  fail_kv(kv);
  assert_string_equal(cis_errmsg(e), before);
  assert_non_null(strstr(cis_errmsg(kv), "no such key"));
  assert_string_equal(cis_errmsg(kv), cis_kv_errmsg(kv));
  cis_kv_close(kv);
  cis_engine_free(e);
}

/* Two engines used on one thread keep their own messages. */
static void test_two_engines_keep_their_own_messages(void **state) {
  (void)state;
  cis_engine *a = engine(), *b = engine();
  fail_engine(a, junk, sizeof junk);
  char ma[600];
  snprintf(ma, sizeof ma, "%s", cis_errmsg(a));
  assert_string_equal(cis_errmsg(b), "");
  fail_engine(b, badver, sizeof badver);
  assert_string_not_equal(cis_errmsg(b), ma);
  assert_string_equal(cis_errmsg(a), ma);
  cis_engine_free(a);
  cis_engine_free(b);
}

static void *read_kv_msg(void *kv) { return (void *)cis_kv_errmsg(kv); }

/* A KV store's open failure is on the failed store it hands back: read on
 * any thread, beside an open store's message, which it does not touch;
 * cis_errmsg(NULL) (the calls without a handle) is not involved. */
static void test_kv_open_failure_is_on_the_failed_store(void **state) {
  (void)state;
  char spec[256];
  cis_kv *kv = kv_open(spec, sizeof spec);
  fail_kv(kv);
  cis_kv_config c;
  cis_kv_config_default(&c);
  c.spec = "nosuch:x";
  cis_kv *bad = NULL;
  assert_int_equal(cis_kv_open(&c, &bad), CIS_EINVAL);
  assert_non_null(bad);
  assert_non_null(strstr(cis_kv_errmsg(bad), "unknown spec \"nosuch\""));
  assert_string_equal(cis_errmsg(bad), cis_kv_errmsg(bad));
  assert_string_equal(cis_errmsg(NULL), "");
  pthread_t th;
  void *other = NULL;
  assert_int_equal(pthread_create(&th, NULL, read_kv_msg, bad), 0);
  assert_int_equal(pthread_join(th, &other), 0);
  assert_string_equal(other, cis_kv_errmsg(bad));
  assert_non_null(strstr(cis_kv_errmsg(kv), "no such key"));
  cis_kv_close(bad);
  cis_kv_close(kv);
}

/* ---------------------------------------------------- two threads */

enum { ROUNDS = 200 };

typedef struct shared {
  cis_engine *e;            /* used by both threads */
  cis_kv *kv;               /* thread A's */
  cis_ai *ai;               /* thread B's */
  cis_http *http;           /* thread B's */
  cis_http_policy *policy;  /* empty: denies everything */
  pthread_barrier_t go;     /* both start together */
  int bad;                  /* mismatches seen (per thread, summed after) */
  char why[600];            /* the first mismatch */
} shared;

typedef struct worker {
  shared *sh;
  int bad;
  char why[600];
} worker;

static void check(worker *w, const char *what, const char *got, const char *want) {
  if (!strcmp(got, want) || w->bad++) return;
  snprintf(w->why, sizeof w->why, "%s: got \"%.200s\", want \"%.200s\"", what, got, want);
}

static void check_has(worker *w, const char *what, const char *got, const char *part) {
  if (strstr(got, part) || w->bad++) return;
  snprintf(w->why, sizeof w->why, "%s: \"%.200s\" lacks \"%s\"", what, got, part);
}

/* Thread A: the engine (junk) and the KV store fail alternately. */
static void *thread_a(void *p) {
  worker *w = p;
  shared *sh = w->sh;
  cis_principal who = {"t", "s"};
  char mine[600] = "";
  pthread_barrier_wait(&sh->go);
  for (int i = 0; i < ROUNDS; i++) {
    cis_module *m = NULL;
    if (cis_module_new(sh->e, junk, sizeof junk, &m) == CIS_OK) cis_module_free(m);
    if (!mine[0]) snprintf(mine, sizeof mine, "%s", cis_errmsg(sh->e));
    check(w, "A engine", cis_errmsg(sh->e), mine);
    cis_kv_txn *t = NULL;
    if (cis_kv_begin(sh->kv, &who, 10000, &t) == CIS_OK) {
      void *v = NULL;
      size_t vl = 0;
      if (cis_kv_get(t, "k", 1, &v, &vl) == CIS_OK) cis_kv_free(v);
      cis_kv_rollback(t);
    }
    check_has(w, "A kv", cis_errmsg(sh->kv), "no such key");
    check(w, "A engine after kv", cis_errmsg(sh->e), mine);
  }
  return NULL;
}

/* Thread B: the engine (wrong version), the AI service (no provider) and
 * the HTTP client (denied) fail in turn. */
static void *thread_b(void *p) {
  worker *w = p;
  shared *sh = w->sh;
  char mine[600] = "";
  pthread_barrier_wait(&sh->go);
  for (int i = 0; i < ROUNDS; i++) {
    cis_module *m = NULL;
    if (cis_module_new(sh->e, badver, sizeof badver, &m) == CIS_OK) cis_module_free(m);
    if (!mine[0]) snprintf(mine, sizeof mine, "%s", cis_errmsg(sh->e));
    check(w, "B engine", cis_errmsg(sh->e), mine);
    cis_ai_reply r;
    memset(&r, 0, sizeof r);
    if (cis_ai_prompt(sh->ai, NULL, "hi", 2, 1000, &r) == CIS_OK) cis_ai_reply_free(&r);
    check_has(w, "B ai", cis_errmsg(sh->ai), "no AI provider");
    cis_http_request rq = {.url = "http://127.0.0.1:9/x"};
    cis_http_response rs;
    memset(&rs, 0, sizeof rs);
    if (cis_http_fetch(sh->http, sh->policy, NULL, &rq, 1000, &rs) == CIS_OK) cis_http_response_free(&rs);
    check_has(w, "B http", cis_errmsg(sh->http), "127.0.0.1");
    check_has(w, "B ai after http", cis_errmsg(sh->ai), "no AI provider");
    check(w, "B engine after ai, http", cis_errmsg(sh->e), mine);
  }
  return NULL;
}

static void test_threads_keep_each_handles_message(void **state) {
  (void)state;
  shared sh;
  memset(&sh, 0, sizeof sh);
  sh.e = engine();
  char spec[256];
  sh.kv = kv_open(spec, sizeof spec);
  assert_int_equal(cis_ai_new(NULL, &sh.ai), CIS_OK);
  assert_int_equal(cis_http_new(NULL, &sh.http), CIS_OK);
  assert_int_equal(cis_http_policy_new(&sh.policy), CIS_OK);
  pthread_barrier_init(&sh.go, NULL, 2);
  worker wa = {.sh = &sh}, wb = {.sh = &sh};
  pthread_t ta, tb;
  assert_int_equal(pthread_create(&ta, NULL, thread_a, &wa), 0);
  assert_int_equal(pthread_create(&tb, NULL, thread_b, &wb), 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  if (wa.bad) fail_msg("thread A: %d mismatches; first: %s", wa.bad, wa.why);
  if (wb.bad) fail_msg("thread B: %d mismatches; first: %s", wb.bad, wb.why);
  /* This thread failed nothing on the engine. */
  assert_string_equal(cis_errmsg(sh.e), "");
  pthread_barrier_destroy(&sh.go);
  cis_http_policy_free(sh.policy);
  cis_http_free(sh.http);
  cis_ai_free(sh.ai);
  cis_kv_close(sh.kv);
  cis_engine_free(sh.e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kv_failure_keeps_engine_message),
      cmocka_unit_test(test_two_engines_keep_their_own_messages),
      cmocka_unit_test(test_kv_open_failure_is_on_the_failed_store),
      cmocka_unit_test(test_threads_keep_each_handles_message),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
