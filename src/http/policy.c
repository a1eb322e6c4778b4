/*
 * This file implements the HTTP allow-list (cis_http_policy): parsing the
 * rules, judging a URL (scheme, normalised host, port, user information)
 * and judging each address a connection is about to use. Everything not
 * allowed by a rule is denied, and every denial says why.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

#define RULE_MAX_LEN 512
#define PORT_DEFAULT (-1) /* the scheme's default port */
#define PORT_ANY 0        /* written "*" */

typedef enum rule_kind {
  RULE_NAME,      /* one host name */
  RULE_WILDCARD,  /* every subdomain of a name */
  RULE_ANY,       /* "*": every host */
  RULE_ADDR,      /* an address or CIDR block */
} rule_kind;

typedef struct rule {
  char *text;         /* the rule as written, for messages */
  unsigned schemes;   /* CIS__SCHEME_* bits */
  int port;           /* PORT_DEFAULT, PORT_ANY or 1..65535 */
  rule_kind kind;     /* what host selects */
  char *name;         /* RULE_NAME: the name; RULE_WILDCARD: ".suffix" */
  cis__ip net;        /* RULE_ADDR: network address, host bits cleared */
  unsigned prefix;    /* RULE_ADDR: prefix length */
} rule;

struct cis_http_policy {
  cis__handle h;   /* errors of cis_http_policy_add */
  rule *rules;     /* the rules, in the order added */
  size_t n;        /* rules used */
  size_t cap;      /* rules allocated */
};

cis_result cis_http_policy_new(cis_http_policy **out) {
  if (!out) return CIS_EINVAL;
  *out = calloc(1, sizeof **out);
  if (!*out) return CIS_ENOMEM;
  cis__handle_init(&(*out)->h, CIS__H_OTHER);
  return CIS_OK;
}

void cis_http_policy_free(cis_http_policy *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n; i++) {
    free(p->rules[i].text);
    free(p->rules[i].name);
  }
  free(p->rules);
  free(p);
}

size_t cis_http_policy_count(const cis_http_policy *p) { return p ? p->n : 0; }

/* ---------------------------------------------------------------- parsing */

static cis_result parse_port(cis_http_policy *p, const char *s, const char *text, int *port) {
  if (strcmp(s, "*") == 0) {
    *port = PORT_ANY;
    return CIS_OK;
  }
  char *end;
  unsigned long v = 0;
  if (isdigit((unsigned char)s[0])) v = strtoul(s, &end, 10);
  if (!isdigit((unsigned char)s[0]) || *end || v == 0 || v > 65535)
    return cis__fail(p, CIS_EINVAL, "http rule '%s': bad port '%s'", text, s);
  *port = (int)v;
  return CIS_OK;
}

/* Parses an address or CIDR block ("10.0.0.0/8", "fd00::/8", "::1") into
 * r. IPv4-mapped IPv6 forms are not accepted here: write the IPv4 form. */
