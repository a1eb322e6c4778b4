/*
 * This file declares what the HTTP service shares between its files and
 * with the AI service: IP address parsing and classification, the policy's
 * judging functions, and the libcurl helpers (one-time global set-up, a
 * capped body buffer, deadline arithmetic, curl-code mapping).
 *
 * libcurl is not linked: cis__curl_init loads it on first use
 * (common/dynlib.h) and every libcurl function is called through the
 * table cis__curl.
 */
#ifndef CIS_HTTP_INTERNAL_H
#define CIS_HTTP_INTERNAL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cis/cis_http.h"
#include "common/dynlib.h"
#include "common/internal.h"

/* ------------------------------------------------------------- addresses */

typedef struct cis__ip {
  int family;      /* 4 or 6 */
  uint8_t b[16];   /* network order; IPv4 uses b[0..3] */
} cis__ip;

/* Parses a plain IPv4 dotted quad or IPv6 address (no brackets). Strict:
 * the legacy numeric forms are the job of cis__host_parse. */
bool cis__ip_parse(const char *s, cis__ip *out);
/* Turns an IPv4-mapped IPv6 address (::ffff:a.b.c.d) into IPv4. */
void cis__ip_unmap(cis__ip *ip);
/* Canonical text of ip (no brackets); dst holds at least 46 bytes. */
void cis__ip_format(const cis__ip *ip, char *dst, size_t cap);
/* True when ip lies in net/prefix (same family). */
bool cis__ip_in(const cis__ip *ip, const cis__ip *net, unsigned prefix);
/* NULL when ip is an ordinary public address, else what makes it special
 * ("loopback", "private", "link-local", "cloud metadata", ...). */
const char *cis__ip_special(const cis__ip *ip);

/* A URL's host after normalisation. */
typedef struct cis__host {
  bool is_ip;        /* an address literal (in any accepted notation) */
  cis__ip ip;        /* the address, IPv4-mapped ones unmapped */
  char name[256];    /* lower-case name without trailing dot; for an
                        address, its canonical text */
} cis__host;

/* Normalises a host as curl's URL parser returned it ("[::1]", "127.0.0.1",
 * "Example.COM."). Returns CIS_EINVAL with the reason in why when it is
 * not a valid name or address. */
cis_result cis__host_parse(const char *curl_host, cis__host *out, char *why, size_t why_cap);

/* ---------------------------------------------------------------- policy */

enum { CIS__SCHEME_HTTP = 1, CIS__SCHEME_HTTPS = 2 };

/* A URL judged allowed by the policy, ready for curl. */
typedef struct cis__target {
  CURLU *u;             /* the URL with its host normalised; owned */
  unsigned scheme;      /* CIS__SCHEME_* */
  uint16_t port;        /* explicit or default port */
  cis__host host;       /* normalised host */
  char origin[300];     /* "scheme://host:port", for messages */
} cis__target;

/* Parses url and judges it by steps 1-3 of cis_http.h. On CIS_OK *t holds
 * the parsed URL (free with cis__target_free). Errors: CIS_EDENIED,
 * CIS_EINVAL, CIS_ENOMEM, with the reason in why. */
cis_result cis__policy_judge_url(const cis_http_policy *p, const char *url, cis__target *t,
                                 char *why, size_t why_cap);
void cis__target_free(cis__target *t);
/* Judges a connection address (step 4). CIS_OK or CIS_EDENIED + why. */
cis_result cis__policy_judge_addr(const cis_http_policy *p, unsigned scheme, uint16_t port,
                                  const cis__ip *ip, char *why, size_t why_cap);

/* ------------------------------------------------------------------ curl */

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


#endif /* CIS_HTTP_INTERNAL_H */
