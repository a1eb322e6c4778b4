/*
 * This file implements the tests of the log service (src/log): levels,
 * the per-message and per-call caps, the text and JSON Lines formats (each
 * JSON line is parsed back with cJSON), and the null, buffer and callback
 * sinks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "cis/cis_log.h"

/* A logger writing into a fresh buffer, for one test. */
typedef struct fixture {
  cis_log_buffer *buf; /* what the sink wrote */
  cis_log *log;        /* the logger under test */
  char text[1 << 16];  /* last read of buf */
} fixture;

static void fx_open(fixture *f, cis_log_config *cfg) {
  assert_int_equal(cis_log_buffer_new(0, &f->buf), CIS_OK);
  cis_log_sink_buffer(f->buf, &cfg->sink);
  assert_int_equal(cis_log_new(cfg, &f->log), CIS_OK);
}

static const char *fx_text(fixture *f) {
  size_t n = cis_log_buffer_read(f->buf, f->text, sizeof f->text);
  assert_true(n < sizeof f->text);
  return f->text;
}

static void fx_close(fixture *f) {
  cis_log_free(f->log);
  cis_log_buffer_free(f->buf);
}

static size_t count_lines(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

static const cis_principal who = {.tenant = "acme", .skill = "weather"};

/* ----------------------------------------------------------------- levels */

static void test_levels_filter_and_names(void **state) {
  (void)state;
  fixture f;
  cis_log_config cfg;
  cis_log_config_default(&cfg);
  cfg.min_level = CIS_LOG_INFO;
  fx_open(&f, &cfg);
  cis_log_call *c;
  assert_int_equal(cis_log_call_begin(f.log, &who, "call-1", &c), CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_DEBUG, "dbg", 3), CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "inf", 3), CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_WARN, "wrn", 3), CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_ERROR, "err", 3), CIS_OK);
  assert_int_equal(cis_log_write(c, -1, "bad", 3), CIS_EINVAL);
  assert_int_equal(cis_log_write(c, 4, "bad", 3), CIS_EINVAL);
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, NULL, 5), CIS_EINVAL);
  assert_int_equal(cis_log_call_lines(c), 3);
  const char *t = fx_text(&f);
  assert_null(strstr(t, "dbg"));
  assert_non_null(strstr(t, " INFO  acme/weather call=call-1 inf\n"));
  assert_non_null(strstr(t, " WARN  acme/weather call=call-1 wrn\n"));
  assert_non_null(strstr(t, " ERROR acme/weather call=call-1 err\n"));
  assert_null(strstr(t, "bad"));
  assert_int_equal(count_lines(t), 3);
  cis_log_call_end(c);
  fx_close(&f);

  assert_string_equal(cis_log_level_name(0), "debug");
  assert_string_equal(cis_log_level_name(3), "error");
  assert_string_equal(cis_log_level_name(9), "?");
}

/* A message holding newlines stays on one line; its control characters
 * come out escaped, so a skill cannot forge a line of another skill. */
static void test_text_escapes_control_characters(void **state) {
  (void)state;
  fixture f;
  cis_log_config cfg;
  cis_log_config_default(&cfg);
  fx_open(&f, &cfg);
  cis_log_call *c;
  assert_int_equal(cis_log_call_begin(f.log, &who, "c", &c), CIS_OK);
  const char msg[] = "a\nZ INFO other/skill call=x forged\tb\\\x01";
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, msg, sizeof msg - 1), CIS_OK);
  const char *t = fx_text(&f);
  assert_int_equal(count_lines(t), 1);
  assert_non_null(strstr(t, "a\\nZ INFO other/skill call=x forged\\tb\\\\\\x01\n"));
  cis_log_call_end(c);
  fx_close(&f);
}

/* ------------------------------------------------------------------- caps */

