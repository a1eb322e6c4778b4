/*
 * This file declares what the HTTP service shares between its files: IP
 * address parsing and classification and the policy's judging functions.
 * libcurl is reached through common/curl.h, as the AI service reaches it.
 */
#ifndef CIS_HTTP_INTERNAL_H
#define CIS_HTTP_INTERNAL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cis/cis_http.h"
#include "common/curl.h"
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

#endif /* CIS_HTTP_INTERNAL_H */
