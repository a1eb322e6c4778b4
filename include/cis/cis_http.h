/*
 * cis_http.h -- the outbound HTTP service: requests behind an allow-list.
 *
 * A skill reaches the web only through this service. The service knows
 * nothing of WebAssembly: it takes plain buffers, a time budget and a
 * principal, and returns a cis_result.
 *
 * Concepts
 *   cis_http_policy  an allow-list: the rules one skill was granted.
 *                    Built once, then immutable and shareable.
 *   cis_http         the client: size caps, redirect bound, time cap and
 *                    curl settings. Shared between threads; each request
 *                    uses its own connection state.
 *
 * Rules (default deny: with no rule nothing is allowed)
 *   [scheme://]host[:port]
 *     scheme  http or https; omitted = both
 *     port    a number, or * for any; omitted = the scheme's default port
 *             (80 for http, 443 for https)
 *     host    api.example.com     that name only (case-insensitive)
 *             *.example.com       any subdomain, NOT example.com itself
 *             *                   any host name or address
 *             203.0.113.7         that IPv4 address
 *             10.1.0.0/16         an IPv4 CIDR block
 *             [2001:db8::1]       an IPv6 address (brackets required when
 *             [2001:db8::/32]     a scheme or port is given)
 *   e.g. "https://api.example.com", "http://127.0.0.1:8080",
 *        "*.example.org:*", "fd00::/8".
 *
 * How a request is judged, at every hop (redirects are followed here, one
 * hop at a time, and each new URL is judged again):
 *   1. The URL is parsed with curl's URL parser, the same one that sends
 *      it, so both read the same host. Only http and https are allowed.
 *      Numeric IPv4 forms (2130706433, 0177.0.0.1, 0x7f.1) and IPv4-mapped
 *      IPv6 ([::ffff:127.0.0.1]) are normalised to the plain address first.
 *   2. A rule must match the scheme, host and port. Name rules match host
 *      names, address rules match address literals.
 *   3. A URL carrying user information (http://user@host/) is refused,
 *      judged by its real host first.
 *   4. Every address the connection is about to use (curl resolves, then
 *      asks this service before it opens each socket) is checked: loopback,
 *      private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7),
 *      link-local (169.254/16, fe80::/10), cloud metadata (169.254.169.254,
 *      fd00:ec2::254), unspecified, multicast and reserved ranges are
 *      refused unless an address rule (a literal or a CIDR block, with
 *      matching scheme and port) covers that address. A host name rule
 *      never unlocks them. As the check is made on the very address being
 *      connected, a DNS answer that changes (rebinding) cannot slip past it.
 *      An address literal in the URL is also checked this way up front.
 *   Environment proxies are ignored: a proxy would hide the real target.
 *
 * Errors: CIS_EDENIED (cis_errmsg says which rule or range and why),
 * CIS_EINVAL (bad URL, method or header), CIS_ETIMEOUT, CIS_ETOOBIG
 * (request or response above its cap), CIS_ENET (DNS, connect, TLS,
 * protocol, too many redirects), CIS_ENOMEM, CIS_EUNSUPPORTED (libcurl,
 * loaded by the first request, is not installed: the message names its
 * package). An HTTP status of 400 or more is not an error here: the
 * response carries it.
 */
#ifndef CIS_CIS_HTTP_H
#define CIS_CIS_HTTP_H

#include "cis/cis.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- policy */

typedef struct cis_http_policy cis_http_policy;

CIS_EXTERN cis_result cis_http_policy_new(cis_http_policy **out);
CIS_EXTERN void cis_http_policy_free(cis_http_policy *p);
/* Adds one rule (syntax above). CIS_EINVAL with the reason in
 * cis_errmsg(p) when it does not parse; the policy is then unchanged. */
CIS_EXTERN cis_result cis_http_policy_add(cis_http_policy *p, const char *rule);
/* Number of rules. */
CIS_EXTERN size_t cis_http_policy_count(const cis_http_policy *p);

/* Judges url by steps 1 to 3 above, without resolving or connecting.
 * CIS_OK when allowed; CIS_EDENIED or CIS_EINVAL with the reason written
 * to why (may be NULL); CIS_EUNSUPPORTED when libcurl (whose URL parser
 * this uses) is not installed. */
CIS_EXTERN cis_result cis_http_policy_check_url(const cis_http_policy *p, const char *url,
                                                char *why, size_t why_cap);
/* Judges one connection address (step 4): ip is an IPv4 or IPv6 address
 * in text, scheme "http" or "https". Same results as above. */
CIS_EXTERN cis_result cis_http_policy_check_addr(const cis_http_policy *p, const char *scheme,
                                                 uint16_t port, const char *ip, char *why,
                                                 size_t why_cap);

