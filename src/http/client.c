/*
 * This file implements the outbound HTTP client (cis_http_fetch): one curl
 * transfer per hop, redirects followed here so that every hop is judged
 * by the allow-list again, a check of every address curl is about to
 * connect to (CURLOPT_OPENSOCKETFUNCTION), size caps on both directions and
 * one deadline over the whole request.
 *
 * curl is told to follow nothing, use no proxy, speak only http and https,
 * and send no cookies or stored credentials, so every way out of the
 * process passes through the checks here.
 */
#include <ctype.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http/http_internal.h"

struct cis_http {
  cis__handle h;              /* per-thread messages: the client is shared */
  size_t max_response;        /* response body cap */
  size_t max_request;         /* request body cap */
  size_t max_headers;         /* response header bytes cap */
  uint32_t max_redirects;     /* hops followed */
  bool no_redirects;          /* hand 3xx back instead of following */
  uint64_t timeout_ms;        /* cap of one request */
  char *user_agent;           /* owned */
  char *ca_file;              /* owned; NULL = curl's default */
  char **resolve;             /* owned CURLOPT_RESOLVE entries (a curl list per hop) */
  size_t nresolve;            /* entries in resolve */
};

void cis_http_config_default(cis_http_config *c) { memset(c, 0, sizeof *c); }

static void http_release(cis_http *h);

/* Creates the client. libcurl is not loaded here but by the first request,
 * so a client that sends nothing costs nothing. Errors: CIS_EINVAL (a
 * resolve entry without two colons), CIS_ENOMEM. */
cis_result cis_http_new(const cis_http_config *cfg, cis_http **out) {
  cis_result rc = CIS_OK;
  cis_http_config dflt;
  cis_http *h = NULL;
  if (!out) return CIS_EINVAL;
  *out = NULL;
  if (!cfg) {
    cis_http_config_default(&dflt);
    cfg = &dflt;
  }
  h = *out = calloc(1, sizeof *h);
  if (!h) return CIS_ENOMEM;
  cis__handle_init(&h->h, CIS__H_ENGINE);
  h->max_response = cfg->max_response_bytes ? cfg->max_response_bytes : CIS_HTTP_DEFAULT_MAX_RESPONSE;
  h->max_request = cfg->max_request_bytes ? cfg->max_request_bytes : CIS_HTTP_DEFAULT_MAX_REQUEST;
  h->max_headers = cfg->max_header_bytes ? cfg->max_header_bytes : CIS_HTTP_DEFAULT_MAX_HEADERS;
  h->max_redirects = cfg->max_redirects ? cfg->max_redirects : CIS_HTTP_DEFAULT_MAX_REDIRECTS;
  h->no_redirects = cfg->no_redirects;
  h->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : CIS_HTTP_DEFAULT_TIMEOUT_MS;
  h->user_agent = strdup(cfg->user_agent ? cfg->user_agent : "cis/" CIS_VERSION_STRING);
  if (!h->user_agent) CIS_TRY(CIS_ENOMEM);
  if (cfg->ca_file && !(h->ca_file = strdup(cfg->ca_file))) CIS_TRY(CIS_ENOMEM);
  if (cfg->nresolve && !(h->resolve = calloc(cfg->nresolve, sizeof *h->resolve)))
    CIS_TRY(CIS_ENOMEM);
  for (size_t i = 0; i < cfg->nresolve; i++) {
    const char *e = cfg->resolve[i];
    const char *c1 = e ? strchr(e, ':') : NULL;
    if (!c1 || !strchr(c1 + 1, ':'))
      CIS_TRY(cis__fail(h, CIS_EINVAL, "http: resolve entry %zu is not HOST:PORT:ADDRESS", i));
    if (!(h->resolve[h->nresolve] = strdup(e))) CIS_TRY(CIS_ENOMEM);
    h->nresolve++;
  }
  return CIS_OK;
fail:
  http_release(h);
  return cis__handle_failed(&h->h, rc);
}

