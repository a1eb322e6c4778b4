/*
 * This file implements what the operator page reads besides the skills
 * and the metrics: each tenant's ring of recent calls, shown by GET
 * /v1/calls, and the lookup of the page's files embedded at build time
 * (page_assets.c, made by src/serve/page/embed.cmake).
 *
 * A ring holds the last CIS__CALLS_KEPT calls of one tenant, each with at
 * most CIS__CALL_LOG_CAP bytes of its log, so its memory is bounded
 * whatever the calls log. Log lines and skill names come from guests and
 * tenants: they are stored as bytes and only ever leave as JSON strings
 * (cJSON escapes them); the page puts them into the DOM as text.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "serve/http_calls.h"
#include "serve/http_internal.h"

/* One call, as kept. */
typedef struct call_record {
  uint64_t seq;                        /* 1, 2, ... in the order calls ended */
  char name[65];                       /* the skill */
  char via[8];                         /* how it came: "http" or "mcp" */
  unsigned http_status;                /* what the client was answered */
  cis_result rc;                       /* the call's result */
  char message[256];                   /* its error, cut; "" on success */
  uint64_t at_ms;                      /* when it ended, Unix time in ms */
  cis_invoke_stats stats;              /* its figures */
  char *logs;                          /* its log, cut to the cap (malloc'd), or NULL */
  size_t logs_len;
  bool logs_cut;                       /* the log went on past the cap */
} call_record;

struct cis__calls {
  pthread_mutex_t lock;                /* guards what follows */
  call_record ring[CIS__CALLS_KEPT];   /* the records, oldest overwritten */
  uint64_t seq;                        /* records ever added */
};

cis__calls *cis__calls_new(void) {
  cis__calls *c = calloc(1, sizeof *c);
  if (c) pthread_mutex_init(&c->lock, NULL);
  return c;
}

void cis__calls_free(cis__calls *c) {
  if (!c) return;
  for (size_t i = 0; i < CIS__CALLS_KEPT; i++) free(c->ring[i].logs);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

/* The length of the longest prefix of s (n bytes) of at most cap bytes
 * that does not end inside a UTF-8 sequence. */
static size_t cut_utf8(const char *s, size_t n, size_t cap) {
  if (n <= cap) return n;
  size_t k = cap;
  /* Back over continuation bytes (10xxxxxx) to a sequence's start. */
  while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
  return k;
}

void cis__calls_add(cis__calls *c, const char *name, unsigned http_status, const cis_invoke_result *res) {
  cis__calls_add_via(c, name, "http", http_status, res);
}

void cis__calls_add_via(cis__calls *c, const char *name, const char *via, unsigned http_status,
                        const cis_invoke_result *res) {
  if (!c || !name || !via || !res) return;
  call_record r;
  memset(&r, 0, sizeof r);
  snprintf(r.name, sizeof r.name, "%s", name);
  snprintf(r.via, sizeof r.via, "%s", via);
  r.http_status = http_status;
  r.rc = res->status;
  /* The same words the invoke response gives: a backend's own (5xx) may
   * name hosts or files, so those keep only the error's name. */
  if (res->status != CIS_OK) {
    const char *msg = http_status >= 500 ? cis_strerror(res->status) : res->error;
    size_t n = strlen(msg);
    n = cut_utf8(msg, n, sizeof r.message - 1);
    memcpy(r.message, msg, n);
    r.message[n] = 0;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  r.at_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
  r.stats = res->stats;
  if (res->logs && res->logs_len) {
    size_t n = cut_utf8(res->logs, res->logs_len, CIS__CALL_LOG_CAP);
    /* Out of memory: the record is kept without its log. */
    if ((r.logs = malloc(n + 1))) {
      memcpy(r.logs, res->logs, n);
      r.logs[n] = 0;
      r.logs_len = n;
      r.logs_cut = n < res->logs_len;
    }
  }
  pthread_mutex_lock(&c->lock);
  r.seq = ++c->seq;
  call_record *slot = &c->ring[(r.seq - 1) % CIS__CALLS_KEPT];
  char *old = slot->logs;
  *slot = r;
  pthread_mutex_unlock(&c->lock);
  free(old);
}

/* One record as a JSON object added to array a; false when out of memory. */
static bool record_json(cJSON *a, const call_record *r) {
  cJSON *e = cJSON_CreateObject();
  if (!e || !cJSON_AddItemToArray(a, e)) {
    cJSON_Delete(e);
    return false;
  }
  bool ok = cJSON_AddNumberToObject(e, "seq", (double)r->seq) && cJSON_AddStringToObject(e, "name", r->name) &&
            cJSON_AddStringToObject(e, "via", r->via) &&
            cJSON_AddNumberToObject(e, "status", r->http_status) &&
            cJSON_AddNumberToObject(e, "at_ms", (double)r->at_ms) &&
            cJSON_AddNumberToObject(e, "wall_ms", (double)r->stats.wall_ns / 1e6) &&
            cJSON_AddNumberToObject(e, "memory_peak_bytes", (double)r->stats.memory_peak) &&
            cJSON_AddNumberToObject(e, "log_lines", r->stats.log_lines) &&
            cJSON_AddStringToObject(e, "logs", r->logs ? r->logs : "") &&
            cJSON_AddBoolToObject(e, "logs_truncated", r->logs_cut);
  if (ok && cis__http_fuel_limited(r->rc, &r->stats)) ok = cJSON_AddNumberToObject(e, "fuel_left", (double)r->stats.fuel_left) != NULL;
  if (ok && r->rc != CIS_OK) {
    cJSON *err = cJSON_AddObjectToObject(e, "error");
    ok = err && cJSON_AddStringToObject(err, "type", cis_errname(r->rc)) &&
         cJSON_AddStringToObject(err, "message", r->message);
  }
  return ok;
}

char *cis__calls_json(cis__calls *c, unsigned limit, size_t *len) {
  *len = 0;
  cJSON *o = cJSON_CreateObject(), *a = o ? cJSON_AddArrayToObject(o, "calls") : NULL;
  bool ok = a != NULL;
  if (ok && c) {
    pthread_mutex_lock(&c->lock);
    uint64_t have = c->seq < CIS__CALLS_KEPT ? c->seq : CIS__CALLS_KEPT;
    if (limit < have) have = limit;
    for (uint64_t i = 0; ok && i < have; i++) ok = record_json(a, &c->ring[(c->seq - 1 - i) % CIS__CALLS_KEPT]);
    pthread_mutex_unlock(&c->lock);
  }
  char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  if (text) *len = strlen(text);
  return text;
}

int cis__calls_limit(const char *text, unsigned *out) {
  *out = CIS__CALLS_KEPT;
  if (!text) return 0;
  if (!*text) return 400;
  unsigned v = 0;
  for (const char *p = text; *p; p++) {
    if (*p < '0' || *p > '9') return 400;
    /* Saturates: any number above the cap means the whole ring. */
    if (v <= CIS__CALLS_KEPT) v = v * 10 + (unsigned)(*p - '0');
  }
  if (v == 0) return 400;
  *out = v < CIS__CALLS_KEPT ? v : CIS__CALLS_KEPT;
  return 0;
}

/* ------------------------------------------------------------- page */

/* Made at build time from src/serve/page/ (embed.cmake). */
extern const cis__page_asset cis__page_assets[];
extern const size_t cis__page_nassets;

const cis__page_asset *cis__page_find(const char *name) {
  for (size_t i = 0; name && i < cis__page_nassets; i++)
    if (!strcmp(cis__page_assets[i].name, name)) return &cis__page_assets[i];
  return NULL;
}
