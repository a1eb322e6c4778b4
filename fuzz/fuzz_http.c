/*
 * fuzz_http.c -- libFuzzer entry point of the fuzz_http target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_http: the parts of
 * the HTTP server (src/serve/http_parse.c) that read what a client sent
 * before anything runs. The first byte picks what the rest is: a request
 * line for the router ("METHOD PATH"), a bundle (the body of POST
 * /v1/skills), an MCP message for the /mcp peek, or a request head (a raw
 * target, then header lines "name:value" that may hold any byte, NUL
 * included, each added with its real length) for the head checks; 4 and
 * above give the same bytes to all four. Each result is checked against
 * its contract.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve/http_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void route(const char *text) {
  char method[16] = "GET";
  const char *path = text, *sp = strchr(text, ' ');
  if (sp && (size_t)(sp - text) < sizeof method) {
    memcpy(method, text, (size_t)(sp - text));
    method[sp - text] = 0;
    path = sp + 1;
  }
  cis__route r;
  int st = cis__http_route(method, path, &r);
  if (st != 0 && st != 404 && st != 405) abort();
  if (st == 405 && !r.allow) abort();
  if (st == 0 && (r.kind == CIS__ROUTE_SHOW || r.kind == CIS__ROUTE_REMOVE || r.kind == CIS__ROUTE_INVOKE)) {
    size_t n = strlen(r.name);
    if (n == 0 || n > 64 || strspn(r.name, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != n) abort();
    if (!strstr(path, r.name)) abort();
  }
}

static void bundle(const char *text, size_t len) {
  char *m = NULL, *sg = NULL, err[256];
  uint8_t *w = NULL;
  size_t ml = 0, wl = 0;
  const size_t max = 4096;
  cis_result rc = cis__http_bundle_parse(text, len, max, &m, &ml, &w, &wl, &sg, err, sizeof err);
  if (rc == CIS_OK) {
    if (!m || !w || wl > max || strlen(m) != ml) abort();
  } else if (m || w || sg || !err[0]) {
    abort();
  }
  free(m);
  free(w);
  free(sg);
}

static void peek(const char *text, size_t len) {
  cis__mcp_peek p;
  cis__http_mcp_peek(text, len, &p);
  if ((p.is_request && p.is_notification) || (p.is_initialize && !p.is_request)) abort();
  if (!p.parsed && (p.method[0] || p.meta_version[0])) abort();
  (void)cis__http_mcp_version_known(p.meta_version);
}

/* Whether any of bytes[0..n) is a control byte other than HTAB (or, with
 * tab_too, HTAB as well). */
static bool has_ctl(const char *b, size_t n, bool tab_too) {
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)b[i] < 0x20 && (tab_too || b[i] != '\t')) || b[i] == 0x7f) return true;
  return false;
}

/* A head: the first line is the raw target (up to its first NUL, as the
 * server's library hands it over), each further line "name:value". */
static void head(const char *text, size_t len) {
  bool bad_target = cis__http_target_bad(text);
  if (has_ctl(text, strnlen(text, len), true) && !bad_target) abort();
  cis__http_head h;
  memset(&h, 0, sizeof h);
  bool any_ctl = false, te = false;
  unsigned n_cl = 0, n_auth = 0;
  const char *p = memchr(text, '\n', len), *end = text + len;
  while (p && p < end) {
    const char *line = p + 1, *nl = memchr(line, '\n', (size_t)(end - line));
    const char *le = nl ? nl : end, *colon = memchr(line, ':', (size_t)(le - line));
    if (colon) {
      size_t nn = (size_t)(colon - line), vn = (size_t)(le - colon - 1);
      cis__http_head_add(&h, line, nn, vn ? colon + 1 : NULL, vn);
      bool auth = nn == 13 && !strncasecmp(line, "Authorization", 13);
      bool ctl = has_ctl(line, nn, true) || has_ctl(colon + 1, vn, false);
      if (auth) n_auth++;
      else any_ctl |= ctl;
      te |= nn == 17 && !strncasecmp(line, "Transfer-Encoding", 17);
      n_cl += nn == 14 && !strncasecmp(line, "Content-Length", 14);
    }
    p = nl;
  }
  /* The contract: counted as given, and every problem named. */
  if (h.n_auth != n_auth || h.n_length != n_cl || h.has_te != te || h.bad_byte != any_ctl) abort();
  if (h.auth && (h.auth < text || h.auth + h.auth_len > end)) abort();
  const char *why = cis__http_head_problem(&h, bad_target);
  if ((bad_target || any_ctl || (n_cl && te) || h.length_bad) != (why != NULL)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > (1u << 20)) return 0;
  size_t len = size - 1;
  char *text = malloc(len + 1);
  if (!text) return 0;
  memcpy(text, data + 1, len);
  text[len] = 0;
  switch (data[0] % 5) {
  case 0: route(text); break;
  case 1: bundle(text, len); break;
  case 2: peek(text, len); break;
  case 3: head(text, len); break;
  default:
    route(text);
    bundle(text, len);
    peek(text, len);
    head(text, len);
  }
  free(text);
  return 0;
}
