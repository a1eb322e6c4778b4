/*
 * This file declares the libcurl plumbing of the HTTP and AI services
 * (curl.c): libcurl is not linked; cis__curl_init loads it on first use
 * (common/dynlib.h) and every libcurl function is called through the
 * table cis__curl. Also a capped body buffer for responses.
 */
#ifndef CIS_COMMON_CURL_H
#define CIS_COMMON_CURL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "cis/cis.h"
#include "common/dynlib.h"

/* The libcurl functions cis calls, as (function, member of cis__curl). */
#define CIS__CURL_FUNCS(X)                                                                  \
  X(curl_easy_cleanup, easy_cleanup) X(curl_easy_getinfo, easy_getinfo)                    \
  X(curl_easy_init, easy_init) X(curl_easy_perform, easy_perform)                           \
  X(curl_easy_setopt, easy_setopt) X(curl_easy_strerror, easy_strerror) X(curl_free, free)  \
  X(curl_global_init, global_init) X(curl_slist_append, slist_append)                       \
  X(curl_slist_free_all, slist_free_all) X(curl_url, url) X(curl_url_cleanup, url_cleanup)  \
  X(curl_url_get, url_get) X(curl_url_set, url_set) X(curl_url_strerror, url_strerror)

/* libcurl's functions, valid once cis__curl_init returned CIS_OK. */
typedef struct cis__curl_api {
  CIS__CURL_FUNCS(CIS__DYNLIB_MEMBER)
} cis__curl_api;
extern cis__curl_api cis__curl;
/* libcurl itself (its soname is the one the build found). */
extern cis__dynlib cis__curl_lib;

/* Loads libcurl (once per process, thread-safe; retried after a failure)
 * and runs curl_global_init once. Call it before anything else of
 * libcurl's. Errors: CIS_EUNSUPPORTED (libcurl is not installed), CIS_ENET
 * (it would not initialise), with the reason in err (cap bytes, may be
 * NULL), which names the package to install. */
cis_result cis__curl_init(char *err, size_t cap);

/* A growing byte buffer with a hard cap, for response bodies. */
typedef struct cis__buf {
  char *data;     /* NUL-terminated; NULL until the first byte */
  size_t len;     /* bytes used */
  size_t cap;     /* bytes allocated */
  size_t limit;   /* most bytes accepted */
  bool too_big;   /* a write went past limit */
  bool oom;       /* an allocation failed */
} cis__buf;

/* CURLOPT_WRITEFUNCTION for a cis__buf (user = the buffer). Refuses the
 * write (so curl stops) when the cap is passed. */
size_t cis__buf_write(char *ptr, size_t size, size_t n, void *user);
/* Makes data non-NULL and NUL-terminated. False when out of memory. */
bool cis__buf_finish(cis__buf *b);
void cis__buf_free(cis__buf *b);

#endif /* CIS_COMMON_CURL_H */
