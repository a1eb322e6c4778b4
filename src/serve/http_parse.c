/*
 * This file implements the parts of the HTTP server that read what a
 * client sent before anything runs: the router (method and path to a
 * route), the bundle parser of POST /v1/skills, and the peek at an MCP
 * message that /mcp needs for its headers and sessions, and the checks of
 * a request head (its target, its framing, the bytes of its headers).
 * They are pure functions over untrusted bytes, each bounded by its
 * input, and the fuzz target fuzz_http drives them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "cis/cis_mcp.h"
#include "serve/http_internal.h"
#include "serve/mcp_versions.h"
#include "common/json.h"

/* A name a skill can have (the manifest's rule). */
static bool skill_name_ok(const char *s, size_t n) {
  if (n == 0 || n > 64) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.'))) return false;
  }
  return true;
}

int cis__http_flag(const char *text, bool *out) {
  *out = false;
  if (!text || !strcmp(text, "false") || !strcmp(text, "0")) return 0;
  if (!strcmp(text, "true") || !strcmp(text, "1")) {
    *out = true;
    return 0;
  }
  return 400;
}

int cis__http_route(const char *method, const char *path, cis__route *r) {
  memset(r, 0, sizeof *r);
  bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
  bool post = !strcmp(method, "POST"), del = !strcmp(method, "DELETE");
  if (!strcmp(path, "/v1/health")) {
    r->kind = CIS__ROUTE_HEALTH;
    r->allow = "GET";
    return get ? 0 : 405;
  }
  if (!strcmp(path, "/metrics")) {
    r->kind = CIS__ROUTE_METRICS;
    r->allow = "GET";
    return get ? 0 : 405;
  }
  if (!strcmp(path, "/mcp")) {
    r->kind = del ? CIS__ROUTE_MCP_END : CIS__ROUTE_MCP;
    r->allow = "POST, DELETE";
    return post || del ? 0 : 405;
  }
  if (!strcmp(path, "/v1/calls")) {
    r->kind = CIS__ROUTE_CALLS;
    r->allow = "GET";
    return get ? 0 : 405;
  }
  /* The operator page: / is its index.html, /ui/ holds its files (a name
   * of up to 64 bytes; which exist is the server's to say). */
  if (!strcmp(path, "/") || (!strncmp(path, "/ui/", 4) && path[4] && strlen(path + 4) < sizeof r->name)) {
    r->kind = CIS__ROUTE_PAGE;
    snprintf(r->name, sizeof r->name, "%s", path[1] ? path + 4 : "index.html");
    r->allow = "GET";
    return get ? 0 : 405;
  }
  if (!strcmp(path, "/v1/skills") || !strcmp(path, "/v1/skills/")) {
    r->kind = post ? CIS__ROUTE_INSTALL : CIS__ROUTE_LIST;
    r->allow = "GET, POST";
    return get || post ? 0 : 405;
  }
  static const char prefix[] = "/v1/skills/";
  if (strncmp(path, prefix, sizeof prefix - 1) != 0) return 404;
  const char *name = path + sizeof prefix - 1;
  const char *slash = strchr(name, '/');
  size_t n = slash ? (size_t)(slash - name) : strlen(name);
  if (!skill_name_ok(name, n)) return 404;
  memcpy(r->name, name, n);
  r->name[n] = 0;
  if (!slash) {
    r->kind = del ? CIS__ROUTE_REMOVE : CIS__ROUTE_SHOW;
    r->allow = "GET, DELETE";
    return get || del ? 0 : 405;
  }
  if (strcmp(slash, "/invoke") != 0) return 404;
  r->kind = CIS__ROUTE_INVOKE;
  r->allow = "POST";
  return post ? 0 : 405;
}