static void test_message_cap_truncates_and_marks(void **state) {
  (void)state;
  fixture f;
  cis_log_config cfg;
  cis_log_config_default(&cfg);
  cfg.max_msg_bytes = 10;
  fx_open(&f, &cfg);
  cis_log_call *c;
  assert_int_equal(cis_log_call_begin(f.log, &who, "c", &c), CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "0123456789ABCDEF", 16), CIS_OK);
  /* five two-byte characters: the cut must not split the sixth byte pair */
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 11),
                   CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "short", 5), CIS_OK);
  const char *t = fx_text(&f);
  assert_non_null(strstr(t, " 0123456789 [truncated from 16 bytes]\n"));
  assert_null(strstr(t, "ABC"));
  assert_non_null(strstr(t, " x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9 [truncated from 11 bytes]\n"));
  assert_non_null(strstr(t, " short\n"));
  assert_null(strstr(t, "short [truncated"));
  cis_log_call_end(c);
  fx_close(&f);
}

static void test_call_line_cap_drops_with_one_marker(void **state) {
  (void)state;
  fixture f;
  cis_log_config cfg;
  cis_log_config_default(&cfg);
  cfg.max_call_lines = 3;
  fx_open(&f, &cfg);
  cis_log_call *c;
  assert_int_equal(cis_log_call_begin(f.log, &who, "c1", &c), CIS_OK);
  for (int i = 0; i < 10; i++) {
    char m[16];
    int n = snprintf(m, sizeof m, "line%d", i);
    assert_int_equal(cis_log_write(c, CIS_LOG_INFO, m, (size_t)n), i < 3 ? CIS_OK : CIS_ETOOBIG);
  }
  assert_int_equal(cis_log_call_lines(c), 3);
  assert_int_equal(cis_log_call_dropped(c), 7);
  cis_log_call_end(c);
  const char *t = fx_text(&f);
  assert_int_equal(count_lines(t), 4);
  assert_non_null(strstr(t, "line2\n"));
  assert_null(strstr(t, "line3"));
  assert_non_null(strstr(t, " WARN  acme/weather call=c1 log limit of this call reached"));

  /* a new call starts with fresh counters */
  assert_int_equal(cis_log_call_begin(f.log, &who, "c2", &c), CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "again", 5), CIS_OK);
  cis_log_call_end(c);
  assert_non_null(strstr(fx_text(&f), "call=c2 again\n"));
  fx_close(&f);
}

static void test_call_byte_cap(void **state) {
  (void)state;
  fixture f;
  cis_log_config cfg;
  cis_log_config_default(&cfg);
  cfg.max_call_bytes = 10;
  fx_open(&f, &cfg);
  cis_log_call *c;
  assert_int_equal(cis_log_call_begin(f.log, &who, "c", &c), CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "aaaa", 4), CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "bbbbbb", 6), CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "c", 1), CIS_ETOOBIG);
  /* capped for good: even an empty line, which would fit, is dropped */
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "", 0), CIS_ETOOBIG);
  assert_int_equal(cis_log_call_dropped(c), 2);
  cis_log_call_end(c);
  fx_close(&f);
}

/* ------------------------------------------------------------------- JSON */

/* Every line of s parses as a JSON object; returns them as an array. */
static cJSON *parse_lines(const char *s) {
  cJSON *arr = cJSON_CreateArray();
  while (*s) {
    const char *nl = strchr(s, '\n');
    assert_non_null(nl);
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(s, (size_t)(nl - s), &end, false);
    assert_non_null(o);
    assert_true(cJSON_IsObject(o));
    assert_ptr_equal(end, nl);
    cJSON_AddItemToArray(arr, o);
    s = nl + 1;
  }
  return arr;
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert_true(cJSON_IsString(v));
  return v->valuestring;
}