/* Frees what h holds, all but h itself. */
static void http_release(cis_http *h) {
  free(h->user_agent);
  free(h->ca_file);
  for (size_t i = 0; i < h->nresolve; i++) free(h->resolve[i]);
  free(h->resolve);
}

void cis_http_free(cis_http *h) {
  if (!h) return;
  if (!h->h.failed) http_release(h); /* a failed one is a shell */
  free(h);
}

/* ------------------------------------------------------------ responses */

void cis_http_response_free(cis_http_response *resp) {
  if (!resp) return;
  for (size_t i = 0; i < resp->nheaders; i++) {
    free((char *)resp->headers[i].name);
    free((char *)resp->headers[i].value);
  }
  free(resp->headers);
  free(resp->body);
  free(resp->url);
  memset(resp, 0, sizeof *resp);
}

const char *cis_http_response_header(const cis_http_response *resp, const char *name) {
  if (!resp || !name) return NULL;
  for (size_t i = 0; i < resp->nheaders; i++)
    if (strcasecmp(resp->headers[i].name, name) == 0) return resp->headers[i].value;
  return NULL;
}

/* ------------------------------------------------------------ one hop */

/* State of one transfer, shared with curl's callbacks. */
typedef struct hop {
  cis_http *h;                   /* the client */
  const cis_http_policy *policy; /* judges each connection address */
  const cis__target *t;          /* the judged URL */
  cis__buf body;                 /* response body, capped */
  cis_http_header *headers;      /* response headers of the last response */
  size_t nheaders;               /* entries used */
  size_t header_bytes;           /* header bytes seen, against the cap */
  bool headers_too_big;          /* header cap passed */
  bool oom;                      /* an allocation failed in a callback */
  bool denied;                   /* an address was refused */
  char why[CIS_ERRMSG_MAX];      /* why the first address was refused */
} hop;

static void free_headers(cis_http_header *hs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free((char *)hs[i].name);
    free((char *)hs[i].value);
  }
  free(hs);
}

/* Called by curl instead of socket(2): refuses addresses the policy does
 * not allow. This is the check that pins the request to what was judged:
 * it sees the address actually being connected, after any DNS answer. */
static curl_socket_t open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *a) {
  hop *hp = user;
  cis__ip ip;
  memset(&ip, 0, sizeof ip);
  if (purpose != CURLSOCKTYPE_IPCXN) goto fail;
  if (a->family == AF_INET && a->addrlen >= sizeof(struct sockaddr_in)) {
    struct sockaddr_in sin;
    memcpy(&sin, &a->addr, sizeof sin);
    ip.family = 4;
    memcpy(ip.b, &sin.sin_addr, 4);
  } else if (a->family == AF_INET6 && a->addrlen >= sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 sin6;
    memcpy(&sin6, &a->addr, sizeof sin6);
    ip.family = 6;
    memcpy(ip.b, &sin6.sin6_addr, 16);
  } else {
    goto fail;
  }
  cis__ip_unmap(&ip);
  char why[256];
  if (cis__policy_judge_addr(hp->policy, hp->t->scheme, hp->t->port, &ip, why, sizeof why) != CIS_OK) {
    if (!hp->denied) snprintf(hp->why, sizeof hp->why, "%.280s: %.200s", hp->t->origin, why);
    hp->denied = true;
    return CURL_SOCKET_BAD;
  }
  /* An address literal connects to itself and nothing else. */
  if (hp->t->host.is_ip && (ip.family != hp->t->host.ip.family ||
                            memcmp(ip.b, hp->t->host.ip.b, 16) != 0)) {
    if (!hp->denied) snprintf(hp->why, sizeof hp->why, "%s: connection address differs", hp->t->origin);
    hp->denied = true;
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype, a->protocol);
fail:
  if (!hp->denied) snprintf(hp->why, sizeof hp->why, "%s: unexpected socket kind", hp->t->origin);
  hp->denied = true;
  return CURL_SOCKET_BAD;
}

