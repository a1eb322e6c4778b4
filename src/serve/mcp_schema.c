/*
 * This file implements the check of tools/call arguments against a tool's
 * inputSchema (mcp_schema.h): the JSON Schema keywords tool schemas use,
 * walked recursively over the schema, which is a tenant's and so hostile:
 * the walk stops at CIS__MCP_SCHEMA_DEPTH levels with a refusal instead of
 * following it further. The value walked alongside is never deeper than
 * the schema that describes it. The first mismatch is reported, with the
 * JSON Pointer of the value it is about.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "serve/mcp_schema.h"

/* The walk: where we are in the value, and the first complaint. */
typedef struct walk {
  char path[200];  /* JSON Pointer of the current value ("" = the root) */
  size_t len;      /* its length */
  char *msg;       /* the caller's message buffer */
  size_t cap;
} walk;

static bool complain(walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool complain(walk *w, const char *fmt, ...) {
  char why[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  snprintf(w->msg, w->cap, "%s: %s", w->len ? w->path : "/", why);
  return false;
}

/* Appends "/seg" (escaped as JSON Pointer: ~ is ~0, / is ~1) to the path;
 * the old length, to restore with pop. A path past the buffer ends in
 * "..." and stays so. */
static size_t push(walk *w, const char *seg) {
  size_t old = w->len;
  char tmp[sizeof w->path];
  size_t n = 0;
  tmp[n++] = '/';
  for (const char *p = seg; *p && n + 2 < sizeof tmp; p++) {
    if (*p == '~' || *p == '/') {
      tmp[n++] = '~';
      tmp[n++] = *p == '~' ? '0' : '1';
    } else {
      tmp[n++] = *p;
    }
  }
  if (w->len + n + 4 >= sizeof w->path) {
    if (w->len + 4 < sizeof w->path) memcpy(w->path + w->len, "...", 4), w->len += 3;
    return old;
  }
  memcpy(w->path + w->len, tmp, n);
  w->len += n;
  w->path[w->len] = 0;
  return old;
}

static void pop(walk *w, size_t old) {
  w->len = old;
  w->path[old] = 0;
}

/* The JSON Schema type name of v. */
static const char *type_of(const cJSON *v) {
  if (cJSON_IsObject(v)) return "object";
  if (cJSON_IsArray(v)) return "array";
  if (cJSON_IsString(v)) return "string";
  if (cJSON_IsNumber(v)) return v->valuedouble == floor(v->valuedouble) ? "integer" : "number";
  if (cJSON_IsBool(v)) return "boolean";
  return "null";
}

static bool type_is(const cJSON *v, const char *name) {
  const char *t = type_of(v);
  return !strcmp(t, name) || (!strcmp(name, "number") && !strcmp(t, "integer"));
}

/* Code points in a UTF-8 string (the parser took only valid UTF-8). */
static size_t utf8_len(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static bool check(walk *w, const cJSON *schema, const cJSON *v, unsigned depth);

static bool check_type(walk *w, const cJSON *t, const cJSON *v) {
  if (cJSON_IsString(t)) {
    if (!type_is(v, t->valuestring)) return complain(w, "expected %.40s, got %s", t->valuestring, type_of(v));
  } else if (cJSON_IsArray(t)) {
    const cJSON *e;
    cJSON_ArrayForEach(e, t) if (cJSON_IsString(e) && type_is(v, e->valuestring)) return true;
    return complain(w, "%s is not one of the types allowed", type_of(v));
  }
  return true;
}

static bool check_object(walk *w, const cJSON *schema, const cJSON *v, unsigned depth) {
  const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
  const cJSON *e;
  if (cJSON_IsArray(req))
    cJSON_ArrayForEach(e, req) if (cJSON_IsString(e) && !cJSON_GetObjectItemCaseSensitive(v, e->valuestring))
        return complain(w, "\"%.60s\" is required", e->valuestring);
  const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
  const cJSON *extra = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
  if (!cJSON_IsObject(props)) props = NULL;
  cJSON_ArrayForEach(e, v) {
    const cJSON *sub = props ? cJSON_GetObjectItemCaseSensitive(props, e->string) : NULL;
    if (!sub && cJSON_IsFalse(extra)) return complain(w, "\"%.60s\" is not allowed", e->string);
    if (!sub && cJSON_IsObject(extra)) sub = extra;
    if (!sub) continue;
    size_t old = push(w, e->string);
    bool ok = check(w, sub, e, depth + 1);
    pop(w, old);
    if (!ok) return false;
  }
  return true;
}

static bool check_array(walk *w, const cJSON *schema, const cJSON *v, unsigned depth) {
  const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
  if (!cJSON_IsObject(items) && !cJSON_IsBool(items)) return true;
  const cJSON *e;
  int i = 0;
  cJSON_ArrayForEach(e, v) {
    char idx[16];
    snprintf(idx, sizeof idx, "%d", i++);
    size_t old = push(w, idx);
    bool ok = check(w, items, e, depth + 1);
    pop(w, old);
    if (!ok) return false;
  }
  return true;
}

/* A bound keyword (minimum, maxLength, ...) as a number, or NAN. */
static double bound(const cJSON *schema, const char *name) {
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(schema, name);
  return cJSON_IsNumber(b) ? b->valuedouble : NAN;
}

static bool check_bounds(walk *w, const cJSON *schema, const cJSON *v) {
  double lo, hi, n;
  const char *what;
  if (cJSON_IsNumber(v)) {
    n = v->valuedouble, lo = bound(schema, "minimum"), hi = bound(schema, "maximum"), what = "value";
  } else if (cJSON_IsString(v)) {
    n = (double)utf8_len(v->valuestring), lo = bound(schema, "minLength"), hi = bound(schema, "maxLength"),
    what = "length";
  } else if (cJSON_IsArray(v)) {
    n = cJSON_GetArraySize(v), lo = bound(schema, "minItems"), hi = bound(schema, "maxItems"), what = "item count";
  } else {
    return true;
  }
  if (!isnan(lo) && n < lo) return complain(w, "%s %g is below the minimum %g", what, n, lo);
  if (!isnan(hi) && n > hi) return complain(w, "%s %g is above the maximum %g", what, n, hi);
  return true;
}

static bool check(walk *w, const cJSON *schema, const cJSON *v, unsigned depth) {
  if (cJSON_IsTrue(schema)) return true;
  if (cJSON_IsFalse(schema)) return complain(w, "no value is allowed here");
  if (!cJSON_IsObject(schema)) return true; /* not a schema: says nothing */
  if (depth >= CIS__MCP_SCHEMA_DEPTH)
    return complain(w, "the tool's input schema nests deeper than %d levels", CIS__MCP_SCHEMA_DEPTH);
  if (!check_type(w, cJSON_GetObjectItemCaseSensitive(schema, "type"), v)) return false;
  const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
  if (cJSON_IsArray(en)) {
    const cJSON *e;
    bool found = false;
    cJSON_ArrayForEach(e, en) if ((found = cJSON_Compare(e, v, true))) break;
    if (!found) return complain(w, "not one of the values allowed (enum)");
  }
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(schema, "const");
  if (k && !cJSON_Compare(k, v, true)) return complain(w, "not the value required (const)");
  if (!check_bounds(w, schema, v)) return false;
  if (cJSON_IsObject(v)) return check_object(w, schema, v, depth);
  if (cJSON_IsArray(v)) return check_array(w, schema, v, depth);
  return true;
}

bool cis__mcp_schema_check(const cJSON *schema, const cJSON *v, char *msg, size_t cap) {
  walk w = {.path = "", .len = 0, .msg = msg, .cap = cap};
  if (cap) msg[0] = 0;
  return check(&w, schema, v, 0);
}