static void test_json_lines_parse(void **state) {
  (void)state;
  fixture f;
  cis_log_config cfg;
  cis_log_config_default(&cfg);
  cfg.format = CIS_LOG_JSON;
  cfg.min_level = CIS_LOG_DEBUG;
  cfg.max_msg_bytes = 32;
  fx_open(&f, &cfg);
  cis_log_call *c;
  cis_principal odd = {.tenant = NULL, .skill = "sk\"ill\xff"};
  assert_int_equal(cis_log_call_begin(f.log, &odd, "id-\n7", &c), CIS_OK);
  const char quoted[] = "say \"hi\"\\ \n\t\x01";
  assert_int_equal(cis_log_write(c, CIS_LOG_DEBUG, quoted, sizeof quoted - 1), CIS_OK);
  /* invalid bytes, an overlong NUL, a surrogate, and a real NUL byte */
  const char bad[] = "a\xff" "b\xc0\x80" "c\xed\xa0\x80" "d\0e";
  assert_int_equal(cis_log_write(c, CIS_LOG_WARN, bad, sizeof bad - 1), CIS_OK);
  assert_int_equal(
      cis_log_write(c, CIS_LOG_ERROR, "0123456789012345678901234567890123456789", 40), CIS_OK);
  cis_log_call_end(c);

  cJSON *arr = parse_lines(fx_text(&f));
  assert_int_equal(cJSON_GetArraySize(arr), 3);
  cJSON *l0 = cJSON_GetArrayItem(arr, 0);
  assert_string_equal(jstr(l0, "level"), "debug");
  assert_string_equal(jstr(l0, "tenant"), "");
  assert_string_equal(jstr(l0, "skill"), "sk\"ill\xef\xbf\xbd");
  assert_string_equal(jstr(l0, "call"), "id-\n7");
  assert_string_equal(jstr(l0, "msg"), quoted);
  assert_int_equal(strlen(jstr(l0, "ts")), 24); /* 2024-05-01T12:00:00.123Z */
  assert_null(cJSON_GetObjectItemCaseSensitive(l0, "truncated"));

  cJSON *l1 = cJSON_GetArrayItem(arr, 1);
  assert_string_equal(jstr(l1, "level"), "warn");
  /* cJSON stops a string at \u0000, so compare up to the NUL */
  assert_string_equal(jstr(l1, "msg"), "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd"
                                       "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "d");
  assert_non_null(strstr(fx_text(&f), "d\\u0000e\""));

  cJSON *l2 = cJSON_GetArrayItem(arr, 2);
  assert_string_equal(jstr(l2, "msg"), "01234567890123456789012345678901");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(l2, "truncated")));
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(l2, "len")->valueint, 40);
  cJSON_Delete(arr);
  fx_close(&f);
}

static void test_json_limit_marker(void **state) {
  (void)state;
  fixture f;
  cis_log_config cfg;
  cis_log_config_default(&cfg);
  cfg.format = CIS_LOG_JSON;
  cfg.max_call_lines = 1;
  fx_open(&f, &cfg);
  cis_log_call *c;
  assert_int_equal(cis_log_call_begin(f.log, &who, "c", &c), CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "one", 3), CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "two", 3), CIS_ETOOBIG);
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "three", 5), CIS_ETOOBIG);
  cis_log_call_end(c);
  cJSON *arr = parse_lines(fx_text(&f));
  assert_int_equal(cJSON_GetArraySize(arr), 2);
  cJSON *m = cJSON_GetArrayItem(arr, 1);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "limit")));
  assert_string_equal(jstr(m, "level"), "warn");
  assert_string_equal(jstr(m, "skill"), "weather");
  cJSON_Delete(arr);
  fx_close(&f);
}

/* ------------------------------------------------------------------ sinks */

/* What the callback sink saw. */
typedef struct seen {
  int lines;            /* write calls */
  int flushes;          /* flush calls */
  int destroyed;        /* destroy calls */
  cis_log_level level;  /* level of the last record */
  char skill[32];       /* skill of the last record */
  char call[32];        /* call id of the last record */
  char msg[64];         /* message of the last record */
  bool truncated;       /* truncated flag of the last record */
  size_t orig_len;      /* original length of the last record */
  char line[256];       /* last formatted line */
} seen;

static void cb_write(void *user, const cis_log_record *rec, const char *line, size_t len) {
  seen *s = user;
  s->lines++;
  s->level = rec->level;
  snprintf(s->skill, sizeof s->skill, "%s", rec->skill);
  snprintf(s->call, sizeof s->call, "%s", rec->call_id);
  snprintf(s->msg, sizeof s->msg, "%.*s", (int)rec->msg_len, rec->msg);
  s->truncated = rec->truncated;
  s->orig_len = rec->orig_len;
  snprintf(s->line, sizeof s->line, "%.*s", (int)len, line);
}
static void cb_flush(void *user) { ((seen *)user)->flushes++; }
static void cb_destroy(void *user) { ((seen *)user)->destroyed++; }