/* Collects the headers of the response; a new status line (an interim 1xx
 * response came first) starts the list afresh. */
static size_t on_header(char *line, size_t size, size_t n, void *user) {
  hop *hp = user;
  size_t len = size * n;
  hp->header_bytes += len;
  if (hp->header_bytes > hp->h->max_headers) {
    hp->headers_too_big = true;
    return 0;
  }
  if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
    free_headers(hp->headers, hp->nheaders);
    hp->headers = NULL;
    hp->nheaders = 0;
    return len;
  }
  const char *colon = memchr(line, ':', len);
  if (!colon || colon == line) return len; /* blank line ending the block, or junk */
  const char *v = colon + 1, *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) end--;
  cis_http_header *hs = realloc(hp->headers, (hp->nheaders + 1) * sizeof *hs);
  if (!hs) goto fail;
  hp->headers = hs;
  char *name = strndup(line, (size_t)(colon - line));
  char *value = strndup(v, (size_t)(end - v));
  if (!name || !value) {
    free(name);
    free(value);
    goto fail;
  }
  hs[hp->nheaders].name = name;
  hs[hp->nheaders].value = value;
  hp->nheaders++;
  return len;
fail:
  hp->oom = true;
  return 0;
}

/* What one hop needs to send. */
typedef struct send_spec {
  const char *method;              /* upper-case method */
  const void *body;                /* body or NULL */
  size_t body_len;                 /* bytes in body */
  struct curl_slist *headers;      /* request headers for curl */
} send_spec;

/* Runs one transfer to t. On CIS_OK the response status, headers, body
 * and redirect target (if any; curl_free it) are in hp and *location.
 * Errors: CIS_EDENIED, CIS_ETIMEOUT, CIS_ETOOBIG, CIS_ENET, CIS_ENOMEM,
 * with the message set on the client for this thread. */