static cis_result parse_addr_rule(cis_http_policy *p, char *host, const char *text, rule *r) {
  char *slash = strchr(host, '/');
  if (slash) *slash = '\0';
  if (!cis__ip_parse(host, &r->net))
    return cis__fail(p, CIS_EINVAL, "http rule '%s': '%s' is not an IP address", text, host);
  unsigned bits = r->net.family == 4 ? 32 : 128;
  r->prefix = bits;
  if (slash) {
    char *end;
    unsigned long v = 0;
    if (isdigit((unsigned char)slash[1])) v = strtoul(slash + 1, &end, 10);
    if (!isdigit((unsigned char)slash[1]) || *end || v > bits)
      return cis__fail(p, CIS_EINVAL, "http rule '%s': bad prefix length '%s'", text, slash + 1);
    r->prefix = (unsigned)v;
  }
  /* Clear the host bits so that "10.1.2.3/8" means 10.0.0.0/8. */
  for (unsigned i = r->prefix; i < bits; i++) r->net.b[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
  r->kind = RULE_ADDR;
  return CIS_OK;
}

/* Parses the host part of a rule into r. */
static cis_result parse_host(cis_http_policy *p, char *host, const char *text, rule *r) {
  char why[160];
  cis__host h;
  if (strcmp(host, "*") == 0) {
    r->kind = RULE_ANY;
    return CIS_OK;
  }
  if (strncmp(host, "*.", 2) == 0) {
    if (cis__host_parse(host + 2, &h, why, sizeof why) != CIS_OK || h.is_ip)
      return cis__fail(p, CIS_EINVAL, "http rule '%s': '%s' is not a domain name", text, host + 2);
    r->kind = RULE_WILDCARD;
    size_t n = strlen(h.name);
    r->name = malloc(n + 2);
    if (!r->name) return CIS_ENOMEM;
    r->name[0] = '.';
    memcpy(r->name + 1, h.name, n + 1);
    return CIS_OK;
  }
  if (strchr(host, '/') || strchr(host, ':')) return parse_addr_rule(p, host, text, r);
  if (cis__host_parse(host, &h, why, sizeof why) != CIS_OK)
    return cis__fail(p, CIS_EINVAL, "http rule '%s': %s", text, why);
  if (h.is_ip) {
    r->kind = RULE_ADDR;
    r->net = h.ip;
    r->prefix = h.ip.family == 4 ? 32 : 128;
    return CIS_OK;
  }
  r->kind = RULE_NAME;
  r->name = strdup(h.name);
  return r->name ? CIS_OK : CIS_ENOMEM;
}

/* Parses one rule into r (syntax in cis_http.h). Owns nothing on failure
 * except what r points to, which the caller frees. */
static cis_result parse_rule(cis_http_policy *p, const char *text, rule *r) {
  cis_result rc = CIS_OK;
  char buf[RULE_MAX_LEN + 1];
  size_t n = strlen(text);
  if (n == 0 || n > RULE_MAX_LEN) return cis__fail(p, CIS_EINVAL, "http rule is empty or too long");
  for (size_t i = 0; i < n; i++)
    if (!isgraph((unsigned char)text[i]))
      return cis__fail(p, CIS_EINVAL, "http rule '%.100s' holds a blank or control character", text);
  memcpy(buf, text, n + 1);

  char *rest = buf;
  char *sep = strstr(buf, "://");
  r->schemes = CIS__SCHEME_HTTP | CIS__SCHEME_HTTPS;
  r->port = PORT_DEFAULT;
  if (sep) {
    *sep = '\0';
    for (char *c = buf; *c; c++) *c = (char)tolower((unsigned char)*c);
    if (strcmp(buf, "http") == 0) r->schemes = CIS__SCHEME_HTTP;
    else if (strcmp(buf, "https") == 0) r->schemes = CIS__SCHEME_HTTPS;
    else return cis__fail(p, CIS_EINVAL, "http rule '%s': scheme must be http or https", text);
    rest = sep + 3;
  }
  size_t rn = strlen(rest);
  if (rn > 1 && rest[rn - 1] == '/' && rest[rn - 2] != '/') rest[--rn] = '\0';
  if (rn == 0) return cis__fail(p, CIS_EINVAL, "http rule '%s': no host", text);

  char *host = rest;
  if (rest[0] == '[') {
    char *close = strchr(rest, ']');
    if (!close) return cis__fail(p, CIS_EINVAL, "http rule '%s': missing ']'", text);
    *close = '\0';
    host = rest + 1;
    if (close[1] == ':') CIS_TRY(parse_port(p, close + 2, text, &r->port));
    else if (close[1] != '\0')
      return cis__fail(p, CIS_EINVAL, "http rule '%s': unexpected text after ']'", text);
    return parse_addr_rule(p, host, text, r);
  }
  /* A bare IPv6 address or block ("fd00::/8") has more than one colon and
   * cannot carry a port; any other rule has at most one, before the port. */
  char *colon = strchr(rest, ':');
  if (colon && strchr(colon + 1, ':')) {
    if (sep) return cis__fail(p, CIS_EINVAL, "http rule '%s': write IPv6 in [brackets]", text);
    return parse_addr_rule(p, host, text, r);
  }
  if (colon) {
    *colon = '\0';
    CIS_TRY(parse_port(p, colon + 1, text, &r->port));
  }
  return parse_host(p, host, text, r);
fail:
  return rc;
}

cis_result cis_http_policy_add(cis_http_policy *p, const char *text) {
  cis_result rc = CIS_OK;
  rule r;
  memset(&r, 0, sizeof r);
  if (!p || !text) return CIS_EINVAL;
  cis__clear_error(p);
  CIS_TRY(parse_rule(p, text, &r));
  r.text = strdup(text);
  if (!r.text) CIS_TRY(CIS_ENOMEM);
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 8;
    rule *nr = realloc(p->rules, cap * sizeof *nr);
    if (!nr) CIS_TRY(CIS_ENOMEM);
    p->rules = nr;
    p->cap = cap;
  }
  p->rules[p->n++] = r;
  return CIS_OK;
fail:
  free(r.text);
  free(r.name);
  return rc;
}