/* ---------------------------------------------------------------- client */

#define CIS_HTTP_DEFAULT_MAX_RESPONSE (4u * 1024u * 1024u)
#define CIS_HTTP_DEFAULT_MAX_REQUEST (4u * 1024u * 1024u)
#define CIS_HTTP_DEFAULT_MAX_HEADERS (64u * 1024u)
#define CIS_HTTP_DEFAULT_MAX_REDIRECTS 5u
#define CIS_HTTP_DEFAULT_TIMEOUT_MS 30000u

typedef struct cis_http_config {
  size_t max_response_bytes;  /* response body cap; 0 = default (4 MiB) */
  size_t max_request_bytes;   /* request body cap; 0 = default (4 MiB) */
  size_t max_header_bytes;    /* response header cap; 0 = default (64 KiB) */
  uint32_t max_redirects;     /* hops followed; 0 = default (5) */
  bool no_redirects;          /* return 3xx responses instead of following */
  uint64_t timeout_ms;        /* cap of one request, redirects included,
                                 whatever the caller's budget; 0 = default */
  const char *user_agent;     /* NULL = "cis/<version>" */
  const char *ca_file;        /* CA bundle for https; NULL = system default */
  /* Fixed name resolutions, "HOST:PORT:ADDRESS" as curl's CURLOPT_RESOLVE
   * takes them (for split-horizon names and for tests). The addresses are
   * still checked by step 4. */
  const char *const *resolve;
  size_t nresolve;            /* entries in resolve */
} cis_http_config;

typedef struct cis_http cis_http;

/* Zeroes c: every field at its default. */
CIS_EXTERN void cis_http_config_default(cis_http_config *c);
/* cfg may be NULL for defaults; strings are copied. Errors: CIS_EINVAL (a
 * resolve entry without two colons), CIS_ENOMEM. On failure *out is a
 * failed client (cis.h, "Errors"): cis_errmsg(*out) says why; free it
 * with cis_http_free. */
CIS_EXTERN cis_result cis_http_new(const cis_http_config *cfg, cis_http **out);
CIS_EXTERN void cis_http_free(cis_http *h);

/* One header. In a request the strings are the caller's; in a response
 * they belong to the response. */
typedef struct cis_http_header {
  const char *name;   /* e.g. "Content-Type" */
  const char *value;  /* without surrounding blanks */
} cis_http_header;

typedef struct cis_http_request {
  const char *method;              /* GET, HEAD, POST, PUT, PATCH, DELETE or
                                      OPTIONS; NULL = GET, or POST with a body */
  const char *url;                 /* absolute http:// or https:// URL */
  const cis_http_header *headers;  /* extra headers; Host, Content-Length,
                                      Transfer-Encoding, Connection refused */
  size_t nheaders;                 /* entries in headers */
  const void *body;                /* request body; may be NULL when body_len is 0 */
  size_t body_len;                 /* bytes in body */
} cis_http_request;

typedef struct cis_http_response {
  int status;                /* HTTP status of the final response */
  cis_http_header *headers;  /* headers of the final response, in order */
  size_t nheaders;           /* entries in headers */
  char *body;                /* body, NUL-terminated (may also hold NULs) */
  size_t body_len;           /* bytes in body */
  char *url;                 /* URL of the final response */
  uint32_t redirects;        /* redirects followed */
} cis_http_response;

/* Sends req under policy for principal who (may be NULL; it names the
 * skill in messages) within timeout_ms (the caller's remaining deadline:
 * UINT64_MAX = none, so only the config's cap applies; 0 = already past,
 * CIS_ETIMEOUT). On CIS_OK *resp holds the final response; free it with
 * cis_http_response_free. On error *resp is empty and the reason is
 * cis_errmsg(h) of the calling thread, kept per thread and per client
 * (it names scheme, host and port, never the path or query, which may hold
 * secrets). On a redirect a 303,
 * or a 301/302 answering a POST, becomes a GET without body, and
 * Authorization, Cookie and Proxy-Authorization are dropped when the
 * scheme, host or port changes. */
CIS_EXTERN cis_result cis_http_fetch(cis_http *h, const cis_http_policy *policy,
                                     const cis_principal *who, const cis_http_request *req,
                                     uint64_t timeout_ms, cis_http_response *resp);
/* Frees what a response holds and empties it; safe on an empty response. */
CIS_EXTERN void cis_http_response_free(cis_http_response *resp);
/* First response header named name (case-insensitive), or NULL. */
CIS_EXTERN const char *cis_http_response_header(const cis_http_response *resp, const char *name);

#ifdef __cplusplus
}
#endif
#endif /* CIS_CIS_HTTP_H */