cis_result cis__http_bundle_parse(const char *body, size_t len, size_t max_wasm, char **manifest, size_t *mlen,
                                  uint8_t **wasm, size_t *wlen, char **signature, char *err, size_t errcap) {
  *manifest = NULL;
  *wasm = NULL;
  *signature = NULL;
  *mlen = *wlen = 0;
  cJSON *root = NULL;
  char why[256] = "";
  cis_result rc = cis__json_parse_strict(body, len, true, &root, why, sizeof why);
  if (rc != CIS_OK) {
    snprintf(err, errcap, "the bundle is not JSON: %s", why);
    return rc == CIS_ENOMEM ? rc : CIS_EJSON;
  }
  const cJSON *m = NULL, *w = NULL, *sg = NULL, *it;
  rc = CIS_EINVAL;
  if (!cJSON_IsObject(root)) {
    snprintf(err, errcap, "the bundle is a JSON object {\"manifest\": ..., \"wasm_base64\": ...}");
    goto done;
  }
  cJSON_ArrayForEach(it, root) {
    if (!strcmp(it->string, "manifest")) m = it;
    else if (!strcmp(it->string, "wasm_base64")) w = it;
    else if (!strcmp(it->string, "signature")) sg = it;
    else {
      snprintf(err, errcap, "the bundle has an unknown member (only manifest, wasm_base64 and signature)");
      goto done;
    }
  }
  if (!m || !(cJSON_IsObject(m) || cJSON_IsString(m))) {
    snprintf(err, errcap, "manifest: an object, or its text as a string");
    goto done;
  }
  if (sg && !(cJSON_IsObject(sg) || cJSON_IsString(sg))) {
    snprintf(err, errcap, "signature: the skill.sig object, or its text as a string");
    goto done;
  }
  if (!w || !cJSON_IsString(w)) {
    snprintf(err, errcap, "wasm_base64: the module in base64");
    goto done;
  }
  size_t blen = strlen(w->valuestring);
  if (blen / 4 * 3 > max_wasm + 2) {
    snprintf(err, errcap, "wasm_base64: the module is larger than %zu bytes", max_wasm);
    rc = CIS_ETOOBIG;
    goto done;
  }
  char lerr[256] = "";
  if ((rc = cis__http_crypto_load(lerr, sizeof lerr)) != CIS_OK) {
    snprintf(err, errcap, "%s", lerr);
    goto done;
  }
  *wasm = malloc(blen / 4 * 3 + 1);
  *manifest = cJSON_IsString(m) ? strdup(m->valuestring) : cJSON_PrintUnformatted(m);
  if (sg) *signature = cJSON_IsString(sg) ? strdup(sg->valuestring) : cJSON_PrintUnformatted(sg);
  if (!*wasm || !*manifest || (sg && !*signature)) {
    snprintf(err, errcap, "out of memory");
    rc = CIS_ENOMEM;
    goto done;
  }
  long n = cis__http_base64_decode(w->valuestring, blen, *wasm);
  if (n < 0) {
    snprintf(err, errcap, "wasm_base64: not padded base64 (RFC 4648, no line breaks)");
    rc = CIS_EINVAL;
    goto done;
  }
  if ((size_t)n > max_wasm) {
    snprintf(err, errcap, "wasm_base64: the module is larger than %zu bytes", max_wasm);
    rc = CIS_ETOOBIG;
    goto done;
  }
  *wlen = (size_t)n;
  *mlen = strlen(*manifest);
  rc = CIS_OK;
done:
  cJSON_Delete(root);
  if (rc != CIS_OK) {
    free(*manifest);
    free(*wasm);
    free(*signature);
    *manifest = NULL;
    *wasm = NULL;
    *signature = NULL;
  }
  return rc;
}

void cis__http_mcp_peek(const char *body, size_t len, cis__mcp_peek *p) {
  memset(p, 0, sizeof *p);
  cJSON *v = NULL;
  /* As strict as cis_mcp_handle (mcp.c, parse_json): a message it refuses
   * is no initialize here, and no method or version read cut at a NUL. */
  if (cis__json_parse_strict(body, len, true, &v, NULL, 0) != CIS_OK) return;
  if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0) {
    /* A batch (2025-03-26): a request when any member is one; the
     * session's handle decides whether it takes batches at all. */
    p->parsed = p->is_batch = true;
    const cJSON *item;
    cJSON_ArrayForEach(item, v) {
      if (cJSON_IsObject(item) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(item, "method")) &&
          cJSON_GetObjectItemCaseSensitive(item, "id"))
        p->is_request = true;
    }
    p->is_notification = !p->is_request;
  } else if (cJSON_IsObject(v)) {
    p->parsed = true;
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(v, "method");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "id");
    if (cJSON_IsString(method)) {
      snprintf(p->method, sizeof p->method, "%s", method->valuestring);
      p->is_request = id != NULL;
      p->is_notification = id == NULL;
      p->is_initialize = p->is_request && !strcmp(method->valuestring, "initialize");
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(v, "params");
    const cJSON *meta = cJSON_IsObject(params) ? cJSON_GetObjectItemCaseSensitive(params, "_meta") : NULL;
    const cJSON *ver =
        cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "io.modelcontextprotocol/protocolVersion") : NULL;
    if (cJSON_IsString(ver)) snprintf(p->meta_version, sizeof p->meta_version, "%s", ver->valuestring);
  }
  cJSON_Delete(v);
}

bool cis__http_mcp_version_known(const char *v) { return cis__mcp_version_known(v); }

/* ------------------------------------------------------------- head */

static bool is_ctl(unsigned char b) { return b < 0x20 || b == 0x7f; }

