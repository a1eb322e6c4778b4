/*
 * This file implements the libcurl plumbing of curl.h, shared by the HTTP
 * and AI services: loading libcurl and its one-time global set-up, and
 * the capped response buffer.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/curl.h"
#include "common/internal.h"

/* The soname and package the build found (cmake/CisDeps.cmake). */
#if !defined(CIS_CURL_SONAME) || !defined(CIS_CURL_PACKAGE)
#error "CIS_CURL_SONAME and CIS_CURL_PACKAGE come from the build"
#endif

cis__curl_api cis__curl;

static const char *const curl_names[] = {CIS__CURL_FUNCS(CIS__DYNLIB_NAME)};

static void curl_bind(void *const *fn) {
  size_t i = 0;
#define BIND(f, member) cis__curl.member = (__typeof__(f) *)fn[i++];
  CIS__CURL_FUNCS(BIND)
#undef BIND
}

cis__dynlib cis__curl_lib = {.soname = CIS_CURL_SONAME, .package = CIS_CURL_PACKAGE,
                             .names = curl_names, .count = CIS_ARRAY_LEN(curl_names),
                             .bind = curl_bind};

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool init_done; /* curl_global_init succeeded (set under init_lock) */

/* curl_global_init is not safe to run twice at once on every libcurl
 * build, so it runs under a lock, once. It is never undone: the services
 * may be used until the process exits. */
cis_result cis__curl_init(char *err, size_t cap) {
  if (atomic_load_explicit(&init_done, memory_order_acquire) && cis__dynlib_loaded(&cis__curl_lib))
    return CIS_OK;
  cis_result rc = cis__dynlib_load(&cis__curl_lib, err, cap);
  if (rc != CIS_OK) return rc;
  pthread_mutex_lock(&init_lock);
  if (!atomic_load_explicit(&init_done, memory_order_relaxed) &&
      cis__curl.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
    atomic_store_explicit(&init_done, true, memory_order_release);
  rc = atomic_load_explicit(&init_done, memory_order_relaxed) ? CIS_OK : CIS_ENET;
  pthread_mutex_unlock(&init_lock);
  if (rc != CIS_OK && err && cap) snprintf(err, cap, "libcurl would not initialise");
  return rc;
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