/* --------------------------------------------------------------- judging */

static uint16_t default_port(unsigned scheme) { return scheme == CIS__SCHEME_HTTPS ? 443 : 80; }

static bool rule_port_matches(const rule *r, unsigned scheme, uint16_t port) {
  if (!(r->schemes & scheme)) return false;
  if (r->port == PORT_ANY) return true;
  if (r->port == PORT_DEFAULT) return port == default_port(scheme);
  return r->port == port;
}

static bool rule_host_matches(const rule *r, const cis__host *h) {
  switch (r->kind) {
  case RULE_ANY: return true;
  case RULE_NAME: return !h->is_ip && strcmp(h->name, r->name) == 0;
  case RULE_WILDCARD: {
    size_t n = strlen(h->name), s = strlen(r->name);
    return !h->is_ip && n > s && strcmp(h->name + n - s, r->name) == 0;
  }
  case RULE_ADDR: return h->is_ip && cis__ip_in(&h->ip, &r->net, r->prefix);
  }
  return false;
}

cis_result cis__policy_judge_addr(const cis_http_policy *p, unsigned scheme, uint16_t port,
                                  const cis__ip *addr, char *why, size_t why_cap) {
  cis__ip ip = *addr;
  cis__ip_unmap(&ip);
  const char *special = cis__ip_special(&ip);
  if (!special) return CIS_OK;
  for (size_t i = 0; i < p->n; i++) {
    const rule *r = &p->rules[i];
    if (r->kind == RULE_ADDR && rule_port_matches(r, scheme, port) &&
        cis__ip_in(&ip, &r->net, r->prefix))
      return CIS_OK;
  }
  char text[64];
  cis__ip_format(&ip, text, sizeof text);
  snprintf(why, why_cap,
           "address %s is %s: refused unless an address rule for port %u names it", text,
           special, (unsigned)port);
  return CIS_EDENIED;
}

void cis__target_free(cis__target *t) {
  if (t->u) cis__curl.url_cleanup(t->u);
  t->u = NULL;
}

/* Reads one part of u; NULL when absent. The caller frees with curl_free. */
static char *url_part(CURLU *u, CURLUPart what, unsigned flags) {
  char *s = NULL;
  if (cis__curl.url_get(u, what, &s, flags) != CURLUE_OK) return NULL;
  return s;
}