static int hex_digit(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

bool cis__http_target_bad(const char *target) {
  for (const char *p = target; *p; p++) {
    if (is_ctl((unsigned char)*p)) return true;
    /* p[1] is read only when it is no NUL, p[2] likewise */
    if (*p == '%' && hex_digit(p[1]) >= 0 && hex_digit(p[2]) >= 0 &&
        is_ctl((unsigned char)(hex_digit(p[1]) * 16 + hex_digit(p[2]))))
      return true;
  }
  return false;
}

/* A Content-Length value: 1 to 19 digits, nothing else (no sign, space,
 * list or empty value). */
static bool parse_length(const char *v, size_t n, uint64_t *out) {
  if (!v || !n || n > 19) return false;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return false;
    x = x * 10 + (uint64_t)(v[i] - '0');
  }
  *out = x;
  return true;
}

/* Whether name (name_len bytes) is want, in any case, and nothing more. */
static bool name_is(const char *name, size_t name_len, const char *want) {
  return name_len == strlen(want) && !strncasecmp(name, want, name_len);
}

/* A header name's bytes (RFC 9110 5.6.2: tchar). */
static bool is_tchar(unsigned char b) {
  return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || strchr("!#$%&'*+-.^_`|~", b) != NULL;
}

/* Whether p lies in the head (its end included: a string may end there). */
static bool in_head(const cis__http_head *h, const char *p) {
  uintptr_t a = (uintptr_t)p;
  return a >= h->lo && a <= h->hi;
}

/* Whether next follows h->at across a separator of min to max bytes:
 * NULs, then, with blanks, any SP or HTAB (the space before a value).
 * Reads only bytes of the head. Moves h->at to next. */
static void tile(cis__http_head *h, const char *next, size_t min, size_t max, bool blanks) {
  if (!h->hi || h->layout_bad) return;
  const char *at = h->at;
  h->at = next;
  if (!in_head(h, at) || !in_head(h, next) || (uintptr_t)next < (uintptr_t)at) {
    h->layout_bad = true;
    return;
  }
  size_t gap = (size_t)((uintptr_t)next - (uintptr_t)at), zeros = 0;
  while (zeros < gap && !at[zeros]) zeros++;
  size_t rest = zeros;
  while (blanks && zeros && rest < gap && (at[rest] == ' ' || at[rest] == '\t')) rest++;
  if (gap < min || gap > max || rest != gap) h->layout_bad = true;
}

void cis__http_head_start(cis__http_head *h, const char *method, size_t head_size, const char *target,
                          size_t target_len, const char *version) {
  if (!method || !target || !version || !head_size) {
    h->hi = 1;
    h->layout_bad = true;
    return;
  }
  h->lo = (uintptr_t)method;
  h->hi = h->lo + head_size;
  h->at = method + strlen(method);
  tile(h, target, 1, 1, false); /* one SP */
  h->at = target + target_len;
  tile(h, version, 1, 1, false);
  h->at = version + strlen(version);
}

void cis__http_head_add(cis__http_head *h, const char *name, size_t name_len, const char *value,
                        size_t value_len) {
  if (!value) value_len = 0;
  tile(h, name, 1, 2, false); /* the line end before: CR LF, or a bare LF */
  h->at = name + name_len;
  if (value) tile(h, value, 1, SIZE_MAX, true); /* the colon, then blanks */
  h->at = value ? value + value_len : h->at;
  for (size_t i = 0; i < name_len; i++) h->name_bad |= !is_tchar((unsigned char)name[i]);
  h->name_bad |= !name_len;
  bool ctl = false;
  for (size_t i = 0; i < value_len && !ctl; i++) ctl = is_ctl((unsigned char)value[i]) && value[i] != '\t';
  for (size_t i = 0; i < name_len && !ctl; i++) ctl = is_ctl((unsigned char)name[i]);
  if (name_is(name, name_len, "Authorization")) {
    if (!h->n_auth++) {
      h->auth = value;
      h->auth_len = value_len;
      h->auth_bad = ctl; /* 401: a token with a NUL or control byte in it is no token */
    }
    return;
  }
  h->bad_byte |= ctl;
  if (name_is(name, name_len, "Transfer-Encoding")) h->has_te = true;
  if (name_is(name, name_len, "Content-Length")) {
    uint64_t v = 0;
    if (!parse_length(value, value_len, &v)) h->length_bad = true;
    else if (h->n_length && v != h->length) h->length_bad = true;
    else h->length = v;
    h->n_length++;
  }
}

const char *cis__http_head_problem(const cis__http_head *h, bool bad_target) {
  if (h->hi) { /* the last line's end and the empty line: 2 to 4 bytes up to the head's end */
    cis__http_head end = *h;
    tile(&end, (const char *)h->hi, 2, 4, false);
    if (end.layout_bad) return "a NUL inside the request line or a header, or a folded header line";
  }
  if (h->n_length && h->has_te) return "both Content-Length and Transfer-Encoding";
  if (h->length_bad) return "a malformed Content-Length, or two that differ";
  if (bad_target) return "a control character in the request target";
  if (h->bad_byte) return "a control character in a header";
  if (h->name_bad) return "a header name that is not a token";
  return NULL;
}