static void test_callback_sink(void **state) {
  (void)state;
  seen s;
  memset(&s, 0, sizeof s);
  cis_log_config cfg;
  cis_log_config_default(&cfg);
  cfg.max_msg_bytes = 4;
  cfg.sink = (cis_log_sink){.version = CIS_LOG_SINK_VERSION, .user = &s, .write = cb_write,
                            .flush = cb_flush, .destroy = cb_destroy};
  cis_log *log;
  assert_int_equal(cis_log_new(&cfg, &log), CIS_OK);
  cis_log_call *c;
  assert_int_equal(cis_log_call_begin(log, &who, "call-9", &c), CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_ERROR, "boom!", 5), CIS_OK);
  cis_log_call_end(c);
  assert_int_equal(s.lines, 1);
  assert_int_equal(s.level, CIS_LOG_ERROR);
  assert_string_equal(s.skill, "weather");
  assert_string_equal(s.call, "call-9");
  assert_string_equal(s.msg, "boom");
  assert_true(s.truncated);
  assert_int_equal(s.orig_len, 5);
  assert_non_null(strstr(s.line, "ERROR acme/weather call=call-9 boom [truncated from 5 bytes]\n"));
  cis_log_flush(log);
  assert_int_equal(s.flushes, 1);
  cis_log_free(log);
  assert_int_equal(s.destroyed, 1);
  assert_int_equal(s.flushes, 2);
}

static void test_buffer_sink_capacity(void **state) {
  (void)state;
  cis_log_buffer *b;
  assert_int_equal(cis_log_buffer_new(100, &b), CIS_OK);
  cis_log_config cfg;
  cis_log_config_default(&cfg);
  cis_log_sink_buffer(b, &cfg.sink);
  cis_log *log;
  assert_int_equal(cis_log_new(&cfg, &log), CIS_OK);
  cis_log_call *c;
  assert_int_equal(cis_log_call_begin(log, &who, "c", &c), CIS_OK);
  /* each line is about 55 bytes: the first fits, the second does not */
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "first line", 10), CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "second line", 11), CIS_OK);
  assert_int_equal(cis_log_buffer_dropped(b), 1);
  char small[8], big[128];
  size_t n = cis_log_buffer_read(b, small, sizeof small);
  assert_true(n > sizeof small && n <= 100);
  assert_int_equal(cis_log_buffer_read(b, big, sizeof big), n);
  assert_non_null(strstr(big, "first line\n"));
  assert_null(strstr(big, "second"));
  cis_log_buffer_clear(b);
  assert_int_equal(cis_log_buffer_read(b, big, sizeof big), 0);
  assert_int_equal(cis_log_buffer_dropped(b), 0);
  assert_int_equal(cis_log_write(c, CIS_LOG_INFO, "second line", 11), CIS_OK);
  assert_int_not_equal(cis_log_buffer_read(b, big, sizeof big), 0);
  assert_non_null(strstr(big, "second line\n"));
  cis_log_call_end(c);
  cis_log_free(log);
  cis_log_buffer_free(b);
}

/* cis_log_new(cfg) fails with CIS_EINVAL: a failed logger holding want,
 * which takes no call (CIS_ESTATE) and frees alone. */
static void log_new_fails(const cis_log_config *cfg, const char *want) {
  cis_log *log = NULL;
  assert_int_equal(cis_log_new(cfg, &log), CIS_EINVAL);
  assert_non_null(log);
  if (!strstr(cis_errmsg(log), want)) fail_msg("message \"%s\" lacks \"%s\"", cis_errmsg(log), want);
  cis_principal who = {"t", "s"};
  cis_log_call *c = (cis_log_call *)1;
  assert_int_equal(cis_log_call_begin(log, &who, "x", &c), CIS_ESTATE);
  assert_null(c);
  assert_non_null(strstr(cis_errmsg(log), want));
  cis_log_flush(log);
  cis_log_free(log);
}