static cis_result run_hop(hop *hp, const send_spec *spec, uint64_t ms_left, long *status,
                          char **location) {
  cis_result rc = CIS_OK;
  cis_http *h = hp->h;
  char errbuf[CURL_ERROR_SIZE] = "";
  struct curl_slist *resolve = NULL;
  *location = NULL;
  CURL *c = cis__curl.easy_init();
  if (!c) return cis__fail(h, CIS_ENOMEM, "cannot create a curl handle");
  for (size_t i = 0; i < h->nresolve; i++) {
    struct curl_slist *l = cis__curl.slist_append(resolve, h->resolve[i]);
    if (!l) CIS_TRY(cis__fail(h, CIS_ENOMEM, "out of memory"));
    resolve = l;
  }

  hp->body.limit = h->max_response;
  cis__curl.easy_setopt(c, CURLOPT_CURLU, hp->t->u);
  cis__curl.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  cis__curl.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  cis__curl.easy_setopt(c, CURLOPT_PROXY, ""); /* ignore *_proxy environment variables */
  cis__curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  cis__curl.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  cis__curl.easy_setopt(c, CURLOPT_USERAGENT, h->user_agent);
  if (ms_left != UINT64_MAX) {
    long ms = ms_left > (uint64_t)LONG_MAX ? LONG_MAX : (long)ms_left;
    cis__curl.easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    cis__curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
  }
  cis__curl.easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  cis__curl.easy_setopt(c, CURLOPT_OPENSOCKETDATA, hp);
  cis__curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, cis__buf_write);
  cis__curl.easy_setopt(c, CURLOPT_WRITEDATA, &hp->body);
  cis__curl.easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  cis__curl.easy_setopt(c, CURLOPT_HEADERDATA, hp);
  cis__curl.easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_response);
  if (resolve) cis__curl.easy_setopt(c, CURLOPT_RESOLVE, resolve);
  if (h->ca_file) cis__curl.easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
  cis__curl.easy_setopt(c, CURLOPT_HTTPHEADER, spec->headers);

  if (strcmp(spec->method, "GET") == 0) {
    cis__curl.easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (strcmp(spec->method, "HEAD") == 0) {
    cis__curl.easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else {
    /* POSTFIELDS makes curl send the body as is, with a length; the method
     * line is then set explicitly for anything but POST. */
    cis__curl.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)spec->body_len);
    cis__curl.easy_setopt(c, CURLOPT_POSTFIELDS, spec->body_len ? spec->body : "");
    if (strcmp(spec->method, "POST") != 0)
      cis__curl.easy_setopt(c, CURLOPT_CUSTOMREQUEST, spec->method);
  }

  CURLcode cc = cis__curl.easy_perform(c);
  if (cc != CURLE_OK) {
    if (hp->denied) rc = cis__fail(h, CIS_EDENIED, "%s", hp->why);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
      rc = cis__fail(h, CIS_ETIMEOUT, "%s: deadline exceeded (%s)", hp->t->origin, errbuf);
    else if (hp->body.too_big || cc == CURLE_FILESIZE_EXCEEDED)
      rc = cis__fail(h, CIS_ETOOBIG, "%s: response body above %zu bytes", hp->t->origin,
                     h->max_response);
    else if (hp->headers_too_big)
      rc = cis__fail(h, CIS_ETOOBIG, "%s: response headers above %zu bytes", hp->t->origin,
                     h->max_headers);
    else if (hp->body.oom || hp->oom || cc == CURLE_OUT_OF_MEMORY)
      rc = cis__fail(h, CIS_ENOMEM, "%s: out of memory", hp->t->origin);
    else
      rc = cis__fail(h, CIS_ENET, "%s: %s", hp->t->origin,
                     errbuf[0] ? errbuf : cis__curl.easy_strerror(cc));
    goto fail;
  }
  cis__curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  char *loc = NULL;
  if (cis__curl.easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc) {
    *location = strdup(loc);
    if (!*location) CIS_TRY(cis__fail(h, CIS_ENOMEM, "out of memory"));
  }
fail:
  cis__curl.easy_cleanup(c);
  cis__curl.slist_free_all(resolve);
  return rc;
}

/* -------------------------------------------------------------- the call */

static const char *const allowed_methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

/* Headers a skill may not set: they would let it speak for the transport
 * (message framing, connection handling) or reach another virtual host. */
static const char *const refused_headers[] = {"Host", "Content-Length", "Transfer-Encoding",
                                              "Connection", "Expect", "Upgrade", "TE", "Trailer"};

/* Headers dropped when a redirect leaves the origin. */
static const char *const credential_headers[] = {"Authorization", "Cookie", "Proxy-Authorization"};

static bool name_in(const char *name, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcasecmp(name, list[i]) == 0) return true;
  return false;
}

static bool valid_header(const cis_http_header *hd) {
  if (!hd->name || !hd->value || !hd->name[0]) return false;
  for (const char *s = hd->name; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s)) return false;
  for (const char *s = hd->value; *s; s++)
    if (*s == '\r' || *s == '\n') return false;
  return true;
}

/* Builds curl's header list for a hop. drop_credentials leaves out the
 * headers that must not follow a redirect to another origin. */
