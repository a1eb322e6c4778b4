/*
 * fuzz_http.c -- libFuzzer entry point of the fuzz_http target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_http: the parts of
 * the HTTP server (src/serve/http_parse.c) that read what a client sent
 * before anything runs. The first byte picks what the rest is: a request
 * line for the router ("METHOD PATH"), a bundle (the body of POST
 * /v1/skills), or an MCP message for the /mcp peek; 3 and above give the
 * same bytes to all three. Each result is checked against its contract.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > (1u << 20)) return 0;
  size_t len = size - 1;
  char *text = malloc(len + 1);
  if (!text) return 0;
  memcpy(text, data + 1, len);
  text[len] = 0;
  switch (data[0] % 4) {
  case 0: route(text); break;
  case 1: bundle(text, len); break;
  case 2: peek(text, len); break;
  default:
    route(text);
    bundle(text, len);
    peek(text, len);
  }
  free(text);
  return 0;
}