static void test_null_sink_and_bad_config(void **state) {
  (void)state;
  cis_log_config cfg;
  cis_log_config_default(&cfg);
  cis_log_sink_null(&cfg.sink);
  cis_log *log;
  assert_int_equal(cis_log_new(&cfg, &log), CIS_OK);
  cis_log_call *c;
  assert_int_equal(cis_log_call_begin(log, NULL, NULL, &c), CIS_OK);
  assert_int_equal(cis_log_write(c, CIS_LOG_ERROR, "into the void", 13), CIS_OK);
  assert_int_equal(cis_log_call_lines(c), 1);
  cis_log_call_end(c);
  cis_log_free(log);

  cis_log_config bad = cfg;
  bad.sink.version = 99;
  log_new_fails(&bad, "another version");
  bad = cfg;
  bad.sink.write = NULL;
  log_new_fails(&bad, "without write");
  bad = cfg;
  bad.format = (cis_log_format)7;
  log_new_fails(&bad, "unknown format");
  bad = cfg;
  bad.min_level = (cis_log_level)4;
  log_new_fails(&bad, "unknown level");
  log_new_fails(NULL, "NULL config");
  assert_int_equal(cis_log_new(&cfg, NULL), CIS_EINVAL);
  /* A failed buffer: why, reads empty, and a sink cis_log_new refuses. */
  cis_log_buffer *fb = NULL;
  assert_int_equal(cis_log_buffer_new(SIZE_MAX, &fb), CIS_EINVAL);
  assert_non_null(fb);
  assert_non_null(strstr(cis_errmsg(fb), "SIZE_MAX"));
  assert_int_equal(cis_log_buffer_read(fb, NULL, 0), 0);
  cis_log_buffer_clear(fb);
  assert_int_equal(cis_log_buffer_dropped(fb), 0);
  bad = cfg;
  cis_log_sink_buffer(fb, &bad.sink);
  log_new_fails(&bad, "without write");
  cis_log_buffer_free(fb);
  assert_int_equal(cis_log_call_begin(NULL, &who, "x", &c), CIS_EINVAL);
  assert_int_equal(cis_log_write(NULL, 0, "x", 1), CIS_EINVAL);
  assert_int_equal(cis_log_buffer_new(SIZE_MAX, NULL), CIS_EINVAL);
  cis_log_call_end(NULL);
  cis_log_free(NULL);
}

/* ---------------------------------------------------------------- threads */

typedef struct worker {
  cis_log *log;  /* shared logger */
  int id;        /* worker number, in the call id */
} worker;

static void *worker_main(void *arg) {
  worker *w = arg;
  char id[16];
  snprintf(id, sizeof id, "w%d", w->id);
  cis_log_call *c;
  if (cis_log_call_begin(w->log, &who, id, &c) != CIS_OK) return (void *)1;
  for (int i = 0; i < 200; i++) {
    char m[64];
    int n = snprintf(m, sizeof m, "worker %d line %d \"quoted\"", w->id, i);
    if (cis_log_write(c, CIS_LOG_INFO, m, (size_t)n) != CIS_OK) return (void *)1;
  }
  cis_log_call_end(c);
  return NULL;
}

static void test_threads_share_a_logger(void **state) {
  (void)state;
  fixture *f = malloc(sizeof *f);
  cis_log_config cfg;
  cis_log_config_default(&cfg);
  cfg.format = CIS_LOG_JSON;
  fx_open(f, &cfg);
  pthread_t t[4];
  worker w[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (worker){.log = f->log, .id = i};
    assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    void *ret;
    pthread_join(t[i], &ret);
    assert_null(ret);
  }
  static char all[1 << 20];
  size_t n = cis_log_buffer_read(f->buf, all, sizeof all);
  assert_true(n < sizeof all);
  cJSON *arr = parse_lines(all);
  assert_int_equal(cJSON_GetArraySize(arr), 800);
  cJSON_Delete(arr);
  fx_close(f);
  free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_levels_filter_and_names),
      cmocka_unit_test(test_text_escapes_control_characters),
      cmocka_unit_test(test_message_cap_truncates_and_marks),
      cmocka_unit_test(test_call_line_cap_drops_with_one_marker),
      cmocka_unit_test(test_call_byte_cap),
      cmocka_unit_test(test_json_lines_parse),
      cmocka_unit_test(test_json_limit_marker),
      cmocka_unit_test(test_callback_sink),
      cmocka_unit_test(test_buffer_sink_capacity),
      cmocka_unit_test(test_null_sink_and_bad_config),
      cmocka_unit_test(test_threads_share_a_logger),
  };
  return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
