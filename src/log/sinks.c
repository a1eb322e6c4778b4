/*
 * This file implements the built-in log sinks of include/cis/cis_log.h:
 * the null sink (benchmarks), the stderr sink, and the buffer sink whose
 * contents the embedder reads back. A sink from the embedder uses the same
 * cis_log_sink table, so the logger cannot tell these from its own.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cis/cis_log.h"
#include "common/internal.h"

/* ------------------------------------------------------------------ null */

static void null_write(void *user, const cis_log_record *rec, const char *line, size_t len) {
  (void)user, (void)rec, (void)line, (void)len;
}

void cis_log_sink_null(cis_log_sink *out) {
  memset(out, 0, sizeof *out);
  out->version = CIS_LOG_SINK_VERSION;
  out->write = null_write;
}

/* ---------------------------------------------------------------- stderr */

static void stderr_write(void *user, const cis_log_record *rec, const char *line, size_t len) {
  (void)user, (void)rec;
  fwrite(line, 1, len, stderr);
}

static void stderr_flush(void *user) {
  (void)user;
  fflush(stderr);
}

void cis_log_sink_stderr(cis_log_sink *out) {
  memset(out, 0, sizeof *out);
  out->version = CIS_LOG_SINK_VERSION;
  out->write = stderr_write;
  out->flush = stderr_flush;
}

/* ---------------------------------------------------------------- buffer */

struct cis_log_buffer {
  cis__handle h;        /* why cis_log_buffer_new failed (cis_errmsg) */
  pthread_mutex_t lock; /* the buffer may be shared by several loggers */
  char *data;           /* buffered lines; NUL-terminated */
  size_t len;           /* bytes used in data */
  size_t cap;           /* most bytes of lines kept (data holds cap + 1) */
  uint64_t dropped;     /* lines refused because they did not fit */
};

/* Allocates the whole capacity up front, so a write never allocates and
 * never fails half-way. Errors: CIS_EINVAL, CIS_ENOMEM. */
cis_result cis_log_buffer_new(size_t cap, cis_log_buffer **out) {
  if (!out) return CIS_EINVAL;
  cis_log_buffer *b = *out = calloc(1, sizeof *b);
  if (!b) return CIS_ENOMEM;
  cis__handle_init(&b->h, CIS__H_OTHER);
  if (cap == 0) cap = 1024u * 1024u;
  if (cap == SIZE_MAX) return cis__handle_failed(&b->h, cis__fail(b, CIS_EINVAL, "log buffer: capacity SIZE_MAX"));
  b->data = malloc(cap + 1);
  if (!b->data || pthread_mutex_init(&b->lock, NULL) != 0) {
    free(b->data);
    b->data = NULL;
    return cis__handle_failed(&b->h, CIS_ENOMEM);
  }
  b->data[0] = '\0';
  b->cap = cap;
  return CIS_OK;
}

void cis_log_buffer_free(cis_log_buffer *b) {
  if (!b) return;
  if (b->h.failed) { /* a shell */
    free(b);
    return;
  }
  pthread_mutex_destroy(&b->lock);
  free(b->data);
  free(b);
}

static void buffer_write(void *user, const cis_log_record *rec, const char *line, size_t len) {
  cis_log_buffer *b = user;
  (void)rec;
  pthread_mutex_lock(&b->lock);
  if (len > b->cap - b->len) {
    b->dropped++;
  } else {
    memcpy(b->data + b->len, line, len);
    b->len += len;
    b->data[b->len] = '\0';
  }
  pthread_mutex_unlock(&b->lock);
}

void cis_log_sink_buffer(cis_log_buffer *b, cis_log_sink *out) {
  memset(out, 0, sizeof *out);
  out->version = CIS_LOG_SINK_VERSION;
  if (b && b->h.failed) return; /* no write: cis_log_new refuses the sink */
  out->user = b;
  out->write = buffer_write;
}

size_t cis_log_buffer_read(cis_log_buffer *b, char *dst, size_t cap) {
  if (!b || b->h.failed) return 0;
  pthread_mutex_lock(&b->lock);
  size_t len = b->len;
  if (dst && len <= cap) {
    memcpy(dst, b->data, len);
    if (len < cap) dst[len] = '\0';
  }
  pthread_mutex_unlock(&b->lock);
  return len;
}

void cis_log_buffer_clear(cis_log_buffer *b) {
  if (!b || b->h.failed) return;
  pthread_mutex_lock(&b->lock);
  b->len = 0;
  b->data[0] = '\0';
  b->dropped = 0;
  pthread_mutex_unlock(&b->lock);
}

uint64_t cis_log_buffer_dropped(cis_log_buffer *b) {
  if (!b || b->h.failed) return 0;
  pthread_mutex_lock(&b->lock);
  uint64_t n = b->dropped;
  pthread_mutex_unlock(&b->lock);
  return n;
}