static cis_result build_headers(const cis_http_request *req, bool has_body,
                                bool drop_credentials, struct curl_slist **out) {
  struct curl_slist *l = NULL, *n;
  bool has_ctype = false;
  *out = NULL;
  for (size_t i = 0; i < req->nheaders; i++) {
    const cis_http_header *hd = &req->headers[i];
    if (drop_credentials && name_in(hd->name, credential_headers, CIS_ARRAY_LEN(credential_headers)))
      continue;
    if (strcasecmp(hd->name, "Content-Type") == 0) {
      if (!has_body) continue;
      has_ctype = true;
    }
    size_t len = strlen(hd->name) + strlen(hd->value) + 3;
    char *line = malloc(len);
    if (!line) goto fail;
    /* "Name;" is curl's way to send a header with an empty value. */
    if (hd->value[0]) snprintf(line, len, "%s: %s", hd->name, hd->value);
    else snprintf(line, len, "%s;", hd->name);
    n = cis__curl.slist_append(l, line);
    free(line);
    if (!n) goto fail;
    l = n;
  }
  /* No "Expect: 100-continue" round trip, and no form encoding claimed
   * for bytes that are not a form. */
  if (!(n = cis__curl.slist_append(l, "Expect:"))) goto fail;
  l = n;
  if (has_body && !has_ctype) {
    if (!(n = cis__curl.slist_append(l, "Content-Type: application/octet-stream"))) goto fail;
    l = n;
  }
  *out = l;
  return CIS_OK;
fail:
  cis__curl.slist_free_all(l);
  return CIS_ENOMEM;
}

static bool same_origin(const cis__target *a, const cis__target *b) {
  return a->scheme == b->scheme && a->port == b->port && strcmp(a->host.name, b->host.name) == 0;
}

/* Checks the request before anything is sent. Errors: CIS_EINVAL,
 * CIS_ETOOBIG, with a message on h. */
static cis_result check_request(cis_http *h, const cis_http_request *req, const char **method) {
  const char *m = req->method ? req->method : (req->body_len ? "POST" : "GET");
  bool known = false;
  for (size_t i = 0; i < CIS_ARRAY_LEN(allowed_methods); i++)
    if (strcmp(m, allowed_methods[i]) == 0) {
      known = true;
      *method = allowed_methods[i];
    }
  if (!known) return cis__fail(h, CIS_EINVAL, "http method '%.20s' is not allowed", m);
  if (req->body_len && !req->body) return cis__fail(h, CIS_EINVAL, "request body is NULL");
  if (req->body_len > h->max_request)
    return cis__fail(h, CIS_ETOOBIG, "request body of %zu bytes is above the cap of %zu",
                     req->body_len, h->max_request);
  if (req->nheaders && !req->headers) return cis__fail(h, CIS_EINVAL, "request headers are NULL");
  for (size_t i = 0; i < req->nheaders; i++) {
    const cis_http_header *hd = &req->headers[i];
    if (!valid_header(hd)) return cis__fail(h, CIS_EINVAL, "request header %zu is malformed", i);
    if (name_in(hd->name, refused_headers, CIS_ARRAY_LEN(refused_headers)))
      return cis__fail(h, CIS_EINVAL, "request header '%s' may not be set", hd->name);
  }
  return CIS_OK;
}

static bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Sends req hop by hop (see cis_http.h for the contract). Each hop is
 * judged, sent with the time left, and, when it redirects, turned into the
 * next hop. The response of the last hop moves into *resp. */
