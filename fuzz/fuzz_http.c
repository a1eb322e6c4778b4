/*
 * fuzz_http.c -- libFuzzer entry point of the fuzz_http target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_http: the parts of
 * the HTTP server (src/serve/http_parse.c) that read what a client sent
 * before anything runs. The first byte picks what the rest is: a request
 * line for the router ("METHOD PATH"; the path is also read as a
 * yes-or-no query argument), a bundle (the body of POST
 * /v1/skills), an MCP message for the /mcp peek, or a request head (a raw
 * target, then header lines "name:value" that may hold any byte, NUL
 * included, each added with its real length) for the head checks, or the
 * raw bytes of a head laid out as the server's library lays them out (a
 * NUL over every separator, C strings into its buffer) for the layout
 * check; 5 and above give the same bytes to all five. Each result is
 * checked against its contract.
 */
#include <ctype.h>
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
  bool yes;
  int fl = cis__http_flag(path, &yes);
  bool spelled = !strcmp(path, "true") || !strcmp(path, "1") || !strcmp(path, "false") || !strcmp(path, "0");
  if ((fl == 0) != spelled || (yes && fl) || (yes && strcmp(path, "true") && strcmp(path, "1"))) abort();
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

/* Whether name[0..n) is a token (RFC 9110 5.6.2). */
static bool token(const char *name, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!name[i] || !(isalnum((unsigned char)name[i]) || strchr("!#$%&'*+-.^_`|~", name[i]))) return false;
  return n > 0;
}

/* A head: the first line is the raw target (up to its first NUL, as the
 * server's library hands it over), each further line "name:value". */
static void head(const char *text, size_t len) {
  bool bad_target = cis__http_target_bad(text);
  if (has_ctl(text, strnlen(text, len), true) && !bad_target) abort();
  cis__http_head h;
  memset(&h, 0, sizeof h);
  bool any_ctl = false, te = false, any_bad_name = false;
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
      any_bad_name |= !token(line, nn);
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
  if ((bad_target || any_ctl || any_bad_name || (n_cl && te) || h.length_bad) != (why != NULL)) abort();
}

/* A raw head, laid out as libmicrohttpd 0.9.75 lays it out: a copy
 * holding the head alone (so that ASan sees any read past it), a NUL over
 * each line end, the request line's separating spaces and each colon, and
 * the strings handed out found with strlen/strchr as the library finds
 * them. The contract: no read outside the head; a head with no NUL,
 * single spaces, no folded line and token names passes the layout check;
 * a NUL followed by more of its line (what a C string would hide) fails
 * it. (A NUL right before a line end cannot be told from a CR there.) */
static void layout(const char *text, size_t len) {
  enum { MAX_LINES = 64 };
  size_t ls[MAX_LINES], le[MAX_LINES], pos = 0, end = 0;
  int nl = 0;
  while (!end) {
    const char *lf = pos < len ? memchr(text + pos, '\n', len - pos) : NULL;
    if (!lf || nl == MAX_LINES) return; /* no whole head */
    size_t e = (size_t)(lf - text), c = e > pos && text[e - 1] == '\r' ? e - 1 : e;
    if (c == pos && nl) end = e + 1;    /* the empty line */
    else if (c > pos) ls[nl] = pos, le[nl++] = c;
    pos = e + 1;
  }
  size_t base = ls[0], n = end - base;
  char *b = malloc(n);
  if (!b) return;
  memcpy(b, text + base, n);
  bool clean = true, hidden = false;
  for (int i = 0; i < nl; i++) {
    size_t s = ls[i] - base, e = le[i] - base, next = (i + 1 < nl ? ls[i + 1] : end) - base;
    memset(b + s + (e - s), 0, next - e);
    const char *z = memchr(b + s, 0, e - s);
    clean &= z == NULL;
    for (; z && z < b + e && !hidden; z++) hidden = *z != 0;
  }
  /* The request line: method SP target SP version, split where the
   * library splits it (the first space, then the last). */
  char *sp1 = memchr(b, ' ', le[0] - base), *sp2 = sp1 ? memrchr(b, ' ', le[0] - base) : NULL;
  if (!sp1 || sp2 == sp1) {
    free(b);
    return;
  }
  char *target = sp1 + 1;
  while (*target == ' ') target++;
  clean &= target == sp1 + 1 && memchr(target, ' ', (size_t)(sp2 - target)) == NULL;
  *sp1 = *sp2 = 0;
  cis__http_head h;
  memset(&h, 0, sizeof h);
  cis__http_head_start(&h, b, n, target, strlen(target), sp2 + 1);
  static const char folded[] = "Folded";
  for (int i = 1; i < nl; i++) {
    char *line = b + (ls[i] - base);
    if (*line == ' ' || *line == '\t') { /* a folded line: the library builds a name elsewhere */
      cis__http_head_add(&h, folded, sizeof folded - 1, line + 1, strlen(line + 1));
      clean = false;
      continue;
    }
    char *colon = strchr(line, ':');
    if (!colon) { /* refused by the library itself */
      free(b);
      return;
    }
    *colon = 0;
    char *value = colon + 1;
    while (*value == ' ' || *value == '\t') value++;
    size_t nn = strlen(line);
    clean &= token(line, nn);
    cis__http_head_add(&h, line, nn, value, strlen(value));
  }
  const char *why = cis__http_head_problem(&h, false);
  bool layout_bad = why && strstr(why, "NUL inside") != NULL;
  if (clean && why && (layout_bad || strstr(why, "not a token"))) abort();
  if (hidden && !layout_bad) abort();
  free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > (1u << 20)) return 0;
  size_t len = size - 1;
  char *text = malloc(len + 1);
  if (!text) return 0;
  memcpy(text, data + 1, len);
  text[len] = 0;
  switch (data[0] % 6) {
  case 0: route(text); break;
  case 1: bundle(text, len); break;
  case 2: peek(text, len); break;
  case 3: head(text, len); break;
  case 4: layout(text, len); break;
  default:
    route(text);
    bundle(text, len);
    peek(text, len);
    head(text, len);
    layout(text, len);
  }
  free(text);
  return 0;
}