cis_result cis__policy_judge_url(const cis_http_policy *p, const char *url, cis__target *t,
                                 char *why, size_t why_cap) {
  cis_result rc = CIS_OK;
  char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pass = NULL, *zone = NULL;
  memset(t, 0, sizeof *t);
  t->u = cis__curl.url();
  if (!t->u) CIS_TRY(CIS_ENOMEM);
  CURLUcode uc = cis__curl.url_set(t->u, CURLUPART_URL, url, 0);
  if (uc != CURLUE_OK) {
    snprintf(why, why_cap, "not a valid URL: %s", cis__curl.url_strerror(uc));
    CIS_TRY(CIS_EINVAL);
  }
  scheme = url_part(t->u, CURLUPART_SCHEME, 0);
  if (scheme && strcmp(scheme, "http") == 0) t->scheme = CIS__SCHEME_HTTP;
  else if (scheme && strcmp(scheme, "https") == 0) t->scheme = CIS__SCHEME_HTTPS;
  else {
    snprintf(why, why_cap, "scheme '%.20s' is not allowed (only http and https)",
             scheme ? scheme : "");
    CIS_TRY(CIS_EDENIED);
  }
  host = url_part(t->u, CURLUPART_HOST, 0);
  port = url_part(t->u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (!host || !port) {
    snprintf(why, why_cap, "not a valid URL: no host or port");
    CIS_TRY(CIS_EINVAL);
  }
  unsigned long pv = strtoul(port, NULL, 10);
  if (pv == 0 || pv > 65535) {
    snprintf(why, why_cap, "not a valid URL: bad port '%.10s'", port);
    CIS_TRY(CIS_EINVAL);
  }
  t->port = (uint16_t)pv;
  CIS_TRY(cis__host_parse(host, &t->host, why, why_cap));
  snprintf(t->origin, sizeof t->origin, "%s://%s%s%s:%u", scheme, t->host.ip.family == 6 ? "[" : "",
           t->host.name, t->host.ip.family == 6 ? "]" : "", (unsigned)t->port);

  zone = url_part(t->u, CURLUPART_ZONEID, 0);
  if (zone) {
    snprintf(why, why_cap, "%s: IPv6 zone ids are not allowed", t->origin);
    CIS_TRY(CIS_EDENIED);
  }

  const rule *host_rule = NULL;
  bool allowed = false;
  for (size_t i = 0; i < p->n && !allowed; i++) {
    const rule *r = &p->rules[i];
    if (!rule_host_matches(r, &t->host)) continue;
    if (rule_port_matches(r, t->scheme, t->port)) allowed = true;
    else if (!host_rule) host_rule = r;
  }
  if (!allowed) {
    char as_written[128] = "";
    if (t->host.is_ip && strcmp(host, t->host.name) != 0)
      snprintf(as_written, sizeof as_written, " (written '%.80s')", host);
    if (host_rule)
      snprintf(why, why_cap, "%s%s: scheme or port not allowed; rule '%s' names this host",
               t->origin, as_written, host_rule->text);
    else if (p->n == 0)
      snprintf(why, why_cap, "%s%s: the allow-list is empty", t->origin, as_written);
    else
      snprintf(why, why_cap, "%s%s: host matches no rule of the allow-list", t->origin, as_written);
    CIS_TRY(CIS_EDENIED);
  }

  /* Judged by its real host first, then refused for carrying user
   * information: such URLs exist to mislead a reader about the host. */
  user = url_part(t->u, CURLUPART_USER, 0);
  pass = url_part(t->u, CURLUPART_PASSWORD, 0);
  if (user || pass) {
    snprintf(why, why_cap, "%s: user information in the URL is not allowed", t->origin);
    CIS_TRY(CIS_EDENIED);
  }

  /* An address literal is judged as a connection address right away. */
  if (t->host.is_ip) {
    char awhy[256];
    if (cis__policy_judge_addr(p, t->scheme, t->port, &t->host.ip, awhy, sizeof awhy) != CIS_OK) {
      snprintf(why, why_cap, "%s: %s", t->origin, awhy);
      CIS_TRY(CIS_EDENIED);
    }
  }

  /* Hand curl the normalised host, so it connects to what was judged. */
  char hostpart[sizeof t->host.name + 2];
  snprintf(hostpart, sizeof hostpart, "%s%s%s", t->host.ip.family == 6 ? "[" : "", t->host.name,
           t->host.ip.family == 6 ? "]" : "");
  if (cis__curl.url_set(t->u, CURLUPART_HOST, hostpart, 0) != CURLUE_OK ||
      cis__curl.url_set(t->u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK) {
    snprintf(why, why_cap, "%s: cannot rebuild the URL", t->origin);
    CIS_TRY(CIS_EINVAL);
  }
fail:
  cis__curl.free(scheme);
  cis__curl.free(host);
  cis__curl.free(port);
  cis__curl.free(user);
  cis__curl.free(pass);
  cis__curl.free(zone);
  if (rc != CIS_OK) cis__target_free(t);
  return rc;
}

/* --------------------------------------------------------- public checks */

cis_result cis_http_policy_check_url(const cis_http_policy *p, const char *url, char *why,
                                     size_t why_cap) {
  char local[8];
  if (!why) why = local, why_cap = sizeof local;
  if (why_cap) why[0] = '\0';
  if (!p || !url) return CIS_EINVAL;
  /* The URL parser is libcurl's, loaded here on first use. */
  cis_result rc = cis__curl_init(why, why_cap);
  if (rc != CIS_OK) return rc;
  cis__target t;
  rc = cis__policy_judge_url(p, url, &t, why, why_cap);
  if (rc == CIS_OK) cis__target_free(&t);
  return rc;
}

cis_result cis_http_policy_check_addr(const cis_http_policy *p, const char *scheme, uint16_t port,
                                      const char *ip, char *why, size_t why_cap) {
  char local[8];
  if (!why) why = local, why_cap = sizeof local;
  if (why_cap) why[0] = '\0';
  if (!p || !scheme || !ip) return CIS_EINVAL;
  unsigned s;
  if (strcmp(scheme, "http") == 0) s = CIS__SCHEME_HTTP;
  else if (strcmp(scheme, "https") == 0) s = CIS__SCHEME_HTTPS;
  else return CIS_EINVAL;
  cis__ip addr;
  if (!cis__ip_parse(ip, &addr)) {
    snprintf(why, why_cap, "'%.60s' is not an IP address", ip);
    return CIS_EINVAL;
  }
  return cis__policy_judge_addr(p, s, port, &addr, why, why_cap);
}