cis_result cis_http_fetch(cis_http *h, const cis_http_policy *policy, const cis_principal *who,
                          const cis_http_request *req, uint64_t timeout_ms,
                          cis_http_response *resp) {
  cis_result rc = CIS_OK;
  char why[512];
  char *url = NULL, *location = NULL;
  struct curl_slist *headers = NULL;
  cis__target t, prev;
  hop hp;
  memset(&t, 0, sizeof t);
  memset(&prev, 0, sizeof prev);
  memset(&hp, 0, sizeof hp);
  if (resp) memset(resp, 0, sizeof *resp);
  if (!h) return CIS_EINVAL;
  if (h->h.failed) return CIS_ESTATE; /* its creation failed: only its message and free */
  if (!policy || !req || !req->url || !resp)
    return cis__fail(h, CIS_EINVAL, "http: NULL policy, request, URL or response");
  cis__clear_error(h);
  const char *skill = who && who->skill && who->skill[0] ? who->skill : NULL;
  /* libcurl is loaded by the first request, not by the client. */
  rc = cis__curl_init(why, sizeof why);
  if (rc != CIS_OK) return cis__fail(h, rc, "http: %s", why);

  send_spec spec = {.body = req->body, .body_len = req->body_len};
  CIS_TRY(check_request(h, req, &spec.method));
  if (timeout_ms == 0) CIS_TRY(cis__fail(h, CIS_ETIMEOUT, "http: no time left before the deadline"));
  uint64_t deadline = cis__deadline_after(timeout_ms, h->timeout_ms);
  bool cross_origin = false;
  url = strdup(req->url);
  if (!url) CIS_TRY(CIS_ENOMEM);

  for (uint32_t redirects = 0;; redirects++) {
    rc = cis__policy_judge_url(policy, url, &t, why, sizeof why);
    if (rc != CIS_OK) {
      if (skill) CIS_TRY(cis__fail(h, rc, "skill %s: %s", skill, why));
      CIS_TRY(cis__fail(h, rc, "%s", why));
    }
    if (redirects > 0 && !same_origin(&prev, &t)) cross_origin = true;
    uint64_t left = cis__ms_left(deadline);
    if (left == 0) CIS_TRY(cis__fail(h, CIS_ETIMEOUT, "%s: deadline exceeded", t.origin));
    CIS_TRY(build_headers(req, spec.body_len > 0, cross_origin, &headers));
    spec.headers = headers;

    hp = (hop){.h = h, .policy = policy, .t = &t};
    long status = 0;
    rc = run_hop(&hp, &spec, left, &status, &location);
    cis__curl.slist_free_all(headers);
    headers = NULL;
    if (rc == CIS_EDENIED && skill) cis__fail(h, rc, "skill %s: %s", skill, hp.why);
    if (rc != CIS_OK) goto fail;

    if (is_redirect(status) && location && !h->no_redirects) {
      if (redirects >= h->max_redirects)
        CIS_TRY(cis__fail(h, CIS_ENET, "%s: more than %u redirects", t.origin, h->max_redirects));
      if (status == 303 || ((status == 301 || status == 302) && strcmp(spec.method, "POST") == 0)) {
        spec.method = "GET";
        spec.body = NULL;
        spec.body_len = 0;
      }
      free(url);
      url = location;
      location = NULL;
      cis__buf_free(&hp.body);
      free_headers(hp.headers, hp.nheaders);
      hp.headers = NULL;
      hp.nheaders = 0;
      cis__target_free(&prev);
      prev = t; /* keeps the parsed URL for the origin comparison */
      memset(&t, 0, sizeof t);
      continue;
    }

    if (!cis__buf_finish(&hp.body)) CIS_TRY(CIS_ENOMEM);
    char *final_url = NULL;
    if (cis__curl.url_get(t.u, CURLUPART_URL, &final_url, 0) != CURLUE_OK) CIS_TRY(CIS_ENOMEM);
    resp->url = strdup(final_url);
    cis__curl.free(final_url);
    if (!resp->url) CIS_TRY(CIS_ENOMEM);
    resp->status = (int)status;
    resp->headers = hp.headers;
    resp->nheaders = hp.nheaders;
    resp->body = hp.body.data;
    resp->body_len = hp.body.len;
    resp->redirects = redirects;
    hp.headers = NULL;
    hp.nheaders = 0;
    hp.body.data = NULL;
    break;
  }
fail:
  if (rc == CIS_ENOMEM && !cis_errmsg(h)[0]) cis__fail(h, rc, "http: out of memory");
  if (rc != CIS_OK) cis_http_response_free(resp);
  cis__buf_free(&hp.body);
  free_headers(hp.headers, hp.nheaders);
  cis__curl.slist_free_all(headers); /* libcurl is loaded: rc was CIS_OK at first */
  free(location);
  free(url);
  cis__target_free(&t);
  cis__target_free(&prev);
  return rc;
}
