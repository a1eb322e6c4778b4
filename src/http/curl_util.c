/*
 * This file implements the libcurl helpers shared by the HTTP and AI
 * services: the one-time global set-up, the capped response buffer and the
 * deadline arithmetic that turns "time left for this call" into curl
 * timeouts.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_now(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* curl_global_init is not safe to run twice at once on every libcurl
 * build, so it runs exactly once. It is never undone: the services may be
 * used until the process exits. */
cis_result cis__curl_init(void) {
  pthread_once(&curl_once, curl_init_now);
  return curl_init_rc == CURLE_OK ? CIS_OK : CIS_ENET;
}

size_t cis__buf_write(char *ptr, size_t size, size_t n, void *user) {
  cis__buf *b = user;
  size_t len = size * n;
  if (len > b->limit - b->len) {
    b->too_big = true;
    return 0; /* curl stops with CURLE_WRITE_ERROR */
  }
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + len + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
      b->oom = true;
      return 0;
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, ptr, len);
  b->len += len;
  b->data[b->len] = '\0';
  return len;
}

bool cis__buf_finish(cis__buf *b) {
  if (b->data) return true;
  b->data = malloc(1);
  if (!b->data) return false;
  b->data[0] = '\0';
  b->cap = 1;
  return true;
}

void cis__buf_free(cis__buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
